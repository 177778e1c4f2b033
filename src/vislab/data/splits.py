"""Train / val / test splits: given splits are used; otherwise stratified by label with a seed.

`group_by: COL` keeps every value of COL (a person, a photographer, a source) inside one split,
so that no group leaks from training into evaluation. With groups, the fractions are fractions of
groups, stratified by each group's most common label.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from vislab.errors import InputError
from vislab.files import rows_text

SPLIT_NAMES = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "dev": "val",
    "test": "test",
    "testing": "test",
}


def assign_splits(
    frame: pd.DataFrame,
    val: float,
    test: float,
    seed: int,
    group_by: str | None,
    labels: pd.Series | None = None,
) -> pd.DataFrame:
    """Return `frame` with a `split` column of train / val / test.

    `labels` (one per row; default the `label` column) are what the split is stratified by:
    the class, a detection image's dominant class, or one value for all."""
    frame = frame.copy()
    if labels is None:
        labels = frame["label"] if "label" in frame.columns else pd.Series("all", index=frame.index)
    frame["_stratum"] = np.asarray(labels.astype(str))
    return _assign(frame, val, test, seed, group_by).drop(columns="_stratum")


def _assign(frame: pd.DataFrame, val: float, test: float, seed: int, group_by: str | None):
    if "split" in frame.columns and frame["split"].notna().all():
        if (
            val > 0 and not (frame["split"] == "val").any()
        ):  # carve val out of the given train split
            train = frame.index[frame["split"] == "train"]
            held = _draw(frame.loc[train], val / (1 - test), seed, group_by)
            frame.loc[held, "split"] = "val"
        return frame
    if "split" in frame.columns and frame["split"].notna().any():
        missing = rows_text(np.flatnonzero(frame["split"].isna().to_numpy()))
        raise InputError(f"the split column is empty on {missing}: fill every row or none.")
    frame["split"] = "train"
    test_rows = _draw(frame, test, seed, group_by)
    frame.loc[test_rows, "split"] = "test"
    rest = frame.index[frame["split"] == "train"]
    val_rows = _draw(frame.loc[rest], val / (1 - test) if test < 1 else 0, seed + 1, group_by)
    frame.loc[val_rows, "split"] = "val"
    return frame


def _draw(frame: pd.DataFrame, fraction: float, seed: int, group_by: str | None) -> pd.Index:
    """Index labels of a `fraction` of `frame`'s rows, stratified by label (by group if given)."""
    if fraction <= 0 or len(frame) == 0:
        return frame.index[:0]
    if group_by is None:
        return _stratified(frame.index, frame["_stratum"], fraction, seed)
    if group_by not in frame.columns:
        raise InputError(
            f"data.split.group_by: no column '{group_by}'. Columns: {', '.join(frame.columns)}."
        )
    if frame[group_by].isna().any():
        rows = rows_text(np.flatnonzero(frame[group_by].isna().to_numpy()))
        raise InputError(f"data.split.group_by: column '{group_by}' is empty on {rows}.")
    group_label = frame.groupby(group_by)["_stratum"].agg(lambda s: s.mode().iloc[0])
    chosen = _stratified(group_label.index, group_label, fraction, seed)
    return frame.index[frame[group_by].isin(chosen)]


def _stratified(items: pd.Index, labels: pd.Series, fraction: float, seed: int) -> pd.Index:
    """Per label, round(fraction * count) items at random (at least one, if the label has 2+)."""
    rng = np.random.default_rng(seed)
    chosen = []
    labels = pd.Series(np.asarray(labels), index=items)
    for _, members in labels.groupby(labels, sort=True):
        count = int(round(fraction * len(members)))
        if count == 0 and len(members) >= 2 and fraction > 0:
            count = 1
        count = min(count, len(members) - 1) if len(members) > 1 else 0
        chosen.extend(rng.choice(members.index.to_numpy(), size=count, replace=False).tolist())
    if not chosen:
        warnings.warn(
            f"a split of {fraction:.0%} of {len(items)} items is empty: too few items per label.",
            stacklevel=3,
        )
    return pd.Index(chosen)
