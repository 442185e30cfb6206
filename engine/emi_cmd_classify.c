/* emi_cmd_classify.c: `emflow classify`, record linkage and the 12/16 rule (issue 4).
 *
 *   mpiexec -n N emflow classify IN.csv|IN.h5 -o OUT.h5 [--declarations D.csv] [--key-file KEY] [...]
 *
 * Stages (each rank; OMP_NUM_THREADS threads inside):
 *   1. ingest      IN is the crossings CSV (byte ranges per rank, every field validated by
 *                  emi_crossing_parse) or the HDF5 compound form /crossings/records (rank r reads its
 *                  contiguous slab), detected from the file's signature; bad records are counted rejects
 *                  by reason (records in = accepted + rejected); person keys are hashed at once
 *                  (emi_linkage.h: HMAC-SHA-256 with --key-file, else SHA-256), the text is dropped.
 *                  With --link-table, the records (and declarations) of a key b of the table are moved to
 *                  its key a at once (emi_link_apply), before the distribution.
 *   2. link        records go to rank hash mod N (MPI_Alltoallv), then the LSD radix sort
 *                  (kernels/emi_sort.h) orders them by (person, day, second, direction).
 *   3. repair      per person (kernels/emi_repair.h): duplicates merged, missed crossings imputed,
 *                  counted by kind.
 *   4. classify    per person (kernels/emi_rule.h): 12/16 rule (or continuous), status before the first
 *                  crossing from its direction (or citizens resident), censored at the data end.
 *   5. tabulate    month x citizenship x sex x age group, int64, summed exactly over threads and ranks;
 *                  months of the warm-up (one window from the data start) are not tabulated; months
 *                  with a window still open at the data end are flagged provisional.
 *   6. undeclared  with --declarations: a migrant departure on day t is declared when the person has a
 *                  declaration in [t - declared-before-days, t + declared-after-days].
 *
 * Determinism.  Records are read in file order; the all-to-all keeps each sender's order and senders
 * arrive in rank order, so every person's records reach one rank in file order; the radix sort is
 * stable and thread-count independent; tables are integer sums.  So the output is the same for any
 * number of ranks and threads (tests/mpi/classify.cmake compares them with h5diff).
 *
 * Output: see the usage and output reference of the README (issue 4); names are listed in write_output.
 */
#include <inttypes.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emi_call.h"
#include "emi_cli.h"
#include "emi_commands.h"
#include "emi_linkage.h"
#include "emi_log.h"
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
};
const int emi_classify_nspecs = (int)(sizeof emi_classify_specs / sizeof emi_classify_specs[0]);

enum { T_DEP, T_ARR, T_PDEP, T_PARR, T_UNDECL, T_DECL, T_NKIND };
#define NSEX 3
#define NCODES 32768 /* citizenship as a base-32 letter triple */

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
} cfg_t;

typedef struct {
  int32_t *day, *sec, *oday, *osec, *osrc;
  uint8_t *dir, *odir, *cls;
} scratch_t;

static int month_of(int32_t day)
{
  int y, m, d;
  emi_civil_from_days(day, &y, &m, &d);
  return y * 12 + m - 1;
}
static int32_t month_first_day(int month) { return emi_days_from_civil(month / 12, month % 12 + 1, 1); }

/* Does the person (k0) have a declaration within [lo, hi]? */
static int declared(const cfg_t *c, uint64_t k0, int32_t lo, int32_t hi)
{
  size_t a = 0, b = c->ndecl;
  while (a < b) { /* first declaration of k0 */
    size_t m = a + (b - a) / 2;
    if (c->decl[m].k0 < k0) a = m + 1;
    else b = m;
  }
  for (; a < c->ndecl && c->decl[a].k0 == k0; a++) {
    int32_t d = emi_link_day(c->decl[a].k1);
    if (d >= lo && d <= hi) return 1;
  }
  return 0;
}

/* One person's records it[0..n): repair, classify, tabulate into tab (T_NKIND x ncell). */
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
  EMI_CALL(emi_rule_classify(&c->rule, m, w->oday, w->odir, init, w->cls));
  for (size_t j = 0; j < m; j++) {
    if (w->cls[j] == EMI_CLASS_SHORT) continue;
    int mi = month_of(w->oday[j]) - c->month0;
    if (mi < 0 || mi >= c->nmonths) continue; /* warm-up */
    size_t s = w->osrc[j] >= 0 ? (size_t)w->osrc[j] : (size_t)(-(w->osrc[j] + 1)); /* imputed: the record before */
    uint64_t v = it[s].v;
    if (v & EMI_LINK_V_LINKED) v = (v & ~(uint64_t)0x7fff) | (prim & 0x7fff); /* citizenship of key a's document */
    int y, mo, d;
    emi_civil_from_days(w->oday[j], &y, &mo, &d);
    size_t cell = (((size_t)mi * (size_t)c->ncit + (size_t)c->cit_index[emi_link_cit(v)]) * NSEX +
                   (size_t)(emi_link_sex(v) - 1)) * EMI_NAGE_GROUPS + (size_t)emi_age_group(y - emi_link_birth_year(v));
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

static emi_err_t write_output(emi_ctx_t *ctx, const char *out, const cfg_t *c, const run_info_t *r, const int64_t *tab)
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
  EMI_TRY(emi_provenance_add_input(prov, r->in));
  if (r->have_links) {
    const char *lt;
    EMI_TRY(emi_opts_get_str(ctx->opts, "link-table", &lt));
    EMI_TRY(emi_provenance_add_input(prov, lt));
  }
  if (r->have_decl) {
    const char *d;
    EMI_TRY(emi_opts_get_str(ctx->opts, "declarations", &d));
    EMI_TRY(emi_provenance_add_input(prov, d));
  }
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
  /* /linkage and /undeclared each get the table coordinates: xarray labels a group's arrays from
   * that group's coordinates only (emi_h5_write_array checks it) */
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
  emi_link_pair_t *pairs = NULL;
  size_t npairs = 0;
  size_t n = 0, ndecl = 0, *hist = NULL, *starts = NULL;
  int64_t *tabs = NULL, *tab = NULL, *rep_th = NULL;
  int16_t *cit_index = NULL;
  uint8_t *seen = NULL;
  char (*cit_codes)[4] = NULL;
  scratch_t *scr = NULL;
  emi_link_hasher_t hasher;
  run_info_t r;
  cfg_t c;
  memset(&r, 0, sizeof r);
  memset(&c, 0, sizeof c);
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

  /* 1. ingest */
  local = emi_link_hasher_init(&hasher, key_file);
  EMI_TRY(emi_mpi_agree(ctx->comm, local, NULL));
  r.keyed = hasher.keyed;
  if (link_path) {
    r.have_links = 1;
    EMI_TRY(emi_link_read_table(ctx->comm, link_path, &hasher, &pairs, &npairs));
  }
  if (!strcmp(fmt, "auto")) {
    int h5 = ctx->rank == 0 ? is_hdf5(r.in) : 0;
    EMI_MPI_TRY(MPI_Bcast(&h5, 1, MPI_INT, 0, ctx->comm));
    r.is_h5 = h5;
  } else {
    r.is_h5 = !strcmp(fmt, "h5");
  }
  if (r.is_h5) EMI_TRY(emi_link_read_h5(ctx->comm, r.in, &ing, &items, &n, &r.counts));
  else EMI_TRY(emi_link_read_csv(ctx->comm, r.in, &ing, &items, &n, &r.counts));
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

  /* 2. link: merge the keys of the link table, distribute by person, sort */
  if (link_path) {
    EMI_TRY(emi_link_apply(ctx->comm, pairs, npairs, items, n, 1, &r.links));
    emi_log_info("classify: %s: %" PRId64 " pairs; %" PRId64 " keys merged into their partner (%" PRId64
                 " records), %" PRId64 " keys of the table not in the records", link_path, r.links.pairs,
                 r.links.keys_merged, r.links.records_relinked, r.links.keys_unknown);
  }
  EMI_TRY(emi_link_distribute(ctx->comm, &items, &n));
  EMI_MALLOC(tmp, n + 1, "sort scratch");
  EMI_MALLOC(hist, EMI_SORT_HIST_LEN(n), "sort histograms");
  EMI_TRY(emi_sort_items(n, items, tmp, hist));
  free(tmp), tmp = NULL;
  free(hist), hist = NULL;

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
  c.ncell = (size_t)c.nmonths * (size_t)c.ncit * NSEX * EMI_NAGE_GROUPS;

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
    scr[th].dir = malloc(cap), scr[th].odir = malloc(cap), scr[th].cls = malloc(cap);
    if (!scr[th].day || !scr[th].sec || !scr[th].oday || !scr[th].osec || !scr[th].osrc || !scr[th].dir ||
        !scr[th].odir || !scr[th].cls)
      EMI_FAIL(EMI_ERR_NOMEM, "cannot allocate the per-thread scratch (%zu crossings)", cap);
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
  EMI_TRY(write_output(ctx, out, &c, &r, tab));
  emi_log_info("classify: wrote %s (%.2f s)", out, emi_clock_monotonic() - t0);
cleanup:
  if (scr)
    for (int th = 0; th < nthreads; th++) {
      free(scr[th].day), free(scr[th].sec), free(scr[th].oday), free(scr[th].osec), free(scr[th].osrc);
      free(scr[th].dir), free(scr[th].odir), free(scr[th].cls);
    }
  free(scr);
  free(items), free(tmp), free(decl), free(pairs), free(hist), free(starts), free(tabs), free(rep_th), free(cit_index), free(seen);
  free(cit_codes);
  sodium_memzero(&hasher, sizeof hasher);
  return err;
}
