/* test_log: rank-0-only logging with levels and elapsed time, and the progress line format. */
#include <stdio.h>
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
  int saved = dup(fileno(stderr));
  dup2(fileno(cap), fileno(stderr));

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

  fflush(stderr);
  dup2(saved, fileno(stderr));
  close(saved);
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
  return emi_test_report("test_log");
}
