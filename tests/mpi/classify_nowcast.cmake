# emflow classify, right censoring (issue 4): the nowcast of the months whose windows are open at the data end.
#   classify_nowcast_sim_np2        fixture: 60 months from 2023-01 at scale 0.01 (~230k records), fault-free;
#                                   the 2020 closure lies in simulate's burn-in, so the period is steady
#                                   (migrant departures still grow ~8% a year: README, classify, Limits)
#   classify_nowcast_cut            the declarations as of 2026-06-30 (classify_nowcast_cut.py)
#   classify_nowcast_full_np2       classify to 2027-12 (no nowcast): the final counts of the months to 2026-08
#   classify_nowcast_backdate_np2   classify the same records cut at --data-end 2026-06-30 (the later ones are
#                                   after_data_end rejects, which an explicit cut does not count against
#                                   --max-reject-share) with the cut declarations: provisional months
#                                   2025-03 .. 2026-06
#   classify_nowcast_check          back-dating validation (classify_nowcast_check.py): the 90% intervals of ALL
#                                   16 months provisional in the cut (the full data reach the cut + 18 months >
#                                   the window, so each is final there: the check fails otherwise) against the
#                                   final counts, by month x citizenship for departures, arrivals, undeclared
#                                   departures; the 4 newest months (d < 120 days) are reported on their own and
#                                   their point estimates must be within 10% of the final counts.
#                                   Measured (seed 11): 462 of 471 cells covered (0.981; expected 0.980 from the
#                                   intervals' probability content, band 4 sd = [0.954, 1.0]); month totals 45 of
#                                   48; point estimates -1.2% (departures), -0.9% (arrivals), -1.6% (undeclared);
#                                   newest 4 months: cells 50/52, 52/52, 49/52, point estimates -1.7%, -3.8%,
#                                   -1.9% (the earlier cut at 2026-12 never evaluated the newest 4 months)
#   (byte-identity of the nowcast at 1, 2, 3 ranks and 1 or 2 threads: classify_repro_np1_vs_* of classify.cmake)
#   classify_nowcast_bad            bad nowcast options (one clear error each), --no-nowcast, the default outputs,
#                                   --nowcast-min-training above the training crossings: not estimated
#   classify_nowcast_consistency    on the back-dated cut (1000 draws) and a 3-rank run: every cell and month total
#                                   has lower <= point <= upper, certain <= lower, upper <= certain + unresolved, and
#                                   undeclared <= departures (classify_nowcast_consistency.py)
#   classify_nowcast_short          14 months of data: no crossing is complete, so nothing to learn from: the nowcast
#                                   is NOT ESTIMATED (status attribute, a warning, bounds only, no interval)
set(EMI_NC_OUT ${CMAKE_CURRENT_BINARY_DIR}/classify_out/nowcast)
file(MAKE_DIRECTORY ${EMI_NC_OUT})
emi_add_mpi_test(NAME classify_nowcast_sim RANKS 2 COMMAND $<TARGET_FILE:emflow> simulate --scale 0.01 --start 2023-01
                 --months 60 --seed 11 -o sim.h5 --no-faults --crossings-h5 crossings.h5 --no-crossings-csv TIMEOUT 120)
set_tests_properties(classify_nowcast_sim_np2 PROPERTIES FIXTURES_SETUP classify_nowcast_sim
                     WORKING_DIRECTORY ${EMI_NC_OUT})
emi_add_mpi_test(NAME classify_nowcast_full RANKS 2 COMMAND $<TARGET_FILE:emflow> classify ${EMI_NC_OUT}/crossings.h5
                 -o full.h5 --declarations ${EMI_NC_OUT}/sim_declarations.csv --period-start 2023-01 --period-end 2027-12
                 --no-nowcast TIMEOUT 120)
set_tests_properties(classify_nowcast_full_np2 PROPERTIES FIXTURES_SETUP classify_nowcast_full
                     FIXTURES_REQUIRED classify_nowcast_sim WORKING_DIRECTORY ${EMI_NC_OUT})
if(PYTHON3_SYSTEM)
  add_test(NAME classify_nowcast_cut COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/classify_nowcast_cut.py
           ${EMI_NC_OUT}/sim_declarations.csv ${EMI_NC_OUT}/declarations_cut.csv 2026-06-30)
  set_tests_properties(classify_nowcast_cut PROPERTIES LABELS mpi TIMEOUT 60 FIXTURES_SETUP classify_nowcast_cut
                       FIXTURES_REQUIRED classify_nowcast_sim)
  set(EMI_NC_CUT classify ${EMI_NC_OUT}/crossings.h5 --declarations ${EMI_NC_OUT}/declarations_cut.csv
      --period-start 2023-01 --data-end 2026-06-30)
  emi_add_mpi_test(NAME classify_nowcast_backdate RANKS 2 COMMAND $<TARGET_FILE:emflow> ${EMI_NC_CUT} -o cut.h5
                   TIMEOUT 120)
  set_tests_properties(classify_nowcast_backdate_np2 PROPERTIES FIXTURES_SETUP classify_nowcast_backdate
                       FIXTURES_REQUIRED classify_nowcast_cut WORKING_DIRECTORY ${EMI_NC_OUT})
  add_test(NAME classify_nowcast_check COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/classify_nowcast_check.py
           ${EMI_NC_OUT}/cut.h5 ${EMI_NC_OUT}/full.h5)
  set_tests_properties(classify_nowcast_check PROPERTIES LABELS mpi TIMEOUT 60
                       FIXTURES_REQUIRED "classify_nowcast_backdate;classify_nowcast_full")
  add_test(NAME classify_nowcast_bad COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/classify_nowcast_bad.py
           $<TARGET_FILE:emflow> ${EMI_NC_OUT}/crossings.h5 ${EMI_NC_OUT}/bad)
  set_tests_properties(classify_nowcast_bad PROPERTIES LABELS mpi TIMEOUT 120 FIXTURES_REQUIRED classify_nowcast_sim
                       ENVIRONMENT "${EMI_MPI_TEST_ENV}")
endif()
if(PYTHON3_SYSTEM)
  add_test(NAME classify_nowcast_consistency COMMAND ${PYTHON3_SYSTEM}
           ${CMAKE_CURRENT_LIST_DIR}/classify_nowcast_consistency.py ${EMI_NC_OUT}/cut.h5)
  set_tests_properties(classify_nowcast_consistency PROPERTIES LABELS mpi TIMEOUT 60
                       FIXTURES_REQUIRED classify_nowcast_backdate)
  emi_add_mpi_test(NAME classify_nowcast_short_sim RANKS 1 COMMAND $<TARGET_FILE:emflow> simulate --scale 0.005
                   --start 2025-01 --months 14 --burn-in-months 0 --seed 3 --no-faults -o short.h5 --log-level warn
                   TIMEOUT 60)
  set_tests_properties(classify_nowcast_short_sim_np1 PROPERTIES FIXTURES_SETUP classify_nowcast_short
                       WORKING_DIRECTORY ${EMI_NC_OUT})
  add_test(NAME classify_nowcast_short COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/classify_nowcast_short.py
           $<TARGET_FILE:emflow> ${EMI_NC_OUT}/short_crossings.csv ${EMI_NC_OUT}/short_declarations.csv
           ${EMI_NC_OUT}/short)
  set_tests_properties(classify_nowcast_short PROPERTIES LABELS mpi TIMEOUT 60 FIXTURES_REQUIRED classify_nowcast_short
                       ENVIRONMENT "${EMI_MPI_TEST_ENV}")
endif()
