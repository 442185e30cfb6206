/* test_imem_sbc: simulation-based calibration (Talts, Betancourt, Simpson, Vehtari & Gelman 2018,
 * arXiv:1804.06788) of the IMEM-style sampler (kernels/emi_imem.c) in its two configurations.
 *
 * Right value and where it comes from: if parameters are drawn from the prior, data from the model
 * given them, and the sampler draws from the exact posterior, then the rank of the prior draw among
 * L posterior draws is uniform on 0..L (Talts et al., theorem 1), whatever the model.  Each of
 * N_REP replications draws a full parameter set and a data set from the model, runs one chain
 * (warm-up, then L = 109 draws thinned by THIN so that they are close to independent), and counts
 * for each monitored quantity how many posterior draws lie below the prior one.  The 110 possible
 * ranks fall into 11 bins of 10; under uniformity the counts are multinomial with 11 equal cells,
 * and Pearson's chi-square has 10 degrees of freedom, whose upper tail is exact in closed form for
 * even df: P(X > x) = exp(-x/2) sum_{i<5} (x/2)^i / i!.  A quantity fails when p < P_MIN.
 * A biased sampler, e.g. one whose posterior is too narrow, piles ranks at the ends (the chi-square
 * grows with N_REP), too wide in the middle, shifted at one end.  With about 25 monitored
 * quantities at P_MIN = 1e-3 a correct sampler fails one with probability ~2.5% per seed; seeds are
 * fixed (and were not tuned), so the outcome is deterministic.  The p-values are printed.
 *
 * The two configurations (the same sampler, only the series and the reports differ):
 *  A. double entry: K = 6 corridors x T = 5 years, an intercept and one covariate; each corridor-year
 *     reported by the sending country (coverage classes with the MigMod emigration priors) and by the
 *     receiving country (the benchmark, lambda = 1, on three corridors; coverage with the immigration
 *     prior on the others); 15% of the reports missing; two accuracy classes.
 *  B. border based: K = 3 citizenship groups x T = 8 periods, intercept only; the border outcome
 *     (coverage = 1 - missed-record rate, Beta(95, 5)), declared emigration (coverage pi ~ Beta(4, 6))
 *     and mirror statistics (undercount lambda ~ Beta(44.56, 20.89), a 6-month duration definition:
 *     known log correction -log 0.73); no benchmark: the model is identified by the priors.
 * The known offset log kappa also carries log(300) so that counts are in the hundreds (the model's
 * prior on beta is N(0, 1) here, as SBC needs data of a plausible scale under the prior).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emi_dist.h"
#include "emi_imem.h"
#include "emi_philox.h"
#include "emi_test.h"

/* The sanitizer build (ASan + UBSan, -O0) runs 20 replications for memory and UB errors only: the
 * statistical check is made by the Release build, where the full test takes ~20 s on one thread. */
#if defined(__SANITIZE_ADDRESS__)
#define N_REP 20
#define SBC_STATISTICS 0
#else
#define N_REP 200
#define SBC_STATISTICS 1
#endif
#define L_DRAWS 109
#define NBIN 11
#define THIN 8
#define WARMUP 300
#define P_MIN 1e-3
#define MAXK 8
#define MAXT 8
#define MAXR (3 * MAXK * MAXT)
#define MAXQ 32

typedef struct {
  int K, T, P, ncov, nacc;
  double x[MAXK * MAXT * 2];
  int32_t rk[MAXR], rt[MAXR], rc[MAXR], ra[MAXR];
  int64_t rn[MAXR];
  double lk[MAXR];
  double ca[8], cb[8], as[4], asc[4];
  emi_imem_data_t d;
  /* truth */
  double beta[2], lam[8], su2, se2, rho, tau2[4], z[MAXK * MAXT];
} sbc_problem_t;

static double inv_gamma(emi_stream_t *st, double shape, double scale)
{
  double g;
  emi_gamma_draw(st, shape, 1.0 / scale, &g);
  return 1.0 / g;
}

/* Draw truth from the prior and data from the model. */
static void sbc_draw(sbc_problem_t *p, int config, int rep)
{
  emi_stream_t st;
  emi_stream_init(&st, 777, (uint32_t)(10 + config), (uint64_t)rep, 0);
  emi_imem_data_t *d = &p->d;
  if (config == 0) {
    p->K = 6, p->T = 5, p->P = 2, p->ncov = 3, p->nacc = 2;
    const double ca[3] = {44.95, 32.14, 57.49}, cb[3] = {16.96, 38.52, 8.07};
    memcpy(p->ca, ca, sizeof ca), memcpy(p->cb, cb, sizeof cb);
    p->as[0] = 3.0, p->asc[0] = 2.0 * 0.1 * 0.1;
    p->as[1] = 3.0, p->asc[1] = 2.0 * 0.3 * 0.3;
  } else {
    p->K = 3, p->T = 8, p->P = 1, p->ncov = 3, p->nacc = 2;
    const double ca[3] = {95.0, 4.0, 44.56}, cb[3] = {5.0, 6.0, 20.89};
    memcpy(p->ca, ca, sizeof ca), memcpy(p->cb, cb, sizeof cb);
    p->as[0] = 3.0, p->asc[0] = 2.0 * 0.05 * 0.05;
    p->as[1] = 3.0, p->asc[1] = 2.0 * 0.2 * 0.2;
  }
  const int K = p->K, T = p->T, P = p->P;
  const double beta_sd = 1.0, su_shape = 3.0, su_scale = 0.5, se_shape = 3.0, se_scale = 0.1;
  for (int j = 0; j < P; j++) p->beta[j] = beta_sd * emi_std_normal(&st);
  for (int c = 0; c < p->ncov; c++) emi_beta_draw(&st, p->ca[c], p->cb[c], &p->lam[c]);
  p->su2 = inv_gamma(&st, su_shape, su_scale);
  p->se2 = inv_gamma(&st, se_shape, se_scale);
  p->rho = 2.0 * emi_uniform(&st) - 1.0;
  for (int a = 0; a < p->nacc; a++) p->tau2[a] = inv_gamma(&st, p->as[a], p->asc[a]);
  int64_t n = 0;
  for (int k = 0; k < K; k++) {
    double u = sqrt(p->su2) * emi_std_normal(&st);
    double e = sqrt(p->se2 / (1.0 - p->rho * p->rho)) * emi_std_normal(&st);
    double xk = emi_std_normal(&st);
    for (int t = 0; t < T; t++) {
      if (t > 0) e = p->rho * e + sqrt(p->se2) * emi_std_normal(&st);
      double *x = p->x + (k * T + t) * P;
      x[0] = 1.0;
      if (P > 1) x[1] = xk + 0.2 * (t - 2);
      double z = u + e;
      for (int j = 0; j < P; j++) z += p->beta[j] * x[j];
      p->z[k * T + t] = z;
      int nsrc = config == 0 ? 2 : 3;
      for (int src = 0; src < nsrc; src++) {
        double miss = config == 1 && src == 2 ? 0.3 : 0.15;
        if (emi_uniform(&st) < miss) continue;
        int c, a;
        double lk = log(300.0);
        if (config == 0) {
          c = src == 0 ? k % 2 : (k < 3 ? -1 : 2);
          a = src;
        } else {
          c = src;
          a = src == 0 ? 0 : 1;
          if (src == 2) lk -= log(0.73);
        }
        double eta = z + (c >= 0 ? log(p->lam[c]) : 0.0) + lk + sqrt(p->tau2[a]) * emi_std_normal(&st);
        p->rk[n] = k, p->rt[n] = t, p->rc[n] = c, p->ra[n] = a, p->lk[n] = lk;
        emi_poisson_draw(&st, exp(eta), &p->rn[n]);
        n++;
      }
    }
  }
  /* every coverage class must be reached (emi_imem_check): add a report if the draw left one out */
  for (int c = 0; c < p->ncov; c++) {
    int any = 0;
    for (int64_t r = 0; r < n; r++) any |= p->rc[r] == c;
    if (!any) {
      double eta = p->z[0] + log(p->lam[c]) + log(300.0) + sqrt(p->tau2[1]) * emi_std_normal(&st);
      p->rk[n] = 0, p->rt[n] = 0, p->rc[n] = c, p->ra[n] = 1, p->lk[n] = log(300.0);
      if (config == 1 && c == 2) eta -= log(0.73), p->lk[n] -= log(0.73);
      emi_poisson_draw(&st, exp(eta), &p->rn[n]);
      n++;
    }
  }
  *d = (emi_imem_data_t){.K = K, .T = T, .P = P, .x = p->x, .nrep = n, .rep_k = p->rk, .rep_t = p->rt,
                         .rep_n = p->rn, .rep_cov = p->rc, .rep_logkappa = p->lk, .rep_acc = p->ra,
                         .ncov = p->ncov, .cov_alpha = p->ca, .cov_beta = p->cb, .nacc = p->nacc,
                         .acc_shape = p->as, .acc_scale = p->asc, .beta_sd = beta_sd, .su_shape = su_shape,
                         .su_scale = su_scale, .se_shape = se_shape, .se_scale = se_scale};
}

/* Monitored quantities, in the order of emi_imem_params (beta, lambda, sigma_u, sigma_e, rho, tau),
 * then the first and the last log flow. */
static int sbc_truth(const sbc_problem_t *p, double *q)
{
  int n = 0;
  for (int j = 0; j < p->P; j++) q[n++] = p->beta[j];
  for (int c = 0; c < p->ncov; c++) q[n++] = p->lam[c];
  q[n++] = sqrt(p->su2), q[n++] = sqrt(p->se2), q[n++] = p->rho;
  for (int a = 0; a < p->nacc; a++) q[n++] = sqrt(p->tau2[a]);
  q[n++] = p->z[0], q[n++] = p->z[p->K * p->T - 1];
  return n;
}

static int sbc_state(const sbc_problem_t *p, const emi_imem_state_t *s, double *q, double *zbuf)
{
  int np = emi_imem_nparams(&p->d);
  emi_imem_params(&p->d, s, q);
  emi_imem_z(&p->d, s, zbuf);
  q[np] = zbuf[0], q[np + 1] = zbuf[p->K * p->T - 1];
  return np + 2;
}

/* Upper tail of chi-square with 10 df (exact). */
static double chi2_10_sf(double x)
{
  double h = 0.5 * x, term = 1.0, s = 1.0;
  for (int i = 1; i < 5; i++) term *= h / i, s += term;
  return exp(-h) * s;
}

static void sbc_run(int config, const char *name, const char *const *qnames)
{
  static sbc_problem_t p;
  static int hist[MAXQ][NBIN];
  memset(hist, 0, sizeof hist);
  int nq = 0, errors = 0;
  for (int rep = 0; rep < N_REP; rep++) {
    sbc_draw(&p, config, rep);
    emi_err_t e = emi_imem_check(&p.d);
    if (e) {
      CHECK_OK(e);
      return;
    }
    double truth[MAXQ], q[MAXQ], zbuf[MAXK * MAXT];
    nq = sbc_truth(&p, truth);
    int below[MAXQ] = {0};
    emi_imem_state_t s;
    CHECK_OK(emi_imem_state_alloc(&p.d, &s));
    uint64_t seed = 1000 + (uint64_t)rep;
    CHECK_OK(emi_imem_init(&p.d, seed, 0, &s));
    for (int it = 0; it < WARMUP + L_DRAWS * THIN && !errors; it++) {
      if ((e = emi_imem_sweep(&p.d, seed, 0, it < WARMUP, &s)) != EMI_SUCCESS) {
        CHECK_OK(e);
        errors++;
        break;
      }
      if (it >= WARMUP && (it - WARMUP + 1) % THIN == 0) {
        int m = sbc_state(&p, &s, q, zbuf);
        CHECK_INT_EQ(m, nq);
        for (int i = 0; i < nq; i++) below[i] += q[i] < truth[i];
      }
    }
    emi_imem_state_free(&s);
    if (errors) return;
    for (int i = 0; i < nq; i++) hist[i][below[i] * NBIN / (L_DRAWS + 1)]++;
  }
  const double expect = (double)N_REP / NBIN;
  for (int i = 0; i < nq; i++) {
    double x2 = 0.0;
    char line[256];
    int off = 0;
    for (int b = 0; b < NBIN; b++) {
      x2 += (hist[i][b] - expect) * (hist[i][b] - expect) / expect;
      off += snprintf(line + off, sizeof line - (size_t)off, " %d", hist[i][b]);
    }
    double pv = chi2_10_sf(x2);
    fprintf(stderr, "test_imem_sbc: %s %-10s chi2 %6.2f  p = %.4f  ranks:%s\n", name, qnames[i], x2, pv, line);
    if (SBC_STATISTICS)
      CHECK_MSG(pv >= P_MIN, "%s: %s: SBC ranks not uniform, chi2 = %.2f (10 df), p = %.2g", name, qnames[i], x2, pv);
  }
}

int main(void)
{
  /* the closed form against two tabulated quantiles of chi-square(10): 18.307 (p = 0.05),
   * 29.588 (p = 0.001) (Abramowitz & Stegun, table 26.8) */
  CHECK(fabs(chi2_10_sf(18.307) - 0.05) < 1e-4);
  CHECK(fabs(chi2_10_sf(29.588) - 0.001) < 1e-5);
  const char *const qa[] = {"beta0", "beta1", "lambda0", "lambda1", "lambda2", "sigma_u", "sigma_e", "rho",
                            "tau0", "tau1", "z[0,0]", "z[K-1,T-1]"};
  const char *const qb[] = {"beta0", "lam_border", "pi_decl", "lam_mirror", "sigma_u", "sigma_e", "rho",
                            "tau0", "tau1", "z[0,0]", "z[K-1,T-1]"};
  sbc_run(0, "double-entry", qa);
  sbc_run(1, "border", qb);
  return emi_test_report("test_imem_sbc");
}
