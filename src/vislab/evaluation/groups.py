"""Metrics per group (a metadata column, or an intersection `A*B`) and disparities between groups.

Each group is resampled within itself (a stratified bootstrap): replicate b of every group uses
draw b, so the disparity of replicate b — the largest group value minus the smallest — has a
distribution, and its percentile interval is the disparity's interval.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from vislab.errors import InputError
from vislab.evaluation.bootstrap import percentile_interval
from vislab.evaluation.classification import ClassificationData, metrics_with_intervals

SMALL_GROUP = 30


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
) -> tuple[dict, dict]:
    groups: dict[str, dict] = {}
    disparities: dict[str, dict] = {}
    for spec in group_by:
        values = group_values(data.frame, spec, source).to_numpy()
        per_group, draws = {}, {}
        for name in sorted(set(values)):
            subset = data.subset(values == name)
            metrics, draws[name] = metrics_with_intervals(subset, resamples, confidence, seed)
            per_group[name] = {"n": subset.n, "metrics": metrics, "small": subset.n < SMALL_GROUP}
        groups[spec] = per_group
        disparities[spec] = _disparities(per_group, draws, confidence)
    return groups, disparities


def _disparities(per_group: dict, draws: dict, confidence: float) -> dict:
    """Per metric: largest minus smallest group value, smallest / largest, and the interval."""
    if len(per_group) < 2:
        return {}
    names = next(iter(per_group.values()))["metrics"].keys()
    result = {}
    for metric in names:
        points = {g: entry["metrics"][metric]["value"] for g, entry in per_group.items()}
        best, worst = max(points, key=points.get), min(points, key=points.get)
        entry = {
            "difference": points[best] - points[worst],
            "ratio": points[worst] / points[best] if points[best] else None,
            "highest": best,
            "lowest": worst,
        }
        if all(metric in d for d in draws.values()):
            stacked = np.stack([draws[g][metric] for g in per_group])  # (groups, B)
            entry["ci"] = percentile_interval(stacked.max(axis=0) - stacked.min(axis=0), confidence)
        result[metric] = entry
    return result
