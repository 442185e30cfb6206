/* emi_linkage.c: see emi_linkage.h. */
#define _GNU_SOURCE /* mremap, MAP_ANONYMOUS, MAP_POPULATE, memrchr (Linux); portable fallbacks below */
#include "emi_linkage.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>
#include <sodium.h>

#include "emi_call.h"
#include "emi_cli.h"
#include "emi_log.h"
#include "emi_sim.h" /* calendar */

#define BATCH 65536          /* HDF5 rows read at a time */
#define READ_BUF (1u << 20)  /* CSV read buffer (declarations, link table) */

#define EMI_REJECT_NAME_(e, name, expected) name,
const char *const emi_link_reject_names[EMI_LINK_NREJECTS] = {EMI_REJECT_LIST(EMI_REJECT_NAME_) "before_data_start",
                                                              "after_data_end"};
#undef EMI_REJECT_NAME_

/* ------------------------------------------------------------------ person keys */
emi_err_t emi_link_hasher_init(emi_link_hasher_t *h, const char *key_file)
{
  emi_err_t err = EMI_SUCCESS;
  unsigned char key[4097], k0[64], pad[64];
  size_t len = 0;
  FILE *fp = NULL;
  memset(h, 0, sizeof *h);
  memset(k0, 0, sizeof k0);
  if (sodium_init() < 0) return EMI_ERROR(EMI_ERR_CRYPTO, "libsodium could not be initialised");
  emi_sha256_init(&h->inner); /* unkeyed: SHA-256 from the start */
  if (!key_file) return EMI_SUCCESS;
  if (!(fp = fopen(key_file, "rb"))) EMI_FAIL(EMI_ERR_IO, "%s: cannot open the key file: %s", key_file, strerror(errno));
  len = fread(key, 1, sizeof key, fp);
  if (ferror(fp)) EMI_FAIL(EMI_ERR_IO, "%s: cannot read the key file: %s", key_file, strerror(errno ? errno : EIO));
  if (len < 32 || len > 4096)
    EMI_FAIL(EMI_ERR_CONFIG, "%s: the key file holds %s%zu bytes: expected %d to 4096 bytes (e.g. 32 random bytes: "
             "head -c 32 /dev/urandom > KEY)", key_file, len > 4096 ? "more than " : "", len > 4096 ? (size_t)4096 : len,
             32);
  /* HMAC (RFC 2104) with SHA-256: a key longer than the 64-byte block is hashed first, then the key is
   * zero-padded to the block; the inner and outer states absorb K ^ 0x36.., K ^ 0x5c.. once, here */
  if (len > 64) {
    emi_sha256_t s;
    emi_sha256_init(&s);
    emi_sha256_update(&s, key, len);
    emi_sha256_final(&s, k0);
    sodium_memzero(&s, sizeof s);
  } else {
    memcpy(k0, key, len);
  }
  for (int i = 0; i < 64; i++) pad[i] = k0[i] ^ 0x36;
  emi_sha256_init(&h->inner);
  emi_sha256_update(&h->inner, pad, 64);
  for (int i = 0; i < 64; i++) pad[i] = k0[i] ^ 0x5c;
  emi_sha256_init(&h->outer);
  emi_sha256_update(&h->outer, pad, 64);
  h->keyed = 1;
cleanup:
  sodium_memzero(key, sizeof key);
  sodium_memzero(k0, sizeof k0);
  sodium_memzero(pad, sizeof pad);
  if (fp) fclose(fp);
  return err;
}

uint64_t emi_link_hash(const emi_link_hasher_t *h, const char *key, size_t len)
{
  unsigned char d[32];
  emi_sha256_t s = h->inner;
  emi_sha256_update(&s, key, len);
  emi_sha256_final(&s, d);
  if (h->keyed) {
    s = h->outer;
    emi_sha256_update(&s, d, sizeof d);
    emi_sha256_final(&s, d);
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
    why->reason = (emi_reject_t)(r->day < cfg->lo_day ? EMI_LINK_REJECT_BEFORE_START : EMI_LINK_REJECT_AFTER_END);
    why->field = 1;
    int y, m, d;
    emi_civil_from_days(r->day, &y, &m, &d);
    snprintf(why->found, sizeof why->found, "%04d-%02d-%02d", y, m, d);
    return 0;
  }
  emi_sort_item_t it = {emi_link_hash(cfg->hasher, r->person_id, keylen),
                        emi_link_k1(r->day, r->second, r->direction == EMI_CROSSING_OUT),
                        emi_link_v(r->citizenship, r->sex, r->birth_year)};
  if (cfg->nland) { /* the loss correction's border-point class (emi_loss.h) */
    size_t bl = 0;
    while (bl < EMI_CROSSINGS_CODE_LEN && r->border_point[bl]) bl++;
    for (int k = 0; k < cfg->nland; k++)
      if (strlen(cfg->land_points[k]) == bl && !memcmp(cfg->land_points[k], r->border_point, bl)) {
        it.v |= EMI_LINK_V_LAND;
        break;
      }
  }
  if (!items_push(out, it)) return -1;
  if (r->day < c->min_day) c->min_day = r->day;
  if (r->day > c->max_day) c->max_day = r->day;
  return 1;
}

/* quiet: a reject outside cfg->lo_day .. hi_day is counted only (emi_link_ingest_t.quiet_bounds) */
static void count_reject(emi_link_counts_t *c, const emi_reject_info_t *why, int64_t global_index, int quiet)
{
  c->rejects[why->reason]++;
  if (quiet && (int)why->reason >= (int)EMI_NREJECTS) return;
  if (c->first_bad < 0) {
    c->first_bad = global_index;
    c->bad = *why;
    if (why->field == 0 && why->found[0]) snprintf(c->bad.found, sizeof c->bad.found, "(withheld: person key)");
  }
  if (c->nex < EMI_LINK_NEXAMPLES) {
    emi_link_example_t *e = &c->ex[c->nex++];
    e->line = global_index;
    e->why = *why;
    if (why->field == 0 && why->found[0]) snprintf(e->why.found, sizeof e->why.found, "(withheld: person key)");
  }
}

/* Every rank gets the first EMI_LINK_NEXAMPLES examples over ranks (each rank's in file order, lines
 * already global): gathered, then merged by line. */
static emi_err_t examples_reduce(MPI_Comm comm, int *nex, emi_link_example_t *ex)
{
  emi_err_t err = EMI_SUCCESS;
  int size;
  MPI_Comm_size(comm, &size);
  emi_link_example_t *all = NULL;
  int *nall = NULL, *at = NULL; /* examples of each rank; the next one to take */
  EMI_CALLOC(all, (size_t)size * EMI_LINK_NEXAMPLES, "reject examples");
  EMI_CALLOC(nall, (size_t)size, "reject example counts");
  EMI_CALLOC(at, (size_t)size, "reject example positions");
  EMI_MPI_TRY(MPI_Allgather(nex, 1, MPI_INT, nall, 1, MPI_INT, comm));
  EMI_MPI_TRY(MPI_Allgather(ex, (int)(EMI_LINK_NEXAMPLES * sizeof *ex), MPI_BYTE, all,
                            (int)(EMI_LINK_NEXAMPLES * sizeof *ex), MPI_BYTE, comm));
  int n = 0;
  while (n < EMI_LINK_NEXAMPLES) {
    int best = -1;
    for (int r = 0; r < size; r++)
      if (at[r] < nall[r] &&
          (best < 0 || all[(size_t)r * EMI_LINK_NEXAMPLES + (size_t)at[r]].line <
                         all[(size_t)best * EMI_LINK_NEXAMPLES + (size_t)at[best]].line))
        best = r;
    if (best < 0) break;
    ex[n++] = all[(size_t)best * EMI_LINK_NEXAMPLES + (size_t)at[best]++];
  }
  *nex = n;
cleanup:
  free(all);
  free(nall);
  free(at);
  return err;
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
  EMI_TRY(examples_reduce(comm, &c->nex, c->ex));
cleanup:
  return err;
}

/* Add the counts of src (records after those of dst, in file order) to dst: the first reject is dst's,
 * or src's shifted by the records of dst. */
static void counts_add(emi_link_counts_t *dst, const emi_link_counts_t *src)
{
  if (dst->first_bad < 0 && src->first_bad >= 0) {
    dst->first_bad = dst->in + src->first_bad;
    dst->bad = src->bad;
  }
  for (int k = 0; k < src->nex && dst->nex < EMI_LINK_NEXAMPLES; k++) {
    dst->ex[dst->nex] = src->ex[k];
    dst->ex[dst->nex++].line += dst->in;
  }
  dst->in += src->in;
  dst->accepted += src->accepted;
  for (int k = 0; k < EMI_LINK_NREJECTS; k++) dst->rejects[k] += src->rejects[k];
  if (src->min_day < dst->min_day) dst->min_day = src->min_day;
  if (src->max_day > dst->max_day) dst->max_day = src->max_day;
}

/* ------------------------------------------------------------------ the record store */
/* A growable array of items in anonymous mapped memory: it grows by mremap (no copy on Linux) and is
 * returned to the system at once by munmap, whatever the allocator's state (a malloc'ed buffer freed
 * in the middle of the heap would stay resident). */
typedef struct {
  emi_sort_item_t *p;
  size_t n, cap; /* items held, items the mapping holds */
} vec_t;

#define VEC_MIN_BYTES ((size_t)64 << 10)

static size_t page_bytes(void)
{
  long ps = sysconf(_SC_PAGESIZE);
  return ps > 0 ? (size_t)ps : 4096;
}

static size_t vec_map_bytes(size_t cap)
{
  const size_t ps = page_bytes();
  return (cap * sizeof(emi_sort_item_t) + ps - 1) / ps * ps;
}

/* Room for `need` items; 0 when the system refuses the memory. */
static int vec_reserve(vec_t *v, size_t need)
{
  if (need <= v->cap) return 1;
  const size_t ps = page_bytes(), old = v->cap ? vec_map_bytes(v->cap) : 0;
  size_t bytes = old ? old : (VEC_MIN_BYTES + ps - 1) / ps * ps;
  while (bytes / sizeof(emi_sort_item_t) < need) {
    if (bytes > SIZE_MAX / 2) return 0;
    bytes *= 2; /* a multiple of the page size stays one */
  }
  void *q;
#if defined(__linux__) && defined(MREMAP_MAYMOVE)
  if (v->p) q = mremap(v->p, old, bytes, MREMAP_MAYMOVE);
  else q = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (q == MAP_FAILED) return 0;
#else
  q = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (q == MAP_FAILED) return 0;
  if (v->p) {
    memcpy(q, v->p, v->n * sizeof *v->p);
    munmap(v->p, old);
  }
#endif
  v->p = q;
  v->cap = bytes / sizeof(emi_sort_item_t); /* vec_map_bytes(cap) == bytes */
  return 1;
}

static void vec_free(vec_t *v)
{
  if (v->p) munmap(v->p, vec_map_bytes(v->cap));
  v->p = NULL;
  v->n = v->cap = 0;
}

struct emi_link_store {
  vec_t b[EMI_LINK_NBUCKETS]; /* bucket j: records with k0 >> (64 - EMI_LINK_BUCKET_BITS) == j, file order */
  size_t total;
};

static inline unsigned bucket_of(uint64_t k0) { return (unsigned)(k0 >> (64 - EMI_LINK_BUCKET_BITS)); }

size_t emi_link_store_count(const emi_link_store_t *s) { return s ? s->total : 0; }

void emi_link_store_destroy(emi_link_store_t **ps)
{
  if (!ps || !*ps) return;
  for (int j = 0; j < EMI_LINK_NBUCKETS; j++) vec_free(&(*ps)->b[j]);
  free(*ps);
  *ps = NULL;
}

void emi_link_store_days(const emi_link_store_t *s, int32_t lo, int32_t hi, int64_t *count)
{
  if (!s) return;
  for (int j = 0; j < EMI_LINK_NBUCKETS; j++)
    for (size_t i = 0; i < s->b[j].n; i++) {
      const int32_t d = emi_link_day(s->b[j].p[i].k1);
      if (d >= lo && d <= hi) count[d - lo]++;
    }
}

void emi_link_store_trim(emi_link_store_t *s, int32_t lo, int32_t hi, int64_t *below, int64_t *above)
{
  *below = *above = 0;
  if (!s) return;
  for (int j = 0; j < EMI_LINK_NBUCKETS; j++) {
    vec_t *v = &s->b[j];
    size_t o = 0;
    for (size_t i = 0; i < v->n; i++) {
      const int32_t d = emi_link_day(v->p[i].k1);
      if (d < lo) (*below)++;
      else if (d > hi) (*above)++;
      else v->p[o++] = v->p[i];
    }
    s->total -= v->n - o;
    v->n = o;
  }
}

/* median of the (up to) 28 nonzero counts next to day i, walking by step (-1: before, +1: after) */
#define SPAN_REF_DAYS 28
static int64_t span_ref_median(const int64_t *count, int64_t nd, int64_t i, int step)
{
  int64_t v[SPAN_REF_DAYS];
  int k = 0;
  for (int64_t j = i + step; j >= 0 && j < nd && k < SPAN_REF_DAYS; j += step)
    if (count[j] > 0) v[k++] = count[j];
  if (k == 0) return 0;
  for (int a = 1; a < k; a++) /* insertion sort: at most 28 */
    for (int b = a; b > 0 && v[b - 1] > v[b]; b--) {
      int64_t t = v[b];
      v[b] = v[b - 1], v[b - 1] = t;
    }
  return k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2; /* integers: the same on every rank */
}

/* does day i have too few records against the reference? (threshold: ceil(share x median), at least 1) */
static int span_thin(const int64_t *count, int64_t nd, int64_t i, int step, double min_share)
{
  const int64_t m = span_ref_median(count, nd, i, step);
  double t = min_share * (double)m;
  int64_t need = (int64_t)t;
  if ((double)need < t) need++;
  if (need < 1) need = 1;
  return count[i] < need;
}

void emi_link_data_span(const int64_t *count, int32_t lo, int32_t hi, int32_t gap_days, double min_share,
                        int32_t *start, int32_t *end, int *why_start, int *why_end)
{
  const int64_t nd = (int64_t)hi - lo + 1;
  int64_t total = 0, first = -1, last = -1;
  for (int64_t i = 0; i < nd; i++)
    if (count[i] > 0) {
      total += count[i];
      if (first < 0) first = i;
      last = i;
    }
  int ws = 0, we = 0;
  *start = *end = lo;
  if (total == 0) goto done;
  int64_t med = 0; /* the day of the median record: at least half the records on it or before */
  for (int64_t i = 0, run = 0; i < nd; i++) {
    run += count[i];
    if (2 * run >= total) {
      med = i;
      break;
    }
  }
  /* 1. gap rule */
  int64_t e = med, s = med;
  for (int64_t i = med + 1, empty = 0; i < nd; i++) {
    if (count[i] > 0) e = i, empty = 0;
    else if (++empty > gap_days) break;
  }
  for (int64_t i = med - 1, empty = 0; i >= 0; i--) {
    if (count[i] > 0) s = i, empty = 0;
    else if (++empty > gap_days) break;
  }
  if (e != last) we |= 1;
  if (s != first) ws |= 1;
  /* 2. volume rule, within [s, e] (count[med] > 0, so the loops stop) */
  while (e > s && span_thin(count + s, e - s + 1, e - s, -1, min_share)) {
    do e--;
    while (e > s && count[e] == 0);
    we |= 2;
  }
  while (s < e && span_thin(count + s, e - s + 1, 0, 1, min_share)) {
    do s++;
    while (s < e && count[s] == 0);
    ws |= 2;
  }
  *start = (int32_t)(lo + s), *end = (int32_t)(lo + e);
done:
  if (why_start) *why_start = ws;
  if (why_end) *why_end = we;
}

/* ------------------------------------------------------------------ link table (apply) */
static ptrdiff_t find_b(const emi_link_pair_t *p, size_t n, uint64_t b);
static int cmp_u64(const void *x, const void *y);

/* The keys of a link table (a and b, each once, sorted) and whether each was seen in a record. */
typedef struct {
  uint64_t *keys;
  uint8_t *seen;
  size_t nk;
} link_seen_t;

static emi_err_t link_seen_init(link_seen_t *ls, const emi_link_pair_t *pairs, size_t npairs)
{
  emi_err_t err = EMI_SUCCESS;
  memset(ls, 0, sizeof *ls);
  EMI_MALLOC(ls->keys, 2 * npairs + 1, "link table keys");
  for (size_t i = 0; i < npairs; i++) ls->keys[ls->nk++] = pairs[i].b, ls->keys[ls->nk++] = pairs[i].a0;
  qsort(ls->keys, ls->nk, sizeof *ls->keys, cmp_u64);
  size_t u = 0;
  for (size_t i = 0; i < ls->nk; i++)
    if (u == 0 || ls->keys[u - 1] != ls->keys[i]) ls->keys[u++] = ls->keys[i];
  ls->nk = u;
  EMI_CALLOC(ls->seen, ls->nk + 1, "link table flags");
cleanup:
  return err;
}

static void link_seen_free(link_seen_t *ls)
{
  free(ls->keys), free(ls->seen);
  memset(ls, 0, sizeof *ls);
}

static size_t key_index(const uint64_t *keys, size_t nk, uint64_t k)
{
  size_t lo = 0, hi = nk;
  while (lo < hi) {
    size_t md = lo + (hi - lo) / 2;
    if (keys[md] < k) lo = md + 1;
    else hi = md;
  }
  return lo;
}

/* Local, serial: items of every key b move to key a (marked when mark); keys seen are flagged in ls
 * (atomic writes: threads share ls).  Returns the records moved. */
static int64_t link_apply_local(const emi_link_pair_t *pairs, size_t npairs, link_seen_t *ls, emi_sort_item_t *items,
                                size_t n, int mark)
{
  int64_t moved = 0;
  for (size_t i = 0; i < n; i++) {
    uint64_t k = items[i].k0;
    if (ls) {
      size_t lo = key_index(ls->keys, ls->nk, k);
      if (lo < ls->nk && ls->keys[lo] == k) {
#pragma omp atomic write
        ls->seen[lo] = 1;
      }
    }
    ptrdiff_t j = find_b(pairs, npairs, k);
    if (j >= 0) {
      items[i].k0 = pairs[j].a;
      if (mark) items[i].v |= EMI_LINK_V_LINKED;
      moved++;
    }
  }
  return moved;
}

/* Collective: the table's counts from the flags and moves of every rank. */
static emi_err_t link_seen_reduce(MPI_Comm comm, link_seen_t *ls, const emi_link_pair_t *pairs, size_t npairs,
                                  int64_t moved, emi_link_table_counts_t *counts)
{
  emi_err_t err = EMI_SUCCESS;
  if (ls->nk > (size_t)INT_MAX) EMI_FAIL(EMI_ERR_ARG, "the link table has too many keys for one reduction");
  EMI_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, ls->seen, (int)ls->nk, MPI_UINT8_T, MPI_BOR, comm));
  EMI_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, &moved, 1, MPI_INT64_T, MPI_SUM, comm));
  memset(counts, 0, sizeof *counts);
  counts->pairs = (int64_t)npairs;
  counts->records_relinked = moved;
  for (size_t i = 0; i < ls->nk; i++) counts->keys_unknown += !ls->seen[i];
  for (size_t i = 0; i < npairs; i++) counts->keys_merged += ls->seen[key_index(ls->keys, ls->nk, pairs[i].b)];
cleanup:
  return err;
}

/* ------------------------------------------------------------------ parallel ingest: chunks */
/* A window (CSV) or a batch (HDF5) is cut into INGEST_CHUNKS_PER_THREAD chunks per thread, which the
 * threads take dynamically (a thread held up by another process on a shared node just takes fewer);
 * each chunk's records, counts (first reject: index within the chunk) and records per bucket are its
 * share, and the shares are merged in chunk order, i.e. file order. */
#define INGEST_CHUNKS_PER_THREAD 8

typedef struct {
  items_t out;
  emi_link_counts_t c;
  int64_t moved;
  emi_err_t err;
  char msg[256];
  size_t at[EMI_LINK_NBUCKETS]; /* records per bucket, then the chunk's first slot in each bucket */
} share_t;

struct ingest;
/* Parse or validate chunk k of the current window into sh (on some thread). */
typedef void (*chunk_fn)(const struct ingest *g, void *ctx, int k, share_t *sh);

typedef struct ingest {
  const emi_link_ingest_t *cfg;
  link_seen_t *seen; /* NULL without a link table */
  int nth, nch;      /* threads; chunks per window */
  share_t *sh;       /* [nch] */
  emi_link_store_t *store;
  emi_link_counts_t *c; /* this rank's counts (first reject: local index) */
  int64_t moved;
} ingest_t;

static emi_err_t ingest_create(const emi_link_ingest_t *cfg, ingest_t *g, emi_link_counts_t *counts)
{
  emi_err_t err = EMI_SUCCESS;
  memset(g, 0, sizeof *g);
  g->cfg = cfg;
  g->c = counts;
  g->nth = omp_get_max_threads();
  if (g->nth < 1) g->nth = 1;
  g->nch = g->nth == 1 ? 1 : g->nth * INGEST_CHUNKS_PER_THREAD;
  EMI_CALLOC(g->sh, (size_t)g->nch, "ingest shares");
  EMI_CALLOC(g->store, 1, "record store");
  if (cfg->npairs) {
    EMI_CALLOC(g->seen, 1, "link table flags");
    EMI_TRY(link_seen_init(g->seen, cfg->pairs, cfg->npairs));
  }
cleanup:
  return err;
}

static void ingest_free(ingest_t *g)
{
  if (g->sh)
    for (int k = 0; k < g->nch; k++) free(g->sh[k].out.p);
  free(g->sh);
  if (g->seen) link_seen_free(g->seen);
  free(g->seen);
  emi_link_store_destroy(&g->store);
  memset(g, 0, sizeof *g);
}

/* A thread's failure, kept with its message for the master thread. */
static void share_fail(share_t *sh, emi_err_t e)
{
  if (sh->err) return;
  sh->err = e;
  snprintf(sh->msg, sizeof sh->msg, "%s", emi_err_message());
}

/* One window: the chunks in parallel (fn), then their counts merged in chunk order and their records
 * appended to the store's buckets (a bucket receives chunk 0's records, then chunk 1's, ...). */
static emi_err_t ingest_window(ingest_t *g, chunk_fn fn, void *ctx)
{
  emi_err_t err = EMI_SUCCESS;
  emi_link_store_t *st = g->store;
  const int nch = g->nch;
  int ok = 1;
#pragma omp parallel num_threads(g->nth)
  {
#pragma omp for schedule(dynamic, 1)
    for (int k = 0; k < nch; k++) {
      share_t *sh = &g->sh[k];
      sh->out.n = 0;
      counts_init(&sh->c);
      sh->moved = 0;
      sh->err = EMI_SUCCESS;
      fn(g, ctx, k, sh);
      if (g->cfg->npairs && !sh->err)
        sh->moved = link_apply_local(g->cfg->pairs, g->cfg->npairs, g->seen, sh->out.p, sh->out.n, 1);
      memset(sh->at, 0, sizeof sh->at);
      for (size_t i = 0; i < sh->out.n; i++) sh->at[bucket_of(sh->out.p[i].k0)]++;
    }
#pragma omp master /* the calling thread: the error state is per thread */
    {
      size_t add[EMI_LINK_NBUCKETS];
      memset(add, 0, sizeof add);
      for (int k = 0; k < nch && ok; k++)
        if (g->sh[k].err) {
          err = EMI_ERROR(g->sh[k].err, "%s", g->sh[k].msg);
          ok = 0;
        }
      for (int k = 0; k < nch && ok; k++) {
        share_t *sh = &g->sh[k];
        counts_add(g->c, &sh->c);
        g->moved += sh->moved;
        for (int j = 0; j < EMI_LINK_NBUCKETS; j++) {
          size_t c = sh->at[j];
          sh->at[j] = st->b[j].n + add[j];
          add[j] += c;
        }
      }
      for (int j = 0; j < EMI_LINK_NBUCKETS && ok; j++)
        if (add[j] && !vec_reserve(&st->b[j], st->b[j].n + add[j])) {
          err = EMI_ERROR(EMI_ERR_NOMEM, "cannot grow the record store (%zu records)", st->total);
          ok = 0;
        }
      if (ok)
        for (int j = 0; j < EMI_LINK_NBUCKETS; j++) st->b[j].n += add[j], st->total += add[j];
    }
#pragma omp barrier /* the slots are known */
    if (ok) {
#pragma omp for schedule(dynamic, 1)
      for (int k = 0; k < nch; k++) {
        share_t *sh = &g->sh[k];
        for (size_t i = 0; i < sh->out.n; i++) {
          const emi_sort_item_t it = sh->out.p[i];
          const unsigned j = bucket_of(it.k0);
          st->b[j].p[sh->at[j]++] = it;
        }
      }
    }
  }
  return err;
}

/* Collective, at the end of the ingest: the link table's counts. */
static emi_err_t ingest_links(MPI_Comm comm, ingest_t *g)
{
  if (!g->cfg->npairs) return EMI_SUCCESS;
  return link_seen_reduce(comm, g->seen, g->cfg->pairs, g->cfg->npairs, g->moved, &g->c->links);
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
static int validate(const emi_crossing_t *r, const emi_country_list_t *countries, int32_t lo, int32_t hi,
                    size_t *keylen, emi_reject_info_t *why)
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
  if (!printable(r->person_id, kl)) REJ(EMI_REJECT_BAD_KEY, 0, "(withheld: person key)", 22);
  *keylen = kl;
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

typedef struct {
  const emi_crossing_t *buf;
  size_t m;
  int32_t lo, hi;
} h5_batch_t;

/* Rows [m k / K, m (k + 1) / K) of the batch. */
static void h5_chunk(const ingest_t *g, void *ctx, int k, share_t *sh)
{
  const h5_batch_t *b = ctx;
  const emi_link_ingest_t *cfg = g->cfg;
  const size_t K = (size_t)g->nch;
  for (size_t i = b->m * (size_t)k / K; i < b->m * (size_t)(k + 1) / K && !sh->err; i++) {
    emi_reject_info_t why;
    size_t kl = 0;
    int ok = validate(&b->buf[i], cfg->countries, b->lo, b->hi, &kl, &why);
    if (ok) ok = accept(cfg, &b->buf[i], kl, &sh->out, &sh->c, &why);
    if (ok < 0) share_fail(sh, EMI_ERROR(EMI_ERR_NOMEM, "cannot grow the record array (%zu records)", sh->out.n));
    else if (ok) sh->c.accepted++;
    else count_reject(&sh->c, &why, sh->c.in, cfg->quiet_bounds);
    sh->c.in++;
  }
}

emi_err_t emi_link_read_h5(MPI_Comm comm, const char *path, const emi_link_ingest_t *cfg, emi_link_store_t **store,
                           emi_link_counts_t *counts)
{
  emi_err_t err = EMI_SUCCESS, local = EMI_SUCCESS;
  hid_t fid = H5I_INVALID_HID, did = H5I_INVALID_HID, fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID,
        mtype = H5I_INVALID_HID;
  emi_crossing_t *buf = NULL;
  ingest_t g;
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  counts_init(counts);
  *store = NULL;
  local = ingest_create(cfg, &g, counts);
  EMI_TRY(emi_mpi_agree(comm, local, NULL));
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  /* every rank opens the file read-only on its own (no collective metadata needed to read a slab) */
  if ((fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0) {
    FILE *probe = fopen(path, "rb"); /* why, in the operating system's words, when it cannot be opened at all */
    local = EMI_ERROR(EMI_ERR_IO, "%s: cannot open as an HDF5 file: %s", path,
                      probe ? "not a readable HDF5 file (truncated or not HDF5)" : strerror(errno));
    if (probe) fclose(probe);
  }
  else if ((did = H5Dopen2(fid, "/crossings/records", H5P_DEFAULT)) < 0)
    local = EMI_ERROR(EMI_ERR_INPUT, "%s: no dataset /crossings/records: expected the compound form written by "
                      "`emflow convert` or `emflow simulate --crossings-h5`", path);
  if (!local) { /* the type first, so that a failed read later means damaged data, not another layout */
    static const char *const members[] = {"person_id", "day",      "second", "direction", "citizenship",
                                          "border_point", "document", "sex",    "birth_year"};
    hid_t ft = H5Dget_type(did);
    if (ft < 0 || H5Tget_class(ft) != H5T_COMPOUND)
      local = EMI_ERROR(EMI_ERR_INPUT, "%s: /crossings/records is not a compound dataset: expected the compound form "
                        "written by `emflow convert` or `emflow simulate --crossings-h5`", path);
    else
      for (size_t k = 0; k < sizeof members / sizeof *members && !local; k++)
        if (H5Tget_member_index(ft, members[k]) < 0)
          local = EMI_ERROR(EMI_ERR_INPUT, "%s: /crossings/records has no member '%s': expected the compound form "
                            "written by `emflow convert` or `emflow simulate --crossings-h5`", path, members[k]);
    if (ft >= 0) H5Tclose(ft);
  }
  EMI_TRY(emi_mpi_agree(comm, local, NULL));
  EMI_H5_TRY(fspace = H5Dget_space(did));
  hsize_t N = 0;
  if (H5Sget_simple_extent_ndims(fspace) != 1) EMI_FAIL(EMI_ERR_INPUT, "%s: /crossings/records is not 1-D", path);
  EMI_H5_TRY(H5Sget_simple_extent_dims(fspace, &N, NULL));
  EMI_H5_TRY(mtype = mem_type());
  const hsize_t r0 = N * (hsize_t)rank / (hsize_t)size, r1 = N * (hsize_t)(rank + 1) / (hsize_t)size;
  const int32_t lo = emi_days_from_civil(1900, 1, 1), hi = emi_days_from_civil(2199, 12, 31);
  EMI_MALLOC(buf, BATCH, "a batch of records");
  emi_progress_t prog; /* rank 0's share of the records */
  emi_progress_begin(&prog, "classify: reading and validating records", (double)(r1 - r0), "records");
  for (hsize_t a = r0; a < r1 && !local; a += BATCH) {
    emi_progress_update(&prog, (double)(a - r0));
    hsize_t cnt = r1 - a < BATCH ? r1 - a : BATCH;
    EMI_H5_TRY(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &a, NULL, &cnt, NULL));
    EMI_H5_TRY(mspace = H5Screate_simple(1, &cnt, NULL));
    if (H5Dread(did, mtype, mspace, fspace, H5P_DEFAULT, buf) < 0)
      local = EMI_ERROR(EMI_ERR_INPUT, "%s: cannot read /crossings/records rows %llu..%llu: their data are corrupt "
                        "or truncated (a checksum or decompression failure, or a conversion of a member's type that "
                        "failed): rewrite the file with emflow convert or emflow simulate", path, (unsigned long long)a, (unsigned long long)(a + cnt - 1));
    H5Sclose(mspace), mspace = H5I_INVALID_HID;
    if (local) break;
    /* chunks of the batch over the threads, merged in order */
    h5_batch_t hb = {.buf = buf, .m = (size_t)cnt, .lo = lo, .hi = hi};
    local = ingest_window(&g, h5_chunk, &hb);
    sodium_memzero(buf, (size_t)cnt * sizeof *buf);
  }
  emi_progress_end(&prog, (double)(r1 - r0));
  EMI_TRY(emi_mpi_agree(comm, local, NULL));
  if (counts->first_bad >= 0) counts->first_bad += (int64_t)r0; /* global row index */
  for (int k = 0; k < counts->nex; k++) counts->ex[k].line += (int64_t)r0;
  EMI_TRY(counts_reduce(comm, counts));
  EMI_TRY(ingest_links(comm, &g));
  *store = g.store;
  g.store = NULL;
cleanup:
  if (mspace >= 0) H5Sclose(mspace);
  if (fspace >= 0) H5Sclose(fspace);
  if (mtype >= 0) H5Tclose(mtype);
  if (did >= 0) H5Dclose(did);
  if (fid >= 0) H5Fclose(fid);
  free(buf);
  ingest_free(&g);
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
  /* a CR before the line's end: lines that end in CR alone run together here, so what follows
   * would be a record (with its person key): named, not shown */
  const char *cr = memchr(buf, '\r', n);
  if (cr && cr + 1 < buf + n)
    return EMI_ERROR(EMI_ERR_INPUT, "%s: line 1: the header has a carriage return (CR) at byte %zu, before the "
                     "line's end: the file's lines seem to end in CR alone; expected LF or CRLF line ends and the "
                     "header %s", path, (size_t)(cr - buf) + 1, expected);
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
      {
      char shown[64];
      emi_text_escape(shown, sizeof shown, tok);
      return EMI_ERROR(EMI_ERR_INPUT, "%s: line 1: header field %d is '%s': expected the header %s (columns in any "
                       "order, each once)", path, j + 1, shown, expected);
    }
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
  struct stat fst;
  if (!fp) local = EMI_ERROR(EMI_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  else if (fstat(fileno(fp), &fst) == 0 && S_ISDIR(fst.st_mode)) /* fopen opens a directory; reads fail */
    local = EMI_ERROR(EMI_ERR_IO, "%s: cannot read: %s", path, strerror(EISDIR));
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

/* The crossings CSV, in parallel.  The rank's byte range [b0, b1) is read in windows of about
 * nth * EMI_LINK_WINDOW_PER_THREAD bytes: a window is mapped (MAP_POPULATE: its page-table entries are
 * made at once rather than fault by fault), cut after its last line end, split at line ends into
 * chunks that the threads take dynamically (ingest_window), and unmapped when parsed, so at most one
 * window of the input is resident.
 * When the file cannot be mapped, the window is read with pread(2) into a buffer instead.  A line
 * longer than a whole window is a line_too_long reject found by the master thread. */
typedef struct {
  int fd;
  const char *path;
  int map;            /* 1: try mmap; 0: pread */
  void *m;            /* current mapping */
  size_t mlen;
  char *buf;          /* pread buffer */
  size_t cap;
} csv_src_t;

static void src_release(csv_src_t *s)
{
  if (s->m) munmap(s->m, s->mlen);
  s->m = NULL, s->mlen = 0;
}

/* Bytes [a, b) of the file (b > a), addressable until the next call. */
static emi_err_t src_get(csv_src_t *s, uint64_t a, uint64_t b, const char **out)
{
  emi_err_t err = EMI_SUCCESS;
  src_release(s);
  const size_t len = (size_t)(b - a);
  if (s->map) {
    const uint64_t ps = page_bytes(), a0 = a / ps * ps;
    int flags = MAP_PRIVATE;
#ifdef MAP_POPULATE
    flags |= MAP_POPULATE;
#endif
    void *m = mmap(NULL, (size_t)(b - a0), PROT_READ, flags, s->fd, (off_t)a0);
    if (m != MAP_FAILED) {
      s->m = m, s->mlen = (size_t)(b - a0);
      *out = (const char *)m + (a - a0);
      return EMI_SUCCESS;
    }
    s->map = 0; /* not mappable (e.g. a special file system): read from here on */
  }
  if (len > s->cap) {
    char *q = realloc(s->buf, len);
    if (!q) EMI_FAIL(EMI_ERR_NOMEM, "cannot allocate a read buffer of %zu bytes", len);
    s->buf = q, s->cap = len;
  }
  for (size_t got = 0; got < len;) {
    ssize_t r = pread(s->fd, s->buf + got, len - got, (off_t)(a + got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0)
      EMI_FAIL(EMI_ERR_IO, "%s: read error or unexpected end of file at byte %" PRIu64 "%s%s", s->path, a + got,
               r < 0 ? ": " : "", r < 0 ? strerror(errno) : "");
    got += (size_t)r;
  }
  *out = s->buf;
cleanup:
  return err;
}

static const char *last_nl(const char *p, size_t n)
{
#ifdef __GLIBC__
  return memrchr(p, '\n', n);
#else
  while (n > 0)
    if (p[--n] == '\n') return p + n;
  return NULL;
#endif
}

/* One line (without its '\n') into the share: a record, or a counted reject. */
static void csv_record(const emi_link_ingest_t *cfg, const int *col, const char *p, size_t n, share_t *sh)
{
  emi_crossing_t rec;
  emi_reject_info_t why;
  int ok;
  if (n > EMI_CROSSINGS_MAX_LINE + 1) { /* a '\r' may follow the longest line */
    why.reason = EMI_REJECT_LINE_TOO_LONG, why.field = -1;
    snprintf(why.found, sizeof why.found, "(a line longer than %d bytes)", EMI_CROSSINGS_MAX_LINE);
    ok = 0;
  } else {
    ok = emi_crossing_parse(p, n, col, cfg->countries, &rec, &why);
    if (ok) ok = accept(cfg, &rec, padded_len(rec.person_id, EMI_CROSSINGS_KEY_LEN), &sh->out, &sh->c, &why);
    sodium_memzero(rec.person_id, sizeof rec.person_id);
  }
  if (ok < 0) share_fail(sh, EMI_ERROR(EMI_ERR_NOMEM, "cannot grow the record array (%zu records)", sh->out.n));
  else if (ok > 0) sh->c.accepted++;
  else count_reject(&sh->c, &why, sh->c.in, cfg->quiet_bounds); /* index in the share; a file line after the merges */
  sh->c.in++;
}

/* Every line of p[0..n): n ends after a '\n', or at the end of the file (a last line without one). */
static void csv_lines(const emi_link_ingest_t *cfg, const int *col, const char *p, size_t n, share_t *sh)
{
  const char *e = p + n;
  while (p < e && !sh->err) {
    const char *nl = memchr(p, '\n', (size_t)(e - p));
    size_t len = nl ? (size_t)(nl - p) : (size_t)(e - p);
    csv_record(cfg, col, p, len, sh);
    p += len + (nl != NULL);
  }
}

typedef struct {
  const char *w;       /* the window */
  const size_t *bound; /* chunk k: w[bound[k] .. bound[k + 1]) */
  const int *col;
} csv_window_t;

static void csv_chunk(const ingest_t *g, void *ctx, int k, share_t *sh)
{
  const csv_window_t *cw = ctx;
  csv_lines(g->cfg, cw->col, cw->w + cw->bound[k], cw->bound[k + 1] - cw->bound[k], sh);
}

emi_err_t emi_link_read_csv(MPI_Comm comm, const char *path, const emi_link_ingest_t *cfg, emi_link_store_t **store,
                            emi_link_counts_t *counts)
{
  emi_err_t err = EMI_SUCCESS, local = EMI_SUCCESS;
  FILE *fp = NULL;
  int col[EMI_CROSSINGS_NFIELDS];
  uint64_t b0, b1;
  ingest_t g;
  csv_src_t src = {.fd = -1, .path = path, .map = 1};
  size_t *bound = NULL;
  counts_init(counts);
  *store = NULL;
  local = ingest_create(cfg, &g, counts);
  EMI_TRY(emi_mpi_agree(comm, local, NULL));
  EMI_TRY(csv_open(comm, path, EMI_CROSSINGS_NFIELDS, emi_crossings_fields, EMI_CROSSINGS_HEADER, &fp, col, &b0, &b1));
  src.fd = fileno(fp);
  {
    struct stat sb;
    if (fstat(src.fd, &sb) != 0 || !S_ISREG(sb.st_mode)) src.map = 0; /* map regular files only */
  }
  const int nth = g.nth;
  size_t W = cfg->window_bytes ? cfg->window_bytes : (size_t)nth * EMI_LINK_WINDOW_PER_THREAD;
  if (W < EMI_LINK_WINDOW_MIN) W = EMI_LINK_WINDOW_MIN; /* a line with no end within W is too long */
  if (!(bound = malloc(((size_t)g.nch + 1) * sizeof *bound))) local = EMI_ERROR(EMI_ERR_NOMEM, "cannot allocate chunks");
  emi_progress_t prog; /* rank 0's share; a line only when reading takes longer than the interval */
  char what[96];
  const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
  snprintf(what, sizeof what, "reading %.70s", base);
  emi_progress_begin(&prog, what, (double)(b1 - b0) / 1e6, "MB");
  for (uint64_t ws = b0; ws < b1 && !local;) {
    const uint64_t we = b1 - ws > W ? ws + W : b1;
    const char *w = NULL;
    if ((local = src_get(&src, ws, we, &w))) break;
    size_t cut = (size_t)(we - ws);
    if (we < b1) {
      const char *nl = last_nl(w, cut);
      if (!nl) { /* the line at ws is longer than the window: a reject; skip to its end */
        emi_reject_info_t why = {.reason = EMI_REJECT_LINE_TOO_LONG, .field = -1};
        snprintf(why.found, sizeof why.found, "(a line longer than %d bytes)", EMI_CROSSINGS_MAX_LINE);
        count_reject(counts, &why, counts->in, 0);
        counts->in++;
        uint64_t pos = we;
        for (;;) {
          if (pos >= b1) {
            ws = b1;
            break;
          }
          const uint64_t pe = b1 - pos > W ? pos + W : b1;
          if ((local = src_get(&src, pos, pe, &w))) break;
          const char *q = memchr(w, '\n', (size_t)(pe - pos));
          if (q) {
            ws = pos + (uint64_t)(q - w) + 1;
            break;
          }
          pos = pe;
        }
        continue;
      }
      cut = (size_t)(nl - w) + 1;
    }
    /* chunks at line ends: chunk k starts after the first '\n' at or after its nominal start - 1 */
    const int K = g.nch;
    bound[0] = 0, bound[K] = cut;
    for (int k = 1; k < K; k++) {
      size_t x = cut / (size_t)K * (size_t)k;
      if (x <= bound[k - 1]) x = bound[k - 1];
      else {
        const char *nl = memchr(w + x - 1, '\n', cut - (x - 1));
        x = nl ? (size_t)(nl - w) + 1 : cut;
      }
      bound[k] = x;
    }
    csv_window_t cw = {.w = w, .bound = bound, .col = col};
    local = ingest_window(&g, csv_chunk, &cw);
    ws += cut;
    emi_progress_update(&prog, (double)(ws - b0) / 1e6);
  }
  src_release(&src);
  emi_progress_end(&prog, (double)(b1 - b0) / 1e6);
  EMI_TRY(emi_mpi_agree(comm, local, NULL));
  int64_t before = 0;
  EMI_MPI_TRY(MPI_Exscan(&counts->in, &before, 1, MPI_INT64_T, MPI_SUM, comm));
  int rank;
  MPI_Comm_rank(comm, &rank);
  if (rank == 0) before = 0;
  if (counts->first_bad >= 0) counts->first_bad += before + 2; /* file line: the header is line 1 */
  for (int k = 0; k < counts->nex; k++) counts->ex[k].line += before + 2;
  EMI_TRY(counts_reduce(comm, counts));
  EMI_TRY(ingest_links(comm, &g));
  *store = g.store;
  g.store = NULL;
cleanup:
  src_release(&src);
  free(src.buf);
  free(bound);
  if (fp) fclose(fp);
  ingest_free(&g);
  return err;
}

/* ------------------------------------------------------------------ declarations */
typedef struct {
  const emi_link_hasher_t *h;
  const emi_country_list_t *countries;
  const int *col;
  items_t out;
  emi_link_decl_counts_t c; /* example lines: index of the line on this rank until made file lines */
  emi_err_t err;
} decl_state_t;

static void decl_line(void *ctx, const char *p, size_t n, int too_long)
{
  decl_state_t *s = ctx;
  emi_declaration_t rec;
  emi_reject_info_t why;
  int ok;
  if (too_long) { /* scan_range keeps at most EMI_CROSSINGS_MAX_LINE + 1 bytes of a line */
    why.reason = (emi_reject_t)EMI_DECL_REJECT_LINE_TOO_LONG, why.field = -1;
    snprintf(why.found, sizeof why.found, "(a line longer than %d bytes)", EMI_CROSSINGS_MAX_LINE);
    ok = 0;
  } else {
    ok = emi_declaration_parse(p, n, s->col, s->countries, &rec, &why);
  }
  if (ok) {
    emi_sort_item_t it = {emi_link_hash(s->h, rec.person_id, rec.keylen), emi_link_k1(rec.day, -1, 0), 0};
    sodium_memzero(rec.person_id, sizeof rec.person_id);
    if (!items_push(&s->out, it)) {
      if (!s->err) s->err = EMI_ERROR(EMI_ERR_NOMEM, "cannot grow the declarations array");
      return;
    }
    s->c.accepted++;
  } else {
    s->c.rejects[why.reason]++;
    if (s->c.nex < EMI_LINK_NEXAMPLES) {
      emi_link_example_t *e = &s->c.ex[s->c.nex++];
      e->line = s->c.in;
      e->why = why;
      if (why.field == 0 && why.found[0]) snprintf(e->why.found, sizeof e->why.found, "(withheld: person key)");
    }
  }
  s->c.in++;
}

emi_err_t emi_link_read_declarations(MPI_Comm comm, const char *path, const emi_link_hasher_t *h,
                                     const emi_country_list_t *countries, emi_sort_item_t **items, size_t *n,
                                     emi_link_decl_counts_t *counts)
{
  emi_err_t err = EMI_SUCCESS;
  FILE *fp = NULL;
  int col[EMI_DECL_NFIELDS];
  uint64_t b0, b1;
  decl_state_t s = {.h = h, .countries = countries, .col = col};
  *items = NULL, *n = 0;
  memset(counts, 0, sizeof *counts);
  EMI_TRY(csv_open(comm, path, EMI_DECL_NFIELDS, emi_decl_fields, EMI_DECL_HEADER, &fp, col, &b0, &b1));
  emi_err_t local = scan_range(fp, path, b0, b1, decl_line, &s);
  if (!local) local = s.err;
  EMI_TRY(emi_mpi_agree(comm, local, NULL));
  /* file lines: the lines of the ranks before, the header is line 1 */
  int64_t before = 0;
  int rank;
  MPI_Comm_rank(comm, &rank);
  EMI_MPI_TRY(MPI_Exscan(&s.c.in, &before, 1, MPI_INT64_T, MPI_SUM, comm));
  if (rank == 0) before = 0;
  for (int k = 0; k < s.c.nex; k++) s.c.ex[k].line += before + 2;
  counts->nex = s.c.nex;
  memcpy(counts->ex, s.c.ex, sizeof s.c.ex);
  EMI_TRY(examples_reduce(comm, &counts->nex, counts->ex));
  {
    int64_t v[2 + EMI_DECL_NREJECTS];
    v[0] = s.c.in, v[1] = s.c.accepted;
    for (int k = 0; k < EMI_DECL_NREJECTS; k++) v[2 + k] = s.c.rejects[k];
    EMI_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, v, 2 + EMI_DECL_NREJECTS, MPI_INT64_T, MPI_SUM, comm));
    counts->in = v[0], counts->accepted = v[1];
    for (int k = 0; k < EMI_DECL_NREJECTS; k++) counts->rejects[k] = v[2 + k];
  }
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
  size_t blank = 0;
  while (blank < n && (p[blank] == ' ' || p[blank] == '\t')) blank++;
  if (blank == n) return; /* a blank line links nothing (an editor's trailing empty line): skipped */
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
  uint8_t *state = NULL;
  size_t *walk = NULL;
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
  /* Each key b has one successor a0, so the pairs form chains (and, in a bad table, cycles).  Each pair's
   * end is found once: a walk stops at the end of its chain or at a pair whose end is known, and every
   * pair on the way gets that end (O(m log m) in all; following every chain from every pair was quadratic
   * in the length of a chain, and a long cycle was found only after m steps from every pair). */
  EMI_MALLOC(state, m + 1, "link chain states"); /* 0 not seen, 1 on the current walk, 2 end known */
  EMI_MALLOC(walk, m + 1, "link chain walk");
  memset(state, 0, m + 1);
  for (size_t i = 0; i < m; i++) {
    if (state[i] == 2) continue;
    size_t nw = 0;
    ptrdiff_t j = (ptrdiff_t)i;
    uint64_t a;
    for (;;) {
      if (state[j] == 2) { /* joins a chain whose end is known */
        a = all[j].a;
        break;
      }
      if (state[j] == 1)
        EMI_FAIL(EMI_ERR_INPUT, "%s:%" PRId64 ": the pair starts a cycle of links (a key linked back to itself): "
                 "expected chains that end", path, all[i].line);
      state[j] = 1;
      walk[nw++] = (size_t)j;
      ptrdiff_t next = find_b(all, m, all[j].a0);
      if (next < 0) { /* a0 is not a key b: the end of the chain */
        a = all[j].a0;
        break;
      }
      j = next;
    }
    for (size_t w = 0; w < nw; w++) all[walk[w]].a = a, state[walk[w]] = 2;
  }
  *pairs = all, *npairs = m;
  all = NULL;
cleanup:
  if (fp) fclose(fp);
  free(s.p), free(cnt), free(disp), free(all), free(state), free(walk);
  return err;
}

emi_err_t emi_link_apply(MPI_Comm comm, const emi_link_pair_t *pairs, size_t npairs, emi_sort_item_t *items, size_t n,
                         int mark, emi_link_table_counts_t *counts)
{
  emi_err_t err = EMI_SUCCESS;
  link_seen_t ls;
  memset(&ls, 0, sizeof ls);
  if (counts) EMI_TRY(link_seen_init(&ls, pairs, npairs));
  long long moved = 0;
  const size_t chunk = 65536;
  const long long nchunks = (long long)((n + chunk - 1) / chunk);
#pragma omp parallel for schedule(static) reduction(+ : moved)
  for (long long c = 0; c < nchunks; c++) {
    size_t a = (size_t)c * chunk, m = n - a < chunk ? n - a : chunk;
    moved += link_apply_local(pairs, npairs, counts ? &ls : NULL, items + a, m, mark);
  }
  if (counts) EMI_TRY(link_seen_reduce(comm, &ls, pairs, npairs, (int64_t)moved, counts));
cleanup:
  link_seen_free(&ls);
  return err;
}

/* ------------------------------------------------------------------ distribution and sort in rounds */
#define SORT_ROUNDS 32                     /* rounds a run is cut into (about; at least 4 per thread) */
#define SORT_ROUND_MIN ((int64_t)1 << 16)  /* records per rank and round, at least */

emi_err_t emi_link_store_sort(MPI_Comm comm, emi_link_store_t **pstore, emi_sort_item_t **items, size_t *n)
{
  emi_err_t err = EMI_SUCCESS, local = EMI_SUCCESS;
  enum { NB = EMI_LINK_NBUCKETS };
  emi_link_store_t *st = pstore ? *pstore : NULL;
  int64_t *sc = NULL, *rc = NULL, *gt = NULL;
  int *scount = NULL, *sdisp = NULL, *rcount = NULL, *rdisp = NULL, *round_end = NULL;
  size_t *fill = NULL, *hist = NULL, *rpos = NULL;
  emi_sort_item_t *out = NULL, *tmp = NULL, *send = NULL;
  MPI_Datatype dt = MPI_DATATYPE_NULL;
  int P = 1, me = 0, nrounds = 0;
  if (!items || !n) EMI_FAIL(EMI_ERR_ARG, "emi_link_store_sort: NULL output");
  *items = NULL, *n = 0;
  if (!st) EMI_FAIL(EMI_ERR_ARG, "emi_link_store_sort: no store");
  EMI_MPI_TRY(MPI_Comm_size(comm, &P));
  EMI_MPI_TRY(MPI_Comm_rank(comm, &me));
  const size_t up = (size_t)P;
  EMI_CALLOC(sc, up * NB, "send counts");
  EMI_CALLOC(rc, up * NB, "receive counts");
  EMI_CALLOC(gt, NB, "bucket totals");
  EMI_CALLOC(round_end, NB, "rounds");
  EMI_CALLOC(scount, up, "send counts");
  EMI_CALLOC(sdisp, up, "send displacements");
  EMI_CALLOC(rcount, up, "receive counts");
  EMI_CALLOC(rdisp, up, "receive displacements");
  EMI_CALLOC(fill, up, "send offsets");
  /* 1. records per destination rank and bucket: sc[d][b] */
  if (P == 1) {
    for (int b = 0; b < NB; b++) sc[b] = (int64_t)st->b[b].n;
  } else {
#pragma omp parallel for schedule(dynamic, 8)
    for (int b = 0; b < NB; b++)
      for (size_t i = 0; i < st->b[b].n; i++) sc[(size_t)(st->b[b].p[i].k0 % (uint64_t)P) * NB + (size_t)b]++;
  }
  /* 2. what each rank s sends me from bucket b: rc[s][b] */
  if (P == 1) memcpy(rc, sc, NB * sizeof *sc);
  else EMI_MPI_TRY(MPI_Alltoall(sc, NB, MPI_INT64_T, rc, NB, MPI_INT64_T, comm));
  /* 3. rounds of consecutive buckets, from the global bucket totals (the same on every rank) */
  for (int s = 0; s < P; s++)
    for (int b = 0; b < NB; b++) gt[b] += rc[(size_t)s * NB + (size_t)b];
  EMI_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, gt, NB, MPI_INT64_T, MPI_SUM, comm));
  {
    int64_t G = 0, acc = 0;
    for (int b = 0; b < NB; b++) G += gt[b];
    int tmax = omp_get_max_threads(); /* the rounds are sorted by threads in parallel: enough of them */
    EMI_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, &tmax, 1, MPI_INT, MPI_MAX, comm));
    int64_t rounds = 4 * (int64_t)tmax > SORT_ROUNDS ? 4 * (int64_t)tmax : SORT_ROUNDS;
    int64_t target = (G + rounds - 1) / rounds;
    if (target < SORT_ROUND_MIN * P) target = SORT_ROUND_MIN * P;
    for (int b = 0; b < NB; b++) {
      acc += gt[b];
      if (acc >= target || b == NB - 1) round_end[nrounds++] = b + 1, acc = 0;
    }
  }
  /* 4. sizes on this rank: the records received, the largest round received and sent */
  size_t total = 0, maxm = 0, maxsend = 0;
  for (int r = 0, b0 = 0; r < nrounds; b0 = round_end[r++]) {
    size_t m = 0, ms = 0;
    for (int s = 0; s < P; s++) {
      int64_t cs = 0, cr = 0;
      for (int b = b0; b < round_end[r]; b++) cr += rc[(size_t)s * NB + (size_t)b], cs += sc[(size_t)s * NB + (size_t)b];
      if (cr > INT_MAX || cs > INT_MAX) local = EMI_ERROR(EMI_ERR_ARG, "more than %d records between two ranks in one "
                                                          "round of the sort: use more ranks", INT_MAX);
      m += (size_t)cr, ms += (size_t)cs;
    }
    if (P > 1 && (m > (size_t)INT_MAX || ms > (size_t)INT_MAX))
      local = EMI_ERROR(EMI_ERR_ARG, "more than %d records on one rank in one round of the sort: use more ranks", INT_MAX);
    total += m;
    if (m > maxm) maxm = m;
    if (ms > maxsend) maxsend = ms;
  }
  const int nth = omp_get_max_threads() > 0 ? omp_get_max_threads() : 1;
  const size_t hlen = EMI_SORT_SERIAL_HIST_LEN;
  if (!local && (!(out = malloc((total + 1) * sizeof *out)) || !(tmp = malloc(((maxm + 1) * (size_t)nth) * sizeof *tmp)) ||
                 !(hist = malloc(hlen * (size_t)nth * sizeof *hist)) || !(rpos = malloc(((size_t)nrounds + 1) * sizeof *rpos)) ||
                 (P > 1 && !(send = malloc((maxsend + 1) * sizeof *send)))))
    local = EMI_ERROR(EMI_ERR_NOMEM, "cannot allocate the sorted records (%zu) and the sort's buffers", total);
  EMI_TRY(emi_mpi_agree(comm, local, NULL));
  /* where each round's records go: rounds follow each other in bucket order */
  rpos[0] = 0;
  for (int r = 0, b0 = 0; r < nrounds; b0 = round_end[r++]) {
    size_t m = 0;
    for (int s = 0; s < P; s++)
      for (int b = b0; b < round_end[r]; b++) m += (size_t)rc[(size_t)s * NB + (size_t)b];
    rpos[r + 1] = rpos[r] + m;
  }
  /* 5. P > 1: the rounds' all-to-alls, one after the other (each releases its buckets) */
  if (P > 1) {
    EMI_MPI_TRY(MPI_Type_contiguous((int)sizeof(emi_sort_item_t), MPI_BYTE, &dt));
    EMI_MPI_TRY(MPI_Type_commit(&dt));
    for (int r = 0, b0 = 0; r < nrounds; b0 = round_end[r++]) {
      const int b1 = round_end[r];
      size_t at = 0, m = 0;
      for (int d = 0; d < P; d++) {
        int64_t c = 0;
        for (int b = b0; b < b1; b++) c += sc[(size_t)d * NB + (size_t)b];
        scount[d] = (int)c, sdisp[d] = (int)at, fill[d] = at;
        at += (size_t)c;
      }
      for (int b = b0; b < b1; b++) { /* by destination, each bucket's records in file order */
        const emi_sort_item_t *p = st->b[b].p;
        for (size_t i = 0; i < st->b[b].n; i++) send[fill[p[i].k0 % (uint64_t)P]++] = p[i];
        vec_free(&st->b[b]);
      }
      for (int s = 0; s < P; s++) {
        int64_t c = 0;
        for (int b = b0; b < b1; b++) c += rc[(size_t)s * NB + (size_t)b];
        rcount[s] = (int)c, rdisp[s] = (int)m;
        m += (size_t)c;
      }
      EMI_MPI_TRY(MPI_Alltoallv(send, scount, sdisp, dt, out + rpos[r], rcount, rdisp, dt, comm));
    }
    free(send), send = NULL;
  }
  /* 6. the rounds sorted in place, threads over rounds (P = 1: each copied from its buckets first).  A
   * round holds sender 0's records, then sender 1's, ..., each in file order: the order the stable sort
   * keeps for equal keys, as the sort of all the records would. */
  {
    const int nr = nrounds;
    emi_err_t first = EMI_SUCCESS;
#pragma omp parallel num_threads(nth)
    {
      const int t = omp_get_thread_num();
      emi_sort_item_t *tt = tmp + (size_t)t * (maxm + 1);
      size_t *ht = hist + (size_t)t * hlen;
#pragma omp for schedule(dynamic, 1)
      for (int r = 0; r < nr; r++) {
        const size_t m = rpos[r + 1] - rpos[r];
        if (P == 1) {
          size_t at = rpos[r];
          for (int b = r ? round_end[r - 1] : 0; b < round_end[r]; b++) {
            if (st->b[b].n) memcpy(out + at, st->b[b].p, st->b[b].n * sizeof *out);
            at += st->b[b].n;
            vec_free(&st->b[b]);
          }
        }
        emi_err_t e = emi_sort_items_serial(m, out + rpos[r], tt, ht);
        if (e) {
#pragma omp critical(emi_link_sort_err)
          if (!first) first = e;
        }
      }
    }
    if (first) EMI_FAIL(first, "emi_link_store_sort: the sort of a round failed (%s)", emi_err_name(first));
  }
  *items = out, *n = total;
  out = NULL;
cleanup:
  if (dt != MPI_DATATYPE_NULL) MPI_Type_free(&dt);
  emi_link_store_destroy(pstore);
  free(sc), free(rc), free(gt), free(round_end), free(scount), free(sdisp), free(rcount), free(rdisp), free(fill);
  free(out), free(tmp), free(hist), free(send), free(rpos);
  return err;
}
