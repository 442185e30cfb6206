/* test_disclose.c: random rounding to base 3 (Stats NZ RR3) and small-cell suppression (emi_disclose.h).
 *
 * Right values, from the definition (kernels/emi_disclose.h): a multiple of b stays; otherwise, with
 * r = n mod b, the cell goes up to n - r + b with probability r / b, else down to n - r, so for b = 3
 * the nearer multiple has probability 2/3 and the farther 1/3, and E[rounded] = n.
 *  - multiples of 3 are unchanged, every output is a multiple of 3, |out - n| < 3, out >= 0;
 *  - the definition re-implemented here (u from the cell's own Philox stream, up iff u < r/b) equals the
 *    kernel cell by cell (so the rule, not just its statistics, is checked);
 *  - frequencies over 300000 cells of each remainder: P(up | r = 1) = 1/3, P(up | r = 2) = 2/3, and for
 *    base 10 P(up | r = 7) = 0.7, each within 5 binomial standard errors sqrt(p (1 - p) / N)
 *    (sd about 0.00086 for N = 300000; the seed is fixed, so the test is deterministic: 5 sd is the margin
 *    a correct implementation clears with probability 1 - 6e-7 over seeds);
 *  - unbiasedness: the mean of out - n over 600000 cells with remainders 0, 1, 2 equally often is 0
 *    within 5 sd; Var(out - n) is 2 for r = 1 (-1 w.p. 2/3, +2 w.p. 1/3) and for r = 2, 0 for r = 0, so
 *    sd of the mean = sqrt((4/3) / N);
 *  - determinism: the same seed gives the same table, processed in reverse order one cell at a time,
 *    at 1, 2 and 3 OpenMP threads (fast = _ref twin, exactly); changing one cell's count does not move
 *    any other cell; a different seed changes about 4/9 of the cells that are not multiples of 3
 *    (P(two independent roundings differ) = 2 (1/3)(2/3));
 *  - suppression: counts below the threshold give EMI_DISCLOSE_SUPPRESSED, the threshold itself is
 *    published; the tallies add up;
 *  - bad input: a negative count or one beyond 2^53 (EMI_ERR_INPUT, the index), a non-integer, NaN,
 *    infinite or negative double, a base below 2 or a negative threshold (EMI_ERR_ARG). */
#include <omp.h>
#include <string.h>

#include "emi_disclose.h"
#include "emi_philox.h"
#include "emi_test.h"

#define N 300000

static int64_t cnt[2 * N], out[2 * N], ref[2 * N];

static void test_multiples_and_rule(void)
{
  emi_disclose_t p = {.base = 3, .seed = 20261204, .suppress_below = 0};
  for (size_t i = 0; i < N; i++) cnt[i] = (int64_t)((i * 7919u) % 1000u);
  emi_disclose_stats_t st;
  CHECK_OK(emi_disclose_apply(&p, N, cnt, out, &st, NULL));
  size_t bad_mult = 0, bad_dist = 0, bad_rule = 0, moved_mult = 0;
  for (size_t i = 0; i < N; i++) {
    if (out[i] % 3 != 0 || out[i] < 0) bad_mult++;
    if (llabs(out[i] - cnt[i]) >= 3) bad_dist++;
    if (cnt[i] % 3 == 0 && out[i] != cnt[i]) moved_mult++;
    /* the definition, independently */
    int64_t r = cnt[i] % 3, want = cnt[i];
    if (r) {
      emi_stream_t s;
      emi_stream_init(&s, p.seed, EMI_DISCLOSE_PURPOSE, i, 0);
      double u = emi_uniform_01(&s);
      want = u < r / 3.0 ? cnt[i] - r + 3 : cnt[i] - r;
    }
    if (out[i] != want) bad_rule++;
  }
  CHECK_INT_EQ(bad_mult, 0);
  CHECK_INT_EQ(bad_dist, 0);
  CHECK_INT_EQ(moved_mult, 0);
  CHECK_INT_EQ(bad_rule, 0);
  CHECK_INT_EQ(st.cells, N);
  CHECK_INT_EQ(st.suppressed + st.unchanged + st.up + st.down, N);
  size_t mult = 0;
  for (size_t i = 0; i < N; i++) mult += cnt[i] % 3 == 0;
  CHECK_INT_EQ(st.unchanged, mult);
}

/* fraction of N cells of count c rounded up, against p_up within 5 binomial sd */
static void check_freq(int64_t base, int64_t c, double p_up, uint64_t seed)
{
  emi_disclose_t p = {.base = base, .seed = seed, .suppress_below = 0};
  for (size_t i = 0; i < N; i++) cnt[i] = c;
  emi_disclose_stats_t st;
  CHECK_OK(emi_disclose_apply(&p, N, cnt, out, &st, NULL));
  size_t up = 0, other = 0;
  for (size_t i = 0; i < N; i++) {
    if (out[i] == c - c % base + base) up++;
    else if (out[i] != c - c % base) other++;
  }
  double f = (double)up / N, sd = sqrt(p_up * (1 - p_up) / N);
  CHECK_INT_EQ(other, 0);
  CHECK_INT_EQ(st.up, up);
  CHECK_MSG(fabs(f - p_up) < 5 * sd, "base %lld count %lld: up %.5f, expected %.5f +- %.5f (5 sd)", (long long)base,
            (long long)c, f, p_up, 5 * sd);
  fprintf(stderr, "base %lld count %lld: P(up) = %.5f (expected %.5f, sd %.5f)\n", (long long)base, (long long)c, f,
          p_up, sd);
}

static void test_unbiased(void)
{
  emi_disclose_t p = {.base = 3, .seed = 77, .suppress_below = 0};
  size_t n = 2 * N;
  for (size_t i = 0; i < n; i++) cnt[i] = 10 + (int64_t)(i % 3) + 3 * (int64_t)((i / 3) % 50);
  CHECK_OK(emi_disclose_apply(&p, n, cnt, out, NULL, NULL));
  double s = 0;
  for (size_t i = 0; i < n; i++) s += (double)(out[i] - cnt[i]);
  double mean = s / (double)n, sd = sqrt((4.0 / 3.0) / (double)n);
  CHECK_MSG(fabs(mean) < 5 * sd, "mean(out - n) = %.6f, expected 0 +- %.6f (5 sd)", mean, 5 * sd);
  fprintf(stderr, "mean(rounded - n) over %zu cells = %.6f (sd %.6f)\n", n, mean, sd);
}

static void test_determinism(void)
{
  emi_disclose_t p = {.base = 3, .seed = 12345, .suppress_below = 6};
  size_t n = 50000;
  for (size_t i = 0; i < n; i++) cnt[i] = (int64_t)((i * 2654435761u) % 500u);
  CHECK_OK(emi_disclose_apply_ref(&p, n, cnt, ref, NULL, NULL));
  for (int t = 1; t <= 3; t++) {
    omp_set_num_threads(t);
    memset(out, 0x55, n * sizeof *out);
    CHECK_OK(emi_disclose_apply(&p, n, cnt, out, NULL, NULL));
    CHECK_MSG(!memcmp(out, ref, n * sizeof *out), "%d threads: differs from the reference twin", t);
  }
  size_t diff = 0;
  for (size_t i = n; i-- > 0;) diff += emi_disclose_cell(&p, i, cnt[i]) != ref[i];
  CHECK_INT_EQ(diff, 0); /* reverse order, one cell at a time */
  /* changing cell 100 moves no other cell */
  cnt[100] += 1;
  CHECK_OK(emi_disclose_apply(&p, n, cnt, out, NULL, NULL));
  diff = 0;
  for (size_t i = 0; i < n; i++) diff += i != 100 && out[i] != ref[i];
  CHECK_INT_EQ(diff, 0);
  cnt[100] -= 1;
  /* another seed: about 4/9 of the published non-multiples differ */
  emi_disclose_t q = p;
  q.seed = 12346;
  CHECK_OK(emi_disclose_apply(&q, n, cnt, out, NULL, NULL));
  size_t elig = 0;
  diff = 0;
  for (size_t i = 0; i < n; i++)
    if (cnt[i] >= 6 && cnt[i] % 3) elig++, diff += out[i] != ref[i];
  double f = (double)diff / (double)elig, sd = sqrt((4.0 / 9) * (5.0 / 9) / (double)elig);
  CHECK_MSG(fabs(f - 4.0 / 9) < 5 * sd, "another seed changed %.4f of the cells, expected 4/9 +- %.4f", f, 5 * sd);
}

static void test_suppression(void)
{
  emi_disclose_t p = {.base = 3, .seed = 1, .suppress_below = 6};
  int64_t c[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 100, 5}, o[12];
  emi_disclose_stats_t st;
  CHECK_OK(emi_disclose_apply(&p, 12, c, o, &st, NULL));
  for (int i = 0; i < 12; i++) {
    if (c[i] < 6) CHECK_MSG(o[i] == EMI_DISCLOSE_SUPPRESSED, "count %lld not suppressed", (long long)c[i]);
    else CHECK_MSG(o[i] >= 6 && o[i] % 3 == 0 && llabs(o[i] - c[i]) < 3, "count %lld -> %lld", (long long)c[i],
                   (long long)o[i]);
  }
  CHECK_INT_EQ(o[6], 6);
  CHECK_INT_EQ(o[9], 9);
  CHECK_INT_EQ(st.suppressed, 7);
  CHECK_INT_EQ(st.suppressed + st.unchanged + st.up + st.down, 12);
  p.suppress_below = 0; /* 0: nothing suppressed, zeros stay zeros */
  CHECK_OK(emi_disclose_apply(&p, 12, c, o, &st, NULL));
  CHECK_INT_EQ(st.suppressed, 0);
  CHECK_INT_EQ(o[0], 0);
  CHECK_OK(emi_disclose_apply(&p, 0, NULL, NULL, &st, NULL)); /* an empty table */
  CHECK_INT_EQ(st.cells, 0);
}

static void test_bad_input(void)
{
  emi_disclose_t p = {.base = 3, .seed = 1, .suppress_below = 0};
  int64_t c[4] = {3, 4, -2, 5}, o[4];
  size_t bad = 99;
  CHECK_ERR(emi_disclose_apply(&p, 4, c, o, NULL, &bad), EMI_ERR_INPUT);
  CHECK_INT_EQ(bad, 2);
  bad = 99;
  CHECK_ERR(emi_disclose_apply_ref(&p, 4, c, o, NULL, &bad), EMI_ERR_INPUT);
  CHECK_INT_EQ(bad, 2);
  c[2] = EMI_DISCLOSE_COUNT_MAX + 1;
  CHECK_ERR(emi_disclose_apply(&p, 4, c, o, NULL, &bad), EMI_ERR_INPUT);
  CHECK_INT_EQ(bad, 2);
  c[2] = 2;
  p.base = 1;
  CHECK_ERR(emi_disclose_apply(&p, 4, c, o, NULL, NULL), EMI_ERR_ARG);
  p.base = 3, p.suppress_below = -1;
  CHECK_ERR(emi_disclose_apply(&p, 4, c, o, NULL, NULL), EMI_ERR_ARG);
  const double v[][3] = {{1, 2.5, 3}, {1, 2, NAN}, {1, -1, 3}, {INFINITY, 2, 3}, {1, 2, 1e300}};
  const size_t want[] = {1, 2, 1, 0, 2};
  int64_t k[3];
  for (int t = 0; t < 5; t++) {
    bad = 99;
    CHECK_ERR(emi_disclose_counts_from_real(3, v[t], k, &bad), EMI_ERR_INPUT);
    CHECK_INT_EQ(bad, want[t]);
  }
  const double good[3] = {0, 7, 9007199254740992.0};
  CHECK_OK(emi_disclose_counts_from_real(3, good, k, &bad));
  CHECK_INT_EQ(k[1], 7);
  CHECK_INT_EQ(k[2], EMI_DISCLOSE_COUNT_MAX);
}

int main(void)
{
  test_multiples_and_rule();
  check_freq(3, 1, 1.0 / 3, 20261204); /* r = 1: up (farther) w.p. 1/3 */
  check_freq(3, 4, 1.0 / 3, 99);
  check_freq(3, 2, 2.0 / 3, 20261204); /* r = 2: up (nearer) w.p. 2/3 */
  check_freq(3, 11, 2.0 / 3, 5);
  check_freq(10, 17, 0.7, 3); /* general base: P(up) = r / b */
  test_unbiased();
  test_determinism();
  test_suppression();
  test_bad_input();
  return emi_test_report("test_disclose");
}
