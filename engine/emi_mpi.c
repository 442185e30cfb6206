/* emi_mpi.c: collective agreement on errors. */
#include <string.h>

#include "emi_cli.h"

emi_err_t emi_mpi_agree(MPI_Comm comm, emi_err_t err, int *failing_rank)
{
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  /* lowest failing rank: min over (failed ? rank : size) */
  int mine = err != EMI_SUCCESS ? rank : size, first = size;
  if (MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS) {
    if (failing_rank) *failing_rank = rank;
    return err != EMI_SUCCESS ? err : EMI_ERROR(EMI_ERR_MPI, "MPI_Allreduce failed while agreeing on errors");
  }
  if (failing_rank) *failing_rank = first < size ? first : -1;
  if (first == size) return EMI_SUCCESS;
  /* share the failing rank's code and message, so that whichever rank reports says the same */
  struct {
    int code;
    char msg[1024];
  } m;
  memset(&m, 0, sizeof m);
  if (rank == first) {
    m.code = (int)err;
    strncpy(m.msg, emi_err_message(), sizeof m.msg - 1);
  }
  if (MPI_Bcast(&m, (int)sizeof m, MPI_BYTE, first, comm) != MPI_SUCCESS) return EMI_ERR_MPI;
  if (rank != first) return EMI_ERROR((emi_err_t)m.code, "%s (rank %d)", m.msg, first);
  return err;
}
