"""Bootstrap intervals: coverage, clusters, sampling weights, BCa — each against a reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn import metrics as skm

from vislab.evaluation.classification import evaluate_classification
from vislab.evaluation.classification_stats import ClassificationData, ClassificationEvaluator
from vislab.evaluation.intervals import bootstrap_draws, metric_entries


def _binary(n: int, accuracy: float, rng) -> pd.DataFrame:
    labels = rng.integers(0, 2, n)
    correct = rng.random(n) < accuracy
    return pd.DataFrame({"label": labels, "prediction": np.where(correct, labels, 1 - labels)})


def test_95_percent_intervals_cover_the_true_accuracy_about_95_percent_of_the_time():
    rng = np.random.default_rng(2026)
    true_accuracy, repetitions, covered = 0.8, 400, 0
    for repetition in range(repetitions):
        evaluator = ClassificationEvaluator(ClassificationData(_binary(300, true_accuracy, rng)))
        metrics, _, _ = metric_entries(evaluator, resamples=1000, confidence=0.95, seed=repetition)
        low, high = metrics["accuracy"]["ci"]
        covered += low <= true_accuracy <= high
    assert 0.93 <= covered / repetitions <= 0.97


def test_cluster_bootstrap_equals_a_plain_loop_over_drawn_clusters():
    rng = np.random.default_rng(5)
    frame = _binary(300, 0.7, rng)
    frame["person"] = rng.integers(0, 40, 300)
    evaluator = ClassificationEvaluator(ClassificationData(frame, cluster_column="person"))
    values = bootstrap_draws(evaluator, resamples=200, seed=3)["accuracy"]
    codes = np.unique(frame["person"].astype(str), return_inverse=True)[1]
    correct = (frame["label"] == frame["prediction"]).to_numpy()
    draws = np.random.default_rng(3).integers(0, 40, size=(200, 40))
    expected = [np.concatenate([correct[codes == c] for c in draw]).mean() for draw in draws]
    assert np.allclose(values, expected)


def test_clustered_images_give_wider_intervals_than_independent_ones():
    rng = np.random.default_rng(1)
    person = np.repeat(np.arange(50), 10)  # 10 images per person, all right or all wrong
    person_correct = rng.random(50) < 0.7
    labels = rng.integers(0, 2, 500)
    frame = pd.DataFrame(
        {
            "label": labels,
            "person": person,
            "prediction": np.where(person_correct[person], labels, 1 - labels),
        }
    )
    naive = evaluate_classification(frame, bootstrap=500)["metrics"]["accuracy"]["ci"]
    clustered = evaluate_classification(frame, bootstrap=500, cluster="person")
    low, high = clustered["metrics"]["accuracy"]["ci"]
    assert (high - low) > 2 * (naive[1] - naive[0])
    assert clustered["bootstrap"]["unit"] == "clusters of 'person'"


@pytest.mark.parametrize("seed", range(10))
def test_sampling_weights_equal_scikit_learn_sample_weight(seed):
    rng = np.random.default_rng(seed)
    n = 150
    labels, guesses = rng.integers(0, 4, n), rng.integers(0, 4, n)
    weights = rng.uniform(0.5, 20, n)
    frame = pd.DataFrame({"label": labels, "prediction": guesses, "w": weights})
    metrics = evaluate_classification(frame, bootstrap=0, weight="w")["metrics"]
    assert metrics["accuracy"]["value"] == pytest.approx(
        skm.accuracy_score(labels, guesses, sample_weight=weights)
    )
    f1 = skm.f1_score(labels, guesses, average="macro", sample_weight=weights, zero_division=0)
    assert metrics["f1_macro"]["value"] == pytest.approx(f1)
    kappa = skm.cohen_kappa_score(labels, guesses, sample_weight=weights)
    assert metrics["cohen_kappa"]["value"] == pytest.approx(kappa)
    balanced = skm.balanced_accuracy_score(labels, guesses, sample_weight=weights)
    assert metrics["balanced_accuracy"]["value"] == pytest.approx(balanced)


def test_bca_interval_agrees_with_scipy():
    rng = np.random.default_rng(0)
    frame = _binary(250, 0.85, rng)
    correct = (frame["label"] == frame["prediction"]).to_numpy().astype(float)
    ours = evaluate_classification(frame, bootstrap=5000, interval="bca")["metrics"]["accuracy"][
        "ci"
    ]
    reference = stats.bootstrap((correct,), np.mean, n_resamples=5000, method="BCa", random_state=1)
    assert ours == pytest.approx(list(reference.confidence_interval), abs=0.008)


def test_bca_formula_equals_scipy_on_its_own_bootstrap_distribution():
    from vislab.evaluation.bootstrap import bca_interval

    sample = np.random.default_rng(4).exponential(size=60)  # skewed: BCa differs from percentile
    reference = stats.bootstrap((sample,), np.mean, n_resamples=4000, method="BCa", random_state=0)
    jackknife = (sample.sum() - sample) / (len(sample) - 1)
    ours = bca_interval(reference.bootstrap_distribution, sample.mean(), jackknife, 0.95)
    assert ours == pytest.approx(list(reference.confidence_interval), abs=1e-9)
