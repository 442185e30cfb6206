/* test_agg: the aggregate-observations reader (issue 5, "Aggregate input").
 *
 * Right values:
 *   - Azerbaijan files (tests/data/agg/, byte copies of ../shared/data): the numbers printed in
 *     the files themselves (e.g. entries_crossings 2022-01-01/P8M = 1004156 on line 4).
 *   - double-entry excerpt (first 40 rows): 11 rows with both Emig and Immi, 22 with one, 7 with
 *     neither, counted by eye from the 40 rows (listed in tests/data/agg/SOURCE.md).
 *   - full double-entry file (inputs/, bundled): 1,792 both / 3,560 one side / 1,668 neither, as
 *     published in ../shared/data/SOURCES.md, found here by pairing two independent loads (Emig and
 *     Immi) through emi_agg_find.
 *   - Stats NZ PLT file (inputs/): 72 blank cells (SOURCES.md) and Net = Arrivals - Departures in
 *     every complete triple (SOURCES.md); 28,818 complete triples counted with Python's csv module.
 *   - error cases: small files written here, the message must name file:line, the column, the
 *     text found and what was expected.
 *   - 1,000,000 generated rows with 1,000 x 1,000 distinct codes: values are a*1000+b by construction;
 *     a quadratic code lookup or duplicate check would not finish within the ctest timeout.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "emi_agg.h"
#include "emi_test.h"

static char last_msg[2048];
static char last_path[1024];

static const char *tmpdir(void)
{
  const char *t = getenv("EMI_TEST_TMP");
  return t ? t : "/tmp";
}

static const char *srcdir(void)
{
  const char *t = getenv("EMI_TEST_DATA");
  return t ? t : ".";
}

static int file_exists(const char *path)
{
  FILE *f = fopen(path, "rb");
  if (f) fclose(f);
  return f != NULL;
}

static void write_bytes(const char *path, const char *data, size_t len)
{
  FILE *f = fopen(path, "wb");
  if (!f) {
    perror(path);
    exit(1);
  }
  if (len && fwrite(data, 1, len, f) != len) {
    perror(path);
    exit(1);
  }
  fclose(f);
}

/* Load a file; keep the error message (if any) in last_msg. */
static emi_err_t load_path(const char *path, const emi_agg_spec_t *spec, emi_agg_t **a)
{
  emi_err_t e = emi_agg_read_csv(path, spec, a);
  snprintf(last_msg, sizeof last_msg, "%s", emi_err_message());
  emi_err_clear();
  if (e && getenv("EMI_TEST_VERBOSE")) fprintf(stderr, "  [%s] %s\n", emi_err_name(e), last_msg);
  return e;
}

/* Write `len` bytes of `text` to EMI_TEST_TMP/agg_<name>.csv and load it. */
static emi_err_t load_bytes(const char *name, const char *text, size_t len, const emi_agg_spec_t *spec, emi_agg_t **a)
{
  snprintf(last_path, sizeof last_path, "%s/agg_%s.csv", tmpdir(), name);
  write_bytes(last_path, text, len);
  return load_path(last_path, spec, a);
}

static emi_err_t load_text(const char *name, const char *text, const emi_agg_spec_t *spec, emi_agg_t **a)
{
  return load_bytes(name, text, strlen(text), spec, a);
}

static int contains(const char *hay, const char *needle)
{
  int ok = strstr(hay, needle) != NULL;
  if (!ok) fprintf(stderr, "  message '%s' lacks '%s'\n", hay, needle);
  return ok;
}

/* The message contains every needle (NULL-terminated list); `where` = the caller's line. */
static void expect_msg(int where, const char *first, ...)
{
  va_list ap;
  va_start(ap, first);
  for (const char *n = first; n; n = va_arg(ap, const char *))
    CHECK_MSG(contains(last_msg, n), "(test line %d)", where);
  va_end(ap);
}

/* Load text expecting `code`, then the message must contain the needles. */
#define EXPECT_FAIL(name, text, spec, code, ...)                                          \
  do {                                                                                    \
    emi_agg_t *fa_ = NULL;                                                                \
    emi_err_t fe_ = load_text((name), (text), (spec), &fa_);                              \
    CHECK_MSG(fe_ == (code), "(test line %d) %s: got %s, expected %s: %s", __LINE__,      \
              (name), emi_err_name(fe_), emi_err_name(code), last_msg);                    \
    CHECK(fa_ == NULL);                                                                   \
    emi_agg_destroy(&fa_);                                                                \
    expect_msg(__LINE__, __VA_ARGS__, (const char *)NULL);                                \
  } while (0)

static int64_t find1(const emi_agg_t *a, const char *const *codes, const char *period)
{
  int32_t s = 0, m = 0;
  int64_t i = -2;
  if (period) CHECK_OK(emi_agg_parse_period(period, &s, &m));
  CHECK_OK(emi_agg_find(a, codes, s, m, &i));
  return i;
}

/* Every observation: NaN exactly when flagged missing. */
static void check_nan_iff_missing(const emi_agg_t *a)
{
  const double *v = emi_agg_values(a);
  const uint8_t *m = emi_agg_missing(a);
  int64_t bad = 0, nm = 0;
  for (int64_t i = 0; i < emi_agg_count(a); i++) {
    bad += (isnan(v[i]) != 0) != (m[i] != 0);
    nm += m[i];
  }
  CHECK_INT_EQ(bad, 0);
  CHECK_INT_EQ(nm, emi_agg_count_missing(a));
}

/* ================================================================ periods */

static void test_periods(void)
{
  int32_t s = -1, m = -1;
  CHECK_OK(emi_agg_parse_period("2021", &s, &m));
  CHECK_INT_EQ(s, 2021 * 12);
  CHECK_INT_EQ(m, 12);
  CHECK_OK(emi_agg_parse_period("2021-03", &s, &m));
  CHECK_INT_EQ(s, 2021 * 12 + 2);
  CHECK_INT_EQ(m, 1);
  CHECK_OK(emi_agg_parse_period("2021-Q1", &s, &m));
  CHECK_INT_EQ(s, 2021 * 12);
  CHECK_INT_EQ(m, 3);
  CHECK_OK(emi_agg_parse_period("2021-Q4", &s, &m));
  CHECK_INT_EQ(s, 2021 * 12 + 9);
  CHECK_INT_EQ(m, 3);
  CHECK_OK(emi_agg_parse_period("2021-S2", &s, &m));
  CHECK_INT_EQ(s, 2021 * 12 + 6);
  CHECK_INT_EQ(m, 6);
  CHECK_OK(emi_agg_parse_period("2022-01-01/P8M", &s, &m)); /* January-August 2022 */
  CHECK_INT_EQ(s, 2022 * 12);
  CHECK_INT_EQ(m, 8);
  CHECK_OK(emi_agg_parse_period("2017-01-01/P5M", &s, &m));
  CHECK_INT_EQ(s, 2017 * 12);
  CHECK_INT_EQ(m, 5);
  CHECK_OK(emi_agg_parse_period("2020-07/P1Y6M", &s, &m));
  CHECK_INT_EQ(s, 2020 * 12 + 6);
  CHECK_INT_EQ(m, 18);
  CHECK_OK(emi_agg_parse_period("2022-01-01/P1Y", &s, &m)); /* the same period as 2022 */
  CHECK_INT_EQ(s, 2022 * 12);
  CHECK_INT_EQ(m, 12);
  CHECK_OK(emi_agg_parse_period("9999-12", &s, &m));
  CHECK_INT_EQ(s, 9999 * 12 + 11);

  static const struct {
    const char *text, *why;
  } bad[] = {
      {"", "is empty"},
      {"21", "not a period"},
      {"2021-13", "month outside 01..12"},
      {"2021-00", "month outside 01..12"},
      {"2021-Q5", "quarter outside 1..4"},
      {"2021-Q0", "quarter outside 1..4"},
      {"2021-S3", "semester outside 1..2"},
      {"2021-W05", "week"},
      {"2021-03-15", "single day"},
      {"2021-03-01", "single day"},
      {"2021-03-15/P1M", "first of a month"},
      {"2021-01-01/P10D", "not whole months"},
      {"2021-01-01/P0M", "not whole months"},
      {"2021-01-01/P", "not whole months"},
      {"2021-01-01/P1M1Y", "not whole months"},
      {"2021-01-01/2021-08-31", "not whole months"},
      {"2021-01-01T00:00:00/P8M", "not a period"},
      {"2021M03", "not a period"},
      {"2021-A1", "reporting period"},
      {"0000", "year 0"},
      {"2021 ", "not a period"},
      {" 2021", "not a period"},
      {"9999-12/P2M", "after the year 9999"},
      {"2021-Q1x", "not a period"},
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    s = m = -7;
    emi_err_t e = emi_agg_parse_period(bad[k].text, &s, &m);
    snprintf(last_msg, sizeof last_msg, "%s", emi_err_message());
    emi_err_clear();
    CHECK_MSG(e == EMI_ERR_INPUT, "'%s' accepted", bad[k].text);
    CHECK_MSG(s == -7 && m == -7, "'%s' wrote a result", bad[k].text);
    CHECK_MSG(contains(last_msg, bad[k].why) && contains(last_msg, "YYYY-Qn"), "period '%s'", bad[k].text);
  }
}

/* ================================================================ real files */

static const char *const sdmx_dims[] = {"indicator", "geo", "citizen", "unit"};
static const emi_agg_spec_t sdmx_spec = {
    .dims = sdmx_dims, .ndims = 4, .time_col = "TIME_PERIOD", .value_col = "OBS_VALUE", .flag_col = "OBS_FLAG",
    .nonnegative = 1};

static void test_azerbaijan_border(void)
{
  char path[1024];
  emi_agg_t *a = NULL;
  snprintf(path, sizeof path, "%s/tests/data/agg/azerbaijan_border_2020_2022.csv", srcdir());
  CHECK_OK(load_path(path, &sdmx_spec, &a));
  if (!a) return;
  CHECK_INT_EQ(emi_agg_count(a), 21);
  CHECK_INT_EQ(emi_agg_rows_read(a), 21);
  CHECK_INT_EQ(emi_agg_rows_filtered(a), 0);
  CHECK_INT_EQ(emi_agg_count_missing(a), 0);
  CHECK(emi_agg_has_time(a) && emi_agg_has_flags(a));
  CHECK_INT_EQ(emi_agg_ndims(a), 4);
  CHECK(!strcmp(emi_agg_dim_name(a, 1), "geo"));
  /* indicator codes, sorted bytewise */
  static const char *const ind[] = {"entries_crossings", "entries_documents", "exits_crossings", "exits_documents",
                                    "permanent_residence_permits", "temporary_residence_permits",
                                    "temporary_stay_extensions"};
  CHECK_INT_EQ(emi_agg_ncodes(a, 0), 7);
  for (int k = 0; k < 7 && k < emi_agg_ncodes(a, 0); k++)
    CHECK_MSG(!strcmp(emi_agg_code(a, 0, k), ind[k]), "code %d", k);
  CHECK_INT_EQ(emi_agg_ncodes(a, 3), 4); /* crossings, decisions, documents, permits */
  CHECK(!strcmp(emi_agg_code(a, 3, 0), "crossings") && !strcmp(emi_agg_code(a, 3, 3), "permits"));
  CHECK_INT_EQ(emi_agg_code_find(a, 3, "documents"), 2);
  CHECK_INT_EQ(emi_agg_code_find(a, 3, "persons"), -1);
  /* periods: 2020, 2021 (12 months each), January-August 2022 */
  CHECK_INT_EQ(emi_agg_nperiods(a), 3);
  int32_t s, m;
  emi_agg_period(a, 0, &s, &m);
  CHECK(s == 2020 * 12 && m == 12);
  emi_agg_period(a, 1, &s, &m);
  CHECK(s == 2021 * 12 && m == 12);
  emi_agg_period(a, 2, &s, &m);
  CHECK(s == 2022 * 12 && m == 8);

  const char *k1[] = {"entries_crossings", "AZ", "FOR_STLS", "crossings"};
  int64_t i = find1(a, k1, "2022-01-01/P8M");
  CHECK_INT_EQ(i, 2); /* third row, file order kept */
  if (i >= 0) {
    CHECK_CLOSE(emi_agg_values(a)[i], 1004156, 0, 0);
    CHECK(!emi_agg_missing(a)[i]);
    CHECK_INT_EQ(emi_agg_period_start(a)[i], 2022 * 12);
    CHECK_INT_EQ(emi_agg_period_months(a)[i], 8);
    CHECK_INT_EQ(emi_agg_period_index(a)[i], 2);
    CHECK_INT_EQ(emi_agg_lines(a)[i], 4);
    CHECK(!strcmp(emi_agg_flag(a, i), ""));
    CHECK(!strcmp(emi_agg_code(a, 0, emi_agg_code_index(a, 0)[i]), "entries_crossings"));
  }
  const char *k2[] = {"exits_crossings", "AZ", "FOR_STLS", "crossings"};
  i = find1(a, k2, "2020");
  CHECK(i >= 0 && emi_agg_values(a)[i] == 848761 && emi_agg_lines(a)[i] == 8);
  const char *k3[] = {"temporary_residence_permits", "AZ", "FOR_STLS", "permits"};
  i = find1(a, k3, "2021");
  CHECK(i >= 0 && emi_agg_values(a)[i] == 45608 && emi_agg_lines(a)[i] == 21);
  /* absent: an existing code combination in a period not in the file, an unknown code */
  CHECK_INT_EQ(find1(a, k3, "2021-Q1"), -1);
  CHECK_INT_EQ(find1(a, k3, "2019"), -1);
  const char *k4[] = {"temporary_residence_permits", "GE", "FOR_STLS", "permits"};
  CHECK_INT_EQ(find1(a, k4, "2021"), -1);
  /* the sum of the column, by hand from the file: entries_crossings 795761 + 791983 + 1004156 */
  double sum = 0;
  for (int64_t j = 0; j < emi_agg_count(a); j++)
    if (emi_agg_code_index(a, 0)[j] == 0) sum += emi_agg_values(a)[j];
  CHECK_CLOSE(sum, 795761.0 + 791983.0 + 1004156.0, 0, 0);
  check_nan_iff_missing(a);
  emi_agg_destroy(&a);
  CHECK(a == NULL);
  emi_agg_destroy(&a);
  emi_agg_destroy(NULL);
}

static void test_azerbaijan_registrations(void)
{
  char path[1024];
  emi_agg_t *a = NULL;
  snprintf(path, sizeof path, "%s/tests/data/agg/azerbaijan_permanent_residence_registrations.csv", srcdir());
  CHECK_OK(load_path(path, &sdmx_spec, &a));
  if (!a) return;
  CHECK_INT_EQ(emi_agg_count(a), 8);
  CHECK_INT_EQ(emi_agg_nperiods(a), 4);
  const char *dep[] = {"departures_permanent_residence", "AZ", "TOTAL", "persons"};
  const char *arr[] = {"arrivals_permanent_residence", "AZ", "TOTAL", "persons"};
  int64_t i = find1(a, dep, "2007");
  CHECK(i >= 0);
  if (i >= 0) {
    CHECK_CLOSE(emi_agg_values(a)[i], 3200, 0, 0);
    CHECK(!strcmp(emi_agg_flag(a, i), "rounded"));
    CHECK_INT_EQ(emi_agg_lines(a)[i], 3);
  }
  i = find1(a, dep, "2016");
  CHECK(i >= 0 && emi_agg_values(a)[i] == 1711 && !strcmp(emi_agg_flag(a, i), ""));
  i = find1(a, arr, "2017-01-01/P5M");
  CHECK(i >= 0 && emi_agg_values(a)[i] == 1078);
  if (i >= 0) CHECK(emi_agg_period_start(a)[i] == 2017 * 12 && emi_agg_period_months(a)[i] == 5);
  CHECK_INT_EQ(find1(a, arr, "2017"), -1); /* the 5-month period is not the year */
  check_nan_iff_missing(a);
  emi_agg_destroy(&a);

  /* the same file with a codelist that lacks 'departures_permanent_residence' */
  static const char *const allowed_ind[] = {"arrivals_permanent_residence", "entries_crossings"};
  emi_agg_codelist_t cl[4] = {{allowed_ind, 2}, {NULL, 0}, {NULL, 0}, {NULL, 0}};
  emi_agg_spec_t sp = sdmx_spec;
  sp.codelists = cl;
  CHECK_ERR(load_path(path, &sp, &a), EMI_ERR_INPUT);
  expect_msg(__LINE__, "azerbaijan_permanent_residence_registrations.csv:3:", "column 'indicator'",
             "code 'departures_permanent_residence' is not in the codelist", "'arrivals_permanent_residence'",
             "'entries_crossings'", (const char *)NULL);
  CHECK(a == NULL);
}

/* Emig and Immi loads of a double-entry file; counts rows with both / one / no report. */
static void pair_counts(const emi_agg_t *emig, const emi_agg_t *immi, int64_t *both, int64_t *one, int64_t *none,
                        int64_t *unpaired)
{
  *both = *one = *none = *unpaired = 0;
  for (int64_t i = 0; i < emi_agg_count(emig); i++) {
    const char *codes[2] = {emi_agg_code(emig, 0, emi_agg_code_index(emig, 0)[i]),
                            emi_agg_code(emig, 1, emi_agg_code_index(emig, 1)[i])};
    int64_t j = -1;
    CHECK_OK(emi_agg_find(immi, codes, emi_agg_period_start(emig)[i], emi_agg_period_months(emig)[i], &j));
    if (j < 0) {
      (*unpaired)++;
      continue;
    }
    int n = !emi_agg_missing(emig)[i] + !emi_agg_missing(immi)[j];
    *both += n == 2;
    *one += n == 1;
    *none += n == 0;
  }
}

static const char *const de_dims[] = {"Sending_iso3", "Receiving_iso3"};
static const char *const de_fcol[] = {"SEX"};
static const char *const de_fval[] = {"Total"};

static emi_agg_spec_t de_spec(const char *value_col)
{
  emi_agg_spec_t s = {.dims = de_dims, .ndims = 2, .time_col = "Year", .value_col = value_col,
                      .filter_cols = de_fcol, .filter_vals = de_fval, .nfilters = 1, .nonnegative = 1};
  return s;
}

static void test_double_entry_excerpt(void)
{
  char path[1024];
  emi_agg_t *e = NULL, *im = NULL;
  snprintf(path, sizeof path, "%s/tests/data/agg/double_entry_excerpt.csv", srcdir());
  emi_agg_spec_t se = de_spec("Emig"), si = de_spec("Immi");
  CHECK_OK(load_path(path, &se, &e));
  CHECK_OK(load_path(path, &si, &im));
  if (!e || !im) goto done;
  CHECK_INT_EQ(emi_agg_count(e), 40);
  CHECK_INT_EQ(emi_agg_count_missing(e), 22); /* 15 only-Immi rows + 7 neither */
  CHECK_INT_EQ(emi_agg_count_missing(im), 14); /* 7 only-Emig rows + 7 neither */
  CHECK(!emi_agg_has_flags(e));
  CHECK_INT_EQ(emi_agg_ncodes(e, 0), 27);
  CHECK_INT_EQ(emi_agg_ncodes(e, 1), 2);
  CHECK(!strcmp(emi_agg_code(e, 0, 0), "AUT") && !strcmp(emi_agg_code(e, 0, 26), "SWE"));
  CHECK(!strcmp(emi_agg_code(e, 1, 0), "BEL") && !strcmp(emi_agg_code(e, 1, 1), "BGR"));
  CHECK_INT_EQ(emi_agg_nperiods(e), 1);

  const char *dnk_bel[] = {"DNK", "BEL"}, *bgr_bel[] = {"BGR", "BEL"}, *esp_bgr[] = {"ESP", "BGR"};
  int64_t i = find1(e, dnk_bel, "2010"), j = find1(im, dnk_bel, "2010");
  CHECK(i >= 0 && j >= 0 && emi_agg_values(e)[i] == 307 && emi_agg_values(im)[j] == 293);
  i = find1(e, bgr_bel, "2010");
  CHECK(i >= 0 && emi_agg_missing(e)[i] && isnan(emi_agg_values(e)[i]));
  if (i >= 0) CHECK_INT_EQ(emi_agg_lines(e)[i], 2);
  j = find1(im, bgr_bel, "2010");
  CHECK(j >= 0 && !emi_agg_missing(im)[j] && emi_agg_values(im)[j] == 3582);
  i = find1(e, esp_bgr, "2010");
  CHECK(i >= 0 && emi_agg_values(e)[i] == 11080);

  int64_t both, one, none, unpaired;
  pair_counts(e, im, &both, &one, &none, &unpaired);
  CHECK_INT_EQ(both, 11);
  CHECK_INT_EQ(one, 22);
  CHECK_INT_EQ(none, 7);
  CHECK_INT_EQ(unpaired, 0);
  check_nan_iff_missing(e);
  check_nan_iff_missing(im);
  emi_agg_destroy(&e);

  /* a filter that matches nothing: zero observations, every row counted as filtered */
  static const char *const male[] = {"Male"};
  se.filter_vals = male;
  CHECK_OK(load_path(path, &se, &e));
  if (e) {
    CHECK_INT_EQ(emi_agg_count(e), 0);
    CHECK_INT_EQ(emi_agg_rows_read(e), 40);
    CHECK_INT_EQ(emi_agg_rows_filtered(e), 40);
    CHECK_INT_EQ(emi_agg_nperiods(e), 0);
  }
  emi_agg_destroy(&e);
  /* alternatives for one column: SEX in {Male, Total} keeps the 40 Total rows */
  static const char *const fcols2[] = {"SEX", "SEX"}, *const fvals2[] = {"Male", "Total"};
  se.filter_cols = fcols2;
  se.filter_vals = fvals2;
  se.nfilters = 2;
  CHECK_OK(load_path(path, &se, &e));
  if (e) CHECK_INT_EQ(emi_agg_count(e), 40);
  /* two different columns must both match: SEX == Total and Receiving_iso3 == BGR -> 14 rows */
  emi_agg_destroy(&e);
  static const char *const fcols3[] = {"SEX", "Receiving_iso3"}, *const fvals3[] = {"Total", "BGR"};
  se.filter_cols = fcols3;
  se.filter_vals = fvals3;
  CHECK_OK(load_path(path, &se, &e));
  if (e) CHECK_INT_EQ(emi_agg_count(e), 14);
  /* without the time column: Sending x Receiving is still unique in one year */
  emi_agg_destroy(&e);
  se = de_spec("Emig");
  se.time_col = NULL;
  CHECK_OK(load_path(path, &se, &e));
  if (e) {
    CHECK(!emi_agg_has_time(e) && emi_agg_period_start(e) == NULL && emi_agg_nperiods(e) == 0);
    i = find1(e, dnk_bel, NULL);
    CHECK(i >= 0 && emi_agg_values(e)[i] == 307);
  }
done:
  emi_agg_destroy(&e);
  emi_agg_destroy(&im);
}

static int bundled(const char *name, char *path, size_t size)
{
  const char *shared = getenv("EMI_SHARED_DATA");
  snprintf(path, size, "%s/inputs/%s", srcdir(), name);
  if (file_exists(path)) return 1;
  if (shared) {
    snprintf(path, size, "%s/%s", shared, name);
    if (file_exists(path)) return 1;
  }
  fprintf(stderr, "test_agg: SKIP %s: not in inputs/ nor in EMI_SHARED_DATA\n", name);
  return 0;
}

static void test_double_entry_full(void)
{
  char path[1024];
  emi_agg_t *e = NULL, *im = NULL;
  if (!bundled("eurostat_double_entry_eu27_2010_2019.csv", path, sizeof path)) return;
  emi_agg_spec_t se = de_spec("Emig"), si = de_spec("Immi");
  CHECK_OK(load_path(path, &se, &e));
  CHECK_OK(load_path(path, &si, &im));
  if (e && im) {
    CHECK_INT_EQ(emi_agg_count(e), 7020); /* 27 x 26 ordered pairs x 10 years */
    CHECK_INT_EQ(emi_agg_count(im), 7020);
    CHECK_INT_EQ(emi_agg_ncodes(e, 0), 27);
    CHECK_INT_EQ(emi_agg_ncodes(e, 1), 27);
    CHECK_INT_EQ(emi_agg_nperiods(e), 10);
    int64_t both, one, none, unpaired;
    pair_counts(e, im, &both, &one, &none, &unpaired);
    CHECK_INT_EQ(both, 1792); /* ../shared/data/SOURCES.md */
    CHECK_INT_EQ(one, 3560);
    CHECK_INT_EQ(none, 1668);
    CHECK_INT_EQ(unpaired, 0);
    check_nan_iff_missing(e);
    check_nan_iff_missing(im);
  }
  emi_agg_destroy(&e);
  emi_agg_destroy(&im);
}

static void test_nz_plt(void)
{
  char path[1024];
  emi_agg_t *a = NULL;
  if (!bundled("nz_plt_by_citizenship_1979_2016.csv", path, sizeof path)) return;
  static const char *const dims[] = {"Measure", "Country", "Citizenship"};
  emi_agg_spec_t s = {.dims = dims, .ndims = 3, .time_col = "Year", .value_col = "Value"};
  CHECK_OK(load_path(path, &s, &a));
  if (a) {
    CHECK_INT_EQ(emi_agg_count(a), 86526);
    CHECK_INT_EQ(emi_agg_count_missing(a), 72); /* SOURCES.md: 72 blank cells */
    CHECK_INT_EQ(emi_agg_ncodes(a, 0), 3);
    CHECK_INT_EQ(emi_agg_nperiods(a), 38);
    check_nan_iff_missing(a);
    /* Net = Arrivals - Departures in every complete triple */
    int32_t net = emi_agg_code_find(a, 0, "Net");
    int64_t triples = 0, wrong = 0;
    for (int64_t i = 0; i < emi_agg_count(a); i++) {
      if (emi_agg_code_index(a, 0)[i] != net || emi_agg_missing(a)[i]) continue;
      const char *c[3] = {"Arrivals", emi_agg_code(a, 1, emi_agg_code_index(a, 1)[i]),
                          emi_agg_code(a, 2, emi_agg_code_index(a, 2)[i])};
      int64_t ia = -1, id = -1;
      CHECK_OK(emi_agg_find(a, c, emi_agg_period_start(a)[i], emi_agg_period_months(a)[i], &ia));
      c[0] = "Departures";
      CHECK_OK(emi_agg_find(a, c, emi_agg_period_start(a)[i], emi_agg_period_months(a)[i], &id));
      if (ia < 0 || id < 0 || emi_agg_missing(a)[ia] || emi_agg_missing(a)[id]) continue;
      triples++;
      wrong += emi_agg_values(a)[i] != emi_agg_values(a)[ia] - emi_agg_values(a)[id];
    }
    CHECK_INT_EQ(triples, 28818);
    CHECK_INT_EQ(wrong, 0);
    const char *au[] = {"Net", "Australia", "Total All Citizenships"};
    int64_t i = find1(a, au, "2016");
    CHECK(i >= 0 && emi_agg_values(a)[i] == 1563 && emi_agg_lines(a)[i] == 85781);
  }
  emi_agg_destroy(&a);
  /* net flows are negative: refused when the caller asks for counts ... */
  s.nonnegative = 1;
  CHECK_ERR(load_path(path, &s, &a), EMI_ERR_INPUT);
  expect_msg(__LINE__, "nz_plt_by_citizenship_1979_2016.csv:1520:", "column 'Value'", "'-32716'", ">= 0",
             (const char *)NULL);
  /* ... and arrivals and departures alone are counts */
  static const char *const fc[] = {"Measure", "Measure"}, *const fv[] = {"Arrivals", "Departures"};
  s.filter_cols = fc;
  s.filter_vals = fv;
  s.nfilters = 2;
  CHECK_OK(load_path(path, &s, &a));
  if (a) {
    CHECK_INT_EQ(emi_agg_count(a), 57684);
    CHECK_INT_EQ(emi_agg_rows_filtered(a), 28842);
    CHECK_INT_EQ(emi_agg_count_missing(a), 48);
  }
  emi_agg_destroy(&a);
}

/* ================================================================ CSV dialect and codes */

static const char *const g_dims[] = {"geo", "sex"};
static const emi_agg_spec_t g_spec = {.dims = g_dims, .ndims = 2, .time_col = "TIME_PERIOD", .value_col = "OBS_VALUE",
                                      .flag_col = "OBS_FLAG"};

static void test_rfc4180(void)
{
  emi_agg_t *a = NULL;
  /* BOM, CRLF, quoted fields with a delimiter, a doubled quote and a line break in a column the
   * spec ignores, codes that look like other things, missing values, a trailing empty line */
  static const char text[] =
      "\xEF\xBB\xBF" "DATAFLOW,LAST UPDATE,geo,sex,label,TIME_PERIOD,OBS_VALUE,OBS_FLAG\r\n"
      "ESTAT:X(1.0),01/10/26 11:00:00,NA,T,\"Namibia, total\",2021,12.5,p\r\n"             /* line 2 */
      "ESTAT:X(1.0),01/10/26 11:00:00,AT,F,\"say \"\"hi\"\"\nsecond line\",2021-Q1,:,c\r\n" /* 3-4 */
      "ESTAT:X(1.0),01/10/26 11:00:00,\"AT\",M,x,2021-03,,bu\r\n"                           /* 5 */
      "ESTAT:X(1.0),01/10/26 11:00:00,a,T,x,2021-S2,-3,\r\n"                                /* 6 */
      "ESTAT:X(1.0),01/10/26 11:00:00,\xC3\x84T,T,x,2022-01/P1Y6M,1e3,\r\n"                 /* 7 */
      "ESTAT:X(1.0),01/10/26 11:00:00,Z,0,\"\",2021,+0.25,\"\"\r\n"                         /* 8 */
      "\r\n";
  CHECK_OK(load_text("rfc4180", text, &g_spec, &a));
  if (!a) return;
  CHECK_INT_EQ(emi_agg_count(a), 6);
  CHECK_INT_EQ(emi_agg_count_missing(a), 2); /* ':' and the empty value */
  /* geo codes bytewise: "AT" < "NA" < "Z" < "a" < "\xC3\x84T" (Ä) */
  CHECK_INT_EQ(emi_agg_ncodes(a, 0), 5);
  static const char *const geo[] = {"AT", "NA", "Z", "a", "\xC3\x84T"};
  for (int k = 0; k < 5 && k < emi_agg_ncodes(a, 0); k++)
    CHECK_MSG(!strcmp(emi_agg_code(a, 0, k), geo[k]), "geo %d", k);
  static const char *const sex[] = {"0", "F", "M", "T"};
  CHECK_INT_EQ(emi_agg_ncodes(a, 1), 4);
  for (int k = 0; k < 4 && k < emi_agg_ncodes(a, 1); k++)
    CHECK_MSG(!strcmp(emi_agg_code(a, 1, k), sex[k]), "sex %d", k);
  const int64_t lines[] = {2, 3, 5, 6, 7, 8};
  for (int k = 0; k < 6; k++) CHECK_INT_EQ(emi_agg_lines(a)[k], lines[k]);
  const char *na_t[] = {"NA", "T"}, *at_f[] = {"AT", "F"}, *at_m[] = {"AT", "M"}, *a_t[] = {"a", "T"};
  const char *ae_t[] = {"\xC3\x84T", "T"}, *z_0[] = {"Z", "0"};
  int64_t i = find1(a, na_t, "2021");
  CHECK(i == 0 && emi_agg_values(a)[0] == 12.5 && !emi_agg_missing(a)[0] && !strcmp(emi_agg_flag(a, 0), "p"));
  i = find1(a, at_f, "2021-Q1");
  CHECK(i == 1 && emi_agg_missing(a)[1] && isnan(emi_agg_values(a)[1]) && !strcmp(emi_agg_flag(a, 1), "c"));
  i = find1(a, at_m, "2021-03");
  CHECK(i == 2 && emi_agg_missing(a)[2] && !strcmp(emi_agg_flag(a, 2), "bu"));
  i = find1(a, a_t, "2021-S2");
  CHECK(i == 3 && emi_agg_values(a)[3] == -3); /* negative accepted without nonnegative */
  i = find1(a, ae_t, "2022-01-01/P18M");
  CHECK(i == 4 && emi_agg_values(a)[4] == 1000 && emi_agg_period_months(a)[4] == 18);
  i = find1(a, z_0, "2021");
  CHECK(i == 5 && emi_agg_values(a)[5] == 0.25 && !strcmp(emi_agg_flag(a, 5), ""));
  CHECK_INT_EQ(find1(a, at_f, "2021"), -1);
  check_nan_iff_missing(a);
  emi_agg_destroy(&a);

  /* LF and lone CR line ends, no final line break, empty lines in between are skipped;
   * a semicolon delimiter; a flag column absent from the header means no flags */
  static const char semi[] = "geo;sex;TIME_PERIOD;OBS_VALUE\rAT;T;2020;1\r\n\nBE;T;2020;2\n\nBE;T;2021;3";
  emi_agg_spec_t s = g_spec;
  s.delimiter = ';';
  CHECK_OK(load_text("semicolon", semi, &s, &a));
  if (a) {
    CHECK_INT_EQ(emi_agg_count(a), 3);
    CHECK(!emi_agg_has_flags(a) && !strcmp(emi_agg_flag(a, 0), ""));
    CHECK(emi_agg_lines(a)[0] == 2 && emi_agg_lines(a)[1] == 4 && emi_agg_lines(a)[2] == 6);
    CHECK_INT_EQ(emi_agg_nperiods(a), 2);
  }
  emi_agg_destroy(&a);

  /* header only: zero observations, not an error */
  CHECK_OK(load_text("header_only", "geo,sex,TIME_PERIOD,OBS_VALUE\n", &g_spec, &a));
  CHECK(a && emi_agg_count(a) == 0 && emi_agg_ncodes(a, 0) == 0 && emi_agg_code_find(a, 0, "AT") == -1);
  if (a) {
    const char *k[] = {"AT", "T"};
    CHECK_INT_EQ(find1(a, k, "2020"), -1);
  }
  emi_agg_destroy(&a);

  /* configured missing tokens replace the defaults: "NaN" missing, ":" then an error */
  static const char *const nan_tok[] = {"NaN"};
  s = g_spec;
  s.missing = nan_tok;
  s.nmissing = 1;
  CHECK_OK(load_text("nan_token", "geo,sex,TIME_PERIOD,OBS_VALUE\nAT,T,2020,NaN\n", &s, &a));
  CHECK(a && emi_agg_count_missing(a) == 1 && isnan(emi_agg_values(a)[0]));
  emi_agg_destroy(&a);
  EXPECT_FAIL("nan_token_colon", "geo,sex,TIME_PERIOD,OBS_VALUE\nAT,T,2020,:\n", &s, EMI_ERR_INPUT, ":2:",
              "found ':'", "'NaN'");
}

/* ================================================================ errors */

static void test_errors(void)
{
  emi_agg_t *a = NULL;
  const emi_agg_spec_t *g = &g_spec;
  const char *hdr = "geo,sex,TIME_PERIOD,OBS_VALUE,OBS_FLAG\n";
  char buf[4096];
#define WITH_HEADER(rows) (snprintf(buf, sizeof buf, "%s%s", hdr, rows), buf)

  /* structure */
  EXPECT_FAIL("fields", WITH_HEADER("AT,T,2020,1,\nAT,F,2020,2\n"), g, EMI_ERR_INPUT, "agg_fields.csv:3:",
              "4 fields, expected 5");
  EXPECT_FAIL("fields_more", WITH_HEADER("AT,T,2020,1,,x\n"), g, EMI_ERR_INPUT, ":2:", "6 fields, expected 5");
  EXPECT_FAIL("fields_semicolon", WITH_HEADER("AT;T;2020;1;\n"), g, EMI_ERR_INPUT, ":2:", "1 field, expected 5",
              "another separator");
  EXPECT_FAIL("no_column", "indicator,geo,sex,TIME_PERIOD,obs_value\n", g, EMI_ERR_INPUT, "agg_no_column.csv:1:",
              "value column 'OBS_VALUE' is not in the header", "did you mean 'obs_value'",
              "'indicator', 'geo', 'sex', 'TIME_PERIOD', 'obs_value'");
  EXPECT_FAIL("no_dim", "geo,TIME_PERIOD,OBS_VALUE\nAT,2020,1\n", g, EMI_ERR_INPUT, ":1:",
              "dimension column 'sex' is not in the header", "'geo', 'TIME_PERIOD', 'OBS_VALUE'");
  EXPECT_FAIL("no_time", "geo,sex,OBS_VALUE\n", g, EMI_ERR_INPUT, "time column 'TIME_PERIOD' is not in the header");
  EXPECT_FAIL("twice", "geo,sex,TIME_PERIOD,OBS_VALUE,geo\n", g, EMI_ERR_INPUT, "'geo' appears twice",
              "columns 1 and 5");
  EXPECT_FAIL("empty", "", g, EMI_ERR_INPUT, "agg_empty.csv: empty file: no header");
  EXPECT_FAIL("bom_only", "\xEF\xBB\xBF", g, EMI_ERR_INPUT, "empty file: no header");
  EXPECT_FAIL("blank_lines", "\n\r\n\n", g, EMI_ERR_INPUT, "empty file: no header");
  EXPECT_FAIL("stray_quote", WITH_HEADER("AT,T\"x,2020,1,\n"), g, EMI_ERR_INPUT, ":2:", "field 2",
              "quote inside an unquoted field");
  EXPECT_FAIL("after_quote", WITH_HEADER("\"AT\"x,T,2020,1,\n"), g, EMI_ERR_INPUT, ":2:", "field 1",
              "'x' after the closing quote");
  EXPECT_FAIL("open_quote", WITH_HEADER("AT,T,2020,1,\nAT,\"F,2020,1,\nBE,T,2020,1,\n"), g, EMI_ERR_INPUT, ":3:",
              "opened on line 3 is not closed");
  {
    static const char nul[] = "geo,sex,TIME_PERIOD,OBS_VALUE\nAT,T,2020,1\nAT,F\0,2020,1\n";
    emi_err_t e = load_bytes("nul", nul, sizeof nul - 1, g, &a);
    CHECK(e == EMI_ERR_INPUT && a == NULL);
    expect_msg(__LINE__, "agg_nul.csv:3:", "NUL byte", (const char *)NULL);
    static const char utf16[] = "\xFF\xFEg\0e\0o\0";
    e = load_bytes("utf16", utf16, sizeof utf16 - 1, g, &a);
    CHECK(e == EMI_ERR_INPUT && a == NULL);
    expect_msg(__LINE__, "UTF-16", (const char *)NULL);
  }

  /* codes */
  EXPECT_FAIL("empty_code", WITH_HEADER("AT,T,2020,1,\n,T,2020,2,\n"), g, EMI_ERR_INPUT, ":3:", "column 'geo'",
              "empty code");
  EXPECT_FAIL("bad_utf8", WITH_HEADER("A\xFF,T,2020,1,\n"), g, EMI_ERR_INPUT, ":2:", "column 'geo'", "A\\xFF",
              "invalid UTF-8");
  EXPECT_FAIL("control", WITH_HEADER("A\tT,T,2020,1,\n"), g, EMI_ERR_INPUT, ":2:", "A\\x09T", "control character");
  EXPECT_FAIL("bad_flag", WITH_HEADER("AT,T,2020,1,p\x01\n"), g, EMI_ERR_INPUT, ":2:", "column 'OBS_FLAG'",
              "control character");
  {
    static const char *const geo_ok[] = {"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "EL", "ES"};
    emi_agg_codelist_t cl[2] = {{geo_ok, 10}, {NULL, 0}};
    emi_agg_spec_t s = g_spec;
    s.codelists = cl;
    EXPECT_FAIL("codelist", WITH_HEADER("AT,T,2020,1,\nBE,T,2020,1,\nGR,T,2020,1,\n"), &s, EMI_ERR_INPUT,
                "agg_codelist.csv:4:", "column 'geo'", "code 'GR' is not in the codelist", "10 codes",
                "'AT', 'BE', 'BG'", ", ...");
    emi_agg_codelist_t none[2] = {{NULL, 0}, {geo_ok, 0}}; /* an empty list allows nothing */
    s.codelists = none;
    EXPECT_FAIL("codelist_empty", WITH_HEADER("AT,T,2020,1,\n"), &s, EMI_ERR_INPUT, ":2:", "column 'sex'",
                "code 'T' is not in the codelist (the codelist is empty)");
    s.codelists = cl;
    CHECK_OK(load_text("codelist_ok", WITH_HEADER("EL,T,2020,1,\nES,T,2020,1,\n"), &s, &a));
    CHECK(a && emi_agg_ncodes(a, 0) == 2); /* observed codes only */
    emi_agg_destroy(&a);
  }

  /* values */
  EXPECT_FAIL("value_12a", WITH_HEADER("AT,T,2020,1,\nAT,F,2020,12a,\n"), g, EMI_ERR_INPUT, "agg_value_12a.csv:3:",
              "column 'OBS_VALUE'", "found '12a'", "expected a number", "':', 'NA', ''");
  EXPECT_FAIL("value_comma", WITH_HEADER("AT,T,2020,\"1,234\",\n"), g, EMI_ERR_INPUT, ":2:", "found '1,234'",
              "thousands separator");
  EXPECT_FAIL("value_tsv", WITH_HEADER("AT,T,2020,1234 p,\n"), g, EMI_ERR_INPUT, ":2:", "found '1234 p'",
              "Eurostat's TSV", "OBS_FLAG");
  EXPECT_FAIL("value_colon_space", WITH_HEADER("AT,T,2020,: ,\n"), g, EMI_ERR_INPUT, ":2:", "found ': '",
              "Eurostat's TSV");
  EXPECT_FAIL("value_nan", WITH_HEADER("AT,T,2020,NaN,\n"), g, EMI_ERR_INPUT, ":2:", "found 'NaN'",
              "missing-value tokens");
  EXPECT_FAIL("value_inf", WITH_HEADER("AT,T,2020,inf,\n"), g, EMI_ERR_INPUT, ":2:", "found 'inf'");
  EXPECT_FAIL("value_hex", WITH_HEADER("AT,T,2020,0x10,\n"), g, EMI_ERR_INPUT, ":2:", "found '0x10'");
  EXPECT_FAIL("value_space", WITH_HEADER("AT,T,2020, 12,\n"), g, EMI_ERR_INPUT, ":2:", "found ' 12'",
              "leading or trailing spaces");
  EXPECT_FAIL("value_space_after", WITH_HEADER("AT,T,2020,5 ,\n"), g, EMI_ERR_INPUT, ":2:", "found '5 '",
              "leading or trailing spaces"); /* not "a value and a flag together" (from a breaker) */
  EXPECT_FAIL("value_flag_colon", WITH_HEADER("AT,T,2020,: c,\n"), g, EMI_ERR_INPUT, ":2:", "found ': c'",
              "Eurostat's TSV");
  EXPECT_FAIL("value_12_5_bep", WITH_HEADER("AT,T,2020,12.5 bep,\n"), g, EMI_ERR_INPUT, ":2:", "Eurostat's TSV");
  EXPECT_FAIL("value_dot", WITH_HEADER("AT,T,2020,.,\n"), g, EMI_ERR_INPUT, ":2:", "found '.'");
  /* a nonzero value that underflows a double is refused (read as 0 it would be a zero unsaid, from a
   * breaker); a subnormal one and zeros written with an exponent are values */
  EXPECT_FAIL("value_underflow", WITH_HEADER("AT,T,2020,1e-400,\n"), g, EMI_ERR_INPUT, ":2:", "found '1e-400'",
              "below the smallest double");
  EXPECT_FAIL("value_underflow_neg", WITH_HEADER("AT,T,2020,-0.0001e-320,\n"), g, EMI_ERR_INPUT, ":2:",
              "below the smallest double");
  {
    static const char *const at_t[] = {"AT", "T"}, *const at_f[] = {"AT", "F"};
    CHECK_OK(load_text("value_tiny", WITH_HEADER("AT,T,2020,5e-324,\nAT,F,2020,0e-400,\n"), g, &a));
    if (a) {
      const double vt = emi_agg_values(a)[find1(a, at_t, "2020")], vf = emi_agg_values(a)[find1(a, at_f, "2020")];
      CHECK_MSG(vt > 0 && vt < 1e-320 && vf == 0.0, "5e-324 read as %g, 0e-400 as %g", vt, vf);
    }
    emi_agg_destroy(&a);
  }
  EXPECT_FAIL("value_exp", WITH_HEADER("AT,T,2020,1e,\n"), g, EMI_ERR_INPUT, ":2:", "found '1e'");
  EXPECT_FAIL("value_huge", WITH_HEADER("AT,T,2020,1e999,\n"), g, EMI_ERR_INPUT, ":2:", "too large");
  {
    emi_agg_spec_t s = g_spec;
    s.nonnegative = 1;
    EXPECT_FAIL("negative", WITH_HEADER("AT,T,2020,0,\nAT,F,2020,-5,\n"), &s, EMI_ERR_INPUT, "agg_negative.csv:3:",
                "column 'OBS_VALUE'", "found '-5'", ">= 0");
    CHECK_OK(load_text("negzero", WITH_HEADER("AT,T,2020,-0,\nAT,F,2020,:,\n"), &s, &a));
    CHECK(a && emi_agg_values(a)[0] == 0 && !signbit(emi_agg_values(a)[0]));
    emi_agg_destroy(&a);
  }

  /* time */
  EXPECT_FAIL("time_week", WITH_HEADER("AT,T,2021-W05,1,\n"), g, EMI_ERR_INPUT, ":2:", "column 'TIME_PERIOD'",
              "'2021-W05'", "week", "YYYY-MM-01/PnM");
  EXPECT_FAIL("time_old", WITH_HEADER("AT,T,2021M03,1,\n"), g, EMI_ERR_INPUT, ":2:", "'2021M03'",
              "not a period emflow understands");
  EXPECT_FAIL("time_empty", WITH_HEADER("AT,T,,1,\n"), g, EMI_ERR_INPUT, ":2:", "column 'TIME_PERIOD'", "is empty");

  /* duplicates: same codes and period, also written differently; kept rows only */
  EXPECT_FAIL("dup", WITH_HEADER("AT,T,2020,1,\nAT,F,2020,2,\nAT,T,2020,3,\n"), g, EMI_ERR_INPUT,
              "agg_dup.csv:4: duplicated observation (geo=AT, sex=T, TIME_PERIOD=2020)",
              "the same codes and period as line 2");
  EXPECT_FAIL("dup_range", WITH_HEADER("AT,T,2022-01-01/P12M,1,\nAT,T,2022-Q1,2,\nAT,T,2022,3,\n"), g,
              EMI_ERR_INPUT, ":4: duplicated observation", "TIME_PERIOD=2022)", "as line 2");
  EXPECT_FAIL("dup_missing", WITH_HEADER("AT,T,2020,:,\nAT,T,2020,:,\n"), g, EMI_ERR_INPUT, ":3: duplicated", "line 2");
  {
    static const char *const fc[] = {"OBS_FLAG"}, *const fv[] = {"keep"};
    emi_agg_spec_t s = g_spec;
    s.filter_cols = fc;
    s.filter_vals = fv;
    s.nfilters = 1;
    CHECK_OK(load_text("dup_filtered", WITH_HEADER("AT,T,2020,1,keep\nAT,T,2020,1x,drop\n"), &s, &a));
    CHECK(a && emi_agg_count(a) == 1 && emi_agg_rows_filtered(a) == 1); /* dropped rows are not parsed */
    emi_agg_destroy(&a);
    static const char *const fbad[] = {"SEX"};
    s.filter_cols = fbad;
    EXPECT_FAIL("filter_col", WITH_HEADER("AT,T,2020,1,\n"), &s, EMI_ERR_INPUT, "filter column 'SEX'",
                "did you mean 'sex'");
  }

  /* the spec and the file system */
  {
    emi_agg_spec_t s = g_spec;
    s.value_col = NULL;
    EXPECT_FAIL("spec_value", hdr, &s, EMI_ERR_ARG, "no value column");
    s = g_spec;
    s.flag_col = "geo";
    EXPECT_FAIL("spec_twice", hdr, &s, EMI_ERR_ARG, "'geo' is named twice");
    s = g_spec;
    s.delimiter = '"';
    EXPECT_FAIL("spec_delim", hdr, &s, EMI_ERR_ARG, "delimiter");
    CHECK_ERR(emi_agg_read_csv("x.csv", &g_spec, NULL), EMI_ERR_ARG);
    CHECK_ERR(emi_agg_read_csv(NULL, &g_spec, &a), EMI_ERR_ARG);
    CHECK_ERR(emi_agg_read_csv("x.csv", NULL, &a), EMI_ERR_ARG);
    snprintf(buf, sizeof buf, "%s/agg_no_such_file.csv", tmpdir());
    CHECK_ERR(load_path(buf, &g_spec, &a), EMI_ERR_IO);
    CHECK(contains(last_msg, "agg_no_such_file.csv: cannot open"));
    CHECK(a == NULL);
  }
#undef WITH_HEADER
}

/* ================================================================ hostile input */

static uint64_t lcg(uint64_t *x)
{
  *x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
  return *x >> 33;
}

static void test_hostile(void)
{
  emi_agg_t *a = NULL;
  size_t n = 3u << 20;
  char *junk = malloc(n + 64);
  if (!junk) {
    CHECK(junk != NULL);
    return;
  }
  /* a very long line: 3 MiB without a line break */
  memcpy(junk, "geo,sex,TIME_PERIOD,OBS_VALUE\n", 30);
  memset(junk + 30, 'x', n - 30);
  CHECK(load_bytes("long_line", junk, n, &g_spec, &a) == EMI_ERR_INPUT && a == NULL);
  expect_msg(__LINE__, "agg_long_line.csv:2:", "longer than 1048576 bytes", (const char *)NULL);
  /* a quote opened and never closed, with many lines after it */
  memcpy(junk + 30, "AT,\"", 4);
  for (size_t k = 34; k < n; k++) junk[k] = "a,b,c,\n"[(k - 34) % 7];
  CHECK(load_bytes("open_quote_long", junk, n, &g_spec, &a) == EMI_ERR_INPUT && a == NULL);
  expect_msg(__LINE__, "opened on line 2", "missing closing quote", (const char *)NULL);
  /* binary junk, several seeds, with and without NUL bytes: an error, never a crash or a hang */
  for (uint64_t seed = 1; seed <= 8; seed++) {
    uint64_t x = seed;
    size_t len = 1 + (size_t)(lcg(&x) % (256 * 1024));
    for (size_t k = 0; k < len; k++) {
      unsigned b = (unsigned)lcg(&x) & 0xFF;
      if (seed % 2 == 0 && b == 0) b = ','; /* even seeds: no NUL bytes */
      junk[k] = (char)b;
    }
    emi_err_t e = load_bytes("junk", junk, len, &g_spec, &a);
    CHECK_MSG(e == EMI_ERR_INPUT && a == NULL, "seed %llu: %s %s", (unsigned long long)seed, emi_err_name(e), last_msg);
    CHECK(strstr(last_msg, "agg_junk.csv") != NULL);
    emi_agg_destroy(&a);
  }
  /* text junk with the right field count: a plausible header, rows of printable noise */
  {
    uint64_t x = 99;
    size_t used = (size_t)snprintf(junk, n, "geo,sex,TIME_PERIOD,OBS_VALUE\n");
    for (int r = 0; r < 1000; r++) {
      for (int f = 0; f < 4; f++) {
        int len = 1 + (int)(lcg(&x) % 8);
        for (int k = 0; k < len; k++) {
          char ch = (char)('!' + lcg(&x) % 90); /* printable ASCII, no quote */
          junk[used++] = ch == '"' ? 'q' : ch;
        }
        junk[used++] = f < 3 ? ',' : '\n';
      }
    }
    emi_err_t e = load_bytes("text_junk", junk, used, &g_spec, &a);
    CHECK_MSG(e == EMI_ERR_INPUT && a == NULL, "%s %s", emi_err_name(e), last_msg);
    CHECK(contains(last_msg, "agg_text_junk.csv:2:"));
  }
  free(junk);
}

/* ================================================================ scale */

static void test_million_rows(void)
{
  char path[1024];
  emi_agg_t *a = NULL;
  const int N = 1000;
  snprintf(path, sizeof path, "%s/agg_million.csv", tmpdir());
  FILE *f = fopen(path, "w");
  if (!f) {
    perror(path);
    CHECK(f != NULL);
    return;
  }
  fputs("geo,partner,TIME_PERIOD,OBS_VALUE\n", f);
  /* codes in a scrambled order (389 and 211 are prime to 1000): sorting must remap them */
  for (int p = 0; p < N; p++)
    for (int q = 0; q < N; q++) fprintf(f, "G%03d,P%03d,2021,%d\n", (p * 389) % N, (q * 211) % N, p * N + q);
  fclose(f);
  static const char *const dims[] = {"geo", "partner"};
  emi_agg_spec_t s = {.dims = dims, .ndims = 2, .time_col = "TIME_PERIOD", .value_col = "OBS_VALUE", .nonnegative = 1};
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  CHECK_OK(load_path(path, &s, &a));
  clock_gettime(CLOCK_MONOTONIC, &t1);
  if (a) {
    fprintf(stderr, "test_agg: 1,000,000 rows loaded in %.2f s (information, not a check)\n",
            (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    CHECK_INT_EQ(emi_agg_count(a), 1000000);
    CHECK_INT_EQ(emi_agg_ncodes(a, 0), N);
    CHECK_INT_EQ(emi_agg_ncodes(a, 1), N);
    CHECK(!strcmp(emi_agg_code(a, 0, 0), "G000") && !strcmp(emi_agg_code(a, 0, 999), "G999"));
    CHECK(!strcmp(emi_agg_code(a, 1, 123), "P123"));
    /* G(p*389 % 1000), P(q*211 % 1000) holds p*1000+q: G389,P211 is p=1,q=1 -> 1001; G000,P000 -> 0 */
    const char *k1[] = {"G389", "P211"}, *k0[] = {"G000", "P000"};
    int64_t i = find1(a, k1, "2021");
    CHECK(i == 1001 && emi_agg_values(a)[i] == 1001 && emi_agg_lines(a)[i] == 1003);
    i = find1(a, k0, "2021");
    CHECK(i == 0 && emi_agg_values(a)[0] == 0);
    /* every observation's codes decode back to its value */
    int64_t wrong = 0;
    for (int64_t j = 0; j < emi_agg_count(a); j++) {
      int p = (int)(j / N), q = (int)(j % N);
      wrong += emi_agg_code_index(a, 0)[j] != (p * 389) % N || emi_agg_code_index(a, 1)[j] != (q * 211) % N ||
               emi_agg_values(a)[j] != (double)j;
    }
    CHECK_INT_EQ(wrong, 0);
  }
  emi_agg_destroy(&a);
  remove(path);
}

int main(void)
{
  test_periods();
  test_azerbaijan_border();
  test_azerbaijan_registrations();
  test_double_entry_excerpt();
  test_double_entry_full();
  test_nz_plt();
  test_rfc4180();
  test_errors();
  test_hostile();
  test_million_rows();
  return emi_test_report("test_agg");
}
