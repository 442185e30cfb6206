# emflow export --publish (issue 7, disclosure control): random rounding to base 3 and small-cell
# suppression of real count tables (a classify output's /linkage/migrant_departures and
# /linkage/pending_departures), checked with h5py against the unrounded tables: every published cell a
# multiple of 3 or suppressed (S), the cells below the threshold suppressed, |published - true| < 3, the
# label OUT.csv.disclosure.json (hashes, counts), reruns identical, another seed different, no label on
# an unpublished export, refusal of non-count datasets (disclose_check.py).
if(PYTHON3_SYSTEM)
  add_test(NAME disclose_check COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/disclose_check.py
           $<TARGET_FILE:emflow> ${CMAKE_CURRENT_BINARY_DIR}/disclose_out
           ${CMAKE_CURRENT_BINARY_DIR}/classify_out/np1/out.h5 /linkage/migrant_departures /linkage/pending_departures)
  set_tests_properties(disclose_check PROPERTIES LABELS mpi TIMEOUT 180 FIXTURES_REQUIRED classify_np1
                       ENVIRONMENT "${EMI_MPI_TEST_ENV}")
endif()
