/* emi_agg_header.h: read a CSV file's header row (column names). See emi_agg_header.c. */
#ifndef EMI_AGG_HEADER_H
#define EMI_AGG_HEADER_H

#include "emi_err.h"

/* Column names of the first record of `path` (delimiter 0 = ','); free with emi_agg_header_free. */
emi_err_t emi_agg_read_header(const char *path, char delimiter, int *ncols, char ***cols);
void emi_agg_header_free(int ncols, char ***cols);

#endif /* EMI_AGG_HEADER_H */
