/* emi_cmd_report.c: `emflow report FILE.h5 [FILE2.h5 ...] -o DIR [--publish]`, a self-contained HTML
 * monitoring report (DIR/index.html, PNG figures in DIR/fig/) of whatever emflow outputs it is given
 * (issue 7).
 *
 * This file checks the inputs and the output directory, then runs scripts/report.py (matplotlib and
 * h5py through Debian's /usr/bin/python3), which reads the HDF5 files, draws and writes the page.
 * Checks, each one error naming the file: the file exists and is a regular file, it is HDF5, it is an
 * emflow output (root attribute software = "emflow"), and it holds at least one group the report shows
 * (/forecast, /estimate, /posterior, /undeclared, /linkage); DIR is created (with its parents) unless it
 * exists, and must not be anything but a directory; no file may be given twice (st_dev/st_ino: a link and
 * its target are one file).  On failure the directories this run created are removed again (the script
 * removes the files it wrote).  The script is found at the path baked in at
 * build time (EMI_REPORT_SCRIPT, the source tree's scripts/report.py) unless EMFLOW_REPORT_SCRIPT names
 * another.  Its standard error is captured: on failure its last line becomes the one emflow error.
 *
 * With --publish the script passes every table of counts through `emflow export FILE DATASET --publish`
 * (disclosure control: random rounding to base 3, suppression of small cells), so that the report's
 * protection is the export's and never a second implementation; it runs this executable for that
 * (/proc/self/exe).
 *
 * Only rank 0 works; under mpiexec the other ranks wait (sleeping, not spinning) and agree on the outcome.
 */
#define _DEFAULT_SOURCE 1 /* prctl */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hdf5.h>

#include "emi_cli.h"
#include "emi_commands.h"
#include "emi_h5read.h"
#include "emi_log.h"

#ifndef EMI_REPORT_SCRIPT
#define EMI_REPORT_SCRIPT "scripts/report.py"
#endif
#define EMI_REPORT_PYTHON "/usr/bin/python3"
#define MAX_FILES 8
#define ERR_TAIL 4096 /* bytes of the script's stderr kept for the error message */

const emi_opt_spec_t emi_report_specs[] = {
  EMI_OPTS_COMMON,
  {"output", "report", EMI_OPT_PATH, NULL, "", "output directory (created; index.html and fig/ go there)", 0, 0, NULL,
   'o'},
  {"publish", "report", EMI_OPT_FLAG, "false", "",
   "disclosure-control every table of counts through `emflow export --publish` (a report for partners)"},
  {"without-forecast", "report", EMI_OPT_FLAG, "false", "",
   "accept inputs without /forecast (an estimate or data-quality report without fan charts)"},
};
const int emi_report_nspecs = (int)(sizeof emi_report_specs / sizeof emi_report_specs[0]);

/* The groups the report shows, at the root of any input file. */
static const char *const shown_groups[] = {"/forecast", "/estimate", "/posterior", "/undeclared", "/linkage"};
#define NSHOWN ((int)(sizeof shown_groups / sizeof shown_groups[0]))

typedef struct {
  char list[512];
  int n;
} grouplist_t;

static herr_t list_root(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
  (void)g, (void)info;
  grouplist_t *l = data;
  size_t used = strlen(l->list);
  if (used < sizeof l->list - 1)
    snprintf(l->list + used, sizeof l->list - used, "%s/%s", l->n ? ", " : "", name);
  l->n++;
  return 0;
}

/* One input: exists, regular, HDF5, an emflow output, with something to show.  Local (rank 0). */
static emi_err_t check_input(const char *file, int *ngroups)
{
  emi_err_t err = EMI_SUCCESS;
  hid_t fid = H5I_INVALID_HID;
  struct stat st;
  *ngroups = 0;
  if (stat(file, &st) != 0) EMI_FAIL(EMI_ERR_IO, "report: %s: cannot open: %s", file, strerror(errno));
  if (!S_ISREG(st.st_mode))
    EMI_FAIL(EMI_ERR_INPUT, "report: %s: not a regular file (%s): expected an emflow HDF5 output (.h5)", file,
             S_ISDIR(st.st_mode) ? "a directory" : "a device, pipe or socket");
  {
    FILE *probe = fopen(file, "rb");
    if (!probe) EMI_FAIL(EMI_ERR_IO, "report: %s: cannot open: %s", file, strerror(errno));
    fclose(probe);
  }
  if (H5Fis_hdf5(file) <= 0) EMI_FAIL(EMI_ERR_INPUT, "report: %s: not an HDF5 file: expected an emflow output (.h5)", file);
  if ((fid = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0) /* an HDF5 signature, but not a readable file */
    EMI_FAIL(EMI_ERR_INPUT, "report: %s: not a readable HDF5 file (truncated or corrupt?): expected an emflow output "
             "(.h5)", file);
  {
    char sw[64] = "";
    emi_h5_read_attr_text(fid, "/", "software", sw, sizeof sw);
    if (strcmp(sw, "emflow") != 0)
      EMI_FAIL(EMI_ERR_INPUT, "report: %s: not an emflow output: expected the root attribute software = \"emflow\", "
               "found %s%s%s", file, sw[0] ? "\"" : "none", sw, sw[0] ? "\"" : "");
  }
  for (int g = 0; g < NSHOWN; g++)
    if (H5Lexists(fid, shown_groups[g], H5P_DEFAULT) > 0) ++*ngroups;
  if (*ngroups == 0) {
    grouplist_t l = {.n = 0};
    H5Literate(fid, H5_INDEX_NAME, H5_ITER_INC, NULL, list_root, &l);
    EMI_FAIL(EMI_ERR_INPUT, "report: %s: nothing to report: it holds none of /forecast, /estimate, /posterior, "
             "/undeclared, /linkage (the outputs of emflow forecast, estimate, classify); found %s", file,
             l.n ? l.list : "no groups");
  }
cleanup:
  if (fid >= 0) H5Fclose(fid);
  return err;
}

/* mkdir -p; an existing path must be a directory.  *created: the length of the first prefix of dir this
 * call created (0: it created nothing), for remove_made_dir. */
static emi_err_t make_dir(const char *dir, size_t *created)
{
  struct stat st;
  char path[4096];
  *created = 0;
  if (!dir || !*dir) return EMI_ERROR(EMI_ERR_ARG, "report: -o DIR is empty");
  if (stat(dir, &st) == 0) {
    if (!S_ISDIR(st.st_mode))
      return EMI_ERROR(EMI_ERR_IO, "report: -o %s: it exists and is not a directory (%s): expected a directory to "
                       "write index.html into", dir, S_ISREG(st.st_mode) ? "a regular file" : "a device, pipe or socket");
    if (access(dir, W_OK) != 0) return EMI_ERROR(EMI_ERR_IO, "report: -o %s: not writable: %s", dir, strerror(errno));
    return EMI_SUCCESS;
  }
  if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
    return EMI_ERROR(EMI_ERR_ARG, "report: -o %s: path too long", dir);
  for (char *p = path + 1;; p++) {
    if (*p != '/' && *p != '\0') continue;
    char keep = *p;
    *p = '\0';
    if (mkdir(path, 0777) == 0) {
      if (!*created) *created = strlen(path);
    } else if (errno != EEXIST) {
      return EMI_ERROR(EMI_ERR_IO, "report: -o %s: cannot create %s: %s", dir, path, strerror(errno));
    }
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
      return EMI_ERROR(EMI_ERR_IO, "report: -o %s: %s exists and is not a directory", dir, path);
    *p = keep;
    if (!keep) break;
  }
  return EMI_SUCCESS;
}

/* After a failure: remove the directories make_dir created for dir (deepest first), those left empty
 * only (rmdir), so that a failed report leaves nothing it made behind. */
static void remove_made_dir(const char *dir, size_t created)
{
  char path[4096];
  if (!created || snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) return;
  for (;;) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') path[--n] = '\0';
    if (n < created || rmdir(path) != 0) return;
    char *slash = strrchr(path, '/');
    if (!slash || slash == path) return;
    *slash = '\0';
  }
}

/* Run argv (argv[0] an absolute path) with stderr captured; the last ERR_TAIL bytes come back in tail.
 * *status: the exit status, or 128 + signal. */
static emi_err_t run_captured(char *const *argv, int *status, char *tail, size_t tail_size)
{
  int fd[2];
  size_t used = 0;
  tail[0] = '\0';
  if (pipe(fd) != 0) return EMI_ERROR(EMI_ERR_IO, "report: cannot create a pipe: %s", strerror(errno));
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    close(fd[0]), close(fd[1]);
    return EMI_ERROR(EMI_ERR_IO, "report: cannot start %s: fork: %s", argv[0], strerror(errno));
  }
  if (pid == 0) {
    /* The script dies with emflow (a killed run must not leave it writing into the report directory). */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1) _exit(127);
    dup2(fd[1], STDERR_FILENO);
    close(fd[0]), close(fd[1]);
    execv(argv[0], argv);
    dprintf(STDERR_FILENO, "report: error: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  close(fd[1]);
  char buf[1024];
  for (;;) {
    ssize_t n = read(fd[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (emi_log_level() >= EMI_LOG_DEBUG) fwrite(buf, 1, (size_t)n, stderr);
    /* keep the tail: drop the oldest half when full */
    for (ssize_t i = 0; i < n; i++) {
      if (used == tail_size - 1) {
        size_t half = used / 2;
        memmove(tail, tail + half, used - half);
        used -= half;
      }
      tail[used++] = buf[i];
    }
    tail[used] = '\0';
  }
  close(fd[0]);
  int ws = 0;
  while (waitpid(pid, &ws, 0) < 0)
    if (errno != EINTR) return EMI_ERROR(EMI_ERR_IO, "report: waiting for %s: %s", argv[0], strerror(errno));
  *status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + (WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
  return EMI_SUCCESS;
}

/* The last non-empty line of text (in place). */
static const char *last_line(char *text)
{
  size_t n = strlen(text);
  while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' ')) text[--n] = '\0';
  char *nl = strrchr(text, '\n');
  return nl ? nl + 1 : text;
}

/* Rank 0's whole job. */
static emi_err_t report_run(emi_ctx_t *ctx)
{
  emi_err_t err = EMI_SUCCESS;
  const char *outdir = NULL, *script = getenv("EMFLOW_REPORT_SCRIPT");
  int publish = 0, status = 0;
  char self[4096], tail[ERR_TAIL];
  char *argv[16 + MAX_FILES];
  int na = 0;
  size_t created = 0;

  if (!emi_opts_is_set(ctx->opts, "output"))
    EMI_FAIL(EMI_ERR_USAGE, "report: -o DIR is required: the directory to write index.html into");
  EMI_TRY(emi_opts_get_str(ctx->opts, "output", &outdir));
  EMI_TRY(emi_opts_get_flag(ctx->opts, "publish", &publish));
  if (ctx->npos > MAX_FILES) EMI_FAIL(EMI_ERR_USAGE, "report: at most %d input files, got %d", MAX_FILES, ctx->npos);

  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  int without_fc = 0, any_fc = 0;
  EMI_TRY(emi_opts_get_flag(ctx->opts, "without-forecast", &without_fc));
  for (int i = 0; i < ctx->npos; i++) { /* one file given twice (or a link and its target) */
    struct stat si, sj;
    if (stat(ctx->pos[i], &si) != 0) continue; /* check_input says why */
    for (int j = 0; j < i; j++)
      if (stat(ctx->pos[j], &sj) == 0 && si.st_dev == sj.st_dev && si.st_ino == sj.st_ino)
        EMI_FAIL(EMI_ERR_USAGE, "report: arguments %d (%s) and %d (%s) are the same file: give each input once", j + 1,
                 ctx->pos[j], i + 1, ctx->pos[i]);
  }
  for (int i = 0; i < ctx->npos; i++) {
    int ng = 0;
    EMI_TRY(check_input(ctx->pos[i], &ng));
    hid_t fid = H5Fopen(ctx->pos[i], H5F_ACC_RDONLY, H5P_DEFAULT);
    if (fid >= 0) {
      any_fc |= H5Lexists(fid, "/forecast", H5P_DEFAULT) > 0;
      H5Fclose(fid);
    }
  }
  if (!any_fc && !without_fc)
    EMI_FAIL(EMI_ERR_INPUT, "report: no /forecast in %s%s: the report's fan charts need the output of emflow forecast "
             "(give it too), or --without-forecast for a report of the estimate and data quality alone", ctx->pos[0],
             ctx->npos > 1 ? " or the other inputs" : "");
  EMI_TRY(make_dir(outdir, &created));

  if (!script || !*script) script = EMI_REPORT_SCRIPT;
  if (access(script, R_OK) != 0)
    EMI_FAIL(EMI_ERR_IO, "report: cannot read the report script %s: %s (set EMFLOW_REPORT_SCRIPT to "
             "scripts/report.py of an emflow source tree)", script, strerror(errno));
  if (access(EMI_REPORT_PYTHON, X_OK) != 0)
    EMI_FAIL(EMI_ERR_IO, "report: %s: %s: the report needs Debian's python3 with python3-matplotlib and "
             "python3-h5py (scripts/install-deps.sh)", EMI_REPORT_PYTHON, strerror(errno));
  ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  if (len <= 0) EMI_FAIL(EMI_ERR_IO, "report: cannot find the emflow executable (/proc/self/exe): %s", strerror(errno));
  self[len] = '\0';

  /* -E -s: Debian's packages, not a PYTHONPATH or a user's site-packages */
  argv[na++] = (char *)EMI_REPORT_PYTHON;
  argv[na++] = (char *)"-E";
  argv[na++] = (char *)"-s";
  argv[na++] = (char *)script;
  argv[na++] = (char *)"--out";
  argv[na++] = (char *)outdir;
  argv[na++] = (char *)"--emflow";
  argv[na++] = self;
  if (publish) argv[na++] = (char *)"--publish";
  argv[na++] = (char *)"--";
  for (int i = 0; i < ctx->npos; i++) argv[na++] = (char *)ctx->pos[i];
  argv[na] = NULL;

  emi_log_info("report: %d file(s) -> %s/index.html%s", ctx->npos, outdir, publish ? " (publish: disclosure-controlled)" : "");
  EMI_TRY(run_captured(argv, &status, tail, sizeof tail));
  if (status != 0) {
    /* the script's own errors are one line "report: error: ..." with status 4 (invalid input), 3 (disclosure control
     * unavailable) or 5 (I/O); anything else is a crash (a Python traceback ends with the exception) */
    const char *msg = last_line(tail);
    int own = !strncmp(msg, "report: error: ", 15);
    if (own) msg += 15;
    emi_err_t code = status == 4 ? EMI_ERR_INPUT : status == 3 ? EMI_ERR_ARG : status == 5 ? EMI_ERR_IO : EMI_ERR_INTERNAL;
    if (own)
      EMI_FAIL(code, "report: %s", msg);
    EMI_FAIL(code, "report: %s failed (exit status %d): %s (--log-level debug shows its whole output)", script, status,
             *msg ? msg : "no message");
  }
  emi_log_info("report: wrote %s/index.html", outdir);
cleanup:
  if (err) remove_made_dir(outdir, created); /* the script removed what it wrote; empty directories go too */
  return err;
}

emi_err_t emi_cmd_report(emi_ctx_t *ctx)
{
  emi_err_t err = EMI_SUCCESS;
  if (ctx->rank == 0) err = report_run(ctx);
  if (ctx->comm != MPI_COMM_NULL && ctx->size > 1) {
    /* the others sleep until rank 0 is done (a blocking collective would spin a core the plots need) */
    MPI_Request req;
    if (MPI_Ibarrier(ctx->comm, &req) == MPI_SUCCESS) {
      int done = 0;
      while (!done) {
        if (MPI_Test(&req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) break;
        if (!done) nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = 20000000}, NULL);
      }
    }
  }
  return err;
}
