# bench/peers/imem_rjags.R: fit bench/peers/imem.bug with JAGS (rjags) for bench/bench_estimate_jags.py.
#
#   Rscript bench/peers/imem_rjags.R MODEL.bug DATA.R OUTDIR CHAINS WARMUP DRAWS SEED CORES [REPS]
#
# DATA.R is the R dump bench_estimate.py writes for Stan (bench/peers/imem.stan's data block); this
# script reshapes x to [K, T, P] and adds what the BUGS model needs besides (lag, beta_mean, beta_prec).
# Each chain is one JAGS model in its own forked process (parallel::mclapply, CORES chains at a time:
# JAGS itself runs its chains one after another in one thread), with its own RNG seed
# (base::Mersenne-Twister, SEED + chain) and the same deterministic initial values.  A chain: compile
# (jags.model, n.adapt = 0), WARMUP iterations in adaptive mode (adapt(), end.adaptation = TRUE;
# JAGS's counterpart of Stan's warm-up: the slice samplers tune their widths), then DRAWS iterations
# monitored (coda.samples).  The whole set of chains is run REPS times (default 1) with the same seeds,
# for the spread of the timing (the draws of the first run are kept), and written to OUTDIR:
#   draws.bin    float64, R array order [draw, chain, quantity] (DRAWS x CHAINS x Q), warm-up excluded
#   names.txt    the Q quantity names, in imem.stan's order and naming (beta[1].., lambda[..], sigma_u,
#                sigma_e, rho, tau[..], flow[(k - 1) T + t])
#   result.txt   "key value" lines: timings (s), versions
# Timings: /proc/uptime (monotonic, 10 ms) around the mclapply() call (forks, compilation, warm-up,
# draws, the coda objects sent back), with the CPU time of this process and its reaped children
# (proc.time); and per chain, inside its process, the CPU time of compile, warm-up and draws.
args <- commandArgs(trailingOnly = TRUE)
if (!(length(args) %in% c(8, 9))) stop("usage: imem_rjags.R MODEL.bug DATA.R OUTDIR CHAINS WARMUP DRAWS SEED CORES [REPS]")
model_file <- args[1]; data_file <- args[2]; outdir <- args[3]
chains <- as.integer(args[4]); warmup <- as.integer(args[5]); draws <- as.integer(args[6])
seed <- as.integer(args[7]); cores <- as.integer(args[8])
reps <- if (length(args) == 9) as.integer(args[9]) else 1L

suppressPackageStartupMessages(suppressMessages({ library(rjags); library(parallel) }))
mono <- function() as.numeric(strsplit(readLines("/proc/uptime", n = 1), " ")[[1]][1])
cpu_self <- function() { p <- proc.time(); sum(p[c("user.self", "sys.self")]) }
cpu_all <- function() { p <- proc.time(); sum(p[c("user.self", "sys.self", "user.child", "sys.child")], na.rm = TRUE) }

d <- new.env()
sys.source(data_file, envir = d)
d <- as.list(d)
K <- d$K; T <- d$T; P <- d$P; R <- d$R
x <- matrix(d$x, K * T, P)                                 # row (k - 1) T + t
data <- list(K = K, T = T, P = P, R = R,
             x = aperm(array(x, c(T, K, P)), c(2, 1, 3)),  # [k, t, p]
             rep_k = d$rep_k, rep_t = d$rep_t, rep_n = d$rep_n, rep_cov = d$rep_cov,
             rep_logkappa = d$rep_logkappa, rep_acc = d$rep_acc, ncov = d$ncov, nacc = d$nacc,
             cov_alpha = d$cov_alpha, cov_beta = d$cov_beta, acc_shape = d$acc_shape, acc_scale = d$acc_scale,
             su_shape = d$su_shape, su_scale = d$su_scale, se_shape = d$se_shape, se_scale = d$se_scale,
             lag = abs(outer(1:T, 1:T, "-")), beta_mean = rep(0, P), beta_prec = diag(P) / d$beta_sd^2)
if (d$ncov < 1) stop("imem.bug needs at least one coverage class (ncov = 0)")

# Initial values (the same for every chain; the chains differ by their RNG streams): lambda at its prior
# mean, z at the mean of its reports' log counts corrected for coverage and duration, eta at log(n + 1/2),
# the precisions at the values the priors centre on, beta at (mean z, 0, ..).
lam0 <- d$cov_alpha / (d$cov_alpha + d$cov_beta)
loglam0 <- c(0, log(lam0))
eta0 <- log(d$rep_n + 0.5)
zsum <- matrix(0, K, T); zcnt <- matrix(0, K, T)
for (r in seq_len(R)) {
  k <- d$rep_k[r]; t <- d$rep_t[r]
  zsum[k, t] <- zsum[k, t] + eta0[r] - loglam0[d$rep_cov[r] + 1] - d$rep_logkappa[r]
  zcnt[k, t] <- zcnt[k, t] + 1
}
z0 <- ifelse(zcnt > 0, zsum / pmax(zcnt, 1), sum(zsum) / sum(zcnt))
inits0 <- list(beta = c(mean(z0), rep(0, P - 1)), prec_u = 1, prec_e = 10, rho = 0.5, lambda = lam0,
               ptau = (d$acc_shape - 1) / d$acc_scale, z = z0, eta = eta0)

# the quantities, in imem.stan's order and names; coda names flow[k,t]
idx <- c(sprintf("beta[%d]", 1:P), sprintf("lambda[%d]", seq_len(d$ncov)), "sigma_u", "sigma_e", "rho",
         sprintf("tau[%d]", 1:d$nacc), sprintf("flow[%d,%d]", rep(1:K, each = T), rep(1:T, times = K)))
out_names <- c(idx[seq_len(length(idx) - K * T)], sprintf("flow[%d]", 1:(K * T)))
monitor <- c("beta", "lambda", "sigma_u", "sigma_e", "rho", "tau", "flow")

run_chain <- function(ch) {
  inits <- c(inits0, list(.RNG.name = "base::Mersenne-Twister", .RNG.seed = seed + ch))
  c0 <- cpu_self()
  m <- jags.model(model_file, data = data, inits = inits, n.chains = 1, n.adapt = 0, quiet = TRUE)
  c1 <- cpu_self()
  ok <- adapt(m, n.iter = warmup, end.adaptation = TRUE)
  c2 <- cpu_self()
  s <- coda.samples(m, variable.names = monitor, n.iter = draws, progress.bar = "none")
  c3 <- cpu_self()
  mat <- as.matrix(s[[1]])
  if (!all(idx %in% colnames(mat))) stop("missing monitored quantities: ", paste(setdiff(idx, colnames(mat)), collapse = " "))
  list(draws = mat[, idx, drop = FALSE], compile = c1 - c0, warmup = c2 - c1, sample = c3 - c2, adapted = ok,
       samplers = if (ch == 1) names(list.samplers(m)) else NULL)
}

t_run <- numeric(reps); cpu_run <- numeric(reps)
for (i in seq_len(reps)) {
  c0 <- cpu_all(); t0 <- mono()
  res <- mclapply(seq_len(chains), run_chain, mc.cores = cores, mc.preschedule = FALSE, mc.set.seed = FALSE)
  t_run[i] <- mono() - t0; cpu_run[i] <- cpu_all() - c0
  for (r in res) if (inherits(r, "try-error")) stop("a JAGS chain failed: ", r)
  if (i == 1) first <- res
}

arr <- array(NA_real_, c(draws, chains, length(idx)))
for (ch in seq_len(chains)) {
  if (nrow(first[[ch]]$draws) != draws) stop("chain ", ch, ": ", nrow(first[[ch]]$draws), " draws, expected ", draws)
  arr[, ch, ] <- first[[ch]]$draws
}
con <- file(file.path(outdir, "draws.bin"), "wb")
writeBin(as.vector(arr), con, size = 8)
close(con)
writeLines(out_names, file.path(outdir, "names.txt"))

per <- function(key) paste(sprintf("%.3f", vapply(first, function(r) r[[key]], 0)), collapse = ",")
samplers <- first[[1]]$samplers
sampler_kinds <- table(samplers)
out <- c(
  sprintf("run_s %s", paste(sprintf("%.3f", t_run), collapse = ",")),
  sprintf("run_cpu_s %s", paste(sprintf("%.3f", cpu_run), collapse = ",")),
  sprintf("chain_compile_cpu_s %s", per("compile")),
  sprintf("chain_warmup_cpu_s %s", per("warmup")),
  sprintf("chain_sample_cpu_s %s", per("sample")),
  sprintf("adapted %s", paste(vapply(first, function(r) as.character(r$adapted), ""), collapse = ",")),
  sprintf("samplers %s", paste(sprintf("%s x%d", names(sampler_kinds), as.integer(sampler_kinds)), collapse = ";")),
  sprintf("jags_version %s", as.character(jags.version())),
  sprintf("rjags_version %s", as.character(packageVersion("rjags"))),
  sprintf("r_version %s", paste(R.version$major, R.version$minor, sep = ".")),
  sprintf("cores %d", cores)
)
writeLines(out, file.path(outdir, "result.txt"))
