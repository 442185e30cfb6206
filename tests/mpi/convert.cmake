# emflow convert (issue 3): crossings CSV -> HDF5 compound form (engine/emi_crossings.h).
#   convert_np{1,2,3}           convert the crossings CSV of simulate_np1 (simulate.cmake)
#   convert_same_as_simulate_*  h5diff: /crossings/records of the converted file = the one simulate wrote
#                               with --crossings-h5 from the same records                        [repro]
#   convert_repro_np1_vs_*      h5diff of the converted files at 1, 2, 3 ranks                    [repro]
#   convert_check               the records against an independent Python parse of the CSV; records_in =
#                               accepted + rejected; the compiled-in ISO 3166-1 list = inputs/iso3166_alpha3.csv
#   convert_catalogue           bad-input catalogue: every reject reason counted, the stop threshold and its
#                               message, empty file, wrong header, header only, CRLF + BOM + reordered columns
set(EMI_CONV_OUT ${CMAKE_CURRENT_BINARY_DIR}/convert_out)
foreach(np 1 2 3)
  file(MAKE_DIRECTORY ${EMI_CONV_OUT}/np${np})
  emi_add_mpi_test(NAME convert RANKS ${np} COMMAND $<TARGET_FILE:emflow> convert
                   ${CMAKE_CURRENT_BINARY_DIR}/simulate_out/np1/truth_crossings.csv -o converted.h5 TIMEOUT 120)
  set_tests_properties(convert_np${np} PROPERTIES FIXTURES_SETUP convert_np${np} FIXTURES_REQUIRED simulate_np1
                       WORKING_DIRECTORY ${EMI_CONV_OUT}/np${np})
  add_test(NAME convert_same_as_simulate_np${np}
           COMMAND ${H5DIFF_EXECUTABLE} ${EMI_CONV_OUT}/np${np}/converted.h5
                   ${CMAKE_CURRENT_BINARY_DIR}/simulate_out/np1/crossings.h5 /crossings/records /crossings/records)
  set_tests_properties(convert_same_as_simulate_np${np} PROPERTIES LABELS repro TIMEOUT 60
                       FIXTURES_REQUIRED "simulate_np1;convert_np${np}")
endforeach()
foreach(np 2 3)
  add_test(NAME convert_repro_np1_vs_np${np}
           COMMAND ${H5DIFF_EXECUTABLE} -r --exclude-attribute / ${EMI_CONV_OUT}/np1/converted.h5
                   ${EMI_CONV_OUT}/np${np}/converted.h5)
  set_tests_properties(convert_repro_np1_vs_np${np} PROPERTIES LABELS repro TIMEOUT 60
                       FIXTURES_REQUIRED "convert_np1;convert_np${np}")
endforeach()
if(PYTHON3_SYSTEM)
  add_test(NAME convert_check COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/convert_check.py
           ${CMAKE_CURRENT_BINARY_DIR}/simulate_out/np1/truth_crossings.csv
           ${CMAKE_CURRENT_BINARY_DIR}/simulate_out/np1/crossings.h5 ${EMI_CONV_OUT}/np2/converted.h5
           ${PROJECT_SOURCE_DIR}/inputs/iso3166_alpha3.csv ${PROJECT_SOURCE_DIR}/engine/emi_iso3166.c)
  set_tests_properties(convert_check PROPERTIES LABELS mpi TIMEOUT 120 FIXTURES_REQUIRED "simulate_np1;convert_np2")
  add_test(NAME convert_catalogue COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/convert_catalogue.py
           $<TARGET_FILE:emflow> ${MPIEXEC_EXECUTABLE} ${EMI_CONV_OUT}/catalogue)
  set_tests_properties(convert_catalogue PROPERTIES LABELS "mpi" TIMEOUT 300 ENVIRONMENT "${EMI_MPI_TEST_ENV}")
endif()
