/* emi_repair.c: see emi_repair.h. */
#include "emi_repair.h"

#include "emi_rule1216.h"

const char *const emi_repair_names[EMI_NREPAIRS] = {"duplicate_merged", "missed_exit_imputed",
                                                    "missed_entry_imputed"};

emi_err_t emi_repair_sequence(const emi_repair_params_t *p, size_t n, const int32_t *restrict day,
                              const int32_t *restrict sec, const uint8_t *restrict dir, size_t *nout,
                              int32_t *restrict oday, int32_t *restrict osec, uint8_t *restrict odir,
                              int32_t *restrict osrc, int64_t counts[EMI_NREPAIRS])
{
  if (p->impute < EMI_REPAIR_MIDPOINT || p->impute > EMI_REPAIR_LATE || p->dup_tol_s < 0)
    return EMI_ERROR(EMI_ERR_DOMAIN, "repair: impute mode %d, duplicate tolerance %d s", p->impute, (int)p->dup_tol_s);
  size_t m = 0, last = 0; /* last: input index of the last kept crossing */
  for (size_t i = 0; i < n; i++) {
    if (dir[i] > 1) return EMI_ERROR(EMI_ERR_ARG, "repair: crossing %zu has direction %d (0 = IN, 1 = OUT)", i, dir[i]);
    if (i && (day[i] < day[i - 1] || (day[i] == day[i - 1] && sec[i] < sec[i - 1])))
      return EMI_ERROR(EMI_ERR_ARG, "repair: crossing %zu is before crossing %zu", i, i - 1);
    if (m > 0 && dir[i] == odir[m - 1]) {
      int dup;
      if (sec[i] >= 0 && osec[m - 1] >= 0)
        dup = ((int64_t)day[i] - oday[m - 1]) * 86400 + sec[i] - osec[m - 1] <= p->dup_tol_s;
      else
        dup = day[i] == oday[m - 1];
      if (dup) {
        counts[EMI_REPAIR_DUPLICATE]++;
        continue;
      }
      int32_t d1 = oday[m - 1], d2 = day[i];
      oday[m] = p->impute == EMI_REPAIR_EARLY ? d1 : p->impute == EMI_REPAIR_LATE ? d2 : d1 + (d2 - d1) / 2;
      osec[m] = -1;
      odir[m] = (uint8_t)!dir[i];
      osrc[m] = -(int32_t)(1 + last);
      counts[dir[i] == EMI_DIR_IN ? EMI_REPAIR_MISSED_EXIT : EMI_REPAIR_MISSED_ENTRY]++;
      m++;
    }
    oday[m] = day[i];
    osec[m] = sec[i];
    odir[m] = dir[i];
    osrc[m] = (int32_t)i;
    m++;
    last = i;
  }
  *nout = m;
  return EMI_SUCCESS;
}
