"""Classification metrics against scikit-learn and torchmetrics on many random cases."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn import metrics as skm
from torchmetrics.functional.classification import multiclass_calibration_error

from vislab.errors import InputError
from vislab.evaluation.classification import evaluate_classification


def _random_predictions(seed: int, n: int | None = None, k: int | None = None):
    rng = np.random.default_rng(seed)
    k = k or int(rng.integers(2, 12))
    n = n or int(rng.integers(5, 400))
    labels = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 2.0 * np.eye(k)[labels] * rng.random()
    scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    guesses = scores.argmax(axis=1)
    classes = [f"c{i}" for i in range(k)]
    frame = pd.DataFrame(
        {"label": [classes[i] for i in labels], "prediction": [classes[i] for i in guesses]}
    )
    for i, name in enumerate(classes):
        frame[f"score_{name}"] = scores[:, i]
    return frame, labels, guesses, scores


def _sklearn(labels, guesses):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns on 0/0 and classes absent from labels
        return {
            "accuracy": skm.accuracy_score(labels, guesses),
            "balanced_accuracy": skm.balanced_accuracy_score(labels, guesses),
            "f1_macro": skm.f1_score(labels, guesses, average="macro", zero_division=0),
            "f1_micro": skm.f1_score(labels, guesses, average="micro", zero_division=0),
            "f1_weighted": skm.f1_score(labels, guesses, average="weighted", zero_division=0),
            "precision_macro": skm.precision_score(
                labels, guesses, average="macro", zero_division=0
            ),
            "recall_macro": skm.recall_score(labels, guesses, average="macro", zero_division=0),
            "cohen_kappa": skm.cohen_kappa_score(labels, guesses),
        }


@pytest.mark.parametrize("seed", range(60))
def test_metrics_equal_scikit_learn(seed):
    frame, labels, guesses, scores = _random_predictions(seed)
    if seed % 3 == 0:  # predictions that never use some classes, labels that miss some
        frame = frame[frame["label"] != "c1"].reset_index(drop=True)
        keep = labels != 1
        labels, guesses, scores = labels[keep], guesses[keep], scores[keep]
    result = evaluate_classification(frame, bootstrap=0)
    for name, expected in _sklearn(labels, guesses).items():
        if np.isnan(expected):
            continue
        assert result["metrics"][name]["value"] == pytest.approx(expected, abs=1e-12), name
    k = scores.shape[1]
    if k > 5:
        top5 = skm.top_k_accuracy_score(labels, scores, k=5, labels=np.arange(k))
        assert result["metrics"]["top5_accuracy"]["value"] == pytest.approx(top5, abs=1e-12)
    ece = multiclass_calibration_error(
        torch.tensor(scores), torch.tensor(labels), num_classes=k, n_bins=15
    )
    assert result["metrics"]["ece"]["value"] == pytest.approx(float(ece), abs=1e-5)


def test_per_class_and_confusion_matrix_equal_scikit_learn():
    frame, labels, guesses, _ = _random_predictions(7, n=300, k=6)
    result = evaluate_classification(frame, bootstrap=0)
    assert (
        result["confusion_matrix"]["counts"]
        == skm.confusion_matrix(labels, guesses, labels=range(6)).tolist()
    )
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        labels, guesses, labels=range(6), zero_division=0
    )
    for k, name in enumerate(result["confusion_matrix"]["classes"]):
        entry = result["per_class"][name]
        assert entry["precision"] == pytest.approx(precision[k])
        assert entry["recall"] == pytest.approx(recall[k])
        assert entry["f1"] == pytest.approx(f1[k]) and entry["support"] == support[k]


def test_without_scores_classes_come_from_labels_and_predictions():
    frame = pd.DataFrame({"label": ["2", "10", "2", "3"], "prediction": ["2", "2", "3", "3"]})
    result = evaluate_classification(frame, bootstrap=0)
    assert result["confusion_matrix"]["classes"] == ["2", "3", "10"]  # natural order
    assert "ece" not in result["metrics"] and "top5_accuracy" not in result["metrics"]
    assert result["metrics"]["accuracy"]["value"] == 0.5


def test_intervals_are_repeatable_and_contain_the_value():
    frame, *_ = _random_predictions(3, n=500, k=8)
    one = evaluate_classification(frame, bootstrap=200, seed=1)
    two = evaluate_classification(frame, bootstrap=200, seed=1)
    assert one == two
    for name, entry in one["metrics"].items():
        low, high = entry["ci"]
        assert low <= entry["value"] <= high, name
    assert one["bootstrap"] == {
        "resamples": 200,
        "confidence": 0.95,
        "seed": 1,
        "method": "percentile",
        "unit": "images",
        "weights": None,
    }


def test_bootstrap_interval_equals_a_plain_loop_over_resamples():
    frame, labels, guesses, _ = _random_predictions(5, n=120, k=4)
    result = evaluate_classification(frame, bootstrap=300, seed=9)
    rng = np.random.default_rng(9)
    indices = rng.integers(0, len(labels), size=(300, len(labels)))
    values = [
        skm.f1_score(
            labels[i], guesses[i], average="macro", labels=np.union1d(labels[i], guesses[i])
        )
        for i in indices
    ]
    assert result["metrics"]["f1_macro"]["ci"] == pytest.approx(
        list(np.percentile(values, [2.5, 97.5]))
    )


def test_groups_equal_metrics_of_each_subset_and_disparity():
    frame, labels, guesses, _ = _random_predictions(11, n=400, k=3)
    frame["gender"] = np.where(np.arange(400) % 3 == 0, "female", "male")
    frame["age"] = np.where(np.arange(400) % 2 == 0, "young", "old")
    result = evaluate_classification(frame, group_by=["gender", "gender*age"], bootstrap=100)
    for name in ("female", "male"):
        mask = (frame["gender"] == name).to_numpy()
        expected = skm.accuracy_score(labels[mask], guesses[mask])
        entry = result["groups"]["gender"][name]
        assert entry["n"] == mask.sum() and entry["metrics"]["accuracy"]["value"] == pytest.approx(
            expected
        )
    values = {g: e["metrics"]["accuracy"]["value"] for g, e in result["groups"]["gender"].items()}
    disparity = result["disparities"]["gender"]["accuracy"]
    assert disparity["difference"] == pytest.approx(max(values.values()) - min(values.values()))
    assert disparity["ratio"] == pytest.approx(min(values.values()) / max(values.values()))
    assert set(result["groups"]["gender*age"]) == {
        "female|old",
        "female|young",
        "male|old",
        "male|young",
    }


def test_bad_predictions_tables_are_named():
    frame, *_ = _random_predictions(2, n=50, k=3)
    with pytest.raises(InputError, match="no 'label' column"):
        evaluate_classification(frame.drop(columns="label"), source="p.csv")
    broken = frame.copy()
    broken.loc[4, "score_c1"] = np.nan
    with pytest.raises(InputError, match=r"not numbers or infinite on row 6\b"):  # header: 1
        evaluate_classification(broken, bootstrap=0)
    unknown = frame.copy()
    unknown.loc[2, "label"] = "zebra"
    with pytest.raises(InputError, match=r"label 'zebra' \(row 4\)"):
        evaluate_classification(unknown, bootstrap=0)
    with pytest.raises(InputError, match="no column 'site'"):
        evaluate_classification(frame, group_by=["site"], bootstrap=0)
