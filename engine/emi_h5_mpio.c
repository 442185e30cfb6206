/* emi_h5_mpio.c: the watch on the MPI-IO handles under the HDF5 output files (see emi_h5_mpio.h).
 *
 * The four MPI functions below replace the MPI library's for the whole process (the MPI profiling
 * interface: an executable's definition of an MPI_ function takes precedence, and the library's
 * stays reachable as PMPI_).  Each forwards to the next definition in the dynamic linker's search
 * order (dlsym(RTLD_NEXT): a preloaded I/O profiler such as Darshan, else the MPI library), or to
 * PMPI_ when there is none, so tools that interpose MPI-IO keep seeing every call.  Handles that
 * are not watched go straight through: the CSV writers' MPI-IO is untouched.
 */
#define _GNU_SOURCE /* RTLD_NEXT */
#include "emi_h5_mpio.h"

#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>

typedef struct {
  MPI_File fh;
  MPI_Comm comm;
  int discard; /* drop writes, resizes and syncs, report success */
  int failed;  /* a call failed on this rank */
  int errnum;  /* errno right after the first failed call (0: none) */
  int mpi_class;
} watch_t;

static watch_t watches[EMI_H5_MPIO_MAX_WATCH];
static int nwatches;

static watch_t *find(MPI_File fh)
{
  if (fh == MPI_FILE_NULL) return NULL;
  for (int i = 0; i < nwatches; i++)
    if (watches[i].fh == fh) return &watches[i];
  return NULL;
}

int emi_h5_mpio_watch(MPI_File fh, MPI_Comm comm)
{
  if (find(fh)) return 0;
  if (nwatches == EMI_H5_MPIO_MAX_WATCH || fh == MPI_FILE_NULL) return -1;
  watches[nwatches++] = (watch_t){.fh = fh, .comm = comm};
  return 0;
}

void emi_h5_mpio_unwatch(MPI_File fh)
{
  watch_t *w = find(fh);
  if (!w) return;
  *w = watches[--nwatches];
}

void emi_h5_mpio_discard(MPI_File fh)
{
  watch_t *w = find(fh);
  if (w) w->discard = 1;
}

int emi_h5_mpio_failed(MPI_File fh, int *errnum, int *mpi_class)
{
  const watch_t *w = find(fh);
  if (errnum) *errnum = w && w->failed ? w->errnum : 0;
  if (mpi_class) *mpi_class = w && w->failed ? w->mpi_class : MPI_SUCCESS;
  return w && w->failed;
}

/* Record the first failure of a watched call; e is errno right after it. */
static void note(watch_t *w, int rc, int e)
{
  if (!w || rc == MPI_SUCCESS || w->failed) return;
  int cls = MPI_ERR_OTHER;
  if (MPI_Error_class(rc, &cls) != MPI_SUCCESS) cls = MPI_ERR_OTHER;
  w->failed = 1;
  w->errnum = e;
  w->mpi_class = cls;
}

/* A dropped write: the status says that all of it was written (HDF5 checks the element count). */
static int dropped(MPI_Datatype type, int count, MPI_Status *status)
{
  if (status != MPI_STATUS_IGNORE) {
    MPI_Count size = 0;
    if (MPI_Type_size_x(type, &size) != MPI_SUCCESS) size = 0;
    MPI_Status_set_elements_x(status, MPI_BYTE, size * (MPI_Count)count);
    status->MPI_ERROR = MPI_SUCCESS;
  }
  return MPI_SUCCESS;
}

/* 1 if a write that returned MPI_SUCCESS wrote fewer bytes than asked (ompio reports a full disk so:
 * success, and a short count in the status). */
static int short_write(MPI_Datatype type, int count, const MPI_Status *status)
{
  MPI_Count size = 0, done = 0;
  if (status == MPI_STATUS_IGNORE || MPI_Type_size_x(type, &size) != MPI_SUCCESS) return 0;
  if (MPI_Get_elements_x(status, MPI_BYTE, &done) != MPI_SUCCESS || done == MPI_UNDEFINED) return 0;
  return done < size * (MPI_Count)count;
}

/* The next definition of `name` after this executable (not this one), else `fallback`. */
static void *next_fn(const char *name, void *self, void *fallback)
{
  void *p = dlsym(RTLD_NEXT, name);
  return p && p != self ? p : fallback;
}

/* Independent call: drop it once this rank saw a failure (or the file is abandoned). */
static int drop_local(const watch_t *w) { return w && (w->discard || w->failed); }

/* Collective call (every rank of the file makes it): drop it on every rank when any rank saw a failure,
 * so that a rank whose earlier write failed and the others still meet in the same MPI-IO calls. */
static int drop_all(watch_t *w)
{
  if (!w) return 0;
  if (w->discard) return 1; /* set on every rank (emi_h5_mpio_discard is called collectively) */
  int mine = w->failed, any = mine;
  if (PMPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, w->comm) != MPI_SUCCESS) any = 1;
  return any;
}

typedef int (*write_at_fn)(MPI_File, MPI_Offset, const void *, int, MPI_Datatype, MPI_Status *);
typedef int (*set_size_fn)(MPI_File, MPI_Offset);
typedef int (*sync_fn)(MPI_File);
typedef int (*close_fn)(MPI_File *);

/* A watched write: a failure (an error or a short count) is recorded and reported to HDF5 as success,
 * so that HDF5 goes on the same way on every rank (it has no agreement of its own on errors, and a
 * rank that leaves a call early strands the others in a collective); emi_h5 finds the failure in
 * the agreement that ends every one of its calls (emi_h5_mpio_failed) and abandons the file. */
static int after_write(watch_t *w, int rc, int e, MPI_Datatype type, int count, MPI_Status *status)
{
  if (!w) return rc;
  if (rc != MPI_SUCCESS || short_write(type, count, status)) {
    note(w, rc != MPI_SUCCESS ? rc : MPI_ERR_IO, e);
    return dropped(type, count, status);
  }
  return rc;
}

int MPI_File_write_at(MPI_File fh, MPI_Offset offset, const void *buf, int count, MPI_Datatype datatype,
                      MPI_Status *status)
{
  static write_at_fn next;
  if (!next) next = (write_at_fn)next_fn("MPI_File_write_at", (void *)MPI_File_write_at, (void *)PMPI_File_write_at);
  watch_t *w = find(fh);
  if (drop_local(w)) return dropped(datatype, count, status);
  int rc = next(fh, offset, buf, count, datatype, status), e = errno;
  return after_write(w, rc, e, datatype, count, status);
}

int MPI_File_write_at_all(MPI_File fh, MPI_Offset offset, const void *buf, int count, MPI_Datatype datatype,
                          MPI_Status *status)
{
  static write_at_fn next;
  if (!next)
    next = (write_at_fn)next_fn("MPI_File_write_at_all", (void *)MPI_File_write_at_all, (void *)PMPI_File_write_at_all);
  watch_t *w = find(fh);
  if (drop_all(w)) return dropped(datatype, count, status);
  int rc = next(fh, offset, buf, count, datatype, status), e = errno;
  return after_write(w, rc, e, datatype, count, status);
}

int MPI_File_set_size(MPI_File fh, MPI_Offset size)
{
  static set_size_fn next;
  if (!next) next = (set_size_fn)next_fn("MPI_File_set_size", (void *)MPI_File_set_size, (void *)PMPI_File_set_size);
  watch_t *w = find(fh);
  if (drop_all(w)) return MPI_SUCCESS;
  int rc = next(fh, size), e = errno;
  if (!w || rc == MPI_SUCCESS) return rc;
  note(w, rc, e);
  return MPI_SUCCESS;
}

int MPI_File_sync(MPI_File fh)
{
  static sync_fn next;
  if (!next) next = (sync_fn)next_fn("MPI_File_sync", (void *)MPI_File_sync, (void *)PMPI_File_sync);
  watch_t *w = find(fh);
  if (drop_all(w)) return MPI_SUCCESS;
  int rc = next(fh), e = errno;
  if (!w || rc == MPI_SUCCESS) return rc;
  note(w, rc, e);
  return MPI_SUCCESS;
}

/* A failed close (NFS reports a lost write there) is recorded and reported to HDF5 as success: a
 * failed H5Fclose is what HDF5 1.10 cannot recover from.  The handle is gone either way. */
int MPI_File_close(MPI_File *fh)
{
  static close_fn next;
  if (!next) next = (close_fn)next_fn("MPI_File_close", (void *)MPI_File_close, (void *)PMPI_File_close);
  watch_t *w = fh ? find(*fh) : NULL;
  int rc = next(fh), e = errno;
  if (!w || rc == MPI_SUCCESS) return rc;
  note(w, rc, e);
  if (fh) *fh = MPI_FILE_NULL;
  return MPI_SUCCESS;
}
