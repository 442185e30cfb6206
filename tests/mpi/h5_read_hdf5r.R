# h5_read_hdf5r.R FILE: a user with R (package hdf5r) reads emflow's labelled arrays.
#
# FILE is written by h5_collective (tests/mpi/h5_collective.c), whose values are closed-form:
#   /data/counts [7 x 5] int64 = 1000*(i+1) + j (i month, j group, 0-based), units "persons"
#   /data/month  scale 202101 .. 202107 (HDF5 dimension 0), /data/group scale "AUT", "BEL",
#   "Côte d'Ivoire", "DEU", "unknown" (HDF5 dimension 1).
# R is column-major, so hdf5r returns the array with the dimensions reversed: R dimension k is
# HDF5 dimension ndims - k, and DIMENSION_LIST (in HDF5 order) labels them in reverse.  The
# labels are read by following DIMENSION_LIST's object references to the scales: nothing here
# knows the scale paths.  Exit 77 (skipped) without hdf5r.
if (!requireNamespace("hdf5r", quietly = TRUE)) {
  cat("skipped: R package hdf5r is not installed (Debian: r-cran-hdf5r)\n")
  quit(status = 77)
}
suppressPackageStartupMessages(library(hdf5r))

failures <- 0
check <- function(cond, what) {
  if (!isTRUE(cond)) {
    failures <<- failures + 1
    cat("FAIL:", what, "\n")
  }
}

path <- commandArgs(trailingOnly = TRUE)[1]
f <- H5File$new(path, mode = "r")
d <- f[["data/counts"]]
x <- d$read()

check(identical(dim(x), c(5L, 7L)), sprintf("dim(counts) = %s, expected 5 7 (HDF5 7 x 5 reversed)",
                                            paste(dim(x), collapse = " ")))
check(identical(h5attr(d, "units"), "persons"), "units attribute")
check(identical(h5attr(d, "long_name"), "migrant departures"), "long_name attribute")

# dimension scales: follow the references, read each scale's NAME and values
dl <- h5attr(d, "DIMENSION_LIST")
check(length(dl) == 2, "DIMENSION_LIST has one entry per dimension")
scales <- lapply(dl, function(ref) ref$dereference(obj = f)[[1]])
scale_names <- vapply(scales, function(s) h5attr(s, "NAME"), "")
check(identical(scale_names, c("month", "group")), paste("scale names:", paste(scale_names, collapse = ", ")))
check(identical(vapply(scales, function(s) h5attr(s, "CLASS"), ""), c("DIMENSION_SCALE", "DIMENSION_SCALE")),
      "scales carry CLASS DIMENSION_SCALE")

labels <- rev(lapply(scales, function(s) s$read()))
names(labels) <- rev(scale_names)
dimnames(x) <- lapply(labels, as.character)
check(identical(as.numeric(labels$month), as.numeric(202101:202107)), "month labels")
check(identical(enc2utf8(labels$group), c("AUT", "BEL", "C\u00f4te d'Ivoire", "DEU", "unknown")), "group labels")

# select by label: month 202104 is i = 3, "DEU" is j = 3 -> 1000*(3+1) + 3; "Côte d'Ivoire" is j = 2
check(identical(as.numeric(x["DEU", "202104"]), 4003), sprintf("counts[DEU, 202104] = %s", x["DEU", "202104"]))
check(identical(as.numeric(x["C\u00f4te d'Ivoire", "202101"]), 1002), "counts[Côte d'Ivoire, 202101]")
check(identical(as.numeric(sum(x[, "202107"])), 5 * 7000 + 10), "sum over month 202107")

f$close_all()
cat("h5_read_hdf5r:", if (failures == 0) "ok" else paste(failures, "failures"), "\n")
quit(status = if (failures == 0) 0 else 1)
