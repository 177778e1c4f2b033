"""The one preparation flow of every task: bad items stop the run by name or are skipped and
listed, splits, and the fingerprint."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from vislab.config import DataConfig
from vislab.data.prepare import prepare_items, screen
from vislab.data.sources import from_manifest
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


def test_an_image_listed_twice_or_copied_never_lands_in_two_splits(tmp_path):
    from vislab.data.check import scan

    rng = np.random.default_rng(0)
    paths = []
    for i in range(120):
        pixels = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / f"{i}.png")
        if i % 4 == 0:  # a copy under another name: the same content
            Image.fromarray(pixels).save(tmp_path / f"copy-{i}.png")
            paths.append(f"copy-{i}.png")
        paths += [f"{i}.png"] * (2 if i % 3 == 0 else 1)  # every third listed twice
    manifest = tmp_path / "m.csv"
    labels = rng.choice(["a", "b"], len(paths))
    pd.DataFrame({"path": paths, "label": labels}).to_csv(manifest, index=False)
    table = from_manifest(manifest)
    assert table.frame["id"].is_unique and "0.png#2" in set(table.frame["id"])
    result = scan(table)
    config = DataConfig(source="manifest", root=str(manifest), split={"val": 0.2, "test": 0.3})
    frame = prepare_items(table, result.problems, result.digests, config).table.frame
    frame["image"] = frame["listed_path"].str.removeprefix("copy-")
    assert (frame.groupby("image")["split"].nunique() == 1).all()
    assert set(frame["split"]) == {"train", "val", "test"}


def test_near_copies_are_kept_in_one_split_when_grouped_by_duplicate_cluster(tmp_path):
    """Photo tiles with re-encoded and resized copies (other bytes, so not the same item by
    content): `group_by: duplicate_cluster` puts each copy in its original's split; without
    it some copies land apart."""
    from tests.data.test_near_copies import _jpeg, _tiles
    from vislab.data.check import scan

    tiles = _tiles(160)[:40]
    rows = []
    for k, tile in enumerate(tiles):
        tile.save(tmp_path / f"tile{k}.jpg", quality=95)
        copy = _jpeg(tile, 50) if k % 2 else tile.resize((110, 110))
        copy.save(tmp_path / f"copy{k}.jpg", quality=90)
        rows += [{"path": f"tile{k}.jpg", "label": "ab"[k % 2]}]
        rows += [{"path": f"copy{k}.jpg", "label": "ab"[k % 2]}]
    pd.DataFrame(rows).to_csv(tmp_path / "m.csv", index=False)
    table = from_manifest(tmp_path / "m.csv")
    result = scan(table)

    def prepared(group_by):
        config = DataConfig(
            source="manifest",
            root=str(tmp_path / "m.csv"),
            split={"val": 0.2, "test": 0.3, "group_by": group_by},
        )
        data = prepare_items(table, result.problems, result.digests, config)
        data.table.frame["tile"] = data.table.frame["listed_path"].str.replace("copy", "tile")
        return data

    grouped = prepared("duplicate_cluster")
    frame = grouped.table.frame
    assert (frame.groupby("tile")["split"].nunique() == 1).all()
    assert frame["duplicate_cluster"].nunique() == len(tiles)
    assert grouped.inspection["near_copies"]["n_leaking_clusters"] == 0
    apart = prepared(None)
    frame = apart.table.frame
    spread = frame.groupby("tile")["split"].nunique() > 1
    assert spread.any()
    # the run's own look found every pair, and which of them its splits pulled apart
    near = apart.inspection["near_copies"]
    assert near["n_copy_clusters"] == len(tiles) and near["effective_n"] == len(tiles)
    assert near["n_leaking_clusters"] == spread.sum()
    leaking_tiles = frame[frame["tile"].map(spread)]
    in_test = (leaking_tiles["split"] == "test").sum()
    assert near["held_out_split"] == "test"
    assert near["n_held_out_with_copy_in_another_split"] == in_test
    listed = apart.near_copies
    assert set(listed["path"]) == set(frame["listed_path"])
    assert listed.groupby("cluster")["leaks"].first().sum() == spread.sum()
