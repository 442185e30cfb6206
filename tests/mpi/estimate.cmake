# emflow estimate (issue 6): the Bayesian double-entry model end to end.
#   estimate_np{1,2,3}, estimate_omp2_np1, estimate_omp3_np2
#                                  eight EU countries of the real Eurostat data (tests/data/estimate/eu8.ini:
#                                  4 chains, 150 + 150 iterations), chains spread over 1, 2, 3 ranks and
#                                  run with 1, 2, 3 OpenMP threads
#   estimate_repro_np1_vs_*        h5diff of those outputs (root provenance attributes excluded)     [repro]
#   estimate_describe[_recovery]   units, long_name and dimension scales on every dataset, no NaN, and
#                                  the summaries, undeclared emigration and totals recomputed with numpy
#                                  from the stored draws and reports (estimate_check.py), on the eu8
#                                  output and on the recovery run's
#   estimate_resume                SIGKILL at four points (checkpoint written, mid-chain, between chains,
#                                  during the output write) and --resume: the uninterrupted run's output;
#                                  --resume with other settings or a damaged checkpoint: a clear error
#   estimate_recovery_{data,np2,check}
#                                  data drawn from the model with known flows and coverages
#                                  (estimate_recovery.py): 90% intervals cover 87-93% of 900 true flows,
#                                  coverages within 3.5 posterior sd of the truth
#   estimate_bad_input             ~60 bad inputs and options: exit status, one error naming what is
#                                  wrong and how to supply it, nothing left behind, no crash
#   estimate_prior_conflict        the real EU-27 file: Slovakia's three coverages are flagged (posterior
#                                  median > 4 prior sd from the prior mean), the Stan benchmark's countries not
#   estimate_diagnostics           a too-short run exits 11 with status 'diagnostics failed' in the file;
#                                  --accept-failed-diagnostics exits 0 with the same file
# Each rank count runs in its own directory with the same relative output name (same /config).
set(EMI_EST_OUT ${CMAKE_CURRENT_BINARY_DIR}/estimate_out)
set(EMI_EST_DATA ${PROJECT_SOURCE_DIR}/tests/data/estimate)
set(EMI_EST_ARGS estimate --config ${EMI_EST_DATA}/eu8.ini -o est.h5 --accept-failed-diagnostics)
set(EMI_EST_RUNS np1 np2 np3 omp2 omp3)
foreach(run IN LISTS EMI_EST_RUNS)
  file(MAKE_DIRECTORY ${EMI_EST_OUT}/${run})
endforeach()
foreach(np 1 2 3)
  emi_add_mpi_test(NAME estimate RANKS ${np} COMMAND $<TARGET_FILE:emflow> ${EMI_EST_ARGS} TIMEOUT 120)
  set_tests_properties(estimate_np${np} PROPERTIES FIXTURES_SETUP estimate_np${np} WORKING_DIRECTORY ${EMI_EST_OUT}/np${np})
endforeach()
emi_add_mpi_test(NAME estimate_omp2 RANKS 1 COMMAND $<TARGET_FILE:emflow> ${EMI_EST_ARGS} TIMEOUT 120
                 ENVIRONMENT OMP_NUM_THREADS=2)
set_tests_properties(estimate_omp2_np1 PROPERTIES FIXTURES_SETUP estimate_omp2 WORKING_DIRECTORY ${EMI_EST_OUT}/omp2
                     PROCESSORS 2)
emi_add_mpi_test(NAME estimate_omp3 RANKS 2 COMMAND $<TARGET_FILE:emflow> ${EMI_EST_ARGS} TIMEOUT 120
                 ENVIRONMENT OMP_NUM_THREADS=3)
set_tests_properties(estimate_omp3_np2 PROPERTIES FIXTURES_SETUP estimate_omp3 WORKING_DIRECTORY ${EMI_EST_OUT}/omp3)
foreach(other np2 np3 omp2 omp3)
  add_test(NAME estimate_repro_np1_vs_${other}
           COMMAND ${H5DIFF_EXECUTABLE} -r --exclude-attribute / ${EMI_EST_OUT}/np1/est.h5 ${EMI_EST_OUT}/${other}/est.h5)
  set_tests_properties(estimate_repro_np1_vs_${other} PROPERTIES LABELS repro TIMEOUT 60
                       FIXTURES_REQUIRED "estimate_np1;estimate_${other}")
endforeach()

if(PYTHON3_SYSTEM)
  add_test(NAME estimate_describe
           COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/estimate_check.py ${EMI_EST_OUT}/np1/est.h5)
  set_tests_properties(estimate_describe PROPERTIES LABELS mpi TIMEOUT 60 FIXTURES_REQUIRED estimate_np1)

  add_test(NAME estimate_resume
           COMMAND ${CMAKE_CURRENT_LIST_DIR}/estimate_resume.sh $<TARGET_FILE:emflow> ${MPIEXEC_EXECUTABLE}
                   ${H5DIFF_EXECUTABLE} ${EMI_EST_DATA}/eu8.ini ${PYTHON3_SYSTEM} ${EMI_EST_OUT} ${EMI_EST_OUT}/np2/est.h5)
  set_tests_properties(estimate_resume PROPERTIES LABELS mpi TIMEOUT 300 PROCESSORS 2 ENVIRONMENT "${EMI_MPI_TEST_ENV}"
                       FIXTURES_REQUIRED estimate_np2)

  file(MAKE_DIRECTORY ${EMI_EST_OUT}/recovery)
  add_test(NAME estimate_recovery_data
           COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/estimate_recovery.py gen ${EMI_EST_OUT}/recovery)
  set_tests_properties(estimate_recovery_data PROPERTIES LABELS mpi TIMEOUT 60 FIXTURES_SETUP estimate_recovery_data)
  emi_add_mpi_test(NAME estimate_recovery RANKS 2
                   COMMAND $<TARGET_FILE:emflow> estimate --config ${EMI_EST_OUT}/recovery/synth.ini -o recovery.h5
                           --warmup 500 --draws 500 --checkpoint-every 0 --accept-failed-diagnostics TIMEOUT 180)
  set_tests_properties(estimate_recovery_np2 PROPERTIES WORKING_DIRECTORY ${EMI_EST_OUT}/recovery
                       FIXTURES_REQUIRED estimate_recovery_data FIXTURES_SETUP estimate_recovery)
  add_test(NAME estimate_recovery_check
           COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/estimate_recovery.py check
                   ${EMI_EST_OUT}/recovery/recovery.h5 ${EMI_EST_OUT}/recovery)
  set_tests_properties(estimate_recovery_check PROPERTIES LABELS mpi TIMEOUT 60 FIXTURES_REQUIRED estimate_recovery)
  add_test(NAME estimate_describe_recovery
           COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/estimate_check.py ${EMI_EST_OUT}/recovery/recovery.h5)
  set_tests_properties(estimate_describe_recovery PROPERTIES LABELS mpi TIMEOUT 60 FIXTURES_REQUIRED estimate_recovery)

  add_test(NAME estimate_diagnostics
           COMMAND ${CMAKE_CURRENT_LIST_DIR}/estimate_diagnostics.sh $<TARGET_FILE:emflow> ${EMI_EST_DATA}/base.csv
                   ${PYTHON3_SYSTEM} ${H5DIFF_EXECUTABLE} ${EMI_EST_OUT})
  set_tests_properties(estimate_diagnostics PROPERTIES LABELS "unit;mpi" TIMEOUT 120 ENVIRONMENT "${EMI_MPI_TEST_ENV}")
endif()

add_test(NAME estimate_bad_input
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/estimate_bad_input.sh $<TARGET_FILE:emflow> ${EMI_EST_DATA}/base.csv ${EMI_EST_OUT})
set_tests_properties(estimate_bad_input PROPERTIES LABELS "unit;mpi" TIMEOUT 180 ENVIRONMENT "${EMI_MPI_TEST_ENV}")

add_test(NAME estimate_prior_conflict
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/estimate_prior_conflict.sh $<TARGET_FILE:emflow>
                 ${PROJECT_SOURCE_DIR}/inputs/eu27.ini ${EMI_EST_OUT}/prior_conflict)
set_tests_properties(estimate_prior_conflict PROPERTIES LABELS mpi TIMEOUT 120 ENVIRONMENT "${EMI_MPI_TEST_ENV}")
