"""Image-level evaluation shared by detection and captioning: resampling weights, groups.

Metrics whose statistics add up over images are re-computed for a bootstrap replicate from each
image's multiplicity in it (`weights_stream`); a group's metrics are the same computation
restricted to its images, and its disparities compare groups replicate by replicate.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from vislab.errors import InputError
from vislab.evaluation.bootstrap import percentile_interval
from vislab.evaluation.groups import SMALL_GROUP, group_values


def read_json(path: str | Path, what: str):
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such {what} file.")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: not valid JSON ({error}).") from error


def weights_stream(images: np.ndarray, count: int, resamples: int, per_chunk: int, seed: int):
    """Image multiplicities (b, count) of `resamples` replicates drawn among `images` only."""
    rng = np.random.default_rng(seed)
    done = 0
    while done < resamples:
        size = min(per_chunk, resamples - done)
        drawn = images[rng.integers(0, len(images), size=(size, len(images)))]
        offsets = (np.arange(size) * count)[:, None]
        weights = np.bincount((drawn + offsets).ravel(), minlength=size * count).reshape(
            size, count
        )
        yield weights.astype(float)
        done += size


def metric_entry(value: float, draws: np.ndarray | None, confidence: float) -> dict:
    entry = {"value": float(value) if value > -1 else None}
    if entry["value"] is not None and draws is not None and len(draws):
        entry["ci"] = percentile_interval(np.where(draws > -1, draws, np.nan), confidence)
    return entry


def groups_by_metadata(
    frame: pd.DataFrame,
    group_by: Sequence[str],
    metrics_for,
    confidence: float,
    names: Sequence[str],
):
    """Per value of each metadata column: n, metrics with intervals, and the disparities."""
    groups, gaps = {}, {}
    for spec in group_by:
        values = group_values(frame, spec, "image metadata").to_numpy()
        groups[spec], draws = {}, {}
        for index, name in enumerate(sorted(set(values))):
            members = np.flatnonzero(values == name)
            point, draws[name] = metrics_for(members, 1000 + index)
            groups[spec][name] = {
                "n": len(members),
                "small": len(members) < SMALL_GROUP,
                "metrics": {
                    m: metric_entry(point[m][0], draws[name].get(m), confidence) for m in names
                },
            }
        gaps[spec] = disparities(groups[spec], draws, confidence, names)
    return groups, gaps


def disparities(groups: dict, draws: dict, confidence: float, names: Sequence[str]) -> dict:
    """Largest difference (and ratio) between groups per metric, with a bootstrap interval."""
    if len(groups) < 2:
        return {}
    result = {}
    for metric in names:
        values = {
            g: e["metrics"][metric]["value"]
            for g, e in groups.items()
            if e["metrics"][metric]["value"] is not None
        }
        if len(values) < 2:
            continue
        highest, lowest = max(values, key=values.get), min(values, key=values.get)
        entry = {"difference": values[highest] - values[lowest],
                 "ratio": values[lowest] / values[highest] if values[highest] else None,
                 "highest": highest, "lowest": lowest}  # fmt: skip
        if all(draws[g] for g in values):
            stacked = np.stack(
                [np.where(draws[g][metric] > -1, draws[g][metric], np.nan) for g in values]
            )
            with warnings.catch_warnings():  # a replicate where a group has no boxes: NaN, left out
                warnings.simplefilter("ignore", RuntimeWarning)
                spread = np.nanmax(stacked, axis=0) - np.nanmin(stacked, axis=0)
            entry["ci"] = percentile_interval(spread, confidence)
        result[metric] = entry
    return result
