/* emi_h5.h: the HDF5 output file: collective parallel writes, labelled arrays, atomic commit.
 *
 * One emflow output is one HDF5 file written by all ranks of a communicator through MPI-IO.
 *
 *   emi_h5_file_t *f = NULL;
 *   EMI_TRY(emi_h5_file_create(comm, "out.h5", &f));           // creates out.h5.part
 *   EMI_TRY(emi_h5_write_scale_int(f, "/data", "month", 7, months, "yyyymm", "calendar month"));
 *   EMI_TRY(emi_h5_chunk_rows(EMI_H5_INT64, 2, dims, &chunk_rows));
 *   EMI_TRY(emi_h5_partition(dims[0], chunk_rows, comm, &row0, &nrows));  // whole chunks per rank
 *   EMI_TRY(emi_h5_write_array(f, "/data/counts", EMI_H5_INT64, 2, dims, scales, row0, nrows,
 *                              my_rows, "persons", "migrant departures"));
 *   EMI_TRY(emi_h5_write_provenance(f, prov));                  // emi_provenance.h
 *   EMI_TRY(emi_h5_file_commit(&f));                            // out.h5.part -> out.h5
 * cleanup:
 *   emi_h5_file_abort(&f);                                      // no-op after a commit
 *
 * Rules every function here follows:
 * - Every function that takes a file is COLLECTIVE over the file's communicator: every rank calls
 *   it, in the same order, with the same arguments (only row0, nrows_local and the local data of
 *   emi_h5_write_array differ).  Each call checks that (a 64-bit signature of the arguments is
 *   compared across ranks) and returns EMI_ERR_ARG on every rank when ranks disagree, instead of
 *   letting HDF5 hang or write a corrupt file.  A failure detected on one rank (a bad argument,
 *   a failed allocation) is shared, so every rank returns an error from the same call and the
 *   caller can run its error path (emi_h5_file_abort) collectively.
 * - Every such function also ends by agreeing on its result: when an HDF5 call failed on any rank
 *   (a write that hit a full disk on one MPI-IO aggregator), every rank returns an error from that
 *   same call, with the first failing rank's message.  A failed write of the file is EMI_ERR_IO and
 *   its message names the file and the operating system's reason ("No space left on device").
 * - Files are written as `<path>.part` and renamed to `<path>` by emi_h5_file_commit, so a reader
 *   never sees half a file under the final name; emi_h5_file_abort removes the .part file.  An
 *   aborted file is closed without writing anything more (engine/emi_h5_mpio.h): the abort neither
 *   fails nor blocks on a full disk, and HDF5's shutdown does not crash on it.
 * - Bytes do not depend on the library's defaults, the clock or the number of ranks: the format is
 *   pinned to the HDF5 1.8 file format (libver bounds V18..V18: readable by HDF5 >= 1.8, R,
 *   netCDF-4, h5py), object time tracking is off on the root group, every group and every dataset,
 *   and chunking depends only on the global shape.  Files written at 1, 2 and 3 ranks are
 *   byte-identical apart from the provenance attributes (tests/mpi/h5.cmake: h5_bytes_*).
 * - File datatypes are explicit little-endian (H5T_STD_I64LE, H5T_IEEE_F64LE, ...).
 * - Strings are UTF-8.  Attributes are scalar variable-length strings (h5py reads them as str);
 *   string datasets (string scales, tables) use fixed-length NUL-terminated strings, because
 *   parallel HDF5 cannot write variable-length data into datasets.
 * - Every dataset carries `units` and `long_name` string attributes (CF names).  Numeric data must
 *   give units ("1" for dimensionless numbers); string datasets get units "" (not applicable).
 * - Datasets are chunked along dimension 0 (emi_h5_chunk_rows) with shuffle + deflate level
 *   EMI_H5_DEFLATE_LEVEL, written with collective MPI-IO transfers; ranks with nothing to write
 *   still take part with an empty selection.  A dataset with zero elements is stored contiguous
 *   (HDF5 cannot chunk an empty extent) and nothing is written.
 * - Library code never prints: HDF5's automatic error printing is turned off and its error stack
 *   comes back in the emflow error message, prefixed with the HDF5 object concerned.
 */
#ifndef EMI_H5_H
#define EMI_H5_H

#include <mpi.h>
#include <stdint.h>

#include "emi_err.h"

/* Deflate (zlib) level used for every dataset (1-4 keeps writing fast; higher levels gain little). */
#define EMI_H5_DEFLATE_LEVEL 4
/* Chunk size policy: a chunk holds as many whole rows as fit in EMI_H5_CHUNK_TARGET_BYTES (at least
 * one row, at most the whole dataset); rows larger than EMI_H5_CHUNK_MAX_BYTES are split along their
 * trailing dimensions.  So chunks are 128 KiB-256 KiB for rows up to 128 KiB, one row (<= 1 MiB)
 * otherwise, and smaller only when the whole dataset is smaller. */
#define EMI_H5_CHUNK_TARGET_BYTES (256u * 1024u)
#define EMI_H5_CHUNK_MAX_BYTES (1024u * 1024u)
/* Largest dataset rank accepted (HDF5's own limit is 32). */
#define EMI_H5_MAX_RANK 8

/* Element types of numeric arrays: C type in memory -> little-endian type in the file. */
typedef enum {
  EMI_H5_DOUBLE, /* double   -> H5T_IEEE_F64LE */
  EMI_H5_FLOAT,  /* float    -> H5T_IEEE_F32LE */
  EMI_H5_INT64,  /* int64_t  -> H5T_STD_I64LE  */
  EMI_H5_INT32,  /* int32_t  -> H5T_STD_I32LE  */
  EMI_H5_UINT64, /* uint64_t -> H5T_STD_U64LE  */
  EMI_H5_UINT32, /* uint32_t -> H5T_STD_U32LE  */
  EMI_H5_UINT8,  /* uint8_t  -> H5T_STD_U8LE   */
  EMI_H5_TYPE_COUNT_
} emi_h5_type_t;

typedef struct emi_h5_file emi_h5_file_t;

/* ------------------------------------------------------------------ file lifecycle */

/* Collective.  Create (truncate) `<path>.part` for parallel writing by the ranks of comm (the
 * communicator is duplicated; the caller's may be freed afterwards).  `path` must be the same on
 * every rank (checked).  Turns off HDF5's automatic error printing for the calling thread. */
emi_err_t emi_h5_file_create(MPI_Comm comm, const char *path, emi_h5_file_t **f);

/* Collective.  Flush and close the file, then rank 0 renames `<path>.part` to `<path>` (rename(2): atomic,
 * replacing an older file of that name).  Every rank returns the same code.  On failure the .part
 * file is removed (and an existing file under `path` is left untouched).  *f is freed and set to
 * NULL in all cases; f == NULL or *f == NULL is an argument error. */
emi_err_t emi_h5_file_commit(emi_h5_file_t **f);

/* Collective.  Close the file and remove `<path>.part`; never touches `<path>`.  Accepts NULL and
 * *f == NULL (no-op), sets *f to NULL: the `cleanup:` partner of emi_h5_file_create, so it is safe
 * after a successful commit.  Returns the first error met, but always closes, unlinks and frees. */
emi_err_t emi_h5_file_abort(emi_h5_file_t **f);

/* Collective.  For engine code that makes its own HDF5 calls on the file (emi_h5_file_id): pass the
 * result of those calls on this rank; every rank returns the same code, with the message of the rank
 * that failed first, so that all ranks take the error path together (a rank that goes on into the
 * next collective HDF5 call while another aborts hangs both).  After a failed write of the file
 * (a full disk), the error is EMI_ERR_IO naming the file and the operating system's reason.  Call
 * it after each collective HDF5 call that writes (H5Dwrite, H5Dset_extent), before the next one.
 * The functions of this interface do the same before they return. */
emi_err_t emi_h5_file_agree(emi_h5_file_t *f, emi_err_t err);

/* Deflate level (0..9; 0: neither shuffle nor deflate) of the chunked datasets created from now on;
 * EMI_H5_DEFLATE_LEVEL when the file is created.  Local, but every rank must set the same level (the
 * dataset creation properties are part of the collective create).  For scratch files written often and
 * read once, such as the sampler's checkpoints, where compressing costs more than it saves. */
emi_err_t emi_h5_file_set_deflate(emi_h5_file_t *f, int level);

/* Final and temporary names of the file (valid until commit/abort). */
const char *emi_h5_file_path(const emi_h5_file_t *f);
const char *emi_h5_file_part_path(const emi_h5_file_t *f);
/* The file's (duplicated) communicator, for helpers that must agree with the file's ranks. */
MPI_Comm emi_h5_file_comm(const emi_h5_file_t *f);
/* The HDF5 file identifier (an hid_t: int64_t since HDF5 1.10), for engine modules that write an
 * object this interface has no function for (e.g. the compound record dataset of
 * engine/emi_crossings.c).  Such code must keep the rules above itself: collective calls in the same
 * order on every rank, object time tracking off, explicit little-endian file types, units and
 * long_name on every dataset, collective transfers; it must not close the identifier.  Returns -1
 * (H5I_INVALID_HID) for NULL or a file no longer open. */
int64_t emi_h5_file_id(const emi_h5_file_t *f);

/* ------------------------------------------------------------------ groups and attributes */

/* Collective.  Create the group `path` ("/a/b": absolute, no empty components) and any missing
 * parent groups, all without time tracking.  Existing groups are fine; a non-group in the way is
 * EMI_ERR_ARG. */
emi_err_t emi_h5_group_ensure(emi_h5_file_t *f, const char *path);

/* Collective.  Set attribute `name` on the existing object (group or dataset) `obj_path`,
 * replacing an attribute of that name.  Strings: scalar variable-length UTF-8;
 * int: H5T_STD_I64LE; uint: H5T_STD_U64LE (seeds); double: H5T_IEEE_F64LE. */
emi_err_t emi_h5_attr_str(emi_h5_file_t *f, const char *obj_path, const char *name, const char *value);
emi_err_t emi_h5_attr_int(emi_h5_file_t *f, const char *obj_path, const char *name, int64_t value);
emi_err_t emi_h5_attr_uint(emi_h5_file_t *f, const char *obj_path, const char *name, uint64_t value);
emi_err_t emi_h5_attr_double(emi_h5_file_t *f, const char *obj_path, const char *name, double value);
/* 1-D attribute of n variable-length strings (n >= 1). */
emi_err_t emi_h5_attr_str_array(emi_h5_file_t *f, const char *obj_path, const char *name, uint64_t n,
                                const char *const values[]);

/* ------------------------------------------------------------------ coordinates (dimension scales) */

/* Collective.  Write the 1-D dataset `<group>/<name>` of n values (the same on every rank; rank 0
 * writes them), make it an HDF5 dimension scale (H5DSset_scale, NAME = name) and give it `units`
 * and `long_name`.  Attach it to arrays through emi_h5_write_array's scale_paths.  `group` is
 * created if missing.  String scales are fixed-length strings as long as the longest value. */
emi_err_t emi_h5_write_scale_int(emi_h5_file_t *f, const char *group, const char *name, uint64_t n,
                                 const int64_t *values, const char *units, const char *long_name);
emi_err_t emi_h5_write_scale_double(emi_h5_file_t *f, const char *group, const char *name, uint64_t n,
                                    const double *values, const char *units, const char *long_name);
emi_err_t emi_h5_write_scale_str(emi_h5_file_t *f, const char *group, const char *name, uint64_t n,
                                 const char *const values[], const char *units, const char *long_name);

/* ------------------------------------------------------------------ N-D arrays */

/* Rows (along dimension 0) per chunk for an array of this type and global shape; the policy above.
 * Pure and local.  Returns 1 for an empty array. */
emi_err_t emi_h5_chunk_rows(emi_h5_type_t type, int rank, const uint64_t dims[], uint64_t *chunk_rows);

/* Local.  Split nrows rows into whole chunks of chunk_rows rows and give this rank of comm its
 * contiguous share: ranks own consecutive runs of chunks, in rank order, with counts differing by
 * at most one chunk (so with fewer chunks than ranks some ranks own nothing: *nrows_local = 0).
 * Only the last chunk of the dataset may be partial.  Use it so that no chunk is shared by two
 * ranks: shared chunks are still written correctly, but HDF5 must then ship them between ranks. */
emi_err_t emi_h5_partition(uint64_t nrows, uint64_t chunk_rows, MPI_Comm comm, uint64_t *row0,
                           uint64_t *nrows_local);

/* Collective.  Create the dataset `path` (parent groups are created) of `type` with global shape
 * dims[0..rank-1] and write this rank's slab: rows [row0, row0 + nrows_local) of dimension 0, from
 * `data` (C order, nrows_local x dims[1] x ... elements; may be NULL when nrows_local is 0).
 * The slabs of all ranks must tile [0, dims[0]) exactly, without gaps or overlaps (checked: a
 * dataset is never left with unwritten rows).  A rank with nrows_local = 0 takes part with an empty
 * selection.  scale_paths is NULL (an unlabelled array: checkpoints, internal tables) or has one
 * entry per dimension, each the path of a dimension scale of length dims[d] (checked) to attach to
 * dimension d.  Checked too, so that xarray.open_dataset(FILE, group=G) labels every array of G:
 * every dimension is labelled (none NULL: netCDF-4 readers reject a partly labelled array), and each
 * scale lives in the array's own group (a scale in a sibling group is invisible to them, one in an
 * ancestor gives the axis its name but not its values).  A coordinate used in several groups is
 * written into each.  units and long_name are required. */
emi_err_t emi_h5_write_array(emi_h5_file_t *f, const char *path, emi_h5_type_t type, int rank,
                             const uint64_t dims[], const char *const scale_paths[], uint64_t row0,
                             uint64_t nrows_local, const void *data, const char *units,
                             const char *long_name);

/* ------------------------------------------------------------------ tables */

/* Collective.  Write a table of strings (e.g. the resolved options: name, value, units, source)
 * as a 1-D dataset of nrows records whose type is a compound with one fixed-length UTF-8 string
 * member per column, named colnames[j] (unique, non-empty) and sized to the column's longest cell.
 * cells is row-major: cells[i * ncols + j]; NULL cells are written as "".  Same on every rank;
 * rank 0 writes.  h5py returns a numpy structured array (pandas.DataFrame(ds[()]) gives the
 * labelled table; fields are bytes: .decode() or ds.fields('name').asstr()); h5dump prints the
 * column names.  Chosen over a 2-D string array because every column keeps its name and width
 * in the file itself.  scale_path, when not NULL, names a dimension scale of length nrows (in the
 * table's group, as for emi_h5_write_array) that labels the rows, so that xarray opens the table's
 * group.  Attributes: long_name, units = "". */
emi_err_t emi_h5_write_str_table(emi_h5_file_t *f, const char *path, uint64_t nrows, int ncols,
                                 const char *const colnames[], const char *const cells[],
                                 const char *scale_path, const char *long_name);

#endif /* EMI_H5_H */
