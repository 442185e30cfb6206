#!/usr/bin/python3
"""Checks an `emflow report` page in headless Chromium against the HDF5 files it was made from.

    report_check.py DIR --expect forecast,estimate,linkage,diagnostics [--publish --emflow EMFLOW]

1. Chromium (Debian's `chromium`) loads DIR/index.html from disk and dumps the DOM after the load event;
   the page's test hook has then set data-natural-width on every <img> and data-images-loaded on <body>.
   Every image must have loaded (naturalWidth > 0), and there must be at least one per expected section.
2. The page is self-contained: no http(s):// reference, every <img src> a relative path to a file in DIR.
3. Every table cell with data-src is evaluated with h5py against its table's data-h5-file (an element, an
   attribute, or sums / max / min over axes, as scripts/report.py documents) and must equal the number in
   the cell exactly (integers as integers, doubles read back from their text to the same double); a cell
   shown rounded (scripts/report.py fmt_table: 4 significant digits, the unit from 1000 up) must hold the
   exact value in data-value and show it correctly rounded; a cell shown as "—" must hold data-expect
   there (-1 = not reported, or a 0 mask).
3b. The nowcast: each classify output with an estimated nowcast and provisional months has one table of them,
   captioned PROVISIONAL, of exactly its provisional months, with lower <= estimate <= upper in every row.
4. Protection labels: without --publish no table and no text says partner-safe and the banner says the
   page is not disclosure-controlled; with --publish every table of counts is protected, its cells equal
   the CSV that `emflow export --publish` wrote (this script reruns the export and compares the bytes),
   its label says partner_safe, and every published cell is, against the unprotected count its data-src
   names in the HDF5 file, a multiple of the base within base - 1 of it, or the marker S for a count below
   the threshold; no unprotected table is labelled partner-safe.
Exit 0 when all hold, 77 (ctest skip) when Chromium is not installed.
"""
import argparse
import csv
import decimal
import json
import html.parser
import os
import re
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--virtual-time-budget=10000", "--dump-dom"]
SECTION_PREFIX = {"forecast": "forecast-", "estimate": "estimate-", "linkage": "linkage-",
                  "diagnostics": "diagnostics-"}


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.imgs, self.tables, self.body, self.ids, self.banner = [], [], {}, [], None
        self._table = None
        self._cell = None
        self._cap = None
        self._text = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.append(a["id"])
            if a["id"] == "protection":
                self.banner = a
        if tag == "body":
            self.body = a
        elif tag == "img":
            self.imgs.append(a)
        elif tag == "table" and "data-h5-file" in a:
            self._table = {"attrs": a, "cells": []}
            self.tables.append(self._table)
        elif tag == "td" and self._table is not None:
            self._cell = a
            self._text = []
        elif tag == "caption" and self._table is not None:
            self._cap = []

    def handle_data(self, data):
        if self._cell is not None:
            self._text.append(data)
        if self._cap is not None:
            self._cap.append(data)

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self._table["cells"].append((self._cell, "".join(self._text).strip()))
            self._cell = None
        elif tag == "caption" and self._cap is not None:
            self._table["caption"] = "".join(self._cap)
            self._cap = None
        elif tag == "table":
            self._table = None


def chromium_dom(index):
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        print("SKIP: Debian's chromium is not installed (scripts/install-deps.sh installs it); the page was "
              "written but not opened in a browser")
        sys.exit(77)
    with tempfile.TemporaryDirectory() as profile:
        r = subprocess.run([exe] + CHROMIUM_FLAGS + [f"--user-data-dir={profile}", "file://" + os.path.abspath(index)],
                           capture_output=True, text=True, timeout=120)
    if r.returncode != 0 or "<html" not in r.stdout:
        sys.exit(f"FAIL: chromium exited {r.returncode}: {r.stderr[-2000:]}")
    return r.stdout


def evaluate(f, expr):
    """Value of a data-src expression (see scripts/report.py)."""
    total = None
    for term in expr.split(" + "):
        op = None
        m = re.match(r"^(sum|max|min):(.*)$", term)
        if m:
            op, term = m.group(1), m.group(2)
        if "@" in term:
            path, name = term.split("@", 1)
            v = f[path].attrs[name] if path != "/" else f.attrs[name]
            if isinstance(v, bytes):
                v = v.decode()
            if isinstance(v, np.ndarray) and v.size == 1:
                v = v.item()
            if hasattr(v, "item"):
                v = v.item()
        else:
            m = re.match(r"^(.*)\[(.*)\]$", term)
            path, idx = m.group(1), m.group(2)
            ix = tuple(slice(None) if s == ":" else int(s) for s in idx.split(","))
            a = f[path][()][ix]
            if op == "sum":
                v = int(np.sum(a)) if a.dtype.kind in "iu" else float(np.sum(a))
            elif op == "max":
                v = float(np.nanmax(a))
            elif op == "min":
                v = float(np.nanmin(a))
            else:
                v = a.item()
        total = v if total is None else total + v
    return total


def same(text, v):
    if isinstance(v, str):
        return text == v
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return re.fullmatch(r"-?\d+", text) is not None and int(text) == int(v)
    x = float(text)
    return (np.isnan(x) and np.isnan(v)) or x == float(v)


def rounded(text, v):
    """text is v rounded for reading (scripts/report.py fmt_table): from 1000 up the nearest integer, below
    that 4 significant digits (trailing zeros may be dropped), both computed here in exact decimal
    arithmetic on the double's exact value, half to even."""
    if re.fullmatch(r"-?\d+(\.\d+)?(e[-+]\d+)?", text) is None:
        return False
    d = decimal.Decimal(v)  # exact
    if abs(v) >= 1000:
        return re.fullmatch(r"-?\d+", text) is not None and \
            decimal.Decimal(text) == d.to_integral_value(rounding=decimal.ROUND_HALF_EVEN)
    q = decimal.Decimal(1).scaleb(d.adjusted() - 3)  # the unit of the 4th significant digit
    want = d.quantize(q, rounding=decimal.ROUND_HALF_EVEN)
    return decimal.Decimal(text) == want


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--expect", default="")
    ap.add_argument("--publish", action="store_true")
    ap.add_argument("--emflow")
    a = ap.parse_args()
    index = os.path.join(a.dir, "index.html")
    static = open(index, encoding="utf-8").read()
    fails = []

    # 2. self-contained
    if re.search(r"https?://", static):
        fails.append("the page references an external URL: " + re.search(r".{40}https?://.{40}", static).group(0))
    for src in re.findall(r'<img src="([^"]+)"', static):
        if "://" in src or src.startswith("/") or not os.path.isfile(os.path.join(a.dir, src)):
            fails.append(f"<img src={src}>: not a relative path to a file next to index.html")

    # 1. images loaded in Chromium
    page = Page()
    page.feed(chromium_dom(index))
    nimg = len(page.imgs)
    loaded = sum(1 for i in page.imgs if int(i.get("data-natural-width", "0")) > 0)
    if page.body.get("data-images-loaded") is None:
        fails.append("the load hook did not run (no data-images-loaded on <body>)")
    if loaded != nimg or int(page.body.get("data-images-loaded", "-1")) != nimg:
        bad = [i.get("src") for i in page.imgs if int(i.get("data-natural-width", "0")) <= 0]
        fails.append(f"{nimg - loaded} of {nimg} images did not load: {bad}")
    expected = [e for e in a.expect.split(",") if e]
    for e in expected:
        if not any(i.startswith(SECTION_PREFIX[e]) for i in page.ids):
            fails.append(f"no {e} section (id {SECTION_PREFIX[e]}*)")
    if nimg < len([e for e in expected if e != "diagnostics"]):
        fails.append(f"{nimg} images for sections {expected}")

    # 3. numbers against the HDF5 files
    files = {}
    checked = protected_cells = suppressed = changed = rounded_cells = 0
    csv_cache, labels, exports = {}, {}, {}
    for t in page.tables:
        ta = t["attrs"]
        path = ta["data-h5-file"]
        f = files.get(path) or files.setdefault(path, h5py.File(path, "r"))
        prot = ta.get("data-protected") == "1"
        if a.publish and ta.get("data-counts") == "1" and not prot:
            fails.append(f"table {ta.get('id')}: a table of counts not protected in a --publish report")
        if not a.publish and prot:
            fails.append(f"table {ta.get('id')}: protected in a report without --publish")
        for ca, txt in t["cells"]:
            if prot:
                rel = ca["data-csv"]
                if rel not in csv_cache:
                    with open(os.path.join(a.dir, rel), newline="") as fh:
                        csv_cache[rel] = list(csv.reader(fh))[1:]
                    with open(os.path.join(a.dir, rel + ".disclosure.json")) as fh:
                        labels[rel] = json.load(fh)
                    exports[rel] = (ta["data-export-file"], ta["data-export-dataset"])
                lab = labels[rel]
                base, thr, marker = int(lab["round_base"]), int(lab["suppress_below"]), lab["suppressed_marker"]
                want = csv_cache[rel][int(ca["data-csv-row"])][-1]
                true = evaluate(f, ca["data-src"])
                if txt == "—":
                    if not same(ca["data-expect"], true):
                        fails.append(f"{ta['id']}: '—' but {ca['data-src']} = {true}")
                elif txt != want:
                    fails.append(f"{ta['id']}: cell {txt!r} != the protected CSV {rel} row {ca['data-csv-row']} {want!r}")
                elif txt == marker:
                    if not true < thr:
                        fails.append(f"{ta['id']}: {ca['data-src']} = {true} >= {thr} suppressed")
                    suppressed += 1
                else:
                    n = int(txt)
                    if n % base or abs(n - true) >= base or true < thr:
                        fails.append(f"{ta['id']}: published {n} for the count {true} ({ca['data-src']}): expected a "
                                     f"multiple of {base} within {base - 1}, or {marker} below {thr}")
                    changed += n != true
                protected_cells += 1
                continue
            if "data-src" not in ca:
                continue
            v = evaluate(f, ca["data-src"])
            if txt == "—":
                if "data-expect" not in ca or not same(ca["data-expect"], v):
                    fails.append(f"{ta['id']}: '—' for {ca['data-src']} = {v} (data-expect {ca.get('data-expect')})")
            elif "data-value" in ca:  # shown rounded: the exact value in data-value
                if not same(ca["data-value"], v):
                    fails.append(f"{ta['id']}: data-value {ca['data-value']!r} != {ca['data-src']} = {v!r} in {path}")
                elif not rounded(txt, float(v)):
                    fails.append(f"{ta['id']}: cell {txt!r} is not {ca['data-src']} = {v!r} rounded to 4 significant "
                                 f"digits (the unit from 1000 up)")
                rounded_cells += 1
            elif not same(txt, v):
                fails.append(f"{ta['id']}: cell {txt!r} != {ca['data-src']} = {v!r} in {path}")
            checked += 1

    # 3b. the nowcast of the provisional months: every classify output with an estimated /linkage/nowcast and a
    # provisional month has a table "...-nowcast" captioned PROVISIONAL, holding exactly its provisional months
    # (/linkage/provisional = 1), each with estimate, lower and upper of the month total (their values are held to
    # the file by 3.), and lower <= estimate <= upper in every row
    ncs = {}
    for t in page.tables:
        if t["attrs"].get("id", "").endswith("-nowcast"):
            ncs.setdefault(t["attrs"]["data-h5-file"], []).append(t)
    for path in sorted({t["attrs"]["data-h5-file"] for t in page.tables}):
        f = files.get(path) or files.setdefault(path, h5py.File(path, "r"))
        if "linkage/nowcast" not in f or "linkage/provisional" not in f:
            continue
        st = f["linkage/nowcast"].attrs.get("departures_status", b"estimated")
        prov = np.flatnonzero(f["linkage/provisional"][()])
        if (st.decode() if isinstance(st, bytes) else st) != "estimated" or not len(prov):
            continue
        tabs = ncs.get(path, [])
        if len(tabs) != 1:
            fails.append(f"{path}: {len(tabs)} nowcast tables of its provisional months, expected 1")
            continue
        t = tabs[0]
        if "PROVISIONAL" not in t.get("caption", ""):
            fails.append(f"{t['attrs']['id']}: the caption does not say PROVISIONAL")
        byrow = {}
        for ca, txt in t["cells"]:
            mm = re.fullmatch(r"(/\w+/nowcast/departures_total_(mean|lower|upper))\[(\d+)\]", ca.get("data-src", ""))
            if not mm:
                fails.append(f"{t['attrs']['id']}: cell from {ca.get('data-src')!r}, expected a nowcast month total")
                continue
            byrow.setdefault(int(mm.group(3)), {})[mm.group(1)] = float(ca.get("data-value", txt))
        if sorted(byrow) != [int(i) for i in prov]:
            fails.append(f"{t['attrs']['id']}: months {sorted(byrow)}, expected the provisional ones {list(prov)}")
        for m, v in byrow.items():
            for grp in sorted({k.rsplit("_", 1)[0] for k in v}):
                lo, est, hi = v.get(grp + "_lower"), v.get(grp + "_mean"), v.get(grp + "_upper")
                if None in (lo, est, hi) or not lo <= est <= hi:
                    fails.append(f"{t['attrs']['id']}: month {m}: {grp} lower {lo}, estimate {est}, upper {hi}")
        print(f"report_check: {t['attrs']['id']}: {len(byrow)} provisional months with estimate and interval")
    if "linkage" in a.expect.split(",") and not ncs:
        fails.append("no nowcast table in a report with a linkage section")

    # 4. protection labels
    partner = "partner-safe" in static
    if a.publish:
        if not page.banner or page.banner.get("data-protection") != "published":
            fails.append("a --publish report without the 'published' protection banner")
        if "random rounding to base 3" not in static or "suppression" not in static:
            fails.append("a --publish report does not say how it is protected")
        if protected_cells == 0:
            fails.append("a --publish report with no protected cell")
        # every label says partner-safe; the CSVs are what export --publish writes (a rerun agrees)
        for rel, (src, dset) in exports.items():
            if labels[rel].get("partner_safe") is not True:
                fails.append(f"{rel}.disclosure.json: not partner_safe")
            with tempfile.TemporaryDirectory() as tmp:
                out = os.path.join(tmp, "x.csv")
                r = subprocess.run([a.emflow, "export", src, dset, "--publish", "-o", out], capture_output=True, text=True)
                if r.returncode != 0 or open(out).read() != open(os.path.join(a.dir, rel)).read():
                    fails.append(f"{rel}: not what emflow export {src} {dset} --publish writes ({r.stderr.strip()})")
        for t in page.tables:
            if t["attrs"].get("data-protected") != "1" and "partner-safe" in t.get("caption", ""):
                fails.append(f"table {t['attrs'].get('id')}: unprotected but labelled partner-safe")
        if changed == 0 or suppressed == 0:
            fails.append(f"published cells: {changed} changed by rounding, {suppressed} suppressed: expected some of each")
    else:
        if partner:
            fails.append("a report without --publish says partner-safe")
        if not page.banner or page.banner.get("data-protection") != "none":
            fails.append("the page does not say it is not disclosure-controlled")
        if checked < 50:
            fails.append(f"only {checked} cells checked against the HDF5 files")

    for f in files.values():
        f.close()
    print(f"report_check: {a.dir}: {nimg} images loaded in Chromium, {len(page.tables)} tables, "
          f"{checked} cells equal to the HDF5 files ({rounded_cells} of them shown rounded, exact in data-value), "
          f"{protected_cells} protected cells equal to export --publish "
          f"({changed} changed by rounding, {suppressed} suppressed)")
    if fails:
        for x in fails[:40]:
            print("FAIL:", x)
        if len(fails) > 40:
            print(f"... and {len(fails) - 40} more")
        sys.exit(1)


if __name__ == "__main__":
    main()
