/* emi_disclose.c: random rounding to base b and small-cell suppression (emi_disclose.h). */
#include "emi_disclose.h"

#include <math.h>

#include "emi_philox.h"

#define BLOCK 4096 /* cells per OpenMP block (fixed: the result does not depend on it anyway) */

static emi_err_t check_params(const emi_disclose_t *p, size_t n, const int64_t *count, const int64_t *out)
{
  if (!p) return EMI_ERROR(EMI_ERR_ARG, "disclose: no parameters");
  if (p->base < 2 || p->base > EMI_DISCLOSE_BASE_MAX)
    return EMI_ERROR(EMI_ERR_ARG, "disclose: rounding base %lld: expected an integer in [2, %lld]", (long long)p->base,
                     (long long)EMI_DISCLOSE_BASE_MAX);
  if (p->suppress_below < 0)
    return EMI_ERROR(EMI_ERR_ARG, "disclose: suppression threshold %lld: expected >= 0", (long long)p->suppress_below);
  if (n > 0 && (!count || !out)) return EMI_ERROR(EMI_ERR_ARG, "disclose: NULL count or output array");
  if ((uint64_t)n > EMI_STREAM_ENTITY_MAX + UINT64_C(1))
    return EMI_ERROR(EMI_ERR_ARG, "disclose: %zu cells: at most 2^48 (one Philox stream per cell)", n);
  return EMI_SUCCESS;
}

static emi_err_t bad_count(size_t i, int64_t c, size_t *bad)
{
  if (bad) *bad = i;
  return EMI_ERROR(EMI_ERR_INPUT, "disclose: cell %zu: count %lld: expected a non-negative integer count <= 2^53", i,
                   (long long)c);
}

int64_t emi_disclose_cell(const emi_disclose_t *p, uint64_t i, int64_t count)
{
  if (count < p->suppress_below) return EMI_DISCLOSE_SUPPRESSED;
  int64_t r = count % p->base, lo = count - r;
  if (r == 0) return count;
  emi_stream_t st;
  emi_stream_init(&st, p->seed, EMI_DISCLOSE_PURPOSE, i, 0); /* i < 2^48 checked by the callers */
  double u = emi_uniform_01(&st);
  return u < (double)r / (double)p->base ? lo + p->base : lo;
}

static void tally(emi_disclose_stats_t *s, int64_t in, int64_t out)
{
  if (out == EMI_DISCLOSE_SUPPRESSED) s->suppressed++;
  else if (out == in) s->unchanged++;
  else if (out > in) s->up++;
  else s->down++;
}

emi_err_t emi_disclose_apply_ref(const emi_disclose_t *p, size_t n, const int64_t *restrict count,
                                 int64_t *restrict out, emi_disclose_stats_t *st, size_t *bad)
{
  EMI_CALL(check_params(p, n, count, out));
  emi_disclose_stats_t s = {.cells = n};
  for (size_t i = 0; i < n; i++) {
    if (count[i] < 0 || count[i] > EMI_DISCLOSE_COUNT_MAX) return bad_count(i, count[i], bad);
    out[i] = emi_disclose_cell(p, (uint64_t)i, count[i]);
    tally(&s, count[i], out[i]);
  }
  if (st) *st = s;
  return EMI_SUCCESS;
}

emi_err_t emi_disclose_apply(const emi_disclose_t *p, size_t n, const int64_t *restrict count,
                             int64_t *restrict out, emi_disclose_stats_t *st, size_t *bad)
{
  EMI_CALL(check_params(p, n, count, out));
  /* validate first (serially, so that the error names the FIRST bad cell), then round in blocks */
  for (size_t i = 0; i < n; i++)
    if (count[i] < 0 || count[i] > EMI_DISCLOSE_COUNT_MAX) return bad_count(i, count[i], bad);
  size_t nb = (n + BLOCK - 1) / BLOCK, sup = 0, unch = 0, up = 0, down = 0;
  const int64_t base = p->base, thr = p->suppress_below;
  const uint64_t seed = p->seed;
#pragma omp parallel for schedule(static) reduction(+ : sup, unch, up, down) if (nb > 1)
  for (size_t b = 0; b < nb; b++) {
    size_t i1 = (b + 1) * BLOCK < n ? (b + 1) * BLOCK : n;
    for (size_t i = b * BLOCK; i < i1; i++) {
      int64_t c = count[i], r = c % base;
      if (c < thr) {
        out[i] = EMI_DISCLOSE_SUPPRESSED, sup++;
      } else if (r == 0) {
        out[i] = c, unch++;
      } else {
        emi_stream_t s;
        emi_stream_init(&s, seed, EMI_DISCLOSE_PURPOSE, (uint64_t)i, 0);
        int goes_up = emi_uniform_01(&s) < (double)r / (double)base;
        out[i] = c - r + (goes_up ? base : 0);
        up += (size_t)goes_up, down += (size_t)!goes_up;
      }
    }
  }
  if (st) *st = (emi_disclose_stats_t){.cells = n, .suppressed = sup, .unchanged = unch, .up = up, .down = down};
  return EMI_SUCCESS;
}

emi_err_t emi_disclose_counts_from_real(size_t n, const double *restrict v, int64_t *restrict count, size_t *bad)
{
  if (n > 0 && (!v || !count)) return EMI_ERROR(EMI_ERR_ARG, "disclose: NULL value or count array");
  for (size_t i = 0; i < n; i++) {
    double x = v[i];
    if (!(x >= 0.0 && x <= (double)EMI_DISCLOSE_COUNT_MAX) || x != floor(x)) {
      if (bad) *bad = i;
      return EMI_ERROR(EMI_ERR_INPUT, "disclose: cell %zu: value %.17g: expected a non-negative integer count <= 2^53", i,
                       x);
    }
    count[i] = (int64_t)x;
  }
  return EMI_SUCCESS;
}
