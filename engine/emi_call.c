/* emi_call.c: turn MPI and HDF5 failures into emflow errors with the library's own words. */
#include "emi_call.h"

#include <stdio.h>
#include <string.h>

emi_err_t emi_mpi_raise(int mpierr, const char *call, const char *file, int line, const char *func)
{
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(mpierr, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "code %d", mpierr);
  return emi_err_raise(EMI_ERR_MPI, file, line, func, "%s failed: %s", call, text);
}

typedef struct {
  char *buf;
  size_t size;
  size_t used;
} h5_walk_t;

static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data)
{
  h5_walk_t *w = data;
  if (n > 3 || w->used >= w->size) return 0; /* innermost few frames say what went wrong */
  int k = snprintf(w->buf + w->used, w->size - w->used, "%s%s", w->used ? "; " : "", e->desc ? e->desc : "?");
  if (k > 0) w->used += (size_t)k;
  return 0;
}

emi_err_t emi_h5_raise(const char *call, const char *file, int line, const char *func)
{
  char detail[512] = "";
  h5_walk_t w = {detail, sizeof detail, 0};
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_cb, &w);
  H5Eclear2(H5E_DEFAULT);
  return emi_err_raise(EMI_ERR_HDF5, file, line, func, "%s failed%s%s", call, detail[0] ? ": " : "", detail);
}
