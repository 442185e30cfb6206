/* emi_loss.c: see emi_loss.h.
 *
 * Derivation.
 *
 * Model.  Every border passage of direction d (exit, entry) at a point of class b (land, other) is lost
 * from the records with probability p[d][b], independently of everything else.
 *
 * 1. The rate.  Take the passages that have a recorded passage of the other direction before and after
 *    them in their person's history ("interior" ones).  When such a passage is lost, the two neighbours
 *    have the same direction and the repair imputes it (emi_repair.h); when it is recorded, it is an
 *    interior passage of the repaired history.  So of the N[d][b] interior passages, imputed ~ Bin(N, p)
 *    and observed = N - imputed, and the maximum-likelihood estimate is
 *        p = imputed / (imputed + observed),    p / (1 - p) = imputed / observed.
 *    (Two losses in a row leave no trace, the imputed count misses them: a relative error of order p.)
 *    The point of a lost passage is not known: an imputed exit (between entries E1 and E2) starts the
 *    trip that ends with E2 and gets E2's class, an imputed entry (between exits X1 and X2) ends the trip
 *    that began with X1 and gets X1's class (travellers mostly come back the way they left, by road or
 *    by air); recorded passages have their own class.
 *
 * 2. The unseen losses.  Let H be a person's true history of the period and f its last passage, of
 *    (d, b); H- is H without f.  The records hold H with probability 1 - p and H- with probability p
 *    (other losses: the repairs), so the expected contribution of the person to a table is
 *        (1 - p) T(H) + p T(H-) = T(H) + p D(H),    D(H) = T(H-) - T(H),
 *    where T(.) is the table the rule makes of a history (cells month x citizenship x sex x age group;
 *    D(H) is e.g. +1 migrant arrival in the month of the last entry of a visitor whose last exit would
 *    be lost, +1 migrant departure (and, without a declaration, +1 undeclared) in the month of the last
 *    exit of a resident whose return would be lost, -1 departure for an emigrant whose exit would be
 *    lost, 0 when the stay or the absence left after f is too short for the rule to notice).  The
 *    persons recorded in full are a share 1 - p of those with such histories, so
 *        E[ sum over recorded histories with f in (d, b) of D ] = (1 - p) sum over H of D(H),
 *    and the expected error of the raw table is p/(1 - p) times the left side: with delta[d][b] that sum
 *    over the recorded histories (treating each as full),
 *        raw - sum over d, b of odds[d][b] delta[d][b]
 *    is unbiased for the table without the unseen losses up to terms of order p times the correction
 *    (a recorded history whose last passage was lost is counted as full: its own D is of order p).
 *    The first passage is the same with H+ = H without its first passage (a visitor whose first entry
 *    is lost starts with an exit and looks like a resident leaving for good; a resident whose first exit
 *    is lost looks like an immigrant); a history of one passage loses the person when that passage is
 *    lost (D = -T(H)) and counts once; both ends lost (order p^2) is neglected.
 *
 * Counts are integers (summed exactly over threads and ranks by the caller), the arithmetic here is
 * done once, in a fixed order, so the result does not depend on how the data were split.
 */
#include "emi_loss.h"

const char *const emi_loss_dir_names[EMI_LOSS_NDIR] = {"exit", "entry"};
const char *const emi_loss_class_names[EMI_LOSS_NCLASS] = {"other", "land"};

emi_err_t emi_loss_rates(const emi_loss_counts_t *c, emi_loss_rates_t *r)
{
  for (int d = 0; d < EMI_LOSS_NDIR; d++)
    for (int b = 0; b < EMI_LOSS_NCLASS; b++)
      if (c->imputed[d][b] < 0 || c->observed[d][b] < 0)
        return EMI_ERROR(EMI_ERR_ARG, "loss rates: negative count for %s passages at %s points",
                         emi_loss_dir_names[d], emi_loss_class_names[b]);
  for (int d = 0; d < EMI_LOSS_NDIR; d++) {
    int64_t li = 0, lo = 0; /* pooled over classes */
    for (int b = 0; b < EMI_LOSS_NCLASS; b++) li += c->imputed[d][b], lo += c->observed[d][b];
    for (int b = 0; b < EMI_LOSS_NCLASS; b++) {
      int64_t i = c->imputed[d][b], o = c->observed[d][b];
      int src = EMI_LOSS_SRC_OWN;
      if (o == 0) { /* no recorded interior passage: p = 1 cannot be used as a weight */
        src = i > 0 && lo > 0 ? EMI_LOSS_SRC_POOLED : EMI_LOSS_SRC_NONE;
        i = src == EMI_LOSS_SRC_POOLED ? li : 0;
        o = src == EMI_LOSS_SRC_POOLED ? lo : 1;
      }
      r->source[d][b] = src;
      r->rate[d][b] = (double)i / ((double)i + (double)o);
      r->odds[d][b] = (double)i / (double)o;
    }
  }
  return EMI_SUCCESS;
}

void emi_loss_adjust(size_t ncell, const int64_t *restrict raw, const int64_t *restrict delta,
                     const emi_loss_rates_t *r, double *restrict adj)
{
  for (size_t i = 0; i < ncell; i++) {
    double corr = 0;
    for (int d = 0; d < EMI_LOSS_NDIR; d++)
      for (int b = 0; b < EMI_LOSS_NCLASS; b++) {
        int64_t x = delta[((size_t)d * EMI_LOSS_NCLASS + (size_t)b) * ncell + i];
        if (x) corr += r->odds[d][b] * (double)x;
      }
    adj[i] = (double)raw[i] - corr;
  }
}
