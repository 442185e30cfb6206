/* emi_cmd_reconcile.c: `emflow reconcile`, making the sources of emigration coherent (issue 5).
 *
 * Two models (--model).  border (the default, this file, described below): one country's border,
 * mirror and declared emigration.  double-entry (emi_reconcile_de.c): the two reports, by the sending
 * and by the receiving country, of every corridor of a double-entry flows file (--input), corrected for
 * coverage and duration definition and balanced by GLS.  The options table holds both; an option of
 * the other model, given, is an error.  time-col has no table default: TIME_PERIOD for border, Year for
 * double-entry.
 *
 * Inputs (aggregate CSV read by emi_agg, SDMX column names by default), for each period:
 *   border   B[c]    emigrants by citizenship c counted at the border (linkage outcome or exit-entry
 *                    balances), relative standard error border-cv;
 *   mirror   M[d]    immigrants from this country reported by destination d, divided by its coverage
 *                    (mirror-coverage: the share of the true flow it reports) and multiplied by the
 *                    duration correction to a 12-month definition (mirror-duration-factor);
 *                    relative standard error mirror-cv;
 *   declared D[c,d]  declared emigration (deregistrations) by citizenship and destination.
 *
 * Step 1, GLS (Stone/Byron, kernels/emi_gls.h).  Both totals count the same emigrants, so
 * sum_c B[c] = sum_d M[d].  Declared emigrants are emigrants, so B[c] >= D[c,.] and M[d] >= D[.,d].
 * With y = x - lower bound, the reconciled y-hat is the GLS estimate of y under
 * sum_c y_c - sum_d y_d = sum_d D[.,d] - sum_c D[c,.] (= 0), y >= 0 (active set), variances
 * (cv * x)^2 + var-floor.  y-hat is the undeclared emigration by citizenship (first block) and by
 * destination (second block); both sum to the same total.
 * Step 2, IPF (kernels/emi_ipf.h).  Undeclared emigration by citizenship x destination is the seed
 * D + seed-floor fitted to those two margins: undeclared emigrants are spread over destinations as
 * the declared ones are (seed-floor > 0 lets them go where nobody declared).
 *
 * Output /reconciliation (dimension scales period, citizen, destination):
 *   border_reported, border_reconciled, border_sd       [period x citizen]
 *   mirror_reported (corrected), mirror_reconciled, mirror_sd   [period x destination]
 *   declared, undeclared                                [period x citizen x destination]
 *   undeclared_by_citizen [period x citizen], undeclared_by_destination [period x destination]
 *   gls_solves, gls_active, gls_max_residual, ipf_iterations, ipf_max_deviation, ipf_converged [period]
 *   inputs/{border,mirror,declared}/{value,status,line,flag}: each input as read, on its array's grid,
 *     with its own copies of the coordinates; flag = OBS_FLAG kept whole, an index into the attribute
 *     flag_codes (0 = none)
 * Periods are distributed over MPI ranks in whole chunks; each period is computed by one rank with
 * the same arithmetic whatever the number of ranks, so the output is identical for any -n.
 */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emi_agg.h"
#include "emi_call.h"
#include "emi_cli.h"
#include "emi_commands.h"
#include "emi_gls.h"
#include "emi_ipf.h"
#include "emi_log.h"
#include "emi_output.h"
#include "emi_reconcile_de.h"

const emi_opt_spec_t emi_reconcile_specs[] = {
  EMI_OPTS_COMMON,
  {"output", "reconcile", EMI_OPT_PATH, NULL, "", "output HDF5 file", 0, 0, NULL, 'o'},
  {"model", "reconcile", EMI_OPT_CHOICE, "border", "",
   "border: one country's border, mirror and declared emigration (GLS, then IPF); double-entry: the two reports of "
   "every corridor of a double-entry flows file (--input) balanced by GLS", 0, 0, "border,double-entry"},
  {"border", "reconcile", EMI_OPT_PATH, NULL, "", "border-based emigration by citizenship (aggregate CSV)"},
  {"border-filter", "reconcile", EMI_OPT_LIST, "", "", "keep rows where COLUMN=VALUE (repeatable)"},
  {"mirror", "reconcile", EMI_OPT_PATH, NULL, "", "destinations' immigration from this country (aggregate CSV)"},
  {"mirror-filter", "reconcile", EMI_OPT_LIST, "", "", "keep rows where COLUMN=VALUE (repeatable)"},
  {"declared", "reconcile", EMI_OPT_PATH, NULL, "", "declared emigration by citizenship x destination (aggregate CSV)"},
  {"declared-filter", "reconcile", EMI_OPT_LIST, "", "", "keep rows where COLUMN=VALUE (repeatable)"},
  {"border-citizen-col", "reconcile", EMI_OPT_STRING, "citizen", "", "border file: column of the citizenship code"},
  {"mirror-destination-col", "reconcile", EMI_OPT_STRING, "partner", "",
   "mirror file: column of the reporting destination (Eurostat immigration tables: geo)"},
  {"declared-citizen-col", "reconcile", EMI_OPT_STRING, "citizen", "", "declared file: column of the citizenship code"},
  {"declared-destination-col", "reconcile", EMI_OPT_STRING, "partner", "",
   "declared file: column of the destination (country of next residence)"},
  {"mirror-unreported", "reconcile", EMI_OPT_CHOICE, "error", "",
   "a destination without a mirror total (absent or missing ':'): error, or diffuse (unknown total >= declared)",
   0, 0, "error,diffuse"},
  {"rest-of-world", "reconcile", EMI_OPT_FLAG, "false", "",
   "add a destination _ROW for emigration to countries that report no mirror statistics (diffuse)"},
  {"time-col", "reconcile", EMI_OPT_STRING, NULL, "",
   "column holding the period (default TIME_PERIOD; with model = double-entry: Year)"},
  {"value-col", "reconcile", EMI_OPT_STRING, "OBS_VALUE", "", "column holding the value"},
  {"border-value-col", "reconcile", EMI_OPT_STRING, NULL, "", "border file: value column (default: value-col)"},
  {"mirror-value-col", "reconcile", EMI_OPT_STRING, NULL, "", "mirror file: value column (default: value-col)"},
  {"declared-value-col", "reconcile", EMI_OPT_STRING, NULL, "", "declared file: value column (default: value-col)"},
  {"border-time-col", "reconcile", EMI_OPT_STRING, NULL, "", "border file: period column (default: time-col)"},
  {"mirror-time-col", "reconcile", EMI_OPT_STRING, NULL, "", "mirror file: period column (default: time-col)"},
  {"declared-time-col", "reconcile", EMI_OPT_STRING, NULL, "", "declared file: period column (default: time-col)"},
  {"flag-col", "reconcile", EMI_OPT_STRING, "OBS_FLAG", "",
   "column holding the observation flag (SDMX OBS_FLAG: kept whole, e.g. bu, p; a file without it has no flags)"},
  {"border-cv", "reconcile", EMI_OPT_REAL, "0.05", "", "relative standard error of the border totals", 1e-6, 10},
  {"mirror-cv", "reconcile", EMI_OPT_REAL, "0.15", "", "relative standard error of the mirror totals", 1e-6, 10},
  {"mirror-coverage", "reconcile", EMI_OPT_REAL, "1", "", "share of the true flow mirror statistics report", 1e-3, 1},
  {"mirror-duration-factor", "reconcile", EMI_OPT_REAL, "1", "",
   "duration correction of the mirror definition to 12 months (0.53 for 0 months ... 2.26 permanent)", 0.1, 10},
  {"var-floor", "reconcile", EMI_OPT_REAL, "1", "persons^2", "added to every variance (zero counts stay adjustable)",
   0, 1e12},
  {"seed-floor", "reconcile", EMI_OPT_REAL, "0.5", "persons", "added to every declared cell of the IPF seed", 0, 1e9},
  {"ipf-tol-rel", "reconcile", EMI_OPT_REAL, "1e-10", "", "IPF convergence tolerance, relative to the total", 1e-15, 1},
  {"ipf-max-iter", "reconcile", EMI_OPT_INT, "1000", "sweeps", "IPF iteration cap", 1, 1e9},
  {"accept-nonconverged", "reconcile", EMI_OPT_FLAG, "false", "",
   "write periods whose IPF reached ipf-max-iter (flagged in ipf_converged) instead of failing"},
  /* model = double-entry (emi_reconcile_de.c): the names and defaults of estimate's double-entry options */
  {"input", "reconcile", EMI_OPT_PATH, NULL, "",
   "double-entry: flows CSV, one row per corridor and year (the Eurostat double-entry layout)"},
  {"filter", "reconcile", EMI_OPT_STRING, "SEX=Total", "", "double-entry: keep only rows with COLUMN=VALUE (empty: all rows)",
   0, 0, NULL, 0, 1 /* empty_ok: "" keeps every row */},
  {"from-col", "reconcile", EMI_OPT_STRING, "Sending_iso3", "", "double-entry: column of the sending country code"},
  {"to-col", "reconcile", EMI_OPT_STRING, "Receiving_iso3", "", "double-entry: column of the receiving country code"},
  {"emigration-col", "reconcile", EMI_OPT_STRING, "Emig", "persons",
   "double-entry: count reported by the sending country (NA = none)"},
  {"immigration-col", "reconcile", EMI_OPT_STRING, "Immi", "persons",
   "double-entry: count reported by the receiving country (NA = none)"},
  {"emigration-undercount-col", "reconcile", EMI_OPT_STRING, "UE", "", "double-entry: undercount class of the emigration report"},
  {"immigration-undercount-col", "reconcile", EMI_OPT_STRING, "UI", "", "double-entry: undercount class of the immigration report"},
  {"emigration-accuracy-col", "reconcile", EMI_OPT_STRING, "AE", "", "double-entry: accuracy class of the emigration report"},
  {"immigration-accuracy-col", "reconcile", EMI_OPT_STRING, "AI", "", "double-entry: accuracy class of the immigration report"},
  {"countries", "reconcile", EMI_OPT_LIST, "", "", "double-entry: only these country codes (default: every country in the file)"},
  {"first-year", "reconcile", EMI_OPT_INT, NULL, "year", "double-entry: first year (default: the first in the file)", 1, 9999},
  {"last-year", "reconcile", EMI_OPT_INT, NULL, "year", "double-entry: last year (default: the last in the file)", 1, 9999},
  {"benchmark", "reconcile", EMI_OPT_STRING, "immigration:SWE", "",
   "double-entry: SOURCE:CODE taken as complete (coverage 1)"},
  {"prior-emigration-low", "reconcile", EMI_OPT_STRING, "44.95,16.96", "",
   "double-entry: Beta(a,b) coverage prior, emigration, undercount low (its mean a/(a+b) corrects the report)"},
  {"prior-emigration-medium", "reconcile", EMI_OPT_STRING, NULL, "",
   "double-entry: Beta(a,b) coverage prior, emigration, undercount medium"},
  {"prior-emigration-high", "reconcile", EMI_OPT_STRING, "32.14,38.52", "",
   "double-entry: Beta(a,b) coverage prior, emigration, undercount high"},
  {"prior-immigration-low", "reconcile", EMI_OPT_STRING, "57.49,8.07", "",
   "double-entry: Beta(a,b) coverage prior, immigration, undercount low"},
  {"prior-immigration-medium", "reconcile", EMI_OPT_STRING, NULL, "",
   "double-entry: Beta(a,b) coverage prior, immigration, undercount medium"},
  {"prior-immigration-high", "reconcile", EMI_OPT_STRING, "44.56,20.89", "",
   "double-entry: Beta(a,b) coverage prior, immigration, undercount high"},
  {"duration", "reconcile", EMI_OPT_LIST, "", "",
   "double-entry: SOURCE:CODE=MONTHS: the report's minimum duration of stay (0, 3, 6, 12 or permanent; default 12)"},
  {"de-cv-high", "reconcile", EMI_OPT_REAL, "0.1", "",
   "double-entry: relative standard error of a corrected report of accuracy class High", 1e-6, 10},
  {"de-cv-medium", "reconcile", EMI_OPT_REAL, "0.2", "",
   "double-entry: relative standard error of a corrected report of accuracy class Medium", 1e-6, 10},
  {"de-cv-low", "reconcile", EMI_OPT_REAL, "0.4", "",
   "double-entry: relative standard error of a corrected report of accuracy class Low", 1e-6, 10},
  {"de-cv-na", "reconcile", EMI_OPT_REAL, "0.4", "",
   "double-entry: relative standard error of a corrected report of accuracy class NA", 1e-6, 10},
};
const int emi_reconcile_nspecs = (int)(sizeof emi_reconcile_specs / sizeof emi_reconcile_specs[0]);

#define MAX_FILTERS 16

typedef struct {
  const char *path;
  emi_agg_t *agg;
  char *fcols[MAX_FILTERS], *fvals[MAX_FILTERS];
  int nf;
} source_t;

static void source_clear(source_t *s)
{
  emi_agg_destroy(&s->agg);
  for (int k = 0; k < s->nf; k++) free(s->fcols[k]), free(s->fvals[k]);
  s->nf = 0;
}

/* Where the column of one role came from, for a message: "--NAME 'VALUE'" or the config's file:line. */
static void role_where(const emi_ctx_t *ctx, const char *opt, const char *col, char *buf, size_t len)
{
  if (emi_opts_is_set(ctx->opts, opt)) emi_opts_describe(ctx->opts, opt, buf, len);
  else snprintf(buf, len, "--%s (default '%s')", opt, col);
}

/* dim_opts: the options naming the dimension columns (dims), for messages. */
static emi_err_t source_load(emi_ctx_t *ctx, source_t *s, const char *file_opt, const char *filter_opt, int ndims,
                             const char *const *dims, const char *const *dim_opts, int allow_missing)
{
  emi_err_t err = EMI_SUCCESS;
  const char *const *filters = NULL;
  int nfilt = 0;
  const char *tcol, *vcol, *fcol;
  const char *topt = "time-col", *vopt = "value-col";
  char tname[64], vname[64];
  EMI_TRY(emi_opts_get_str(ctx->opts, file_opt, &s->path));
  EMI_TRY(emi_opts_get_list(ctx->opts, filter_opt, &nfilt, &filters));
  tcol = "TIME_PERIOD"; /* time-col has no table default: it is Year under model = double-entry */
  if (emi_opts_is_set(ctx->opts, "time-col")) EMI_TRY(emi_opts_get_str(ctx->opts, "time-col", &tcol));
  EMI_TRY(emi_opts_get_str(ctx->opts, "value-col", &vcol));
  /* per-file columns (--border-value-col, ...) override the common ones */
  snprintf(vname, sizeof vname, "%s-value-col", file_opt);
  if (emi_opts_is_set(ctx->opts, vname)) {
    EMI_TRY(emi_opts_get_str(ctx->opts, vname, &vcol));
    vopt = vname;
  }
  snprintf(tname, sizeof tname, "%s-time-col", file_opt);
  if (emi_opts_is_set(ctx->opts, tname)) {
    EMI_TRY(emi_opts_get_str(ctx->opts, tname, &tcol));
    topt = tname;
  }
  EMI_TRY(emi_opts_get_str(ctx->opts, "flag-col", &fcol));
  { /* one column, one role: a clash names both options (the reader could only name the column) */
    const char *col[8], *opt[8]; /* ndims <= 2, + period, value, flag */
    int nr = 0;
    if (ndims > 5) EMI_FAIL(EMI_ERR_INTERNAL, "source_load: %d dimensions", ndims);
    for (int k = 0; k < ndims; k++) col[nr] = dims[k], opt[nr++] = dim_opts[k];
    col[nr] = tcol, opt[nr++] = topt;
    col[nr] = vcol, opt[nr++] = vopt;
    if (*fcol) col[nr] = fcol, opt[nr++] = "flag-col";
    for (int i = 0; i < nr; i++)
      for (int j = 0; j < i; j++)
        if (!strcmp(col[i], col[j])) {
          char wi[600], wj[600];
          role_where(ctx, opt[j], col[j], wj, sizeof wj);
          role_where(ctx, opt[i], col[i], wi, sizeof wi);
          EMI_FAIL(EMI_ERR_CONFIG, "--%s: column '%s' is named by both %s and %s: a column holds one of the "
                   "codes, the period, the value or the flag", file_opt, col[i], wj, wi);
        }
  }
  if (nfilt > MAX_FILTERS) {
    char where[1024];
    emi_opts_describe(ctx->opts, filter_opt, where, sizeof where);
    EMI_FAIL(EMI_ERR_CONFIG, "%s: at most %d filters (found %d)", where, MAX_FILTERS, nfilt);
  }
  for (int k = 0; k < nfilt; k++) {
    const char *eq = strchr(filters[k], '=');
    if (!eq || eq == filters[k]) {
      char where[1024]; /* the config's file:line when the list came from one */
      emi_opts_describe_item(ctx->opts, filter_opt, filters[k], where, sizeof where);
      EMI_FAIL(EMI_ERR_CONFIG, "%s: expected COLUMN=VALUE", where);
    }
    s->fcols[k] = strndup(filters[k], (size_t)(eq - filters[k]));
    s->fvals[k] = strdup(eq + 1);
    s->nf = k + 1;
    if (!s->fcols[k] || !s->fvals[k]) EMI_FAIL(EMI_ERR_NOMEM, "cannot copy a filter");
  }
  emi_agg_spec_t spec = {.dims = dims, .ndims = ndims, .time_col = tcol, .value_col = vcol,
                         .flag_col = *fcol ? fcol : NULL,
                         .filter_cols = (const char *const *)s->fcols, .filter_vals = (const char *const *)s->fvals,
                         .nfilters = s->nf, .nonnegative = 1};
  {
    emi_err_t e = emi_agg_read_csv(s->path, &spec, &s->agg);
    if (e) { /* say which option named the file */
      char why[1024];
      snprintf(why, sizeof why, "%s", emi_err_message());
      EMI_FAIL(e, "--%s: %s", file_opt, why);
    }
  }
  if (emi_agg_count(s->agg) == 0)
    EMI_FAIL(EMI_ERR_INPUT, "%s: no observations%s", s->path, s->nf ? " after the filters" : "");
  for (int64_t i = 0; i < emi_agg_count(s->agg); i++)
    if (!emi_agg_missing(s->agg)[i] && emi_agg_values(s->agg)[i] > 1e12)
      EMI_FAIL(EMI_ERR_INPUT, "%s:%lld: %s = %.6g persons: implausibly large for a count of migrants (at most 1e12)",
               s->path, (long long)emi_agg_lines(s->agg)[i], vcol, emi_agg_values(s->agg)[i]);
  if (!allow_missing && emi_agg_count_missing(s->agg) > 0) {
    for (int64_t i = 0; i < emi_agg_count(s->agg); i++)
      if (emi_agg_missing(s->agg)[i])
        EMI_FAIL(EMI_ERR_INPUT, "%s:%lld: value is missing: reconciliation needs every reported total%s", s->path,
                 (long long)emi_agg_lines(s->agg)[i],
                 !strcmp(file_opt, "mirror") ? " (or set mirror-unreported = diffuse)" : "");
  }
cleanup:
  return err;
}

static void period_label(char *buf, size_t size, int32_t start, int32_t months)
{
  int y = start / 12, m = start % 12 + 1;
  if (months == 12 && m == 1) snprintf(buf, size, "%04d", y);
  else if (months == 1) snprintf(buf, size, "%04d-%02d", y, m);
  else snprintf(buf, size, "%04d-%02d/P%dM", y, m, months);
}

/* Index of code `c` in list (n sorted codes); -1 when absent. */
static int find_code(char **list, int n, const char *c)
{
  int lo = 0, hi = n - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2, r = strcmp(list[mid], c);
    if (!r) return mid;
    if (r < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

typedef struct {
  int np, nc, nd;
  int32_t *pstart, *pmonths; /* periods (sorted) */
  char **cit, **dst;         /* codes (sorted, borrowed from the agg objects) */
  double *B, *M, *D;         /* reported: [p][c], [p][d] (corrected), [p][c][d] */
  uint8_t *Mobs;             /* [p][d]: 1 where a mirror total was reported */
  int diffuse;               /* unreported mirror totals are diffuse estimates (else an error) */
} tables_t;

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Period index of observation i of agg, in the tables' period list (or -1). */
static int period_of(const tables_t *t, const emi_agg_t *a, int64_t i)
{
  int32_t s = emi_agg_period_start(a)[i], m = emi_agg_period_months(a)[i];
  for (int p = 0; p < t->np; p++)
    if (t->pstart[p] == s && t->pmonths[p] == m) return p;
  return -1;
}

static emi_err_t build_tables(emi_ctx_t *ctx, source_t *src, tables_t *t)
{
  emi_err_t err = EMI_SUCCESS;
  source_t *bs = &src[0], *ms = &src[1], *ds = &src[2];
  double coverage, duration;
  uint8_t *seen = NULL;
  EMI_TRY(emi_opts_get_real(ctx->opts, "mirror-coverage", &coverage));
  EMI_TRY(emi_opts_get_real(ctx->opts, "mirror-duration-factor", &duration));
  /* periods: those of the border file; the others must have exactly the same */
  t->np = emi_agg_nperiods(bs->agg);
  EMI_MALLOC(t->pstart, t->np, "periods");
  EMI_MALLOC(t->pmonths, t->np, "periods");
  for (int p = 0; p < t->np; p++) emi_agg_period(bs->agg, p, &t->pstart[p], &t->pmonths[p]);
  for (int k = 1; k < 3; k++) {
    for (int32_t p = 0; p < emi_agg_nperiods(src[k].agg); p++) {
      int32_t s, m;
      emi_agg_period(src[k].agg, p, &s, &m);
      int found = 0;
      for (int q = 0; q < t->np; q++) found |= t->pstart[q] == s && t->pmonths[q] == m;
      if (!found) {
        char lab[64];
        period_label(lab, sizeof lab, s, m);
        EMI_FAIL(EMI_ERR_INPUT, "%s has period %s, which the border totals (%s) lack", src[k].path, lab, bs->path);
      }
    }
    if (emi_agg_nperiods(src[k].agg) != t->np) {
      for (int q = 0; q < t->np; q++) {
        int found = 0;
        for (int32_t p = 0; p < emi_agg_nperiods(src[k].agg); p++) {
          int32_t s, m;
          emi_agg_period(src[k].agg, p, &s, &m);
          found |= t->pstart[q] == s && t->pmonths[q] == m;
        }
        if (!found) {
          char lab[64];
          period_label(lab, sizeof lab, t->pstart[q], t->pmonths[q]);
          EMI_FAIL(EMI_ERR_INPUT, "%s has no observation for period %s (the border totals have it)", src[k].path, lab);
        }
      }
    }
  }
  { /* Overlapping periods (2021 and 2021-Q1) are each reconciled on their own, which is right for
     * each of them, but a sum over period counts the shared months twice.  Mixed annual and
     * quarterly downloads are common and not wrong in themselves, so this is a warning, not an
     * error: one, naming the file and the overlapping pairs.  The periods are sorted by start, so
     * q overlaps p (p < q) when it starts before p ends. */
    char list[1024];
    size_t used = 0;
    int npairs = 0, shown = 0;
    list[0] = '\0';
    for (int p = 0; p < t->np; p++)
      for (int q = p + 1; q < t->np && t->pstart[q] < t->pstart[p] + t->pmonths[p]; q++) {
        char a[64], b[64];
        npairs++;
        if (shown == 4) continue;
        period_label(a, sizeof a, t->pstart[p], t->pmonths[p]);
        period_label(b, sizeof b, t->pstart[q], t->pmonths[q]);
        int w = snprintf(list + used, sizeof list - used, "%s%s and %s", used ? "; " : "", a, b);
        if (w > 0 && (size_t)w < sizeof list - used) used += (size_t)w, shown++;
      }
    char more[64] = "";
    if (npairs > shown) snprintf(more, sizeof more, " (and %d more pair(s))", npairs - shown);
    if (npairs)
      emi_log_warn("reconcile: %s: overlapping periods %s%s: each is reconciled on its own, so a sum over period "
                   "counts the months they share twice (the mirror and declared files have the same periods)",
                   bs->path, list, more);
  }
  /* codes: citizenships of the border file; destinations of the mirror file, and, when unreported
   * totals are diffuse, also those only the declared file names (+ _ROW for the rest of the world) */
  int row = 0;
  EMI_TRY(emi_opts_get_flag(ctx->opts, "rest-of-world", &row));
  t->nc = emi_agg_ncodes(bs->agg, 0);
  int nm = emi_agg_ncodes(ms->agg, 0), ndd = emi_agg_ncodes(ds->agg, 1);
  EMI_MALLOC(t->cit, t->nc, "citizenship codes");
  EMI_MALLOC(t->dst, nm + ndd + 1, "destination codes");
  for (int c = 0; c < t->nc; c++) t->cit[c] = (char *)emi_agg_code(bs->agg, 0, c);
  t->nd = 0;
  for (int d = 0; d < nm; d++) t->dst[t->nd++] = (char *)emi_agg_code(ms->agg, 0, d);
  if (t->diffuse)
    for (int d = 0; d < ndd; d++) t->dst[t->nd++] = (char *)emi_agg_code(ds->agg, 1, d);
  if (row) t->dst[t->nd++] = "_ROW";
  qsort(t->dst, (size_t)t->nd, sizeof *t->dst, cmp_str);
  int kept = 0;
  for (int d = 0; d < t->nd; d++)
    if (!kept || strcmp(t->dst[kept - 1], t->dst[d])) t->dst[kept++] = t->dst[d];
  t->nd = kept;
  size_t np = (size_t)t->np, nc = (size_t)t->nc, nd = (size_t)t->nd;
  EMI_CALLOC(t->B, np * nc, "border totals");
  EMI_CALLOC(t->M, np * nd, "mirror totals");
  EMI_CALLOC(t->D, np * nc * nd, "declared emigration");
  EMI_CALLOC(seen, np * (nc > nd ? nc : nd), "cell flags");
  for (int64_t i = 0; i < emi_agg_count(bs->agg); i++) {
    size_t at = (size_t)period_of(t, bs->agg, i) * nc + (size_t)emi_agg_code_index(bs->agg, 0)[i];
    t->B[at] = emi_agg_values(bs->agg)[i];
    seen[at] = 1;
  }
  for (size_t at = 0; at < np * nc; at++)
    if (!seen[at]) {
      char lab[64];
      period_label(lab, sizeof lab, t->pstart[at / nc], t->pmonths[at / nc]);
      EMI_FAIL(EMI_ERR_INPUT, "%s: no total for citizenship %s in period %s (write 0 if there were none)", bs->path,
               t->cit[at % nc], lab);
    }
  EMI_CALLOC(t->Mobs, np * nd, "mirror flags");
  for (int64_t i = 0; i < emi_agg_count(ms->agg); i++) {
    if (emi_agg_missing(ms->agg)[i]) continue; /* ':' with mirror-unreported = diffuse */
    int d = find_code(t->dst, t->nd, emi_agg_code(ms->agg, 0, emi_agg_code_index(ms->agg, 0)[i]));
    size_t at = (size_t)period_of(t, ms->agg, i) * nd + (size_t)d;
    t->M[at] = emi_agg_values(ms->agg)[i] / coverage * duration;
    t->Mobs[at] = 1;
  }
  for (size_t at = 0; at < np * nd && !t->diffuse; at++)
    if (!t->Mobs[at] && strcmp(t->dst[at % nd], "_ROW")) {
      char lab[64];
      period_label(lab, sizeof lab, t->pstart[at / nd], t->pmonths[at / nd]);
      EMI_FAIL(EMI_ERR_INPUT,
               "%s: no total for destination %s in period %s (write 0 if there were none, or set "
               "mirror-unreported = diffuse if it was not reported)",
               ms->path, t->dst[at % nd], lab);
    }
  /* declared: sparse; every code must be one of the border citizenships / mirror destinations */
  for (int64_t i = 0; i < emi_agg_count(ds->agg); i++) {
    const char *cc = emi_agg_code(ds->agg, 0, emi_agg_code_index(ds->agg, 0)[i]);
    const char *dc = emi_agg_code(ds->agg, 1, emi_agg_code_index(ds->agg, 1)[i]);
    int c = find_code(t->cit, t->nc, cc), d = find_code(t->dst, t->nd, dc);
    if (c < 0)
      EMI_FAIL(EMI_ERR_INPUT, "%s:%lld: citizenship '%s' has no border total in %s", ds->path,
               (long long)emi_agg_lines(ds->agg)[i], cc, bs->path);
    if (d < 0)
      EMI_FAIL(EMI_ERR_INPUT, "%s:%lld: destination '%s' has no mirror total in %s (set mirror-unreported = diffuse "
               "to treat its total as unknown)", ds->path, (long long)emi_agg_lines(ds->agg)[i], dc, ms->path);
    t->D[((size_t)period_of(t, ds->agg, i) * nc + (size_t)c) * nd + (size_t)d] = emi_agg_values(ds->agg)[i];
  }
cleanup:
  free(seen);
  return err;
}

/* One input file as read, on the tables' grid (period x its codes), for /reconciliation/inputs/NAME:
 * the value as read, whether there was an observation, its flag (OBS_FLAG, kept whole, as an index
 * into the file's distinct flags) and the line it came from. */
typedef struct {
  size_t ncell;     /* periods x cells per period */
  double *value;    /* as read (0 where there is no observation or the value is missing) */
  uint8_t *status;  /* 0: no observation, 1: a value, 2: missing (':' or another missing token) */
  int64_t *flag;    /* 0: no flag, k >= 1: codes[k] */
  int64_t *line;    /* the observation's line in the file, 0 where there is none */
  const char **codes; /* ncodes distinct flags, codes[0] = "" (none), the rest sorted bytewise */
  int ncodes;
} grid_t;

static void grid_clear(grid_t *g)
{
  free(g->value), free(g->status), free(g->flag), free(g->line), free(g->codes);
  memset(g, 0, sizeof *g);
}

static int cmp_cstr(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* which: 0 border (citizen), 1 mirror (destination), 2 declared (citizen x destination). */
static emi_err_t grid_build(const tables_t *t, const source_t *src, int which, grid_t *g)
{
  emi_err_t err = EMI_SUCCESS;
  const emi_agg_t *a = src->agg;
  const size_t nc = (size_t)t->nc, nd = (size_t)t->nd;
  const size_t per = which == 0 ? nc : which == 1 ? nd : nc * nd;
  const int64_t nobs = emi_agg_count(a);
  memset(g, 0, sizeof *g);
  g->ncell = (size_t)t->np * per;
  EMI_CALLOC(g->value, g->ncell + 1, "input values");
  EMI_CALLOC(g->status, g->ncell + 1, "input status");
  EMI_CALLOC(g->flag, g->ncell + 1, "input flags");
  EMI_CALLOC(g->line, g->ncell + 1, "input lines");
  /* the distinct flags, sorted, after "" */
  EMI_MALLOC(g->codes, (size_t)nobs + 1, "flag codes");
  g->codes[0] = "";
  int nf = 0;
  for (int64_t i = 0; i < nobs && emi_agg_has_flags(a); i++)
    if (*emi_agg_flag(a, i)) g->codes[1 + nf++] = emi_agg_flag(a, i);
  qsort(g->codes + 1, (size_t)nf, sizeof *g->codes, cmp_cstr);
  int kept = 0;
  for (int k = 0; k < nf; k++)
    if (!kept || strcmp(g->codes[kept], g->codes[1 + k])) g->codes[1 + kept++] = g->codes[1 + k];
  g->ncodes = 1 + kept;
  for (int64_t i = 0; i < nobs; i++) {
    const int p = period_of(t, a, i);
    int c = 0, d = 0;
    if (which == 0) c = emi_agg_code_index(a, 0)[i];
    else if (which == 1) d = find_code(t->dst, t->nd, emi_agg_code(a, 0, emi_agg_code_index(a, 0)[i]));
    else {
      c = find_code(t->cit, t->nc, emi_agg_code(a, 0, emi_agg_code_index(a, 0)[i]));
      d = find_code(t->dst, t->nd, emi_agg_code(a, 1, emi_agg_code_index(a, 1)[i]));
    }
    if (p < 0 || c < 0 || d < 0) /* build_tables has refused these already */
      EMI_FAIL(EMI_ERR_INTERNAL, "%s:%lld: observation outside the reconciliation grid", src->path,
               (long long)emi_agg_lines(a)[i]);
    const size_t at = (size_t)p * per + (which == 0 ? (size_t)c : which == 1 ? (size_t)d : (size_t)c * nd + (size_t)d);
    const int miss = emi_agg_missing(a)[i];
    g->value[at] = miss ? 0.0 : emi_agg_values(a)[i];
    g->status[at] = miss ? 2 : 1;
    g->line[at] = emi_agg_lines(a)[i];
    const char *fl = emi_agg_flag(a, i);
    if (*fl) {
      const char **hit = bsearch(&fl, g->codes + 1, (size_t)kept, sizeof *g->codes, cmp_cstr);
      g->flag[at] = hit ? (int64_t)(hit - g->codes) : 0;
    }
  }
cleanup:
  return err;
}

/* /reconciliation/inputs/NAME: the grid of one input, with its own copies of the coordinates (xarray
 * labels a group's arrays from the group's own scales). */
static emi_err_t write_input(emi_h5_file_t *f, const tables_t *t, const char *name, const source_t *src, int which,
                             const grid_t *g, char *const *plabels, const char *flag_col, uint64_t row0,
                             uint64_t nrows)
{
  emi_err_t err = EMI_SUCCESS;
  char G[128], sp[3][160], ds[160];
  char *meanings = NULL;
  const size_t nc = (size_t)t->nc, nd = (size_t)t->nd;
  snprintf(G, sizeof G, "/reconciliation/inputs/%s", name);
  EMI_TRY(emi_h5_group_ensure(f, G));
  EMI_TRY(emi_h5_write_scale_str(f, G, "period", (uint64_t)t->np, (const char *const *)plabels, "",
                                 "period (YYYY = calendar year, YYYY-MM = month, YYYY-MM/PnM = n months)"));
  int rank = 1;
  uint64_t gd[3] = {(uint64_t)t->np, 0, 0};
  const char *scales[3];
  snprintf(sp[0], sizeof sp[0], "%s/period", G);
  scales[0] = sp[0];
  if (which != 1) {
    EMI_TRY(emi_h5_write_scale_str(f, G, "citizen", nc, (const char *const *)t->cit, "", "citizenship"));
    snprintf(sp[rank], sizeof sp[rank], "%s/citizen", G);
    scales[rank] = sp[rank];
    gd[rank++] = nc;
  }
  if (which != 0) {
    EMI_TRY(emi_h5_write_scale_str(f, G, "destination", nd, (const char *const *)t->dst, "", "country of destination"));
    snprintf(sp[rank], sizeof sp[rank], "%s/destination", G);
    scales[rank] = sp[rank];
    gd[rank++] = nd;
  }
  const size_t per = g->ncell / (size_t)(t->np > 0 ? t->np : 1);
  const size_t o = (size_t)row0 * per;
  char what[200];
  snprintf(what, sizeof what, "%s as read from the file (0 where it has no observation or a missing value)", name);
  snprintf(ds, sizeof ds, "%s/value", G);
  EMI_TRY(emi_h5_write_array(f, ds, EMI_H5_DOUBLE, rank, gd, scales, row0, nrows, g->value + o, "persons", what));
  snprintf(ds, sizeof ds, "%s/status", G);
  EMI_TRY(emi_h5_write_array(f, ds, EMI_H5_UINT8, rank, gd, scales, row0, nrows, g->status + o, "1",
                             "0: no observation in the file, 1: an observed value, 2: a missing value (':')"));
  EMI_TRY(emi_h5_attr_str(f, ds, "flag_meanings", "no_observation observed missing"));
  snprintf(ds, sizeof ds, "%s/line", G);
  EMI_TRY(emi_h5_write_array(f, ds, EMI_H5_INT64, rank, gd, scales, row0, nrows, g->line + o, "1",
                             "line of the observation in the file (0: no observation)"));
  snprintf(ds, sizeof ds, "%s/flag", G);
  EMI_TRY(emi_h5_write_array(f, ds, EMI_H5_INT64, rank, gd, scales, row0, nrows, g->flag + o, "1",
                             "observation flag (OBS_FLAG), kept whole: index into the attribute flag_codes "
                             "(0: no flag)"));
  EMI_TRY(emi_h5_attr_str_array(f, ds, "flag_codes", (uint64_t)g->ncodes, g->codes));
  { /* CF-style flag_meanings: one word per code, "none" for 0.  CF words hold letters, digits and
     * _ - . + @ only, and must be distinct: a space becomes '_', and every other byte outside letters,
     * digits, '-', '.', '+' (an '_' or '@' too) becomes @XX (hex), so that `a b` (a_b) and `a_b` (a@5Fb)
     * stay apart and each word reads back to its code; a code "none" has its first byte escaped
     * (@6Eone), apart from 0's "none". */
    size_t len = 8;
    for (int k = 1; k < g->ncodes; k++) len += 3 * strlen(g->codes[k]) + 1;
    EMI_MALLOC(meanings, len, "flag meanings");
    strcpy(meanings, "none");
    size_t at = strlen(meanings);
    for (int k = 1; k < g->ncodes; k++) {
      meanings[at++] = ' ';
      const int is_none = !strcmp(g->codes[k], "none");
      for (const unsigned char *c = (const unsigned char *)g->codes[k]; *c; c++) {
        int plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' ||
                    *c == '.' || *c == '+';
        if (is_none && c == (const unsigned char *)g->codes[k]) plain = 0;
        if (*c == ' ') meanings[at++] = '_';
        else if (plain) meanings[at++] = (char)*c;
        else at += (size_t)snprintf(meanings + at, len - at, "@%02X", *c);
      }
      meanings[at] = '\0';
    }
  }
  EMI_TRY(emi_h5_attr_str(f, ds, "flag_meanings", meanings));
  EMI_TRY(emi_h5_attr_str(f, G, "source_file", src->path));
  EMI_TRY(emi_h5_attr_str(f, G, "flag_column", emi_agg_has_flags(src->agg) ? flag_col : ""));
cleanup:
  free(meanings);
  return err;
}

static void tables_clear(tables_t *t)
{
  free(t->pstart);
  free(t->pmonths);
  free(t->cit);
  free(t->dst);
  free(t->B);
  free(t->M);
  free(t->D);
  free(t->Mobs);
}

typedef struct {
  double *Bh, *Bsd, *Mh, *Msd, *U, *Uc, *Ud;
  int64_t *solves, *active, *iters, *conv;
  double *resid, *ipf_dev;
} results_t;

/* Warnings of the periods a rank computes, kept until every rank is done: emi_log prints on rank 0
 * only, so a warning said on another rank would be lost.  One message per line, in the order said. */
typedef struct {
  char *text;
  size_t len, cap;
  int full; /* an allocation failed: the rest is dropped, and one line says so */
} warnbuf_t;

static void warnbuf_add(warnbuf_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warnbuf_add(warnbuf_t *w, const char *fmt, ...)
{
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (n < 0 || w->full) return;
  size_t need = strlen(msg) + 1; /* + '\n' */
  if (w->len + need + 1 > w->cap) {
    size_t cap = 2 * (w->len + need + 1) + 1024;
    char *t = realloc(w->text, cap);
    if (!t) { /* a warning is not worth failing the run; say that some were lost */
      w->full = 1;
      return;
    }
    w->text = t, w->cap = cap;
  }
  memcpy(w->text + w->len, msg, need - 1);
  w->text[w->len + need - 1] = '\n';
  w->len += need;
  w->text[w->len] = '\0';
}

/* Gather every rank's warnings to rank 0 and print them there, rank by rank: ranks own consecutive
 * periods in order, so this is period order, and the text is the same at any number of ranks.  A rank
 * that failed (failed != 0) stopped at its failing period; the warnings of later ranks' periods are
 * not printed, as one rank would not have reached them either. */
static emi_err_t warnbuf_flush(MPI_Comm comm, warnbuf_t *w, int failed)
{
  emi_err_t err = EMI_SUCCESS;
  int rank = 0, size = 1;
  int mine[3], *all = NULL, *counts = NULL, *displs = NULL;
  char *text = NULL;
  EMI_MPI_TRY(MPI_Comm_rank(comm, &rank));
  EMI_MPI_TRY(MPI_Comm_size(comm, &size));
  if (w->len > (size_t)INT_MAX / 2) w->len = 0, w->full = 1; /* beyond what MPI counts in int */
  mine[0] = (int)w->len, mine[1] = failed != 0, mine[2] = w->full;
  if (rank == 0) {
    EMI_MALLOC(all, 3 * (size_t)size, "warning counts");
    EMI_MALLOC(counts, (size_t)size, "warning counts");
    EMI_MALLOC(displs, (size_t)size, "warning offsets");
  }
  EMI_MPI_TRY(MPI_Gather(mine, 3, MPI_INT, all, 3, MPI_INT, 0, comm));
  size_t total = 0;
  if (rank == 0) {
    for (int k = 0; k < size; k++) {
      counts[k] = all[3 * k];
      displs[k] = (int)total;
      total += (size_t)counts[k];
      if (total > (size_t)INT_MAX) counts[k] = 0, total -= (size_t)all[3 * k], all[3 * k + 2] = 1;
    }
    EMI_MALLOC(text, total + 1, "warnings");
  }
  EMI_MPI_TRY(MPI_Gatherv(w->text ? w->text : "", mine[0], MPI_CHAR, text, counts, displs, MPI_CHAR, 0, comm));
  if (rank == 0) {
    for (int k = 0; k < size; k++) {
      char *at = text + displs[k], *end = at + counts[k];
      while (at < end) {
        char *nl = memchr(at, '\n', (size_t)(end - at));
        if (!nl) break;
        *nl = '\0';
        emi_log_warn("%s", at);
        at = nl + 1;
      }
      if (all[3 * k + 2]) emi_log_warn("reconcile: some warnings were lost (out of memory)");
      if (all[3 * k + 1]) break;
    }
  }
cleanup:
  free(all), free(counts), free(displs), free(text);
  free(w->text);
  memset(w, 0, sizeof *w);
  return err;
}

/* Reconcile period p (local row r of the results); its warnings go to wb. */
static emi_err_t reconcile_period(emi_ctx_t *ctx, const tables_t *t, int p, int r, results_t *o, warnbuf_t *wb)
{
  emi_err_t err = EMI_SUCCESS;
  size_t nc = (size_t)t->nc, nd = (size_t)t->nd, n = nc + nd;
  double bcv, mcv, vfloor, sfloor, tol;
  int64_t maxit;
  double *x = NULL, *V = NULL, *A = NULL, *yh = NULL, *cov = NULL, *work = NULL, *seed = NULL, *ipfw = NULL;
  double *lbv = NULL;
  unsigned char *active = NULL, *raised = NULL;
  const double *Dp = t->D + (size_t)p * nc * nd;
  char lab[64];
  period_label(lab, sizeof lab, t->pstart[p], t->pmonths[p]);
  EMI_TRY(emi_opts_get_real(ctx->opts, "border-cv", &bcv));
  EMI_TRY(emi_opts_get_real(ctx->opts, "mirror-cv", &mcv));
  EMI_TRY(emi_opts_get_real(ctx->opts, "var-floor", &vfloor));
  EMI_TRY(emi_opts_get_real(ctx->opts, "seed-floor", &sfloor));
  EMI_TRY(emi_opts_get_real(ctx->opts, "ipf-tol-rel", &tol));
  EMI_TRY(emi_opts_get_int(ctx->opts, "ipf-max-iter", &maxit));
  EMI_MALLOC(x, n, "GLS estimates");
  EMI_MALLOC(V, n, "GLS variances");
  EMI_MALLOC(A, n, "GLS constraint");
  EMI_MALLOC(yh, n, "GLS result");
  EMI_MALLOC(cov, n * n, "GLS covariance");
  EMI_MALLOC(lbv, n, "declared lower bounds");
  EMI_CALLOC(raised, n, "raised-total flags");
  /* y = x - lower bound (declared row / column sums) */
  double rhs = 0.0;
  for (size_t c = 0; c < nc; c++) {
    double lb = 0.0;
    for (size_t d = 0; d < nd; d++) lb += Dp[c * nd + d];
    double b = t->B[(size_t)p * nc + c];
    x[c] = b - lb;
    lbv[c] = lb;
    V[c] = (bcv * b) * (bcv * b) + vfloor;
    A[c] = 1.0;
    rhs -= lb;
  }
  /* an unreported mirror total is unknown: it starts at its lower bound with a diffuse variance
   * (sd ten times the largest total of the period), so the identity hardly moves the others */
  double scale = 1.0;
  for (size_t c = 0; c < nc; c++) scale += t->B[(size_t)p * nc + c];
  for (size_t d = 0; d < nd; d++) {
    double lb = 0.0;
    for (size_t c = 0; c < nc; c++) lb += Dp[c * nd + d];
    double m = t->M[(size_t)p * nd + d];
    lbv[nc + d] = lb;
    if (t->Mobs[(size_t)p * nd + d]) {
      x[nc + d] = m - lb;
      V[nc + d] = (mcv * m) * (mcv * m) + vfloor;
    } else {
      x[nc + d] = 0.0;
      V[nc + d] = (10.0 * scale) * (10.0 * scale);
    }
    A[nc + d] = -1.0;
    rhs += lb;
  }
  /* A total with variance 0 (a zero count under var-floor = 0) is fixed in the GLS, and the kernel
   * does not bound fixed estimates: below its declared figure it would stay below (a negative
   * undeclared margin, which the IPF refuses or, when the negatives cancel, a period zeroed as if
   * nothing were undeclared).  The declared emigrants are a hard lower bound, so raise it to its
   * declared figure and hold it there, as the active set does with var-floor > 0: this is the limit of
   * that solution as the variance goes to 0, and it gets the same warning. */
  size_t nraised = 0;
  for (size_t i = 0; i < n; i++)
    if (V[i] == 0.0 && x[i] < 0.0) {
      x[i] = 0.0;
      raised[i] = 1;
      nraised++;
    }
  emi_gls_problem_t prob = {.n = n, .m = 1, .x = x, .V = V, .v_diag = 1, .A = A, .b = &rhs};
  emi_gls_opts_t go;
  emi_gls_opts_default(&go);
  go.nonneg = 1;
  go.redundant = EMI_GLS_REDUNDANT_DROP; /* e.g. a period of zeros with var-floor 0: consistent, all fixed */
  emi_gls_result_t gr = {0};
  size_t lw = emi_gls_work_len(n, 1, 1, 1);
  EMI_MALLOC(work, lw, "GLS workspace");
  EMI_MALLOC(active, n, "GLS active flags");
  emi_err_t e = emi_gls_solve(&prob, &go, yh, cov, active, NULL, work, lw, &gr);
  if (e) {
    char why[1024]; /* copy: the message buffer is also the destination of the new message */
    snprintf(why, sizeof why, "%s", emi_err_message());
    EMI_FAIL(e, "period %s: GLS reconciliation failed: %s", lab, why);
  }
  /* say what moved a lot: totals raised to the declared figure, and adjustments beyond 3 sd */
  for (size_t i = 0; i < n; i++) {
    int is_b = i < nc;
    const char *what = is_b ? "border total of citizenship" : "mirror total of destination";
    const char *code = is_b ? t->cit[i] : t->dst[i - nc];
    if (!is_b && !t->Mobs[(size_t)p * nd + (i - nc)]) continue; /* unreported: diffuse by design */
    double reported = is_b ? t->B[(size_t)p * nc + i] : t->M[(size_t)p * nd + i - nc];
    if (raised[i] || (active[i] && x[i] < 0))
      warnbuf_add(wb, "reconcile: period %s: %s %s (%.6g) is below its declared emigration (%.6g): raised to it; its "
                   "sd is reported as 0 (conditional on the bound)", lab, what, code, reported, lbv[i]);
    else if (fabs(yh[i] - x[i]) > 3.0 * sqrt(V[i]))
      warnbuf_add(wb, "reconcile: period %s: %s %s adjusted from %.6g by %+.6g, more than 3 standard deviations", lab,
                   what, code, reported, yh[i] - x[i]);
  }
  for (size_t c = 0; c < nc; c++) {
    o->Uc[(size_t)r * nc + c] = yh[c];
    o->Bh[(size_t)r * nc + c] = yh[c] + lbv[c]; /* reconciled = undeclared + declared (the lower bound) */
    o->Bsd[(size_t)r * nc + c] = sqrt(fmax(cov[c * n + c], 0.0));
  }
  for (size_t d = 0; d < nd; d++) {
    o->Ud[(size_t)r * nd + d] = yh[nc + d];
    o->Mh[(size_t)r * nd + d] = yh[nc + d] + lbv[nc + d];
    o->Msd[(size_t)r * nd + d] = sqrt(fmax(cov[(nc + d) * n + nc + d], 0.0));
  }
  o->solves[r] = gr.solves;
  o->active[r] = (int64_t)(gr.n_active + nraised); /* both are totals held at the declared bound */
  o->resid[r] = gr.max_residual;

  /* IPF: spread undeclared over citizenship x destination like the declared */
  double *U = o->U + (size_t)r * nc * nd;
  for (size_t k = 0; k < nc * nd; k++) U[k] = Dp[k] + sfloor;
  size_t dims[2] = {nc, nd};
  int d0[1] = {0}, d1[1] = {1};
  emi_ipf_margin_t mg[2] = {{1, d0, o->Uc + (size_t)r * nc}, {1, d1, o->Ud + (size_t)r * nd}};
  emi_ipf_opts_t io;
  emi_ipf_opts_default(&io);
  io.tol_rel = tol;
  io.max_iter = (int)maxit;
  /* The two margins sum to the same total up to GLS rounding: let IPF scale them to their mean
   * instead of calling rounding noise a disagreement, and call a total of rounding size zero. */
  io.rescale = EMI_IPF_RESCALE_TO_MEAN;
  {
    /* The margins are >= 0 by construction (bounded or raised above); a negative one is a bug here,
     * not a message for the IPF to give, and must never be summed away by the shortcut below. */
    for (size_t i = 0; i < n; i++)
      if (!(yh[i] >= 0.0))
        EMI_FAIL(EMI_ERR_INTERNAL, "period %s: undeclared emigration of %s %s is %.17g after GLS (must be >= 0)", lab,
                 i < nc ? "citizenship" : "destination", i < nc ? t->cit[i] : t->dst[i - nc], yh[i]);
    double tc = 0.0, td = 0.0;
    for (size_t c = 0; c < nc; c++) tc += o->Uc[(size_t)r * nc + c];
    for (size_t d = 0; d < nd; d++) td += o->Ud[(size_t)r * nd + d];
    if (tc <= 1e-9 * scale && td <= 1e-9 * scale) {
      for (size_t c = 0; c < nc; c++) o->Uc[(size_t)r * nc + c] = 0.0;
      for (size_t d = 0; d < nd; d++) o->Ud[(size_t)r * nd + d] = 0.0;
    } else if (fabs(tc - td) > 1e-9 * scale) {
      EMI_FAIL(EMI_ERR_INTERNAL, "period %s: undeclared totals by citizenship (%.17g) and by destination (%.17g) "
               "differ beyond rounding after GLS", lab, tc, td);
    }
  }
  emi_ipf_result_t ir = {0};
  size_t liw = emi_ipf_work_len(2, dims, 2, mg);
  EMI_MALLOC(ipfw, liw, "IPF workspace");
  e = emi_ipf_fit(2, dims, U, 2, mg, &io, ipfw, liw, &ir);
  if (e && e != EMI_ERR_NOCONV) {
    char why[1024]; /* copy: the message buffer is also the destination of the new message */
    snprintf(why, sizeof why, "%s", emi_err_message());
    if (e == EMI_ERR_INFEASIBLE)
      EMI_FAIL(e, "period %s: cannot spread undeclared emigration over destinations: %s (citizenships with "
               "undeclared emigration but no declared emigrant anywhere need seed-floor > 0)", lab, why);
    EMI_FAIL(e, "period %s: IPF failed: %s", lab, why);
  }
  if (e == EMI_ERR_NOCONV) {
    int accept = 0;
    EMI_TRY(emi_opts_get_flag(ctx->opts, "accept-nonconverged", &accept));
    if (!accept)
      EMI_FAIL(EMI_ERR_NOCONV, "period %s: IPF not converged after %d iterations (largest deviation %.6g > %.3g): "
               "raise ipf-max-iter, or accept-nonconverged = true to write it flagged in ipf_converged",
               lab, ir.iterations, ir.max_dev, ir.tol);
    emi_err_clear();
    warnbuf_add(wb, "reconcile: period %s: IPF not converged after %d iterations (deviation %.3g); flagged in "
                 "ipf_converged", lab, ir.iterations, ir.max_dev);
  }
  o->iters[r] = ir.iterations;
  o->ipf_dev[r] = ir.max_dev;
  o->conv[r] = ir.converged;
cleanup:
  free(x);
  free(V);
  free(A);
  free(yh);
  free(cov);
  free(work);
  free(seed);
  free(ipfw);
  free(active);
  free(lbv);
  free(raised);
  return err;
}

emi_err_t emi_cmd_reconcile(emi_ctx_t *ctx)
{
  emi_err_t err = EMI_SUCCESS;
  source_t src[3];
  tables_t t = {0};
  results_t o = {0};
  emi_h5_file_t *f = NULL;
  emi_provenance_t *prov = NULL;
  const char *bcit, *mdst, *dcit, *ddst, *out_path;
  char **plabels = NULL;
  uint64_t row0 = 0, nrows = 0, chunk = 1;
  grid_t grids[3];
  warnbuf_t wb = {0};
  memset(src, 0, sizeof src);
  memset(grids, 0, sizeof grids);

  {
    const char *model = NULL;
    EMI_TRY(emi_opts_get_str(ctx->opts, "model", &model));
    int de = !strcmp(model, "double-entry");
    /* an option of the other model would be ignored: refuse it */
    static const char *const border_only[] = {
      "border", "border-filter", "mirror", "mirror-filter", "declared", "declared-filter", "border-citizen-col",
      "mirror-destination-col", "declared-citizen-col", "declared-destination-col", "mirror-unreported",
      "rest-of-world", "value-col", "flag-col", "border-value-col", "mirror-value-col", "declared-value-col",
      "border-time-col", "mirror-time-col", "declared-time-col", "border-cv", "mirror-cv", "mirror-coverage", "mirror-duration-factor",
      "seed-floor", "ipf-tol-rel", "ipf-max-iter", "accept-nonconverged"};
    static const char *const de_only[] = {
      "input", "filter", "from-col", "to-col", "emigration-col", "immigration-col", "emigration-undercount-col",
      "immigration-undercount-col", "emigration-accuracy-col", "immigration-accuracy-col", "countries",
      "first-year", "last-year", "benchmark", "prior-emigration-low", "prior-emigration-medium",
      "prior-emigration-high", "prior-immigration-low", "prior-immigration-medium", "prior-immigration-high",
      "duration", "de-cv-high", "de-cv-medium", "de-cv-low", "de-cv-na"};
    const char *const *other = de ? border_only : de_only;
    size_t nother = de ? sizeof border_only / sizeof *border_only : sizeof de_only / sizeof *de_only;
    for (size_t i = 0; i < nother; i++)
      if (emi_opts_given(ctx->opts, other[i]))
        EMI_FAIL(EMI_ERR_USAGE, "reconcile: --%s (config [reconcile] %s) belongs to model = %s; this run is model = %s",
                 other[i], other[i], de ? "border" : "double-entry", model);
    if (de) {
      err = emi_reconcile_double_entry(ctx);
      goto cleanup;
    }
  }

  EMI_TRY(emi_opts_get_str(ctx->opts, "output", &out_path));
  EMI_TRY(emi_opts_get_str(ctx->opts, "border-citizen-col", &bcit));
  EMI_TRY(emi_opts_get_str(ctx->opts, "mirror-destination-col", &mdst));
  EMI_TRY(emi_opts_get_str(ctx->opts, "declared-citizen-col", &dcit));
  EMI_TRY(emi_opts_get_str(ctx->opts, "declared-destination-col", &ddst));
  {
    size_t n = strlen(out_path);
    if (n < 3 || strcmp(out_path + n - 3, ".h5"))
      EMI_FAIL(EMI_ERR_USAGE, "reconcile: the output is an HDF5 file: -o must end in .h5 (got '%s')", out_path);
  }
  EMI_TRY(emi_output_check_path(out_path));
  const char *bd[1] = {bcit}, *md[1] = {mdst}, *dd[2] = {dcit, ddst};
  const char *unrep = NULL;
  EMI_TRY(emi_opts_get_str(ctx->opts, "mirror-unreported", &unrep));
  static const char *const bo[1] = {"border-citizen-col"}, *const mo[1] = {"mirror-destination-col"},
                           *const dopt[2] = {"declared-citizen-col", "declared-destination-col"};
  EMI_TRY(source_load(ctx, &src[0], "border", "border-filter", 1, bd, bo, 0));
  EMI_TRY(source_load(ctx, &src[1], "mirror", "mirror-filter", 1, md, mo, !strcmp(unrep, "diffuse")));
  EMI_TRY(source_load(ctx, &src[2], "declared", "declared-filter", 2, dd, dopt, 0));
  for (int k = 0; k < 3; k++) EMI_TRY(emi_output_check_not_input(out_path, src[k].path));
  EMI_TRY(emi_output_check_not_config(out_path, ctx->config_path));
  t.diffuse = !strcmp(unrep, "diffuse");
  EMI_TRY(build_tables(ctx, src, &t));
  for (int k = 0; k < 3; k++) EMI_TRY(grid_build(&t, &src[k], k, &grids[k]));
  emi_log_info("reconcile: %d period(s) x %d citizenship(s) x %d destination(s)", t.np, t.nc, t.nd);

  /* periods over ranks, in whole chunks of the largest array */
  size_t nc = (size_t)t.nc, nd = (size_t)t.nd;
  uint64_t gd3[3] = {(uint64_t)t.np, nc, nd};
  EMI_TRY(emi_h5_chunk_rows(EMI_H5_DOUBLE, 3, gd3, &chunk));
  EMI_TRY(emi_h5_partition((uint64_t)t.np, chunk, ctx->comm, &row0, &nrows));
  size_t nr = (size_t)nrows;
  EMI_CALLOC(o.Bh, nr * nc + 1, "results");
  EMI_CALLOC(o.Bsd, nr * nc + 1, "results");
  EMI_CALLOC(o.Uc, nr * nc + 1, "results");
  EMI_CALLOC(o.Mh, nr * nd + 1, "results");
  EMI_CALLOC(o.Msd, nr * nd + 1, "results");
  EMI_CALLOC(o.Ud, nr * nd + 1, "results");
  EMI_CALLOC(o.U, nr * nc * nd + 1, "results");
  EMI_CALLOC(o.solves, nr + 1, "results");
  EMI_CALLOC(o.active, nr + 1, "results");
  EMI_CALLOC(o.iters, nr + 1, "results");
  EMI_CALLOC(o.conv, nr + 1, "results");
  EMI_CALLOC(o.resid, nr + 1, "results");
  EMI_CALLOC(o.ipf_dev, nr + 1, "results");
  emi_err_t local = EMI_SUCCESS;
  emi_progress_t prog;
  emi_progress_begin(&prog, "reconcile", (double)nr, "periods");
  for (size_t r = 0; r < nr && !local; r++) {
    local = reconcile_period(ctx, &t, (int)(row0 + r), (int)r, &o, &wb);
    emi_progress_update(&prog, (double)(r + 1));
  }
  emi_progress_end(&prog, (double)nr);
  { /* the warnings first (before the error, if any, that main prints); a failed gather is only
     * reported when the periods themselves succeeded, so it does not hide their error */
    emi_err_t we = warnbuf_flush(ctx->comm, &wb, local != EMI_SUCCESS);
    if (!local) local = we;
  }
  EMI_TRY(emi_mpi_agree(ctx->comm, local, NULL));

  /* write */
  EMI_TRY(emi_output_begin(ctx, out_path, &f, &prov));
  for (int k = 0; k < 3; k++) EMI_TRY(emi_provenance_add_input(prov, src[k].path));
  const char *G = "/reconciliation";
  EMI_TRY(emi_h5_group_ensure(f, G));
  EMI_CALLOC(plabels, (size_t)t.np, "period labels");
  int64_t *pst = NULL;
  for (int p = 0; p < t.np; p++) {
    char lab[64];
    period_label(lab, sizeof lab, t.pstart[p], t.pmonths[p]);
    if (!(plabels[p] = strdup(lab))) EMI_FAIL(EMI_ERR_NOMEM, "cannot copy a period label");
  }
  (void)pst;
  EMI_TRY(emi_h5_write_scale_str(f, G, "period", (uint64_t)t.np, (const char *const *)plabels, "",
                                 "period (YYYY = calendar year, YYYY-MM = month, YYYY-MM/PnM = n months)"));
  EMI_TRY(emi_h5_write_scale_str(f, G, "citizen", nc, (const char *const *)t.cit, "", "citizenship"));
  EMI_TRY(emi_h5_write_scale_str(f, G, "destination", nd, (const char *const *)t.dst, "",
                                 "country of destination"));
  const char *sc_pc[2] = {"/reconciliation/period", "/reconciliation/citizen"};
  const char *sc_pd[2] = {"/reconciliation/period", "/reconciliation/destination"};
  const char *sc_pcd[3] = {"/reconciliation/period", "/reconciliation/citizen", "/reconciliation/destination"};
  const char *sc_p[1] = {"/reconciliation/period"};
  uint64_t gpc[2] = {(uint64_t)t.np, nc}, gpd[2] = {(uint64_t)t.np, nd}, gp[1] = {(uint64_t)t.np};
  /* reported inputs are known on every rank: write this rank's rows of them too */
  const double *Bloc = t.B + row0 * nc, *Mloc = t.M + row0 * nd, *Dloc = t.D + row0 * nc * nd;
  EMI_TRY(emi_h5_write_array(f, "/reconciliation/border_reported", EMI_H5_DOUBLE, 2, gpc, sc_pc, row0, nrows, Bloc,
                             "persons", "border-based emigration as reported"));
  EMI_TRY(emi_h5_write_array(f, "/reconciliation/border_reconciled", EMI_H5_DOUBLE, 2, gpc, sc_pc, row0, nrows,
                             o.Bh, "persons", "border-based emigration after GLS reconciliation"));
  EMI_TRY(emi_h5_write_array(f, "/reconciliation/border_sd", EMI_H5_DOUBLE, 2, gpc, sc_pc, row0, nrows, o.Bsd,
                             "persons", "standard deviation of the reconciled border-based emigration"));
  EMI_TRY(emi_h5_write_array(f, "/reconciliation/mirror_reported", EMI_H5_DOUBLE, 2, gpd, sc_pd, row0, nrows, Mloc,
                             "persons", "mirror immigration corrected for coverage and duration definition (0 where not reported)"));
  EMI_TRY(emi_h5_write_array(f, "/reconciliation/mirror_observed", EMI_H5_UINT8, 2, gpd, sc_pd, row0, nrows,
                             t.Mobs + row0 * nd, "1",
                             "1 where the destination reported a mirror total, 0 where unknown (diffuse estimate)"));
  EMI_TRY(emi_h5_write_array(f, "/reconciliation/mirror_reconciled", EMI_H5_DOUBLE, 2, gpd, sc_pd, row0, nrows,
                             o.Mh, "persons", "mirror-based emigration after GLS reconciliation"));
  EMI_TRY(emi_h5_write_array(f, "/reconciliation/mirror_sd", EMI_H5_DOUBLE, 2, gpd, sc_pd, row0, nrows, o.Msd,
                             "persons", "standard deviation of the reconciled mirror-based emigration"));
  EMI_TRY(emi_h5_write_array(f, "/reconciliation/declared", EMI_H5_DOUBLE, 3, gd3, sc_pcd, row0, nrows, Dloc,
                             "persons", "declared emigration (deregistrations)"));
  EMI_TRY(emi_h5_write_array(f, "/reconciliation/undeclared", EMI_H5_DOUBLE, 3, gd3, sc_pcd, row0, nrows, o.U,
                             "persons", "undeclared emigration by citizenship and destination (IPF)"));
  EMI_TRY(emi_h5_write_array(f, "/reconciliation/undeclared_by_citizen", EMI_H5_DOUBLE, 2, gpc, sc_pc, row0, nrows,
                             o.Uc, "persons", "undeclared emigration by citizenship (IPF row margin)"));
  EMI_TRY(emi_h5_write_array(f, "/reconciliation/undeclared_by_destination", EMI_H5_DOUBLE, 2, gpd, sc_pd, row0,
                             nrows, o.Ud, "persons", "undeclared emigration by destination (IPF column margin)"));
  EMI_TRY(emi_h5_write_array(f, "/reconciliation/gls_solves", EMI_H5_INT64, 1, gp, sc_p, row0, nrows, o.solves, "1",
                             "Cholesky solves of the GLS active-set iteration"));
  EMI_TRY(emi_h5_write_array(f, "/reconciliation/gls_active", EMI_H5_INT64, 1, gp, sc_p, row0, nrows, o.active, "1",
                             "estimates held at their lower bound (declared emigration)"));
  EMI_TRY(emi_h5_write_array(f, "/reconciliation/gls_max_residual", EMI_H5_DOUBLE, 1, gp, sc_p, row0, nrows,
                             o.resid, "persons", "largest violation of the accounting constraint after GLS"));
  EMI_TRY(emi_h5_write_array(f, "/reconciliation/ipf_iterations", EMI_H5_INT64, 1, gp, sc_p, row0, nrows, o.iters,
                             "1", "IPF sweeps"));
  EMI_TRY(emi_h5_write_array(f, "/reconciliation/ipf_max_deviation", EMI_H5_DOUBLE, 1, gp, sc_p, row0, nrows,
                             o.ipf_dev, "persons", "largest IPF margin deviation after the last sweep"));
  EMI_TRY(emi_h5_write_array(f, "/reconciliation/ipf_converged", EMI_H5_INT64, 1, gp, sc_p, row0, nrows, o.conv,
                             "1", "1 if IPF converged within ipf-max-iter, else 0"));
  {
    const char *fcol = NULL;
    static const char *const names[3] = {"border", "mirror", "declared"};
    EMI_TRY(emi_opts_get_str(ctx->opts, "flag-col", &fcol));
    EMI_TRY(emi_h5_group_ensure(f, "/reconciliation/inputs"));
    for (int k = 0; k < 3; k++)
      EMI_TRY(write_input(f, &t, names[k], &src[k], k, &grids[k], plabels, fcol, row0, nrows));
  }
  EMI_TRY(emi_output_finish(ctx, &f, prov));
  emi_log_info("reconcile: wrote %s", out_path);
cleanup:
  emi_h5_file_abort(&f);
  emi_provenance_destroy(&prov);
  for (int k = 0; k < 3; k++) source_clear(&src[k]), grid_clear(&grids[k]);
  if (plabels)
    for (int p = 0; p < t.np; p++) free(plabels[p]);
  free(plabels);
  tables_clear(&t);
  free(o.Bh), free(o.Bsd), free(o.Uc), free(o.Mh), free(o.Msd), free(o.Ud), free(o.U);
  free(o.solves), free(o.active), free(o.iters), free(o.conv), free(o.resid), free(o.ipf_dev);
  free(wb.text);
  return err;
}
