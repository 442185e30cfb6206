/* test_opts: the options table, INI files through inih, and command-line overrides.
 * Right values: the defaults and files written here; the error messages must name file:line,
 * the key, the value and what was expected (foundation issue, "Engine basics"). */
#include <stdio.h>
#include <string.h>

#include "emi_opts.h"
#include "emi_test.h"

static const emi_opt_spec_t specs[] = {
  {"config", NULL, EMI_OPT_PATH, NULL, "", "config file", 0, 0, NULL},
  {"months", "simulate", EMI_OPT_INT, "36", "months", "length of the period", 1, 1200, NULL},
  {"rate", "simulate", EMI_OPT_REAL, "0.5", "1/day", "a rate", 0, 1, NULL},
  {"start", "simulate", EMI_OPT_MONTH, "2020-01", "", "first month", 0, 0, NULL},
  {"rule", "simulate", EMI_OPT_CHOICE, "12/16", "", "classification rule", 0, 0, "12/16,12/12"},
  {"verbose", "emflow", EMI_OPT_FLAG, "false", "", "talk more", 0, 0, NULL},
  {"margin", "ipf", EMI_OPT_LIST, "", "", "margin files", 0, 0, NULL, 0, 0, 1}, /* items are paths */
  {"codes", "ipf", EMI_OPT_LIST, "", "", "country codes", 0, 0, NULL},
  {"output", "simulate", EMI_OPT_PATH, NULL, "", "output file", 0, 0, NULL, 'o'},
};
static const int nspecs = (int)(sizeof specs / sizeof specs[0]);

static const char *tmpdir(void)
{
  const char *t = getenv("EMI_TEST_TMP");
  return t ? t : "/tmp";
}

static void write_file(const char *path, const char *text)
{
  FILE *f = fopen(path, "w");
  if (!f) {
    perror(path);
    exit(1);
  }
  fputs(text, f);
  fclose(f);
}

/* Load `text` as a config; return the code and leave the message in emi_err_message(). */
static emi_err_t load(const char *text, emi_opts_t **o, char *path, size_t size)
{
  snprintf(path, size, "%s/test_opts.ini", tmpdir());
  write_file(path, text);
  if (emi_opts_create("simulate", specs, nspecs, o)) return emi_err_code();
  return emi_opts_load_ini(*o, path, "emflow,simulate,ipf", "estimate,forecast");
}

static int contains(const char *hay, const char *needle)
{
  int ok = strstr(hay, needle) != NULL;
  if (!ok) fprintf(stderr, "  message '%s' lacks '%s'\n", hay, needle);
  return ok;
}

int main(void)
{
  emi_opts_t *o = NULL;
  char path[512], want[600];
  int64_t i64;
  double r;
  int flag, month, n;
  const char *s;
  const char *const *items;

  /* Defaults are applied and typed. */
  CHECK_OK(emi_opts_create("simulate", specs, nspecs, &o));
  CHECK_OK(emi_opts_get_int(o, "months", &i64));
  CHECK_INT_EQ(i64, 36);
  CHECK_OK(emi_opts_get_real(o, "rate", &r));
  CHECK(r == 0.5);
  CHECK_OK(emi_opts_get_month(o, "start", &month));
  CHECK_INT_EQ(month, 2020 * 12 + 0);
  CHECK(!emi_opts_is_set(o, "output"));
  CHECK_ERR(emi_opts_get_str(o, "output", &s), EMI_ERR_USAGE); /* required, no default */
  CHECK_ERR(emi_opts_get_int(o, "no-such-option", &i64), EMI_ERR_INTERNAL);
  CHECK_ERR(emi_opts_get_int(o, "rate", &i64), EMI_ERR_INTERNAL); /* wrong type */
  emi_opts_destroy(&o);
  CHECK(o == NULL);
  emi_opts_destroy(&o); /* NULL is fine */

  /* A file sets values; the command line overrides the file; sources are recorded. */
  CHECK_OK(load("; comment\n[simulate]\nmonths = 48\nrate = 0.25\n\n[emflow]\nverbose = yes\n"
                "[ipf]\nmargin = a.csv, b.csv\n[estimate]\nanything = goes\n",
                &o, path, sizeof path));
  CHECK_OK(emi_opts_get_int(o, "months", &i64));
  CHECK_INT_EQ(i64, 48);
  CHECK_OK(emi_opts_get_flag(o, "verbose", &flag));
  CHECK_INT_EQ(flag, 1);
  CHECK_OK(emi_opts_get_list(o, "margin", &n, &items)); /* relative to the file's directory */
  CHECK_INT_EQ(n, 2);
  snprintf(want, sizeof want, "%s/b.csv", tmpdir());
  if (n == 2) CHECK(!strcmp(items[0] + strlen(tmpdir()), "/a.csv") && !strcmp(items[1], want));
  char *argv[] = {"emflow", "simulate", "--months", "60", "--no-verbose", "pos1", "--rate=0.125",
                  "--margin", "c.csv", "--margin", "d.csv", "--", "--pos2"};
  const char *pos[4];
  int npos = 0;
  CHECK_OK(emi_opts_parse_argv(o, 13, argv, 2, pos, 4, &npos));
  CHECK_INT_EQ(npos, 2);
  if (npos == 2) CHECK(!strcmp(pos[0], "pos1") && !strcmp(pos[1], "--pos2"));
  CHECK_OK(emi_opts_get_int(o, "months", &i64));
  CHECK_INT_EQ(i64, 60);
  CHECK_OK(emi_opts_get_real(o, "rate", &r));
  CHECK(r == 0.125);
  CHECK_OK(emi_opts_get_flag(o, "verbose", &flag));
  CHECK_INT_EQ(flag, 0);
  CHECK_OK(emi_opts_get_list(o, "margin", &n, &items)); /* command line replaces the file's list */
  CHECK_INT_EQ(n, 2);
  if (n == 2) CHECK(!strcmp(items[0], "c.csv") && !strcmp(items[1], "d.csv"));
  /* resolved table rows name the source */
  int found_file = 0, found_cli = 0, found_default = 0;
  for (int k = 0; k < emi_opts_count(o); k++) {
    const char *nm, *val, *un, *src;
    emi_opts_row(o, k, &nm, &val, &un, &src);
    if (!strcmp(nm, "months")) found_cli = !strcmp(val, "60") && !strcmp(src, "command line") && !strcmp(un, "months");
    if (!strcmp(nm, "rule")) found_default = !strcmp(val, "12/16") && !strcmp(src, "default");
    if (!strcmp(nm, "verbose")) found_file = !strcmp(src, "command line");
  }
  CHECK(found_cli && found_default && found_file);
  /* emi_opts_describe: a value from the file names file:line, [section] and key (rate is on line 4);
   * one from the command line names the option; the default and an unset option name the option */
  {
    char d[700];
    emi_opts_describe(o, "rate", d, sizeof d);
    CHECK_MSG(!strcmp(d, "--rate '0.125'"), "describe rate (command line): %s", d);
    emi_opts_describe(o, "rule", d, sizeof d);
    CHECK_MSG(!strcmp(d, "--rule '12/16'"), "describe rule (default): %s", d);
    emi_opts_describe(o, "output", d, sizeof d);
    CHECK_MSG(!strcmp(d, "--output"), "describe output (unset): %s", d);
    emi_opts_t *o2 = NULL;
    CHECK_OK(load("; comment\n[simulate]\nmonths = 48\nrate = 0.25\n", &o2, path, sizeof path));
    emi_opts_describe(o2, "rate", d, sizeof d);
    snprintf(want, sizeof want, "%s:4: [simulate] rate = '0.25'", path);
    CHECK_MSG(!strcmp(d, want), "describe rate (file): '%s', expected '%s'", d, want);
    emi_opts_destroy(&o2);
    /* one item of a list: from a file, file:line, key and the whole list; else the option and the item */
    CHECK_OK(load("[ipf]\ncodes = AT, b\"\n", &o2, path, sizeof path));
    emi_opts_describe_item(o2, "codes", "b\"", d, sizeof d);
    snprintf(want, sizeof want, "%s:2: [ipf] codes = 'AT,b\"': item 'b\"'", path);
    CHECK_MSG(!strcmp(d, want), "describe_item (file): '%s', expected '%s'", d, want);
    emi_opts_destroy(&o2);
    emi_opts_describe_item(o, "margin", "x", d, sizeof d);
    CHECK_MSG(!strcmp(d, "--margin 'x'"), "describe_item (command line/default): %s", d);
  }
  emi_opts_destroy(&o);

  /* A required option a config file does not set: the message says which sections of which file were
   * read (a file for another command reads otherwise as a forgotten option; from a new user) */
  CHECK_OK(load("[estimate]\noutput = x.h5\n", &o, path, sizeof path));
  CHECK_INT_EQ(emi_opts_get_str(o, "output", &s), EMI_ERR_USAGE);
  snprintf(want, sizeof want, "neither the command line nor [emflow] or [simulate] or [ipf] in %s set it", path);
  CHECK(contains(emi_err_message(), "option --output is required") && contains(emi_err_message(), want));
  emi_err_clear();
  emi_opts_destroy(&o);
  CHECK_OK(emi_opts_create("simulate", specs, nspecs, &o)); /* no file: the plain message */
  CHECK_INT_EQ(emi_opts_get_str(o, "output", &s), EMI_ERR_USAGE);
  CHECK(contains(emi_err_message(), "option --output is required") && !strstr(emi_err_message(), "neither"));
  emi_err_clear();
  emi_opts_destroy(&o);

  /* An empty item in a list from a file (a,,b / a, / ,) is an error naming file:line (from a breaker:
   * empty items were dropped unsaid) */
  {
    static const char *const bad[] = {"[ipf]\nmargin = a.csv,,b.csv\n", "[ipf]\nmargin = a.csv,\n",
                                      "[ipf]\nmargin = ,\n"};
    for (int i = 0; i < 3; i++) {
      CHECK_INT_EQ(load(bad[i], &o, path, sizeof path), EMI_ERR_CONFIG);
      snprintf(want, sizeof want, "%s:2: [ipf] margin = ", path);
      CHECK(contains(emi_err_message(), want) && contains(emi_err_message(), "an empty item"));
      emi_err_clear();
      emi_opts_destroy(&o);
    }
  }

  /* A relative path in a file is relative to the file's directory; absolute paths stay. */
  CHECK_OK(load("[simulate]\noutput = sub/out.h5\n", &o, path, sizeof path));
  CHECK_OK(emi_opts_get_str(o, "output", &s));
  snprintf(want, sizeof want, "%s/sub/out.h5", tmpdir());
  CHECK_MSG(s && !strcmp(s, want), "output = '%s', expected '%s'", s ? s : "(null)", want);
  emi_opts_destroy(&o);
  CHECK_OK(load("[simulate]\noutput = /abs/out.h5\n", &o, path, sizeof path));
  CHECK_OK(emi_opts_get_str(o, "output", &s));
  CHECK(s && !strcmp(s, "/abs/out.h5"));
  emi_opts_destroy(&o);

  /* So is each relative item of a list of paths (ipf's `margin = rows.csv, cols.csv` read from another
   * directory could not open rows.csv); absolute items stay, and a list that is not of paths is as
   * written.  describe_item names the item as resolved, with file:line and the whole list. */
  {
    char d[1200], want2[600];
    CHECK_OK(load("[ipf]\nmargin = rows.csv, /abs/cols.csv,sub/x.csv\ncodes = rows.csv, AT\n", &o, path, sizeof path));
    CHECK_OK(emi_opts_get_list(o, "margin", &n, &items));
    CHECK_INT_EQ(n, 3);
    snprintf(want, sizeof want, "%s/rows.csv", tmpdir());
    snprintf(want2, sizeof want2, "%s/sub/x.csv", tmpdir());
    if (n == 3) {
      CHECK_MSG(!strcmp(items[0], want), "margin item 0 = '%s', expected '%s'", items[0], want);
      CHECK_MSG(!strcmp(items[1], "/abs/cols.csv"), "margin item 1 = '%s', expected '/abs/cols.csv'", items[1]);
      CHECK_MSG(!strcmp(items[2], want2), "margin item 2 = '%s', expected '%s'", items[2], want2);
    }
    CHECK_OK(emi_opts_get_list(o, "codes", &n, &items));
    CHECK_INT_EQ(n, 2);
    if (n == 2) CHECK(!strcmp(items[0], "rows.csv") && !strcmp(items[1], "AT"));
    emi_opts_describe_item(o, "margin", want, d, sizeof d);
    char whole[4096];
    snprintf(whole, sizeof whole, "%s:2: [ipf] margin = '%s,/abs/cols.csv,%s': item '%s'", path, want, want2, want);
    CHECK_MSG(!strcmp(d, whole), "describe_item (list of paths): '%s', expected '%s'", d, whole);
    emi_opts_describe(o, "margin", d, sizeof d);
    snprintf(whole, sizeof whole, "%s:2: [ipf] margin = '%s,/abs/cols.csv,%s'", path, want, want2);
    CHECK_MSG(!strcmp(d, whole), "describe (list of paths): '%s', expected '%s'", d, whole);
    /* from the command line an item is taken as given (relative to the working directory) */
    char *cli[] = {"emflow", "ipf", "--margin", "rows.csv"};
    const char *p2[2];
    int np2 = 0;
    CHECK_OK(emi_opts_parse_argv(o, 4, cli, 2, p2, 2, &np2));
    CHECK_OK(emi_opts_get_list(o, "margin", &n, &items));
    CHECK(n == 1 && !strcmp(items[0], "rows.csv"));
    emi_opts_destroy(&o);
  }

  /* The source of a file value is FILE:LINE. */
  CHECK_OK(load("[simulate]\n\nrule = 12/12\n", &o, path, sizeof path));
  snprintf(want, sizeof want, "%s:3", path);
  for (int k = 0; k < emi_opts_count(o); k++) {
    const char *nm, *val, *un, *src;
    emi_opts_row(o, k, &nm, &val, &un, &src);
    if (!strcmp(nm, "rule")) CHECK(!strcmp(val, "12/12") && !strcmp(src, want));
  }
  emi_opts_destroy(&o);

  /* Errors name file:line, the key, the value and what was expected. */
  CHECK_INT_EQ(load("[simulate]\nmonths = 12\nmonht = 3\n", &o, path, sizeof path), EMI_ERR_CONFIG);
  snprintf(want, sizeof want, "%s:3:", path);
  CHECK(contains(emi_err_message(), want) && contains(emi_err_message(), "unknown key 'monht'") &&
        contains(emi_err_message(), "months"));
  emi_opts_destroy(&o);

  CHECK_INT_EQ(load("[simulate]\nmonths = twelve\n", &o, path, sizeof path), EMI_ERR_CONFIG);
  snprintf(want, sizeof want, "%s:2:", path);
  CHECK(contains(emi_err_message(), want) && contains(emi_err_message(), "months = 'twelve'") &&
        contains(emi_err_message(), "an integer in [1, 1200]"));
  emi_opts_destroy(&o);

  CHECK_INT_EQ(load("[simulate]\nmonths = 0\n", &o, path, sizeof path), EMI_ERR_CONFIG); /* out of range */
  CHECK(contains(emi_err_message(), "'0'"));
  emi_opts_destroy(&o);

  CHECK_INT_EQ(load("[simulate]\nrate = nan\n", &o, path, sizeof path), EMI_ERR_CONFIG);
  CHECK(contains(emi_err_message(), "finite number"));
  emi_opts_destroy(&o);

  CHECK_INT_EQ(load("[simulate]\nrate = 0.5x\n", &o, path, sizeof path), EMI_ERR_CONFIG);
  emi_opts_destroy(&o);

  CHECK_INT_EQ(load("[simulate]\nstart = 2020-13\n", &o, path, sizeof path), EMI_ERR_CONFIG);
  CHECK(contains(emi_err_message(), "YYYY-MM"));
  emi_opts_destroy(&o);

  CHECK_INT_EQ(load("[simulate]\nrule = 12/15\n", &o, path, sizeof path), EMI_ERR_CONFIG);
  CHECK(contains(emi_err_message(), "one of {12/16,12/12}"));
  emi_opts_destroy(&o);

  CHECK_INT_EQ(load("[simulate]\nmonths = 12\nmonths = 13\n", &o, path, sizeof path), EMI_ERR_CONFIG);
  CHECK(contains(emi_err_message(), "set twice (first at line 2)"));
  emi_opts_destroy(&o);

  CHECK_INT_EQ(load("[simulte]\nmonths = 12\n", &o, path, sizeof path), EMI_ERR_CONFIG);
  CHECK(contains(emi_err_message(), "unknown section [simulte]"));
  emi_opts_destroy(&o);

  /* a key of another section is not accepted in this one */
  CHECK_INT_EQ(load("[emflow]\nmonths = 12\n", &o, path, sizeof path), EMI_ERR_CONFIG);
  CHECK(contains(emi_err_message(), "[emflow] unknown key 'months'"));
  emi_opts_destroy(&o);

  /* command-line-only options cannot come from a file */
  CHECK_INT_EQ(load("[emflow]\nconfig = x.ini\n", &o, path, sizeof path), EMI_ERR_CONFIG);
  emi_opts_destroy(&o);

  CHECK_INT_EQ(load("[simulate]\nthis line has no equals sign\n", &o, path, sizeof path), EMI_ERR_CONFIG);
  snprintf(want, sizeof want, "%s:2: syntax error", path);
  CHECK(contains(emi_err_message(), want));
  emi_opts_destroy(&o);

  /* lines up to 8189 characters (inih's buffer, set at run time: its default of 200 refused a list of
   * two absolute paths; from a breaker); a longer one is one error naming the line */
  {
    static char longline[9100];
    snprintf(longline, sizeof longline, "[simulate]\noutput = /%04000d\n", 7);
    CHECK_OK(load(longline, &o, path, sizeof path));
    CHECK_OK(emi_opts_get_str(o, "output", &s));
    CHECK(s && strlen(s) == 4001);
    emi_opts_destroy(&o);
    snprintf(longline, sizeof longline, "[simulate]\noutput = /%08200d\n", 7);
    CHECK_INT_EQ(load(longline, &o, path, sizeof path), EMI_ERR_CONFIG);
    snprintf(want, sizeof want, "%s:2: line is longer than 8189 characters", path);
    CHECK(contains(emi_err_message(), want));
    emi_opts_destroy(&o);
  }

  CHECK_OK(emi_opts_create("simulate", specs, nspecs, &o));
  CHECK_ERR(emi_opts_load_ini(o, "/nonexistent/dir/x.ini", "simulate", ""), EMI_ERR_IO);
  emi_opts_destroy(&o);

  /* what inih would take silently: indented lines, '[' without ']', NUL bytes, huge files */
  CHECK_INT_EQ(load("[simulate]\nmonths = 12\n  rate = 0.1\n", &o, path, sizeof path), EMI_ERR_CONFIG);
  snprintf(want, sizeof want, "%s:3: indented line", path);
  CHECK(contains(emi_err_message(), want));
  emi_opts_destroy(&o);
  CHECK_INT_EQ(load("[simulate\nmonths = 12\n", &o, path, sizeof path), EMI_ERR_CONFIG);
  snprintf(want, sizeof want, "%s:1: section header without ']'", path);
  CHECK(contains(emi_err_message(), want));
  emi_opts_destroy(&o);
  {
    snprintf(path, sizeof path, "%s/test_opts_nul.ini", tmpdir());
    FILE *f = fopen(path, "wb");
    fwrite("[simulate]\nmonths = 1\0 2\n", 1, 26, f);
    fclose(f);
    CHECK_OK(emi_opts_create("simulate", specs, nspecs, &o));
    CHECK_INT_EQ(emi_opts_load_ini(o, path, "simulate", ""), EMI_ERR_CONFIG);
    CHECK(contains(emi_err_message(), ":2: NUL byte"));
    emi_opts_destroy(&o);
    CHECK_OK(emi_opts_create("simulate", specs, nspecs, &o));
    CHECK_INT_EQ(emi_opts_load_ini(o, "/dev/zero", "simulate", ""), EMI_ERR_CONFIG); /* must not hang */
    emi_opts_destroy(&o);
  }
  /* a long first line is reported as line 1 */
  {
    static char big[8300];
    memset(big, 'x', sizeof big - 2);
    big[sizeof big - 2] = '\n';
    big[sizeof big - 1] = '\0';
    CHECK_INT_EQ(load(big, &o, path, sizeof path), EMI_ERR_CONFIG);
    snprintf(want, sizeof want, "%s:1: line is longer", path);
    CHECK(contains(emi_err_message(), want));
    emi_opts_destroy(&o);
  }

  /* a single-valued option given twice on the command line */
  CHECK_OK(emi_opts_create("simulate", specs, nspecs, &o));
  char *twice[] = {"emflow", "simulate", "--months", "3", "--months", "4"};
  CHECK_INT_EQ(emi_opts_parse_argv(o, 6, twice, 2, pos, 4, &npos), EMI_ERR_USAGE);
  CHECK(contains(emi_err_message(), "--months is given twice"));
  emi_opts_destroy(&o);

  /* Command-line errors are usage errors naming the option and the value. */
  CHECK_OK(emi_opts_create("simulate", specs, nspecs, &o));
  char *bad1[] = {"emflow", "simulate", "--bogus"};
  CHECK_INT_EQ(emi_opts_parse_argv(o, 3, bad1, 2, pos, 4, &npos), EMI_ERR_USAGE);
  CHECK(contains(emi_err_message(), "unknown option '--bogus'"));
  char *bad2[] = {"emflow", "simulate", "--months"};
  CHECK_INT_EQ(emi_opts_parse_argv(o, 3, bad2, 2, pos, 4, &npos), EMI_ERR_USAGE);
  CHECK(contains(emi_err_message(), "needs a value"));
  char *bad3[] = {"emflow", "simulate", "--rate", "2"};
  CHECK_INT_EQ(emi_opts_parse_argv(o, 4, bad3, 2, pos, 4, &npos), EMI_ERR_USAGE);
  CHECK(contains(emi_err_message(), "--rate '2'") && contains(emi_err_message(), "[0, 1]") &&
        contains(emi_err_message(), "1/day"));
  char *bad4[] = {"emflow", "simulate", "-x"};
  CHECK_INT_EQ(emi_opts_parse_argv(o, 3, bad4, 2, pos, 4, &npos), EMI_ERR_USAGE);
  char *bad5[] = {"emflow", "simulate", "a", "b", "c"};
  CHECK_INT_EQ(emi_opts_parse_argv(o, 5, bad5, 2, pos, 2, &npos), EMI_ERR_USAGE);
  char *bad6[] = {"emflow", "simulate", "--no-months"};
  CHECK_INT_EQ(emi_opts_parse_argv(o, 3, bad6, 2, pos, 4, &npos), EMI_ERR_USAGE);
  emi_opts_destroy(&o);

  /* one-letter alias */
  CHECK_OK(emi_opts_create("simulate", specs, nspecs, &o));
  char *alias[] = {"emflow", "simulate", "-o", "out.h5"};
  CHECK_OK(emi_opts_parse_argv(o, 4, alias, 2, pos, 4, &npos));
  CHECK_OK(emi_opts_get_str(o, "output", &s));
  CHECK(s && !strcmp(s, "out.h5"));
  char *alias_bad[] = {"emflow", "simulate", "-q"};
  CHECK_INT_EQ(emi_opts_parse_argv(o, 3, alias_bad, 2, pos, 4, &npos), EMI_ERR_USAGE);
  emi_opts_destroy(&o);

  /* Integer bounds are compared as integers: 2^53 + 1 rounds to 2^53 as a double, and must still
   * be refused by a bound of 2^53 (a seed above it would not survive a double attribute). */
  {
    static const emi_opt_spec_t big_specs[] = {
      {"seed", "x", EMI_OPT_INT, "1", "", "seed", 0, 9007199254740992.0, NULL},
    };
    emi_opts_t *ob = NULL;
    CHECK_OK(emi_opts_create("x", big_specs, 1, &ob));
    char *ok_argv[] = {"emflow", "x", "--seed", "9007199254740992"};
    char *big_argv[] = {"emflow", "x", "--seed", "9007199254740993"};
    CHECK_OK(emi_opts_parse_argv(ob, 4, ok_argv, 2, pos, 4, &npos));
    CHECK_OK(emi_opts_get_int(ob, "seed", &i64));
    CHECK(i64 == 9007199254740992LL);
    emi_opts_destroy(&ob);
    CHECK_OK(emi_opts_create("x", big_specs, 1, &ob));
    CHECK_INT_EQ(emi_opts_parse_argv(ob, 4, big_argv, 2, pos, 4, &npos), EMI_ERR_USAGE);
    CHECK(contains(emi_err_message(), "an integer in [0, 9007199254740992]"));
    emi_err_clear();
    emi_opts_destroy(&ob);
  }

  /* empty_ok: "" is a value of its own for such a STRING option (reconcile/estimate `filter`, "empty:
   * all rows"), from the command line and from a file, overriding a non-empty default; a STRING
   * option without it still refuses "" (a forgotten value). Was: refused for every STRING. */
  {
    static const emi_opt_spec_t e_specs[] = {
      {"filter", "x", EMI_OPT_STRING, "SEX=Total", "", "filter", 0, 0, NULL, 0, 1},
      {"name", "x", EMI_OPT_STRING, "a", "", "name", 0, 0, NULL},
    };
    emi_opts_t *oe = NULL;
    char *empty_argv[] = {"emflow", "x", "--filter", ""};
    char *empty_eq_argv[] = {"emflow", "x", "--filter="};
    char *name_argv[] = {"emflow", "x", "--name", ""};
    CHECK_OK(emi_opts_create("x", e_specs, 2, &oe));
    CHECK_OK(emi_opts_parse_argv(oe, 4, empty_argv, 2, pos, 4, &npos));
    CHECK_OK(emi_opts_get_str(oe, "filter", &s));
    CHECK_MSG(s && !strcmp(s, ""), "--filter '': got '%s'", s ? s : "(null)");
    emi_opts_destroy(&oe);
    CHECK_OK(emi_opts_create("x", e_specs, 2, &oe));
    CHECK_OK(emi_opts_parse_argv(oe, 3, empty_eq_argv, 2, pos, 4, &npos));
    CHECK_OK(emi_opts_get_str(oe, "filter", &s));
    CHECK(s && !strcmp(s, ""));
    CHECK_INT_EQ(emi_opts_parse_argv(oe, 4, name_argv, 2, pos, 4, &npos), EMI_ERR_USAGE);
    CHECK(contains(emi_err_message(), "--name '': expected a non-empty value"));
    emi_err_clear();
    emi_opts_destroy(&oe);
    snprintf(path, sizeof path, "%s/test_opts_empty.ini", tmpdir());
    write_file(path, "[x]\nfilter =\n");
    CHECK_OK(emi_opts_create("x", e_specs, 2, &oe));
    CHECK_OK(emi_opts_load_ini(oe, path, "x", ""));
    CHECK_OK(emi_opts_get_str(oe, "filter", &s));
    CHECK_MSG(s && !strcmp(s, ""), "filter = (file): got '%s'", s ? s : "(null)");
    emi_opts_destroy(&oe);
    write_file(path, "[x]\nname =\n");
    CHECK_OK(emi_opts_create("x", e_specs, 2, &oe));
    CHECK_INT_EQ(emi_opts_load_ini(oe, path, "x", ""), EMI_ERR_CONFIG);
    CHECK(contains(emi_err_message(), ":2: [x] name = '': expected a non-empty value"));
    emi_err_clear();
    emi_opts_destroy(&oe);
  }

  /* A bad default in a table is a bug, caught at creation. */
  static const emi_opt_spec_t bad_specs[] = {
    {"n", "x", EMI_OPT_INT, "abc", "", "n", 0, 0, NULL},
  };
  CHECK_ERR(emi_opts_create("x", bad_specs, 1, &o), EMI_ERR_INTERNAL);
  CHECK(o == NULL);

  /* parse helpers */
  CHECK(emi_parse_int64("-42", &i64) && i64 == -42);
  CHECK(!emi_parse_int64("42 ", &i64) && !emi_parse_int64("", &i64) && !emi_parse_int64("99999999999999999999", &i64));
  CHECK(emi_parse_real("1e-3", &r) && r == 1e-3);
  CHECK(!emi_parse_real("inf", &r) && !emi_parse_real("1e999", &r));
  CHECK(!emi_parse_real("1e-400", &r) && !emi_parse_real("0x1p-30", &r)); /* underflow, hex */
  CHECK(emi_parse_month("2022-08", &month) && month == 2022 * 12 + 7);
  CHECK(!emi_parse_month("2022-8", &month) && !emi_parse_month("2022-00", &month));

  /* help text lists every option with its default, units and config key */
  FILE *h = tmpfile();
  emi_opts_print_help(specs, nspecs, h);
  rewind(h);
  char help[8192];
  size_t len = fread(help, 1, sizeof help - 1, h);
  help[len] = '\0';
  fclose(h);
  for (int k = 0; k < nspecs; k++) CHECK(contains(help, specs[k].name));
  CHECK(contains(help, "default 36") && contains(help, "[months]") && contains(help, "config [simulate] months"));

  /* integer bounds print as integers, as the errors print them (help said [1, 1e+09], an error
   * [1, 1000000000]); real bounds stay in %g */
  {
    static const emi_opt_spec_t r_specs[] = {
      {"max-iter", "x", EMI_OPT_INT, "1000", "sweeps", "cap", 1, 1e9, NULL},
      {"seed", "x", EMI_OPT_INT, "1", "", "seed", 0, 9007199254740992.0, NULL},
      {"tol-abs", "x", EMI_OPT_REAL, "0", "", "tolerance", 0, 1e300, NULL},
    };
    h = tmpfile();
    emi_opts_print_help(r_specs, 3, h);
    rewind(h);
    len = fread(help, 1, sizeof help - 1, h);
    help[len] = '\0';
    fclose(h);
    CHECK(contains(help, "range [1, 1000000000]") && contains(help, "range [0, 9007199254740992]") &&
          contains(help, "range [0, 1e+300]"));
    emi_opts_t *oi = NULL;
    char *big[] = {"emflow", "x", "--max-iter", "1000000001"};
    CHECK_OK(emi_opts_create("x", r_specs, 3, &oi));
    CHECK_INT_EQ(emi_opts_parse_argv(oi, 4, big, 2, pos, 4, &npos), EMI_ERR_USAGE);
    CHECK(contains(emi_err_message(), "an integer in [1, 1000000000]"));
    emi_err_clear();
    emi_opts_destroy(&oi);
  }

  return emi_test_report("test_opts");
}
