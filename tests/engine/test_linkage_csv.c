/* test_linkage_csv: the parallel CSV ingest of `emflow classify` (emi_link_read_csv: windows mapped
 * and cut into chunks at line ends for the threads) and the sort in rounds (emi_link_store_sort), held
 * to a plain sequential reference written here: read the whole file, cut it into lines exactly as
 * the original reader did (every '\n'-terminated line, then a last non-empty line without one; a line
 * of more than 4097 bytes is line_too_long), parse each with emi_crossing_parse, check the period,
 * hash the key with libsodium (crypto_hash_sha256, or crypto_auth_hmacsha256 with a key file: an
 * implementation independent of emi_sha256_*), apply the link table as emi_link_apply's contract
 * says, and sort with the reference twin emi_sort_items_ref.
 *
 * The files hold every kind of line the parser knows: valid records (date only, with seconds,
 * fractions, Z and +hh:mm / -hhmm offsets), every reject reason, blank and white-space lines, quoted
 * fields ("" escapes, a comma inside quotes), unterminated quotes, text after a closing quote, CRLF,
 * lines of exactly 4096, 4097 and 4098 bytes, lines longer than a whole window, exact duplicate
 * passages with different attributes (so the stability of the sort is visible), a permuted header
 * with a BOM, a last line without its line end.  Each file is read with 1, 2, 3 and 7 threads and
 * with windows from the smallest allowed (EMI_LINK_WINDOW_MIN) to the default: records (bytes),
 * counts by reason, the first reject (its file line, field and text), the day range and the link
 * table's counts must equal the reference every time.  emi_link_hash is also held to libsodium for key
 * files of 32..4096 bytes and person keys of 0..64 bytes.
 * Runs as a one-rank MPI program (singleton MPI_Init); the multi-rank path is tests/mpi/classify.cmake. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>
#include <sodium.h>

#include "emi_linkage.h"
#include "emi_sim.h"
#include "emi_test.h"

const char *__asan_default_options(void);
const char *__lsan_default_suppressions(void);
const char *__asan_default_options(void) { return "fast_unwind_on_malloc=0"; }
const char *__lsan_default_suppressions(void)
{
  return "leak:libmpi.so\nleak:libopen-pal.so\nleak:libopen-rte.so\nleak:libevent\nleak:libhwloc\nleak:libpmix\n"
         "leak:ompi_mpi_init\nleak:ompi_mpi_finalize\n";
}

static uint64_t rng = 0x853c49e6748fea9bull;
static uint64_t next_u64(void) /* splitmix64 */
{
  uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static unsigned uni(unsigned n) { return (unsigned)(next_u64() % n); }

/* ------------------------------------------------------------------ a growing text */
typedef struct {
  char *p;
  size_t n, cap;
} text_t;

static void put(text_t *t, const char *s, size_t n)
{
  if (t->n + n + 1 > t->cap) {
    t->cap = (t->n + n + 1) * 2;
    t->p = realloc(t->p, t->cap);
  }
  memcpy(t->p + t->n, s, n);
  t->n += n;
  t->p[t->n] = '\0';
}
static void puts_(text_t *t, const char *s) { put(t, s, strlen(s)); }

/* ------------------------------------------------------------------ the test files */
enum { NPERSONS = 1500 };
static char keys[NPERSONS][48];

static void make_keys(void)
{
  for (int i = 0; i < NPERSONS; i++) {
    int len = 6 + (int)uni(35);
    int o = snprintf(keys[i], sizeof keys[i], "p%04d-", i);
    for (; o < len; o++) keys[i][o] = "0123456789abcdef"[uni(16)];
    keys[i][o] = '\0';
  }
}

static void date_text(char *out, size_t size)
{
  int32_t d = emi_days_from_civil(2019, 1, 1) + (int32_t)uni(5 * 365);
  int y, m, dd;
  emi_civil_from_days(d, &y, &m, &dd);
  switch (uni(6)) {
  case 0: snprintf(out, size, "%04d-%02d-%02d", y, m, dd); break;
  case 1: snprintf(out, size, "%04d-%02d-%02dT%02u:%02u", y, m, dd, uni(24), uni(60)); break;
  case 2: snprintf(out, size, "%04d-%02d-%02dT%02u:%02u:%02uZ", y, m, dd, uni(24), uni(60), uni(60)); break;
  case 3: snprintf(out, size, "%04d-%02d-%02dT%02u:%02u:%02u.%03u+04:00", y, m, dd, uni(24), uni(60), uni(60), uni(1000)); break;
  case 4: snprintf(out, size, "%04d-%02d-%02d %02u:%02u:%02u-0130", y, m, dd, uni(24), uni(60), uni(60)); break;
  default: snprintf(out, size, "%04d-%02d-%02dT%02u:%02u:%02u", y, m, dd, uni(24), uni(60), uni(60));
  }
}

/* One line's eight DESIGN fields, some of them spoilt; the caller writes them in the file's order. */
static void record_fields(char f[8][96], int *person)
{
  static const char *const cits[] = {"AZE", "GEO", "RUS", "TUR", "IRN", "UKR", "DEU"};
  int p = (int)uni(NPERSONS);
  *person = p;
  snprintf(f[0], 96, "%s", keys[p]);
  date_text(f[1], 96);
  snprintf(f[2], 96, "%s", uni(2) ? "IN" : "OUT");
  snprintf(f[3], 96, "%s", cits[uni(7)]);
  snprintf(f[4], 96, "%s", uni(2) ? "GYD" : "RED-BRIDGE");
  snprintf(f[5], 96, "%s", uni(3) ? "PASSPORT" : "ID");
  snprintf(f[6], 96, "%c", "MFX"[uni(3)]);
  snprintf(f[7], 96, "%u", 1930 + uni(85));
  if (uni(100) >= 12) return;
  switch (uni(22)) { /* a fault */
  case 0: snprintf(f[1], 96, "2021-02-30"); break;
  case 1: snprintf(f[1], 96, "2021-13-01T10:00"); break;
  case 2: snprintf(f[1], 96, "21-01-01"); break;
  case 3: snprintf(f[2], 96, "in"); break;
  case 4: snprintf(f[2], 96, "EXIT"); break;
  case 5: snprintf(f[3], 96, "Az1"); break;
  case 6: snprintf(f[3], 96, "ZZZ"); break; /* well formed, not in ISO 3166-1 */
  case 7: snprintf(f[4], 96, "%s", ""); break;
  case 8: snprintf(f[4], 96, "ABCDEFGHIJKLMNOPQ"); break;
  case 9: snprintf(f[5], 96, "%s", ""); break;
  case 10: snprintf(f[6], 96, "m"); break;
  case 11: snprintf(f[7], 96, "19x0"); break;
  case 12: snprintf(f[7], 96, "2030"); break;
  case 13: snprintf(f[7], 96, "1850"); break;
  case 14: snprintf(f[0], 96, "%s", ""); break;
  case 15: snprintf(f[0], 96, "ctl\x01key"); break;
  case 16: snprintf(f[0], 96, "%s", "k123456789012345678901234567890123456789012345678901234567890abcd"); break; /* 65 */
  case 17: snprintf(f[1], 96, "1899-12-31"); break;
  case 18: snprintf(f[1], 96, "2021-01-01T10:00+15:00"); break;
  case 19: snprintf(f[6], 96, "%s", ""); break;
  case 20: snprintf(f[1], 96, "2021-01-01T10:00:00Q"); break;
  default: snprintf(f[7], 96, "%s", "");
  }
}

/* A test file: header (fields in the order perm[j] = DESIGN field of column j), nlines lines, options. */
static void make_file(const char *path, const int perm[8], int bom, int crlf_header, int nlines, int last_newline)
{
  static const char *const names[8] = {"person_id", "crossed_at", "direction", "citizenship",
                                       "border_point", "document", "sex", "birth_year"};
  text_t t = {0};
  if (bom) puts_(&t, "\xEF\xBB\xBF");
  for (int j = 0; j < 8; j++) {
    if (j) puts_(&t, ",");
    puts_(&t, names[perm[j]]);
  }
  puts_(&t, crlf_header ? "\r\n" : "\n");
  char f[8][96], prev[8][96];
  int have_prev = 0, person;
  for (int i = 0; i < nlines; i++) {
    unsigned kind = uni(1000);
    text_t line = {0};
    if (kind < 8) { /* blank or white space */
      puts_(&line, kind < 4 ? "" : " \t ");
    } else if (kind < 12) { /* a field too many or too few */
      puts_(&line, kind < 10 ? "a,b,c,d,e,f,g" : "a,b,c,d,e,f,g,h,i");
    } else if (kind < 14) { /* broken quotes */
      puts_(&line, kind == 12 ? "\"unterminated,2021-01-01,IN,AZE,GYD,PASSPORT,M,1980" :
                                "\"k\"x,2021-01-01,IN,AZE,GYD,PASSPORT,M,1980");
    } else if (kind < 20) { /* long lines: 4096, 4097 (with and without a CR), 4098, 5000, 30000 bytes */
      static const size_t lens[6] = {4096, 4097, 4097, 4098, 5000, 30000};
      size_t L = lens[kind - 14];
      char *s = malloc(L + 1);
      memset(s, 'x', L);
      memcpy(s, "k,", 2);
      if (kind == 16) s[L - 1] = '\r';
      put(&line, s, L);
      free(s);
    } else if (kind < 30 && have_prev) { /* the same passage again, another citizenship: a tie in the sort */
      memcpy(f, prev, sizeof f);
      snprintf(f[3], 96, "%s", kind & 1 ? "GEO" : "TUR");
      for (int j = 0; j < 8; j++) {
        if (j) puts_(&line, ",");
        puts_(&line, f[perm[j]]);
      }
    } else {
      record_fields(f, &person);
      for (int j = 0; j < 8; j++) {
        if (j) puts_(&line, ",");
        const char *v = f[perm[j]];
        if (kind < 60) { /* quoted, with a quote or a comma inside for the key */
          puts_(&line, "\"");
          if (perm[j] == 0 && kind < 40) puts_(&line, "q\"\",");
          puts_(&line, v);
          puts_(&line, "\"");
        } else {
          puts_(&line, v);
        }
      }
      memcpy(prev, f, sizeof f);
      have_prev = 1;
    }
    put(&t, line.p ? line.p : "", line.n);
    free(line.p);
    if (i < nlines - 1 || last_newline) puts_(&t, uni(10) == 0 ? "\r\n" : "\n");
  }
  FILE *fp = fopen(path, "wb");
  CHECK(fp != NULL);
  if (fp) {
    CHECK(fwrite(t.p, 1, t.n, fp) == t.n);
    fclose(fp);
  }
  free(t.p);
}

/* ------------------------------------------------------------------ the reference */
typedef struct {
  const unsigned char *hmac_key; /* NULL: unkeyed */
  size_t hmac_len;
} ref_hash_t;

static uint64_t ref_hash(const ref_hash_t *h, const char *key, size_t len)
{
  unsigned char d[32];
  if (h->hmac_key) {
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, h->hmac_key, h->hmac_len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)key, len);
    crypto_auth_hmacsha256_final(&st, d);
  } else {
    crypto_hash_sha256(d, (const unsigned char *)key, len);
  }
  uint64_t x = 0;
  for (int i = 7; i >= 0; i--) x = x << 8 | d[i];
  return x;
}

typedef struct {
  emi_sort_item_t *it;
  size_t n;
  emi_link_counts_t c;
} ref_t;

static void ref_reject(ref_t *r, const emi_reject_info_t *why, int64_t line)
{
  r->c.rejects[why->reason]++;
  if (r->c.first_bad < 0) {
    r->c.first_bad = line;
    r->c.bad = *why;
    if (why->field == 0) snprintf(r->c.bad.found, sizeof r->c.bad.found, "(withheld: person key)");
  }
}

static void ref_read(const char *path, const int col[8], const emi_link_ingest_t *cfg, const ref_hash_t *rh, ref_t *r)
{
  FILE *fp = fopen(path, "rb");
  fseek(fp, 0, SEEK_END);
  size_t size = (size_t)ftell(fp);
  rewind(fp);
  char *buf = malloc(size + 1);
  CHECK(fread(buf, 1, size, fp) == size);
  fclose(fp);
  memset(r, 0, sizeof *r);
  r->c.first_bad = -1, r->c.min_day = INT32_MAX, r->c.max_day = INT32_MIN;
  r->it = malloc((size + 1) * sizeof *r->it);
  const char *nl = memchr(buf, '\n', size);
  size_t pos = nl ? (size_t)(nl - buf) + 1 : size;
  int64_t line = 2;
  while (pos < size) {
    const char *q = memchr(buf + pos, '\n', size - pos);
    size_t L = q ? (size_t)(q - (buf + pos)) : size - pos;
    emi_reject_info_t why;
    emi_crossing_t rec;
    r->c.in++;
    if (L > EMI_CROSSINGS_MAX_LINE + 1) {
      why.reason = EMI_REJECT_LINE_TOO_LONG, why.field = -1;
      snprintf(why.found, sizeof why.found, "(a line longer than %d bytes)", EMI_CROSSINGS_MAX_LINE);
      ref_reject(r, &why, line);
    } else if (!emi_crossing_parse(buf + pos, L, col, cfg->countries, &rec, &why)) {
      ref_reject(r, &why, line);
    } else if (rec.day < cfg->lo_day || rec.day > cfg->hi_day) {
      why.reason = (emi_reject_t)(rec.day < cfg->lo_day ? EMI_LINK_REJECT_BEFORE_START : EMI_LINK_REJECT_AFTER_END);
      why.field = 1;
      int y, m, d;
      emi_civil_from_days(rec.day, &y, &m, &d);
      snprintf(why.found, sizeof why.found, "%04d-%02d-%02d", y, m, d);
      ref_reject(r, &why, line);
    } else {
      size_t kl = strnlen(rec.person_id, EMI_CROSSINGS_KEY_LEN);
      emi_sort_item_t it = {ref_hash(rh, rec.person_id, kl),
                            emi_link_k1(rec.day, rec.second, rec.direction == EMI_CROSSING_OUT),
                            emi_link_v(rec.citizenship, rec.sex, rec.birth_year)};
      r->it[r->n++] = it;
      r->c.accepted++;
      if (rec.day < r->c.min_day) r->c.min_day = rec.day;
      if (rec.day > r->c.max_day) r->c.max_day = rec.day;
    }
    pos += L + (q != NULL);
    line++;
  }
  /* the link table, as emi_link_apply's contract: records of b move to a (marked); keys seen counted */
  if (cfg->npairs) {
    emi_link_table_counts_t *lc = &r->c.links;
    lc->pairs = (int64_t)cfg->npairs;
    uint64_t *tk = malloc(2 * cfg->npairs * sizeof *tk);
    size_t ntk = 0;
    for (size_t i = 0; i < cfg->npairs; i++) {
      uint64_t ks[2] = {cfg->pairs[i].b, cfg->pairs[i].a0};
      for (int z = 0; z < 2; z++) {
        size_t j = 0;
        while (j < ntk && tk[j] != ks[z]) j++;
        if (j == ntk) tk[ntk++] = ks[z];
      }
    }
    for (size_t j = 0; j < ntk; j++) {
      int seen = 0;
      for (size_t i = 0; i < r->n && !seen; i++) seen = r->it[i].k0 == tk[j];
      lc->keys_unknown += !seen;
    }
    for (size_t p = 0; p < cfg->npairs; p++) {
      int seen = 0;
      for (size_t i = 0; i < r->n && !seen; i++) seen = r->it[i].k0 == cfg->pairs[p].b;
      lc->keys_merged += seen;
    }
    for (size_t i = 0; i < r->n; i++)
      for (size_t p = 0; p < cfg->npairs; p++)
        if (r->it[i].k0 == cfg->pairs[p].b) {
          r->it[i].k0 = cfg->pairs[p].a;
          r->it[i].v |= EMI_LINK_V_LINKED;
          lc->records_relinked++;
          break;
        }
    free(tk);
  }
  emi_sort_item_t *tmp = malloc((r->n + 1) * sizeof *tmp);
  CHECK_OK(emi_sort_items_ref(r->n, r->it, tmp));
  free(tmp);
  free(buf);
}

/* ------------------------------------------------------------------ the comparison */
static void compare(const char *what, const ref_t *r, const emi_sort_item_t *it, size_t n, const emi_link_counts_t *c)
{
  CHECK_MSG(n == r->n, "%s: %zu records, expected %zu", what, n, r->n);
  if (n == r->n && n) {
    size_t i = 0;
    while (i < n && !memcmp(&it[i], &r->it[i], sizeof *it)) i++;
    CHECK_MSG(i == n, "%s: record %zu of %zu differs from the reference", what, i, n);
  }
  CHECK_MSG(c->in == r->c.in && c->accepted == r->c.accepted, "%s: in %lld accepted %lld, expected %lld %lld", what,
            (long long)c->in, (long long)c->accepted, (long long)r->c.in, (long long)r->c.accepted);
  for (int k = 0; k < EMI_LINK_NREJECTS; k++)
    CHECK_MSG(c->rejects[k] == r->c.rejects[k], "%s: %lld rejects %s, expected %lld", what, (long long)c->rejects[k],
              emi_link_reject_names[k], (long long)r->c.rejects[k]);
  CHECK_MSG(c->first_bad == r->c.first_bad, "%s: first reject on line %lld, expected %lld", what,
            (long long)c->first_bad, (long long)r->c.first_bad);
  if (r->c.first_bad >= 0)
    CHECK_MSG(c->bad.reason == r->c.bad.reason && c->bad.field == r->c.bad.field && !strcmp(c->bad.found, r->c.bad.found),
              "%s: first reject %s field %d '%s', expected %s field %d '%s'", what, emi_link_reject_names[c->bad.reason],
              c->bad.field, c->bad.found, emi_link_reject_names[r->c.bad.reason], r->c.bad.field, r->c.bad.found);
  CHECK_MSG(c->min_day == r->c.min_day && c->max_day == r->c.max_day, "%s: days %d..%d, expected %d..%d", what,
            (int)c->min_day, (int)c->max_day, (int)r->c.min_day, (int)r->c.max_day);
  CHECK_MSG(!memcmp(&c->links, &r->c.links, sizeof c->links),
            "%s: link counts %lld %lld %lld %lld, expected %lld %lld %lld %lld", what, (long long)c->links.pairs,
            (long long)c->links.keys_merged, (long long)c->links.records_relinked, (long long)c->links.keys_unknown,
            (long long)r->c.links.pairs, (long long)r->c.links.keys_merged, (long long)r->c.links.records_relinked,
            (long long)r->c.links.keys_unknown);
}

/* need: reasons that the file must contain (bit k: reason k), so that every path is exercised */
static void run_all(const char *name, const char *path, const int col[8], const emi_link_ingest_t *cfg0,
                    const ref_hash_t *rh, unsigned need)
{
  ref_t r;
  ref_read(path, col, cfg0, rh, &r);
  CHECK_MSG(r.n > 0 || r.c.in == 0, "%s: the reference accepted no record", name);
  for (int k = 0; k < EMI_LINK_NREJECTS; k++)
    if (need >> k & 1) CHECK_MSG(r.c.rejects[k] > 0, "%s: the file has no reject %s", name, emi_link_reject_names[k]);
  static const int threads[] = {1, 2, 3, 7};
  static const size_t windows[] = {EMI_LINK_WINDOW_MIN, 10007, (size_t)1 << 16, 0};
  for (size_t a = 0; a < sizeof threads / sizeof *threads; a++)
    for (size_t b = 0; b < sizeof windows / sizeof *windows; b++) {
      char what[128];
      snprintf(what, sizeof what, "%s, %d threads, window %zu", name, threads[a], windows[b]);
      omp_set_num_threads(threads[a]);
      emi_link_ingest_t cfg = *cfg0;
      cfg.window_bytes = windows[b];
      emi_link_store_t *st = NULL;
      emi_link_counts_t c;
      emi_sort_item_t *it = NULL;
      size_t n = 0;
      CHECK_OK(emi_link_read_csv(MPI_COMM_WORLD, path, &cfg, &st, &c));
      if (!st) continue;
      CHECK_INT_EQ(emi_link_store_count(st), r.n);
      CHECK_OK(emi_link_store_sort(MPI_COMM_WORLD, &st, &it, &n));
      CHECK(st == NULL);
      compare(what, &r, it, n, &c);
      free(it);
    }
  omp_set_num_threads(1);
  free(r.it);
}

/* emi_link_hash (emi_sha256_*, HMAC states kept after the key) against libsodium: key files of 32 to
 * 4096 bytes (a key longer than the 64-byte block is hashed first), person keys of 0..64 bytes (the
 * one- and two-block paddings) */
static void test_hash(const char *pk)
{
  static const size_t klen[] = {32, 55, 63, 64, 65, 100, 4096};
  unsigned char key[4096];
  char text[65];
  for (size_t a = 0; a <= sizeof klen / sizeof *klen; a++) {
    emi_link_hasher_t h;
    ref_hash_t rh = {NULL, 0};
    if (a < sizeof klen / sizeof *klen) {
      for (size_t i = 0; i < klen[a]; i++) key[i] = (unsigned char)next_u64();
      FILE *fp = fopen(pk, "wb");
      CHECK(fp && fwrite(key, 1, klen[a], fp) == klen[a]);
      if (fp) fclose(fp);
      CHECK_OK(emi_link_hasher_init(&h, pk));
      CHECK(h.keyed);
      rh.hmac_key = key, rh.hmac_len = klen[a];
    } else {
      CHECK_OK(emi_link_hasher_init(&h, NULL));
      CHECK(!h.keyed);
    }
    for (size_t n = 0; n <= 64; n++) {
      for (size_t i = 0; i < n; i++) text[i] = (char)(0x21 + uni(94));
      uint64_t got = emi_link_hash(&h, text, n), want = ref_hash(&rh, text, n);
      CHECK_MSG(got == want, "key file of %zu bytes, person key of %zu bytes: %016llx, libsodium %016llx",
                a < sizeof klen / sizeof *klen ? klen[a] : 0, n, (unsigned long long)got, (unsigned long long)want);
    }
  }
  /* a key file of 31 or 4097 bytes is refused */
  emi_link_hasher_t h;
  FILE *fp = fopen(pk, "wb");
  fwrite(key, 1, 31, fp);
  fclose(fp);
  CHECK_ERR(emi_link_hasher_init(&h, pk), EMI_ERR_CONFIG);
  fp = fopen(pk, "wb");
  fwrite(key, 1, 4096, fp);
  fputc(0, fp);
  fclose(fp);
  CHECK_ERR(emi_link_hasher_init(&h, pk), EMI_ERR_CONFIG);
}

/* ------------------------------------------------------------------ cases */
int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  if (sodium_init() < 0) return 1;
  const char *tmp = getenv("EMI_TEST_TMP") ? getenv("EMI_TEST_TMP") : ".";
  char pa[1024], pb[1024], pc[1024], pd[1024], pk[1024], pe[1024];
  snprintf(pa, sizeof pa, "%s/lcsv_a.csv", tmp);
  snprintf(pb, sizeof pb, "%s/lcsv_b.csv", tmp);
  snprintf(pc, sizeof pc, "%s/lcsv_c.csv", tmp);
  snprintf(pd, sizeof pd, "%s/lcsv_d.csv", tmp);
  snprintf(pe, sizeof pe, "%s/lcsv_e.csv", tmp);
  snprintf(pk, sizeof pk, "%s/lcsv.key", tmp);
  make_keys();
  test_hash(pk);
  emi_link_hasher_t plain, keyed;
  CHECK_OK(emi_link_hasher_init(&plain, NULL));

  /* A: canonical header, LF, unkeyed, countries checked, no period */
  {
    static const int perm[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    make_file(pa, perm, 0, 0, 20000, 1);
    emi_link_ingest_t cfg = {.hasher = &plain, .countries = &emi_iso3166_alpha3, .lo_day = INT32_MIN,
                             .hi_day = INT32_MAX};
    ref_hash_t rh = {NULL, 0};
    run_all("file A", pa, perm, &cfg, &rh, (1u << EMI_NREJECTS) - 1); /* every reason of the parser */
  }
  /* B: permuted columns, BOM and CRLF header, no line end at the end, HMAC key (40 bytes), a period,
   * shape check only, a link table of three pairs (one key of the table unknown) */
  {
    static const int perm[8] = {3, 0, 7, 1, 2, 6, 4, 5};
    int col[8];
    for (int j = 0; j < 8; j++) col[perm[j]] = j;
    make_file(pb, perm, 1, 1, 15000, 0);
    unsigned char key[40];
    for (int i = 0; i < 40; i++) key[i] = (unsigned char)next_u64();
    FILE *fp = fopen(pk, "wb");
    CHECK(fp && fwrite(key, 1, sizeof key, fp) == sizeof key);
    if (fp) fclose(fp);
    CHECK_OK(emi_link_hasher_init(&keyed, pk));
    ref_hash_t rh = {key, sizeof key};
    emi_link_pair_t pairs[3];
    pairs[0] = (emi_link_pair_t){.b = ref_hash(&rh, keys[5], strlen(keys[5])), .a0 = ref_hash(&rh, keys[7], strlen(keys[7]))};
    pairs[1] = (emi_link_pair_t){.b = ref_hash(&rh, keys[9], strlen(keys[9])), .a0 = ref_hash(&rh, keys[11], strlen(keys[11]))};
    pairs[2] = (emi_link_pair_t){.b = ref_hash(&rh, "nobody", 6), .a0 = ref_hash(&rh, keys[13], strlen(keys[13]))};
    for (int i = 0; i < 3; i++) pairs[i].a = pairs[i].a0, pairs[i].line = i + 2;
    for (int i = 0; i < 3; i++) /* sorted by b, as emi_link_read_table gives them */
      for (int j = i + 1; j < 3; j++)
        if (pairs[j].b < pairs[i].b) {
          emi_link_pair_t t = pairs[i];
          pairs[i] = pairs[j], pairs[j] = t;
        }
    emi_link_ingest_t cfg = {.hasher = &keyed, .countries = NULL, .lo_day = emi_days_from_civil(2019, 6, 1),
                             .hi_day = emi_days_from_civil(2023, 6, 30), .pairs = pairs, .npairs = 3};
    run_all("file B", pb, col, &cfg, &rh,
            1u << EMI_LINK_REJECT_BEFORE_START | 1u << EMI_LINK_REJECT_AFTER_END | 1u << EMI_REJECT_LINE_TOO_LONG);
  }
  /* C: the header only (with and without its line end): no record */
  {
    static const int perm[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    emi_link_ingest_t cfg = {.hasher = &plain, .countries = &emi_iso3166_alpha3, .lo_day = INT32_MIN,
                             .hi_day = INT32_MAX};
    ref_hash_t rh = {NULL, 0};
    FILE *fp = fopen(pc, "wb");
    fputs(EMI_CROSSINGS_HEADER "\n", fp);
    fclose(fp);
    run_all("header only", pc, perm, &cfg, &rh, 0);
    fp = fopen(pc, "wb");
    fputs(EMI_CROSSINGS_HEADER, fp);
    fclose(fp);
    run_all("header without line end", pc, perm, &cfg, &rh, 0);
    /* a file of one giant line after the header, and a giant line between two records */
    text_t t = {0};
    puts_(&t, EMI_CROSSINGS_HEADER "\nk1,2021-01-01,IN,AZE,GYD,PASSPORT,M,1980\n");
    for (int i = 0; i < 100000; i++) puts_(&t, "x");
    puts_(&t, "\nk1,2021-02-01,OUT,AZE,GYD,PASSPORT,M,1980\n");
    for (int i = 0; i < 50000; i++) puts_(&t, "y");
    fp = fopen(pd, "wb");
    fwrite(t.p, 1, t.n, fp);
    fclose(fp);
    free(t.p);
    run_all("giant lines", pd, perm, &cfg, &rh, 1u << EMI_REJECT_LINE_TOO_LONG);
  }
  /* errors: a missing file, an empty file, a wrong header -- one message each, naming file and line */
  {
    emi_link_ingest_t cfg = {.hasher = &plain, .lo_day = INT32_MIN, .hi_day = INT32_MAX};
    emi_link_store_t *st = NULL;
    emi_link_counts_t c;
    remove(pe);
    CHECK_INT_EQ(emi_link_read_csv(MPI_COMM_WORLD, pe, &cfg, &st, &c), EMI_ERR_IO);
    CHECK(strstr(emi_err_message(), pe) != NULL);
    emi_err_clear();
    FILE *fp = fopen(pe, "wb");
    fclose(fp);
    CHECK_INT_EQ(emi_link_read_csv(MPI_COMM_WORLD, pe, &cfg, &st, &c), EMI_ERR_INPUT);
    CHECK(strstr(emi_err_message(), "line 1") != NULL);
    emi_err_clear();
    fp = fopen(pe, "wb");
    fputs("person_id,crossed_at,direction,citizen,border_point,document,sex,birth_year\n", fp);
    fclose(fp);
    CHECK_INT_EQ(emi_link_read_csv(MPI_COMM_WORLD, pe, &cfg, &st, &c), EMI_ERR_INPUT);
    CHECK(strstr(emi_err_message(), "line 1") != NULL && strstr(emi_err_message(), "citizen") != NULL);
    emi_err_clear();
    CHECK(st == NULL);
  }
  if (!getenv("EMI_TEST_KEEP")) remove(pa), remove(pb), remove(pc), remove(pd), remove(pe), remove(pk);
  MPI_Finalize();
  return emi_test_report("test_linkage_csv");
}
