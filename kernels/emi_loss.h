/* emi_loss.h: the correction of the 12/16-rule tables for lost crossing records (issue 4).
 *
 * A lost record between two of the other direction is seen by the repair (two entries in a row: an exit
 * was lost; emi_repair.h) and imputed.  A person's FIRST or LAST passage, when lost, leaves no trace:
 * a visitor whose last exit is lost looks present for ever (a false migrant arrival), a resident whose
 * last return is lost looks gone (a false migrant departure), an emigrant whose exit is lost is never
 * seen leaving (a lost departure), a visitor whose first entry is lost looks like a resident leaving (a
 * false departure).  This kernel estimates the loss rates from the repairs and the expected effect of
 * the unseen losses from the histories that were recorded in full; see the derivation in emi_loss.c.
 *
 * Pure: no I/O, no allocation, no globals.
 */
#ifndef EMI_LOSS_H
#define EMI_LOSS_H

#include <stddef.h>
#include <stdint.h>

#include "emi_err.h"

enum { EMI_LOSS_EXIT, EMI_LOSS_ENTRY, EMI_LOSS_NDIR };   /* direction of the lost passage */
enum { EMI_LOSS_OTHER, EMI_LOSS_LAND, EMI_LOSS_NCLASS }; /* border-point class of the lost passage */
/* how a class's rate was obtained */
enum { EMI_LOSS_SRC_OWN, EMI_LOSS_SRC_POOLED, EMI_LOSS_SRC_NONE };
extern const char *const emi_loss_dir_names[EMI_LOSS_NDIR];
extern const char *const emi_loss_class_names[EMI_LOSS_NCLASS];

typedef struct {
  /* imputed[d][b]: passages of direction d imputed by the repair (a lost record between two of the other
   * direction), class b of the passage at the other end of its trip (see emi_loss.c);
   * observed[d][b]: recorded passages of direction d at a point of class b that are neither the first nor
   * the last of their person's repaired history (so that their loss would have been imputed) */
  int64_t imputed[EMI_LOSS_NDIR][EMI_LOSS_NCLASS];
  int64_t observed[EMI_LOSS_NDIR][EMI_LOSS_NCLASS];
} emi_loss_counts_t;

typedef struct {
  double rate[EMI_LOSS_NDIR][EMI_LOSS_NCLASS]; /* p = imputed / (imputed + observed) */
  double odds[EMI_LOSS_NDIR][EMI_LOSS_NCLASS]; /* p / (1 - p) = imputed / observed: the weight of a full history */
  int source[EMI_LOSS_NDIR][EMI_LOSS_NCLASS];  /* EMI_LOSS_SRC_*: own counts; the direction's pooled counts (the
                                                  class has imputed passages but no observed one); none (no
                                                  count at all, or no observed passage even pooled): 0 */
} emi_loss_rates_t;

/* Rates and odds from the counts (every value finite, in [0, 1) and [0, inf)).  EMI_ERR_ARG for a
 * negative count. */
emi_err_t emi_loss_rates(const emi_loss_counts_t *counts, emi_loss_rates_t *rates);

/* adj[i] = raw[i] - sum over d, b (in this order) of odds[d][b] * delta[(d * EMI_LOSS_NCLASS + b) * ncell + i],
 * where delta[d][b][i] = sum over the recorded persons whose first (last) passage is of direction d and
 * class b of (cell i of the tables recomputed without that passage) - (cell i of the tables): the
 * expected error of the raw table from the unseen losses of such passages (emi_loss.c).  Deterministic:
 * the same bytes for the same integer inputs. */
void emi_loss_adjust(size_t ncell, const int64_t *restrict raw, const int64_t *restrict delta,
                     const emi_loss_rates_t *rates, double *restrict adj);

#endif /* EMI_LOSS_H */
