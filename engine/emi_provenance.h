/* emi_provenance.h: what produced an output file, stamped as root attributes of the HDF5 file.
 *
 *   emi_provenance_t *prov = NULL;
 *   EMI_TRY(emi_provenance_create(MPI_COMM_WORLD, argc, argv, &prov));
 *   EMI_TRY(emi_provenance_set_config(prov, ini_text, ini_len));
 *   EMI_TRY(emi_provenance_add_input(prov, crossings_path));   // collective: rank 0 hashes
 *   EMI_TRY(emi_provenance_set_rng(prov, "Philox4x32-10", seed));
 *   ...
 *   EMI_TRY(emi_h5_write_provenance(f, prov));
 * cleanup:
 *   emi_provenance_destroy(&prov);
 *
 * Root attributes written (all scalar variable-length UTF-8 strings unless noted; rank 0's values
 * are written, so every rank writes the same bytes):
 *   software       "emflow"
 *   version        git describe of the build (EMI_VERSION_STRING)
 *   date           ISO 8601 local time with the UTC offset, "2026-12-03T18:41:23+01:00"; when the
 *                  environment sets SOURCE_DATE_EPOCH (reproducible-builds.org convention: seconds
 *                  since 1970 UTC) that instant is used instead, in UTC ("+00:00"), so that two runs
 *                  can be compared byte for byte
 *   command_line   argv joined by spaces, each argument POSIX-shell-quoted when needed
 *   config_sha256  SHA-256 (hex) of the configuration text (only when set)
 *   input_files    1-D string array: the input paths as given (only when inputs were added)
 *   input_sha256   1-D string array, same order: SHA-256 (hex) of each input file's bytes
 *   rng_name, rng_seed (H5T_STD_U64LE)  the generator and its seed (only when set)
 *   mpi_ranks, omp_threads (H5T_STD_I64LE)  size of the communicator; omp_get_max_threads()
 *   host           rank 0's host name
 *   compiler       compiler id and version of the build
 *   blas           openblas_get_config()
 *   lapack         "LAPACK x.y.z" (ilaver)
 *   hdf5           "HDF5 x.y.z" of the library linked at run time (+ " (parallel)")
 *   mpi_library    first line of MPI_Get_library_version
 * No personal data is collected: no user name, no environment, no input contents — only paths
 * (as the user gave them) and hashes.
 */
#ifndef EMI_PROVENANCE_H
#define EMI_PROVENANCE_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "emi_err.h"
#include "emi_h5.h"

typedef struct emi_provenance emi_provenance_t;

/* Collective over comm (which must stay valid while p is used).  Collects the run's environment
 * (the list above) on rank 0 and broadcasts it.  argv may be NULL when argc is 0. */
emi_err_t emi_provenance_create(MPI_Comm comm, int argc, char *const argv[], emi_provenance_t **p);
/* Accepts NULL and *p == NULL; sets *p to NULL.  Local. */
void emi_provenance_destroy(emi_provenance_t **p);

/* Local.  SHA-256 of the configuration text (len bytes; text may be NULL when len is 0). */
emi_err_t emi_provenance_set_config(emi_provenance_t *p, const char *text, size_t len);
/* Collective.  Rank 0 streams the file through SHA-256 and broadcasts the digest; a file that
 * cannot be opened or read is EMI_ERR_IO on every rank, naming the path and the system's reason. */
emi_err_t emi_provenance_add_input(emi_provenance_t *p, const char *path);
/* Local.  Generator name (non-empty) and seed. */
emi_err_t emi_provenance_set_rng(emi_provenance_t *p, const char *name, uint64_t seed);

/* Local.  The text of field `key` (one of the attribute names above except the input arrays;
 * numbers in decimal).  EMI_ERR_ARG for an unknown key or a field that is not set. */
emi_err_t emi_provenance_get(const emi_provenance_t *p, const char *key, const char **value);
/* Local.  Number of inputs, and input i's path and SHA-256 hex (64 lowercase hex digits). */
emi_err_t emi_provenance_input_count(const emi_provenance_t *p, size_t *n);
emi_err_t emi_provenance_input(const emi_provenance_t *p, size_t i, const char **path, const char **sha256_hex);

/* Local and pure: SHA-256 of len bytes as 64 lowercase hex digits + NUL (emi_sha256_*). */
emi_err_t emi_sha256_hex(const void *data, size_t len, char hex[65]);

/* ------------------------------------------------------------------ SHA-256 (FIPS 180-4)
 * Streamed SHA-256 for the input hashes of the provenance and the person keys of the ingest
 * (emi_linkage.h).  The compression function runs on the x86 SHA extensions (SHA-NI) when the CPU
 * has them (CPUID, checked once) and in portable C otherwise: 5-10x faster than libsodium's portable
 * C on SHA-NI machines (a 706 MiB input: 3.9 s -> 0.5 s).  Both compressions give the same digests:
 * tests/engine/test_provenance.c holds them to the FIPS 180-2 vectors, to each other and to libsodium.
 * Thread-safe; no allocation. */
typedef struct {
  uint32_t h[8];         /* chaining value */
  uint64_t bytes;        /* message bytes absorbed so far */
  unsigned char buf[64]; /* the partial block */
  size_t nbuf;
} emi_sha256_t;

void emi_sha256_init(emi_sha256_t *s);
void emi_sha256_update(emi_sha256_t *s, const void *data, size_t len);
/* Pads, writes the 32-byte digest; s must be initialised again before reuse. */
void emi_sha256_final(emi_sha256_t *s, unsigned char digest[32]);
/* The compression of nblocks 64-byte blocks into h: the fastest available (emi_sha256_blocks), the
 * portable C one (_ref, the plain twin), and whether the SHA extensions are used. */
void emi_sha256_blocks(uint32_t h[8], const unsigned char *data, size_t nblocks);
void emi_sha256_blocks_ref(uint32_t h[8], const unsigned char *data, size_t nblocks);
int emi_sha256_accelerated(void);

/* ------------------------------------------------------------------ input hashes in the background
 * A command that knows its inputs at start-up hashes them while it works, instead of at the end:
 *
 *   emi_file_hash_t *h = NULL;
 *   EMI_TRY(emi_file_hash_start(comm, in_path, &h));    // rank 0: a POSIX thread reads and hashes
 *   ... ingest, compute ...
 *   EMI_TRY(emi_provenance_add_input_hash(prov, &h));   // joins; as emi_provenance_add_input
 * cleanup:
 *   emi_file_hash_destroy(&h);                          // an early exit stops the thread
 *
 * The digest is the plain SHA-256 of the file's bytes (what sha256sum prints), read with read(2)
 * through a 1 MiB buffer (the file is not mapped, so the hash adds no resident memory).  The thread
 * calls neither MPI nor OpenMP. */
typedef struct emi_file_hash emi_file_hash_t;

/* Local.  On rank 0 of comm start hashing path (a thread; if it cannot be created, the hash is
 * computed by emi_provenance_add_input_hash instead); on the other ranks only remember the path.
 * path NULL or "" is reported by emi_provenance_add_input_hash, as by emi_provenance_add_input. */
emi_err_t emi_file_hash_start(MPI_Comm comm, const char *path, emi_file_hash_t **h);
/* Collective over p's communicator (the same comm as the start).  Wait for the hash, broadcast it and
 * record the input exactly as emi_provenance_add_input(p, path) does (same path, digest and errors:
 * EMI_ERR_IO naming the path and the system's reason on every rank).  Destroys *h (sets it NULL). */
emi_err_t emi_provenance_add_input_hash(emi_provenance_t *p, emi_file_hash_t **h);
/* Local.  Stop the thread (it notices within one read) and free; accepts NULL, sets *h to NULL. */
void emi_file_hash_destroy(emi_file_hash_t **h);

/* Collective over the file's ranks.  Write the fields above as attributes of the root group "/",
 * with rank 0's values. */
emi_err_t emi_h5_write_provenance(emi_h5_file_t *f, const emi_provenance_t *p);

#endif /* EMI_PROVENANCE_H */
