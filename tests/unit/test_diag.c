/* test_diag: MCMC convergence diagnostics (kernels/emi_diag.c, contract in emi_diag.h).
 *
 * Right values and where they come from:
 *  - hand-worked cases (tiny chains): mean, sd and R's type-7 quantiles by arithmetic; split-Rhat
 *    and the ESS (Geyer's sequence step by step) by exact fractions, or in closed form in the
 *    normal quantiles Phi^-1((r - 3/8) / (S + 1/4)) of the average ranks; the arithmetic is in
 *    the comments;
 *  - an independent implementation, tests/unit/diag_reference.py (python3 + numpy), written from
 *    the published definitions (Vehtari et al. 2021; the R package posterior's split_chains,
 *    z_scale, rhat and ess_rfun) with different numerics (Phi^-1 by Newton on erf/erfc, fsum,
 *    autocovariances both direct and by FFT): eight deterministic data sets (LCG draws, mirrored
 *    here bit for bit) must agree to 1e-12 relative and in every flag;
 *  - statistical ground truth with Philox draws: iid normal chains (R-hat ~ 1, ESS ~ S), AR(1)
 *    chains (ESS of the mean S (1 - phi) / (1 + phi)), shifted and rescaled chains (R-hat and
 *    folded R-hat above 1.1), antithetic chains (ESS capped at S log10 S); the tolerances are
 *    4-5 sampling sd, the sd measured by `diag_reference.py --calibrate` at the same sizes;
 *  - exact invariances implied by the definitions: x -> 2 x (a power of two: every rounding is
 *    the same) doubles mean, sd, quantiles and mcse and leaves R-hat, ESS and flags bit-identical;
 *    x -> exp(x) leaves the rank-based bulk R-hat, bulk ESS and tail ESS bit-identical; the
 *    stride read in place gives the bit-identical result of the contiguous copy;
 *  - every documented flag and error, emi_diag_quantile's edge cases, and no NaN / Inf in *out.
 * Every workspace and draw array is malloc'ed at exactly its documented size, so the sanitizer
 * build catches a read or write past it.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emi_diag.h"
#include "emi_dist.h"
#include "emi_philox.h"
#include "emi_test.h"

/* ------------------------------------------------------------------------------ helpers */

static int out_finite(const emi_diag_t *r)
{
  const double v[] = {r->mean, r->sd, r->q05, r->q50, r->q95, r->mcse_mean, r->rhat,
                      r->rhat_bulk, r->rhat_fold, r->ess_bulk, r->ess_tail, r->ess_mean};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
    if (!isfinite(v[i])) return 0;
  return 1;
}

/* emi_diag_compute with a workspace of exactly emi_diag_work_len doubles, pre-filled with NaN
 * (the result must not depend on its contents); checks success and finite outputs. */
static void diag_run(const double *x, size_t C, size_t n, size_t stride, emi_diag_t *r)
{
  const size_t lw = emi_diag_work_len(C, n);
  CHECK(lw > 0);
  double *w = malloc(lw * sizeof *w);
  for (size_t i = 0; i < lw; i++) w[i] = NAN;
  memset(r, 0, sizeof *r);
  CHECK_OK(emi_diag_compute(x, C, n, stride, w, lw, r));
  CHECK_MSG(out_finite(r), "non-finite output (C %zu, n %zu)", C, n);
  free(w);
}

/* Copy of a small literal array at exactly its size (so ASan sees any overrun). */
static double *dup_draws(const double *x, size_t len)
{
  double *p = malloc(len * sizeof *p);
  memcpy(p, x, len * sizeof *p);
  return p;
}

static int same_result(const emi_diag_t *a, const emi_diag_t *b)
{
  return a->mean == b->mean && a->sd == b->sd && a->q05 == b->q05 && a->q50 == b->q50 &&
         a->q95 == b->q95 && a->mcse_mean == b->mcse_mean && a->rhat == b->rhat &&
         a->rhat_bulk == b->rhat_bulk && a->rhat_fold == b->rhat_fold &&
         a->ess_bulk == b->ess_bulk && a->ess_tail == b->ess_tail && a->ess_mean == b->ess_mean &&
         a->flags == b->flags;
}

/* ------------------------------------------------------------------------------ hand-worked cases */

/* Phi^-1((r - 3/8) / (S + 1/4)) for a (possibly average) rank r among S values. */
static double blom(double r, double S) { return emi_normal_quantile((r - 0.375) / (S + 0.25)); }

/* 2 chains x 4 draws, (1 2 3 4) and (5 6 7 8).  T = 8, n = 4, N = 2, M = 4, S = 8.
 *   mean = 36 / 8 = 4.5;  sd^2 = 2 (0.5^2 + 1.5^2 + 2.5^2 + 3.5^2) / 7 = 42 / 7 = 6.
 *   type 7: h = 7 p.  q05: h = 0.35 -> 1 + 0.35 (2 - 1) = 1.35;  q50: h = 3.5 -> 4.5;
 *           q95: h = 6.65 -> 7 + 0.65 = 7.65.
 *   bulk: split chains (1 2) (3 4) (5 6) (7 8); ranks = values; z_r = blom(r, 8) and
 *         z_{9-r} = -z_r (the arguments add to 1).  With a_r = -z_r (r <= 4): chain means
 *         -(a1+a2)/2, -(a3+a4)/2, +(a3+a4)/2, +(a1+a2)/2, grand mean 0, so
 *         B/N = 2 ((a1+a2)^2/4 + (a3+a4)^2/4) / 3;  chain variances (divisor 1) (a1-a2)^2/2,
 *         (a3-a4)^2/2 twice each, W = ((a1-a2)^2 + (a3-a4)^2) / 4;  R = sqrt((W/2 + B/N) / W).
 *   fold: median 4.5, |x - 4.5| in split chains (3.5 2.5) (1.5 .5) (.5 1.5) (2.5 3.5): each value
 *         twice, average ranks 1.5 3.5 5.5 7.5; blom(5.5) = -blom(3.5), blom(7.5) = -blom(1.5).
 *         With a = -blom(1.5, 8), b = -blom(3.5, 8): z-chains (a b) (-b -a) (-a -b) (b a); means
 *         +-(a+b)/2 -> B/N = (a+b)^2 / 3; variances (a-b)^2/2 -> W = (a-b)^2/2;
 *         R = sqrt(1/2 + 2 (a+b)^2 / (3 (a-b)^2)).
 *   ESS: N = 2 < 6, Geyer's loop never starts (t < N - 5 fails): tau = 2, every ESS = S/2 = 4
 *        (I(x <= 1.35) = draw 1 only and I(x <= 7.65) = all but draw 8 are not constant); the cap
 *        1/log10(8) = 1.107 < 2 is not reached.  mcse = sqrt(6) / sqrt(4).  flags = SHORT.
 *   diag_reference.py: rhat_bulk 2.9994207791566874, rhat_fold 1.6186585696952713. */
static void test_hand_ramp8(void)
{
  const double lit[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  double *x = dup_draws(lit, 8);
  emi_diag_t r;
  diag_run(x, 2, 4, 1, &r);
  CHECK_CLOSE(r.mean, 4.5, 0, 1e-15);
  CHECK_CLOSE(r.sd, sqrt(6.0), 0, 1e-15);
  CHECK_CLOSE(r.q05, 1.35, 0, 1e-15);
  CHECK_CLOSE(r.q50, 4.5, 0, 1e-15);
  CHECK_CLOSE(r.q95, 7.65, 0, 1e-15);
  double a1 = -blom(1, 8), a2 = -blom(2, 8), a3 = -blom(3, 8), a4 = -blom(4, 8);
  double W = ((a1 - a2) * (a1 - a2) + (a3 - a4) * (a3 - a4)) / 4;
  double BN = 2 * ((a1 + a2) * (a1 + a2) / 4 + (a3 + a4) * (a3 + a4) / 4) / 3;
  CHECK_CLOSE(r.rhat_bulk, sqrt((W / 2 + BN) / W), 0, 1e-14);
  CHECK_CLOSE(r.rhat_bulk, 2.9994207791566874, 0, 1e-12);
  double a = -blom(1.5, 8), b = -blom(3.5, 8);
  CHECK_CLOSE(r.rhat_fold, sqrt(0.5 + 2 * (a + b) * (a + b) / (3 * (a - b) * (a - b))), 0, 1e-14);
  CHECK_CLOSE(r.rhat_fold, 1.6186585696952713, 0, 1e-12);
  CHECK(r.rhat == r.rhat_bulk);
  CHECK_CLOSE(r.ess_bulk, 4.0, 0, 1e-15);
  CHECK_CLOSE(r.ess_tail, 4.0, 0, 1e-15);
  CHECK_CLOSE(r.ess_mean, 4.0, 0, 1e-15);
  CHECK_CLOSE(r.mcse_mean, sqrt(6.0) / 2, 0, 1e-15);
  CHECK_INT_EQ(r.flags, EMI_DIAG_SHORT);
  free(x);
}

/* 2 chains, both (1 1 0 0 -1 -1 1 1 0 0 -1 -1).  T = S = 24, n = 12, N = 6, M = 4; every split
 * chain is y = (1 1 0 0 -1 -1), so B = 0 throughout.
 *   mean 0; sd^2 = 16 / 23.  Sorted: eight -1, eight 0, eight 1;  q05: h = 23 * .05 = 1.15,
 *   x[1] = x[2] = -1 -> -1;  q50: h = 11.5 -> 0;  q95: h = 21.85 -> 1.
 *   bulk: average ranks -1 -> 4.5, 0 -> 12.5, 1 -> 20.5; blom: 4.125/24.25, 12.125/24.25 = 1/2,
 *         20.125/24.25 -> z = (-c, 0, c): z = c y, and R-hat and ESS are scale invariant.
 *   R-hat of identical chains: B/N = 0, R = sqrt((N-1)/N) = sqrt(5/6), both for z and for the
 *         folded |y| = (1 1 0 0 1 1) (not constant).  rhat = sqrt(5/6).
 *   ESS of y: acov(t) = sum_{i<6-t} y_i y_i+t / 6 = 4/6, 2/6, 0, -1/6 (t = 0..3);
 *         W = (4/6)(6/5) = 4/5;  var+ = (5/6) W = 2/3;  rho_t = 1 - (W - acov_t)/var+
 *         = -1/5 + (3/2) acov_t:  rho_1 = 3/10;  rho_0 + rho_1 > 0 and t = 0 < N - 5 = 1, so
 *         t = 2: rho_2 = -1/5, rho_3 = -9/20, sum < 0: pair dropped, loop ends, max_t = 2 and
 *         rho_2 < 0 adds nothing.  tau = -1 + 2 (1 + 3/10) = 8/5;  ESS = 24 / (8/5) = 15
 *         (cap 1/log10(24) = 0.72 < 8/5).  ess_bulk = ess_mean = 15.
 *   tail: I(x <= -1) = (0 0 0 0 1 1) in each split chain: mean 1/3, centred (-1/3 x4, 2/3 x2):
 *         acov = 2/9, 5/54, -1/27, -1/18;  W = 4/15, var+ = 2/9, rho_t = -1/5 + (9/2) acov_t:
 *         rho_1 = 13/60; t = 2: rho_2 = -11/30, rho_3 = -9/20, dropped; tau = -1 + 2 (73/60)
 *         = 43/30, ESS = 720/43.  I(x <= 1) is all ones: ESS_DEGEN, that ESS = T = 24.
 *         ess_tail = min(720/43, 24) = 720/43.
 *   mcse = sqrt(16/23) / sqrt(15).  flags = ESS_DEGEN. */
static void test_hand_pattern12(void)
{
  const double y[12] = {1, 1, 0, 0, -1, -1, 1, 1, 0, 0, -1, -1};
  double *x = malloc(24 * sizeof *x);
  memcpy(x, y, sizeof y);
  memcpy(x + 12, y, sizeof y);
  emi_diag_t r;
  diag_run(x, 2, 12, 1, &r);
  CHECK_CLOSE(r.mean, 0.0, 1e-16, 0);
  CHECK_CLOSE(r.sd, sqrt(16.0 / 23.0), 0, 1e-15);
  CHECK(r.q05 == -1.0 && r.q50 == 0.0 && r.q95 == 1.0);
  CHECK_CLOSE(r.rhat_bulk, sqrt(5.0 / 6.0), 0, 1e-14);
  CHECK_CLOSE(r.rhat_fold, sqrt(5.0 / 6.0), 0, 1e-14);
  CHECK_CLOSE(r.rhat, sqrt(5.0 / 6.0), 0, 1e-14);
  CHECK_CLOSE(r.ess_bulk, 15.0, 0, 1e-13);
  CHECK_CLOSE(r.ess_mean, 15.0, 0, 1e-13);
  CHECK_CLOSE(r.ess_tail, 720.0 / 43.0, 0, 1e-13);
  CHECK_CLOSE(r.mcse_mean, sqrt(16.0 / 23.0) / sqrt(15.0), 0, 1e-13);
  CHECK_INT_EQ(r.flags, EMI_DIAG_ESS_DEGEN);
  free(x);
}

/* Stuck chains: (0 0 1 1) and (2 2 3 3).  N = 2: split chains (0 0) (1 1) (2 2) (3 3), each
 * constant, different from each other: W = 0 < B, bulk split-Rhat = DBL_MAX (RHAT_STUCK).
 * Folded about the median 1.5: (1.5 1.5) (.5 .5) (.5 .5) (1.5 1.5): stuck again.
 *   mean 1.5;  sd^2 = (4 * 2.25 + 4 * 0.25) / 7 = 10/7;  q05: h = 0.35, x[0] = x[1] = 0 -> 0;
 *   q95: h = 6.65, x[6] = x[7] = 3 -> 3.  ESS: N = 2 -> S/2 = 4 (SHORT) for z, the draws and
 *   I(x <= 0) = (1 1)(0 0)(0 0)(0 0); I(x <= 3) is all ones -> ESS_DEGEN, T = 8; ess_tail = 4.
 *   mcse = sqrt(10/7) / 2. */
static void test_hand_stuck(void)
{
  const double lit[8] = {0, 0, 1, 1, 2, 2, 3, 3};
  double *x = dup_draws(lit, 8);
  emi_diag_t r;
  diag_run(x, 2, 4, 1, &r);
  CHECK(r.rhat_bulk == DBL_MAX && r.rhat_fold == DBL_MAX && r.rhat == DBL_MAX);
  CHECK_CLOSE(r.mean, 1.5, 0, 1e-15);
  CHECK_CLOSE(r.sd, sqrt(10.0 / 7.0), 0, 1e-15);
  CHECK(r.q05 == 0.0 && r.q50 == 1.5 && r.q95 == 3.0);
  CHECK_CLOSE(r.ess_bulk, 4.0, 0, 1e-15);
  CHECK_CLOSE(r.ess_mean, 4.0, 0, 1e-15);
  CHECK_CLOSE(r.ess_tail, 4.0, 0, 1e-15);
  CHECK_CLOSE(r.mcse_mean, sqrt(10.0 / 7.0) / 2, 0, 1e-15);
  CHECK_INT_EQ(r.flags, EMI_DIAG_RHAT_STUCK | EMI_DIAG_ESS_DEGEN | EMI_DIAG_SHORT);
  free(x);
}

/* A 0/1 quantity half and half: chains (0 1 0 1 ...) and (1 0 1 0 ...), 12 draws each.
 * N = 6, S = T = 24.  median: h = 11.5 between the last 0 and the first 1 -> 0.5; folded draws
 * |x - 0.5| = 0.5 all: constant -> RHAT_DEGEN, rhat_fold = 1.  Bulk: z = -+c (ranks 6.5, 18.5
 * are symmetric: 6.125 + 18.125 = 24.25); each split chain holds three of each -> every chain
 * mean 0, B = 0, R = sqrt(5/6); rhat = max(sqrt(5/6), 1) = 1.
 * ESS of an alternating chain +-c: acov_0 = c^2, acov_1 = -(5/6) c^2, W = (6/5) c^2, var+ = c^2:
 * rho_1 = 1 - 6/5 - 5/6 = -31/30, rho_0 + rho_1 = -1/30 <= 0: the loop does not start (N = 6 is
 * long enough, so no SHORT), tau = 2, ESS = 12 for z, for the draws (affine in z) and for
 * I(x <= q05 = 0) = 1 - x; I(x <= q95 = 1) is all ones -> ESS_DEGEN, 24.  ess_tail = 12.
 * mean 1/2, sd^2 = 24 * 0.25 / 23 = 6/23, mcse = sqrt(6/23) / sqrt(12). */
static void test_hand_binary(void)
{
  double *x = malloc(24 * sizeof *x);
  for (int d = 0; d < 12; d++) x[d] = d % 2, x[12 + d] = 1 - d % 2;
  emi_diag_t r;
  diag_run(x, 2, 12, 1, &r);
  CHECK(r.rhat_fold == 1.0 && r.rhat == 1.0);
  CHECK_CLOSE(r.rhat_bulk, sqrt(5.0 / 6.0), 0, 1e-14);
  CHECK(r.q05 == 0.0 && r.q50 == 0.5 && r.q95 == 1.0);
  CHECK_CLOSE(r.mean, 0.5, 0, 1e-15);
  CHECK_CLOSE(r.sd, sqrt(6.0 / 23.0), 0, 1e-15);
  CHECK_CLOSE(r.ess_bulk, 12.0, 0, 1e-15);
  CHECK_CLOSE(r.ess_mean, 12.0, 0, 1e-15);
  CHECK_CLOSE(r.ess_tail, 12.0, 0, 1e-15);
  CHECK_CLOSE(r.mcse_mean, sqrt(6.0 / 23.0) / sqrt(12.0), 0, 1e-15);
  CHECK_INT_EQ(r.flags, EMI_DIAG_RHAT_DEGEN | EMI_DIAG_ESS_DEGEN);
  free(x);
}

/* Odd chains whose only non-constant draw is a dropped middle one: (1 1 7 1 1), (1 1 1 1 1).
 * n = 5, N = 2: split draws are all 1 -> bulk and folded inputs constant (RHAT_DEGEN, both 1) and
 * every ESS input constant (ESS_DEGEN, ESS = T = 10: the draws, and I(x <= q05 = 1),
 * I(x <= q95) are all ones).  But the draws are not all equal, so not CONSTANT:
 * mean = 16/10; sd^2 = (9 * 0.6^2 + 5.4^2) / 9 = 3.6; q05: h = 0.45 -> 1; q50: h = 4.5 -> 1;
 * q95: h = 8.55 -> 1 + 0.55 * 6 = 4.3;  mcse = sqrt(3.6) / sqrt(10) = 0.6.
 * SHORT: the header defines it by N < 6, but here no ESS is computed by the K = 0 rule (all are
 * degenerate) and the kernel does not set it; the test does not pin that bit (see the report). */
static void test_hand_middle_only(void)
{
  const double lit[10] = {1, 1, 7, 1, 1, 1, 1, 1, 1, 1};
  double *x = dup_draws(lit, 10);
  emi_diag_t r;
  diag_run(x, 2, 5, 1, &r);
  CHECK(r.rhat == 1.0 && r.rhat_bulk == 1.0 && r.rhat_fold == 1.0);
  CHECK(r.ess_bulk == 10.0 && r.ess_tail == 10.0 && r.ess_mean == 10.0);
  CHECK_CLOSE(r.mean, 1.6, 0, 1e-15);
  CHECK_CLOSE(r.sd, sqrt(3.6), 0, 1e-15);
  CHECK(r.q05 == 1.0 && r.q50 == 1.0);
  CHECK_CLOSE(r.q95, 4.3, 0, 1e-14); /* h = 9 * 0.95 rounds to 8.549999999999999 */
  CHECK_CLOSE(r.mcse_mean, 0.6, 0, 1e-15);
  CHECK_INT_EQ(r.flags & ~EMI_DIAG_SHORT, EMI_DIAG_RHAT_DEGEN | EMI_DIAG_ESS_DEGEN);
  free(x);
}

/* EMI_DIAG_CONSTANT: all draws equal -> the documented values, and no other flag (not even SHORT
 * at n = 4). */
static void test_constant(void)
{
  const size_t sizes[2][2] = {{2, 4}, {3, 25}};
  for (int k = 0; k < 2; k++) {
    const size_t C = sizes[k][0], n = sizes[k][1], T = C * n;
    double *x = malloc(T * sizeof *x);
    for (size_t i = 0; i < T; i++) x[i] = -3.25;
    emi_diag_t r;
    diag_run(x, C, n, 1, &r);
    CHECK(r.mean == -3.25 && r.q05 == -3.25 && r.q50 == -3.25 && r.q95 == -3.25);
    CHECK(r.sd == 0.0 && r.mcse_mean == 0.0);
    CHECK(r.rhat == 1.0 && r.rhat_bulk == 1.0 && r.rhat_fold == 1.0);
    CHECK(r.ess_bulk == (double)T && r.ess_tail == (double)T && r.ess_mean == (double)T);
    CHECK_INT_EQ(r.flags, EMI_DIAG_CONSTANT);
    free(x);
  }
}

/* ------------------------------------------------------------------------------ reference data sets */

/* The LCG of diag_reference.py: s <- A s + C mod 2^64, u = (s >> 11) 2^-53 (exact), and each
 * generated draw is one IEEE rounding at a time (multiplications by powers of two are exact), so
 * C and Python produce the same bits. */
typedef struct {
  uint64_t s;
} lcg_t;

static uint64_t lcg_next(lcg_t *g)
{
  g->s = g->s * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
  return g->s;
}
static double lcg_uniform(lcg_t *g) { return (double)(lcg_next(g) >> 11) * 0x1p-53; }

enum { KIND_UNIF, KIND_AR_HALF, KIND_TIES6, KIND_TREND, KIND_ANTI, KIND_SCALE4, KIND_AR_STRONG };

static void make_dataset(size_t C, size_t n, uint64_t seed, int kind, double *x)
{
  lcg_t g = {seed};
  for (size_t c = 0; c < C; c++) {
    double prev = 0.0;
    for (size_t d = 0; d < n; d++) {
      double v, e;
      switch (kind) {
      case KIND_UNIF: v = lcg_uniform(&g); break;
      case KIND_AR_HALF: e = lcg_uniform(&g) - 0.5; v = d == 0 ? e : prev * 0.5 + e; break;
      case KIND_TIES6: v = (double)((lcg_next(&g) >> 33) % 6); break;
      case KIND_TREND: v = ((double)d * 0.125 + (lcg_uniform(&g) - 0.5)) + (double)c * 0.5; break;
      case KIND_ANTI: e = lcg_uniform(&g) - 0.5; v = d == 0 ? e : e - (prev - prev * 0.25); break;
      case KIND_SCALE4: e = lcg_uniform(&g) - 0.5; v = c == 3 ? e * 4.0 : e; break;
      default: e = lcg_uniform(&g) - 0.5; v = d == 0 ? e : (prev - prev * 0.0625) + e; break;
      }
      x[c * n + d] = v;
      prev = v;
    }
  }
}

#define NFIELD 12
typedef struct {
  const char *name;
  size_t C, n;
  uint64_t seed;
  int kind;
  double v[NFIELD]; /* mean, sd, q05, q50, q95, mcse_mean, rhat, rhat_bulk, rhat_fold,
                       ess_bulk, ess_tail, ess_mean */
  int flags;
} ref_case_t;

/* Generated by tests/unit/diag_reference.py (python3 + numpy); regenerate with
 *   /usr/bin/python3 tests/unit/diag_reference.py
 * and paste the table.  What each set exercises (reference trace: Geyer's last pair max_t):
 *   iid_unif    4 x 20 uniforms, N = 10: the loop runs to t = 2 on every ESS
 *   ar_half     4 x 100, x_t = x_{t-1}/2 + e: positive autocorrelation, max_t 4..12
 *   odd_ties    3 x 25 integers 0..5: odd n (middle draw dropped), heavy ties (average ranks),
 *               q95 = max so I(x <= q95) is constant (ESS_DEGEN, T = 75 enters the min)
 *   trend       4 x 40 drift + chain offsets: the loop stops at the lag limit (t < N - 5,
 *               max_t = 16 with N = 20), R-hat 1.93
 *   antithetic  4 x 50, x_t = -(3/4) x_{t-1} + e: bulk and mean ESS capped at S log10 S
 *   short       2 x 10, N = 5: every ESS = S/2 = 10 (SHORT)
 *   scale4      4 x 60, chain 3 four times wider: rhat_fold 1.32 > rhat_bulk 1.00
 *   ar_strong   3 x 41, x_t = (15/16) x_{t-1} + e, odd n: long monotone sequence */
static const ref_case_t REF_CASES[] = {
  {"iid_unif", 4, 20, 1, KIND_UNIF,
   {0.49722255848263586, 0.2809988215657798, 0.05403057829882824, 0.533684828713601, 0.9652085675872447, 0.025078866337233573, 0.9903239478680204, 0.9903239478680204, 0.9818450975274976, 115.43557964317067, 117.54385964912274, 125.54320037822603},
   0},
  {"ar_half", 4, 100, 2, KIND_AR_HALF,
   {0.024302129078608486, 0.34264936189580125, -0.5631954254424474, 0.032964956152657265, 0.5575798830659869, 0.03363556026042267, 1.0280482179049064, 1.0280482179049064, 1.0107793476536264, 108.87686857952745, 241.39076057476737, 103.77733712090712},
   0},
  {"odd_ties", 3, 25, 3, KIND_TIES6,
   {2.68, 1.9183326093250876, 0.0, 3.0, 5.0, 0.20255894725125473, 1.0177220137490148, 1.0177220137490148, 1.002725986317192, 94.19902561967092, 75.0, 89.69019252600073},
   EMI_DIAG_ESS_DEGEN},
  {"trend", 4, 40, 4, KIND_TREND,
   {3.2176875637266975, 1.6167510915672656, 0.5674347290680398, 3.316103206123661, 5.908290118362614, 0.6345204605201676, 1.927350196142045, 1.927350196142045, 1.1954917019676288, 6.716005525687439, 17.884350448672595, 6.492247445276943},
   0},
  {"antithetic", 4, 50, 5, KIND_ANTI,
   {-0.013486710164095628, 0.5095207843062016, -0.8617081209346773, -0.04267570691499305, 0.8451791409200665, 0.023751211474805575, 1.037815931482624, 0.9808017609812016, 1.037815931482624, 460.2059991327962, 154.27757090975956, 460.2059991327962},
   EMI_DIAG_ESS_CAPPED},
  {"short", 2, 10, 6, KIND_UNIF,
   {0.5692249218797129, 0.2746961981917547, 0.16621438140634118, 0.553648193464066, 0.9589193800903066, 0.08686656508749714, 0.9515422076332136, 0.9515422076332136, 0.9043385803029518, 10.0, 10.0, 10.0},
   EMI_DIAG_SHORT},
  {"scale4", 4, 60, 7, KIND_SCALE4,
   {-0.017081180052816326, 0.6488884866726298, -1.2167477293613869, -0.04621466319061568, 1.2334329866776732, 0.03670334895304426, 1.3178996512470815, 0.998736541394264, 1.3178996512470815, 287.73274915310293, 33.70783006104363, 312.5566557726569},
   0},
  {"ar_strong", 3, 41, 8, KIND_AR_STRONG,
   {0.27530959156671453, 0.7195958339394567, -1.1596995162017987, 0.39725288218014165, 1.264947122627493, 0.2984425678067899, 1.4307633126810269, 1.4307633126810269, 1.3076742429617656, 7.632854548575619, 11.374975054879267, 5.813741863155901},
   0},
};

static const char *const FIELD_NAMES[NFIELD] = {"mean", "sd", "q05", "q50", "q95", "mcse_mean",
                                                "rhat", "rhat_bulk", "rhat_fold", "ess_bulk",
                                                "ess_tail", "ess_mean"};

static void result_fields(const emi_diag_t *r, double v[NFIELD])
{
  v[0] = r->mean, v[1] = r->sd, v[2] = r->q05, v[3] = r->q50, v[4] = r->q95, v[5] = r->mcse_mean;
  v[6] = r->rhat, v[7] = r->rhat_bulk, v[8] = r->rhat_fold;
  v[9] = r->ess_bulk, v[10] = r->ess_tail, v[11] = r->ess_mean;
}

/* The same algorithm on the same bits: agreement to 1e-12 relative (rounding only; the two
 * sides sum in different orders and use different Phi^-1 methods), flags exactly.  The largest
 * relative difference seen is printed. */
static void test_reference(void)
{
  double worst = 0.0;
  const char *worst_at = "";
  for (size_t k = 0; k < sizeof REF_CASES / sizeof REF_CASES[0]; k++) {
    const ref_case_t *rc = &REF_CASES[k];
    double *x = malloc(rc->C * rc->n * sizeof *x);
    make_dataset(rc->C, rc->n, rc->seed, rc->kind, x);
    emi_diag_t r;
    diag_run(x, rc->C, rc->n, 1, &r);
    double v[NFIELD];
    result_fields(&r, v);
    for (int f = 0; f < NFIELD; f++) {
      const double rel = fabs(v[f] - rc->v[f]) / (fabs(rc->v[f]) > 0 ? fabs(rc->v[f]) : 1.0);
      CHECK_MSG(rel <= 1e-12, "%s.%s = %.17g, reference %.17g (rel %.2g)", rc->name, FIELD_NAMES[f],
                v[f], rc->v[f], rel);
      if (rel > worst) worst = rel, worst_at = rc->name;
    }
    CHECK_MSG(r.flags == rc->flags, "%s.flags = 0x%x, reference 0x%x", rc->name, (unsigned)r.flags,
              (unsigned)rc->flags);
    free(x);
  }
  fprintf(stderr, "test_diag: reference agreement, largest relative difference %.3g (%s)\n", worst,
          worst_at);
}

/* ------------------------------------------------------------------------------ invariances */

/* x -> 2x: a power of two scales every sum, product and quotient exactly, so R-hat, ESS and flags
 * are bit-identical and mean, sd, quantiles and mcse exactly doubled.  x -> exp(x): strictly
 * increasing, so the ranks (hence z, rhat_bulk, ess_bulk) are the same, and the type-7 q05 / q95
 * still lie between the same two order statistics, so the tail indicators (ess_tail) are too. */
static void test_invariance(void)
{
  const size_t C = 4, n = 100, T = C * n;
  double *x = malloc(T * sizeof *x), *y = malloc(T * sizeof *y);
  make_dataset(C, n, 2, KIND_AR_HALF, x);
  emi_diag_t a, b;
  diag_run(x, C, n, 1, &a);
  for (size_t i = 0; i < T; i++) y[i] = 2.0 * x[i];
  diag_run(y, C, n, 1, &b);
  CHECK(b.mean == 2 * a.mean && b.sd == 2 * a.sd && b.mcse_mean == 2 * a.mcse_mean);
  CHECK(b.q05 == 2 * a.q05 && b.q50 == 2 * a.q50 && b.q95 == 2 * a.q95);
  CHECK(b.rhat == a.rhat && b.rhat_bulk == a.rhat_bulk && b.rhat_fold == a.rhat_fold);
  CHECK(b.ess_bulk == a.ess_bulk && b.ess_tail == a.ess_tail && b.ess_mean == a.ess_mean);
  CHECK_INT_EQ(b.flags, a.flags);
  for (size_t i = 0; i < T; i++) y[i] = exp(x[i]);
  diag_run(y, C, n, 1, &b);
  CHECK(b.rhat_bulk == a.rhat_bulk && b.ess_bulk == a.ess_bulk && b.ess_tail == a.ess_tail);
  CHECK(b.ess_mean != a.ess_mean); /* not rank based: it does change */

  /* Chains in reverse order: the same statistics up to the order of the sums. */
  for (size_t c = 0; c < C; c++) memcpy(y + c * n, x + (C - 1 - c) * n, n * sizeof *x);
  diag_run(y, C, n, 1, &b);
  double va[NFIELD], vb[NFIELD];
  result_fields(&a, va);
  result_fields(&b, vb);
  for (int f = 0; f < NFIELD; f++) CHECK_CLOSE(vb[f], va[f], 1e-15, 1e-12);
  CHECK_INT_EQ(b.flags, a.flags);
  free(x);
  free(y);
}

/* The stride reads one parameter of a chain x draw x parameter array in place: parameter 1 of 3,
 * the other two NaN (a read of them would be EMI_ERR_DOMAIN), gives the bit-identical result of
 * the contiguous copy.  The array ends right after the last element read. */
static void test_stride(void)
{
  const size_t C = 3, n = 41, T = C * n, P = 3;
  double *x = malloc(T * sizeof *x), *arr = malloc(T * P * sizeof *arr);
  make_dataset(C, n, 8, KIND_AR_STRONG, x);
  for (size_t t = 0; t < T; t++) arr[t * P] = NAN, arr[t * P + 1] = x[t], arr[t * P + 2] = NAN;
  emi_diag_t a, b;
  diag_run(x, C, n, 1, &a);
  diag_run(arr + 1, C, n, P, &b);
  CHECK(same_result(&a, &b));
  /* the last parameter: reads up to the final element */
  for (size_t t = 0; t < T; t++) arr[t * P + 2] = x[t], arr[t * P + 1] = NAN;
  diag_run(arr + 2, C, n, P, &b);
  CHECK(same_result(&a, &b));
  free(x);
  free(arr);
}

/* ------------------------------------------------------------------------------ statistical truth */

#define SEED UINT64_C(0x5eed0d1a9)

/* Chain c: x_0 = e_0 / sqrt(1 - phi^2) (stationary start), x_t = phi x_{t-1} + e_t, e ~ N(0, 1)
 * from Philox stream (SEED, purpose, entity c, step 0).  phi = 0: iid normal. */
static void ar1_chains(size_t C, size_t n, double phi, uint32_t purpose, double *x)
{
  for (size_t c = 0; c < C; c++) {
    emi_stream_t st;
    CHECK_OK(emi_stream_init(&st, SEED, purpose, c, 0));
    double prev = emi_std_normal(&st) / sqrt(1.0 - phi * phi);
    x[c * n] = prev;
    for (size_t d = 1; d < n; d++) x[c * n + d] = prev = phi * prev + emi_std_normal(&st);
  }
}

/* iid N(0, 1), 4 chains x 2000 (S = 8000).  Calibration (diag_reference.py --calibrate, 200
 * replicates at this size): ess_bulk/S mean 0.988 sd 0.032, ess_mean/S the same, ess_tail/S
 * mean 0.972 sd 0.029, rhat mean 1.0001 sd 0.0003 (max 1.0011).  Bounds: ESS/S in [0.85, 1.15]
 * (>= 4.3 sd), ess_tail/S in [0.82, 1.15], rhat < 1.01 (Vehtari et al.'s threshold, 30 sd).
 * mean within 4 sd / sqrt(T) of 0 and sd within 4 sqrt(1/(2T)) of 1; mcse ~ 1/sqrt(T). */
static void test_iid_normal(void)
{
  const size_t C = 4, n = 2000, T = C * n;
  double *x = malloc(T * sizeof *x);
  ar1_chains(C, n, 0.0, 1, x);
  emi_diag_t r;
  diag_run(x, C, n, 1, &r);
  const double S = (double)T;
  CHECK_MSG(r.rhat < 1.01 && r.rhat_bulk < 1.01 && r.rhat_fold < 1.01, "rhat %g bulk %g fold %g",
            r.rhat, r.rhat_bulk, r.rhat_fold);
  CHECK_MSG(fabs(r.ess_bulk / S - 1) <= 0.15, "ess_bulk/S = %g", r.ess_bulk / S);
  CHECK_MSG(fabs(r.ess_mean / S - 1) <= 0.15, "ess_mean/S = %g", r.ess_mean / S);
  CHECK_MSG(r.ess_tail / S >= 0.82 && r.ess_tail / S <= 1.15, "ess_tail/S = %g", r.ess_tail / S);
  CHECK_CLOSE(r.mean, 0.0, 4 / sqrt(S), 0);
  CHECK_CLOSE(r.sd, 1.0, 4 * sqrt(0.5 / S), 0);
  CHECK_CLOSE(r.mcse_mean, 1 / sqrt(S), 0, 0.15);
  /* N(0,1) quantiles +-1.6449, 0: sd of a sample quantile sqrt(p(1-p)/T)/phi(z) = 0.024 (5%) */
  CHECK_CLOSE(r.q05, -1.6448536269514729, 0.1, 0);
  CHECK_CLOSE(r.q50, 0.0, 0.06, 0);
  CHECK_CLOSE(r.q95, 1.6448536269514729, 0.1, 0);
  CHECK_INT_EQ(r.flags, 0);
  free(x);
}

/* AR(1) chains, 4 x 4000 (S = 16000): the integrated autocorrelation time of the mean is
 * (1 + phi) / (1 - phi), so the ESS is S (1 - phi) / (1 + phi) (S/3 for phi = 1/2, S/19 for 0.9);
 * the rank-normalised values of a Gaussian process are the same process (z ~ x / sd), so bulk ESS
 * has the same target.  Calibration at this size: phi = 0.5 ratio mean 0.992 sd 0.043; phi = 0.9
 * mean 1.00 sd 0.099, rhat mean 1.0049 sd 0.0028 (max 1.014).  Bounds: [0.8, 1.2] (4.6 sd) and
 * [0.6, 1.4] (4 sd); rhat < 1.01 for 0.5 (25 sd), < 1.03 for 0.9 (9 sd). */
static void test_ar1(void)
{
  const size_t C = 4, n = 4000, T = C * n;
  const double phis[2] = {0.5, 0.9}, tol[2] = {0.2, 0.4}, rmax[2] = {1.01, 1.03};
  double *x = malloc(T * sizeof *x);
  for (int k = 0; k < 2; k++) {
    ar1_chains(C, n, phis[k], (uint32_t)(2 + k), x);
    emi_diag_t r;
    diag_run(x, C, n, 1, &r);
    const double truth = (double)T * (1 - phis[k]) / (1 + phis[k]);
    CHECK_MSG(fabs(r.ess_mean / truth - 1) <= tol[k], "phi %g: ess_mean %g, expected %g", phis[k],
              r.ess_mean, truth);
    CHECK_MSG(fabs(r.ess_bulk / truth - 1) <= tol[k], "phi %g: ess_bulk %g, expected %g", phis[k],
              r.ess_bulk, truth);
    CHECK_MSG(r.rhat < rmax[k], "phi %g: rhat %g", phis[k], r.rhat);
    CHECK_INT_EQ(r.flags, 0);
  }
  free(x);
}

/* Antithetic AR(1), phi = -0.7, 4 x 2000 (S = 8000): the true tau (1 + phi)/(1 - phi) = 0.176 is
 * below the floor 1/log10(8000) = 0.256, so bulk and mean ESS are capped at S log10(S) exactly
 * (calibration: capped in 50 of 50 replicates) and ESS_CAPPED is set. */
static void test_antithetic(void)
{
  const size_t C = 4, n = 2000, T = C * n;
  double *x = malloc(T * sizeof *x);
  ar1_chains(C, n, -0.7, 4, x);
  emi_diag_t r;
  diag_run(x, C, n, 1, &r);
  const double cap = (double)T * log10((double)T);
  CHECK_CLOSE(r.ess_mean, cap, 0, 1e-14);
  CHECK_CLOSE(r.ess_bulk, cap, 0, 1e-14);
  CHECK(r.ess_tail <= cap);
  CHECK(r.flags & EMI_DIAG_ESS_CAPPED);
  CHECK(r.rhat < 1.01);
  free(x);
}

/* Non-convergence, 4 x 1000 iid N(0, 1) chains with chain 3 changed.
 *  - shifted by +2: the 8 split means are 0 (six) and 2 (two), variance 6/7, so on the raw
 *    scale R ~ sqrt(1 + 6/7) = 1.36 (rank normalisation shrinks it a little); calibration:
 *    rhat_bulk mean 1.320 sd 0.009 (min 1.29): bound rhat_bulk > 1.2 (13 sd).
 *  - scaled by 4 (same mean): ranks barely move (rhat_bulk mean 1.0000 sd 0.0006), but the folded
 *    draws |x - median| of chain 3 are larger: rhat_fold mean 1.204 sd 0.012 (min 1.17):
 *    bounds rhat_fold > 1.1 (8.6 sd), rhat_bulk < 1.01, rhat = rhat_fold. */
static void test_shift_scale(void)
{
  const size_t C = 4, n = 1000, T = C * n;
  double *x = malloc(T * sizeof *x);
  ar1_chains(C, n, 0.0, 5, x);
  for (size_t d = 0; d < n; d++) x[3 * n + d] += 2.0;
  emi_diag_t r;
  diag_run(x, C, n, 1, &r);
  CHECK_MSG(r.rhat_bulk > 1.2 && r.rhat >= r.rhat_bulk, "shift: rhat_bulk %g", r.rhat_bulk);
  ar1_chains(C, n, 0.0, 6, x);
  for (size_t d = 0; d < n; d++) x[3 * n + d] *= 4.0;
  diag_run(x, C, n, 1, &r);
  CHECK_MSG(r.rhat_fold > 1.1, "scale: rhat_fold %g", r.rhat_fold);
  CHECK_MSG(r.rhat_bulk < 1.01, "scale: rhat_bulk %g", r.rhat_bulk);
  CHECK(r.rhat == r.rhat_fold);
  free(x);
}

/* ------------------------------------------------------------------------------ errors */

/* Workspace length 5 T + S + N + 2 M + 2 (header): 4 x 21 -> T 84, N 10, M 8, S 80 -> 528;
 * 1 x 4 -> 20 + 4 + 2 + 4 + 2 = 32.  Invalid sizes give 0. */
static void test_work_len(void)
{
  CHECK_INT_EQ(emi_diag_work_len(4, 21), 528);
  CHECK_INT_EQ(emi_diag_work_len(1, 4), 32);
  CHECK_INT_EQ(emi_diag_work_len(0, 10), 0);
  CHECK_INT_EQ(emi_diag_work_len(2, 3), 0);
  CHECK_INT_EQ(emi_diag_work_len(SIZE_MAX / 2, 4), 0);
  CHECK_INT_EQ(emi_diag_work_len(4, SIZE_MAX), 0);
}

/* Each documented error, with *out left untouched (compared byte for byte with a sentinel). */
static void test_errors(void)
{
  const size_t C = 2, n = 8, T = C * n;
  double *x = malloc(T * sizeof *x);
  make_dataset(C, n, 11, KIND_UNIF, x);
  const size_t lw = emi_diag_work_len(C, n);
  double *w = malloc(lw * sizeof *w);
  emi_diag_t out, sentinel;
  memset(&sentinel, 0xA5, sizeof sentinel);
  out = sentinel;

#define CHECK_ERR_UNTOUCHED(call, code)                                                    \
  do {                                                                                      \
    CHECK_ERR(call, code);                                                                  \
    CHECK(memcmp(&out, &sentinel, sizeof out) == 0);                                        \
  } while (0)

  CHECK_ERR_UNTOUCHED(emi_diag_compute(NULL, C, n, 1, w, lw, &out), EMI_ERR_ARG);
  CHECK_ERR_UNTOUCHED(emi_diag_compute(x, C, n, 1, NULL, lw, &out), EMI_ERR_ARG);
  CHECK_ERR(emi_diag_compute(x, C, n, 1, w, lw, NULL), EMI_ERR_ARG);
  CHECK_ERR_UNTOUCHED(emi_diag_compute(x, 0, n, 1, w, lw, &out), EMI_ERR_ARG);
  CHECK_ERR_UNTOUCHED(emi_diag_compute(x, 4, 3, 1, w, lw, &out), EMI_ERR_ARG);   /* n < 4 */
  CHECK_ERR_UNTOUCHED(emi_diag_compute(x, C, n, 0, w, lw, &out), EMI_ERR_ARG);   /* stride 0 */
  CHECK_ERR_UNTOUCHED(emi_diag_compute(x, C, n, 1, w, lw - 1, &out), EMI_ERR_ARG);
  CHECK_ERR_UNTOUCHED(emi_diag_compute(x, SIZE_MAX / 2, 4, 1, w, lw, &out), EMI_ERR_ARG);
  CHECK_ERR_UNTOUCHED(emi_diag_compute(x, 1, 4, SIZE_MAX / 2, w, lw, &out), EMI_ERR_ARG);
  /* the smallest valid size works: 1 chain x 4 draws (N = 2, M = 2, S = 4: ESS = S/2 = 2) */
  {
    emi_diag_t r;
    diag_run(x, 1, 4, 1, &r);
    CHECK_CLOSE(r.ess_bulk, 2.0, 0, 1e-15);
    CHECK(r.flags & EMI_DIAG_SHORT);
  }

  /* a non-finite draw: EMI_ERR_DOMAIN naming its chain, draw and value */
  const double bad[3] = {NAN, INFINITY, -INFINITY};
  const char *names[3] = {"NaN", "+Inf", "-Inf"};
  for (int k = 0; k < 3; k++) {
    make_dataset(C, n, 11, KIND_UNIF, x);
    x[1 * n + 5] = bad[k];
    emi_err_t e = emi_diag_compute(x, C, n, 1, w, lw, &out);
    CHECK_MSG(e == EMI_ERR_DOMAIN, "%s draw: %s", names[k], emi_err_name(e));
    const char *msg = emi_err_message();
    CHECK_MSG(strstr(msg, "draw 5") && strstr(msg, "chain 1") && strstr(msg, names[k]),
              "message: %s", msg);
    CHECK(memcmp(&out, &sentinel, sizeof out) == 0);
    emi_err_clear();
  }
  /* a draw beyond EMI_DIAG_MAX_ABS (whose square overflows: sd and mcse would be Inf) is refused;
   * one at the limit is accepted and gives finite results */
  {
    make_dataset(C, n, 11, KIND_UNIF, x);
    x[1 * n + 3] = -1e200;
    emi_err_t e = emi_diag_compute(x, C, n, 1, w, lw, &out);
    CHECK_MSG(e == EMI_ERR_DOMAIN, "huge draw: %s", emi_err_name(e));
    CHECK(strstr(emi_err_message(), "draw 3") && strstr(emi_err_message(), "chain 1"));
    CHECK(memcmp(&out, &sentinel, sizeof out) == 0);
    emi_err_clear();
    x[1 * n + 3] = EMI_DIAG_MAX_ABS;
    emi_diag_t r;
    diag_run(x, C, n, 1, &r);
    CHECK(isfinite(r.sd) && isfinite(r.mcse_mean) && isfinite(r.ess_mean) && isfinite(r.mean));
  }
  /* read in place: the bad value in a position the stride skips is not an error */
  {
    double *arr = malloc(2 * T * sizeof *arr);
    make_dataset(C, n, 11, KIND_UNIF, x);
    for (size_t t = 0; t < T; t++) arr[2 * t] = x[t], arr[2 * t + 1] = NAN;
    emi_diag_t r;
    diag_run(arr, C, n, 2, &r);
    arr[2 * 9] = INFINITY; /* draw 1 of chain 1 */
    CHECK_ERR(emi_diag_compute(arr, C, n, 2, w, lw, &r), EMI_ERR_DOMAIN);
    free(arr);
  }
#undef CHECK_ERR_UNTOUCHED
  free(x);
  free(w);
}

/* ------------------------------------------------------------------------------ quantiles */

/* R type 7 (numpy's default): h = (n - 1) p, x[lo] + (h - lo)(x[lo+1] - x[lo]).
 *   {0 10 20 30 40}: p = .05 -> h = 0.2 -> 2;  p = .5 -> 20;  p = .95 -> h = 3.8 -> 38;
 *   p = 0 -> 0, p = 1 -> 40 (no read past the end: exact-size array).
 *   {1 2 3 4}: p = 1/3 -> h = 1 (whole) -> 2;  p = .5 -> h = 1.5 -> 2.5.
 *   n = 1: x[0] for every p.  Equal neighbours give x[lo] exactly, even {Inf, Inf} (where the
 *   interpolation would be Inf - Inf = NaN).  n = 0, p outside [0, 1] or NaN: NaN. */
static void test_quantile(void)
{
  const double lit5[5] = {0, 10, 20, 30, 40}, lit4[4] = {1, 2, 3, 4};
  double *a = dup_draws(lit5, 5), *b = dup_draws(lit4, 4);
  CHECK_CLOSE(emi_diag_quantile(a, 5, 0.05), 2.0, 0, 1e-15);
  CHECK(emi_diag_quantile(a, 5, 0.5) == 20.0);
  CHECK_CLOSE(emi_diag_quantile(a, 5, 0.95), 38.0, 0, 1e-15);
  CHECK(emi_diag_quantile(a, 5, 0.0) == 0.0);
  CHECK(emi_diag_quantile(a, 5, 1.0) == 40.0);
  CHECK(emi_diag_quantile(b, 4, 1.0 / 3.0) == 2.0);
  CHECK(emi_diag_quantile(b, 4, 0.5) == 2.5);
  CHECK(emi_diag_quantile(b, 4, 1.0) == 4.0);
  CHECK(emi_diag_quantile(b, 1, 0.0) == 1.0 && emi_diag_quantile(b, 1, 0.7) == 1.0 &&
        emi_diag_quantile(b, 1, 1.0) == 1.0);
  const double inf2[2] = {INFINITY, INFINITY}, tie3[3] = {-1.0, 0.1, 0.1};
  CHECK(emi_diag_quantile(inf2, 2, 0.5) == INFINITY);
  CHECK(emi_diag_quantile(tie3, 3, 0.75) == 0.1);
  CHECK(isnan(emi_diag_quantile(a, 0, 0.5)));
  CHECK(isnan(emi_diag_quantile(NULL, 5, 0.5)));
  CHECK(isnan(emi_diag_quantile(a, 5, -0.01)));
  CHECK(isnan(emi_diag_quantile(a, 5, 1.01)));
  CHECK(isnan(emi_diag_quantile(a, 5, NAN)));
  free(a);
  free(b);
}

int main(void)
{
  test_hand_ramp8();
  test_hand_pattern12();
  test_hand_stuck();
  test_hand_binary();
  test_hand_middle_only();
  test_constant();
  test_reference();
  test_invariance();
  test_stride();
  test_iid_normal();
  test_ar1();
  test_antithetic();
  test_shift_scale();
  test_work_len();
  test_errors();
  test_quantile();
  return emi_test_report("test_diag");
}
