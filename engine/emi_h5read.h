/* emi_h5read.h: read a whole dataset of an emflow HDF5 file as one of three native kinds (integers,
 * reals, strings): for commands that read an earlier stage's output (export, forecast). */
#ifndef EMI_H5READ_H
#define EMI_H5READ_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "emi_err.h"

enum { EMI_COL_INT, EMI_COL_UINT, EMI_COL_REAL, EMI_COL_STR };
typedef struct {
  int kind;
  size_t n;
  int64_t *i;
  uint64_t *u;
  double *d;
  char **s; /* EMI_COL_STR: n malloc'ed strings */
} emi_column_t;

/* Read all of dataset did (what: its path, for messages; file: the file's name) into c. */
emi_err_t emi_column_read(hid_t did, const char *file, const char *what, emi_column_t *c);
void emi_column_free(emi_column_t *c);

/* A string attribute `name` of object `obj` (e.g. "/" or "/estimate") into buf (n bytes, truncated),
 * fixed or variable length, ASCII or UTF-8.  Returns 1 when read, 0 when absent or not a string
 * (buf is then ""), -1 when it exists but cannot be read. */
int emi_h5_read_attr_text(hid_t fid, const char *obj, const char *name, char *buf, size_t n);

#endif /* EMI_H5READ_H */
