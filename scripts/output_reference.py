#!/usr/bin/python3
"""output_reference.py FILE.h5 [FILE2.h5 ...]: the reference table of an emflow output (Markdown).

One row per dataset: path, dimensions (the names of the dimension scales attached to each axis, or the
length when none is; "coordinate (scale)" for a dimension scale itself), units and long_name, read from the files themselves, so that the README's output
reference is what the code writes.  A path found in several files is listed once (the first file's).
Datasets under /config are summarised in one row.  With --check README.md, the rows are not printed;
instead every dataset path of the files must appear in README.md (exit status 1 listing the missing
ones), which keeps the documentation honest as stages grow.
"""
import re
import sys

import h5py


def text(v):
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return str(v)


def rows(paths):
    seen, out = set(), []
    for p in paths:
        with h5py.File(p, "r") as f:
            def visit(name, obj):
                if not isinstance(obj, h5py.Dataset):
                    return
                path = "/" + name
                key = re.sub(r"^/forecast/[^/]+/", "/forecast/SCENARIO/", path)
                key = re.sub(r"^/config/[^/]+/", "/config/STAGE/", key)
                if key in seen:
                    return
                seen.add(key)
                dims = []
                if key.startswith("/config/"):  # the options table: one row per option of the command
                    out.append((key, "option", "—", text(obj.attrs.get("long_name", ""))))
                    return
                scale = h5py.h5ds.is_scale(obj.id)
                if scale:  # a coordinate: its length is the config's (years, countries, ...)
                    dims = ["coordinate (scale)"]
                for d in range(0 if scale else obj.ndim):
                    sc = [s.name.rsplit("/", 1)[-1] for s in obj.dims[d].values()]
                    dims.append(sc[0] if sc else str(obj.shape[d]))
                out.append((key, " × ".join(dims) if dims else "scalar", text(obj.attrs.get("units", "")),
                            text(obj.attrs.get("long_name", ""))))
            f.visititems(visit)
    return out


def main(argv):
    check = None
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr if len(argv) < 2 else sys.stdout)
        return 2 if len(argv) < 2 else 0
    if len(argv) > 2 and argv[1] == "--check":
        check, argv = argv[2], argv[2:]
    files = argv[1:]
    if not files:
        print(__doc__, file=sys.stderr)
        return 2
    r = rows(files)
    if check:
        doc = open(check, encoding="utf-8").read()
        missing = [p for p, *_ in r if "`%s`" % p not in doc]
        for p in missing:
            print("output_reference: %s is written but not documented in %s" % (p, check))
        print("output_reference: %d datasets, %d documented" % (len(r), len(r) - len(missing)))
        return 1 if missing else 0
    print("| dataset | dimensions | units | meaning |")
    print("|---|---|---|---|")
    for p, d, u, m in r:
        print("| `%s` | %s | %s | %s |" % (p, d, u.replace("|", "\\|") or "—", m.replace("|", "\\|")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
