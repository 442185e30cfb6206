/* emi_loss_tables.h: `emflow classify`'s correction for lost crossing records (issue 4), engine side: the
 * per-thread integer counts, their exact reduction over threads and ranks, the adjusted tables and their
 * output.  The estimator is kernels/emi_loss.h (derivation in kernels/emi_loss.c); the per-person counts
 * are made by emi_cmd_classify.c (loss_person).
 *
 * A thread's block of int64 counts (EMI_LOSS_BLOCK_LEN(ncell) values):
 *   [0, 4)   imputed[d][b]  (d = EMI_LOSS_EXIT/ENTRY, b = EMI_LOSS_OTHER/LAND: index 2 d + b)
 *   [4, 8)   observed[d][b]
 *   then delta[kind][d][b][cell] for kind EMI_LOSS_K_DEP, _ARR, _UND: the change of the cell of the table
 *   of that kind when the first (last) passage of a recorded history, of (d, b), is removed, summed over
 *   the histories (emi_loss_adjust).
 */
#ifndef EMI_LOSS_TABLES_H
#define EMI_LOSS_TABLES_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "emi_err.h"
#include "emi_h5.h"
#include "emi_loss.h"

enum { EMI_LOSS_K_DEP, EMI_LOSS_K_ARR, EMI_LOSS_K_UND, EMI_LOSS_NKINDS };
#define EMI_LOSS_NDB (EMI_LOSS_NDIR * EMI_LOSS_NCLASS)
#define EMI_LOSS_BLOCK_LEN(ncell) ((size_t)2 * EMI_LOSS_NDB + (size_t)EMI_LOSS_NKINDS * EMI_LOSS_NDB * (ncell))
/* delta block of (kind, d, b) inside a thread's block */
static inline int64_t *emi_loss_delta(int64_t *block, size_t ncell, int kind, int d, int b)
{
  return block + 2 * EMI_LOSS_NDB + ((size_t)kind * EMI_LOSS_NDB + (size_t)d * EMI_LOSS_NCLASS + (size_t)b) * ncell;
}

typedef struct {
  int on;
  emi_loss_counts_t counts;
  emi_loss_rates_t rates;
  double *adj[EMI_LOSS_NKINDS]; /* ncell each (NULL: kind absent) */
  int32_t span_days;              /* --loss-min-span-days */
  int nland;
  const char *const *land_points; /* nland codes (in land_buf) */
  char *land_buf;
} emi_loss_out_t;

/* Collective.  Sum the nthreads blocks (each EMI_LOSS_BLOCK_LEN(ncell), consecutive) into the first, in
 * thread order, then over the ranks of comm (integers: exact in any order); estimate the rates and the
 * adjusted tables of the kinds whose raw table (ncell int64) is given (raw[k] NULL: absent).  The same
 * values on every rank. */
emi_err_t emi_loss_finish(MPI_Comm comm, int64_t *blocks, int nthreads, size_t ncell,
                          const int64_t *const raw[EMI_LOSS_NKINDS], emi_loss_out_t *o);
/* Collective.  Write /linkage/migrant_departures_adjusted, /linkage/migrant_arrivals_adjusted and (raw
 * undeclared present) /undeclared/departures_adjusted with the dims and scales of the int64 tables
 * (sc: the /linkage scales, su: the /undeclared ones), this rank's rows [row0, row0 + nrows) of row
 * cells each, and /linkage/loss_rate, loss_imputed, loss_observed (direction x border_point_class). */
emi_err_t emi_loss_write(emi_h5_file_t *f, MPI_Comm comm, const emi_loss_out_t *o, const uint64_t dims[4],
                         const char *const sc[4], const char *const su[4], uint64_t row0, uint64_t nrows, size_t row);
void emi_loss_out_free(emi_loss_out_t *o);
/* Local.  The codes of --land-border-points: each item a code or a comma list of codes; o->land_points
 * (allocated, freed by emi_loss_out_free) and o->nland.  EMI_ERR_CONFIG for an empty code or one longer
 * than 16 bytes. */
emi_err_t emi_loss_points_parse(int n, const char *const *items, emi_loss_out_t *o);

#endif /* EMI_LOSS_TABLES_H */
