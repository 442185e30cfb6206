#!/usr/bin/python3
"""Foreigners' yearly border counts from an `emflow simulate` crossings CSV, as the Azerbaijan State
Migration Service publishes them (inputs/azerbaijan_border_2020_2022.csv): entries and exits of
foreigners and stateless persons (citizenship != home), counted as crossings and as distinct border
crossing documents (person_id), by the RECORDED date, for 2020, 2021 and January-August 2022.

Used by the calibration test (tests/mpi/simulate_calibration.py) and the fit (scripts/fit_azerbaijan_sim.py).
"""
import csv

PERIODS = [("2020", "2020-01-01", "2021-01-01"), ("2021", "2021-01-01", "2022-01-01"),
           ("2022-01-01/P8M", "2022-01-01", "2022-09-01")]
INDICATORS = ["entries_crossings", "entries_documents", "exits_crossings", "exits_documents"]


def period_of(date):
    for k, (_, lo, hi) in enumerate(PERIODS):
        if lo <= date < hi:
            return k
    return -1


def foreign_counts(crossings_csv, home="AZE", attribute=None):
    """Returns {(indicator, period label): count}.  With attribute (a dict person_id -> group), also
    {group: {(indicator, label): count}} of each group's contribution (documents are persons, so the
    groups' document counts add up to the total)."""
    total = {}
    by_group = {}
    docs = [[set(), set()] for _ in PERIODS]
    with open(crossings_csv, newline="") as f:
        r = csv.reader(f)
        header = next(r)
        assert header[:4] == ["person_id", "crossed_at", "direction", "citizenship"], header
        for row in r:
            if row[3] == home:
                continue
            k = period_of(row[1][:10])
            if k < 0:
                continue
            d = 0 if row[2] == "IN" else 1
            ind = INDICATORS[2 * d]
            key = (ind, PERIODS[k][0])
            total[key] = total.get(key, 0) + 1
            g = attribute.get(row[0]) if attribute is not None else None
            if attribute is not None:
                gg = by_group.setdefault(g, {})
                gg[key] = gg.get(key, 0) + 1
            if row[0] not in docs[k][d]:
                docs[k][d].add(row[0])
                key = (INDICATORS[2 * d + 1], PERIODS[k][0])
                total[key] = total.get(key, 0) + 1
                if attribute is not None:
                    gg = by_group.setdefault(g, {})
                    gg[key] = gg.get(key, 0) + 1
    return (total, by_group) if attribute is not None else total


def real_counts(path):
    out = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row["indicator"] in INDICATORS:
                out[(row["indicator"], row["TIME_PERIOD"])] = float(row["OBS_VALUE"])
    return out
