"""Disparities between the groups of one column, for any task's metrics.json.

Per metric: the highest group minus the lowest (`difference`) and lowest / highest (`ratio`),
which groups those are and which is `best` (the highest; the lowest for metrics where lower is
better, like `ece`); every pair of groups (`pairs`) and the test that no two groups differ
(`homogeneity`); per group (`by_group`), the difference and ratio to the best group and to the
overall value. Every interval is simultaneous over its family (`simultaneous.py`): the two
groups the data singled out as highest and lowest keep an interval that holds zero as often as
it should when the groups do not differ. Groups where a metric is undefined are left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vislab.evaluation.intervals import finite
from vislab.evaluation.simultaneous import Pairs, log_draws, ratio_interval, simultaneous


@dataclass
class Breakdown:
    """One group column's results: per group its point values and (with resamples) draws."""

    members: dict[str, np.ndarray]
    points: dict[str, dict[str, np.ndarray]]
    draws: dict[str, dict[str, np.ndarray]] | None  # per group, then "overall"


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


def disparities_of(evaluator, breakdown: Breakdown, confidence: float) -> dict:
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
        entry["by_group"] = {g: _comparisons(g, best, values, pairs, families) for g in values}
        result[metric] = entry
    return result


@dataclass
class Families:
    """The families besides every pair, each simultaneous on its own: ratios between groups
    (differences of logs), and each group against the overall value (per group its interval
    of the difference, and of the ratio)."""

    overall: float | None
    ratios: Pairs | None = None
    to_overall: dict = field(default_factory=dict)
    over_overall: dict = field(default_factory=dict)

    @classmethod
    def of(cls, values, draws, overall, all_draws, metric, confidence) -> Families:
        if not draws:
            return cls(overall)
        positive = {g: v for g, v in values.items() if v > 0}
        logs = log_draws({g: draws[g] for g in positive})
        logged = {g: np.log(v) for g, v in positive.items()}
        found = cls(overall, Pairs(logged, logs, confidence))
        if overall is None:
            return found
        everyone = all_draws["overall"][metric]
        found.to_overall = _against(values, draws, overall, everyone, confidence)
        if overall > 0 and positive:
            with np.errstate(divide="ignore", invalid="ignore"):
                log_everyone = np.log(np.where(everyone > 0, everyone, np.nan))
            over = _against(logged, logs, np.log(overall), log_everyone, confidence)
            found.over_overall = {g: [float(np.exp(x)) for x in i] for g, i in over.items()}
        return found


def _against(values: dict, draws: dict, overall: float, everyone, confidence) -> dict:
    """Per group the simultaneous interval of its value minus the overall value (finite ones)."""
    groups = list(values)
    points = np.array([values[g] - overall for g in groups])
    family = simultaneous(points, np.stack([draws[g] - everyone for g in groups]), confidence)
    return {
        g: [float(low), float(high)]
        for g, (low, high) in zip(groups, family.intervals, strict=True)
        if np.isfinite(low) and np.isfinite(high)
    }


def _comparisons(name, best, values, pairs: Pairs, families: Families) -> dict:
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
        entry["difference_to_overall_ci"] = families.to_overall.get(name)
        entry["ratio_to_overall_ci"] = families.over_overall.get(name)
    return entry
