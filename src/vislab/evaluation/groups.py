"""Metrics per group (a metadata column, or an intersection `A*B`), disparities and fairness.

The bootstrap is stratified by group: replicate b resamples every group within itself (images,
or clusters), all groups in lockstep. From the same replicate come each group's metrics, the
overall metrics (the groups' statistics summed), the disparities between groups and the
fairness measures, so every difference has an interval from the same draws.

Disparities per metric: the highest group minus the lowest (`difference`) and lowest / highest
(`ratio`); per group, the difference and ratio to the best group (highest; lowest for `ece`)
and to the overall value.

Fairness per class, one-vs-rest (fairlearn's definitions, between groups): demographic parity
(selection rate = share predicted as the class), equalized odds (larger of the true- and
false-positive-rate gaps) and equal opportunity (true-positive-rate gap).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from vislab.errors import InputError
from vislab.evaluation.bootstrap import chunk_size, draw_replicates, percentile_interval
from vislab.evaluation.classification import (
    ClassificationData,
    metrics_from_stats,
    replicate_stats,
    unit_arrays,
)
from vislab.evaluation.intervals import metrics_with_intervals, point_values

SMALL_GROUP = 30
LOWER_IS_BETTER = {"ece"}
FAIRNESS = ("demographic_parity_difference", "demographic_parity_ratio",
            "equalized_odds_difference", "equal_opportunity_difference")  # fmt: skip


def group_values(frame: pd.DataFrame, spec: str, source: str) -> pd.Series:
    """The group of each row for `spec`: a column name, or `A*B` for the intersection."""
    columns = spec.split("*")
    for column in columns:
        if column not in frame.columns:
            raise InputError(
                f"{source}: --group-by '{spec}': no column '{column}'. "
                f"Columns: {', '.join(map(str, frame.columns))}."
            )
        empty = np.flatnonzero(frame[column].isna().to_numpy())
        if empty.size:
            raise InputError(
                f"{source}: group column '{column}' is empty on row(s) "
                f"{', '.join(map(str, empty[:10]))} (0-based); fill them (e.g. 'unknown')."
            )
    values = frame[columns].astype(str)
    return values.agg("|".join, axis=1) if len(columns) > 1 else values[columns[0]]


def group_breakdown(
    data: ClassificationData,
    group_by: Sequence[str],
    resamples: int,
    confidence: float,
    seed: int,
    source: str,
    method: str = "percentile",
) -> tuple[dict, dict, dict]:
    """(groups, disparities, fairness), each keyed by the group spec."""
    groups, disparities, fairness = {}, {}, {}
    for spec in group_by:
        values = group_values(data.frame, spec, source).to_numpy()
        subsets = {name: data.subset(values == name) for name in sorted(set(values))}
        groups[spec] = {}
        for name, subset in subsets.items():
            metrics, _ = metrics_with_intervals(subset, resamples, confidence, seed, method)
            groups[spec][name] = {
                "n": subset.n,
                "small": subset.n < SMALL_GROUP,
                "metrics": metrics,
            }
        if len(subsets) < 2:
            disparities[spec], fairness[spec] = {}, {}
            continue
        draws = _lockstep(data, subsets, resamples, seed) if resamples > 0 else None
        disparities[spec] = _disparities(data, subsets, draws, confidence)
        fairness[spec] = _fairness(data, subsets, draws, confidence)
    return groups, disparities, fairness


def _lockstep(data, subsets: dict, resamples: int, seed: int) -> dict:
    """Per replicate: each group's metrics and confusion matrix, and the overall metrics."""
    num_classes = len(data.classes)
    arrays = {name: unit_arrays(subset) for name, subset in subsets.items()}
    per_chunk = chunk_size(data.n, num_classes * num_classes)
    streams = [
        draw_replicates(subset.n, resamples, seed + index, subset.clusters, per_chunk)
        for index, subset in enumerate(subsets.values())
    ]
    metrics = {name: [] for name in subsets}
    confusion = {name: [] for name in subsets}
    overall = []
    for chunk in zip(*streams, strict=True):
        stats = {
            name: replicate_stats(arrays[name], num_classes, replicates)
            for name, replicates in zip(subsets, chunk, strict=True)
        }
        for name in subsets:
            metrics[name].append(metrics_from_stats(stats[name], num_classes))
            confusion[name].append(stats[name]["confusion"])
        summed = {key: sum(s[key] for s in stats.values()) for key in next(iter(stats.values()))}
        overall.append(metrics_from_stats(summed, num_classes))
    return {
        "groups": {name: _concat(parts) for name, parts in metrics.items()},
        "confusion": {name: np.concatenate(parts) for name, parts in confusion.items()},
        "overall": _concat(overall),
    }


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def _ratio(numerator, denominator):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            denominator != 0, numerator / np.where(denominator != 0, denominator, 1), np.nan
        )


def _disparities(data, subsets: dict, draws: dict | None, confidence: float) -> dict:
    points = {name: point_values(subset) for name, subset in subsets.items()}
    overall_point = point_values(data)
    result = {}
    for metric in overall_point:
        values = {name: points[name][metric] for name in subsets}
        highest, lowest = max(values, key=values.get), min(values, key=values.get)
        best = lowest if metric in LOWER_IS_BETTER else highest
        entry = {
            "difference": values[highest] - values[lowest],
            "ratio": float(_ratio(values[lowest], values[highest])),
            "highest": highest,
            "lowest": lowest,
            "best": best,
            "by_group": {},
        }
        if draws:
            stacked = np.stack([draws["groups"][name][metric] for name in subsets])  # (G, B)
            entry["ci"] = percentile_interval(stacked.max(axis=0) - stacked.min(axis=0), confidence)
        for name in subsets:
            entry["by_group"][name] = _comparisons(
                metric, name, best, values, overall_point[metric], draws, confidence
            )
        result[metric] = entry
    return result


def _comparisons(metric, name, best, values, overall, draws, confidence) -> dict:
    value = values[name]
    entry = {
        "difference_to_best": value - values[best],
        "ratio_to_best": float(_ratio(value, values[best])),
        "difference_to_overall": value - overall,
        "ratio_to_overall": float(_ratio(value, overall)),
    }
    if draws:
        mine, theirs = draws["groups"][name][metric], draws["groups"][best][metric]
        everyone = draws["overall"][metric]
        entry["difference_to_best_ci"] = percentile_interval(mine - theirs, confidence)
        entry["ratio_to_best_ci"] = percentile_interval(_ratio(mine, theirs), confidence)
        entry["difference_to_overall_ci"] = percentile_interval(mine - everyone, confidence)
        entry["ratio_to_overall_ci"] = percentile_interval(_ratio(mine, everyone), confidence)
    return entry


def fairness_from_confusion(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """Fairness measures per class from group confusion matrices (G, b, K, K) -> (b, K) each."""
    total = confusion.sum(axis=(2, 3))[..., None]  # (G, b, 1)
    true_count = confusion.sum(axis=3)  # (G, b, K): images of the class
    predicted = confusion.sum(axis=2)  # (G, b, K): images predicted as the class
    hits = np.diagonal(confusion, axis1=2, axis2=3)
    selection = _ratio(predicted, total)
    tpr = _ratio(hits, true_count)
    fpr = _ratio(predicted - hits, total - true_count)

    def gap(rate):
        return np.nanmax(rate, axis=0) - np.nanmin(rate, axis=0)

    with warnings.catch_warnings():  # a class absent from every group: NaN, reported as null
        warnings.simplefilter("ignore", RuntimeWarning)
        return {
            "demographic_parity_difference": gap(selection),
            "demographic_parity_ratio": _ratio(
                np.nanmin(selection, axis=0), np.nanmax(selection, axis=0)
            ),
            "equalized_odds_difference": np.maximum(gap(tpr), gap(fpr)),
            "equal_opportunity_difference": gap(tpr),
        }


def _fairness(data, subsets: dict, draws: dict | None, confidence: float) -> dict:
    num_classes = len(data.classes)
    points = []
    for subset in subsets.values():
        cells = subset.labels * num_classes + subset.predictions
        weights = subset.weights
        counts = np.bincount(cells, weights, num_classes * num_classes)
        points.append(counts.reshape(1, num_classes, num_classes))
    point = fairness_from_confusion(np.stack(points).astype(float))
    replicated = None
    if draws:
        stacked = np.stack([draws["confusion"][n] for n in subsets])  # (G, B, K*K)
        replicated = fairness_from_confusion(
            stacked.reshape(*stacked.shape[:2], num_classes, num_classes)
        )
    result = {}
    for k, name in enumerate(data.classes):
        entry = {}
        for measure in FAIRNESS:
            value = {"value": _float(point[measure][0, k])}
            if replicated is not None:
                value["ci"] = percentile_interval(replicated[measure][:, k], confidence)
            entry[measure] = value
        result[name] = entry
    return result


def _float(value) -> float | None:
    return float(value) if np.isfinite(value) else None
