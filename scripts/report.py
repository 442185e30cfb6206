#!/usr/bin/python3
"""report.py: the HTML monitoring report of `emflow report` (engine/emi_cmd_report.c runs it).

    /usr/bin/python3 report.py --out DIR --emflow EMFLOW [--publish] -- FILE.h5 [FILE2.h5 ...]

Reads whatever emflow outputs it is given (any file may hold any of the groups) and writes DIR/index.html
with PNG figures in DIR/fig/ (relative links; no external URL, no JavaScript needed to read it):
  - forecasts (/forecast/<scenario>/{undeclared,flows}): fan charts and tables of the total (_TOTAL);
  - estimates (/posterior/flows/summary or /estimate/emigration, /estimate/*_reported,
    /estimate/emigration_mirror, /undeclared/emigration/*): estimated vs declared vs mirror-reported
    emigration of the largest series;
  - provisional months of a classify output (/linkage/provisional, migrant_departures, pending_departures):
    the decided departures and their bound decided + pending, and the nowcast (/linkage/nowcast,
    /undeclared/nowcast: *_total_mean, _lower, _upper) of the provisional months as a band on the chart and a
    table marked PROVISIONAL (a kind whose *_status is not "estimated" is named as such, never drawn);
  - data quality: records in / accepted / rejected, rejects by reason, repairs (classify), MCMC
    diagnostics (/posterior attributes and summaries);
  - provenance (root attributes of every file).

Tables are for people: integers as integers, other floating point rounded to 4 significant digits
(fmt_table; from 1000 up, to the unit, never an exponent), the exact value, the shortest text that reads
back to the same double (Python's repr), in the cell's data-value and tooltip whenever the two differ
(`emflow export` writes every value in full, for machines).  Every cell carries data-src, the
expression it comes from, so a test can
check it against the HDF5 file: "/path[i,j,k]" an element, "/path@attr" an attribute, "sum:/path[3,:,:]"
the sum over the ':' axes, "max:" / "min:" likewise, terms joined by " + " added; a cell shown as "—"
(not reported, or nothing to compare) carries data-expect, the value its data-src holds there.

--publish: every table of counts (units persons, or counts of records) is first written as a 2-D dataset
[row x column] to DIR/tables/tables.h5 and then passed through `emflow export tables.h5 /DATASET --publish
-o DIR/tables/NAME.csv` (disclosure control: Stats NZ random rounding to base 3 and suppression of small
cells, implemented once, in export); the page shows the protected values from those CSVs and says so.
If export refuses --publish, the report fails and writes no page.  Without --publish the page says that
its tables are not disclosure-controlled; it never carries the partner-safe label.

Every dataset used is validated before it is read into a table: numeric (integers or floating point), as
many dimensions as its producer writes, each as long as its dimension scale (or, when the scale is not
attached, the producer's shared scale, e.g. /forecast/stat), and, for floating point, finite (the first
NaN or Inf cell is named with its labels).  Each failure is one message naming the file and the dataset.

Errors: one line "report: error: ..." on stderr, exit 4 (invalid input: a file or dataset that is not
what its producer writes, or a table export --publish refused as invalid data), 3 (disclosure control
unavailable or refused), 5 (I/O).  Figures and the page are written under temporary names and renamed;
index.html comes last.
"""
import argparse
import csv
import datetime
import html
import json
import os
import subprocess
import sys


INPUT, DISCLOSURE, IO = 4, 3, 5  # exit statuses; emi_cmd_report.c maps them to emflow's codes


CREATED, MADE_DIRS = [], []  # what this run wrote: removed again when it fails


def made_dir(d):
    if not os.path.isdir(d):
        os.makedirs(d)
        MADE_DIRS.append(d)


def created(path):
    CREATED.append(path)
    return path


def clean_up():
    """A failed run leaves nothing it wrote (an earlier run's page was removed before this one started)."""
    for p in reversed(CREATED):
        try:
            os.remove(p)
        except OSError:
            pass
    for d in reversed(MADE_DIRS):
        try:
            os.rmdir(d)
        except OSError:
            pass


def fail(msg, status=INPUT):
    clean_up()
    print("report: error: " + msg, file=sys.stderr)
    sys.exit(status)


try:
    import numpy as np
    import h5py
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError as e:  # pragma: no cover
    fail(f"{e}: the report needs Debian's python3-numpy, python3-h5py and python3-matplotlib "
         "(scripts/install-deps.sh)", 5)

TOP_SERIES = 6          # estimate tables and figures: the largest series
PARTNER_SAFE = "partner-safe"


# ----------------------------------------------------------------------------------------------- helpers
def text(v):
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray):
        return ", ".join(text(x) for x in v.ravel())
    if isinstance(v, (np.integer,)):
        return str(int(v))
    if isinstance(v, (np.floating, float)):
        return fmt(float(v))
    return str(v)


def fmt(v):
    """Exact text of a number: integers as integers, doubles as their shortest round-trip repr."""
    if v is None:
        return "—"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    v = float(v)
    if np.isnan(v):
        return "nan"
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == int(v) and abs(v) < 2**53:
        return str(int(v))
    return repr(v)


def fmt_table(v):
    """Text of a number in a table for people: integers (and integral doubles) exactly; other doubles to 4
    significant digits, or to the unit from 1000 up (3491.18 -> 3491, 0.98765 -> 0.9877, 1.00345 -> 1.003,
    0.30000000000000004 -> 0.3), never in exponent form there; tiny values keep 4 digits (1.235e-05)."""
    if v is None or isinstance(v, (int, np.integer)):
        return fmt(v)
    x = float(v)
    if not np.isfinite(x) or (x == int(x) and abs(x) < 2**53):
        return fmt(x)
    if abs(x) >= 1000:
        return str(int(round(x)))
    return f"{x:.4g}"


def labels(ds, dim):
    """Labels of dimension dim of ds from its dimension scale, else 0..n-1."""
    n = ds.shape[dim]
    try:
        scales = list(ds.dims[dim].values())
    except Exception:
        scales = []
    if scales:
        vals = scales[0][()]
        if len(vals) == n:
            return [text(v) for v in vals]
    return [str(i) for i in range(n)]


def read_checked(fname, f, path, dims, finite=True, kinds="iuf"):
    """Values of dataset path of file fname (open as f), validated: a dataset with elements of a kind in kinds,
    one dimension per entry of dims ((noun, shared scale path or None, producer), e.g. ("stats",
    "/forecast/stat", "forecast")), each as long as its attached scale, else the shared scale; floating
    point values finite when finite is True (or, when finite is a set of indices of the last dimension, in
    those columns).  Any failure is fail(), exit 4, naming the file and the dataset."""
    ds = f.get(path) if path in f else None
    if not isinstance(ds, h5py.Dataset):
        fail(f"{fname}: {path} is not a dataset: expected the array of emflow {dims[0][2] if dims else ''}")
    kind = ds.dtype.kind
    if kind not in kinds:
        what = {"S": "strings", "U": "strings", "O": "strings or objects", "V": "records (compound)",
                "b": "booleans", "c": "complex numbers"}.get(kind, f"elements of type {ds.dtype}")
        want = "integers (counts)" if kinds == "iu" else "numbers"
        fail(f"{fname}: {path} holds {what} ({ds.dtype}): expected {want}")
    if ds.ndim != len(dims):
        fail(f"{fname}: {path} has {ds.ndim} dimension(s) {tuple(ds.shape)}: expected {len(dims)} "
             f"({' x '.join(n for n, _, _ in dims)})")
    for d, (noun, shared, producer) in enumerate(dims):
        try:
            att = list(ds.dims[d].values())
        except Exception:
            att = []
        if att:
            n, origin = len(att[0]), f"its scale {att[0].name}"
        elif shared and shared in f and isinstance(f[shared], h5py.Dataset):
            n, origin = len(f[shared]), f"the {shared.rsplit('/', 1)[-1]} scale of emflow {producer}"
        else:
            continue
        if ds.shape[d] != n:
            fail(f"{fname}: {path} has {ds.shape[d]} {noun}, expected {n} ({origin})")
    try:
        v = ds[()]
    except (OSError, ValueError, TypeError) as e:
        fail(f"{fname}: {path}: cannot read: {e}")
    if kind == "f" and finite is not False and v.size:
        sel = v if finite is True else v[..., sorted(finite)]
        bad = ~np.isfinite(sel)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            if finite is not True:
                idx = idx[:-1] + (sorted(finite)[idx[-1]],)
            labs = []
            for d, i in enumerate(idx):
                ld = labels(ds, d)
                noun = dims[d][0]
                noun = {"series": "series", "entries": "entry"}.get(noun, noun[:-1] if noun.endswith("s") else noun)
                labs.append(f"{noun} {ld[i]}")
            fail(f"{fname}: {path}[{','.join(map(str, idx))}] ({', '.join(labs)}) is {fmt(v[idx])}: expected a "
                 "finite number")
    return v


FC_DIMS = [("series", "/forecast/series", "forecast"), ("periods", "/forecast/period", "forecast"),
           ("stats", "/forecast/stat", "forecast")]
FC_EXCEED_DIMS = [("thresholds", "/forecast/threshold", "forecast"), ("series", "/forecast/series", "forecast"),
                  ("periods", "/forecast/period", "forecast")]


def stat_index(ds, dim, name):
    labs = labels(ds, dim)
    return labs.index(name) if name in labs else None


def attr(obj, name, default=None):
    return obj.attrs[name] if name in obj.attrs else default


def slug(s):
    return "".join(c if c.isalnum() else "-" for c in s).strip("-").lower()


def esc(s):
    return html.escape(str(s), quote=True)


class Cell:
    __slots__ = ("value", "src", "expect")

    def __init__(self, value, src=None, expect=None):
        self.value, self.src, self.expect = value, src, expect


class Table:
    """A numeric table: rows x columns of Cells; counts tables are disclosure-controlled with --publish."""

    def __init__(self, tid, title, row_head, rows, cols, cells, counts, units, file, note="", direct=None):
        self.tid, self.title, self.row_head, self.rows, self.cols = tid, title, row_head, rows, cols
        self.cells, self.counts, self.units, self.file, self.note = cells, counts, units, file, note
        self.direct = direct    # (file, dataset) when the table is exactly one integer dataset of an input
        self.protected = None   # --publish: (csv path relative to DIR, label dict)
        self.shown = None       # values as shown (protected or exact), [row][col] float/None/str

    def values(self):
        """Values as shown (float or nan), for the figures drawn from the table."""
        out = np.full((len(self.rows), len(self.cols)), np.nan)
        for i, row in enumerate(self.shown):
            for j, v in enumerate(row):
                if isinstance(v, (int, float, np.integer, np.floating)):
                    out[i, j] = float(v)
        return out


# ------------------------------------------------------------------------------------------- collectors
class Report:
    def __init__(self, out, emflow, publish, files):
        self.out, self.emflow, self.publish, self.files = out, emflow, publish, files
        self.sections = []      # (anchor, title, [html blocks])
        self.tables = []
        self.figures = 0

    # tables are collected first (publish replaces their values), rendered later
    def table(self, *a, **k):
        t = Table(*a, **k)
        self.tables.append(t)
        return t

    def figure(self, fig, name, alt):
        made_dir(os.path.join(self.out, "fig"))
        path = os.path.join(self.out, "fig", name)
        created(path + ".part.png"), created(path)
        fig.savefig(path + ".part.png", dpi=100, format="png", metadata={"Software": None})
        plt.close(fig)
        os.replace(path + ".part.png", path)
        self.figures += 1
        return ("img", f"fig/{name}", alt)


def forecast_tables(rep, fi, f):
    """Per scenario and variable: the _TOTAL table [period x stat], exceedance table."""
    g = f["forecast"]
    items = []
    for sc in sorted(k for k in g.keys() if isinstance(g[k], h5py.Group)):
        for var in ("undeclared", "flows"):
            if var not in g[sc]:
                continue
            ds = g[sc][var]
            series, periods, stats = labels(ds, 0), labels(ds, 1), labels(ds, 2)
            k = series.index("_TOTAL") if "_TOTAL" in series else 0
            name = f"/forecast/{sc}/{var}"
            vals = read_checked(rep.files[fi], f, name, FC_DIMS)
            cells = [[Cell(vals[k, t, s], f"{name}[{k},{t},{s}]") for s in range(len(stats))]
                     for t in range(len(periods))]
            what = "undeclared emigration" if var == "undeclared" else "emigration"
            t = rep.table(f"f{fi}-{slug(sc)}-{var}", f"{sc}: {what}, {series[k]} (persons)", "period", periods, stats,
                          cells, False, "persons", fi)
            ex = None
            if var + "_exceed" in g[sc]:
                e = g[sc][var + "_exceed"]
                thr = labels(e, 0)
                ename = f"/forecast/{sc}/{var}_exceed"
                ev = read_checked(rep.files[fi], f, ename, FC_EXCEED_DIMS)
                ecells = [[Cell(ev[h, k, p], f"{ename}[{h},{k},{p}]") for p in range(len(periods))]
                          for h in range(len(thr))]
                ex = rep.table(f"f{fi}-{slug(sc)}-{var}-exceed", f"{sc}: P({what} of {series[k]} > threshold)",
                               "threshold (persons)", thr, periods, ecells, False, "probability", fi)
            items.append((sc, var, what, text(attr(g[sc], "scenario", sc)), t, ex, series[k], series))
    return items


def estimate_tables(rep, fi, f):
    """Estimated vs declared vs mirror-reported emigration of the largest series: one table per series."""
    e = f["estimate"] if "estimate" in f else None
    model = text(attr(e, "model", "")) if e is not None else ""
    und = f["undeclared/emigration"] if "undeclared/emigration" in f else None
    if model == "double-entry" and "estimate/emigration" in f:
        est_name = "/estimate/emigration"
        reports = [("declared", "/undeclared/emigration/declared"), ("mirror", "/estimate/emigration_mirror")]
        mask_name = "/undeclared/emigration/corridors_reported"
    elif "posterior/flows/summary" in f:
        est_name = "/posterior/flows/summary"
        reports = [("declared", "/estimate/declared_reported"), ("mirror", "/estimate/mirror_reported"),
                   ("border", "/estimate/border_reported")]
        mask_name = "/undeclared/emigration/declared_reported"
    else:
        return None
    est = f[est_name]
    series, periods = labels(est, 0), labels(est, 1)
    si = {s: stat_index(est, 2, s) for s in ("mean", "q05", "q95")}
    if None in si.values():
        return None
    prod = "estimate"
    fname = rep.files[fi]
    edims = [("series", None, prod), ("periods", None, prod), ("stats", None, prod)]
    ev = read_checked(fname, f, est_name, edims, finite=set(si.values()))
    reports = [(lab, p) for lab, p in reports if p in f and f[p].shape == ev.shape[:2]]
    rv = {lab: read_checked(fname, f, p, edims[:2], finite=False) for lab, p in reports}
    mask = read_checked(fname, f, mask_name, edims[:2]) if mask_name in f else None
    if mask is not None and mask.shape != ev.shape[:2]:
        fail(f"{fname}: {mask_name} has shape {tuple(mask.shape)}: expected {tuple(ev.shape[:2])} (the series x "
             f"periods of {est_name})")
    uds = und["summary"] if und is not None and "summary" in und else None
    uv = None
    if uds is not None:
        uv = read_checked(fname, f, "/undeclared/emigration/summary", edims, finite=set(si.values()))
        if uv.shape[:2] != ev.shape[:2] or uv.shape[2] <= max(si.values()):
            fail(f"{fname}: /undeclared/emigration/summary has shape {tuple(uv.shape)}: expected "
                 f"{tuple(ev.shape)} (that of {est_name})")
    order = np.argsort(-np.nansum(ev[:, :, si["mean"]], axis=1), kind="stable")[:TOP_SERIES]
    # a report holding non-integers (declared emigration converted to 12-month migrants) is derived, not a
    # count: it goes with the model's columns
    def integral(lab):
        x = rv[lab]
        x = x[x >= 0]
        return bool(np.all(x == np.floor(x)))
    derived = [(lab, p) for lab, p in reports if not integral(lab)]
    reports = [(lab, p) for lab, p in reports if integral(lab)]
    cols = ["estimated mean", "estimated q05", "estimated q95"]
    if uv is not None:
        cols += ["undeclared mean", "undeclared q05", "undeclared q95"]
    cols += [f"{lab} (12-month equivalent)" for lab, _ in derived]
    out = []
    for k in order:
        k = int(k)
        cells, rcells = [], []
        for t in range(len(periods)):
            row = [Cell(ev[k, t, si[s]], f"{est_name}[{k},{t},{si[s]}]") for s in ("mean", "q05", "q95")]
            if uv is not None:
                for s in ("mean", "q05", "q95"):
                    if mask is not None and mask[k, t] == 0:
                        row.append(Cell(None, f"{mask_name}[{k},{t}]", 0))
                    else:
                        row.append(Cell(uv[k, t, si[s]], f"/undeclared/emigration/summary[{k},{t},{si[s]}]"))
            rrow = []
            for lab, p in derived + reports:
                v = rv[lab][k, t]
                if lab == "declared" and mask is not None and mask[k, t] == 0:
                    rrow.append(Cell(None, f"{mask_name}[{k},{t}]", 0))
                elif v < 0:
                    rrow.append(Cell(None, f"{p}[{k},{t}]", fmt(v)))
                else:
                    rrow.append(Cell(v, f"{p}[{k},{t}]"))
            row += rrow[:len(derived)]
            cells.append(row)
            rcells.append(rrow[len(derived):])
        t = rep.table(f"e{fi}-{slug(series[k])}", f"{series[k]}: estimated emigration and undeclared emigration "
                      "(persons; posterior mean and 90% interval)", "period", periods, cols, cells, False, "persons", fi)
        r = None
        if reports:
            r = rep.table(f"r{fi}-{slug(series[k])}", f"{series[k]}: reported emigration (persons)",
                          "period", periods, [f"{lab} (reported)" for lab, _ in reports], rcells, True, "persons", fi)
        out.append((series[k], t, r))
    return model or "border", series, out, [lab for lab, _ in derived + reports]


MARGINS = ("records_in", "records_rejected", "declarations_in")


def linkage_tables(rep, fi, f):
    lk = f["linkage"]
    res = {}
    # records: attributes of /linkage and /undeclared
    rows, cells = [], []
    for grp, keys in (("linkage", ("records_in", "records_accepted", "records_rejected", "persons", "link_pairs",
                                   "link_keys_merged", "link_records_relinked", "link_keys_unknown")),
                      ("undeclared", ("declarations_in", "declarations_accepted", "declarations_rejected"))):
        if grp not in f:
            continue
        for key in keys:
            if rep.publish and key in MARGINS:
                continue  # a sum of other published cells would undo their suppression
            if key in f[grp].attrs:
                rows.append(key)
                cells.append([Cell(int(f[grp].attrs[key]), f"/{grp}@{key}")])
    if rows:
        res["records"] = rep.table(f"l{fi}-records", "records and persons", "count", rows, ["value"], cells, True,
                                   "records", fi, note="published without records_in, records_rejected and "
                                   "declarations_in: margins of the other cells" if rep.publish else "")
    for name, head in (("rejects", "reject reason"), ("repairs", "repair")):
        if name in lk:
            ds = lk[name]
            v = read_checked(rep.files[fi], f, f"/linkage/{name}", [(name, None, "classify")])
            res[name] = rep.table(f"l{fi}-{name}", f"{name} by {head}", head, labels(ds, 0), ["records"],
                                  [[Cell(v[i], f"/linkage/{name}[{i}]")] for i in range(len(v))], True, "records", fi,
                                  direct=(rep.files[fi], f"/linkage/{name}") if ds.dtype.kind in "iu" else None)
    if "provisional" in lk and "migrant_departures" in lk:
        months = labels(lk["provisional"], 0)
        prov = read_checked(rep.files[fi], f, "/linkage/provisional", [("months", "/linkage/month", "classify")],
                            kinds="iu")
        parts = [("migrant departures (decided)", ["/linkage/migrant_departures"]),
                 ("pending departures", ["/linkage/pending_departures"])]
        if "undeclared/departures" in f:
            parts.append(("undeclared departures", ["/undeclared/departures"]))
        parts = [(c, ps) for c, ps in parts if all(p in f for p in ps)]
        arrs = {}
        for _, ps in parts:
            for p in ps:
                nd = max(1, getattr(f[p], "ndim", 1))  # months x the table's other dimensions
                a_ = read_checked(rep.files[fi], f, p, [("months", "/linkage/month", "classify")] +
                                  [("entries", None, "classify")] * (nd - 1), kinds="iu")
                if a_.shape[0] != len(months):
                    fail(f"{rep.files[fi]}: {p} has {a_.shape[0]} months, expected {len(months)} (those of "
                         "/linkage/provisional)")
                arrs[p] = a_
        cells = []
        for m in range(len(months)):
            row = []
            for _, ps in parts:
                nd = arrs[ps[0]].ndim
                idx = ",".join([str(m)] + [":"] * (nd - 1))
                row.append(Cell(int(sum(int(arrs[p][m].sum()) for p in ps)),
                                " + ".join(f"sum:{p}[{idx}]" for p in ps)))
            cells.append(row)
        rl = [f"{months[m]} (provisional)" if prov[m] else months[m] for m in range(len(months))]
        res["months"] = rep.table(f"l{fi}-months", "migrant departures by month (all citizenships, sexes, ages)",
                                  "month", rl, [c for c, _ in parts], cells, True, "persons", fi)
        res["prov"] = prov
        res["month_labels"] = months
        res.update(nowcast_table(rep, fi, f, months, prov))
    return res


NOWCAST_KINDS = (("departures", "/linkage/nowcast", "departures"),
                 ("undeclared departures", "/undeclared/nowcast", "departures"))


def nowcast_table(rep, fi, f, months, prov):
    """The nowcast of the provisional months (emflow classify): per kind its estimate of the final month total and
    the Monte Carlo interval (/linkage/nowcast/departures_total_*, /undeclared/nowcast/departures_total_*), the
    provisional months only; a kind whose status is not "estimated" is named, with its note, never tabulated."""
    out = {"nowcast_missing": []}
    if "linkage/nowcast" not in f or not prov.any():
        return out
    cols, srcs, level = [], [], None
    for what, grp, pre in NOWCAST_KINDS:
        if grp.lstrip("/") not in f:
            continue
        g = f[grp]
        st = text(attr(g, f"{pre}_status", "estimated"))
        if st != "estimated":
            out["nowcast_missing"].append((what, text(attr(g, f"{pre}_status_note", st))))
            continue
        level = float(attr(g, "level", 0.9))
        pct = f"{100 * level:.0f}%"
        for stat, lab in (("mean", "estimate"), ("lower", f"{pct} lower"), ("upper", f"{pct} upper")):
            name = f"{grp}/{pre}_total_{stat}"
            v = read_checked(rep.files[fi], f, name, [("months", f"{grp}/month", "classify")])
            if v.shape[0] != len(months):
                fail(f"{rep.files[fi]}: {name} has {v.shape[0]} months, expected {len(months)} (those of "
                     "/linkage/provisional)")
            cols.append(f"{what}: {lab}")
            srcs.append((name, v))
    if not cols:
        return out
    rows = [m for m in range(len(months)) if prov[m]]
    cells = [[Cell(float(v[m]), f"{name}[{m}]") for name, v in srcs] for m in rows]
    out["nowcast"] = rep.table(
        f"l{fi}-nowcast", f"PROVISIONAL months: nowcast of the final monthly totals with {100 * level:.0f}% Monte "
        "Carlo intervals (all citizenships)", "month", [f"{months[m]} (provisional)" for m in rows], cols, cells,
        False, "persons", fi,
        note="Provisional: the final count of these months is not known yet (their windows are open at the data "
        "end). Estimate = the outcomes already certain + the mean of the Monte Carlo draws for the unresolved "
        "crossings (emflow classify, /linkage/nowcast); the interval is the central interval of the same draws. "
        "Revised as the windows close.")
    out["nowcast_rows"] = rows
    return out


def diagnostics_tables(rep, fi, f):
    p = f["posterior"]
    rows, cells = [], []
    for key in sorted(p.attrs.keys()):
        if key == "sampler":
            continue
        v = p.attrs[key]
        if isinstance(v, (bytes, str)):
            rows.append(key)
            cells.append([Cell(text(v), f"/posterior@{key}")])
        else:
            rows.append(key)
            cells.append([Cell(v.item() if hasattr(v, "item") else v, f"/posterior@{key}")])
    if "flows/summary" in p:
        fs = p["flows/summary"]
        for s, op in (("rhat", "max"), ("ess_bulk", "min"), ("ess_tail", "min")):
            j = stat_index(fs, 2, s)
            if j is None:
                continue
            v = read_checked(rep.files[fi], f, "/posterior/flows/summary",
                             [("series", None, "estimate"), ("periods", None, "estimate"), ("stats", None, "estimate")],
                             finite=False)[:, :, j]
            rows.append(f"flows: {op} {s}")
            cells.append([Cell(float(np.nanmax(v) if op == "max" else np.nanmin(v)),
                               f"{op}:/posterior/flows/summary[:,:,{j}]")])
    out = {"attrs": rep.table(f"d{fi}-posterior", "MCMC run and diagnostics (/posterior)", "item", rows, ["value"],
                              cells, False, "", fi)}
    if "summary" in p:
        ds = p["summary"]
        v = read_checked(rep.files[fi], f, "/posterior/summary", [("parameters", None, "estimate"),
                                                                   ("statistics", None, "estimate")], finite=False)
        out["params"] = rep.table(f"d{fi}-params", "parameters: posterior summaries and diagnostics", "parameter",
                                  labels(ds, 0), labels(ds, 1),
                                  [[Cell(v[i, j], f"/posterior/summary[{i},{j}]") for j in range(v.shape[1])]
                                   for i in range(v.shape[0])], False, "", fi)
    out["status"] = text(attr(p, "status", "unknown"))
    out["sampler"] = text(attr(p, "sampler", ""))
    return out


# ------------------------------------------------------------------------------------------- publishing
def export_help(emflow):
    try:
        r = subprocess.run([emflow, "help", "export"], capture_output=True, text=True, timeout=60)
    except OSError as e:
        fail(f"--publish: cannot run {emflow} help export: {e}", IO)
    return r.stdout


def write_table_h5(t, path):
    """One derived table of counts as /table [row x column] (int64, scales row and column), bytes that depend
    only on the table: export derives its rounding seed from them, so the same table is rounded the same way
    in every report (two roundings of one table would let a reader average them away)."""
    data = np.zeros((len(t.rows), len(t.cols)), dtype=np.int64)
    for i, row in enumerate(t.cells):
        for j, c in enumerate(row):
            if c.value is None:
                continue  # not reported: 0 here, shown as "—"
            v = float(c.value)
            if v != int(v) or v < 0:
                fail(f"--publish: table '{t.title}' row {t.rows[i]} column {t.cols[j]} holds {fmt(v)}: expected a "
                     "count", INPUT)
            data[i, j] = int(v)
    created(path + ".part"), created(path)
    with h5py.File(path + ".part", "w", libver="earliest", track_order=False) as h:
        h.attrs["software"] = "emflow"
        h.attrs["long_name"] = "a table of counts of emflow report, before disclosure control"
        d = h.create_dataset("table", data=data, track_times=False)
        d.attrs["units"] = t.units
        d.attrs["long_name"] = t.title
        r = h.create_dataset("row", data=np.array([x.encode() for x in t.rows]), track_times=False)
        c = h.create_dataset("column", data=np.array([x.encode() for x in t.cols]), track_times=False)
        for sc, nm in ((r, t.row_head), (c, "column")):
            sc.attrs["units"] = ""
            sc.attrs["long_name"] = nm
        r.make_scale(t.row_head)
        c.make_scale("column")
        d.dims[0].attach_scale(r)
        d.dims[1].attach_scale(c)
    os.replace(path + ".part", path)


def publish_tables(rep):
    """Protect every table of counts through `emflow export --publish` (DIR/tables/NAME.csv and its label)."""
    helptext = export_help(rep.emflow)
    if "--publish" not in helptext:
        fail("--publish: this emflow's export has no --publish option (disclosure control: random rounding to "
             "base 3, suppression of small cells), so no table can be protected; nothing was written. Rerun without "
             "--publish for an internal report, or update emflow", DISCLOSURE)
    tdir = os.path.join(rep.out, "tables")
    made_dir(tdir)
    labels_seen = []
    for t in (t for t in rep.tables if t.counts):
        csvp = os.path.join(tdir, t.tid + ".csv")
        if t.direct:
            src, dset = t.direct
        else:
            src, dset = os.path.join(tdir, t.tid + ".h5"), "/table"
            write_table_h5(t, src)
        created(csvp), created(csvp + ".disclosure.json")
        cmd = [rep.emflow, "export", src, dset, "--publish", "-o", csvp]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            msg = (r.stderr.strip().splitlines() or ["no message"])[-1]
            # the export's class: 4 invalid data, 5 I/O; anything else means no protection could be had
            fail(f"--publish: emflow export --publish refused the table '{t.title}' (exit {r.returncode}): {msg}; "
                 "no page was written", {4: INPUT, 5: IO}.get(r.returncode, DISCLOSURE))
        try:
            with open(csvp + ".disclosure.json") as fh:
                label = json.load(fh)
        except (OSError, ValueError) as e:
            fail(f"--publish: {csvp}.disclosure.json: {e}: export --publish wrote no readable label", IO)
        if label.get("partner_safe") is not True:
            fail(f"--publish: {csvp}.disclosure.json does not say partner_safe: the table is not protected", DISCLOSURE)
        with open(csvp, newline="") as fh:
            body = list(csv.reader(fh))[1:]
        if len(body) != len(t.rows) * len(t.cols):
            fail(f"--publish: {csvp}: {len(body)} rows, expected {len(t.rows) * len(t.cols)} (rows x columns of the "
                 f"table '{t.title}')", IO)
        marker = label.get("suppressed_marker", "S")
        shown = [[None] * len(t.cols) for _ in t.rows]
        for n, rec in enumerate(body):
            i, j = divmod(n, len(t.cols))
            if t.cells[i][j].value is None:
                continue
            shown[i][j] = marker if rec[-1] == marker else int(rec[-1])
        t.shown = shown
        t.protected = (os.path.relpath(csvp, rep.out), label, src, dset)
        labels_seen.append(label)
    return labels_seen


# ------------------------------------------------------------------------------------------------ figures
def xticks(ax, labs):
    n = len(labs)
    step = max(1, (n + 11) // 12)
    ax.set_xticks(range(0, n, step))
    rot = max(len(x) for x in labs) > 4
    ax.set_xticklabels(labs[::step], rotation=45 if rot else 0, ha="right" if rot else "center", fontsize=8)


def history_of(handles):
    """The fitted past for the fan charts: posterior means of true emigration by series and period, from
    the first estimate output given ({series: [...], periods: [...], mean: [K x T]}), or None."""
    for f in handles:
        if "estimate" in f and text(attr(f["estimate"], "model", "")) == "double-entry" and "estimate/emigration" in f:
            ds = f["estimate/emigration"]
        elif "posterior/flows/summary" in f:
            ds = f["posterior/flows/summary"]
        else:
            continue
        j = stat_index(ds, 2, "mean")
        if j is not None:
            return {"series": labels(ds, 0), "periods": labels(ds, 1), "mean": ds[()][:, :, j]}
    return None


def fan_chart(rep, fi, sc, var, what, t, series, fseries, hist):
    v = t.values()
    cols = t.cols
    fig, ax = plt.subplots(figsize=(8, 4))
    past, plabs = None, []
    # the fitted past (emigration only: the estimate's undeclared part is y - declared, another quantity)
    if var == "flows" and hist is not None:
        own = [s for s in fseries if s != "_TOTAL"]
        if series == "_TOTAL" and sorted(own) == sorted(hist["series"]):
            past = hist["mean"].sum(axis=0)
        elif series in hist["series"]:
            past = hist["mean"][hist["series"].index(series)]
        if past is not None:
            n = min(len(past), 3 * len(t.rows), 40)
            past, plabs = past[-n:], hist["periods"][-n:]
    x = np.arange(len(plabs), len(plabs) + len(t.rows))
    if past is not None:
        ax.plot(np.arange(len(plabs)), past, color="gray", lw=1.5, label="estimated (posterior mean)")
    bands = [("q025", "q975", 0.15, "95%"), ("q05", "q95", 0.25, "90%"), ("q10", "q90", 0.35, "80%"),
             ("q25", "q75", 0.5, "50%")]
    for lo, hi, a, lab in bands:
        if lo in cols and hi in cols:
            ax.fill_between(x, v[:, cols.index(lo)], v[:, cols.index(hi)], color="tab:blue", alpha=a, lw=0,
                            label=f"{lab} interval")
    if "q50" in cols:
        ax.plot(x, v[:, cols.index("q50")], color="navy", lw=1.5, label="median")
    if "mean" in cols:
        ax.plot(x, v[:, cols.index("mean")], color="black", lw=1, ls="--", label="mean")
    xticks(ax, list(plabs) + list(t.rows))
    ax.set_ylabel("persons")
    ax.set_title(f"{sc}: {what}, {series}", fontsize=10)
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return rep.figure(fig, f"fan-{fi}-{slug(sc)}-{var}.png", f"fan chart of {what} ({series}) under {sc}")


def estimate_figure(rep, fi, series_tables, reports):
    n = len(series_tables)
    ncol = 2 if n > 1 else 1
    nrow = (n + ncol - 1) // ncol
    fig, axes = plt.subplots(nrow, ncol, figsize=(5 * ncol, 3 * nrow), squeeze=False)
    marks = {"declared": ("o", "tab:red"), "mirror": ("s", "tab:green"), "border": ("^", "tab:purple")}
    for a, (name, t, r) in zip(axes.ravel(), series_tables):
        v = t.values()
        x = np.arange(len(t.rows))
        a.fill_between(x, v[:, 1], v[:, 2], color="tab:blue", alpha=0.3, lw=0, label="estimated 90% interval")
        a.plot(x, v[:, 0], color="tab:blue", lw=1.5, label="estimated (posterior mean)")
        rvals = r.values() if r is not None else None
        for lab in reports:
            m, c = marks.get(lab, ("x", "gray"))
            if r is not None and f"{lab} (reported)" in r.cols:
                y, what = rvals[:, r.cols.index(f"{lab} (reported)")], f"{lab} (reported)"
            else:
                y, what = v[:, t.cols.index(f"{lab} (12-month equivalent)")], f"{lab} (12-month equivalent)"
            a.plot(x, y, m, color=c, ms=4, ls="none", label=what)
        if "undeclared mean" in t.cols:
            j = t.cols.index("undeclared mean")
            a.plot(x, v[:, j], color="tab:orange", lw=1, ls=":", label="undeclared (posterior mean)")
        a.set_title(name, fontsize=9)
        xticks(a, t.rows)
        a.grid(alpha=0.3)
    for a in axes.ravel()[n:]:
        a.axis("off")
    axes.ravel()[0].legend(fontsize=6, loc="best")
    fig.tight_layout()
    return rep.figure(fig, f"estimate-{fi}.png", "estimated emigration with its 90% interval against the reports")


def months_figure(rep, fi, t, prov, nc=None, nc_rows=None):
    v = t.values()
    x = np.arange(len(t.rows))
    dec = v[:, 0]
    up = dec + v[:, t.cols.index("pending departures")]
    fig, ax = plt.subplots(figsize=(11 if nc is not None else 8, 4))
    fin = prov == 0
    ax.plot(x[fin], dec[fin], "o-", color="tab:blue", ms=3, label="final months")
    if (~fin).any():
        p = ~fin
        ax.errorbar(x[p], dec[p], yerr=[np.zeros(p.sum()), up[p] - dec[p]], fmt="none", ecolor="0.6",
                    capsize=2, lw=0.8, label="provisional: decided .. decided + pending (bounds)")
    if nc is not None and "departures: estimate" in nc.cols:
        w = nc.values()
        xr = np.array(nc_rows)
        i0 = nc.cols.index("departures: estimate")  # then "departures: 90% lower", "departures: 90% upper"
        lab = nc.cols[i0 + 1][len("departures: "):-len(" lower")]
        est, lo, hi = w[:, i0], w[:, i0 + 1], w[:, i0 + 2]
        ax.fill_between(xr, lo, hi, color="tab:orange", alpha=0.3, lw=0,
                        label=f"PROVISIONAL: nowcast {lab} interval")
        ax.errorbar(xr, est, yerr=[est - lo, hi - est], fmt="s", color="tab:orange", ms=3, capsize=2, lw=0.8,
                    label="PROVISIONAL: nowcast estimate of the final count")
        if "undeclared departures: estimate" in nc.cols:
            ue = w[:, nc.cols.index("undeclared departures: estimate")]
            ax.plot(xr, ue, "^", color="tab:red", ms=3, label="PROVISIONAL: nowcast of undeclared departures")
        if len(xr):
            # the bounds (decided + pending) of the newest months are many times the final counts: the axis is
            # scaled to the counts and the nowcast, and the whiskers beyond it are cut
            top = 1.25 * np.nanmax(np.concatenate([dec[fin], hi, [1.0]]))
            if np.nanmax(up) > top:
                ax.set_ylim(bottom=0.0, top=top)
                ax.text(0.99, 0.98, "grey whiskers cut at the top of the axis", transform=ax.transAxes, ha="right",
                        va="top", fontsize=7, color="0.3")
            ax.axvspan(xr.min() - 0.5, xr.max() + 0.5, color="0.92", zorder=0)
            ax.text(xr.min() - 0.4, 0.02, "provisional", transform=ax.get_xaxis_transform(), fontsize=7,
                    color="0.3")
    if "undeclared departures" in t.cols:
        ax.plot(x, v[:, t.cols.index("undeclared departures")], color="tab:red", lw=1, ls="--",
                label="undeclared departures")
    xticks(ax, [r.replace(" (provisional)", "") for r in t.rows])
    ax.set_ylabel("persons")
    ax.set_title("migrant departures by month (12/16 rule)", fontsize=10)
    if nc is not None:  # many entries: beside the axes, not over the data
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    else:
        ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return rep.figure(fig, f"months-{fi}.png", "migrant departures by month, provisional months with their bounds"
                      + (" and the nowcast's estimates and intervals" if nc is not None else ""))


# ------------------------------------------------------------------------------------------------- HTML
CSS = """
body{font-family:sans-serif;margin:2em auto;max-width:72em;color:#222;line-height:1.4}
h1{font-size:1.6em}h2{border-bottom:2px solid #ccd;margin-top:2em}h3{margin-top:1.5em}
table{border-collapse:collapse;margin:0.5em 0 1em 0;font-size:0.85em}
th,td{border:1px solid #ccd;padding:2px 6px}th{background:#eef}
td.n{text-align:right;font-family:monospace;white-space:nowrap}td.t{font-family:monospace}
.banner{padding:0.8em 1em;border-radius:4px;margin:1em 0}
.internal{background:#fff3cd;border:1px solid #e0c36a}.protected{background:#d4edda;border:1px solid #7bbf8a}
.status-bad{color:#a00;font-weight:bold}.status-ok{color:#070;font-weight:bold}
caption{text-align:left;font-weight:bold;padding:4px 0}.note{color:#555;font-size:0.85em}
img{max-width:100%;border:1px solid #eee}
"""

HOOK = ("<script>/* test hook only: the page reads the same without it */window.addEventListener('load',function(){"
        "var n=0,a=document.images;for(var i=0;i<a.length;i++){a[i].setAttribute('data-natural-width',"
        "a[i].naturalWidth);if(a[i].complete&&a[i].naturalWidth>0)n++;}"
        "document.body.setAttribute('data-images-loaded',n);document.body.setAttribute('data-images',a.length);});"
        "</script>")


def render_table(rep, t):
    out = []
    prot = t.protected is not None
    if prot:
        lab = t.protected[1]
        label = (f'<span class="note">{PARTNER_SAFE}: disclosure-controlled by <code>emflow export --publish</code>, '
                 f'random rounding to base {esc(lab.get("round_base"))}, cells below {esc(lab.get("suppress_below"))} '
                 f'suppressed ({esc(lab.get("suppressed_marker", "S"))}): {esc(lab.get("cells_suppressed"))} of '
                 f'{esc(lab.get("cells"))} cells; <a href="{esc(t.protected[0])}">CSV</a>, '
                 f'<a href="{esc(t.protected[0])}.disclosure.json">label</a></span>')
    elif t.counts:
        label = '<span class="note">counts, not disclosure-controlled (internal)</span>'
    elif t.units == "persons":
        label = ('<span class="note">model output, not a table of counts: not rounded or suppressed' +
                 (', not covered by the protection' if rep.publish else '') + '</span>')
    else:
        label = '<span class="note">model diagnostics, not counts</span>'
    f = rep.files[t.file]
    extra = (f' data-export-file="{esc(os.path.abspath(t.protected[2]))}" data-export-dataset="{esc(t.protected[3])}"'
             if prot else "")
    out.append(f'<table id="{esc(t.tid)}" data-h5-file="{esc(os.path.abspath(f))}" data-counts="{int(t.counts)}" '
               f'data-protected="{int(prot)}"{extra}><caption>{esc(t.title)} {label}</caption>')
    out.append("<tr><th>" + esc(t.row_head) + "</th>" + "".join(f"<th>{esc(c)}</th>" for c in t.cols) + "</tr>")
    for i, r in enumerate(t.rows):
        tds = []
        for j, c in enumerate(t.cells[i]):
            shown = t.shown[i][j]
            if prot:
                attrs = f' data-csv="{esc(t.protected[0])}" data-csv-row="{i * len(t.cols) + j}"'
                if c.src:  # where the unprotected count comes from (an expression, not a value)
                    attrs += f' data-src="{esc(c.src)}"'
                if c.value is None and c.expect is not None:
                    attrs += f' data-expect="{esc(fmt(c.expect) if not isinstance(c.expect, str) else c.expect)}"'
            else:
                attrs = f' data-src="{esc(c.src)}"' if c.src else ""
                if c.value is None and c.expect is not None:
                    attrs += f' data-expect="{esc(fmt(c.expect) if not isinstance(c.expect, str) else c.expect)}"'
            if isinstance(shown, str) and not prot:
                tds.append(f'<td class="t"{attrs}>{esc(shown)}</td>')
            else:
                if isinstance(shown, str):
                    tds.append(f'<td class="n"{attrs}>{esc(shown)}</td>')
                else:  # rounded for reading; the exact value in data-value (and the tooltip) when it differs
                    txt, exact = fmt_table(shown), fmt(shown)
                    if txt != exact:
                        attrs += f' data-value="{esc(exact)}" title="{esc(exact)}"'
                    tds.append(f'<td class="n"{attrs}>{esc(txt)}</td>')
        out.append(f"<tr><th>{esc(r)}</th>{''.join(tds)}</tr>")
    out.append("</table>")
    if t.note:
        out.append(f'<p class="note">{esc(t.note)}</p>')
    return "\n".join(out)


def img(block):
    _, src, alt = block
    return f'<p><img src="{esc(src)}" alt="{esc(alt)}"></p>'


def kv_table(rows, cls=""):
    return (f'<table class="{cls}">' + "".join(f"<tr><th>{esc(k)}</th><td class=\"t\">{esc(v)}</td></tr>"
                                                for k, v in rows) + "</table>")


PROV_KEYS = ["software", "version", "date", "command_line", "host", "mpi_ranks", "omp_threads", "rng_name", "rng_seed",
             "config_sha256", "input_files", "input_sha256", "blas", "lapack", "mpi_library", "hdf5", "compiler"]


def provenance(f):
    rows = []
    keys = [k for k in PROV_KEYS if k in f.attrs] + sorted(k for k in f.attrs.keys() if k not in PROV_KEYS)
    for k in keys:
        v = f.attrs[k]
        if k in ("input_files", "input_sha256") and isinstance(v, np.ndarray):
            v = "; ".join(text(x) for x in v)
        rows.append((k, text(v)))
    if "input_files" in f.attrs and "input_sha256" in f.attrs:
        a, b = np.atleast_1d(f.attrs["input_files"]), np.atleast_1d(f.attrs["input_sha256"])
        rows = [r for r in rows if r[0] not in ("input_files", "input_sha256")]
        for x, y in zip(a, b):
            rows.append(("input", f"{text(x)}  sha256 {text(y)}"))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--emflow", required=True)
    ap.add_argument("--publish", action="store_true")
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    rep = Report(a.out, a.emflow, a.publish, a.files)

    handles = []
    for p in a.files:
        try:
            handles.append(h5py.File(p, "r"))
        except OSError as e:
            fail(f"{p}: cannot open as an HDF5 file (truncated or damaged?): {e}", INPUT)

    # what an earlier run left: a failure must not leave an old page looking like this run's result
    for sub, ends in (("", ("index.html",)), ("fig", (".png",)), ("tables", (".csv", ".disclosure.json", ".h5"))):
        d = os.path.join(a.out, sub)
        for name in (os.listdir(d) if os.path.isdir(d) else []):
            if (name in ends if not sub else name.endswith(ends)) and os.path.isfile(os.path.join(d, name)):
                os.remove(os.path.join(d, name))

    # collect the tables of every file
    found = []
    for fi, f in enumerate(handles):
        d = {"forecast": forecast_tables(rep, fi, f) if "forecast" in f else None,
             "estimate": estimate_tables(rep, fi, f),
             "linkage": linkage_tables(rep, fi, f) if "linkage" in f else None,
             "diag": diagnostics_tables(rep, fi, f) if "posterior" in f else None}
        found.append(d)
    if not rep.tables:
        fail("nothing to report in " + ", ".join(a.files) + ": expected /forecast/<scenario>/{undeclared,flows}, "
             "/posterior/flows/summary or /estimate/emigration, /linkage (emflow forecast, estimate, classify)", INPUT)

    notes = publish_tables(rep) if a.publish else []
    for t in rep.tables:
        if t.shown is None:
            t.shown = [[c.value for c in row] for row in t.cells]

    # the page
    hist = history_of(handles)
    body = []
    toc = []

    def section(anchor, title):
        toc.append((anchor, title))
        body.append(f'<h2 id="{anchor}">{esc(title)}</h2>')

    for fi, (f, d) in enumerate(zip(handles, found)):
        if d["forecast"]:
            section(f"forecast-{fi}", f"Forecasts: {os.path.basename(a.files[fi])}")
            fg = f["forecast"]
            body.append(f'<p>{esc(text(attr(fg, "model", "")))} model, horizon {esc(text(attr(fg, "horizon", "?")))} '
                        f'periods, {esc(text(attr(fg, "trajectories", "?")))} trajectories per scenario. Fan charts '
                        'and tables show the total over all series; every series is in the file '
                        f'(<code>emflow export {esc(a.files[fi])} /forecast/SCENARIO/undeclared</code>).</p>')
            for sc, var, what, desc, t, ex, ser, fseries in d["forecast"]:
                body.append(f"<h3>{esc(sc)}: {esc(what)}</h3><p class=\"note\">scenario: {esc(desc)}</p>")
                body.append(img(fan_chart(rep, fi, sc, var, what, t, ser, fseries, hist)))
                body.append(render_table(rep, t))
                if ex is not None:
                    body.append(render_table(rep, ex))
        if d["estimate"]:
            model, series, tabs, reports = d["estimate"]
            section(f"estimate-{fi}", f"Estimated, declared and mirror-reported emigration: "
                                      f"{os.path.basename(a.files[fi])}")
            body.append(f"<p>{esc(model)} model. The {len(tabs)} largest of {len(series)} series by estimated "
                        "emigration; estimated = posterior mean and 90% interval (q05–q95) of true emigration "
                        "(12-month definition); reports as the sources gave them (— = not reported). Undeclared "
                        "emigration = estimated minus declared, where a declared count exists.</p>")
            body.append(img(estimate_figure(rep, fi, tabs, reports)))
            for _, t, r in tabs:
                body.append(render_table(rep, t))
                if r is not None:
                    body.append(render_table(rep, r))
        if d["linkage"]:
            lk = d["linkage"]
            section(f"linkage-{fi}", f"Linkage, provisional months and data quality: {os.path.basename(a.files[fi])}")
            if "months" in lk:
                nprov = int(np.sum(lk["prov"]))
                body.append(f"<p>{nprov} of {len(lk['month_labels'])} months are provisional: their 16-month windows "
                            "are still open at the data end, so a departure counted now may still become a migrant "
                            "departure. The grey whiskers run from the decided migrant departures to decided + "
                            "pending (bounds that need no model; the table below adds its two columns)" +
                            (", the orange band is the nowcast's interval of the final count and the squares its "
                             "estimate (the PROVISIONAL table)" if "nowcast" in lk else "") + ".</p>")
                for what, note in lk.get("nowcast_missing", []):
                    body.append(f'<p class="status-bad">Nowcast of {esc(what)}: NOT ESTIMATED. {esc(note)}</p>')
                body.append(img(months_figure(rep, fi, lk["months"], lk["prov"], lk.get("nowcast"),
                                              lk.get("nowcast_rows"))))
                if "nowcast" in lk:
                    body.append(render_table(rep, lk["nowcast"]))
                body.append(render_table(rep, lk["months"]))
            for k in ("records", "rejects", "repairs"):
                if k in lk:
                    body.append(render_table(rep, lk[k]))
        if d["diag"]:
            dg = d["diag"]
            section(f"diagnostics-{fi}", f"MCMC diagnostics: {os.path.basename(a.files[fi])}")
            cls = "status-ok" if dg["status"] == "ok" else "status-bad"
            body.append(f'<p>status: <span class="{cls}">{esc(dg["status"])}</span>. Sampler: {esc(dg["sampler"])}</p>')
            body.append(render_table(rep, dg["attrs"]))
            if "params" in dg:
                body.append(render_table(rep, dg["params"]))
    section("provenance", "Provenance")
    for fi, f in enumerate(handles):
        body.append(f"<h3>{esc(a.files[fi])}</h3>")
        body.append(kv_table(provenance(f), "prov"))

    # SOURCE_DATE_EPOCH (reproducible-builds.org), as the HDF5 provenance: reruns give the same page
    sde = os.environ.get("SOURCE_DATE_EPOCH", "")
    if sde.isdigit():
        now = datetime.datetime.fromtimestamp(int(sde), datetime.timezone.utc).isoformat(timespec="seconds")
    else:
        now = datetime.datetime.now(datetime.timezone.utc).astimezone().isoformat(timespec="seconds")
    if a.publish:
        lab = notes[0] if notes else {}
        nsup = sum(int(x.get("cells_suppressed", 0)) for x in notes)
        ncell = sum(int(x.get("cells", 0)) for x in notes)
        banner = (f'<div class="banner protected" id="protection" data-protection="published"><b>Published: the tables '
                  f'of counts are protected ({PARTNER_SAFE}).</b> Each of the {len(notes)} tables of counts on this page '
                  'was passed through <code>emflow export --publish</code>: '
                  f'{esc(lab.get("method", "random rounding to base 3, then suppression of small cells"))}; base '
                  f'{esc(lab.get("round_base", 3))}, cells below {esc(lab.get("suppress_below", "?"))} suppressed '
                  f'(shown as {esc(lab.get("suppressed_marker", "S"))}; {nsup} of {ncell} cells). Rounding is seeded by '
                  'the table itself, so a rerun gives the same values. Margins that would undo a suppression '
                  '(records in, records rejected, declarations in) are left out. The protected CSVs and their labels '
                  'are in <code>tables/</code>; the charts of counts are drawn from the protected values. Model '
                  'outputs (posterior summaries, forecast means and quantiles) and diagnostics are not counts: they '
                  'are shown as computed and are not covered by this protection.</div>')
    else:
        banner = ('<div class="banner internal" id="protection" data-protection="none"><b>Internal: not '
                  'disclosure-controlled.</b> The tables give the exact values of the HDF5 files; small counts may '
                  'identify people. Do not pass this report to partners: make a published one with '
                  '<code>emflow report --publish</code>.</div>')
    inputs = "".join(f"<li><code>{esc(p)}</code>: {esc(', '.join('/' + k for k in handles[i].keys()))}</li>"
                     for i, p in enumerate(a.files))
    page = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
            "<title>emflow monitoring report</title>", f"<style>{CSS}</style>", HOOK, "</head><body>",
            "<h1>emflow monitoring report</h1>",
            f"<p>Generated {esc(now)} by <code>emflow report</code> from:</p><ul>{inputs}</ul>", banner,
            "<p>Contents: " + " · ".join(f'<a href="#{an}">{esc(ti)}</a>' for an, ti in toc) + "</p>"]
    page += body
    page.append("</body></html>")
    path = os.path.join(a.out, "index.html")
    created(path + ".part")
    try:
        with open(path + ".part", "w", encoding="utf-8") as fh:
            fh.write("\n".join(page) + "\n")
        os.replace(path + ".part", path)
    except OSError as e:
        fail(f"cannot write {path}: {e}", IO)
    print(f"report: {path}: {rep.figures} figure(s), {len(rep.tables)} table(s)"
          + (", disclosure-controlled" if a.publish else ""), file=sys.stderr)


if __name__ == "__main__":
    try:
        main()
    except Exception:  # a crash (a bug): still leave nothing behind, then the traceback
        clean_up()
        raise
