/* emi_output.c: see emi_output.h. */
#include "emi_output.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

emi_err_t emi_read_text_file(const char *path, size_t max_bytes, char **text, size_t *len)
{
  emi_err_t err = EMI_SUCCESS;
  char *buf = NULL;
  size_t n = 0;
  *text = NULL;
  *len = 0;
  FILE *fp = fopen(path, "rb");
  if (!fp) return EMI_ERROR(EMI_ERR_IO, "cannot open %s: %s", path, strerror(errno));
  EMI_MALLOC(buf, max_bytes + 1, "file text");
  n = fread(buf, 1, max_bytes + 1, fp);
  if (ferror(fp)) EMI_FAIL(EMI_ERR_IO, "error reading %s: %s", path, strerror(errno));
  if (n > max_bytes) EMI_FAIL(EMI_ERR_INPUT, "%s is larger than %zu bytes", path, max_bytes);
  buf[n] = '\0';
  *text = buf;
  *len = n;
  buf = NULL;
cleanup:
  free(buf);
  fclose(fp);
  return err;
}

const char *emi_input_open_error(const char *path)
{
  FILE *fp = fopen(path, "rb");
  if (!fp) return strerror(errno);
  fclose(fp);
  return NULL;
}

emi_err_t emi_output_check_path(const char *path)
{
  char dir[4096];
  struct stat st;
  if (!path || !*path) return EMI_ERROR(EMI_ERR_ARG, "empty output path");
  const char *slash = strrchr(path, '/');
  if (!slash) snprintf(dir, sizeof dir, ".");
  else if (slash == path) snprintf(dir, sizeof dir, "/");
  else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
  if (stat(dir, &st) != 0) return EMI_ERROR(EMI_ERR_IO, "cannot create %s: %s: %s", path, dir, strerror(errno));
  if (!S_ISDIR(st.st_mode)) return EMI_ERROR(EMI_ERR_IO, "cannot create %s: %s is not a directory", path, dir);
  if (access(dir, W_OK) != 0) return EMI_ERROR(EMI_ERR_IO, "cannot create %s: %s: %s", path, dir, strerror(errno));
  if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
    return EMI_ERROR(EMI_ERR_IO, "cannot create %s: it exists and is not a regular file (%s)", path,
                     S_ISDIR(st.st_mode) ? "a directory" : "a device, pipe or socket");
  /* the temporary name the file is written under (NAME.part, emi_h5 / export) */
  char part[4200];
  if (snprintf(part, sizeof part, "%s.part", path) < (int)sizeof part && stat(part, &st) == 0 && !S_ISREG(st.st_mode))
    return EMI_ERROR(EMI_ERR_IO, "cannot create %s: its temporary %s exists and is not a regular file (%s): remove it",
                     path, part, S_ISDIR(st.st_mode) ? "a directory" : "a device, pipe or socket");
  return EMI_SUCCESS;
}

emi_err_t emi_output_check_not_input(const char *path, const char *input)
{
  struct stat a, b;
  char part[4096];
  if (stat(path, &a) == 0 && stat(input, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
    return EMI_ERROR(EMI_ERR_USAGE, "the output %s is the input %s: choose another output name", path, input);
  /* the output is written as PATH.part and renamed: an input under that name would be replaced */
  if (snprintf(part, sizeof part, "%s.part", path) < (int)sizeof part && stat(part, &a) == 0 && stat(input, &b) == 0 &&
      a.st_dev == b.st_dev && a.st_ino == b.st_ino)
    return EMI_ERROR(EMI_ERR_USAGE, "the input %s is the output's temporary file %s (the output is written there, "
                     "then renamed): choose another output name", input, part);
  return EMI_SUCCESS;
}

emi_err_t emi_output_check_not_config(const char *path, const char *config)
{
  if (!config) return EMI_SUCCESS;
  emi_err_t e = emi_output_check_not_input(path, config);
  if (e == EMI_ERR_USAGE)
    return EMI_ERROR(EMI_ERR_USAGE, "the output %s (or its temporary %s.part) is the config file %s: choose another "
                     "output name", path, path, config);
  return e;
}

/* 1 if a and b name the same file: the same inode when both exist, else the same text. */
static int same_file(const char *a, const char *b)
{
  struct stat sa, sb;
  int ea = stat(a, &sa) == 0, eb = stat(b, &sb) == 0;
  if (ea && eb) return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  return !strcmp(a, b);
}

emi_err_t emi_output_check_paths(emi_ctx_t *ctx, const char *const *outs, int nout, const char *const *ins, int nin)
{
  emi_err_t local = EMI_SUCCESS;
  for (int i = 0; i < nout && !local; i++) {
    if (!outs[i]) continue;
    local = emi_output_check_path(outs[i]);
    for (int j = 0; j < i && !local; j++)
      if (outs[j] && same_file(outs[i], outs[j]))
        local = EMI_ERROR(EMI_ERR_USAGE, "two outputs are the same file %s: give them different names", outs[i]);
    for (int j = 0; j < nin && !local; j++)
      if (ins[j] && same_file(outs[i], ins[j]))
        local = EMI_ERROR(EMI_ERR_USAGE, "the output %s is the input %s: choose another output name", outs[i], ins[j]);
      else if (ins[j])
        local = emi_output_check_not_input(outs[i], ins[j]); /* its temporary NAME.part */
    if (!local && ctx->config_path && same_file(outs[i], ctx->config_path))
      local = EMI_ERROR(EMI_ERR_USAGE, "the output %s is the config file: choose another output name", outs[i]);
    if (!local) local = emi_output_check_not_config(outs[i], ctx->config_path);
  }
  if (ctx->comm == MPI_COMM_NULL) return local;
  return emi_mpi_agree(ctx->comm, local, NULL);
}

emi_err_t emi_output_begin(emi_ctx_t *ctx, const char *path, emi_h5_file_t **f, emi_provenance_t **prov)
{
  emi_err_t err = EMI_SUCCESS;
  char *text = NULL;
  size_t len = 0;
  *f = NULL;
  *prov = NULL;
  EMI_TRY(emi_provenance_create(ctx->comm, ctx->argc, ctx->argv, prov));
  if (ctx->config_path) {
    EMI_TRY(emi_read_text_file(ctx->config_path, 1u << 20, &text, &len));
    EMI_TRY(emi_provenance_set_config(*prov, text, len));
  }
  EMI_TRY(emi_h5_file_create(ctx->comm, path, f));
cleanup:
  free(text);
  if (err) emi_provenance_destroy(prov);
  return err;
}

emi_err_t emi_output_finish(emi_ctx_t *ctx, emi_h5_file_t **f, emi_provenance_t *prov)
{
  emi_err_t err = EMI_SUCCESS;
  const char **cells = NULL, **names = NULL;
  char *text = NULL;
  size_t len = 0;
  int n = emi_opts_count(ctx->opts);
  static const char *const cols[] = {"name", "value", "units", "source"};
  EMI_TRY(emi_h5_write_provenance(*f, prov));
  EMI_MALLOC(cells, 4 * (size_t)(n > 0 ? n : 1), "options table");
  for (int i = 0; i < n; i++)
    emi_opts_row(ctx->opts, i, &cells[4 * i], &cells[4 * i + 1], &cells[4 * i + 2], &cells[4 * i + 3]);
  EMI_MALLOC(names, (size_t)(n > 0 ? n : 1), "option names");
  for (int i = 0; i < n; i++) names[i] = cells[4 * i];
  EMI_TRY(emi_h5_write_scale_str(*f, "/config", "option", (uint64_t)n, names, "", "option name"));
  EMI_TRY(emi_h5_write_str_table(*f, "/config/options", (uint64_t)n, 4, cols, cells, "/config/option",
                                 "resolved options of the command (value and where it came from)"));
  if (ctx->config_path) {
    EMI_TRY(emi_read_text_file(ctx->config_path, 1u << 20, &text, &len));
    EMI_TRY(emi_h5_attr_str(*f, "/config", "ini_path", ctx->config_path));
    EMI_TRY(emi_h5_attr_str(*f, "/config", "ini_text", text));
  }
  EMI_TRY(emi_h5_file_commit(f));
cleanup:
  free(cells);
  free(names);
  free(text);
  return err;
}

/* ------------------------------------------------------------------ temporaries on a signal */

/* Outputs are written under NAME.part and renamed when complete, so a stopped run never leaves a
 * half-written NAME; this registry also removes the NAME.part of a run stopped by SIGINT, SIGTERM
 * (mpiexec's way of stopping ranks, a scheduler's time limit) or SIGHUP, which would otherwise stay
 * behind (hundreds of MB for a large table).  Fixed slots, so the handler only reads flags and
 * calls unlink(), both async-signal-safe. */
#define PART_SLOTS 32
#define PART_BYTES 4096
static char part_name[PART_SLOTS][PART_BYTES];
static volatile sig_atomic_t part_used[PART_SLOTS];

void emi_part_register(const char *part)
{
  if (!part || strlen(part) >= PART_BYTES) return;
  for (int i = 0; i < PART_SLOTS; i++)
    if (!part_used[i]) {
      memcpy(part_name[i], part, strlen(part) + 1);
      part_used[i] = 1;
      return;
    }
}

void emi_part_unregister(const char *part)
{
  if (!part) return;
  for (int i = 0; i < PART_SLOTS; i++)
    if (part_used[i] && !strcmp(part_name[i], part)) {
      part_used[i] = 0;
      return;
    }
}

static void part_on_signal(int sig)
{
  for (int i = 0; i < PART_SLOTS; i++)
    if (part_used[i]) unlink(part_name[i]);
  signal(sig, SIG_DFL);
  raise(sig);
}

void emi_output_signals(void)
{
  static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
  for (size_t k = 0; k < sizeof sigs / sizeof sigs[0]; k++) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = part_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(sigs[k], &sa, NULL);
  }
}
