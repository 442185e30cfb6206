/* emi_dist.c: random variates from Philox streams.  Methods and references: emi_dist.h. */
#include "emi_dist.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EMI_LN_2PI 1.8378770664093454835606594728112353 /* log(2 pi) */

/* ------------------------------------------------------------------------------ helpers */

/* Wichura (1988), Algorithm AS241 PPND16: the standard normal quantile of p in (0, 1),
 * relative accuracy about 1e-16.  Coefficients as published (Applied Statistics 37:477).
 * Public as emi_normal_quantile (emi_dist.h); the edge cases are handled there. */
static double normal_quantile(double p)
{
  const double q = p - 0.5;
  if (fabs(q) <= 0.425) {
    const double r = 0.180625 - q * q;
    const double num = (((((((2.5090809287301226727e+3 * r + 3.3430575583588128105e+4) * r +
                             6.7265770927008700853e+4) * r + 4.5921953931549871457e+4) * r +
                           1.3731693765509461125e+4) * r + 1.9715909503065514427e+3) * r +
                         1.3314166789178437745e+2) * r + 3.3871328727963666080e+0);
    const double den = (((((((5.2264952788528545610e+3 * r + 2.8729085735721942674e+4) * r +
                             3.9307895800092710610e+4) * r + 2.1213794301586595867e+4) * r +
                           5.3941960214247511077e+3) * r + 6.8718700749205790830e+2) * r +
                         4.2313330701600911252e+1) * r + 1.0);
    return q * num / den;
  }
  double r = q < 0.0 ? p : 1.0 - p; /* exact: p >= 1/2 here when q > 0 */
  r = sqrt(-log(r));
  double num, den;
  if (r <= 5.0) {
    r -= 1.6;
    num = (((((((7.74545014278341407640e-4 * r + 2.27238449892691845833e-2) * r +
                2.41780725177450611770e-1) * r + 1.27045825245236838258e+0) * r +
              3.64784832476320460504e+0) * r + 5.76949722146069140550e+0) * r +
            4.63033784615654529590e+0) * r + 1.42343711074968357734e+0);
    den = (((((((1.05075007164441684324e-9 * r + 5.47593808499534494600e-4) * r +
                1.51986665636164571966e-2) * r + 1.48103976427480074590e-1) * r +
              6.89767334985100004550e-1) * r + 1.67638483018380384940e+0) * r +
            2.05319162663775882187e+0) * r + 1.0);
  } else {
    r -= 5.0;
    num = (((((((2.01033439929228813265e-7 * r + 2.71155556874348757815e-5) * r +
                1.24266094738807843860e-3) * r + 2.65321895265761230930e-2) * r +
              2.96560571828504891230e-1) * r + 1.78482653991729133580e+0) * r +
            5.46378491116411436990e+0) * r + 6.65790464350110377720e+0);
    den = (((((((2.04426310338993978564e-15 * r + 1.42151175831644588870e-7) * r +
                1.84631831751005468180e-5) * r + 7.86869131145613259100e-4) * r +
              1.48753612908506148525e-2) * r + 1.36929880922735805310e-1) * r +
            5.99832206555887937690e-1) * r + 1.0);
  }
  const double x = num / den;
  return q < 0.0 ? -x : x;
}

/* Loader (2000), "Fast and accurate computation of binomial probabilities":
 * stirlerr(n) = log(n!) - log(sqrt(2 pi n) (n/e)^n), for integer-valued n >= 1.
 * n <= 15 from a table (computed with 50-digit decimal arithmetic from log(n!)),
 * n >= 16 from the Stirling series 1/12n - 1/360n^3 + 1/1260n^5 - 1/1680n^7 + 1/1188n^9,
 * whose first omitted term is below 1.2e-16 at n = 16. */
static double stirlerr(double n)
{
  static const double table[16] = {
      0.0, /* n = 0 is not used */
      8.10614667953272611e-02, 4.13406959554092970e-02, 2.76779256849983384e-02,
      2.07906721037650934e-02, 1.66446911898211931e-02, 1.38761288230707484e-02,
      1.18967099458917695e-02, 1.04112652619720962e-02, 9.25546218271273285e-03,
      8.33056343336287079e-03, 7.57367548795184059e-03, 6.94284010720952992e-03,
      6.40899418800420714e-03, 5.95137011275884750e-03, 5.55473355196280105e-03};
  if (n <= 15.0) return table[(int)n];
  const double nn = n * n;
  return (1.0 / 12 - (1.0 / 360 - (1.0 / 1260 - (1.0 / 1680 - (1.0 / 1188) / nn) / nn) / nn) / nn) / n;
}

/* Loader (2000): bd0(x, m) = x log(x / m) + m - x >= 0, without cancellation when x ~ m
 * (series in v = (x - m) / (x + m): bd0 = (x - m) v + 2 x (v^3/3 + v^5/5 + ...)). x > 0, m > 0. */
static double bd0(double x, double m)
{
  const double d = x - m;
  if (fabs(d) < 0.1 * (x + m)) {
    const double v = d / (x + m), v2 = v * v;
    double sum = d * v, term = 2.0 * x * v;
    for (int j = 1; j < 100; j++) { /* |v| < 0.1: converges in about 8 terms */
      term *= v2;
      const double next = sum + term / (double)(2 * j + 1);
      if (next == sum) break;
      sum = next;
    }
    return sum;
  }
  return x * log(x / m) + m - x;
}

/* log P(X = k), X ~ Poisson(mean), k >= 0 integer-valued, mean > 0:
 * -stirlerr(k) - bd0(k, mean) - log(2 pi k) / 2, which equals k log mean - mean - log k!. */
static double poisson_logpmf(double k, double mean)
{
  if (k == 0.0) return -mean;
  return -stirlerr(k) - bd0(k, mean) - 0.5 * (EMI_LN_2PI + log(k));
}

/* ------------------------------------------------------------------------------ samplers
 * Unchecked: parameters are valid (checked by the public functions). */

double emi_std_normal(emi_stream_t *s) { return normal_quantile(emi_uniform(s)); }

double emi_normal_quantile(double p)
{
  if (p > 0.0 && p < 1.0) return normal_quantile(p);
  if (p == 0.0) return -HUGE_VAL;
  if (p == 1.0) return HUGE_VAL;
  return NAN; /* p outside [0, 1] or NaN */
}

double emi_std_exponential(emi_stream_t *s) { return -log(emi_uniform(s)); }

/* Marsaglia & Tsang (2000), shape >= 1, scale 1. */
static double gamma_mt(emi_stream_t *s, double shape)
{
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / sqrt(9.0 * d);
  for (;;) {
    double x, v;
    do {
      x = emi_std_normal(s);
      v = 1.0 + c * x;
    } while (v <= 0.0);
    v = v * v * v;
    const double u = emi_uniform(s);
    const double x2 = x * x;
    if (u < 1.0 - 0.0331 * x2 * x2) return d * v;                   /* squeeze */
    if (log(u) < 0.5 * x2 + d * (1.0 - v + log(v))) return d * v;   /* exact test */
  }
}

/* Gamma(shape, 1), shape > 0. */
static double gamma_std(emi_stream_t *s, double shape)
{
  if (shape < 1.0) { /* Marsaglia & Tsang's boost: G(a) = G(a + 1) U^(1/a) */
    const double g = gamma_mt(s, shape + 1.0);
    const double u = emi_uniform(s);
    return g * exp(log(u) / shape);
  }
  return gamma_mt(s, shape);
}

/* log of a Gamma(shape, 1) draw: the same draw as gamma_std, kept in logs so that the boost's
 * U^(1/shape) cannot underflow (for shape 1e-3 it is below DBL_MIN half of the time). */
static double log_gamma_std(emi_stream_t *s, double shape)
{
  if (shape < 1.0) {
    const double g = gamma_mt(s, shape + 1.0);
    const double u = emi_uniform(s);
    return log(g) + log(u) / shape;
  }
  return log(gamma_mt(s, shape));
}

/* X / (X + Y) from lx = log X and ly = log Y, without underflow: with e = exp(-|lx - ly|) <= 1,
 * it is 1 / (1 + e) when X >= Y and e / (1 + e) otherwise (so small ratios keep their relative
 * accuracy down to the subnormals). */
static double ratio_from_logs(double lx, double ly)
{
  const double e = exp(-fabs(lx - ly));
  return lx >= ly ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

static double beta_std(emi_stream_t *s, double a, double b)
{
  if (a <= 1.0 && b <= 1.0) {
    /* Johnk (1964): X = U^(1/a), Y = V^(1/b); given X + Y <= 1, X / (X + Y) ~ Beta(a, b).
     * All in logs: X and Y underflow for small shapes while their ratio is representable. */
    for (;;) {
      const double lx = log(emi_uniform(s)) / a;
      const double ly = log(emi_uniform(s)) / b;
      const double lmax = lx > ly ? lx : ly;
      if (lmax + log1p(exp(-fabs(lx - ly))) > 0.0) continue; /* log(X + Y) > 0: reject */
      return ratio_from_logs(lx, ly);
    }
  }
  const double lx = log_gamma_std(s, a);
  const double ly = log_gamma_std(s, b);
  return ratio_from_logs(lx, ly);
}

/* Poisson by inversion (sequential search), 0 < mean < 10.  The search stops at `bound`, whose
 * upper tail is below 1e-29 for these means; a u beyond it (only possible through the rounding
 * of the running sum) is redrawn, which samples the distribution conditioned on X <= bound. */
static int64_t poisson_inversion(emi_stream_t *s, double mean)
{
  const double p0 = exp(-mean);
  const double bound = mean + 10.0 * sqrt(mean + 1.0) + 20.0;
  for (;;) {
    double u = emi_uniform(s);
    double p = p0, k = 0.0;
    while (u > p) {
      u -= p;
      k += 1.0;
      if (k > bound) break;
      p *= mean / k;
    }
    if (k <= bound) return (int64_t)k;
  }
}

/* Hormann (1993) PTRS, mean >= 10.  k = floor((2a/us + b) u + mean + 0.43) is evaluated as
 * floor(... + frac(mean) + 0.43) + floor(mean), so it stays exact for means ~1e15. */
static int64_t poisson_ptrs(emi_stream_t *s, double mean)
{
  const double slam = sqrt(mean);
  const double b = 0.931 + 2.53 * slam;
  const double a = -0.059 + 0.02483 * b;
  const double log_inv_alpha = log(1.1239 + 1.1328 / (b - 3.4));
  const double v_r = 0.9277 - 3.6224 / (b - 2.0);
  const double m_int = floor(mean), m_frac = mean - m_int;
  for (;;) {
    const double u = emi_uniform(s) - 0.5; /* exact, in (-1/2, 1/2) */
    const double v = emi_uniform(s);
    const double us = 0.5 - fabs(u);
    const double k = floor((2.0 * a / us + b) * u + m_frac + 0.43) + m_int;
    if (us >= 0.07 && v <= v_r && k >= 0.0) return (int64_t)k; /* squeeze (k >= 0 always here) */
    if (k < 0.0 || (us < 0.013 && v > us)) continue;
    if (log(v) + log_inv_alpha - log(a / (us * us) + b) <= poisson_logpmf(k, mean)) return (int64_t)k;
  }
}

static int64_t poisson_std(emi_stream_t *s, double mean)
{
  if (mean == 0.0) return 0;
  return mean < 10.0 ? poisson_inversion(s, mean) : poisson_ptrs(s, mean);
}

/* Binomial(n, p) with 0 < p <= 1/2 and q = 1 - p (q exact when p came from 1 - p_user). */
typedef struct {
  double n, p, q, log_q;
} binom_par_t;

/* log P(X = k), Loader's form for 0 < k < n:
 * stirlerr(n) - stirlerr(k) - stirlerr(n-k) - bd0(k, np) - bd0(n-k, nq) + log(n / (2 pi k (n-k))) / 2 */
static double binom_logpmf(double k, const binom_par_t *b)
{
  if (k == 0.0) return b->n * b->log_q;
  if (k == b->n) return b->n * log(b->p);
  const double nk = b->n - k;
  return stirlerr(b->n) - stirlerr(k) - stirlerr(nk) - bd0(k, b->n * b->p) - bd0(nk, b->n * b->q) +
         0.5 * (log(b->n / (k * nk)) - EMI_LN_2PI);
}

/* Inversion (sequential search with b(k) = b(k-1) ((n+1)/k - 1) p/q), n p < 10.  As for the
 * Poisson, the search stops at a bound whose tail is below 1e-29 and redraws beyond it. */
static int64_t binomial_inversion(emi_stream_t *s, const binom_par_t *b)
{
  const double ratio = b->p / b->q;
  const double a = (b->n + 1.0) * ratio;
  const double r0 = exp(b->n * b->log_q);
  const double mean = b->n * b->p;
  const double bound = fmin(b->n, mean + 10.0 * sqrt(mean + 1.0) + 20.0);
  for (;;) {
    double u = emi_uniform(s);
    double r = r0, k = 0.0;
    while (u > r) {
      u -= r;
      k += 1.0;
      if (k > bound) break;
      r *= a / k - ratio;
    }
    if (k <= bound) return (int64_t)k;
  }
}

/* Hormann (1993) BTRS, n p >= 10, p <= 1/2.  The acceptance test log(v alpha / (a/us^2 + b))
 * <= log b(k) - log b(m), m = floor((n+1) p) the mode, uses binom_logpmf for both terms. */
static int64_t binomial_btrs(emi_stream_t *s, const binom_par_t *bp)
{
  const double n = bp->n, p = bp->p;
  const double spq = sqrt(n * p * bp->q);
  const double b = 1.15 + 2.53 * spq;
  const double a = -0.0873 + 0.0248 * b + 0.01 * p;
  const double c = n * p + 0.5;
  const double v_r = 0.92 - 4.2 / b;
  const double alpha = (2.83 + 5.1 / b) * spq;
  const double m = floor((n + 1.0) * p);
  const double logpmf_m = binom_logpmf(m, bp);
  const double c_int = floor(c), c_frac = c - c_int;
  for (;;) {
    const double u = emi_uniform(s) - 0.5;
    double v = emi_uniform(s);
    const double us = 0.5 - fabs(u);
    const double k = floor((2.0 * a / us + b) * u + c_frac) + c_int;
    if (us >= 0.07 && v <= v_r && k >= 0.0 && k <= n) return (int64_t)k; /* squeeze */
    if (k < 0.0 || k > n) continue;
    v = log(v * alpha / (a / (us * us) + b));
    if (v <= binom_logpmf(k, bp) - logpmf_m) return (int64_t)k;
  }
}

static int64_t binomial_std(emi_stream_t *s, int64_t n, double p)
{
  if (n == 0 || p == 0.0) return 0;
  if (p == 1.0) return n;
  const int flip = p > 0.5;
  binom_par_t b;
  b.n = (double)n;
  b.p = flip ? 1.0 - p : p; /* exact for p > 1/2 (Sterbenz) */
  b.q = flip ? p : 1.0 - p;
  b.log_q = flip ? log(p) : log1p(-p);
  const int64_t k = b.n * b.p < 10.0 ? binomial_inversion(s, &b) : binomial_btrs(s, &b);
  return flip ? n - k : k;
}

/* ------------------------------------------------------------------------------ checked API */

/* A double for an error message: the shorter of %.15g and %.17g that reads back as the value
 * (-0.3 prints as -0.3, not -0.29999999999999999). */
typedef struct {
  char s[32];
} emi_num_t;

static emi_num_t emi_num(double x)
{
  emi_num_t r;
  snprintf(r.s, sizeof r.s, "%.15g", x);
  if (strtod(r.s, NULL) != x) snprintf(r.s, sizeof r.s, "%.17g", x);
  return r;
}
#define EMI_NUM(x) (emi_num(x).s)

#define EMI_DIST_NONNULL(s, out)                                                          \
  do {                                                                                    \
    if (!(s) || !(out))                                                                   \
      return EMI_ERROR(EMI_ERR_ARG, "%s: %s is NULL", __func__, !(s) ? "stream" : "output"); \
  } while (0)

emi_err_t emi_uniform_draw(emi_stream_t *s, double lo, double hi, double *x)
{
  EMI_DIST_NONNULL(s, x);
  if (!isfinite(lo) || !isfinite(hi) || !(lo < hi) || !isfinite(hi - lo))
    return EMI_ERROR(EMI_ERR_DOMAIN,
                     "uniform: lo = %s, hi = %s, expected finite lo < hi with hi - lo finite",
                     EMI_NUM(lo), EMI_NUM(hi));
  *x = lo + (hi - lo) * emi_uniform(s);
  return EMI_SUCCESS;
}

emi_err_t emi_normal_draw(emi_stream_t *s, double mu, double sigma, double *x)
{
  EMI_DIST_NONNULL(s, x);
  if (!isfinite(mu))
    return EMI_ERROR(EMI_ERR_DOMAIN, "normal: mu = %s, expected a finite mean", EMI_NUM(mu));
  if (!isfinite(sigma) || !(sigma >= 0.0))
    return EMI_ERROR(EMI_ERR_DOMAIN, "normal: sigma = %s, expected a finite value >= 0", EMI_NUM(sigma));
  *x = mu + sigma * emi_std_normal(s);
  return EMI_SUCCESS;
}

emi_err_t emi_exponential_draw(emi_stream_t *s, double rate, double *x)
{
  EMI_DIST_NONNULL(s, x);
  if (!isfinite(rate) || !(rate > 0.0))
    return EMI_ERROR(EMI_ERR_DOMAIN, "exponential: rate = %s, expected a finite value > 0",
                     EMI_NUM(rate));
  *x = emi_std_exponential(s) / rate;
  return EMI_SUCCESS;
}

emi_err_t emi_gamma_draw(emi_stream_t *s, double shape, double scale, double *x)
{
  EMI_DIST_NONNULL(s, x);
  if (!isfinite(shape) || !(shape > 0.0))
    return EMI_ERROR(EMI_ERR_DOMAIN, "gamma: shape = %s, expected a finite value > 0", EMI_NUM(shape));
  if (!isfinite(scale) || !(scale > 0.0))
    return EMI_ERROR(EMI_ERR_DOMAIN, "gamma: scale = %s, expected a finite value > 0", EMI_NUM(scale));
  *x = scale * gamma_std(s, shape);
  return EMI_SUCCESS;
}

emi_err_t emi_beta_draw(emi_stream_t *s, double a, double b, double *x)
{
  EMI_DIST_NONNULL(s, x);
  if (!isfinite(a) || !(a > 0.0))
    return EMI_ERROR(EMI_ERR_DOMAIN, "beta: a = %s, expected a finite value > 0", EMI_NUM(a));
  if (!isfinite(b) || !(b > 0.0))
    return EMI_ERROR(EMI_ERR_DOMAIN, "beta: b = %s, expected a finite value > 0", EMI_NUM(b));
  *x = beta_std(s, a, b);
  return EMI_SUCCESS;
}

emi_err_t emi_poisson_draw(emi_stream_t *s, double mean, int64_t *k)
{
  EMI_DIST_NONNULL(s, k);
  if (!(mean >= 0.0 && mean <= EMI_POISSON_MEAN_MAX)) /* also rejects NaN */
    return EMI_ERROR(EMI_ERR_DOMAIN, "poisson: mean = %s, expected a value in [0, %g]",
                     EMI_NUM(mean), EMI_POISSON_MEAN_MAX);
  *k = poisson_std(s, mean);
  return EMI_SUCCESS;
}

emi_err_t emi_binomial_draw(emi_stream_t *s, int64_t n, double p, int64_t *k)
{
  EMI_DIST_NONNULL(s, k);
  if (n < 0 || n > EMI_BINOMIAL_N_MAX)
    return EMI_ERROR(EMI_ERR_DOMAIN, "binomial: n = %lld, expected 0 <= n <= 2^53", (long long)n);
  if (!(p >= 0.0 && p <= 1.0))
    return EMI_ERROR(EMI_ERR_DOMAIN, "binomial: p = %s, expected a probability in [0, 1]", EMI_NUM(p));
  *k = binomial_std(s, n, p);
  return EMI_SUCCESS;
}

/* Gamma-Poisson mixture; the gamma draw can (with small size and a huge mean) exceed the
 * largest Poisson mean the sampler handles exactly: that draw is refused with EMI_ERR_DOMAIN. */
static emi_err_t negbin_mixture(emi_stream_t *s, double mean, double size, int64_t *k)
{
  if (mean == 0.0) {
    *k = 0;
    return EMI_SUCCESS;
  }
  const double lambda = gamma_std(s, size) * (mean / size);
  if (!(lambda <= EMI_POISSON_MEAN_MAX))
    return EMI_ERROR(EMI_ERR_DOMAIN,
                     "negative binomial (mean = %s, size = %s): the gamma-mixed Poisson mean "
                     "%s exceeds %g, the tail is too heavy for exact int64 counts",
                     EMI_NUM(mean), EMI_NUM(size), EMI_NUM(lambda), EMI_POISSON_MEAN_MAX);
  *k = poisson_std(s, lambda);
  return EMI_SUCCESS;
}

emi_err_t emi_negbin_draw(emi_stream_t *s, double mean, double size, int64_t *k)
{
  EMI_DIST_NONNULL(s, k);
  if (!(mean >= 0.0 && mean <= EMI_POISSON_MEAN_MAX))
    return EMI_ERROR(EMI_ERR_DOMAIN, "negative binomial: mean = %s, expected a value in [0, %g]",
                     EMI_NUM(mean), EMI_POISSON_MEAN_MAX);
  if (!isfinite(size) || !(size > 0.0))
    return EMI_ERROR(EMI_ERR_DOMAIN, "negative binomial: size = %s, expected a finite value > 0",
                     EMI_NUM(size));
  EMI_CALL(negbin_mixture(s, mean, size, k));
  return EMI_SUCCESS;
}

emi_err_t emi_negbin_rp_draw(emi_stream_t *s, double r, double p, int64_t *k)
{
  EMI_DIST_NONNULL(s, k);
  if (!isfinite(r) || !(r > 0.0))
    return EMI_ERROR(EMI_ERR_DOMAIN, "negative binomial: r = %s, expected a finite value > 0",
                     EMI_NUM(r));
  if (!(p > 0.0 && p <= 1.0))
    return EMI_ERROR(EMI_ERR_DOMAIN, "negative binomial: p = %s, expected a probability in (0, 1]",
                     EMI_NUM(p));
  const double mean = r * (1.0 - p) / p;
  if (!(mean <= EMI_POISSON_MEAN_MAX))
    return EMI_ERROR(EMI_ERR_DOMAIN,
                     "negative binomial: r = %s, p = %s give mean r (1-p) / p = %s, "
                     "expected at most %g", EMI_NUM(r), EMI_NUM(p), EMI_NUM(mean), EMI_POISSON_MEAN_MAX);
  EMI_CALL(negbin_mixture(s, mean, r, k));
  return EMI_SUCCESS;
}

emi_err_t emi_multinomial_draw(emi_stream_t *s, int64_t n, size_t ncat,
                               const double *restrict prob, int64_t *restrict counts)
{
  if (!s || !prob || !counts)
    return EMI_ERROR(EMI_ERR_ARG, "multinomial: %s is NULL", !s ? "stream" : !prob ? "prob" : "counts");
  if (ncat < 1) return EMI_ERROR(EMI_ERR_DOMAIN, "multinomial: ncat = 0, expected at least 1 category");
  if (n < 0 || n > EMI_BINOMIAL_N_MAX)
    return EMI_ERROR(EMI_ERR_DOMAIN, "multinomial: n = %lld, expected 0 <= n <= 2^53", (long long)n);
  double total = 0.0;
  size_t last = 0; /* last category of positive weight: it takes what the others leave */
  for (size_t i = 0; i < ncat; i++) {
    if (!isfinite(prob[i]) || !(prob[i] >= 0.0))
      return EMI_ERROR(EMI_ERR_DOMAIN, "multinomial: prob[%zu] = %s, expected a finite value >= 0",
                       i, EMI_NUM(prob[i]));
    total += prob[i];
    if (prob[i] > 0.0) last = i;
  }
  if (!(total > 0.0) || !isfinite(total))
    return EMI_ERROR(EMI_ERR_DOMAIN,
                     "multinomial: the %zu weights add to %s, expected a positive finite sum",
                     ncat, EMI_NUM(total));
  /* Conditional probabilities p_i / (p_i + ... + p_last) from suffix sums added from the end:
   * all terms are >= 0, so each sum has a relative error <= ncat * 2^-53 however small it is
   * (1 - p_0 - ... - p_i-1, as a running difference, would lose digits to cancellation).  The
   * sums are parked in counts[] (bit copies; it is the only scratch the caller hands over) and
   * each is read just before its slot receives the count. */
  _Static_assert(sizeof(double) == sizeof(int64_t), "suffix sums are parked in int64_t slots");
  double suffix = 0.0;
  for (size_t i = ncat; i-- > 0;) {
    suffix += prob[i];
    memcpy(&counts[i], &suffix, sizeof suffix);
  }
  int64_t left = n;
  for (size_t i = 0; i < ncat; i++) {
    double suffix_i;
    memcpy(&suffix_i, &counts[i], sizeof suffix_i);
    int64_t c = 0;
    if (i == last) {
      c = left;
    } else if (i < last && left > 0 && prob[i] > 0.0) {
      double pc = prob[i] / suffix_i; /* <= 1; < 1 up to rounding since p_last > 0 is in the sum */
      if (pc > 1.0) pc = 1.0;
      c = binomial_std(s, left, pc);
    }
    counts[i] = c;
    left -= c;
  }
  return EMI_SUCCESS;
}
