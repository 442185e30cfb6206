/* emi_cmd_ipf.c: `emflow ipf`, standalone IPF for researchers (as migest's ipf2/ipf3).
 *
 *   emflow ipf [--seed SEED.csv] --margin M1.csv [--margin M2.csv ...] -o OUT.csv|OUT.h5
 *
 * Each file is a long CSV: one column per dimension, then `value` (the column named `value` may be
 * anywhere; every other column is a dimension).  A margin's dimensions are its columns, matched to
 * the seed's columns by name.  Without --seed the seed is 1 in every cell of the table spanned by
 * the dimensions the margins name (in order of first appearance).  Codes are text; within a
 * dimension the output lists them sorted bytewise.
 *
 * Checks, each one error naming the file (and line) concerned: a file without a `value` column or
 * without dimensions; a margin column the seed does not have; a code in a margin the seed (or
 * another margin) does not have; a cell missing from the seed or a margin (write 0 explicitly for a
 * structural zero); missing or negative values; then the kernel's own checks (disagreeing totals,
 * infeasible zero patterns), which name the margin by its file.
 *
 * Output: the fitted table in the same long format (CSV, written as OUT.part and renamed), or,
 * when OUT ends in .h5, an HDF5 file with /ipf/fitted (dimension scales = the codes), the targets
 * /ipf/margin_<k>, the fit's iterations, final deviation and status, and the provenance.
 * Iterations, final deviation and status go to stderr.  A fit that hits --max-iter is reported as
 * not converged and nothing is written, unless --accept-nonconverged.
 * Every rank computes the (small) fit; rank 0 writes.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "emi_agg.h"
#include "emi_agg_header.h"
#include "emi_cli.h"
#include "emi_commands.h"
#include "emi_ipf.h"
#include "emi_log.h"
#include "emi_output.h"

#define EMI_IPF_CMD_MAX_CELLS ((size_t)1 << 32) /* 32 GiB of doubles */
#define IPF_MAX_FILES (EMI_IPF_MAX_MARGINS + 1)

const emi_opt_spec_t emi_ipf_specs[] = {
  EMI_OPTS_COMMON,
  {"seed", "ipf", EMI_OPT_PATH, NULL, "", "seed table (long CSV: dimension columns, value); default uniform"},
  {"margin", "ipf", EMI_OPT_LIST, "", "", "a margin (long CSV: its dimension columns, value); repeat for each",
   0, 0, NULL, 0, 0, 1 /* items are paths */},
  {"output", "ipf", EMI_OPT_PATH, NULL, "", "fitted table: OUT.csv (long CSV) or OUT.h5 (HDF5)", 0, 0, NULL, 'o'},
  {"tol-rel", "ipf", EMI_OPT_REAL, "1e-10", "", "converged when the largest margin deviation <= tol-rel x total", 0, 1},
  {"tol-abs", "ipf", EMI_OPT_REAL, "0", "table units", "... or <= tol-abs", 0, 1e300},
  {"max-iter", "ipf", EMI_OPT_INT, "1000", "sweeps", "iteration cap (a sweep fits every margin once)", 1, 1e9},
  {"rescale", "ipf", EMI_OPT_CHOICE, "error", "", "margins whose totals disagree: error, or scale all to the first or the mean",
   0, 0, "error,first,mean"},
  {"total-tol-rel", "ipf", EMI_OPT_REAL, NULL, "", "relative difference of margin totals treated as agreement (default tol-rel / 10)", 0, 1},
  {"accept-nonconverged", "ipf", EMI_OPT_FLAG, "false", "", "write the last iterate when --max-iter is reached"},
};
const int emi_ipf_nspecs = (int)(sizeof emi_ipf_specs / sizeof emi_ipf_specs[0]);

typedef struct {
  const char *path;
  emi_agg_t *agg;
  int ndim;
  char *names[EMI_IPF_MAX_DIM];
  int map[EMI_IPF_MAX_DIM]; /* table dimension of each of the file's dimensions */
} ipf_file_t;

static void file_clear(ipf_file_t *f)
{
  emi_agg_destroy(&f->agg);
  for (int d = 0; d < f->ndim; d++) free(f->names[d]);
  f->ndim = 0;
}

/* A file that cannot be opened or read: the message says which input it is (`role`: "seed (--seed
 * 'x.csv')", "margin 1 (--margin 'y.csv')"), which a bare file name does not. */
static emi_err_t with_role(emi_err_t e, const char *role)
{
  if (e != EMI_ERR_IO) return e;
  char msg[1024];
  snprintf(msg, sizeof msg, "%s", emi_err_message());
  return EMI_ERROR(EMI_ERR_IO, "ipf: %s: %s", role, msg);
}

/* A column name that is the name of a dataset /ipf holds (fitted, margin_<k>): it cannot be a
 * dimension scale there, beside that dataset. */
static int reserved_name(const char *name)
{
  const int mk = !strncmp(name, "margin_", 7) && name[7] && strspn(name + 7, "0123456789") == strlen(name + 7);
  return !strcmp(name, "fitted") || mk;
}

/* Read the file's header and load it: every column but `value` is a dimension.  `h5_out`: the
 * HDF5 output (NULL for CSV), whose reserved names the columns are checked against from the header,
 * before any data is read or fitted. */
static emi_err_t file_load(ipf_file_t *f, const char *path, const char *role, const char *h5_out)
{
  emi_err_t err = EMI_SUCCESS;
  char **cols = NULL;
  int ncols = 0, nvalue = 0, empty_col = -1;
  f->path = path;
  EMI_TRY(with_role(emi_agg_read_header(path, 0, &ncols, &cols), role));
  for (int c = 0; c < ncols; c++) {
    if (!strcmp(cols[c], "value")) {
      nvalue++;
      continue;
    }
    if (!cols[c][0] && empty_col < 0) empty_col = c;
    if (f->ndim >= EMI_IPF_MAX_DIM)
      EMI_FAIL(EMI_ERR_INPUT, "%s:1: more than %d dimension columns", path, EMI_IPF_MAX_DIM);
    for (int d = 0; d < f->ndim; d++)
      if (!strcmp(f->names[d], cols[c])) EMI_FAIL(EMI_ERR_INPUT, "%s:1: column '%s' appears twice", path, cols[c]);
    if (!(f->names[f->ndim] = strdup(cols[c]))) EMI_FAIL(EMI_ERR_NOMEM, "cannot copy a column name");
    f->ndim++;
  }
  if (nvalue != 1) {
    char hdr[512] = "";
    size_t used = 0;
    int semi = 0;
    for (int c = 0; c < ncols && used < sizeof hdr; c++) {
      used += (size_t)snprintf(hdr + used, sizeof hdr - used, "%s'%s'", c ? ", " : "", cols[c]);
      if (strchr(cols[c], ';') || strchr(cols[c], '\t')) semi = 1;
    }
    EMI_FAIL(EMI_ERR_INPUT,
             "%s:1: expected exactly one column named 'value' (lower case) next to the dimension columns; found %d "
             "among the header's %d column(s): %s%s",
             path, nvalue, ncols, hdr, semi ? " (the file looks separated by ';' or tabs: commas are expected)" : "");
  }
  if (f->ndim == 0) EMI_FAIL(EMI_ERR_INPUT, "%s:1: no dimension column besides 'value'", path);
  /* every column of every file is a dimension of the table, so a scale of /ipf in HDF5 output */
  for (int d = 0; d < f->ndim && h5_out; d++)
    if (reserved_name(f->names[d]))
      EMI_FAIL(EMI_ERR_INPUT, "ipf: %s: column '%s' has the name of a dataset of /ipf (fitted, margin_<k>): rename the "
               "column in the input files to write -o %s", path, f->names[d], h5_out);
  if (empty_col >= 0) /* an empty first column is what R's write.csv writes for the row names */
    EMI_FAIL(EMI_ERR_INPUT, "%s:1: a column has an empty name (column %d of %d)%s", path, empty_col + 1, ncols,
             empty_col == 0 ? ": R's write.csv writes its row names there, under an empty name, unless "
                              "row.names = FALSE: write.csv(x, file, row.names = FALSE)"
                            : "");
  emi_agg_spec_t spec = {.dims = (const char *const *)f->names, .ndims = f->ndim, .value_col = "value",
                         .nonnegative = 1};
  EMI_TRY(with_role(emi_agg_read_csv(path, &spec, &f->agg), role));
  if (emi_agg_count(f->agg) == 0) EMI_FAIL(EMI_ERR_INPUT, "%s: no data rows (only a header)", path);
  if (emi_agg_count_missing(f->agg) > 0) {
    const uint8_t *miss = emi_agg_missing(f->agg);
    for (int64_t i = 0; i < emi_agg_count(f->agg); i++)
      if (miss[i])
        EMI_FAIL(EMI_ERR_INPUT, "%s:%lld: value is missing: IPF needs every cell (0 for a structural zero)", path,
                 (long long)emi_agg_lines(f->agg)[i]);
  }
cleanup:
  emi_agg_header_free(ncols, &cols);
  return err;
}

/* Fill dense array `out` (table order over the file's mapped dims) from the file's observations;
 * every cell must appear once.  codes[d][k] are the table's codes of table dimension d. */
static emi_err_t file_fill(const ipf_file_t *f, const size_t *tdims, char **const *codes, double *out, size_t n)
{
  emi_err_t err = EMI_SUCCESS;
  int32_t *lut[EMI_IPF_MAX_DIM] = {0};
  uint8_t *seen = NULL;
  const emi_agg_t *a = f->agg;
  EMI_CALLOC(seen, n, "cell flags");
  /* translate the file's sorted codes into table code indices */
  for (int d = 0; d < f->ndim; d++) {
    int td = f->map[d];
    int32_t nc = emi_agg_ncodes(a, d);
    EMI_MALLOC(lut[d], nc > 0 ? nc : 1, "code table");
    for (int32_t k = 0; k < nc; k++) {
      lut[d][k] = -1;
      for (size_t j = 0; j < tdims[td]; j++)
        if (!strcmp(codes[td][j], emi_agg_code(a, d, k))) lut[d][k] = (int32_t)j;
    }
  }
  for (int64_t i = 0; i < emi_agg_count(a); i++) {
    size_t idx = 0;
    for (int d = 0; d < f->ndim; d++) {
      int32_t k = emi_agg_code_index(a, d)[i];
      if (lut[d][k] < 0)
        EMI_FAIL(EMI_ERR_INPUT, "%s:%lld: %s = '%.80s' is not a code of the table's dimension '%s'", f->path,
                 (long long)emi_agg_lines(a)[i], f->names[d], emi_agg_code(a, d, k), f->names[d]);
      idx = idx * tdims[f->map[d]] + (size_t)lut[d][k];
    }
    out[idx] = emi_agg_values(a)[i];
    seen[idx] = 1;
  }
  for (size_t idx = 0; idx < n; idx++) {
    if (seen[idx]) continue;
    char cell[512] = "";
    size_t used = 0, rest = idx;
    size_t stride[EMI_IPF_MAX_DIM];
    for (int d = f->ndim - 1, s = 1; d >= 0; d--) stride[d] = (size_t)s, s *= (int)tdims[f->map[d]];
    for (int d = 0; d < f->ndim && used < sizeof cell; d++) {
      size_t k = rest / stride[d];
      rest %= stride[d];
      used += (size_t)snprintf(cell + used, sizeof cell - used, "%s%s=%s", d ? ", " : "", f->names[d],
                               codes[f->map[d]][k]);
    }
    EMI_FAIL(EMI_ERR_INPUT, "%s: no row for cell (%s): every cell needs a value (0 for a structural zero)", f->path,
             cell);
  }
cleanup:
  for (int d = 0; d < f->ndim; d++) free(lut[d]);
  free(seen);
  return err;
}

/* Shortest decimal that reads back as the same double (up to 17 digits). */
static void fmt_double(char *buf, size_t size, double v)
{
  for (int p = 6; p <= 17; p++) {
    snprintf(buf, size, "%.*g", p, v);
    if (strtod(buf, NULL) == v) return;
  }
}

static int csv_needs_quotes(const char *s) { return strpbrk(s, ",\"\r\n") != NULL; }

static void csv_field(FILE *fp, const char *s)
{
  if (!csv_needs_quotes(s)) {
    fputs(s, fp);
    return;
  }
  fputc('"', fp);
  for (; *s; s++) {
    if (*s == '"') fputc('"', fp);
    fputc(*s, fp);
  }
  fputc('"', fp);
}

static emi_err_t write_csv_body(FILE *fp, const char *part, const char *path, int ndim, const size_t *dims,
                                char *const *names, char **const *codes, const double *x, size_t n);

static emi_err_t write_csv(const char *path, int ndim, const size_t *dims, char *const *names, char **const *codes,
                           const double *x, size_t n)
{
  char part[4096];
  if (snprintf(part, sizeof part, "%s.part", path) >= (int)sizeof part)
    return EMI_ERROR(EMI_ERR_ARG, "output path too long: %s", path);
  emi_part_register(part); /* before it exists: no instant where a signal leaves it */
  FILE *fp = fopen(part, "w");
  if (!fp) {
    emi_part_unregister(part);
    return EMI_ERROR(EMI_ERR_IO, "cannot create %s: %s", part, strerror(errno));
  }
  emi_err_t err = write_csv_body(fp, part, path, ndim, dims, names, codes, x, n);
  emi_part_unregister(part);
  return err;
}

static emi_err_t write_csv_body(FILE *fp, const char *part, const char *path, int ndim, const size_t *dims,
                                char *const *names, char **const *codes, const double *x, size_t n)
{
  for (int d = 0; d < ndim; d++) {
    csv_field(fp, names[d]);
    fputc(',', fp);
  }
  fputs("value\n", fp);
  for (size_t idx = 0; idx < n; idx++) {
    size_t rest = idx, stride = n;
    for (int d = 0; d < ndim; d++) {
      stride /= dims[d];
      csv_field(fp, codes[d][rest / stride]);
      rest %= stride;
      fputc(',', fp);
    }
    char num[40];
    fmt_double(num, sizeof num, x[idx]);
    fprintf(fp, "%s\n", num);
  }
  int bad = ferror(fp), saved = errno; /* errno of the failed write, when one failed */
  int closed = fclose(fp), werr = closed ? errno : saved;
  if (werr == 0) werr = EIO;
  if (closed != 0 || bad) {
    remove(part);
    return EMI_ERROR(EMI_ERR_IO, "cannot write %s: %s", part, strerror(werr));
  }
  if (rename(part, path) != 0) {
    int e = errno;
    remove(part);
    return EMI_ERROR(EMI_ERR_IO, "cannot rename %s to %s: %s", part, path, strerror(e));
  }
  return EMI_SUCCESS;
}

static int ends_with(const char *s, const char *suffix)
{
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && !strcasecmp(s + n - m, suffix);
}

/* -o names an HDF5 file: .h5 or .hdf5, in any case (o.H5 got CSV text before) */
static int is_h5_path(const char *s) { return ends_with(s, ".h5") || ends_with(s, ".hdf5"); }

static emi_err_t write_h5(emi_ctx_t *ctx, const char *path, int ndim, const size_t *dims, char **names,
                          char **const *codes, const double *x, int nfiles, const ipf_file_t *files, int has_seed,
                          double *const *targets, const emi_ipf_margin_t *margins, const emi_ipf_result_t *res,
                          const char *rescale)
{
  emi_err_t err = EMI_SUCCESS;
  emi_h5_file_t *f = NULL;
  emi_provenance_t *prov = NULL;
  char scale[EMI_IPF_MAX_DIM][300];
  const char *scales[EMI_IPF_MAX_DIM];
  uint64_t gd[EMI_IPF_MAX_DIM];
  /* the scales carry the columns' own names (xarray, export and R show `origin`, not `dim_origin`);
   * the names of /ipf's datasets are reserved: file_load refused them before the fit */
  for (int d = 0; d < ndim; d++)
    if (reserved_name(names[d])) EMI_FAIL(EMI_ERR_INTERNAL, "ipf: column '%s' reached the HDF5 output", names[d]);
  EMI_TRY(emi_output_begin(ctx, path, &f, &prov));
  for (int k = 0; k < nfiles; k++) EMI_TRY(emi_provenance_add_input(prov, files[k].path));
  EMI_TRY(emi_h5_group_ensure(f, "/ipf"));
  for (int d = 0; d < ndim; d++) {
    char name[256];
    snprintf(name, sizeof name, "%s", names[d]);
    EMI_TRY(emi_h5_write_scale_str(f, "/ipf", name, dims[d], (const char *const *)codes[d], "",
                                   "codes of a table dimension"));
    snprintf(scale[d], sizeof scale[d], "/ipf/%s", name);
    scales[d] = scale[d];
    gd[d] = dims[d];
  }
  EMI_TRY(emi_h5_write_array(f, "/ipf/fitted", EMI_H5_DOUBLE, ndim, gd, scales, 0, ctx->rank == 0 ? gd[0] : 0,
                             ctx->rank == 0 ? x : NULL, "1", "IPF-fitted table (units of the margins)"));
  for (int m = 0; m < nfiles - has_seed; m++) {
    char p[64];
    const char *ms[EMI_IPF_MAX_DIM];
    uint64_t md[EMI_IPF_MAX_DIM];
    for (int j = 0; j < margins[m].ndim; j++) md[j] = dims[margins[m].dims[j]], ms[j] = scales[margins[m].dims[j]];
    snprintf(p, sizeof p, "/ipf/margin_%d", m);
    EMI_TRY(emi_h5_write_array(f, p, EMI_H5_DOUBLE, margins[m].ndim, md, ms, 0, ctx->rank == 0 ? md[0] : 0,
                               ctx->rank == 0 ? targets[m] : NULL, "1", "margin targets"));
    EMI_TRY(emi_h5_attr_str(f, p, "source_file", files[m + has_seed].path));
    /* under a rescale policy the fit meets these targets times total / their sum (the kernel's
     * factor, summed in the same order): said here, since the stored targets are as read */
    size_t mn = 1;
    double tot = 0.0;
    for (int j = 0; j < margins[m].ndim; j++) mn *= dims[margins[m].dims[j]];
    for (size_t i = 0; i < mn; i++) tot += targets[m][i];
    const double fac = rescale && strcmp(rescale, "error") && tot > 0 && tot != res->total ? res->total / tot : 1.0;
    EMI_TRY(emi_h5_attr_double(f, p, "rescale_factor", fac));
  }
  EMI_TRY(emi_h5_attr_str(f, "/ipf", "rescale", rescale ? rescale : "error"));
  EMI_TRY(emi_h5_attr_int(f, "/ipf", "iterations", res->iterations));
  EMI_TRY(emi_h5_attr_double(f, "/ipf", "max_deviation", res->max_dev));
  EMI_TRY(emi_h5_attr_double(f, "/ipf", "tolerance", res->tol));
  EMI_TRY(emi_h5_attr_str(f, "/ipf", "status", res->converged ? "converged" : "not converged"));
  EMI_TRY(emi_output_finish(ctx, &f, prov));
cleanup:
  emi_h5_file_abort(&f);
  emi_provenance_destroy(&prov);
  return err;
}

/* Margin m's cell `flat` (row-major over the margin's dimensions) by its codes: "origin=A, destination=B". */
static void fmt_cell_codes(char *buf, size_t len, const emi_ipf_margin_t *mg, const size_t *dims, char **names,
                           char **const *codes, size_t flat)
{
  size_t used = 0, stride = 1;
  buf[0] = '\0';
  for (int j = 0; j < mg->ndim; j++) stride *= dims[mg->dims[j]];
  for (int j = 0; j < mg->ndim && used < len; j++) {
    const int d = mg->dims[j];
    stride /= dims[d];
    used += (size_t)snprintf(buf + used, len - used, "%s%s=%s", j ? ", " : "", names[d], codes[d][flat / stride]);
    flat %= stride;
  }
}

/* 1 when a and b are the same once spaces and tabs around them are trimmed. */
static int same_trimmed(const char *a, const char *b)
{
  size_t na = strlen(a), nb = strlen(b);
  while (na && (*a == ' ' || *a == '\t')) a++, na--;
  while (na && (a[na - 1] == ' ' || a[na - 1] == '\t')) na--;
  while (nb && (*b == ' ' || *b == '\t')) b++, nb--;
  while (nb && (b[nb - 1] == ' ' || b[nb - 1] == '\t')) nb--;
  return na == nb && !memcmp(a, b, na);
}

/* 1 when s starts or ends with a space or a tab. */
static int padded(const char *s)
{
  size_t n = strlen(s);
  return n && (s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t');
}

emi_err_t emi_cmd_ipf(emi_ctx_t *ctx)
{
  emi_err_t err = EMI_SUCCESS, fit_err = EMI_SUCCESS;
  ipf_file_t files[IPF_MAX_FILES];
  int nfiles = 0, nm = 0, has_seed = 0, ndim = 0, accept = 0;
  const char *const *mpaths = NULL;
  const char *seed_path = NULL, *out_path = NULL, *rescale = NULL;
  char *names[EMI_IPF_MAX_DIM] = {0};
  char **codes[EMI_IPF_MAX_DIM] = {0};
  size_t dims[EMI_IPF_MAX_DIM];
  double *x = NULL, *work = NULL, *targets[EMI_IPF_MAX_MARGINS] = {0};
  int mdims[EMI_IPF_MAX_MARGINS][EMI_IPF_MAX_DIM];
  emi_ipf_margin_t margins[EMI_IPF_MAX_MARGINS];
  emi_ipf_opts_t o;
  emi_ipf_result_t res = {0};
  int64_t max_iter = 0;
  memset(files, 0, sizeof files);

  emi_ipf_opts_default(&o);
  EMI_TRY(emi_opts_get_list(ctx->opts, "margin", &nm, &mpaths));
  EMI_TRY(emi_opts_get_str(ctx->opts, "output", &out_path));
  EMI_TRY(emi_opts_get_real(ctx->opts, "tol-rel", &o.tol_rel));
  EMI_TRY(emi_opts_get_real(ctx->opts, "tol-abs", &o.tol_abs));
  o.total_tol_rel = -1.0;
  if (emi_opts_is_set(ctx->opts, "total-tol-rel")) EMI_TRY(emi_opts_get_real(ctx->opts, "total-tol-rel", &o.total_tol_rel));
  EMI_TRY(emi_opts_get_int(ctx->opts, "max-iter", &max_iter));
  EMI_TRY(emi_opts_get_str(ctx->opts, "rescale", &rescale));
  EMI_TRY(emi_opts_get_flag(ctx->opts, "accept-nonconverged", &accept));
  o.max_iter = (int)max_iter;
  o.rescale = !strcmp(rescale, "first") ? EMI_IPF_RESCALE_TO_FIRST
              : !strcmp(rescale, "mean") ? EMI_IPF_RESCALE_TO_MEAN
                                         : EMI_IPF_RESCALE_ERROR;
  if (nm < 1) EMI_FAIL(EMI_ERR_USAGE, "ipf: give at least one --margin FILE");
  if (o.total_tol_rel < 0) o.total_tol_rel = o.tol_rel > 0 ? o.tol_rel / 10 : 1e-12;
  if (o.tol_rel == 0 && o.tol_abs == 0)
    EMI_FAIL(EMI_ERR_USAGE, "ipf: --tol-rel and --tol-abs are both 0: no fit can reach that; give one of them > 0");
  if (!strcmp(out_path, "-"))
    EMI_FAIL(EMI_ERR_USAGE, "ipf: -o -: standard output is not supported: expected a file name (OUT.csv, or OUT.h5 "
             "for HDF5)");
  EMI_TRY(emi_output_check_path(out_path));
  if (o.tol_rel > 0 && o.total_tol_rel >= o.tol_rel)
    EMI_FAIL(EMI_ERR_CONFIG, "ipf: --total-tol-rel %g must be below --tol-rel %g (totals that agree only to "
             "total-tol-rel cannot be fitted to tol-rel)", o.total_tol_rel, o.tol_rel);
  if (nm > EMI_IPF_MAX_MARGINS) EMI_FAIL(EMI_ERR_USAGE, "ipf: at most %d margins", EMI_IPF_MAX_MARGINS);

  /* load the seed (file 0 when given) and the margins */
  const char *h5_out = is_h5_path(out_path) ? out_path : NULL;
  if (emi_opts_is_set(ctx->opts, "seed")) {
    EMI_TRY(emi_opts_get_str(ctx->opts, "seed", &seed_path));
    has_seed = 1;
    char where[1200], role[1300];
    emi_opts_describe(ctx->opts, "seed", where, sizeof where);
    snprintf(role, sizeof role, "seed (%s)", where);
    EMI_TRY(file_load(&files[nfiles++], seed_path, role, h5_out));
  }
  for (int m = 0; m < nm; m++) { /* numbered from 0, as the fit's messages and /ipf/margin_<k> */
    char where[1200], role[1300];
    emi_opts_describe_item(ctx->opts, "margin", mpaths[m], where, sizeof where);
    snprintf(role, sizeof role, "margin %d (%s)", m, where);
    EMI_TRY(file_load(&files[nfiles++], mpaths[m], role, h5_out));
  }
  for (int k = 0; k < nfiles; k++) EMI_TRY(emi_output_check_not_input(out_path, files[k].path));
  EMI_TRY(emi_output_check_not_config(out_path, ctx->config_path));

  /* the table's dimensions: the seed's columns, or the margins' columns in order of appearance */
  for (int k = 0; k < nfiles; k++) {
    for (int d = 0; d < files[k].ndim; d++) {
      int td = -1;
      for (int j = 0; j < ndim; j++)
        if (!strcmp(names[j], files[k].names[d])) td = j;
      if (td < 0) {
        if (has_seed && k > 0) {
          /* the seed's columns quoted exactly, so that spaces around a name show; a name that matches
           * once spaces are trimmed is said to (names are not trimmed: the match must be exact) */
          char cols[1024] = "", near[600] = "";
          size_t used = 0;
          for (int j = 0; j < files[0].ndim && used < sizeof cols; j++) {
            used += (size_t)snprintf(cols + used, sizeof cols - used, "%s'%s'", j ? ", " : "", files[0].names[j]);
            if (!near[0] && same_trimmed(files[0].names[j], files[k].names[d])) {
              const int ss = padded(files[0].names[j]), ms = padded(files[k].names[d]);
              snprintf(near, sizeof near, "; the seed has '%s' (%s): names must match exactly, spaces included",
                       files[0].names[j], ss && !ms ? "with spaces" : !ss && ms ? "without spaces" : "with other spaces");
            }
          }
          EMI_FAIL(EMI_ERR_INPUT, "%s:1: margin column '%s' is not a column of the seed %s, whose dimension columns "
                   "are %s%s", files[k].path, files[k].names[d], seed_path, cols, near);
        }
        if (ndim >= EMI_IPF_MAX_DIM) EMI_FAIL(EMI_ERR_INPUT, "more than %d dimensions in all", EMI_IPF_MAX_DIM);
        td = ndim++;
        names[td] = files[k].names[d];
        /* codes come from the first file that names the dimension */
        dims[td] = (size_t)emi_agg_ncodes(files[k].agg, d);
        EMI_CALLOC(codes[td], dims[td], "codes");
        for (size_t j = 0; j < dims[td]; j++) codes[td][j] = (char *)emi_agg_code(files[k].agg, d, (int32_t)j);
      }
      files[k].map[d] = td;
    }
  }
  /* every file must have exactly the table's codes on each of its dimensions */
  for (int k = 0; k < nfiles; k++)
    for (int d = 0; d < files[k].ndim; d++) {
      int td = files[k].map[d];
      for (size_t j = 0; j < dims[td]; j++)
        if (emi_agg_code_find(files[k].agg, d, codes[td][j]) < 0)
          EMI_FAIL(EMI_ERR_INPUT, "%s: has no row with %s = '%.80s', a code the %s has", files[k].path,
                   files[k].names[d], codes[td][j], has_seed ? "seed" : "first file naming that dimension");
    }

  /* the table's size: the product of the dimension sizes, checked before anything is allocated */
  size_t n = 1;
  for (int d = 0; d < ndim; d++) {
    if (n > EMI_IPF_CMD_MAX_CELLS / dims[d]) {
      char shape[256] = "";
      size_t used = 0;
      for (int j = 0; j < ndim && used < sizeof shape; j++)
        used += (size_t)snprintf(shape + used, sizeof shape - used, "%s%s %zu", j ? " x " : "", names[j], dims[j]);
      EMI_FAIL(EMI_ERR_INPUT, "ipf: the table (%s) has more than %.3g cells: too large", shape,
               (double)EMI_IPF_CMD_MAX_CELLS);
    }
    n *= dims[d];
  }
  if (is_h5_path(out_path))
    for (int d = 0; d < ndim; d++)
      if (strchr(names[d], '/') || strlen(names[d]) > 200 || !strcmp(names[d], ".") || !strcmp(names[d], ".."))
        EMI_FAIL(EMI_ERR_INPUT, "ipf: column name '%.40s%s' cannot name an HDF5 dataset (no '/', not '.' or '..', "
                 "at most 200 characters): rename it, or write CSV", names[d], strlen(names[d]) > 40 ? "..." : "");
  EMI_MALLOC(x, n, "IPF table");
  double seed_lo = INFINITY, seed_hi = 0.0, margin_total = 0.0; /* for messages */
  int underflow = 0;   /* sweeps done when a round found the table's support gone */
  int stalled = 0, sweeps_done = 0;
  if (has_seed) EMI_TRY(file_fill(&files[0], dims, codes, x, n));
  else
    for (size_t i = 0; i < n; i++) x[i] = 1.0;
  for (int m = 0; m < nm; m++) {
    const ipf_file_t *f = &files[m + has_seed];
    size_t mn = 1;
    for (int d = 0; d < f->ndim; d++) mn *= dims[f->map[d]], mdims[m][d] = f->map[d];
    EMI_MALLOC(targets[m], mn, "margin targets");
    EMI_TRY(file_fill(f, dims, codes, targets[m], mn));
    margins[m] = (emi_ipf_margin_t){.ndim = f->ndim, .dims = mdims[m], .target = targets[m]};
  }

  /* totals must be finite (1e308 + 1e308 overflows) and, when margins are rescaled, not zero
   * next to a positive one (scaling to zero would wipe the positive margin) */
  {
    double seed_total = 0.0;
    for (size_t i = 0; i < n; i++) seed_total += x[i];
    if (!isfinite(seed_total))
      EMI_FAIL(EMI_ERR_INPUT, "%s: the seed's values sum beyond the largest double: rescale the data", seed_path);
    int zero = 0, positive = 0;
    double tot0 = 0.0;
    for (int m = 0; m < nm; m++) {
      size_t mn = 1;
      double tot = 0.0;
      for (int j = 0; j < margins[m].ndim; j++) mn *= dims[margins[m].dims[j]];
      for (size_t i = 0; i < mn; i++) tot += targets[m][i];
      if (!isfinite(tot))
        EMI_FAIL(EMI_ERR_INPUT, "%s: the margin's values sum beyond the largest double: rescale the data",
                 files[m + has_seed].path);
      zero += tot == 0.0;
      positive += tot > 0.0;
      if (m == 0) tot0 = tot;
    }
    if (o.rescale != EMI_IPF_RESCALE_ERROR && zero && positive)
      EMI_FAIL(EMI_ERR_INCONSISTENT, "ipf: --rescale %s: some margins sum to 0 and others do not: rescaling cannot "
               "make them agree", rescale);
    /* The fit does not change when the seed is scaled by a power of two (every sum, factor and product
     * scales exactly, so the fitted table has the same bits), but a seed far from its margins' scale
     * (1e300 against 1e-300) makes the first factors underflow to 0 or overflow.  So such a seed is
     * brought to the margins' scale first, when none of its positive values leaves the doubles on the
     * way. */
    for (size_t i = 0; i < n; i++)
      if (x[i] > 0) seed_lo = fmin(seed_lo, x[i]), seed_hi = fmax(seed_hi, x[i]);
    margin_total = tot0;
    if (seed_total > 0 && tot0 > 0) {
      const int e = ilogb(tot0) - ilogb(seed_total);
      const double lo = seed_lo, hi = seed_hi;
      if ((e > 256 || e < -256) && ldexp(lo, e) >= DBL_MIN && isfinite(ldexp(hi, e))) {
        for (size_t i = 0; i < n; i++) x[i] = ldexp(x[i], e);
        emi_log_info("ipf: the seed (total %.3g) is scaled by 2^%d to the scale of the margins (total %.3g) so that "
                     "the factors stay within double precision; the fit is the same", seed_total, e, tot0);
      }
    }
  }
  size_t lwork = emi_ipf_work_len(ndim, dims, nm, margins);
  EMI_MALLOC(work, lwork ? lwork : 1, "IPF workspace");
  /* Fit in rounds of sweeps so that long fits report progress and a fit that stalls (an
   * infeasible zero pattern the pre-checks cannot see) stops instead of running to max-iter.
   * Rounds continue from the current table: the iterates are those of one long call. */
  {
    emi_progress_t prog;
    emi_ipf_opts_t round = o;
    int done = 0;
    double prev_dev = INFINITY;
    emi_progress_begin(&prog, "ipf", (double)o.max_iter, "sweeps");
    for (;;) {
      round.max_iter = o.max_iter - done < 200 ? o.max_iter - done : 200;
      fit_err = emi_ipf_fit(ndim, dims, x, nm, margins, &round, work, lwork, &res);
      if (fit_err != EMI_SUCCESS && fit_err != EMI_ERR_NOCONV && done > 0) {
        /* a later round refused the table the last one left: overflowed (non-finite cells, checked
         * below) or underflowed (the positive cells the seed had are gone) */
        underflow = fit_err == EMI_ERR_INFEASIBLE ? done : 0;
        break;
      }
      done += res.iterations;
      res.iterations = done;
      if (fit_err != EMI_ERR_NOCONV || done >= o.max_iter) break;
      /* no progress over a whole round of 200 sweeps: the margins cannot be met */
      if (res.max_dev >= prev_dev * (1.0 - 1e-9)) {
        stalled = 1;
        break;
      }
      prev_dev = res.max_dev;
      emi_err_clear();
      emi_progress_update(&prog, done);
    }
    emi_progress_end(&prog, done);
    sweeps_done = done;
  }
  /* a seed tiny against its margins can overflow the scaling factors: never write NaN or Inf (the
   * seed itself was checked by the kernel: only a table after sweeps can hold them) */
  for (size_t i = 0; i < n && (sweeps_done > 0 || underflow); i++)
    if (!isfinite(x[i])) {
      emi_err_clear();
      EMI_FAIL(EMI_ERR_DOMAIN, "ipf: the fit overflowed: scaling factors went beyond the largest double (seed values "
               "%.3g .. %.3g against margin totals of %.3g): rescale the seed or the margins", seed_lo, seed_hi,
               margin_total);
    }
  if (underflow) {
    /* the seed passed the support check, so a later round's table lost its positive cells: the
     * scaling factors underflowed to 0 */
    emi_err_clear();
    EMI_FAIL(EMI_ERR_DOMAIN,
             "ipf: the fit underflowed within %d sweeps: scaling factors fell below the smallest double and wiped "
             "cells out (seed values %.3g .. %.3g against margin totals of %.3g): rescale the seed or the margins",
             underflow, seed_lo, seed_hi, margin_total);
  }
  char worst_codes[512] = "?";
  if (res.worst_margin >= 0 && res.worst_margin < nm)
    fmt_cell_codes(worst_codes, sizeof worst_codes, &margins[res.worst_margin], dims, names, codes, res.worst_cell);
  /* a stall at rounding level is a tolerance below what double precision reaches, not an infeasible
   * pattern: reported as non-convergence (--accept-nonconverged applies) */
  const int precision_limit = stalled && res.max_dev <= 1e-12 * res.total;
  if (precision_limit) stalled = 0;
  if (stalled)
    EMI_FAIL(EMI_ERR_INFEASIBLE,
             "ipf: the fit stalled after %d sweeps with the largest deviation %.6g in margin %d (%s) at %s: these "
             "margins cannot be met with this seed's pattern of zeros",
             sweeps_done, res.max_dev, res.worst_margin,
             res.worst_margin >= 0 ? files[res.worst_margin + has_seed].path : "?", worst_codes);
  if (fit_err && fit_err != EMI_ERR_NOCONV) {
    /* name the margin by its file: the kernel says "margin k" */
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", emi_err_message());
    char files_txt[1024] = "";
    size_t used = 0;
    for (int m = 0; m < nm && used < sizeof files_txt; m++) {
      const ipf_file_t *mf = &files[m + has_seed];
      used += (size_t)snprintf(files_txt + used, sizeof files_txt - used, "%smargin %d = %s: ", m ? "; " : "", m,
                               mf->path);
      for (int d = 0; d < mf->ndim && used < sizeof files_txt; d++) /* dims {k} are the table's: name them */
        used += (size_t)snprintf(files_txt + used, sizeof files_txt - used, "%s%s (dim %d)", d ? ", " : "",
                                 mf->names[d], mf->map[d]);
    }
    /* the rescale hint only where a policy can help: grand totals that disagree under the default
     * policy (margins that disagree over shared dimensions are not fixed by a common scale) */
    const int totals = fit_err == EMI_ERR_INCONSISTENT && !strstr(msg, "shared dimensions");
    char named[600] = ""; /* the cell the kernel names by index, by its codes */
    if (fit_err == EMI_ERR_INFEASIBLE && res.worst_margin >= 0 && res.worst_margin < nm) {
      char cc[512];
      fmt_cell_codes(cc, sizeof cc, &margins[res.worst_margin], dims, names, codes, res.worst_cell);
      snprintf(named, sizeof named, "; that cell is %s", cc);
    }
    EMI_FAIL(fit_err, "%s (%s)%s%s", msg, files_txt, named,
             totals && o.rescale == EMI_IPF_RESCALE_ERROR
                 ? "; the policy is --rescale first|mean (default error), the tolerance --total-tol-rel (default "
                   "tol-rel / 10)"
             : fit_err == EMI_ERR_INCONSISTENT && !totals
                 ? "; a rescale policy cannot fix this: the margins must agree on their common sums"
                 : "");
  }
  emi_log_info("ipf: %d-D table of %zu cells, %d margin(s): %s after %d iteration(s), largest margin deviation "
               "%.3g (tolerance %.3g)",
               ndim, n, nm, res.converged ? "converged" : "NOT converged", res.iterations, res.max_dev, res.tol);
  if (fit_err == EMI_ERR_NOCONV && !accept)
    EMI_FAIL(EMI_ERR_NOCONV,
             "ipf: not converged after %d iterations: largest deviation %.6g in margin %d (%s) at %s exceeds tolerance "
             "%.3g; nothing written (%s, or --accept-nonconverged to write the last iterate)",
             res.iterations, res.max_dev, res.worst_margin,
             res.worst_margin >= 0 ? files[res.worst_margin + has_seed].path : "?", worst_codes, res.tol,
             precision_limit ? "the deviation stopped decreasing at the limit of double precision, so more sweeps "
                               "cannot help: raise --tol-rel / --tol-abs"
                             : "raise --max-iter");
  if (fit_err == EMI_ERR_NOCONV) emi_log_warn("ipf: writing a NOT converged table (--accept-nonconverged)");

  if (is_h5_path(out_path)) {
    EMI_TRY(write_h5(ctx, out_path, ndim, dims, names, codes, x, nfiles, files, has_seed, targets, margins, &res,
                     rescale));
  } else {
    emi_err_t werr = ctx->rank == 0 ? write_csv(out_path, ndim, dims, names, codes, x, n) : EMI_SUCCESS;
    EMI_TRY(emi_mpi_agree(ctx->comm, werr, NULL));
  }
  emi_log_info("ipf: wrote %s", out_path);

cleanup:
  for (int k = 0; k < nfiles; k++) file_clear(&files[k]);
  for (int d = 0; d < ndim; d++) free(codes[d]);
  for (int m = 0; m < nm && m < EMI_IPF_MAX_MARGINS; m++) free(targets[m]);
  free(x);
  free(work);
  return err;
}
