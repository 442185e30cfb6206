/* test_vmath: emi_vexp (kernels/emi_vmath.c) against its twin emi_vexp_ref (libm exp).
 *
 * Right value and where it comes from: glibc's exp is correctly rounded in practice (its documented
 * bound is < 1 ulp), so the distance from it in ulp bounds the fast version's error to within one ulp.
 * The header promises at most 2 ulp for normal results and 1 ulp of the smallest subnormal below
 * 2^-1022; checked over a dense sweep (2e7 points uniform in [-746, 710], every argument the sampler
 * can produce), 1e6 points in [-1, 1] (where the reduction is trivial and the polynomial alone
 * decides), the points around each reduction boundary (k + 1/2) ln2 and the overflow and underflow
 * thresholds, and the special values: exp(+-0) = 1 exactly, exp(1) = e to 1 ulp, exp(-inf) = 0,
 * exp(+inf) = +inf, exp(NaN) is NaN, exp(709.78) finite, exp(709.79) = inf, exp(-745.2) = 0. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emi_philox.h"
#include "emi_dist.h"
#include "emi_test.h"
#include "emi_vmath.h"

static int64_t ord(double v) /* IEEE order as integers: ulp distance = difference */
{
  int64_t i;
  memcpy(&i, &v, sizeof i);
  return i < 0 ? INT64_MIN - i : i;
}

static double worst_normal = 0, worst_sub = 0;
static int nbad = 0;

static void check_block(int64_t n, const double *x)
{
  double *a = malloc((size_t)n * sizeof *a), *b = malloc((size_t)n * sizeof *b);
  emi_vexp(n, x, a);
  emi_vexp_ref(n, x, b);
  for (int64_t i = 0; i < n; i++) {
    if (isnan(b[i]) || isinf(b[i]) || b[i] == 0.0) {
      if (!(isnan(b[i]) ? isnan(a[i]) : a[i] == b[i]) && nbad++ < 10)
        fprintf(stderr, "exp(%.17g): %.17g, libm %.17g\n", x[i], a[i], b[i]);
      continue;
    }
    double d = fabs((double)(ord(a[i]) - ord(b[i])));
    if (b[i] >= DBL_MIN) {
      if (d > worst_normal) worst_normal = d;
      if (d > 2 && nbad++ < 10) fprintf(stderr, "exp(%.17g): %.17g, libm %.17g: %g ulp\n", x[i], a[i], b[i], d);
    } else {
      if (d > worst_sub) worst_sub = d;
      if (d > 1 && nbad++ < 10) fprintf(stderr, "exp(%.17g) (subnormal): %g, libm %g: %g ulp\n", x[i], a[i], b[i], d);
    }
  }
  free(a), free(b);
}

int main(void)
{
  enum { N = 1 << 20 };
  double *x = malloc(N * sizeof *x);
  emi_stream_t st;
  emi_stream_init(&st, 20261204, 13, 0, 0);
  for (int blk = 0; blk < 20; blk++) { /* 2e7 uniform points in [-746, 710] */
    for (int i = 0; i < N; i++) x[i] = -746.0 + 1456.0 * emi_uniform(&st);
    check_block(N, x);
  }
  for (int i = 0; i < N; i++) x[i] = -1.0 + 2.0 * emi_uniform(&st);
  check_block(N, x);
  int64_t n = 0; /* around the reduction boundaries (k + 1/2) ln2, k = -1076..1024 */
  for (int k = -1076; k <= 1024 && n + 8 < N; k++) {
    double c = (k + 0.5) * 0.6931471805599453;
    for (int j = -3; j <= 3; j++) x[n++] = nextafter(c, j < 0 ? -INFINITY : INFINITY) + j * 1e-13 * fabs(c);
  }
  const double special[] = {0.0, -0.0, 1.0, -1.0, 1e-300, -1e-300, 709.78, 709.782712893384, 709.79, 710.0, 1e300,
                            -708.39, -708.4, -744.44, -745.13, -745.1332191019411, -745.14, -745.2, -746.0, -1e300,
                            INFINITY, -INFINITY, NAN, -NAN};
  for (size_t i = 0; i < sizeof special / sizeof *special; i++) x[n++] = special[i];
  check_block(n, x);
  printf("emi_vexp vs libm: max %g ulp (normal results), %g ulp (subnormal results)\n", worst_normal, worst_sub);
  CHECK_INT_EQ(nbad, 0);
  CHECK(worst_normal <= 2);
  double y[6], in[6] = {0.0, -0.0, 1.0, INFINITY, -INFINITY, NAN};
  emi_vexp(6, in, y);
  CHECK(y[0] == 1.0 && y[1] == 1.0);
  CHECK(fabs(y[2] - 2.718281828459045) <= 4.5e-16);
  CHECK(y[3] == INFINITY && y[4] == 0.0 && isnan(y[5]));
  free(x);
  return emi_test_report("test_vmath");
}
