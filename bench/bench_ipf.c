/* bench_ipf: IPF on a 3-D table (default 200 x 200 x 50), validated, then timed.
 *
 *   bench_ipf [n0 n1 n2] [reps] [--sweeps S | --sweeps auto] [--export PREFIX]
 *
 * 1. Builds a positive "true" table and a distorted seed from a stateless hash of the cell index,
 *    and the margins of the true table: the three 2-D margins {0,1}, {0,2}, {1,2}, and the three 1-D
 *    margins {0}, {1}, {2} (a solution exists for both sets).
 * 2. Validates: emi_ipf_fit and emi_ipf_fit_ref must give the same bits after 3 sweeps, and the fit
 *    must converge (default tolerance) with every margin met.  Any failure: message on stderr, exit 1.
 * 3. With --export PREFIX: writes PREFIX.bin / PREFIX.json (format in bench_util.h) holding the seed,
 *    the six margins and emflow's fitted tables after 1, 3 and 1 + S sweeps of each case, for the
 *    numpy peer (bench/peers/ipf_numpy.py), which must reproduce them before it times itself.
 * 4. Times: fits with max_iter = 1 and max_iter = 1 + S (tolerance 1e-300, so they run all sweeps
 *    and stop with EMI_ERR_NOCONV); time per sweep = (median(t_{1+S}) - median(t_1)) / S, the set-up
 *    (validation, first pass) = median(t_1) - time per sweep.  Min and max are over the repetitions
 *    of (t_{1+S} - median(t_1)) / S (against the median baseline, so that one slow short run cannot
 *    make a sweep look negative).  S defaults to auto: the number of sweeps that takes about 0.1 s
 *    (from a timed 11-sweep pilot fit), between 10 and 2000, so that small tables are not timed
 *    below the clock and scheduler noise.  The numpy peer is timed the same way, with the same S.
 *    Bytes per sweep (the headline GB/s, `bytes_per_sweep`, = `min_bytes_per_sweep`) are the table
 *    traffic an ideal implementation cannot avoid, not what emflow's passes happen to move:
 *      - every cell changes in every sweep, so the table is read and written at least once: 16 bytes
 *        per cell;
 *      - a margin's scaling needs its sums over the whole table after the previous margin's scaling.
 *        A pass that walks the table in slabs along some dimension d can fit, slab by slab, every
 *        margin that contains d (its margin cells lie inside one slab); a margin without d needs the
 *        whole table first, so the table is read again.  The convergence check (every margin's sums
 *        on the final table) ends every sweep.  Reads per sweep = the fewest passes any choice of
 *        slab dimensions allows (a pass may also read lazily, carrying the sweep's factors, and write
 *        once at the end):
 *          2-D margins {0,1},{0,2},{1,2}: slabs along dimension 2 hold {0,2} and {1,2}, and {0,1}
 *            was summed by the previous check: 1 read + 1 write = 16 bytes per cell;
 *          1-D margins {0},{1},{2}: no dimension lies in both {1} and {2}: 2 reads + 1 write = 24.
 *    (The old count, 7 and 8 table volumes, was the traffic of emflow's own passes, and an inefficient
 *    kernel scored higher with it.)  `kernel_bytes_per_sweep` and `GBs_kernel_bytes` are emflow's
 *    own table traffic (kernels/emi_ipf.c: slabs along dimension 0, intervals cut at the margins
 *    without dimension 0; above 8 MiB, margin 0 having dimension 0 in both cases here, the last
 *    interval and the check share one pass with the next sweep's first interval: one read per later
 *    interval, and one read and one write for that pass): 2-D margins 2 volumes, 1-D margins 3, the
 *    ideal counts; up to 8 MiB the table, in cache, is read and written once per interval: 4 and 6;
 *    2-D margins with rows of at most 64 cells on an AVX-512 CPU, the folded pass at every size: 2.
 *    The kernel reports the count of the path it chose (emi_ipf_result_t.table_volumes).
 * 5. STREAM triad (a = b + s c, 3 x 8 bytes per element, arrays of 2^24 doubles = 128 MiB each) in
 *    the same process, same threads, 10 repetitions: best (STREAM's convention) and median.
 *    Note: a table that fits in the last-level cache (200 x 200 x 50 = 16 MB) can beat the triad,
 *    which always runs from DRAM.
 * Output: one JSON line on stdout, with the process's peak RSS (getrusage) taken before the triad.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "bench_util.h"
#include "emi_err.h"
#include "emi_ipf.h"


typedef struct {
  const char *name;
  int nm;
  emi_ipf_margin_t mg[3];
  const char *mg_name[3];
  int volumes; /* the ideal table traffic per sweep, in table volumes (see the header) */
  int kvol;    /* emflow's own traffic per sweep, as the kernel reports it for the path it chose */
  double t_sweep, t_min, t_max, t_setup;
  int iters;
  double dev;
} bcase_t;

/* Fit a copy of the seed for exactly `sweeps` sweeps (tolerance 1e-300: EMI_ERR_NOCONV expected). */
static int fit_sweeps(const bcase_t *bc, const size_t *dims, const double *seed, int sweeps, double *x, double *work,
                      size_t lw)
{
  size_t N = dims[0] * dims[1] * dims[2];
  emi_ipf_opts_t o;
  emi_ipf_opts_default(&o);
  o.total_tol_rel = 1e-12;
  o.tol_rel = 1e-300;
  o.max_iter = sweeps;
  emi_ipf_result_t res;
  memcpy(x, seed, N * sizeof(double));
  emi_err_t e = emi_ipf_fit(3, dims, x, bc->nm, bc->mg, &o, work, lw, &res);
  emi_err_clear();
  if (e != EMI_ERR_NOCONV || res.iterations != sweeps) {
    fprintf(stderr, "bench_ipf: %s: %d sweeps gave %s after %d iterations\n", bc->name, sweeps, emi_err_name(e),
            res.iterations);
    return 1;
  }
  return 0;
}

static int run_case(bcase_t *bc, const size_t *dims, const double *seed, int reps, int S, double *x, double *y,
                    bu_export_t *ex)
{
  size_t N = dims[0] * dims[1] * dims[2];
  size_t lw = emi_ipf_work_len(3, dims, bc->nm, bc->mg);
  double *work = malloc(lw * sizeof(double));
  if (!work) return 1;
  emi_ipf_opts_t o;
  emi_ipf_opts_default(&o);
  o.total_tol_rel = 1e-12;
  emi_ipf_result_t res;
  int rc = 1;

  /* Validate: fast == ref bitwise after 3 sweeps; convergence with every margin met. */
  o.tol_rel = 1e-300;
  o.max_iter = 3;
  memcpy(x, seed, N * sizeof(double));
  memcpy(y, seed, N * sizeof(double));
  emi_err_t ex_ = emi_ipf_fit(3, dims, x, bc->nm, bc->mg, &o, work, lw, &res);
  emi_err_clear();
  emi_err_t ey = emi_ipf_fit_ref(3, dims, y, bc->nm, bc->mg, &o, work, lw, &res);
  emi_err_clear();
  if (ex_ != EMI_ERR_NOCONV || ey != EMI_ERR_NOCONV || memcmp(x, y, N * sizeof(double)) != 0) {
    fprintf(stderr, "bench_ipf: VALIDATION FAILED: %s: emi_ipf_fit and emi_ipf_fit_ref differ (%s, %s)\n", bc->name,
            emi_err_name(ex_), emi_err_name(ey));
    goto done;
  }
  emi_ipf_opts_default(&o);
  o.total_tol_rel = 1e-12;
  memcpy(x, seed, N * sizeof(double));
  if (emi_ipf_fit(3, dims, x, bc->nm, bc->mg, &o, work, lw, &res) != EMI_SUCCESS) {
    fprintf(stderr, "bench_ipf: VALIDATION FAILED: %s: %s\n", bc->name, emi_err_message());
    goto done;
  }
  bc->iters = res.iterations;
  bc->dev = res.max_dev;
  bc->kvol = res.table_volumes;
  if (bc->kvol < 2) {
    fprintf(stderr, "bench_ipf: VALIDATION FAILED: %s: the kernel reports %d table volumes per sweep\n", bc->name,
            bc->kvol);
    goto done;
  }

  /* Tables for the peer: after 1, 3 and 1 + S sweeps. */
  if (ex) {
    const int chk[3] = {1, 3, 1 + S};
    for (int i = 0; i < 3; i++) {
      if (i > 0 && chk[i] == chk[i - 1]) continue;
      if (fit_sweeps(bc, dims, seed, chk[i], x, work, lw)) goto done;
      char name[64];
      snprintf(name, sizeof name, "fit_%s_%d", bc->name, chk[i]);
      bu_export_array(ex, name, x, 3, dims);
    }
  }

  /* Time. */
  enum { RMAX = 64 };
  double t1[RMAX], tS[RMAX], d[RMAX];
  if (reps > RMAX) reps = RMAX;
  o.tol_rel = 1e-300;
  for (int r = 0; r < reps; r++) {
    for (int k = 0; k < 2; k++) {
      o.max_iter = k ? 1 + S : 1;
      memcpy(x, seed, N * sizeof(double));
      double t0 = bu_now();
      emi_err_t e = emi_ipf_fit(3, dims, x, bc->nm, bc->mg, &o, work, lw, &res);
      double t = bu_now() - t0;
      emi_err_clear();
      if (e != EMI_ERR_NOCONV || res.iterations != o.max_iter) {
        fprintf(stderr, "bench_ipf: VALIDATION FAILED: %s: a timed fit of %d sweeps gave %s after %d\n", bc->name,
                o.max_iter, emi_err_name(e), res.iterations);
        goto done;
      }
      (k ? tS : t1)[r] = t;
    }
  }
  double m1 = bu_median(t1, reps), mS = bu_median(tS, reps);
  for (int r = 0; r < reps; r++) d[r] = (tS[r] - m1) / S;
  bc->t_sweep = (mS - m1) / S;
  bu_sort(d, reps);
  bc->t_min = d[0];
  bc->t_max = d[reps - 1];
  bc->t_setup = m1 - bc->t_sweep;
  rc = 0;
done:
  free(work);
  return rc;
}

int main(int argc, char **argv)
{
  size_t dims[3] = {200, 200, 50};
  int reps = 7, S = 0, npos = 0; /* S = 0: auto */
  const char *export_prefix = NULL;
  long pos[4];
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--sweeps") && i + 1 < argc) {
      i++;
      S = strcmp(argv[i], "auto") ? atoi(argv[i]) : 0;
      if (S <= 0 && strcmp(argv[i], "auto")) S = -1;
    } else if (!strcmp(argv[i], "--export") && i + 1 < argc) export_prefix = argv[++i];
    else if (argv[i][0] != '-' && npos < 4) pos[npos++] = atol(argv[i]);
    else npos = -100;
  }
  if (npos >= 3)
    for (int i = 0; i < 3; i++) dims[i] = pos[i] > 0 ? (size_t)pos[i] : 0;
  if (npos == 4) reps = (int)pos[3];
  if ((npos != 0 && npos != 3 && npos != 4) || dims[0] < 1 || dims[1] < 1 || dims[2] < 1 || reps < 1 || S < 0) {
    fprintf(stderr, "usage: bench_ipf [n0 n1 n2] [reps] [--sweeps S | --sweeps auto] [--export PREFIX]\n");
    return 2;
  }
  const size_t n0 = dims[0], n1 = dims[1], n2 = dims[2], N = n0 * n1 * n2;
  double *seed = malloc(N * sizeof(double)), *x = malloc(N * sizeof(double)), *y = malloc(N * sizeof(double));
  double *m01 = calloc(n0 * n1, sizeof(double)), *m02 = calloc(n0 * n2, sizeof(double));
  double *m12 = calloc(n1 * n2, sizeof(double)), *m0 = calloc(n0, sizeof(double));
  double *m1 = calloc(n1, sizeof(double)), *m2 = calloc(n2, sizeof(double));
  if (!seed || !x || !y || !m01 || !m02 || !m12 || !m0 || !m1 || !m2) {
    fprintf(stderr, "bench_ipf: out of memory for a %zu x %zu x %zu table\n", n0, n1, n2);
    return 1;
  }
  for (size_t i = 0; i < n0; i++)
    for (size_t j = 0; j < n1; j++)
      for (size_t k = 0; k < n2; k++) {
        size_t c = (i * n1 + j) * n2 + k;
        double v = bu_hval(1, c, 0.5, 100.0);
        seed[c] = v * bu_hval(2, c, 0.2, 5.0);
        m01[i * n1 + j] += v;
        m02[i * n2 + k] += v;
        m12[j * n2 + k] += v;
        m0[i] += v;
        m1[j] += v;
        m2[k] += v;
      }
  static const int D0[] = {0}, D1[] = {1}, D2[] = {2}, D01[] = {0, 1}, D02[] = {0, 2}, D12[] = {1, 2};
  bcase_t cases[2] = {
      {"2d_margins", 3, {{2, D01, m01}, {2, D02, m02}, {2, D12, m12}}, {"m01", "m02", "m12"}, 2, 0, 0, 0, 0, 0, 0},
      {"1d_margins", 3, {{1, D0, m0}, {1, D1, m1}, {1, D2, m2}}, {"m0", "m1", "m2"}, 3, 0, 0, 0, 0, 0, 0},
  };

  int rc = 0;
  if (S == 0) { /* auto: about 0.1 s of sweeps per timed fit */
    size_t lw = emi_ipf_work_len(3, dims, cases[0].nm, cases[0].mg);
    double *work = malloc(lw * sizeof(double));
    if (!work) return 1;
    rc = fit_sweeps(&cases[0], dims, seed, 11, x, work, lw); /* warm-up */
    double t0 = bu_now();
    if (rc == 0) rc = fit_sweeps(&cases[0], dims, seed, 11, x, work, lw);
    double per = (bu_now() - t0) / 11;
    free(work);
    if (rc) return 1;
    S = per > 0 ? (int)ceil(0.1 / per) : 2000;
    S = S < 10 ? 10 : S > 2000 ? 2000 : S;
  }
  bu_export_t ex;
  if (export_prefix) {
    if (bu_export_open(&ex, export_prefix)) return 1;
    size_t s01[2] = {n0, n1}, s02[2] = {n0, n2}, s12[2] = {n1, n2};
    bu_export_array(&ex, "seed", seed, 3, dims);
    bu_export_array(&ex, "m01", m01, 2, s01);
    bu_export_array(&ex, "m02", m02, 2, s02);
    bu_export_array(&ex, "m12", m12, 2, s12);
    bu_export_array(&ex, "m0", m0, 1, &dims[0]);
    bu_export_array(&ex, "m1", m1, 1, &dims[1]);
    bu_export_array(&ex, "m2", m2, 1, &dims[2]);
    char buf[512];
    snprintf(buf, sizeof buf, "[%d,%d,%d]", 1, 3, 1 + S);
    bu_export_meta(&ex, "check_sweeps", buf);
    snprintf(buf, sizeof buf, "%d", S);
    bu_export_meta(&ex, "sweeps_timed", buf);
    /* Cases: margins in fitting order, each bound to table dimensions (layout order as listed). */
    bu_export_meta(&ex, "cases",
                   "[{\"name\":\"2d_margins\",\"margins\":[{\"dims\":[0,1],\"target\":\"m01\"},"
                   "{\"dims\":[0,2],\"target\":\"m02\"},{\"dims\":[1,2],\"target\":\"m12\"}]},"
                   "{\"name\":\"1d_margins\",\"margins\":[{\"dims\":[0],\"target\":\"m0\"},"
                   "{\"dims\":[1],\"target\":\"m1\"},{\"dims\":[2],\"target\":\"m2\"}]}]");
  }
  for (int c = 0; c < 2 && rc == 0; c++) rc = run_case(&cases[c], dims, seed, reps, S, x, y, export_prefix ? &ex : NULL);
  if (export_prefix && bu_export_close(&ex) != 0) rc = 1;
  /* Peak RSS of the IPF work (seed, two tables, margins, workspace), before the triad's 384 MiB. */
  const long rss_kb = bu_maxrss_kb();
  double triad = NAN, triad_med = NAN;
  if (rc == 0) {
    bu_stream_triad(&triad, &triad_med);
    if (!(triad > 0)) {
      fprintf(stderr, "bench_ipf: VALIDATION FAILED: STREAM triad gave wrong values\n");
      rc = 1;
    }
  }
  if (rc == 0) {
    printf("{\"bench\":\"ipf3d\",\"impl\":\"emflow\",\"dims\":[%zu,%zu,%zu],\"threads\":%d,\"reps\":%d,"
           "\"sweeps_timed\":%d,\"compiler\":\"%s\",\"stream_triad_GBs\":%.2f,\"stream_triad_GBs_median\":%.2f,"
           "\"maxrss_kb\":%ld,\"cases\":[",
           n0, n1, n2, omp_get_max_threads(), reps, S, __VERSION__, triad, triad_med, rss_kb);
    for (int c = 0; c < 2; c++) {
      const bcase_t *b = &cases[c];
      double bytes = (double)b->volumes * (double)N * 8.0, minbytes = bytes;
      /* emflow's own passes, as the kernel reports them (emi_ipf_result_t.table_volumes) */
      const int kvol = b->kvol;
      const double kbytes = (double)kvol * (double)N * 8.0;
      printf("%s{\"margins\":\"%s\",\"validated\":\"fast == ref bitwise after 3 sweeps; converged\","
             "\"iterations_to_converge\":%d,\"final_max_dev\":%.3g,"
             "\"sweep_s_median\":%.6g,\"sweep_s_min\":%.6g,\"sweep_s_max\":%.6g,\"setup_s\":%.6g,"
             "\"bytes_per_sweep\":%.0f,\"GBs\":%.2f,\"GBs_vs_triad\":%.3f,\"GBs_vs_triad_median\":%.3f,"
             "\"min_bytes_per_sweep\":%.0f,\"GBs_min_bytes\":%.2f,\"bytes_model\":\"ideal\","
             "\"table_volumes_min\":%d,\"kernel_table_volumes\":%d,\"kernel_bytes_per_sweep\":%.0f,"
             "\"GBs_kernel_bytes\":%.2f}",
             c ? "," : "", b->name, b->iters, b->dev, b->t_sweep, b->t_min, b->t_max, b->t_setup, bytes,
             bytes / b->t_sweep / 1e9, bytes / b->t_sweep / 1e9 / triad, bytes / b->t_sweep / 1e9 / triad_med,
             minbytes, minbytes / b->t_sweep / 1e9, b->volumes, kvol, kbytes, kbytes / b->t_sweep / 1e9);
    }
    printf("]}\n");
  }
  free(seed), free(x), free(y), free(m01), free(m02), free(m12), free(m0), free(m1), free(m2);
  return rc;
}
