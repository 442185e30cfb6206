/* test_imem: the IMEM-style measurement model and its Gibbs sampler (kernels/emi_imem.c).
 *
 * Right values and where they come from:
 *  - ground truth of a simulation: data are drawn from the model itself with known flows and
 *    coverages; the 90% posterior intervals of the log flows must cover the true values in about
 *    90% of the cells (320 cells: binomial sd 1.7 points; the band 84-96% allows 3.5 sd), and the
 *    posterior of every coverage must hold its true value within 4 posterior sd;
 *  - determinism: the same chain at 1 and 2 threads gives bit-identical states (draws are keyed
 *    by chain, iteration and item, sums taken in a fixed order);
 *  - the log posterior is finite along the chain (no step leaves the support);
 *  - bad data: negative count, class without report, index out of range -> the documented errors.
 */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emi_dist.h"
#include "emi_imem.h"
#include "emi_philox.h"
#include "emi_test.h"

#define NK 40
#define NT 8
#define NPAR 2
#define NCOV 4
#define NACC 2

typedef struct {
  double x[NK * NT * NPAR];
  int32_t rk[2 * NK * NT], rt[2 * NK * NT], rc[2 * NK * NT], ra[2 * NK * NT];
  int64_t rn[2 * NK * NT];
  double lk[2 * NK * NT];
  double z[NK * NT];     /* truth */
  double lam[NCOV];    /* truth */
  double ca[NCOV], cb[NCOV], as[NACC], asc[NACC];
  emi_imem_data_t d;
} problem_t;

static void make_problem(problem_t *p, uint64_t seed)
{
  emi_stream_t st;
  emi_stream_init(&st, seed, 7, 0, 0);
  const double beta[NPAR] = {5.0, 0.8}, su = 0.7, se = 0.25, rho = 0.6, tau[NACC] = {0.1, 0.3};
  const double ca[NCOV] = {44.95, 32.14, 57.49, 44.56}, cb[NCOV] = {16.96, 38.52, 8.07, 20.89};
  for (int c = 0; c < NCOV; c++) {
    p->ca[c] = ca[c], p->cb[c] = cb[c];
    emi_beta_draw(&st, ca[c], cb[c], &p->lam[c]);
  }
  for (int a = 0; a < NACC; a++) p->as[a] = 3.0, p->asc[a] = 2.0 * tau[a] * tau[a];
  int64_t n = 0;
  for (int k = 0; k < NK; k++) {
    double u = su * emi_std_normal(&st), e = se / sqrt(1 - rho * rho) * emi_std_normal(&st);
    double xk = emi_std_normal(&st);
    for (int t = 0; t < NT; t++) {
      if (t > 0) e = rho * e + se * emi_std_normal(&st);
      double *x = p->x + (k * NT + t) * NPAR;
      x[0] = 1.0, x[1] = xk + 0.1 * t;
      p->z[k * NT + t] = beta[0] * x[0] + beta[1] * x[1] + u + e;
      for (int src = 0; src < 2; src++) {
        if (emi_uniform(&st) < 0.2) continue; /* 20% of the reports missing */
        int c = src == 0 ? k % 3 : (k % 2 ? 3 : -1), a = (k + src) % 2;
        double eta = p->z[k * NT + t] + (c >= 0 ? log(p->lam[c]) : 0.0) + tau[a] * emi_std_normal(&st);
        p->rk[n] = k, p->rt[n] = t, p->rc[n] = c, p->ra[n] = a, p->lk[n] = 0.0;
        emi_poisson_draw(&st, exp(eta), &p->rn[n]);
        n++;
      }
    }
  }
  p->d = (emi_imem_data_t){.K = NK, .T = NT, .P = NPAR, .x = p->x, .nrep = n, .rep_k = p->rk, .rep_t = p->rt,
                           .rep_n = p->rn, .rep_cov = p->rc, .rep_logkappa = p->lk, .rep_acc = p->ra,
                           .ncov = NCOV, .cov_alpha = p->ca, .cov_beta = p->cb, .nacc = NACC,
                           .acc_shape = p->as, .acc_scale = p->asc, .beta_sd = 10.0, .su_shape = 2.0,
                           .su_scale = 1.0, .se_shape = 2.0, .se_scale = 0.1};
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void test_recovery(void)
{
  static problem_t p;
  make_problem(&p, 11);
  CHECK_OK(emi_imem_check(&p.d));
  emi_imem_state_t s;
  CHECK_OK(emi_imem_state_alloc(&p.d, &s));
  CHECK_OK(emi_imem_init(&p.d, 99, 0, &s));
  const int warm = 500, draws = 2000;
  double *zd = malloc(sizeof *zd * (size_t)draws * NK * NT), *ld = malloc(sizeof *ld * (size_t)draws * NCOV);
  double z[NK * NT];
  int finite = 1;
  for (int it = 0; it < warm + draws; it++) {
    emi_err_t e = emi_imem_sweep(&p.d, 99, 0, it < warm, &s);
    if (e) {
      CHECK_OK(e);
      break;
    }
    if (!isfinite(emi_imem_logpost(&p.d, &s))) finite = 0;
    if (it >= warm) {
      emi_imem_z(&p.d, &s, z);
      for (int i = 0; i < NK * NT; i++) zd[(size_t)i * draws + (it - warm)] = z[i];
      for (int c = 0; c < NCOV; c++) ld[(size_t)c * draws + (it - warm)] = exp(s.loglam[c]);
    }
  }
  CHECK(finite);
  int cover = 0;
  for (int i = 0; i < NK * NT; i++) {
    double *v = zd + (size_t)i * draws;
    qsort(v, draws, sizeof *v, cmp_double);
    double lo = v[(int)(0.05 * draws)], hi = v[(int)(0.95 * draws) - 1];
    cover += p.z[i] >= lo && p.z[i] <= hi;
  }
  double share = (double)cover / (NK * NT);
  fprintf(stderr, "test_imem: 90%% intervals cover %.1f%% of %d true log flows\n", 100 * share, NK * NT);
  CHECK_MSG(share >= 0.84 && share <= 0.96, "coverage %.3f outside [0.84, 0.96]", share);
  for (int c = 0; c < NCOV; c++) {
    double m = 0, m2 = 0;
    for (int j = 0; j < draws; j++) m += ld[(size_t)c * draws + j], m2 += ld[(size_t)c * draws + j] * ld[(size_t)c * draws + j];
    m /= draws;
    double sd = sqrt(m2 / draws - m * m);
    fprintf(stderr, "test_imem: lambda %d true %.3f posterior %.3f (sd %.3f)\n", c, p.lam[c], m, sd);
    CHECK_MSG(fabs(m - p.lam[c]) < 4 * sd, "lambda %d: true %.3f, posterior mean %.3f sd %.3f", c, p.lam[c], m, sd);
  }
  double ea = (double)s.n_eta_acc / (double)s.n_eta_prop, ta = (double)s.n_theta_acc / (double)s.n_theta_prop;
  fprintf(stderr, "test_imem: acceptance eta %.3f theta %.3f\n", ea, ta);
  CHECK_MSG(ea > 0.8, "eta acceptance %.3f", ea);
  CHECK_MSG(ta > 0.2, "theta acceptance %.3f", ta);
  free(zd), free(ld);
  emi_imem_state_free(&s);
}

static void test_threads(void)
{
  static problem_t p;
  make_problem(&p, 12);
  emi_imem_state_t a, b;
  CHECK_OK(emi_imem_state_alloc(&p.d, &a));
  CHECK_OK(emi_imem_state_alloc(&p.d, &b));
  CHECK_OK(emi_imem_init(&p.d, 5, 3, &a));
  CHECK_OK(emi_imem_init(&p.d, 5, 3, &b));
  omp_set_num_threads(1);
  for (int it = 0; it < 40; it++) CHECK_OK(emi_imem_sweep(&p.d, 5, 3, it < 20, &a));
  omp_set_num_threads(2);
  for (int it = 0; it < 40; it++) CHECK_OK(emi_imem_sweep(&p.d, 5, 3, it < 20, &b));
  CHECK(!memcmp(a.e, b.e, sizeof *a.e * NK * NT));
  CHECK(!memcmp(a.eta, b.eta, sizeof *a.eta * (size_t)p.d.nrep));
  CHECK(!memcmp(a.beta, b.beta, sizeof *a.beta * NPAR));
  CHECK(a.rho == b.rho && a.sig2_e == b.sig2_e && a.sig2_u == b.sig2_u);
  /* another chain differs */
  emi_imem_state_t c;
  CHECK_OK(emi_imem_state_alloc(&p.d, &c));
  CHECK_OK(emi_imem_init(&p.d, 5, 4, &c));
  for (int it = 0; it < 40; it++) CHECK_OK(emi_imem_sweep(&p.d, 5, 4, it < 20, &c));
  CHECK(memcmp(a.e, c.e, sizeof *a.e * NK * NT) != 0);
  emi_imem_state_free(&a), emi_imem_state_free(&b), emi_imem_state_free(&c);
}

static void test_bad(void)
{
  static problem_t p;
  make_problem(&p, 13);
  p.rn[3] = -1;
  CHECK_ERR(emi_imem_check(&p.d), EMI_ERR_DOMAIN);
  p.rn[3] = 1;
  p.rk[4] = NK;
  CHECK_ERR(emi_imem_check(&p.d), EMI_ERR_ARG);
  p.rk[4] = 0;
  for (int64_t r = 0; r < p.d.nrep; r++)
    if (p.rc[r] == 1) p.rc[r] = 0;
  CHECK_ERR(emi_imem_check(&p.d), EMI_ERR_ARG); /* class 1 has no report */
}

int main(void)
{
  test_bad();
  test_threads();
  test_recovery();
  return emi_test_report("test_imem");
}
