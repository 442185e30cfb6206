/* emi_priors.h: the measurement-model inputs that estimate and reconcile --model double-entry share:
 * Beta coverage priors written "a,b" and duration-of-stay corrections (inputs/known_answers.md, after
 * Raymer et al. 2013), so that both commands read a config the same way. */
#ifndef EMI_PRIORS_H
#define EMI_PRIORS_H

#include "emi_err.h"

/* Parse "a,b" (option `key`, for messages of command `cmd`) into a Beta(a, b) prior: both finite, in
 * [1e-4, 1e6] (beyond that the prior is numerically a point mass: a known coverage is a benchmark). */
emi_err_t emi_parse_beta(const char *cmd, const char *key, const char *text, double *a, double *b);

/* Factor from a report with minimum duration of stay `months` ("0", "3", "6", "12", "permanent") to
 * a 12-month definition: 0.53, 0.63, 0.73, 1, 2.26.  `entry` is the option text, for messages. */
emi_err_t emi_duration_factor(const char *cmd, const char *entry, const char *months, double *f);

#endif /* EMI_PRIORS_H */
