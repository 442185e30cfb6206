/* test_err: the X-macro error list and the traceback machinery. */
#include <string.h>

#include <lapacke.h>

#include "emi_err.h"
#include "emi_test.h"

static emi_err_t inner(int n)
{
  if (n < 0) return EMI_ERROR(EMI_ERR_ARG, "n = %d, expected n >= 0", n);
  return EMI_SUCCESS;
}

static emi_err_t outer(int n)
{
  emi_err_t err = EMI_SUCCESS;
  double *buf = NULL;
  EMI_MALLOC(buf, 4, "test buffer");
  EMI_TRY(inner(n));
cleanup:
  free(buf);
  return err;
}

static emi_err_t outermost(int n)
{
  EMI_CALL(outer(n));
  return EMI_SUCCESS;
}

/* EMI_LAPACKE_TRY: info > 0 from a Cholesky of a matrix that is not SPD, info < 0 for a bad argument. */
static emi_err_t cholesky(int n, double *a)
{
  emi_err_t err = EMI_SUCCESS;
  EMI_LAPACKE_TRY(LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', n, a, n > 0 ? n : 1), EMI_ERR_NOT_SPD, "test matrix");
cleanup:
  return err;
}

int main(void)
{
  /* Every code has a distinct name and a non-empty message. */
  for (int i = 0; i < EMI_ERR_COUNT_; i++) {
    CHECK(strlen(emi_strerror((emi_err_t)i)) > 0);
    for (int j = 0; j < i; j++) CHECK(strcmp(emi_err_name((emi_err_t)i), emi_err_name((emi_err_t)j)) != 0);
  }
  CHECK(strcmp(emi_err_name(EMI_ERR_NOMEM), "EMI_ERR_NOMEM") == 0);
  CHECK(strcmp(emi_strerror(EMI_ERR_NOMEM), "out of memory") == 0);
  CHECK(strcmp(emi_strerror((emi_err_t)9999), "unknown error code") == 0);
  CHECK_INT_EQ(emi_err_exit_status(EMI_SUCCESS), 0);
  CHECK_INT_EQ(emi_err_exit_status(EMI_ERR_USAGE), 2);

  CHECK_OK(outermost(1));
  CHECK(strcmp(emi_err_message(), "") == 0);

  emi_err_t e = outermost(-3);
  CHECK_INT_EQ(e, EMI_ERR_ARG);
  CHECK(strcmp(emi_err_message(), "n = -3, expected n >= 0") == 0);
  char tb[1024];
  emi_err_traceback(tb, sizeof tb);
  /* origin first, then the two frames that passed it up */
  CHECK(strstr(tb, "in inner()") != NULL);
  CHECK(strstr(tb, "in outer()") != NULL);
  CHECK(strstr(tb, "in outermost()") != NULL);
  CHECK(strstr(tb, "in inner()") < strstr(tb, "in outer()"));
  emi_err_clear();
  CHECK_INT_EQ(emi_err_code(), EMI_SUCCESS);

  /* LAPACKE wrapper.  [[4, 2], [2, 3]] is SPD (L = [[2, 0], [1, sqrt 2]]); [[1, 2], [2, 1]] has
   * eigenvalues 3 and -1, so dpotrf stops at the 2nd leading minor (info = 2). */
  double spd[4] = {4, 2, 2, 3}, indef[4] = {1, 2, 2, 1};
  CHECK_OK(cholesky(2, spd));
  CHECK_CLOSE(spd[0], 2.0, 1e-15, 0);
  CHECK_CLOSE(spd[3], sqrt(2.0), 1e-15, 0);
  e = cholesky(2, indef);
  CHECK_INT_EQ(e, EMI_ERR_NOT_SPD);
  CHECK(strstr(emi_err_message(), "test matrix: matrix is not symmetric positive definite") != NULL);
  CHECK(strstr(emi_err_message(), "info = 2") != NULL);
  emi_err_clear();
  e = cholesky(-1, spd);
  CHECK_INT_EQ(e, EMI_ERR_INTERNAL);
  CHECK(strstr(emi_err_message(), "argument 3 is invalid") != NULL);
  emi_err_clear();

  /* A code passed up without being raised still yields a message. */
  e = emi_err_trace(EMI_ERR_IO, __FILE__, __LINE__, __func__);
  CHECK(strcmp(emi_err_message(), "file or system input/output error") == 0);
  emi_err_clear();
  return emi_test_report("test_err");
}
