/* emi_log.h: logging from rank 0 only, with levels and elapsed wall time, and a progress
 * helper for long stages.
 *
 *   [   12.345 s] info   classify: 1.2e7 records accepted
 *
 * Messages go to stderr.  Only the rank given to emi_log_setup() as speaker prints; every rank
 * may call the functions (the others return at once), so no `if (rank == 0)` clutters callers.
 * Personal data never goes into a log: callers log counts and codes, never input identifiers.
 */
#ifndef EMI_LOG_H
#define EMI_LOG_H

#include <stdint.h>

typedef enum { EMI_LOG_ERROR = 0, EMI_LOG_WARN = 1, EMI_LOG_INFO = 2, EMI_LOG_DEBUG = 3 } emi_log_level_t;

/* rank: this process's rank (only rank 0 prints); level: most verbose level shown;
 * progress: 1 forces progress lines, 0 shows them only when stderr is a terminal, -1 never. */
void emi_log_setup(int rank, emi_log_level_t level, int progress);
/* Parse "error|warn|info|debug"; returns 1 on success. */
int emi_log_level_parse(const char *text, emi_log_level_t *level);
emi_log_level_t emi_log_level(void);
/* Seconds since emi_log_setup (monotonic clock). */
double emi_log_elapsed(void);
/* Monotonic time in seconds (for timings). */
double emi_clock_monotonic(void);

void emi_log(emi_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define emi_log_error(...) emi_log(EMI_LOG_ERROR, __VA_ARGS__)
#define emi_log_warn(...) emi_log(EMI_LOG_WARN, __VA_ARGS__)
#define emi_log_info(...) emi_log(EMI_LOG_INFO, __VA_ARGS__)
#define emi_log_debug(...) emi_log(EMI_LOG_DEBUG, __VA_ARGS__)

/* Progress of one long stage: stage name, percent done, rate and ETA, printed at most every
 * `interval_s` seconds (and once at the end).  A plain struct so that it lives on the stack. */
typedef struct {
  const char *stage;
  const char *units; /* "records", "iterations" ... */
  double total;
  double t_start;
  double t_last;
  double interval_s;
  int enabled;
  int printed;
} emi_progress_t;

void emi_progress_begin(emi_progress_t *p, const char *stage, double total, const char *units);
/* Report `done` units so far; cheap when no line is due (one clock read). */
void emi_progress_update(emi_progress_t *p, double done);
/* Final line (only if a progress line was printed or the stage took longer than the interval). */
void emi_progress_end(emi_progress_t *p, double done);
/* Format one progress line (exposed for tests). */
void emi_progress_format(char *buf, int size, const char *stage, double done, double total, double elapsed_s,
                         const char *units);

#endif /* EMI_LOG_H */
