# emflow estimate, border-based model (issue 6):
#   estimate_border_gen                 synthetic border / declared / mirror counts with known truth
#                                       (tests/mpi/estimate_border.py gen)
#   estimate_border_np{1,2,3}           the fit at 1, 2 and 3 ranks (4 chains spread over them)
#   estimate_border_check               90% intervals of the true flows and of undeclared emigration
#                                       cover 87-93% of 960 cells; coverages near the truth
#   estimate_border_repro_np1_vs_np{2,3} h5diff of the outputs                                  [repro]
#   estimate_nz                         the real Stats NZ series (inputs/nz.ini): diagnostics pass and
#                                       the fitted flows follow the PLT departure counts
set(EMI_EB_OUT ${CMAKE_CURRENT_BINARY_DIR}/estimate_border_out)
file(MAKE_DIRECTORY ${EMI_EB_OUT}/data)
if(PYTHON3_SYSTEM)
  add_test(NAME estimate_border_gen
           COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/estimate_border.py gen ${EMI_EB_OUT}/data)
  set_tests_properties(estimate_border_gen PROPERTIES LABELS mpi TIMEOUT 60 FIXTURES_SETUP estimate_border_data)
  foreach(np 1 2 3)
    file(MAKE_DIRECTORY ${EMI_EB_OUT}/np${np})
    emi_add_mpi_test(NAME estimate_border RANKS ${np} TIMEOUT 300
                     COMMAND $<TARGET_FILE:emflow> estimate --config ${EMI_EB_OUT}/data/estimate.ini -o out.h5
                             --accept-failed-diagnostics)
    set_tests_properties(estimate_border_np${np} PROPERTIES FIXTURES_SETUP estimate_border_np${np}
                         FIXTURES_REQUIRED estimate_border_data WORKING_DIRECTORY ${EMI_EB_OUT}/np${np})
  endforeach()
  add_test(NAME estimate_border_check
           COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/estimate_border.py check ${EMI_EB_OUT}/data
                   ${EMI_EB_OUT}/np1/out.h5)
  set_tests_properties(estimate_border_check PROPERTIES LABELS mpi TIMEOUT 60 FIXTURES_REQUIRED estimate_border_np1)
  foreach(np 2 3)
    add_test(NAME estimate_border_repro_np1_vs_np${np}
             COMMAND ${H5DIFF_EXECUTABLE} -r --exclude-attribute / ${EMI_EB_OUT}/np1/out.h5 ${EMI_EB_OUT}/np${np}/out.h5)
    set_tests_properties(estimate_border_repro_np1_vs_np${np} PROPERTIES LABELS repro TIMEOUT 60
                         FIXTURES_REQUIRED "estimate_border_np1;estimate_border_np${np}")
  endforeach()
  file(MAKE_DIRECTORY ${EMI_EB_OUT}/nz)
  add_test(NAME estimate_nz
           COMMAND bash -c "'$<TARGET_FILE:emflow>' estimate --config '${PROJECT_SOURCE_DIR}/inputs/nz.ini' --last-year 2016 -o nz.h5 && '${PYTHON3_SYSTEM}' '${CMAKE_CURRENT_LIST_DIR}/estimate_border.py' nz nz.h5"
           WORKING_DIRECTORY ${EMI_EB_OUT}/nz)
  set_tests_properties(estimate_nz PROPERTIES LABELS mpi TIMEOUT 120 ENVIRONMENT "${EMI_MPI_TEST_ENV}")
endif()
add_test(NAME estimate_border_bad
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/estimate_border_bad.sh $<TARGET_FILE:emflow> ${EMI_EB_OUT}/bad)
set_tests_properties(estimate_border_bad PROPERTIES LABELS mpi TIMEOUT 120 ENVIRONMENT "${EMI_MPI_TEST_ENV}")
