/* emi_agg_header.c: the column names of a CSV file's header (for readers that take every column
 * but one as a dimension, like `emflow ipf`).  Same CSV rules as emi_agg_read_csv: UTF-8 BOM
 * skipped, RFC 4180 quotes, LF/CRLF/CR line ends; a header spanning lines or longer than
 * EMI_AGG_MAX_RECORD_BYTES is an error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emi_agg.h"
#include "emi_agg_header.h"

void emi_agg_header_free(int ncols, char ***cols)
{
  if (!cols || !*cols) return;
  for (int c = 0; c < ncols; c++) free((*cols)[c]);
  free(*cols);
  *cols = NULL;
}

emi_err_t emi_agg_read_header(const char *path, char delimiter, int *ncols, char ***cols)
{
  emi_err_t err = EMI_SUCCESS;
  char *line = NULL, *field = NULL;
  char **names = NULL;
  int n = 0;
  size_t len = 0;
  char delim = delimiter ? delimiter : ',';
  *ncols = 0;
  *cols = NULL;
  FILE *fp = fopen(path, "rb");
  if (!fp) return EMI_ERROR(EMI_ERR_IO, "cannot open %s: %s", path, strerror(errno));
  EMI_MALLOC(line, (size_t)EMI_AGG_MAX_RECORD_BYTES + 1, "header line");
  EMI_MALLOC(field, (size_t)EMI_AGG_MAX_RECORD_BYTES + 1, "header field");
  len = fread(line, 1, EMI_AGG_MAX_RECORD_BYTES, fp);
  if (ferror(fp)) EMI_FAIL(EMI_ERR_IO, "error reading %s: %s", path, strerror(errno));
  line[len] = '\0';
  if (len == 0) EMI_FAIL(EMI_ERR_INPUT, "%s: empty file: no header", path);
  size_t i = (len >= 3 && !memcmp(line, "\xEF\xBB\xBF", 3)) ? 3 : 0;
  if (i < len && (line[i] == '\n' || line[i] == '\r'))
    EMI_FAIL(EMI_ERR_INPUT, "%s:1: the first line is blank: expected the header (the column names) on line 1", path);
  for (;;) { /* one field per pass */
    size_t k = 0;
    if (i < len && line[i] == '"') {
      i++;
      for (;;) {
        if (i >= len) EMI_FAIL(EMI_ERR_INPUT, "%s:1: unterminated quote in the header", path);
        if (line[i] == '"') {
          if (i + 1 < len && line[i + 1] == '"') field[k++] = '"', i += 2;
          else {
            i++;
            break;
          }
        } else if (line[i] == '\n' || line[i] == '\r') {
          EMI_FAIL(EMI_ERR_INPUT, "%s:1: a header column name spans lines", path);
        } else {
          field[k++] = line[i++];
        }
      }
      if (i < len && line[i] != delim && line[i] != '\n' && line[i] != '\r')
        EMI_FAIL(EMI_ERR_INPUT, "%s:1: text after a closing quote in the header", path);
    } else {
      while (i < len && line[i] != delim && line[i] != '\n' && line[i] != '\r') {
        if (line[i] == '"') EMI_FAIL(EMI_ERR_INPUT, "%s:1: quote inside an unquoted header field", path);
        if (line[i] == '\0') EMI_FAIL(EMI_ERR_INPUT, "%s:1: NUL byte in the header", path);
        field[k++] = line[i++];
      }
    }
    field[k] = '\0';
    /* column names become dataset names and labels: text, like the codes */
    for (size_t q = 0; q < k; q++)
      if ((unsigned char)field[q] < 0x20 || field[q] == 0x7F)
        EMI_FAIL(EMI_ERR_INPUT, "%s:1: the name of column %d holds a control character (byte 0x%02X): expected text",
                 path, n + 1, (unsigned char)field[q]);
    if (!emi_utf8_valid((const unsigned char *)field, k))
      EMI_FAIL(EMI_ERR_INPUT, "%s:1: the name of column %d is not valid UTF-8 (emflow reads UTF-8 text)", path, n + 1);
    char **grown = realloc(names, (size_t)(n + 1) * sizeof *grown);
    if (!grown) EMI_FAIL(EMI_ERR_NOMEM, "cannot grow the header column list");
    names = grown;
    if (!(names[n] = strdup(field))) EMI_FAIL(EMI_ERR_NOMEM, "cannot copy a header column name");
    n++;
    if (i < len && line[i] == delim) {
      i++;
      continue;
    }
    if (i >= len && len == EMI_AGG_MAX_RECORD_BYTES)
      EMI_FAIL(EMI_ERR_INPUT, "%s:1: header longer than %d bytes", path, EMI_AGG_MAX_RECORD_BYTES);
    break;
  }
  *ncols = n;
  *cols = names;
  names = NULL;
cleanup:
  if (names) emi_agg_header_free(n, &names);
  free(line);
  free(field);
  fclose(fp);
  return err;
}
