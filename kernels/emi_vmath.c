/* emi_vmath.c: vectorisable exp and its libm twin (see emi_vmath.h). */
#include "emi_vmath.h"

#include <math.h>
#include <string.h>

static inline uint64_t as_u64(double v)
{
  uint64_t u;
  memcpy(&u, &v, sizeof u);
  return u;
}

static inline double as_f64(uint64_t u)
{
  double v;
  memcpy(&v, &u, sizeof v);
  return v;
}

/* Function multiversioning (GCC/Clang on ELF with ifunc): an AVX2 clone and the baseline one, picked
 * at load time.  Both compute the same bits (see the header). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_ADDRESS__) && !defined(__clang__)
#define EMI_VMATH_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define EMI_VMATH_CLONES
#endif

EMI_VMATH_CLONES
void emi_vexp(int64_t n, const double *restrict x, double *restrict y)
{
  const double shift = 0x1.8p52, inv_ln2 = 0x1.71547652b82fep0;
  const double ln2_hi = 0x1.62e42fee00000p-1, ln2_lo = 0x1.a39ef35793c76p-33; /* hi: 32 bits, k * hi exact */
  for (int64_t i = 0; i < n; i++) {
    double v = x[i];
    v = v > 710.0 ? 710.0 : v; /* NaN passes both tests unchanged and propagates */
    v = v < -746.0 ? -746.0 : v;
    double kd = (v * inv_ln2 + shift) - shift; /* round(v / ln2), |kd| <= 1077 */
    double r = (v - kd * ln2_hi) - kd * ln2_lo;
    double p = 1.0 / 6227020800.0;             /* 1/13! */
    p = 1.0 / 479001600.0 + r * p;             /* 1/12! */
    p = 1.0 / 39916800.0 + r * p;
    p = 1.0 / 3628800.0 + r * p;
    p = 1.0 / 362880.0 + r * p;
    p = 1.0 / 40320.0 + r * p;
    p = 1.0 / 5040.0 + r * p;
    p = 1.0 / 720.0 + r * p;
    p = 1.0 / 120.0 + r * p;
    p = 1.0 / 24.0 + r * p;
    p = 1.0 / 6.0 + r * p;
    p = 0.5 + r * p;
    p = 1.0 + r * p;
    p = 1.0 + r * p;
    /* 2^k = 2^k1 2^k2, k1 = round(k / 2): both within the normal exponents for |k| <= 1077 */
    double k1 = (kd * 0.5 + shift) - shift, k2 = kd - k1;
    uint64_t b1 = (as_u64(k1 + shift) + 1023u) << 52, b2 = (as_u64(k2 + shift) + 1023u) << 52;
    y[i] = (p * as_f64(b1)) * as_f64(b2);
  }
}

void emi_vexp_ref(int64_t n, const double *restrict x, double *restrict y)
{
  for (int64_t i = 0; i < n; i++) y[i] = exp(x[i]);
}
