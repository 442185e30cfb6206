/* emi_reconcile_de.h: `emflow reconcile --model double-entry` (emi_reconcile_de.c), the deterministic
 * harmonisation of double-entry corridor flows (Poulain 1993; de Beer et al. 2010): each report
 * corrected for coverage and duration definition, the two reports of every corridor balanced by GLS.
 * Called by emi_cmd_reconcile after it has checked that no option of the other model was given.
 */
#ifndef EMI_RECONCILE_DE_H
#define EMI_RECONCILE_DE_H

#include "emi_cli.h"

/* Collective.  Reads the options of ctx (the reconcile table), writes -o. */
emi_err_t emi_reconcile_double_entry(emi_ctx_t *ctx);

#endif /* EMI_RECONCILE_DE_H */
