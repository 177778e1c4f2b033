"""Classification metrics from additive statistics, and the classification `Evaluator`.

The predictions table is the contract (DESIGN): columns `label`, `prediction`, optional
`score_<class>` columns (probabilities), any metadata columns. It may come from vislab or any
other tool. Point values use scikit-learn's conventions (see `confusion.py`); `top5_accuracy`
needs scores and more than five classes; `ece` (expected calibration error, 15 equal-width bins
on the top-class probability, as torchmetrics) needs scores.

Every metric is computed from additive statistics (`replicate_stats`): confusion counts, the
number of top-5 hits, and per calibration bin the count, summed confidence and summed
correctness. Sampling weights (inverse-probability weights of a validation sample) multiply
each image's contribution, so weighted estimates use the same code.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from vislab.errors import InputError
from vislab.evaluation.bootstrap import Replicates
from vislab.evaluation.confusion import CONFUSION_METRICS, metrics_from_confusion
from vislab.evaluation.inputs import check_class_predictions, no_empty_cells
from vislab.files import rows_text
from vislab.predictions import score_columns

ECE_BINS = 15
JACKKNIFE_LIMIT = 50_000_000  # units x statistics held for the BCa jackknife


class ClassificationData:
    """Integer-coded labels, predictions, optional scores, sampling weights and clusters."""

    def __init__(
        self,
        predictions: pd.DataFrame,
        source: str = "predictions",
        weight_column: str | None = None,
        cluster_column: str | None = None,
        classes: Sequence[str] | None = None,
    ) -> None:
        self.classes = check_class_predictions(predictions, source, classes=classes)
        scored = score_columns(predictions)
        self.scores = predictions[scored].to_numpy(dtype=np.float64) if scored else None
        lookup = {name: k for k, name in enumerate(self.classes)}
        self.labels = _encode(predictions["label"], lookup)
        self.predictions = _encode(predictions["prediction"], lookup)
        self.weights = _weights(predictions, weight_column, source) if weight_column else None
        self.clusters = _codes(predictions, cluster_column, source) if cluster_column else None
        self.strata = None  # a stratified sample's strata (bootstrap.Strata), set by the caller
        self.frame = predictions.reset_index(drop=True)

    @property
    def n(self) -> int:
        return len(self.labels)

    def subset(self, mask: np.ndarray) -> ClassificationData:
        clone = object.__new__(ClassificationData)
        clone.classes = self.classes
        clone.labels, clone.predictions = self.labels[mask], self.predictions[mask]
        clone.scores = self.scores[mask] if self.scores is not None else None
        clone.weights = self.weights[mask] if self.weights is not None else None
        clone.clusters = None
        clone.strata = self.strata.subset(mask) if self.strata is not None else None
        if self.clusters is not None:
            clone.clusters = np.unique(self.clusters[mask], return_inverse=True)[1]
        clone.frame = self.frame[mask].reset_index(drop=True)
        return clone


def _encode(values: pd.Series, lookup: dict[str, int]) -> np.ndarray:
    return np.array([lookup[v] for v in values.astype(str)], dtype=np.int64)


def _weights(frame: pd.DataFrame, column: str, source: str) -> np.ndarray:
    if column not in frame.columns:
        raise InputError(f"{source}: no weight column '{column}'.")
    weights = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(weights) | (weights <= 0))
    if bad.size:
        raise InputError(
            f"{source}: weight column '{column}' must be a number > 0; not so on {rows_text(bad)}."
        )
    return weights


def _codes(frame: pd.DataFrame, column: str, source: str) -> np.ndarray:
    if column not in frame.columns:
        raise InputError(
            f"{source}: --cluster '{column}': no such column. Columns: "
            f"{', '.join(map(str, frame.columns))}."
        )
    no_empty_cells(frame, [column], source)
    return np.unique(frame[column].astype(str).to_numpy(), return_inverse=True)[1]


def unit_arrays(data: ClassificationData) -> dict[str, np.ndarray]:
    """Per-image arrays that every statistic is built from."""
    arrays = {"cells": data.labels * len(data.classes) + data.predictions}
    if data.weights is not None:
        arrays["weight"] = data.weights
    if data.scores is not None:
        if len(data.classes) > 5:
            top5 = np.argpartition(-data.scores, 5, axis=1)[:, :5]
            arrays["top5"] = (top5 == data.labels[:, None]).any(axis=1).astype(np.float64)
        confidence = data.scores.max(axis=1)
        arrays["confidence"] = confidence
        arrays["correct"] = (data.scores.argmax(axis=1) == data.labels).astype(np.float64)
        bins = np.ceil(confidence * ECE_BINS).astype(np.int64) - 1
        arrays["bin"] = np.clip(bins, 0, ECE_BINS - 1)
    return arrays


def _binned(codes: np.ndarray, size: int, weights: np.ndarray | None) -> np.ndarray:
    """(b, size) sums of `weights` (or counts) of each code, per replicate row of `codes`."""
    rows = codes.shape[0]
    keys = codes + (np.arange(rows, dtype=np.int64) * size)[:, None]
    flat = np.bincount(keys.ravel(), None if weights is None else weights.ravel(), rows * size)
    return flat.reshape(rows, size).astype(np.float64)


def replicate_stats(
    arrays: dict[str, np.ndarray], num_classes: int, replicates: Replicates | None = None
) -> dict[str, np.ndarray]:
    """Additive statistics per replicate (leading axis b); None: the data as observed (b = 1)."""
    n = len(arrays["cells"])
    sampling = arrays.get("weight")
    if replicates is not None and replicates.indices is not None:
        index = replicates.indices
        weights = sampling[index] if sampling is not None else None
        gather = lambda name: arrays[name][index]  # noqa: E731
    else:
        weights = replicates.weights if replicates is not None else None
        if sampling is not None:
            weights = sampling[None, :] if weights is None else weights * sampling[None, :]
        rows = 1 if replicates is None else replicates.count
        gather = lambda name: np.broadcast_to(arrays[name], (rows, n))  # noqa: E731
    cells = gather("cells")
    stats = {
        "confusion": _binned(cells, num_classes * num_classes, weights),
        "count": weights.sum(axis=1) if weights is not None else np.full(len(cells), float(n)),
    }
    if "top5" in arrays:
        hits = gather("top5")
        stats["top5"] = (hits * weights).sum(axis=1) if weights is not None else hits.sum(axis=1)
    if "bin" in arrays:
        bins = gather("bin")
        base = weights if weights is not None else np.ones(bins.shape)
        stats["bin_count"] = _binned(bins, ECE_BINS, weights)
        stats["bin_confidence"] = _binned(bins, ECE_BINS, gather("confidence") * base)
        stats["bin_correct"] = _binned(bins, ECE_BINS, gather("correct") * base)
    return stats


def metrics_from_stats(stats: dict[str, np.ndarray], num_classes: int) -> dict[str, np.ndarray]:
    """Every metric, (b,) values, from a stack of additive statistics."""
    confusion = stats["confusion"].reshape(-1, num_classes, num_classes)
    values = metrics_from_confusion(confusion)
    count = np.maximum(stats["count"], 1e-300)
    if "top5" in stats:
        values["top5_accuracy"] = stats["top5"] / count
    if "bin_count" in stats:
        gap = np.abs(stats["bin_confidence"] - stats["bin_correct"]).sum(axis=1)
        values["ece"] = gap / count
    return values


def unit_stats(arrays: dict[str, np.ndarray], num_classes: int, units: np.ndarray) -> dict:
    """Additive statistics of each unit (image or cluster): (U, ...) for the jackknife."""
    count = int(units.max()) + 1
    sampling = arrays.get("weight")
    ones = np.ones(len(units)) if sampling is None else sampling

    def per_unit(codes: np.ndarray, size: int, weights: np.ndarray) -> np.ndarray:
        flat = np.bincount(units * size + codes, weights, count * size)
        return flat.reshape(count, size)

    stats = {
        "confusion": per_unit(arrays["cells"], num_classes * num_classes, ones),
        "count": np.bincount(units, ones, count),
    }
    if "top5" in arrays:
        stats["top5"] = np.bincount(units, arrays["top5"] * ones, count)
    if "bin" in arrays:
        stats["bin_count"] = per_unit(arrays["bin"], ECE_BINS, ones)
        stats["bin_confidence"] = per_unit(arrays["bin"], ECE_BINS, arrays["confidence"] * ones)
        stats["bin_correct"] = per_unit(arrays["bin"], ECE_BINS, arrays["correct"] * ones)
    return stats


def reliability(data: ClassificationData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per ECE bin: mean confidence, accuracy and count (the reliability diagram's points)."""
    arrays = unit_arrays(data)
    if "bin" not in arrays:
        raise InputError("a reliability diagram needs score_<class> columns.")
    stats = replicate_stats(arrays, len(data.classes))
    count = stats["bin_count"][0]
    safe = np.maximum(count, 1e-300)
    return stats["bin_confidence"][0] / safe, stats["bin_correct"][0] / safe, count


class ClassificationEvaluator:
    """The `Evaluator` of classification (intervals.py): confusion-matrix metrics, top-5, ECE."""

    lower_is_better = frozenset({"ece"})

    def __init__(self, data: ClassificationData) -> None:
        self.data = data
        self.arrays = unit_arrays(data)
        self.num_classes = len(data.classes)
        self.names = list(CONFUSION_METRICS)
        optional = (("top5", "top5_accuracy"), ("bin", "ece"))
        self.names += [name for key, name in optional if key in self.arrays]

    @property
    def n(self) -> int:
        return self.data.n

    @property
    def clusters(self) -> np.ndarray | None:
        return self.data.clusters

    @property
    def strata(self):
        return self.data.strata

    @property
    def cells(self) -> int:
        return max(self.n, self.num_classes**2)

    def _metrics(self, stats: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        values = metrics_from_stats(stats, self.num_classes)
        values["confusion"] = stats["confusion"]  # (b, K*K): fairness is computed from it
        return values

    def point(self) -> dict[str, np.ndarray]:
        return self._metrics(replicate_stats(self.arrays, self.num_classes))

    def replicate(self, replicates: Replicates) -> dict[str, np.ndarray]:
        return self._metrics(replicate_stats(self.arrays, self.num_classes, replicates))

    def subset(self, members: np.ndarray) -> ClassificationEvaluator:
        mask = np.zeros(self.n, dtype=bool)
        mask[members] = True
        return ClassificationEvaluator(self.data.subset(mask))

    def jackknife(self) -> dict[str, np.ndarray]:
        """Each metric with one unit (image, or cluster) left out: BCa's acceleration."""
        units = self.clusters if self.clusters is not None else np.arange(self.n)
        if (int(units.max()) + 1) * self.num_classes**2 > JACKKNIFE_LIMIT:
            raise InputError(
                "BCa intervals need a jackknife that is too large here (units x classes^2 > "
                f"{JACKKNIFE_LIMIT:,}); use --interval percentile."
            )
        per_unit = unit_stats(self.arrays, self.num_classes, units)
        total = {name: values.sum(axis=0, keepdims=True) for name, values in per_unit.items()}
        left_out = {name: total[name] - per_unit[name] for name in per_unit}
        return metrics_from_stats(left_out, self.num_classes)
