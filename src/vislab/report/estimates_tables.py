"""estimates.json as flat tables: CSV for analysis, LaTeX for a paper's appendix."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from vislab.files import write_atomic, write_table
from vislab.report.tables import latex

KINDS = ("corrected", "coded_only", "naive")


def _numbers(entry: dict) -> dict:
    ci = entry.get("ci") or [None, None]
    return {"value": entry.get("value"), "ci_low": ci[0], "ci_high": ci[1]}


def estimate_tables(result: dict) -> dict[str, pd.DataFrame]:
    """prevalence, groups, differences and regression (those the result has)."""
    rows = {
        "prevalence": [
            {"class": k, "estimator": kind, **_numbers(entry[kind])}
            for k, entry in result["prevalence"].items()
            for kind in KINDS
        ],
        "groups": [
            {
                "group_by": spec,
                "group": name,
                "n": g["n"],
                "n_coded": g["n_coded"],
                "class": k,
                "estimator": kind,
                **_numbers(entry[kind]),
            }
            for spec, groups in result["groups"].items()
            for name, g in groups.items()
            for k, entry in g["prevalence"].items()
            for kind in KINDS
        ],
        "differences": [
            {
                "group_by": spec,
                "class": k,
                "a": d["a"],
                "b": d["b"],
                **_numbers(d),
                "p_value": d.get("p_value"),
                "p_adjusted": d.get("p_adjusted"),
            }
            for spec, by_class in result["differences"].items()
            for k, pairs in by_class.items()
            for d in pairs.values()
        ],
        "regression": [
            {
                "term": term,
                "estimator": kind,
                **_numbers(entry[kind]),
                "se": entry[kind]["se"],
                "p_value": entry[kind]["p_value"],
            }
            for term, entry in result.get("regression", {}).get("coefficients", {}).items()
            for kind in KINDS
        ],
    }
    return {name: pd.DataFrame(found) for name, found in rows.items() if found}


def write_estimate_tables(
    result: dict, folder: str | Path, table_format: str = "csv"
) -> list[Path]:
    """FOLDER/NAME.csv (or .parquet, .dta: `table_format`) and NAME.tex of every table."""
    folder = Path(folder)
    written = []
    for name, table in estimate_tables(result).items():
        written.append(write_table(folder / f"{name}.{table_format}", table))
        caption = (
            f"{name.capitalize()} ({result['n_coded']} coded of {result['n_collection']} "
            f"{result['unit'] + 's' if result.get('unit') else 'images'}, "
            f"{result['design']} design)."
        )
        written.append(write_atomic(folder / f"{name}.tex", latex(table, caption)))
    return written
