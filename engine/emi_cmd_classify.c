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
 *   7. nowcast     (--no-nowcast: off) the crossings whose outcome is not certain at the data end get a
 *                  probability learnt from completed crossings censored artificially at every observed
 *                  length (kernels/emi_nowcast.h: cells by months before the data end, days abroad so far,
 *                  still abroad, the plane of a crossing after an open one, citizenship, sex x age group;
 *                  a tree of Beta posteriors), and the provisional month x citizenship totals get Monte
 *                  Carlo intervals (nowcast_run), for departures, arrivals and undeclared departures.
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
   "first month of the data: earlier crossings are rejected (date_before_period); default: the earliest record's day"},
  {"period-end", "classify", EMI_OPT_MONTH, NULL, "",
   "last month of the data: later crossings are rejected (date_after_period) and windows are censored at its last "
   "day; default: the latest record's day"},
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
  {"seed", "classify", EMI_OPT_INT, "20240601", "", "seed of the Philox streams of the nowcast's Monte Carlo", 0,
   9007199254740992.0},
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
} cfg_t;

/* Per-thread nowcast counts, one int64 block: acc[kind][state][cg][outcome] crossing-days of the completed
 * crossings, pend[kind][state][cg] unresolved crossings, base[kind][month][cg] outcomes certain at the data end
 * (completed, or decided early with no open crossing before them: the tables' counts less the crossings in the
 * shadow of an open one, which get a probability instead). */
typedef struct {
  int64_t *acc[EMI_NOWCAST_NKINDS], *pend[EMI_NOWCAST_NKINDS], *base[EMI_NOWCAST_NKINDS];
  int64_t *ntrain; /* [kind]: completed crossings learnt from */
} nc_counts_t;

static size_t nc_len(const cfg_t *c)
{
  return (size_t)EMI_NOWCAST_NKINDS * (c->nstates * c->ncg * 3 + (size_t)c->nmonths * c->ncg) + EMI_NOWCAST_NKINDS;
}
static void nc_map(const cfg_t *c, int64_t *block, nc_counts_t *nc)
{
  const size_t sc = c->nstates * c->ncg, mc = (size_t)c->nmonths * c->ncg;
  for (int k = 0; k < EMI_NOWCAST_NKINDS; k++) nc->acc[k] = block + (size_t)k * 2 * sc;
  for (int k = 0; k < EMI_NOWCAST_NKINDS; k++) nc->pend[k] = block + (size_t)EMI_NOWCAST_NKINDS * 2 * sc + (size_t)k * sc;
  for (int k = 0; k < EMI_NOWCAST_NKINDS; k++) nc->base[k] = block + (size_t)EMI_NOWCAST_NKINDS * 3 * sc + (size_t)k * mc;
  nc->ntrain = block + (size_t)EMI_NOWCAST_NKINDS * (3 * sc + mc);
}

typedef struct {
  int32_t *day, *sec, *oday, *osec, *osrc, *dday, *ountil;
  uint8_t *dir, *odir, *cls, *cand;
  nc_counts_t nc;
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
        emi_nowcast_train(&c->np, kind, h, j, y, w->nc.acc[kind] + cg * 2, c->ncg * 2);
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
      if (s >= 0) w->nc.pend[kind][(size_t)s * c->ncg + cg]++;
      else if (s == EMI_NOWCAST_YES) w->nc.base[kind][(size_t)mi * c->ncg + cg]++;
    }
  }
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
  int64_t *unres[EMI_NOWCAST_NKINDS]; /* month x citizenship */
  double *tmean[EMI_NOWCAST_NKINDS], *tlower[EMI_NOWCAST_NKINDS], *tupper[EMI_NOWCAST_NKINDS],
         *tmass[EMI_NOWCAST_NKINDS]; /* month */
} nowcast_out_t;

static void nowcast_out_free(nowcast_out_t *o)
{
  for (int k = 0; k < EMI_NOWCAST_NKINDS; k++) {
    free(o->mean[k]), free(o->lower[k]), free(o->upper[k]), free(o->mass[k]), free(o->unres[k]);
    free(o->tmean[k]), free(o->tlower[k]), free(o->tupper[k]), free(o->tmass[k]);
    o->mean[k] = o->lower[k] = o->upper[k] = o->mass[k] = o->tmean[k] = o->tlower[k] = o->tupper[k] = o->tmass[k] = NULL;
    o->unres[k] = NULL;
  }
}

/* A provisional output cell: kind, table month, citizenship. */
typedef struct {
  int kind, mi, c;
} nc_cell_t;

/* Collective.  From the global counts (summed over threads and ranks): the trees of Beta posteriors,
 * the point estimates (certain count + sum of probabilities) and the Monte Carlo intervals of every
 * month x citizenship cell and month total.  Cells are split across ranks in contiguous blocks and
 * across threads; every draw comes from streams keyed by logical indices (emi_nowcast_cell_draws), the
 * per-draw month totals are int64 sums, and the cells' intervals are gathered (no arithmetic), so the
 * result is the same for any number of ranks and threads. */
static emi_err_t nowcast_run(emi_ctx_t *ctx, const cfg_t *c, const nc_counts_t *nc,
                             nowcast_out_t *o)
{
  emi_err_t err = EMI_SUCCESS, local = EMI_SUCCESS;
  const size_t ns = c->nstates, ncit = (size_t)c->ncit, ncg = c->ncg, nl = ns * ncg, nm = (size_t)c->nmonths;
  const size_t R = (size_t)o->ndraws, ncb = (size_t)c->np.ncount_bins;
  double *muB = NULL, *muC = NULL, *muD[EMI_NOWCAST_NKINDS] = {NULL}, *res = NULL;
  double *yA[EMI_NOWCAST_NKINDS] = {NULL}, *zA[EMI_NOWCAST_NKINDS] = {NULL}, *muA = NULL;
  double *yDk[EMI_NOWCAST_NKINDS] = {NULL}, *zDk[EMI_NOWCAST_NKINDS] = {NULL}, *yCk[EMI_NOWCAST_NKINDS] = {NULL},
         *zCk[EMI_NOWCAST_NKINDS] = {NULL}, *yBk[EMI_NOWCAST_NKINDS] = {NULL}, *zBk[EMI_NOWCAST_NKINDS] = {NULL};
  int64_t *base = NULL, *xs = NULL;
  double *tot = NULL;
  int32_t *states = NULL;
  nc_cell_t *cells = NULL;
  int *rcount = NULL, *rdisp = NULL;
  size_t ncells = 0;
  EMI_CALLOC(base, (size_t)EMI_NOWCAST_NKINDS * nm * ncit, "nowcast base counts");
  for (int k = 0; k < EMI_NOWCAST_NKINDS; k++) {
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
    EMI_MALLOC(yDk[k], nl, "nowcast leaf counts");
    EMI_MALLOC(zDk[k], nl, "nowcast leaf counts");
    EMI_MALLOC(yCk[k], ns * ncit, "nowcast citizenship counts");
    EMI_MALLOC(zCk[k], ns * ncit, "nowcast citizenship counts");
    EMI_MALLOC(yBk[k], ns, "nowcast state counts");
    EMI_MALLOC(zBk[k], ns, "nowcast state counts");
    EMI_MALLOC(muD[k], nl, "nowcast probabilities");
    EMI_MALLOC(yA[k], 6 * ncb, "nowcast pooled counts");
    EMI_MALLOC(zA[k], 6 * ncb, "nowcast pooled counts");
    EMI_MALLOC(muA, 6 * ncb, "nowcast pooled probabilities");
    EMI_MALLOC(muB, ns, "nowcast state probabilities");
    EMI_MALLOC(muC, ns * ncit, "nowcast citizenship probabilities");
    /* effective counts, levels, point probabilities */
    emi_nowcast_weights(&c->np, k, ncg, nc->acc[k], yDk[k], zDk[k]);
    emi_nowcast_tree_t tr = {ns, ncit, NGRP, (size_t)c->np.nbins, ncb, 0.5, 0.5, o->kappa, yA[k], zA[k], yBk[k],
                             zBk[k], yCk[k], zCk[k], yDk[k], zDk[k]};
    emi_nowcast_tree_pool(&tr, yDk[k], zDk[k], yCk[k], zCk[k], yBk[k], zBk[k], yA[k], zA[k]);
    emi_nowcast_tree_means(&tr, muA, muB, muC, muD[k]);
    double ntr = 0;
    for (size_t a = 0; a < 6 * ncb; a++) ntr += yA[k][a] + zA[k][a];
    free(muA), muA = NULL;
    free(muB), muB = NULL;
    free(muC), muC = NULL;
    /* certain counts, unresolved crossings and means of the month x citizenship cells */
    const int64_t *cert = nc->base[k];
    for (size_t mi = 0; mi < nm; mi++)
      for (size_t ci = 0; ci < ncit; ci++) {
        int64_t b = 0, u = 0;
        for (size_t g = 0; g < NGRP; g++) b += cert[mi * ncg + ci * NGRP + g];
        double mean = (double)b;
        const size_t j = nm - 1 - mi; /* observed-length bin = months before the data end */
        if (j < (size_t)c->np.nbins)
          for (size_t q = 0; q < 6 * ncb; q++) { /* the states of bin j in the three planes */
            const size_t st = (q / (2 * ncb) * (size_t)c->np.nbins + j) * 2 * ncb + q % (2 * ncb);
            for (size_t g = 0; g < NGRP; g++) {
              const size_t l = st * ncg + ci * NGRP + g;
              u += nc->pend[k][l];
              mean += (double)nc->pend[k][l] * muD[k][l];
            }
          }
        base[((size_t)k * nm + mi) * ncit + ci] = b;
        o->unres[k][mi * ncit + ci] = u;
        o->mean[k][mi * ncit + ci] = mean;
        o->lower[k][mi * ncit + ci] = o->upper[k][mi * ncit + ci] = (double)b;
        o->mass[k][mi * ncit + ci] = 1;
        o->unresolved[k] += u;
        if (u > 0) ncells++;
      }
    if (o->unresolved[k] > 0 && ntr == 0)
      emi_log_warn("classify: nowcast: no completed crossing to learn the %s from (see --nowcast-training-days): "
                   "their probabilities are the prior's, Beta(1/2, 1/2)", nc_kind_names[k]);
  }
  /* Monte Carlo by groups (kind, month): every citizenship of the group at once (emi_nowcast_group_draws);
   * group g goes to rank g mod P (recent months hold most of the work), threads take a rank's groups */
  EMI_MALLOC(cells, ncells + 1, "nowcast groups");
  size_t ngroups = 0;
  for (int k = 0; k < EMI_NOWCAST_NKINDS; k++)
    if (o->have[k])
      for (size_t mi = 0; mi < nm; mi++) {
        int64_t u = 0;
        for (size_t ci = 0; ci < ncit; ci++) u += o->unres[k][mi * ncit + ci];
        if (u > 0) cells[ngroups++] = (nc_cell_t){k, (int)mi, 0};
      }
  const size_t per = 3 * (ncit + 1); /* lower, upper, probability content of each citizenship and the total */
  const size_t mine_n = ngroups > (size_t)ctx->rank ? (ngroups - 1 - (size_t)ctx->rank) / (size_t)ctx->size + 1 : 0;
  const int nth = omp_get_max_threads();
  if (R > UINT32_MAX) EMI_FAIL(EMI_ERR_CONFIG, "classify: --nowcast-draws %zu: too many", R);
  EMI_MALLOC(xs, (size_t)nth * (ncit + 1) * R, "nowcast draws of a group");
  EMI_MALLOC(states, (size_t)nth * 6 * ncb, "nowcast states of a bin");
  EMI_MALLOC(res, per * (ngroups + 1), "nowcast intervals");
  EMI_MALLOC(tot, per * (mine_n + 1), "nowcast intervals of this rank");
  {
    char errmsg[1024] = "";
    emi_err_t first = EMI_SUCCESS;
    const long long nq = (long long)mine_n;
#pragma omp parallel
    {
      int64_t *x = xs + (size_t)omp_get_thread_num() * (ncit + 1) * R, *xt = x + ncit * R;
      int32_t *st = states + (size_t)omp_get_thread_num() * 6 * ncb;
      emi_err_t mine = EMI_SUCCESS;
#pragma omp for schedule(dynamic, 1)
      for (long long qq = 0; qq < nq; qq++) {
        if (mine) continue;
        const nc_cell_t *cl = &cells[(size_t)qq * (size_t)ctx->size + (size_t)ctx->rank];
        const size_t j = nm - 1 - (size_t)cl->mi;
        for (size_t q = 0; q < 6 * ncb; q++)
          st[q] = (int32_t)((q / (2 * ncb) * (size_t)c->np.nbins + j) * 2 * ncb + q % (2 * ncb));
        emi_nowcast_tree_t tr = {ns, ncit, NGRP, (size_t)c->np.nbins, ncb, 0.5, 0.5, o->kappa, yA[cl->kind],
                                 zA[cl->kind], yBk[cl->kind], zBk[cl->kind], yCk[cl->kind], zCk[cl->kind],
                                 yDk[cl->kind], zDk[cl->kind]};
        mine = emi_nowcast_group_draws(&tr, o->seed, cl->kind, 6 * ncb, st, nc->pend[cl->kind], 0, R, x);
        if (mine) continue;
        double *rq = tot + (size_t)qq * per;
        for (size_t r = 0; r < R; r++) xt[r] = 0;
        for (size_t ci = 0; ci < ncit; ci++) {
          for (size_t r = 0; r < R; r++) xt[r] += x[ci * R + r]; /* integers: the month total of each draw */
          rq[3 * ci] = rq[3 * ci + 1] = 0, rq[3 * ci + 2] = 1;
          if (o->unres[cl->kind][(size_t)cl->mi * ncit + ci] > 0)
            emi_nowcast_interval(x + ci * R, R, o->level, &rq[3 * ci], &rq[3 * ci + 1], &rq[3 * ci + 2]);
        }
        emi_nowcast_interval(xt, R, o->level, &rq[3 * ncit], &rq[3 * ncit + 1], &rq[3 * ncit + 2]);
      }
#pragma omp critical(emi_classify_nowcast_err)
      if (mine && !first) {
        first = mine;
        snprintf(errmsg, sizeof errmsg, "%s", emi_err_message());
      }
    }
    local = first ? EMI_ERROR(first, "%s", errmsg) : EMI_SUCCESS;
  }
  EMI_TRY(emi_mpi_agree(ctx->comm, local, NULL));
  /* every rank gets every group's intervals: gathered rank by rank (no arithmetic), then put in group order */
  EMI_CALLOC(rcount, (size_t)ctx->size, "gather counts");
  EMI_CALLOC(rdisp, (size_t)ctx->size, "gather displacements");
  if (per * ngroups > (size_t)INT32_MAX) EMI_FAIL(EMI_ERR_INTERNAL, "classify: too many nowcast cells for one gather");
  for (int r = 0, off = 0; r < ctx->size; r++) {
    size_t nr = ngroups > (size_t)r ? (ngroups - 1 - (size_t)r) / (size_t)ctx->size + 1 : 0;
    rcount[r] = (int)(per * nr), rdisp[r] = off;
    off += rcount[r];
  }
  EMI_MPI_TRY(MPI_Allgatherv(tot, rcount[ctx->rank], MPI_DOUBLE, res, rcount, rdisp, MPI_DOUBLE, ctx->comm));
  for (size_t g = 0; g < ngroups; g++) {
    const nc_cell_t *cl = &cells[g];
    const int k = cl->kind;
    const size_t mi = (size_t)cl->mi;
    const double *rq = res + (size_t)rdisp[g % (size_t)ctx->size] + per * (g / (size_t)ctx->size);
    int64_t bt = 0;
    for (size_t ci = 0; ci < ncit; ci++) {
      const size_t i = mi * ncit + ci;
      const int64_t b = base[((size_t)k * nm + mi) * ncit + ci];
      bt += b;
      if (o->unres[k][i] == 0) continue;
      o->lower[k][i] = (double)b + rq[3 * ci];
      o->upper[k][i] = (double)b + rq[3 * ci + 1];
      o->mass[k][i] = rq[3 * ci + 2];
    }
    o->tlower[k][mi] = (double)bt + rq[3 * ncit];
    o->tupper[k][mi] = (double)bt + rq[3 * ncit + 1];
    o->tmass[k][mi] = rq[3 * ncit + 2];
  }
  /* month totals: means (in citizenship order on every rank), and the months without unresolved crossings */
  for (int k = 0; k < EMI_NOWCAST_NKINDS; k++) {
    if (!o->have[k]) continue;
    for (size_t mi = 0; mi < nm; mi++) {
      int64_t b = 0, u = 0;
      double mean = 0;
      for (size_t ci = 0; ci < ncit; ci++) {
        b += base[((size_t)k * nm + mi) * ncit + ci];
        u += o->unres[k][mi * ncit + ci];
        mean += o->mean[k][mi * ncit + ci];
      }
      o->tmean[k][mi] = mean;
      if (u == 0) o->tlower[k][mi] = o->tupper[k][mi] = (double)b, o->tmass[k][mi] = 1;
    }
  }
cleanup:
  for (int k = 0; k < EMI_NOWCAST_NKINDS; k++) {
    free(yDk[k]), free(zDk[k]), free(yCk[k]), free(zCk[k]), free(yBk[k]), free(zBk[k]), free(muD[k]);
    free(yA[k]), free(zA[k]);
  }
  free(muA), free(muB), free(muC), free(res), free(base), free(tot), free(xs), free(states), free(cells), free(rcount), free(rdisp);
  return err;
}

/* ------------------------------------------------------------------ output */
typedef struct {
  const char *in;
  int is_h5, keyed, have_decl, have_links;
  emi_link_table_counts_t links;
  emi_link_counts_t counts;
  int64_t decl_counts[3];
  int64_t persons, repairs[EMI_NREPAIRS];
  int32_t data_start, data_end, warmup_days;
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
  for (int q = 0; q < 4; q++) {
    const double *v = q == 0 ? o->mean[k] : q == 1 ? o->lower[k] : q == 2 ? o->upper[k] : o->mass[k];
    snprintf(path, sizeof path, "%s/%s_%s", grp, pre, stat[q]);
    if (q == 0)
      snprintf(lname, sizeof lname, "%s: provisional estimate of the final count (certain count + sum of the "
               "probabilities of the unresolved crossings; final months: the count)", what);
    else if (q < 3)
      snprintf(lname, sizeof lname, "%s: %s bound of the %d%% Monte Carlo interval of the final count (type-7 quantile "
               "of %lld draws)", what, stat[q], pct, (long long)o->ndraws);
    else
      snprintf(lname, sizeof lname, "%s: share of the Monte Carlo draws inside [lower, upper] (at least the level up to "
               "Monte Carlo error; more for small counts, whose laws are discrete)", what);
    EMI_CALL(emi_h5_write_array(f, path, EMI_H5_DOUBLE, 2, dims, sc, row0, nrows, v + row0 * row, q < 3 ? "persons" : "1",
                                lname));
  }
  snprintf(path, sizeof path, "%s/%s_unresolved", grp, pre);
  snprintf(lname, sizeof lname, "%s: crossings whose outcome is not yet certain at the data end (they get a probability)",
           what);
  EMI_CALL(emi_h5_chunk_rows(EMI_H5_INT64, 2, dims, &chunk));
  EMI_CALL(emi_h5_partition(dims[0], chunk, ctx->comm, &row0, &nrows));
  EMI_CALL(emi_h5_write_array(f, path, EMI_H5_INT64, 2, dims, sc, row0, nrows, o->unres[k] + row0 * row, "crossings",
                              lname));
  for (int q = 0; q < 4; q++) {
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
  char from[16];
  fmt_day(from, o->train_from[k]);
  char key[96];
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
                           "binomial per cell (Philox4x32-10 keyed by seed, level, cell, draw)"));
  return EMI_SUCCESS;
}

/* hashes[0..2]: the background SHA-256 of the input, the link table, the declarations (NULL when absent) */
static emi_err_t write_output(emi_ctx_t *ctx, const char *out, const cfg_t *c, const run_info_t *r, const int64_t *tab,
                              const nowcast_out_t *nco, emi_file_hash_t *hashes[3])
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
    EMI_TRY(emi_h5_attr_str(f, L, "data_start", d0));
    EMI_TRY(emi_h5_attr_str(f, L, "data_end", d1));
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
    EMI_TRY(emi_h5_attr_int(f, U, "declarations_in", r->decl_counts[0]));
    EMI_TRY(emi_h5_attr_int(f, U, "declarations_accepted", r->decl_counts[1]));
    EMI_TRY(emi_h5_attr_int(f, U, "declarations_rejected", r->decl_counts[2]));
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
  EMI_TRY(emi_opts_get_int(ctx->opts, "seed", &i64));
  nco.seed = (uint64_t)i64;
  if (nco.on && nco.count_bin_days > c.rule.threshold_days)
    EMI_FAIL(EMI_ERR_CONFIG, "classify: --nowcast-count-bin-days %lld is more than --threshold-days %d: expected a bin "
             "width up to the threshold (one bin would hold every count)", (long long)nco.count_bin_days,
             (int)c.rule.threshold_days);
  c.nowcast = nco.on;
  emi_link_ingest_t ing = {.hasher = &hasher, .countries = check ? &emi_iso3166_alpha3 : NULL, .lo_day = INT32_MIN,
                           .hi_day = INT32_MAX};
  int pstart = -1, pend = -1;
  if (emi_opts_is_set(ctx->opts, "period-start")) {
    EMI_TRY(emi_opts_get_month(ctx->opts, "period-start", &pstart));
    ing.lo_day = month_first_day(pstart);
  }
  if (emi_opts_is_set(ctx->opts, "period-end")) {
    EMI_TRY(emi_opts_get_month(ctx->opts, "period-end", &pend));
    ing.hi_day = month_first_day(pend + 1) - 1;
  }
  if (pstart >= 0 && pend >= 0 && pend < pstart)
    EMI_FAIL(EMI_ERR_CONFIG, "classify: --period-end is before --period-start");

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
  const int64_t rejected = r.counts.in - r.counts.accepted;
  for (int k = 0; k < EMI_LINK_NREJECTS; k++)
    if (r.counts.rejects[k]) emi_log_info("classify: %" PRId64 " rejected: %s", r.counts.rejects[k], emi_link_reject_names[k]);
  emi_log_info("classify: %s: %" PRId64 " records in, %" PRId64 " accepted, %" PRId64 " rejected (%.2f s)", r.in,
               r.counts.in, r.counts.accepted, rejected, emi_clock_monotonic() - t0);
  if (r.counts.in > 0 && (double)rejected > max_share * (double)r.counts.in) {
    local = EMI_SUCCESS;
    const emi_reject_info_t *b = &r.counts.bad;
    if ((int)b->reason < (int)EMI_LINK_NREJECTS) { /* this rank holds the first reject */
      char where[64] = "";
      if (b->field >= 0) snprintf(where, sizeof where, ", field %s", emi_crossings_fields[b->field]);
      const char *expected = (int)b->reason < (int)EMI_NREJECTS ? emi_reject_expected[b->reason]
                                                      : "a date within --period-start .. --period-end";
      local = EMI_ERROR(EMI_ERR_REJECTS, "%s: %s %" PRId64 "%s: found '%s': expected %s (reason %s); %" PRId64 " of %" PRId64
                        " records rejected (%.3g%%), more than --max-reject-share %.3g%%", r.in,
                        r.is_h5 ? "record" : "line", r.counts.first_bad, where, b->found, expected,
                        emi_link_reject_names[b->reason], rejected, r.counts.in,
                        100.0 * (double)rejected / (double)r.counts.in, 100.0 * max_share);
    }
    EMI_TRY(emi_mpi_agree(ctx->comm, local, NULL));
    EMI_FAIL(EMI_ERR_INTERNAL, "classify: the reject threshold was exceeded but no rank reported it");
  }
  if (r.counts.accepted == 0) EMI_FAIL(EMI_ERR_INPUT, "%s: no accepted crossing records", r.in);

  /* period and table months */
  r.data_start = pstart >= 0 ? ing.lo_day : r.counts.min_day;
  r.data_end = pend >= 0 ? ing.hi_day : r.counts.max_day;
  /* a period end beyond the data would treat open windows as closed: refuse it */
  if (pend >= 0 && r.counts.max_day < INT32_MAX && ing.hi_day > r.counts.max_day + 31) {
    char d0[16], d1[16];
    fmt_day(d0, r.counts.max_day), fmt_day(d1, ing.hi_day);
    EMI_FAIL(EMI_ERR_INPUT, "classify: --period-end ends on %s but the last crossing is on %s: windows after the data "
             "would count as closed; set --period-end to the month the data end", d1, d0);
  }
  c.rule.end_day = r.data_end;
  {
    int64_t first = (int64_t)r.data_start + r.warmup_days;
    int m = month_of(first > INT32_MAX ? INT32_MAX : (int32_t)first);
    if (month_first_day(m) < first) m++;
    c.month0 = m;
    c.nmonths = month_of(r.data_end) - m + 1;
  }
  if (c.nmonths <= 0) {
    char d0[16], d1[16];
    fmt_day(d0, r.data_start), fmt_day(d1, r.data_end);
    EMI_FAIL(EMI_ERR_CONFIG, "classify: the data cover %s .. %s, less than the warm-up of %d days plus one month: "
             "nothing to tabulate (see --warmup-days)", d0, d1, (int)r.warmup_days);
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
    EMI_TRY(emi_link_read_declarations(ctx->comm, decl_path, &hasher, &decl, &ndecl, r.decl_counts));
    emi_log_info("classify: %s: %" PRId64 " declarations in, %" PRId64 " accepted, %" PRId64 " rejected", decl_path,
                 r.decl_counts[0], r.decl_counts[1], r.decl_counts[2]);
    /* rejected declarations would silently turn declared departures into undeclared ones */
    if (r.decl_counts[2] > 0 && (double)r.decl_counts[2] > max_share * (double)r.decl_counts[0])
      EMI_FAIL(EMI_ERR_REJECTS,
               "classify: %s: %" PRId64 " of %" PRId64 " declarations rejected (%.3g%%, more than --max-reject-share "
               "%.3g%%): expected person_id,declared_on (YYYY-MM-DD),destination",
               decl_path, r.decl_counts[2], r.decl_counts[0], 100.0 * (double)r.decl_counts[2] / (double)r.decl_counts[0],
               100.0 * max_share);
    if (r.decl_counts[2] > 0)
      emi_log_warn("classify: %s: %" PRId64 " declarations rejected (see /undeclared attributes)", decl_path,
                   r.decl_counts[2]);
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
  }
  if (c.nowcast) {
    const size_t len = nc_len(&c);
    if (!(ncb_th = calloc(len * (size_t)nthreads, sizeof *ncb_th)))
      EMI_FAIL(EMI_ERR_NOMEM, "cannot allocate the nowcast counts (%d threads x %zu MB): a smaller "
               "--nowcast-count-bin-days makes them larger, fewer citizenships smaller", nthreads,
               len * sizeof *ncb_th >> 20);
    for (int th = 0; th < nthreads; th++) nc_map(&c, ncb_th + (size_t)th * len, &scr[th].nc);
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
  if (c.nowcast) { /* integer counts: exact in any order, over threads then ranks */
    const size_t len = nc_len(&c);
    for (int th = 1; th < nthreads; th++)
      for (size_t k = 0; k < len; k++) ncb_th[k] += ncb_th[(size_t)th * len + k];
    for (size_t a = 0; a < len; a += (size_t)1 << 28) {
      size_t cnt = len - a < ((size_t)1 << 28) ? len - a : ((size_t)1 << 28);
      EMI_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, ncb_th + a, (int)cnt, MPI_INT64_T, MPI_SUM, ctx->comm));
    }
    const nc_counts_t *g = &scr[0].nc;
    for (int k = 0; k < EMI_NOWCAST_NKINDS; k++) nco.ntrain[k] = g->ntrain[k];
    double tn = emi_clock_monotonic();
    EMI_TRY(nowcast_run(ctx, &c, g, &nco));
    for (int k = 0; k < EMI_NOWCAST_NKINDS; k++) {
      if (!nco.have[k]) continue;
      int last = c.nmonths - 1;
      char from[16];
      fmt_day(from, nco.train_from[k]);
      emi_log_info("classify: nowcast of %s: learnt from %" PRId64 " completed crossings (from %s), %" PRId64
                   " unresolved; %04d-%02d: %.1f [%.1f, %.1f] (%.0f%%)", nc_kind_names[k], nco.ntrain[k], from,
                   nco.unresolved[k], (c.month0 + last) / 12, (c.month0 + last) % 12 + 1, nco.tmean[k][last],
                   nco.tlower[k][last], nco.tupper[k][last], 100 * nco.level);
    }
    emi_log_info("classify: nowcast: %lld draws (%.2f s)", (long long)nco.ndraws, emi_clock_monotonic() - tn);
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
  EMI_TRY(write_output(ctx, out, &c, &r, tab, &nco, hashes));
  emi_log_info("classify: wrote %s (%.2f s)", out, emi_clock_monotonic() - t0);
cleanup:
  if (scr)
    for (int th = 0; th < nthreads; th++) {
      free(scr[th].day), free(scr[th].sec), free(scr[th].oday), free(scr[th].osec), free(scr[th].osrc);
      free(scr[th].dir), free(scr[th].odir), free(scr[th].cls), free(scr[th].cand), free(scr[th].dday);
      free(scr[th].ountil);
    }
  free(ncb_th);
  nowcast_out_free(&nco);
  free(scr);
  free(items), free(tmp), free(decl), free(pairs), free(hist), free(starts), free(tabs), free(rep_th), free(cit_index), free(seen);
  free(cit_codes);
  emi_link_store_destroy(&store);
  for (int k = 0; k < 3; k++) emi_file_hash_destroy(&hashes[k]);
  sodium_memzero(&hasher, sizeof hasher);
  return err;
}
