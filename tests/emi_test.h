/* emi_test.h: minimal assertion helpers for emflow's C tests.
 * A failed check prints file:line, the expression and the values, and counts; main returns
 * emi_test_report() so ctest sees the failure.  Each test states where its right value comes from. */
#ifndef EMI_TEST_H
#define EMI_TEST_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int emi_test_failures_ = 0;
static int emi_test_checks_ = 0;

#define CHECK(cond)                                                                       \
  do {                                                                                    \
    emi_test_checks_++;                                                                   \
    if (!(cond)) {                                                                        \
      emi_test_failures_++;                                                               \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);            \
    }                                                                                     \
  } while (0)

#define CHECK_MSG(cond, ...)                                                              \
  do {                                                                                    \
    emi_test_checks_++;                                                                   \
    if (!(cond)) {                                                                        \
      emi_test_failures_++;                                                               \
      fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);            \
      fprintf(stderr, __VA_ARGS__);                                                       \
      fputc('\n', stderr);                                                                \
    }                                                                                     \
  } while (0)

#define CHECK_INT_EQ(a, b)                                                                \
  do {                                                                                    \
    long long emi_a_ = (long long)(a), emi_b_ = (long long)(b);                           \
    CHECK_MSG(emi_a_ == emi_b_, "%s = %lld, expected %lld", #a, emi_a_, emi_b_);          \
  } while (0)

#define CHECK_U32_EQ(a, b)                                                                \
  do {                                                                                    \
    uint32_t emi_a_ = (uint32_t)(a), emi_b_ = (uint32_t)(b);                              \
    CHECK_MSG(emi_a_ == emi_b_, "%s = 0x%08" PRIx32 ", expected 0x%08" PRIx32, #a, emi_a_, emi_b_); \
  } while (0)

/* |a - b| <= tol_abs + tol_rel * |b| */
#define CHECK_CLOSE(a, b, tol_abs, tol_rel)                                               \
  do {                                                                                    \
    double emi_a_ = (double)(a), emi_b_ = (double)(b);                                    \
    CHECK_MSG(fabs(emi_a_ - emi_b_) <= (tol_abs) + (tol_rel) * fabs(emi_b_) && emi_a_ == emi_a_, \
              "%s = %.17g, expected %.17g (tol_abs %g, tol_rel %g)", #a, emi_a_, emi_b_,  \
              (double)(tol_abs), (double)(tol_rel));                                      \
  } while (0)

#define CHECK_OK(call)                                                                    \
  do {                                                                                    \
    emi_err_t emi_e_ = (call);                                                            \
    CHECK_MSG(emi_e_ == EMI_SUCCESS, "%s returned %s: %s", #call, emi_err_name(emi_e_),   \
              emi_err_message());                                                         \
  } while (0)

#define CHECK_ERR(call, code)                                                             \
  do {                                                                                    \
    emi_err_t emi_e_ = (call);                                                            \
    CHECK_MSG(emi_e_ == (code), "%s returned %s, expected %s (%s)", #call,                \
              emi_err_name(emi_e_), emi_err_name(code), emi_err_message());               \
    emi_err_clear();                                                                      \
  } while (0)

static inline int emi_test_report(const char *name)
{
  if (emi_test_checks_ == 0) {
    fprintf(stderr, "%s: no checks ran\n", name);
    return 1;
  }
  fprintf(stderr, "%s: %d checks, %d failed\n", name, emi_test_checks_, emi_test_failures_);
  return emi_test_failures_ ? 1 : 0;
}

#endif /* EMI_TEST_H */
