"""Fairness of a classifier between groups, per class against the rest (fairlearn's definitions).

Demographic parity (selection rate = share predicted as the class), equalized odds (larger of
the true- and false-positive-rate gaps) and equal opportunity (true-positive-rate gap), from
each group's confusion matrix; intervals from the confusion matrices of the group breakdown's
lockstep replicates (`groups.py`), so they come from the same draws as the disparities.
Tested against fairlearn.
"""

from __future__ import annotations

import warnings

import numpy as np

from vislab.evaluation.bootstrap import percentile_interval
from vislab.evaluation.groups import Breakdown, safe_ratio
from vislab.evaluation.intervals import finite

FAIRNESS = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equal_opportunity_difference",
)


def fairness_from_confusion(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """Fairness measures per class from group confusion matrices (G, b, K, K) -> (b, K) each."""
    total = confusion.sum(axis=(2, 3))[..., None]  # (G, b, 1)
    true_count = confusion.sum(axis=3)  # (G, b, K): images of the class
    predicted = confusion.sum(axis=2)  # (G, b, K): images predicted as the class
    hits = np.diagonal(confusion, axis1=2, axis2=3)
    selection = safe_ratio(predicted, total)
    tpr = safe_ratio(hits, true_count)
    fpr = safe_ratio(predicted - hits, total - true_count)

    def gap(rate):
        return np.nanmax(rate, axis=0) - np.nanmin(rate, axis=0)

    with warnings.catch_warnings():  # a class absent from every group: NaN, reported as null
        warnings.simplefilter("ignore", RuntimeWarning)
        return {
            "demographic_parity_difference": gap(selection),
            "demographic_parity_ratio": safe_ratio(
                np.nanmin(selection, axis=0), np.nanmax(selection, axis=0)
            ),
            "equalized_odds_difference": np.maximum(gap(tpr), gap(fpr)),
            "equal_opportunity_difference": gap(tpr),
        }


def fairness_entries(breakdown: Breakdown, classes: list[str], confidence: float) -> dict:
    """{class: {measure: {"value", "ci"}}} for one group column (two groups or more)."""
    if len(breakdown.members) < 2:
        return {}
    size = len(classes)

    def stacked(source: dict) -> np.ndarray:  # (G, b, K, K)
        matrices = np.stack([source[name]["confusion"] for name in breakdown.members])
        return matrices.reshape(*matrices.shape[:2], size, size)

    point = fairness_from_confusion(stacked(breakdown.points).astype(float))
    replicated = fairness_from_confusion(stacked(breakdown.draws)) if breakdown.draws else None
    result = {}
    for k, name in enumerate(classes):
        entry = {}
        for measure in FAIRNESS:
            value = {"value": finite(point[measure][0, k])}
            if replicated is not None:
                interval = percentile_interval(replicated[measure][:, k], confidence)
                if interval is not None:
                    value["ci"] = interval
            entry[measure] = value
        result[name] = entry
    return result
