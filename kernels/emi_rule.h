/* emi_rule.h: the 12/16 rule with the options of `emflow classify` (issue 4): cumulative or
 * continuous absence, explicit initial status, and right censoring at the end of the data.
 *
 * Definitions as in emi_rule1216.h (location on day d = direction of the last crossing on or before
 * d; the window of a crossing on day t is t .. t + window_days - 1).  With
 *   continuous = 0 (cumulative, the 12/16 rule): the days abroad (or in the country) anywhere in the
 *       window count;
 *   continuous = 1 (e.g. 12/12 continuous, window = threshold = 365): only the days from t up to the
 *       first change of location count;
 * a resident's exit is a migrant departure when the count of days abroad reaches threshold_days, a
 * non-resident's entry a migrant arrival when the count of days in the country does.
 *
 * Censoring.  end_day is the last day covered by the data (INT32_MAX: no censoring; every day must be
 * <= end_day).  Days after end_day are unknown.  When a crossing's window reaches past end_day, its
 * class is decided early when the outcome is certain whatever happens after end_day (count already
 * >= threshold: migrant; count + unobserved days < threshold: short-term); otherwise it is
 * EMI_CLASS_PENDING_DEPARTURE (a resident's exit) or EMI_CLASS_PENDING_ARRIVAL (a non-resident's
 * entry), and the status is left unchanged for the crossings after it (whose windows are open too).
 *
 * With continuous = 0, end_day = INT32_MAX and init_status = EMI_RULE_STATUS_FROM_FIRST this is
 * exactly emi_rule1216_classify_ref (the reference twin; tests/unit/test_rule.c holds it to it).
 * Pure: no I/O, no allocation, no globals.
 */
#ifndef EMI_RULE_H
#define EMI_RULE_H

#include <stddef.h>
#include <stdint.h>

#include "emi_err.h"
#include "emi_rule1216.h"

enum { EMI_CLASS_PENDING_DEPARTURE = 3, EMI_CLASS_PENDING_ARRIVAL = 4 };

typedef struct {
  int32_t window_days;    /* default EMI_RULE_WINDOW_DAYS (487) */
  int32_t threshold_days; /* default EMI_RULE_THRESHOLD_DAYS (365) */
  int continuous;         /* 0: cumulative (12/16), 1: continuous */
  int32_t end_day;        /* last day of the data (INT32_MAX: none) */
} emi_rule_params_t;

/* Classify n crossings (day non-decreasing, dir EMI_DIR_IN/OUT) of one person whose status before the
 * first crossing is init_status (EMI_RULE_STATUS_RESIDENT, _NONRESIDENT or _FROM_FIRST): cls[i] =
 * EMI_CLASS_*.  EMI_ERR_DOMAIN for a bad window/threshold, EMI_ERR_ARG for bad sequences or a day after
 * end_day. */
emi_err_t emi_rule_classify(const emi_rule_params_t *p, size_t n, const int32_t *restrict day,
                            const uint8_t *restrict dir, int init_status, uint8_t *restrict cls);
/* The same, and cand[i] = 1 when crossing i can change the status (a resident's exit or a non-resident's
 * entry, with the status as classified so far: a pending crossing leaves it unchanged), else 0: the
 * crossings whose outcome the nowcast (emi_nowcast.h) estimates.  cand may be NULL. */
emi_err_t emi_rule_classify_cand(const emi_rule_params_t *p, size_t n, const int32_t *restrict day,
                                 const uint8_t *restrict dir, int init_status, uint8_t *restrict cls,
                                 uint8_t *restrict cand);

#endif /* EMI_RULE_H */
