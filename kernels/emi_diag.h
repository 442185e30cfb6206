/* emi_diag.h: MCMC convergence diagnostics of one scalar quantity over several chains:
 * rank-normalised split-R-hat with its folded twin, bulk and tail effective sample sizes, the
 * ESS and Monte Carlo standard error of the mean, and summary quantiles.
 *
 * Definitions: Vehtari, Gelman, Simpson, Carpenter & Buerkner (2021), "Rank-normalization,
 * folding, and localization: an improved R-hat for assessing convergence of MCMC", Bayesian
 * Analysis 16(2):667-718, as implemented by the R package posterior (rhat, ess_bulk, ess_tail,
 * ess_mean, mcse_mean) and Stan.  With C chains of n draws, T = C n draws in all:
 *
 *   split        chain c becomes two chains of N = floor(n / 2) draws, draws [0, N) and
 *                [n - N, n): an odd chain loses its middle draw (posterior's split_chains).
 *                M = 2 C split chains, S = M N split draws.
 *   ranks        average ranks over the S split draws (ties share the mean of their positions),
 *   z            z = Phi^-1((r - 3/8) / (S + 1/4))  (Blom), Phi^-1 = emi_normal_quantile (AS241).
 *   split-Rhat   of M chains of N values y: W = mean of the chain variances (divisor N - 1),
 *                B/N = variance of the chain means (divisor M - 1),
 *                R = sqrt(((N - 1)/N W + B/N) / W).
 *   rhat_bulk    split-Rhat of z(split draws);
 *   rhat_fold    split-Rhat of z(split |x - median|), the median over all T draws;
 *   rhat         max(rhat_bulk, rhat_fold).
 *   ESS          of M chains of N values y: acov_j(t) = sum_{i < N-t} yc_ji yc_j,i+t / N (the
 *                "biased" autocovariance of Geyer 1992, yc = y minus its chain mean),
 *                W = mean_j acov_j(0) N / (N - 1), var+ = (N - 1)/N W + B/N,
 *                rho_t = 1 - (W - mean_j acov_j(t)) / var+ ;  Geyer's initial positive sequence
 *                on the pairs rho_2k + rho_2k+1 (posterior's loop, pairs stop at lag N - 5), made
 *                monotone, tau = -1 + 2 sum_{t < 2K} rho_t + rho_2K (K the last pair computed; its
 *                even term counts when positive or when the pair was kept, the "improved"
 *                estimate for antithetic chains); K = 0 gives tau = 2 as in posterior and Stan;
 *                tau is capped below at 1 / log10(S), i.e. ESS <= S log10(S); ESS = S / tau.
 *   ess_bulk     ESS of z(split draws);
 *   ess_tail     min(ESS of split I(x <= q05), ESS of split I(x <= q95));
 *   ess_mean     ESS of the split draws themselves;  mcse_mean = sd / sqrt(ess_mean).
 *   mean, sd     over all T draws (sd with divisor T - 1);
 *   q05 q50 q95  over all T draws by R's quantile type 7 (emi_diag_quantile); q50 is the median
 *                the draws are folded about, q05 / q95 the ones the tail indicators use.
 *
 * No NaN or Inf ever reaches *out.  Where posterior returns NA (or Inf), the value is defined
 * here and a flag says so:
 *   EMI_DIAG_CONSTANT     all T draws equal (exactly, ==): mean = q05 = q50 = q95 = the value,
 *                         sd = mcse_mean = 0, rhat = rhat_bulk = rhat_fold = 1, every ESS = T.
 *                         No other flag is set.
 *   EMI_DIAG_RHAT_DEGEN   one split-Rhat's input is constant, e.g. the folded draws of a quantity
 *                         taking two values symmetric about its median (0/1 half and half): that
 *                         split-Rhat is 1 (no evidence either way) and enters the max as 1.
 *   EMI_DIAG_RHAT_STUCK   W = 0 < B: every split chain is constant but they differ (stuck chains):
 *                         that split-Rhat is DBL_MAX (the limit is +Inf).
 *   EMI_DIAG_ESS_DEGEN    one ESS's input is constant, e.g. I(x <= q95) when 5% or more of the
 *                         draws tie at the maximum: that ESS is T; ess_tail is still the min of
 *                         the two ESS (T for the constant one).
 *   EMI_DIAG_ESS_CAPPED   some ESS hit the S log10(S) cap (antithetic chains; posterior warns).
 *   EMI_DIAG_SHORT        N < 6 (n_draws < 12) and some ESS was computed (not constant-degenerate):
 *                         Geyer's sequence cannot start and each such ESS is
 *                         S / 2 by the K = 0 rule, a convention rather than an estimate (posterior
 *                         returns NA below N = 3).
 * Inputs are exact: a chain is constant when its values compare equal (posterior uses an absolute
 * tolerance of 2.2e-16, which calls a quantity of scale 1e-17 constant).
 *
 * Errors (*out is not written):
 *   EMI_ERR_ARG     NULL pointer, n_chains = 0, n_draws < 4 (a split chain needs two draws for a
 *                   variance), stride = 0, sizes whose product overflows, lwork too small;
 *   EMI_ERR_DOMAIN  a NaN or infinite draw, or one beyond EMI_DIAG_MAX_ABS = 1e150 in magnitude
 *                   (whose squares would overflow; the message names its chain, draw and value).
 *
 * Cost and memory: one merge sort of the T draws and one of the S folded draws, S normal
 * quantiles, and per ESS O(S L) for the autocovariances up to the Geyer truncation lag L, computed
 * lag by lag directly (no FFT) and only as far as the sequence goes: L is ~10 for well mixing
 * chains and ~5 times the integrated autocorrelation time in general, but reaches N for chains that
 * never decorrelate (trends, stuck chains): up to 4 S N multiply-adds.  The caller gives a
 * workspace of emi_diag_work_len() doubles (about 6 T); nothing is allocated.
 *
 * Thread safety and reproducibility: no globals, no allocation, no OpenMP inside; errors go to
 * the calling thread's error state.  Call it from an OpenMP loop over parameters with one workspace
 * per thread.  All sums run in a fixed order, so the result depends only on the draws.
 */
#ifndef EMI_DIAG_H
#define EMI_DIAG_H

#include <stddef.h>

#include "emi_err.h"

#define EMI_DIAG_CONSTANT   0x01 /* all draws equal; documented values above */
#define EMI_DIAG_RHAT_DEGEN 0x02 /* a split-Rhat input constant: that split-Rhat = 1 */
#define EMI_DIAG_RHAT_STUCK 0x04 /* within-chain variance 0, between > 0: that split-Rhat = DBL_MAX */
#define EMI_DIAG_ESS_DEGEN  0x08 /* an ESS input constant: that ESS = T */
#define EMI_DIAG_ESS_CAPPED 0x10 /* an ESS capped at S log10(S) */
#define EMI_DIAG_SHORT      0x20 /* n_draws < 12: ESS = S / 2 by convention */

#define EMI_DIAG_MIN_DRAWS 4 /* draws per chain */
#define EMI_DIAG_MAX_ABS 1e150 /* largest |draw| accepted */

typedef struct {
  double mean, sd;                 /* over all T draws (sd: divisor T - 1) */
  double q05, q50, q95;            /* quantiles of all T draws, R type 7 */
  double mcse_mean;                /* sd / sqrt(ess_mean) */
  double rhat;                     /* max(rhat_bulk, rhat_fold) */
  double rhat_bulk, rhat_fold;     /* rank-normalised split-Rhat of the draws / of |x - q50| */
  double ess_bulk, ess_tail;       /* bulk ESS; min of the ESS of I(x <= q05) and I(x <= q95) */
  double ess_mean;                 /* ESS of the (split) draws themselves */
  int flags;                       /* EMI_DIAG_* bits */
} emi_diag_t;

/* Doubles of workspace emi_diag_compute() needs for n_chains chains of n_draws draws
 * (5 T + S + N + 2 M + 2, about 6 T); 0 if the sizes are invalid (emi_diag_compute says why). */
size_t emi_diag_work_len(size_t n_chains, size_t n_draws);

/* Diagnostics of one quantity.  Draw d of chain c is draws[(c * n_draws + d) * stride], so one
 * parameter of a chain x draw x parameter array is read in place with stride = n_params.
 * work holds lwork >= emi_diag_work_len(n_chains, n_draws) doubles, overwritten. */
emi_err_t emi_diag_compute(const double *draws, size_t n_chains, size_t n_draws, size_t stride,
                           double *restrict work, size_t lwork, emi_diag_t *out);

/* Quantile p of n values sorted in increasing order, R's type 7 (Hyndman & Fan 1996, definition 7;
 * numpy's default "linear"): h = (n - 1) p, q = x[floor h] + (h - floor h) (x[floor h + 1] -
 * x[floor h]), exactly x[floor h] when the two neighbours are equal or h is whole.
 * NaN if n = 0 or p is not in [0, 1]. */
double emi_diag_quantile(const double *sorted, size_t n, double p);

#endif /* EMI_DIAG_H */
