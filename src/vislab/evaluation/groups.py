"""Metrics per group (a metadata column, or an intersection `A*B`) and disparities, any task.

The bootstrap is stratified by group: replicate b resamples every group within itself (units,
or clusters), all groups in lockstep, each group with its own seed (`seed + index`). From the
same replicate come each group's metrics, the overall metrics (all groups' draws together) and
the disparities between groups, so every difference has an interval from the same draws.

The disparities between the groups come from those draws too (`disparities.py`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from vislab.errors import InputError
from vislab.evaluation.bootstrap import chunk_size, draw_replicates, union
from vislab.evaluation.disparities import Breakdown, disparities_of
from vislab.evaluation.intervals import Evaluator, metric_entry
from vislab.files import rows_text

SMALL_GROUP = 30


def group_values(
    frame: pd.DataFrame, spec: str, source: str, option: str = "--group-by"
) -> pd.Series:
    """The group of each row for `spec`: a column name, or `A*B` for the intersection
    (`option`: the flag that named it, for the error)."""
    columns = spec.split("*")
    for column in columns:
        if column not in frame.columns:
            raise InputError(
                f"{source}: {option} '{spec}': no column '{column}'. "
                f"Columns: {', '.join(map(str, frame.columns))}."
            )
        empty = np.flatnonzero(frame[column].isna().to_numpy())
        if empty.size:
            raise InputError(
                f"{source}: group column '{column}' is empty on {rows_text(empty)}; fill them "
                "(e.g. 'unknown')."
            )
    values = frame[columns].astype(str)
    return values.agg("|".join, axis=1) if len(columns) > 1 else values[columns[0]]


def group_breakdown(
    evaluator: Evaluator,
    frame: pd.DataFrame,
    group_by: Sequence[str],
    resamples: int,
    confidence: float,
    seed: int,
    source: str,
    method: str = "percentile",
) -> tuple[dict, dict, dict[str, Breakdown]]:
    """(groups, disparities, the breakdowns behind them), each keyed by the group spec."""
    groups, disparities, breakdowns = {}, {}, {}
    for spec in group_by:
        values = group_values(frame, spec, source).to_numpy()
        members = {name: np.flatnonzero(values == name) for name in sorted(set(values))}
        subsets = {name: evaluator.subset(rows) for name, rows in members.items()}
        points = {name: subset.point() for name, subset in subsets.items()}
        draws = _lockstep(evaluator, members, subsets, resamples, seed) if resamples > 0 else None
        breakdown = Breakdown(members, points, draws)
        groups[spec] = {
            name: _group_entry(evaluator, breakdown, name, subsets[name], confidence, method)
            for name in members
        }
        disparities[spec] = disparities_of(evaluator, breakdown, confidence)
        breakdowns[spec] = breakdown
    return groups, disparities, breakdowns


def _group_entry(evaluator, breakdown: Breakdown, name: str, subset, confidence, method) -> dict:
    jackknife = subset.jackknife() if method == "bca" and breakdown.draws else None
    metrics = {}
    for metric in evaluator.names:
        draws = breakdown.draws[name].get(metric) if breakdown.draws else None
        left_out = jackknife[metric] if jackknife is not None else None
        metrics[metric] = metric_entry(breakdown.points[name][metric], draws, confidence, left_out)
    count = len(breakdown.members[name])
    return {"n": count, "small": count < SMALL_GROUP, "metrics": metrics}


def _lockstep(evaluator, members: dict, subsets: dict, resamples: int, seed: int) -> dict:
    """Per group its metrics on each replicate, and the overall metrics on their union."""
    per_chunk = chunk_size(evaluator.cells)
    streams = [
        draw_replicates(
            len(rows),
            resamples,
            seed + index,
            subsets[name].clusters,
            per_chunk,
            getattr(subsets[name], "strata", None),
        )
        for index, (name, rows) in enumerate(members.items())
    ]
    parts: dict[str, dict[str, list]] = {name: {} for name in [*members, "overall"]}
    for chunk in zip(*streams, strict=True):
        for (name, subset), replicates in zip(subsets.items(), chunk, strict=True):
            _append(parts[name], subset.replicate(replicates))
        lifted = [
            r.lift(members[name], evaluator.n) for name, r in zip(members, chunk, strict=True)
        ]
        _append(parts["overall"], evaluator.replicate(union(lifted)))
    return {
        name: {key: np.concatenate(values) for key, values in found.items()}
        for name, found in parts.items()
    }


def _append(parts: dict[str, list], values: dict[str, np.ndarray]) -> None:
    for key, value in values.items():
        parts.setdefault(key, []).append(value)
