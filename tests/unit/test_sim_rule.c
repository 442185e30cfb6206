/* test_sim_rule.c: the 12/16 reference classifier on hand-worked histories (issue 4's list), and
 * the person simulator's determinism and invariants.
 *
 * Expected classes are worked out by hand from the definition (window 487 days from the crossing's
 * day, threshold 365, location on a day = direction of the last crossing on or before it). */
#include <string.h>

#include "emi_rule1216.h"
#include "emi_sim.h"
#include "emi_test.h"

enum { I = EMI_DIR_IN, O = EMI_DIR_OUT, S = EMI_CLASS_SHORT, D = EMI_CLASS_DEPARTURE, A = EMI_CLASS_ARRIVAL };

static void run_case(const char *name, size_t n, const int32_t *day, const uint8_t *dir, const uint8_t *want)
{
  uint8_t cls[16];
  CHECK_OK(emi_rule1216_classify_ref(n, day, dir, EMI_RULE_WINDOW_DAYS, EMI_RULE_THRESHOLD_DAYS,
                                     EMI_RULE_STATUS_FROM_FIRST, cls));
  for (size_t i = 0; i < n; i++) CHECK_MSG(cls[i] == want[i], "%s: crossing %zu: class %d, expected %d", name, i, cls[i], want[i]);
}

static void test_rule(void)
{
  /* a single exit never followed by an entry: 487 days abroad >= 365 */
  { int32_t d[] = {100}; uint8_t r[] = {O}, w[] = {D}; run_case("single exit", 1, d, r, w); }
  /* back after 364 days: abroad days 100..463 = 364 < 365 -> short; the entry of a resident: short */
  { int32_t d[] = {100, 464}; uint8_t r[] = {O, I}, w[] = {S, S}; run_case("364 days", 2, d, r, w); }
  /* back after 365 days: abroad 100..464 = 365 -> departure; then entry with 487 - 0 days in -> arrival */
  { int32_t d[] = {100, 465}; uint8_t r[] = {O, I}, w[] = {D, A}; run_case("365 days", 2, d, r, w); }
  /* 200 out, 10 in, 170 out, then back: 200 + 170 = 370 >= 365 (cumulative) -> departure */
  { int32_t d[] = {0, 200, 210, 380}; uint8_t r[] = {O, I, O, I}, w[] = {D, S, S, A};
    run_case("cumulative", 4, d, r, w); }
  /* ... 200 out, 10 in, 160 out: 360 < 365 -> short */
  { int32_t d[] = {0, 200, 210, 370}; uint8_t r[] = {O, I, O, I}, w[] = {S, S, S, S};
    run_case("cumulative short", 4, d, r, w); }
  /* three months out, one in, repeated: abroad 3/4 of 487 ~ 366: exits at 0: days abroad in 0..486:
   * out 0-89, 120-209, 240-329, 360-449, 480-486 = 90*4 + 7 = 367 -> departure; the person is then
   * non-resident; the entry at 90: days in the country 90..576: in 90-119, 210-239, 330-359, 450-479,
   * 570-576 = 30*4 + 7 = 127 -> short; the entries at 210 (30*3 + 127 = 217 days in) and 330 (307) are
 * short, the entry at 450 (30 + 570..936 = 397) is an arrival; the exit at 480 (90 days out) short */
  { int32_t d[] = {0, 90, 120, 210, 240, 330, 360, 450, 480, 570};
    uint8_t r[] = {O, I, O, I, O, I, O, I, O, I}, w[] = {D, S, S, S, S, S, S, A, S, S};
    run_case("3 out 1 in", 10, d, r, w); }
  /* a foreigner staying 400 days, then leaving: first crossing IN -> non-resident; in 400 days >= 365
   * -> arrival; the exit at 400 of a resident, never back -> departure */
  { int32_t d[] = {0, 400}; uint8_t r[] = {I, O}, w[] = {A, D}; run_case("foreigner 400 days", 2, d, r, w); }
  /* a visitor staying 30 days: short both ways */
  { int32_t d[] = {0, 30}; uint8_t r[] = {I, O}, w[] = {S, S}; run_case("visitor", 2, d, r, w); }
  /* the location on the crossing day is the last crossing of that day (OUT then IN on day 5, OUT on day
   * 10): days 5..9 in the country, 10..491 abroad = 482 of 487 */
  CHECK_INT_EQ(emi_rule_days_abroad_ref(3, (int32_t[]){5, 5, 10}, (uint8_t[]){O, I, O}, 1, 5, 487), 482);
  /* bad input */
  uint8_t cls[2];
  CHECK_ERR(emi_rule1216_classify_ref(2, (int32_t[]){5, 4}, (uint8_t[]){O, I}, 487, 365, -1, cls), EMI_ERR_ARG);
  CHECK_ERR(emi_rule1216_classify_ref(1, (int32_t[]){5}, (uint8_t[]){2}, 487, 365, -1, cls), EMI_ERR_ARG);
  CHECK_ERR(emi_rule1216_classify_ref(1, (int32_t[]){5}, (uint8_t[]){O}, 300, 365, -1, cls), EMI_ERR_DOMAIN);
  /* age groups */
  CHECK_INT_EQ(emi_age_group(14), 0);
  CHECK_INT_EQ(emi_age_group(15), 1);
  CHECK_INT_EQ(emi_age_group(24), 1);
  CHECK_INT_EQ(emi_age_group(25), 2);
  CHECK_INT_EQ(emi_age_group(64), 5);
  CHECK_INT_EQ(emi_age_group(65), 6);
}

static void test_calendar(void)
{
  CHECK_INT_EQ(emi_days_from_civil(1970, 1, 1), 0);
  CHECK_INT_EQ(emi_days_from_civil(2020, 1, 1), 18262); /* 50 years with 12 leap days: 50*365+12 */
  CHECK_INT_EQ(emi_days_from_civil(2000, 3, 1) - emi_days_from_civil(2000, 2, 28), 2); /* 2000 is leap */
  for (int32_t z = 17000; z < 20000; z += 7) {
    int y, m, d;
    emi_civil_from_days(z, &y, &m, &d);
    CHECK_INT_EQ(emi_days_from_civil(y, m, d), z);
  }
}

static void test_person(void)
{
  emi_sim_params_t p;
  emi_sim_params_default(&p);
  p.ncodes = 3;
  memcpy(p.codes[0], "AZE", 4), memcpy(p.codes[1], "RUS", 4), memcpy(p.codes[2], "GEO", 4);
  p.nforeign = 2, p.foreign_code[0] = 1, p.foreign_code[1] = 2, p.foreign_cum[0] = 0.5, p.foreign_cum[1] = 1;
  p.ndest = 1, p.dest_code[0] = 1, p.dest_cum[0] = 1;
  p.dual_share = 0.5;
  p.hist_lo_day = emi_days_from_civil(2017, 1, 1), p.hist_hi_day = emi_days_from_civil(2023, 6, 1);
  p.period_lo_day = emi_days_from_civil(2020, 1, 1), p.period_hi_day = emi_days_from_civil(2022, 1, 1);
  p.closure_lo_day = p.closure_hi_day = 0;
  CHECK_OK(emi_sim_params_check(&p));
  enum { NM = 77 };
  double cum[EMI_SIM_NTYPES * NM];
  for (int k = 0; k < EMI_SIM_NTYPES * NM; k++) cum[k] = k + 1.0; /* every (type, month) equally likely */
  emi_sim_cells_t cells = {.nmonths = NM, .month0 = 2017 * 12, .cum = cum};
  static emi_sim_move_t a[512], b[512];
  static int32_t wd[512];
  static uint8_t wr[512], wc[512];
  emi_sim_work_t work = {wd, wr, wc};
  int seen[EMI_SIM_NTYPES] = {0};
  for (uint64_t i = 0; i < 3000; i++) {
    emi_sim_person_t pa, pb;
    CHECK_OK(emi_sim_person(&p, &cells, 42, i, &pa, a, 512, &work));
    CHECK_OK(emi_sim_person(&p, &cells, 42, i, &pb, b, 512, &work)); /* same stream indices, same person */
    CHECK(pa.nmoves == pb.nmoves && !memcmp(a, b, (size_t)pa.nmoves * sizeof a[0]) && !strcmp(pa.key[0], pb.key[0]));
    seen[pa.type]++;
    CHECK(strlen(pa.key[0]) == 24);
    CHECK((pa.cit2 >= 0) == (pa.key[1][0] != '\0'));
    CHECK(emi_sim_type_is_citizen(pa.type) ? pa.cit == 0 : pa.cit > 0);
    for (int k = 0; k < pa.nmoves; k++) {
      CHECK(a[k].day >= p.hist_lo_day && a[k].day < p.hist_hi_day);
      if (k) CHECK(a[k].day > a[k - 1].day && a[k].dir != a[k - 1].dir); /* one crossing a day, alternating */
      if (a[k].declared) CHECK(a[k].cls == EMI_CLASS_DEPARTURE);
    }
    if (pa.type == EMI_SIM_OVERSTAYER) CHECK(pa.nmoves <= 1);
  }
  for (int k = 0; k < EMI_SIM_NTYPES; k++) CHECK_MSG(seen[k] > 200, "type %d drawn %d times in 3000", k, seen[k]);
  /* another seed gives other persons */
  emi_sim_person_t pc, pd;
  CHECK_OK(emi_sim_person(&p, &cells, 42, 7, &pc, a, 512, &work));
  CHECK_OK(emi_sim_person(&p, &cells, 43, 7, &pd, b, 512, &work));
  CHECK(strcmp(pc.key[0], pd.key[0]) != 0);
  /* bad parameters name the field */
  p.dup_rate = -0.1;
  CHECK_ERR(emi_sim_params_check(&p), EMI_ERR_CONFIG);
}

int main(void)
{
  test_rule();
  test_calendar();
  test_person();
  return emi_test_report("test_sim_rule");
}
