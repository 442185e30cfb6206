/* emi_cmd_forecast.c: `emflow forecast`, Monte Carlo scenario forecasts from the posterior of
 * `emflow estimate` (kernels/emi_fcast.h).
 *
 *   mpiexec -n N emflow forecast --posterior EST.h5 -o FC.h5 [--horizon 10 --trajectories 4000]
 *           [--scenarios baseline --scenarios mobility-shock ...]
 *
 * Trajectory k of scenario s continues a posterior draw (traj_draw: chains in turn, each chain's
 * trajectories spread evenly over its draws) from the last fitted period with the random stream keyed by (seed, s, k), s the scenario's fixed number
 * (baseline 0, mobility-shock 1, destination-shock 2, coverage-change 3): a trajectory does not
 * depend on the rank, the thread or which other scenarios run.  Ranks take contiguous blocks of
 * trajectories; every summary is reduced over integers (sums, minima, maxima, histograms), so the
 * output is the same for any number of ranks and threads.  Quantiles are exact (type 7) by
 * histogram selection over repeated passes (emi_qsel_*).
 *
 * Series of the output: the border model's groups, or the double-entry model's countries (their
 * emigration to the fitted countries, summed over corridors), plus _TOTAL.  Undeclared emigration
 * (border model with declarations): the declared part of a count is Binomial(count, pi), pi the
 * posterior draw of the declaration coverage (or the coverage-change scenario's value).
 */
#include <errno.h>
#include <hdf5.h>
#include <ini.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "emi_agg.h"
#include "emi_call.h"
#include "emi_cli.h"
#include "emi_commands.h"
#include "emi_fcast.h"
#include "emi_h5.h"
#include "emi_h5read.h"
#include "emi_log.h"
#include "emi_opts.h"
#include "emi_output.h"
#include "emi_provenance.h"

const emi_opt_spec_t emi_forecast_specs[] = {
  EMI_OPTS_COMMON,
  {"posterior", "forecast", EMI_OPT_PATH, NULL, "", "the output of emflow estimate (its /estimate and /posterior groups)"},
  {"output", "forecast", EMI_OPT_PATH, NULL, "", "output HDF5 file", 0, 0, NULL, 'o'},
  {"horizon", "forecast", EMI_OPT_INT, "10", "periods", "periods forecast after the last fitted one", 1, 1000},
  {"trajectories", "forecast", EMI_OPT_INT, "4000", "", "trajectories per scenario", 1, 1e9},
  {"seed", "forecast", EMI_OPT_INT, "20261204", "", "random seed (a trajectory depends only on seed, scenario, index)", 0,
   9.2e18},
  {"scenarios", "forecast", EMI_OPT_LIST, "baseline", "",
   "scenarios: baseline, mobility-shock, destination-shock, coverage-change"},
  {"shock-factor", "forecast", EMI_OPT_REAL, "0.3", "", "mobility-shock: multiplier on every flow (0.3: a 2020-like "
   "border closure)", 0, 100},
  {"shock-from", "forecast", EMI_OPT_STRING, NULL, "", "mobility-shock: first period (label; default the first forecast)"},
  {"shock-to", "forecast", EMI_OPT_STRING, NULL, "", "mobility-shock: last period (label; default shock-from)"},
  {"destination", "forecast", EMI_OPT_STRING, NULL, "", "destination-shock: destination country (double entry) or "
   "group (border model)"},
  {"destination-factor", "forecast", EMI_OPT_REAL, "1.5", "", "destination-shock: multiplier on its flows", 0, 100},
  {"destination-from", "forecast", EMI_OPT_STRING, NULL, "", "destination-shock: first period (default the first forecast)"},
  {"destination-to", "forecast", EMI_OPT_STRING, NULL, "", "destination-shock: last period (default the last forecast)"},
  {"coverage", "forecast", EMI_OPT_REAL, "0.8", "", "coverage-change: share of emigrants who declare", 0, 1},
  {"coverage-from", "forecast", EMI_OPT_STRING, NULL, "", "coverage-change: first period (default the first forecast)"},
  {"thresholds", "forecast", EMI_OPT_LIST, "", "persons", "report P(count > threshold) for each threshold"},
  {"store-trajectories", "forecast", EMI_OPT_FLAG, "false", "", "store every trajectory's counts (int64; each rank writes "
   "its own block of trajectories)"},
};
const int emi_forecast_nspecs = (int)(sizeof emi_forecast_specs / sizeof emi_forecast_specs[0]);

enum { SC_BASELINE, SC_MOBILITY, SC_DESTINATION, SC_COVERAGE, NSC };
static const char *const sc_names[NSC] = {"baseline", "mobility-shock", "destination-shock", "coverage-change"};
#define NQ 9
static const double qlev[NQ] = {0.025, 0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95, 0.975};
static const char *const fstat_names[NQ + 1] = {"mean", "q025", "q05", "q10", "q25", "q50", "q75", "q90", "q95", "q975"};
#define MAX_THR 32
#define EMI_FC_KEEP_BYTES ((size_t)1 << 30) /* pass-0 counts kept in memory up to 1 GiB per rank */

/* The posterior as the forecast needs it. */
typedef struct {
  int border;
  int K, T, P, nch, nd, np;
  double *x;          /* K*T*P */
  double *draws;      /* nch*nd*np */
  double *u, *elast;  /* nch*nd*K */
  int ibeta, irho, ise, icov; /* parameter indices (icov: lambda[declared], -1 none) */
  int trend_col;      /* covariate extrapolated linearly (-1 none) */
  int nout;           /* output series without _TOTAL */
  char **outlab;      /* nout + 1 */
  int *kout;          /* K: output series of each model series */
  int *kdest;         /* K: destination index (double entry) or the group itself (border) */
  char **destlab;     /* destination labels: countries (double entry) or groups */
  int ndest;
  int32_t m_last, plen; /* last fitted period */
} fc_post_t;

static void post_free(fc_post_t *p)
{
  free(p->x), free(p->draws), free(p->u), free(p->elast), free(p->kout), free(p->kdest);
  for (int i = 0; p->outlab && i <= p->nout; i++) free(p->outlab[i]);
  free(p->outlab);
  for (int i = 0; p->destlab && i < p->ndest; i++) free(p->destlab[i]);
  free(p->destlab);
  memset(p, 0, sizeof *p);
}

static emi_err_t read_col(hid_t fid, const char *file, const char *path, int kind, emi_column_t *c, int ndim_want,
                          const hsize_t *dims_want)
{
  emi_err_t err = EMI_SUCCESS;
  hid_t did = H5I_INVALID_HID, sp = H5I_INVALID_HID;
  memset(c, 0, sizeof *c);
  if (H5Lexists(fid, path, H5P_DEFAULT) <= 0)
    EMI_FAIL(EMI_ERR_INPUT, "%s: no %s: expected the output of emflow estimate (re-run emflow estimate with this "
             "version if it is an older file)", file, path);
  if ((did = H5Dopen2(fid, path, H5P_DEFAULT)) < 0) EMI_FAIL(EMI_ERR_HDF5, "%s: cannot open %s", file, path);
  if (ndim_want > 0) {
    hsize_t d[8];
    if ((sp = H5Dget_space(did)) < 0) EMI_FAIL(EMI_ERR_HDF5, "%s: %s: no shape", file, path);
    int nd = H5Sget_simple_extent_ndims(sp);
    if (nd != ndim_want || nd > 8) EMI_FAIL(EMI_ERR_INPUT, "%s: %s has %d dimensions, expected %d", file, path, nd, ndim_want);
    H5Sget_simple_extent_dims(sp, d, NULL);
    for (int i = 0; i < nd; i++)
      if (dims_want[i] && d[i] != dims_want[i])
        EMI_FAIL(EMI_ERR_INPUT, "%s: %s: dimension %d is %llu, expected %llu", file, path, i, (unsigned long long)d[i],
                 (unsigned long long)dims_want[i]);
  }
  EMI_TRY(emi_column_read(did, file, path, c));
  if (c->kind != kind)
    EMI_FAIL(EMI_ERR_INPUT, "%s: %s holds %s: expected %s (as emflow estimate writes it)", file, path,
             c->kind == EMI_COL_STR ? "strings" : c->kind == EMI_COL_REAL ? "floating-point values" : "integers",
             kind == EMI_COL_STR ? "strings" : "floating-point values");
cleanup:
  if (sp >= 0) H5Sclose(sp);
  if (did >= 0) H5Dclose(did);
  if (err) emi_column_free(c);
  return err;
}

static emi_err_t dims_of(hid_t fid, const char *file, const char *path, int nd_want, hsize_t *d)
{
  emi_err_t err = EMI_SUCCESS;
  hid_t did = H5I_INVALID_HID, sp = H5I_INVALID_HID;
  if (H5Lexists(fid, path, H5P_DEFAULT) <= 0)
    EMI_FAIL(EMI_ERR_INPUT, "%s: no %s: expected the output of emflow estimate (re-run emflow estimate with this "
             "version if it is an older file)", file, path);
  if ((did = H5Dopen2(fid, path, H5P_DEFAULT)) < 0 || (sp = H5Dget_space(did)) < 0)
    EMI_FAIL(EMI_ERR_HDF5, "%s: cannot open %s", file, path);
  if (H5Sget_simple_extent_ndims(sp) != nd_want)
    EMI_FAIL(EMI_ERR_INPUT, "%s: %s does not have %d dimensions", file, path, nd_want);
  H5Sget_simple_extent_dims(sp, d, NULL);
cleanup:
  if (sp >= 0) H5Sclose(sp);
  if (did >= 0) H5Dclose(did);
  return err;
}

static int find_label(char *const *lab, int n, const char *s)
{
  for (int i = 0; i < n; i++)
    if (!strcmp(lab[i], s)) return i;
  return -1;
}

static emi_err_t load_posterior(const char *file, fc_post_t *p)
{
  emi_err_t err = EMI_SUCCESS;
  hid_t fid = H5I_INVALID_HID;
  emi_column_t c = {0}, par = {0}, cov = {0}, ser = {0}, cty = {0}, per = {0};
  char model[64] = "";
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  {
    struct stat sb;
    if (stat(file, &sb) != 0) EMI_FAIL(EMI_ERR_IO, "%s: cannot open: %s", file, strerror(errno));
    if (!S_ISREG(sb.st_mode)) EMI_FAIL(EMI_ERR_INPUT, "%s: not a regular file: expected the output of emflow estimate", file);
  }
  if (emi_input_open_error(file)) EMI_FAIL(EMI_ERR_IO, "%s: cannot open: %s", file, emi_input_open_error(file));
  if (H5Fis_hdf5(file) <= 0 || (fid = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0)
    EMI_FAIL(EMI_ERR_INPUT, "%s: not a readable HDF5 file: expected the output of emflow estimate", file);
  {
    int r = H5Lexists(fid, "/estimate", H5P_DEFAULT) > 0 ? emi_h5_read_attr_text(fid, "/estimate", "model", model, sizeof model) : 0;
    if (r == 0) EMI_FAIL(EMI_ERR_INPUT, "%s: no /estimate group with a model attribute: expected the output of emflow estimate",
                         file);
    if (r < 0) EMI_FAIL(EMI_ERR_HDF5, "%s: cannot read /estimate model", file);
  }
  p->border = !strcmp(model, "border");
  if (!p->border && strcmp(model, "double-entry"))
    EMI_FAIL(EMI_ERR_INPUT, "%s: /estimate model '%s': expected border or double-entry", file, model);
  hsize_t dx[3], dd[3];
  EMI_TRY(dims_of(fid, file, "/estimate/x", 3, dx));
  EMI_TRY(dims_of(fid, file, "/posterior/draws", 3, dd));
  if (dx[0] < 1 || dx[1] < 1 || dx[2] < 1 || dx[0] > 1000000 || dx[1] > 100000 || dx[2] > 64)
    EMI_FAIL(EMI_ERR_INPUT, "%s: /estimate/x has shape %llu x %llu x %llu: expected at least one series, period and "
             "covariate", file, (unsigned long long)dx[0], (unsigned long long)dx[1], (unsigned long long)dx[2]);
  if (dd[0] < 1 || dd[1] < 1 || dd[2] < 1 || dd[0] * dd[1] > 100000000)
    EMI_FAIL(EMI_ERR_INPUT, "%s: /posterior/draws has shape %llu x %llu x %llu: expected at least one chain, draw and "
             "parameter", file, (unsigned long long)dd[0], (unsigned long long)dd[1], (unsigned long long)dd[2]);
  if (dx[0] > 9000)
    EMI_FAIL(EMI_ERR_INPUT, "%s: %llu series: at most 9000 (the total of a trajectory must stay an exact 64-bit count)",
             file, (unsigned long long)dx[0]);
  p->K = (int)dx[0], p->T = (int)dx[1], p->P = (int)dx[2], p->nch = (int)dd[0], p->nd = (int)dd[1], p->np = (int)dd[2];
  EMI_TRY(read_col(fid, file, "/estimate/x", EMI_COL_REAL, &c, 3, dx));
  p->x = c.d, c.d = NULL;
  emi_column_free(&c);
  EMI_TRY(read_col(fid, file, "/posterior/draws", EMI_COL_REAL, &c, 3, dd));
  p->draws = c.d, c.d = NULL;
  emi_column_free(&c);
  hsize_t du[3] = {dd[0], dd[1], dx[0]};
  EMI_TRY(read_col(fid, file, "/posterior/flows/corridor_effect", EMI_COL_REAL, &c, 3, du));
  p->u = c.d, c.d = NULL;
  emi_column_free(&c);
  EMI_TRY(read_col(fid, file, "/posterior/flows/ar_last", EMI_COL_REAL, &c, 3, du));
  p->elast = c.d, c.d = NULL;
  emi_column_free(&c);
  EMI_TRY(read_col(fid, file, "/estimate/parameter", EMI_COL_STR, &par, 1, (hsize_t[]){dd[2]}));
  EMI_TRY(read_col(fid, file, "/estimate/covariate", EMI_COL_STR, &cov, 1, (hsize_t[]){dx[2]}));
  p->ibeta = p->irho = p->ise = p->icov = -1;
  p->trend_col = -1;
  for (int i = 0; i < (int)par.n; i++) {
    if (!strncmp(par.s[i], "beta[", 5) && p->ibeta < 0) p->ibeta = i;
    if (!strcmp(par.s[i], "rho")) p->irho = i;
    if (!strcmp(par.s[i], "sigma_e")) p->ise = i;
    if (!strcmp(par.s[i], "lambda[declared]")) p->icov = i;
  }
  if (p->ibeta < 0 || p->irho < 0 || p->ise < 0)
    EMI_FAIL(EMI_ERR_INPUT, "%s: /estimate/parameter lacks beta, rho or sigma_e", file);
  for (int i = 0; i < (int)cov.n; i++)
    if (!strcmp(cov.s[i], "trend")) p->trend_col = i;
  EMI_TRY(read_col(fid, file, p->border ? "/estimate/period" : "/estimate/year", EMI_COL_STR, &per, 1,
                   (hsize_t[]){dx[1]}));
  if (emi_agg_parse_period(per.s[per.n - 1], &p->m_last, &p->plen) != EMI_SUCCESS) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", emi_err_message());
    emi_err_clear();
    EMI_FAIL(EMI_ERR_INPUT, "%s: %s: the last period label '%.100s' is not a period (%s)", file,
             p->border ? "/estimate/period" : "/estimate/year", per.s[per.n - 1], msg);
  }
  if (p->border) {
    EMI_TRY(read_col(fid, file, "/estimate/group", EMI_COL_STR, &ser, 1, (hsize_t[]){dx[0]}));
    p->nout = p->K, p->ndest = p->K;
    EMI_CALLOC(p->outlab, (size_t)p->nout + 1, "labels");
    EMI_CALLOC(p->destlab, (size_t)p->ndest, "labels");
    EMI_MALLOC(p->kout, (size_t)p->K, "series map");
    EMI_MALLOC(p->kdest, (size_t)p->K, "series map");
    for (int k = 0; k < p->K; k++) {
      p->kout[k] = p->kdest[k] = k;
      if (!(p->outlab[k] = strdup(ser.s[k])) || !(p->destlab[k] = strdup(ser.s[k]))) EMI_FAIL(EMI_ERR_NOMEM, "labels");
    }
  } else {
    EMI_TRY(read_col(fid, file, "/estimate/corridor", EMI_COL_STR, &ser, 1, (hsize_t[]){dx[0]}));
    hsize_t dc[1];
    EMI_TRY(dims_of(fid, file, "/estimate/country", 1, dc));
    EMI_TRY(read_col(fid, file, "/estimate/country", EMI_COL_STR, &cty, 1, dc));
    p->nout = (int)cty.n, p->ndest = (int)cty.n;
    EMI_CALLOC(p->outlab, (size_t)p->nout + 1, "labels");
    EMI_CALLOC(p->destlab, (size_t)p->ndest, "labels");
    EMI_MALLOC(p->kout, (size_t)p->K, "series map");
    EMI_MALLOC(p->kdest, (size_t)p->K, "series map");
    for (int i = 0; i < p->nout; i++)
      if (!(p->outlab[i] = strdup(cty.s[i])) || !(p->destlab[i] = strdup(cty.s[i]))) EMI_FAIL(EMI_ERR_NOMEM, "labels");
    for (int k = 0; k < p->K; k++) {
      const char *a = strstr(ser.s[k], "->");
      if (!a) EMI_FAIL(EMI_ERR_INPUT, "%s: corridor label '%s' is not FROM->TO", file, ser.s[k]);
      char from[128];
      snprintf(from, sizeof from, "%.*s", (int)(a - ser.s[k]), ser.s[k]);
      p->kout[k] = find_label(p->outlab, p->nout, from);
      p->kdest[k] = find_label(p->destlab, p->ndest, a + 2);
      if (p->kout[k] < 0 || p->kdest[k] < 0)
        EMI_FAIL(EMI_ERR_INPUT, "%s: corridor %s names a country outside /estimate/country", file, ser.s[k]);
    }
  }
  if (!(p->outlab[p->nout] = strdup("_TOTAL"))) EMI_FAIL(EMI_ERR_NOMEM, "labels");
  {
    int nbeta = 0;
    for (int i = p->ibeta; i < (int)par.n && !strncmp(par.s[i], "beta[", 5); i++) nbeta++;
    if (nbeta != p->P)
      EMI_FAIL(EMI_ERR_INPUT, "%s: /estimate/parameter has %d beta[...] after each other, /estimate/x %d covariates", file,
               nbeta, p->P);
  }
  /* every draw inside the model's support: one error naming the chain and draw, not one per trajectory */
  for (int64_t j = 0; j < (int64_t)p->nch * p->nd; j++) {
    const double *dr = p->draws + (size_t)j * p->np;
    int ch = (int)(j / p->nd), dw = (int)(j % p->nd);
    double rho = dr[p->irho], se = dr[p->ise];
    if (!(fabs(rho) < 1.0))
      EMI_FAIL(EMI_ERR_INPUT, "%s: /posterior/draws chain %d draw %d: rho = %g, expected a value in (-1, 1)", file, ch, dw, rho);
    if (!(se >= 0.0 && isfinite(se)))
      EMI_FAIL(EMI_ERR_INPUT, "%s: /posterior/draws chain %d draw %d: sigma_e = %g, expected a finite value >= 0", file, ch,
               dw, se);
    for (int b = 0; b < p->P; b++)
      if (!isfinite(dr[p->ibeta + b]))
        EMI_FAIL(EMI_ERR_INPUT, "%s: /posterior/draws chain %d draw %d: %s = %g, expected a finite value", file, ch, dw,
                 par.s[p->ibeta + b], dr[p->ibeta + b]);
    if (p->icov >= 0 && !(dr[p->icov] >= 0.0 && dr[p->icov] <= 1.0))
      EMI_FAIL(EMI_ERR_INPUT, "%s: /posterior/draws chain %d draw %d: lambda[declared] = %g, expected a coverage in [0, 1]",
               file, ch, dw, dr[p->icov]);
    for (int k = 0; k < p->K; k++)
      if (!isfinite(p->u[(size_t)j * p->K + k]) || !isfinite(p->elast[(size_t)j * p->K + k]))
        EMI_FAIL(EMI_ERR_INPUT, "%s: /posterior/flows/%s chain %d draw %d, series %s: not finite", file,
                 isfinite(p->u[(size_t)j * p->K + k]) ? "ar_last" : "corridor_effect", ch, dw,
                 p->border ? p->outlab[k] : ser.s[k]);
  }
  for (size_t i = 0; i < (size_t)p->K * p->T * p->P; i++)
    if (!isfinite(p->x[i])) EMI_FAIL(EMI_ERR_INPUT, "%s: /estimate/x holds a non-finite value (element %zu)", file, i);
cleanup:
  emi_column_free(&c), emi_column_free(&par), emi_column_free(&cov), emi_column_free(&ser), emi_column_free(&cty);
  emi_column_free(&per);
  if (fid >= 0) H5Fclose(fid);
  return err;
}

/* The forecast period index of a label (0..H-1), or an error listing the forecast periods. */
static emi_err_t period_index(const char *opt, const char *label, char *const *plab, int H, int *h)
{
  for (int i = 0; i < H; i++)
    if (!strcmp(plab[i], label)) {
      *h = i;
      return EMI_SUCCESS;
    }
  return EMI_ERROR(EMI_ERR_CONFIG, "forecast: %s = '%s' is not a forecast period: the forecast covers %s .. %s", opt, label,
                   plab[0], plab[H - 1]);
}

/* One scenario's multipliers (K*H) and coverages (K*H or NULL per draw: filled per trajectory). */
typedef struct {
  int id;            /* type: SC_* */
  uint32_t stream;   /* the scenario's number in the random streams (seed, stream, trajectory) */
  char name[64];     /* output group /forecast/<name> */
  double *mult;
  int cov_from; /* coverage-change: first period, -1 none */
  int h0, h1;    /* shocks: first and last period */
  double fac;    /* shocks: the multiplier */
  char dest[64]; /* destination-shock: the destination */
  double cov;
} scen_t;

/* A scenario as written: the options (type names as scenario names) or a config section
 * [scenario.NAME].  Text fields are NULL when not given; `where` names the origin for messages. */
typedef struct {
  char name[64];
  int type;
  const char *factor, *from, *to, *destination, *coverage;
  char where[600];
  char key_from[64], key_to[64], key_factor[64], key_dest[64], key_cov[64];
} scen_spec_t;

#define MAX_SCEN 16

typedef struct {
  const char *path;
  scen_spec_t *spec;
  int n;
  char vals[MAX_SCEN][5][256];
  emi_err_t err;
} scen_ini_t;

/* inih handler: [scenario.NAME] sections of the config file (other sections are the options'). */
static int scen_ini_handler(void *user, const char *section, const char *name, const char *value)
{
  scen_ini_t *c = user;
  if (c->err || strncmp(section, "scenario.", 9)) return 1;
  const char *nm = section + 9;
  int i = -1;
  for (int j = 0; j < c->n; j++)
    if (!strcmp(c->spec[j].name, nm)) i = j;
  if (i < 0) {
    size_t len = strlen(nm);
    int ok = len > 0 && len < sizeof c->spec[0].name;
    for (size_t q = 0; ok && q < len; q++)
      ok = (nm[q] >= 'a' && nm[q] <= 'z') || (nm[q] >= 'A' && nm[q] <= 'Z') || (nm[q] >= '0' && nm[q] <= '9') ||
           nm[q] == '-' || nm[q] == '_';
    if (!ok) {
      c->err = EMI_ERROR(EMI_ERR_CONFIG, "%s: [%s]: a scenario name is 1-63 letters, digits, '-' or '_'", c->path, section);
      return 0;
    }
    if (c->n >= MAX_SCEN) {
      c->err = EMI_ERROR(EMI_ERR_CONFIG, "%s: [%s]: at most %d scenarios", c->path, section, MAX_SCEN);
      return 0;
    }
    i = c->n++;
    memset(&c->spec[i], 0, sizeof c->spec[i]);
    snprintf(c->spec[i].name, sizeof c->spec[i].name, "%s", nm);
    c->spec[i].type = -1;
    snprintf(c->spec[i].where, sizeof c->spec[i].where, "%s [%s]", c->path, section);
  }
  scen_spec_t *sp = &c->spec[i];
  static const char *const keys[6] = {"type", "factor", "from", "to", "destination", "coverage"};
  int k = -1;
  for (int q = 0; q < 6; q++)
    if (!strcmp(name, keys[q])) k = q;
  if (k < 0) {
    c->err = EMI_ERROR(EMI_ERR_CONFIG, "%s: [%s] unknown key '%s' = '%s': expected type, factor, from, to, destination, "
                       "coverage", c->path, section, name, value);
    return 0;
  }
  if (k == 0) {
    if (sp->type >= 0) {
      c->err = EMI_ERROR(EMI_ERR_CONFIG, "%s: [%s] type is given twice", c->path, section);
      return 0;
    }
    for (int q = 0; q < NSC; q++)
      if (!strcmp(value, sc_names[q])) sp->type = q;
    if (sp->type < 0) {
      c->err = EMI_ERROR(EMI_ERR_CONFIG, "%s: [%s] type = '%s': expected baseline, mobility-shock, destination-shock or "
                         "coverage-change", c->path, section, value);
      return 0;
    }
    return 1;
  }
  const char **slot[5] = {&sp->factor, &sp->from, &sp->to, &sp->destination, &sp->coverage};
  if (*slot[k - 1]) {
    c->err = EMI_ERROR(EMI_ERR_CONFIG, "%s: [%s] %s is given twice", c->path, section, name);
    return 0;
  }
  snprintf(c->vals[i][k - 1], sizeof c->vals[i][k - 1], "%s", value);
  *slot[k - 1] = c->vals[i][k - 1];
  return 1;
}

/* FNV-1a of a scenario name, kept away from the built-in numbers 0..3. */
static uint32_t scen_stream(const char *name)
{
  uint32_t h = 2166136261u;
  for (const unsigned char *q = (const unsigned char *)name; *q; q++) h = (h ^ *q) * 16777619u;
  return h | 0x80000000u;
}

static emi_err_t spec_real(const char *text, const char *what, const char *where, double lo, double hi, double *v)
{
  if (!emi_parse_real(text, v) || !(*v >= lo && *v <= hi))
    return EMI_ERROR(EMI_ERR_CONFIG, "forecast: %s: %s = '%s': expected a number in [%g, %g]", where, what, text, lo, hi);
  return EMI_SUCCESS;
}

/* Simulate trajectories [k0, k1) of a scenario and hand each one's output-series counts to `visit`. */
typedef struct {
  const fc_post_t *p;
  const scen_t *sc;
  int H, nout1, undecl;
  double *xf;    /* K*H*P forecast covariates */
  uint64_t seed;
  int64_t ntraj;  /* trajectories per scenario */
  int64_t k0, k1; /* this rank's trajectories: whole chunks of the stored-trajectories dataset */
} fc_run_t;

/* The posterior draw (chain-major index into nch x nd) that trajectory k of ntraj continues: the
 * chains take turns (chain k mod nch) and each chain's M = ceil(ntraj / nch) trajectories are spread
 * evenly over its nd draws (draw floor(i nd / M), i = k div nch), cycling when M > nd.  With
 * ntraj = nch nd every draw is used exactly once; with fewer trajectories every chain and the whole
 * length of each chain still contribute (a chain-major k mod (nch nd) would use chain 0 only). */
static int64_t traj_draw(int64_t k, int64_t ntraj, int nch, int nd)
{
  int64_t c = k % nch, i = k / nch, M = (ntraj + nch - 1) / nch;
  int64_t dw = M <= nd ? (i * nd) / M : i % nd;
  return c * nd + dw;
}

static emi_err_t traj_counts(const fc_run_t *r, int64_t k, int64_t *flow, int64_t *und, int64_t *outf, int64_t *outu,
                             double *cover)
{
  const fc_post_t *p = r->p;
  int K = p->K, H = r->H;
  int64_t j = traj_draw(k, r->ntraj, p->nch, p->nd);
  const double *dr = p->draws + (size_t)j * p->np;
  emi_fc_draw_t d = {.K = K, .H = H, .P = p->P, .x = r->xf, .beta = dr + p->ibeta, .u = p->u + (size_t)j * K,
                     .e_last = p->elast + (size_t)j * K, .rho = dr[p->irho], .sig_e = dr[p->ise], .mult = r->sc->mult,
                     .cover = NULL};
  if (r->undecl) {
    for (int kk = 0; kk < K; kk++)
      for (int h = 0; h < H; h++)
        cover[(size_t)kk * H + h] = (r->sc->cov_from >= 0 && h >= r->sc->cov_from) ? r->sc->cov : dr[p->icov];
    d.cover = cover;
  }
  EMI_CALL(emi_fc_trajectory(&d, r->seed, r->sc->stream, (uint64_t)k, flow, r->undecl ? und : NULL));
  memset(outf, 0, (size_t)r->nout1 * H * sizeof *outf);
  if (r->undecl) memset(outu, 0, (size_t)r->nout1 * H * sizeof *outu);
  int tot = r->nout1 - 1;
  for (int kk = 0; kk < K; kk++)
    for (int h = 0; h < H; h++) {
      size_t i = (size_t)kk * H + h;
      outf[(size_t)p->kout[kk] * H + h] += flow[i];
      outf[(size_t)tot * H + h] += flow[i];
      if (r->undecl) {
        outu[(size_t)p->kout[kk] * H + h] += und[i];
        outu[(size_t)tot * H + h] += und[i];
      }
    }
  return EMI_SUCCESS;
}

/* Summaries of one scenario: stats[cell * (NQ + 1) + s], exceed[thr * ncell + cell]; cells = the
 * flow cells then (when undecl) the undeclared cells, each nout1 x H. */
__extension__ typedef __int128 i128_t;

static void sum_i128(void *in, void *inout, int *len, MPI_Datatype *dt)
{
  (void)dt;
  const i128_t *a = in;
  i128_t *b = inout;
  for (int i = 0; i < *len; i++) b[i] += a[i];
}

static emi_err_t run_scenario(emi_ctx_t *ctx, const fc_run_t *r, int64_t N, int nthr, int nthresholds, const double *thr,
                              double *stats, double *exceed, int64_t *store)
{
  emi_err_t err = EMI_SUCCESS;
  const fc_post_t *p = r->p;
  int H = r->H, ntarget = 2 * NQ;
  size_t half = (size_t)r->nout1 * H, ncell = half * (r->undecl ? 2 : 1);
  int64_t k0 = r->k0, k1 = r->k1;
  int64_t *mn = NULL, *mx = NULL, *ex = NULL, *hist = NULL, *rlo = NULL, *rwd = NULL, *own = NULL;
  i128_t *sm = NULL;
  MPI_Datatype t128 = MPI_DATATYPE_NULL;
  MPI_Op op128 = MPI_OP_NULL;
  int *slot = NULL, *nr = NULL;
  emi_qsel_t *tg = NULL;
  /* the counts of pass 0 stay in memory for the selection passes when they fit (the stored-trajectories
   * buffer, or one of at most EMI_FC_KEEP_BYTES); otherwise each pass simulates the trajectories again */
  int64_t *keep = store;
  if (!keep && (size_t)(k1 - k0) * ncell * sizeof *keep <= EMI_FC_KEEP_BYTES)
    keep = own = malloc((size_t)(k1 - k0) * ncell * sizeof *keep + 1);
  EMI_MALLOC(mn, ncell, "minima");
  EMI_MALLOC(mx, ncell, "maxima");
  EMI_CALLOC(sm, ncell, "sums");
  EMI_CALLOC(ex, ncell * (size_t)(nthresholds > 0 ? nthresholds : 1), "exceedances");
  for (size_t i = 0; i < ncell; i++) mn[i] = INT64_MAX, mx[i] = INT64_MIN;
  /* pass 0: minima, maxima, sums, exceedances (integers: exact in any order) */
  {
    int fail = 0;
    char msg[512] = "";
    emi_progress_t prog; /* rank 0's trajectories; thread 0's static share stands for the others' */
    char what[160];
    snprintf(what, sizeof what, "forecast: %.120s", r->sc->name);
    emi_progress_begin(&prog, what, (double)(k1 - k0), "trajectories");
#pragma omp parallel num_threads(nthr)
    {
      const int th0 = omp_get_thread_num() == 0, nth = omp_get_num_threads();
      int64_t *flow = malloc(sizeof *flow * (size_t)p->K * H), *und = malloc(sizeof *und * (size_t)p->K * H);
      int64_t *out = malloc(sizeof *out * ncell), *lmn = malloc(sizeof *lmn * ncell), *lmx = malloc(sizeof *lmx * ncell);
      i128_t *lsm = calloc(ncell, sizeof *lsm);
      int64_t *lex = calloc(ncell * (size_t)(nthresholds > 0 ? nthresholds : 1), sizeof *lex);
      double *cover = malloc(sizeof *cover * (size_t)p->K * H);
      int ok = flow && und && out && lmn && lmx && lsm && lex && cover, lfail = 0;
      if (ok)
        for (size_t i = 0; i < ncell; i++) lmn[i] = INT64_MAX, lmx[i] = INT64_MIN;
#pragma omp for schedule(static)
      for (int64_t k = k0; k < k1; k++) {
        if (!ok || lfail) continue; /* a failing thread stops; the others finish their share */
        if (th0 && ((k - k0) & 31) == 0) emi_progress_update(&prog, (double)(k - k0) * nth);
        if (traj_counts(r, k, flow, und, out, out + half, cover) != EMI_SUCCESS) {
          lfail = 1;
          const char *m = emi_err_message();
#pragma omp critical(fc_fail)
          if (!fail) fail = 1, snprintf(msg, sizeof msg, "trajectory %lld: %s", (long long)k, m + (strncmp(m, "forecast: ", 10) ? 0 : 10));
          emi_err_clear();
          continue;
        }
        if (keep) memcpy(keep + (size_t)(k - k0) * ncell, out, ncell * sizeof *out);
        for (size_t i = 0; i < ncell; i++) {
          int64_t v = out[i];
          lmn[i] = v < lmn[i] ? v : lmn[i], lmx[i] = v > lmx[i] ? v : lmx[i], lsm[i] += v;
          for (int t = 0; t < nthresholds; t++) lex[(size_t)t * ncell + i] += (double)v > thr[t];
        }
      }
      if (!ok) {
#pragma omp critical(fc_fail)
        fail = 1, snprintf(msg, sizeof msg, "cannot allocate a trajectory's buffers");
      }
#pragma omp critical(fc_merge)
      if (ok)
        for (size_t i = 0; i < ncell; i++) {
          mn[i] = lmn[i] < mn[i] ? lmn[i] : mn[i], mx[i] = lmx[i] > mx[i] ? lmx[i] : mx[i], sm[i] += lsm[i];
          for (int t = 0; t < nthresholds; t++) ex[(size_t)t * ncell + i] += lex[(size_t)t * ncell + i];
        }
      free(flow), free(und), free(out), free(lmn), free(lmx), free(lsm), free(lex), free(cover);
    }
    emi_progress_end(&prog, (double)(k1 - k0));
    emi_err_t e = fail ? EMI_ERROR(EMI_ERR_INPUT, "forecast: scenario %s: %s", r->sc->name, msg) : EMI_SUCCESS;
    EMI_TRY(emi_mpi_agree(ctx->comm, e, NULL));
  }
  MPI_Allreduce(MPI_IN_PLACE, mn, (int)ncell, MPI_INT64_T, MPI_MIN, ctx->comm);
  MPI_Allreduce(MPI_IN_PLACE, mx, (int)ncell, MPI_INT64_T, MPI_MAX, ctx->comm);
  /* sums over up to 1e9 trajectories of counts up to 1e15 exceed 64 bits: 128-bit integers, summed
   * exactly over ranks by a user operation */
  MPI_Type_contiguous((int)sizeof(i128_t), MPI_BYTE, &t128);
  MPI_Type_commit(&t128);
  MPI_Op_create(sum_i128, 1, &op128);
  MPI_Allreduce(MPI_IN_PLACE, sm, (int)ncell, t128, op128, ctx->comm);
  if (nthresholds > 0)
    MPI_Allreduce(MPI_IN_PLACE, ex, (int)(ncell * (size_t)nthresholds), MPI_INT64_T, MPI_SUM, ctx->comm);
  /* targets: order statistics j, j + 1 of every quantile of every cell */
  EMI_MALLOC(tg, ncell * (size_t)ntarget, "quantile targets");
  for (size_t i = 0; i < ncell; i++)
    for (int q = 0; q < NQ; q++) {
      int64_t j, j1;
      emi_qsel_ranks(N, qlev[q], &j, &j1);
      EMI_TRY(emi_qsel_init(&tg[i * ntarget + 2 * q], j, N, mn[i], mx[i]));
      EMI_TRY(emi_qsel_init(&tg[i * ntarget + 2 * q + 1], j1, N, mn[i], mx[i]));
    }
  EMI_MALLOC(hist, ncell * (size_t)ntarget * EMI_QSEL_BINS, "histograms");
  EMI_MALLOC(slot, ncell * (size_t)ntarget, "histogram slots");
  EMI_MALLOC(rlo, ncell * (size_t)ntarget, "histogram ranges");
  EMI_MALLOC(rwd, ncell * (size_t)ntarget, "histogram ranges");
  EMI_MALLOC(nr, ncell, "histogram ranges");
  for (int level = 0; level < 12; level++) {
    int pending = 0;
    for (size_t i = 0; i < ncell * (size_t)ntarget; i++) pending += !tg[i].done;
    if (!pending) break;
    /* the targets of a cell that share a range share one histogram (at the first level all do) */
    for (size_t i = 0; i < ncell; i++) {
      int n = 0;
      for (int t = 0; t < ntarget; t++) {
        const emi_qsel_t *q = &tg[i * ntarget + t];
        int sl = -1;
        if (!q->done) {
          for (int j = 0; j < n && sl < 0; j++)
            if (rlo[i * ntarget + j] == q->lo && rwd[i * ntarget + j] == q->width) sl = j;
          if (sl < 0) sl = n, rlo[i * ntarget + n] = q->lo, rwd[i * ntarget + n] = q->width, n++;
          /* rwd holds the width until the slots are built, then its shift (below) */
        }
        slot[i * ntarget + t] = sl;
      }
      nr[i] = n;
      for (int j = 0; j < n; j++) {
        int sh = 0;
        while (((int64_t)1 << sh) < rwd[i * ntarget + j]) sh++;
        rwd[i * ntarget + j] = sh;
      }
    }
    memset(hist, 0, ncell * (size_t)ntarget * EMI_QSEL_BINS * sizeof *hist);
    int fail = 0;
#pragma omp parallel num_threads(nthr)
    {
      int64_t *flow = malloc(sizeof *flow * (size_t)p->K * H), *und = malloc(sizeof *und * (size_t)p->K * H);
      int64_t *outb = malloc(sizeof *outb * ncell);
      int64_t *lh = calloc(ncell * (size_t)ntarget * EMI_QSEL_BINS, sizeof *lh);
      double *cover = malloc(sizeof *cover * (size_t)p->K * H);
      int ok = flow && und && outb && lh && cover, lfail = 0;
#pragma omp for schedule(static)
      for (int64_t k = k0; k < k1; k++) {
        if (!ok || lfail) continue;
        const int64_t *out = outb;
        if (keep) out = keep + (size_t)(k - k0) * ncell; /* pass 0's counts, kept in memory */
        else if (traj_counts(r, k, flow, und, outb, outb + half, cover) != EMI_SUCCESS) {
          lfail = 1; /* pass 0 succeeded on the same trajectories: cannot happen */
          emi_err_clear();
          continue;
        }
        for (size_t i = 0; i < ncell; i++) {
          int64_t v = out[i];
          for (int j = 0; j < nr[i]; j++) {
            int64_t lo = rlo[i * ntarget + j];
            if (v < lo) continue;
            uint64_t b = (uint64_t)(v - lo) >> rwd[i * ntarget + j]; /* widths are powers of two */
            if (b < EMI_QSEL_BINS) lh[(i * ntarget + j) * EMI_QSEL_BINS + b]++;
          }
        }
      }
#pragma omp critical(fc_hist)
      {
        if (!ok || lfail) fail = 1;
        if (ok)
        for (size_t i = 0; i < ncell; i++)
          for (int j = 0; j < nr[i]; j++) {
            int64_t *dst = hist + (i * ntarget + j) * EMI_QSEL_BINS, *src = lh + (i * ntarget + j) * EMI_QSEL_BINS;
            for (int b = 0; b < EMI_QSEL_BINS; b++) dst[b] += src[b];
          }
      }
      free(flow), free(und), free(outb), free(lh), free(cover);
    }
    emi_err_t e = fail ? EMI_ERROR(EMI_ERR_NOMEM, "forecast: cannot allocate the histograms of a thread") : EMI_SUCCESS;
    EMI_TRY(emi_mpi_agree(ctx->comm, e, NULL));
    MPI_Allreduce(MPI_IN_PLACE, hist, (int)(ncell * (size_t)ntarget * EMI_QSEL_BINS), MPI_INT64_T, MPI_SUM, ctx->comm);
    for (size_t i = 0; i < ncell; i++)
      for (int t = 0; t < ntarget; t++)
        if (slot[i * ntarget + t] >= 0)
          EMI_TRY(emi_qsel_update(&tg[i * ntarget + t], hist + (i * ntarget + (size_t)slot[i * ntarget + t]) * EMI_QSEL_BINS));
  }
  for (size_t i = 0; i < ncell; i++) {
    double *o = stats + i * (NQ + 1);
    o[0] = (double)sm[i] / (double)N;
    for (int q = 0; q < NQ; q++) {
      const emi_qsel_t *a = &tg[i * ntarget + 2 * q], *b = &tg[i * ntarget + 2 * q + 1];
      if (!a->done || !b->done) EMI_FAIL(EMI_ERR_INTERNAL, "forecast: a quantile did not converge");
      o[1 + q] = emi_qsel_type7(N, qlev[q], a->value, b->value);
    }
    for (int t = 0; t < nthresholds; t++) exceed[(size_t)t * ncell + i] = (double)ex[(size_t)t * ncell + i] / (double)N;
  }
cleanup:
  if (op128 != MPI_OP_NULL) MPI_Op_free(&op128);
  if (t128 != MPI_DATATYPE_NULL) MPI_Type_free(&t128);
  free(mn), free(mx), free(sm), free(ex), free(hist), free(tg), free(slot), free(rlo), free(rwd), free(nr), free(own);
  return err;
}

emi_err_t emi_cmd_forecast(emi_ctx_t *ctx)
{
  emi_err_t err = EMI_SUCCESS;
  fc_post_t p = {0};
  const char *post = NULL, *out = NULL;
  int64_t H64 = 0, N = 0, seed64 = 0;
  int nsc = 0, nthr_opt = 0;
  const char *const *scl = NULL, *const *thl = NULL;
  double thr[MAX_THR];
  char **plab = NULL;
  scen_t sc[MAX_SCEN] = {0};
  scen_spec_t specs[MAX_SCEN];
  double *xf = NULL, *stats[MAX_SCEN] = {0}, *exc[MAX_SCEN] = {0};
  int64_t *traj[MAX_SCEN] = {0};
  int store_traj = 0;
  emi_h5_file_t *f = NULL;
  emi_provenance_t *prov = NULL;

  if (!emi_opts_is_set(ctx->opts, "posterior")) EMI_FAIL(EMI_ERR_USAGE, "forecast: give --posterior EST.h5 (emflow estimate's output)");
  EMI_TRY(emi_opts_get_str(ctx->opts, "posterior", &post));
  EMI_TRY(emi_opts_get_str(ctx->opts, "output", &out));
  if (!out) EMI_FAIL(EMI_ERR_USAGE, "forecast: give -o OUT.h5");
  EMI_TRY(emi_opts_get_int(ctx->opts, "horizon", &H64));
  EMI_TRY(emi_opts_get_int(ctx->opts, "trajectories", &N));
  EMI_TRY(emi_opts_get_int(ctx->opts, "seed", &seed64));
  EMI_TRY(emi_opts_get_list(ctx->opts, "scenarios", &nsc, &scl));
  EMI_TRY(emi_opts_get_list(ctx->opts, "thresholds", &nthr_opt, &thl));
  EMI_TRY(emi_opts_get_flag(ctx->opts, "store-trajectories", &store_traj));
  if (nsc < 1) EMI_FAIL(EMI_ERR_CONFIG, "forecast: scenarios is empty: name at least one (baseline, mobility-shock, ...)");
  if (nthr_opt > MAX_THR) EMI_FAIL(EMI_ERR_CONFIG, "forecast: at most %d thresholds", MAX_THR);
  for (int t = 0; t < nthr_opt; t++)
    if (!emi_parse_real(thl[t], &thr[t]) || !(thr[t] >= 0) || !isfinite(thr[t]))
      EMI_FAIL(EMI_ERR_CONFIG, "forecast: thresholds: '%s': expected a number of persons >= 0", thl[t]);
  {
    const char *outs[1] = {out}, *ins[1] = {post};
    EMI_TRY(emi_output_check_paths(ctx, outs, 1, ins, 1));
  }
  int H = (int)H64;
  EMI_TRY(emi_mpi_agree(ctx->comm, load_posterior(post, &p), NULL));
  /* forecast period labels */
  EMI_CALLOC(plab, (size_t)H, "period labels");
  for (int h = 0; h < H; h++) {
    EMI_MALLOC(plab[h], 48, "period label");
    emi_agg_period_label(p.m_last + (h + 1) * p.plen, p.plen, plab[h], 48);
  }
  /* covariates of the forecast periods: the trend continues, the others stay at their last value */
  EMI_MALLOC(xf, (size_t)p.K * H * p.P, "forecast covariates");
  for (int k = 0; k < p.K; k++)
    for (int h = 0; h < H; h++)
      for (int c = 0; c < p.P; c++) {
        const double *xl = p.x + ((size_t)k * p.T + p.T - 1) * p.P;
        double v = xl[c];
        if (c == p.trend_col && p.T > 1) v += (h + 1) * (xl[c] - p.x[((size_t)k * p.T + p.T - 2) * p.P + c]);
        xf[((size_t)k * H + h) * p.P + c] = v;
      }
  /* scenarios: the [scenario.NAME] sections of the config file, or the built-in ones named by
   * --scenarios (their parameters from the options) */
  int undecl = p.border && p.icov >= 0;
  scen_ini_t ini = {.path = ctx->config_path, .spec = specs};
  if (ctx->config_path) {
    int rc = ini_parse(ctx->config_path, scen_ini_handler, &ini);
    if (ini.err) {
      char m[1024];
      snprintf(m, sizeof m, "%s", emi_err_message());
      emi_err_clear();
      EMI_FAIL(ini.err, "%s", m);
    }
    if (rc != 0) EMI_FAIL(EMI_ERR_CONFIG, "%s: cannot read the scenario sections (line %d)", ctx->config_path, rc);
  }
  int from_file = ini.n > 0;
  if (from_file && emi_opts_given(ctx->opts, "scenarios")) {
    /* --scenarios picks among the file's scenarios */
    int keep[MAX_SCEN] = {0}, m = 0;
    for (int q = 0; q < nsc; q++) {
      int fi = -1;
      for (int j2 = 0; j2 < ini.n; j2++)
        if (!strcmp(specs[j2].name, scl[q])) fi = j2;
      if (fi < 0) EMI_FAIL(EMI_ERR_CONFIG, "forecast: scenarios: '%s' is not a [scenario.%s] section of %s", scl[q], scl[q],
                          ctx->config_path);
      keep[fi] = 1;
    }
    for (int j2 = 0; j2 < ini.n; j2++)
      if (keep[j2]) specs[m++] = specs[j2];
    ini.n = m;
  }
  if (from_file) {
    nsc = ini.n;
    for (int q = 0; q < nsc; q++) {
      if (specs[q].type < 0) EMI_FAIL(EMI_ERR_CONFIG, "forecast: %s: no type (baseline, mobility-shock, destination-shock "
                                      "or coverage-change)", specs[q].where);
      snprintf(specs[q].key_from, sizeof specs[q].key_from, "from");
      snprintf(specs[q].key_to, sizeof specs[q].key_to, "to");
      snprintf(specs[q].key_factor, sizeof specs[q].key_factor, "factor");
      snprintf(specs[q].key_dest, sizeof specs[q].key_dest, "destination");
      snprintf(specs[q].key_cov, sizeof specs[q].key_cov, "coverage");
    }
  } else {
    if (nsc > NSC) EMI_FAIL(EMI_ERR_CONFIG, "forecast: scenarios: at most %d built-in scenarios", NSC);
    for (int q = 0; q < nsc; q++) {
      scen_spec_t *sp = &specs[q];
      memset(sp, 0, sizeof *sp);
      sp->type = -1;
      for (int i2 = 0; i2 < NSC; i2++)
        if (!strcmp(scl[q], sc_names[i2])) sp->type = i2;
      if (sp->type < 0)
        EMI_FAIL(EMI_ERR_CONFIG, "forecast: scenarios: '%s': expected baseline, mobility-shock, destination-shock or "
                 "coverage-change (or define [scenario.%s] in the config file)", scl[q], scl[q]);
      snprintf(sp->name, sizeof sp->name, "%s", scl[q]);
      snprintf(sp->where, sizeof sp->where, "options");
      int t = sp->type;
      snprintf(sp->key_from, sizeof sp->key_from, "%s", t == SC_MOBILITY ? "shock-from" : t == SC_DESTINATION ? "destination-from" : "coverage-from");
      snprintf(sp->key_to, sizeof sp->key_to, "%s", t == SC_MOBILITY ? "shock-to" : "destination-to");
      snprintf(sp->key_factor, sizeof sp->key_factor, "%s", t == SC_MOBILITY ? "shock-factor" : "destination-factor");
      snprintf(sp->key_dest, sizeof sp->key_dest, "destination");
      snprintf(sp->key_cov, sizeof sp->key_cov, "coverage");
      if ((t == SC_MOBILITY || t == SC_DESTINATION || t == SC_COVERAGE) && emi_opts_is_set(ctx->opts, sp->key_from))
        EMI_TRY(emi_opts_get_str(ctx->opts, sp->key_from, &sp->from));
      if ((t == SC_MOBILITY || t == SC_DESTINATION) && emi_opts_is_set(ctx->opts, sp->key_to))
        EMI_TRY(emi_opts_get_str(ctx->opts, sp->key_to, &sp->to));
      if (t == SC_MOBILITY || t == SC_DESTINATION) EMI_TRY(emi_opts_get_str(ctx->opts, sp->key_factor, &sp->factor));
      if (t == SC_DESTINATION && emi_opts_is_set(ctx->opts, "destination"))
        EMI_TRY(emi_opts_get_str(ctx->opts, "destination", &sp->destination));
      if (t == SC_COVERAGE) EMI_TRY(emi_opts_get_str(ctx->opts, "coverage", &sp->coverage));
    }
  }
  for (int s = 0; s < nsc; s++) {
    const scen_spec_t *sp = &specs[s];
    int id = sp->type;
    for (int s2 = 0; s2 < s; s2++)
      if (!strcmp(sc[s2].name, sp->name)) EMI_FAIL(EMI_ERR_CONFIG, "forecast: scenarios: '%s' is listed twice", sp->name);
    sc[s].id = id, sc[s].cov_from = -1;
    memcpy(sc[s].name, sp->name, sizeof sc[s].name);
    sc[s].name[sizeof sc[s].name - 1] = '\0';
    sc[s].stream = from_file ? scen_stream(sp->name) : (uint32_t)id;
    for (int s2 = 0; s2 < s; s2++)
      if (sc[s2].stream == sc[s].stream)
        EMI_FAIL(EMI_ERR_CONFIG, "forecast: scenarios '%s' and '%s' share a random-stream number: rename one", sc[s2].name,
                 sc[s].name);
    if (from_file) {
      /* keys that the type does not use would be ignored: refuse them */
      int uses_ft = id == SC_MOBILITY || id == SC_DESTINATION, uses_cov = id == SC_COVERAGE;
      const char *unused = sp->factor && !uses_ft ? "factor" : sp->to && !uses_ft ? "to"
                           : sp->destination && id != SC_DESTINATION ? "destination" : sp->coverage && !uses_cov ? "coverage"
                           : sp->from && id == SC_BASELINE ? "from" : NULL;
      if (unused)
        EMI_FAIL(EMI_ERR_CONFIG, "forecast: %s: key '%s' is not used by type %s (baseline: none; mobility-shock: factor, "
                 "from, to; destination-shock: factor, from, to, destination; coverage-change: coverage, from)", sp->where,
                 unused, sc_names[id]);
    }
    EMI_MALLOC(sc[s].mult, (size_t)p.K * H, "multipliers");
    for (size_t i = 0; i < (size_t)p.K * H; i++) sc[s].mult[i] = 1.0;
    if (id == SC_MOBILITY || id == SC_DESTINATION) {
      int h0 = 0, h1 = id == SC_MOBILITY ? 0 : H - 1;
      char w1[700], w2[700];
      snprintf(w1, sizeof w1, "%s %s", sp->where, sp->key_from);
      snprintf(w2, sizeof w2, "%s %s", sp->where, sp->key_to);
      if (sp->from) EMI_TRY(period_index(w1, sp->from, plab, H, &h0));
      if (id == SC_MOBILITY) h1 = h0;
      if (sp->to) EMI_TRY(period_index(w2, sp->to, plab, H, &h1));
      if (h1 < h0)
        EMI_FAIL(EMI_ERR_CONFIG, "forecast: %s: %s %s is after %s %s: the range is inverted", sp->where, sp->key_from,
                 plab[h0], sp->key_to, plab[h1]);
      double fac = id == SC_MOBILITY ? 0.3 : 1.5;
      int dest = -1;
      if (sp->factor) EMI_TRY(spec_real(sp->factor, sp->key_factor, sp->where, 0, 100, &fac));
      if (id == SC_DESTINATION) {
        if (!sp->destination)
          EMI_FAIL(EMI_ERR_CONFIG, "forecast: destination-shock needs destination = CODE (one of the %s of %s; %s)",
                   p.border ? "groups" : "countries", post, sp->where);
        if ((dest = find_label(p.destlab, p.ndest, sp->destination)) < 0)
          EMI_FAIL(EMI_ERR_CONFIG, "forecast: destination = '%s' is not a %s of %s (first: %s; %s)", sp->destination,
                   p.border ? "group" : "country", post, p.destlab[0], sp->where);
      }
      for (int k = 0; k < p.K; k++)
        if (dest < 0 || p.kdest[k] == dest)
          for (int h = h0; h <= h1; h++) sc[s].mult[(size_t)k * H + h] = fac;
      sc[s].h0 = h0, sc[s].h1 = h1, sc[s].fac = fac;
      if (dest >= 0) snprintf(sc[s].dest, sizeof sc[s].dest, "%.63s", p.destlab[dest]);
    }
    if (id == SC_COVERAGE) {
      if (!undecl)
        EMI_FAIL(EMI_ERR_CONFIG, "forecast: coverage-change needs a border-model posterior fitted with declared "
                 "emigration (%s has no declaration coverage)", post);
      char w1[700];
      snprintf(w1, sizeof w1, "%s %s", sp->where, sp->key_from);
      sc[s].cov_from = 0;
      if (sp->from) EMI_TRY(period_index(w1, sp->from, plab, H, &sc[s].cov_from));
      sc[s].cov = 0.8;
      if (sp->coverage) EMI_TRY(spec_real(sp->coverage, sp->key_cov, sp->where, 0, 1, &sc[s].cov));
    }
  }
  {
    /* an option of a scenario that does not run would be ignored: refuse it */
    static const struct { const char *opt; int sc; const char *key; } own[] = {
      {"shock-factor", SC_MOBILITY, "factor"}, {"shock-from", SC_MOBILITY, "from"}, {"shock-to", SC_MOBILITY, "to"},
      {"destination", SC_DESTINATION, "destination"}, {"destination-factor", SC_DESTINATION, "factor"},
      {"destination-from", SC_DESTINATION, "from"}, {"destination-to", SC_DESTINATION, "to"},
      {"coverage", SC_COVERAGE, "coverage"}, {"coverage-from", SC_COVERAGE, "from"}};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
      int runs = 0;
      for (int s2 = 0; s2 < nsc; s2++) runs |= !from_file && sc[s2].id == own[i].sc;
      if (from_file && emi_opts_given(ctx->opts, own[i].opt))
        EMI_FAIL(EMI_ERR_USAGE, "forecast: --%s: the scenarios come from the [scenario.NAME] sections of %s: set '%s' in "
                 "the sections of type %s", own[i].opt, ctx->config_path, own[i].key, sc_names[own[i].sc]);
      if (!runs && emi_opts_given(ctx->opts, own[i].opt))
        EMI_FAIL(EMI_ERR_USAGE, "forecast: --%s belongs to the scenario %s, which is not among the scenarios run (add "
                 "--scenarios %s)", own[i].opt, sc_names[own[i].sc], sc_names[own[i].sc]);
    }
  }
  emi_log_info("forecast: %s posterior (%d series, %d chains x %d draws), %d periods %s..%s, %lld trajectories x %d "
               "scenario(s)", p.border ? "border-model" : "double-entry", p.K, p.nch, p.nd, H, plab[0], plab[H - 1],
               (long long)N, nsc);
  int nthr = omp_get_max_threads();
  fc_run_t run = {.p = &p, .H = H, .nout1 = p.nout + 1, .undecl = undecl, .xf = xf, .seed = (uint64_t)seed64,
                .ntraj = (int64_t)N};
  size_t half = (size_t)(p.nout + 1) * H, ncell = half * (undecl ? 2 : 1);
  {
    /* trajectories split across ranks in whole chunks of the [trajectory x series x period] dataset,
     * so that with --store-trajectories each rank writes chunks no other rank touches */
    uint64_t dims[3] = {(uint64_t)N, (uint64_t)p.nout + 1, (uint64_t)H}, cr = 1, r0 = 0, nr = 0;
    EMI_TRY(emi_h5_chunk_rows(EMI_H5_INT64, 3, dims, &cr));
    EMI_TRY(emi_h5_partition((uint64_t)N, cr, ctx->comm, &r0, &nr));
    run.k0 = (int64_t)r0, run.k1 = (int64_t)(r0 + nr);
  }
  for (int s = 0; s < nsc; s++) {
    EMI_MALLOC(stats[s], ncell * (NQ + 1), "summaries");
    EMI_CALLOC(exc[s], ncell * (size_t)(nthr_opt > 0 ? nthr_opt : 1), "exceedances");
    run.sc = &sc[s];
    double t0 = emi_log_elapsed();
    if (store_traj) EMI_MALLOC(traj[s], (size_t)(run.k1 - run.k0) * ncell + 1, "stored trajectories");
    EMI_TRY(run_scenario(ctx, &run, N, nthr, nthr_opt, thr, stats[s], exc[s], traj[s]));
    double dt = emi_log_elapsed() - t0;
    emi_log_info("forecast: %s: %lld trajectories in %.2f s (%.0f trajectories/s, exact quantiles)", sc[s].name,
                 (long long)N, dt, dt > 0 ? (double)N / dt : 0.0);
  }
  /* output */
  EMI_TRY(emi_output_begin(ctx, out, &f, &prov));
  EMI_TRY(emi_provenance_add_input(prov, post));
  EMI_TRY(emi_provenance_set_rng(prov, "philox4x32-10", (uint64_t)seed64));
  EMI_TRY(emi_h5_group_ensure(f, "/forecast"));
  EMI_TRY(emi_h5_attr_int(f, "/forecast", "trajectories", N));
  EMI_TRY(emi_h5_attr_int(f, "/forecast", "horizon", H));
  EMI_TRY(emi_h5_attr_int(f, "/forecast", "posterior_chains", p.nch));
  EMI_TRY(emi_h5_attr_int(f, "/forecast", "posterior_draws", p.nd));
  EMI_TRY(emi_h5_attr_str(f, "/forecast", "model", p.border ? "border" : "double-entry"));
  /* The coordinates, in /forecast (shared by the scenarios, for readers of the whole file) and a
   * copy in each scenario's group, which its arrays attach (xarray labels a group's arrays from that
   * group's coordinates only). */
  int r0 = ctx->rank == 0;
  for (int s = -1; s < nsc; s++) {
    char G[128];
    snprintf(G, sizeof G, "/forecast%s%s", s < 0 ? "" : "/", s < 0 ? "" : sc[s].name);
    EMI_TRY(emi_h5_write_scale_str(f, G, "series", (uint64_t)p.nout + 1, (const char *const *)p.outlab, "",
                                   p.border ? "group (citizenship), and the total" : "country of origin (emigration to "
                                   "the fitted countries), and the total"));
    EMI_TRY(emi_h5_write_scale_str(f, G, "period", (uint64_t)H, (const char *const *)plab, "", "forecast period"));
    EMI_TRY(emi_h5_write_scale_str(f, G, "stat", NQ + 1, fstat_names, "", "mean and exact quantiles (type 7)"));
    if (nthr_opt > 0) EMI_TRY(emi_h5_write_scale_double(f, G, "threshold", (uint64_t)nthr_opt, thr, "persons",
                                                        "threshold of the exceedance probabilities"));
    if (store_traj && s >= 0) { /* the rows of the stored trajectories: the counter of their random streams */
      int64_t *ix = NULL;
      EMI_MALLOC(ix, (size_t)N, "trajectory index");
      for (int64_t k = 0; k < N; k++) ix[k] = k;
      err = emi_h5_write_scale_int(f, G, "trajectory", (uint64_t)N, ix, "1",
                                   "trajectory (its random streams are keyed by seed, scenario and this index)");
      free(ix);
      if (err) goto cleanup;
    }
  }
  for (int s = 0; s < nsc; s++) {
    char g[128], ds[192], s_ser[160], s_per[160], s_st[160], s_thr[160], s_tr[160];
    snprintf(g, sizeof g, "/forecast/%s", sc[s].name);
    snprintf(s_ser, sizeof s_ser, "%s/series", g), snprintf(s_per, sizeof s_per, "%s/period", g);
    snprintf(s_st, sizeof s_st, "%s/stat", g), snprintf(s_thr, sizeof s_thr, "%s/threshold", g);
    snprintf(s_tr, sizeof s_tr, "%s/trajectory", g);
    EMI_TRY(emi_h5_group_ensure(f, g));
    uint64_t d3[3] = {(uint64_t)p.nout + 1, (uint64_t)H, NQ + 1};
    const char *s3[3] = {s_ser, s_per, s_st};
    for (int part = 0; part < (undecl ? 2 : 1); part++) {
      snprintf(ds, sizeof ds, "%s/%s", g, part ? "undeclared" : "flows");
      EMI_TRY(emi_h5_write_array(f, ds, EMI_H5_DOUBLE, 3, d3, s3, 0, r0 ? d3[0] : 0, stats[s] + part * half * (NQ + 1),
                                 "persons", part ? "undeclared emigration (the count minus its declared part): mean and "
                                 "quantiles over the trajectories" : "emigration counts (12-month definition): mean and "
                                 "quantiles over the trajectories"));
      if (nthr_opt > 0) {
        double *eb = NULL;
        EMI_MALLOC(eb, (size_t)nthr_opt * half, "exceedances");
        for (int t = 0; t < nthr_opt; t++) memcpy(eb + (size_t)t * half, exc[s] + (size_t)t * ncell + part * half, half * sizeof *eb);
        uint64_t d3e[3] = {(uint64_t)nthr_opt, (uint64_t)p.nout + 1, (uint64_t)H};
        const char *s3e[3] = {s_thr, s_ser, s_per};
        snprintf(ds, sizeof ds, "%s/%s_exceed", g, part ? "undeclared" : "flows");
        err = emi_h5_write_array(f, ds, EMI_H5_DOUBLE, 3, d3e, s3e, 0, r0 ? d3e[0] : 0, eb, "1",
                                 "probability that the count exceeds the threshold");
        free(eb);
        if (err) goto cleanup;
      }
    }
    if (store_traj) {
      /* rows = trajectories; each rank writes its own whole chunks [run.k0, run.k1) */
      int64_t k0 = run.k0, k1 = run.k1;
      uint64_t d3t[3] = {(uint64_t)N, (uint64_t)p.nout + 1, (uint64_t)H};
      const char *s3t[3] = {s_tr, s_ser, s_per};
      for (int part = 0; part < (undecl ? 2 : 1); part++) {
        int64_t *tb = NULL;
        EMI_MALLOC(tb, (size_t)(k1 - k0) * half + 1, "trajectory rows");
        for (int64_t k = 0; k < k1 - k0; k++) memcpy(tb + (size_t)k * half, traj[s] + (size_t)k * ncell + part * half, half * sizeof *tb);
        snprintf(ds, sizeof ds, "%s/%s_trajectories", g, part ? "undeclared" : "flows");
        err = emi_h5_write_array(f, ds, EMI_H5_INT64, 3, d3t, s3t, (uint64_t)k0, (uint64_t)(k1 - k0), tb, "persons",
                                 part ? "undeclared emigration of every trajectory" : "emigration counts of every trajectory");
        free(tb);
        if (err) goto cleanup;
      }
      /* which posterior draw each trajectory continues (traj_draw), for a reader who follows one back */
      for (int part = 0; part < 2; part++) {
        int64_t *cb = NULL;
        EMI_MALLOC(cb, (size_t)(k1 - k0) + 1, "trajectory draws");
        for (int64_t k = k0; k < k1; k++) {
          int64_t j = traj_draw(k, N, p.nch, p.nd);
          cb[k - k0] = part ? j % p.nd : j / p.nd;
        }
        uint64_t d1 = (uint64_t)N;
        const char *s1[1] = {s_tr};
        snprintf(ds, sizeof ds, "%s/trajectory_%s", g, part ? "draw" : "chain");
        err = emi_h5_write_array(f, ds, EMI_H5_INT64, 1, &d1, s1, (uint64_t)k0, (uint64_t)(k1 - k0), cb, "1",
                                 part ? "the posterior draw (within its chain, 0-based) the trajectory continues"
                                      : "the chain (0-based) of the posterior draw the trajectory continues");
        free(cb);
        if (err) goto cleanup;
      }
    }
    char desc[512] = "baseline: the model's dynamics";
    if (sc[s].id == SC_MOBILITY)
      snprintf(desc, sizeof desc, "mobility-shock: every flow x %g from %s to %s", sc[s].fac, plab[sc[s].h0], plab[sc[s].h1]);
    if (sc[s].id == SC_DESTINATION)
      snprintf(desc, sizeof desc, "destination-shock: the flows into %s x %g from %s to %s", sc[s].dest, sc[s].fac,
               plab[sc[s].h0], plab[sc[s].h1]);
    if (sc[s].id == SC_COVERAGE)
      snprintf(desc, sizeof desc, "coverage-change: declaration coverage %g from %s", sc[s].cov, plab[sc[s].cov_from]);
    EMI_TRY(emi_h5_attr_str(f, g, "scenario", desc));
  }
  EMI_TRY(emi_output_finish(ctx, &f, prov));
  emi_log_info("forecast: wrote %s", out);
cleanup:
  emi_h5_file_abort(&f);
  emi_provenance_destroy(&prov);
  for (int h = 0; plab && h < H64; h++) free(plab[h]);
  free(plab), free(xf);
  for (int s = 0; s < MAX_SCEN; s++) free(sc[s].mult), free(stats[s]), free(exc[s]), free(traj[s]);
  post_free(&p);
  return err;
}
