"""Classification metrics with intervals, per class, per group, from a predictions table.

The predictions table is the contract (DESIGN): columns `label`, `prediction`, optional
`score_<class>` columns (probabilities), any metadata columns. It may come from vislab or any
other tool. Point values use scikit-learn's conventions (see `confusion.py`); `top5_accuracy`
needs scores and more than five classes; `ece` (expected calibration error, 15 equal-width bins
on the top-class probability, as torchmetrics) needs scores.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from vislab.errors import InputError
from vislab.evaluation.bootstrap import bootstrap_distribution, percentile_interval
from vislab.evaluation.confusion import confusion_stack, metrics_from_confusion, per_class

SCORE_PREFIX = "score_"
ECE_BINS = 15
SMALL_GROUP = 30


class ClassificationData:
    """Integer-coded labels, predictions and (optional) scores, checked once."""

    def __init__(self, predictions: pd.DataFrame, source: str = "predictions") -> None:
        for column in ("label", "prediction"):
            if column not in predictions.columns:
                raise InputError(
                    f"{source}: no '{column}' column. A classification predictions table needs "
                    f"'label' and 'prediction' (optional 'score_<class>'). Found: "
                    f"{', '.join(map(str, predictions.columns))}."
                )
        _no_empty(predictions, ("label", "prediction"), source)
        labels = predictions["label"].astype(str).to_numpy()
        guesses = predictions["prediction"].astype(str).to_numpy()
        score_columns = [c for c in predictions.columns if str(c).startswith(SCORE_PREFIX)]
        if score_columns:
            self.classes = [str(c)[len(SCORE_PREFIX) :] for c in score_columns]
            self.scores = _checked_scores(predictions, score_columns, source)
        else:
            self.classes = sorted(set(labels) | set(guesses), key=_natural_key)
            self.scores = None
        lookup = {name: k for k, name in enumerate(self.classes)}
        self.labels = _encode(labels, lookup, "label", source)
        self.predictions = _encode(guesses, lookup, "prediction", source)
        self.frame = predictions.reset_index(drop=True)

    @property
    def n(self) -> int:
        return len(self.labels)

    def subset(self, mask: np.ndarray) -> ClassificationData:
        clone = object.__new__(ClassificationData)
        clone.classes = self.classes
        clone.labels, clone.predictions = self.labels[mask], self.predictions[mask]
        clone.scores = self.scores[mask] if self.scores is not None else None
        clone.frame = self.frame[mask].reset_index(drop=True)
        return clone


def _natural_key(name: str):
    return (0, int(name), "") if name.lstrip("-").isdigit() else (1, 0, name)


def _no_empty(frame: pd.DataFrame, columns: Sequence[str], source: str) -> None:
    for column in columns:
        empty = np.flatnonzero(frame[column].isna().to_numpy())
        if empty.size:
            rows = ", ".join(str(i) for i in empty[:10])
            raise InputError(f"{source}: column '{column}' is empty on row(s) {rows} (0-based).")


def _checked_scores(frame: pd.DataFrame, columns: list[str], source: str) -> np.ndarray:
    scores = frame[columns].to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(scores).all(axis=1))
    if bad.size:
        raise InputError(
            f"{source}: NaN or infinite scores on row(s) {', '.join(map(str, bad[:10]))} (0-based)."
        )
    return scores


def _encode(values: np.ndarray, lookup: dict[str, int], column: str, source: str) -> np.ndarray:
    codes = np.array([lookup.get(v, -1) for v in values], dtype=np.int64)
    unknown = np.flatnonzero(codes < 0)
    if unknown.size:
        names = sorted(set(values[unknown]))[:5]
        raise InputError(
            f"{source}: {column} value(s) {names} (row(s) {', '.join(map(str, unknown[:10]))}) "
            f"have no score_<class> column. Classes with scores: {', '.join(lookup)}."
        )
    return codes


def point_and_sample_arrays(data: ClassificationData) -> dict[str, np.ndarray]:
    """Per-sample arrays that every statistic is built from."""
    arrays = {"cells": data.labels * len(data.classes) + data.predictions}
    if data.scores is not None:
        if len(data.classes) > 5:
            top5 = np.argpartition(-data.scores, 5, axis=1)[:, :5]
            arrays["top5"] = (top5 == data.labels[:, None]).any(axis=1).astype(np.float64)
        confidence = data.scores.max(axis=1)
        arrays["confidence"] = confidence
        arrays["correct"] = (data.scores.argmax(axis=1) == data.labels).astype(np.float64)
        arrays["bin"] = np.clip(
            np.ceil(confidence * ECE_BINS).astype(np.int64) - 1, 0, ECE_BINS - 1
        )
    return arrays


def statistic_for(data: ClassificationData):
    """The function from resample indices (b, n) (or None: the data as is) to metric arrays."""
    arrays = point_and_sample_arrays(data)
    num_classes = len(data.classes)

    def statistic(indices: np.ndarray | None) -> dict[str, np.ndarray]:
        confusion = confusion_stack(arrays["cells"], num_classes, indices)
        values = metrics_from_confusion(confusion)
        if "top5" in arrays:
            values["top5_accuracy"] = _mean(arrays["top5"], indices)
        if "bin" in arrays:
            values["ece"] = _ece(arrays, indices)
        return values

    return statistic


def _mean(values: np.ndarray, indices: np.ndarray | None) -> np.ndarray:
    return values[None, :].mean(axis=1) if indices is None else values[indices].mean(axis=1)


def _ece(arrays: dict[str, np.ndarray], indices: np.ndarray | None) -> np.ndarray:
    """sum over bins of |mean confidence - accuracy| * bin share, per resample."""
    if indices is None:
        indices = np.arange(len(arrays["bin"]))[None, :]
    draws, n = indices.shape
    keys = (indices * 0 + np.arange(draws)[:, None]) * ECE_BINS + arrays["bin"][indices]
    size = draws * ECE_BINS
    count = np.bincount(keys.ravel(), minlength=size).reshape(draws, ECE_BINS)
    confidence = np.bincount(keys.ravel(), arrays["confidence"][indices].ravel(), size)
    correct = np.bincount(keys.ravel(), arrays["correct"][indices].ravel(), size)
    gap = np.abs(confidence - correct).reshape(draws, ECE_BINS)
    return gap.sum(axis=1) / np.maximum(count.sum(axis=1), 1)


def metrics_with_intervals(
    data: ClassificationData, resamples: int, confidence: float, seed: int
) -> tuple[dict[str, dict], dict[str, np.ndarray]]:
    """{metric: {"value", "ci"}} and the bootstrap draws behind the intervals."""
    statistic = statistic_for(data)
    point = {name: float(values[0]) for name, values in statistic(None).items()}
    draws = bootstrap_distribution(data.n, statistic, resamples, seed) if resamples > 0 else {}
    metrics = {}
    for name, value in point.items():
        entry: dict = {"value": value}
        if draws:
            entry["ci"] = percentile_interval(draws[name], confidence)
        metrics[name] = entry
    return metrics, draws


def evaluate_classification(
    predictions: pd.DataFrame,
    group_by: Sequence[str] = (),
    bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    source: str = "predictions",
) -> dict:
    """metrics.json (DESIGN's shape) for a classification predictions table."""
    data = ClassificationData(predictions, source)
    if data.n == 0:
        raise InputError(f"{source}: the predictions table has no rows.")
    metrics, _ = metrics_with_intervals(data, bootstrap, confidence, seed)
    confusion = confusion_stack(point_and_sample_arrays(data)["cells"], len(data.classes))[0]
    result = {
        "task": "classification",
        "n": data.n,
        "metrics": metrics,
        "per_class": per_class(confusion, data.classes),
        "confusion_matrix": {"classes": data.classes, "counts": confusion.tolist()},
    }
    if group_by:
        from vislab.evaluation.groups import group_breakdown

        result["groups"], result["disparities"] = group_breakdown(
            data, group_by, bootstrap, confidence, seed, source
        )
    result["bootstrap"] = {
        "resamples": bootstrap,
        "confidence": confidence,
        "seed": seed,
        "method": "percentile",
    }
    return result
