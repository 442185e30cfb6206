/* test_data_span: the rule that finds the days the data cover (emi_link_data_span, engine/emi_linkage.c;
 * README, classify, "The data start and end") and the parser of one declarations line
 * (emi_declaration_parse, engine/emi_crossings.c).  Every expected value is worked out by hand from the
 * histogram or the line written next to it.  Pure: no MPI, no files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emi_crossings.h"
#include "emi_linkage.h"
#include "emi_test.h"

#define LO 1000 /* day of count[0] */

static void span(const int64_t *c, int n, int32_t gap, double share, int32_t *s, int32_t *e, int *ws, int *we)
{
  emi_link_data_span(c, LO, LO + n - 1, gap, share, s, e, ws, we);
}

int main(void)
{
  enum { N = 400 };
  int64_t *c = calloc(N, sizeof *c);
  int32_t s, e;
  int ws, we;
  /* 1. days 100..299 with 100 records each: S = day 100, E = day 299, nothing moved */
  for (int i = 100; i < 300; i++) c[i] = 100;
  span(c, N, 30, 0.1, &s, &e, &ws, &we);
  CHECK_INT_EQ(s, LO + 100);
  CHECK_INT_EQ(e, LO + 299);
  CHECK_INT_EQ(ws, 0);
  CHECK_INT_EQ(we, 0);
  /* 2. one stray record 31 days after the last one (days 300..330 empty: a run of 31 > 30): gap rule */
  c[331] = 1;
  span(c, N, 30, 0.1, &s, &e, &ws, &we);
  CHECK_INT_EQ(e, LO + 299);
  CHECK_INT_EQ(we, 1);
  /* ... with --data-gap-days 31 the run of 31 empty days is allowed; then the volume rule drops it: 1 record
   * < ceil(0.1 x 100) = 10 (the median of the 28 days with records before it is 100) */
  span(c, N, 31, 0.1, &s, &e, &ws, &we);
  CHECK_INT_EQ(e, LO + 299);
  CHECK_INT_EQ(we, 2);
  /* ... and with --data-min-share 0 (threshold max(1, 0) = 1 record) it stays: the last record's day */
  span(c, N, 31, 0.0, &s, &e, &ws, &we);
  CHECK_INT_EQ(e, LO + 331);
  CHECK_INT_EQ(we, 0);
  c[331] = 0;
  /* 3. a few stray records shortly after the end (days 305 and 312, 2 records each): the volume rule drops
   * both, the later one first (their references: the 28 days with records before them, median 100) */
  c[305] = 2, c[312] = 2;
  span(c, N, 30, 0.1, &s, &e, &ws, &we);
  CHECK_INT_EQ(e, LO + 299);
  CHECK_INT_EQ(we, 2);
  /* ... a last day with exactly ceil(0.1 x 100) = 10 records is kept, one with 9 is not */
  c[305] = c[312] = 0;
  c[300] = 10;
  span(c, N, 30, 0.1, &s, &e, &ws, &we);
  CHECK_INT_EQ(e, LO + 300);
  c[300] = 9;
  span(c, N, 30, 0.1, &s, &e, &ws, &we);
  CHECK_INT_EQ(e, LO + 299);
  c[300] = 0;
  /* 4. a low-volume end that is the data's own level (a closure: the last 40 days at 5 records a day) stays:
   * the reference is the 28 days with records before the day, 5 a day, threshold ceil(0.5) = 1 */
  for (int i = 260; i < 300; i++) c[i] = 5;
  span(c, N, 30, 0.1, &s, &e, &ws, &we);
  CHECK_INT_EQ(e, LO + 299);
  CHECK_INT_EQ(we, 0);
  for (int i = 260; i < 300; i++) c[i] = 100;
  /* 5. the start, mirrored: a stray cluster of 20 records 50 days before the first day (gap rule: they cannot
   * be dropped by volume, 20 >= 10), and one record the day before the first (volume rule) */
  c[50] = 20, c[99] = 1;
  span(c, N, 30, 0.1, &s, &e, &ws, &we);
  CHECK_INT_EQ(s, LO + 100);
  CHECK_INT_EQ(ws, 3);
  CHECK_INT_EQ(e, LO + 299);
  c[50] = c[99] = 0;
  /* 6. strays cannot outvote the data: 30 records on day 399 (more than the threshold, beyond a gap) */
  c[399] = 30;
  span(c, N, 30, 0.1, &s, &e, &ws, &we);
  CHECK_INT_EQ(e, LO + 299);
  CHECK_INT_EQ(we, 1);
  c[399] = 0;
  /* 7. sparse data (1 record every 10 days, days 0, 10, ..., 390): nothing is dropped (gaps of 9 days,
   * every day at the threshold of 1 record) */
  memset(c, 0, N * sizeof *c);
  for (int i = 0; i < N; i += 10) c[i] = 1;
  span(c, N, 30, 0.1, &s, &e, &ws, &we);
  CHECK_INT_EQ(s, LO + 0);
  CHECK_INT_EQ(e, LO + 390);
  CHECK_INT_EQ(ws + we, 0);
  /* 8. no record at all: S = E = lo */
  memset(c, 0, N * sizeof *c);
  span(c, N, 30, 0.1, &s, &e, &ws, &we);
  CHECK_INT_EQ(s, LO);
  CHECK_INT_EQ(e, LO);
  free(c);

  /* the declarations parser: columns person_id,declared_on,destination in the order of the header
   * destination,person_id,declared_on (col[k] = position of field k) */
  {
    static const int col[3] = {1, 2, 0};
    static const struct {
      const char *line;
      int ok, reason, field;
      const char *found;
    } cases[] = {
      {"RUS,k1,2021-03-28", 1, 0, 0, ""},
      {"\"RUS\",\"k1\",\"2021-03-28\"\r", 1, 0, 0, ""},
      {"RUS,k1,2021-03-28T10:00:00+05:00", 1, 0, 0, ""},
      {"", 0, EMI_DECL_REJECT_EMPTY_RECORD, -1, ""},
      {"RUS,k1", 0, EMI_DECL_REJECT_FIELD_COUNT, -1, "2 fields"},
      {"RUS,k1,2021-03-28,x", 0, EMI_DECL_REJECT_FIELD_COUNT, -1, "4 fields"},
      {"RUS,\"k1,2021-03-28", 0, EMI_DECL_REJECT_FIELD_COUNT, -1, "unterminated quote"},
      {"RUS,,2021-03-28", 0, EMI_DECL_REJECT_MISSING_KEY, 0, ""},
      {"RUS,k\x01y,2021-03-28", 0, EMI_DECL_REJECT_BAD_KEY, 0, "(withheld: person key)"},
      {"RUS,k1,2021-02-30", 0, EMI_DECL_REJECT_BAD_DATE, 1, "2021-02-30"},
      {"RUS,k1,28.03.2021", 0, EMI_DECL_REJECT_BAD_DATE, 1, "28.03.2021"},
      {"R1S,k1,2021-03-28", 0, EMI_DECL_REJECT_INVALID_COUNTRY, 2, "R1S"},
      {"RU,k1,2021-03-28", 0, EMI_DECL_REJECT_INVALID_COUNTRY, 2, "RU"},
      {"ZZZ,k1,2021-03-28", 0, EMI_DECL_REJECT_UNKNOWN_COUNTRY, 2, "ZZZ"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
      emi_declaration_t d;
      emi_reject_info_t w;
      int ok = emi_declaration_parse(cases[k].line, strlen(cases[k].line), col, &emi_iso3166_alpha3, &d, &w);
      CHECK_MSG(ok == cases[k].ok, "'%s': verdict %d, expected %d", cases[k].line, ok, cases[k].ok);
      if (ok && cases[k].ok) {
        CHECK(d.keylen == 2 && !memcmp(d.person_id, "k1", 2) && !memcmp(d.destination, "RUS", 3));
        /* 2021-03-28 is day 18714 (2021-01-01 = 18628, + 31 + 28 + 27); the +05:00 time is 05:00 UTC that day */
        CHECK_INT_EQ(d.day, 18714);
      } else if (!ok) {
        CHECK_MSG((int)w.reason == cases[k].reason && w.field == cases[k].field && !strcmp(w.found, cases[k].found),
                  "'%s': reason %s field %d found '%s'", cases[k].line, emi_decl_reject_names[w.reason], w.field, w.found);
        CHECK(!strstr(w.found, "k1")); /* never the key */
      }
    }
    /* ZZZ is accepted when countries are not checked (--no-check-countries: the shape only) */
    emi_declaration_t d;
    emi_reject_info_t w;
    CHECK(emi_declaration_parse("ZZZ,k1,2021-03-28", 17, col, NULL, &d, &w) == 1);
    /* a line too long: reported without its text */
    char *big = malloc(5000);
    memset(big, 'K', 5000);
    CHECK(!emi_declaration_parse(big, 5000, col, NULL, &d, &w));
    CHECK(w.reason == (emi_reject_t)EMI_DECL_REJECT_LINE_TOO_LONG && w.field == -1 && !strchr(w.found, 'K'));
    free(big);
  }
  return emi_test_report("test_data_span");
}
