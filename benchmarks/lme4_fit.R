# Fit one benchmark problem with lme4 and report through the JSON-lines protocol of
# benchmarks/common.py (events loaded / run / info / error / done).  Called by peers.py:
#   Rscript lme4_fit.R RESULT_FILE DATA_FILE PROBLEM REPEAT BUDGET FORMULA FAMILY GROUPS
# Peak memory: /proc/self/clear_refs resets the peak-RSS mark (VmHWM) before each fit.
args <- commandArgs(trailingOnly = TRUE)
out <- args[1]; datafile <- args[2]; problem <- args[3]
nrep <- as.integer(args[4]); budget <- as.numeric(args[5])
formula <- as.formula(args[6]); family <- args[7]; groups <- strsplit(args[8], ",")[[1]]
emit <- function(s) cat(s, "\n", file = out, append = TRUE, sep = "")
esc <- function(s) gsub('"', "'", gsub("[\r\n\\\\]", " ", s))
num <- function(x) paste0("[", paste(sprintf("%.10g", x), collapse = ","), "]")
str_arr <- function(x) paste0("[", paste0('"', esc(x), '"', collapse = ","), "]")
status_kb <- function(key) {
  l <- readLines("/proc/self/status")
  as.numeric(sub("^[^:]*:[[:space:]]*([0-9]+).*$", "\\1", l[startsWith(l, paste0(key, ":"))]))
}
t0 <- proc.time()[["elapsed"]]
suppressPackageStartupMessages(library(lme4))
df <- read.csv(datafile)
if (problem == "insteval_binom") df$y4 <- as.integer(df$y >= 4)
for (g in groups) df[[g]] <- factor(df[[g]])
nagq <- if (problem == "insteval_binom") 0L else 1L
fitfun <- switch(family,
  gaussian = function() lmer(formula, data = df, REML = TRUE),
  binomial = function() glmer(formula, data = df, family = binomial, nAGQ = nagq),
  poisson = function() glmer(formula, data = df, family = poisson, nAGQ = nagq),
  gamma_log = function() glmer(formula, data = df, family = Gamma(link = "log"), nAGQ = nagq))
emit(sprintf('{"event":"loaded","load_s":%.4f}', proc.time()[["elapsed"]] - t0))
spent <- 0
for (i in seq_len(nrep)) {
  invisible(gc())
  exact <- tryCatch({ writeLines("5", "/proc/self/clear_refs"); TRUE }, error = function(e) FALSE)
  base <- status_kb("VmRSS") / 1024
  res <- tryCatch({
    el <- system.time(fit <- fitfun())[["elapsed"]]
    list(ok = TRUE, el = el)
  }, error = function(e) list(ok = FALSE, msg = conditionMessage(e)))
  if (!res$ok) {
    emit(sprintf('{"event":"error","message":"%s"}', esc(res$msg)))
    quit(save = "no")
  }
  peak <- status_kb("VmHWM") / 1024
  emit(sprintf('{"event":"run","time":%.6f,"peak_mb":%.3f,"baseline_mb":%.3f}',
               res$el, max(peak - base, 0), base))
  if (i == 1) {
    vc <- as.data.frame(VarCorr(fit))
    re <- vc[vc$grp != "Residual", ]
    disp <- if (family == "gaussian") sigma(fit)^2 else if (family == "gamma_log") sigma(fit)^2 else 1
    msgs <- unlist(fit@optinfo$conv$lme4$messages)
    emit(sprintf('{"event":"info","fixef_names":%s,"fixef":%s,"var_ranef":%s,"ranef_groups":%s,"dispersion":%.10g,"loglik":%.12g,"warnings":%s,"note":"%s"}',
                 str_arr(names(fixef(fit))), num(unname(fixef(fit))), num(re$vcov),
                 str_arr(re$grp), disp, as.numeric(logLik(fit)),
                 if (length(msgs)) str_arr(msgs) else "[]",
                 if (nagq == 0L) "nAGQ = 0" else ""))
  }
  spent <- spent + res$el
  if (spent + res$el > budget) break
}
emit('{"event":"done"}')
