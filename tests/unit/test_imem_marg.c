/* test_imem_marg: the O(T + n) marginal likelihood of one series (emi_imem_marg_series, step 2b of
 * the sampler in kernels/emi_imem.c) against its plain twin and against closed forms.
 *
 * Right values and where they come from:
 *  1. closed forms: one report (T = 1 or T = 3 with the report in period 1): w ~ N(0, v) with
 *     v = sigma_u^2 + sigma_e^2 / (1 - rho^2) + tau^2 (the stationary AR(1) variance), so
 *     log p = -log(2 pi v) / 2 - w^2 / (2 v); two reports in periods 0 and 2 of T = 3: the 2 x 2
 *     covariance [v1 c; c v2], c = sigma_u^2 + sigma_e^2 rho^2 / (1 - rho^2), whose determinant and
 *     inverse are written out by hand;
 *  2. emi_imem_marg_series_ref, the same density from the dense n x n covariance
 *     sigma_u^2 11' + sigma_e^2 rho^|s-t| / (1 - rho^2) + diag(tau^2) and a LAPACKE Cholesky (the
 *     algebra series_theta uses), over 4000 random series: T = 1..40, 0..2T reports with repeated
 *     and missing periods, rho in (-0.98, 0.99), variances from 1e-4 to 10.  Both compute the same
 *     number by different algebra (Woodbury and the determinant lemma on the bordered tridiagonal
 *     precision, against a dense factorisation), so they agree to rounding: |diff| <= 1e-9 (1 + |f|)
 *     (the dense factor of a covariance with condition number up to ~1e7 loses ~7 digits at worst);
 *  3. step 3's draw emi_imem_ue_draw: (u, e) ~ N(A^-1 b, A^-1).  Closed form for T = 1 and one report
 *     (a 2 x 2 precision inverted by hand); against emi_imem_ue_draw_ref (dense precision, LAPACKE
 *     Cholesky: the draw the sampler made before) over 2000 random series: the same mean (eps = 0)
 *     and the same covariance (sum over unit vectors eps = e_i of the outer products of the
 *     deviations: M M' for either factor M), to 1e-9 relative.  The two factors differ (e first
 *     against u first), so the draws for one eps differ, by design. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "emi_dist.h"
#include "emi_imem.h"
#include "emi_philox.h"
#include "emi_test.h"

#define MAXT 40
#define MAXN (2 * MAXT)
#define NACC 3

static double fast(int T, int n, const int32_t *t, const int32_t *a, const double *tau2, const double *w, double s2u,
                   double s2e, double rho)
{
  double pa[NACC], la[NACC], scr[2 * MAXT];
  for (int i = 0; i < NACC; i++) pa[i] = 1.0 / tau2[i], la[i] = log(tau2[i]);
  emi_imem_marg_hyp_t h;
  emi_imem_marg_hyp(s2u, s2e, rho, &h);
  return emi_imem_marg_series(T, n, t, a, pa, la, w, &h, scr);
}

static double ref(int T, int n, const int32_t *t, const int32_t *a, const double *tau2, const double *w, double s2u,
                  double s2e, double rho)
{
  static double scr[MAXN * (MAXN + 1)];
  return emi_imem_marg_series_ref(T, n, t, a, tau2, w, s2u, s2e, rho, scr);
}

static void test_closed_forms(void)
{
  const double LOG2PI = log(2.0 * 3.141592653589793);
  double tau2[NACC] = {0.01, 0.09, 0.5};
  double s2u = 0.4, s2e = 0.05, rho = 0.7;
  int32_t t1[1] = {0}, a1[1] = {1};
  double w1[1] = {0.3};
  double v = s2u + s2e / (1 - rho * rho) + tau2[1];
  double want = -0.5 * (LOG2PI + log(v)) - 0.5 * w1[0] * w1[0] / v;
  double got = fast(1, 1, t1, a1, tau2, w1, s2u, s2e, rho);
  CHECK_MSG(fabs(got - want) < 1e-13, "T = 1: got %.17g, expected %.17g", got, want);
  int32_t t3[1] = {1};
  got = fast(3, 1, t3, a1, tau2, w1, s2u, s2e, rho); /* the unreported periods integrate out */
  CHECK_MSG(fabs(got - want) < 1e-13, "T = 3, one report: got %.17g, expected %.17g", got, want);
  /* two reports, periods 0 and 2 (lag 2), classes 0 and 2 */
  int32_t t2[2] = {0, 2}, a2[2] = {0, 2};
  double w2[2] = {-0.2, 0.45};
  double g = s2e / (1 - rho * rho), v1 = s2u + g + tau2[0], v2 = s2u + g + tau2[2], c = s2u + g * rho * rho;
  double det = v1 * v2 - c * c;
  double quad = (v2 * w2[0] * w2[0] - 2 * c * w2[0] * w2[1] + v1 * w2[1] * w2[1]) / det;
  want = -LOG2PI - 0.5 * log(det) - 0.5 * quad;
  got = fast(3, 2, t2, a2, tau2, w2, s2u, s2e, rho);
  CHECK_MSG(fabs(got - want) < 1e-13, "T = 3, two reports: got %.17g, expected %.17g", got, want);
  double gr = ref(3, 2, t2, a2, tau2, w2, s2u, s2e, rho);
  CHECK_MSG(fabs(gr - want) < 1e-13, "reference, two reports: got %.17g, expected %.17g", gr, want);
  /* no report: the empty density, log 1 = 0 */
  CHECK_MSG(fabs(fast(5, 0, t1, a1, tau2, w1, s2u, s2e, rho)) < 1e-13, "no report: log density not 0");
}

static void test_against_reference(void)
{
  emi_stream_t st;
  emi_stream_init(&st, 20261204, 11, 0, 0);
  int32_t t[MAXN], a[MAXN];
  double w[MAXN], tau2[NACC];
  double worst = 0.0;
  int bad = 0;
  for (int rep = 0; rep < 4000; rep++) {
    int T = 1 + (int)(emi_uniform(&st) * MAXT);
    int n = (int)(emi_uniform(&st) * (2 * T + 1));
    double s2u = exp(log(1e-4) + emi_uniform(&st) * log(1e5)), s2e = exp(log(1e-4) + emi_uniform(&st) * log(1e5));
    double rho = -0.98 + 1.97 * emi_uniform(&st);
    for (int i = 0; i < NACC; i++) tau2[i] = exp(log(1e-4) + emi_uniform(&st) * log(1e5));
    for (int j = 0; j < n; j++) {
      t[j] = (int32_t)(emi_uniform(&st) * T);
      a[j] = (int32_t)(emi_uniform(&st) * NACC);
      w[j] = 2.0 * emi_std_normal(&st);
    }
    double f = fast(T, n, t, a, tau2, w, s2u, s2e, rho), g = ref(T, n, t, a, tau2, w, s2u, s2e, rho);
    double err = fabs(f - g) / (1.0 + fabs(g));
    if (!(err <= 1e-9)) {
      if (bad++ < 5)
        fprintf(stderr, "case %d: T %d n %d s2u %g s2e %g rho %g: fast %.17g ref %.17g\n", rep, T, n, s2u, s2e, rho, f,
                g);
    }
    if (err > worst) worst = err;
  }
  printf("marg_series vs dense reference: 4000 cases, max relative difference %.3g\n", worst);
  CHECK_INT_EQ(bad, 0);
}

static int ue(int T, int n, const int32_t *t, const int32_t *a, const double *tau2, const double *w, double s2u,
              double s2e, double rho, const double *eps, double *x, int use_ref)
{
  static double scr[(MAXT + 1) * (MAXT + 2) + 6 * MAXT];
  if (use_ref) return emi_imem_ue_draw_ref(T, n, t, a, tau2, w, s2u, s2e, rho, eps, &x[0], x + 1, scr);
  double pa[NACC], la[NACC];
  for (int i = 0; i < NACC; i++) pa[i] = 1.0 / tau2[i], la[i] = log(tau2[i]);
  emi_imem_marg_hyp_t h;
  emi_imem_marg_hyp(s2u, s2e, rho, &h);
  return emi_imem_ue_draw(T, n, t, a, pa, la, w, &h, eps, &x[0], x + 1, scr);
}

static void test_ue_draw(void)
{
  double tau2[NACC] = {0.04, 0.25, 1.0}, eps[MAXT + 1] = {0};
  double x[MAXT + 1];
  /* T = 1, one report w = 0.8 of class 0: A = [pu + p, p; p, (1 - rho^2) pe + p], b = (p w, p w) */
  {
    double s2u = 0.5, s2e = 0.1, rho = 0.6, p = 1.0 / tau2[0], w = 0.8;
    double a11 = 1 / s2u + p, a22 = (1 - rho * rho) / s2e + p, a12 = p, det = a11 * a22 - a12 * a12;
    double mu = (a22 * p * w - a12 * p * w) / det, me = (a11 * p * w - a12 * p * w) / det;
    int32_t t1[1] = {0}, a1[1] = {0};
    double w1[1] = {w};
    CHECK_INT_EQ(ue(1, 1, t1, a1, tau2, w1, s2u, s2e, rho, eps, x, 0), 0);
    CHECK_MSG(fabs(x[0] - mu) < 1e-14 && fabs(x[1] - me) < 1e-14, "T = 1 mean: got (%.17g, %.17g), expected (%.17g, %.17g)",
              x[0], x[1], mu, me);
    /* Var(u) = a22 / det: the eps = (1, 0) and (0, 1) deviations squared and summed */
    double vu = 0.0;
    for (int i = 0; i < 2; i++) {
      double e2[2] = {i == 0, i == 1}, y[2];
      ue(1, 1, t1, a1, tau2, w1, s2u, s2e, rho, e2, y, 0);
      vu += (y[0] - mu) * (y[0] - mu);
    }
    CHECK_MSG(fabs(vu - a22 / det) < 1e-14, "T = 1 var(u): got %.17g, expected %.17g", vu, a22 / det);
  }
  emi_stream_t st;
  emi_stream_init(&st, 20261204, 12, 0, 0);
  int32_t t[MAXN], a[MAXN];
  double w[MAXN];
  static double Cf[(MAXT + 1) * (MAXT + 1)], Cr[(MAXT + 1) * (MAXT + 1)], D[MAXT + 1], mf[MAXT + 1], mr[MAXT + 1];
  int bad = 0;
  double worst = 0.0;
  for (int rep = 0; rep < 2000; rep++) {
    int T = 1 + (int)(emi_uniform(&st) * MAXT), m = T + 1;
    int n = (int)(emi_uniform(&st) * (2 * T + 1));
    double s2u = exp(log(1e-3) + emi_uniform(&st) * log(1e4)), s2e = exp(log(1e-3) + emi_uniform(&st) * log(1e4));
    double rho = -0.95 + 1.94 * emi_uniform(&st);
    for (int i = 0; i < NACC; i++) tau2[i] = exp(log(1e-3) + emi_uniform(&st) * log(1e4));
    for (int j = 0; j < n; j++) {
      t[j] = (int32_t)(emi_uniform(&st) * T);
      a[j] = (int32_t)(emi_uniform(&st) * NACC);
      w[j] = 2.0 * emi_std_normal(&st);
    }
    for (int i = 0; i < m; i++) eps[i] = 0.0;
    CHECK_INT_EQ(ue(T, n, t, a, tau2, w, s2u, s2e, rho, eps, mf, 0), 0);
    CHECK_INT_EQ(ue(T, n, t, a, tau2, w, s2u, s2e, rho, eps, mr, 1), 0);
    for (int i = 0; i < m * m; i++) Cf[i] = Cr[i] = 0.0;
    for (int c = 0; c < m; c++) {
      for (int i = 0; i < m; i++) eps[i] = i == c;
      for (int pass = 0; pass < 2; pass++) {
        ue(T, n, t, a, tau2, w, s2u, s2e, rho, eps, x, pass);
        double *C = pass ? Cr : Cf, *mu = pass ? mr : mf;
        for (int i = 0; i < m; i++) D[i] = x[i] - mu[i];
        for (int i = 0; i < m; i++)
          for (int j = 0; j < m; j++) C[i + j * m] += D[i] * D[j];
      }
    }
    double err = 0.0;
    for (int i = 0; i < m; i++) {
      double sdi = sqrt(Cr[i + i * m]);
      err = fmax(err, fabs(mf[i] - mr[i]) / (sdi + fabs(mr[i])));
      for (int j = 0; j < m; j++) err = fmax(err, fabs(Cf[i + j * m] - Cr[i + j * m]) / (sdi * sqrt(Cr[j + j * m])));
    }
    if (!(err <= 1e-9) && bad++ < 5)
      fprintf(stderr, "ue case %d: T %d n %d s2u %g s2e %g rho %g: relative difference %g\n", rep, T, n, s2u, s2e, rho, err);
    worst = fmax(worst, err);
  }
  printf("ue_draw vs dense reference: 2000 cases, max relative difference in mean and covariance %.3g\n", worst);
  CHECK_INT_EQ(bad, 0);
}

int main(void)
{
  test_closed_forms();
  test_against_reference();
  test_ue_draw();
  return emi_test_report("test_imem_marg");
}
