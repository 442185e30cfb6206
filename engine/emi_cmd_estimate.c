/* emi_cmd_estimate.c: `emflow estimate`, the Bayesian measurement model of migration flows
 * (kernels/emi_imem.h) fitted by parallel MCMC, and undeclared emigration with its posterior.
 *
 *   emflow estimate --input FLOWS.csv -o OUT.h5 [--chains 4 --warmup 1000 --draws 1000] [--resume]
 *
 * Model "double-entry": one row per corridor (from -> to) and year with the count reported by the
 * sending country (emigration) and by the receiving country (immigration), each with its
 * undercount class and accuracy class, and the covariates (the Eurostat double-entry file loads
 * unchanged).  Every column name is an option.  The flows of the corridors among the fitted
 * countries are estimated with their posterior; undeclared emigration of country c in year t is
 *     sum over destinations j whose emigration report exists of (y_cjt - reported_cjt),
 * i.e. the emigrants the sending country's own statistics (deregistrations) did not count.
 *
 * Chains: chain c runs on rank c mod (number of ranks), each sweep threaded with OpenMP; its draws
 * depend only on (seed, chain, iteration), so the output is the same for any layout.  Every
 * --checkpoint-every iterations the chain's full state and its draws so far go to
 * DIR/chain<c>.h5 (atomically); --resume continues from there and gives the same draws as an
 * uninterrupted run.  Diagnostics (rank-normalised split R-hat, bulk and tail ESS) are computed for
 * every parameter, flow and undeclared total; a run beyond --rhat-max or below --ess-min says so
 * in the log and in /posterior (attribute `status`), and exits with code 11 unless
 * --accept-failed-diagnostics.
 */
#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "emi_agg.h"
#include "emi_call.h"
#include "emi_cli.h"
#include "emi_commands.h"
#include "emi_diag.h"
#include "emi_h5.h"
#include "emi_imem.h"
#include "emi_log.h"
#include "emi_priors.h"
#include "emi_output.h"

const emi_opt_spec_t emi_estimate_specs[] = {
  EMI_OPTS_COMMON,
  {"input", "estimate", EMI_OPT_PATH, NULL, "", "flows CSV: one row per corridor and year (the Eurostat double-entry layout)"},
  {"output", "estimate", EMI_OPT_PATH, NULL, "", "output HDF5 file", 0, 0, NULL, 'o'},
  {"model", "estimate", EMI_OPT_CHOICE, "double-entry", "", "model configuration: double-entry (--input: corridor flows "
   "reported by both ends) or border (--border, --declared, --mirror: one country's emigration by group and period)",
   0, 0, "double-entry,border"},
  {"filter", "estimate", EMI_OPT_STRING, "SEX=Total", "", "keep only rows with COLUMN=VALUE (empty: all rows)",
   0, 0, NULL, 0, 1 /* empty_ok: "" keeps every row */},
  {"time-col", "estimate", EMI_OPT_STRING, "Year", "", "column of the year"},
  {"from-col", "estimate", EMI_OPT_STRING, "Sending_iso3", "", "column of the sending country code"},
  {"to-col", "estimate", EMI_OPT_STRING, "Receiving_iso3", "", "column of the receiving country code"},
  {"emigration-col", "estimate", EMI_OPT_STRING, "Emig", "persons", "count reported by the sending country (NA = none)"},
  {"immigration-col", "estimate", EMI_OPT_STRING, "Immi", "persons", "count reported by the receiving country"},
  {"emigration-undercount-col", "estimate", EMI_OPT_STRING, "UE", "", "undercount class of the emigration report"},
  {"immigration-undercount-col", "estimate", EMI_OPT_STRING, "UI", "", "undercount class of the immigration report"},
  {"emigration-accuracy-col", "estimate", EMI_OPT_STRING, "AE", "", "accuracy class of the emigration report"},
  {"immigration-accuracy-col", "estimate", EMI_OPT_STRING, "AI", "", "accuracy class of the immigration report"},
  {"covariates", "estimate", EMI_OPT_LIST, "log:Pop.Sending,log:Pop.Receiving,log:distw,contig,comlang_off", "",
   "covariate columns of the migration model (log:COL for the logarithm), standardised; an intercept is added"},
  {"countries", "estimate", EMI_OPT_LIST, "", "", "fit only these country codes (default: every country in the file)"},
  {"first-year", "estimate", EMI_OPT_INT, NULL, "year", "first year fitted (default: the first in the file)", 1, 9999},
  {"last-year", "estimate", EMI_OPT_INT, NULL, "year", "last year fitted (default: the last in the file)", 1, 9999},
  {"benchmark", "estimate", EMI_OPT_STRING, "immigration:SWE", "", "SOURCE:CODE taken as fully covering (lambda = 1)"},
  {"prior-emigration-low", "estimate", EMI_OPT_STRING, "44.95,16.96", "", "Beta(a,b) coverage prior, emigration, undercount low"},
  {"prior-emigration-medium", "estimate", EMI_OPT_STRING, NULL, "", "Beta(a,b) coverage prior, emigration, undercount medium"},
  {"prior-emigration-high", "estimate", EMI_OPT_STRING, "32.14,38.52", "", "Beta(a,b) coverage prior, emigration, undercount high"},
  {"prior-immigration-low", "estimate", EMI_OPT_STRING, "57.49,8.07", "", "Beta(a,b) coverage prior, immigration, undercount low"},
  {"prior-immigration-medium", "estimate", EMI_OPT_STRING, NULL, "", "Beta(a,b) coverage prior, immigration, undercount medium"},
  {"prior-immigration-high", "estimate", EMI_OPT_STRING, "44.56,20.89", "", "Beta(a,b) coverage prior, immigration, undercount high"},
  {"accuracy-tau-high", "estimate", EMI_OPT_REAL, "0.1", "log scale", "prior scale of the error sd, accuracy High", 1e-6, 10},
  {"accuracy-tau-medium", "estimate", EMI_OPT_REAL, "0.2", "log scale", "prior scale of the error sd, accuracy Medium", 1e-6, 10},
  {"accuracy-tau-low", "estimate", EMI_OPT_REAL, "0.4", "log scale", "prior scale of the error sd, accuracy Low", 1e-6, 10},
  {"accuracy-tau-na", "estimate", EMI_OPT_REAL, "0.4", "log scale", "prior scale of the error sd, accuracy NA", 1e-6, 10},
  {"accuracy-prior-shape", "estimate", EMI_OPT_REAL, "3", "", "shape of the InvGamma prior of tau^2 (scale = (shape-1) tau0^2)", 1.01, 1e6},
  {"duration", "estimate", EMI_OPT_LIST, "", "",
   "SOURCE:CODE=MONTHS: the report's minimum duration of stay (0, 3, 6, 12 or permanent; default 12)"},
  {"border", "estimate", EMI_OPT_PATH, NULL, "", "border model: emigrants counted at the border (linkage outcome) by group "
   "and period, long CSV"},
  {"declared", "estimate", EMI_OPT_PATH, NULL, "", "border model: declared emigration (deregistrations) by group and period"},
  {"mirror", "estimate", EMI_OPT_PATH, NULL, "", "border model: destinations' immigration of the group (mirror statistics)"},
  {"group-col", "estimate", EMI_OPT_STRING, "citizen", "", "border model: column of the group (citizenship) code"},
  {"period-col", "estimate", EMI_OPT_STRING, "TIME_PERIOD", "", "border model: column of the period (2021, 2021-03, 2021-Q1)"},
  {"value-col", "estimate", EMI_OPT_STRING, "OBS_VALUE", "persons", "border model: column of the count"},
  {"border-filter", "estimate", EMI_OPT_LIST, "", "", "border model: keep rows of the border file where COLUMN=VALUE (repeatable)"},
  {"declared-filter", "estimate", EMI_OPT_LIST, "", "", "border model: keep rows of the declared file where COLUMN=VALUE"},
  {"mirror-filter", "estimate", EMI_OPT_LIST, "", "", "border model: keep rows of the mirror file where COLUMN=VALUE"},
  {"groups", "estimate", EMI_OPT_LIST, "", "", "border model: fit only these group codes (default: every code in the files)"},
  {"prior-border", "estimate", EMI_OPT_STRING, "95,5", "", "border model: Beta(a,b) prior of the border outcome's coverage "
   "(1 - missed-record rate; 'benchmark' = complete, lambda = 1)"},
  {"prior-declared", "estimate", EMI_OPT_STRING, "1,1", "", "border model: Beta(a,b) prior of the declaration coverage pi"},
  {"prior-mirror", "estimate", EMI_OPT_STRING, "44.56,20.89", "", "border model: Beta(a,b) prior of the mirror statistics' "
   "coverage (default: immigration data, high undercount)"},
  {"mirror-duration", "estimate", EMI_OPT_STRING, "12", "months", "border model: minimum duration of stay of the mirror "
   "statistics (0, 3, 6, 12 or permanent)"},
  {"border-accuracy", "estimate", EMI_OPT_CHOICE, "high", "", "border model: accuracy class of the border outcome", 0, 0,
   "high,medium,low,na"},
  {"declared-accuracy", "estimate", EMI_OPT_CHOICE, "medium", "", "border model: accuracy class of the declarations", 0, 0,
   "high,medium,low,na"},
  {"mirror-accuracy", "estimate", EMI_OPT_CHOICE, "low", "", "border model: accuracy class of the mirror statistics", 0, 0,
   "high,medium,low,na"},
  {"trend", "estimate", EMI_OPT_FLAG, "true", "", "border model: a linear time trend (standardised) besides the intercept"},
  {"chains", "estimate", EMI_OPT_INT, "4", "", "MCMC chains (spread over the MPI ranks)", 1, 256},
  {"warmup", "estimate", EMI_OPT_INT, "1000", "iterations", "warm-up (adaptation) iterations per chain", 0, 1e8},
  {"draws", "estimate", EMI_OPT_INT, "1000", "", "draws kept per chain", 4, 1e7},
  {"thin", "estimate", EMI_OPT_INT, "1", "iterations", "keep every thin-th iteration after warm-up", 1, 1e4},
  {"seed", "estimate", EMI_OPT_INT, "20261203", "", "random seed (draws depend only on seed, chain, iteration)", 0, 9.2e18},
  {"checkpoint-every", "estimate", EMI_OPT_INT, "500", "iterations", "write each chain's state this often (0: never)", 0, 1e9},
  {"checkpoint-dir", "estimate", EMI_OPT_PATH, NULL, "", "checkpoint directory (default OUTPUT.ckpt)"},
  {"resume", "estimate", EMI_OPT_FLAG, "false", "", "continue from the checkpoints in checkpoint-dir"},
  {"rhat-max", "estimate", EMI_OPT_REAL, "1.01", "", "largest acceptable R-hat", 1, 10},
  {"ess-min", "estimate", EMI_OPT_REAL, "400", "", "smallest acceptable bulk and tail ESS", 0, 1e9},
  {"accept-failed-diagnostics", "estimate", EMI_OPT_FLAG, "false", "", "exit 0 even when the diagnostics fail"},
  {"store-flow-draws", "estimate", EMI_OPT_FLAG, "true", "", "store every draw of every flow (float32)"},
  {"keep-checkpoints", "estimate", EMI_OPT_FLAG, "false", "", "keep the checkpoints after a complete run (by default "
   "they are removed once the output is written)"},
};
const int emi_estimate_nspecs = (int)(sizeof emi_estimate_specs / sizeof emi_estimate_specs[0]);

#define MAX_COVARIATES (EMI_IMEM_MAX_COV - 1)
#define NSTAT 9
static const char *const stat_names[NSTAT] = {"mean", "sd", "q05", "q50", "q95", "mcse_mean", "rhat", "ess_bulk", "ess_tail"};

enum { SRC_EMI = 0, SRC_IMM = 1 };
enum { MODEL_DE = 0, MODEL_BORDER = 1 };
static const char *const src_names[2] = {"emigration", "immigration"};

/* Everything read from the input, as the sampler and the output need it. */
typedef struct {
  int model;            /* MODEL_DE or MODEL_BORDER */
  int C, T, K;          /* countries, years, corridors = C (C - 1); border model: C = K groups, T periods */
  char **plabel;        /* T period labels ("2015", "2021-03", "2021-Q2") */
  double *rep_border;   /* border model: K*T border counts, -1 = not reported (NULL for double entry) */
  double *emi_fac;      /* K*T duration factor of the rep_val[SRC_EMI] report to its 12-month equivalent (1: none) */
  char **country;       /* C codes (sorted) */
  int *year;            /* T */
  int32_t *cfrom, *cto; /* corridor k = (cfrom[k] -> cto[k]) */
  char **corridor;      /* "AUT->BEL" */
  int P;                /* covariates incl. intercept */
  char *covname[EMI_IMEM_MAX_COV];
  double *x;            /* K*T*P standardised */
  double *rep_val[2];   /* K*T reported counts, -1 = not reported */
  /* reports */
  int64_t nrep;
  int32_t *rk, *rt, *rc, *ra;
  int64_t *rn;
  double *rlk;
  /* classes */
  int ncov;
  char **covlabel;      /* "emigration:AUT:low" */
  double *ca, *cb;
  int nacc;
  char *acclabel[4];
  double as[4], asc[4];
  emi_imem_data_t d;
} est_data_t;

static void est_data_free(est_data_t *e)
{
  for (int c = 0; c < e->C; c++) free(e->country ? e->country[c] : NULL);
  free(e->country);
  for (int k = 0; k < e->K; k++) free(e->corridor ? e->corridor[k] : NULL);
  free(e->corridor), free(e->year), free(e->cfrom), free(e->cto), free(e->x);
  for (int t = 0; t < e->T; t++) free(e->plabel ? e->plabel[t] : NULL);
  free(e->plabel), free(e->rep_border), free(e->emi_fac);
  for (int p = 0; p < e->P; p++) free(e->covname[p]);
  free(e->rep_val[0]), free(e->rep_val[1]);
  free(e->rk), free(e->rt), free(e->rc), free(e->ra), free(e->rn), free(e->rlk);
  for (int c = 0; c < e->ncov; c++) free(e->covlabel ? e->covlabel[c] : NULL);
  free(e->covlabel), free(e->ca), free(e->cb);
  memset(e, 0, sizeof *e);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Lower-case copy of a class code into buf. */
static void lower(const char *s, char *buf, size_t n)
{
  size_t i = 0;
  for (; s[i] && i + 1 < n; i++) buf[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] - 'A' + 'a' : s[i]);
  buf[i] = 0;
}


/* Read one value column of the input with the given dimension columns. */
static emi_err_t read_col(const char *path, const char *filter, const char *time_col, const char *const *dims, int ndims,
                          const char *value_col, int nonneg, emi_agg_t **agg)
{
  char fcol[256] = "", fval[256] = "";
  const char *fc[1], *fv[1];
  int nf = 0;
  if (filter && *filter) {
    const char *eq = strchr(filter, '=');
    if (!eq || eq == filter || (size_t)(eq - filter) >= sizeof fcol || strlen(eq + 1) >= sizeof fval)
      return EMI_ERROR(EMI_ERR_CONFIG, "estimate: filter = '%s': expected COLUMN=VALUE", filter);
    memcpy(fcol, filter, (size_t)(eq - filter));
    strcpy(fval, eq + 1);
    fc[0] = fcol, fv[0] = fval, nf = 1;
  }
  emi_agg_spec_t spec = {.dims = dims, .ndims = ndims, .time_col = time_col, .value_col = value_col,
                         .filter_cols = fc, .filter_vals = fv, .nfilters = nf, .nonnegative = nonneg};
  return emi_agg_read_csv(path, &spec, agg);
}

typedef struct {
  const char *input, *filter, *time_col, *from_col, *to_col;
  const char *vcol[2], *ucol[2], *acol[2];
  int ncovs, ncountries, nduration;
  const char *const *covs, *const *countries, *const *duration;
  int64_t first_year, last_year;
  int has_first, has_last;
  const char *benchmark;
  const char *prior[2][3];
  double tau0[4], acc_shape;
} est_opts_t;

static const char *const uclass[3] = {"low", "medium", "high"};
static const char *const aclass[4] = {"high", "medium", "low", "na"};

static emi_err_t load_data(const est_opts_t *o, est_data_t *e)
{
  emi_err_t err = EMI_SUCCESS;
  emi_agg_t *rep[2] = {0}, *cov[MAX_COVARIATES] = {0};
  char **codes = NULL;
  int ncodes = 0;
  int32_t *covidx = NULL;
  int *covfirst_line = NULL;
  double *raw = NULL;
  uint8_t *have = NULL;
  char bcode[64] = "";
  int bsrc_i = -1, nbench = 0;

  EMI_TRY(emi_de_benchmark("estimate", o->benchmark, &bsrc_i, bcode));
  if (o->ncovs > MAX_COVARIATES) EMI_FAIL(EMI_ERR_CONFIG, "estimate: at most %d covariates", MAX_COVARIATES);
  for (int v = 0; v < o->ncovs; v++)
    for (int w2 = 0; w2 < v; w2++)
      if (!strcmp(o->covs[v], o->covs[w2]))
        EMI_FAIL(EMI_ERR_CONFIG, "estimate: covariates: '%s' is listed twice (a repeated column is collinear with itself)",
                 o->covs[v]);

  /* the two report columns, each with its class columns as dimensions */
  for (int s = 0; s < 2; s++) {
    const char *dims[4] = {o->from_col, o->to_col, o->ucol[s], o->acol[s]};
    EMI_TRY(read_col(o->input, o->filter, o->time_col, dims, 4, o->vcol[s], 1, &rep[s]));
    if (emi_agg_count(rep[s]) == 0) EMI_FAIL(EMI_ERR_INPUT, "%s: no data rows (after the filter '%s')", o->input, o->filter);
  }
  /* countries (every code in the file, or the --countries list), years and corridors */
  EMI_TRY(emi_de_countries("estimate", rep, o->input, o->from_col, o->to_col, o->countries, o->ncountries, &e->country,
                           &e->C, &codes, &ncodes));
  EMI_TRY(emi_de_years("estimate", rep, o->input, o->time_col, o->has_first, o->first_year, o->has_last, o->last_year,
                       &e->year, &e->plabel, &e->T));
  EMI_TRY(emi_de_corridors(e->country, e->C, &e->cfrom, &e->cto, &e->corridor, &e->K));
  int C = e->C, T = e->T, K = e->K;

  /* covariates: intercept, then each column (log: takes the logarithm), standardised */
  e->P = 1 + o->ncovs;
  if (!(e->covname[0] = strdup("intercept"))) EMI_FAIL(EMI_ERR_NOMEM, "cannot copy a name");
  EMI_MALLOC(e->x, (size_t)K * T * e->P, "covariates");
  EMI_MALLOC(raw, (size_t)K * T, "covariate column");
  EMI_MALLOC(have, (size_t)K * T, "covariate flags");
  for (size_t i = 0; i < (size_t)K * T; i++) e->x[i * e->P] = 1.0;
  for (int v = 0; v < o->ncovs; v++) {
    const char *spec = o->covs[v];
    int takelog = !strncmp(spec, "log:", 4);
    const char *col = takelog ? spec + 4 : spec;
    if (!*col) EMI_FAIL(EMI_ERR_CONFIG, "estimate: covariates: empty column name in '%s'", spec);
    if (!(e->covname[v + 1] = strdup(spec))) EMI_FAIL(EMI_ERR_NOMEM, "cannot copy a name");
    const char *dims[2] = {o->from_col, o->to_col};
    EMI_TRY(read_col(o->input, o->filter, o->time_col, dims, 2, col, 0, &cov[v]));
    memset(have, 0, (size_t)K * T);
    const int32_t *ci0 = emi_agg_code_index(cov[v], 0), *ci1 = emi_agg_code_index(cov[v], 1);
    const int32_t *pi = emi_agg_period_index(cov[v]);
    for (int64_t r = 0; r < emi_agg_count(cov[v]); r++) {
      int i = emi_de_find(e->country, C, emi_agg_code(cov[v], 0, ci0[r]));
      int j = emi_de_find(e->country, C, emi_agg_code(cov[v], 1, ci1[r]));
      int32_t m0, len;
      emi_agg_period(cov[v], pi[r], &m0, &len);
      int t = m0 / 12 - e->year[0];
      if (i < 0 || j < 0 || i == j || t < 0 || t >= T) continue;
      int k = i * (C - 1) + (j < i ? j : j - 1);
      double val = emi_agg_values(cov[v])[r];
      if (emi_agg_missing(cov[v])[r])
        EMI_FAIL(EMI_ERR_INPUT, "%s:%lld: covariate %s is missing for %s in %d: every fitted corridor-year needs it",
                 o->input, (long long)emi_agg_lines(cov[v])[r], col, e->corridor[k], e->year[t]);
      if (takelog) {
        if (!(val > 0))
          EMI_FAIL(EMI_ERR_INPUT, "%s:%lld: covariate log:%s needs a positive value, found %g", o->input,
                   (long long)emi_agg_lines(cov[v])[r], col, val);
        val = log(val);
      }
      raw[(size_t)k * T + t] = val;
      have[(size_t)k * T + t] = 1;
    }
    double m = 0, s2 = 0;
    for (size_t i = 0; i < (size_t)K * T; i++) {
      if (!have[i])
        EMI_FAIL(EMI_ERR_INPUT, "%s: no row for corridor %s in %d: covariate %s is needed for every fitted corridor-year",
                 o->input, e->corridor[i / (size_t)T], e->year[i % (size_t)T], col);
      m += raw[i];
    }
    m /= (double)K * T;
    for (size_t i = 0; i < (size_t)K * T; i++) s2 += (raw[i] - m) * (raw[i] - m);
    double sd = sqrt(s2 / ((double)K * T));
    if (!(sd > 1e-12 * (1 + fabs(m))))
      EMI_FAIL(EMI_ERR_INPUT, "estimate: covariate %s is constant (%g) over the fitted corridors and years: drop it from "
               "covariates", spec, m);
    for (size_t i = 0; i < (size_t)K * T; i++) e->x[i * e->P + 1 + v] = (raw[i] - m) / sd;
  }

  /* accuracy classes (fixed list) */
  e->nacc = 4;
  for (int a = 0; a < 4; a++) {
    e->acclabel[a] = (char *)aclass[a];
    e->as[a] = o->acc_shape;
    e->asc[a] = (o->acc_shape - 1.0) * o->tau0[a] * o->tau0[a];
  }

  /* reports */
  for (int s = 0; s < 2; s++) {
    EMI_MALLOC(e->rep_val[s], (size_t)K * T, "reported counts");
    for (size_t i = 0; i < (size_t)K * T; i++) e->rep_val[s][i] = -1.0;
  }
  EMI_MALLOC(e->emi_fac, (size_t)K * T, "duration factors");
  for (size_t i = 0; i < (size_t)K * T; i++) e->emi_fac[i] = 1.0;
  {
    int64_t cap = emi_agg_count(rep[0]) + emi_agg_count(rep[1]);
    EMI_MALLOC(e->rk, cap, "reports");
    EMI_MALLOC(e->rt, cap, "reports");
    EMI_MALLOC(e->rc, cap, "reports");
    EMI_MALLOC(e->ra, cap, "reports");
    EMI_MALLOC(e->rn, cap, "reports");
    EMI_MALLOC(e->rlk, cap, "reports");
  }
  for (int s = 0; s < 2; s++) {
    const emi_agg_t *a = rep[s];
    const int32_t *pi = emi_agg_period_index(a);
    for (int64_t r = 0; r < emi_agg_count(a); r++) {
      if (emi_agg_missing(a)[r]) continue;
      int i = emi_de_find(e->country, C, emi_agg_code(a, 0, emi_agg_code_index(a, 0)[r]));
      int j = emi_de_find(e->country, C, emi_agg_code(a, 1, emi_agg_code_index(a, 1)[r]));
      int32_t m0, len;
      emi_agg_period(a, pi[r], &m0, &len);
      int t = m0 / 12 - e->year[0];
      long long line = (long long)emi_agg_lines(a)[r];
      if (i < 0 || j < 0 || t < 0 || t >= T) continue;
      if (i == j) EMI_FAIL(EMI_ERR_INPUT, "%s:%lld: a flow from %s to itself", o->input, line, e->country[i]);
      int k = i * (C - 1) + (j < i ? j : j - 1);
      double v = emi_agg_values(a)[r];
      if (v > 9.0e15)
        EMI_FAIL(EMI_ERR_INPUT, "%s:%lld: %s = %g is too large (at most 9e15 persons)", o->input, line, o->vcol[s], v);
      if (v != floor(v))
        EMI_FAIL(EMI_ERR_INPUT, "%s:%lld: %s = %g is not a whole number of persons", o->input, line, o->vcol[s], v);
      if (e->rep_val[s][(size_t)k * T + t] >= 0)
        EMI_FAIL(EMI_ERR_INPUT, "%s:%lld: a second %s report for %s in %d", o->input, line, src_names[s], e->corridor[k],
                 e->year[t]);
      e->rep_val[s][(size_t)k * T + t] = v;
      int reporter = s == SRC_EMI ? i : j;
      /* undercount class -> coverage parameter (source, reporter, class) */
      char ucl[64], acl[64];
      lower(emi_agg_code(a, 2, emi_agg_code_index(a, 2)[r]), ucl, sizeof ucl);
      lower(emi_agg_code(a, 3, emi_agg_code_index(a, 3)[r]), acl, sizeof acl);
      int ui = -1, ai = -1;
      for (int q = 0; q < 3; q++)
        if (!strcmp(ucl, uclass[q])) ui = q;
      for (int q = 0; q < 4; q++)
        if (!strcmp(acl, aclass[q])) ai = q;
      if (ui < 0)
        EMI_FAIL(EMI_ERR_INPUT, "%s:%lld: %s = '%s': expected an undercount class low, medium or high", o->input, line,
                 o->ucol[s], emi_agg_code(a, 2, emi_agg_code_index(a, 2)[r]));
      if (ai < 0)
        EMI_FAIL(EMI_ERR_INPUT, "%s:%lld: %s = '%s': expected an accuracy class High, Medium, Low or NA", o->input, line,
                 o->acol[s], emi_agg_code(a, 3, emi_agg_code_index(a, 3)[r]));
      int cidx = -1;
      if (s == bsrc_i && !strcmp(e->country[reporter], bcode)) nbench++;
      else {
        char label[160];
        snprintf(label, sizeof label, "%s:%s:%s", src_names[s], e->country[reporter], uclass[ui]);
        for (int c = 0; c < e->ncov; c++)
          if (!strcmp(e->covlabel[c], label)) cidx = c;
        if (cidx < 0) {
          if (!o->prior[s][ui])
            EMI_FAIL(EMI_ERR_CONFIG, "%s:%lld: %s reports of undercount class '%s' have no coverage prior: set "
                     "prior-%s-%s = a,b (a Beta prior) in the [estimate] section", o->input, line, src_names[s],
                     uclass[ui], src_names[s], uclass[ui]);
          char **nl = realloc(e->covlabel, (size_t)(e->ncov + 1) * sizeof *nl);
          if (!nl) EMI_FAIL(EMI_ERR_NOMEM, "cannot grow the coverage list");
          e->covlabel = nl;
          double *na = realloc(e->ca, (size_t)(e->ncov + 1) * sizeof *na);
          if (!na) EMI_FAIL(EMI_ERR_NOMEM, "cannot grow the coverage list");
          e->ca = na;
          double *nb = realloc(e->cb, (size_t)(e->ncov + 1) * sizeof *nb);
          if (!nb) EMI_FAIL(EMI_ERR_NOMEM, "cannot grow the coverage list");
          e->cb = nb;
          char key[64];
          snprintf(key, sizeof key, "prior-%s-%s", src_names[s], uclass[ui]);
          EMI_TRY(emi_parse_beta("estimate", key, o->prior[s][ui], &e->ca[e->ncov], &e->cb[e->ncov]));
          /* the label last: est_data_free frees ncov labels, so one copied before a failure would leak */
          if (!(e->covlabel[e->ncov] = strdup(label))) EMI_FAIL(EMI_ERR_NOMEM, "cannot copy a label");
          cidx = e->ncov++;
        }
      }
      /* duration correction */
      double lk = 0.0;
      for (int q = 0; q < o->nduration; q++) {
        char want[160];
        snprintf(want, sizeof want, "%s:%s=", src_names[s], e->country[reporter]);
        if (!strncmp(o->duration[q], want, strlen(want))) {
          double f;
          EMI_TRY(emi_duration_factor("estimate", o->duration[q], o->duration[q] + strlen(want), &f));
          lk = -log(f);
        }
      }
      int64_t n = e->nrep++;
      e->rk[n] = k, e->rt[n] = t, e->rc[n] = cidx, e->ra[n] = ai, e->rn[n] = (int64_t)v, e->rlk[n] = lk;
      if (s == SRC_EMI) e->emi_fac[(size_t)k * T + t] = exp(-lk);
    }
  }
  for (int q = 0; q < o->nduration; q++) {
    const char *d = o->duration[q], *colon = strchr(d, ':'), *eq = strchr(d, '=');
    int ok = colon && eq && eq > colon + 1;
    if (ok) {
      ok = 0;
      for (int s = 0; s < 2; s++)
        if ((size_t)(colon - d) == strlen(src_names[s]) && !strncmp(d, src_names[s], (size_t)(colon - d))) ok = 1;
    }
    if (!ok) EMI_FAIL(EMI_ERR_CONFIG, "estimate: duration '%s': expected SOURCE:CODE=MONTHS, e.g. emigration:POL=permanent", d);
    double f;
    EMI_TRY(emi_duration_factor("estimate", d, eq + 1, &f));
    /* CODE must be a country of the input (a typo would leave the reports uncorrected, silently), given once */
    size_t cl = (size_t)(eq - colon - 1);
    int known = 0;
    for (int i = 0; i < C && !known; i++) known = strlen(e->country[i]) == cl && !strncmp(e->country[i], colon + 1, cl);
    for (int i = 0; i < ncodes && !known; i++) known = codes[i] && strlen(codes[i]) == cl && !strncmp(codes[i], colon + 1, cl);
    if (!known)
      EMI_FAIL(EMI_ERR_CONFIG, "estimate: duration '%s': '%.*s' is not a country code of %s (columns %s / %s)", d, (int)cl,
               colon + 1, o->input, o->from_col, o->to_col);
    for (int q2 = 0; q2 < q; q2++)
      if (!strncmp(o->duration[q2], d, (size_t)(eq - d) + 1))
        EMI_FAIL(EMI_ERR_CONFIG, "estimate: duration: %.*s is given twice ('%s', then '%s')", (int)(eq - d), d,
                 o->duration[q2], d);
  }
  if (nbench == 0)
    EMI_FAIL(EMI_ERR_INPUT, "estimate: no benchmark: %s has no %s report in the fitted data; the model is identified by a "
             "source taken as complete - set benchmark = SOURCE:CODE to a country that reports (e.g. immigration:SWE) "
             "and include it in countries", o->input, o->benchmark);
  /* a country no report mentions (as sender or receiver) */
  for (int c = 0; c < C; c++) {
    int any = 0;
    for (int64_t r = 0; r < e->nrep && !any; r++) any = e->cfrom[e->rk[r]] == c || e->cto[e->rk[r]] == c;
    if (!any)
      EMI_FAIL(EMI_ERR_INPUT, "estimate: %s: every report is missing for %s (no emigration or immigration count on any "
               "corridor from or to it in %d-%d): supply reports for it or leave it out of countries", o->input,
               e->country[c], e->year[0], e->year[T - 1]);
  }
  e->d = (emi_imem_data_t){.K = K, .T = T, .P = e->P, .x = e->x, .nrep = e->nrep, .rep_k = e->rk, .rep_t = e->rt,
                           .rep_n = e->rn, .rep_cov = e->rc, .rep_logkappa = e->rlk, .rep_acc = e->ra,
                           .ncov = e->ncov, .cov_alpha = e->ca, .cov_beta = e->cb, .nacc = e->nacc,
                           .acc_shape = e->as, .acc_scale = e->asc, .beta_sd = 10.0, .su_shape = 2.0,
                           .su_scale = 1.0, .se_shape = 2.0, .se_scale = 0.1};
  EMI_TRY(emi_imem_check(&e->d));
cleanup:
  for (int i = 0; i < ncodes; i++) free(codes ? codes[i] : NULL);
  free(codes), free(covidx), free(covfirst_line), free(raw), free(have);
  emi_agg_destroy(&rep[0]), emi_agg_destroy(&rep[1]);
  for (int v = 0; v < MAX_COVARIATES; v++) emi_agg_destroy(&cov[v]);
  return err;
}

/* ------------------------------------------------------------------ border-based model */

typedef struct {
  const char *path[3], *filter_opt[3];
  int nfilt[3];
  const char *const *filt[3];
  const char *group_col, *period_col, *value_col;
  int ngroups;
  const char *const *groups;
  int64_t first_year, last_year;
  int has_first, has_last;
  const char *prior[3];      /* border, declared, mirror */
  const char *mirror_duration;
  int acc[3];                /* accuracy class index of each source */
  double tau0[4], acc_shape;
  int trend;
} border_opts_t;

enum { BS_BORDER = 0, BS_DECLARED = 1, BS_MIRROR = 2 };
static const char *const bsrc_names[3] = {"border", "declared", "mirror"};


static emi_err_t border_read(const border_opts_t *o, int s, emi_agg_t **agg)
{
  emi_err_t err = EMI_SUCCESS;
  char *fc[16] = {0}, *fv[16] = {0};
  int nf = o->nfilt[s];
  if (nf > 16) EMI_FAIL(EMI_ERR_CONFIG, "estimate: %s: at most 16 filters", o->filter_opt[s]);
  for (int k = 0; k < nf; k++) {
    const char *f = o->filt[s][k], *eq = strchr(f, '=');
    if (!eq || eq == f) EMI_FAIL(EMI_ERR_CONFIG, "estimate: %s = '%s': expected COLUMN=VALUE", o->filter_opt[s], f);
    fc[k] = strndup(f, (size_t)(eq - f));
    fv[k] = strdup(eq + 1);
    if (!fc[k] || !fv[k]) EMI_FAIL(EMI_ERR_NOMEM, "cannot copy a filter");
  }
  const char *dims[1] = {o->group_col};
  emi_agg_spec_t spec = {.dims = dims, .ndims = 1, .time_col = o->period_col, .value_col = o->value_col,
                         .filter_cols = (const char *const *)fc, .filter_vals = (const char *const *)fv, .nfilters = nf,
                         .nonnegative = 1};
  if ((err = emi_agg_read_csv(o->path[s], &spec, agg)) != EMI_SUCCESS) {
    if (err == EMI_ERR_INPUT && strstr(emi_err_message(), "is not in the header")) {
      char msg[1024];
      snprintf(msg, sizeof msg, "%s", emi_err_message());
      emi_err_clear();
      EMI_FAIL(EMI_ERR_INPUT, "%s (the border model reads the columns group-col = %s, period-col = %s, value-col = %s: set "
               "them to this file's names)", msg, o->group_col, o->period_col, o->value_col);
    }
    goto cleanup;
  }
  if (emi_agg_count(*agg) == 0)
    EMI_FAIL(EMI_ERR_INPUT, "%s: no observations%s (the %s source)", o->path[s], nf ? " after the filters" : "", bsrc_names[s]);
cleanup:
  for (int k = 0; k < 16; k++) free(fc[k]), free(fv[k]);
  if (err) emi_agg_destroy(agg);
  return err;
}

/* The border-based model: series k = group (citizenship), periods t of one length; reports: the
 * border outcome (coverage = 1 - missed-record rate, or a benchmark), declared emigration (coverage
 * pi), mirror statistics (coverage lambda, duration correction).  rep_val[SRC_EMI] holds the declared
 * counts (so that undeclared = y - declared), rep_val[SRC_IMM] the mirror counts. */
static emi_err_t load_data_border(const border_opts_t *o, est_data_t *e)
{
  emi_err_t err = EMI_SUCCESS;
  emi_agg_t *src[3] = {0};
  int32_t plen = 0, pfirst = INT32_MAX, plast = INT32_MIN, plen_src = -1;
  double *vals[3] = {0};
  e->model = MODEL_BORDER;
  if (!o->path[BS_BORDER]) EMI_FAIL(EMI_ERR_USAGE, "estimate: model = border needs border = FILE (the border-based counts)");
  for (int s = 0; s < 3; s++)
    if (o->path[s]) EMI_TRY(border_read(o, s, &src[s]));
  /* groups */
  if (o->ngroups > 0) {
    EMI_CALLOC(e->country, (size_t)o->ngroups, "groups");
    for (int i = 0; i < o->ngroups; i++) {
      int seen = 0;
      for (int s = 0; s < 3; s++) seen |= src[s] && emi_agg_code_find(src[s], 0, o->groups[i]) >= 0;
      if (!seen)
        EMI_FAIL(EMI_ERR_CONFIG, "estimate: groups: '%s' is not a code of column %s in %s%s%s%s%s (after the filters)",
                 o->groups[i], o->group_col, o->path[BS_BORDER], o->path[BS_DECLARED] ? ", " : "",
                 o->path[BS_DECLARED] ? o->path[BS_DECLARED] : "", o->path[BS_MIRROR] ? ", " : "",
                 o->path[BS_MIRROR] ? o->path[BS_MIRROR] : "");
      if (emi_de_find(e->country, e->C, o->groups[i]) >= 0)
        EMI_FAIL(EMI_ERR_CONFIG, "estimate: groups: '%s' is listed twice", o->groups[i]);
      if (!(e->country[e->C] = strdup(o->groups[i]))) EMI_FAIL(EMI_ERR_NOMEM, "cannot copy a group code");
      e->C++;
    }
  } else {
    for (int s = 0; s < 3; s++)
      for (int32_t k = 0; src[s] && k < emi_agg_ncodes(src[s], 0); k++) {
        const char *c = emi_agg_code(src[s], 0, k);
        if (emi_de_find(e->country, e->C, c) >= 0) continue;
        char **nc = realloc(e->country, (size_t)(e->C + 1) * sizeof *nc);
        if (!nc) EMI_FAIL(EMI_ERR_NOMEM, "cannot grow the group list");
        e->country = nc;
        if (!(e->country[e->C] = strdup(c))) EMI_FAIL(EMI_ERR_NOMEM, "cannot copy a group code");
        e->C++;
      }
  }
  qsort(e->country, (size_t)e->C, sizeof *e->country, cmp_str);
  for (int k = 0; k < e->C; k++)
    if (emi_agg_code_find(src[BS_BORDER], 0, e->country[k]) < 0)
      emi_log_warn("estimate: group %s has no border count in %s (only declared or mirror counts): its flows rest on "
                   "those sources and the priors", e->country[k], o->path[BS_BORDER]);
  /* periods: one length, consecutive from the first to the last */
  for (int s = 0; s < 3; s++)
    for (int32_t p = 0; src[s] && p < emi_agg_nperiods(src[s]); p++) {
      int32_t m0, len;
      emi_agg_period(src[s], p, &m0, &len);
      if ((o->has_first && m0 / 12 < o->first_year) || (o->has_last && m0 / 12 > o->last_year)) continue;
      if (plen == 0) plen = len, plen_src = s;
      else if (len != plen) {
        char a[48], b[48];
        emi_agg_period_label(m0, len, a, sizeof a);
        emi_agg_period_label(m0, plen, b, sizeof b);
        EMI_FAIL(EMI_ERR_INPUT, "%s: column %s: period %s is %d month(s) long, but %s has %d-month periods: the border "
                 "model needs periods of one length in every source", o->path[s], o->period_col, a, (int)len,
                 o->path[plen_src], (int)plen);
      }
      if (m0 < pfirst) pfirst = m0;
      if (m0 > plast) plast = m0;
    }
  if (plen == 0) EMI_FAIL(EMI_ERR_CONFIG, "estimate: no period of %s falls in first-year .. last-year", o->path[BS_BORDER]);
  e->T = (int)((plast - pfirst) / plen) + 1;
  if (e->T > EMI_IMEM_MAX_T) EMI_FAIL(EMI_ERR_INPUT, "estimate: %d periods: at most %d", e->T, EMI_IMEM_MAX_T);
  EMI_MALLOC(e->year, (size_t)e->T, "periods");
  EMI_CALLOC(e->plabel, (size_t)e->T, "period labels");
  for (int t = 0; t < e->T; t++) {
    int32_t m0 = pfirst + t * plen;
    e->year[t] = m0 / 12;
    EMI_MALLOC(e->plabel[t], 48, "period label");
    emi_agg_period_label(m0, plen, e->plabel[t], 48);
  }
  int C = e->C, T = e->T, K = C;
  e->K = K;
  EMI_MALLOC(e->cfrom, (size_t)K, "groups");
  EMI_MALLOC(e->cto, (size_t)K, "groups");
  EMI_CALLOC(e->corridor, (size_t)K, "group labels");
  for (int k = 0; k < K; k++) {
    e->cfrom[k] = e->cto[k] = k;
    if (!(e->corridor[k] = strdup(e->country[k]))) EMI_FAIL(EMI_ERR_NOMEM, "cannot copy a group code");
  }
  /* covariates: intercept (+ standardised trend) */
  e->P = o->trend && T > 1 ? 2 : 1;
  if (!(e->covname[0] = strdup("intercept"))) EMI_FAIL(EMI_ERR_NOMEM, "cannot copy a name");
  if (e->P == 2 && !(e->covname[1] = strdup("trend"))) EMI_FAIL(EMI_ERR_NOMEM, "cannot copy a name");
  EMI_MALLOC(e->x, (size_t)K * T * e->P, "covariates");
  {
    double m = 0.5 * (T - 1), sd = sqrt((T * (double)T - 1.0) / 12.0);
    for (int k = 0; k < K; k++)
      for (int t = 0; t < T; t++) {
        double *x = e->x + ((size_t)k * T + t) * e->P;
        x[0] = 1.0;
        if (e->P == 2) x[1] = (t - m) / sd;
      }
  }
  /* accuracy classes: those of the sources given, in the order high, medium, low, na */
  int accmap[4] = {-1, -1, -1, -1};
  for (int a = 0; a < 4; a++) {
    int used = 0;
    for (int s = 0; s < 3; s++) used |= src[s] && o->acc[s] == a;
    if (!used) continue;
    accmap[a] = e->nacc;
    e->acclabel[e->nacc] = (char *)aclass[a];
    e->as[e->nacc] = o->acc_shape;
    e->asc[e->nacc] = (o->acc_shape - 1.0) * o->tau0[a] * o->tau0[a];
    e->nacc++;
  }
  /* coverage classes: one per source present (the border source may be the benchmark) */
  int cls[3] = {-1, -1, -1};
  EMI_CALLOC(e->covlabel, 3, "coverage labels");
  EMI_CALLOC(e->ca, 3, "coverage priors");
  EMI_CALLOC(e->cb, 3, "coverage priors");
  for (int s = 0; s < 3; s++) {
    if (!src[s]) continue;
    if (s == BS_BORDER && !strcmp(o->prior[s], "benchmark")) continue;
    char key[64];
    snprintf(key, sizeof key, "prior-%s", bsrc_names[s]);
    EMI_TRY(emi_parse_beta("estimate", key, o->prior[s], &e->ca[e->ncov], &e->cb[e->ncov]));
    if (!(e->covlabel[e->ncov] = strdup(bsrc_names[s]))) EMI_FAIL(EMI_ERR_NOMEM, "cannot copy a label");
    cls[s] = e->ncov++;
  }
  double mirror_lk = 0.0;
  {
    double f;
    char entry[96];
    snprintf(entry, sizeof entry, "mirror-duration = %s", o->mirror_duration);
    EMI_TRY(emi_duration_factor("estimate", entry, o->mirror_duration, &f));
    mirror_lk = -log(f);
  }
  /* reports */
  EMI_MALLOC(e->rep_border, (size_t)K * T, "border counts");
  for (int s = 0; s < 2; s++) EMI_MALLOC(e->rep_val[s], (size_t)K * T, "reported counts");
  vals[BS_BORDER] = e->rep_border, vals[BS_DECLARED] = e->rep_val[SRC_EMI], vals[BS_MIRROR] = e->rep_val[SRC_IMM];
  for (int s = 0; s < 3; s++)
    for (size_t i = 0; i < (size_t)K * T; i++) vals[s][i] = -1.0;
  {
    int64_t cap = 0;
    for (int s = 0; s < 3; s++) cap += src[s] ? emi_agg_count(src[s]) : 0;
    EMI_MALLOC(e->rk, cap, "reports");
    EMI_MALLOC(e->rt, cap, "reports");
    EMI_MALLOC(e->rc, cap, "reports");
    EMI_MALLOC(e->ra, cap, "reports");
    EMI_MALLOC(e->rn, cap, "reports");
    EMI_MALLOC(e->rlk, cap, "reports");
  }
  int64_t nb = 0;
  for (int s = 0; s < 3; s++) {
    const emi_agg_t *a = src[s];
    if (!a) continue;
    const int32_t *pi = emi_agg_period_index(a), *ci = emi_agg_code_index(a, 0);
    for (int64_t r = 0; r < emi_agg_count(a); r++) {
      if (emi_agg_missing(a)[r]) continue;
      int k = emi_de_find(e->country, C, emi_agg_code(a, 0, ci[r]));
      int32_t m0, len;
      emi_agg_period(a, pi[r], &m0, &len);
      if (k < 0 || m0 < pfirst || m0 > plast) continue;
      if ((m0 - pfirst) % plen != 0) {
        char lab[48];
        emi_agg_period_label(m0, len, lab, sizeof lab);
        EMI_FAIL(EMI_ERR_INPUT, "%s:%lld: period %s does not start on the grid of %d-month periods that starts at %s",
                 o->path[s], (long long)emi_agg_lines(a)[r], lab, (int)plen, e->plabel[0]);
      }
      int t = (m0 - pfirst) / plen;
      double v = emi_agg_values(a)[r];
      long long line = (long long)emi_agg_lines(a)[r];
      if (v > 9.0e15)
        EMI_FAIL(EMI_ERR_INPUT, "%s:%lld: %s = %g is too large (at most 9e15 persons)", o->path[s], line, o->value_col, v);
      if (v != floor(v))
        EMI_FAIL(EMI_ERR_INPUT, "%s:%lld: %s = %g is not a whole number of persons", o->path[s], line, o->value_col, v);
      vals[s][(size_t)k * T + t] = v;
      int64_t n = e->nrep++;
      e->rk[n] = k, e->rt[n] = t, e->rc[n] = cls[s], e->ra[n] = accmap[o->acc[s]], e->rn[n] = (int64_t)v;
      e->rlk[n] = s == BS_MIRROR ? mirror_lk : 0.0;
      if (s == BS_BORDER) nb++;
    }
  }
  if (nb == 0) EMI_FAIL(EMI_ERR_INPUT, "%s: no border count for the fitted groups and periods", o->path[BS_BORDER]);
  for (int s = 1; s < 3; s++)
    if (cls[s] >= 0) {
      int any = 0;
      for (int64_t r = 0; r < e->nrep && !any; r++) any = e->rc[r] == cls[s];
      if (!any)
        EMI_FAIL(EMI_ERR_INPUT, "%s: no %s count for the fitted groups and periods: check %s-filter, groups and the "
                 "period range, or leave %s out", o->path[s], bsrc_names[s], bsrc_names[s], bsrc_names[s]);
    }
  for (int k = 0; k < K; k++) {
    int any = 0;
    for (int64_t r = 0; r < e->nrep && !any; r++) any = e->rk[r] == k;
    if (!any)
      EMI_FAIL(EMI_ERR_INPUT, "estimate: every report is missing for group %s (no border, declared or mirror count in "
               "%s..%s): supply counts for it or leave it out of groups", e->country[k], e->plabel[0], e->plabel[T - 1]);
  }
  e->d = (emi_imem_data_t){.K = K, .T = T, .P = e->P, .x = e->x, .nrep = e->nrep, .rep_k = e->rk, .rep_t = e->rt,
                           .rep_n = e->rn, .rep_cov = e->rc, .rep_logkappa = e->rlk, .rep_acc = e->ra,
                           .ncov = e->ncov, .cov_alpha = e->ca, .cov_beta = e->cb, .nacc = e->nacc,
                           .acc_shape = e->as, .acc_scale = e->asc, .beta_sd = 10.0, .su_shape = 2.0,
                           .su_scale = 1.0, .se_shape = 2.0, .se_scale = 0.1};
  EMI_TRY(emi_imem_check(&e->d));
cleanup:
  for (int s = 0; s < 3; s++) emi_agg_destroy(&src[s]);
  return err;
}

/* ------------------------------------------------------------------ chains */

/* Draws of one chain, in output layout. */
typedef struct {
  int64_t ndone;  /* draws stored */
  double *par;    /* nd x np */
  float *flow;    /* nd x K*T (persons) */
  double *ueff;   /* nd x K series effects u */
  double *elast;  /* nd x K AR(1) term e of the last period (where a forecast starts) */
  double *und;    /* nd x C*T undeclared emigration */
  double *emig;   /* nd x C*T true emigration (to the fitted countries) */
} chain_draws_t;

typedef struct {
  int np, K, T, C;
  int64_t nd;
} sizes_t;

static void draws_free(chain_draws_t *c)
{
  free(c->par), free(c->flow), free(c->ueff), free(c->elast), free(c->und), free(c->emig);
  memset(c, 0, sizeof *c);
}

static emi_err_t draws_alloc(const sizes_t *z, chain_draws_t *c)
{
  emi_err_t err = EMI_SUCCESS;
  memset(c, 0, sizeof *c);
  EMI_CALLOC(c->par, (size_t)z->nd * z->np, "parameter draws");
  EMI_CALLOC(c->flow, (size_t)z->nd * z->K * z->T, "flow draws");
  EMI_CALLOC(c->ueff, (size_t)z->nd * z->K, "series-effect draws");
  EMI_CALLOC(c->elast, (size_t)z->nd * z->K, "AR-state draws");
  EMI_CALLOC(c->und, (size_t)z->nd * z->C * z->T, "undeclared draws");
  EMI_CALLOC(c->emig, (size_t)z->nd * z->C * z->T, "emigration draws");
  return EMI_SUCCESS;
cleanup:
  draws_free(c);
  return err;
}

/* Record the current state as draw c->ndone. */
static void record_draw(const est_data_t *e, const emi_imem_state_t *s, const sizes_t *z, double *zbuf, chain_draws_t *c)
{
  int64_t i = c->ndone++;
  int K = e->K, T = e->T, C = e->C;
  emi_imem_params(&e->d, s, c->par + (size_t)i * z->np);
  emi_imem_z(&e->d, s, zbuf);
  float *fl = c->flow + (size_t)i * K * T;
  double *und = c->und + (size_t)i * C * T, *em = c->emig + (size_t)i * C * T;
  memset(und, 0, (size_t)C * T * sizeof *und);
  memset(em, 0, (size_t)C * T * sizeof *em);
  for (int k = 0; k < K; k++) {
    c->ueff[(size_t)i * K + k] = s->u[k];
    c->elast[(size_t)i * K + k] = s->e[(size_t)k * T + T - 1];
    for (int t = 0; t < T; t++) {
      double y = exp(zbuf[(size_t)k * T + t]);
      fl[(size_t)k * T + t] = (float)y;
      int from = e->cfrom[k];
      em[(size_t)from * T + t] += y;
      /* the declared figure as 12-month migrants: a report under a shorter definition over-counts them */
      double rv = e->rep_val[SRC_EMI][(size_t)k * T + t];
      if (rv >= 0) und[(size_t)from * T + t] += y - rv * (e->emi_fac ? e->emi_fac[(size_t)k * T + t] : 1.0);
    }
  }
}

/* 64-bit FNV-1a over bytes (the checkpoint fingerprint). */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * UINT64_C(0x100000001b3);
  return h;
}

static uint64_t fingerprint(const est_data_t *e, uint64_t seed, int64_t warmup, int64_t nd, int64_t thin)
{
  uint64_t h = UINT64_C(0xcbf29ce484222325);
  const emi_imem_data_t *d = &e->d;
  h = fnv(h, &d->K, sizeof d->K), h = fnv(h, &d->T, sizeof d->T), h = fnv(h, &d->P, sizeof d->P);
  h = fnv(h, d->x, (size_t)d->K * d->T * d->P * sizeof *d->x);
  h = fnv(h, &d->nrep, sizeof d->nrep);
  h = fnv(h, d->rep_k, (size_t)d->nrep * 4), h = fnv(h, d->rep_t, (size_t)d->nrep * 4);
  h = fnv(h, d->rep_n, (size_t)d->nrep * 8), h = fnv(h, d->rep_cov, (size_t)d->nrep * 4);
  h = fnv(h, d->rep_acc, (size_t)d->nrep * 4), h = fnv(h, d->rep_logkappa, (size_t)d->nrep * 8);
  h = fnv(h, d->cov_alpha, (size_t)d->ncov * 8), h = fnv(h, d->cov_beta, (size_t)d->ncov * 8);
  h = fnv(h, d->acc_shape, (size_t)d->nacc * 8), h = fnv(h, d->acc_scale, (size_t)d->nacc * 8);
  h = fnv(h, &seed, 8), h = fnv(h, &warmup, 8), h = fnv(h, &nd, 8), h = fnv(h, &thin, 8);
  return h;
}

#define NSCAL 8
static void state_scalars(const emi_imem_state_t *s, double *v)
{
  v[0] = s->sig2_u, v[1] = s->sig2_e, v[2] = s->rho, v[3] = s->rho_width;
  v[4] = (double)s->n_theta_prop, v[5] = (double)s->n_theta_acc, v[6] = (double)s->n_eta_prop, v[7] = (double)s->n_eta_acc;
}

static emi_err_t ckpt_path(const char *dir, int chain, char *buf, size_t n)
{
  if (snprintf(buf, n, "%s/chain%d.h5", dir, chain) >= (int)n) return EMI_ERROR(EMI_ERR_ARG, "checkpoint path too long");
  return EMI_SUCCESS;
}

static emi_err_t ckpt_write(const char *dir, int chain, uint64_t fp, const est_data_t *e, const sizes_t *z,
                            const emi_imem_state_t *s, const chain_draws_t *c)
{
  emi_err_t err = EMI_SUCCESS;
  emi_h5_file_t *f = NULL;
  char path[4096];
  double sc[NSCAL];
  const emi_imem_data_t *d = &e->d;
  EMI_TRY(ckpt_path(dir, chain, path, sizeof path));
  EMI_TRY(emi_h5_file_create(MPI_COMM_SELF, path, &f));
  /* Uncompressed: each checkpoint rewrites the chain's draws so far, and deflating them took a fifth
   * of the CPU time of a default run (checkpoint-every 500, EU-27 FIN ITA POL SWE: perf, libz 20%);
   * the files are scratch, removed after a complete run. */
  EMI_TRY(emi_h5_file_set_deflate(f, 0));
  EMI_TRY(emi_h5_group_ensure(f, "/state"));
  EMI_TRY(emi_h5_attr_uint(f, "/state", "fingerprint", fp));
  EMI_TRY(emi_h5_attr_int(f, "/state", "chain", chain));
  EMI_TRY(emi_h5_attr_int(f, "/state", "iter", s->iter));
  EMI_TRY(emi_h5_attr_int(f, "/state", "ndone", c->ndone));
  state_scalars(s, sc);
  struct { const char *name; const double *v; uint64_t n; } arr[] = {
    {"/state/beta", s->beta, (uint64_t)d->P}, {"/state/loglam", s->loglam, (uint64_t)d->ncov},
    {"/state/u", s->u, (uint64_t)d->K}, {"/state/e", s->e, (uint64_t)d->K * d->T},
    {"/state/eta", s->eta, (uint64_t)d->nrep}, {"/state/tau2", s->tau2, (uint64_t)d->nacc},
    {"/state/scalars", sc, NSCAL},
  };
  for (size_t i = 0; i < sizeof arr / sizeof arr[0]; i++) {
    uint64_t dims[1] = {arr[i].n};
    EMI_TRY(emi_h5_write_array(f, arr[i].name, EMI_H5_DOUBLE, 1, dims, NULL, 0, dims[0], arr[i].v, "1", "sampler state"));
  }
  EMI_TRY(emi_h5_group_ensure(f, "/draws"));
  uint64_t nd = (uint64_t)c->ndone;
  uint64_t d1[2] = {nd, (uint64_t)z->np}, d2[2] = {nd, (uint64_t)z->K * z->T}, d3[2] = {nd, (uint64_t)z->K},
           d4[2] = {nd, (uint64_t)z->C * z->T};
  EMI_TRY(emi_h5_write_array(f, "/draws/par", EMI_H5_DOUBLE, 2, d1, NULL, 0, nd, c->par, "1", "draws"));
  EMI_TRY(emi_h5_write_array(f, "/draws/flow", EMI_H5_FLOAT, 2, d2, NULL, 0, nd, c->flow, "1", "draws"));
  EMI_TRY(emi_h5_write_array(f, "/draws/ueff", EMI_H5_DOUBLE, 2, d3, NULL, 0, nd, c->ueff, "1", "draws"));
  EMI_TRY(emi_h5_write_array(f, "/draws/elast", EMI_H5_DOUBLE, 2, d3, NULL, 0, nd, c->elast, "1", "draws"));
  EMI_TRY(emi_h5_write_array(f, "/draws/und", EMI_H5_DOUBLE, 2, d4, NULL, 0, nd, c->und, "1", "draws"));
  EMI_TRY(emi_h5_write_array(f, "/draws/emig", EMI_H5_DOUBLE, 2, d4, NULL, 0, nd, c->emig, "1", "draws"));
  EMI_TRY(emi_h5_file_commit(&f));
cleanup:
  emi_h5_file_abort(&f);
  return err;
}

static emi_err_t h5_read_all(hid_t fid, const char *path, hid_t mtype, size_t n, void *buf, const char *file)
{
  emi_err_t err = EMI_SUCCESS;
  hid_t did = -1, sp = -1;
  if ((did = H5Dopen2(fid, path, H5P_DEFAULT)) < 0) EMI_FAIL(EMI_ERR_IO, "%s: no dataset %s (not a checkpoint?)", file, path);
  if ((sp = H5Dget_space(did)) < 0) EMI_FAIL(EMI_ERR_IO, "%s: %s: cannot read its shape", file, path);
  hssize_t np = H5Sget_simple_extent_npoints(sp);
  if (np < 0 || (size_t)np != n)
    EMI_FAIL(EMI_ERR_INPUT, "%s: %s holds %lld values, expected %zu: the checkpoint does not match this run", file, path,
             (long long)np, n);
  if (n && H5Dread(did, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
    EMI_FAIL(EMI_ERR_IO, "%s: cannot read %s", file, path);
cleanup:
  if (sp >= 0) H5Sclose(sp);
  if (did >= 0) H5Dclose(did);
  return err;
}

static emi_err_t h5_read_attr_int(hid_t fid, const char *obj, const char *name, hid_t mtype, void *v, const char *file)
{
  hid_t a = H5Aopen_by_name(fid, obj, name, H5P_DEFAULT, H5P_DEFAULT);
  if (a < 0) return EMI_ERROR(EMI_ERR_INPUT, "%s: no attribute %s on %s (not a checkpoint?)", file, name, obj);
  herr_t r = H5Aread(a, mtype, v);
  H5Aclose(a);
  if (r < 0) return EMI_ERROR(EMI_ERR_IO, "%s: cannot read attribute %s", file, name);
  return EMI_SUCCESS;
}

/* Load chain's checkpoint if there is one: *found = 0 when the file does not exist. */
/* Opens a checkpoint read-only with HDF5's own error printing off: a truncated, corrupt or foreign
 * file is one clear error, not an HDF5 error stack. */
static emi_err_t ckpt_open(const char *path, const char *dir, hid_t *fid)
{
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  if (H5Fis_hdf5(path) <= 0 || (*fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0)
    return EMI_ERROR(EMI_ERR_INPUT, "%s: not a readable HDF5 checkpoint (truncated or corrupt?): delete it (or %s) or run "
                     "without --resume", path, dir);
  return EMI_SUCCESS;
}

/* Open chain's checkpoint in dir, if there is one (*fid < 0 when not), and check that it was made for
 * this run (fingerprint) and this chain. */
static emi_err_t ckpt_open_verified(const char *dir, int chain, uint64_t fp, char *path, size_t n, hid_t *fid)
{
  emi_err_t err = EMI_SUCCESS;
  uint64_t fp2 = 0;
  int64_t ch = -1;
  struct stat sb;
  *fid = -1;
  EMI_TRY(ckpt_path(dir, chain, path, n));
  if (stat(path, &sb) != 0) return EMI_SUCCESS;
  EMI_TRY(ckpt_open(path, dir, fid));
  EMI_TRY(h5_read_attr_int(*fid, "/state", "fingerprint", H5T_NATIVE_UINT64, &fp2, path));
  if (fp2 != fp)
    EMI_FAIL(EMI_ERR_CONFIG, "%s: this checkpoint was made for other data or sampler settings (input, priors, seed, "
             "warmup, draws, thin): delete %s or run without --resume", path, dir);
  EMI_TRY(h5_read_attr_int(*fid, "/state", "chain", H5T_NATIVE_INT64, &ch, path));
  if (ch != chain)
    EMI_FAIL(EMI_ERR_INPUT, "%s: this is the checkpoint of chain %lld, not of chain %d: delete %s or run without --resume",
             path, (long long)ch, chain, dir);
cleanup:
  if (err && *fid >= 0) H5Fclose(*fid), *fid = -1;
  return err;
}

static int finite_d(const double *v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (!isfinite(v[i])) return 0;
  return 1;
}

static int finite_f(const float *v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (!isfinite(v[i])) return 0;
  return 1;
}

static emi_err_t ckpt_read(const char *dir, int chain, uint64_t fp, int64_t warmup, int64_t thin, const est_data_t *e,
                           const sizes_t *z, emi_imem_state_t *s, chain_draws_t *c, int *found)
{
  emi_err_t err = EMI_SUCCESS;
  char path[4096];
  hid_t fid = -1;
  int64_t iter = 0, ndone = 0;
  double sc[NSCAL];
  const emi_imem_data_t *d = &e->d;
  *found = 0;
  EMI_TRY(ckpt_open_verified(dir, chain, fp, path, sizeof path, &fid));
  if (fid < 0) goto cleanup;
  EMI_TRY(h5_read_attr_int(fid, "/state", "iter", H5T_NATIVE_INT64, &iter, path));
  EMI_TRY(h5_read_attr_int(fid, "/state", "ndone", H5T_NATIVE_INT64, &ndone, path));
  {
    int64_t total = warmup + z->nd * thin, want = iter <= warmup ? 0 : (iter - warmup) / thin;
    if (ndone < 0 || ndone > z->nd || iter < 0 || iter > total || ndone != want)
      EMI_FAIL(EMI_ERR_INPUT, "%s: inconsistent checkpoint counters (iteration %lld, %lld draws stored; this run has %lld "
               "warm-up iterations, thin %lld, %lld draws): delete %s or run without --resume", path, (long long)iter,
               (long long)ndone, (long long)warmup, (long long)thin, (long long)z->nd, dir);
  }
  EMI_TRY(h5_read_all(fid, "/state/beta", H5T_NATIVE_DOUBLE, (size_t)d->P, s->beta, path));
  EMI_TRY(h5_read_all(fid, "/state/loglam", H5T_NATIVE_DOUBLE, (size_t)d->ncov, s->loglam, path));
  EMI_TRY(h5_read_all(fid, "/state/u", H5T_NATIVE_DOUBLE, (size_t)d->K, s->u, path));
  EMI_TRY(h5_read_all(fid, "/state/e", H5T_NATIVE_DOUBLE, (size_t)d->K * d->T, s->e, path));
  EMI_TRY(h5_read_all(fid, "/state/eta", H5T_NATIVE_DOUBLE, (size_t)d->nrep, s->eta, path));
  EMI_TRY(h5_read_all(fid, "/state/tau2", H5T_NATIVE_DOUBLE, (size_t)d->nacc, s->tau2, path));
  EMI_TRY(h5_read_all(fid, "/state/scalars", H5T_NATIVE_DOUBLE, NSCAL, sc, path));
  s->sig2_u = sc[0], s->sig2_e = sc[1], s->rho = sc[2], s->rho_width = sc[3];
  s->n_theta_prop = (int64_t)sc[4], s->n_theta_acc = (int64_t)sc[5], s->n_eta_prop = (int64_t)sc[6];
  s->n_eta_acc = (int64_t)sc[7];
  s->iter = iter;
  if (!finite_d(s->beta, (size_t)d->P) || !finite_d(s->loglam, (size_t)d->ncov) || !finite_d(s->u, (size_t)d->K) ||
      !finite_d(s->e, (size_t)d->K * d->T) || !finite_d(s->eta, (size_t)d->nrep) || !finite_d(s->tau2, (size_t)d->nacc) ||
      !finite_d(sc, NSCAL) || !(s->sig2_u > 0) || !(s->sig2_e > 0) || !(fabs(s->rho) < 1) || !(s->rho_width > 0))
    EMI_FAIL(EMI_ERR_INPUT, "%s: /state holds a value outside the model's support (non-finite, a variance <= 0 or "
             "|rho| >= 1): the checkpoint is damaged: delete %s or run without --resume", path, dir);
  for (int a = 0; a < d->nacc; a++)
    if (!(s->tau2[a] > 0)) EMI_FAIL(EMI_ERR_INPUT, "%s: /state/tau2 holds %g: the checkpoint is damaged", path, s->tau2[a]);
  for (int q = 0; q < d->ncov; q++)
    if (!(s->loglam[q] < 0)) EMI_FAIL(EMI_ERR_INPUT, "%s: /state/loglam holds %g (a coverage >= 1): the checkpoint is damaged",
                                      path, s->loglam[q]);
  EMI_TRY(h5_read_all(fid, "/draws/par", H5T_NATIVE_DOUBLE, (size_t)ndone * z->np, c->par, path));
  EMI_TRY(h5_read_all(fid, "/draws/flow", H5T_NATIVE_FLOAT, (size_t)ndone * z->K * z->T, c->flow, path));
  EMI_TRY(h5_read_all(fid, "/draws/ueff", H5T_NATIVE_DOUBLE, (size_t)ndone * z->K, c->ueff, path));
  EMI_TRY(h5_read_all(fid, "/draws/elast", H5T_NATIVE_DOUBLE, (size_t)ndone * z->K, c->elast, path));
  EMI_TRY(h5_read_all(fid, "/draws/und", H5T_NATIVE_DOUBLE, (size_t)ndone * z->C * z->T, c->und, path));
  EMI_TRY(h5_read_all(fid, "/draws/emig", H5T_NATIVE_DOUBLE, (size_t)ndone * z->C * z->T, c->emig, path));
  if (!finite_d(c->par, (size_t)ndone * z->np) || !finite_f(c->flow, (size_t)ndone * z->K * z->T) ||
      !finite_d(c->ueff, (size_t)ndone * z->K) || !finite_d(c->elast, (size_t)ndone * z->K) || !finite_d(c->und, (size_t)ndone * z->C * z->T) ||
      !finite_d(c->emig, (size_t)ndone * z->C * z->T))
    EMI_FAIL(EMI_ERR_INPUT, "%s: /draws holds a non-finite value: the checkpoint is damaged: delete %s or run without "
             "--resume", path, dir);
  c->ndone = ndone;
  *found = 1;
cleanup:
  if (fid >= 0) H5Fclose(fid);
  return err;
}

/* --resume: chain's checkpoint, if there is one, opens and was made for this run (fingerprint).
 * Checked for every chain before any chain runs: otherwise a rank whose chains have no checkpoint
 * yet runs them to the end with the new settings, writing their checkpoints next to the old run's,
 * before another rank's mismatch is reported (and the directory then resumes neither run). */
static emi_err_t ckpt_check(const char *dir, int chain, uint64_t fp)
{
  char path[4096];
  hid_t fid = -1;
  emi_err_t err = ckpt_open_verified(dir, chain, fp, path, sizeof path, &fid);
  if (fid >= 0) H5Fclose(fid);
  return err;
}

typedef struct {
  uint64_t seed;
  int64_t warmup, nd, thin, ckpt_every;
  const char *ckpt_dir;
  int resume;
} run_opts_t;

/* One chain in flight: its state, the buffer of z, where it started. */
typedef struct {
  int chain;
  emi_imem_state_t s;
  double *zbuf;
  int64_t it0;
  double acc[2];
  emi_err_t err;
  char msg[1024];
} chain_run_t;

/* Set up chain r->chain: allocate, then resume from its checkpoint or start afresh (master thread:
 * HDF5 is not thread-safe). */
static emi_err_t chain_begin(const est_data_t *e, const sizes_t *z, const run_opts_t *ro, uint64_t fp, int speak,
                             chain_run_t *r, chain_draws_t *c)
{
  emi_err_t err = EMI_SUCCESS;
  int found = 0;
  int64_t total = ro->warmup + ro->nd * ro->thin;
  EMI_TRY(emi_imem_state_alloc(&e->d, &r->s));
  EMI_MALLOC(r->zbuf, (size_t)e->K * e->T, "flows");
  if (ro->resume) EMI_TRY(ckpt_read(ro->ckpt_dir, r->chain, fp, ro->warmup, ro->thin, e, z, &r->s, c, &found));
  if (!found) EMI_TRY(emi_imem_init(&e->d, ro->seed, r->chain, &r->s));
  else if (speak) emi_log_info("chain %d: resumed at iteration %lld of %lld", r->chain, (long long)r->s.iter, (long long)total);
  r->it0 = r->s.iter;
cleanup:
  return err;
}

/* Advance a chain to iteration `target` (thread-safe: kernels and memory only). */
static emi_err_t chain_advance(const est_data_t *e, const sizes_t *z, const run_opts_t *ro, int64_t target, chain_run_t *r,
                               chain_draws_t *c)
{
  emi_err_t err = EMI_SUCCESS;
  while (r->s.iter < target) {
    EMI_TRY(emi_imem_sweep(&e->d, ro->seed, r->chain, r->s.iter < ro->warmup, &r->s));
    if (r->s.iter > ro->warmup && (r->s.iter - ro->warmup) % ro->thin == 0) {
      if (c->ndone >= z->nd) EMI_FAIL(EMI_ERR_INTERNAL, "chain %d: more draws than %lld", r->chain, (long long)z->nd);
      record_draw(e, &r->s, z, r->zbuf, c);
    }
  }
cleanup:
  return err;
}

static void chain_end(chain_run_t *r)
{
  free(r->zbuf);
  r->zbuf = NULL;
  emi_imem_state_free(&r->s);
}

/* Run the chains this rank owns (chain c on rank c mod size).  Several chains run at once, one per
 * OpenMP thread (a sweep is then single-threaded: nested regions are inactive); with one chain
 * per rank its sweeps use the threads.  Either way a chain's draws depend only on (seed, chain,
 * iteration).  The chains advance in blocks that end at checkpoint iterations; checkpoints and
 * progress lines are written between blocks by the master thread.  acc[2 * chain + 0..1]: the
 * acceptance rates of the chains run here (0 for the others). */
static emi_err_t run_chains(emi_ctx_t *ctx, const est_data_t *e, const sizes_t *z, const run_opts_t *ro, uint64_t fp,
                            int nchains, chain_draws_t *all, double *acc)
{
  emi_err_t err = EMI_SUCCESS;
  chain_run_t *run = NULL;
  int nmine = 0, speak = ctx->rank == 0;
  int64_t total = ro->warmup + ro->nd * ro->thin;
  for (int c = 0; c < nchains; c++) nmine += c % ctx->size == ctx->rank;
  if (nmine == 0) return EMI_SUCCESS;
  EMI_CALLOC(run, (size_t)nmine, "chain runs");
  for (int c = 0, m = 0; c < nchains; c++) {
    if (c % ctx->size != ctx->rank) continue;
    run[m].chain = c;
    EMI_TRY(draws_alloc(z, &all[c]));
    EMI_TRY(chain_begin(e, z, ro, fp, speak, &run[m], &all[c]));
    m++;
  }
  int64_t lo = total;
  for (int m = 0; m < nmine; m++) lo = run[m].s.iter < lo ? run[m].s.iter : lo;
  emi_progress_t pg;
  char stage[96];
  int nthr = omp_get_max_threads(), width = nmine < nthr ? nmine : nthr;
  snprintf(stage, sizeof stage, "%d chain(s) on rank 0, %d at a time", nmine, width);
  if (speak) emi_progress_begin(&pg, stage, (double)total * nmine, "iterations");
  double t0 = emi_log_elapsed();
  int64_t step = ro->ckpt_every > 0 ? ro->ckpt_every : 100;
  if (step > 100) step = 100; /* blocks of at most 100 iterations: progress lines stay regular */
  for (int64_t b = lo; b < total;) {
    int64_t nb = (b / step + 1) * step;
    if (nb > total) nb = total;
    int failed = 0;
#pragma omp parallel for schedule(dynamic, 1) num_threads(width) reduction(| : failed)
    for (int m = 0; m < nmine; m++) {
      chain_run_t *r = &run[m];
      if (r->s.iter >= nb) continue;
      if ((r->err = chain_advance(e, z, ro, nb, r, &all[r->chain])) != EMI_SUCCESS) {
        snprintf(r->msg, sizeof r->msg, "%s", emi_err_message());
        emi_err_clear();
        failed = 1;
      }
    }
    if (failed)
      for (int m = 0; m < nmine; m++)
        if (run[m].err) EMI_FAIL(run[m].err, "%s", run[m].msg);
    b = nb;
    if (ro->ckpt_every > 0 && b % ro->ckpt_every == 0 && b < total)
      for (int m = 0; m < nmine; m++) EMI_TRY(ckpt_write(ro->ckpt_dir, run[m].chain, fp, e, z, &run[m].s, &all[run[m].chain]));
    if (speak) {
      double done = 0;
      for (int m = 0; m < nmine; m++) done += (double)run[m].s.iter;
      emi_progress_update(&pg, done);
    }
  }
  if (speak) emi_progress_end(&pg, (double)total * nmine);
  double dt = emi_log_elapsed() - t0;
  for (int m = 0; m < nmine; m++) {
    chain_run_t *r = &run[m];
    chain_draws_t *c = &all[r->chain];
    if (c->ndone != z->nd)
      EMI_FAIL(EMI_ERR_INTERNAL, "chain %d: %lld draws recorded, %lld expected", r->chain, (long long)c->ndone,
               (long long)z->nd);
    acc[2 * r->chain] = r->s.n_eta_prop ? (double)r->s.n_eta_acc / (double)r->s.n_eta_prop : 0.0;
    acc[2 * r->chain + 1] = r->s.n_theta_prop ? (double)r->s.n_theta_acc / (double)r->s.n_theta_prop : 0.0;
    if (speak)
      emi_log_info("chain %d: %lld iterations; acceptance: report log-means %.3f, coverages+beta %.3f", r->chain,
                   (long long)(r->s.iter - r->it0), acc[2 * r->chain], acc[2 * r->chain + 1]);
    if (ro->ckpt_every > 0) EMI_TRY(ckpt_write(ro->ckpt_dir, r->chain, fp, e, z, &r->s, c));
  }
  if (speak) {
    int64_t its = 0;
    for (int m = 0; m < nmine; m++) its += run[m].s.iter - run[m].it0;
    emi_log_info("sampling: %lld iterations of %d chain(s) in %.1f s on rank 0 (%.0f it/s, %d chain(s) at a time x %d "
                 "thread(s) each)", (long long)its, nmine, dt, dt > 0 ? (double)its / dt : 0.0, width,
                 width > 1 ? 1 : nthr);
  }
cleanup:
  for (int m = 0; run && m < nmine; m++) chain_end(&run[m]);
  free(run);
  return err;
}

/* ------------------------------------------------------------------ summaries */

/* Summaries (NSTAT values) of n items whose draws sit at base[(chain * nd + draw) * stride + item]
 * (double or float).  out[item * NSTAT + s]. */
static emi_err_t summarize(int nchains, int64_t nd, size_t n, size_t stride, const double *bd, const float *bf, double *out)
{
  int fail = 0;
  size_t failed_item = 0;
#pragma omp parallel
  {
    size_t lw = emi_diag_work_len((size_t)nchains, (size_t)nd);
    double *tmp = malloc(((size_t)nchains * nd + lw) * sizeof *tmp);
    if (!tmp) fail = 1;
#pragma omp for schedule(dynamic, 8)
    for (size_t i = 0; i < n; i++) {
      if (!tmp) continue;
      for (size_t j = 0; j < (size_t)nchains * nd; j++) tmp[j] = bd ? bd[j * stride + i] : (double)bf[j * stride + i];
      emi_diag_t dg;
      if (emi_diag_compute(tmp, (size_t)nchains, (size_t)nd, 1, tmp + (size_t)nchains * nd, lw, &dg) != EMI_SUCCESS) {
#pragma omp critical(est_sum_fail)
        {
          if (!fail) failed_item = i;
          fail = 2;
        }
        emi_err_clear();
        continue;
      }
      double *o = out + i * NSTAT;
      o[0] = dg.mean, o[1] = dg.sd, o[2] = dg.q05, o[3] = dg.q50, o[4] = dg.q95, o[5] = dg.mcse_mean;
      o[6] = dg.rhat, o[7] = dg.ess_bulk, o[8] = dg.ess_tail;
    }
    free(tmp);
  }
  if (fail == 1) return EMI_ERROR(EMI_ERR_NOMEM, "cannot allocate the summary workspace");
  if (fail == 2) return EMI_ERROR(EMI_ERR_INTERNAL, "diagnostics failed for item %zu (non-finite draws?)", failed_item);
  return EMI_SUCCESS;
}

/* Worst R-hat and smallest ESS over n summaries; names the items. */
typedef struct {
  double rhat, ess_bulk, ess_tail;
  size_t i_rhat, i_bulk, i_tail;
} worst_t;

static void worst_of(const double *sum, size_t n, worst_t *w)
{
  for (size_t i = 0; i < n; i++) {
    const double *o = sum + i * NSTAT;
    if (o[6] > w->rhat) w->rhat = o[6], w->i_rhat = i;
    if (o[7] < w->ess_bulk) w->ess_bulk = o[7], w->i_bulk = i;
    if (o[8] < w->ess_tail) w->ess_tail = o[8], w->i_tail = i;
  }
}

/* ------------------------------------------------------------------ output */

static emi_err_t write_output(emi_ctx_t *ctx, const char *path, const est_opts_t *o, const border_opts_t *bo,
                              const est_data_t *e, const sizes_t *z,
                              int nchains, const run_opts_t *ro, const chain_draws_t *all, const double *s_par,
                              const double *s_flow, const double *s_und, const double *s_emig, const double *acc,
                              const char *status, const worst_t *wst, int store_flows)
{
  emi_err_t err = EMI_SUCCESS;
  emi_h5_file_t *f = NULL;
  emi_provenance_t *prov = NULL;
  char **pnames = NULL;
  int64_t *chain_ix = NULL, *draw_ix = NULL;
  double *buf = NULL, *decl = NULL, *mirror = NULL;
  float *fbuf = NULL;
  int32_t *ncorr = NULL;
  int r0 = ctx->rank == 0;
  int K = e->K, T = e->T, C = e->C, np = z->np;
  int64_t nd = z->nd;
  int border = e->model == MODEL_BORDER;
  EMI_TRY(emi_output_begin(ctx, path, &f, &prov));
  if (border) {
    for (int s = 0; s < 3; s++)
      if (bo->path[s]) EMI_TRY(emi_provenance_add_input(prov, bo->path[s]));
  } else
    EMI_TRY(emi_provenance_add_input(prov, o->input));
  EMI_TRY(emi_provenance_set_rng(prov, "philox4x32-10", ro->seed));

  /* labels */
  EMI_CALLOC(pnames, (size_t)np, "parameter names");
  {
    int i = 0;
    char buf2[256];
    for (int p = 0; p < e->P; p++) snprintf(buf2, sizeof buf2, "beta[%s]", e->covname[p]), pnames[i++] = strdup(buf2);
    for (int c = 0; c < e->ncov; c++) snprintf(buf2, sizeof buf2, "lambda[%s]", e->covlabel[c]), pnames[i++] = strdup(buf2);
    pnames[i++] = strdup("sigma_u");
    pnames[i++] = strdup("sigma_e");
    pnames[i++] = strdup("rho");
    for (int a = 0; a < e->nacc; a++) snprintf(buf2, sizeof buf2, "tau[%s]", e->acclabel[a]), pnames[i++] = strdup(buf2);
    for (int j = 0; j < np; j++)
      if (!pnames[j]) EMI_FAIL(EMI_ERR_NOMEM, "cannot copy a parameter name");
  }
  EMI_MALLOC(chain_ix, (size_t)nchains, "chain index");
  for (int c = 0; c < nchains; c++) chain_ix[c] = c;
  EMI_MALLOC(draw_ix, (size_t)nd, "draw index");
  for (int64_t i = 0; i < nd; i++) draw_ix[i] = i;

  /* /estimate: the data as fitted.  Each group that holds arrays (/estimate, /posterior,
   * /posterior/flows, /undeclared/emigration) gets its own copies of the coordinates its arrays use
   * (emi_h5_write_array: xarray labels a group's arrays from that group's coordinates). */
  EMI_TRY(emi_h5_group_ensure(f, "/estimate"));
  EMI_TRY(emi_h5_attr_str(f, "/estimate", "model", border ? "border" : "double-entry"));
  if (border)
    EMI_TRY(emi_h5_attr_str(f, "/estimate", "benchmark", !strcmp(bo->prior[BS_BORDER], "benchmark") ? "border" : "none"));
  else
    EMI_TRY(emi_h5_attr_str(f, "/estimate", "benchmark", o->benchmark));
  /* which coordinates each group needs: bit 0 series (group or corridor), 1 country, 2 period/year,
   * 3 covariate, 4 stat, 5 parameter, 6 chain, 7 draw */
  static const char *const sgroups[4] = {"/estimate", "/posterior", "/posterior/flows", "/undeclared/emigration"};
  const unsigned smask[4] = {0xffu, 0xf0u, 0xd5u, 0xd6u};
  for (int g = 0; g < 4; g++) {
    const char *G = sgroups[g];
    unsigned m = smask[g];
    if (g == 3 && !(!border || bo->path[BS_DECLARED])) continue;
    if (border) {
      if (m & 3u)
        EMI_TRY(emi_h5_write_scale_str(f, G, "group", (uint64_t)K, (const char *const *)e->country, "", "group (citizenship)"));
      if (m & 4u) EMI_TRY(emi_h5_write_scale_str(f, G, "period", (uint64_t)T, (const char *const *)e->plabel, "", "period"));
    } else {
      if (m & 2u)
        EMI_TRY(emi_h5_write_scale_str(f, G, "country", (uint64_t)C, (const char *const *)e->country, "",
                                       "country (ISO 3166-1 alpha-3)"));
      if (m & 4u)
        EMI_TRY(emi_h5_write_scale_str(f, G, "year", (uint64_t)T, (const char *const *)e->plabel, "", "calendar year"));
      if (m & 1u)
        EMI_TRY(emi_h5_write_scale_str(f, G, "corridor", (uint64_t)K, (const char *const *)e->corridor, "",
                                       "corridor FROM->TO"));
    }
    if (m & 8u)
      EMI_TRY(emi_h5_write_scale_str(f, G, "covariate", (uint64_t)e->P, (const char *const *)e->covname, "",
                                     border ? "covariate (the trend standardised over the periods)"
                                            : "covariate (standardised over the fitted corridor-years)"));
    if (m & 16u) EMI_TRY(emi_h5_write_scale_str(f, G, "stat", NSTAT, stat_names, "", "summary statistic"));
    if (m & 32u)
      EMI_TRY(emi_h5_write_scale_str(f, G, "parameter", (uint64_t)np, (const char *const *)pnames, "", "model parameter"));
    if (m & 64u) EMI_TRY(emi_h5_write_scale_int(f, G, "chain", (uint64_t)nchains, chain_ix, "1", "MCMC chain"));
    if (m & 128u)
      EMI_TRY(emi_h5_write_scale_int(f, G, "draw", (uint64_t)nd, draw_ix, "1", "draw (after warm-up and thinning)"));
  }
  const char *sp_cty = border ? "/estimate/group" : "/estimate/country", *sp_year = border ? "/estimate/period" : "/estimate/year",
             *sp_corr = border ? "/estimate/group" : "/estimate/corridor",
             *sp_cov = "/estimate/covariate";
  {
    const char *sc3[3] = {sp_corr, sp_year, sp_cov};
    uint64_t d3[3] = {(uint64_t)K, (uint64_t)T, (uint64_t)e->P};
    EMI_TRY(emi_h5_write_array(f, "/estimate/x", EMI_H5_DOUBLE, 3, d3, sc3, 0, r0 ? d3[0] : 0, e->x, "1",
                               "covariates of the migration model (standardised)"));
    const char *sc2[2] = {sp_corr, sp_year};
    uint64_t d2[2] = {(uint64_t)K, (uint64_t)T};
    if (border) {
      const double *v[3] = {e->rep_border, e->rep_val[SRC_EMI], e->rep_val[SRC_IMM]};
      const char *nm[3] = {"/estimate/border_reported", "/estimate/declared_reported", "/estimate/mirror_reported"};
      const char *ln[3] = {"emigrants counted at the border (-1 = not reported)",
                           "declared emigration (-1 = not reported)",
                           "destinations' immigration of the group, as reported (-1 = not reported)"};
      for (int s = 0; s < 3; s++)
        if (bo->path[s])
          EMI_TRY(emi_h5_write_array(f, nm[s], EMI_H5_DOUBLE, 2, d2, sc2, 0, r0 ? d2[0] : 0, v[s], "persons", ln[s]));
    } else {
      EMI_TRY(emi_h5_write_array(f, "/estimate/emigration_reported", EMI_H5_DOUBLE, 2, d2, sc2, 0, r0 ? d2[0] : 0,
                                 e->rep_val[SRC_EMI], "persons", "flow reported by the sending country (-1 = not reported)"));
      EMI_TRY(emi_h5_write_array(f, "/estimate/immigration_reported", EMI_H5_DOUBLE, 2, d2, sc2, 0, r0 ? d2[0] : 0,
                                 e->rep_val[SRC_IMM], "persons", "flow reported by the receiving country (-1 = not reported)"));
      EMI_TRY(emi_h5_write_array(f, "/estimate/emigration_duration_factor", EMI_H5_DOUBLE, 2, d2, sc2, 0, r0 ? d2[0] : 0,
                                 e->emi_fac, "1", "factor from the emigration report's duration definition to 12-month "
                                 "migrants (0 months 0.53, 3: 0.63, 6: 0.73, 12: 1, permanent: 2.26)"));
    }
  }

  /* /posterior */
  EMI_TRY(emi_h5_group_ensure(f, "/posterior"));
  EMI_TRY(emi_h5_attr_str(f, "/posterior", "status", status));
  EMI_TRY(emi_h5_attr_str(f, "/posterior", "sampler",
                          "blocked partially collapsed Gibbs (emi_imem.h): t-proposal MH for report log-means, "
                          "beta (Gaussian block) and log coverages (slice) with u, e integrated out, exact Gaussian "
                          "series blocks, tau, rho and sigma_e slice-sampled with u, e integrated out, collapsed sigma_u "
                          "move, slice sampler for rho, conjugate and non-centred updates of the error scales"));
  EMI_TRY(emi_h5_attr_int(f, "/posterior", "chains", nchains));
  EMI_TRY(emi_h5_attr_int(f, "/posterior", "warmup", ro->warmup));
  EMI_TRY(emi_h5_attr_int(f, "/posterior", "draws_per_chain", nd));
  EMI_TRY(emi_h5_attr_int(f, "/posterior", "thin", ro->thin));
  EMI_TRY(emi_h5_attr_double(f, "/posterior", "max_rhat", wst->rhat));
  EMI_TRY(emi_h5_attr_double(f, "/posterior", "min_ess_bulk", wst->ess_bulk));
  EMI_TRY(emi_h5_attr_double(f, "/posterior", "min_ess_tail", wst->ess_tail));
  EMI_TRY(emi_h5_attr_double(f, "/posterior", "acceptance_report_logmeans", acc[0]));
  EMI_TRY(emi_h5_attr_double(f, "/posterior", "acceptance_coverage_block", acc[1]));
  {
    uint64_t d3[3] = {(uint64_t)nchains, (uint64_t)nd, (uint64_t)np};
    const char *sc3[3] = {"/posterior/chain", "/posterior/draw", "/posterior/parameter"};
    if (r0) {
      EMI_MALLOC(buf, (size_t)nchains * nd * np, "draws");
      for (int c = 0; c < nchains; c++) memcpy(buf + (size_t)c * nd * np, all[c].par, (size_t)nd * np * sizeof *buf);
    }
    EMI_TRY(emi_h5_write_array(f, "/posterior/draws", EMI_H5_DOUBLE, 3, d3, sc3, 0, r0 ? d3[0] : 0, buf, "1",
                               "posterior draws of the model parameters (lambda: coverage; sigma, tau: sd on the log scale)"));
    free(buf), buf = NULL;
    uint64_t d2[2] = {(uint64_t)np, NSTAT};
    const char *sc2[2] = {"/posterior/parameter", "/posterior/stat"};
    EMI_TRY(emi_h5_write_array(f, "/posterior/summary", EMI_H5_DOUBLE, 2, d2, sc2, 0, r0 ? d2[0] : 0, s_par, "1",
                               "posterior summaries and diagnostics of the parameters"));
  }
  EMI_TRY(emi_h5_group_ensure(f, "/posterior/flows"));
  {
    const char *fs = border ? "/posterior/flows/group" : "/posterior/flows/corridor",
               *fy = border ? "/posterior/flows/period" : "/posterior/flows/year";
    uint64_t d3[3] = {(uint64_t)K, (uint64_t)T, NSTAT};
    const char *sc3[3] = {fs, fy, "/posterior/flows/stat"};
    EMI_TRY(emi_h5_write_array(f, "/posterior/flows/summary", EMI_H5_DOUBLE, 3, d3, sc3, 0, r0 ? d3[0] : 0, s_flow,
                               "persons", border ? "true long-term emigration (12-month definition) by group and period: "
                               "posterior summaries and diagnostics"
                               : "true flows (12-month definition): posterior summaries and diagnostics"));
    if (store_flows) {
      uint64_t d4[4] = {(uint64_t)nchains, (uint64_t)nd, (uint64_t)K, (uint64_t)T};
      const char *sc4[4] = {"/posterior/flows/chain", "/posterior/flows/draw", fs, fy};
      if (r0) {
        EMI_MALLOC(fbuf, (size_t)nchains * nd * K * T, "flow draws");
        for (int c = 0; c < nchains; c++) memcpy(fbuf + (size_t)c * nd * K * T, all[c].flow, (size_t)nd * K * T * sizeof *fbuf);
      }
      EMI_TRY(emi_h5_write_array(f, "/posterior/flows/draws", EMI_H5_FLOAT, 4, d4, sc4, 0, r0 ? d4[0] : 0, fbuf, "persons",
                                 "posterior draws of the true flows"));
      free(fbuf), fbuf = NULL;
    }
    uint64_t d3b[3] = {(uint64_t)nchains, (uint64_t)nd, (uint64_t)K};
    const char *sc3b[3] = {"/posterior/flows/chain", "/posterior/flows/draw", fs};
    if (r0) {
      EMI_MALLOC(buf, (size_t)nchains * nd * K, "series effects");
      for (int c = 0; c < nchains; c++) memcpy(buf + (size_t)c * nd * K, all[c].ueff, (size_t)nd * K * sizeof *buf);
    }
    EMI_TRY(emi_h5_write_array(f, "/posterior/flows/corridor_effect", EMI_H5_DOUBLE, 3, d3b, sc3b, 0, r0 ? d3b[0] : 0, buf,
                               "1", border ? "posterior draws of the group effects u (log scale)"
                                           : "posterior draws of the corridor effects u (log scale)"));
    if (r0)
      for (int c = 0; c < nchains; c++) memcpy(buf + (size_t)c * nd * K, all[c].elast, (size_t)nd * K * sizeof *buf);
    EMI_TRY(emi_h5_write_array(f, "/posterior/flows/ar_last", EMI_H5_DOUBLE, 3, d3b, sc3b, 0, r0 ? d3b[0] : 0, buf, "1",
                               "posterior draws of the AR(1) term e of the last period (log scale; a forecast starts "
                               "from it)"));
    free(buf), buf = NULL;
  }

  /* /undeclared/emigration and the country totals */
  EMI_CALLOC(decl, (size_t)C * T, "declared");
  EMI_CALLOC(mirror, (size_t)C * T, "mirror");
  EMI_CALLOC(ncorr, (size_t)C * T, "reported corridors");
  for (int k = 0; k < K; k++)
    for (int t = 0; t < T; t++) {
      double v = e->rep_val[SRC_EMI][(size_t)k * T + t], m = e->rep_val[SRC_IMM][(size_t)k * T + t];
      size_t ct = (size_t)e->cfrom[k] * T + t;
      if (v >= 0) decl[ct] += v * (e->emi_fac ? e->emi_fac[(size_t)k * T + t] : 1.0), ncorr[ct]++;
      if (m >= 0) mirror[ct] += m;
    }
  if (!border || bo->path[BS_DECLARED]) {
    EMI_TRY(emi_h5_group_ensure(f, "/undeclared"));
    EMI_TRY(emi_h5_group_ensure(f, "/undeclared/emigration"));
    uint64_t d2[2] = {(uint64_t)C, (uint64_t)T}, d3[3] = {(uint64_t)C, (uint64_t)T, NSTAT};
    const char *uc = border ? "/undeclared/emigration/group" : "/undeclared/emigration/country",
               *uy = border ? "/undeclared/emigration/period" : "/undeclared/emigration/year";
    const char *sc2[2] = {uc, uy}, *sc3[3] = {uc, uy, "/undeclared/emigration/stat"};
    const char *ec2[2] = {sp_cty, sp_year}, *ec3[3] = {sp_cty, sp_year, "/estimate/stat"};
    EMI_TRY(emi_h5_write_array(f, "/undeclared/emigration/summary", EMI_H5_DOUBLE, 3, d3, sc3, 0, r0 ? d3[0] : 0, s_und,
                               "persons", border ? "undeclared emigration: true emigration minus declared emigration, in "
                               "the periods with a declared count (posterior summaries)"
                               : "undeclared emigration: true flows minus the sending country's reports, over "
                               "the corridors it reported (posterior summaries)"));
    EMI_TRY(emi_h5_write_array(f, "/undeclared/emigration/declared", EMI_H5_DOUBLE, 2, d2, sc2, 0, r0 ? d2[0] : 0, decl,
                               "persons", border ? "declared emigration (0 where not reported)"
                                                 : "declared emigration: sum of the sending country's reports, "
                                                   "as 12-month migrants (times the duration factor)"));
    if (border)
      EMI_TRY(emi_h5_write_array(f, "/undeclared/emigration/declared_reported", EMI_H5_INT32, 2, d2, sc2, 0,
                                 r0 ? d2[0] : 0, ncorr, "1", "1: a declared count exists (0: nothing to compare, undeclared 0)"));
    else {
      EMI_TRY(emi_h5_write_array(f, "/undeclared/emigration/corridors_reported", EMI_H5_INT32, 2, d2, sc2, 0,
                                 r0 ? d2[0] : 0, ncorr, "1", "destinations whose emigration the country reported (0: nothing "
                                 "to compare)"));
      EMI_TRY(emi_h5_write_array(f, "/estimate/emigration_mirror", EMI_H5_DOUBLE, 2, d2, ec2, 0, r0 ? d2[0] : 0, mirror,
                                 "persons", "emigration as reported by the receiving countries (sum of their reports)"));
      EMI_TRY(emi_h5_write_array(f, "/estimate/emigration", EMI_H5_DOUBLE, 3, d3, ec3, 0, r0 ? d3[0] : 0, s_emig, "persons",
                                 "true emigration to the fitted countries (posterior summaries)"));
    }
    uint64_t d4[4] = {(uint64_t)nchains, (uint64_t)nd, (uint64_t)C, (uint64_t)T};
    const char *sc4[4] = {"/undeclared/emigration/chain", "/undeclared/emigration/draw", uc, uy};
    if (r0) {
      EMI_MALLOC(buf, (size_t)nchains * nd * C * T, "undeclared draws");
      for (int c = 0; c < nchains; c++) memcpy(buf + (size_t)c * nd * C * T, all[c].und, (size_t)nd * C * T * sizeof *buf);
    }
    EMI_TRY(emi_h5_write_array(f, "/undeclared/emigration/draws", EMI_H5_DOUBLE, 4, d4, sc4, 0, r0 ? d4[0] : 0, buf,
                               "persons", "posterior draws of undeclared emigration"));
  }
  EMI_TRY(emi_output_finish(ctx, &f, prov));
cleanup:
  emi_h5_file_abort(&f);
  emi_provenance_destroy(&prov);
  for (int j = 0; j < np; j++) free(pnames ? pnames[j] : NULL);
  free(pnames), free(chain_ix), free(draw_ix), free(buf), free(fbuf), free(decl), free(mirror), free(ncorr);
  return err;
}

/* ------------------------------------------------------------------ the command */

static emi_err_t mkdir_p(const char *dir)
{
  struct stat sb;
  if (stat(dir, &sb) == 0) {
    if (!S_ISDIR(sb.st_mode)) return EMI_ERROR(EMI_ERR_IO, "checkpoint directory %s exists and is not a directory", dir);
    return EMI_SUCCESS;
  }
  if (mkdir(dir, 0777) != 0 && errno != EEXIST)
    return EMI_ERROR(EMI_ERR_IO, "cannot create the checkpoint directory %s: %s", dir, strerror(errno));
  return EMI_SUCCESS;
}

/* Name of item i of a summary: which = 0 parameters, 1 flows (series x period), 2 undeclared
 * (country or group x period). */
static void item_name(const est_data_t *e, int which, size_t i, char *buf, size_t n)
{
  if (which == 1) {
    snprintf(buf, n, "flow %s %s", e->corridor[i / (size_t)e->T], e->plabel[i % (size_t)e->T]);
    return;
  }
  if (which == 2) {
    snprintf(buf, n, "undeclared %s %s", e->country[i / (size_t)e->T], e->plabel[i % (size_t)e->T]);
    return;
  }
  int k = (int)i;
  if (k < e->P) snprintf(buf, n, "beta[%s]", e->covname[k]);
  else if ((k -= e->P) < e->ncov) snprintf(buf, n, "lambda[%s]", e->covlabel[k]);
  else if ((k -= e->ncov) < 3) snprintf(buf, n, "%s", k == 0 ? "sigma_u" : k == 1 ? "sigma_e" : "rho");
  else snprintf(buf, n, "tau[%s]", e->acclabel[k - 3]);
}


emi_err_t emi_cmd_estimate(emi_ctx_t *ctx)
{
  emi_err_t err = EMI_SUCCESS;
  est_opts_t o = {0};
  est_data_t e = {0};
  run_opts_t ro = {0};
  chain_draws_t *all = NULL;
  double *s_par = NULL, *s_flow = NULL, *s_und = NULL, *s_emig = NULL;
  const char *out = NULL, *model = NULL;
  char ckdir[4096];
  int64_t nchains64 = 0, seed64 = 0;
  int accept_fail = 0, store_flows = 1, nchains = 0, keep_ckpt = 0;
  double rhat_max = 0, ess_min = 0, acc[2] = {0, 0}, *acc_chain = NULL;

  EMI_TRY(emi_opts_get_str(ctx->opts, "output", &out));
  EMI_TRY(emi_opts_get_str(ctx->opts, "model", &model));
  int is_border = !strcmp(model, "border");
  if (!is_border && !emi_opts_is_set(ctx->opts, "input")) EMI_FAIL(EMI_ERR_USAGE, "estimate: give --input FLOWS.csv");
  if (is_border && !emi_opts_is_set(ctx->opts, "border"))
    EMI_FAIL(EMI_ERR_USAGE, "estimate: model = border needs --border FILE (emigrants counted at the border by group and period)");
  if (is_border && emi_opts_is_set(ctx->opts, "input"))
    EMI_FAIL(EMI_ERR_USAGE, "estimate: --input is the double-entry flows file; model = border reads --border, --declared, --mirror");
  if (!is_border)
    for (int s = 0; s < 3; s++)
      if (emi_opts_is_set(ctx->opts, bsrc_names[s]))
        EMI_FAIL(EMI_ERR_USAGE, "estimate: --%s belongs to model = border (this run is model = double-entry)", bsrc_names[s]);
  if (!out) EMI_FAIL(EMI_ERR_USAGE, "estimate: give -o OUT.h5");
  {
    /* an option of the other model would be ignored: refuse it */
    static const char *const border_only[] = {"group-col", "period-col", "value-col", "border-filter", "declared-filter",
                                              "mirror-filter", "groups", "prior-border", "prior-declared", "prior-mirror",
                                              "mirror-duration", "border-accuracy", "declared-accuracy",
                                              "mirror-accuracy", "trend"};
    static const char *const de_only[] = {"filter", "time-col", "from-col", "to-col", "emigration-col", "immigration-col",
                                          "emigration-undercount-col", "immigration-undercount-col",
                                          "emigration-accuracy-col", "immigration-accuracy-col", "covariates", "countries",
                                          "benchmark", "prior-emigration-low", "prior-emigration-medium",
                                          "prior-emigration-high", "prior-immigration-low", "prior-immigration-medium",
                                          "prior-immigration-high", "duration"};
    const char *const *other = is_border ? de_only : border_only;
#define GIVEN(nm) emi_opts_given(ctx->opts, nm)
    size_t nother = is_border ? sizeof de_only / sizeof *de_only : sizeof border_only / sizeof *border_only;
    for (size_t i = 0; i < nother; i++)
      if (GIVEN(other[i]))
        EMI_FAIL(EMI_ERR_USAGE, "estimate: --%s (config [estimate] %s) belongs to model = %s; this run is model = %s",
                 other[i], other[i], is_border ? "double-entry" : "border", model);
#undef GIVEN
  }
  if (!is_border) EMI_TRY(emi_opts_get_str(ctx->opts, "input", &o.input));
  border_opts_t bo = {0};
  if (is_border) {
    const char *fo[3] = {"border-filter", "declared-filter", "mirror-filter"}, *ao[3] = {"border-accuracy", "declared-accuracy",
                                                                                         "mirror-accuracy"};
    for (int s = 0; s < 3; s++) {
      if (emi_opts_is_set(ctx->opts, bsrc_names[s])) EMI_TRY(emi_opts_get_str(ctx->opts, bsrc_names[s], &bo.path[s]));
      bo.filter_opt[s] = fo[s];
      EMI_TRY(emi_opts_get_list(ctx->opts, fo[s], &bo.nfilt[s], &bo.filt[s]));
      char key[32];
      snprintf(key, sizeof key, "prior-%s", bsrc_names[s]);
      EMI_TRY(emi_opts_get_str(ctx->opts, key, &bo.prior[s]));
      const char *aname = NULL;
      EMI_TRY(emi_opts_get_str(ctx->opts, ao[s], &aname));
      for (int a = 0; a < 4; a++)
        if (!strcmp(aname, aclass[a])) bo.acc[s] = a;
    }
    EMI_TRY(emi_opts_get_str(ctx->opts, "group-col", &bo.group_col));
    EMI_TRY(emi_opts_get_str(ctx->opts, "period-col", &bo.period_col));
    EMI_TRY(emi_opts_get_str(ctx->opts, "value-col", &bo.value_col));
    EMI_TRY(emi_opts_get_list(ctx->opts, "groups", &bo.ngroups, &bo.groups));
    EMI_TRY(emi_opts_get_str(ctx->opts, "mirror-duration", &bo.mirror_duration));
    EMI_TRY(emi_opts_get_flag(ctx->opts, "trend", &bo.trend));
    o.input = bo.path[BS_BORDER];
  }
  EMI_TRY(emi_opts_get_str(ctx->opts, "filter", &o.filter));
  EMI_TRY(emi_opts_get_str(ctx->opts, "time-col", &o.time_col));
  EMI_TRY(emi_opts_get_str(ctx->opts, "from-col", &o.from_col));
  EMI_TRY(emi_opts_get_str(ctx->opts, "to-col", &o.to_col));
  EMI_TRY(emi_opts_get_str(ctx->opts, "emigration-col", &o.vcol[0]));
  EMI_TRY(emi_opts_get_str(ctx->opts, "immigration-col", &o.vcol[1]));
  EMI_TRY(emi_opts_get_str(ctx->opts, "emigration-undercount-col", &o.ucol[0]));
  EMI_TRY(emi_opts_get_str(ctx->opts, "immigration-undercount-col", &o.ucol[1]));
  EMI_TRY(emi_opts_get_str(ctx->opts, "emigration-accuracy-col", &o.acol[0]));
  EMI_TRY(emi_opts_get_str(ctx->opts, "immigration-accuracy-col", &o.acol[1]));
  EMI_TRY(emi_opts_get_list(ctx->opts, "covariates", &o.ncovs, &o.covs));
  EMI_TRY(emi_opts_get_list(ctx->opts, "countries", &o.ncountries, &o.countries));
  EMI_TRY(emi_opts_get_list(ctx->opts, "duration", &o.nduration, &o.duration));
  if ((o.has_first = emi_opts_is_set(ctx->opts, "first-year"))) EMI_TRY(emi_opts_get_int(ctx->opts, "first-year", &o.first_year));
  if ((o.has_last = emi_opts_is_set(ctx->opts, "last-year"))) EMI_TRY(emi_opts_get_int(ctx->opts, "last-year", &o.last_year));
  if (o.has_first && o.has_last && o.first_year > o.last_year)
    EMI_FAIL(EMI_ERR_CONFIG, "estimate: first-year %lld is after last-year %lld", (long long)o.first_year, (long long)o.last_year);
  EMI_TRY(emi_opts_get_str(ctx->opts, "benchmark", &o.benchmark));
  for (int s = 0; s < 2; s++)
    for (int q = 0; q < 3; q++) {
      char key[64];
      snprintf(key, sizeof key, "prior-%s-%s", src_names[s], uclass[q]);
      o.prior[s][q] = NULL;
      if (emi_opts_is_set(ctx->opts, key)) EMI_TRY(emi_opts_get_str(ctx->opts, key, &o.prior[s][q]));
    }
  EMI_TRY(emi_opts_get_real(ctx->opts, "accuracy-tau-high", &o.tau0[0]));
  EMI_TRY(emi_opts_get_real(ctx->opts, "accuracy-tau-medium", &o.tau0[1]));
  EMI_TRY(emi_opts_get_real(ctx->opts, "accuracy-tau-low", &o.tau0[2]));
  EMI_TRY(emi_opts_get_real(ctx->opts, "accuracy-tau-na", &o.tau0[3]));
  EMI_TRY(emi_opts_get_real(ctx->opts, "accuracy-prior-shape", &o.acc_shape));
  EMI_TRY(emi_opts_get_int(ctx->opts, "chains", &nchains64));
  EMI_TRY(emi_opts_get_int(ctx->opts, "warmup", &ro.warmup));
  EMI_TRY(emi_opts_get_int(ctx->opts, "draws", &ro.nd));
  EMI_TRY(emi_opts_get_int(ctx->opts, "thin", &ro.thin));
  EMI_TRY(emi_opts_get_int(ctx->opts, "seed", &seed64));
  EMI_TRY(emi_opts_get_int(ctx->opts, "checkpoint-every", &ro.ckpt_every));
  EMI_TRY(emi_opts_get_flag(ctx->opts, "resume", &ro.resume));
  EMI_TRY(emi_opts_get_real(ctx->opts, "rhat-max", &rhat_max));
  EMI_TRY(emi_opts_get_real(ctx->opts, "ess-min", &ess_min));
  EMI_TRY(emi_opts_get_flag(ctx->opts, "accept-failed-diagnostics", &accept_fail));
  EMI_TRY(emi_opts_get_flag(ctx->opts, "store-flow-draws", &store_flows));
  EMI_TRY(emi_opts_get_flag(ctx->opts, "keep-checkpoints", &keep_ckpt));
  nchains = (int)nchains64;
  ro.seed = (uint64_t)seed64;
  if (ro.warmup + ro.nd * ro.thin >= (int64_t)UINT32_MAX)
    EMI_FAIL(EMI_ERR_CONFIG, "estimate: warmup + draws x thin must stay below 2^32 iterations");
  if (emi_opts_is_set(ctx->opts, "checkpoint-dir")) {
    const char *cd = NULL;
    EMI_TRY(emi_opts_get_str(ctx->opts, "checkpoint-dir", &cd));
    if (snprintf(ckdir, sizeof ckdir, "%s", cd) >= (int)sizeof ckdir) EMI_FAIL(EMI_ERR_CONFIG, "checkpoint-dir too long");
  } else if (snprintf(ckdir, sizeof ckdir, "%s.ckpt", out) >= (int)sizeof ckdir)
    EMI_FAIL(EMI_ERR_CONFIG, "output path too long");
  ro.ckpt_dir = ckdir;
  {
    /* the output must not land in the checkpoint directory (it could replace a chain's checkpoint) */
    char od[4096];
    struct stat so, sk;
    const char *sl = strrchr(out, '/');
    snprintf(od, sizeof od, "%.*s", sl ? (int)(sl - out) : 1, sl ? out : ".");
    if (sl == out) snprintf(od, sizeof od, "/");
    if (stat(od, &so) == 0 && stat(ckdir, &sk) == 0 && so.st_dev == sk.st_dev && so.st_ino == sk.st_ino)
      EMI_FAIL(EMI_ERR_CONFIG, "estimate: the output %s is inside the checkpoint directory %s: write it elsewhere", out,
               ckdir);
  }
  {
    const char *outs[1] = {out}, *ins[3] = {o.input, bo.path[BS_DECLARED], bo.path[BS_MIRROR]};
    int nin = 1;
    if (is_border) {
      nin = 0;
      for (int s = 0; s < 3; s++)
        if (bo.path[s]) ins[nin++] = bo.path[s];
    }
    EMI_TRY(emi_output_check_paths(ctx, outs, 1, ins, nin));
  }

  if (is_border) {
    bo.first_year = o.first_year, bo.last_year = o.last_year, bo.has_first = o.has_first, bo.has_last = o.has_last;
    memcpy(bo.tau0, o.tau0, sizeof bo.tau0);
    bo.acc_shape = o.acc_shape;
    EMI_TRY(load_data_border(&bo, &e));
  } else
    EMI_TRY(load_data(&o, &e));
  int64_t nemi = 0, nimm = 0;
  for (size_t i = 0; i < (size_t)e.K * e.T; i++) nemi += e.rep_val[SRC_EMI][i] >= 0, nimm += e.rep_val[SRC_IMM][i] >= 0;
  if (!is_border) {
    /* countries that report no emigration at all: their undeclared emigration is undefined (0 in the output) */
    char list[512] = "";
    int nnone = 0;
    for (int c = 0; c < e.C; c++) {
      int any = 0;
      for (int k = 0; k < e.K && !any; k++)
        if (e.cfrom[k] == c)
          for (int t = 0; t < e.T && !any; t++) any = e.rep_val[SRC_EMI][(size_t)k * e.T + t] >= 0;
      if (!any) {
        size_t l = strlen(list);
        if (l + 8 < sizeof list) snprintf(list + l, sizeof list - l, "%s%s", nnone ? " " : "", e.country[c]);
        nnone++;
      }
    }
    if (nnone)
      emi_log_warn("estimate: %d countries report no emigration (%s): their undeclared emigration is undefined and "
                   "stored as 0 with corridors_reported = 0; their true emigration is in /estimate/emigration", nnone, list);
  }
  if (is_border) {
    int64_t nbord = 0;
    for (size_t i = 0; i < (size_t)e.K * e.T; i++) nbord += e.rep_border[i] >= 0;
    emi_log_info("estimate: border model: %d groups, %d periods %s..%s, %lld border, %lld declared and %lld mirror counts, "
                 "%d coverage parameters, %d covariates", e.K, e.T, e.plabel[0], e.plabel[e.T - 1], (long long)nbord,
                 (long long)nemi, (long long)nimm, e.ncov, e.P);
  } else
    emi_log_info("estimate: %d countries, %d-%d, %d corridors, %lld emigration and %lld immigration reports, %d coverage "
                 "parameters, %d covariates", e.C, e.year[0], e.year[e.T - 1], e.K, (long long)nemi, (long long)nimm, e.ncov,
                 e.P);
  sizes_t z = {.np = emi_imem_nparams(&e.d), .K = e.K, .T = e.T, .C = e.C, .nd = ro.nd};
  uint64_t fp = fingerprint(&e, ro.seed, ro.warmup, ro.nd, ro.thin);
  if (ro.resume) {
    struct stat sb;
    int ok = stat(ckdir, &sb) == 0 && S_ISDIR(sb.st_mode);
    if (!ok) emi_log_warn("estimate: --resume but no checkpoint directory %s: starting from scratch", ckdir);
  }
  if (ro.ckpt_every > 0 && ctx->rank == 0) err = mkdir_p(ckdir);
  EMI_TRY(emi_mpi_agree(ctx->comm, err, NULL));

  if (ro.resume) { /* every checkpoint must belong to this run before any chain starts (ckpt_check) */
    emi_err_t kerr = EMI_SUCCESS;
    if (ctx->rank == 0)
      for (int c = 0; c < nchains && !kerr; c++) kerr = ckpt_check(ckdir, c, fp);
    EMI_TRY(emi_mpi_agree(ctx->comm, kerr, NULL));
  }

  /* chains: chain c on rank c mod size */
  EMI_CALLOC(all, (size_t)nchains, "chains");
  EMI_CALLOC(acc_chain, (size_t)nchains * 2, "acceptance rates");
  EMI_TRY(emi_mpi_agree(ctx->comm, run_chains(ctx, &e, &z, &ro, fp, nchains, all, acc_chain), NULL));
  /* gather every chain's draws on rank 0 */
  {
    /* each chain's rates come from its owner (the others hold 0, and rates are >= 0: MAX is exact),
     * then are averaged in chain order, so the result does not depend on the layout */
    double *accg = ctx->rank == 0 ? malloc((size_t)nchains * 2 * sizeof *accg) : NULL;
    if (ctx->rank == 0 && !accg) EMI_FAIL(EMI_ERR_NOMEM, "cannot allocate the acceptance rates");
    MPI_Reduce(acc_chain, accg, 2 * nchains, MPI_DOUBLE, MPI_MAX, 0, ctx->comm);
    if (ctx->rank == 0) {
      for (int c = 0; c < nchains; c++) acc[0] += accg[2 * c], acc[1] += accg[2 * c + 1];
      acc[0] /= nchains, acc[1] /= nchains;
    }
    free(accg);
    emi_err_t gerr = EMI_SUCCESS;
    for (int c = 0; c < nchains; c++) {
      int owner = c % ctx->size;
      if (owner == 0) continue;
      if (ctx->rank == 0) {
        if ((gerr = draws_alloc(&z, &all[c])) != EMI_SUCCESS) break;
        MPI_Recv(all[c].par, (int)(z.nd * z.np), MPI_DOUBLE, owner, 100 + 8 * c, ctx->comm, MPI_STATUS_IGNORE);
        MPI_Recv(all[c].flow, (int)(z.nd * z.K * z.T), MPI_FLOAT, owner, 101 + 8 * c, ctx->comm, MPI_STATUS_IGNORE);
        MPI_Recv(all[c].ueff, (int)(z.nd * z.K), MPI_DOUBLE, owner, 102 + 8 * c, ctx->comm, MPI_STATUS_IGNORE);
        MPI_Recv(all[c].und, (int)(z.nd * z.C * z.T), MPI_DOUBLE, owner, 103 + 8 * c, ctx->comm, MPI_STATUS_IGNORE);
        MPI_Recv(all[c].emig, (int)(z.nd * z.C * z.T), MPI_DOUBLE, owner, 104 + 8 * c, ctx->comm, MPI_STATUS_IGNORE);
        MPI_Recv(all[c].elast, (int)(z.nd * z.K), MPI_DOUBLE, owner, 105 + 8 * c, ctx->comm, MPI_STATUS_IGNORE);
        all[c].ndone = z.nd;
      } else if (ctx->rank == owner) {
        MPI_Send(all[c].par, (int)(z.nd * z.np), MPI_DOUBLE, 0, 100 + 8 * c, ctx->comm);
        MPI_Send(all[c].flow, (int)(z.nd * z.K * z.T), MPI_FLOAT, 0, 101 + 8 * c, ctx->comm);
        MPI_Send(all[c].ueff, (int)(z.nd * z.K), MPI_DOUBLE, 0, 102 + 8 * c, ctx->comm);
        MPI_Send(all[c].und, (int)(z.nd * z.C * z.T), MPI_DOUBLE, 0, 103 + 8 * c, ctx->comm);
        MPI_Send(all[c].emig, (int)(z.nd * z.C * z.T), MPI_DOUBLE, 0, 104 + 8 * c, ctx->comm);
        MPI_Send(all[c].elast, (int)(z.nd * z.K), MPI_DOUBLE, 0, 105 + 8 * c, ctx->comm);
        draws_free(&all[c]);
      }
    }
    EMI_TRY(emi_mpi_agree(ctx->comm, gerr, NULL));
  }

  /* summaries and diagnostics on rank 0 */
  worst_t wst = {.rhat = 0, .ess_bulk = INFINITY, .ess_tail = INFINITY};
  const char *status = "ok";
  char worst_msg[1024] = "";
  {
    emi_err_t serr = EMI_SUCCESS;
    size_t KT = (size_t)e.K * e.T, CT = (size_t)e.C * e.T;
    if (ctx->rank == 0) {
      double *pd = NULL, *ud = NULL, *ed = NULL;
      float *fd = NULL;
      serr = EMI_SUCCESS;
      if (!(s_par = calloc((size_t)z.np * NSTAT, sizeof *s_par)) || !(s_flow = calloc(KT * NSTAT, sizeof *s_flow)) ||
          !(s_und = calloc(CT * NSTAT, sizeof *s_und)) || !(s_emig = calloc(CT * NSTAT, sizeof *s_emig)) ||
          !(pd = malloc((size_t)nchains * z.nd * z.np * sizeof *pd)) ||
          !(fd = malloc((size_t)nchains * z.nd * KT * sizeof *fd)) || !(ud = malloc((size_t)nchains * z.nd * CT * sizeof *ud)) ||
          !(ed = malloc((size_t)nchains * z.nd * CT * sizeof *ed)))
        serr = EMI_ERROR(EMI_ERR_NOMEM, "cannot allocate the summaries");
      if (!serr) {
        for (int c = 0; c < nchains; c++) {
          memcpy(pd + (size_t)c * z.nd * z.np, all[c].par, (size_t)z.nd * z.np * sizeof *pd);
          memcpy(fd + (size_t)c * z.nd * KT, all[c].flow, (size_t)z.nd * KT * sizeof *fd);
          memcpy(ud + (size_t)c * z.nd * CT, all[c].und, (size_t)z.nd * CT * sizeof *ud);
          memcpy(ed + (size_t)c * z.nd * CT, all[c].emig, (size_t)z.nd * CT * sizeof *ed);
        }
        serr = summarize(nchains, z.nd, (size_t)z.np, (size_t)z.np, pd, NULL, s_par);
        if (!serr) serr = summarize(nchains, z.nd, KT, KT, NULL, fd, s_flow);
        if (!serr) serr = summarize(nchains, z.nd, CT, CT, ud, NULL, s_und);
        if (!serr) serr = summarize(nchains, z.nd, CT, CT, ed, NULL, s_emig);
      }
      free(pd), free(fd), free(ud), free(ed);
      if (!serr) {
        worst_t w1 = wst, w2 = wst, w3 = wst;
        worst_of(s_par, (size_t)z.np, &w1);
        worst_of(s_flow, KT, &w2);
        worst_of(s_und, CT, &w3);
        wst.rhat = fmax(w1.rhat, fmax(w2.rhat, w3.rhat));
        wst.ess_bulk = fmin(w1.ess_bulk, fmin(w2.ess_bulk, w3.ess_bulk));
        wst.ess_tail = fmin(w1.ess_tail, fmin(w2.ess_tail, w3.ess_tail));
        emi_log_info("diagnostics: parameters: max R-hat %.4g, min bulk ESS %.0f, min tail ESS %.0f", w1.rhat, w1.ess_bulk,
                     w1.ess_tail);
        emi_log_info("diagnostics: flows: max R-hat %.4g (%s %s), min bulk ESS %.0f, min tail ESS %.0f", w2.rhat,
                     e.corridor[w2.i_rhat / e.T], e.plabel[w2.i_rhat % e.T], w2.ess_bulk, w2.ess_tail);
        if (!is_border || bo.path[BS_DECLARED])
          emi_log_info("diagnostics: undeclared emigration: max R-hat %.4g, min bulk ESS %.0f, min tail ESS %.0f", w3.rhat,
                       w3.ess_bulk, w3.ess_tail);
        /* Prior-data conflict: a coverage whose posterior median lies more than 4 prior standard deviations
         * from its prior mean means the reports of that class disagree with the prior (or with the
         * benchmark): the true flows it touches then rest on the data, not on the elicited coverage. */
        for (int c = 0; c < e.ncov; c++) {
          const double a = e.ca[c], b = e.cb[c], mu = a / (a + b), sd = sqrt(a * b / ((a + b) * (a + b) * (a + b + 1)));
          const double med = s_par[(size_t)(e.P + c) * NSTAT + 3];
          if (fabs(med - mu) > 4.0 * sd)
            emi_log_warn("estimate: prior-data conflict: lambda[%s] has posterior median %.3g [%.3g, %.3g], %.1f prior sd "
                         "from its prior Beta(%g, %g) (mean %.3g): the reports of this class disagree with the prior or "
                         "the benchmark; check the class, its prior and the duration definition", e.covlabel[c], med,
                         s_par[(size_t)(e.P + c) * NSTAT + 2], s_par[(size_t)(e.P + c) * NSTAT + 4], (med - mu) / sd, a,
                         b, mu);
        }
        if (wst.rhat > rhat_max || wst.ess_bulk < ess_min || wst.ess_tail < ess_min) {
          status = "diagnostics failed";
          const worst_t *ws[3] = {&w1, &w2, &w3};
          int br = 0, bb = 0, bt = 0;
          for (int q = 1; q < 3; q++) {
            if (ws[q]->rhat > ws[br]->rhat) br = q;
            if (ws[q]->ess_bulk < ws[bb]->ess_bulk) bb = q;
            if (ws[q]->ess_tail < ws[bt]->ess_tail) bt = q;
          }
          char nr[160], nb[160], nt[160];
          item_name(&e, br, ws[br]->i_rhat, nr, sizeof nr);
          item_name(&e, bb, ws[bb]->i_bulk, nb, sizeof nb);
          item_name(&e, bt, ws[bt]->i_tail, nt, sizeof nt);
          snprintf(worst_msg, sizeof worst_msg, "max R-hat %.4f at %s (limit %.3f), min bulk ESS %.0f at %s, min tail ESS "
                   "%.0f at %s (limit %.0f)", wst.rhat, nr, rhat_max, wst.ess_bulk, nb, wst.ess_tail, nt, ess_min);
          emi_log_error("MCMC DIAGNOSTICS FAILED: %s: the posterior summaries are not reliable; run longer "
                        "(--warmup, --draws) or more chains", worst_msg);
        }
      }
    }
    EMI_TRY(emi_mpi_agree(ctx->comm, serr, NULL));
    int failed = ctx->rank == 0 && strcmp(status, "ok");
    MPI_Bcast(&failed, 1, MPI_INT, 0, ctx->comm);
    if (failed) status = "diagnostics failed";
    MPI_Bcast(&wst, (int)sizeof wst, MPI_BYTE, 0, ctx->comm);
    MPI_Bcast(acc, 2, MPI_DOUBLE, 0, ctx->comm);
    MPI_Bcast(worst_msg, (int)sizeof worst_msg, MPI_CHAR, 0, ctx->comm);
  }
  EMI_TRY(write_output(ctx, out, &o, &bo, &e, &z, nchains, &ro, all, s_par, s_flow, s_und, s_emig, acc, status, &wst,
                       store_flows));
  emi_log_info("estimate: wrote %s (status: %s)", out, status);
  if (ro.ckpt_every > 0 && !keep_ckpt) {
    /* the output is complete: the checkpoints (this run's chain files) are no longer needed */
    MPI_Barrier(ctx->comm);
    if (ctx->rank == 0) {
      char path[4096];
      int left = 0;
      for (int c = 0; c < nchains; c++)
        if (ckpt_path(ckdir, c, path, sizeof path) == EMI_SUCCESS && remove(path) != 0 && errno != ENOENT) left = 1;
      if (!left && rmdir(ckdir) != 0 && errno != ENOENT)
        emi_log_info("estimate: removed the checkpoints; %s holds other files and stays", ckdir);
    }
  }
  if (strcmp(status, "ok") && !accept_fail)
    EMI_FAIL(EMI_ERR_NOCONV, "estimate: MCMC diagnostics failed (%s); %s was written with /posterior status '%s'; "
             "--accept-failed-diagnostics exits 0 instead", worst_msg, out, status);
cleanup:
  if (all)
    for (int c = 0; c < nchains; c++) draws_free(&all[c]);
  free(all), free(s_par), free(s_flow), free(s_und), free(s_emig), free(acc_chain);
  est_data_free(&e);
  return err;
}
