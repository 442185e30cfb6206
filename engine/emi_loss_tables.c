/* emi_loss_tables.c: see emi_loss_tables.h. */
#include "emi_loss_tables.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emi_call.h"

emi_err_t emi_loss_finish(MPI_Comm comm, int64_t *blocks, int nthreads, size_t ncell,
                          const int64_t *const raw[EMI_LOSS_NKINDS], emi_loss_out_t *o)
{
  emi_err_t err = EMI_SUCCESS;
  const size_t len = EMI_LOSS_BLOCK_LEN(ncell);
  for (int th = 1; th < nthreads; th++)
    for (size_t k = 0; k < len; k++) blocks[k] += blocks[(size_t)th * len + k];
  for (size_t a = 0; a < len; a += (size_t)1 << 28) {
    size_t cnt = len - a < ((size_t)1 << 28) ? len - a : ((size_t)1 << 28);
    EMI_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, blocks + a, (int)cnt, MPI_INT64_T, MPI_SUM, comm));
  }
  for (int d = 0; d < EMI_LOSS_NDIR; d++)
    for (int b = 0; b < EMI_LOSS_NCLASS; b++) {
      o->counts.imputed[d][b] = blocks[d * EMI_LOSS_NCLASS + b];
      o->counts.observed[d][b] = blocks[EMI_LOSS_NDB + d * EMI_LOSS_NCLASS + b];
    }
  EMI_TRY(emi_loss_rates(&o->counts, &o->rates));
  for (int k = 0; k < EMI_LOSS_NKINDS; k++) {
    if (!raw[k]) continue;
    EMI_MALLOC(o->adj[k], ncell ? ncell : 1, "adjusted table");
    emi_loss_adjust(ncell, raw[k], emi_loss_delta(blocks, ncell, k, 0, 0), &o->rates, o->adj[k]);
  }
cleanup:
  return err;
}

void emi_loss_out_free(emi_loss_out_t *o)
{
  for (int k = 0; k < EMI_LOSS_NKINDS; k++) free(o->adj[k]), o->adj[k] = NULL;
  free((void *)o->land_points), o->land_points = NULL;
  free(o->land_buf), o->land_buf = NULL;
  o->nland = 0;
}

emi_err_t emi_loss_points_parse(int n, const char *const *items, emi_loss_out_t *o)
{
  emi_err_t err = EMI_SUCCESS;
  size_t len = 1, cap = 1;
  for (int i = 0; i < n; i++) {
    len += strlen(items[i]) + 1;
    for (const char *q = items[i]; *q; q++) cap += *q == ',';
    cap++;
  }
  const char **pts = NULL;
  char *buf = NULL;
  EMI_CALLOC(pts, cap, "land border points");
  EMI_MALLOC(buf, len, "land border points");
  o->land_points = pts, o->land_buf = buf, o->nland = 0;
  char *w = buf;
  for (int i = 0; i < n; i++) {
    const char *q = items[i];
    for (;;) {
      const char *e = strchr(q, ',');
      size_t l = e ? (size_t)(e - q) : strlen(q);
      while (l && *q == ' ') q++, l--; /* "A, B" */
      while (l && q[l - 1] == ' ') l--;
      if (l == 0 || l > 16)
        EMI_FAIL(EMI_ERR_CONFIG, "classify: --land-border-points '%s': expected border-point codes of 1..16 bytes "
                 "separated by commas", items[i]);
      memcpy(w, q, l), w[l] = '\0';
      pts[o->nland++] = w;
      w += l + 1;
      if (!e) break;
      q = e + 1;
    }
  }
cleanup:
  return err;
}

static emi_err_t write_small(emi_h5_file_t *f, MPI_Comm comm, const char *path, emi_h5_type_t type, const void *v,
                             size_t elem, const char *units, const char *long_name)
{
  emi_err_t err = EMI_SUCCESS;
  static const char *const sc[2] = {"/linkage/loss_direction", "/linkage/border_point_class"};
  uint64_t dims[2] = {EMI_LOSS_NDIR, EMI_LOSS_NCLASS}, chunk, row0, nrows;
  EMI_TRY(emi_h5_chunk_rows(type, 2, dims, &chunk));
  EMI_TRY(emi_h5_partition(dims[0], chunk, comm, &row0, &nrows));
  EMI_TRY(emi_h5_write_array(f, path, type, 2, dims, sc, row0, nrows, (const char *)v + row0 * EMI_LOSS_NCLASS * elem,
                             units, long_name));
cleanup:
  return err;
}

emi_err_t emi_loss_write(emi_h5_file_t *f, MPI_Comm comm, const emi_loss_out_t *o, const uint64_t dims[4],
                         const char *const sc[4], const char *const su[4], uint64_t row0, uint64_t nrows, size_t row)
{
  emi_err_t err = EMI_SUCCESS;
  static const char *const method =
    "the rule's table (int64 twin) minus the expected effect of lost first and last passages, which the repair "
    "cannot see: sum over direction d and border-point class b of p/(1-p) x (change of the table when the first or "
    "last passage, of (d, b), of each recorded history is removed), p estimated from the repairs as imputed / "
    "(imputed + observed interior passages) (/linkage/loss_rate); cells may be slightly negative, totals are the "
    "estimate (README, emflow classify: lost records)";
  static const struct { int kind; const char *path, *long_name; } tabs[EMI_LOSS_NKINDS] = {
    {EMI_LOSS_K_DEP, "/linkage/migrant_departures_adjusted",
     "migrant departures (12/16 rule) by month of the exit, adjusted for lost first and last crossing records"},
    {EMI_LOSS_K_ARR, "/linkage/migrant_arrivals_adjusted",
     "migrant arrivals (12/16 rule) by month of the entry, adjusted for lost first and last crossing records"},
    {EMI_LOSS_K_UND, "/undeclared/departures_adjusted",
     "migrant departures without a declaration in the matching window, adjusted for lost first and last crossing "
     "records"},
  };
  for (int k = 0; k < EMI_LOSS_NKINDS; k++) {
    if (!o->adj[tabs[k].kind]) continue;
    EMI_TRY(emi_h5_write_array(f, tabs[k].path, EMI_H5_DOUBLE, 4, dims, tabs[k].kind == EMI_LOSS_K_UND ? su : sc, row0,
                               nrows, o->adj[tabs[k].kind] + row0 * row, "persons", tabs[k].long_name));
    EMI_TRY(emi_h5_attr_str(f, tabs[k].path, "method", method));
  }
  EMI_TRY(emi_h5_write_scale_str(f, "/linkage", "loss_direction", EMI_LOSS_NDIR, emi_loss_dir_names, "",
                                 "direction of a lost crossing record"));
  EMI_TRY(emi_h5_write_scale_str(f, "/linkage", "border_point_class", EMI_LOSS_NCLASS, emi_loss_class_names, "",
                                 "border-point class: land = a point of --land-border-points, other = the rest"));
  double rate[EMI_LOSS_NDB];
  int64_t imp[EMI_LOSS_NDB], obs[EMI_LOSS_NDB];
  char src[1024] = "";
  size_t used = 0;
  for (int d = 0; d < EMI_LOSS_NDIR; d++)
    for (int b = 0; b < EMI_LOSS_NCLASS; b++) {
      int i = d * EMI_LOSS_NCLASS + b, s = o->rates.source[d][b];
      rate[i] = o->rates.rate[d][b], imp[i] = o->counts.imputed[d][b], obs[i] = o->counts.observed[d][b];
      if (used < sizeof src)
        used += (size_t)snprintf(src + used, sizeof src - used, "%s%s/%s: %s", i ? "; " : "", emi_loss_dir_names[d],
                    emi_loss_class_names[b],
                    s == EMI_LOSS_SRC_OWN ? "own counts"
                    : s == EMI_LOSS_SRC_POOLED ? "no observed interior passage: the direction's pooled rate"
                    : o->counts.imputed[d][b] > 0
                        ? "imputed passages but no observed interior one, here or pooled: not estimable, rate 0 "
                          "(nothing adjusted for it)"
                        : "no data: rate 0 (nothing adjusted for it)");
    }
  EMI_TRY(write_small(f, comm, "/linkage/loss_rate", EMI_H5_DOUBLE, rate, sizeof(double), "1",
                      "estimated probability that a crossing record is lost: imputed / (imputed + observed)"));
  EMI_TRY(emi_h5_attr_str(f, "/linkage/loss_rate", "source", src));
  EMI_TRY(emi_h5_attr_int(f, "/linkage/loss_rate", "min_span_days", o->span_days));
  EMI_TRY(emi_h5_attr_str(f, "/linkage/loss_rate", "method",
                          "a lost passage between two of the other direction is imputed by the repair: of the interior "
                          "passages (a passage of the other direction before and after, min_span_days or more apart), "
                          "imputed ones were lost; an "
                          "imputed passage gets the class of the other end of its trip (an exit: the next entry; an "
                          "entry: the previous exit), a recorded one its own"));
  EMI_TRY(write_small(f, comm, "/linkage/loss_imputed", EMI_H5_INT64, imp, sizeof(int64_t), "crossings",
                      "crossings imputed by the repair (lost records seen between two of the other direction)"));
  EMI_TRY(write_small(f, comm, "/linkage/loss_observed", EMI_H5_INT64, obs, sizeof(int64_t), "crossings",
                      "recorded crossings neither first nor last in their person's repaired history"));
  if (o->nland) {
    size_t need = 1;
    for (int k = 0; k < o->nland; k++) need += strlen(o->land_points[k]) + 1;
    char *s = malloc(need);
    if (!s) EMI_FAIL(EMI_ERR_NOMEM, "cannot allocate the land border points list");
    s[0] = '\0';
    for (int k = 0; k < o->nland; k++) strcat(strcat(s, k ? "," : ""), o->land_points[k]);
    err = emi_h5_attr_str(f, "/linkage", "land_border_points", s);
    free(s);
    EMI_TRY(err);
  } else {
    EMI_TRY(emi_h5_attr_str(f, "/linkage", "land_border_points", "(none: every point is of class other)"));
  }
cleanup:
  return err;
}
