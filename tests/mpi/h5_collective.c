/* h5_collective: the HDF5 writer under MPI (run at 1, 2 and 3 ranks by tests/mpi/h5.cmake).
 *
 *   h5_collective write BASE [--perturb] [--no-provenance]
 *       Every rank writes its share of a small labelled file BASE_np<N>.h5 (N = ranks), stamps
 *       provenance and commits; then rank 0 re-opens the file with the serial driver and checks
 *       every value, attribute, dimension scale, filter and time stamp against values computed here
 *       from the indices.  --perturb adds 1 to counts[3][2] (and expects it), so the repro test can
 *       show that h5diff notices a one-unit change.  --no-provenance leaves out the root attributes
 *       (the only part that depends on the rank count), so files written at 1, 2 and 3 ranks must
 *       be identical byte for byte.
 *   h5_collective errors DIR
 *       Error paths: every failure is reported on every rank from the same call, and no file is
 *       ever left under the final name (abort, failed commit, bad slabs, rank-dependent arguments).
 *
 * How the rows are shared (N = 3):
 *   /data/counts [7 x 5] int64, one chunk      emi_h5_partition: ranks 0 and 1 own nothing
 *   /data/pair   [2 x 4] int32, one chunk      even row split 0,1,1: rank 0 has an empty selection,
 *                                              ranks 1 and 2 share the chunk
 *   /data/small  [10 x 3] double, one chunk    even row split 3,3,4: a chunk shared by all ranks
 *   /data/field  [40000 x 3] double, 4 chunks  emi_h5_partition: whole chunks 1,1,2
 * Every dimension of counts and small has a scale in /data (netCDF-4 readers need all or none); pair
 * and field have none (read as phony dimensions); /config/options is labelled by /config/option.
 * The right values are closed-form functions of (i, j) chosen to be exact in binary, so the file
 * must hold exactly them whatever the rank count.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>
#include <hdf5_hl.h>
#include <mpi.h>

#include "emi_h5.h"
#include "emi_provenance.h"
#include "emi_test.h"

#define N_MONTH 7
#define N_GROUP 5
#define N_FIELD 40000
#define SHA256_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" /* FIPS 180-2 B.1 */
#define RNG_SEED UINT64_C(18446744073709551557) /* > 2^63: must survive as an unsigned attribute */

/* Under AddressSanitizer (-DEMI_SANITIZE=ON): Open MPI leaks by design (in MPI_Init/Finalize, in
 * its progress thread and inside MPI-IO).  Suppress leaks whose allocation stack passes through the
 * Open MPI libraries, with full unwinding so the stacks reach them; a leak in emflow's own code is
 * still an error.  These hooks are read by the sanitizer runtime and unused in other builds. */
const char *__asan_default_options(void);
const char *__lsan_default_suppressions(void);
const char *__asan_default_options(void) { return "fast_unwind_on_malloc=0"; }
const char *__lsan_default_suppressions(void)
{
  return "leak:libmpi.so\nleak:libopen-pal.so\nleak:libopen-rte.so\nleak:libevent\nleak:libhwloc\nleak:libpmix\n"
         "leak:ompi_mpi_init\nleak:ompi_mpi_finalize\n";
}

static int g_rank = 0, g_size = 1;

static const char *const group_names[N_GROUP] = {"AUT", "BEL", "C\xc3\xb4te d'Ivoire", "DEU", "unknown"};
static const char *const component_names[3] = {"x", "y", "z"};

static int64_t counts_value(int i, int j, int perturb) { return 1000 * (i + 1) + j + (perturb && i == 3 && j == 2); }
static double field_value(uint64_t i, int j) { return (double)(3 * i + (uint64_t)j) / 8.0; }
static double small_value(int i, int j) { return i + j / 4.0; }
static int32_t pair_value(int i, int j) { return -10 * i - j; }

static void even_split(uint64_t n, uint64_t *row0, uint64_t *nrows)
{
  *row0 = n * (uint64_t)g_rank / (uint64_t)g_size;
  *nrows = n * (uint64_t)(g_rank + 1) / (uint64_t)g_size - *row0;
}

static int exists(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0;
}

/* Number of ranks for which cond holds. */
static int count_ranks(int cond)
{
  int in = cond ? 1 : 0, out = 0;
  MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  return out;
}

/* Open HDF5 objects (files, groups, datasets, attributes, named types) of all files: the library
 * must not leave any behind, on success or on error.  (H5Inmembers refuses library id types in
 * HDF5 1.10, so dataspaces and property lists are not counted here.) */
static void check_no_open_objects(const char *when)
{
  ssize_t n = H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL);
  CHECK_MSG(n == 0, "%s: %zd HDF5 objects still open", when, n);
}

/* ====================================================================== writing */

static emi_err_t write_file(const char *path, const char *input_path, int perturb, int provenance, int argc,
                            char **argv)
{
  emi_err_t err = EMI_SUCCESS;
  emi_h5_file_t *f = NULL;
  emi_provenance_t *prov = NULL;
  int64_t *counts = NULL;
  double *field = NULL, *small = NULL;
  int32_t *pair = NULL;
  int64_t months[N_MONTH];
  for (int i = 0; i < N_MONTH; i++) months[i] = 202101 + i;

  EMI_TRY(emi_provenance_create(MPI_COMM_WORLD, argc, argv, &prov));
  EMI_TRY(emi_provenance_set_config(prov, "abc", 3));
  EMI_TRY(emi_provenance_add_input(prov, input_path));
  EMI_TRY(emi_provenance_set_rng(prov, "Philox4x32-10", RNG_SEED));

  EMI_TRY(emi_h5_file_create(MPI_COMM_WORLD, path, &f));
  CHECK(exists(emi_h5_file_part_path(f)));
  CHECK(!exists(path));

  /* coordinates */
  EMI_TRY(emi_h5_write_scale_int(f, "/data", "month", N_MONTH, months, "yyyymm", "calendar month"));
  EMI_TRY(emi_h5_write_scale_str(f, "/data", "group", N_GROUP, group_names, NULL, "citizenship group"));
  EMI_TRY(emi_h5_write_scale_str(f, "/data", "component", 3, component_names, NULL, "vector component"));
  {
    int64_t idx[10];
    for (int64_t i = 0; i < 10; i++) idx[i] = i;
    EMI_TRY(emi_h5_write_scale_int(f, "/data", "sample", 10, idx, "1", "sample index"));
  }

  /* counts [7 x 5]: whole chunks through emi_h5_partition (one chunk: one owner) */
  {
    uint64_t dims[2] = {N_MONTH, N_GROUP}, chunk_rows, row0, n;
    const char *const scales[2] = {"/data/month", "/data/group"};
    EMI_TRY(emi_h5_chunk_rows(EMI_H5_INT64, 2, dims, &chunk_rows));
    CHECK_INT_EQ(chunk_rows, N_MONTH); /* 280 bytes: the whole array is one chunk */
    EMI_TRY(emi_h5_partition(dims[0], chunk_rows, MPI_COMM_WORLD, &row0, &n));
    CHECK_INT_EQ(count_ranks(n == 0), g_size - 1);
    EMI_MALLOC(counts, n * N_GROUP, "counts");
    for (uint64_t i = 0; i < n; i++)
      for (int j = 0; j < N_GROUP; j++) counts[i * N_GROUP + (uint64_t)j] = counts_value((int)(row0 + i), j, perturb);
    EMI_TRY(emi_h5_write_array(f, "/data/counts", EMI_H5_INT64, 2, dims, scales, row0, n, counts, "persons",
                               "migrant departures"));
  }
  /* pair [2 x 4]: 2 rows over the ranks, evenly: at 3 ranks rank 0 has an empty selection */
  {
    uint64_t dims[2] = {2, 4}, row0, n;
    even_split(dims[0], &row0, &n);
    if (g_size == 3) CHECK_INT_EQ(count_ranks(n == 0), 1);
    EMI_MALLOC(pair, n * 4, "pair");
    for (uint64_t i = 0; i < n; i++)
      for (int j = 0; j < 4; j++) pair[i * 4 + (uint64_t)j] = pair_value((int)(row0 + i), j);
    EMI_TRY(emi_h5_write_array(f, "/data/pair", EMI_H5_INT32, 2, dims, NULL, row0, n, pair, "1", "pair table"));
  }
  /* small [10 x 3]: a chunk shared by every rank (not chunk-aligned on purpose) */
  {
    uint64_t dims[2] = {10, 3}, row0, n;
    const char *const scales[2] = {"/data/sample", "/data/component"};
    even_split(dims[0], &row0, &n);
    EMI_MALLOC(small, n * 3, "small");
    for (uint64_t i = 0; i < n; i++)
      for (int j = 0; j < 3; j++) small[i * 3 + (uint64_t)j] = small_value((int)(row0 + i), j);
    EMI_TRY(emi_h5_write_array(f, "/data/small", EMI_H5_DOUBLE, 2, dims, scales, row0, n, small, "km",
                               "small displacement"));
  }
  /* field [40000 x 3]: several chunks, whole chunks per rank */
  {
    uint64_t dims[2] = {N_FIELD, 3}, chunk_rows, row0, n, mine[2], all[2 * 8];
    EMI_TRY(emi_h5_chunk_rows(EMI_H5_DOUBLE, 2, dims, &chunk_rows));
    CHECK_INT_EQ(chunk_rows, (256 * 1024) / 24); /* 10922 rows of 24 bytes: 262128-byte chunks */
    EMI_TRY(emi_h5_partition(dims[0], chunk_rows, MPI_COMM_WORLD, &row0, &n));
    /* the shares tile the rows in rank order and start on chunk boundaries */
    mine[0] = row0;
    mine[1] = n;
    if (g_size <= 8) {
      MPI_Allgather(mine, 2, MPI_UINT64_T, all, 2, MPI_UINT64_T, MPI_COMM_WORLD);
      uint64_t next = 0;
      for (int r = 0; r < g_size; r++) {
        CHECK_INT_EQ(all[2 * r], next);
        CHECK_INT_EQ(all[2 * r] % chunk_rows, 0);
        next += all[2 * r + 1];
      }
      CHECK_INT_EQ(next, N_FIELD);
    }
    EMI_MALLOC(field, n * 3, "field");
    for (uint64_t i = 0; i < n; i++)
      for (int j = 0; j < 3; j++) field[i * 3 + (uint64_t)j] = field_value(row0 + i, j);
    EMI_TRY(emi_h5_write_array(f, "/data/field", EMI_H5_DOUBLE, 2, dims, NULL, row0, n, field, "m",
                               "test field"));
  }
  /* resolved options as a labelled table, and group attributes of each type */
  {
    const char *const cols[4] = {"name", "value", "units", "source"};
    const char *const cells[3 * 4] = {"seed", "20261203", "", "default",           /**/
                                      "window_months", "16", "months", "config:3", /**/
                                      "output", "out.h5", "", "command line"};
    const char *const names[3] = {cells[0], cells[4], cells[8]};
    EMI_TRY(emi_h5_write_scale_str(f, "/config", "option", 3, names, NULL, "option name"));
    EMI_TRY(emi_h5_write_str_table(f, "/config/options", 3, 4, cols, cells, "/config/option", "resolved options"));
  }
  EMI_TRY(emi_h5_attr_int(f, "/data", "n_months", N_MONTH));
  EMI_TRY(emi_h5_attr_double(f, "/data", "coverage", 0.625));
  EMI_TRY(emi_h5_attr_str(f, "/data", "comment", "test data"));
  EMI_TRY(emi_h5_attr_str(f, "/data", "comment", "test data, replaced")); /* replacing is allowed */
  EMI_TRY(emi_h5_group_ensure(f, "/empty/nested"));

  if (provenance) EMI_TRY(emi_h5_write_provenance(f, prov));
  EMI_TRY(emi_h5_file_commit(&f));
cleanup:
  emi_h5_file_abort(&f);
  emi_provenance_destroy(&prov);
  free(counts);
  free(field);
  free(small);
  free(pair);
  return err;
}

/* ====================================================================== checking (rank 0, serial) */

/* A string attribute of obj (variable or fixed length), into buf; 0 when present and a string. */
static int read_attr_str(hid_t obj, const char *name, char *buf, size_t size)
{
  int rc = -1;
  hid_t aid = H5I_INVALID_HID, t = H5I_INVALID_HID, mt = H5I_INVALID_HID;
  buf[0] = '\0';
  if (H5Aexists(obj, name) <= 0) return -1;
  if ((aid = H5Aopen(obj, name, H5P_DEFAULT)) < 0) goto done;
  if ((t = H5Aget_type(aid)) < 0 || H5Tget_class(t) != H5T_STRING) goto done;
  if (H5Tis_variable_str(t) > 0) {
    char *s = NULL;
    mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, H5T_VARIABLE);
    H5Tset_cset(mt, H5Tget_cset(t));
    if (H5Aread(aid, mt, &s) < 0) goto done;
    snprintf(buf, size, "%s", s ? s : "");
    H5free_memory(s);
  } else {
    size_t n = H5Tget_size(t);
    char *s = calloc(n + 1, 1);
    if (!s || H5Aread(aid, t, s) < 0) {
      free(s);
      goto done;
    }
    snprintf(buf, size, "%s", s);
    free(s);
  }
  rc = 0;
done:
  if (mt >= 0) H5Tclose(mt);
  if (t >= 0) H5Tclose(t);
  if (aid >= 0) H5Aclose(aid);
  return rc;
}

typedef struct {
  int objects, datasets;
} visit_t;

/* Every object: no time stamps.  Every dataset: units and long_name, chunked + shuffle + deflate,
 * chunks of 64 KiB-1 MiB unless the whole dataset is one chunk. */
static herr_t visit_cb(hid_t root, const char *name, const H5O_info_t *info, void *data)
{
  visit_t *v = data;
  char buf[256];
  v->objects++;
  CHECK_MSG(info->atime == 0 && info->mtime == 0 && info->ctime == 0 && info->btime == 0,
            "object '%s' carries time stamps (mtime %ld)", name, (long)info->mtime);
  if (info->type != H5O_TYPE_DATASET) return 0;
  v->datasets++;
  hid_t did = H5Dopen2(root, name, H5P_DEFAULT);
  CHECK(did >= 0);
  CHECK_MSG(read_attr_str(did, "units", buf, sizeof buf) == 0, "dataset '%s' has no string units", name);
  CHECK_MSG(read_attr_str(did, "long_name", buf, sizeof buf) == 0 && buf[0], "dataset '%s' has no long_name", name);

  hid_t dcpl = H5Dget_create_plist(did), space = H5Dget_space(did), type = H5Dget_type(did);
  hsize_t dims[8] = {0}, chunk[8] = {0};
  int rank = H5Sget_simple_extent_dims(space, dims, NULL);
  CHECK_MSG(H5Pget_layout(dcpl) == H5D_CHUNKED, "dataset '%s' is not chunked", name);
  if (H5Pget_layout(dcpl) == H5D_CHUNKED) {
    CHECK_INT_EQ(H5Pget_chunk(dcpl, 8, chunk), rank);
    size_t bytes = H5Tget_size(type);
    int whole = 1;
    for (int d = 0; d < rank; d++) {
      bytes *= chunk[d];
      whole &= chunk[d] == dims[d];
    }
    CHECK_MSG(whole || (bytes >= 64 * 1024 && bytes <= 1024 * 1024), "dataset '%s': chunk of %zu bytes", name, bytes);
    CHECK_INT_EQ(H5Pget_nfilters(dcpl), 2);
    unsigned flags, cd[4] = {0};
    size_t ncd = 4;
    unsigned cfg;
    CHECK_INT_EQ(H5Pget_filter2(dcpl, 0, &flags, &ncd, cd, 0, NULL, &cfg), H5Z_FILTER_SHUFFLE);
    ncd = 4;
    CHECK_INT_EQ(H5Pget_filter2(dcpl, 1, &flags, &ncd, cd, 0, NULL, &cfg), H5Z_FILTER_DEFLATE);
    CHECK_INT_EQ(cd[0], EMI_H5_DEFLATE_LEVEL);
  }
  H5Tclose(type);
  H5Sclose(space);
  H5Pclose(dcpl);
  H5Dclose(did);
  return 0;
}

static void read_all(hid_t fid, const char *path, hid_t mtype, void *buf)
{
  hid_t did = H5Dopen2(fid, path, H5P_DEFAULT);
  CHECK_MSG(did >= 0 && H5Dread(did, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0, "cannot read '%s'", path);
  if (did >= 0) H5Dclose(did);
}

/* Fixed-length string dataset: n strings into out[n][64]. */
static void read_strings(hid_t fid, const char *path, int n, char out[][64])
{
  hid_t did = H5Dopen2(fid, path, H5P_DEFAULT), t = H5Dget_type(did);
  size_t w = H5Tget_size(t);
  char *buf = calloc((size_t)n, w);
  CHECK(buf && H5Tis_variable_str(t) == 0 && H5Dread(did, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
  for (int i = 0; buf && i < n; i++) snprintf(out[i], 64, "%.*s", (int)w, buf + (size_t)i * w);
  free(buf);
  H5Tclose(t);
  H5Dclose(did);
}

static void check_scale_attached(hid_t fid, const char *array, const char *scale, unsigned d, const char *scale_name)
{
  hid_t did = H5Dopen2(fid, array, H5P_DEFAULT), sid = H5Dopen2(fid, scale, H5P_DEFAULT);
  char name[64] = "";
  CHECK_MSG(H5DSis_scale(sid) > 0, "'%s' is not a dimension scale", scale);
  CHECK_MSG(H5DSis_attached(did, sid, d) > 0, "'%s' is not attached to dimension %u of '%s'", scale, d, array);
  CHECK_INT_EQ(H5DSget_num_scales(did, d), 1);
  CHECK(H5DSget_scale_name(sid, name, sizeof name) > 0 && strcmp(name, scale_name) == 0);
  H5Dclose(sid);
  H5Dclose(did);
}

static void check_file(const char *path, const char *input_path, int perturb, int provenance)
{
  char part[1100], buf[1024];
  snprintf(part, sizeof part, "%s.part", path);
  CHECK_MSG(exists(path), "'%s' is missing after commit", path);
  CHECK_MSG(!exists(part), "'%s' is left over after commit", part);

  hid_t fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  CHECK(fid >= 0);
  if (fid < 0) return;

  /* format pinned to 1.8: superblock version 2 */
  H5F_info2_t finfo;
  CHECK(H5Fget_info2(fid, &finfo) >= 0);
  CHECK_INT_EQ(finfo.super.version, 2);

  visit_t v = {0, 0};
  CHECK(H5Ovisit2(fid, H5_INDEX_NAME, H5_ITER_INC, visit_cb, &v, H5O_INFO_BASIC | H5O_INFO_TIME) >= 0);
  CHECK_INT_EQ(v.objects, 15); /* / config config/{option,options}
                                  data data/{component,counts,field,group,month,pair,sample,small}
                                  empty empty/nested */
  CHECK_INT_EQ(v.datasets, 10);

  /* values */
  int64_t months[N_MONTH], counts[N_MONTH * N_GROUP];
  int32_t pair[2 * 4];
  double small[10 * 3];
  double *field = malloc(sizeof(double) * N_FIELD * 3);
  read_all(fid, "/data/month", H5T_NATIVE_INT64, months);
  for (int i = 0; i < N_MONTH; i++) CHECK_INT_EQ(months[i], 202101 + i);
  read_all(fid, "/data/counts", H5T_NATIVE_INT64, counts);
  for (int i = 0; i < N_MONTH; i++)
    for (int j = 0; j < N_GROUP; j++) CHECK_INT_EQ(counts[i * N_GROUP + j], counts_value(i, j, perturb));
  read_all(fid, "/data/pair", H5T_NATIVE_INT32, pair);
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 4; j++) CHECK_INT_EQ(pair[i * 4 + j], pair_value(i, j));
  read_all(fid, "/data/small", H5T_NATIVE_DOUBLE, small);
  for (int i = 0; i < 10; i++)
    for (int j = 0; j < 3; j++) CHECK(small[i * 3 + j] == small_value(i, j));
  if (field) {
    read_all(fid, "/data/field", H5T_NATIVE_DOUBLE, field);
    uint64_t bad = 0;
    for (uint64_t i = 0; i < N_FIELD; i++)
      for (int j = 0; j < 3; j++) bad += field[i * 3 + (uint64_t)j] != field_value(i, j);
    CHECK_INT_EQ(bad, 0);
  }
  free(field);
  char strs[N_GROUP][64];
  read_strings(fid, "/data/group", N_GROUP, strs);
  for (int i = 0; i < N_GROUP; i++) CHECK_MSG(strcmp(strs[i], group_names[i]) == 0, "group[%d] = '%s'", i, strs[i]);
  read_strings(fid, "/data/component", 3, strs);
  for (int i = 0; i < 3; i++) CHECK(strcmp(strs[i], component_names[i]) == 0);

  /* labels */
  check_scale_attached(fid, "/data/counts", "/data/month", 0, "month");
  check_scale_attached(fid, "/data/counts", "/data/group", 1, "group");
  check_scale_attached(fid, "/data/small", "/data/component", 1, "component");
  check_scale_attached(fid, "/data/small", "/data/sample", 0, "sample");
  check_scale_attached(fid, "/config/options", "/config/option", 0, "option");
  {
    hid_t fd = H5Dopen2(fid, "/data/field", H5P_DEFAULT);
    for (unsigned d = 0; d < 2; d++) CHECK_INT_EQ(H5DSget_num_scales(fd, d), 0); /* unlabelled: none at all */
    H5Dclose(fd);
  }
  hid_t did = H5Dopen2(fid, "/data/counts", H5P_DEFAULT);
  CHECK(read_attr_str(did, "units", buf, sizeof buf) == 0 && strcmp(buf, "persons") == 0);
  CHECK(read_attr_str(did, "long_name", buf, sizeof buf) == 0 && strcmp(buf, "migrant departures") == 0);
  CHECK_INT_EQ(H5DSget_num_scales(did, 0), 1);
  H5Dclose(did);

  /* the options table: a compound of named fixed-length string columns */
  did = H5Dopen2(fid, "/config/options", H5P_DEFAULT);
  hid_t t = H5Dget_type(did);
  CHECK_INT_EQ(H5Tget_class(t), H5T_COMPOUND);
  CHECK_INT_EQ(H5Tget_nmembers(t), 4);
  char *m1 = H5Tget_member_name(t, 1);
  CHECK(m1 && strcmp(m1, "value") == 0);
  H5free_memory(m1);
  size_t rs = H5Tget_size(t), off = H5Tget_member_offset(t, 1);
  char *rows = calloc(3, rs);
  CHECK(rows && H5Dread(did, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows) >= 0);
  if (rows) {
    CHECK(strcmp(rows + off, "20261203") == 0);
    CHECK(strcmp(rows + rs + off, "16") == 0);
    CHECK(strcmp(rows + 2 * rs + off, "out.h5") == 0);
  }
  free(rows);
  H5Tclose(t);
  H5Dclose(did);

  /* group attributes of each type */
  hid_t gid = H5Gopen2(fid, "/data", H5P_DEFAULT);
  int64_t n_months = 0;
  double coverage = 0;
  hid_t aid = H5Aopen(gid, "n_months", H5P_DEFAULT);
  CHECK(H5Aread(aid, H5T_NATIVE_INT64, &n_months) >= 0 && n_months == N_MONTH);
  H5Aclose(aid);
  aid = H5Aopen(gid, "coverage", H5P_DEFAULT);
  CHECK(H5Aread(aid, H5T_NATIVE_DOUBLE, &coverage) >= 0 && coverage == 0.625);
  H5Aclose(aid);
  CHECK(read_attr_str(gid, "comment", buf, sizeof buf) == 0 && strcmp(buf, "test data, replaced") == 0);
  H5Gclose(gid);

  if (!provenance) {
    H5O_info_t oinfo;
    CHECK(H5Oget_info_by_name2(fid, "/", &oinfo, H5O_INFO_NUM_ATTRS, H5P_DEFAULT) >= 0);
    CHECK_INT_EQ(oinfo.num_attrs, 0);
    CHECK(H5Fclose(fid) >= 0);
    return;
  }
  /* provenance: root attributes present and non-empty */
  hid_t root = H5Gopen2(fid, "/", H5P_DEFAULT);
  static const char *const str_keys[] = {"software", "version",  "date",  "command_line", "config_sha256",
                                         "rng_name", "host",     "compiler", "blas",     "lapack",
                                         "hdf5",     "mpi_library"};
  for (size_t k = 0; k < sizeof str_keys / sizeof *str_keys; k++)
    CHECK_MSG(read_attr_str(root, str_keys[k], buf, sizeof buf) == 0 && buf[0], "root attribute '%s' missing or empty",
              str_keys[k]);
  CHECK(read_attr_str(root, "software", buf, sizeof buf) == 0 && strcmp(buf, "emflow") == 0);
  CHECK(read_attr_str(root, "config_sha256", buf, sizeof buf) == 0 && strcmp(buf, SHA256_ABC) == 0);
  CHECK(read_attr_str(root, "rng_name", buf, sizeof buf) == 0 && strcmp(buf, "Philox4x32-10") == 0);
  CHECK(read_attr_str(root, "command_line", buf, sizeof buf) == 0 && strstr(buf, "h5_collective write") != NULL);
  CHECK(read_attr_str(root, "hdf5", buf, sizeof buf) == 0 && strncmp(buf, "HDF5 1.", 7) == 0);
  /* date: YYYY-MM-DDThh:mm:ss+hh:mm (a time zone offset, with its colon) */
  CHECK(read_attr_str(root, "date", buf, sizeof buf) == 0);
  {
    static const char pat[] = "dddd-dd-ddTdd:dd:dd+dd:dd";
    int ok = strlen(buf) == sizeof pat - 1;
    for (size_t i = 0; ok && i < sizeof pat - 1; i++) {
      if (pat[i] == 'd') ok = buf[i] >= '0' && buf[i] <= '9';
      else if (pat[i] == '+') ok = buf[i] == '+' || buf[i] == '-';
      else ok = buf[i] == pat[i];
    }
    CHECK_MSG(ok, "date '%s' is not ISO 8601 with a time zone offset", buf);
  }
  int64_t ranks = 0, threads = 0;
  uint64_t seed = 0;
  aid = H5Aopen(root, "mpi_ranks", H5P_DEFAULT);
  CHECK(H5Aread(aid, H5T_NATIVE_INT64, &ranks) >= 0 && ranks == g_size);
  H5Aclose(aid);
  aid = H5Aopen(root, "omp_threads", H5P_DEFAULT);
  CHECK(H5Aread(aid, H5T_NATIVE_INT64, &threads) >= 0 && threads >= 1);
  H5Aclose(aid);
  aid = H5Aopen(root, "rng_seed", H5P_DEFAULT);
  CHECK(H5Aread(aid, H5T_NATIVE_UINT64, &seed) >= 0 && seed == RNG_SEED);
  H5Aclose(aid);
  /* input files: parallel 1-D string arrays */
  {
    char *vals[1] = {NULL};
    hid_t vt = H5Tcopy(H5T_C_S1);
    H5Tset_size(vt, H5T_VARIABLE);
    H5Tset_cset(vt, H5T_CSET_UTF8);
    aid = H5Aopen(root, "input_sha256", H5P_DEFAULT);
    hid_t as = H5Aget_space(aid);
    CHECK_INT_EQ(H5Sget_simple_extent_npoints(as), 1);
    CHECK(H5Aread(aid, vt, vals) >= 0 && vals[0] && strcmp(vals[0], SHA256_ABC) == 0);
    H5free_memory(vals[0]);
    H5Sclose(as);
    H5Aclose(aid);
    aid = H5Aopen(root, "input_files", H5P_DEFAULT);
    vals[0] = NULL;
    CHECK(H5Aread(aid, vt, vals) >= 0 && vals[0] && strcmp(vals[0], input_path) == 0);
    H5free_memory(vals[0]);
    H5Aclose(aid);
    H5Tclose(vt);
  }
  H5Gclose(root);
  CHECK(H5Fclose(fid) >= 0);
}

static int run_write(const char *base, int perturb, int provenance, int argc, char **argv)
{
  char path[1024], input[1024];
  snprintf(path, sizeof path, "%s_np%d.h5", base, g_size);
  snprintf(input, sizeof input, "%s_np%d_input.txt", base, g_size);
  if (g_rank == 0) {
    unlink(path); /* a previous run's file: the final name must only appear at commit */
    /* the input whose SHA-256 is stamped: the FIPS 180-2 "abc" message */
    FILE *fp = fopen(input, "wb");
    CHECK_MSG(fp && fwrite("abc", 1, 3, fp) == 3 && fclose(fp) == 0, "cannot write '%s'", input);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  CHECK_OK(write_file(path, input, perturb, provenance, argc, argv));
  check_no_open_objects("after writing");
  MPI_Barrier(MPI_COMM_WORLD);
  if (g_rank == 0) check_file(path, input, perturb, provenance);
  check_no_open_objects("after checking");
  return emi_test_report("h5_collective write");
}

/* ====================================================================== error paths */

/* err must be `code` on every rank; the message must contain `needle` on the rank(s) that saw it. */
static void expect_err(emi_err_t err, emi_err_t code, const char *needle, const char *what)
{
  CHECK_MSG(err == code, "%s: got %s, expected %s (%s)", what, emi_err_name(err), emi_err_name(code),
            emi_err_message());
  CHECK_MSG(count_ranks(err == code) == g_size, "%s: not every rank returned %s", what, emi_err_name(code));
  if (needle) CHECK_MSG(strstr(emi_err_message(), needle) != NULL, "%s: message '%s' lacks '%s'", what,
                        emi_err_message(), needle);
  if (g_rank == 0 && err != EMI_SUCCESS) fprintf(stderr, "  expected error, %s: %s\n", what, emi_err_message());
  emi_err_clear();
}

static int run_errors(const char *dir)
{
  char path[1024], part[1100];
  emi_h5_file_t *f = NULL;
  uint64_t dims[2] = {6, 2}, row0, n;
  double data[12];
  for (int i = 0; i < 12; i++) data[i] = i;
  if (g_rank == 0 && mkdir(dir, 0777) != 0 && errno != EEXIST) CHECK_MSG(0, "cannot create '%s'", dir);
  MPI_Barrier(MPI_COMM_WORLD);

  /* 1. abort after a partial write: the .part file goes, the final name never appears */
  snprintf(path, sizeof path, "%s/abort_np%d.h5", dir, g_size);
  snprintf(part, sizeof part, "%s.part", path);
  if (g_rank == 0) unlink(path);
  MPI_Barrier(MPI_COMM_WORLD);
  CHECK_OK(emi_h5_file_create(MPI_COMM_WORLD, path, &f));
  even_split(dims[0], &row0, &n);
  CHECK_OK(emi_h5_write_array(f, "/a", EMI_H5_DOUBLE, 2, dims, NULL, row0, n, data + 2 * row0, "1", "partial"));
  CHECK(exists(part));
  CHECK_OK(emi_h5_file_abort(&f));
  CHECK(f == NULL);
  CHECK(!exists(part));
  CHECK(!exists(path));
  CHECK_OK(emi_h5_file_abort(&f)); /* NULL: no-op */
  CHECK_OK(emi_h5_file_abort(NULL));
  expect_err(emi_h5_file_commit(&f), EMI_ERR_ARG, NULL, "commit(NULL)");

  /* 2. rejected collective calls leave the file usable: slabs with a gap, an overlap, rank-dependent
   * arguments, a failure on one rank only, a scale of the wrong length; then a good write and commit. */
  snprintf(path, sizeof path, "%s/rejects_np%d.h5", dir, g_size);
  snprintf(part, sizeof part, "%s.part", path);
  CHECK_OK(emi_h5_file_create(MPI_COMM_WORLD, path, &f));
  uint64_t last = g_rank == g_size - 1;
  expect_err(emi_h5_write_array(f, "/gap", EMI_H5_DOUBLE, 2, dims, NULL, row0, n - last, data + 2 * row0, "1", "x"),
             EMI_ERR_ARG, "written by no rank", "gap");
  expect_err(emi_h5_write_array(f, "/over", EMI_H5_DOUBLE, 2, dims, NULL, 0, n, data, "1", "x"),
             g_size > 1 ? EMI_ERR_ARG : EMI_SUCCESS, g_size > 1 ? "already written" : NULL, "overlap");
  expect_err(emi_h5_write_array(f, "/beyond", EMI_H5_DOUBLE, 2, dims, NULL, row0, n + last, data, "1", "x"),
             EMI_ERR_ARG, "beyond", "beyond");
  if (g_size > 1) {
    expect_err(emi_h5_write_array(f, "/mixed", EMI_H5_DOUBLE, 2, dims, NULL, row0, n, data + 2 * row0,
                                  g_rank == 1 ? "m" : "km", "x"),
               EMI_ERR_ARG, "different arguments", "rank-dependent units");
    expect_err(emi_h5_attr_int(f, "/", "rank", g_rank), EMI_ERR_ARG, "different arguments", "rank-dependent attribute");
    /* rank 1 alone passes NULL data: every rank fails with rank 1's reason (the others name rank 1) */
    emi_err_t e = emi_h5_write_array(f, "/onerank", EMI_H5_DOUBLE, 2, dims, NULL, row0, n,
                                     g_rank == 1 ? NULL : data + 2 * row0, "1", "x");
    expect_err(e, EMI_ERR_ARG, "data is NULL", "one rank fails");
  }
  {
    int64_t three[3] = {1, 2, 3};
    int64_t two[2] = {1, 2};
    const char *const scales[2] = {"/s3", "/s2"};
    CHECK_OK(emi_h5_write_scale_int(f, "/", "s3", 3, three, "1", "three"));
    CHECK_OK(emi_h5_write_scale_int(f, "/", "s2", 2, two, "1", "two"));
    expect_err(emi_h5_write_array(f, "/scaled", EMI_H5_DOUBLE, 2, dims, scales, row0, n, data + 2 * row0, "1", "x"),
               EMI_ERR_ARG, "has 1 dimension(s) and 3 values", "scale length");
    const char *const missing[2] = {"/nothere", "/s2"};
    expect_err(emi_h5_write_array(f, "/scaled", EMI_H5_DOUBLE, 2, dims, missing, row0, n, data + 2 * row0, "1", "x"),
               EMI_ERR_ARG, "does not exist", "missing scale");
    /* netCDF-4 readers (xarray) reject a partly labelled array, and label an array from the
     * coordinates of its own group only: both are errors, before anything is written */
    const char *const partial[2] = {NULL, "/s2"};
    expect_err(emi_h5_write_array(f, "/scaled", EMI_H5_DOUBLE, 2, dims, partial, row0, n, data + 2 * row0, "1", "x"),
               EMI_ERR_ARG, "label every dimension or none", "partly labelled");
    int64_t six[6] = {0, 1, 2, 3, 4, 5};
    CHECK_OK(emi_h5_write_scale_int(f, "/sib", "s6", 6, six, "1", "six"));
    CHECK_OK(emi_h5_write_scale_int(f, "/sib", "s2", 2, two, "1", "two"));
    const char *const sibling[2] = {"/sib/s6", "/sib/s2"}, *const parent[2] = {"/sib/s6", "/s2"};
    expect_err(emi_h5_write_array(f, "/other/x", EMI_H5_DOUBLE, 2, dims, sibling, row0, n, data + 2 * row0, "1", "x"),
               EMI_ERR_ARG, "is not in the array's group", "scale in a sibling group");
    /* a group whose name extends the scale's group is another group */
    expect_err(emi_h5_write_array(f, "/sibling/x", EMI_H5_DOUBLE, 2, dims, sibling, row0, n, data + 2 * row0, "1", "x"),
               EMI_ERR_ARG, "is not in the array's group", "scale in a prefix-named group");
    expect_err(emi_h5_write_array(f, "/sib/x", EMI_H5_DOUBLE, 2, dims, parent, row0, n, data + 2 * row0, "1", "x"),
               EMI_ERR_ARG, "'/s2' of dimension 1 is not in the array's group", "scale in the parent group");
    expect_err(emi_h5_write_array(f, "/sib/deeper/x", EMI_H5_DOUBLE, 2, dims, sibling, row0, n, data + 2 * row0, "1", "x"),
               EMI_ERR_ARG, "is not in the array's group", "scale in the parent group");
    CHECK_OK(emi_h5_write_array(f, "/sib/x", EMI_H5_DOUBLE, 2, dims, sibling, row0, n, data + 2 * row0, "1",
                                "scales of its own group"));
    const char *const cols[1] = {"a"}, *const cells[6] = {"1", "2", "3", "4", "5", "6"};
    expect_err(emi_h5_write_str_table(f, "/other/t", 6, 1, cols, cells, "/sib/s6", "rows"), EMI_ERR_ARG,
               "not an absolute path in the table's group", "table scale in a sibling group");
    int64_t three_sib[3] = {1, 2, 3};
    CHECK_OK(emi_h5_write_scale_int(f, "/sib", "s3", 3, three_sib, "1", "three"));
    expect_err(emi_h5_write_str_table(f, "/sib/t", 6, 1, cols, cells, "/sib/s3", "rows"), EMI_ERR_ARG,
               "has 1 dimension(s) and 3 values", "table scale length");
    CHECK_OK(emi_h5_write_str_table(f, "/sib/t", 6, 1, cols, cells, "/sib/s6", "rows"));
  }
  expect_err(emi_h5_write_array(f, "relative", EMI_H5_DOUBLE, 2, dims, NULL, row0, n, data, "1", "x"), EMI_ERR_ARG,
             "not absolute", "relative path");
  expect_err(emi_h5_write_array(f, "/nounits", EMI_H5_DOUBLE, 2, dims, NULL, row0, n, data, NULL, "x"), EMI_ERR_ARG,
             "units", "missing units");
  expect_err(emi_h5_attr_str(f, "/nothere", "a", "b"), EMI_ERR_HDF5, "/nothere", "attribute on a missing object");
  {
    const char *const cols[2] = {"a", "a"}, *const cells[2] = {"1", "2"};
    expect_err(emi_h5_write_str_table(f, "/t", 1, 2, cols, cells, NULL, "dup"), EMI_ERR_ARG, "both named", "table columns");
  }
  CHECK_OK(emi_h5_write_array(f, "/good", EMI_H5_DOUBLE, 2, dims, NULL, row0, n, data + 2 * row0, "1", "good"));
  expect_err(emi_h5_write_array(f, "/good", EMI_H5_DOUBLE, 2, dims, NULL, row0, n, data + 2 * row0, "1", "again"),
             EMI_ERR_HDF5, "'/good'", "dataset written twice");
  expect_err(emi_h5_group_ensure(f, "/good/sub"), EMI_ERR_ARG, "is not a group", "group below a dataset");
  expect_err(emi_h5_write_array(f, "/good/sub/x", EMI_H5_DOUBLE, 2, dims, NULL, row0, n, data + 2 * row0, "1", "x"),
             EMI_ERR_ARG, "is not a group", "dataset below a dataset");
  {
    uint64_t zero[2] = {0, 3}; /* an empty dataset is allowed (stored contiguous) */
    CHECK_OK(emi_h5_write_array(f, "/empty", EMI_H5_DOUBLE, 2, zero, NULL, 0, 0, NULL, "1", "empty"));
  }
  CHECK_OK(emi_h5_file_commit(&f));
  CHECK(f == NULL);
  CHECK(exists(path) && !exists(part));
  if (g_rank == 0) {
    hid_t fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(fid >= 0);
    CHECK(H5Lexists(fid, "/good", H5P_DEFAULT) > 0);
    CHECK(H5Lexists(fid, "/empty", H5P_DEFAULT) > 0);
    CHECK(H5Lexists(fid, "/gap", H5P_DEFAULT) == 0); /* rejected calls created nothing */
    CHECK(H5Lexists(fid, "/mixed", H5P_DEFAULT) == 0);
    if (fid >= 0) H5Fclose(fid);
  }

  /* 3. commit replaces an older file under the final name (rename is atomic) */
  snprintf(path, sizeof path, "%s/replace_np%d.h5", dir, g_size);
  if (g_rank == 0) {
    FILE *fp = fopen(path, "w");
    CHECK(fp && fputs("an older, non-HDF5 file\n", fp) >= 0 && fclose(fp) == 0);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  CHECK_OK(emi_h5_file_create(MPI_COMM_WORLD, path, &f));
  CHECK(H5Fis_hdf5(path) <= 0); /* the old file is untouched while the new one is written */
  CHECK_OK(emi_h5_group_ensure(f, "/x/y"));
  CHECK_OK(emi_h5_file_commit(&f));
  CHECK(H5Fis_hdf5(path) > 0);

  /* 4. the final name is a directory (or a device, a pipe): refused at creation, before any work,
   *    with EMI_ERR_IO on every rank and nothing created (a rename must never replace it) */
  snprintf(path, sizeof path, "%s/isdir_np%d.h5", dir, g_size);
  snprintf(part, sizeof part, "%s.part", path);
  if (g_rank == 0 && mkdir(path, 0777) != 0 && errno != EEXIST) CHECK_MSG(0, "cannot create '%s'", path);
  MPI_Barrier(MPI_COMM_WORLD);
  expect_err(emi_h5_file_create(MPI_COMM_WORLD, path, &f), EMI_ERR_IO, "not a regular file", "output is a directory");
  CHECK(f == NULL);
  CHECK(!exists(part));

  /* 5. a file that cannot be created: EMI_ERR_IO naming the .part path and the operating system's
   *    reason (a missing directory: ENOENT; a path through a regular file: ENOTDIR), nothing left */
  snprintf(path, sizeof path, "%s/no/such/dir/x_np%d.h5", dir, g_size);
  expect_err(emi_h5_file_create(MPI_COMM_WORLD, path, &f), EMI_ERR_IO, "no/such/dir/x", "create in a missing dir");
  CHECK(f == NULL);
  {
    emi_err_t e = emi_h5_file_create(MPI_COMM_WORLD, path, &f);
    CHECK(e == EMI_ERR_IO && strstr(emi_err_message(), strerror(ENOENT)) != NULL);
    emi_err_clear();
    char plain[900];
    snprintf(plain, sizeof plain, "%s/plain_np%d.txt", dir, g_size);
    if (g_rank == 0) {
      FILE *fp = fopen(plain, "w");
      CHECK(fp != NULL);
      if (fp) fclose(fp);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    snprintf(path, sizeof path, "%s/x.h5", plain);
    e = emi_h5_file_create(MPI_COMM_WORLD, path, &f);
    CHECK_MSG(e == EMI_ERR_IO && strstr(emi_err_message(), plain) && strstr(emi_err_message(), "not a directory"),
              "create below a regular file: got %s (%s)", emi_err_name(e), emi_err_message());
    CHECK(count_ranks(e == EMI_ERR_IO) == g_size);
    CHECK(f == NULL);
    emi_err_clear();
  }
  snprintf(path, sizeof path, "%s/rank%d_np%d.h5", dir, g_rank, g_size);
  snprintf(part, sizeof part, "%s.part", path);
  expect_err(emi_h5_file_create(MPI_COMM_WORLD, path, &f), g_size > 1 ? EMI_ERR_ARG : EMI_SUCCESS,
             g_size > 1 ? "different arguments" : NULL, "rank-dependent path");
  CHECK(g_size == 1 ? f != NULL : f == NULL);
  CHECK_OK(emi_h5_file_abort(&f));
  CHECK(!exists(part) && !exists(path));

  /* 6. provenance: a missing input is EMI_ERR_IO on every rank, naming the path and the reason */
  {
    emi_provenance_t *p = NULL;
    char missing[1100];
    snprintf(missing, sizeof missing, "%s/missing-input.csv", dir);
    CHECK_OK(emi_provenance_create(MPI_COMM_WORLD, 0, NULL, &p));
    expect_err(emi_provenance_add_input(p, missing), EMI_ERR_IO, "missing-input.csv", "missing input");
    emi_err_t e = emi_provenance_add_input(p, missing);
    CHECK(e == EMI_ERR_IO && strstr(emi_err_message(), strerror(ENOENT)) != NULL);
    emi_err_clear();
    size_t ninputs = 99;
    CHECK_OK(emi_provenance_input_count(p, &ninputs));
    CHECK_INT_EQ(ninputs, 0);
    emi_provenance_destroy(&p);
    CHECK(p == NULL);
    emi_provenance_destroy(&p);
  }
  check_no_open_objects("after the error paths");
  return emi_test_report("h5_collective errors");
}

int main(int argc, char **argv)
{
  int rc = 2;
  MPI_Init(&argc, &argv);
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  if (argc >= 3 && strcmp(argv[1], "write") == 0) {
    int perturb = 0, provenance = 1;
    for (int i = 3; i < argc; i++) {
      if (strcmp(argv[i], "--perturb") == 0) perturb = 1;
      else if (strcmp(argv[i], "--no-provenance") == 0) provenance = 0;
    }
    rc = run_write(argv[2], perturb, provenance, argc, argv);
  } else if (argc >= 3 && strcmp(argv[1], "errors") == 0) {
    rc = run_errors(argv[2]);
  } else if (g_rank == 0) {
    fprintf(stderr, "usage: %s write BASE [--perturb] [--no-provenance] | errors DIR\n", argv[0]);
  }
  MPI_Finalize();
  return rc;
}
