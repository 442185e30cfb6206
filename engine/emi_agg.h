/* emi_agg.h: aggregate observations from long-format CSV with SDMX column names.
 *
 * One observation a row: dimension columns (codes), an optional time column, one value column
 * and an optional flag column.  Eurostat's SDMX-CSV downloads load unchanged
 * (`DATAFLOW,LAST UPDATE,freq,...,geo,TIME_PERIOD,OBS_VALUE,OBS_FLAG,CONF_STATUS`), and so do
 * wide tables such as the double-entry file, where the caller picks one value column (`Emig`
 * or `Immi`), the dimension columns (`Sending_iso3`, `Receiving_iso3`), the time column
 * (`Year`) and filters (`SEX == Total`).  Columns the spec does not name are ignored.
 *
 * CSV (RFC 4180): fields separated by `delimiter` (',' by default); a field may be quoted with
 * '"', a quote inside a quoted field is doubled, a quoted field may hold delimiters and line
 * breaks; lines end in LF, CRLF or a lone CR; a UTF-8 byte-order mark at the start is skipped;
 * empty lines (no byte at all, e.g. a trailing one) are skipped.  Every record must have as
 * many fields as the header.  A quote inside an unquoted field, text after a closing quote,
 * an unterminated quote, a NUL byte, a UTF-16 file and a record longer than
 * EMI_AGG_MAX_RECORD_BYTES are errors naming file:line, so binary junk fails fast with
 * bounded memory.
 *
 * Fields:
 *   - dimension codes are kept as text, byte for byte: `T` (total), `NA` (Namibia) and `0`
 *     are codes, never booleans, missing values or numbers.  An empty code, a code with a
 *     control character or invalid UTF-8 is an error.  Missing-value tokens do NOT apply to
 *     dimension columns.
 *   - the value is a decimal number ([+-]digits[.digits][e[+-]digits], C locale); a missing
 *     token (default ":", "NA" and the empty field) gives NaN with missing[i] = 1, never 0.
 *     Anything else ("12a", "1,234", " 12", "0x1p3", "inf", "NaN", Eurostat TSV's value+flag
 *     such as "1234 p" or ": ") is an error naming file:line, the column, the text and what
 *     was expected.  In SDMX-CSV the flag has its own column (OBS_FLAG), so the reader does
 *     not split "1234 p": add "NaN" to the missing tokens if a file uses it for missing.
 *     A value is NaN if and only if it is flagged missing.
 *   - negative values are accepted unless spec.nonnegative is set, which makes a negative
 *     value an error naming file:line (counts: set it; net flows: do not).
 *   - the flag (OBS_FLAG) is kept whole ("bu", "p", "rounded"); "" when none.
 *   - time periods, each stored as (start month, length in months), the start month counted
 *     as year*12 + month-1 (as emi_parse_month):
 *         2021            -> 2021-01, 12 months          2021-03 -> 2021-03, 1 month
 *         2021-Q2         -> 2021-04, 3 months           2021-S2 -> 2021-07, 6 months
 *         2022-01-01/P8M  -> 2022-01, 8 months   (also 2022-01/P8M, /P1Y, /P1Y6M)
 *     Weeks, days, times of day, ranges that do not start on the first of a month and other
 *     forms are errors listing the accepted forms.  Years run from 1 to 9999.
 *
 * Rows: filters keep a row when, for every filtered column, its field equals one of the values
 * given for that column (values listed for one column are alternatives; different columns must
 * all match).  Rows dropped by a filter are counted (emi_agg_rows_filtered) and only checked
 * for the CSV structure (field count), not for their values.  Two kept rows with the same
 * codes and the same period (same start and length: `2022` and `2022-01-01/P12M` are the same
 * period, `2022` and `2022-Q1` are not) are a duplicated observation: an error naming the file
 * and both lines.  A header without rows gives zero observations (not an error); an empty file
 * is an error ("empty file: no header").
 *
 * Results: observations keep file order.  Per dimension the observed codes (only those: a
 * codelist restricts, it does not add codes) are sorted bytewise (strcmp), so code indices do
 * not depend on row order; the distinct periods are sorted by start, then length.  Arrays
 * returned by the accessors belong to the object, live until emi_agg_destroy, and may be NULL
 * when there are no observations.  A loaded object is read-only: the accessors and
 * emi_agg_find may be called from several threads at once.  Loading is linear in the rows
 * (hash tables for codes and duplicates) apart from the final sorts of codes and periods;
 * emi_agg_find is a hash lookup after a binary search per code.
 */
#ifndef EMI_AGG_H
#define EMI_AGG_H

#include <stddef.h>
#include <stdint.h>

#include "emi_err.h"

/* Longest record (one line, or several when a quoted field holds line breaks), in bytes. */
#define EMI_AGG_MAX_RECORD_BYTES (1 << 20)
/* Most observations one file may hold. */
#define EMI_AGG_MAX_OBS INT32_MAX

/* Allowed codes of one dimension; codes == NULL (or the whole codelists pointer NULL) = any code. */
typedef struct {
  const char *const *codes;
  int ncodes;
} emi_agg_codelist_t;

typedef struct {
  const char *const *dims;   /* dimension column names, ndims >= 0 */
  int ndims;
  const char *time_col;      /* e.g. "TIME_PERIOD" or "Year"; NULL = no time dimension */
  const char *value_col;     /* e.g. "OBS_VALUE", "Emig"; required */
  const char *flag_col;      /* e.g. "OBS_FLAG"; NULL, or a column absent from the header, = no flags */
  const char *const *missing; /* value tokens meaning missing; NULL = {":", "NA", ""} (then nmissing unused) */
  int nmissing;
  const char *const *filter_cols; /* keep only rows where filter_cols[k] == filter_vals[k] (see above) */
  const char *const *filter_vals;
  int nfilters;
  const emi_agg_codelist_t *codelists; /* NULL, or ndims entries: an unknown code is an error */
  int nonnegative;           /* 1: a negative value is an error */
  char delimiter;            /* field separator; 0 = ',' */
} emi_agg_spec_t;

typedef struct emi_agg emi_agg_t;

/* Read `path` as described above.  Errors: EMI_ERR_ARG (bad spec), EMI_ERR_IO (cannot open or
 * read), EMI_ERR_INPUT (anything wrong in the file, message names file:line, column, text found
 * and what was expected), EMI_ERR_NOMEM.  On error *agg is NULL. */
/* 1 when the n bytes at s are valid UTF-8 (no overlong forms, surrogates or code points above
 * U+10FFFF). */
int emi_utf8_valid(const unsigned char *s, size_t n);

emi_err_t emi_agg_read_csv(const char *path, const emi_agg_spec_t *spec, emi_agg_t **agg);
/* Accepts NULL and *agg == NULL; sets *agg to NULL. */
void emi_agg_destroy(emi_agg_t **agg);

/* Parse one time period (forms above) into its start month (year*12 + month-1) and length in
 * months.  EMI_ERR_INPUT with a message naming the text, the reason and the accepted forms. */
emi_err_t emi_agg_parse_period(const char *text, int32_t *start_month, int32_t *months);

/* The label of a period of `months` months starting at start_month (year*12 + month-1), in the
 * forms above: "2021", "2021-03", "2021-Q2", "2021-S2", else "2021-03/P5M".  Parsed back by
 * emi_agg_parse_period to the same period. */
void emi_agg_period_label(int32_t start_month, int32_t months, char *buf, size_t n);

/* ---- accessors (agg must be a loaded object; indices are not checked beyond what is said) ---- */
int64_t emi_agg_count(const emi_agg_t *agg);          /* observations kept */
int64_t emi_agg_rows_read(const emi_agg_t *agg);      /* data rows in the file (header excluded) */
int64_t emi_agg_rows_filtered(const emi_agg_t *agg);  /* rows dropped by the filters */
int64_t emi_agg_count_missing(const emi_agg_t *agg);  /* observations whose value is missing */

int emi_agg_ndims(const emi_agg_t *agg);
const char *emi_agg_dim_name(const emi_agg_t *agg, int d);
int32_t emi_agg_ncodes(const emi_agg_t *agg, int d);
const char *emi_agg_code(const emi_agg_t *agg, int d, int32_t k);       /* sorted bytewise */
/* Code index (into emi_agg_code(agg, d, .)) of every observation along dimension d. */
const int32_t *emi_agg_code_index(const emi_agg_t *agg, int d);
/* Index of `code` in dimension d, or -1 when it was not observed (binary search). */
int32_t emi_agg_code_find(const emi_agg_t *agg, int d, const char *code);

int emi_agg_has_time(const emi_agg_t *agg);
/* Per observation: first month (year*12 + month-1) and length in months; NULL without time. */
const int32_t *emi_agg_period_start(const emi_agg_t *agg);
const int32_t *emi_agg_period_months(const emi_agg_t *agg);
/* Per observation: index into the sorted distinct periods; NULL without time. */
const int32_t *emi_agg_period_index(const emi_agg_t *agg);
int32_t emi_agg_nperiods(const emi_agg_t *agg);       /* 0 without time */
/* Distinct period k, 0 <= k < emi_agg_nperiods(agg). */
void emi_agg_period(const emi_agg_t *agg, int32_t k, int32_t *start_month, int32_t *months);

/* Per observation: value (NaN exactly when missing) and missing flag (1 = missing). */
const double *emi_agg_values(const emi_agg_t *agg);
const uint8_t *emi_agg_missing(const emi_agg_t *agg);
int emi_agg_has_flags(const emi_agg_t *agg);          /* 1 when the flag column was found */
const char *emi_agg_flag(const emi_agg_t *agg, int64_t i); /* "" when none */
const int64_t *emi_agg_lines(const emi_agg_t *agg);   /* source line where each record starts */

/* Find the observation with these codes (one per dimension, in spec order) and this period
 * (ignored without time).  *index = -1 when there is none.  EMI_ERR_ARG on NULL arguments. */
emi_err_t emi_agg_find(const emi_agg_t *agg, const char *const *codes, int32_t start_month, int32_t months,
                       int64_t *index);

#endif /* EMI_AGG_H */
