/* test_fcast: forecast trajectories and exact quantiles by histogram selection (kernels/emi_fcast.c).
 *
 * Right values and where they come from:
 *  - exact quantiles: emi_qsel_* over histograms must equal the sort-based reference twin
 *    emi_qsel_ref bit for bit (R type 7), for samples of small and huge range (one level and four
 *    levels of histograms), ties, a constant sample, n = 1 and 2, and histograms summed from
 *    several "ranks" holding different parts of the sample (as MPI_Allreduce would);
 *  - type 7 by hand: 1..10 has q05 = 1.45, q50 = 5.5, q95 = 9.55 (h = 9 q);
 *  - trajectories against closed forms: with rho = 0, sigma_e = 0 the count is Poisson(exp(x'beta + u)),
 *    whose sample mean over 20000 trajectories must be within 5 standard errors; with sigma_e > 0 and
 *    rho the log-mean of e at horizon h has variance sigma_e^2 (1 - rho^2h) / (1 - rho^2) about
 *    rho^h e_last (checked on the mean of log counts of large flows, within 5 SE); the undeclared part
 *    under coverage pi has mean (1 - pi) E count; a multiplier m scales the mean by m;
 *  - determinism: the same (seed, scenario, trajectory) gives the same counts; another scenario or
 *    trajectory differs;
 *  - bad input: rho = 1, a coverage 1.5, an explosive mean -> EMI_ERR_DOMAIN.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emi_dist.h"
#include "emi_fcast.h"
#include "emi_philox.h"
#include "emi_test.h"

static const double qs[9] = {0.025, 0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95, 0.975};

/* Quantiles of v[0..n) by histogram selection, the sample split over `nranks` contiguous parts. */
static void qsel_all(const int64_t *v, int64_t n, int nranks, double *out)
{
  int64_t mn = v[0], mx = v[0];
  for (int64_t i = 1; i < n; i++) mn = v[i] < mn ? v[i] : mn, mx = v[i] > mx ? v[i] : mx;
  emi_qsel_t t[18];
  for (int q = 0; q < 9; q++) {
    int64_t j, j1;
    emi_qsel_ranks(n, qs[q], &j, &j1);
    CHECK_OK(emi_qsel_init(&t[2 * q], j, n, mn, mx));
    CHECK_OK(emi_qsel_init(&t[2 * q + 1], j1, n, mn, mx));
  }
  int64_t *hist = malloc(sizeof *hist * EMI_QSEL_BINS), *part = malloc(sizeof *part * EMI_QSEL_BINS);
  for (int level = 0; level < 12; level++) {
    int pending = 0;
    for (int i = 0; i < 18; i++) pending += !t[i].done;
    if (!pending) break;
    for (int i = 0; i < 18; i++) {
      if (t[i].done) continue;
      memset(hist, 0, sizeof *hist * EMI_QSEL_BINS);
      for (int r = 0; r < nranks; r++) { /* each "rank" fills its own histogram; they are summed */
        memset(part, 0, sizeof *part * EMI_QSEL_BINS);
        for (int64_t k = n * r / nranks; k < n * (r + 1) / nranks; k++) {
          int b = emi_qsel_bin(&t[i], v[k]);
          if (b >= 0) part[b]++;
        }
        for (int b = 0; b < EMI_QSEL_BINS; b++) hist[b] += part[b];
      }
      CHECK_OK(emi_qsel_update(&t[i], hist));
    }
  }
  for (int q = 0; q < 9; q++) {
    CHECK(t[2 * q].done && t[2 * q + 1].done);
    out[q] = emi_qsel_type7(n, qs[q], t[2 * q].value, t[2 * q + 1].value);
  }
  free(hist), free(part);
}

static void check_sample(const char *what, const int64_t *v, int64_t n, int nranks)
{
  int64_t *w = malloc(sizeof *w * (size_t)n);
  double got[9];
  qsel_all(v, n, nranks, got);
  for (int q = 0; q < 9; q++) {
    double ref = emi_qsel_ref(v, n, qs[q], w);
    CHECK_MSG(got[q] == ref, "%s: q%.3f histogram %.17g, sort %.17g", what, qs[q], got[q], ref);
  }
  free(w);
}

static void test_quantiles(void)
{
  int64_t a[10];
  for (int i = 0; i < 10; i++) a[i] = 10 - i;
  int64_t w[10];
  CHECK(fabs(emi_qsel_ref(a, 10, 0.05, w) - 1.45) < 1e-12);
  CHECK(fabs(emi_qsel_ref(a, 10, 0.50, w) - 5.5) < 1e-12);
  CHECK(fabs(emi_qsel_ref(a, 10, 0.95, w) - 9.55) < 1e-12);
  check_sample("1..10", a, 10, 3);
  int64_t one[1] = {42}, two[2] = {7, -3};
  check_sample("n=1", one, 1, 1);
  check_sample("n=2", two, 2, 2);
  const int64_t n = 20001;
  int64_t *v = malloc(sizeof *v * n);
  emi_stream_t st;
  emi_stream_init(&st, 9, 1, 0, 0);
  for (int64_t i = 0; i < n; i++) emi_poisson_draw(&st, 37.5, &v[i]); /* small range: one level, ties */
  check_sample("Poisson(37.5)", v, n, 3);
  for (int64_t i = 0; i < n; i++) { /* heavy tail over ~12 decades: four levels */
    double g;
    emi_gamma_draw(&st, 0.05, 1e12, &g);
    v[i] = (int64_t)g;
  }
  check_sample("gamma(0.05) x 1e12", v, n, 2);
  for (int64_t i = 0; i < n; i++) v[i] = (i % 3) - 1; /* -1, 0, 1 */
  check_sample("three values", v, n, 4);
  for (int64_t i = 0; i < n; i++) v[i] = 5;
  check_sample("constant", v, n, 2);
  v[0] = INT64_MIN / 2, v[1] = INT64_MAX / 2; /* extreme range */
  check_sample("extreme range", v, n, 2);
  free(v);
  emi_qsel_t t;
  CHECK_ERR(emi_qsel_init(&t, 5, 5, 0, 1), EMI_ERR_ARG);
  CHECK_ERR(emi_qsel_init(&t, 0, 1, 3, 2), EMI_ERR_ARG);
}

static void test_trajectories(void)
{
  enum { K = 2, H = 6, P = 2, N = 20000 };
  double x[K * H * P], beta[P] = {3.0, 0.5}, u[K] = {0.2, 1.5}, el[K] = {0.3, -0.4}, mult[K * H], cover[K * H];
  for (int i = 0; i < K * H; i++) x[2 * i] = 1.0, x[2 * i + 1] = 0.1 * (i % H), mult[i] = 1.0, cover[i] = 0.3;
  mult[1 * H + 4] = 0.25; /* a shock on series 1, period 4 */
  emi_fc_draw_t d = {.K = K, .H = H, .P = P, .x = x, .beta = beta, .u = u, .e_last = el, .rho = 0.0, .sig_e = 0.0,
                     .mult = mult, .cover = cover};
  int64_t fl[K * H], ud[K * H];
  double sum[K * H] = {0}, sumu[K * H] = {0};
  for (int k = 0; k < N; k++) {
    CHECK_OK(emi_fc_trajectory(&d, 5, 0, (uint64_t)k, fl, ud));
    for (int i = 0; i < K * H; i++) sum[i] += (double)fl[i], sumu[i] += (double)ud[i];
  }
  for (int kk = 0; kk < K; kk++)
    for (int h = 0; h < H; h++) {
      int i = kk * H + h;
      double mu = mult[i] * exp(beta[0] + beta[1] * 0.1 * h + u[kk]); /* rho = 0: e = 0 */
      double m = sum[i] / N, se = sqrt(mu / N);
      CHECK_MSG(fabs(m - mu) < 5 * se, "series %d period %d: mean count %.3f, Poisson mean %.3f", kk, h, m, mu);
      double mu_u = 0.7 * mu, se_u = sqrt((0.7 * mu) / N);
      CHECK_MSG(fabs(sumu[i] / N - mu_u) < 5 * se_u, "undeclared mean %.3f, expected %.3f", sumu[i] / N, mu_u);
    }
  /* AR(1): log count of a large flow ~ x'beta + u + e_h, e_h ~ N(rho^(h+1) e_last, s^2 (1 - rho^(2(h+1))) / (1 - rho^2)) */
  double big[K] = {9.0, 9.0};
  d.u = big, d.rho = 0.8, d.sig_e = 0.2, d.mult = NULL, d.cover = NULL;
  double sl[K * H] = {0}, sl2[K * H] = {0};
  for (int k = 0; k < N; k++) {
    CHECK_OK(emi_fc_trajectory(&d, 6, 1, (uint64_t)k, fl, NULL));
    for (int i = 0; i < K * H; i++) {
      double l = log((double)fl[i]);
      sl[i] += l, sl2[i] += l * l;
    }
  }
  for (int kk = 0; kk < K; kk++)
    for (int h = 0; h < H; h++) {
      int i = kk * H + h, s = h + 1;
      double m = sl[i] / N, var = sl2[i] / N - m * m;
      double em = beta[0] + beta[1] * 0.1 * h + 9.0 + pow(0.8, s) * el[kk];
      double ev = 0.04 * (1 - pow(0.64, s)) / (1 - 0.64);
      /* the Poisson noise of a count ~ e^12 adds ~1/count ~ 6e-6 to the log variance: negligible */
      CHECK_MSG(fabs(m - em) < 5 * sqrt(ev / N), "AR mean at h=%d: %.5f vs %.5f", h, m, em);
      CHECK_MSG(fabs(var - ev) < 5 * ev * sqrt(2.0 / N), "AR variance at h=%d: %.5f vs %.5f", h, var, ev);
    }
  /* determinism */
  int64_t a[K * H], b[K * H], c[K * H];
  CHECK_OK(emi_fc_trajectory(&d, 6, 1, 77, a, NULL));
  CHECK_OK(emi_fc_trajectory(&d, 6, 1, 77, b, NULL));
  CHECK(!memcmp(a, b, sizeof a));
  CHECK_OK(emi_fc_trajectory(&d, 6, 2, 77, c, NULL));
  CHECK(memcmp(a, c, sizeof a) != 0);
  CHECK_OK(emi_fc_trajectory(&d, 6, 1, 78, c, NULL));
  CHECK(memcmp(a, c, sizeof a) != 0);
  /* bad input */
  d.rho = 1.0;
  CHECK_ERR(emi_fc_trajectory(&d, 6, 1, 0, a, NULL), EMI_ERR_DOMAIN);
  d.rho = 0.5;
  cover[3] = 1.5;
  d.cover = cover;
  CHECK_ERR(emi_fc_trajectory(&d, 6, 1, 0, a, b), EMI_ERR_DOMAIN);
  d.cover = NULL;
  double huge[K] = {40.0, 40.0};
  d.u = huge;
  CHECK_ERR(emi_fc_trajectory(&d, 6, 1, 0, a, NULL), EMI_ERR_DOMAIN);
}

int main(void)
{
  test_quantiles();
  test_trajectories();
  return emi_test_report("test_fcast");
}
