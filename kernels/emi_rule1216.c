/* emi_rule1216.c: see emi_rule1216.h. */
#include "emi_rule1216.h"

const char *const emi_age_group_labels[EMI_NAGE_GROUPS] = {"Y_LT15", "Y15-24", "Y25-34", "Y35-44",
                                                           "Y45-54", "Y55-64", "Y_GE65"};

int emi_age_group(int age)
{
  if (age < 15) return 0;
  if (age >= 65) return 6;
  return 1 + (age - 15) / 10;
}

int32_t emi_rule_days_abroad_ref(size_t n, const int32_t *day, const uint8_t *dir, size_t i, int32_t t,
                                 int32_t window_days)
{
  int32_t last = t + window_days - 1, abroad = 0;
  for (size_t j = i; j < n; j++) {
    int32_t a = day[j] > t ? day[j] : t;
    if (a > last) break;
    int32_t b = (j + 1 < n) ? day[j + 1] - 1 : last; /* location dir[j] on days a..b */
    if (b > last) b = last;
    if (dir[j] == EMI_DIR_OUT && b >= a) abroad += b - a + 1;
  }
  return abroad;
}

emi_err_t emi_rule1216_classify_ref(size_t n, const int32_t *day, const uint8_t *dir, int32_t window_days,
                                    int32_t threshold_days, int init_status, uint8_t *cls)
{
  if (window_days < 1 || threshold_days < 1 || threshold_days > window_days)
    return EMI_ERROR(EMI_ERR_DOMAIN, "12/16 rule: window %d days, threshold %d days: need 1 <= threshold <= window",
                     (int)window_days, (int)threshold_days);
  for (size_t i = 0; i < n; i++) {
    if (dir[i] > 1) return EMI_ERROR(EMI_ERR_ARG, "12/16 rule: crossing %zu has direction %d (0 = IN, 1 = OUT)", i, dir[i]);
    if (i && day[i] < day[i - 1])
      return EMI_ERROR(EMI_ERR_ARG, "12/16 rule: crossing %zu (day %d) is before crossing %zu (day %d)", i,
                       (int)day[i], i - 1, (int)day[i - 1]);
  }
  if (n == 0) return EMI_SUCCESS;
  int resident = init_status == EMI_RULE_STATUS_FROM_FIRST ? dir[0] == EMI_DIR_OUT : init_status != 0;
  for (size_t i = 0; i < n; i++) {
    cls[i] = EMI_CLASS_SHORT;
    size_t k = i; /* last crossing on or before day[i] */
    while (k + 1 < n && day[k + 1] == day[i]) k++;
    if (resident && dir[i] == EMI_DIR_OUT) {
      if (emi_rule_days_abroad_ref(n, day, dir, k, day[i], window_days) >= threshold_days) {
        cls[i] = EMI_CLASS_DEPARTURE;
        resident = 0;
      }
    } else if (!resident && dir[i] == EMI_DIR_IN) {
      if (window_days - emi_rule_days_abroad_ref(n, day, dir, k, day[i], window_days) >= threshold_days) {
        cls[i] = EMI_CLASS_ARRIVAL;
        resident = 1;
      }
    }
  }
  return EMI_SUCCESS;
}
