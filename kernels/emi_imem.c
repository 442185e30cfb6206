/* emi_imem.c: the IMEM-style measurement model and its blocked Gibbs sampler (see emi_imem.h). */
#include "emi_imem.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include "emi_dist.h"
#include "emi_philox.h"

/* Stream purposes (emi_philox.h): one per kind of draw; entity = chain << 40 | index. */
enum {
  P_INIT = 0x0200,
  P_ETA = 0x0201,
  P_THETA = 0x0202,
  P_UE = 0x0203,
  P_HYPER = 0x0204,
};
#define EMI_IMEM_THETA_SWEEPS 10 /* coordinate sweeps of step 2 per iteration */
#define ENTITY(chain, idx) (((uint64_t)(chain) << 40) | (uint64_t)(idx))
#define T_DOF 5.0 /* Student-t proposal of step 1 */

/* Per-chain workspace: report lists by series, local coverage columns, per-series results. */
struct emi_imem_ws {
  int64_t *rs;    /* reports of series k: ri[rs[k] .. rs[k+1]) */
  int64_t *ri;
  int *ncl;       /* distinct coverage classes among series k's reports */
  int64_t *cls;   /* their ids: cl[cls[k] .. cls[k] + ncl[k]) */
  int *cl;
  int64_t *qs;    /* offset of series k's (q*q + q) contribution in qbuf, q = P + ncl[k] */
  double *qbuf;
  int *fail;      /* per-series failure flags of the parallel loops */
  double *ssum;   /* per-series partial sums of step 4: [k*5 + 0..4] = u^2, S0, S00, S01, S11 */
  double *Q, *b, *th, *eps;     /* step 2: the global block */
  double *Qd, *bd, *v1, *v2;    /* its data part, two vectors */
  double *cm, *cv;             /* normal approximation of each log-Beta prior: mean, variance */
  int64_t *as_;   /* reports of accuracy class a: ai[as_[a] .. as_[a+1]) (report order) */
  int64_t *ai;
  double *mr, *ep; /* step 4b: per report (in ai order) the mean of eta and the standardised error */
  int nmax;       /* most reports of one series */
};
typedef struct emi_imem_ws imem_ws_t;

/* ------------------------------------------------------------------ special functions */

static double digamma(double x)
{
  double r = 0.0;
  while (x < 6.0) r -= 1.0 / x, x += 1.0;
  double f = 1.0 / (x * x);
  return r + log(x) - 0.5 / x -
         f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f * (1.0 / 132)))));
}

static double trigamma(double x)
{
  double r = 0.0;
  while (x < 6.0) r += 1.0 / (x * x), x += 1.0;
  double f = 1.0 / (x * x);
  return r + 1.0 / x + f / 2 + f / x * (1.0 / 6 - f * (1.0 / 30 - f * (1.0 / 42 - f * (1.0 / 30))));
}

/* Log density of a = log(lambda) when lambda ~ Beta(al, be). */
static double logbeta_of_log(double a, double al, double be)
{
  if (!(a < 0.0)) return -INFINITY;
  return al * a + (be - 1.0) * log(-expm1(a)) - (lgamma(al) + lgamma(be) - lgamma(al + be));
}

static double lnorm(double x, double m, double v) { return -0.5 * (x - m) * (x - m) / v - 0.5 * log(6.283185307179586 * v); }

/* ------------------------------------------------------------------ checks, allocation */

emi_err_t emi_imem_check(const emi_imem_data_t *d)
{
  if (!d) return EMI_ERROR(EMI_ERR_ARG, "imem: no data");
  if (d->K < 1 || d->T < 1 || d->P < 1 || d->P > EMI_IMEM_MAX_COV)
    return EMI_ERROR(EMI_ERR_ARG, "imem: need K >= 1 series, T >= 1 periods and 1..%d covariates (got %d, %d, %d)",
                     EMI_IMEM_MAX_COV, d->K, d->T, d->P);
  if (d->T > EMI_IMEM_MAX_T) return EMI_ERROR(EMI_ERR_ARG, "imem: at most %d periods (got %d)", EMI_IMEM_MAX_T, d->T);
  if (d->nrep < 1) return EMI_ERROR(EMI_ERR_ARG, "imem: no reports at all");
  if (d->nacc < 1 || d->ncov < 0) return EMI_ERROR(EMI_ERR_ARG, "imem: need at least one accuracy class");
  for (int64_t i = 0; i < (int64_t)d->K * d->T * d->P; i++)
    if (!isfinite(d->x[i])) return EMI_ERROR(EMI_ERR_DOMAIN, "imem: covariate value %lld is not finite", (long long)i);
  int *seen = calloc((size_t)d->ncov + 1, sizeof *seen);
  if (!seen) return EMI_ERROR(EMI_ERR_NOMEM, "imem: cannot allocate coverage flags");
  emi_err_t err = EMI_SUCCESS;
  for (int64_t r = 0; r < d->nrep; r++) {
    if (d->rep_k[r] < 0 || d->rep_k[r] >= d->K || d->rep_t[r] < 0 || d->rep_t[r] >= d->T) {
      err = EMI_ERROR(EMI_ERR_ARG, "imem: report %lld: series %d / period %d out of range", (long long)r, d->rep_k[r],
                      d->rep_t[r]);
      break;
    }
    if (d->rep_n[r] < 0) {
      err = EMI_ERROR(EMI_ERR_DOMAIN, "imem: report %lld: negative count %lld", (long long)r, (long long)d->rep_n[r]);
      break;
    }
    if (d->rep_cov[r] < -1 || d->rep_cov[r] >= d->ncov || d->rep_acc[r] < 0 || d->rep_acc[r] >= d->nacc ||
        !isfinite(d->rep_logkappa[r])) {
      err = EMI_ERROR(EMI_ERR_ARG, "imem: report %lld: coverage class %d, accuracy class %d or log kappa %g invalid",
                      (long long)r, d->rep_cov[r], d->rep_acc[r], d->rep_logkappa[r]);
      break;
    }
    seen[d->rep_cov[r] + 1] = 1;
  }
  for (int c = 0; c < d->ncov && !err; c++) {
    if (!seen[c + 1]) err = EMI_ERROR(EMI_ERR_ARG, "imem: coverage class %d has no report", c);
    else if (!(d->cov_alpha[c] > 0 && d->cov_beta[c] > 0 && isfinite(d->cov_alpha[c]) && isfinite(d->cov_beta[c])))
      err = EMI_ERROR(EMI_ERR_DOMAIN, "imem: coverage class %d: Beta(%g, %g) is not a valid prior", c, d->cov_alpha[c],
                      d->cov_beta[c]);
  }
  free(seen);
  if (err) return err;
  for (int a = 0; a < d->nacc; a++)
    if (!(d->acc_shape[a] > 0 && d->acc_scale[a] > 0 && isfinite(d->acc_shape[a]) && isfinite(d->acc_scale[a])))
      return EMI_ERROR(EMI_ERR_DOMAIN, "imem: accuracy class %d: InvGamma(%g, %g) is not a valid prior", a,
                       d->acc_shape[a], d->acc_scale[a]);
  if (!(d->beta_sd > 0 && d->su_shape > 0 && d->su_scale > 0 && d->se_shape > 0 && d->se_scale > 0))
    return EMI_ERROR(EMI_ERR_DOMAIN, "imem: hyper-prior parameters must be > 0");
  return EMI_SUCCESS;
}

/* A count known to be positive (emi_imem_check) as a size. */
static inline size_t sz(int64_t v) { return v > 0 ? (size_t)v : 1; }

static void ws_free(imem_ws_t *w)
{
  if (!w) return;
  free(w->rs), free(w->ri), free(w->ncl), free(w->cls), free(w->cl), free(w->qs), free(w->qbuf), free(w->fail);
  free(w->ssum), free(w->Q), free(w->b), free(w->th), free(w->eps), free(w->cm), free(w->cv);
  free(w->Qd), free(w->bd), free(w->v1), free(w->v2);
  free(w->as_), free(w->ai), free(w->mr), free(w->ep);
  free(w);
}

static emi_err_t ws_alloc(const emi_imem_data_t *d, imem_ws_t **out)
{
  emi_err_t err = EMI_SUCCESS;
  imem_ws_t *w = calloc(1, sizeof *w);
  int *mark = NULL;
  if (!w) return EMI_ERROR(EMI_ERR_NOMEM, "imem: cannot allocate a workspace");
  int K = d->K, nth = d->P + d->ncov;
  EMI_CALLOC(w->rs, sz(K) + 1, "report lists");
  EMI_MALLOC(w->ri, sz(d->nrep), "report lists");
  EMI_CALLOC(w->ncl, sz(K), "coverage lists");
  EMI_CALLOC(w->cls, sz(K) + 1, "coverage lists");
  EMI_CALLOC(w->qs, sz(K) + 1, "contribution offsets");
  EMI_CALLOC(w->fail, sz(K), "failure flags");
  EMI_CALLOC(w->ssum, sz(K) * 5, "partial sums");
  EMI_CALLOC(w->Q, sz(nth) * sz(nth), "posterior precision");
  EMI_CALLOC(w->b, sz(nth), "posterior shift");
  EMI_CALLOC(w->th, sz(nth), "proposal");
  EMI_CALLOC(w->eps, sz(nth), "normals");
  EMI_CALLOC(w->Qd, sz(nth) * sz(nth), "data precision");
  EMI_CALLOC(w->bd, sz(nth), "data shift");
  EMI_CALLOC(w->v1, sz(nth), "vector");
  EMI_CALLOC(w->v2, sz(nth), "vector");
  EMI_CALLOC(w->cm, sz(d->ncov + 1), "prior approximation");
  EMI_CALLOC(w->cv, sz(d->ncov + 1), "prior approximation");
  EMI_CALLOC(w->as_, sz(d->nacc) + 1, "accuracy lists");
  EMI_MALLOC(w->ai, sz(d->nrep), "accuracy lists");
  EMI_MALLOC(w->mr, sz(d->nrep), "report means");
  EMI_MALLOC(w->ep, sz(d->nrep), "standardised errors");
  for (int64_t r = 0; r < d->nrep; r++) w->as_[d->rep_acc[r] + 1]++;
  for (int a = 0; a < d->nacc; a++) w->as_[a + 1] += w->as_[a];
  {
    int64_t *pos = NULL;
    EMI_MALLOC(pos, sz(d->nacc), "accuracy lists");
    memcpy(pos, w->as_, (size_t)d->nacc * sizeof *pos);
    for (int64_t r = 0; r < d->nrep; r++) w->ai[pos[d->rep_acc[r]]++] = r;
    free(pos);
  }
  /* counting sort of the reports by series (stable: reports keep their order within a series) */
  for (int64_t r = 0; r < d->nrep; r++) w->rs[d->rep_k[r] + 1]++;
  for (int k = 0; k < K; k++) w->rs[k + 1] += w->rs[k];
  {
    int64_t *pos = NULL;
    EMI_MALLOC(pos, sz(K), "report lists");
    memcpy(pos, w->rs, (size_t)K * sizeof *pos);
    for (int64_t r = 0; r < d->nrep; r++) w->ri[pos[d->rep_k[r]]++] = r;
    free(pos);
  }
  /* distinct coverage classes per series */
  EMI_MALLOC(mark, sz(d->ncov + 1), "coverage marks");
  for (int c = 0; c <= d->ncov; c++) mark[c] = -1;
  for (int k = 0; k < K; k++) {
    int n = 0;
    for (int64_t j = w->rs[k]; j < w->rs[k + 1]; j++) {
      int c = d->rep_cov[w->ri[j]];
      if (c >= 0 && mark[c] != k) mark[c] = k, n++;
    }
    w->ncl[k] = n;
    w->cls[k + 1] = w->cls[k] + n;
    int q = d->P + n;
    w->qs[k + 1] = w->qs[k] + (int64_t)q * q + q;
    int64_t nk = w->rs[k + 1] - w->rs[k];
    if (nk > w->nmax) w->nmax = (int)nk;
  }
  EMI_MALLOC(w->cl, sz(w->cls[K]) + 1, "coverage lists");
  for (int c = 0; c <= d->ncov; c++) mark[c] = -1;
  for (int k = 0; k < K; k++) {
    int n = 0;
    for (int64_t j = w->rs[k]; j < w->rs[k + 1]; j++) {
      int c = d->rep_cov[w->ri[j]];
      if (c >= 0 && mark[c] != k) mark[c] = k, w->cl[w->cls[k] + n++] = c;
    }
  }
  EMI_MALLOC(w->qbuf, sz(w->qs[K]) + 1, "per-series contributions");
  for (int c = 0; c < d->ncov; c++) {
    w->cm[c] = digamma(d->cov_alpha[c]) - digamma(d->cov_alpha[c] + d->cov_beta[c]);
    w->cv[c] = trigamma(d->cov_alpha[c]) - trigamma(d->cov_alpha[c] + d->cov_beta[c]);
  }
  *out = w;
  w = NULL;
cleanup:
  free(mark);
  ws_free(w);
  return err;
}

emi_err_t emi_imem_state_alloc(const emi_imem_data_t *d, emi_imem_state_t *s)
{
  emi_err_t err = EMI_SUCCESS;
  memset(s, 0, sizeof *s);
  EMI_TRY(emi_imem_check(d));
  EMI_CALLOC(s->beta, sz(d->P), "beta");
  EMI_CALLOC(s->loglam, sz(d->ncov + 1), "coverages");
  EMI_CALLOC(s->u, sz(d->K), "series effects");
  EMI_CALLOC(s->e, sz(d->K) * sz(d->T), "AR terms");
  EMI_CALLOC(s->eta, sz(d->nrep), "report log-means");
  EMI_CALLOC(s->tau2, sz(d->nacc), "accuracy variances");
  EMI_TRY(ws_alloc(d, &s->ws));
  return EMI_SUCCESS;
cleanup:
  emi_imem_state_free(s);
  return err;
}

void emi_imem_state_free(emi_imem_state_t *s)
{
  if (!s) return;
  free(s->beta), free(s->loglam), free(s->u), free(s->e), free(s->eta), free(s->tau2);
  ws_free(s->ws);
  memset(s, 0, sizeof *s);
}

/* ------------------------------------------------------------------ helpers */

static inline double xb(const emi_imem_data_t *d, const double *beta, int k, int t)
{
  const double *x = d->x + ((size_t)k * d->T + t) * d->P;
  double v = 0.0;
  for (int p = 0; p < d->P; p++) v += x[p] * beta[p];
  return v;
}

/* The offset of report r besides z: log lambda (0 for a benchmark) + log kappa. */
static inline double rep_offset(const emi_imem_data_t *d, const emi_imem_state_t *s, int64_t r)
{
  int c = d->rep_cov[r];
  return (c >= 0 ? s->loglam[c] : 0.0) + d->rep_logkappa[r];
}

void emi_imem_z(const emi_imem_data_t *d, const emi_imem_state_t *s, double *z)
{
  for (int k = 0; k < d->K; k++)
    for (int t = 0; t < d->T; t++) z[(size_t)k * d->T + t] = xb(d, s->beta, k, t) + s->u[k] + s->e[(size_t)k * d->T + t];
}

static double inv_gamma_draw(emi_stream_t *st, double shape, double scale)
{
  double g = 0.0;
  if (emi_gamma_draw(st, shape, 1.0 / scale, &g) != EMI_SUCCESS || !(g > 0)) return scale / shape;
  return 1.0 / g;
}

/* AR(1) correlation structure: Cov(e_s, e_t) = sigma_e^2 rho^|s-t| / (1 - rho^2). */

/* ------------------------------------------------------------------ initial values */

emi_err_t emi_imem_init(const emi_imem_data_t *d, uint64_t seed, int chain, emi_imem_state_t *s)
{
  emi_err_t err = EMI_SUCCESS;
  double *zs = NULL, *cnt = NULL;
  const imem_ws_t *w = s->ws;
  emi_stream_t st;
  int K = d->K, T = d->T;
  if (!w) return EMI_ERROR(EMI_ERR_ARG, "imem: state not allocated (emi_imem_state_alloc)");
  EMI_TRY(emi_stream_init(&st, seed, P_INIT, ENTITY(chain, 0), 0));
  EMI_CALLOC(zs, sz(K) * sz(T), "initial flows");
  EMI_CALLOC(cnt, sz(K) * sz(T), "initial flows");
  for (int c = 0; c < d->ncov; c++) s->loglam[c] = fmin(w->cm[c] + 0.02 * emi_std_normal(&st), -1e-3);
  for (int64_t r = 0; r < d->nrep; r++) {
    size_t i = (size_t)d->rep_k[r] * T + d->rep_t[r];
    int c = d->rep_cov[r];
    double lr = log((double)d->rep_n[r] + 0.5);
    zs[i] += lr - (c >= 0 ? w->cm[c] : 0.0) - d->rep_logkappa[r];
    cnt[i] += 1;
    s->eta[r] = lr + 0.05 * emi_std_normal(&st);
  }
  double tot = 0.0, ntot = 0.0;
  for (size_t i = 0; i < (size_t)K * T; i++)
    if (cnt[i] > 0) zs[i] /= cnt[i], tot += zs[i], ntot += 1;
  double mean = tot / ntot, su = 0.0;
  memset(s->beta, 0, (size_t)d->P * sizeof *s->beta);
  s->beta[0] = mean + 0.1 * emi_std_normal(&st);
  for (int k = 0; k < K; k++) {
    double a = 0.0, n = 0.0;
    for (int t = 0; t < T; t++)
      if (cnt[(size_t)k * T + t] > 0) a += zs[(size_t)k * T + t] - mean, n += 1;
    s->u[k] = n > 0 ? a / n : 0.0;
    su += s->u[k] * s->u[k];
    for (int t = 0; t < T; t++) {
      size_t i = (size_t)k * T + t;
      s->e[i] = (cnt[i] > 0 ? zs[i] - mean - s->u[k] : 0.0) + 0.1 * emi_std_normal(&st);
    }
  }
  s->sig2_u = su / K + 0.01;
  s->sig2_e = 0.1 * exp(0.2 * emi_std_normal(&st));
  s->rho = 0.5 + 0.2 * (emi_uniform(&st) - 0.5);
  for (int a = 0; a < d->nacc; a++) s->tau2[a] = d->acc_scale[a] / (d->acc_shape[a] + 1.0);
  s->rho_width = 0.2;
  s->iter = 0;
  s->n_theta_prop = s->n_theta_acc = s->n_eta_prop = s->n_eta_acc = 0;
cleanup:
  free(zs), free(cnt);
  return err;
}

/* ------------------------------------------------------------------ step 1: report log-means */

/* Log of the target f(eta) = n eta - e^eta - (eta - m)^2 / (2 tau2). */
static inline double eta_logf(double eta, int64_t n, double m, double tau2)
{
  return (double)n * eta - exp(eta) - 0.5 * (eta - m) * (eta - m) / tau2;
}

/* Mode of f by safeguarded Newton inside a bracket where f' changes sign. */
static double eta_mode(double start, int64_t n, double m, double tau2)
{
  double lo, hi;
  if (n > 0) {
    double ln = log((double)n);
    lo = fmin(m, ln), hi = fmax(m, ln);
  } else {
    hi = m, lo = m - tau2 * exp(fmin(m, 700.0)) - 1.0;
  }
  if (hi - lo < 1e-12) return 0.5 * (lo + hi);
  double x = (start > lo && start < hi) ? start : 0.5 * (lo + hi);
  for (int it = 0; it < 100; it++) {
    double ex = exp(x), g = (double)n - ex - (x - m) / tau2, h = ex + 1.0 / tau2;
    if (g > 0) lo = x;
    else hi = x;
    double xn = x + g / h;
    if (!(xn > lo && xn < hi)) xn = 0.5 * (lo + hi);
    if (fabs(xn - x) < 1e-10 * (1.0 + fabs(x)) || hi - lo < 1e-12) return xn;
    x = xn;
  }
  return x;
}

static emi_err_t step_eta(const emi_imem_data_t *d, uint64_t seed, int chain, emi_imem_state_t *s, int64_t *nacc)
{
  int64_t acc = 0, bad = -1;
  uint32_t step = (uint32_t)s->iter;
#pragma omp parallel for schedule(static) reduction(+ : acc)
  for (int64_t r = 0; r < d->nrep; r++) {
    emi_stream_t st;
    if (emi_stream_init(&st, seed, P_ETA, ENTITY(chain, r), step) != EMI_SUCCESS) {
#pragma omp critical(imem_eta_fail)
      bad = r;
      continue;
    }
    int k = d->rep_k[r], t = d->rep_t[r];
    double z = xb(d, s->beta, k, t) + s->u[k] + s->e[(size_t)k * d->T + t];
    double m = z + rep_offset(d, s, r), tau2 = s->tau2[d->rep_acc[r]];
    int64_t n = d->rep_n[r];
    double mode = eta_mode(s->eta[r], n, m, tau2);
    double sc = 1.0 / sqrt(exp(mode) + 1.0 / tau2);
    double zn = emi_std_normal(&st), v = 0.0;
    if (emi_gamma_draw(&st, 0.5 * T_DOF, 2.0, &v) != EMI_SUCCESS || !(v > 0)) v = T_DOF;
    double prop = mode + sc * zn / sqrt(v / T_DOF);
    double cur = s->eta[r];
    double dp = (prop - mode) / sc, dc = (cur - mode) / sc;
    double lq_p = -0.5 * (T_DOF + 1) * log1p(dp * dp / T_DOF), lq_c = -0.5 * (T_DOF + 1) * log1p(dc * dc / T_DOF);
    double la = eta_logf(prop, n, m, tau2) - eta_logf(cur, n, m, tau2) - (lq_p - lq_c);
    double uu = emi_uniform(&st);
    if (isfinite(la) && log(uu) < la) {
      s->eta[r] = prop;
      acc++;
    }
  }
  if (bad >= 0) return EMI_ERROR(EMI_ERR_INTERNAL, "imem: cannot key the stream of report %lld", (long long)bad);
  *nacc = acc;
  return EMI_SUCCESS;
}

/* ------------------------------------------------------------------ step 2: beta and coverages */

/* Series k's contribution G' V^-1 G (q x q, column-major) and G' V^-1 w (q) into out, where the
 * columns are the P covariates then the series' own coverage classes.  scratch: >= n*(n+q+1). */
static int series_theta(const emi_imem_data_t *d, const emi_imem_state_t *s, const imem_ws_t *w, int k,
                        double *scratch, double *out)
{
  int64_t r0 = w->rs[k];
  int n = (int)(w->rs[k + 1] - r0), P = d->P, q = P + w->ncl[k];
  const int *cl = w->cl + w->cls[k];
  double *V = scratch, *G = V + (size_t)n * n, *y = G + (size_t)n * q;
  memset(out, 0, ((size_t)q * q + q) * sizeof *out);
  if (n == 0) return 0;
  /* the AR(1) covariance by lag, sig2_e rho^lag / (1 - rho^2), by repeated products (pow per pair
   * of reports was the hot spot of the sweep) */
  double acv[EMI_IMEM_MAX_T];
  acv[0] = s->sig2_e / (1.0 - s->rho * s->rho);
  for (int l = 1; l < d->T; l++) acv[l] = acv[l - 1] * s->rho;
  for (int i = 0; i < n; i++) {
    int64_t ri = w->ri[r0 + i];
    int ti = d->rep_t[ri];
    for (int j = 0; j <= i; j++) {
      int tj = d->rep_t[w->ri[r0 + j]];
      V[i + (size_t)j * n] = s->sig2_u + acv[ti > tj ? ti - tj : tj - ti];
    }
    V[i + (size_t)i * n] += s->tau2[d->rep_acc[ri]];
    const double *x = d->x + ((size_t)k * d->T + ti) * P;
    for (int p = 0; p < P; p++) G[i + (size_t)p * n] = x[p];
    for (int c = 0; c < w->ncl[k]; c++) G[i + (size_t)(P + c) * n] = (d->rep_cov[ri] == cl[c]) ? 1.0 : 0.0;
    y[i] = s->eta[ri] - d->rep_logkappa[ri];
  }
  if (LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, 'L', n, V, n) != 0) return 1;
  cblas_dtrsm(CblasColMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, n, q, 1.0, V, n, G, n);
  cblas_dtrsv(CblasColMajor, CblasLower, CblasNoTrans, CblasNonUnit, n, V, n, y, 1);
  cblas_dsyrk(CblasColMajor, CblasLower, CblasTrans, q, n, 1.0, G, n, 0.0, out, q);
  cblas_dgemv(CblasColMajor, CblasTrans, n, q, 1.0, G, n, y, 1, 0.0, out + (size_t)q * q, 1);
  return 0;
}

static emi_err_t step_theta(const emi_imem_data_t *d, uint64_t seed, int chain, emi_imem_state_t *s, imem_ws_t *w)
{
  emi_err_t err = EMI_SUCCESS;
  int K = d->K, P = d->P, nth = P + d->ncov, nmax = w->nmax, qmax = P + d->ncov;
  int anyfail = 0;
#pragma omp parallel reduction(| : anyfail)
  {
    double *scratch = malloc(((size_t)nmax * (nmax + qmax + 1) + 1) * sizeof *scratch);
    if (!scratch) anyfail = 1;
#pragma omp for schedule(dynamic, 16)
    for (int k = 0; k < K; k++) {
      if (!scratch) continue;
      w->fail[k] = series_theta(d, s, w, k, scratch, w->qbuf + w->qs[k]);
      anyfail |= w->fail[k];
    }
    free(scratch);
  }
  if (anyfail) {
    for (int k = 0; k < K; k++)
      if (w->fail[k])
        return EMI_ERROR(EMI_ERR_NOT_SPD, "imem: the covariance of series %d's reports is not positive definite "
                         "(sigma_u^2 %g, sigma_e^2 %g, rho %g)", k, s->sig2_u, s->sig2_e, s->rho);
    return EMI_ERROR(EMI_ERR_NOMEM, "imem: cannot allocate scratch space for step 2");
  }
  /* assemble the data part in series order (fixed: the sum does not depend on the threads) */
  double *Qd = w->Qd, *bd = w->bd;
  memset(Qd, 0, (size_t)nth * nth * sizeof *Qd);
  memset(bd, 0, (size_t)nth * sizeof *bd);
  for (int k = 0; k < K; k++) {
    int q = P + w->ncl[k];
    const double *o = w->qbuf + w->qs[k];
    const int *cl = w->cl + w->cls[k];
    for (int j = 0; j < q; j++) {
      int gj = j < P ? j : P + cl[j - P];
      for (int i = j; i < q; i++) {
        int gi = i < P ? i : P + cl[i - P];
        int lo = gi < gj ? gi : gj, hi = gi < gj ? gj : gi;
        Qd[hi + (size_t)lo * nth] += o[i + (size_t)j * q];
      }
      bd[gj] += o[(size_t)q * q + j];
    }
  }
  /* Coordinate-wise exact updates of the collapsed conditional of theta (u and e integrated out):
   * log p(theta | eta, ...) = -theta' Qd theta / 2 + bd' theta + log priors.  A beta given the rest
   * is normal (drawn exactly); a log coverage given the rest is a normal times a log-Beta density,
   * log-concave, drawn by slice sampling bounded above by 0 (lambda < 1).  Each sweep costs
   * O(nth^2) and the likelihood part is already assembled, so several sweeps are taken. */
  double *th = w->th, *r = w->v1;
  emi_stream_t st;
  EMI_TRY(emi_stream_init(&st, seed, P_THETA, ENTITY(chain, 0), (uint32_t)s->iter));
  for (int j = 0; j < nth; j++)
    for (int i = j + 1; i < nth; i++) Qd[j + (size_t)i * nth] = Qd[i + (size_t)j * nth];
  for (int i = 0; i < nth; i++) th[i] = i < P ? s->beta[i] : s->loglam[i - P];
  for (int i = 0; i < nth; i++) {
    double v = 0.0;
    for (int j = 0; j < nth; j++) v += Qd[i + (size_t)j * nth] * th[j];
    r[i] = v;
  }
  double *Lb = w->Q, *mb = w->b, *eb = w->eps;
  for (int sweep = 0; sweep < EMI_IMEM_THETA_SWEEPS; sweep++) {
    /* beta | log coverages: exactly Gaussian (normal prior), drawn as one block, so that collinear
     * covariates (e.g. contiguity and common language among few countries) move together:
     * precision Qd_bb + I / beta_sd^2, shift bd_b - Qd_bl loglam */
    for (int j = 0; j < P; j++) {
      for (int i = j; i < P; i++) Lb[i + (size_t)j * P] = Qd[i + (size_t)j * nth];
      Lb[j + (size_t)j * P] += 1.0 / (d->beta_sd * d->beta_sd);
      double v = bd[j];
      for (int c = P; c < nth; c++) v -= Qd[j + (size_t)c * nth] * th[c];
      mb[j] = v;
    }
    EMI_LAPACKE_TRY(LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, 'L', P, Lb, P), EMI_ERR_NOT_SPD,
                    "imem: posterior precision of the covariate effects");
    cblas_dtrsv(CblasColMajor, CblasLower, CblasNoTrans, CblasNonUnit, P, Lb, P, mb, 1);
    for (int j = 0; j < P; j++) eb[j] = emi_std_normal(&st);
    for (int j = 0; j < P; j++) mb[j] += eb[j];
    cblas_dtrsv(CblasColMajor, CblasLower, CblasTrans, CblasNonUnit, P, Lb, P, mb, 1);
    for (int j = 0; j < P; j++) {
      double dlt = mb[j] - th[j];
      if (dlt != 0.0)
        for (int i = 0; i < nth; i++) r[i] += Qd[i + (size_t)j * nth] * dlt;
      th[j] = mb[j];
    }
    for (int i = P; i < nth; i++) {
      double qii = Qd[i + (size_t)i * nth], lin = bd[i] - (r[i] - qii * th[i]), old = th[i], nw;
      {
        int c = i - P;
        double al = d->cov_alpha[c], be = d->cov_beta[c];
        /* f(a) = -qii a^2 / 2 + lin a + log-Beta(a): slice sampling, stepping out, a < 0 */
        /* the Beta normalising constant cancels in a slice sampler: the kernel alone (no lgamma) */
#define FCOND(a) ((a) < 0.0 ? -0.5 * qii * (a) * (a) + lin * (a) + al * (a) + (be - 1.0) * log(-expm1(a)) : -INFINITY)
        double wdt = 2.0 / sqrt(qii + 1.0 / w->cv[c]);
        double y = FCOND(old) - emi_std_exponential(&st);
        double L = old - wdt * emi_uniform(&st), R = L + wdt;
        for (int h = 0; h < 100 && FCOND(L) > y; h++) L -= wdt;
        for (int h = 0; h < 100 && R < 0.0 && FCOND(R) > y; h++) R += wdt;
        if (R > 0.0) R = 0.0;
        nw = old;
        for (int h = 0; h < 200; h++) {
          double x = L + (R - L) * emi_uniform(&st);
          if (FCOND(x) > y) {
            nw = x;
            break;
          }
          if (x < old) L = x;
          else R = x;
        }
#undef FCOND
      }
      double dlt = nw - old;
      if (dlt != 0.0) {
        for (int j = 0; j < nth; j++) r[j] += Qd[j + (size_t)i * nth] * dlt;
        th[i] = nw;
      }
    }
  }
  memcpy(s->beta, th, (size_t)P * sizeof *th);
  memcpy(s->loglam, th + P, (size_t)d->ncov * sizeof *th);
  s->n_theta_prop++;
  s->n_theta_acc++;
cleanup:
  return err;
}

/* ------------------------------------------------------------------ step 3: series effects and AR terms */

/* Exact draw of (u_k, e_k0..e_k,T-1) given everything else.  scratch: >= (T+1)*(T+3). */
static int series_ue(const emi_imem_data_t *d, emi_imem_state_t *s, const imem_ws_t *w, int k, emi_stream_t *st,
                     double *scratch)
{
  int T = d->T, m = T + 1;
  double *A = scratch, *lin = A + (size_t)m * m, *eps = lin + m;
  memset(A, 0, ((size_t)m * m + m) * sizeof *A);
  double rho = s->rho, pe = 1.0 / s->sig2_e;
  A[0] = 1.0 / s->sig2_u;
  if (T == 1) A[1 + m] = (1.0 - rho * rho) * pe;
  else
    for (int t = 0; t < T; t++) {
      int i = t + 1;
      A[i + (size_t)i * m] = (t == 0 || t == T - 1 ? 1.0 : 1.0 + rho * rho) * pe;
      if (t > 0) A[i + (size_t)(i - 1) * m] = -rho * pe;
    }
  for (int64_t j = w->rs[k]; j < w->rs[k + 1]; j++) {
    int64_t r = w->ri[j];
    int t = d->rep_t[r], i = t + 1;
    double pr = 1.0 / s->tau2[d->rep_acc[r]];
    double res = s->eta[r] - rep_offset(d, s, r) - xb(d, s->beta, k, t);
    A[0] += pr;
    A[i + (size_t)i * m] += pr;
    A[i] += pr; /* (i, 0) in the lower triangle */
    lin[0] += pr * res;
    lin[i] += pr * res;
  }
  if (LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, 'L', m, A, m) != 0) return 1;
  cblas_dtrsv(CblasColMajor, CblasLower, CblasNoTrans, CblasNonUnit, m, A, m, lin, 1);
  for (int i = 0; i < m; i++) eps[i] = emi_std_normal(st);
  for (int i = 0; i < m; i++) lin[i] += eps[i];
  cblas_dtrsv(CblasColMajor, CblasLower, CblasTrans, CblasNonUnit, m, A, m, lin, 1);
  s->u[k] = lin[0];
  memcpy(s->e + (size_t)k * T, lin + 1, (size_t)T * sizeof *lin);
  return 0;
}

static emi_err_t step_ue(const emi_imem_data_t *d, uint64_t seed, int chain, emi_imem_state_t *s, imem_ws_t *w)
{
  int K = d->K, T = d->T, anyfail = 0;
#pragma omp parallel reduction(| : anyfail)
  {
    double *scratch = malloc(((size_t)(T + 1) * (T + 3) + 1) * sizeof *scratch);
    if (!scratch) anyfail = 1;
#pragma omp for schedule(static)
    for (int k = 0; k < K; k++) {
      emi_stream_t st;
      if (!scratch || emi_stream_init(&st, seed, P_UE, ENTITY(chain, k), (uint32_t)s->iter) != EMI_SUCCESS) {
        w->fail[k] = 2;
        anyfail = 1;
        continue;
      }
      w->fail[k] = series_ue(d, s, w, k, &st, scratch);
      anyfail |= w->fail[k];
      /* partial sums for step 4 */
      const double *e = s->e + (size_t)k * T;
      double *ps = w->ssum + (size_t)k * 5;
      ps[0] = s->u[k] * s->u[k];
      ps[1] = e[0] * e[0];
      ps[2] = ps[3] = ps[4] = 0.0;
      for (int t = 1; t < T; t++) ps[2] += e[t] * e[t], ps[3] += e[t] * e[t - 1], ps[4] += e[t - 1] * e[t - 1];
    }
    free(scratch);
  }
  if (anyfail) {
    for (int k = 0; k < K; k++)
      if (w->fail[k] == 1) return EMI_ERROR(EMI_ERR_NOT_SPD, "imem: series %d: conditional precision not positive definite", k);
    return EMI_ERROR(EMI_ERR_NOMEM, "imem: cannot allocate scratch space for step 3");
  }
  return EMI_SUCCESS;
}

/* ------------------------------------------------------------------ step 4: hyper-parameters */

static double rho_logf(double rho, double K, double S0, double S00, double S01, double S11, double sig2_e)
{
  if (!(rho > -1.0 && rho < 1.0)) return -INFINITY;
  double q = (1.0 - rho * rho) * S0 + S00 - 2.0 * rho * S01 + rho * rho * S11;
  return 0.5 * K * log1p(-rho * rho) - 0.5 * q / sig2_e;
}

/* sigma_u^2 and u drawn with the split of the level between u and e integrated out: given
 * d_k = u_k + e_k (= z_k - x_k' beta, held fixed), d_k ~ N(0, sigma_u^2 11' + Sigma_AR), and with
 * P = Sigma_AR^-1 (tridiagonal), s = 1'P1, v_k = 1'P d_k the matrix determinant lemma gives
 *     log p(d | sigma_u^2) = -K/2 log(1 + sigma_u^2 s) + sigma_u^2 V / (2 (1 + sigma_u^2 s)) + const,
 * V = sum v_k^2.  sigma_u^2 is slice-sampled from that times its prior, then each u_k is drawn from
 * N(sigma_u^2 v_k / (1 + sigma_u^2 s), sigma_u^2 / (1 + sigma_u^2 s)) and e_k = d_k - u_k.  This is the
 * move a centred Gibbs sampler lacks when a persistent AR term and the corridor effect compete. */
static void collapsed_sigma_u(const emi_imem_data_t *d, emi_imem_state_t *s, emi_stream_t *st)
{
  int K = d->K, T = d->T;
  double p1[EMI_IMEM_MAX_T], rho = s->rho, pe = 1.0 / s->sig2_e, sP = 0.0, V = 0.0;
  for (int t = 0; t < T; t++) {
    double row = (T == 1) ? (1.0 - rho * rho) : ((t == 0 || t == T - 1) ? 1.0 : 1.0 + rho * rho);
    if (t > 0) row -= rho;
    if (t < T - 1) row -= rho;
    p1[t] = row * pe;
    sP += p1[t];
  }
  for (int k = 0; k < K; k++) {
    double v = 0.0;
    for (int t = 0; t < T; t++) v += p1[t] * (s->u[k] + s->e[(size_t)k * T + t]);
    V += v * v;
  }
  double a = d->su_shape, b = d->su_scale;
  /* slice sampling in l = log sigma_u^2 (Jacobian e^l) */
#define GS(l) (-0.5 * K * log1p(exp(l) * sP) + 0.5 * exp(l) * V / (1.0 + exp(l) * sP) - (a + 1.0) * (l) - b * exp(-(l)) + (l))
  double l0 = log(s->sig2_u), wdt = 1.0;
  double y = GS(l0) - emi_std_exponential(st);
  double L = l0 - wdt * emi_uniform(st), R = L + wdt;
  for (int h = 0; h < 100 && GS(L) > y; h++) L -= wdt;
  for (int h = 0; h < 100 && GS(R) > y; h++) R += wdt;
  double l1 = l0;
  for (int h = 0; h < 200; h++) {
    double x = L + (R - L) * emi_uniform(st);
    if (GS(x) > y) {
      l1 = x;
      break;
    }
    if (x < l0) L = x;
    else R = x;
  }
#undef GS
  double s2 = exp(l1), den = 1.0 + s2 * sP;
  s->sig2_u = s2;
  for (int k = 0; k < K; k++) {
    double v = 0.0;
    for (int t = 0; t < T; t++) v += p1[t] * (s->u[k] + s->e[(size_t)k * T + t]);
    double unew = s2 * v / den + sqrt(s2 / den) * emi_std_normal(st), dlt = unew - s->u[k];
    s->u[k] = unew;
    for (int t = 0; t < T; t++) s->e[(size_t)k * T + t] -= dlt;
  }
}

/* Step 4b: each tau_a again, in the non-centred parametrisation eta_r = m_r + tau_a eps_r with the
 * standardised errors eps held fixed (the reports' log-means move with tau).  The conjugate draw
 * above mixes well when the reports say little about eta (large tau); this one when they pin eta
 * down (small tau against Poisson noise), where the centred draw crawls: interleaving the two
 * parametrisations (Yu & Meng 2011) covers both.  In (eps, l = log tau) the target is
 *     sum_r [n_r eta_r(l) - exp(eta_r(l))] - sum_r eps_r^2 / 2 + log InvGamma(e^2l) + log(2 e^2l)
 * (the Jacobian of eta -> eps cancels the 1/tau of the normal density), slice-sampled in l with a
 * fixed width (Neal 2003: stepping out, then shrinking), so no tuning enters the chain.  Sums run
 * over the class's reports in report order (deterministic). */
static double tau_logf(const emi_imem_data_t *d, const imem_ws_t *w, int a, double l)
{
  double sc = exp(l), f = 0.0;
  for (int64_t j = w->as_[a]; j < w->as_[a + 1]; j++) {
    double eta = w->mr[j] + sc * w->ep[j];
    f += (double)d->rep_n[w->ai[j]] * eta - exp(eta);
  }
  double t2 = exp(2.0 * l);
  return f - (d->acc_shape[a] + 1.0) * 2.0 * l - d->acc_scale[a] / t2 + 2.0 * l;
}

static void noncentred_tau(const emi_imem_data_t *d, emi_imem_state_t *s, imem_ws_t *w, emi_stream_t *st)
{
  int T = d->T;
  for (int a = 0; a < d->nacc; a++) {
    if (w->as_[a + 1] == w->as_[a]) continue;
    double tau = sqrt(s->tau2[a]);
    for (int64_t j = w->as_[a]; j < w->as_[a + 1]; j++) {
      int64_t r = w->ai[j];
      int k = d->rep_k[r], t = d->rep_t[r];
      w->mr[j] = rep_offset(d, s, r) + xb(d, s->beta, k, t) + s->u[k] + s->e[(size_t)k * T + t];
      w->ep[j] = (s->eta[r] - w->mr[j]) / tau;
    }
    const double wdt = 0.5;
    double l0 = log(tau), y = tau_logf(d, w, a, l0) - emi_std_exponential(st);
    double L = l0 - wdt * emi_uniform(st), R = L + wdt;
    for (int h = 0; h < 20 && tau_logf(d, w, a, L) > y; h++) L -= wdt;
    for (int h = 0; h < 20 && tau_logf(d, w, a, R) > y; h++) R += wdt;
    double l1 = l0;
    for (int h = 0; h < 100; h++) {
      double x = L + (R - L) * emi_uniform(st);
      if (tau_logf(d, w, a, x) > y) {
        l1 = x;
        break;
      }
      if (x < l0) L = x;
      else R = x;
    }
    if (l1 == l0) continue;
    double sc = exp(l1);
    s->tau2[a] = sc * sc;
    for (int64_t j = w->as_[a]; j < w->as_[a + 1]; j++) s->eta[w->ai[j]] = w->mr[j] + sc * w->ep[j];
  }
}

static emi_err_t step_hyper(const emi_imem_data_t *d, uint64_t seed, int chain, int adapt, emi_imem_state_t *s,
                            imem_ws_t *w)
{
  emi_err_t err = EMI_SUCCESS;
  int K = d->K, T = d->T;
  double su = 0, S0 = 0, S00 = 0, S01 = 0, S11 = 0;
  for (int k = 0; k < K; k++) {
    const double *ps = w->ssum + (size_t)k * 5;
    su += ps[0], S0 += ps[1], S00 += ps[2], S01 += ps[3], S11 += ps[4];
  }
  emi_stream_t st;
  EMI_TRY(emi_stream_init(&st, seed, P_HYPER, ENTITY(chain, 0), (uint32_t)s->iter));
  s->sig2_u = inv_gamma_draw(&st, d->su_shape + 0.5 * K, d->su_scale + 0.5 * su);
  collapsed_sigma_u(d, s, &st);
  /* the AR sums after the re-split */
  S0 = S00 = S01 = S11 = 0.0;
  for (int k = 0; k < K; k++) {
    const double *e = s->e + (size_t)k * T;
    S0 += e[0] * e[0];
    for (int t = 1; t < T; t++) S00 += e[t] * e[t], S01 += e[t] * e[t - 1], S11 += e[t - 1] * e[t - 1];
  }
  /* rho by slice sampling (Neal 2003), stepping out then shrinking */
  {
    double x0 = s->rho, wdt = s->rho_width;
    double y = rho_logf(x0, K, S0, S00, S01, S11, s->sig2_e) - emi_std_exponential(&st);
    double L = x0 - wdt * emi_uniform(&st), R = L + wdt;
    for (int i = 0; i < 50 && rho_logf(L, K, S0, S00, S01, S11, s->sig2_e) > y; i++) L -= wdt;
    for (int i = 0; i < 50 && rho_logf(R, K, S0, S00, S01, S11, s->sig2_e) > y; i++) R += wdt;
    if (L < -1.0) L = -1.0;
    if (R > 1.0) R = 1.0;
    double x1 = x0;
    for (int i = 0; i < 200; i++) {
      x1 = L + (R - L) * emi_uniform(&st);
      if (rho_logf(x1, K, S0, S00, S01, S11, s->sig2_e) > y) break;
      if (x1 < x0) L = x1;
      else R = x1;
      x1 = x0;
    }
    if (adapt) s->rho_width = 0.9 * s->rho_width + 0.1 * fmax(3.0 * fabs(x1 - x0), 1e-4);
    s->rho = x1;
  }
  {
    double q = (1.0 - s->rho * s->rho) * S0 + S00 - 2.0 * s->rho * S01 + s->rho * s->rho * S11;
    s->sig2_e = inv_gamma_draw(&st, d->se_shape + 0.5 * (double)K * T, d->se_scale + 0.5 * q);
  }
  /* measurement-error variances by accuracy class (sums in report order) */
  for (int a = 0; a < d->nacc; a++) {
    double ss = 0.0, n = 0.0;
    for (int64_t r = 0; r < d->nrep; r++) {
      if (d->rep_acc[r] != a) continue;
      int k = d->rep_k[r], t = d->rep_t[r];
      double xi = s->eta[r] - rep_offset(d, s, r) - xb(d, s->beta, k, t) - s->u[k] - s->e[(size_t)k * T + t];
      ss += xi * xi, n += 1;
    }
    s->tau2[a] = inv_gamma_draw(&st, d->acc_shape[a] + 0.5 * n, d->acc_scale[a] + 0.5 * ss);
  }
  noncentred_tau(d, s, w, &st);
cleanup:
  return err;
}

/* ------------------------------------------------------------------ the sweep */

emi_err_t emi_imem_sweep(const emi_imem_data_t *d, uint64_t seed, int chain, int adapt, emi_imem_state_t *s)
{
  imem_ws_t *w = s->ws;
  int64_t acc = 0;
  if (!w) return EMI_ERROR(EMI_ERR_ARG, "imem: state not allocated (emi_imem_state_alloc)");
  if (s->iter >= (int64_t)UINT32_MAX) return EMI_ERROR(EMI_ERR_DOMAIN, "imem: more than 2^32 iterations");
  EMI_CALL(step_eta(d, seed, chain, s, &acc));
  s->n_eta_prop += d->nrep;
  s->n_eta_acc += acc;
  EMI_CALL(step_theta(d, seed, chain, s, w));
  EMI_CALL(step_ue(d, seed, chain, s, w));
  EMI_CALL(step_hyper(d, seed, chain, adapt, s, w));
  s->iter++;
  return EMI_SUCCESS;
}

/* ------------------------------------------------------------------ outputs, log posterior */

int emi_imem_nparams(const emi_imem_data_t *d) { return d->P + d->ncov + 3 + d->nacc; }

void emi_imem_params(const emi_imem_data_t *d, const emi_imem_state_t *s, double *out)
{
  int i = 0;
  for (int p = 0; p < d->P; p++) out[i++] = s->beta[p];
  for (int c = 0; c < d->ncov; c++) out[i++] = exp(s->loglam[c]);
  out[i++] = sqrt(s->sig2_u);
  out[i++] = sqrt(s->sig2_e);
  out[i++] = s->rho;
  for (int a = 0; a < d->nacc; a++) out[i++] = sqrt(s->tau2[a]);
}

static double linvgamma(double x, double shape, double scale)
{
  return shape * log(scale) - lgamma(shape) - (shape + 1.0) * log(x) - scale / x;
}

double emi_imem_logpost(const emi_imem_data_t *d, const emi_imem_state_t *s)
{
  int K = d->K, T = d->T;
  double lp = 0.0;
  for (int64_t r = 0; r < d->nrep; r++) {
    int k = d->rep_k[r], t = d->rep_t[r];
    double z = xb(d, s->beta, k, t) + s->u[k] + s->e[(size_t)k * T + t];
    double eta = s->eta[r], m = z + rep_offset(d, s, r), tau2 = s->tau2[d->rep_acc[r]];
    lp += (double)d->rep_n[r] * eta - exp(eta) - lgamma((double)d->rep_n[r] + 1.0) + lnorm(eta, m, tau2);
  }
  for (int k = 0; k < K; k++) {
    lp += lnorm(s->u[k], 0.0, s->sig2_u);
    const double *e = s->e + (size_t)k * T;
    lp += lnorm(e[0], 0.0, s->sig2_e / (1.0 - s->rho * s->rho));
    for (int t = 1; t < T; t++) lp += lnorm(e[t], s->rho * e[t - 1], s->sig2_e);
  }
  for (int p = 0; p < d->P; p++) lp += lnorm(s->beta[p], 0.0, d->beta_sd * d->beta_sd);
  for (int c = 0; c < d->ncov; c++) lp += logbeta_of_log(s->loglam[c], d->cov_alpha[c], d->cov_beta[c]);
  for (int a = 0; a < d->nacc; a++) lp += linvgamma(s->tau2[a], d->acc_shape[a], d->acc_scale[a]);
  lp += linvgamma(s->sig2_u, d->su_shape, d->su_scale) + linvgamma(s->sig2_e, d->se_shape, d->se_scale);
  lp += log(0.5); /* rho ~ U(-1, 1) */
  return lp;
}
