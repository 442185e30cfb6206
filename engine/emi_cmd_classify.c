/* emi_cmd_classify.c: `emflow classify`, record linkage and the 12/16 rule (issue 4).
 *
 *   mpiexec -n N emflow classify IN.csv|IN.h5 -o OUT.h5 [--declarations D.csv] [--key-file KEY] [...]
 *
 * Stages (each rank; OMP_NUM_THREADS threads inside):
 *   1. ingest      IN is the crossings CSV (byte ranges per rank, each mapped window by window and cut
 *                  at line ends into chunks for the threads; every field validated by emi_crossing_parse)
 *                  or the HDF5 compound form /crossings/records (rank r reads its contiguous slab, threads
 *                  validate each batch), detected from the file's signature; bad records are counted
 *                  rejects by reason (records in = accepted + rejected); person keys are hashed at once
 *                  (emi_linkage.h: HMAC-SHA-256 with --key-file, else SHA-256), the text is dropped.
 *                  With --link-table, the records of a key b of the table are moved to its key a at
 *                  ingest (declarations: emi_link_apply), before the distribution.  The provenance's
 *                  SHA-256 of the inputs runs meanwhile on rank 0 in a background thread
 *                  (emi_file_hash_start), joined when the output is written.
 *                  The data start and end (--data-start/--data-end, else detected from the records per
 *                  day so that stray mis-dated records cannot move them: data_span) bound the records
 *                  used; those outside are rejects before_data_start / after_data_end.  --period-start /
 *                  --period-end only choose the months tabulated: records outside them are accepted
 *                  (prior status; windows of the period's crossings) and counted as such.
 *   2. link        records go to rank hash mod N and are sorted by (person, day, second, direction) in
 *                  rounds of key buckets (emi_link_store_sort: MPI_Alltoallv per round, the rounds
 *                  sorted by the threads with the radix sort of kernels/emi_sort.h), so the memory held
 *                  is one copy of the records plus two rounds.
 *   3. repair      per person (kernels/emi_repair.h): duplicates merged, missed crossings imputed,
 *                  counted by kind.
 *   4. classify    per person (kernels/emi_rule.h): 12/16 rule (or continuous), status before the first
 *                  crossing from its direction (or citizens resident), censored at the data end.
 *   5. tabulate    month x citizenship x sex x age group, int64, summed exactly over threads and ranks;
 *                  months of the warm-up (one window from the data start) are not tabulated; months
 *                  with a window still open at the data end are flagged provisional.
 *   6. undeclared  with --declarations: a migrant departure on day t is declared when the person has a
 *                  declaration in [t - declared-before-days, t + declared-after-days].
 *   6b. loss       (--no-loss-adjustment: off) loss rates of exits and entries by border-point class from the
 *                  repairs, and the expected effect of lost first and last passages, which the repair cannot
 *                  see: each history is classified again without its first and without its last passage
 *                  (loss_person), the changes summed as integers; kernels/emi_loss.h makes the *_adjusted
 *                  tables from them after the reduction (engine/emi_loss_tables.h).
 *   7. nowcast     (--no-nowcast: off) the crossings whose outcome is not certain at the data end get a
 *                  probability learnt from completed crossings censored artificially at every observed
 *                  length (kernels/emi_nowcast.h: cells by months before the data end, days abroad so far,
 *                  still abroad, the plane of a crossing after an open one, citizenship, sex x age group;
 *                  a tree of Beta posteriors), and the provisional month x citizenship totals get Monte
 *                  Carlo estimates and intervals (nowcast_run), for departures, arrivals and undeclared
 *                  departures (bounded by the departures draw by draw); a kind with fewer than
 *                  --nowcast-min-training completed crossings is not estimated (bounds only, a warning).
 *                  Leaf counts are sparse (nc_store_t): memory O(leaves seen), not states x citizenships.
 *
 * Determinism.  Records are read in file order (the threads' chunks are merged in order); the
 * all-to-all keeps each sender's order and senders arrive in rank order, so every person's records
 * reach one rank in file order; the radix sort is stable and thread-count independent; tables and the
 * nowcast's cell counts are integer sums; every Monte Carlo draw comes from a Philox stream keyed by
 * (seed, level, cell, draw).  So the output is the same for any number of ranks and threads
 * (tests/mpi/classify.cmake compares them with h5diff).
 *
 * Output: see the usage and output reference of the README (issue 4); names are listed in write_output.
 */
#include <inttypes.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "emi_call.h"
#include "emi_cli.h"
#include "emi_commands.h"
#include "emi_linkage.h"
#include "emi_log.h"
#include "emi_loss_tables.h"
#include "emi_nowcast.h"
#include "emi_output.h"
#include "emi_repair.h"
#include "emi_rule.h"
#include "emi_sim.h" /* calendar */
#include "emi_sort.h"

const emi_opt_spec_t emi_classify_specs[] = {
  EMI_OPTS_COMMON,
  {"output", "classify", EMI_OPT_PATH, NULL, "", "output HDF5 file (/linkage, /undeclared)", 0, 0, NULL, 'o'},
  {"input-format", "classify", EMI_OPT_CHOICE, "auto", "", "format of IN (auto: HDF5 when the file has the HDF5 signature)",
   0, 0, "auto,csv,h5"},
  {"declarations", "classify", EMI_OPT_PATH, NULL, "",
   "declarations CSV person_id,declared_on,destination: tabulate undeclared migrant departures (/undeclared)"},
  {"link-table", "classify", EMI_OPT_PATH, NULL, "",
   "CSV person_id_a,person_id_b of keys known to be one person (e.g. a dual citizen's two documents): the records "
   "of b are linked to a (tables use a's citizenship)"},
  {"key-file", "classify", EMI_OPT_PATH, NULL, "",
   "file whose bytes (32..4096) key the HMAC-SHA-256 of the person keys; without it an unkeyed SHA-256 is used"},
  {"max-reject-share", "classify", EMI_OPT_REAL, "0.01", "",
   "stop with an error when more than this share of the records is rejected", 0, 1},
  {"check-countries", "classify", EMI_OPT_FLAG, "true", "",
   "check citizenship codes against the bundled ISO 3166-1 alpha-3 list (--no-check-countries: shape only)"},
  {"period-start", "classify", EMI_OPT_MONTH, NULL, "",
   "first month tabulated (not before the data start + the warm-up); earlier records are accepted and give the "
   "prior status (records_before_period); default: the first month after the warm-up"},
  {"period-end", "classify", EMI_OPT_MONTH, NULL, "",
   "last month tabulated (at most the data end's month); later records up to the data end are accepted and close "
   "the windows of the period's crossings (records_after_period); default: the data end's month"},
  {"data-start", "classify", EMI_OPT_STRING, NULL, "",
   "first day of the data YYYY-MM-DD: earlier records are rejected (before_data_start); default: detected (see "
   "--data-gap-days, --data-min-share)"},
  {"data-end", "classify", EMI_OPT_STRING, NULL, "",
   "last day of the data YYYY-MM-DD (the day windows are censored at): later records are rejected "
   "(after_data_end), e.g. to classify the data as they were on that day; default: detected (see --data-gap-days, "
   "--data-min-share)"},
  {"data-gap-days", "classify", EMI_OPT_INT, "30", "days",
   "detected data start/end: records beyond a run of more than this many days without records (counted from the "
   "median record's day) are rejected (before_data_start, after_data_end)", 1, 36500},
  {"data-min-share", "classify", EMI_OPT_REAL, "0.1", "1",
   "detected data start/end: a first/last day with fewer records than this share of the median daily count of the "
   "28 days with records next to it is dropped (its records rejected), until one has enough", 0, 1},
  {"window-days", "classify", EMI_OPT_INT, "487", "days", "window of a crossing on day t: days t .. t + window - 1", 1,
   36500},
  {"threshold-days", "classify", EMI_OPT_INT, "365", "days", "days abroad (in the country) that make a migrant departure "
   "(arrival)", 1, 36500},
  {"rule", "classify", EMI_OPT_CHOICE, "cumulative", "",
   "cumulative: all days of the window count (12/16); continuous: only the first stay (12/12 continuous: with "
   "--window-days 365)", 0, 0, "cumulative,continuous"},
  {"initial-status", "classify", EMI_OPT_CHOICE, "from-first", "",
   "status before a person's first crossing: from-first (resident if it is an exit) or citizens-resident (--home)", 0, 0,
   "from-first,citizens-resident"},
  {"home", "classify", EMI_OPT_STRING, "AZE", "", "citizenship of the country's own citizens (ISO 3166-1 alpha-3)"},
  {"warmup-days", "classify", EMI_OPT_INT, "-1", "days",
   "crossings before data start + warm-up are classified but not tabulated (-1: one window)", -1, 36500},
  {"duplicate-tolerance-minutes", "classify", EMI_OPT_INT, "10", "min",
   "two same-direction records this close are one passage (records without a time: the same day)", 0, 1440},
  {"impute", "classify", EMI_OPT_CHOICE, "midpoint", "",
   "day of a missed crossing between two same-direction ones: midpoint, early (first day) or late (second day)", 0, 0,
   "midpoint,early,late"},
  {"declared-before-days", "classify", EMI_OPT_INT, "90", "days", "a declaration up to this many days before a migrant "
   "departure matches it", 0, 3650},
  {"declared-after-days", "classify", EMI_OPT_INT, "365", "days", "a declaration up to this many days after a migrant "
   "departure matches it", 0, 3650},
  {"nowcast", "classify", EMI_OPT_FLAG, "true", "",
   "provisional totals with Monte Carlo intervals for the months whose windows are open at the data end "
   "(/linkage/nowcast, /undeclared/nowcast; --no-nowcast: only the pending tables)"},
  {"nowcast-draws", "classify", EMI_OPT_INT, "1000", "draws", "Monte Carlo draws of the provisional totals", 20,
   1000000},
  {"nowcast-level", "classify", EMI_OPT_REAL, "0.9", "1", "probability of the central intervals of the provisional "
   "totals", 0.5, 0.999},
  {"nowcast-prior-strength", "classify", EMI_OPT_REAL, "10", "crossings",
   "weight of a cell's coarser cell in its Beta prior (state of any month bin -> state -> x citizenship -> x sex x "
   "age group)", 0.01, 1e6},
  {"nowcast-count-bin-days", "classify", EMI_OPT_INT, "30", "days",
   "width of the bins of the days abroad (in the country) so far that define the cells of similar crossings", 1, 3650},
  {"nowcast-training-days", "classify", EMI_OPT_INT, "365", "days",
   "learn from the completed crossings of this many days before the last completed one (0: all completed crossings)",
   0, 36500},
  {"nowcast-min-training", "classify", EMI_OPT_INT, "100", "crossings",
   "fewest completed crossings of a kind in the training period for its nowcast to be estimated (else: bounds only, "
   "and a warning)", 1, 1000000000},
  {"seed", "classify", EMI_OPT_INT, "20240601", "", "seed of the Philox streams of the nowcast's Monte Carlo", 0,
   9007199254740992.0},
  {"loss-adjustment", "classify", EMI_OPT_FLAG, "true", "",
   "also write the tables adjusted for lost first and last crossing records, with the loss rates estimated from the "
   "repairs (*_adjusted, /linkage/loss_rate; --no-loss-adjustment: leave them out)"},
  {"land-border-points", "classify", EMI_OPT_LIST, "", "",
   "border-point codes of the class 'land' of the loss rates (repeatable or comma list; default: one class)"},
  {"loss-min-span-days", "classify", EMI_OPT_INT, "3", "days",
   "loss rates: count the interior passages (imputed or recorded) whose neighbours are at least this many days "
   "apart (closer same-direction records are mostly duplicates or date errors, not lost passages)", 0, 36500},
};
const int emi_classify_nspecs = (int)(sizeof emi_classify_specs / sizeof emi_classify_specs[0]);

enum { T_DEP, T_ARR, T_PDEP, T_PARR, T_UNDECL, T_DECL, T_NKIND };
#define NSEX 3
#define NCODES 32768 /* citizenship as a base-32 letter triple */
#define NGRP (NSEX * EMI_NAGE_GROUPS) /* sex x age group, within a citizenship */

typedef struct {
  emi_rule_params_t rule;
  emi_repair_params_t repair;
  int init_citizens;   /* initial status: citizens resident */
  int home;            /* base-32 code of --home */
  int month0, nmonths; /* table months (months since year 0) */
  int ncit;
  const int16_t *cit_index; /* [NCODES] -> table index */
  size_t ncell;        /* nmonths x ncit x NSEX x age groups */
  int32_t decl_before, decl_after;
  const emi_sort_item_t *decl;
  size_t ndecl;
  /* nowcast (emi_nowcast.h) */
  int nowcast;
  emi_nowcast_params_t np;
  int32_t horizon[EMI_NOWCAST_NKINDS];    /* first observed length with every outcome certain */
  int32_t train_from[EMI_NOWCAST_NKINDS]; /* completed crossings from this day on are learnt from */
  size_t nstates, ncg;                    /* states; citizenship x sex x age group */
  int loss;                               /* the loss correction's counts (emi_loss_tables.h) */
  int32_t loss_span_days;                 /* rates: interior passages with neighbours this far apart */
} cfg_t;

/* The nowcast's leaf counts, sparse (with 249 citizenships the dense leaves are 10^7 per kind, nearly all
 * empty): an open-addressing table per thread, key = (kind * nstates + state) * ncg + cg, v[0] / v[1]
 * crossing-days of the completed crossings without / with the outcome, v[2] unresolved crossings.  After the
 * classification the threads' and then the ranks' tables become one list sorted by key (integer sums: exact in
 * any order), which every rank holds: memory O(nonzero leaves), not O(states x citizenships x groups). */
typedef struct {
  uint64_t key;
  int64_t v[3];
} nc_entry_t;
typedef struct {
  nc_entry_t *e;
  size_t cap, n; /* cap: 0 or a power of two; free slots have key NC_FREE */
} nc_store_t;
#define NC_FREE UINT64_MAX

static size_t nc_slot(uint64_t key, size_t cap)
{
  uint64_t x = key + 0x9e3779b97f4a7c15ull; /* splitmix64 finaliser */
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return (size_t)(x ^ (x >> 31)) & (cap - 1);
}

static emi_err_t nc_store_add(nc_store_t *m, uint64_t key, int slot, int64_t v)
{
  if (2 * (m->n + 1) > m->cap) { /* load at most 1/2 */
    size_t cap = m->cap ? 2 * m->cap : 4096;
    nc_entry_t *e = malloc(cap * sizeof *e);
    if (!e) return EMI_ERROR(EMI_ERR_NOMEM, "classify: cannot allocate the nowcast counts (%zu MB)", cap * sizeof *e >> 20);
    for (size_t i = 0; i < cap; i++) e[i].key = NC_FREE;
    for (size_t i = 0; i < m->cap; i++)
      if (m->e[i].key != NC_FREE) {
        size_t q = nc_slot(m->e[i].key, cap);
        while (e[q].key != NC_FREE) q = (q + 1) & (cap - 1);
        e[q] = m->e[i];
      }
    free(m->e);
    m->e = e, m->cap = cap;
  }
  size_t q = nc_slot(key, m->cap);
  while (m->e[q].key != key && m->e[q].key != NC_FREE) q = (q + 1) & (m->cap - 1);
  if (m->e[q].key == NC_FREE) m->e[q] = (nc_entry_t){key, {0, 0, 0}}, m->n++;
  m->e[q].v[slot] += v;
  return EMI_SUCCESS;
}

static int nc_entry_cmp(const void *a, const void *b)
{
  uint64_t x = ((const nc_entry_t *)a)->key, y = ((const nc_entry_t *)b)->key;
  return x < y ? -1 : x > y;
}

/* Sort e[0 .. *n) by key and sum the entries of equal keys (integers: the order does not matter). */
static void nc_entries_merge(nc_entry_t *e, size_t *n)
{
  qsort(e, *n, sizeof *e, nc_entry_cmp);
  size_t m = 0;
  for (size_t i = 0; i < *n; i++) {
    if (m && e[m - 1].key == e[i].key)
      for (int q = 0; q < 3; q++) e[m - 1].v[q] += e[i].v[q];
    else e[m++] = e[i];
  }
  *n = m;
}

/* Per-thread nowcast counts: the leaf table, one int64 block base[kind][month][cg] of the outcomes certain at the
 * data end (completed, or decided early with no open crossing before them: the tables' counts less the crossings
 * in the shadow of an open one, which get a probability instead), and run buffers for emi_nowcast_train_runs. */
typedef struct {
  nc_store_t store;
  int64_t *base[EMI_NOWCAST_NKINDS];
  int64_t *ntrain; /* [kind]: completed crossings learnt from */
  int32_t *run_state;
  int64_t *run_days;
} nc_counts_t;

static size_t nc_len(const cfg_t *c)
{
  return (size_t)EMI_NOWCAST_NKINDS * (size_t)c->nmonths * c->ncg + EMI_NOWCAST_NKINDS;
}
static void nc_map(const cfg_t *c, int64_t *block, nc_counts_t *nc)
{
  const size_t mc = (size_t)c->nmonths * c->ncg;
  for (int k = 0; k < EMI_NOWCAST_NKINDS; k++) nc->base[k] = block + (size_t)k * mc;
  nc->ntrain = block + (size_t)EMI_NOWCAST_NKINDS * mc;
}
static uint64_t nc_key(const cfg_t *c, int kind, size_t s, size_t cg)
{
  return ((uint64_t)kind * c->nstates + s) * c->ncg + cg;
}

typedef struct {
  int32_t *day, *sec, *oday, *osec, *osrc, *dday, *ountil;
  uint8_t *dir, *odir, *cls, *cand;
  nc_counts_t nc;
  int32_t *lday, *lsec, *lsrc; /* loss correction: a history without its first or last passage */
  uint8_t *ldir, *lcls;
  int64_t *loss;               /* this thread's block (emi_loss_tables.h) */
} scratch_t;

static int month_of(int32_t day)
{
  int y, m, d;
  emi_civil_from_days(day, &y, &m, &d);
  return y * 12 + m - 1;
}
static int32_t month_first_day(int month) { return emi_days_from_civil(month / 12, month % 12 + 1, 1); }

/* The declarations of person k0: c->decl[*a .. *b). */
static void decl_range(const cfg_t *c, uint64_t k0, size_t *a, size_t *b)
{
  size_t lo = 0, hi = c->ndecl;
  while (lo < hi) { /* first declaration of k0 */
    size_t m = lo + (hi - lo) / 2;
    if (c->decl[m].k0 < k0) lo = m + 1;
    else hi = m;
  }
  *a = lo;
  while (lo < c->ndecl && c->decl[lo].k0 == k0) lo++;
  *b = lo;
}

/* Does the person (k0) have a declaration within [lo, hi]? */
static int declared(const cfg_t *c, uint64_t k0, int32_t lo, int32_t hi)
{
  size_t a, b;
  decl_range(c, k0, &a, &b);
  for (; a < b; a++) {
    int32_t d = emi_link_day(c->decl[a].k1);
    if (d >= lo && d <= hi) return 1;
  }
  return 0;
}

/* Nowcast counts of crossing j of a person's repaired history h: a completed crossing is learnt from
 * (emi_nowcast_train: at every censoring day), an open one is counted by its state at the data end.
 * shadow: some earlier crossing of the person is pending (then j's class is not final even when decided). */
static emi_err_t nowcast_crossing(const cfg_t *c, scratch_t *w, const emi_nowcast_hist_t *h, size_t j, uint64_t k0,
                                  int mi, size_t cg, int shadow)
{
  const int32_t t = w->oday[j], E = c->rule.end_day;
  const int cls = w->cls[j], in_table = mi >= 0 && mi < c->nmonths;
  int kinds[2], nk = 0;
  if (w->odir[j] == EMI_DIR_OUT) {
    kinds[nk++] = EMI_NOWCAST_DEP;
    if (c->decl) kinds[nk++] = EMI_NOWCAST_UND;
  } else {
    kinds[nk++] = EMI_NOWCAST_ARR;
  }
  for (int q = 0; q < nk; q++) {
    const int kind = kinds[q];
    if ((int64_t)t + c->horizon[kind] - 1 <= E) { /* completed */
      int y = kind == EMI_NOWCAST_DEP ? cls == EMI_CLASS_DEPARTURE
            : kind == EMI_NOWCAST_ARR ? cls == EMI_CLASS_ARRIVAL
                                      : cls == EMI_CLASS_DEPARTURE &&
                                          !declared(c, k0, t - c->decl_before, t + c->decl_after);
      if (t >= c->train_from[kind]) {
        const size_t nr = emi_nowcast_train_runs(&c->np, kind, h, j, w->nc.run_state, w->nc.run_days);
        for (size_t u = 0; u < nr; u++)
          EMI_CALL(nc_store_add(&w->nc.store, nc_key(c, kind, (size_t)w->nc.run_state[u], cg), y, w->nc.run_days[u]));
        w->nc.ntrain[kind] += w->cand[j];
      }
      if (y && in_table) w->nc.base[kind][(size_t)mi * c->ncg + cg]++;
    } else if (in_table) {
      int s = emi_nowcast_state(&c->np, kind, h, j, E - t + 1);
      if (kind != EMI_NOWCAST_UND && !shadow && w->cand[j]) { /* plane 0: the rule's own verdict */
        int pending = cls == EMI_CLASS_PENDING_DEPARTURE || cls == EMI_CLASS_PENDING_ARRIVAL;
        int yes = cls == EMI_CLASS_DEPARTURE || cls == EMI_CLASS_ARRIVAL;
        if ((s >= 0) != pending || (s == EMI_NOWCAST_YES) != yes)
          return EMI_ERROR(EMI_ERR_INTERNAL, "classify: the nowcast state of a crossing (%d) disagrees with its class "
                           "(%d)", s, cls);
      }
      if (s >= 0) EMI_CALL(nc_store_add(&w->nc.store, nc_key(c, kind, (size_t)s, cg), 2, 1));
      else if (s == EMI_NOWCAST_YES) w->nc.base[kind][(size_t)mi * c->ncg + cg]++;
    }
  }
  return EMI_SUCCESS;
}

/* ------------------------------------------------------------------ loss correction (emi_loss_tables.h) */
static int loss_class(uint64_t v) { return v & EMI_LINK_V_LAND ? EMI_LOSS_LAND : EMI_LOSS_OTHER; }
static int loss_dir(uint8_t dir) { return dir == EMI_DIR_OUT ? EMI_LOSS_EXIT : EMI_LOSS_ENTRY; }

/* Add sign x the tabulated migrant departures, arrivals and undeclared departures of a repaired history
 * (m crossings oday/osrc/cls, osrc relative to the raw record off of it[]) to the delta blocks of (d, b). */
static void loss_tab(const cfg_t *c, const emi_sort_item_t *it, size_t off, uint64_t prim, size_t m,
                     const int32_t *oday, const int32_t *osrc, const uint8_t *cls, int64_t sign, int64_t *block, int d,
                     int b)
{
  for (size_t j = 0; j < m; j++) {
    if (cls[j] != EMI_CLASS_DEPARTURE && cls[j] != EMI_CLASS_ARRIVAL) continue;
    int mi = month_of(oday[j]) - c->month0;
    if (mi < 0 || mi >= c->nmonths) continue;
    size_t s = off + (osrc[j] >= 0 ? (size_t)osrc[j] : (size_t)(-(osrc[j] + 1)));
    uint64_t v = it[s].v;
    if (v & EMI_LINK_V_LINKED) v = (v & ~(uint64_t)0x7fff) | (prim & 0x7fff);
    int y, mo, dd;
    emi_civil_from_days(oday[j], &y, &mo, &dd);
    const size_t cell = (size_t)mi * c->ncg +
                        ((size_t)c->cit_index[emi_link_cit(v)] * NSEX + (size_t)(emi_link_sex(v) - 1)) * EMI_NAGE_GROUPS +
                        (size_t)emi_age_group(y - emi_link_birth_year(v));
    if (cls[j] == EMI_CLASS_ARRIVAL) {
      emi_loss_delta(block, c->ncell, EMI_LOSS_K_ARR, d, b)[cell] += sign;
      continue;
    }
    emi_loss_delta(block, c->ncell, EMI_LOSS_K_DEP, d, b)[cell] += sign;
    if (c->decl && !declared(c, it[0].k0, oday[j] - c->decl_before, oday[j] + c->decl_after))
      emi_loss_delta(block, c->ncell, EMI_LOSS_K_UND, d, b)[cell] += sign;
  }
}

/* The tables of the raw records it[a..b) (w->day/sec/dir), repaired and classified, into the delta of (d, cl). */
static emi_err_t loss_sub(const cfg_t *c, const emi_sort_item_t *it, size_t a, size_t b, uint64_t prim, int init,
                          scratch_t *w, int d, int cl)
{
  int64_t rep[EMI_NREPAIRS] = {0}; /* not counted: a history that was not recorded */
  size_t m = 0;
  if (b == a) return EMI_SUCCESS;
  EMI_CALL(emi_repair_sequence(&c->repair, b - a, w->day + a, w->sec + a, w->dir + a, &m, w->lday, w->lsec, w->ldir,
                               w->lsrc, rep));
  EMI_CALL(emi_rule_classify(&c->rule, m, w->lday, w->ldir, init, w->lcls));
  loss_tab(c, it, a, prim, m, w->lday, w->lsrc, w->lcls, +1, w->loss, d, cl);
  return EMI_SUCCESS;
}

/* A person's counts for the loss correction: interior recorded passages and imputed ones by direction and
 * border-point class; the change of the tables if the first or the last passage had been lost
 * (kernels/emi_loss.c).  The repaired history (m crossings, classes) is the one person_run made. */
static emi_err_t loss_person(const cfg_t *c, const emi_sort_item_t *it, size_t n, size_t m, uint64_t prim, int init,
                             scratch_t *w)
{
  int64_t *L = w->loss;
  /* interior passages whose neighbours are at least loss_span_days apart: a lost one is imputed between
   * them, while two records of one direction closer than that are mostly not a lost passage but one
   * recorded twice (beyond the duplicate tolerance) or a date error; the span does not depend on whether
   * the passage between was recorded, so the rate of the passages of such spans is the rate */
  for (size_t j = 1; j + 1 < m; j++) {
    const int d = loss_dir(w->odir[j]);
    if ((int64_t)w->oday[j + 1] - w->oday[j - 1] < c->loss_span_days) continue;
    if (w->osrc[j] < 0) { /* imputed: the class of the other end of its trip (kept neighbours are recorded) */
      size_t q = d == EMI_LOSS_EXIT ? j + 1 : j - 1;
      L[d * EMI_LOSS_NCLASS + loss_class(it[w->osrc[q]].v)]++;
    } else {
      L[EMI_LOSS_NDB + d * EMI_LOSS_NCLASS + loss_class(it[w->osrc[j]].v)]++;
    }
  }
  if (m == 0) return EMI_SUCCESS;
  /* the last passage (raw records from osrc[m - 1] on: it and the duplicates merged into it) */
  const int dl = loss_dir(w->odir[m - 1]), bl = loss_class(it[w->osrc[m - 1]].v);
  loss_tab(c, it, 0, prim, m, w->oday, w->osrc, w->cls, -1, w->loss, dl, bl);
  if (m == 1) return EMI_SUCCESS; /* one passage: its loss loses the person */
  EMI_CALL(loss_sub(c, it, 0, (size_t)w->osrc[m - 1], prim, init, w, dl, bl));
  /* the first passage (raw records before the next recorded passage) */
  const int d0 = loss_dir(w->odir[0]), b0 = loss_class(it[w->osrc[0]].v);
  size_t j1 = 1;
  while (w->osrc[j1] < 0) j1++;
  loss_tab(c, it, 0, prim, m, w->oday, w->osrc, w->cls, -1, w->loss, d0, b0);
  EMI_CALL(loss_sub(c, it, (size_t)w->osrc[j1], n, prim, init, w, d0, b0));
  return EMI_SUCCESS;
}

/* One person's records it[0..n): repair, classify, tabulate into tab (T_NKIND x ncell), nowcast counts. */
static emi_err_t person_run(const cfg_t *c, const emi_sort_item_t *it, size_t n, scratch_t *w, int64_t *tab,
                            int64_t rep[EMI_NREPAIRS])
{
  for (size_t i = 0; i < n; i++) {
    w->day[i] = emi_link_day(it[i].k1);
    w->sec[i] = emi_link_second(it[i].k1);
    w->dir[i] = emi_link_out(it[i].k1) ? EMI_DIR_OUT : EMI_DIR_IN;
  }
  /* a person linked from two keys (--link-table): tables use the attributes of a record of key a */
  uint64_t prim = it[0].v;
  for (size_t i = 0; i < n; i++)
    if (!(it[i].v & EMI_LINK_V_LINKED)) {
      prim = it[i].v;
      break;
    }
  size_t m = 0;
  EMI_CALL(emi_repair_sequence(&c->repair, n, w->day, w->sec, w->dir, &m, w->oday, w->osec, w->odir, w->osrc, rep));
  int init = EMI_RULE_STATUS_FROM_FIRST;
  if (c->init_citizens)
    init = emi_link_cit(prim) == c->home ? EMI_RULE_STATUS_RESIDENT : EMI_RULE_STATUS_NONRESIDENT;
  EMI_CALL(emi_rule_classify_cand(&c->rule, m, w->oday, w->odir, init, w->cls, w->cand));
  size_t nd = 0; /* the person's declaration days, for the nowcast */
  if (c->nowcast && c->decl) {
    size_t a, b;
    decl_range(c, it[0].k0, &a, &b);
    for (; a < b; a++) w->dday[nd++] = emi_link_day(c->decl[a].k1);
  }
  emi_nowcast_hist_t h = {m, w->oday, w->odir, w->cand, w->ountil, nd, w->dday};
  if (c->nowcast) emi_nowcast_open_until(&c->np, &h, w->ountil);
  int shadow = 0; /* an earlier crossing is pending */
  for (size_t j = 0; j < m; j++) {
    const int nowcast = c->nowcast;
    if (w->cls[j] == EMI_CLASS_SHORT && !nowcast) continue;
    int mi = month_of(w->oday[j]) - c->month0;
    const int in_table = mi >= 0 && mi < c->nmonths; /* else: warm-up */
    if (!in_table && !nowcast) continue;
    size_t s = w->osrc[j] >= 0 ? (size_t)w->osrc[j] : (size_t)(-(w->osrc[j] + 1)); /* imputed: the record before */
    uint64_t v = it[s].v;
    if (v & EMI_LINK_V_LINKED) v = (v & ~(uint64_t)0x7fff) | (prim & 0x7fff); /* citizenship of key a's document */
    int y, mo, d;
    emi_civil_from_days(w->oday[j], &y, &mo, &d);
    const size_t cg = ((size_t)c->cit_index[emi_link_cit(v)] * NSEX + (size_t)(emi_link_sex(v) - 1)) * EMI_NAGE_GROUPS +
                      (size_t)emi_age_group(y - emi_link_birth_year(v));
    if (nowcast) {
      EMI_CALL(nowcast_crossing(c, w, &h, j, it[0].k0, mi, cg, shadow));
      shadow |= w->cls[j] == EMI_CLASS_PENDING_DEPARTURE || w->cls[j] == EMI_CLASS_PENDING_ARRIVAL;
    }
    if (w->cls[j] == EMI_CLASS_SHORT || !in_table) continue;
    const size_t cell = (size_t)mi * c->ncg + cg;
    int kind = w->cls[j] == EMI_CLASS_DEPARTURE ? T_DEP : w->cls[j] == EMI_CLASS_ARRIVAL ? T_ARR
             : w->cls[j] == EMI_CLASS_PENDING_DEPARTURE ? T_PDEP : T_PARR;
    tab[(size_t)kind * c->ncell + cell]++;
    if (kind == T_DEP && c->decl) {
      int dec = declared(c, it[0].k0, w->oday[j] - c->decl_before, w->oday[j] + c->decl_after);
      tab[(size_t)(dec ? T_DECL : T_UNDECL) * c->ncell + cell]++;
    }
  }
  if (c->loss) EMI_CALL(loss_person(c, it, n, m, prim, init, w));
  return EMI_SUCCESS;
}

static int is_hdf5(const char *path)
{
  unsigned char sig[8] = {0};
  FILE *fp = fopen(path, "rb");
  if (!fp) return 0;
  size_t got = fread(sig, 1, 8, fp);
  fclose(fp);
  return got == 8 && !memcmp(sig, "\x89HDF\r\n\x1a\n", 8);
}

static void fmt_day(char out[16], int32_t day)
{
  int y, m, d;
  emi_civil_from_days(day, &y, &m, &d);
  snprintf(out, 16, "%04d-%02d-%02d", y, m, d);
}

/* ------------------------------------------------------------------ nowcast */
static const char *const nc_kind_names[EMI_NOWCAST_NKINDS] = {"departures", "arrivals", "undeclared departures"};

typedef struct {
  int on, have[EMI_NOWCAST_NKINDS];
  int64_t ndraws, training_days, count_bin_days;
  double level, kappa;
  uint64_t seed;
  int32_t train_from[EMI_NOWCAST_NKINDS];
  int64_t ntrain[EMI_NOWCAST_NKINDS], unresolved[EMI_NOWCAST_NKINDS];
  /* month x citizenship: mean, interval, the interval's probability content (share of the draws in it) */
  double *mean[EMI_NOWCAST_NKINDS], *lower[EMI_NOWCAST_NKINDS], *upper[EMI_NOWCAST_NKINDS], *mass[EMI_NOWCAST_NKINDS];
  int64_t *unres[EMI_NOWCAST_NKINDS], *cert[EMI_NOWCAST_NKINDS]; /* month x citizenship: unresolved, certain */
  int est[EMI_NOWCAST_NKINDS];            /* estimated (else bounds only: certain .. certain + unresolved) */
  int64_t min_training;                   /* --nowcast-min-training */
  int64_t prior_only[EMI_NOWCAST_NKINDS]; /* unresolved crossings of states with < 1 completed crossing */
  int64_t clamped;                        /* cell draws of undeclared departures set to the departures' */
  int32_t data_start;
  double *tmean[EMI_NOWCAST_NKINDS], *tlower[EMI_NOWCAST_NKINDS], *tupper[EMI_NOWCAST_NKINDS],
         *tmass[EMI_NOWCAST_NKINDS]; /* month */
} nowcast_out_t;

static void nowcast_out_free(nowcast_out_t *o)
{
  for (int k = 0; k < EMI_NOWCAST_NKINDS; k++) {
    free(o->mean[k]), free(o->lower[k]), free(o->upper[k]), free(o->mass[k]), free(o->unres[k]), free(o->cert[k]);
    o->cert[k] = NULL;
    free(o->tmean[k]), free(o->tlower[k]), free(o->tupper[k]), free(o->tmass[k]);
    o->mean[k] = o->lower[k] = o->upper[k] = o->mass[k] = o->tmean[k] = o->tlower[k] = o->tupper[k] = o->tmass[k] = NULL;
    o->unres[k] = NULL;
  }
}

/* Collective: the threads' leaf tables (freed), then the ranks' lists, summed into one list sorted by key, the
 * same on every rank (integer sums).  Memory: this rank's entries, then every rank's (MPI_Allgatherv). */
static emi_err_t nc_gather(emi_ctx_t *ctx, scratch_t *scr, int nthreads, nc_entry_t **out, size_t *nout)
{
  emi_err_t err = EMI_SUCCESS;
  nc_entry_t *mine = NULL, *all = NULL;
  int *cnt = NULL, *disp = NULL;
  size_t n = 0;
  for (int th = 0; th < nthreads; th++) n += scr[th].nc.store.n;
  EMI_MALLOC(mine, n + 1, "nowcast counts of this rank");
  n = 0;
  for (int th = 0; th < nthreads; th++) {
    nc_store_t *m = &scr[th].nc.store;
    for (size_t i = 0; i < m->cap; i++)
      if (m->e[i].key != NC_FREE) mine[n++] = m->e[i];
    free(m->e), m->e = NULL, m->cap = m->n = 0;
  }
  nc_entries_merge(mine, &n);
  EMI_CALLOC(cnt, (size_t)ctx->size, "gather counts");
  EMI_CALLOC(disp, (size_t)ctx->size, "gather displacements");
  int64_t words = (int64_t)n * 4, total = 0, *w = NULL; /* an entry is 4 64-bit words */
  EMI_MALLOC(w, (size_t)ctx->size, "gather counts");
  EMI_MPI_TRY(MPI_Allgather(&words, 1, MPI_INT64_T, w, 1, MPI_INT64_T, ctx->comm));
  for (int r = 0; r < ctx->size; r++) total += w[r];
  if (total > INT32_MAX) {
    free(w);
    EMI_FAIL(EMI_ERR_INTERNAL, "classify: %" PRId64 " nowcast leaf counts: too many for one gather", total / 4);
  }
  for (int r = 0, off = 0; r < ctx->size; r++) cnt[r] = (int)w[r], disp[r] = off, off += cnt[r];
  free(w);
  EMI_MALLOC(all, (size_t)total / 4 + 1, "nowcast counts of every rank");
  EMI_MPI_TRY(MPI_Allgatherv(mine, cnt[ctx->rank], MPI_INT64_T, all, cnt, disp, MPI_INT64_T, ctx->comm));
  free(mine), mine = NULL;
  *nout = (size_t)total / 4;
  nc_entries_merge(all, nout);
  *out = all, all = NULL;
cleanup:
  free(mine), free(all), free(cnt), free(disp);
  return err;
}

/* A provisional output cell: kind, table month, citizenship. */
typedef struct {
  int kind, mi, c;
} nc_cell_t;

/* Collective.  From the global counts (summed over threads and ranks; ent: the sparse leaf counts sorted by
 * key, the same on every rank): the trees of Beta posteriors, and per month x citizenship cell and month
 * total the estimate (certain count + mean of the draws) and the Monte Carlo interval (emi_nowcast_summary),
 * undeclared departures bounded by the same draw's departures (emi_nowcast_bound_draws).  Months go to ranks
 * g mod P and to threads; every draw comes from streams keyed by logical indices (emi_nowcast_leaves_draws),
 * the per-draw month totals are int64 sums, and the months' summaries are gathered (no arithmetic), so the
 * result is the same for any number of ranks and threads.  Memory: the pending leaves and the draws of one
 * month per thread (kinds x citizenships x draws). */
static emi_err_t nowcast_run(emi_ctx_t *ctx, const cfg_t *c, const nc_counts_t *nc, const nc_entry_t *ent,
                             size_t nent, nowcast_out_t *o)
{
  enum { K = EMI_NOWCAST_NKINDS };
  emi_err_t err = EMI_SUCCESS, local = EMI_SUCCESS;
  const size_t ns = c->nstates, ncit = (size_t)c->ncit, ncg = c->ncg, nm = (size_t)c->nmonths;
  const size_t R = (size_t)o->ndraws, ncb = (size_t)c->np.ncount_bins, nbins = (size_t)c->np.nbins, na = 6 * ncb;
  double *res = NULL, *ty = NULL, *tz = NULL;
  uint64_t *tl = NULL;
  size_t *fill = NULL;
  double *yA[K] = {NULL}, *zA[K] = {NULL}, *yB[K] = {NULL}, *zB[K] = {NULL}, *yC[K] = {NULL}, *zC[K] = {NULL};
  /* the pending leaves of each kind, by observed-length bin: [poff[k][j], poff[k][j + 1]) in leaf order */
  uint64_t *pl[K] = {NULL};
  double *py[K] = {NULL}, *pz[K] = {NULL};
  int64_t *pn[K] = {NULL};
  size_t *poff[K] = {NULL};
  int64_t *base = NULL, *xs = NULL;
  uint64_t *rks = NULL;
  double *tot = NULL;
  nc_cell_t *cells = NULL;
  int *rcount = NULL, *rdisp = NULL;
  EMI_CALLOC(base, (size_t)K * nm * ncit, "nowcast base counts");
  size_t pos = 0;
  for (int k = 0; k < K; k++) {
    /* the entries of kind k: ent[lo, hi) */
    const size_t lo = pos;
    size_t hi = lo;
    while (hi < nent && ent[hi].key / (ns * ncg) == (uint64_t)k) hi++;
    pos = hi;
    const size_t nk = hi - lo;
    if (!o->have[k]) continue;
    EMI_CALLOC(o->mean[k], nm * ncit, "nowcast means");
    EMI_CALLOC(o->lower[k], nm * ncit, "nowcast lower bounds");
    EMI_CALLOC(o->upper[k], nm * ncit, "nowcast upper bounds");
    EMI_CALLOC(o->mass[k], nm * ncit, "nowcast interval probabilities");
    EMI_CALLOC(o->tmass[k], nm, "nowcast month interval probabilities");
    EMI_CALLOC(o->unres[k], nm * ncit, "nowcast unresolved counts");
    EMI_CALLOC(o->tmean[k], nm, "nowcast month means");
    EMI_CALLOC(o->tlower[k], nm, "nowcast month lower bounds");
    EMI_CALLOC(o->tupper[k], nm, "nowcast month upper bounds");
    EMI_CALLOC(o->cert[k], nm * ncit, "nowcast certain counts");
    EMI_MALLOC(yC[k], ns * ncit, "nowcast citizenship counts");
    EMI_MALLOC(zC[k], ns * ncit, "nowcast citizenship counts");
    EMI_MALLOC(yB[k], ns, "nowcast state counts");
    EMI_MALLOC(zB[k], ns, "nowcast state counts");
    EMI_MALLOC(yA[k], na, "nowcast pooled counts");
    EMI_MALLOC(zA[k], na, "nowcast pooled counts");
    EMI_CALLOC(poff[k], nbins + 2, "nowcast pending leaves by bin");
    /* effective counts of the leaves (emi_nowcast_weights, leaf by leaf), levels, point probabilities */
    EMI_MALLOC(tl, nk + 1, "nowcast leaves");
    EMI_MALLOC(ty, nk + 1, "nowcast leaf counts");
    EMI_MALLOC(tz, nk + 1, "nowcast leaf counts");
    size_t npend = 0;
    for (size_t q = 0; q < nk; q++) {
      const nc_entry_t *e = &ent[lo + q];
      const uint64_t leaf = e->key - (uint64_t)k * ns * ncg;
      const double w = emi_nowcast_bin_days(&c->np, k, (size_t)(leaf / ncg));
      tl[q] = leaf;
      ty[q] = w > 0 ? (double)e->v[1] / w : 0.0;
      tz[q] = w > 0 ? (double)e->v[0] / w : 0.0;
      if (e->v[2] > 0) npend++, poff[k][(size_t)(leaf / ncg) / (2 * ncb) % nbins + 1]++;
    }
    const emi_nowcast_leaves_t L = {nk, tl, ty, tz, NULL};
    emi_nowcast_tree_t tr = {ns, ncit, NGRP, nbins, ncb, 0.5, 0.5, o->kappa, yA[k], zA[k], yB[k], zB[k], yC[k], zC[k],
                             NULL, NULL};
    emi_nowcast_tree_pool_leaves(&tr, &L, yC[k], zC[k], yB[k], zB[k], yA[k], zA[k]);
    double ntr = 0;
    for (size_t a = 0; a < na; a++) ntr += yA[k][a] + zA[k][a];
    /* certain counts of the month x citizenship cells: the estimates start there */
    const int64_t *cert = nc->base[k];
    for (size_t mi = 0; mi < nm; mi++)
      for (size_t ci = 0; ci < ncit; ci++) {
        int64_t b = 0;
        for (size_t g = 0; g < NGRP; g++) b += cert[mi * ncg + ci * NGRP + g];
        base[((size_t)k * nm + mi) * ncit + ci] = o->cert[k][mi * ncit + ci] = b;
        o->mean[k][mi * ncit + ci] = o->lower[k][mi * ncit + ci] = o->upper[k][mi * ncit + ci] = (double)b;
        o->mass[k][mi * ncit + ci] = 1;
      }
    /* the pending leaves: unresolved crossings by cell, those whose level-A cell has less than one completed
     * crossing (their probability is the prior's), and the lists by bin for the draws, in leaf order */
    for (size_t j = 0; j < nbins; j++) poff[k][j + 1] += poff[k][j];
    EMI_MALLOC(pl[k], npend + 1, "nowcast pending leaves");
    EMI_MALLOC(py[k], npend + 1, "nowcast pending leaves");
    EMI_MALLOC(pz[k], npend + 1, "nowcast pending leaves");
    EMI_MALLOC(pn[k], npend + 1, "nowcast pending leaves");
    EMI_CALLOC(fill, nbins + 1, "nowcast pending leaves by bin");
    for (size_t q = 0; q < nk; q++) {
      const int64_t N = ent[lo + q].v[2];
      if (N <= 0) continue;
      const size_t s = (size_t)(tl[q] / ncg), ci = (size_t)(tl[q] % ncg) / NGRP, j = s / (2 * ncb) % nbins;
      const size_t a = emi_nowcast_tree_a(&tr, s);
      if (yA[k][a] + zA[k][a] < 1) o->prior_only[k] += N;
      if (j < nm) o->unres[k][(nm - 1 - j) * ncit + ci] += N;
      const size_t at = poff[k][j] + fill[j]++;
      pl[k][at] = tl[q], py[k][at] = ty[q], pz[k][at] = tz[q], pn[k][at] = N;
    }
    free(fill), fill = NULL;
    for (size_t i = 0; i < nm * ncit; i++) o->unresolved[k] += o->unres[k][i];
    free(tl), tl = NULL;
    free(ty), ty = NULL;
    free(tz), tz = NULL;
    /* estimated: something to learn from (the rule of the README: at least --nowcast-min-training completed
     * crossings in the training period), or nothing unresolved; undeclared departures also need the departures */
    o->est[k] = o->unresolved[k] == 0 || (o->ntrain[k] >= o->min_training && ntr > 0);
    if (k == EMI_NOWCAST_UND && !o->est[EMI_NOWCAST_DEP] && o->unresolved[k] > 0) o->est[k] = 0;
    if (!o->est[k]) {
      char from[16], to[16], d0[16], d1[16], why[256];
      const int32_t last = c->rule.end_day - c->horizon[k] + 1; /* the last day a crossing can be complete */
      fmt_day(from, o->train_from[k]), fmt_day(to, last);
      fmt_day(d0, o->data_start), fmt_day(d1, c->rule.end_day);
      if (k == EMI_NOWCAST_UND && o->ntrain[k] >= o->min_training && ntr > 0)
        snprintf(why, sizeof why, "the departures are not estimated, and undeclared departures are bounded by them");
      else if (last < o->data_start)
        snprintf(why, sizeof why, "no crossing is complete yet: a crossing is complete %d days after it, so the "
                 "data (%s .. %s) would have to start on or before %s", (int)c->horizon[k], d0, d1, to);
      else
        snprintf(why, sizeof why, "%" PRId64 " completed crossings in the training period %s .. %s, fewer than "
                 "--nowcast-min-training %" PRId64, o->ntrain[k], from, to, o->min_training);
      emi_log_warn("classify: nowcast of %s NOT ESTIMATED: %s. Its %" PRId64 " unresolved crossings are reported as "
                   "bounds only (%s/nowcast: %s_certain .. %s_certain + %s_unresolved; %s_status = \"not "
                   "estimated\"), with no estimate and no interval. To estimate it: longer data (a window of %d days "
                   "plus the training period, --nowcast-training-days %" PRId64 "), a longer --nowcast-training-days "
                   "(0: every completed crossing), a smaller --nowcast-min-training; or --no-nowcast",
                   nc_kind_names[k], why, o->unresolved[k], k == EMI_NOWCAST_UND ? "/undeclared" : "/linkage",
                   k == EMI_NOWCAST_ARR ? "arrivals" : "departures", k == EMI_NOWCAST_ARR ? "arrivals" : "departures",
                   k == EMI_NOWCAST_ARR ? "arrivals" : "departures", k == EMI_NOWCAST_ARR ? "arrivals" : "departures",
                   (int)c->horizon[k], o->training_days);
    } else if (o->prior_only[k] > 0) {
      emi_log_warn("classify: nowcast of %s: %" PRId64 " of %" PRId64 " unresolved crossings are in states (days "
                   "abroad so far, still abroad, plane) with less than one completed crossing to learn from: their "
                   "probability is the prior's, Beta(1/2, 1/2), and their intervals are wide (attribute %s_prior_only)",
                   nc_kind_names[k], o->prior_only[k], o->unresolved[k], k == EMI_NOWCAST_ARR ? "arrivals" : "departures");
    }
  }
  /* Monte Carlo by month: every kind and citizenship of the month at once (emi_nowcast_leaves_draws), so that a
   * draw's undeclared departures can be bounded by the same draw's departures; month g goes to rank g mod P
   * (recent months hold most of the work), threads take a rank's months */
  EMI_MALLOC(cells, nm + 1, "nowcast groups");
  size_t ngroups = 0;
  for (size_t mi = 0; mi < nm; mi++) {
    int64_t u = 0;
    for (int k = 0; k < K; k++)
      if (o->have[k] && o->est[k])
        for (size_t ci = 0; ci < ncit; ci++) u += o->unres[k][mi * ncit + ci];
    if (u > 0) cells[ngroups++] = (nc_cell_t){0, (int)mi, 0};
  }
  const size_t per = (size_t)K * 4 * (ncit + 1); /* per kind: mean, lower, upper, probability content of each
                                                  * citizenship and the total */
  const size_t mine_n = ngroups > (size_t)ctx->rank ? (ngroups - 1 - (size_t)ctx->rank) / (size_t)ctx->size + 1 : 0;
  const int nth = omp_get_max_threads();
  const size_t xlen = (size_t)K * ncit * R + R; /* a thread's draws of one month, and one total */
  if (R > UINT32_MAX) EMI_FAIL(EMI_ERR_CONFIG, "classify: --nowcast-draws %zu: too many", R);
  EMI_MALLOC(xs, (size_t)nth * xlen, "nowcast draws of a month");
  EMI_MALLOC(rks, (size_t)nth * R, "nowcast ranks of a cell's draws");
  EMI_MALLOC(res, per * (ngroups + 1), "nowcast intervals");
  EMI_MALLOC(tot, per * (mine_n + 1), "nowcast intervals of this rank");
  {
    char errmsg[1024] = "";
    emi_err_t first = EMI_SUCCESS;
    const long long nq = (long long)mine_n;
    long long done = 0, clamped = 0;
    emi_progress_t prog;
    emi_progress_begin(&prog, "classify: nowcast Monte Carlo", (double)nq * (double)R, "draws");
#pragma omp parallel reduction(+ : clamped)
    {
      int64_t *x = xs + (size_t)omp_get_thread_num() * xlen, *xt = x + (size_t)K * ncit * R;
      uint64_t *rk_scr = rks + (size_t)omp_get_thread_num() * R;
      emi_err_t mine = EMI_SUCCESS;
#pragma omp for schedule(dynamic, 1)
      for (long long qq = 0; qq < nq; qq++) {
        if (mine) continue;
        const size_t mi = (size_t)cells[(size_t)qq * (size_t)ctx->size + (size_t)ctx->rank].mi, j = nm - 1 - mi;
        for (int k = 0; k < K && !mine; k++) {
          int64_t *xk = x + (size_t)k * ncit * R;
          if (!o->have[k] || !o->est[k] || j >= nbins) {
            for (size_t i = 0; i < ncit * R; i++) xk[i] = 0;
            continue;
          }
          const size_t p0 = poff[k][j];
          const emi_nowcast_leaves_t L = {poff[k][j + 1] - p0, pl[k] + p0, py[k] + p0, pz[k] + p0, pn[k] + p0};
          emi_nowcast_tree_t tr = {ns, ncit, NGRP, nbins, ncb, 0.5, 0.5, o->kappa, yA[k], zA[k], yB[k], zB[k], yC[k],
                                   zC[k], NULL, NULL};
          mine = emi_nowcast_leaves_draws(&tr, o->seed, k, &L, 0, R, xk);
        }
        if (mine) continue;
        /* an undeclared departure is a departure: in every draw, undeclared <= departures, cell by cell (the two
         * trees are learnt apart: the undeclared draws are paired with the departures' by rank, and a draw still
         * beyond the bound is set to it; emi_nowcast_bound_draws) */
        if (o->have[EMI_NOWCAST_UND] && o->est[EMI_NOWCAST_UND])
          for (size_t ci = 0; ci < ncit && !mine; ci++) {
            if (o->unres[EMI_NOWCAST_UND][mi * ncit + ci] == 0) continue;
            const int64_t room = base[((size_t)EMI_NOWCAST_DEP * nm + mi) * ncit + ci] -
                                 base[((size_t)EMI_NOWCAST_UND * nm + mi) * ncit + ci];
            if (room < 0) {
              mine = EMI_ERROR(EMI_ERR_INTERNAL, "classify: nowcast: more certain undeclared departures than departures");
              break;
            }
            clamped += (long long)emi_nowcast_bound_draws(x + ((size_t)EMI_NOWCAST_DEP * ncit + ci) * R,
                                                          x + ((size_t)EMI_NOWCAST_UND * ncit + ci) * R, R, room,
                                                          rk_scr, xt);
          }
        if (mine) continue;
        double *rq = tot + (size_t)qq * per;
        for (int k = 0; k < K; k++) {
          int64_t *xk = x + (size_t)k * ncit * R;
          double *rk = rq + (size_t)k * 4 * (ncit + 1);
          for (size_t r = 0; r < R; r++) xt[r] = 0;
          for (size_t ci = 0; ci < ncit; ci++) {
            for (size_t r = 0; r < R; r++) xt[r] += xk[ci * R + r]; /* integers: the month total of each draw */
            rk[4 * ci] = rk[4 * ci + 1] = rk[4 * ci + 2] = 0, rk[4 * ci + 3] = 1;
            if (o->have[k] && o->est[k] && o->unres[k][mi * ncit + ci] > 0)
              emi_nowcast_summary(xk + ci * R, R, o->level, &rk[4 * ci], &rk[4 * ci + 1], &rk[4 * ci + 2],
                                  &rk[4 * ci + 3]);
          }
          emi_nowcast_summary(xt, R, o->level, &rk[4 * ncit], &rk[4 * ncit + 1], &rk[4 * ncit + 2], &rk[4 * ncit + 3]);
        }
        long long d;
#pragma omp atomic capture
        d = done += (long long)R;
        if (omp_get_thread_num() == 0) emi_progress_update(&prog, (double)d);
      }
#pragma omp critical(emi_classify_nowcast_err)
      if (mine && !first) {
        first = mine;
        snprintf(errmsg, sizeof errmsg, "%s", emi_err_message());
      }
    }
    emi_progress_end(&prog, (double)nq * (double)R);
    local = first ? EMI_ERROR(first, "%s", errmsg) : EMI_SUCCESS;
    o->clamped = (int64_t)clamped; /* this rank's; summed below (integers) */
  }
  EMI_TRY(emi_mpi_agree(ctx->comm, local, NULL));
  EMI_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, &o->clamped, 1, MPI_INT64_T, MPI_SUM, ctx->comm));
  /* every rank gets every month's summaries: gathered rank by rank (no arithmetic), then put in month order */
  EMI_CALLOC(rcount, (size_t)ctx->size, "gather counts");
  EMI_CALLOC(rdisp, (size_t)ctx->size, "gather displacements");
  if (per * ngroups > (size_t)INT32_MAX) EMI_FAIL(EMI_ERR_INTERNAL, "classify: too many nowcast cells for one gather");
  for (int r = 0, off = 0; r < ctx->size; r++) {
    size_t nr = ngroups > (size_t)r ? (ngroups - 1 - (size_t)r) / (size_t)ctx->size + 1 : 0;
    rcount[r] = (int)(per * nr), rdisp[r] = off;
    off += rcount[r];
  }
  EMI_MPI_TRY(MPI_Allgatherv(tot, rcount[ctx->rank], MPI_DOUBLE, res, rcount, rdisp, MPI_DOUBLE, ctx->comm));
  /* the months without unresolved crossings (and the kinds not estimated): the certain counts */
  for (int k = 0; k < K; k++) {
    if (!o->have[k]) continue;
    for (size_t mi = 0; mi < nm; mi++) {
      int64_t b = 0;
      for (size_t ci = 0; ci < ncit; ci++) b += base[((size_t)k * nm + mi) * ncit + ci];
      o->tmean[k][mi] = o->tlower[k][mi] = o->tupper[k][mi] = (double)b, o->tmass[k][mi] = 1;
    }
  }
  for (size_t g = 0; g < ngroups; g++) {
    const size_t mi = (size_t)cells[g].mi;
    const double *rq = res + (size_t)rdisp[g % (size_t)ctx->size] + per * (g / (size_t)ctx->size);
    for (int k = 0; k < K; k++) {
      if (!o->have[k] || !o->est[k]) continue;
      const double *rk = rq + (size_t)k * 4 * (ncit + 1);
      int64_t bt = 0;
      for (size_t ci = 0; ci < ncit; ci++) {
        const size_t i = mi * ncit + ci;
        const int64_t b = base[((size_t)k * nm + mi) * ncit + ci];
        bt += b;
        if (o->unres[k][i] == 0) continue;
        o->mean[k][i] = (double)b + rk[4 * ci];
        o->lower[k][i] = (double)b + rk[4 * ci + 1];
        o->upper[k][i] = (double)b + rk[4 * ci + 2];
        o->mass[k][i] = rk[4 * ci + 3];
      }
      o->tmean[k][mi] = (double)bt + rk[4 * ncit];
      o->tlower[k][mi] = (double)bt + rk[4 * ncit + 1];
      o->tupper[k][mi] = (double)bt + rk[4 * ncit + 2];
      o->tmass[k][mi] = rk[4 * ncit + 3];
    }
  }
cleanup:
  for (int k = 0; k < K; k++) {
    free(yC[k]), free(zC[k]), free(yB[k]), free(zB[k]), free(yA[k]), free(zA[k]);
    free(pl[k]), free(py[k]), free(pz[k]), free(pn[k]), free(poff[k]);
  }
  free(tl), free(ty), free(tz), free(fill);
  free(res), free(base), free(tot), free(xs), free(rks), free(cells), free(rcount), free(rdisp);
  return err;
}

/* ------------------------------------------------------------------ output */
typedef struct {
  const char *in;
  int is_h5, keyed, have_decl, have_links;
  emi_link_table_counts_t links;
  emi_link_counts_t counts;
  emi_link_decl_counts_t decl;
  int64_t persons, repairs[EMI_NREPAIRS];
  int32_t data_start, data_end, warmup_days;
  /* how the data start and end were set (README, classify, "The data start and end") */
  char start_rule[256], end_rule[256];
  int32_t gap_days;
  double min_share;
  int64_t before_period, after_period; /* accepted records dated before / after the tabulated months */
  char start_day[16], end_day[16];     /* data_start, data_end as YYYY-MM-DD */
  int64_t *day_count;                  /* accepted records per day, day_lo .. day_hi (before the trim) */
  int32_t day_lo, day_hi;
  const char *rule_name, *init_name, *impute_name;
  char (*cit_codes)[4];
} run_info_t;

static emi_err_t write_1d(emi_ctx_t *ctx, emi_h5_file_t *f, const char *path, const char *scale, uint64_t n,
                          emi_h5_type_t type, const void *v, size_t elem, const char *units, const char *long_name)
{
  uint64_t dims[1] = {n}, chunk, row0, nrows;
  const char *sc[1] = {scale};
  EMI_CALL(emi_h5_chunk_rows(type, 1, dims, &chunk));
  EMI_CALL(emi_h5_partition(dims[0], chunk, ctx->comm, &row0, &nrows));
  EMI_CALL(emi_h5_write_array(f, path, type, 1, dims, sc, row0, nrows, (const char *)v + row0 * elem, units, long_name));
  return EMI_SUCCESS;
}

/* The nowcast datasets of one kind in group G/nowcast (G: /linkage or /undeclared), with its own copies of the
 * month and citizenship scales (xarray labels a group's arrays from that group's coordinates). */
static emi_err_t write_nowcast(emi_ctx_t *ctx, emi_h5_file_t *f, const cfg_t *c, const nowcast_out_t *o, int k,
                               const char *G, const char *what, const char *const *months, const char *const *cits)
{
  char path[160], lname[320], scm[128], scc[128], grp[96];
  snprintf(grp, sizeof grp, "%s/nowcast", G);
  snprintf(scm, sizeof scm, "%s/month", grp);
  snprintf(scc, sizeof scc, "%s/citizenship", grp);
  if (k != EMI_NOWCAST_ARR) { /* once per group: departures come first */
    EMI_CALL(emi_h5_write_scale_str(f, grp, "month", (uint64_t)c->nmonths, months, "",
                                    "calendar month of the crossing (YYYY-MM, UTC)"));
    EMI_CALL(emi_h5_write_scale_str(f, grp, "citizenship", (uint64_t)c->ncit, cits, "",
                                    "citizenship of the crossing's document (ISO 3166-1 alpha-3)"));
  }
  const char *sc[2] = {scm, scc};
  const char *pre = k == EMI_NOWCAST_ARR ? "arrivals" : "departures";
  uint64_t dims[2] = {(uint64_t)c->nmonths, (uint64_t)c->ncit}, chunk, row0, nrows;
  EMI_CALL(emi_h5_chunk_rows(EMI_H5_DOUBLE, 2, dims, &chunk));
  EMI_CALL(emi_h5_partition(dims[0], chunk, ctx->comm, &row0, &nrows));
  const size_t row = (size_t)c->ncit;
  const int pct = (int)(100 * o->level + 0.5);
  static const char *const stat[4] = {"mean", "lower", "upper", "interval_probability"};
  for (int q = 0; q < 4 && o->est[k]; q++) { /* not estimated: no estimate, no interval (bounds below) */
    const double *v = q == 0 ? o->mean[k] : q == 1 ? o->lower[k] : q == 2 ? o->upper[k] : o->mass[k];
    snprintf(path, sizeof path, "%s/%s_%s", grp, pre, stat[q]);
    if (q == 0)
      snprintf(lname, sizeof lname, "%s: provisional estimate of the final count (certain count + mean of the %lld "
               "Monte Carlo draws of the unresolved crossings' outcomes; final months: the count)", what,
               (long long)o->ndraws);
    else if (q < 3)
      snprintf(lname, sizeof lname, "%s: %s bound of the %d%% Monte Carlo interval of the final count (type-7 quantile "
               "of %lld draws; widened to the integer beyond the mean when the mean lies outside)", what, stat[q], pct,
               (long long)o->ndraws);
    else
      snprintf(lname, sizeof lname, "%s: share of the Monte Carlo draws inside [lower, upper] (at least the level up to "
               "Monte Carlo error; more for small counts, whose laws are discrete)", what);
    EMI_CALL(emi_h5_write_array(f, path, EMI_H5_DOUBLE, 2, dims, sc, row0, nrows, v + row0 * row, q < 3 ? "persons" : "1",
                                lname));
  }
  EMI_CALL(emi_h5_chunk_rows(EMI_H5_INT64, 2, dims, &chunk));
  EMI_CALL(emi_h5_partition(dims[0], chunk, ctx->comm, &row0, &nrows));
  snprintf(path, sizeof path, "%s/%s_unresolved", grp, pre);
  snprintf(lname, sizeof lname, "%s: crossings whose outcome is not yet certain at the data end (they get a probability)",
           what);
  EMI_CALL(emi_h5_write_array(f, path, EMI_H5_INT64, 2, dims, sc, row0, nrows, o->unres[k] + row0 * row, "crossings",
                              lname));
  snprintf(path, sizeof path, "%s/%s_certain", grp, pre);
  snprintf(lname, sizeof lname, "%s: outcomes certain at the data end (the final count lies in [certain, certain + "
           "unresolved] whatever the model)", what);
  EMI_CALL(emi_h5_write_array(f, path, EMI_H5_INT64, 2, dims, sc, row0, nrows, o->cert[k] + row0 * row, "persons",
                              lname));
  for (int q = 0; q < 4 && o->est[k]; q++) {
    const double *v = q == 0 ? o->tmean[k] : q == 1 ? o->tlower[k] : q == 2 ? o->tupper[k] : o->tmass[k];
    snprintf(path, sizeof path, "%s/%s_total_%s", grp, pre, stat[q]);
    if (q == 0) snprintf(lname, sizeof lname, "%s, all citizenships: provisional estimate of the final count", what);
    else if (q < 3)
      snprintf(lname, sizeof lname, "%s, all citizenships: %s bound of the %d%% Monte Carlo interval", what, stat[q],
               pct);
    else
      snprintf(lname, sizeof lname, "%s, all citizenships: share of the Monte Carlo draws inside [lower, upper]", what);
    EMI_CALL(write_1d(ctx, f, path, scm, (uint64_t)c->nmonths, EMI_H5_DOUBLE, v, sizeof(double), q < 3 ? "persons" : "1",
                      lname));
  }
  char key[96], note[640];
  snprintf(key, sizeof key, "%s_status", pre);
  EMI_CALL(emi_h5_attr_str(f, grp, key, o->est[k] ? "estimated" : "not estimated"));
  if (o->est[k] && o->unresolved[k] == 0)
    snprintf(note, sizeof note, "no unresolved crossing: every provisional count is certain (%s_certain), nothing "
             "to learn (%" PRId64 " completed crossings in the training period)", pre, o->ntrain[k]);
  else if (o->est[k])
    snprintf(note, sizeof note, "%" PRId64 " completed crossings learnt from (at least %" PRId64 " needed); %" PRId64
             " of the %" PRId64 " unresolved crossings in states with less than one completed crossing (the prior's "
             "probability)", o->ntrain[k], o->min_training, o->prior_only[k], o->unresolved[k]);
  else
    snprintf(note, sizeof note, "not estimated: %" PRId64 " completed crossings in the training period, fewer than "
             "min_training_crossings = %" PRId64 "%s; only the bounds [%s_certain, %s_certain + %s_unresolved] are "
             "given. Longer data, a longer --nowcast-training-days (0: all) or --no-nowcast", o->ntrain[k],
             o->min_training, k == EMI_NOWCAST_UND ? " (or the departures not estimated)" : "", pre, pre, pre);
  snprintf(key, sizeof key, "%s_status_note", pre);
  EMI_CALL(emi_h5_attr_str(f, grp, key, note));
  snprintf(key, sizeof key, "%s_prior_only", pre);
  EMI_CALL(emi_h5_attr_int(f, grp, key, o->prior_only[k]));
  EMI_CALL(emi_h5_attr_int(f, grp, "min_training_crossings", o->min_training));
  if (k == EMI_NOWCAST_UND && o->est[k])
    EMI_CALL(emi_h5_attr_int(f, grp, "departures_bounded_draws", o->clamped));
  char from[16];
  fmt_day(from, o->train_from[k]);
  snprintf(key, sizeof key, "%s_training_crossings", pre);
  EMI_CALL(emi_h5_attr_int(f, grp, key, o->ntrain[k]));
  snprintf(key, sizeof key, "%s_training_from", pre);
  EMI_CALL(emi_h5_attr_str(f, grp, key, from));
  snprintf(key, sizeof key, "%s_unresolved", pre);
  EMI_CALL(emi_h5_attr_int(f, grp, key, o->unresolved[k]));
  EMI_CALL(emi_h5_attr_double(f, grp, "level", o->level));
  EMI_CALL(emi_h5_attr_int(f, grp, "draws", o->ndraws));
  EMI_CALL(emi_h5_attr_uint(f, grp, "seed", o->seed));
  EMI_CALL(emi_h5_attr_double(f, grp, "prior_strength", o->kappa));
  EMI_CALL(emi_h5_attr_int(f, grp, "count_bin_days", o->count_bin_days));
  EMI_CALL(emi_h5_attr_int(f, grp, "training_days", o->training_days));
  EMI_CALL(emi_h5_attr_str(f, grp, "method",
                           "each unresolved crossing gets the probability that a completed crossing of the same cell "
                           "(months before the data end, days abroad or in the country so far in count_bin_days bins, "
                           "still there or not; citizenship; sex x age group) ended with the outcome, a Beta posterior "
                           "shrunk toward the coarser cell (prior Beta(1/2, 1/2) at the top, prior_strength crossings "
                           "below); Monte Carlo: every level's p drawn from its posterior given its parent's draw, then "
                           "binomial per cell (Philox4x32-10 keyed by seed, level, cell, draw); undeclared departures "
                           "bounded by the same draw's departures cell by cell; estimate = certain count + mean of the "
                           "draws, interval = type-7 quantiles widened to hold it; a kind with fewer than "
                           "min_training_crossings completed crossings is not estimated (<kind>_status)"));
  return EMI_SUCCESS;
}

/* hashes[0..2]: the background SHA-256 of the input, the link table, the declarations (NULL when absent) */
static emi_err_t write_output(emi_ctx_t *ctx, const char *out, const cfg_t *c, const run_info_t *r, const int64_t *tab,
                              const nowcast_out_t *nco, const emi_loss_out_t *loss, emi_file_hash_t *hashes[3])
{
  emi_err_t err = EMI_SUCCESS;
  emi_h5_file_t *f = NULL;
  emi_provenance_t *prov = NULL;
  char **months = NULL;
  const char **cits = NULL;
  uint8_t *prov_flag = NULL, *undecl_flag = NULL;
  static const char *const sexes[NSEX] = {"M", "F", "X"};
  const char *L = "/linkage", *U = "/undeclared";
  EMI_TRY(emi_output_begin(ctx, out, &f, &prov));
  /* started at start-up (emi_file_hash_start): mostly done by now */
  EMI_TRY(emi_provenance_add_input_hash(prov, &hashes[0]));
  if (r->have_links) EMI_TRY(emi_provenance_add_input_hash(prov, &hashes[1]));
  if (r->have_decl) EMI_TRY(emi_provenance_add_input_hash(prov, &hashes[2]));
  EMI_CALLOC(months, (size_t)c->nmonths, "month labels");
  EMI_CALLOC(cits, (size_t)c->ncit, "citizenship labels");
  EMI_CALLOC(prov_flag, (size_t)c->nmonths, "provisional flags");
  EMI_CALLOC(undecl_flag, (size_t)c->nmonths, "provisional flags");
  for (int m = 0; m < c->nmonths; m++) {
    int mm = c->month0 + m;
    if (!(months[m] = malloc(16))) EMI_FAIL(EMI_ERR_NOMEM, "cannot allocate a month label");
    snprintf(months[m], 16, "%04d-%02d", mm / 12, mm % 12 + 1);
    int64_t last = (int64_t)month_first_day(mm + 1) - 1;
    prov_flag[m] = last + c->rule.window_days - 1 > r->data_end;
    undecl_flag[m] = prov_flag[m] || last + c->decl_after > r->data_end;
  }
  for (int k = 0; k < c->ncit; k++) cits[k] = r->cit_codes[k];
  /* /linkage and /undeclared each get the table coordinates: netCDF readers (xarray) resolve a
   * variable's dimensions in its own group and its ancestors only (emi_h5_write_array checks it) */
  for (int g = 0; g < 1 + r->have_decl; g++) {
    const char *G = g ? U : L;
    EMI_TRY(emi_h5_write_scale_str(f, G, "month", (uint64_t)c->nmonths, (const char *const *)months, "",
                                   "calendar month of the crossing (YYYY-MM, UTC)"));
    EMI_TRY(emi_h5_write_scale_str(f, G, "citizenship", (uint64_t)c->ncit, cits, "",
                                   "citizenship of the crossing's document (ISO 3166-1 alpha-3)"));
    EMI_TRY(emi_h5_write_scale_str(f, G, "sex", NSEX, sexes, "", "sex (X: unspecified)"));
    EMI_TRY(emi_h5_write_scale_str(f, G, "age_group", EMI_NAGE_GROUPS, emi_age_group_labels, "",
                                   "age group: year of the crossing minus birth year"));
  }
  EMI_TRY(emi_h5_write_scale_str(f, L, "reject_reason", EMI_LINK_NREJECTS, emi_link_reject_names, "",
                                 "reason a record was rejected"));
  EMI_TRY(emi_h5_write_scale_str(f, L, "repair_kind", EMI_NREPAIRS, emi_repair_names, "", "kind of sequence repair"));
  const char *sc[4] = {"/linkage/month", "/linkage/citizenship", "/linkage/sex", "/linkage/age_group"},
             *su[4] = {"/undeclared/month", "/undeclared/citizenship", "/undeclared/sex", "/undeclared/age_group"};
  uint64_t dims[4] = {(uint64_t)c->nmonths, (uint64_t)c->ncit, NSEX, EMI_NAGE_GROUPS}, chunk, row0, nrows;
  size_t row = (size_t)c->ncit * NSEX * EMI_NAGE_GROUPS;
  EMI_TRY(emi_h5_chunk_rows(EMI_H5_INT64, 4, dims, &chunk));
  EMI_TRY(emi_h5_partition(dims[0], chunk, ctx->comm, &row0, &nrows));
  static const struct { int kind; const char *path, *long_name; } tabs[] = {
    {T_DEP, "/linkage/migrant_departures", "migrant departures (12/16 rule) by month of the exit"},
    {T_ARR, "/linkage/migrant_arrivals", "migrant arrivals (12/16 rule) by month of the entry"},
    {T_PDEP, "/linkage/pending_departures",
     "residents' exits whose window is open at the data end and whose outcome is not yet certain"},
    {T_PARR, "/linkage/pending_arrivals",
     "non-residents' entries whose window is open at the data end and whose outcome is not yet certain"},
    {T_UNDECL, "/undeclared/departures", "migrant departures without a declaration in the matching window"},
    {T_DECL, "/undeclared/declared_departures", "migrant departures with a declaration in the matching window"},
  };
  for (size_t k = 0; k < sizeof tabs / sizeof tabs[0]; k++) {
    if (tabs[k].kind >= T_UNDECL && !r->have_decl) continue;
    EMI_TRY(emi_h5_write_array(f, tabs[k].path, EMI_H5_INT64, 4, dims, tabs[k].kind >= T_UNDECL ? su : sc, row0, nrows,
                               tab + (size_t)tabs[k].kind * c->ncell + row0 * row, "persons", tabs[k].long_name));
  }
  if (loss->on) EMI_TRY(emi_loss_write(f, ctx->comm, loss, dims, sc, su, row0, nrows, row));
  EMI_TRY(write_1d(ctx, f, "/linkage/provisional", sc[0], (uint64_t)c->nmonths, EMI_H5_UINT8, prov_flag, 1, "1",
                   "1: some crossing of the month has its window open at the data end (counts not final)"));
  EMI_TRY(write_1d(ctx, f, "/linkage/rejects", "/linkage/reject_reason", EMI_LINK_NREJECTS, EMI_H5_INT64,
                   r->counts.rejects, sizeof(int64_t), "records", "rejected records by reason"));
  EMI_TRY(write_1d(ctx, f, "/linkage/repairs", "/linkage/repair_kind", EMI_NREPAIRS, EMI_H5_INT64, r->repairs,
                   sizeof(int64_t), "records", "sequence repairs by kind"));
  {
    char d0[16], d1[16];
    fmt_day(d0, r->data_start);
    fmt_day(d1, r->data_end);
    EMI_TRY(emi_h5_attr_int(f, L, "records_in", r->counts.in));
    EMI_TRY(emi_h5_attr_int(f, L, "records_accepted", r->counts.accepted));
    EMI_TRY(emi_h5_attr_int(f, L, "records_rejected", r->counts.in - r->counts.accepted));
    EMI_TRY(emi_h5_attr_int(f, L, "persons", r->persons));
    EMI_TRY(emi_h5_attr_str(f, L, "input_format", r->is_h5 ? "hdf5 /crossings/records" : "csv"));
    EMI_TRY(emi_h5_attr_str(f, L, "person_key_hash", r->keyed ? "HMAC-SHA-256 keyed by --key-file, first 64 bits"
                                                               : "SHA-256 (unkeyed), first 64 bits"));
    EMI_TRY(emi_h5_attr_int(f, L, "records_before_period", r->before_period));
    EMI_TRY(emi_h5_attr_int(f, L, "records_after_period", r->after_period));
    EMI_TRY(emi_h5_attr_str(f, L, "data_start", d0));
    EMI_TRY(emi_h5_attr_str(f, L, "data_end", d1));
    EMI_TRY(emi_h5_attr_str(f, L, "data_start_rule", r->start_rule));
    EMI_TRY(emi_h5_attr_str(f, L, "data_end_rule", r->end_rule));
    EMI_TRY(emi_h5_attr_int(f, L, "data_gap_days", r->gap_days));
    EMI_TRY(emi_h5_attr_double(f, L, "data_min_share", r->min_share));
    EMI_TRY(emi_h5_attr_int(f, L, "warmup_days", r->warmup_days));
    EMI_TRY(emi_h5_attr_int(f, L, "window_days", c->rule.window_days));
    EMI_TRY(emi_h5_attr_int(f, L, "threshold_days", c->rule.threshold_days));
    EMI_TRY(emi_h5_attr_str(f, L, "rule", r->rule_name));
    EMI_TRY(emi_h5_attr_str(f, L, "initial_status", r->init_name));
    EMI_TRY(emi_h5_attr_int(f, L, "duplicate_tolerance_s", c->repair.dup_tol_s));
    EMI_TRY(emi_h5_attr_str(f, L, "impute", r->impute_name));
  }
  if (r->have_links) {
    EMI_TRY(emi_h5_attr_int(f, L, "link_pairs", r->links.pairs));
    EMI_TRY(emi_h5_attr_int(f, L, "link_keys_merged", r->links.keys_merged));
    EMI_TRY(emi_h5_attr_int(f, L, "link_records_relinked", r->links.records_relinked));
    EMI_TRY(emi_h5_attr_int(f, L, "link_keys_unknown", r->links.keys_unknown));
  }
  if (r->have_decl) {
    EMI_TRY(write_1d(ctx, f, "/undeclared/provisional", su[0], (uint64_t)c->nmonths, EMI_H5_UINT8, undecl_flag, 1, "1",
                     "1: a departure's classification or declaration window is still open at the data end"));
    EMI_TRY(emi_h5_write_scale_str(f, U, "declaration_reject_reason", EMI_DECL_NREJECTS, emi_decl_reject_names, "",
                                   "reason a declaration was rejected"));
    EMI_TRY(write_1d(ctx, f, "/undeclared/declaration_rejects", "/undeclared/declaration_reject_reason",
                     EMI_DECL_NREJECTS, EMI_H5_INT64, r->decl.rejects, sizeof(int64_t), "records",
                     "rejected declarations by reason"));
    EMI_TRY(emi_h5_attr_int(f, U, "declarations_in", r->decl.in));
    EMI_TRY(emi_h5_attr_int(f, U, "declarations_accepted", r->decl.accepted));
    EMI_TRY(emi_h5_attr_int(f, U, "declarations_rejected", r->decl.in - r->decl.accepted));
    EMI_TRY(emi_h5_attr_int(f, U, "declared_before_days", c->decl_before));
    EMI_TRY(emi_h5_attr_int(f, U, "declared_after_days", c->decl_after));
  }
  if (nco->on) {
    EMI_TRY(emi_provenance_set_rng(prov, "philox4x32-10", nco->seed));
    const char *const *ml = (const char *const *)months;
    EMI_TRY(write_nowcast(ctx, f, c, nco, EMI_NOWCAST_DEP, L, "migrant departures", ml, cits));
    EMI_TRY(write_nowcast(ctx, f, c, nco, EMI_NOWCAST_ARR, L, "migrant arrivals", ml, cits));
    if (r->have_decl)
      EMI_TRY(write_nowcast(ctx, f, c, nco, EMI_NOWCAST_UND, U, "undeclared migrant departures", ml, cits));
  }
  EMI_TRY(emi_output_finish(ctx, &f, prov));
cleanup:
  emi_h5_file_abort(&f);
  emi_provenance_destroy(&prov);
  if (months)
    for (int m = 0; m < c->nmonths; m++) free(months[m]);
  free(months);
  free(cits);
  free(prov_flag);
  free(undecl_flag);
  return err;
}

/* ------------------------------------------------------------------ ingest: rejects, the data's days */
/* One reject example on the log (k: its rank among the examples): file:line, field, found, expected. */
static void log_example(const char *file, const char *unit, const emi_link_example_t *e, const char *field,
                        const char *reason, const char *expected, int k)
{
  emi_log_warn("classify: reject example %d: %s: %s %" PRId64 "%s%s: found '%s': expected %s (reason %s)", k + 1, file,
               unit, e->line, field ? ", field " : "", field ? field : "", e->why.found, expected, reason);
}

/* How the data start (end: end = 1) was set, for the log and the attributes data_start_rule, data_end_rule. */
static void span_rule(char *out, size_t size, int end, int given, int why, int32_t gap_days, double min_share)
{
  const char *dir = end ? "before" : "after";
  if (given) {
    snprintf(out, size, "%s", end ? "--data-end" : "--data-start");
    return;
  }
  if (!why) {
    snprintf(out, size, "detected: the %s record's day", end ? "last" : "first");
    return;
  }
  char gap[64] = "", vol[128] = "";
  if (why & 1) snprintf(gap, sizeof gap, "records beyond more than %d days without any", (int)gap_days);
  if (why & 2)
    snprintf(vol, sizeof vol, "%s%s days with fewer than %g x the median records a day of the 28 days with records %s",
             why & 1 ? " and " : "", end ? "last" : "first", min_share, dir);
  snprintf(out, size, "detected: the %s record's day once %s%s are dropped", end ? "last" : "first", gap, vol);
}

/* Collective.  The data start S and end E (r->data_start, r->data_end): the --data-start / --data-end given
 * (the ingest rejected the records outside), else detected from the accepted records per day
 * (emi_link_data_span: integer counts summed over ranks, so every rank finds the same days); the records
 * outside [S, E] are removed from the store and counted as rejects before_data_start / after_data_end. */
static emi_err_t data_span(emi_ctx_t *ctx, const emi_link_ingest_t *ing, int have_s, int have_e,
                           emi_link_store_t **store, run_info_t *r)
{
  emi_err_t err = EMI_SUCCESS;
  emi_link_counts_t *c = &r->counts;
  snprintf(r->start_day, sizeof r->start_day, "none");
  snprintf(r->end_day, sizeof r->end_day, "none");
  if (c->accepted == 0 || c->min_day > c->max_day) return EMI_SUCCESS; /* the caller stops: no record */
  const int32_t lo = c->min_day, hi = c->max_day;
  const size_t nd = (size_t)((int64_t)hi - lo + 1);
  r->day_lo = lo, r->day_hi = hi;
  EMI_CALLOC(r->day_count, nd, "records per day");
  emi_link_store_days(*store, lo, hi, r->day_count);
  if (nd > (size_t)INT32_MAX) EMI_FAIL(EMI_ERR_INTERNAL, "classify: too many days for one reduction");
  EMI_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, r->day_count, (int)nd, MPI_INT64_T, MPI_SUM, ctx->comm));
  int32_t S, E;
  int ws, we;
  emi_link_data_span(r->day_count, lo, hi, r->gap_days, r->min_share, &S, &E, &ws, &we);
  char d0[16], d1[16];
  if (have_e) {
    E = ing->hi_day;
    if ((int64_t)E > (int64_t)hi + 31) {
      fmt_day(d0, hi), fmt_day(d1, E);
      EMI_FAIL(EMI_ERR_INPUT, "classify: --data-end %s is more than 31 days after the last accepted record (%s): windows "
               "after the data would count as closed; expected a data end on or shortly after %s", d1, d0, d0);
    }
  }
  if (have_s) {
    S = ing->lo_day;
    if ((int64_t)S < (int64_t)lo - 31) {
      fmt_day(d0, lo), fmt_day(d1, S);
      EMI_FAIL(EMI_ERR_INPUT, "classify: --data-start %s is more than 31 days before the first accepted record (%s): "
               "the warm-up would end before the histories are known; expected a data start on or shortly before %s",
               d1, d0, d0);
    }
  }
  span_rule(r->start_rule, sizeof r->start_rule, 0, have_s, ws, r->gap_days, r->min_share);
  span_rule(r->end_rule, sizeof r->end_rule, 1, have_e, we, r->gap_days, r->min_share);
  int64_t cut[2] = {0, 0};
  if (S > lo || E < hi) emi_link_store_trim(*store, S, E, &cut[0], &cut[1]); /* the same on every rank */
  EMI_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, cut, 2, MPI_INT64_T, MPI_SUM, ctx->comm));
  c->rejects[EMI_LINK_REJECT_BEFORE_START] += cut[0];
  c->rejects[EMI_LINK_REJECT_AFTER_END] += cut[1];
  c->accepted -= cut[0] + cut[1];
  r->data_start = S, r->data_end = E;
  fmt_day(r->start_day, S), fmt_day(r->end_day, E);
  for (int q = 0; q < 2; q++) {
    if (!cut[q]) continue;
    int32_t a = INT32_MAX, b = INT32_MIN; /* the days of the records cut */
    for (int32_t d = lo; d <= hi; d++)
      if (r->day_count[d - lo] > 0 && (q ? d > E : d < S)) {
        if (d < a) a = d;
        b = d;
      }
    fmt_day(d0, a), fmt_day(d1, b);
    emi_log_warn("classify: %s: %" PRId64 " records dated %s .. %s, %s the data %s %s (%s): rejected as %s", r->in,
                 cut[q], d0, d1, q ? "after" : "before", q ? "end" : "start", q ? r->end_day : r->start_day,
                 q ? r->end_rule : r->start_rule, q ? "after_data_end" : "before_data_start");
  }
  emi_log_info("classify: data start %s (%s), data end %s (%s)", r->start_day, r->start_rule, r->end_day, r->end_rule);
cleanup:
  return err;
}

/* ------------------------------------------------------------------ the command */
emi_err_t emi_cmd_classify(emi_ctx_t *ctx)
{
  emi_err_t err = EMI_SUCCESS, local = EMI_SUCCESS;
  const char *out = NULL, *key_file = NULL, *decl_path = NULL, *link_path = NULL, *fmt = NULL, *home = NULL;
  emi_sort_item_t *items = NULL, *tmp = NULL, *decl = NULL;
  emi_link_store_t *store = NULL;
  emi_file_hash_t *hashes[3] = {NULL, NULL, NULL}; /* input, link table, declarations */
  emi_link_pair_t *pairs = NULL;
  size_t npairs = 0;
  size_t n = 0, ndecl = 0, *hist = NULL, *starts = NULL;
  int64_t *tabs = NULL, *tab = NULL, *rep_th = NULL;
  int16_t *cit_index = NULL;
  uint8_t *seen = NULL;
  char (*cit_codes)[4] = NULL;
  scratch_t *scr = NULL;
  int64_t *ncb_th = NULL; /* per-thread nowcast counts (nc_len each) */
  nc_entry_t *nc_ent = NULL; /* the nowcast's leaf counts, summed over threads and ranks, sorted by key */
  size_t nc_nent = 0;
  int64_t *loss_th = NULL; /* per-thread loss-correction counts (EMI_LOSS_BLOCK_LEN each) */
  emi_loss_out_t loss;
  memset(&loss, 0, sizeof loss);
  int32_t bin_start[EMI_NOWCAST_MAX_BINS + 1];
  nowcast_out_t nco;
  emi_link_hasher_t hasher;
  run_info_t r;
  cfg_t c;
  memset(&r, 0, sizeof r);
  memset(&c, 0, sizeof c);
  memset(&nco, 0, sizeof nco);
  const int nthreads = omp_get_max_threads();
  double t0 = emi_clock_monotonic();

  /* options */
  r.in = ctx->pos[0];
  int64_t i64;
  double max_share;
  int check = 1;
  EMI_TRY(emi_opts_get_str(ctx->opts, "output", &out));
  if (!out) EMI_FAIL(EMI_ERR_USAGE, "classify: --output (-o) OUT.h5 is required");
  EMI_TRY(emi_output_check_path(out));
  if (emi_opts_is_set(ctx->opts, "key-file")) EMI_TRY(emi_opts_get_str(ctx->opts, "key-file", &key_file));
  if (emi_opts_is_set(ctx->opts, "link-table")) EMI_TRY(emi_opts_get_str(ctx->opts, "link-table", &link_path));
  if (emi_opts_is_set(ctx->opts, "declarations")) EMI_TRY(emi_opts_get_str(ctx->opts, "declarations", &decl_path));
  {
    const char *ins[4] = {r.in, key_file, link_path, decl_path};
    EMI_TRY(emi_output_check_paths(ctx, &out, 1, ins, 4));
  }
  EMI_TRY(emi_opts_get_str(ctx->opts, "input-format", &fmt));
  EMI_TRY(emi_opts_get_real(ctx->opts, "max-reject-share", &max_share));
  EMI_TRY(emi_opts_get_flag(ctx->opts, "check-countries", &check));
  EMI_TRY(emi_opts_get_int(ctx->opts, "window-days", &i64));
  c.rule.window_days = (int32_t)i64;
  EMI_TRY(emi_opts_get_int(ctx->opts, "threshold-days", &i64));
  c.rule.threshold_days = (int32_t)i64;
  if (c.rule.threshold_days > c.rule.window_days)
    EMI_FAIL(EMI_ERR_CONFIG, "classify: --threshold-days %d is more than --window-days %d: expected threshold <= window",
             (int)c.rule.threshold_days, (int)c.rule.window_days);
  EMI_TRY(emi_opts_get_str(ctx->opts, "rule", &r.rule_name));
  c.rule.continuous = !strcmp(r.rule_name, "continuous");
  EMI_TRY(emi_opts_get_str(ctx->opts, "initial-status", &r.init_name));
  c.init_citizens = !strcmp(r.init_name, "citizens-resident");
  EMI_TRY(emi_opts_get_str(ctx->opts, "home", &home));
  if (strlen(home) != 3 || home[0] < 'A' || home[0] > 'Z' || home[1] < 'A' || home[1] > 'Z' || home[2] < 'A' ||
      home[2] > 'Z')
    EMI_FAIL(EMI_ERR_CONFIG, "classify: --home '%s': expected an ISO 3166-1 alpha-3 code (three capital letters)", home);
  c.home = emi_link_cit(emi_link_v(home, 0, 0));
  EMI_TRY(emi_opts_get_int(ctx->opts, "warmup-days", &i64));
  r.warmup_days = i64 < 0 ? c.rule.window_days : (int32_t)i64;
  EMI_TRY(emi_opts_get_int(ctx->opts, "duplicate-tolerance-minutes", &i64));
  c.repair.dup_tol_s = (int32_t)(i64 * 60);
  EMI_TRY(emi_opts_get_str(ctx->opts, "impute", &r.impute_name));
  c.repair.impute = !strcmp(r.impute_name, "early") ? EMI_REPAIR_EARLY
                  : !strcmp(r.impute_name, "late") ? EMI_REPAIR_LATE : EMI_REPAIR_MIDPOINT;
  EMI_TRY(emi_opts_get_int(ctx->opts, "declared-before-days", &i64));
  c.decl_before = (int32_t)i64;
  EMI_TRY(emi_opts_get_int(ctx->opts, "declared-after-days", &i64));
  c.decl_after = (int32_t)i64;
  EMI_TRY(emi_opts_get_flag(ctx->opts, "nowcast", &nco.on));
  EMI_TRY(emi_opts_get_int(ctx->opts, "nowcast-draws", &nco.ndraws));
  EMI_TRY(emi_opts_get_real(ctx->opts, "nowcast-level", &nco.level));
  EMI_TRY(emi_opts_get_real(ctx->opts, "nowcast-prior-strength", &nco.kappa));
  EMI_TRY(emi_opts_get_int(ctx->opts, "nowcast-count-bin-days", &nco.count_bin_days));
  EMI_TRY(emi_opts_get_int(ctx->opts, "nowcast-training-days", &nco.training_days));
  EMI_TRY(emi_opts_get_int(ctx->opts, "nowcast-min-training", &nco.min_training));
  EMI_TRY(emi_opts_get_int(ctx->opts, "seed", &i64));
  nco.seed = (uint64_t)i64;
  if (nco.on && nco.count_bin_days > c.rule.threshold_days)
    EMI_FAIL(EMI_ERR_CONFIG, "classify: --nowcast-count-bin-days %lld is more than --threshold-days %d: expected a bin "
             "width up to the threshold (one bin would hold every count)", (long long)nco.count_bin_days,
             (int)c.rule.threshold_days);
  c.nowcast = nco.on;
  EMI_TRY(emi_opts_get_flag(ctx->opts, "loss-adjustment", &loss.on));
  {
    int nl = 0;
    const char *const *li = NULL;
    EMI_TRY(emi_opts_get_list(ctx->opts, "land-border-points", &nl, &li));
    EMI_TRY(emi_loss_points_parse(nl, li, &loss));
  }
  c.loss = loss.on;
  EMI_TRY(emi_opts_get_int(ctx->opts, "loss-min-span-days", &i64));
  c.loss_span_days = loss.span_days = (int32_t)i64;
  emi_link_ingest_t ing = {.hasher = &hasher, .countries = check ? &emi_iso3166_alpha3 : NULL, .lo_day = INT32_MIN,
                           .hi_day = INT32_MAX, .land_points = loss.land_points, .nland = loss.nland};
  /* the tabulation period (months) and the data's days: explicit bounds reject at ingest, detected ones after it */
  int pstart = -1, pend = -1, have_dstart = 0, have_dend = 0;
  if (emi_opts_is_set(ctx->opts, "period-start")) EMI_TRY(emi_opts_get_month(ctx->opts, "period-start", &pstart));
  if (emi_opts_is_set(ctx->opts, "period-end")) EMI_TRY(emi_opts_get_month(ctx->opts, "period-end", &pend));
  if (pstart >= 0 && pend >= 0 && pend < pstart)
    EMI_FAIL(EMI_ERR_CONFIG, "classify: --period-end is before --period-start");
  for (int q = 0; q < 2; q++) {
    const char *name = q ? "data-end" : "data-start", *v = NULL;
    if (!emi_opts_is_set(ctx->opts, name)) continue;
    EMI_TRY(emi_opts_get_str(ctx->opts, name, &v));
    int32_t d, sec;
    if (!v || strlen(v) != 10 || !emi_crossing_parse_time(v, 10, &d, &sec)) {
      char where[1200];
      emi_opts_describe(ctx->opts, name, where, sizeof where);
      EMI_FAIL(EMI_ERR_CONFIG, "classify: %s: expected a date YYYY-MM-DD (years 1900..2199)", where);
    }
    if (q) ing.hi_day = d, have_dend = 1;
    else ing.lo_day = d, have_dstart = 1;
  }
  ing.quiet_bounds = 1; /* an explicit bound is a cut: its rejects are counted, not shown as bad records */
  if (have_dstart && have_dend && ing.hi_day < ing.lo_day)
    EMI_FAIL(EMI_ERR_CONFIG, "classify: --data-end is before --data-start");
  EMI_TRY(emi_opts_get_int(ctx->opts, "data-gap-days", &i64));
  r.gap_days = (int32_t)i64;
  EMI_TRY(emi_opts_get_real(ctx->opts, "data-min-share", &r.min_share));

  /* the provenance's SHA-256 of the inputs, on rank 0 in the background while the run goes on */
  EMI_TRY(emi_file_hash_start(ctx->comm, r.in, &hashes[0]));
  if (link_path) EMI_TRY(emi_file_hash_start(ctx->comm, link_path, &hashes[1]));
  if (decl_path) EMI_TRY(emi_file_hash_start(ctx->comm, decl_path, &hashes[2]));

  /* 1. ingest */
  local = emi_link_hasher_init(&hasher, key_file);
  EMI_TRY(emi_mpi_agree(ctx->comm, local, NULL));
  r.keyed = hasher.keyed;
  if (link_path) {
    r.have_links = 1;
    EMI_TRY(emi_link_read_table(ctx->comm, link_path, &hasher, &pairs, &npairs));
    ing.pairs = pairs, ing.npairs = npairs; /* applied to the records at ingest */
  }
  if (!strcmp(fmt, "auto")) {
    int h5 = ctx->rank == 0 ? is_hdf5(r.in) : 0;
    EMI_MPI_TRY(MPI_Bcast(&h5, 1, MPI_INT, 0, ctx->comm));
    r.is_h5 = h5;
  } else {
    r.is_h5 = !strcmp(fmt, "h5");
  }
  if (r.is_h5) EMI_TRY(emi_link_read_h5(ctx->comm, r.in, &ing, &store, &r.counts));
  else EMI_TRY(emi_link_read_csv(ctx->comm, r.in, &ing, &store, &r.counts));
  /* the data start S and end E: explicit, or detected from the records per day (README, classify, "The data
   * start and end"); the records outside [S, E] are rejects before_data_start / after_data_end */
  EMI_TRY(data_span(ctx, &ing, have_dstart, have_dend, &store, &r));
  const int64_t rejected = r.counts.in - r.counts.accepted;
  /* an explicit --data-start/--data-end is a cut the user asked for: its rejects are not bad input */
  const int64_t bad = rejected - (have_dstart ? r.counts.rejects[EMI_LINK_REJECT_BEFORE_START] : 0) -
                      (have_dend ? r.counts.rejects[EMI_LINK_REJECT_AFTER_END] : 0);
  for (int k = 0; k < EMI_LINK_NREJECTS; k++)
    if (r.counts.rejects[k]) emi_log_info("classify: %" PRId64 " rejected: %s", r.counts.rejects[k], emi_link_reject_names[k]);
  for (int k = 0; k < r.counts.nex; k++) {
    const emi_link_example_t *e = &r.counts.ex[k];
    log_example(r.in, r.is_h5 ? "record" : "line", e, e->why.field >= 0 ? emi_crossings_fields[e->why.field] : NULL,
                emi_link_reject_names[e->why.reason],
                (int)e->why.reason < (int)EMI_NREJECTS ? emi_reject_expected[e->why.reason]
                                                       : "a date within --data-start .. --data-end", k);
  }
  emi_log_info("classify: %s: %" PRId64 " records in, %" PRId64 " accepted, %" PRId64 " rejected (%.2f s)", r.in,
               r.counts.in, r.counts.accepted, rejected, emi_clock_monotonic() - t0);
  if (r.counts.in > 0 && (double)bad > max_share * (double)r.counts.in) {
    local = EMI_SUCCESS;
    const emi_reject_info_t *b = &r.counts.bad;
    /* (the records outside --data-start/--data-end are neither examples nor the first reject: ing.quiet_bounds) */
    if (r.counts.first_bad < 0) /* every reject is a record outside the detected days: no line to name */
      local = EMI_ERROR(EMI_ERR_REJECTS, "%s: %" PRId64 " of %" PRId64 " records dated outside the data's days %s .. "
                        "%s (detected; reasons before_data_start, after_data_end: see the log), more than "
                        "--max-reject-share %.3g%%: expected records dated within the data's days, or set --data-start "
                        "/ --data-end, or (records that stop for a while and resume) a longer --data-gap-days", r.in, bad, r.counts.in, r.start_day, r.end_day, 100.0 * max_share);
    else if ((int)b->reason < (int)EMI_LINK_NREJECTS) { /* this rank holds the first reject */
      char where[64] = "";
      if (b->field >= 0) snprintf(where, sizeof where, ", field %s", emi_crossings_fields[b->field]);
      const char *expected = (int)b->reason < (int)EMI_NREJECTS ? emi_reject_expected[b->reason]
                                                      : "a date within --data-start .. --data-end";
      char cut[96] = "";
      if (rejected > bad)
        snprintf(cut, sizeof cut, " besides %" PRId64 " outside --data-start .. --data-end", rejected - bad);
      local = EMI_ERROR(EMI_ERR_REJECTS, "%s: %s %" PRId64 "%s: found '%s': expected %s (reason %s); %" PRId64 " of %" PRId64
                        " records rejected%s (%.3g%%), more than --max-reject-share %.3g%%", r.in,
                        r.is_h5 ? "record" : "line", r.counts.first_bad, where, b->found, expected,
                        emi_link_reject_names[b->reason], bad, r.counts.in, cut,
                        100.0 * (double)bad / (double)r.counts.in, 100.0 * max_share);
    }
    EMI_TRY(emi_mpi_agree(ctx->comm, local, NULL));
    EMI_FAIL(EMI_ERR_INTERNAL, "classify: the reject threshold was exceeded but no rank reported it");
  }
  if (r.counts.accepted == 0) EMI_FAIL(EMI_ERR_INPUT, "%s: no accepted crossing records", r.in);

  /* table months: the tabulation period within [the first month after the warm-up, the data end's month] */
  c.rule.end_day = r.data_end;
  {
    int64_t first = (int64_t)r.data_start + r.warmup_days;
    int m = month_of(first > INT32_MAX ? INT32_MAX : (int32_t)first);
    if (month_first_day(m) < first) m++;
    if (pstart >= 0 && pstart < m)
      emi_log_info("classify: --period-start %04d-%02d: the months before %04d-%02d are the warm-up (%d days after the "
                   "data start %s), not tabulated", pstart / 12, pstart % 12 + 1, m / 12, m % 12 + 1, (int)r.warmup_days,
                   r.start_day);
    if (pstart > m) m = pstart;
    int last = month_of(r.data_end);
    if (pend > last)
      EMI_FAIL(EMI_ERR_INPUT, "classify: --period-end %04d-%02d is after the data end %s (%s): its windows would count "
               "as closed; expected --period-end %04d-%02d or earlier", pend / 12, pend % 12 + 1, r.end_day,
               r.end_rule, last / 12, last % 12 + 1);
    if (pend >= 0) last = pend;
    c.month0 = m;
    c.nmonths = last - m + 1;
  }
  if (c.nmonths <= 0) {
    EMI_FAIL(EMI_ERR_CONFIG, "classify: the data cover %s .. %s; with the warm-up of %d days (--warmup-days) and the "
             "period given (--period-start, --period-end) no month is left to tabulate", r.start_day, r.end_day,
             (int)r.warmup_days);
  }

  /* accepted records outside the tabulated months: the warm-up and earlier (prior status), and the later ones up to
   * the data end (they close the windows of the period's crossings) */
  {
    const int32_t t0d = month_first_day(c.month0), t1d = month_first_day(c.month0 + c.nmonths) - 1;
    const int32_t d0 = r.data_start > r.day_lo ? r.data_start : r.day_lo, d1 = r.data_end < r.day_hi ? r.data_end : r.day_hi;
    for (int32_t d = d0; r.day_count && d <= d1; d++) { /* an explicit S or E may lie beyond the records */
      const int64_t k = r.day_count[d - r.day_lo];
      if (d < t0d) r.before_period += k;
      else if (d > t1d) r.after_period += k;
    }
    emi_log_info("classify: tables %04d-%02d .. %04d-%02d: %" PRId64 " accepted records before them (warm-up, prior "
                 "status), %" PRId64 " after them up to the data end (closing windows), %" PRId64 " in them",
                 c.month0 / 12, c.month0 % 12 + 1, (c.month0 + c.nmonths - 1) / 12, (c.month0 + c.nmonths - 1) % 12 + 1,
                 r.before_period, r.after_period, r.counts.accepted - r.before_period - r.after_period);
  }

  /* 2. link: the keys of the link table were merged at ingest; distribute by person and sort */
  if (link_path) {
    r.links = r.counts.links;
    emi_log_info("classify: %s: %" PRId64 " pairs; %" PRId64 " keys merged into their partner (%" PRId64
                 " records), %" PRId64 " keys of the table not in the records", link_path, r.links.pairs,
                 r.links.keys_merged, r.links.records_relinked, r.links.keys_unknown);
  }
  EMI_TRY(emi_link_store_sort(ctx->comm, &store, &items, &n));

  /* citizenship scale: the codes seen on any rank, in alphabetical order */
  EMI_CALLOC(seen, NCODES, "citizenship set");
  for (size_t i = 0; i < n; i++) seen[emi_link_cit(items[i].v)] = 1;
  EMI_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, seen, NCODES, MPI_UINT8_T, MPI_BOR, ctx->comm));
  EMI_CALLOC(cit_index, NCODES, "citizenship index");
  EMI_CALLOC(cit_codes, NCODES, "citizenship codes");
  for (int k = 0; k < NCODES; k++)
    if (seen[k]) {
      cit_index[k] = (int16_t)c.ncit;
      cit_codes[c.ncit][0] = (char)('A' + (k >> 10)), cit_codes[c.ncit][1] = (char)('A' + ((k >> 5) & 31));
      cit_codes[c.ncit][2] = (char)('A' + (k & 31)), cit_codes[c.ncit][3] = '\0';
      c.ncit++;
    }
  c.cit_index = cit_index;
  r.cit_codes = cit_codes;
  c.ncg = (size_t)c.ncit * NGRP; /* a month's cells: citizenship x sex x age group */
  c.ncell = (size_t)c.nmonths * c.ncg;

  /* declarations: hashed the same way, distributed the same way, sorted by (person, day) */
  if (decl_path) {
    r.have_decl = 1;
    EMI_TRY(emi_link_read_declarations(ctx->comm, decl_path, &hasher, check ? &emi_iso3166_alpha3 : NULL, &decl,
                                       &ndecl, &r.decl));
    const int64_t drej = r.decl.in - r.decl.accepted;
    for (int k = 0; k < EMI_DECL_NREJECTS; k++)
      if (r.decl.rejects[k])
        emi_log_info("classify: %" PRId64 " declarations rejected: %s", r.decl.rejects[k], emi_decl_reject_names[k]);
    for (int k = 0; k < r.decl.nex; k++) {
      const emi_link_example_t *e = &r.decl.ex[k];
      log_example(decl_path, "line", e, e->why.field >= 0 ? emi_decl_fields[e->why.field] : NULL,
                  emi_decl_reject_names[e->why.reason], emi_decl_reject_expected[e->why.reason], k);
    }
    emi_log_info("classify: %s: %" PRId64 " declarations in, %" PRId64 " accepted, %" PRId64 " rejected", decl_path,
                 r.decl.in, r.decl.accepted, drej);
    /* rejected declarations would silently turn declared departures into undeclared ones: the crossings' rule */
    if (drej > 0 && (double)drej > max_share * (double)r.decl.in) {
      const emi_link_example_t *e = &r.decl.ex[0]; /* the same on every rank */
      char where[64] = "";
      if (e->why.field >= 0) snprintf(where, sizeof where, ", field %s", emi_decl_fields[e->why.field]);
      EMI_FAIL(EMI_ERR_REJECTS, "%s: line %" PRId64 "%s: found '%s': expected %s (reason %s); %" PRId64 " of %" PRId64
               " declarations rejected (%.3g%%), more than --max-reject-share %.3g%%", decl_path, e->line, where,
               e->why.found, emi_decl_reject_expected[e->why.reason], emi_decl_reject_names[e->why.reason], drej,
               r.decl.in, 100.0 * (double)drej / (double)r.decl.in, 100.0 * max_share);
    }
    if (drej > 0)
      emi_log_warn("classify: %s: %" PRId64 " declarations rejected (/undeclared/declaration_rejects)", decl_path, drej);
    if (link_path) EMI_TRY(emi_link_apply(ctx->comm, pairs, npairs, decl, ndecl, 0, NULL));
    EMI_TRY(emi_link_distribute(ctx->comm, &decl, &ndecl));
    EMI_MALLOC(tmp, ndecl + 1, "sort scratch");
    EMI_MALLOC(hist, EMI_SORT_HIST_LEN(ndecl), "sort histograms");
    EMI_TRY(emi_sort_items(ndecl, decl, tmp, hist));
    free(tmp), tmp = NULL;
    free(hist), hist = NULL;
    c.decl = decl ? decl : (const emi_sort_item_t *)"";
    c.ndecl = ndecl;
  }

  /* nowcast: observed-length bins (months before the data end), horizons, training periods */
  size_t maxdecl = 0;
  if (c.nowcast) {
    c.np.window_days = c.rule.window_days;
    c.np.threshold_days = c.rule.threshold_days;
    c.np.continuous = c.rule.continuous;
    c.np.decl_before_days = c.decl ? c.decl_before : 0;
    c.np.decl_after_days = c.decl ? c.decl_after : 0;
    c.np.count_bin_days = (int32_t)nco.count_bin_days;
    c.np.ncount_bins = (int)((c.rule.threshold_days + c.np.count_bin_days - 1) / c.np.count_bin_days) + 1;
    EMI_TRY(emi_nowcast_bins_monthly(r.data_end, emi_nowcast_horizon(&c.np, EMI_NOWCAST_UND), EMI_NOWCAST_MAX_BINS,
                                     bin_start, &c.np.nbins));
    c.np.bin_start = bin_start;
    EMI_TRY(emi_nowcast_check(&c.np));
    c.nstates = emi_nowcast_nstates(&c.np);
    for (int k = 0; k < EMI_NOWCAST_NKINDS; k++) {
      c.horizon[k] = emi_nowcast_horizon(&c.np, k);
      int64_t from = (int64_t)r.data_end - c.horizon[k] + 2 - nco.training_days; /* the last completed: E - D + 1 */
      if (nco.training_days == 0 || from < r.data_start) from = r.data_start;
      c.train_from[k] = nco.train_from[k] = (int32_t)from;
      nco.have[k] = k != EMI_NOWCAST_UND || c.decl != NULL;
    }
    for (size_t i = 0, run = 0; i < ndecl; i++) {
      run = i && decl[i].k0 == decl[i - 1].k0 ? run + 1 : 1;
      if (run > maxdecl) maxdecl = run;
    }
    if (c.decl) {
      int64_t late = 0;
      for (size_t i = 0; i < ndecl; i++) late += emi_link_day(decl[i].k1) > r.data_end;
      EMI_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, &late, 1, MPI_INT64_T, MPI_SUM, ctx->comm));
      if (late)
        emi_log_warn("classify: %s: %" PRId64 " declarations are dated after the data end: the tables count them, the "
                     "nowcast (which sees the data as of the data end) does not", decl_path, late);
    }
  }

  /* persons: runs of equal k0 */
  size_t np = 0, maxrun = 0;
  EMI_MALLOC(starts, n + 1, "person starts");
  for (size_t i = 0; i < n; i++)
    if (i == 0 || items[i].k0 != items[i - 1].k0) starts[np++] = i;
  starts[np] = n;
  for (size_t p = 0; p < np; p++)
    if (starts[p + 1] - starts[p] > maxrun) maxrun = starts[p + 1] - starts[p];

  /* 3-5. repair, classify, tabulate: persons over threads, one table per thread */
  const size_t tlen = (size_t)T_NKIND * c.ncell;
  EMI_CALLOC(tabs, tlen * (size_t)nthreads, "tables per thread");
  EMI_CALLOC(rep_th, (size_t)EMI_NREPAIRS * (size_t)nthreads, "repair counts");
  EMI_CALLOC(scr, (size_t)nthreads, "scratch");
  for (int th = 0; th < nthreads; th++) {
    size_t cap = 2 * maxrun + 1;
    scr[th].day = malloc(cap * sizeof(int32_t)), scr[th].sec = malloc(cap * sizeof(int32_t));
    scr[th].oday = malloc(cap * sizeof(int32_t)), scr[th].osec = malloc(cap * sizeof(int32_t));
    scr[th].osrc = malloc(cap * sizeof(int32_t));
    scr[th].dir = malloc(cap), scr[th].odir = malloc(cap), scr[th].cls = malloc(cap), scr[th].cand = malloc(cap);
    scr[th].dday = malloc((maxdecl + 1) * sizeof(int32_t)), scr[th].ountil = malloc(cap * sizeof(int32_t));
    if (!scr[th].day || !scr[th].sec || !scr[th].oday || !scr[th].osec || !scr[th].osrc || !scr[th].dir ||
        !scr[th].odir || !scr[th].cls || !scr[th].cand || !scr[th].dday || !scr[th].ountil)
      EMI_FAIL(EMI_ERR_NOMEM, "cannot allocate the per-thread scratch (%zu crossings)", cap);
    if (c.loss) {
      scr[th].lday = malloc(cap * sizeof(int32_t)), scr[th].lsec = malloc(cap * sizeof(int32_t));
      scr[th].lsrc = malloc(cap * sizeof(int32_t)), scr[th].ldir = malloc(cap), scr[th].lcls = malloc(cap);
      if (!scr[th].lday || !scr[th].lsec || !scr[th].lsrc || !scr[th].ldir || !scr[th].lcls)
        EMI_FAIL(EMI_ERR_NOMEM, "cannot allocate the per-thread scratch (%zu crossings)", cap);
    }
  }
  if (c.loss) {
    const size_t len = EMI_LOSS_BLOCK_LEN(c.ncell);
    if (!(loss_th = calloc(len * (size_t)nthreads, sizeof *loss_th)))
      EMI_FAIL(EMI_ERR_NOMEM, "cannot allocate the loss-correction counts (%d threads x %zu MB; "
               "--no-loss-adjustment: without them)", nthreads, len * sizeof *loss_th >> 20);
    for (int th = 0; th < nthreads; th++) scr[th].loss = loss_th + (size_t)th * len;
  }
  if (c.nowcast) {
    const size_t len = nc_len(&c);
    if (!(ncb_th = calloc(len * (size_t)nthreads, sizeof *ncb_th)))
      EMI_FAIL(EMI_ERR_NOMEM, "cannot allocate the nowcast counts (%d threads x %zu MB): a smaller "
               "--nowcast-count-bin-days makes them larger, fewer citizenships smaller", nthreads,
               len * sizeof *ncb_th >> 20);
    for (int th = 0; th < nthreads; th++) {
      nc_map(&c, ncb_th + (size_t)th * len, &scr[th].nc);
      const size_t hz = (size_t)c.horizon[EMI_NOWCAST_UND] > (size_t)c.horizon[EMI_NOWCAST_DEP]
                          ? (size_t)c.horizon[EMI_NOWCAST_UND] : (size_t)c.horizon[EMI_NOWCAST_DEP];
      EMI_MALLOC(scr[th].nc.run_state, hz + 1, "nowcast runs");
      EMI_MALLOC(scr[th].nc.run_days, hz + 1, "nowcast runs");
    }
  }
  if (maxrun > (size_t)INT32_MAX / 2) EMI_FAIL(EMI_ERR_INPUT, "one person key has %zu records: too many", maxrun);
  {
    char errmsg[1024] = "";
    emi_err_t first = EMI_SUCCESS;
    const long long npl = (long long)np;
    long long done = 0; /* persons classified, for the progress line (rank 0's share) */
    emi_progress_t prog;
    emi_progress_begin(&prog, "classify: histories and the rule", (double)npl, "persons");
#pragma omp parallel
    {
      int th = omp_get_thread_num();
      emi_err_t mine = EMI_SUCCESS;
#pragma omp for schedule(dynamic, 256)
      for (long long p = 0; p < npl; p++) {
        if (!mine)
          mine = person_run(&c, items + starts[p], starts[p + 1] - starts[p], &scr[th], tabs + (size_t)th * tlen,
                            rep_th + (size_t)th * EMI_NREPAIRS);
        if ((p & 8191) == 8191) {
          long long d;
#pragma omp atomic capture
          d = done += 8192;
          if (th == 0) emi_progress_update(&prog, (double)d);
        }
      }
#pragma omp critical(emi_classify_err)
      if (mine && !first) {
        first = mine;
        snprintf(errmsg, sizeof errmsg, "%s", emi_err_message());
      }
    }
    emi_progress_end(&prog, (double)npl);
    local = first ? EMI_ERROR(first, "%s", errmsg) : EMI_SUCCESS;
  }
  EMI_TRY(emi_mpi_agree(ctx->comm, local, NULL));
  tab = tabs; /* thread 0's table accumulates the others (integers: exact in any order) */
  for (int th = 1; th < nthreads; th++)
    for (size_t k = 0; k < tlen; k++) tab[k] += tabs[(size_t)th * tlen + k];
  for (int th = 0; th < nthreads; th++)
    for (int k = 0; k < EMI_NREPAIRS; k++) r.repairs[k] += rep_th[(size_t)th * EMI_NREPAIRS + (size_t)k];
  r.persons = (int64_t)np;
  if (tlen > (size_t)INT32_MAX) EMI_FAIL(EMI_ERR_INTERNAL, "tables too large for one reduction");
  EMI_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, tab, (int)tlen, MPI_INT64_T, MPI_SUM, ctx->comm));
  EMI_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, r.repairs, EMI_NREPAIRS, MPI_INT64_T, MPI_SUM, ctx->comm));
  EMI_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, &r.persons, 1, MPI_INT64_T, MPI_SUM, ctx->comm));
  if (c.loss) { /* integer counts over threads then ranks, the estimate after: the same on every rank */
    const int64_t *raw[EMI_LOSS_NKINDS] = {tab + (size_t)T_DEP * c.ncell, tab + (size_t)T_ARR * c.ncell,
                                           r.have_decl ? tab + (size_t)T_UNDECL * c.ncell : NULL};
    EMI_TRY(emi_loss_finish(ctx->comm, loss_th, nthreads, c.ncell, raw, &loss));
    free(loss_th), loss_th = NULL;
    const emi_loss_rates_t *q = &loss.rates;
    emi_log_info("classify: loss rates from the repairs: exits %.5f (other points) %.5f (land), entries %.5f %.5f",
                 q->rate[EMI_LOSS_EXIT][EMI_LOSS_OTHER], q->rate[EMI_LOSS_EXIT][EMI_LOSS_LAND],
                 q->rate[EMI_LOSS_ENTRY][EMI_LOSS_OTHER], q->rate[EMI_LOSS_ENTRY][EMI_LOSS_LAND]);
    const emi_loss_counts_t *lc = &loss.counts;
    int64_t land = 0, other = 0;
    for (int d = 0; d < EMI_LOSS_NDIR; d++)
      land += lc->imputed[d][EMI_LOSS_LAND] + lc->observed[d][EMI_LOSS_LAND],
          other += lc->imputed[d][EMI_LOSS_OTHER] + lc->observed[d][EMI_LOSS_OTHER];
    if (loss.nland > 0 && land == 0 && other > 0) /* a misspelt list silently empties the class (from a breaker) */
      emi_log_warn("classify: none of the %" PRId64 " interior passages is at one of the %d --land-border-points "
                   "codes: the class 'land' is empty and one rate is used for every point; check the codes (they are "
                   "compared exactly, case included, with the records' border_point)", other, loss.nland);
  }
  if (c.nowcast) { /* integer counts: exact in any order, over threads then ranks */
    const size_t len = nc_len(&c);
    for (int th = 1; th < nthreads; th++)
      for (size_t k = 0; k < len; k++) ncb_th[k] += ncb_th[(size_t)th * len + k];
    for (size_t a = 0; a < len; a += (size_t)1 << 28) {
      size_t cnt = len - a < ((size_t)1 << 28) ? len - a : ((size_t)1 << 28);
      EMI_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, ncb_th + a, (int)cnt, MPI_INT64_T, MPI_SUM, ctx->comm));
    }
    EMI_TRY(nc_gather(ctx, scr, nthreads, &nc_ent, &nc_nent));
    const nc_counts_t *g = &scr[0].nc;
    for (int k = 0; k < EMI_NOWCAST_NKINDS; k++) nco.ntrain[k] = g->ntrain[k];
    nco.data_start = r.data_start;
    double tn = emi_clock_monotonic();
    EMI_TRY(nowcast_run(ctx, &c, g, nc_ent, nc_nent, &nco));
    free(nc_ent), nc_ent = NULL;
    for (int k = 0; k < EMI_NOWCAST_NKINDS; k++) {
      if (!nco.have[k]) continue;
      int last = c.nmonths - 1;
      char from[16];
      fmt_day(from, nco.train_from[k]);
      if (!nco.est[k]) {
        emi_log_info("classify: nowcast of %s: not estimated (%" PRId64 " completed crossings from %s); %" PRId64
                     " unresolved, bounds only", nc_kind_names[k], nco.ntrain[k], from, nco.unresolved[k]);
        continue;
      }
      emi_log_info("classify: nowcast of %s: learnt from %" PRId64 " completed crossings (from %s), %" PRId64
                   " unresolved; %04d-%02d: %.1f [%.1f, %.1f] (%.0f%%)", nc_kind_names[k], nco.ntrain[k], from,
                   nco.unresolved[k], (c.month0 + last) / 12, (c.month0 + last) % 12 + 1, nco.tmean[k][last],
                   nco.tlower[k][last], nco.tupper[k][last], 100 * nco.level);
    }
    emi_log_info("classify: nowcast: %lld draws (%.2f s)", (long long)nco.ndraws, emi_clock_monotonic() - tn);
    if (nco.have[EMI_NOWCAST_UND] && nco.est[EMI_NOWCAST_UND] && nco.unresolved[EMI_NOWCAST_UND] > 0)
      emi_log_info("classify: nowcast: %" PRId64 " cell draws of undeclared departures exceeded the same draw's "
                   "departures after pairing by rank and were set to them (an undeclared departure is a departure)", nco.clamped);
  }
  {
    int64_t tot[T_NKIND] = {0};
    for (int k = 0; k < T_NKIND; k++)
      for (size_t i = 0; i < c.ncell; i++) tot[k] += tab[(size_t)k * c.ncell + i];
    emi_log_info("classify: %" PRId64 " person keys; repairs: %" PRId64 " duplicates merged, %" PRId64
                 " missed exits and %" PRId64 " missed entries imputed", r.persons, r.repairs[EMI_REPAIR_DUPLICATE],
                 r.repairs[EMI_REPAIR_MISSED_EXIT], r.repairs[EMI_REPAIR_MISSED_ENTRY]);
    emi_log_info("classify: %d months from %04d-%02d: %" PRId64 " migrant departures, %" PRId64 " migrant arrivals, %"
                 PRId64 " + %" PRId64 " pending (%.2f s)", c.nmonths, c.month0 / 12, c.month0 % 12 + 1, tot[T_DEP],
                 tot[T_ARR], tot[T_PDEP], tot[T_PARR], emi_clock_monotonic() - t0);
    if (r.have_decl)
      emi_log_info("classify: %" PRId64 " migrant departures undeclared, %" PRId64 " declared", tot[T_UNDECL], tot[T_DECL]);
  }

  /* output */
  free(items), items = NULL; /* the tables are made: the records are not needed to write them */
  free(starts), starts = NULL;
  EMI_TRY(write_output(ctx, out, &c, &r, tab, &nco, &loss, hashes));
  emi_log_info("classify: wrote %s (%.2f s)", out, emi_clock_monotonic() - t0);
cleanup:
  if (scr)
    for (int th = 0; th < nthreads; th++) {
      free(scr[th].day), free(scr[th].sec), free(scr[th].oday), free(scr[th].osec), free(scr[th].osrc);
      free(scr[th].dir), free(scr[th].odir), free(scr[th].cls), free(scr[th].cand), free(scr[th].dday);
      free(scr[th].ountil);
      free(scr[th].lday), free(scr[th].lsec), free(scr[th].lsrc), free(scr[th].ldir), free(scr[th].lcls);
      free(scr[th].nc.store.e), free(scr[th].nc.run_state), free(scr[th].nc.run_days);
    }
  free(ncb_th);
  free(nc_ent);
  free(loss_th);
  emi_loss_out_free(&loss);
  nowcast_out_free(&nco);
  free(scr);
  free(items), free(tmp), free(decl), free(pairs), free(hist), free(starts), free(tabs), free(rep_th), free(cit_index), free(seen);
  free(cit_codes);
  free(r.day_count);
  emi_link_store_destroy(&store);
  for (int k = 0; k < 3; k++) emi_file_hash_destroy(&hashes[k]);
  sodium_memzero(&hasher, sizeof hasher);
  return err;
}
