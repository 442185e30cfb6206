/* emi_commands.c: the table of emflow commands, and the help and version commands. */
#include <stdio.h>
#include <string.h>

#include "emi_cli.h"
#include "emi_commands.h"
#include "emi_version.h"

static emi_err_t cmd_help(emi_ctx_t *ctx);
static emi_err_t cmd_version(emi_ctx_t *ctx);

static const emi_opt_spec_t help_specs[] = {
  {"help", NULL, EMI_OPT_FLAG, "false", "", "print this help and exit", 0, 0, NULL, 'h'},
};
static const emi_opt_spec_t version_specs[] = {
  {"help", NULL, EMI_OPT_FLAG, "false", "", "print this help and exit", 0, 0, NULL, 'h'},
};
static const int one_spec = 1;

const emi_command_t emi_commands[] = {
  {"help", "[COMMAND]", "show the commands, or one command's options", help_specs, &one_spec, "", 0, 1, 0, cmd_help},
  {"version", "", "print the version (same as --version)", version_specs, &one_spec, "", 0, 0, 0, cmd_version},
  {"ipf", "", "fit a seed table to margins by IPF/RAS (long CSV in, long CSV or HDF5 out)", emi_ipf_specs, &emi_ipf_nspecs, "ipf",
   0, 0, 1, emi_cmd_ipf},
  {"reconcile", "", "make border, mirror and declared emigration coherent (GLS), spread undeclared emigration (IPF); "
   "--model double-entry: balance the two reports of every corridor of a double-entry file (GLS)",
   emi_reconcile_specs, &emi_reconcile_nspecs, "reconcile", 0, 0, 1, emi_cmd_reconcile},
  {"simulate", "", "synthetic border crossings with their ground truth (12/16 rule, declarations, faults)",
   emi_simulate_specs, &emi_simulate_nspecs, "simulate", 0, 0, 1, emi_cmd_simulate},
  {"convert", "IN.csv", "crossings CSV -> HDF5 compound form (/crossings), every field validated, rejects counted",
   emi_convert_specs, &emi_convert_nspecs, "convert", 1, 1, 1, emi_cmd_convert},
  {"classify", "IN.csv|IN.h5", "link crossings by person, repair sequences, 12/16 rule -> migrant departures, arrivals, undeclared",
   emi_classify_specs, &emi_classify_nspecs, "classify", 1, 1, 1, emi_cmd_classify},
  {"estimate", "", "Bayesian measurement model of migration flows (IMEM-style), parallel MCMC -> true flows, undeclared emigration",
   emi_estimate_specs, &emi_estimate_nspecs, "estimate", 0, 0, 1, emi_cmd_estimate},
  {"forecast", "", "Monte Carlo scenario forecasts from the posterior of emflow estimate (exact quantiles, any rank count)",
   emi_forecast_specs, &emi_forecast_nspecs, "forecast", 0, 0, 1, emi_cmd_forecast},
  {"report", "FILE.h5 [FILE2.h5 ...] -o DIR", "HTML monitoring report (fan charts, estimates vs reports, data quality, "
   "provenance) of emflow outputs", emi_report_specs, &emi_report_nspecs, "report", 1, 8, 1, emi_cmd_report},
  {"run", "CONFIG", "the main job: the stages a config names (simulate, classify, reconcile, estimate, forecast, "
   "report) into one HDF5 file; --resume finishes a killed run", emi_run_specs, &emi_run_nspecs, "run", 1, 1, 1,
   emi_cmd_run},
  {"export", "FILE DATASET", "print a labelled dataset of an emflow HDF5 file as a long CSV (one column per dimension, "
   "then value)", emi_export_specs, &emi_export_nspecs, "export", 2, 2, 0, emi_cmd_export},
};
const int emi_ncommands = (int)(sizeof emi_commands / sizeof emi_commands[0]);

const emi_command_t *emi_command_find(const char *name)
{
  for (int k = 0; k < emi_ncommands; k++)
    if (!strcmp(emi_commands[k].name, name)) return &emi_commands[k];
  return NULL;
}

const char *emi_known_sections(void)
{
  static char buf[1024];
  if (buf[0]) return buf;
  size_t used = 0;
  used += (size_t)snprintf(buf, sizeof buf, "emflow");
  for (int k = 0; k < emi_ncommands; k++) {
    const char *s = emi_commands[k].sections;
    if (s && *s && used < sizeof buf) used += (size_t)snprintf(buf + used, sizeof buf - used, ",%s", s);
  }
  return buf;
}

void emi_cli_print_usage(FILE *out)
{
  fprintf(out,
          "emflow %s: undeclared emigration from border-crossing records\n\n"
          "usage: emflow <command> [options]\n"
          "       mpiexec -n N emflow <command> [options]   (OMP_NUM_THREADS sets threads per rank)\n"
          "       emflow --version | emflow help [command]\n\ncommands:\n",
          EMI_VERSION_STRING);
  for (int k = 0; k < emi_ncommands; k++)
    fprintf(out, "  %-12s %s\n", emi_commands[k].name, emi_commands[k].summary);
  fprintf(out, "\n'emflow help <command>' lists a command's options and their config keys.\n");
}

void emi_cli_print_command_help(const emi_command_t *cmd, FILE *out)
{
  fprintf(out, "usage: emflow %s [options]%s%s\n\n%s\n\noptions:\n", cmd->name, cmd->synopsis[0] ? " " : "",
          cmd->synopsis, cmd->summary);
  emi_opts_print_help(cmd->specs, *cmd->nspecs, out);
}

static emi_err_t cmd_help(emi_ctx_t *ctx)
{
  if (ctx->npos == 0) {
    emi_cli_print_usage(stdout);
    return EMI_SUCCESS;
  }
  const emi_command_t *cmd = emi_command_find(ctx->pos[0]);
  if (!cmd) return EMI_ERROR(EMI_ERR_USAGE, "help: unknown command '%s' (see 'emflow help')", ctx->pos[0]);
  emi_cli_print_command_help(cmd, stdout);
  return EMI_SUCCESS;
}

static emi_err_t cmd_version(emi_ctx_t *ctx)
{
  (void)ctx;
  printf("emflow %s\n", EMI_VERSION_STRING);
  return EMI_SUCCESS;
}

/* Parse argv and the config into ctx->opts for `cmd`.  Usage errors come back as EMI_ERR_USAGE. */
emi_err_t emi_cli_setup_options(const emi_command_t *cmd, int argc, char **argv, emi_ctx_t *ctx, int *want_help)
{
  emi_err_t err = EMI_SUCCESS;
  emi_opts_t *cli = NULL;
  const char *path = NULL;
  *want_help = 0;

  /* First pass on the command line alone, to learn --config and --help. */
  EMI_TRY(emi_opts_create(cmd->name, cmd->specs, *cmd->nspecs, &cli));
  EMI_TRY(emi_opts_parse_argv(cli, argc, argv, 2, ctx->pos, 8, &ctx->npos));
  EMI_TRY(emi_opts_get_flag(cli, "help", want_help));
  if (*want_help) goto cleanup;
  if (ctx->npos > 0 && cmd->max_pos == 0)
    EMI_FAIL(EMI_ERR_USAGE, "%s: unexpected argument '%s': this command takes no positional arguments (a flag is "
             "--NAME or --no-NAME; other options take a value: --NAME VALUE)", cmd->name, ctx->pos[0]);
  if (ctx->npos < cmd->min_pos || ctx->npos > cmd->max_pos) {
    char count[64]; /* "1 argument", "2 arguments", "1 to 8 arguments" */
    if (cmd->min_pos == cmd->max_pos)
      snprintf(count, sizeof count, "%d argument%s", cmd->min_pos, cmd->min_pos == 1 ? "" : "s");
    else snprintf(count, sizeof count, "%d to %d arguments", cmd->min_pos, cmd->max_pos);
    EMI_FAIL(EMI_ERR_USAGE, "%s: expected %s (%s), got %d", cmd->name, count,
             cmd->synopsis[0] ? cmd->synopsis : "none", ctx->npos);
  }

  /* Second pass: defaults, then the file, then the command line over it. */
  EMI_TRY(emi_opts_create(cmd->name, cmd->specs, *cmd->nspecs, &ctx->opts));
  if (emi_opts_is_set(cli, "config")) {
    EMI_TRY(emi_opts_get_str(cli, "config", &path));
    char own[512];
    snprintf(own, sizeof own, "emflow%s%s", cmd->sections && *cmd->sections ? "," : "",
             cmd->sections ? cmd->sections : "");
    EMI_TRY(emi_opts_load_ini(ctx->opts, path, own, emi_known_sections()));
  }
  EMI_TRY(emi_opts_parse_argv(ctx->opts, argc, argv, 2, ctx->pos, 8, &ctx->npos));
  if (emi_opts_is_set(ctx->opts, "config")) EMI_TRY(emi_opts_get_str(ctx->opts, "config", &ctx->config_path));
cleanup:
  emi_opts_destroy(&cli);
  return err;
}
