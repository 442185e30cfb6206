/* emi_cli.h: the command table behind `emflow <command> [options]`.
 *
 * Each command is one row: name, synopsis, its options table, the config sections it owns and
 * the function that runs it.  main() parses, loads the config, sets up logging and MPI, and
 * calls run(); a command never exits and reports errors through emi_err_t.
 */
#ifndef EMI_CLI_H
#define EMI_CLI_H

#include <mpi.h>

#include "emi_err.h"
#include "emi_opts.h"

typedef struct {
  MPI_Comm comm;
  int rank, size;
  int argc;
  char **argv;
  emi_opts_t *opts;
  const char *pos[8]; /* positional arguments */
  int npos;
  const char *config_path; /* NULL when no --config */
} emi_ctx_t;

typedef struct {
  const char *name;
  const char *synopsis; /* positional part of the usage line, e.g. "OUT.h5 -o DIR" */
  const char *summary;  /* one line */
  const emi_opt_spec_t *specs;
  const int *nspecs;    /* pointer: tables live in the command's own file */
  const char *sections; /* config sections this command reads, comma-separated ("emflow" is implied) */
  int min_pos, max_pos;
  int needs_mpi;        /* 0: runs before MPI_Init (help, version) */
  emi_err_t (*run)(emi_ctx_t *ctx);
} emi_command_t;

/* Options every command takes; commands start their table with EMI_OPTS_COMMON. */
#define EMI_OPTS_COMMON                                                                                   \
  {"config", NULL, EMI_OPT_PATH, NULL, "", "INI configuration file; command-line options override it",     \
   0, 0, NULL},                                                                                            \
  {"log-level", "emflow", EMI_OPT_CHOICE, "info", "", "most verbose log level shown", 0, 0,                \
   "error,warn,info,debug"},                                                                               \
  {"progress", "emflow", EMI_OPT_FLAG, "false", "",                                                        \
   "print progress lines even when stderr is not a terminal", 0, 0, NULL},                                 \
  {"help", NULL, EMI_OPT_FLAG, "false", "", "print this help and exit", 0, 0, NULL, 'h'}

/* The table of all commands (emi_commands.c). */
extern const emi_command_t emi_commands[];
extern const int emi_ncommands;

const emi_command_t *emi_command_find(const char *name);
/* All config sections any command owns, comma-separated (for rejecting unknown sections). */
const char *emi_known_sections(void);

/* Parse argv (argv[1] is the command) and the --config file into ctx->opts for cmd: defaults, then
 * the file's sections of the command, then the command line.  Sets ctx->pos/npos and config_path;
 * *want_help when --help was given.  Usage errors are EMI_ERR_USAGE.  Used by main() and by
 * `emflow run` for each stage. */
emi_err_t emi_cli_setup_options(const emi_command_t *cmd, int argc, char **argv, emi_ctx_t *ctx, int *want_help);

void emi_cli_print_usage(FILE *out);
void emi_cli_print_command_help(const emi_command_t *cmd, FILE *out);

/* Agree on an error across the communicator: every rank returns the code of the lowest rank
 * that failed (EMI_SUCCESS if none), and that rank's message is the one main() prints. */
emi_err_t emi_mpi_agree(MPI_Comm comm, emi_err_t err, int *failing_rank);

#endif /* EMI_CLI_H */
