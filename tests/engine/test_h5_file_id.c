/* test_h5_file_id.c: emi_h5_file_id (engine/emi_h5.h) gives the open file's HDF5 identifier, through
 * which a module can create an object emi_h5 has no function for; -1 for NULL.  Right answers: the
 * group created through the identifier is found by HDF5 in the committed file under the final name,
 * with object time tracking off as set; H5Iget_type says the identifier is a file.  One rank
 * (singleton MPI_Init). */
#include <hdf5.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emi_h5.h"
#include "emi_test.h"

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  const char *tmp = getenv("EMI_TEST_TMP") ? getenv("EMI_TEST_TMP") : ".";
  char path[1024];
  snprintf(path, sizeof path, "%s/test_h5_file_id.h5", tmp);
  CHECK_INT_EQ(emi_h5_file_id(NULL), -1);
  emi_h5_file_t *f = NULL;
  CHECK_OK(emi_h5_file_create(MPI_COMM_WORLD, path, &f));
  hid_t fid = (hid_t)emi_h5_file_id(f);
  CHECK(fid >= 0);
  CHECK(H5Iget_type(fid) == H5I_FILE);
  hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
  CHECK(H5Pset_obj_track_times(gcpl, 0) >= 0);
  hid_t g = H5Gcreate2(fid, "/made_through_the_id", H5P_DEFAULT, gcpl, H5P_DEFAULT);
  CHECK(g >= 0);
  H5Gclose(g);
  H5Pclose(gcpl);
  CHECK_OK(emi_h5_file_commit(&f));
  hid_t rf = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  CHECK(rf >= 0);
  CHECK(H5Lexists(rf, "/made_through_the_id", H5P_DEFAULT) > 0);
  H5Fclose(rf);
  remove(path);
  int rc = emi_test_report("test_h5_file_id");
  MPI_Finalize();
  return rc;
}
