/* emi_gls.c: GLS reconciliation (see emi_gls.h for the contract).
 *
 * One driver, two sets of linear-algebra primitives: the optimised path calls BLAS-3 and LAPACK
 * (emi_gls_solve) on fixed tiles in OpenMP loops, the reference path runs the same steps in plain
 * loops (emi_gls_solve_ref, which tests hold the optimised one to).  Everything that is not dense algebra -- validation, fixed
 * estimates, the dependent-constraint analysis, the non-negativity active set -- is shared.
 *
 * Storage.  All matrices are row-major.  The p x p matrix M = A V A^T is symmetric, so LAPACK is
 * called in column-major mode with uplo 'U' on the same memory: the column-major upper triangle is
 * the row-major lower triangle, and the factor M = U^T U reads back as M = L L^T with L = U^T in the
 * row-major lower triangle.  Column-major LAPACKE calls copy nothing (row-major ones would allocate
 * a transposed copy behind the caller's back).
 *
 * Workspace (doubles), p = m + (nonneg ? n : 0):
 *   Ac  p*n  constraint rows in use (user rows not dropped, then bound rows e_i), fixed columns zeroed
 *   AV  p*n  Ac V, fixed columns zeroed; later W = L^{-1} AV
 *   M   p*p  Ac V Ac^T, then its Cholesky factor
 *   M0  p*p  copy of M (lower triangle) for the dependent-constraint analysis (sparse path: only
 *            its diagonal, for the pivot test; the rest is formed if the analysis runs)
 *   r, lam, rowid, coef, cdrop   p each (rowid >= 0: user constraint k; rowid = -(i+1): bound on x_i;
 *                                 cdrop[k] = 1: user constraint k dropped as redundant)
 *   est n  state of each estimate: 0 adjustable, 1 fixed, 2 held at 0 (bound row in use),
 *          3 held at 0 (bound implied by the other constraints, no row)
 *   xs  n  sqrt(v) (diagonal V, dense path)
 *   Vc  n*n (full V only) the adjustable block of V for the positive-definiteness check
 */
#include "emi_gls.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

enum { EST_FREE = 0, EST_FIXED = 1, EST_ACTIVE = 2, EST_IMPLIED = 3 };

typedef struct {
  size_t n, m, P;
  const double *x, *V, *A, *b;
  int v_diag;
  double *Ac, *AV, *M, *M0, *r, *lam, *rowid, *coef, *cdrop, *est, *xs, *Vc;
  int blas;
  emi_gls_opts_t o;
  /* sparse path (see "Sparse constraints" below): A's nonzeros by rows (CSR, in the Ac area), the
   * column lists of sparse_rows_system in the AV area; indices stored as doubles (exact below 2^53) */
  int sparse;
  size_t nnz;
  double *a_ptr, *a_col, *a_val; /* CSR of A: row k holds entries [a_ptr[k], a_ptr[k+1]) */
  double *a_blk; /* row k's entries in column block b: [a_blk[k (nblk+1) + b], a_blk[k (nblk+1) + b + 1]) */
  double *xv;    /* x_j, v_j (-1: fixed) side by side: one cache line where the passes jump by columns */
  double *res_s, *res_scale;     /* residuals of the last sparse solve (solve_update_sparse), or NULL */
} gls_t;

void emi_gls_opts_default(emi_gls_opts_t *opts)
{
  opts->nonneg = 0;
  opts->redundant = EMI_GLS_REDUNDANT_ERROR;
  opts->rank_tol = 1e-12;
  opts->consistency_tol_rel = 1e-9;
  opts->check_v = 1;
}

size_t emi_gls_work_len(size_t n, size_t m, int v_diag, int nonneg)
{
  size_t P = m + (nonneg ? n : 0);
  return 2 * P * n + 2 * P * P + 5 * P + 2 * n + (v_diag ? 0 : n * n);
}

static int est_held0(const gls_t *g, size_t i) { return g->est[i] == EST_ACTIVE || g->est[i] == EST_IMPLIED; }
static int est_fixed(const gls_t *g, size_t i) { return g->est[i] == EST_FIXED; }

/* ------------------------------------------------------------------ the algebra, two ways */

/* Reproducibility with OpenBLAS (OpenMP build).  Its level-3 routines split C between threads, and
 * an element computed by an edge micro-kernel rounds differently from one computed by the main
 * kernel, so the bits of one large dgemm change with the thread count (seen with dgemm, dsymm and
 * dpotrf at n = 600, m = 250).  Therefore:
 *  - products are cut into fixed GLS_TILE x GLS_TILE tiles of C, one single-threaded BLAS call per
 *    tile; the tiles run in an OpenMP loop (OpenBLAS is single-threaded inside a parallel region), so
 *    each tile's bits depend only on the tiling, never on the thread count or on who runs it;
 *  - the small sequential steps (dpotrf of the p x p system, dpotrs, dgemv) run with the calling
 *    thread's nthreads ICV set to 1, which is what the OpenMP build of OpenBLAS takes its thread
 *    count from, and restored afterwards. */
#define GLS_TILE 128

/* A solution must meet every constraint to this fraction of the size of its terms, |b_k| +
 * sum_j |A_kj| (|xhat_j| + |x_j|); rounding leaves about cond(A V A^T) x 1e-16. */
#define GLS_RESIDUAL_TOL 1e-6

static int blas1_begin(void)
{
#ifdef _OPENMP
  int nt = omp_get_max_threads();
  omp_set_num_threads(1);
  return nt;
#else
  return 1;
#endif
}

static void blas1_end(int nt)
{
#ifdef _OPENMP
  omp_set_num_threads(nt);
#else
  (void)nt;
#endif
}

/* C = alpha op(A) op(B) + beta C (row-major, op(A) M x K, op(B) K x N), computed tile by tile;
 * part 'L' does only tiles on or below the block diagonal, 'U' on or above, 0 all. */
static void tiled_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, size_t M, size_t N, size_t K, double alpha,
                       const double *A, size_t lda, const double *B, size_t ldb, double beta, double *C, size_t ldc,
                       char part)
{
  const long mt = (long)((M + GLS_TILE - 1) / GLS_TILE), nt = (long)((N + GLS_TILE - 1) / GLS_TILE);
#pragma omp parallel for schedule(dynamic)
  for (long t = 0; t < mt * nt; t++) {
    const size_t ib = (size_t)(t / nt), jb = (size_t)(t % nt);
    if ((part == 'L' && jb > ib) || (part == 'U' && jb < ib)) continue;
    const size_t i0 = ib * GLS_TILE, j0 = jb * GLS_TILE;
    const size_t mb = M - i0 < GLS_TILE ? M - i0 : GLS_TILE, nb = N - j0 < GLS_TILE ? N - j0 : GLS_TILE;
    const double *Ap = ta == CblasNoTrans ? A + i0 * lda : A + i0;
    const double *Bp = tb == CblasNoTrans ? B + j0 : B + j0 * ldb;
    cblas_dgemm(CblasRowMajor, ta, tb, (int)mb, (int)nb, (int)K, alpha, Ap, (int)lda, Bp, (int)ldb, beta,
                C + i0 * ldc + j0, (int)ldc);
  }
}

/* B = L^{-1} B for the p x n row-major B, L lower (row-major, ld p), by fixed column blocks. */
static void tiled_trsm(size_t p, size_t n, const double *L, double *B)
{
  const long nt = (long)((n + GLS_TILE - 1) / GLS_TILE);
#pragma omp parallel for schedule(dynamic)
  for (long t = 0; t < nt; t++) {
    const size_t j0 = (size_t)t * GLS_TILE, nb = n - j0 < GLS_TILE ? n - j0 : GLS_TILE;
    cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, (int)p, (int)nb, 1.0, L, (int)p,
                B + j0, (int)n);
  }
}

/* Unblocked Cholesky of the row-major lower triangle of the p x p matrix L (in place).
 * Returns 0, or k+1 when the k-th pivot is not positive (like LAPACK's info). */
static int ref_chol(size_t p, double *L, size_t ld)
{
  for (size_t k = 0; k < p; k++) {
    for (size_t j = 0; j < k; j++) {
      double s = L[k * ld + j];
      for (size_t i = 0; i < j; i++) s -= L[k * ld + i] * L[j * ld + i];
      L[k * ld + j] = s / L[j * ld + j];
    }
    double d = L[k * ld + k];
    for (size_t i = 0; i < k; i++) d -= L[k * ld + i] * L[k * ld + i];
    if (!(d > 0)) return (int)k + 1;
    L[k * ld + k] = sqrt(d);
  }
  return 0;
}

/* The number of leading rows of the row-major lower triangle of M with no off-diagonal entry, so
 * that M's leading block of that size is diagonal.  Reads until the first such entry. */
static size_t lead_diag(size_t p, const double *M, size_t ld)
{
  for (size_t k = 1; k < p; k++)
    for (size_t j = 0; j < k; j++)
      if (M[k * ld + j] != 0) return k;
  return p;
}

/* Cholesky of the p x p lower triangle (row-major) in place; *info as LAPACK's.
 *
 * Accounting constraints come in groups of disjoint rows (the N row totals of a flow matrix share
 * no cell), so with diagonal V a leading block of M = A V A^T of k rows is often diagonal.  Then
 * L11 = sqrt(D), L21 = M21 D^{-1/2}, and only the Schur complement M22 - L21 L21^T is factored:
 * a dsyrk and a dpotrf of p - k instead of a dpotrf of p, 2.5x faster at p = 399, k = 200 (dpotrf
 * of a few hundred is far from the BLAS-3 rate).  The factor is the same matrix; only the
 * rounding differs.  From 128 rows the update is cut at a fixed row h = 7/10 of them into two
 * tasks of about equal work (a dsyrk of the top h rows; a dgemm and a dsyrk of the rest), run on
 * up to nt threads: the same BLAS calls whatever the thread count, so the same bits. */
static int chol_blocked(size_t p, double *Mf, size_t ld, int nt)
{
  const size_t k0 = p >= 64 ? lead_diag(p, Mf, ld) : 0;
  /* _work: no NaN scan of the input, which is finite by construction (A, V validated) */
  if (k0 < 32) return LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, 'U', (lapack_int)p, Mf, (lapack_int)ld);
  for (size_t k = 0; k < k0; k++) {
    if (!(Mf[k * ld + k] > 0)) return (int)k + 1;
    Mf[k * ld + k] = sqrt(Mf[k * ld + k]);
  }
  if (k0 == p) return 0;
  double *dinv = Mf + ld - k0; /* 1 / L_jj in row 0's unused upper part (columns ld - k0 .. ld - 1) */
  for (size_t j = 0; j < k0; j++) dinv[j] = 1.0 / Mf[j * ld + j];
  for (size_t r = k0; r < p; r++)
    for (size_t j = 0; j < k0; j++) Mf[r * ld + j] *= dinv[j];
  double *S = Mf + k0 * ld + k0;
  const double *L21 = Mf + k0 * ld;
  const size_t s = p - k0, h = s >= 128 ? s * 7 / 10 : s;
#pragma omp parallel for schedule(static) num_threads(nt > 1 && h < s ? 2 : 1)
  for (int task = 0; task < (h < s ? 2 : 1); task++) {
    if (task == 0) {
      cblas_dsyrk(CblasRowMajor, CblasLower, CblasNoTrans, (int)h, (int)k0, -1.0, L21, (int)ld, 1.0, S, (int)ld);
    } else {
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(s - h), (int)h, (int)k0, -1.0, L21 + h * ld, (int)ld,
                  L21, (int)ld, 1.0, S + h * ld, (int)ld);
      cblas_dsyrk(CblasRowMajor, CblasLower, CblasNoTrans, (int)(s - h), (int)k0, -1.0, L21 + h * ld, (int)ld, 1.0,
                  S + h * ld + h, (int)ld);
    }
  }
  int i = LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, 'U', (lapack_int)(p - k0), S, (lapack_int)ld);
  return i > 0 ? i + (int)k0 : i;
}

static emi_err_t chol_factor(const gls_t *g, size_t p, double *Mf, size_t ld, int *info)
{
  emi_err_t err = EMI_SUCCESS;
  if (g->blas) {
    int nt = blas1_begin();
    int i = chol_blocked(p, Mf, ld, nt);
    blas1_end(nt);
    if (i < 0) EMI_FAIL(EMI_ERR_INTERNAL, "LAPACKE_dpotrf: argument %d is invalid", -i);
    *info = i;
  } else {
    *info = ref_chol(p, Mf, ld);
  }
cleanup:
  return err;
}

/* AV = Ac V with fixed columns zeroed; M = AV Ac^T (lower triangle at least); M0 = copy. */
static void form_system(gls_t *g, size_t p)
{
  const size_t n = g->n;
  double *Ac = g->Ac, *AV = g->AV, *M = g->M;
  if (g->v_diag) {
    if (g->blas) {
      /* M = B B^T with B = Ac diag(sqrt v). */
      for (size_t j = 0; j < n; j++) g->xs[j] = sqrt(g->V[j]);
      for (size_t k = 0; k < p; k++)
        for (size_t j = 0; j < n; j++) AV[k * n + j] = Ac[k * n + j] * g->xs[j];
      tiled_gemm(CblasNoTrans, CblasTrans, p, p, n, 1.0, AV, n, AV, n, 0.0, M, p, 'L');
    }
    for (size_t k = 0; k < p; k++)
      for (size_t j = 0; j < n; j++) AV[k * n + j] = Ac[k * n + j] * g->V[j];
  } else {
    if (g->blas) {
      tiled_gemm(CblasNoTrans, CblasNoTrans, p, n, n, 1.0, Ac, n, g->V, n, 0.0, AV, n, 0);
    } else {
      for (size_t k = 0; k < p; k++)
        for (size_t j = 0; j < n; j++) {
          double s = 0;
          for (size_t l = 0; l < n; l++) s += Ac[k * n + l] * g->V[l * n + j];
          AV[k * n + j] = s;
        }
    }
    for (size_t j = 0; j < n; j++)
      if (est_fixed(g, j))
        for (size_t k = 0; k < p; k++) AV[k * n + j] = 0.0;
    if (g->blas) tiled_gemm(CblasNoTrans, CblasTrans, p, p, n, 1.0, AV, n, Ac, n, 0.0, M, p, 'L');
  }
  if (!g->blas) {
    for (size_t i = 0; i < p; i++)
      for (size_t j = 0; j <= i; j++) {
        double s = 0;
        for (size_t l = 0; l < n; l++) s += AV[i * n + l] * Ac[j * n + l];
        M[i * p + j] = s;
      }
  }
  for (size_t i = 0; i < p; i++)
    for (size_t j = 0; j <= i; j++) g->M0[i * p + j] = M[i * p + j];
}

/* lam = M^{-1} r with the factor in M; xhat = x - AV^T lam. */
static emi_err_t solve_update(gls_t *g, size_t p, double *xhat)
{
  emi_err_t err = EMI_SUCCESS;
  const size_t n = g->n;
  double *L = g->M, *lam = g->lam;
  memcpy(lam, g->r, p * sizeof(double));
  memcpy(xhat, g->x, n * sizeof(double));
  if (g->blas) {
    int nt = blas1_begin();
    int i = LAPACKE_dpotrs(LAPACK_COL_MAJOR, 'U', (lapack_int)p, 1, L, (lapack_int)p, lam, (lapack_int)p);
    if (i == 0) cblas_dgemv(CblasRowMajor, CblasTrans, (int)p, (int)n, -1.0, g->AV, (int)n, lam, 1, 1.0, xhat, 1);
    blas1_end(nt);
    if (i < 0) EMI_FAIL(EMI_ERR_INTERNAL, "LAPACKE_dpotrs: argument %d is invalid", -i);
  } else {
    for (size_t k = 0; k < p; k++) {
      double s = lam[k];
      for (size_t i = 0; i < k; i++) s -= L[k * p + i] * lam[i];
      lam[k] = s / L[k * p + k];
    }
    for (size_t k = p; k-- > 0;) {
      double s = lam[k];
      for (size_t i = k + 1; i < p; i++) s -= L[i * p + k] * lam[i];
      lam[k] = s / L[k * p + k];
    }
    for (size_t j = 0; j < n; j++) {
      double s = 0;
      for (size_t k = 0; k < p; k++) s += g->AV[k * n + j] * lam[k];
      xhat[j] = g->x[j] - s;
    }
  }
  for (size_t j = 0; j < n; j++) {
    if (est_fixed(g, j)) xhat[j] = g->x[j];
    else if (est_held0(g, j)) xhat[j] = 0.0;
  }
cleanup:
  return err;
}

/* cov = Vm - W^T W, W = L^{-1} AV (overwrites AV); Vm = V with fixed and held rows/columns zeroed. */
static void covariance(gls_t *g, size_t p, double *cov)
{
  const size_t n = g->n;
  double *W = g->AV, *L = g->M;
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < n; j++)
      cov[i * n + j] = g->v_diag ? (i == j ? g->V[i] : 0.0) : g->V[i * n + j];
  if (p > 0) {
    if (g->blas) {
      tiled_trsm(p, n, L, W);
      tiled_gemm(CblasTrans, CblasNoTrans, n, n, p, -1.0, W, n, W, n, 1.0, cov, n, 'U');
      for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++) cov[i * n + j] = cov[j * n + i];
    } else {
      for (size_t k = 0; k < p; k++)
        for (size_t j = 0; j < n; j++) {
          double s = W[k * n + j];
          for (size_t i = 0; i < k; i++) s -= L[k * p + i] * W[i * n + j];
          W[k * n + j] = s / L[k * p + k];
        }
      for (size_t i = 0; i < n; i++)
        for (size_t j = i; j < n; j++) {
          double s = 0;
          for (size_t k = 0; k < p; k++) s += W[k * n + i] * W[k * n + j];
          cov[i * n + j] -= s;
          cov[j * n + i] = cov[i * n + j];
        }
    }
  }
  for (size_t i = 0; i < n; i++)
    if (g->est[i] != EST_FREE)
      for (size_t j = 0; j < n; j++) cov[i * n + j] = cov[j * n + i] = 0.0;
}

/* ------------------------------------------------------------------ sparse constraints
 *
 * Accounting constraints are sparse: a row or column total of an N x N flow matrix touches N of its
 * N^2 cells, a balance identity a handful.  With diagonal V, M = A V A^T is then a sum over the
 * columns j of v_j a_j a_j^T (a_j: column j of the rows in use), which costs sum_j c_j^2 (c_j: the
 * nonzeros of column j) instead of the dense m^2 n, and the rest of the solve only touches the
 * nonzeros.  The optimised path (emi_gls_solve) takes it for diagonal V when A has at most 1/8 of its
 * entries nonzero and sum_j c_j^2 <= p^2 n / 64 (and at least 4096 entries in all); it reads A once,
 * in the validation scan that also records the nonzeros.  Everything else (fixed estimates, the
 * dependent-constraint analysis on M, the active set, the covariance from a dense copy of A V) is
 * the dense path's.  The products are summed in another order than the dense BLAS path, so the two
 * agree to rounding; each is deterministic and independent of the thread count (each sparse sum runs
 * on one thread, in index order). */

/* Nonzeros and finiteness of one row of A (n entries): appends its nonzeros to col/val from *nz (at
 * most cap in all); *bad = the first non-finite column, or n.  Returns 0 when the row's nonzeros do
 * not fit.
 *
 * This loop is the whole solve's memory traffic, so its common case is one test per 256 bytes:
 * 32 entries whose bit patterns OR to +-0 (u << 1 == 0) are all zero, and zeros are finite, so the
 * finiteness test is only needed where there is a nonzero (Inf and NaN have exponent bits set, so
 * they always take the slow path).  Such blocks go down to groups of 8; a group of finite entries
 * is stored without branches (all 8 written, the write position advanced past the nonzeros), the
 * rest entry by entry.
 * One thread's hardware prefetch alone reaches about 20 GB/s here (it restarts at every 4 KiB
 * page); touching the line 32 KiB ahead once per KiB (as far as pf_len, the entries readable from
 * a) starts the page walks and DRAM pages early: 10-20% more on one thread, measured on Zen 4. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__ELF__)
#define GLS_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define GLS_CLONES
#endif
#if defined(__GNUC__)
/* 4 IEEE bit patterns as one vector (GCC/Clang vector extensions), loaded unaligned. */
typedef uint64_t gls_u4 __attribute__((vector_size(32)));
typedef uint64_t gls_u4u __attribute__((vector_size(32), aligned(8), may_alias));
#define GLS_LD(p) ((gls_u4)(*(const gls_u4u *)(p)))
#endif
#define GLS_PF_AHEAD 4096 /* entries (32 KiB) */

/* An index stored as a double (exact below 2^53): through int64_t, which is one instruction
 * (a conversion to size_t needs a branch for values from 2^63). */
static inline size_t gls_ix(double d) { return (size_t)(int64_t)d; }

/* 1 when every entry of a[0..8) is finite (exponent bits not all set) */
static inline int gls_finite8(const double *a)
{
  uint64_t nonfin = 0;
  for (int i = 0; i < 8; i++) {
    uint64_t u;
    memcpy(&u, a + i, sizeof u);
    nonfin |= (uint64_t)((u & 0x7ff0000000000000ull) == 0x7ff0000000000000ull);
  }
  return nonfin == 0;
}

/* 1 when some entry of a[0..w) is not +-0 */
static inline int gls_any_nonzero(const double *a, int w)
{
  uint64_t bits = 0;
  for (int i = 0; i < w; i++) {
    uint64_t u;
    memcpy(&u, a + i, sizeof u);
    bits |= u << 1;
  }
  return bits != 0;
}

GLS_CLONES static int scan_row(const double *restrict a, size_t n, size_t pf_len, double *restrict col,
                               double *restrict val, size_t *nz, size_t cap, size_t *bad)
{
  size_t j = 0, z = *nz;
  *bad = n;
  for (; j + 32 <= n; j += 32) {
    if ((j & 127) == 0 && j + GLS_PF_AHEAD < pf_len) __builtin_prefetch(a + j + GLS_PF_AHEAD);
#if defined(__GNUC__)
    const gls_u4 o = (((GLS_LD(a + j) | GLS_LD(a + j + 4)) | (GLS_LD(a + j + 8) | GLS_LD(a + j + 12))) |
                      ((GLS_LD(a + j + 16) | GLS_LD(a + j + 20)) | (GLS_LD(a + j + 24) | GLS_LD(a + j + 28))))
                     << 1;
    if (((o[0] | o[1]) | (o[2] | o[3])) == 0) continue;
#else
    if (!gls_any_nonzero(a + j, 32)) continue;
#endif
    for (size_t j8 = j; j8 < j + 32; j8 += 8) {
      if (!gls_any_nonzero(a + j8, 8)) continue;
      if (cap - z >= 8 && gls_finite8(a + j8)) { /* without branches: every entry written, nonzeros kept */
        for (size_t w = j8; w < j8 + 8; w++) {
          const double v = a[w];
          col[z] = (double)w;
          val[z] = v;
          z += v != 0;
        }
        continue;
      }
      for (size_t w = j8; w < j8 + 8; w++) { /* a non-finite entry, or near the end of the room */
        const double v = a[w];
        if (!isfinite(v)) {
          *bad = w;
          return 1;
        }
        if (v != 0) {
          if (z == cap) return 0;
          col[z] = (double)w;
          val[z++] = v;
        }
      }
    }
    *nz = z;
  }
  for (; j < n; j++) {
    const double v = a[j];
    if (!isfinite(v)) {
      *bad = j;
      return 1;
    }
    if (v != 0) {
      if (z == cap) return 0;
      col[z] = (double)j;
      val[z++] = v;
    }
  }
  *nz = z;
  return 1;
}

/* Validation scan of b and A that also records A's nonzeros by rows into the Ac area (capacity
 * P*n doubles: m+1 row pointers, m (nblk+1) block starts, then columns and values).  *fits = 0
 * when they do not fit.
 * Parallel over fixed row ranges: each range fills its own share of the area, then the shares are
 * packed in row order, so the result does not depend on the thread count; the first non-finite
 * entry in row-major order is the one reported. */
#define GLS_SCAN_PARTS 16
#define GLS_CBLK 2048 /* columns per block of the passes after the scan (below) */
#define GLS_RPARTS 16 /* fixed row parts of the residuals on two threads */
#define GLS_NONE (-1.0)
#define GLS_PAR_NNZ ((size_t)1 << 16) /* fewer nonzeros: the solve's passes on one thread (measured) */
static emi_err_t scan_sparse(gls_t *g, int *fits)
{
  const size_t n = g->n, m = g->m, cap = g->P * n;
  const size_t nblk = (n + GLS_CBLK - 1) / GLS_CBLK, lb = m * (nblk + 1);
  const size_t maxnz = cap > m + 1 + lb ? (cap - m - 1 - lb) / 2 : 0;
  g->a_ptr = g->Ac;
  g->a_blk = g->Ac + m + 1;
  g->a_col = g->a_blk + lb;
  g->a_val = g->a_col + maxnz;
  for (size_t k = 0; k < m; k++)
    if (!isfinite(g->b[k]))
      return EMI_ERROR(EMI_ERR_DOMAIN, "GLS right-hand side b[%zu] is %g, expected a finite value", k, g->b[k]);
  const size_t parts = m < GLS_SCAN_PARTS ? m : GLS_SCAN_PARTS, share = maxnz / (parts ? parts : 1);
  size_t pnz[GLS_SCAN_PARTS], pbase[GLS_SCAN_PARTS], bad_k[GLS_SCAN_PARTS], bad_j[GLS_SCAN_PARTS];
  int pfit[GLS_SCAN_PARTS];
#pragma omp parallel if (m * n >= ((size_t)1 << 20))
  {
    /* A part that follows this thread's previous part is stored right after it, so that one
     * thread's parts need no packing; its room is still `share`, so whether A fits does not depend
     * on the thread count. */
    size_t prev_q = SIZE_MAX, prev_end = 0;
#pragma omp for schedule(static)
    for (size_t q = 0; q < parts; q++) {
      const size_t k0 = m * q / parts, k1 = m * (q + 1) / parts;
      const size_t base = q > 0 && prev_q == q - 1 ? prev_end : q * share;
      size_t z = base;
      pfit[q] = 1;
      bad_k[q] = m;
      bad_j[q] = n;
      for (size_t k = k0; k < k1; k++) {
        size_t bad = n;
        const size_t z0 = z;
        g->a_ptr[k] = (double)(z - base); /* relative to the share: fixed up when packing */
        if (pfit[q]) pfit[q] = scan_row(g->A + k * n, n, (m - k) * n, g->a_col, g->a_val, &z, base + share, &bad);
        if (pfit[q] && bad == n) { /* where the row enters each column block, from its entries still in L1 */
          double *bk = g->a_blk + k * (nblk + 1);
          size_t b = 0;
          bk[0] = (double)(z0 - base);
          for (size_t e = z0; e < z; e++)
            while (gls_ix(g->a_col[e]) >= (b + 1) * GLS_CBLK) bk[++b] = (double)(e - base);
          while (b < nblk) bk[++b] = (double)(z - base);
        }
        if (!pfit[q]) { /* no room (the dense path will be taken): only validate */
          const double *a = g->A + k * n;
          for (size_t j = 0; j < n && bad == n; j++)
            if (!isfinite(a[j])) bad = j;
        }
        if (bad < n) {
          bad_k[q] = k;
          bad_j[q] = bad;
          break;
        }
      }
      pnz[q] = z - base;
      pbase[q] = base;
      prev_q = q;
      prev_end = z;
    }
  }
  for (size_t q = 0; q < parts; q++)
    if (bad_k[q] < m) {
      const size_t k = bad_k[q], j = bad_j[q];
      return EMI_ERROR(EMI_ERR_DOMAIN, "GLS constraint matrix A[%zu][%zu] is %g, expected a finite value", k, j,
                       g->A[k * n + j]);
    }
  *fits = parts > 0;
  for (size_t q = 0; q < parts; q++) *fits &= pfit[q];
  g->nnz = 0;
  if (!*fits) return EMI_SUCCESS;
  /* pack the shares in row order */
  size_t nz = 0;
  for (size_t q = 0; q < parts; q++) {
    const size_t k0 = m * q / parts, k1 = m * (q + 1) / parts, base = pbase[q];
    if (base != nz) {
      memmove(g->a_col + nz, g->a_col + base, pnz[q] * sizeof(double));
      memmove(g->a_val + nz, g->a_val + base, pnz[q] * sizeof(double));
    }
    for (size_t k = k0; k < k1; k++) {
      g->a_ptr[k] += (double)nz;
      for (size_t b = 0; b <= nblk; b++) g->a_blk[k * (nblk + 1) + b] += (double)nz;
    }
    nz += pnz[q];
  }
  g->a_ptr[m] = (double)nz;
  g->nnz = nz;
  return EMI_SUCCESS;
}

/* The passes over A's nonzeros after the scan go by blocks of GLS_CBLK columns: whatever is
 * indexed by column (x, v, the state, the column lists, xhat) then stays in L1/L2, although a
 * column total of an N x N flow jumps N entries at a time (by rows over all of A such gathers miss
 * the caches once per entry: the arrays are n long, read right after the scan has streamed A
 * through the caches).  Where each row enters each block is recorded as it is scanned (a_blk).
 *
 * Where two threads share a pass, they share it by columns where every output belongs to one
 * column (A^T lam, xhat), and by rows where it belongs to one row (a residual); each sum runs on
 * one thread in one fixed order (over j increasing), so the bits do not depend on the thread
 * count. */

/* The rows in use, as build_rows (user rows not dropped, fixed columns left out, then the bound
 * rows), r = A x - b, and the lower triangle of M = A V A^T of them into dst, in one pass by column
 * blocks, and within a block by rows: M_ql = sum_j v_j a_qj a_lj, so row q's entry in column j
 * adds v_j a_qj a_lj to M_ql for every earlier row l in the list of column j, then joins the list.
 * The lists of one block (in the AV area: a head per column of the block, then per entry next,
 * row, value) stay in L1/L2, and no column-ordered copy of A is built.  Room: nodes <= 3 nnz, and
 * xv after 2 n + 3 nnz: 4 n + 3 nnz <= P n, as the sparse path needs nnz <= m n / 8 and P >= 8.
 * M_ql sums over j in increasing order.  On one thread: a version that linked all of A's columns
 * first (by column blocks on two threads), then formed the rows of M (by row parts on two
 * threads), was slower on two threads than this one on one: it wrote and read 24 bytes of links
 * per nonzero through DRAM.
 * With limit > 0 the pass stops and returns 0 as soon as sum_j c_j^2 (c_j: the entries of column
 * j) exceeds limit: the products would not pay (a dense column costs m^2); otherwise returns 1
 * with *p_out = p. */
static int sparse_rows_system(gls_t *g, double *dst, size_t *p_out, double limit)
{
  const size_t n = g->n, m = g->m, nblk = (n + GLS_CBLK - 1) / GLS_CBLK;
  size_t pu = 0;
  for (size_t k = 0; k < m; k++)
    if (g->cdrop[k] == 0) g->rowid[pu++] = (double)k;
  size_t p = pu;
  for (size_t i = 0; i < n; i++)
    if (g->est[i] == EST_ACTIVE) g->rowid[p++] = -(double)(i + 1);
  *p_out = p;
  double *hb = g->AV, *nd = hb + (n < GLS_CBLK ? n : GLS_CBLK);
  const double *x = g->x, *V = g->V, *xv = g->xv, *acol = g->a_col, *aval = g->a_val, *rowid = g->rowid;
  const double *blk = g->a_blk;
  double work2 = 0;
  for (size_t q = 0; q < p; q++) {
    memset(dst + q * p, 0, (q + 1) * sizeof(double));
    g->r[q] = q < pu ? 0 : x[(size_t)(-rowid[q]) - 1];
  }
  for (size_t bk = 0; bk < nblk; bk++) {
    const size_t j0 = bk * GLS_CBLK, j1 = n - j0 < GLS_CBLK ? n : j0 + GLS_CBLK;
    double *h = hb - j0; /* the newest entry of column j in [j0, j1) */
    for (size_t j = j0; j < j1; j++) h[j] = GLS_NONE;
    size_t t = 0;
    for (size_t q = 0; q < pu; q++) {
      const double *bq = blk + gls_ix(rowid[q]) * (nblk + 1) + bk;
      double *Mq = dst + q * p, s = g->r[q], d = Mq[q];
      for (size_t e = gls_ix(bq[0]), e1 = gls_ix(bq[1]); e < e1; e++) {
        const size_t j = gls_ix(acol[e]);
        const double a = aval[e], vj = xv[2 * j + 1];
        s += a * xv[2 * j];
        if (vj < 0) continue; /* fixed */
        const double w = a * vj;
        size_t c = 0;
        for (double f = h[j]; f != GLS_NONE; c++) {
          const double *lf = nd + 3 * gls_ix(f);
          Mq[gls_ix(lf[1])] += w * lf[2];
          f = lf[0];
        }
        d += w * a;
        if (limit > 0 && (work2 += (double)(2 * c + 1)) > limit) return 0;
        nd[3 * t] = h[j], nd[3 * t + 1] = (double)q, nd[3 * t + 2] = a;
        h[j] = (double)t++;
      }
      g->r[q] = s;
      Mq[q] = d;
    }
    for (size_t q = pu; q < p; q++) { /* bound rows e_i of this block's columns */
      const size_t i = (size_t)(-rowid[q]) - 1;
      if (i < j0 || i >= j1) continue;
      double *Mq = dst + q * p;
      const double w = V[i];
      for (double f = h[i]; f != GLS_NONE;) {
        const double *lf = nd + 3 * gls_ix(f);
        Mq[gls_ix(lf[1])] += w * lf[2];
        f = lf[0];
      }
      Mq[q] += w;
    }
  }
  for (size_t q = 0; q < pu; q++) g->r[q] -= g->b[gls_ix(rowid[q])];
  return 1;
}

/* xhat over column block bk: x - V A^T lam, A^T lam summed in xhat over the first nu rows in use
 * (the bound rows after them only hold estimates at 0), each u_j in increasing row order. */
static void xhat_block(const gls_t *g, size_t bk, size_t nu, const double *lam, double *xhat)
{
  const size_t n = g->n, nblk = (n + GLS_CBLK - 1) / GLS_CBLK;
  const size_t j0 = bk * GLS_CBLK, j1 = n - j0 < GLS_CBLK ? n : j0 + GLS_CBLK;
  const double *acol = g->a_col, *aval = g->a_val;
  for (size_t j = j0; j < j1; j++) xhat[j] = 0;
  for (size_t q = 0; q < nu; q++) {
    const double *bq = g->a_blk + gls_ix(g->rowid[q]) * (nblk + 1) + bk;
    const double l = lam[q];
    for (size_t e = gls_ix(bq[0]), e1 = gls_ix(bq[1]); e < e1; e++) xhat[gls_ix(acol[e])] += aval[e] * l;
  }
  for (size_t j = j0; j < j1; j++)
    xhat[j] = est_fixed(g, j) ? g->x[j] : est_held0(g, j) ? 0.0 : g->x[j] - g->V[j] * xhat[j];
}

/* Adds column block bk's terms to the residuals rs and their sizes rsc of rows [k0, k1). */
static void resid_block(const gls_t *g, size_t bk, size_t k0, size_t k1, const double *xhat, double *rs,
                        double *rsc)
{
  const size_t nblk = (g->n + GLS_CBLK - 1) / GLS_CBLK;
  const double *acol = g->a_col, *aval = g->a_val, *xv = g->xv;
  for (size_t k = k0; k < k1; k++) {
    const double *bq = g->a_blk + k * (nblk + 1) + bk;
    double s = rs[k], sc = rsc[k];
    for (size_t e = gls_ix(bq[0]), e1 = gls_ix(bq[1]); e < e1; e++) {
      const size_t j = gls_ix(acol[e]);
      const double t = aval[e] * xhat[j];
      s += t;
      sc += fabs(t) + fabs(aval[e] * xv[2 * j]);
    }
    rs[k] = s;
    rsc[k] = sc;
  }
}

/* lam = M^{-1} r; xhat = x - V A^T lam; then every constraint's residual res_s[k] = A_k xhat - b_k
 * and its terms res_scale[k] = |b_k| + sum_j |A_kj| (|xhat_j| + |x_j|), dropped rows too (into the
 * M0 area, free after the pivot test: 2 m <= P^2).  Two threads: xhat by column blocks, then the
 * residuals by row parts; one thread: the residuals of each block right after its xhat, while it
 * is in cache.  Either way each residual sums over its entries in order. */
static void solve_update_sparse(gls_t *g, size_t p, double *xhat)
{
  const size_t n = g->n, m = g->m, pu = p, nblk = (n + GLS_CBLK - 1) / GLS_CBLK;
  double *lam = g->lam;
  memcpy(lam, g->r, p * sizeof(double));
  /* L L^T lam = r by two dtrsv (L: M's row-major lower triangle): 3x faster than dpotrs with one
   * right-hand side (its dtrsm path), 22 against 70 us at p = 399 */
  int nt = blas1_begin();
  cblas_dtrsv(CblasRowMajor, CblasLower, CblasNoTrans, CblasNonUnit, (int)p, g->M, (int)p, lam, 1);
  cblas_dtrsv(CblasRowMajor, CblasLower, CblasTrans, CblasNonUnit, (int)p, g->M, (int)p, lam, 1);
  blas1_end(nt);
  size_t nu = 0;
  while (nu < pu && g->rowid[nu] >= 0) nu++;
  double *rs = g->M0, *rsc = rs + m;
  for (size_t k = 0; k < m; k++) {
    rs[k] = -g->b[k];
    rsc[k] = fabs(g->b[k]);
  }
#ifdef _OPENMP
  const int par = g->nnz >= GLS_PAR_NNZ && omp_get_max_threads() > 1;
#else
  const int par = 0;
#endif
  if (!par) {
    for (size_t bk = 0; bk < nblk; bk++) {
      xhat_block(g, bk, nu, lam, xhat);
      resid_block(g, bk, 0, m, xhat, rs, rsc);
    }
  } else {
#pragma omp parallel
    {
#pragma omp for schedule(static)
      for (size_t bk = 0; bk < nblk; bk++) xhat_block(g, bk, nu, lam, xhat);
#pragma omp for schedule(static)
      for (size_t pt = 0; pt < GLS_RPARTS; pt++)
        for (size_t bk = 0; bk < nblk; bk++)
          resid_block(g, bk, m * pt / GLS_RPARTS, m * (pt + 1) / GLS_RPARTS, xhat, rs, rsc);
    }
  }
  g->res_s = rs;
  g->res_scale = rsc;
}

/* Dense A V of the rows in use (p x n, fixed columns zero), into the AV area, for the covariance. */
static void dense_av_sparse(gls_t *g, size_t p)
{
  const size_t n = g->n;
  double *dst = g->AV;
  memset(dst, 0, p * n * sizeof(double));
  for (size_t k = 0, q = 0; k < g->m; k++) {
    if (g->cdrop[k] != 0) continue;
    for (size_t e = gls_ix(g->a_ptr[k]); e < gls_ix(g->a_ptr[k + 1]); e++) {
      const size_t j = gls_ix(g->a_col[e]);
      if (!est_fixed(g, j)) dst[q * n + j] = g->a_val[e] * g->V[j];
    }
    q++;
  }
  size_t q = 0; /* the bound rows follow the user rows, in index order */
  for (size_t k = 0; k < g->m; k++) q += g->cdrop[k] == 0;
  for (size_t i = 0; i < n && q < p; i++)
    if (g->est[i] == EST_ACTIVE) dst[q++ * n + i] = g->V[i];
}

/* ------------------------------------------------------------------ validation */

static emi_err_t gls_validate(gls_t *g, const emi_gls_problem_t *pr)
{
  const size_t n = g->n;
  for (size_t i = 0; i < n; i++)
    if (!isfinite(pr->x[i])) return EMI_ERROR(EMI_ERR_DOMAIN, "GLS estimate x[%zu] is %g, expected a finite value", i, pr->x[i]);
  if (g->blas && pr->v_diag && g->m > 0 && g->P >= 8 && g->P * n >= 4096) {
    /* one scan of A that also records its nonzeros (sparse constraints, above) */
    int fits = 0;
    EMI_CALL(scan_sparse(g, &fits));
    g->sparse = fits && 8 * g->nnz <= g->m * n;
    g->xv = g->AV + 2 * n + 3 * g->nnz; /* after the lists of sparse_rows_system */
  } else {
    for (size_t k = 0; k < g->m; k++) {
      if (!isfinite(pr->b[k]))
        return EMI_ERROR(EMI_ERR_DOMAIN, "GLS right-hand side b[%zu] is %g, expected a finite value", k, pr->b[k]);
      for (size_t j = 0; j < n; j++)
        if (!isfinite(pr->A[k * n + j]))
          return EMI_ERROR(EMI_ERR_DOMAIN, "GLS constraint matrix A[%zu][%zu] is %g, expected a finite value", k, j,
                           pr->A[k * n + j]);
    }
  }
  for (size_t i = 0; i < n; i++) {
    double vii = pr->v_diag ? pr->V[i] : pr->V[i * n + i];
    if (!isfinite(vii) || vii < 0)
      return EMI_ERROR(EMI_ERR_DOMAIN, "GLS variance of estimate %zu is %g, expected finite and >= 0", i, vii);
    g->est[i] = (vii == 0 || (pr->fixed && pr->fixed[i])) ? EST_FIXED : EST_FREE;
    if (g->sparse) g->xv[2 * i] = pr->x[i], g->xv[2 * i + 1] = g->est[i] == EST_FIXED ? -1.0 : vii;
  }
  if (pr->v_diag) return EMI_SUCCESS;
  for (size_t i = 0; i < n; i++) {
    double vii = pr->V[i * n + i];
    for (size_t j = 0; j < n; j++) {
      double a = pr->V[i * n + j], c = pr->V[j * n + i];
      if (!isfinite(a))
        return EMI_ERROR(EMI_ERR_DOMAIN, "GLS covariance V[%zu][%zu] is %g, expected a finite value", i, j, a);
      if (vii == 0 && a != 0)
        return EMI_ERROR(EMI_ERR_DOMAIN,
                         "GLS estimate %zu has variance 0 but covariance V[%zu][%zu] = %g: a zero-variance row of V "
                         "must be all zero",
                         i, i, j, a);
      if (g->o.check_v && j < i && fabs(a - c) > 1e-12 * (fabs(a) + fabs(c)))
        return EMI_ERROR(EMI_ERR_DOMAIN, "GLS covariance is not symmetric: V[%zu][%zu] = %.17g but V[%zu][%zu] = %.17g",
                         i, j, a, j, i, c);
    }
  }
  if (!g->o.check_v) return EMI_SUCCESS;
  /* Positive definiteness of the adjustable block. */
  size_t nf = 0;
  for (size_t i = 0; i < n; i++) nf += g->est[i] == EST_FREE;
  if (nf == 0) return EMI_SUCCESS;
  size_t a = 0;
  for (size_t i = 0; i < n; i++) {
    if (g->est[i] != EST_FREE) continue;
    size_t c = 0;
    for (size_t j = 0; j < n; j++)
      if (g->est[j] == EST_FREE) g->Vc[a * nf + c++] = pr->V[i * n + j];
    a++;
  }
  int info = 0;
  EMI_CALL(chol_factor(g, nf, g->Vc, nf, &info));
  if (info > 0) {
    size_t k = 0, q = 0;
    for (size_t i = 0; i < n; i++)
      if (g->est[i] == EST_FREE && q++ == (size_t)info - 1) k = i;
    return EMI_ERROR(EMI_ERR_NOT_SPD,
                     "GLS covariance V restricted to the %zu adjustable estimates is not positive definite: the "
                     "Cholesky pivot of estimate %zu (leading minor %d) is not positive; fix V, hold dependent "
                     "estimates fixed, or set check_v = 0 to accept a semi-definite V",
                     nf, k, info);
  }
  return EMI_SUCCESS;
}

/* ------------------------------------------------------------------ constraint rows */

/* Rows in use: user constraints not dropped, then bounds of estimates held at 0 (with a row). */
static size_t build_rows(gls_t *g)
{
  const size_t n = g->n;
  size_t p = 0;
  for (size_t k = 0; k < g->m; k++) {
    if (g->cdrop[k] != 0) continue;
    const double *a = g->A + k * n;
    double *row = g->Ac + p * n, s = 0;
    for (size_t j = 0; j < n; j++) {
      s += a[j] * g->x[j];
      row[j] = est_fixed(g, j) ? 0.0 : a[j];
    }
    g->r[p] = s - g->b[k];
    g->rowid[p] = (double)k;
    p++;
  }
  for (size_t i = 0; i < n; i++) {
    if (g->est[i] != EST_ACTIVE) continue;
    double *row = g->Ac + p * n;
    memset(row, 0, n * sizeof(double));
    row[i] = 1.0;
    g->r[p] = g->x[i];
    g->rowid[p] = -(double)(i + 1);
    p++;
  }
  return p;
}

static int row_is_bound(const gls_t *g, size_t q) { return g->rowid[q] < 0; }
static size_t row_index(const gls_t *g, size_t q)
{
  return g->rowid[q] < 0 ? (size_t)(-g->rowid[q]) - 1 : (size_t)g->rowid[q];
}

static size_t fmt_row(char *buf, size_t len, const gls_t *g, size_t q)
{
  int w = row_is_bound(g, q) ? snprintf(buf, len, "bound on x[%zu]", row_index(g, q))
                             : snprintf(buf, len, "constraint %zu", row_index(g, q));
  return w < 0 ? 0 : (size_t)w;
}

/* |A_q| |x| + |b_q| for row q (as built). */
static double row_scale(const gls_t *g, size_t q)
{
  if (row_is_bound(g, q)) return fabs(g->x[row_index(g, q)]);
  size_t k = row_index(g, q);
  double s = fabs(g->b[k]);
  for (size_t j = 0; j < g->n; j++) s += fabs(g->A[k * g->n + j] * g->x[j]);
  return s;
}

/* In-order Cholesky of M0 that skips dependent rows (see emi_gls.h).  Classifies each dependent row;
 * acts on the redundant ones (drop / mark implied) and fails on inconsistent ones or, under the
 * ERROR policy, on redundant user constraints.  *changed = 1 when rows were removed. */
static emi_err_t analyse_dependence(gls_t *g, size_t p, int lapack_info, int *changed)
{
  emi_err_t err = EMI_SUCCESS;
  double *L = g->M0, *c = g->coef;
  const double tol = g->o.rank_tol;
  char msg[900];
  size_t o = 0, nlisted = 0, ndep = 0, nincons = 0, nbound_incons = 0, nredund_user = 0;
  /* Rows flagged independent: lam[] reused as a 0/1 flag array (it is recomputed by the solve). */
  double *indep = g->lam;
  *changed = 0;
  msg[0] = 0;
  for (size_t k = 0; k < p; k++) {
    double mkk = L[k * p + k];
    for (size_t j = 0; j < k; j++) {
      if (indep[j] == 0) continue;
      double s = L[k * p + j];
      for (size_t i = 0; i < j; i++)
        if (indep[i] != 0) s -= L[k * p + i] * L[j * p + i];
      L[k * p + j] = s / L[j * p + j];
    }
    double d = mkk;
    for (size_t i = 0; i < k; i++)
      if (indep[i] != 0) d -= L[k * p + i] * L[k * p + i];
    if (mkk > 0 && d > tol * mkk) {
      L[k * p + k] = sqrt(d);
      indep[k] = 1;
      continue;
    }
    indep[k] = 0;
    ndep++;
    /* c solves L_II^T c = y with y = L[k][I]: back substitution over the independent rows before k. */
    for (size_t j = k; j-- > 0;) {
      c[j] = 0;
      if (indep[j] == 0) continue;
      double s = L[k * p + j];
      for (size_t i = j + 1; i < k; i++)
        if (indep[i] != 0) s -= L[i * p + j] * c[i];
      c[j] = s / L[j * p + j];
    }
    double rho = g->r[k], scale = row_scale(g, k), cmax = 0;
    int uses_bound = 0;
    for (size_t j = 0; j < k; j++)
      if (indep[j] != 0) {
        rho -= c[j] * g->r[j];
        scale += fabs(c[j]) * row_scale(g, j);
        cmax = fmax(cmax, fabs(c[j]));
      }
    for (size_t j = 0; j < k; j++)
      if (indep[j] != 0 && fabs(c[j]) > 1e-9 * cmax && row_is_bound(g, j)) uses_bound = 1;
    int consistent = fabs(rho) <= g->o.consistency_tol_rel * scale;
    int bound = row_is_bound(g, k);
    if (!consistent) {
      nincons++;
      if (bound || uses_bound) nbound_incons++;
    } else if (bound) {
      g->est[row_index(g, k)] = EST_IMPLIED; /* the others already hold it at 0 */
      *changed = 1;
    } else if (g->o.redundant == EMI_GLS_REDUNDANT_DROP) {
      g->cdrop[row_index(g, k)] = 1;
      *changed = 1;
    } else {
      nredund_user++;
    }
    if (bound && consistent) continue; /* nothing to report */
    if (nlisted < 4 && o + 200 < sizeof msg) {
      nlisted++;
      o += (size_t)snprintf(msg + o, sizeof msg - o, "%s", nlisted > 1 ? "; " : "");
      o += fmt_row(msg + o, sizeof msg - o, g, k);
      int nterm = 0;
      for (size_t j = 0; j < k && o + 120 < sizeof msg; j++) {
        if (indep[j] == 0 || !(fabs(c[j]) > 1e-9 * cmax)) continue;
        if (nterm == 6) {
          o += (size_t)snprintf(msg + o, sizeof msg - o, " + ...");
          break;
        }
        if (nterm) o += (size_t)snprintf(msg + o, sizeof msg - o, " %c %.6g * ", c[j] < 0 ? '-' : '+', fabs(c[j]));
        else o += (size_t)snprintf(msg + o, sizeof msg - o, " = %.6g * ", c[j]);
        o += fmt_row(msg + o, sizeof msg - o, g, j);
        nterm++;
      }
      if (nterm == 0) o += (size_t)snprintf(msg + o, sizeof msg - o, " involves only fixed estimates");
      else o += (size_t)snprintf(msg + o, sizeof msg - o, " on the adjustable estimates");
      o += consistent ? (size_t)snprintf(msg + o, sizeof msg - o, " (redundant: its right-hand side agrees)")
                      : (size_t)snprintf(msg + o, sizeof msg - o,
                                         " (inconsistent: its right-hand side is off by %.6g)", -rho);
    }
  }
  if (o >= sizeof msg) o = sizeof msg - 1;
  if (nincons > 0 && nbound_incons == nincons && nbound_incons > 0)
    EMI_FAIL(EMI_ERR_INFEASIBLE,
             "GLS has no non-negative solution: holding the negative estimates at 0 contradicts the constraints: %s",
             msg);
  if (nincons > 0)
    EMI_FAIL(EMI_ERR_INCONSISTENT, "GLS constraints are inconsistent given V (%zu of %zu dependent): %s", ndep, p,
             msg);
  if (nredund_user > 0)
    EMI_FAIL(EMI_ERR_SINGULAR,
             "GLS constraints are redundant given V (A V A^T is singular, %zu of %zu dependent): %s; remove them or "
             "use redundant = DROP",
             ndep, p, msg);
  if (!*changed)
    EMI_FAIL(EMI_ERR_SINGULAR,
             "GLS: A V A^T (%zu constraints) is not numerically positive definite (Cholesky info %d) although no "
             "constraint is dependent at rank_tol = %g",
             p, lapack_info, tol);
cleanup:
  return err;
}

/* ------------------------------------------------------------------ driver */

static emi_err_t gls_run(const emi_gls_problem_t *pr, const emi_gls_opts_t *opts, double *xhat, double *cov,
                         unsigned char *active, unsigned char *dropped, double *work, size_t lwork,
                         emi_gls_result_t *res, int blas)
{
  emi_err_t err = EMI_SUCCESS;
  gls_t g;
  memset(&g, 0, sizeof g);
  if (opts) g.o = *opts;
  else emi_gls_opts_default(&g.o);
  if (!pr) EMI_FAIL(EMI_ERR_ARG, "GLS problem is NULL");
  if (pr->n == 0 || !pr->x || !pr->V || (pr->m > 0 && (!pr->A || !pr->b)) || !xhat)
    EMI_FAIL(EMI_ERR_ARG, "GLS problem: n = %zu with x, V, A, b, xhat %s; expected n >= 1 and the arrays given",
             pr->n, pr->x && pr->V && xhat ? "partly NULL" : "NULL");
  if (!(g.o.rank_tol > 0 && g.o.rank_tol < 1) || !(g.o.consistency_tol_rel >= 0) ||
      (g.o.redundant != EMI_GLS_REDUNDANT_ERROR && g.o.redundant != EMI_GLS_REDUNDANT_DROP))
    EMI_FAIL(EMI_ERR_ARG, "GLS options: rank_tol = %g (expected in (0, 1)), consistency_tol_rel = %g (>= 0), "
             "redundant = %d", g.o.rank_tol, g.o.consistency_tol_rel, (int)g.o.redundant);
  g.n = pr->n;
  g.m = pr->m;
  g.x = pr->x;
  g.V = pr->V;
  g.A = pr->A;
  g.b = pr->b;
  g.v_diag = pr->v_diag != 0;
  g.blas = blas;
  const size_t n = g.n, need = emi_gls_work_len(n, g.m, g.v_diag, g.o.nonneg);
  if (!work || lwork < need)
    EMI_FAIL(EMI_ERR_ARG, "GLS workspace holds %zu doubles, expected at least %zu (emi_gls_work_len)",
             work ? lwork : 0, need);
  g.P = g.m + (g.o.nonneg ? n : 0);
  const size_t P = g.P;
  double *w = work;
  g.Ac = w, w += P * n;
  g.AV = w, w += P * n;
  g.M = w, w += P * P;
  g.M0 = w, w += P * P;
  g.r = w, w += P;
  g.lam = w, w += P;
  g.rowid = w, w += P;
  g.coef = w, w += P;
  g.cdrop = w, w += P;
  g.est = w, w += n;
  g.xs = w, w += n;
  g.Vc = g.v_diag ? NULL : w;
  for (size_t k = 0; k < P; k++) g.cdrop[k] = 0;

  EMI_TRY(gls_validate(&g, pr));

  int solves = 0;
  size_t p = 0;
  for (int first = 1;; first = 0) {
    g.res_s = NULL;
    if (g.sparse) {
      /* on the first pass the column counts decide whether the sparse products pay: sum_j c_j^2
       * at most p^2 n / 64 */
      size_t pu = 0;
      for (size_t k = 0; k < g.m; k++) pu += g.cdrop[k] == 0;
      const double limit = first ? (double)pu * (double)pu * (double)n / 64 : 0;
      g.sparse = (!first || pu > 0) && sparse_rows_system(&g, g.M, &p, limit);
    }
    if (!g.sparse) p = build_rows(&g);
    if (p == 0) {
      for (size_t j = 0; j < n; j++) xhat[j] = est_held0(&g, j) ? 0.0 : g.x[j];
      break;
    }
    if (g.sparse) {
      for (size_t k = 0; k < p; k++) g.M0[k * p + k] = g.M[k * p + k]; /* the rest only if needed, below */
    } else {
      form_system(&g, p);
    }
    int info = 0;
    EMI_TRY(chol_factor(&g, p, g.M, p, &info));
    if (++solves > (int)(n + g.m + 2)) EMI_FAIL(EMI_ERR_INTERNAL, "GLS active set did not settle");
    int ok = info == 0;
    for (size_t k = 0; ok && k < p; k++) {
      double l = g.M[k * p + k];
      ok = g.M0[k * p + k] > 0 && l * l > g.o.rank_tol * g.M0[k * p + k];
    }
    if (!ok) {
      int changed = 0;
      for (size_t k = 0; k < p; k++) g.lam[k] = 0;
      if (g.sparse) sparse_rows_system(&g, g.M0, &p, 0);
      EMI_TRY(analyse_dependence(&g, p, info, &changed));
      continue;
    }
    if (g.sparse) solve_update_sparse(&g, p, xhat);
    else EMI_TRY(solve_update(&g, p, xhat));
    if (!g.o.nonneg) break;
    int grew = 0;
    for (size_t j = 0; j < n; j++)
      if (g.est[j] == EST_FREE && xhat[j] < 0) {
        g.est[j] = EST_ACTIVE;
        grew = 1;
      }
    if (!grew) break;
  }
  { /* every constraint must hold to rounding (GLS_RESIDUAL_TOL relative to its terms), dropped ones too:
     * a dependent system judged consistent by the Cholesky pivots, but that is not, would otherwise
     * pass silently.  Before the covariance, which may reuse the area of A's nonzeros. */
    double mr = 0, worst = 0, worst_s = 0, worst_scale = 0;
    size_t wk = 0;
    for (size_t k = 0; k < g.m; k++) {
      double s = -g.b[k], scale = fabs(g.b[k]);
      if (g.res_s)
        s = g.res_s[k], scale = g.res_scale[k];
      else if (g.sparse)
        for (size_t e = (size_t)g.a_ptr[k]; e < (size_t)g.a_ptr[k + 1]; e++) {
          const size_t j = (size_t)g.a_col[e];
          const double t = g.a_val[e] * xhat[j];
          s += t;
          scale += fabs(t) + fabs(g.a_val[e] * g.x[j]);
        }
      else
        for (size_t j = 0; j < n; j++) {
          const double t = g.A[k * n + j] * xhat[j];
          s += t;
          scale += fabs(t) + fabs(g.A[k * n + j] * g.x[j]);
        }
      mr = fmax(mr, fabs(s));
      if (fabs(s) > worst * (scale > 0 ? scale : 1)) {
        worst = fabs(s) / (scale > 0 ? scale : 1);
        worst_s = s;
        worst_scale = scale;
        wk = k;
      }
    }
    if (res) res->max_residual = mr;
    if (worst > GLS_RESIDUAL_TOL)
      EMI_FAIL(EMI_ERR_INCONSISTENT,
               "GLS: after the solve constraint %zu is off by %.6g (its terms, before and after, sum to %.6g in "
               "absolute value): the "
               "constraints are inconsistent given V, or too ill-conditioned for double precision; check them, or "
               "drop dependent ones",
               wk, worst_s, worst_scale);
  }
  if (cov && g.sparse && p > 0) dense_av_sparse(&g, p); /* the covariance takes the dense A V of the rows in use */
  if (cov) {
    if (p == 0) {
      for (size_t i = 0; i < n * n; i++) cov[i] = 0;
      for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
          if (g.est[i] == EST_FREE && g.est[j] == EST_FREE)
            cov[i * n + j] = g.v_diag ? (i == j ? g.V[i] : 0.0) : g.V[i * n + j];
    } else {
      covariance(&g, p, cov);
    }
  }
  for (size_t j = 0; j < n && active; j++) active[j] = (unsigned char)est_held0(&g, j);
  for (size_t k = 0; k < g.m && dropped; k++) dropped[k] = g.cdrop[k] != 0;
  if (res) {
    res->solves = solves;
    res->n_fixed = res->n_active = res->n_dropped = 0;
    for (size_t j = 0; j < n; j++) {
      res->n_fixed += g.est[j] == EST_FIXED;
      res->n_active += est_held0(&g, j);
    }
    for (size_t k = 0; k < g.m; k++) res->n_dropped += g.cdrop[k] != 0;
  }
cleanup:
  return err;
}

emi_err_t emi_gls_solve(const emi_gls_problem_t *prob, const emi_gls_opts_t *opts, double *xhat, double *cov,
                        unsigned char *active, unsigned char *dropped, double *work, size_t lwork,
                        emi_gls_result_t *res)
{
  EMI_CALL(gls_run(prob, opts, xhat, cov, active, dropped, work, lwork, res, 1));
  return EMI_SUCCESS;
}

emi_err_t emi_gls_solve_ref(const emi_gls_problem_t *prob, const emi_gls_opts_t *opts, double *xhat, double *cov,
                            unsigned char *active, unsigned char *dropped, double *work, size_t lwork,
                            emi_gls_result_t *res)
{
  EMI_CALL(gls_run(prob, opts, xhat, cov, active, dropped, work, lwork, res, 0));
  return EMI_SUCCESS;
}
