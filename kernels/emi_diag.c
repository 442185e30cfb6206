/* emi_diag.c: rank-normalised split-R-hat, bulk / tail ESS (see emi_diag.h for the contract).
 *
 * Workspace (doubles), T = all draws, S = split draws, N = draws per split chain, M = split chains:
 *   pairs  2 T  (value, key) pairs being sorted: key = flat draw index t = c n + d for the draws,
 *               then the split position for the folded draws
 *   tmp    2 T  merge-sort buffer; later the centred values of an ESS (S)
 *   vals   T    the sorted draws (quantiles); later the transformed split values (z, indicators)
 *   xs     S    the split draws, split chain j = 2c + half at positions j N .. j N + N - 1
 *   rho    N+2  autocorrelations of Geyer's sequence
 *   cm, cc M    chain means, and 1.0 where a chain is constant
 * Keys are doubles: exact integers because T <= 2^53 is checked.
 */
#include "emi_diag.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "emi_dist.h"

#define DIAG_MAX_T ((size_t)1 << 53) /* keys and counts stay exact in doubles */

typedef struct {
  size_t C, n, T; /* chains, draws per chain, all draws */
  size_t N, M, S; /* draws per split chain, split chains, split draws */
  double *pairs, *tmp, *vals, *xs, *rho, *cm, *cc;
} diag_ws_t;

/* ------------------------------------------------------------------------------ sizes */

/* Sizes and workspace length; 0 when invalid. */
static size_t diag_len(size_t C, size_t n)
{
  if (C == 0 || n < EMI_DIAG_MIN_DRAWS) return 0;
  if (C > DIAG_MAX_T / n) return 0;
  const size_t T = C * n, N = n / 2, M = 2 * C, S = M * N;
  return 5 * T + S + N + 2 * M + 2; /* T <= 2^53: no overflow in 64-bit size_t */
}

size_t emi_diag_work_len(size_t n_chains, size_t n_draws) { return diag_len(n_chains, n_draws); }

/* ------------------------------------------------------------------------------ quantiles */

double emi_diag_quantile(const double *sorted, size_t n, double p)
{
  if (n == 0 || !sorted || !(p >= 0.0 && p <= 1.0)) return NAN;
  const double h = (double)(n - 1) * p;
  const double fl = floor(h);
  const size_t lo = (size_t)fl;
  if (lo >= n - 1) return sorted[n - 1];
  const double g = h - fl, a = sorted[lo], b = sorted[lo + 1];
  if (g == 0.0 || a == b) return a;
  return a + g * (b - a);
}

/* ------------------------------------------------------------------------------ sorting */

/* Order-preserving 64-bit key of a finite double (-0.0 and +0.0 share the key of +0.0, as they compare
 * equal): unsigned order of the keys = numeric order of the values. */
static inline uint64_t order_key(double v)
{
  uint64_t b;
  if (v == 0.0) v = 0.0;
  memcpy(&b, &v, sizeof b);
  return (b >> 63) ? ~b : b | (UINT64_C(1) << 63);
}

/* Sort n pairs in p by value, then key, with tmp (2 n doubles) as the buffer; result in p.  The keys
 * of every caller are ascending on input (flat or split positions), so a stable sort by value alone
 * gives the (value, key) order: an LSD radix sort on the order keys, one byte per pass, passes whose
 * byte is the same for all values skipped (the sign and exponent bytes, mostly).  About 6x faster than
 * the bottom-up merge sort by (value, key) it replaced, whose order it reproduces exactly. */
static void pairs_sort(double *restrict p, double *restrict tmp, size_t n)
{
  if (n < 2) return;
  uint32_t count[8][256];
  memset(count, 0, sizeof count);
  for (size_t i = 0; i < n; i++) {
    const uint64_t k = order_key(p[2 * i]);
    for (int d = 0; d < 8; d++) count[d][(k >> (8 * d)) & 0xff]++;
  }
  double *src = p, *dst = tmp;
  for (int d = 0; d < 8; d++) {
    int trivial = 0;
    for (int b = 0; b < 256; b++)
      if (count[d][b] == n) trivial = 1;
    if (trivial) continue;
    size_t off[256], sum = 0;
    for (int b = 0; b < 256; b++) {
      off[b] = sum;
      sum += count[d][b];
    }
    for (size_t i = 0; i < n; i++) {
      const size_t o = off[(order_key(src[2 * i]) >> (8 * d)) & 0xff]++;
      dst[2 * o] = src[2 * i];
      dst[2 * o + 1] = src[2 * i + 1];
    }
    double *t = src;
    src = dst;
    dst = t;
  }
  if (src != p) memcpy(p, src, 2 * n * sizeof(double));
}

/* Split position of draw d of a chain (chain offset added by the caller), or -1 for the middle
 * draw of an odd chain.  First half: d < N -> d; second half: d >= n - N -> N + d - (n - N). */
static double split_pos(const diag_ws_t *w, size_t c, size_t d)
{
  if (d < w->N) return (double)(2 * c * w->N + d);
  if (d >= w->n - w->N) return (double)((2 * c + 1) * w->N + d - (w->n - w->N));
  return -1.0;
}

/* Phi^-1((r - 3/8) / (S + 1/4)) for r = 1 .. S (index r), the values rank normalisation takes at
 * untied ranks, computed once per S with the very expression rank_normalise would evaluate (so the
 * results are bit for bit the same).  A few tables are kept for the process (never freed: a run
 * uses one or two sizes); NULL when S is unusual or memory is short, and the caller computes. */
#define ZT_SLOTS 8
static double *zt_tab[ZT_SLOTS];
static size_t zt_size[ZT_SLOTS];

static const double *ztable(size_t S)
{
  const double *t = NULL;
  if (S < 2 || S > ((size_t)1 << 26)) return NULL;
#pragma omp critical(emi_diag_ztable)
  {
    int k = 0;
    while (k < ZT_SLOTS && zt_tab[k] && zt_size[k] != S) k++;
    if (k < ZT_SLOTS && !zt_tab[k]) {
      double *n = malloc((S + 1) * sizeof *n);
      if (n) {
        n[0] = NAN;
        const double Sd = (double)S;
        for (size_t r = 1; r <= S; r++) n[r] = emi_normal_quantile(((double)r - 0.375) / (Sd + 0.25));
        zt_size[k] = S;
        zt_tab[k] = n;
      }
    }
    if (k < ZT_SLOTS && zt_tab[k]) t = zt_tab[k];
  }
  return t;
}

/* Rank-normalise: `count` sorted pairs whose keys are split positions (or -1: skip) give
 * z[pos] = Phi^-1((r - 3/8) / (S + 1/4)), r the average rank among the non-skipped values. */
static void rank_normalise(const double *sorted_pairs, size_t count, double S, double *z)
{
  const double *zt = ztable((size_t)S); /* Phi^-1 at the integer ranks (NULL: compute each) */
  size_t rank = 0; /* non-skipped values already ranked */
  for (size_t i = 0; i < count;) {
    size_t j = i, m = 0;
    while (j < count && sorted_pairs[2 * j] == sorted_pairs[2 * i]) {
      if (sorted_pairs[2 * j + 1] >= 0.0) m++;
      j++;
    }
    if (m) {
      const double r = (double)rank + 0.5 * (double)(m + 1); /* mean of rank+1 .. rank+m */
      const double zr = (m == 1 && zt) ? zt[rank + 1] : emi_normal_quantile((r - 0.375) / (S + 0.25));
      for (size_t k = i; k < j; k++)
        if (sorted_pairs[2 * k + 1] >= 0.0) z[(size_t)sorted_pairs[2 * k + 1]] = zr;
      rank += m;
    }
    i = j;
  }
}

/* ------------------------------------------------------------------------------ R-hat and ESS */

/* Chain means cm[j] and constant marks cc[j] (1.0 when all N values are equal: the mean is then
 * that value exactly, so the chain's variance and autocovariances come out exactly 0).
 * Returns 1 when all M N values are equal. */
static int chain_means(const double *y, size_t M, size_t N, double *cm, double *cc)
{
  int all_equal = 1;
  for (size_t j = 0; j < M; j++) {
    const double *yj = y + j * N;
    double s = 0.0;
    int eq = 1;
    for (size_t i = 0; i < N; i++) {
      s += yj[i];
      eq &= yj[i] == yj[0];
    }
    cc[j] = eq ? 1.0 : 0.0;
    cm[j] = eq ? yj[0] : s / (double)N;
    all_equal &= eq && yj[0] == y[0];
  }
  return all_equal;
}

/* Variance of the M chain means, divisor M - 1 (0 for M = 1). */
static double means_var(const double *cm, size_t M)
{
  if (M < 2) return 0.0;
  double s = 0.0;
  for (size_t j = 0; j < M; j++) s += cm[j];
  const double mu = s / (double)M;
  double v = 0.0;
  for (size_t j = 0; j < M; j++) v += (cm[j] - mu) * (cm[j] - mu);
  return v / (double)(M - 1);
}

/* Split-Rhat of M chains of N values (N >= 2). */
static double split_rhat(const double *y, size_t M, size_t N, double *cm, double *cc, int *flags)
{
  if (chain_means(y, M, N, cm, cc)) {
    *flags |= EMI_DIAG_RHAT_DEGEN;
    return 1.0;
  }
  double W = 0.0;
  for (size_t j = 0; j < M; j++) {
    if (cc[j] != 0.0) continue; /* variance exactly 0 */
    const double *yj = y + j * N;
    double v = 0.0;
    for (size_t i = 0; i < N; i++) v += (yj[i] - cm[j]) * (yj[i] - cm[j]);
    W += v / (double)(N - 1);
  }
  W /= (double)M;
  const double b_over_n = means_var(cm, M);
  if (W == 0.0) { /* not all equal, so the chain means differ: B > 0 */
    *flags |= EMI_DIAG_RHAT_STUCK;
    return DBL_MAX;
  }
  return sqrt(((double)(N - 1) / (double)N * W + b_over_n) / W);
}

/* mean_j acov_j(t): the biased autocovariance at lag t (< N) averaged over the chains. */
static double acov_mean(const double *yc, const double *cc, size_t M, size_t N, size_t t)
{
  double s = 0.0;
  for (size_t j = 0; j < M; j++) {
    if (cc[j] != 0.0) continue; /* a constant chain's autocovariances are exactly 0 */
    const double *a = yc + j * N;
    double sj = 0.0;
    for (size_t i = 0; i + t < N; i++) sj += a[i] * a[i + t];
    s += sj / (double)N;
  }
  return s / (double)M;
}

/* ESS of M chains of N values y (N >= 2): posterior's .ess, Geyer's initial monotone sequence.
 * T_all is the value for a constant input.  yc: M N doubles, rho: N + 2, cm, cc: M. */
static double ess_split(const double *y, size_t M, size_t N, double T_all, double *yc, double *rho,
                        double *cm, double *cc, int *flags)
{
  if (chain_means(y, M, N, cm, cc)) {
    *flags |= EMI_DIAG_ESS_DEGEN;
    return T_all;
  }
  for (size_t j = 0; j < M; j++)
    for (size_t i = 0; i < N; i++) yc[j * N + i] = cc[j] != 0.0 ? 0.0 : y[j * N + i] - cm[j];

  const double Nd = (double)N, S = (double)(M * N);
  const double mean_var = acov_mean(yc, cc, M, N, 0) * Nd / (Nd - 1.0);
  const double var_plus = mean_var * (Nd - 1.0) / Nd + means_var(cm, M); /* > 0: not constant */

  /* Initial positive sequence: pairs (rho_t, rho_t+1), t even, while the previous pair is
   * positive and t < N - 5; a pair with a negative sum is not kept (left 0). */
  size_t t = 0;
  double rho_even = 1.0;
  double rho_odd = 1.0 - (mean_var - acov_mean(yc, cc, M, N, 1)) / var_plus;
  rho[0] = rho_even;
  rho[1] = rho_odd;
  while (t + 5 < N && rho_even + rho_odd > 0.0) {
    t += 2;
    rho_even = 1.0 - (mean_var - acov_mean(yc, cc, M, N, t)) / var_plus;
    rho_odd = 1.0 - (mean_var - acov_mean(yc, cc, M, N, t + 1)) / var_plus;
    const int keep = rho_even + rho_odd >= 0.0;
    rho[t] = keep ? rho_even : 0.0;
    rho[t + 1] = keep ? rho_odd : 0.0;
  }
  const size_t max_t = t;
  if (rho_even > 0.0) rho[max_t] = rho_even; /* the "improved" estimate's last even term */

  /* Initial monotone sequence: no pair above the one before it. */
  for (t = 2; t + 2 <= max_t; t += 2)
    if (rho[t] + rho[t + 1] > rho[t - 2] + rho[t - 1]) rho[t] = rho[t + 1] = 0.5 * (rho[t - 2] + rho[t - 1]);

  double tau;
  if (max_t == 0) { /* no pair past lag 1 (N < 6, or rho_0 + rho_1 <= 0): posterior and Stan give 2 */
    tau = -1.0 + 2.0 * rho[0] + rho[0];
    if (N < 6) *flags |= EMI_DIAG_SHORT;
  } else {
    double s = 0.0;
    for (t = 0; t < max_t; t++) s += rho[t];
    tau = -1.0 + 2.0 * s + rho[max_t];
  }
  const double bound = 1.0 / log10(S);
  if (tau < bound) {
    tau = bound;
    *flags |= EMI_DIAG_ESS_CAPPED;
  }
  return S / tau;
}

/* ------------------------------------------------------------------------------ driver */

static const char *nonfinite_name(double v)
{
  return isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf";
}

emi_err_t emi_diag_compute(const double *draws, size_t n_chains, size_t n_draws, size_t stride,
                           double *restrict work, size_t lwork, emi_diag_t *out)
{
  if (!draws || !work || !out)
    return EMI_ERROR(EMI_ERR_ARG, "diagnostics: %s is NULL", !draws ? "draws" : !work ? "work" : "out");
  if (n_chains == 0) return EMI_ERROR(EMI_ERR_ARG, "diagnostics: n_chains = 0, expected at least 1 chain");
  if (n_draws < EMI_DIAG_MIN_DRAWS)
    return EMI_ERROR(EMI_ERR_ARG,
                     "diagnostics: n_draws = %zu per chain, expected at least %d (each split half "
                     "needs 2 draws for a variance)", n_draws, EMI_DIAG_MIN_DRAWS);
  if (stride == 0) return EMI_ERROR(EMI_ERR_ARG, "diagnostics: stride = 0, expected at least 1");
  const size_t need = diag_len(n_chains, n_draws);
  if (need == 0 || (n_chains * n_draws - 1) > (SIZE_MAX - 1) / stride)
    return EMI_ERROR(EMI_ERR_ARG, "diagnostics: %zu chains x %zu draws (stride %zu) is too large "
                     "(at most 2^53 draws)", n_chains, n_draws, stride);
  if (lwork < need)
    return EMI_ERROR(EMI_ERR_ARG, "diagnostics: workspace of %zu doubles, expected at least %zu "
                     "(emi_diag_work_len)", lwork, need);

  diag_ws_t w;
  w.C = n_chains;
  w.n = n_draws;
  w.T = n_chains * n_draws;
  w.N = n_draws / 2;
  w.M = 2 * n_chains;
  w.S = w.M * w.N;
  w.pairs = work;
  w.tmp = w.pairs + 2 * w.T;
  w.vals = w.tmp + 2 * w.T;
  w.xs = w.vals + w.T;
  w.rho = w.xs + w.S;
  w.cm = w.rho + w.N + 2;
  w.cc = w.cm + w.M;

  /* Gather (value, flat index), checking every draw. */
  for (size_t c = 0; c < w.C; c++)
    for (size_t d = 0; d < w.n; d++) {
      const size_t t = c * w.n + d;
      const double v = draws[t * stride];
      if (!isfinite(v))
        return EMI_ERROR(EMI_ERR_DOMAIN, "diagnostics: draw %zu of chain %zu is %s, expected a "
                         "finite value", d, c, nonfinite_name(v));
      if (fabs(v) > EMI_DIAG_MAX_ABS) /* squares and differences must stay finite */
        return EMI_ERROR(EMI_ERR_DOMAIN, "diagnostics: draw %zu of chain %zu is %g, beyond the supported "
                         "magnitude %g", d, c, v, EMI_DIAG_MAX_ABS);
      w.pairs[2 * t] = v;
      w.pairs[2 * t + 1] = (double)t;
    }

  emi_diag_t r;
  memset(&r, 0, sizeof r);
  const double Td = (double)w.T, Sd = (double)w.S;

  /* Constant input: every draw equals the first. */
  int constant = 1;
  for (size_t t = 1; t < w.T && constant; t++) constant = w.pairs[2 * t] == w.pairs[0];
  if (constant) {
    const double v = w.pairs[0];
    r.mean = r.q05 = r.q50 = r.q95 = v;
    r.sd = r.mcse_mean = 0.0;
    r.rhat = r.rhat_bulk = r.rhat_fold = 1.0;
    r.ess_bulk = r.ess_tail = r.ess_mean = Td;
    r.flags = EMI_DIAG_CONSTANT;
    *out = r;
    return EMI_SUCCESS;
  }

  /* Mean and sd (two passes, flat order), then the sorted draws and their quantiles. */
  double s = 0.0;
  for (size_t t = 0; t < w.T; t++) s += w.pairs[2 * t];
  r.mean = s / Td;
  double ss = 0.0;
  for (size_t t = 0; t < w.T; t++) ss += (w.pairs[2 * t] - r.mean) * (w.pairs[2 * t] - r.mean);
  r.sd = sqrt(ss / (Td - 1.0));

  pairs_sort(w.pairs, w.tmp, w.T);
  for (size_t t = 0; t < w.T; t++) w.vals[t] = w.pairs[2 * t];
  r.q05 = emi_diag_quantile(w.vals, w.T, 0.05);
  r.q50 = emi_diag_quantile(w.vals, w.T, 0.50);
  r.q95 = emi_diag_quantile(w.vals, w.T, 0.95);

  /* Split draws, and the sorted pairs re-keyed by split position (-1: dropped middle draw). */
  for (size_t c = 0; c < w.C; c++)
    for (size_t d = 0; d < w.n; d++) {
      const double pos = split_pos(&w, c, d);
      if (pos >= 0.0) w.xs[(size_t)pos] = draws[(c * w.n + d) * stride];
    }
  for (size_t k = 0; k < w.T; k++) {
    const size_t t = (size_t)w.pairs[2 * k + 1];
    w.pairs[2 * k + 1] = split_pos(&w, t / w.n, t % w.n);
  }

  int flags = 0;
  double *z = w.vals; /* the sorted draws are no longer needed */

  /* Bulk: rank-normalised split draws. */
  rank_normalise(w.pairs, w.T, Sd, z);
  r.rhat_bulk = split_rhat(z, w.M, w.N, w.cm, w.cc, &flags);
  r.ess_bulk = ess_split(z, w.M, w.N, Td, w.tmp, w.rho, w.cm, w.cc, &flags);

  /* Folded about the median of all draws, rank-normalised. */
  for (size_t p = 0; p < w.S; p++) {
    w.pairs[2 * p] = fabs(w.xs[p] - r.q50);
    w.pairs[2 * p + 1] = (double)p;
  }
  pairs_sort(w.pairs, w.tmp, w.S);
  rank_normalise(w.pairs, w.S, Sd, z);
  r.rhat_fold = split_rhat(z, w.M, w.N, w.cm, w.cc, &flags);
  r.rhat = r.rhat_bulk > r.rhat_fold ? r.rhat_bulk : r.rhat_fold;

  /* Tail: indicators of the 5% and 95% quantiles of all draws. */
  for (size_t p = 0; p < w.S; p++) z[p] = w.xs[p] <= r.q05 ? 1.0 : 0.0;
  const double e05 = ess_split(z, w.M, w.N, Td, w.tmp, w.rho, w.cm, w.cc, &flags);
  for (size_t p = 0; p < w.S; p++) z[p] = w.xs[p] <= r.q95 ? 1.0 : 0.0;
  const double e95 = ess_split(z, w.M, w.N, Td, w.tmp, w.rho, w.cm, w.cc, &flags);
  r.ess_tail = e05 < e95 ? e05 : e95;

  /* Mean: the split draws themselves. */
  r.ess_mean = ess_split(w.xs, w.M, w.N, Td, w.tmp, w.rho, w.cm, w.cc, &flags);
  r.mcse_mean = r.sd / sqrt(r.ess_mean);
  r.flags = flags;
  *out = r;
  return EMI_SUCCESS;
}
