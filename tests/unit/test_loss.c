/* test_loss.c: the loss-correction kernel (kernels/emi_loss.h) on a hand-worked example.
 *
 * Rates: p = imputed / (imputed + observed), odds = p / (1 - p) = imputed / observed (emi_loss.c, part 1):
 *   exits at other points   2 imputed, 198 observed: p = 2/200 = 0.01,  odds = 2/198 = 1/99
 *   exits at land points    5 imputed,  95 observed: p = 5/100 = 0.05,  odds = 5/95  = 1/19
 *   entries at other points 0 imputed,  50 observed: p = 0,             odds = 0
 *   entries at land points  1 imputed,   0 observed: no observed passage, so p = 1 cannot be a weight: the
 *                           entries' pooled counts (1, 50): p = 1/51, odds = 1/50, source "pooled"
 * Adjusted cells (part 2): adj = raw - sum over (d, b) of odds x delta, raw = {10, 0, 7}:
 *   delta exit/other  {99, 0, 0}    -> {1, 0, 0}
 *   delta exit/land   {0, 19, -38}  -> {0, 1, -2}
 *   delta entry/other {5, 5, 5}     -> {0, 0, 0}   (odds 0)
 *   delta entry/land  {0, 0, 50}    -> {0, 0, 1}
 *   correction {1, 1, -1}: adj = {9, -1, 8} (a cell may be negative; the totals are the estimate: 16 = 17 - 1).
 * With no imputed passage at all every odds is 0 and adj equals raw exactly (the fault-free case). */
#include <string.h>

#include "emi_loss.h"
#include "emi_test.h"

enum { X = EMI_LOSS_EXIT, N = EMI_LOSS_ENTRY, OT = EMI_LOSS_OTHER, LA = EMI_LOSS_LAND };

static void test_hand(void)
{
  emi_loss_counts_t c;
  memset(&c, 0, sizeof c);
  c.imputed[X][OT] = 2, c.observed[X][OT] = 198;
  c.imputed[X][LA] = 5, c.observed[X][LA] = 95;
  c.imputed[N][OT] = 0, c.observed[N][OT] = 50;
  c.imputed[N][LA] = 1, c.observed[N][LA] = 0;
  emi_loss_rates_t r;
  CHECK_OK(emi_loss_rates(&c, &r));
  CHECK_CLOSE(r.rate[X][OT], 0.01, 1e-15, 0);
  CHECK_CLOSE(r.odds[X][OT], 1.0 / 99, 1e-15, 0);
  CHECK_CLOSE(r.rate[X][LA], 0.05, 1e-15, 0);
  CHECK_CLOSE(r.odds[X][LA], 1.0 / 19, 1e-15, 0);
  CHECK(r.rate[N][OT] == 0 && r.odds[N][OT] == 0);
  CHECK_CLOSE(r.rate[N][LA], 1.0 / 51, 1e-15, 0);
  CHECK_CLOSE(r.odds[N][LA], 1.0 / 50, 1e-15, 0);
  CHECK_INT_EQ(r.source[X][OT], EMI_LOSS_SRC_OWN);
  CHECK_INT_EQ(r.source[N][OT], EMI_LOSS_SRC_OWN);
  CHECK_INT_EQ(r.source[N][LA], EMI_LOSS_SRC_POOLED);

  const int64_t raw[3] = {10, 0, 7};
  const int64_t delta[EMI_LOSS_NDIR * EMI_LOSS_NCLASS * 3] = {99, 0, 0, /* exit/other */ 0, 19, -38, /* exit/land */
                                                              5, 5, 5, /* entry/other */ 0, 0, 50 /* entry/land */};
  double adj[3];
  emi_loss_adjust(3, raw, delta, &r, adj);
  CHECK_CLOSE(adj[0], 9, 1e-12, 0);
  CHECK_CLOSE(adj[1], -1, 1e-12, 0);
  CHECK_CLOSE(adj[2], 8, 1e-12, 0);
}

static void test_no_loss(void)
{
  /* no imputed passage: every rate 0 ("own" where passages were observed, "none" where there is no count at
   * all), and the adjusted table is the raw one, bit for bit */
  emi_loss_counts_t c;
  memset(&c, 0, sizeof c);
  c.observed[X][OT] = 1000, c.observed[N][OT] = 900;
  emi_loss_rates_t r;
  CHECK_OK(emi_loss_rates(&c, &r));
  for (int d = 0; d < EMI_LOSS_NDIR; d++)
    for (int b = 0; b < EMI_LOSS_NCLASS; b++) CHECK(r.rate[d][b] == 0 && r.odds[d][b] == 0);
  CHECK_INT_EQ(r.source[X][OT], EMI_LOSS_SRC_OWN);
  CHECK_INT_EQ(r.source[X][LA], EMI_LOSS_SRC_NONE);
  const int64_t raw[2] = {123456789012345, 3};
  const int64_t delta[EMI_LOSS_NDIR * EMI_LOSS_NCLASS * 2] = {7, -7, 1, 1, 2, 2, -3, 4};
  double adj[2];
  emi_loss_adjust(2, raw, delta, &r, adj);
  CHECK(adj[0] == 123456789012345.0 && adj[1] == 3.0);
  /* imputed passages but no observed one in the whole direction: no usable rate, 0 ("none"), never NaN/inf */
  memset(&c, 0, sizeof c);
  c.imputed[X][LA] = 4;
  CHECK_OK(emi_loss_rates(&c, &r));
  CHECK(r.rate[X][LA] == 0 && r.odds[X][LA] == 0);
  CHECK_INT_EQ(r.source[X][LA], EMI_LOSS_SRC_NONE);
  /* a negative count is a caller error */
  c.observed[N][OT] = -1;
  CHECK(emi_loss_rates(&c, &r) == EMI_ERR_ARG);
}

int main(void)
{
  test_hand();
  test_no_loss();
  return emi_test_report("test_loss");
}
