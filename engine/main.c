/* main.c: `emflow <command> [options]`.
 *
 * The only place that decides to exit.  Order: find the command (help and version run without
 * MPI), build its options table, read --config, apply the command line over it, set up MPI and
 * logging, run, agree on the outcome across ranks, and print one error message from the rank
 * that failed first.  Exit status: 0 success, 2 usage error, others from emi_err_exit_status().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "emi_cli.h"
#include "emi_log.h"
#include "emi_output.h"

static int report(emi_err_t err, int verbose)
{
  fprintf(stderr, "emflow: error: %s\n", emi_err_message()[0] ? emi_err_message() : emi_strerror(err));
  if (verbose) {
    char tb[2048];
    fprintf(stderr, "%s", emi_err_traceback(tb, sizeof tb));
  }
  if (err == EMI_ERR_USAGE) fprintf(stderr, "usage: emflow <command> [options]; see 'emflow help'\n");
  return emi_err_exit_status(err);
}

int main(int argc, char **argv)
{
  if (argc < 2) {
    emi_cli_print_usage(stderr);
    return 2;
  }
  const char *name = argv[1];
  if (!strcmp(name, "--version") || !strcmp(name, "-V")) name = "version";
  if (!strcmp(name, "--help") || !strcmp(name, "-h")) name = "help";
  const emi_command_t *cmd = emi_command_find(name);
  if (!cmd) {
    if (name[0] == '-') EMI_ERROR(EMI_ERR_USAGE, "unknown option '%s' before the command", name);
    else EMI_ERROR(EMI_ERR_USAGE, "unknown command '%s'", name);
    return report(EMI_ERR_USAGE, 0);
  }

  emi_ctx_t ctx = {.comm = MPI_COMM_NULL, .rank = 0, .size = 1, .argc = argc, .argv = argv};
  int want_help = 0, verbose = 0, mpi_up = 0, failing = 0;
  emi_err_t err = emi_cli_setup_options(cmd, argc, argv, &ctx, &want_help);

  if (!cmd->needs_mpi || want_help) {
    if (!err && want_help) emi_cli_print_command_help(cmd, stdout);
    else if (!err) err = cmd->run(&ctx);
    int status = err ? report(err, 0) : 0;
    emi_opts_destroy(&ctx.opts);
    return status;
  }

  /* MPI commands: every rank parsed the same argv and config, so all agree on usage errors.
   * A singleton (started without a launcher: no mpiexec or srun environment) talks to no other process.
   * It starts isolated (OMPI_MCA_ess_singleton_isolated: no runtime daemon is forked, no session
   * directory), uses Open MPI's ob1 messaging layer with the self and shared-memory transports instead
   * of probing UCX's network transports, and ROMIO for MPI-IO (OMPI_MCA_io=romio321).  ROMIO because
   * Open MPI's own MPI-IO (ompio) opens a shared-file-pointer component with every file, whose
   * shared-memory variant relies on the session directory an isolated singleton lacks: with ompio,
   * H5Fcreate of a checkpoint failed now and then under a parallel ctest (estimate_nz, when the
   * singleton was first made isolated without ROMIO).  HDF5 uses no shared file pointer, and ROMIO
   * creates none unless one is used.
   * Measured here: MPI_Init + MPI_Finalize 0.32 -> 0.12 s (loaded machine), the same output (h5diff).
   * Set only when the user has not chosen (setenv without overwrite); under mpiexec or srun nothing is
   * changed. */
  if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMIX_RANK") && !getenv("PMI_RANK") && !getenv("PMI_SIZE") &&
      !getenv("SLURM_PROCID")) {
    setenv("OMPI_MCA_ess_singleton_isolated", "1", 0);
    setenv("OMPI_MCA_io", "romio321", 0);
    setenv("OMPI_MCA_pml", "ob1", 0);
    setenv("OMPI_MCA_btl", "self,vader", 0);
  }
  int provided = 0;
  if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
    fprintf(stderr, "emflow: error: MPI_Init_thread failed\n");
    emi_opts_destroy(&ctx.opts);
    return emi_err_exit_status(EMI_ERR_MPI);
  }
  mpi_up = 1;
  emi_output_signals(); /* after MPI_Init, which may install its own handlers */
  ctx.comm = MPI_COMM_WORLD;
  MPI_Comm_set_errhandler(ctx.comm, MPI_ERRORS_RETURN);
  MPI_Comm_rank(ctx.comm, &ctx.rank);
  MPI_Comm_size(ctx.comm, &ctx.size);

  if (!err) {
    const char *level_text = "info";
    int progress = 0;
    emi_log_level_t level = EMI_LOG_INFO;
    err = emi_opts_get_str(ctx.opts, "log-level", &level_text);
    if (!err) err = emi_opts_get_flag(ctx.opts, "progress", &progress);
    if (!err) {
      emi_log_level_parse(level_text, &level);
      verbose = level >= EMI_LOG_DEBUG;
      emi_log_setup(ctx.rank, level, progress ? 1 : 0);
      emi_log_debug("emflow %s: %d rank(s) x %d OpenMP thread(s)", cmd->name, ctx.size, omp_get_max_threads());
      if (provided < MPI_THREAD_FUNNELED) emi_log_warn("MPI provides thread level %d < FUNNELED", provided);
      err = cmd->run(&ctx);
    }
  }
  /* Usage and config errors happen identically on every rank; print them once. */
  err = emi_mpi_agree(ctx.comm, err, &failing);
  int status = 0;
  if (err) {
    if (ctx.rank == failing) status = report(err, verbose);
    else status = emi_err_exit_status(err);
  }
  emi_opts_destroy(&ctx.opts);
  if (mpi_up) MPI_Finalize();
  return status;
}
