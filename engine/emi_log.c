/* emi_log.c: rank-0 logging and progress lines (see emi_log.h). */
#include "emi_log.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int g_speaker = 1;
static emi_log_level_t g_level = EMI_LOG_INFO;
static int g_progress = 0;
static double g_t0 = -1.0;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

double emi_clock_monotonic(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void emi_log_setup(int rank, emi_log_level_t level, int progress)
{
  g_speaker = rank == 0;
  g_level = level;
  g_progress = progress > 0 ? 1 : progress < 0 ? 0 : isatty(STDERR_FILENO);
  if (g_t0 < 0) g_t0 = emi_clock_monotonic();
}

int emi_log_level_parse(const char *text, emi_log_level_t *level)
{
  for (int k = 0; k < 4; k++)
    if (!strcmp(text, level_names[k])) return *level = (emi_log_level_t)k, 1;
  return 0;
}

emi_log_level_t emi_log_level(void) { return g_level; }

double emi_log_elapsed(void)
{
  if (g_t0 < 0) g_t0 = emi_clock_monotonic();
  return emi_clock_monotonic() - g_t0;
}

void emi_log(emi_log_level_t level, const char *fmt, ...)
{
  if (!g_speaker || level > g_level) return;
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "[%10.3f s] %-5s %s\n", emi_log_elapsed(), level_names[level], msg);
  fflush(stderr);
}

/* 1234567 -> "1.23e+06"-style but readable: 1.23M */
static void human(char *buf, size_t size, double x)
{
  static const char *suffix[] = {"", "k", "M", "G", "T"};
  int s = 0;
  while (fabs(x) >= 1000.0 && s < 4) x /= 1000.0, s++;
  if (s == 0) snprintf(buf, size, "%.0f", x);
  else snprintf(buf, size, "%.3g%s", x, suffix[s]);
}

static void duration(char *buf, size_t size, double s)
{
  if (!isfinite(s) || s < 0) snprintf(buf, size, "?");
  else if (s < 60) snprintf(buf, size, "%.0f s", s);
  else if (s < 3600) snprintf(buf, size, "%d min %02d s", (int)(s / 60), (int)fmod(s, 60));
  else snprintf(buf, size, "%d h %02d min", (int)(s / 3600), (int)fmod(s / 60, 60));
}

void emi_progress_format(char *buf, int size, const char *stage, double done, double total, double elapsed_s,
                         const char *units)
{
  char d[32], t[32], r[32], eta[32];
  double rate = elapsed_s > 0 ? done / elapsed_s : 0.0;
  human(d, sizeof d, done);
  human(t, sizeof t, total);
  human(r, sizeof r, rate);
  if (total > 0 && done > 0 && rate > 0) duration(eta, sizeof eta, (total - done) / rate);
  else snprintf(eta, sizeof eta, "?");
  double pct = total > 0 ? 100.0 * done / total : 0.0;
  snprintf(buf, (size_t)size, "%s: %5.1f%% (%s/%s %s), %s %s/s, ETA %s", stage, pct, d, t, units, r, units, eta);
}

void emi_progress_begin(emi_progress_t *p, const char *stage, double total, const char *units)
{
  memset(p, 0, sizeof *p);
  p->stage = stage;
  p->units = units ? units : "items";
  p->total = total;
  p->t_start = p->t_last = emi_clock_monotonic();
  p->interval_s = 3.0;
  p->enabled = g_speaker && g_progress;
}

void emi_progress_update(emi_progress_t *p, double done)
{
  if (!p->enabled) return;
  double now = emi_clock_monotonic();
  if (now - p->t_last < p->interval_s) return;
  p->t_last = now;
  char line[256];
  emi_progress_format(line, sizeof line, p->stage, done, p->total, now - p->t_start, p->units);
  fprintf(stderr, "[%10.3f s] prog  %s\n", emi_log_elapsed(), line);
  fflush(stderr);
  p->printed = 1;
}

void emi_progress_end(emi_progress_t *p, double done)
{
  if (!p->enabled) return;
  double now = emi_clock_monotonic();
  if (!p->printed && now - p->t_start < p->interval_s) return;
  char line[256];
  emi_progress_format(line, sizeof line, p->stage, done, p->total, now - p->t_start, p->units);
  fprintf(stderr, "[%10.3f s] prog  %s (done)\n", emi_log_elapsed(), line);
  fflush(stderr);
}
