# bench/peers/imem_rstan.R: fit bench/peers/imem.stan with rstan for bench/bench_estimate.py.
#
#   Rscript bench/peers/imem_rstan.R MODEL.stan DATA.R OUTDIR CHAINS WARMUP DRAWS SEED CORES [REPS]
#
# DATA.R is an R dump (rstan::read_rdump) written by bench_estimate.py.  Compiles the model (timed),
# then samples CHAINS chains of WARMUP + DRAWS iterations, CORES chains at a time (timed separately),
# REPS times (default 1) with the same seed, for the spread of the timing (the draws of the first
# run are kept), and writes to OUTDIR:
#   draws.bin    float64, R array order [draw, chain, quantity] (DRAWS x CHAINS x Q), warm-up excluded
#   names.txt    the Q quantity names (beta[1].., lambda[..], sigma_u, sigma_e, rho, tau[..], flow[..])
#   result.txt   "key value" lines: timings (s), sampler diagnostics, versions
# Timings come from /proc/uptime (CLOCK_BOOTTIME: monotonic, 10 ms resolution) around stan_model()
# and sampling(), with the CPU time of sampling() (proc.time(): this process and its reaped children,
# the chain workers); Stan's own per-chain warm-up and sampling times (clock(): CPU time of the
# chain's process, in Stan 2.21) are written too.
args <- commandArgs(trailingOnly = TRUE)
if (!(length(args) %in% c(8, 9))) stop("usage: imem_rstan.R MODEL.stan DATA.R OUTDIR CHAINS WARMUP DRAWS SEED CORES [REPS]")
model_file <- args[1]; data_file <- args[2]; outdir <- args[3]
chains <- as.integer(args[4]); warmup <- as.integer(args[5]); draws <- as.integer(args[6])
seed <- as.integer(args[7]); cores <- as.integer(args[8])
reps <- if (length(args) == 9) as.integer(args[9]) else 1L

suppressPackageStartupMessages(suppressMessages(library(rstan)))
mono <- function() as.numeric(strsplit(readLines("/proc/uptime", n = 1), " ")[[1]][1])

data <- rstan::read_rdump(data_file)

# Debian's r-cran-bh is an empty shim over libboost-dev (/usr/include/boost), so rstan's default
# boost_lib (BH's include directory) does not exist and stan_model() stops with "Boost not found".
# Point it at a directory holding only a link to the system Boost (not at /usr/include itself, which
# would put the system directory on -I ahead of the compiler's own search order).
boost_lib <- NULL
if (!file.exists(rstan::rstan_options("boost_lib")) && file.exists("/usr/include/boost/version.hpp")) {
  boost_lib <- file.path(tempdir(), "boost_include")
  dir.create(boost_lib, showWarnings = FALSE)
  if (!file.exists(file.path(boost_lib, "boost"))) file.symlink("/usr/include/boost", file.path(boost_lib, "boost"))
}

t0 <- mono()
sm <- rstan::stan_model(file = model_file, model_name = "imem", auto_write = FALSE, boost_lib = boost_lib)
t_compile <- mono() - t0

# CPU time of sampling(): this process and its children (the worker R processes, reaped when the
# cluster stops at the end of the call)
cpu_now <- function() { p <- proc.time(); sum(p[c("user.self", "sys.self", "user.child", "sys.child")], na.rm = TRUE) }
t_sample <- numeric(reps)
cpu_sample <- numeric(reps)
for (i in seq_len(reps)) {
  c0 <- cpu_now()
  t0 <- mono()
  f <- rstan::sampling(sm, data = data, chains = chains, iter = warmup + draws, warmup = warmup, thin = 1,
                       seed = seed, cores = cores, refresh = 0, open_progress = FALSE)
  t_sample[i] <- mono() - t0
  cpu_sample[i] <- cpu_now() - c0
  if (i == 1) fit <- f
}

pars <- c("beta", "lambda", "sigma_u", "sigma_e", "rho", "tau", "flow")
if (data$ncov == 0) pars <- setdiff(pars, "lambda")
arr <- as.array(fit, pars = pars)   # [iterations, chains, quantities], warm-up excluded
if (dim(arr)[1] != draws || dim(arr)[2] != chains) stop("unexpected draws array ", paste(dim(arr), collapse = "x"))
con <- file(file.path(outdir, "draws.bin"), "wb")
writeBin(as.vector(arr), con, size = 8)
close(con)
writeLines(dimnames(arr)[[3]], file.path(outdir, "names.txt"))

sp <- rstan::get_sampler_params(fit, inc_warmup = FALSE)
et <- rstan::get_elapsed_time(fit)
div <- sum(sapply(sp, function(m) sum(m[, "divergent__"])))
maxdepth <- 10
treedepth_hits <- sum(sapply(sp, function(m) sum(m[, "treedepth__"] >= maxdepth)))
leapfrog <- sapply(sp, function(m) sum(m[, "n_leapfrog__"]))
stepsize <- sapply(sp, function(m) m[1, "stepsize__"])
sp_w <- rstan::get_sampler_params(fit, inc_warmup = TRUE)
leapfrog_all <- sapply(sp_w, function(m) sum(m[, "n_leapfrog__"]))
# rstan's own bulk ESS (Vehtari et al. 2021), for cross-checking the driver's implementation
ess_r <- apply(arr, 3, rstan::ess_bulk)
out <- c(
  sprintf("compile_s %.3f", t_compile),
  sprintf("sample_s %s", paste(sprintf("%.3f", t_sample), collapse = ",")),
  sprintf("sample_cpu_s %s", paste(sprintf("%.3f", cpu_sample), collapse = ",")),
  sprintf("stan_warmup_s %s", paste(sprintf("%.3f", et[, "warmup"]), collapse = ",")),
  sprintf("stan_sample_s %s", paste(sprintf("%.3f", et[, "sample"]), collapse = ",")),
  sprintf("divergent %d", div),
  sprintf("treedepth_hits %d", treedepth_hits),
  sprintf("max_treedepth %d", maxdepth),
  sprintf("leapfrog_sampling %s", paste(leapfrog, collapse = ",")),
  sprintf("leapfrog_total %s", paste(leapfrog_all, collapse = ",")),
  sprintf("stepsize %s", paste(sprintf("%.5g", stepsize), collapse = ",")),
  sprintf("rstan_version %s", as.character(packageVersion("rstan"))),
  sprintf("stan_version %s", rstan::stan_version()),
  sprintf("r_version %s", paste(R.version$major, R.version$minor, sep = ".")),
  sprintf("cxx %s", system2(Sys.getenv("CXX", "g++"), "--version", stdout = TRUE)[1]),
  sprintf("cores %d", cores),
  sprintf("rstan_ess_bulk_min %.6g", min(ess_r)),
  sprintf("rstan_ess_bulk %s", paste(sprintf("%.6g", ess_r), collapse = ","))
)
writeLines(out, file.path(outdir, "result.txt"))
