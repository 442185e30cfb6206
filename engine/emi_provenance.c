/* emi_provenance.c: collect what produced an output and stamp it on the HDF5 file (see the header). */
#include "emi_provenance.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hdf5.h>
#include <omp.h>
#include <sodium.h>

#include "emi_call.h"
#include "emi_version.h"

/* OpenBLAS and LAPACK (Fortran) entry points; the engine links both through emi_kernels. */
extern char *openblas_get_config(void);
extern void ilaver_(int *major, int *minor, int *patch);

/* The fields, in the order they are written.  kind: 's' string, 'i' int64, 'u' uint64. */
enum {
  F_SOFTWARE, F_VERSION, F_DATE, F_COMMAND_LINE, F_CONFIG_SHA256, F_RNG_NAME, F_RNG_SEED,
  F_MPI_RANKS, F_OMP_THREADS, F_HOST, F_COMPILER, F_BLAS, F_LAPACK, F_HDF5, F_MPI_LIBRARY, F_COUNT
};
static const struct {
  const char *key;
  char kind;
} fields[F_COUNT] = {
  {"software", 's'},      {"version", 's'},     {"date", 's'},        {"command_line", 's'},
  {"config_sha256", 's'}, {"rng_name", 's'},    {"rng_seed", 'u'},    {"mpi_ranks", 'i'},
  {"omp_threads", 'i'},   {"host", 's'},        {"compiler", 's'},    {"blas", 's'},
  {"lapack", 's'},        {"hdf5", 's'},        {"mpi_library", 's'},
};

struct emi_provenance {
  MPI_Comm comm;
  int rank;
  char *value[F_COUNT]; /* NULL: not set */
  size_t ninputs, cap;
  char **input_path;
  char (*input_hash)[65];
};

/* ------------------------------------------------------------------ small helpers */

static emi_err_t set_field(emi_provenance_t *p, int k, const char *text)
{
  char *copy = NULL;
  size_t n = strlen(text);
  emi_err_t err = EMI_SUCCESS;
  EMI_MALLOC(copy, n + 1, fields[k].key);
  memcpy(copy, text, n + 1);
  free(p->value[k]);
  p->value[k] = copy;
cleanup:
  return err;
}

static const char *nz_path(const char *s) { return s ? s : "(null)"; }

/* Drop trailing white space and commas (library banners end in ", " or "\n"). */
static void trim(char *s)
{
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == '\t' || s[n - 1] == ','))
    s[--n] = '\0';
}

/* ------------------------------------------------------------------ SHA-256 (FIPS 180-4) */

static const uint32_t K256[64] = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROR32(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

void emi_sha256_blocks_ref(uint32_t h[8], const unsigned char *p, size_t nblocks)
{
  for (; nblocks; nblocks--, p += 64) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
      w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
      uint32_t s0 = ROR32(w[i - 15], 7) ^ ROR32(w[i - 15], 18) ^ (w[i - 15] >> 3);
      uint32_t s1 = ROR32(w[i - 2], 17) ^ ROR32(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int i = 0; i < 64; i++) {
      uint32_t t1 = k + (ROR32(e, 6) ^ ROR32(e, 11) ^ ROR32(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];
      uint32_t t2 = (ROR32(a, 2) ^ ROR32(a, 13) ^ ROR32(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      k = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += k;
  }
}

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>

/* The SHA extensions (Intel SHA-NI; AMD Zen): the state is kept as (A,B,E,F) and (C,D,G,H), each
 * SHA256RNDS2 does two rounds, SHA256MSG1/MSG2 extend the message schedule four words at a time. */
__attribute__((target("sha,sse4.1,ssse3"))) static void blocks_shani(uint32_t h[8], const unsigned char *p,
                                                                       size_t nblocks)
{
  const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
  __m128i t = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)(const void *)&h[0]), 0xB1); /* C D A B */
  __m128i s1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)(const void *)&h[4]), 0x1B); /* E F G H */
  __m128i s0 = _mm_alignr_epi8(t, s1, 8);                                                   /* A B E F */
  s1 = _mm_blend_epi16(s1, t, 0xF0);                                                        /* C D G H */
#define QROUND(w, g)                                                                          \
  do {                                                                                        \
    __m128i k_ = _mm_add_epi32((w), _mm_loadu_si128((const __m128i *)(const void *)&K256[4 * (g)])); \
    s1 = _mm_sha256rnds2_epu32(s1, s0, k_);                                                   \
    s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(k_, 0x0E));                          \
  } while (0)
  /* w[g] = msg2(msg1(w[g-4], w[g-3]) + w[g-1..g-2 words 9..12], w[g-1]) */
#define SCHED(a, b, c, d) (a) = _mm_sha256msg2_epu32(_mm_add_epi32(_mm_sha256msg1_epu32((a), (b)), _mm_alignr_epi8((d), (c), 4)), (d))
  for (; nblocks; nblocks--, p += 64) {
    const __m128i abef = s0, cdgh = s1;
    __m128i m0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 0)), bswap);
    __m128i m1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 16)), bswap);
    __m128i m2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 32)), bswap);
    __m128i m3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 48)), bswap);
    QROUND(m0, 0);
    QROUND(m1, 1);
    QROUND(m2, 2);
    QROUND(m3, 3);
    for (int g = 4; g < 16; g += 4) {
      SCHED(m0, m1, m2, m3);
      QROUND(m0, g);
      SCHED(m1, m2, m3, m0);
      QROUND(m1, g + 1);
      SCHED(m2, m3, m0, m1);
      QROUND(m2, g + 2);
      SCHED(m3, m0, m1, m2);
      QROUND(m3, g + 3);
    }
    s0 = _mm_add_epi32(s0, abef);
    s1 = _mm_add_epi32(s1, cdgh);
  }
#undef QROUND
#undef SCHED
  t = _mm_shuffle_epi32(s0, 0x1B);   /* F E B A */
  s1 = _mm_shuffle_epi32(s1, 0xB1);  /* D C H G */
  s0 = _mm_blend_epi16(t, s1, 0xF0); /* D C B A */
  s1 = _mm_alignr_epi8(s1, t, 8);    /* H G F E */
  _mm_storeu_si128((__m128i *)(void *)&h[0], s0);
  _mm_storeu_si128((__m128i *)(void *)&h[4], s1);
}

static int cpu_has_shani(void)
{
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 19)) || !(c & (1u << 9))) return 0; /* SSE4.1, SSSE3 */
  if (__get_cpuid_max(0, NULL) < 7) return 0;
  __cpuid_count(7, 0, a, b, c, d);
  return (b & (1u << 29)) != 0; /* SHA */
}
#else
static int cpu_has_shani(void) { return 0; }
#endif

static atomic_int sha_impl; /* 0: not checked yet, 1: portable C, 2: SHA extensions */

int emi_sha256_accelerated(void)
{
  int v = atomic_load_explicit(&sha_impl, memory_order_relaxed);
  if (!v) {
    v = cpu_has_shani() ? 2 : 1;
    atomic_store_explicit(&sha_impl, v, memory_order_relaxed);
  }
  return v == 2;
}

void emi_sha256_blocks(uint32_t h[8], const unsigned char *data, size_t nblocks)
{
#if defined(__x86_64__) || defined(__i386__)
  if (emi_sha256_accelerated()) {
    blocks_shani(h, data, nblocks);
    return;
  }
#endif
  emi_sha256_blocks_ref(h, data, nblocks);
}

void emi_sha256_init(emi_sha256_t *s)
{
  static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  memcpy(s->h, iv, sizeof iv);
  s->bytes = 0;
  s->nbuf = 0;
}

void emi_sha256_update(emi_sha256_t *s, const void *data, size_t len)
{
  const unsigned char *p = data;
  if (!len) return;
  s->bytes += len;
  if (s->nbuf) {
    size_t k = 64 - s->nbuf < len ? 64 - s->nbuf : len;
    memcpy(s->buf + s->nbuf, p, k);
    s->nbuf += k, p += k, len -= k;
    if (s->nbuf < 64) return;
    emi_sha256_blocks(s->h, s->buf, 1);
    s->nbuf = 0;
  }
  if (len >= 64) {
    emi_sha256_blocks(s->h, p, len / 64);
    p += len / 64 * 64;
    len %= 64;
  }
  if (len) {
    memcpy(s->buf, p, len);
    s->nbuf = len;
  }
}

void emi_sha256_final(emi_sha256_t *s, unsigned char digest[32])
{
  const uint64_t bits = s->bytes * 8;
  s->buf[s->nbuf++] = 0x80;
  if (s->nbuf > 56) {
    memset(s->buf + s->nbuf, 0, 64 - s->nbuf);
    emi_sha256_blocks(s->h, s->buf, 1);
    s->nbuf = 0;
  }
  memset(s->buf + s->nbuf, 0, 56 - s->nbuf);
  for (int i = 0; i < 8; i++) s->buf[56 + i] = (unsigned char)(bits >> (56 - 8 * i));
  emi_sha256_blocks(s->h, s->buf, 1);
  for (int i = 0; i < 8; i++)
    for (int j = 0; j < 4; j++) digest[4 * i + j] = (unsigned char)(s->h[i] >> (24 - 8 * j));
  s->nbuf = 0;
}

emi_err_t emi_sha256_hex(const void *data, size_t len, char hex[65])
{
  unsigned char d[32];
  emi_sha256_t s;
  if (!hex || (!data && len)) return EMI_ERROR(EMI_ERR_ARG, "emi_sha256_hex: NULL data or output");
  emi_sha256_init(&s);
  emi_sha256_update(&s, data, len);
  emi_sha256_final(&s, d);
  sodium_bin2hex(hex, 65, d, sizeof d);
  return EMI_SUCCESS;
}

/* Shell-quote one argument (POSIX sh): left as is when made of safe characters only, else in single
 * quotes with each ' written as '\''.  Appends to *buf (size *cap, used *len). */
static emi_err_t append_quoted(char **buf, size_t *cap, size_t *len, const char *arg)
{
  static const char safe[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789@%+=:,./_-";
  emi_err_t err = EMI_SUCCESS;
  size_t n = strlen(arg), quotes = 0;
  int plain = n > 0 && strspn(arg, safe) == n;
  for (size_t i = 0; i < n; i++) quotes += arg[i] == '\'';
  size_t need = *len + 1 + (plain ? n : n + 2 + 3 * quotes) + 1;
  if (need > *cap) {
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    char *nb = realloc(*buf, c);
    if (!nb) EMI_FAIL(EMI_ERR_NOMEM, "cannot allocate %zu bytes for the command line", c);
    *buf = nb;
    *cap = c;
  }
  char *o = *buf + *len;
  if (*len > 0) *o++ = ' ';
  if (plain) {
    memcpy(o, arg, n);
    o += n;
  } else {
    *o++ = '\'';
    for (size_t i = 0; i < n; i++) {
      if (arg[i] == '\'') {
        memcpy(o, "'\\''", 4);
        o += 4;
      } else {
        *o++ = arg[i];
      }
    }
    *o++ = '\'';
  }
  *o = '\0';
  *len = (size_t)(o - *buf);
cleanup:
  return err;
}

/* ISO 8601 with the UTC offset as +hh:mm (strftime's %z gives +hhmm). */
static emi_err_t format_date(char out[32])
{
  struct tm tm;
  char tmp[40];
  const char *sde = getenv("SOURCE_DATE_EPOCH");
  if (sde && sde[0]) {
    char *end = NULL;
    errno = 0;
    long long s = strtoll(sde, &end, 10);
    if (errno || *end || s < 0)
      return EMI_ERROR(EMI_ERR_ARG, "SOURCE_DATE_EPOCH = '%s', expected a number of seconds since 1970-01-01 UTC", sde);
    time_t t = (time_t)s;
    if (!gmtime_r(&t, &tm)) return EMI_ERROR(EMI_ERR_ARG, "SOURCE_DATE_EPOCH = '%s' is out of range", sde);
    if (strftime(out, 32, "%Y-%m-%dT%H:%M:%S+00:00", &tm) == 0)
      return EMI_ERROR(EMI_ERR_INTERNAL, "strftime failed for SOURCE_DATE_EPOCH = '%s'", sde);
    return EMI_SUCCESS;
  }
  time_t t = time(NULL);
  tzset();
  if (t == (time_t)-1 || !localtime_r(&t, &tm)) return EMI_ERROR(EMI_ERR_IO, "cannot read the clock");
  size_t n = strftime(tmp, sizeof tmp, "%Y-%m-%dT%H:%M:%S%z", &tm);
  /* the last five characters are the offset, sign and four digits */
  if (n < 5 || (tmp[n - 5] != '+' && tmp[n - 5] != '-') || n + 2 > 32)
    return EMI_ERROR(EMI_ERR_INTERNAL, "strftime gave '%s', expected a date ending in +hhmm", tmp);
  memcpy(out, tmp, n - 2);
  out[n - 2] = ':';
  memcpy(out + n - 1, tmp + n - 2, 3); /* "mm" and the NUL */
  return EMI_SUCCESS;
}

/* ------------------------------------------------------------------ (de)serialisation, for rank 0 -> all */

typedef struct {
  char *buf;
  size_t len, cap;
} blob_t;

static emi_err_t blob_put(blob_t *b, const char *s)
{
  emi_err_t err = EMI_SUCCESS;
  size_t n = strlen(s) + 1;
  if (b->len + n > b->cap) {
    size_t c = b->cap ? b->cap : 1024;
    while (c < b->len + n) c *= 2;
    char *nb = realloc(b->buf, c);
    if (!nb) EMI_FAIL(EMI_ERR_NOMEM, "cannot allocate %zu bytes for provenance", c);
    b->buf = nb;
    b->cap = c;
  }
  memcpy(b->buf + b->len, s, n);
  b->len += n;
cleanup:
  return err;
}

/* Fields as "1value\0" or "0\0", then the input count and path/hash pairs. */
static emi_err_t serialise(const emi_provenance_t *p, blob_t *b)
{
  char num[32];
  for (int k = 0; k < F_COUNT; k++) {
    EMI_CALL(blob_put(b, p->value[k] ? "1" : "0"));
    EMI_CALL(blob_put(b, p->value[k] ? p->value[k] : ""));
  }
  snprintf(num, sizeof num, "%zu", p->ninputs);
  EMI_CALL(blob_put(b, num));
  for (size_t i = 0; i < p->ninputs; i++) {
    EMI_CALL(blob_put(b, p->input_path[i]));
    EMI_CALL(blob_put(b, p->input_hash[i]));
  }
  return EMI_SUCCESS;
}

static emi_err_t push_input(emi_provenance_t *p, const char *path, const char *hex)
{
  emi_err_t err = EMI_SUCCESS;
  char *copy = NULL;
  if (p->ninputs == p->cap) {
    size_t c = p->cap ? 2 * p->cap : 8;
    char **np = realloc(p->input_path, c * sizeof *np);
    if (!np) EMI_FAIL(EMI_ERR_NOMEM, "cannot allocate the list of %zu inputs", c);
    p->input_path = np;
    char(*nh)[65] = realloc(p->input_hash, c * sizeof *nh);
    if (!nh) EMI_FAIL(EMI_ERR_NOMEM, "cannot allocate the hashes of %zu inputs", c);
    p->input_hash = nh;
    p->cap = c;
  }
  EMI_MALLOC(copy, strlen(path) + 1, "input path");
  memcpy(copy, path, strlen(path) + 1);
  p->input_path[p->ninputs] = copy;
  snprintf(p->input_hash[p->ninputs], 65, "%s", hex);
  p->ninputs++;
cleanup:
  return err;
}

static void clear_inputs(emi_provenance_t *p)
{
  for (size_t i = 0; i < p->ninputs; i++) free(p->input_path[i]);
  p->ninputs = 0;
}

/* Replace p's content with the blob's (len bytes, NUL-separated, from serialise). */
static emi_err_t deserialise(emi_provenance_t *p, const char *buf, size_t len)
{
  size_t at = 0;
#define NEXT(s)                                                                           \
  do {                                                                                    \
    if (at >= len) return EMI_ERROR(EMI_ERR_INTERNAL, "provenance blob truncated at %zu", at); \
    (s) = buf + at;                                                                       \
    at += strlen(s) + 1;                                                                  \
  } while (0)
  const char *flag, *val, *hex;
  for (int k = 0; k < F_COUNT; k++) {
    NEXT(flag);
    NEXT(val);
    free(p->value[k]);
    p->value[k] = NULL;
    if (flag[0] == '1') EMI_CALL(set_field(p, k, val));
  }
  NEXT(val);
  size_t n = (size_t)strtoull(val, NULL, 10);
  clear_inputs(p);
  for (size_t i = 0; i < n; i++) {
    NEXT(val);
    NEXT(hex);
    EMI_CALL(push_input(p, val, hex));
  }
#undef NEXT
  return EMI_SUCCESS;
}

/* Make every rank of comm hold rank 0's content. */
static emi_err_t sync_from_root(emi_provenance_t *p, MPI_Comm comm)
{
  emi_err_t err = EMI_SUCCESS, local = EMI_SUCCESS;
  blob_t b = {NULL, 0, 0};
  int rank = 0;
  EMI_MPI_TRY(MPI_Comm_rank(comm, &rank));
  if (rank == 0) local = serialise(p, &b);
  /* header: status, length */
  unsigned long long hdr[2] = {(unsigned long long)local, (unsigned long long)b.len};
  EMI_MPI_TRY(MPI_Bcast(hdr, 2, MPI_UNSIGNED_LONG_LONG, 0, comm));
  if (hdr[0] != 0) {
    if (rank == 0) EMI_TRY(local);
    EMI_FAIL((emi_err_t)hdr[0], "collecting provenance failed on rank 0 (%s)", emi_err_name((emi_err_t)hdr[0]));
  }
  if (hdr[1] > (unsigned long long)INT32_MAX) EMI_FAIL(EMI_ERR_INTERNAL, "provenance of %llu bytes is too large", hdr[1]);
  if (rank != 0) EMI_MALLOC(b.buf, hdr[1], "provenance");
  EMI_MPI_TRY(MPI_Bcast(b.buf, (int)hdr[1], MPI_CHAR, 0, comm));
  if (rank != 0) EMI_TRY(deserialise(p, b.buf, (size_t)hdr[1]));
cleanup:
  free(b.buf);
  return err;
}

/* ------------------------------------------------------------------ collection */

static emi_err_t collect_local(emi_provenance_t *p, int nranks, int argc, char *const argv[])
{
  emi_err_t err = EMI_SUCCESS;
  char buf[1024], date[32];
  char *cmd = NULL;
  size_t cap = 0, len = 0;

  EMI_TRY(set_field(p, F_SOFTWARE, "emflow"));
  EMI_TRY(set_field(p, F_VERSION, EMI_VERSION_STRING));
  EMI_TRY(format_date(date));
  EMI_TRY(set_field(p, F_DATE, date));

  for (int i = 0; i < argc && argv; i++) EMI_TRY(append_quoted(&cmd, &cap, &len, argv[i] ? argv[i] : ""));
  EMI_TRY(set_field(p, F_COMMAND_LINE, cmd ? cmd : ""));

  snprintf(buf, sizeof buf, "%d", nranks);
  EMI_TRY(set_field(p, F_MPI_RANKS, buf));
  snprintf(buf, sizeof buf, "%d", omp_get_max_threads());
  EMI_TRY(set_field(p, F_OMP_THREADS, buf));

  if (gethostname(buf, sizeof buf) != 0) snprintf(buf, sizeof buf, "unknown");
  buf[sizeof buf - 1] = '\0';
  EMI_TRY(set_field(p, F_HOST, buf));
  EMI_TRY(set_field(p, F_COMPILER, EMI_COMPILER_ID));

  const char *blas = openblas_get_config();
  snprintf(buf, sizeof buf, "%s", blas ? blas : "OpenBLAS (configuration unknown)");
  trim(buf);
  EMI_TRY(set_field(p, F_BLAS, buf));

  int lmaj = 0, lmin = 0, lpat = 0;
  ilaver_(&lmaj, &lmin, &lpat);
  snprintf(buf, sizeof buf, "LAPACK %d.%d.%d", lmaj, lmin, lpat);
  EMI_TRY(set_field(p, F_LAPACK, buf));

  unsigned hmaj = 0, hmin = 0, hrel = 0;
  if (H5get_libversion(&hmaj, &hmin, &hrel) < 0) EMI_FAIL(EMI_ERR_HDF5, "H5get_libversion failed");
#ifdef H5_HAVE_PARALLEL
  snprintf(buf, sizeof buf, "HDF5 %u.%u.%u (parallel)", hmaj, hmin, hrel);
#else
  snprintf(buf, sizeof buf, "HDF5 %u.%u.%u", hmaj, hmin, hrel);
#endif
  EMI_TRY(set_field(p, F_HDF5, buf));

  {
    char lib[MPI_MAX_LIBRARY_VERSION_STRING];
    int n = 0;
    EMI_MPI_TRY(MPI_Get_library_version(lib, &n));
    if (n < 0) n = 0;
    if (n >= (int)sizeof lib) n = (int)sizeof lib - 1;
    lib[n] = '\0';
    lib[strcspn(lib, "\n")] = '\0';
    trim(lib);
    EMI_TRY(set_field(p, F_MPI_LIBRARY, lib));
  }
cleanup:
  free(cmd);
  return err;
}

emi_err_t emi_provenance_create(MPI_Comm comm, int argc, char *const argv[], emi_provenance_t **out)
{
  emi_err_t err = EMI_SUCCESS;
  emi_provenance_t *p = NULL;
  int flag = 0, nranks = 1;

  if (!out) return EMI_ERROR(EMI_ERR_ARG, "emi_provenance_create: p is NULL");
  *out = NULL;
  if (MPI_Initialized(&flag) != MPI_SUCCESS || !flag)
    return EMI_ERROR(EMI_ERR_ARG, "emi_provenance_create: MPI is not initialised");
  if (sodium_init() < 0) return EMI_ERROR(EMI_ERR_CRYPTO, "libsodium could not be initialised");
  EMI_CALLOC(p, 1, "provenance");
  p->comm = comm;
  EMI_MPI_TRY(MPI_Comm_rank(comm, &p->rank));
  EMI_MPI_TRY(MPI_Comm_size(comm, &nranks));
  /* Every rank collects (cheap), so a failure is seen everywhere; rank 0's values are kept. */
  emi_err_t local = collect_local(p, nranks, argc, argv);
  int verdict_in = (int)local, verdict = 0;
  EMI_MPI_TRY(MPI_Allreduce(&verdict_in, &verdict, 1, MPI_INT, MPI_MAX, comm));
  if (local != EMI_SUCCESS) EMI_TRY(local);
  if (verdict != 0)
    EMI_FAIL((emi_err_t)verdict, "collecting provenance failed on another rank (%s)", emi_err_name((emi_err_t)verdict));
  EMI_TRY(sync_from_root(p, comm));
cleanup:
  if (err != EMI_SUCCESS) emi_provenance_destroy(&p);
  *out = p;
  return err;
}

void emi_provenance_destroy(emi_provenance_t **pp)
{
  if (!pp || !*pp) return;
  emi_provenance_t *p = *pp;
  for (int k = 0; k < F_COUNT; k++) free(p->value[k]);
  clear_inputs(p);
  free(p->input_path);
  free(p->input_hash);
  free(p);
  *pp = NULL;
}

emi_err_t emi_provenance_set_config(emi_provenance_t *p, const char *text, size_t len)
{
  char hex[65];
  if (!p) return EMI_ERROR(EMI_ERR_ARG, "emi_provenance_set_config: p is NULL");
  if (!text && len) return EMI_ERROR(EMI_ERR_ARG, "emi_provenance_set_config: text is NULL but len = %zu", len);
  EMI_CALL(emi_sha256_hex(text, len, hex));
  EMI_CALL(set_field(p, F_CONFIG_SHA256, hex));
  return EMI_SUCCESS;
}

emi_err_t emi_provenance_set_rng(emi_provenance_t *p, const char *name, uint64_t seed)
{
  char num[32];
  if (!p) return EMI_ERROR(EMI_ERR_ARG, "emi_provenance_set_rng: p is NULL");
  if (!name || !name[0]) return EMI_ERROR(EMI_ERR_ARG, "emi_provenance_set_rng: the generator name is empty");
  snprintf(num, sizeof num, "%" PRIu64, seed);
  EMI_CALL(set_field(p, F_RNG_NAME, name));
  EMI_CALL(set_field(p, F_RNG_SEED, num));
  return EMI_SUCCESS;
}

/* Stream a file through SHA-256 (read(2), 1 MiB at a time; nothing is mapped); returns 0 or an errno
 * value (ECANCELED when *stop was set). */
#define HASH_BUF ((size_t)1 << 20)
static int hash_file(const char *path, unsigned char digest[32], const atomic_int *stop)
{
  emi_sha256_t st;
  unsigned char *buf = NULL;
  int errnum = 0;
  int fd = open(path, O_RDONLY);
  if (fd < 0) return errno ? errno : EIO;
  if (!(buf = malloc(HASH_BUF))) {
    close(fd);
    return ENOMEM;
  }
#ifdef POSIX_FADV_SEQUENTIAL
  (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
  emi_sha256_init(&st);
  for (;;) {
    if (stop && atomic_load_explicit(stop, memory_order_relaxed)) {
      errnum = ECANCELED;
      break;
    }
    ssize_t n = read(fd, buf, HASH_BUF);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      errnum = errno ? errno : EIO;
      break;
    }
    if (n == 0) break;
    emi_sha256_update(&st, buf, (size_t)n);
  }
  emi_sha256_final(&st, digest);
  free(buf);
  if (close(fd) != 0 && !errnum) errnum = errno ? errno : EIO;
  return errnum;
}

/* Rank 0's verdict on an input (status: 0, an errno value, or -1 for an empty path; digest when 0)
 * to every rank, then recorded as input (path, digest). */
static emi_err_t share_input(emi_provenance_t *p, const char *path, int status, const unsigned char digest[32])
{
  emi_err_t err = EMI_SUCCESS;
  unsigned char msg[sizeof(int) + 32];
  memset(msg, 0, sizeof msg);
  if (p->rank == 0) {
    memcpy(msg, &status, sizeof status);
    if (status == 0) memcpy(msg + sizeof(int), digest, 32);
  }
  EMI_MPI_TRY(MPI_Bcast(msg, (int)sizeof msg, MPI_BYTE, 0, p->comm));
  memcpy(&status, msg, sizeof status);
  if (status == -1) EMI_FAIL(EMI_ERR_ARG, "emi_provenance_add_input: the input path is empty");
  if (status != 0) EMI_FAIL(EMI_ERR_IO, "cannot read input file '%s' to hash it: %s", nz_path(path), strerror(status));
  char hex[65];
  sodium_bin2hex(hex, sizeof hex, msg + sizeof(int), 32);
  EMI_TRY(push_input(p, path ? path : "", hex)); /* rank 0's path is the one written */
cleanup:
  return err;
}

emi_err_t emi_provenance_add_input(emi_provenance_t *p, const char *path)
{
  if (!p) return EMI_ERROR(EMI_ERR_ARG, "emi_provenance_add_input: p is NULL");
  unsigned char d[32] = {0};
  int status = 0;
  if (p->rank == 0) {
    errno = 0;
    status = !path || !path[0] ? -1 : hash_file(path, d, NULL);
  }
  return share_input(p, path, status, d);
}

/* ------------------------------------------------------------------ input hashes in the background */
struct emi_file_hash {
  char *path;     /* a copy; NULL when the caller gave NULL */
  int is_root;    /* rank 0 of the communicator */
  int running;    /* a thread was started and not joined yet */
  pthread_t thread;
  atomic_int stop;
  int status;     /* hash_file's result, once joined */
  unsigned char digest[32];
};

static void *file_hash_main(void *arg)
{
  emi_file_hash_t *h = arg;
  h->status = hash_file(h->path, h->digest, &h->stop);
  return NULL;
}

emi_err_t emi_file_hash_start(MPI_Comm comm, const char *path, emi_file_hash_t **out)
{
  emi_err_t err = EMI_SUCCESS;
  emi_file_hash_t *h = NULL;
  int rank = 0;
  if (!out) return EMI_ERROR(EMI_ERR_ARG, "emi_file_hash_start: h is NULL");
  *out = NULL;
  EMI_MPI_TRY(MPI_Comm_rank(comm, &rank));
  EMI_CALLOC(h, 1, "input hash");
  atomic_init(&h->stop, 0);
  h->is_root = rank == 0;
  if (path) {
    EMI_MALLOC(h->path, strlen(path) + 1, "input path");
    memcpy(h->path, path, strlen(path) + 1);
  }
  /* no thread for an empty path (reported at the join) or when none can be created (hashed then) */
  if (h->is_root && h->path && h->path[0] && pthread_create(&h->thread, NULL, file_hash_main, h) == 0) h->running = 1;
  *out = h;
  h = NULL;
cleanup:
  emi_file_hash_destroy(&h);
  return err;
}

void emi_file_hash_destroy(emi_file_hash_t **ph)
{
  if (!ph || !*ph) return;
  emi_file_hash_t *h = *ph;
  if (h->running) {
    atomic_store_explicit(&h->stop, 1, memory_order_relaxed);
    pthread_join(h->thread, NULL);
  }
  free(h->path);
  free(h);
  *ph = NULL;
}

emi_err_t emi_provenance_add_input_hash(emi_provenance_t *p, emi_file_hash_t **ph)
{
  emi_err_t err = EMI_SUCCESS;
  if (!p || !ph || !*ph) {
    emi_file_hash_destroy(ph);
    return EMI_ERROR(EMI_ERR_ARG, "emi_provenance_add_input_hash: NULL argument");
  }
  emi_file_hash_t *h = *ph;
  int status = 0;
  if (p->rank == 0) {
    if (h->running) {
      pthread_join(h->thread, NULL);
      h->running = 0;
      status = h->status;
    } else {
      errno = 0;
      status = !h->path || !h->path[0] ? -1 : hash_file(h->path, h->digest, NULL);
    }
  }
  err = share_input(p, h->path, status, h->digest);
  emi_file_hash_destroy(ph);
  return err;
}

emi_err_t emi_provenance_get(const emi_provenance_t *p, const char *key, const char **value)
{
  if (!p || !key || !value) return EMI_ERROR(EMI_ERR_ARG, "emi_provenance_get: NULL argument");
  *value = NULL;
  for (int k = 0; k < F_COUNT; k++) {
    if (strcmp(fields[k].key, key) != 0) continue;
    if (!p->value[k]) return EMI_ERROR(EMI_ERR_ARG, "provenance field '%s' is not set", key);
    *value = p->value[k];
    return EMI_SUCCESS;
  }
  return EMI_ERROR(EMI_ERR_ARG, "'%s' is not a provenance field", key);
}

emi_err_t emi_provenance_input_count(const emi_provenance_t *p, size_t *n)
{
  if (!p || !n) return EMI_ERROR(EMI_ERR_ARG, "emi_provenance_input_count: NULL argument");
  *n = p->ninputs;
  return EMI_SUCCESS;
}

emi_err_t emi_provenance_input(const emi_provenance_t *p, size_t i, const char **path, const char **sha256_hex)
{
  if (!p || !path || !sha256_hex) return EMI_ERROR(EMI_ERR_ARG, "emi_provenance_input: NULL argument");
  if (i >= p->ninputs) return EMI_ERROR(EMI_ERR_ARG, "input %zu requested, %zu inputs recorded", i, p->ninputs);
  *path = p->input_path[i];
  *sha256_hex = p->input_hash[i];
  return EMI_SUCCESS;
}

/* ------------------------------------------------------------------ writing */

emi_err_t emi_h5_write_provenance(emi_h5_file_t *f, const emi_provenance_t *p)
{
  emi_err_t err = EMI_SUCCESS;
  emi_provenance_t *c = NULL;
  const char **hashes = NULL;
  blob_t b = {NULL, 0, 0};

  if (!f || !p) return EMI_ERROR(EMI_ERR_ARG, "emi_h5_write_provenance: NULL file or provenance");
  /* A copy holding rank 0's values on every rank of the file. */
  EMI_CALLOC(c, 1, "provenance copy");
  EMI_TRY(serialise(p, &b));
  EMI_TRY(deserialise(c, b.buf, b.len));
  EMI_TRY(sync_from_root(c, emi_h5_file_comm(f)));

  for (int k = 0; k < F_COUNT; k++) {
    const char *v = c->value[k];
    if (v && fields[k].kind == 'i') {
      EMI_TRY(emi_h5_attr_int(f, "/", fields[k].key, (int64_t)strtoll(v, NULL, 10)));
    } else if (v && fields[k].kind == 'u') {
      EMI_TRY(emi_h5_attr_uint(f, "/", fields[k].key, (uint64_t)strtoull(v, NULL, 10)));
    } else if (v) {
      EMI_TRY(emi_h5_attr_str(f, "/", fields[k].key, v));
    }
    if (k == F_CONFIG_SHA256 && c->ninputs > 0) { /* inputs follow the config hash */
      EMI_MALLOC(hashes, c->ninputs, "input hashes");
      for (size_t i = 0; i < c->ninputs; i++) hashes[i] = c->input_hash[i];
      EMI_TRY(emi_h5_attr_str_array(f, "/", "input_files", c->ninputs, (const char *const *)c->input_path));
      EMI_TRY(emi_h5_attr_str_array(f, "/", "input_sha256", c->ninputs, hashes));
    }
  }
cleanup:
  free(hashes);
  free(b.buf);
  emi_provenance_destroy(&c);
  return err;
}
