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
#include "emi_vmath.h"

/* Stream purposes (emi_philox.h): one per kind of draw; entity = chain << 40 | index. */
enum {
  P_INIT = 0x0200,
  P_ETA = 0x0201,
  P_THETA = 0x0202,
  P_UE = 0x0203,
  P_HYPER = 0x0204,
  P_COLL = 0x0205,
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
  int32_t *rt, *ra; /* step 2b: period and accuracy class of each report in ri order */
  double *res;    /* step 2b: eta - offset - x'beta of each report in ri order */
  double *pa, *la; /* step 2b: 1 / tau_a^2 and log tau_a^2 per accuracy class */
  double *cd, *lb, *agg, *fk; /* step 2b: per series report part of the precision (K x T, K x T, K x 4), log marginal */
  double *nai, *vt; /* step 4b: the counts in ai order (as doubles); scratch of 2 nrep */
  int64_t *kas;   /* series with a report of class a: kai[kas[a] .. kas[a+1]) (series order) */
  int *kai;
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
  free(w->rt), free(w->ra), free(w->res), free(w->pa), free(w->la);
  free(w->cd), free(w->lb), free(w->agg), free(w->fk), free(w->kas), free(w->kai), free(w->nai), free(w->vt);
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
  EMI_MALLOC(w->rt, sz(d->nrep), "report periods");
  EMI_MALLOC(w->ra, sz(d->nrep), "report classes");
  EMI_MALLOC(w->res, sz(d->nrep), "report residuals");
  EMI_MALLOC(w->pa, sz(d->nacc), "class precisions");
  EMI_MALLOC(w->la, sz(d->nacc), "class log variances");
  EMI_MALLOC(w->cd, sz(K) * sz(d->T), "marginal caches");
  EMI_MALLOC(w->lb, sz(K) * sz(d->T), "marginal caches");
  EMI_MALLOC(w->agg, sz(K) * 4, "marginal caches");
  EMI_MALLOC(w->fk, sz(K), "marginal caches");
  EMI_CALLOC(w->kas, sz(d->nacc) + 1, "class series lists");
  EMI_MALLOC(w->nai, sz(d->nrep), "report counts");
  EMI_MALLOC(w->vt, 2 * sz(d->nrep), "exp scratch");
  EMI_MALLOC(w->kai, sz(K) * sz(d->nacc), "class series lists");
  for (int64_t r = 0; r < d->nrep; r++) w->as_[d->rep_acc[r] + 1]++;
  for (int a = 0; a < d->nacc; a++) w->as_[a + 1] += w->as_[a];
  {
    int64_t *pos = NULL;
    EMI_MALLOC(pos, sz(d->nacc), "accuracy lists");
    memcpy(pos, w->as_, (size_t)d->nacc * sizeof *pos);
    for (int64_t r = 0; r < d->nrep; r++) w->ai[pos[d->rep_acc[r]]++] = r;
    free(pos);
  }
  for (int64_t j = 0; j < d->nrep; j++) w->nai[j] = (double)d->rep_n[w->ai[j]];
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
  for (int64_t j = 0; j < d->nrep; j++) w->rt[j] = d->rep_t[w->ri[j]], w->ra[j] = d->rep_acc[w->ri[j]];
  for (int a = 0; a < d->nacc; a++) { /* series with a report of class a, in series order */
    w->kas[a + 1] = w->kas[a];
    for (int k = 0; k < K; k++) {
      int has = 0;
      for (int64_t j = w->rs[k]; j < w->rs[k + 1] && !has; j++) has = w->ra[j] == a;
      if (has) w->kai[w->kas[a + 1]++] = k;
    }
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

/* ------------------------------------------------------------------ step 2b: error scales, rho, sigma_e with u, e integrated out */

void emi_imem_marg_hyp(double s2u, double s2e, double rho, emi_imem_marg_hyp_t *h)
{
  h->s2u = s2u, h->s2e = s2e, h->rho = rho;
  h->pu = 1.0 / s2u, h->pe = 1.0 / s2e;
  h->ldet_s2u = log(s2u), h->ldet_s2e = log(s2e), h->ldet_rho = log1p(-rho * rho);
}

/* Series' log marginal in O(T + n).  With x = (e_0..e_T-1, u) ~ N(0, L0^-1) and w = H x + xi,
 * xi ~ N(0, D), the matrix determinant lemma and Woodbury's identity give
 *     log N(w; 0, D + H L0^-1 H') = -n/2 log 2pi - 1/2 log|D| - 1/2 w'D^-1 w
 *                                   + 1/2 b'A^-1 b - 1/2 log|A| + 1/2 log|L0|,
 * A = L0 + H'D^-1 H, b = H'D^-1 w.  A is tridiagonal in e (the AR(1) precision plus the reports'
 * precisions on the diagonal) bordered by u's row and column, so with e first its LDL' factor has
 * no fill but u's row: B = L_B D_B L_B' (one pass), z = L_B^-1 c (c = the e-u coupling = the
 * diagonal report precisions), Schur complement S = A_uu - z'D_B^-1 z.  log|L0| = -log sigma_u^2
 * - T log sigma_e^2 + log(1 - rho^2) (the AR(1) precision's determinant). */
/* The report part of A and b for one series: cd[t] = sum of the report precisions in period t (A's
 * diagonal and e-u coupling), lb[t] = sum of precision x residual (b), and agg = (A_uu - 1/sigma_u^2,
 * b_u, w'D^-1 w, log|D|). */
static inline void marg_gather(int T, int n, const int32_t *restrict t, const int32_t *restrict a,
                               const double *restrict pa, const double *restrict la, const double *restrict res,
                               double *restrict cd, double *restrict lb, double *restrict agg)
{
  for (int i = 0; i < T; i++) cd[i] = 0.0, lb[i] = 0.0;
  double au = 0.0, lu = 0.0, sq = 0.0, sl = 0.0;
  for (int j = 0; j < n; j++) {
    double p = pa[a[j]], pr = p * res[j];
    cd[t[j]] += p;
    lb[t[j]] += pr;
    lu += pr;
    au += p;
    sq += pr * res[j];
    sl += la[a[j]];
  }
  agg[0] = au, agg[1] = lu, agg[2] = sq, agg[3] = sl;
}

/* The log marginal from the gathered report part (one forward pass of the LDL' factor). */
static inline double marg_eval(int T, int n, const double *restrict cd, const double *restrict lb,
                               const double *restrict agg, const emi_imem_marg_hyp_t *h)
{
  const double pe = h->pe, rho = h->rho, off = -rho * pe, mid = (1.0 + rho * rho) * pe;
  double ip = 0.0, zp = 0.0, vp = 0.0, S = h->pu + agg[0], qe = 0.0, cr = 0.0, prod = 1.0, lprod = 0.0;
  for (int i = 0; i < T; i++) {
    double bt = (T == 1 ? (1.0 - rho * rho) * pe : (i == 0 || i == T - 1) ? pe : mid) + cd[i];
    double m = off * ip; /* L_B's sub-diagonal: off / D_{t-1} (0 for t = 0) */
    double Dt = bt - m * off, zt = cd[i] - m * zp, vt = lb[i] - m * vp;
    if (!(Dt > 0.0)) return -INFINITY;
    double inv = 1.0 / Dt;
    S -= zt * zt * inv;
    qe += vt * vt * inv;
    cr += zt * vt * inv;
    prod *= Dt;
    if (prod > 1e200 || prod < 1e-200) lprod += log(prod), prod = 1.0;
    ip = inv, zp = zt, vp = vt;
  }
  if (!(S > 0.0)) return -INFINITY;
  double wu = agg[1] - cr, q = qe + wu * wu / S, ldA = lprod + log(prod * S);
  double ldL0 = -h->ldet_s2u - T * h->ldet_s2e + h->ldet_rho;
  return -0.5 * n * 1.8378770664093453 - 0.5 * agg[3] - 0.5 * agg[2] + 0.5 * q - 0.5 * ldA + 0.5 * ldL0;
}

double emi_imem_marg_series(int T, int n, const int32_t *restrict t, const int32_t *restrict a,
                            const double *restrict pa, const double *restrict la, const double *restrict res,
                            const emi_imem_marg_hyp_t *h, double *restrict scratch)
{
  double agg[4];
  marg_gather(T, n, t, a, pa, la, res, scratch, scratch + T, agg);
  return marg_eval(T, n, scratch, scratch + T, agg, h);
}

/* The reference twin: V = sigma_u^2 11' + sigma_e^2 rho^|s-t| / (1 - rho^2) + diag(tau^2) built densely
 * and factored by LAPACKE (what series_theta does), log N(w; 0, V) = -n/2 log 2pi - sum log L_ii - |L^-1 w|^2/2. */
double emi_imem_marg_series_ref(int T, int n, const int32_t *t, const int32_t *a, const double *tau2,
                                const double *res, double s2u, double s2e, double rho, double *scratch)
{
  double *V = scratch, *y = scratch + (size_t)n * n;
  (void)T;
  for (int i = 0; i < n; i++) {
    for (int j = 0; j < n; j++) {
      int lag = t[i] > t[j] ? t[i] - t[j] : t[j] - t[i];
      V[i + (size_t)j * n] = s2u + s2e * pow(rho, lag) / (1.0 - rho * rho) + (i == j ? tau2[a[i]] : 0.0);
    }
    y[i] = res[i];
  }
  if (n == 0) return 0.0;
  if (LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, 'L', n, V, n) != 0) return -INFINITY;
  cblas_dtrsv(CblasColMajor, CblasLower, CblasNoTrans, CblasNonUnit, n, V, n, y, 1);
  double f = -0.5 * n * log(2.0 * 3.141592653589793);
  for (int i = 0; i < n; i++) f -= log(V[i + (size_t)i * n]) + 0.5 * y[i] * y[i];
  return f;
}

/* Step 2b's caches: per series the gathered report part (w->cd, w->lb: K x T; w->agg: K x 4) and
 * its log marginal w->fk.  gather_series refreshes series k's report part (after a tau changed). */
static void gather_series(const emi_imem_data_t *d, imem_ws_t *w, int k)
{
  int64_t j0 = w->rs[k];
  int T = d->T;
  marg_gather(T, (int)(w->rs[k + 1] - j0), w->rt + j0, w->ra + j0, w->pa, w->la, w->res + j0, w->cd + (size_t)k * T,
              w->lb + (size_t)k * T, w->agg + (size_t)k * 4);
}

static double eval_series(const emi_imem_data_t *d, const imem_ws_t *w, int k, const emi_imem_marg_hyp_t *h)
{
  int T = d->T, n = (int)(w->rs[k + 1] - w->rs[k]);
  if (n == 0) return 0.0;
  return marg_eval(T, n, w->cd + (size_t)k * T, w->lb + (size_t)k * T, w->agg + (size_t)k * 4, h);
}

/* Sum of the series' log marginals in series order (all series: rho and sigma_e moved). */
static double marg_all(const emi_imem_data_t *d, imem_ws_t *w, const emi_imem_marg_hyp_t *h)
{
  double f = 0.0;
  for (int k = 0; k < d->K; k++) f += (w->fk[k] = eval_series(d, w, k, h));
  return f;
}

/* The same when only tau_a moved: the series with a class-a report are gathered and evaluated again,
 * the others keep their cached value; the sum still runs in series order. */
static double marg_class(const emi_imem_data_t *d, imem_ws_t *w, int a, const emi_imem_marg_hyp_t *h)
{
  for (int64_t i = w->kas[a]; i < w->kas[a + 1]; i++) {
    int k = w->kai[i];
    gather_series(d, w, k);
    w->fk[k] = eval_series(d, w, k, h);
  }
  double f = 0.0;
  for (int k = 0; k < d->K; k++) f += w->fk[k];
  return f;
}

enum { COLL_TAU, COLL_RHO, COLL_SE };
typedef struct {
  const emi_imem_data_t *d;
  imem_ws_t *w;
  const emi_imem_state_t *s;
  emi_imem_marg_hyp_t h; /* for the tau updates */
  int what, a;
} coll_ctx_t;

/* log target of step 2b in the coordinate x of parameter `what` (prior and Jacobian included):
 * tau_a: x = log tau_a, InvGamma on tau^2, Jacobian 2 e^2x; rho: x = atanh rho, uniform prior,
 * Jacobian 1 - rho^2; sigma_e^2: x = log sigma_e^2, InvGamma, Jacobian e^x. */
static double coll_logf(coll_ctx_t *c, double x)
{
  const emi_imem_data_t *d = c->d;
  const emi_imem_state_t *s = c->s;
  if (c->what == COLL_TAU) {
    double t2 = exp(2.0 * x);
    if (!(t2 > 0.0 && t2 < INFINITY)) return -INFINITY;
    c->w->pa[c->a] = 1.0 / t2, c->w->la[c->a] = 2.0 * x;
    return marg_class(d, c->w, c->a, &c->h) - (d->acc_shape[c->a] + 1.0) * 2.0 * x - d->acc_scale[c->a] / t2 + 2.0 * x;
  }
  emi_imem_marg_hyp_t h;
  if (c->what == COLL_RHO) {
    double rho = tanh(x);
    if (!(rho > -1.0 && rho < 1.0)) return -INFINITY;
    emi_imem_marg_hyp(s->sig2_u, s->sig2_e, rho, &h);
    return marg_all(d, c->w, &h) + h.ldet_rho;
  }
  double s2e = exp(x);
  if (!(s2e > 0.0 && s2e < INFINITY)) return -INFINITY;
  emi_imem_marg_hyp(s->sig2_u, s2e, s->rho, &h);
  return marg_all(d, c->w, &h) - (d->se_shape + 1.0) * x - d->se_scale / s2e + x;
}

/* One slice-sampling update (Neal 2003, fig. 3: stepping out with at most m steps split at random
 * between the two sides, then shrinkage), exact for any fixed width. */
static double coll_slice(coll_ctx_t *c, double x0, double wdt, emi_stream_t *st)
{
  const int m = 32;
  double y = coll_logf(c, x0) - emi_std_exponential(st);
  double L = x0 - wdt * emi_uniform(st), R = L + wdt;
  int J = (int)floor(m * emi_uniform(st)), Kr = m - 1 - J;
  while (J-- > 0 && coll_logf(c, L) > y) L -= wdt;
  while (Kr-- > 0 && coll_logf(c, R) > y) R += wdt;
  for (int h = 0; h < 200; h++) {
    double x = L + (R - L) * emi_uniform(st);
    if (coll_logf(c, x) > y) return x;
    if (x < x0) L = x;
    else R = x;
  }
  return x0;
}

/* Step 2b: tau_a (each class with reports), rho and sigma_e^2 given eta and theta with u and e
 * integrated out (the same collapsed model as step 2), each by slice sampling.  The centred draws of
 * step 4 condition on the errors xi = eta - z, whose split from the AR terms moves slowly when tau
 * is small against sigma_e (tau and the AR terms then trade off); integrated over (u, e) the move
 * is free of that.  Valid as a partially collapsed Gibbs step (van Dyk & Park 2008): steps 2 and 2b
 * sample conditionals of p(theta, tau, rho, sigma_e | eta, sigma_u), u and e are drawn afresh from
 * their full conditional in step 3 right after, and nothing between uses the old u, e. */
static emi_err_t step_collapsed(const emi_imem_data_t *d, uint64_t seed, int chain, emi_imem_state_t *s,
                                imem_ws_t *w)
{
  emi_err_t err = EMI_SUCCESS;
  emi_stream_t st;
  EMI_TRY(emi_stream_init(&st, seed, P_COLL, ENTITY(chain, 0), (uint32_t)s->iter));
  for (int k = 0; k < d->K; k++)
    for (int64_t j = w->rs[k]; j < w->rs[k + 1]; j++) {
      int64_t r = w->ri[j];
      w->res[j] = s->eta[r] - rep_offset(d, s, r) - xb(d, s->beta, k, w->rt[j]);
    }
  for (int a = 0; a < d->nacc; a++) w->pa[a] = 1.0 / s->tau2[a], w->la[a] = log(s->tau2[a]);
  coll_ctx_t c = {.d = d, .w = w, .s = s};
  emi_imem_marg_hyp(s->sig2_u, s->sig2_e, s->rho, &c.h);
  for (int k = 0; k < d->K; k++) gather_series(d, w, k);
  marg_all(d, w, &c.h);
  c.what = COLL_TAU;
  for (int a = 0; a < d->nacc; a++) {
    if (w->as_[a + 1] == w->as_[a]) continue;
    c.a = a;
    double x = coll_slice(&c, 0.5 * log(s->tau2[a]), 0.5, &st);
    s->tau2[a] = exp(2.0 * x);
    w->pa[a] = 1.0 / s->tau2[a], w->la[a] = 2.0 * x;
    marg_class(d, w, a, &c.h); /* the caches at the value kept */
  }
  c.what = COLL_RHO;
  s->rho = tanh(coll_slice(&c, atanh(s->rho), 1.0, &st));
  c.what = COLL_SE;
  s->sig2_e = exp(coll_slice(&c, log(s->sig2_e), 0.5, &st));
cleanup:
  return err;
}

/* ------------------------------------------------------------------ step 3: series effects and AR terms */

/* Exact draw of (u_k, e_k0..e_k,T-1) given everything else, from the report part gathered by step 2b
 * (marg_gather): N(A^-1 b, A^-1) with A = M Delta M', M = [L_B 0; z'D_B^-1 1], Delta = diag(D_B, S)
 * (the factor of marg_eval), so x = M^-T (Delta^-1 M^-1 b + Delta^-1/2 eps): u first, then e by a
 * backward pass of L_B'.  eps[0] is u's normal, eps[1 + t] e_t's.  scratch: >= 4 T.  0, or 1 when
 * the precision is not positive definite. */
static inline int ue_draw(int T, const double *restrict cd, const double *restrict lb, const double *restrict agg,
                          const emi_imem_marg_hyp_t *h, const double *restrict eps, double *restrict u,
                          double *restrict e, double *restrict scratch)
{
  double *iv = scratch, *zv = iv + T, *vv = zv + T, *mv = vv + T;
  const double pe = h->pe, rho = h->rho, off = -rho * pe, mid = (1.0 + rho * rho) * pe;
  double ip = 0.0, zp = 0.0, vp = 0.0, S = h->pu + agg[0], cr = 0.0;
  for (int i = 0; i < T; i++) {
    double bt = (T == 1 ? (1.0 - rho * rho) * pe : (i == 0 || i == T - 1) ? pe : mid) + cd[i];
    double m = off * ip;
    double Dt = bt - m * off, zt = cd[i] - m * zp, vt = lb[i] - m * vp;
    if (!(Dt > 0.0)) return 1;
    double inv = 1.0 / Dt;
    S -= zt * zt * inv;
    cr += zt * vt * inv;
    iv[i] = inv, zv[i] = zt, vv[i] = vt, mv[i] = m;
    ip = inv, zp = zt, vp = vt;
  }
  if (!(S > 0.0)) return 1;
  double xu = (agg[1] - cr) / S + eps[0] / sqrt(S), xn = 0.0;
  for (int i = T - 1; i >= 0; i--) {
    double g = vv[i] * iv[i] + eps[1 + i] * sqrt(iv[i]) - zv[i] * iv[i] * xu;
    double x = i < T - 1 ? g - mv[i + 1] * xn : g;
    e[i] = x;
    xn = x;
  }
  *u = xu;
  return 0;
}

int emi_imem_ue_draw(int T, int n, const int32_t *restrict t, const int32_t *restrict a, const double *restrict pa,
                     const double *restrict la, const double *restrict res, const emi_imem_marg_hyp_t *h,
                     const double *restrict eps, double *restrict u, double *restrict e, double *restrict scratch)
{
  double agg[4];
  marg_gather(T, n, t, a, pa, la, res, scratch, scratch + T, agg);
  return ue_draw(T, scratch, scratch + T, agg, h, eps, u, e, scratch + 2 * (size_t)T);
}

/* The reference twin: the dense (T+1) x (T+1) precision with u first, LAPACKE Cholesky A = C C',
 * x = C^-T (C^-1 b + eps) (the draw of step 3 before step 2b existed).  scratch: >= (T+1)(T+2). */
int emi_imem_ue_draw_ref(int T, int n, const int32_t *t, const int32_t *a, const double *tau2, const double *res,
                         double s2u, double s2e, double rho, const double *eps, double *u, double *e, double *scratch)
{
  int m = T + 1;
  double *A = scratch, *lin = A + (size_t)m * m;
  memset(A, 0, ((size_t)m * m + m) * sizeof *A);
  double pe = 1.0 / s2e;
  A[0] = 1.0 / s2u;
  if (T == 1) A[1 + m] = (1.0 - rho * rho) * pe;
  else
    for (int i = 0; i < T; i++) {
      A[(i + 1) + (size_t)(i + 1) * m] = (i == 0 || i == T - 1 ? 1.0 : 1.0 + rho * rho) * pe;
      if (i > 0) A[(i + 1) + (size_t)i * m] = -rho * pe;
    }
  for (int j = 0; j < n; j++) {
    int i = t[j] + 1;
    double pr = 1.0 / tau2[a[j]];
    A[0] += pr;
    A[i + (size_t)i * m] += pr;
    A[i] += pr;
    lin[0] += pr * res[j];
    lin[i] += pr * res[j];
  }
  if (LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, 'L', m, A, m) != 0) return 1;
  cblas_dtrsv(CblasColMajor, CblasLower, CblasNoTrans, CblasNonUnit, m, A, m, lin, 1);
  for (int i = 0; i < m; i++) lin[i] += eps[i];
  cblas_dtrsv(CblasColMajor, CblasLower, CblasTrans, CblasNonUnit, m, A, m, lin, 1);
  *u = lin[0];
  memcpy(e, lin + 1, (size_t)T * sizeof *lin);
  return 0;
}

/* Step 3 reads step 2b's per-series report part (w->cd, w->lb, w->agg: computed from this sweep's
 * eta, beta, coverages and the tau kept), which rho and sigma_e do not enter. */
static emi_err_t step_ue(const emi_imem_data_t *d, uint64_t seed, int chain, emi_imem_state_t *s, imem_ws_t *w)
{
  int K = d->K, T = d->T, anyfail = 0;
  emi_imem_marg_hyp_t h;
  emi_imem_marg_hyp(s->sig2_u, s->sig2_e, s->rho, &h);
#pragma omp parallel reduction(| : anyfail)
  {
    double *scratch = malloc(((size_t)5 * T + 2) * sizeof *scratch);
    if (!scratch) anyfail = 1;
#pragma omp for schedule(static)
    for (int k = 0; k < K; k++) {
      emi_stream_t st;
      if (!scratch || emi_stream_init(&st, seed, P_UE, ENTITY(chain, k), (uint32_t)s->iter) != EMI_SUCCESS) {
        w->fail[k] = 2;
        anyfail = 1;
        continue;
      }
      double *eps = scratch + 4 * (size_t)T;
      for (int i = 0; i <= T; i++) eps[i] = emi_std_normal(&st);
      w->fail[k] = ue_draw(T, w->cd + (size_t)k * T, w->lb + (size_t)k * T, w->agg + (size_t)k * 4, &h, eps, &s->u[k],
                           s->e + (size_t)k * T, scratch);
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
static double tau_logf(const emi_imem_data_t *d, imem_ws_t *w, int a, double l)
{
  double sc = exp(l), f = 0.0;
  int64_t j0 = w->as_[a], n = w->as_[a + 1] - j0;
  double *eta = w->vt, *ex = w->vt + n;
  const double *mr = w->mr + j0, *ep = w->ep + j0, *na = w->nai + j0;
  for (int64_t j = 0; j < n; j++) eta[j] = mr[j] + sc * ep[j];
  emi_vexp(n, eta, ex); /* the hot loop of step 4b: vectorised exp (kernels/emi_vmath.h) */
  for (int64_t j = 0; j < n; j++) f += na[j] * eta[j] - ex[j];
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
  EMI_CALL(step_collapsed(d, seed, chain, s, w));
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
