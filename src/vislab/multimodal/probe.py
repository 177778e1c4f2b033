"""`vislab linear-probe`: logistic regression on frozen CLIP image features.

The strong baseline for small labelled sets (Radford et al. 2021): CLIP embeds every image once,
scikit-learn's `LogisticRegressionCV` picks the inverse regularisation strength C by
cross-validated log loss on the training images (train and val splits together), and the held-out test
split is predicted and evaluated like any classification run: a predictions CSV, metrics.json
with intervals and groups. Splits are the source's own, else stratified by label with `seed`.
"""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd

from vislab.data.sources import SampleTable
from vislab.data.splits import assign_splits
from vislab.errors import InputError
from vislab.prediction import predictions_frame

CS = np.logspace(-3, 3, 13)


def split_table(table: SampleTable, test: float, seed: int) -> SampleTable:
    frame = table.frame
    if "split" not in frame.columns or frame["split"].isna().all():
        frame = assign_splits(frame, 0.0, test, seed, None)
    if not (frame["split"] == "test").any():
        raise InputError("no test images: give the source a test split, or a --test fraction > 0.")
    return SampleTable(frame, table.classes, table.read, table.description)


def fit_probe(features: np.ndarray, labels: np.ndarray, seed: int):
    from sklearn.linear_model import LogisticRegressionCV

    smallest = int(np.bincount(labels).min()) if len(labels) else 0
    if smallest < 2:
        raise InputError(
            "every class needs at least 2 training images for the probe's cross-validation."
        )
    options = {"Cs": CS, "cv": min(5, smallest), "max_iter": 5000, "random_state": seed,
               "scoring": "neg_log_loss"}  # fmt: skip
    accepted = inspect.signature(LogisticRegressionCV).parameters
    if "use_legacy_attributes" in accepted:  # scikit-learn >= 1.8: its future defaults, now
        options.update(use_legacy_attributes=False, l1_ratios=(0.0,))
    return LogisticRegressionCV(**options).fit(features, labels)


def linear_probe(
    table: SampleTable, features: np.ndarray, seed: int = 0
) -> tuple[pd.DataFrame, dict]:
    """Test-split predictions (vislab's table) and what was fitted."""
    missing = table.frame["label"].isna()
    if missing.any():
        first = table.frame["path"][missing].iloc[0]
        raise InputError(
            f"linear-probe needs a label for every image; {int(missing.sum())} have none (e.g. {first})."
        )
    training = (table.frame["split"] != "test").to_numpy()
    labels = table.label_indices()
    probe = fit_probe(features[training], labels[training], seed)
    test = np.flatnonzero(~training)
    probabilities = np.zeros((len(test), len(table.classes)))
    probabilities[:, probe.classes_] = probe.predict_proba(features[test])
    record = {"C": float(np.ravel(probe.C_)[0]), "Cs": CS.tolist(), "train_images": int(training.sum()),
              "test_images": len(test), "classes": table.classes}  # fmt: skip
    return predictions_frame(table.subset(test), probabilities), record
