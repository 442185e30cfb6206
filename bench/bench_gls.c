/* bench_gls: GLS reconciliation (emi_gls_solve) with hundreds to thousands of constraints, validated,
 * then timed.
 *
 *   bench_gls --case flow --N N            [--reps R] [--ref auto|yes|no] [--export PREFIX]
 *   bench_gls --case dense --n n --m m     [--reps R] [--ref auto|yes|no] [--export PREFIX]
 *
 * Problems (all values from a stateless hash of the index, so any program can rebuild them):
 *   flow   balancing an N x N flow matrix: n = N^2 estimates x_ij = F_ij u_ij (true flows
 *          F_ij in [1, 1000), noise u_ij in [0.8, 1.2)), diagonal V with v_ij = (0.1 x_ij)^2
 *          (10% coefficient of variation), constraints: the N row totals and the first N - 1 column
 *          totals of F (the last column total is implied by the others), m = 2N - 1 independent.
 *   dense  n estimates x_i = t_i u_i (t_i in [100, 1000), u_i in [0.8, 1.2)) with a dense covariance
 *          V_ij = s_i s_j C_ij, s_i = 0.1 x_i, C_ij = 0.2 + 0.8 * 0.7^|i-j| (0.7^|i-j| set to 0 below
 *          1e-200, far below rounding; C = rank-one PSD + 0.8 x Kac-Murdock-Szego PD, so V is positive
 *          definite), and m dense balance constraints with A_kj = +1 or -1 with probability 1/4 each,
 *          0 otherwise (inflows minus outflows), b = A t.  Mean-zero rows keep A V A^T well
 *          conditioned (condition number about 1e4 at n = 2000, m = 1000; 0/1 rows give 1e7).
 * A is stored dense (m x n, as emi_gls_solve takes it) on both sides, so emflow and numpy do the
 * same dense algebra; a sparse formulation of the flow problem would be far cheaper.
 *
 * 1. Validates (any failure: "VALIDATION FAILED" on stderr, exit 1):
 *    - emi_gls_solve succeeds, and A xhat = b to 1e-9 relative to max |b|;
 *    - an optimality certificate independent of the kernel's algebra.  xhat is the GLS solution
 *      iff A xhat = b and w = V^{-1} (xhat - x) lies in the row space of A (KKT).  flow: w_ij must be
 *      additive, w_ij = a_i + c_j, checked as |w_ij - w_i,N-1 - w_0j + w_0,N-1| <= 1e-9 max |w|.
 *      dense: w by a Cholesky solve with V (LAPACK), then the residual of projecting w on the row
 *      space of A, w - A^T (A A^T)^{-1} A w, must be <= 1e-9 max |w|;
 *    - emi_gls_solve_ref (plain loops) agrees: max |xhat - xhat_ref| <= 1e-10 max |x|.  The
 *      reference is slow (naive triple loops), so --ref auto runs it only when its modelled cost is
 *      below about 5 s; the JSON says whether it ran.
 * 2. With --export PREFIX: x, V (n variances, or n x n), A, b and emflow's xhat for the numpy peer
 *    (bench/peers/gls_numpy.py), which must reproduce xhat before timing itself.
 * 3. Times emi_gls_solve (xhat only: cov = NULL; check_v = 0 so that both sides do the same
 *    algebra -- the numpy formula does not check V) R times: median, min and max, monotonic clock,
 *    workspace allocated outside the timed region.  For dense V also the default check_v = 1 (an
 *    extra n^3/3 Cholesky of V), as a separate figure.
 * 4. Rates against yardsticks measured in the same process, at the same threads, right after timing:
 *    - flow (diagonal V, sparse constraints): emi_gls_solve reads A's m x n dense entries once (the
 *      validation scan records the nonzeros; everything after works on those and on the
 *      (2N-1) x (2N-1) system), so the solve is bound by that read.  Ideal bytes = what any solve
 *      taking A dense must move: A, x, v and b read once, xhat written once:
 *      8 (m n + 3 n + m) bytes.  `GBs` = that / median time, against the STREAM triad
 *      (a = b + s c, 3 x 2^24 doubles, best of 10, 24 bytes per element as STREAM counts).
 *    - dense V: the work is dense BLAS-3; the honest flop count of the path taken is
 *      A V: 2 m n^2, M = (A V) A^T lower triangle: m (m + 1) n, Cholesky m^3 / 3, two triangular
 *      solves 2 m^2, xhat = x - (A V)^T lambda: 2 m n (`gflop_model_full`); `gflops_full` = that /
 *      median time, against a DGEMM of 2048 x 2048 x 2048 (2 x 2048^3 flops, best of 5) through the
 *      same OpenBLAS at the same threads.  (`gflop_model` / `gflops` keep the older model
 *      2 m n^2 + m^2 n for dense V, and m^2 n for flow: the dense-formulation count, which for
 *      flow is not what emflow now computes.)
 * Output: one JSON line on stdout, with the process's peak RSS (getrusage).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>
#include <omp.h>

#include "bench_util.h"
#include "emi_err.h"
#include "emi_gls.h"

#define RES_TOL 1e-9  /* max |A xhat - b| / max |b| */
#define KKT_TOL 1e-9  /* stationarity residual / max |w| */
#define REF_TOL 1e-10 /* max |xhat - xhat_ref| / max |x| */


/* DGEMM of 2048^3 through OpenBLAS (its own threads), best of 5, GFLOP/s; checked against the
 * exact value (all-ones inputs: every entry of C is 2048). */
static double dgemm_rate(void)
{
  enum { R = 5 };
  const size_t d = 2048;
  double *A = malloc(d * d * sizeof(double)), *B = malloc(d * d * sizeof(double)), *C = malloc(d * d * sizeof(double));
  double best = NAN;
  if (A && B && C) {
    for (size_t i = 0; i < d * d; i++) A[i] = B[i] = 1.0;
    for (int r = 0; r < R; r++) {
      double t0 = bu_now();
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d, (int)d, (int)d, 1.0, A, (int)d, B, (int)d, 0.0,
                  C, (int)d);
      double g = 2.0 * (double)d * d * d / (bu_now() - t0) / 1e9;
      if (!(g <= best)) best = g;
    }
    for (size_t i = 0; i < d * d; i++)
      if (C[i] != (double)d) best = NAN;
  }
  free(A), free(B), free(C);
  return best;
}

static double maxabs(const double *v, size_t n)
{
  double m = 0;
  for (size_t i = 0; i < n; i++) m = fmax(m, fabs(v[i]));
  return m;
}

static void build_flow(size_t N, double *x, double *v, double *A, double *b)
{
  const size_t n = N * N, m = 2 * N - 1;
  memset(A, 0, m * n * sizeof(double));
  memset(b, 0, m * sizeof(double));
  for (size_t i = 0; i < N; i++)
    for (size_t j = 0; j < N; j++) {
      size_t c = i * N + j;
      double F = bu_hval(11, c, 1.0, 1000.0);
      x[c] = F * bu_hval(12, c, 0.8, 1.2);
      v[c] = (0.1 * x[c]) * (0.1 * x[c]);
      A[i * n + c] = 1.0; /* row total i */
      b[i] += F;
      if (j + 1 < N) {
        A[(N + j) * n + c] = 1.0; /* column total j */
        b[N + j] += F;
      }
    }
}

static void build_dense(size_t n, size_t m, double *x, double *V, double *A, double *b)
{
  double *t = malloc(n * sizeof(double));
  for (size_t i = 0; i < n; i++) {
    t[i] = bu_hval(21, i, 100.0, 1000.0);
    x[i] = t[i] * bu_hval(22, i, 0.8, 1.2);
  }
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j <= i; j++) {
      double r = pow(0.7, (double)(i - j));
      double c = 0.2 + 0.8 * (r < 1e-200 ? 0.0 : r);
      V[i * n + j] = V[j * n + i] = (0.1 * x[i]) * (0.1 * x[j]) * c;
    }
  for (size_t k = 0; k < m; k++) {
    double s = 0;
    for (size_t j = 0; j < n; j++) {
      double u = bu_hval(23, k * n + j, 0.0, 1.0), a = u < 0.25 ? 1.0 : u < 0.5 ? -1.0 : 0.0;
      A[k * n + j] = a;
      s += a * t[j];
    }
    b[k] = s;
  }
  free(t);
}

/* KKT certificate for the flow problem: w = (xhat - x) / v must be a_i + c_j. */
static double kkt_flow(size_t N, const double *x, const double *v, const double *xh)
{
  const size_t n = N * N;
  double *w = malloc(n * sizeof(double)), worst = 0;
  if (!w) return INFINITY;
  for (size_t c = 0; c < n; c++) w[c] = (xh[c] - x[c]) / v[c];
  for (size_t i = 0; i < N; i++)
    for (size_t j = 0; j < N; j++)
      worst = fmax(worst, fabs(w[i * N + j] - w[i * N + N - 1] - w[j] + w[N - 1]));
  double r = worst / maxabs(w, n);
  free(w);
  return r;
}

/* KKT certificate for dense V: w = V^{-1} (xhat - x) by Cholesky; residual of projecting w on the
 * row space of A, through the normal equations (A A^T) mu = A w. */
static double kkt_dense(size_t n, size_t m, const double *x, const double *V, const double *A, const double *xh)
{
  double *L = malloc(n * n * sizeof(double)), *w = malloc(n * sizeof(double));
  double *G = malloc(m * m * sizeof(double)), *mu = malloc(m * sizeof(double)), *r = malloc(n * sizeof(double));
  double res = INFINITY;
  if (!L || !w || !G || !mu || !r) goto done;
  memcpy(L, V, n * n * sizeof(double));
  for (size_t i = 0; i < n; i++) w[i] = xh[i] - x[i];
  if (LAPACKE_dposv(LAPACK_ROW_MAJOR, 'L', (lapack_int)n, 1, L, (lapack_int)n, w, 1) != 0) goto done;
  cblas_dsyrk(CblasRowMajor, CblasLower, CblasNoTrans, (int)m, (int)n, 1.0, A, (int)n, 0.0, G, (int)m);
  cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)m, (int)n, 1.0, A, (int)n, w, 1, 0.0, mu, 1);
  if (LAPACKE_dposv(LAPACK_ROW_MAJOR, 'L', (lapack_int)m, 1, G, (lapack_int)m, mu, 1) != 0) goto done;
  memcpy(r, w, n * sizeof(double));
  cblas_dgemv(CblasRowMajor, CblasTrans, (int)m, (int)n, -1.0, A, (int)n, mu, 1, 1.0, r, 1);
  res = maxabs(r, n) / maxabs(w, n);
done:
  free(L), free(w), free(G), free(mu), free(r);
  return res;
}

int main(int argc, char **argv)
{
  const char *cas = NULL, *export_prefix = NULL, *ref_mode = "auto";
  size_t N = 0, n = 0, m = 0;
  int reps = 5;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--case") && i + 1 < argc) cas = argv[++i];
    else if (!strcmp(argv[i], "--N") && i + 1 < argc) N = strtoul(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--n") && i + 1 < argc) n = strtoul(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--m") && i + 1 < argc) m = strtoul(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--ref") && i + 1 < argc) ref_mode = argv[++i];
    else if (!strcmp(argv[i], "--export") && i + 1 < argc) export_prefix = argv[++i];
    else cas = NULL, i = argc;
  }
  int flow = cas && !strcmp(cas, "flow"), dense = cas && !strcmp(cas, "dense");
  if (flow && N >= 2) n = N * N, m = 2 * N - 1;
  if ((!flow && !dense) || n < 1 || m < 1 || m > n || reps < 1 || reps > 1000 ||
      (strcmp(ref_mode, "auto") && strcmp(ref_mode, "yes") && strcmp(ref_mode, "no"))) {
    fprintf(stderr, "usage: bench_gls --case flow --N N | --case dense --n n --m m  [--reps R] "
                    "[--ref auto|yes|no] [--export PREFIX]\n");
    return 2;
  }
  const size_t nV = flow ? n : n * n;
  double *x = malloc(n * sizeof(double)), *V = malloc(nV * sizeof(double)), *A = malloc(m * n * sizeof(double));
  double *b = malloc(m * sizeof(double)), *xh = malloc(n * sizeof(double)), *xr = malloc(n * sizeof(double));
  double *t = malloc((size_t)reps * sizeof(double));
  const size_t lw = emi_gls_work_len(n, m, flow, 0);
  double *work = malloc(lw * sizeof(double));
  if (!x || !V || !A || !b || !xh || !xr || !t || !work) {
    fprintf(stderr, "bench_gls: out of memory (n = %zu, m = %zu)\n", n, m);
    return 1;
  }
  if (flow) build_flow(N, x, V, A, b);
  else build_dense(n, m, x, V, A, b);
  emi_gls_problem_t pr = {n, m, x, V, flow, A, b, NULL};
  emi_gls_opts_t o;
  emi_gls_opts_default(&o);
  emi_gls_result_t res;
  int rc = 1;

  /* ---- 1. validate */
  if (emi_gls_solve(&pr, &o, xh, NULL, NULL, NULL, work, lw, &res) != EMI_SUCCESS) {
    fprintf(stderr, "bench_gls: VALIDATION FAILED: emi_gls_solve: %s\n", emi_err_message());
    goto done;
  }
  const double rel_res = res.max_residual / maxabs(b, m);
  if (!(rel_res <= RES_TOL)) {
    fprintf(stderr, "bench_gls: VALIDATION FAILED: max |A xhat - b| / max |b| = %.3g > %g\n", rel_res, RES_TOL);
    goto done;
  }
  const double kkt = flow ? kkt_flow(N, x, V, xh) : kkt_dense(n, m, x, V, A, xh);
  if (!(kkt <= KKT_TOL)) {
    fprintf(stderr, "bench_gls: VALIDATION FAILED: KKT (stationarity) residual %.3g > %g: xhat is not the GLS "
                    "solution\n", kkt, KKT_TOL);
    goto done;
  }
  /* Reference cost model, seconds: about 1 ns per naive multiply-add, 10 ns when V is walked by
   * columns (dense A V). */
  const double ref_cost = 1e-9 * ((double)m * m * n / 2 + 3.0 * m * n) + (flow ? 0 : 1e-8 * (double)m * n * n);
  const int run_ref = !strcmp(ref_mode, "yes") || (!strcmp(ref_mode, "auto") && ref_cost < 5.0);
  double ref_diff = NAN;
  if (run_ref) {
    if (emi_gls_solve_ref(&pr, &o, xr, NULL, NULL, NULL, work, lw, &res) != EMI_SUCCESS) {
      fprintf(stderr, "bench_gls: VALIDATION FAILED: emi_gls_solve_ref: %s\n", emi_err_message());
      goto done;
    }
    double d = 0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs(xh[i] - xr[i]));
    ref_diff = d / maxabs(x, n);
    if (!(ref_diff <= REF_TOL)) {
      fprintf(stderr, "bench_gls: VALIDATION FAILED: emi_gls_solve and emi_gls_solve_ref differ by %.3g (relative "
                      "to max |x|) > %g\n", ref_diff, REF_TOL);
      goto done;
    }
  }

  /* ---- 2. export */
  if (export_prefix) {
    bu_export_t ex;
    if (bu_export_open(&ex, export_prefix)) goto done;
    size_t sv[2] = {n, n}, sa[2] = {m, n};
    bu_export_array(&ex, "x", x, 1, &n);
    bu_export_array(&ex, "V", V, flow ? 1 : 2, sv);
    bu_export_array(&ex, "A", A, 2, sa);
    bu_export_array(&ex, "b", b, 1, &m);
    bu_export_array(&ex, "xhat", xh, 1, &n);
    char buf[128];
    snprintf(buf, sizeof buf, "\"%s\"", flow ? "flow" : "dense");
    bu_export_meta(&ex, "case", buf);
    bu_export_meta(&ex, "v_diag", flow ? "true" : "false");
    if (bu_export_close(&ex)) goto done;
  }

  /* ---- 3. time */
  const double gflop = flow ? 1e-9 * (double)m * m * n : 1e-9 * (2.0 * m * n * n + (double)m * m * n);
  double med = 0, tmin = 0, tmax = 0, med_cv = NAN;
  o.check_v = 0;
  for (int pass = 0; pass < (flow ? 1 : 2); pass++) {
    int R = pass ? (reps < 3 ? reps : 3) : reps;
    if (pass) o.check_v = 1;
    for (int r = 0; r < R; r++) {
      double t0 = bu_now();
      emi_err_t e = emi_gls_solve(&pr, &o, xr, NULL, NULL, NULL, work, lw, &res);
      t[r] = bu_now() - t0;
      if (e != EMI_SUCCESS || memcmp(xr, xh, n * sizeof(double)) != 0) {
        fprintf(stderr, "bench_gls: VALIDATION FAILED: a timed solve (check_v = %d) gave a different xhat (%s)\n",
                o.check_v, emi_err_name(e));
        goto done;
      }
    }
    if (pass) {
      med_cv = bu_median(t, R);
    } else {
      med = bu_median(t, R);
      tmin = t[0];
      tmax = t[R - 1];
    }
  }
  /* ---- 4. yardsticks of this run (after timing, peak RSS taken first) */
  const long rss_kb = bu_maxrss_kb();
  double triad = NAN, triad_med = NAN, dgemm = NAN;
  bu_stream_triad(&triad, &triad_med);
  if (!flow) dgemm = dgemm_rate();
  if (!(triad > 0) || (!flow && !(dgemm > 0))) {
    fprintf(stderr, "bench_gls: VALIDATION FAILED: the STREAM triad or the DGEMM yardstick gave wrong values\n");
    goto done;
  }
  const double bytes = 8.0 * ((double)m * n + 3.0 * n + m);
  const double gflop_full = 1e-9 * (2.0 * m * n * (double)n + (double)m * (m + 1) * n + (double)m * m * m / 3 +
                                    2.0 * m * m + 2.0 * m * n);
  char j1[32], j2[32], j3[32], j4[32], j5[32], j6[32];
  printf("{\"bench\":\"gls\",\"impl\":\"emflow\",\"case\":\"%s\",\"N\":%zu,\"n\":%zu,\"m\":%zu,\"v\":\"%s\","
         "\"threads\":%d,\"reps\":%d,\"solve_s_median\":%.6g,\"solve_s_min\":%.6g,\"solve_s_max\":%.6g,"
         "\"solve_check_v_s_median\":%s,\"gflop_model\":%.4g,\"gflops\":%.3g,"
         "\"validated\":{\"rel_residual\":%.3g,\"kkt_rel\":%.3g,\"ref_ran\":%s,\"ref_rel_diff\":%s},"
         "\"maxrss_kb\":%ld,\"metric\":\"%s\",\"bytes_model\":%.0f,\"GBs\":%.3g,\"stream_triad_GBs\":%.2f,"
         "\"stream_triad_GBs_median\":%.2f,\"GBs_vs_triad\":%.3f,\"gflop_model_full\":%s,\"gflops_full\":%s,"
         "\"dgemm_GFLOPs\":%s,\"gflops_vs_dgemm\":%s}\n",
         flow ? "flow" : "dense", flow ? N : 0, n, m, flow ? "diagonal" : "dense", omp_get_max_threads(), reps, med,
         tmin, tmax, bu_jnum(j1, sizeof j1, "%.6g", med_cv), gflop, gflop / med, rel_res, kkt, run_ref ? "true" : "false",
         bu_jnum(j2, sizeof j2, "%.3g", ref_diff), rss_kb, flow ? "GBs" : "GFLOPs", bytes, bytes / med / 1e9, triad,
         triad_med, bytes / med / 1e9 / triad, bu_jnum(j3, sizeof j3, "%.4g", flow ? NAN : gflop_full),
         bu_jnum(j4, sizeof j4, "%.3g", flow ? NAN : gflop_full / med), bu_jnum(j5, sizeof j5, "%.3g", dgemm),
         bu_jnum(j6, sizeof j6, "%.3f", flow ? NAN : gflop_full / med / dgemm));
  rc = 0;
done:
  free(x), free(V), free(A), free(b), free(xh), free(xr), free(t), free(work);
  return rc;
}
