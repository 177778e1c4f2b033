"""Splits: stratified by label with a seed, groups never cross splits, given splits are kept."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vislab.data.splits import assign_splits
from vislab.errors import InputError


def _frame(n_per_class=(50, 30, 20), groups=None):
    labels = np.concatenate([[f"c{k}"] * n for k, n in enumerate(n_per_class)])
    frame = pd.DataFrame({"id": range(len(labels)), "label": labels})
    if groups:
        frame["person"] = [f"p{i % groups}" for i in range(len(labels))]
    return frame


def test_stratified_fractions_per_class():
    frame = assign_splits(_frame(), val=0.1, test=0.2, seed=0, group_by=None)
    counts = frame.groupby(["label", "split"]).size().unstack()
    assert counts.loc["c0"].to_dict() == {"test": 10, "train": 35, "val": 5}
    assert counts.loc["c2"].to_dict() == {"test": 4, "train": 14, "val": 2}


def test_seed_makes_splits_repeatable_and_different():
    one = assign_splits(_frame(), 0.1, 0.2, seed=0, group_by=None)["split"]
    two = assign_splits(_frame(), 0.1, 0.2, seed=0, group_by=None)["split"]
    three = assign_splits(_frame(), 0.1, 0.2, seed=1, group_by=None)["split"]
    assert (one == two).all() and not (one == three).all()


def test_group_by_keeps_each_group_inside_one_split():
    frame = assign_splits(_frame(groups=25), 0.2, 0.2, seed=3, group_by="person")
    splits_per_person = frame.groupby("person")["split"].nunique()
    assert (splits_per_person == 1).all()
    assert set(frame["split"]) == {"train", "val", "test"}


def test_given_splits_are_used_and_val_is_carved_from_train():
    frame = _frame()
    frame["split"] = ["test" if i % 5 == 0 else "train" for i in range(len(frame))]
    result = assign_splits(frame, val=0.1, test=0.2, seed=0, group_by=None)
    assert (result.loc[frame["split"] == "test", "split"] == "test").all()
    assert (result["split"] == "val").sum() > 0
    assert set(result.loc[frame["split"] == "train", "split"]) == {"train", "val"}


def test_group_column_errors():
    with pytest.raises(InputError, match="no column 'person'"):
        assign_splits(_frame(), 0.1, 0.1, 0, group_by="person")
    frame = _frame(groups=5)
    frame.loc[3, "person"] = None
    with pytest.raises(InputError, match="'person' is empty on row 5\\."):
        assign_splits(frame, 0.1, 0.1, 0, group_by="person")
