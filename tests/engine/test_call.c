/* test_call: the MPI and HDF5 call wrappers (engine/emi_call.h) turn library failures into emflow
 * errors carrying the library's own words, and main-style agreement (emi_mpi_agree) shares them. */
#include <string.h>

#include "emi_call.h"
#include "emi_cli.h"
#include "emi_test.h"

static emi_err_t bad_bcast(void)
{
  emi_err_t err = EMI_SUCCESS;
  int x = 0;
  EMI_MPI_TRY(MPI_Bcast(&x, -1, MPI_INT, 0, MPI_COMM_WORLD)); /* negative count: MPI_ERR_COUNT */
cleanup:
  return err;
}

static emi_err_t open_missing(const char *path)
{
  emi_err_t err = EMI_SUCCESS;
  hid_t fid = H5I_INVALID_HID;
  EMI_H5_TRY(fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT));
cleanup:
  if (fid >= 0) H5Fclose(fid);
  return err;
}

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);

  emi_err_t e = bad_bcast();
  CHECK_INT_EQ(e, EMI_ERR_MPI);
  CHECK(strstr(emi_err_message(), "MPI_Bcast(&x, -1, MPI_INT, 0, MPI_COMM_WORLD) failed: ") != NULL);
  CHECK(strstr(emi_err_message(), "count") != NULL); /* Open MPI: "MPI_ERR_COUNT: invalid count argument" */
  emi_err_clear();

  e = open_missing("/nonexistent/dir/file.h5");
  CHECK_INT_EQ(e, EMI_ERR_HDF5);
  CHECK(strstr(emi_err_message(), "H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT)") != NULL);
  CHECK(strstr(emi_err_message(), "unable to open file") != NULL);
  emi_err_clear();

  /* agreement: no failure -> success everywhere; a failure -> its code and message */
  int failing = 7;
  CHECK_OK(emi_mpi_agree(MPI_COMM_WORLD, EMI_SUCCESS, &failing));
  CHECK_INT_EQ(failing, -1);
  e = emi_mpi_agree(MPI_COMM_WORLD, EMI_ERROR(EMI_ERR_INPUT, "rank-0 problem"), &failing);
  CHECK_INT_EQ(e, EMI_ERR_INPUT);
  CHECK_INT_EQ(failing, 0);
  CHECK(strcmp(emi_err_message(), "rank-0 problem") == 0);
  emi_err_clear();

  int rc = emi_test_report("test_call");
  MPI_Finalize();
  return rc;
}
