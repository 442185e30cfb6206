/* emi_cmd_export.c: `emflow export FILE DATASET [-o OUT.csv]`, any labelled dataset of an emflow HDF5
 * file as a long CSV, for people who want a spreadsheet (issue 4).
 *
 * One column per dimension, named after the dimension's scale (its H5DS name, else the last component
 * of the scale's path), holding the scale's labels (strings as they are, numbers as numbers), then a
 * column `value`; one row per element, in C order (the last dimension fastest).  A dimension without a
 * scale gets the column dim_<k> with the index 0 .. n-1 (a warning says so); a scalar dataset is one row
 * with the column value alone.  Column names are made unique (a second `citizen` becomes citizen_2).
 * Values: integers exactly (int64 or uint64), floating point with 17 significant digits (%.17g, which
 * reads back to the same double; nan, inf, -inf), strings as text; fields are quoted as RFC 4180 when
 * they hold a comma, a quote or a line break.  Compound and other non-array types are refused.
 *
 * Serial: it reads with the default (POSIX) driver and needs no MPI (it may run as mpiexec -n 1).
 * With -o the CSV is written under OUT.csv.part and renamed when complete; without it, to stdout.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>
#include <hdf5_hl.h>

#include "emi_call.h"
#include "emi_cli.h"
#include "emi_commands.h"
#include "emi_h5read.h"
#include "emi_log.h"
#include "emi_output.h"

const emi_opt_spec_t emi_export_specs[] = {
  EMI_OPTS_COMMON,
  {"output", "export", EMI_OPT_PATH, NULL, "", "output CSV file (default: standard output)", 0, 0, NULL, 'o'},
};
const int emi_export_nspecs = (int)(sizeof emi_export_specs / sizeof emi_export_specs[0]);

#define MAX_DIMS 32
#define MAX_LIST 12 /* datasets named in a "no such dataset" message */

/* CSV field: quoted when it holds a comma, a quote, CR or LF. */
static int put_field(FILE *out, const char *s)
{
  if (!strpbrk(s, ",\"\r\n")) return fputs(s, out) >= 0;
  if (fputc('"', out) == EOF) return 0;
  for (; *s; s++)
    if ((*s == '"' && fputc('"', out) == EOF) || fputc(*s, out) == EOF) return 0;
  return fputc('"', out) != EOF;
}

static int put_value(FILE *out, const emi_column_t *c, size_t k)
{
  char num[64];
  switch (c->kind) {
  case EMI_COL_INT: snprintf(num, sizeof num, "%" PRId64, c->i[k]); break;
  case EMI_COL_UINT: snprintf(num, sizeof num, "%" PRIu64, c->u[k]); break;
  case EMI_COL_REAL: snprintf(num, sizeof num, "%.17g", c->d[k]); break;
  default: return put_field(out, c->s[k]);
  }
  return fputs(num, out) >= 0;
}

/* H5DSiterate_scales callback: keep the first scale's id (reopened, the caller closes it). */
static herr_t first_scale(hid_t did, unsigned dim, hid_t sid, void *data)
{
  (void)did, (void)dim;
  *(hid_t *)data = H5Dopen2(sid, ".", H5P_DEFAULT);
  return 1;
}

typedef struct {
  char list[1024];
  int n;
} dslist_t;

static herr_t list_datasets(hid_t obj, const char *name, const H5O_info_t *info, void *data)
{
  (void)obj;
  dslist_t *l = data;
  if (info->type != H5O_TYPE_DATASET) return 0;
  if (l->n < MAX_LIST) {
    size_t used = strlen(l->list);
    snprintf(l->list + used, sizeof l->list - used, "%s/%s", l->n ? ", " : "", name);
  } else if (l->n == MAX_LIST) {
    size_t used = strlen(l->list);
    snprintf(l->list + used, sizeof l->list - used, ", ...");
  }
  l->n++;
  return 0;
}

emi_err_t emi_cmd_export(emi_ctx_t *ctx)
{
  emi_err_t err = EMI_SUCCESS;
  const char *file = ctx->pos[0], *dset = ctx->pos[1], *outp = NULL;
  hid_t fid = H5I_INVALID_HID, did = H5I_INVALID_HID, sp = H5I_INVALID_HID;
  emi_column_t val, lab[MAX_DIMS];
  char names[MAX_DIMS][64], *part = NULL;
  FILE *out = stdout;
  int ndims = 0;
  memset(&val, 0, sizeof val);
  memset(lab, 0, sizeof lab);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  { /* a serial command: main() sets up logging for MPI commands only */
    const char *level_text = "info";
    emi_log_level_t level = EMI_LOG_INFO;
    EMI_TRY(emi_opts_get_str(ctx->opts, "log-level", &level_text));
    emi_log_level_parse(level_text, &level);
    emi_log_setup(0, level, 0);
  }

  if (emi_opts_is_set(ctx->opts, "output")) EMI_TRY(emi_opts_get_str(ctx->opts, "output", &outp));
  if (outp) {
    EMI_TRY(emi_output_check_path(outp));
    EMI_TRY(emi_output_check_not_input(outp, file));
    EMI_TRY(emi_output_check_not_input(outp, file));
  }
  {
    FILE *probe = fopen(file, "rb");
    if (!probe) EMI_FAIL(EMI_ERR_IO, "export: %s: cannot open: %s", file, strerror(errno));
    fclose(probe);
  }
  if (H5Fis_hdf5(file) <= 0) EMI_FAIL(EMI_ERR_INPUT, "export: %s: not an HDF5 file: expected an emflow output (.h5)", file);
  if ((fid = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0)
    EMI_FAIL(EMI_ERR_IO, "export: %s: cannot open as an HDF5 file", file);

  /* the dataset: every component of the path must exist (H5Lexists on a missing parent fails) */
  int exists = dset[0] == '/' && dset[1] != '\0';
  if (exists) {
    char *p = strdup(dset);
    if (!p) EMI_FAIL(EMI_ERR_NOMEM, "cannot copy a path");
    for (char *s = strchr(p + 1, '/');; s = strchr(s + 1, '/')) {
      if (s) *s = '\0';
      if (H5Lexists(fid, p, H5P_DEFAULT) <= 0) exists = 0;
      if (!s || !exists) break;
      *s = '/';
    }
    free(p);
  }
  H5O_info_t info;
  if (exists && (H5Oget_info_by_name(fid, dset, &info, H5P_DEFAULT) < 0 || info.type != H5O_TYPE_DATASET)) exists = 0;
  if (!exists) {
    dslist_t l = {.n = 0};
    H5Ovisit(fid, H5_INDEX_NAME, H5_ITER_INC, list_datasets, &l);
    EMI_FAIL(EMI_ERR_INPUT, "export: %s: no dataset '%s'%s: expected an absolute path to one of its %d dataset(s): %s",
             file, dset, dset[0] == '/' ? "" : " (paths start with /)", l.n, l.n ? l.list : "(none)");
  }
  EMI_H5_TRY(did = H5Dopen2(fid, dset, H5P_DEFAULT));
  EMI_H5_TRY(sp = H5Dget_space(did));
  ndims = H5Sget_simple_extent_ndims(sp);
  if (ndims < 0) EMI_FAIL(EMI_ERR_HDF5, "export: %s: %s: cannot get the rank", file, dset);
  if (ndims > MAX_DIMS) EMI_FAIL(EMI_ERR_INPUT, "export: %s: %s has %d dimensions: at most %d", file, dset, ndims, MAX_DIMS);
  hsize_t dims[MAX_DIMS];
  EMI_H5_TRY(H5Sget_simple_extent_dims(sp, dims, NULL));
  EMI_TRY(emi_column_read(did, file, dset, &val));

  /* labels per dimension */
  int unlabelled = 0;
  for (int d = 0; d < ndims; d++) {
    hid_t sid = H5I_INVALID_HID;
    int ns = H5DSget_num_scales(did, (unsigned)d);
    if (ns > 0) H5DSiterate_scales(did, (unsigned)d, NULL, first_scale, &sid);
    if (sid >= 0) {
      char nm[64] = "";
      ssize_t len = H5DSget_scale_name(sid, nm, sizeof nm);
      if (len <= 0) { /* no NAME attribute: the last component of the scale's path */
        char path[1024] = "";
        H5Iget_name(sid, path, sizeof path);
        const char *b = strrchr(path, '/');
        snprintf(nm, sizeof nm, "%.63s", b ? b + 1 : path);
      }
      snprintf(names[d], sizeof names[d], "%s", nm[0] ? nm : "dim");
      emi_err_t e = emi_column_read(sid, file, names[d], &lab[d]);
      H5Dclose(sid);
      EMI_TRY(e);
      if (lab[d].n != dims[d])
        EMI_FAIL(EMI_ERR_INPUT, "export: %s: %s dimension %d has %llu elements but its scale '%s' has %zu labels: "
                 "expected as many", file, dset, d, (unsigned long long)dims[d], names[d], lab[d].n);
    } else {
      snprintf(names[d], sizeof names[d], "dim_%d", d);
      unlabelled++;
    }
  }
  if (unlabelled)
    emi_log_warn("export: %s: %s has %d dimension(s) without a dimension scale: their columns dim_<k> hold indices 0..n-1",
                 file, dset, unlabelled);
  /* unique column names (and none called value) */
  for (int d = 0; d < ndims; d++)
    for (int e = 0; e < d + 1; e++)
      if ((e < d && !strcmp(names[e], names[d])) || !strcmp(names[d], "value")) {
        char nm[64];
        snprintf(nm, sizeof nm, "%.50s_%d", names[d], d + 1);
        memcpy(names[d], nm, sizeof nm);
        e = -1; /* check again */
      }

  /* write */
  if (outp) {
    size_t pl = strlen(outp) + 6;
    EMI_MALLOC(part, pl, "a file name");
    snprintf(part, pl, "%s.part", outp);
    if (!(out = fopen(part, "w"))) EMI_FAIL(EMI_ERR_IO, "export: cannot create %s: %s", part, strerror(errno));
  }
  int ok = 1;
  for (int d = 0; d < ndims; d++) ok &= put_field(out, names[d]) && fputc(',', out) != EOF;
  ok &= fputs("value\n", out) >= 0;
  size_t idx[MAX_DIMS] = {0};
  for (size_t k = 0; k < val.n && ok; k++) {
    for (int d = 0; d < ndims; d++) {
      if (lab[d].n) ok &= put_value(out, &lab[d], idx[d]);
      else ok &= fprintf(out, "%zu", idx[d]) > 0;
      ok &= fputc(',', out) != EOF;
    }
    ok &= put_value(out, &val, k) && fputc('\n', out) != EOF;
    for (int d = ndims - 1; d >= 0; d--) { /* C order: the last index fastest */
      if (++idx[d] < (size_t)dims[d]) break;
      idx[d] = 0;
    }
  }
  if (fflush(out) != 0) ok = 0;
  if (!ok) EMI_FAIL(EMI_ERR_IO, "export: cannot write %s: %s", outp ? part : "standard output", strerror(errno));
  if (outp) {
    FILE *f = out;
    out = stdout;
    if (fclose(f) != 0) EMI_FAIL(EMI_ERR_IO, "export: cannot write %s: %s", part, strerror(errno));
    if (rename(part, outp) != 0) EMI_FAIL(EMI_ERR_IO, "export: cannot rename %s to %s: %s", part, outp, strerror(errno));
    emi_log_info("export: %s %s: %zu rows written to %s", file, dset, val.n, outp);
  }
cleanup:
  if (out && out != stdout) {
    fclose(out);
    remove(part);
  }
  free(part);
  emi_column_free(&val);
  for (int d = 0; d < MAX_DIMS; d++) emi_column_free(&lab[d]);
  if (sp >= 0) H5Sclose(sp);
  if (did >= 0) H5Dclose(did);
  if (fid >= 0) H5Fclose(fid);
  return err;
}
