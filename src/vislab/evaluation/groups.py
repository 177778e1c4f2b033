"""Metrics per group (a metadata column, or an intersection `A*B`) and disparities, any task.

The bootstrap is stratified by group: replicate b resamples every group within itself (units,
or clusters), all groups in lockstep, each group with its own seed (`seed + index`). From the
same replicate come each group's metrics, the overall metrics (all groups' draws together) and
the disparities between groups, so every difference has an interval from the same draws.

Disparities per metric (one shape for every task's metrics.json): the highest group minus the
lowest (`difference`) and lowest / highest (`ratio`), which groups those are and which is `best`
(the highest; the lowest for metrics where lower is better, like `ece`); every pair of groups
(`pairs`) and the test that no two groups differ (`homogeneity`); per group (`by_group`), the
difference and ratio to the best group and to the overall value. Every interval is
simultaneous over its family (`simultaneous.py`): the two groups the data singled out as
highest and lowest keep an interval that holds zero as often as it should when the groups do
not differ. Groups where a metric is undefined are left out of that metric's disparities.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from vislab.errors import InputError
from vislab.evaluation.bootstrap import chunk_size, draw_replicates, union
from vislab.evaluation.intervals import Evaluator, finite, metric_entry
from vislab.evaluation.simultaneous import Pairs, log_draws, ratio_interval, simultaneous
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


@dataclass
class Breakdown:
    """One group column's results: per group its point values and (with resamples) draws."""

    members: dict[str, np.ndarray]
    points: dict[str, dict[str, np.ndarray]]
    draws: dict[str, dict[str, np.ndarray]] | None  # per group, then "overall"


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
        disparities[spec] = _disparities(evaluator, breakdown, confidence)
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


def safe_ratio(numerator, denominator):
    """numerator / denominator, NaN where the denominator is 0."""
    numerator, denominator = np.asarray(numerator, float), np.asarray(denominator, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            denominator != 0, numerator / np.where(denominator != 0, denominator, 1), np.nan
        )


def extremes(values: dict) -> tuple:
    """The groups with the highest and the lowest value (two different groups, also when all
    values are equal)."""
    highest = max(values, key=values.get)
    lowest = min((g for g in reversed(list(values))), key=values.get)
    if lowest == highest:
        lowest = next(g for g in values if g != highest)
    return highest, lowest


def _disparities(evaluator, breakdown: Breakdown, confidence: float) -> dict:
    if len(breakdown.members) < 2:
        return {}
    overall = evaluator.point()
    result = {}
    for metric in evaluator.names:
        values = {g: v for g, p in breakdown.points.items() if (v := finite(p[metric])) is not None}
        if len(values) < 2:
            continue
        highest, lowest = extremes(values)
        best = lowest if metric in evaluator.lower_is_better else highest
        draws = {g: breakdown.draws[g][metric] for g in values} if breakdown.draws else None
        pairs = Pairs(values, draws, confidence)
        entry = {
            "difference": values[highest] - values[lowest],
            "ratio": finite(safe_ratio(values[lowest], values[highest])),
            "highest": highest,
            "lowest": lowest,
            "best": best,
        }
        if draws:
            entry["ci"] = pairs.interval(highest, lowest)
            entry["homogeneity"] = pairs.test()
            entry["pairs"] = pairs.table()
        families = Families.of(
            values, draws, finite(overall[metric]), breakdown.draws, metric, confidence
        )
        entry["by_group"] = {
            g: _comparisons(g, best, values, pairs, families, confidence) for g in values
        }
        result[metric] = entry
    return result


@dataclass
class Families:
    """The families besides every pair: ratios between groups (differences of logs), and each
    group against the overall value (differences and ratios)."""

    overall: float | None
    ratios: Pairs | None = None
    to_overall: dict | None = None
    over_overall: dict | None = None

    @classmethod
    def of(cls, values, draws, overall, all_draws, metric, confidence) -> Families:
        if not draws:
            return cls(overall)
        positive = {g: v for g, v in values.items() if v > 0}
        logs = log_draws({g: draws[g] for g in positive})
        logged = {g: np.log(v) for g, v in positive.items()}
        found = cls(overall, Pairs(logged, logs, confidence))
        if overall is not None:
            everyone = all_draws["overall"][metric]
            found.to_overall = _against(values, draws, overall, everyone)
            if overall > 0 and positive:
                found.over_overall = _against(
                    logged,
                    logs,
                    np.log(overall),
                    np.log(np.where(everyone > 0, everyone, np.nan)),
                )
        return found


def _against(values: dict, draws: dict, overall: float, everyone: np.ndarray) -> tuple:
    """(groups, point differences to the overall value, their draws)."""
    groups = list(values)
    points = np.array([values[g] - overall for g in groups])
    return groups, points, np.stack([draws[g] - everyone for g in groups])


def _family_interval(found: tuple | None, name, confidence: float, exp: bool = False):
    if found is None or name not in found[0]:
        return None
    groups, points, draws = found
    interval = simultaneous(points, draws, confidence).intervals[groups.index(name)]
    if not np.isfinite(interval).all():
        return None
    return [float(np.exp(x)) if exp else float(x) for x in interval]


def _comparisons(name, best, values, pairs: Pairs, families: Families, confidence) -> dict:
    value, overall = values[name], families.overall
    entry = {
        "difference_to_best": value - values[best],
        "ratio_to_best": finite(safe_ratio(value, values[best])),
        "difference_to_overall": None if overall is None else value - overall,
        "ratio_to_overall": None if overall is None else finite(safe_ratio(value, overall)),
    }
    if pairs.family is not None:
        ratios = families.ratios
        known = ratios is not None and {name, best} <= set(ratios.points)
        entry["difference_to_best_ci"] = pairs.interval(name, best)
        entry["ratio_to_best_ci"] = ratio_interval(ratios, name, best) if known else None
        entry["difference_to_overall_ci"] = _family_interval(families.to_overall, name, confidence)
        entry["ratio_to_overall_ci"] = _family_interval(
            families.over_overall, name, confidence, exp=True
        )
    return entry
