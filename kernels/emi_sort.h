/* emi_sort.h: stable LSD radix sort of 128-bit keys with a 64-bit payload (the linkage sort).
 *
 * An item is (k0, k1, v).  Items are ordered by k0, then k1 (both unsigned); items with equal keys
 * keep their input order (stable), so the order is total once the input order is fixed.  The
 * linkage puts the hashed person key in k0 and (day, second, direction) in k1 (emi_linkage.h), so
 * one sort groups the records by person and orders each person's records in time.
 *
 * emi_sort_items: LSD radix sort, 8-bit digits, least significant first; digits that are the same in
 * every item are skipped (a person key spreads over 8 digits, the day over 2, the second over 3).
 * Each pass counts digits per fixed block of EMI_SORT_BLOCK items (OpenMP over blocks), prefix-sums
 * the counts in (digit, block) order, and scatters each block to its slots (OpenMP over blocks).  The
 * blocks do not depend on the number of threads, and every item's destination is a function of the
 * counts only, so the result is the same bytes for any OMP_NUM_THREADS.
 *
 * emi_sort_items_serial: the same order on the calling thread, for callers that run one sort per
 * thread (the linkage sorts its rounds so, engine/emi_linkage.h).  One counting pass makes the
 * histograms of all eight digits of k0 at once (no per-block counts are needed on one thread), one
 * scatter pass per digit of k0 that is not the same in every item, then every run of equal k0 is put
 * in k1 order: insertion sort (stable) for runs up to EMI_SORT_RUN_MAX items -- a person's records --
 * and the same LSD passes on k1 for longer runs.  A stable sort by k0 followed by a stable sort of each
 * run by k1 is the stable sort by (k0, k1): the result is the same bytes as emi_sort_items.  About 9
 * passes over the items instead of 16 counting + 13 scatter passes.
 *
 * emi_sort_items_ref: the plain twin: qsort with the same total order (k0, k1, input position).
 *
 * Pure: no I/O, no allocation (the caller gives tmp and hist), no globals.
 */
#ifndef EMI_SORT_H
#define EMI_SORT_H

#include <stddef.h>
#include <stdint.h>

#include "emi_err.h"

typedef struct {
  uint64_t k0, k1; /* key: k0 most significant */
  uint64_t v;      /* payload, carried along */
} emi_sort_item_t;

#define EMI_SORT_BLOCK ((size_t)1 << 16) /* items per counting block */
#define EMI_SORT_RADIX 256
/* Length (in size_t) of the hist buffer emi_sort_items needs for n items. */
#define EMI_SORT_HIST_LEN(n) ((((size_t)(n) + EMI_SORT_BLOCK - 1) / EMI_SORT_BLOCK + 1) * (size_t)EMI_SORT_RADIX)

/* Sort items[0..n) in place (stable, by k0 then k1).  tmp: n items of scratch; hist: EMI_SORT_HIST_LEN(n)
 * size_t of scratch.  EMI_ERR_ARG for NULL buffers with n > 0. */
emi_err_t emi_sort_items(size_t n, emi_sort_item_t *restrict items, emi_sort_item_t *restrict tmp,
                         size_t *restrict hist);

#define EMI_SORT_RUN_MAX 32 /* runs of equal k0 up to this length: insertion sort by k1 */
/* Length (in size_t) of the hist buffer emi_sort_items_serial needs (any n). */
#define EMI_SORT_SERIAL_HIST_LEN ((size_t)8 * EMI_SORT_RADIX)

/* Sort items[0..n) in place on the calling thread (stable, by k0 then k1; the same result as
 * emi_sort_items).  tmp: n items of scratch; hist: EMI_SORT_SERIAL_HIST_LEN size_t of scratch.
 * EMI_ERR_ARG for NULL buffers with n > 0. */
emi_err_t emi_sort_items_serial(size_t n, emi_sort_item_t *restrict items, emi_sort_item_t *restrict tmp,
                                size_t *restrict hist);

/* Reference: the same order by qsort on (k0, k1, input position); tmp: n items of scratch (positions
 * are kept in tmp[i].v while sorting). */
emi_err_t emi_sort_items_ref(size_t n, emi_sort_item_t *items, emi_sort_item_t *tmp);

#endif /* EMI_SORT_H */
