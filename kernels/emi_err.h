/* emi_err.h: error codes, messages and the call macros used everywhere in emflow.
 *
 * Every fallible function returns emi_err_t; results come back through pointer arguments.
 * The codes and their messages come from one X-macro list, so emi_strerror() cannot drift
 * from the enum.  An error is raised once, where it is detected, with a message that names
 * what was found and what was expected (EMI_ERROR); callers pass it up with EMI_CALL (return)
 * or EMI_TRY (goto cleanup), each adding a traceback frame.  Library code never exits and
 * never prints: main() reads emi_err_message() and decides.
 *
 * The error state is thread-local: a failure inside an OpenMP worker stays with that thread
 * until the worker returns its code, and the caller re-raises it on the master thread.
 */
#ifndef EMI_ERR_H
#define EMI_ERR_H

#include <stddef.h>

/* X(name, exit status, message) */
#define EMI_ERR_LIST(X)                                                                   \
  X(EMI_SUCCESS,         0, "success")                                                    \
  X(EMI_ERR_USAGE,       2, "usage error")                                                \
  X(EMI_ERR_ARG,         3, "invalid argument")                                           \
  X(EMI_ERR_CONFIG,      3, "invalid configuration")                                      \
  X(EMI_ERR_INPUT,       4, "invalid input data")                                         \
  X(EMI_ERR_IO,          5, "file or system input/output error")                          \
  X(EMI_ERR_NOMEM,       6, "out of memory")                                              \
  X(EMI_ERR_MPI,         7, "MPI error")                                                  \
  X(EMI_ERR_HDF5,        8, "HDF5 error")                                                 \
  X(EMI_ERR_LAPACK,      9, "LAPACK error")                                               \
  X(EMI_ERR_NOT_SPD,     9, "matrix is not symmetric positive definite")                  \
  X(EMI_ERR_SINGULAR,    9, "matrix is singular")                                         \
  X(EMI_ERR_DOMAIN,      3, "argument outside the domain of the function")                \
  X(EMI_ERR_INCONSISTENT,10, "inputs are mutually inconsistent")                          \
  X(EMI_ERR_INFEASIBLE, 10, "problem has no feasible solution")                           \
  X(EMI_ERR_NOCONV,     11, "iteration did not converge")                                 \
  X(EMI_ERR_REJECTS,    12, "too many rejected records")                                  \
  X(EMI_ERR_CRYPTO,     13, "cryptographic library error")                                \
  X(EMI_ERR_INTERNAL,   70, "internal error (a bug in emflow: please report it)")

typedef enum {
#define EMI_X_ENUM(name, status, msg) name,
  EMI_ERR_LIST(EMI_X_ENUM)
#undef EMI_X_ENUM
  EMI_ERR_COUNT_
} emi_err_t;

/* Short message of a code ("out of memory"); never NULL. */
const char *emi_strerror(emi_err_t code);
/* Symbolic name of a code ("EMI_ERR_NOMEM"); never NULL. */
const char *emi_err_name(emi_err_t code);
/* Process exit status main() uses for a code (0 for success, 2 for usage errors). */
int emi_err_exit_status(emi_err_t code);

/* Raise: record code and a printf-style message at file:line in func; returns code. */
emi_err_t emi_err_raise(emi_err_t code, const char *file, int line, const char *func,
                        const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Add a traceback frame to the error being passed up; returns code. */
emi_err_t emi_err_trace(emi_err_t code, const char *file, int line, const char *func);

/* The message of the last error raised on this thread ("" when none). */
const char *emi_err_message(void);
/* The code of the last error raised on this thread (EMI_SUCCESS when none). */
emi_err_t emi_err_code(void);
/* Write the traceback (origin first) into buf; returns buf. */
char *emi_err_traceback(char *buf, size_t size);
/* Forget the current error (after it has been reported or handled). */
void emi_err_clear(void);

#define EMI_ERROR(code, ...) emi_err_raise((code), __FILE__, __LINE__, __func__, __VA_ARGS__)

/* Call a function returning emi_err_t; on failure add a frame and return its code. */
#define EMI_CALL(expr)                                                                    \
  do {                                                                                    \
    emi_err_t emi_e_ = (expr);                                                            \
    if (emi_e_ != EMI_SUCCESS) return emi_err_trace(emi_e_, __FILE__, __LINE__, __func__);\
  } while (0)

/* Same, but store the code in the local variable `err` and jump to `cleanup:`. */
#define EMI_TRY(expr)                                                                     \
  do {                                                                                    \
    emi_err_t emi_e_ = (expr);                                                            \
    if (emi_e_ != EMI_SUCCESS) {                                                          \
      err = emi_err_trace(emi_e_, __FILE__, __LINE__, __func__);                          \
      goto cleanup;                                                                       \
    }                                                                                     \
  } while (0)

/* Raise an error into `err` and jump to `cleanup:`. */
#define EMI_FAIL(code, ...)                                                               \
  do {                                                                                    \
    err = EMI_ERROR((code), __VA_ARGS__);                                                 \
    goto cleanup;                                                                         \
  } while (0)

/* Allocation that raises EMI_ERR_NOMEM (naming what and how much) and jumps to cleanup. */
#define EMI_MALLOC(ptr, count, what)                                                      \
  do {                                                                                    \
    size_t emi_n_ = (size_t)(count);                                                      \
    (ptr) = emi_n_ ? malloc(emi_n_ * sizeof *(ptr)) : NULL;                               \
    if (emi_n_ && !(ptr))                                                                 \
      EMI_FAIL(EMI_ERR_NOMEM, "cannot allocate %zu bytes for %s", emi_n_ * sizeof *(ptr), \
               (what));                                                                   \
  } while (0)
#define EMI_CALLOC(ptr, count, what)                                                      \
  do {                                                                                    \
    size_t emi_n_ = (size_t)(count);                                                      \
    (ptr) = emi_n_ ? calloc(emi_n_, sizeof *(ptr)) : NULL;                                \
    if (emi_n_ && !(ptr))                                                                 \
      EMI_FAIL(EMI_ERR_NOMEM, "cannot allocate %zu bytes for %s", emi_n_ * sizeof *(ptr), \
               (what));                                                                   \
  } while (0)



/* LAPACKE: info < 0 is a bad argument (a bug here), info > 0 a numerical failure that `spd_or_singular`
 * (EMI_ERR_NOT_SPD for Cholesky, EMI_ERR_SINGULAR for LU) names; `what` says which matrix. */
#define EMI_LAPACKE_TRY(call, spd_or_singular, what)                                      \
  do {                                                                                    \
    int emi_info_ = (call);                                                               \
    if (emi_info_ < 0)                                                                    \
      EMI_FAIL(EMI_ERR_INTERNAL, "%s: LAPACKE argument %d is invalid", #call, -emi_info_);\
    if (emi_info_ > 0)                                                                    \
      EMI_FAIL((spd_or_singular), "%s: %s (LAPACK info = %d: leading minor / pivot %d)",  \
               (what), emi_strerror(spd_or_singular), emi_info_, emi_info_);              \
  } while (0)
#endif /* EMI_ERR_H */
