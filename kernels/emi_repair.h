/* emi_repair.h: repair of one person's crossing sequence before the 12/16 rule (issue 4).
 *
 * Input: the person's n crossings in time order (day non-decreasing; within a day, second
 * non-decreasing, -1 = date only first), directions EMI_DIR_IN / EMI_DIR_OUT (emi_rule1216.h).
 * Walking the sequence, each crossing is compared with the last one KEPT:
 *
 *   - same direction, and both have a time and are at most dup_tol_s seconds apart (across midnight
 *     too), or one of them has no time and they are on the same day: a DUPLICATE of the same passage;
 *     it is merged into the kept one (dropped) and counted (EMI_REPAIR_DUPLICATE);
 *   - same direction otherwise: a crossing between them was missed; one of the other direction is
 *     imputed (two entries in a row: a missed exit, EMI_REPAIR_MISSED_EXIT; two exits: a missed entry,
 *     EMI_REPAIR_MISSED_ENTRY) on the day
 *        EMI_REPAIR_MIDPOINT  floor((d1 + d2) / 2)   (default)
 *        EMI_REPAIR_EARLY     d1 (just after the first)
 *        EMI_REPAIR_LATE      d2 (just before the second)
 *     without a time (second -1), placed between the two in the output;
 *   - otherwise the crossing is kept.
 * So the output alternates in direction.  Impossible dates are rejected at ingest (emi_linkage.h),
 * not here.
 *
 * Pure: no I/O, no allocation, no globals.
 */
#ifndef EMI_REPAIR_H
#define EMI_REPAIR_H

#include <stddef.h>
#include <stdint.h>

#include "emi_err.h"

enum { EMI_REPAIR_DUPLICATE, EMI_REPAIR_MISSED_EXIT, EMI_REPAIR_MISSED_ENTRY, EMI_NREPAIRS };
extern const char *const emi_repair_names[EMI_NREPAIRS];

enum { EMI_REPAIR_MIDPOINT, EMI_REPAIR_EARLY, EMI_REPAIR_LATE };

typedef struct {
  int32_t dup_tol_s; /* duplicates: same direction at most this many seconds apart (default 600) */
  int impute;        /* EMI_REPAIR_MIDPOINT | EARLY | LATE */
} emi_repair_params_t;

/* Repair day/sec/dir[0..n) into oday/osec/odir/osrc (capacity 2n - 1 each; *nout <= 2n - 1).
 * osrc[j] = index of the input crossing output j is (>= 0), or -(1 + i) for a crossing imputed
 * right after the kept input crossing i.  counts[k] += repairs of kind k.  EMI_ERR_ARG for a
 * sequence out of time order or a direction other than IN/OUT. */
emi_err_t emi_repair_sequence(const emi_repair_params_t *p, size_t n, const int32_t *restrict day,
                              const int32_t *restrict sec, const uint8_t *restrict dir, size_t *nout,
                              int32_t *restrict oday, int32_t *restrict osec, uint8_t *restrict odir,
                              int32_t *restrict osrc, int64_t counts[EMI_NREPAIRS]);

#endif /* EMI_REPAIR_H */
