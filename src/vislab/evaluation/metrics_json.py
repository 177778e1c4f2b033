"""Build metrics.json (DESIGN's shape) for a classification predictions table."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from vislab.errors import InputError
from vislab.evaluation.classification import ClassificationData
from vislab.evaluation.confusion import per_class
from vislab.evaluation.groups import group_breakdown
from vislab.evaluation.intervals import metrics_with_intervals


def evaluate_classification(
    predictions: pd.DataFrame,
    group_by: Sequence[str] = (),
    bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    source: str = "predictions",
    cluster: str | None = None,
    weight: str | None = None,
    interval: str = "percentile",
) -> dict:
    """Metrics with intervals, per class, confusion matrix, groups, disparities, fairness."""
    data = ClassificationData(predictions, source, weight_column=weight, cluster_column=cluster)
    if data.n == 0:
        raise InputError(f"{source}: the predictions table has no rows.")
    metrics, _ = metrics_with_intervals(data, bootstrap, confidence, seed, interval)
    num_classes = len(data.classes)
    cells = data.labels * num_classes + data.predictions
    confusion = np.bincount(cells, data.weights, num_classes**2).reshape(num_classes, num_classes)
    result = {
        "task": "classification",
        "n": data.n,
        "metrics": metrics,
        "per_class": per_class(confusion, data.classes),
        "confusion_matrix": {"classes": data.classes, "counts": confusion.tolist()},
    }
    if group_by:
        groups, disparities, fairness = group_breakdown(
            data, group_by, bootstrap, confidence, seed, source, interval
        )
        result.update(groups=groups, disparities=disparities, fairness=fairness)
    result["bootstrap"] = {
        "resamples": bootstrap,
        "confidence": confidence,
        "seed": seed,
        "method": interval,
        "unit": f"clusters of '{cluster}'" if cluster else "images",
        "weights": weight,
    }
    return result
