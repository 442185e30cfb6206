/* emi_opts.c: the options table (see emi_opts.h). */
#include "emi_opts.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

typedef struct {
  char *text;   /* value as text (NULL = unset) */
  char *source; /* "default", "FILE:LINE", "command line" */
  int64_t i;
  double r;
  char **items; /* EMI_OPT_LIST */
  int nitems;
  int file_line; /* line where a file set it (to detect repeats) */
} emi_opt_val_t;

struct emi_opts {
  char *command;
  const emi_opt_spec_t *specs;
  int n;
  emi_opt_val_t *vals;
  char *ini_path; /* the config file loaded, and the sections of it read (for "is required") */
  char *ini_own;
};

static char *dupstr(const char *s)
{
  if (!s) return NULL;
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

/* ------------------------------------------------------------------ parse helpers */

int emi_parse_int64(const char *text, int64_t *value)
{
  if (!text || !*text || isspace((unsigned char)*text)) return 0;
  errno = 0;
  char *end = NULL;
  long long v = strtoll(text, &end, 10);
  if (errno || end == text || *end != '\0') return 0;
  *value = (int64_t)v;
  return 1;
}

int emi_parse_real(const char *text, double *value)
{
  if (!text || !*text || isspace((unsigned char)*text)) return 0;
  if (strpbrk(text, "xXpP")) return 0; /* decimal only, as the CSV readers: no hex floats */
  errno = 0;
  char *end = NULL;
  double v = strtod(text, &end);
  if (errno == ERANGE) return 0; /* overflow, or underflow (1e-400 would silently become 0) */
  if (end == text || *end != '\0' || !isfinite(v)) return 0;
  *value = v;
  return 1;
}

int emi_parse_month(const char *text, int *months)
{
  if (!text || strlen(text) != 7 || text[4] != '-') return 0;
  for (int k = 0; k < 7; k++)
    if (k != 4 && !isdigit((unsigned char)text[k])) return 0;
  int y = atoi(text), m = atoi(text + 5);
  if (y < 1 || m < 1 || m > 12) return 0;
  *months = y * 12 + (m - 1);
  return 1;
}

static int parse_bool(const char *t, int *v)
{
  static const char *yes[] = {"1", "true", "yes", "on"}, *no[] = {"0", "false", "no", "off"};
  for (int k = 0; k < 4; k++) {
    if (!strcmp(t, yes[k])) return *v = 1, 1;
    if (!strcmp(t, no[k])) return *v = 0, 1;
  }
  return 0;
}

static int choice_ok(const char *choices, const char *t)
{
  size_t n = strlen(t);
  const char *p = choices;
  while (p && *p) {
    const char *c = strchr(p, ',');
    size_t len = c ? (size_t)(c - p) : strlen(p);
    if (len == n && !strncmp(p, t, n)) return 1;
    p = c ? c + 1 : NULL;
  }
  return 0;
}

static const char *type_word(emi_opt_type_t t)
{
  switch (t) {
  case EMI_OPT_FLAG: return "flag";
  case EMI_OPT_INT: return "int";
  case EMI_OPT_REAL: return "real";
  case EMI_OPT_STRING: return "text";
  case EMI_OPT_PATH: return "path";
  case EMI_OPT_CHOICE: return "choice";
  case EMI_OPT_MONTH: return "YYYY-MM";
  case EMI_OPT_LIST: return "list";
  }
  return "?";
}

/* What a valid value looks like, for error messages. */
/* An INT option's bound as an integer: the nearest int64 inward of the double (bounds are whole
 * numbers in the tables; clamped to the int64 range). */
static int64_t int_bound(double b)
{
  if (b >= 9223372036854775807.0) return INT64_MAX;
  if (b <= -9223372036854775808.0) return INT64_MIN;
  return (int64_t)b;
}

static void expected_text(const emi_opt_spec_t *s, char *buf, size_t size)
{
  switch (s->type) {
  case EMI_OPT_FLAG: snprintf(buf, size, "a boolean (true/false, yes/no, on/off, 1/0)"); break;
  case EMI_OPT_INT:
    if (s->min < s->max) snprintf(buf, size, "an integer in [%" PRId64 ", %" PRId64 "]", int_bound(s->min), int_bound(s->max));
    else snprintf(buf, size, "an integer");
    break;
  case EMI_OPT_REAL:
    if (s->min < s->max) snprintf(buf, size, "a finite number in [%.15g, %.15g]", s->min, s->max);
    else snprintf(buf, size, "a finite number");
    break;
  case EMI_OPT_CHOICE: snprintf(buf, size, "one of {%s}", s->choices); break;
  case EMI_OPT_MONTH: snprintf(buf, size, "a month YYYY-MM (e.g. 2020-03)"); break;
  default: snprintf(buf, size, "a non-empty value"); break;
  }
}

/* Validate `text` for spec s and store it in v.  Returns 1 when valid. */

static int convert(const emi_opt_spec_t *s, const char *text, emi_opt_val_t *v)
{
  int b, mo;
  int64_t i;
  double r;
  switch (s->type) {
  case EMI_OPT_FLAG:
    if (!parse_bool(text, &b)) return 0;
    v->i = b;
    return 1;
  case EMI_OPT_INT:
    if (!emi_parse_int64(text, &i)) return 0;
    /* compared as integers: (double)i rounds above 2^53, so 2^53 + 1 would pass a bound of 2^53 */
    if (s->min < s->max && (i < int_bound(s->min) || i > int_bound(s->max))) return 0;
    v->i = i;
    v->r = (double)i;
    return 1;
  case EMI_OPT_REAL:
    if (!emi_parse_real(text, &r)) return 0;
    if (s->min < s->max && (r < s->min || r > s->max)) return 0;
    v->r = r;
    return 1;
  case EMI_OPT_CHOICE: return choice_ok(s->choices, text);
  case EMI_OPT_MONTH:
    if (!emi_parse_month(text, &mo)) return 0;
    v->i = mo;
    return 1;
  case EMI_OPT_STRING:
  case EMI_OPT_PATH: return text[0] != '\0' || s->empty_ok;
  case EMI_OPT_LIST: return text[0] != '\0';
  }
  return 0;
}

static void val_clear_items(emi_opt_val_t *v)
{
  for (int k = 0; k < v->nitems; k++) free(v->items[k]);
  free(v->items);
  v->items = NULL;
  v->nitems = 0;
}

static emi_err_t list_append(emi_opt_val_t *v, const char *item)
{
  char **grown = realloc(v->items, (size_t)(v->nitems + 1) * sizeof *grown);
  if (!grown) return EMI_ERROR(EMI_ERR_NOMEM, "cannot grow an option list");
  v->items = grown;
  if (!(v->items[v->nitems] = dupstr(item))) return EMI_ERROR(EMI_ERR_NOMEM, "cannot copy an option value");
  v->nitems++;
  return EMI_SUCCESS;
}

/* A path read from config file `cfg_path`: relative to the file's directory (an absolute path, an
 * empty value, or a file named without a directory leave it as it is).  0 when it does not fit. */
static int resolve_path(const char *cfg_path, const char *value, char *out, size_t size)
{
  const char *slash = cfg_path ? strrchr(cfg_path, '/') : NULL;
  int w = value[0] && value[0] != '/' && slash
              ? snprintf(out, size, "%.*s/%s", (int)(slash - cfg_path), cfg_path, value)
              : snprintf(out, size, "%s", value);
  return w >= 0 && (size_t)w < size;
}

/* Store a validated value with its source; `append` for repeated LIST options.  `cfg_path`: the
 * config file the value comes from (NULL otherwise), against whose directory the items of a LIST
 * with item_paths are resolved. */
static emi_err_t store(emi_opts_t *o, int k, const char *text, const char *source, int append, const char *cfg_path)
{
  emi_opt_val_t *v = &o->vals[k];
  const emi_opt_spec_t *s = &o->specs[k];
  if (s->type == EMI_OPT_LIST) {
    if (!append) val_clear_items(v);
    if (append) {
      EMI_CALL(list_append(v, text));
    } else { /* comma-separated list from a default or a file */
      const char *p = text;
      const char *q = text;
      while (isspace((unsigned char)*q)) q++;
      const int blank = !*q; /* "key =" sets the empty list; an empty item next to others is an error */
      for (;;) { /* (not while (*p): a trailing comma leaves an empty last item) */
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        while (len && isspace((unsigned char)*p)) p++, len--;
        while (len && isspace((unsigned char)p[len - 1])) len--;
        char item[1024];
        if (len >= sizeof item)
          return EMI_ERROR(EMI_ERR_CONFIG, "%s: [%s] %s: an item of %zu characters, expected at most %zu", source,
                           s->section ? s->section : "", s->name, len, sizeof item - 1);
        if (!len && !blank && strcmp(source, "default"))
          return EMI_ERROR(EMI_ERR_CONFIG, "%s: [%s] %s = '%s': an empty item (two commas in a row, or one at an "
                           "end): expected a comma-separated list of non-empty items", source,
                           s->section ? s->section : "", s->name,
                           text);
        memcpy(item, p, len);
        item[len] = '\0';
        char resolved[4096];
        if (s->item_paths && cfg_path && !resolve_path(cfg_path, item, resolved, sizeof resolved))
          return EMI_ERROR(EMI_ERR_CONFIG, "%s: [%s] %s: item '%s': path too long", source, s->section, s->name, item);
        if (len) EMI_CALL(list_append(v, s->item_paths && cfg_path ? resolved : item));
        if (!c) break;
        p = c + 1;
      }
    }
  }
  char *t = NULL;
  if (s->type == EMI_OPT_LIST && v->nitems > 0) { /* text = items joined by commas */
    size_t len = 1;
    for (int j = 0; j < v->nitems; j++) len += strlen(v->items[j]) + 1;
    t = malloc(len);
    if (t) {
      t[0] = '\0';
      for (int j = 0; j < v->nitems; j++) {
        if (j) strcat(t, ",");
        strcat(t, v->items[j]);
      }
    }
  } else {
    t = dupstr(text);
  }
  char *src = dupstr(source);
  if (!t || !src) {
    free(t);
    free(src);
    return EMI_ERROR(EMI_ERR_NOMEM, "cannot store option %s", s->name);
  }
  free(v->text);
  free(v->source);
  v->text = t;
  v->source = src;
  return EMI_SUCCESS;
}

static int find(const emi_opts_t *o, const char *name, size_t len)
{
  for (int k = 0; k < o->n; k++)
    if (strlen(o->specs[k].name) == len && !strncmp(o->specs[k].name, name, len)) return k;
  return -1;
}

/* ------------------------------------------------------------------ lifecycle */

emi_err_t emi_opts_create(const char *command, const emi_opt_spec_t *specs, int nspecs, emi_opts_t **opts)
{
  emi_err_t err = EMI_SUCCESS;
  emi_opts_t *o = NULL;
  *opts = NULL;
  EMI_CALLOC(o, 1, "options table");
  o->specs = specs;
  o->n = nspecs;
  o->command = dupstr(command ? command : "");
  EMI_CALLOC(o->vals, nspecs > 0 ? nspecs : 1, "option values");
  if (!o->command) EMI_FAIL(EMI_ERR_NOMEM, "cannot copy a command name");
  for (int k = 0; k < nspecs; k++) {
    const emi_opt_spec_t *s = &specs[k];
    for (int j = 0; j < k; j++)
      if (!strcmp(specs[j].name, s->name))
        EMI_FAIL(EMI_ERR_INTERNAL, "option table of '%s' declares --%s twice", command, s->name);
    if (s->def) {
      if (!convert(s, s->def, &o->vals[k]) && !(s->type == EMI_OPT_LIST && !s->def[0]))
        EMI_FAIL(EMI_ERR_INTERNAL, "default '%s' of option --%s of '%s' is invalid", s->def, s->name, command);
      if (s->def[0] || s->type != EMI_OPT_LIST) EMI_TRY(store(o, k, s->def, "default", 0, NULL));
    }
  }
  *opts = o;
  o = NULL;
cleanup:
  emi_opts_destroy(&o);
  return err;
}

void emi_opts_destroy(emi_opts_t **opts)
{
  if (!opts || !*opts) return;
  emi_opts_t *o = *opts;
  if (o->vals)
    for (int k = 0; k < o->n; k++) {
      free(o->vals[k].text);
      free(o->vals[k].source);
      val_clear_items(&o->vals[k]);
    }
  free(o->vals);
  free(o->command);
  free(o->ini_path);
  free(o->ini_own);
  free(o);
  *opts = NULL;
}

/* ------------------------------------------------------------------ INI files */

typedef struct {
  emi_opts_t *o;
  const char *path;
  const char *own, *known;
  FILE *fp;
  int line;        /* line number of the line inih is handling */
  int long_line;   /* first line longer than inih's buffer */
  size_t bytes;    /* bytes read so far */
  emi_err_t err;   /* first error */
  char section[128];
  int section_line;
} ini_ctx_t;

/* Feed inih one line at a time, checking what inih would accept silently: a line too long for its
 * buffer, a NUL byte, an indented line (inih would glue it to the previous value), a section header
 * without ']', and files over 1 MiB (a config is small; /dev/zero must not hang us).  After the first
 * problem inih gets end-of-file, so the first error is the one reported. */
static char *ini_reader_fn(char *str, int num, void *stream)
{
  ini_ctx_t *c = stream;
  if (c->err || c->long_line || num < 2) return NULL;
  int n = 0, ch = EOF;
  while (n < num - 1 && (ch = getc(c->fp)) != EOF) {
    if (ch == '\0') {
      c->err = EMI_ERROR(EMI_ERR_CONFIG, "%s:%d: NUL byte in the file (is it a text file?)", c->path, c->line + 1);
      return NULL;
    }
    str[n++] = (char)ch;
    if (ch == '\n') break;
  }
  if (n == 0) return NULL;
  str[n] = '\0';
  c->line++;
  c->bytes += (size_t)n;
  if (c->bytes > (1u << 20)) {
    c->err = EMI_ERROR(EMI_ERR_CONFIG, "%s:%d: file larger than 1 MiB: not a configuration file?", c->path, c->line);
    return NULL;
  }
  if (str[n - 1] != '\n' && ch != EOF) { /* the line goes on beyond inih's buffer */
    c->long_line = c->line;
    return NULL;
  }
  const char *p = str;
  while (*p == ' ' || *p == '\t') p++;
  if (p != str && *p && *p != '\n' && *p != '\r' && *p != ';' && *p != '#') {
    c->err = EMI_ERROR(EMI_ERR_CONFIG, "%s:%d: indented line: write 'key = value' at the start of the line "
                       "(continuation lines are not supported)", c->path, c->line);
    return NULL;
  }
  if (*p == '[' && !strchr(p, ']')) {
    c->err = EMI_ERROR(EMI_ERR_CONFIG, "%s:%d: section header without ']'", c->path, c->line);
    return NULL;
  }
  return str;
}

static int in_list(const char *list, const char *word)
{
  return list && choice_ok(list, word);
}

static int opts_ini_handler(void *user, const char *section, const char *name, const char *value)
{
  ini_ctx_t *c = user;
  if (c->err) return 1; /* report only the first error */
  if (!strncmp(section, "scenario.", 9)) return 1; /* [scenario.NAME]: read and checked by emflow forecast */
  if (!in_list(c->own, section)) {
    if (in_list(c->known, section)) return 1; /* another command's section */
    /* the sections accepted, each once */
    char expect[512] = "";
    size_t used = 0;
    const char *lists[2] = {c->own, c->known};
    for (int l = 0; l < 2; l++) {
      const char *p = lists[l];
      while (p && *p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char word[128];
        snprintf(word, sizeof word, "%.*s", (int)len, p);
        if (len && !in_list(expect, word) && used + len + 2 < sizeof expect)
          used += (size_t)snprintf(expect + used, sizeof expect - used, "%s%s", used ? "," : "", word);
        p = comma ? comma + 1 : NULL;
      }
    }
    c->err = EMI_ERROR(EMI_ERR_CONFIG, "%s:%d: unknown section [%s] (key '%s'): expected one of {%s}", c->path,
                       c->line, section[0] ? section : "", name, expect);
    return 0;
  }
  int k = find(c->o, name, strlen(name));
  if (k < 0 || !c->o->specs[k].section || strcmp(c->o->specs[k].section, section)) {
    /* list the keys this section accepts */
    char keys[1024] = "";
    size_t used = 0;
    for (int j = 0; j < c->o->n; j++) {
      const emi_opt_spec_t *s = &c->o->specs[j];
      if (!s->section || strcmp(s->section, section)) continue;
      int w = snprintf(keys + used, sizeof keys - used, "%s%s", used ? ", " : "", s->name);
      if (w < 0 || (size_t)w >= sizeof keys - used) break;
      used += (size_t)w;
    }
    c->err = EMI_ERROR(EMI_ERR_CONFIG, "%s:%d: [%s] unknown key '%s' = '%s': expected one of: %s", c->path,
                       c->line, section, name, value, keys);
    return 0;
  }
  const emi_opt_spec_t *s = &c->o->specs[k];
  emi_opt_val_t *v = &c->o->vals[k];
  if (v->file_line) {
    c->err = EMI_ERROR(EMI_ERR_CONFIG, "%s:%d: [%s] key '%s' is set twice (first at line %d)", c->path, c->line,
                       section, name, v->file_line);
    return 0;
  }
  emi_opt_val_t tmp = {0};
  if (!convert(s, value, &tmp)) {
    char expect[256];
    expected_text(s, expect, sizeof expect);
    c->err = EMI_ERROR(EMI_ERR_CONFIG, "%s:%d: [%s] %s = '%s': expected %s%s%s", c->path, c->line, section, name,
                       value, expect, s->units && *s->units ? " in " : "", s->units ? s->units : "");
    return 0;
  }
  v->i = tmp.i;
  v->r = tmp.r;
  char src[600];
  snprintf(src, sizeof src, "%s:%d", c->path, c->line);
  /* a relative path in a config file is relative to the file's own directory (each item of a list
   * of paths too: store() resolves those) */
  char resolved[4096];
  if (s->type == EMI_OPT_PATH) {
    if (!resolve_path(c->path, value, resolved, sizeof resolved)) {
      c->err = EMI_ERROR(EMI_ERR_CONFIG, "%s:%d: [%s] %s: path too long", c->path, c->line, section, name);
      return 0;
    }
    value = resolved;
  }
  emi_err_t e = store(c->o, k, value, src, 0, c->path);
  if (e) {
    c->err = e;
    return 0;
  }
  v->file_line = c->line;
  return 1;
}

/* inih's line buffer: its default, 200 bytes on the stack, refused a config line of two absolute paths
 * (a list of margins); Debian's libinih sets the buffer at run time, here a heap buffer of
 * EMI_INI_MAX_LINE bytes (3 of them for CR, LF and NUL), which later ini_parse calls of the process share. */
#define EMI_INI_MAX_LINE 8192

emi_err_t emi_opts_load_ini(emi_opts_t *o, const char *path, const char *own, const char *known)
{
  ini_use_stack = 0;
  ini_allow_realloc = 0;
  ini_max_line = EMI_INI_MAX_LINE;
  ini_initial_alloc = EMI_INI_MAX_LINE;
  ini_ctx_t c = {.o = o, .path = path, .own = own, .known = known};
  c.fp = fopen(path, "r");
  if (!c.fp) return EMI_ERROR(EMI_ERR_IO, "cannot open config file %s: %s", path, strerror(errno));
  int rc = ini_parse_stream(ini_reader_fn, &c, opts_ini_handler, &c);
  int read_error = ferror(c.fp) ? (errno ? errno : EIO) : 0;
  fclose(c.fp);
  if (c.err) return c.err;
  if (read_error) return EMI_ERROR(EMI_ERR_IO, "error reading config file %s: %s", path, strerror(read_error));
  if (c.long_line)
    return EMI_ERROR(EMI_ERR_CONFIG, "%s:%d: line is longer than %d characters", path, c.long_line,
                     EMI_INI_MAX_LINE - 3);
  if (rc == -2) return EMI_ERROR(EMI_ERR_NOMEM, "out of memory parsing %s", path);
  if (rc != 0)
    return EMI_ERROR(EMI_ERR_CONFIG, "%s:%d: syntax error: expected '[section]', 'key = value' or a comment", path,
                     rc);
  free(o->ini_path);
  free(o->ini_own);
  o->ini_path = dupstr(path);
  o->ini_own = dupstr(own);
  return EMI_SUCCESS;
}

/* ------------------------------------------------------------------ command line */

emi_err_t emi_opts_parse_argv(emi_opts_t *o, int argc, char **argv, int first, const char **pos, int max_pos,
                              int *npos)
{
  int np = 0, only_pos = 0;
  for (int a = first; a < argc; a++) {
    const char *arg = argv[a];
    if (only_pos || arg[0] != '-' || !strcmp(arg, "-")) {
      if (np >= max_pos)
        return EMI_ERROR(EMI_ERR_USAGE, "%s: unexpected argument '%s' (takes at most %d)", o->command, arg, max_pos);
      pos[np++] = arg;
      continue;
    }
    if (!strcmp(arg, "--")) {
      only_pos = 1;
      continue;
    }
    const char *name = arg + 2, *eq = NULL;
    size_t len = 0;
    int k = -1, negated = 0;
    if (arg[1] != '-') { /* -x: one-letter alias */
      for (int j = 0; j < o->n && arg[2] == '\0'; j++)
        if (o->specs[j].short_name && o->specs[j].short_name == arg[1]) k = j;
      if (k < 0) return EMI_ERROR(EMI_ERR_USAGE, "%s: unknown option '%s'", o->command, arg);
      name = o->specs[k].name;
      len = strlen(name);
    } else {
      eq = strchr(name, '=');
      len = eq ? (size_t)(eq - name) : strlen(name);
      k = find(o, name, len);
    }
    if (k < 0 && len > 3 && !strncmp(name, "no-", 3)) {
      k = find(o, name + 3, len - 3);
      if (k >= 0 && o->specs[k].type != EMI_OPT_FLAG) k = -1;
      negated = 1;
    }
    if (k < 0)
      return EMI_ERROR(EMI_ERR_USAGE, "%s: unknown option '--%.*s' (see 'emflow help %s')", o->command, (int)len,
                       name, o->command);
    const emi_opt_spec_t *s = &o->specs[k];
    const char *value;
    if (s->type == EMI_OPT_FLAG && !eq) {
      value = negated ? "false" : "true";
    } else if (eq) {
      if (negated) return EMI_ERROR(EMI_ERR_USAGE, "%s: '%s' takes no value", o->command, arg);
      value = eq + 1;
    } else {
      if (a + 1 >= argc)
        return EMI_ERROR(EMI_ERR_USAGE, "%s: option --%s needs a value (%s)", o->command, s->name, type_word(s->type));
      value = argv[++a];
    }
    emi_opt_val_t tmp = {0};
    if (!convert(s, value, &tmp)) {
      char expect[256];
      expected_text(s, expect, sizeof expect);
      return EMI_ERROR(EMI_ERR_USAGE, "%s: --%s '%s': expected %s%s%s", o->command, s->name, value, expect,
                       s->units && *s->units ? " in " : "", s->units ? s->units : "");
    }
    o->vals[k].i = tmp.i;
    o->vals[k].r = tmp.r;
    /* the first --list on the command line replaces the file's list, later ones append */
    if (s->type != EMI_OPT_LIST && o->vals[k].source && !strcmp(o->vals[k].source, "command line"))
      return EMI_ERROR(EMI_ERR_USAGE, "%s: option --%s is given twice", o->command, s->name);
    int append = s->type == EMI_OPT_LIST && o->vals[k].source && !strcmp(o->vals[k].source, "command line");
    if (s->type == EMI_OPT_LIST && !append) val_clear_items(&o->vals[k]);
    EMI_CALL(store(o, k, value, "command line", s->type == EMI_OPT_LIST, NULL));
  }
  *npos = np;
  return EMI_SUCCESS;
}

/* ------------------------------------------------------------------ getters */

static emi_err_t lookup(const emi_opts_t *o, const char *name, emi_opt_type_t type, int *k)
{
  *k = find(o, name, strlen(name));
  if (*k < 0) return EMI_ERROR(EMI_ERR_INTERNAL, "command '%s' has no option --%s", o->command, name);
  if (o->specs[*k].type != type &&
      !(type == EMI_OPT_STRING && (o->specs[*k].type == EMI_OPT_PATH || o->specs[*k].type == EMI_OPT_CHOICE ||
                                   o->specs[*k].type == EMI_OPT_MONTH || o->specs[*k].type == EMI_OPT_INT ||
                                   o->specs[*k].type == EMI_OPT_REAL)))
    return EMI_ERROR(EMI_ERR_INTERNAL, "option --%s is a %s, read as a %s", name, type_word(o->specs[*k].type),
                     type_word(type));
  if (!o->vals[*k].text && type != EMI_OPT_LIST) {
    /* with a config file, say where the key was looked for: a file for another command (no section
     * of this one) otherwise reads as if the option were simply forgotten */
    char where[1200] = "";
    if (o->ini_path) {
      char secs[300] = "";
      size_t u = 0;
      for (const char *p = o->ini_own ? o->ini_own : ""; *p && u + 40 < sizeof secs;) {
        size_t l = strcspn(p, ",");
        u += (size_t)snprintf(secs + u, sizeof secs - u, "%s[%.*s]", u ? " or " : "", (int)l, p);
        p += l + (p[l] == ',');
      }
      snprintf(where, sizeof where, "; neither the command line nor %s in %s set it", secs, o->ini_path);
    }
    return EMI_ERROR(EMI_ERR_USAGE, "%s: option --%s is required (%s)%s", o->command, name, o->specs[*k].help, where);
  }
  return EMI_SUCCESS;
}

emi_err_t emi_opts_get_int(const emi_opts_t *o, const char *name, int64_t *value)
{
  int k;
  EMI_CALL(lookup(o, name, EMI_OPT_INT, &k));
  *value = o->vals[k].i;
  return EMI_SUCCESS;
}

emi_err_t emi_opts_get_real(const emi_opts_t *o, const char *name, double *value)
{
  int k;
  EMI_CALL(lookup(o, name, EMI_OPT_REAL, &k));
  *value = o->vals[k].r;
  return EMI_SUCCESS;
}

emi_err_t emi_opts_get_flag(const emi_opts_t *o, const char *name, int *value)
{
  int k;
  EMI_CALL(lookup(o, name, EMI_OPT_FLAG, &k));
  *value = (int)o->vals[k].i;
  return EMI_SUCCESS;
}

emi_err_t emi_opts_get_str(const emi_opts_t *o, const char *name, const char **value)
{
  int k;
  EMI_CALL(lookup(o, name, EMI_OPT_STRING, &k));
  *value = o->vals[k].text;
  return EMI_SUCCESS;
}

emi_err_t emi_opts_get_month(const emi_opts_t *o, const char *name, int *months)
{
  int k;
  EMI_CALL(lookup(o, name, EMI_OPT_MONTH, &k));
  *months = (int)o->vals[k].i;
  return EMI_SUCCESS;
}

emi_err_t emi_opts_get_list(const emi_opts_t *o, const char *name, int *n, const char *const **items)
{
  int k;
  EMI_CALL(lookup(o, name, EMI_OPT_LIST, &k));
  *n = o->vals[k].nitems;
  *items = (const char *const *)o->vals[k].items;
  return EMI_SUCCESS;
}

int emi_opts_is_set(const emi_opts_t *o, const char *name)
{
  int k = find(o, name, strlen(name));
  return k >= 0 && o->vals[k].text != NULL;
}

int emi_opts_count(const emi_opts_t *o) { return o->n; }

void emi_opts_describe(const emi_opts_t *o, const char *name, char *buf, size_t len)
{
  const int k = find(o, name, strlen(name));
  if (!len) return;
  if (k < 0 || !o->vals[k].text) {
    snprintf(buf, len, "--%s", name);
    return;
  }
  const char *src = o->vals[k].source, *sec = o->specs[k].section;
  if (src && strcmp(src, "command line") && strcmp(src, "default") && sec)
    snprintf(buf, len, "%s: [%s] %s = '%s'", src, sec, name, o->vals[k].text);
  else snprintf(buf, len, "--%s '%s'", name, o->vals[k].text);
}

void emi_opts_describe_item(const emi_opts_t *o, const char *name, const char *item, char *buf, size_t len)
{
  const int k = find(o, name, strlen(name));
  if (!len) return;
  const char *src = k >= 0 ? o->vals[k].source : NULL, *sec = k >= 0 ? o->specs[k].section : NULL;
  if (src && o->vals[k].text && strcmp(src, "command line") && strcmp(src, "default") && sec)
    snprintf(buf, len, "%s: [%s] %s = '%s': item '%s'", src, sec, name, o->vals[k].text, item);
  else snprintf(buf, len, "--%s '%s'", name, item);
}

void emi_opts_row(const emi_opts_t *o, int i, const char **name, const char **value, const char **units,
                  const char **source)
{
  *name = o->specs[i].name;
  *value = o->vals[i].text ? o->vals[i].text : "";
  *units = o->specs[i].units ? o->specs[i].units : "";
  *source = o->vals[i].source ? o->vals[i].source : "unset";
}

/* ------------------------------------------------------------------ help */

void emi_opts_print_help(const emi_opt_spec_t *specs, int n, FILE *out)
{
  for (int k = 0; k < n; k++) {
    const emi_opt_spec_t *s = &specs[k];
    char head[160];
    char alias[8] = "";
    if (s->short_name) snprintf(alias, sizeof alias, "-%c, ", s->short_name);
    if (s->type == EMI_OPT_FLAG) snprintf(head, sizeof head, "  %s--%s", alias, s->name);
    else snprintf(head, sizeof head, "  %s--%s %s", alias, s->name, s->type == EMI_OPT_CHOICE ? "WORD" : type_word(s->type));
    fprintf(out, "%-34s %s", head, s->help);
    if (s->units && *s->units) fprintf(out, " [%s]", s->units);
    fputc('\n', out);
    char extra[400] = "";
    size_t used = 0;
    if (s->type == EMI_OPT_CHOICE)
      used += (size_t)snprintf(extra + used, sizeof extra - used, "one of: %s; ", s->choices);
    if (s->type == EMI_OPT_LIST)
      used += (size_t)snprintf(extra + used, sizeof extra - used, "repeat the option for each item; ");
    if (s->type == EMI_OPT_INT && s->min < s->max) /* as the errors print them: 1000000000, not 1e+09 */
      used += (size_t)snprintf(extra + used, sizeof extra - used, "range [%" PRId64 ", %" PRId64 "]; ",
                               int_bound(s->min), int_bound(s->max));
    if (s->type == EMI_OPT_REAL && s->min < s->max)
      used += (size_t)snprintf(extra + used, sizeof extra - used, "range [%g, %g]; ", s->min, s->max);
    if (s->def && *s->def) used += (size_t)snprintf(extra + used, sizeof extra - used, "default %s; ", s->def);
    else if (!s->def && s->type != EMI_OPT_FLAG && s->type != EMI_OPT_LIST)
      used += (size_t)snprintf(extra + used, sizeof extra - used, "no default; ");
    if (s->section)
      used += (size_t)snprintf(extra + used, sizeof extra - used, "config [%s] %s%s", s->section, s->name,
                               s->type == EMI_OPT_LIST ? " = a, b, ..." : "");
    else used += (size_t)snprintf(extra + used, sizeof extra - used, "command line only");
    fprintf(out, "%-34s (%s)\n", "", extra);
  }
}

int emi_opts_given(const emi_opts_t *o, const char *name)
{
  for (int i = 0; i < o->n; i++)
    if (!strcmp(o->specs[i].name, name))
      return o->vals[i].source && strcmp(o->vals[i].source, "default") && strcmp(o->vals[i].source, "unset");
  return 0;
}
