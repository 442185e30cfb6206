/* emi_h5_mpio.h (engine-internal, used by emi_h5.c): a watch on the MPI-IO handles under the HDF5
 * output files.
 *
 * Why: HDF5 1.10 cannot survive a failed H5Fclose.  When the final flush of a close fails (a full
 * disk), H5F__dest frees the file object but leaves its identifier in the ID table, and the
 * library's shutdown (at MPI_Finalize or exit) closes it again through the freed memory: SIGSEGV
 * (HDFFV-11052, fixed in HDF5 1.14.1).  And parallel HDF5 does not share a write error between
 * ranks: the ranks whose MPI-IO write failed take their error path while the others wait in the
 * next collective call, so an abort after a failed write could hang.
 *
 * The watch sits on the MPI profiling interface: emi_h5_mpio.c defines MPI_File_write_at,
 * MPI_File_write_at_all, MPI_File_set_size and MPI_File_sync, which the HDF5 library calls, and
 * forwards every call to the next definition (a profiling tool such as Darshan, else the MPI
 * library).  Handles that are not watched pass straight through.  For a watched handle it
 *   - records this rank's first failed call (an error or a short write count: errno and MPI error
 *     class), for a message naming the cause, and reports success to HDF5, so that HDF5 goes on the
 *     same way on every rank; emi_h5 finds the failure in the agreement that ends each of its calls
 *     and abandons the file (it is never committed);
 *   - drops every later write of the file (independent ones once this rank failed; collective ones,
 *     and the collective resize and sync, once any rank failed: one MPI_Allreduce on the watch's
 *     communicator before each collective call, so all ranks still meet in the same MPI-IO calls);
 *   - once discarding (emi_h5_file_abort, reached collectively), drops every write, resize and sync
 *     of the file: the H5Fclose of an abandoned file then neither fails nor blocks, and its .part
 *     file is removed right after.
 * Single-threaded like the HDF5 calls that reach it (MPI_THREAD_FUNNELED).
 */
#ifndef EMI_H5_MPIO_H
#define EMI_H5_MPIO_H

#include <mpi.h>

/* Largest number of HDF5 output files open at the same time in one process. */
#define EMI_H5_MPIO_MAX_WATCH 32

/* Watch fh (opened on the processes of comm, which the watch uses for its own agreements and which
 * must stay valid until emi_h5_mpio_unwatch).  Returns 0, or -1 when EMI_H5_MPIO_MAX_WATCH handles
 * are already watched. */
int emi_h5_mpio_watch(MPI_File fh, MPI_Comm comm);
/* Forget fh (after it is closed: MPI may reuse the value).  No-op for a handle not watched. */
void emi_h5_mpio_unwatch(MPI_File fh);
/* From now on drop the writes, resizes and syncs of fh, reporting success. */
void emi_h5_mpio_discard(MPI_File fh);
/* 1 if a write, resize or sync of fh failed on this rank (*errnum: errno right after the failed call,
 * 0 if none was set; *mpi_class: the MPI error class); 0 otherwise. */
int emi_h5_mpio_failed(MPI_File fh, int *errnum, int *mpi_class);

#endif /* EMI_H5_MPIO_H */
