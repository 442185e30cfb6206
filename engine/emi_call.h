/* emi_call.h: EMI_TRY-style wrappers for MPI and HDF5 calls (engine only).
 *
 * MPI: anything but MPI_SUCCESS is EMI_ERR_MPI with MPI's own error string (the engine sets
 * MPI_ERRORS_RETURN on its communicators so that errors come back instead of aborting).
 * HDF5: a negative herr_t / hid_t is EMI_ERR_HDF5; the HDF5 error stack is captured into the message.
 * Both jump to `cleanup:` with `err` set, as EMI_TRY does.
 */
#ifndef EMI_CALL_H
#define EMI_CALL_H

#include <mpi.h>
#include <hdf5.h>

#include "emi_err.h"

emi_err_t emi_mpi_raise(int mpierr, const char *call, const char *file, int line, const char *func);
emi_err_t emi_h5_raise(const char *call, const char *file, int line, const char *func);

#define EMI_MPI_TRY(call)                                                                 \
  do {                                                                                    \
    int emi_mpierr_ = (call);                                                             \
    if (emi_mpierr_ != MPI_SUCCESS) {                                                     \
      err = emi_mpi_raise(emi_mpierr_, #call, __FILE__, __LINE__, __func__);              \
      goto cleanup;                                                                       \
    }                                                                                     \
  } while (0)

/* For herr_t calls: EMI_H5_TRY(H5Dwrite(...)).  For ids: EMI_H5_TRY(fid = H5Fopen(...)). */
#define EMI_H5_TRY(call)                                                                  \
  do {                                                                                    \
    if ((call) < 0) {                                                                     \
      err = emi_h5_raise(#call, __FILE__, __LINE__, __func__);                            \
      goto cleanup;                                                                       \
    }                                                                                     \
  } while (0)

#endif /* EMI_CALL_H */
