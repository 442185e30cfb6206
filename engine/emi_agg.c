/* emi_agg.c: aggregate observations from long-format (SDMX-style) CSV; see emi_agg.h.
 *
 * One pass over the file with a streaming RFC 4180 record reader (64 KiB reads, records capped
 * at EMI_AGG_MAX_RECORD_BYTES).  Codes and flags are interned through open-addressing hash
 * tables, duplicates are found through a hash table of observations keyed by (codes, period),
 * so loading is linear in the number of rows.  At the end the codes of each dimension are
 * sorted bytewise and the observation columns remapped, the distinct periods are sorted, and
 * the observation table is rebuilt for emi_agg_find().
 */
#include "emi_agg.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CSV_BUF_BYTES 65536
#define SHOW_BYTES 40      /* bytes of a field quoted in a message */
#define SHOW_BUF 4 * SHOW_BYTES + 8
#define LIST_BUF 512       /* header / codelist listings in messages */
#define CODELIST_SHOWN 8   /* allowed codes quoted in an unknown-code message */

/* ================================================================ text helpers */

static int is_digit(int ch) { return ch >= '0' && ch <= '9'; }

/* Strict UTF-8 (no overlong forms, no surrogates, at most U+10FFFF). */
int emi_utf8_valid(const unsigned char *s, size_t n)
{
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    size_t len;
    unsigned min;
    if (c < 0x80) {
      i++;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      len = 2, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4, min = 0x10000;
    } else {
      return 0;
    }
    if (n - i < len) return 0;
    unsigned cp = c & (0x7Fu >> len);
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xC0) != 0x80) return 0;
      cp = (cp << 6) | (s[i + k] & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    i += len;
  }
  return 1;
}

/* A short printable rendering of `s` for a message: at most SHOW_BYTES bytes, control bytes
 * (and every byte >= 0x80 when s is not valid UTF-8) as \xNN, "..." when cut. */
static const char *show(const char *s, char *buf, size_t size)
{
  size_t n = strlen(s), cut = n > SHOW_BYTES ? SHOW_BYTES : n, used = 0;
  int valid = emi_utf8_valid((const unsigned char *)s, n);
  if (valid)
    while (cut > 0 && cut < n && ((unsigned char)s[cut] & 0xC0) == 0x80) cut--; /* whole characters */
  for (size_t i = 0; i < cut && used + 5 < size; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch < 0x20 || ch == 0x7F || (!valid && ch >= 0x80))
      used += (size_t)snprintf(buf + used, size - used, "\\x%02X", ch);
    else
      buf[used++] = (char)ch;
  }
  if (cut < n && used + 4 < size) memcpy(buf + used, "...", 3), used += 3;
  buf[used < size ? used : size - 1] = '\0';
  return buf;
}

/* NULL when `s` may be stored as a code or flag, otherwise why not. */
static const char *bad_text(const char *s)
{
  size_t n = strlen(s);
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch < 0x20 || ch == 0x7F) return "a control character";
  }
  return emi_utf8_valid((const unsigned char *)s, n) ? NULL : "invalid UTF-8 (emflow reads UTF-8 text)";
}

/* Append `item` to a ", "-separated list in buf (bounded; "..." once full). */
static void list_add(char *buf, size_t size, const char *item)
{
  size_t used = strlen(buf);
  char tmp[SHOW_BUF];
  if (used + 4 >= size || (used >= 3 && !strcmp(buf + used - 3, "..."))) return;
  int n = snprintf(buf + used, size - used, "%s'%s'", used ? ", " : "", show(item, tmp, sizeof tmp));
  if (n < 0 || (size_t)n >= size - used) {
    buf[used] = '\0';
    snprintf(buf + used, size - used, "%s...", used ? ", " : "");
  }
}

/* Decimal number: [+-] digits [. digits] [e [+-] digits] (at least one digit in the mantissa).
 * 1 on success, 0 when the text is not such a number, -1 when it overflows a double, -2 when a
 * nonzero number underflows to 0 (1e-400: read as 0 it would become a structural zero unsaid;
 * subnormal values, such as 5e-324, are kept). */
static int parse_value(const char *s, double *value)
{
  const char *p = s;
  int nd = 0, nonzero = 0;
  if (*p == '+' || *p == '-') p++;
  while (is_digit(*p)) nonzero |= *p != '0', p++, nd++;
  if (*p == '.') {
    p++;
    while (is_digit(*p)) nonzero |= *p != '0', p++, nd++;
  }
  if (nd == 0) return 0;
  if (*p == 'e' || *p == 'E') {
    int ne = 0;
    p++;
    if (*p == '+' || *p == '-') p++;
    while (is_digit(*p)) p++, ne++;
    if (ne == 0) return 0;
  }
  if (*p != '\0') return 0;
  errno = 0;
  char *end = NULL;
  double v = strtod(s, &end);
  if (end != p) return 0; /* a locale whose decimal point is not '.' */
  if ((errno == ERANGE && fabs(v) > 1.0) || !isfinite(v)) return -1;
  if (v == 0.0 && nonzero) return -2;
  *value = v;
  return 1;
}

/* Eurostat TSV writes a value and its flags in one cell: "1234 p", "12.5 bep", ": " or ": c". */
static int looks_like_tsv(const char *s)
{
  const char *sp = strchr(s, ' ');
  double v;
  if (!sp || sp == s) return 0;
  char head[64];
  size_t n = (size_t)(sp - s);
  if (n >= sizeof head) return 0;
  memcpy(head, s, n);
  head[n] = '\0';
  if (strcmp(head, ":") && parse_value(head, &v) != 1) return 0;
  if (!sp[1] && strcmp(head, ":")) return 0; /* "5 ": a trailing space, no flag */
  for (const char *p = sp + 1; *p; p++)
    if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z')) return 0;
  return 1;
}

/* ================================================================ periods */

#define PERIOD_FORMS "YYYY, YYYY-MM, YYYY-Qn, YYYY-Sn or YYYY-MM-01/PnM (also /PnY, /PnYnM)"
#define MONTHS_MAX (10000 * 12) /* first month after 9999-12 */

static int fixed_digits(const char *s, int n, int *v)
{
  int x = 0;
  for (int k = 0; k < n; k++) {
    if (!is_digit(s[k])) return 0;
    x = 10 * x + (s[k] - '0');
  }
  *v = x;
  return 1;
}

static emi_err_t period_error(const char *text, const char *why)
{
  char t[SHOW_BUF];
  return EMI_ERROR(EMI_ERR_INPUT, "period '%s' %s; expected " PERIOD_FORMS, show(text, t, sizeof t), why);
}

/* ISO 8601 duration in whole months: PnY, PnM or PnYnM (n up to 6 digits). */
static int parse_duration(const char *p, int32_t *months)
{
  long total = 0;
  int parts = 0, seen_m = 0;
  if (*p++ != 'P') return 0;
  while (*p) {
    long n = 0;
    int nd = 0;
    while (is_digit(*p) && nd < 7) n = 10 * n + (*p++ - '0'), nd++;
    if (nd == 0 || nd > 6) return 0;
    if (*p == 'Y' && parts == 0 && !seen_m) {
      total += 12 * n;
    } else if (*p == 'M' && !seen_m) {
      total += n;
      seen_m = 1;
    } else {
      return 0;
    }
    p++;
    parts++;
  }
  if (parts == 0 || total < 1 || total > MONTHS_MAX) return 0;
  *months = (int32_t)total;
  return 1;
}

emi_err_t emi_agg_parse_period(const char *text, int32_t *start_month, int32_t *months)
{
  int y = 0, m = 1, d = 1, k = 0;
  int32_t start, len = 0;
  if (!text || !start_month || !months) return EMI_ERROR(EMI_ERR_ARG, "emi_agg_parse_period: NULL argument");
  if (!*text) return period_error(text, "is empty");
  size_t n = strlen(text);
  if (n < 4 || !fixed_digits(text, 4, &y) || (n > 4 && text[4] != '-'))
    return period_error(text, "is not a period emflow understands");
  if (y < 1) return period_error(text, "has year 0 (years run from 1 to 9999)");
  const char *p = text + 5, *range = NULL;
  if (n == 4) { /* YYYY */
    start = (int32_t)y * 12, len = 12;
  } else if ((p[0] == 'Q' || p[0] == 'S') && is_digit(p[1]) && p[2] == '\0') { /* YYYY-Qn, YYYY-Sn */
    k = p[1] - '0';
    int per = p[0] == 'Q' ? 3 : 6, max = p[0] == 'Q' ? 4 : 2;
    if (k < 1 || k > max)
      return period_error(text, p[0] == 'Q' ? "has a quarter outside 1..4" : "has a semester outside 1..2");
    start = (int32_t)(y * 12 + (k - 1) * per), len = per;
  } else if (p[0] == 'W') {
    return period_error(text, "is a week: emflow works in whole months");
  } else if (p[0] == 'A' || p[0] == 'T' || p[0] == 'D') {
    return period_error(text, "is a reporting period emflow does not know");
  } else if (fixed_digits(p, 2, &m) && (p[2] == '\0' || p[2] == '-' || p[2] == '/')) {
    if (m < 1 || m > 12) return period_error(text, "has a month outside 01..12");
    start = (int32_t)(y * 12 + m - 1);
    if (p[2] == '\0') { /* YYYY-MM */
      len = 1;
    } else if (p[2] == '/') { /* YYYY-MM/duration */
      range = p + 3;
    } else { /* YYYY-MM-DD[/duration] */
      if (!fixed_digits(p + 3, 2, &d) || (p[5] != '\0' && p[5] != '/'))
        return period_error(text, "is not a period emflow understands");
      if (p[5] == '\0') return period_error(text, "is a single day: emflow works in whole months");
      if (d != 1) return period_error(text, "starts a range on another day than the first of a month");
      range = p + 6;
    }
    if (range && !parse_duration(range, &len))
      return period_error(text, "has a duration that is not whole months (PnM, PnY or PnYnM, n >= 1)");
  } else {
    return period_error(text, "is not a period emflow understands");
  }
  if ((int64_t)start + len > MONTHS_MAX) return period_error(text, "ends after the year 9999");
  *start_month = start;
  *months = len;
  return EMI_SUCCESS;
}

/* ================================================================ hash tables */

/* Open addressing with linear probing; a slot holds index + 1, 0 is empty; load <= 1/2. */
typedef struct {
  uint32_t *slot;
  size_t mask;
  size_t n;
} hset_t;

typedef uint64_t (*hset_hash_fn)(const void *ctx, uint32_t idx);
typedef int (*hset_eq_fn)(const void *ctx, uint32_t idx, const void *key);

static uint64_t fmix64(uint64_t h)
{
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

static uint64_t hash_str(const char *s)
{
  uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) h = (h ^ *p) * 0x100000001b3ULL;
  return fmix64(h);
}

static emi_err_t hset_init(hset_t *h, size_t want)
{
  size_t cap = 16;
  while (cap < 2 * want) cap *= 2;
  h->slot = calloc(cap, sizeof *h->slot);
  if (!h->slot) return EMI_ERROR(EMI_ERR_NOMEM, "cannot allocate %zu bytes for a hash table", cap * sizeof *h->slot);
  h->mask = cap - 1;
  h->n = 0;
  return EMI_SUCCESS;
}

static void hset_free(hset_t *h)
{
  free(h->slot);
  h->slot = NULL;
  h->mask = h->n = 0;
}

/* The slot holding an entry equal to key, or the empty slot where it would go. */
static size_t hset_probe(const hset_t *h, uint64_t hash, hset_eq_fn eq, const void *ctx, const void *key)
{
  size_t pos = (size_t)hash & h->mask;
  while (h->slot[pos] && !eq(ctx, h->slot[pos] - 1, key)) pos = (pos + 1) & h->mask;
  return pos;
}

/* Put idx into the empty slot pos, then grow when half full. */
static emi_err_t hset_insert(hset_t *h, size_t pos, uint32_t idx, hset_hash_fn hash, const void *ctx)
{
  h->slot[pos] = idx + 1;
  h->n++;
  if (2 * h->n <= h->mask + 1) return EMI_SUCCESS;
  size_t cap = 2 * (h->mask + 1);
  uint32_t *grown = calloc(cap, sizeof *grown);
  if (!grown) return EMI_ERROR(EMI_ERR_NOMEM, "cannot allocate %zu bytes for a hash table", cap * sizeof *grown);
  for (size_t k = 0; k <= h->mask; k++) {
    if (!h->slot[k]) continue;
    size_t p = (size_t)hash(ctx, h->slot[k] - 1) & (cap - 1);
    while (grown[p]) p = (p + 1) & (cap - 1);
    grown[p] = h->slot[k];
  }
  free(h->slot);
  h->slot = grown;
  h->mask = cap - 1;
  return EMI_SUCCESS;
}

/* ---------------------------------------------------------------- string tables (codes, flags) */

typedef struct {
  char **s;
  int32_t n, cap;
  hset_t h;
} strtab_t;

static uint64_t strtab_hash(const void *ctx, uint32_t idx) { return hash_str(((const strtab_t *)ctx)->s[idx]); }
static int strtab_eq(const void *ctx, uint32_t idx, const void *key)
{
  return !strcmp(((const strtab_t *)ctx)->s[idx], (const char *)key);
}

static void strtab_free(strtab_t *t)
{
  for (int32_t k = 0; k < t->n; k++) free(t->s[k]);
  free(t->s);
  hset_free(&t->h);
  memset(t, 0, sizeof *t);
}

/* Index of s in t, adding it when new (*is_new = 1). */
static emi_err_t strtab_intern(strtab_t *t, const char *s, int32_t *idx, int *is_new)
{
  if (!t->h.slot) EMI_CALL(hset_init(&t->h, 16));
  size_t pos = hset_probe(&t->h, hash_str(s), strtab_eq, t, s);
  *is_new = 0;
  if (t->h.slot[pos]) {
    *idx = (int32_t)(t->h.slot[pos] - 1);
    return EMI_SUCCESS;
  }
  if (t->n == INT32_MAX) return EMI_ERROR(EMI_ERR_INPUT, "more than %d distinct codes in one column", INT32_MAX);
  if (t->n == t->cap) {
    int32_t cap = t->cap ? (t->cap > INT32_MAX / 2 ? INT32_MAX : 2 * t->cap) : 16;
    char **grown = realloc(t->s, (size_t)cap * sizeof *grown);
    if (!grown) return EMI_ERROR(EMI_ERR_NOMEM, "cannot grow a code table to %d entries", cap);
    t->s = grown;
    t->cap = cap;
  }
  size_t len = strlen(s) + 1;
  char *copy = malloc(len);
  if (!copy) return EMI_ERROR(EMI_ERR_NOMEM, "cannot allocate %zu bytes for a code", len);
  memcpy(copy, s, len);
  t->s[t->n] = copy;
  EMI_CALL(hset_insert(&t->h, pos, (uint32_t)t->n, strtab_hash, t));
  *idx = t->n++;
  *is_new = 1;
  return EMI_SUCCESS;
}

/* ================================================================ the object */

typedef struct {
  char *name;
  strtab_t codes;          /* sorted bytewise once loaded */
  int32_t *idx;            /* per observation */
  const char **allowed;    /* while loading: sorted copy of the codelist */
  int nallowed, restricted; /* restricted = 0: any code */
} agg_dim_t;

struct emi_agg {
  int ndims;
  agg_dim_t *dim;
  int has_time, has_flags;
  int64_t n, cap;
  int32_t *start, *months, *period_idx, *flag_idx;
  double *value;
  uint8_t *missing;
  int64_t *line;
  int32_t nperiods;
  int32_t *per_start, *per_months;
  strtab_t flags;
  hset_t obs;              /* observations by (codes, period) */
  int32_t *key_codes;      /* scratch while loading: the codes of one observation */
  int64_t rows_read, rows_filtered, nmissing;
};

typedef struct {
  const int32_t *codes;
  int32_t start, months;
} obs_key_t;

static inline uint64_t hash_step(uint64_t h, int32_t v) { return (h ^ (uint32_t)v) * 0x100000001b3ULL + 0x9e37ULL; }

/* The same hash for a key and for a stored observation. */
static uint64_t obs_hash_key(const emi_agg_t *a, const obs_key_t *k)
{
  uint64_t h = 0x9e3779b97f4a7c15ULL;
  for (int d = 0; d < a->ndims; d++) h = hash_step(h, k->codes[d]);
  return fmix64(hash_step(hash_step(h, k->start), k->months));
}

static uint64_t obs_hash(const void *ctx, uint32_t idx)
{
  const emi_agg_t *a = ctx;
  uint64_t h = 0x9e3779b97f4a7c15ULL;
  for (int d = 0; d < a->ndims; d++) h = hash_step(h, a->dim[d].idx[idx]);
  return fmix64(hash_step(hash_step(h, a->start[idx]), a->months[idx]));
}

/* Key of observation i (its codes gathered into the caller's buffer). */
static obs_key_t obs_key_of(const emi_agg_t *a, int64_t i, int32_t *codes)
{
  for (int d = 0; d < a->ndims; d++) codes[d] = a->dim[d].idx[i];
  obs_key_t k = {codes, a->start[i], a->months[i]};
  return k;
}

static int obs_eq(const void *ctx, uint32_t idx, const void *key)
{
  const emi_agg_t *a = ctx;
  const obs_key_t *k = key;
  if (a->start[idx] != k->start || a->months[idx] != k->months) return 0;
  for (int d = 0; d < a->ndims; d++)
    if (a->dim[d].idx[idx] != k->codes[d]) return 0;
  return 1;
}

void emi_agg_destroy(emi_agg_t **agg)
{
  if (!agg || !*agg) return;
  emi_agg_t *a = *agg;
  for (int d = 0; d < a->ndims && a->dim; d++) {
    free(a->dim[d].name);
    strtab_free(&a->dim[d].codes);
    free(a->dim[d].idx);
    free(a->dim[d].allowed);
  }
  free(a->dim);
  free(a->start);
  free(a->months);
  free(a->period_idx);
  free(a->flag_idx);
  free(a->value);
  free(a->missing);
  free(a->line);
  free(a->per_start);
  free(a->per_months);
  strtab_free(&a->flags);
  hset_free(&a->obs);
  free(a->key_codes);
  free(a);
  *agg = NULL;
}

#define GROW(ptr, cap)                                                                    \
  do {                                                                                    \
    void *g_ = realloc((ptr), (size_t)(cap) * sizeof *(ptr));                             \
    if (!g_) return EMI_ERROR(EMI_ERR_NOMEM, "cannot grow the observation table to %lld rows", (long long)(cap)); \
    (ptr) = g_;                                                                           \
  } while (0)

static emi_err_t obs_reserve(emi_agg_t *a)
{
  if (a->n < a->cap) return EMI_SUCCESS;
  int64_t cap = a->cap ? 2 * a->cap : 1024;
  if (cap > EMI_AGG_MAX_OBS) cap = EMI_AGG_MAX_OBS;
  for (int d = 0; d < a->ndims; d++) GROW(a->dim[d].idx, cap);
  GROW(a->start, cap);
  GROW(a->months, cap);
  GROW(a->flag_idx, cap);
  GROW(a->value, cap);
  GROW(a->missing, cap);
  GROW(a->line, cap);
  a->cap = cap;
  return EMI_SUCCESS;
}

/* ================================================================ CSV records */

typedef struct {
  FILE *f;
  const char *path;
  unsigned char *buf;
  size_t pos, len;
  int eof;
  int delim;
  int64_t line;     /* line of the next byte */
  int64_t rec_line; /* line where the current record starts */
  char *rec;        /* the fields of the current record, each NUL-terminated */
  size_t rec_len, rec_cap;
  size_t *off;      /* start of each field in rec */
  size_t nf, off_cap;
} csv_t;

static emi_err_t csv_fill(csv_t *c)
{
  c->pos = 0;
  c->len = c->eof ? 0 : fread(c->buf, 1, CSV_BUF_BYTES, c->f);
  if (c->len == 0) {
    if (ferror(c->f))
      return EMI_ERROR(EMI_ERR_IO, "%s:%lld: read error: %s", c->path, (long long)c->line, strerror(errno));
    c->eof = 1;
  }
  return EMI_SUCCESS;
}

/* Next byte, or -1 at the end of the file. */
static inline emi_err_t csv_get(csv_t *c, int *ch)
{
  if (c->pos == c->len) {
    EMI_CALL(csv_fill(c));
    if (c->len == 0) return *ch = -1, EMI_SUCCESS;
  }
  *ch = c->buf[c->pos++];
  return EMI_SUCCESS;
}

/* Consume the next byte if it is `want` (a LF after a CR). */
static emi_err_t csv_skip_if(csv_t *c, int want, int *skipped)
{
  *skipped = 0;
  if (c->pos == c->len) {
    EMI_CALL(csv_fill(c));
    if (c->len == 0) return EMI_SUCCESS;
  }
  if (c->buf[c->pos] == want) c->pos++, *skipped = 1;
  return EMI_SUCCESS;
}

static inline emi_err_t csv_put(csv_t *c, char ch)
{
  if (c->rec_len == c->rec_cap) {
    size_t cap = c->rec_cap ? 2 * c->rec_cap : 1024;
    char *grown = realloc(c->rec, cap);
    if (!grown) return EMI_ERROR(EMI_ERR_NOMEM, "cannot allocate %zu bytes for a CSV record", cap);
    c->rec = grown;
    c->rec_cap = cap;
  }
  c->rec[c->rec_len++] = ch;
  return EMI_SUCCESS;
}

static emi_err_t csv_field_begin(csv_t *c)
{
  if (c->nf == c->off_cap) {
    size_t cap = c->off_cap ? 2 * c->off_cap : 64;
    size_t *grown = realloc(c->off, cap * sizeof *grown);
    if (!grown) return EMI_ERROR(EMI_ERR_NOMEM, "cannot allocate %zu fields for a CSV record", cap);
    c->off = grown;
    c->off_cap = cap;
  }
  c->off[c->nf++] = c->rec_len;
  return EMI_SUCCESS;
}

static const char *csv_field(const csv_t *c, size_t k) { return c->rec + c->off[k]; }

/* Read the next record into c->rec / c->off / c->nf, skipping empty lines; *got = 0 at the end. */
static emi_err_t csv_next(csv_t *c, int *got)
{
  enum { AT_START, UNQUOTED, QUOTED, QUOTE_IN_QUOTED } st;
  for (;;) {
    size_t raw = 0;
    int any = 0, ch = -1, lf = 0;
    int64_t quote_line = 0;
    c->rec_len = 0;
    c->nf = 0;
    c->rec_line = c->line;
    st = AT_START;
    EMI_CALL(csv_field_begin(c));
    for (;;) {
      EMI_CALL(csv_get(c, &ch));
      if (ch == 0)
        return EMI_ERROR(EMI_ERR_INPUT, "%s:%lld: NUL byte in field %zu: not a text file (emflow reads UTF-8 CSV)",
                         c->path, (long long)c->line, c->nf);
      if (ch >= 0 && ++raw > EMI_AGG_MAX_RECORD_BYTES) {
        if (st == QUOTED)
          return EMI_ERROR(EMI_ERR_INPUT, "%s:%lld: the quoted field opened on line %lld is still open after %d bytes "
                           "(a missing closing quote?)", c->path, (long long)c->rec_line, (long long)quote_line,
                           EMI_AGG_MAX_RECORD_BYTES);
        return EMI_ERROR(EMI_ERR_INPUT, "%s:%lld: record longer than %d bytes (not a CSV file of aggregates?)",
                         c->path, (long long)c->rec_line, EMI_AGG_MAX_RECORD_BYTES);
      }
      if (st == QUOTED) {
        if (ch < 0)
          return EMI_ERROR(EMI_ERR_INPUT, "%s:%lld: the quoted field %zu opened on line %lld is not closed at the end "
                           "of the file", c->path, (long long)c->rec_line, c->nf, (long long)quote_line);
        if (ch == '"') {
          st = QUOTE_IN_QUOTED;
          continue;
        }
        if (ch == '\n') c->line++;
        if (ch == '\r') {
          EMI_CALL(csv_skip_if(c, '\n', &lf));
          if (lf) {
            EMI_CALL(csv_put(c, '\r'));
            ch = '\n';
          }
          c->line++;
        }
        EMI_CALL(csv_put(c, (char)ch));
        continue;
      }
      if (st == QUOTE_IN_QUOTED) {
        if (ch == '"') {
          EMI_CALL(csv_put(c, '"'));
          st = QUOTED;
          continue;
        }
        if (ch != c->delim && ch != '\n' && ch != '\r' && ch >= 0) {
          char t[SHOW_BUF], s[2] = {(char)ch, '\0'};
          return EMI_ERROR(EMI_ERR_INPUT, "%s:%lld: field %zu: '%s' after the closing quote (a quote inside a "
                           "quoted field is written twice: \"\")", c->path, (long long)c->line, c->nf,
                           show(s, t, sizeof t));
        }
      }
      if (ch == c->delim) {
        EMI_CALL(csv_put(c, '\0'));
        EMI_CALL(csv_field_begin(c));
        st = AT_START;
        any = 1;
        continue;
      }
      if (ch == '\n' || ch == '\r' || ch < 0) {
        if (ch == '\r') EMI_CALL(csv_skip_if(c, '\n', &lf));
        if (ch >= 0) c->line++;
        EMI_CALL(csv_put(c, '\0'));
        break;
      }
      if (ch == '"') {
        if (st == AT_START) {
          st = QUOTED;
          quote_line = c->line;
          any = 1;
          continue;
        }
        return EMI_ERROR(EMI_ERR_INPUT, "%s:%lld: field %zu: a quote inside an unquoted field (quote the whole field "
                         "and write the quote twice: \"a\"\"b\")", c->path, (long long)c->line, c->nf);
      }
      EMI_CALL(csv_put(c, (char)ch));
      st = UNQUOTED;
      any = 1;
    }
    if (any) {
      *got = 1;
      return EMI_SUCCESS;
    }
    if (ch < 0) { /* nothing left */
      *got = 0;
      return EMI_SUCCESS;
    }
    /* an empty line: skip it */
  }
}

/* ================================================================ spec and header */

static const char *const default_missing[] = {":", "NA", ""};

static int has_text(const char *s) { return s && *s; }

static emi_err_t check_spec(const char *path, const emi_agg_spec_t *s)
{
  if (!path) return EMI_ERROR(EMI_ERR_ARG, "emi_agg_read_csv: NULL path");
  if (!s) return EMI_ERROR(EMI_ERR_ARG, "emi_agg_read_csv: NULL spec");
  if (s->ndims < 0 || (s->ndims > 0 && !s->dims))
    return EMI_ERROR(EMI_ERR_ARG, "aggregate spec: %d dimensions but no names", s->ndims);
  if (!has_text(s->value_col)) return EMI_ERROR(EMI_ERR_ARG, "aggregate spec: no value column");
  if (s->time_col && !*s->time_col) return EMI_ERROR(EMI_ERR_ARG, "aggregate spec: empty time column name");
  if (s->flag_col && !*s->flag_col) return EMI_ERROR(EMI_ERR_ARG, "aggregate spec: empty flag column name");
  if (s->missing && s->nmissing < 0) return EMI_ERROR(EMI_ERR_ARG, "aggregate spec: %d missing tokens", s->nmissing);
  for (int k = 0; s->missing && k < s->nmissing; k++)
    if (!s->missing[k]) return EMI_ERROR(EMI_ERR_ARG, "aggregate spec: missing token %d is NULL", k);
  if (s->nfilters < 0 || (s->nfilters > 0 && (!s->filter_cols || !s->filter_vals)))
    return EMI_ERROR(EMI_ERR_ARG, "aggregate spec: %d filters but no columns or values", s->nfilters);
  for (int k = 0; k < s->nfilters; k++)
    if (!has_text(s->filter_cols[k]) || !s->filter_vals[k])
      return EMI_ERROR(EMI_ERR_ARG, "aggregate spec: filter %d has no column or no value", k);
  if (s->delimiter == '"' || s->delimiter == '\n' || s->delimiter == '\r')
    return EMI_ERROR(EMI_ERR_ARG, "aggregate spec: a quote or line break cannot be the field delimiter");
  /* every named column once: dimensions, time, value, flag */
  int nnames = s->ndims + 3;
  for (int i = 0; i < nnames; i++) {
    const char *ni = i < s->ndims        ? s->dims[i]
                     : i == s->ndims     ? s->time_col
                     : i == s->ndims + 1 ? s->value_col
                                         : s->flag_col;
    if (i < s->ndims && !has_text(ni)) return EMI_ERROR(EMI_ERR_ARG, "aggregate spec: dimension %d has no name", i);
    if (!ni) continue;
    for (int j = 0; j < i; j++) {
      const char *nj = j < s->ndims ? s->dims[j] : j == s->ndims ? s->time_col : s->value_col;
      if (nj && !strcmp(ni, nj))
        return EMI_ERROR(EMI_ERR_ARG, "aggregate spec: column '%s' is named twice (a column is a dimension, the "
                         "time, the value or the flag, only one of them)", ni);
    }
  }
  for (int d = 0; s->codelists && d < s->ndims; d++) {
    const emi_agg_codelist_t *cl = &s->codelists[d];
    if (cl->codes && cl->ncodes < 0)
      return EMI_ERROR(EMI_ERR_ARG, "aggregate spec: codelist %d has %d codes", d, cl->ncodes);
    for (int k = 0; cl->codes && k < cl->ncodes; k++)
      if (!cl->codes[k])
        return EMI_ERROR(EMI_ERR_ARG, "aggregate spec: codelist of '%s': code %d is NULL", s->dims[d], k);
  }
  return EMI_SUCCESS;
}

/* Lower-case, space-trimmed equality (for "did you mean" hints). */
static int loose_eq(const char *a, const char *b)
{
  while (*a == ' ') a++;
  while (*b == ' ') b++;
  size_t na = strlen(a), nb = strlen(b);
  while (na && a[na - 1] == ' ') na--;
  while (nb && b[nb - 1] == ' ') nb--;
  if (na != nb) return 0;
  for (size_t i = 0; i < na; i++) {
    int x = (unsigned char)a[i], y = (unsigned char)b[i];
    if (x >= 'A' && x <= 'Z') x += 32;
    if (y >= 'A' && y <= 'Z') y += 32;
    if (x != y) return 0;
  }
  return 1;
}

/* Column of `name` in the header: -1 when absent and !required; an error when absent and
 * required (listing the header) or present twice. */
static emi_err_t find_col(const char *path, long long hline, char *const *hdr, size_t nh, const char *name,
                          const char *role, int required, int *col)
{
  int found = -1;
  char t[SHOW_BUF];
  for (size_t k = 0; k < nh; k++) {
    if (strcmp(hdr[k], name)) continue;
    if (found >= 0)
      return EMI_ERROR(EMI_ERR_INPUT, "%s:%lld: the %s column '%s' appears twice in the header (columns %d and %zu)",
                       path, hline, role, show(name, t, sizeof t), found + 1, k + 1);
    found = (int)k;
  }
  *col = found;
  if (found >= 0 || !required) return EMI_SUCCESS;
  char list[LIST_BUF] = "", hint[SHOW_BUF + 32] = "", h[SHOW_BUF];
  for (size_t k = 0; k < nh; k++) {
    list_add(list, sizeof list, hdr[k]);
    if (!hint[0] && loose_eq(hdr[k], name))
      snprintf(hint, sizeof hint, " (did you mean '%s'?)", show(hdr[k], h, sizeof h));
  }
  return EMI_ERROR(EMI_ERR_INPUT, "%s:%lld: the %s column '%s' is not in the header%s; the header has %zu column%s: %s",
                   path, hline, role, show(name, t, sizeof t), hint, nh, nh == 1 ? "" : "s", list);
}

static int cmp_str(const void *x, const void *y) { return strcmp(*(const char *const *)x, *(const char *const *)y); }

/* ================================================================ finishing */

typedef struct {
  const char *s;
  int32_t old;
} code_sort_t;

static int cmp_code_sort(const void *x, const void *y)
{
  return strcmp(((const code_sort_t *)x)->s, ((const code_sort_t *)y)->s);
}

static int cmp_u64(const void *x, const void *y)
{
  uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
  return (a > b) - (a < b);
}

/* Sort codes bytewise and remap, sort the distinct periods, rebuild the observation table. */
static emi_err_t agg_finish(emi_agg_t *a)
{
  emi_err_t err = EMI_SUCCESS;
  code_sort_t *cs = NULL;
  int32_t *remap = NULL;
  uint64_t *keys = NULL;
  for (int d = 0; d < a->ndims; d++) {
    agg_dim_t *dim = &a->dim[d];
    int32_t nc = dim->codes.n;
    hset_free(&dim->codes.h); /* lookups use binary search on the sorted codes */
    free(dim->allowed);
    dim->allowed = NULL;
    EMI_MALLOC(cs, nc, "sorting codes");
    EMI_MALLOC(remap, nc, "sorting codes");
    for (int32_t k = 0; k < nc; k++) cs[k].s = dim->codes.s[k], cs[k].old = k;
    if (nc > 1) qsort(cs, (size_t)nc, sizeof *cs, cmp_code_sort);
    for (int32_t k = 0; k < nc; k++) {
      remap[cs[k].old] = k;
      dim->codes.s[k] = (char *)cs[k].s;
    }
    for (int64_t i = 0; i < a->n; i++) dim->idx[i] = remap[dim->idx[i]];
    free(cs);
    free(remap);
    cs = NULL;
    remap = NULL;
  }
  if (a->has_time && a->n > 0) {
    int64_t np = 0;
    EMI_MALLOC(keys, a->n, "sorting periods");
    for (int64_t i = 0; i < a->n; i++) keys[i] = (uint64_t)(uint32_t)a->start[i] << 32 | (uint32_t)a->months[i];
    qsort(keys, (size_t)a->n, sizeof *keys, cmp_u64);
    for (int64_t i = 0; i < a->n; i++)
      if (i == 0 || keys[i] != keys[np - 1]) keys[np++] = keys[i];
    EMI_MALLOC(a->per_start, np, "periods");
    EMI_MALLOC(a->per_months, np, "periods");
    EMI_MALLOC(a->period_idx, a->n, "period index");
    for (int64_t k = 0; k < np; k++)
      a->per_start[k] = (int32_t)(keys[k] >> 32), a->per_months[k] = (int32_t)(keys[k] & 0xffffffffu);
    a->nperiods = (int32_t)np;
    for (int64_t i = 0; i < a->n; i++) {
      uint64_t key = (uint64_t)(uint32_t)a->start[i] << 32 | (uint32_t)a->months[i];
      const uint64_t *hit = bsearch(&key, keys, (size_t)np, sizeof *keys, cmp_u64);
      a->period_idx[i] = (int32_t)(hit - keys);
    }
  }
  /* the table was keyed by the unsorted code indices: rebuild it */
  hset_free(&a->obs);
  EMI_TRY(hset_init(&a->obs, (size_t)a->n));
  for (int64_t i = 0; i < a->n; i++) {
    obs_key_t k = obs_key_of(a, i, a->key_codes);
    size_t pos = hset_probe(&a->obs, obs_hash_key(a, &k), obs_eq, a, &k);
    EMI_TRY(hset_insert(&a->obs, pos, (uint32_t)i, obs_hash, a));
  }
cleanup:
  free(cs);
  free(remap);
  free(keys);
  return err;
}

/* ================================================================ reading */

/* Copy the current error message (a helper's, without file:line) for re-raising with context. */
static void take_message(char *buf, size_t size)
{
  snprintf(buf, size, "%s", emi_err_message());
  emi_err_clear();
}

emi_err_t emi_agg_read_csv(const char *path, const emi_agg_spec_t *spec, emi_agg_t **agg)
{
  emi_err_t err = EMI_SUCCESS;
  emi_agg_t *a = NULL;
  csv_t c;
  char **hdr = NULL;
  size_t nh = 0;
  int *dim_col = NULL, *filt_col = NULL, *filt_first = NULL;
  int time_col = -1, value_col = -1, flag_col = -1, got = 0;
  char t1[SHOW_BUF], t2[SHOW_BUF], msg[1024];
  memset(&c, 0, sizeof c);

  if (!agg) return EMI_ERROR(EMI_ERR_ARG, "emi_agg_read_csv: NULL result pointer");
  *agg = NULL;
  EMI_CALL(check_spec(path, spec));
  const char *const *miss = spec->missing ? spec->missing : default_missing;
  int nmiss = spec->missing ? spec->nmissing : 3;

  EMI_CALLOC(a, 1, "aggregate observations");
  a->ndims = spec->ndims;
  EMI_CALLOC(a->dim, a->ndims, "dimensions");
  EMI_CALLOC(a->key_codes, a->ndims, "dimensions");
  for (int d = 0; d < a->ndims; d++) {
    size_t len = strlen(spec->dims[d]) + 1;
    EMI_MALLOC(a->dim[d].name, len, "a dimension name");
    memcpy(a->dim[d].name, spec->dims[d], len);
    const emi_agg_codelist_t *cl = spec->codelists ? &spec->codelists[d] : NULL;
    if (cl && cl->codes) {
      EMI_MALLOC(a->dim[d].allowed, cl->ncodes, "a codelist");
      for (int k = 0; k < cl->ncodes; k++) a->dim[d].allowed[k] = cl->codes[k];
      if (cl->ncodes > 1) qsort(a->dim[d].allowed, (size_t)cl->ncodes, sizeof *a->dim[d].allowed, cmp_str);
      a->dim[d].nallowed = cl->ncodes;
      a->dim[d].restricted = 1; /* an empty codelist allows nothing */
    }
  }
  EMI_TRY(hset_init(&a->obs, 1024));

  /* open, skip a UTF-8 BOM, refuse UTF-16 */
  c.path = path;
  c.line = 1;
  c.delim = spec->delimiter ? (unsigned char)spec->delimiter : ',';
  c.f = fopen(path, "rb");
  if (!c.f) EMI_FAIL(EMI_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  EMI_MALLOC(c.buf, CSV_BUF_BYTES, "the CSV read buffer");
  EMI_TRY(csv_fill(&c));
  if (c.len >= 3 && c.buf[0] == 0xEF && c.buf[1] == 0xBB && c.buf[2] == 0xBF) c.pos = 3;
  if (c.len >= 2 && ((c.buf[0] == 0xFF && c.buf[1] == 0xFE) || (c.buf[0] == 0xFE && c.buf[1] == 0xFF)))
    EMI_FAIL(EMI_ERR_INPUT, "%s:1: a UTF-16 file: save it as UTF-8 (emflow reads UTF-8 CSV)", path);

  /* header */
  EMI_TRY(csv_next(&c, &got));
  if (!got) EMI_FAIL(EMI_ERR_INPUT, "%s: empty file: no header", path);
  long long hline = (long long)c.rec_line;
  nh = c.nf;
  EMI_CALLOC(hdr, nh, "the header");
  for (size_t k = 0; k < nh; k++) {
    size_t len = strlen(csv_field(&c, k)) + 1;
    EMI_MALLOC(hdr[k], len, "a column name");
    memcpy(hdr[k], csv_field(&c, k), len);
  }
  EMI_MALLOC(dim_col, a->ndims, "column map");
  for (int d = 0; d < a->ndims; d++)
    EMI_TRY(find_col(path, hline, hdr, nh, spec->dims[d], "dimension", 1, &dim_col[d]));
  if (spec->time_col) EMI_TRY(find_col(path, hline, hdr, nh, spec->time_col, "time", 1, &time_col));
  EMI_TRY(find_col(path, hline, hdr, nh, spec->value_col, "value", 1, &value_col));
  if (spec->flag_col) EMI_TRY(find_col(path, hline, hdr, nh, spec->flag_col, "flag", 0, &flag_col));
  EMI_MALLOC(filt_col, spec->nfilters, "filters");
  EMI_MALLOC(filt_first, spec->nfilters, "filters");
  for (int k = 0; k < spec->nfilters; k++) {
    EMI_TRY(find_col(path, hline, hdr, nh, spec->filter_cols[k], "filter", 1, &filt_col[k]));
    filt_first[k] = 1;
    for (int j = 0; j < k; j++)
      if (filt_col[j] == filt_col[k]) filt_first[k] = 0;
  }
  a->has_time = time_col >= 0;
  a->has_flags = flag_col >= 0;

  /* rows */
  for (;;) {
    EMI_TRY(csv_next(&c, &got));
    if (!got) break;
    long long ln = (long long)c.rec_line;
    a->rows_read++;
    if (c.nf != nh)
      EMI_FAIL(EMI_ERR_INPUT, "%s:%lld: %zu field%s, expected %zu as in the header%s", path, ln, c.nf,
               c.nf == 1 ? "" : "s", nh, c.nf == 1 ? " (no delimiter on this line: another separator?)" : "");
    int keep = 1;
    for (int k = 0; k < spec->nfilters && keep; k++) {
      if (!filt_first[k]) continue;
      int match = 0;
      for (int j = k; j < spec->nfilters && !match; j++)
        match = filt_col[j] == filt_col[k] && !strcmp(csv_field(&c, (size_t)filt_col[k]), spec->filter_vals[j]);
      keep = match;
    }
    if (!keep) {
      a->rows_filtered++;
      continue;
    }
    if (a->n >= EMI_AGG_MAX_OBS)
      EMI_FAIL(EMI_ERR_INPUT, "%s:%lld: more than %d observations in one file", path, ln, EMI_AGG_MAX_OBS);
    EMI_TRY(obs_reserve(a));
    int64_t i = a->n;

    for (int d = 0; d < a->ndims; d++) {
      agg_dim_t *dim = &a->dim[d];
      const char *code = csv_field(&c, (size_t)dim_col[d]);
      int is_new = 0;
      if (!*code)
        EMI_FAIL(EMI_ERR_INPUT, "%s:%lld: column '%s': empty code (a dimension code may not be empty)", path, ln,
                 dim->name);
      EMI_TRY(strtab_intern(&dim->codes, code, &dim->idx[i], &is_new));
      if (!is_new) continue;
      const char *why = bad_text(code);
      if (why)
        EMI_FAIL(EMI_ERR_INPUT, "%s:%lld: column '%s': code '%s' contains %s", path, ln, dim->name,
                 show(code, t1, sizeof t1), why);
      if (dim->restricted && (dim->nallowed == 0 ||
                              !bsearch(&code, dim->allowed, (size_t)dim->nallowed, sizeof *dim->allowed, cmp_str))) {
        const emi_agg_codelist_t *cl = &spec->codelists[d];
        char list[LIST_BUF] = "";
        for (int k = 0; k < cl->ncodes && k < CODELIST_SHOWN; k++) list_add(list, sizeof list, cl->codes[k]);
        if (cl->ncodes == 0)
          EMI_FAIL(EMI_ERR_INPUT, "%s:%lld: column '%s': code '%s' is not in the codelist (the codelist is empty)",
                   path, ln, dim->name, show(code, t1, sizeof t1));
        EMI_FAIL(EMI_ERR_INPUT, "%s:%lld: column '%s': code '%s' is not in the codelist (%d code%s: %s%s)", path, ln,
                 dim->name, show(code, t1, sizeof t1), cl->ncodes, cl->ncodes == 1 ? "" : "s", list,
                 cl->ncodes > CODELIST_SHOWN ? ", ..." : "");
      }
    }

    a->start[i] = a->months[i] = 0;
    if (a->has_time) {
      const char *tp = csv_field(&c, (size_t)time_col);
      if (emi_agg_parse_period(tp, &a->start[i], &a->months[i]) != EMI_SUCCESS) {
        take_message(msg, sizeof msg);
        EMI_FAIL(EMI_ERR_INPUT, "%s:%lld: column '%s': %s", path, ln, spec->time_col, msg);
      }
    }

    const char *vt = csv_field(&c, (size_t)value_col);
    int is_missing = 0;
    for (int k = 0; k < nmiss && !is_missing; k++) is_missing = !strcmp(vt, miss[k]);
    if (is_missing) {
      a->value[i] = NAN;
      a->missing[i] = 1;
      a->nmissing++;
    } else {
      double v = 0.0;
      int ok = parse_value(vt, &v);
      if (ok <= 0) {
        char toks[LIST_BUF] = "";
        const char *hint = "";
        for (int k = 0; k < nmiss; k++) list_add(toks, sizeof toks, miss[k]);
        if (ok == -1) hint = " (the number is too large for a double)";
        else if (ok == -2)
          hint = " (a nonzero number below the smallest double, about 4.9e-324: read as 0 it would change the "
                 "pattern of zeros; write 0 if 0 is meant, or rescale the data)";
        else if (looks_like_tsv(vt))
          hint = " (a value and a flag together, as in Eurostat's TSV files? In SDMX-CSV the flag has its own "
                 "column, OBS_FLAG)";
        else if (vt[0] == ' ' || vt[0] == '\t' || (*vt && (vt[strlen(vt) - 1] == ' ' || vt[strlen(vt) - 1] == '\t')))
          hint = " (leading or trailing spaces)";
        else if (strchr(vt, ',')) hint = " (a thousands separator or a decimal comma? write 1234 or 12.5)";
        else if (loose_eq(vt, "nan")) hint = " (add it to the missing-value tokens if it means missing)";
        EMI_FAIL(EMI_ERR_INPUT, "%s:%lld: column '%s': found '%s', expected a number (like 1234, -5, 12.5 or 1e6) "
                 "or a missing-value token (%s)%s", path, ln, spec->value_col, show(vt, t1, sizeof t1),
                 nmiss ? toks : "none configured", hint);
      }
      if (spec->nonnegative && v < 0)
        EMI_FAIL(EMI_ERR_INPUT, "%s:%lld: column '%s': found '%s', expected a value >= 0 (negative values are "
                 "refused for this input)", path, ln, spec->value_col, show(vt, t1, sizeof t1));
      a->value[i] = v == 0.0 ? 0.0 : v; /* -0 -> 0 */
      a->missing[i] = 0;
    }

    a->flag_idx[i] = -1;
    if (a->has_flags) {
      const char *fl = csv_field(&c, (size_t)flag_col);
      if (*fl) {
        int is_new = 0;
        EMI_TRY(strtab_intern(&a->flags, fl, &a->flag_idx[i], &is_new));
        const char *why = is_new ? bad_text(fl) : NULL;
        if (why)
          EMI_FAIL(EMI_ERR_INPUT, "%s:%lld: column '%s': flag '%s' contains %s", path, ln, spec->flag_col,
                   show(fl, t1, sizeof t1), why);
      }
    }
    a->line[i] = c.rec_line;
    a->n++;

    obs_key_t key = obs_key_of(a, i, a->key_codes);
    size_t pos = hset_probe(&a->obs, obs_hash_key(a, &key), obs_eq, a, &key);
    if (a->obs.slot[pos]) {
      int64_t j = (int64_t)a->obs.slot[pos] - 1;
      char what[LIST_BUF] = "";
      size_t used = 0;
      for (int d = 0; d < a->ndims && used < sizeof what; d++) {
        int w = snprintf(what + used, sizeof what - used, "%s%s=%s", d ? ", " : "", a->dim[d].name,
                         show(a->dim[d].codes.s[a->dim[d].idx[i]], t1, sizeof t1));
        used += w > 0 ? (size_t)w : 0;
      }
      if (a->has_time && used < sizeof what)
        snprintf(what + used, sizeof what - used, "%s%s=%s", a->ndims ? ", " : "", spec->time_col,
                 show(csv_field(&c, (size_t)time_col), t2, sizeof t2));
      /* "period" only for inputs that have one (ipf's files have none) */
      EMI_FAIL(EMI_ERR_INPUT, "%s:%lld: duplicated observation (%s): the same codes%s as line %lld", path, ln, what,
               a->has_time ? " and period" : "", (long long)a->line[j]);
    }
    EMI_TRY(hset_insert(&a->obs, pos, (uint32_t)i, obs_hash, a));
  }

  EMI_TRY(agg_finish(a));
  *agg = a;
  a = NULL;

cleanup:
  if (c.f) fclose(c.f);
  free(c.buf);
  free(c.rec);
  free(c.off);
  for (size_t k = 0; hdr && k < nh; k++) free(hdr[k]);
  free(hdr);
  free(dim_col);
  free(filt_col);
  free(filt_first);
  emi_agg_destroy(&a);
  return err;
}

/* ================================================================ accessors */

int64_t emi_agg_count(const emi_agg_t *a) { return a->n; }
int64_t emi_agg_rows_read(const emi_agg_t *a) { return a->rows_read; }
int64_t emi_agg_rows_filtered(const emi_agg_t *a) { return a->rows_filtered; }
int64_t emi_agg_count_missing(const emi_agg_t *a) { return a->nmissing; }
int emi_agg_ndims(const emi_agg_t *a) { return a->ndims; }
const char *emi_agg_dim_name(const emi_agg_t *a, int d) { return a->dim[d].name; }
int32_t emi_agg_ncodes(const emi_agg_t *a, int d) { return a->dim[d].codes.n; }
const char *emi_agg_code(const emi_agg_t *a, int d, int32_t k) { return a->dim[d].codes.s[k]; }
const int32_t *emi_agg_code_index(const emi_agg_t *a, int d) { return a->dim[d].idx; }
int emi_agg_has_time(const emi_agg_t *a) { return a->has_time; }
const int32_t *emi_agg_period_start(const emi_agg_t *a) { return a->has_time ? a->start : NULL; }
const int32_t *emi_agg_period_months(const emi_agg_t *a) { return a->has_time ? a->months : NULL; }
const int32_t *emi_agg_period_index(const emi_agg_t *a) { return a->has_time ? a->period_idx : NULL; }
int32_t emi_agg_nperiods(const emi_agg_t *a) { return a->nperiods; }
const double *emi_agg_values(const emi_agg_t *a) { return a->value; }
const uint8_t *emi_agg_missing(const emi_agg_t *a) { return a->missing; }
int emi_agg_has_flags(const emi_agg_t *a) { return a->has_flags; }
const int64_t *emi_agg_lines(const emi_agg_t *a) { return a->line; }

void emi_agg_period(const emi_agg_t *a, int32_t k, int32_t *start_month, int32_t *months)
{
  *start_month = a->per_start[k];
  *months = a->per_months[k];
}

const char *emi_agg_flag(const emi_agg_t *a, int64_t i)
{
  int32_t f = a->flag_idx[i];
  return f < 0 ? "" : a->flags.s[f];
}

int32_t emi_agg_code_find(const emi_agg_t *a, int d, const char *code)
{
  const strtab_t *t = &a->dim[d].codes;
  if (!code || t->n == 0) return -1;
  char *const *hit = bsearch(&code, t->s, (size_t)t->n, sizeof *t->s, cmp_str);
  return hit ? (int32_t)(hit - t->s) : -1;
}

emi_err_t emi_agg_find(const emi_agg_t *a, const char *const *codes, int32_t start_month, int32_t months,
                       int64_t *index)
{
  int32_t local[16], *kc = local;
  if (!a || !index || (a->ndims > 0 && !codes)) return EMI_ERROR(EMI_ERR_ARG, "emi_agg_find: NULL argument");
  *index = -1;
  if (a->ndims > 16 && !(kc = malloc((size_t)a->ndims * sizeof *kc)))
    return EMI_ERROR(EMI_ERR_NOMEM, "emi_agg_find: cannot allocate %d codes", a->ndims);
  int found = 1;
  for (int d = 0; d < a->ndims && found; d++) found = (kc[d] = emi_agg_code_find(a, d, codes[d])) >= 0;
  if (found) {
    obs_key_t k = {kc, a->has_time ? start_month : 0, a->has_time ? months : 0};
    size_t pos = hset_probe(&a->obs, obs_hash_key(a, &k), obs_eq, a, &k);
    if (a->obs.slot[pos]) *index = (int64_t)a->obs.slot[pos] - 1;
  }
  if (kc != local) free(kc);
  return EMI_SUCCESS;
}

void emi_agg_period_label(int32_t start_month, int32_t months, char *buf, size_t n)
{
  int y = start_month / 12, m = start_month % 12 + 1;
  if (months == 12 && m == 1) snprintf(buf, n, "%04d", y);
  else if (months == 1) snprintf(buf, n, "%04d-%02d", y, m);
  else if (months == 3 && (m - 1) % 3 == 0) snprintf(buf, n, "%04d-Q%d", y, (m - 1) / 3 + 1);
  else if (months == 6 && (m - 1) % 6 == 0) snprintf(buf, n, "%04d-S%d", y, (m - 1) / 6 + 1);
  else snprintf(buf, n, "%04d-%02d/P%dM", y, m, (int)months);
}
