/* emi_priors.c: Beta priors and duration corrections shared by estimate and reconcile (emi_priors.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "emi_priors.h"

emi_err_t emi_parse_beta(const char *cmd, const char *key, const char *text, double *a, double *b)
{
  char *end = NULL;
  *a = strtod(text, &end);
  if (end == text || *end != ',') goto bad;
  const char *s2 = end + 1;
  *b = strtod(s2, &end);
  if (end == s2 || *end) goto bad;
  if (!(*a > 0 && *b > 0 && isfinite(*a) && isfinite(*b))) goto bad;
  if (!(*a >= 1e-4 && *a <= 1e6 && *b >= 1e-4 && *b <= 1e6))
    return EMI_ERROR(EMI_ERR_CONFIG, "%s: %s = '%s': each Beta parameter must lie in [1e-4, 1e6] (beyond that the "
                     "prior is numerically a point mass at 0 or 1: for a known coverage use a benchmark source)", cmd,
                     key, text);
  return EMI_SUCCESS;
bad:
  return EMI_ERROR(EMI_ERR_CONFIG, "%s: %s = '%s': expected two positive numbers 'a,b' (the Beta(a, b) prior)", cmd,
                   key, text);
}

emi_err_t emi_duration_factor(const char *cmd, const char *entry, const char *months, double *f)
{
  if (!strcmp(months, "0")) *f = 0.53;
  else if (!strcmp(months, "3")) *f = 0.63;
  else if (!strcmp(months, "6")) *f = 0.73;
  else if (!strcmp(months, "12")) *f = 1.0;
  else if (!strcmp(months, "permanent")) *f = 2.26;
  else
    return EMI_ERROR(EMI_ERR_CONFIG, "%s: duration '%s': the duration must be 0, 3, 6, 12 or permanent (found '%s')",
                     cmd, entry, months);
  return EMI_SUCCESS;
}
