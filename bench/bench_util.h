/* bench_util.h: small helpers shared by the bench_*.c programs (header only, all static inline).
 *
 *   bu_now()           monotonic clock (CLOCK_MONOTONIC), seconds
 *   bu_hval()          stateless hash of (salt, i) to a double in [lo, hi) (splitmix64 finaliser)
 *   bu_median()        median of n doubles (sorts them), bu_sort() ascending sort
 *   bu_maxrss_kb()     peak resident set size of this process so far (getrusage), KiB
 *   bu_jnum()          a double as a JSON number, or null when NaN/Inf
 *   bu_export_*()      data exchange with the numpy peers: raw float64 little-endian arrays in
 *                      PREFIX.bin, described by PREFIX.json:
 *     {"format":"emflow-bench-f64le-1","bin":"NAME.bin","meta":{...},
 *      "arrays":{"seed":{"offset":0,"shape":[200,200,50]}, ...}}
 *   offsets are in bytes from the start of the .bin file; arrays are C order (row-major).
 *   bench/peers/benchdata.py reads this format.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static inline double bu_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline double bu_hval(uint64_t salt, uint64_t i, double lo, double hi)
{
  uint64_t z = salt * 0x9E3779B97F4A7C15ull + i + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return lo + (hi - lo) * (double)(z >> 11) * 0x1.0p-53;
}

static inline int bu_cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static inline void bu_sort(double *v, int n) { qsort(v, (size_t)n, sizeof *v, bu_cmp_double); }

static inline double bu_median(double *v, int n)
{
  bu_sort(v, n);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* A double as a JSON number with printf format fmt, or null when it is not finite. */
static inline const char *bu_jnum(char *buf, size_t len, const char *fmt, double v)
{
  if (v - v != 0) snprintf(buf, len, "null"); /* NaN or Inf */
  else snprintf(buf, len, fmt, v);
  return buf;
}

static inline long bu_maxrss_kb(void)
{
  struct rusage ru;
  return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

/* ------------------------------------------------------------------ export for the peers */

typedef struct {
  FILE *bin;
  char *json_path;
  char *bin_name; /* basename of the .bin file, as recorded in the header */
  char *meta;     /* the "meta" object's members, comma-separated JSON */
  char *arrays;   /* the "arrays" object's members */
  size_t off;
  int err;
} bu_export_t;

static inline int bu_little_endian(void)
{
  const uint16_t one = 1;
  unsigned char c;
  memcpy(&c, &one, 1);
  return c == 1;
}

/* Append printf-formatted text to a malloc'ed string (*s may be NULL). */
static inline void bu_appendf(char **s, int *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static inline void bu_appendf(char **s, int *err, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  size_t old = *s ? strlen(*s) : 0;
  char *p = n < 0 ? NULL : realloc(*s, old + (size_t)n + 1);
  if (!p) {
    *err = 1;
    return;
  }
  va_start(ap, fmt);
  vsnprintf(p + old, (size_t)n + 1, fmt, ap);
  va_end(ap);
  *s = p;
}

/* Open PREFIX.bin for writing; PREFIX.json is written by bu_export_close.  0 on success. */
static inline int bu_export_open(bu_export_t *e, const char *prefix)
{
  memset(e, 0, sizeof *e);
  if (!bu_little_endian()) {
    fprintf(stderr, "bench: export needs a little-endian machine (the format is float64 little-endian)\n");
    return 1;
  }
  char *bin_path = NULL;
  bu_appendf(&bin_path, &e->err, "%s.bin", prefix);
  bu_appendf(&e->json_path, &e->err, "%s.json", prefix);
  const char *slash = strrchr(prefix, '/');
  bu_appendf(&e->bin_name, &e->err, "%s.bin", slash ? slash + 1 : prefix);
  if (e->err) {
    free(bin_path);
    return 1;
  }
  e->bin = fopen(bin_path, "wb");
  if (!e->bin) {
    perror(bin_path);
    free(bin_path);
    e->err = 1;
    return 1;
  }
  free(bin_path);
  return 0;
}

/* Add a meta member: key and an already-formatted JSON value. */
static inline void bu_export_meta(bu_export_t *e, const char *key, const char *json_value)
{
  bu_appendf(&e->meta, &e->err, "%s\"%s\":%s", e->meta ? "," : "", key, json_value);
}

static inline void bu_export_array(bu_export_t *e, const char *name, const double *a, int ndim, const size_t *shape)
{
  size_t cnt = 1;
  for (int i = 0; i < ndim; i++) cnt *= shape[i];
  if (e->err || !e->bin) return;
  if (fwrite(a, sizeof(double), cnt, e->bin) != cnt) {
    perror("bench: export");
    e->err = 1;
    return;
  }
  bu_appendf(&e->arrays, &e->err, "%s\"%s\":{\"offset\":%zu,\"shape\":[", e->arrays ? "," : "", name, e->off);
  for (int i = 0; i < ndim; i++) bu_appendf(&e->arrays, &e->err, "%s%zu", i ? "," : "", shape[i]);
  bu_appendf(&e->arrays, &e->err, "]}");
  e->off += cnt * sizeof(double);
}

/* Close the .bin, write the .json header, free everything.  0 on success. */
static inline int bu_export_close(bu_export_t *e)
{
  int err = e->err;
  if (e->bin && fclose(e->bin) != 0) err = 1;
  if (!err) {
    FILE *f = fopen(e->json_path, "w");
    if (!f) {
      perror(e->json_path);
      err = 1;
    } else {
      fprintf(f, "{\"format\":\"emflow-bench-f64le-1\",\"bin\":\"%s\",\"meta\":{%s},\"arrays\":{%s}}\n", e->bin_name,
              e->meta ? e->meta : "", e->arrays ? e->arrays : "");
      if (fclose(f) != 0) err = 1;
    }
  }
  if (err) fprintf(stderr, "bench: writing the export %s failed\n", e->json_path ? e->json_path : "(unnamed)");
  free(e->json_path);
  free(e->bin_name);
  free(e->meta);
  free(e->arrays);
  memset(e, 0, sizeof *e);
  return err;
}

/* STREAM triad a = b + 3 c over 3 arrays of 2^24 doubles (128 MiB each: beyond the caches), 10 times at the
 * current OpenMP thread count, checked (every a = 7); best and median GB/s at 24 bytes per element, or NaN
 * when the arrays cannot be allocated or the check fails.  The yardstick bench_ipf and bench_gls measure in
 * their own process, next to their timings. */
static inline void bu_stream_triad(double *best_gbs, double *median_gbs)
{
  enum { R = 10 };
  const size_t n = (size_t)1 << 24;
  double *a = malloc(n * sizeof(double)), *b = malloc(n * sizeof(double)), *c = malloc(n * sizeof(double));
  *best_gbs = *median_gbs = NAN;
  if (!a || !b || !c) {
    free(a), free(b), free(c);
    return;
  }
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; i++) {
    a[i] = 0;
    b[i] = 1;
    c[i] = 2;
  }
  double t[R];
  for (int r = 0; r < R; r++) {
    double t0 = bu_now();
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) a[i] = b[i] + 3.0 * c[i];
    t[r] = bu_now() - t0;
  }
  size_t bad = 0;
#pragma omp parallel for schedule(static) reduction(+ : bad)
  for (size_t i = 0; i < n; i++) bad += a[i] != 7.0;
  free(a), free(b), free(c);
  if (bad) return;
  double med = bu_median(t, R);
  *best_gbs = 24.0 * (double)n / t[0] / 1e9;
  *median_gbs = 24.0 * (double)n / med / 1e9;
}

#endif /* BENCH_UTIL_H */
