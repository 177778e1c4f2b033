"""Detection runs on the collection engine: a row per box with the item's place in the whole
source and its metadata, COCO results with `--out X.json`, the same boxes as the run's own
prediction path, and a job killed mid-way that resumes to the uninterrupted table."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.engine.test_resume import kill_and_resume
from tests.tasks.test_detection import _config
from vislab.cli import run
from vislab.data.shapes import make_shapes
from vislab.tasks import config_from_dict
from vislab.training import train


@pytest.fixture(scope="module")
def detector(tmp_path_factory):
    """A one-epoch detector, and a manifest of 24 images with a metadata column."""
    root = tmp_path_factory.mktemp("detector")
    shapes = make_shapes(root / "shapes", count=24, size=64, seed=5)
    config = _config(shapes, root / "runs", "torchvision:fasterrcnn_mobilenet_v3_large_fpn")
    run_dir = train(config_from_dict(config), progress=False)
    images = sorted((shapes.parent / "images").glob("*.png"))
    manifest = shapes.parent / "manifest.csv"
    rows = {"path": [f"images/{p.name}" for p in images], "camera": ["a", "b"] * 12}
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return run_dir, manifest


def test_boxes_with_their_place_in_the_source_metadata_and_coco_results(detector, tmp_path):
    from vislab.prediction import predict

    run_dir, manifest = detector
    out = tmp_path / "boxes"
    # batches of the run's size (4) inside shards of 8: the same batches as the run's own path
    command = ["predict", str(run_dir), str(manifest), "--batch-size", "4", "--quiet"]
    assert run([*command, "--out", str(out), "--shard-size", "8"]) == 0
    boxes = pd.read_parquet(out)
    listed = pd.read_csv(manifest)
    assert (boxes["id"] == listed["path"].iloc[boxes["position"]].to_numpy()).all()
    assert (boxes["camera"] == listed["camera"].iloc[boxes["position"]].to_numpy()).all()
    assert boxes["position"].max() > 8  # positions in the whole source, not the shard
    files = [str(manifest.parent / p) for p in listed["path"]]
    reference, _, _ = predict(run_dir, files)
    columns = ["label", "score", "x1", "y1", "x2", "y2"]
    np.testing.assert_allclose(
        boxes[columns[1:]].to_numpy(), reference[columns[1:]].to_numpy(), rtol=1e-5, atol=1e-5
    )
    assert boxes["label"].tolist() == reference["label"].tolist()
    assert run([*command, "--out", str(tmp_path / "boxes.dta")]) == 0  # for Stata
    stata = pd.read_stata(tmp_path / "boxes.dta")
    assert list(stata.columns) == list(boxes.columns)
    assert stata["id"].tolist() == boxes["id"].tolist()
    np.testing.assert_allclose(stata[columns[1:]], boxes[columns[1:]], rtol=1e-5, atol=1e-5)
    assert run([*command, "--out", str(tmp_path / "r.json")]) == 0
    results = json.loads((tmp_path / "r.json").read_text())
    assert len(results) == len(boxes)
    assert {r["image_id"] for r in results} <= set(listed["path"])
    assert all(len(r["bbox"]) == 4 and r["category_id"] >= 0 for r in results)


def test_a_detection_job_killed_resumes_to_the_uninterrupted_table(detector, tmp_path):
    run_dir, manifest = detector
    common = ["predict", str(run_dir), str(manifest), "--batch-size", "2", "--quiet"]
    whole = tmp_path / "whole"
    assert run([*common, "--out", str(whole), "--shard-size", "3"]) == 0
    out = tmp_path / "killed"
    arguments = [*common, "--out", str(out), "--shard-size", "3"]
    kill_and_resume(arguments, tmp_path, out, shards=8, kills=1)
    found, expected = pd.read_parquet(out), pd.read_parquet(whole)
    # the same rows; the numbers to float rounding (the killed jobs ran in other processes)
    assert found[["position", "id", "label"]].equals(expected[["position", "id", "label"]])
    pd.testing.assert_frame_equal(found, expected, check_exact=False, rtol=1e-5, atol=1e-5)
