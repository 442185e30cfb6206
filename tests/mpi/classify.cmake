# emflow classify (issue 4): linkage, repairs and the 12/16 rule against simulate's ground truth.
#   classify_sim_nofaults / classify_sim_faults   fixtures: 48 months at scale 0.01 (~180k records), fault-free
#                                                 (every fault rate 0, with truth dumps) and with the default faults
#   classify_np{1,2,3}, classify_omp2_np1         classify the fault-free HDF5 records with the declarations
#   classify_repro_np1_vs_*                       h5diff --exclude-attribute /: identical at 1, 2, 3 ranks and
#                                                 OMP_NUM_THREADS 1 vs 2, the nowcast (/linkage/nowcast,
#                                                 /undeclared/nowcast) included                            [repro]
#   classify_csv_np2, classify_csv_same_as_h5     the same records from the CSV: the same tables            [repro]
#   classify_csv_np{1,3}, classify_csv_omp2_np1,  the CSV at 1 rank x 1 thread, 1 x 2 threads, 2 and 3 ranks:
#   classify_csv_repro_np1_vs_{np2,np3,omp2}      h5diff --exclude-attribute /: the same bytes (parallel reader)
#                                                 [repro]
#   classify_csv_layouts                          a variant of the CSV (quoted fields, CRLF, bad lines of ten
#                                                 reasons): the same tables as the original, rejects = original
#                                                 + injected, the same /linkage and the same stop message
#                                                 (file, line, field, found, expected) at 1x1, 1x2, 2x1, 3x1
#                                                 (classify_csv_layouts.py)                          [repro]
#   classify_exact                                final months = /truth exactly (departures, undeclared);
#                                                 arrivals = an independent recomputation (classify_check.py);
#                                                 the *_adjusted tables equal the int64 ones in every cell (no
#                                                 record lost: no passage imputed, loss rates 0)
#   classify_noloss_np1, classify_noloss_check    --no-loss-adjustment: the same exact tables, no *_adjusted
#                                                 table, no /linkage/loss_rate
#   classify_faults_np2, classify_faults_check    default faults, classified with simulate's link table
#                                                 (--link-table): error of the final-month totals vs /truth,
#                                                 printed per month; the test bound is 7%.  Measured (seed 11):
#                                                 departures +8.6% without the table -> +2.4% with it, arrivals
#                                                 +11.9% -> +5.0%, undeclared +12.3% -> +3.4% (the rest: missed
#                                                 first and last crossings, which the repair cannot see).
#                                                 The *_adjusted tables (the loss correction, land points as
#                                                 simulate's): -0.8%, -1.0%, -1.1%; bounds 1.5%, 3%, 2%: two
#                                                 standard deviations of the adjusted error over seeds 11-19 at
#                                                 this scale (0.7%, 1.5%, 1.0%; means +0.2%, +0.1%, +0.3%: the
#                                                 realised number of unseen losses is Poisson, ~40 false arrivals)
#   classify_faults_scale_check                   the same at scale 0.2 (~0.9 M records): the adjusted totals
#                                                 within the issue's 1% of /truth (measured -0.15%, -0.01%, -0.14%)
#   classify_faults_np3, classify_faults_repro    the same at 3 ranks: h5diff, the adjusted tables (loss rates
#                                                 > 0) included                                              [repro]
#   classify_loss_hand                            the loss correction on a hand-made history file at 1 and 3
#                                                 ranks: counts, rates and adjusted cells worked out by hand
#                                                 (classify_loss_hand.py)
#   classify_sim_doc2, classify_{link,nolink}_np2 second documents as the only fault (other rates 0), with and
#                                                 without the link table; classify_link_exact: with it the final
#                                                 months equal /truth exactly (departures +6.2% -> 0, undeclared
#                                                 +8.9% -> 0; arrivals: the recomputation, as classify_exact,
#                                                 --doc-citizenship: a linked person seen only on the second
#                                                 document has its citizenship);
#                                                 classify_link_repro_np3 [repro]; classify_link_table: counts vs
#                                                 the dumps, HMAC, unknown keys, malformed tables
#                                                 (classify_link_table.py)
#   classify_privacy                              no input key in the output or the log, key file checks,
#                                                 reject stop message withholds the key (classify_privacy.py)
#   classify_data_span                            stray mis-dated records: the same tables + counted rejects
#                                                 before_data_start / after_data_end (detected data start and
#                                                 end); --period-end tabulates fewer months with the later
#                                                 records still closing windows; --data-end cuts (= the
#                                                 truncated file); declarations' rejects by reason, examples
#                                                 file:line on the log, stop message, at 1 and 2 ranks
#                                                 (classify_data_span.py)
set(EMI_CLS_OUT ${CMAKE_CURRENT_BINARY_DIR}/classify_out)
set(EMI_CLS_SIM simulate --scale 0.01 --start 2020-01 --months 48 --seed 11)
# the nowcast (tests/mpi/classify_nowcast.cmake) with 200 draws here: the same code paths at a fifth of the cost
set(EMI_CLS_ARGS --declarations ${EMI_CLS_OUT}/nofaults/sim_declarations.csv --period-start 2020-01 --period-end 2023-12
    --nowcast-draws 200)
file(MAKE_DIRECTORY ${EMI_CLS_OUT}/nofaults ${EMI_CLS_OUT}/faults)
emi_add_mpi_test(NAME classify_sim_nofaults RANKS 2 COMMAND $<TARGET_FILE:emflow> ${EMI_CLS_SIM} -o sim.h5 --no-faults
                 --crossings-h5 crossings.h5 --persons-dump persons.csv --movements-dump movements.csv TIMEOUT 120)
set_tests_properties(classify_sim_nofaults_np2 PROPERTIES FIXTURES_SETUP classify_sim_nofaults
                     WORKING_DIRECTORY ${EMI_CLS_OUT}/nofaults)
emi_add_mpi_test(NAME classify_sim_faults RANKS 2 COMMAND $<TARGET_FILE:emflow> ${EMI_CLS_SIM} -o sim.h5
                 --crossings-h5 crossings.h5 --no-crossings-csv --link-table-out links.csv TIMEOUT 120)
set_tests_properties(classify_sim_faults_np2 PROPERTIES FIXTURES_SETUP classify_sim_faults
                     WORKING_DIRECTORY ${EMI_CLS_OUT}/faults)

foreach(np 1 2 3)
  file(MAKE_DIRECTORY ${EMI_CLS_OUT}/np${np})
  emi_add_mpi_test(NAME classify RANKS ${np} COMMAND $<TARGET_FILE:emflow> classify
                   ${EMI_CLS_OUT}/nofaults/crossings.h5 -o out.h5 ${EMI_CLS_ARGS} TIMEOUT 120)
  set_tests_properties(classify_np${np} PROPERTIES FIXTURES_SETUP classify_np${np}
                       FIXTURES_REQUIRED classify_sim_nofaults WORKING_DIRECTORY ${EMI_CLS_OUT}/np${np})
endforeach()
file(MAKE_DIRECTORY ${EMI_CLS_OUT}/omp2)
emi_add_mpi_test(NAME classify_omp2 RANKS 1 COMMAND $<TARGET_FILE:emflow> classify
                 ${EMI_CLS_OUT}/nofaults/crossings.h5 -o out.h5 ${EMI_CLS_ARGS} TIMEOUT 120 ENVIRONMENT OMP_NUM_THREADS=2)
set_tests_properties(classify_omp2_np1 PROPERTIES FIXTURES_SETUP classify_omp2 FIXTURES_REQUIRED classify_sim_nofaults
                     WORKING_DIRECTORY ${EMI_CLS_OUT}/omp2)
foreach(other np2 np3 omp2)
  add_test(NAME classify_repro_np1_vs_${other}
           COMMAND ${H5DIFF_EXECUTABLE} -r --exclude-attribute / ${EMI_CLS_OUT}/np1/out.h5 ${EMI_CLS_OUT}/${other}/out.h5)
  if(other STREQUAL "omp2")
    set(fx classify_omp2)
  else()
    set(fx classify_${other})
  endif()
  set_tests_properties(classify_repro_np1_vs_${other} PROPERTIES LABELS repro TIMEOUT 60
                       FIXTURES_REQUIRED "classify_np1;${fx}")
endforeach()

file(MAKE_DIRECTORY ${EMI_CLS_OUT}/csv)
emi_add_mpi_test(NAME classify_csv RANKS 2 COMMAND $<TARGET_FILE:emflow> classify
                 ${EMI_CLS_OUT}/nofaults/sim_crossings.csv -o out.h5 ${EMI_CLS_ARGS} TIMEOUT 120)
set_tests_properties(classify_csv_np2 PROPERTIES FIXTURES_SETUP classify_csv FIXTURES_REQUIRED classify_sim_nofaults
                     WORKING_DIRECTORY ${EMI_CLS_OUT}/csv)
# the CSV path at 1 rank x 1 thread, 1 rank x 2 threads and 3 ranks: the parallel reader (windows cut into
# per-thread slices at line ends, byte ranges per rank) must give the bytes of the 2-rank run
file(MAKE_DIRECTORY ${EMI_CLS_OUT}/csv_np1 ${EMI_CLS_OUT}/csv_np3 ${EMI_CLS_OUT}/csv_omp2)
emi_add_mpi_test(NAME classify_csv RANKS 1 3 COMMAND $<TARGET_FILE:emflow> classify
                 ${EMI_CLS_OUT}/nofaults/sim_crossings.csv -o out.h5 ${EMI_CLS_ARGS} TIMEOUT 120)
emi_add_mpi_test(NAME classify_csv_omp2 RANKS 1 COMMAND $<TARGET_FILE:emflow> classify
                 ${EMI_CLS_OUT}/nofaults/sim_crossings.csv -o out.h5 ${EMI_CLS_ARGS} TIMEOUT 120
                 ENVIRONMENT OMP_NUM_THREADS=2)
foreach(v np1 np3 omp2)
  if(v STREQUAL "omp2")
    set(t classify_csv_omp2_np1)
  else()
    set(t classify_csv_${v})
  endif()
  set_tests_properties(${t} PROPERTIES FIXTURES_SETUP classify_csv_${v} FIXTURES_REQUIRED classify_sim_nofaults
                       WORKING_DIRECTORY ${EMI_CLS_OUT}/csv_${v})
endforeach()
foreach(other np3 omp2)
  add_test(NAME classify_csv_repro_np1_vs_${other}
           COMMAND ${H5DIFF_EXECUTABLE} -r --exclude-attribute / ${EMI_CLS_OUT}/csv_np1/out.h5
                   ${EMI_CLS_OUT}/csv_${other}/out.h5)
  set_tests_properties(classify_csv_repro_np1_vs_${other} PROPERTIES LABELS repro TIMEOUT 60
                       FIXTURES_REQUIRED "classify_csv_np1;classify_csv_${other}")
endforeach()
add_test(NAME classify_csv_repro_np1_vs_np2
         COMMAND ${H5DIFF_EXECUTABLE} -r --exclude-attribute / ${EMI_CLS_OUT}/csv_np1/out.h5 ${EMI_CLS_OUT}/csv/out.h5)
set_tests_properties(classify_csv_repro_np1_vs_np2 PROPERTIES LABELS repro TIMEOUT 60
                     FIXTURES_REQUIRED "classify_csv_np1;classify_csv")
foreach(ds migrant_departures migrant_arrivals pending_departures pending_arrivals rejects repairs provisional)
  add_test(NAME classify_csv_same_as_h5_${ds}
           COMMAND ${H5DIFF_EXECUTABLE} ${EMI_CLS_OUT}/np1/out.h5 ${EMI_CLS_OUT}/csv/out.h5 /linkage/${ds} /linkage/${ds})
  set_tests_properties(classify_csv_same_as_h5_${ds} PROPERTIES LABELS repro TIMEOUT 60
                       FIXTURES_REQUIRED "classify_np1;classify_csv")
endforeach()

if(PYTHON3_SYSTEM)
  add_test(NAME classify_exact COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/classify_check.py
           ${EMI_CLS_OUT}/np1/out.h5 ${EMI_CLS_OUT}/nofaults/sim.h5 exact --undeclared
           --arrivals-from ${EMI_CLS_OUT}/nofaults/persons.csv ${EMI_CLS_OUT}/nofaults/movements.csv --adjusted-exact)
  set_tests_properties(classify_exact PROPERTIES LABELS mpi TIMEOUT 120 FIXTURES_REQUIRED "classify_np1")

  file(MAKE_DIRECTORY ${EMI_CLS_OUT}/noloss)
  emi_add_mpi_test(NAME classify_noloss RANKS 1 COMMAND $<TARGET_FILE:emflow> classify
                   ${EMI_CLS_OUT}/nofaults/crossings.h5 -o out.h5 --declarations ${EMI_CLS_OUT}/nofaults/sim_declarations.csv
                   --period-start 2020-01 --period-end 2023-12 --no-nowcast --no-loss-adjustment TIMEOUT 120)
  set_tests_properties(classify_noloss_np1 PROPERTIES FIXTURES_SETUP classify_noloss
                       FIXTURES_REQUIRED classify_sim_nofaults WORKING_DIRECTORY ${EMI_CLS_OUT}/noloss)
  add_test(NAME classify_noloss_check COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/classify_check.py
           ${EMI_CLS_OUT}/noloss/out.h5 ${EMI_CLS_OUT}/nofaults/sim.h5 exact --undeclared
           --arrivals-from ${EMI_CLS_OUT}/nofaults/persons.csv ${EMI_CLS_OUT}/nofaults/movements.csv --no-adjusted)
  set_tests_properties(classify_noloss_check PROPERTIES LABELS mpi TIMEOUT 120 FIXTURES_REQUIRED classify_noloss)

  # the land border points of simulate's Azerbaijan profile (kernels/emi_sim.c: emi_sim_point_is_land)
  file(MAKE_DIRECTORY ${EMI_CLS_OUT}/faults/np3)
  emi_add_mpi_test(NAME classify_faults RANKS 2 3 COMMAND $<TARGET_FILE:emflow> classify
                   ${EMI_CLS_OUT}/faults/crossings.h5 -o out.h5 --declarations ${EMI_CLS_OUT}/faults/sim_declarations.csv
                   --link-table ${EMI_CLS_OUT}/faults/links.csv --period-start 2020-01 --period-end 2023-12 --no-nowcast
                   --land-border-points SAMUR,RED-BRIDGE,ASTARA,BILASUVAR,SADARAK TIMEOUT 120)
  set_tests_properties(classify_faults_np2 PROPERTIES FIXTURES_SETUP classify_faults
                       FIXTURES_REQUIRED classify_sim_faults WORKING_DIRECTORY ${EMI_CLS_OUT}/faults)
  set_tests_properties(classify_faults_np3 PROPERTIES FIXTURES_SETUP classify_faults_np3
                       FIXTURES_REQUIRED classify_sim_faults WORKING_DIRECTORY ${EMI_CLS_OUT}/faults/np3)
  add_test(NAME classify_faults_repro
           COMMAND ${H5DIFF_EXECUTABLE} -r --exclude-attribute / ${EMI_CLS_OUT}/faults/out.h5 ${EMI_CLS_OUT}/faults/np3/out.h5)
  set_tests_properties(classify_faults_repro PROPERTIES LABELS repro TIMEOUT 60
                       FIXTURES_REQUIRED "classify_faults;classify_faults_np3")
  add_test(NAME classify_faults_check COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/classify_check.py
           ${EMI_CLS_OUT}/faults/out.h5 ${EMI_CLS_OUT}/faults/sim.h5 0.07 --undeclared --adjusted 0.015,0.03,0.02)
  set_tests_properties(classify_faults_check PROPERTIES LABELS mpi TIMEOUT 120 FIXTURES_REQUIRED classify_faults)

  # The same at 20x the scale (seed 11, ~0.9 M records, ~20 s): the issue's bound, 1% of the true totals,
  # on the *_adjusted tables.  Measured: -0.15%, -0.01%, -0.14% (departures, arrivals, undeclared); at
  # scale 1 (seeds 21-23) all within +-0.2%.  The raw tables' bound, 8%: their known bias from unseen
  # losses (+3.1%, +6.1%, +4.5% here), which the adjustment removes.
  file(MAKE_DIRECTORY ${EMI_CLS_OUT}/faults_scale)
  emi_add_mpi_test(NAME classify_sim_faults_scale RANKS 2 COMMAND $<TARGET_FILE:emflow> simulate --scale 0.2
                   --start 2020-01 --months 48 --seed 11 -o sim.h5 --crossings-h5 crossings.h5 --no-crossings-csv
                   --link-table-out links.csv --log-level warn TIMEOUT 300)
  set_tests_properties(classify_sim_faults_scale_np2 PROPERTIES FIXTURES_SETUP classify_sim_faults_scale
                       WORKING_DIRECTORY ${EMI_CLS_OUT}/faults_scale)
  emi_add_mpi_test(NAME classify_faults_scale RANKS 2 COMMAND $<TARGET_FILE:emflow> classify
                   crossings.h5 -o out.h5 --declarations sim_declarations.csv --link-table links.csv
                   --period-start 2020-01 --period-end 2023-12 --no-nowcast --log-level warn
                   --land-border-points SAMUR,RED-BRIDGE,ASTARA,BILASUVAR,SADARAK TIMEOUT 300)
  set_tests_properties(classify_faults_scale_np2 PROPERTIES FIXTURES_SETUP classify_faults_scale
                       FIXTURES_REQUIRED classify_sim_faults_scale WORKING_DIRECTORY ${EMI_CLS_OUT}/faults_scale)
  add_test(NAME classify_faults_scale_check COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/classify_check.py
           ${EMI_CLS_OUT}/faults_scale/out.h5 ${EMI_CLS_OUT}/faults_scale/sim.h5 0.08 --undeclared
           --adjusted 0.01,0.01,0.01)
  set_tests_properties(classify_faults_scale_check PROPERTIES LABELS mpi TIMEOUT 120
                       FIXTURES_REQUIRED classify_faults_scale)

  add_test(NAME classify_loss_hand COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/classify_loss_hand.py
           $<TARGET_FILE:emflow> ${MPIEXEC_EXECUTABLE} ${EMI_CLS_OUT}/loss_hand)
  set_tests_properties(classify_loss_hand PROPERTIES LABELS mpi TIMEOUT 120 ENVIRONMENT "${EMI_MPI_TEST_ENV}")

  add_test(NAME classify_csv_layouts COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/classify_csv_layouts.py
           $<TARGET_FILE:emflow> ${MPIEXEC_EXECUTABLE} ${EMI_CLS_OUT}/nofaults/sim_crossings.csv ${EMI_CLS_OUT}/csv_layouts)
  set_tests_properties(classify_csv_layouts PROPERTIES LABELS "mpi;repro" TIMEOUT 300
                       FIXTURES_REQUIRED classify_sim_nofaults ENVIRONMENT "${EMI_MPI_TEST_ENV}")

  add_test(NAME classify_privacy COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/classify_privacy.py
           $<TARGET_FILE:emflow> ${MPIEXEC_EXECUTABLE} ${EMI_CLS_OUT}/nofaults/sim_crossings.csv
           ${EMI_CLS_OUT}/nofaults/sim_declarations.csv ${EMI_CLS_OUT}/privacy)
  set_tests_properties(classify_privacy PROPERTIES LABELS mpi TIMEOUT 120 FIXTURES_REQUIRED classify_sim_nofaults
                       ENVIRONMENT "${EMI_MPI_TEST_ENV}")

  add_test(NAME classify_data_span COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/classify_data_span.py
           $<TARGET_FILE:emflow> ${MPIEXEC_EXECUTABLE} ${EMI_CLS_OUT}/nofaults/sim_crossings.csv
           ${EMI_CLS_OUT}/nofaults/sim_declarations.csv ${EMI_CLS_OUT}/data_span)
  set_tests_properties(classify_data_span PROPERTIES LABELS mpi TIMEOUT 300 FIXTURES_REQUIRED classify_sim_nofaults
                       ENVIRONMENT "${EMI_MPI_TEST_ENV}")
endif()

# Link table: second documents as the only recording fault.
set(EMI_CLS_DOC2 ${EMI_CLS_OUT}/doc2)
file(MAKE_DIRECTORY ${EMI_CLS_DOC2})
emi_add_mpi_test(NAME classify_sim_doc2 RANKS 2 COMMAND $<TARGET_FILE:emflow> ${EMI_CLS_SIM} -o sim.h5
                 --crossings-h5 crossings.h5 --no-crossings-csv --link-table-out links.csv --persons-dump persons.csv
                 --movements-dump movements.csv --miss-exit-rate 0 --miss-entry-rate 0 --duplicate-rate 0
                 --date-error-rate 0 --late-rate 0 TIMEOUT 120)
set_tests_properties(classify_sim_doc2_np2 PROPERTIES FIXTURES_SETUP classify_sim_doc2 WORKING_DIRECTORY ${EMI_CLS_DOC2})
set(EMI_CLS_DOC2_ARGS ${EMI_CLS_DOC2}/crossings.h5 --declarations ${EMI_CLS_DOC2}/sim_declarations.csv
    --period-start 2020-01 --period-end 2023-12 --no-nowcast)
emi_add_mpi_test(NAME classify_link RANKS 2 3 COMMAND $<TARGET_FILE:emflow> classify ${EMI_CLS_DOC2_ARGS}
                 --link-table ${EMI_CLS_DOC2}/links.csv -o link.h5 TIMEOUT 120)
set_tests_properties(classify_link_np2 PROPERTIES FIXTURES_SETUP classify_link FIXTURES_REQUIRED classify_sim_doc2
                     WORKING_DIRECTORY ${EMI_CLS_DOC2})
file(MAKE_DIRECTORY ${EMI_CLS_DOC2}/np3)
set_tests_properties(classify_link_np3 PROPERTIES FIXTURES_SETUP classify_link_np3 FIXTURES_REQUIRED classify_sim_doc2
                     WORKING_DIRECTORY ${EMI_CLS_DOC2}/np3)
add_test(NAME classify_link_repro_np3
         COMMAND ${H5DIFF_EXECUTABLE} -r --exclude-attribute / ${EMI_CLS_DOC2}/link.h5 ${EMI_CLS_DOC2}/np3/link.h5)
set_tests_properties(classify_link_repro_np3 PROPERTIES LABELS repro TIMEOUT 60
                     FIXTURES_REQUIRED "classify_link;classify_link_np3")
emi_add_mpi_test(NAME classify_nolink RANKS 2 COMMAND $<TARGET_FILE:emflow> classify ${EMI_CLS_DOC2_ARGS} -o nolink.h5
                 TIMEOUT 120)
set_tests_properties(classify_nolink_np2 PROPERTIES FIXTURES_SETUP classify_nolink FIXTURES_REQUIRED classify_sim_doc2
                     WORKING_DIRECTORY ${EMI_CLS_DOC2})
if(PYTHON3_SYSTEM)
  add_test(NAME classify_link_exact COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/classify_check.py
           ${EMI_CLS_DOC2}/link.h5 ${EMI_CLS_DOC2}/sim.h5 exact --undeclared
           --arrivals-from ${EMI_CLS_DOC2}/persons.csv ${EMI_CLS_DOC2}/movements.csv --doc-citizenship)
  set_tests_properties(classify_link_exact PROPERTIES LABELS mpi TIMEOUT 120 FIXTURES_REQUIRED classify_link)
  add_test(NAME classify_link_table COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/classify_link_table.py
           $<TARGET_FILE:emflow> ${MPIEXEC_EXECUTABLE} ${EMI_CLS_DOC2} ${EMI_CLS_DOC2}/work)
  set_tests_properties(classify_link_table PROPERTIES LABELS mpi TIMEOUT 180
                       FIXTURES_REQUIRED "classify_link;classify_nolink" ENVIRONMENT "${EMI_MPI_TEST_ENV}")
endif()
