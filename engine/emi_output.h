/* emi_output.h: opening and finishing a command's HDF5 output the same way everywhere.
 *
 *   emi_h5_file_t *f = NULL;
 *   emi_provenance_t *prov = NULL;
 *   EMI_TRY(emi_output_begin(ctx, path, &f, &prov));    // OUT.part created, provenance collected
 *   EMI_TRY(emi_provenance_add_input(prov, input));      // as inputs are read
 *   ... write groups ...
 *   EMI_TRY(emi_output_finish(ctx, &f, prov));          // provenance + /config, then rename
 * cleanup:
 *   emi_h5_file_abort(&f);                               // no-op after finish
 *   emi_provenance_destroy(&prov);
 *
 * /config holds the resolved options table of the command (`options`: name, value, units, source)
 * and, when a config file was given, its text (attribute `ini_text`) and path.
 */
#ifndef EMI_OUTPUT_H
#define EMI_OUTPUT_H

#include "emi_cli.h"
#include "emi_h5.h"
#include "emi_provenance.h"

emi_err_t emi_output_begin(emi_ctx_t *ctx, const char *path, emi_h5_file_t **f, emi_provenance_t **prov);
emi_err_t emi_output_finish(emi_ctx_t *ctx, emi_h5_file_t **f, emi_provenance_t *prov);

/* Before computing: can `path` be created?  Its directory must exist and be writable, and `path`
 * must not be a directory.  EMI_ERR_IO "cannot create PATH: reason" otherwise.  Local. */
emi_err_t emi_output_check_path(const char *path);

/* `path` must not be the same file as the input `input` (an output would overwrite it).  Local. */
emi_err_t emi_output_check_not_input(const char *path, const char *input);

/* Nor the config file `config` (NULL: none).  Local. */
emi_err_t emi_output_check_not_config(const char *path, const char *config);

/* Collective.  Before any work: every output (NULL entries skipped) can be created (emi_output_check_path),
 * no two outputs are the same file, and no output is one of the inputs or the --config file.  Errors
 * name the options' values; every rank returns the same code. */
emi_err_t emi_output_check_paths(emi_ctx_t *ctx, const char *const *outs, int nout, const char *const *ins, int nin);

/* Read a whole (small) text file into a NUL-terminated buffer the caller frees. */
emi_err_t emi_read_text_file(const char *path, size_t max_bytes, char **text, size_t *len);

/* Why `path` cannot be opened for reading, in the operating system's words (strerror of fopen), or
 * NULL when it opens: for the message after a library (HDF5, MPI-IO) failed to open an input and
 * did not say why. */
const char *emi_input_open_error(const char *path);

/* A temporary output NAME.part to remove if the process is stopped by SIGINT, SIGTERM or SIGHUP
 * (emi_output_signals, installed once by main); unregistered once renamed or removed.  Local. */
void emi_part_register(const char *part);
void emi_part_unregister(const char *part);
void emi_output_signals(void);

#endif /* EMI_OUTPUT_H */
