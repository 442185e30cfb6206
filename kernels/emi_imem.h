/* emi_imem.h: the Bayesian measurement model of migration flows (after IMEM: Raymer et al. 2013,
 * JASA 108:801; Wisniowski et al. 2013, JOS 29:583) and its Gibbs sampler.
 *
 * Model
 * -----
 * Series k = 0..K-1 (a corridor i -> j, or a citizenship group), periods t = 0..T-1.
 * The true flow is y_kt = exp(z_kt), z_kt = x_kt' beta + u_k + e_kt, with
 *     u_k ~ N(0, sigma_u^2)                                   series effect
 *     e_k0 ~ N(0, sigma_e^2 / (1 - rho^2)), e_kt = rho e_k,t-1 + N(0, sigma_e^2)   AR(1) over periods
 * Every report r (a count n_r of series k_r in period t_r from some source) sees it through
 *     n_r ~ Poisson(exp(eta_r)),  eta_r = z_{k_r t_r} + log lambda_{c_r} + log kappa_r + xi_r,
 *     xi_r ~ N(0, tau_{a_r}^2)
 * lambda_c = coverage of the source (1 - undercount), one parameter per coverage class c with a
 * Beta(alpha_c, beta_c) prior, or fixed at 1 for a benchmark source (c_r = -1); kappa_r a known
 * correction (duration of stay); a_r the report's accuracy class, tau_a^2 ~ InvGamma(shape, scale).
 * beta ~ N(0, beta_sd^2), sigma_u^2 and sigma_e^2 ~ InvGamma, rho ~ Uniform(-1, 1).
 * The double-entry model (sending- and receiving-country reports of a corridor) and the
 * border-based model (border outcomes, declarations, mirror statistics of a citizenship group) are
 * two configurations of it: they differ only in what the series and the reports are.
 *
 * Sampler (a blocked, partially collapsed Gibbs sampler; why: docs in README "Estimate")
 * ------------------------------------------------------------------------------------
 * One sweep, in this order:
 *   1. eta_r | z, lambda, tau  for every report: the conditional is log-concave in one dimension;
 *      an independence Metropolis-Hastings step with a Student-t(5) proposal centred at the
 *      conditional's mode (Newton) with its curvature scale.  Heavier tails than the target, so
 *      the step is uniformly ergodic; acceptance is typically > 0.9.
 *   2. theta = (beta, log lambda) | eta, sigma_u, sigma_e, rho, tau  with u and e INTEGRATED OUT:
 *      given eta the model is linear-Gaussian, per series w_k = G_k theta + noise with noise
 *      covariance V_k = sigma_u^2 11' + sigma_e^2 R(rho) + diag(tau^2) on the reported periods;
 *      Q = sum_k G_k' V_k^-1 G_k is assembled (per-series Cholesky, LAPACKE, summed in series
 *      order), and the collapsed conditional -theta'Q theta/2 + b'theta + log priors is updated ten
 *      times in turn: beta as one exact Gaussian block given the coverages (normal prior; collinear
 *      covariates move together), each log lambda by slice sampling under its exact log-Beta prior
 *      (log-concave, bounded above by 0).  This removes the slow mixing between coverages and flows
 *      that a one-at-a-time Gibbs sampler suffers (a coverage and all flows of its source move
 *      together); the step is exact, so its "acceptance" is 1.
 *   2b. each tau_a (classes with reports), then rho, then sigma_e^2 | eta, theta, with u and e still
 *      integrated out (the collapsed model of step 2), by slice sampling in log tau, atanh rho and
 *      log sigma_e^2 (fixed widths; Neal 2003 with the random split of the stepping-out budget).  The
 *      centred draws of step 4 condition on xi = eta - z, and when tau is small against sigma_e the
 *      split of each report's deviation between xi and the AR term moves slowly (tau[high] and rho
 *      were the slowest quantities of the EU fit).  A partially collapsed Gibbs step (van Dyk & Park
 *      2008): steps 2 and 2b sample conditionals of p(theta, tau, rho, sigma_e | eta, sigma_u) and
 *      step 3 draws u, e afresh from their full conditional.  A series' marginal costs O(T + n): the
 *      precision A of (e, u) is tridiagonal in e bordered by u, so its LDL' factor has no fill but
 *      u's row (emi_imem_marg_series; the dense twin emi_imem_marg_series_ref).
 *   3. (u_k, e_k) | theta, eta, hyper-parameters: exact Gaussian draw per series (dimension T + 1),
 *      from the same O(T) factor (emi_imem_ue_draw; twin emi_imem_ue_draw_ref, dense LAPACKE).
 *   4. sigma_u^2 (conjugate, then a move with the split of each series' level between u and e
 *      integrated out), rho by slice sampling (stepping out; the width is adapted during warm-up and
 *      frozen after), sigma_e^2 and tau_a^2 conjugate inverse-gamma draws, then each tau_a again in
 *      the non-centred parametrisation (eta = m + tau eps, eps fixed; slice sampling in log tau).
 * Random numbers: every draw comes from a Philox stream keyed by (seed, chain, iteration, step,
 * index of the report / series), never by thread or rank, and sums are taken in a fixed order, so a
 * chain's draws are identical for any number of threads, and chains can run on any rank.
 */
#ifndef EMI_IMEM_H
#define EMI_IMEM_H

#include <stddef.h>
#include <stdint.h>

#include "emi_err.h"

#define EMI_IMEM_MAX_COV 64 /* covariates incl. intercept */
#define EMI_IMEM_MAX_T 4096 /* periods (emi_imem_check) */

/* The problem: data and priors.  Arrays are owned by the caller. */
typedef struct {
  int K, T, P;        /* series, periods, covariates (column 0 is usually the intercept) */
  const double *x;    /* x[(k*T + t)*P + p] */
  int64_t nrep;       /* reports */
  const int32_t *rep_k, *rep_t; /* series and period of each report */
  const int64_t *rep_n;         /* the reported count (>= 0) */
  const int32_t *rep_cov;       /* coverage class, -1 = benchmark (lambda = 1) */
  const double *rep_logkappa;   /* log duration correction (0 = none) */
  const int32_t *rep_acc;       /* accuracy class 0..nacc-1 */
  int ncov;                     /* coverage classes (parameters) */
  const double *cov_alpha, *cov_beta; /* Beta prior of each lambda */
  int nacc;                     /* accuracy classes */
  const double *acc_shape, *acc_scale; /* InvGamma prior of each tau^2 */
  double beta_sd;               /* prior sd of each beta */
  double su_shape, su_scale;    /* InvGamma prior of sigma_u^2 */
  double se_shape, se_scale;    /* InvGamma prior of sigma_e^2 */
} emi_imem_data_t;

/* The state of one chain: everything the next sweep depends on (a checkpoint stores it whole). */
typedef struct {
  int64_t iter;        /* sweeps done */
  double *beta;        /* P */
  double *loglam;      /* ncov: log lambda */
  double *u;           /* K */
  double *e;           /* K*T */
  double *eta;         /* nrep */
  double *tau2;        /* nacc */
  double sig2_u, sig2_e, rho;
  double rho_width;    /* slice width for rho (adapted during warm-up) */
  int64_t n_theta_prop, n_theta_acc; /* step 2 acceptance (counts since the start) */
  int64_t n_eta_prop, n_eta_acc;     /* step 1 acceptance */
  struct emi_imem_ws *ws;            /* scratch and report lists (not part of the state proper) */
} emi_imem_state_t;

/* Scalars stored in a state (the arrays are sized from the data). */
#define EMI_IMEM_STATE_SCALARS 9

/* Check the data (sizes, indices, counts, priors): EMI_ERR_ARG / EMI_ERR_DOMAIN naming the
 * first bad item.  Also: every coverage class must be reached by at least one report. */
emi_err_t emi_imem_check(const emi_imem_data_t *d);

/* Allocate a state for d (zeroed) with its workspace; emi_imem_state_free releases both. */
emi_err_t emi_imem_state_alloc(const emi_imem_data_t *d, emi_imem_state_t *s);
void emi_imem_state_free(emi_imem_state_t *s);

/* Initial values for chain `chain`: from the data (log of the reports, averaged per cell) with a
 * chain-specific jitter from stream (seed, chain), so that chains start apart. */
emi_err_t emi_imem_init(const emi_imem_data_t *d, uint64_t seed, int chain, emi_imem_state_t *s);

/* One sweep (steps 1-4 above) of chain `chain`, iteration s->iter; adapt = 1 during warm-up.
 * Thread-parallel inside (OpenMP); the result does not depend on the number of threads. */
emi_err_t emi_imem_sweep(const emi_imem_data_t *d, uint64_t seed, int chain, int adapt, emi_imem_state_t *s);

/* z_kt of the current state into z[K*T]. */
void emi_imem_z(const emi_imem_data_t *d, const emi_imem_state_t *s, double *z);

/* Number of scalar parameters reported per draw: P betas, ncov lambdas, sigma_u, sigma_e, rho,
 * nacc taus; and the values of the current state in that order (lambda = exp(loglam), sigma and
 * tau as standard deviations). */
int emi_imem_nparams(const emi_imem_data_t *d);
void emi_imem_params(const emi_imem_data_t *d, const emi_imem_state_t *s, double *out);

/* The Gaussian marginal of one series' residuals w_j = eta_j - log lambda - log kappa - x'beta
 * (j = 0..n-1: period t[j], accuracy class a[j]) with u and e integrated out,
 *     log N(w; 0, sigma_u^2 11' + sigma_e^2 R(rho) + diag(tau_a[j]^2)),
 * the density that step 2 factors densely; here in O(T + n) through the bordered tridiagonal
 * precision of (e, u) (used by step 2b).  pa[a] = 1 / tau_a^2, la[a] = log tau_a^2; h from
 * emi_imem_marg_hyp; scratch >= 2 T doubles.  -INFINITY when the precision is not positive definite.
 * emi_imem_marg_series_ref is its plain twin (dense V, LAPACKE Cholesky; scratch >= n (n + 1)). */
typedef struct {
  double s2u, s2e, rho;                 /* sigma_u^2, sigma_e^2, rho */
  double pu, pe;                        /* 1 / sigma_u^2, 1 / sigma_e^2 */
  double ldet_s2u, ldet_s2e, ldet_rho;  /* log sigma_u^2, log sigma_e^2, log(1 - rho^2) */
} emi_imem_marg_hyp_t;
void emi_imem_marg_hyp(double s2u, double s2e, double rho, emi_imem_marg_hyp_t *h);
double emi_imem_marg_series(int T, int n, const int32_t *restrict t, const int32_t *restrict a,
                            const double *restrict pa, const double *restrict la, const double *restrict res,
                            const emi_imem_marg_hyp_t *h, double *restrict scratch);
double emi_imem_marg_series_ref(int T, int n, const int32_t *t, const int32_t *a, const double *tau2,
                                const double *res, double s2u, double s2e, double rho, double *scratch);

/* Step 3's exact draw of one series' (u, e_0..e_T-1) ~ N(A^-1 b, A^-1) given the residuals (as for
 * emi_imem_marg_series) and standard normals eps[0..T] (eps[0] for u), in O(T + n) from the same
 * factor; emi_imem_ue_draw_ref is its twin (dense precision, LAPACKE Cholesky, u first; scratch >=
 * (T+1)(T+2)): the two give the same mean and covariance, not the same draw for the same eps.
 * scratch >= 6 T.  0, or 1 when the precision is not positive definite. */
int emi_imem_ue_draw(int T, int n, const int32_t *restrict t, const int32_t *restrict a, const double *restrict pa,
                     const double *restrict la, const double *restrict res, const emi_imem_marg_hyp_t *h,
                     const double *restrict eps, double *restrict u, double *restrict e, double *restrict scratch);
int emi_imem_ue_draw_ref(int T, int n, const int32_t *t, const int32_t *a, const double *tau2, const double *res,
                         double s2u, double s2e, double rho, const double *eps, double *u, double *e, double *scratch);

/* The log posterior density of the current state up to a constant (for tests). */
double emi_imem_logpost(const emi_imem_data_t *d, const emi_imem_state_t *s);

#endif /* EMI_IMEM_H */
