/* bench_env: the software environment the benchmarks run with, as one JSON line (for bench/run.sh).
 *
 *   compiler       the compiler that built emflow (CMake id and version, and __VERSION__)
 *   openmp         _OPENMP (the OpenMP specification date) and omp_get_max_threads()
 *   blas           openblas_get_config(), OpenBLAS's threading model and thread count
 *   lapack         ilaver
 *   mpi            MPI_Get_library_version (callable before MPI_Init), first line
 *   hdf5           H5get_libversion, and whether the headers are a parallel build
 * Nothing is timed, so nothing is validated.
 */
#include <stdio.h>
#include <string.h>

#include <hdf5.h>
#include <mpi.h>
#include <omp.h>

extern char *openblas_get_config(void);
extern int openblas_get_parallel(void);
extern int openblas_get_num_threads(void);
extern void ilaver_(int *major, int *minor, int *patch);

/* Print s as a JSON string (quotes, backslashes and control characters escaped). */
static void jstr(const char *s)
{
  putchar('"');
  for (; s && *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') printf("\\%c", c);
    else if (c < 0x20) printf("\\u%04x", c);
    else putchar(c);
  }
  putchar('"');
}

int main(void)
{
  char mpi[MPI_MAX_LIBRARY_VERSION_STRING] = "";
  int len = 0;
  if (MPI_Get_library_version(mpi, &len) != MPI_SUCCESS) snprintf(mpi, sizeof mpi, "unknown");
  mpi[strcspn(mpi, "\n")] = '\0';
  unsigned hmaj = 0, hmin = 0, hrel = 0;
  H5get_libversion(&hmaj, &hmin, &hrel);
  char hdf5[64];
  snprintf(hdf5, sizeof hdf5, "HDF5 %u.%u.%u", hmaj, hmin, hrel);
  int lmaj = 0, lmin = 0, lpat = 0;
  ilaver_(&lmaj, &lmin, &lpat);
  char lapack[64];
  snprintf(lapack, sizeof lapack, "LAPACK %d.%d.%d", lmaj, lmin, lpat);
  static const char *par[] = {"sequential", "pthreads", "openmp"};
  int p = openblas_get_parallel();

  printf("{\"bench\":\"env\",\"compiler\":");
#ifdef EMI_COMPILER_ID
  jstr(EMI_COMPILER_ID);
#else
  jstr("unknown");
#endif
  printf(",\"compiler_version_macro\":");
  jstr(__VERSION__);
  printf(",\"openmp_spec\":%d,\"omp_max_threads\":%d,\"blas\":", (int)_OPENMP, omp_get_max_threads());
  jstr(openblas_get_config());
  printf(",\"blas_threading\":");
  jstr(p >= 0 && p <= 2 ? par[p] : "unknown");
  printf(",\"blas_threads\":%d,\"lapack\":", openblas_get_num_threads());
  jstr(lapack);
  printf(",\"mpi\":");
  jstr(mpi);
  printf(",\"hdf5\":");
  jstr(hdf5);
#ifdef H5_HAVE_PARALLEL
  printf(",\"hdf5_parallel\":true}\n");
#else
  printf(",\"hdf5_parallel\":false}\n");
#endif
  return 0;
}
