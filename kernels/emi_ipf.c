/* emi_ipf.c: IPF / RAS on N-D tables (see emi_ipf.h for the contract).
 *
 * Layout of the workspace (doubles): for each margin j, in order, three arrays of size(j):
 *   t_j  the targets (a copy, rescaled under a rescale policy),
 *   s_j  the current sums of the table over each margin cell,
 *   f_j  the factors t_j / s_j of the current step;
 * then, for each margin j that does not contain dimension 0 (a "global" margin), (nb - 1) * size(j)
 * doubles: the partial sums of blocks 1 .. nb-1 (block 0's partial is s_j itself); then, when margin
 * 0 is local and some margin g is global (the first such, P->fg), nb * size(g) doubles for the
 * check's sums of g and their block partials (P->xs; the fused sweeps below).
 *
 * Summation order (emi_ipf.h gives it in full): blocks of dimension 0 fixed by the sizes, rows in
 * row-major order inside a block, 4-lane row sums for margins that lack the last dimension.  Both
 * kernels compute every sum with the same helpers (ipf_lanes_add, ipf_lanes_sum) in that order, so
 * they agree bit for bit, and the fast kernel's threads own whole blocks, so the thread count never
 * changes a bit.
 *
 * The fast kernel (emi_ipf_fit) in brief.  A margin that contains dimension 0 is "local": the cells of
 * one of its margin cells all lie in one slab (fixed index along dimension 0), so a slab can be summed
 * and scaled for it on its own.  A sweep is cut into intervals, one starting at margin 0 and one at
 * every later global margin; an interval ends where the next global margin's sums (or, for the last
 * interval, the convergence check's sums of every margin) are complete, which needs the whole table.
 * In an interval, each thread walks its blocks tile by tile (a tile: consecutive slabs, about
 * IPF_TILE_BYTES); on a tile it runs one sub-pass per margin of the interval: the cells' current
 * values (the stored table times the factors of the margins already fitted in this sweep, applied in
 * order, so exactly the reference's in-place products) are summed for the next margin, whose
 * factors for the tile's cells then follow at once.  The tile stays in cache between sub-passes.
 * Tables above IPF_EAGER_BYTES: only the last interval writes the table back; earlier ones only read
 * it ("lazy": each sub-pass applies the factors of the sweep so far, in margin order, to the stored
 * values).  So a sweep reads the table once per interval and writes it once: 2-D margins {0,1},{0,2},
 * {1,2} of a 3-D table, 2 reads and 1 write; 1-D margins {0},{1},{2}, 3 reads and 1 write (the
 * reference: 2 passes per margin and K more for the check, read and write each).  Smaller tables,
 * which stay in cache, are written back after every sub-pass ("eager": one multiplication per cell
 * and margin instead of the chain).
 *
 * Fused sweeps.  For tables above IPF_EAGER_BYTES whose margin 0 is local while some margin is
 * global (2-D margins {0,1},{0,2},{1,2}:
 * intervals {0,1},{0,2} and {1,2}; 1-D margins {0},{1},{2}: {0}, {1} and {2}), the last interval of
 * sweep it, its check, and the first interval of sweep it + 1 run in one pass, tile by tile
 * (fused_block): the check's sums of margin 0 on a tile are sweep it + 1's, so its factors follow
 * on the tile, and the first interval's sub-passes run on the tile while it is in cache.  That
 * interval only reads (lazy), so the table after the pass is sweep it's result, whatever the check
 * then decides; the check's sums of the first global margin g go to a set of their own (P->xs),
 * since the next sweep's sums of g fill s_g and its partials in the same pass, and the local
 * margins' deviations are taken on each tile before the next sweep's sums overwrite theirs.  The
 * first interval of sweep 1 runs in the pass that sums margin 0 on the seed; the sweep at max_iter
 * runs its check alone.  So a sweep reads and writes the table once, plus one read per middle
 * interval: 2-D margins 1 read + 1 write, 1-D margins 2 reads + 1 write (the fewest, bench_ipf.c).
 * The first sub-pass on a tile meets the table in memory; it prefetches ahead (IPF_PREFETCH_BYTES)
 * so that the reads keep streaming while the tile's other sub-passes run in cache.  Same sums in
 * the same order, hence the same bits, as the reference.
 *
 * Row loops.  A sub-pass over a run of rows (consecutive rows along dimension last-1) goes through
 * fused_rows: one loop per row that applies the chain of factors, stores, and adds the result to
 * every target, 4 cells at a time (GCC/Clang vector extensions), specialised by switch for up to 3
 * factors (each a per-row scalar or a vector along the row) and 3 vector targets; anything else
 * (longer chains, margins laid out against the table's dimension order) takes the generic path,
 * which applies one operation at a time to chunks of rows in stack buffers.  Both paths add in the
 * same order.
 */
#include "emi_ipf.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* The folded sweep (fold_block) is written with AVX-512 intrinsics in a function of its own target,
 * chosen at run time; other compilers and machines keep the tiled path. */
#if defined(__x86_64__) && defined(__GNUC__) && defined(__ELF__)
#define IPF_FOLD 1
#include <immintrin.h>
#endif

/* Tables smaller than this run on one thread: a sweep over them takes tens of microseconds, about
 * what the 4 to 6 thread barriers of a sweep cost (more with OMP_WAIT_POLICY=passive). */
#ifndef IPF_PAR_MIN_CELLS
#define IPF_PAR_MIN_CELLS 131072
#endif
/* Lanes of a row sum (emi_ipf.h): 4 independent addition chains (one AVX2 register). */
#define IPF_LANES 4
/* Most blocks along dimension 0 (a power of two). */
#ifndef IPF_MAX_BLOCKS
#define IPF_MAX_BLOCKS 16
#endif
/* A block holds at least this many table cells per cell of the global margins: the partial sums
 * cost at most 1/32 of the table's memory and of a pass's traffic. */
#ifndef IPF_BLOCK_CELLS_PER_PARTIAL
#define IPF_BLOCK_CELLS_PER_PARTIAL 32
#endif
/* Tables up to this size are written back after every sub-pass instead of carrying the factors of the
 * sweep along (fewer multiplications; the extra writes stay in cache).  Larger tables are only read
 * until the check, so that a sweep writes them once.  The bits are the same either way. */
#ifndef IPF_EAGER_BYTES
#define IPF_EAGER_BYTES (8u << 20)
#endif
/* How far ahead the first sub-pass of a fused pass prefetches the table (fused_body). */
#ifndef IPF_PREFETCH_BYTES
#define IPF_PREFETCH_BYTES 8192
#endif
/* Target size of a tile (consecutive slabs kept in cache across an interval's sub-passes). */
#ifndef IPF_TILE_BYTES
#define IPF_TILE_BYTES (256 * 1024)
#endif

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
  double *part;                /* global margins: partial sums of blocks 1..nb-1, (nb - 1) * size */
} ipf_mar_t;

typedef struct {
  ipf_tab_t tab;
  int K;
  ipf_mar_t m[EMI_IPF_MAX_MARGINS];
  double total;
  double tol;
  int max_iter;
  int nb;                           /* blocks along dimension 0 (1 for a 1-D table) */
  size_t nslab;                     /* slabs: dims[0], or 1 for a 1-D table */
  size_t bs[IPF_MAX_BLOCKS + 1];    /* block b holds slabs [bs[b], bs[b+1]) */
  int fg;                           /* margin 0 local and some margin global: the first global margin,
                                       whose check sums get a set of their own (fused sweeps); else -1 */
  double *xs;                       /* that set: size(fg) sums, then the partials of blocks 1..nb-1 */
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
  /* Blocks along dimension 0: a power of two, at most IPF_MAX_BLOCKS and dims[0], and small enough
   * that the partial sums of the global margins stay below 1/IPF_BLOCK_CELLS_PER_PARTIAL of the
   * table.  A function of the sizes and margins only: it fixes the summation order. */
  size_t gsize = 0;
  for (int k = 0; k < nmargins; k++)
    if (!P->m[k].has[0]) gsize += P->m[k].size;
  P->nslab = ndim == 1 ? 1 : T->dims[0];
  size_t cap = P->nslab < IPF_MAX_BLOCKS ? P->nslab : IPF_MAX_BLOCKS;
  if (gsize > 0 && T->ncell / IPF_BLOCK_CELLS_PER_PARTIAL / gsize < cap)
    cap = T->ncell / IPF_BLOCK_CELLS_PER_PARTIAL / gsize;
  P->nb = 1;
  while ((size_t)P->nb * 2 <= cap) P->nb *= 2;
  for (int b = 0; b <= P->nb; b++) P->bs[b] = P->nslab * (size_t)b / (size_t)P->nb;
  *need += (size_t)(P->nb - 1) * gsize;
  /* The fast kernel fuses a sweep's check with the next sweep's first interval (emi_ipf_fit) when
   * margin 0 is local and a global margin follows: the first global margin's check sums then need
   * their own block sums, beside the next sweep's. */
  P->fg = -1;
  if (ndim > 1 && P->m[0].has[0])
    for (int k = 1; k < nmargins && P->fg < 0; k++)
      if (!P->m[k].has[0]) P->fg = k;
  if (P->fg >= 0) *need += (size_t)P->nb * P->m[P->fg].size;
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
 * with the margin offsets of the row kept by an odometer over the other dimensions.  Each row is
 * first reduced to its live values (the value, or 0 where the cell is not positive or lies under a
 * zero target; the zero-target test only for margins that have a zero target), in chunks of
 * IPF_SUPPORT_CHUNK cells, then each margin takes the elementwise or the row maximum: straight
 * loops the compiler vectorises (the odometer loop with a test per cell and margin cost about as
 * much as six sweeps at 200 x 200 x 50). */
#define IPF_SUPPORT_CHUNK 512
static void ipf_support(ipf_prob_t *P, const double *x)
{
  const ipf_tab_t *T = &P->tab;
  const int last = T->n - 1, K = P->K;
  size_t idx[EMI_IPF_MAX_DIM] = {0}, off[EMI_IPF_MAX_MARGINS] = {0}, st[EMI_IPF_MAX_MARGINS];
  const double *t[EMI_IPF_MAX_MARGINS];
  double *f[EMI_IPF_MAX_MARGINS];
  int zt[EMI_IPF_MAX_MARGINS]; /* margin k has a zero target */
  double live[IPF_SUPPORT_CHUNK];
  for (int k = 0; k < K; k++) {
    st[k] = P->m[k].ms[last];
    t[k] = P->m[k].t;
    f[k] = P->m[k].f;
    memset(f[k], 0, P->m[k].size * sizeof(double));
    zt[k] = 0;
    for (size_t i = 0; i < P->m[k].size; i++) zt[k] |= !(t[k][i] > 0);
  }
  const size_t L = T->dims[last], nrows = T->ncell / L;
  for (size_t r = 0; r < nrows; r++) {
    for (size_t c0 = 0; c0 < L; c0 += IPF_SUPPORT_CHUNK) {
      const size_t n = L - c0 < IPF_SUPPORT_CHUNK ? L - c0 : IPF_SUPPORT_CHUNK;
      const double *restrict row = x + r * L + c0;
      for (size_t i = 0; i < n; i++) live[i] = row[i] > 0 ? row[i] : 0.0;
      for (int k = 0; k < K; k++) {
        if (!zt[k]) continue;
        const double *restrict tk = t[k] + off[k] + c0 * st[k];
        if (st[k] == 0) {
          if (!(tk[0] > 0)) memset(live, 0, n * sizeof(double));
        } else if (st[k] == 1) {
          for (size_t i = 0; i < n; i++) live[i] = tk[i] > 0 ? live[i] : 0.0;
        } else {
          for (size_t i = 0; i < n; i++) live[i] = tk[i * st[k]] > 0 ? live[i] : 0.0;
        }
      }
      for (int k = 0; k < K; k++) {
        double *restrict fk = f[k] + off[k] + c0 * st[k];
        if (st[k] == 0) {
          double mx = fk[0];
          for (size_t i = 0; i < n; i++) mx = live[i] > mx ? live[i] : mx;
          fk[0] = mx;
        } else if (st[k] == 1) {
          for (size_t i = 0; i < n; i++) fk[i] = live[i] > fk[i] ? live[i] : fk[i];
        } else {
          for (size_t i = 0; i < n; i++) fk[i * st[k]] = live[i] > fk[i * st[k]] ? live[i] : fk[i * st[k]];
        }
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

/* Two numbers that differ, printed with 10 significant digits, or more (up to 17) until the two texts
 * differ: "sums to 4361657.438 but ... 4361657.438" would read as a contradiction. */
static void fmt_two(char *a, char *b, size_t len, double x, double y)
{
  for (int d = 10; d <= 17; d++) {
    snprintf(a, len, "%.*g", d, x);
    snprintf(b, len, "%.*g", d, y);
    if (strcmp(a, b)) return;
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
  if (res) res->worst_margin = -1, res->worst_cell = 0;
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
  for (int k = 0; k < P->K; k++) {
    ipf_mar_t *m = &P->m[k];
    m->part = NULL;
    if (m->has[0]) continue;
    m->part = w;
    w += (size_t)(P->nb - 1) * m->size;
  }
  P->xs = P->fg >= 0 ? w : NULL;

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
  for (size_t c0 = 0; c0 < T->ncell; c0 += 4096) { /* a branch-free test per chunk, then the first bad cell */
    const size_t c1 = T->ncell - c0 < 4096 ? T->ncell : c0 + 4096;
    int bad = 0;
    for (size_t c = c0; c < c1; c++) bad |= !((x[c] >= 0) & (x[c] <= DBL_MAX));
    if (!bad) continue;
    for (size_t c = c0; c < c1; c++) {
      if (isfinite(x[c]) && x[c] >= 0) continue;
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
    char ta[32], t0[32];
    fmt_two(ta, t0, sizeof ta, tot[worst], tot[0]);
    if (opts.rescale == EMI_IPF_RESCALE_ERROR)
      return EMI_ERROR(EMI_ERR_INCONSISTENT,
                       "IPF margin %d (dims %s) sums to %s but margin 0 (dims %s) sums to %s: they differ "
                       "by %.6g (%.3g%%, tolerance %.3g%%); make the margins agree or choose a rescale policy",
                       worst, db, ta, db2, t0, fabs(tot[worst] - tot[0]), 100 * spread, 100 * opts.total_tol_rel);
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
          char s0[32], s1[32];
          fmt_two(s0, s1, sizeof s0, pr[0][c], pr[1][c]);
          return EMI_ERROR(EMI_ERR_INCONSISTENT,
                           "IPF margins %d (dims %s) and %d (dims %s) disagree over their shared dimensions %s: "
                           "at %s they sum to %s and %s (difference %.6g, tolerance %.3g)",
                           i, db, j, db2, sd, cb, s0, s1, fabs(pr[1][c] - pr[0][c]), lim);
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
        if (res) res->worst_margin = k, res->worst_cell = i; /* the cell named, for callers with labels */
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
    res->table_volumes = 0; /* set by emi_ipf_fit's plan; 0 from the _ref twin */
  }
  return EMI_SUCCESS;
}

/* ------------------------------------------------------------------ shared arithmetic */

/* Add a row's n cells to the lanes: lane w takes the cells at w, w + 4, w + 8, ... */
static inline void ipf_lanes_add(double *restrict l, const double *restrict y, size_t n)
{
  size_t k = 0;
  for (; k + IPF_LANES <= n; k += IPF_LANES)
    for (int w = 0; w < IPF_LANES; w++) l[w] += y[k + w];
  for (int w = 0; k < n; k++, w++) l[w] += y[k];
}

/* The row sum of the lanes: (l0 + l2) + (l1 + l3). */
static inline double ipf_lanes_sum(const double *l) { return (l[0] + l[2]) + (l[1] + l[3]); }

static inline double ipf_factor(double t, double s) { return s > 0 ? t / s : 0.0; }

/* Largest deviation and where: first maximum in (margin, cell) order wins. */
typedef struct {
  double dev;
  int k;
  size_t c;
  double fit; /* the sum at (k, c), for the message */
} ipf_dev_t;

static void dev_merge(ipf_dev_t *into, const ipf_dev_t *d)
{
  if (d->dev > into->dev || (d->dev == into->dev && (d->k < into->k || (d->k == into->k && d->c < into->c))))
    *into = *d;
}

static emi_err_t ipf_finish(const ipf_prob_t *P, int it, double dev, int wm, size_t wc, double fit,
                            emi_ipf_result_t *res)
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
                   it, dev, P->tol, wm, db, cb, fit, P->m[wm].t[wc]);
}

/* ------------------------------------------------------------------ reference twin */

/* Sums of margin m over the table in the documented order: block by block (block 0 straight into s,
 * later blocks into f, then added to s), row by row in row-major order; a row gives its cells one
 * by one when the margin contains the last dimension, else its 8-lane row sum. */
static void ref_sums(const ipf_prob_t *P, const double *x, ipf_mar_t *m)
{
  const ipf_tab_t *T = &P->tab;
  const int last = T->n - 1;
  const size_t L = T->dims[last], st = m->ms[last], rows_per_slab = T->ncell / L / P->nslab;
  for (size_t i = 0; i < m->size; i++) m->s[i] = 0.0;
  for (int b = 0; b < P->nb; b++) {
    double *acc = b == 0 ? m->s : m->f;
    if (b > 0)
      for (size_t i = 0; i < m->size; i++) acc[i] = 0.0;
    for (size_t r = P->bs[b] * rows_per_slab; r < P->bs[b + 1] * rows_per_slab; r++) {
      size_t rest = r, off = 0;
      for (int d = last - 1; d >= 0; d--) {
        off += (rest % T->dims[d]) * m->ms[d];
        rest /= T->dims[d];
      }
      const double *row = x + r * L;
      if (st == 0) {
        double l[IPF_LANES] = {0};
        ipf_lanes_add(l, row, L);
        acc[off] += ipf_lanes_sum(l);
      } else {
        for (size_t k = 0; k < L; k++) acc[off + k * st] += row[k];
      }
    }
    if (b > 0)
      for (size_t i = 0; i < m->size; i++) m->s[i] += acc[i];
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

static void ref_factors(ipf_mar_t *m)
{
  for (size_t i = 0; i < m->size; i++) m->f[i] = ipf_factor(m->t[i], m->s[i]);
}

/* Largest |s - t| over all margins (margin order, then cell order, first maximum wins). */
static ipf_dev_t ref_deviation(const ipf_prob_t *P)
{
  ipf_dev_t best = {0.0, 0, 0, 0.0};
  for (int k = 0; k < P->K; k++) {
    const ipf_mar_t *m = &P->m[k];
    for (size_t i = 0; i < m->size; i++) {
      ipf_dev_t d = {fabs(m->s[i] - m->t[i]), k, i, m->s[i]};
      dev_merge(&best, &d);
    }
  }
  return best;
}

emi_err_t emi_ipf_fit_ref(int ndim, const size_t *dims, double *x, int nmargins,
                          const emi_ipf_margin_t *margins, const emi_ipf_opts_t *opts, double *work,
                          size_t lwork, emi_ipf_result_t *res)
{
  ipf_prob_t P;
  EMI_CALL(ipf_setup(ndim, dims, x, nmargins, margins, opts, work, lwork, &P, res));
  ipf_dev_t dev = {0.0, 0, 0, 0.0};
  int it = 0;
  /* a seed that already fits is returned unchanged: the first iteration finds it so */
  for (int k = 0; k < P.K; k++) ref_sums(&P, x, &P.m[k]);
  dev = ref_deviation(&P);
  if (dev.dev <= P.tol) {
    EMI_CALL(ipf_finish(&P, 1, dev.dev, dev.k, dev.c, dev.fit, res));
    return EMI_SUCCESS;
  }
  for (it = 1; it <= P.max_iter; it++) {
    for (int k = 0; k < P.K; k++) {
      ref_sums(&P, x, &P.m[k]);
      ref_factors(&P.m[k]);
      ref_scale(&P.tab, x, &P.m[k]);
    }
    for (int k = 0; k < P.K; k++) ref_sums(&P, x, &P.m[k]);
    dev = ref_deviation(&P);
    if (dev.dev <= P.tol) break;
  }
  if (it > P.max_iter) it = P.max_iter;
  EMI_CALL(ipf_finish(&P, it, dev.dev, dev.k, dev.c, dev.fit, res));
  return EMI_SUCCESS;
}

/* ------------------------------------------------------------------ optimised kernel */

typedef struct {
  ipf_prob_t *P;
  double *x;
  size_t L;          /* row length (last dimension) */
  size_t M;          /* rows per slab */
  size_t tile;       /* slabs per tile */
  int eager;         /* write the table back after every sub-pass (tables that stay in cache) */
  int nint;          /* intervals per sweep */
  int fused;         /* the check runs in one pass with the next sweep's first interval (emi_ipf_fit) */
  int fold;          /* ... and that pass is fold_block's (2-D margins of a 3-D table, AVX-512) */
  int first[EMI_IPF_MAX_MARGINS + 1]; /* interval q fits margins first[q] .. first[q+1]-1 */
} ipf_plan_t;

/* One sub-pass over rows [r0, r1): the value of every cell is the stored table times the factors of
 * margins 0..c (c = -1: the stored table), applied in order; it is written back when `store`, and
 * added to the nt targets: target j is margin tk[j], accumulated into tb[j] (its s, or a block's
 * partial), in the documented order. */
typedef struct {
  int c;
  int c0;           /* the stored table already holds the factors of margins 0..c0-1 */
  int store;
  int prefetch;     /* the sub-pass reads the table from memory: prefetch IPF_PREFETCH_BYTES ahead */
  int nt;
  int tk[EMI_IPF_MAX_MARGINS];
  double *tb[EMI_IPF_MAX_MARGINS];
} ipf_sub_t;

/* On x86-64 with GCC, the row loops are also compiled for AVX2 and picked at load time (ifunc); the
 * products and sums are elementwise, so every version gives the same bits. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__ELF__)
#define IPF_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define IPF_CLONES
#endif

/* Rows go through two stack buffers in chunks of this many cells (a multiple of IPF_LANES): whole
 * rows of one run when they fit, else pieces of one row. */
#ifndef IPF_CHUNK
#define IPF_CHUNK 1024
#endif

/* dst = src * the chunk's values of factor array f: a margin with in-row stride st and row stride rs,
 * from offset off; R rows of length L, or one row piece of n cells when R == 1.  dst and src never
 * overlap. */
static inline void chain_mul_inplace(double *restrict y, const double *restrict f, size_t off, size_t st,
                                     size_t rs, size_t R, size_t L, size_t n)
{
  if (R == 1 || (st == 1 && rs == L) || (st == 0 && rs == 0)) {
    const double *restrict p = f + off;
    if (st == 1)
      for (size_t k = 0; k < n; k++) y[k] *= p[k];
    else if (st == 0) {
      const double v = p[0];
      for (size_t k = 0; k < n; k++) y[k] *= v;
    } else
      for (size_t k = 0; k < n; k++) y[k] *= p[k * st];
    return;
  }
  for (size_t j = 0; j < R; j++) {
    const double *restrict p = f + off + j * rs;
    double *restrict d = y + j * L;
    if (st == 0) {
      const double v = p[0];
      for (size_t k = 0; k < L; k++) d[k] *= v;
    } else if (st == 1) {
      for (size_t k = 0; k < L; k++) d[k] *= p[k];
    } else {
      for (size_t k = 0; k < L; k++) d[k] *= p[k * st];
    }
  }
}

static inline void chain_mul(double *restrict dst, const double *restrict src, const double *restrict f, size_t off,
                             size_t st, size_t rs, size_t R, size_t L, size_t n)
{
  if (R == 1 || (st == 1 && rs == L) || (st == 0 && rs == 0)) { /* one run of factors, or one factor */
    const double *restrict p = f + off;
    if (st == 1)
      for (size_t k = 0; k < n; k++) dst[k] = src[k] * p[k];
    else if (st == 0) {
      const double v = p[0];
      for (size_t k = 0; k < n; k++) dst[k] = src[k] * v;
    } else
      for (size_t k = 0; k < n; k++) dst[k] = src[k] * p[k * st];
    return;
  }
  for (size_t j = 0; j < R; j++) {
    const double *restrict p = f + off + j * rs;
    double *restrict d = dst + j * L;
    const double *restrict sj = src + j * L;
    if (st == 0) {
      const double v = p[0];
      for (size_t k = 0; k < L; k++) d[k] = sj[k] * v;
    } else if (st == 1) {
      for (size_t k = 0; k < L; k++) d[k] = sj[k] * p[k];
    } else {
      for (size_t k = 0; k < L; k++) d[k] = sj[k] * p[k * st];
    }
  }
}

/* a += the chunk y, for the sums a of a margin with in-row stride st (!= 0) and row stride rs, from
 * offset off (R rows of length L, or one row piece of n cells when R == 1). */
static inline void target_add(double *restrict a, const double *restrict y, size_t off, size_t st, size_t rs, size_t R,
                       size_t L, size_t n)
{
  if (R == 1 || (st == 1 && rs == L)) {
    double *restrict p = a + off;
    if (st == 1)
      for (size_t k = 0; k < n; k++) p[k] += y[k];
    else
      for (size_t k = 0; k < n; k++) p[k * st] += y[k];
    return;
  }
  for (size_t j = 0; j < R; j++) {
    double *restrict p = a + off + j * rs;
    const double *restrict yj = y + j * L;
    if (st == 1)
      for (size_t k = 0; k < L; k++) p[k] += yj[k];
    else
      for (size_t k = 0; k < L; k++) p[k * st] += yj[k];
  }
}

/* fused_body: a run of rows, each in one pass, for the common case of at most 3 chain factors and 3
 * vector targets, all with stride 1 or 0 along the row.  Chain factor j of a row is a vector along the
 * row when bit j of KI is set, else a scalar (a margin without the last dimension); each cell becomes
 * v = x * f_0 * f_1 * f_2 in that order, is written back when `store`, added to the vector targets,
 * and the row's 4-lane sum goes to every reduction target.  NC, KI and NV are constants at every call
 * (fused_rows), so each combination compiles to its own straight loop. */
#if defined(__GNUC__)
#define IPF_ALWAYS_INLINE static inline __attribute__((always_inline))
#else
#define IPF_ALWAYS_INLINE static inline
#endif
#if defined(__GNUC__)
/* 4 doubles as one GCC/Clang vector (SSE2: two registers, AVX2: one), loaded and stored unaligned. */
typedef double ipf_v4 __attribute__((vector_size(4 * sizeof(double))));
typedef double ipf_v4u __attribute__((vector_size(4 * sizeof(double)), aligned(sizeof(double)), may_alias));
typedef double ipf_v2 __attribute__((vector_size(2 * sizeof(double))));
typedef double ipf_v2u __attribute__((vector_size(2 * sizeof(double)), aligned(sizeof(double)), may_alias));
#define IPF_LD(p) ((ipf_v4)(*(const ipf_v4u *)(p)))
#define IPF_LD2(p) ((ipf_v2)(*(const ipf_v2u *)(p)))
#define IPF_ST2(p, v) (*(ipf_v2u *)(p) = (ipf_v2u)(v))
#define IPF_ST(p, v) (*(ipf_v4u *)(p) = (ipf_v4u)(v))
#endif

/* Operands of a run of rows for fused_rows: chain factor j starts at c[j] and moves by ci[j] per row
 * (its value is the vector c[j][0..L) when bit j of KI is set, else the scalar *c[j]); vector target
 * j at t[j], moving by ti[j]; the nr reduction targets at r[j] (moving by ri[j]) each get the row's
 * 4-lane sum. */
typedef struct {
  const double *c[3];
  size_t ci[3];
  double *t[3];
  size_t ti[3];
  int nr;
  double *r[EMI_IPF_MAX_MARGINS];
  size_t ri[EMI_IPF_MAX_MARGINS];
  size_t pf_rows;   /* prefetch this many rows ahead (0: none) ... */
  size_t pf_lim;    /* ... while the row lies below this index (the table's rows from x on) */
} ipf_ops_t;

IPF_ALWAYS_INLINE void
fused_body(const int NC, const unsigned KI, const int NV, double *restrict x, const size_t L, const size_t nrows,
           const ipf_ops_t *o, const int store)
{
  const double *restrict c0 = o->c[0], *restrict c1 = o->c[1], *restrict c2 = o->c[2];
  double *restrict t0 = o->t[0], *restrict t1 = o->t[1], *restrict t2 = o->t[2];
  const int nr = o->nr;
  double *r[EMI_IPF_MAX_MARGINS];
  for (int q = 0; q < nr; q++) r[q] = o->r[q];
#define IPF_CHAIN(V, K, A0, A1, A2, LD)                                                             \
  do {                                                                                              \
    if (NC > 0) {                                                                                   \
      if (KI & 1u) V *= LD(c0 + (K));                                                               \
      else V *= A0;                                                                                 \
    }                                                                                               \
    if (NC > 1) {                                                                                   \
      if (KI & 2u) V *= LD(c1 + (K));                                                               \
      else V *= A1;                                                                                 \
    }                                                                                               \
    if (NC > 2) {                                                                                   \
      if (KI & 4u) V *= LD(c2 + (K));                                                               \
      else V *= A2;                                                                                 \
    }                                                                                               \
  } while (0)
#define IPF_SCAL(p) (*(p))
  for (size_t row = 0; row < nrows; row++) {
    if (o->pf_rows && row + o->pf_rows < o->pf_lim)
      for (size_t k = 0; k < L; k += 64 / sizeof(double)) __builtin_prefetch(x + o->pf_rows * L + k, 1);
    const double a0 = NC > 0 ? c0[0] : 0.0, a1 = NC > 1 ? c1[0] : 0.0, a2 = NC > 2 ? c2[0] : 0.0;
    double lt[IPF_LANES] = {0.0, 0.0, 0.0, 0.0};
    size_t k = 0;
#if defined(__GNUC__)
    {
      const ipf_v4 b0 = {a0, a0, a0, a0}, b1 = {a1, a1, a1, a1}, b2 = {a2, a2, a2, a2};
      ipf_v4 l = {0.0, 0.0, 0.0, 0.0};
      for (; k + IPF_LANES <= L; k += IPF_LANES) {
        ipf_v4 v = IPF_LD(x + k);
        IPF_CHAIN(v, k, b0, b1, b2, IPF_LD);
        if (store) IPF_ST(x + k, v);
        l += v;
        if (NV > 0) IPF_ST(t0 + k, IPF_LD(t0 + k) + v);
        if (NV > 1) IPF_ST(t1 + k, IPF_LD(t1 + k) + v);
        if (NV > 2) IPF_ST(t2 + k, IPF_LD(t2 + k) + v);
      }
      for (int w = 0; w < IPF_LANES; w++) lt[w] = l[w];
      if (k + 2 <= L) { /* two more cells: lanes 0 and 1 */
        const ipf_v2 e0 = {a0, a0}, e1 = {a1, a1}, e2 = {a2, a2};
        ipf_v2 v = IPF_LD2(x + k);
        IPF_CHAIN(v, k, e0, e1, e2, IPF_LD2);
        if (store) IPF_ST2(x + k, v);
        lt[0] += v[0];
        lt[1] += v[1];
        if (NV > 0) IPF_ST2(t0 + k, IPF_LD2(t0 + k) + v);
        if (NV > 1) IPF_ST2(t1 + k, IPF_LD2(t1 + k) + v);
        if (NV > 2) IPF_ST2(t2 + k, IPF_LD2(t2 + k) + v);
        k += 2;
      }
    }
#endif
    for (int w = (int)(k % IPF_LANES); k < L; k++, w = (w + 1) % IPF_LANES) {
      double v = x[k];
      IPF_CHAIN(v, k, a0, a1, a2, IPF_SCAL);
      if (store) x[k] = v;
      lt[w] += v;
      if (NV > 0) t0[k] += v;
      if (NV > 1) t1[k] += v;
      if (NV > 2) t2[k] += v;
    }
    if (nr) {
      const double rs = ipf_lanes_sum(lt);
      for (int q = 0; q < nr; q++) {
        *r[q] += rs;
        r[q] += o->ri[q];
      }
    }
    x += L;
    if (NC > 0) c0 += o->ci[0];
    if (NC > 1) c1 += o->ci[1];
    if (NC > 2) c2 += o->ci[2];
    if (NV > 0) t0 += o->ti[0];
    if (NV > 1) t1 += o->ti[1];
    if (NV > 2) t2 += o->ti[2];
  }
#undef IPF_CHAIN
#undef IPF_SCAL
}

/* fused_body for NC chain factors of kinds KI and NV vector targets, dispatched to a constant
 * combination so that each compiles to its own straight loop. */
IPF_ALWAYS_INLINE void fused_rows(int NC, unsigned KI, int NV, double *restrict x, size_t L, size_t nrows,
                                  const ipf_ops_t *o, int store)
{
#define IPF_CASE(C, K, V)                                                                           \
  case (C) * 32 + (K) * 4 + (V):                                                                    \
    fused_body(C, K, V, x, L, nrows, o, store);                                                     \
    return;
#define IPF_CASES(C, K) IPF_CASE(C, K, 0) IPF_CASE(C, K, 1) IPF_CASE(C, K, 2) IPF_CASE(C, K, 3)
  switch (NC * 32 + (int)KI * 4 + NV) {
    IPF_CASES(0, 0)
    IPF_CASES(1, 0) IPF_CASES(1, 1)
    IPF_CASES(2, 0) IPF_CASES(2, 1) IPF_CASES(2, 2) IPF_CASES(2, 3)
    IPF_CASES(3, 0) IPF_CASES(3, 1) IPF_CASES(3, 2) IPF_CASES(3, 3)
    IPF_CASES(3, 4) IPF_CASES(3, 5) IPF_CASES(3, 6) IPF_CASES(3, 7)
  default:
    return; /* not reached: sub_rows checks the counts */
  }
#undef IPF_CASES
#undef IPF_CASE
}

IPF_CLONES static void sub_rows(const ipf_plan_t *pl, const ipf_sub_t *sb, size_t r0, size_t r1)
{
  const ipf_prob_t *P = pl->P;
  const ipf_tab_t *T = &P->tab;
  const int last = T->n - 1, nc = sb->c + 1, nt = sb->nt;
  const size_t L = pl->L;
  /* a run: consecutive rows along dimension last-1 (the one row of a 1-D table) */
  const size_t run_len = last > 0 ? T->dims[last - 1] : 1;
  /* rows per chunk: as many whole rows as fit in IPF_CHUNK cells, else one row in pieces */
  const size_t R = L >= IPF_CHUNK ? 1 : IPF_CHUNK / L;
  size_t cst[EMI_IPF_MAX_MARGINS], crs[EMI_IPF_MAX_MARGINS], tst[EMI_IPF_MAX_MARGINS], trs[EMI_IPF_MAX_MARGINS];
  size_t coff[EMI_IPF_MAX_MARGINS], toff[EMI_IPF_MAX_MARGINS];
  int nred = 0, red[EMI_IPF_MAX_MARGINS], nvec = 0, vec[EMI_IPF_MAX_MARGINS];
  double buf[2][IPF_CHUNK];
  for (int j = 0; j < nc; j++) {
    cst[j] = P->m[j].ms[last];
    crs[j] = last > 0 ? P->m[j].ms[last - 1] : 0;
  }
  for (int j = 0; j < nt; j++) {
    const ipf_mar_t *m = &P->m[sb->tk[j]];
    tst[j] = m->ms[last];
    trs[j] = last > 0 ? m->ms[last - 1] : 0;
    if (tst[j] == 0) red[nred++] = j;
    else vec[nvec++] = j;
  }
  double *x = pl->x;
  /* the fused path: at most 3 factors and 3 vector targets, all of stride 0 or 1 along the row */
  int fused = nc - sb->c0 <= 3 && nvec <= 3;
  unsigned kinds = 0;
  for (int j = sb->c0; j < nc; j++) {
    fused &= cst[j] <= 1;
    kinds |= (cst[j] == 1 ? 1u : 0u) << (j - sb->c0);
  }
  for (int q = 0; q < nvec; q++) fused &= tst[vec[q]] == 1;
  for (size_t r = r0; r < r1;) {
    /* the run holding row r, and every margin's offset at r */
    size_t idx[EMI_IPF_MAX_DIM], rest = r;
    for (int d = last - 1; d >= 0; d--) {
      idx[d] = rest % T->dims[d];
      rest /= T->dims[d];
    }
    for (int j = 0; j < nc; j++) {
      coff[j] = 0;
      for (int d = 0; d < last; d++) coff[j] += idx[d] * P->m[j].ms[d];
    }
    for (int j = 0; j < nt; j++) {
      toff[j] = 0;
      for (int d = 0; d < last; d++) toff[j] += idx[d] * P->m[sb->tk[j]].ms[d];
    }
    size_t rend = last > 0 ? r - idx[last - 1] + run_len : r + 1;
    if (rend > r1) rend = r1;
    if (fused) {
      ipf_ops_t o;
      const int fc = nc - sb->c0;
      for (int j = 0; j < fc; j++) {
        const int m = sb->c0 + j;
        o.c[j] = P->m[m].f + coff[m];
        o.ci[j] = crs[m];
      }
      for (int q = 0; q < nvec; q++) {
        o.t[q] = sb->tb[vec[q]] + toff[vec[q]];
        o.ti[q] = trs[vec[q]];
      }
      o.nr = nred;
      for (int q = 0; q < nred; q++) {
        o.r[q] = sb->tb[red[q]] + toff[red[q]];
        o.ri[q] = trs[red[q]];
      }
      o.pf_rows = !sb->prefetch ? 0 : L * sizeof(double) >= IPF_PREFETCH_BYTES ? 1 : IPF_PREFETCH_BYTES / (L * sizeof(double));
      o.pf_lim = T->ncell / L - r;
      fused_rows(fc, kinds, nvec, x + r * L, L, rend - r, &o, sb->store);
      r = rend;
      continue;
    }
    while (r < rend) {
      const size_t nr = rend - r < R ? rend - r : R; /* rows in this chunk */
      double lanes[IPF_LANES] = {0};                 /* a long row's lanes carry over its pieces */
      for (size_t c0 = 0; c0 < (nr == 1 ? L : 1); c0 += IPF_CHUNK) {
        const size_t n = nr == 1 ? (L - c0 < IPF_CHUNK ? L - c0 : IPF_CHUNK) : nr * L;
        double *xc = x + r * L + c0;
        const double *y = xc;
        for (int j = sb->c0; j < nc; j++) { /* the chain of factors; the last product goes to the table when storing */
          double *dst = sb->store && j == nc - 1 ? xc : buf[j & 1];
          if (dst == y) chain_mul_inplace(dst, P->m[j].f, coff[j] + c0 * cst[j], cst[j], crs[j], nr, L, n);
          else chain_mul(dst, y, P->m[j].f, coff[j] + c0 * cst[j], cst[j], crs[j], nr, L, n);
          y = dst;
        }
        for (int q = 0; q < nvec; q++) {
          const int j = vec[q];
          target_add(sb->tb[j], y, toff[j] + c0 * tst[j], tst[j], trs[j], nr, L, n);
        }
        if (nred) { /* 4-lane row sums */
          if (nr == 1) {
            ipf_lanes_add(lanes, y, n);
            if (c0 + n == L) {
              const double rs = ipf_lanes_sum(lanes);
              for (int q = 0; q < nred; q++) sb->tb[red[q]][toff[red[q]]] += rs;
            }
          } else {
            for (size_t i = 0; i < nr; i++) {
              double l[IPF_LANES] = {0};
              ipf_lanes_add(l, y + i * L, L);
              const double rs = ipf_lanes_sum(l);
              for (int q = 0; q < nred; q++) sb->tb[red[q]][toff[red[q]] + i * trs[red[q]]] += rs;
            }
          }
        }
      }
      for (int j = 0; j < nc; j++) coff[j] += nr * crs[j];
      for (int j = 0; j < nt; j++) toff[j] += nr * trs[j];
      r += nr;
    }
  }
}

enum { CELLS_ZERO, CELLS_FACTOR, CELLS_DEV };

/* For local margin k: zero the sums, compute the factors, or merge the deviations |s - t| into *dv
 * (CELLS_DEV), of its cells whose dimension-0 index lies in [a0, a1). */
static void local_cells(const ipf_prob_t *P, int k, size_t a0, size_t a1, int op, ipf_dev_t *dv)
{
  const ipf_tab_t *T = &P->tab;
  ipf_mar_t *m = (ipf_mar_t *)&P->m[k];
  const int nd = m->nd;
  size_t lo[EMI_IPF_MAX_DIM], hi[EMI_IPF_MAX_DIM], idx[EMI_IPF_MAX_DIM], str[EMI_IPF_MAX_DIM];
  if (T->n == 1) a0 = 0, a1 = T->dims[0]; /* a 1-D table is one slab */
  for (int j = 0; j < nd; j++) {
    const int d = m->dims[j];
    lo[j] = d == 0 ? a0 : 0;
    hi[j] = d == 0 ? a1 : T->dims[d];
    idx[j] = lo[j];
    str[j] = m->ms[d];
  }
  if (m->dims[0] == 0) { /* dimension 0 first in the layout: a contiguous range */
    const size_t c0 = a0 * str[0], c1 = a1 * str[0];
    if (op == CELLS_ZERO) memset(m->s + c0, 0, (c1 - c0) * sizeof(double));
    else if (op == CELLS_FACTOR)
      for (size_t c = c0; c < c1; c++) m->f[c] = ipf_factor(m->t[c], m->s[c]);
    else
      for (size_t c = c0; c < c1; c++) {
        const ipf_dev_t d = {fabs(m->s[c] - m->t[c]), k, c, m->s[c]};
        dev_merge(dv, &d);
      }
    return;
  }
  size_t off = 0;
  for (int j = 0; j < nd; j++) off += idx[j] * str[j];
  for (;;) {
    if (op == CELLS_ZERO) m->s[off] = 0.0;
    else if (op == CELLS_FACTOR) m->f[off] = ipf_factor(m->t[off], m->s[off]);
    else {
      const ipf_dev_t d = {fabs(m->s[off] - m->t[off]), k, off, m->s[off]};
      dev_merge(dv, &d);
    }
    int j = nd - 1;
    for (; j >= 0; j--) {
      idx[j]++;
      off += str[j];
      if (idx[j] < hi[j]) break;
      off -= (hi[j] - lo[j]) * str[j];
      idx[j] = lo[j];
    }
    if (j < 0) break;
  }
}

/* Where margin k's sums go in block b: s itself for block 0 and for local margins, else the
 * block's partial. */
static double *sum_base(const ipf_prob_t *P, int k, int b)
{
  const ipf_mar_t *m = &P->m[k];
  return (m->has[0] || b == 0) ? m->s : m->part + (size_t)(b - 1) * m->size;
}

/* Sub-pass c of interval q (q = -1: the sums of margin 0 on the seed) on the slabs [s0, s1) of
 * block b: fills *sb, and zeroes the sums it adds to (a global margin's block sums on the block's
 * first slab).  With pl->fused, the check's sums of margin P->fg go to P->xs, so that the next
 * sweep's first interval can sum that margin into its own s and partials in the same pass. */
static void sub_make(const ipf_plan_t *pl, int q, int c, int b, size_t s0, size_t s1, ipf_sub_t *sb)
{
  ipf_prob_t *P = pl->P;
  const int K = P->K, check = q == pl->nint - 1, e = q < 0 ? 0 : pl->first[q + 1];
  const int first_slab = s0 == P->bs[b];
  sb->c = c;
  sb->nt = 0;
  /* lazy: every sub-pass applies the sweep's factors so far to the stored table, and only the
   * check writes; eager: each sub-pass applies its margin's factors and writes */
  sb->c0 = pl->eager && c >= 0 ? c : 0;
  sb->store = pl->eager && c >= 0;
  sb->prefetch = 0;
  if (q < 0 || (c + 1 >= e && check)) {
    /* every margin's sums: the seed check (q < 0, on the stored table, which it leaves unchanged) or
     * the check of the sweep (on the stored result, which it writes) */
    if (q >= 0) sb->store = 1;
    for (int k = 0; k < K; k++) {
      double *tb = pl->fused && k == P->fg ? P->xs + (size_t)b * P->m[k].size : sum_base(P, k, b);
      sb->tk[sb->nt] = k;
      sb->tb[sb->nt] = tb;
      sb->nt++;
      if (P->m[k].has[0]) local_cells(P, k, s0, s1, CELLS_ZERO, NULL);
      else if (first_slab) memset(tb, 0, P->m[k].size * sizeof(double));
    }
  } else if (c + 1 < e) { /* sums of the next (local) margin */
    const int k = c + 1;
    sb->tk[0] = k;
    sb->tb[0] = sum_base(P, k, b);
    sb->nt = 1;
    if (P->m[k].has[0]) local_cells(P, k, s0, s1, CELLS_ZERO, NULL);
    else if (first_slab) memset(sb->tb[0], 0, P->m[k].size * sizeof(double));
  } else { /* the interval ends with the sums of the next global margin */
    sb->tk[0] = e;
    sb->tb[0] = sum_base(P, e, b);
    sb->nt = 1;
    if (first_slab) memset(sb->tb[0], 0, P->m[e].size * sizeof(double));
  }
}

/* Interval q (q = -1: the sums of margin 0 on the seed) on the tile of slabs [s0, s1) of block b:
 * its sub-passes one after the other, each followed by the factors of the local margin it summed. */
static void interval_tile(const ipf_plan_t *pl, int q, int b, size_t s0, size_t s1)
{
  const int a = q < 0 ? -1 : pl->first[q], e = q < 0 ? 0 : pl->first[q + 1];
  for (int c = a; c < e; c++) {
    ipf_sub_t sb;
    sub_make(pl, q, c, b, s0, s1, &sb);
    /* the first sub-pass of a fused pass on a tile reads it from memory (the read-only passes of
     * middle intervals measured slower with the prefetch) */
    sb.prefetch = pl->fused && c == a && (q < 0 || q == pl->nint - 1);
    sub_rows(pl, &sb, s0 * pl->M, s1 * pl->M);
    if (c + 1 < e && q >= 0) local_cells(pl->P, c + 1, s0, s1, CELLS_FACTOR, NULL);
    if (q < 0) break;
  }
}

/* Interval q over the slabs of block b, tile by tile. */
static void interval_block(const ipf_plan_t *pl, int q, int b)
{
  const ipf_prob_t *P = pl->P;
  for (size_t s0 = P->bs[b]; s0 < P->bs[b + 1]; s0 += pl->tile) {
    const size_t s1 = s0 + pl->tile < P->bs[b + 1] ? s0 + pl->tile : P->bs[b + 1];
    interval_tile(pl, q, b, s0, s1);
  }
}

/* The fused passes (pl->fused) over block b, tile by tile:
 *   FUSE_START: the seed check (every margin's sums on the seed, the local margins' deviations merged
 *               into *dv; margin 0's are the first sweep's), margin 0's factors, then the first
 *               interval of sweep 1, which only reads: the table is still the seed;
 *   FUSE_NEXT:  the last interval of a sweep with its check (the table is written here, and only
 *               here), the deviations of the local margins merged into *dv, then, from the check's
 *               sums of margin 0 (they are the next sweep's), the first interval of the next sweep,
 *               which only reads, from cache: the table holds this sweep's result, converged or not;
 *   FUSE_LAST:  the last interval and the check alone (the sweep at max_iter).
 * The first sub-pass on a tile meets it in memory; it prefetches IPF_PREFETCH_BYTES ahead, so that
 * the loads keep streaming while the later sub-passes work on the tile in cache. */
enum { FUSE_START, FUSE_NEXT, FUSE_LAST };

static void fused_block(const ipf_plan_t *pl, int b, int mode, ipf_dev_t *dv)
{
  const ipf_prob_t *P = pl->P;
  for (size_t s0 = P->bs[b]; s0 < P->bs[b + 1]; s0 += pl->tile) {
    const size_t s1 = s0 + pl->tile < P->bs[b + 1] ? s0 + pl->tile : P->bs[b + 1];
    interval_tile(pl, mode == FUSE_START ? -1 : pl->nint - 1, b, s0, s1);
    for (int k = 0; k < P->K; k++)
      if (P->m[k].has[0]) local_cells(P, k, s0, s1, CELLS_DEV, dv);
    if (mode == FUSE_LAST) continue;
    local_cells(P, 0, s0, s1, CELLS_FACTOR, NULL);
    interval_tile(pl, 0, b, s0, s1);
  }
}

/* ------------------------------------------------------------------ folded sweeps (AVX-512)
 *
 * For the 2-D margins {0,1}, {0,2}, {1,2} of a 3-D table (in that order and layout, rows of at most
 * IPF_FOLD_MAX_L cells), the fused pass of FUSE_NEXT runs as one pipelined walk over a block's
 * slabs instead of three sub-passes per tile:
 *   - a row of margin {0,1} is one margin cell, so the check's sum of a row is complete at the row's
 *     end, and with it the next sweep's factor f0' = ipf_factor(t, s) of that cell;  the row, still in
 *     L1, is then added times f0' to the next sweep's sums of {0,2} (the tiled path's sub-pass B:
 *     x * f0', rows in order);  this is done one row late (row r - 1 while row r is checked) so that
 *     the row sum's chain of additions and the division do not stall the loop;
 *   - the sums of {0,2} of a slab, check and next, are row-invariant vectors along the row: they stay
 *     in registers for the whole slab (8 doubles per register, at most 8 + 1 registers each);
 *   - the next sweep's sums of the global margin {1,2} (sub-pass C: x * f0' * f1') need the slab's
 *     factors f1', known when the slab is done: they run on slab s - 1, from L2, in the same loop as
 *     the check of slab s, which streams from memory.  So the memory stream never waits for work in
 *     cache, which the tiled path's sub-passes B and C did.
 * Every product and every sum is the tiled path's, in the same order (rows in order within each
 * target; the 4-lane row sum adds the low then the high half of each 8-vector, which is the 4-lane
 * order; the tail of a row is added with masks, lane k % 4 for cell k), so the bits are the same.  The
 * check's sums of {0,2} go to s1 and are compared with the targets before the next sweep's replace
 * them;  the check's sums of {1,2} go to P->xs as in the tiled path. */
#ifndef IPF_FOLD_MAX_L
#define IPF_FOLD_MAX_L 64
#endif
#ifndef IPF_FOLD_PREFETCH_BYTES
#define IPF_FOLD_PREFETCH_BYTES 8192
#endif

/* Does the folded sweep apply?  Margins {0,1}, {0,2}, {1,2} laid out in table order (so the strides
 * below), a fused plan, rows of 1 .. IPF_FOLD_MAX_L cells, and AVX-512 F + VL on this CPU. */
static int fold_ok(const ipf_prob_t *P)
{
#ifdef IPF_FOLD
  const ipf_tab_t *T = &P->tab;
  if (T->n != 3 || P->K != 3 || P->fg != 2) return 0;
  const size_t d1 = T->dims[1], L = T->dims[2];
  const ipf_mar_t *m = P->m;
  if (L > IPF_FOLD_MAX_L) return 0;
  if (m[0].ms[0] != d1 || m[0].ms[1] != 1 || m[0].ms[2] != 0) return 0;
  if (m[1].ms[0] != L || m[1].ms[1] != 0 || m[1].ms[2] != 1) return 0;
  if (m[2].ms[0] != 0 || m[2].ms[1] != L || m[2].ms[2] != 1) return 0;
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
#else
  (void)P;
  return 0;
#endif
}

#ifdef IPF_FOLD
#define IPF_FOLD_TARGET __attribute__((target("avx512f,avx512vl")))

/* The operands of one step of the folded loop (fold_row): a row of the slab being checked, the row
 * before it for the next sweep's sums of {0,2}, the same row of the previous slab for the next
 * sweep's sums of {1,2}.  (The factors f1 of both slabs are also in registers, fold_row's g1a, g1c:
 * the pointers serve the tail.) */
typedef struct {
  double *xa;         /* check: the row, its factors f0 (scalar), f1, f2, its {1,2} check sums */
  const double *pfa;  /* the row IPF_FOLD_PREFETCH_BYTES ahead, prefetched (NULL: none) */
  double fa;
  const double *f1a, *f2a;
  double *xsa;
  const double *xb;   /* next sums of {0,2}: the row (as the check stored it) and its factor f0' */
  double fb;
  const double *xc;   /* next sums of {1,2}: the row, f0', the slab's f1', the sums */
  double fc;
  const double *f1c;
  double *s2c;
} ipf_fold_ops_t;

/* One step of the folded loop: the check of row xa when A (returns its 4-lane sum), the row xb into
 * the next sums t1n of {0,2} when B, the row xc into the next sums of {1,2} when C.  nf full
 * 8-vectors per row and a tail of mask mt (0: none).  In registers across the slab's rows (8 + 1 at
 * most each, which is why rows are limited to IPF_FOLD_MAX_L cells): t1, t1t the slab's check sums
 * of {0,2} (the tail's in t1t), t1n, t1nt its next sums, and g1a, g1c the full vectors of f1 of the
 * checked slab and of the previous slab (loads of row-invariant operands cost as much as the
 * others: the L1 ports bound this loop). */
IPF_ALWAYS_INLINE IPF_FOLD_TARGET double
fold_row(const int A, const int B, const int C, const int nf, const __mmask8 mt, const ipf_fold_ops_t *o,
         __m512d *t1, __m512d *t1t, __m512d *t1n, __m512d *t1nt, const __m512d *g1a, const __m512d *g1c)
{
  const __m512d fa = _mm512_set1_pd(o->fa), fb = _mm512_set1_pd(o->fb), fc = _mm512_set1_pd(o->fc);
  __m256d l = _mm256_setzero_pd();
#pragma GCC unroll 8
  for (int j = 0; j < 8; j++) {
    if (j >= nf) break;
    const int k = 8 * j;
    if (A) {
      if (o->pfa) __builtin_prefetch(o->pfa + k, 1);
      __m512d v = _mm512_loadu_pd(o->xa + k);
      v = _mm512_mul_pd(v, fa);
      v = _mm512_mul_pd(v, g1a[j]);
      v = _mm512_mul_pd(v, _mm512_loadu_pd(o->f2a + k));
      _mm512_storeu_pd(o->xa + k, v);
      l = _mm256_add_pd(l, _mm512_castpd512_pd256(v));
      l = _mm256_add_pd(l, _mm512_extractf64x4_pd(v, 1));
      t1[j] = _mm512_add_pd(t1[j], v);
      _mm512_storeu_pd(o->xsa + k, _mm512_add_pd(_mm512_loadu_pd(o->xsa + k), v));
    }
    if (B) t1n[j] = _mm512_add_pd(t1n[j], _mm512_mul_pd(_mm512_loadu_pd(o->xb + k), fb));
    if (C) {
      __m512d v = _mm512_mul_pd(_mm512_loadu_pd(o->xc + k), fc);
      v = _mm512_mul_pd(v, g1c[j]);
      _mm512_storeu_pd(o->s2c + k, _mm512_add_pd(_mm512_loadu_pd(o->s2c + k), v));
    }
  }
  if (mt && mt <= 15u) { /* a tail of 1 to 4 cells: the same in 256-bit halves, which pass through the
                            FP pipes and the L1 ports once instead of twice (the upper halves of the
                            tail sums t1t, t1nt are then never used) */
    const int k = 8 * nf;
    const __m256d ha = _mm512_castpd512_pd256(fa), hb = _mm512_castpd512_pd256(fb), hc = _mm512_castpd512_pd256(fc);
    if (A) {
      if (o->pfa) __builtin_prefetch(o->pfa + k, 1);
      __m256d v = _mm256_maskz_loadu_pd(mt, o->xa + k);
      v = _mm256_mul_pd(v, ha);
      v = _mm256_mul_pd(v, _mm256_maskz_loadu_pd(mt, o->f1a + k));
      v = _mm256_mul_pd(v, _mm256_maskz_loadu_pd(mt, o->f2a + k));
      _mm256_mask_storeu_pd(o->xa + k, mt, v);
      l = _mm256_mask_add_pd(l, mt, l, v);
      *t1t = _mm512_castpd256_pd512(_mm256_add_pd(_mm512_castpd512_pd256(*t1t), v));
      _mm256_mask_storeu_pd(o->xsa + k, mt, _mm256_add_pd(_mm256_maskz_loadu_pd(mt, o->xsa + k), v));
    }
    if (B)
      *t1nt = _mm512_castpd256_pd512(
          _mm256_add_pd(_mm512_castpd512_pd256(*t1nt), _mm256_mul_pd(_mm256_maskz_loadu_pd(mt, o->xb + k), hb)));
    if (C) {
      __m256d v = _mm256_mul_pd(_mm256_maskz_loadu_pd(mt, o->xc + k), hc);
      v = _mm256_mul_pd(v, _mm256_maskz_loadu_pd(mt, o->f1c + k));
      _mm256_mask_storeu_pd(o->s2c + k, mt, _mm256_add_pd(_mm256_maskz_loadu_pd(mt, o->s2c + k), v));
    }
  } else if (mt) { /* the tail: cells 8 nf .. L-1, the others masked (zero, not stored, not added) */
    const int k = 8 * nf;
    if (A) {
      if (o->pfa) __builtin_prefetch(o->pfa + k, 1);
      __m512d v = _mm512_maskz_loadu_pd(mt, o->xa + k);
      v = _mm512_mul_pd(v, fa);
      v = _mm512_mul_pd(v, _mm512_maskz_loadu_pd(mt, o->f1a + k));
      v = _mm512_mul_pd(v, _mm512_maskz_loadu_pd(mt, o->f2a + k));
      _mm512_mask_storeu_pd(o->xa + k, mt, v);
      l = _mm256_mask_add_pd(l, (__mmask8)(mt & 15u), l, _mm512_castpd512_pd256(v));
      l = _mm256_mask_add_pd(l, (__mmask8)(mt >> 4), l, _mm512_extractf64x4_pd(v, 1));
      *t1t = _mm512_add_pd(*t1t, v);
      _mm512_mask_storeu_pd(o->xsa + k, mt, _mm512_add_pd(_mm512_maskz_loadu_pd(mt, o->xsa + k), v));
    }
    if (B) *t1nt = _mm512_add_pd(*t1nt, _mm512_mul_pd(_mm512_maskz_loadu_pd(mt, o->xb + k), fb));
    if (C) {
      __m512d v = _mm512_mul_pd(_mm512_maskz_loadu_pd(mt, o->xc + k), fc);
      v = _mm512_mul_pd(v, _mm512_maskz_loadu_pd(mt, o->f1c + k));
      _mm512_mask_storeu_pd(o->s2c + k, mt, _mm512_add_pd(_mm512_maskz_loadu_pd(mt, o->s2c + k), v));
    }
  }
  if (!A) return 0.0;
  /* (l0 + l2) + (l1 + l3), as ipf_lanes_sum */
  const __m128d h = _mm_add_pd(_mm256_castpd256_pd128(l), _mm256_extractf128_pd(l, 1));
  return _mm_cvtsd_f64(h) + _mm_cvtsd_f64(_mm_unpackhi_pd(h, h));
}

/* Store a slab's {0,2} sums held in registers to s (L cells). */
IPF_ALWAYS_INLINE IPF_FOLD_TARGET void fold_store(double *s, const int nf, const __mmask8 mt, const __m512d *t,
                                                  __m512d tt)
{
#pragma GCC unroll 8
  for (int j = 0; j < 8; j++) {
    if (j >= nf) break;
    _mm512_storeu_pd(s + 8 * j, t[j]);
  }
  if (mt) _mm512_mask_storeu_pd(s + 8 * nf, mt, tt);
}

/* The folded FUSE_NEXT pass over block b (see above): slab s is checked (A, and B one row late)
 * while slab s - 1 gets the next sweep's sums of {1,2} (C); one more round runs C on the last slab. */
IPF_FOLD_TARGET static void fold_block(const ipf_plan_t *pl, int b, ipf_dev_t *dv)
{
  ipf_prob_t *P = pl->P;
  const size_t M = pl->M, L = pl->L, gsz = P->m[2].size, nrow_all = P->tab.ncell / L;
  const int nf = (int)(L / 8);
  const __mmask8 mt = (__mmask8)((1u << (L % 8)) - 1u);
  ipf_mar_t *m0 = &P->m[0], *m1 = &P->m[1], *m2 = &P->m[2];
  double *xs = P->xs + (size_t)b * gsz, *s2 = sum_base(P, 2, b);
  const size_t sa = P->bs[b], se = P->bs[b + 1];
  const size_t pf = L * sizeof(double) >= IPF_FOLD_PREFETCH_BYTES ? 1 : IPF_FOLD_PREFETCH_BYTES / (L * sizeof(double));
  memset(xs, 0, gsz * sizeof(double));
  memset(s2, 0, gsz * sizeof(double));
  for (size_t s = sa; s <= se; s++) {
    const int doA = s < se, doC = s > sa;
    ipf_fold_ops_t o = {0};
    o.xsa = xs;
    o.f2a = m2->f;
    o.s2c = s2;
    if (doC) {
      o.xc = pl->x + (s - 1) * M * L;
      o.f1c = m1->f + (s - 1) * L;
    }
    __m512d g1a[8], g1c[8]; /* f1 of slabs s and s - 1, full vectors */
    for (int j = 0; j < 8; j++) {
      g1a[j] = j < nf && doA ? _mm512_loadu_pd(m1->f + s * L + 8 * j) : _mm512_setzero_pd();
      g1c[j] = j < nf && doC ? _mm512_loadu_pd(m1->f + (s - 1) * L + 8 * j) : _mm512_setzero_pd();
    }
    if (!doA) { /* C alone on the last slab */
      for (size_t r = 0; r < M; r++, o.xc += L, o.s2c += L) {
        o.fc = m0->f[(s - 1) * M + r];
        fold_row(0, 0, 1, nf, mt, &o, NULL, NULL, NULL, NULL, g1a, g1c);
      }
      break;
    }
    __m512d t1[8], t1n[8], t1t = _mm512_setzero_pd(), t1nt = _mm512_setzero_pd();
    for (int j = 0; j < 8; j++) t1[j] = t1n[j] = _mm512_setzero_pd();
    double *f0 = m0->f + s * M, *s0 = m0->s + s * M;
    const double *t0 = m0->t + s * M;
    o.xa = pl->x + s * M * L;
    o.f1a = m1->f + s * L;
    o.xb = o.xa;
    o.fb = 0.0;
    for (size_t r = 0; r < M; r++) {
      o.pfa = s * M + r + pf < nrow_all ? o.xa + pf * L : NULL;
      o.fa = f0[r];
      if (doC) o.fc = m0->f[(s - 1) * M + r];
      double rs;
      if (r == 0) rs = doC ? fold_row(1, 0, 1, nf, mt, &o, t1, &t1t, t1n, &t1nt, g1a, g1c)
                           : fold_row(1, 0, 0, nf, mt, &o, t1, &t1t, t1n, &t1nt, g1a, g1c);
      else rs = doC ? fold_row(1, 1, 1, nf, mt, &o, t1, &t1t, t1n, &t1nt, g1a, g1c)
                    : fold_row(1, 1, 0, nf, mt, &o, t1, &t1t, t1n, &t1nt, g1a, g1c);
      s0[r] = 0.0 + rs; /* the check's sum of this cell of {0,1} (a zeroed sum plus the row) */
      f0[r] = ipf_factor(t0[r], s0[r]);
      o.xb = o.xa;
      o.fb = f0[r];
      o.xa += L;
      o.f2a += L;
      o.xsa += L;
      if (doC) {
        o.xc += L;
        o.s2c += L;
      }
    }
    fold_row(0, 1, 0, nf, mt, &o, t1, &t1t, t1n, &t1nt, g1a, g1c); /* the last row into the next sums of {0,2} */
    /* slab s: the check's sums of {0,2}, the deviations of the local margins, then the next sweep's
     * sums and factors of {0,2} */
    fold_store(m1->s + s * L, nf, mt, t1, t1t);
    local_cells(P, 0, s, s + 1, CELLS_DEV, dv);
    local_cells(P, 1, s, s + 1, CELLS_DEV, dv);
    fold_store(m1->s + s * L, nf, mt, t1n, t1nt);
    local_cells(P, 1, s, s + 1, CELLS_FACTOR, NULL);
  }
}
#endif /* IPF_FOLD */

static int max_threads(void)
{
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

/* The fused sweep's check of margin P->fg on cells [c0, c1): its sums from P->xs (block order), their
 * deviations merged into *dv, and when `next` its sums and factors for the next sweep from s and
 * its partials.  Straight loops over a chunk of cells (the compiler vectorises the sums and the
 * divisions; each cell's additions keep the block order), instead of one call per cell. */
#ifndef IPF_CHECK_CHUNK
#define IPF_CHECK_CHUNK 512
#endif
static void fused_check_g(const ipf_prob_t *P, size_t c0, size_t c1, int next, ipf_dev_t *dv)
{
  const int g = P->fg;
  ipf_mar_t *m = (ipf_mar_t *)&P->m[g];
  const size_t sz = m->size, n = c1 - c0;
  double sc[IPF_CHECK_CHUNK];
  const double *restrict xs = P->xs + c0;
  for (size_t i = 0; i < n; i++) sc[i] = xs[i];
  for (int b = 1; b < P->nb; b++) {
    const double *restrict xb = P->xs + (size_t)b * sz + c0;
    for (size_t i = 0; i < n; i++) sc[i] += xb[i];
  }
  for (size_t i = 0; i < n; i++) {
    const ipf_dev_t d = {fabs(sc[i] - m->t[c0 + i]), g, c0 + i, sc[i]};
    dev_merge(dv, &d);
  }
  if (!next) return;
  double *restrict s = m->s + c0, *restrict f = m->f + c0;
  const double *restrict t = m->t + c0;
  for (int b = 1; b < P->nb; b++) {
    const double *restrict pb = m->part + (size_t)(b - 1) * sz + c0;
    for (size_t i = 0; i < n; i++) s[i] += pb[i];
  }
  for (size_t i = 0; i < n; i++) f[i] = ipf_factor(t[i], s[i]);
}

/* Sum margin k's block partials into s, in block order, for cells [c0, c1); factors too if asked. */
static void combine_cells(const ipf_prob_t *P, int k, size_t c0, size_t c1, int factors)
{
  ipf_mar_t *m = (ipf_mar_t *)&P->m[k];
  const size_t sz = m->size;
  if (!m->has[0] && P->nb > 1)
    for (size_t c = c0; c < c1; c++) {
      double s = m->s[c];
      for (int b = 1; b < P->nb; b++) s += m->part[(size_t)(b - 1) * sz + c];
      m->s[c] = s;
    }
  if (factors)
    for (size_t c = c0; c < c1; c++) m->f[c] = ipf_factor(m->t[c], m->s[c]);
}

/* In a parallel region (orphaned worksharing, no barrier): merge into *mine the deviations of the
 * global margins from the check's sums of a fused pass: margin g's in P->xs and its block partials,
 * the others' in s and their partials (combined here). */
static void global_check(const ipf_prob_t *P, ipf_dev_t *mine)
{
  const int g = P->fg;
  const size_t gsz = P->m[g].size;
  for (int k = 0; k < P->K; k++) {
    const ipf_mar_t *m = &P->m[k];
    if (m->has[0]) continue;
#pragma omp for schedule(static) nowait
    for (size_t c = 0; c < m->size; c++) {
      double sc;
      if (k == g) {
        sc = P->xs[c];
        for (int b = 1; b < P->nb; b++) sc += P->xs[(size_t)b * gsz + c];
      } else {
        combine_cells(P, k, c, c + 1, 0);
        sc = m->s[c];
      }
      const ipf_dev_t d = {fabs(sc - m->t[c]), k, c, sc};
      dev_merge(mine, &d);
    }
  }
}

/* In a parallel region (orphaned worksharing, no barrier): every margin's sums from its block
 * partials, margin 0's factors too (its sums are the next sweep's), each cell's deviation merged
 * into *mine.  The check of the unfused path, on the seed and after every sweep. */
static void all_check(const ipf_prob_t *P, ipf_dev_t *mine)
{
  for (int k = 0; k < P->K; k++) {
    const ipf_mar_t *m = &P->m[k];
#pragma omp for schedule(static) nowait
    for (size_t c = 0; c < m->size; c++) {
      combine_cells(P, k, c, c + 1, k == 0);
      const ipf_dev_t d = {fabs(m->s[c] - m->t[c]), k, c, m->s[c]};
      dev_merge(mine, &d);
    }
  }
}

emi_err_t emi_ipf_fit(int ndim, const size_t *dims, double *x, int nmargins,
                      const emi_ipf_margin_t *margins, const emi_ipf_opts_t *opts, double *work,
                      size_t lwork, emi_ipf_result_t *res)
{
  ipf_prob_t P;
  EMI_CALL(ipf_setup(ndim, dims, x, nmargins, margins, opts, work, lwork, &P, res));
  const ipf_tab_t *T = &P.tab;
  const int K = P.K;
  ipf_plan_t pl;
  pl.P = &P;
  pl.x = x;
  pl.L = T->dims[T->n - 1];
  pl.M = T->ncell / pl.L / P.nslab;
  {
    const size_t slab_bytes = T->ncell / P.nslab * sizeof(double);
    pl.tile = slab_bytes >= IPF_TILE_BYTES ? 1 : IPF_TILE_BYTES / slab_bytes;
  }
  pl.nint = 0;
  for (int k = 0; k < K; k++)
    if (k == 0 || !P.m[k].has[0]) pl.first[pl.nint++] = k;
  pl.first[pl.nint] = K;
  /* Fused sweeps need margin 0 local (its factors then follow from one tile's check sums) and a
   * global margin (else a sweep is one pass already); they are lazy: the first interval, run in
   * the check's pass, must leave the table as the check wrote it.  Tables up to IPF_EAGER_BYTES
   * stay in cache, where eager sub-passes (fewer multiplications) are faster than fewer passes. */
  pl.eager = T->ncell * sizeof(double) <= IPF_EAGER_BYTES;
  pl.fused = P.fg >= 0 && !pl.eager;
  /* The folded pass reads and writes the table once per sweep and does all its work in that pass:
   * faster than the eager sub-passes even for tables in cache. */
  pl.fold = fold_ok(&P);
  if (pl.fold) pl.eager = 0, pl.fused = 1;

  /* the table volumes a sweep of this plan reads or writes: the folded pass reads and writes the table
   * once; eager (in cache) a read and a write per interval; fused, the pass of the first interval
   * reads and writes, every later interval reads once; otherwise a read per interval and a write */
  if (res) res->table_volumes = pl.fold ? 2 : pl.eager ? 2 * pl.nint : pl.fused ? pl.nint : pl.nint + 1;
  const int par = T->ncell >= IPF_PAR_MIN_CELLS && P.nb >= 2 && max_threads() > 1;
  const ipf_dev_t zero = {0.0, 0, 0, 0.0};
  ipf_dev_t devs[2], seed_dev = zero;
  int iters = 0;
  if (pl.fused) {
    /* One pass per sweep when the sweep has two intervals: pass it (it >= 1) runs the check of sweep
     * it and the first interval of sweep it + 1 (FUSE_NEXT); the first interval of sweep 1 runs with
     * the sums of margin 0 on the seed (FUSE_START).  Middle intervals (three or more) keep passes
     * of their own. */
    const int g = P.fg;
    const size_t gsz = P.m[g].size;
#pragma omp parallel if (par)
    {
      ipf_dev_t first = zero;
#pragma omp for schedule(static)
      for (int b = 0; b < P.nb; b++) fused_block(&pl, b, FUSE_START, &first);
      global_check(&P, &first);
#pragma omp critical(emi_ipf_dev)
      dev_merge(&seed_dev, &first);
#pragma omp barrier
      const int fits = seed_dev.dev <= P.tol; /* the seed already fits: returned unchanged */
      if (!fits) {
#pragma omp for schedule(static)
        for (size_t c = 0; c < gsz; c++) combine_cells(&P, g, c, c + 1, 1);
      }
#pragma omp single
      devs[0] = devs[1] = zero;
      int it;
      for (it = 1; it <= P.max_iter && !fits; it++) {
        for (int q = 1; q + 1 < pl.nint; q++) {
#pragma omp for schedule(static)
          for (int b = 0; b < P.nb; b++) interval_block(&pl, q, b);
          const int h = pl.first[q + 1];
#pragma omp for schedule(static)
          for (size_t c = 0; c < P.m[h].size; c++) combine_cells(&P, h, c, c + 1, 1);
        }
        const int next = it < P.max_iter;
        ipf_dev_t mine = zero;
#pragma omp for schedule(static)
        for (int b = 0; b < P.nb; b++) {
#ifdef IPF_FOLD
          if (next && pl.fold) {
            fold_block(&pl, b, &mine);
            continue;
          }
#endif
          fused_block(&pl, b, next ? FUSE_NEXT : FUSE_LAST, &mine);
        }
        /* the check of the global margins: margin g's sums in P.xs, the others' in s and partials;
         * margin g's sums and factors for sweep it + 1 in the same loop (unused if sweep it
         * converged: the result then needs only the deviations) */
#pragma omp for schedule(static) nowait
        for (size_t c = 0; c < gsz; c += IPF_CHECK_CHUNK)
          fused_check_g(&P, c, c + IPF_CHECK_CHUNK < gsz ? c + IPF_CHECK_CHUNK : gsz, next, &mine);
        for (int k = 0; k < K; k++) {
          const ipf_mar_t *m = &P.m[k];
          if (m->has[0] || k == g) continue;
#pragma omp for schedule(static) nowait
          for (size_t c = 0; c < m->size; c++) {
            combine_cells(&P, k, c, c + 1, 0);
            const ipf_dev_t d = {fabs(m->s[c] - m->t[c]), k, c, m->s[c]};
            dev_merge(&mine, &d);
          }
        }
#pragma omp critical(emi_ipf_dev)
        dev_merge(&devs[it & 1], &mine);
#pragma omp barrier
        const int done = devs[it & 1].dev <= P.tol;
#pragma omp single nowait
        devs[(it + 1) & 1] = zero;
        if (done) break;
      }
#pragma omp single nowait
      iters = fits ? 0 : it > P.max_iter ? P.max_iter : it;
    }
  } else {
#pragma omp parallel if (par)
    {
      /* the seed check: every margin's sums on the seed (which it leaves unchanged), and margin 0's
       * factors, whose sums are the first sweep's */
      ipf_dev_t first = zero;
#pragma omp for schedule(static)
      for (int b = 0; b < P.nb; b++) interval_block(&pl, -1, b);
      all_check(&P, &first);
#pragma omp critical(emi_ipf_dev)
      dev_merge(&seed_dev, &first);
#pragma omp barrier
      const int fits = seed_dev.dev <= P.tol; /* the seed already fits: returned unchanged */
#pragma omp single
      devs[0] = devs[1] = zero;
      int it;
      for (it = 1; it <= P.max_iter && !fits; it++) {
        for (int q = 0; q < pl.nint; q++) {
#pragma omp for schedule(static)
          for (int b = 0; b < P.nb; b++) interval_block(&pl, q, b);
          if (q + 1 < pl.nint) {
            const int g = pl.first[q + 1];
#pragma omp for schedule(static)
            for (size_t c = 0; c < P.m[g].size; c++) combine_cells(&P, g, c, c + 1, 1);
          } else {
            ipf_dev_t mine = zero;
            all_check(&P, &mine);
#pragma omp critical(emi_ipf_dev)
            dev_merge(&devs[it & 1], &mine);
#pragma omp barrier
          }
        }
        const int done = devs[it & 1].dev <= P.tol;
#pragma omp single nowait
        devs[(it + 1) & 1] = zero;
        if (done) break;
      }
#pragma omp single nowait
      iters = fits ? 0 : it > P.max_iter ? P.max_iter : it;
    }
  }
  if (iters == 0) { /* the seed fits: one iteration, the check, which changed nothing */
    EMI_CALL(ipf_finish(&P, 1, seed_dev.dev, seed_dev.k, seed_dev.c, seed_dev.fit, res));
    return EMI_SUCCESS;
  }
  const ipf_dev_t dv = devs[iters & 1];
  EMI_CALL(ipf_finish(&P, iters, dv.dev, dv.k, dv.c, dv.fit, res));
  return EMI_SUCCESS;
}
