"""The R code of the docs' "In R and Stata" section, run by R on what `vislab estimate` writes:
jsonlite reads estimates.json, haven the Stata tables (names given back by their labels), arrow
the Parquet tables where R has it (Debian has no arrow package: that block is skipped here and
named). What R read must equal what vislab wrote."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.estimation.test_estimate_command import coded_sample  # noqa: F401  (a fixture)
from vislab.cli import run

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "reference" / "files.md"
WRITE_BACK = {  # what the test adds after a block: what R read, as files Python can compare
    "jsonlite": (  # every double to 17 digits (jsonlite's writer stops at 15)
        "p <- result$prevalence; writeLines(unlist(lapply(names(p), function(k) "
        "lapply(names(p[[k]]), function(e) paste(k, e, paste(sprintf('%.17g', "
        'c(p[[k]][[e]]$value, p[[k]][[e]]$ci)), collapse = " "))))), "from_r_json.txt")'
    ),
    "haven": 'write.csv(digits17(prevalence), "from_r_dta.csv", row.names = FALSE, na = "")',
    "arrow": 'write.csv(digits17(prevalence), "from_r_parquet.csv", row.names = FALSE, na = "")',
}
DIGITS17 = (  # numbers as 17 significant digits (write.csv writes 15), missing as ""
    "digits17 <- function(frame) { frame <- as.data.frame(frame); frame[] <- lapply(frame, "
    "function(x) if (is.numeric(x)) ifelse(is.na(x), NA, sprintf('%.17g', x)) else x); frame }"
)


def r_blocks() -> dict[str, str]:
    """The page's R blocks, by the package each one loads."""
    blocks = re.findall(r"```r\n(.*?)```", PAGE.read_text(), re.S)
    return {re.search(r"library\((\w+)\)", block).group(1): block for block in blocks}


def r_has(package: str) -> bool:
    if shutil.which("Rscript") is None:
        return False
    found = subprocess.run(["Rscript", "-e", f"library({package})"], capture_output=True)
    return found.returncode == 0


def test_the_page_has_the_r_code_for_json_parquet_and_stata():
    assert set(r_blocks()) == set(WRITE_BACK)


@pytest.mark.skipif(not (r_has("jsonlite") and r_has("haven")), reason="R's jsonlite and haven")
def test_r_reads_what_vislab_wrote_as_the_page_shows(coded_sample):  # noqa: F811
    folder, _ = coded_sample
    command = ["estimate", str(folder / "collection.csv"), "--coded", str(folder / "coded_A.csv")]
    command += ["--label-column", "A", "--sample", str(folder / "validation"), "--by", "region"]
    command += ["--out", str(folder / "estimates.json"), "--report", str(folder / "report")]
    assert run([*command, "--format", "dta", "--quiet"]) == 0
    result = json.loads((folder / "estimates.json").read_text())
    from vislab.report.estimates_tables import estimate_tables, write_estimate_tables

    write_estimate_tables(result, folder / "report" / "tables", "parquet")
    ran = []
    for package, block in r_blocks().items():
        if not r_has(package):
            continue  # arrow: not in Debian; CRAN is out of reach here
        script = folder / f"{package}.R"
        script.write_text(f"{DIGITS17}\n{block}\n{WRITE_BACK[package]}\n")
        done = subprocess.run(
            ["Rscript", script.name], cwd=folder, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        ran.append(package)
    assert {"jsonlite", "haven"} <= set(ran)
    read = [line.split(" ") for line in (folder / "from_r_json.txt").read_text().splitlines()]
    assert [(name, kind, [float(v) for v in values]) for name, kind, *values in read] == [
        (name, kind, [numbers["value"], *numbers["ci"]])
        for name, entry in result["prevalence"].items()
        for kind, numbers in entry.items()
    ]  # each the same double
    expected = estimate_tables(result)["prevalence"]
    for package in set(ran) & {"haven", "arrow"}:
        suffix = "dta" if package == "haven" else "parquet"
        found = pd.read_csv(folder / f"from_r_{suffix}.csv", keep_default_na=False)
        assert list(found.columns) == list(expected.columns)  # class_ is class again
        for column in expected.columns:
            if pd.api.types.is_numeric_dtype(expected[column]):
                np.testing.assert_allclose(found[column], expected[column], rtol=0)
            else:
                assert found[column].tolist() == expected[column].tolist()
