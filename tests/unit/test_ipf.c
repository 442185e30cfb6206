/* test_ipf: IPF / RAS kernel (emi_ipf_fit) and its reference twin (emi_ipf_fit_ref).
 *
 * Right values and where they come from:
 *  - ../shared/data/known_answers.md: published migest results (Willekens 1999 2x2, the uniform
 *    seed, the rows-only case, the 3x3 with a structural zero, the transposed-margins trap), checked
 *    to the printed precision;
 *  - closed forms: a uniform seed fitted to rows r and columns c converges in one sweep to r_i c_j / T;
 *    a single margin is met exactly after one sweep (x_ij = seed_ij r_i / sum_j seed_ij);
 *  - for 3-D tables the margins are computed from a known positive table, so a solution exists and
 *    the fit must meet every margin; the fast kernel must equal the _ref twin bit for bit and give the
 *    same bits at 1, 2 and 3 threads (the kernel's summation order does not depend on threads).
 */
#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "emi_err.h"
#include "emi_ipf.h"
#include "emi_test.h"

/* Stateless test values: splitmix64 of (salt, index) mapped to [lo, hi). */
static double hval(uint64_t salt, uint64_t i, double lo, double hi)
{
  uint64_t z = salt * 0x9E3779B97F4A7C15ull + i + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return lo + (hi - lo) * (double)(z >> 11) * 0x1.0p-53;
}

static const int D0[] = {0}, D1[] = {1}, D2[] = {2}, D01[] = {0, 1}, D02[] = {0, 2}, D12[] = {1, 2}, D20[] = {2, 0};

/* Fit a 2-D r x c table to rows and columns with default options; returns the code. */
static emi_err_t fit2(size_t r, size_t c, double *x, const double *rows, const double *cols,
                      const emi_ipf_opts_t *o, emi_ipf_result_t *res)
{
  size_t dims[2] = {r, c};
  emi_ipf_margin_t mg[2] = {{1, D0, rows}, {1, D1, cols}};
  double work[64];
  return emi_ipf_fit(2, dims, x, 2, mg, o, work, 64, res);
}

static void test_known_answers(void)
{
  emi_ipf_result_t res;
  const double rows[2] = {18, 20}, cols[2] = {16, 22};

  /* Willekens (1999) via migest ipf2: [[13.25, 4.75], [2.75, 17.25]] (2 decimals). */
  double x[4] = {5, 2, 1, 7};
  CHECK_OK(fit2(2, 2, x, rows, cols, NULL, &res));
  const double will[4] = {13.25, 4.75, 2.75, 17.25};
  for (int i = 0; i < 4; i++) CHECK_CLOSE(x[i], will[i], 0.005, 0);
  CHECK(res.converged == 1);
  CHECK(res.max_dev <= res.tol);
  CHECK_CLOSE(res.tol, 1e-10 * 38, 0, 1e-15);
  CHECK_CLOSE(x[0] + x[1], 18, 1e-8, 0);
  CHECK_CLOSE(x[0] + x[2], 16, 1e-8, 0);
  /* IPF keeps the seed's odds ratio: 5*7/(2*1) = 17.5. */
  CHECK_CLOSE(x[0] * x[3] / (x[1] * x[2]), 17.5, 0, 1e-9);

  /* Uniform seed: [[7.58, 10.42], [8.42, 11.58]]; closed form r_i c_j / 38 after one sweep. */
  double u[4] = {1, 1, 1, 1};
  CHECK_OK(fit2(2, 2, u, rows, cols, NULL, &res));
  const double uni[4] = {7.58, 10.42, 8.42, 11.58};
  for (int i = 0; i < 4; i++) {
    CHECK_CLOSE(u[i], uni[i], 0.005, 0);
    CHECK_CLOSE(u[i], rows[i / 2] * cols[i % 2] / 38.0, 0, 1e-14);
  }
  CHECK_INT_EQ(res.iterations, 1);

  /* Only row totals: [[12.857, 5.143], [2.5, 17.5]], exact after one sweep. */
  {
    double y[4] = {5, 2, 1, 7};
    size_t dims[2] = {2, 2};
    emi_ipf_margin_t mg[1] = {{1, D0, rows}};
    double work[16];
    CHECK_OK(emi_ipf_fit(2, dims, y, 1, mg, NULL, work, 16, &res));
    const double ro[4] = {12.857, 5.143, 2.5, 17.5};
    for (int i = 0; i < 4; i++) CHECK_CLOSE(y[i], ro[i], 0.0005, 0);
    CHECK_CLOSE(y[0], 5 * 18 / 7.0, 0, 1e-15);
    CHECK_INT_EQ(res.iterations, 1);
    CHECK(res.converged);
  }

  /* 3x3 with a structural zero: rounds to [[72, 40, 59], [32, 88, 0], [396, 12, 1]], zero stays zero. */
  {
    double z[9] = {50, 120, 545, 10, 120, 0, 220, 30, 10};
    const double r3[3] = {170, 120, 410}, c3[3] = {500, 140, 60};
    CHECK_OK(fit2(3, 3, z, r3, c3, NULL, &res));
    const double want[9] = {72, 40, 59, 32, 88, 0, 396, 12, 1};
    for (int i = 0; i < 9; i++) CHECK_MSG(round(z[i]) == want[i], "cell %d = %.6f, expected ~%g", i, z[i], want[i]);
    CHECK(z[5] == 0.0);
    CHECK(res.converged);
    CHECK(res.max_dev <= 1e-10 * 700);
  }

  /* Margins bound to the right dimension: ones, rows (50, 50), cols (30, 70) -> [[15, 35], [15, 35]]
   * (a transposed [[15, 15], [35, 35]] is the classic bug).  Also with the margins given cols first. */
  {
    const double r[2] = {50, 50}, c[2] = {30, 70}, want[4] = {15, 35, 15, 35};
    double o[4] = {1, 1, 1, 1};
    CHECK_OK(fit2(2, 2, o, r, c, NULL, &res));
    for (int i = 0; i < 4; i++) CHECK_CLOSE(o[i], want[i], 1e-12, 0);
    double o2[4] = {1, 1, 1, 1};
    size_t dims[2] = {2, 2};
    emi_ipf_margin_t mg[2] = {{1, D1, c}, {1, D0, r}};
    double work[16];
    CHECK_OK(emi_ipf_fit(2, dims, o2, 2, mg, NULL, work, 16, &res));
    for (int i = 0; i < 4; i++) CHECK_CLOSE(o2[i], want[i], 1e-12, 0);
  }

  /* The reference twin reproduces the Willekens answer with the same bits. */
  {
    double a[4] = {5, 2, 1, 7}, b[4] = {5, 2, 1, 7};
    size_t dims[2] = {2, 2};
    emi_ipf_margin_t mg[2] = {{1, D0, rows}, {1, D1, cols}};
    double work[16];
    emi_ipf_result_t ra, rb;
    CHECK_OK(emi_ipf_fit(2, dims, a, 2, mg, NULL, work, 16, &ra));
    CHECK_OK(emi_ipf_fit_ref(2, dims, b, 2, mg, NULL, work, 16, &rb));
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK_INT_EQ(ra.iterations, rb.iterations);
    CHECK(ra.max_dev == rb.max_dev);
  }
}

static void test_zero_margin_and_fit(void)
{
  emi_ipf_result_t res;
  /* A zero row target gives a zero row (no NaN); the other row takes the columns: (16, 22). */
  double x[4] = {5, 2, 1, 7};
  const double rows[2] = {0, 38}, cols[2] = {16, 22};
  CHECK_OK(fit2(2, 2, x, rows, cols, NULL, &res));
  CHECK(x[0] == 0.0 && x[1] == 0.0);
  CHECK_CLOSE(x[2], 16, 1e-9, 0);
  CHECK_CLOSE(x[3], 22, 1e-9, 0);

  /* All-zero margins: all-zero table, converged, no NaN. */
  double y[4] = {5, 2, 1, 7};
  const double zr[2] = {0, 0};
  CHECK_OK(fit2(2, 2, y, zr, zr, NULL, &res));
  for (int i = 0; i < 4; i++) CHECK(y[i] == 0.0);
  CHECK(res.converged && res.max_dev == 0.0);

  /* A seed that already fits comes back unchanged after one iteration (exact sums: every factor 1). */
  double s[6] = {1.5, 2.25, 3, 4, 0, 6.125};
  double s0[6];
  memcpy(s0, s, sizeof s);
  const double r[2] = {6.75, 10.125}, c[3] = {5.5, 2.25, 9.125};
  CHECK_OK(fit2(2, 3, s, r, c, NULL, &res));
  CHECK(memcmp(s, s0, sizeof s) == 0);
  CHECK_INT_EQ(res.iterations, 1);
  CHECK(res.converged && res.max_dev == 0.0);
}

static void test_noconv(void)
{
  emi_ipf_result_t res;
  emi_ipf_opts_t o;
  emi_ipf_opts_default(&o);
  /* Willekens needs about 20 sweeps for 1e-10: two are not enough. */
  o.max_iter = 2;
  double x[4] = {5, 2, 1, 7};
  const double rows[2] = {18, 20}, cols[2] = {16, 22};
  emi_err_t e = fit2(2, 2, x, rows, cols, &o, &res);
  CHECK_INT_EQ(e, EMI_ERR_NOCONV);
  CHECK(strstr(emi_err_message(), "did not converge in 2 iterations") != NULL);
  emi_err_clear();
  CHECK_INT_EQ(res.iterations, 2);
  CHECK(res.converged == 0);
  CHECK(res.max_dev > res.tol && isfinite(res.max_dev));
  /* The last step fitted the columns, so the largest deviation is in the rows (margin 0). */
  CHECK_INT_EQ(res.worst_margin, 0);
  CHECK_CLOSE(x[0] + x[2], 16, 1e-12, 0);
  /* Looser tolerance: converges and says so. */
  o.max_iter = 1000;
  o.tol_rel = 0;
  o.tol_abs = 1e-3;
  double y[4] = {5, 2, 1, 7};
  CHECK_OK(fit2(2, 2, y, rows, cols, &o, &res));
  CHECK(res.converged && res.max_dev <= 1e-3 && res.iterations < 20);

  /* Infeasible through the zero pattern, invisible cell by cell: row 1 only has cell (1,0), which
   * would need 9 > column 0's 5.  Every target has positive support, so it iterates and fails. */
  double z[4] = {1, 1, 1, 0};
  const double zr[2] = {1, 9}, zc[2] = {5, 5};
  o.tol_abs = 0;
  o.tol_rel = 1e-10;
  o.max_iter = 200;
  e = fit2(2, 2, z, zr, zc, &o, &res);
  CHECK_INT_EQ(e, EMI_ERR_NOCONV);
  emi_err_clear();
  CHECK(!res.converged && res.max_dev > 1.0);
  CHECK(z[3] == 0.0);
}

static void test_errors(void)
{
  emi_ipf_result_t res;
  emi_ipf_opts_t o;
  emi_ipf_opts_default(&o);
  const double rows[2] = {18, 20};
  double x[4] = {5, 2, 1, 7};
  const double x0[4] = {5, 2, 1, 7};

  /* Totals disagree: 38 vs 39, said with the amount, table untouched. */
  const double c39[2] = {16, 23};
  CHECK_ERR(fit2(2, 2, x, rows, c39, NULL, &res), EMI_ERR_INCONSISTENT);
  /* (CHECK_ERR clears the message: run again to read it.) */
  fit2(2, 2, x, rows, c39, NULL, &res);
  const char *m = emi_err_message();
  CHECK_MSG(strstr(m, "margin 1 (dims {1}) sums to 39") && strstr(m, "margin 0 (dims {0}) sums to 38") &&
                strstr(m, "differ by 1 "),
            "message: %s", m);
  emi_err_clear();
  CHECK(memcmp(x, x0, sizeof x) == 0);
  CHECK_CLOSE(res.total_spread, 1.0 / 39, 0, 1e-12);
  /* Totals that differ beyond the 10th digit: printed with the digits that tell them apart (38 and
   * 38.0000000001, not 38 twice), the difference as a magnitude (from a breaker) */
  {
    const double cnear[2] = {16, 22.0000000001};
    emi_ipf_opts_t ot;
    emi_ipf_opts_default(&ot);
    ot.total_tol_rel = 1e-14;
    ot.tol_rel = 1e-15;
    fit2(2, 2, x, rows, cnear, &ot, &res);
    m = emi_err_message();
    CHECK_MSG(strstr(m, "sums to 38.0000000001 but margin 0 (dims {0}) sums to 38:") && strstr(m, "differ by 1.0") &&
                  !strstr(m, "by -"),
              "message: %s", m);
    emi_err_clear();
  }

  /* Explicit rescale policies. */
  o.rescale = EMI_IPF_RESCALE_TO_FIRST;
  CHECK_OK(fit2(2, 2, x, rows, c39, &o, &res));
  CHECK_CLOSE(x[0] + x[2], 16 * 38.0 / 39, 1e-8, 0);
  CHECK_CLOSE(x[0] + x[1], 18, 1e-8, 0);
  CHECK_CLOSE(res.total, 38, 0, 0);
  memcpy(x, x0, sizeof x);
  o.rescale = EMI_IPF_RESCALE_TO_MEAN;
  CHECK_OK(fit2(2, 2, x, rows, c39, &o, &res));
  CHECK_CLOSE(x[0] + x[1], 18 * 38.5 / 38, 1e-8, 0);
  CHECK_CLOSE(x[1] + x[3], 23 * 38.5 / 39, 1e-8, 0);
  o.rescale = EMI_IPF_RESCALE_ERROR;
  memcpy(x, x0, sizeof x);

  /* NaN / negative in seed and margins, named by cell. */
  const double cols[2] = {16, 22};
  x[2] = NAN;
  fit2(2, 2, x, rows, cols, NULL, &res);
  CHECK_INT_EQ(emi_err_code(), EMI_ERR_DOMAIN);
  CHECK_MSG(strstr(emi_err_message(), "seed cell (1, 0) is nan"), "message: %s", emi_err_message());
  emi_err_clear();
  x[2] = -1;
  CHECK_ERR(fit2(2, 2, x, rows, cols, NULL, &res), EMI_ERR_DOMAIN);
  x[2] = 1;
  const double cneg[2] = {-16, 54};
  fit2(2, 2, x, rows, cneg, NULL, &res);
  CHECK_INT_EQ(emi_err_code(), EMI_ERR_DOMAIN);
  CHECK_MSG(strstr(emi_err_message(), "margin 1 (dims {1}) cell (0) is -16"), "message: %s", emi_err_message());
  emi_err_clear();
  const double cinf[2] = {INFINITY, 22};
  CHECK_ERR(fit2(2, 2, x, rows, cinf, NULL, &res), EMI_ERR_DOMAIN);

  /* Positive target over an all-zero seed column. */
  double zc[4] = {0, 1, 0, 1};
  fit2(2, 2, zc, rows, cols, NULL, &res);
  CHECK_INT_EQ(emi_err_code(), EMI_ERR_INFEASIBLE);
  CHECK_MSG(strstr(emi_err_message(), "margin 1 (dims {1}) cell (0) has target 16 but every seed cell under it is zero"),
            "message: %s", emi_err_message());
  emi_err_clear();
  /* Positive target whose only positive seed cell lies under a zero target of the other margin. */
  double zd[4] = {1, 1, 0, 1};
  const double r0[2] = {0, 38};
  fit2(2, 2, zd, r0, cols, NULL, &res);
  CHECK_INT_EQ(emi_err_code(), EMI_ERR_INFEASIBLE);
  CHECK_MSG(strstr(emi_err_message(), "margin 1 (dims {1}) cell (0)") && strstr(emi_err_message(), "zero target of another margin"),
            "message: %s", emi_err_message());
  emi_err_clear();

  /* Bad structure. */
  size_t dims[2] = {2, 2};
  double work[16];
  const int dd[2] = {0, 0}, d5[1] = {5};
  emi_ipf_margin_t bad1[1] = {{2, dd, rows}}, bad2[1] = {{1, d5, rows}}, ok[1] = {{1, D0, rows}};
  CHECK_ERR(emi_ipf_fit(2, dims, x, 1, bad1, NULL, work, 16, &res), EMI_ERR_ARG);
  CHECK_ERR(emi_ipf_fit(2, dims, x, 1, bad2, NULL, work, 16, &res), EMI_ERR_ARG);
  CHECK_ERR(emi_ipf_fit(2, dims, x, 1, ok, NULL, work, 5, &res), EMI_ERR_ARG);
  CHECK_INT_EQ(emi_ipf_work_len(2, dims, 1, ok), 6);
  CHECK_INT_EQ(emi_ipf_work_len(2, dims, 1, bad2), 0);
  CHECK_INT_EQ(emi_err_code(), EMI_SUCCESS);
  CHECK_ERR(emi_ipf_fit(0, dims, x, 1, ok, NULL, work, 16, &res), EMI_ERR_ARG);
  o.max_iter = 0;
  CHECK_ERR(emi_ipf_fit(2, dims, x, 1, ok, &o, work, 16, &res), EMI_ERR_ARG);
}

/* A positive n0 x n1 x n2 table and its three 2-D and three 1-D margins. */
typedef struct {
  size_t dims[3];
  double *truth, *seed, *m01, *m02, *m12, *m0, *m1, *m2;
} t3_t;

static void t3_make(t3_t *t, size_t n0, size_t n1, size_t n2, uint64_t salt)
{
  t->dims[0] = n0;
  t->dims[1] = n1;
  t->dims[2] = n2;
  size_t N = n0 * n1 * n2;
  t->truth = malloc(N * sizeof(double));
  t->seed = malloc(N * sizeof(double));
  t->m01 = calloc(n0 * n1, sizeof(double));
  t->m02 = calloc(n0 * n2, sizeof(double));
  t->m12 = calloc(n1 * n2, sizeof(double));
  t->m0 = calloc(n0, sizeof(double));
  t->m1 = calloc(n1, sizeof(double));
  t->m2 = calloc(n2, sizeof(double));
  for (size_t i = 0; i < n0; i++)
    for (size_t j = 0; j < n1; j++)
      for (size_t k = 0; k < n2; k++) {
        size_t c = (i * n1 + j) * n2 + k;
        double v = hval(salt, c, 0.5, 100.0);
        t->truth[c] = v;
        t->seed[c] = v * hval(salt + 1, c, 0.2, 5.0); /* a distorted seed */
        t->m01[i * n1 + j] += v;
        t->m02[i * n2 + k] += v;
        t->m12[j * n2 + k] += v;
        t->m0[i] += v;
        t->m1[j] += v;
        t->m2[k] += v;
      }
  /* The margins' grand totals are sums of the same numbers in different orders: they agree to
   * rounding, well inside total_tol_rel. */
}

static void t3_free(t3_t *t)
{
  free(t->truth);
  free(t->seed);
  free(t->m01);
  free(t->m02);
  free(t->m12);
  free(t->m0);
  free(t->m1);
  free(t->m2);
}

/* Largest relative deviation of the fitted table's margin over dims `md` from `target`. */
static double margin_dev(const t3_t *t, const double *x, int nd, const int *md, const double *target)
{
  size_t ms[3] = {0, 0, 0}, sz = 1;
  for (int q = nd - 1; q >= 0; q--) {
    ms[md[q]] = sz;
    sz *= t->dims[md[q]];
  }
  double *s = calloc(sz, sizeof(double)), worst = 0;
  for (size_t i = 0; i < t->dims[0]; i++)
    for (size_t j = 0; j < t->dims[1]; j++)
      for (size_t k = 0; k < t->dims[2]; k++)
        s[i * ms[0] + j * ms[1] + k * ms[2]] += x[(i * t->dims[1] + j) * t->dims[2] + k];
  for (size_t m = 0; m < sz; m++) worst = fmax(worst, fabs(s[m] - target[m]) / target[m]);
  free(s);
  return worst;
}

/* Fit with the fast kernel at 1, 2, 3 threads and with the reference; all must be the same bits. */
static void check_3d(const t3_t *t, int nm, const emi_ipf_margin_t *mg, const char *what)
{
  size_t N = t->dims[0] * t->dims[1] * t->dims[2];
  size_t lw = emi_ipf_work_len(3, t->dims, nm, mg);
  CHECK(lw > 0);
  double *work = malloc(lw * sizeof(double));
  double *ref = malloc(N * sizeof(double)), *x = malloc(N * sizeof(double));
  emi_ipf_opts_t o;
  emi_ipf_opts_default(&o);
  /* tol_rel is relative to the grand total (~3e6 here) while margin cells are ~1e2..1e5: ask for
   * 1e-13 so that every margin cell is met to ~1e-9 relative. */
  o.tol_rel = 1e-13;
  o.total_tol_rel = 1e-14;
  emi_ipf_result_t rr, rx;
  memcpy(ref, t->seed, N * sizeof(double));
  CHECK_OK(emi_ipf_fit_ref(3, t->dims, ref, nm, mg, &o, work, lw, &rr));
  CHECK_MSG(rr.converged && rr.iterations > 1, "%s: ref converged %d after %d", what, rr.converged, rr.iterations);
  for (int nth = 1; nth <= 3; nth++) {
    omp_set_num_threads(nth);
    memcpy(x, t->seed, N * sizeof(double));
    CHECK_OK(emi_ipf_fit(3, t->dims, x, nm, mg, &o, work, lw, &rx));
    CHECK_MSG(memcmp(x, ref, N * sizeof(double)) == 0, "%s: %d threads differ from the _ref twin", what, nth);
    CHECK_INT_EQ(rx.iterations, rr.iterations);
    CHECK(rx.max_dev == rr.max_dev && rx.worst_margin == rr.worst_margin && rx.worst_cell == rr.worst_cell);
  }
  omp_set_num_threads(1);
  /* Every margin is met (independent recomputation), and nothing became negative or NaN. */
  for (int k = 0; k < nm; k++)
    CHECK_MSG(margin_dev(t, x, mg[k].ndim, mg[k].dims, mg[k].target) < 1e-9, "%s: margin %d off by %g", what, k,
              margin_dev(t, x, mg[k].ndim, mg[k].dims, mg[k].target));
  int bad = 0;
  for (size_t c = 0; c < N; c++) bad += !(x[c] > 0);
  CHECK_INT_EQ(bad, 0);
  free(work);
  free(ref);
  free(x);
}

static void test_3d(void)
{
  t3_t t;
  t3_make(&t, 60, 50, 20, 7);
  emi_ipf_margin_t m2[3] = {{2, D01, t.m01}, {2, D02, t.m02}, {2, D12, t.m12}};
  check_3d(&t, 3, m2, "3-D, 2-D margins");
  emi_ipf_margin_t m1[3] = {{1, D0, t.m0}, {1, D1, t.m1}, {1, D2, t.m2}};
  check_3d(&t, 3, m1, "3-D, 1-D margins");
  emi_ipf_margin_t mx[2] = {{1, D1, t.m1}, {2, D02, t.m02}};
  check_3d(&t, 2, mx, "3-D, mixed margins");

  /* A margin over dims listed as {2, 0}: laid out with dimension 2 first.  Same answer as {0, 2}. */
  double *m20 = malloc(20 * 60 * sizeof(double));
  for (size_t i = 0; i < 60; i++)
    for (size_t k = 0; k < 20; k++) m20[k * 60 + i] = t.m02[i * 20 + k];
  emi_ipf_margin_t my[2] = {{1, D1, t.m1}, {2, D20, m20}};
  check_3d(&t, 2, my, "3-D, margin dims {2, 0}");
  {
    size_t N = 60 * 50 * 20;
    double *a = malloc(N * sizeof(double)), *b = malloc(N * sizeof(double));
    const size_t lw = emi_ipf_work_len(3, t.dims, 2, mx);
    CHECK_INT_EQ(emi_ipf_work_len(3, t.dims, 2, my), lw);
    double *work = malloc(lw * sizeof(double));
    memcpy(a, t.seed, N * sizeof(double));
    memcpy(b, t.seed, N * sizeof(double));
    CHECK_OK(emi_ipf_fit(3, t.dims, a, 2, mx, NULL, work, lw, NULL));
    CHECK_OK(emi_ipf_fit(3, t.dims, b, 2, my, NULL, work, lw, NULL));
    double d = 0;
    for (size_t c = 0; c < N; c++) d = fmax(d, fabs(a[c] - b[c]) / a[c]);
    CHECK_MSG(d < 1e-12, "{2,0} vs {0,2}: %g", d);
    free(a);
    free(b);
    free(work);
  }
  free(m20);

  /* 3-D infeasible: seed zero along (i, j) = (1, 2) for every k, positive target there. */
  {
    size_t N = 60 * 50 * 20;
    double *s = malloc(N * sizeof(double));
    memcpy(s, t.seed, N * sizeof(double));
    for (size_t k = 0; k < 20; k++) s[(1 * 50 + 2) * 20 + k] = 0;
    size_t lw = emi_ipf_work_len(3, t.dims, 3, m2);
    double *work = malloc(lw * sizeof(double));
    emi_err_t e = emi_ipf_fit(3, t.dims, s, 3, m2, NULL, work, lw, NULL);
    CHECK_INT_EQ(e, EMI_ERR_INFEASIBLE);
    CHECK_MSG(strstr(emi_err_message(), "margin 0 (dims {0, 1}) cell (1, 2) has target"), "message: %s",
              emi_err_message());
    emi_err_clear();

    /* 2-D margins sharing dimension 0 that disagree there (same grand total): moved mass. */
    memcpy(s, t.seed, N * sizeof(double));
    double *bad = malloc(60 * 20 * sizeof(double));
    memcpy(bad, t.m02, 60 * 20 * sizeof(double));
    bad[3 * 20 + 0] += 5; /* row 3 gains 5 */
    bad[4 * 20 + 0] -= 5; /* row 4 loses 5 */
    emi_ipf_margin_t mb[2] = {{2, D01, t.m01}, {2, D02, bad}};
    e = emi_ipf_fit(3, t.dims, s, 2, mb, NULL, work, lw, NULL);
    CHECK_INT_EQ(e, EMI_ERR_INCONSISTENT);
    CHECK_MSG(strstr(emi_err_message(), "margins 0 (dims {0, 1}) and 1 (dims {0, 2}) disagree over their shared "
                                        "dimensions {0}: at (3)"),
              "message: %s", emi_err_message());
    emi_err_clear();
    CHECK(memcmp(s, t.seed, N * sizeof(double)) == 0);
    free(bad);
    free(work);
    free(s);
  }
  t3_free(&t);
}

/* Tables large enough for the fast kernel to use its threads (>= 131072 cells) and its block
 * partial sums (margins without dimension 0), in every interval layout: 2-D margins, 1-D margins,
 * a margin without dimension 0 first, a margin laid out against the table's order ({2, 0}: the
 * strided path).  The fast kernel must give the reference's bits at 1, 2 and 3 threads. */
static void test_3d_parallel(void)
{
  t3_t t;
  t3_make(&t, 80, 60, 40, 21); /* 192000 cells */
  emi_ipf_margin_t m2[3] = {{2, D01, t.m01}, {2, D02, t.m02}, {2, D12, t.m12}};
  check_3d(&t, 3, m2, "80x60x40, 2-D margins");
  emi_ipf_margin_t m1[3] = {{1, D0, t.m0}, {1, D1, t.m1}, {1, D2, t.m2}};
  check_3d(&t, 3, m1, "80x60x40, 1-D margins");
  emi_ipf_margin_t mg[3] = {{2, D12, t.m12}, {1, D0, t.m0}, {2, D02, t.m02}};
  check_3d(&t, 3, mg, "80x60x40, global margin first");
  double *m20 = malloc(40 * 80 * sizeof(double));
  for (size_t i = 0; i < 80; i++)
    for (size_t k = 0; k < 40; k++) m20[k * 80 + i] = t.m02[i * 40 + k];
  emi_ipf_margin_t ms[3] = {{2, D01, t.m01}, {2, D20, m20}, {1, D2, t.m2}};
  check_3d(&t, 3, ms, "80x60x40, margin dims {2, 0}");
  free(m20);
  t3_free(&t);
}

/* A table above 8 MiB: the fast kernel only reads it until the check of each sweep and carries the
 * sweep's factors along, the check sharing its pass with the next sweep's first interval.  Four
 * sweeps (EMI_ERR_NOCONV at a tolerance of 1e-300), and a fit run to convergence, must give the
 * reference's bits, result and message at 1 and 2 threads, for 2-D and 1-D margins and for
 * {0,1}, {1}, {0,2} (a global margin between local ones). */
static void test_3d_large(void)
{
  t3_t t;
  t3_make(&t, 128, 100, 90, 33); /* 1152000 cells, 9.2 MB */
  const size_t N = 128 * 100 * 90;
  emi_ipf_margin_t m2[3] = {{2, D01, t.m01}, {2, D02, t.m02}, {2, D12, t.m12}};
  emi_ipf_margin_t m1[3] = {{1, D0, t.m0}, {1, D1, t.m1}, {1, D2, t.m2}};
  emi_ipf_margin_t m3[3] = {{2, D01, t.m01}, {1, D1, t.m1}, {2, D02, t.m02}};
  emi_ipf_margin_t *cases[3] = {m2, m1, m3};
  double *ref = malloc(N * sizeof(double)), *x = malloc(N * sizeof(double));
  for (int c = 0; c < 3; c++) {
    const size_t lw = emi_ipf_work_len(3, t.dims, 3, cases[c]);
    double *work = malloc(lw * sizeof(double));
    emi_ipf_opts_t o;
    emi_ipf_opts_default(&o);
    o.tol_rel = 1e-300;
    o.total_tol_rel = 1e-13;
    o.max_iter = 4;
    emi_ipf_result_t rr, rx;
    memcpy(ref, t.seed, N * sizeof(double));
    CHECK_INT_EQ(emi_ipf_fit_ref(3, t.dims, ref, 3, cases[c], &o, work, lw, &rr), EMI_ERR_NOCONV);
    /* The message names the worst cell and its fitted sum.  In the fast kernel's fused sweeps the
     * check's sums of the first global margin live apart from its s (which holds the sums its
     * scaling used), so the message must carry the check's value: case 2's worst cell lies in that
     * margin ({1}, between {0, 1} and {0, 2}). */
    char msg[512];
    snprintf(msg, sizeof msg, "%s", emi_err_message());
    emi_err_clear();
    if (c == 2) CHECK_MSG(rr.worst_margin == 1, "worst margin %d, expected 1 ({1})", rr.worst_margin);
    for (int nth = 1; nth <= 2; nth++) {
      omp_set_num_threads(nth);
      memcpy(x, t.seed, N * sizeof(double));
      CHECK_INT_EQ(emi_ipf_fit(3, t.dims, x, 3, cases[c], &o, work, lw, &rx), EMI_ERR_NOCONV);
      CHECK_MSG(strcmp(emi_err_message(), msg) == 0, "case %d, %d threads: message\n  %s\nexpected\n  %s", c, nth,
                emi_err_message(), msg);
      emi_err_clear();
      CHECK_MSG(memcmp(x, ref, N * sizeof(double)) == 0, "large table, case %d: %d threads differ from _ref", c, nth);
      CHECK(rx.iterations == 4 && rx.max_dev == rr.max_dev && rx.worst_margin == rr.worst_margin &&
            rx.worst_cell == rr.worst_cell);
    }
    /* Run to convergence: the fused pass that finds sweep it converged has already run sweep
     * it + 1's first interval, which only reads, so the table is sweep it's, as the reference's. */
    o.tol_rel = 1e-13;
    o.max_iter = 1000;
    memcpy(ref, t.seed, N * sizeof(double));
    CHECK_OK(emi_ipf_fit_ref(3, t.dims, ref, 3, cases[c], &o, work, lw, &rr));
    CHECK_MSG(rr.converged && rr.iterations > 2, "case %d: ref converged %d after %d", c, rr.converged, rr.iterations);
    for (int nth = 1; nth <= 2; nth++) {
      omp_set_num_threads(nth);
      memcpy(x, t.seed, N * sizeof(double));
      CHECK_OK(emi_ipf_fit(3, t.dims, x, 3, cases[c], &o, work, lw, &rx));
      CHECK_MSG(memcmp(x, ref, N * sizeof(double)) == 0, "large table, case %d converged: %d threads differ from _ref",
                c, nth);
      CHECK(rx.converged && rx.iterations == rr.iterations && rx.max_dev == rr.max_dev &&
            rx.worst_margin == rr.worst_margin && rx.worst_cell == rr.worst_cell);
    }
    omp_set_num_threads(1);
    free(work);
  }
  free(ref);
  free(x);
  t3_free(&t);
}

/* The folded sweep (emi_ipf.c, fold_block): 2-D margins {0,1}, {0,2}, {1,2} of a 3-D table in that
 * order with rows of at most 64 cells take it on machines with AVX-512 (others, and every other shape,
 * the tiled path).  Rows of 1, 7, 8, 13, 50 and 64 cells: a row that is all tail (masked), full
 * 8-vectors only, both; a table of one slab (n0 = 1) and one of several blocks (threads share it);
 * a zero row of the truth, so that zero targets give zero factors.  Beside them, shapes that keep the
 * tiled path: rows of 65 cells, and the margins in another order.  Four sweeps (a tolerance of
 * 1e-300: EMI_ERR_NOCONV, or exact convergence for rows of one cell) and a fit to convergence: the
 * fast kernel's bits, result and message equal the reference's at 1 and 2 threads. */
/* Does this CPU take the folded sweep (kernels/emi_ipf.c: AVX-512 F and VL, GCC on x86-64 ELF)? */
static int fold_cpu(void)
{
#if defined(__x86_64__) && defined(__GNUC__) && defined(__ELF__)
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
#else
  return 0;
#endif
}

static void test_fold_paths(void)
{
  static const size_t shapes[][3] = {{6, 5, 1},  {9, 7, 7},    {5, 11, 8},  {12, 9, 13}, {1, 40, 50},
                                     {70, 40, 50}, {20, 30, 64}, {20, 30, 65}};
  for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++) {
    t3_t t;
    const size_t n0 = shapes[sh][0], n1 = shapes[sh][1], n2 = shapes[sh][2], N = n0 * n1 * n2;
    t3_make(&t, n0, n1, n2, 40 + sh);
    if (n1 > 2) { /* row (n0 - 1, 2) of the truth and the seed is zero: its target of {0,1} is 0 */
      const size_t r = (n0 - 1) * n1 + 2;
      for (size_t k = 0; k < n2; k++) t.truth[r * n2 + k] = t.seed[r * n2 + k] = 0.0;
      memset(t.m01, 0, n0 * n1 * sizeof(double));
      memset(t.m02, 0, n0 * n2 * sizeof(double));
      memset(t.m12, 0, n1 * n2 * sizeof(double));
      for (size_t i = 0; i < n0; i++)
        for (size_t j = 0; j < n1; j++)
          for (size_t k = 0; k < n2; k++) {
            const double v = t.truth[(i * n1 + j) * n2 + k];
            t.m01[i * n1 + j] += v;
            t.m02[i * n2 + k] += v;
            t.m12[j * n2 + k] += v;
          }
    }
    emi_ipf_margin_t fold[3] = {{2, D01, t.m01}, {2, D02, t.m02}, {2, D12, t.m12}};
    emi_ipf_margin_t other[3] = {{2, D02, t.m02}, {2, D01, t.m01}, {2, D12, t.m12}};
    emi_ipf_margin_t *cases[2] = {fold, other};
    double *ref = malloc(N * sizeof(double)), *x = malloc(N * sizeof(double));
    for (int c = 0; c < 2; c++) {
      const size_t lw = emi_ipf_work_len(3, t.dims, 3, cases[c]);
      double *work = malloc(lw * sizeof(double));
      emi_ipf_opts_t o;
      emi_ipf_opts_default(&o);
      o.total_tol_rel = 1e-13;
      for (int conv = 0; conv < 2; conv++) {
        o.tol_rel = conv ? 1e-12 : 1e-300;
        o.max_iter = conv ? 1000 : 4;
        emi_ipf_result_t rr, rx;
        memcpy(ref, t.seed, N * sizeof(double));
        const emi_err_t er = emi_ipf_fit_ref(3, t.dims, ref, 3, cases[c], &o, work, lw, &rr);
        /* (rows of one cell: {0,1} is the whole table, so a sweep can fit every margin exactly) */
        CHECK(er == EMI_SUCCESS || (!conv && er == EMI_ERR_NOCONV));
        char msg[512];
        snprintf(msg, sizeof msg, "%s", er ? emi_err_message() : "");
        emi_err_clear();
        for (int nth = 1; nth <= 2; nth++) {
          omp_set_num_threads(nth);
          memcpy(x, t.seed, N * sizeof(double));
          CHECK_INT_EQ(emi_ipf_fit(3, t.dims, x, 3, cases[c], &o, work, lw, &rx), er);
          if (er)
            CHECK_MSG(strcmp(emi_err_message(), msg) == 0, "%zux%zux%zu case %d: message\n  %s\nexpected\n  %s", n0, n1,
                      n2, c, emi_err_message(), msg);
          emi_err_clear();
          CHECK_MSG(memcmp(x, ref, N * sizeof(double)) == 0, "%zux%zux%zu case %d conv %d: %d threads differ from _ref",
                    n0, n1, n2, c, conv, nth);
          CHECK(rx.iterations == rr.iterations && rx.converged == rr.converged && rx.max_dev == rr.max_dev &&
                rx.worst_margin == rr.worst_margin && rx.worst_cell == rr.worst_cell);
          /* the path taken: folded (the table read and written once a sweep) or the tiled one in
           * cache (a read and a write per interval, 2 intervals) */
          const int want = c == 0 && n2 <= 64 && fold_cpu() ? 2 : 4;
          CHECK_MSG(rx.table_volumes == want, "%zux%zux%zu case %d: table_volumes %d, expected %d (path)", n0, n1, n2,
                    c, rx.table_volumes, want);
        }
        omp_set_num_threads(1);
      }
      free(work);
    }
    free(ref);
    free(x);
    t3_free(&t);
  }
}

/* 2-D table above the threading threshold (600 x 300: 16 blocks of partial column sums) and a 1-D
 * table (one margin): fast = reference bitwise; the 1-D fit is exact after one sweep. */
static void test_2d_1d(void)
{
  const size_t r = 600, c = 300, N = r * c;
  double *seed = malloc(N * sizeof(double)), *x = malloc(N * sizeof(double)), *y = malloc(N * sizeof(double));
  double *rows = calloc(r, sizeof(double)), *cols = calloc(c, sizeof(double));
  for (size_t i = 0; i < r; i++)
    for (size_t j = 0; j < c; j++) {
      double v = hval(41, i * c + j, 1, 50);
      seed[i * c + j] = v * hval(42, i * c + j, 0.5, 2);
      rows[i] += v;
      cols[j] += v;
    }
  size_t dims[2] = {r, c};
  emi_ipf_margin_t mg[2] = {{1, D0, rows}, {1, D1, cols}};
  const size_t lw = emi_ipf_work_len(2, dims, 2, mg);
  double *work = malloc(lw * sizeof(double));
  emi_ipf_opts_t o;
  emi_ipf_opts_default(&o);
  o.total_tol_rel = 1e-12;
  emi_ipf_result_t rr, rx;
  memcpy(y, seed, N * sizeof(double));
  CHECK_OK(emi_ipf_fit_ref(2, dims, y, 2, mg, &o, work, lw, &rr));
  for (int nth = 1; nth <= 3; nth++) {
    omp_set_num_threads(nth);
    memcpy(x, seed, N * sizeof(double));
    CHECK_OK(emi_ipf_fit(2, dims, x, 2, mg, &o, work, lw, &rx));
    CHECK_MSG(memcmp(x, y, N * sizeof(double)) == 0, "600 x 300: %d threads differ from _ref", nth);
    CHECK_INT_EQ(rx.iterations, rr.iterations);
  }
  omp_set_num_threads(1);
  /* 1-D: one margin, x_i = target_i exactly (seed_i * t_i / seed_i). */
  size_t d1[1] = {7};
  double s1[7] = {1, 2, 3, 4, 5, 6, 7}, t1[7] = {2, 4, 6, 8, 10, 12, 14};
  emi_ipf_margin_t m1[1] = {{1, D0, t1}};
  double w1[32];
  CHECK_OK(emi_ipf_fit(1, d1, s1, 1, m1, NULL, w1, 32, &rx));
  for (int i = 0; i < 7; i++) CHECK(s1[i] == t1[i]);
  CHECK_INT_EQ(rx.iterations, 1);
  free(seed), free(x), free(y), free(rows), free(cols), free(work);
}

/* 4-D: the kernel is N-D; fast and reference agree bitwise, margins met. */
static void test_4d(void)
{
  /* 33600 cells: above the kernel's threshold for going parallel. */
  size_t dims[4] = {7, 6, 5, 160}, N = 7 * 6 * 5 * 160;
  double *truth = malloc(N * sizeof(double)), *x = malloc(N * sizeof(double)), *y = malloc(N * sizeof(double));
  double m03[7 * 160] = {0}, m12[6 * 5] = {0}, m3[160] = {0};
  for (size_t c = 0; c < N; c++) {
    size_t l = c % 160, k = (c / 160) % 5, j = (c / 800) % 6, i = c / 4800;
    truth[c] = hval(11, c, 1, 10);
    x[c] = y[c] = hval(12, c, 1, 10);
    m03[i * 160 + l] += truth[c];
    m12[j * 5 + k] += truth[c];
    m3[l] += truth[c];
  }
  const int d03[2] = {0, 3}, d12[2] = {1, 2}, d3[1] = {3};
  emi_ipf_margin_t mg[3] = {{2, d03, m03}, {2, d12, m12}, {1, d3, m3}};
  emi_ipf_opts_t o;
  emi_ipf_opts_default(&o);
  o.total_tol_rel = 1e-12;
  const size_t lw = emi_ipf_work_len(4, dims, 3, mg);
  double *work = malloc(lw * sizeof(double));
  emi_ipf_result_t ra, rb;
  omp_set_num_threads(2);
  CHECK_OK(emi_ipf_fit(4, dims, x, 3, mg, &o, work, lw, &ra));
  omp_set_num_threads(1);
  CHECK_OK(emi_ipf_fit_ref(4, dims, y, 3, mg, &o, work, lw, &rb));
  CHECK(memcmp(x, y, N * sizeof(double)) == 0);
  CHECK(ra.converged && ra.iterations == rb.iterations);
  free(work);
  free(truth);
  free(x);
  free(y);
}

/* Margin sets that leave the fused row loops for the generic path (emi_ipf.c): a check with 4 margins
 * along the last dimension (4 vector targets), and, on a table above 8 MiB, a sweep of 4 margins
 * (chains of 4 factors).  Four sweeps, fast = reference bitwise at 1 and 2 threads. */
static void test_generic_paths(void)
{
  static const int d03[2] = {0, 3}, d13[2] = {1, 3}, d23[2] = {2, 3}, d3[1] = {3}, d01[2] = {0, 1}, d12[2] = {1, 2};
  const size_t shapes[2][4] = {{20, 16, 12, 40}, {40, 30, 30, 40}};
  for (int c = 0; c < 2; c++) {
    const size_t *dims = shapes[c], N = dims[0] * dims[1] * dims[2] * dims[3];
    double *truth = malloc(N * sizeof(double)), *seed = malloc(N * sizeof(double));
    double *x = malloc(N * sizeof(double)), *y = malloc(N * sizeof(double));
    double *t03 = calloc(dims[0] * dims[3], sizeof(double)), *t13 = calloc(dims[1] * dims[3], sizeof(double));
    double *t23 = calloc(dims[2] * dims[3], sizeof(double)), *t3 = calloc(dims[3], sizeof(double));
    double *t01 = calloc(dims[0] * dims[1], sizeof(double)), *t12 = calloc(dims[1] * dims[2], sizeof(double));
    for (size_t q = 0; q < N; q++) {
      const size_t l = q % dims[3], k = (q / dims[3]) % dims[2], j = (q / dims[3] / dims[2]) % dims[1];
      const size_t i = q / dims[3] / dims[2] / dims[1];
      truth[q] = hval(71 + c, q, 1, 10);
      seed[q] = truth[q] * hval(73 + c, q, 0.5, 2);
      t03[i * dims[3] + l] += truth[q];
      t13[j * dims[3] + l] += truth[q];
      t23[k * dims[3] + l] += truth[q];
      t3[l] += truth[q];
      t01[i * dims[1] + j] += truth[q];
      t12[j * dims[2] + k] += truth[q];
    }
    emi_ipf_margin_t m5[5] = {{2, d03, t03}, {2, d13, t13}, {2, d23, t23}, {1, d3, t3}, {2, d01, t01}};
    emi_ipf_margin_t m4[4] = {{2, d01, t01}, {2, d12, t12}, {2, d23, t23}, {2, d03, t03}};
    const int nm = c == 0 ? 5 : 4;
    const emi_ipf_margin_t *mg = c == 0 ? m5 : m4;
    const size_t lw = emi_ipf_work_len(4, dims, nm, mg);
    double *work = malloc(lw * sizeof(double));
    emi_ipf_opts_t o;
    emi_ipf_opts_default(&o);
    o.tol_rel = 1e-300;
    o.total_tol_rel = 1e-12;
    o.max_iter = 4;
    emi_ipf_result_t rr, rx;
    memcpy(y, seed, N * sizeof(double));
    CHECK_INT_EQ(emi_ipf_fit_ref(4, dims, y, nm, mg, &o, work, lw, &rr), EMI_ERR_NOCONV);
    emi_err_clear();
    for (int nth = 1; nth <= 2; nth++) {
      omp_set_num_threads(nth);
      memcpy(x, seed, N * sizeof(double));
      CHECK_INT_EQ(emi_ipf_fit(4, dims, x, nm, mg, &o, work, lw, &rx), EMI_ERR_NOCONV);
      emi_err_clear();
      CHECK_MSG(memcmp(x, y, N * sizeof(double)) == 0, "generic path case %d: %d threads differ from _ref", c, nth);
      CHECK(rx.max_dev == rr.max_dev && rx.worst_margin == rr.worst_margin && rx.worst_cell == rr.worst_cell);
    }
    omp_set_num_threads(1);
    free(truth), free(seed), free(x), free(y), free(t03), free(t13), free(t23), free(t3), free(t01), free(t12);
    free(work);
  }
}

/* The support check (a positive target needs a positive seed cell under it that no zero target
 * forces to zero) against a brute-force twin written here: for each margin k and cell i with a
 * positive target, look at every table cell.  Rows of 600 cells (longer than the kernel's
 * 512-cell chunks), a margin laid out against the table ({2, 0}: stride 3 along the row) and a
 * 1-D margin (stride 0).  Margins come from a true table with zeroed fibres (so they agree and have
 * zero targets); the seed zeroes further fibres, so some instances are infeasible.  The kernel must
 * give the twin's verdict and name the twin's first infeasible margin cell. */
static void test_support_twin(void)
{
  enum { N0 = 3, N1 = 4, N2 = 600 };
  const size_t N = (size_t)N0 * N1 * N2;
  size_t dims[3] = {N0, N1, N2};
  double *tru = malloc(N * sizeof(double)), *seed = malloc(N * sizeof(double));
  double m01[N0 * N1], m20[N2 * N0], m1[N1];
  const emi_ipf_margin_t mg[3] = {{2, D01, m01}, {2, D20, m20}, {1, D1, m1}};
  const size_t lw = emi_ipf_work_len(3, dims, 3, mg);
  double *work = malloc(lw * sizeof(double));
  int n_feasible = 0, n_infeasible = 0;
  for (uint64_t trial = 0; trial < 40; trial++) {
    for (size_t c = 0; c < N; c++) tru[c] = hval(900 + trial, c, 1, 10);
    /* zero targets: a few (i, j) fibres and (k, i) fibres of the true table */
    for (int z = 0; z < 2; z++) {
      const size_t i = (size_t)hval(910 + trial, z, 0, N0), j = (size_t)hval(920 + trial, z, 0, N1);
      for (size_t k = 0; k < N2; k++) tru[(i * N1 + j) * N2 + k] = 0;
    }
    for (int z = 0; z < 40; z++) {
      const size_t k = (size_t)hval(930 + trial, z, 0, N2), i = (size_t)hval(940 + trial, z, 0, N0);
      for (size_t j = 0; j < N1; j++) tru[(i * N1 + j) * N2 + k] = 0;
    }
    memcpy(seed, tru, N * sizeof(double));
    /* the seed loses whole (i, j) fibres (some positive targets lose their seed), or keeps a
     * positive value only where a zero target of another margin kills it */
    const int nz = (int)hval(950 + trial, 0, 0, 3);
    for (int z = 0; z < nz; z++) {
      const size_t i = (size_t)hval(960 + trial, z, 0, N0), j = (size_t)hval(970 + trial, z, 0, N1);
      for (size_t k = 0; k < N2; k++) seed[(i * N1 + j) * N2 + k] = 0;
    }
    if (trial % 4 == 3) /* all of column j zero except cells under a zero {2, 0} target */
      for (size_t i = 0; i < N0; i++)
        for (size_t k = 0; k < N2; k++) {
          const size_t c = (i * N1 + 1) * N2 + k;
          int killed = 1;
          for (size_t j = 0; j < N1; j++) killed &= tru[(i * N1 + j) * N2 + k] == 0;
          seed[c] = killed ? 7.0 : 0.0;
        }
    memset(m01, 0, sizeof m01);
    memset(m20, 0, sizeof m20);
    memset(m1, 0, sizeof m1);
    for (size_t i = 0; i < N0; i++)
      for (size_t j = 0; j < N1; j++)
        for (size_t k = 0; k < N2; k++) {
          const double v = tru[(i * N1 + j) * N2 + k];
          m01[i * N1 + j] += v;
          m20[k * N0 + i] += v;
          m1[j] += v;
        }
    /* the twin: the first (k, cell) in margin order with a positive target and no live seed */
    int want_k = -1;
    size_t want_c = 0;
    const size_t msz[3] = {N0 * N1, N2 * N0, N1};
    const double *mt[3] = {m01, m20, m1};
    for (int k = 0; k < 3 && want_k < 0; k++)
      for (size_t mc = 0; mc < msz[k] && want_k < 0; mc++) {
        if (!(mt[k][mc] > 0)) continue;
        int ok = 0;
        for (size_t i = 0; i < N0 && !ok; i++)
          for (size_t j = 0; j < N1 && !ok; j++)
            for (size_t kk = 0; kk < N2 && !ok; kk++) {
              const size_t cell[3] = {i * N1 + j, kk * N0 + i, j};
              if (cell[k] != mc || !(seed[(i * N1 + j) * N2 + kk] > 0)) continue;
              ok = m01[cell[0]] > 0 && m20[cell[1]] > 0 && m1[cell[2]] > 0;
            }
        if (!ok) {
          want_k = k;
          want_c = mc;
        }
      }
    emi_ipf_opts_t o;
    emi_ipf_opts_default(&o);
    o.max_iter = 2;
    const emi_err_t e = emi_ipf_fit(3, dims, seed, 3, mg, &o, work, lw, NULL);
    if (want_k < 0) {
      n_feasible++;
      CHECK_MSG(e != EMI_ERR_INFEASIBLE, "trial %d: the twin finds it feasible, the kernel says: %s", (int)trial,
                emi_err_message());
    } else {
      n_infeasible++;
      char cellbuf[64];
      if (want_k == 0) snprintf(cellbuf, sizeof cellbuf, "margin 0 (dims {0, 1}) cell (%zu, %zu)", want_c / N1, want_c % N1);
      else if (want_k == 1) snprintf(cellbuf, sizeof cellbuf, "margin 1 (dims {2, 0}) cell (%zu, %zu)", want_c / N0, want_c % N0);
      else snprintf(cellbuf, sizeof cellbuf, "margin 2 (dims {1}) cell (%zu)", want_c);
      CHECK_INT_EQ(e, EMI_ERR_INFEASIBLE);
      CHECK_MSG(strstr(emi_err_message(), cellbuf), "trial %d: expected \"%s\", got: %s", (int)trial, cellbuf,
                emi_err_message());
    }
    emi_err_clear();
  }
  CHECK_MSG(n_feasible >= 5 && n_infeasible >= 5, "trials: %d feasible, %d infeasible (want both)", n_feasible,
            n_infeasible);
  free(tru);
  free(seed);
  free(work);
}

/* A seed that already fits is returned unchanged (the issue: "returns unchanged after one
 * iteration"); before, one sweep ran and moved cells by an ulp (0.2 -> 0.19999999999999996).
 * The breaker's 2 x 2 case, and 3-D truths fitted to their own margins (their sums in the kernel's
 * order agree with the test's to rounding, far inside the tolerance) on the in-cache path (eager)
 * and the fused path (> 8 MiB), at 1 and 2 threads, for the fast kernel and the reference.  A seed
 * that does not fit still changes (the check cannot pass vacuously). */
static void test_seed_fits(void)
{
  {
    const double x0[4] = {0.1, 0.2, 0.3, 0.4}, rows[2] = {0.3, 0.7}, cols[2] = {0.4, 0.6};
    double x[4];
    emi_ipf_result_t res;
    memcpy(x, x0, sizeof x);
    CHECK_OK(fit2(2, 2, x, rows, cols, NULL, &res));
    CHECK_MSG(!memcmp(x, x0, sizeof x), "2x2 fitting seed changed: %.17g %.17g %.17g %.17g", x[0], x[1], x[2], x[3]);
    CHECK_INT_EQ(res.iterations, 1);
    CHECK(res.converged);
    size_t dims[2] = {2, 2};
    emi_ipf_margin_t mg[2] = {{1, D0, rows}, {1, D1, cols}};
    double work[64];
    memcpy(x, x0, sizeof x);
    CHECK_OK(emi_ipf_fit_ref(2, dims, x, 2, mg, NULL, work, 64, &res));
    CHECK_MSG(!memcmp(x, x0, sizeof x), "2x2 fitting seed changed by the reference");
    CHECK_INT_EQ(res.iterations, 1);
  }
  const size_t shapes[2][3] = {{40, 30, 20}, {128, 100, 90}}; /* 0.2 MB (eager), 9.2 MB (fused) */
  for (int sh = 0; sh < 2; sh++) {
    t3_t t;
    t3_make(&t, shapes[sh][0], shapes[sh][1], shapes[sh][2], 71 + (uint64_t)sh);
    const size_t N = shapes[sh][0] * shapes[sh][1] * shapes[sh][2];
    emi_ipf_margin_t m2[3] = {{2, D01, t.m01}, {2, D02, t.m02}, {2, D12, t.m12}};
    emi_ipf_margin_t m1[3] = {{1, D0, t.m0}, {1, D1, t.m1}, {1, D2, t.m2}};
    emi_ipf_margin_t *cases[2] = {m2, m1};
    double *x = malloc(N * sizeof(double));
    for (int c = 0; c < 2; c++) {
      const size_t lw = emi_ipf_work_len(3, t.dims, 3, cases[c]);
      double *work = malloc(lw * sizeof(double));
      emi_ipf_result_t res;
      for (int nth = 0; nth <= 2; nth++) { /* 0: the reference */
        memcpy(x, t.truth, N * sizeof(double));
        if (nth) omp_set_num_threads(nth);
        emi_err_t e = nth ? emi_ipf_fit(3, t.dims, x, 3, cases[c], NULL, work, lw, &res)
                          : emi_ipf_fit_ref(3, t.dims, x, 3, cases[c], NULL, work, lw, &res);
        CHECK_OK(e);
        CHECK_MSG(!memcmp(x, t.truth, N * sizeof(double)) && res.iterations == 1,
                  "shape %d case %d threads %d: a fitting seed changed or took %d iterations", sh, c, nth,
                  res.iterations);
        memcpy(x, t.seed, N * sizeof(double));
        e = nth ? emi_ipf_fit(3, t.dims, x, 3, cases[c], NULL, work, lw, &res)
                : emi_ipf_fit_ref(3, t.dims, x, 3, cases[c], NULL, work, lw, &res);
        CHECK_OK(e);
        CHECK_MSG(memcmp(x, t.seed, N * sizeof(double)) && res.iterations > 1,
                  "shape %d case %d threads %d: a distorted seed was returned unchanged", sh, c, nth);
        /* the traffic the chosen path reports, by the pass counts of kernels/emi_ipf.c: in cache
         * (shape 0) a read and a write per interval (2-D margins: 2 intervals, 1-D: 3), or the folded
         * pass (rows of 20 <= 64 cells, AVX-512); fused (shape 1, rows of 90: no fold), one pass that
         * reads and writes and a read per later interval; the reference reports 0 */
        int want = !nth ? 0 : sh == 1 ? (c == 0 ? 2 : 3) : c == 1 ? 6 : fold_cpu() ? 2 : 4;
        CHECK_MSG(res.table_volumes == want, "shape %d case %d threads %d: table_volumes %d, expected %d", sh, c,
                  nth, res.table_volumes, want);
      }
      omp_set_num_threads(2);
      free(work);
    }
    free(x);
    t3_free(&t);
  }
}

int main(void)
{
  test_known_answers();
  test_zero_margin_and_fit();
  test_noconv();
  test_errors();
  test_3d();
  test_3d_parallel();
  test_3d_large();
  test_fold_paths();
  test_2d_1d();
  test_4d();
  test_generic_paths();
  test_support_twin();
  test_seed_fits();
  return emi_test_report("test_ipf");
}
