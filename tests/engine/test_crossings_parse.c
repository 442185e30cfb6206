/* test_crossings_parse: emi_crossing_parse and emi_crossing_parse_time (engine/emi_crossings.c, made
 * faster for the parallel ingest: one pass over an unquoted line instead of a copy, an inlined country
 * search, the crossing year from the date text) held to the parser as it was before (commit 3d22a99),
 * copied below unchanged but for the names (ref_*): the plain twin.  On 400,000 random lines built from
 * pools of valid and spoilt field texts (dates with and without times, fractions, offsets that move
 * the day across a year end; quotes, "" escapes, commas in quotes, unterminated quotes, text after a
 * closing quote; blanks, tabs, CR; 7 to 9 fields; keys of 0..70 bytes; lines up to 4100 bytes), both
 * must agree on the verdict, the record (every byte that the parser sets) and the reject (reason,
 * field, text found); every reject reason must occur in the sample.  One deliberate difference: a
 * line too long now reports "(a line longer than 4096 bytes)" instead of its first 40 bytes, which
 * begin with the person key (no identifier in a log); for that reason only the texts are not
 * compared.  A second one: a rejected field's text is shown only when it has its field's shape (a
 * key in another column of a shifted line, control bytes: described instead), so the reference's raw
 * text goes through shown() below before the comparison.  Pure: no MPI, no files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emi_crossings.h"
#include "emi_sim.h"
#include "emi_test.h"

/* ------------------------------------------------------------------ the parser before (reference) */

/* ------------------------------------------------------------------ time */

static int ref_digits(const char *s, int n, int *v)
{
  int x = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return 0;
    x = x * 10 + (s[i] - '0');
  }
  *v = x;
  return 1;
}

static int ref_days_in_month(int y, int m)
{
  static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0) ? 29 : dm[m - 1];
}

static int ref_parse_time(const char *s, size_t len, int32_t *day, int32_t *second)
{
  int y, mo, d, hh, mi, ss = 0;
  if (len < 10 || !ref_digits(s, 4, &y) || s[4] != '-' || !ref_digits(s + 5, 2, &mo) || s[7] != '-' || !ref_digits(s + 8, 2, &d))
    return 0;
  if (y < 1900 || y > 2199 || mo < 1 || mo > 12 || d < 1 || d > ref_days_in_month(y, mo)) return 0;
  int32_t dn = emi_days_from_civil(y, mo, d);
  if (len == 10) {
    *day = dn;
    *second = -1;
    return 1;
  }
  const char *t = s + 11, *e = s + len;
  if ((s[10] != 'T' && s[10] != ' ') || e - t < 5 || !ref_digits(t, 2, &hh) || t[2] != ':' || !ref_digits(t + 3, 2, &mi))
    return 0;
  t += 5;
  if (t < e && *t == ':') {
    if (e - t < 3 || !ref_digits(t + 1, 2, &ss)) return 0;
    t += 3;
    if (t < e && (*t == '.' || *t == ',')) { /* fraction: truncated to the second */
      t++;
      const char *f0 = t;
      while (t < e && *t >= '0' && *t <= '9') t++;
      if (t == f0) return 0;
    }
  }
  if (hh > 23 || mi > 59 || ss > 59) return 0;
  long sec = (long)hh * 3600 + mi * 60 + ss;
  if (t < e) {
    if (*t == 'Z') {
      t++;
    } else if (*t == '+' || *t == '-') {
      int sign = *t == '-' ? -1 : 1, oh, om = 0;
      t++;
      if (e - t < 2 || !ref_digits(t, 2, &oh)) return 0;
      t += 2;
      if (t < e && *t == ':') t++;
      if (e - t >= 2 && ref_digits(t, 2, &om)) t += 2;
      if (oh > 14 || om > 59) return 0;
      sec -= sign * ((long)oh * 3600 + om * 60); /* local time - offset = UTC */
    } else {
      return 0;
    }
  }
  if (t != e) return 0;
  while (sec < 0) sec += 86400, dn--;
  while (sec >= 86400) sec -= 86400, dn++;
  *day = dn;
  *second = (int32_t)sec;
  return 1;
}

/* ------------------------------------------------------------------ one record */

static void ref_set_found(emi_reject_info_t *why, emi_reject_t r, int field, const char *s, size_t n)
{
  why->reason = r;
  why->field = field;
  if (n > sizeof why->found - 1) n = sizeof why->found - 1;
  memcpy(why->found, s, n);
  why->found[n] = '\0';
}

static int ref_printable(const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f) return 0;
  return 1;
}

static int ref_code_cmp(const void *a, const void *b) { return memcmp(a, b, 3); }

static int ref_parse(const char *line, size_t len, const int col[EMI_CROSSINGS_NFIELDS],
                       const emi_country_list_t *countries, emi_crossing_t *rec, emi_reject_info_t *why)
{
  char buf[EMI_CROSSINGS_MAX_LINE + 1];
  size_t fpos[EMI_CROSSINGS_NFIELDS + 1], flen[EMI_CROSSINGS_NFIELDS + 1];
  int nf = 0;
  if (len && line[len - 1] == '\r') len--;
  if (len > EMI_CROSSINGS_MAX_LINE) {
    ref_set_found(why, EMI_REJECT_LINE_TOO_LONG, -1, line, 40);
    return 0;
  }
  int blank = 1;
  for (size_t i = 0; i < len; i++)
    if (line[i] != ' ' && line[i] != '\t') blank = 0;
  if (blank) {
    ref_set_found(why, EMI_REJECT_EMPTY_RECORD, -1, "", 0);
    return 0;
  }
  /* split into fields (copies into buf, quotes removed) */
  size_t i = 0, o = 0;
  for (;;) {
    size_t start = o;
    if (i < len && line[i] == '"') {
      i++;
      for (;;) {
        if (i >= len) { /* unterminated quote */
          ref_set_found(why, EMI_REJECT_FIELD_COUNT, -1, "unterminated quote", 18);
          return 0;
        }
        if (line[i] == '"') {
          if (i + 1 < len && line[i + 1] == '"') buf[o++] = '"', i += 2;
          else {
            i++;
            break;
          }
        } else {
          buf[o++] = line[i++];
        }
      }
      if (i < len && line[i] != ',') {
        ref_set_found(why, EMI_REJECT_FIELD_COUNT, -1, "text after a closing quote", 26);
        return 0;
      }
    } else {
      while (i < len && line[i] != ',') buf[o++] = line[i++];
    }
    if (nf <= EMI_CROSSINGS_NFIELDS) {
      fpos[nf] = start;
      flen[nf] = o - start;
    }
    nf++;
    if (i >= len) break;
    i++; /* the comma */
  }
  if (nf != EMI_CROSSINGS_NFIELDS) {
    char t[48];
    int n = snprintf(t, sizeof t, "%d fields", nf);
    ref_set_found(why, EMI_REJECT_FIELD_COUNT, -1, t, (size_t)n);
    return 0;
  }
  const char *f[EMI_CROSSINGS_NFIELDS];
  size_t n[EMI_CROSSINGS_NFIELDS];
  for (int k = 0; k < EMI_CROSSINGS_NFIELDS; k++) f[k] = buf + fpos[col[k]], n[k] = flen[col[k]];

  /* 0 person_id */
  if (n[0] == 0) return ref_set_found(why, EMI_REJECT_MISSING_KEY, 0, "", 0), 0;
  if (n[0] > EMI_CROSSINGS_KEY_LEN || !ref_printable(f[0], n[0])) return ref_set_found(why, EMI_REJECT_BAD_KEY, 0, f[0], n[0]), 0;
  emi_crossing_set_str(rec->person_id, EMI_CROSSINGS_KEY_LEN, f[0], n[0]);
  /* 1 crossed_at */
  if (!ref_parse_time(f[1], n[1], &rec->day, &rec->second))
    return ref_set_found(why, EMI_REJECT_BAD_DATE, 1, f[1], n[1]), 0;
  /* 2 direction */
  if (n[2] == 2 && !memcmp(f[2], "IN", 2)) rec->direction = EMI_CROSSING_IN;
  else if (n[2] == 3 && !memcmp(f[2], "OUT", 3)) rec->direction = EMI_CROSSING_OUT;
  else return ref_set_found(why, EMI_REJECT_UNKNOWN_DIRECTION, 2, f[2], n[2]), 0;
  /* 3 citizenship */
  if (n[3] != 3 || f[3][0] < 'A' || f[3][0] > 'Z' || f[3][1] < 'A' || f[3][1] > 'Z' || f[3][2] < 'A' || f[3][2] > 'Z')
    return ref_set_found(why, EMI_REJECT_INVALID_COUNTRY, 3, f[3], n[3]), 0;
  if (countries && countries->codes && !bsearch(f[3], countries->codes, (size_t)countries->n, 3, ref_code_cmp))
    return ref_set_found(why, EMI_REJECT_UNKNOWN_COUNTRY, 3, f[3], n[3]), 0;
  memcpy(rec->citizenship, f[3], 3);
  /* 4 border_point, 5 document */
  if (n[4] == 0 || n[4] > EMI_CROSSINGS_CODE_LEN || !ref_printable(f[4], n[4]))
    return ref_set_found(why, EMI_REJECT_BAD_BORDER_POINT, 4, f[4], n[4]), 0;
  emi_crossing_set_str(rec->border_point, EMI_CROSSINGS_CODE_LEN, f[4], n[4]);
  if (n[5] == 0 || n[5] > EMI_CROSSINGS_CODE_LEN || !ref_printable(f[5], n[5]))
    return ref_set_found(why, EMI_REJECT_BAD_DOCUMENT, 5, f[5], n[5]), 0;
  emi_crossing_set_str(rec->document, EMI_CROSSINGS_CODE_LEN, f[5], n[5]);
  /* 6 sex */
  if (n[6] == 1 && f[6][0] == 'M') rec->sex = EMI_SEX_M;
  else if (n[6] == 1 && f[6][0] == 'F') rec->sex = EMI_SEX_F;
  else if (n[6] == 1 && f[6][0] == 'X') rec->sex = EMI_SEX_X;
  else return ref_set_found(why, EMI_REJECT_UNKNOWN_SEX, 6, f[6], n[6]), 0;
  /* 7 birth_year: after the date, so that it can be compared with the crossing year */
  int by;
  if (n[7] != 4 || !ref_digits(f[7], 4, &by)) return ref_set_found(why, EMI_REJECT_BAD_BIRTH_YEAR, 7, f[7], n[7]), 0;
  int cy, cm, cd;
  emi_civil_from_days(rec->day, &cy, &cm, &cd);
  if (by > cy) return ref_set_found(why, EMI_REJECT_BIRTH_AFTER_CROSSING, 7, f[7], n[7]), 0;
  if (cy - by > 120) return ref_set_found(why, EMI_REJECT_BAD_BIRTH_YEAR, 7, f[7], n[7]), 0;
  rec->birth_year = (int16_t)by;
  return 1;
}


/* ------------------------------------------------------------------ random lines */
static uint64_t rng = 0x6a09e667f3bcc908ull;
static uint64_t next_u64(void) /* splitmix64 */
{
  uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static unsigned uni(unsigned n) { return (unsigned)(next_u64() % n); }

static const char *const dates[] = {
  "2021-03-04", "2021-03-04T10:00", "2021-03-04T10:00:59", "2021-03-04T10:00:59.5", "2021-03-04T10:00:59,25Z",
  "2021-03-04 23:59:59", "2020-02-29", "2021-02-29", "2021-13-01", "2021-00-10", "2021-04-31", "1900-01-01",
  "1899-12-31", "2199-12-31", "2200-01-01", "2021-12-31T23:30:00-01:00", "2022-01-01T00:30:00+01:00",
  "2022-01-01T00:30+0100", "2021-12-31T23:30:00-0130", "2021-06-01T12:00:00+14:00", "2021-06-01T12:00:00+15:00",
  "2021-06-01T12:00:00+05:60", "2021-06-01T24:00", "2021-06-01T12:60", "2021-06-01T12:00:60", "2021-06-01T12:00:",
  "2021-06-01T12", "2021-06-01X12:00", "2021-6-01", "21-06-01", "2021-06-01T12:00:00.", "2021-06-01T12:00:00Zx",
  "2021-06-01T12:00:00+1", "2021-06-01T12:00:00+01:0", "2021-06-01T12:00:00+01:", "", " 2021-06-01", "2021-06-01 ",
  "2021-06-01T12:00:00.123456789-12:00", "1900-01-01T00:00:00+01:00", "2199-12-31T23:59:59-01:00"};
static const char *const dirs[] = {"IN", "OUT", "in", "Out", "", "INN", "OU", " IN"};
static const char *const cits[] = {"AZE", "GEO", "RUS", "ZZZ", "Az1", "AZ", "AZER", "", "aze", "XKX", "UNK"};
static const char *const codes[] = {"GYD", "RED-BRIDGE", "", "ABCDEFGHIJKLMNOP", "ABCDEFGHIJKLMNOPQ", "a b", "x\ty"};
static const char *const sexes[] = {"M", "F", "X", "", "m", "MF", "U"};
static const char *const years[] = {"1980", "2021", "2022", "2099", "1901", "1900", "1899", "19x0", "", "980", "01980",
                                    "-198"};

static void put(char *buf, size_t *n, size_t cap, const char *s, size_t len)
{
  if (*n + len > cap) len = cap - *n;
  memcpy(buf + *n, s, len);
  *n += len;
}

static size_t random_line(char *buf, size_t cap)
{
  char f[9][96];
  int nf = 8;
  int kl = (int)uni(100) < 90 ? 1 + (int)uni(40) : (int)uni(71);
  const int dirty = uni(20) == 0; /* a key with blanks or control characters */
  for (int i = 0; i < kl; i++) f[0][i] = (char)(!dirty || uni(4) ? 0x21 + uni(94) : uni(3) ? 0x20u : uni(32));
  f[0][kl] = '\0';
  /* each field: a good value (the first few of its pool) 9 times in 10, any value of the pool else */
#define PICK(pool, good) pool[uni(10) ? uni(good) : uni(sizeof pool / sizeof *pool)]
  snprintf(f[1], 96, "%s", PICK(dates, 7));
  snprintf(f[2], 96, "%s", PICK(dirs, 2));
  snprintf(f[3], 96, "%s", PICK(cits, 3));
  snprintf(f[4], 96, "%s", PICK(codes, 2));
  snprintf(f[5], 96, "%s", PICK(codes, 2));
  snprintf(f[6], 96, "%s", PICK(sexes, 3));
  snprintf(f[7], 96, "%s", PICK(years, 2));
#undef PICK
  snprintf(f[8], 96, "extra");
  if (uni(20) == 0) nf = 7 + (int)uni(3);
  size_t n = 0;
  unsigned style = uni(100);
  if (style < 2) { /* blank or white space */
    put(buf, &n, cap, "  \t ", uni(5));
  } else if (style < 4) { /* long */
    size_t L = 4090 + uni(11);
    memset(buf, 'y', L < cap ? L : cap);
    n = L < cap ? L : cap;
  } else {
    for (int j = 0; j < nf; j++) {
      if (j) put(buf, &n, cap, ",", 1);
      unsigned q = uni(uni(4) ? 1000 : 100); /* most lines without quotes, some with many */
      if (q < 10) { /* quoted, perhaps with "" and a comma inside */
        put(buf, &n, cap, "\"", 1);
        if (q < 3 && j == 0) put(buf, &n, cap, "a\"\",", 4);
        put(buf, &n, cap, f[j], strlen(f[j]));
        if (q != 5) put(buf, &n, cap, "\"", 1); /* 5: unterminated */
        if (q == 6) put(buf, &n, cap, "z", 1);  /* text after the closing quote */
      } else if (q < 12) { /* a quote inside an unquoted field */
        put(buf, &n, cap, f[j], strlen(f[j]));
        put(buf, &n, cap, "\"", 1);
      } else {
        put(buf, &n, cap, f[j], strlen(f[j]));
      }
    }
  }
  if (uni(10) == 0) put(buf, &n, cap, "\r", 1);
  return n;
}

/* What the log may show of a rejected field's text (engine/emi_crossings.c: the value only when it has the
 * shape of its field, else a description; the key never), applied to the reference's raw text: written
 * here with strspn over explicit character sets, independently of the parser's loop. */
static void shown(int field, const char *raw, char *out, size_t size)
{
  static const char digits[] = "0123456789", letters[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  static const char *const what[8] = {"", "a date", "a direction", "a country code", "", "", "a sex code", "a year"};
  char set[160];
  size_t n = strlen(raw), max = 0;
  if (field < 0) {
    snprintf(out, size, "%s", raw);
    return;
  }
  if (field == 0) { /* a missing key is shown empty, any other key withheld */
    snprintf(out, size, "%s", n ? "(withheld: person key)" : "");
    return;
  }
  if (field == 4 || field == 5) {
    if (n == 0) snprintf(out, size, "%s", "");
    else
      snprintf(out, size, "(withheld: %zu bytes, %s)", n,
               n > EMI_CROSSINGS_CODE_LEN ? "longer than a code" : "with bytes that are not printable ASCII");
    return;
  }
  switch (field) {
  case 1: snprintf(set, sizeof set, "%s-:.+/ TZtz", digits), max = 35; break;
  case 2: snprintf(set, sizeof set, "%s", letters), max = 3; break;
  case 3: snprintf(set, sizeof set, "%s%s", letters, digits), max = 4; break;
  case 6: snprintf(set, sizeof set, "%s", letters), max = 2; break;
  default: snprintf(set, sizeof set, "%s-+", digits), max = 6; break;
  }
  if (n <= max && strspn(raw, set) == n) snprintf(out, size, "%s", raw);
  else snprintf(out, size, "(withheld: %zu bytes, not shaped like %s)", n, what[field]);
}

static void check_same(const char *line, size_t n, const int col[8], const emi_country_list_t *c, int *bad)
{
  emi_crossing_t a, b;
  emi_reject_info_t wa, wb;
  memset(&a, 0x5a, sizeof a), memset(&b, 0x5a, sizeof b);
  memset(&wa, 0, sizeof wa), memset(&wb, 0, sizeof wb);
  int ra = emi_crossing_parse(line, n, col, c, &a, &wa), rb = ref_parse(line, n, col, c, &b, &wb);
  int same = ra == rb;
  if (same && ra)
    same = !memcmp(a.person_id, b.person_id, sizeof a.person_id) && a.day == b.day && a.second == b.second &&
           a.direction == b.direction && !memcmp(a.citizenship, b.citizenship, 3) &&
           !memcmp(a.border_point, b.border_point, sizeof a.border_point) &&
           !memcmp(a.document, b.document, sizeof a.document) && a.sex == b.sex && a.birth_year == b.birth_year;
  if (same && !ra) {
    char want[sizeof wb.found];
    shown(wb.field, wb.found, want, sizeof want);
    /* a raw text cut at the reference's buffer: only the kind of description can be compared */
    int cut = strlen(wb.found) == sizeof wb.found - 1;
    same = wa.reason == wb.reason && wa.field == wb.field &&
           (wa.reason == EMI_REJECT_LINE_TOO_LONG ||
            (cut ? !strncmp(wa.found, "(withheld: ", 11) : !strcmp(wa.found, want)));
  }
  if (!same && (*bad)++ < 10)
    CHECK_MSG(0, "line '%.*s' (%zu bytes): %d %s/%d '%s', reference %d %s/%d '%s'", (int)(n < 120 ? n : 120), line, n, ra,
              ra ? "-" : emi_reject_names[wa.reason], wa.field, wa.found, rb, rb ? "-" : emi_reject_names[wb.reason],
              wb.field, wb.found);
  emi_test_checks_++;
}

int main(void)
{
  static char buf[4200];
  static const int canon[8] = {0, 1, 2, 3, 4, 5, 6, 7}, perm[8] = {3, 0, 7, 1, 2, 6, 4, 5};
  int bad = 0, accepted = 0, reasons[EMI_NREJECTS] = {0};
  for (int i = 0; i < 400000; i++) {
    size_t n = random_line(buf, sizeof buf);
    const int *col = i & 1 ? perm : canon;
    const emi_country_list_t *c = i % 3 ? &emi_iso3166_alpha3 : NULL;
    check_same(buf, n, col, c, &bad);
    emi_crossing_t r;
    emi_reject_info_t w;
    if (emi_crossing_parse(buf, n, col, c, &r, &w)) accepted++;
    else reasons[w.reason]++;
  }
  for (int k = 0; k < EMI_NREJECTS; k++) CHECK_MSG(reasons[k] > 0, "no random line was rejected as %s", emi_reject_names[k]);
  /* the sample holds both verdicts in quantity (else the comparison proves little) */
  CHECK_MSG(accepted > 10000 && accepted < 390000, "%d of 400000 random lines accepted", accepted);
  /* the time parser alone, on every date text and on every prefix of them */
  for (size_t k = 0; k < sizeof dates / sizeof *dates; k++)
    for (size_t len = 0; len <= strlen(dates[k]); len++) {
      int32_t d1 = 7, s1 = 7, d2 = 7, s2 = 7;
      int a = emi_crossing_parse_time(dates[k], len, &d1, &s1), b = ref_parse_time(dates[k], len, &d2, &s2);
      CHECK_MSG(a == b && (!a || (d1 == d2 && s1 == s2)), "'%.*s': %d %d %d, reference %d %d %d", (int)len, dates[k], a,
                (int)d1, (int)s1, b, (int)d2, (int)s2);
    }
  /* the deliberate change: a line too long does not show its text (it begins with the person key) */
  {
    emi_crossing_t r;
    emi_reject_info_t w;
    memset(buf, 'K', 4097);
    CHECK(!emi_crossing_parse(buf, 4097, canon, NULL, &r, &w));
    CHECK(w.reason == EMI_REJECT_LINE_TOO_LONG && w.field == -1 && !strchr(w.found, 'K'));
  }
  fprintf(stderr, "test_crossings_parse: %d of 400000 random lines accepted\n", accepted);
  return emi_test_report("test_crossings_parse");
}
