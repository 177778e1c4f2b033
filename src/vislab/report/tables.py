"""metrics.json as flat tables: CSV, Parquet or Stata for analysis, LaTeX for a paper's
appendix."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from vislab.files import write_atomic, write_table


def _interval(entry: dict) -> tuple[float | None, float | None]:
    ci = entry.get("ci") or [None, None]
    return ci[0], ci[1]


def _flat(entry: dict) -> dict:
    """{"AP": {"value", "ci"}} -> AP, AP_ci_low, AP_ci_high; plain numbers stay as they are."""
    flat = {}
    for key, value in entry.items():
        if isinstance(value, dict) and "value" in value:
            flat[key] = value["value"]
            flat[f"{key}_ci_low"], flat[f"{key}_ci_high"] = _interval(value)
        else:
            flat[key] = value
    return flat


def _entry(entry: dict) -> dict:
    return {"value": entry["value"], "ci_low": _interval(entry)[0], "ci_high": _interval(entry)[1]}


def metrics_tables(metrics: dict) -> dict[str, pd.DataFrame]:
    """The tables of metrics.json that it has: metrics, per_class, groups, disparities, fairness."""
    rows = {
        "metrics": [{"metric": name, **_entry(e)} for name, e in metrics["metrics"].items()],
        "per_class": [{"class": k, **_flat(e)} for k, e in metrics.get("per_class", {}).items()],
        "groups": [
            {
                "group_by": spec,
                "group": group,
                "n": entry["n"],
                "small": entry["small"],
                "metric": name,
                **_entry(m),
            }
            for spec, by_group in metrics.get("groups", {}).items()
            for group, entry in by_group.items()
            for name, m in entry["metrics"].items()
        ],
        "disparities": [
            {
                "group_by": spec,
                "metric": name,
                "difference": d["difference"],
                "ratio": d["ratio"],
                "ci_low": _interval(d)[0],
                "ci_high": _interval(d)[1],
                "highest": d["highest"],
                "lowest": d["lowest"],
            }
            for spec, by_metric in metrics.get("disparities", {}).items()
            for name, d in by_metric.items()
        ],
        "fairness": [
            {"group_by": spec, "class": cls, "measure": measure, **_entry(m)}
            for spec, by_class in metrics.get("fairness", {}).items()
            for cls, measures in by_class.items()
            for measure, m in measures.items()
        ],
    }
    return {name: pd.DataFrame(found) for name, found in rows.items() if found}


def latex(table: pd.DataFrame, caption: str) -> str:
    """A booktabs table with numbers to 3 decimals and intervals as [low, high]."""
    shown = table.copy()
    if {"ci_low", "ci_high"} <= set(shown.columns):
        shown["95% CI"] = [
            f"[{low:.3f}, {high:.3f}]" if pd.notna(low) and pd.notna(high) else "--"
            for low, high in zip(shown.pop("ci_low"), shown.pop("ci_high"), strict=True)
        ]
    return shown.to_latex(index=False, float_format="%.3f", caption=caption, escape=True)


def write_tables(metrics: dict, folder: str | Path, table_format: str = "csv") -> list[Path]:
    """FOLDER/NAME.csv (or .parquet, .dta: `table_format`) and NAME.tex of every table."""
    folder = Path(folder)
    written = []
    for name, table in metrics_tables(metrics).items():
        written.append(write_table(folder / f"{name}.{table_format}", table))
        caption = f"{name.replace('_', ' ').capitalize()} ({metrics['task']}, n = {metrics['n']})."
        written.append(write_atomic(folder / f"{name}.tex", latex(table, caption)))
    return written
