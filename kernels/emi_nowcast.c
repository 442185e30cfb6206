/* emi_nowcast.c: see emi_nowcast.h. */
#include "emi_nowcast.h"

#include <math.h>
#include <stdlib.h>

#include "emi_dist.h"
#include "emi_philox.h"
#include "emi_rule1216.h"
#include "emi_sim.h" /* calendar */

#define BIG_OFFSET ((int64_t)1 << 40) /* "after the last crossing" */

emi_err_t emi_nowcast_check(const emi_nowcast_params_t *p)
{
  const int32_t W = p->window_days, thr = p->threshold_days;
  if (W < 1 || thr < 1 || thr > W)
    return EMI_ERROR(EMI_ERR_DOMAIN, "nowcast: window %d days, threshold %d days: need 1 <= threshold <= window", (int)W,
                     (int)thr);
  if (p->decl_before_days < 0 || p->decl_after_days < 0)
    return EMI_ERROR(EMI_ERR_DOMAIN, "nowcast: declaration window %d days before, %d after: expected >= 0",
                     (int)p->decl_before_days, (int)p->decl_after_days);
  if (p->count_bin_days < 1)
    return EMI_ERROR(EMI_ERR_DOMAIN, "nowcast: count bins of %d days: expected >= 1", (int)p->count_bin_days);
  const int ncb = (int)((thr + p->count_bin_days - 1) / p->count_bin_days) + 1;
  if (p->ncount_bins != ncb)
    return EMI_ERROR(EMI_ERR_DOMAIN, "nowcast: %d count bins: expected ceil(%d / %d) + 1 = %d", p->ncount_bins, (int)thr,
                     (int)p->count_bin_days, ncb);
  if (p->nbins < 1 || p->nbins > EMI_NOWCAST_MAX_BINS || !p->bin_start || p->bin_start[0] != 1)
    return EMI_ERROR(EMI_ERR_DOMAIN, "nowcast: %d observed-length bins: expected 1 .. %d starting at d = 1", p->nbins,
                     EMI_NOWCAST_MAX_BINS);
  for (int j = 0; j < p->nbins; j++)
    if (p->bin_start[j + 1] <= p->bin_start[j])
      return EMI_ERROR(EMI_ERR_DOMAIN, "nowcast: observed-length bin %d is empty or decreasing (%d .. %d)", j,
                       (int)p->bin_start[j], (int)p->bin_start[j + 1]);
  if (p->bin_start[p->nbins] < emi_nowcast_horizon(p, EMI_NOWCAST_UND))
    return EMI_ERROR(EMI_ERR_DOMAIN, "nowcast: the observed-length bins end at d = %d, before the horizon %d",
                     (int)p->bin_start[p->nbins], (int)emi_nowcast_horizon(p, EMI_NOWCAST_UND));
  return EMI_SUCCESS;
}

int32_t emi_nowcast_horizon(const emi_nowcast_params_t *p, int kind)
{
  if (kind != EMI_NOWCAST_UND || p->decl_after_days + 1 <= p->window_days) return p->window_days;
  return p->decl_after_days + 1;
}

size_t emi_nowcast_nstates(const emi_nowcast_params_t *p) { return (size_t)3 * (size_t)p->nbins * (size_t)p->ncount_bins * 2; }

emi_err_t emi_nowcast_bins_monthly(int32_t end_day, int32_t horizon_days, int cap, int32_t *bin_start, int *nbins)
{
  int y, m, dd;
  emi_civil_from_days(end_day, &y, &m, &dd);
  int month = y * 12 + m - 1; /* month of the data end; bin j: month - j */
  bin_start[0] = 1;
  int j = 0;
  while (bin_start[j] < horizon_days) {
    if (j >= cap)
      return EMI_ERROR(EMI_ERR_DOMAIN, "nowcast: more than %d monthly bins for a horizon of %d days", cap,
                       (int)horizon_days);
    int mm = month - j; /* bin j + 1 starts after the first day of month mm */
    int32_t first = emi_days_from_civil(mm / 12, mm % 12 + 1, 1);
    bin_start[j + 1] = end_day - first + 2;
    j++;
  }
  *nbins = j;
  return EMI_SUCCESS;
}

/* The rule's verdict at d from the count so far: 1 migrant, 0 short, -1 open. */
static int verdict(const emi_nowcast_params_t *p, int64_t cnt, int ended, int64_t d)
{
  const int64_t W = p->window_days, thr = p->threshold_days;
  if (cnt >= thr) return 1;
  if (d >= W) return 0;
  if (p->continuous ? ended : cnt + (W - d) < thr) return 0;
  return -1;
}

/* The state from the quantities at d (see the header): >= 0, EMI_NOWCAST_YES or EMI_NOWCAST_NO. */
static int state_of(const emi_nowcast_params_t *p, int kind, int plane, int cand, int jb, int64_t cnt, int ended,
                    int loc, int64_t d, int declared)
{
  const int ncb = p->ncount_bins;
  if (plane == 0 && !cand) return EMI_NOWCAST_NO;
  const int rule = verdict(p, cnt, ended, d);
  int cb;
  if (rule == 0) return EMI_NOWCAST_NO;
  if (kind == EMI_NOWCAST_UND && declared) return EMI_NOWCAST_NO;
  if (rule == 1) {
    if (plane == 0 && (kind != EMI_NOWCAST_UND || d > p->decl_after_days)) return EMI_NOWCAST_YES;
    cb = ncb - 1;
  } else {
    cb = (int)(cnt / p->count_bin_days);
    if (cb > ncb - 2) cb = ncb - 2;
  }
  if (jb < 0) return EMI_NOWCAST_NO; /* not reached: d below the horizon has a bin (emi_nowcast_check) */
  return ((plane * p->nbins + jb) * ncb + cb) * 2 + (loc != 0);
}

static int bin_of(const emi_nowcast_params_t *p, int64_t d)
{
  if (d < 1 || d >= p->bin_start[p->nbins]) return -1;
  int lo = 0, hi = p->nbins; /* bin_start[lo] <= d < bin_start[hi] */
  while (hi - lo > 1) {
    int mid = lo + (hi - lo) / 2;
    if (p->bin_start[mid] <= d) lo = mid;
    else hi = mid;
  }
  return lo;
}

/* Days from t with location `want`, on days t .. last, counted from crossing k until the location first
 * changes; *ended = 1 when it changed on or before `last` (the continuous rule, as emi_rule.c). */
static int64_t run_days(size_t n, const int32_t *day, const uint8_t *dir, size_t k, int64_t t, int64_t last,
                        uint8_t want, int *ended)
{
  int64_t run = 0;
  *ended = 0;
  for (size_t j = k; j < n; j++) {
    int64_t a = day[j] > t ? day[j] : t;
    if (a > last) break;
    int64_t b = (j + 1 < n) ? (int64_t)day[j + 1] - 1 : last;
    if (b > last) b = last;
    if (b < a) continue;
    if (dir[j] != want) {
      *ended = 1;
      break;
    }
    run += b - a + 1;
  }
  return run;
}

/* Count so far, ended (continuous) and location of crossing i seen at d, from scratch. */
static void observe(const emi_nowcast_params_t *p, const emi_nowcast_hist_t *h, size_t i, int32_t d, int64_t *cnt,
                    int *ended, int *loc)
{
  const uint8_t want = h->dir[i];
  const int32_t W = p->window_days, t = h->day[i];
  size_t k = i;
  while (k + 1 < h->n && h->day[k + 1] == t) k++;
  const int32_t len = d < W ? d : W; /* days of the window observed */
  *ended = 0;
  if (!p->continuous) {
    int32_t abroad = emi_rule_days_abroad_ref(h->n, h->day, h->dir, k, t, len);
    *cnt = want == EMI_DIR_OUT ? abroad : len - abroad;
  } else {
    *cnt = run_days(h->n, h->day, h->dir, k, t, (int64_t)t + len - 1, want, ended);
  }
  size_t q = k; /* the last crossing on or before the last observed day */
  while (q + 1 < h->n && (int64_t)h->day[q + 1] <= (int64_t)t + d - 1) q++;
  *loc = h->dir[q] == want;
}

void emi_nowcast_open_until(const emi_nowcast_params_t *p, const emi_nowcast_hist_t *h, int32_t *open_until)
{
  for (size_t i = 0; i < h->n; i++) {
    open_until[i] = INT32_MIN;
    if (!h->cand[i]) continue;
    int32_t lo = 1, hi = p->window_days; /* open on [1, dc): the first certain d in [lo, hi] */
    while (lo < hi) {
      int32_t mid = lo + (hi - lo) / 2, ended, loc;
      int64_t cnt;
      observe(p, h, i, mid, &cnt, &ended, &loc);
      if (verdict(p, cnt, ended, mid) >= 0) hi = mid;
      else lo = mid + 1;
    }
    open_until[i] = h->day[i] + lo - 1;
  }
}

/* The first earlier crossing whose window can hold an open candidate at a day >= day[i]. */
static size_t shadow_lo(const emi_nowcast_params_t *p, const emi_nowcast_hist_t *h, size_t i)
{
  size_t lo = i;
  while (lo > 0 && (int64_t)h->day[lo - 1] + p->window_days - 1 > h->day[i]) lo--;
  return lo;
}

int emi_nowcast_plane(const emi_nowcast_params_t *p, const emi_nowcast_hist_t *h, size_t i, int32_t d)
{
  const int64_t E = (int64_t)h->day[i] + d - 1;
  for (size_t q = shadow_lo(p, h, i); q < i; q++)
    if (h->cand[q] && E < h->open_until[q]) return h->dir[q] == h->dir[i] ? 1 : 2;
  return 0;
}

int emi_nowcast_state(const emi_nowcast_params_t *p, int kind, const emi_nowcast_hist_t *h, size_t i, int32_t d)
{
  const uint8_t want = kind == EMI_NOWCAST_ARR ? EMI_DIR_IN : EMI_DIR_OUT;
  if (i >= h->n || h->dir[i] != want || d < 1) return EMI_NOWCAST_NO;
  const int plane = emi_nowcast_plane(p, h, i, d);
  if (plane == 0 && !h->cand[i]) return EMI_NOWCAST_NO;
  int64_t cnt;
  int ended, loc;
  observe(p, h, i, d, &cnt, &ended, &loc);
  int declared = 0;
  if (kind == EMI_NOWCAST_UND) {
    const int64_t t = h->day[i], lo = t - p->decl_before_days,
                  hi = t + (d - 1 < p->decl_after_days ? d - 1 : p->decl_after_days);
    for (size_t r = 0; r < h->ndecl; r++)
      if (h->decl[r] >= lo && h->decl[r] <= hi) declared = 1;
  }
  return state_of(p, kind, plane, h->cand[i], bin_of(p, d), cnt, ended, loc, d, declared);
}

void emi_nowcast_train_ref(const emi_nowcast_params_t *p, int kind, const emi_nowcast_hist_t *h, size_t i,
                           int outcome, int64_t *restrict acc, size_t stride)
{
  const int32_t D = emi_nowcast_horizon(p, kind);
  for (int32_t d = 1; d < D; d++) {
    int s = emi_nowcast_state(p, kind, h, i, d);
    if (s >= 0) acc[(size_t)s * stride + (outcome != 0)] += 1;
  }
}

/* The chunk walk of emi_nowcast_train: acc != NULL adds to acc, else appends runs (state, days) to rs/rd (*nr). */
static void train_walk(const emi_nowcast_params_t *p, int kind, const emi_nowcast_hist_t *h, size_t i, int outcome,
                       int64_t *restrict acc, size_t stride, int32_t *restrict rs, int64_t *restrict rd, size_t *nr)
{
  const uint8_t want = kind == EMI_NOWCAST_ARR ? EMI_DIR_IN : EMI_DIR_OUT;
  const size_t n = h->n;
  const int32_t *day = h->day;
  const uint8_t *dir = h->dir;
  if (i >= n || dir[i] != want) return;
  const size_t lo = shadow_lo(p, h, i);
  int shadowable = 0; /* an earlier candidate can be open on or after day[i] */
  for (size_t q = lo; q < i; q++) shadowable |= h->cand[q] && h->open_until[q] > day[i];
  if (!h->cand[i] && !shadowable) return; /* always plane 0, not a candidate */
  const int64_t W = p->window_days, thr = p->threshold_days, D = emi_nowcast_horizon(p, kind),
                cbw = p->count_bin_days, after = p->decl_after_days;
  const int cont = p->continuous, y = outcome != 0;
  const int64_t t = day[i];
  size_t k = i;
  while (k + 1 < n && day[k + 1] == t) k++;
  /* declared from observed length dec_from on (UND): the first declaration on or after t - before */
  int64_t dec_from = INT64_MAX;
  if (kind == EMI_NOWCAST_UND)
    for (size_t r = 0; r < h->ndecl; r++) {
      if ((int64_t)h->decl[r] < t - p->decl_before_days) continue;
      if ((int64_t)h->decl[r] <= t + after) dec_from = h->decl[r] <= t ? 1 : (int64_t)h->decl[r] - t + 1;
      break;
    }
  /* segment j: location dir[j] on offsets so .. eo (offset = day - t) */
  size_t j = k;
  /* The earlier candidates still open (the plane and the next offset at which one is resolved) change only
   * when one of them is resolved: they are found again only then, from the lowest index that can still
   * be open (qlo), not at every step.  Cost per crossing: (resolutions + 1) x (open span) instead of
   * steps x (crossings in the window before it), which made a frequent traveller's history quadratic. */
  size_t qlo = lo;
  int plane = 0;
  int64_t sh_next = shadowable ? 1 : BIG_OFFSET; /* offset d from which plane/sh_close must be found again */
  int64_t sh_close = BIG_OFFSET;                  /* the earliest offset at which an open one is resolved */
  int64_t so = 0, eo = k + 1 < n ? (int64_t)day[k + 1] - 1 - t : BIG_OFFSET;
  int64_t cnt_pre = 0; /* count over the closed segments (within the window) */
  int ended_pre = 0;   /* a closed segment within the window had another location */
  int jb = 0;
  for (int64_t d = 1; d < D;) {
    while (d - 1 > eo) { /* close segment j, open the next (day[j + 1] > t: j + 1 > k) */
      if (so <= W - 1 && eo >= so) {
        int64_t e = eo < W - 1 ? eo : W - 1;
        if (dir[j] == want) {
          if (!(cont && ended_pre)) cnt_pre += e - so + 1;
        } else {
          ended_pre = 1;
        }
      }
      j++;
      so = (int64_t)day[j] - t;
      eo = j + 1 < n ? (int64_t)day[j + 1] - 1 - t : BIG_OFFSET;
    }
    const int iswant = dir[j] == want;
    const int64_t hi = (d < W ? d : W) - 1; /* last offset of the window observed */
    int64_t cnt = cnt_pre;
    int ended = ended_pre;
    if (so <= hi) {
      if (!iswant) ended = 1;
      else if (!(cont && ended_pre)) cnt += hi - so + 1;
    }
    while (d >= p->bin_start[jb + 1]) jb++;
    /* the plane at the data end t + d - 1, and the next d at which an earlier candidate is resolved */
    if (d >= sh_next) { /* a candidate open before has been resolved (or the first step): find them again */
      while (qlo < i && (!h->cand[qlo] || t + d - 1 >= h->open_until[qlo])) qlo++; /* resolved ones stay so */
      plane = 0;
      sh_close = BIG_OFFSET;
      for (size_t q = qlo; q < i; q++)
        if (h->cand[q] && t + d - 1 < h->open_until[q]) {
          if (!plane) plane = dir[q] == want ? 1 : 2;
          if (sh_close > h->open_until[q] - t + 1) sh_close = h->open_until[q] - t + 1;
        }
      sh_next = sh_close;
    }
    int64_t nb = eo + 2; /* the last observed day enters the next segment */
    if (nb > sh_close) nb = sh_close;
    const int s = state_of(p, kind, plane, h->cand[i], jb, cnt, ended, iswant, d, d >= dec_from);
    if (nb > D) nb = D;
    if (nb > p->bin_start[jb + 1]) nb = p->bin_start[jb + 1];
    if (d < W && nb > W) nb = W; /* the window closes */
    const int counting = iswant && d < W && !(cont && ended_pre);
    if (counting) {
      if (cnt < thr) {
        if (nb > d + (thr - cnt)) nb = d + (thr - cnt);             /* the threshold is reached */
        if (nb > d + (cbw - cnt % cbw)) nb = d + (cbw - cnt % cbw); /* the next count bin */
      }
    } else if (!cont && d < W && cnt < thr) {
      int64_t x = cnt + W - thr + 1; /* from here cnt + W - d < thr: certainly short */
      if (x > d && nb > x) nb = x;
    }
    if (kind == EMI_NOWCAST_UND) {
      if (dec_from > d && nb > dec_from) nb = dec_from;
      if (d <= after && nb > after + 1) nb = after + 1; /* the declaration window closes */
    }
    if (s >= 0) {
      if (acc) acc[(size_t)s * stride + (size_t)y] += nb - d;
      else if (*nr && rs[*nr - 1] == s) rd[*nr - 1] += nb - d;
      else rs[*nr] = s, rd[(*nr)++] = nb - d;
    }
    d = nb;
  }
}

void emi_nowcast_train(const emi_nowcast_params_t *p, int kind, const emi_nowcast_hist_t *h, size_t i, int outcome,
                       int64_t *restrict acc, size_t stride)
{
  train_walk(p, kind, h, i, outcome, acc, stride, NULL, NULL, NULL);
}

size_t emi_nowcast_train_runs(const emi_nowcast_params_t *p, int kind, const emi_nowcast_hist_t *h, size_t i,
                              int32_t *restrict state, int64_t *restrict days)
{
  size_t nr = 0;
  train_walk(p, kind, h, i, 0, NULL, 0, state, days, &nr);
  return nr;
}

double emi_nowcast_bin_days(const emi_nowcast_params_t *p, int kind, size_t s)
{
  const int32_t D = emi_nowcast_horizon(p, kind);
  const size_t per_bin = (size_t)p->ncount_bins * 2;
  int jb = (int)(s / per_bin % (size_t)p->nbins);
  int32_t hi = p->bin_start[jb + 1] < D ? p->bin_start[jb + 1] : D;
  return hi > p->bin_start[jb] ? (double)(hi - p->bin_start[jb]) : 0.0;
}

void emi_nowcast_weights(const emi_nowcast_params_t *p, int kind, size_t nleaf_per_state, const int64_t *restrict acc,
                         double *restrict y_out, double *restrict z_out)
{
  const size_t ns = emi_nowcast_nstates(p);
  for (size_t s = 0; s < ns; s++) {
    const double w = emi_nowcast_bin_days(p, kind, s);
    for (size_t l = 0; l < nleaf_per_state; l++) {
      size_t q = s * nleaf_per_state + l;
      y_out[q] = w > 0 ? (double)acc[2 * q + 1] / w : 0.0;
      z_out[q] = w > 0 ? (double)acc[2 * q] / w : 0.0;
    }
  }
}

/* ------------------------------------------------------------------ the tree */
size_t emi_nowcast_tree_na(const emi_nowcast_tree_t *t) { return 3 * t->ncount_bins * 2; }

size_t emi_nowcast_tree_a(const emi_nowcast_tree_t *t, size_t s)
{
  const size_t per_bin = 2 * t->ncount_bins; /* s = (plane * nbins + j) * per_bin + (cnt bin * 2 + loc) */
  return s / (per_bin * t->nbins) * per_bin + s % per_bin;
}

void emi_nowcast_tree_pool(const emi_nowcast_tree_t *t, const double *restrict yD, const double *restrict zD,
                           double *restrict yC, double *restrict zC, double *restrict yB, double *restrict zB,
                           double *restrict yA, double *restrict zA)
{
  const size_t ncit = t->ncit, ngrp = t->ngrp, na = emi_nowcast_tree_na(t);
  for (size_t a = 0; a < na; a++) yA[a] = zA[a] = 0;
  for (size_t s = 0; s < t->nstates; s++) { /* s increasing: each yA[a] adds its states by increasing d bin */
    double yb = 0, zb = 0;
    for (size_t c = 0; c < ncit; c++) {
      double yc = 0, zc = 0;
      const size_t l0 = (s * ncit + c) * ngrp;
      for (size_t g = 0; g < ngrp; g++) yc += yD[l0 + g], zc += zD[l0 + g];
      yC[s * ncit + c] = yc, zC[s * ncit + c] = zc;
      yb += yc, zb += zc;
    }
    yB[s] = yb, zB[s] = zb;
    const size_t a = emi_nowcast_tree_a(t, s);
    yA[a] += yb, zA[a] += zb;
  }
}

void emi_nowcast_tree_pool_leaves(const emi_nowcast_tree_t *t, const emi_nowcast_leaves_t *L, double *restrict yC,
                                  double *restrict zC, double *restrict yB, double *restrict zB, double *restrict yA,
                                  double *restrict zA)
{
  const size_t ncit = t->ncit, ngrp = t->ngrp, na = emi_nowcast_tree_na(t);
  for (size_t i = 0; i < t->nstates * ncit; i++) yC[i] = zC[i] = 0;
  for (size_t i = 0; i < L->n; i++) { /* leaf order: each yC[s, c] adds its groups by increasing g */
    const size_t sc = (size_t)(L->leaf[i] / ngrp);
    yC[sc] += L->y[i], zC[sc] += L->z[i];
  }
  for (size_t a = 0; a < na; a++) yA[a] = zA[a] = 0;
  for (size_t s = 0; s < t->nstates; s++) {
    double yb = 0, zb = 0;
    for (size_t c = 0; c < ncit; c++) yb += yC[s * ncit + c], zb += zC[s * ncit + c];
    yB[s] = yb, zB[s] = zb;
    const size_t a = emi_nowcast_tree_a(t, s);
    yA[a] += yb, zA[a] += zb;
  }
}

void emi_nowcast_tree_means(const emi_nowcast_tree_t *t, double *restrict muA, double *restrict muB,
                            double *restrict muC, double *restrict muD)
{
  const double k = t->kappa;
  for (size_t a = 0; a < emi_nowcast_tree_na(t); a++)
    muA[a] = (t->a0 + t->yA[a]) / (t->a0 + t->b0 + t->yA[a] + t->zA[a]);
  for (size_t s = 0; s < t->nstates; s++) {
    const double b = (k * muA[emi_nowcast_tree_a(t, s)] + t->yB[s]) / (k + t->yB[s] + t->zB[s]);
    muB[s] = b;
    for (size_t c = 0; c < t->ncit; c++) {
      const size_t sc = s * t->ncit + c;
      const double cc = (k * b + t->yC[sc]) / (k + t->yC[sc] + t->zC[sc]);
      muC[sc] = cc;
      for (size_t g = 0; g < t->ngrp; g++) {
        const size_t l = sc * t->ngrp + g;
        muD[l] = (k * cc + t->yD[l]) / (k + t->yD[l] + t->zD[l]);
      }
    }
  }
}

/* A Beta shape: kappa * p + count can underflow to 0 when a parent draw is ~0 and the cell is empty. */
static double shape(double a) { return a > 1e-12 ? a : 1e-12; }

static emi_err_t beta_node(uint64_t seed, uint32_t purpose, uint64_t entity, uint32_t step, double a, double b,
                           double *p)
{
  emi_stream_t st;
  EMI_CALL(emi_stream_init(&st, seed, purpose, entity, step));
  EMI_CALL(emi_beta_draw(&st, shape(a), shape(b), p));
  return EMI_SUCCESS;
}

/* Outcomes among the N pending crossings of a leaf whose p ~ Beta(sa, sb) (given its parent's draw):
 * BetaBinomial(N, sa, sb), exactly.  N = 1: Bernoulli(sa / (sa + sb)); N <= EMI_NOWCAST_URN_MAX: a Polya urn
 * (trial i succeeds with probability (sa + successes so far) / (sa + sb + i)), N uniforms and no Beta draw;
 * larger N: p from its Beta (stream D), then Binomial(N, p). */
#define EMI_NOWCAST_URN_MAX 32
static emi_err_t leaf_draw(uint64_t seed, uint64_t eD, uint32_t step, int64_t N, double sa, double sb, int64_t *X)
{
  emi_stream_t st;
  sa = shape(sa), sb = shape(sb);
  EMI_CALL(emi_stream_init(&st, seed, EMI_NOWCAST_PURPOSE_BINOM, eD, step));
  if (N == 1) {
    EMI_CALL(emi_binomial_draw(&st, 1, sa / (sa + sb), X));
  } else if (N <= EMI_NOWCAST_URN_MAX) {
    int64_t k = 0;
    for (int64_t i = 0; i < N; i++) k += emi_uniform_01(&st) * (sa + sb + (double)i) < sa + (double)k;
    *X = k;
  } else {
    double p;
    EMI_CALL(beta_node(seed, EMI_NOWCAST_PURPOSE_D, eD, step, sa, sb, &p));
    EMI_CALL(emi_binomial_draw(&st, N, p, X));
  }
  return EMI_SUCCESS;
}

emi_err_t emi_nowcast_cell_draws(const emi_nowcast_tree_t *t, uint64_t seed, int kind, size_t nst,
                                 const int32_t *states, size_t c, const int64_t *pending, uint32_t draw0, size_t ndraws,
                                 int64_t *restrict x)
{
  const double k = t->kappa;
  const size_t ncit = t->ncit, ngrp = t->ngrp;
  const size_t na = emi_nowcast_tree_na(t);
  for (size_t r = 0; r < ndraws; r++) {
    const uint32_t step = draw0 + (uint32_t)r;
    double pA, pB, pC;
    int64_t sum = 0;
    for (size_t q = 0; q < nst; q++) {
      const size_t s = (size_t)states[q], sc = s * ncit + c, l0 = sc * ngrp, a = emi_nowcast_tree_a(t, s);
      int any = 0;
      for (size_t g = 0; g < ngrp; g++) any |= pending[l0 + g] > 0;
      if (!any) continue;
      const uint64_t eB = (uint64_t)kind * t->nstates + s, eC = eB * ncit + c;
      EMI_CALL(beta_node(seed, EMI_NOWCAST_PURPOSE_A, (uint64_t)kind * na + a, step, t->a0 + t->yA[a],
                         t->b0 + t->zA[a], &pA));
      EMI_CALL(beta_node(seed, EMI_NOWCAST_PURPOSE_B, eB, step, k * pA + t->yB[s], k * (1 - pA) + t->zB[s], &pB));
      EMI_CALL(beta_node(seed, EMI_NOWCAST_PURPOSE_C, eC, step, k * pB + t->yC[sc], k * (1 - pB) + t->zC[sc], &pC));
      for (size_t g = 0; g < ngrp; g++) {
        const int64_t N = pending[l0 + g];
        if (N <= 0) continue;
        int64_t X;
        EMI_CALL(leaf_draw(seed, eC * ngrp + g, step, N, k * pC + t->yD[l0 + g], k * (1 - pC) + t->zD[l0 + g], &X));
        sum += X;
      }
    }
    x[r] = sum;
  }
  return EMI_SUCCESS;
}

emi_err_t emi_nowcast_group_draws(const emi_nowcast_tree_t *t, uint64_t seed, int kind, size_t nst,
                                  const int32_t *states, const int64_t *pending, uint32_t draw0, size_t ndraws,
                                  int64_t *restrict x)
{
  const double k = t->kappa;
  const size_t ncit = t->ncit, ngrp = t->ngrp, na = emi_nowcast_tree_na(t);
  for (size_t i = 0; i < ncit * ndraws; i++) x[i] = 0;
  for (size_t q = 0; q < nst; q++) {
    const size_t s = (size_t)states[q], a = emi_nowcast_tree_a(t, s);
    int any = 0;
    for (size_t l = s * ncit * ngrp; l < (s + 1) * ncit * ngrp; l++) any |= pending[l] > 0;
    if (!any) continue;
    const uint64_t eB = (uint64_t)kind * t->nstates + s;
    for (size_t r = 0; r < ndraws; r++) {
      const uint32_t step = draw0 + (uint32_t)r;
      double pA, pB, pC;
      EMI_CALL(beta_node(seed, EMI_NOWCAST_PURPOSE_A, (uint64_t)kind * na + a, step, t->a0 + t->yA[a],
                         t->b0 + t->zA[a], &pA));
      EMI_CALL(beta_node(seed, EMI_NOWCAST_PURPOSE_B, eB, step, k * pA + t->yB[s], k * (1 - pA) + t->zB[s], &pB));
      for (size_t c = 0; c < ncit; c++) {
        const size_t sc = s * ncit + c, l0 = sc * ngrp;
        int anyc = 0;
        for (size_t g = 0; g < ngrp; g++) anyc |= pending[l0 + g] > 0;
        if (!anyc) continue;
        const uint64_t eC = eB * ncit + c;
        EMI_CALL(beta_node(seed, EMI_NOWCAST_PURPOSE_C, eC, step, k * pB + t->yC[sc], k * (1 - pB) + t->zC[sc], &pC));
        for (size_t g = 0; g < ngrp; g++) {
          const int64_t N = pending[l0 + g];
          if (N <= 0) continue;
          int64_t X;
          EMI_CALL(leaf_draw(seed, eC * ngrp + g, step, N, k * pC + t->yD[l0 + g], k * (1 - pC) + t->zD[l0 + g], &X));
          x[c * ndraws + r] += X;
        }
      }
    }
  }
  return EMI_SUCCESS;
}

emi_err_t emi_nowcast_leaves_draws(const emi_nowcast_tree_t *t, uint64_t seed, int kind, const emi_nowcast_leaves_t *L,
                                   uint32_t draw0, size_t ndraws, int64_t *restrict x)
{
  const double k = t->kappa;
  const size_t ncit = t->ncit, ngrp = t->ngrp, na = emi_nowcast_tree_na(t);
  for (size_t i = 0; i < ncit * ndraws; i++) x[i] = 0;
  for (size_t q0 = 0, q1; q0 < L->n; q0 = q1) { /* the leaves of state s: L[q0 .. q1) */
    const size_t s = (size_t)(L->leaf[q0] / (ngrp * ncit)), a = emi_nowcast_tree_a(t, s);
    for (q1 = q0 + 1; q1 < L->n && L->leaf[q1] / (ngrp * ncit) == s;) q1++;
    const uint64_t eB = (uint64_t)kind * t->nstates + s;
    for (size_t r = 0; r < ndraws; r++) {
      const uint32_t step = draw0 + (uint32_t)r;
      double pA, pB, pC = 0;
      EMI_CALL(beta_node(seed, EMI_NOWCAST_PURPOSE_A, (uint64_t)kind * na + a, step, t->a0 + t->yA[a],
                         t->b0 + t->zA[a], &pA));
      EMI_CALL(beta_node(seed, EMI_NOWCAST_PURPOSE_B, eB, step, k * pA + t->yB[s], k * (1 - pA) + t->zB[s], &pB));
      size_t sc_prev = SIZE_MAX;
      for (size_t q = q0; q < q1; q++) {
        const int64_t N = L->pending[q];
        if (N <= 0) continue;
        const size_t sc = (size_t)(L->leaf[q] / ngrp), c = sc % ncit;
        const uint64_t eC = eB * ncit + c;
        if (sc != sc_prev)
          EMI_CALL(beta_node(seed, EMI_NOWCAST_PURPOSE_C, eC, step, k * pB + t->yC[sc], k * (1 - pB) + t->zC[sc], &pC));
        sc_prev = sc;
        int64_t X;
        EMI_CALL(leaf_draw(seed, L->leaf[q] - sc * ngrp + eC * ngrp, step, N, k * pC + L->y[q], k * (1 - pC) + L->z[q],
                           &X));
        x[c * ndraws + r] += X;
      }
    }
  }
  return EMI_SUCCESS;
}

static int cmp_i64(const void *a, const void *b)
{
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

static double quantile7(const int64_t *x, size_t n, double q)
{
  double h = (double)(n - 1) * q;
  size_t j = (size_t)h;
  if (j >= n - 1) return (double)x[n - 1];
  return (double)x[j] + (h - (double)j) * (double)(x[j + 1] - x[j]);
}

void emi_nowcast_interval(int64_t *x, size_t n, double level, double *lower, double *upper, double *mass)
{
  qsort(x, n, sizeof *x, cmp_i64);
  *lower = quantile7(x, n, (1 - level) / 2);
  *upper = quantile7(x, n, (1 + level) / 2);
  if (mass) {
    size_t in = 0;
    for (size_t i = 0; i < n; i++) in += (double)x[i] >= *lower && (double)x[i] <= *upper;
    *mass = (double)in / (double)n;
  }
}

void emi_nowcast_summary(int64_t *x, size_t n, double level, double *point, double *lower, double *upper, double *mass)
{
  int64_t sum = 0;
  for (size_t i = 0; i < n; i++) sum += x[i];
  *point = (double)sum / (double)n;
  emi_nowcast_interval(x, n, level, lower, upper, NULL);
  const double f = floor(*point), c = ceil(*point); /* min/max, not "when outside": monotone in the draws */
  if (f < *lower) *lower = f;
  if (c > *upper) *upper = c;
  size_t in = 0;
  for (size_t i = 0; i < n; i++) in += (double)x[i] >= *lower && (double)x[i] <= *upper;
  *mass = (double)in / (double)n;
}

static int cmp_u64(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

size_t emi_nowcast_bound_draws(const int64_t *restrict xd, int64_t *restrict xu, size_t n, int64_t room,
                               uint64_t *restrict rank, int64_t *restrict sorted)
{
  for (size_t r = 0; r < n; r++) rank[r] = ((uint64_t)xd[r] << 32) | (uint64_t)r; /* by value, then by draw */
  qsort(rank, n, sizeof *rank, cmp_u64);
  for (size_t r = 0; r < n; r++) sorted[r] = xu[r];
  qsort(sorted, n, sizeof *sorted, cmp_i64);
  size_t clamped = 0;
  for (size_t q = 0; q < n; q++) {
    const size_t r = (size_t)(rank[q] & 0xffffffffu);
    int64_t v = sorted[q];
    if (v > room + xd[r]) v = room + xd[r], clamped++;
    xu[r] = v;
  }
  return clamped;
}
