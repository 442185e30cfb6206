/* bench_stream: STREAM triad (McCalpin) memory bandwidth, the yardstick for bandwidth-bound kernels.
 *
 *   a[i] = b[i] + s * c[i]     bytes moved per element: 24 (two reads, one write; no write-allocate
 *                              counted, as in STREAM's own convention)
 *
 * Arrays of --mib MiB each (default 256, far beyond any cache here), first-touched in parallel with
 * the same static schedule as the timed loop.  Validates the result (every a[i] equals the exact
 * value), then reports the best, median and worst of --reps repetitions as one JSON line:
 *   {"bench":"stream_triad","threads":2,"mib_per_array":256,"best_gbs":...,"median_gbs":...,...}
 * Usage: bench_stream [--mib N] [--reps R]
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *x, const void *y)
{
  double a = *(const double *)x, b = *(const double *)y;
  return (a > b) - (a < b);
}

int main(int argc, char **argv)
{
  long mib = 256;
  int reps = 10;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--mib") && i + 1 < argc) mib = atol(argv[++i]);
    else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
    else {
      fprintf(stderr, "usage: bench_stream [--mib N] [--reps R]\n");
      return 2;
    }
  }
  if (mib < 1 || reps < 1 || reps > 1000) {
    fprintf(stderr, "bench_stream: --mib must be >= 1 and --reps in [1, 1000]\n");
    return 2;
  }
  size_t n = (size_t)mib * 1024 * 1024 / sizeof(double);
  double *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c);
  double *t = malloc((size_t)reps * sizeof *t);
  if (!a || !b || !c || !t) {
    fprintf(stderr, "bench_stream: cannot allocate 3 x %ld MiB\n", mib);
    return 1;
  }
  const double s = 3.0;
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; i++) {
    a[i] = 0.0;
    b[i] = 1.0;
    c[i] = 2.0;
  }
  for (int r = 0; r < reps; r++) {
    double t0 = now_s();
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) a[i] = b[i] + s * c[i];
    t[r] = now_s() - t0;
  }
  /* validate: 1 + 3 * 2 = 7 exactly */
  size_t bad = 0;
#pragma omp parallel for schedule(static) reduction(+ : bad)
  for (size_t i = 0; i < n; i++) bad += a[i] != 7.0;
  if (bad) {
    fprintf(stderr, "bench_stream: validation failed: %zu elements differ from 7\n", bad);
    return 1;
  }
  qsort(t, (size_t)reps, sizeof *t, cmp_double);
  double bytes = 24.0 * (double)n;
  printf("{\"bench\":\"stream_triad\",\"threads\":%d,\"mib_per_array\":%ld,\"reps\":%d,"
         "\"best_gbs\":%.3f,\"median_gbs\":%.3f,\"worst_gbs\":%.3f,\"median_s\":%.6f}\n",
         omp_get_max_threads(), mib, reps, bytes / t[0] / 1e9, bytes / t[reps / 2] / 1e9,
         bytes / t[reps - 1] / 1e9, t[reps / 2]);
  free(a);
  free(b);
  free(c);
  free(t);
  return 0;
}
