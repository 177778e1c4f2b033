"""Percentile bootstrap intervals, computed in chunks of resamples to bound memory.

A statistic is a function from resample indices (b, n) to a dict of (b,) arrays; the same draws
serve every metric, so intervals of different metrics (and their differences) are coherent.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Statistic = Callable[[np.ndarray | None], dict[str, np.ndarray]]


def bootstrap_distribution(
    n: int, statistic: Statistic, resamples: int, seed: int, chunk_cells: int = 20_000_000
) -> dict[str, np.ndarray]:
    """Each metric of `statistic` on `resamples` resamples of n items (with replacement)."""
    rng = np.random.default_rng(seed)
    per_chunk = max(1, chunk_cells // max(n, 1))
    parts: dict[str, list[np.ndarray]] = {}
    done = 0
    while done < resamples:
        size = min(per_chunk, resamples - done)
        indices = rng.integers(0, n, size=(size, n))
        for name, values in statistic(indices).items():
            parts.setdefault(name, []).append(values)
        done += size
    return {name: np.concatenate(values) for name, values in parts.items()}


def percentile_interval(values: np.ndarray, confidence: float) -> list[float]:
    """The central `confidence` share of the bootstrap values; NaN values are left out."""
    values = values[np.isfinite(values)]
    if values.size == 0:
        return [float("nan"), float("nan")]
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return [float(low), float(high)]
