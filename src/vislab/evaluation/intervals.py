"""Point values and bootstrap intervals of every metric of one population of images."""

from __future__ import annotations

from typing import Literal

import numpy as np

from vislab.errors import InputError
from vislab.evaluation.bootstrap import (
    bca_interval,
    chunk_size,
    draw_replicates,
    percentile_interval,
)
from vislab.evaluation.classification import (
    ClassificationData,
    metrics_from_stats,
    replicate_stats,
    unit_arrays,
    unit_stats,
)

Method = Literal["percentile", "bca"]
JACKKNIFE_LIMIT = 50_000_000  # units x statistics held for the BCa jackknife


def point_values(data: ClassificationData) -> dict[str, float]:
    num_classes = len(data.classes)
    values = metrics_from_stats(replicate_stats(unit_arrays(data), num_classes), num_classes)
    return {name: float(value[0]) for name, value in values.items()}


def bootstrap_values(data: ClassificationData, resamples: int, seed: int) -> dict[str, np.ndarray]:
    """(resamples,) values of each metric, over images (or clusters, if the data has them)."""
    arrays, num_classes = unit_arrays(data), len(data.classes)
    per_chunk = chunk_size(data.n, num_classes * num_classes)
    parts: dict[str, list[np.ndarray]] = {}
    for replicates in draw_replicates(data.n, resamples, seed, data.clusters, per_chunk):
        stats = replicate_stats(arrays, num_classes, replicates)
        for name, values in metrics_from_stats(stats, num_classes).items():
            parts.setdefault(name, []).append(values)
    return {name: np.concatenate(values) for name, values in parts.items()}


def jackknife_values(data: ClassificationData) -> dict[str, np.ndarray]:
    """Each metric with one unit (image, or cluster) left out: BCa's acceleration."""
    arrays, num_classes = unit_arrays(data), len(data.classes)
    units = data.clusters if data.clusters is not None else np.arange(data.n)
    if (int(units.max()) + 1) * num_classes**2 > JACKKNIFE_LIMIT:
        raise InputError(
            "BCa intervals need a jackknife that is too large here (units x classes^2 > "
            f"{JACKKNIFE_LIMIT:,}); use --interval percentile."
        )
    per_unit = unit_stats(arrays, num_classes, units)
    total = {name: values.sum(axis=0, keepdims=True) for name, values in per_unit.items()}
    left_out = {name: total[name] - per_unit[name] for name in per_unit}
    return metrics_from_stats(left_out, num_classes)


def metrics_with_intervals(
    data: ClassificationData,
    resamples: int,
    confidence: float,
    seed: int,
    method: Method = "percentile",
) -> tuple[dict[str, dict], dict[str, np.ndarray]]:
    """{metric: {"value", "ci"}} and the bootstrap values behind the intervals."""
    point = point_values(data)
    if resamples <= 0:
        return {name: {"value": value} for name, value in point.items()}, {}
    draws = bootstrap_values(data, resamples, seed)
    jackknife = jackknife_values(data) if method == "bca" else None
    metrics = {}
    for name, value in point.items():
        if method == "bca":
            ci = bca_interval(draws[name], value, jackknife[name], confidence)
        else:
            ci = percentile_interval(draws[name], confidence)
        metrics[name] = {"value": value, "ci": ci}
    return metrics, draws
