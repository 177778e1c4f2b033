"""R's survey package as the tests' reference for design-based estimates: many cases in one
`Rscript` call (start-up is about half a second). Debian's `r-cran-survey`, installed by
`.ci/run`; the tests that need it are skipped where `Rscript` or the package is missing."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

# Per case of the input table: a stratified design (variance groups in `stratum`, each image's
# weight `w`, its group's size `fpc`; where a `psu` column is given, the clusters drawn whole and
# `fpc` counting clusters), then per statistic a row of the output.
PREAMBLE = r"""
suppressMessages(library(survey))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1])
out <- list()
for (k in unique(data$case)) {
  d <- data[data$case == k, ]
"""
CLOSING = r"""
}
write.csv(do.call(rbind, out), args[2], row.names = FALSE)
"""


def script_for(body: str) -> str:
    """An R script that runs `body` on each case's rows `d` (case `k`), appending a data frame
    with a `case` column to `out`."""
    return PREAMBLE + body + CLOSING


SCRIPT = script_for(
    r"""
  ids <- if ("psu" %in% names(d)) ~psu else ~1  # whole clusters drawn: one-stage cluster sample
  des <- svydesign(ids = ids, strata = ~stratum, weights = ~w, fpc = ~fpc, data = d)
  t <- svytotal(~v, des)
  m <- svymean(~v, subset(des, dom == 1))
  fit <- svyglm(y ~ x1, design = des)
  logit <- suppressWarnings(svyglm(b ~ x1, design = des, family = quasibinomial(),
                                   control = glm.control(epsilon = 1e-14, maxit = 100)))
  out[[length(out) + 1]] <- data.frame(
    case = k, total = coef(t)[[1]], total_se = SE(t)[[1]],
    mean = coef(m)[[1]], mean_se = SE(m)[[1]],
    b0 = coef(fit)[[1]], b1 = coef(fit)[[2]], se0 = SE(fit)[[1]], se1 = SE(fit)[[2]],
    l0 = coef(logit)[[1]], l1 = coef(logit)[[2]], lse0 = SE(logit)[[1]], lse1 = SE(logit)[[2]])
"""
)


def survey_available() -> bool:
    if shutil.which("Rscript") is None:
        return False
    found = subprocess.run(
        ["Rscript", "-e", "library(survey)"], capture_output=True, text=True, check=False
    )
    return found.returncode == 0


needs_r_survey = pytest.mark.skipif(
    not survey_available(), reason="R's survey package (r-cran-survey) is not installed"
)


def r_survey(cases: pd.DataFrame, folder: Path, script_text: str = SCRIPT) -> pd.DataFrame:
    """R's estimates for every case of `cases` (by default, columns case, stratum, w, fpc, v,
    dom, y, x1, b: svytotal(v), svymean(v) in dom == 1, svyglm(y ~ x1) and a quasi-binomial
    b ~ x1; another `script_text` reads the same arguments and writes a `case` column)."""
    script, data, out = folder / "survey.R", folder / "cases.csv", folder / "r.csv"
    script.write_text(script_text)
    cases.to_csv(data, index=False, float_format="%.17g")
    subprocess.run(
        ["Rscript", str(script), str(data), str(out)], check=True, capture_output=True, timeout=300
    )
    return pd.read_csv(out).set_index("case")
