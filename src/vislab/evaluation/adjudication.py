"""The items coders disagree on, or marked unsure, or left blank: the list an adjudicator decides
(`vislab adjudicate`, report/adjudication_page.py). Items where every coder gave the same code
are settled by it; each other item gets one final code chosen by a person, never by a vote
(a majority of two is no majority, and 'unsure' is not a code)."""

from __future__ import annotations

import pandas as pd

from vislab.errors import InputError
from vislab.evaluation.coded import coder_columns

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
