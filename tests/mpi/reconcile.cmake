# emflow reconcile / emflow ipf end to end, at 1, 2 and 3 ranks (issue 5).
#   reconcile_np{1,2,3}            run the hand-computed case of tests/data/reconcile
#   reconcile_check_np{1,2,3}      values against an independent numpy computation (reconcile_check.py)
#   reconcile_repro_np1_vs_np{2,3} h5diff of the outputs (root provenance attributes excluded)   [repro]
#   reconcile_eurostat_*           the same case in Eurostat's SDMX-CSV layout with OBS_FLAG (flags in /reconciliation/inputs)
#   ipf_known_answers              emflow ipf reproduces migest's published examples (CSV and HDF5)
# Each rank count runs in its own directory with the same relative output name, so that the command
# line, and with it the resolved options table stored in /config, is the same.
set(EMI_REC_OUT ${CMAKE_CURRENT_BINARY_DIR}/reconcile_out)
foreach(np 1 2 3)
  file(MAKE_DIRECTORY ${EMI_REC_OUT}/np${np})
  emi_add_mpi_test(NAME reconcile RANKS ${np}
                   COMMAND $<TARGET_FILE:emflow> reconcile --config ${PROJECT_SOURCE_DIR}/tests/data/reconcile/reconcile.ini
                           -o reconcile.h5)
  set_tests_properties(reconcile_np${np} PROPERTIES FIXTURES_SETUP reconcile_np${np}
                       WORKING_DIRECTORY ${EMI_REC_OUT}/np${np})
  if(PYTHON3_SYSTEM)
    add_test(NAME reconcile_check_np${np}
             COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/reconcile_check.py ${EMI_REC_OUT}/np${np}/reconcile.h5)
    set_tests_properties(reconcile_check_np${np} PROPERTIES LABELS mpi TIMEOUT 60 FIXTURES_REQUIRED reconcile_np${np})
  endif()
endforeach()
# 2 OpenMP threads per rank (2 ranks): same output as 1 rank x 1 thread
file(MAKE_DIRECTORY ${EMI_REC_OUT}/omp2)
emi_add_mpi_test(NAME reconcile_omp2 RANKS 2
                 COMMAND $<TARGET_FILE:emflow> reconcile --config ${PROJECT_SOURCE_DIR}/tests/data/reconcile/reconcile.ini
                         -o reconcile.h5 ENVIRONMENT OMP_NUM_THREADS=2)
set_tests_properties(reconcile_omp2_np2 PROPERTIES FIXTURES_SETUP reconcile_omp2 WORKING_DIRECTORY ${EMI_REC_OUT}/omp2)
add_test(NAME reconcile_repro_np1_vs_omp2
         COMMAND ${H5DIFF_EXECUTABLE} -r --exclude-attribute / ${EMI_REC_OUT}/np1/reconcile.h5 ${EMI_REC_OUT}/omp2/reconcile.h5)
set_tests_properties(reconcile_repro_np1_vs_omp2 PROPERTIES LABELS repro TIMEOUT 60
                     FIXTURES_REQUIRED "reconcile_np1;reconcile_omp2")
foreach(np 2 3)
  add_test(NAME reconcile_repro_np1_vs_np${np}
           COMMAND ${H5DIFF_EXECUTABLE} -r --exclude-attribute / ${EMI_REC_OUT}/np1/reconcile.h5
                   ${EMI_REC_OUT}/np${np}/reconcile.h5)
  set_tests_properties(reconcile_repro_np1_vs_np${np} PROPERTIES LABELS repro TIMEOUT 60
                       FIXTURES_REQUIRED "reconcile_np1;reconcile_np${np}")
endforeach()
# The same case in Eurostat's SDMX-CSV layout with observation flags (tests/data/reconcile/eurostat):
# the same reconciliation, the flags carried to /reconciliation/inputs, every group readable by xarray;
# identical at 1 and 2 ranks.
file(MAKE_DIRECTORY ${EMI_REC_OUT}/eurostat_np1 ${EMI_REC_OUT}/eurostat_np2)
foreach(np 1 2)
  emi_add_mpi_test(NAME reconcile_eurostat RANKS ${np}
                   COMMAND $<TARGET_FILE:emflow> reconcile
                           --config ${PROJECT_SOURCE_DIR}/tests/data/reconcile/eurostat/reconcile.ini -o reconcile.h5)
  set_tests_properties(reconcile_eurostat_np${np} PROPERTIES FIXTURES_SETUP reconcile_eurostat_np${np}
                       WORKING_DIRECTORY ${EMI_REC_OUT}/eurostat_np${np})
  if(PYTHON3_SYSTEM)
    add_test(NAME reconcile_eurostat_check_np${np}
             COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/reconcile_check.py
                     ${EMI_REC_OUT}/eurostat_np${np}/reconcile.h5 --eurostat)
    set_tests_properties(reconcile_eurostat_check_np${np} PROPERTIES LABELS mpi TIMEOUT 60
                         FIXTURES_REQUIRED reconcile_eurostat_np${np})
  endif()
endforeach()
add_test(NAME reconcile_eurostat_repro_np1_vs_np2
         COMMAND ${H5DIFF_EXECUTABLE} -r --exclude-attribute / ${EMI_REC_OUT}/eurostat_np1/reconcile.h5
                 ${EMI_REC_OUT}/eurostat_np2/reconcile.h5)
set_tests_properties(reconcile_eurostat_repro_np1_vs_np2 PROPERTIES LABELS repro TIMEOUT 60
                     FIXTURES_REQUIRED "reconcile_eurostat_np1;reconcile_eurostat_np2")
file(MAKE_DIRECTORY ${EMI_REC_OUT}/ipf_known) # its own directory: its checks that nothing was written see no other test's files
add_test(NAME ipf_known_answers
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/ipf_known_answers.sh $<TARGET_FILE:emflow> ${PROJECT_SOURCE_DIR}/inputs/examples
                 ${EMI_REC_OUT}/ipf_known ${PYTHON3_SYSTEM})
set_tests_properties(ipf_known_answers PROPERTIES LABELS "unit;mpi" TIMEOUT 120 ENVIRONMENT "${EMI_MPI_TEST_ENV}")

# Partial mirror coverage (mirror-unreported = diffuse, rest-of-world) and a binding lower bound:
# values against numpy (reconcile_check.py --diffuse); the run must warn about the raised total.
file(MAKE_DIRECTORY ${EMI_REC_OUT}/diffuse ${EMI_REC_OUT}/diffuse_warn)
set(EMI_DIFFUSE_INI ${PROJECT_SOURCE_DIR}/tests/data/reconcile_diffuse/reconcile.ini)
emi_add_mpi_test(NAME reconcile_diffuse RANKS 2 COMMAND $<TARGET_FILE:emflow> reconcile --config ${EMI_DIFFUSE_INI} -o reconcile.h5)
add_test(NAME reconcile_diffuse_warns
         COMMAND bash -c "out=$($<TARGET_FILE:emflow> reconcile --config ${EMI_DIFFUSE_INI} -o r.h5 2>&1) && grep -q 'RUS (10) is below its declared emigration (20): raised to it' <<<\"$out\""
         WORKING_DIRECTORY ${EMI_REC_OUT}/diffuse_warn)
set_tests_properties(reconcile_diffuse_warns PROPERTIES LABELS mpi TIMEOUT 60 ENVIRONMENT "${EMI_MPI_TEST_ENV}")
set_tests_properties(reconcile_diffuse_np2 PROPERTIES FIXTURES_SETUP reconcile_diffuse WORKING_DIRECTORY ${EMI_REC_OUT}/diffuse)
if(PYTHON3_SYSTEM)
  add_test(NAME reconcile_diffuse_check
           COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/reconcile_check.py ${EMI_REC_OUT}/diffuse/reconcile.h5 --diffuse)
  set_tests_properties(reconcile_diffuse_check PROPERTIES LABELS mpi TIMEOUT 60 FIXTURES_REQUIRED reconcile_diffuse)
endif()

add_test(NAME reconcile_edge_cases
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/reconcile_edge_cases.sh $<TARGET_FILE:emflow>
                 ${PROJECT_SOURCE_DIR}/tests/data/reconcile ${EMI_REC_OUT}/edge ${MPIEXEC_EXECUTABLE})
set_tests_properties(reconcile_edge_cases PROPERTIES LABELS mpi TIMEOUT 120
                     ENVIRONMENT "${EMI_MPI_TEST_ENV};PYTHON=${PYTHON3_SYSTEM}")

# model = double-entry (engine/emi_reconcile_de.c): the Eurostat double-entry file balanced by GLS.
#   reconcile_de_np{1,2,3}              eight countries incl. SWE, 2015-2017 (tests/data/reconcile_de/reconcile.ini)
#   reconcile_de_check_np{1,2,3}        every flow, sd, source code and total against numpy (reconcile_de_check.py)
#   reconcile_de_repro_np1_vs_np{2,3}   h5diff of the outputs (root provenance attributes excluded)   [repro]
#   reconcile_de_eu27, _check           all 27 countries x 10 years with the [reconcile] section proposed for eu27.ini
#   reconcile_de_synth_*                183 synthetic countries (reconcile_de_synth.py): every year its own chunk,
#                                       so 2 and 3 ranks really split the years; checked and h5diff'ed the same way
#   reconcile_de_bad_input              bad values, columns, duplicates, classes, options (reconcile_de_bad_input.sh)
set(EMI_DE_OUT ${CMAKE_CURRENT_BINARY_DIR}/reconcile_de_out)
set(EMI_DE_CSV ${PROJECT_SOURCE_DIR}/inputs/eurostat_double_entry_eu27_2010_2019.csv)
add_test(NAME reconcile_de_synth_data
         COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/reconcile_de_synth.py ${EMI_DE_OUT}/synth.csv)
set_tests_properties(reconcile_de_synth_data PROPERTIES LABELS mpi TIMEOUT 60 FIXTURES_SETUP reconcile_de_synth_data)
foreach(np 1 2 3)
  file(MAKE_DIRECTORY ${EMI_DE_OUT}/np${np} ${EMI_DE_OUT}/synth_np${np})
  emi_add_mpi_test(NAME reconcile_de RANKS ${np}
                   COMMAND $<TARGET_FILE:emflow> reconcile --config ${PROJECT_SOURCE_DIR}/tests/data/reconcile_de/reconcile.ini
                           -o reconcile.h5)
  set_tests_properties(reconcile_de_np${np} PROPERTIES FIXTURES_SETUP reconcile_de_np${np}
                       WORKING_DIRECTORY ${EMI_DE_OUT}/np${np})
  emi_add_mpi_test(NAME reconcile_de_synth RANKS ${np}
                   COMMAND $<TARGET_FILE:emflow> reconcile --config ${PROJECT_SOURCE_DIR}/tests/data/reconcile_de/synth.ini
                           --input ../synth.csv -o reconcile.h5)
  set_tests_properties(reconcile_de_synth_np${np} PROPERTIES FIXTURES_SETUP reconcile_de_synth_np${np}
                       FIXTURES_REQUIRED reconcile_de_synth_data WORKING_DIRECTORY ${EMI_DE_OUT}/synth_np${np})
  if(PYTHON3_SYSTEM)
    add_test(NAME reconcile_de_check_np${np}
             COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/reconcile_de_check.py ${EMI_DE_OUT}/np${np}/reconcile.h5
                     ${EMI_DE_CSV})
    set_tests_properties(reconcile_de_check_np${np} PROPERTIES LABELS mpi TIMEOUT 60 FIXTURES_REQUIRED reconcile_de_np${np})
  endif()
endforeach()
if(PYTHON3_SYSTEM)
  add_test(NAME reconcile_de_synth_check
           COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/reconcile_de_check.py ${EMI_DE_OUT}/synth_np3/reconcile.h5
                   ${EMI_DE_OUT}/synth.csv)
  set_tests_properties(reconcile_de_synth_check PROPERTIES LABELS mpi TIMEOUT 120 FIXTURES_REQUIRED reconcile_de_synth_np3)
endif()
foreach(np 2 3)
  add_test(NAME reconcile_de_repro_np1_vs_np${np}
           COMMAND ${H5DIFF_EXECUTABLE} -r --exclude-attribute / ${EMI_DE_OUT}/np1/reconcile.h5 ${EMI_DE_OUT}/np${np}/reconcile.h5)
  set_tests_properties(reconcile_de_repro_np1_vs_np${np} PROPERTIES LABELS repro TIMEOUT 60
                       FIXTURES_REQUIRED "reconcile_de_np1;reconcile_de_np${np}")
  add_test(NAME reconcile_de_synth_repro_np1_vs_np${np}
           COMMAND ${H5DIFF_EXECUTABLE} -r --exclude-attribute / ${EMI_DE_OUT}/synth_np1/reconcile.h5
                   ${EMI_DE_OUT}/synth_np${np}/reconcile.h5)
  set_tests_properties(reconcile_de_synth_repro_np1_vs_np${np} PROPERTIES LABELS repro TIMEOUT 60
                       FIXTURES_REQUIRED "reconcile_de_synth_np1;reconcile_de_synth_np${np}")
endforeach()
file(MAKE_DIRECTORY ${EMI_DE_OUT}/eu27)
emi_add_mpi_test(NAME reconcile_de_eu27 RANKS 2
                 COMMAND $<TARGET_FILE:emflow> reconcile --config ${PROJECT_SOURCE_DIR}/tests/data/reconcile_de/eu27.ini
                         -o reconcile.h5)
set_tests_properties(reconcile_de_eu27_np2 PROPERTIES FIXTURES_SETUP reconcile_de_eu27 WORKING_DIRECTORY ${EMI_DE_OUT}/eu27)
if(PYTHON3_SYSTEM)
  add_test(NAME reconcile_de_eu27_check
           COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/reconcile_de_check.py ${EMI_DE_OUT}/eu27/reconcile.h5
                   ${EMI_DE_CSV})
  set_tests_properties(reconcile_de_eu27_check PROPERTIES LABELS mpi TIMEOUT 60 FIXTURES_REQUIRED reconcile_de_eu27)
endif()
add_test(NAME reconcile_de_bad_input
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/reconcile_de_bad_input.sh $<TARGET_FILE:emflow> ${EMI_DE_OUT}/bad)
set_tests_properties(reconcile_de_bad_input PROPERTIES LABELS mpi TIMEOUT 120
                     ENVIRONMENT "${EMI_MPI_TEST_ENV};PYTHON=${PYTHON3_SYSTEM}")
