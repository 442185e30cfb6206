/* emi_vmath.h: exp over arrays, written so that the compiler vectorises it (no table, no branch in
 * the loop), with its plain reference twin (libm).
 *
 * emi_vexp(n, x, y): y[i] = exp(x[i]).  Method: x = k ln2 + r, |r| <= ln2 / 2 (k by the round-to-
 * nearest shift 1.5 * 2^52, ln2 split in two parts, Cody & Waite 1980), exp(r) by its Taylor series
 * to degree 13 in Horner form (truncation < 4e-18 relative), times 2^k applied as two powers of two
 * built from their bits (so that results down to the subnormal range round once).  Measured against
 * libm over 2e7 arguments (tests/unit/test_vmath.c): at most 2 ulp for normal results (~4.4e-16
 * relative), at most 1 ulp of the smallest subnormal below 2^-1022.  Whole range: x > 709.78 gives
 * +inf, x < -745.14 gives 0 (as libm; no errno, no exception flags relied on), exp(+-0) = 1,
 * exp(+inf) = +inf, exp(-inf) = 0, NaN -> NaN.
 * Determinism: only IEEE additions and multiplications in a fixed order (the build compiles C11
 * without FP contraction, so no FMA is fused), so the result is the same for any vector width and
 * for the AVX2 and default clones chosen at load time: the same bits on every x86-64 CPU. */
#ifndef EMI_VMATH_H
#define EMI_VMATH_H

#include <stdint.h>

void emi_vexp(int64_t n, const double *restrict x, double *restrict y);
void emi_vexp_ref(int64_t n, const double *restrict x, double *restrict y); /* libm exp */

#endif /* EMI_VMATH_H */
