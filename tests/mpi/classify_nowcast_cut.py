#!/usr/bin/python3
"""classify_nowcast_cut.py IN.csv OUT.csv YYYY-MM-DD: the declarations CSV (person_id,declared_on,destination) as
it was on a day: the header and every line declared on or before it, in order (for the back-dating test of the
nowcast: the crossings are cut by classify --data-end, the declarations by this).  Prints the counts."""
import sys


def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    src, dst, last = argv[1:]
    kept = dropped = 0
    with open(src, encoding="utf-8") as f, open(dst, "w", encoding="utf-8") as g:
        header = f.readline()
        col = header.rstrip("\r\n").split(",").index("declared_on")
        g.write(header)
        for line in f:
            if line.rstrip("\r\n").split(",")[col] <= last:
                g.write(line)
                kept += 1
            else:
                dropped += 1
    print(f"classify_nowcast_cut: {kept} declarations on or before {last} kept, {dropped} later ones dropped")
    return 0 if kept else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
