"""Bootstrap replicates and intervals (percentile and BCa), for images or clusters of images.

Every metric vislab reports is a function of *additive statistics* (confusion counts, sums of
per-image values), so a bootstrap replicate only needs each image's multiplicity in it:

- images resampled independently: the replicate is an index array (b, n) drawn with replacement;
- `cluster` given (a person, a photographer, an event): whole clusters are resampled, and the
  replicate is a weight per image (b, n) — its cluster's multiplicity.

Replicates are drawn in chunks so that 1,000 replicates of 100,000 images stay within memory.
The same seed gives the same replicates for every metric, so intervals of different metrics,
and of their differences, come from the same draws.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

CHUNK_CELLS = 10_000_000  # images x replicates held at once


@dataclass
class Replicates:
    """One chunk of bootstrap replicates: index draws (iid) or per-image multiplicities."""

    indices: np.ndarray | None = None  # (b, n) int: images drawn with replacement
    weights: np.ndarray | None = None  # (b, n) float: multiplicity of each image

    @property
    def count(self) -> int:
        return len(self.indices if self.indices is not None else self.weights)


def chunk_size(n: int, stats_size: int = 1) -> int:
    """Replicates per chunk: at most CHUNK_CELLS images, and CHUNK_CELLS statistics, at once."""
    return max(1, CHUNK_CELLS // max(n, stats_size, 1))


def draw_replicates(
    n: int,
    resamples: int,
    seed: int,
    clusters: np.ndarray | None = None,
    per_chunk: int | None = None,
) -> Iterator[Replicates]:
    """`resamples` replicates of n images, in chunks; `clusters` (n,) int codes resample clusters."""
    rng = np.random.default_rng(seed)
    per_chunk = per_chunk or chunk_size(n)
    done = 0
    while done < resamples:
        size = min(per_chunk, resamples - done)
        if clusters is None:
            yield Replicates(indices=rng.integers(0, n, size=(size, n)))
        else:
            count = int(clusters.max()) + 1
            drawn = rng.integers(0, count, size=(size, count))
            offsets = (np.arange(size) * count)[:, None]
            multiplicity = np.bincount((drawn + offsets).ravel(), minlength=size * count)
            yield Replicates(weights=multiplicity.reshape(size, count)[:, clusters].astype(float))
        done += size


def percentile_interval(values: np.ndarray, confidence: float) -> list[float]:
    """The central `confidence` share of the bootstrap values; non-finite values are left out."""
    values = values[np.isfinite(values)]
    if values.size == 0:
        return [float("nan"), float("nan")]
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return [float(low), float(high)]


def bca_interval(
    values: np.ndarray, point: float, jackknife: np.ndarray, confidence: float
) -> list[float]:
    """Bias-corrected and accelerated interval (Efron 1987) from bootstrap and jackknife values."""
    values = values[np.isfinite(values)]
    jackknife = jackknife[np.isfinite(jackknife)]
    if values.size == 0 or jackknife.size < 2:
        return [float("nan"), float("nan")]
    below = (np.sum(values < point) + 0.5 * np.sum(values == point)) / values.size
    bias = norm.ppf(np.clip(below, 1e-12, 1 - 1e-12))
    spread = jackknife.mean() - jackknife
    denominator = 6.0 * np.sum(spread**2) ** 1.5
    acceleration = np.sum(spread**3) / denominator if denominator > 0 else 0.0
    tail = (1 - confidence) / 2
    quantiles = []
    for z in (norm.ppf(tail), norm.ppf(1 - tail)):
        adjusted = bias + (bias + z) / (1 - acceleration * (bias + z))
        quantiles.append(float(norm.cdf(adjusted)) * 100)
    low, high = np.percentile(values, quantiles)
    return [float(low), float(high)]
