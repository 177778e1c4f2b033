"""`vislab evaluate captioning`: files in, metrics.json out, with intervals and groups."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from tests.evaluation.test_captioning import random_captions
from vislab.cli import run
from vislab.errors import InputError
from vislab.evaluation.captioning import evaluate_captioning

pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="pycocoevalcap needs Java")


def _write(tmp_path, count=24, seed=0):
    rng = np.random.default_rng(seed)
    references, predictions = random_captions(rng, count)
    coco = {
        "images": [
            {"id": i, "file_name": f"{i}.jpg", "setting": "indoor" if i % 3 else "outdoor"}
            for i in references
        ],
        "annotations": [
            {"image_id": i, "caption": c} for i, texts in references.items() for c in texts
        ],
    }
    results = [{"image_id": i, "caption": texts[0]} for i, texts in predictions.items()]
    (tmp_path / "refs.json").write_text(json.dumps(coco))
    (tmp_path / "preds.json").write_text(json.dumps(results))
    return references, predictions


def test_metrics_json_with_intervals_and_groups(tmp_path):
    from tests.evaluation.test_captioning import reference_scores
    from vislab.evaluation.captioning_stats import tokenize, warm_meteor

    references, predictions = _write(tmp_path)
    metrics = evaluate_captioning(
        tmp_path / "preds.json", tmp_path / "refs.json", ["setting"], bootstrap=200, seed=1
    )
    assert metrics["task"] == "captioning" and metrics["n"] == 24
    assert list(metrics["metrics"]) == [
        "BLEU-1",
        "BLEU-2",
        "BLEU-3",
        "BLEU-4",
        "METEOR",
        "ROUGE-L",
        "CIDEr",
    ]
    # the point values are pycocoevalcap's on tokenized captions
    theirs = reference_scores(tokenize(references), tokenize(predictions), warm_meteor())
    for name, entry in metrics["metrics"].items():
        assert entry["value"] == pytest.approx(theirs[name], abs=1e-9)
        low, high = entry["ci"]
        assert low <= entry["value"] <= high
    groups = metrics["groups"]["setting"]
    assert {g: e["n"] for g, e in groups.items()} == {"indoor": 16, "outdoor": 8}
    assert "CIDEr" in metrics["disparities"]["setting"]


def test_a_group_is_the_subset_evaluated_alone_except_cider_frequencies(tmp_path):
    from tests.evaluation.test_captioning import reference_scores
    from vislab.evaluation.captioning_stats import tokenize, warm_meteor

    references, predictions = _write(tmp_path, seed=3)
    metrics = evaluate_captioning(
        tmp_path / "preds.json", tmp_path / "refs.json", ["setting"], bootstrap=0
    )
    outdoor = [i for i in references if i % 3 == 0]
    alone = reference_scores(
        tokenize({i: references[i] for i in outdoor}),
        tokenize({i: predictions[i] for i in outdoor}),
        warm_meteor(),
    )
    group = metrics["groups"]["setting"]["outdoor"]["metrics"]
    for name in ("BLEU-1", "BLEU-4", "METEOR", "ROUGE-L"):
        assert group[name]["value"] == pytest.approx(alone[name], abs=1e-9)


def test_bad_files_name_the_problem(tmp_path):
    _write(tmp_path, count=6)
    results = json.loads((tmp_path / "preds.json").read_text())
    (tmp_path / "missing.json").write_text(json.dumps(results[:-1]))
    with pytest.raises(InputError, match="1 reference image"):
        evaluate_captioning(tmp_path / "missing.json", tmp_path / "refs.json", bootstrap=0)
    (tmp_path / "twice.json").write_text(json.dumps(results + results[:1]))
    with pytest.raises(InputError, match="more than one caption"):
        evaluate_captioning(tmp_path / "twice.json", tmp_path / "refs.json", bootstrap=0)
    (tmp_path / "unknown.json").write_text(json.dumps(results + [{"image_id": 99, "caption": "x"}]))
    with pytest.raises(InputError, match="not in the references"):
        evaluate_captioning(tmp_path / "unknown.json", tmp_path / "refs.json", bootstrap=0)


def test_cli_with_a_csv_of_references(tmp_path):
    references, _ = _write(tmp_path, count=10)
    table = pd.DataFrame(
        {
            "image_id": list(references),
            "caption": [t[0] for t in references.values()],
            "caption_2": [t[1] if len(t) > 1 else None for t in references.values()],
        }
    )
    table.to_csv(tmp_path / "refs.csv", index=False)
    out = tmp_path / "metrics.json"
    command = [
        "evaluate",
        "captioning",
        "--predictions",
        str(tmp_path / "preds.json"),
        "--references",
        str(tmp_path / "refs.csv"),
        "--bootstrap",
        "50",
        "--out",
        str(out),
    ]
    assert run(command) == 0
    assert json.loads(out.read_text())["n"] == 10


def test_without_java_the_error_says_so(tmp_path, monkeypatch):
    _write(tmp_path, count=3)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(InputError, match="caption metrics need Java"):
        evaluate_captioning(tmp_path / "preds.json", tmp_path / "refs.json", bootstrap=0)
