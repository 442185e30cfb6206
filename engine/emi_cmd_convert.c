/* emi_cmd_convert.c: `emflow convert IN.csv -o OUT.h5`: crossings CSV -> the HDF5 compound form.
 *
 *   mpiexec -n N emflow convert crossings.csv -o crossings.h5 [--max-reject-share 0.01]
 *
 * Input: the crossings CSV of DESIGN.md (header person_id,crossed_at,direction,citizenship,
 * border_point,document,sex,birth_year, columns in any order, UTF-8 BOM and CRLF accepted).  Every
 * field of every record is validated (emi_crossing_parse); a bad record is a counted reject with a
 * reason (emi_crossings.h: EMI_REJECT_LIST).  A header that is not the schema, or an empty file, is
 * one error naming the file and line 1.
 *
 * Output (OUT.h5, written only when the run succeeds):
 *   /crossings/records            the accepted records, in file order (emi_crossings.h)
 *   /crossings/reject_reason      dimension scale: the reason names
 *   /crossings/rejects            int64 [reason]: rejected records by reason
 *   /crossings/rejects_first_line int64 [reason]: line number of the first record rejected for the
 *                                 reason (0: none)
 *   attributes on /crossings: records_in (data lines after the header), records_accepted,
 *   records_rejected (records_in = accepted + rejected, checked), source_file, max_reject_share;
 *   plus provenance (SHA-256 of the input) and /config.
 * When rejected / records_in exceeds --max-reject-share, nothing is written and the run stops
 * (exit status 12) with one message naming the file, the first bad line, its field, what was found
 * and what was expected.
 *
 * Reading.  Streaming and memory-bounded (1 MiB read buffer, lines of at most 4096 bytes, batches
 * of EMI_CONVERT_BATCH records).  The data part of the file is split across ranks by byte ranges:
 * rank r parses from the first line start at or after its nominal offset to the next rank's start.
 * Pass 1 validates and counts (in parallel), so the stop decision is taken before anything is
 * written; pass 2 parses again and appends the accepted records to the collective writer, one rank
 * after the other so that the records keep the file's order (the output is the same for any number
 * of ranks).  The parallel reader of issue 4 replaces pass 2's turns.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "emi_call.h"
#include "emi_cli.h"
#include "emi_commands.h"
#include "emi_crossings.h"
#include "emi_log.h"
#include "emi_output.h"

#define EMI_CONVERT_BATCH 65536 /* records per collective append (7 MiB) */
#define READ_BUF (1u << 20)

const emi_opt_spec_t emi_convert_specs[] = {
  EMI_OPTS_COMMON,
  {"output", "convert", EMI_OPT_PATH, NULL, "", "output HDF5 file (/crossings)", 0, 0, NULL, 'o'},
  {"max-reject-share", "convert", EMI_OPT_REAL, "0.01", "",
   "stop with an error when more than this share of the records is rejected", 0, 1},
  {"check-countries", "convert", EMI_OPT_FLAG, "true", "",
   "check citizenship codes against the bundled ISO 3166-1 alpha-3 list (--no-check-countries: shape only)"},
};
const int emi_convert_nspecs = (int)(sizeof emi_convert_specs / sizeof emi_convert_specs[0]);

/* ------------------------------------------------------------------ pass state */
typedef struct {
  const int *col;
  const emi_country_list_t *countries;
  int64_t lines;    /* data lines seen (the current line's index in the range, from 0) */
  int64_t accepted;
  int64_t rejects[EMI_NREJECTS];
  int64_t first_line[EMI_NREJECTS]; /* index in the range of the first reject of each reason */
  int64_t bad_line; /* index in the range of the first reject */
  emi_reject_info_t bad;
  /* pass 2 */
  emi_crossings_writer_t *w;
  emi_crossing_t *batch;
  size_t nbatch;
  int64_t calls_left; /* collective appends this rank may still make */
  emi_err_t err;
} scan_t;

static emi_err_t flush(scan_t *s)
{
  if (s->calls_left <= 0)
    return EMI_ERROR(EMI_ERR_IO, "the input changed between the two passes (more records than counted)");
  s->calls_left--;
  emi_err_t e = emi_crossings_writer_append(s->w, s->nbatch, s->batch);
  s->nbatch = 0;
  return e;
}

static void one_line(scan_t *s, const char *p, size_t n, int too_long)
{
  emi_crossing_t rec;
  emi_reject_info_t why;
  int ok;
  if (too_long) {
    why.reason = EMI_REJECT_LINE_TOO_LONG;
    why.field = -1;
    snprintf(why.found, sizeof why.found, "(a line longer than %d bytes)", EMI_CROSSINGS_MAX_LINE); /* not its text: it may begin with the person key */
    ok = 0;
  } else {
    ok = emi_crossing_parse(p, n, s->col, s->countries, &rec, &why);
  }
  if (ok) {
    s->accepted++;
    if (s->w && !s->err) {
      s->batch[s->nbatch++] = rec;
      if (s->nbatch == EMI_CONVERT_BATCH) s->err = flush(s);
    }
  } else {
    if (s->rejects[why.reason]++ == 0) s->first_line[why.reason] = s->lines;
    if (s->lines - s->accepted == 0) s->bad_line = s->lines, s->bad = why; /* first reject of the range */
  }
  s->lines++;
}

/* Parse the lines of bytes [start, end) of fp (start is a line start). */
static emi_err_t scan_range(FILE *fp, const char *path, uint64_t start, uint64_t end, scan_t *s)
{
  emi_err_t err = EMI_SUCCESS;
  char *buf = NULL, *line = NULL;
  size_t ll = 0;
  int too_long = 0;
  EMI_MALLOC(buf, READ_BUF, "read buffer");
  EMI_MALLOC(line, EMI_CROSSINGS_MAX_LINE + 2, "line buffer");
  if (fseeko(fp, (off_t)start, SEEK_SET) != 0) EMI_FAIL(EMI_ERR_IO, "%s: cannot seek: %s", path, strerror(errno));
  uint64_t pos = start;
  while (pos < end) {
    size_t want = end - pos < READ_BUF ? (size_t)(end - pos) : READ_BUF;
    size_t got = fread(buf, 1, want, fp);
    if (got == 0) EMI_FAIL(EMI_ERR_IO, "%s: read error or unexpected end of file at byte %" PRIu64, path, pos);
    pos += got;
    size_t i = 0;
    while (i < got) {
      char *nl = memchr(buf + i, '\n', got - i);
      size_t seg = nl ? (size_t)(nl - (buf + i)) : got - i;
      if (!too_long) {
        if (ll + seg > EMI_CROSSINGS_MAX_LINE + 1) {
          size_t keep = EMI_CROSSINGS_MAX_LINE + 1 - ll;
          memcpy(line + ll, buf + i, keep);
          ll += keep;
          too_long = 1;
        } else {
          memcpy(line + ll, buf + i, seg);
          ll += seg;
        }
      }
      i += seg;
      if (nl) {
        line[ll] = '\0';
        one_line(s, line, ll, too_long);
        ll = 0, too_long = 0;
        i++;
      }
    }
  }
  if (ll > 0 || too_long) { /* last line without a line end */
    line[ll] = '\0';
    one_line(s, line, ll, too_long);
  }
cleanup:
  free(buf);
  free(line);
  return err;
}

/* ------------------------------------------------------------------ header */
static emi_err_t read_header(const char *path, FILE *fp, uint64_t size, int col[EMI_CROSSINGS_NFIELDS], uint64_t *hlen)
{
  char buf[EMI_CROSSINGS_MAX_LINE + 2];
  if (size == 0)
    return EMI_ERROR(EMI_ERR_INPUT, "%s: line 1: the file is empty: expected the header %s", path, EMI_CROSSINGS_HEADER);
  size_t got = fread(buf, 1, sizeof buf - 1, fp);
  buf[got] = '\0';
  char *nl = memchr(buf, '\n', got);
  if (!nl && got == sizeof buf - 1)
    return EMI_ERROR(EMI_ERR_INPUT, "%s: line 1: the header is longer than %d bytes: expected %s", path,
                     EMI_CROSSINGS_MAX_LINE, EMI_CROSSINGS_HEADER);
  size_t n = nl ? (size_t)(nl - buf) : got;
  *hlen = nl ? n + 1 : n;
  /* a CR before the line's end: lines that end in CR alone run together here, so what follows
   * would be a record (with its person key): named, not shown */
  const char *cr = memchr(buf, '\r', n);
  if (cr && cr + 1 < buf + n)
    return EMI_ERROR(EMI_ERR_INPUT, "%s: line 1: the header has a carriage return (CR) at byte %zu, before the "
                     "line's end: the file's lines seem to end in CR alone; expected LF or CRLF line ends and the "
                     "header %s", path, (size_t)(cr - buf) + 1, EMI_CROSSINGS_HEADER);
  if (n && buf[n - 1] == '\r') n--;
  buf[n] = '\0';
  char *h = buf;
  if (n >= 3 && !memcmp(h, "\xEF\xBB\xBF", 3)) h += 3; /* UTF-8 BOM */
  for (int k = 0; k < EMI_CROSSINGS_NFIELDS; k++) col[k] = -1;
  int j = 0;
  for (char *tok = h;; j++) {
    char *c = strchr(tok, ',');
    if (c) *c = '\0';
    size_t tl = strlen(tok);
    if (tl >= 2 && tok[0] == '"' && tok[tl - 1] == '"') tok[tl - 1] = '\0', tok++;
    int k;
    for (k = 0; k < EMI_CROSSINGS_NFIELDS; k++)
      if (!strcmp(tok, emi_crossings_fields[k])) break;
    if (k == EMI_CROSSINGS_NFIELDS || j >= EMI_CROSSINGS_NFIELDS)
      {
      char shown[64];
      emi_text_escape(shown, sizeof shown, tok);
      return EMI_ERROR(EMI_ERR_INPUT, "%s: line 1: header field %d is '%s': expected the header %s (columns in any "
                       "order, each once)", path, j + 1, shown, EMI_CROSSINGS_HEADER);
    }
    if (col[k] >= 0)
      return EMI_ERROR(EMI_ERR_INPUT, "%s: line 1: header field %d: column '%s' appears twice: expected the header %s",
                       path, j + 1, tok, EMI_CROSSINGS_HEADER);
    col[k] = j;
    if (!c) break;
    tok = c + 1;
  }
  for (int k = 0; k < EMI_CROSSINGS_NFIELDS; k++)
    if (col[k] < 0)
      return EMI_ERROR(EMI_ERR_INPUT, "%s: line 1: the header has no column '%s': expected the header %s", path,
                       emi_crossings_fields[k], EMI_CROSSINGS_HEADER);
  return EMI_SUCCESS;
}

/* First line start at or after byte b (b > header end), or size. */
static emi_err_t line_start_after(FILE *fp, const char *path, uint64_t b, uint64_t size, uint64_t *out)
{
  char buf[65536];
  uint64_t pos = b - 1;
  if (fseeko(fp, (off_t)pos, SEEK_SET) != 0) return EMI_ERROR(EMI_ERR_IO, "%s: cannot seek: %s", path, strerror(errno));
  while (pos < size) {
    size_t got = fread(buf, 1, sizeof buf, fp);
    if (got == 0) break;
    char *nl = memchr(buf, '\n', got);
    if (nl) {
      *out = pos + (uint64_t)(nl - buf) + 1;
      return EMI_SUCCESS;
    }
    pos += got;
  }
  *out = size;
  return EMI_SUCCESS;
}

/* ------------------------------------------------------------------ the command */
emi_err_t emi_cmd_convert(emi_ctx_t *ctx)
{
  emi_err_t err = EMI_SUCCESS, local = EMI_SUCCESS;
  const char *in = ctx->pos[0], *out = NULL;
  double max_share = 0;
  int check = 1, P = ctx->size, me = ctx->rank;
  FILE *fp = NULL;
  uint64_t *starts = NULL;
  int64_t *accepted_all = NULL;
  emi_h5_file_t *f = NULL;
  emi_provenance_t *prov = NULL;
  emi_crossings_writer_t *w = NULL;
  scan_t s;
  memset(&s, 0, sizeof s);
  int col[EMI_CROSSINGS_NFIELDS];
  uint64_t hdr[2 + EMI_CROSSINGS_NFIELDS] = {0}; /* size, header length, columns */

  EMI_TRY(emi_opts_get_str(ctx->opts, "output", &out));
  if (!out) EMI_FAIL(EMI_ERR_USAGE, "convert: --output (-o) OUT.h5 is required");
  /* before reading anything: the output can be created, and it is not the input */
  local = emi_output_check_path(out);
  if (!local) local = emi_output_check_not_input(out, in);
  EMI_TRY(emi_mpi_agree(ctx->comm, local, NULL));
  EMI_TRY(emi_opts_get_real(ctx->opts, "max-reject-share", &max_share));
  EMI_TRY(emi_opts_get_flag(ctx->opts, "check-countries", &check));

  struct stat st_in;
  if (!(fp = fopen(in, "rb"))) local = EMI_ERROR(EMI_ERR_IO, "%s: cannot open: %s", in, strerror(errno));
  else if (fstat(fileno(fp), &st_in) == 0 && S_ISDIR(st_in.st_mode)) /* fopen opens a directory; reads fail */
    local = EMI_ERROR(EMI_ERR_IO, "%s: cannot read: %s", in, strerror(EISDIR));
  if (!local && me == 0) {
    if (fseeko(fp, 0, SEEK_END) != 0) local = EMI_ERROR(EMI_ERR_IO, "%s: cannot seek: %s", in, strerror(errno));
    else {
      hdr[0] = (uint64_t)ftello(fp);
      rewind(fp);
      local = read_header(in, fp, hdr[0], col, &hdr[1]);
      for (int k = 0; k < EMI_CROSSINGS_NFIELDS; k++) hdr[2 + k] = (uint64_t)col[k];
    }
  }
  EMI_TRY(emi_mpi_agree(ctx->comm, local, NULL));
  EMI_MPI_TRY(MPI_Bcast(hdr, 2 + EMI_CROSSINGS_NFIELDS, MPI_UINT64_T, 0, ctx->comm));
  const uint64_t size = hdr[0], H = hdr[1];
  for (int k = 0; k < EMI_CROSSINGS_NFIELDS; k++) col[k] = (int)hdr[2 + k];

  /* byte ranges */
  EMI_CALLOC(starts, (size_t)P + 1, "range starts");
  EMI_CALLOC(accepted_all, (size_t)P, "accepted counts");
  {
    uint64_t b = H + (uint64_t)((double)(size - H) * me / P), st = H;
    if (me > 0) local = b >= size ? (st = size, EMI_SUCCESS) : line_start_after(fp, in, b, size, &st);
    EMI_TRY(emi_mpi_agree(ctx->comm, local, NULL));
    EMI_MPI_TRY(MPI_Allgather(&st, 1, MPI_UINT64_T, starts, 1, MPI_UINT64_T, ctx->comm));
    starts[P] = size;
    for (int r = 1; r <= P; r++)
      if (starts[r] < starts[r - 1]) starts[r] = starts[r - 1];
  }

  /* pass 1: validate and count */
  s.col = col;
  s.countries = check ? &emi_iso3166_alpha3 : NULL;
  local = scan_range(fp, in, starts[me], starts[me + 1], &s);
  EMI_TRY(emi_mpi_agree(ctx->comm, local, NULL));
  int64_t lines_before = 0;
  EMI_MPI_TRY(MPI_Exscan(&s.lines, &lines_before, 1, MPI_INT64_T, MPI_SUM, ctx->comm));
  if (me == 0) lines_before = 0;
  const int64_t first = 2 + lines_before; /* line 1 is the header */
  /* line numbers: indexes in the range + the range's first line number */
  int64_t my_first_bad = s.accepted < s.lines ? first + s.bad_line : INT64_MAX;
  for (int k = 0; k < EMI_NREJECTS; k++)
    if (s.rejects[k]) s.first_line[k] += first;
  int64_t tot[2 + EMI_NREJECTS], sums[2 + EMI_NREJECTS], fl[EMI_NREJECTS];
  tot[0] = s.lines, tot[1] = s.accepted;
  for (int k = 0; k < EMI_NREJECTS; k++) tot[2 + k] = s.rejects[k], fl[k] = s.rejects[k] ? s.first_line[k] : INT64_MAX;
  EMI_MPI_TRY(MPI_Allreduce(tot, sums, 2 + EMI_NREJECTS, MPI_INT64_T, MPI_SUM, ctx->comm));
  EMI_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, fl, EMI_NREJECTS, MPI_INT64_T, MPI_MIN, ctx->comm));
  int64_t global_first_bad = my_first_bad;
  EMI_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, &global_first_bad, 1, MPI_INT64_T, MPI_MIN, ctx->comm));
  const int64_t records_in = sums[0], accepted = sums[1];
  int64_t rejected = 0;
  for (int k = 0; k < EMI_NREJECTS; k++) rejected += sums[2 + k];
  if (accepted + rejected != records_in)
    EMI_FAIL(EMI_ERR_INTERNAL, "convert: %" PRId64 " records in but %" PRId64 " accepted + %" PRId64 " rejected",
             records_in, accepted, rejected);
  for (int k = 0; k < EMI_NREJECTS; k++)
    if (sums[2 + k]) emi_log_info("convert: %" PRId64 " rejected: %s (first at line %" PRId64 ")", sums[2 + k],
                                  emi_reject_names[k], fl[k]);
  emi_log_info("convert: %s: %" PRId64 " records in, %" PRId64 " accepted, %" PRId64 " rejected", in, records_in,
               accepted, rejected);
  if (records_in > 0 && (double)rejected > max_share * (double)records_in) {
    local = EMI_SUCCESS;
    if (my_first_bad == global_first_bad) {
      const emi_reject_info_t *b = &s.bad;
      char where[64] = "";
      if (b->field >= 0) snprintf(where, sizeof where, ", field %s", emi_crossings_fields[b->field]);
      local = EMI_ERROR(EMI_ERR_REJECTS,
                        "%s: line %" PRId64 "%s: found '%s': expected %s (reason %s); %" PRId64 " of %" PRId64
                        " records rejected (%.3g%%), more than --max-reject-share %.3g%%: nothing written",
                        in, my_first_bad, where, b->found, emi_reject_expected[b->reason], emi_reject_names[b->reason],
                        rejected, records_in, 100.0 * (double)rejected / (double)records_in, 100.0 * max_share);
    }
    EMI_TRY(emi_mpi_agree(ctx->comm, local, NULL));
    EMI_FAIL(EMI_ERR_INTERNAL, "convert: the reject threshold was exceeded but no rank reported it");
  }

  /* pass 2: write, one rank after the other (file order) */
  EMI_MPI_TRY(MPI_Allgather(&s.accepted, 1, MPI_INT64_T, accepted_all, 1, MPI_INT64_T, ctx->comm));
  EMI_TRY(emi_output_begin(ctx, out, &f, &prov));
  EMI_TRY(emi_provenance_add_input(prov, in));
  EMI_TRY(emi_crossings_writer_create(f, "/crossings", &w));
  local = EMI_SUCCESS;
  for (int r = 0; r < P; r++) {
    int64_t calls = (accepted_all[r] + EMI_CONVERT_BATCH - 1) / EMI_CONVERT_BATCH;
    if (r == me) {
      scan_t s2;
      memset(&s2, 0, sizeof s2);
      s2.col = col;
      s2.countries = s.countries;
      s2.w = w;
      s2.calls_left = calls;
      s2.batch = malloc((size_t)EMI_CONVERT_BATCH * sizeof *s2.batch);
      if (!s2.batch) local = EMI_ERROR(EMI_ERR_NOMEM, "cannot allocate a batch of records");
      else {
        local = scan_range(fp, in, starts[me], starts[me + 1], &s2);
        if (!local) local = s2.err;
        if (!local && s2.nbatch) local = flush(&s2);
        if (!local && s2.accepted != s.accepted)
          local = EMI_ERROR(EMI_ERR_IO, "%s changed between the two passes (%" PRId64 " then %" PRId64 " records)", in,
                            s.accepted, s2.accepted);
      }
      for (int64_t k = 0; k < s2.calls_left; k++) /* after an error: keep the other ranks' collective calls */
        if (emi_crossings_writer_append(w, 0, NULL) && !local) local = EMI_ERROR(EMI_ERR_HDF5, "append failed");
      free(s2.batch);
    } else {
      for (int64_t k = 0; k < calls; k++) EMI_TRY(emi_crossings_writer_append(w, 0, NULL));
    }
  }
  EMI_TRY(emi_mpi_agree(ctx->comm, local, NULL));
  uint64_t nrec = 0;
  EMI_TRY(emi_crossings_writer_finish(w, &nrec));
  emi_crossings_writer_destroy(&w);
  if ((int64_t)nrec != accepted)
    EMI_FAIL(EMI_ERR_INTERNAL, "convert: wrote %" PRIu64 " records, expected %" PRId64, nrec, accepted);
  {
    const char *G = "/crossings", *sc[1] = {"/crossings/reject_reason"};
    uint64_t dims[1] = {EMI_NREJECTS}, chunk, row0, nrows;
    int64_t fl0[EMI_NREJECTS];
    for (int k = 0; k < EMI_NREJECTS; k++) fl0[k] = sums[2 + k] ? fl[k] : 0;
    EMI_TRY(emi_h5_write_scale_str(f, G, "reject_reason", EMI_NREJECTS, emi_reject_names, "", "reason a record was rejected"));
    EMI_TRY(emi_h5_chunk_rows(EMI_H5_INT64, 1, dims, &chunk));
    EMI_TRY(emi_h5_partition(dims[0], chunk, ctx->comm, &row0, &nrows));
    EMI_TRY(emi_h5_write_array(f, "/crossings/rejects", EMI_H5_INT64, 1, dims, sc, row0, nrows, sums + 2 + row0,
                               "records", "rejected records by reason"));
    EMI_TRY(emi_h5_write_array(f, "/crossings/rejects_first_line", EMI_H5_INT64, 1, dims, sc, row0, nrows, fl0 + row0,
                               "1", "line number of the first record rejected for the reason (0: none)"));
    EMI_TRY(emi_h5_attr_str(f, G, "source_file", in));
    EMI_TRY(emi_h5_attr_int(f, G, "records_in", records_in));
    EMI_TRY(emi_h5_attr_int(f, G, "records_accepted", accepted));
    EMI_TRY(emi_h5_attr_int(f, G, "records_rejected", rejected));
    EMI_TRY(emi_h5_attr_double(f, G, "max_reject_share", max_share));
  }
  EMI_TRY(emi_output_finish(ctx, &f, prov));
  emi_log_info("convert: wrote %" PRIu64 " records to %s", nrec, out);
cleanup:
  emi_crossings_writer_destroy(&w);
  emi_h5_file_abort(&f);
  emi_provenance_destroy(&prov);
  if (fp) fclose(fp);
  free(starts);
  free(accepted_all);
  return err;
}
