/* emi_rule.c: see emi_rule.h. */
#include "emi_rule.h"

/* Days from t with location `want`, up to `last`, counted from crossing k (the last on or before t)
 * until the location first changes; *ended = 1 when it changed on or before `last`. */
static int32_t run_days(size_t n, const int32_t *day, const uint8_t *dir, size_t k, int32_t t, int32_t last,
                        uint8_t want, int *ended)
{
  int32_t run = 0;
  *ended = 0;
  for (size_t j = k; j < n; j++) {
    int32_t a = day[j] > t ? day[j] : t;
    if (a > last) break;
    int32_t b = (j + 1 < n) ? day[j + 1] - 1 : last;
    if (b > last) b = last;
    if (b < a) continue; /* not the location of any day (another crossing the same day) */
    if (dir[j] != want) {
      *ended = 1;
      break;
    }
    run += b - a + 1;
  }
  return run;
}

emi_err_t emi_rule_classify(const emi_rule_params_t *p, size_t n, const int32_t *restrict day,
                            const uint8_t *restrict dir, int init_status, uint8_t *restrict cls)
{
  return emi_rule_classify_cand(p, n, day, dir, init_status, cls, NULL);
}

emi_err_t emi_rule_classify_cand(const emi_rule_params_t *p, size_t n, const int32_t *restrict day,
                                 const uint8_t *restrict dir, int init_status, uint8_t *restrict cls,
                                 uint8_t *restrict cand)
{
  const int32_t W = p->window_days, thr = p->threshold_days, E = p->end_day;
  if (W < 1 || thr < 1 || thr > W)
    return EMI_ERROR(EMI_ERR_DOMAIN, "rule: window %d days, threshold %d days: need 1 <= threshold <= window", (int)W,
                     (int)thr);
  for (size_t i = 0; i < n; i++) {
    if (dir[i] > 1) return EMI_ERROR(EMI_ERR_ARG, "rule: crossing %zu has direction %d (0 = IN, 1 = OUT)", i, dir[i]);
    if (i && day[i] < day[i - 1])
      return EMI_ERROR(EMI_ERR_ARG, "rule: crossing %zu (day %d) is before crossing %zu (day %d)", i, (int)day[i], i - 1,
                       (int)day[i - 1]);
    if (day[i] > E) return EMI_ERROR(EMI_ERR_ARG, "rule: crossing %zu (day %d) is after the data end (day %d)", i,
                                     (int)day[i], (int)E);
  }
  if (n == 0) return EMI_SUCCESS;
  int resident = init_status == EMI_RULE_STATUS_FROM_FIRST ? dir[0] == EMI_DIR_OUT : init_status != 0;
  for (size_t i = 0; i < n; i++) {
    cls[i] = EMI_CLASS_SHORT;
    if (cand) cand[i] = 0;
    uint8_t want;
    if (resident && dir[i] == EMI_DIR_OUT) want = EMI_DIR_OUT;
    else if (!resident && dir[i] == EMI_DIR_IN) want = EMI_DIR_IN;
    else continue;
    if (cand) cand[i] = 1;
    size_t k = i; /* last crossing on or before day[i] */
    while (k + 1 < n && day[k + 1] == day[i]) k++;
    const int32_t t = day[i];
    const int64_t L = (int64_t)t + W - 1;
    const int32_t last = L < E ? (int32_t)L : E;
    const int64_t unobserved = L - last;
    int64_t count;
    int ended = 0;
    if (p->continuous) {
      count = run_days(n, day, dir, k, t, last, want, &ended);
    } else {
      int32_t abroad = emi_rule_days_abroad_ref(n, day, dir, k, t, last - t + 1);
      count = want == EMI_DIR_OUT ? abroad : (int64_t)(last - t + 1) - abroad;
    }
    int yes = count >= thr, certain = yes || ended || count + unobserved < thr;
    if (!certain) {
      cls[i] = want == EMI_DIR_OUT ? EMI_CLASS_PENDING_DEPARTURE : EMI_CLASS_PENDING_ARRIVAL;
    } else if (yes) {
      cls[i] = want == EMI_DIR_OUT ? EMI_CLASS_DEPARTURE : EMI_CLASS_ARRIVAL;
      resident = !resident;
    }
  }
  return EMI_SUCCESS;
}
