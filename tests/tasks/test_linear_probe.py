"""Linear probe on frozen CLIP features: scikit-learn's fit, vislab's predictions and metrics."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from vislab.cli import run
from vislab.data.sources import from_imagefolder
from vislab.errors import InputError
from vislab.models.tiny import save_tiny_clip
from vislab.tasks.linear_probe import linear_probe, split_table


def _features(table, seed=0):
    """Features that separate the classes, plus noise: the probe must find the signal."""
    rng = np.random.default_rng(seed)
    labels = table.label_indices()
    return np.eye(len(table.classes))[labels] * 2 + rng.normal(
        0, 0.5, (len(labels), len(table.classes))
    )


def test_probe_probabilities_are_scikit_learns(image_folder):
    from sklearn.linear_model import LogisticRegression

    table = split_table(from_imagefolder(image_folder), test=0.25, seed=0)
    features = _features(table)
    predictions, record = linear_probe(table, features, seed=0)
    training = (table.frame["split"] != "test").to_numpy()
    again = LogisticRegression(C=record["C"], max_iter=5000).fit(
        features[training], table.label_indices()[training]
    )
    expected = again.predict_proba(features[~training])
    mine = predictions[[f"score_{c}" for c in table.classes]].to_numpy()
    np.testing.assert_allclose(
        mine, expected, atol=5e-3
    )  # the CV refit starts warm: solver tolerance
    assert (mine.argmax(1) == expected.argmax(1)).all()
    assert (predictions["label"] == predictions["prediction"]).mean() > 0.8
    assert record["test_images"] == len(predictions) == int((~training).sum())


def test_unlabelled_images_are_refused(image_folder, tmp_path):
    paths = sorted(str(p) for p in image_folder.rglob("*.png"))
    pd.DataFrame({"path": paths, "label": ["red"] * (len(paths) - 1) + [None]}).to_csv(
        tmp_path / "m.csv", index=False
    )
    from vislab.data.sources import from_manifest

    table = split_table(from_manifest(tmp_path / "m.csv", require_label=False), 0.25, 0)
    with pytest.raises(InputError, match="needs a label for every image; 1 have none"):
        linear_probe(table, np.zeros((len(table), 3)))


def test_cli_writes_predictions_metrics_and_record(image_folder, tmp_path):
    model = save_tiny_clip(tmp_path / "clip")
    out = tmp_path / "probe"
    command = [
        "linear-probe",
        str(image_folder),
        "--model",
        str(model),
        "--bootstrap",
        "20",
        "--out",
        str(out),
    ]
    assert run(command) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == "classification" and metrics["n"] == len(
        pd.read_csv(out / "predictions.csv")
    )
    assert json.loads((out / "probe.json").read_text())["model"] == str(model)
    assert run(command) == 2  # never overwrites an earlier probe
    # the collection embedded once (a folder of shards), probed without reading an image again
    shards = tmp_path / "embedded"
    assert run(["embed", str(image_folder), "--model", str(model), "--out", str(shards)]) == 0
    again = tmp_path / "again"
    probed = ["linear-probe", "--model", str(model), "--embeddings", str(shards)]
    assert run([*probed, "--bootstrap", "20", "--out", str(again)]) == 0
    first, second = (
        pd.read_csv(d / "predictions.csv")
        .assign(name=lambda f: f["id"].str.split("/").str[-1])
        .sort_values("name")
        for d in (out, again)
    )
    assert first["name"].tolist() == second["name"].tolist()  # the same test split
    scores = [c for c in first.columns if c.startswith("score_")]
    np.testing.assert_allclose(second[scores], first[scores], atol=1e-4)
    assert run([*probed, str(image_folder), "--out", str(tmp_path / "both")]) == 2
