/* emi_cmd_simulate.c: `emflow simulate`, a synthetic border-crossing population with its ground truth
 * (issue 3).
 *
 *   mpiexec -n N emflow simulate -o truth.h5 [--crossings C.csv] [--declarations D.csv]
 *                                [--start 2020-01 --months 32 --scale 0.01 --seed 1] [...]
 *
 * The population model, the truth and the faults are documented in kernels/emi_sim.h; the default
 * values are the calibrated Azerbaijan profile (inputs/azerbaijan_sim.ini documents each value and
 * how it was fitted; scripts/fit_azerbaijan_sim.py refits it).
 *
 * Outputs
 *   crossings CSV    person_id,crossed_at,direction,citizenship,border_point,document,sex,birth_year
 *                    (DESIGN.md), the RECORDED crossings (faults applied) whose true day is in the
 *                    period, person by person in person-index order; within a person in time order,
 *                    late records after the others.  person_id: a random 96-bit token (24 hex).
 *   crossings HDF5   --crossings-h5 FILE: the same records, in the same order, in the compound form
 *                    /crossings/records of engine/emi_crossings.h (what `emflow convert` writes from
 *                    the CSV), streamed through emi_crossings_writer_append one block round at a time;
 *                    --no-crossings-csv skips the CSV.
 *   declarations CSV person_id,declared_on,destination: declarations dated within the period.
 *   truth HDF5       /truth: migrant_departures, migrant_arrivals, declared_departures,
 *                    undeclared_departures (int64, month x citizenship x sex x age_group; the 12/16
 *                    rule on the TRUE movements, month of the true crossing day, primary citizenship,
 *                    age = year of the crossing - birth year); faults (by fault_kind); persons_by_type;
 *                    summary (true crossings in the period, records, declarations, persons, persons
 *                    truncated); plus provenance and /config (emi_output_begin/finish).
 *   --persons-dump, --movements-dump   the simulated truth person by person (for tests and the fit
 *                    script; never an input to estimation):
 *                    persons:   index,person_id,person_id2,type,citizenship,citizenship2,sex,birth_year,
 *                               anchor_day,destination,truncated
 *                    movements: index,day,sec,direction,border_point,class,declared,decl_day,rec_day,
 *                               faults,doc,dup_sec   (every true movement of the history; days since
 *                               1970-01-01; class 0 short-term, 1 migrant departure, 2 migrant arrival;
 *                               faults: bit k = emi_fault_names[k])
 *   --link-table-out FILE  person_id_a,person_id_b: the first and second document keys of every dual
 *                    citizen of the population (what a population register would know; some never
 *                    cross in the period), input of `emflow classify --link-table`.
 *
 * Parallelism and determinism.  Persons are cut into fixed blocks of EMI_SIM_BLOCK persons; block b
 * is simulated by rank b mod N in round b div N, its persons by OpenMP threads in sub-blocks, and its
 * text for each file is the concatenation of its persons' text in index order.  In each round the
 * ranks' byte counts are prefix-summed (MPI_Exscan) and every rank writes its block at its offset
 * (MPI_File_write_at_all) into FILE.part; rank 0 renames the complete files.  So every byte depends
 * only on (seed, options), not on the number of ranks or threads.  Truth tables are int64 counts
 * summed exactly (per thread, then MPI_Allreduce).
 */
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "emi_cli.h"
#include "emi_commands.h"
#include "emi_crossings.h"
#include "emi_log.h"
#include "emi_output.h"
#include "emi_rule1216.h"
#include "emi_sim.h"

#define EMI_SIM_BLOCK 4096 /* persons per block (a unit of work and of output ordering) */
#define EMI_SIM_SUB 128    /* persons per OpenMP task inside a block */
#define EMI_SIM_CAP 4096   /* movements per person */
#define TAIL_MONTHS 17     /* simulated after the period so that every window (487 days) closes */
#define NFILES 5           /* crossings, declarations, persons dump, movements dump, link table */

/* The defaults are the calibrated Azerbaijan profile (inputs/azerbaijan_sim.ini). */
const emi_opt_spec_t emi_simulate_specs[] = {
  EMI_OPTS_COMMON,
  {"output", "simulate", EMI_OPT_PATH, NULL, "", "ground-truth HDF5 file", 0, 0, NULL, 'o'},
  {"crossings", "simulate", EMI_OPT_PATH, NULL, "", "crossings CSV (default: OUTPUT without .h5 + _crossings.csv)"},
  {"declarations", "simulate", EMI_OPT_PATH, NULL, "", "declarations CSV (default: OUTPUT without .h5 + _declarations.csv)"},
  {"crossings-h5", "simulate", EMI_OPT_PATH, NULL, "",
   "also write the crossings in the HDF5 compound form (/crossings/records, engine/emi_crossings.h) to this file"},
  {"crossings-csv", "simulate", EMI_OPT_FLAG, "true", "",
   "write the crossings CSV (--no-crossings-csv: only the HDF5 form, with --crossings-h5)"},
  {"persons-dump", "simulate", EMI_OPT_PATH, NULL, "", "write the simulated persons (truth, for tests) to this CSV"},
  {"movements-dump", "simulate", EMI_OPT_PATH, NULL, "", "write every true movement (truth, for tests) to this CSV"},
  {"link-table-out", "simulate", EMI_OPT_PATH, NULL, "",
   "write the link table person_id_a,person_id_b: the two document keys of every dual citizen (classify --link-table)"},
  {"profile", "simulate", EMI_OPT_CHOICE, "azerbaijan", "", "parameter profile (the defaults of this table)", 0, 0,
   "azerbaijan"},
  {"seed", "simulate", EMI_OPT_INT, "20240601", "", "seed of the Philox streams", 0, 9007199254740992.0},
  {"start", "simulate", EMI_OPT_MONTH, "2020-01", "", "first month of the output period (YYYY-MM)"},
  {"months", "simulate", EMI_OPT_INT, "32", "months", "length of the output period", 1, 1200},
  {"burn-in-months", "simulate", EMI_OPT_INT, "36", "months", "history simulated before the period", 0, 600},
  {"scale", "simulate", EMI_OPT_REAL, "1", "", "fraction of the population simulated (0.01 = 1 in 100)", 1e-6, 100},
  {"population", "simulate", EMI_OPT_REAL, "2462820.56", "persons/year",
   "persons whose anchor event (first trip, departure, arrival) falls in a year, at weight 1 and scale 1", 0, 1e10},
  {"type-shares", "simulate", EMI_OPT_LIST,
   "resident:0.101875,emigrant:0.0121466,returner:0.00329135,circular:0.0061125,visitor:0.859889446,"
   "frequent:0.0112994,worker:0.0033482,immigrant:0.00125385,overstayer:0.000783654",
   "", "TYPE:SHARE for resident,emigrant,returner,circular,visitor,frequent,worker,immigrant,overstayer (sum 1)"},
  {"visitor-weights", "simulate", EMI_OPT_LIST, "2020-01:0.0799605,2021-01:0.0408312,2022-01:0.361334", "",
   "YYYY-MM:W breakpoints of the visitors' anchor weight (1 before the first)"},
  {"frequent-weights", "simulate", EMI_OPT_LIST, "2020-01:1.60032,2021-01:0.628803,2022-01:2.43492", "",
   "YYYY-MM:W breakpoints of the frequent travellers' anchor weight (1 before the first)"},
  {"worker-weights", "simulate", EMI_OPT_LIST, "2020-01:1.45027,2021-01:4.6618,2022-01:4.55232", "",
   "YYYY-MM:W breakpoints of the foreign workers' and students' anchor weight (1 before the first)"},
  {"closure-start", "simulate", EMI_OPT_MONTH, "2020-04", "", "first month of the closure scenario"},
  {"closure-end", "simulate", EMI_OPT_MONTH, "2020-12", "", "last month of the closure scenario (inclusive)"},
  {"closure-factor", "simulate", EMI_OPT_REAL, "0.2", "", "travel rates are multiplied by this during the closure", 0, 100},
  {"home", "simulate", EMI_OPT_STRING, "AZE", "", "ISO 3166-1 alpha-3 code of the country simulated"},
  {"foreign-citizenships", "simulate", EMI_OPT_LIST,
   "RUS:0.24,GEO:0.22,TUR:0.15,IRN:0.14,UKR:0.05,KAZ:0.03,UZB:0.03,IND:0.04,ISR:0.03,CHN:0.02,GBR:0.02,USA:0.03",
   "", "CODE:SHARE citizenship mix of foreigners (sum 1)"},
  {"destinations", "simulate", EMI_OPT_LIST, "RUS:0.52,KAZ:0.12,TUR:0.11,UKR:0.08,GEO:0.07,DEU:0.04,USA:0.03,GBR:0.03",
   "", "CODE:SHARE destinations of citizens' emigration and trips; second citizenships of dual citizens (sum 1)"},
  {"dual-share", "simulate", EMI_OPT_REAL, "0.03", "", "share of citizens with a second citizenship (two documents)", 0, 1},
  {"resident-trips-per-year", "simulate", EMI_OPT_REAL, "2", "1/year", "mean trip rate of resident travellers", 0, 365},
  {"resident-trip-days", "simulate", EMI_OPT_REAL, "12", "days", "mean length of a resident's trip", 1, 365},
  {"emigrant-return-share", "simulate", EMI_OPT_REAL, "0.25", "", "emigrants who come back for good after 2-6 years", 0, 1},
  {"emigrant-visits-per-year", "simulate", EMI_OPT_REAL, "0.5", "1/year", "emigrants' short visits home", 0, 12},
  {"circular-abroad-min-days", "simulate", EMI_OPT_REAL, "240", "days", "circular migrants: shortest spell abroad", 1, 3650},
  {"circular-abroad-max-days", "simulate", EMI_OPT_REAL, "330", "days", "circular migrants: longest spell abroad", 1, 3650},
  {"circular-home-min-days", "simulate", EMI_OPT_REAL, "30", "days", "circular migrants: shortest spell at home", 1, 3650},
  {"circular-home-max-days", "simulate", EMI_OPT_REAL, "150", "days", "circular migrants: longest spell at home", 1, 3650},
  {"visitor-stay-days", "simulate", EMI_OPT_REAL, "7", "days", "mean stay of a foreign visitor", 1, 365},
  {"visitor-repeat", "simulate", EMI_OPT_REAL, "0.3", "", "probability that a visitor comes again", 0, 0.99},
  {"visitor-gap-days", "simulate", EMI_OPT_REAL, "150", "days", "mean time between a visitor's visits", 1, 3650},
  {"frequent-stay-days", "simulate", EMI_OPT_REAL, "3", "days", "mean stay of a frequent traveller", 1, 365},
  {"frequent-gap-days", "simulate", EMI_OPT_REAL, "30", "days", "mean time abroad between a frequent traveller's stays", 1, 3650},
  {"frequent-span-days", "simulate", EMI_OPT_REAL, "365", "days", "mean active spell of a frequent traveller", 1, 36500},
  {"worker-stay-min-days", "simulate", EMI_OPT_REAL, "180", "days", "shortest stay of a foreign worker or student", 1, 36500},
  {"worker-stay-max-days", "simulate", EMI_OPT_REAL, "1460", "days", "longest stay of a foreign worker or student", 1, 36500},
  {"declare-coverage", "simulate", EMI_OPT_REAL, "0.3", "", "probability that a citizen's migrant departure is declared", 0, 1},
  {"declare-female-factor", "simulate", EMI_OPT_REAL, "1.2", "", "coverage multiplier for women", 0, 100},
  {"declare-foreign-factor", "simulate", EMI_OPT_REAL, "0.3", "", "coverage multiplier for foreigners", 0, 100},
  {"declare-age-factors", "simulate", EMI_OPT_LIST, "1.0,0.8,0.9,1.0,1.1,1.3,1.5", "",
   "coverage multipliers by age group 0-14,15-24,25-34,35-44,45-54,55-64,65+ (7 values >= 0)"},
  {"declare-citizenship-factors", "simulate", EMI_OPT_LIST, "", "",
   "CODE:FACTOR coverage multipliers by citizenship (the home country or a foreign citizenship; unlisted: 1)"},
  {"faults", "simulate", EMI_OPT_FLAG, "true", "", "inject recording faults (--no-faults: every fault rate is 0)"},
  {"miss-exit-rate", "simulate", EMI_OPT_REAL, "0.002", "", "probability that an exit is not recorded (air, sea)", 0, 1},
  {"miss-entry-rate", "simulate", EMI_OPT_REAL, "0.001", "", "probability that an entry is not recorded (air, sea)", 0, 1},
  {"miss-land-factor", "simulate", EMI_OPT_REAL, "5", "", "missed-record rates are multiplied by this at land points", 0, 1000},
  {"duplicate-rate", "simulate", EMI_OPT_REAL, "0.003", "", "probability that a passage is recorded twice", 0, 1},
  {"date-error-rate", "simulate", EMI_OPT_REAL, "0.001", "", "probability of a wrong date", 0, 1},
  {"date-swap-share", "simulate", EMI_OPT_REAL, "0.3", "", "share of date errors that swap day and month (the rest: +-1 day)", 0, 1},
  {"second-document-rate", "simulate", EMI_OPT_REAL, "0.3", "", "probability that a dual citizen crosses on the second document", 0, 1},
  {"late-rate", "simulate", EMI_OPT_REAL, "0.005", "", "probability that a record arrives late", 0, 1},
  {"late-days", "simulate", EMI_OPT_REAL, "20", "days", "mean delay of a late record", 1, 3650},
};
const int emi_simulate_nspecs = (int)(sizeof emi_simulate_specs / sizeof emi_simulate_specs[0]);

/* ------------------------------------------------------------------ option parsing */
typedef struct {
  int n;
  int month[64];
  double w[64];
} weights_t;

typedef struct {
  emi_sim_params_t p;
  double share[EMI_SIM_NTYPES];
  weights_t wt[EMI_SIM_NTYPES]; /* n = 0: weight 1 */
  int start, months, burn, month0, nmonths, nmonths_period;
  int closure_lo, closure_hi; /* months */
  double population, scale;
  uint64_t seed;
  int ncit; /* citizenship scale of the truth tables: codes[0 .. ncit) */
} config_t;

/* Split LIST option items further at commas (the command line keeps an item whole). */
static emi_err_t list_items(const emi_opts_t *o, const char *name, char items[][64], int max, int *n)
{
  int ni = 0;
  const char *const *it = NULL;
  *n = 0;
  EMI_CALL(emi_opts_get_list(o, name, &ni, &it));
  for (int k = 0; k < ni; k++) {
    const char *p = it[k];
    while (*p) {
      const char *c = strchr(p, ',');
      size_t len = c ? (size_t)(c - p) : strlen(p);
      while (len && (*p == ' ' || *p == '\t')) p++, len--;
      while (len && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
      if (len) {
        if (*n >= max) return EMI_ERROR(EMI_ERR_CONFIG, "--%s: more than %d items", name, max);
        if (len >= 64) return EMI_ERROR(EMI_ERR_CONFIG, "--%s: item '%.*s' is too long", name, (int)len, p);
        memcpy(items[*n], p, len);
        items[*n][len] = '\0';
        (*n)++;
      }
      if (!c) break;
      p = c + 1;
    }
  }
  return EMI_SUCCESS;
}

/* "KEY:VALUE" -> key, value >= 0. */
static emi_err_t split_pair(const char *opt, const char *item, char *key, size_t ksize, double *v)
{
  const char *c = strrchr(item, ':');
  if (!c || c == item || (size_t)(c - item) >= ksize || !emi_parse_real(c + 1, v))
    return EMI_ERROR(EMI_ERR_CONFIG, "--%s: item '%s': expected KEY:VALUE with a number", opt, item);
  memcpy(key, item, (size_t)(c - item));
  key[c - item] = '\0';
  if (!(*v >= 0) || !isfinite(*v))
    return EMI_ERROR(EMI_ERR_CONFIG, "--%s: item '%s': value %g is out of range: expected a finite number >= 0", opt,
                     item, *v);
  return EMI_SUCCESS;
}

static emi_err_t check_sum(const char *opt, double sum)
{
  if (fabs(sum - 1.0) > 1e-6)
    return EMI_ERROR(EMI_ERR_CONFIG, "--%s: shares sum to %.9g: expected shares in [0, 1] that sum to 1", opt, sum);
  return EMI_SUCCESS;
}

static int code_index(config_t *c, const char *code, int add)
{
  for (int k = 0; k < c->p.ncodes; k++)
    if (!strcmp(c->p.codes[k], code)) return k;
  if (!add || c->p.ncodes >= EMI_SIM_MAX_CODES) return -1;
  memcpy(c->p.codes[c->p.ncodes], code, 4);
  return c->p.ncodes++;
}

static emi_err_t parse_code(const char *opt, const char *code)
{
  if (strlen(code) != 3 || code[0] < 'A' || code[0] > 'Z' || code[1] < 'A' || code[1] > 'Z' || code[2] < 'A' ||
      code[2] > 'Z')
    return EMI_ERROR(EMI_ERR_CONFIG, "--%s: '%s' is not an ISO 3166-1 alpha-3 code (three capital letters)", opt, code);
  return EMI_SUCCESS;
}

static emi_err_t parse_code_shares(config_t *c, const emi_opts_t *o, const char *opt, int *n, int *idx, double *cum)
{
  char items[EMI_SIM_MAX_CODES][64], key[16];
  int ni = 0;
  double sum = 0, v;
  EMI_CALL(list_items(o, opt, items, EMI_SIM_MAX_CODES - 1, &ni));
  if (ni == 0) return EMI_ERROR(EMI_ERR_CONFIG, "--%s: expected at least one CODE:SHARE", opt);
  for (int k = 0; k < ni; k++) {
    EMI_CALL(split_pair(opt, items[k], key, sizeof key, &v));
    EMI_CALL(parse_code(opt, key));
    if (!strcmp(key, c->p.codes[0]))
      return EMI_ERROR(EMI_ERR_CONFIG, "--%s: '%s' is the home country (--home)", opt, key);
    int ci = code_index(c, key, 1);
    if (ci < 0) return EMI_ERROR(EMI_ERR_CONFIG, "--%s: too many codes (at most %d)", opt, EMI_SIM_MAX_CODES);
    for (int j = 0; j < k; j++)
      if (idx[j] == ci) return EMI_ERROR(EMI_ERR_CONFIG, "--%s: code %s is given twice", opt, key);
    idx[k] = ci;
    sum += v;
    cum[k] = sum;
  }
  *n = ni;
  return check_sum(opt, sum);
}

static emi_err_t parse_weights(const emi_opts_t *o, const char *opt, weights_t *w)
{
  char items[64][64], key[16];
  int ni = 0;
  EMI_CALL(list_items(o, opt, items, 64, &ni));
  for (int k = 0; k < ni; k++) {
    double v;
    EMI_CALL(split_pair(opt, items[k], key, sizeof key, &v));
    if (!emi_parse_month(key, &w->month[k]))
      return EMI_ERROR(EMI_ERR_CONFIG, "--%s: item '%s': expected YYYY-MM:WEIGHT", opt, items[k]);
    if (k && w->month[k] <= w->month[k - 1])
      return EMI_ERROR(EMI_ERR_CONFIG, "--%s: breakpoints must be in increasing month order ('%s')", opt, items[k]);
    w->w[k] = v;
  }
  w->n = ni;
  return EMI_SUCCESS;
}

static double weight_at(const weights_t *w, int month)
{
  double v = 1.0;
  for (int k = 0; k < w->n && w->month[k] <= month; k++) v = w->w[k];
  return v;
}

static int32_t month_day(int month) { return emi_days_from_civil(month / 12, month % 12 + 1, 1); }

static emi_err_t get_r(const emi_opts_t *o, const char *name, double *v) { return emi_opts_get_real(o, name, v); }

static emi_err_t config_load(const emi_opts_t *o, config_t *c)
{
  emi_sim_params_t *p = &c->p;
  int64_t i64;
  int faults;
  const char *home;
  emi_sim_params_default(p);
  EMI_CALL(emi_opts_get_int(o, "seed", &i64));
  c->seed = (uint64_t)i64;
  EMI_CALL(emi_opts_get_month(o, "start", &c->start));
  EMI_CALL(emi_opts_get_int(o, "months", &i64));
  c->months = (int)i64;
  EMI_CALL(emi_opts_get_int(o, "burn-in-months", &i64));
  c->burn = (int)i64;
  EMI_CALL(get_r(o, "scale", &c->scale));
  EMI_CALL(get_r(o, "population", &c->population));
  c->month0 = c->start - c->burn;
  c->nmonths_period = c->months;
  c->nmonths = c->burn + c->months + TAIL_MONTHS;
  if (c->month0 < 1900 * 12 || c->start + c->months + TAIL_MONTHS > 2200 * 12)
    return EMI_ERROR(EMI_ERR_CONFIG, "--start/--months/--burn-in-months: the simulated history must lie within "
                     "1900-01 .. 2199-12");
  p->hist_lo_day = month_day(c->month0);
  p->hist_hi_day = month_day(c->month0 + c->nmonths);
  p->period_lo_day = month_day(c->start);
  p->period_hi_day = month_day(c->start + c->months);
  EMI_CALL(emi_opts_get_month(o, "closure-start", &c->closure_lo));
  EMI_CALL(emi_opts_get_month(o, "closure-end", &c->closure_hi));
  if (c->closure_hi < c->closure_lo)
    return EMI_ERROR(EMI_ERR_CONFIG, "--closure-end is before --closure-start: expected closure-start <= closure-end");
  p->closure_lo_day = month_day(c->closure_lo);
  p->closure_hi_day = month_day(c->closure_hi + 1);
  EMI_CALL(get_r(o, "closure-factor", &p->closure_factor));

  /* type shares */
  char items[64][64], key[32];
  int ni = 0;
  double sum = 0, v;
  EMI_CALL(list_items(o, "type-shares", items, 64, &ni));
  for (int k = 0; k < ni; k++) {
    EMI_CALL(split_pair("type-shares", items[k], key, sizeof key, &v));
    int t = -1;
    for (int j = 0; j < EMI_SIM_NTYPES; j++)
      if (!strcmp(key, emi_sim_type_names[j])) t = j;
    if (t < 0)
      return EMI_ERROR(EMI_ERR_CONFIG, "--type-shares: unknown type '%s': expected one of resident, emigrant, "
                       "returner, circular, visitor, frequent, worker, immigrant, overstayer", key);
    if (v > 1) return EMI_ERROR(EMI_ERR_CONFIG, "--type-shares: share of %s is %g: expected a share in [0, 1]", key, v);
    c->share[t] = v;
    sum += v;
  }
  EMI_CALL(check_sum("type-shares", sum));
  EMI_CALL(parse_weights(o, "visitor-weights", &c->wt[EMI_SIM_VISITOR]));
  EMI_CALL(parse_weights(o, "frequent-weights", &c->wt[EMI_SIM_FREQUENT]));
  EMI_CALL(parse_weights(o, "worker-weights", &c->wt[EMI_SIM_WORKER]));

  /* codes: home, foreign citizenships (the truth scale), then destinations not yet listed */
  EMI_CALL(emi_opts_get_str(o, "home", &home));
  EMI_CALL(parse_code("home", home));
  p->ncodes = 0;
  code_index(c, home, 1);
  EMI_CALL(parse_code_shares(c, o, "foreign-citizenships", &p->nforeign, p->foreign_code, p->foreign_cum));
  c->ncit = p->ncodes;
  EMI_CALL(parse_code_shares(c, o, "destinations", &p->ndest, p->dest_code, p->dest_cum));
  EMI_CALL(get_r(o, "dual-share", &p->dual_share));

  EMI_CALL(get_r(o, "resident-trips-per-year", &p->resident_trips_per_year));
  EMI_CALL(get_r(o, "resident-trip-days", &p->resident_trip_days_mean));
  EMI_CALL(get_r(o, "emigrant-return-share", &p->emigrant_return_share));
  EMI_CALL(get_r(o, "emigrant-visits-per-year", &p->emigrant_visits_per_year));
  EMI_CALL(get_r(o, "circular-abroad-min-days", &p->circ_abroad_min));
  EMI_CALL(get_r(o, "circular-abroad-max-days", &p->circ_abroad_max));
  EMI_CALL(get_r(o, "circular-home-min-days", &p->circ_home_min));
  EMI_CALL(get_r(o, "circular-home-max-days", &p->circ_home_max));
  EMI_CALL(get_r(o, "visitor-stay-days", &p->visitor_stay_days_mean));
  EMI_CALL(get_r(o, "visitor-repeat", &p->visitor_repeat));
  EMI_CALL(get_r(o, "visitor-gap-days", &p->visitor_gap_days_mean));
  EMI_CALL(get_r(o, "frequent-stay-days", &p->frequent_stay_days_mean));
  EMI_CALL(get_r(o, "frequent-gap-days", &p->frequent_gap_days_mean));
  EMI_CALL(get_r(o, "frequent-span-days", &p->frequent_span_days_mean));
  EMI_CALL(get_r(o, "worker-stay-min-days", &p->worker_stay_min));
  EMI_CALL(get_r(o, "worker-stay-max-days", &p->worker_stay_max));
  if (p->circ_abroad_max < p->circ_abroad_min)
    return EMI_ERROR(EMI_ERR_CONFIG, "--circular-abroad-max-days (%g) is below --circular-abroad-min-days (%g)",
                     p->circ_abroad_max, p->circ_abroad_min);
  if (p->circ_home_max < p->circ_home_min)
    return EMI_ERROR(EMI_ERR_CONFIG, "--circular-home-max-days (%g) is below --circular-home-min-days (%g)",
                     p->circ_home_max, p->circ_home_min);
  if (p->worker_stay_max < p->worker_stay_min)
    return EMI_ERROR(EMI_ERR_CONFIG, "--worker-stay-max-days (%g) is below --worker-stay-min-days (%g)",
                     p->worker_stay_max, p->worker_stay_min);

  EMI_CALL(get_r(o, "declare-coverage", &p->declare_coverage));
  EMI_CALL(get_r(o, "declare-female-factor", &p->declare_female_factor));
  EMI_CALL(get_r(o, "declare-foreign-factor", &p->declare_foreign_factor));
  EMI_CALL(list_items(o, "declare-age-factors", items, 64, &ni));
  if (ni != EMI_NAGE_GROUPS)
    return EMI_ERROR(EMI_ERR_CONFIG, "--declare-age-factors: %d values: expected %d (one per age group)", ni,
                     EMI_NAGE_GROUPS);
  for (int k = 0; k < ni; k++)
    if (!emi_parse_real(items[k], &p->declare_age_factor[k]) || !(p->declare_age_factor[k] >= 0))
      return EMI_ERROR(EMI_ERR_CONFIG, "--declare-age-factors: '%s': expected a number >= 0", items[k]);

  EMI_CALL(list_items(o, "declare-citizenship-factors", items, 64, &ni));
  for (int k = 0; k < ni; k++) {
    EMI_CALL(split_pair("declare-citizenship-factors", items[k], key, sizeof key, &v));
    int ci = -1;
    for (int j = 0; j < c->ncit; j++)
      if (!strcmp(key, p->codes[j])) ci = j;
    if (ci < 0)
      return EMI_ERROR(EMI_ERR_CONFIG, "--declare-citizenship-factors: '%s' is neither the home country (--home) nor "
                       "one of --foreign-citizenships: expected one of those codes", key);
    if (v > 100)
      return EMI_ERROR(EMI_ERR_CONFIG, "--declare-citizenship-factors: factor of %s is %g: expected a value in [0, 100]",
                       key, v);
    p->declare_cit_factor[ci] = v;
  }

  EMI_CALL(emi_opts_get_flag(o, "faults", &faults));
  EMI_CALL(get_r(o, "miss-exit-rate", &p->miss_exit_rate));
  EMI_CALL(get_r(o, "miss-entry-rate", &p->miss_entry_rate));
  EMI_CALL(get_r(o, "miss-land-factor", &p->miss_land_factor));
  EMI_CALL(get_r(o, "duplicate-rate", &p->dup_rate));
  EMI_CALL(get_r(o, "date-error-rate", &p->date_error_rate));
  EMI_CALL(get_r(o, "date-swap-share", &p->date_swap_share));
  EMI_CALL(get_r(o, "second-document-rate", &p->doc2_rate));
  EMI_CALL(get_r(o, "late-rate", &p->late_rate));
  EMI_CALL(get_r(o, "late-days", &p->late_days_mean));
  if (!faults) {
    p->miss_exit_rate = p->miss_entry_rate = p->dup_rate = p->date_error_rate = p->doc2_rate = p->late_rate = 0;
  }
  EMI_CALL(emi_sim_params_check(p));
  return EMI_SUCCESS;
}

/* ------------------------------------------------------------------ text buffers */
typedef struct {
  char *p;
  size_t n, cap;
} buf_t;

static int buf_reserve(buf_t *b, size_t extra)
{
  if (b->n + extra <= b->cap) return 1;
  size_t cap = b->cap ? b->cap : 65536;
  while (cap < b->n + extra) cap *= 2;
  char *q = realloc(b->p, cap);
  if (!q) return 0;
  b->p = q;
  b->cap = cap;
  return 1;
}

#define BUF_PRINTF(b, ok, ...)                                                                    \
  do {                                                                                            \
    if (!buf_reserve((b), 256)) {                                                                 \
      (ok) = 0;                                                                                   \
      break;                                                                                      \
    }                                                                                             \
    int emi_w_ = snprintf((b)->p + (b)->n, (b)->cap - (b)->n, __VA_ARGS__);                       \
    if (emi_w_ < 0 || (size_t)emi_w_ >= (b)->cap - (b)->n) {                                      \
      (ok) = 0;                                                                                   \
      break;                                                                                      \
    }                                                                                             \
    (b)->n += (size_t)emi_w_;                                                                     \
  } while (0)

/* YYYY-MM-DD into out[11] (years 0..9999; the calendar is checked to lie within 1900..2199). */
static void fmt_date(char *out, int32_t day)
{
  int y, m, d;
  emi_civil_from_days(day, &y, &m, &d);
  unsigned uy = (unsigned)y % 10000u, um = (unsigned)m % 100u, ud = (unsigned)d % 100u;
  out[0] = (char)('0' + uy / 1000), out[1] = (char)('0' + uy / 100 % 10), out[2] = (char)('0' + uy / 10 % 10);
  out[3] = (char)('0' + uy % 10), out[4] = '-', out[5] = (char)('0' + um / 10), out[6] = (char)('0' + um % 10);
  out[7] = '-', out[8] = (char)('0' + ud / 10), out[9] = (char)('0' + ud % 10), out[10] = '\0';
}

/* ------------------------------------------------------------------ tallies */
enum { T_DEP, T_ARR, T_DECL, T_UNDECL, T_NKIND };
enum { S_TRUE_CROSSINGS, S_RECORDS, S_DECLARATIONS, S_PERSONS, S_TRUNCATED, S_NSUMMARY };
static const char *const summary_names[S_NSUMMARY] = {"true_crossings_in_period", "records_written",
                                                      "declarations_written", "persons", "persons_truncated"};

typedef struct {
  size_t ncell;   /* months x ncit x 2 x 7 */
  int64_t *truth; /* T_NKIND x ncell */
  int64_t faults[EMI_NFAULTS];
  int64_t types[EMI_SIM_NTYPES];
  int64_t summary[S_NSUMMARY];
} tally_t;
#define TALLY_LEN(ncell) ((size_t)T_NKIND * (ncell) + EMI_NFAULTS + EMI_SIM_NTYPES + S_NSUMMARY)

/* ------------------------------------------------------------------ one person -> text + tallies */
typedef struct {
  const config_t *c;
  const emi_sim_cells_t *cells;
  int dumps; /* write dump text */
  int links; /* write the link table text */
  int csv;   /* write the crossings CSV text */
  int h5;    /* collect the records in the compound form */
} run_t;

/* Growable array of records in the compound form (emi_crossings.h). */
typedef struct {
  emi_crossing_t *p;
  size_t n, cap;
} recbuf_t;

static int recbuf_reserve(recbuf_t *b, size_t extra)
{
  if (b->n + extra <= b->cap) return 1;
  size_t cap = b->cap ? b->cap : 1024;
  while (cap < b->n + extra) cap *= 2;
  emi_crossing_t *q = realloc(b->p, cap * sizeof *q);
  if (!q) return 0;
  b->p = q;
  b->cap = cap;
  return 1;
}

/* The record of write_record in the compound form: the same fields, parsed as `emflow convert` would. */
static int push_record(recbuf_t *b, const config_t *c, const emi_sim_person_t *ps, const emi_sim_move_t *m, int dup)
{
  if (!recbuf_reserve(b, 1)) return 0;
  int32_t day = m->rec_day, sec = m->sec + (dup ? m->dup_sec : 0);
  if (sec >= 86400) sec -= 86400, day++;
  emi_crossing_t *r = &b->p[b->n++];
  const char *key = ps->key[m->doc], *point = emi_sim_point_codes[m->point];
  emi_crossing_set_str(r->person_id, EMI_CROSSINGS_KEY_LEN, key, strlen(key));
  r->day = day;
  r->second = sec;
  r->direction = m->dir == EMI_DIR_OUT ? EMI_CROSSING_OUT : EMI_CROSSING_IN;
  memcpy(r->citizenship, c->p.codes[m->doc ? ps->cit2 : ps->cit], 3);
  emi_crossing_set_str(r->border_point, EMI_CROSSINGS_CODE_LEN, point, strlen(point));
  emi_crossing_set_str(r->document, EMI_CROSSINGS_CODE_LEN, "PASSPORT", 8);
  r->sex = ps->sex ? EMI_SEX_F : EMI_SEX_M;
  r->birth_year = (int16_t)ps->birth_year;
  return 1;
}

static int write_record(buf_t *b, const config_t *c, const emi_sim_person_t *ps, const emi_sim_move_t *m, int dup)
{
  int ok = 1;
  int32_t day = m->rec_day, sec = m->sec + (dup ? m->dup_sec : 0);
  if (sec >= 86400) sec -= 86400, day++;
  char date[11];
  fmt_date(date, day);
  int cit = m->doc ? ps->cit2 : ps->cit;
  BUF_PRINTF(b, ok, "%s,%sT%02d:%02d:%02d,%s,%s,%s,PASSPORT,%c,%d\n", ps->key[m->doc], date, (int)(sec / 3600),
             (int)(sec / 60 % 60), (int)(sec % 60), m->dir == EMI_DIR_OUT ? "OUT" : "IN", c->p.codes[cit],
             emi_sim_point_codes[m->point], ps->sex ? 'F' : 'M', ps->birth_year);
  return ok;
}

static emi_err_t person_run(const run_t *r, uint64_t i, emi_sim_move_t *mv, emi_sim_work_t *work, buf_t out[NFILES],
                            recbuf_t *recs, tally_t *t)
{
  const config_t *c = r->c;
  const emi_sim_params_t *p = &c->p;
  emi_sim_person_t ps;
  int ok = 1;
  EMI_CALL(emi_sim_person(p, r->cells, c->seed, i, &ps, mv, EMI_SIM_CAP, work));
  t->types[ps.type]++;
  t->summary[S_PERSONS]++;
  t->summary[S_TRUNCATED] += ps.truncated;
  /* records: in time order, late ones after */
  for (int pass = 0; pass < 2; pass++)
    for (int k = 0; k < ps.nmoves; k++) {
      const emi_sim_move_t *m = &mv[k];
      if (m->day < p->period_lo_day || m->day >= p->period_hi_day) continue;
      unsigned f = m->faults;
      if (f & ((1u << EMI_FAULT_MISSED_EXIT) | (1u << EMI_FAULT_MISSED_ENTRY) | (1u << EMI_FAULT_LATE_MISSING))) continue;
      if (!!(f & (1u << EMI_FAULT_LATE_REORDERED)) != pass) continue;
      for (int dup = 0; dup <= !!(f & (1u << EMI_FAULT_DUPLICATE)); dup++) {
        if (r->csv) ok &= write_record(&out[0], c, &ps, m, dup);
        if (r->h5) ok &= push_record(recs, c, &ps, m, dup);
        t->summary[S_RECORDS]++;
      }
    }
  /* truth, faults, declarations */
  for (int k = 0; k < ps.nmoves; k++) {
    const emi_sim_move_t *m = &mv[k];
    if (m->declared && m->decl_day >= p->period_lo_day && m->decl_day < p->period_hi_day) {
      char date[11];
      fmt_date(date, m->decl_day);
      int dest = emi_sim_type_is_citizen(ps.type) ? ps.dest : ps.cit;
      BUF_PRINTF(&out[1], ok, "%s,%s,%s\n", ps.key[0], date, p->codes[dest]);
      t->summary[S_DECLARATIONS]++;
    }
    if (m->day < p->period_lo_day || m->day >= p->period_hi_day) continue;
    t->summary[S_TRUE_CROSSINGS]++;
    for (int f = 0; f < EMI_NFAULTS; f++) t->faults[f] += (m->faults >> f) & 1u;
    if (m->cls == EMI_CLASS_SHORT) continue;
    int y, mo, d;
    emi_civil_from_days(m->day, &y, &mo, &d);
    size_t month = (size_t)(y * 12 + mo - 1 - c->start);
    size_t cell = ((month * (size_t)c->ncit + (size_t)ps.cit) * 2 + (size_t)ps.sex) * EMI_NAGE_GROUPS +
                  (size_t)emi_age_group(y - ps.birth_year);
    if (m->cls == EMI_CLASS_ARRIVAL) {
      t->truth[T_ARR * t->ncell + cell]++;
    } else {
      t->truth[T_DEP * t->ncell + cell]++;
      t->truth[(m->declared ? T_DECL : T_UNDECL) * t->ncell + cell]++;
    }
  }
  if (r->links && ps.cit2 >= 0) BUF_PRINTF(&out[4], ok, "%s,%s\n", ps.key[0], ps.key[1]);
  if (r->dumps) {
    BUF_PRINTF(&out[2], ok, "%llu,%s,%s,%s,%s,%s,%c,%d,%d,%s,%d\n", (unsigned long long)i, ps.key[0], ps.key[1],
               emi_sim_type_names[ps.type], p->codes[ps.cit], ps.cit2 >= 0 ? p->codes[ps.cit2] : "", ps.sex ? 'F' : 'M',
               ps.birth_year, (int)ps.anchor_day, p->codes[ps.dest], ps.truncated);
    for (int k = 0; k < ps.nmoves; k++) {
      const emi_sim_move_t *m = &mv[k];
      BUF_PRINTF(&out[3], ok, "%llu,%d,%d,%s,%s,%d,%d,%d,%d,%u,%d,%d\n", (unsigned long long)i, (int)m->day,
                 (int)m->sec, m->dir == EMI_DIR_OUT ? "OUT" : "IN", emi_sim_point_codes[m->point], m->cls, m->declared,
                 (int)m->decl_day, (int)m->rec_day, (unsigned)m->faults, m->doc, (int)m->dup_sec);
    }
  }
  if (!ok) return EMI_ERROR(EMI_ERR_NOMEM, "cannot grow the text buffer of person %llu", (unsigned long long)i);
  return EMI_SUCCESS;
}

/* ------------------------------------------------------------------ parallel CSV files */
typedef struct {
  const char *path;
  char *part;
  MPI_File fh;
  int open;
  uint64_t offset; /* bytes written so far (all ranks) */
} pfile_t;

/* Why an MPI-IO call on a CSV file failed, in the operating system's words: errno right after the call
 * (e) when it is an I/O error, else what the MPI error class says (MPI-IO keeps errno only sometimes). */
static const char *mpio_reason(int rc, int e, char *buf, size_t len)
{
  int cls = MPI_ERR_OTHER, n = 0;
  if (e == ENOSPC || e == EDQUOT || e == EIO || e == EFBIG || e == EROFS || e == EACCES || e == ENOENT ||
      e == ENOTDIR)
    return strerror(e);
  if (rc != MPI_SUCCESS && MPI_Error_class(rc, &cls) == MPI_SUCCESS) {
    if (cls == MPI_ERR_NO_SUCH_FILE) return strerror(ENOENT);
    if (cls == MPI_ERR_ACCESS) return strerror(EACCES);
    if (cls == MPI_ERR_NO_SPACE) return strerror(ENOSPC);
    if (cls == MPI_ERR_QUOTA) return strerror(EDQUOT);
    if (cls == MPI_ERR_READ_ONLY) return strerror(EROFS);
  }
  char text[MPI_MAX_ERROR_STRING] = "";
  if (rc == MPI_SUCCESS || MPI_Error_string(rc, text, &n) != MPI_SUCCESS) snprintf(text, sizeof text, "a short write");
  snprintf(buf, len, "%s", text);
  return buf;
}

static emi_err_t pfile_open(MPI_Comm comm, pfile_t *f, const char *path, const char *header)
{
  char why[MPI_MAX_ERROR_STRING];
  size_t len = strlen(path) + 6;
  f->path = path;
  f->part = malloc(len);
  if (!f->part) return EMI_ERROR(EMI_ERR_NOMEM, "cannot allocate a file name");
  snprintf(f->part, len, "%s.part", path);
  int rank;
  MPI_Comm_rank(comm, &rank);
  if (rank == 0) emi_part_register(f->part); /* before it exists: a signal never leaves it behind */
  errno = 0;
  int rc = MPI_File_open(comm, f->part, MPI_MODE_WRONLY | MPI_MODE_CREATE, MPI_INFO_NULL, &f->fh);
  if (rc != MPI_SUCCESS)
    return EMI_ERROR(EMI_ERR_IO, "cannot create %s: %s", f->part, mpio_reason(rc, errno, why, sizeof why));
  f->open = 1;
  errno = 0;
  if ((rc = MPI_File_set_size(f->fh, 0)) != MPI_SUCCESS)
    return EMI_ERROR(EMI_ERR_IO, "cannot truncate %s: %s", f->part, mpio_reason(rc, errno, why, sizeof why));
  size_t hl = strlen(header);
  if (rank == 0 && hl) {
    MPI_Status st;
    errno = 0;
    if ((rc = MPI_File_write_at(f->fh, 0, header, (int)hl, MPI_CHAR, &st)) != MPI_SUCCESS)
      return EMI_ERROR(EMI_ERR_IO, "cannot write %s: %s", f->part, mpio_reason(rc, errno, why, sizeof why));
  }
  f->offset = hl;
  return EMI_SUCCESS;
}

/* Collective: close; rank 0 renames FILE.part to FILE when ok, else removes FILE.part. */
static emi_err_t pfile_close(MPI_Comm comm, pfile_t *f, int ok)
{
  emi_err_t err = EMI_SUCCESS;
  int rank;
  MPI_Comm_rank(comm, &rank);
  if (f->open) {
    char why[MPI_MAX_ERROR_STRING];
    errno = 0;
    int rc = MPI_File_close(&f->fh);
    if (rc != MPI_SUCCESS && ok)
      err = EMI_ERROR(EMI_ERR_IO, "cannot close %s: %s", f->part, mpio_reason(rc, errno, why, sizeof why));
    f->open = 0;
    MPI_Barrier(comm);
    if (rank == 0) {
      if (ok && !err) {
        if (rename(f->part, f->path) != 0)
          err = EMI_ERROR(EMI_ERR_IO, "cannot rename %s to %s: %s", f->part, f->path, strerror(errno));
      } else {
        remove(f->part);
      }
    }
  }
  if (rank == 0) emi_part_unregister(f->part);
  free(f->part);
  f->part = NULL;
  return err;
}

static int is_regular(const char *path)
{
  struct stat st;
  return lstat(path, &st) == 0 && (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode));
}

/* ------------------------------------------------------------------ the command */
static emi_err_t derived_path(const char *out, const char *suffix, char **path)
{
  size_t n = strlen(out);
  if (n > 3 && !strcmp(out + n - 3, ".h5")) n -= 3;
  *path = malloc(n + strlen(suffix) + 1);
  if (!*path) return EMI_ERROR(EMI_ERR_NOMEM, "cannot allocate a file name");
  memcpy(*path, out, n);
  strcpy(*path + n, suffix);
  return EMI_SUCCESS;
}

static emi_err_t write_truth(emi_ctx_t *ctx, const config_t *c, const char *out_path, const int64_t *all, size_t ncell)
{
  emi_err_t err = EMI_SUCCESS;
  emi_h5_file_t *f = NULL;
  emi_provenance_t *prov = NULL;
  char **months = NULL;
  const char *cits[EMI_SIM_MAX_CODES];
  static const char *const sexes[2] = {"M", "F"};
  const char *G = "/truth";
  EMI_TRY(emi_output_begin(ctx, out_path, &f, &prov));
  EMI_TRY(emi_provenance_set_rng(prov, "Philox4x32-10", c->seed));
  EMI_TRY(emi_h5_group_ensure(f, G));
  EMI_CALLOC(months, (size_t)c->months, "month labels");
  for (int m = 0; m < c->months; m++) {
    int mm = c->start + m;
    if (!(months[m] = malloc(32))) EMI_FAIL(EMI_ERR_NOMEM, "cannot allocate a month label");
    snprintf(months[m], 32, "%04d-%02d", mm / 12, mm % 12 + 1);
  }
  for (int k = 0; k < c->ncit; k++) cits[k] = c->p.codes[k];
  EMI_TRY(emi_h5_write_scale_str(f, G, "month", (uint64_t)c->months, (const char *const *)months, "",
                                 "calendar month of the true crossing (YYYY-MM)"));
  EMI_TRY(emi_h5_write_scale_str(f, G, "citizenship", (uint64_t)c->ncit, cits, "",
                                 "citizenship (ISO 3166-1 alpha-3; a dual citizen's first citizenship)"));
  EMI_TRY(emi_h5_write_scale_str(f, G, "sex", 2, sexes, "", "sex"));
  EMI_TRY(emi_h5_write_scale_str(f, G, "age_group", EMI_NAGE_GROUPS, emi_age_group_labels, "",
                                 "age group: year of the crossing minus birth year"));
  EMI_TRY(emi_h5_write_scale_str(f, G, "fault_kind", EMI_NFAULTS, emi_fault_names, "", "kind of recording fault"));
  EMI_TRY(emi_h5_write_scale_str(f, G, "type", EMI_SIM_NTYPES, emi_sim_type_names, "", "behaviour type"));
  EMI_TRY(emi_h5_write_scale_str(f, G, "item", S_NSUMMARY, summary_names, "", "summary count"));
  {
    static const char *const names[T_NKIND] = {"migrant_departures", "migrant_arrivals", "declared_departures",
                                               "undeclared_departures"};
    static const char *const longs[T_NKIND] = {
      "true migrant departures (12/16 rule on the true movements) by month of the exit",
      "true migrant arrivals (12/16 rule on the true movements) by month of the entry",
      "true migrant departures that have a declaration (deregistration)",
      "true migrant departures without a declaration (undeclared emigration)"};
    const char *sc[4] = {"/truth/month", "/truth/citizenship", "/truth/sex", "/truth/age_group"};
    uint64_t dims[4] = {(uint64_t)c->months, (uint64_t)c->ncit, 2, EMI_NAGE_GROUPS}, chunk, row0, nrows;
    size_t row = (size_t)c->ncit * 2 * EMI_NAGE_GROUPS;
    EMI_TRY(emi_h5_chunk_rows(EMI_H5_INT64, 4, dims, &chunk));
    EMI_TRY(emi_h5_partition(dims[0], chunk, ctx->comm, &row0, &nrows));
    for (int k = 0; k < T_NKIND; k++) {
      char path[64];
      snprintf(path, sizeof path, "/truth/%s", names[k]);
      EMI_TRY(emi_h5_write_array(f, path, EMI_H5_INT64, 4, dims, sc, row0, nrows, all + (size_t)k * ncell + row0 * row,
                                 "persons", longs[k]));
    }
  }
  {
    const int64_t *rest = all + (size_t)T_NKIND * ncell;
    struct { const char *path, *scale, *units, *long_name; uint64_t n; const int64_t *v; } one[3] = {
      {"/truth/faults", "/truth/fault_kind", "records", "recording faults injected, by kind (true day in the period)",
       EMI_NFAULTS, rest},
      {"/truth/persons_by_type", "/truth/type", "persons", "simulated persons by behaviour type", EMI_SIM_NTYPES,
       rest + EMI_NFAULTS},
      {"/truth/summary", "/truth/item", "1", "true crossings in the period, records and declarations written, persons",
       S_NSUMMARY, rest + EMI_NFAULTS + EMI_SIM_NTYPES}};
    for (int k = 0; k < 3; k++) {
      uint64_t dims[1] = {one[k].n}, chunk, row0, nrows;
      const char *sc[1] = {one[k].scale};
      EMI_TRY(emi_h5_chunk_rows(EMI_H5_INT64, 1, dims, &chunk));
      EMI_TRY(emi_h5_partition(dims[0], chunk, ctx->comm, &row0, &nrows));
      EMI_TRY(emi_h5_write_array(f, one[k].path, EMI_H5_INT64, 1, dims, sc, row0, nrows, one[k].v + row0,
                                 one[k].units, one[k].long_name));
    }
  }
  EMI_TRY(emi_h5_attr_int(f, G, "window_days", EMI_RULE_WINDOW_DAYS));
  EMI_TRY(emi_h5_attr_int(f, G, "threshold_days", EMI_RULE_THRESHOLD_DAYS));
  EMI_TRY(emi_h5_attr_str(f, G, "rule",
                          "12/16: a resident's exit is a migrant departure when >= threshold_days of the window_days "
                          "from its day are spent abroad (cumulative), a non-resident's entry is a migrant arrival "
                          "when >= threshold_days are spent in the country; status before the first crossing from "
                          "its direction; applied to the true movements of the whole simulated history"));
  EMI_TRY(emi_h5_attr_double(f, G, "scale", c->scale));
  EMI_TRY(emi_output_finish(ctx, &f, prov));
cleanup:
  emi_h5_file_abort(&f);
  emi_provenance_destroy(&prov);
  if (months)
    for (int m = 0; m < c->months; m++) free(months[m]);
  free(months);
  return err;
}

emi_err_t emi_cmd_simulate(emi_ctx_t *ctx)
{
  emi_err_t err = EMI_SUCCESS;
  config_t *c = NULL;
  double *cum = NULL;
  char *cross_path = NULL, *decl_path = NULL;
  const char *out_path = NULL, *pdump = NULL, *mdump = NULL, *h5_path = NULL, *link_path = NULL;
  int want_csv = 1;
  emi_h5_file_t *cf = NULL;
  emi_provenance_t *cprov = NULL;
  emi_crossings_writer_t *cw = NULL;
  recbuf_t *subrec = NULL, blockrec = {0};
  pfile_t files[NFILES];
  int nfiles = NFILES, nthreads = omp_get_max_threads();
  int64_t *tallies = NULL, *all = NULL;
  buf_t *subbuf = NULL, blockbuf[NFILES];
  emi_sim_move_t *mv = NULL;
  int32_t *wday = NULL;
  uint8_t *wdir = NULL, *wcls = NULL;
  memset(files, 0, sizeof files);
  memset(blockbuf, 0, sizeof blockbuf);

  EMI_CALLOC(c, 1, "configuration");
  EMI_TRY(config_load(ctx->opts, c));
  EMI_TRY(emi_opts_get_str(ctx->opts, "output", &out_path));
  if (!out_path) EMI_FAIL(EMI_ERR_USAGE, "simulate: --output (-o) TRUTH.h5 is required");
  if (emi_opts_is_set(ctx->opts, "crossings")) {
    const char *s;
    EMI_TRY(emi_opts_get_str(ctx->opts, "crossings", &s));
    if (!(cross_path = strdup(s))) EMI_FAIL(EMI_ERR_NOMEM, "cannot copy a path");
  } else EMI_TRY(derived_path(out_path, "_crossings.csv", &cross_path));
  if (emi_opts_is_set(ctx->opts, "declarations")) {
    const char *s;
    EMI_TRY(emi_opts_get_str(ctx->opts, "declarations", &s));
    if (!(decl_path = strdup(s))) EMI_FAIL(EMI_ERR_NOMEM, "cannot copy a path");
  } else EMI_TRY(derived_path(out_path, "_declarations.csv", &decl_path));
  if (emi_opts_is_set(ctx->opts, "persons-dump")) EMI_TRY(emi_opts_get_str(ctx->opts, "persons-dump", &pdump));
  if (emi_opts_is_set(ctx->opts, "movements-dump")) EMI_TRY(emi_opts_get_str(ctx->opts, "movements-dump", &mdump));
  if (!pdump != !mdump) EMI_FAIL(EMI_ERR_CONFIG, "simulate: --persons-dump and --movements-dump go together");
  if (emi_opts_is_set(ctx->opts, "crossings-h5")) EMI_TRY(emi_opts_get_str(ctx->opts, "crossings-h5", &h5_path));
  EMI_TRY(emi_opts_get_flag(ctx->opts, "crossings-csv", &want_csv));
  if (!want_csv && !h5_path)
    EMI_FAIL(EMI_ERR_CONFIG, "simulate: --no-crossings-csv needs --crossings-h5 FILE (the crossings must go somewhere)");
  if (emi_opts_is_set(ctx->opts, "link-table-out")) EMI_TRY(emi_opts_get_str(ctx->opts, "link-table-out", &link_path));
  /* files that are not open (dumps, link table, crossings CSV) are skipped by the write loop */
  {
    const char *outs[7] = {out_path, want_csv ? cross_path : NULL, decl_path, h5_path, pdump, mdump, link_path};
    EMI_TRY(emi_output_check_paths(ctx, outs, 7, NULL, 0));
  }

  /* anchor table: (type, month) cumulative weights */
  size_t ncum = (size_t)EMI_SIM_NTYPES * (size_t)c->nmonths;
  EMI_MALLOC(cum, ncum, "anchor table");
  double total = 0;
  for (int k = 0; k < EMI_SIM_NTYPES; k++)
    for (int m = 0; m < c->nmonths; m++) {
      int mon = c->month0 + m;
      double w = c->share[k] * weight_at(&c->wt[k], mon) *
                 (k != EMI_SIM_FREQUENT && mon >= c->closure_lo && mon <= c->closure_hi ? c->p.closure_factor : 1.0);
      total += w;
      cum[(size_t)k * (size_t)c->nmonths + (size_t)m] = total;
    }
  double expected = c->population * c->scale / 12.0 * total;
  if (!(total > 0) || expected < 1)
    EMI_FAIL(EMI_ERR_CONFIG, "simulate: the population (%g persons/year x scale %g) gives %g persons: expected >= 1",
             c->population, c->scale, expected);
  if (expected > 2e14) EMI_FAIL(EMI_ERR_CONFIG, "simulate: %g persons is too many (at most 2e14)", expected);
  uint64_t npersons = (uint64_t)llround(expected);
  emi_sim_cells_t cells = {.nmonths = c->nmonths, .month0 = c->month0, .cum = cum};
  run_t run = {.c = c, .cells = &cells, .dumps = pdump != NULL, .links = link_path != NULL, .csv = want_csv, .h5 = h5_path != NULL};
  emi_log_info("simulate: %llu persons (scale %g), history %04d-%02d .. +%d months, period %04d-%02d + %d months, "
               "%d rank(s) x %d thread(s)", (unsigned long long)npersons, c->scale, c->month0 / 12, c->month0 % 12 + 1,
               c->nmonths, c->start / 12, c->start % 12 + 1, c->months, ctx->size, nthreads);

  /* output files.  A rerun into the same names first removes the previous run's files (rank 0, after
   * every check has passed): each file is renamed into place when complete, one after the other, so a
   * run stopped or failed after some of them would otherwise leave files of two runs side by side. */
  if (ctx->rank == 0) {
    const char *const mine[] = {want_csv ? cross_path : NULL, decl_path, pdump, mdump, link_path, h5_path, out_path};
    for (size_t i = 0; i < sizeof mine / sizeof mine[0]; i++)
      if (mine[i] && is_regular(mine[i]) && remove(mine[i]) == 0)
        emi_log_info("simulate: removed the previous %s", mine[i]);
  }
  MPI_Barrier(ctx->comm);
  if (want_csv)
    EMI_TRY(pfile_open(ctx->comm, &files[0], cross_path,
                       "person_id,crossed_at,direction,citizenship,border_point,document,sex,birth_year\n"));
  if (h5_path) {
    EMI_TRY(emi_output_begin(ctx, h5_path, &cf, &cprov));
    EMI_TRY(emi_provenance_set_rng(cprov, "Philox4x32-10", c->seed));
    EMI_TRY(emi_crossings_writer_create(cf, "/crossings", &cw));
  }
  EMI_TRY(pfile_open(ctx->comm, &files[1], decl_path, "person_id,declared_on,destination\n"));
  if (pdump) {
    EMI_TRY(pfile_open(ctx->comm, &files[2], pdump,
                       "index,person_id,person_id2,type,citizenship,citizenship2,sex,birth_year,anchor_day,destination,"
                       "truncated\n"));
    EMI_TRY(pfile_open(ctx->comm, &files[3], mdump,
                       "index,day,sec,direction,border_point,class,declared,decl_day,rec_day,faults,doc,dup_sec\n"));
  }
  if (link_path) EMI_TRY(pfile_open(ctx->comm, &files[4], link_path, "person_id_a,person_id_b\n"));

  /* per-thread workspaces and tallies */
  size_t ncell = (size_t)c->months * (size_t)c->ncit * 2 * EMI_NAGE_GROUPS, tlen = TALLY_LEN(ncell);
  int nsub = (EMI_SIM_BLOCK + EMI_SIM_SUB - 1) / EMI_SIM_SUB;
  EMI_CALLOC(tallies, tlen * (size_t)nthreads, "truth tallies");
  EMI_CALLOC(all, tlen, "truth tables");
  EMI_CALLOC(subbuf, (size_t)nsub * NFILES, "text buffers");
  EMI_CALLOC(subrec, (size_t)nsub, "record buffers");
  EMI_MALLOC(mv, (size_t)nthreads * EMI_SIM_CAP, "movements");
  EMI_MALLOC(wday, (size_t)nthreads * EMI_SIM_CAP, "scratch");
  EMI_MALLOC(wdir, (size_t)nthreads * EMI_SIM_CAP, "scratch");
  EMI_MALLOC(wcls, (size_t)nthreads * EMI_SIM_CAP, "scratch");

  uint64_t nblocks = (npersons + EMI_SIM_BLOCK - 1) / EMI_SIM_BLOCK;
  uint64_t nrounds = (nblocks + (uint64_t)ctx->size - 1) / (uint64_t)ctx->size;
  emi_progress_t prog;
  emi_progress_begin(&prog, "simulate", (double)npersons, "persons");
  double t0 = emi_clock_monotonic();
  for (uint64_t round = 0; round < nrounds; round++) {
    uint64_t b = round * (uint64_t)ctx->size + (uint64_t)ctx->rank;
    uint64_t lo = b * EMI_SIM_BLOCK, hi = lo + EMI_SIM_BLOCK;
    if (lo > npersons) lo = npersons;
    if (hi > npersons) hi = npersons;
    emi_err_t local = EMI_SUCCESS;
    char errmsg[1024] = "";
    for (int fi = 0; fi < NFILES; fi++) blockbuf[fi].n = 0;
    for (int s = 0; s < nsub * NFILES; s++) subbuf[s].n = 0;
    for (int s = 0; s < nsub; s++) subrec[s].n = 0;
    blockrec.n = 0;
    int nsb = (int)((hi - lo + EMI_SIM_SUB - 1) / EMI_SIM_SUB);
#pragma omp parallel
    {
      int th = omp_get_thread_num();
      tally_t t = {.ncell = ncell};
      int64_t *base = tallies + (size_t)th * tlen;
      t.truth = base;
      emi_sim_work_t work = {wday + (size_t)th * EMI_SIM_CAP, wdir + (size_t)th * EMI_SIM_CAP,
                             wcls + (size_t)th * EMI_SIM_CAP};
      int64_t *rest = base + (size_t)T_NKIND * ncell;
      memcpy(t.faults, rest, sizeof t.faults);
      memcpy(t.types, rest + EMI_NFAULTS, sizeof t.types);
      memcpy(t.summary, rest + EMI_NFAULTS + EMI_SIM_NTYPES, sizeof t.summary);
      emi_err_t mine = EMI_SUCCESS;
#pragma omp for schedule(dynamic, 1)
      for (int sb = 0; sb < nsb; sb++) {
        uint64_t a = lo + (uint64_t)sb * EMI_SIM_SUB, e = a + EMI_SIM_SUB;
        if (e > hi) e = hi;
        for (uint64_t i = a; i < e && !mine; i++)
          mine = person_run(&run, i, mv + (size_t)th * EMI_SIM_CAP, &work, &subbuf[(size_t)sb * NFILES], &subrec[sb],
                            &t);
      }
      memcpy(rest, t.faults, sizeof t.faults);
      memcpy(rest + EMI_NFAULTS, t.types, sizeof t.types);
      memcpy(rest + EMI_NFAULTS + EMI_SIM_NTYPES, t.summary, sizeof t.summary);
#pragma omp critical(emi_simulate_err)
      if (mine && !local) {
        local = mine;
        snprintf(errmsg, sizeof errmsg, "%s", emi_err_message()); /* the worker's message, for the master */
      }
    }
    if (local) local = EMI_ERROR(local, "%s", errmsg);
    /* concatenate the sub-blocks in order */
    for (int fi = 0; fi < nfiles && !local; fi++)
      for (int sb = 0; sb < nsb && !local; sb++) {
        buf_t *s = &subbuf[(size_t)sb * NFILES + (size_t)fi];
        if (!buf_reserve(&blockbuf[fi], s->n + 1)) local = EMI_ERROR(EMI_ERR_NOMEM, "cannot grow a block buffer");
        else memcpy(blockbuf[fi].p + blockbuf[fi].n, s->p ? s->p : "", s->n), blockbuf[fi].n += s->n;
      }
    for (int sb = 0; sb < nsb && !local && cw; sb++) {
      if (!recbuf_reserve(&blockrec, subrec[sb].n + 1)) local = EMI_ERROR(EMI_ERR_NOMEM, "cannot grow a record buffer");
      else if (subrec[sb].n)
        memcpy(blockrec.p + blockrec.n, subrec[sb].p, subrec[sb].n * sizeof *blockrec.p), blockrec.n += subrec[sb].n;
    }
    EMI_TRY(emi_mpi_agree(ctx->comm, local, NULL));
    if (cw) EMI_TRY(emi_crossings_writer_append(cw, blockrec.n, blockrec.p)); /* block order = CSV order */
    /* offsets: exclusive prefix sums over ranks of this round's byte counts */
    uint64_t mine[NFILES] = {0}, before[NFILES] = {0}, sum[NFILES] = {0};
    for (int fi = 0; fi < nfiles; fi++) mine[fi] = blockbuf[fi].n;
    MPI_Exscan(mine, before, NFILES, MPI_UINT64_T, MPI_SUM, ctx->comm);
    if (ctx->rank == 0) memset(before, 0, sizeof before);
    MPI_Allreduce(mine, sum, NFILES, MPI_UINT64_T, MPI_SUM, ctx->comm);
    local = EMI_SUCCESS;
    for (int fi = 0; fi < nfiles; fi++) {
      if (!files[fi].open) continue; /* the crossings CSV with --no-crossings-csv */
      if (mine[fi] > (uint64_t)INT32_MAX) EMI_FAIL(EMI_ERR_INTERNAL, "a block's text exceeds 2 GiB");
      MPI_Status st;
      int count = -1;
      errno = 0;
      int rc = MPI_File_write_at_all(files[fi].fh, (MPI_Offset)(files[fi].offset + before[fi]),
                                     blockbuf[fi].p ? blockbuf[fi].p : "", (int)mine[fi], MPI_CHAR, &st), e = errno;
      if (rc == MPI_SUCCESS && MPI_Get_count(&st, MPI_CHAR, &count) == MPI_SUCCESS && count != MPI_UNDEFINED &&
          count < (int)mine[fi] && e == 0)
        e = ENOSPC; /* a short write: ompio's report of a full disk */
      if ((rc != MPI_SUCCESS || (count >= 0 && count < (int)mine[fi])) && local == EMI_SUCCESS) {
        char why[MPI_MAX_ERROR_STRING];
        local = EMI_ERROR(EMI_ERR_IO, "cannot write %s: %s", files[fi].part, mpio_reason(rc, e, why, sizeof why));
      }
      files[fi].offset += sum[fi];
    }
    EMI_TRY(emi_mpi_agree(ctx->comm, local, NULL));
    emi_progress_update(&prog, (double)((round + 1) * (uint64_t)ctx->size * EMI_SIM_BLOCK));
  }
  emi_progress_end(&prog, (double)npersons);
  for (int th = 0; th < nthreads; th++)
    for (size_t k = 0; k < tlen; k++) all[k] += tallies[(size_t)th * tlen + k];
  MPI_Allreduce(MPI_IN_PLACE, all, (int)tlen, MPI_INT64_T, MPI_SUM, ctx->comm);
  for (int fi = 0; fi < nfiles; fi++) EMI_TRY(pfile_close(ctx->comm, &files[fi], 1));
  EMI_TRY(emi_mpi_agree(ctx->comm, EMI_SUCCESS, NULL));
  {
    const int64_t *sm = all + (size_t)T_NKIND * ncell + EMI_NFAULTS + EMI_SIM_NTYPES;
    emi_log_info("simulate: %lld persons, %lld true crossings in the period, %lld records, %lld declarations in %.2f s",
                 (long long)sm[S_PERSONS], (long long)sm[S_TRUE_CROSSINGS], (long long)sm[S_RECORDS],
                 (long long)sm[S_DECLARATIONS], emi_clock_monotonic() - t0);
    if (sm[S_TRUNCATED])
      emi_log_warn("simulate: %lld person(s) reached %d movements and were cut short", (long long)sm[S_TRUNCATED],
                   EMI_SIM_CAP);
  }
  if (cw) {
    uint64_t nrec = 0;
    EMI_TRY(emi_crossings_writer_finish(cw, &nrec));
    emi_crossings_writer_destroy(&cw);
    EMI_TRY(emi_h5_attr_str(cf, "/crossings", "source", "emflow simulate (synthetic records; person keys are random tokens)"));
    EMI_TRY(emi_h5_attr_int(cf, "/crossings", "records_in", (int64_t)nrec));
    EMI_TRY(emi_h5_attr_int(cf, "/crossings", "records_accepted", (int64_t)nrec));
    EMI_TRY(emi_h5_attr_int(cf, "/crossings", "records_rejected", 0));
    EMI_TRY(emi_output_finish(ctx, &cf, cprov));
    emi_log_info("simulate: wrote %llu records to %s", (unsigned long long)nrec, h5_path);
  }
  EMI_TRY(write_truth(ctx, c, out_path, all, ncell));
  emi_log_info("simulate: wrote %s, %s, %s", out_path, want_csv ? cross_path : "(no crossings CSV)", decl_path);
cleanup:
  emi_crossings_writer_destroy(&cw);
  emi_h5_file_abort(&cf);
  emi_provenance_destroy(&cprov);
  if (subrec) {
    for (int s = 0; s < (EMI_SIM_BLOCK + EMI_SIM_SUB - 1) / EMI_SIM_SUB; s++) free(subrec[s].p);
    free(subrec);
  }
  free(blockrec.p);
  for (int fi = 0; fi < NFILES; fi++)
    if (files[fi].part) pfile_close(ctx->comm, &files[fi], 0);
  free(c);
  free(cum);
  free(cross_path);
  free(decl_path);
  free(tallies);
  free(all);
  free(mv);
  free(wday);
  free(wdir);
  free(wcls);
  for (int fi = 0; fi < NFILES; fi++) free(blockbuf[fi].p);
  if (subbuf) {
    for (int s = 0; s < ((EMI_SIM_BLOCK + EMI_SIM_SUB - 1) / EMI_SIM_SUB) * NFILES; s++) free(subbuf[s].p);
    free(subbuf);
  }
  return err;
}
