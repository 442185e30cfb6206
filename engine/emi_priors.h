/* emi_priors.h: the inputs that `emflow estimate` and `emflow reconcile --model double-entry` read the
 * same way from a double-entry flows file: Beta coverage priors written "a,b", duration-of-stay
 * corrections (inputs/known_answers.md, after Raymer et al. 2013), the benchmark SOURCE:CODE, and the
 * countries, years and corridors of the two report tables.  `cmd` names the command in messages. */
#ifndef EMI_PRIORS_H
#define EMI_PRIORS_H

#include <stdint.h>

#include "emi_agg.h"
#include "emi_err.h"

/* Parse "a,b" (option `key`) into a Beta(a, b) prior: both finite, in [1e-4, 1e6] (beyond that the
 * prior is numerically a point mass: a known coverage is a benchmark). */
emi_err_t emi_parse_beta(const char *cmd, const char *key, const char *text, double *a, double *b);

/* Factor from a report with minimum duration of stay `months` ("0", "3", "6", "12", "permanent") to
 * a 12-month definition: 0.53, 0.63, 0.73, 1, 2.26.  `entry` is the option text, for messages. */
emi_err_t emi_duration_factor(const char *cmd, const char *entry, const char *months, double *f);

/* Index of code c among codes[0..n) (NULL entries skipped), or -1. */
int emi_de_find(char *const *codes, int n, const char *c);

/* benchmark = "SOURCE:CODE": *source 0 (emigration) or 1 (immigration), code (at most 63 bytes). */
emi_err_t emi_de_benchmark(const char *cmd, const char *text, int *source, char code[64]);

/* The countries of the two report tables (dimensions 0 and 1 of rep[0], rep[1]: from and to), or the
 * nlist codes of list, each of which must be in the file and given once; sorted; at least two.
 * *codes / *ncodes: every code of the file (for checking other options against it).  All strings are
 * malloc'ed, the caller frees them and the arrays (also after an error). */
emi_err_t emi_de_countries(const char *cmd, emi_agg_t *const rep[2], const char *input, const char *from_col,
                           const char *to_col, const char *const *list, int nlist, char ***country, int *C, char ***codes,
                           int *ncodes);

/* The consecutive calendar years from the first to the last of the two tables within first-year ..
 * last-year (when given), with their labels "2015".  A period that is not a calendar year is an error
 * naming the file and column. */
emi_err_t emi_de_years(const char *cmd, emi_agg_t *const rep[2], const char *input, const char *time_col,
                       int has_first, int64_t first, int has_last, int64_t last, int **year, char ***label, int *T);

/* The C (C - 1) corridors i -> j (i != j, country order), with labels "AUT->BEL". */
emi_err_t emi_de_corridors(char *const *country, int C, int32_t **cfrom, int32_t **cto, char ***label, int *K);

#endif /* EMI_PRIORS_H */
