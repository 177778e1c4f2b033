"""The one preparation flow of every task: bad items stop the run by name or are skipped and
listed, splits, and the fingerprint."""

from __future__ import annotations

import pandas as pd
import pytest
from PIL import Image

from vislab.config import DataConfig
from vislab.data.prepare import prepare_items, screen
from vislab.data.table import SampleTable, fingerprint
from vislab.errors import InputError


def _table(tmp_path) -> SampleTable:
    good = tmp_path / "good.png"
    Image.new("RGB", (4, 4)).save(good)
    (tmp_path / "bad.png").write_bytes(b"junk")
    frame = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "label": ["x", "x", "y"],
            "path": [str(good), str(tmp_path / "bad.png"), str(tmp_path / "gone.png")],
        }
    )
    return SampleTable(frame, ["x", "y"], "my source")


def test_bad_items_stop_with_every_name_or_are_skipped_and_listed(tmp_path):
    table = _table(tmp_path)
    problems = [None, "not an image", "missing"]
    with pytest.raises(
        InputError, match=r"2 image\(s\) cannot be used:\n  - .*bad.png.*\n  - .*gone.png"
    ):
        screen(table, problems, "error")
    usable, skipped = screen(table, problems, "skip")
    assert usable == [0] and skipped["id"].tolist() == ["b", "c"]
    assert skipped["reason"].tolist() == ["not an image", "missing"]


def test_prepared_data_keeps_the_usable_items_split_and_fingerprinted(tmp_path):
    table = _table(tmp_path)
    data = prepare_items(
        table,
        [None, "junk", "gone"],
        ["d1", None, None],
        DataConfig(
            source="manifest", root="x", on_bad_image="skip", split={"val": 0.0, "test": 0.0}
        ),
    )
    assert data.table.frame["id"].tolist() == ["a"] and data.split_counts() == {"train": 1}
    assert data.fingerprint == fingerprint(data.table, ["d1"])
    assert len(data.skipped) == 2


def test_the_fingerprint_changes_with_content_label_and_split(tmp_path):
    table = (
        _table(tmp_path)
        .subset([0, 2])
        .with_frame(
            pd.DataFrame(
                {
                    "id": ["a", "c"],
                    "path": ["p", "q"],
                    "label": ["x", "y"],
                    "split": ["train", "test"],
                }
            )
        )
    )
    base = fingerprint(table, ["d1", "d2"])
    assert base == fingerprint(table, ["d1", "d2"])
    assert base != fingerprint(table, ["d1", "d3"])
    relabelled = table.with_frame(table.frame.assign(label=["y", "y"]))
    assert base != fingerprint(relabelled, ["d1", "d2"])
    resplit = table.with_frame(table.frame.assign(split=["test", "test"]))
    assert base != fingerprint(resplit, ["d1", "d2"])
