# Time ordinal::clmm in one R process and print one JSON line (read by bench_ordinal.py):
#   Rscript clmm_fit.R DATA_FILE FORMULA NAGQ REPEAT
# The response (first column named in FORMULA) becomes an ordered factor and the grouping
# factor of the (1 | g) term a factor.  "first_s": the first fit of this fresh process
# (after loading ordinal and the data); "times_s": REPEAT further fits after that warm-up.
args <- commandArgs(trailingOnly = TRUE)
datafile <- args[1]; form <- as.formula(args[2])
nagq <- as.integer(args[3]); nrep <- as.integer(args[4])
t0 <- proc.time()[["elapsed"]]
suppressPackageStartupMessages(library(ordinal))
df <- read.csv(datafile)
resp <- all.vars(form)[1]
grp <- sub("^.*\\|[[:space:]]*([^)[:space:]]+).*$", "\\1", args[2])
df[[resp]] <- factor(df[[resp]], ordered = TRUE)
df[[grp]] <- factor(df[[grp]])
fitfun <- function() clmm(form, data = df, nAGQ = nagq)
load_s <- proc.time()[["elapsed"]] - t0
first <- system.time(fit <- fitfun())[["elapsed"]]
times <- vapply(seq_len(nrep), function(i) system.time(fitfun())[["elapsed"]], 0.0)
cat(sprintf('{"load_s":%.4f,"first_s":%.4f,"times_s":[%s],"logLik":%.10f,"niter":%d,"version":"%s"}\n',
            load_s, first, paste(sprintf("%.4f", times), collapse = ","),
            as.numeric(logLik(fit)), as.integer(fit$Niter),
            as.character(packageVersion("ordinal"))))
