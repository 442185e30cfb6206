/* emi_h5.c: the HDF5 output file (see emi_h5.h for the contract).
 *
 * How collective safety is kept: each public call first validates its arguments locally, then calls
 * agree(), one MPI_Allreduce that carries (a) this rank's verdict and (b) a 64-bit FNV-1a signature
 * of the arguments that must match.  Only when every rank is fine and all signatures are equal does
 * any collective HDF5 call start, so a bad argument on one rank gives an error on every rank instead
 * of a hang or a corrupt file.  Array writes add an MPI_Allgather of (row0, nrows) so the slabs are
 * checked to tile the dataset exactly.
 */
#include "emi_h5.h"
#include "emi_output.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <hdf5.h>
#include <hdf5_hl.h>

#include "emi_call.h"
#include "emi_h5_mpio.h"

struct emi_h5_file {
  MPI_Comm comm; /* duplicate of the caller's communicator, errors returned */
  int rank;
  int nranks;
  hid_t fid;
  hid_t dxpl; /* collective MPI-IO transfer */
  MPI_File fh; /* HDF5's MPI-IO handle of the file, watched (emi_h5_mpio.h) while the file is open */
  int deflate; /* deflate level of the chunked datasets created from now on (0: no filters) */
  char *path; /* final name */
  char *part; /* temporary name: path + ".part" */
  int secondary; /* the error this rank returned last came from another rank's failure (agree, settle) */
};

/* ------------------------------------------------------------------ error helpers */

static const char *nz(const char *s) { return s ? s : "(null)"; }

/* The HDF5 object of the last failed HDF5 call, for the message of a failed write (io_verdict). */
static char last_obj[256];

/* An HDF5 call failed: capture the HDF5 error stack (emi_h5_raise) and prefix the object concerned. */
static emi_err_t h5_fail_at(const char *call, const char *obj, const char *file, int line, const char *func)
{
  char msg[768];
  emi_h5_raise(call, file, line, func);
  snprintf(msg, sizeof msg, "%s", emi_err_message());
  snprintf(last_obj, sizeof last_obj, "%s", nz(obj));
  return emi_err_raise(EMI_ERR_HDF5, file, line, func, "HDF5 object '%s': %s", nz(obj), msg);
}

/* EMI_H5_TRY that also names the HDF5 object (file, group, dataset) in the message. */
#define H5_TRY(call, obj)                                                                 \
  do {                                                                                    \
    if ((call) < 0) {                                                                     \
      err = h5_fail_at(#call, (obj), __FILE__, __LINE__, __func__);                       \
      goto cleanup;                                                                       \
    }                                                                                     \
  } while (0)

#define H5_CLOSE(fn, id)                                                                  \
  do {                                                                                    \
    if ((id) >= 0) fn(id);                                                                \
    (id) = H5I_INVALID_HID;                                                               \
  } while (0)

/* ------------------------------------------------------------------ argument signatures */

#define SIG_INIT UINT64_C(0xcbf29ce484222325)

static uint64_t sig_bytes(uint64_t h, const void *p, size_t n)
{
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= UINT64_C(0x100000001b3);
  }
  return h;
}

static uint64_t sig_u64(uint64_t h, uint64_t v)
{
  unsigned char b[8];
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
  return sig_bytes(h, b, sizeof b);
}

static uint64_t sig_str(uint64_t h, const char *s)
{
  if (!s) return sig_u64(h, UINT64_C(0x6e756c6c6e756c6c)); /* NULL differs from "" */
  return sig_bytes(h, s, strlen(s) + 1);
}

/* Every rank learns whether any rank failed (local) or passed different arguments (sig): all ranks
 * return an error from the same call.  The failing rank keeps its own message. */
static emi_err_t agree(emi_h5_file_t *f, emi_err_t local, uint64_t sig, const char *what, const char *obj)
{
  uint64_t in[3] = {(uint64_t)local, sig, ~sig}, out[3] = {0, 0, 0};
  f->secondary = 0;
  int rc = MPI_Allreduce(in, out, 3, MPI_UINT64_T, MPI_MAX, f->comm);
  if (rc != MPI_SUCCESS) return emi_mpi_raise(rc, "MPI_Allreduce(verdicts)", __FILE__, __LINE__, __func__);
  if (local != EMI_SUCCESS) return local;
  if (out[0] != 0) {
    f->secondary = 1;
    emi_err_t code = out[0] < (uint64_t)EMI_ERR_COUNT_ ? (emi_err_t)out[0] : EMI_ERR_INTERNAL;
    return EMI_ERROR(code, "%s('%s'): failed on another rank (%s)", what, nz(obj), emi_err_name(code));
  }
  if (out[1] != ~out[2])
    return EMI_ERROR(EMI_ERR_ARG,
                     "%s('%s'): ranks passed different arguments (a collective call needs the same "
                     "arguments on every rank)", what, nz(obj));
  return EMI_SUCCESS;
}

/* n bytes as text ("12 KiB"). */
static void fmt_bytes(uint64_t n, char *buf, size_t len)
{
  static const char *const unit[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  double v = (double)n;
  while (v >= 1024 && u < 4) v /= 1024, u++;
  if (u == 0) snprintf(buf, len, "%" PRIu64 " bytes", n);
  else snprintf(buf, len, "%.1f %s", v, unit[u]);
}

/* Why writing f failed, in the operating system's words: the errno or MPI error class of the failed
 * MPI-IO call when they tell (ROMIO and ompio often say only MPI_ERR_IO), else a full disk when the
 * file system has less free space than one MPI-IO collective buffer (16 MiB: a write that size can
 * have failed for want of space), else "an I/O error".  The free space is added when known. */
static void io_reason(const emi_h5_file_t *f, int errnum, int mpi_class, char *buf, size_t len)
{
  int e = 0;
  if (mpi_class == MPI_ERR_NO_SPACE) e = ENOSPC;
  else if (mpi_class == MPI_ERR_QUOTA) e = EDQUOT;
  else if (mpi_class == MPI_ERR_READ_ONLY) e = EROFS;
  else if (errnum == ENOSPC || errnum == EDQUOT || errnum == EIO || errnum == EFBIG || errnum == EROFS ||
           errnum == ENXIO || errnum == ESTALE)
    e = errnum;
  struct statvfs sv;
  char avail[64] = "";
  int known = statvfs(f->part, &sv) == 0;
  uint64_t free_bytes = known ? (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize : 0;
  if (known) fmt_bytes(free_bytes, avail, sizeof avail);
  if (!e && known && free_bytes < (UINT64_C(16) << 20)) e = ENOSPC;
  if (e && known) snprintf(buf, len, "%s (%s free on its file system)", strerror(e), avail);
  else if (e) snprintf(buf, len, "%s", strerror(e));
  else if (known) snprintf(buf, len, "an I/O error the MPI-IO layer did not explain (%s free on its file system)", avail);
  else snprintf(buf, len, "an I/O error the MPI-IO layer did not explain");
}

/* This rank's result of HDF5 calls on f, as the user should read it: after a failed MPI-IO write of
 * the file (emi_h5_mpio.h: HDF5 itself is told that the write succeeded), the result is that I/O
 * error, naming the file and the reason, whatever HDF5 returned. */
static emi_err_t io_verdict(emi_h5_file_t *f, emi_err_t err)
{
  int errnum = 0, mpi_class = MPI_SUCCESS;
  if (err == EMI_ERR_IO || !emi_h5_mpio_failed(f->fh, &errnum, &mpi_class)) return err;
  char why[320], at[300] = "";
  io_reason(f, errnum, mpi_class, why, sizeof why);
  if (last_obj[0] && strcmp(last_obj, f->part) != 0) snprintf(at, sizeof at, " at HDF5 object '%s'", last_obj);
  last_obj[0] = '\0';
  return EMI_ERROR(EMI_ERR_IO, "cannot write %s: %s; the write of %s failed%s, and nothing is written under %s",
                   f->path, why, f->part, at, f->path);
}

/* Collective, at the end of the HDF5 calls of every collective function (and after each H5Dwrite):
 * every rank returns the same code, with the message of the rank that failed first (a failed write
 * before any other failure, and a rank's own failure before one it only heard of from another
 * rank), so that all ranks take the same error path, emi_h5_file_abort, together.  Without it, a
 * rank whose HDF5 call failed leaves while the others go on into the next collective HDF5 call,
 * and the abort hangs. */
static emi_err_t settle(emi_h5_file_t *f, emi_err_t err)
{
  err = io_verdict(f, err);
  const int n = f->nranks;
  /* tiers: 0 a failed write, 1 another failure of this rank, 2 heard from another rank, 3 success */
  int tier = err == EMI_SUCCESS ? 3 : err == EMI_ERR_IO ? 0 : f->secondary ? 2 : 1;
  int key = tier * n + f->rank, first = key;
  f->secondary = 0;
  int rc = MPI_Allreduce(&key, &first, 1, MPI_INT, MPI_MIN, f->comm);
  if (rc != MPI_SUCCESS) return err != EMI_SUCCESS ? err : emi_mpi_raise(rc, "MPI_Allreduce(results)", __FILE__, __LINE__, __func__);
  if (first >= 3 * n) return EMI_SUCCESS;
  const int root = first % n;
  struct {
    int code;
    char msg[1024];
  } m;
  memset(&m, 0, sizeof m);
  if (f->rank == root) {
    m.code = (int)err;
    snprintf(m.msg, sizeof m.msg, "%s", emi_err_message());
  }
  rc = MPI_Bcast(&m, (int)sizeof m, MPI_BYTE, root, f->comm);
  if (rc != MPI_SUCCESS) return err != EMI_SUCCESS ? err : emi_mpi_raise(rc, "MPI_Bcast(results)", __FILE__, __LINE__, __func__);
  if (f->rank == root) return err;
  emi_err_t code = m.code > 0 && m.code < (int)EMI_ERR_COUNT_ ? (emi_err_t)m.code : EMI_ERR_INTERNAL;
  f->secondary = 1;
  return EMI_ERROR(code, "%s (rank %d)", m.msg, root);
}

emi_err_t emi_h5_file_agree(emi_h5_file_t *f, emi_err_t err)
{
  if (!f) return err != EMI_SUCCESS ? err : EMI_ERROR(EMI_ERR_ARG, "emi_h5_file_agree: no open file");
  return settle(f, err);
}

/* ------------------------------------------------------------------ small checks and types */

/* "/a/b": absolute, no empty, "." or ".." components, no trailing slash ("/" itself allowed). */
static int valid_path(const char *p)
{
  if (!p || p[0] != '/') return 0;
  if (p[1] == '\0') return 1;
  const char *s = p + 1;
  for (;;) {
    const char *e = strchr(s, '/');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    if (n == 0) return 0;
    if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) return 0;
    if (!e) return 1;
    s = e + 1;
  }
}

static int valid_name(const char *name)
{
  return name && name[0] && !strchr(name, '/') && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

static hid_t file_type_of(emi_h5_type_t t)
{
  switch (t) {
  case EMI_H5_DOUBLE: return H5T_IEEE_F64LE;
  case EMI_H5_FLOAT: return H5T_IEEE_F32LE;
  case EMI_H5_INT64: return H5T_STD_I64LE;
  case EMI_H5_INT32: return H5T_STD_I32LE;
  case EMI_H5_UINT64: return H5T_STD_U64LE;
  case EMI_H5_UINT32: return H5T_STD_U32LE;
  case EMI_H5_UINT8: return H5T_STD_U8LE;
  default: return H5I_INVALID_HID;
  }
}

static hid_t mem_type_of(emi_h5_type_t t)
{
  switch (t) {
  case EMI_H5_DOUBLE: return H5T_NATIVE_DOUBLE;
  case EMI_H5_FLOAT: return H5T_NATIVE_FLOAT;
  case EMI_H5_INT64: return H5T_NATIVE_INT64;
  case EMI_H5_INT32: return H5T_NATIVE_INT32;
  case EMI_H5_UINT64: return H5T_NATIVE_UINT64;
  case EMI_H5_UINT32: return H5T_NATIVE_UINT32;
  case EMI_H5_UINT8: return H5T_NATIVE_UINT8;
  default: return H5I_INVALID_HID;
  }
}

static size_t size_of(emi_h5_type_t t)
{
  switch (t) {
  case EMI_H5_DOUBLE: return 8;
  case EMI_H5_FLOAT: return 4;
  case EMI_H5_INT64: return 8;
  case EMI_H5_INT32: return 4;
  case EMI_H5_UINT64: return 8;
  case EMI_H5_UINT32: return 4;
  case EMI_H5_UINT8: return 1;
  default: return 0;
  }
}

/* Variable-length UTF-8 string type (attributes); caller closes. */
static hid_t vlstr_type(void)
{
  hid_t t = H5Tcopy(H5T_C_S1);
  if (t < 0) return t;
  if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
    H5Tclose(t);
    return H5I_INVALID_HID;
  }
  return t;
}

/* Fixed-length NUL-terminated UTF-8 string type of `size` bytes; caller closes. */
static hid_t fixstr_type(size_t size)
{
  hid_t t = H5Tcopy(H5T_C_S1);
  if (t < 0) return t;
  if (H5Tset_size(t, size) < 0 || H5Tset_strpad(t, H5T_STR_NULLTERM) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
    H5Tclose(t);
    return H5I_INVALID_HID;
  }
  return t;
}

/* ------------------------------------------------------------------ chunking */

/* Chunk shape for an array of element size elem: trailing dimensions whole unless a row would exceed
 * EMI_H5_CHUNK_MAX_BYTES (then the largest trailing extent is halved until it fits), and as many rows
 * as fit in EMI_H5_CHUNK_TARGET_BYTES, at least 1, at most dims[0].  Returns 0 for an empty array. */
static int chunk_shape(size_t elem, int rank, const uint64_t dims[], hsize_t chunk[])
{
  for (int d = 0; d < rank; d++)
    if (dims[d] == 0) return 0;
  uint64_t row_bytes = elem;
  for (int d = 1; d < rank; d++) {
    chunk[d] = dims[d];
  }
  for (;;) {
    row_bytes = elem;
    int big = -1;
    for (int d = 1; d < rank; d++) {
      /* saturating product: anything above the max just means "too big" */
      row_bytes = (chunk[d] > UINT64_MAX / row_bytes) ? UINT64_MAX : row_bytes * chunk[d];
      if (chunk[d] > 1 && (big < 0 || chunk[d] > chunk[big])) big = d;
    }
    if (row_bytes <= EMI_H5_CHUNK_MAX_BYTES || big < 0) break;
    chunk[big] = (chunk[big] + 1) / 2;
  }
  uint64_t rows = row_bytes >= EMI_H5_CHUNK_TARGET_BYTES ? 1 : EMI_H5_CHUNK_TARGET_BYTES / row_bytes;
  chunk[0] = rows < dims[0] ? rows : dims[0];
  return 1;
}

emi_err_t emi_h5_chunk_rows(emi_h5_type_t type, int rank, const uint64_t dims[], uint64_t *chunk_rows)
{
  hsize_t chunk[EMI_H5_MAX_RANK];
  if (!chunk_rows) return EMI_ERROR(EMI_ERR_ARG, "emi_h5_chunk_rows: chunk_rows is NULL");
  *chunk_rows = 1;
  if (size_of(type) == 0) return EMI_ERROR(EMI_ERR_ARG, "emi_h5_chunk_rows: unknown type %d", (int)type);
  if (rank < 1 || rank > EMI_H5_MAX_RANK || !dims)
    return EMI_ERROR(EMI_ERR_ARG, "emi_h5_chunk_rows: rank = %d, expected 1..%d with dims", rank, EMI_H5_MAX_RANK);
  if (chunk_shape(size_of(type), rank, dims, chunk)) *chunk_rows = chunk[0];
  return EMI_SUCCESS;
}

emi_err_t emi_h5_partition(uint64_t nrows, uint64_t chunk_rows, MPI_Comm comm, uint64_t *row0, uint64_t *nrows_local)
{
  int rank = 0, size = 1, rc;
  if (!row0 || !nrows_local) return EMI_ERROR(EMI_ERR_ARG, "emi_h5_partition: NULL output");
  *row0 = 0;
  *nrows_local = 0;
  if (chunk_rows == 0) return EMI_ERROR(EMI_ERR_ARG, "emi_h5_partition: chunk_rows = 0, expected >= 1");
  if ((rc = MPI_Comm_rank(comm, &rank)) != MPI_SUCCESS || (rc = MPI_Comm_size(comm, &size)) != MPI_SUCCESS)
    return emi_mpi_raise(rc, "MPI_Comm_rank/size", __FILE__, __LINE__, __func__);
  uint64_t nchunks = nrows / chunk_rows + (nrows % chunk_rows != 0);
  /* chunks [c0, c1) of this rank: floor(nchunks * r / size), in 128-bit-safe form */
  uint64_t q = nchunks / (uint64_t)size, r = nchunks % (uint64_t)size;
  uint64_t c0 = q * (uint64_t)rank + r * (uint64_t)rank / (uint64_t)size;
  uint64_t c1 = q * (uint64_t)(rank + 1) + r * (uint64_t)(rank + 1) / (uint64_t)size;
  uint64_t a = c0 * chunk_rows, b = c1 * chunk_rows;
  if (a > nrows) a = nrows;
  if (b > nrows) b = nrows;
  *row0 = a;
  *nrows_local = b - a;
  return EMI_SUCCESS;
}

/* ------------------------------------------------------------------ file lifecycle */

static void file_free(emi_h5_file_t *f)
{
  if (!f) return;
  if (f->comm != MPI_COMM_NULL) MPI_Comm_free(&f->comm);
  free(f->path);
  emi_part_unregister(f->part);
  free(f->part);
  free(f);
}

/* Close the HDF5 handles of f; returns the first failure (local), a write of the file that failed
 * on this rank included (emi_h5_mpio.h).  The MPI-IO handle stays watched when H5Fclose fails, its
 * writes dropped: HDF5's shutdown will close the file again. */
static emi_err_t file_close_handles(emi_h5_file_t *f, int report_io)
{
  emi_err_t err = EMI_SUCCESS;
  H5_CLOSE(H5Pclose, f->dxpl);
  if (f->fid >= 0) {
    hid_t fid = f->fid;
    f->fid = H5I_INVALID_HID;
    if (H5Fclose(fid) < 0) {
      err = h5_fail_at("H5Fclose", f->part, __FILE__, __LINE__, __func__);
      if (report_io) err = io_verdict(f, err);
      emi_h5_mpio_discard(f->fh);
      f->fh = MPI_FILE_NULL;
      return err;
    }
  }
  if (report_io) err = io_verdict(f, EMI_SUCCESS);
  emi_h5_mpio_unwatch(f->fh);
  f->fh = MPI_FILE_NULL;
  return err;
}

/* Why a file cannot be created at `path`, in the operating system's words, from its directory:
 * missing, not a directory, not writable.  Returns 0 when the directory looks fine. */
static int dir_problem(const char *path, char *buf, size_t len)
{
  char dir[4096];
  struct stat st;
  const char *slash = strrchr(path, '/');
  if (!slash) snprintf(dir, sizeof dir, ".");
  else if (slash == path) snprintf(dir, sizeof dir, "/");
  else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
  if (stat(dir, &st) != 0) snprintf(buf, len, "directory %s: %s", dir, strerror(errno));
  else if (!S_ISDIR(st.st_mode)) snprintf(buf, len, "%s is not a directory", dir);
  else if (access(dir, W_OK | X_OK) != 0) snprintf(buf, len, "directory %s: %s", dir, strerror(errno));
  else return 0;
  return 1;
}

emi_err_t emi_h5_file_create(MPI_Comm comm, const char *path, emi_h5_file_t **out)
{
  emi_err_t err = EMI_SUCCESS, local = EMI_SUCCESS;
  emi_h5_file_t *f = NULL;
  hid_t fapl = H5I_INVALID_HID, fcpl = H5I_INVALID_HID;
  int flag = 0;

  if (!out) return EMI_ERROR(EMI_ERR_ARG, "emi_h5_file_create: f is NULL");
  *out = NULL;
  if (MPI_Initialized(&flag) != MPI_SUCCESS || !flag)
    return EMI_ERROR(EMI_ERR_ARG, "emi_h5_file_create: MPI is not initialised");
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* HDF5 never prints; errors come back through H5_TRY */

  EMI_CALLOC(f, 1, "HDF5 file object");
  f->comm = MPI_COMM_NULL;
  f->fid = H5I_INVALID_HID;
  f->dxpl = H5I_INVALID_HID;
  f->fh = MPI_FILE_NULL;
  f->deflate = EMI_H5_DEFLATE_LEVEL;
  EMI_MPI_TRY(MPI_Comm_dup(comm, &f->comm));
  EMI_MPI_TRY(MPI_Comm_set_errhandler(f->comm, MPI_ERRORS_RETURN));
  EMI_MPI_TRY(MPI_Comm_rank(f->comm, &f->rank));
  EMI_MPI_TRY(MPI_Comm_size(f->comm, &f->nranks));

  if (!path || !path[0]) {
    local = EMI_ERROR(EMI_ERR_ARG, "emi_h5_file_create: output path is empty");
  } else {
    size_t n = strlen(path);
    f->path = malloc(n + 1);
    f->part = malloc(n + sizeof ".part");
    if (!f->path || !f->part) {
      local = EMI_ERROR(EMI_ERR_NOMEM, "cannot allocate %zu bytes for the output path", 2 * n + 7);
    } else {
      memcpy(f->path, path, n + 1);
      memcpy(f->part, path, n);
      memcpy(f->part + n, ".part", sizeof ".part");
      /* the final rename must never replace a device, a pipe or a directory */
      struct stat st;
      if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
        local = EMI_ERROR(EMI_ERR_IO, "cannot create %s: it exists and is not a regular file", path);
    }
  }
  EMI_TRY(agree(f, local, sig_str(SIG_INIT, path), "emi_h5_file_create", path));

  H5_TRY(fapl = H5Pcreate(H5P_FILE_ACCESS), f->part);
  H5_TRY(H5Pset_fapl_mpio(fapl, f->comm, MPI_INFO_NULL), f->part);
  /* Pin the file format (1.8): bytes do not change with the library's defaults or version. */
  H5_TRY(H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18), f->part);
  H5_TRY(H5Pset_all_coll_metadata_ops(fapl, 1), f->part);
  H5_TRY(H5Pset_coll_metadata_write(fapl, 1), f->part);
  /* The file creation list is also the root group's creation list: no time stamps on "/". */
  H5_TRY(fcpl = H5Pcreate(H5P_FILE_CREATE), f->part);
  H5_TRY(H5Pset_obj_track_times(fcpl, 0), f->part);
  if (f->rank == 0) emi_part_register(f->part); /* before it exists: no instant where a signal leaves it */
  if ((f->fid = H5Fcreate(f->part, H5F_ACC_TRUNC, fcpl, fapl)) < 0) {
    char why[4200];
    err = h5_fail_at("H5Fcreate", f->part, __FILE__, __LINE__, __func__);
    if (dir_problem(f->part, why, sizeof why)) err = EMI_ERROR(EMI_ERR_IO, "cannot create %s: %s", f->part, why);
    goto cleanup;
  }
  {
    void *vfd = NULL; /* the mpio driver's handle: a pointer to its MPI_File */
    H5_TRY(H5Fget_vfd_handle(f->fid, fapl, &vfd), f->part);
    f->fh = *(MPI_File *)vfd;
    if (emi_h5_mpio_watch(f->fh, f->comm) != 0) {
      f->fh = MPI_FILE_NULL;
      EMI_FAIL(EMI_ERR_INTERNAL, "cannot create %s: more than %d HDF5 output files open at once", f->part,
               EMI_H5_MPIO_MAX_WATCH);
    }
  }
  H5_TRY(f->dxpl = H5Pcreate(H5P_DATASET_XFER), f->part);
  H5_TRY(H5Pset_dxpl_mpio(f->dxpl, H5FD_MPIO_COLLECTIVE), f->part);

cleanup:
  H5_CLOSE(H5Pclose, fapl);
  H5_CLOSE(H5Pclose, fcpl);
  if (f && f->comm != MPI_COMM_NULL) err = settle(f, err); /* every rank keeps or removes the file */
  if (err != EMI_SUCCESS && f) {
    int created = f->fid >= 0;
    if (created) emi_h5_mpio_discard(f->fh);
    file_close_handles(f, 0);
    if (created && f->rank == 0) unlink(f->part);
    file_free(f);
    f = NULL;
  }
  *out = f;
  return err;
}

emi_err_t emi_h5_file_set_deflate(emi_h5_file_t *f, int level)
{
  if (!f) return EMI_ERROR(EMI_ERR_ARG, "emi_h5_file_set_deflate: no open file");
  if (level < 0 || level > 9) return EMI_ERROR(EMI_ERR_ARG, "emi_h5_file_set_deflate: level %d, expected 0..9", level);
  f->deflate = level;
  return EMI_SUCCESS;
}

const char *emi_h5_file_path(const emi_h5_file_t *f) { return f ? f->path : NULL; }
const char *emi_h5_file_part_path(const emi_h5_file_t *f) { return f ? f->part : NULL; }
MPI_Comm emi_h5_file_comm(const emi_h5_file_t *f) { return f ? f->comm : MPI_COMM_NULL; }

_Static_assert(sizeof(hid_t) == sizeof(int64_t), "emi_h5_file_id returns an hid_t as int64_t");
int64_t emi_h5_file_id(const emi_h5_file_t *f) { return f ? (int64_t)f->fid : (int64_t)H5I_INVALID_HID; }

static herr_t verify_visit(hid_t obj, const char *name, const H5O_info_t *info, void *data)
{
  (void)obj, (void)name, (void)info, (void)data;
  return 0;
}

/* 1 if the closed file at `path` cannot be opened and walked serially. */
static int verify_file(const char *path)
{
  int bad = 1;
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl < 0) return 1;
  H5Pset_fapl_sec2(fapl);
  hid_t fid = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  if (fid >= 0) {
    bad = H5Ovisit(fid, H5_INDEX_NAME, H5_ITER_NATIVE, verify_visit, NULL) < 0;
    if (H5Fclose(fid) < 0) bad = 1;
  }
  H5Pclose(fapl);
  H5Eclear2(H5E_DEFAULT);
  return bad;
}

/* Collective: close f without writing anything more, and rank 0 removes the .part file.  From here on
 * the file's MPI-IO writes are dropped (emi_h5_mpio_discard on every rank before any rank closes), so
 * H5Fclose cannot fail on a full disk and leave HDF5 1.10 with a freed file under a live identifier
 * (a SIGSEGV at MPI_Finalize), nor block in a write the other ranks do not make.  Returns the
 * first error met. */
static emi_err_t file_abandon(emi_h5_file_t *f)
{
  emi_err_t err;
  emi_h5_mpio_discard(f->fh);
  err = file_close_handles(f, 0); /* the caller has the error that led here */
  /* Every rank has closed before rank 0 removes the file. */
  int rc = MPI_Barrier(f->comm);
  if (rc != MPI_SUCCESS && err == EMI_SUCCESS) err = emi_mpi_raise(rc, "MPI_Barrier", __FILE__, __LINE__, __func__);
  int errnum = 0;
  if (f->rank == 0 && unlink(f->part) != 0 && errno != ENOENT) errnum = errno;
  rc = MPI_Bcast(&errnum, 1, MPI_INT, 0, f->comm);
  if (rc != MPI_SUCCESS && err == EMI_SUCCESS) err = emi_mpi_raise(rc, "MPI_Bcast", __FILE__, __LINE__, __func__);
  if (errnum != 0 && err == EMI_SUCCESS)
    err = EMI_ERROR(EMI_ERR_IO, "cannot remove the partial file %s: %s", f->part, strerror(errnum));
  return err;
}

emi_err_t emi_h5_file_commit(emi_h5_file_t **pf)
{
  emi_err_t err = EMI_SUCCESS, local = EMI_SUCCESS;
  if (!pf || !*pf) return EMI_ERROR(EMI_ERR_ARG, "emi_h5_file_commit: no open file");
  emi_h5_file_t *f = *pf;
  *pf = NULL;

  /* A write that failed during the close (the last metadata, on a full disk) does not make H5Fclose
   * fail (emi_h5_mpio.h): file_close_handles reports it, and no rank renames the file. */
  err = settle(f, file_close_handles(f, 1));
  if (err != EMI_SUCCESS) {
    if (f->rank == 0) unlink(f->part);
    goto cleanup;
  }

  /* Verify before the rename: MPI-IO can lose a write error (a full disk seen by one aggregator
   * rank), leaving a truncated file behind a successful close.  Rank 0 reopens the file serially;
   * HDF5 checks the stored end of file against the real size and the metadata checksums, and
   * visiting every object reads all of the metadata. */
  int errnum = 0, bad = 0;
  if (f->rank == 0) bad = verify_file(f->part);
  if (bad) {
    char why[320];
    io_reason(f, 0, MPI_SUCCESS, why, sizeof why); /* before the unlink gives the space back */
    local = EMI_ERROR(EMI_ERR_IO, "cannot write %s: %s; the file is incomplete after closing (a write error the "
                      "MPI-IO layer did not report); nothing was written under %s", f->path, why, f->path);
    unlink(f->part);
  }
  EMI_TRY(settle(f, local));
  if (f->rank == 0 && rename(f->part, f->path) != 0) {
    errnum = errno;
    unlink(f->part);
  }
  EMI_MPI_TRY(MPI_Bcast(&errnum, 1, MPI_INT, 0, f->comm));
  if (errnum != 0)
    EMI_FAIL(EMI_ERR_IO, "cannot rename %s to %s: %s", f->part, f->path, strerror(errnum));

cleanup:
  file_free(f);
  return err;
}

emi_err_t emi_h5_file_abort(emi_h5_file_t **pf)
{
  if (!pf || !*pf) return EMI_SUCCESS;
  emi_h5_file_t *f = *pf;
  *pf = NULL;
  emi_err_t err = file_abandon(f);
  file_free(f);
  return err;
}

/* ------------------------------------------------------------------ groups */

/* Create the groups along `path` (all of it, or all but the last component when parents_only). */
static emi_err_t ensure_groups(emi_h5_file_t *f, const char *path, int parents_only)
{
  emi_err_t err = EMI_SUCCESS;
  hid_t gcpl = H5I_INVALID_HID, oid = H5I_INVALID_HID;
  char *buf = NULL;
  size_t n = strlen(path);

  EMI_MALLOC(buf, n + 1, "group path");
  memcpy(buf, path, n + 1);
  H5_TRY(gcpl = H5Pcreate(H5P_GROUP_CREATE), path);
  H5_TRY(H5Pset_obj_track_times(gcpl, 0), path);
  for (size_t i = 1; i <= n; i++) {
    if (buf[i] != '/' && buf[i] != '\0') continue;
    if (parents_only && buf[i] == '\0') break;
    char saved = buf[i];
    buf[i] = '\0';
    htri_t exists;
    H5_TRY(exists = H5Lexists(f->fid, buf, H5P_DEFAULT), buf);
    if (exists) {
      H5_TRY(oid = H5Oopen(f->fid, buf, H5P_DEFAULT), buf);
      if (H5Iget_type(oid) != H5I_GROUP)
        EMI_FAIL(EMI_ERR_ARG, "'%s' exists in '%s' and is not a group (needed for '%s')", buf, f->part, path);
      H5_CLOSE(H5Oclose, oid);
    } else {
      H5_TRY(oid = H5Gcreate2(f->fid, buf, H5P_DEFAULT, gcpl, H5P_DEFAULT), buf);
      H5_CLOSE(H5Gclose, oid);
    }
    buf[i] = saved;
  }
cleanup:
  H5_CLOSE(H5Oclose, oid);
  H5_CLOSE(H5Pclose, gcpl);
  free(buf);
  return err;
}

emi_err_t emi_h5_group_ensure(emi_h5_file_t *f, const char *path)
{
  emi_err_t err = EMI_SUCCESS, local = EMI_SUCCESS;
  if (!f) return EMI_ERROR(EMI_ERR_ARG, "emi_h5_group_ensure: no open file");
  if (!valid_path(path))
    local = EMI_ERROR(EMI_ERR_ARG, "group path '%s' is not absolute /a/b (no empty, '.' or '..' parts)", nz(path));
  EMI_TRY(agree(f, local, sig_str(SIG_INIT, path), "emi_h5_group_ensure", path));
  err = ensure_groups(f, path, 0);
cleanup:
  return settle(f, err);
}

/* ------------------------------------------------------------------ attributes */

/* Write (replace) attribute `name` on the open object `obj`. */
static emi_err_t attr_write_id(hid_t obj, const char *obj_path, const char *name, hid_t ftype, hid_t mtype,
                               hid_t space, const void *buf)
{
  emi_err_t err = EMI_SUCCESS;
  hid_t aid = H5I_INVALID_HID;
  htri_t exists;
  H5_TRY(exists = H5Aexists(obj, name), obj_path);
  if (exists) H5_TRY(H5Adelete(obj, name), obj_path);
  H5_TRY(aid = H5Acreate2(obj, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT), obj_path);
  H5_TRY(H5Awrite(aid, mtype, buf), obj_path);
cleanup:
  H5_CLOSE(H5Aclose, aid);
  return err;
}

static emi_err_t attr_str_id(hid_t obj, const char *obj_path, const char *name, const char *value)
{
  emi_err_t err = EMI_SUCCESS;
  hid_t t = H5I_INVALID_HID, s = H5I_INVALID_HID;
  H5_TRY(t = vlstr_type(), obj_path);
  H5_TRY(s = H5Screate(H5S_SCALAR), obj_path);
  EMI_TRY(attr_write_id(obj, obj_path, name, t, t, s, &value));
cleanup:
  H5_CLOSE(H5Sclose, s);
  H5_CLOSE(H5Tclose, t);
  return err;
}

/* Collective attribute on the object at obj_path: validation, agreement, write. */
static emi_err_t attr_collective(emi_h5_file_t *f, const char *what, const char *obj_path, const char *name,
                                 hid_t ftype, hid_t mtype, hid_t space, const void *buf, emi_err_t local,
                                 uint64_t sig)
{
  emi_err_t err = EMI_SUCCESS;
  hid_t oid = H5I_INVALID_HID;
  if (!f) return EMI_ERROR(EMI_ERR_ARG, "%s: no open file", what);
  if (local == EMI_SUCCESS && !valid_path(obj_path))
    local = EMI_ERROR(EMI_ERR_ARG, "%s: object path '%s' is not absolute /a/b", what, nz(obj_path));
  if (local == EMI_SUCCESS && !(name && name[0]))
    local = EMI_ERROR(EMI_ERR_ARG, "%s: attribute name on '%s' is empty", what, nz(obj_path));
  sig = sig_str(sig_str(sig_str(sig, what), obj_path), name);
  EMI_TRY(agree(f, local, sig, what, obj_path));
  H5_TRY(oid = H5Oopen(f->fid, obj_path, H5P_DEFAULT), obj_path);
  EMI_TRY(attr_write_id(oid, obj_path, name, ftype, mtype, space, buf));
cleanup:
  H5_CLOSE(H5Oclose, oid);
  return settle(f, err);
}

emi_err_t emi_h5_attr_str(emi_h5_file_t *f, const char *obj_path, const char *name, const char *value)
{
  emi_err_t err = EMI_SUCCESS, local = EMI_SUCCESS;
  hid_t t = H5I_INVALID_HID, s = H5I_INVALID_HID;
  if (!value) local = EMI_ERROR(EMI_ERR_ARG, "emi_h5_attr_str: value of '%s' on '%s' is NULL", nz(name), nz(obj_path));
  /* a failure here still goes through attr_collective's agreement, which every rank must reach */
  if ((t = vlstr_type()) < 0 && local == EMI_SUCCESS) local = h5_fail_at("vlstr_type()", obj_path, __FILE__, __LINE__, __func__);
  if ((s = H5Screate(H5S_SCALAR)) < 0 && local == EMI_SUCCESS)
    local = h5_fail_at("H5Screate", obj_path, __FILE__, __LINE__, __func__);
  EMI_TRY(attr_collective(f, "emi_h5_attr_str", obj_path, name, t, t, s, &value, local, sig_str(SIG_INIT, value)));
cleanup:
  H5_CLOSE(H5Sclose, s);
  H5_CLOSE(H5Tclose, t);
  return err;
}

static emi_err_t attr_scalar(emi_h5_file_t *f, const char *what, const char *obj_path, const char *name,
                             hid_t ftype, hid_t mtype, const void *value, size_t size)
{
  emi_err_t err = EMI_SUCCESS;
  hid_t s = H5I_INVALID_HID;
  emi_err_t local = EMI_SUCCESS;
  if ((s = H5Screate(H5S_SCALAR)) < 0) local = h5_fail_at("H5Screate", obj_path, __FILE__, __LINE__, __func__);
  EMI_TRY(attr_collective(f, what, obj_path, name, ftype, mtype, s, value, local, sig_bytes(SIG_INIT, value, size)));
cleanup:
  H5_CLOSE(H5Sclose, s);
  return err;
}

emi_err_t emi_h5_attr_int(emi_h5_file_t *f, const char *obj_path, const char *name, int64_t value)
{
  return attr_scalar(f, "emi_h5_attr_int", obj_path, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value, sizeof value);
}

emi_err_t emi_h5_attr_uint(emi_h5_file_t *f, const char *obj_path, const char *name, uint64_t value)
{
  return attr_scalar(f, "emi_h5_attr_uint", obj_path, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &value, sizeof value);
}

emi_err_t emi_h5_attr_double(emi_h5_file_t *f, const char *obj_path, const char *name, double value)
{
  return attr_scalar(f, "emi_h5_attr_double", obj_path, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value,
                     sizeof value);
}

emi_err_t emi_h5_attr_str_array(emi_h5_file_t *f, const char *obj_path, const char *name, uint64_t n,
                                const char *const values[])
{
  emi_err_t err = EMI_SUCCESS, local = EMI_SUCCESS;
  hid_t t = H5I_INVALID_HID, s = H5I_INVALID_HID;
  uint64_t sig = sig_u64(SIG_INIT, n);
  if (n == 0 || !values) {
    local = EMI_ERROR(EMI_ERR_ARG, "emi_h5_attr_str_array: '%s' on '%s' needs n >= 1 values", nz(name), nz(obj_path));
  } else {
    for (uint64_t i = 0; i < n; i++) {
      if (!values[i]) {
        local = EMI_ERROR(EMI_ERR_ARG, "emi_h5_attr_str_array: value %" PRIu64 " of '%s' is NULL", i, nz(name));
        break;
      }
      sig = sig_str(sig, values[i]);
    }
  }
  hsize_t dim = n ? (hsize_t)n : 1;
  if ((t = vlstr_type()) < 0 && local == EMI_SUCCESS) local = h5_fail_at("vlstr_type()", obj_path, __FILE__, __LINE__, __func__);
  if ((s = H5Screate_simple(1, &dim, NULL)) < 0 && local == EMI_SUCCESS)
    local = h5_fail_at("H5Screate_simple", obj_path, __FILE__, __LINE__, __func__);
  EMI_TRY(attr_collective(f, "emi_h5_attr_str_array", obj_path, name, t, t, s, values, local, sig));
cleanup:
  H5_CLOSE(H5Sclose, s);
  H5_CLOSE(H5Tclose, t);
  return err;
}

/* ------------------------------------------------------------------ datasets */

/* Collective checks before any dataset is created: every rank valid (local), same arguments (sig),
 * and the slabs [row0, row0 + nrows) of all ranks tile [0, dims0) exactly. */
static emi_err_t check_collective(emi_h5_file_t *f, const char *what, const char *path, emi_err_t local,
                                  uint64_t sig, uint64_t dims0, uint64_t row0, uint64_t nrows)
{
  emi_err_t err = EMI_SUCCESS;
  uint64_t *all = NULL;
  int *order = NULL;
  int n = f->nranks;

  if (local == EMI_SUCCESS) {
    all = malloc(2 * (size_t)n * sizeof *all);
    order = malloc((size_t)n * sizeof *order);
    if (!all || !order) local = EMI_ERROR(EMI_ERR_NOMEM, "cannot allocate the slab table of %d ranks", n);
  }
  EMI_TRY(agree(f, local, sig, what, path));
  uint64_t mine[2] = {row0, nrows};
  EMI_MPI_TRY(MPI_Allgather(mine, 2, MPI_UINT64_T, all, 2, MPI_UINT64_T, f->comm));

  /* Same data on every rank, so every rank reaches the same verdict. */
  int m = 0;
  for (int r = 0; r < n; r++) {
    uint64_t a = all[2 * r], c = all[2 * r + 1];
    if (c == 0) continue;
    if (a > dims0 || c > dims0 - a)
      EMI_FAIL(EMI_ERR_ARG, "%s('%s'): rank %d writes rows [%" PRIu64 ", %" PRIu64 "+%" PRIu64
               "), beyond the %" PRIu64 " rows of dimension 0", what, path, r, a, a, c, dims0);
    /* insertion sort by row0 (rank counts are small next to the data) */
    int k = m++;
    while (k > 0 && all[2 * order[k - 1]] > a) {
      order[k] = order[k - 1];
      k--;
    }
    order[k] = r;
  }
  uint64_t next = 0;
  for (int k = 0; k < m; k++) {
    int r = order[k];
    uint64_t a = all[2 * r], c = all[2 * r + 1];
    if (a > next)
      EMI_FAIL(EMI_ERR_ARG, "%s('%s'): rows [%" PRIu64 ", %" PRIu64 ") are written by no rank", what, path, next, a);
    if (a < next)
      EMI_FAIL(EMI_ERR_ARG, "%s('%s'): rank %d writes rows from %" PRIu64 " but rows up to %" PRIu64
               " are already written by rank %d", what, path, r, a, next, order[k - 1]);
    next = a + c;
  }
  if (next != dims0)
    EMI_FAIL(EMI_ERR_ARG, "%s('%s'): rows [%" PRIu64 ", %" PRIu64 ") are written by no rank", what, path, next, dims0);
cleanup:
  free(all);
  free(order);
  return err;
}

/* Create the dataset `path` (parents created) and write this rank's slab collectively.  Returns the
 * open dataset in *did_out (caller closes). */
static emi_err_t create_and_write(emi_h5_file_t *f, const char *path, hid_t ftype, hid_t mtype, size_t elem,
                                  int rank, const uint64_t dims[], uint64_t row0, uint64_t nrows,
                                  const void *data, hid_t *did_out)
{
  emi_err_t err = EMI_SUCCESS;
  hid_t dcpl = H5I_INVALID_HID, fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID, did = H5I_INVALID_HID;
  hsize_t hdims[EMI_H5_MAX_RANK], chunk[EMI_H5_MAX_RANK], start[EMI_H5_MAX_RANK], count[EMI_H5_MAX_RANK];
  static const unsigned char no_data = 0;

  *did_out = H5I_INVALID_HID;
  for (int d = 0; d < rank; d++) hdims[d] = dims[d];
  EMI_TRY(ensure_groups(f, path, 1));

  H5_TRY(dcpl = H5Pcreate(H5P_DATASET_CREATE), path);
  H5_TRY(H5Pset_obj_track_times(dcpl, 0), path);
  int chunked = chunk_shape(elem, rank, dims, chunk);
  if (chunked) {
    H5_TRY(H5Pset_chunk(dcpl, rank, chunk), path);
    if (f->deflate > 0) {
      H5_TRY(H5Pset_shuffle(dcpl), path);
      H5_TRY(H5Pset_deflate(dcpl, (unsigned)f->deflate), path);
    }
    /* Parallel HDF5 allocates a dataset's space when it is created, whatever is asked: say so.
     * Every element is written (the slabs tile the dataset), so fill values are never written:
     * each chunk is written once, compressed. */
    H5_TRY(H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY), path);
    H5_TRY(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER), path);
  } else {
    H5_TRY(H5Pset_layout(dcpl, H5D_CONTIGUOUS), path);
  }
  H5_TRY(fspace = H5Screate_simple(rank, hdims, NULL), path);
  H5_TRY(did = H5Dcreate2(f->fid, path, ftype, fspace, H5P_DEFAULT, dcpl, H5P_DEFAULT), path);

  if (chunked) { /* a non-empty dataset: every rank takes part in the collective write */
    for (int d = 0; d < rank; d++) {
      start[d] = 0;
      count[d] = hdims[d];
    }
    if (nrows > 0) {
      start[0] = row0;
      count[0] = nrows;
      H5_TRY(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL), path);
      H5_TRY(mspace = H5Screate_simple(rank, count, NULL), path);
    } else {
      count[0] = 1;
      H5_TRY(H5Sselect_none(fspace), path);
      H5_TRY(mspace = H5Screate_simple(rank, count, NULL), path);
      H5_TRY(H5Sselect_none(mspace), path);
    }
    H5_TRY(H5Dwrite(did, mtype, mspace, fspace, f->dxpl, nrows > 0 ? data : (const void *)&no_data), path);
    uint32_t local_cause = 0, global_cause = 0;
    H5_TRY(H5Pget_mpio_no_collective_cause(f->dxpl, &local_cause, &global_cause), path);
    if (global_cause != H5D_MPIO_COLLECTIVE)
      EMI_FAIL(EMI_ERR_HDF5, "HDF5 object '%s': the write was not collective (H5D_mpio_no_collective_cause_t "
               "0x%x); emflow requires collective writes", path, (unsigned)global_cause);
  }
  *did_out = did;
  did = H5I_INVALID_HID;
cleanup:
  err = settle(f, err); /* before anything else touches the file: the write may have failed on some ranks only */
  H5_CLOSE(H5Dclose, did);
  H5_CLOSE(H5Sclose, mspace);
  H5_CLOSE(H5Sclose, fspace);
  H5_CLOSE(H5Pclose, dcpl);
  return err;
}

/* units (NULL: "" for string data) and long_name on an open dataset. */
static emi_err_t label_dataset(hid_t did, const char *path, const char *units, const char *long_name)
{
  EMI_CALL(attr_str_id(did, path, "units", units ? units : ""));
  EMI_CALL(attr_str_id(did, path, "long_name", long_name));
  return EMI_SUCCESS;
}

/* 1 when the dimension scale at scale_path lives in the group of the array at array_path.  The
 * netCDF-4 data model would also find a dimension in an ancestor group, but xarray's open_dataset
 * (group=G) then labels the axis by name only, without the coordinate's values: every group that
 * holds arrays carries its own copies of the coordinates they use. */
static int scale_visible(const char *array_path, const char *scale_path)
{
  const char *a = strrchr(array_path, '/'), *s = strrchr(scale_path, '/');
  size_t alen = (size_t)(a - array_path), slen = (size_t)(s - scale_path); /* the groups, without the last '/' */
  return alen == slen && strncmp(array_path, scale_path, slen) == 0;
}

/* Checks that `scale` is a dimension scale of length n before it is attached. */
static emi_err_t check_scale(emi_h5_file_t *f, const char *array, int d, const char *scale, uint64_t n)
{
  emi_err_t err = EMI_SUCCESS;
  hid_t sid = H5I_INVALID_HID, space = H5I_INVALID_HID;
  htri_t exists, is_scale;
  H5_TRY(exists = H5Lexists(f->fid, scale, H5P_DEFAULT), scale);
  if (!exists)
    EMI_FAIL(EMI_ERR_ARG, "dimension scale '%s' for dimension %d of '%s' does not exist", scale, d, array);
  H5_TRY(sid = H5Dopen2(f->fid, scale, H5P_DEFAULT), scale);
  H5_TRY(is_scale = H5DSis_scale(sid), scale);
  if (!is_scale) EMI_FAIL(EMI_ERR_ARG, "'%s' is not a dimension scale (write it with emi_h5_write_scale_*)", scale);
  H5_TRY(space = H5Dget_space(sid), scale);
  hsize_t len = 0;
  int r;
  H5_TRY(r = H5Sget_simple_extent_ndims(space), scale);
  if (r == 1) H5_TRY(H5Sget_simple_extent_dims(space, &len, NULL), scale);
  if (r != 1 || len != n)
    EMI_FAIL(EMI_ERR_ARG, "dimension scale '%s' has %d dimension(s) and %llu values, but dimension %d of '%s' "
             "has %" PRIu64, scale, r, (unsigned long long)len, d, array, n);
cleanup:
  H5_CLOSE(H5Sclose, space);
  H5_CLOSE(H5Dclose, sid);
  return err;
}

emi_err_t emi_h5_write_array(emi_h5_file_t *f, const char *path, emi_h5_type_t type, int rank,
                             const uint64_t dims[], const char *const scale_paths[], uint64_t row0,
                             uint64_t nrows_local, const void *data, const char *units, const char *long_name)
{
  static const char what[] = "emi_h5_write_array";
  emi_err_t err = EMI_SUCCESS, local = EMI_SUCCESS;
  hid_t did = H5I_INVALID_HID, sid = H5I_INVALID_HID;
  uint64_t sig = sig_str(SIG_INIT, what);

  if (!f) return EMI_ERROR(EMI_ERR_ARG, "%s: no open file", what);
  if (!valid_path(path) || strcmp(path, "/") == 0)
    local = EMI_ERROR(EMI_ERR_ARG, "%s: dataset path '%s' is not absolute /a/b", what, nz(path));
  else if (size_of(type) == 0)
    local = EMI_ERROR(EMI_ERR_ARG, "%s('%s'): unknown element type %d", what, path, (int)type);
  else if (rank < 1 || rank > EMI_H5_MAX_RANK || !dims)
    local = EMI_ERROR(EMI_ERR_ARG, "%s('%s'): rank = %d, expected 1..%d with dims", what, path, rank, EMI_H5_MAX_RANK);
  else if (!units || !long_name || !long_name[0])
    local = EMI_ERROR(EMI_ERR_ARG, "%s('%s'): units and a non-empty long_name are required", what, path);
  if (local == EMI_SUCCESS) {
    uint64_t row_elems = 1;
    for (int d = 1; d < rank; d++) row_elems *= dims[d];
    if (nrows_local > 0 && row_elems > 0 && !data)
      local = EMI_ERROR(EMI_ERR_ARG, "%s('%s'): data is NULL for %" PRIu64 " local rows", what, path, nrows_local);
    for (int d = 0; d < rank && scale_paths && local == EMI_SUCCESS; d++)
      if (!scale_paths[d])
        local = EMI_ERROR(EMI_ERR_ARG, "%s('%s'): dimension %d has no scale while others have one: label every "
                          "dimension or none (netCDF readers such as xarray reject partly labelled arrays)", what, path, d);
      else if (!valid_path(scale_paths[d]))
        local = EMI_ERROR(EMI_ERR_ARG, "%s('%s'): scale path '%s' of dimension %d is not absolute", what, path,
                          scale_paths[d], d);
      else if (!scale_visible(path, scale_paths[d]))
        local = EMI_ERROR(EMI_ERR_ARG, "%s('%s'): scale '%s' of dimension %d is not in the array's group (xarray "
                          "labels a group's arrays from that group's coordinates only: write a copy there)", what, path,
                          scale_paths[d], d);
  }
  if (local == EMI_SUCCESS) {
    sig = sig_u64(sig_u64(sig_str(sig, path), (uint64_t)type), (uint64_t)rank);
    for (int d = 0; d < rank; d++) sig = sig_u64(sig, dims[d]);
    for (int d = 0; d < rank; d++) sig = sig_str(sig, scale_paths ? scale_paths[d] : NULL);
    sig = sig_str(sig_str(sig, units), long_name);
  }
  EMI_TRY(check_collective(f, what, path, local, sig, local == EMI_SUCCESS ? dims[0] : 0, row0, nrows_local));

  for (int d = 0; d < rank && scale_paths; d++)
    if (scale_paths[d]) EMI_TRY(check_scale(f, path, d, scale_paths[d], dims[d]));
  EMI_TRY(create_and_write(f, path, file_type_of(type), mem_type_of(type), size_of(type), rank, dims, row0,
                           nrows_local, data, &did));
  for (int d = 0; d < rank && scale_paths; d++) {
    if (!scale_paths[d]) continue;
    H5_TRY(sid = H5Dopen2(f->fid, scale_paths[d], H5P_DEFAULT), scale_paths[d]);
    H5_TRY(H5DSattach_scale(did, sid, (unsigned)d), path);
    H5_CLOSE(H5Dclose, sid);
  }
  EMI_TRY(label_dataset(did, path, units, long_name));
cleanup:
  H5_CLOSE(H5Dclose, sid);
  H5_CLOSE(H5Dclose, did);
  return settle(f, err);
}

/* ------------------------------------------------------------------ dimension scales */

/* group + "/" + name, into a new string. */
static emi_err_t join_path(const char *group, const char *name, char **out)
{
  emi_err_t err = EMI_SUCCESS;
  size_t g = strlen(group), n = strlen(name);
  int root = (g == 1);
  char *p = NULL;
  EMI_MALLOC(p, g + n + 2, "dataset path");
  memcpy(p, group, g);
  size_t k = g;
  if (!root) p[k++] = '/';
  memcpy(p + k, name, n + 1);
cleanup:
  *out = p;
  return err;
}

static emi_err_t write_scale(emi_h5_file_t *f, const char *what, const char *group, const char *name, uint64_t n,
                             hid_t ftype, hid_t mtype, size_t elem, const void *values, emi_err_t local,
                             uint64_t sig, const char *units, const char *long_name)
{
  emi_err_t err = EMI_SUCCESS;
  hid_t did = H5I_INVALID_HID;
  char *path = NULL;

  if (!f) return EMI_ERROR(EMI_ERR_ARG, "%s: no open file", what);
  if (local == EMI_SUCCESS && (!valid_path(group) || !valid_name(name)))
    local = EMI_ERROR(EMI_ERR_ARG, "%s: group '%s' must be an absolute path and name '%s' a plain name", what,
                      nz(group), nz(name));
  if (local == EMI_SUCCESS && (!long_name || !long_name[0]))
    local = EMI_ERROR(EMI_ERR_ARG, "%s('%s/%s'): a non-empty long_name is required", what, group, name);
  if (local == EMI_SUCCESS) {
    err = join_path(group, name, &path);
    if (err != EMI_SUCCESS) {
      local = err;
      err = EMI_SUCCESS;
    }
  }
  sig = sig_str(sig_str(sig_str(sig_str(sig_u64(sig_str(sig, what), n), group), name), units), long_name);
  uint64_t dims[1] = {n}, row0 = 0, mine = 0;
  /* The values are the same everywhere.  Each rank writes whole chunks, as emi_h5_partition shares
   * the rows of an array: a scale of several compressed chunks written by rank 0 alone is laid out
   * in the file differently at different rank counts (seen with 40000 values: same contents, other
   * chunk addresses), so the bytes would depend on the layout. */
  if (local == EMI_SUCCESS && n > 0) {
    hsize_t chunk[1];
    uint64_t chunk_rows = chunk_shape(elem, 1, dims, chunk) ? (uint64_t)chunk[0] : n;
    err = emi_h5_partition(n, chunk_rows, f->comm, &row0, &mine);
    if (err != EMI_SUCCESS) local = err, err = EMI_SUCCESS;
  }
  EMI_TRY(check_collective(f, what, path, local, sig, n, row0, mine));
  EMI_TRY(create_and_write(f, path, ftype, mtype, elem, 1, dims, row0, mine,
                           mine ? (const char *)values + row0 * elem : NULL, &did));
  H5_TRY(H5DSset_scale(did, name), path);
  EMI_TRY(label_dataset(did, path, units, long_name));
cleanup:
  H5_CLOSE(H5Dclose, did);
  free(path);
  return settle(f, err);
}

emi_err_t emi_h5_write_scale_int(emi_h5_file_t *f, const char *group, const char *name, uint64_t n,
                                 const int64_t *values, const char *units, const char *long_name)
{
  emi_err_t local = EMI_SUCCESS;
  if (!units) local = EMI_ERROR(EMI_ERR_ARG, "emi_h5_write_scale_int('%s'): units are required", nz(name));
  else if (n > 0 && !values) local = EMI_ERROR(EMI_ERR_ARG, "emi_h5_write_scale_int('%s'): values is NULL", nz(name));
  uint64_t sig = (values && n) ? sig_bytes(SIG_INIT, values, n * sizeof *values) : SIG_INIT;
  EMI_CALL(write_scale(f, "emi_h5_write_scale_int", group, name, n, H5T_STD_I64LE, H5T_NATIVE_INT64,
                       sizeof(int64_t), values, local, sig, units, long_name));
  return EMI_SUCCESS;
}

emi_err_t emi_h5_write_scale_double(emi_h5_file_t *f, const char *group, const char *name, uint64_t n,
                                    const double *values, const char *units, const char *long_name)
{
  emi_err_t local = EMI_SUCCESS;
  if (!units) local = EMI_ERROR(EMI_ERR_ARG, "emi_h5_write_scale_double('%s'): units are required", nz(name));
  else if (n > 0 && !values) local = EMI_ERROR(EMI_ERR_ARG, "emi_h5_write_scale_double('%s'): values is NULL", nz(name));
  uint64_t sig = (values && n) ? sig_bytes(SIG_INIT, values, n * sizeof *values) : SIG_INIT;
  EMI_CALL(write_scale(f, "emi_h5_write_scale_double", group, name, n, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
                       sizeof(double), values, local, sig, units, long_name));
  return EMI_SUCCESS;
}

emi_err_t emi_h5_write_scale_str(emi_h5_file_t *f, const char *group, const char *name, uint64_t n,
                                 const char *const values[], const char *units, const char *long_name)
{
  emi_err_t err = EMI_SUCCESS, local = EMI_SUCCESS;
  hid_t t = H5I_INVALID_HID;
  char *buf = NULL;
  size_t width = 1;
  uint64_t sig = SIG_INIT;

  if (n > 0 && !values) {
    local = EMI_ERROR(EMI_ERR_ARG, "emi_h5_write_scale_str('%s'): values is NULL", nz(name));
  } else {
    for (uint64_t i = 0; i < n; i++) {
      const char *v = values[i] ? values[i] : "";
      size_t len = strlen(v) + 1;
      if (len > width) width = len;
      sig = sig_str(sig, values[i]);
    }
  }
  if (local == EMI_SUCCESS && f && n > 0) { /* every rank: each writes its share (write_scale) */
    buf = calloc((size_t)n, width);
    if (!buf) local = EMI_ERROR(EMI_ERR_NOMEM, "cannot allocate %" PRIu64 " strings of %zu bytes", n, width);
    for (uint64_t i = 0; buf && i < n; i++)
      if (values[i]) memcpy(buf + i * width, values[i], strlen(values[i]));
  }
  if ((t = fixstr_type(width)) < 0 && local == EMI_SUCCESS) /* still through write_scale's agreement */
    local = h5_fail_at("fixstr_type(width)", nz(name), __FILE__, __LINE__, __func__);
  EMI_TRY(write_scale(f, "emi_h5_write_scale_str", group, name, n, t, t, width, buf, local, sig, units,
                      long_name));
cleanup:
  H5_CLOSE(H5Tclose, t);
  free(buf);
  return err;
}

/* ------------------------------------------------------------------ string tables */

emi_err_t emi_h5_write_str_table(emi_h5_file_t *f, const char *path, uint64_t nrows, int ncols,
                                 const char *const colnames[], const char *const cells[], const char *scale_path,
                                 const char *long_name)
{
  static const char what[] = "emi_h5_write_str_table";
  emi_err_t err = EMI_SUCCESS, local = EMI_SUCCESS;
  hid_t ctype = H5I_INVALID_HID, did = H5I_INVALID_HID, sid = H5I_INVALID_HID;
  hid_t *ftypes = NULL;
  size_t *width = NULL, *offset = NULL;
  char *buf = NULL;
  size_t row_bytes = 0;
  uint64_t sig = sig_str(SIG_INIT, what);

  if (!f) return EMI_ERROR(EMI_ERR_ARG, "%s: no open file", what);
  if (!valid_path(path) || strcmp(path, "/") == 0)
    local = EMI_ERROR(EMI_ERR_ARG, "%s: dataset path '%s' is not absolute /a/b", what, nz(path));
  else if (ncols < 1 || !colnames)
    local = EMI_ERROR(EMI_ERR_ARG, "%s('%s'): ncols = %d, expected >= 1 with column names", what, path, ncols);
  else if (nrows > 0 && !cells)
    local = EMI_ERROR(EMI_ERR_ARG, "%s('%s'): cells is NULL", what, path);
  else if (!long_name || !long_name[0])
    local = EMI_ERROR(EMI_ERR_ARG, "%s('%s'): a non-empty long_name is required", what, path);
  else if (scale_path && (!valid_path(scale_path) || !scale_visible(path, scale_path)))
    local = EMI_ERROR(EMI_ERR_ARG, "%s('%s'): row scale '%s' is not an absolute path in the table's group", what,
                      path, scale_path);
  for (int j = 0; local == EMI_SUCCESS && j < ncols; j++) {
    if (!colnames[j] || !colnames[j][0]) {
      local = EMI_ERROR(EMI_ERR_ARG, "%s('%s'): column %d has no name", what, path, j);
      break;
    }
    for (int k = 0; k < j; k++)
      if (strcmp(colnames[j], colnames[k]) == 0) {
        local = EMI_ERROR(EMI_ERR_ARG, "%s('%s'): columns %d and %d are both named '%s'", what, path, k, j, colnames[j]);
        break;
      }
  }
  if (local == EMI_SUCCESS) {
    width = calloc((size_t)ncols, sizeof *width);
    offset = calloc((size_t)ncols, sizeof *offset);
    ftypes = malloc((size_t)ncols * sizeof *ftypes);
    for (int j = 0; ftypes && j < ncols; j++) ftypes[j] = H5I_INVALID_HID;
    if (!width || !offset || !ftypes) local = EMI_ERROR(EMI_ERR_NOMEM, "cannot allocate a table of %d columns", ncols);
  }
  if (local == EMI_SUCCESS) {
    for (int j = 0; j < ncols; j++) {
      width[j] = 1;
      sig = sig_str(sig, colnames[j]);
    }
    for (uint64_t i = 0; i < nrows; i++)
      for (int j = 0; j < ncols; j++) {
        const char *c = cells[i * (uint64_t)ncols + (uint64_t)j];
        size_t len = (c ? strlen(c) : 0) + 1;
        if (len > width[j]) width[j] = len;
        sig = sig_str(sig, c);
      }
    for (int j = 0; j < ncols; j++) {
      offset[j] = row_bytes;
      row_bytes += width[j];
    }
    if (f->rank == 0 && nrows > 0) {
      buf = calloc((size_t)nrows, row_bytes);
      if (!buf) local = EMI_ERROR(EMI_ERR_NOMEM, "cannot allocate %" PRIu64 " table rows of %zu bytes", nrows, row_bytes);
      for (uint64_t i = 0; buf && i < nrows; i++)
        for (int j = 0; j < ncols; j++) {
          const char *c = cells[i * (uint64_t)ncols + (uint64_t)j];
          if (c) memcpy(buf + i * row_bytes + offset[j], c, strlen(c));
        }
    }
    sig = sig_str(sig_str(sig_u64(sig_u64(sig_str(sig, path), nrows), (uint64_t)ncols), long_name), scale_path);
  }
  uint64_t mine = f->rank == 0 ? nrows : 0;
  EMI_TRY(check_collective(f, what, path, local, sig, nrows, 0, mine));
  if (scale_path) EMI_TRY(check_scale(f, path, 0, scale_path, nrows));

  H5_TRY(ctype = H5Tcreate(H5T_COMPOUND, row_bytes), path);
  for (int j = 0; j < ncols; j++) {
    H5_TRY(ftypes[j] = fixstr_type(width[j]), path);
    H5_TRY(H5Tinsert(ctype, colnames[j], offset[j], ftypes[j]), path);
  }
  uint64_t dims[1] = {nrows};
  EMI_TRY(create_and_write(f, path, ctype, ctype, row_bytes, 1, dims, 0, mine, buf, &did));
  if (scale_path) {
    H5_TRY(sid = H5Dopen2(f->fid, scale_path, H5P_DEFAULT), scale_path);
    H5_TRY(H5DSattach_scale(did, sid, 0), path);
  }
  EMI_TRY(label_dataset(did, path, NULL, long_name));
cleanup:
  err = settle(f, err);
  H5_CLOSE(H5Dclose, sid);
  H5_CLOSE(H5Dclose, did);
  H5_CLOSE(H5Tclose, ctype);
  for (int j = 0; ftypes && j < ncols; j++) H5_CLOSE(H5Tclose, ftypes[j]);
  free(ftypes);
  free(width);
  free(offset);
  free(buf);
  return err;
}
