/* emi_commands.h: the commands' run functions and options tables (one file per command). */
#ifndef EMI_COMMANDS_H
#define EMI_COMMANDS_H

#include "emi_cli.h"

extern const emi_opt_spec_t emi_ipf_specs[];
extern const int emi_ipf_nspecs;
emi_err_t emi_cmd_ipf(emi_ctx_t *ctx);

extern const emi_opt_spec_t emi_reconcile_specs[];
extern const int emi_reconcile_nspecs;
emi_err_t emi_cmd_reconcile(emi_ctx_t *ctx);

extern const emi_opt_spec_t emi_simulate_specs[];
extern const int emi_simulate_nspecs;
emi_err_t emi_cmd_simulate(emi_ctx_t *ctx);

extern const emi_opt_spec_t emi_convert_specs[];
extern const int emi_convert_nspecs;
emi_err_t emi_cmd_convert(emi_ctx_t *ctx);

extern const emi_opt_spec_t emi_classify_specs[];
extern const int emi_classify_nspecs;
emi_err_t emi_cmd_classify(emi_ctx_t *ctx);

extern const emi_opt_spec_t emi_export_specs[];
extern const int emi_export_nspecs;
emi_err_t emi_cmd_export(emi_ctx_t *ctx);

extern const emi_opt_spec_t emi_estimate_specs[];
extern const int emi_estimate_nspecs;
emi_err_t emi_cmd_estimate(emi_ctx_t *ctx);

extern const emi_opt_spec_t emi_forecast_specs[];
extern const int emi_forecast_nspecs;
emi_err_t emi_cmd_forecast(emi_ctx_t *ctx);

extern const emi_opt_spec_t emi_run_specs[];
extern const int emi_run_nspecs;
emi_err_t emi_cmd_run(emi_ctx_t *ctx);

extern const emi_opt_spec_t emi_report_specs[];
extern const int emi_report_nspecs;
emi_err_t emi_cmd_report(emi_ctx_t *ctx);

#endif /* EMI_COMMANDS_H */
