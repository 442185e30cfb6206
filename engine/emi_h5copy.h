/* emi_h5copy.h: copy a group of one emflow HDF5 file into another, dimension scales included.
 *
 * H5Ocopy alone cannot do it for emflow files: the dimension-scale attributes DIMENSION_LIST
 * (object references) and REFERENCE_LIST (a compound holding references) are either left pointing
 * into the source file or, with HDF5 1.10's reference expansion, crash in the copy of the compound.
 * So the copy is made in three passes:
 *   1. H5Ocopy of the whole group without attributes (datasets keep their layout, chunking, filters
 *      and creation properties; object time tracking stays off because the sources have none);
 *   2. every attribute of every object in the group copied by value, except the dimension-scale
 *      bookkeeping (DIMENSION_LIST, REFERENCE_LIST, and CLASS/NAME of a scale), and every scale made
 *      a scale again under its own NAME (H5DSset_scale);
 *   3. every scale attached to every dimension in the source attached again in the copy
 *      (H5DSattach_scale), found by path: a scale must live inside one of the groups copied together
 *      (checked; emflow files attach e.g. /estimate/chain to /posterior/draws: copy both in one call).
 *
 *   EMI_TRY(emi_h5_copy_group(src_fid, "/estimate", dst_fid, "/estimate", "estimate.h5"));
 *
 * Local (one process writes dst; open it on MPI_COMM_SELF or serially).  The destination path must
 * not exist yet; its parent groups must.  src_name names the source file in error messages.
 */
#ifndef EMI_H5COPY_H
#define EMI_H5COPY_H

#include <hdf5.h>

#include "emi_err.h"

emi_err_t emi_h5_copy_group(hid_t src_fid, const char *src_path, hid_t dst_fid, const char *dst_path,
                            const char *src_name);

/* The same for n groups at once: src_paths[j] -> dst_paths[j]; a dataset's scales may be in any of them. */
emi_err_t emi_h5_copy_groups(hid_t src_fid, int n, const char *const src_paths[], hid_t dst_fid,
                             const char *const dst_paths[], const char *src_name);

/* Copy the attributes of object src_path onto dst_path (both existing), except those named in the
 * NULL-terminated list skip (may be NULL) and the dimension-scale bookkeeping. */
emi_err_t emi_h5_copy_attrs(hid_t src_fid, const char *src_path, hid_t dst_fid, const char *dst_path,
                            const char *const skip[], const char *src_name);

#endif /* EMI_H5COPY_H */
