/* emi_cmd_run.c: `emflow run CONFIG [-o OUT.h5] [--resume] [--stages LIST]`, the main job (issue 8).
 *
 * Runs the stages a configuration names, in the fixed order
 *     simulate -> classify -> reconcile -> estimate -> forecast -> report,
 * each one the very command `emflow STAGE --config CONFIG` would run (same options table, same config
 * section, same code), called in this process on the same communicator, with the paths that chain
 * the stages put on its command line:
 *     simulate  -o W/simulate.h5 --crossings-h5 W/crossings.h5 --declarations W/declarations.csv
 *               --link-table-out W/links.csv --no-crossings-csv
 *     classify  W/crossings.h5 (or [run] crossings) --declarations W/declarations.csv
 *               --link-table W/links.csv (when simulate ran) -o W/classify.h5
 *     reconcile -o W/reconcile.h5
 *     estimate  -o W/estimate.h5 --checkpoint-dir W/estimate.ckpt --resume; after classify also
 *               --model border --border W/border.csv --declared W/declared.csv (the migrant departures
 *               and the declared ones of /linkage and /undeclared, final months only, summed by group
 *               and period: see write_border_inputs)
 *     forecast  --posterior W/estimate.h5 -o W/forecast.h5
 *     report    OUT.h5 -o REPORT_DIR (after OUT.h5 is assembled)
 * W is the work directory (default OUT.h5.work).  Each stage's files are complete or absent (every
 * command writes NAME.part and renames it); after a stage returns, W/STAGE.done is written (also
 * through a rename) holding the run's fingerprint.  The estimate stage always runs with --resume on
 * its own checkpoint directory (with no checkpoint it starts from the beginning), so its options table,
 * stored in the output, is the same for a first run and a resumed one.
 *
 * OUT.h5 is then assembled (rank 0, through emi_h5 on MPI_COMM_SELF: the same pinned file format) as
 * OUT.h5.part and renamed: every stage file's top-level groups are copied to the root with their
 * dimension scales rebuilt (emi_h5copy.h), each stage's /config as /config/STAGE, and /run/STAGE gets
 * the stage file's provenance apart from what describes the process (date, host, rank and thread
 * counts, command line: those are the run's own, at the root); a group two stages both write is an
 * error naming both.
 *
 * Resume: W/RUN holds the fingerprint (SHA-256 of the emflow version, the config file's bytes, the
 * stage list, the chaining options and the path, size and modification time of every data input of the
 * stages).  `--resume` refuses a work directory of another fingerprint, starts afresh when there is no
 * work directory and no output (a run killed before it made one);
 * a stage with its .done marker is skipped, any other is run again from its start (estimate from its
 * checkpoints).  Without --resume an existing work directory of emflow's is cleared first; a directory
 * that is not one is refused.  After success the work directory is removed unless --keep-work.
 *
 * Output bytes do not depend on the number of ranks or threads, on an interruption or on the clock
 * (with SOURCE_DATE_EPOCH) apart from the root provenance attributes (tests/mpi/run.cmake).
 */
#define _DEFAULT_SOURCE 1 /* realpath, flock */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>
#include <ini.h>

#include "emi_call.h"
#include "emi_cli.h"
#include "emi_commands.h"
#include "emi_h5.h"
#include "emi_h5copy.h"
#include "emi_h5read.h"
#include "emi_log.h"
#include "emi_output.h"
#include "emi_provenance.h"
#include "emi_version.h"

#define PATHLEN 1024

const emi_opt_spec_t emi_run_specs[] = {
  EMI_OPTS_COMMON,
  {"output", "run", EMI_OPT_PATH, NULL, "", "output HDF5 file (default: the config's name with .h5, in the current "
   "directory)", 0, 0, NULL, 'o'},
  {"stages", "run", EMI_OPT_LIST, NULL, "", "stages to run: simulate, classify, reconcile, estimate, forecast, report "
   "(always in this order; default: every stage the config has a section for)"},
  {"resume", NULL, EMI_OPT_FLAG, "false", "", "finish a killed run: skip the stages its work directory holds, continue "
   "the estimate from its checkpoints"},
  {"work-dir", "run", EMI_OPT_PATH, NULL, "", "work directory for stage files and checkpoints (default OUTPUT.work; on "
   "the file system of OUTPUT)"},
  {"keep-work", "run", EMI_OPT_FLAG, "false", "", "keep the work directory after a complete run"},
  {"report-dir", "run", EMI_OPT_PATH, NULL, "", "directory of the report stage (default OUTPUT without .h5 + _report)"},
  {"crossings", "run", EMI_OPT_PATH, NULL, "", "crossings (CSV or HDF5) that classify reads when the run has no "
   "simulate stage"},
  {"border-groups", "run", EMI_OPT_CHOICE, "home", "", "classify -> estimate: groups of the border model: home "
   "(citizens of classify's --home, and foreigners) or citizenship (one group per code)", 0, 0, "home,citizenship"},
  {"border-period", "run", EMI_OPT_CHOICE, "quarter", "", "classify -> estimate: period of the border model (only "
   "periods whose months are all final are used)", 0, 0, "month,quarter,year"},
};
const int emi_run_nspecs = (int)(sizeof emi_run_specs / sizeof emi_run_specs[0]);

enum { ST_SIMULATE, ST_CLASSIFY, ST_RECONCILE, ST_ESTIMATE, ST_FORECAST, ST_REPORT, NSTAGES };
static const char *const stage_names[NSTAGES] = {"simulate", "classify", "reconcile", "estimate", "forecast", "report"};

typedef struct {
  int want[NSTAGES];
  char cfg[PATHLEN], out[PATHLEN], work[PATHLEN], report_dir[PATHLEN], crossings[PATHLEN];
  char fingerprint[65];
  const char *groups_mode, *period_mode, *log_level;
  int progress, resume, keep_work;
  int lock_fd; /* rank 0: the work directory's LOCK, flock'ed */
  char inputs_sig[16384]; /* "path size mtime" of every input file of the stages, for the fingerprint */
  size_t inputs_len;
  double seconds[NSTAGES + 1];
  long peak_kib_max[NSTAGES + 1], peak_kib_sum[NSTAGES + 1];
  int ran[NSTAGES + 1]; /* 1 ran, 2 skipped (resumed) */
} run_t;

/* ------------------------------------------------------------------ small helpers */

static emi_err_t join(char *dst, const char *dir, const char *name)
{
  if (snprintf(dst, PATHLEN, "%s/%s", dir, name) >= PATHLEN)
    return EMI_ERROR(EMI_ERR_ARG, "path %s/%s is too long", dir, name);
  return EMI_SUCCESS;
}

static emi_err_t absolute(char *dst, const char *path)
{
  if (path[0] == '/') {
    if (snprintf(dst, PATHLEN, "%s", path) >= PATHLEN) return EMI_ERROR(EMI_ERR_ARG, "path %s is too long", path);
    return EMI_SUCCESS;
  }
  char cwd[PATHLEN];
  if (!getcwd(cwd, sizeof cwd)) return EMI_ERROR(EMI_ERR_IO, "cannot get the current directory: %s", strerror(errno));
  return join(dst, cwd, path);
}

/* Sections of an INI file (inih), to learn which stages a config names. */
typedef struct {
  int has[NSTAGES];
} sections_t;

static int section_cb(void *user, const char *section, const char *name, const char *value)
{
  (void)name;
  (void)value;
  sections_t *s = user;
  for (int k = 0; k < NSTAGES; k++)
    if (!strcmp(section, stage_names[k])) s->has[k] = 1;
  return 1;
}

static emi_err_t read_file(const char *path, char **text, size_t *len);

/* Mark the stages whose section header "[name]" (blanks around allowed, then nothing or a comment)
 * stands on a line of the config, with or without keys under it. */
static emi_err_t section_headers(const char *cfg, sections_t *s)
{
  emi_err_t err = EMI_SUCCESS;
  char *text = NULL;
  size_t len = 0;
  EMI_TRY(read_file(cfg, &text, &len));
  for (char *line = text; line && *line;) {
    char *end = strchr(line, '\n');
    if (end) *end = '\0';
    char *p = line;
    while (*p == ' ' || *p == '\t') p++;
    if (*p == '[') {
      char *q = strchr(p, ']');
      if (q) {
        char *rest = q + 1;
        while (*rest == ' ' || *rest == '\t' || *rest == '\r') rest++;
        if (!*rest || *rest == ';' || *rest == '#') {
          *q = '\0';
          for (int k = 0; k < NSTAGES; k++)
            if (!strcmp(p + 1, stage_names[k])) s->has[k] = 1;
        }
      }
    }
    line = end ? end + 1 : NULL;
  }
cleanup:
  free(text);
  return err;
}

static emi_err_t read_file(const char *path, char **text, size_t *len)
{
  emi_err_t err = EMI_SUCCESS;
  FILE *fp = fopen(path, "rb");
  *text = NULL;
  *len = 0;
  if (!fp) return EMI_ERROR(EMI_ERR_IO, "cannot open %s: %s", path, strerror(errno));
  if (fseek(fp, 0, SEEK_END) != 0) EMI_FAIL(EMI_ERR_IO, "cannot read %s: %s", path, strerror(errno));
  long n = ftell(fp);
  if (n < 0 || fseek(fp, 0, SEEK_SET) != 0) EMI_FAIL(EMI_ERR_IO, "cannot read %s: %s", path, strerror(errno));
  EMI_MALLOC(*text, (size_t)n + 1, "the config text");
  if (fread(*text, 1, (size_t)n, fp) != (size_t)n)
    EMI_FAIL(EMI_ERR_IO, "cannot read %s: %s", path, ferror(fp) ? strerror(errno) : "it shrank while being read");
  (*text)[n] = '\0';
  *len = (size_t)n;
cleanup:
  fclose(fp);
  if (err) {
    free(*text);
    *text = NULL;
  }
  return err;
}

/* Write text to path atomically (path.part, fsync, rename). */
static emi_err_t write_atomic(const char *path, const char *text)
{
  char part[PATHLEN + 8];
  snprintf(part, sizeof part, "%s.part", path);
  FILE *fp = fopen(part, "w");
  if (!fp) return EMI_ERROR(EMI_ERR_IO, "cannot create %s: %s", part, strerror(errno));
  int bad = fputs(text, fp) < 0;
  bad |= fflush(fp) != 0;
  bad |= fsync(fileno(fp)) != 0;
  bad |= fclose(fp) != 0;
  if (bad || rename(part, path) != 0) {
    unlink(part);
    return EMI_ERROR(EMI_ERR_IO, "cannot write %s: %s", path, strerror(errno));
  }
  return EMI_SUCCESS;
}

/* 1 when path holds a run fingerprint (64 lowercase hex digits): a work directory of emflow's. */
static int holds_fingerprint(const char *path)
{
  char buf[128] = "";
  FILE *fp = fopen(path, "r");
  if (!fp) return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, fp);
  fclose(fp);
  if (n != 64) return 0;
  for (size_t i = 0; i < 64; i++)
    if (!((buf[i] >= '0' && buf[i] <= '9') || (buf[i] >= 'a' && buf[i] <= 'f'))) return 0;
  return 1;
}

/* 1 when path exists and holds exactly text (the fingerprint). */
static int file_holds(const char *path, const char *text)
{
  char buf[128] = "";
  FILE *fp = fopen(path, "r");
  if (!fp) return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, fp);
  fclose(fp);
  buf[n] = '\0';
  return !strcmp(buf, text);
}

/* Peak resident memory since the last reset (VmHWM, KiB); the reset is Linux's clear_refs "5". */
static void peak_reset(void)
{
  int fd = open("/proc/self/clear_refs", O_WRONLY);
  if (fd >= 0) {
    if (write(fd, "5", 1) != 1) { /* an old kernel: the peak is then the process's */
    }
    close(fd);
  }
}

static long peak_kib(void)
{
  FILE *fp = fopen("/proc/self/status", "r");
  char line[256];
  long v = -1;
  if (!fp) return -1;
  while (fgets(line, sizeof line, fp))
    if (!strncmp(line, "VmHWM:", 6)) {
      v = strtol(line + 6, NULL, 10);
      break;
    }
  fclose(fp);
  return v;
}

/* The files the run puts into its work directory (removed when it is cleared). */
static const char *const work_files[] = {
  "RUN", "simulate.h5", "crossings.h5", "declarations.csv", "links.csv", "classify.h5", "border.csv", "declared.csv",
  "reconcile.h5", "estimate.h5", "forecast.h5", "simulate.done", "classify.done", "reconcile.done", "estimate.done",
  "forecast.done", "report.done", "assemble.done", NULL};

/* Rank 0: remove what the run wrote into W (and the checkpoint directory's chain files). */
static void clear_work(const char *w, int remove_dir)
{
  char p[PATHLEN + 16];
  for (int k = 0; work_files[k]; k++) {
    snprintf(p, sizeof p, "%s/%s", w, work_files[k]);
    unlink(p);
    snprintf(p, sizeof p, "%s/%s.part", w, work_files[k]);
    unlink(p);
  }
  for (int c = 0; c < 1024; c++) {
    snprintf(p, sizeof p, "%s/estimate.ckpt/chain%d.h5", w, c);
    if (unlink(p) != 0 && c > 64) break;
    snprintf(p, sizeof p, "%s/estimate.ckpt/chain%d.h5.part", w, c);
    unlink(p);
  }
  snprintf(p, sizeof p, "%s/estimate.ckpt", w);
  rmdir(p);
  if (remove_dir && rmdir(w) != 0) emi_log_warn("run: the work directory %s is not empty and was left in place", w);
}

/* ------------------------------------------------------------------ one stage = one command */

typedef struct {
  char *argv[40];
  char store[40][PATHLEN];
  int argc;
} args_t;

static void arg(args_t *a, const char *s)
{
  if (a->argc >= 39) return;
  snprintf(a->store[a->argc], PATHLEN, "%s", s);
  a->argv[a->argc] = a->store[a->argc];
  a->argc++;
  a->argv[a->argc] = NULL;
}

static emi_err_t run_command(emi_ctx_t *parent, const run_t *r, args_t *a)
{
  emi_err_t err = EMI_SUCCESS;
  const emi_command_t *cmd = emi_command_find(a->argv[1]);
  emi_ctx_t ctx = {.comm = parent->comm, .rank = parent->rank, .size = parent->size, .argc = a->argc, .argv = a->argv};
  int want_help = 0;
  if (!cmd) return EMI_ERROR(EMI_ERR_INTERNAL, "run: no command %s", a->argv[1]);
  if (r->log_level) {
    arg(a, "--log-level");
    arg(a, r->log_level);
  }
  if (r->progress) arg(a, "--progress");
  ctx.argc = a->argc;
  {
    char line[2048];
    int used = 0;
    for (int k = 0; k < a->argc && used < (int)sizeof line; k++)
      used += snprintf(line + used, sizeof line - (size_t)used, "%s%s", k ? " " : "", a->argv[k]);
    emi_log_debug("run: %s", line);
  }
  EMI_TRY(emi_cli_setup_options(cmd, a->argc, a->argv, &ctx, &want_help));
  EMI_TRY(cmd->run(&ctx));
cleanup:
  emi_opts_destroy(&ctx.opts);
  return err;
}

/* ------------------------------------------------------------------ classify -> estimate */

typedef struct {
  int ngroups, nperiods;
  char group[64][16];
  char period[512][32];
  int64_t border[64 * 512], declared[64 * 512];
  int complete[512]; /* months seen (all final) */
  int needed[512];
} bridge_t;

static int month_period(const char *month, const char *mode, char *label)
{
  int y = 0, m = 0;
  if (sscanf(month, "%d-%d", &y, &m) != 2 || m < 1 || m > 12) return -1;
  if (!strcmp(mode, "year")) return snprintf(label, 32, "%04d", y), 12;
  if (!strcmp(mode, "quarter")) return snprintf(label, 32, "%04d-Q%d", y, (m - 1) / 3 + 1), 3;
  return snprintf(label, 32, "%04d-%02d", y, m), 1;
}

/* Rank 0.  Sum /linkage/migrant_departures and /undeclared/declared_departures (month x citizenship x
 * sex x age group) by group and period over the final months, and write the two long CSVs
 * group,period,value that estimate's border model reads.  A period is kept only when all its months
 * are in the tables and final (a part-quarter would look like a drop in emigration). */
static emi_err_t write_border_inputs(const run_t *r, const char *classify_h5, const char *home)
{
  emi_err_t err = EMI_SUCCESS;
  hid_t fid = H5I_INVALID_HID, did = H5I_INVALID_HID;
  emi_column_t month = {0}, prov = {0}, cit = {0}, dep = {0}, dec = {0};
  bridge_t *b = NULL;
  FILE *fb = NULL, *fd = NULL;
  char pb[PATHLEN], pd[PATHLEN];
  const char *paths[5] = {"/linkage/month", "/linkage/provisional", "/linkage/citizenship",
                          "/linkage/migrant_departures", "/undeclared/declared_departures"};
  emi_column_t *cols[5] = {&month, &prov, &cit, &dep, &dec};
  EMI_H5_TRY(fid = H5Fopen(classify_h5, H5F_ACC_RDONLY, H5P_DEFAULT));
  for (int k = 0; k < 5; k++) {
    if (H5Lexists(fid, paths[k], H5P_DEFAULT) <= 0)
      EMI_FAIL(EMI_ERR_INPUT, "%s: no dataset %s (classify wrote no %s table: give the classify stage "
               "declarations)", classify_h5, paths[k], k == 4 ? "declared-departures" : "linkage");
    EMI_H5_TRY(did = H5Dopen2(fid, paths[k], H5P_DEFAULT));
    EMI_TRY(emi_column_read(did, classify_h5, paths[k], cols[k]));
    H5Dclose(did);
    did = H5I_INVALID_HID;
  }
  size_t nm = month.n, nc = cit.n;
  if (month.kind != EMI_COL_STR || cit.kind != EMI_COL_STR || prov.n != nm || nm == 0 || nc == 0 ||
      dep.n != dec.n || dep.n % (nm * nc) != 0 || (dep.kind != EMI_COL_INT && dep.kind != EMI_COL_UINT))
    EMI_FAIL(EMI_ERR_INPUT, "%s: the /linkage tables do not have the shape month x citizenship x ... of emflow "
             "classify", classify_h5);
  size_t inner = dep.n / (nm * nc);
  EMI_CALLOC(b, 1, "the border tables");
  if (!strcmp(r->groups_mode, "home")) {
    b->ngroups = 2;
    snprintf(b->group[0], 16, "%s", home);
    snprintf(b->group[1], 16, "foreign");
  } else {
    if (nc > 64) EMI_FAIL(EMI_ERR_INPUT, "%s: %zu citizenships; border-groups = citizenship takes at most 64 (use "
                          "border-groups = home)", classify_h5, nc);
    b->ngroups = (int)nc;
    for (size_t c = 0; c < nc; c++) snprintf(b->group[c], 16, "%s", cit.s[c]);
  }
  for (size_t t = 0; t < nm; t++) {
    char label[32];
    int per = month_period(month.s[t], r->period_mode, label);
    if (per < 0) EMI_FAIL(EMI_ERR_INPUT, "%s: /linkage/month[%zu] = '%s' is not YYYY-MM", classify_h5, t, month.s[t]);
    int p = 0;
    while (p < b->nperiods && strcmp(b->period[p], label)) p++;
    if (p == b->nperiods) {
      if (p >= 512) EMI_FAIL(EMI_ERR_INPUT, "%s: more than 512 periods", classify_h5);
      snprintf(b->period[p], 32, "%s", label);
      b->needed[p] = per;
      b->nperiods++;
    }
    int final = prov.kind == EMI_COL_REAL ? prov.d[t] == 0
              : prov.kind == EMI_COL_INT  ? prov.i[t] == 0
              : prov.kind == EMI_COL_UINT ? prov.u[t] == 0
                                          : 0;
    if (!final) {
      b->complete[p] = -1000; /* a provisional month spoils its period */
      continue;
    }
    b->complete[p]++;
    for (size_t c = 0; c < nc; c++) {
      int g = !strcmp(r->groups_mode, "home") ? (strcmp(cit.s[c], home) ? 1 : 0) : (int)c;
      for (size_t k = 0; k < inner; k++) {
        size_t idx = (t * nc + c) * inner + k;
        b->border[g * 512 + p] += dep.kind == EMI_COL_INT ? dep.i[idx] : (int64_t)dep.u[idx];
        b->declared[g * 512 + p] += dec.kind == EMI_COL_INT ? dec.i[idx] : (int64_t)dec.u[idx];
      }
    }
  }
  EMI_TRY(join(pb, r->work, "border.csv"));
  EMI_TRY(join(pd, r->work, "declared.csv"));
  char pbp[PATHLEN + 8], pdp[PATHLEN + 8];
  snprintf(pbp, sizeof pbp, "%s.part", pb);
  snprintf(pdp, sizeof pdp, "%s.part", pd);
  fb = fopen(pbp, "w");
  fd = fopen(pdp, "w");
  if (!fb || !fd) EMI_FAIL(EMI_ERR_IO, "cannot create %s: %s", fb ? pdp : pbp, strerror(errno));
  fprintf(fb, "group,period,value\n");
  fprintf(fd, "group,period,value\n");
  int kept = 0;
  for (int p = 0; p < b->nperiods; p++) {
    if (b->complete[p] != b->needed[p]) continue;
    kept++;
    for (int g = 0; g < b->ngroups; g++) {
      fprintf(fb, "%s,%s,%lld\n", b->group[g], b->period[p], (long long)b->border[g * 512 + p]);
      fprintf(fd, "%s,%s,%lld\n", b->group[g], b->period[p], (long long)b->declared[g * 512 + p]);
    }
  }
  if (kept < 3)
    EMI_FAIL(EMI_ERR_INPUT, "%s: only %d %s(s) with all months final; the border model needs at least 3: simulate or "
             "classify a longer period, or set [run] border-period = month", classify_h5, kept, r->period_mode);
  {
    errno = 0;
    int xb = ferror(fb), cb = fclose(fb), eb = xb || cb ? (errno ? errno : EIO) : 0;
    errno = 0;
    int xd = ferror(fd), cd = fclose(fd), ed = xd || cd ? (errno ? errno : EIO) : 0;
    fb = fd = NULL; /* closed (fclose closes even when it fails) */
    if (eb || ed) EMI_FAIL(EMI_ERR_IO, "cannot write %s: %s", eb ? pbp : pdp, strerror(eb ? eb : ed));
  }
  fb = fd = NULL;
  if (rename(pbp, pb) != 0) EMI_FAIL(EMI_ERR_IO, "cannot rename %s to %s: %s", pbp, pb, strerror(errno));
  if (rename(pdp, pd) != 0) EMI_FAIL(EMI_ERR_IO, "cannot rename %s to %s: %s", pdp, pd, strerror(errno));
  emi_log_info("run: classify -> estimate: %d %s(s) x %d group(s) of final migrant departures", kept, r->period_mode,
               b->ngroups);
cleanup:
  if (fb) fclose(fb);
  if (fd) fclose(fd);
  if (err) {
    unlink(pbp);
    unlink(pdp);
  }
  for (int k = 0; k < 5; k++) emi_column_free(cols[k]);
  free(b);
  if (did >= 0) H5Dclose(did);
  if (fid >= 0) H5Fclose(fid);
  return err;
}

/* ------------------------------------------------------------------ assembly */

/* Root attributes of a stage file that describe the process, not the result: the run's own. */
static const char *const process_attrs[] = {"date", "host", "mpi_ranks", "omp_threads", "command_line",
                                            "input_files", "input_sha256", NULL};

/* A 1-D variable-length string attribute of the root of fid (n = 0 when absent). */
static emi_err_t read_str_array(hid_t fid, const char *name, const char *file, char ***vals, int *n)
{
  emi_err_t err = EMI_SUCCESS;
  hid_t aid = H5I_INVALID_HID, sp = H5I_INVALID_HID, mt = H5I_INVALID_HID;
  *vals = NULL;
  *n = 0;
  if (H5Aexists(fid, name) <= 0) return EMI_SUCCESS;
  EMI_H5_TRY(aid = H5Aopen(fid, name, H5P_DEFAULT));
  EMI_H5_TRY(sp = H5Aget_space(aid));
  hssize_t m = H5Sget_simple_extent_npoints(sp);
  if (m < 0 || m > 100000) EMI_FAIL(EMI_ERR_INPUT, "%s: attribute %s has a bad shape", file, name);
  EMI_H5_TRY(mt = H5Tcopy(H5T_C_S1));
  EMI_H5_TRY(H5Tset_size(mt, H5T_VARIABLE));
  EMI_H5_TRY(H5Tset_cset(mt, H5T_CSET_UTF8));
  EMI_CALLOC(*vals, (size_t)m + 1, "input names");
  EMI_H5_TRY(H5Aread(aid, mt, *vals));
  *n = (int)m;
cleanup:
  if (mt >= 0) H5Tclose(mt);
  if (sp >= 0) H5Sclose(sp);
  if (aid >= 0) H5Aclose(aid);
  return err;
}

/* /run/STAGE input_files, input_sha256: the stage's inputs outside the work directory (the files the
 * run made for it carry rank counts in their own provenance, so their hashes would differ with N). */
static emi_err_t external_inputs(emi_h5_file_t *f, hid_t src, const char *gp, const char *work, const char *file)
{
  emi_err_t err = EMI_SUCCESS;
  char **names = NULL, **sums = NULL;
  int nn = 0, ns = 0, kept = 0;
  const char **kn = NULL, **ks = NULL;
  size_t wl = strlen(work);
  EMI_TRY(read_str_array(src, "input_files", file, &names, &nn));
  EMI_TRY(read_str_array(src, "input_sha256", file, &sums, &ns));
  if (nn != ns) EMI_FAIL(EMI_ERR_INPUT, "%s: input_files and input_sha256 differ in length", file);
  EMI_CALLOC(kn, (size_t)nn + 1, "input names");
  EMI_CALLOC(ks, (size_t)nn + 1, "input hashes");
  for (int i = 0; i < nn; i++) {
    if (!names[i] || !sums[i]) continue;
    if (!strncmp(names[i], work, wl) && names[i][wl] == '/') continue;
    kn[kept] = names[i];
    ks[kept] = sums[i];
    kept++;
  }
  if (kept > 0) {
    EMI_TRY(emi_h5_attr_str_array(f, gp, "input_files", (uint64_t)kept, kn));
    EMI_TRY(emi_h5_attr_str_array(f, gp, "input_sha256", (uint64_t)kept, ks));
  }
cleanup:
  free(kn);
  free(ks);
  for (int i = 0; names && i < nn; i++) free(names[i]);
  for (int i = 0; sums && i < ns; i++) free(sums[i]);
  free(names);
  free(sums);
  return err;
}

typedef struct {
  const char *stage;
  char (*owner)[2][32]; /* group name -> stage */
  int *nowner;
  hid_t src_fid, dst_fid;
  int n;
  char src[32][128], dst[32][160];
  int nattr; /* merged groups whose attributes are copied after the objects */
  char attr_groups[8][128];
  emi_err_t err;
} top_ctx_t;

/* Collect the stage file's top-level groups and where they go (/config -> /config/STAGE). */
static herr_t list_top(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
  (void)g;
  (void)info;
  top_ctx_t *t = data;
  emi_err_t err = EMI_SUCCESS;
  if (t->n >= 32 || strlen(name) > 60) EMI_FAIL(EMI_ERR_INPUT, "run: the %s stage's file has too many or too long "
                                                 "top-level names", t->stage);
  if (!strcmp(name, "config")) {
    snprintf(t->src[t->n], 128, "/%s", name);
    snprintf(t->dst[t->n], 160, "/config/%s", t->stage);
    t->n++;
    goto cleanup;
  }
  int earlier = -1;
  for (int k = 0; k < *t->nowner; k++)
    if (!strcmp(t->owner[k][0], name)) earlier = k;
  if (earlier < 0) {
    /* A new group: copied whole. */
    snprintf(t->src[t->n], 128, "/%s", name);
    snprintf(t->dst[t->n], 160, "/%s", name);
    t->n++;
    if (*t->nowner < 64) {
      snprintf(t->owner[*t->nowner][0], 32, "%s", name);
      snprintf(t->owner[*t->nowner][1], 32, "%s", t->stage);
      (*t->nowner)++;
    }
    goto cleanup;
  }
  /* An earlier stage wrote a group of this name (classify's /undeclared tables and estimate's
   * /undeclared/emigration): merge, object by object; a clash of names is an error. */
  {
    hid_t sg = H5Gopen2(t->src_fid, name, H5P_DEFAULT);
    if (sg < 0) EMI_FAIL(EMI_ERR_INPUT, "run: /%s of the %s stage is not a group", name, t->stage);
    H5G_info_t gi;
    if (H5Gget_info(sg, &gi) < 0) {
      H5Gclose(sg);
      EMI_FAIL(EMI_ERR_HDF5, "run: cannot list /%s of the %s stage", name, t->stage);
    }
    for (hsize_t i = 0; i < gi.nlinks && !err; i++) {
      char child[128];
      if (H5Lget_name_by_idx(sg, ".", H5_INDEX_NAME, H5_ITER_INC, i, child, sizeof child, H5P_DEFAULT) <= 0) {
        err = EMI_ERROR(EMI_ERR_HDF5, "run: cannot list /%s of the %s stage", name, t->stage);
        break;
      }
      char dp[300];
      snprintf(dp, sizeof dp, "/%s/%s", name, child);
      if (H5Lexists(t->dst_fid, dp, H5P_DEFAULT) > 0)
        err = EMI_ERROR(EMI_ERR_CONFIG, "run: stages %s and %s both write %s: run them in separate jobs",
                        t->owner[earlier][1], t->stage, dp);
      else if (t->n >= 32)
        err = EMI_ERROR(EMI_ERR_INPUT, "run: the %s stage's file has too many top-level objects", t->stage);
      else {
        snprintf(t->src[t->n], 128, "%.127s", dp);
        snprintf(t->dst[t->n], 160, "%.159s", dp);
        t->n++;
      }
    }
    for (int a = 0; !err && a < H5Aget_num_attrs(sg); a++) {
      char an[128];
      if (H5Aget_name_by_idx(sg, ".", H5_INDEX_NAME, H5_ITER_INC, (hsize_t)a, an, sizeof an, H5P_DEFAULT) < 0) break;
      char dp[160];
      snprintf(dp, sizeof dp, "/%s", name);
      if (H5Aexists_by_name(t->dst_fid, dp, an, H5P_DEFAULT) > 0)
        err = EMI_ERROR(EMI_ERR_CONFIG, "run: stages %s and %s both set the attribute %s of /%s", t->owner[earlier][1],
                        t->stage, an, name);
    }
    H5Gclose(sg);
    if (err) goto cleanup;
    if (t->nattr < 8) snprintf(t->attr_groups[t->nattr++], 128, "/%s", name);
  }
cleanup:
  if (err) {
    t->err = err;
    return -1;
  }
  return 0;
}

static emi_err_t assemble(emi_ctx_t *ctx, run_t *r)
{
  emi_err_t err = EMI_SUCCESS, local = EMI_SUCCESS;
  emi_h5_file_t *f = NULL;
  emi_provenance_t *prov = NULL;
  hid_t src = H5I_INVALID_HID, gcpl = H5I_INVALID_HID, g = H5I_INVALID_HID;
  char *cfg_text = NULL;
  size_t cfg_len = 0;
  char owner[64][2][32];
  int nowner = 0;

  EMI_TRY(emi_provenance_create(ctx->comm, ctx->argc, ctx->argv, &prov));
  EMI_TRY(read_file(r->cfg, &cfg_text, &cfg_len));
  EMI_TRY(emi_provenance_set_config(prov, cfg_text, cfg_len));
  EMI_TRY(emi_provenance_add_input(prov, r->cfg));
  if (ctx->rank == 0) {
    local = emi_h5_file_create(MPI_COMM_SELF, r->out, &f);
    if (!local) local = emi_h5_write_provenance(f, prov);
    if (!local) {
      char stages[256] = "";
      for (int k = 0; k < NSTAGES; k++)
        if (r->want[k]) snprintf(stages + strlen(stages), sizeof stages - strlen(stages), "%s%s", stages[0] ? "," : "",
                                 stage_names[k]);
      local = emi_h5_attr_str(f, "/", "stages", stages);
    }
    if (!local) local = emi_h5_group_ensure(f, "/config");
    if (!local) local = emi_h5_group_ensure(f, "/run");
    hid_t dst = local ? H5I_INVALID_HID : emi_h5_file_id(f);
    for (int k = 0; k < NSTAGES && !local; k++) {
      if (!r->want[k] || k == ST_REPORT) continue;
      char sp[PATHLEN + 32], gp[64];
      snprintf(sp, sizeof sp, "%s/%s.h5", r->work, stage_names[k]);
      src = H5Fopen(sp, H5F_ACC_RDONLY, H5P_DEFAULT);
      if (src < 0) {
        const char *why = emi_input_open_error(sp);
        local = EMI_ERROR(EMI_ERR_IO, "run: cannot open the %s stage's output %s: %s", stage_names[k], sp,
                          why ? why : "not a readable HDF5 file");
        break;
      }
      top_ctx_t *t = calloc(1, sizeof *t);
      if (!t) local = EMI_ERROR(EMI_ERR_NOMEM, "run: out of memory");
      hsize_t idx = 0;
      if (t) {
        t->stage = stage_names[k];
        t->owner = owner;
        t->nowner = &nowner;
        t->src_fid = src;
        t->dst_fid = dst;
        if (H5Literate(src, H5_INDEX_NAME, H5_ITER_INC, &idx, list_top, t) < 0)
          local = t->err ? t->err : EMI_ERROR(EMI_ERR_HDF5, "run: cannot list the groups of %s", sp);
        const char *sv[32], *dv[32];
        for (int j = 0; j < t->n; j++) sv[j] = t->src[j], dv[j] = t->dst[j];
        if (!local) local = emi_h5_copy_groups(src, t->n, sv, dst, dv, sp);
        for (int j = 0; j < t->nattr && !local; j++)
          local = emi_h5_copy_attrs(src, t->attr_groups[j], dst, t->attr_groups[j], NULL, sp);
        free(t);
      }
      snprintf(gp, sizeof gp, "/run/%s", stage_names[k]);
      if (!local) local = emi_h5_group_ensure(f, gp);
      if (!local) local = emi_h5_copy_attrs(src, "/", dst, gp, process_attrs, sp);
      if (!local) local = external_inputs(f, src, gp, r->work, sp);
      H5Fclose(src);
      src = H5I_INVALID_HID;
    }
    if (!local) local = emi_h5_file_commit(&f);
  }
  EMI_TRY(emi_mpi_agree(ctx->comm, local, NULL));
cleanup:
  if (src >= 0) H5Fclose(src);
  if (g >= 0) H5Gclose(g);
  if (gcpl >= 0) H5Pclose(gcpl);
  if (f) emi_h5_file_abort(&f);
  emi_provenance_destroy(&prov);
  free(cfg_text);
  return err;
}

/* ------------------------------------------------------------------ the command */

static emi_err_t stage_args(const run_t *r, int k, args_t *a, char *home, size_t homelen)
{
  emi_err_t err = EMI_SUCCESS;
  char p[PATHLEN];
  (void)home;
  (void)homelen;
  a->argc = 0;
  arg(a, "emflow");
  arg(a, stage_names[k]);
  arg(a, "--config");
  arg(a, r->cfg);
  switch (k) {
  case ST_SIMULATE:
    EMI_TRY(join(p, r->work, "simulate.h5")); arg(a, "-o"); arg(a, p);
    EMI_TRY(join(p, r->work, "crossings.h5")); arg(a, "--crossings-h5"); arg(a, p);
    EMI_TRY(join(p, r->work, "declarations.csv")); arg(a, "--declarations"); arg(a, p);
    EMI_TRY(join(p, r->work, "links.csv")); arg(a, "--link-table-out"); arg(a, p);
    arg(a, "--no-crossings-csv");
    break;
  case ST_CLASSIFY:
    if (r->want[ST_SIMULATE]) {
      EMI_TRY(join(p, r->work, "crossings.h5")); arg(a, p);
      EMI_TRY(join(p, r->work, "declarations.csv")); arg(a, "--declarations"); arg(a, p);
      EMI_TRY(join(p, r->work, "links.csv")); arg(a, "--link-table"); arg(a, p);
    } else {
      if (!r->crossings[0])
        EMI_FAIL(EMI_ERR_CONFIG, "%s: the run classifies crossings without simulating them: set [run] crossings = "
                 "FILE (CSV or HDF5)", r->cfg);
      arg(a, r->crossings);
    }
    EMI_TRY(join(p, r->work, "classify.h5")); arg(a, "-o"); arg(a, p);
    break;
  case ST_RECONCILE:
    EMI_TRY(join(p, r->work, "reconcile.h5")); arg(a, "-o"); arg(a, p);
    break;
  case ST_ESTIMATE:
    EMI_TRY(join(p, r->work, "estimate.h5")); arg(a, "-o"); arg(a, p);
    EMI_TRY(join(p, r->work, "estimate.ckpt")); arg(a, "--checkpoint-dir"); arg(a, p);
    arg(a, "--resume");
    if (r->want[ST_CLASSIFY]) {
      arg(a, "--model"); arg(a, "border");
      EMI_TRY(join(p, r->work, "border.csv")); arg(a, "--border"); arg(a, p);
      EMI_TRY(join(p, r->work, "declared.csv")); arg(a, "--declared"); arg(a, p);
      arg(a, "--group-col"); arg(a, "group");
      arg(a, "--period-col"); arg(a, "period");
      arg(a, "--value-col"); arg(a, "value");
    }
    break;
  case ST_FORECAST:
    EMI_TRY(join(p, r->work, "estimate.h5")); arg(a, "--posterior"); arg(a, p);
    EMI_TRY(join(p, r->work, "forecast.h5")); arg(a, "-o"); arg(a, p);
    break;
  case ST_REPORT:
    arg(a, r->out);
    arg(a, "-o");
    arg(a, r->report_dir);
    if (!r->want[ST_FORECAST]) arg(a, "--without-forecast");
    break;
  }
cleanup:
  return err;
}

/* The home code of classify (for border-groups = home): its option as the config resolves it. */
static emi_err_t classify_home(const run_t *r, char *home, size_t n)
{
  emi_err_t err = EMI_SUCCESS;
  emi_opts_t *o = NULL;
  const char *h = NULL;
  EMI_TRY(emi_opts_create("classify", emi_classify_specs, emi_classify_nspecs, &o));
  EMI_TRY(emi_opts_load_ini(o, r->cfg, "emflow,classify", emi_known_sections()));
  EMI_TRY(emi_opts_get_str(o, "home", &h));
  snprintf(home, n, "%s", h);
cleanup:
  emi_opts_destroy(&o);
  return err;
}

static emi_err_t setup(emi_ctx_t *ctx, run_t *r)
{
  emi_err_t err = EMI_SUCCESS;
  const char *s = NULL;
  int n = 0;
  const char *const *items = NULL;

  if (ctx->npos != 1 || !ctx->pos[0][0])
    EMI_FAIL(EMI_ERR_USAGE, "run: give one CONFIG file (emflow run CONFIG [-o OUT.h5])%s",
             ctx->npos == 1 ? ": the name given is empty" : "");
  struct stat sb;
  if (stat(ctx->pos[0], &sb) != 0)
    EMI_FAIL(EMI_ERR_IO, "run: cannot read the config %s: %s", ctx->pos[0], strerror(errno));
  if (!S_ISREG(sb.st_mode)) EMI_FAIL(EMI_ERR_IO, "run: the config %s is not a regular file", ctx->pos[0]);
  if (!realpath(ctx->pos[0], r->cfg))
    EMI_FAIL(EMI_ERR_IO, "run: cannot resolve the config path %s: %s", ctx->pos[0], strerror(errno));
  /* The config's own [run] section, then the command line over it. */
  if (!ctx->config_path) {
    emi_opts_t *o = NULL;
    EMI_TRY(emi_opts_create("run", emi_run_specs, emi_run_nspecs, &o));
    err = emi_opts_load_ini(o, r->cfg, "emflow,run", emi_known_sections());
    if (!err) err = emi_opts_parse_argv(o, ctx->argc, ctx->argv, 2, ctx->pos, 8, &ctx->npos);
    if (err) {
      emi_opts_destroy(&o);
      goto cleanup;
    }
    emi_opts_destroy(&ctx->opts);
    ctx->opts = o;
  } else if (strcmp(ctx->config_path, ctx->pos[0]))
    EMI_FAIL(EMI_ERR_USAGE, "run: the config is the positional argument; --config %s differs from %s", ctx->config_path,
             ctx->pos[0]);

  if (emi_opts_is_set(ctx->opts, "output")) {
    EMI_TRY(emi_opts_get_str(ctx->opts, "output", &s));
    EMI_TRY(absolute(r->out, s));
  } else {
    const char *base = strrchr(r->cfg, '/') ? strrchr(r->cfg, '/') + 1 : r->cfg;
    char name[PATHLEN];
    snprintf(name, sizeof name, "%s", base);
    char *dot = strrchr(name, '.');
    if (dot) *dot = '\0';
    strncat(name, ".h5", sizeof name - strlen(name) - 1);
    EMI_TRY(absolute(r->out, name));
  }
  size_t ol = strlen(r->out);
  if (ol < 4 || strcmp(r->out + ol - 3, ".h5"))
    EMI_FAIL(EMI_ERR_USAGE, "run: the output %s must end in .h5", r->out);
  /* The output's directory in canonical form (the fingerprint must not depend on how a path is typed). */
  {
    char dir[PATHLEN], canon[PATHLEN], *slash = strrchr(r->out, '/');
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - r->out), r->out);
    if (!realpath(dir[0] ? dir : "/", canon))
      EMI_FAIL(EMI_ERR_IO, "run: the output's directory %s: %s", dir, strerror(errno));
    char tmp[PATHLEN];
    if (snprintf(tmp, sizeof tmp, "%s/%s", strcmp(canon, "/") ? canon : "", slash + 1) >= (int)sizeof tmp)
      EMI_FAIL(EMI_ERR_ARG, "run: output path too long");
    memcpy(r->out, tmp, sizeof tmp);
    ol = strlen(r->out);
  }
  if (stat(r->out, &sb) == 0 && !S_ISREG(sb.st_mode))
    EMI_FAIL(EMI_ERR_IO, "run: the output %s exists and is not a regular file", r->out);
  if (!strcmp(r->out, r->cfg)) EMI_FAIL(EMI_ERR_USAGE, "run: the output %s is the config itself", r->out);
  if (emi_opts_is_set(ctx->opts, "work-dir")) {
    EMI_TRY(emi_opts_get_str(ctx->opts, "work-dir", &s));
    EMI_TRY(absolute(r->work, s));
  } else if (snprintf(r->work, PATHLEN, "%s.work", r->out) >= PATHLEN)
    EMI_FAIL(EMI_ERR_ARG, "run: output path too long");
  if (emi_opts_is_set(ctx->opts, "report-dir")) {
    EMI_TRY(emi_opts_get_str(ctx->opts, "report-dir", &s));
    EMI_TRY(absolute(r->report_dir, s));
  } else
    snprintf(r->report_dir, PATHLEN, "%.*s_report", (int)(ol - 3), r->out);
  {
    size_t wl = strlen(r->work);
    if (!strncmp(r->out, r->work, wl) && r->out[wl] == '/')
      EMI_FAIL(EMI_ERR_USAGE, "run: the output %s is inside the work directory %s, which is removed after the run",
               r->out, r->work);
    if (!strncmp(r->report_dir, r->work, wl) && (r->report_dir[wl] == '/' || r->report_dir[wl] == '\0'))
      EMI_FAIL(EMI_ERR_USAGE, "run: the report directory %s is inside the work directory %s", r->report_dir, r->work);
    /* MPI-IO (Open MPI's shared-file-pointer component) aborts on file names of more than ~240 bytes. */
    if (wl > 190 || ol > 220)
      EMI_FAIL(EMI_ERR_USAGE, "run: the work directory (%zu characters) or the output path (%zu) is too long for "
               "MPI-IO file names: at most 190 and 220", wl, ol);
    if (stat(r->report_dir, &sb) == 0 && !S_ISDIR(sb.st_mode))
      EMI_FAIL(EMI_ERR_IO, "run: the report directory %s exists and is not a directory", r->report_dir);
  }
  if (emi_opts_is_set(ctx->opts, "crossings")) {
    EMI_TRY(emi_opts_get_str(ctx->opts, "crossings", &s));
    EMI_TRY(absolute(r->crossings, s));
  }
  EMI_TRY(emi_opts_get_str(ctx->opts, "border-groups", &r->groups_mode));
  EMI_TRY(emi_opts_get_str(ctx->opts, "border-period", &r->period_mode));
  EMI_TRY(emi_opts_get_flag(ctx->opts, "resume", &r->resume));
  EMI_TRY(emi_opts_get_flag(ctx->opts, "keep-work", &r->keep_work));
  EMI_TRY(emi_opts_get_flag(ctx->opts, "progress", &r->progress));
  if (emi_opts_given(ctx->opts, "log-level")) {
    /* main() set up logging before the config (the positional CONFIG) was read: apply its level now. */
    emi_log_level_t level = EMI_LOG_INFO;
    EMI_TRY(emi_opts_get_str(ctx->opts, "log-level", &r->log_level));
    emi_log_level_parse(r->log_level, &level);
    emi_log_setup(ctx->rank, level, r->progress ? 1 : 0);
  }

  /* Stages: the list, else every stage section of the config. */
  EMI_TRY(emi_opts_get_list(ctx->opts, "stages", &n, &items));
  if (n > 0) {
    /* Each item may itself be a comma list (--stages estimate,forecast). */
    for (int i = 0; i < n; i++) {
      char buf[256];
      snprintf(buf, sizeof buf, "%s", items[i]);
      char *save = NULL;
      int nitem = 0;
      for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') tok++;
        char *end = tok + strlen(tok);
        while (end > tok && end[-1] == ' ') *--end = '\0';
        int k = 0;
        while (k < NSTAGES && strcmp(tok, stage_names[k])) k++;
        if (k == NSTAGES)
          EMI_FAIL(EMI_ERR_USAGE, "run: unknown stage '%s' in --stages (expected simulate, classify, reconcile, estimate, "
                   "forecast, report)", tok);
        if (r->want[k]) EMI_FAIL(EMI_ERR_USAGE, "run: stage '%s' is listed twice in --stages", tok);
        r->want[k] = 1;
        nitem++;
      }
      if (!nitem) EMI_FAIL(EMI_ERR_USAGE, "run: an empty item in --stages");
    }
  } else {
    sections_t sec = {{0}};
    int rc = ini_parse(r->cfg, section_cb, &sec);
    if (rc != 0) EMI_FAIL(EMI_ERR_CONFIG, "%s:%d: cannot parse the config", r->cfg, rc);
    /* inih reports keys, not sections: an empty [report] section (the report has usable defaults)
     * names its stage too, so the section headers are read here as well */
    EMI_TRY(section_headers(r->cfg, &sec));
    for (int k = 0; k < NSTAGES; k++) r->want[k] = sec.has[k];
  }
  int any = 0;
  for (int k = 0; k < NSTAGES; k++) any |= r->want[k];
  if (!any)
    EMI_FAIL(EMI_ERR_CONFIG, "%s: no stage to run: the config has no [simulate], [classify], [reconcile], [estimate], "
             "[forecast] or [report] section and [run] stages is not set", r->cfg);
  if (r->want[ST_FORECAST] && !r->want[ST_ESTIMATE])
    EMI_FAIL(EMI_ERR_CONFIG, "%s: the forecast stage needs the estimate stage (its posterior) in the same run", r->cfg);
  if (r->want[ST_REPORT] && !(r->want[ST_ESTIMATE] || r->want[ST_CLASSIFY]))
    EMI_FAIL(EMI_ERR_CONFIG, "%s: the report stage shows estimate or classify outputs: run one of them too", r->cfg);
  if (r->want[ST_SIMULATE] && !r->want[ST_CLASSIFY])
    EMI_FAIL(EMI_ERR_CONFIG, "%s: a run that simulates must classify the crossings too (simulate alone: emflow "
             "simulate)", r->cfg);

cleanup:
  return err;
}

static emi_err_t prepare_work(emi_ctx_t *ctx, run_t *r)
{
  emi_err_t local = EMI_SUCCESS, err = EMI_SUCCESS;
  if (ctx->rank == 0) {
    char runfile[PATHLEN];
    struct stat sb;
    local = join(runfile, r->work, "RUN");
    int exists = !local && stat(r->work, &sb) == 0;
    if (!local && exists && !S_ISDIR(sb.st_mode))
      local = EMI_ERROR(EMI_ERR_IO, "run: the work directory %s exists and is not a directory", r->work);
    /* One run at a time in a work directory of emflow's (flock on W/LOCK, released when the process ends,
     * killed or not), taken before anything in it is read or cleared. */
    char lockfile[PATHLEN];
    if (!local && exists && S_ISDIR(sb.st_mode) && holds_fingerprint(runfile) && !join(lockfile, r->work, "LOCK")) {
      r->lock_fd = open(lockfile, O_RDWR | O_CREAT, 0666);
      if (r->lock_fd < 0) local = EMI_ERROR(EMI_ERR_IO, "run: cannot create %s: %s", lockfile, strerror(errno));
      else if (flock(r->lock_fd, LOCK_EX | LOCK_NB) != 0)
        local = EMI_ERROR(EMI_ERR_IO, "run: another emflow run is using the work directory %s (it holds %s)", r->work,
                          lockfile);
    }
    if (local) {
    } else if (r->resume) {
      if ((!exists || access(runfile, R_OK) != 0) && access(r->out, F_OK) == 0)
        local = EMI_ERROR(EMI_ERR_USAGE, "run --resume: %s holds no run to resume (no %s) and the output %s exists: the run "
                          "had finished (its work directory is removed then); start it again without --resume", r->work,
                          runfile, r->out);
      else if (!exists || access(runfile, R_OK) != 0) {
        /* Killed before its work directory was made (or never started): a resume is a fresh start. */
        if (exists && rmdir(r->work) != 0)
          local = EMI_ERROR(EMI_ERR_IO, "run --resume: %s exists and is not an emflow work directory (no RUN file "
                            "holding a run's fingerprint): remove it or choose another with --work-dir", r->work);
        else {
          emi_log_warn("run --resume: no earlier run in %s: starting from the beginning", r->work);
          r->resume = 0;
          if (mkdir(r->work, 0777) != 0 && errno != EEXIST)
            local = EMI_ERROR(EMI_ERR_IO, "run: cannot create the work directory %s: %s", r->work, strerror(errno));
          if (!local) local = write_atomic(runfile, r->fingerprint);
          if (!local && !join(lockfile, r->work, "LOCK")) {
            r->lock_fd = open(lockfile, O_RDWR | O_CREAT, 0666);
            if (r->lock_fd < 0 || flock(r->lock_fd, LOCK_EX | LOCK_NB) != 0)
              local = EMI_ERROR(EMI_ERR_IO, "run: cannot lock %s: %s", lockfile, strerror(errno));
          }
        }
      } else if (!file_holds(runfile, r->fingerprint))
        local = EMI_ERROR(EMI_ERR_CONFIG, "run --resume: the work directory %s belongs to another run (the config, an input "
                          "file, the stages, the output or the emflow version differ): start it again without --resume",
                          r->work);
    } else if (!local) {
      if (exists && !holds_fingerprint(runfile)) {
        /* An empty directory is fine; anything else is not ours to clear. */
        int empty = rmdir(r->work) == 0;
        if (!empty)
          local = EMI_ERROR(EMI_ERR_IO, "run: the work directory %s exists, is not empty and is not an emflow work "
                            "directory (no RUN file holding a run's fingerprint): remove it or choose another with --work-dir",
                            r->work);
      } else if (exists)
        clear_work(r->work, 0);
      if (!local && mkdir(r->work, 0777) != 0 && errno != EEXIST)
        local = EMI_ERROR(EMI_ERR_IO, "run: cannot create the work directory %s: %s", r->work, strerror(errno));
      if (!local && r->lock_fd < 0 && !join(lockfile, r->work, "LOCK")) {
        r->lock_fd = open(lockfile, O_RDWR | O_CREAT, 0666);
        if (r->lock_fd < 0 || flock(r->lock_fd, LOCK_EX | LOCK_NB) != 0)
          local = EMI_ERROR(EMI_ERR_IO, "run: cannot lock %s: %s", lockfile, strerror(errno));
      }
      if (!local) local = write_atomic(runfile, r->fingerprint);
    }
    char ck[PATHLEN];
    if (!local && r->want[ST_ESTIMATE] && !join(ck, r->work, "estimate.ckpt") && mkdir(ck, 0777) != 0 && errno != EEXIST)
      local = EMI_ERROR(EMI_ERR_IO, "run: cannot create the checkpoint directory %s: %s", ck, strerror(errno));
  }
  EMI_TRY(emi_mpi_agree(ctx->comm, local, NULL));
  MPI_Bcast(&r->resume, 1, MPI_INT, 0, ctx->comm); /* rank 0 may have turned a resume into a fresh start */
cleanup:
  return err;
}

static emi_err_t mark_done(emi_ctx_t *ctx, const run_t *r, const char *what)
{
  emi_err_t err = EMI_SUCCESS, local = EMI_SUCCESS;
  if (ctx->rank == 0) {
    char p[PATHLEN], name[64];
    snprintf(name, sizeof name, "%s.done", what);
    local = join(p, r->work, name);
    if (!local) local = write_atomic(p, r->fingerprint);
  }
  EMI_TRY(emi_mpi_agree(ctx->comm, local, NULL));
cleanup:
  return err;
}

/* The files a finished stage leaves (HDF5 ones must open as HDF5), for the resume check. */
static const char *const stage_files[NSTAGES + 1][5] = {
  {"simulate.h5", "crossings.h5", "declarations.csv", "links.csv", NULL},
  {"classify.h5", NULL},
  {"reconcile.h5", NULL},
  {"estimate.h5", NULL},
  {"forecast.h5", NULL},
  {NULL},
  {NULL}};

static int file_ok(const char *path)
{
  struct stat sb;
  if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) return 0;
  size_t n = strlen(path);
  if (n > 3 && !strcmp(path + n - 3, ".h5")) {
    hid_t fid;
    H5E_BEGIN_TRY { fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT); } H5E_END_TRY;
    if (fid < 0) return 0;
    H5Fclose(fid);
  }
  return 1;
}

/* A stage counts as done when its marker holds the fingerprint and its files are there and readable
 * (a marker whose files were removed or damaged since is ignored: the stage runs again). */
static int is_done(emi_ctx_t *ctx, const run_t *r, int k)
{
  int done = 0;
  if (ctx->rank == 0) {
    char p[PATHLEN], name[64];
    const char *what = k == NSTAGES ? "assemble" : stage_names[k];
    snprintf(name, sizeof name, "%s.done", what);
    done = !join(p, r->work, name) && file_holds(p, r->fingerprint);
    for (int j = 0; done && stage_files[k][j]; j++)
      if (join(p, r->work, stage_files[k][j]) || !file_ok(p)) {
        emi_log_warn("run: %s of the finished %s stage is missing or unreadable: running the stage again", p, what);
        done = 0;
      }
    if (done && k == NSTAGES && !file_ok(r->out)) done = 0;
    if (done && k == ST_REPORT) {
      char idx[PATHLEN + 16];
      snprintf(idx, sizeof idx, "%s/index.html", r->report_dir);
      done = file_ok(idx);
    }
  }
  MPI_Bcast(&done, 1, MPI_INT, 0, ctx->comm);
  return done;
}

static void account(emi_ctx_t *ctx, run_t *r, int slot, double t0)
{
  long mine = peak_kib(), mx = 0, sum = 0;
  double dt = MPI_Wtime() - t0, dtmax = 0;
  MPI_Allreduce(&mine, &mx, 1, MPI_LONG, MPI_MAX, ctx->comm);
  MPI_Allreduce(&mine, &sum, 1, MPI_LONG, MPI_SUM, ctx->comm);
  MPI_Allreduce(&dt, &dtmax, 1, MPI_DOUBLE, MPI_MAX, ctx->comm);
  r->seconds[slot] = dtmax;
  r->peak_kib_max[slot] = mx;
  r->peak_kib_sum[slot] = sum;
  r->ran[slot] = 1;
}

/* Assemble OUT.h5 from the stage files, unless a resumed run had done it and no stage ran since. */
static emi_err_t assemble_step(emi_ctx_t *ctx, run_t *r, int *rerun_rest)
{
  emi_err_t err = EMI_SUCCESS;
  if (r->resume && !*rerun_rest && is_done(ctx, r, NSTAGES)) {
    r->ran[NSTAGES] = 2;
    return EMI_SUCCESS;
  }
  double t0 = MPI_Wtime();
  peak_reset();
  emi_log_info("run: assembling %s", r->out);
  EMI_TRY(assemble(ctx, r));
  account(ctx, r, NSTAGES, t0);
  EMI_TRY(mark_done(ctx, r, "assemble"));
  *rerun_rest = 1;
cleanup:
  return err;
}

/* The data inputs a stage reads, by option name (outputs and the run's own chaining paths excluded). */
static const char *const stage_inputs[NSTAGES][6] = {
  {NULL},
  {"declarations", "link-table", "key-file", NULL},
  {"input", "border", "mirror", "declared", NULL},
  {"input", "border", "declared", "mirror", NULL},
  {NULL},
  {NULL}};

/* Note one input file in the fingerprint (path, size, modification time: an edit between a kill and
 * --resume is noticed without reading a 10 GB file), and refuse an output that is that file. */
static emi_err_t note_input(run_t *r, const char *stage, const char *opt, const char *path)
{
  struct stat sb, so;
  if (stat(path, &sb) != 0) return EMI_SUCCESS; /* the stage itself reports a missing input */
  if (stat(r->out, &so) == 0 && so.st_dev == sb.st_dev && so.st_ino == sb.st_ino)
    return EMI_ERROR(EMI_ERR_USAGE, "run: the output %s is the %s stage's input (%s = %s): choose another -o", r->out,
                     stage, opt, path);
  int n = snprintf(r->inputs_sig + r->inputs_len, sizeof r->inputs_sig - r->inputs_len, "%s %s %s %lld %lld.%09ld\n",
                   stage, opt, path, (long long)sb.st_size, (long long)sb.st_mtim.tv_sec, (long)sb.st_mtim.tv_nsec);
  if (n < 0 || (size_t)n >= sizeof r->inputs_sig - r->inputs_len)
    return EMI_ERROR(EMI_ERR_ARG, "run: too many or too long input paths");
  r->inputs_len += (size_t)n;
  return EMI_SUCCESS;
}

/* Fingerprint of the run: version, config bytes, stages, chaining options, the inputs' signatures. */
static emi_err_t compute_fingerprint(run_t *r)
{
  emi_err_t err = EMI_SUCCESS;
  char *text = NULL, *buf = NULL;
  size_t len = 0;
  EMI_TRY(read_file(r->cfg, &text, &len));
  size_t cap = len + r->inputs_len + 4096;
  EMI_MALLOC(buf, cap, "the run fingerprint");
  int m = snprintf(buf, cap, "%s\n%s\n%s\n%s\n%s\n", EMI_VERSION_STRING, r->groups_mode, r->period_mode, r->crossings,
                   r->out);
  for (int k = 0; k < NSTAGES; k++) m += snprintf(buf + m, cap - (size_t)m, "%d", r->want[k]);
  memcpy(buf + m, r->inputs_sig, r->inputs_len);
  memcpy(buf + m + r->inputs_len, text, len);
  EMI_TRY(emi_sha256_hex(buf, (size_t)m + r->inputs_len + len, r->fingerprint));
cleanup:
  free(buf);
  free(text);
  return err;
}

emi_err_t emi_cmd_run(emi_ctx_t *ctx)
{
  emi_err_t err = EMI_SUCCESS;
  run_t *r = NULL;
  args_t *a = NULL;
  char home[16] = "";
  EMI_CALLOC(r, 1, "the run state");
  EMI_CALLOC(a, 1, "the stage arguments");
  r->lock_fd = -1;
  EMI_TRY(setup(ctx, r));
  if (r->want[ST_CLASSIFY] && r->want[ST_ESTIMATE] && !strcmp(r->groups_mode, "home"))
    EMI_TRY(classify_home(r, home, sizeof home));
  /* Every stage's section is checked now, not when the stage starts: a bad value in [forecast] must
   * not wait for the simulation and the estimate to finish. */
  for (int k = 0; k < NSTAGES; k++) {
    if (!r->want[k]) continue;
    const emi_command_t *cmd = emi_command_find(stage_names[k]);
    emi_ctx_t sub = {.comm = ctx->comm, .rank = ctx->rank, .size = ctx->size};
    int want_help = 0;
    EMI_TRY(stage_args(r, k, a, home, sizeof home));
    sub.argc = a->argc;
    sub.argv = a->argv;
    err = emi_cli_setup_options(cmd, a->argc, a->argv, &sub, &want_help);
    for (int j = 0; !err && stage_inputs[k][j]; j++) {
      const char *path = NULL;
      if (k == ST_CLASSIFY && r->want[ST_SIMULATE] && strcmp(stage_inputs[k][j], "key-file")) continue;
      if (k == ST_ESTIMATE && r->want[ST_CLASSIFY] && strcmp(stage_inputs[k][j], "mirror")) continue;
      if (!emi_opts_is_set(sub.opts, stage_inputs[k][j])) continue;
      err = emi_opts_get_str(sub.opts, stage_inputs[k][j], &path);
      if (!err) err = note_input(r, stage_names[k], stage_inputs[k][j], path);
    }
    emi_opts_destroy(&sub.opts);
    EMI_TRY(err);
  }
  if (r->crossings[0]) EMI_TRY(note_input(r, "run", "crossings", r->crossings));
  EMI_TRY(compute_fingerprint(r));
  EMI_TRY(prepare_work(ctx, r));
  {
    char list[256] = "";
    for (int k = 0; k < NSTAGES; k++)
      if (r->want[k]) snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", list[0] ? " -> " : "",
                               stage_names[k]);
    emi_log_info("run: %s: %s%s; %d rank(s); output %s, work directory %s", r->cfg, list,
                 r->resume ? " (resumed)" : "", ctx->size, r->out, r->work);
  }
  int nwant = 0, istage = 0, rerun_rest = 0;
  for (int k = 0; k < NSTAGES; k++) nwant += r->want[k];
  for (int k = 0; k < NSTAGES; k++) {
    if (!r->want[k]) continue;
    istage++;
    if (k == ST_REPORT) EMI_TRY(assemble_step(ctx, r, &rerun_rest)); /* the report reads OUT.h5 */
    /* Once a stage runs again, every later one does too (it reads what that stage writes). */
    if (r->resume && !rerun_rest && is_done(ctx, r, k)) {
      emi_log_info("run: stage %d/%d %s: done before the interruption, skipped", istage, nwant, stage_names[k]);
      r->ran[k] = 2;
      continue;
    }
    rerun_rest = 1;
    emi_log_info("run: stage %d/%d %s", istage, nwant, stage_names[k]);
    double t0 = MPI_Wtime();
    peak_reset();
    if (k == ST_ESTIMATE && r->want[ST_CLASSIFY]) {
      emi_err_t local = EMI_SUCCESS;
      char ch[PATHLEN];
      EMI_TRY(join(ch, r->work, "classify.h5"));
      if (ctx->rank == 0) local = write_border_inputs(r, ch, home[0] ? home : "AZE");
      EMI_TRY(emi_mpi_agree(ctx->comm, local, NULL));
    }
    EMI_TRY(stage_args(r, k, a, home, sizeof home));
    err = run_command(ctx, r, a);
    EMI_TRY(emi_mpi_agree(ctx->comm, err, NULL));
    account(ctx, r, k, t0);
    EMI_TRY(mark_done(ctx, r, stage_names[k]));
  }
  if (!r->want[ST_REPORT]) EMI_TRY(assemble_step(ctx, r, &rerun_rest));

  /* Summary: time and memory per stage. */
  emi_log_info("run: %-10s %10s %14s %14s", "stage", "wall [s]", "peak/rank [MiB]", "peak sum [MiB]");
  double total = 0;
  for (int k = 0; k <= NSTAGES; k++) {
    const char *nm = k == NSTAGES ? "assemble" : stage_names[k];
    if (k < NSTAGES && !r->want[k]) continue;
    if (r->ran[k] == 2) {
      emi_log_info("run: %-10s %10s", nm, "(resumed)");
      continue;
    }
    if (!r->ran[k]) continue;
    total += r->seconds[k];
    emi_log_info("run: %-10s %10.2f %14.1f %14.1f", nm, r->seconds[k], r->peak_kib_max[k] / 1024.0,
                 r->peak_kib_sum[k] / 1024.0);
  }
  emi_log_info("run: %-10s %10.2f", "total", total);
  emi_log_info("run: wrote %s%s%s", r->out, r->want[ST_REPORT] ? " and " : "", r->want[ST_REPORT] ? r->report_dir : "");
  if (!r->keep_work && ctx->rank == 0) {
    char lockfile[PATHLEN + 8];
    snprintf(lockfile, sizeof lockfile, "%s/LOCK", r->work);
    clear_work(r->work, 0);
    unlink(lockfile);
    if (rmdir(r->work) != 0) emi_log_warn("run: the work directory %s is not empty and was left in place", r->work);
  }
  MPI_Barrier(ctx->comm);
cleanup:
  if (r && r->lock_fd >= 0) close(r->lock_fd);
  free(a);
  free(r);
  return err;
}
