# emflow export (issue 4): a labelled dataset of an emflow HDF5 file as a long CSV, compared with h5py on a
# classify output (int64 month x citizenship x sex x age_group, 1-D by reason) and a reconcile output
# (float period x citizen x destination), on a file made with h5py (no scales, numeric scale, repeated
# scale, quoting, scalar), and its errors (export_check.py).
if(PYTHON3_SYSTEM)
  add_test(NAME export_check COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/export_check.py
           $<TARGET_FILE:emflow> ${MPIEXEC_EXECUTABLE} ${CMAKE_CURRENT_BINARY_DIR}/export_out
           ${CMAKE_CURRENT_BINARY_DIR}/classify_out/np1/out.h5:/linkage/migrant_departures
           ${CMAKE_CURRENT_BINARY_DIR}/classify_out/np1/out.h5:/undeclared/departures
           ${CMAKE_CURRENT_BINARY_DIR}/classify_out/np1/out.h5:/linkage/rejects
           ${CMAKE_CURRENT_BINARY_DIR}/classify_out/np1/out.h5:/linkage/provisional
           ${CMAKE_CURRENT_BINARY_DIR}/reconcile_out/np1/reconcile.h5:/reconciliation/undeclared
           ${CMAKE_CURRENT_BINARY_DIR}/reconcile_out/np1/reconcile.h5:/reconciliation/border_sd
           ${CMAKE_CURRENT_BINARY_DIR}/reconcile_out/np1/reconcile.h5:/reconciliation/gls_max_residual)
  set_tests_properties(export_check PROPERTIES LABELS mpi TIMEOUT 180 FIXTURES_REQUIRED "classify_np1;reconcile_np1"
                       ENVIRONMENT "${EMI_MPI_TEST_ENV}")
endif()
