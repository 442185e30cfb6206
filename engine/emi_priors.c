/* emi_priors.c: the double-entry inputs estimate and reconcile read the same way (emi_priors.h). */
#include <math.h>
#include <stdio.h>
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

int emi_de_find(char *const *codes, int n, const char *c)
{
  for (int i = 0; i < n; i++)
    if (codes[i] && !strcmp(codes[i], c)) return i;
  return -1;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

emi_err_t emi_de_benchmark(const char *cmd, const char *text, int *source, char code[64])
{
  const char *colon = strchr(text, ':');
  char src[64];
  if (!colon || (size_t)(colon - text) >= sizeof src || strlen(colon + 1) >= 64 || !colon[1])
    return EMI_ERROR(EMI_ERR_CONFIG, "%s: benchmark = '%s': expected SOURCE:CODE, e.g. immigration:SWE", cmd, text);
  memcpy(src, text, (size_t)(colon - text));
  src[colon - text] = '\0';
  strcpy(code, colon + 1);
  if (!strcmp(src, "emigration")) *source = 0;
  else if (!strcmp(src, "immigration")) *source = 1;
  else
    return EMI_ERROR(EMI_ERR_CONFIG, "%s: benchmark = '%s': the source must be emigration or immigration", cmd, text);
  return EMI_SUCCESS;
}

emi_err_t emi_de_countries(const char *cmd, emi_agg_t *const rep[2], const char *input, const char *from_col,
                           const char *to_col, const char *const *list, int nlist, char ***country, int *C, char ***codes,
                           int *ncodes)
{
  emi_err_t err = EMI_SUCCESS;
  for (int s = 0; s < 2; s++)
    for (int dd = 0; dd < 2; dd++)
      for (int32_t k = 0; k < emi_agg_ncodes(rep[s], dd); k++) {
        const char *c = emi_agg_code(rep[s], dd, k);
        if (emi_de_find(*codes, *ncodes, c) >= 0) continue;
        char **nc = realloc(*codes, (size_t)(*ncodes + 1) * sizeof *nc);
        if (!nc) EMI_FAIL(EMI_ERR_NOMEM, "cannot grow the country list");
        *codes = nc;
        if (!((*codes)[*ncodes] = strdup(c))) EMI_FAIL(EMI_ERR_NOMEM, "cannot copy a country code");
        (*ncodes)++;
      }
  int n = nlist > 0 ? nlist : *ncodes;
  EMI_CALLOC(*country, (size_t)(n > 0 ? n : 1), "countries");
  for (int i = 0; i < n; i++) {
    const char *c = nlist > 0 ? list[i] : (*codes)[i];
    if (nlist > 0 && emi_de_find(*codes, *ncodes, c) < 0)
      EMI_FAIL(EMI_ERR_CONFIG, "%s: countries: '%s' is not a country code of %s (columns %s / %s)%s", cmd, c, input,
               from_col, to_col, strchr(c, ',') ? "; on the command line give one code per --countries (--countries "
               "FIN --countries SWE), in a config file a comma list" : "");
    if (emi_de_find(*country, *C, c) >= 0) EMI_FAIL(EMI_ERR_CONFIG, "%s: countries: '%s' is listed twice", cmd, c);
    if (!((*country)[*C] = strdup(c))) EMI_FAIL(EMI_ERR_NOMEM, "cannot copy a country code");
    (*C)++;
  }
  qsort(*country, (size_t)*C, sizeof **country, cmp_str);
  if (*C < 2) EMI_FAIL(EMI_ERR_CONFIG, "%s: need at least two countries (found %d)", cmd, *C);
cleanup:
  return err;
}

emi_err_t emi_de_years(const char *cmd, emi_agg_t *const rep[2], const char *input, const char *time_col,
                       int has_first, int64_t first, int has_last, int64_t last, int **year, char ***label, int *T)
{
  emi_err_t err = EMI_SUCCESS;
  int ymin = 99999, ymax = -1;
  for (int s = 0; s < 2; s++)
    for (int32_t p = 0; p < emi_agg_nperiods(rep[s]); p++) {
      int32_t m0, len;
      emi_agg_period(rep[s], p, &m0, &len);
      if (len != 12 || m0 % 12 != 0) {
        long long line = 0; /* the first row of that period */
        const int32_t *pi = emi_agg_period_index(rep[s]);
        const int64_t *ln = emi_agg_lines(rep[s]);
        for (int64_t i = 0; pi && ln && i < emi_agg_count(rep[s]) && !line; i++)
          if (pi[i] == p) line = (long long)ln[i];
        EMI_FAIL(EMI_ERR_INPUT, "%s:%lld: column %s: the double-entry model needs calendar years; found a period of %d "
                 "month(s) starting %04d-%02d", input, line, time_col, (int)len, (int)(m0 / 12), (int)(m0 % 12 + 1));
      }
      int y = m0 / 12;
      if ((has_first && y < first) || (has_last && y > last)) continue;
      if (y < ymin) ymin = y;
      if (y > ymax) ymax = y;
    }
  if (ymax < 0) EMI_FAIL(EMI_ERR_CONFIG, "%s: no year of %s falls in first-year .. last-year", cmd, input);
  *T = ymax - ymin + 1;
  EMI_MALLOC(*year, (size_t)*T, "years");
  EMI_CALLOC(*label, (size_t)*T, "year labels");
  for (int t = 0; t < *T; t++) {
    (*year)[t] = ymin + t;
    EMI_MALLOC((*label)[t], 8, "year label");
    snprintf((*label)[t], 8, "%04d", (*year)[t] % 10000);
  }
cleanup:
  return err;
}

emi_err_t emi_de_corridors(char *const *country, int C, int32_t **cfrom, int32_t **cto, char ***label, int *K)
{
  emi_err_t err = EMI_SUCCESS;
  *K = C * (C - 1);
  EMI_MALLOC(*cfrom, (size_t)*K, "corridors");
  EMI_MALLOC(*cto, (size_t)*K, "corridors");
  EMI_CALLOC(*label, (size_t)*K, "corridor labels");
  for (int i = 0, k = 0; i < C; i++)
    for (int j = 0; j < C; j++) {
      if (i == j) continue;
      (*cfrom)[k] = i, (*cto)[k] = j;
      size_t n = strlen(country[i]) + strlen(country[j]) + 3;
      EMI_MALLOC((*label)[k], n, "corridor label");
      snprintf((*label)[k], n, "%s->%s", country[i], country[j]);
      k++;
    }
cleanup:
  return err;
}
