# emflow simulate (issue 3): synthetic crossings with ground truth.
#   simulate_np{1,2,3}              a small population (scale 0.002, raised fault rates, truth dumps), 1 thread
#   simulate_omp2_np1               the same with OMP_NUM_THREADS=2
#   simulate_check                  independent recount of the truth tables, fault counts, CSVs (simulate_check.py)
#   simulate_repro_*                h5diff of the truth files and of the crossings in the HDF5 compound
#                                   form (--crossings-h5), byte comparison of every CSV               [repro]
#   simulate_h5bytes_np{1,2,3}      --crossings-h5 only, scale 0.016 (97,517 records: 2 full write groups of
#                                   engine/emi_crossings.c and a partial one), SOURCE_DATE_EPOCH pinned
#   simulate_h5bytes_identical      ... the crossings files are byte-identical at 1, 2 and 3 ranks, with
#                                   mpi_ranks/omp_threads zeroed (simulate_h5bytes.py)              [repro]
#   simulate_behaviour              behaviours, closure, seasonality, fault rates, declaration coverage,
#                                   citizenship mix vs the configured values (simulate_behaviour.py)
#   simulate_bad_input              impossible parameters: one clear error naming the option and range
#   simulate_calibration            default Azerbaijan profile vs the real border figures (2%)        [slow]
# Each run uses its own directory with the same relative output names, so the command lines (and the
# /config tables) are the same.
set(EMI_SIM_OUT ${CMAKE_CURRENT_BINARY_DIR}/simulate_out)
set(EMI_SIM_ARGS simulate -o truth.h5 --scale 0.002 --start 2020-01 --months 24 --seed 7
    --persons-dump persons.csv --movements-dump movements.csv --crossings-h5 crossings.h5 --miss-exit-rate 0.02 --miss-entry-rate 0.01
    --duplicate-rate 0.02 --date-error-rate 0.02 --late-rate 0.02 --dual-share 0.2)
foreach(np 1 2 3)
  file(MAKE_DIRECTORY ${EMI_SIM_OUT}/np${np})
  emi_add_mpi_test(NAME simulate RANKS ${np} COMMAND $<TARGET_FILE:emflow> ${EMI_SIM_ARGS} TIMEOUT 300)
  set_tests_properties(simulate_np${np} PROPERTIES FIXTURES_SETUP simulate_np${np}
                       WORKING_DIRECTORY ${EMI_SIM_OUT}/np${np})
endforeach()
file(MAKE_DIRECTORY ${EMI_SIM_OUT}/omp2)
emi_add_mpi_test(NAME simulate_omp2 RANKS 1 COMMAND $<TARGET_FILE:emflow> ${EMI_SIM_ARGS} TIMEOUT 300
                 ENVIRONMENT OMP_NUM_THREADS=2)
set_tests_properties(simulate_omp2_np1 PROPERTIES FIXTURES_SETUP simulate_omp2 WORKING_DIRECTORY ${EMI_SIM_OUT}/omp2)

if(PYTHON3_SYSTEM)
  add_test(NAME simulate_check COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/simulate_check.py
           ${EMI_SIM_OUT}/np3 2020-01 24)
  set_tests_properties(simulate_check PROPERTIES LABELS mpi TIMEOUT 300 FIXTURES_REQUIRED simulate_np3)
endif()

foreach(other np2 np3 omp2)
  if(other STREQUAL "omp2")
    set(fx simulate_omp2)
  else()
    set(fx simulate_${other})
  endif()
  add_test(NAME simulate_repro_crossings_h5_np1_vs_${other}
           COMMAND ${H5DIFF_EXECUTABLE} -r --exclude-attribute / ${EMI_SIM_OUT}/np1/crossings.h5
                   ${EMI_SIM_OUT}/${other}/crossings.h5)
  set_tests_properties(simulate_repro_crossings_h5_np1_vs_${other} PROPERTIES LABELS repro TIMEOUT 60
                       FIXTURES_REQUIRED "simulate_np1;${fx}")
  add_test(NAME simulate_repro_h5_np1_vs_${other}
           COMMAND ${H5DIFF_EXECUTABLE} -r --exclude-attribute / ${EMI_SIM_OUT}/np1/truth.h5 ${EMI_SIM_OUT}/${other}/truth.h5)
  set_tests_properties(simulate_repro_h5_np1_vs_${other} PROPERTIES LABELS repro TIMEOUT 60
                       FIXTURES_REQUIRED "simulate_np1;${fx}")
  foreach(csv truth_crossings.csv truth_declarations.csv persons.csv movements.csv)
    add_test(NAME simulate_repro_${csv}_np1_vs_${other}
             COMMAND ${CMAKE_COMMAND} -E compare_files ${EMI_SIM_OUT}/np1/${csv} ${EMI_SIM_OUT}/${other}/${csv})
    set_tests_properties(simulate_repro_${csv}_np1_vs_${other} PROPERTIES LABELS repro TIMEOUT 60
                         FIXTURES_REQUIRED "simulate_np1;${fx}")
  endforeach()
endforeach()

# Byte-identical crossings HDF5 at 1, 2 and 3 ranks (the same argv in three directories).
foreach(np 1 2 3)
  file(MAKE_DIRECTORY ${EMI_SIM_OUT}/h5bytes_np${np})
  emi_add_mpi_test(NAME simulate_h5bytes RANKS ${np}
                   COMMAND $<TARGET_FILE:emflow> simulate -o truth.h5 --scale 0.016 --start 2020-01 --months 24
                           --seed 7 --crossings-h5 crossings.h5 --no-crossings-csv --log-level warn
                   TIMEOUT 300 ENVIRONMENT SOURCE_DATE_EPOCH=1796324400)
  set_tests_properties(simulate_h5bytes_np${np} PROPERTIES FIXTURES_SETUP simulate_h5bytes_np${np}
                       WORKING_DIRECTORY ${EMI_SIM_OUT}/h5bytes_np${np})
endforeach()
if(PYTHON3_SYSTEM)
  add_test(NAME simulate_h5bytes_identical
           COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/simulate_h5bytes.py
                   ${PROJECT_SOURCE_DIR}/engine/emi_crossings.h ${EMI_SIM_OUT}/h5bytes_np1/crossings.h5
                   ${EMI_SIM_OUT}/h5bytes_np2/crossings.h5 ${EMI_SIM_OUT}/h5bytes_np3/crossings.h5)
  set_tests_properties(simulate_h5bytes_identical PROPERTIES LABELS repro TIMEOUT 60
                       FIXTURES_REQUIRED "simulate_h5bytes_np1;simulate_h5bytes_np2;simulate_h5bytes_np3")
  file(MAKE_DIRECTORY ${EMI_SIM_OUT}/behaviour)
  add_test(NAME simulate_behaviour
           COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/simulate_behaviour.py $<TARGET_FILE:emflow>
                   ${PROJECT_SOURCE_DIR}/inputs/azerbaijan_sim.ini ${EMI_SIM_OUT}/behaviour)
  set_tests_properties(simulate_behaviour PROPERTIES LABELS mpi TIMEOUT 300
                       ENVIRONMENT "${EMI_MPI_TEST_ENV};OMP_NUM_THREADS=2")
endif()

add_test(NAME simulate_bad_input COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/simulate_bad_input.sh $<TARGET_FILE:emflow>
         ${EMI_SIM_OUT})
set_tests_properties(simulate_bad_input PROPERTIES LABELS "unit;mpi" TIMEOUT 120 ENVIRONMENT "${EMI_MPI_TEST_ENV}")

if(PYTHON3_SYSTEM)
  file(MAKE_DIRECTORY ${EMI_SIM_OUT}/calibration)
  add_test(NAME simulate_calibration
           COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/simulate_calibration.py $<TARGET_FILE:emflow>
                   ${PROJECT_SOURCE_DIR}/inputs/azerbaijan_border_2020_2022.csv ${EMI_SIM_OUT}/calibration)
  set_tests_properties(simulate_calibration PROPERTIES LABELS "mpi;slow" TIMEOUT 600
                       ENVIRONMENT "${EMI_MPI_TEST_ENV};OMP_NUM_THREADS=2")
endif()

# inputs/azerbaijan_sim.ini is the options table's defaults: the same bytes with and without it.
file(MAKE_DIRECTORY ${EMI_SIM_OUT}/profile)
add_test(NAME simulate_profile_ini
         COMMAND sh -c "\"$1\" simulate -o a.h5 --scale 0.001 && \"$1\" simulate --config \"$2\" -o b.h5 --scale 0.001 && cmp a_crossings.csv b_crossings.csv && cmp a_declarations.csv b_declarations.csv"
                 sh $<TARGET_FILE:emflow> ${PROJECT_SOURCE_DIR}/inputs/azerbaijan_sim.ini)
set(emi_profile_env ${EMI_MPI_TEST_ENV})
if(EMI_SANITIZE)
  # LeakSanitizer's tracer crashes (signal 11, the same address every run) in the second emflow of this
  # test, beside Open MPI's threads; ASan and UBSan stay on, and the config reader's leaks are covered by
  # test_opts, which does not start MPI.
  list(APPEND emi_profile_env ASAN_OPTIONS=fast_unwind_on_malloc=0:detect_leaks=0)
endif()
set_tests_properties(simulate_profile_ini PROPERTIES LABELS "unit;mpi" TIMEOUT 120 ENVIRONMENT "${emi_profile_env}"
                     WORKING_DIRECTORY ${EMI_SIM_OUT}/profile)
