/* emi_sim.h: one synthetic traveller of `emflow simulate`: attributes, true day-by-day movements,
 * the 12/16 truth, declared emigration and the recording faults.  Pure: no I/O, no MPI, no
 * allocation (the caller gives the buffers), no globals.
 *
 * Determinism.  Person i is a function of (seed, i, parameters) only: every random quantity comes
 * from a Philox stream keyed by (seed, purpose, entity = i, step) (emi_philox.h), with one purpose
 * per kind of draw (EMI_SIM_P_*), so a person is the same whatever rank or thread simulates it and
 * whatever else is simulated.
 *
 * Population.  Every person has an ANCHOR event in a month of the simulated history (burn-in +
 * period + tail): a resident's first trip of an active spell, an emigrant's departure, a return
 * migrant's return, a circular migrant's first departure, a foreigner's first arrival.  Person i's
 * (type, anchor month) is drawn from the categorical distribution with weights
 *     share[type] * weight[type](month) * closure(month)
 * (the caller builds its cumulative table, emi_sim_cells_t), so the expected number of persons
 * anchored in a month is population * scale / 12 * share * weight * closure, whatever the length of
 * the run.  The behaviours (defaults in emi_sim_params_default, documented in inputs/azerbaijan_sim.ini):
 *   RESIDENT   citizen; trips abroad at a person-specific rate (gamma heterogeneity), seasonal
 *              (summer peak), geometric stays, during an active spell of resident_span_days
 *   EMIGRANT   citizen; 0-2 short trips in the year before, leaves at the anchor, visits home
 *              (short), returns for good after 2-6 years with probability emigrant_return_share
 *   RETURNER   citizen abroad since before the history; maybe a short visit, returns at the anchor
 *   CIRCULAR   citizen; cycles abroad U(circ_abroad_min, max) days / home U(circ_home_min, max) days
 *              for circular_span_days: absences just short of or beyond 12 of 16 months
 *   VISITOR    foreigner; short stays, repeat visits with probability visitor_repeat
 *   FREQUENT   foreigner crossing often (drivers, traders): a stay of ~frequent_stay_days every
 *              ~frequent_gap_days during an active spell
 *   WORKER     foreign worker or student: stays U(worker_stay_min, max) days, home visits, leaves
 *   IMMIGRANT  foreigner who settles: arrives, stays, occasional trips
 *   OVERSTAYER foreigner who enters and is never recorded leaving (and does not leave)
 * A closure (closure_factor over [closure_lo_day, closure_hi_day)) multiplies the rate of every
 * trip start (thinning) and the anchor weights; return legs are never blocked.  Frequent travellers
 * are exempt (freight drivers and traders kept crossing during 2020's closures).
 * Every stay and every gap is at least one day, so a person crosses at most once a day.
 *
 * Truth.  emi_rule1216_classify_ref on all true movements (history start .. tail end), status
 * before the first crossing from its direction (issue 4's default).  Each migrant departure is
 * declared with probability coverage * sex factor * age factor (* foreign factor for foreigners)
 * * citizenship factor (declare_cit_factor[cit], 1 unless set), capped at 1, on a day departure + N(-7, 30) days clamped to [-90, +365] (issue 4's matching
 * window).
 *
 * Faults (drawn per true movement, from purpose EMI_SIM_P_FAULT, step = movement index):
 *   missed exit / missed entry (rate x land_factor at land border points): no record;
 *   late: delay 1 + geometric(late_days_mean) days: records whose delay ends on or after the data
 *     end are missing from the file (LATE_MISSING), the others come after the person's other
 *     records (LATE_REORDERED);
 *   duplicate: a second record 1-15 minutes later;
 *   date error: off by one day (either way), or day and month swapped (only when the day is <= 12
 *     and differs from the month, so the date stays valid; otherwise no error is made);
 *   second document: a dual citizen's crossing recorded under the second passport (other key and
 *     citizenship).
 * A fault is counted (and a record written) only for movements whose TRUE day is in the period.
 */
#ifndef EMI_SIM_H
#define EMI_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "emi_err.h"
#include "emi_philox.h"

enum {
  EMI_SIM_RESIDENT, EMI_SIM_EMIGRANT, EMI_SIM_RETURNER, EMI_SIM_CIRCULAR, EMI_SIM_VISITOR,
  EMI_SIM_FREQUENT, EMI_SIM_WORKER, EMI_SIM_IMMIGRANT, EMI_SIM_OVERSTAYER, EMI_SIM_NTYPES
};
extern const char *const emi_sim_type_names[EMI_SIM_NTYPES];
/* 1 for the citizens' behaviours (RESIDENT .. CIRCULAR), 0 for foreigners. */
int emi_sim_type_is_citizen(int type);

/* Fault kinds, counted in the truth file. */
enum {
  EMI_FAULT_MISSED_EXIT, EMI_FAULT_MISSED_ENTRY, EMI_FAULT_DUPLICATE, EMI_FAULT_DATE_OFF_BY_ONE,
  EMI_FAULT_DATE_SWAP, EMI_FAULT_SECOND_DOCUMENT, EMI_FAULT_LATE_REORDERED, EMI_FAULT_LATE_MISSING,
  EMI_NFAULTS
};
extern const char *const emi_fault_names[EMI_NFAULTS];

/* Stream purposes (16 bits). */
enum {
  EMI_SIM_P_ATTR = 0x5100, EMI_SIM_P_KEY, EMI_SIM_P_TRIPS, EMI_SIM_P_FAULT, EMI_SIM_P_DECL, EMI_SIM_P_POINT
};

/* Border points: code, 1 if a land crossing. */
#define EMI_SIM_NPOINTS 8
extern const char *const emi_sim_point_codes[EMI_SIM_NPOINTS];
extern const uint8_t emi_sim_point_is_land[EMI_SIM_NPOINTS];

#define EMI_SIM_MAX_CODES 64 /* citizenship / destination codes */

typedef struct {
  /* calendar (days since 1970-01-01) */
  int32_t hist_lo_day, hist_hi_day; /* simulated history [lo, hi) */
  int32_t period_lo_day, period_hi_day; /* output period [lo, hi): records, declarations, tables */
  int32_t closure_lo_day, closure_hi_day;
  double closure_factor;
  /* codes: index 0 of codes[] is the home country; foreign citizenships and destinations index it */
  int ncodes;
  char codes[EMI_SIM_MAX_CODES][4];
  int nforeign; int foreign_code[EMI_SIM_MAX_CODES]; double foreign_cum[EMI_SIM_MAX_CODES];
  int ndest; int dest_code[EMI_SIM_MAX_CODES]; double dest_cum[EMI_SIM_MAX_CODES];
  double dual_share;            /* citizens with a second citizenship (drawn from the destinations) */
  /* behaviour */
  double resident_trips_per_year, resident_trip_days_mean, resident_rate_shape, resident_span_days;
  double emigrant_return_share, emigrant_visits_per_year;
  double circ_abroad_min, circ_abroad_max, circ_home_min, circ_home_max, circular_span_days;
  double visitor_stay_days_mean, visitor_repeat, visitor_gap_days_mean;
  double frequent_stay_days_mean, frequent_gap_days_mean, frequent_span_days_mean;
  double worker_stay_min, worker_stay_max, worker_visits_per_year;
  double immigrant_trips_per_year;
  double male_share[EMI_SIM_NTYPES], age_mean[EMI_SIM_NTYPES], age_sd[EMI_SIM_NTYPES];
  /* declarations */
  double declare_coverage, declare_female_factor, declare_foreign_factor, declare_age_factor[7];
  double declare_cit_factor[EMI_SIM_MAX_CODES]; /* by the person's (first) citizenship, index into codes[] */
  /* faults */
  double miss_exit_rate, miss_entry_rate, miss_land_factor, dup_rate, date_error_rate, date_swap_share;
  double doc2_rate, late_rate, late_days_mean;
} emi_sim_params_t;

/* Fill p with the documented defaults (no codes: the caller adds them). */
void emi_sim_params_default(emi_sim_params_t *p);
/* Check every rate, share and range; EMI_ERR_CONFIG naming the field and its allowed range. */
emi_err_t emi_sim_params_check(const emi_sim_params_t *p);

/* One true movement and its recording. */
typedef struct {
  int32_t day, sec;         /* true date (days since 1970-01-01) and second of the day */
  int32_t rec_day;          /* recorded date (date errors applied) */
  int32_t decl_day;         /* declaration date when `declared` */
  uint8_t dir;              /* EMI_DIR_IN / EMI_DIR_OUT */
  uint8_t point;            /* border point index */
  uint8_t cls;              /* truth: EMI_CLASS_* */
  uint8_t declared;         /* a migrant departure with a declaration */
  uint8_t doc;              /* 0: first document, 1: second */
  uint16_t faults;          /* bit k set: fault k (EMI_FAULT_*) */
  int16_t dup_sec;          /* seconds after the original of the duplicate record */
} emi_sim_move_t;

typedef struct {
  uint64_t index;
  char key[2][25];          /* random tokens (24 hex digits); key[1] only for dual citizens */
  int type, cit, cit2;      /* cit, cit2: indices into codes[] (cit2 = -1: none) */
  int dest;                 /* index into codes[]: destination of a citizen's emigration */
  int sex;                  /* 0 male, 1 female */
  int birth_year;
  int32_t anchor_day;
  int nmoves;
  int truncated;            /* 1 if trips were cut at the buffer capacity */
} emi_sim_person_t;

/* The (type, anchor month) table: cum[k * nmonths + m] cumulative weights (last = total). */
typedef struct {
  int nmonths;              /* months of the history */
  int month0;               /* first month (months since year 0) */
  double *cum;              /* EMI_SIM_NTYPES * nmonths, caller-owned */
} emi_sim_cells_t;

/* Scratch arrays of the caller, each of the same capacity as the moves. */
typedef struct {
  int32_t *day;
  uint8_t *dir, *cls;
} emi_sim_work_t;

/* Simulate person `index` into *person and moves[0 .. cap-1] (trips beyond the capacity are not
 * simulated and person->truncated is set).  cells: the anchor table.  work: scratch of cap entries. */
emi_err_t emi_sim_person(const emi_sim_params_t *p, const emi_sim_cells_t *cells, uint64_t seed, uint64_t index,
                         emi_sim_person_t *person, emi_sim_move_t *moves, int cap, emi_sim_work_t *work);

/* Calendar helpers. */
int32_t emi_days_from_civil(int y, int m, int d);
void emi_civil_from_days(int32_t z, int *y, int *m, int *d);

#endif /* EMI_SIM_H */
