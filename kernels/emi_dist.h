/* emi_dist.h: random variates drawn from a Philox stream (emi_philox.h).
 *
 * Conventions
 * -----------
 * - A function whose draw cannot fail returns the value: emi_std_normal, emi_std_exponential
 *   (and emi_uniform / emi_uniform_01 in emi_philox.h).
 * - A function with parameters is CHECKED: emi_<dist>_draw(s, params..., &out) returns
 *   EMI_ERR_DOMAIN, with a message naming the parameter, its value and the accepted range, for
 *   NaN, infinities and values outside the domain; then *out is not written and no word of the
 *   stream is consumed (one exception, emi_negbin_draw, below).  There is no unchecked variant:
 *   the checks are a few comparisons against draws that cost logs and exps, and one entry point
 *   per distribution keeps one behaviour.
 * - Every sampler is exact up to floating-point rounding: no normal approximations, no truncated
 *   series.  The only truncation is that of the uniform grid (emi_uniform is k * 2^-53, so e.g.
 *   exponential draws are <= 53 ln 2 = 36.7 and normal draws |z| <= 8.21; probability ~1e-16).
 * - Rejection samplers consume a variable number of stream words.  Draws are reproducible
 *   (same stream, same sequence of calls -> same values) but a draw's position in the stream
 *   depends on the draws before it: give independent quantities their own stream indices.
 * - Integer draws are int64_t.
 *
 * Methods
 * -------
 *   normal        inversion of emi_uniform with Wichura's AS241 (PPND16, relative error ~1e-16):
 *                 one uniform per draw, monotone in u
 *   exponential   -log(u), u = emi_uniform
 *   gamma         Marsaglia & Tsang (2000), ACM TOMS 26:363; shape < 1 by their boost
 *                 G(a) = G(a + 1) * U^(1/a) (values below ~1e-308 underflow to 0 for tiny shapes)
 *   beta          a <= 1 and b <= 1: Johnk (1964); otherwise X / (X + Y), X ~ G(a), Y ~ G(b).
 *                 Both evaluated from log X and log Y, so that U^(1/a) or G(a) underflowing for
 *                 small shapes does not turn a representable ratio into 0
 *   poisson       mean < 10: inversion (sequential search from 0);
 *                 mean >= 10: Hormann (1993) PTRS, transformed rejection with squeeze,
 *                 Insurance: Mathematics and Economics 12:39.  The acceptance test evaluates
 *                 log p(k) with Loader's (2000) saddle-point form (stirlerr + bd0), which has no
 *                 cancellation, so the sampler stays exact for means up to EMI_POISSON_MEAN_MAX
 *   binomial      p > 1/2 by symmetry (n - X with 1 - p);  n * min(p, 1-p) < 10: inversion;
 *                 otherwise Hormann (1993) BTRS, J. Statist. Comput. Simul. 46:101, with the
 *                 same Loader form of log b(k) - log b(mode)
 *   neg. binomial gamma-Poisson mixture: X | L ~ Poisson(L), L ~ Gamma(size, mean / size)
 *   multinomial   conditional binomials: N_i ~ Bin(n - N_0 - ... - N_{i-1}, p_i / (p_i + ... + p_k-1))
 */
#ifndef EMI_DIST_H
#define EMI_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "emi_err.h"
#include "emi_philox.h"

/* Largest Poisson mean accepted (the draws and their arithmetic stay exact in doubles). */
#define EMI_POISSON_MEAN_MAX 1.0e15
/* Largest binomial / multinomial n accepted (2^53: every count is exact in a double). */
#define EMI_BINOMIAL_N_MAX (INT64_C(1) << 53)

/* Standard normal N(0, 1): AS241 inversion of one emi_uniform. */
double emi_std_normal(emi_stream_t *s);
/* The standard normal quantile Phi^-1(p) by AS241 (the function emi_std_normal inverts with),
 * relative error ~1e-16 on (0, 1).  Like a libm function it does not raise: p = 0 gives -HUGE_VAL,
 * p = 1 gives +HUGE_VAL, p outside [0, 1] or NaN gives NaN.  Pure, thread-safe. */
double emi_normal_quantile(double p);
/* Standard exponential (rate 1): -log(emi_uniform). */
double emi_std_exponential(emi_stream_t *s);

/* Uniform on (lo, hi): lo + (hi - lo) * emi_uniform.  Needs finite lo < hi with hi - lo finite.
 * (Rounding can return lo or hi itself when hi - lo is large relative to |lo|, |hi|.) */
emi_err_t emi_uniform_draw(emi_stream_t *s, double lo, double hi, double *x);
/* Normal with mean mu (finite) and standard deviation sigma (finite, >= 0; 0 returns mu). */
emi_err_t emi_normal_draw(emi_stream_t *s, double mu, double sigma, double *x);
/* Exponential with rate `rate` (finite, > 0): mean 1 / rate. */
emi_err_t emi_exponential_draw(emi_stream_t *s, double rate, double *x);
/* Gamma with shape > 0 and scale > 0 (both finite): mean shape * scale, density
 * x^(shape-1) exp(-x / scale) / (Gamma(shape) scale^shape). */
emi_err_t emi_gamma_draw(emi_stream_t *s, double shape, double scale, double *x);
/* Beta(a, b), a > 0 and b > 0 finite: density x^(a-1) (1-x)^(b-1) / B(a, b) on [0, 1]. */
emi_err_t emi_beta_draw(emi_stream_t *s, double a, double b, double *x);

/* Poisson with mean in [0, EMI_POISSON_MEAN_MAX].  mean 0 gives 0. */
emi_err_t emi_poisson_draw(emi_stream_t *s, double mean, int64_t *k);
/* Binomial: successes in n trials (0 <= n <= EMI_BINOMIAL_N_MAX) of probability p in [0, 1]. */
emi_err_t emi_binomial_draw(emi_stream_t *s, int64_t n, double p, int64_t *k);
/* Negative binomial by mean and size (R's dnbinom(mu =, size =), the "NB2" of regression):
 * mean >= 0, size > 0, both finite; E X = mean, Var X = mean + mean^2 / size.
 * size -> infinity is Poisson(mean); mean 0 gives 0.  mean <= EMI_POISSON_MEAN_MAX.
 * The mixing gamma draw itself can exceed EMI_POISSON_MEAN_MAX when the mean is huge and the size
 * small (the law then reaches past exact int64 counts): that draw returns EMI_ERR_DOMAIN, after
 * consuming stream words, and *k is not written. */
emi_err_t emi_negbin_draw(emi_stream_t *s, double mean, double size, int64_t *k);
/* Negative binomial by (r, p): the number of failures before the r-th success in trials of
 * success probability p (R's dnbinom(size = r, prob = p)); r > 0 finite, 0 < p <= 1.
 * The same law as emi_negbin_draw(mean = r (1 - p) / p, size = r); p = 1 gives 0. */
emi_err_t emi_negbin_rp_draw(emi_stream_t *s, double r, double p, int64_t *k);
/* Multinomial: n (0 <= n <= EMI_BINOMIAL_N_MAX) trials over ncat >= 1 categories with weights
 * prob[0..ncat-1] (finite, >= 0, positive finite sum; normalised by their sum, so they need not
 * add to 1); counts[0..ncat-1] receives the counts, which add to n exactly.  A category of
 * weight 0 always gets 0. */
emi_err_t emi_multinomial_draw(emi_stream_t *s, int64_t n, size_t ncat,
                               const double *restrict prob, int64_t *restrict counts);

#endif /* EMI_DIST_H */
