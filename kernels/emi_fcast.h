/* emi_fcast.h: scenario forecast trajectories from posterior draws of the IMEM-style model
 * (emi_imem.h), and exact quantiles of integer counts over trajectories spread across ranks.
 *
 * Trajectories
 * ------------
 * A posterior draw fixes beta, the series effects u_k, the AR(1) term e_k of the last fitted period,
 * rho and sigma_e.  Forecast period h = 0..H-1 (the periods after the fit) continues the AR(1):
 *     e_k,h = rho e_k,h-1 + sigma_e eps,   z_k,h = x_k,h' beta + u_k + e_k,h,
 * the flow count is Poisson(m_k,h exp(z_k,h)), m the scenario's multiplier (mobility shock, a
 * destination's boom: 1 = baseline), and, when a declaration coverage pi_k,h is given, the declared
 * part is Binomial(count, pi) and the undeclared part the rest.  Every number of trajectory `traj`
 * of scenario `scenario` comes from the Philox stream keyed by (seed, scenario, traj), in the fixed
 * order (series, period, what), so a trajectory is the same whichever rank or thread computes it.
 *
 * Exact quantiles (emi_qsel_*)
 * ----------------------------
 * The q-quantile of N integer values, R's type 7 (h = (N - 1) q; x_(j) + (h - j)(x_(j+1) - x_(j)),
 * j = floor h, 0-based order statistics), needs the order statistics j and j + 1.  Each is found by
 * histograms over a shrinking range: a target holds [lo, lo + B width) and the number of values below
 * lo; a histogram of B bins of `width` (a power of two) over that range (integer counts, summed over ranks exactly, in
 * any order) locates the bin holding rank j, which becomes the next range with width width / B,
 * until the width is 1 and the bin is the value.  ceil(log_B(max - min + 1)) passes over the
 * trajectories (each recomputed from its stream) give every quantile exactly, with O(B) memory per
 * target instead of all N values.  emi_qsel_ref is the plain twin: sort and pick.
 */
#ifndef EMI_FCAST_H
#define EMI_FCAST_H

#include <stddef.h>
#include <stdint.h>

#include "emi_err.h"

typedef struct {
  int K, H, P;          /* series, forecast periods, covariates */
  const double *x;      /* x[(k*H + h)*P + p]: covariates of the forecast periods */
  const double *beta;   /* P */
  const double *u;      /* K series effects */
  const double *e_last; /* K: AR(1) term of the last fitted period */
  double rho, sig_e;    /* AR(1) coefficient and innovation sd */
  const double *mult;   /* K*H flow multipliers (scenario), NULL = 1 */
  const double *cover;  /* K*H declaration coverage in [0, 1], NULL = no declared/undeclared split */
} emi_fc_draw_t;

/* Flow counts flow[k*H + h] of one trajectory and, when d->cover is set, its undeclared part
 * undecl[k*H + h] (may be NULL otherwise).  EMI_ERR_DOMAIN when an expected count is not finite or
 * beyond 1e15 (an explosive draw: the message names the series and period), or a coverage or
 * multiplier is out of range; EMI_ERR_ARG for bad sizes. */
emi_err_t emi_fc_trajectory(const emi_fc_draw_t *d, uint64_t seed, uint32_t scenario, uint64_t traj, int64_t *flow,
                            int64_t *undecl);

/* ------------------------------------------------------------------ exact quantiles */

#define EMI_QSEL_BINS 256

typedef struct {
  int64_t rank;   /* the order statistic sought (0-based) */
  int64_t lo;     /* current range [lo, lo + EMI_QSEL_BINS * width) */
  int64_t width;  /* bin width; 1 = the next histogram gives the value */
  int64_t below;  /* values < lo */
  int64_t value;  /* the result once done */
  int done;
} emi_qsel_t;

/* Start a target for order statistic `rank` of n values whose minimum and maximum are min, max. */
emi_err_t emi_qsel_init(emi_qsel_t *t, int64_t rank, int64_t n, int64_t min, int64_t max);
/* log2 of t->width (a power of two): the bin of v is (v - lo) >> emi_qsel_shift(t). */
static inline int emi_qsel_shift(const emi_qsel_t *t)
{
  int sh = 0;
  while (((int64_t)1 << sh) < t->width) sh++;
  return sh;
}
/* The histogram bin of v for target t, or -1 when v is outside its range. */
static inline int emi_qsel_bin(const emi_qsel_t *t, int64_t v)
{
  if (t->done || v < t->lo) return -1;
  int64_t b = (v - t->lo) / t->width;
  return b < EMI_QSEL_BINS ? (int)b : -1;
}
/* Narrow t with the histogram hist[EMI_QSEL_BINS] of all n values over its range (summed over
 * ranks).  EMI_ERR_INTERNAL if the histogram is inconsistent with the target. */
emi_err_t emi_qsel_update(emi_qsel_t *t, const int64_t *hist);
/* Type-7 quantile q from the values of order statistics j = floor((n-1) q) and j + 1 (vj1 is
 * ignored when j + 1 = n or the fraction is 0). */
double emi_qsel_type7(int64_t n, double q, int64_t vj, int64_t vj1);
/* The order statistics j = floor((n-1) q) and j + 1 (clamped to n - 1) a type-7 quantile needs. */
void emi_qsel_ranks(int64_t n, double q, int64_t *j, int64_t *j1);

/* Reference twin: type-7 quantile of n values by sorting a copy (work holds n values). */
double emi_qsel_ref(const int64_t *v, int64_t n, double q, int64_t *work);

#endif /* EMI_FCAST_H */
