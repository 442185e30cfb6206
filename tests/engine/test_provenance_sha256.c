/* test_provenance_sha256: the SHA-256 of engine/emi_provenance.h (compression on the x86 SHA
 * extensions when present, portable C otherwise) and the background input hash.
 *
 * Where the right values come from: the FIPS 180-2 appendix B vectors (published digests), and
 * libsodium's crypto_hash_sha256 (an independent implementation) on every message length 0..1100 and
 * on a 5 MB message, streamed in random splits; the SHA-NI compression is held to the portable one
 * (the plain twin) on random chaining values and block counts.  The background hash
 * (emi_file_hash_start + emi_provenance_add_input_hash) must record exactly what
 * emi_provenance_add_input records, including its errors, and an early destroy must stop the thread.
 * Runs as a one-rank MPI program (singleton MPI_Init). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>
#include <sodium.h>

#include "emi_provenance.h"
#include "emi_test.h"

const char *__asan_default_options(void);
const char *__lsan_default_suppressions(void);
const char *__asan_default_options(void) { return "fast_unwind_on_malloc=0"; }
const char *__lsan_default_suppressions(void)
{
  return "leak:libmpi.so\nleak:libopen-pal.so\nleak:libopen-rte.so\nleak:libevent\nleak:libhwloc\nleak:libpmix\n"
         "leak:ompi_mpi_init\nleak:ompi_mpi_finalize\n";
}

static uint64_t rng = 0x243f6a8885a308d3ull;
static uint64_t next_u64(void) /* splitmix64 */
{
  uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static void hex_of(const unsigned char d[32], char hex[65]) { sodium_bin2hex(hex, 65, d, 32); }

static void digest_of(const void *m, size_t n, unsigned char d[32])
{
  emi_sha256_t s;
  emi_sha256_init(&s);
  emi_sha256_update(&s, m, n);
  emi_sha256_final(&s, d);
}

/* FIPS 180-2 appendix B (B.1, B.2, B.3) and the empty message */
static void test_vectors(void)
{
  static const struct { const char *msg; int repeat; const char *hex; } v[] = {
    {"", 1, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {"abc", 1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    {"a", 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
  };
  for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
    emi_sha256_t s;
    unsigned char d[32];
    char hex[65];
    emi_sha256_init(&s);
    for (int r = 0; r < v[k].repeat; r++) emi_sha256_update(&s, v[k].msg, strlen(v[k].msg));
    emi_sha256_final(&s, d);
    hex_of(d, hex);
    CHECK_MSG(strcmp(hex, v[k].hex) == 0, "vector %zu: %s, expected %s", k, hex, v[k].hex);
  }
}

/* every length 0..1100 (all padding cases: 55, 56, 63, 64, 119, 120 ...), one shot and in random pieces */
static void test_lengths(void)
{
  enum { MAXLEN = 1100 };
  unsigned char *m = malloc(MAXLEN), ref[32], got[32];
  for (size_t i = 0; i < MAXLEN; i++) m[i] = (unsigned char)next_u64();
  int bad = 0;
  for (size_t n = 0; n <= MAXLEN && bad < 5; n++) {
    crypto_hash_sha256(ref, m, n);
    digest_of(m, n, got);
    if (memcmp(ref, got, 32)) {
      bad++;
      CHECK_MSG(0, "length %zu: one-shot digest differs from libsodium", n);
    }
    emi_sha256_t s;
    emi_sha256_init(&s);
    for (size_t a = 0; a < n;) {
      size_t k = (size_t)(next_u64() % 130);
      if (k > n - a) k = n - a;
      emi_sha256_update(&s, m + a, k);
      a += k;
    }
    emi_sha256_final(&s, got);
    if (memcmp(ref, got, 32)) {
      bad++;
      CHECK_MSG(0, "length %zu: streamed digest differs from libsodium", n);
    }
  }
  free(m);
}

/* a 5 MB message: long runs of whole blocks through the fast compression */
static void test_bulk(void)
{
  const size_t n = 5u << 20;
  unsigned char *m = malloc(n), ref[32], got[32];
  for (size_t i = 0; i < n; i += 8) {
    uint64_t x = next_u64();
    memcpy(m + i, &x, 8);
  }
  crypto_hash_sha256(ref, m, n);
  digest_of(m, n, got);
  CHECK_MSG(!memcmp(ref, got, 32), "5 MB one shot differs from libsodium");
  emi_sha256_t s;
  emi_sha256_init(&s);
  for (size_t a = 0; a < n;) {
    size_t k = 1 + (size_t)(next_u64() % 300000);
    if (k > n - a) k = n - a;
    emi_sha256_update(&s, m + a, k);
    a += k;
  }
  emi_sha256_final(&s, got);
  CHECK_MSG(!memcmp(ref, got, 32), "5 MB streamed differs from libsodium");
  free(m);
}

/* the fast compression (SHA-NI here when the CPU has it) against the plain twin */
static void test_twin(void)
{
  unsigned char blocks[64 * 20];
  int bad = 0;
  for (int t = 0; t < 2000 && bad < 5; t++) {
    uint32_t h1[8], h2[8];
    for (int i = 0; i < 8; i++) h1[i] = h2[i] = (uint32_t)next_u64();
    size_t nb = 1 + (size_t)(next_u64() % 20);
    for (size_t i = 0; i < 64 * nb; i++) blocks[i] = (unsigned char)next_u64();
    emi_sha256_blocks(h1, blocks, nb);
    emi_sha256_blocks_ref(h2, blocks, nb);
    if (memcmp(h1, h2, sizeof h1)) {
      bad++;
      CHECK_MSG(0, "trial %d (%zu blocks): compression differs from the twin", t, nb);
    }
  }
  uint32_t h[8] = {1, 2, 3, 4, 5, 6, 7, 8}, h0[8];
  memcpy(h0, h, sizeof h);
  emi_sha256_blocks(h, blocks, 0); /* zero blocks: nothing changes */
  CHECK(!memcmp(h, h0, sizeof h));
  fprintf(stderr, "test_provenance_sha256: compression on %s\n",
          emi_sha256_accelerated() ? "the SHA extensions" : "portable C");
}

static void write_file(const char *path, size_t n)
{
  FILE *fp = fopen(path, "wb");
  CHECK(fp != NULL);
  if (!fp) return;
  for (size_t i = 0; i < n; i++) fputc((int)(i * 7 % 251), fp);
  fclose(fp);
}

static void test_background(const char *tmp)
{
  char big[1024], small[1024], missing[1024];
  snprintf(big, sizeof big, "%s/prov_bg_big.bin", tmp);
  snprintf(small, sizeof small, "%s/prov_bg_small.bin", tmp);
  snprintf(missing, sizeof missing, "%s/prov_bg_no_such_file.csv", tmp);
  write_file(big, 3u << 20 | 12345); /* > the 1 MiB read buffer, not a multiple of it */
  write_file(small, 100);
  remove(missing);
  emi_provenance_t *p = NULL, *q = NULL;
  char *args[] = {"emflow", "classify"};
  CHECK_OK(emi_provenance_create(MPI_COMM_WORLD, 2, args, &p));
  CHECK_OK(emi_provenance_create(MPI_COMM_WORLD, 2, args, &q));
  if (!p || !q) return;
  /* the same inputs, synchronously into q and in the background into p */
  emi_file_hash_t *hb = NULL, *hs = NULL;
  CHECK_OK(emi_file_hash_start(MPI_COMM_WORLD, big, &hb));
  CHECK_OK(emi_file_hash_start(MPI_COMM_WORLD, small, &hs));
  CHECK_OK(emi_provenance_add_input(q, big));
  CHECK_OK(emi_provenance_add_input(q, small));
  CHECK_OK(emi_provenance_add_input_hash(p, &hb));
  CHECK(hb == NULL);
  CHECK_OK(emi_provenance_add_input_hash(p, &hs));
  size_t np = 0, nq = 0;
  CHECK_OK(emi_provenance_input_count(p, &np));
  CHECK_OK(emi_provenance_input_count(q, &nq));
  CHECK_INT_EQ(np, 2);
  CHECK_INT_EQ(nq, 2);
  for (size_t i = 0; i < np && i < nq; i++) {
    const char *pp, *ph, *qp, *qh;
    CHECK_OK(emi_provenance_input(p, i, &pp, &ph));
    CHECK_OK(emi_provenance_input(q, i, &qp, &qh));
    CHECK_MSG(!strcmp(pp, qp) && !strcmp(ph, qh), "input %zu: background %s %s, synchronous %s %s", i, pp, ph, qp, qh);
  }
  /* and both equal libsodium's digest of the file's bytes */
  {
    FILE *fp = fopen(big, "rb");
    size_t n = 3u << 20 | 12345;
    unsigned char *m = malloc(n), d[32];
    char hex[65];
    const char *pp, *ph;
    CHECK(fp && fread(m, 1, n, fp) == n);
    if (fp) fclose(fp);
    crypto_hash_sha256(d, m, n);
    hex_of(d, hex);
    CHECK_OK(emi_provenance_input(p, 0, &pp, &ph));
    CHECK_MSG(!strcmp(ph, hex), "big file: %s, libsodium %s", ph, hex);
    free(m);
  }
  /* errors: as emi_provenance_add_input (EMI_ERR_IO naming the path; EMI_ERR_ARG for an empty path) */
  emi_file_hash_t *hm = NULL, *he = NULL, *hn = NULL;
  CHECK_OK(emi_file_hash_start(MPI_COMM_WORLD, missing, &hm));
  CHECK_INT_EQ(emi_provenance_add_input_hash(p, &hm), EMI_ERR_IO);
  CHECK_MSG(strstr(emi_err_message(), missing) != NULL && strstr(emi_err_message(), strerror(ENOENT)) != NULL,
            "message: %s", emi_err_message());
  emi_err_clear();
  CHECK(hm == NULL);
  emi_err_clear();
  CHECK_OK(emi_file_hash_start(MPI_COMM_WORLD, "", &he));
  CHECK_ERR(emi_provenance_add_input_hash(p, &he), EMI_ERR_ARG);
  emi_err_clear();
  CHECK_OK(emi_file_hash_start(MPI_COMM_WORLD, tmp, &hn)); /* a directory cannot be read */
  CHECK_ERR(emi_provenance_add_input_hash(p, &hn), EMI_ERR_IO);
  emi_err_clear();
  CHECK_OK(emi_provenance_input_count(p, &np));
  CHECK_INT_EQ(np, 2); /* failures record nothing */
  CHECK_ERR(emi_file_hash_start(MPI_COMM_WORLD, big, NULL), EMI_ERR_ARG);
  emi_err_clear();
  /* an early exit: destroy without joining stops the thread; NULL is accepted */
  emi_file_hash_t *hx = NULL;
  CHECK_OK(emi_file_hash_start(MPI_COMM_WORLD, big, &hx));
  emi_file_hash_destroy(&hx);
  CHECK(hx == NULL);
  emi_file_hash_destroy(&hx);
  emi_file_hash_destroy(NULL);
  emi_provenance_destroy(&p);
  emi_provenance_destroy(&q);
  remove(big);
  remove(small);
}

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  if (sodium_init() < 0) {
    fprintf(stderr, "libsodium could not be initialised\n");
    return 1;
  }
  const char *tmp = getenv("EMI_TEST_TMP") ? getenv("EMI_TEST_TMP") : ".";
  test_vectors();
  test_lengths();
  test_bulk();
  test_twin();
  test_background(tmp);
  MPI_Finalize();
  return emi_test_report("test_provenance_sha256");
}
