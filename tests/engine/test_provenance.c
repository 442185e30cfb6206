/* test_provenance: SHA-256 against the published FIPS 180-2 vectors, streamed input hashing,
 * error paths naming the file, shell quoting of the command line, and the ISO 8601 date with its
 * UTC offset.  Runs as a one-rank MPI program (singleton MPI_Init). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mpi.h>

#include "emi_provenance.h"
#include "emi_test.h"

/* FIPS 180-2, appendix B: B.1 "abc", B.2 the 448-bit message, B.3 one million 'a'.
 * The empty message's digest is the well-known e3b0c442... (NIST examples, sha256sum). */
#define SHA_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA_448 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
#define SHA_MILLION_A "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"

/* Under AddressSanitizer (-DEMI_SANITIZE=ON): Open MPI leaks by design (in MPI_Init/Finalize, in
 * its progress thread and inside MPI-IO).  Suppress leaks whose allocation stack passes through the
 * Open MPI libraries, with full unwinding so the stacks reach them; a leak in emflow's own code is
 * still an error.  These hooks are read by the sanitizer runtime and unused in other builds. */
const char *__asan_default_options(void);
const char *__lsan_default_suppressions(void);
const char *__asan_default_options(void) { return "fast_unwind_on_malloc=0"; }
const char *__lsan_default_suppressions(void)
{
  return "leak:libmpi.so\nleak:libopen-pal.so\nleak:libopen-rte.so\nleak:libevent\nleak:libhwloc\nleak:libpmix\n"
         "leak:ompi_mpi_init\nleak:ompi_mpi_finalize\n";
}

static const char *field(const emi_provenance_t *p, const char *key)
{
  const char *v = NULL;
  emi_err_t e = emi_provenance_get(p, key, &v);
  CHECK_MSG(e == EMI_SUCCESS && v, "field '%s': %s", key, emi_err_message());
  emi_err_clear();
  return v ? v : "";
}

/* date must read YYYY-MM-DDThh:mm:ss followed by the given offset */
static void check_date(const char *date, const char *offset)
{
  static const char pat[] = "dddd-dd-ddTdd:dd:dd";
  int ok = strlen(date) == sizeof pat - 1 + 6;
  for (size_t i = 0; ok && i < sizeof pat - 1; i++)
    ok = pat[i] == 'd' ? (date[i] >= '0' && date[i] <= '9') : date[i] == pat[i];
  CHECK_MSG(ok && strcmp(date + sizeof pat - 1, offset) == 0, "date '%s', expected ...%s", date, offset);
}

static emi_provenance_t *make(int argc, char **argv)
{
  emi_provenance_t *p = NULL;
  CHECK_OK(emi_provenance_create(MPI_COMM_WORLD, argc, argv, &p));
  return p;
}

int main(int argc, char **argv)
{
  char hex[65];
  MPI_Init(&argc, &argv);
  const char *tmp = getenv("EMI_TEST_TMP") ? getenv("EMI_TEST_TMP") : ".";

  /* 1. SHA-256 known answers */
  CHECK_OK(emi_sha256_hex("", 0, hex));
  CHECK(strcmp(hex, SHA_EMPTY) == 0);
  CHECK_OK(emi_sha256_hex("abc", 3, hex));
  CHECK_MSG(strcmp(hex, SHA_ABC) == 0, "SHA-256(abc) = %s", hex);
  const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  CHECK_OK(emi_sha256_hex(m448, strlen(m448), hex));
  CHECK(strcmp(hex, SHA_448) == 0);
  CHECK_ERR(emi_sha256_hex(NULL, 3, hex), EMI_ERR_ARG);

  /* 2. the command line, shell-quoted: the join of the quoted words re-parses to argv under sh */
  setenv("SOURCE_DATE_EPOCH", "1796324400", 1);
  char *args[] = {"emflow", "run", "my config.ini", "it's", "", "-o", "out/x_1.h5", "a;b", "--seed=42", "$HOME"};
  emi_provenance_t *p = make((int)(sizeof args / sizeof *args), args);
  CHECK(p != NULL);
  if (!p) return emi_test_report("test_provenance");
  CHECK_MSG(strcmp(field(p, "command_line"),
                   "emflow run 'my config.ini' 'it'\\''s' '' -o out/x_1.h5 'a;b' --seed=42 '$HOME'") == 0,
            "command_line = %s", field(p, "command_line"));

  /* 3. fixed fields */
  CHECK(strcmp(field(p, "software"), "emflow") == 0);
  CHECK(strlen(field(p, "version")) > 0);
  CHECK(strcmp(field(p, "mpi_ranks"), "1") == 0);
  CHECK(atoi(field(p, "omp_threads")) >= 1);
  CHECK(strlen(field(p, "host")) > 0);
  CHECK(strlen(field(p, "compiler")) > 0);
  CHECK(strstr(field(p, "blas"), "OpenBLAS") != NULL);
  CHECK(strncmp(field(p, "lapack"), "LAPACK 3.", 9) == 0);
  CHECK(strncmp(field(p, "hdf5"), "HDF5 1.", 7) == 0);
  CHECK(strstr(field(p, "mpi_library"), "MPI") != NULL);
  /* SOURCE_DATE_EPOCH 1796324400 is 2026-12-03T19:00:00 UTC (date -u -d @1796324400) */
  CHECK_MSG(strcmp(field(p, "date"), "2026-12-03T19:00:00+00:00") == 0, "date = %s", field(p, "date"));

  /* 4. unset and unknown fields */
  const char *v = NULL;
  CHECK_ERR(emi_provenance_get(p, "config_sha256", &v), EMI_ERR_ARG);
  CHECK_ERR(emi_provenance_get(p, "rng_seed", &v), EMI_ERR_ARG);
  CHECK_ERR(emi_provenance_get(p, "user", &v), EMI_ERR_ARG);

  /* 5. config and RNG */
  CHECK_OK(emi_provenance_set_config(p, "abc", 3));
  CHECK(strcmp(field(p, "config_sha256"), SHA_ABC) == 0);
  CHECK_ERR(emi_provenance_set_config(p, NULL, 2), EMI_ERR_ARG);
  CHECK_OK(emi_provenance_set_rng(p, "Philox4x32-10", UINT64_MAX));
  CHECK(strcmp(field(p, "rng_name"), "Philox4x32-10") == 0);
  CHECK(strcmp(field(p, "rng_seed"), "18446744073709551615") == 0);
  CHECK_ERR(emi_provenance_set_rng(p, "", 1), EMI_ERR_ARG);

  /* 6. input files: streamed through SHA-256 (1,000,000 bytes > the 64 KiB read buffer) */
  char big[1024], empty[1024], missing[1024];
  snprintf(big, sizeof big, "%s/prov_million_a.txt", tmp);
  snprintf(empty, sizeof empty, "%s/prov_empty.txt", tmp);
  snprintf(missing, sizeof missing, "%s/prov_no_such_file.csv", tmp);
  FILE *fp = fopen(big, "wb");
  CHECK(fp != NULL);
  for (int i = 0; fp && i < 1000000; i++) fputc('a', fp);
  if (fp) fclose(fp);
  fp = fopen(empty, "wb");
  CHECK(fp != NULL);
  if (fp) fclose(fp);
  remove(missing);

  CHECK_OK(emi_provenance_add_input(p, big));
  CHECK_OK(emi_provenance_add_input(p, empty));
  size_t n = 0;
  const char *path = NULL, *sha = NULL;
  CHECK_OK(emi_provenance_input_count(p, &n));
  CHECK_INT_EQ(n, 2);
  CHECK_OK(emi_provenance_input(p, 0, &path, &sha));
  CHECK(path && strcmp(path, big) == 0);
  CHECK_MSG(sha && strcmp(sha, SHA_MILLION_A) == 0, "SHA-256(10^6 x 'a') = %s", sha ? sha : "(null)");
  CHECK_OK(emi_provenance_input(p, 1, &path, &sha));
  CHECK(sha && strcmp(sha, SHA_EMPTY) == 0);
  CHECK_ERR(emi_provenance_input(p, 2, &path, &sha), EMI_ERR_ARG);

  /* 7. a missing input: EMI_ERR_IO naming the path and the system's reason; nothing recorded */
  emi_err_t e = emi_provenance_add_input(p, missing);
  CHECK_INT_EQ(e, EMI_ERR_IO);
  CHECK_MSG(strstr(emi_err_message(), missing) && strstr(emi_err_message(), strerror(ENOENT)),
            "message '%s' should name %s and '%s'", emi_err_message(), missing, strerror(ENOENT));
  emi_err_clear();
  e = emi_provenance_add_input(p, tmp); /* a directory cannot be hashed */
  CHECK_MSG(e == EMI_ERR_IO && strstr(emi_err_message(), strerror(EISDIR)), "directory: %s", emi_err_message());
  emi_err_clear();
  CHECK_ERR(emi_provenance_add_input(p, ""), EMI_ERR_ARG);
  CHECK_OK(emi_provenance_input_count(p, &n));
  CHECK_INT_EQ(n, 2);
  emi_provenance_destroy(&p);
  CHECK(p == NULL);
  emi_provenance_destroy(&p);
  emi_provenance_destroy(NULL);

  /* 8. dates: the UTC offset of the local time zone, with its colon (POSIX TZ strings: no tzdata
   * needed; "XST-5:30" is UTC+05:30, "NST+3:30" is UTC-03:30) */
  setenv("SOURCE_DATE_EPOCH", "0", 1);
  p = make(0, NULL);
  CHECK(p && strcmp(field(p, "date"), "1970-01-01T00:00:00+00:00") == 0);
  CHECK(p && strcmp(field(p, "command_line"), "") == 0);
  emi_provenance_destroy(&p);
  setenv("SOURCE_DATE_EPOCH", "yesterday", 1);
  CHECK_ERR(emi_provenance_create(MPI_COMM_WORLD, 0, NULL, &p), EMI_ERR_ARG);
  CHECK(p == NULL);
  unsetenv("SOURCE_DATE_EPOCH");
  static const char *const zones[][2] = {{"XST-5:30", "+05:30"}, {"NST+3:30", "-03:30"}, {"UTC0", "+00:00"}};
  for (int z = 0; z < 3; z++) {
    setenv("TZ", zones[z][0], 1);
    p = make(0, NULL);
    if (p) check_date(field(p, "date"), zones[z][1]);
    emi_provenance_destroy(&p);
  }
  unsetenv("TZ");

  MPI_Finalize();
  return emi_test_report("test_provenance");
}
