"""Video evaluation: hand-checkable temporal cases and scikit-learn on video-level scores."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, top_k_accuracy_score

from vislab.cli import run
from vislab.errors import InputError
from vislab.evaluation.video import evaluate_video, per_video


def windows(sequences: dict[str, tuple[str, list[str]]]) -> pd.DataFrame:
    rows = []
    for video, (label, predictions) in sequences.items():
        for k, prediction in enumerate(predictions):
            rows.append(
                {
                    "video_id": video,
                    "start": 2.0 * k,
                    "end": 2.0 * k + 2,
                    "label": label,
                    "prediction": prediction,
                }
            )
    return pd.DataFrame(rows).sample(frac=1, random_state=0)  # row order must not matter


def test_constant_scores_one_alternating_zero_single_window_left_out():
    table = windows(
        {
            "constant": ("a", ["a"] * 5),
            "alternating": ("b", ["a", "b", "a", "b"]),
            "single": ("a", ["b"]),
        }
    )
    videos = per_video(table).set_index("id")
    assert (
        videos.loc["constant", "consistency"] == 1.0
        and videos.loc["alternating", "consistency"] == 0.0
    )
    assert np.isnan(videos.loc["single", "consistency"])
    metrics = evaluate_video(table, bootstrap=0)["metrics"]
    assert metrics["temporal_consistency"]["value"] == pytest.approx(0.5)  # (1 + 0) / 2 videos
    assert metrics["clip_top1_accuracy"]["value"] == pytest.approx((5 + 2 + 0) / 10)
    # majority without scores: constant -> a (right), alternating -> tie, first predicted (a, wrong)
    assert metrics["top1_accuracy"]["value"] == pytest.approx(1 / 3)


def test_total_variation_of_probabilities():
    rows = []
    for k in range(4):
        rows.append(
            {
                "video_id": "still",
                "start": k,
                "end": k + 1,
                "label": "a",
                "prediction": "a",
                "score_a": 0.7,
                "score_b": 0.3,
            }
        )
        jump = k % 2
        rows.append(
            {
                "video_id": "jumping",
                "start": k,
                "end": k + 1,
                "label": "a",
                "prediction": "ab"[jump],
                "score_a": 1.0 - jump,
                "score_b": float(jump),
            }
        )
    metrics = evaluate_video(pd.DataFrame(rows), bootstrap=0)["metrics"]
    videos = per_video(pd.DataFrame(rows)).set_index("id")
    assert (
        videos.loc["still", "total_variation"] == 0.0
        and videos.loc["jumping", "total_variation"] == 1.0
    )
    assert metrics["probability_total_variation"]["value"] == pytest.approx(0.5)


@pytest.mark.parametrize("seed", range(8))
def test_video_level_top_k_equals_scikit_learn_on_averaged_scores(seed):
    rng = np.random.default_rng(seed)
    classes = [f"c{k}" for k in range(7)]
    rows = []
    for video in range(40):
        label = int(rng.integers(0, 7))
        for k in range(int(rng.integers(1, 6))):
            scores = rng.dirichlet(np.ones(7) + 3 * np.eye(7)[label])
            rows.append(
                {
                    "video_id": f"v{video}",
                    "start": k,
                    "end": k + 1,
                    "label": classes[label],
                    "prediction": classes[int(scores.argmax())],
                    "site": "ab"[video % 2],
                    **{f"score_{c}": s for c, s in zip(classes, scores, strict=True)},
                }
            )
    table = pd.DataFrame(rows)
    metrics = evaluate_video(table, ["site"], bootstrap=50, seed=seed)
    averaged = table.groupby("video_id", sort=True)[[f"score_{c}" for c in classes]].mean()
    truth = table.groupby("video_id", sort=True)["label"].first().map(classes.index)
    assert metrics["metrics"]["top1_accuracy"]["value"] == pytest.approx(
        accuracy_score(truth, averaged.to_numpy().argmax(1))
    )
    assert metrics["metrics"]["top5_accuracy"]["value"] == pytest.approx(
        top_k_accuracy_score(truth, averaged.to_numpy(), k=5, labels=range(7))
    )
    assert metrics["n"] == 40 and metrics["windows"] == len(table)
    assert set(metrics["groups"]["site"]) == {"a", "b"}
    assert "temporal_consistency" in metrics["groups"]["site"]["a"]["metrics"]
    low, high = metrics["metrics"]["temporal_consistency"]["ci"]
    assert low <= metrics["metrics"]["temporal_consistency"]["value"] <= high


def test_bad_tables_name_the_problem(tmp_path):
    with pytest.raises(InputError, match="missing \\['start', 'end'\\]"):
        evaluate_video(pd.DataFrame({"video_id": [1], "label": ["a"], "prediction": ["a"]}))
    mixed = windows({"v": ("a", ["a", "a"])})
    mixed.loc[mixed.index[0], "label"] = "b"
    with pytest.raises(InputError, match="different labels"):
        evaluate_video(mixed)


def test_cli(tmp_path):
    windows({"v1": ("a", ["a", "a", "b"]), "v2": ("b", ["b", "b"])}).to_csv(
        tmp_path / "w.csv", index=False
    )
    out = tmp_path / "m.json"
    assert (
        run(
            [
                "evaluate",
                "video",
                "--predictions",
                str(tmp_path / "w.csv"),
                "--bootstrap",
                "20",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    metrics = json.loads(out.read_text())
    assert metrics["task"] == "video" and metrics["metrics"]["temporal_consistency"][
        "value"
    ] == pytest.approx(0.75)
