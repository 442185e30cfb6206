/* test_dist: every sampler of emi_dist.h against its exact law.
 *
 * For each distribution and parameter regime, N draws from a fixed stream are checked three ways:
 *  1. sample mean and sample variance against the exact values, each within 5 standard errors of
 *     its sampling distribution: SE(mean) = sqrt(var / N), and
 *     SE(s^2) = sqrt((mu4 - var^2 (N-3)/(N-1)) / N) with mu4 the exact 4th central moment
 *     (P(|Z| > 5) = 5.7e-7 per check under the normal limit);
 *  2. a goodness-of-fit statistic at significance 1e-4:
 *     - discrete laws: Pearson chi-square on the observed counts per value against N * pmf, with
 *       the pmf computed here independently (lgamma, not the sampler's Loader formulas) over a
 *       window holding all but < 1e-12 of the mass, adjacent values merged left to right until
 *       each bin expects at least max(5, N/200) draws;
 *     - continuous laws: the probability integral transform F(x) (F from erfc, expm1, or the
 *       regularised incomplete gamma / beta written below and checked against closed forms):
 *       chi-square on 100 equiprobable bins and the Kolmogorov-Smirnov distance;
 *     chi-square critical values come from the Wilson-Hilferty approximation
 *     df (1 - 2/(9 df) + z sqrt(2/(9 df)))^3, z = 3.7190165 the 1 - 1e-4 normal quantile
 *     (Python statistics.NormalDist().inv_cdf(1 - 1e-4)); for df >= 3 it is within 2% of the
 *     exact quantile and on the conservative side at small df.  The KS critical value is the
 *     asymptotic Kolmogorov one, sqrt(ln(2/alpha) / 2) / sqrt(N) = 2.2253 / sqrt(N).
 *  There are about 45 goodness-of-fit checks at 1e-4 and 85 moment checks at 5.7e-7, so a correct
 *  sampler fails one with probability ~5e-3 per seed; the seeds are fixed, so the outcome is
 *  deterministic, and they were not tuned (every seed here is the first one tried).
 *  With N = 500000 a pmf distorted by ~0.5% over a few bins is caught; smaller distortions are
 *  beyond what a test of this size can see.
 *  3. exact special cases (Poisson(0) = 0, Bin(n, 0) = 0, Bin(n, 1) = n, ...), parameter checks
 *     (EMI_ERR_DOMAIN with a message naming the parameter and its value, nothing written, no
 *     stream word consumed) and reproducibility (same stream, same values).
 */
#include <stdint.h>
#include <string.h>

#include "emi_dist.h"
#include "emi_err.h"
#include "emi_philox.h"
#include "emi_test.h"

#define N_DRAWS 500000
#define Z_1E4 3.7190164854557084 /* normal quantile at 1 - 1e-4 */
#define SEED UINT64_C(20240601)

static const double pi = 3.14159265358979323846;

/* ------------------------------------------------------------------------------ statistics */

static double chi2_crit(double df)
{
  const double h = 2.0 / (9.0 * df);
  return df * pow(1.0 - h + Z_1E4 * sqrt(h), 3.0);
}

/* mean and unbiased variance, two passes */
static void sample_moments(const double *x, size_t n, double *mean, double *var)
{
  double s = 0.0;
  for (size_t i = 0; i < n; i++) s += x[i];
  const double m = s / (double)n;
  double ss = 0.0, c = 0.0;
  for (size_t i = 0; i < n; i++) {
    const double d = x[i] - m;
    ss += d * d;
    c += d;
  }
  *mean = m;
  *var = (ss - c * c / (double)n) / (double)(n - 1);
}

static void check_moments(const char *what, const double *x, size_t n, double mean, double var,
                          double mu4)
{
  double m, v;
  sample_moments(x, n, &m, &v);
  const double dn = (double)n;
  const double se_m = sqrt(var / dn);
  const double se_v = sqrt((mu4 - var * var * (dn - 3.0) / (dn - 1.0)) / dn);
  CHECK_MSG(fabs(m - mean) <= 5.0 * se_m, "%s: sample mean %.10g, exact %.10g, |diff| = %.2f SE",
            what, m, mean, fabs(m - mean) / se_m);
  CHECK_MSG(fabs(v - var) <= 5.0 * se_v, "%s: sample variance %.10g, exact %.10g, |diff| = %.2f SE",
            what, v, var, fabs(v - var) / se_v);
}

/* Pearson chi-square of observed against expected counts, merging adjacent cells left to right
 * until each bin expects >= target (the remainder joins the last bin).  Returns the statistic and
 * sets *df = bins - 1. */
static double chi2_merged(const double *obs, const double *expect, size_t ncell, double target,
                          int *df)
{
  double chi2 = 0.0, e_acc = 0.0, o_acc = 0.0, e_last = 0.0, o_last = 0.0;
  int bins = 0;
  for (size_t j = 0; j < ncell; j++) {
    e_acc += expect[j];
    o_acc += obs[j];
    if (e_acc >= target) {
      if (bins > 0) chi2 += (o_last - e_last) * (o_last - e_last) / e_last;
      e_last = e_acc;
      o_last = o_acc;
      bins++;
      e_acc = o_acc = 0.0;
    }
  }
  e_last += e_acc;
  o_last += o_acc;
  if (bins == 0) bins = 1;
  chi2 += (o_last - e_last) * (o_last - e_last) / e_last;
  *df = bins - 1;
  return chi2;
}

typedef double (*logpmf_fn)(double k, const double *par);

/* chi-square of integer draws against exp(logpmf) on [kmin, kmax] */
static void check_discrete_gof(const char *what, const double *x, size_t n, double kmin, double kmax,
                               logpmf_fn logpmf, const double *par)
{
  const size_t ncell = (size_t)(kmax - kmin) + 1;
  double *obs = calloc(ncell, sizeof *obs), *expect = malloc(ncell * sizeof *expect);
  if (!obs || !expect) {
    CHECK_MSG(0, "%s: out of memory for %zu cells", what, ncell);
    free(obs);
    free(expect);
    return;
  }
  double mass = 0.0;
  for (size_t j = 0; j < ncell; j++) {
    const double p = exp(logpmf(kmin + (double)j, par));
    expect[j] = (double)n * p;
    mass += p;
  }
  /* the test's own pmf and window: all the mass */
  /* (the window misses < 1e-12; the long double pmf is good to ~1e-9 relative at n = 1e9) */
  CHECK_MSG(fabs(mass - 1.0) < 1e-7, "%s: pmf mass in [%g, %g] is %.15g", what, kmin, kmax, mass);
  size_t outside = 0;
  for (size_t i = 0; i < n; i++) {
    if (x[i] < kmin || x[i] > kmax || x[i] != floor(x[i]))
      outside++;
    else
      obs[(size_t)(x[i] - kmin)] += 1.0;
  }
  CHECK_MSG(outside == 0, "%s: %zu draws outside [%g, %g] (mass there < 1e-12)", what, outside, kmin,
            kmax);
  const double target = fmax(5.0, (double)n / 200.0);
  int df;
  const double chi2 = chi2_merged(obs, expect, ncell, target, &df);
  CHECK_MSG(df >= 1 && chi2 < chi2_crit(df), "%s: chi2 = %.2f with %d df, critical (1e-4) %.2f", what,
            chi2, df, chi2_crit(df));
  free(obs);
  free(expect);
}

typedef double (*cdf_fn)(double x, const double *par);

static int cmp_double(const void *a, const void *b)
{
  const double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* PIT chi-square (100 equiprobable bins) and Kolmogorov-Smirnov against a continuous CDF */
static void check_continuous_gof(const char *what, const double *x, size_t n, cdf_fn cdf,
                                 const double *par)
{
  enum { NBIN = 100 };
  double obs[NBIN] = {0}, expect[NBIN];
  double *u = malloc(n * sizeof *u);
  if (!u) {
    CHECK_MSG(0, "%s: out of memory", what);
    return;
  }
  for (int j = 0; j < NBIN; j++) expect[j] = (double)n / NBIN;
  for (size_t i = 0; i < n; i++) {
    u[i] = cdf(x[i], par);
    int j = (int)(u[i] * NBIN);
    j = j < 0 ? 0 : j >= NBIN ? NBIN - 1 : j;
    obs[j] += 1.0;
  }
  int df;
  const double chi2 = chi2_merged(obs, expect, NBIN, 5.0, &df);
  CHECK_MSG(chi2 < chi2_crit(df), "%s: PIT chi2 = %.2f with %d df, critical (1e-4) %.2f", what, chi2,
            df, chi2_crit(df));
  qsort(u, n, sizeof *u, cmp_double);
  double d = 0.0;
  for (size_t i = 0; i < n; i++) {
    const double lo = u[i] - (double)i / (double)n, hi = (double)(i + 1) / (double)n - u[i];
    d = fmax(d, fmax(lo, hi));
  }
  const double crit = sqrt(log(2.0 / 1e-4) / 2.0) / sqrt((double)n);
  CHECK_MSG(d < crit, "%s: KS D = %.3g, critical (1e-4) %.3g", what, d, crit);
  free(u);
}

/* Where doubles cannot resolve a law's tails (Beta with tiny shapes piles mass within 1e-16 of 1,
 * where x rounds to 1 - k 2^-53 or 1, and Beta(1e-3, 1e-3) has a quarter of its mass below
 * DBL_MIN), the PIT is checked on a window [xlo, xhi) only: 50 equiprobable bins of F over
 * [F(xlo), F(xhi)), plus one bin for x < xlo and one for x >= xhi: chi-square with 51 df. */
static void check_window_gof(const char *what, const double *x, size_t n, cdf_fn cdf, const double *par,
                             double xlo, double xhi)
{
  enum { NB = 50 };
  double obs[NB + 2] = {0}, expect[NB + 2];
  const double flo = cdf(xlo, par), fhi = cdf(xhi, par);
  expect[0] = (double)n * flo;
  for (int j = 1; j <= NB; j++) expect[j] = (double)n * (fhi - flo) / NB;
  expect[NB + 1] = (double)n * (1.0 - fhi);
  for (size_t i = 0; i < n; i++) {
    if (x[i] < xlo) {
      obs[0] += 1.0;
    } else if (x[i] >= xhi) {
      obs[NB + 1] += 1.0;
    } else {
      int j = (int)((cdf(x[i], par) - flo) / (fhi - flo) * NB);
      obs[1 + (j < 0 ? 0 : j >= NB ? NB - 1 : j)] += 1.0;
    }
  }
  int df;
  const double chi2 = chi2_merged(obs, expect, NB + 2, 5.0, &df);
  CHECK_MSG(chi2 < chi2_crit(df),
            "%s: PIT chi2 on [%g, %g) = %.2f with %d df, critical %.2f", what, xlo, xhi, chi2, df,
            chi2_crit(df));
}

/* ------------------------------------------------------------------------------ the test's CDFs */

static double lgam(double x) { return lgamma(x); } /* single-threaded test: signgam is harmless */

/* Regularised lower incomplete gamma P(a, x): power series for x < a + 1, else the continued
 * fraction of Q = 1 - P evaluated by the modified Lentz method (Press et al., Numerical Recipes
 * 6.2, rewritten here). */
static double gamma_p(double a, double x)
{
  if (x <= 0.0) return 0.0;
  const double lpre = -x + a * log(x) - lgam(a);
  if (x < a + 1.0) {
    double term = 1.0 / a, sum = term;
    for (int n = 1; n < 100000; n++) {
      term *= x / (a + n);
      sum += term;
      if (fabs(term) < fabs(sum) * 1e-17) break;
    }
    return sum * exp(lpre);
  }
  const double tiny = 1e-300;
  double b = x + 1.0 - a, c = 1.0 / tiny, d = 1.0 / b, h = d;
  for (int i = 1; i < 100000; i++) {
    const double an = -i * (i - a);
    b += 2.0;
    d = an * d + b;
    if (fabs(d) < tiny) d = tiny;
    c = b + an / c;
    if (fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    const double del = d * c;
    h *= del;
    if (fabs(del - 1.0) < 1e-16) break;
  }
  return 1.0 - exp(lpre) * h;
}

/* continued fraction of the incomplete beta (Numerical Recipes 6.4, modified Lentz) */
static double beta_cf(double a, double b, double x)
{
  const double tiny = 1e-300;
  const double qab = a + b, qap = a + 1.0, qam = a - 1.0;
  double c = 1.0, d = 1.0 - qab * x / qap;
  if (fabs(d) < tiny) d = tiny;
  d = 1.0 / d;
  double h = d;
  for (int m = 1; m < 100000; m++) {
    const int m2 = 2 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1.0 + aa * d;
    if (fabs(d) < tiny) d = tiny;
    c = 1.0 + aa / c;
    if (fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1.0 + aa * d;
    if (fabs(d) < tiny) d = tiny;
    c = 1.0 + aa / c;
    if (fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    const double del = d * c;
    h *= del;
    if (fabs(del - 1.0) < 1e-16) break;
  }
  return h;
}

/* Regularised incomplete beta I_x(a, b) */
static double beta_i(double a, double b, double x)
{
  if (x <= 0.0) return 0.0;
  if (x >= 1.0) return 1.0;
  const double lbt = lgam(a + b) - lgam(a) - lgam(b) + a * log(x) + b * log1p(-x);
  if (x < (a + 1.0) / (a + b + 2.0)) return exp(lbt) * beta_cf(a, b, x) / a;
  return 1.0 - exp(lbt) * beta_cf(b, a, 1.0 - x) / b;
}

/* The test's special functions against closed forms. */
static void test_special_functions(void)
{
  const double xs[] = {1e-6, 0.01, 0.3, 0.5, 0.9, 1.0, 1.5, 2.0, 4.0, 7.5, 20.0, 60.0};
  for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
    const double x = xs[i];
    CHECK_CLOSE(gamma_p(1.0, x), -expm1(-x), 1e-14, 1e-12);             /* P(1, x) = 1 - e^-x */
    CHECK_CLOSE(gamma_p(0.5, x), erf(sqrt(x)), 1e-14, 1e-12);           /* P(1/2, x) = erf(sqrt x) */
    CHECK_CLOSE(gamma_p(3.0, x), 1.0 - exp(-x) * (1.0 + x + x * x / 2.0), 1e-14, 1e-11);
  }
  for (double x = 0.001; x < 1.0; x += 0.0371) {
    CHECK_CLOSE(beta_i(0.5, 0.5, x), 2.0 / pi * asin(sqrt(x)), 1e-14, 1e-12); /* arcsine law */
    CHECK_CLOSE(beta_i(1.0, 1.0, x), x, 1e-14, 1e-12);
    /* I_x(2, 5) = sum_{j=2}^{6} C(6, j) x^j (1-x)^(6-j) */
    const double c6[7] = {1, 6, 15, 20, 15, 6, 1};
    double ref = 0.0;
    for (int j = 2; j <= 6; j++) ref += c6[j] * pow(x, j) * pow(1.0 - x, 6 - j);
    CHECK_CLOSE(beta_i(2.0, 5.0, x), ref, 1e-14, 1e-11);
  }
}

static double cdf_normal(double x, const double *p)
{
  return 0.5 * erfc(-(x - p[0]) / (p[1] * sqrt(2.0)));
}
static double cdf_exponential(double x, const double *p) { return -expm1(-p[0] * x); }
static double cdf_uniform(double x, const double *p) { return (x - p[0]) / (p[1] - p[0]); }
static double cdf_gamma(double x, const double *p) { return gamma_p(p[0], x / p[1]); }
static double cdf_beta(double x, const double *p) { return beta_i(p[0], p[1], x); }

/* ------------------------------------------------------------------------------ the test's pmfs */

/* In long double (64-bit significand on x86-64): lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1)
 * cancels about 10 digits at n = 1e9, which double lgamma would leave at ~1e-6 relative. */
static double logpmf_poisson(double k, const double *p)
{
  const long double lam = p[0];
  return (double)((long double)k * logl(lam) - lam - lgammal((long double)k + 1.0L));
}

static double logpmf_binomial(double k, const double *p)
{
  const long double n = p[0], pr = p[1], kk = k;
  long double l = lgammal(n + 1.0L) - lgammal(kk + 1.0L) - lgammal(n - kk + 1.0L);
  if (kk > 0) l += kk * logl(pr);
  if (n - kk > 0) l += (n - kk) * log1pl(-pr);
  return (double)l;
}

/* negative binomial, mean mu and size r: Gamma(k + r) / (Gamma(r) k!) (r/(r+mu))^r (mu/(r+mu))^k */
static double logpmf_negbin(double k, const double *p)
{
  const long double mu = p[0], r = p[1], kk = k;
  return (double)(lgammal(kk + r) - lgammal(r) - lgammal(kk + 1.0L) + r * logl(r / (r + mu)) +
                  kk * logl(mu / (r + mu)));
}

/* ------------------------------------------------------------------------------ cases */

static double *draws; /* N_DRAWS doubles, reused by every case */

static void init_stream(emi_stream_t *s, uint32_t purpose, uint64_t entity)
{
  CHECK_OK(emi_stream_init(s, SEED, purpose, entity, 0));
}

static void test_poisson(void)
{
  const double means[] = {0.5, 3.0, 9.9, 10.0, 50.0, 1e4, 1e7};
  for (size_t c = 0; c < sizeof means / sizeof means[0]; c++) {
    const double mu = means[c];
    emi_stream_t s;
    init_stream(&s, 1, c);
    int bad = 0;
    for (size_t i = 0; i < N_DRAWS; i++) {
      int64_t k;
      bad += emi_poisson_draw(&s, mu, &k) != EMI_SUCCESS;
      draws[i] = (double)k;
    }
    CHECK_INT_EQ(bad, 0);
    char what[64];
    snprintf(what, sizeof what, "poisson(%g)", mu);
    check_moments(what, draws, N_DRAWS, mu, mu, mu + 3.0 * mu * mu);
    const double sd = sqrt(mu);
    check_discrete_gof(what, draws, N_DRAWS, fmax(0.0, floor(mu - 13.0 * sd - 10.0)),
                       ceil(mu + 13.0 * sd + 30.0), logpmf_poisson, &mu);
  }
  /* far beyond the chi-square's reach, the moments still hold */
  const double big[] = {1e12, 9.99e14};
  for (size_t c = 0; c < 2; c++) {
    emi_stream_t s;
    init_stream(&s, 2, c);
    for (size_t i = 0; i < 20000; i++) {
      int64_t k;
      CHECK_OK(emi_poisson_draw(&s, big[c], &k));
      draws[i] = (double)k;
    }
    check_moments(c ? "poisson(9.99e14)" : "poisson(1e12)", draws, 20000, big[c], big[c],
                  big[c] + 3.0 * big[c] * big[c]);
  }
}

static void test_binomial(void)
{
  const struct {
    int64_t n;
    double p;
  } cases[] = {
      {5, 0.5},         /* inversion, tiny n */
      {20, 0.3},        /* inversion, np = 6 */
      {30, 0.5},        /* BTRS, np = 15 */
      {1000, 0.5},      /* BTRS */
      {1000000, 1e-6},  /* inversion, p near 0 */
      {1000000, 2e-5},  /* BTRS, np = 20 */
      {100, 0.99},      /* symmetric inversion, p near 1 */
      {100000, 0.9},    /* symmetric BTRS */
      {1000000000, 0.3} /* BTRS, large n */
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    const double n = (double)cases[c].n, p = cases[c].p;
    emi_stream_t s;
    init_stream(&s, 3, c);
    int bad = 0;
    for (size_t i = 0; i < N_DRAWS; i++) {
      int64_t k;
      bad += emi_binomial_draw(&s, cases[c].n, p, &k) != EMI_SUCCESS;
      draws[i] = (double)k;
    }
    CHECK_INT_EQ(bad, 0);
    char what[64];
    snprintf(what, sizeof what, "binomial(%lld, %g)", (long long)cases[c].n, p);
    const double q = 1.0 - p, var = n * p * q;
    check_moments(what, draws, N_DRAWS, n * p, var, var * (1.0 + 3.0 * (n - 2.0) * p * q));
    const double sd = sqrt(var), par[2] = {n, p};
    check_discrete_gof(what, draws, N_DRAWS, fmax(0.0, floor(n * p - 13.0 * sd - 10.0)),
                       fmin(n, ceil(n * p + 13.0 * sd + 30.0)), logpmf_binomial, par);
  }
  /* n near the limit: moments */
  emi_stream_t s;
  init_stream(&s, 4, 0);
  const double n = 0x1p50, p = 0.3;
  for (size_t i = 0; i < 20000; i++) {
    int64_t k;
    CHECK_OK(emi_binomial_draw(&s, (int64_t)n, p, &k));
    draws[i] = (double)k;
  }
  const double var = n * p * (1.0 - p);
  check_moments("binomial(2^50, 0.3)", draws, 20000, n * p, var,
                var * (1.0 + 3.0 * (n - 2.0) * p * (1.0 - p)));
}

static void test_negbin(void)
{
  const struct {
    double mean, size;
  } cases[] = {{10.0, 0.5}, {3.0, 20.0}, {200.0, 4.0}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    const double mu = cases[c].mean, r = cases[c].size;
    emi_stream_t s;
    init_stream(&s, 5, c);
    int bad = 0;
    for (size_t i = 0; i < N_DRAWS; i++) {
      int64_t k;
      bad += emi_negbin_draw(&s, mu, r, &k) != EMI_SUCCESS;
      draws[i] = (double)k;
    }
    CHECK_INT_EQ(bad, 0);
    char what[64];
    snprintf(what, sizeof what, "negbin(mean %g, size %g)", mu, r);
    /* cumulants with success probability p = r / (r + mu): k2 = r(1-p)/p^2,
     * k4 = r(1-p)(p^2 - 6p + 6)/p^4, mu4 = k4 + 3 k2^2 */
    const double p = r / (r + mu), k2 = r * (1.0 - p) / (p * p);
    const double k4 = r * (1.0 - p) * (p * p - 6.0 * p + 6.0) / (p * p * p * p);
    check_moments(what, draws, N_DRAWS, mu, mu + mu * mu / r, k4 + 3.0 * k2 * k2);
    const double par[2] = {mu, r};
    check_discrete_gof(what, draws, N_DRAWS, 0.0, ceil(mu + 60.0 * sqrt(k2) + 30.0), logpmf_negbin, par);
  }
  /* (r, p) form: failures before the r-th success = mean r (1-p)/p, size r */
  emi_stream_t s;
  init_stream(&s, 6, 0);
  const double r = 2.5, pr = 0.3, mu = r * (1.0 - pr) / pr;
  for (size_t i = 0; i < N_DRAWS; i++) {
    int64_t k;
    CHECK_OK(emi_negbin_rp_draw(&s, r, pr, &k));
    draws[i] = (double)k;
  }
  const double k2 = r * (1.0 - pr) / (pr * pr);
  const double k4 = r * (1.0 - pr) * (pr * pr - 6.0 * pr + 6.0) / pow(pr, 4);
  check_moments("negbin_rp(2.5, 0.3)", draws, N_DRAWS, mu, k2, k4 + 3.0 * k2 * k2);
  const double par[2] = {mu, r};
  check_discrete_gof("negbin_rp(2.5, 0.3)", draws, N_DRAWS, 0.0, ceil(mu + 60.0 * sqrt(k2)),
                     logpmf_negbin, par);
}

static void test_continuous(void)
{
  emi_stream_t s;
  char what[64];

  /* normal */
  const double norm[][2] = {{0.0, 1.0}, {-3.5, 0.25}};
  for (size_t c = 0; c < 2; c++) {
    init_stream(&s, 7, c);
    for (size_t i = 0; i < N_DRAWS; i++)
      CHECK_OK(emi_normal_draw(&s, norm[c][0], norm[c][1], &draws[i]));
    snprintf(what, sizeof what, "normal(%g, %g)", norm[c][0], norm[c][1]);
    const double v = norm[c][1] * norm[c][1];
    check_moments(what, draws, N_DRAWS, norm[c][0], v, 3.0 * v * v);
    check_continuous_gof(what, draws, N_DRAWS, cdf_normal, norm[c]);
  }
  /* standard normal through the unchecked entry point: the same values as normal(0, 1) */
  emi_stream_t t;
  init_stream(&s, 7, 0);
  init_stream(&t, 7, 0);
  int diff = 0;
  for (int i = 0; i < 1000; i++) {
    double x;
    CHECK_OK(emi_normal_draw(&t, 0.0, 1.0, &x));
    diff += x != emi_std_normal(&s);
  }
  CHECK_INT_EQ(diff, 0);

  /* exponential */
  const double rate = 2.5;
  init_stream(&s, 8, 0);
  for (size_t i = 0; i < N_DRAWS; i++) CHECK_OK(emi_exponential_draw(&s, rate, &draws[i]));
  check_moments("exponential(2.5)", draws, N_DRAWS, 1.0 / rate, 1.0 / (rate * rate), 9.0 / pow(rate, 4));
  check_continuous_gof("exponential(2.5)", draws, N_DRAWS, cdf_exponential, &rate);

  /* uniform */
  const double ab[2] = {-2.0, 5.0}, w = ab[1] - ab[0];
  init_stream(&s, 9, 0);
  for (size_t i = 0; i < N_DRAWS; i++) CHECK_OK(emi_uniform_draw(&s, ab[0], ab[1], &draws[i]));
  check_moments("uniform(-2, 5)", draws, N_DRAWS, 1.5, w * w / 12.0, pow(w, 4) / 80.0);
  check_continuous_gof("uniform(-2, 5)", draws, N_DRAWS, cdf_uniform, ab);

  /* gamma: shape < 1 (boost), = 1, > 1 */
  const double gam[][2] = {{0.3, 2.0}, {1.0, 1.0}, {5.5, 0.4}, {0.05, 1.0}};
  for (size_t c = 0; c < sizeof gam / sizeof gam[0]; c++) {
    const double k = gam[c][0], th = gam[c][1];
    init_stream(&s, 10, c);
    for (size_t i = 0; i < N_DRAWS; i++) CHECK_OK(emi_gamma_draw(&s, k, th, &draws[i]));
    snprintf(what, sizeof what, "gamma(%g, %g)", k, th);
    check_moments(what, draws, N_DRAWS, k * th, k * th * th, 3.0 * k * (k + 2.0) * pow(th, 4));
    check_continuous_gof(what, draws, N_DRAWS, cdf_gamma, gam[c]);
  }

  /* beta: both <= 1 (Johnk), both > 1 and mixed (gamma ratio); then tiny shapes, whose upper
   * tail doubles cannot resolve (Beta(0.05, 0.08) has 2% of its mass within 1e-16 of 1), checked
   * on [1e-300, 1/2); Beta(1e-3, 1e-3) takes Johnk's log-space branch (both powers underflow)
   * for 22% of its draws */
  const double bet[][2] = {{0.5, 0.5}, {2.0, 5.0}, {0.2, 3.0}, {0.05, 0.08}, {1e-3, 1e-3}};
  for (size_t c = 0; c < sizeof bet / sizeof bet[0]; c++) {
    const double a = bet[c][0], b = bet[c][1];
    init_stream(&s, 11, c);
    for (size_t i = 0; i < N_DRAWS; i++) CHECK_OK(emi_beta_draw(&s, a, b, &draws[i]));
    snprintf(what, sizeof what, "beta(%g, %g)", a, b);
    const double v = a * b / ((a + b) * (a + b) * (a + b + 1.0));
    const double kurt = 6.0 * ((a - b) * (a - b) * (a + b + 1.0) - a * b * (a + b + 2.0)) /
                        (a * b * (a + b + 2.0) * (a + b + 3.0));
    check_moments(what, draws, N_DRAWS, a / (a + b), v, v * v * (3.0 + kurt));
    if (a >= 0.1)
      check_continuous_gof(what, draws, N_DRAWS, cdf_beta, bet[c]);
    else
      check_window_gof(what, draws, N_DRAWS, cdf_beta, bet[c], 1e-300, 0.5);
  }
}

static void test_multinomial(void)
{
  /* marginals of Mult(1000, p) are Bin(1000, p_i); pairs have covariance -n p_i p_j.
   * Weights given unnormalised (x 7) to exercise the normalisation. */
  enum { K = 4 };
  const int64_t n = 1000;
  const double p[K] = {0.1, 0.2, 0.3, 0.4};
  double w[K];
  for (int j = 0; j < K; j++) w[j] = 7.0 * p[j];
  static double cnt[K][N_DRAWS];
  emi_stream_t s;
  init_stream(&s, 12, 0);
  int badsum = 0;
  for (size_t i = 0; i < N_DRAWS; i++) {
    int64_t c[K];
    CHECK_OK(emi_multinomial_draw(&s, n, K, w, c));
    badsum += c[0] + c[1] + c[2] + c[3] != n;
    for (int j = 0; j < K; j++) cnt[j][i] = (double)c[j];
  }
  CHECK_INT_EQ(badsum, 0);
  for (int j = 0; j < K; j++) {
    char what[64];
    snprintf(what, sizeof what, "multinomial(1000) category %d", j);
    const double var = (double)n * p[j] * (1.0 - p[j]);
    check_moments(what, cnt[j], N_DRAWS, (double)n * p[j], var,
                  var * (1.0 + 3.0 * ((double)n - 2.0) * p[j] * (1.0 - p[j])));
    const double par[2] = {(double)n, p[j]};
    check_discrete_gof(what, cnt[j], N_DRAWS, 0.0, (double)n, logpmf_binomial, par);
  }
  /* covariance of categories 0 and 3 and of 1 and 2: the SE of a sample covariance of nearly
   * normal pairs is sqrt((s_x^2 s_y^2 + s_xy^2) / N) */
  const int pairs[2][2] = {{0, 3}, {1, 2}};
  for (int pi_ = 0; pi_ < 2; pi_++) {
    const int a = pairs[pi_][0], b = pairs[pi_][1];
    double ma, mb, va, vb, cov = 0.0;
    sample_moments(cnt[a], N_DRAWS, &ma, &va);
    sample_moments(cnt[b], N_DRAWS, &mb, &vb);
    for (size_t i = 0; i < N_DRAWS; i++) cov += (cnt[a][i] - ma) * (cnt[b][i] - mb);
    cov /= (double)(N_DRAWS - 1);
    const double exact = -(double)n * p[a] * p[b];
    const double sxa = (double)n * p[a] * (1 - p[a]), sxb = (double)n * p[b] * (1 - p[b]);
    const double se = sqrt((sxa * sxb + exact * exact) / N_DRAWS);
    CHECK_MSG(fabs(cov - exact) <= 5.0 * se, "multinomial cov(%d, %d) = %g, exact %g (%.2f SE)", a, b,
              cov, exact, fabs(cov - exact) / se);
  }

  /* the whole joint law for n = 3 over 3 categories: 10 cells, exact multinomial pmf */
  const double q[3] = {0.2, 0.3, 0.5};
  double obs[16] = {0}, expect[16] = {0};
  init_stream(&s, 12, 1);
  for (size_t i = 0; i < N_DRAWS; i++) {
    int64_t c[3];
    CHECK_OK(emi_multinomial_draw(&s, 3, 3, q, c));
    CHECK(c[0] >= 0 && c[1] >= 0 && c[2] >= 0 && c[0] + c[1] + c[2] == 3);
    obs[c[0] * 4 + c[1]] += 1.0;
  }
  for (int a = 0; a <= 3; a++)
    for (int b = 0; a + b <= 3; b++) {
      const int cc = 3 - a - b;
      expect[a * 4 + b] = N_DRAWS * exp(lgam(4) - lgam(a + 1) - lgam(b + 1) - lgam(cc + 1) +
                                        a * log(q[0]) + b * log(q[1]) + cc * log(q[2]));
    }
  /* the 10 reachable cells, each expecting >= 0.008 N = 1600 */
  double o10[10], e10[10];
  int m = 0;
  for (int j = 0; j < 16; j++)
    if (expect[j] > 0.0) {
      o10[m] = obs[j];
      e10[m] = expect[j];
      m++;
    } else {
      CHECK(obs[j] == 0.0);
    }
  CHECK_INT_EQ(m, 10);
  int df;
  const double chi2 = chi2_merged(o10, e10, 10, 5.0, &df);
  CHECK_INT_EQ(df, 9);
  CHECK_MSG(chi2 < chi2_crit(df), "multinomial(3; 0.2, 0.3, 0.5) joint chi2 = %.2f, critical %.2f", chi2,
            chi2_crit(df));

  /* zero weights get zero counts, in any position; one category gets everything */
  const double z[5] = {0.0, 0.5, 0.0, 0.5, 0.0};
  init_stream(&s, 12, 2);
  int badz = 0;
  for (int i = 0; i < 10000; i++) {
    int64_t c[5];
    CHECK_OK(emi_multinomial_draw(&s, 50, 5, z, c));
    badz += c[0] != 0 || c[2] != 0 || c[4] != 0 || c[1] + c[3] != 50;
  }
  CHECK_INT_EQ(badz, 0);
  int64_t one;
  const double w1 = 0.3;
  CHECK_OK(emi_multinomial_draw(&s, 123, 1, &w1, &one));
  CHECK_INT_EQ(one, 123);
  /* tiny trailing weights are still honoured: conditional probabilities from suffix sums */
  const double tiny[3] = {1.0 - 2e-12, 1e-12, 1e-12};
  int64_t c3[3];
  CHECK_OK(emi_multinomial_draw(&s, 0, 3, tiny, c3));
  CHECK(c3[0] == 0 && c3[1] == 0 && c3[2] == 0);
  double t1 = 0.0, t2 = 0.0;
  const int64_t nbig = INT64_C(1) << 45; /* expect 35 in each tiny category */
  for (int i = 0; i < 2000; i++) {
    CHECK_OK(emi_multinomial_draw(&s, nbig, 3, tiny, c3));
    CHECK(c3[0] + c3[1] + c3[2] == nbig);
    t1 += (double)c3[1];
    t2 += (double)c3[2];
  }
  /* each is Bin(2^45, 1e-12) summed over 2000 draws: mean 70368.7, sd 265; 5 SE */
  const double e_t = 2000.0 * (double)nbig * 1e-12, se_t = sqrt(e_t);
  CHECK_MSG(fabs(t1 - e_t) < 5 * se_t && fabs(t2 - e_t) < 5 * se_t, "tiny weights: %g, %g, expected %g",
            t1, t2, e_t);
}

static void test_special_cases(void)
{
  emi_stream_t s;
  init_stream(&s, 13, 0);
  int64_t k;
  double x;
  int bad = 0;
  for (int i = 0; i < 100; i++) {
    CHECK_OK(emi_poisson_draw(&s, 0.0, &k));
    bad += k != 0;
    CHECK_OK(emi_binomial_draw(&s, 1000, 0.0, &k));
    bad += k != 0;
    CHECK_OK(emi_binomial_draw(&s, 1000, 1.0, &k));
    bad += k != 1000;
    CHECK_OK(emi_binomial_draw(&s, EMI_BINOMIAL_N_MAX, 1.0, &k));
    bad += k != EMI_BINOMIAL_N_MAX;
    CHECK_OK(emi_binomial_draw(&s, 0, 0.7, &k));
    bad += k != 0;
    CHECK_OK(emi_negbin_draw(&s, 0.0, 3.0, &k));
    bad += k != 0;
    CHECK_OK(emi_negbin_rp_draw(&s, 3.0, 1.0, &k));
    bad += k != 0;
    CHECK_OK(emi_normal_draw(&s, 4.25, 0.0, &x));
    bad += x != 4.25;
    CHECK_OK(emi_binomial_draw(&s, 1, 0.5, &k));
    bad += k != 0 && k != 1;
    CHECK_OK(emi_beta_draw(&s, 1e-3, 1e-3, &x)); /* Johnk in logs: still in [0, 1] */
    bad += !(x >= 0.0 && x <= 1.0);
    CHECK_OK(emi_gamma_draw(&s, 1e-3, 1.0, &x)); /* may underflow to 0, never negative or NaN */
    bad += !(x >= 0.0);
  }
  CHECK_INT_EQ(bad, 0);

  /* reproducible: the same stream gives the same values for every sampler */
  emi_stream_t a, b;
  init_stream(&a, 14, 3);
  init_stream(&b, 14, 3);
  int diff = 0;
  for (int i = 0; i < 500; i++) {
    int64_t ka, kb;
    double xa, xb;
    CHECK_OK(emi_poisson_draw(&a, 37.5, &ka));
    CHECK_OK(emi_poisson_draw(&b, 37.5, &kb));
    diff += ka != kb;
    CHECK_OK(emi_binomial_draw(&a, 500, 0.25, &ka));
    CHECK_OK(emi_binomial_draw(&b, 500, 0.25, &kb));
    diff += ka != kb;
    CHECK_OK(emi_gamma_draw(&a, 0.7, 1.0, &xa));
    CHECK_OK(emi_gamma_draw(&b, 0.7, 1.0, &xb));
    diff += xa != xb;
    CHECK_OK(emi_negbin_draw(&a, 12.0, 1.5, &ka));
    CHECK_OK(emi_negbin_draw(&b, 12.0, 1.5, &kb));
    diff += ka != kb;
  }
  CHECK_INT_EQ(diff, 0);
}

/* An invalid parameter: EMI_ERR_DOMAIN, a message containing `needle` (parameter = value), the
 * output untouched and the stream not advanced. */
#define CHECK_DOMAIN(call, out, needle)                                                   \
  do {                                                                                    \
    emi_stream_t before_ = s;                                                             \
    unsigned char sentinel_[sizeof(out)];                                                 \
    memcpy(sentinel_, &(out), sizeof sentinel_);                                          \
    emi_err_t e_ = (call);                                                                \
    CHECK_MSG(e_ == EMI_ERR_DOMAIN, "%s returned %s", #call, emi_err_name(e_));           \
    CHECK_MSG(strstr(emi_err_message(), (needle)) != NULL, "%s: message \"%s\" lacks \"%s\"", \
              #call, emi_err_message(), (needle));                                        \
    CHECK_MSG(memcmp(sentinel_, &(out), sizeof sentinel_) == 0, "%s wrote its output", #call); \
    CHECK_MSG(memcmp(&before_, &s, sizeof s) == 0, "%s consumed stream words", #call);    \
    emi_err_clear();                                                                      \
  } while (0)

static void test_domain(void)
{
  emi_stream_t s;
  init_stream(&s, 15, 0);
  int64_t k = -77;
  double x = -77.0;
  const double qnan = NAN, inf = INFINITY;

  CHECK_DOMAIN(emi_poisson_draw(&s, -1.0, &k), k, "mean = -1");
  CHECK_DOMAIN(emi_poisson_draw(&s, qnan, &k), k, "mean = nan");
  CHECK_DOMAIN(emi_poisson_draw(&s, inf, &k), k, "mean = inf");
  CHECK_DOMAIN(emi_poisson_draw(&s, 2e15, &k), k, "mean = 2e+15");

  CHECK_DOMAIN(emi_binomial_draw(&s, -1, 0.5, &k), k, "n = -1");
  CHECK_DOMAIN(emi_binomial_draw(&s, EMI_BINOMIAL_N_MAX + 1, 0.5, &k), k, "n = 9007199254740993");
  CHECK_DOMAIN(emi_binomial_draw(&s, 10, -0.1, &k), k, "p = -0.1");
  CHECK_DOMAIN(emi_binomial_draw(&s, 10, 1.5, &k), k, "p = 1.5");
  CHECK_DOMAIN(emi_binomial_draw(&s, 10, qnan, &k), k, "p = nan");

  CHECK_DOMAIN(emi_negbin_draw(&s, -2.0, 1.0, &k), k, "mean = -2");
  CHECK_DOMAIN(emi_negbin_draw(&s, 2.0, 0.0, &k), k, "size = 0");
  CHECK_DOMAIN(emi_negbin_draw(&s, 2.0, qnan, &k), k, "size = nan");
  CHECK_DOMAIN(emi_negbin_draw(&s, 2.0, inf, &k), k, "size = inf");
  CHECK_DOMAIN(emi_negbin_rp_draw(&s, 0.0, 0.5, &k), k, "r = 0");
  CHECK_DOMAIN(emi_negbin_rp_draw(&s, 2.0, 0.0, &k), k, "p = 0");
  CHECK_DOMAIN(emi_negbin_rp_draw(&s, 2.0, 1.5, &k), k, "p = 1.5");
  CHECK_DOMAIN(emi_negbin_rp_draw(&s, 2.0, 1e-300, &k), k, "mean r (1-p) / p");

  CHECK_DOMAIN(emi_normal_draw(&s, 0.0, -1.0, &x), x, "sigma = -1");
  CHECK_DOMAIN(emi_normal_draw(&s, 0.0, qnan, &x), x, "sigma = nan");
  CHECK_DOMAIN(emi_normal_draw(&s, inf, 1.0, &x), x, "mu = inf");
  CHECK_DOMAIN(emi_exponential_draw(&s, 0.0, &x), x, "rate = 0");
  CHECK_DOMAIN(emi_exponential_draw(&s, -3.0, &x), x, "rate = -3");
  CHECK_DOMAIN(emi_exponential_draw(&s, qnan, &x), x, "rate = nan");
  CHECK_DOMAIN(emi_uniform_draw(&s, 1.0, 1.0, &x), x, "lo = 1, hi = 1");
  CHECK_DOMAIN(emi_uniform_draw(&s, 2.0, 1.0, &x), x, "lo = 2, hi = 1");
  CHECK_DOMAIN(emi_uniform_draw(&s, -inf, 1.0, &x), x, "lo = -inf");
  CHECK_DOMAIN(emi_uniform_draw(&s, -1e308, 1e308, &x), x, "hi - lo finite");
  CHECK_DOMAIN(emi_gamma_draw(&s, 0.0, 1.0, &x), x, "shape = 0");
  CHECK_DOMAIN(emi_gamma_draw(&s, -1.0, 1.0, &x), x, "shape = -1");
  CHECK_DOMAIN(emi_gamma_draw(&s, qnan, 1.0, &x), x, "shape = nan");
  CHECK_DOMAIN(emi_gamma_draw(&s, 1.0, 0.0, &x), x, "scale = 0");
  CHECK_DOMAIN(emi_gamma_draw(&s, 1.0, inf, &x), x, "scale = inf");
  CHECK_DOMAIN(emi_beta_draw(&s, 0.0, 1.0, &x), x, "a = 0");
  CHECK_DOMAIN(emi_beta_draw(&s, 1.0, -2.0, &x), x, "b = -2");
  CHECK_DOMAIN(emi_beta_draw(&s, qnan, 1.0, &x), x, "a = nan");

  int64_t c[3] = {-5, -5, -5};
  const double good[3] = {0.2, 0.3, 0.5}, neg[3] = {0.2, -0.3, 0.5}, zero[3] = {0, 0, 0},
               hasnan[3] = {0.2, 0.3, NAN};
  CHECK_DOMAIN(emi_multinomial_draw(&s, -1, 3, good, c), c, "n = -1");
  CHECK_DOMAIN(emi_multinomial_draw(&s, 10, 0, good, c), c, "ncat = 0");
  CHECK_DOMAIN(emi_multinomial_draw(&s, 10, 3, neg, c), c, "prob[1] = -0.3");
  CHECK_DOMAIN(emi_multinomial_draw(&s, 10, 3, hasnan, c), c, "prob[2] = nan");
  CHECK_DOMAIN(emi_multinomial_draw(&s, 10, 3, zero, c), c, "add to 0");

  /* negative binomial whose gamma-mixed Poisson mean exceeds EMI_POISSON_MEAN_MAX: Gamma(1e-3)
   * exceeds 1e-3 with probability ~0.001 E1(0.001) = 0.0063, so about 13 of 2000 draws of
   * NB(mean 1e15, size 1e-3) are refused, each with a message, and the rest succeed */
  int refused = 0, other = 0;
  for (int i = 0; i < 2000; i++) {
    emi_err_t e = emi_negbin_draw(&s, 1e15, 1e-3, &k);
    if (e == EMI_ERR_DOMAIN) {
      refused++;
      other += strstr(emi_err_message(), "gamma-mixed Poisson mean") == NULL;
      emi_err_clear();
    } else {
      other += e != EMI_SUCCESS || k < 0;
    }
  }
  CHECK_MSG(refused >= 1 && refused <= 60, "NB(1e15, 1e-3): %d of 2000 draws refused", refused);
  CHECK_INT_EQ(other, 0);

  /* NULL pointers are argument errors */
  CHECK_ERR(emi_poisson_draw(NULL, 1.0, &k), EMI_ERR_ARG);
  CHECK_ERR(emi_gamma_draw(&s, 1.0, 1.0, NULL), EMI_ERR_ARG);
  CHECK_ERR(emi_multinomial_draw(&s, 1, 3, NULL, c), EMI_ERR_ARG);
}

int main(void)
{
  draws = malloc(N_DRAWS * sizeof *draws);
  if (!draws) {
    fprintf(stderr, "test_dist: out of memory\n");
    return 1;
  }
  test_special_functions();
  test_poisson();
  test_binomial();
  test_negbin();
  test_continuous();
  test_multinomial();
  test_special_cases();
  test_domain();
  free(draws);
  return emi_test_report("test_dist");
}
