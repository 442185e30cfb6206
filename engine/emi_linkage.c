/* emi_linkage.c: see emi_linkage.h. */
#include "emi_linkage.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "emi_call.h"
#include "emi_cli.h"
#include "emi_log.h"
#include "emi_sim.h" /* calendar */

#define BATCH 65536          /* HDF5 rows read at a time */
#define READ_BUF (1u << 20)  /* CSV read buffer */

#define EMI_REJECT_NAME_(e, name, expected) name,
const char *const emi_link_reject_names[EMI_LINK_NREJECTS] = {EMI_REJECT_LIST(EMI_REJECT_NAME_) "date_before_period",
                                                              "date_after_period"};
#undef EMI_REJECT_NAME_

/* ------------------------------------------------------------------ person keys */
emi_err_t emi_link_hasher_init(emi_link_hasher_t *h, const char *key_file)
{
  emi_err_t err = EMI_SUCCESS;
  unsigned char key[4097];
  size_t len = 0;
  FILE *fp = NULL;
  memset(h, 0, sizeof *h);
  if (sodium_init() < 0) return EMI_ERROR(EMI_ERR_CRYPTO, "libsodium could not be initialised");
  if (!key_file) return EMI_SUCCESS;
  if (!(fp = fopen(key_file, "rb"))) EMI_FAIL(EMI_ERR_IO, "%s: cannot open the key file: %s", key_file, strerror(errno));
  len = fread(key, 1, sizeof key, fp);
  if (ferror(fp)) EMI_FAIL(EMI_ERR_IO, "%s: cannot read the key file", key_file);
  if (len < crypto_auth_hmacsha256_KEYBYTES || len > 4096)
    EMI_FAIL(EMI_ERR_CONFIG, "%s: the key file holds %s%zu bytes: expected %d to 4096 bytes (e.g. 32 random bytes: "
             "head -c 32 /dev/urandom > KEY)", key_file, len > 4096 ? "more than " : "", len > 4096 ? (size_t)4096 : len,
             (int)crypto_auth_hmacsha256_KEYBYTES);
  if (crypto_auth_hmacsha256_init(&h->init, key, len) != 0) EMI_FAIL(EMI_ERR_CRYPTO, "HMAC-SHA-256 initialisation failed");
  h->keyed = 1;
cleanup:
  sodium_memzero(key, sizeof key);
  if (fp) fclose(fp);
  return err;
}

uint64_t emi_link_hash(const emi_link_hasher_t *h, const char *key, size_t len)
{
  unsigned char d[32];
  if (h->keyed) {
    crypto_auth_hmacsha256_state st = h->init;
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)key, len);
    crypto_auth_hmacsha256_final(&st, d);
  } else {
    crypto_hash_sha256(d, (const unsigned char *)key, len);
  }
  uint64_t x = 0;
  for (int i = 7; i >= 0; i--) x = x << 8 | d[i];
  return x;
}

/* ------------------------------------------------------------------ shared pieces */
static void counts_init(emi_link_counts_t *c)
{
  memset(c, 0, sizeof *c);
  c->first_bad = -1;
  c->min_day = INT32_MAX;
  c->max_day = INT32_MIN;
}

typedef struct {
  emi_sort_item_t *p;
  size_t n, cap;
} items_t;

static int items_push(items_t *b, emi_sort_item_t it)
{
  if (b->n == b->cap) {
    size_t cap = b->cap ? 2 * b->cap : 65536;
    emi_sort_item_t *q = realloc(b->p, cap * sizeof *q);
    if (!q) return 0;
    b->p = q, b->cap = cap;
  }
  b->p[b->n++] = it;
  return 1;
}

/* Period check, then pack.  Returns 1 accepted, 0 rejected (why filled), -1 out of memory. */
static int accept(const emi_link_ingest_t *cfg, const emi_crossing_t *r, size_t keylen, items_t *out,
                  emi_link_counts_t *c, emi_reject_info_t *why)
{
  if (r->day < cfg->lo_day || r->day > cfg->hi_day) {
    why->reason = (emi_reject_t)(r->day < cfg->lo_day ? EMI_LINK_REJECT_BEFORE_PERIOD : EMI_LINK_REJECT_AFTER_PERIOD);
    why->field = 1;
    int y, m, d;
    emi_civil_from_days(r->day, &y, &m, &d);
    snprintf(why->found, sizeof why->found, "%04d-%02d-%02d", y, m, d);
    return 0;
  }
  emi_sort_item_t it = {emi_link_hash(cfg->hasher, r->person_id, keylen),
                        emi_link_k1(r->day, r->second, r->direction == EMI_CROSSING_OUT),
                        emi_link_v(r->citizenship, r->sex, r->birth_year)};
  if (!items_push(out, it)) return -1;
  if (r->day < c->min_day) c->min_day = r->day;
  if (r->day > c->max_day) c->max_day = r->day;
  return 1;
}

static void count_reject(emi_link_counts_t *c, const emi_reject_info_t *why, int64_t global_index)
{
  c->rejects[why->reason]++;
  if (c->first_bad < 0) {
    c->first_bad = global_index;
    c->bad = *why;
    if (why->field == 0) snprintf(c->bad.found, sizeof c->bad.found, "(withheld: person key)");
  }
}

/* Sum the counts over ranks; first_bad = the smallest; min/max days. */
static emi_err_t counts_reduce(MPI_Comm comm, emi_link_counts_t *c)
{
  emi_err_t err = EMI_SUCCESS;
  int64_t s[2 + EMI_LINK_NREJECTS];
  s[0] = c->in, s[1] = c->accepted;
  for (int k = 0; k < EMI_LINK_NREJECTS; k++) s[2 + k] = c->rejects[k];
  EMI_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, s, 2 + EMI_LINK_NREJECTS, MPI_INT64_T, MPI_SUM, comm));
  c->in = s[0], c->accepted = s[1];
  for (int k = 0; k < EMI_LINK_NREJECTS; k++) c->rejects[k] = s[2 + k];
  int64_t fb = c->first_bad < 0 ? INT64_MAX : c->first_bad, mine = fb;
  EMI_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, &fb, 1, MPI_INT64_T, MPI_MIN, comm));
  if (mine != fb) c->bad.reason = (emi_reject_t)EMI_LINK_NREJECTS; /* not the rank holding the first reject */
  c->first_bad = fb == INT64_MAX ? -1 : fb;
  EMI_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, &c->min_day, 1, MPI_INT32_T, MPI_MIN, comm));
  EMI_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, &c->max_day, 1, MPI_INT32_T, MPI_MAX, comm));
cleanup:
  return err;
}

/* ------------------------------------------------------------------ HDF5 compound form */
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

/* Memory type of emi_crossing_t, by member name (the file's enums have the same names and values). */
static hid_t mem_type(void)
{
  static const char *const dirs[2] = {"IN", "OUT"}, *const sexes[3] = {"M", "F", "X"};
  static const uint8_t dv[2] = {EMI_CROSSING_IN, EMI_CROSSING_OUT}, sv[3] = {EMI_SEX_M, EMI_SEX_F, EMI_SEX_X};
  hid_t t = H5I_INVALID_HID, key = str_type(EMI_CROSSINGS_KEY_LEN), c3 = str_type(3),
        code = str_type(EMI_CROSSINGS_CODE_LEN), dir = H5Tenum_create(H5T_NATIVE_UINT8),
        sex = H5Tenum_create(H5T_NATIVE_UINT8);
  int ok = 0;
  if (key < 0 || c3 < 0 || code < 0 || dir < 0 || sex < 0) goto done;
  for (int k = 0; k < 2; k++)
    if (H5Tenum_insert(dir, dirs[k], &dv[k]) < 0) goto done;
  for (int k = 0; k < 3; k++)
    if (H5Tenum_insert(sex, sexes[k], &sv[k]) < 0) goto done;
  if ((t = H5Tcreate(H5T_COMPOUND, sizeof(emi_crossing_t))) < 0) goto done;
  if (H5Tinsert(t, "person_id", offsetof(emi_crossing_t, person_id), key) < 0 ||
      H5Tinsert(t, "day", offsetof(emi_crossing_t, day), H5T_NATIVE_INT32) < 0 ||
      H5Tinsert(t, "second", offsetof(emi_crossing_t, second), H5T_NATIVE_INT32) < 0 ||
      H5Tinsert(t, "direction", offsetof(emi_crossing_t, direction), dir) < 0 ||
      H5Tinsert(t, "citizenship", offsetof(emi_crossing_t, citizenship), c3) < 0 ||
      H5Tinsert(t, "border_point", offsetof(emi_crossing_t, border_point), code) < 0 ||
      H5Tinsert(t, "document", offsetof(emi_crossing_t, document), code) < 0 ||
      H5Tinsert(t, "sex", offsetof(emi_crossing_t, sex), sex) < 0 ||
      H5Tinsert(t, "birth_year", offsetof(emi_crossing_t, birth_year), H5T_NATIVE_INT16) < 0)
    goto done;
  ok = 1;
done:
  if (key >= 0) H5Tclose(key);
  if (c3 >= 0) H5Tclose(c3);
  if (code >= 0) H5Tclose(code);
  if (dir >= 0) H5Tclose(dir);
  if (sex >= 0) H5Tclose(sex);
  if (!ok && t >= 0) H5Tclose(t), t = H5I_INVALID_HID;
  return t;
}

static int printable(const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f) return 0;
  return 1;
}

static size_t padded_len(const char *s, size_t size)
{
  const char *z = memchr(s, '\0', size);
  return z ? (size_t)(z - s) : size;
}

static int code_cmp(const void *a, const void *b) { return memcmp(a, b, 3); }

/* The rules of emi_crossing_parse, applied to a record of the compound form.  Returns 1 if valid. */
static int validate(const emi_crossing_t *r, const emi_country_list_t *countries, size_t *keylen,
                    emi_reject_info_t *why)
{
#define REJ(reason_, field_, text_, len_)                                       \
  do {                                                                          \
    why->reason = (reason_);                                                    \
    why->field = (field_);                                                      \
    size_t l_ = (len_) < sizeof why->found - 1 ? (len_) : sizeof why->found - 1; \
    memcpy(why->found, (text_), l_);                                            \
    why->found[l_] = '\0';                                                      \
    return 0;                                                                   \
  } while (0)
  char t[48];
  size_t kl = padded_len(r->person_id, EMI_CROSSINGS_KEY_LEN);
  if (kl == 0) REJ(EMI_REJECT_MISSING_KEY, 0, "", 0);
  if (!printable(r->person_id, kl)) REJ(EMI_REJECT_BAD_KEY, 0, "", 0);
  *keylen = kl;
  static int32_t lo = 0, hi = 0;
  if (!lo) lo = emi_days_from_civil(1900, 1, 1), hi = emi_days_from_civil(2199, 12, 31);
  if (r->day < lo || r->day > hi || r->second < -1 || r->second > 86399) {
    int n = snprintf(t, sizeof t, "day %d second %d", (int)r->day, (int)r->second);
    REJ(EMI_REJECT_BAD_DATE, 1, t, (size_t)n);
  }
  if (r->direction != EMI_CROSSING_IN && r->direction != EMI_CROSSING_OUT) {
    int n = snprintf(t, sizeof t, "%d", r->direction);
    REJ(EMI_REJECT_UNKNOWN_DIRECTION, 2, t, (size_t)n);
  }
  const char *c = r->citizenship;
  if (c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z' || c[2] < 'A' || c[2] > 'Z')
    REJ(EMI_REJECT_INVALID_COUNTRY, 3, c, padded_len(c, 3));
  if (countries && countries->codes && !bsearch(c, countries->codes, (size_t)countries->n, 3, code_cmp))
    REJ(EMI_REJECT_UNKNOWN_COUNTRY, 3, c, 3);
  size_t bl = padded_len(r->border_point, EMI_CROSSINGS_CODE_LEN), dl = padded_len(r->document, EMI_CROSSINGS_CODE_LEN);
  if (bl == 0 || !printable(r->border_point, bl)) REJ(EMI_REJECT_BAD_BORDER_POINT, 4, r->border_point, bl);
  if (dl == 0 || !printable(r->document, dl)) REJ(EMI_REJECT_BAD_DOCUMENT, 5, r->document, dl);
  if (r->sex < EMI_SEX_M || r->sex > EMI_SEX_X) {
    int n = snprintf(t, sizeof t, "%d", r->sex);
    REJ(EMI_REJECT_UNKNOWN_SEX, 6, t, (size_t)n);
  }
  int y, m, d;
  emi_civil_from_days(r->day, &y, &m, &d);
  int n = snprintf(t, sizeof t, "%d", (int)r->birth_year);
  if (r->birth_year > y) REJ(EMI_REJECT_BIRTH_AFTER_CROSSING, 7, t, (size_t)n);
  if (y - r->birth_year > 120) REJ(EMI_REJECT_BAD_BIRTH_YEAR, 7, t, (size_t)n);
  return 1;
#undef REJ
}

emi_err_t emi_link_read_h5(MPI_Comm comm, const char *path, const emi_link_ingest_t *cfg, emi_sort_item_t **items,
                           size_t *n, emi_link_counts_t *counts)
{
  emi_err_t err = EMI_SUCCESS, local = EMI_SUCCESS;
  hid_t fid = H5I_INVALID_HID, did = H5I_INVALID_HID, fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID,
        mtype = H5I_INVALID_HID;
  emi_crossing_t *buf = NULL;
  items_t out = {0};
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  counts_init(counts);
  *items = NULL, *n = 0;
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  /* every rank opens the file read-only on its own (no collective metadata needed to read a slab) */
  if ((fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0)
    local = EMI_ERROR(EMI_ERR_IO, "%s: cannot open as an HDF5 file", path);
  else if ((did = H5Dopen2(fid, "/crossings/records", H5P_DEFAULT)) < 0)
    local = EMI_ERROR(EMI_ERR_INPUT, "%s: no dataset /crossings/records: expected the compound form written by "
                      "`emflow convert` or `emflow simulate --crossings-h5`", path);
  EMI_TRY(emi_mpi_agree(comm, local, NULL));
  EMI_H5_TRY(fspace = H5Dget_space(did));
  hsize_t N = 0;
  if (H5Sget_simple_extent_ndims(fspace) != 1) EMI_FAIL(EMI_ERR_INPUT, "%s: /crossings/records is not 1-D", path);
  EMI_H5_TRY(H5Sget_simple_extent_dims(fspace, &N, NULL));
  EMI_H5_TRY(mtype = mem_type());
  const hsize_t r0 = N * (hsize_t)rank / (hsize_t)size, r1 = N * (hsize_t)(rank + 1) / (hsize_t)size;
  EMI_MALLOC(buf, BATCH, "a batch of records");
  emi_progress_t prog; /* rank 0's share of the records */
  emi_progress_begin(&prog, "classify: reading and validating records", (double)(r1 - r0), "records");
  for (hsize_t a = r0; a < r1 && !local; a += BATCH) {
    emi_progress_update(&prog, (double)(a - r0));
    hsize_t cnt = r1 - a < BATCH ? r1 - a : BATCH;
    EMI_H5_TRY(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &a, NULL, &cnt, NULL));
    EMI_H5_TRY(mspace = H5Screate_simple(1, &cnt, NULL));
    if (H5Dread(did, mtype, mspace, fspace, H5P_DEFAULT, buf) < 0)
      local = EMI_ERROR(EMI_ERR_INPUT, "%s: cannot read /crossings/records rows %llu..%llu: not the compound form "
                        "of engine/emi_crossings.h?", path, (unsigned long long)a, (unsigned long long)(a + cnt - 1));
    H5Sclose(mspace), mspace = H5I_INVALID_HID;
    for (hsize_t i = 0; i < cnt && !local; i++) {
      emi_reject_info_t why;
      size_t kl = 0;
      int ok = validate(&buf[i], cfg->countries, &kl, &why);
      if (ok) ok = accept(cfg, &buf[i], kl, &out, counts, &why);
      if (ok < 0) local = EMI_ERROR(EMI_ERR_NOMEM, "cannot grow the record array (%zu records)", out.n);
      else if (ok) counts->accepted++;
      else count_reject(counts, &why, (int64_t)(a + i));
      counts->in++;
    }
    sodium_memzero(buf, (size_t)cnt * sizeof *buf);
  }
  emi_progress_end(&prog, (double)(r1 - r0));
  EMI_TRY(emi_mpi_agree(comm, local, NULL));
  EMI_TRY(counts_reduce(comm, counts));
  *items = out.p, *n = out.n;
  out.p = NULL;
cleanup:
  if (mspace >= 0) H5Sclose(mspace);
  if (fspace >= 0) H5Sclose(fspace);
  if (mtype >= 0) H5Tclose(mtype);
  if (did >= 0) H5Dclose(did);
  if (fid >= 0) H5Fclose(fid);
  free(buf);
  free(out.p);
  return err;
}

/* ------------------------------------------------------------------ CSV */
typedef void (*line_fn)(void *ctx, const char *line, size_t len, int too_long);

/* Call fn for every line of bytes [start, end) of fp (start is a line start). */
static emi_err_t scan_range(FILE *fp, const char *path, uint64_t start, uint64_t end, line_fn fn, void *ctx)
{
  emi_err_t err = EMI_SUCCESS;
  char *buf = NULL, *line = NULL;
  size_t ll = 0;
  int too_long = 0;
  EMI_MALLOC(buf, READ_BUF, "read buffer");
  EMI_MALLOC(line, EMI_CROSSINGS_MAX_LINE + 2, "line buffer");
  if (fseeko(fp, (off_t)start, SEEK_SET) != 0) EMI_FAIL(EMI_ERR_IO, "%s: cannot seek: %s", path, strerror(errno));
  uint64_t pos = start;
  emi_progress_t prog; /* rank 0's share; a line only when reading takes longer than the interval */
  char what[96];
  const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
  snprintf(what, sizeof what, "reading %.70s", base);
  emi_progress_begin(&prog, what, (double)(end - start) / 1e6, "MB");
  while (pos < end) {
    size_t want = end - pos < READ_BUF ? (size_t)(end - pos) : READ_BUF;
    size_t got = fread(buf, 1, want, fp);
    if (got == 0) EMI_FAIL(EMI_ERR_IO, "%s: read error or unexpected end of file at byte %" PRIu64, path, pos);
    pos += got;
    emi_progress_update(&prog, (double)(pos - start) / 1e6);
    size_t i = 0;
    while (i < got) {
      char *nl = memchr(buf + i, '\n', got - i);
      size_t seg = nl ? (size_t)(nl - (buf + i)) : got - i;
      if (!too_long) {
        size_t keep = ll + seg > EMI_CROSSINGS_MAX_LINE + 1 ? EMI_CROSSINGS_MAX_LINE + 1 - ll : seg;
        memcpy(line + ll, buf + i, keep);
        ll += keep;
        if (keep < seg) too_long = 1;
      }
      i += seg;
      if (nl) {
        line[ll] = '\0';
        fn(ctx, line, ll, too_long);
        ll = 0, too_long = 0;
        i++;
      }
    }
  }
  if (ll > 0 || too_long) {
    line[ll] = '\0';
    fn(ctx, line, ll, too_long);
  }
  emi_progress_end(&prog, (double)(end - start) / 1e6);
cleanup:
  if (line) sodium_memzero(line, EMI_CROSSINGS_MAX_LINE + 2);
  free(buf);
  free(line);
  return err;
}

/* Header: the names of `fields` in any order, each once (BOM, CRLF, quotes accepted). */
static emi_err_t read_header(const char *path, FILE *fp, uint64_t size, int nfields, const char *const *fields,
                             const char *expected, int *col, uint64_t *hlen)
{
  char buf[EMI_CROSSINGS_MAX_LINE + 2];
  if (size == 0) return EMI_ERROR(EMI_ERR_INPUT, "%s: line 1: the file is empty: expected the header %s", path, expected);
  size_t got = fread(buf, 1, sizeof buf - 1, fp);
  buf[got] = '\0';
  char *nl = memchr(buf, '\n', got);
  if (!nl && got == sizeof buf - 1)
    return EMI_ERROR(EMI_ERR_INPUT, "%s: line 1: the header is too long: expected %s", path, expected);
  size_t n = nl ? (size_t)(nl - buf) : got;
  *hlen = nl ? n + 1 : n;
  if (n && buf[n - 1] == '\r') n--;
  buf[n] = '\0';
  char *h = buf;
  if (n >= 3 && !memcmp(h, "\xEF\xBB\xBF", 3)) h += 3;
  for (int k = 0; k < nfields; k++) col[k] = -1;
  int j = 0;
  for (char *tok = h;; j++) {
    char *c = strchr(tok, ',');
    if (c) *c = '\0';
    size_t tl = strlen(tok);
    if (tl >= 2 && tok[0] == '"' && tok[tl - 1] == '"') tok[tl - 1] = '\0', tok++;
    int k;
    for (k = 0; k < nfields; k++)
      if (!strcmp(tok, fields[k])) break;
    if (k == nfields || j >= nfields || col[k] >= 0)
      return EMI_ERROR(EMI_ERR_INPUT, "%s: line 1: header field %d is '%s': expected the header %s (columns in any "
                       "order, each once)", path, j + 1, tok, expected);
    col[k] = j;
    if (!c) break;
    tok = c + 1;
  }
  for (int k = 0; k < nfields; k++)
    if (col[k] < 0)
      return EMI_ERROR(EMI_ERR_INPUT, "%s: line 1: the header has no column '%s': expected the header %s", path,
                       fields[k], expected);
  return EMI_SUCCESS;
}

static emi_err_t line_start_after(FILE *fp, const char *path, uint64_t b, uint64_t size, uint64_t *out)
{
  char buf[65536];
  uint64_t pos = b - 1;
  if (fseeko(fp, (off_t)pos, SEEK_SET) != 0) return EMI_ERROR(EMI_ERR_IO, "%s: cannot seek: %s", path, strerror(errno));
  while (pos < size) {
    size_t got = fread(buf, 1, sizeof buf, fp);
    if (got == 0) break;
    char *nl = memchr(buf, '\n', got);
    if (nl) {
      *out = pos + (uint64_t)(nl - buf) + 1;
      return EMI_SUCCESS;
    }
    pos += got;
  }
  *out = size;
  return EMI_SUCCESS;
}

/* Open, read the header on rank 0, share it, and give this rank its byte range [*b0, *b1). */
static emi_err_t csv_open(MPI_Comm comm, const char *path, int nfields, const char *const *fields,
                          const char *expected, FILE **pfp, int *col, uint64_t *b0, uint64_t *b1)
{
  emi_err_t err = EMI_SUCCESS, local = EMI_SUCCESS;
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  uint64_t hdr[2 + 16] = {0}, *starts = NULL;
  FILE *fp = fopen(path, "rb");
  if (!fp) local = EMI_ERROR(EMI_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  if (!local && rank == 0) {
    if (fseeko(fp, 0, SEEK_END) != 0) local = EMI_ERROR(EMI_ERR_IO, "%s: cannot seek: %s", path, strerror(errno));
    else {
      hdr[0] = (uint64_t)ftello(fp);
      rewind(fp);
      local = read_header(path, fp, hdr[0], nfields, fields, expected, col, &hdr[1]);
      for (int k = 0; k < nfields; k++) hdr[2 + k] = (uint64_t)col[k];
    }
  }
  EMI_TRY(emi_mpi_agree(comm, local, NULL));
  EMI_MPI_TRY(MPI_Bcast(hdr, 2 + nfields, MPI_UINT64_T, 0, comm));
  for (int k = 0; k < nfields; k++) col[k] = (int)hdr[2 + k];
  const uint64_t fsize = hdr[0], H = hdr[1];
  EMI_CALLOC(starts, (size_t)size + 1, "range starts");
  uint64_t b = H + (uint64_t)((double)(fsize - H) * rank / size), st = H;
  if (rank > 0) local = b >= fsize ? (st = fsize, EMI_SUCCESS) : line_start_after(fp, path, b, fsize, &st);
  EMI_TRY(emi_mpi_agree(comm, local, NULL));
  EMI_MPI_TRY(MPI_Allgather(&st, 1, MPI_UINT64_T, starts, 1, MPI_UINT64_T, comm));
  starts[size] = fsize;
  for (int r = 1; r <= size; r++)
    if (starts[r] < starts[r - 1]) starts[r] = starts[r - 1];
  *b0 = starts[rank], *b1 = starts[rank + 1];
  *pfp = fp;
  fp = NULL;
cleanup:
  if (fp) fclose(fp);
  free(starts);
  return err;
}

typedef struct {
  const emi_link_ingest_t *cfg;
  const int *col;
  items_t out;
  emi_link_counts_t *c;
  emi_err_t err;
} csv_state_t;

static void crossing_line(void *ctx, const char *p, size_t n, int too_long)
{
  csv_state_t *s = ctx;
  emi_crossing_t rec;
  emi_reject_info_t why;
  int ok;
  if (too_long) {
    why.reason = EMI_REJECT_LINE_TOO_LONG, why.field = -1;
    snprintf(why.found, sizeof why.found, "(a line longer than %d bytes)", EMI_CROSSINGS_MAX_LINE);
    ok = 0;
  } else {
    ok = emi_crossing_parse(p, n, s->col, s->cfg->countries, &rec, &why);
    if (ok) ok = accept(s->cfg, &rec, padded_len(rec.person_id, EMI_CROSSINGS_KEY_LEN), &s->out, s->c, &why);
    sodium_memzero(rec.person_id, sizeof rec.person_id);
  }
  if (ok < 0 && !s->err) s->err = EMI_ERROR(EMI_ERR_NOMEM, "cannot grow the record array (%zu records)", s->out.n);
  else if (ok > 0) s->c->accepted++;
  else if (ok == 0) count_reject(s->c, &why, s->c->in); /* local line index; made global below */
  s->c->in++;
}

emi_err_t emi_link_read_csv(MPI_Comm comm, const char *path, const emi_link_ingest_t *cfg, emi_sort_item_t **items,
                            size_t *n, emi_link_counts_t *counts)
{
  emi_err_t err = EMI_SUCCESS;
  FILE *fp = NULL;
  int col[EMI_CROSSINGS_NFIELDS];
  uint64_t b0, b1;
  csv_state_t s = {.cfg = cfg, .col = col, .c = counts};
  counts_init(counts);
  *items = NULL, *n = 0;
  EMI_TRY(csv_open(comm, path, EMI_CROSSINGS_NFIELDS, emi_crossings_fields, EMI_CROSSINGS_HEADER, &fp, col, &b0, &b1));
  emi_err_t local = scan_range(fp, path, b0, b1, crossing_line, &s);
  if (!local) local = s.err;
  EMI_TRY(emi_mpi_agree(comm, local, NULL));
  int64_t before = 0;
  EMI_MPI_TRY(MPI_Exscan(&counts->in, &before, 1, MPI_INT64_T, MPI_SUM, comm));
  int rank;
  MPI_Comm_rank(comm, &rank);
  if (rank == 0) before = 0;
  if (counts->first_bad >= 0) counts->first_bad += before + 2; /* file line: the header is line 1 */
  EMI_TRY(counts_reduce(comm, counts));
  *items = s.out.p, *n = s.out.n;
  s.out.p = NULL;
cleanup:
  if (fp) fclose(fp);
  free(s.out.p);
  return err;
}

/* ------------------------------------------------------------------ declarations */
typedef struct {
  const emi_link_hasher_t *h;
  const int *col;
  items_t out;
  int64_t c[3];
  emi_err_t err;
} decl_state_t;

static void decl_line(void *ctx, const char *p, size_t n, int too_long)
{
  decl_state_t *s = ctx;
  const char *f[4];
  size_t fl[4];
  int nf = 0, ok = !too_long;
  if (n && p[n - 1] == '\r') n--;
  size_t a = 0;
  for (size_t i = 0; ok && i <= n; i++)
    if (i == n || p[i] == ',') {
      if (nf < 4) f[nf] = p + a, fl[nf] = i - a;
      nf++;
      a = i + 1;
    }
  if (nf != 3) ok = 0;
  s->c[0]++;
  if (ok) {
    const char *key = f[s->col[0]], *date = f[s->col[1]], *dest = f[s->col[2]];
    size_t kl = fl[s->col[0]], dl = fl[s->col[1]], nl = fl[s->col[2]];
    int32_t day, sec;
    if (kl == 0 || kl > EMI_CROSSINGS_KEY_LEN || !printable(key, kl) || !emi_crossing_parse_time(date, dl, &day, &sec) ||
        nl != 3 || dest[0] < 'A' || dest[0] > 'Z' || dest[1] < 'A' || dest[1] > 'Z' || dest[2] < 'A' || dest[2] > 'Z')
      ok = 0;
    else {
      emi_sort_item_t it = {emi_link_hash(s->h, key, kl), emi_link_k1(day, -1, 0), 0};
      if (!items_push(&s->out, it)) {
        if (!s->err) s->err = EMI_ERROR(EMI_ERR_NOMEM, "cannot grow the declarations array");
        return;
      }
    }
  }
  s->c[ok ? 1 : 2]++;
}

emi_err_t emi_link_read_declarations(MPI_Comm comm, const char *path, const emi_link_hasher_t *h,
                                     emi_sort_item_t **items, size_t *n, int64_t counts[3])
{
  static const char *const fields[3] = {"person_id", "declared_on", "destination"};
  emi_err_t err = EMI_SUCCESS;
  FILE *fp = NULL;
  int col[3];
  uint64_t b0, b1;
  decl_state_t s = {.h = h, .col = col};
  *items = NULL, *n = 0;
  EMI_TRY(csv_open(comm, path, 3, fields, "person_id,declared_on,destination", &fp, col, &b0, &b1));
  emi_err_t local = scan_range(fp, path, b0, b1, decl_line, &s);
  if (!local) local = s.err;
  EMI_TRY(emi_mpi_agree(comm, local, NULL));
  EMI_MPI_TRY(MPI_Allreduce(s.c, counts, 3, MPI_INT64_T, MPI_SUM, comm));
  *items = s.out.p, *n = s.out.n;
  s.out.p = NULL;
cleanup:
  if (fp) fclose(fp);
  free(s.out.p);
  return err;
}

/* ------------------------------------------------------------------ distribution */
emi_err_t emi_link_distribute(MPI_Comm comm, emi_sort_item_t **items, size_t *n)
{
  emi_err_t err = EMI_SUCCESS, local = EMI_SUCCESS;
  int size;
  MPI_Comm_size(comm, &size);
  int *sc = NULL, *sd = NULL, *rc = NULL, *rd = NULL;
  size_t *fill = NULL;
  emi_sort_item_t *send = NULL, *recv = NULL;
  MPI_Datatype t = MPI_DATATYPE_NULL;
  if (size == 1) return EMI_SUCCESS;
  EMI_CALLOC(sc, (size_t)size, "send counts");
  EMI_CALLOC(sd, (size_t)size, "send displacements");
  EMI_CALLOC(rc, (size_t)size, "receive counts");
  EMI_CALLOC(rd, (size_t)size, "receive displacements");
  EMI_CALLOC(fill, (size_t)size, "send offsets");
  size_t nn = *n;
  emi_sort_item_t *it = *items;
  {
    size_t *cnt = fill; /* counts first, then fill positions */
    for (size_t i = 0; i < nn; i++) cnt[it[i].k0 % (uint64_t)size]++;
    size_t run = 0;
    for (int d = 0; d < size; d++) {
      if (cnt[d] > (size_t)INT_MAX) local = EMI_ERROR(EMI_ERR_ARG, "more than %d records for one rank: use more ranks", INT_MAX);
      sc[d] = (int)cnt[d], sd[d] = (int)run;
      if (run > (size_t)INT_MAX) local = EMI_ERROR(EMI_ERR_ARG, "more than %d records on one rank: use more ranks", INT_MAX);
      size_t c = cnt[d];
      cnt[d] = run;
      run += c;
    }
  }
  EMI_TRY(emi_mpi_agree(comm, local, NULL));
  EMI_MALLOC(send, nn + 1, "send buffer");
  for (size_t i = 0; i < nn; i++) send[fill[it[i].k0 % (uint64_t)size]++] = it[i]; /* stable: local order kept */
  free(*items);
  *items = NULL, *n = 0;
  EMI_MPI_TRY(MPI_Alltoall(sc, 1, MPI_INT, rc, 1, MPI_INT, comm));
  size_t total = 0;
  for (int d = 0; d < size; d++) {
    if (total > (size_t)INT_MAX) local = EMI_ERROR(EMI_ERR_ARG, "more than %d records on one rank: use more ranks", INT_MAX);
    rd[d] = (int)total;
    total += (size_t)rc[d];
  }
  if (!local && !(recv = malloc((total + 1) * sizeof *recv)))
    local = EMI_ERROR(EMI_ERR_NOMEM, "cannot allocate the receive buffer (%zu records)", total);
  EMI_TRY(emi_mpi_agree(comm, local, NULL));
  EMI_MPI_TRY(MPI_Type_contiguous((int)sizeof(emi_sort_item_t), MPI_BYTE, &t));
  EMI_MPI_TRY(MPI_Type_commit(&t));
  EMI_MPI_TRY(MPI_Alltoallv(send, sc, sd, t, recv, rc, rd, t, comm));
  *items = recv, *n = total;
  recv = NULL;
cleanup:
  if (t != MPI_DATATYPE_NULL) MPI_Type_free(&t);
  free(sc), free(sd), free(rc), free(rd), free(fill), free(send), free(recv);
  return err;
}

/* ------------------------------------------------------------------ link table */
typedef struct {
  const emi_link_hasher_t *h;
  const int *col;
  emi_link_pair_t *p;
  size_t n, cap;
  int64_t lines;    /* lines seen by this rank */
  int64_t bad;      /* local index of the first malformed line, -1: none */
  char why[160];    /* what is wrong with it (never the key text) */
  emi_err_t err;
} table_state_t;

static int cmp_u64(const void *x, const void *y)
{
  uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
  return a < b ? -1 : a > b;
}

static int cmp_pair(const void *x, const void *y)
{
  const emi_link_pair_t *a = x, *b = y;
  if (a->b != b->b) return a->b < b->b ? -1 : 1;
  if (a->a != b->a) return a->a < b->a ? -1 : 1;
  return a->line < b->line ? -1 : a->line > b->line;
}

static void table_line(void *ctx, const char *p, size_t n, int too_long)
{
  table_state_t *s = ctx;
  int64_t me = s->lines++;
  if (s->bad >= 0 || s->err) return;
  if (too_long) {
    s->bad = me;
    snprintf(s->why, sizeof s->why, "a line longer than %d bytes: expected person_id_a,person_id_b",
             EMI_CROSSINGS_MAX_LINE);
    return;
  }
  if (n && p[n - 1] == '\r') n--;
  const char *f[2];
  size_t fl[2], a = 0;
  int nf = 0;
  for (size_t i = 0; i <= n; i++)
    if (i == n || p[i] == ',') {
      if (nf < 2) f[nf] = p + a, fl[nf] = i - a;
      nf++;
      a = i + 1;
    }
  if (nf != 2) {
    s->bad = me;
    snprintf(s->why, sizeof s->why, "%d field%s: expected 2 (person_id_a,person_id_b)", n ? nf : 0, nf == 1 && n ? "" : "s");
    return;
  }
  static const char *const names[2] = {"person_id_a", "person_id_b"};
  uint64_t k[2];
  for (int j = 0; j < 2; j++) {
    const char *key = f[s->col[j]];
    size_t kl = fl[s->col[j]];
    if (kl >= 2 && key[0] == '"' && key[kl - 1] == '"') key++, kl -= 2;
    if (kl == 0 || kl > EMI_CROSSINGS_KEY_LEN || !printable(key, kl)) {
      s->bad = me;
      snprintf(s->why, sizeof s->why, "field %s is %s: expected a person key of 1 to %d printable characters", names[j],
               kl == 0 ? "empty" : kl > EMI_CROSSINGS_KEY_LEN ? "too long" : "not printable (control characters)",
               EMI_CROSSINGS_KEY_LEN);
      return;
    }
    k[j] = emi_link_hash(s->h, key, kl);
  }
  if (k[0] == k[1]) {
    s->bad = me;
    snprintf(s->why, sizeof s->why, "person_id_a and person_id_b are the same key: expected two different keys");
    return;
  }
  if (s->n == s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 4096;
    emi_link_pair_t *q = realloc(s->p, cap * sizeof *q);
    if (!q) {
      s->err = EMI_ERROR(EMI_ERR_NOMEM, "cannot grow the link table (%zu pairs)", s->n);
      return;
    }
    s->p = q, s->cap = cap;
  }
  s->p[s->n++] = (emi_link_pair_t){.b = k[1], .a = k[0], .a0 = k[0], .line = me};
}

/* Index of the pair with key b in pairs sorted by b, or -1. */
static ptrdiff_t find_b(const emi_link_pair_t *p, size_t n, uint64_t b)
{
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t m = lo + (hi - lo) / 2;
    if (p[m].b < b) lo = m + 1;
    else hi = m;
  }
  return lo < n && p[lo].b == b ? (ptrdiff_t)lo : -1;
}

emi_err_t emi_link_read_table(MPI_Comm comm, const char *path, const emi_link_hasher_t *h, emi_link_pair_t **pairs,
                              size_t *npairs)
{
  static const char *const fields[2] = {"person_id_a", "person_id_b"};
  emi_err_t err = EMI_SUCCESS, local = EMI_SUCCESS;
  FILE *fp = NULL;
  int col[2], rank, size;
  uint64_t b0, b1;
  int *cnt = NULL, *disp = NULL;
  emi_link_pair_t *all = NULL;
  table_state_t s = {.h = h, .col = col, .bad = -1};
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  *pairs = NULL, *npairs = 0;
  EMI_TRY(csv_open(comm, path, 2, fields, "person_id_a,person_id_b", &fp, col, &b0, &b1));
  local = scan_range(fp, path, b0, b1, table_line, &s);
  if (!local) local = s.err;
  EMI_TRY(emi_mpi_agree(comm, local, NULL));
  int64_t before = 0;
  EMI_MPI_TRY(MPI_Exscan(&s.lines, &before, 1, MPI_INT64_T, MPI_SUM, comm));
  if (rank == 0) before = 0;
  for (size_t i = 0; i < s.n; i++) s.p[i].line += before + 2; /* file line: the header is line 1 */
  if (s.bad >= 0) /* the lowest rank with a bad line holds the first one */
    local = EMI_ERROR(EMI_ERR_INPUT, "%s:%" PRId64 ": %s", path, s.bad + before + 2, s.why);
  EMI_TRY(emi_mpi_agree(comm, local, NULL));

  /* gather on every rank (pairs are few: a population register's multiple documents) */
  EMI_CALLOC(cnt, (size_t)size, "gather counts");
  EMI_CALLOC(disp, (size_t)size, "gather displacements");
  int64_t nb = (int64_t)(s.n * sizeof(emi_link_pair_t)), tot = 0;
  if (nb > INT_MAX) local = EMI_ERROR(EMI_ERR_ARG, "%s: too many pairs on one rank: use more ranks", path);
  EMI_TRY(emi_mpi_agree(comm, local, NULL));
  int mine = (int)nb;
  EMI_MPI_TRY(MPI_Allgather(&mine, 1, MPI_INT, cnt, 1, MPI_INT, comm));
  for (int r = 0; r < size; r++) {
    if (tot > INT_MAX) EMI_FAIL(EMI_ERR_ARG, "%s: the link table is too large (more than 2 GiB in memory)", path);
    disp[r] = (int)tot;
    tot += cnt[r];
  }
  size_t n = (size_t)tot / sizeof(emi_link_pair_t);
  EMI_MALLOC(all, n + 1, "link table");
  EMI_MPI_TRY(MPI_Allgatherv(s.p ? (void *)s.p : (void *)all, mine, MPI_BYTE, all, cnt, disp, MPI_BYTE, comm));

  /* sort by b; identical pairs once; a key b with two keys a is an error; chains resolved */
  qsort(all, n, sizeof *all, cmp_pair);
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    if (m > 0 && all[m - 1].b == all[i].b) {
      if (all[m - 1].a0 == all[i].a0) continue;
      int64_t l1 = all[m - 1].line < all[i].line ? all[m - 1].line : all[i].line;
      int64_t l2 = all[m - 1].line < all[i].line ? all[i].line : all[m - 1].line;
      EMI_FAIL(EMI_ERR_INPUT, "%s:%" PRId64 ": field person_id_b is linked to a different person_id_a on line %" PRId64
               ": expected each key b linked to one key a", path, l2, l1);
    }
    all[m++] = all[i];
  }
  for (size_t i = 0; i < m; i++) {
    uint64_t a = all[i].a0;
    size_t steps = 0;
    for (ptrdiff_t j; (j = find_b(all, m, a)) >= 0;) {
      a = all[j].a0;
      if (++steps > m)
        EMI_FAIL(EMI_ERR_INPUT, "%s:%" PRId64 ": the pair starts a cycle of links (a key linked back to itself): "
                 "expected chains that end", path, all[i].line);
    }
    all[i].a = a;
  }
  *pairs = all, *npairs = m;
  all = NULL;
cleanup:
  if (fp) fclose(fp);
  free(s.p), free(cnt), free(disp), free(all);
  return err;
}

emi_err_t emi_link_apply(MPI_Comm comm, const emi_link_pair_t *pairs, size_t npairs, emi_sort_item_t *items, size_t n,
                         int mark, emi_link_table_counts_t *counts)
{
  emi_err_t err = EMI_SUCCESS;
  uint64_t *keys = NULL;
  uint8_t *seen = NULL;
  size_t nk = 0;
  if (counts) {
    EMI_MALLOC(keys, 2 * npairs + 1, "link table keys");
    for (size_t i = 0; i < npairs; i++) keys[nk++] = pairs[i].b, keys[nk++] = pairs[i].a0;
    qsort(keys, nk, sizeof *keys, cmp_u64);
    size_t u = 0;
    for (size_t i = 0; i < nk; i++)
      if (u == 0 || keys[u - 1] != keys[i]) keys[u++] = keys[i];
    nk = u;
    EMI_CALLOC(seen, nk + 1, "link table flags");
  }
  long long moved = 0;
  const long long nn = (long long)n;
#pragma omp parallel for schedule(static) reduction(+ : moved)
  for (long long i = 0; i < nn; i++) {
    uint64_t k = items[i].k0;
    if (seen) {
      size_t lo = 0, hi = nk;
      while (lo < hi) {
        size_t md = lo + (hi - lo) / 2;
        if (keys[md] < k) lo = md + 1;
        else hi = md;
      }
      if (lo < nk && keys[lo] == k) {
#pragma omp atomic write
        seen[lo] = 1;
      }
    }
    ptrdiff_t j = find_b(pairs, npairs, k);
    if (j >= 0) {
      items[i].k0 = pairs[j].a;
      if (mark) items[i].v |= EMI_LINK_V_LINKED;
      moved++;
    }
  }
  if (counts) {
    if (nk > (size_t)INT_MAX) EMI_FAIL(EMI_ERR_ARG, "the link table has too many keys for one reduction");
    EMI_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, seen, (int)nk, MPI_UINT8_T, MPI_BOR, comm));
    int64_t mv = (int64_t)moved;
    EMI_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, &mv, 1, MPI_INT64_T, MPI_SUM, comm));
    memset(counts, 0, sizeof *counts);
    counts->pairs = (int64_t)npairs;
    counts->records_relinked = mv;
    for (size_t i = 0; i < nk; i++) counts->keys_unknown += !seen[i];
    for (size_t i = 0; i < npairs; i++) {
      size_t lo = 0, hi = nk;
      while (lo < hi) {
        size_t md = lo + (hi - lo) / 2;
        if (keys[md] < pairs[i].b) lo = md + 1;
        else hi = md;
      }
      counts->keys_merged += seen[lo];
    }
  }
cleanup:
  free(keys), free(seen);
  return err;
}
