/* emi_reconcile_de.c: `emflow reconcile --model double-entry`, the classic deterministic harmonisation of
 * double-entry migration flows (Poulain 1993; de Beer et al. 2010, "Overcoming the problems of
 * inconsistent international migration data", European Journal of Population 26) that a Bayesian
 * posterior (emflow estimate) is compared with.
 *
 * Input: the double-entry layout `emflow estimate` reads (one row per corridor FROM -> TO and year; the
 * count reported by the sending country, emigration-col, and by the receiving country, immigration-col,
 * NA = not reported; each with its undercount class low/medium/high and accuracy class
 * High/Medium/Low/NA).  Option names and defaults are estimate's.
 *
 * 1. Correction.  A report r of source s (emigration, immigration) by country c becomes its 12-month
 *    equivalent of the true flow
 *        x_r = reported_r * f(s, c) / lambda_r,
 *    f = duration factor of `duration = SOURCE:CODE=MONTHS` (0: 0.53, 3: 0.63, 6: 0.73, 12: 1,
 *    permanent: 2.26; default 12 months), lambda = coverage = the mean a / (a + b) of the Beta prior
 *    prior-SOURCE-CLASS of the report's undercount class, 1 for the benchmark source (benchmark =
 *    SOURCE:CODE, default immigration:SWE).  Variance V_r = (cv_r x_r)^2 + var-floor, cv_r = de-cv-CLASS
 *    of its accuracy class (0.1, 0.2, 0.4, 0.4: estimate's accuracy-tau defaults, a log-scale sd,
 *    read as a relative standard error, which it is to first order).
 * 2. Balancing (Stone-style GLS, kernels/emi_gls.h), per year: x = the corrected reports of the
 *    corridors reported by both ends, stacked (emigration, immigration) corridor by corridor, with
 *    diagonal V, the constraints x_emi(k) - x_imm(k) = 0 (both measure the same flow) and x >= 0.
 *    The constraints touch disjoint pairs, so the result is, per corridor, the precision-weighted mean
 *        (x_e / V_e + x_i / V_i) / (1 / V_e + 1 / V_i),  sd = (1 / V_e + 1 / V_i)^(-1/2);
 *    the kernel solves the paired corridors of a year in blocks of DE_GLS_BLOCK corridors (below), the
 *    flow is the mean of the two balanced reports (equal to rounding) and its sd that of the mean, from
 *    the kernel's covariance.  A corridor with one report keeps its corrected report and sd sqrt(V)
 *    (no constraint touches it, so GLS would return it unchanged: it is left out of the solve).  A
 *    corridor with no report is not estimated: -1 in flows and flows_sd, 0 in source.  Non-negativity
 *    never binds (a weighted mean of two non-negative reports); it is asked for as a safeguard.
 *
 * Output /reconciliation (attributes model, benchmark; dimension scales year, corridor, country):
 *   flows, flows_sd                              [year x corridor]  persons, -1 = no report
 *   source                                       [year x corridor]  0 none, 1 sending only, 2 receiving only, 3 both
 *   emigration_reported, immigration_reported    [year x corridor]  persons as reported, -1 = NA
 *   emigration_total, immigration_total          [year x country]   sums of flows out of / into the country
 *                                                                   over its corridors with an estimate
 *   gls_max_residual                             [year]             persons
 * Years are distributed over MPI ranks in whole chunks; a year is computed by one rank with the same
 * arithmetic whatever the number of ranks (sums in corridor order), so the output is identical for any -n.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emi_agg.h"
#include "emi_cli.h"
#include "emi_gls.h"
#include "emi_h5.h"
#include "emi_log.h"
#include "emi_priors.h"
#include "emi_output.h"
#include "emi_reconcile_de.h"

enum { SRC_EMI = 0, SRC_IMM = 1 };
static const char *const src_names[2] = {"emigration", "immigration"};
static const char *const uclass[3] = {"low", "medium", "high"};
static const char *const aclass[4] = {"high", "medium", "low", "na"};

typedef struct {
  const char *input, *filter, *time_col, *from_col, *to_col, *out;
  const char *vcol[2], *ucol[2], *acol[2];
  int ncountries, nduration;
  const char *const *countries, *const *duration;
  int64_t first_year, last_year;
  int has_first, has_last;
  const char *benchmark;
  const char *prior[2][3];
  const emi_opts_t *opts; /* for messages naming where an option was set (emi_opts_describe) */
  double cv[4], vfloor;
} de_opts_t;

typedef struct {
  int C, T, K;
  char **country;           /* C codes (sorted) */
  int *year;                /* T consecutive years */
  char **ylabel;            /* "2015" */
  char **corridor;          /* K labels "AUT->BEL", k = i (C - 1) + (j < i ? j : j - 1) */
  int32_t *cfrom, *cto;     /* K */
  double *raw[2];           /* [t K + k] reported count, -1 = not reported */
  double *corr[2], *var[2]; /* [t K + k] corrected report and its variance (where reported) */
  int64_t nrep[4];          /* corridor-years by source code */
  int nbench;               /* reports taken as complete */
} de_data_t;

static void de_data_free(de_data_t *d)
{
  for (int c = 0; d->country && c < d->C; c++) free(d->country[c]);
  for (int k = 0; d->corridor && k < d->K; k++) free(d->corridor[k]);
  for (int t = 0; d->ylabel && t < d->T; t++) free(d->ylabel[t]);
  free(d->country), free(d->corridor), free(d->ylabel), free(d->year), free(d->cfrom), free(d->cto);
  for (int s = 0; s < 2; s++) free(d->raw[s]), free(d->corr[s]), free(d->var[s]);
  memset(d, 0, sizeof *d);
}


static void lower(const char *s, char *buf, size_t n)
{
  size_t i = 0;
  for (; s[i] && i + 1 < n; i++) buf[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] - 'A' + 'a' : s[i]);
  buf[i] = 0;
}

static emi_err_t read_opts(emi_ctx_t *ctx, de_opts_t *o)
{
  emi_err_t err = EMI_SUCCESS;
  EMI_TRY(emi_opts_get_str(ctx->opts, "output", &o->out));
  if (!emi_opts_is_set(ctx->opts, "input"))
    EMI_FAIL(EMI_ERR_USAGE, "reconcile: model = double-entry needs --input FLOWS.csv (config [reconcile] input = FILE)");
  EMI_TRY(emi_opts_get_str(ctx->opts, "input", &o->input));
  EMI_TRY(emi_opts_get_str(ctx->opts, "filter", &o->filter));
  o->opts = ctx->opts;
  o->time_col = "Year";
  if (emi_opts_is_set(ctx->opts, "time-col")) EMI_TRY(emi_opts_get_str(ctx->opts, "time-col", &o->time_col));
  EMI_TRY(emi_opts_get_str(ctx->opts, "from-col", &o->from_col));
  EMI_TRY(emi_opts_get_str(ctx->opts, "to-col", &o->to_col));
  EMI_TRY(emi_opts_get_str(ctx->opts, "emigration-col", &o->vcol[SRC_EMI]));
  EMI_TRY(emi_opts_get_str(ctx->opts, "immigration-col", &o->vcol[SRC_IMM]));
  EMI_TRY(emi_opts_get_str(ctx->opts, "emigration-undercount-col", &o->ucol[SRC_EMI]));
  EMI_TRY(emi_opts_get_str(ctx->opts, "immigration-undercount-col", &o->ucol[SRC_IMM]));
  EMI_TRY(emi_opts_get_str(ctx->opts, "emigration-accuracy-col", &o->acol[SRC_EMI]));
  EMI_TRY(emi_opts_get_str(ctx->opts, "immigration-accuracy-col", &o->acol[SRC_IMM]));
  EMI_TRY(emi_opts_get_list(ctx->opts, "countries", &o->ncountries, &o->countries));
  EMI_TRY(emi_opts_get_list(ctx->opts, "duration", &o->nduration, &o->duration));
  if ((o->has_first = emi_opts_is_set(ctx->opts, "first-year")))
    EMI_TRY(emi_opts_get_int(ctx->opts, "first-year", &o->first_year));
  if ((o->has_last = emi_opts_is_set(ctx->opts, "last-year")))
    EMI_TRY(emi_opts_get_int(ctx->opts, "last-year", &o->last_year));
  if (o->has_first && o->has_last && o->first_year > o->last_year)
    EMI_FAIL(EMI_ERR_CONFIG, "reconcile: first-year %lld is after last-year %lld", (long long)o->first_year,
             (long long)o->last_year);
  EMI_TRY(emi_opts_get_str(ctx->opts, "benchmark", &o->benchmark));
  for (int s = 0; s < 2; s++)
    for (int q = 0; q < 3; q++) {
      char key[64];
      snprintf(key, sizeof key, "prior-%s-%s", src_names[s], uclass[q]);
      o->prior[s][q] = NULL;
      if (emi_opts_is_set(ctx->opts, key)) EMI_TRY(emi_opts_get_str(ctx->opts, key, &o->prior[s][q]));
    }
  for (int a = 0; a < 4; a++) {
    char key[32];
    snprintf(key, sizeof key, "de-cv-%s", aclass[a]);
    EMI_TRY(emi_opts_get_real(ctx->opts, key, &o->cv[a]));
  }
  EMI_TRY(emi_opts_get_real(ctx->opts, "var-floor", &o->vfloor));
  {
    size_t n = strlen(o->out);
    if (n < 3 || strcmp(o->out + n - 3, ".h5"))
      EMI_FAIL(EMI_ERR_USAGE, "reconcile: the output is an HDF5 file: -o must end in .h5 (got '%s')", o->out);
  }
cleanup:
  return err;
}

/* One value column of the input with the corridor and the class columns as dimensions. */
static emi_err_t read_reports(const de_opts_t *o, int s, emi_agg_t **agg)
{
  emi_err_t err = EMI_SUCCESS;
  char fcol[256] = "", fval[256] = "";
  const char *fc[1] = {fcol}, *fv[1] = {fval};
  int nf = 0;
  if (o->filter && *o->filter) {
    const char *eq = strchr(o->filter, '=');
    if (!eq || eq == o->filter || (size_t)(eq - o->filter) >= sizeof fcol || strlen(eq + 1) >= sizeof fval) {
      char where[1024]; /* the config's file:line when it came from one */
      emi_opts_describe(o->opts, "filter", where, sizeof where);
      EMI_FAIL(EMI_ERR_CONFIG, "reconcile: %s: expected COLUMN=VALUE (or empty: every row)", where);
    }
    memcpy(fcol, o->filter, (size_t)(eq - o->filter));
    strcpy(fval, eq + 1);
    nf = 1;
  }
  const char *dims[4] = {o->from_col, o->to_col, o->ucol[s], o->acol[s]};
  emi_agg_spec_t spec = {.dims = dims, .ndims = 4, .time_col = o->time_col, .value_col = o->vcol[s],
                         .filter_cols = fc, .filter_vals = fv, .nfilters = nf, .nonnegative = 1};
  emi_err_t e = emi_agg_read_csv(o->input, &spec, agg);
  if (e) {
    char why[1024]; /* copy: the message buffer is also the destination of the new message */
    snprintf(why, sizeof why, "%s", emi_err_message());
    int col = strstr(why, "is not in the header") != NULL, fmiss = strstr(why, "the filter column") != NULL;
    EMI_FAIL(e, "reconcile: --input: %s%s", why,
             fmiss ? " (--filter '' on the command line, or `filter =` in the config, keeps every row)"
             : col ? " (model = double-entry reads the columns named by time-col, from-col, to-col, emigration-col, "
                     "immigration-col and the -undercount-col / -accuracy-col options: set them to this file's names)"
                   : "");
  }
  if (emi_agg_count(*agg) == 0)
    EMI_FAIL(EMI_ERR_INPUT, "%s: no data rows%s%s%s", o->input, nf ? " after the filter '" : "", nf ? o->filter : "",
             nf ? "'" : "");
cleanup:
  return err;
}

typedef struct {
  int32_t from, to, period;
  int64_t line;
} row_key_t;

static int cmp_row_key(const void *a, const void *b)
{
  const row_key_t *x = a, *y = b;
  if (x->from != y->from) return x->from < y->from ? -1 : 1;
  if (x->to != y->to) return x->to < y->to ? -1 : 1;
  if (x->period != y->period) return x->period < y->period ? -1 : 1;
  return x->line < y->line ? -1 : x->line > y->line;
}

/* Two kept rows of one corridor and year (whatever their classes) are an error naming both lines. */
static emi_err_t check_duplicates(const de_opts_t *o, const emi_agg_t *a)
{
  emi_err_t err = EMI_SUCCESS;
  int64_t n = emi_agg_count(a);
  row_key_t *keys = NULL;
  EMI_MALLOC(keys, n, "row keys");
  const int32_t *c0 = emi_agg_code_index(a, 0), *c1 = emi_agg_code_index(a, 1), *pi = emi_agg_period_index(a);
  for (int64_t r = 0; r < n; r++) keys[r] = (row_key_t){c0[r], c1[r], pi[r], emi_agg_lines(a)[r]};
  qsort(keys, (size_t)n, sizeof *keys, cmp_row_key);
  for (int64_t r = 1; r < n; r++)
    if (keys[r].from == keys[r - 1].from && keys[r].to == keys[r - 1].to && keys[r].period == keys[r - 1].period) {
      char lab[48];
      int32_t m0, len;
      emi_agg_period(a, keys[r].period, &m0, &len);
      emi_agg_period_label(m0, len, lab, sizeof lab);
      EMI_FAIL(EMI_ERR_INPUT, "%s:%lld: a second row for corridor %s->%s in %s (the first is line %lld): the "
               "double-entry layout has one row per corridor and year", o->input, (long long)keys[r].line,
               emi_agg_code(a, 0, keys[r].from), emi_agg_code(a, 1, keys[r].to), lab, (long long)keys[r - 1].line);
    }
cleanup:
  free(keys);
  return err;
}

static emi_err_t load(const de_opts_t *o, de_data_t *d)
{
  emi_err_t err = EMI_SUCCESS;
  emi_agg_t *rep[2] = {0};
  char **codes = NULL;
  int ncodes = 0;
  double *fac[2] = {0};
  char bcode[64] = "";
  int bsrc_i = -1;
  double pa[2][3], pb[2][3];
  int pparsed[2][3] = {{0}};

  EMI_TRY(emi_de_benchmark("reconcile", o->benchmark, &bsrc_i, bcode));
  for (int s = 0; s < 2; s++) { /* our duplicate check first: the reader's only sees rows with the same classes */
    EMI_TRY(read_reports(o, s, &rep[s]));
    EMI_TRY(check_duplicates(o, rep[s]));
  }

  /* countries (every code in the file, or the --countries list), years and corridors */
  {
    emi_err_t e = emi_de_countries("reconcile", rep, o->input, o->from_col, o->to_col, o->countries, o->ncountries,
                                   &d->country, &d->C, &codes, &ncodes);
    if (e == EMI_ERR_CONFIG) { /* a bad item of the list: say where the list was set when a config set it */
      char why[1024], where[1024];
      snprintf(why, sizeof why, "%s", emi_err_message());
      emi_opts_describe(o->opts, "countries", where, sizeof where);
      if (strncmp(where, "--", 2)) EMI_FAIL(e, "%s (%s)", why, where);
    }
    EMI_TRY(e);
  }
  EMI_TRY(emi_de_years("reconcile", rep, o->input, o->time_col, o->has_first, o->first_year, o->has_last, o->last_year,
                       &d->year, &d->ylabel, &d->T));
  EMI_TRY(emi_de_corridors(d->country, d->C, &d->cfrom, &d->cto, &d->corridor, &d->K));
  int C = d->C, T = d->T, K = d->K;

  /* duration entries: SOURCE:CODE=MONTHS, CODE a country of the file, each SOURCE:CODE once */
  for (int s = 0; s < 2; s++) {
    EMI_MALLOC(fac[s], (size_t)C, "duration factors");
    for (int c = 0; c < C; c++) fac[s][c] = 1.0;
  }
  for (int q = 0; q < o->nduration; q++) {
    const char *e = o->duration[q], *colon = strchr(e, ':'), *eq = strchr(e, '=');
    char where[1024]; /* "--duration 'ITEM'", or the config's file:line, key and list */
    emi_opts_describe_item(o->opts, "duration", e, where, sizeof where);
    int s = -1;
    if (colon && eq && eq > colon + 1)
      for (int s2 = 0; s2 < 2; s2++)
        if ((size_t)(colon - e) == strlen(src_names[s2]) && !strncmp(e, src_names[s2], (size_t)(colon - e))) s = s2;
    if (s < 0)
      EMI_FAIL(EMI_ERR_CONFIG, "reconcile: %s: expected SOURCE:CODE=MONTHS, e.g. emigration:POL=permanent", where);
    double f = 1.0;
    {
      emi_err_t fe = emi_duration_factor("reconcile", e, eq + 1, &f);
      if (fe && strncmp(where, "--", 2)) { /* from a config: add where */
        char why[1024];
        snprintf(why, sizeof why, "%s", emi_err_message());
        EMI_FAIL(fe, "%s (%s)", why, where);
      }
      EMI_TRY(fe);
    }
    size_t cl = (size_t)(eq - colon - 1);
    int known = 0;
    for (int i = 0; i < ncodes && !known; i++) known = codes[i] && strlen(codes[i]) == cl && !strncmp(codes[i], colon + 1, cl);
    for (int i = 0; i < C && !known; i++) known = strlen(d->country[i]) == cl && !strncmp(d->country[i], colon + 1, cl);
    if (!known)
      EMI_FAIL(EMI_ERR_CONFIG, "reconcile: %s: '%.*s' is not a country code of %s (columns %s / %s)", where,
               (int)cl, colon + 1, o->input, o->from_col, o->to_col);
    for (int q2 = 0; q2 < q; q2++)
      if (!strncmp(o->duration[q2], e, (size_t)(eq - e) + 1))
        EMI_FAIL(EMI_ERR_CONFIG, "reconcile: %s: %.*s is given twice ('%s', then '%s')", where, (int)(eq - e), e,
                 o->duration[q2], e);
    for (int c = 0; c < C; c++)
      if (strlen(d->country[c]) == cl && !strncmp(d->country[c], colon + 1, cl)) fac[s][c] = f;
  }
  {
    int known = 0;
    for (int i = 0; i < ncodes && !known; i++) known = codes[i] && !strcmp(codes[i], bcode);
    for (int i = 0; i < C && !known; i++) known = !strcmp(d->country[i], bcode);
    if (!known)
      EMI_FAIL(EMI_ERR_CONFIG, "reconcile: benchmark = '%s': '%s' is not a country code of %s (columns %s / %s)",
               o->benchmark, bcode, o->input, o->from_col, o->to_col);
  }

  /* reports */
  for (int s = 0; s < 2; s++) {
    EMI_MALLOC(d->raw[s], (size_t)K * T, "reported counts");
    EMI_CALLOC(d->corr[s], (size_t)K * T, "corrected reports");
    EMI_CALLOC(d->var[s], (size_t)K * T, "variances");
    for (size_t i = 0; i < (size_t)K * T; i++) d->raw[s][i] = -1.0;
  }
  for (int s = 0; s < 2; s++) {
    const emi_agg_t *a = rep[s];
    const int32_t *pi = emi_agg_period_index(a);
    for (int64_t r = 0; r < emi_agg_count(a); r++) {
      if (emi_agg_missing(a)[r]) continue;
      int i = emi_de_find(d->country, C, emi_agg_code(a, 0, emi_agg_code_index(a, 0)[r]));
      int j = emi_de_find(d->country, C, emi_agg_code(a, 1, emi_agg_code_index(a, 1)[r]));
      int32_t m0, len;
      emi_agg_period(a, pi[r], &m0, &len);
      int t = m0 / 12 - d->year[0];
      long long line = (long long)emi_agg_lines(a)[r];
      if (i < 0 || j < 0 || t < 0 || t >= T) continue;
      if (i == j) EMI_FAIL(EMI_ERR_INPUT, "%s:%lld: %s: a flow from %s to itself", o->input, line, o->vcol[s], d->country[i]);
      int k = i * (C - 1) + (j < i ? j : j - 1);
      double v = emi_agg_values(a)[r];
      if (v > 1e12)
        EMI_FAIL(EMI_ERR_INPUT, "%s:%lld: %s = %.6g persons: implausibly large for a count of migrants (at most 1e12)",
                 o->input, line, o->vcol[s], v);
      char ucl[64], acl[64];
      const char *utext = emi_agg_code(a, 2, emi_agg_code_index(a, 2)[r]);
      const char *atext = emi_agg_code(a, 3, emi_agg_code_index(a, 3)[r]);
      lower(utext, ucl, sizeof ucl);
      lower(atext, acl, sizeof acl);
      int ui = -1, ai = -1;
      for (int q = 0; q < 3; q++)
        if (!strcmp(ucl, uclass[q])) ui = q;
      for (int q = 0; q < 4; q++)
        if (!strcmp(acl, aclass[q])) ai = q;
      if (ui < 0)
        EMI_FAIL(EMI_ERR_INPUT, "%s:%lld: %s = '%s': expected an undercount class low, medium or high", o->input, line,
                 o->ucol[s], utext);
      if (ai < 0)
        EMI_FAIL(EMI_ERR_INPUT, "%s:%lld: %s = '%s': expected an accuracy class High, Medium, Low or NA", o->input, line,
                 o->acol[s], atext);
      int reporter = s == SRC_EMI ? i : j;
      double coverage = 1.0;
      if (s == bsrc_i && !strcmp(d->country[reporter], bcode)) d->nbench++;
      else {
        if (!pparsed[s][ui]) {
          char key[64];
          snprintf(key, sizeof key, "prior-%s-%s", src_names[s], uclass[ui]);
          if (!o->prior[s][ui])
            EMI_FAIL(EMI_ERR_CONFIG, "%s:%lld: %s reports of undercount class '%s' have no coverage prior: set %s = a,b "
                     "(a Beta prior; its mean corrects the report) in the [reconcile] section", o->input, line,
                     src_names[s], uclass[ui], key);
          EMI_TRY(emi_parse_beta("reconcile", key, o->prior[s][ui], &pa[s][ui], &pb[s][ui]));
          pparsed[s][ui] = 1;
        }
        coverage = pa[s][ui] / (pa[s][ui] + pb[s][ui]);
      }
      size_t at = (size_t)t * K + (size_t)k;
      double x = v * fac[s][reporter] / coverage;
      d->raw[s][at] = v;
      d->corr[s][at] = x;
      d->var[s][at] = (o->cv[ai] * x) * (o->cv[ai] * x) + o->vfloor;
    }
  }
  for (size_t at = 0; at < (size_t)K * T; at++) d->nrep[(d->raw[0][at] >= 0) + 2 * (d->raw[1][at] >= 0)]++;
  if (d->nbench == 0)
    emi_log_warn("reconcile: benchmark %s has no report in the reconciled countries and years: every report is "
                 "corrected by its prior mean coverage", o->benchmark);
  for (int c = 0; c < C; c++) {
    int any = 0;
    for (size_t at = 0; at < (size_t)K * T && !any; at++) {
      int k = (int)(at % (size_t)K);
      any = (d->cfrom[k] == c || d->cto[k] == c) && (d->raw[0][at] >= 0 || d->raw[1][at] >= 0);
    }
    if (!any)
      emi_log_warn("reconcile: %s has no report on any corridor from or to it in %d-%d: its corridors are not estimated "
                   "(-1)", d->country[c], d->year[0], d->year[T - 1]);
  }
cleanup:
  for (int i = 0; i < ncodes; i++) free(codes ? codes[i] : NULL);
  free(codes), free(fac[0]), free(fac[1]);
  emi_agg_destroy(&rep[0]), emi_agg_destroy(&rep[1]);
  return err;
}

/* Corridors per GLS solve.  The constraints never couple two corridors (the problem is block-diagonal),
 * so solving the paired corridors of a year in blocks of this many, in corridor order, is the same
 * estimator as one solve of them all (equal to rounding), and the cost stays linear in the corridors:
 * the kernel's dense covariance costs (2 B)^2 B per block, i.e. 4 B^2 per corridor, and its memory
 * (2 B)^2 + workspace, instead of growing with the square of the paired corridors of a year (EU-27:
 * about 180 a year, 3 blocks; 183 countries: 12,000 a year, 0.2 s a year with B = 64, 2 s with 256). */
#define DE_GLS_BLOCK 64

/* Balance year t: flows, sd, source (K each), totals (C each), the largest constraint residual. */
static emi_err_t balance_year(const de_data_t *d, int t, double *flows, double *sd, uint8_t *src, double *etot,
                              double *itot, double *resid)
{
  emi_err_t err = EMI_SUCCESS;
  size_t K = (size_t)d->K, C = (size_t)d->C, mtot = 0;
  const size_t B = DE_GLS_BLOCK;
  double *x = NULL, *V = NULL, *A = NULL, *b = NULL, *xh = NULL, *cov = NULL, *work = NULL;
  size_t *pair = NULL;
  const double *re = d->raw[SRC_EMI] + (size_t)t * K, *ri = d->raw[SRC_IMM] + (size_t)t * K;
  const double *xe = d->corr[SRC_EMI] + (size_t)t * K, *xi = d->corr[SRC_IMM] + (size_t)t * K;
  const double *ve = d->var[SRC_EMI] + (size_t)t * K, *vi = d->var[SRC_IMM] + (size_t)t * K;
  *resid = 0.0;
  for (size_t k = 0; k < K; k++) {
    src[k] = (uint8_t)((re[k] >= 0) + 2 * (ri[k] >= 0));
    flows[k] = sd[k] = -1.0;
    if (src[k] == 1) flows[k] = xe[k], sd[k] = sqrt(ve[k]);
    if (src[k] == 2) flows[k] = xi[k], sd[k] = sqrt(vi[k]);
    if (src[k] == 3) mtot++;
  }
  if (mtot > 0) {
    size_t mb = mtot < B ? mtot : B, nbmax = 2 * mb;
    EMI_MALLOC(pair, mb, "paired corridors");
    EMI_MALLOC(x, nbmax, "GLS estimates");
    EMI_MALLOC(V, nbmax, "GLS variances");
    EMI_MALLOC(A, mb * nbmax, "GLS constraints");
    EMI_CALLOC(b, mb, "GLS right-hand sides");
    EMI_MALLOC(xh, nbmax, "GLS result");
    EMI_MALLOC(cov, nbmax * nbmax, "GLS covariance");
    size_t lw = emi_gls_work_len(nbmax, mb, 1, 1);
    EMI_MALLOC(work, lw, "GLS workspace");
    size_t k0 = 0; /* next corridor to look at */
    while (k0 < K) {
      size_t m = 0;
      for (; k0 < K && m < mb; k0++)
        if (src[k0] == 3) pair[m++] = k0;
      if (m == 0) break;
      size_t n = 2 * m;
      memset(A, 0, m * n * sizeof *A);
      for (size_t q = 0; q < m; q++) {
        size_t k = pair[q];
        x[2 * q] = xe[k], V[2 * q] = ve[k];
        x[2 * q + 1] = xi[k], V[2 * q + 1] = vi[k];
        A[q * n + 2 * q] = 1.0, A[q * n + 2 * q + 1] = -1.0;
      }
      emi_gls_problem_t prob = {.n = n, .m = m, .x = x, .V = V, .v_diag = 1, .A = A, .b = b};
      emi_gls_opts_t go;
      emi_gls_opts_default(&go);
      go.nonneg = 1;
      go.redundant = EMI_GLS_REDUNDANT_DROP; /* both reports 0 with var-floor 0: consistent, both fixed */
      emi_gls_result_t gr = {0};
      emi_err_t e = emi_gls_solve(&prob, &go, xh, cov, NULL, NULL, work, lw, &gr);
      if (e) {
        char why[1024]; /* copy: the message buffer is also the destination of the new message */
        snprintf(why, sizeof why, "%s", emi_err_message());
        EMI_FAIL(e, "reconcile: year %d: GLS balancing of the double-entry reports (corridors %s .. %s) failed: %s",
                 d->year[t], d->corridor[pair[0]], d->corridor[pair[m - 1]], why);
      }
      for (size_t q = 0; q < m; q++) {
        size_t k = pair[q], a = 2 * q, c = 2 * q + 1;
        /* the two balanced reports agree to rounding: their mean, with the variance of the mean; a report
         * of variance 0 (a zero count with var-floor 0) is held exactly by the kernel: it is the flow */
        flows[k] = V[a] == 0.0 ? xh[a] : V[c] == 0.0 ? xh[c] : 0.5 * (xh[a] + xh[c]);
        sd[k] = sqrt(fmax(0.25 * (cov[a * n + a] + cov[a * n + c] + cov[c * n + a] + cov[c * n + c]), 0.0));
      }
      if (gr.max_residual > *resid) *resid = gr.max_residual;
    }
  }
  for (size_t c = 0; c < C; c++) etot[c] = itot[c] = 0.0;
  for (size_t k = 0; k < K; k++)
    if (src[k]) etot[d->cfrom[k]] += flows[k], itot[d->cto[k]] += flows[k];
cleanup:
  free(pair), free(x), free(V), free(A), free(b), free(xh), free(cov), free(work);
  return err;
}

emi_err_t emi_reconcile_double_entry(emi_ctx_t *ctx)
{
  emi_err_t err = EMI_SUCCESS;
  de_opts_t o = {0};
  de_data_t d = {0};
  emi_h5_file_t *f = NULL;
  emi_provenance_t *prov = NULL;
  double *flows = NULL, *sd = NULL, *etot = NULL, *itot = NULL, *resid = NULL;
  uint8_t *src = NULL;
  uint64_t row0 = 0, nrows = 0, chunk = 1;

  EMI_TRY(read_opts(ctx, &o));
  EMI_TRY(emi_output_check_path(o.out));
  EMI_TRY(emi_output_check_not_input(o.out, o.input));
  EMI_TRY(emi_output_check_not_config(o.out, ctx->config_path));
  EMI_TRY(load(&o, &d));
  emi_log_info("reconcile: double-entry: %d countries, %d year(s) %d-%d, %d corridors; corridor-years reported by "
               "both %lld, the sending country only %lld, the receiving country only %lld, neither %lld (not "
               "estimated)", d.C, d.T, d.year[0], d.year[d.T - 1], d.K, (long long)d.nrep[3], (long long)d.nrep[1],
               (long long)d.nrep[2], (long long)d.nrep[0]);

  /* years over ranks, in whole chunks of the [year x corridor] arrays */
  size_t K = (size_t)d.K, C = (size_t)d.C;
  uint64_t gyk[2] = {(uint64_t)d.T, K}, gyc[2] = {(uint64_t)d.T, C}, gy[1] = {(uint64_t)d.T};
  EMI_TRY(emi_h5_chunk_rows(EMI_H5_DOUBLE, 2, gyk, &chunk));
  EMI_TRY(emi_h5_partition((uint64_t)d.T, chunk, ctx->comm, &row0, &nrows));
  size_t nr = (size_t)nrows;
  EMI_CALLOC(flows, nr * K + 1, "results");
  EMI_CALLOC(sd, nr * K + 1, "results");
  EMI_CALLOC(src, nr * K + 1, "results");
  EMI_CALLOC(etot, nr * C + 1, "results");
  EMI_CALLOC(itot, nr * C + 1, "results");
  EMI_CALLOC(resid, nr + 1, "results");
  emi_err_t local = EMI_SUCCESS;
  for (size_t r = 0; r < nr && !local; r++)
    local = balance_year(&d, (int)(row0 + r), flows + r * K, sd + r * K, src + r * K, etot + r * C, itot + r * C,
                         resid + r);
  EMI_TRY(emi_mpi_agree(ctx->comm, local, NULL));

  EMI_TRY(emi_output_begin(ctx, o.out, &f, &prov));
  EMI_TRY(emi_provenance_add_input(prov, o.input));
  const char *G = "/reconciliation";
  EMI_TRY(emi_h5_group_ensure(f, G));
  EMI_TRY(emi_h5_attr_str(f, G, "model", "double-entry"));
  EMI_TRY(emi_h5_attr_str(f, G, "benchmark", o.benchmark));
  EMI_TRY(emi_h5_attr_str(f, G, "no_estimate",
                          "-1 in flows, flows_sd, emigration_reported, immigration_reported: no report (NA)"));
  EMI_TRY(emi_h5_write_scale_str(f, G, "year", (uint64_t)d.T, (const char *const *)d.ylabel, "", "calendar year"));
  EMI_TRY(emi_h5_write_scale_str(f, G, "corridor", K, (const char *const *)d.corridor, "", "corridor FROM->TO"));
  EMI_TRY(emi_h5_write_scale_str(f, G, "country", C, (const char *const *)d.country, "",
                                 "country (ISO 3166-1 alpha-3)"));
  const char *sc_yk[2] = {"/reconciliation/year", "/reconciliation/corridor"};
  const char *sc_yc[2] = {"/reconciliation/year", "/reconciliation/country"};
  const char *sc_y[1] = {"/reconciliation/year"};
  EMI_TRY(emi_h5_write_array(f, "/reconciliation/flows", EMI_H5_DOUBLE, 2, gyk, sc_yk, row0, nrows, flows, "persons",
                             "reconciled flow, 12-month definition: corrected reports balanced by GLS (-1: no report)"));
  EMI_TRY(emi_h5_write_array(f, "/reconciliation/flows_sd", EMI_H5_DOUBLE, 2, gyk, sc_yk, row0, nrows, sd, "persons",
                             "standard deviation of the reconciled flow (-1: no report)"));
  EMI_TRY(emi_h5_write_array(f, "/reconciliation/source", EMI_H5_UINT8, 2, gyk, sc_yk, row0, nrows, src, "1",
                             "reports of the corridor: 0 none, 1 sending country only, 2 receiving country only, 3 both"));
  EMI_TRY(emi_h5_write_array(f, "/reconciliation/emigration_reported", EMI_H5_DOUBLE, 2, gyk, sc_yk, row0, nrows,
                             d.raw[SRC_EMI] + row0 * K, "persons",
                             "emigration reported by the sending country, uncorrected (-1: not reported)"));
  EMI_TRY(emi_h5_write_array(f, "/reconciliation/immigration_reported", EMI_H5_DOUBLE, 2, gyk, sc_yk, row0, nrows,
                             d.raw[SRC_IMM] + row0 * K, "persons",
                             "immigration reported by the receiving country, uncorrected (-1: not reported)"));
  EMI_TRY(emi_h5_write_array(f, "/reconciliation/emigration_total", EMI_H5_DOUBLE, 2, gyc, sc_yc, row0, nrows, etot,
                             "persons", "reconciled emigration: sum of the flows out of the country over its corridors "
                             "with an estimate"));
  EMI_TRY(emi_h5_write_array(f, "/reconciliation/immigration_total", EMI_H5_DOUBLE, 2, gyc, sc_yc, row0, nrows, itot,
                             "persons", "reconciled immigration: sum of the flows into the country over its corridors "
                             "with an estimate"));
  EMI_TRY(emi_h5_write_array(f, "/reconciliation/gls_max_residual", EMI_H5_DOUBLE, 1, gy, sc_y, row0, nrows, resid,
                             "persons", "largest violation of the double-entry constraints after GLS (0: no corridor "
                             "reported by both)"));
  EMI_TRY(emi_output_finish(ctx, &f, prov));
  emi_log_info("reconcile: wrote %s", o.out);
cleanup:
  emi_h5_file_abort(&f);
  emi_provenance_destroy(&prov);
  de_data_free(&d);
  free(flows), free(sd), free(src), free(etot), free(itot), free(resid);
  return err;
}
