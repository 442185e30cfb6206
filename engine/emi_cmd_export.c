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
 * Serial: it reads with the default (POSIX) driver and needs no MPI.  Under mpiexec only the launcher's
 * rank 0 reads and writes (the rank comes from the launcher's environment: OMPI_COMM_WORLD_RANK,
 * PMIX_RANK, PMI_RANK); the other ranks do nothing and exit 0, so that the CSV is printed once and -o
 * never has two processes writing and renaming the same files.  MPI is not initialised: `emflow report
 * --publish` runs export as a child of its rank 0, where a second MPI_Init would not be allowed.
 * With -o the CSV is written under OUT.csv.part and renamed when complete; without it, to stdout.
 *
 * --publish (issue 7): a table for partners.  Only datasets stored as integers (tables of counts) are
 * accepted; every value goes through kernels/emi_disclose.h: random rounding to --round-base (3: Stats
 * NZ's RR3) with the Philox stream of its cell index, and cells whose unrounded count is below
 * --suppress-below are written as the marker S.  The seed is --round-seed, or by default one derived
 * from the source file's bytes and the dataset path (SHA-256 of a domain tag, the path and the bytes),
 * so that reruns on the same file agree and a partner, who does not have the file, cannot compute it.
 * The label travels with the table: with -o, OUT.csv.disclosure.json (method, base, threshold, marker,
 * cells and cells suppressed, seed origin and a fingerprint of the seed (not the seed), source file,
 * dataset and SHA-256, the CSV's SHA-256) is written under .part and renamed right after the CSV.
 * Without -o the CSV goes to stdout and the protection is stated on stderr (no label file).  An export
 * without --publish never writes a label, and removes a stale OUT.csv.disclosure.json before its CSV
 * takes the name, so that an unprotected table never sits next to a partner-safe label.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>
#include <hdf5_hl.h>
#include <sodium.h>

#include "emi_call.h"
#include "emi_cli.h"
#include "emi_commands.h"
#include "emi_disclose.h"
#include "emi_h5read.h"
#include "emi_log.h"
#include "emi_output.h"
#include "emi_version.h"

const emi_opt_spec_t emi_export_specs[] = {
  EMI_OPTS_COMMON,
  {"output", "export", EMI_OPT_PATH, NULL, "", "output CSV file (default: standard output)", 0, 0, NULL, 'o'},
  {"publish", "export", EMI_OPT_FLAG, "false", "", "a table for partners: integer counts only, randomly rounded to "
   "round-base, cells below suppress-below written as S; with -o a label OUT.csv.disclosure.json is written next to it"},
  {"round-base", "export", EMI_OPT_INT, "3", "persons", "publish: random rounding base (3: Stats NZ RR3)", 2,
   (double)EMI_DISCLOSE_BASE_MAX},
  {"round-seed", "export", EMI_OPT_INT, NULL, "", "publish: rounding seed; keep it private (default: derived from the "
   "source file's contents and the dataset path)", 0, 9.2e18},
  {"suppress-below", "export", EMI_OPT_INT, "6", "persons", "publish: suppress cells whose unrounded count is below "
   "this (0: none)", 0, 1e15},
};
const int emi_export_nspecs = (int)(sizeof emi_export_specs / sizeof emi_export_specs[0]);

#define MAX_DIMS 32
#define MAX_LIST 12 /* datasets named in a "no such dataset" message about the whole file */
#define EMI_ERR_MSG_ROOM 900 /* of the 1 KiB an error message holds */
#define MAX_LIST_GROUP 400 /* ... and about a group given instead of a dataset: all of them */

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
  char list[24576];
  int n, max;
  const char *prefix; /* the group visited ("" for the file) */
} dslist_t;

static herr_t list_datasets(hid_t obj, const char *name, const H5O_info_t *info, void *data)
{
  (void)obj;
  dslist_t *l = data;
  if (info->type != H5O_TYPE_DATASET) return 0;
  if (l->n < l->max) {
    size_t used = strlen(l->list);
    snprintf(l->list + used, sizeof l->list - used, "%s%s/%s", l->n ? ", " : "", l->prefix ? l->prefix : "", name);
  } else if (l->n == l->max) {
    size_t used = strlen(l->list);
    snprintf(l->list + used, sizeof l->list - used, ", ...");
  }
  l->n++;
  return 0;
}

/* Was option `name` given (command line or config file) rather than left at its default? */
static int opt_given(const emi_opts_t *o, const char *name)
{
  for (int i = 0; i < emi_opts_count(o); i++) {
    const char *n, *v, *u, *src;
    emi_opts_row(o, i, &n, &v, &u, &src);
    if (!strcmp(n, name)) return strcmp(src, "default") != 0 && strcmp(src, "unset") != 0;
  }
  return 0;
}

#define PUB_MARKER "S" /* a suppressed cell in a published CSV */
#define SEED_TAG "emflow export --publish: RR seed v1"
#define FP_TAG "emflow export --publish: seed fingerprint v1"

/* SHA-256 of a file's bytes (hex), and, when seed is not NULL, the default rounding seed: the first 8
 * bytes (little endian) of SHA-256(SEED_TAG, NUL, dataset, NUL, the file's bytes). */
static emi_err_t hash_source(const char *path, const char *dset, char hex[65], uint64_t *seed)
{
  emi_err_t err = EMI_SUCCESS;
  crypto_hash_sha256_state a, b;
  unsigned char buf[1 << 16], da[crypto_hash_sha256_BYTES], db[crypto_hash_sha256_BYTES];
  FILE *f = fopen(path, "rb");
  if (!f) EMI_FAIL(EMI_ERR_IO, "export: %s: cannot open: %s", path, strerror(errno));
  crypto_hash_sha256_init(&a);
  crypto_hash_sha256_init(&b);
  crypto_hash_sha256_update(&b, (const unsigned char *)SEED_TAG, sizeof SEED_TAG); /* with its NUL */
  crypto_hash_sha256_update(&b, (const unsigned char *)dset, strlen(dset) + 1);
  size_t got;
  while ((got = fread(buf, 1, sizeof buf, f)) > 0) {
    crypto_hash_sha256_update(&a, buf, got);
    crypto_hash_sha256_update(&b, buf, got);
  }
  if (ferror(f)) EMI_FAIL(EMI_ERR_IO, "export: %s: cannot read: %s", path, strerror(errno));
  crypto_hash_sha256_final(&a, da);
  crypto_hash_sha256_final(&b, db);
  for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", da[i]);
  if (seed) {
    uint64_t s = 0;
    for (int i = 7; i >= 0; i--) s = (s << 8) | db[i];
    *seed = s;
  }
cleanup:
  if (f) fclose(f);
  return err;
}

/* A fingerprint of the seed for the label: 16 hex digits of SHA-256(FP_TAG, seed as decimal, source
 * SHA-256).  The producer can check which seed made a table; a partner cannot invert it for a
 * well-chosen seed (a small --round-seed such as 42 CAN be found by trying: use a large random one). */
static void seed_fingerprint(uint64_t seed, const char *src_hex, char fp[17])
{
  char text[256];
  unsigned char d[crypto_hash_sha256_BYTES];
  int len = snprintf(text, sizeof text, "%s%c%llu%c%s", FP_TAG, 0, (unsigned long long)seed, 0, src_hex);
  crypto_hash_sha256(d, (const unsigned char *)text, (unsigned long long)len);
  for (int i = 0; i < 8; i++) snprintf(fp + 2 * i, 3, "%02x", d[i]);
}

static void json_str(FILE *f, const char *s)
{
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
    else if (c < 0x20) fprintf(f, "\\u%04x", c);
    else fputc(c, f);
  }
  fputc('"', f);
}

/* The labels of cell k ("name=label, ..."), for messages. */
static void cell_labels(int ndims, const hsize_t *dims, char names[][64], const emi_column_t *lab, size_t k, char *buf,
                        size_t size)
{
  size_t idx[MAX_DIMS];
  for (int d = ndims - 1; d >= 0; d--) idx[d] = k % dims[d], k /= dims[d];
  buf[0] = '\0';
  for (int d = 0; d < ndims; d++) {
    char v[96];
    const emi_column_t *c = &lab[d];
    if (!c->n) snprintf(v, sizeof v, "%zu", idx[d]);
    else if (c->kind == EMI_COL_INT) snprintf(v, sizeof v, "%" PRId64, c->i[idx[d]]);
    else if (c->kind == EMI_COL_UINT) snprintf(v, sizeof v, "%" PRIu64, c->u[idx[d]]);
    else if (c->kind == EMI_COL_REAL) snprintf(v, sizeof v, "%g", c->d[idx[d]]);
    else snprintf(v, sizeof v, "%.80s", c->s[idx[d]]);
    size_t used = strlen(buf);
    snprintf(buf + used, size - used, "%s%s=%s", d ? ", " : "", names[d], v);
  }
  if (!ndims) snprintf(buf, size, "the scalar");
}

/* This process's rank as its MPI launcher set it (0 when not launched by mpiexec). */
static long launcher_rank(void)
{
  static const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"};
  for (int i = 0; i < 3; i++) {
    const char *v = getenv(vars[i]);
    char *end = NULL;
    if (v && *v) {
      long r = strtol(v, &end, 10);
      if (*end == '\0' && r >= 0) return r;
    }
  }
  return 0;
}

/* SHA-256 (hex) of a whole file. */
static emi_err_t hash_file(const char *path, char hex[65]) { return hash_source(path, "", hex, NULL); }

emi_err_t emi_cmd_export(emi_ctx_t *ctx)
{
  emi_err_t err = EMI_SUCCESS;
  const char *file = ctx->pos[0], *dset = ctx->pos[1], *outp = NULL;
  hid_t fid = H5I_INVALID_HID, did = H5I_INVALID_HID, sp = H5I_INVALID_HID;
  emi_column_t val, lab[MAX_DIMS];
  char names[MAX_DIMS][64], *part = NULL, *jpath = NULL, *jpart = NULL, *dset_abs = NULL;
  FILE *out = stdout, *jf = NULL;
  int ndims = 0, publish = 0, seed_given = 0;
  int64_t *cnt = NULL, *pub = NULL;
  emi_disclose_t dp = {0};
  emi_disclose_stats_t dst = {0};
  char src_hex[65] = "";
  memset(&val, 0, sizeof val);
  memset(lab, 0, sizeof lab);
  if (launcher_rank() != 0) return EMI_SUCCESS; /* under mpiexec: rank 0 alone reads and writes */
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  { /* a serial command: main() sets up logging for MPI commands only */
    const char *level_text = "info";
    emi_log_level_t level = EMI_LOG_INFO;
    EMI_TRY(emi_opts_get_str(ctx->opts, "log-level", &level_text));
    emi_log_level_parse(level_text, &level);
    emi_log_setup(0, level, 0);
  }

  if (emi_opts_is_set(ctx->opts, "output")) EMI_TRY(emi_opts_get_str(ctx->opts, "output", &outp));
  EMI_TRY(emi_opts_get_flag(ctx->opts, "publish", &publish));
  {
    static const char *const pub_opts[] = {"round-base", "round-seed", "suppress-below"};
    for (int i = 0; i < 3 && !publish; i++)
      if (opt_given(ctx->opts, pub_opts[i]))
        EMI_FAIL(EMI_ERR_USAGE, "export: --%s applies to published tables only: add --publish (without it the table "
                 "is exported unprotected)", pub_opts[i]);
  }
  if (outp) {
    EMI_TRY(emi_output_check_path(outp));
    EMI_TRY(emi_output_check_not_input(outp, file));
    EMI_TRY(emi_output_check_not_config(outp, ctx->config_path));
    size_t jl = strlen(outp) + 32;
    EMI_MALLOC(jpath, jl, "a file name");
    EMI_MALLOC(jpart, jl, "a file name");
    snprintf(jpath, jl, "%s.disclosure.json", outp);
    snprintf(jpart, jl, "%s.disclosure.json.part", outp);
  }
  {
    FILE *probe = fopen(file, "rb");
    if (!probe) EMI_FAIL(EMI_ERR_IO, "export: %s: cannot open: %s", file, strerror(errno));
    fclose(probe);
  }
  if (H5Fis_hdf5(file) <= 0) EMI_FAIL(EMI_ERR_INPUT, "export: %s: not an HDF5 file: expected an emflow output (.h5)", file);
  if ((fid = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0)
    EMI_FAIL(EMI_ERR_IO, "export: %s: cannot open as an HDF5 file", file);

  /* a path without the leading '/' is relative to the root: the same dataset, named (in messages, the
   * label and --publish's derived seed) as with the '/' */
  if (dset[0] != '/') {
    size_t dl = strlen(dset) + 2;
    EMI_MALLOC(dset_abs, dl, "a dataset path");
    snprintf(dset_abs, dl, "/%s", dset);
    dset = dset_abs;
  }
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
  int group = 0;
  if (exists && H5Oget_info_by_name(fid, dset, &info, H5P_DEFAULT) >= 0 && info.type == H5O_TYPE_GROUP) group = 1;
  if (exists && (group || H5Oget_info_by_name(fid, dset, &info, H5P_DEFAULT) < 0 || info.type != H5O_TYPE_DATASET)) exists = 0;
  if (group && dset[0] == '/') { /* a group: its own datasets, not the file's first ones */
    char pre[512];
    snprintf(pre, sizeof pre, "%s", dset);
    size_t pl = strlen(pre);
    while (pl > 1 && pre[pl - 1] == '/') pre[--pl] = '\0';
    static dslist_t l; /* large: not on the stack */
    l = (dslist_t){.n = 0, .max = MAX_LIST_GROUP, .prefix = strcmp(pre, "/") ? pre : ""};
    hid_t gid = H5Gopen2(fid, dset, H5P_DEFAULT);
    if (gid >= 0) H5Ovisit(gid, H5_INDEX_NAME, H5_ITER_INC, list_datasets, &l), H5Gclose(gid);
    if (l.n * 40 + 200 < EMI_ERR_MSG_ROOM) /* short enough for the one-line message */
      EMI_FAIL(EMI_ERR_INPUT, "export: %s: '%s' is a group, not a dataset: expected the path of one of its %d "
               "dataset(s): %s", file, dset, l.n, l.n ? l.list : "(none)");
    /* too many for one line (error messages hold 1 KiB): the list goes first, one per line */
    fprintf(stderr, "export: %s: the %d dataset(s) of %s:\n", file, l.n, dset);
    for (char *p = l.list, *q; p && *p; p = q ? q + 2 : NULL) {
      q = strstr(p, ", ");
      fprintf(stderr, "  %.*s\n", q ? (int)(q - p) : (int)strlen(p), p);
    }
    EMI_FAIL(EMI_ERR_INPUT, "export: %s: '%s' is a group, not a dataset: expected the path of one of its %d dataset(s), "
             "listed above", file, dset, l.n);
  }
  if (!exists) {
    static dslist_t l;
    l = (dslist_t){.n = 0, .max = MAX_LIST};
    H5Ovisit(fid, H5_INDEX_NAME, H5_ITER_INC, list_datasets, &l);
    EMI_FAIL(EMI_ERR_INPUT, "export: %s: no dataset '%s': expected the path of one of its %d dataset(s): %s%s",
             file, dset, l.n, l.n ? l.list : "(none)",
             l.n > MAX_LIST ? " (give a group, such as /linkage, to list all of its datasets)" : "");
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

  /* publish: counts only, rounded and suppressed by the kernel */
  if (publish) {
    if (val.kind == EMI_COL_REAL)
      EMI_FAIL(EMI_ERR_INPUT, "export --publish: %s: %s is stored as floating point: only tables of counts (integer "
               "datasets, such as /linkage/migrant_departures or a forecast's *_trajectories) can be published; "
               "estimates, posterior summaries and quantiles are not counts, and random rounding does not protect them",
               file, dset);
    if (val.kind == EMI_COL_STR)
      EMI_FAIL(EMI_ERR_INPUT, "export --publish: %s: %s holds strings: only tables of counts (integer datasets) can be "
               "published", file, dset);
    int64_t base = 3, thr = 6, seed = 0;
    EMI_TRY(emi_opts_get_int(ctx->opts, "round-base", &base));
    EMI_TRY(emi_opts_get_int(ctx->opts, "suppress-below", &thr));
    uint64_t derived = 0;
    EMI_TRY(hash_source(file, dset, src_hex, &derived));
    seed_given = emi_opts_is_set(ctx->opts, "round-seed");
    if (seed_given) EMI_TRY(emi_opts_get_int(ctx->opts, "round-seed", &seed));
    dp = (emi_disclose_t){.base = base, .seed = seed_given ? (uint64_t)seed : derived, .suppress_below = thr};
    EMI_MALLOC(cnt, val.n, "counts");
    EMI_MALLOC(pub, val.n, "published counts");
    for (size_t k = 0; k < val.n; k++)
      cnt[k] = val.kind == EMI_COL_INT ? val.i[k]
               : val.u[k] > (uint64_t)EMI_DISCLOSE_COUNT_MAX ? EMI_DISCLOSE_COUNT_MAX + 1 : (int64_t)val.u[k];
    size_t bad = 0;
    emi_err_t e = emi_disclose_apply(&dp, val.n, cnt, pub, &dst, &bad);
    if (e == EMI_ERR_INPUT) {
      char where[1024], num[64];
      cell_labels(ndims, dims, names, lab, bad, where, sizeof where);
      if (val.kind == EMI_COL_INT) snprintf(num, sizeof num, "%" PRId64, val.i[bad]);
      else snprintf(num, sizeof num, "%" PRIu64, val.u[bad]);
      emi_err_clear();
      EMI_FAIL(EMI_ERR_INPUT, "export --publish: %s: %s: cell %zu (%s) holds %s: expected a count in 0..2^53", file, dset,
               bad, where, num);
    }
    EMI_TRY(e);
  }

  /* write */
  if (outp) {
    size_t pl = strlen(outp) + 6;
    EMI_MALLOC(part, pl, "a file name");
    snprintf(part, pl, "%s.part", outp);
    emi_part_register(part); /* before it exists (unregistered at cleanup) */
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
    if (!publish) ok &= put_value(out, &val, k);
    else if (pub[k] == EMI_DISCLOSE_SUPPRESSED) ok &= fputs(PUB_MARKER, out) >= 0;
    else ok &= fprintf(out, "%" PRId64, pub[k]) > 0;
    ok &= fputc('\n', out) != EOF;
    for (int d = ndims - 1; d >= 0; d--) { /* C order: the last index fastest */
      if (++idx[d] < (size_t)dims[d]) break;
      idx[d] = 0;
    }
  }
  if (fflush(out) != 0) ok = 0;
  if (!ok) EMI_FAIL(EMI_ERR_IO, "export: cannot write %s: %s", outp ? part : "standard output", strerror(errno));
  char fp[17] = "";
  if (publish) seed_fingerprint(dp.seed, src_hex, fp);
  if (outp) {
    FILE *f = out;
    out = stdout;
    if (fclose(f) != 0) EMI_FAIL(EMI_ERR_IO, "export: cannot write %s: %s", part, strerror(errno));
    if (publish) { /* the label, under .part, renamed right after the CSV */
      char csv_hex[65];
      EMI_TRY(hash_file(part, csv_hex));
      if (!(jf = fopen(jpart, "w"))) EMI_FAIL(EMI_ERR_IO, "export: cannot create %s: %s", jpart, strerror(errno));
      const char *sb = strrchr(file, '/'), *ob = strrchr(outp, '/');
      fprintf(jf, "{\n  \"schema\": \"emflow-disclosure-1\",\n  \"partner_safe\": true,\n  \"method\": ");
      json_str(jf, dp.base == 3 ? "random rounding to base 3 (Stats NZ RR3: a multiple of 3 stays, otherwise the nearer "
                                  "multiple with probability 2/3, the farther with 1/3; unbiased), then suppression of "
                                  "cells whose unrounded count is below the threshold"
                                : "unbiased random rounding to the base (a multiple stays, otherwise up with probability "
                                  "r/base, r the remainder), then suppression of cells whose unrounded count is below "
                                  "the threshold");
      fprintf(jf, ",\n  \"round_base\": %lld,\n  \"suppress_below\": %lld,\n  \"suppressed_marker\": \"" PUB_MARKER
              "\",\n  \"cells\": %zu,\n  \"cells_suppressed\": %zu,\n  \"max_abs_change\": %lld,\n",
              (long long)dp.base, (long long)dp.suppress_below, dst.cells, dst.suppressed, (long long)dp.base - 1);
      fprintf(jf, "  \"rng\": \"philox4x32-10, one stream per cell: (seed, purpose 0x%04x, cell index in C order)\",\n"
              "  \"seed_origin\": \"%s\",\n  \"seed_fingerprint\": \"%s\",\n  \"source_file\": ",
              EMI_DISCLOSE_PURPOSE, seed_given ? "round-seed" : "derived from the source file's contents and the dataset", fp);
      json_str(jf, sb ? sb + 1 : file);
      fprintf(jf, ",\n  \"source_sha256\": \"%s\",\n  \"source_dataset\": ", src_hex);
      json_str(jf, dset);
      fprintf(jf, ",\n  \"csv_file\": ");
      json_str(jf, ob ? ob + 1 : outp);
      fprintf(jf, ",\n  \"csv_sha256\": \"%s\",\n  \"software\": \"emflow\",\n  \"version\": ", csv_hex);
      json_str(jf, EMI_VERSION_STRING);
      fprintf(jf, "\n}\n");
      int bad = fflush(jf) != 0 || ferror(jf);
      bad |= fclose(jf) != 0;
      jf = NULL;
      if (bad) EMI_FAIL(EMI_ERR_IO, "export: cannot write %s: %s", jpart, strerror(errno));
    } else if (remove(jpath) != 0 && errno != ENOENT) { /* never an old label next to an unprotected table */
      EMI_FAIL(EMI_ERR_IO, "export: cannot remove the stale disclosure label %s: %s", jpath, strerror(errno));
    }
    if (rename(part, outp) != 0) EMI_FAIL(EMI_ERR_IO, "export: cannot rename %s to %s: %s", part, outp, strerror(errno));
    if (publish && rename(jpart, jpath) != 0)
      EMI_FAIL(EMI_ERR_IO, "export: cannot rename %s to %s: %s", jpart, jpath, strerror(errno));
    emi_log_info("export: %s %s: %zu rows written to %s", file, dset, val.n, outp);
  }
  if (publish) /* the protection is stated whatever the log level: standard output carries no label */
    fprintf(stderr, "export: published %s %s: random rounding to base %lld, %zu of %zu cells below %lld suppressed "
            "(written as " PUB_MARKER "), seed %s (fingerprint %s)%s%s\n", file, dset, (long long)dp.base, dst.suppressed,
            dst.cells, (long long)dp.suppress_below, seed_given ? "from --round-seed" : "derived from the file", fp,
            outp ? "; label " : "; standard output has no label file (use -o for a labelled table)", outp ? jpath : "");
cleanup:
  if (out && out != stdout) {
    fclose(out);
    remove(part);
  }
  if (jf) fclose(jf);
  if (err && part) remove(part);
  if (err && jpart) remove(jpart);
  emi_part_unregister(part);
  free(part), free(jpath), free(jpart), free(cnt), free(pub), free(dset_abs);
  emi_column_free(&val);
  for (int d = 0; d < MAX_DIMS; d++) emi_column_free(&lab[d]);
  if (sp >= 0) H5Sclose(sp);
  if (did >= 0) H5Dclose(did);
  if (fid >= 0) H5Fclose(fid);
  return err;
}
