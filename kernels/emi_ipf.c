/* emi_ipf.c: IPF / RAS on N-D tables (see emi_ipf.h for the contract).
 *
 * Layout of the workspace (doubles): for each margin j, in order, three arrays of size(j):
 *   t_j  the targets (a copy, rescaled under a rescale policy),
 *   s_j  the current sums of the table over each margin cell,
 *   f_j  the factors t_j / s_j of the current step.
 *
 * Summation order, the one thing both kernels must agree on: s_j[m] is accumulated from 0.0 by
 * adding the table cells of margin cell m one at a time in increasing row-major (flat) order.
 * The fast kernel keeps that order by letting threads split a dimension d that the margin
 * contains: the cells of margin cell m all share their coordinate along d, so one thread owns all
 * of them, and it visits them in increasing flat order.  The result therefore does not depend on
 * the thread count or on which dimension is split.
 */
#include "emi_ipf.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* Tables smaller than this run the passes on one thread (thread start-up would dominate). */
#define IPF_PAR_MIN_CELLS 32768

typedef struct {
  int n;
  size_t dims[EMI_IPF_MAX_DIM];
  size_t ts[EMI_IPF_MAX_DIM]; /* row-major strides of the table */
  size_t ncell;
} ipf_tab_t;

typedef struct {
  int nd;
  int dims[EMI_IPF_MAX_DIM];   /* table dimensions, in the margin's layout order */
  size_t size;                 /* number of margin cells */
  size_t ms[EMI_IPF_MAX_DIM];  /* per *table* dimension: stride in the margin (0 if not in it) */
  unsigned has[EMI_IPF_MAX_DIM];
  const double *t_in;          /* caller's targets */
  double *t, *s, *f;           /* workspace */
} ipf_mar_t;

typedef struct {
  ipf_tab_t tab;
  int K;
  ipf_mar_t m[EMI_IPF_MAX_MARGINS];
  double total;
  double tol;
  int max_iter;
} ipf_prob_t;

/* ------------------------------------------------------------------ formatting for messages */

static void fmt_dims(char *buf, size_t len, const ipf_mar_t *m)
{
  size_t o = (size_t)snprintf(buf, len, "{");
  for (int j = 0; j < m->nd && o < len; j++)
    o += (size_t)snprintf(buf + o, len - o, j ? ", %d" : "%d", m->dims[j]);
  if (o < len) snprintf(buf + o, len - o, "}");
}

/* Multi-index of flat index `flat` in a row-major box of nd sizes. */
static void fmt_index(char *buf, size_t len, int nd, const size_t *sizes, size_t flat)
{
  size_t idx[EMI_IPF_MAX_DIM];
  for (int j = nd - 1; j >= 0; j--) {
    idx[j] = flat % sizes[j];
    flat /= sizes[j];
  }
  size_t o = (size_t)snprintf(buf, len, "(");
  for (int j = 0; j < nd && o < len; j++)
    o += (size_t)snprintf(buf + o, len - o, j ? ", %zu" : "%zu", idx[j]);
  if (o < len) snprintf(buf + o, len - o, ")");
}

static void mar_sizes(const ipf_tab_t *T, const ipf_mar_t *m, size_t *sizes)
{
  for (int j = 0; j < m->nd; j++) sizes[j] = T->dims[m->dims[j]];
}

static void fmt_mcell(char *buf, size_t len, const ipf_tab_t *T, const ipf_mar_t *m, size_t flat)
{
  size_t sizes[EMI_IPF_MAX_DIM];
  mar_sizes(T, m, sizes);
  fmt_index(buf, len, m->nd, sizes, flat);
}

/* ------------------------------------------------------------------ set-up and validation */

void emi_ipf_opts_default(emi_ipf_opts_t *opts)
{
  opts->tol_abs = 0.0;
  opts->tol_rel = 1e-10;
  opts->max_iter = 1000;
  opts->rescale = EMI_IPF_RESCALE_ERROR;
  opts->total_tol_rel = 1e-11;
}

/* Structure only (sizes, dims); no values looked at. */
static emi_err_t ipf_structure(int ndim, const size_t *dims, int nmargins,
                               const emi_ipf_margin_t *margins, ipf_prob_t *P, size_t *need, int quiet)
{
/* quiet: report the code without touching the thread's error state (emi_ipf_work_len) */
#define IPF_BAD(...) (quiet ? EMI_ERR_ARG : EMI_ERROR(EMI_ERR_ARG, __VA_ARGS__))
  if (ndim < 1 || ndim > EMI_IPF_MAX_DIM)
    return IPF_BAD("IPF table has %d dimensions, expected 1 to %d", ndim, EMI_IPF_MAX_DIM);
  if (!dims) return IPF_BAD("IPF table sizes are NULL");
  if (nmargins < 1 || nmargins > EMI_IPF_MAX_MARGINS)
    return IPF_BAD("IPF got %d margins, expected 1 to %d", nmargins, EMI_IPF_MAX_MARGINS);
  if (!margins) return IPF_BAD("IPF margins are NULL");
  ipf_tab_t *T = &P->tab;
  T->n = ndim;
  T->ncell = 1;
  for (int d = 0; d < ndim; d++) {
    if (dims[d] == 0) return IPF_BAD("IPF table dimension %d has size 0", d);
    if (T->ncell > ((size_t)-1) / 4 / dims[d])
      return IPF_BAD("IPF table of %d dimensions is too large (size overflow at dimension %d)", ndim, d);
    T->dims[d] = dims[d];
    T->ncell *= dims[d];
  }
  size_t st = 1;
  for (int d = ndim - 1; d >= 0; d--) {
    T->ts[d] = st;
    st *= T->dims[d];
  }
  P->K = nmargins;
  *need = 0;
  for (int k = 0; k < nmargins; k++) {
    const emi_ipf_margin_t *g = &margins[k];
    ipf_mar_t *m = &P->m[k];
    memset(m, 0, sizeof *m);
    if (g->ndim < 1 || g->ndim > ndim)
      return IPF_BAD("IPF margin %d covers %d dimensions, expected 1 to %d (the table's)", k,
                       g->ndim, ndim);
    if (!g->dims || !g->target)
      return IPF_BAD("IPF margin %d has NULL %s", k, g->dims ? "target" : "dims");
    m->nd = g->ndim;
    for (int j = 0; j < g->ndim; j++) {
      int d = g->dims[j];
      if (d < 0 || d >= ndim)
        return IPF_BAD("IPF margin %d names dimension %d, expected 0 to %d", k, d, ndim - 1);
      if (m->has[d])
        return IPF_BAD("IPF margin %d names dimension %d twice", k, d);
      m->has[d] = 1;
      m->dims[j] = d;
    }
    m->size = 1;
    for (int j = g->ndim - 1; j >= 0; j--) {
      m->ms[m->dims[j]] = m->size;
      m->size *= T->dims[m->dims[j]];
    }
    m->t_in = g->target;
    *need += 3 * m->size;
  }
  return EMI_SUCCESS;
#undef IPF_BAD
}

size_t emi_ipf_work_len(int ndim, const size_t *dims, int nmargins, const emi_ipf_margin_t *margins)
{
  ipf_prob_t P; /* about 11 KB of stack */
  size_t need = 0;
  if (ipf_structure(ndim, dims, nmargins, margins, &P, &need, 1) != EMI_SUCCESS) return 0;
  return need;
}

/* Support scan: f_k[m] = largest seed value under margin cell m among the cells that no zero target
 * of any margin forces to zero (a max, so exact in any order).  Row by row along the last dimension,
 * with the margin offsets of the row kept by an odometer over the other dimensions. */
static void ipf_support(ipf_prob_t *P, const double *x)
{
  const ipf_tab_t *T = &P->tab;
  const int last = T->n - 1, K = P->K;
  size_t idx[EMI_IPF_MAX_DIM] = {0}, off[EMI_IPF_MAX_MARGINS] = {0}, st[EMI_IPF_MAX_MARGINS];
  const double *t[EMI_IPF_MAX_MARGINS];
  double *f[EMI_IPF_MAX_MARGINS];
  for (int k = 0; k < K; k++) {
    st[k] = P->m[k].ms[last];
    t[k] = P->m[k].t;
    f[k] = P->m[k].f;
    memset(f[k], 0, P->m[k].size * sizeof(double));
  }
  const size_t L = T->dims[last], nrows = T->ncell / L;
  for (size_t r = 0; r < nrows; r++) {
    const double *row = x + r * L;
    for (size_t i = 0; i < L; i++) {
      const double v = row[i];
      if (!(v > 0)) continue;
      int live = 1;
      for (int k = 0; k < K && live; k++) live = t[k][off[k] + i * st[k]] > 0;
      if (!live) continue;
      for (int k = 0; k < K; k++) {
        double *fk = &f[k][off[k] + i * st[k]];
        if (v > *fk) *fk = v;
      }
    }
    for (int d = last - 1; d >= 0; d--) {
      idx[d]++;
      for (int k = 0; k < K; k++) off[k] += P->m[k].ms[d];
      if (idx[d] < T->dims[d]) break;
      for (int k = 0; k < K; k++) off[k] -= T->dims[d] * P->m[k].ms[d];
      idx[d] = 0;
    }
  }
}

/* Is any seed cell under margin cell mc of margin k positive?  (Error path only.) */
static int ipf_any_seed(const ipf_prob_t *P, const double *x, int k, size_t mc)
{
  const ipf_tab_t *T = &P->tab;
  size_t idx[EMI_IPF_MAX_DIM] = {0};
  for (size_t c = 0; c < T->ncell; c++) {
    size_t mi = 0;
    for (int d = 0; d < T->n; d++) mi += idx[d] * P->m[k].ms[d];
    if (mi == mc && x[c] > 0) return 1;
    for (int d = T->n - 1; d >= 0 && ++idx[d] == T->dims[d]; d--) idx[d] = 0;
  }
  return 0;
}

static emi_err_t ipf_setup(int ndim, const size_t *dims, const double *x, int nmargins,
                           const emi_ipf_margin_t *margins, const emi_ipf_opts_t *opts_in,
                           double *work, size_t lwork, ipf_prob_t *P, emi_ipf_result_t *res)
{
  emi_ipf_opts_t opts;
  if (opts_in) opts = *opts_in;
  else emi_ipf_opts_default(&opts);
  char db[96], db2[96], cb[128];
  size_t need = 0;
  EMI_CALL(ipf_structure(ndim, dims, nmargins, margins, P, &need, 0));
  const ipf_tab_t *T = &P->tab;
  if (!x) return EMI_ERROR(EMI_ERR_ARG, "IPF table (seed) is NULL");
  if (!work || lwork < need)
    return EMI_ERROR(EMI_ERR_ARG, "IPF workspace holds %zu doubles, expected at least %zu (emi_ipf_work_len)",
                     work ? lwork : 0, need);
  if (!(opts.tol_abs >= 0) || !(opts.tol_rel >= 0) || !(opts.total_tol_rel >= 0) || opts.max_iter < 1 ||
      !(opts.tol_abs > 0 || opts.tol_rel > 0))
    return EMI_ERROR(EMI_ERR_ARG,
                     "IPF options: tol_abs = %g, tol_rel = %g, total_tol_rel = %g, max_iter = %d; expected "
                     "non-negative tolerances (tol_abs or tol_rel > 0) and max_iter >= 1",
                     opts.tol_abs, opts.tol_rel, opts.total_tol_rel, opts.max_iter);
  if (opts.rescale != EMI_IPF_RESCALE_ERROR && opts.rescale != EMI_IPF_RESCALE_TO_FIRST &&
      opts.rescale != EMI_IPF_RESCALE_TO_MEAN)
    return EMI_ERROR(EMI_ERR_ARG, "IPF rescale policy %d is not one of ERROR, TO_FIRST, TO_MEAN", (int)opts.rescale);
  P->max_iter = opts.max_iter;

  double *w = work;
  for (int k = 0; k < P->K; k++) {
    ipf_mar_t *m = &P->m[k];
    m->t = w;
    m->s = w + m->size;
    m->f = w + 2 * m->size;
    w += 3 * m->size;
  }

  /* Values: margins, then the seed. */
  for (int k = 0; k < P->K; k++) {
    const ipf_mar_t *m = &P->m[k];
    for (size_t i = 0; i < m->size; i++) {
      double v = m->t_in[i];
      if (!isfinite(v) || v < 0) {
        fmt_dims(db, sizeof db, m);
        fmt_mcell(cb, sizeof cb, T, m, i);
        return EMI_ERROR(EMI_ERR_DOMAIN, "IPF margin %d (dims %s) cell %s is %g; margins must be finite and >= 0",
                         k, db, cb, v);
      }
    }
  }
  for (size_t c = 0; c < T->ncell; c++) {
    if (!isfinite(x[c]) || x[c] < 0) {
      fmt_index(cb, sizeof cb, T->n, T->dims, c);
      return EMI_ERROR(EMI_ERR_DOMAIN, "IPF seed cell %s is %g; the seed must be finite and >= 0", cb, x[c]);
    }
  }

  /* Grand totals and the rescale policy. */
  double tot[EMI_IPF_MAX_MARGINS], mean = 0, spread = 0;
  int worst = 0;
  for (int k = 0; k < P->K; k++) {
    double s = 0;
    for (size_t i = 0; i < P->m[k].size; i++) s += P->m[k].t_in[i];
    tot[k] = s;
    mean += s / P->K;
    double big = fmax(s, tot[0]);
    double rel = big > 0 ? fabs(s - tot[0]) / big : 0;
    if (rel > spread) {
      spread = rel;
      worst = k;
    }
  }
  if (res) res->total_spread = spread;
  if (spread > opts.total_tol_rel) {
    fmt_dims(db, sizeof db, &P->m[worst]);
    fmt_dims(db2, sizeof db2, &P->m[0]);
    if (opts.rescale == EMI_IPF_RESCALE_ERROR)
      return EMI_ERROR(EMI_ERR_INCONSISTENT,
                       "IPF margin %d (dims %s) sums to %.10g but margin 0 (dims %s) sums to %.10g: they differ "
                       "by %.6g (%.3g%%, tolerance %.3g%%); make the margins agree or choose a rescale policy",
                       worst, db, tot[worst], db2, tot[0], tot[worst] - tot[0], 100 * spread,
                       100 * opts.total_tol_rel);
  }
  double total = opts.rescale == EMI_IPF_RESCALE_TO_MEAN ? mean : tot[0];
  for (int k = 0; k < P->K; k++) {
    ipf_mar_t *m = &P->m[k];
    double fac = 1.0;
    if (opts.rescale != EMI_IPF_RESCALE_ERROR && tot[k] != total) {
      if (tot[k] == 0) {
        fmt_dims(db, sizeof db, m);
        return EMI_ERROR(EMI_ERR_INCONSISTENT,
                         "IPF margin %d (dims %s) is all zero and cannot be rescaled to the total %.10g", k, db, total);
      }
      fac = total / tot[k];
    }
    for (size_t i = 0; i < m->size; i++) m->t[i] = m->t_in[i] * fac; /* exact when fac == 1 */
  }
  P->total = total;

  /* Margins that share dimensions must agree on the sums over the shared ones.
   * The projections go into s_i and s_j (each at least as large as the projection). */
  for (int i = 0; i < P->K; i++) {
    for (int j = i + 1; j < P->K; j++) {
      ipf_mar_t *a = &P->m[i], *b = &P->m[j];
      int cd[EMI_IPF_MAX_DIM], nc = 0;
      for (int d = 0; d < T->n; d++)
        if (a->has[d] && b->has[d]) cd[nc++] = d;
      if (nc == 0) continue; /* grand totals were compared above */
      size_t cst[EMI_IPF_MAX_DIM] = {0}, csz[EMI_IPF_MAX_DIM], np = 1;
      for (int q = nc - 1; q >= 0; q--) {
        cst[cd[q]] = np;
        csz[q] = T->dims[cd[q]];
        np *= T->dims[cd[q]];
      }
      const ipf_mar_t *ab[2] = {a, b};
      double *pr[2] = {a->s, b->s};
      for (int h = 0; h < 2; h++) {
        const ipf_mar_t *m = ab[h];
        memset(pr[h], 0, np * sizeof(double));
        size_t mi[EMI_IPF_MAX_DIM] = {0}, po = 0;
        for (size_t c = 0; c < m->size; c++) {
          pr[h][po] += m->t[c];
          for (int q = m->nd - 1; q >= 0; q--) {
            int d = m->dims[q];
            mi[q]++;
            po += cst[d];
            if (mi[q] < T->dims[d]) break;
            po -= T->dims[d] * cst[d];
            mi[q] = 0;
          }
        }
      }
      double lim = opts.total_tol_rel * total;
      for (size_t c = 0; c < np; c++) {
        if (fabs(pr[0][c] - pr[1][c]) > lim) {
          char sd[96];
          ipf_mar_t sh = {0};
          sh.nd = nc;
          memcpy(sh.dims, cd, (size_t)nc * sizeof(int));
          fmt_dims(sd, sizeof sd, &sh);
          fmt_dims(db, sizeof db, a);
          fmt_dims(db2, sizeof db2, b);
          fmt_index(cb, sizeof cb, nc, csz, c);
          return EMI_ERROR(EMI_ERR_INCONSISTENT,
                           "IPF margins %d (dims %s) and %d (dims %s) disagree over their shared dimensions %s: "
                           "at %s they sum to %.10g and %.10g (difference %.6g, tolerance %.3g)",
                           i, db, j, db2, sd, cb, pr[0][c], pr[1][c], pr[1][c] - pr[0][c], lim);
        }
      }
    }
  }

  /* Support: a positive target needs a positive seed cell under it that no zero target of another
   * margin forces to zero. */
  ipf_support(P, x);
  for (int k = 0; k < P->K; k++) {
    const ipf_mar_t *m = &P->m[k];
    for (size_t i = 0; i < m->size; i++) {
      if (m->t[i] > 0 && m->f[i] == 0) {
        fmt_dims(db, sizeof db, m);
        fmt_mcell(cb, sizeof cb, T, m, i);
        if (!ipf_any_seed(P, x, k, i))
          return EMI_ERROR(EMI_ERR_INFEASIBLE,
                           "IPF margin %d (dims %s) cell %s has target %.10g but every seed cell under it is zero",
                           k, db, cb, m->t[i]);
        return EMI_ERROR(EMI_ERR_INFEASIBLE,
                         "IPF margin %d (dims %s) cell %s has target %.10g but every positive seed cell under it "
                         "lies under a zero target of another margin",
                         k, db, cb, m->t[i]);
      }
    }
  }

  P->tol = fmax(opts.tol_abs, opts.tol_rel * total);
  if (res) {
    res->iterations = 0;
    res->converged = 0;
    res->max_dev = NAN;
    res->worst_margin = -1;
    res->worst_cell = 0;
    res->tol = P->tol;
    res->total = total;
  }
  return EMI_SUCCESS;
}

/* ------------------------------------------------------------------ shared arithmetic */

static void ipf_factors(ipf_mar_t *m)
{
  for (size_t i = 0; i < m->size; i++) m->f[i] = m->s[i] > 0 ? m->t[i] / m->s[i] : 0.0;
}

/* Largest |s - t| over all margins (margin order, then cell order, first maximum wins). */
static double ipf_deviation(const ipf_prob_t *P, int *wm, size_t *wc)
{
  double best = 0;
  *wm = 0;
  *wc = 0;
  for (int k = 0; k < P->K; k++) {
    const ipf_mar_t *m = &P->m[k];
    for (size_t i = 0; i < m->size; i++) {
      double d = fabs(m->s[i] - m->t[i]);
      if (d > best) {
        best = d;
        *wm = k;
        *wc = i;
      }
    }
  }
  return best;
}

static emi_err_t ipf_finish(const ipf_prob_t *P, int it, double dev, int wm, size_t wc, emi_ipf_result_t *res)
{
  int conv = dev <= P->tol;
  if (res) {
    res->iterations = it;
    res->converged = conv;
    res->max_dev = dev;
    res->worst_margin = wm;
    res->worst_cell = wc;
  }
  if (conv) return EMI_SUCCESS;
  char db[96], cb[128];
  fmt_dims(db, sizeof db, &P->m[wm]);
  fmt_mcell(cb, sizeof cb, &P->tab, &P->m[wm], wc);
  return EMI_ERROR(EMI_ERR_NOCONV,
                   "IPF did not converge in %d iterations: largest deviation %.6g (tolerance %.3g) at margin %d "
                   "(dims %s) cell %s, fitted %.10g against target %.10g",
                   it, dev, P->tol, wm, db, cb, P->m[wm].s[wc], P->m[wm].t[wc]);
}

/* ------------------------------------------------------------------ reference twin */

static void ref_sums(const ipf_tab_t *T, const double *x, ipf_mar_t *m)
{
  size_t idx[EMI_IPF_MAX_DIM] = {0};
  for (size_t i = 0; i < m->size; i++) m->s[i] = 0.0;
  for (size_t c = 0; c < T->ncell; c++) {
    size_t mi = 0;
    for (int d = 0; d < T->n; d++) mi += idx[d] * m->ms[d];
    m->s[mi] += x[c];
    for (int d = T->n - 1; d >= 0 && ++idx[d] == T->dims[d]; d--) idx[d] = 0;
  }
}

static void ref_scale(const ipf_tab_t *T, double *x, const ipf_mar_t *m)
{
  size_t idx[EMI_IPF_MAX_DIM] = {0};
  for (size_t c = 0; c < T->ncell; c++) {
    size_t mi = 0;
    for (int d = 0; d < T->n; d++) mi += idx[d] * m->ms[d];
    x[c] *= m->f[mi];
    for (int d = T->n - 1; d >= 0 && ++idx[d] == T->dims[d]; d--) idx[d] = 0;
  }
}

emi_err_t emi_ipf_fit_ref(int ndim, const size_t *dims, double *x, int nmargins,
                          const emi_ipf_margin_t *margins, const emi_ipf_opts_t *opts, double *work,
                          size_t lwork, emi_ipf_result_t *res)
{
  ipf_prob_t P;
  EMI_CALL(ipf_setup(ndim, dims, x, nmargins, margins, opts, work, lwork, &P, res));
  double dev = 0;
  int wm = 0, it = 0;
  size_t wc = 0;
  for (it = 1; it <= P.max_iter; it++) {
    for (int k = 0; k < P.K; k++) {
      ref_sums(&P.tab, x, &P.m[k]);
      ipf_factors(&P.m[k]);
      ref_scale(&P.tab, x, &P.m[k]);
    }
    for (int k = 0; k < P.K; k++) ref_sums(&P.tab, x, &P.m[k]);
    dev = ipf_deviation(&P, &wm, &wc);
    if (dev <= P.tol) break;
  }
  if (it > P.max_iter) it = P.max_iter;
  EMI_CALL(ipf_finish(&P, it, dev, wm, wc, res));
  return EMI_SUCCESS;
}

/* ------------------------------------------------------------------ optimised kernel */

/* One pass over the table: optionally scale every cell by the factors of margin `scale`, then add
 * the (scaled) cell to the sums of every margin in acc[] (all of which contain dimension d).
 * Threads split dimension d into contiguous ranges. */
typedef struct {
  const ipf_tab_t *T;
  double *x;
  int d;
  const ipf_mar_t *scale;
  int nacc;
  ipf_mar_t *acc[EMI_IPF_MAX_MARGINS];
} ipf_pass_t;

static void row_scale(double *restrict row, const double *restrict f, size_t st, size_t len)
{
  if (st == 0) {
    const double v = f[0];
    for (size_t k = 0; k < len; k++) row[k] *= v;
  } else if (st == 1) {
    for (size_t k = 0; k < len; k++) row[k] *= f[k];
  } else {
    for (size_t k = 0; k < len; k++) row[k] *= f[k * st];
  }
}

static void row_acc(double *restrict s, const double *restrict row, size_t st, size_t len)
{
  if (st == 0) {
    double a = s[0]; /* one margin cell: add the cells one by one, in order */
    for (size_t k = 0; k < len; k++) a += row[k];
    s[0] = a;
  } else if (st == 1) {
    for (size_t k = 0; k < len; k++) s[k] += row[k];
  } else {
    for (size_t k = 0; k < len; k++) s[k * st] += row[k];
  }
}

static void pass_range(const ipf_pass_t *p, size_t a0, size_t a1)
{
  const ipf_tab_t *T = p->T;
  const int last = T->n - 1, na = p->nacc;
  if (a0 >= a1) return;
  size_t lo[EMI_IPF_MAX_DIM], hi[EMI_IPF_MAX_DIM], idx[EMI_IPF_MAX_DIM];
  size_t sms[EMI_IPF_MAX_DIM] = {0};
  size_t ams[EMI_IPF_MAX_MARGINS][EMI_IPF_MAX_DIM];
  size_t aoff[EMI_IPF_MAX_MARGINS], ast[EMI_IPF_MAX_MARGINS];
  double *as[EMI_IPF_MAX_MARGINS];
  for (int i = 0; i < T->n; i++) {
    lo[i] = 0;
    hi[i] = T->dims[i];
    if (p->scale) sms[i] = p->scale->ms[i];
    for (int j = 0; j < na; j++) ams[j][i] = p->acc[j]->ms[i];
  }
  lo[p->d] = a0;
  hi[p->d] = a1;
  size_t xoff = 0, soff = 0;
  for (int j = 0; j < na; j++) {
    aoff[j] = 0;
    as[j] = p->acc[j]->s;
    ast[j] = ams[j][last];
  }
  for (int i = 0; i < last; i++) {
    idx[i] = lo[i];
    xoff += lo[i] * T->ts[i];
    soff += lo[i] * sms[i];
    for (int j = 0; j < na; j++) aoff[j] += lo[i] * ams[j][i];
  }
  const size_t ilo = lo[last], len = hi[last] - lo[last], sst = sms[last];
  const double *f = p->scale ? p->scale->f : NULL;
  double *x = p->x;
  for (;;) {
    double *row = x + xoff + ilo;
    if (f) row_scale(row, f + soff + ilo * sst, sst, len);
    for (int j = 0; j < na; j++) row_acc(as[j] + aoff[j] + ilo * ast[j], row, ast[j], len);
    int i = last - 1;
    for (; i >= 0; i--) {
      idx[i]++;
      xoff += T->ts[i];
      soff += sms[i];
      for (int j = 0; j < na; j++) aoff[j] += ams[j][i];
      if (idx[i] < hi[i]) break;
      size_t span = hi[i] - lo[i];
      idx[i] = lo[i];
      xoff -= span * T->ts[i];
      soff -= span * sms[i];
      for (int j = 0; j < na; j++) aoff[j] -= span * ams[j][i];
    }
    if (i < 0) break;
  }
}

static void pass_run(const ipf_pass_t *p)
{
  for (int j = 0; j < p->nacc; j++) memset(p->acc[j]->s, 0, p->acc[j]->size * sizeof(double));
  const size_t D = p->T->dims[p->d];
#pragma omp parallel if (p->T->ncell >= IPF_PAR_MIN_CELLS)
  {
    size_t tid = 0, nth = 1;
#ifdef _OPENMP
    tid = (size_t)omp_get_thread_num();
    nth = (size_t)omp_get_num_threads();
#endif
    pass_range(p, D * tid / nth, D * (tid + 1) / nth);
  }
}

static int max_threads(void)
{
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

/* Dimension of margin m to split: the outermost one with at least nth indices (long contiguous
 * runs per thread), else the largest.  Any choice gives the same bits. */
static int split_dim(const ipf_tab_t *T, const ipf_mar_t *m, int nth)
{
  int best = -1;
  for (int d = 0; d < T->n; d++) {
    if (!m->has[d]) continue;
    if (T->dims[d] >= (size_t)nth) return d;
    if (best < 0 || T->dims[d] > T->dims[best]) best = d;
  }
  return best;
}

typedef struct {
  int d;
  int n;
  int k[EMI_IPF_MAX_MARGINS];
} ipf_group_t;

emi_err_t emi_ipf_fit(int ndim, const size_t *dims, double *x, int nmargins,
                      const emi_ipf_margin_t *margins, const emi_ipf_opts_t *opts, double *work,
                      size_t lwork, emi_ipf_result_t *res)
{
  ipf_prob_t P;
  EMI_CALL(ipf_setup(ndim, dims, x, nmargins, margins, opts, work, lwork, &P, res));
  const ipf_tab_t *T = &P.tab;
  const int K = P.K, nth = T->ncell >= IPF_PAR_MIN_CELLS ? max_threads() : 1;
  int sd[EMI_IPF_MAX_MARGINS];
  for (int k = 0; k < K; k++) sd[k] = split_dim(T, &P.m[k], nth);

  /* End-of-sweep check plan: groups of margins sharing a split dimension.  The first group holds
   * margin 0 (its sums start the next sweep) and is fused with the last scaling. */
  ipf_group_t grp[EMI_IPF_MAX_MARGINS];
  int ngrp = 0, left[EMI_IPF_MAX_MARGINS];
  for (int k = 0; k < K; k++) left[k] = 1;
  while (1) {
    int bd = -1, bc = 0;
    for (int d = 0; d < T->n; d++) {
      if (ngrp == 0 && !P.m[0].has[d]) continue;
      int c = 0;
      for (int k = 0; k < K; k++) c += left[k] && P.m[k].has[d];
      if (c > bc || (c == bc && c > 0 && T->dims[d] >= (size_t)nth && T->dims[bd] < (size_t)nth)) {
        bd = d;
        bc = c;
      }
    }
    if (bd < 0) break;
    ipf_group_t *g = &grp[ngrp++];
    g->d = bd;
    g->n = 0;
    for (int k = 0; k < K; k++)
      if (left[k] && P.m[k].has[bd]) {
        g->k[g->n++] = k;
        left[k] = 0;
      }
  }

  ipf_pass_t ps;
  ps.T = T;
  ps.x = x;
  /* Sums of margin 0 on the seed. */
  ps.d = sd[0];
  ps.scale = NULL;
  ps.nacc = 1;
  ps.acc[0] = &P.m[0];
  pass_run(&ps);

  double dev = 0;
  int wm = 0, it = 0;
  size_t wc = 0;
  for (it = 1; it <= P.max_iter; it++) {
    for (int k = 0; k < K; k++) {
      ipf_factors(&P.m[k]);
      ps.scale = &P.m[k];
      if (k + 1 < K) {
        ps.d = sd[k + 1];
        ps.nacc = 1;
        ps.acc[0] = &P.m[k + 1];
        pass_run(&ps);
      } else {
        for (int g = 0; g < ngrp; g++) {
          ps.d = grp[g].d;
          ps.nacc = grp[g].n;
          for (int j = 0; j < grp[g].n; j++) ps.acc[j] = &P.m[grp[g].k[j]];
          pass_run(&ps);
          ps.scale = NULL;
        }
      }
    }
    dev = ipf_deviation(&P, &wm, &wc);
    if (dev <= P.tol) break;
  }
  if (it > P.max_iter) it = P.max_iter;
  EMI_CALL(ipf_finish(&P, it, dev, wm, wc, res));
  return EMI_SUCCESS;
}
