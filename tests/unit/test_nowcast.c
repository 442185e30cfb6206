/* test_nowcast.c: the right-censoring kernels of classify (kernels/emi_nowcast.h).
 *
 *   1. emi_nowcast_train (chunk walk) == emi_nowcast_train_ref (every d from scratch, through the rule's
 *      reference emi_rule_days_abroad_ref) on random histories, rules, bins and declarations;
 *   2. emi_nowcast_state at the data end agrees with emi_rule_classify_cand: pending <-> a state,
 *      migrant <-> YES, short <-> NO, for the candidates it reports (both rules);
 *   3. a hand-worked estimator: two completed departures (one migrant, one back after 2 days), their
 *      crossing-days by state, effective counts, and the posterior means of two pending exits (one of a
 *      citizenship with no completed history: it takes the coarser cell's mean), worked out by hand; a
 *      status chain (exit, back, out again) and the planes of the crossings in the shadow of an open one;
 *   4. the Monte Carlo of one cell: mean and variance of the draws against the beta-binomial law they
 *      must follow (the variance is 2.6x the binomial one: the draws carry the Beta uncertainty), draws
 *      keyed by their index (a sub-range equals the same draws of a longer run); the grouped draws equal
 *      the per-cell reference value for value; the one-crossing shortcut has the Beta's mean;
 *      the sparse twins (emi_nowcast_train_runs, emi_nowcast_tree_pool_leaves, emi_nowcast_leaves_draws, what
 *      classify uses) equal the dense functions bit for bit;
 *   5. monthly bins: a crossing of month (end month - j) falls in bin j; the type-7 interval; the reported summary
 *      (mean of the draws, interval widened to hold it); bad params. */
#include <string.h>

#include "emi_nowcast.h"
#include "emi_rule.h"
#include "emi_sim.h"
#include "emi_test.h"

enum { I = EMI_DIR_IN, O = EMI_DIR_OUT };

static uint64_t st = 987654321;
static uint32_t rnd(uint32_t m) /* LCG: test data only */
{
  st = st * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(st >> 33) % m;
}

static void test_fast_vs_ref(void)
{
  int32_t day[48], decl[8], ountil[48], bins[EMI_NOWCAST_MAX_BINS + 1];
  uint8_t dir[48], cand[48];
  static int64_t a1[2 * 12288], a2[2 * 12288], a3[2 * 12288], rd[512];
  int32_t rs[512];
  int bad = 0, badruns = 0, filled = 0, runs = 0, shadowed = 0;
  for (int rep = 0; rep < 4000; rep++) {
    emi_nowcast_params_t p = {0};
    p.window_days = 5 + (int32_t)rnd(60);
    p.threshold_days = 1 + (int32_t)rnd((uint32_t)p.window_days);
    p.continuous = rnd(3) == 0;
    p.decl_before_days = (int32_t)rnd(20);
    p.decl_after_days = (int32_t)rnd(90);
    p.count_bin_days = 1 + (int32_t)rnd(12);
    p.ncount_bins = (p.threshold_days + p.count_bin_days - 1) / p.count_bin_days + 1;
    int32_t D = emi_nowcast_horizon(&p, EMI_NOWCAST_UND);
    int nb = 0;
    bins[0] = 1;
    while (bins[nb] < D) bins[nb + 1] = bins[nb] + 1 + (int32_t)rnd(15), nb++;
    p.nbins = nb;
    p.bin_start = bins;
    CHECK_OK(emi_nowcast_check(&p));
    size_t ns = emi_nowcast_nstates(&p);
    if (ns > 12288) continue;
    size_t n = 1 + rnd(30);
    int32_t d = (int32_t)rnd(50);
    for (size_t i = 0; i < n; i++) {
      d += rnd(5) == 0 ? 0 : (int32_t)rnd(rnd(3) ? 25 : 120);
      day[i] = d;
      dir[i] = rnd(4) ? (uint8_t)(i & 1) : (uint8_t)rnd(2);
    }
    size_t nd = rnd(4);
    int32_t dd = day[0] - 30;
    for (size_t q = 0; q < nd; q++) decl[q] = dd += (int32_t)rnd(60);
    for (size_t i = 0; i < n; i++) cand[i] = rnd(3) != 0;
    emi_nowcast_hist_t h = {n, day, dir, cand, ountil, nd, decl};
    emi_nowcast_open_until(&p, &h, ountil);
    for (size_t i = 0; i < n; i++)
      for (int kind = 0; kind < EMI_NOWCAST_NKINDS; kind++) {
        memset(a1, 0, 2 * ns * sizeof *a1);
        memset(a2, 0, 2 * ns * sizeof *a2);
        int y = (int)rnd(2);
        emi_nowcast_train(&p, kind, &h, i, y, a1, 2);
        emi_nowcast_train_ref(&p, kind, &h, i, y, a2, 2);
        /* the runs of the sparse store add up to the same crossing-days, state by state */
        memset(a3, 0, 2 * ns * sizeof *a3);
        const size_t nr = emi_nowcast_train_runs(&p, kind, &h, i, rs, rd);
        for (size_t q = 0; q < nr; q++) a3[(size_t)rs[q] * 2 + (size_t)y] += rd[q];
        badruns += memcmp(a1, a3, 2 * ns * sizeof *a1) != 0 || nr > (size_t)emi_nowcast_horizon(&p, kind);
        runs++;
        if (memcmp(a1, a2, 2 * ns * sizeof *a1)) {
          if (bad < 5)
            fprintf(stderr, "fast != ref: rep %d crossing %zu kind %d W %d thr %d cont %d\n", rep, i, kind,
                    (int)p.window_days, (int)p.threshold_days, p.continuous);
          bad++;
        }
        for (size_t q = 0; q < 2 * ns; q++) {
          filled += a1[q] != 0;
          shadowed += a1[q] != 0 && q / 2 >= ns / 3; /* planes 1 and 2 */
        }
      }
  }
  CHECK_INT_EQ(bad, 0);
  CHECK_INT_EQ(badruns, 0);
  CHECK(runs > 50000);
  CHECK(filled > 50000); /* the random histories do reach many states */
  CHECK(shadowed > 10000); /* and the planes after an open candidate */
}

static void test_state_vs_rule(void)
{
  int32_t day[48], ountil[48], bins[EMI_NOWCAST_MAX_BINS + 1];
  uint8_t dir[48], cls[48], cand[48];
  int bad = 0, pend = 0, yes = 0, shadow = 0;
  for (int rep = 0; rep < 20000; rep++) {
    int cont = rnd(3) == 0;
    int32_t W = cont && rnd(2) ? 365 : 487;
    emi_rule_params_t r = {W, 365, cont, 0};
    size_t n = 1 + rnd(30);
    int32_t d = (int32_t)rnd(100);
    for (size_t i = 0; i < n; i++) {
      d += rnd(5) == 0 ? 0 : (int32_t)rnd(rnd(3) ? 60 : 500);
      day[i] = d;
      dir[i] = rnd(4) ? (uint8_t)(i & 1) : (uint8_t)rnd(2);
    }
    r.end_day = day[n - 1] + (int32_t)rnd(600);
    int nb;
    CHECK_OK(emi_nowcast_bins_monthly(r.end_day, W, EMI_NOWCAST_MAX_BINS, bins, &nb));
    emi_nowcast_params_t p = {W, 365, cont, 90, 365, nb, bins, 30, 14};
    CHECK_OK(emi_rule_classify_cand(&r, n, day, dir, (int)rnd(3) - 1, cls, cand));
    emi_nowcast_hist_t h = {n, day, dir, cand, ountil, 0, NULL};
    emi_nowcast_open_until(&p, &h, ountil);
    int first_pending = 1; /* no pending crossing so far: the rule's verdicts are final-or-pending */
    for (size_t i = 0; i < n; i++) {
      const int32_t dobs = r.end_day - day[i] + 1;
      /* plane 0 at the data end <=> no earlier crossing is pending */
      if ((emi_nowcast_plane(&p, &h, i, dobs) == 0) != first_pending) bad++;
      int was_pending = cls[i] == EMI_CLASS_PENDING_DEPARTURE || cls[i] == EMI_CLASS_PENDING_ARRIVAL;
      /* open at the data end <=> pending */
      if (cand[i] && (r.end_day < ountil[i]) != was_pending) bad++;
      if (!cand[i] || !first_pending) {
        shadow += !first_pending;
        first_pending &= !was_pending;
        continue;
      }
      first_pending &= !was_pending;
      int kind = dir[i] == O ? EMI_NOWCAST_DEP : EMI_NOWCAST_ARR;
      int s = emi_nowcast_state(&p, kind, &h, i, dobs);
      int want = cls[i] == EMI_CLASS_PENDING_DEPARTURE || cls[i] == EMI_CLASS_PENDING_ARRIVAL ? 0
               : cls[i] == EMI_CLASS_DEPARTURE || cls[i] == EMI_CLASS_ARRIVAL ? EMI_NOWCAST_YES : EMI_NOWCAST_NO;
      if (want == 0 ? s < 0 : s != want) bad++;
      pend += want == 0;
      yes += want == EMI_NOWCAST_YES;
      /* a pending crossing's state is in the bin of its calendar month */
      if (want == 0 && s >= 0) {
        int y1, m1, d1, y2, m2, d2;
        emi_civil_from_days(r.end_day, &y1, &m1, &d1);
        emi_civil_from_days(day[i], &y2, &m2, &d2);
        if (s / (2 * 14) != (y1 * 12 + m1) - (y2 * 12 + m2)) bad++;
      }
    }
  }
  CHECK_INT_EQ(bad, 0);
  CHECK(pend > 1000);
  CHECK(yes > 1000);
  CHECK(shadow > 1000);
}

/* A one-person history for the hand-worked cases: candidates and open_until from the rule itself. */
typedef struct {
  int32_t day[8], ountil[8];
  uint8_t dir[8], cls[8], cand[8];
  emi_nowcast_hist_t h;
} hist_t;

static void hist_make(hist_t *x, const emi_nowcast_params_t *p, size_t n, const int32_t *day, const uint8_t *dir,
                      size_t ndecl, const int32_t *decl)
{
  memcpy(x->day, day, n * sizeof *day);
  memcpy(x->dir, dir, n);
  emi_rule_params_t r = {p->window_days, p->threshold_days, p->continuous, INT32_MAX};
  CHECK_OK(emi_rule_classify_cand(&r, n, x->day, x->dir, EMI_RULE_STATUS_FROM_FIRST, x->cls, x->cand));
  x->h = (emi_nowcast_hist_t){n, x->day, x->dir, x->cand, x->ountil, ndecl, decl};
  emi_nowcast_open_until(p, &x->h, x->ountil);
}

/* Window 10, threshold 6, count bins of 3 days (0-2, 3-5, reached), observed-length bins d 1-3, 4-6, 7-9. */
static void test_hand(void)
{
  static const int32_t bins[4] = {1, 4, 7, 10};
  const emi_nowcast_params_t p = {10, 6, 0, 0, 0, 3, bins, 3, 3};
  CHECK_OK(emi_nowcast_check(&p));
  const size_t ns = emi_nowcast_nstates(&p);
  CHECK_INT_EQ(ns, 54); /* 3 planes x 3 bins x 3 count bins x 2 locations */
#define S3(pl, j, cb, loc) ((((pl) * 3 + (j)) * 3 + (cb)) * 2 + (loc))
#define S(j, cb, loc) S3(0, j, cb, loc)
  /* leaves: 2 citizenships x 1 group; acc[(s * 2 + c) * 2 + y] */
  int64_t acc[54 * 2 * 2], ref[54 * 2 * 2];
  memset(acc, 0, sizeof acc);
  memset(ref, 0, sizeof ref);
  hist_t A, B, X, P, C;
  /* A (citizenship 0): exit on day 0, never back: 10 days abroad >= 6: migrant (y = 1).  At d days observed
   * cnt = d, still abroad; open while d < 6: d = 1, 2 -> (bin 0, cnt bin 0); d = 3 -> (bin 0, cnt bin 1);
   * d = 4, 5 -> (bin 1, cnt bin 1); d = 6 reaches the threshold. */
  hist_make(&A, &p, 1, (int32_t[]){0}, (uint8_t[]){O}, 0, NULL);
  CHECK_INT_EQ(A.cls[0], EMI_CLASS_DEPARTURE);
  CHECK_INT_EQ(A.ountil[0], 5); /* certain at d = 6: on day 5 */
  emi_nowcast_train(&p, EMI_NOWCAST_DEP, &A.h, 0, 1, acc + 0 * 2, 4);
  emi_nowcast_train_ref(&p, EMI_NOWCAST_DEP, &A.h, 0, 1, ref + 0 * 2, 4);
  /* B (citizenship 0): exit on day 0, back on day 2: 2 days abroad: short (y = 0).  d = 1, 2: cnt 1, 2,
   * abroad; d = 3: cnt 2, back; open while 2 + (10 - d) >= 6, i.e. d <= 6: d = 3 -> (bin 0, 0, home),
   * d = 4..6 -> (bin 1, 0, home).  Its entry is not a candidate (a resident's) and no candidate before it is
   * open on or after day 2 but B's exit, certain on day 6 (d = 7): the entry is in plane 2 for ARR while
   * the exit is open, d = 1..4 (days 2..5); its own count: in the country from day 2, cnt = d ->
   * (plane 2, bin 0, cnt 0) d = 1, 2; (2, 0, 1) d = 3; (2, 1, 1) d = 4; plane 0 from d = 5: not a candidate. */
  hist_make(&B, &p, 2, (int32_t[]){0, 2}, (uint8_t[]){O, I}, 0, NULL);
  CHECK_INT_EQ(B.cls[0], EMI_CLASS_SHORT);
  CHECK_INT_EQ(B.cand[1], 0);
  CHECK_INT_EQ(B.ountil[0], 6);
  emi_nowcast_train(&p, EMI_NOWCAST_DEP, &B.h, 0, 0, acc + 0 * 2, 4);
  emi_nowcast_train_ref(&p, EMI_NOWCAST_DEP, &B.h, 0, 0, ref + 0 * 2, 4);
  /* X (citizenship 0): exit on day 0, back on day 1: short.  d = 1 -> (0, 0, abroad); d = 2, 3 -> (0, 0, home);
   * d = 4, 5 -> (1, 0, home); 1 + 10 - 6 < 6 at d = 6. */
  hist_make(&X, &p, 2, (int32_t[]){0, 1}, (uint8_t[]){O, I}, 0, NULL);
  emi_nowcast_train(&p, EMI_NOWCAST_DEP, &X.h, 0, 0, acc + 0 * 2, 4);
  emi_nowcast_train_ref(&p, EMI_NOWCAST_DEP, &X.h, 0, 0, ref + 0 * 2, 4);
  CHECK(!memcmp(acc, ref, sizeof acc));
#define ACC(s, c, y) acc[((s) * 2 + (c)) * 2 + (y)]
  CHECK_INT_EQ(ACC(S(0, 0, 1), 0, 1), 2);
  CHECK_INT_EQ(ACC(S(0, 1, 1), 0, 1), 1);
  CHECK_INT_EQ(ACC(S(1, 1, 1), 0, 1), 2);
  CHECK_INT_EQ(ACC(S(0, 0, 1), 0, 0), 3); /* B 2, X 1 */
  CHECK_INT_EQ(ACC(S(0, 0, 0), 0, 0), 3); /* B 1, X 2 */
  CHECK_INT_EQ(ACC(S(1, 0, 0), 0, 0), 5); /* B 3, X 2 */
  int64_t total = 0;
  for (size_t q = 0; q < sizeof acc / sizeof acc[0]; q++) total += acc[q];
  CHECK_INT_EQ(total, 16); /* 5 open days of A + 6 of B + 5 of X: nothing else */
  {
    int64_t e[54 * 2], f[54 * 2];
    memset(e, 0, sizeof e);
    memset(f, 0, sizeof f);
    emi_nowcast_train(&p, EMI_NOWCAST_ARR, &B.h, 1, 0, e, 2);
    emi_nowcast_train_ref(&p, EMI_NOWCAST_ARR, &B.h, 1, 0, f, 2);
    CHECK(!memcmp(e, f, sizeof e));
    CHECK_INT_EQ(e[2 * S3(2, 0, 0, 1)], 2);
    CHECK_INT_EQ(e[2 * S3(2, 0, 1, 1)], 1);
    CHECK_INT_EQ(e[2 * S3(2, 1, 1, 1)], 1);
    int64_t sum = 0;
    for (size_t q = 0; q < 54 * 2; q++) sum += e[q];
    CHECK_INT_EQ(sum, 4);
  }

  /* effective counts: every bin holds 3 values of d */
  double yD[108], zD[108], yC[108], zC[108], yB[54], zB[54], yA[18], zA[18], muA[18], muB[54], muC[108], muD[108];
  emi_nowcast_weights(&p, EMI_NOWCAST_DEP, 2, acc, yD, zD);
  CHECK_CLOSE(yD[S(0, 0, 1) * 2 + 0], 2.0 / 3, 1e-15, 0);
  CHECK_CLOSE(zD[S(1, 0, 0) * 2 + 0], 5.0 / 3, 1e-15, 0);
  emi_nowcast_tree_t t = {ns, 2, 1, 3, 3, 0.5, 0.5, 2.0, yA, zA, yB, zB, yC, zC, yD, zD};
  CHECK_INT_EQ(emi_nowcast_tree_na(&t), 18);
  CHECK_INT_EQ(emi_nowcast_tree_a(&t, S(2, 1, 0)), (0 * 3 + 1) * 2 + 0);
  CHECK_INT_EQ(emi_nowcast_tree_a(&t, S3(1, 2, 1, 1)), (1 * 3 + 1) * 2 + 1);
  emi_nowcast_tree_pool(&t, yD, zD, yC, zC, yB, zB, yA, zA);
  double sy = 0, sz = 0;
  for (int a = 0; a < 18; a++) sy += yA[a], sz += zA[a];
  CHECK_CLOSE(sy, 5.0 / 3, 1e-15, 0);  /* A: 5 crossing-days / 3 */
  CHECK_CLOSE(sz, 11.0 / 3, 1e-15, 0); /* B and X: 11 / 3 */
  emi_nowcast_tree_means(&t, muA, muB, muC, muD);
  /* by hand, kappa = 2, prior Beta(1/2, 1/2).  State (bin 0, cnt bin 0, abroad): y = 2/3 (A), z = 2/3 (B) +
   * 1/3 (X) = 1, all of citizenship 0; its level-A cell (cnt bin 0, abroad, any bin) has only these:
   *   muA = (1/2 + 2/3) / (1 + 5/3) = 7/16
   *   muB = (2 * 7/16 + 2/3) / (2 + 5/3) = 37/88
   *   muC(cit 0) = (2 * 37/88 + 2/3) / (11/3) = 199/484;  muD(cit 0) = (2 * 199/484 + 2/3) / (11/3) = 1081/2662
   *   citizenship 1 has no completed history: muC = muD = muB = 37/88 */
  CHECK_CLOSE(muA[(0 * 3 + 0) * 2 + 1], 7.0 / 16, 1e-15, 1e-14);
  CHECK_CLOSE(muB[S(0, 0, 1)], 37.0 / 88, 1e-15, 1e-14);
  CHECK_CLOSE(muC[S(0, 0, 1) * 2 + 0], 199.0 / 484, 1e-15, 1e-14);
  CHECK_CLOSE(muD[S(0, 0, 1) * 2 + 0], 1081.0 / 2662, 1e-15, 1e-14);
  CHECK_CLOSE(muD[S(0, 0, 1) * 2 + 1], 37.0 / 88, 1e-15, 1e-14);
  /* the same state in bin 2, which no completed crossing reached: its level-A cell's mean 7/16 */
  CHECK_CLOSE(muD[S(2, 0, 1) * 2 + 0], 7.0 / 16, 1e-15, 1e-14);
  /* a level-A cell without any data (cnt bin 1, at home): the prior's mean 1/2 */
  CHECK_CLOSE(muD[S(2, 1, 0) * 2 + 1], 0.5, 1e-15, 1e-14);
  /* the pending exit: on day 99 with the data ending on day 100 (d = 2), still abroad -> state (0, 0, 1) */
  hist_make(&P, &p, 2, (int32_t[]){50, 99}, (uint8_t[]){I, O}, 0, NULL);
  CHECK_INT_EQ(emi_nowcast_state(&p, EMI_NOWCAST_DEP, &P.h, 1, 2), S(0, 0, 1));
  /* its entry is not a departure candidate */
  CHECK_INT_EQ(emi_nowcast_state(&p, EMI_NOWCAST_DEP, &P.h, 0, 51), EMI_NOWCAST_NO);
  /* seen at d = 6 it would be certain (6 days abroad) */
  CHECK_INT_EQ(emi_nowcast_state(&p, EMI_NOWCAST_DEP, &A.h, 0, 6), EMI_NOWCAST_YES);

  /* C, a shadow: exit on day 0 (5 days abroad), back on day 5, out again on day 6 for good.  Final: the first
   * exit has 9 of its 10 days abroad: a departure; the entry of the (now) non-resident is a candidate for an
   * arrival (short: 1 day in); the second exit is a non-resident's: not a candidate.  The first exit is open
   * until day 6 (cnt 6 at d = 7).  The entry at day 5: plane 2 at d = 1 (day 5, the exit still open), then
   * plane 0 (a candidate): days in the country 1, open while 1 + 10 - d >= 6 (d <= 5): d = 2, 3 -> (0, 0, 0),
   * d = 4, 5 -> (1, 0, 0).  The second exit: the entry (a candidate, open until day 10: certain at d = 6)
   * shadows it, plane 2, for days 6 .. 9 (d = 1 .. 4), abroad all along: (2,0,0,1) d = 1, 2; (2,0,1,1) d = 3;
   * (2,1,1,1) d = 4. */
  hist_make(&C, &p, 3, (int32_t[]){0, 5, 6}, (uint8_t[]){O, I, O}, 0, NULL);
  CHECK_INT_EQ(C.cls[0], EMI_CLASS_DEPARTURE);
  CHECK_INT_EQ(C.cand[1], 1);
  CHECK_INT_EQ(C.cand[2], 0);
  CHECK_INT_EQ(C.ountil[0], 6);
  CHECK_INT_EQ(C.ountil[1], 10);
  CHECK_INT_EQ(C.ountil[2], INT32_MIN);
  {
    int64_t e[54 * 2], f[54 * 2];
    memset(e, 0, sizeof e);
    memset(f, 0, sizeof f);
    emi_nowcast_train(&p, EMI_NOWCAST_ARR, &C.h, 1, 0, e, 2);
    emi_nowcast_train_ref(&p, EMI_NOWCAST_ARR, &C.h, 1, 0, f, 2);
    CHECK(!memcmp(e, f, sizeof e));
    CHECK_INT_EQ(e[2 * S3(2, 0, 0, 1)], 1);
    CHECK_INT_EQ(e[2 * S(0, 0, 0)], 2);
    CHECK_INT_EQ(e[2 * S(1, 0, 0)], 2);
    memset(e, 0, sizeof e);
    memset(f, 0, sizeof f);
    emi_nowcast_train(&p, EMI_NOWCAST_DEP, &C.h, 2, 0, e, 2);
    emi_nowcast_train_ref(&p, EMI_NOWCAST_DEP, &C.h, 2, 0, f, 2);
    CHECK(!memcmp(e, f, sizeof e));
    CHECK_INT_EQ(e[2 * S3(2, 0, 0, 1)], 2);
    CHECK_INT_EQ(e[2 * S3(2, 0, 1, 1)], 1);
    CHECK_INT_EQ(e[2 * S3(2, 1, 1, 1)], 1);
    int64_t sum = 0;
    for (size_t q = 0; q < 54 * 2; q++) sum += e[q];
    CHECK_INT_EQ(sum, 4);
    CHECK_INT_EQ(emi_nowcast_plane(&p, &C.h, 2, 4), 2);
    CHECK_INT_EQ(emi_nowcast_plane(&p, &C.h, 2, 5), 0);
  }

  /* UND: declarations.  A's exit with a declaration on day 4, window 0 before .. 5 after: declared from
   * d = 5 (certainly not undeclared); before that, open states; the rule's migrant state at d >= 6 never
   * comes (declared first). */
  const emi_nowcast_params_t pu = {10, 6, 0, 0, 5, 3, bins, 3, 3};
  int64_t au[108], ar[108];
  memset(au, 0, sizeof au);
  memset(ar, 0, sizeof ar);
  const int32_t dec[] = {4};
  hist_t AD;
  hist_make(&AD, &pu, 1, (int32_t[]){0}, (uint8_t[]){O}, 1, dec);
  emi_nowcast_train(&pu, EMI_NOWCAST_UND, &AD.h, 0, 0, au, 2);
  emi_nowcast_train_ref(&pu, EMI_NOWCAST_UND, &AD.h, 0, 0, ar, 2);
  CHECK(!memcmp(au, ar, sizeof au));
  CHECK_INT_EQ(au[S(0, 0, 1) * 2], 2); /* d = 1, 2 */
  CHECK_INT_EQ(au[S(0, 1, 1) * 2], 1); /* d = 3 */
  CHECK_INT_EQ(au[S(1, 1, 1) * 2], 1); /* d = 4; declared from d = 5 */
  /* without the declaration: migrant at d = 6, undeclared once the window after it closes (d > 5): the
   * "threshold reached" bin is never open (d = 6 > 5 already) */
  memset(au, 0, sizeof au);
  emi_nowcast_train(&pu, EMI_NOWCAST_UND, &A.h, 0, 1, au, 2);
  CHECK_INT_EQ(au[S(1, 1, 1) * 2 + 1], 2); /* d = 4, 5 */
  CHECK_INT_EQ(emi_nowcast_state(&pu, EMI_NOWCAST_UND, &A.h, 0, 6), EMI_NOWCAST_YES);
  /* with a longer declaration window (8 days after: horizon 9) the migrant waits in bin "reached" */
  const emi_nowcast_params_t pl = {10, 6, 0, 0, 8, 3, bins, 3, 3};
  CHECK_INT_EQ(emi_nowcast_state(&pl, EMI_NOWCAST_UND, &A.h, 0, 7), S(2, 2, 1));
  CHECK_INT_EQ(emi_nowcast_state(&pl, EMI_NOWCAST_UND, &A.h, 0, 9), EMI_NOWCAST_YES);
#undef ACC
#undef S
#undef S3
}

static void test_draws(void)
{
  /* one state, one citizenship, one group; levels A..C nearly fixed at p = 0.3 by 10^6 crossings, the leaf
   * has y = 6, z = 14: p_D ~ Beta(10 * 0.3 + 6, 10 * 0.7 + 14) = Beta(9, 21).  50 pending crossings:
   * X ~ BetaBinomial(50, 9, 21): mean 50 * 0.3 = 15, variance n a b (a + b + n) / ((a + b)^2 (a + b + 1))
   * = 50 * 9 * 21 * 80 / (900 * 31) = 27.097 (a binomial would have 10.5). */
  /* layout: 1 bin, 1 count bin: 6 states (3 planes x 1 x 1 x 2 locations), level-A cell of state 0 is 0 */
  const double yA[6] = {3e5}, zA[6] = {7e5}, yB[6] = {3e5}, zB[6] = {7e5}, yC[6] = {3e5}, zC[6] = {7e5}, yD[6] = {6},
               zD[6] = {14};
  emi_nowcast_tree_t t = {6, 1, 1, 1, 1, 0.5, 0.5, 10.0, yA, zA, yB, zB, yC, zC, yD, zD};
  const int64_t pending[6] = {50};
  const int32_t states[1] = {0};
  enum { R = 20000 };
  static int64_t x[R], y[R];
  CHECK_OK(emi_nowcast_cell_draws(&t, 42, EMI_NOWCAST_DEP, 1, states, 0, pending, 0, R, x));
  double m = 0, v = 0;
  for (int r = 0; r < R; r++) m += (double)x[r];
  m /= R;
  for (int r = 0; r < R; r++) v += ((double)x[r] - m) * ((double)x[r] - m);
  v /= R - 1;
  CHECK_CLOSE(m, 15.0, 4 * sqrt(27.097 / R), 0);   /* 4 standard errors */
  CHECK_CLOSE(v, 27.097, 4 * 27.097 * sqrt(2.0 / R) + 0.2, 0);
  /* 20 pending crossings (drawn by a Polya urn): BetaBinomial(20, 9, 21), mean 6, variance
   * 20 * 9 * 21 * 50 / (900 * 31) = 6.774 */
  const int64_t twenty[6] = {20};
  CHECK_OK(emi_nowcast_cell_draws(&t, 42, EMI_NOWCAST_DEP, 1, states, 0, twenty, 0, R, y));
  m = v = 0;
  for (int r = 0; r < R; r++) m += (double)y[r];
  m /= R;
  for (int r = 0; r < R; r++) v += ((double)y[r] - m) * ((double)y[r] - m);
  v /= R - 1;
  CHECK_CLOSE(m, 6.0, 4 * sqrt(6.774 / R), 0);
  CHECK_CLOSE(v, 6.774, 4 * 6.774 * sqrt(2.0 / R) + 0.1, 0);
  double muA[6], muB[6], muC[6], muD[6];
  emi_nowcast_tree_means(&t, muA, muB, muC, muD);
  CHECK_CLOSE(muD[0], 0.3, 1e-3, 0);
  /* keyed by the draw index: draws 100..109 alone are the same as in the long run */
  CHECK_OK(emi_nowcast_cell_draws(&t, 42, EMI_NOWCAST_DEP, 1, states, 0, pending, 100, 10, y));
  CHECK(!memcmp(y, x + 100, 10 * sizeof *y));
  /* another seed, other draws */
  CHECK_OK(emi_nowcast_cell_draws(&t, 43, EMI_NOWCAST_DEP, 1, states, 0, pending, 100, 10, y));
  CHECK(memcmp(y, x + 100, 10 * sizeof *y) != 0);
  /* no pending crossing: every draw is 0 */
  const int64_t none[6] = {0};
  CHECK_OK(emi_nowcast_cell_draws(&t, 42, EMI_NOWCAST_DEP, 1, states, 0, none, 0, 10, y));
  int64_t s = 0;
  for (int r = 0; r < 10; r++) s += y[r];
  CHECK_INT_EQ(s, 0);
}

/* The grouped draws (all citizenships at once) equal the per-cell reference, value for value; a leaf of one
 * pending crossing (the Bernoulli shortcut) has the mean of its Beta. */
static void test_group_draws(void)
{
  enum { NB = 2, NCB = 2, NS = 3 * NB * NCB * 2, NC = 3, NG = 2, NL = NS * NC * NG, R = 200 };
  double yD[NL], zD[NL], yC[NS * NC], zC[NS * NC], yB[NS], zB[NS], yA[12], zA[12];
  int64_t pend[NL];
  for (int l = 0; l < NL; l++) {
    yD[l] = rnd(5) ? (double)rnd(40) / 3 : 0;
    zD[l] = (double)rnd(90) / 3;
    pend[l] = rnd(3) ? 0 : rnd(2) ? 1 : (int64_t)rnd(20);
  }
  emi_nowcast_tree_t t = {NS, NC, NG, NB, NCB, 0.5, 0.5, 4.0, yA, zA, yB, zB, yC, zC, yD, zD};
  emi_nowcast_tree_pool(&t, yD, zD, yC, zC, yB, zB, yA, zA);
  static int64_t g[NC * R], x[R];
  for (int j = 0; j < NB; j++) {
    int32_t sts[3 * NCB * 2];
    for (int q = 0; q < 3 * NCB * 2; q++) sts[q] = (int32_t)((q / (2 * NCB) * NB + j) * 2 * NCB + q % (2 * NCB));
    CHECK_OK(emi_nowcast_group_draws(&t, 7, EMI_NOWCAST_ARR, 3 * NCB * 2, sts, pend, 3, R, g));
    for (int c = 0; c < NC; c++) {
      CHECK_OK(emi_nowcast_cell_draws(&t, 7, EMI_NOWCAST_ARR, 3 * NCB * 2, sts, (size_t)c, pend, 3, R, x));
      CHECK(!memcmp(x, g + c * R, sizeof x));
    }
  }
  int64_t sum = 0;
  for (int i = 0; i < NC * R; i++) sum += g[i];
  CHECK(sum > 0);
  /* the sparse twins: the pooled sums bit for bit from the nonzero leaves only, and the draws from the pending
   * leaves of one bin value for value */
  {
    uint64_t leaf[NL];
    double ly[NL], lz[NL];
    int64_t lp[NL];
    size_t n = 0;
    for (int l = 0; l < NL; l++)
      if (yD[l] != 0 || zD[l] != 0) leaf[n] = (uint64_t)l, ly[n] = yD[l], lz[n] = zD[l], lp[n] = pend[l], n++;
    double yC2[NS * NC], zC2[NS * NC], yB2[NS], zB2[NS], yA2[12], zA2[12];
    const emi_nowcast_leaves_t L = {n, leaf, ly, lz, lp};
    emi_nowcast_tree_pool_leaves(&t, &L, yC2, zC2, yB2, zB2, yA2, zA2);
    CHECK(!memcmp(yC, yC2, sizeof yC) && !memcmp(zC, zC2, sizeof zC) && !memcmp(yB, yB2, sizeof yB) &&
          !memcmp(zB, zB2, sizeof zB) && !memcmp(yA, yA2, sizeof yA) && !memcmp(zA, zA2, sizeof zA));
    static int64_t g2[NC * R];
    for (int j = 0; j < NB; j++) {
      int32_t sts[3 * NCB * 2];
      for (int q = 0; q < 3 * NCB * 2; q++) sts[q] = (int32_t)((q / (2 * NCB) * NB + j) * 2 * NCB + q % (2 * NCB));
      CHECK_OK(emi_nowcast_group_draws(&t, 7, EMI_NOWCAST_ARR, 3 * NCB * 2, sts, pend, 3, R, g));
      size_t m = 0;
      for (int l = 0; l < NL; l++) /* the pending leaves of bin j, in leaf order */
        if (pend[l] > 0 && (l / (NC * NG)) / (2 * NCB) % NB == j)
          leaf[m] = (uint64_t)l, ly[m] = yD[l], lz[m] = zD[l], lp[m] = pend[l], m++;
      const emi_nowcast_leaves_t P = {m, leaf, ly, lz, lp};
      CHECK_OK(emi_nowcast_leaves_draws(&t, 7, EMI_NOWCAST_ARR, &P, 3, R, g2));
      CHECK(!memcmp(g, g2, sizeof g));
    }
  }
  /* one pending crossing, p ~ Beta(9, 21) (parents fixed by 10^6 crossings at 0.3): mean 0.3, 4 s.e. */
  const double y6[6] = {3e5}, z6[6] = {7e5}, yl[6] = {6}, zl[6] = {14};
  emi_nowcast_tree_t u = {6, 1, 1, 1, 1, 0.5, 0.5, 10.0, y6, z6, y6, z6, y6, z6, yl, zl};
  const int64_t one[6] = {1};
  const int32_t s0[1] = {0};
  static int64_t b[20000];
  CHECK_OK(emi_nowcast_group_draws(&u, 5, EMI_NOWCAST_DEP, 1, s0, one, 0, 20000, b));
  double m = 0;
  for (int r = 0; r < 20000; r++) m += (double)b[r];
  CHECK_CLOSE(m / 20000, 0.3, 4 * sqrt(0.21 / 20000), 0);
}

static void test_bins_interval_errors(void)
{
  int32_t bins[EMI_NOWCAST_MAX_BINS + 1];
  int nb = 0;
  const int32_t E = emi_days_from_civil(2023, 12, 31);
  CHECK_OK(emi_nowcast_bins_monthly(E, 487, EMI_NOWCAST_MAX_BINS, bins, &nb));
  CHECK_INT_EQ(bins[0], 1);
  CHECK_INT_EQ(bins[1], 32); /* December: d = 1 .. 31 */
  CHECK_INT_EQ(bins[2], 62); /* November: d = 32 .. 61 */
  CHECK(bins[nb] >= 487 && bins[nb - 1] < 487);
  int bad = 0;
  for (int32_t t = E - 486; t <= E; t++) {
    int y1, m1, d1, y2, m2, d2;
    emi_civil_from_days(E, &y1, &m1, &d1);
    emi_civil_from_days(t, &y2, &m2, &d2);
    int j = (y1 * 12 + m1) - (y2 * 12 + m2);
    int32_t d = E - t + 1;
    if (!(bins[j] <= d && d < bins[j + 1])) bad++;
  }
  CHECK_INT_EQ(bad, 0);
  /* too few bins allowed */
  CHECK_ERR(emi_nowcast_bins_monthly(E, 487, 3, bins, &nb), EMI_ERR_DOMAIN);

  int64_t x[101];
  for (int i = 0; i < 101; i++) x[i] = (i * 37) % 101; /* 0 .. 100 shuffled */
  double lo, hi;
  double mass;
  emi_nowcast_interval(x, 101, 0.9, &lo, &hi, &mass);
  CHECK_CLOSE(lo, 5.0, 1e-12, 0);
  CHECK_CLOSE(hi, 95.0, 1e-12, 0);
  CHECK_CLOSE(mass, 91.0 / 101, 1e-15, 0); /* 5 .. 95 */
  int64_t z[4] = {7, 1, 3, 5};
  emi_nowcast_interval(z, 4, 0.5, &lo, &hi, &mass); /* h = 3 * 0.25 = 0.75: 1 + 0.75 * 2; h = 2.25: 5 + 0.25 * 2 */
  CHECK_CLOSE(lo, 2.5, 1e-12, 0);
  CHECK_CLOSE(hi, 5.5, 1e-12, 0);
  CHECK_CLOSE(mass, 0.5, 1e-15, 0); /* 3 and 5 */
  int64_t w[10] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1}; /* discrete: [0, 1] holds every draw */
  emi_nowcast_interval(w, 10, 0.9, &lo, &hi, &mass);
  CHECK_CLOSE(lo, 0.0, 1e-15, 0);
  CHECK_CLOSE(hi, 1.0, 1e-15, 0);
  CHECK_CLOSE(mass, 1.0, 1e-15, 0);

  /* the reported summary: 970 of 1000 draws 0, 30 draws 1: the mean 0.03 lies outside the quantiles [0, 0], so the
   * interval is widened to [0, 1] (holding every draw); a law with its mean inside keeps the quantiles */
  static int64_t v[1000];
  for (int i = 0; i < 1000; i++) v[i] = i % 100 < 3;
  double pt;
  emi_nowcast_summary(v, 1000, 0.9, &pt, &lo, &hi, &mass);
  CHECK_CLOSE(pt, 0.03, 1e-15, 0);
  CHECK_CLOSE(lo, 0.0, 1e-15, 0);
  CHECK_CLOSE(hi, 1.0, 1e-15, 0);
  CHECK_CLOSE(mass, 1.0, 1e-15, 0);
  for (int i = 0; i < 1000; i++) v[i] = 1 - (i % 100 < 3); /* mirror: 0.97, quantiles [1, 1] -> [0, 1] */
  emi_nowcast_summary(v, 1000, 0.9, &pt, &lo, &hi, &mass);
  CHECK_CLOSE(pt, 0.97, 1e-15, 0);
  CHECK_CLOSE(lo, 0.0, 1e-15, 0);
  CHECK_CLOSE(hi, 1.0, 1e-15, 0);
  for (int i = 0; i < 101; i++) x[i] = (i * 37) % 101; /* 0 .. 100: mean 50, quantiles 5 and 95 kept */
  emi_nowcast_summary(x, 101, 0.9, &pt, &lo, &hi, &mass);
  CHECK_CLOSE(pt, 50.0, 1e-12, 0);
  CHECK_CLOSE(lo, 5.0, 1e-12, 0);
  CHECK_CLOSE(hi, 95.0, 1e-12, 0);
  CHECK_CLOSE(mass, 91.0 / 101, 1e-15, 0);

  static const int32_t b_ok[4] = {1, 4, 7, 10}, b_short[3] = {1, 4, 7}, b_bad[4] = {1, 4, 4, 10};
  emi_nowcast_params_t p = {10, 6, 0, 0, 0, 3, b_ok, 3, 3};
  CHECK_OK(emi_nowcast_check(&p));
  p.ncount_bins = 4;
  CHECK_ERR(emi_nowcast_check(&p), EMI_ERR_DOMAIN);
  p.ncount_bins = 3;
  p.bin_start = b_bad;
  CHECK_ERR(emi_nowcast_check(&p), EMI_ERR_DOMAIN);
  p.bin_start = b_short, p.nbins = 2; /* ends at d = 7 < horizon 10 */
  CHECK_ERR(emi_nowcast_check(&p), EMI_ERR_DOMAIN);
  p.bin_start = b_ok, p.nbins = 3, p.threshold_days = 11;
  CHECK_ERR(emi_nowcast_check(&p), EMI_ERR_DOMAIN);
}

int main(void)
{
  test_hand();
  test_fast_vs_ref();
  test_state_vs_rule();
  test_draws();
  test_group_draws();
  test_bins_interval_errors();
  return emi_test_report("test_nowcast");
}
