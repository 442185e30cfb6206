# emflow report (issue 7): the HTML monitoring report, opened in headless Chromium (tests/mpi/report_check.py).
#   report_np2, report_check            the border-model estimate and its forecast (estimate_border, forecast),
#                                       a classify output and the double-entry estimate (estimate) in one report,
#                                       run on 2 ranks (rank 0 works); in Chromium every <img> loads
#                                       (naturalWidth > 0), the page has no external URL, and every table cell
#                                       equals the HDF5 value its data-src names (h5py), exactly
#   report_publish, report_publish_check  the same with --publish: every table of counts went through
#                                       `emflow export --publish` (the CSV is what a rerun of the export
#                                       writes, its label says partner_safe), every published cell is a
#                                       multiple of 3 within 2 of the true count or S below the threshold,
#                                       and no unprotected table is labelled partner-safe
#   report_nz                           the real Stats NZ series: estimate (inputs/nz.ini), forecast 2017-2026,
#                                       report, Chromium check
#   report_bad_input                    missing, non-HDF5, non-emflow and nothing-to-report files, -o a regular
#                                       file, missing script, a crashing script: one clear error each
# The Chromium checks exit 77 (skipped) when Debian's chromium is missing (scripts/install-deps.sh installs it).
set(EMI_RP_OUT ${CMAKE_CURRENT_BINARY_DIR}/report_out)
file(MAKE_DIRECTORY ${EMI_RP_OUT}/nz)
set(EMI_RP_INPUTS ${CMAKE_CURRENT_BINARY_DIR}/estimate_border_out/np1/out.h5
    ${CMAKE_CURRENT_BINARY_DIR}/forecast_out/np1/fc.h5 ${CMAKE_CURRENT_BINARY_DIR}/classify_out/np1/out.h5
    ${CMAKE_CURRENT_BINARY_DIR}/estimate_out/np1/est.h5)
set(EMI_RP_FIXTURES "estimate_border_np1;forecast_np1;classify_np1;estimate_np1")
emi_add_mpi_test(NAME report RANKS 2 TIMEOUT 120 COMMAND $<TARGET_FILE:emflow> report ${EMI_RP_INPUTS} -o ${EMI_RP_OUT}/all)
set_tests_properties(report_np2 PROPERTIES FIXTURES_SETUP report_all FIXTURES_REQUIRED "${EMI_RP_FIXTURES}")
emi_add_mpi_test(NAME report_publish RANKS 1 TIMEOUT 120
                 COMMAND $<TARGET_FILE:emflow> report ${EMI_RP_INPUTS} -o ${EMI_RP_OUT}/publish --publish)
set_tests_properties(report_publish_np1 PROPERTIES FIXTURES_SETUP report_publish FIXTURES_REQUIRED "${EMI_RP_FIXTURES}")
if(PYTHON3_SYSTEM)
  add_test(NAME report_check COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/report_check.py ${EMI_RP_OUT}/all
           --expect forecast,estimate,linkage,diagnostics)
  set_tests_properties(report_check PROPERTIES LABELS mpi TIMEOUT 120 FIXTURES_REQUIRED report_all SKIP_RETURN_CODE 77)
  add_test(NAME report_publish_check COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/report_check.py
           ${EMI_RP_OUT}/publish --expect forecast,estimate,linkage,diagnostics --publish --emflow $<TARGET_FILE:emflow>)
  set_tests_properties(report_publish_check PROPERTIES LABELS mpi TIMEOUT 120 FIXTURES_REQUIRED report_publish
                       SKIP_RETURN_CODE 77)
  add_test(NAME report_nz
           COMMAND bash -c "'$<TARGET_FILE:emflow>' estimate --config '${PROJECT_SOURCE_DIR}/inputs/nz.ini' --last-year 2016 -o nz.h5 --log-level warn && '$<TARGET_FILE:emflow>' forecast --posterior nz.h5 -o fc.h5 --horizon 10 --trajectories 2000 --scenarios baseline --scenarios mobility-shock --shock-from 2020 --shock-to 2021 --log-level warn && '$<TARGET_FILE:emflow>' report nz.h5 fc.h5 -o report && '${PYTHON3_SYSTEM}' '${CMAKE_CURRENT_LIST_DIR}/report_check.py' report --expect forecast,estimate,diagnostics"
           WORKING_DIRECTORY ${EMI_RP_OUT}/nz)
  set_tests_properties(report_nz PROPERTIES LABELS mpi TIMEOUT 180 ENVIRONMENT "${EMI_MPI_TEST_ENV}" SKIP_RETURN_CODE 77)
endif()
add_test(NAME report_bad_input
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/report_bad_input.sh $<TARGET_FILE:emflow> ${MPIEXEC_EXECUTABLE}
                 ${CMAKE_CURRENT_BINARY_DIR}/forecast_out/np1/fc.h5 ${PROJECT_SOURCE_DIR}/inputs/examples ${EMI_RP_OUT}/bad)
set_tests_properties(report_bad_input PROPERTIES LABELS mpi TIMEOUT 120 ENVIRONMENT "${EMI_MPI_TEST_ENV}"
                     FIXTURES_REQUIRED forecast_np1)
