/* emi_ipf.h: iterative proportional fitting (IPF / RAS) of an N-D table to margins.
 *
 * A table of `ndim` dimensions (row-major, sizes dims[0..ndim-1], last index fastest) is scaled,
 * margin after margin, so that its sums over each margin's dimensions match that margin's targets
 * (Deming & Stephan 1940; migest's ipf2/ipf3 and mipfp's Ipfp for 2-D, 3-D and N-D).
 * A margin is bound to a subset of the table's dimensions by index: {0} is the row totals of a
 * 2-D table, {1} its column totals, {0,2} a 2-D margin of a 3-D table.  The margin's values are
 * row-major over its dimensions *in the order listed* (dims {2,0} means index = i2 * d0 + i0).
 *
 * Algorithm, one iteration = one sweep over the margins in the order given:
 *   for each margin k:  s = sums of the table over the cells of each margin cell,
 *                       f = t / s  (0 where s == 0: a zero target gives a zero slice, never NaN),
 *                       x[c] *= f[margin cell of c].
 * After each sweep the sums of *every* margin are recomputed on the final table and the largest
 * absolute deviation |s - t| over all margins and cells decides convergence:
 *   converged  <=>  max_dev <= max(tol_abs, tol_rel * total),  total = common grand total of the targets.
 * The first iteration checks the seed first: a seed that already fits (max_dev within the
 * tolerance) comes back bit-for-bit unchanged with iterations == 1 and no sweep (a sweep would move
 * cells by rounding when the sums are not exactly the targets).  The fast kernel takes these sums
 * in the pass that sums margin 0 for the first sweep, so the check costs no extra pass.
 *
 * Checked before iterating (nothing is modified on these errors; the message names the margin by
 * index and dimensions, the cell by its multi-index, and the amount):
 *   EMI_ERR_ARG          bad sizes or margin dimensions (out of range, repeated), ndim / number of
 *                        margins above EMI_IPF_MAX_DIM / EMI_IPF_MAX_MARGINS, workspace too small;
 *   EMI_ERR_DOMAIN       NaN, Inf or a negative value in the seed or in a margin;
 *   EMI_ERR_INCONSISTENT margin grand totals that differ by more than total_tol_rel (relative) when
 *                        rescale == EMI_IPF_RESCALE_ERROR; or two margins sharing dimensions whose
 *                        sums over those shared dimensions disagree (no rescaling can fix that);
 *   EMI_ERR_INFEASIBLE   a positive target whose seed support is all zero, where the support of a
 *                        margin cell is its seed cells that are positive and not forced to zero by a
 *                        zero target of another margin.  (This catches every infeasibility that a
 *                        zero pattern alone makes visible cell by cell; subtler infeasible zero
 *                        patterns show up as EMI_ERR_NOCONV.)
 * Iterating:
 *   EMI_ERR_NOCONV       max_iter sweeps did not reach the tolerance.  This is an error code, but the
 *                        table holds the last iterate and *res is filled in (converged = 0, the final
 *                        deviation and where it is), so a caller can report or accept it knowingly.
 *
 * Summation order (both kernels; it fixes every bit).  The table is cut along dimension 0 into nb
 * fixed blocks of consecutive slabs (a slab: one index along dimension 0), nb a power of two, at most
 * 16 and dims[0], and at most ncell / (32 * G) where G is the total size of the margins that do not
 * contain dimension 0 (a function of the sizes and margins only).  A row is a run of cells along the
 * last dimension.  For margin k and margin cell m,
 *     s_k[m] = ((P_0[m] + P_1[m]) + P_2[m]) + ... + P_{nb-1}[m],
 * where P_b[m] starts at 0.0 and takes, row by row in row-major order over the rows of block b, the
 * row's contribution to m: when margin k contains the last dimension, the row's cell under m (one
 * per row); otherwise the row's 4-lane sum: lane w = 0..3 adds the row's cells w, w + 4, w + 8, ...
 * in order, and the row gives (l0 + l2) + (l1 + l3).  For a margin that contains dimension 0 every
 * margin cell lies in one block, so the blocks change nothing for it.  The lanes let a row sum run
 * as 4 independent additions (SIMD) instead of one chain; the blocks let threads sum margins that
 * do not contain dimension 0 without sharing an accumulator.
 *
 * Reproducibility.  emi_ipf_fit's threads own whole blocks (OpenMP static schedule over the nb
 * blocks); partial sums are combined in block order as above, and the scaling is elementwise (the
 * products of a cell's factors are taken in margin order, as the reference's in-place updates).  So
 * the result is bitwise identical for any number of threads, for the SSE2 and the AVX2 builds of the
 * row loops (chosen at load time on x86-64), and to emi_ipf_fit_ref(), which runs the same arithmetic
 * in plain loops: one pass per margin for the sums and one for the scaling, then the check.
 * emi_ipf_fit differs only in memory traffic and instruction count: a sweep is cut into intervals at
 * the margins without dimension 0; in an interval the table is walked once, in tiles of slabs kept in
 * cache while every margin of the interval is summed and scaled on them; only the last interval
 * writes the table back.  For tables above 8 MiB whose margin 0 contains dimension 0 while some
 * margin does not, the last interval and the check of one sweep share their pass with the first
 * interval of the next, which only reads: one read and one write per sweep for 2-D margins
 * {0,1},{0,2},{1,2} of a 3-D table (emi_ipf.c gives the details).
 */
#ifndef EMI_IPF_H
#define EMI_IPF_H

#include <stddef.h>

#include "emi_err.h"

#define EMI_IPF_MAX_DIM 8      /* table dimensions */
#define EMI_IPF_MAX_MARGINS 64 /* margins per fit */

/* What to do when the margins' grand totals disagree (beyond total_tol_rel). */
typedef enum {
  EMI_IPF_RESCALE_ERROR = 0, /* EMI_ERR_INCONSISTENT naming both margins and the difference (default) */
  EMI_IPF_RESCALE_TO_FIRST,  /* scale every margin to the grand total of margin 0 */
  EMI_IPF_RESCALE_TO_MEAN    /* scale every margin to the mean of the margins' grand totals */
} emi_ipf_rescale_t;

typedef struct {
  int ndim;             /* number of table dimensions this margin covers, 1..table ndim */
  const int *dims;      /* which table dimensions, distinct, in the order of the margin's layout */
  const double *target; /* prod(dims[dims[j]]) target sums, row-major over `dims` as listed */
} emi_ipf_margin_t;

typedef struct {
  double tol_abs;       /* converged when max_dev <= tol_abs ...                    (default 0)     */
  double tol_rel;       /* ... or max_dev <= tol_rel * grand total                   (default 1e-10) */
  int max_iter;         /* sweeps before EMI_ERR_NOCONV                               (default 1000)  */
  emi_ipf_rescale_t rescale; /* policy for disagreeing grand totals                 (default ERROR) */
  double total_tol_rel; /* margins agree when |T_j - T_0| <= total_tol_rel * max(T_j, T_0), and sums
                           over shared dimensions when they differ by <= total_tol_rel * total.  Keep
                           it below tol_rel: margins that disagree by more than the convergence
                           tolerance cannot be fitted                               (default 1e-11) */
} emi_ipf_opts_t;

typedef struct {
  int iterations;     /* sweeps done (1 for a seed that already fits: its check, no sweep) */
  int converged;      /* 1 iff max_dev <= tol after the last sweep; 0 on EMI_ERR_NOCONV */
  double max_dev;     /* largest |sum - target| over all margins and cells after the last sweep */
  int worst_margin;   /* margin holding max_dev (-1 before any sweep); on EMI_ERR_INFEASIBLE, the margin
                         whose cell is named in the message (with worst_cell) */
  size_t worst_cell;  /* flat (row-major) index of that margin cell */
  double tol;         /* tolerance applied: max(tol_abs, tol_rel * total) */
  double total;       /* common grand total of the targets (after the rescale policy) */
  double total_spread;/* largest relative disagreement of the grand totals found before rescaling */
  int table_volumes;  /* the table's volumes a sweep of the chosen path reads or writes (a pass that
                         scales = 2): its memory traffic, for benchmarks; 0 from emi_ipf_fit_ref */
} emi_ipf_result_t;

/* Fill *opts with the defaults above. */
void emi_ipf_opts_default(emi_ipf_opts_t *opts);

/* Number of doubles of workspace emi_ipf_fit() and emi_ipf_fit_ref() need:
 * 3 * (sum over margins of the number of margin cells) + (nb - 1) * G, the block partial sums of the
 * margins without dimension 0 (nb and G as in the summation order above; at most ncell / 32 more),
 * + nb * size(g) when margin 0 contains dimension 0 and some margin does not, g the first such
 * (emi_ipf_fit's check sums of g beside the next sweep's: at most ncell / 32 + size(g) more).
 * 0 if the margin description is invalid (emi_ipf_fit then says why). */
size_t emi_ipf_work_len(int ndim, const size_t *dims, int nmargins, const emi_ipf_margin_t *margins);

/* Fit table x in place: on entry the seed, on return the fitted table (also on EMI_ERR_NOCONV: the
 * last iterate; on a validation error x is untouched).  opts may be NULL (defaults).  work holds
 * lwork >= emi_ipf_work_len(...) doubles.  res may be NULL. OpenMP-parallel; see above. */
emi_err_t emi_ipf_fit(int ndim, const size_t *dims, double *x, int nmargins,
                      const emi_ipf_margin_t *margins, const emi_ipf_opts_t *opts, double *work,
                      size_t lwork, emi_ipf_result_t *res);

/* Reference twin: the same validation and the same arithmetic in plain sequential loops, one pass
 * per margin for the sums and one for the scaling.  Bitwise equal to emi_ipf_fit(). */
emi_err_t emi_ipf_fit_ref(int ndim, const size_t *dims, double *x, int nmargins,
                          const emi_ipf_margin_t *margins, const emi_ipf_opts_t *opts, double *work,
                          size_t lwork, emi_ipf_result_t *res);

#endif /* EMI_IPF_H */
