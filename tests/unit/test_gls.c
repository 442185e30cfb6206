/* test_gls: GLS reconciliation (emi_gls_solve) and its plain-loop twin (emi_gls_solve_ref).
 *
 * Right values and where they come from:
 *  - two estimates constrained to a sum, worked by hand below (diagonal and correlated V);
 *  - a 3x3 flow matrix balanced so that each row total equals the matching column total, checked
 *    against an independent solve of the KKT system [I, V A^T; A, 0] [xhat; mu] = [x; b] by LU
 *    (LAPACKE_dgesv), which is the optimality condition of min (xhat-x)^T V^{-1} (xhat-x), A xhat = b
 *    multiplied through by V (so it needs no V^{-1} and also holds for zero-variance estimates);
 *  - properties that hold exactly in theory: A cov A^T = 0, cov symmetric, fixed estimates returned
 *    bit for bit, non-negative estimates, the implied third balancing identity;
 *  - non-negativity cases worked by hand (the negative estimate is held at 0 and the rest is
 *    re-spread in proportion to the variances).
 */
#include <lapacke.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "emi_err.h"
#include "emi_gls.h"
#include "emi_test.h"

static double hval(uint64_t salt, uint64_t i, double lo, double hi)
{
  uint64_t z = salt * 0x9E3779B97F4A7C15ull + i + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return lo + (hi - lo) * (double)(z >> 11) * 0x1.0p-53;
}

typedef emi_err_t (*gls_fn)(const emi_gls_problem_t *, const emi_gls_opts_t *, double *, double *, unsigned char *,
                            unsigned char *, double *, size_t, emi_gls_result_t *);
static const gls_fn FNS[2] = {emi_gls_solve, emi_gls_solve_ref};
static const char *const FN_NAMES[2] = {"emi_gls_solve", "emi_gls_solve_ref"};

/* Solve with a freshly allocated workspace. */
static emi_err_t solve2(int which, const emi_gls_problem_t *p, const emi_gls_opts_t *o, double *xhat, double *cov,
                        unsigned char *active, unsigned char *dropped, emi_gls_result_t *res)
{
  int nonneg = o ? o->nonneg : 0;
  size_t lw = emi_gls_work_len(p->n, p->m, p->v_diag, nonneg);
  double *work = malloc(lw * sizeof(double));
  emi_err_t e = FNS[which](p, o, xhat, cov, active, dropped, work, lw, res);
  free(work);
  return e;
}

static emi_err_t solve(int which, const emi_gls_problem_t *p, const emi_gls_opts_t *o, double *xhat, double *cov,
                       emi_gls_result_t *res)
{
  int nonneg = o ? o->nonneg : 0;
  size_t lw = emi_gls_work_len(p->n, p->m, p->v_diag, nonneg);
  double *work = malloc(lw * sizeof(double));
  emi_err_t e = FNS[which](p, o, xhat, cov, NULL, NULL, work, lw, res);
  free(work);
  return e;
}

/* max |A cov A^T| */
static double acat(size_t n, size_t m, const double *A, const double *cov)
{
  double worst = 0;
  for (size_t i = 0; i < m; i++)
    for (size_t k = 0; k < m; k++) {
      double s = 0;
      for (size_t a = 0; a < n; a++)
        for (size_t c = 0; c < n; c++) s += A[i * n + a] * cov[a * n + c] * A[k * n + c];
      worst = fmax(worst, fabs(s));
    }
  return worst;
}

/* Independent answer: KKT system [I, Vm A^T; A, 0] [xhat; mu] = [x; b] by LU, Vm = V with the rows
 * and columns of fixed estimates zeroed. */
static void kkt(const emi_gls_problem_t *p, double *xhat)
{
  size_t n = p->n, m = p->m, N = n + m;
  double *K = calloc(N * N, sizeof(double)), *rhs = malloc(N * sizeof(double));
  lapack_int *piv = malloc(N * sizeof(lapack_int));
  for (size_t i = 0; i < n; i++) {
    K[i * N + i] = 1;
    int fi = (p->fixed && p->fixed[i]) || (p->v_diag ? p->V[i] : p->V[i * n + i]) == 0;
    for (size_t k = 0; k < m; k++) {
      double s = 0;
      for (size_t l = 0; l < n; l++) {
        int fl = (p->fixed && p->fixed[l]) || (p->v_diag ? p->V[l] : p->V[l * n + l]) == 0;
        double v = p->v_diag ? (i == l ? p->V[i] : 0) : p->V[i * n + l];
        if (!fi && !fl) s += v * p->A[k * n + l];
      }
      K[i * N + n + k] = s;
    }
    rhs[i] = p->x[i];
  }
  for (size_t k = 0; k < m; k++) {
    for (size_t l = 0; l < n; l++) K[(n + k) * N + l] = p->A[k * n + l];
    rhs[n + k] = p->b[k];
  }
  lapack_int info = LAPACKE_dgesv(LAPACK_ROW_MAJOR, (lapack_int)N, 1, K, (lapack_int)N, piv, rhs, 1);
  CHECK_INT_EQ(info, 0);
  memcpy(xhat, rhs, n * sizeof(double));
  free(K);
  free(rhs);
  free(piv);
}

static void test_two_estimates(void)
{
  /* x = (10, 20), variances (1, 4), x1 + x2 = 27.  The excess d = 10 + 20 - 27 = 3 is shared in
   * proportion to the variances: xhat_i = x_i - v_i d / (v1 + v2) = (10 - 3/5, 20 - 12/5) = (9.4, 17.6).
   * cov = V - V a a^T V / (a^T V a) = [[1 - 1/5, -4/5], [-4/5, 4 - 16/5]] = [[0.8, -0.8], [-0.8, 0.8]]. */
  const double x[2] = {10, 20}, v[2] = {1, 4}, A[2] = {1, 1}, b[1] = {27};
  /* Correlated: V = [[1, 0.5], [0.5, 4]]: a^T V a = 1 + 4 + 2 * 0.5 = 6, V a = (1.5, 4.5),
   * xhat = x - V a * 3 / 6 = (9.25, 17.75); cov = V - (V a)(V a)^T / 6 = [[0.625, -0.625], [-0.625, 0.625]]. */
  const double Vf[4] = {1, 0.5, 0.5, 4};
  for (int w = 0; w < 2; w++) {
    double xh[2], cov[4];
    emi_gls_result_t res;
    emi_gls_problem_t p = {2, 1, x, v, 1, A, b, NULL};
    CHECK_OK(solve(w, &p, NULL, xh, cov, &res));
    CHECK_CLOSE(xh[0], 9.4, 1e-14, 0);
    CHECK_CLOSE(xh[1], 17.6, 1e-14, 0);
    CHECK_CLOSE(cov[0], 0.8, 1e-14, 0);
    CHECK_CLOSE(cov[1], -0.8, 1e-14, 0);
    CHECK_CLOSE(cov[2], -0.8, 1e-14, 0);
    CHECK_CLOSE(cov[3], 0.8, 1e-14, 0);
    CHECK_INT_EQ(res.solves, 1);
    CHECK(res.max_residual < 1e-13);

    emi_gls_problem_t q = {2, 1, x, Vf, 0, A, b, NULL};
    CHECK_OK(solve(w, &q, NULL, xh, cov, &res));
    CHECK_CLOSE(xh[0], 9.25, 1e-14, 0);
    CHECK_CLOSE(xh[1], 17.75, 1e-14, 0);
    CHECK_CLOSE(cov[0], 0.625, 1e-14, 0);
    CHECK_CLOSE(cov[1], -0.625, 1e-14, 0);
    CHECK_CLOSE(cov[3], 0.625, 1e-14, 0);
    CHECK(cov[1] == cov[2]);
  }
  /* No constraints: xhat = x, cov = V. */
  double xh[2], cov[4];
  emi_gls_problem_t p0 = {2, 0, x, Vf, 0, NULL, NULL, NULL};
  CHECK_OK(solve(0, &p0, NULL, xh, cov, NULL));
  CHECK(xh[0] == 10 && xh[1] == 20 && cov[1] == 0.5 && cov[3] == 4);
}

/* 3x3 flow matrix x[i][j] (9 estimates, index 3i + j); balancing: row total i = column total i. */
static void balance_rows(double *A, size_t nrows)
{
  memset(A, 0, nrows * 9 * sizeof(double));
  for (size_t i = 0; i < nrows; i++)
    for (size_t j = 0; j < 3; j++) {
      A[i * 9 + 3 * i + j] += 1; /* row i */
      A[i * 9 + 3 * j + i] -= 1; /* column i */
    }
}

static void test_balancing(void)
{
  const double x[9] = {0, 12, 30, 25, 0, 8, 14, 20, 0}; /* flows between three regions; diagonal 0 */
  double v[9], Vf[81];
  /* Variances (0.1 x)^2 + 1 for the flows; the diagonal cells are structural zeros with variance 0,
   * so they are fixed. */
  for (int i = 0; i < 9; i++) v[i] = x[i] == 0 ? 0 : 0.01 * x[i] * x[i] + 1;
  /* A full V: D^{1/2} C D^{1/2} with C a correlation matrix whose off-diagonal entries are at most
   * 0.15 in size (diagonally dominant on the 6 adjustable cells, so positive definite); zero rows and
   * columns for the structural zeros. */
  for (int i = 0; i < 9; i++)
    for (int j = 0; j < 9; j++) {
      double c = i == j ? 1.0 : 0.15 * hval(3, (uint64_t)(i < j ? i * 9 + j : j * 9 + i), -1, 1);
      Vf[i * 9 + j] = (v[i] == 0 || v[j] == 0) ? 0 : c * sqrt(v[i] * v[j]);
    }
  double A2[18], A3[27];
  const double b3[3] = {0, 0, 0};
  balance_rows(A2, 2);
  balance_rows(A3, 3);

  for (int vd = 1; vd >= 0; vd--) {
    const double *V = vd ? v : Vf;
    emi_gls_problem_t p = {9, 2, x, V, vd, A2, b3, NULL};
    double want[9];
    kkt(&p, want);
    for (int w = 0; w < 2; w++) {
      double xh[9], cov[81];
      emi_gls_result_t res;
      CHECK_OK(solve(w, &p, NULL, xh, cov, &res));
      for (int i = 0; i < 9; i++)
        CHECK_MSG(fabs(xh[i] - want[i]) <= 1e-11 * (1 + fabs(want[i])), "%s, %s V: xhat[%d] = %.15g, KKT %.15g",
                  FN_NAMES[w], vd ? "diagonal" : "full", i, xh[i], want[i]);
      /* Structural zeros have variance 0: fixed, returned exactly. */
      CHECK(xh[0] == 0.0 && xh[4] == 0.0 && xh[8] == 0.0);
      CHECK_INT_EQ(res.n_fixed, 3);
      /* All three identities hold, including the implied one; A cov A^T = 0 for all three. */
      for (int i = 0; i < 3; i++) {
        double s = 0;
        for (int j = 0; j < 9; j++) s += A3[i * 9 + j] * xh[j];
        CHECK_MSG(fabs(s) < 1e-11, "%s: balance %d off by %g", FN_NAMES[w], i, s);
      }
      CHECK_MSG(acat(9, 3, A3, cov) < 1e-10, "%s: |A cov A^T| = %g", FN_NAMES[w], acat(9, 3, A3, cov));
      int sym = 1, psd = 1;
      for (int i = 0; i < 9; i++) {
        psd &= cov[i * 9 + i] >= -1e-12 && cov[i * 9 + i] <= V[vd ? i : i * 9 + i] + 1e-12;
        for (int j = 0; j < 9; j++) sym &= cov[i * 9 + j] == cov[j * 9 + i];
      }
      CHECK(sym && psd);
      CHECK(cov[4 * 9 + 4] == 0 && cov[4 * 9 + 1] == 0);
    }

    /* All three identities: one is redundant (they sum to zero).  ERROR policy names it. */
    emi_gls_problem_t p3 = {9, 3, x, V, vd, A3, b3, NULL};
    double xh[9], cov[81];
    emi_err_t e = solve(0, &p3, NULL, xh, cov, NULL);
    CHECK_INT_EQ(e, EMI_ERR_SINGULAR);
    CHECK_MSG(strstr(emi_err_message(), "constraint 2 = -1 * constraint 0 - 1 * constraint 1 on the adjustable "
                                        "estimates (redundant: its right-hand side agrees)"),
              "message: %s", emi_err_message());
    emi_err_clear();
    /* DROP policy: constraint 2 dropped, same answer as with two constraints. */
    emi_gls_opts_t o;
    emi_gls_opts_default(&o);
    o.redundant = EMI_GLS_REDUNDANT_DROP;
    unsigned char dropped[3] = {9, 9, 9};
    emi_gls_result_t res;
    for (int w = 0; w < 2; w++) {
      CHECK_OK(solve2(w, &p3, &o, xh, cov, NULL, dropped, &res));
      CHECK(dropped[0] == 0 && dropped[1] == 0 && dropped[2] == 1);
      CHECK_INT_EQ(res.n_dropped, 1);
      CHECK_INT_EQ(res.solves, 2);
      for (int i = 0; i < 9; i++) CHECK_CLOSE(xh[i], want[i], 1e-11, 1e-11);
      CHECK(res.max_residual < 1e-11);
    }
    /* Inconsistent: the third right-hand side says 5 where the other two imply 0. */
    const double bad[3] = {0, 0, 5};
    emi_gls_problem_t pi = {9, 3, x, V, vd, A3, bad, NULL};
    e = solve(0, &pi, &o, xh, cov, NULL);
    CHECK_INT_EQ(e, EMI_ERR_INCONSISTENT);
    CHECK_MSG(strstr(emi_err_message(), "constraint 2 = -1 * constraint 0 - 1 * constraint 1") &&
                  strstr(emi_err_message(), "inconsistent: its right-hand side is off by 5"),
              "message: %s", emi_err_message());
    emi_err_clear();
  }
}

static void test_fixed(void)
{
  /* Estimate 1 held by the mask (its variance is not 0), full correlated V: it stays bit for bit, the
   * others absorb the whole adjustment, and the answer matches the KKT solve with V's row and column
   * 1 zeroed. */
  const double x[4] = {3.3, 7.7, 1.1, 5.5}, A[8] = {1, 1, 1, 1, 1, -1, 0, 2}, b[2] = {20, 10};
  double V[16];
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 4; j++) V[i * 4 + j] = (i == j ? 2.0 + i : 0.4) * (i == j || (i + j) % 2 ? 1 : -0.5);
  const unsigned char fixed[4] = {0, 1, 0, 0};
  emi_gls_problem_t p = {4, 2, x, V, 0, A, b, fixed};
  double want[4];
  kkt(&p, want);
  for (int w = 0; w < 2; w++) {
    double xh[4], cov[16];
    emi_gls_result_t res;
    CHECK_OK(solve(w, &p, NULL, xh, cov, &res));
    CHECK(xh[1] == x[1]);
    for (int i = 0; i < 4; i++) CHECK_CLOSE(xh[i], want[i], 1e-12, 1e-12);
    for (int i = 0; i < 4; i++) CHECK(cov[4 + i] == 0 && cov[i * 4 + 1] == 0);
    CHECK(acat(4, 2, A, cov) < 1e-12);
    CHECK_INT_EQ(res.n_fixed, 1);
  }

  /* A constraint on fixed estimates only: satisfied -> redundant; violated -> inconsistent. */
  const double v[3] = {0, 0, 1}, x3[3] = {2, 3, 4}, A3[6] = {1, 1, 0, 1, 1, 1};
  const double bok[2] = {5, 10}, bbad[2] = {6, 10};
  emi_gls_problem_t q = {3, 2, x3, v, 1, A3, bok, NULL};
  double xh[3];
  emi_err_t e = solve(0, &q, NULL, xh, NULL, NULL);
  CHECK_INT_EQ(e, EMI_ERR_SINGULAR);
  CHECK_MSG(strstr(emi_err_message(), "constraint 0 involves only fixed estimates (redundant"), "message: %s",
            emi_err_message());
  emi_err_clear();
  emi_gls_opts_t o;
  emi_gls_opts_default(&o);
  o.redundant = EMI_GLS_REDUNDANT_DROP;
  CHECK_OK(solve(0, &q, &o, xh, NULL, NULL));
  CHECK(xh[0] == 2 && xh[1] == 3);
  CHECK_CLOSE(xh[2], 5, 1e-14, 0);
  q.b = bbad;
  e = solve(1, &q, &o, xh, NULL, NULL);
  CHECK_INT_EQ(e, EMI_ERR_INCONSISTENT);
  CHECK_MSG(strstr(emi_err_message(), "constraint 0 involves only fixed estimates (inconsistent: its right-hand "
                                      "side is off by 1)"),
            "message: %s", emi_err_message());
  emi_err_clear();
}

static void test_nonneg(void)
{
  /* x = (1, 10, 10), variances (1, 4, 4), sum = 9.  Plain GLS spreads the excess 12 by 1:4:4:
   * (1 - 4/3, 10 - 16/3, 10 - 16/3) = (-1/3, 14/3, 14/3).  Holding x1 at 0, the remaining excess
   * 20 - 9 = 11 is spread 4:4 over the other two: (0, 4.5, 4.5). */
  const double x[3] = {1, 10, 10}, v[3] = {1, 4, 4}, A[3] = {1, 1, 1}, b[1] = {9};
  emi_gls_problem_t p = {3, 1, x, v, 1, A, b, NULL};
  emi_gls_opts_t o;
  emi_gls_opts_default(&o);
  for (int w = 0; w < 2; w++) {
    double xh[3], cov[9];
    CHECK_OK(solve(w, &p, NULL, xh, NULL, NULL));
    CHECK_CLOSE(xh[0], -1.0 / 3, 1e-14, 0);
    CHECK_CLOSE(xh[1], 14.0 / 3, 1e-14, 0);
    o.nonneg = 1;
    unsigned char act[3] = {9, 9, 9};
    emi_gls_result_t res;
    CHECK_OK(solve2(w, &p, &o, xh, cov, act, NULL, &res));
    CHECK(xh[0] == 0.0);
    CHECK_CLOSE(xh[1], 4.5, 1e-14, 0);
    CHECK_CLOSE(xh[2], 4.5, 1e-14, 0);
    CHECK(act[0] == 1 && act[1] == 0 && act[2] == 0);
    CHECK_INT_EQ(res.n_active, 1);
    CHECK_INT_EQ(res.solves, 2);
    /* cov: x1 held, the other two share one degree of freedom: [[2, -2], [-2, 2]] (4 - 16/8). */
    CHECK(cov[0] == 0 && cov[1] == 0 && cov[3] == 0);
    CHECK_CLOSE(cov[4], 2, 1e-14, 0);
    CHECK_CLOSE(cov[5], -2, 1e-14, 0);
    o.nonneg = 0;
  }

  /* A random non-negative problem with several estimates driven negative: all >= 0, constraints met. */
  enum { N = 30, M = 6 };
  double xr[N], vr[N], Ar[M * N], br[M], xh[N];
  for (int i = 0; i < N; i++) {
    xr[i] = hval(21, (uint64_t)i, 0, 10);
    vr[i] = hval(22, (uint64_t)i, 0.5, 20);
  }
  for (int k = 0; k < M; k++) {
    double s = 0;
    for (int i = 0; i < N; i++) {
      Ar[k * N + i] = (i % M == k) ? 1 : 0;
      s += Ar[k * N + i] * xr[i];
    }
    br[k] = 0.2 * s; /* totals far below the estimates: the small ones go negative */
  }
  emi_gls_problem_t r = {N, M, xr, vr, 1, Ar, br, NULL};
  o.nonneg = 1;
  double xref[N];
  emi_gls_result_t res, rres;
  CHECK_OK(solve(0, &r, &o, xh, NULL, &res));
  CHECK_OK(solve(1, &r, &o, xref, NULL, &rres));
  int neg = 0;
  for (int i = 0; i < N; i++) {
    neg += xh[i] < 0;
    CHECK_CLOSE(xh[i], xref[i], 1e-12, 1e-12);
  }
  CHECK_INT_EQ(neg, 0);
  CHECK(res.n_active > 0 && res.solves >= 2);
  CHECK_INT_EQ(res.n_active, rres.n_active);
  CHECK(res.max_residual < 1e-12);

  /* Two estimates go negative at once and one bound implies the other: x = (-1, -2), variances 1,
   * x1 - x2 = 0.  Plain GLS: (-1.5, -1.5).  Holding both at 0: the second bound follows from the
   * constraint and the first (x2 = x1 - (x1 - x2)), its right-hand side agrees, so it is noted as
   * implied rather than an error.  Result (0, 0), both held. */
  {
    const double xa[2] = {-1, -2}, va[2] = {1, 1}, Aa[2] = {1, -1}, ba[1] = {0};
    emi_gls_problem_t pa = {2, 1, xa, va, 1, Aa, ba, NULL};
    double x2[2];
    unsigned char act[2] = {9, 9};
    for (int w = 0; w < 2; w++) {
      CHECK_OK(solve2(w, &pa, &o, x2, NULL, act, NULL, &res));
      CHECK(x2[0] == 0.0 && x2[1] == 0.0);
      CHECK(act[0] == 1 && act[1] == 1);
      CHECK_INT_EQ(res.n_active, 2);
      CHECK_INT_EQ(res.solves, 3);
    }
  }

  /* Infeasible under non-negativity: x1 + x2 = -1. */
  const double xi[2] = {1, 2}, vi[2] = {1, 1}, Ai[2] = {1, 1}, bi[1] = {-1};
  emi_gls_problem_t q = {2, 1, xi, vi, 1, Ai, bi, NULL};
  double x2[2];
  emi_err_t e = solve(0, &q, &o, x2, NULL, NULL);
  CHECK_INT_EQ(e, EMI_ERR_INFEASIBLE);
  CHECK_MSG(strstr(emi_err_message(), "no non-negative solution") && strstr(emi_err_message(), "bound on x[1] = "),
            "message: %s", emi_err_message());
  emi_err_clear();
}

static void test_ref_agreement(void)
{
  /* n = 60 estimates, m = 15 random constraints, a random SPD V = B B^T / n + I: the BLAS and the
   * plain-loop paths agree to rounding; both satisfy the constraints and A cov A^T = 0. */
  enum { N = 60, M = 15 };
  static double x[N], V[N * N], A[M * N], b[M], B[N * N], xa[N], xb[N], ca[N * N], cb[N * N];
  for (int i = 0; i < N; i++) x[i] = hval(31, (uint64_t)i, 50, 150);
  for (int i = 0; i < N * N; i++) B[i] = hval(32, (uint64_t)i, -1, 1);
  for (int i = 0; i < N; i++)
    for (int j = 0; j < N; j++) {
      double s = 0;
      for (int k = 0; k < N; k++) s += B[i * N + k] * B[j * N + k];
      V[i * N + j] = s / N * 25 + (i == j ? 25 : 0);
    }
  for (int i = 0; i < N; i++)
    for (int j = 0; j < i; j++) V[i * N + j] = V[j * N + i]; /* exactly symmetric */
  for (int k = 0; k < M; k++) {
    double s = 0;
    for (int i = 0; i < N; i++) {
      A[k * N + i] = hval(33, (uint64_t)(k * N + i), 0, 1) < 0.3 ? hval(34, (uint64_t)(k * N + i), -1, 2) : 0;
      s += A[k * N + i] * x[i];
    }
    b[k] = s + hval(35, (uint64_t)k, -20, 20);
  }
  emi_gls_problem_t p = {N, M, x, V, 0, A, b, NULL};
  emi_gls_result_t ra, rb;
  CHECK_OK(solve(0, &p, NULL, xa, ca, &ra));
  CHECK_OK(solve(1, &p, NULL, xb, cb, &rb));
  double dx = 0, dc = 0;
  for (int i = 0; i < N; i++) dx = fmax(dx, fabs(xa[i] - xb[i]));
  for (int i = 0; i < N * N; i++) dc = fmax(dc, fabs(ca[i] - cb[i]));
  CHECK_MSG(dx < 1e-10 && dc < 1e-10, "BLAS vs loops: xhat %g, cov %g", dx, dc);
  CHECK(ra.max_residual < 1e-10 && rb.max_residual < 1e-10);
  CHECK_MSG(acat(N, M, A, ca) < 1e-9, "|A cov A^T| = %g", acat(N, M, A, ca));
  double want[N];
  kkt(&p, want);
  for (int i = 0; i < N; i++) CHECK_CLOSE(xa[i], want[i], 1e-9, 1e-11);
}

/* Same bits at 1 and 2 threads (OpenBLAS, OpenMP build, takes its threads from OpenMP) on a problem
 * large enough for OpenBLAS to split its work: n = 600, m = 250, full V. */
static void test_threads(void)
{
  enum { N = 600, M = 250 };
  double *x = malloc(N * sizeof(double)), *V = malloc(N * N * sizeof(double)), *A = calloc(M * N, sizeof(double));
  double *b = malloc(M * sizeof(double)), *xh[2], *cv[2];
  for (int i = 0; i < N; i++) x[i] = hval(41, (uint64_t)i, 50, 150);
  for (int i = 0; i < N; i++)
    for (int j = 0; j <= i; j++)
      V[i * N + j] = V[j * N + i] = i == j ? 100 + hval(42, (uint64_t)i, 0, 50) : hval(43, (uint64_t)(i * N + j), -0.1, 0.1);
  for (int k = 0; k < M; k++) {
    double s = 0;
    for (int i = 0; i < N; i++) {
      if (hval(44, (uint64_t)(k * N + i), 0, 1) < 0.1) A[k * N + i] = 1;
      s += A[k * N + i] * x[i];
    }
    b[k] = 0.95 * s;
  }
  emi_gls_problem_t p = {N, M, x, V, 0, A, b, NULL};
  for (int t = 0; t < 2; t++) {
    xh[t] = malloc(N * sizeof(double));
    cv[t] = malloc(N * N * sizeof(double));
    omp_set_num_threads(t + 1);
    CHECK_OK(solve(0, &p, NULL, xh[t], cv[t], NULL));
  }
  omp_set_num_threads(1);
  CHECK_MSG(memcmp(xh[0], xh[1], N * sizeof(double)) == 0, "xhat differs between 1 and 2 threads");
  CHECK_MSG(memcmp(cv[0], cv[1], N * N * sizeof(double)) == 0, "cov differs between 1 and 2 threads");
  for (int t = 0; t < 2; t++) {
    free(xh[t]);
    free(cv[t]);
  }
  free(x);
  free(V);
  free(A);
  free(b);
}

/* An N x N flow matrix to balance (diagonal V): x_ij = F_ij u_ij, v_ij = (0.1 x_ij)^2, constraints
 * the N row totals and N - 1 column totals of F (as bench_gls).  Dense storage of A, m x n. */
typedef struct {
  size_t N, n, m;
  double *x, *v, *A, *b;
} flow_t;

static void flow_make(flow_t *f, size_t N, uint64_t salt)
{
  f->N = N;
  f->n = N * N;
  f->m = 2 * N - 1;
  f->x = malloc(f->n * sizeof(double));
  f->v = malloc(f->n * sizeof(double));
  f->A = calloc(f->m * f->n, sizeof(double));
  f->b = calloc(f->m + 1, sizeof(double));
  for (size_t i = 0; i < N; i++)
    for (size_t j = 0; j < N; j++) {
      const size_t c = i * N + j;
      const double F = hval(salt, c, 1, 1000);
      f->x[c] = F * hval(salt + 1, c, 0.8, 1.2);
      f->v[c] = (0.1 * f->x[c]) * (0.1 * f->x[c]);
      f->A[i * f->n + c] = 1;
      f->b[i] += F;
      if (j + 1 < N) {
        f->A[(N + j) * f->n + c] = 1;
        f->b[N + j] += F;
      }
    }
}

static void flow_free(flow_t *f)
{
  free(f->x), free(f->v), free(f->A), free(f->b);
}

/* max |A cov A^T| through C = cov A^T (O(n^2 m)). */
static double acat_fast(size_t n, size_t m, const double *A, const double *cov)
{
  double *C = calloc(n * m, sizeof(double)), worst = 0;
  for (size_t a = 0; a < n; a++)
    for (size_t c = 0; c < n; c++) {
      const double v = cov[a * n + c];
      if (v == 0) continue;
      for (size_t k = 0; k < m; k++) C[a * m + k] += v * A[k * n + c];
    }
  for (size_t i = 0; i < m; i++)
    for (size_t k = 0; k < m; k++) {
      double s = 0;
      for (size_t a = 0; a < n; a++) s += A[i * n + a] * C[a * m + k];
      worst = fmax(worst, fabs(s));
    }
  free(C);
  return worst;
}

/* Sparse constraints with diagonal V (emi_gls.c takes its sparse path: 30 x 30 flows, n = 900,
 * m = 59, 3% of A nonzero).  Right values: the KKT system solved by LU (kkt above), and the plain
 * dense twin emi_gls_solve_ref; also A cov A^T = 0, the same bits at 1 and 2 threads, fixed
 * estimates returned as given, the non-negativity active set, a redundant constraint dropped or
 * refused, an inconsistent one named, and a NaN in A named by row and column. */
static void test_sparse_flow(void)
{
  flow_t f;
  flow_make(&f, 30, 51);
  const size_t n = f.n, m = f.m;
  emi_gls_problem_t p = {n, m, f.x, f.v, 1, f.A, f.b, NULL};
  double *xa = malloc(n * sizeof(double)), *xb = malloc(n * sizeof(double)), *want = malloc(n * sizeof(double));
  double *ca = malloc(n * n * sizeof(double)), *cb = malloc(n * n * sizeof(double));
  emi_gls_result_t ra, rb;
  CHECK_OK(solve(0, &p, NULL, xa, ca, &ra));
  CHECK_OK(solve(1, &p, NULL, xb, cb, &rb));
  kkt(&p, want);
  double dx = 0, dk = 0, dc = 0, xmax = 0, cmax = 0;
  for (size_t i = 0; i < n; i++) {
    dx = fmax(dx, fabs(xa[i] - xb[i]));
    dk = fmax(dk, fabs(xa[i] - want[i]));
    xmax = fmax(xmax, fabs(f.x[i]));
  }
  for (size_t i = 0; i < n * n; i++) {
    dc = fmax(dc, fabs(ca[i] - cb[i]));
    cmax = fmax(cmax, fabs(cb[i]));
  }
  CHECK_MSG(dx <= 1e-10 * xmax && dk <= 1e-9 * xmax, "sparse vs dense twin %g, vs KKT %g (max |x| %g)", dx, dk, xmax);
  CHECK_MSG(dc <= 1e-9 * cmax, "sparse vs dense covariance %g (max %g)", dc, cmax);
  CHECK_MSG(ra.max_residual <= 1e-9 * f.b[0], "max residual %g", ra.max_residual);
  CHECK_MSG(acat_fast(n, m, f.A, ca) <= 1e-6 * cmax, "|A cov A^T| = %g", acat_fast(n, m, f.A, ca));
  CHECK_INT_EQ(ra.solves, 1);
  /* the same bits at 1 and 2 threads (xhat and cov) */
  {
    double *x2 = malloc(n * sizeof(double)), *c2 = malloc(n * n * sizeof(double));
    omp_set_num_threads(2);
    CHECK_OK(solve(0, &p, NULL, x2, c2, NULL));
    omp_set_num_threads(1);
    CHECK(memcmp(x2, xa, n * sizeof(double)) == 0);
    CHECK(memcmp(c2, ca, n * n * sizeof(double)) == 0);
    free(x2), free(c2);
  }

  /* fixed estimates (every 7th cell): returned bit for bit; the others still agree with the twin and KKT */
  unsigned char *fx = calloc(n, 1);
  for (size_t i = 0; i < n; i += 7) fx[i] = 1;
  p.fixed = fx;
  CHECK_OK(solve(0, &p, NULL, xa, NULL, &ra));
  CHECK_OK(solve(1, &p, NULL, xb, NULL, &rb));
  kkt(&p, want);
  dx = dk = 0;
  for (size_t i = 0; i < n; i++) {
    if (fx[i]) CHECK(xa[i] == f.x[i]);
    dx = fmax(dx, fabs(xa[i] - xb[i]));
    dk = fmax(dk, fabs(xa[i] - want[i]));
  }
  CHECK_MSG(dx <= 1e-10 * xmax && dk <= 1e-9 * xmax, "fixed: sparse vs twin %g, vs KKT %g", dx, dk);
  CHECK_INT_EQ(ra.n_fixed, (n + 6) / 7);
  p.fixed = NULL;
  free(fx);

  /* non-negativity: three cells of row 0 estimated at 1 with a large variance (sd 1000) and row 0's
   * total lowered by 3000: GLS pushes them below zero; both paths hold the same estimates at 0,
   * agree, and meet the constraints */
  {
    emi_gls_opts_t o;
    emi_gls_opts_default(&o);
    o.nonneg = 1;
    double *x0 = malloc(n * sizeof(double)), *v0 = malloc(n * sizeof(double)), *b0 = malloc(m * sizeof(double));
    memcpy(x0, f.x, n * sizeof(double));
    memcpy(v0, f.v, n * sizeof(double));
    memcpy(b0, f.b, m * sizeof(double));
    for (size_t j = 1; j <= 3; j++) x0[j] = 1, v0[j] = 1e6;
    b0[0] -= 3000;
    emi_gls_problem_t q = {n, m, x0, v0, 1, f.A, b0, NULL};
    unsigned char *act_a = malloc(n), *act_b = malloc(n);
    CHECK_OK(solve2(0, &q, &o, xa, NULL, act_a, NULL, &ra));
    CHECK_OK(solve2(1, &q, &o, xb, NULL, act_b, NULL, &rb));
    CHECK(ra.n_active > 0 && ra.n_active == rb.n_active && memcmp(act_a, act_b, n) == 0);
    CHECK(ra.solves == rb.solves && ra.solves > 1);
    dx = 0;
    int neg = 0;
    for (size_t i = 0; i < n; i++) {
      dx = fmax(dx, fabs(xa[i] - xb[i]));
      neg += xa[i] < 0;
      if (act_a[i]) CHECK(xa[i] == 0.0);
    }
    CHECK(act_a[1] && act_a[2] && act_a[3]);
    CHECK_MSG(dx <= 1e-10 * xmax, "nonneg: sparse vs twin %g", dx);
    CHECK_INT_EQ(neg, 0);
    CHECK_MSG(ra.max_residual <= 1e-9 * f.b[0], "nonneg residual %g", ra.max_residual);
    free(x0), free(v0), free(b0), free(act_a), free(act_b);
  }

  /* an ill-conditioned active set (cell (0, 0) 40 times its row total, the rest of row 0 with
   * variances 10^6 times larger): the dependent-bound analysis calls a bound implied that is not, and
   * the constraints end up off by hundreds.  That must be an error naming the constraint, never a
   * success with A xhat != b (before this check both paths returned success with residual 424). */
  {
    emi_gls_opts_t o;
    emi_gls_opts_default(&o);
    o.nonneg = 1;
    double *x0 = malloc(n * sizeof(double)), *v0 = malloc(n * sizeof(double));
    memcpy(x0, f.x, n * sizeof(double));
    memcpy(v0, f.v, n * sizeof(double));
    x0[0] = 40 * f.b[0];
    for (size_t j = 1; j < 30; j++) v0[j] *= 1e6;
    emi_gls_problem_t q = {n, m, x0, v0, 1, f.A, f.b, NULL};
    for (int w = 0; w < 2; w++) {
      emi_err_t e = solve(w, &q, &o, xa, NULL, &ra);
      if (e == EMI_SUCCESS) {
        CHECK_MSG(ra.max_residual <= 1e-6 * f.b[0], "%s: success with residual %g", FN_NAMES[w], ra.max_residual);
      } else {
        CHECK_INT_EQ(e, EMI_ERR_INCONSISTENT);
        CHECK_MSG(strstr(emi_err_message(), "after the solve constraint"), "%s: %s", FN_NAMES[w], emi_err_message());
        emi_err_clear();
      }
    }
    free(x0), free(v0);
  }

  /* the implied last column total added as row m: redundant (refused, then dropped), then made
   * inconsistent by 5 (named) */
  {
    double *A2 = calloc((m + 1) * n, sizeof(double)), *b2 = malloc((m + 1) * sizeof(double));
    memcpy(A2, f.A, m * n * sizeof(double));
    memcpy(b2, f.b, m * sizeof(double));
    b2[m] = 0;
    for (size_t i = 0; i < 30; i++) {
      A2[m * n + i * 30 + 29] = 1;
      b2[m] += 0; /* filled below */
    }
    double tot = 0, cols = 0;
    for (size_t i = 0; i < 30; i++) tot += f.b[i];
    for (size_t j = 0; j < 29; j++) cols += f.b[30 + j];
    b2[m] = tot - cols;
    emi_gls_problem_t q = {n, m + 1, f.x, f.v, 1, A2, b2, NULL};
    emi_gls_opts_t o;
    emi_gls_opts_default(&o);
    for (int w = 0; w < 2; w++) {
      emi_err_t e = solve(w, &q, &o, xa, NULL, &ra);
      CHECK_INT_EQ(e, EMI_ERR_SINGULAR);
      CHECK_MSG(strstr(emi_err_message(), "constraint 59") && strstr(emi_err_message(), "redundant"), "%s: %s",
                FN_NAMES[w], emi_err_message());
      emi_err_clear();
    }
    o.redundant = EMI_GLS_REDUNDANT_DROP;
    unsigned char *dr = malloc(m + 1);
    CHECK_OK(solve2(0, &q, &o, xa, NULL, NULL, dr, &ra));
    CHECK(ra.n_dropped == 1 && dr[m] == 1);
    CHECK_OK(solve(0, &p, NULL, xb, NULL, NULL)); /* the same answer as without the extra row */
    dx = 0;
    for (size_t i = 0; i < n; i++) dx = fmax(dx, fabs(xa[i] - xb[i]));
    CHECK_MSG(dx <= 1e-9 * xmax, "dropped row changed the answer by %g", dx);
    b2[m] += 5;
    emi_gls_opts_default(&o);
    CHECK_INT_EQ(solve(0, &q, &o, xa, NULL, &ra), EMI_ERR_INCONSISTENT);
    CHECK_MSG(strstr(emi_err_message(), "constraint 59") && strstr(emi_err_message(), "off by"), "%s",
              emi_err_message());
    emi_err_clear();
    free(A2), free(b2), free(dr);
  }

  /* a NaN deep in A: named by row and column (the parallel scan reports the first in row-major order) */
  f.A[40 * n + 123] = NAN;
  f.A[50 * n + 7] = INFINITY;
  CHECK_INT_EQ(solve(0, &p, NULL, xa, NULL, NULL), EMI_ERR_DOMAIN);
  CHECK_MSG(strstr(emi_err_message(), "A[40][123] is nan"), "message: %s", emi_err_message());
  emi_err_clear();
  free(xa), free(xb), free(want), free(ca), free(cb);
  flow_free(&f);
}

/* A larger flow problem (100 x 100, n = 10^4, m = 199), sparse path against the dense twin and the
 * KKT certificate of bench_gls (w = V^{-1} (xhat - x) additive, w_ij = a_i + c_j); thread count
 * invariance and error reporting of the parallel scan. */
static void test_sparse_flow_large(void)
{
  flow_t f;
  flow_make(&f, 100, 61);
  const size_t n = f.n, m = f.m, N = 100;
  emi_gls_problem_t p = {n, m, f.x, f.v, 1, f.A, f.b, NULL};
  double *xa = malloc(n * sizeof(double)), *xb = malloc(n * sizeof(double)), *w = malloc(n * sizeof(double));
  CHECK_OK(solve(0, &p, NULL, xa, NULL, NULL));
  CHECK_OK(solve(1, &p, NULL, xb, NULL, NULL));
  double dx = 0, xmax = 0, wmax = 0, kk = 0;
  for (size_t i = 0; i < n; i++) {
    dx = fmax(dx, fabs(xa[i] - xb[i]));
    xmax = fmax(xmax, fabs(f.x[i]));
    w[i] = (xa[i] - f.x[i]) / f.v[i];
    wmax = fmax(wmax, fabs(w[i]));
  }
  for (size_t i = 0; i < N; i++)
    for (size_t j = 0; j < N; j++) kk = fmax(kk, fabs(w[i * N + j] - w[i * N + N - 1] - w[j] + w[N - 1]));
  CHECK_MSG(dx <= 1e-10 * xmax, "100 x 100: sparse vs dense twin %g", dx);
  CHECK_MSG(kk <= 1e-9 * wmax, "100 x 100: KKT residual %g (max |w| %g)", kk, wmax);
  /* here (m n >= 2^20) the validation scan of A runs in parallel over fixed row parts: the same bits
   * at 1 and 2 threads, and at 2 threads the first non-finite entry in row-major order is named
   * although a later one lies in the other thread's rows */
  {
    double *x2 = malloc(n * sizeof(double));
    omp_set_num_threads(2);
    CHECK_OK(solve(0, &p, NULL, x2, NULL, NULL));
    CHECK_MSG(memcmp(x2, xa, n * sizeof(double)) == 0, "100 x 100: xhat differs between 1 and 2 threads");
    f.A[150 * n + 17] = INFINITY;
    f.A[30 * n + 5000] = NAN;
    CHECK_INT_EQ(solve(0, &p, NULL, x2, NULL, NULL), EMI_ERR_DOMAIN);
    CHECK_MSG(strstr(emi_err_message(), "A[30][5000] is nan"), "message: %s", emi_err_message());
    emi_err_clear();
    omp_set_num_threads(1);
    free(x2);
  }
  free(xa), free(xb), free(w);
  flow_free(&f);
}

/* Sparse constraints, the same bits at 1 and 2 threads, agreement with the dense twin, the
 * constraints met, fixed estimates returned as given.  Column j lies in row j % nlead of a
 * leading group of disjoint rows (a diagonal leading block of A V A^T), and in `per` of the other
 * m - nlead rows, (j + u step) % (m - nlead) after them, u < per, step = (m - nlead) / per. */
static void sparse_threads_case(size_t n, size_t m, size_t nlead, size_t per, const char *what)
{
  const size_t mt = m - nlead, step = mt / per;
  double *x = malloc(n * sizeof(double)), *v = malloc(n * sizeof(double)), *A = calloc(m * n, sizeof(double));
  double *b = calloc(m, sizeof(double)), *xa = malloc(n * sizeof(double)), *x2 = malloc(n * sizeof(double));
  double *xr = malloc(n * sizeof(double));
  unsigned char *fx = calloc(n, 1);
  for (size_t j = 0; j < n; j++) {
    const double t = hval(71, j, 10, 100);
    x[j] = t * hval(72, j, 0.9, 1.1);
    v[j] = (0.1 * x[j]) * (0.1 * x[j]);
    fx[j] = j % 97 == 5;
    for (size_t u = 0; u <= per; u++) {
      if (u == per && nlead == 0) break;
      const size_t k = u < per ? nlead + (j + u * step) % mt : j % nlead;
      const double a = hval(73, (per + 1) * j + u, 0, 1) < 0.5 ? 1.0 : -0.5;
      A[k * n + j] = a;
      b[k] += a * t;
    }
  }
  emi_gls_problem_t p = {n, m, x, v, 1, A, b, fx};
  emi_gls_result_t ra, rr;
  CHECK_OK(solve(0, &p, NULL, xa, NULL, &ra));
  omp_set_num_threads(2);
  CHECK_OK(solve(0, &p, NULL, x2, NULL, NULL));
  omp_set_num_threads(1);
  CHECK_MSG(memcmp(x2, xa, n * sizeof(double)) == 0, "%s: xhat differs between 1 and 2 threads", what);
  CHECK_OK(solve(1, &p, NULL, xr, NULL, &rr));
  double dx = 0, xmax = 0, bmax = 0;
  for (size_t j = 0; j < n; j++) {
    dx = fmax(dx, fabs(xa[j] - xr[j]));
    xmax = fmax(xmax, fabs(x[j]));
    if (fx[j]) CHECK(xa[j] == x[j]);
  }
  for (size_t k = 0; k < m; k++) bmax = fmax(bmax, fabs(b[k]));
  CHECK_MSG(dx <= 1e-10 * xmax, "%s: sparse vs dense twin %g (max |x| %g)", what, dx, xmax);
  CHECK_MSG(ra.max_residual <= 1e-9 * bmax, "%s: max residual %g", what, ra.max_residual);
  free(x), free(v), free(A), free(b), free(xa), free(x2), free(xr), free(fx);
}

/* 80000 nonzeros (the solve's passes on two threads); a leading block of 40 disjoint rows and a
 * Schur complement of 140 (its update split between two threads). */
static void test_sparse_threads(void)
{
  sparse_threads_case(20000, 40, 0, 4, "n = 20000, m = 40");
  sparse_threads_case(5600, 180, 40, 2, "n = 5600, m = 180");
}

static void test_errors(void)
{
  const double x[2] = {10, 20}, v[2] = {1, 4}, A[2] = {1, 1}, b[1] = {27};
  double xh[2], work[64];
  emi_gls_problem_t p = {2, 1, x, v, 1, A, b, NULL};
  const double xn[2] = {10, NAN};
  p.x = xn;
  emi_gls_solve(&p, NULL, xh, NULL, NULL, NULL, work, 64, NULL);
  CHECK_INT_EQ(emi_err_code(), EMI_ERR_DOMAIN);
  CHECK_MSG(strstr(emi_err_message(), "x[1] is nan"), "message: %s", emi_err_message());
  emi_err_clear();
  p.x = x;
  const double vneg[2] = {1, -4};
  p.V = vneg;
  CHECK_ERR(emi_gls_solve(&p, NULL, xh, NULL, NULL, NULL, work, 64, NULL), EMI_ERR_DOMAIN);
  p.V = v;
  CHECK_ERR(emi_gls_solve(&p, NULL, xh, NULL, NULL, NULL, work, 3, NULL), EMI_ERR_ARG);
  const double Ainf[2] = {1, INFINITY};
  p.A = Ainf;
  CHECK_ERR(emi_gls_solve(&p, NULL, xh, NULL, NULL, NULL, work, 64, NULL), EMI_ERR_DOMAIN);
  p.A = A;

  /* Full V: not symmetric; zero variance with a nonzero covariance; not positive definite. */
  const double Vas[4] = {1, 0.5, 0.4, 4}, Vz[4] = {0, 0.5, 0.5, 4}, Vnd[4] = {1, 3, 3, 4};
  emi_gls_problem_t q = {2, 1, x, Vas, 0, A, b, NULL};
  CHECK_ERR(emi_gls_solve(&q, NULL, xh, NULL, NULL, NULL, work, 64, NULL), EMI_ERR_DOMAIN);
  q.V = Vz;
  emi_gls_solve(&q, NULL, xh, NULL, NULL, NULL, work, 64, NULL);
  CHECK_INT_EQ(emi_err_code(), EMI_ERR_DOMAIN);
  CHECK_MSG(strstr(emi_err_message(), "estimate 0 has variance 0 but covariance V[0][1] = 0.5"), "message: %s",
            emi_err_message());
  emi_err_clear();
  q.V = Vnd;
  for (int w = 0; w < 2; w++) {
    emi_err_t e = FNS[w](&q, NULL, xh, NULL, NULL, NULL, work, 64, NULL);
    CHECK_INT_EQ(e, EMI_ERR_NOT_SPD);
    CHECK_MSG(strstr(emi_err_message(), "not positive definite") && strstr(emi_err_message(), "estimate 1"),
              "message: %s", emi_err_message());
    emi_err_clear();
  }
}

int main(void)
{
  test_two_estimates();
  test_balancing();
  test_fixed();
  test_nonneg();
  test_ref_agreement();
  test_threads();
  test_sparse_flow();
  test_sparse_flow_large();
  test_sparse_threads();
  test_errors();
  return emi_test_report("test_gls");
}
