"""Point values and bootstrap intervals of any task's metrics, through one `Evaluator` interface.

An evaluator holds what a task's metrics are computed from (confusion cells, COCO matches,
caption statistics, per-video sums) for `n` resampling units, and computes every metric for a
chunk of bootstrap replicates at once. The interval machinery (here), the group breakdown
(`groups.py`) and model comparison use nothing else, so every task gets the same intervals,
groups and disparities.

A metric that is undefined (no ground truth of that kind, a group without data) has the value
NaN in the arrays and `None` in metrics.json, and its interval is left out.
"""

from __future__ import annotations

import copy
from typing import Literal, Protocol

import numpy as np

from vislab.evaluation.bootstrap import (
    Replicates,
    bca_interval,
    chunk_size,
    draw_replicates,
    percentile_interval,
)

Method = Literal["percentile", "bca"]


class Evaluator(Protocol):
    """What every task's evaluation provides to the interval and group machinery."""

    names: list[str]  # the reported metrics, in order
    n: int  # resampling units (images, videos, items)
    clusters: np.ndarray | None  # unit -> cluster code, when whole clusters are resampled
    cells: int  # numbers one replicate holds in memory (for chunking)
    lower_is_better: frozenset[str]

    def point(self) -> dict[str, np.ndarray]:
        """Every metric (1,) on the data as observed (extra keys allowed)."""

    def replicate(self, replicates: Replicates) -> dict[str, np.ndarray]:
        """Every metric (b,) for a chunk of replicates of this evaluator's units."""

    def subset(self, members: np.ndarray) -> Evaluator:
        """The same evaluation restricted to units `members` (a group)."""

    def jackknife(self) -> dict[str, np.ndarray] | None:
        """Each metric with one unit (or cluster) left out, for BCa; None if not available."""


class WeightedEvaluator:
    """An `Evaluator` whose metrics are a function of one weight per unit, `metrics(weights)`
    with weights (b, count): a unit's multiplicity in a replicate, 0 outside a group. The
    detection, captioning and retrieval evaluators are these."""

    names: list[str] = []
    lower_is_better = frozenset()
    clusters = None

    def __init__(self, count: int, members: np.ndarray | None = None) -> None:
        self.count = count
        self.members = np.arange(count) if members is None else members

    @property
    def n(self) -> int:
        return len(self.members)

    @property
    def cells(self) -> int:
        return self.count

    def metrics(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def point(self) -> dict[str, np.ndarray]:
        weights = np.zeros((1, self.count))
        weights[0, self.members] = 1.0
        return self.metrics(weights)

    def replicate(self, replicates: Replicates) -> dict[str, np.ndarray]:
        lifted = replicates.lift(self.members, self.count)
        return self.metrics(lifted.weights_over(self.count))

    def subset(self, members: np.ndarray) -> WeightedEvaluator:
        clone = copy.copy(self)
        clone.members = self.members[members]
        return clone

    def jackknife(self) -> None:
        return None


def finite(value) -> float | None:
    """A float, or None for NaN, infinity or None."""
    if value is None:
        return None
    value = float(np.asarray(value).reshape(-1)[0])
    return value if np.isfinite(value) else None


def bootstrap_draws(evaluator: Evaluator, resamples: int, seed: int) -> dict[str, np.ndarray]:
    """(resamples,) values of every metric over replicates of the evaluator's units."""
    from vislab.progress import Progress

    parts: dict[str, list[np.ndarray]] = {}
    per_chunk = chunk_size(evaluator.cells)
    strata = getattr(evaluator, "strata", None)
    draws = draw_replicates(evaluator.n, resamples, seed, evaluator.clusters, per_chunk, strata)
    with Progress(resamples, "bootstrap", "resamples") as progress:
        for replicates in draws:
            for name, values in evaluator.replicate(replicates).items():
                parts.setdefault(name, []).append(values)
            progress.advance(replicates.count)
    return {name: np.concatenate(values) for name, values in parts.items()}


def metric_entry(
    value,
    draws: np.ndarray | None,
    confidence: float,
    jackknife: np.ndarray | None = None,
) -> dict:
    """{"value", "ci"} of one metric: percentile interval, or BCa when a jackknife is given."""
    entry = {"value": finite(value)}
    if entry["value"] is None or draws is None or not len(draws):
        return entry
    if jackknife is not None:
        interval = bca_interval(np.asarray(draws, float), entry["value"], jackknife, confidence)
    else:
        interval = percentile_interval(draws, confidence)
    if interval is not None:
        entry["ci"] = interval
    return entry


def metric_entries(
    evaluator: Evaluator,
    resamples: int,
    confidence: float,
    seed: int,
    method: Method = "percentile",
) -> tuple[dict[str, dict], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """({metric: {"value", "ci"}}, the bootstrap draws, the point values)."""
    point = evaluator.point()
    draws = bootstrap_draws(evaluator, resamples, seed) if resamples > 0 else {}
    jackknife = evaluator.jackknife() if method == "bca" and resamples > 0 else None
    entries = {}
    for name in evaluator.names:
        left_out = jackknife[name] if jackknife is not None else None
        entries[name] = metric_entry(point[name], draws.get(name), confidence, left_out)
    return entries, draws, point


def bootstrap_record(
    resamples: int,
    confidence: float,
    seed: int,
    method: str = "percentile",
    unit: str = "images",
    **extra,
) -> dict:
    """metrics.json's `bootstrap` entry: how the intervals were made (what was resampled)."""
    return {
        "resamples": resamples,
        "confidence": confidence,
        "seed": seed,
        "method": method,
        "unit": unit,
        **extra,
    }
