# emflow forecast (issue 7, first part): scenario trajectories from the posterior of emflow estimate.
#   forecast_np{1,2,3}, forecast_omp2_np2  the border-model fit of estimate_border (synthetic, known
#                                       truth) forecast 4 quarters under baseline, destination-shock and
#                                       coverage-change, 1001 trajectories stored
#   forecast_repro_np1_vs_*             h5diff: the same bytes at 1, 2, 3 ranks and 2 threads  [repro]
#   forecast_exact                      means, type-7 quantiles, exceedances and totals equal numpy's on
#                                       the stored trajectories (forecast_check.py exact)
#   forecast_nz_backtest                the real Stats NZ series: fit 1979-2006, forecast 2007-2016, report
#                                       how often the actual departures fall inside the 80% / 95% intervals
#   forecast_de_np2, forecast_de_exact  the double-entry posterior of estimate_np1: country totals, exact
#   forecast_bad_input                  unknown scenario or destination, inverted range, horizon 0, a file
#                                       without a posterior: one clear error each
set(EMI_FC_OUT ${CMAKE_CURRENT_BINARY_DIR}/forecast_out)
set(EMI_FC_ARGS forecast --posterior ${CMAKE_CURRENT_BINARY_DIR}/estimate_border_out/np1/out.h5 -o fc.h5 --horizon 4
    --trajectories 1001 --scenarios baseline --scenarios destination-shock --scenarios coverage-change
    --destination G003 --coverage-from 2016-Q3 --thresholds 1000 --thresholds 5000 --store-trajectories)
foreach(run np1 np2 np3 omp2)
  file(MAKE_DIRECTORY ${EMI_FC_OUT}/${run})
endforeach()
foreach(np 1 2 3)
  emi_add_mpi_test(NAME forecast RANKS ${np} COMMAND $<TARGET_FILE:emflow> ${EMI_FC_ARGS})
  set_tests_properties(forecast_np${np} PROPERTIES FIXTURES_SETUP forecast_np${np} FIXTURES_REQUIRED estimate_border_np1
                       WORKING_DIRECTORY ${EMI_FC_OUT}/np${np})
endforeach()
emi_add_mpi_test(NAME forecast_omp2 RANKS 2 COMMAND $<TARGET_FILE:emflow> ${EMI_FC_ARGS} ENVIRONMENT OMP_NUM_THREADS=2)
set_tests_properties(forecast_omp2_np2 PROPERTIES FIXTURES_SETUP forecast_omp2 FIXTURES_REQUIRED estimate_border_np1
                     WORKING_DIRECTORY ${EMI_FC_OUT}/omp2)
foreach(run np2 np3 omp2)
  set(fx forecast_${run})
  if(run STREQUAL "omp2")
    set(fx forecast_omp2)
  endif()
  add_test(NAME forecast_repro_np1_vs_${run}
           COMMAND ${H5DIFF_EXECUTABLE} -r --exclude-attribute / ${EMI_FC_OUT}/np1/fc.h5 ${EMI_FC_OUT}/${run}/fc.h5)
  set_tests_properties(forecast_repro_np1_vs_${run} PROPERTIES LABELS repro TIMEOUT 60 FIXTURES_REQUIRED "forecast_np1;${fx}")
endforeach()
if(PYTHON3_SYSTEM)
  add_test(NAME forecast_exact COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/forecast_check.py exact ${EMI_FC_OUT}/np1/fc.h5)
  set_tests_properties(forecast_exact PROPERTIES LABELS mpi TIMEOUT 60 FIXTURES_REQUIRED forecast_np1)
  file(MAKE_DIRECTORY ${EMI_FC_OUT}/nz)
  add_test(NAME forecast_nz_backtest
           COMMAND bash -c "'$<TARGET_FILE:emflow>' estimate --config '${PROJECT_SOURCE_DIR}/inputs/nz.ini' --last-year 2006 -o nz06.h5 && '$<TARGET_FILE:emflow>' forecast --posterior nz06.h5 -o fc.h5 --horizon 10 --trajectories 4000 && '${PYTHON3_SYSTEM}' '${CMAKE_CURRENT_LIST_DIR}/forecast_check.py' backtest fc.h5 '${PROJECT_SOURCE_DIR}/inputs/nz_plt_by_citizenship_1979_2016.csv'"
           WORKING_DIRECTORY ${EMI_FC_OUT}/nz)
  set_tests_properties(forecast_nz_backtest PROPERTIES LABELS mpi TIMEOUT 180 ENVIRONMENT "${EMI_MPI_TEST_ENV}")
endif()
add_test(NAME forecast_bad_input
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/forecast_bad_input.sh $<TARGET_FILE:emflow>
                 ${CMAKE_CURRENT_BINARY_DIR}/estimate_border_out/np1/out.h5 ${EMI_FC_OUT}/bad)
set_tests_properties(forecast_bad_input PROPERTIES LABELS mpi TIMEOUT 120 ENVIRONMENT "${EMI_MPI_TEST_ENV}"
                     FIXTURES_REQUIRED estimate_border_np1)

# The double-entry posterior (eight real EU countries, estimate_np1 of estimate.cmake): countries'
# emigration totals, a destination shock on DEU, at 2 ranks; exact against numpy.
file(MAKE_DIRECTORY ${EMI_FC_OUT}/de)
emi_add_mpi_test(NAME forecast_de RANKS 2
                 COMMAND $<TARGET_FILE:emflow> forecast --posterior ${CMAKE_CURRENT_BINARY_DIR}/estimate_out/np1/est.h5
                         -o fc.h5 --horizon 5 --trajectories 999 --scenarios baseline --scenarios destination-shock
                         --destination DEU --destination-factor 2 --scenarios mobility-shock --store-trajectories)
set_tests_properties(forecast_de_np2 PROPERTIES FIXTURES_SETUP forecast_de FIXTURES_REQUIRED estimate_np1
                     WORKING_DIRECTORY ${EMI_FC_OUT}/de)
if(PYTHON3_SYSTEM)
  add_test(NAME forecast_de_exact COMMAND ${PYTHON3_SYSTEM} ${CMAKE_CURRENT_LIST_DIR}/forecast_check.py exact ${EMI_FC_OUT}/de/fc.h5)
  set_tests_properties(forecast_de_exact PROPERTIES LABELS mpi TIMEOUT 60 FIXTURES_REQUIRED forecast_de)
endif()

# Scenarios as sections of the config file ([scenario.NAME]): all four kinds, then one of them alone
# (--scenarios closure-2016) gives the same numbers (streams keyed by the scenario's name); the
# descriptions stored with each scenario, and under coverage 0.9 from 2017-Q1 the undeclared share of
# the total is 1 - 0.9 = 0.1 (Binomial declared split).
file(MAKE_DIRECTORY ${EMI_FC_OUT}/cfg ${EMI_FC_OUT}/cfg_one)
set(EMI_FC_CFG ${PROJECT_SOURCE_DIR}/tests/data/forecast/scenarios.ini)
set(EMI_FC_POST ${CMAKE_CURRENT_BINARY_DIR}/estimate_border_out/np1/out.h5)
emi_add_mpi_test(NAME forecast_config RANKS 2
                 COMMAND $<TARGET_FILE:emflow> forecast --config ${EMI_FC_CFG} --posterior ${EMI_FC_POST} -o fc.h5)
set_tests_properties(forecast_config_np2 PROPERTIES FIXTURES_SETUP forecast_config FIXTURES_REQUIRED estimate_border_np1
                     WORKING_DIRECTORY ${EMI_FC_OUT}/cfg)
emi_add_mpi_test(NAME forecast_config_one RANKS 1
                 COMMAND $<TARGET_FILE:emflow> forecast --config ${EMI_FC_CFG} --posterior ${EMI_FC_POST} -o fc.h5
                         --scenarios closure-2016)
set_tests_properties(forecast_config_one_np1 PROPERTIES FIXTURES_SETUP forecast_config_one
                     FIXTURES_REQUIRED estimate_border_np1 WORKING_DIRECTORY ${EMI_FC_OUT}/cfg_one)
add_test(NAME forecast_config_same_stream
         COMMAND ${H5DIFF_EXECUTABLE} ${EMI_FC_OUT}/cfg/fc.h5 ${EMI_FC_OUT}/cfg_one/fc.h5 /forecast/closure-2016/flows
                 /forecast/closure-2016/flows)
set_tests_properties(forecast_config_same_stream PROPERTIES LABELS repro TIMEOUT 60
                     FIXTURES_REQUIRED "forecast_config;forecast_config_one")
if(PYTHON3_SYSTEM)
  add_test(NAME forecast_config_check
           COMMAND ${PYTHON3_SYSTEM} -c "import h5py, sys; f = h5py.File(sys.argv[1], 'r'); g = f['/forecast']; names = sorted(k for k in g if hasattr(g[k], 'keys')); assert names == ['baseline', 'better-dereg', 'closure-2016', 'g003-boom'], names; d = {k: g[k].attrs['scenario'] for k in names}; assert d['closure-2016'] == 'mobility-shock: every flow x 0.25 from 2016-Q2 to 2016-Q4', d; assert d['g003-boom'] == 'destination-shock: the flows into G003 x 2 from 2016-Q1 to 2017-Q4', d; assert d['better-dereg'] == 'coverage-change: declaration coverage 0.9 from 2017-Q1', d; u = g['better-dereg/undeclared'][-1, :, 0]; f0 = g['better-dereg/flows'][-1, :, 0]; r = u[4:] / f0[4:]; assert abs(r.mean() - 0.1) < 0.01, r; print('scenario sections ok; undeclared share under coverage 0.9:', r.round(3))" ${EMI_FC_OUT}/cfg/fc.h5)
  set_tests_properties(forecast_config_check PROPERTIES LABELS mpi TIMEOUT 60 FIXTURES_REQUIRED forecast_config)
endif()
