/* emi_disclose.h: disclosure control of count tables for partners (issue 7): unbiased random rounding
 * to base b (Statistics New Zealand's RR3 when b = 3) and suppression of small cells.
 *
 * Random rounding (the published definition)
 * ------------------------------------------
 * Stats NZ, "Safeguarding confidentiality" (archive.stats.govt.nz, about_us/legisln-policies-protocols/
 * confidentiality-of-info-supplied-to-snz/safeguarding-confidentiality.aspx): census count tables are
 * protected "by random rounding to base 3 (RR3) and by suppressing small counts"; counts that are already
 * a multiple of three are left unchanged, the others are rounded to one of the two adjacent multiples.
 * The probabilities, as R's poputils::rr3 and bage::set_confidential_rr3 state them (Bayesian Demography,
 * https://bayesiandemography.github.io/poputils/reference/rr3.html; their second case is misprinted
 * "remainder of 1" for 2): with
 * n mod 3 = 1, down (n - 1) with probability 2/3 and up (n + 2) with 1/3; with n mod 3 = 2, down (n - 2)
 * with 1/3 and up (n + 1) with 2/3; so the nearer multiple with probability 2/3, the farther with 1/3,
 * and E[rounded] = n.  For a general base b the same rule is: r = n mod b, up to n - r + b with
 * probability r / b, else down to n - r; E = (n - r)(1 - r/b) + (n - r + b) r/b = n (unbiased), and
 * |rounded - n| < b.
 *
 * Randomness.  Cell i (its position in the table, C order) draws one uniform u in [0, 1) (53 bits) from
 * the Philox stream (seed, purpose EMI_DISCLOSE_PURPOSE, entity i, step 0) and goes up when u < r / b.
 * The result depends only on (seed, i, n, b): the same table and seed give the same rounding in any
 * order, on any thread.  (P(up) differs from r / b by at most 2^-53, the resolution of u.)
 *
 * Suppression.  A cell whose UNROUNDED count is below `suppress_below` is not published: its output is
 * EMI_DISCLOSE_SUPPRESSED (-1, never a count; writers show it as a marker, `S` in emflow's CSV) and it
 * draws no rounding.  suppress_below = 0 suppresses nothing.  Suppression is primary only: a suppressed
 * cell that can be recovered from published margins (a total minus the other cells) is not looked for
 * here; publish tables without their margins, or margins rounded independently.
 *
 * Input.  Counts are integers 0 <= n <= EMI_DISCLOSE_COUNT_MAX (2^53: exact as doubles, and n + b cannot
 * overflow).  A negative count is EMI_ERR_INPUT and *bad is its index (the caller names the cell by its
 * labels); emi_disclose_counts_from_real converts doubles and refuses a non-integer, a NaN or infinity,
 * a negative or a too large value the same way.
 *
 * Pure: no I/O, no MPI, no allocation.  emi_disclose_apply runs OpenMP over fixed blocks of cells;
 * emi_disclose_apply_ref is its plain serial twin (tests/unit/test_disclose.c holds them equal).
 */
#ifndef EMI_DISCLOSE_H
#define EMI_DISCLOSE_H

#include <stddef.h>
#include <stdint.h>

#include "emi_err.h"

#define EMI_DISCLOSE_SUPPRESSED INT64_C(-1)          /* output of a suppressed cell */
#define EMI_DISCLOSE_COUNT_MAX (INT64_C(1) << 53)     /* largest count accepted */
#define EMI_DISCLOSE_BASE_MAX INT64_C(1000000)        /* largest rounding base */
#define EMI_DISCLOSE_PURPOSE 0x0701u                  /* Philox stream purpose of the rounding draws */

typedef struct {
  int64_t base;           /* rounding base b >= 2 (3: RR3) */
  uint64_t seed;          /* Philox key */
  int64_t suppress_below; /* cells with count < this are suppressed (0: none) */
} emi_disclose_t;

typedef struct {
  size_t cells;      /* cells processed */
  size_t suppressed; /* cells below suppress_below */
  size_t unchanged;  /* published cells already a multiple of b */
  size_t up, down;   /* published cells rounded up / down */
} emi_disclose_stats_t;

/* Round and suppress n counts: out[i] = the published value of cell i, or EMI_DISCLOSE_SUPPRESSED.
 * st (may be NULL) receives the tallies.  EMI_ERR_ARG for a base outside [2, EMI_DISCLOSE_BASE_MAX], a
 * negative threshold or NULL arrays (n > 0); EMI_ERR_INPUT for a count outside [0, EMI_DISCLOSE_COUNT_MAX]
 * with *bad (may be NULL) = the first such index (out is then unspecified).  out must not alias count. */
emi_err_t emi_disclose_apply(const emi_disclose_t *p, size_t n, const int64_t *restrict count,
                             int64_t *restrict out, emi_disclose_stats_t *st, size_t *bad);
/* Reference twin: a plain loop, one stream per cell, the definition above literally. */
emi_err_t emi_disclose_apply_ref(const emi_disclose_t *p, size_t n, const int64_t *restrict count,
                                 int64_t *restrict out, emi_disclose_stats_t *st, size_t *bad);

/* The published value of one count (the definition, for one cell i); EMI_DISCLOSE_SUPPRESSED below the
 * threshold.  No checks beyond 0 <= count (the callers validate p). */
int64_t emi_disclose_cell(const emi_disclose_t *p, uint64_t i, int64_t count);

/* Counts from doubles: count[i] = v[i] when v[i] is an integer in [0, EMI_DISCLOSE_COUNT_MAX];
 * otherwise EMI_ERR_INPUT ("cell i: value ... is not a non-negative integer count") with *bad = i. */
emi_err_t emi_disclose_counts_from_real(size_t n, const double *restrict v, int64_t *restrict count, size_t *bad);

#endif /* EMI_DISCLOSE_H */
