#!/usr/bin/env node
// bench/peers/classify_duckdb.mjs: the 12/16 rule of `emflow classify` written in DuckDB SQL
// (npm package @duckdb/node-api, installed by bench/install-peers.sh into bench/peers/node_modules),
// the DuckDB peer of bench/bench_classify.py (issue 4, Performance).
//
//   node bench/peers/classify_duckdb.mjs --csv CROSSINGS.csv --out TABLES.csv [--threads 2]
//        [--window-days 487] [--threshold-days 365] [--warmup-days -1] [--memory-limit 8GB]
//
// The rule (engine/emi_cmd_classify.c, kernels/emi_rule.h), on fault-free records (the benchmark runs
// `emflow simulate --no-faults` and checks that emflow made no repair, so repairs are not written here):
//   - records: the crossings CSV of DESIGN.md; a record is kept when crossed_at is an ISO date or
//     date-time, direction IN/OUT, sex M/F/X, citizenship three capital letters, birth year not after
//     the year of the crossing and at most 120 years before it (emflow's reject rules that fault-free
//     data can trigger; the benchmark compares the accepted count with emflow's);
//   - a person's crossings in (day, second, direction) order, date-only records (second -1) first in
//     their day, entries before exits on ties (emflow's sort key);
//   - location on day d: direction of the last crossing on or before d (OUT = abroad);
//   - window of a crossing on day t: t .. t + W - 1, censored at the data end E (the last day of any
//     accepted record); count = days abroad (exit) or in the country (entry) in t .. min(t + W - 1, E);
//   - status before the first crossing: resident if it is an exit (initial status from-first);
//     a resident's exit with count >= threshold is a migrant departure and makes the person
//     non-resident; a non-resident's entry with count >= threshold a migrant arrival (resident again);
//     a crossing the status "wants" whose outcome is not certain yet (count < threshold, count + days
//     after E >= threshold) is pending (departure / arrival) and changes nothing; all others short-term;
//   - tables: month of the crossing x citizenship x sex x age group (year of the crossing - birth year:
//     Y_LT15, Y15-24, ..., Y_GE65), months from the first month that starts on or after data start +
//     warm-up (default one window) to the month of E.
// The status recursion is written without recursion: a crossing "qualifies" when its count reaches the
// threshold (whatever the status); the migrant crossings are exactly the qualifying crossings whose
// direction differs from that of the previous qualifying crossing of the person, or, for the first
// qualifying crossing, equals the direction of the person's first crossing (a resident wants an exit,
// then an entry, ...: the state machine takes the first qualifying crossing of each run of equal
// directions and skips a leading run of the wrong direction).  Days abroad come from a per-person
// running sum of the days abroad before each crossing and an ASOF join on the window's last day.
//
// Output: TABLES.csv, kind,month,citizenship,sex,age_group,value (kind: migrant_departures,
// migrant_arrivals, pending_departures, pending_arrivals; only non-zero cells), and one JSON line on
// stdout: timings (monotonic clock, performance.now(): CSV read + validation, rule + tabulation, total
// from before the CSV read to the tables in memory), counts, months, DuckDB version, threads.
import { DuckDBInstance, version } from '@duckdb/node-api';
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

function parseArgs(argv) {
  const a = { threads: 2, windowDays: 487, thresholdDays: 365, warmupDays: -1, memoryLimit: null };
  for (let i = 2; i < argv.length; i++) {
    const k = argv[i], v = argv[i + 1];
    const need = () => { if (v === undefined) die(`${k} needs a value`); i++; return v; };
    if (k === '--csv') a.csv = need();
    else if (k === '--out') a.out = need();
    else if (k === '--threads') a.threads = parseInt(need(), 10);
    else if (k === '--window-days') a.windowDays = parseInt(need(), 10);
    else if (k === '--threshold-days') a.thresholdDays = parseInt(need(), 10);
    else if (k === '--warmup-days') a.warmupDays = parseInt(need(), 10);
    else if (k === '--memory-limit') a.memoryLimit = need();
    else die(`unknown argument '${k}'`);
  }
  if (!a.csv || !a.out) die('usage: classify_duckdb.mjs --csv CROSSINGS.csv --out TABLES.csv [--threads N]');
  for (const [k, v] of [['threads', a.threads], ['window-days', a.windowDays], ['threshold-days', a.thresholdDays]])
    if (!Number.isInteger(v) || v < 1) die(`--${k}: expected a positive integer`);
  if (!Number.isInteger(a.warmupDays) || a.warmupDays < -1) die('--warmup-days: expected -1 or more');
  if (a.thresholdDays > a.windowDays) die('--threshold-days is more than --window-days');
  return a;
}
function die(msg) {
  process.stderr.write(`classify_duckdb: ${msg}\n`);
  process.exit(2);
}
const sqlString = (s) => `'${String(s).replaceAll("'", "''")}'`;

// days since 1970-01-01 <-> (year, month) in the proleptic Gregorian calendar (as emi_sim.h)
const monthOfDay = (day) => { const d = new Date(day * 86400000); return d.getUTCFullYear() * 12 + d.getUTCMonth(); };
const monthFirstDay = (m) => Date.UTC(Math.floor(m / 12), m % 12, 1) / 86400000;

async function main() {
  const a = parseArgs(process.argv);
  const W = a.windowDays, THR = a.thresholdDays;
  const warmup = a.warmupDays < 0 ? W : a.warmupDays;
  const t0 = performance.now();
  const opts = { threads: String(a.threads) };
  if (a.memoryLimit) opts.memory_limit = a.memoryLimit;
  const instance = await DuckDBInstance.create(':memory:', opts);
  const con = await instance.connect();
  await con.run('SET preserve_insertion_order = false');
  const tOpen = performance.now();

  // 1. read + validate (every column as text, as emflow validates the text)
  await con.run(`
    CREATE TEMP TABLE x AS
    WITH r AS (
      SELECT person_id, crossed_at, direction, citizenship AS cit, sex,
             TRY_CAST(birth_year AS INTEGER) AS birth_year,
             CASE WHEN length(crossed_at) = 10 THEN TRY_CAST(TRY_CAST(crossed_at AS DATE) AS TIMESTAMP)
                  ELSE TRY_CAST(crossed_at AS TIMESTAMP) END AS ts
      FROM read_csv(${sqlString(a.csv)}, header = true, delim = ',', quote = '"', auto_detect = false,
                    columns = {'person_id': 'VARCHAR', 'crossed_at': 'VARCHAR', 'direction': 'VARCHAR',
                               'citizenship': 'VARCHAR', 'border_point': 'VARCHAR', 'document': 'VARCHAR',
                               'sex': 'VARCHAR', 'birth_year': 'VARCHAR'})
    )
    SELECT hash(person_id) AS pid,
           CAST(CAST(ts AS DATE) - DATE '1970-01-01' AS INTEGER) AS day,
           CASE WHEN length(crossed_at) = 10 THEN -1 ELSE hour(ts) * 3600 + minute(ts) * 60 + second(ts) END AS sec,
           CAST(direction = 'OUT' AS INTEGER) AS out,
           cit, sex,
           year(ts) * 12 + month(ts) - 1 AS mon,
           year(ts) - birth_year AS age
    FROM r
    WHERE ts IS NOT NULL AND year(ts) BETWEEN 1900 AND 2199
      AND direction IN ('IN', 'OUT') AND sex IN ('M', 'F', 'X')
      AND regexp_full_match(cit, '[A-Z]{3}')
      AND length(person_id) BETWEEN 1 AND 64
      AND birth_year IS NOT NULL AND birth_year <= year(ts) AND year(ts) - birth_year <= 120`);
  const rng = (await con.runAndReadAll('SELECT count(*)::BIGINT, min(day), max(day) FROM x')).getRowsJS()[0];
  const accepted = Number(rng[0]), dataStart = Number(rng[1]), E = Number(rng[2]);
  const tRead = performance.now();

  // table months: from the first month starting on or after data start + warm-up, to the month of E
  let month0 = monthOfDay(dataStart + warmup);
  if (monthFirstDay(month0) < dataStart + warmup) month0++;
  const nmonths = monthOfDay(E) - month0 + 1;
  if (nmonths <= 0) die('the data are shorter than the warm-up plus one month: nothing to tabulate');

  // 2. per person: order, running days abroad before each crossing, first direction
  await con.run(`
    CREATE TEMP TABLE s AS
    WITH a AS (
      SELECT *, row_number() OVER w AS rn, first_value(out) OVER w AS out0, lead(day) OVER w AS nday
      FROM x WINDOW w AS (PARTITION BY pid ORDER BY day, sec, out)
    )
    SELECT pid, rn, day, out, out0, cit, sex, mon, age,
           least(day + ${W - 1}, ${E}) AS last,
           coalesce(sum(CASE WHEN out = 1 THEN nday - day ELSE 0 END)
                    OVER (PARTITION BY pid ORDER BY rn ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS cum
    FROM a`);
  const tS = performance.now();
  await con.run('DROP TABLE x');
  // location from each day with a crossing on: the direction of that day's last crossing, and the days
  // abroad before that day
  await con.run(`
    CREATE TEMP TABLE dd AS
    SELECT pid, day, arg_max(out, rn) AS out_last, min(cum) AS cum FROM s GROUP BY pid, day`);
  const tDD = performance.now();
  // 3. counts in the window, the status recursion (see the header), classes, tables
  await con.run(`
    CREATE TEMP TABLE e AS
    SELECT pid, rn, day, out, out0, cit, sex, mon, age, cnt >= ${THR} AS yes, cnt + (day + ${W - 1} - last) < ${THR} AS no
    FROM (SELECT s.*, CASE WHEN s.out = 1 THEN ab ELSE s.last - s.day + 1 - ab END AS cnt
          FROM (SELECT s.*, (dd.cum + CASE WHEN dd.out_last = 1 THEN s.last - dd.day + 1 ELSE 0 END) - s.cum AS ab
                FROM s ASOF JOIN dd ON s.pid = dd.pid AND dd.day <= s.last) s)
    WHERE yes OR NOT no`);
  await con.run('DROP TABLE s; DROP TABLE dd');
  const tE = performance.now();
  // migrant crossings: among the qualifying ones (see the header)
  await con.run(`
    CREATE TEMP TABLE m AS
    SELECT pid, rn, out, cit, sex, mon, age FROM (
      SELECT *, lag(out) OVER (PARTITION BY pid ORDER BY rn) AS prev_q FROM e WHERE yes)
    WHERE (prev_q IS NULL AND out = out0) OR (prev_q IS NOT NULL AND out <> prev_q)`);
  const tabSql = `
    WITH p AS (  -- open windows: pending when the status at the crossing "wants" its direction
      SELECT e.out, e.cit, e.sex, e.mon, e.age,
             CASE WHEN m.out IS NULL THEN e.out0 WHEN m.out = 1 THEN 0 ELSE 1 END AS want
      FROM (SELECT * FROM e WHERE NOT yes) e ASOF LEFT JOIN m ON e.pid = m.pid AND m.rn < e.rn
    ), c AS (
      SELECT CASE WHEN out = 1 THEN 'migrant_departures' ELSE 'migrant_arrivals' END AS kind, mon, cit, sex, age FROM m
      UNION ALL
      SELECT CASE WHEN out = 1 THEN 'pending_departures' ELSE 'pending_arrivals' END, mon, cit, sex, age
      FROM p WHERE out = want
    )
    SELECT kind, mon, cit, sex,
           CASE WHEN age < 15 THEN 'Y_LT15' WHEN age >= 65 THEN 'Y_GE65'
                ELSE (['Y15-24', 'Y25-34', 'Y35-44', 'Y45-54', 'Y55-64'])[1 + (age - 15) // 10] END AS age_group,
           count(*)::BIGINT AS value
    FROM c
    WHERE mon BETWEEN ${month0} AND ${month0 + nmonths - 1}
    GROUP BY ALL ORDER BY ALL`;
  const rows = (await con.runAndReadAll(tabSql)).getRowsJS();
  const tEnd = performance.now();

  const lines = ['kind,month,citizenship,sex,age_group,value'];
  const totals = {};
  for (const [kind, mon, cit, sex, ag, v] of rows) {
    const m = Number(mon);
    lines.push(`${kind},${String(Math.floor(m / 12)).padStart(4, '0')}-${String(m % 12 + 1).padStart(2, '0')},${cit},${sex},${ag},${v}`);
    totals[kind] = (totals[kind] || 0) + Number(v);
  }
  writeFileSync(a.out, lines.join('\n') + '\n');
  con.closeSync();
  instance.closeSync();
  const s = (x) => Math.round(x) / 1000;
  process.stdout.write(JSON.stringify({
    impl: 'duckdb', duckdb: version(), node: process.version, threads: a.threads, records_accepted: accepted,
    data_start_day: dataStart, data_end_day: E, month0, nmonths, cells: rows.length, totals,
    seconds: { open: s(tOpen - t0), read_validate: s(tRead - tOpen), order: s(tS - tRead), days: s(tDD - tS), window_counts: s(tE - tDD), rule_tabulate: s(tEnd - tE), total: s(tEnd - t0) },
  }) + '\n');
}

main().catch((e) => { process.stderr.write(`classify_duckdb: FAILED: ${e && e.stack || e}\n`); process.exit(1); });
