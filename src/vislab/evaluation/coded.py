"""Coders' files (coding sheets filled in, the coding page's downloads) joined into one table:
one row per image, each coder's columns side by side."""

from __future__ import annotations

import pandas as pd

from vislab.errors import InputError
from vislab.files import read_table

SHARED = ("item", "id", "image", "sample_id")  # columns every coder's file may carry


def as_table(table) -> pd.DataFrame:
    return table.copy() if isinstance(table, pd.DataFrame) else read_table(table)


def merged_codes(coded: list) -> pd.DataFrame:
    """Join on `item` (when every file has it) or `id`; a key listed twice in one file, or a
    coder column in two files, is an error (which file, which value). Files with the same
    coder's columns (the pages of a coding page split in parts) are one file, stacked."""
    tables = [(_name(c, i), as_table(c)) for i, c in enumerate(coded)]
    key = "item" if all("item" in t.columns for _, t in tables) else "id"
    tables = _stacked_parts(tables, key)
    merged = None
    for name, table in tables:
        table = _keyed(table, key, name)
        if merged is None:
            merged = table
            continue
        shared = [c for c in table.columns if c in merged.columns and c not in SHARED]
        if shared:
            raise InputError(f"{name}: column(s) {shared} are also in an earlier coded file.")
        _same_sample(merged, table, name)
        extra = table.drop(columns=["image", "sample_id"], errors="ignore")
        merged = merged.merge(extra, on=key, how="outer")
    return merged


def _same_sample(merged: pd.DataFrame, table: pd.DataFrame, name: str) -> None:
    ids = [set(t["sample_id"].dropna().astype(str)) for t in (merged, table) if "sample_id" in t]
    if len(ids) == 2 and ids[0] != ids[1]:
        raise InputError(
            f"{name} was coded on sample {sorted(ids[1])}, an earlier file on {sorted(ids[0])}: "
            "give the files of one sample."
        )


def _stacked_parts(tables: list, key: str) -> list:
    """Tables whose coder columns are the same stacked into one (a key in two of them is an
    error naming both files)."""
    groups: dict[tuple, list] = {}
    for name, table in tables:
        groups.setdefault(tuple(sorted(map(str, coder_columns(table)))), []).append((name, table))
    stacked = []
    for parts in groups.values():
        if len(parts) == 1:
            stacked.append(parts[0])
            continue
        seen: dict[str, str] = {}
        for name, table in parts:
            for value in table[key].astype(str) if key in table.columns else []:
                if value in seen:
                    raise InputError(f"{key} {value} is in both {seen[value]} and {name}.")
                seen[value] = name
        joined = pd.concat([table for _, table in parts], ignore_index=True)
        stacked.append((" + ".join(name for name, _ in parts), joined))
    return stacked


def coder_columns(frame: pd.DataFrame) -> list[str]:
    """The columns that hold codes: not a key, an image, a note or the sample's bookkeeping."""
    return [
        c
        for c in frame.columns
        if c not in SHARED and not str(c).endswith("_note") and not str(c).startswith("_")
    ]


def _name(table, index: int) -> str:
    return f"coded table {index + 1}" if isinstance(table, pd.DataFrame) else str(table)


def _keyed(table: pd.DataFrame, key: str, name: str) -> pd.DataFrame:
    if key not in table.columns:
        raise InputError(f"{name}: no '{key}' column; give the coding sheet's rows as coded.")
    table = table.assign(**{key: table[key].astype(str)})
    doubled = table[key][table[key].duplicated()]
    if len(doubled):
        raise InputError(f"{name}: {key} {doubled.iloc[0]!r} is listed twice.")
    return table
