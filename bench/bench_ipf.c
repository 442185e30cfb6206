/* bench_ipf: IPF on a 3-D table (default 200 x 200 x 50), validated, then timed.
 *
 *   bench_ipf [n0 n1 n2] [reps]
 *
 * 1. Builds a positive "true" table and a distorted seed from a stateless hash of the cell index,
 *    and the margins of the true table: the three 2-D margins {0,1}, {0,2}, {1,2}, and the three 1-D
 *    margins {0}, {1}, {2} (a solution exists for both sets).
 * 2. Validates: emi_ipf_fit and emi_ipf_fit_ref must give the same bits after 3 sweeps, and the fit
 *    must converge (default tolerance) with every margin met.  Any failure: message on stderr, exit 1.
 * 3. Times: fits with max_iter = 1 and max_iter = 1 + S (tolerance 1e-300, so they run all sweeps and
 *    stop with EMI_ERR_NOCONV); time per sweep = (median(t_{1+S}) - median(t_1)) / S, the set-up
 *    (validation, first pass) = median(t_1) - time per sweep.  Min and max are reported too.
 *    Bytes per sweep count the table traffic of the kernel's passes: a fused pass (scale + sums)
 *    reads and writes the table, a check pass only reads it.  2-D margins: 3 fused + 1 check pass
 *    = 7 table volumes; 1-D margins: 3 fused + 2 check passes = 8.  The minimum any IPF sweep
 *    needs (read + write once per margin) is 6; both rates are printed.
 * 4. STREAM triad (a = b + s c, 3 x 8 bytes per element, arrays of 2^24 doubles) in the same run,
 *    same threads, best of 5, as the memory-bandwidth yardstick.
 * Output: one JSON line on stdout.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <omp.h>

#include "emi_err.h"
#include "emi_ipf.h"

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double hval(uint64_t salt, uint64_t i, double lo, double hi)
{
  uint64_t z = salt * 0x9E3779B97F4A7C15ull + i + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return lo + (hi - lo) * (double)(z >> 11) * 0x1.0p-53;
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n)
{
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double stream_triad(void)
{
  const size_t n = (size_t)1 << 24;
  double *a = malloc(n * sizeof(double)), *b = malloc(n * sizeof(double)), *c = malloc(n * sizeof(double));
  if (!a || !b || !c) {
    free(a), free(b), free(c);
    return NAN;
  }
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; i++) {
    a[i] = 0;
    b[i] = 1;
    c[i] = 2;
  }
  double best = INFINITY;
  for (int r = 0; r < 5; r++) {
    double t0 = now();
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) a[i] = b[i] + 3.0 * c[i];
    best = fmin(best, now() - t0);
  }
  double chk = a[n / 2];
  free(a), free(b), free(c);
  return chk == 7.0 ? 24.0 * (double)n / best / 1e9 : NAN;
}

typedef struct {
  const char *name;
  int nm;
  emi_ipf_margin_t mg[3];
  int volumes;
  double t_sweep, t_min, t_max, t_setup;
  int iters;
  double dev;
} bcase_t;

static int run_case(bcase_t *bc, const size_t *dims, const double *seed, int reps, double *x, double *y)
{
  size_t N = dims[0] * dims[1] * dims[2];
  size_t lw = emi_ipf_work_len(3, dims, bc->nm, bc->mg);
  double *work = malloc(lw * sizeof(double));
  if (!work) return 1;
  emi_ipf_opts_t o;
  emi_ipf_opts_default(&o);
  o.total_tol_rel = 1e-12;
  emi_ipf_result_t res;
  int rc = 1;

  /* Validate: fast == ref bitwise after 3 sweeps; convergence with every margin met. */
  o.tol_rel = 1e-300;
  o.max_iter = 3;
  memcpy(x, seed, N * sizeof(double));
  memcpy(y, seed, N * sizeof(double));
  emi_err_t ex = emi_ipf_fit(3, dims, x, bc->nm, bc->mg, &o, work, lw, &res);
  emi_err_clear();
  emi_err_t ey = emi_ipf_fit_ref(3, dims, y, bc->nm, bc->mg, &o, work, lw, &res);
  emi_err_clear();
  if (ex != EMI_ERR_NOCONV || ey != EMI_ERR_NOCONV || memcmp(x, y, N * sizeof(double)) != 0) {
    fprintf(stderr, "bench_ipf: %s: emi_ipf_fit and emi_ipf_fit_ref differ (%s, %s)\n", bc->name, emi_err_name(ex),
            emi_err_name(ey));
    goto done;
  }
  emi_ipf_opts_default(&o);
  o.total_tol_rel = 1e-12;
  memcpy(x, seed, N * sizeof(double));
  if (emi_ipf_fit(3, dims, x, bc->nm, bc->mg, &o, work, lw, &res) != EMI_SUCCESS) {
    fprintf(stderr, "bench_ipf: %s: %s\n", bc->name, emi_err_message());
    goto done;
  }
  bc->iters = res.iterations;
  bc->dev = res.max_dev;

  /* Time. */
  enum { S = 10, RMAX = 64 };
  double t1[RMAX], tS[RMAX], d[RMAX];
  if (reps > RMAX) reps = RMAX;
  o.tol_rel = 1e-300;
  for (int r = 0; r < reps; r++) {
    for (int k = 0; k < 2; k++) {
      o.max_iter = k ? 1 + S : 1;
      memcpy(x, seed, N * sizeof(double));
      double t0 = now();
      emi_ipf_fit(3, dims, x, bc->nm, bc->mg, &o, work, lw, &res);
      double t = now() - t0;
      emi_err_clear();
      (k ? tS : t1)[r] = t;
    }
    d[r] = (tS[r] - t1[r]) / S;
  }
  double m1 = median(t1, reps), mS = median(tS, reps);
  bc->t_sweep = (mS - m1) / S;
  qsort(d, (size_t)reps, sizeof *d, cmp_double);
  bc->t_min = d[0];
  bc->t_max = d[reps - 1];
  bc->t_setup = m1 - bc->t_sweep;
  rc = 0;
done:
  free(work);
  return rc;
}

int main(int argc, char **argv)
{
  size_t dims[3] = {200, 200, 50};
  int reps = 7;
  if (argc >= 4)
    for (int i = 0; i < 3; i++) dims[i] = (size_t)strtoul(argv[1 + i], NULL, 10);
  if (argc >= 5) reps = atoi(argv[4]);
  if (dims[0] < 1 || dims[1] < 1 || dims[2] < 1 || reps < 1) {
    fprintf(stderr, "usage: bench_ipf [n0 n1 n2] [reps]\n");
    return 2;
  }
  const size_t n0 = dims[0], n1 = dims[1], n2 = dims[2], N = n0 * n1 * n2;
  double *seed = malloc(N * sizeof(double)), *x = malloc(N * sizeof(double)), *y = malloc(N * sizeof(double));
  double *m01 = calloc(n0 * n1, sizeof(double)), *m02 = calloc(n0 * n2, sizeof(double));
  double *m12 = calloc(n1 * n2, sizeof(double)), *m0 = calloc(n0, sizeof(double));
  double *m1 = calloc(n1, sizeof(double)), *m2 = calloc(n2, sizeof(double));
  if (!seed || !x || !y || !m01 || !m02 || !m12 || !m0 || !m1 || !m2) {
    fprintf(stderr, "bench_ipf: out of memory for a %zu x %zu x %zu table\n", n0, n1, n2);
    return 1;
  }
  for (size_t i = 0; i < n0; i++)
    for (size_t j = 0; j < n1; j++)
      for (size_t k = 0; k < n2; k++) {
        size_t c = (i * n1 + j) * n2 + k;
        double v = hval(1, c, 0.5, 100.0);
        seed[c] = v * hval(2, c, 0.2, 5.0);
        m01[i * n1 + j] += v;
        m02[i * n2 + k] += v;
        m12[j * n2 + k] += v;
        m0[i] += v;
        m1[j] += v;
        m2[k] += v;
      }
  static const int D0[] = {0}, D1[] = {1}, D2[] = {2}, D01[] = {0, 1}, D02[] = {0, 2}, D12[] = {1, 2};
  bcase_t cases[2] = {
      {"2d_margins", 3, {{2, D01, m01}, {2, D02, m02}, {2, D12, m12}}, 7, 0, 0, 0, 0, 0, 0},
      {"1d_margins", 3, {{1, D0, m0}, {1, D1, m1}, {1, D2, m2}}, 8, 0, 0, 0, 0, 0, 0},
  };
  int rc = 0;
  for (int c = 0; c < 2 && rc == 0; c++) rc = run_case(&cases[c], dims, seed, reps, x, y);
  double triad = rc == 0 ? stream_triad() : NAN;
  if (rc == 0) {
    printf("{\"bench\":\"ipf3d\",\"dims\":[%zu,%zu,%zu],\"threads\":%d,\"reps\":%d,\"compiler\":\"%s\","
           "\"stream_triad_GBs\":%.2f,\"cases\":[",
           n0, n1, n2, omp_get_max_threads(), reps, __VERSION__, triad);
    for (int c = 0; c < 2; c++) {
      const bcase_t *b = &cases[c];
      double bytes = (double)b->volumes * (double)N * 8.0, minbytes = 6.0 * (double)N * 8.0;
      printf("%s{\"margins\":\"%s\",\"iterations_to_converge\":%d,\"final_max_dev\":%.3g,"
             "\"sweep_s_median\":%.6g,\"sweep_s_min\":%.6g,\"sweep_s_max\":%.6g,\"setup_s\":%.6g,"
             "\"bytes_per_sweep\":%.0f,\"GBs\":%.2f,\"GBs_vs_triad\":%.3f,\"min_bytes_per_sweep\":%.0f,"
             "\"GBs_min_bytes\":%.2f}",
             c ? "," : "", b->name, b->iters, b->dev, b->t_sweep, b->t_min, b->t_max, b->t_setup, bytes,
             bytes / b->t_sweep / 1e9, bytes / b->t_sweep / 1e9 / triad, minbytes, minbytes / b->t_sweep / 1e9);
    }
    printf("]}\n");
  }
  free(seed), free(x), free(y), free(m01), free(m02), free(m12), free(m0), free(m1), free(m2);
  return rc;
}
