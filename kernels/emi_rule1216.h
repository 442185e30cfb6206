/* emi_rule1216.h: the 12/16 rule (Stats NZ, ABS), plain reference implementation.
 *
 * Used by `emflow simulate` to compute the ground truth on the TRUE (fault-free) movements, and the
 * reference the linkage stage (issue 4) is held to.  The definitions are those of issue 4:
 *
 *   - Days are integers (days since 1970-01-01).  A person's crossings are given in time order
 *     (day non-decreasing; crossings on the same day in the order they happened).
 *   - Location on day d is the direction of the person's LAST crossing on or before d
 *     (OUT = abroad, IN = in the country).  Days after the last crossing keep its direction.
 *   - The window of a crossing on day t is days t .. t + window_days - 1 (default 487 = 16 months
 *     of 30.4375 days, rounded); the threshold is threshold_days (default 365 = 12 months).
 *   - Status: a RESIDENT's exit is a migrant departure when the days abroad in its window reach
 *     the threshold (cumulative over all trips); the person is non-resident from then on.  A
 *     NON-RESIDENT's entry is a migrant arrival when the days in the country in its window reach
 *     the threshold; the person is resident from then on.  All other crossings are short-term.
 *   - Status before the first crossing (init_status = EMI_RULE_STATUS_FROM_FIRST, issue 4's
 *     default): resident if the first crossing is an exit, non-resident if it is an entry.
 *
 * Windows are not censored here: the caller must supply the person's crossings up to at least
 * t + window_days - 1 for every crossing t whose class it uses (simulate simulates a tail).
 */
#ifndef EMI_RULE1216_H
#define EMI_RULE1216_H

#include <stddef.h>
#include <stdint.h>

#include "emi_err.h"

#define EMI_RULE_WINDOW_DAYS 487
#define EMI_RULE_THRESHOLD_DAYS 365

enum { EMI_DIR_IN = 0, EMI_DIR_OUT = 1 };
enum { EMI_CLASS_SHORT = 0, EMI_CLASS_DEPARTURE = 1, EMI_CLASS_ARRIVAL = 2 };
enum { EMI_RULE_STATUS_NONRESIDENT = 0, EMI_RULE_STATUS_RESIDENT = 1, EMI_RULE_STATUS_FROM_FIRST = -1 };

/* Days abroad in [t, t + window_days - 1] for the crossing sequence (day[], dir[]) of n crossings,
 * where i is the index of the LAST crossing on or before day t (so location on t is dir[i]). */
int32_t emi_rule_days_abroad_ref(size_t n, const int32_t *day, const uint8_t *dir, size_t i, int32_t t,
                                 int32_t window_days);

/* Classify n crossings in time order: cls[i] = EMI_CLASS_*.  EMI_ERR_DOMAIN for a window or
 * threshold out of range (1 <= threshold <= window), EMI_ERR_ARG for days out of order or a
 * direction other than IN/OUT. */
emi_err_t emi_rule1216_classify_ref(size_t n, const int32_t *day, const uint8_t *dir, int32_t window_days,
                                    int32_t threshold_days, int init_status, uint8_t *cls);

/* Age groups used by the truth tables (and, for compatibility, by the linkage tables):
 * 0-14, 15-24, 25-34, 35-44, 45-54, 55-64, 65+; age = crossing year - birth year. */
#define EMI_NAGE_GROUPS 7
int emi_age_group(int age_years);
extern const char *const emi_age_group_labels[EMI_NAGE_GROUPS];

#endif /* EMI_RULE1216_H */
