/* emi_nowcast.h: right censoring of the 12/16 rule (issue 4): probabilities for the crossings whose
 * window is still open at the data end, learnt from completed crossings, and Monte Carlo draws of the
 * provisional totals.
 *
 * Kinds of outcome
 * ----------------
 *   EMI_NOWCAST_DEP  a resident's exit ends as a migrant departure;
 *   EMI_NOWCAST_ARR  a non-resident's entry ends as a migrant arrival;
 *   EMI_NOWCAST_UND  a resident's exit ends as a migrant departure WITHOUT a declaration in
 *                    [t - decl_before_days, t + decl_after_days] (undeclared emigration).
 * A crossing is a CANDIDATE when the rule's status lets it change the status (a resident's exit, a
 * non-resident's entry; emi_rule_classify_cand reports them as cand[]).  Exits are looked at for DEP and
 * UND, entries for ARR.
 *
 * Status chains (the shadow of an open crossing)
 * ----------------------------------------------
 * At a data end E, the rule leaves the status unchanged after a pending crossing, so the crossings of
 * the person after the FIRST open candidate i* (its outcome still uncertain at E) are classified with a
 * status that may be wrong: if i* ends as a migrant, a later exit of the same direction is not a
 * candidate at all, and a later entry of the opposite direction is one.  Counting such crossings as
 * plain pending (or certain) ones would count a circular migrant's two pending exits as two
 * departures.  So a crossing j is in one of three PLANES at E:
 *   0  no earlier open candidate: j's class at E is final-or-pending as emi_rule_classify says, and j
 *      matters only when it is a candidate;
 *   1  after an open candidate i* of the same direction, 2  after one of the other direction:
 *      whatever its class at E, j gets a state (unless its own window certainly misses the
 *      threshold), and its outcome is learnt from completed crossings seen in the same plane.
 * open_until[i] (emi_nowcast_open_until) is the first day on which candidate i's outcome is certain
 * (INT32_MIN for a non-candidate); i is open at E' iff E' < open_until[i].  Before i* every crossing is
 * certain at E', so its class and candidacy at E' are the final ones: i* at E' is exactly the first
 * candidate i < j with E' < open_until[i], computed from the final classification (training) or from
 * the censored one (the data end) alike.
 *
 * Censoring at d
 * --------------
 * A crossing on day t seen with d days observed (days t .. t + d - 1 known, nothing after; d >= 1) has
 *   cnt  the rule's count so far: the days of the window t .. t + window - 1 observed so far with the
 *        "wanted" location (abroad for DEP/UND, in the country for ARR), cumulative, or for the
 *        continuous rule the days from t up to the first change of location;
 *   loc  1 when the location on the last observed day t + d - 1 is the wanted one (still abroad for a
 *        departure, still in the country for an arrival), else 0;
 *   dec  (UND) 1 when a declaration is known in [t - before, t + min(d - 1, after)].
 * In plane 0 the outcome is CERTAIN at d (exactly as emi_rule_classify decides early) when cnt >=
 * threshold (migrant) or when the threshold cannot be reached any more (cumulative: cnt + window - d <
 * threshold; continuous: the location has changed; both: d >= window), and for UND also when dec = 1
 * (declared: not undeclared), the rule says short (not undeclared), or the rule says migrant and the
 * declaration window has closed (d > after: undeclared).  In planes 1 and 2 only "short" and "declared"
 * are certain (NO); a migrant verdict goes to the "threshold reached" count bin.  Otherwise the crossing
 * is UNRESOLVED at d and its STATE is the cell (plane, bin of d, bin of cnt, loc):
 *   bin of d     observed-length bins given by the caller, bin j = d in [bin_start[j], bin_start[j+1]);
 *                emflow classify uses calendar months before the data end (emi_nowcast_bins_monthly),
 *                so that a pending crossing's bin is the month it happened in;
 *   bin of cnt   cnt / count_bin_days for cnt < threshold (0 .. ncount_bins - 2); the last bin
 *                ncount_bins - 1 holds "threshold reached" (UND: migrant, declaration still open);
 *   state index  s = ((plane * nbins + j) * ncount_bins + cnt bin) * 2 + loc, 0 <= s < emi_nowcast_nstates.
 * The horizon D of a kind is the first d at which every outcome is certain: window_days for DEP/ARR,
 * max(window_days, decl_after_days + 1) for UND.  A crossing is COMPLETED when t + D - 1 <= data end.
 *
 * Learning from completed crossings
 * ---------------------------------
 * A completed crossing with final outcome y (0/1; 0 for a non-candidate) is censored artificially at
 * EVERY observed length d = 1 .. D - 1 (the data end E' = t + d - 1), and at each d where it is
 * unresolved, its state (plane at E' included) gets one crossing-day of outcome y:
 * acc[s * stride + y] += 1.  Divided by the number of d values of the state's bin (emi_nowcast_weights)
 * these are effective counts of crossings: the share of a bin's d values at which the crossing looked
 * like state s, so that a pending crossing (whose d is anywhere in its bin) is compared with completed
 * crossings seen at the same range of d.  emi_nowcast_train walks the crossing's history chunk by
 * chunk (O(crossings in the window + bins)); emi_nowcast_train_ref is the plain twin (every d from
 * scratch, through emi_rule_days_abroad_ref), and tests/unit/test_nowcast.c holds one to the other.
 *
 * Probabilities: a tree of Beta posteriors
 * ----------------------------------------
 * Levels (leaf = one state of one citizenship and one sex x age group g):
 *   A  (plane, cnt bin, loc)    p_A ~ Beta(a0 + y_A, b0 + z_A)       the state without its d bin
 *   B  state s                  p_B ~ Beta(kappa p_A + y_B, kappa (1 - p_A) + z_B)
 *   C  state s x citizenship c  p_C ~ Beta(kappa p_B + y_C, kappa (1 - p_B) + z_C)
 *   D  leaf (s, c, g)           p_D ~ Beta(kappa p_C + y_D, kappa (1 - p_C) + z_D)
 * y, z: effective counts of completed crossings that ended with / without the outcome, summed over
 * the leaves below.  A sparse cell keeps its parent's probability with the weight of kappa crossings,
 * a cell with no completed history has its parent's (up to the prior Beta(a0, b0)): never a NaN.
 * Level A pools a state over the months since the crossing only, not over the states: the state
 * (how long abroad so far, still abroad or not) is what predicts the outcome, and a pool of all states
 * (mostly short trips) would pull a sparse state's probability far down.  The point probability of a leaf is its posterior mean with the parents' means plugged
 * in, mu_D = (kappa mu_C + y_D) / (kappa + y_D + z_D) (mu_A = (a0 + y_A) / (a0 + b0 + y_A + z_A)); the
 * Monte Carlo draws each level given the draw of its parent, so that a draw carries the uncertainty
 * of every level, and its expectation is the point probability (the mean is linear in the parent).
 *
 * Monte Carlo of a provisional cell (emi_nowcast_cell_draws, emi_nowcast_group_draws; classify uses their
 * sparse twin emi_nowcast_leaves_draws, and reports emi_nowcast_summary, emi_nowcast_bound_draws)
 * ----------------------------------------------------------
 * An output cell is (kind, bin j, citizenship c): the pending crossings of its leaves (s in bin j of
 * every plane, every g).  Draw r: p of every level down to each leaf with pending crossings, then
 * Binomial(pending of the leaf, p_D) (the sum of the leaf's Bernoulli outcomes, in law), summed over
 * the leaves.  The leaf's Beta-then-binomial is drawn as its law, BetaBinomial(pending, .), directly:
 * Bernoulli(E[p_D | p_C]) for one crossing, a Polya urn up to 32 crossings, Beta then binomial beyond.  Every variate comes from its own Philox stream keyed by (seed, purpose = level, entity =
 * the node's logical index, step = r): a draw is the same whichever rank or thread computes it and
 * whichever other cells are computed.  Entities: A kind * nA + a; B kind * nstates + s; C (kind *
 * nstates + s) * ncit + c; D and the binomial ((kind * nstates + s) * ncit + c) * ngrp + g.
 *
 * Pure: no I/O, no MPI, no allocation, no globals.
 */
#ifndef EMI_NOWCAST_H
#define EMI_NOWCAST_H

#include <stddef.h>
#include <stdint.h>

#include "emi_err.h"

enum { EMI_NOWCAST_DEP = 0, EMI_NOWCAST_ARR = 1, EMI_NOWCAST_UND = 2, EMI_NOWCAST_NKINDS = 3 };
/* emi_nowcast_state: outcome certain (no state) */
enum { EMI_NOWCAST_NO = -1, EMI_NOWCAST_YES = -2 };
/* Stream purposes of the Monte Carlo (emi_philox.h): one per level, and the binomial. */
enum { EMI_NOWCAST_PURPOSE_A = 0x4e01, EMI_NOWCAST_PURPOSE_B, EMI_NOWCAST_PURPOSE_C, EMI_NOWCAST_PURPOSE_D,
       EMI_NOWCAST_PURPOSE_BINOM };
#define EMI_NOWCAST_MAX_BINS 4096

typedef struct {
  int32_t window_days, threshold_days; /* the rule (emi_rule_params_t) */
  int continuous;                      /* 0 cumulative, 1 continuous */
  int32_t decl_before_days, decl_after_days; /* declaration window (UND) */
  int nbins;                           /* observed-length bins */
  const int32_t *bin_start;            /* [nbins + 1], increasing, bin_start[0] = 1 */
  int32_t count_bin_days;              /* width of the bins of cnt */
  int ncount_bins;                     /* ceil(threshold / count_bin_days) + 1 */
} emi_nowcast_params_t;

/* EMI_ERR_DOMAIN for a bad rule, bins that do not start at 1, are not increasing or do not reach the
 * horizon of UND (bin_start[nbins] >= emi_nowcast_horizon(p, EMI_NOWCAST_UND)), or a count-bin count
 * other than ceil(threshold / width) + 1. */
emi_err_t emi_nowcast_check(const emi_nowcast_params_t *p);
/* First observed length at which every outcome of the kind is certain. */
int32_t emi_nowcast_horizon(const emi_nowcast_params_t *p, int kind);
/* 3 planes * nbins * ncount_bins * 2 */
size_t emi_nowcast_nstates(const emi_nowcast_params_t *p);
/* Bin j = the crossings of calendar month (month of end_day) - j, seen at the data end end_day:
 * d = end_day - t + 1, so bin_start[0] = 1 and bin_start[j] = end_day - (last day of that month) + 1.
 * As many bins as needed for d < horizon_days (*nbins <= cap, else EMI_ERR_DOMAIN); bin_start has
 * cap + 1 entries. */
emi_err_t emi_nowcast_bins_monthly(int32_t end_day, int32_t horizon_days, int cap, int32_t *bin_start, int *nbins);

/* A person's history: n crossings, day[] non-decreasing, dir[] EMI_DIR_IN/OUT, cand[] candidates
 * (emi_rule_classify_cand), open_until[] (emi_nowcast_open_until), decl[0 .. ndecl-1] the person's
 * declaration days, sorted (UND; may be NULL when ndecl = 0). */
typedef struct {
  size_t n;
  const int32_t *day;
  const uint8_t *dir, *cand;
  const int32_t *open_until;
  size_t ndecl;
  const int32_t *decl;
} emi_nowcast_hist_t;

/* open_until[i] for every crossing: for a candidate, t_i + dc - 1 where dc is the first observed length at
 * which its DEP (exit) or ARR (entry) outcome is certain in plane 0 (<= window_days); INT32_MIN else.
 * Needs h->day, dir, cand; the crossings must cover each candidate's window (or the data end: a value
 * after it only says "open at the data end"). */
void emi_nowcast_open_until(const emi_nowcast_params_t *p, const emi_nowcast_hist_t *h, int32_t *open_until);

/* The state of crossing i (day[i] = t) seen with d >= 1 days observed; crossings after t + d - 1 are
 * ignored.  Returns a state index >= 0, EMI_NOWCAST_YES or EMI_NOWCAST_NO (also for a crossing whose
 * direction is not the kind's, and for a non-candidate in plane 0). */
int emi_nowcast_state(const emi_nowcast_params_t *p, int kind, const emi_nowcast_hist_t *h, size_t i, int32_t d);
/* The plane of crossing i at the data end t_i + d - 1 (0, 1 or 2). */
int emi_nowcast_plane(const emi_nowcast_params_t *p, const emi_nowcast_hist_t *h, size_t i, int32_t d);

/* Completed crossing i with final outcome `outcome` (0/1): for d = 1 .. horizon - 1 where it is
 * unresolved, acc[state * stride + outcome] += 1.  The crossings and declarations must cover its whole
 * horizon.  emi_nowcast_train_ref: the same, d by d through emi_nowcast_state. */
void emi_nowcast_train(const emi_nowcast_params_t *p, int kind, const emi_nowcast_hist_t *h, size_t i, int outcome,
                       int64_t *restrict acc, size_t stride);
void emi_nowcast_train_ref(const emi_nowcast_params_t *p, int kind, const emi_nowcast_hist_t *h, size_t i,
                           int outcome, int64_t *restrict acc, size_t stride);

/* The same walk as emi_nowcast_train, as runs: crossing-days days[q] in state state[q], q < the count returned
 * (consecutive runs of one state merged), so that a caller with sparse counts adds them to its own store:
 * acc[state[q] * stride + outcome] += days[q] is emi_nowcast_train.  state and days hold at least
 * emi_nowcast_horizon(p, kind) entries (the walk makes fewer than that many steps). */
size_t emi_nowcast_train_runs(const emi_nowcast_params_t *p, int kind, const emi_nowcast_hist_t *h, size_t i,
                              int32_t *restrict state, int64_t *restrict days);
/* The number of d values of state s's bin below the kind's horizon (0 for a bin beyond it): the divisor of
 * emi_nowcast_weights. */
double emi_nowcast_bin_days(const emi_nowcast_params_t *p, int kind, size_t s);

/* Effective counts of the leaves of one kind: acc[(s * nleaf_per_state + l) * 2 + y] crossing-days
 * -> y_out[s * nleaf_per_state + l] (outcome) and z_out[...] (no outcome), divided by the number of d
 * values of bin(s) below the kind's horizon (states of bins beyond it get 0). */
void emi_nowcast_weights(const emi_nowcast_params_t *p, int kind, size_t nleaf_per_state, const int64_t *restrict acc,
                         double *restrict y_out, double *restrict z_out);

/* ------------------------------------------------------------------ the tree of Beta posteriors */
typedef struct {
  size_t nstates, ncit, ngrp; /* leaf (s, c, g) = (s * ncit + c) * ngrp + g */
  size_t nbins, ncount_bins;  /* the state layout: a(s) = (plane * ncount_bins + cnt bin) * 2 + loc */
  double a0, b0;              /* prior of level A */
  double kappa;               /* prior strength (crossings) of the levels below */
  const double *yA, *zA;      /* [nA = 3 * ncount_bins * 2] level sums (emi_nowcast_tree_pool) */
  const double *yB, *zB;      /* [nstates] */
  const double *yC, *zC;      /* [nstates * ncit] */
  const double *yD, *zD;      /* [nstates * ncit * ngrp] */
} emi_nowcast_tree_t;

/* Index of state s's level-A cell, and the number of level-A cells. */
size_t emi_nowcast_tree_a(const emi_nowcast_tree_t *t, size_t s);
size_t emi_nowcast_tree_na(const emi_nowcast_tree_t *t);
/* Sums of the leaves into levels C, B, A, in index order (deterministic): yC[s, c] = sum_g yD[s, c, g],
 * yB[s] = sum_c yC[s, c], yA[a] = sum over the states s of a (increasing d bin) of yB[s]; the same for z.
 * t gives the layout (nstates, ncit, ngrp, nbins, ncount_bins); its count pointers are not used. */
void emi_nowcast_tree_pool(const emi_nowcast_tree_t *t, const double *restrict yD, const double *restrict zD,
                           double *restrict yC, double *restrict zC, double *restrict yB, double *restrict zB,
                           double *restrict yA, double *restrict zA);
/* Point probabilities (posterior means, parents' means plugged in): muA[nA], muB[nstates],
 * muC[nstates * ncit], muD[nleaves]. */
void emi_nowcast_tree_means(const emi_nowcast_tree_t *t, double *restrict muA, double *restrict muB,
                            double *restrict muC, double *restrict muD);

/* Sparse leaves of one kind, sorted by leaf index (s * ncit + c) * ngrp + g, no index twice: the effective counts
 * y[q], z[q] of leaf leaf[q] and its pending crossings pending[q] (leaves absent from the list: 0, 0, 0).  With
 * 249 citizenships the dense leaves of emi_nowcast_tree_t are 10^7 per kind, nearly all empty; classify keeps
 * only these lists (the O(nonzero leaves) twins below give the same numbers as the dense functions, bit for bit:
 * the same sums in the same order, zeros skipped, and the same streams). */
typedef struct {
  size_t n;
  const uint64_t *leaf;
  const double *y, *z;
  const int64_t *pending;
} emi_nowcast_leaves_t;

/* emi_nowcast_tree_pool from a leaf list (every leaf with a count; pending not used). */
void emi_nowcast_tree_pool_leaves(const emi_nowcast_tree_t *t, const emi_nowcast_leaves_t *L, double *restrict yC,
                                  double *restrict zC, double *restrict yB, double *restrict zB, double *restrict yA,
                                  double *restrict zA);
/* emi_nowcast_group_draws from a leaf list: the leaves of the output cells (one bin, every citizenship), with their
 * pending crossings and effective counts; t's yD, zD are not used.  x[c * ndraws + r - draw0]. */
emi_err_t emi_nowcast_leaves_draws(const emi_nowcast_tree_t *t, uint64_t seed, int kind, const emi_nowcast_leaves_t *L,
                                   uint32_t draw0, size_t ndraws, int64_t *restrict x);

/* Draws r = draw0 .. draw0 + ndraws - 1 of the number of outcomes among the pending crossings of the
 * output cell (kind, the nst states states[] (one bin), citizenship c): x[r - draw0].
 * pending[leaf]: pending crossings of the kind by leaf.  EMI_ERR_DOMAIN for an entity beyond the
 * streams' range (emi_stream_init) or a bad Beta/binomial parameter (a bug: counts are >= 0). */
emi_err_t emi_nowcast_cell_draws(const emi_nowcast_tree_t *t, uint64_t seed, int kind, size_t nst,
                                 const int32_t *states, size_t c, const int64_t *pending, uint32_t draw0, size_t ndraws,
                                 int64_t *restrict x);

/* The same draws for every citizenship c at once (x[c * ndraws + r - draw0]; every upper-level p drawn
 * once per state and draw instead of once per citizenship): the optimised twin of
 * emi_nowcast_cell_draws, which tests/unit/test_nowcast.c holds it to, value for value. */
emi_err_t emi_nowcast_group_draws(const emi_nowcast_tree_t *t, uint64_t seed, int kind, size_t nst,
                                  const int32_t *states, const int64_t *pending, uint32_t draw0, size_t ndraws,
                                  int64_t *restrict x);

/* Central interval of level `level` (0 < level < 1) of n >= 1 draws: the (1 - level) / 2 and
 * (1 + level) / 2 quantiles, R's type 7; *mass (mass may be NULL): the share of the draws inside
 * [lower, upper], which for a discrete count exceeds the level (a cell of 2 unresolved crossings of
 * probability 0.1 has [0, 1], holding 99%).  Sorts x in place. */
void emi_nowcast_interval(int64_t *x, size_t n, double level, double *lower, double *upper, double *mass);

/* The summary classify reports of n >= 1 draws of a count: *point their mean (an int64 sum, then one division:
 * the same bits whatever computed it), *lower = min(q_lo, floor(mean)), *upper = max(q_hi, ceil(mean)) with
 * [q_lo, q_hi] the central interval of emi_nowcast_interval: the quantiles, widened only when the mean lies
 * outside them or within 1 of them (1 crossing of probability 0.03: 970 of 1000 draws 0, the quantiles [0, 0], the
 * mean 0.03, reported [0, 1]), so that lower <= point <= upper always, and each of the three is monotone in the
 * draws (draws x <= y one by one give summaries of x <= those of y: undeclared <= departures survives it); *mass
 * the share of the draws inside the reported interval.  Sorts x in place. */
void emi_nowcast_summary(int64_t *x, size_t n, double level, double *point, double *lower, double *upper, double *mass);

/* Undeclared departures are departures: n draws xd[] of a cell's departures (outcomes among its unresolved
 * crossings, 0 <= xd < 2^31) and xu[] of its undeclared departures, room = certain departures - certain undeclared
 * ones (>= 0).  The undeclared draws are re-paired with the departures' by rank (the k-th smallest xu goes to the
 * draw with the k-th smallest xd, ties by draw index: the comonotone coupling, which keeps both laws as they are
 * and makes xu <= room + xd in every draw whenever the undeclared law lies below the departures' quantile by
 * quantile), then any draw still above room + xd[r] is set to it.  Returns the number so set.  n < 2^32;
 * rank[n], sorted[n]: scratch.  The two trees are learnt apart, so drawn independently a cell of one crossing of
 * probabilities 0.3 (departure) and 0.25 (undeclared) would be undeclared-not-departed in 17.5% of the draws. */
size_t emi_nowcast_bound_draws(const int64_t *restrict xd, int64_t *restrict xu, size_t n, int64_t room,
                               uint64_t *restrict rank, int64_t *restrict sorted);

#endif /* EMI_NOWCAST_H */
