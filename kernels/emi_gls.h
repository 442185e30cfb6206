/* emi_gls.h: GLS reconciliation of estimates to linear accounting constraints (Stone, Champernowne &
 * Meade 1942; Byron 1978).
 *
 * Given estimates x (n) with covariance V (n x n, symmetric positive (semi-)definite, or n variances),
 * and constraints A x = b (A: m x n, row-major), the best linear unbiased reconciled estimates are
 *     xhat     = x - V A^T (A V A^T)^{-1} (A x - b),
 *     cov(xhat) = V - V A^T (A V A^T)^{-1} A V,
 * i.e. the minimiser of (xhat - x)^T V^{-1} (xhat - x) subject to A xhat = b.
 * Computed with BLAS-3 and LAPACK Cholesky:
 *     AV = A V (dgemm; column scaling for diagonal V),  M = AV A^T (dgemm on the lower tiles; for
 *     diagonal V, B B^T with B = A V^{1/2}),
 *     M = L L^T (dpotrf),  lambda = M^{-1} (A x - b) (dpotrs),  xhat = x - AV^T lambda (dgemv),
 *     W = L^{-1} AV (dtrsm),  cov = V - W^T W (dgemm on the upper tiles, mirrored).
 *
 * Fixed estimates.  An estimate is fixed when its variance V_ii is 0 (its row and column of V must
 * then be all zero) or when problem.fixed[i] is set.  Fixed estimates are computed as if their rows and
 * columns of V were zero: V itself is never inverted, so a singular V is fine as long as A V A^T is
 * not.  A fixed estimate is returned bit-for-bit as given and its row and column of cov are 0.
 *
 * Dependent constraints.  Constraint k is dependent when, in the V-metric, it lies (numerically) in the
 * span of the constraints before it: with the rows taken in index order, its Cholesky pivot (the
 * Schur complement of M_kk) is <= rank_tol * M_kk (the squared sine of the angle between the row and
 * the span of the earlier rows).  Writing row k as  sum_i c_i row_i  (c solves M_II c = M_Ik over the
 * independent earlier rows I), the combination w = A_k - c^T A_I does not touch the adjustable
 * estimates, so the constraints can only hold together when
 *     rho = (A_k x - b_k) - sum_i c_i (A_i x - b_i) = 0:
 *   |rho| <= consistency_tol_rel * scale: redundant (implied by the others);
 *   otherwise: inconsistent.
 * A constraint on fixed estimates only has M_kk = 0 and c = 0: it is redundant when the fixed values
 * satisfy it and inconsistent when not.  Errors (the message names the constraints, the combination
 * and the amount):
 *   EMI_ERR_INCONSISTENT  a dependent constraint whose right-hand side disagrees;
 *   EMI_ERR_SINGULAR      redundant constraints under redundant = EMI_GLS_REDUNDANT_ERROR (default);
 *                         with EMI_GLS_REDUNDANT_DROP they are dropped (flagged in `dropped`) and
 *                         the solution still satisfies them to rounding.
 *
 * Non-negativity (opts.nonneg), an active-set heuristic: solve; every adjustable estimate that came
 * out negative is added to the active set S and held at 0 by an extra equality constraint e_i^T xhat = 0
 * (appended after the user's constraints, in increasing i); solve again from the original x and V;
 * repeat until no adjustable estimate is negative.  S only grows, so the loop ends after at most
 * (number of adjustable estimates + 1) rounds.  Estimates in S are returned as exactly 0 and their
 * rows and columns of cov are 0 (the covariance is conditional on the active set).  The result
 * satisfies A xhat = b and xhat >= 0, but, as estimates are never released from S, it need not be
 * the minimiser of the quadratic over {A xhat = b, xhat >= 0} (a primal active-set method that
 * releases bounds with the wrong multiplier sign would be); for the usual case of a few small
 * estimates pushed below zero they coincide.  If the bounds make the constraints unsatisfiable the
 * error is EMI_ERR_INFEASIBLE naming the estimates held at zero.  Fixed estimates are not bounded.
 *
 * After the solve, every constraint (dropped ones too) must hold to 1e-6 of the size of its terms,
 * |b_k| + sum_j |A_kj| (|xhat_j| + |x_j|); otherwise EMI_ERR_INCONSISTENT names the constraint and
 * the amount (an ill-conditioned system whose dependence the pivots misjudged), never a success with
 * A xhat != b.
 *
 * Other errors, all before any arithmetic: EMI_ERR_ARG (sizes, NULL pointers, workspace too small),
 * EMI_ERR_DOMAIN (NaN/Inf in x, V, A or b; a negative variance; a zero variance whose row of V is not
 * zero; V not symmetric), EMI_ERR_NOT_SPD (check_v: V restricted to the adjustable estimates is not
 * positive definite; set check_v = 0 to accept a semi-definite V).
 *
 * Sparse constraints (emi_gls_solve, diagonal V).  Accounting identities touch few estimates each: the
 * row and column totals of an N x N flow matrix have N nonzeros in N^2.  When A has at most 1/8 of its
 * entries nonzero (and sum_j c_j^2 <= p^2 n / 64, c_j the nonzeros of column j of the rows in use),
 * the validation scan that reads A once also records its nonzeros, and A V A^T = sum_j v_j a_j a_j^T,
 * A x and V A^T lambda are formed from them: O(nnz + sum_j c_j^2) instead of O(m^2 n), so the solve
 * costs about one read of A.  The rest (fixed estimates, dependence analysis, active set,
 * covariance) is the dense path's.  The sparse sums run on one thread in index order (the scan in
 * fixed row ranges), so the bits do not depend on the thread count; they differ from the dense
 * path's by rounding only (the tests hold both to emi_gls_solve_ref and to an independent solve).
 *
 * Pure: no I/O, no allocation (the caller passes emi_gls_work_len() doubles).
 * Parallel and reproducible: the products A V, A V A^T, W^T W and the solve L^{-1} A V are cut into
 * fixed 128 x 128 tiles (128-column blocks for the solve), one single-threaded BLAS call per tile, run
 * in OpenMP loops; the factorisation and the small solves run on one BLAS thread.  One large
 * multi-threaded OpenBLAS call would round differently at different thread counts (its edge
 * micro-kernels cover different elements); this way the result is bitwise the same for any
 * OMP_NUM_THREADS (the test checks 1 vs 2).  The calling thread's OpenMP nthreads ICV is set to 1
 * around the single-threaded calls (the OpenMP build of OpenBLAS takes its thread count from it) and
 * restored.
 */
#ifndef EMI_GLS_H
#define EMI_GLS_H

#include <stddef.h>

#include "emi_err.h"

typedef enum {
  EMI_GLS_REDUNDANT_ERROR = 0, /* redundant (consistent, dependent) constraints are EMI_ERR_SINGULAR */
  EMI_GLS_REDUNDANT_DROP       /* drop them, flag them in `dropped`, count them in res->n_dropped */
} emi_gls_redundant_t;

typedef struct {
  size_t n;                   /* number of estimates */
  size_t m;                   /* number of constraints (0 allowed: xhat = x) */
  const double *x;            /* n estimates */
  const double *V;            /* v_diag ? n variances : n*n covariance, row-major, symmetric */
  int v_diag;                 /* V is diagonal, given as its n variances */
  const double *A;            /* m*n constraint matrix, row-major */
  const double *b;            /* m right-hand sides */
  const unsigned char *fixed; /* optional (NULL): n flags, nonzero = hold x_i exactly as given */
} emi_gls_problem_t;

typedef struct {
  int nonneg;                    /* keep adjustable estimates >= 0 (active-set heuristic)  (default 0)  */
  emi_gls_redundant_t redundant; /* policy for redundant constraints                       (ERROR)      */
  double rank_tol;               /* dependent when Schur pivot <= rank_tol * M_kk           (1e-12)      */
  double consistency_tol_rel;    /* redundant when |rho| <= this * scale, where scale =
                                    |b_k| + |A_k||x| + sum_i |c_i| (|b_i| + |A_i||x|)        (1e-9)       */
  int check_v;                   /* check V symmetric and its adjustable block positive
                                    definite (Cholesky, O(n^3/3))                          (1)          */
} emi_gls_opts_t;

typedef struct {
  int solves;              /* Cholesky factorisations of A V A^T: 1, plus one per growth of the active
                              set and one per round of dropping dependent rows */
  size_t n_fixed;          /* estimates held as given */
  size_t n_active;         /* estimates held at 0 by nonneg */
  size_t n_dropped;        /* redundant constraints dropped (EMI_GLS_REDUNDANT_DROP) */
  double max_residual;     /* max_k |A_k xhat - b_k| over all m constraints, recomputed at the end */
} emi_gls_result_t;

void emi_gls_opts_default(emi_gls_opts_t *opts);

/* Doubles of workspace emi_gls_solve needs: with p = m + (nonneg ? n : 0),
 * 2 p n + 2 p^2 + 5 p + 2 n + (v_diag ? 0 : n^2). */
size_t emi_gls_work_len(size_t n, size_t m, int v_diag, int nonneg);

/* Reconcile.  Outputs, all caller-allocated: xhat (n) the reconciled estimates; cov (n*n row-major, or
 * NULL to skip) their covariance; active (n bytes, or NULL) 1 where nonneg holds the estimate at 0;
 * dropped (m bytes, or NULL) 1 where a redundant constraint was dropped.  opts may be NULL
 * (defaults); res may be NULL.  work holds lwork >= emi_gls_work_len(n, m, v_diag, opts->nonneg). */
emi_err_t emi_gls_solve(const emi_gls_problem_t *prob, const emi_gls_opts_t *opts, double *xhat, double *cov,
                        unsigned char *active, unsigned char *dropped, double *work, size_t lwork,
                        emi_gls_result_t *res);

/* Reference twin: the same driver with every BLAS/LAPACK call replaced by plain loops (unblocked
 * Cholesky, triangular solves by substitution).  Agrees with emi_gls_solve to rounding. */
emi_err_t emi_gls_solve_ref(const emi_gls_problem_t *prob, const emi_gls_opts_t *opts, double *xhat, double *cov,
                            unsigned char *active, unsigned char *dropped, double *work, size_t lwork,
                            emi_gls_result_t *res);

#endif /* EMI_GLS_H */
