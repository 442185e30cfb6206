/* emi_crossings.c: the compound form of the crossing records, its collective writer, and the
 * validation of one CSV record (see emi_crossings.h). */
#include "emi_crossings.h"

#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "emi_call.h"
#include "emi_cli.h"
#include "emi_sim.h" /* emi_days_from_civil */

#define EMI_REJECT_NAME_(e, name, expected) name,
#define EMI_REJECT_EXP_(e, name, expected) expected,
const char *const emi_reject_names[EMI_NREJECTS] = {EMI_REJECT_LIST(EMI_REJECT_NAME_)};
const char *const emi_reject_expected[EMI_NREJECTS] = {EMI_REJECT_LIST(EMI_REJECT_EXP_)};
const char *const emi_crossings_fields[EMI_CROSSINGS_NFIELDS] = {
  "person_id", "crossed_at", "direction", "citizenship", "border_point", "document", "sex", "birth_year"};

void emi_crossing_set_str(char *dst, size_t size, const char *src, size_t len)
{
  if (len > size) len = size;
  memcpy(dst, src, len);
  if (len < size) memset(dst + len, 0, size - len);
}

/* ------------------------------------------------------------------ time */

void emi_text_escape(char *dst, size_t size, const char *src)
{
  size_t o = 0;
  if (!size) return;
  for (const unsigned char *c = (const unsigned char *)src; *c; c++) {
    const size_t need = (*c >= 0x20 && *c < 0x7f) ? 1 : 4;
    if (o + need + 4 > size) { /* room for "..." and the NUL */
      snprintf(dst + o, size - o, "...");
      return;
    }
    if (need == 1) dst[o++] = (char)*c;
    else o += (size_t)snprintf(dst + o, size - o, "\\x%02x", *c);
  }
  dst[o] = '\0';
}

static int digits(const char *s, int n, int *v)
{
  int x = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return 0;
    x = x * 10 + (s[i] - '0');
  }
  *v = x;
  return 1;
}

static int days_in_month(int y, int m)
{
  static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0) ? 29 : dm[m - 1];
}

/* emi_crossing_parse_time, and *year: the calendar year of *day (UTC) */
static int parse_time(const char *s, size_t len, int32_t *day, int32_t *second, int *year)
{
  int y, mo, d, hh, mi, ss = 0;
  if (len < 10 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' || !digits(s + 8, 2, &d))
    return 0;
  if (y < 1900 || y > 2199 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo)) return 0;
  int32_t dn = emi_days_from_civil(y, mo, d);
  const int32_t local_day = dn;
  if (len == 10) {
    *day = dn;
    *second = -1;
    *year = y;
    return 1;
  }
  const char *t = s + 11, *e = s + len;
  if ((s[10] != 'T' && s[10] != ' ') || e - t < 5 || !digits(t, 2, &hh) || t[2] != ':' || !digits(t + 3, 2, &mi))
    return 0;
  t += 5;
  if (t < e && *t == ':') {
    if (e - t < 3 || !digits(t + 1, 2, &ss)) return 0;
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
      if (e - t < 2 || !digits(t, 2, &oh)) return 0;
      t += 2;
      if (t < e && *t == ':') t++;
      if (e - t >= 2 && digits(t, 2, &om)) t += 2;
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
  if (dn == local_day) {
    *year = y;
  } else { /* the offset moved the day: perhaps into another year */
    int m2, d2;
    emi_civil_from_days(dn, year, &m2, &d2);
  }
  return 1;
}

int emi_crossing_parse_time(const char *s, size_t len, int32_t *day, int32_t *second)
{
  int year;
  return parse_time(s, len, day, second, &year);
}

/* ------------------------------------------------------------------ one record */

static void set_found(emi_reject_info_t *why, emi_reject_t r, int field, const char *s, size_t n)
{
  why->reason = r;
  why->field = field;
  if (n > sizeof why->found - 1) n = sizeof why->found - 1;
  memcpy(why->found, s, n);
  why->found[n] = '\0';
}

/* A rejected field's value goes to the log and the stop message.  On a shifted or garbled line a field can
 * hold another field's text, the person key among them, and any field can hold terminal control bytes.  So
 * the value is shown only when it has the shape of its field (its characters and length: what a mistyped
 * value of that field looks like), and otherwise described: "(withheld: N bytes, not shaped like a date)".
 * The shown characters are all printable ASCII. */
enum { SH_DATE, SH_DIRECTION, SH_COUNTRY, SH_CODE, SH_SEX, SH_YEAR };

static int only_chars(const char *s, size_t n, const char *set, int letters, int digits_ok)
{
  for (size_t i = 0; i < n; i++) {
    const unsigned char c = (unsigned char)s[i];
    if (letters && ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) continue;
    if (digits_ok && c >= '0' && c <= '9') continue;
    if (c && strchr(set, c)) continue;
    return 0;
  }
  return 1;
}

static void set_value(emi_reject_info_t *why, emi_reject_t r, int field, int shape, const char *s, size_t n)
{
  static const char *const what[] = {"a date", "a direction", "a country code", "a code", "a sex code", "a year"};
  int ok = 0;
  switch (shape) {
  case SH_DATE: ok = n <= 35 && only_chars(s, n, "-:.+/ TZtz", 0, 1); break;
  case SH_DIRECTION: ok = n <= 3 && only_chars(s, n, "", 1, 0); break;
  case SH_COUNTRY: ok = n <= 4 && only_chars(s, n, "", 1, 1); break;
  case SH_SEX: ok = n <= 2 && only_chars(s, n, "", 1, 0); break;
  case SH_YEAR: ok = n <= 6 && only_chars(s, n, "-+", 0, 1); break;
  default: ok = n == 0; break; /* a code is rejected only when empty, too long or not printable */
  }
  if (ok) {
    set_found(why, r, field, s, n);
    return;
  }
  char t[sizeof why->found];
  int k;
  if (shape == SH_CODE)
    k = snprintf(t, sizeof t, "(withheld: %zu bytes, %s)", n,
                 n > EMI_CROSSINGS_CODE_LEN ? "longer than a code" : "with bytes that are not printable ASCII");
  else
    k = snprintf(t, sizeof t, "(withheld: %zu bytes, not shaped like %s)", n, what[shape]);
  set_found(why, r, field, t, (size_t)(k < 0 ? 0 : k));
}

static int printable(const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f) return 0;
  return 1;
}

/* Is the 3-letter code c in the sorted list?  (an inlined bsearch: this runs once a record) */
static int country_known(const emi_country_list_t *countries, const char *c)
{
  size_t lo = 0, hi = (size_t)countries->n;
  while (lo < hi) {
    size_t m = lo + (hi - lo) / 2;
    const char *x = countries->codes[m];
    int d = x[0] != c[0] ? (unsigned char)x[0] - (unsigned char)c[0]
          : x[1] != c[1] ? (unsigned char)x[1] - (unsigned char)c[1]
                         : (unsigned char)x[2] - (unsigned char)c[2];
    if (d == 0) return 1;
    if (d < 0) lo = m + 1;
    else hi = m;
  }
  return 0;
}

/* The fields of one CSV line (a trailing '\r' ignored), RFC 4180 quotes removed (into buf, which holds
 * EMI_CROSSINGS_MAX_LINE bytes): returns the number of fields (the first maxf + 1 of them in fstart/flen),
 * or -1 with *why filled when the line is too long, blank, or badly quoted.  Shared by the crossings and
 * the declarations, so both readers split and reject lines the same way. */
static int split_fields(const char *line, size_t len, int maxf, char *buf, const char **fstart, size_t *flen,
                        emi_reject_info_t *why)
{
  int nf = 0;
  if (len && line[len - 1] == '\r') len--;
  if (len > EMI_CROSSINGS_MAX_LINE) { /* the text is not shown: it may begin with the person key */
    char t[48];
    int k = snprintf(t, sizeof t, "(a line longer than %d bytes)", EMI_CROSSINGS_MAX_LINE);
    set_found(why, EMI_REJECT_LINE_TOO_LONG, -1, t, (size_t)k);
    return -1;
  }
  size_t i = 0;
  while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
  if (i == len) {
    set_found(why, EMI_REJECT_EMPTY_RECORD, -1, "", 0);
    return -1;
  }
  /* no quote anywhere: the fields are the comma-separated runs of the line itself (one pass) */
  int quoted = 0;
  {
    const char *p = line;
    for (const char *q = line, *e = line + len;; q++) {
      if (q == e || *q == ',') {
        if (nf <= maxf) fstart[nf] = p, flen[nf] = (size_t)(q - p);
        nf++;
        if (q == e) break;
        p = q + 1;
      } else if (*q == '"') {
        quoted = 1;
        break;
      }
    }
  }
  if (quoted) {
    nf = 0;
    /* split into fields (copies into buf, quotes removed) */
    size_t o = 0;
    i = 0;
    for (;;) {
      size_t start = o;
      if (i < len && line[i] == '"') {
        i++;
        for (;;) {
          if (i >= len) { /* unterminated quote */
            set_found(why, EMI_REJECT_FIELD_COUNT, -1, "unterminated quote", 18);
            return -1;
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
          set_found(why, EMI_REJECT_FIELD_COUNT, -1, "text after a closing quote", 26);
          return -1;
        }
      } else {
        while (i < len && line[i] != ',') buf[o++] = line[i++];
      }
      if (nf <= maxf) {
        fstart[nf] = buf + start;
        flen[nf] = o - start;
      }
      nf++;
      if (i >= len) break;
      i++; /* the comma */
    }
  }
  if (nf != maxf) {
    char t[48];
    int n = snprintf(t, sizeof t, "%d fields", nf);
    set_found(why, EMI_REJECT_FIELD_COUNT, -1, t, (size_t)n);
    return -1;
  }
  return nf;
}

int emi_crossing_parse(const char *line, size_t len, const int col[EMI_CROSSINGS_NFIELDS],
                       const emi_country_list_t *countries, emi_crossing_t *rec, emi_reject_info_t *why)
{
  char buf[EMI_CROSSINGS_MAX_LINE + 1];
  const char *fstart[EMI_CROSSINGS_NFIELDS + 1];
  size_t flen[EMI_CROSSINGS_NFIELDS + 1];
  if (split_fields(line, len, EMI_CROSSINGS_NFIELDS, buf, fstart, flen, why) < 0) return 0;
  const char *f[EMI_CROSSINGS_NFIELDS];
  size_t n[EMI_CROSSINGS_NFIELDS];
  for (int k = 0; k < EMI_CROSSINGS_NFIELDS; k++) f[k] = fstart[col[k]], n[k] = flen[col[k]];

  /* 0 person_id */
  if (n[0] == 0) return set_found(why, EMI_REJECT_MISSING_KEY, 0, "", 0), 0;
  if (n[0] > EMI_CROSSINGS_KEY_LEN || !printable(f[0], n[0])) return set_found(why, EMI_REJECT_BAD_KEY, 0, "(withheld: person key)", 22), 0;
  emi_crossing_set_str(rec->person_id, EMI_CROSSINGS_KEY_LEN, f[0], n[0]);
  /* 1 crossed_at */
  int cy;
  if (!parse_time(f[1], n[1], &rec->day, &rec->second, &cy))
    return set_value(why, EMI_REJECT_BAD_DATE, 1, SH_DATE, f[1], n[1]), 0;
  /* 2 direction */
  if (n[2] == 2 && !memcmp(f[2], "IN", 2)) rec->direction = EMI_CROSSING_IN;
  else if (n[2] == 3 && !memcmp(f[2], "OUT", 3)) rec->direction = EMI_CROSSING_OUT;
  else return set_value(why, EMI_REJECT_UNKNOWN_DIRECTION, 2, SH_DIRECTION, f[2], n[2]), 0;
  /* 3 citizenship */
  if (n[3] != 3 || f[3][0] < 'A' || f[3][0] > 'Z' || f[3][1] < 'A' || f[3][1] > 'Z' || f[3][2] < 'A' || f[3][2] > 'Z')
    return set_value(why, EMI_REJECT_INVALID_COUNTRY, 3, SH_COUNTRY, f[3], n[3]), 0;
  if (countries && countries->codes && !country_known(countries, f[3]))
    return set_value(why, EMI_REJECT_UNKNOWN_COUNTRY, 3, SH_COUNTRY, f[3], n[3]), 0;
  memcpy(rec->citizenship, f[3], 3);
  /* 4 border_point, 5 document */
  if (n[4] == 0 || n[4] > EMI_CROSSINGS_CODE_LEN || !printable(f[4], n[4]))
    return set_value(why, EMI_REJECT_BAD_BORDER_POINT, 4, SH_CODE, f[4], n[4]), 0;
  emi_crossing_set_str(rec->border_point, EMI_CROSSINGS_CODE_LEN, f[4], n[4]);
  if (n[5] == 0 || n[5] > EMI_CROSSINGS_CODE_LEN || !printable(f[5], n[5]))
    return set_value(why, EMI_REJECT_BAD_DOCUMENT, 5, SH_CODE, f[5], n[5]), 0;
  emi_crossing_set_str(rec->document, EMI_CROSSINGS_CODE_LEN, f[5], n[5]);
  /* 6 sex */
  if (n[6] == 1 && f[6][0] == 'M') rec->sex = EMI_SEX_M;
  else if (n[6] == 1 && f[6][0] == 'F') rec->sex = EMI_SEX_F;
  else if (n[6] == 1 && f[6][0] == 'X') rec->sex = EMI_SEX_X;
  else return set_value(why, EMI_REJECT_UNKNOWN_SEX, 6, SH_SEX, f[6], n[6]), 0;
  /* 7 birth_year: after the date, so that it can be compared with the crossing year */
  int by;
  if (n[7] != 4 || !digits(f[7], 4, &by)) return set_value(why, EMI_REJECT_BAD_BIRTH_YEAR, 7, SH_YEAR, f[7], n[7]), 0;
  if (by > cy) return set_value(why, EMI_REJECT_BIRTH_AFTER_CROSSING, 7, SH_YEAR, f[7], n[7]), 0;
  if (cy - by > 120) return set_value(why, EMI_REJECT_BAD_BIRTH_YEAR, 7, SH_YEAR, f[7], n[7]), 0;
  rec->birth_year = (int16_t)by;
  return 1;
}

/* ------------------------------------------------------------------ one declaration */

#define EMI_DECL_REJECT_NAME_(e, name, expected) name,
#define EMI_DECL_REJECT_EXP_(e, name, expected) expected,
const char *const emi_decl_reject_names[EMI_DECL_NREJECTS] = {EMI_DECL_REJECT_LIST(EMI_DECL_REJECT_NAME_)};
const char *const emi_decl_reject_expected[EMI_DECL_NREJECTS] = {EMI_DECL_REJECT_LIST(EMI_DECL_REJECT_EXP_)};
const char *const emi_decl_fields[EMI_DECL_NFIELDS] = {"person_id", "declared_on", "destination"};

int emi_declaration_parse(const char *line, size_t len, const int col[EMI_DECL_NFIELDS],
                          const emi_country_list_t *countries, emi_declaration_t *rec, emi_reject_info_t *why)
{
  char buf[EMI_CROSSINGS_MAX_LINE + 1];
  const char *fstart[EMI_DECL_NFIELDS + 1];
  size_t flen[EMI_DECL_NFIELDS + 1];
  if (split_fields(line, len, EMI_DECL_NFIELDS, buf, fstart, flen, why) < 0) {
    /* the crossings' whole-line reasons, renumbered into the declarations' list */
    why->reason = (emi_reject_t)(why->reason == EMI_REJECT_LINE_TOO_LONG ? EMI_DECL_REJECT_LINE_TOO_LONG
                               : why->reason == EMI_REJECT_EMPTY_RECORD  ? EMI_DECL_REJECT_EMPTY_RECORD
                                                                         : EMI_DECL_REJECT_FIELD_COUNT);
    return 0;
  }
  const char *f[EMI_DECL_NFIELDS];
  size_t n[EMI_DECL_NFIELDS];
  for (int k = 0; k < EMI_DECL_NFIELDS; k++) f[k] = fstart[col[k]], n[k] = flen[col[k]];
  /* 0 person_id (never shown: the reader withholds field 0) */
  if (n[0] == 0) return set_found(why, (emi_reject_t)EMI_DECL_REJECT_MISSING_KEY, 0, "", 0), 0;
  if (n[0] > EMI_CROSSINGS_KEY_LEN || !printable(f[0], n[0]))
    return set_found(why, (emi_reject_t)EMI_DECL_REJECT_BAD_KEY, 0, "(withheld: person key)", 22), 0;
  emi_crossing_set_str(rec->person_id, EMI_CROSSINGS_KEY_LEN, f[0], n[0]);
  rec->keylen = n[0];
  /* 1 declared_on: a date (a date-time is accepted: its UTC day) */
  int32_t sec;
  int y;
  if (!parse_time(f[1], n[1], &rec->day, &sec, &y))
    return set_value(why, (emi_reject_t)EMI_DECL_REJECT_BAD_DATE, 1, SH_DATE, f[1], n[1]), 0;
  /* 2 destination */
  if (n[2] != 3 || f[2][0] < 'A' || f[2][0] > 'Z' || f[2][1] < 'A' || f[2][1] > 'Z' || f[2][2] < 'A' || f[2][2] > 'Z')
    return set_value(why, (emi_reject_t)EMI_DECL_REJECT_INVALID_COUNTRY, 2, SH_COUNTRY, f[2], n[2]), 0;
  if (countries && countries->codes && !country_known(countries, f[2]))
    return set_value(why, (emi_reject_t)EMI_DECL_REJECT_UNKNOWN_COUNTRY, 2, SH_COUNTRY, f[2], n[2]), 0;
  memcpy(rec->destination, f[2], 3);
  return 1;
}

/* ------------------------------------------------------------------ HDF5 types */

static hid_t str_type(size_t size)
{
  hid_t t = H5Tcopy(H5T_C_S1);
  if (t < 0) return t;
  if (H5Tset_size(t, size) < 0 || H5Tset_strpad(t, H5T_STR_NULLPAD) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
    H5Tclose(t);
    return H5I_INVALID_HID;
  }
  return t;
}

static hid_t enum_type(hid_t base, int nv, const char *const names[], const uint8_t values[])
{
  hid_t t = H5Tenum_create(base);
  if (t < 0) return t;
  for (int k = 0; k < nv; k++)
    if (H5Tenum_insert(t, names[k], &values[k]) < 0) {
      H5Tclose(t);
      return H5I_INVALID_HID;
    }
  return t;
}

/* The compound type: file = 1 (packed, little-endian) or memory = 0 (emi_crossing_t). */
static hid_t record_type(int file)
{
  static const char *const dirs[2] = {"IN", "OUT"}, *const sexes[3] = {"M", "F", "X"};
  static const uint8_t dv[2] = {EMI_CROSSING_IN, EMI_CROSSING_OUT}, sv[3] = {EMI_SEX_M, EMI_SEX_F, EMI_SEX_X};
  hid_t t = H5I_INVALID_HID, key = H5I_INVALID_HID, c3 = H5I_INVALID_HID, code = H5I_INVALID_HID;
  hid_t dir = H5I_INVALID_HID, sex = H5I_INVALID_HID, ok = 0;
  hid_t u8 = file ? H5T_STD_U8LE : H5T_NATIVE_UINT8;
  if ((key = str_type(EMI_CROSSINGS_KEY_LEN)) < 0 || (c3 = str_type(3)) < 0 ||
      (code = str_type(EMI_CROSSINGS_CODE_LEN)) < 0 || (dir = enum_type(u8, 2, dirs, dv)) < 0 ||
      (sex = enum_type(u8, 3, sexes, sv)) < 0)
    goto done;
  if (file) {
    size_t o = 0;
    if ((t = H5Tcreate(H5T_COMPOUND, EMI_CROSSINGS_RECORD_BYTES)) < 0) goto done;
#define INS(name, type, size)                                        \
  if (H5Tinsert(t, name, o, type) < 0) goto done;                    \
  o += (size)
    INS("person_id", key, EMI_CROSSINGS_KEY_LEN);
    INS("day", H5T_STD_I32LE, 4);
    INS("second", H5T_STD_I32LE, 4);
    INS("direction", dir, 1);
    INS("citizenship", c3, 3);
    INS("border_point", code, EMI_CROSSINGS_CODE_LEN);
    INS("document", code, EMI_CROSSINGS_CODE_LEN);
    INS("sex", sex, 1);
    INS("birth_year", H5T_STD_I16LE, 2);
#undef INS
    if (o != EMI_CROSSINGS_RECORD_BYTES) goto done;
  } else {
    if ((t = H5Tcreate(H5T_COMPOUND, sizeof(emi_crossing_t))) < 0) goto done;
#define INS(name, member, type)                                                  \
  if (H5Tinsert(t, name, offsetof(emi_crossing_t, member), type) < 0) goto done
    INS("person_id", person_id, key);
    INS("day", day, H5T_NATIVE_INT32);
    INS("second", second, H5T_NATIVE_INT32);
    INS("direction", direction, dir);
    INS("citizenship", citizenship, c3);
    INS("border_point", border_point, code);
    INS("document", document, code);
    INS("sex", sex, sex);
    INS("birth_year", birth_year, H5T_NATIVE_INT16);
#undef INS
  }
  ok = 1;
done:
  if (key >= 0) H5Tclose(key);
  if (c3 >= 0) H5Tclose(c3);
  if (code >= 0) H5Tclose(code);
  if (dir >= 0) H5Tclose(dir);
  if (sex >= 0) H5Tclose(sex);
  if (!ok && t >= 0) {
    H5Tclose(t);
    t = H5I_INVALID_HID;
  }
  return t;
}

/* ------------------------------------------------------------------ the writer */

struct emi_crossings_writer {
  emi_h5_file_t *f;
  MPI_Comm comm;
  int rank, size;
  char *path;
  hid_t did, ftype, mtype, dxpl;
  uint64_t total;  /* records appended by all ranks */
  uint64_t extent; /* current dataset extent */
  uint64_t done;   /* groups written: records [0, done * G * C) are in the file */
  uint64_t k0, nk; /* my chunks in each group: positions [k0, k0 + nk) of the group */
  uint64_t *counts; /* per rank, per append */
  int *scount, *sdisp, *rcount, *rdisp;
  emi_crossing_t *sendbuf, *recvbuf;
  emi_crossing_t *stage; /* my chunks of groups done, done + 1, ...: nk chunks a group, in chunk order */
  size_t sendcap, recvcap, stagecap;
};

#define C_ ((uint64_t)EMI_CROSSINGS_CHUNK)
#define G_ ((uint64_t)EMI_CROSSINGS_GROUP)

/* First position in a group of the chunks of rank r (of P): ceil(r G / P); rank r owns [first(r), first(r+1)). */
static uint64_t group_first(int r, int P) { return ((uint64_t)r * G_ + (uint64_t)P - 1) / (uint64_t)P; }
/* The rank that owns chunk j. */
static int chunk_owner(const emi_crossings_writer_t *w, uint64_t j) { return (int)((j % G_) * (uint64_t)w->size / G_); }
/* Where chunk j (owned by this rank, in a group not yet written) starts in the stage. */
static size_t stage_at(const emi_crossings_writer_t *w, uint64_t j)
{
  return (size_t)(((j / G_ - w->done) * w->nk + (j % G_ - w->k0)) * C_);
}

#define H5W_TRY(call)                                                                     \
  do {                                                                                    \
    if ((call) < 0) {                                                                     \
      err = emi_h5_raise(#call, __FILE__, __LINE__, __func__);                            \
      goto cleanup;                                                                       \
    }                                                                                     \
  } while (0)

void emi_crossings_writer_destroy(emi_crossings_writer_t **pw)
{
  if (!pw || !*pw) return;
  emi_crossings_writer_t *w = *pw;
  if (w->did >= 0) H5Dclose(w->did);
  if (w->ftype >= 0) H5Tclose(w->ftype);
  if (w->mtype >= 0) H5Tclose(w->mtype);
  if (w->dxpl >= 0) H5Pclose(w->dxpl);
  free(w->path);
  free(w->counts);
  free(w->scount);
  free(w->sdisp);
  free(w->rcount);
  free(w->rdisp);
  free(w->sendbuf);
  free(w->recvbuf);
  free(w->stage);
  free(w);
  *pw = NULL;
}

emi_err_t emi_crossings_writer_create(emi_h5_file_t *f, const char *group, emi_crossings_writer_t **out)
{
  emi_err_t err = EMI_SUCCESS, local = EMI_SUCCESS;
  emi_crossings_writer_t *w = NULL;
  hid_t dcpl = H5I_INVALID_HID, space = H5I_INVALID_HID;
  if (!out || !f || !group) return EMI_ERROR(EMI_ERR_ARG, "emi_crossings_writer_create: NULL argument");
  *out = NULL;
  EMI_TRY(emi_h5_group_ensure(f, group));
  w = calloc(1, sizeof *w);
  if (w) {
    w->did = w->ftype = w->mtype = w->dxpl = H5I_INVALID_HID;
    w->f = f;
    w->comm = emi_h5_file_comm(f);
    MPI_Comm_rank(w->comm, &w->rank);
    MPI_Comm_size(w->comm, &w->size);
    w->k0 = group_first(w->rank, w->size);
    w->nk = group_first(w->rank + 1, w->size) - w->k0;
    size_t n = (size_t)w->size;
    w->path = malloc(strlen(group) + sizeof "/records");
    w->counts = malloc(n * sizeof *w->counts);
    w->scount = malloc(n * sizeof(int)), w->sdisp = malloc(n * sizeof(int));
    w->rcount = malloc(n * sizeof(int)), w->rdisp = malloc(n * sizeof(int));
    if (!w->path || !w->counts || !w->scount || !w->sdisp || !w->rcount || !w->rdisp)
      local = EMI_ERROR(EMI_ERR_NOMEM, "cannot allocate the crossings writer");
    else
      sprintf(w->path, "%s/records", strcmp(group, "/") ? group : "");
  } else {
    local = EMI_ERROR(EMI_ERR_NOMEM, "cannot allocate the crossings writer");
  }
  EMI_TRY(emi_mpi_agree(emi_h5_file_comm(f), local, NULL));
  hid_t fid = (hid_t)emi_h5_file_id(f);
  hsize_t dims[1] = {0}, maxdims[1] = {H5S_UNLIMITED}, chunk[1] = {C_};
  H5W_TRY(w->ftype = record_type(1));
  H5W_TRY(w->mtype = record_type(0));
  H5W_TRY(w->dxpl = H5Pcreate(H5P_DATASET_XFER));
  H5W_TRY(H5Pset_dxpl_mpio(w->dxpl, H5FD_MPIO_COLLECTIVE));
  H5W_TRY(dcpl = H5Pcreate(H5P_DATASET_CREATE));
  H5W_TRY(H5Pset_obj_track_times(dcpl, 0));
  H5W_TRY(H5Pset_chunk(dcpl, 1, chunk));
  H5W_TRY(H5Pset_shuffle(dcpl));
  H5W_TRY(H5Pset_deflate(dcpl, EMI_H5_DEFLATE_LEVEL));
  /* every chunk is written whole, once, by one rank: fill values are never needed */
  H5W_TRY(H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY));
  H5W_TRY(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER));
  H5W_TRY(space = H5Screate_simple(1, dims, maxdims));
  H5W_TRY(w->did = H5Dcreate2(fid, w->path, w->ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT));
  *out = w;
  w = NULL;
cleanup:
  if (dcpl >= 0) H5Pclose(dcpl);
  if (space >= 0) H5Sclose(space);
  emi_crossings_writer_destroy(&w);
  return err;
}

static int grow(emi_crossing_t **p, size_t *cap, size_t need)
{
  if (need <= *cap) return 1;
  size_t c = *cap ? *cap : 4096;
  while (c < need) c *= 2;
  emi_crossing_t *q = realloc(*p, c * sizeof *q);
  if (!q) return 0;
  *p = q;
  *cap = c;
  return 1;
}

static void put_le(unsigned char *o, uint32_t v, int n)
{
  for (int i = 0; i < n; i++) o[i] = (unsigned char)(v >> (8 * i));
}

/* Records -> the packed little-endian file layout.  Parallel HDF5 writes filtered datasets only
 * collectively, and falls back to independent I/O when a type conversion is needed, so the memory
 * type handed to H5Dwrite is the file type itself. */
static void pack(const emi_crossing_t *r, size_t n, unsigned char *o)
{
  for (size_t i = 0; i < n; i++, r++, o += EMI_CROSSINGS_RECORD_BYTES) {
    unsigned char *q = o;
    memcpy(q, r->person_id, EMI_CROSSINGS_KEY_LEN), q += EMI_CROSSINGS_KEY_LEN;
    put_le(q, (uint32_t)r->day, 4), q += 4;
    put_le(q, (uint32_t)r->second, 4), q += 4;
    *q++ = r->direction;
    memcpy(q, r->citizenship, 3), q += 3;
    memcpy(q, r->border_point, EMI_CROSSINGS_CODE_LEN), q += EMI_CROSSINGS_CODE_LEN;
    memcpy(q, r->document, EMI_CROSSINGS_CODE_LEN), q += EMI_CROSSINGS_CODE_LEN;
    *q++ = r->sex;
    put_le(q, (uint32_t)(uint16_t)r->birth_year, 2);
  }
}

/* Collective write of this rank's rows [row0, row0 + nrows) (nrows may be 0: empty selection). */
static emi_err_t write_rows(emi_crossings_writer_t *w, uint64_t row0, uint64_t nrows, const emi_crossing_t *data)
{
  emi_err_t err = EMI_SUCCESS, local = EMI_SUCCESS;
  hid_t fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID;
  unsigned char *packed = NULL;
  static const unsigned char none[EMI_CROSSINGS_RECORD_BYTES];
  H5W_TRY(fspace = H5Dget_space(w->did));
  hsize_t one = 1;
  if (nrows > 0) {
    hsize_t start = row0, count = nrows;
    H5W_TRY(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &start, NULL, &count, NULL));
    H5W_TRY(mspace = H5Screate_simple(1, &count, NULL));
  } else {
    H5W_TRY(H5Sselect_none(fspace));
    H5W_TRY(mspace = H5Screate_simple(1, &one, NULL));
    H5W_TRY(H5Sselect_none(mspace));
  }
  if (nrows > 0) {
    if (!(packed = malloc((size_t)nrows * EMI_CROSSINGS_RECORD_BYTES)))
      local = EMI_ERROR(EMI_ERR_NOMEM, "cannot allocate %llu packed records", (unsigned long long)nrows);
    else
      pack(data, (size_t)nrows, packed);
  }
  EMI_TRY(emi_mpi_agree(w->comm, local, NULL));
  if (H5Dwrite(w->did, w->ftype, mspace, fspace, w->dxpl, nrows ? (const void *)packed : (const void *)&none) < 0)
    err = emi_h5_raise("H5Dwrite", __FILE__, __LINE__, __func__);
  /* the write may have failed on some ranks only (a full disk): all return the error, or none */
  EMI_TRY(emi_h5_file_agree(w->f, err));
  uint32_t lc = 0, gc = 0;
  H5W_TRY(H5Pget_mpio_no_collective_cause(w->dxpl, &lc, &gc));
  if (gc != H5D_MPIO_COLLECTIVE)
    EMI_FAIL(EMI_ERR_HDF5, "HDF5 object '%s': the write was not collective (cause 0x%x)", w->path, (unsigned)gc);
cleanup:
  if (fspace >= 0) H5Sclose(fspace);
  if (mspace >= 0) H5Sclose(mspace);
  free(packed);
  return err;
}

static emi_err_t set_extent(emi_crossings_writer_t *w, uint64_t n)
{
  emi_err_t err = EMI_SUCCESS;
  if (n <= w->extent) return EMI_SUCCESS;
  hsize_t d = n;
  if (H5Dset_extent(w->did, &d) < 0) err = emi_h5_raise("H5Dset_extent", __FILE__, __LINE__, __func__);
  EMI_TRY(emi_h5_file_agree(w->f, err)); /* on every rank, as after a write */
  w->extent = n;
cleanup:
  return err;
}

/* Collective: extend the dataset to the end of group `done` (or to `total` for the last, partial
 * group) and write the group, each rank its chunks (one contiguous run of rows).  The HDF5 calls
 * (extents, the union of the selections, the rank order of the chunks) are the same for any number
 * of ranks, so are the file's bytes. */
static emi_err_t write_group(emi_crossings_writer_t *w, int last)
{
  uint64_t g0 = w->done * G_ * C_, end = last ? w->total : g0 + G_ * C_;
  uint64_t r0 = g0 + w->k0 * C_, r1 = r0 + w->nk * C_;
  if (r1 > end) r1 = end;
  if (r0 > r1) r0 = r1;
  EMI_CALL(set_extent(w, end));
  EMI_CALL(write_rows(w, r0, r1 - r0, w->stage));
  if (!last) { /* drop the group from the stage */
    uint64_t later = (w->total - 1) / (G_ * C_) - w->done; /* groups after this one with records */
    size_t keep = (size_t)(later * w->nk * C_);
    if (keep) memmove(w->stage, w->stage + w->nk * C_, keep * sizeof *w->stage);
    w->done++;
  }
  return EMI_SUCCESS;
}

/* BODY for each piece [lo, hi) of records [as, as + ns) that falls in one chunk j, owned by owner_
 * (only the pieces of rank `to` when to >= 0). */
#define FOR_PIECES(as, ns, to, BODY)                                                              \
  if ((ns) > 0)                                                                                   \
    for (uint64_t j = (as) / C_; j <= ((as) + (ns)-1) / C_; j++) {                               \
      uint64_t lo = j * C_ > (as) ? j * C_ : (as), hi = (j + 1) * C_ < (as) + (ns) ? (j + 1) * C_ : (as) + (ns); \
      int owner_ = chunk_owner(w, j);                                                             \
      if ((to) >= 0 && owner_ != (to)) continue;                                                  \
      BODY                                                                                        \
    }

emi_err_t emi_crossings_writer_append(emi_crossings_writer_t *w, size_t n, const emi_crossing_t *recs)
{
  emi_err_t err = EMI_SUCCESS, local = EMI_SUCCESS;
  if (!w) return EMI_ERROR(EMI_ERR_ARG, "emi_crossings_writer_append: no writer");
  const int P = w->size, me = w->rank;
  uint64_t mine = n;
  EMI_MPI_TRY(MPI_Allgather(&mine, 1, MPI_UINT64_T, w->counts, 1, MPI_UINT64_T, w->comm));
  uint64_t base = w->total, before = 0, total = 0;
  for (int r = 0; r < P; r++) {
    if (r < me) before += w->counts[r];
    total += w->counts[r];
  }
  if (total == 0) return EMI_SUCCESS;
  const uint64_t newN = base + total;
  /* send: my records [a, a + n) go, chunk by chunk, to the chunk owners */
  const uint64_t a = base + before;
  size_t sent = 0, recvd = 0;
  for (int d = 0; d < P; d++) w->scount[d] = 0, w->rcount[d] = 0;
  FOR_PIECES(a, (uint64_t)n, -1, { w->scount[owner_] += (int)(hi - lo); })
  /* receive: what each sender s sends me, computed from its range */
  uint64_t as = base;
  for (int s = 0; s < P; s++) {
    FOR_PIECES(as, w->counts[s], me, { w->rcount[s] += (int)(hi - lo); })
    as += w->counts[s];
  }
  for (int d = 0; d < P; d++) {
    w->sdisp[d] = (int)sent, sent += (size_t)w->scount[d];
    w->rdisp[d] = (int)recvd, recvd += (size_t)w->rcount[d];
  }
  /* stage: my chunks of the groups done .. (newN - 1) / (G C) */
  size_t need = (size_t)(((newN - 1) / (G_ * C_) - w->done + 1) * w->nk * C_);
  if (sent * sizeof(emi_crossing_t) > (size_t)INT_MAX / 2 || recvd * sizeof(emi_crossing_t) > (size_t)INT_MAX / 2)
    local = EMI_ERROR(EMI_ERR_ARG, "emi_crossings_writer_append: %zu records in one call: append at most ~5e6 a call",
                      n);
  else if (!grow(&w->sendbuf, &w->sendcap, sent + 1) || !grow(&w->recvbuf, &w->recvcap, recvd + 1) ||
           !grow(&w->stage, &w->stagecap, need + 1))
    local = EMI_ERROR(EMI_ERR_NOMEM, "cannot allocate the crossings exchange buffers (%zu records)", sent + recvd);
  EMI_TRY(emi_mpi_agree(w->comm, local, NULL));
  {
    size_t *fill = NULL;
    EMI_CALLOC(fill, (size_t)P, "send offsets");
    for (int d = 0; d < P; d++) fill[d] = (size_t)w->sdisp[d];
    FOR_PIECES(a, (uint64_t)n, -1, {
      memcpy(w->sendbuf + fill[owner_], recs + (lo - a), (size_t)(hi - lo) * sizeof *recs);
      fill[owner_] += (size_t)(hi - lo);
    })
    free(fill);
  }
  /* bytes for MPI */
  for (int d = 0; d < P; d++) {
    w->scount[d] *= (int)sizeof(emi_crossing_t), w->sdisp[d] *= (int)sizeof(emi_crossing_t);
    w->rcount[d] *= (int)sizeof(emi_crossing_t), w->rdisp[d] *= (int)sizeof(emi_crossing_t);
  }
  EMI_MPI_TRY(MPI_Alltoallv(w->sendbuf, w->scount, w->sdisp, MPI_BYTE, w->recvbuf, w->rcount, w->rdisp, MPI_BYTE,
                            w->comm));
  /* place the received pieces, in sender order, into my chunks */
  {
    const emi_crossing_t *src = w->recvbuf;
    as = base;
    for (int s = 0; s < P; s++) {
      FOR_PIECES(as, w->counts[s], me, {
        memcpy(w->stage + stage_at(w, j) + (lo - j * C_), src, (size_t)(hi - lo) * sizeof *src);
        src += hi - lo;
      })
      as += w->counts[s];
    }
  }
  w->total = newN;
  /* write the complete groups, in order */
  while ((w->done + 1) * G_ * C_ <= w->total) EMI_TRY(write_group(w, 0));
cleanup:
  return err;
}
#undef FOR_PIECES

emi_err_t emi_crossings_writer_finish(emi_crossings_writer_t *w, uint64_t *total)
{
  emi_err_t err = EMI_SUCCESS;
  if (!w) return EMI_ERROR(EMI_ERR_ARG, "emi_crossings_writer_finish: no writer");
  if (w->total > w->done * G_ * C_) EMI_TRY(write_group(w, 1));
  H5Dclose(w->did);
  w->did = H5I_INVALID_HID;
  {
    emi_h5_file_t *f = w->f;
    const char *p = w->path;
    static const char *const attrs[][2] = {
      {"units", ""},
      {"long_name", "border crossing records (one element a record; see the *_long_name attributes)"},
      {"person_id_long_name", "pseudonymised person key (text of the input; hashed at ingest)"},
      {"day_units", "days since 1970-01-01"},
      {"day_long_name", "day of the crossing (UTC)"},
      {"second_units", "s"},
      {"second_long_name", "seconds after 00:00 UTC of day; -1: date only"},
      {"direction_long_name", "IN: entry into the country, OUT: exit"},
      {"citizenship_long_name", "citizenship of the document (ISO 3166-1 alpha-3)"},
      {"border_point_long_name", "border crossing point"},
      {"document_long_name", "document type"},
      {"sex_long_name", "sex (M, F, X: unspecified)"},
      {"birth_year_units", "year"},
      {"birth_year_long_name", "calendar year of birth"},
    };
    for (size_t k = 0; k < sizeof attrs / sizeof attrs[0]; k++) EMI_TRY(emi_h5_attr_str(f, p, attrs[k][0], attrs[k][1]));
    EMI_TRY(emi_h5_attr_int(f, p, "records", (int64_t)w->total));
  }
  if (total) *total = w->total;
cleanup:
  return err;
}
