/* emi_sort.c: see emi_sort.h. */
#include "emi_sort.h"

#include <stdlib.h>
#include <string.h>

static inline unsigned digit_of(const emi_sort_item_t *it, int pass)
{
  /* passes 0..7: bytes of k1 (least significant first), 8..15: bytes of k0 */
  uint64_t w = pass < 8 ? it->k1 : it->k0;
  return (unsigned)(w >> (8 * (pass & 7))) & 0xffu;
}

emi_err_t emi_sort_items(size_t n, emi_sort_item_t *restrict items, emi_sort_item_t *restrict tmp,
                         size_t *restrict hist)
{
  if (n < 2) return EMI_SUCCESS;
  if (!items || !tmp || !hist) return EMI_ERROR(EMI_ERR_ARG, "emi_sort_items: NULL buffer for %zu items", n);
  const size_t nb = (n + EMI_SORT_BLOCK - 1) / EMI_SORT_BLOCK;
  size_t *total = hist + nb * EMI_SORT_RADIX; /* the extra row */
  emi_sort_item_t *src = items, *dst = tmp;
  for (int pass = 0; pass < 16; pass++) {
    const int nblk = (int)nb;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < nblk; b++) {
      size_t *h = hist + (size_t)b * EMI_SORT_RADIX;
      memset(h, 0, EMI_SORT_RADIX * sizeof *h);
      size_t lo = (size_t)b * EMI_SORT_BLOCK, hi = lo + EMI_SORT_BLOCK < n ? lo + EMI_SORT_BLOCK : n;
      for (size_t i = lo; i < hi; i++) h[digit_of(&src[i], pass)]++;
    }
    memset(total, 0, EMI_SORT_RADIX * sizeof *total);
    for (size_t b = 0; b < nb; b++)
      for (int d = 0; d < EMI_SORT_RADIX; d++) total[d] += hist[b * EMI_SORT_RADIX + (size_t)d];
    if (total[digit_of(&src[0], pass)] == n) continue; /* the same digit everywhere: nothing moves */
    /* slots: digit-major, then block order (stability) */
    size_t run = 0;
    for (int d = 0; d < EMI_SORT_RADIX; d++)
      for (size_t b = 0; b < nb; b++) {
        size_t c = hist[b * EMI_SORT_RADIX + (size_t)d];
        hist[b * EMI_SORT_RADIX + (size_t)d] = run;
        run += c;
      }
#pragma omp parallel for schedule(static)
    for (int b = 0; b < nblk; b++) {
      size_t *h = hist + (size_t)b * EMI_SORT_RADIX;
      size_t lo = (size_t)b * EMI_SORT_BLOCK, hi = lo + EMI_SORT_BLOCK < n ? lo + EMI_SORT_BLOCK : n;
      for (size_t i = lo; i < hi; i++) dst[h[digit_of(&src[i], pass)]++] = src[i];
    }
    emi_sort_item_t *t = src;
    src = dst;
    dst = t;
  }
  if (src != items) memcpy(items, src, n * sizeof *items);
  return EMI_SUCCESS;
}

/* Stable LSD sort of items[0..n) by one word (0: k0, 1: k1), on this thread; the result in items. */
static void lsd_word(size_t n, emi_sort_item_t *restrict items, emi_sort_item_t *restrict tmp, size_t *restrict hist,
                     int word)
{
  memset(hist, 0, EMI_SORT_SERIAL_HIST_LEN * sizeof *hist);
  for (size_t i = 0; i < n; i++) { /* all eight histograms in one pass */
    const uint64_t w = word ? items[i].k1 : items[i].k0;
    for (int d = 0; d < 8; d++) hist[(size_t)d * EMI_SORT_RADIX + ((w >> (8 * d)) & 0xffu)]++;
  }
  const uint64_t w0 = word ? items[0].k1 : items[0].k0;
  emi_sort_item_t *src = items, *dst = tmp;
  for (int d = 0; d < 8; d++) {
    size_t *h = hist + (size_t)d * EMI_SORT_RADIX;
    if (h[(w0 >> (8 * d)) & 0xffu] == n) continue; /* the same digit everywhere: nothing moves */
    size_t run = 0;
    for (int v = 0; v < EMI_SORT_RADIX; v++) {
      size_t c = h[v];
      h[v] = run;
      run += c;
    }
    if (word)
      for (size_t i = 0; i < n; i++) dst[h[(src[i].k1 >> (8 * d)) & 0xffu]++] = src[i];
    else
      for (size_t i = 0; i < n; i++) dst[h[(src[i].k0 >> (8 * d)) & 0xffu]++] = src[i];
    emi_sort_item_t *t = src;
    src = dst;
    dst = t;
  }
  if (src != items) memcpy(items, src, n * sizeof *items);
}

emi_err_t emi_sort_items_serial(size_t n, emi_sort_item_t *restrict items, emi_sort_item_t *restrict tmp,
                                size_t *restrict hist)
{
  if (n < 2) return EMI_SUCCESS;
  if (!items || !tmp || !hist) return EMI_ERROR(EMI_ERR_ARG, "emi_sort_items_serial: NULL buffer for %zu items", n);
  lsd_word(n, items, tmp, hist, 0);
  for (size_t a = 0; a < n;) { /* each run of equal k0 into k1 order, stably */
    size_t b = a + 1;
    while (b < n && items[b].k0 == items[a].k0) b++;
    if (b - a > EMI_SORT_RUN_MAX) {
      lsd_word(b - a, items + a, tmp, hist, 1);
    } else {
      for (size_t i = a + 1; i < b; i++) {
        const emi_sort_item_t x = items[i];
        size_t j = i;
        while (j > a && items[j - 1].k1 > x.k1) items[j] = items[j - 1], j--;
        items[j] = x;
      }
    }
    a = b;
  }
  return EMI_SUCCESS;
}

static int cmp_ref(const void *a, const void *b)
{
  const emi_sort_item_t *x = a, *y = b;
  if (x->k0 != y->k0) return x->k0 < y->k0 ? -1 : 1;
  if (x->k1 != y->k1) return x->k1 < y->k1 ? -1 : 1;
  if (x->v != y->v) return x->v < y->v ? -1 : 1; /* v holds the input position here */
  return 0;
}

emi_err_t emi_sort_items_ref(size_t n, emi_sort_item_t *items, emi_sort_item_t *tmp)
{
  if (n < 2) return EMI_SUCCESS;
  if (!items || !tmp) return EMI_ERROR(EMI_ERR_ARG, "emi_sort_items_ref: NULL buffer for %zu items", n);
  memcpy(tmp, items, n * sizeof *items);
  for (size_t i = 0; i < n; i++) items[i].v = (uint64_t)i;
  qsort(items, n, sizeof *items, cmp_ref);
  for (size_t j = 0; j < n; j++) items[j].v = tmp[items[j].v].v;
  return EMI_SUCCESS;
}
