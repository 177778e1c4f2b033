"""Confident learning (data/label_issues.py) against cleanlab, its authors' package (AGPL-3.0,
a test reference only), on random cases; and on scikit-learn's digits with flipped labels,
the flipped ones found: recall >= 0.7 in a list twice their number."""

from __future__ import annotations

import numpy as np
import pytest

from vislab.data.label_issues import confident_classes, label_issues, out_of_fold, thresholds
from vislab.errors import InputError


def _case(rng: np.random.Generator):
    n, k = int(rng.integers(30, 400)), int(rng.integers(2, 8))
    truth = rng.integers(0, k, n)
    labels = np.where(rng.random(n) < 0.15, rng.integers(0, k, n), truth)
    labels[:k] = np.arange(k)  # every class labelled
    logits = rng.normal(0, 1, (n, k)) + 2.5 * np.eye(k)[truth] * rng.uniform(0.2, 1.5)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return probabilities, labels


@pytest.mark.parametrize("seed", range(40))
def test_the_issues_are_cleanlabs_confident_learning(seed):
    """cleanlab's off-diagonals of the confident joint (filter_by='confident_learning'); where
    two or more classes reach their thresholds, the paper takes the most probable of those and
    cleanlab the most probable of all: rows where the two differ are left out (and counted)."""
    from cleanlab.count import get_confident_thresholds
    from cleanlab.filter import find_label_issues

    probabilities, labels = _case(np.random.default_rng(seed))
    np.testing.assert_allclose(
        thresholds(probabilities, labels), get_confident_thresholds(labels, probabilities)
    )
    expected = find_label_issues(labels, probabilities, filter_by="confident_learning")
    found = np.zeros(len(labels), bool)
    found[label_issues(probabilities, labels)[0]] = True
    reached = probabilities >= thresholds(probabilities, labels) - 1e-6
    theirs = np.where(reached.sum(axis=1) > 1, probabilities.argmax(axis=1), reached.argmax(axis=1))
    differ = reached.any(axis=1) & (theirs != confident_classes(probabilities, labels))
    assert differ.mean() < 0.05
    assert (found == expected)[~differ].all()


def test_issues_are_ranked_by_self_confidence_with_a_suggested_label():
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.05, 0.95], [0.7, 0.3]])
    labels = np.array([0, 1, 1, 0, 0])
    where, suggested, score = label_issues(probabilities, labels)
    assert where.tolist() == [3, 2] and suggested.tolist() == [1, 0]
    assert score.tolist() == [0.05, 0.4]


def test_flipped_digit_labels_are_found():
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(0)
    labels = digits.target.copy()
    flipped = rng.choice(len(labels), size=90, replace=False)
    labels[flipped] = (labels[flipped] + rng.integers(1, 10, 90)) % 10
    probabilities, classes = out_of_fold(digits.data, labels.astype(str))
    coded = np.searchsorted(classes, labels.astype(str))
    where, suggested, _ = label_issues(probabilities, coded)
    listed = where[: 2 * len(flipped)]
    recall = np.isin(flipped, listed).mean()
    assert recall >= 0.7, recall
    right = np.isin(where, flipped)  # the suggested label of a flipped one is mostly the truth
    truth = classes[suggested[right]].astype(int) == digits.target[where[right]]
    assert truth.mean() >= 0.9
    with pytest.raises(InputError, match="two or more classes"):
        out_of_fold(digits.data[:5], np.array(["a", "a", "a", "a", "b"]))
