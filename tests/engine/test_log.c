/* test_log: rank-0-only logging with levels and elapsed time, and the progress helper: line
 * format, rate limiting at its real interval, and quiet by default when stderr is not a terminal. */
#define _XOPEN_SOURCE 700 /* posix_openpt, grantpt, unlockpt, ptsname */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emi_log.h"
#include "emi_test.h"

static char *slurp(FILE *f, char *buf, size_t size)
{
  fflush(f);
  rewind(f);
  size_t n = fread(buf, 1, size - 1, f);
  buf[n] = '\0';
  return buf;
}

/* Redirect stderr to fd (a temporary file or a pseudo-terminal); returns the saved stderr. */
static int stderr_to(int fd)
{
  fflush(stderr);
  int saved = dup(fileno(stderr));
  dup2(fd, fileno(stderr));
  return saved;
}

static void stderr_restore(int saved)
{
  fflush(stderr);
  dup2(saved, fileno(stderr));
  close(saved);
}

static int count(const char *text, const char *needle)
{
  int n = 0;
  for (const char *s = strstr(text, needle); s; s = strstr(s + 1, needle)) n++;
  return n;
}

/* One stage as a long loop reports it: begin, many updates in quick succession, end.  With the
 * real interval nothing is due in a stage this short, so the interval is set to 0 here: a line is
 * due at every update, and whether one appears depends only on the mode (forced, default, off). */
static void run_due_stage(const char *stage)
{
  emi_progress_t p;
  emi_progress_begin(&p, stage, 10, "items");
  p.interval_s = 0.0;
  emi_progress_update(&p, 5);
  emi_progress_update(&p, 6);
  emi_progress_end(&p, 10);
}

/* Default mode (progress 0: neither forced on nor off), stderr a pseudo-terminal: the control for
 * the not-a-terminal case, showing that the helper's silence there comes from isatty.  Returns
 * the number of progress lines, or -1 if no pseudo-terminal can be opened here. */
static int default_mode_on_terminal(char *out, size_t size)
{
  int master = posix_openpt(O_RDWR | O_NOCTTY);
  if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) {
    if (master >= 0) close(master);
    return -1;
  }
  const char *name = ptsname(master);
  int slave = name ? open(name, O_RDWR | O_NOCTTY) : -1;
  if (slave < 0) {
    close(master);
    return -1;
  }
  int saved = stderr_to(slave);
  emi_log_setup(0, EMI_LOG_INFO, 0);
  int tty = isatty(STDERR_FILENO);
  run_due_stage("ttystage");
  stderr_restore(saved);

  size_t n = 0;
  struct pollfd pfd = {.fd = master, .events = POLLIN};
  while (n + 1 < size && poll(&pfd, 1, n == 0 ? 2000 : 200) > 0) {
    ssize_t k = read(master, out + n, size - 1 - n);
    if (k <= 0) break;
    n += (size_t)k;
  }
  out[n] = '\0';
  close(slave);
  close(master);
  CHECK_MSG(tty, "stderr on the pseudo-terminal %s is not a terminal", name);
  return count(out, "prog  ttystage:");
}

int main(void)
{
  char line[256], out[4096];

  /* progress: 25% of 1,000,000 records in 10 s -> 25,000/s, 30 s to go */
  emi_progress_format(line, sizeof line, "classify", 250000, 1000000, 10.0, "records");
  CHECK_MSG(!strcmp(line, "classify:  25.0% (250k/1M records), 25k records/s, ETA 30 s"), "got '%s'", line);
  /* 90 minutes to go at 10/s with 54,000 left */
  emi_progress_format(line, sizeof line, "estimate", 6000, 60000, 600.0, "draws");
  CHECK_MSG(strstr(line, "ETA 1 h 30 min") != NULL, "got '%s'", line);
  /* nothing done yet: no rate, unknown ETA */
  emi_progress_format(line, sizeof line, "forecast", 0, 100, 0.0, "paths");
  CHECK_MSG(strstr(line, "ETA ?") != NULL && strstr(line, "0.0%") != NULL, "got '%s'", line);

  CHECK(emi_log_level_parse("debug", &(emi_log_level_t){0}));
  CHECK(!emi_log_level_parse("verbose", &(emi_log_level_t){0}));

  /* capture stderr */
  FILE *cap = tmpfile();
  int saved = stderr_to(fileno(cap));

  emi_log_setup(0, EMI_LOG_INFO, 1); /* rank 0, info, progress forced */
  emi_log_info("hello %d", 42);
  emi_log_debug("hidden at info level");
  emi_progress_t p;
  emi_progress_begin(&p, "stage", 10, "items");
  p.interval_s = 0.0; /* print on every update for the test */
  emi_progress_update(&p, 5);
  emi_log_setup(1, EMI_LOG_DEBUG, 1); /* rank 1: silent whatever the level */
  emi_log_error("rank 1 must not print");
  emi_progress_begin(&p, "stage1", 10, "items");
  p.interval_s = 0.0;
  emi_progress_update(&p, 5);
  emi_log_setup(0, EMI_LOG_WARN, -1); /* progress off */
  emi_progress_begin(&p, "quiet", 10, "items");
  p.interval_s = 0.0;
  emi_progress_update(&p, 5);
  emi_log_info("below warn");
  emi_log_warn("a warning");

  stderr_restore(saved);
  slurp(cap, out, sizeof out);
  fclose(cap);

  CHECK_MSG(strstr(out, " s] info  hello 42\n") != NULL, "log:\n%s", out);
  CHECK(strstr(out, "[") == out);                         /* starts with the elapsed-time stamp */
  CHECK(strstr(out, "hidden") == NULL);
  CHECK(strstr(out, "prog  stage:  50.0% (5/10 items)") != NULL);
  CHECK(strstr(out, "rank 1") == NULL && strstr(out, "stage1") == NULL);
  CHECK(strstr(out, "quiet") == NULL && strstr(out, "below warn") == NULL);
  CHECK(strstr(out, "warn  a warning") != NULL);
  CHECK(emi_log_elapsed() >= 0.0);

  /* Default mode (progress 0) with stderr a regular file, not a terminal: no progress line at all,
   * though one is due at every update (emi_log.h: "0 shows them only when stderr is a terminal"). */
  cap = tmpfile();
  saved = stderr_to(fileno(cap));
  emi_log_setup(0, EMI_LOG_INFO, 0);
  int file_is_tty = isatty(STDERR_FILENO);
  run_due_stage("filestage");
  emi_log_info("after the stage"); /* the capture works: ordinary log lines still arrive */
  stderr_restore(saved);
  slurp(cap, out, sizeof out);
  fclose(cap);
  CHECK(!file_is_tty);
  CHECK_MSG(count(out, "prog ") == 0, "default mode, stderr not a terminal, printed:\n%s", out);
  CHECK_MSG(strstr(out, "info  after the stage\n") != NULL, "log:\n%s", out);
  /* ... and the same stage in the same mode on a terminal prints (two updates + the final line) */
  char tty_out[4096];
  int tty_lines = default_mode_on_terminal(tty_out, sizeof tty_out);
  if (tty_lines < 0) printf("test_log: no pseudo-terminal here; terminal control case not run\n");
  else CHECK_MSG(tty_lines == 3, "default mode on a terminal: %d progress lines, expected 3:\n%s", tty_lines, tty_out);

  /* Forced on, the real interval: emi_log.h promises a line "at most every interval_s seconds",
   * and the issue asks for "at most every few seconds".  The stage is back-dated by 4 s so that
   * one line is due at the first update; 1000 updates in quick succession then print exactly
   * that one.  The same without back-dating prints none (the first line is due after interval_s). */
  cap = tmpfile();
  saved = stderr_to(fileno(cap));
  emi_log_setup(0, EMI_LOG_INFO, 1);
  emi_progress_begin(&p, "fresh", 100, "items");
  double interval = p.interval_s;
  for (int k = 1; k <= 1000; k++) emi_progress_update(&p, k / 10.0);
  emi_progress_end(&p, 100); /* shorter than the interval and nothing printed: no final line */
  emi_progress_begin(&p, "rated", 100, "items");
  p.t_start -= 4.0;
  p.t_last -= 4.0;
  double t0 = emi_clock_monotonic();
  for (int k = 0; k < 1000; k++) emi_progress_update(&p, 40 + k / 1000.0);
  double spent = emi_clock_monotonic() - t0;
  stderr_restore(saved);
  slurp(cap, out, sizeof out);
  fclose(cap);
  CHECK_MSG(interval >= 1.0 && interval <= 10.0, "interval_s = %g s, expected a few seconds", interval);
  CHECK_MSG(spent < interval, "1000 updates took %g s, not quick succession", spent);
  CHECK_MSG(count(out, "prog  fresh") == 0, "no line due before the interval, got:\n%s", out);
  CHECK_MSG(count(out, "prog  rated") == 1, "1000 quick updates: expected one line, got:\n%s", out);
  /* The line holds the stage, percent done, rate and ETA: 40 of 100 items 4 s after the start is
   * 40.0%, 40 / 4 s = 10 items/s, and 60 left at 10/s is 6 s. */
  CHECK_MSG(strstr(out, "] prog  rated:  40.0% (40/100 items), 10 items/s, ETA 6 s\n") != NULL, "got:\n%s", out);

  return emi_test_report("test_log");
}
