/* emi_h5read.c: whole datasets of an emflow HDF5 file as native arrays (emi_h5read.h). */
#include "emi_h5read.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emi_call.h"

void emi_column_free(emi_column_t *c)
{
  if (c->s)
    for (size_t k = 0; k < c->n; k++) free(c->s[k]);
  free(c->i), free(c->u), free(c->d), free(c->s);
  memset(c, 0, sizeof *c);
}

/* Read all of dataset did (what: its path, for messages) into c. */
emi_err_t emi_column_read(hid_t did, const char *file, const char *what, emi_column_t *c)
{
  emi_err_t err = EMI_SUCCESS;
  hid_t ft = H5I_INVALID_HID, mt = H5I_INVALID_HID, sp = H5I_INVALID_HID;
  char *buf = NULL;
  memset(c, 0, sizeof *c);
  EMI_H5_TRY(sp = H5Dget_space(did));
  hssize_t np = H5Sget_simple_extent_npoints(sp);
  if (np < 0) EMI_FAIL(EMI_ERR_HDF5, "%s: %s: cannot get the number of elements", file, what);
  c->n = (size_t)np;
  EMI_H5_TRY(ft = H5Dget_type(did));
  H5T_class_t cls = H5Tget_class(ft);
  if (cls == H5T_INTEGER || cls == H5T_ENUM) {
    H5T_sign_t sg = cls == H5T_ENUM ? H5T_SGN_2 : H5Tget_sign(ft); /* enum values as signed integers */
    if (sg == H5T_SGN_NONE) {
      c->kind = EMI_COL_UINT;
      EMI_MALLOC(c->u, c->n + 1, "values");
      if (c->n) EMI_H5_TRY(H5Dread(did, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, c->u));
    } else {
      c->kind = EMI_COL_INT;
      EMI_MALLOC(c->i, c->n + 1, "values");
      if (c->n) EMI_H5_TRY(H5Dread(did, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, c->i));
    }
  } else if (cls == H5T_FLOAT) {
    c->kind = EMI_COL_REAL;
    EMI_MALLOC(c->d, c->n + 1, "values");
    if (c->n) EMI_H5_TRY(H5Dread(did, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, c->d));
  } else if (cls == H5T_STRING) {
    c->kind = EMI_COL_STR;
    EMI_CALLOC(c->s, c->n + 1, "labels");
    htri_t var = H5Tis_variable_str(ft);
    if (var < 0) EMI_FAIL(EMI_ERR_HDF5, "%s: %s: cannot inspect the string type", file, what);
    if (var) {
      char **v = NULL;
      EMI_H5_TRY(mt = H5Tcopy(H5T_C_S1));
      EMI_H5_TRY(H5Tset_size(mt, H5T_VARIABLE));
      H5T_cset_t cs = H5Tget_cset(ft); /* UTF-8 stays UTF-8: HDF5 has no ASCII <-> UTF-8 conversion */
      if (cs < 0) EMI_FAIL(EMI_ERR_HDF5, "%s: %s: cannot get the string character set", file, what);
      EMI_H5_TRY(H5Tset_cset(mt, cs));
      EMI_MALLOC(v, c->n + 1, "strings");
      buf = (char *)v;
      if (c->n) EMI_H5_TRY(H5Dread(did, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, v));
      for (size_t k = 0; k < c->n; k++) c->s[k] = strdup(v[k] ? v[k] : "");
      if (c->n) H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, v);
      for (size_t k = 0; k < c->n; k++)
        if (!c->s[k]) EMI_FAIL(EMI_ERR_NOMEM, "cannot copy a label");
    } else {
      size_t w = H5Tget_size(ft);
      if (w == 0) EMI_FAIL(EMI_ERR_HDF5, "%s: %s: string size 0", file, what);
      EMI_H5_TRY(mt = H5Tcopy(ft));
      EMI_MALLOC(buf, c->n * w + 1, "strings");
      if (c->n) EMI_H5_TRY(H5Dread(did, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf));
      for (size_t k = 0; k < c->n; k++) {
        const char *p = buf + k * w, *z = memchr(p, '\0', w);
        size_t len = z ? (size_t)(z - p) : w;
        while (len > 0 && p[len - 1] == ' ') len--; /* space-padded strings */
        if (!(c->s[k] = malloc(len + 1))) EMI_FAIL(EMI_ERR_NOMEM, "cannot copy a label");
        memcpy(c->s[k], p, len);
        c->s[k][len] = '\0';
      }
    }
  } else {
    EMI_FAIL(EMI_ERR_INPUT, "%s: %s has %s elements: expected a numeric or string array (a labelled table)", file,
             what, cls == H5T_COMPOUND ? "compound (record)" : "non-numeric");
  }
cleanup:
  if (mt >= 0) H5Tclose(mt);
  if (ft >= 0) H5Tclose(ft);
  if (sp >= 0) H5Sclose(sp);
  free(buf);
  if (err) emi_column_free(c);
  return err;
}


int emi_h5_read_attr_text(hid_t fid, const char *obj, const char *name, char *buf, size_t n)
{
  int rc = 0;
  hid_t a = H5I_INVALID_HID, t = H5I_INVALID_HID, mt = H5I_INVALID_HID;
  if (n) buf[0] = '\0';
  if (H5Aexists_by_name(fid, obj, name, H5P_DEFAULT) <= 0) return 0;
  if ((a = H5Aopen_by_name(fid, obj, name, H5P_DEFAULT, H5P_DEFAULT)) < 0 || (t = H5Aget_type(a)) < 0) {
    rc = -1;
    goto done;
  }
  if (H5Tget_class(t) != H5T_STRING) goto done;
  if ((mt = H5Tcopy(H5T_C_S1)) < 0 || H5Tset_cset(mt, H5Tget_cset(t)) < 0) {
    rc = -1;
    goto done;
  }
  if (H5Tis_variable_str(t) > 0) {
    char *v = NULL;
    if (H5Tset_size(mt, H5T_VARIABLE) < 0 || H5Aread(a, mt, &v) < 0) rc = -1;
    else {
      snprintf(buf, n, "%s", v ? v : "");
      rc = 1;
    }
    if (v) H5free_memory(v);
  } else {
    size_t w = H5Tget_size(t);
    char *tmp = malloc(w + 1);
    if (!tmp || H5Tset_size(mt, w + 1) < 0 || H5Aread(a, mt, tmp) < 0) rc = -1;
    else {
      tmp[w] = '\0';
      snprintf(buf, n, "%s", tmp);
      rc = 1;
    }
    free(tmp);
  }
done:
  if (mt >= 0) H5Tclose(mt);
  if (t >= 0) H5Tclose(t);
  if (a >= 0) H5Aclose(a);
  return rc;
}
