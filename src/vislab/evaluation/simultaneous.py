"""Simultaneous bootstrap intervals for a family of differences between groups, and the test
that every one of them is zero.

A group picked for having the highest accuracy, compared with the one picked for the lowest,
differs by chance even when the groups do not: an interval for that one difference, or for the
range max - min, must allow for the picking. With K differences (every pair of groups; each
group against the best or the overall), point values `d_k` and bootstrap draws `d*_kb`:

    se_k = sd_b(d*_kb),   M_b = max_k |d*_kb - d_k| / se_k,   c = quantile_confidence(M_b)
    interval_k = d_k -+ c se_k

holds every difference at once with probability about `confidence` (the max-|t| method of
simultaneous inference, with the bootstrap in place of the multivariate normal), so the
difference between the two groups the data singled out keeps an honest interval. The family's
test that all differences are zero: T = max_k |d_k| / se_k, p = (1 + #{M_b >= T}) / (1 + B); it
rejects at 1 - confidence exactly when some interval leaves out zero.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from itertools import combinations

import numpy as np

METHOD = "bootstrap max-|t| over every pair of groups (simultaneous)"


@dataclass
class Family:
    """Per difference its value and simultaneous interval (NaN where undefined); the test."""

    values: np.ndarray  # (K,)
    intervals: np.ndarray  # (K, 2)
    statistic: float | None
    p_value: float | None


def simultaneous(values: np.ndarray, draws: np.ndarray, confidence: float) -> Family:
    """`values` (K,) and their bootstrap `draws` (K, B), NaN where a replicate has none."""
    values, draws = np.asarray(values, float), np.asarray(draws, float)
    with warnings.catch_warnings():  # all-NaN rows and single draws: NaN, handled below
        warnings.simplefilter("ignore", RuntimeWarning)
        se = np.nanstd(draws, axis=1, ddof=1)
        usable = np.isfinite(values) & np.isfinite(se) & (se > 0)
        deviation = np.abs(draws[usable] - values[usable, None]) / se[usable, None]
        largest = np.nanmax(deviation, axis=0) if usable.any() else np.array([])
    largest = largest[np.isfinite(largest)]
    intervals = np.full((len(values), 2), np.nan)
    fixed = np.isfinite(values) & (se == 0)  # no spread in any replicate: the value itself
    intervals[fixed] = values[fixed, None]
    if not len(largest):
        return Family(values, intervals, None, None)
    width = _critical(largest, confidence) * se[usable]
    intervals[usable] = np.column_stack([values[usable] - width, values[usable] + width])
    statistic = float(np.max(np.abs(values[usable]) / se[usable]))
    p_value = float((1 + np.sum(largest >= statistic)) / (1 + len(largest)))
    return Family(values, intervals, statistic, p_value)


def _critical(largest: np.ndarray, confidence: float) -> float:
    """The `confidence` quantile of B draws as the order statistic ceil(confidence (B + 1)):
    with B draws, the k-th smallest is exceeded by a new draw with probability 1 - k / (B + 1)."""
    ordered = np.sort(largest)
    rank = min(int(np.ceil(confidence * (len(ordered) + 1))), len(ordered))
    return float(ordered[rank - 1])


class Pairs:
    """Every pair of groups' difference (a - b) with simultaneous intervals, from per-group
    point values and draws (`None` without draws)."""

    def __init__(self, points: dict, draws: dict | None, confidence: float) -> None:
        self.points = points
        self.pairs = list(combinations(points, 2))
        self.values = np.array([points[a] - points[b] for a, b in self.pairs], dtype=float)
        self.family, self.draws = None, None
        if draws is not None and self.pairs:
            self.draws = np.stack([draws[a] - draws[b] for a, b in self.pairs])
            self.family = simultaneous(self.values, self.draws, confidence)

    @staticmethod
    def joint(parts: list[Pairs], confidence: float) -> None:
        """Make several families one (e.g. the pairs of true- and of false-positive rates for
        equalized odds): each part's intervals and test become the joint family's."""
        parts = [p for p in parts if p.family is not None]
        if len(parts) < 2:
            return
        values = np.concatenate([p.values for p in parts])
        joint = simultaneous(values, np.concatenate([p.draws for p in parts]), confidence)
        start = 0
        for part in parts:
            end = start + len(part.values)
            part.family = Family(
                part.values, joint.intervals[start:end], joint.statistic, joint.p_value
            )
            start = end

    def interval(self, a, b) -> list[float] | None:
        """The simultaneous interval of a - b ([0, 0] for a group against itself)."""
        if a == b:
            return [0.0, 0.0]
        if self.family is None:
            return None
        if (a, b) in self.pairs:
            low, high = self.family.intervals[self.pairs.index((a, b))]
        else:  # b - a turned round
            high, low = -self.family.intervals[self.pairs.index((b, a))]
        if not (np.isfinite(low) and np.isfinite(high)):
            return None
        return [float(low), float(high)]

    def test(self) -> dict | None:
        """The homogeneity test: no difference between any two groups."""
        if self.family is None or self.family.p_value is None:
            return None
        return {
            "statistic": self.family.statistic,
            "p_value": self.family.p_value,
            "method": METHOD,
        }

    def table(self) -> dict:
        """{"a|b": {"a", "b", "difference", "ci"}} for every pair."""
        return {
            f"{a}|{b}": {
                "a": a,
                "b": b,
                "difference": float(self.points[a] - self.points[b]),
                "ci": self.interval(a, b),
            }
            for a, b in self.pairs
        }


def log_draws(draws: dict | None) -> dict | None:
    """Per group the log of its draws (ratios as differences of logs), NaN where a draw is not
    positive (left out of that replicate)."""
    if draws is None:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        return {g: np.log(np.where(d > 0, d, np.nan)) for g, d in draws.items()}


def ratio_interval(pairs_of_logs: Pairs, a, b) -> list[float] | None:
    found = pairs_of_logs.interval(a, b)
    return None if found is None else [float(np.exp(found[0])), float(np.exp(found[1]))]
