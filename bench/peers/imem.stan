// bench/peers/imem.stan: the measurement model of `emflow estimate` (kernels/emi_imem.h), written in
// Stan for bench/bench_estimate.py.  The same likelihood and priors, so the same posterior; only the
// parametrisation differs, where that helps NUTS.  Stan 2.21 syntax (Debian's r-cran-rstan 2.21).
//
// The model (emi_imem.h):
//   y_kt = exp(z_kt),  z_kt = x_kt' beta + u_k + e_kt
//   u_k ~ N(0, sigma_u^2);  e_k1 ~ N(0, sigma_e^2 / (1 - rho^2)),  e_kt = rho e_k,t-1 + N(0, sigma_e^2)
//   eta_r ~ N(z_{k_r t_r} + log lambda_{c_r} + log kappa_r, tau_{a_r}^2),  n_r ~ Poisson(exp(eta_r))
//   lambda_c ~ Beta(a_c, b_c)  (c_r = 0 here: a benchmark source, lambda = 1)
//   beta ~ N(0, beta_sd^2 I);  sigma_u^2 ~ InvGamma(su_shape, su_scale);
//   sigma_e^2 ~ InvGamma(se_shape, se_scale);  rho ~ U(-1, 1);  tau_a^2 ~ InvGamma(acc_shape_a, acc_scale_a)
//
// Parametrisation (each step keeps the posterior of every quantity reported exactly as it is):
//   * u and e are integrated out analytically, as emflow's own step 2 does: given beta and the
//     hyper-parameters, z_k = (z_k1 .. z_kT) ~ N(X_k beta, S) with
//         S[s, t] = sigma_u^2 + sigma_e^2 / (1 - rho^2) rho^|s - t|
//     (the series effect plus the stationary AR(1)), so z is sampled directly (centred: the reports
//     pin z far more tightly than its prior does).  The joint density of (z, eta, beta, lambda,
//     sigma_u, sigma_e, rho, tau) is then exactly the marginal of emflow's posterior, and the flows
//     y = exp(z) have the same posterior.  (Explicit u, e, centred or non-centred, made NUTS hit its
//     maximum tree depth on every iteration here: u, the AR level and the intercept trade off along
//     long, narrow ridges when rho is near 1.)
//   * beta is rotated: beta = V gamma with V the eigenvectors of X'X (orthogonal, so the Jacobian is 1
//     and the isotropic prior N(0, beta_sd^2 I) is the same prior on gamma).  This aligns collinear
//     covariates with the axes of the diagonal mass matrix: with the four countries of the benchmark,
//     contig and comlang_off are the same column (only FIN <-> SWE has either), so beta[contig] -
//     beta[comlang_off] is identified by the prior alone (sd ~ 14) while the sum is pinned (sd ~ 0.3).
//   * eta is centred: counts of tens to thousands pin each eta more tightly than tau does.
//   * The sd's sigma_u, sigma_e, tau are sampled, with InvGamma priors on their squares: the density
//     of s = sqrt(v) is p_v(s^2) |dv/ds| = p_v(s^2) 2 s, hence the "+ log(s)" Jacobian terms (log 2 is
//     a constant and dropped).  lambda is sampled on (0, 1) with its Beta prior, rho on (-1, 1) with a
//     flat density (Stan adds the Jacobians of its own constraining transforms).
// Output, in emflow's order: beta, lambda, sigma_u, sigma_e, rho, tau; then flow[(k - 1) T + t] = y_kt.
data {
  int<lower=1> K;                       // series (corridors)
  int<lower=1> T;                       // periods (years)
  int<lower=1> P;                       // covariates incl. the intercept
  matrix[K * T, P] x;                   // row (k - 1) T + t
  int<lower=1> R;                       // reports
  int<lower=1, upper=K> rep_k[R];
  int<lower=1, upper=T> rep_t[R];
  int<lower=0> rep_n[R];
  int<lower=0> ncov;                    // coverage classes
  int<lower=0, upper=ncov> rep_cov[R];  // 0 = benchmark (lambda = 1)
  vector[R] rep_logkappa;               // known log duration correction
  int<lower=1> nacc;                    // accuracy classes
  int<lower=1, upper=nacc> rep_acc[R];
  vector<lower=0>[ncov] cov_alpha;
  vector<lower=0>[ncov] cov_beta;
  vector<lower=0>[nacc] acc_shape;
  vector<lower=0>[nacc] acc_scale;
  real<lower=0> beta_sd;
  real<lower=0> su_shape;
  real<lower=0> su_scale;
  real<lower=0> se_shape;
  real<lower=0> se_scale;
}
transformed data {
  int rep_kt[R];
  matrix[P, P] V = eigenvectors_sym(crossprod(x));  // orthogonal
  matrix[K * T, P] xv = x * V;
  int lag[T, T];
  for (r in 1:R) rep_kt[r] = (rep_k[r] - 1) * T + rep_t[r];
  for (s in 1:T)
    for (t in 1:T) lag[s, t] = s > t ? s - t : t - s;
}
parameters {
  vector[P] gamma;                      // beta = V gamma
  vector<lower=0, upper=1>[ncov] lambda;
  real<lower=0> sigma_u;
  real<lower=0> sigma_e;
  real<lower=-1, upper=1> rho;
  vector<lower=0>[nacc] tau;
  vector[K * T] z;                      // log true flows, (k - 1) T + t
  vector[R] eta;                        // report log-means
}
model {
  vector[ncov + 1] loglam = append_row(rep_vector(0, 1), log(lambda));
  vector[K * T] xb = xv * gamma;
  vector[R] m;
  vector[T] zk[K];
  vector[T] mk[K];
  matrix[T, T] S;
  {
    real su2 = square(sigma_u);
    real v0 = square(sigma_e) / (1 - square(rho));
    for (s in 1:T)
      for (t in 1:T) S[s, t] = su2 + v0 * pow(rho, lag[s, t]);
  }
  for (k in 1:K) {
    zk[k] = z[((k - 1) * T + 1):(k * T)];
    mk[k] = xb[((k - 1) * T + 1):(k * T)];
  }
  for (r in 1:R) m[r] = z[rep_kt[r]] + loglam[rep_cov[r] + 1] + rep_logkappa[r];

  gamma ~ normal(0, beta_sd);           // = beta ~ N(0, beta_sd^2 I)
  lambda ~ beta(cov_alpha, cov_beta);
  target += inv_gamma_lpdf(square(sigma_u) | su_shape, su_scale) + log(sigma_u);
  target += inv_gamma_lpdf(square(sigma_e) | se_shape, se_scale) + log(sigma_e);
  target += inv_gamma_lpdf(square(tau) | acc_shape, acc_scale) + sum(log(tau));
  // rho ~ uniform(-1, 1): constant on its support

  zk ~ multi_normal_cholesky(mk, cholesky_decompose(S));  // u and e integrated out
  eta ~ normal(m, tau[rep_acc]);
  rep_n ~ poisson_log(eta);
}
generated quantities {
  vector[P] beta = V * gamma;
  vector[K * T] flow = exp(z);          // y_kt
}
