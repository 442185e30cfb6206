/* test_rule_repair.c: the classify-stage kernels on hand-worked histories.
 *
 * emi_rule_classify (cumulative/continuous, censoring) is held to the reference
 * emi_rule1216_classify_ref on random sequences (no censoring, status from the first crossing), then
 * checked on histories whose classes are worked out by hand from the definitions (window 487 days from
 * the crossing's day, threshold 365; location on a day = direction of the last crossing on or before
 * it).  emi_repair_sequence: duplicates, missed crossings (midpoint/early/late), counts by kind. */
#include <string.h>

#include "emi_repair.h"
#include "emi_rule.h"
#include "emi_test.h"

enum { I = EMI_DIR_IN, O = EMI_DIR_OUT, S = EMI_CLASS_SHORT, D = EMI_CLASS_DEPARTURE, A = EMI_CLASS_ARRIVAL,
       PD = EMI_CLASS_PENDING_DEPARTURE, PA = EMI_CLASS_PENDING_ARRIVAL };

static uint64_t st = 12345;
static uint32_t rnd(uint32_t m) /* LCG: test data only */
{
  st = st * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(st >> 33) % m;
}

static void test_against_ref(void)
{
  int32_t day[64];
  uint8_t dir[64], c1[64], c2[64];
  emi_rule_params_t p = {EMI_RULE_WINDOW_DAYS, EMI_RULE_THRESHOLD_DAYS, 0, INT32_MAX};
  int bad = 0, events = 0;
  for (int rep = 0; rep < 20000; rep++) {
    size_t n = 1 + rnd(40);
    int32_t d = (int32_t)rnd(1000);
    int alternate = rnd(4) != 0;
    for (size_t i = 0; i < n; i++) {
      d += rnd(5) == 0 ? 0 : (int32_t)rnd(rnd(3) ? 60 : 500); /* same-day crossings too */
      day[i] = d;
      dir[i] = alternate ? (uint8_t)((i + rnd(1)) & 1) : (uint8_t)rnd(2);
    }
    int init = (int)rnd(3) - 1;
    CHECK_OK(emi_rule1216_classify_ref(n, day, dir, p.window_days, p.threshold_days, init, c1));
    CHECK_OK(emi_rule_classify(&p, n, day, dir, init, c2));
    if (memcmp(c1, c2, n)) bad++;
    for (size_t i = 0; i < n; i++) events += c1[i] != S;
  }
  CHECK_INT_EQ(bad, 0);
  CHECK(events > 1000); /* the random histories do exercise both outcomes */
}

static void run_case(const char *name, const emi_rule_params_t *p, size_t n, const int32_t *day, const uint8_t *dir,
                     const uint8_t *want)
{
  uint8_t cls[16];
  CHECK_OK(emi_rule_classify(p, n, day, dir, EMI_RULE_STATUS_FROM_FIRST, cls));
  for (size_t i = 0; i < n; i++) CHECK_MSG(cls[i] == want[i], "%s: crossing %zu: class %d, expected %d", name, i, cls[i], want[i]);
}

static void test_hand(void)
{
  const int32_t E = 10000;
  emi_rule_params_t cum = {487, 365, 0, E}, cont = {487, 365, 1, E}, r1212 = {365, 365, 1, E};
  /* an exit 400 days before the data end, never back: 400 observed days abroad >= 365: departure, decided early */
  { int32_t d[] = {E - 399}; uint8_t r[] = {O}, w[] = {D}; run_case("exit 400 days before end", &cum, 1, d, r, w); }
  /* an exit 100 days before the end: 100 observed + 387 unobserved days could reach 365: pending */
  { int32_t d[] = {E - 99}; uint8_t r[] = {O}, w[] = {PD}; run_case("exit 100 days before end", &cum, 1, d, r, w); }
  /* out 10 days, back, 480 days observed: 10 + 7 unobserved < 365: certainly short; the entry of a resident: short */
  { int32_t d[] = {E - 479, E - 469}; uint8_t r[] = {O, I}, w[] = {S, S}; run_case("short, decided early", &cum, 2, d, r, w); }
  /* a foreigner arriving 100 days before the end: 100 days in + 387 unobserved: pending arrival */
  { int32_t d[] = {E - 99}; uint8_t r[] = {I}, w[] = {PA}; run_case("arrival pending", &cum, 1, d, r, w); }
  /* 200 out, 10 in, 170 out (all observed): cumulative 370 -> departure; continuous 200 -> short */
  { int32_t d[] = {0, 200, 210, 380}; uint8_t r[] = {O, I, O, I}, w[] = {D, S, S, A};
    run_case("cumulative", &cum, 4, d, r, w); }
  { int32_t d[] = {0, 200, 210, 380}; uint8_t r[] = {O, I, O, I}, w[] = {S, S, S, S};
    run_case("continuous", &cont, 4, d, r, w); }
  /* 12/12 continuous: abroad days 0..364 = 365 -> departure; back after 364 days -> short */
  { int32_t d[] = {0, 365}; uint8_t r[] = {O, I}, w[] = {D, A}; run_case("12/12 365 days", &r1212, 2, d, r, w); }
  { int32_t d[] = {0, 364}; uint8_t r[] = {O, I}, w[] = {S, S}; run_case("12/12 364 days", &r1212, 2, d, r, w); }
  /* continuous, censored: out since E - 99 and still out: pending; out 20 days then back: certainly short */
  { int32_t d[] = {E - 99}; uint8_t r[] = {O}, w[] = {PD}; run_case("continuous pending", &cont, 1, d, r, w); }
  { int32_t d[] = {E - 99, E - 79}; uint8_t r[] = {O, I}, w[] = {S, S}; run_case("continuous ended", &cont, 2, d, r, w); }
  /* a crossing after the data end is a caller error */
  uint8_t cls[1];
  CHECK_ERR(emi_rule_classify(&cum, 1, (int32_t[]){E + 1}, (uint8_t[]){O}, -1, cls), EMI_ERR_ARG);
}

static void test_repair(void)
{
  emi_repair_params_t mid = {600, EMI_REPAIR_MIDPOINT}, early = {600, EMI_REPAIR_EARLY}, late = {600, EMI_REPAIR_LATE};
  int32_t od[16], os[16], src[16];
  uint8_t odr[16];
  size_t m = 0;
  int64_t c[EMI_NREPAIRS];
  /* the same exit recorded twice, 5 minutes apart: merged; then back */
  memset(c, 0, sizeof c);
  CHECK_OK(emi_repair_sequence(&mid, 3, (int32_t[]){100, 100, 120}, (int32_t[]){3600, 3900, 50}, (uint8_t[]){O, O, I},
                               &m, od, os, odr, src, c));
  CHECK_INT_EQ(m, 2);
  CHECK_INT_EQ(c[EMI_REPAIR_DUPLICATE], 1);
  CHECK_INT_EQ(src[0], 0);
  CHECK_INT_EQ(src[1], 2);
  /* 11 minutes apart: not a duplicate (tolerance 10 minutes) -> a missed entry imputed on the same day */
  memset(c, 0, sizeof c);
  CHECK_OK(emi_repair_sequence(&mid, 2, (int32_t[]){100, 100}, (int32_t[]){3600, 4260}, (uint8_t[]){O, O}, &m, od, os,
                               odr, src, c));
  CHECK_INT_EQ(m, 3);
  CHECK_INT_EQ(c[EMI_REPAIR_MISSED_ENTRY], 1);
  CHECK_INT_EQ(odr[1], I);
  CHECK_INT_EQ(src[1], -1);
  /* across midnight: 23:58 and 00:03 the next day are 5 minutes apart: duplicate */
  memset(c, 0, sizeof c);
  CHECK_OK(emi_repair_sequence(&mid, 2, (int32_t[]){100, 101}, (int32_t[]){86280, 180}, (uint8_t[]){I, I}, &m, od, os,
                               odr, src, c));
  CHECK_INT_EQ(m, 1);
  CHECK_INT_EQ(c[EMI_REPAIR_DUPLICATE], 1);
  /* dates without a time: the same day is a duplicate */
  memset(c, 0, sizeof c);
  CHECK_OK(emi_repair_sequence(&mid, 2, (int32_t[]){100, 100}, (int32_t[]){-1, 40000}, (uint8_t[]){O, O}, &m, od, os,
                               odr, src, c));
  CHECK_INT_EQ(m, 1);
  CHECK_INT_EQ(c[EMI_REPAIR_DUPLICATE], 1);
  /* two entries in a row (days 10 and 31): a missed exit at the midpoint 20, on day 10 (early), day 31 (late) */
  const int32_t d2[] = {0, 10, 31}, s2[] = {-1, -1, -1};
  const uint8_t r2[] = {O, I, I};
  struct { const emi_repair_params_t *p; int32_t want; } modes[] = {{&mid, 20}, {&early, 10}, {&late, 31}};
  for (int k = 0; k < 3; k++) {
    memset(c, 0, sizeof c);
    CHECK_OK(emi_repair_sequence(modes[k].p, 3, d2, s2, r2, &m, od, os, odr, src, c));
    CHECK_INT_EQ(m, 4);
    CHECK_INT_EQ(c[EMI_REPAIR_MISSED_EXIT], 1);
    CHECK_INT_EQ(odr[2], O);
    CHECK_INT_EQ(od[2], modes[k].want);
    CHECK_INT_EQ(src[2], -2); /* imputed after input crossing 1 */
    CHECK_INT_EQ(src[3], 2);
  }
  /* a repaired sequence alternates: IN IN OUT OUT -> IN, [OUT], IN, OUT, [IN], OUT ([..]: imputed) */
  memset(c, 0, sizeof c);
  CHECK_OK(emi_repair_sequence(&mid, 4, (int32_t[]){0, 100, 200, 300}, (int32_t[]){-1, -1, -1, -1},
                               (uint8_t[]){I, I, O, O}, &m, od, os, odr, src, c));
  CHECK_INT_EQ(m, 6);
  for (size_t j = 1; j < m; j++) CHECK(odr[j] != odr[j - 1]);
  CHECK_INT_EQ(c[EMI_REPAIR_MISSED_EXIT], 1);
  CHECK_INT_EQ(c[EMI_REPAIR_MISSED_ENTRY], 1);
  /* out of order input */
  CHECK_ERR(emi_repair_sequence(&mid, 2, (int32_t[]){5, 4}, (int32_t[]){-1, -1}, (uint8_t[]){O, I}, &m, od, os, odr,
                                src, c), EMI_ERR_ARG);
}

int main(void)
{
  test_against_ref();
  test_hand();
  test_repair();
  return emi_test_report("test_rule_repair");
}
