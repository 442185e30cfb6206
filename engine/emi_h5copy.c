/* emi_h5copy.c: group copy between HDF5 files that rebuilds the dimension scales (emi_h5copy.h). */
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>
#include <hdf5_hl.h>

#include "emi_call.h"
#include "emi_h5copy.h"

#define PATH_MAX_LEN 1024

/* Attributes the dimension-scale API owns: never copied by value. */
static int is_ds_bookkeeping(const char *name, int is_scale)
{
  if (!strcmp(name, "DIMENSION_LIST") || !strcmp(name, "REFERENCE_LIST")) return 1;
  if (is_scale && (!strcmp(name, "CLASS") || !strcmp(name, "NAME"))) return 1;
  return 0;
}

static int in_list(const char *name, const char *const list[])
{
  for (int k = 0; list && list[k]; k++)
    if (!strcmp(list[k], name)) return 1;
  return 0;
}

typedef struct {
  hid_t dst;          /* destination object */
  const char *const *skip;
  int is_scale;
  const char *src_name, *obj;
  emi_err_t err;
} attr_ctx_t;

static herr_t copy_one_attr(hid_t loc, const char *name, const H5A_info_t *info, void *data)
{
  (void)info;
  attr_ctx_t *c = data;
  emi_err_t err = EMI_SUCCESS;
  hid_t aid = H5I_INVALID_HID, ftype = H5I_INVALID_HID, space = H5I_INVALID_HID, out = H5I_INVALID_HID;
  unsigned char *buf = NULL;
  int vlen = 0;
  if (is_ds_bookkeeping(name, c->is_scale) || in_list(name, c->skip)) return 0;
  EMI_H5_TRY(aid = H5Aopen(loc, name, H5P_DEFAULT));
  EMI_H5_TRY(ftype = H5Aget_type(aid));
  EMI_H5_TRY(space = H5Aget_space(aid));
  H5T_class_t cls = H5Tget_class(ftype);
  if (cls == H5T_REFERENCE)
    EMI_FAIL(EMI_ERR_INPUT, "%s: attribute %s of %s holds object references, which cannot be copied to another "
             "file", c->src_name, name, c->obj);
  vlen = H5Tdetect_class(ftype, H5T_VLEN) > 0 || (cls == H5T_STRING && H5Tis_variable_str(ftype) > 0);
  hssize_t npts = H5Sget_simple_extent_npoints(space);
  size_t tsize = H5Tget_size(ftype);
  if (npts < 0 || tsize == 0) EMI_FAIL(EMI_ERR_INPUT, "%s: attribute %s of %s has no valid shape", c->src_name, name, c->obj);
  EMI_CALLOC(buf, (size_t)(npts > 0 ? npts : 1) * tsize, "an attribute's values");
  EMI_H5_TRY(H5Aread(aid, ftype, buf));
  if (H5Aexists(c->dst, name) > 0) EMI_H5_TRY(H5Adelete(c->dst, name));
  EMI_H5_TRY(out = H5Acreate2(c->dst, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT));
  EMI_H5_TRY(H5Awrite(out, ftype, buf));
cleanup:
  if (buf && vlen && ftype >= 0 && space >= 0) H5Dvlen_reclaim(ftype, space, H5P_DEFAULT, buf);
  free(buf);
  if (out >= 0) H5Aclose(out);
  if (space >= 0) H5Sclose(space);
  if (ftype >= 0) H5Tclose(ftype);
  if (aid >= 0) H5Aclose(aid);
  if (err) {
    c->err = err;
    return -1;
  }
  return 0;
}

static emi_err_t copy_attrs_ids(hid_t src, hid_t dst, const char *const skip[], int is_scale, const char *src_name,
                                const char *obj)
{
  attr_ctx_t c = {.dst = dst, .skip = skip, .is_scale = is_scale, .src_name = src_name, .obj = obj};
  hsize_t idx = 0;
  emi_err_t err = EMI_SUCCESS;
  if (H5Aiterate2(src, H5_INDEX_NAME, H5_ITER_INC, &idx, copy_one_attr, &c) < 0) {
    if (c.err) return c.err;
    EMI_H5_TRY(-1);
  }
cleanup:
  return err;
}

emi_err_t emi_h5_copy_attrs(hid_t src_fid, const char *src_path, hid_t dst_fid, const char *dst_path,
                            const char *const skip[], const char *src_name)
{
  emi_err_t err = EMI_SUCCESS;
  hid_t s = H5I_INVALID_HID, d = H5I_INVALID_HID;
  EMI_H5_TRY(s = H5Oopen(src_fid, src_path, H5P_DEFAULT));
  EMI_H5_TRY(d = H5Oopen(dst_fid, dst_path, H5P_DEFAULT));
  EMI_TRY(copy_attrs_ids(s, d, skip, 0, src_name, src_path));
cleanup:
  if (d >= 0) H5Oclose(d);
  if (s >= 0) H5Oclose(s);
  return err;
}

typedef struct {
  hid_t src_fid, dst_fid;
  const char *src_root, *dst_root, *src_name; /* the group being visited */
  int n;                                      /* all groups copied together: scales may be in any */
  const char *const *src_roots, *const *dst_roots;
  int pass; /* 2: attributes and scales; 3: attach */
  emi_err_t err;
} visit_ctx_t;

/* "src_root/rel" and "dst_root/rel" ("." is the group itself). */
static emi_err_t both_paths(const visit_ctx_t *v, const char *rel, char *sp, char *dp)
{
  int dot = !strcmp(rel, ".");
  int a = snprintf(sp, PATH_MAX_LEN, "%s%s%s", v->src_root, dot ? "" : "/", dot ? "" : rel);
  int b = snprintf(dp, PATH_MAX_LEN, "%s%s%s", v->dst_root, dot ? "" : "/", dot ? "" : rel);
  if (a < 0 || a >= PATH_MAX_LEN || b < 0 || b >= PATH_MAX_LEN)
    return EMI_ERROR(EMI_ERR_ARG, "%s: object path %s/%s is too long", v->src_name, v->src_root, rel);
  return EMI_SUCCESS;
}

typedef struct {
  const visit_ctx_t *v;
  hid_t dst_did;
  const char *obj;
  emi_err_t err;
} attach_ctx_t;

static herr_t attach_one(hid_t did, unsigned dim, hid_t dsid, void *data)
{
  (void)did;
  attach_ctx_t *a = data;
  const visit_ctx_t *v = a->v;
  emi_err_t err = EMI_SUCCESS;
  char path[PATH_MAX_LEN], dpath[PATH_MAX_LEN];
  hid_t dst_sid = H5I_INVALID_HID;
  ssize_t n = H5Iget_name(dsid, path, sizeof path);
  if (n <= 0 || (size_t)n >= sizeof path)
    EMI_FAIL(EMI_ERR_INPUT, "%s: a dimension scale of %s has no usable path", v->src_name, a->obj);
  int j = 0;
  size_t rl = 0;
  for (; j < v->n; j++) {
    rl = strlen(v->src_roots[j]);
    if (!strncmp(path, v->src_roots[j], rl) && (path[rl] == '/' || path[rl] == '\0')) break;
  }
  if (j == v->n)
    EMI_FAIL(EMI_ERR_INPUT, "%s: dimension %u of %s uses the scale %s, which is outside the groups copied: copy the "
             "group that holds it too", v->src_name, dim, a->obj, path);
  if (snprintf(dpath, sizeof dpath, "%s%s", v->dst_roots[j], path + rl) >= (int)sizeof dpath)
    EMI_FAIL(EMI_ERR_ARG, "%s: path of scale %s is too long", v->src_name, path);
  EMI_H5_TRY(dst_sid = H5Dopen2(v->dst_fid, dpath, H5P_DEFAULT));
  EMI_H5_TRY(H5DSattach_scale(a->dst_did, dst_sid, dim));
cleanup:
  if (dst_sid >= 0) H5Dclose(dst_sid);
  if (err) {
    a->err = err;
    return -1;
  }
  return 0;
}

static herr_t visit_one(hid_t obj, const char *rel, const H5O_info_t *info, void *data)
{
  (void)obj;
  visit_ctx_t *v = data;
  emi_err_t err = EMI_SUCCESS;
  char sp[PATH_MAX_LEN], dp[PATH_MAX_LEN];
  hid_t s = H5I_INVALID_HID, d = H5I_INVALID_HID, space = H5I_INVALID_HID;
  if (info->type != H5O_TYPE_GROUP && info->type != H5O_TYPE_DATASET) return 0;
  EMI_TRY(both_paths(v, rel, sp, dp));
  EMI_H5_TRY(s = H5Oopen(v->src_fid, sp, H5P_DEFAULT));
  EMI_H5_TRY(d = H5Oopen(v->dst_fid, dp, H5P_DEFAULT));
  int is_scale = info->type == H5O_TYPE_DATASET && H5DSis_scale(s) > 0;
  if (v->pass == 2) {
    EMI_TRY(copy_attrs_ids(s, d, NULL, is_scale, v->src_name, sp));
    if (is_scale) {
      char name[256] = "";
      ssize_t n = H5DSget_scale_name(s, name, sizeof name);
      if (n < 0 || (size_t)n >= sizeof name) name[0] = '\0';
      EMI_H5_TRY(H5DSset_scale(d, name[0] ? name : NULL));
    }
  } else if (info->type == H5O_TYPE_DATASET && !is_scale) {
    EMI_H5_TRY(space = H5Dget_space(s));
    int nd = H5Sget_simple_extent_ndims(space);
    attach_ctx_t a = {.v = v, .dst_did = d, .obj = sp};
    for (int k = 0; k < nd; k++) {
      if (H5DSget_num_scales(s, (unsigned)k) <= 0) continue;
      if (H5DSiterate_scales(s, (unsigned)k, NULL, attach_one, &a) < 0) {
        if (a.err) EMI_TRY(a.err);
        EMI_H5_TRY(-1);
      }
    }
  }
cleanup:
  if (space >= 0) H5Sclose(space);
  if (d >= 0) H5Oclose(d);
  if (s >= 0) H5Oclose(s);
  if (err) {
    v->err = err;
    return -1;
  }
  return 0;
}

emi_err_t emi_h5_copy_groups(hid_t src_fid, int n, const char *const src_paths[], hid_t dst_fid,
                             const char *const dst_paths[], const char *src_name)
{
  emi_err_t err = EMI_SUCCESS;
  hid_t ocpl = H5I_INVALID_HID, lcpl = H5I_INVALID_HID, g = H5I_INVALID_HID;
  for (int j = 0; j < n; j++) {
    const char *sp = src_paths[j], *dp = dst_paths[j];
    if (!sp || sp[0] != '/' || !dp || dp[0] != '/')
      EMI_FAIL(EMI_ERR_ARG, "group paths must be absolute (got %s, %s)", sp ? sp : "(null)", dp ? dp : "(null)");
    if (H5Lexists(dst_fid, dp, H5P_DEFAULT) > 0)
      EMI_FAIL(EMI_ERR_ARG, "%s: cannot copy %s: %s already exists in the destination", src_name, sp, dp);
  }
  EMI_H5_TRY(ocpl = H5Pcreate(H5P_OBJECT_COPY));
  EMI_H5_TRY(H5Pset_copy_object(ocpl, H5O_COPY_WITHOUT_ATTR_FLAG));
  EMI_H5_TRY(lcpl = H5Pcreate(H5P_LINK_CREATE));
  for (int j = 0; j < n; j++) EMI_H5_TRY(H5Ocopy(src_fid, src_paths[j], dst_fid, dst_paths[j], ocpl, lcpl));
  visit_ctx_t v = {.src_fid = src_fid, .dst_fid = dst_fid, .src_name = src_name, .n = n, .src_roots = src_paths,
                   .dst_roots = dst_paths};
  for (v.pass = 2; v.pass <= 3; v.pass++) {
    for (int j = 0; j < n; j++) {
      v.src_root = src_paths[j];
      v.dst_root = dst_paths[j];
      EMI_H5_TRY(g = H5Gopen2(src_fid, src_paths[j], H5P_DEFAULT));
      if (H5Ovisit2(g, H5_INDEX_NAME, H5_ITER_INC, visit_one, &v, H5O_INFO_BASIC) < 0) {
        if (v.err) EMI_TRY(v.err);
        EMI_H5_TRY(-1);
      }
      H5Gclose(g);
      g = H5I_INVALID_HID;
    }
  }
cleanup:
  if (g >= 0) H5Gclose(g);
  if (lcpl >= 0) H5Pclose(lcpl);
  if (ocpl >= 0) H5Pclose(ocpl);
  return err;
}

emi_err_t emi_h5_copy_group(hid_t src_fid, const char *src_path, hid_t dst_fid, const char *dst_path,
                            const char *src_name)
{
  const char *s[1] = {src_path}, *d[1] = {dst_path};
  return emi_h5_copy_groups(src_fid, 1, s, dst_fid, d, src_name);
}
