# xarray reads every group of every stage's output, labelled (tests/mpi/xarray_groups.py: the file's
# scales attached to each axis become the coordinates of the xarray Dataset of the group; values
# equal h5py's).  Skipped without python3-xarray / python3-h5netcdf.  The bundled jobs' outputs
# (emflow run) are checked by run_xarray_groups (run.cmake).  Not checked: the crossings file
# (/crossings/records), a record table of personal data read by classify, not a labelled array.
#
#   xarray_groups_stages   simulate (truth), reconcile, estimate (both models), forecast (with stored
#                          trajectories) at one rank
if(PYTHON3_SYSTEM)
  add_test(NAME xarray_groups_stages
           COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/xarray_groups.py
                   ${EMI_SIM_OUT}/np1/truth.h5 ${EMI_REC_OUT}/np1/reconcile.h5 ${EMI_EST_OUT}/np1/est.h5
                   ${EMI_EB_OUT}/np1/out.h5 ${EMI_FC_OUT}/np1/fc.h5)
  set_tests_properties(xarray_groups_stages PROPERTIES LABELS mpi TIMEOUT 120 SKIP_RETURN_CODE 77
                       FIXTURES_REQUIRED "simulate_np1;reconcile_np1;estimate_np1;estimate_border_np1;forecast_np1")
endif()
