"""The items coders disagree on, or marked unsure, or left blank: the list an adjudicator decides
(`vislab adjudicate`, report/adjudication_page.py). Items where every coder gave the same code
are settled by it; each other item gets one final code chosen by a person, never by a vote
(a majority of two is no majority, and 'unsure' is not a code)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from vislab.errors import InputError
from vislab.evaluation.coded import as_table, coder_columns

UNSURE = "unsure"  # the coding page's own choice


def coders_of(merged: pd.DataFrame, named: list[str] | None) -> list[str]:
    """The coder columns to adjudicate: `named`, or every coder column (at least two)."""
    coders = list(named) if named else coder_columns(merged)
    missing = [c for c in coders if c not in merged.columns]
    if missing:
        found = ", ".join(coder_columns(merged))
        raise InputError(f"coded files: no coder column {missing[0]!r}. Found: {found}.")
    if len(coders) < 2:
        raise InputError(
            f"coded files: one coder column ({', '.join(coders)}): adjudication needs two or "
            "more coders' files (--coded A.csv --coded B.csv)."
        )
    return coders


def _text(value) -> str:
    return "" if pd.isna(value) else str(value).strip()


def reason(row: pd.Series, coders: list[str]) -> str:
    """Why an item needs a decision ("" where every coder gave the same code)."""
    codes = {c: _text(row[c]) for c in coders}
    blank = [c for c, v in codes.items() if not v]
    unsure = [c for c, v in codes.items() if v == UNSURE]
    given = {v for v in codes.values() if v and v != UNSURE}
    found = []
    if len(given) > 1:
        found.append("the codes differ")
    if unsure:
        found.append(f"{', '.join(unsure)} unsure")
    if blank:
        found.append(f"not coded by {', '.join(blank)}")
    return "; ".join(found)


def split(merged: pd.DataFrame, coders: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(settled, conflicts): the items every coder coded alike (with their `code`), and the
    others (with their `reason`), both ordered by item."""
    key = "item" if "item" in merged.columns else "id"
    ordered = merged.sort_values(key, kind="stable").reset_index(drop=True)
    reasons = ordered.apply(reason, axis=1, coders=coders) if len(ordered) else pd.Series([])
    conflicts = ordered[reasons != ""].assign(reason=reasons[reasons != ""])
    settled = ordered[reasons == ""]
    settled = settled.assign(code=settled[coders[0]].map(_text))
    return settled, conflicts


def checked_in_sample(coded: list[Path], sample_dir: Path) -> None:
    """Every coded file's items are items of the sample: the file and row of the first that
    is not (a file of another sample's sheet points at other images)."""
    from vislab.evaluation.validation import SAMPLE_FILE

    path = Path(sample_dir) / SAMPLE_FILE
    if not path.is_file():
        raise InputError(f"{sample_dir}: no {SAMPLE_FILE}; give the folder of the coded sample.")
    sample = as_table(path)
    for file in coded:
        table = as_table(file)
        key = "item" if "item" in table.columns and "item" in sample.columns else "id"
        if key not in table.columns:
            raise InputError(
                f"{file}: no 'item' (or 'id') column: give a coding sheet or download."
            )
        known = set(sample[key].astype(str))
        stray = [i for i, v in enumerate(table[key].astype(str)) if v not in known]
        if stray:
            raise InputError(
                f"{file}: row {stray[0] + 2}: {key} {table[key].iloc[stray[0]]} is not in the "
                f"sample {sample_dir} ({len(stray)} such rows): give the files coded on it."
            )
