# emflow run (issue 8): the stages of a config in one job, OUT.h5 assembled from the stage files.
# Configs: tests/data/run/ (small copies of inputs/eu27.ini and inputs/azerbaijan.ini) and inputs/nz.ini.
#   run_eu27_np2, run_eu27_check   four EU countries of the real Eurostat file (estimate, forecast
#                                  2020-2030 of three scenarios, report): /estimate emigration_reported
#                                  and immigration_reported are the CSV's Emig/Immi (NA -> -1), every
#                                  scenario, the report (run_check.py eu27)
#   run_nz_np2, run_nz_check, run_nz_backtest
#                                  inputs/nz.ini as it is: /estimate/border_reported is the CSV's
#                                  Departures of NZ and AU citizens 1979-2006; forecast_check.py backtest
#   run_azerbaijan_np2, run_azerbaijan_check
#                                  simulate (1%) -> classify -> estimate -> forecast -> report: records
#                                  in = accepted + rejected, the border model's counts are the sums of
#                                  /linkage over the final quarters, the simulated foreigners' 2021
#                                  border counts are the real ones x the scale (within 10%)
#   run_azerbaijan_np1, _np3, _omp2_np1, run_repro_np1_vs_{np2,np3,omp2}                        [repro]
#                                  the same job at 1, 2, 3 ranks and 2 threads: h5diff, root
#                                  provenance attributes excluded, finds no difference.
#                                  (they found /run/classify and /run/forecast input_sha256 to differ:
#                                  the hashes of the work directory's crossings.h5 and estimate.h5, whose
#                                  root provenance holds mpi_ranks and omp_threads; run_same.sh names
#                                  that case should it come back)
#   run_kill_resume                SIGKILL of the Azerbaijan job after simulate.done, during the estimate
#                                  (a checkpoint written), during the assembly and during the report;
#                                  --resume after each (2, 3, 2, 1 ranks): the output of
#                                  run_azerbaijan_np2; no OUT.h5 under its final name after a kill
#                                  before the assembly
#   run_eu27_reconcile_check       the run's /reconciliation (double entry) against numpy (reconcile_de_check.py)
#   run_output_reference           scripts/output_reference.py --check: README lists every dataset the jobs write
#   run_xarray_groups              xarray.open_dataset(group=G) of every group of the three jobs' outputs
#   run_bad_input                  missing config, unknown stage, --resume without a run and after the
#                                  config changed, a foreign work directory (left as it was), output not
#                                  .h5, forecast without estimate, a bad [estimate] value (file:line,
#                                  also in a simulate -> classify -> estimate config: a NOTE when it is
#                                  reported only after simulate and classify have run)
# The stage option tables in /config/STAGE hold the absolute paths of the work directory, so the jobs
# compared byte for byte all write SLOT/job.h5 in one directory (run_job.sh moves each result to its
# own directory afterwards) and hold the lock run_azerbaijan_slot.  SOURCE_DATE_EPOCH fixes the dates.
set(EMI_RUN_OUT ${CMAKE_CURRENT_BINARY_DIR}/run_out)
set(EMI_RUN_DATA ${PROJECT_SOURCE_DIR}/tests/data/run)
set(EMI_RUN_ENV ${EMI_MPI_TEST_ENV} SOURCE_DATE_EPOCH=1764806400)
file(MAKE_DIRECTORY ${EMI_RUN_OUT}/eu27 ${EMI_RUN_OUT}/nz ${EMI_RUN_OUT}/az_slot)

# EU-27 (four countries) and NZ: each in its own directory
emi_add_mpi_test(NAME run_eu27 RANKS 2 TIMEOUT 180
                 COMMAND $<TARGET_FILE:emflow> run ${EMI_RUN_DATA}/eu27_small.ini -o job.h5 ENVIRONMENT SOURCE_DATE_EPOCH=1764806400)
set_tests_properties(run_eu27_np2 PROPERTIES FIXTURES_SETUP run_eu27 WORKING_DIRECTORY ${EMI_RUN_OUT}/eu27)
emi_add_mpi_test(NAME run_nz RANKS 2 TIMEOUT 120
                 COMMAND $<TARGET_FILE:emflow> run ${PROJECT_SOURCE_DIR}/inputs/nz.ini -o job.h5 ENVIRONMENT SOURCE_DATE_EPOCH=1764806400)
set_tests_properties(run_nz_np2 PROPERTIES FIXTURES_SETUP run_nz WORKING_DIRECTORY ${EMI_RUN_OUT}/nz)

# Azerbaijan (1%): the rank counts and threads, into the one slot
set(EMI_RUN_AZ ${EMI_RUN_DATA}/azerbaijan_small.ini)
foreach(run np1 np2 np3 omp2)
  set(np 1)
  set(threads 1)
  set(extra)
  if(run STREQUAL "np2")
    set(np 2)
    set(extra --keep-work) # for run_azerbaijan_check (the crossings)
  elseif(run STREQUAL "np3")
    set(np 3)
  elseif(run STREQUAL "omp2")
    set(threads 2)
  endif()
  set(name run_azerbaijan_${run})
  if(run STREQUAL "omp2")
    set(name run_azerbaijan_omp2_np1)
  endif()
  add_test(NAME ${name}
           COMMAND ${CMAKE_CURRENT_LIST_DIR}/run_job.sh $<TARGET_FILE:emflow> ${MPIEXEC_EXECUTABLE} ${np} ${threads}
                   ${EMI_RUN_AZ} ${EMI_RUN_OUT}/az_slot ${EMI_RUN_OUT}/az_${run} ${extra})
  set(procs ${np})
  if(threads GREATER procs)
    set(procs ${threads})
  endif()
  set_tests_properties(${name} PROPERTIES LABELS mpi TIMEOUT 180 PROCESSORS ${procs} ENVIRONMENT "${EMI_RUN_ENV}"
                       RESOURCE_LOCK run_azerbaijan_slot FIXTURES_SETUP run_az_${run})
endforeach()
foreach(other np2 np3 omp2)
  add_test(NAME run_repro_np1_vs_${other}
           COMMAND ${CMAKE_CURRENT_LIST_DIR}/run_same.sh ${H5DIFF_EXECUTABLE} ${EMI_RUN_OUT}/az_np1/job.h5
                   ${EMI_RUN_OUT}/az_${other}/job.h5)
  set_tests_properties(run_repro_np1_vs_${other} PROPERTIES LABELS repro TIMEOUT 60
                       FIXTURES_REQUIRED "run_az_np1;run_az_${other}")
endforeach()

add_test(NAME run_kill_resume
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/run_kill.sh $<TARGET_FILE:emflow> ${MPIEXEC_EXECUTABLE} ${H5DIFF_EXECUTABLE}
                 ${EMI_RUN_AZ} ${EMI_RUN_OUT}/az_slot ${EMI_RUN_OUT}/az_np2/job.h5)
set_tests_properties(run_kill_resume PROPERTIES LABELS mpi TIMEOUT 300 PROCESSORS 2 ENVIRONMENT "${EMI_RUN_ENV}"
                     RESOURCE_LOCK run_azerbaijan_slot FIXTURES_REQUIRED run_az_np2)

if(PYTHON3_SYSTEM)
  add_test(NAME run_eu27_check
           COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/run_check.py eu27 ${EMI_RUN_OUT}/eu27/job.h5
                   ${EMI_RUN_DATA}/eu27_small.ini ${PROJECT_SOURCE_DIR}/inputs/eurostat_double_entry_eu27_2010_2019.csv
                   ${EMI_RUN_OUT}/eu27/job_report)
  set_tests_properties(run_eu27_check PROPERTIES LABELS mpi TIMEOUT 60 FIXTURES_REQUIRED run_eu27)
  add_test(NAME run_nz_check
           COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/run_check.py nz ${EMI_RUN_OUT}/nz/job.h5
                   ${PROJECT_SOURCE_DIR}/inputs/nz.ini ${PROJECT_SOURCE_DIR}/inputs/nz_plt_by_citizenship_1979_2016.csv
                   ${EMI_RUN_OUT}/nz/job_report)
  set_tests_properties(run_nz_check PROPERTIES LABELS mpi TIMEOUT 60 FIXTURES_REQUIRED run_nz)
  add_test(NAME run_nz_backtest
           COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/forecast_check.py backtest ${EMI_RUN_OUT}/nz/job.h5
                   ${PROJECT_SOURCE_DIR}/inputs/nz_plt_by_citizenship_1979_2016.csv)
  set_tests_properties(run_nz_backtest PROPERTIES LABELS mpi TIMEOUT 60 FIXTURES_REQUIRED run_nz)
  add_test(NAME run_azerbaijan_check
           COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/run_check.py azerbaijan ${EMI_RUN_OUT}/az_np2/job.h5
                   ${EMI_RUN_AZ} ${PROJECT_SOURCE_DIR}/inputs/azerbaijan_border_2020_2022.csv
                   ${EMI_RUN_OUT}/az_np2/job.h5.work ${EMI_RUN_OUT}/az_np2/job_report)
  set_tests_properties(run_azerbaijan_check PROPERTIES LABELS mpi TIMEOUT 60 FIXTURES_REQUIRED run_az_np2)
  add_test(NAME run_eu27_reconcile_check
           COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/reconcile_de_check.py ${EMI_RUN_OUT}/eu27/job.h5
                   ${PROJECT_SOURCE_DIR}/inputs/eurostat_double_entry_eu27_2010_2019.csv --partial-sources)
  set_tests_properties(run_eu27_reconcile_check PROPERTIES LABELS mpi TIMEOUT 60 FIXTURES_REQUIRED run_eu27)
  # The README's output reference lists every dataset the three jobs write.
  add_test(NAME run_output_reference
           COMMAND ${PYTHON3_SYSTEM} ${PROJECT_SOURCE_DIR}/scripts/output_reference.py --check ${PROJECT_SOURCE_DIR}/README.md
                   ${EMI_RUN_OUT}/az_np2/job.h5 ${EMI_RUN_OUT}/nz/job.h5 ${EMI_RUN_OUT}/eu27/job.h5)
  set_tests_properties(run_output_reference PROPERTIES LABELS mpi TIMEOUT 60
                       FIXTURES_REQUIRED "run_az_np2;run_nz;run_eu27")
  # Every group of the three jobs' outputs opens in xarray (h5netcdf, no reader options), labelled by
  # the scales the file attaches (tests/mpi/xarray_groups.py; skipped without python3-xarray).
  add_test(NAME run_xarray_groups
           COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/xarray_groups.py
                   ${EMI_RUN_OUT}/az_np2/job.h5 ${EMI_RUN_OUT}/nz/job.h5 ${EMI_RUN_OUT}/eu27/job.h5)
  set_tests_properties(run_xarray_groups PROPERTIES LABELS mpi TIMEOUT 120 SKIP_RETURN_CODE 77
                       FIXTURES_REQUIRED "run_az_np2;run_nz;run_eu27")
endif()

# A stage section without keys still names its stage (inih reports keys only): nz.ini without its
# [run] stages list plus an empty [report] must run estimate -> forecast -> report and write the report.
file(MAKE_DIRECTORY ${EMI_RUN_OUT}/empty_section)
add_test(NAME run_empty_section
         COMMAND bash -c "set -e; sed -e 's|= *nz_plt|= ${PROJECT_SOURCE_DIR}/inputs/nz_plt|' -e '/^stages/d' \
                 '${PROJECT_SOURCE_DIR}/inputs/nz.ini' > t.ini; printf '\\n[report]\\n' >> t.ini; rm -rf j.h5 j_report; \
                 '$<TARGET_FILE:emflow>' run t.ini -o j.h5 2> log.txt; \
                 grep -q 'estimate -> forecast -> report' log.txt; test -s j_report/index.html"
         WORKING_DIRECTORY ${EMI_RUN_OUT}/empty_section)
set_tests_properties(run_empty_section PROPERTIES LABELS mpi TIMEOUT 120 ENVIRONMENT "${EMI_RUN_ENV}")

add_test(NAME run_bad_input
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/run_bad_input.sh $<TARGET_FILE:emflow> ${MPIEXEC_EXECUTABLE}
                 ${PROJECT_SOURCE_DIR}/inputs/nz.ini ${PROJECT_SOURCE_DIR}/inputs/nz_plt_by_citizenship_1979_2016.csv
                 ${EMI_RUN_OUT}/bad ${EMI_RUN_AZ})
set_tests_properties(run_bad_input PROPERTIES LABELS "unit;mpi" TIMEOUT 120 ENVIRONMENT "${EMI_RUN_ENV}")
