/* test_philox: Philox4x32 against Random123's known answers, the optimised kernels against the
 * reference, and the logical streams (a value depends on what is drawn, not on who or when). */
#include <stdint.h>
#include <string.h>

#include "emi_err.h"
#include "emi_philox.h"
#include "emi_test.h"

/* Known-answer vectors: the "philox4x32 7" and "philox4x32 10" rows of tests/kat_vectors in the
 * Random123 distribution (D. E. Shaw Research), format  counter[4] key[2]  ->  output[4].
 * Copied from DEShawResearch/Random123-Boost, libs/random/test/test_philox.cpp (commit 916db914),
 * whose comment says they are "cut-and-pasted from the kat_vectors file in the original Random123
 * distribution"; the same rows appear in other copies of kat_vectors (Random123 1.14.0).  Their
 * counters: all zeros, all ones, and the hex digits of pi (243f6a88 85a308d3 ...). */
typedef struct {
  unsigned rounds;
  uint32_t ctr[4], key[2], out[4];
} kat_t;

static const kat_t kats[] = {
    {7, {0x00000000, 0x00000000, 0x00000000, 0x00000000}, {0x00000000, 0x00000000},
     {0x5f6fb709, 0x0d893f64, 0x4f121f81, 0x4f730a48}},
    {7, {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff},
     {0x5207ddc2, 0x45165e59, 0x4d8ee751, 0x8c52f662}},
    {7, {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0},
     {0x4dfccaba, 0x190a87f0, 0xc47362ba, 0xb6b5242a}},
    {10, {0x00000000, 0x00000000, 0x00000000, 0x00000000}, {0x00000000, 0x00000000},
     {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
    {10, {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff},
     {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
    {10, {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0},
     {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
};

/* splitmix64 (Steele, Lea, Flood 2014): the test's own source of arbitrary inputs, independent
 * of the code under test. */
static uint64_t splitmix64(uint64_t *x)
{
  uint64_t z = (*x += UINT64_C(0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}

static int block_eq(const uint32_t a[4], const uint32_t b[4])
{
  return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3];
}

static void test_kat(void)
{
  for (size_t i = 0; i < sizeof kats / sizeof kats[0]; i++) {
    const kat_t *t = &kats[i];
    uint32_t out[4];
    emi_philox4x32_rounds_ref(t->rounds, t->ctr, t->key, out);
    for (int w = 0; w < 4; w++) CHECK_U32_EQ(out[w], t->out[w]);
    if (t->rounds != 10) continue;
    emi_philox4x32_10_ref(t->ctr, t->key, out);
    for (int w = 0; w < 4; w++) CHECK_U32_EQ(out[w], t->out[w]);
    emi_philox4x32_10(t->ctr, t->key, out);
    for (int w = 0; w < 4; w++) CHECK_U32_EQ(out[w], t->out[w]);
    emi_philox4x32_10_blocks(1, t->ctr, t->key, out);
    for (int w = 0; w < 4; w++) CHECK_U32_EQ(out[w], t->out[w]);
    /* out may alias ctr */
    uint32_t inout[4] = {t->ctr[0], t->ctr[1], t->ctr[2], t->ctr[3]};
    emi_philox4x32_10(inout, t->key, inout);
    for (int w = 0; w < 4; w++) CHECK_U32_EQ(inout[w], t->out[w]);
  }
  /* zero rounds is the identity: the loop structure, not just the 10-round answer */
  uint32_t ctr[4] = {1, 2, 3, 4}, key[2] = {5, 6}, out[4];
  emi_philox4x32_rounds_ref(0, ctr, key, out);
  CHECK(block_eq(out, ctr));
}

/* The optimised kernel equals the reference on arbitrary counters and keys. */
static void test_fast_vs_ref(void)
{
  uint64_t x = 12345;
  int mismatches = 0;
  for (int i = 0; i < 5000; i++) {
    uint64_t a = splitmix64(&x), b = splitmix64(&x), c = splitmix64(&x);
    uint32_t ctr[4] = {(uint32_t)a, (uint32_t)(a >> 32), (uint32_t)b, (uint32_t)(b >> 32)};
    uint32_t key[2] = {(uint32_t)c, (uint32_t)(c >> 32)};
    uint32_t r[4], f[4];
    emi_philox4x32_10_ref(ctr, key, r);
    emi_philox4x32_10(ctr, key, f);
    mismatches += !block_eq(r, f);
  }
  CHECK_INT_EQ(mismatches, 0);
}

/* The block kernel equals block-by-block calls, for lengths around any vector width, and counter
 * word 3 wraps modulo 2^32 without touching the other words. */
static void test_blocks(void)
{
  enum { NMAX = 67 };
  uint32_t out[4 * NMAX + 4];
  uint64_t x = 777;
  const uint32_t starts[] = {0, 1000, 0xfffffff0u};
  for (size_t si = 0; si < sizeof starts / sizeof starts[0]; si++) {
    for (size_t n = 0; n <= NMAX; n++) {
      uint64_t a = splitmix64(&x), c = splitmix64(&x);
      uint32_t ctr[4] = {(uint32_t)a, (uint32_t)(a >> 32), (uint32_t)c, starts[si]};
      uint32_t key[2] = {(uint32_t)(c >> 7), (uint32_t)(c >> 39)};
      out[4 * n] = 0xdeadbeefu; /* sentinel just past the end */
      emi_philox4x32_10_blocks(n, ctr, key, out);
      int bad = 0;
      for (size_t i = 0; i < n; i++) {
        uint32_t c_i[4] = {ctr[0], ctr[1], ctr[2], ctr[3] + (uint32_t)i}, ref[4];
        emi_philox4x32_10_ref(c_i, key, ref);
        bad += !block_eq(ref, out + 4 * i);
      }
      CHECK_MSG(bad == 0, "start %" PRIu32 ", n = %zu: %d blocks differ", starts[si], n, bad);
      CHECK_U32_EQ(out[4 * n], 0xdeadbeefu);
    }
  }
}

static void test_stream_layout(void)
{
  emi_stream_t s;
  const uint64_t seed = UINT64_C(0x0123456789abcdef);
  CHECK_OK(emi_stream_init(&s, seed, 0xbeef, UINT64_C(0xa1b2c3d4e5f6), 0x5a5a5a5a));
  /* the documented layout */
  CHECK_U32_EQ(s.key[0], 0x89abcdef);
  CHECK_U32_EQ(s.key[1], 0x01234567);
  CHECK_U32_EQ(s.ctr[0], 0x5a5a5a5a);
  CHECK_U32_EQ(s.ctr[1], 0xc3d4e5f6);
  CHECK_U32_EQ(s.ctr[2], 0xbeefa1b2);
  CHECK_U32_EQ(s.ctr[3], 0);
  /* word k of the stream is word k % 4 of philox(block k / 4): the stream adds nothing else */
  uint32_t ctr[4] = {0x5a5a5a5a, 0xc3d4e5f6, 0xbeefa1b2, 0}, key[2] = {0x89abcdef, 0x01234567};
  int bad = 0;
  for (uint32_t b = 0; b < 50; b++) {
    uint32_t ref[4];
    ctr[3] = b;
    emi_philox4x32_10_ref(ctr, key, ref);
    for (int w = 0; w < 4; w++) bad += emi_stream_u32(&s) != ref[w];
  }
  CHECK_INT_EQ(bad, 0);

  /* seed 0, all indices 0: block 0 is the first published vector */
  CHECK_OK(emi_stream_init(&s, 0, 0, 0, 0));
  CHECK_U32_EQ(emi_stream_u32(&s), 0x6627e8d5);
  CHECK_U32_EQ(emi_stream_u32(&s), 0xe169c58d);
  CHECK_U32_EQ(emi_stream_u32(&s), 0xbc57ac4c);
  CHECK_U32_EQ(emi_stream_u32(&s), 0x9b00dbd8);
  /* u64 = next word high, the one after low */
  CHECK_OK(emi_stream_init(&s, 0, 0, 0, 0));
  CHECK(emi_stream_u64(&s) == UINT64_C(0x6627e8d5e169c58d));
  CHECK(emi_stream_u64(&s) == UINT64_C(0xbc57ac4c9b00dbd8));

  /* the largest indices are accepted, one more is a domain error naming the index */
  CHECK_OK(emi_stream_init(&s, UINT64_MAX, EMI_STREAM_PURPOSE_MAX, EMI_STREAM_ENTITY_MAX, UINT32_MAX));
  CHECK_U32_EQ(s.ctr[1], 0xffffffff);
  CHECK_U32_EQ(s.ctr[2], 0xffffffff);
  emi_err_t e = emi_stream_init(&s, 1, EMI_STREAM_PURPOSE_MAX + 1, 0, 0);
  CHECK_INT_EQ(e, EMI_ERR_DOMAIN);
  CHECK(strstr(emi_err_message(), "purpose = 65536") != NULL);
  emi_err_clear();
  e = emi_stream_init(&s, 1, 0, EMI_STREAM_ENTITY_MAX + 1, 0);
  CHECK_INT_EQ(e, EMI_ERR_DOMAIN);
  CHECK(strstr(emi_err_message(), "entity = 281474976710656") != NULL);
  emi_err_clear();
  CHECK_ERR(emi_stream_init(NULL, 1, 0, 0, 0), EMI_ERR_ARG);
}

/* Bulk fill gives the same words as one-at-a-time draws, from any starting offset. */
static void test_fill(void)
{
  uint32_t a[300], b[300];
  for (size_t offset = 0; offset < 6; offset++) {
    for (size_t n = 0; n < 40; n += 3) {
      emi_stream_t s1, s2;
      CHECK_OK(emi_stream_init(&s1, 99, 3, 17, 2));
      CHECK_OK(emi_stream_init(&s2, 99, 3, 17, 2));
      for (size_t i = 0; i < offset; i++) {
        (void)emi_stream_u32(&s1);
        (void)emi_stream_u32(&s2);
      }
      emi_stream_fill_u32(&s1, n, a);
      for (size_t i = 0; i < n; i++) b[i] = emi_stream_u32(&s2);
      CHECK(memcmp(a, b, n * sizeof a[0]) == 0);
      /* and both continue identically */
      CHECK_U32_EQ(emi_stream_u32(&s1), emi_stream_u32(&s2));
    }
  }
  emi_stream_t s1, s2;
  CHECK_OK(emi_stream_init(&s1, 5, 1, 2, 3));
  CHECK_OK(emi_stream_init(&s2, 5, 1, 2, 3));
  emi_stream_fill_u32(&s1, 300, a);
  for (size_t i = 0; i < 300; i++) b[i] = emi_stream_u32(&s2);
  CHECK(memcmp(a, b, sizeof a) == 0);
}

/* A draw depends only on (seed, purpose, entity, step, position): streams drawn in a shuffled,
 * interleaved order (as threads or ranks would) give the values of streams drawn one by one. */
static void test_order_independence(void)
{
  enum { NENT = 64, NDRAW = 37 };
  static double seq[NENT][NDRAW], mix[NENT][NDRAW];
  for (int e = 0; e < NENT; e++) {
    emi_stream_t s;
    CHECK_OK(emi_stream_init(&s, 2024, 7, (uint64_t)e * 1000003u, 12));
    for (int d = 0; d < NDRAW; d++) seq[e][d] = emi_uniform(&s);
  }
  emi_stream_t st[NENT];
  int pos[NENT] = {0};
  int order[NENT];
  for (int e = 0; e < NENT; e++) order[e] = e;
  uint64_t x = 31337;
  for (int e = NENT - 1; e > 0; e--) { /* Fisher-Yates: streams created in a random order */
    int j = (int)(splitmix64(&x) % (uint64_t)(e + 1));
    int t = order[e];
    order[e] = order[j];
    order[j] = t;
  }
  for (int i = 0; i < NENT; i++)
    CHECK_OK(emi_stream_init(&st[order[i]], 2024, 7, (uint64_t)order[i] * 1000003u, 12));
  for (int left = NENT * NDRAW; left > 0;) { /* one draw at a time from a random stream */
    int e = (int)(splitmix64(&x) % NENT);
    if (pos[e] == NDRAW) continue;
    mix[e][pos[e]++] = emi_uniform(&st[e]);
    left--;
  }
  CHECK(memcmp(seq, mix, sizeof seq) == 0);
}

/* Different seeds or indices give different streams: the first 64 bits of 4 * 300 streams that
 * differ in one index each are all distinct (a collision among 1200 random 64-bit values has
 * probability 4e-14). */
static int cmp_u64(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void test_distinct_streams(void)
{
  enum { M = 300 };
  static uint64_t first[4 * M];
  size_t n = 0;
  for (uint32_t i = 0; i < M; i++) {
    emi_stream_t s;
    CHECK_OK(emi_stream_init(&s, 1000 + i, 1, 1, 1)); /* seed */
    first[n++] = emi_stream_u64(&s);
    CHECK_OK(emi_stream_init(&s, 1, i == 1 ? 9999 : i, 1, 1)); /* purpose */
    first[n++] = emi_stream_u64(&s);
    CHECK_OK(emi_stream_init(&s, 1, 1, i == 1 ? (UINT64_C(1) << 40) : i, 1)); /* entity, hi bits too */
    first[n++] = emi_stream_u64(&s);
    CHECK_OK(emi_stream_init(&s, 1, 1, 1, i == 1 ? 0x80000000u : i)); /* step */
    first[n++] = emi_stream_u64(&s);
  }
  /* the four families share the tuple (1, 1, 1, 1) at i = 1, so each substitutes another value
   * there: the 1200 tuples are distinct, hence so must be their first 64 bits */
  qsort(first, n, sizeof first[0], cmp_u64);
  int dup = 0;
  for (size_t i = 1; i < n; i++) dup += first[i] == first[i - 1];
  CHECK_INT_EQ(dup, 0);
  /* recreating a stream reproduces it */
  emi_stream_t s1, s2;
  CHECK_OK(emi_stream_init(&s1, 42, 3, 123456789, 77));
  for (int i = 0; i < 1000; i++) (void)emi_stream_u32(&s1);
  uint32_t w1 = emi_stream_u32(&s1);
  CHECK_OK(emi_stream_init(&s2, 42, 3, 123456789, 77));
  for (int i = 0; i < 1000; i++) (void)emi_stream_u32(&s2);
  CHECK_U32_EQ(emi_stream_u32(&s2), w1);
}

/* emi_uniform is k 2^-53 with k the top 53 bits of emi_stream_u64, k = 0 skipped; emi_uniform_01
 * the same without the skip. */
static void test_uniform(void)
{
  emi_stream_t s, t;
  CHECK_OK(emi_stream_init(&s, 8, 8, 8, 8));
  CHECK_OK(emi_stream_init(&t, 8, 8, 8, 8));
  int bad = 0;
  double lo = 1.0, hi = 0.0, sum = 0.0;
  const int n = 400000;
  for (int i = 0; i < n; i++) {
    double u = emi_uniform(&s);
    uint64_t k = emi_stream_u64(&t) >> 11;
    bad += k == 0 || u != (double)k * 0x1p-53;
    lo = u < lo ? u : lo;
    hi = u > hi ? u : hi;
    sum += u;
  }
  CHECK_INT_EQ(bad, 0);
  CHECK(lo > 0.0 && hi < 1.0);
  /* mean of n uniforms: sd sqrt(1/12n); 5 standard errors */
  CHECK_CLOSE(sum / n, 0.5, 5.0 * sqrt(1.0 / (12.0 * n)), 0);

  /* the k = 0 rejection: a block whose first 64 bits are zero is skipped to the next 64 bits */
  s.buf[0] = 0;
  s.buf[1] = 0x7ff;          /* only bits below the top 53: k = 0 still */
  s.buf[2] = 0x80000000u;    /* next 64 bits: k = 2^52 -> 0.5 */
  s.buf[3] = 0;
  s.used = 0;
  CHECK(emi_uniform(&s) == 0.5);
  s.buf[0] = 0;
  s.buf[1] = 0;
  s.used = 0;
  CHECK(emi_uniform_01(&s) == 0.0);
  s.buf[2] = 0xffffffffu;
  s.buf[3] = 0xffffffffu;
  s.used = 2;
  CHECK(emi_uniform(&s) == 1.0 - 0x1p-53);

  /* 8-bit buckets of 2^20 words: chi-square with 255 df against its critical value at
   * significance 1e-4, from the Wilson-Hilferty approximation
   * df (1 - 2/(9 df) + z sqrt(2/(9 df)))^3 with z = 3.719016 the 1 - 1e-4 normal quantile: 347.7 */
  enum { NW = 1 << 20 };
  static uint32_t words[NW];
  const double df = 255.0, z = 3.7190164854557084;
  const double crit = df * pow(1.0 - 2.0 / (9.0 * df) + z * sqrt(2.0 / (9.0 * df)), 3.0);
  CHECK_OK(emi_stream_init(&s, 77, 0, 0, 0));
  emi_stream_fill_u32(&s, NW, words);
  for (int shift = 0; shift <= 24; shift += 8) {
    long counts[256] = {0};
    for (int i = 0; i < NW; i++) counts[(words[i] >> shift) & 0xff]++;
    double chi2 = 0.0, e = NW / 256.0;
    for (int j = 0; j < 256; j++) chi2 += (counts[j] - e) * (counts[j] - e) / e;
    CHECK_MSG(chi2 < crit, "byte %d: chi2 = %g with 255 df, critical %g", shift / 8, chi2, crit);
  }
}

int main(void)
{
  test_kat();
  test_fast_vs_ref();
  test_blocks();
  test_stream_layout();
  test_fill();
  test_order_independence();
  test_distinct_streams();
  test_uniform();
  return emi_test_report("test_philox");
}
