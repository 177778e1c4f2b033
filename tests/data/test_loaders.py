"""Batching with care for class imbalance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.class_weight import compute_class_weight

from vislab.data.loaders import (
    EpochSampler,
    balanced_weights,
    class_weights,
    warn_if_imbalanced,
)
from vislab.data.table import SampleTable


def test_class_weights_match_scikit_learn_balanced():
    labels = np.array([0] * 50 + [1] * 10 + [2] * 5)
    expected = compute_class_weight("balanced", classes=np.arange(3), y=labels)
    assert np.allclose(class_weights(labels, 3).numpy(), expected)


def test_balanced_sampler_draws_classes_equally():
    labels = np.array([0] * 900 + [1] * 90 + [2] * 10)
    drawn = labels[list(EpochSampler(len(labels), 0, balanced_weights(labels, 3)))]
    shares = np.bincount(drawn, minlength=3) / len(drawn)
    assert np.allclose(shares, 1 / 3, atol=0.05)


def test_the_order_depends_on_the_seed_and_epoch_only():
    sampler, again = EpochSampler(50, seed=3), EpochSampler(50, seed=3)
    first = list(sampler)
    assert sorted(first) == list(range(50))  # a permutation: every item once
    sampler.set_epoch(1)
    assert list(sampler) != first  # a new order each epoch
    again.set_epoch(1)
    assert list(again) == list(sampler)  # the same (seed, epoch), whatever came before
    assert again.workers.initial_seed() == sampler.workers.initial_seed()
    sampler.set_epoch(0)
    assert list(sampler) == first
    assert list(EpochSampler(50, seed=4)) != first


def test_imbalance_warning_names_the_counts():
    frame = pd.DataFrame({"label": ["a"] * 50 + ["b"] * 10})
    table = SampleTable(frame, ["a", "b"], "t")
    with pytest.warns(UserWarning, match=r"'a' has 50 images, smallest 'b' has 10 \(5.0x\)"):
        warn_if_imbalanced(table)
