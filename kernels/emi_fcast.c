/* emi_fcast.c: forecast trajectories and exact quantiles by histogram selection (emi_fcast.h). */
#include "emi_fcast.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "emi_dist.h"
#include "emi_philox.h"

#define P_FCAST 0x0301u /* stream purpose of forecast trajectories */

emi_err_t emi_fc_trajectory(const emi_fc_draw_t *d, uint64_t seed, uint32_t scenario, uint64_t traj, int64_t *flow,
                            int64_t *undecl)
{
  if (!d || !flow || d->K < 1 || d->H < 1 || d->P < 1 || !d->x || !d->beta || !d->u || !d->e_last)
    return EMI_ERROR(EMI_ERR_ARG, "forecast: bad trajectory arguments");
  if (d->cover && !undecl) return EMI_ERROR(EMI_ERR_ARG, "forecast: a coverage needs the undeclared output");
  if (!(fabs(d->rho) < 1.0) || !(d->sig_e >= 0.0) || !isfinite(d->sig_e))
    return EMI_ERROR(EMI_ERR_DOMAIN, "forecast: rho %g, sigma_e %g outside the model's range", d->rho, d->sig_e);
  emi_stream_t st;
  EMI_CALL(emi_stream_init(&st, seed, P_FCAST, traj, scenario));
  for (int k = 0; k < d->K; k++) {
    double e = d->e_last[k];
    for (int h = 0; h < d->H; h++) {
      size_t i = (size_t)k * d->H + h;
      e = d->rho * e + d->sig_e * emi_std_normal(&st);
      const double *x = d->x + i * d->P;
      double z = d->u[k] + e;
      for (int p = 0; p < d->P; p++) z += x[p] * d->beta[p];
      double m = d->mult ? d->mult[i] : 1.0;
      if (!(m >= 0.0) || !isfinite(m))
        return EMI_ERROR(EMI_ERR_DOMAIN, "forecast: multiplier %g of series %d, period %d: expected a finite value >= 0", m,
                         k, h);
      double mean = m * exp(z);
      if (!(mean <= EMI_POISSON_MEAN_MAX))
        return EMI_ERROR(EMI_ERR_DOMAIN, "forecast: expected count %g of series %d, period %d beyond %g (an explosive "
                         "posterior draw or multiplier)", mean, k, h, EMI_POISSON_MEAN_MAX);
      int64_t n = 0;
      EMI_CALL(emi_poisson_draw(&st, mean, &n));
      flow[i] = n;
      if (d->cover) {
        double pi = d->cover[i];
        if (!(pi >= 0.0 && pi <= 1.0))
          return EMI_ERROR(EMI_ERR_DOMAIN, "forecast: coverage %g of series %d, period %d outside [0, 1]", pi, k, h);
        int64_t dec = 0;
        EMI_CALL(emi_binomial_draw(&st, n, pi, &dec));
        undecl[i] = n - dec;
      }
    }
  }
  return EMI_SUCCESS;
}

/* ------------------------------------------------------------------ exact quantiles */

emi_err_t emi_qsel_init(emi_qsel_t *t, int64_t rank, int64_t n, int64_t min, int64_t max)
{
  if (!t || n < 1 || rank < 0 || rank >= n || max < min)
    return EMI_ERROR(EMI_ERR_ARG, "qsel: rank %lld of %lld values in [%lld, %lld]", (long long)rank, (long long)n,
                     (long long)min, (long long)max);
  memset(t, 0, sizeof *t);
  t->rank = rank;
  t->lo = min;
  t->below = 0;
  if (min == max) {
    t->value = min, t->done = 1, t->width = 1;
    return EMI_SUCCESS;
  }
  /* width: the smallest power of two such that B bins cover [min, max] ((max - min) may be near 2^63:
   * computed without overflow).  Powers of two stay powers of two when divided by B = 2^8, so bins are
   * found by shifts (emi_qsel_shift). */
  uint64_t range = (uint64_t)max - (uint64_t)min + 1u, need = range / EMI_QSEL_BINS + (range % EMI_QSEL_BINS != 0);
  uint64_t w = 1;
  while (w < need) w <<= 1;
  t->width = (int64_t)w;
  return EMI_SUCCESS;
}

emi_err_t emi_qsel_update(emi_qsel_t *t, const int64_t *hist)
{
  if (t->done) return EMI_SUCCESS;
  int64_t cum = t->below;
  for (int b = 0; b < EMI_QSEL_BINS; b++) {
    if (hist[b] < 0) return EMI_ERROR(EMI_ERR_INTERNAL, "qsel: negative histogram count");
    if (cum + hist[b] > t->rank) {
      t->below = cum;
      t->lo += (int64_t)b * t->width;
      if (t->width == 1) {
        t->value = t->lo, t->done = 1;
      } else
        t->width = t->width >= EMI_QSEL_BINS ? t->width / EMI_QSEL_BINS : 1;
      return EMI_SUCCESS;
    }
    cum += hist[b];
  }
  return EMI_ERROR(EMI_ERR_INTERNAL, "qsel: rank %lld not inside the histogram (%lld values up to its end)",
                   (long long)t->rank, (long long)cum);
}

void emi_qsel_ranks(int64_t n, double q, int64_t *j, int64_t *j1)
{
  double h = (double)(n - 1) * q;
  int64_t jj = (int64_t)floor(h);
  if (jj < 0) jj = 0;
  if (jj > n - 1) jj = n - 1;
  *j = jj;
  *j1 = jj + 1 < n ? jj + 1 : n - 1;
}

double emi_qsel_type7(int64_t n, double q, int64_t vj, int64_t vj1)
{
  double h = (double)(n - 1) * q;
  double fr = h - floor(h);
  if (fr == 0.0 || vj1 == vj) return (double)vj;
  /* numpy's interpolation (numpy.lib.function_base._lerp): from the nearer end, so that the result
   * is the same double as np.quantile's default ('linear', R's type 7) */
  double a = (double)vj, b = (double)vj1, d = b - a;
  return fr >= 0.5 ? b - d * (1.0 - fr) : a + d * fr;
}

static int cmp_i64(const void *a, const void *b)
{
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

double emi_qsel_ref(const int64_t *v, int64_t n, double q, int64_t *work)
{
  memcpy(work, v, (size_t)n * sizeof *work);
  qsort(work, (size_t)n, sizeof *work, cmp_i64);
  int64_t j, j1;
  emi_qsel_ranks(n, q, &j, &j1);
  return emi_qsel_type7(n, q, work[j], work[j1]);
}
