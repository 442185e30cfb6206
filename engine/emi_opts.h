/* emi_opts.h: one options table per command drives --help, parsing and validation.
 *
 * A command declares an array of emi_opt_spec_t (name, type, default, units, help, range).
 * The same table:
 *   - prints `emflow help <command>` / `--help`;
 *   - parses the command line (`--name value`, `--name=value`, `--flag`, `--no-flag`);
 *   - reads the command's INI section(s) of a config file through inih, where an unknown key,
 *     a repeated key or a bad value is an error naming file:line, the key, the value and what
 *     was expected; a relative path in a file (a PATH, or an item of a LIST with item_paths) is
 *     taken relative to that file's directory;
 *   - validates every value (type, range, choice) whatever its source;
 *   - is stored, resolved (value and where it came from), in every output file.
 * Command-line values override the file, which overrides the defaults.
 */
#ifndef EMI_OPTS_H
#define EMI_OPTS_H

#include <stdint.h>
#include <stdio.h>

#include "emi_err.h"

typedef enum {
  EMI_OPT_FLAG,   /* boolean; on the command line `--name` sets it, `--no-name` clears it */
  EMI_OPT_INT,    /* 64-bit signed integer, optional [min, max] */
  EMI_OPT_REAL,   /* finite double, optional [min, max] */
  EMI_OPT_STRING, /* free text */
  EMI_OPT_PATH,   /* file name (not opened here) */
  EMI_OPT_CHOICE, /* one of the comma-separated words in `choices` */
  EMI_OPT_MONTH,  /* calendar month YYYY-MM, stored as months since 0000-01 */
  EMI_OPT_LIST    /* repeatable string: each occurrence appends (command line), or a comma list (file) */
} emi_opt_type_t;

typedef struct {
  const char *name;    /* command-line long name and INI key, e.g. "horizon-months" */
  const char *section; /* INI section the key lives in, e.g. "forecast"; NULL = not settable from a file */
  emi_opt_type_t type;
  const char *def;     /* default as text; NULL = no default (unset unless given) */
  const char *units;   /* "" when dimensionless */
  const char *help;    /* one line */
  double min, max;     /* inclusive range for INT/REAL when min < max */
  const char *choices; /* "a,b,c" for CHOICE */
  char short_name;     /* optional one-letter alias on the command line ('o' for -o), 0 = none */
  int empty_ok;        /* STRING/PATH: "" is a value of its own (`filter =`: no filter), not a mistake */
  int item_paths;      /* LIST: each item is a file name; in a config file a relative item is taken
                        * relative to the file's directory, as a PATH is (`margin = a.csv, b.csv`) */
} emi_opt_spec_t;

typedef struct emi_opts emi_opts_t;

/* Build the resolved table from the spec (defaults applied and validated). */
emi_err_t emi_opts_create(const char *command, const emi_opt_spec_t *specs, int nspecs, emi_opts_t **opts);
void emi_opts_destroy(emi_opts_t **opts);

/* Read an INI file.  Sections in `own_sections` (comma-separated) are checked key by key
 * against the table; sections in `known_sections` (other commands' sections) are skipped;
 * any other section is an error.  Values set here are overridden by emi_opts_parse_argv. */
emi_err_t emi_opts_load_ini(emi_opts_t *opts, const char *path, const char *own_sections,
                            const char *known_sections);

/* Parse argv[first..argc).  Non-option words are returned in order as positionals (pointers
 * into argv; at most max_pos, more is a usage error).  `--` ends options.  Unknown options and
 * missing values are EMI_ERR_USAGE; bad values are EMI_ERR_USAGE naming the option. */
emi_err_t emi_opts_parse_argv(emi_opts_t *opts, int argc, char **argv, int first, const char **pos,
                              int max_pos, int *npos);

/* Value of a named option (the name must be in the table: asking for another is EMI_ERR_INTERNAL).
 * `*is_set` (may be NULL) tells whether it has a value at all (options without default). */
emi_err_t emi_opts_get_int(const emi_opts_t *opts, const char *name, int64_t *value);
emi_err_t emi_opts_get_real(const emi_opts_t *opts, const char *name, double *value);
emi_err_t emi_opts_get_flag(const emi_opts_t *opts, const char *name, int *value);
emi_err_t emi_opts_get_str(const emi_opts_t *opts, const char *name, const char **value);
emi_err_t emi_opts_get_month(const emi_opts_t *opts, const char *name, int *months_since_year0);
emi_err_t emi_opts_get_list(const emi_opts_t *opts, const char *name, int *n, const char *const **items);
int emi_opts_is_set(const emi_opts_t *opts, const char *name);
/* 1 when the option was given on the command line or in the config file (not just defaulted). */
int emi_opts_given(const emi_opts_t *opts, const char *name);

/* The resolved table, row by row, for output files: name, value text, units, source
 * ("default", "FILE:LINE" or "command line"). */
int emi_opts_count(const emi_opts_t *opts);
void emi_opts_row(const emi_opts_t *opts, int i, const char **name, const char **value, const char **units,
                  const char **source);

/* Where option `name` got its value, for a message about that value: "FILE:LINE: [section] name =
 * 'value'" when it came from a config file, else "--name 'value'" (or "--name" when unset). */
void emi_opts_describe(const emi_opts_t *opts, const char *name, char *buf, size_t len);
/* The same for one item of a LIST option: "FILE:LINE: [section] name = 'whole list': item 'item'" when
 * the list came from a config file, else "--name 'item'" (each --name on the command line is one item). */
void emi_opts_describe_item(const emi_opts_t *opts, const char *name, const char *item, char *buf, size_t len);

/* Print the table as help text (name, type, default, units, help), wrapped for a terminal. */
void emi_opts_print_help(const emi_opt_spec_t *specs, int nspecs, FILE *out);

/* Parse helpers shared with readers: whole-string, range-checked conversions. */
int emi_parse_int64(const char *text, int64_t *value);
int emi_parse_real(const char *text, double *value);
int emi_parse_month(const char *text, int *months_since_year0);

#endif /* EMI_OPTS_H */
