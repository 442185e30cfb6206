/* emi_sim.c: see emi_sim.h. */
#include "emi_sim.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "emi_dist.h"
#include "emi_rule1216.h"

const char *const emi_sim_type_names[EMI_SIM_NTYPES] = {"resident", "emigrant", "returner", "circular", "visitor",
                                                        "frequent", "worker", "immigrant", "overstayer"};
const char *const emi_fault_names[EMI_NFAULTS] = {"missed_exit", "missed_entry", "duplicate", "date_off_by_one",
                                                  "date_day_month_swap", "second_document", "late_reordered",
                                                  "late_missing"};
const char *const emi_sim_point_codes[EMI_SIM_NPOINTS] = {"GYD", "GNJ", "BAKU-PORT", "SAMUR",
                                                          "RED-BRIDGE", "ASTARA", "BILASUVAR", "SADARAK"};
const uint8_t emi_sim_point_is_land[EMI_SIM_NPOINTS] = {0, 0, 0, 1, 1, 1, 1, 1};

int emi_sim_type_is_citizen(int type) { return type <= EMI_SIM_CIRCULAR; }

/* ------------------------------------------------------------------ calendar (H. Hinnant) */
int32_t emi_days_from_civil(int y, int m, int d)
{
  y -= m <= 2;
  int era = (y >= 0 ? y : y - 399) / 400;
  int yoe = y - era * 400;
  int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return (int32_t)(era * 146097 + doe - 719468);
}

void emi_civil_from_days(int32_t z, int *y, int *m, int *d)
{
  z += 719468;
  int era = (z >= 0 ? z : z - 146096) / 146097;
  int doe = z - era * 146097;
  int yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp + (mp < 10 ? 3 : -9);
  *y = yoe + era * 400 + (*m <= 2);
}

/* ------------------------------------------------------------------ parameters */
void emi_sim_params_default(emi_sim_params_t *p)
{
  memset(p, 0, sizeof *p);
  p->closure_factor = 1.0;
  p->dual_share = 0.03;
  p->resident_trips_per_year = 2.0, p->resident_trip_days_mean = 12.0, p->resident_rate_shape = 1.5;
  p->resident_span_days = 730.0;
  p->emigrant_return_share = 0.25, p->emigrant_visits_per_year = 0.5;
  p->circ_abroad_min = 240, p->circ_abroad_max = 330, p->circ_home_min = 30, p->circ_home_max = 150;
  p->circular_span_days = 1095;
  p->visitor_stay_days_mean = 7, p->visitor_repeat = 0.3, p->visitor_gap_days_mean = 150;
  p->frequent_stay_days_mean = 3, p->frequent_gap_days_mean = 30, p->frequent_span_days_mean = 365;
  p->worker_stay_min = 180, p->worker_stay_max = 1460, p->worker_visits_per_year = 1.0;
  p->immigrant_trips_per_year = 0.5;
  static const double male[EMI_SIM_NTYPES] = {0.5, 0.6, 0.6, 0.85, 0.6, 0.9, 0.7, 0.5, 0.7};
  static const double age[EMI_SIM_NTYPES] = {40, 30, 38, 35, 40, 42, 30, 35, 32};
  static const double sd[EMI_SIM_NTYPES] = {16, 9, 11, 9, 14, 10, 8, 12, 9};
  memcpy(p->male_share, male, sizeof male);
  memcpy(p->age_mean, age, sizeof age);
  memcpy(p->age_sd, sd, sizeof sd);
  p->declare_coverage = 0.3, p->declare_female_factor = 1.2, p->declare_foreign_factor = 0.3;
  static const double af[7] = {1.0, 0.8, 0.9, 1.0, 1.1, 1.3, 1.5};
  memcpy(p->declare_age_factor, af, sizeof af);
  for (int k = 0; k < EMI_SIM_MAX_CODES; k++) p->declare_cit_factor[k] = 1.0;
  p->miss_exit_rate = 0.002, p->miss_entry_rate = 0.001, p->miss_land_factor = 5.0;
  p->dup_rate = 0.003, p->date_error_rate = 0.001, p->date_swap_share = 0.3;
  p->doc2_rate = 0.3, p->late_rate = 0.005, p->late_days_mean = 20;
}

#define CHECK_RANGE(field, lo, hi)                                                                             \
  do {                                                                                                       \
    if (!(p->field >= (lo) && p->field <= (hi)))                                                             \
      return EMI_ERROR(EMI_ERR_CONFIG, "simulate: %s = %g is out of range: expected a value in [%g, %g]", #field, \
                       p->field, (double)(lo), (double)(hi));                                                \
  } while (0)

emi_err_t emi_sim_params_check(const emi_sim_params_t *p)
{
  CHECK_RANGE(closure_factor, 0, 100);
  CHECK_RANGE(dual_share, 0, 1);
  CHECK_RANGE(resident_trips_per_year, 0, 365);
  CHECK_RANGE(resident_trip_days_mean, 1, 365);
  CHECK_RANGE(resident_rate_shape, 0.01, 1000);
  CHECK_RANGE(resident_span_days, 1, 36500);
  CHECK_RANGE(emigrant_return_share, 0, 1);
  CHECK_RANGE(emigrant_visits_per_year, 0, 12);
  CHECK_RANGE(circ_abroad_min, 1, 3650);
  CHECK_RANGE(circ_abroad_max, p->circ_abroad_min, 3650);
  CHECK_RANGE(circ_home_min, 1, 3650);
  CHECK_RANGE(circ_home_max, p->circ_home_min, 3650);
  CHECK_RANGE(circular_span_days, 1, 36500);
  CHECK_RANGE(visitor_stay_days_mean, 1, 365);
  CHECK_RANGE(visitor_repeat, 0, 0.99);
  CHECK_RANGE(visitor_gap_days_mean, 1, 3650);
  CHECK_RANGE(frequent_stay_days_mean, 1, 365);
  CHECK_RANGE(frequent_gap_days_mean, 1, 3650);
  CHECK_RANGE(frequent_span_days_mean, 1, 36500);
  CHECK_RANGE(worker_stay_min, 1, 36500);
  CHECK_RANGE(worker_stay_max, p->worker_stay_min, 36500);
  CHECK_RANGE(worker_visits_per_year, 0, 52);
  CHECK_RANGE(immigrant_trips_per_year, 0, 52);
  for (int k = 0; k < EMI_SIM_NTYPES; k++) {
    CHECK_RANGE(male_share[k], 0, 1);
    CHECK_RANGE(age_mean[k], 0, 100);
    CHECK_RANGE(age_sd[k], 0, 50);
  }
  CHECK_RANGE(declare_coverage, 0, 1);
  CHECK_RANGE(declare_female_factor, 0, 100);
  CHECK_RANGE(declare_foreign_factor, 0, 100);
  for (int k = 0; k < 7; k++) CHECK_RANGE(declare_age_factor[k], 0, 100);
  for (int k = 0; k < EMI_SIM_MAX_CODES; k++) CHECK_RANGE(declare_cit_factor[k], 0, 100);
  CHECK_RANGE(miss_exit_rate, 0, 1);
  CHECK_RANGE(miss_entry_rate, 0, 1);
  CHECK_RANGE(miss_land_factor, 0, 1000);
  CHECK_RANGE(dup_rate, 0, 1);
  CHECK_RANGE(date_error_rate, 0, 1);
  CHECK_RANGE(date_swap_share, 0, 1);
  CHECK_RANGE(doc2_rate, 0, 1);
  CHECK_RANGE(late_rate, 0, 1);
  CHECK_RANGE(late_days_mean, 1, 3650);
  if (p->ncodes < 1 || p->nforeign < 1 || p->ndest < 1)
    return EMI_ERROR(EMI_ERR_CONFIG, "simulate: need the home country, at least one foreign citizenship and one "
                     "destination");
  if (p->hist_lo_day > p->period_lo_day || p->period_lo_day >= p->period_hi_day || p->period_hi_day > p->hist_hi_day)
    return EMI_ERROR(EMI_ERR_CONFIG, "simulate: inconsistent calendar (history %d..%d, period %d..%d)",
                     (int)p->hist_lo_day, (int)p->hist_hi_day, (int)p->period_lo_day, (int)p->period_hi_day);
  return EMI_SUCCESS;
}

/* ------------------------------------------------------------------ helpers */
typedef struct {
  const emi_sim_params_t *p;
  emi_sim_move_t *mv;
  int n, cap, truncated;
  emi_stream_t *s;
} builder_t;

static int pick_cum(const double *cum, int n, double u)
{
  double x = u * cum[n - 1];
  int lo = 0, hi = n - 1;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (cum[mid] > x) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/* Uniform integer in [a, b] (inclusive). */
static int32_t unif_int(emi_stream_t *s, double a, double b)
{
  double x = a + floor(emi_uniform_01(s) * (b - a + 1.0));
  return (int32_t)(x > b ? b : x);
}

/* 1 + geometric with mean `mean` (>= 1). */
static int32_t geom1(emi_stream_t *s, double mean)
{
  if (mean <= 1.0) return 1;
  double q = 1.0 / mean; /* success probability */
  double g = floor(log(emi_uniform(s)) / log1p(-q));
  if (g > 36500) g = 36500;
  return 1 + (int32_t)g;
}

static double closure_at(const emi_sim_params_t *p, int32_t day)
{
  return (day >= p->closure_lo_day && day < p->closure_hi_day) ? p->closure_factor : 1.0;
}

/* Next trip start after day `from` for a Poisson rate `per_year` (times closure, times a summer season
 * factor when seasonal), by thinning.  Returns a day >= from + 1, or INT32_MAX beyond `until`. */
static int32_t next_start(const emi_sim_params_t *p, emi_stream_t *s, int32_t from, int32_t until, double per_year,
                          int seasonal)
{
  if (per_year <= 0) return INT32_MAX;
  int closure = seasonal >= 0; /* seasonal = -1: exempt from the closure and not seasonal */
  if (seasonal < 0) seasonal = 0;
  double cmax = closure && p->closure_factor > 1.0 ? p->closure_factor : 1.0;
  double smax = seasonal ? 1.5 : 1.0;
  double rate = per_year / 365.25 * cmax * smax;
  double t = from;
  for (;;) {
    t += emi_std_exponential(s) / rate;
    if (t >= until) return INT32_MAX;
    int32_t d = (int32_t)ceil(t);
    if (d <= from) d = from + 1;
    double acc = (closure ? closure_at(p, d) : 1.0) / cmax;
    if (seasonal) {
      int y, m, dd;
      emi_civil_from_days(d, &y, &m, &dd);
      double doy = d - emi_days_from_civil(y, 1, 1);
      acc *= (1.0 + 0.5 * cos(2.0 * 3.14159265358979323846 * (doy - 200.0) / 365.25)) / smax;
    }
    if (emi_uniform_01(s) < acc) return d;
  }
}

static void add_move(builder_t *b, int32_t day, uint8_t dir)
{
  if (day < b->p->hist_lo_day || day >= b->p->hist_hi_day) return;
  if (b->n > 0 && day <= b->mv[b->n - 1].day) return; /* at most one crossing a day (callers keep gaps >= 1) */
  if (b->n > 0 && dir == b->mv[b->n - 1].dir) return;  /* true movements alternate */
  if (b->n >= b->cap) {
    b->truncated = 1;
    return;
  }
  emi_sim_move_t *m = &b->mv[b->n++];
  memset(m, 0, sizeof *m);
  m->day = day;
  m->dir = dir;
}

/* A round trip leaving from `home` side: first leg dir1 on day a, back on day a + len. */
static void trip(builder_t *b, int32_t a, int32_t len, uint8_t dir1)
{
  add_move(b, a, dir1);
  add_move(b, a + (len < 1 ? 1 : len), (uint8_t)!dir1);
}

/* ------------------------------------------------------------------ behaviours */
static void sim_resident(builder_t *b, int32_t anchor)
{
  const emi_sim_params_t *p = b->p;
  emi_stream_t *s = b->s;
  double g = 0;
  emi_gamma_draw(s, p->resident_rate_shape, p->resident_trips_per_year / p->resident_rate_shape, &g);
  int32_t until = anchor + (int32_t)p->resident_span_days, t = anchor - 1;
  if (until > p->hist_hi_day) until = p->hist_hi_day;
  /* the first trip starts at the anchor, the following ones at the person's rate */
  for (int first = 1;; first = 0) {
    int32_t a = first ? anchor : next_start(p, s, t, until, g, 1);
    if (a == INT32_MAX || a >= until) break;
    int32_t len = geom1(s, p->resident_trip_days_mean);
    trip(b, a, len, EMI_DIR_OUT);
    t = a + len;
  }
}

static void sim_emigrant(builder_t *b, int32_t anchor)
{
  const emi_sim_params_t *p = b->p;
  emi_stream_t *s = b->s;
  int64_t k = 0;
  emi_poisson_draw(s, 0.7, &k);
  int32_t t = anchor - 365;
  for (int64_t j = 0; j < k; j++) { /* short trips in the year before, in order */
    int32_t a = t + unif_int(s, 1, 100);
    int32_t len = geom1(s, 10);
    if (a + len >= anchor - 1) break;
    trip(b, a, len, EMI_DIR_OUT);
    t = a + len;
  }
  add_move(b, anchor, EMI_DIR_OUT);
  int32_t back = INT32_MAX;
  if (emi_uniform_01(s) < p->emigrant_return_share) back = anchor + unif_int(s, 730, 2190);
  t = anchor;
  for (;;) { /* short visits home while abroad */
    int32_t a = next_start(p, s, t + 20, back < p->hist_hi_day ? back : p->hist_hi_day, p->emigrant_visits_per_year, 1);
    if (a == INT32_MAX) break;
    int32_t len = unif_int(s, 5, 30);
    if (back != INT32_MAX && a + len + 1 >= back) break;
    trip(b, a, len, EMI_DIR_IN);
    t = a + len;
  }
  if (back != INT32_MAX) add_move(b, back, EMI_DIR_IN);
}

static void sim_returner(builder_t *b, int32_t anchor)
{
  emi_stream_t *s = b->s;
  if (emi_uniform_01(s) < 0.5) { /* a visit home 4-16 months before the return */
    int32_t a = anchor - unif_int(s, 120, 480);
    trip(b, a, unif_int(s, 5, 30), EMI_DIR_IN);
  }
  add_move(b, anchor, EMI_DIR_IN);
}

static void sim_circular(builder_t *b, int32_t anchor)
{
  const emi_sim_params_t *p = b->p;
  emi_stream_t *s = b->s;
  int32_t t = anchor, until = anchor + (int32_t)p->circular_span_days;
  while (t < until && t < b->p->hist_hi_day) {
    int32_t away = unif_int(s, p->circ_abroad_min, p->circ_abroad_max);
    int32_t home = unif_int(s, p->circ_home_min, p->circ_home_max);
    trip(b, t, away, EMI_DIR_OUT);
    t += away + home;
  }
}

static void sim_visitor(builder_t *b, int32_t anchor)
{
  const emi_sim_params_t *p = b->p;
  emi_stream_t *s = b->s;
  int32_t a = anchor;
  for (;;) {
    int32_t len = geom1(s, p->visitor_stay_days_mean);
    trip(b, a, len, EMI_DIR_IN);
    if (emi_uniform_01(s) >= p->visitor_repeat) break;
    a = next_start(p, s, a + len, p->hist_hi_day, 365.25 / p->visitor_gap_days_mean, 0);
    if (a == INT32_MAX) break;
  }
}

static void sim_frequent(builder_t *b, int32_t anchor)
{
  const emi_sim_params_t *p = b->p;
  emi_stream_t *s = b->s;
  double span = p->frequent_span_days_mean * (0.5 + emi_uniform_01(s)); /* U(0.5, 1.5) x mean */
  int32_t until = anchor + (int32_t)span, a = anchor;
  if (until > p->hist_hi_day) until = p->hist_hi_day;
  while (a < until) {
    int32_t len = geom1(s, p->frequent_stay_days_mean);
    trip(b, a, len, EMI_DIR_IN);
    a = next_start(p, s, a + len, until, 365.25 / p->frequent_gap_days_mean, -1);
    if (a == INT32_MAX) break;
  }
}

static void sim_worker(builder_t *b, int32_t anchor)
{
  const emi_sim_params_t *p = b->p;
  emi_stream_t *s = b->s;
  int32_t leave = anchor + unif_int(s, p->worker_stay_min, p->worker_stay_max);
  add_move(b, anchor, EMI_DIR_IN);
  int32_t t = anchor;
  for (;;) {
    int32_t a = next_start(p, s, t + 20, leave, p->worker_visits_per_year, 1);
    if (a == INT32_MAX) break;
    int32_t len = unif_int(s, 7, 30);
    if (a + len + 1 >= leave) break;
    trip(b, a, len, EMI_DIR_OUT);
    t = a + len;
  }
  add_move(b, leave, EMI_DIR_OUT);
}

static void sim_immigrant(builder_t *b, int32_t anchor)
{
  const emi_sim_params_t *p = b->p;
  emi_stream_t *s = b->s;
  add_move(b, anchor, EMI_DIR_IN);
  int32_t t = anchor;
  for (;;) {
    int32_t a = next_start(p, s, t + 30, p->hist_hi_day, p->immigrant_trips_per_year, 1);
    if (a == INT32_MAX) break;
    int32_t len = unif_int(s, 7, 21);
    trip(b, a, len, EMI_DIR_OUT);
    t = a + len;
  }
}

/* ------------------------------------------------------------------ person */
static void make_key(emi_stream_t *s, char out[25])
{
  static const char hex[] = "0123456789abcdef";
  for (int w = 0; w < 3; w++) {
    uint32_t x = emi_stream_u32(s);
    for (int k = 0; k < 8; k++) out[w * 8 + k] = hex[(x >> (28 - 4 * k)) & 15u];
  }
  out[24] = '\0';
}

static int pick_point(emi_stream_t *s, const char *code)
{
  double u = emi_uniform_01(s);
  if (!strcmp(code, "RUS")) return u < 0.5 ? 0 : 3;
  if (!strcmp(code, "GEO")) return u < 0.3 ? 0 : 4;
  if (!strcmp(code, "IRN")) return u < 0.2 ? 0 : (u < 0.7 ? 5 : 6);
  if (!strcmp(code, "TUR")) return u < 0.7 ? 0 : 7;
  if (!strcmp(code, "KAZ") || !strcmp(code, "TKM")) return u < 0.7 ? 0 : 2;
  return u < 0.9 ? 0 : 1;
}

emi_err_t emi_sim_person(const emi_sim_params_t *p, const emi_sim_cells_t *cells, uint64_t seed, uint64_t index,
                         emi_sim_person_t *person, emi_sim_move_t *moves, int cap, emi_sim_work_t *work)
{
  emi_stream_t s, t, f;
  memset(person, 0, sizeof *person);
  person->index = index;
  EMI_CALL(emi_stream_init(&s, seed, EMI_SIM_P_ATTR, index, 0));
  /* type and anchor month */
  int ncell = EMI_SIM_NTYPES * cells->nmonths;
  int cell = pick_cum(cells->cum, ncell, emi_uniform_01(&s));
  int type = cell / cells->nmonths, mon = cells->month0 + cell % cells->nmonths;
  int32_t m0 = emi_days_from_civil(mon / 12, mon % 12 + 1, 1);
  int32_t m1 = emi_days_from_civil((mon + 1) / 12, (mon + 1) % 12 + 1, 1);
  person->type = type;
  person->anchor_day = m0 + unif_int(&s, 0, m1 - m0 - 1);
  person->sex = emi_uniform_01(&s) < p->male_share[type] ? 0 : 1;
  double age = 0;
  emi_normal_draw(&s, p->age_mean[type], p->age_sd[type], &age);
  if (age < 0) age = 0;
  if (age > 95) age = 95;
  int ay, am, ad;
  emi_civil_from_days(person->anchor_day, &ay, &am, &ad);
  person->birth_year = ay - (int)age;
  person->cit2 = -1;
  person->dest = p->dest_code[pick_cum(p->dest_cum, p->ndest, emi_uniform_01(&s))];
  if (emi_sim_type_is_citizen(type)) {
    person->cit = 0;
    if (emi_uniform_01(&s) < p->dual_share) person->cit2 = person->dest;
  } else {
    person->cit = p->foreign_code[pick_cum(p->foreign_cum, p->nforeign, emi_uniform_01(&s))];
    (void)emi_uniform_01(&s);
  }
  EMI_CALL(emi_stream_init(&t, seed, EMI_SIM_P_KEY, index, 0));
  make_key(&t, person->key[0]);
  make_key(&t, person->key[1]);
  if (person->cit2 < 0) person->key[1][0] = '\0';

  /* true movements */
  EMI_CALL(emi_stream_init(&t, seed, EMI_SIM_P_TRIPS, index, 0));
  builder_t b = {.p = p, .mv = moves, .n = 0, .cap = cap, .truncated = 0, .s = &t};
  switch (type) {
  case EMI_SIM_RESIDENT: sim_resident(&b, person->anchor_day); break;
  case EMI_SIM_EMIGRANT: sim_emigrant(&b, person->anchor_day); break;
  case EMI_SIM_RETURNER: sim_returner(&b, person->anchor_day); break;
  case EMI_SIM_CIRCULAR: sim_circular(&b, person->anchor_day); break;
  case EMI_SIM_VISITOR: sim_visitor(&b, person->anchor_day); break;
  case EMI_SIM_FREQUENT: sim_frequent(&b, person->anchor_day); break;
  case EMI_SIM_WORKER: sim_worker(&b, person->anchor_day); break;
  case EMI_SIM_IMMIGRANT: sim_immigrant(&b, person->anchor_day); break;
  default: add_move(&b, person->anchor_day, EMI_DIR_IN); break; /* overstayer */
  }
  person->nmoves = b.n;
  person->truncated = b.truncated;
  int n = b.n;
  const char *counterpart = p->codes[emi_sim_type_is_citizen(type) ? person->dest : person->cit];
  EMI_CALL(emi_stream_init(&t, seed, EMI_SIM_P_POINT, index, 0));
  for (int i = 0; i < n; i++) {
    moves[i].sec = unif_int(&t, 0, 86399 - 900); /* room for a duplicate 15 minutes later */
    moves[i].point = (uint8_t)pick_point(&t, counterpart);
  }

  /* truth: the 12/16 rule on the true movements */
  for (int i = 0; i < n; i++) work->day[i] = moves[i].day, work->dir[i] = moves[i].dir;
  EMI_CALL(emi_rule1216_classify_ref((size_t)n, work->day, work->dir, EMI_RULE_WINDOW_DAYS, EMI_RULE_THRESHOLD_DAYS,
                                     EMI_RULE_STATUS_FROM_FIRST, work->cls));
  for (int i = 0; i < n; i++) moves[i].cls = work->cls[i];

  /* declarations */
  EMI_CALL(emi_stream_init(&t, seed, EMI_SIM_P_DECL, index, 0));
  for (int i = 0; i < n; i++) {
    if (moves[i].cls != EMI_CLASS_DEPARTURE) continue;
    int y, mo, d;
    emi_civil_from_days(moves[i].day, &y, &mo, &d);
    double pr = p->declare_coverage * p->declare_age_factor[emi_age_group(y - person->birth_year)];
    if (person->sex == 1) pr *= p->declare_female_factor;
    if (!emi_sim_type_is_citizen(type)) pr *= p->declare_foreign_factor;
    pr *= p->declare_cit_factor[person->cit]; /* 1 by default: the same probabilities, bit for bit */
    double u = emi_uniform_01(&t), z = emi_std_normal(&t);
    if (u < pr) {
      double off = floor(-7.0 + 30.0 * z + 0.5);
      if (off < -90) off = -90;
      if (off > 365) off = 365;
      moves[i].declared = 1;
      moves[i].decl_day = moves[i].day + (int32_t)off;
    }
  }

  /* recording faults */
  for (int i = 0; i < n; i++) {
    emi_sim_move_t *m = &moves[i];
    m->rec_day = m->day;
    EMI_CALL(emi_stream_init(&f, seed, EMI_SIM_P_FAULT, index, (uint32_t)i));
    double u_miss = emi_uniform_01(&f), u_late = emi_uniform_01(&f), u_dup = emi_uniform_01(&f);
    double u_date = emi_uniform_01(&f), u_kind = emi_uniform_01(&f), u_sign = emi_uniform_01(&f);
    double u_doc = emi_uniform_01(&f);
    int32_t delay = geom1(&f, p->late_days_mean);
    int32_t dup = unif_int(&f, 60, 900);
    if (m->day < p->period_lo_day || m->day >= p->period_hi_day) continue;
    double miss = m->dir == EMI_DIR_OUT ? p->miss_exit_rate : p->miss_entry_rate;
    if (emi_sim_point_is_land[m->point]) miss *= p->miss_land_factor;
    if (u_miss < miss) {
      m->faults |= (uint16_t)(1u << (m->dir == EMI_DIR_OUT ? EMI_FAULT_MISSED_EXIT : EMI_FAULT_MISSED_ENTRY));
      continue;
    }
    if (u_late < p->late_rate) {
      if (m->day + delay >= p->period_hi_day) {
        m->faults |= 1u << EMI_FAULT_LATE_MISSING;
        continue;
      }
      m->faults |= 1u << EMI_FAULT_LATE_REORDERED;
    }
    if (person->cit2 >= 0 && u_doc < p->doc2_rate) {
      m->doc = 1;
      m->faults |= 1u << EMI_FAULT_SECOND_DOCUMENT;
    }
    if (u_dup < p->dup_rate) {
      m->faults |= 1u << EMI_FAULT_DUPLICATE;
      m->dup_sec = (int16_t)dup;
    }
    if (u_date < p->date_error_rate) {
      if (u_kind < p->date_swap_share) {
        int y, mo, d;
        emi_civil_from_days(m->day, &y, &mo, &d);
        if (d <= 12 && d != mo) {
          m->rec_day = emi_days_from_civil(y, d, mo);
          m->faults |= 1u << EMI_FAULT_DATE_SWAP;
        }
      } else {
        m->rec_day = m->day + (u_sign < 0.5 ? -1 : 1);
        m->faults |= 1u << EMI_FAULT_DATE_OFF_BY_ONE;
      }
    }
  }
  return EMI_SUCCESS;
}
