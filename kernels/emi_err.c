/* emi_err.c: thread-local error state behind emi_err.h. */
#include "emi_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define EMI_ERR_MSG_MAX 1024
#define EMI_ERR_FRAMES 16

typedef struct {
  const char *file;
  const char *func;
  int line;
} emi_frame_t;

static _Thread_local emi_err_t tl_code = EMI_SUCCESS;
static _Thread_local char tl_msg[EMI_ERR_MSG_MAX];
static _Thread_local emi_frame_t tl_frames[EMI_ERR_FRAMES];
static _Thread_local int tl_nframes = 0;

static const char *const names[] = {
#define EMI_X(name, status, msg) #name,
  EMI_ERR_LIST(EMI_X)
#undef EMI_X
};
static const char *const messages[] = {
#define EMI_X(name, status, msg) msg,
  EMI_ERR_LIST(EMI_X)
#undef EMI_X
};
static const int statuses[] = {
#define EMI_X(name, status, msg) status,
  EMI_ERR_LIST(EMI_X)
#undef EMI_X
};

static int valid(emi_err_t code) { return (int)code >= 0 && code < EMI_ERR_COUNT_; }

const char *emi_strerror(emi_err_t code) { return valid(code) ? messages[code] : "unknown error code"; }
const char *emi_err_name(emi_err_t code) { return valid(code) ? names[code] : "EMI_ERR_UNKNOWN"; }
int emi_err_exit_status(emi_err_t code) { return valid(code) ? statuses[code] : 70; }

static const char *basename_of(const char *path)
{
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

static void push_frame(const char *file, int line, const char *func)
{
  if (tl_nframes < EMI_ERR_FRAMES) {
    tl_frames[tl_nframes].file = basename_of(file);
    tl_frames[tl_nframes].line = line;
    tl_frames[tl_nframes].func = func;
    tl_nframes++;
  }
}

emi_err_t emi_err_raise(emi_err_t code, const char *file, int line, const char *func, const char *fmt, ...)
{
  tl_code = code;
  tl_nframes = 0;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tl_msg, sizeof tl_msg, fmt, ap);
  va_end(ap);
  if (n < 0) snprintf(tl_msg, sizeof tl_msg, "%s", emi_strerror(code));
  push_frame(file, line, func);
  return code;
}

emi_err_t emi_err_trace(emi_err_t code, const char *file, int line, const char *func)
{
  if (tl_code != code) {
    /* Code returned without being raised (or raised on another thread): keep a generic message. */
    tl_code = code;
    tl_nframes = 0;
    snprintf(tl_msg, sizeof tl_msg, "%s", emi_strerror(code));
  }
  push_frame(file, line, func);
  return code;
}

const char *emi_err_message(void) { return tl_code == EMI_SUCCESS ? "" : tl_msg; }
emi_err_t emi_err_code(void) { return tl_code; }

char *emi_err_traceback(char *buf, size_t size)
{
  size_t used = 0;
  if (!buf || size == 0) return buf;
  buf[0] = '\0';
  for (int i = 0; i < tl_nframes && used < size; i++) {
    int n = snprintf(buf + used, size - used, "  %s %s:%d in %s()\n", i == 0 ? "at" : "from",
                     tl_frames[i].file, tl_frames[i].line, tl_frames[i].func);
    if (n < 0) break;
    used += (size_t)n;
  }
  return buf;
}

void emi_err_clear(void)
{
  tl_code = EMI_SUCCESS;
  tl_nframes = 0;
  tl_msg[0] = '\0';
}
