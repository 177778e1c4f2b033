"""Bootstrap replicates and intervals (percentile and BCa), for images or clusters of images.

Every metric vislab reports is computed from the units it is evaluated on (images, videos,
items) with a weight per unit, so a bootstrap replicate is fully described by each unit's
multiplicity in it:

- units resampled independently: the replicate is an index array (b, n) drawn with replacement;
- `clusters` given (a person, a photographer, an event): whole clusters are resampled, and the
  replicate is a multiplicity per unit (b, n) — its cluster's multiplicity;
- `strata` given (a stratified validation sample): the rescaling bootstrap of Rao and Wu
  (1988) within each stratum, n_h - 1 draws and weights 1 - l + l n_h / (n_h - 1) r with
  l = sqrt(1 - f_h), r a unit's draws and f_h its stratum's sampling fraction: its variance is
  the stratified design's, finite-population factor included (a stratum of one unit keeps
  weight 1); where whole clusters were drawn in the strata, the clusters are the units drawn.

Replicates are drawn in chunks so that 1,000 replicates of 100,000 images stay within memory:
a chunk holds at most `CHUNK_CELLS` numbers, where an evaluator says how many numbers one
replicate needs (`chunk_size`). The same seed gives the same replicates for every metric, so
intervals of different metrics, and of their differences, come from the same draws.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

CHUNK_CELLS = 16_000_000  # numbers held at once by one chunk of replicates


@dataclass
class Strata:
    """Per unit its stratum (int codes) and its stratum's sampling fraction n_h / N_h; `psu`:
    per unit its cluster (int codes), where whole clusters were drawn (the fraction then
    counts clusters, and the clusters are resampled)."""

    codes: np.ndarray
    fractions: np.ndarray
    psu: np.ndarray | None = None

    def subset(self, mask: np.ndarray) -> Strata:
        psu = None if self.psu is None else self.psu[mask]
        return Strata(self.codes[mask], self.fractions[mask], psu)


@dataclass
class Replicates:
    """One chunk of bootstrap replicates: index draws (iid) or per-unit multiplicities."""

    indices: np.ndarray | None = None  # (b, n) int: units drawn with replacement
    weights: np.ndarray | None = None  # (b, n) float: multiplicity of each unit

    @property
    def count(self) -> int:
        return len(self.indices if self.indices is not None else self.weights)

    def weights_over(self, n: int) -> np.ndarray:
        """(b, n) multiplicities, whatever form the replicates were drawn in."""
        if self.weights is not None:
            return self.weights
        offsets = (np.arange(self.count) * n)[:, None]
        counts = np.bincount((self.indices + offsets).ravel(), minlength=self.count * n)
        return counts.reshape(self.count, n).astype(np.float64)

    def lift(self, members: np.ndarray, n: int) -> Replicates:
        """These replicates of a subset (`members` of n units) as replicates of all n units."""
        if self.indices is not None:
            return Replicates(indices=members[self.indices])
        weights = np.zeros((self.count, n))
        weights[:, members] = self.weights
        return Replicates(weights=weights)


def union(parts: Sequence[Replicates]) -> Replicates:
    """Replicates of disjoint subsets, lifted to all units, as one stratified replicate each."""
    if all(part.indices is not None for part in parts):
        return Replicates(indices=np.concatenate([part.indices for part in parts], axis=1))
    return Replicates(weights=sum(part.weights for part in parts))


def chunk_size(cells_per_replicate: int) -> int:
    """Replicates per chunk so that a chunk holds at most CHUNK_CELLS numbers."""
    return max(1, CHUNK_CELLS // max(int(cells_per_replicate), 1))


def draw_replicates(
    n: int,
    resamples: int,
    seed: int,
    clusters: np.ndarray | None = None,
    per_chunk: int | None = None,
    strata: Strata | None = None,
) -> Iterator[Replicates]:
    """`resamples` replicates of n units, in chunks; `clusters` (n,) int codes resample clusters;
    `strata` resample within strata (rescaled)."""
    rng = np.random.default_rng(seed)
    per_chunk = per_chunk or chunk_size(n)
    done = 0
    while done < resamples:
        size = min(per_chunk, resamples - done)
        if strata is not None:
            yield Replicates(weights=rescaled(rng, strata, size))
        elif clusters is None:
            yield Replicates(indices=rng.integers(0, n, size=(size, n)))
        else:
            count = int(clusters.max()) + 1 if len(clusters) else 0
            drawn = Replicates(indices=rng.integers(0, count, size=(size, count)))
            yield Replicates(weights=drawn.weights_over(count)[:, clusters])
        done += size


def rescaled(rng: np.random.Generator, strata: Strata, size: int) -> np.ndarray:
    """(size, n) Rao-Wu rescaling-bootstrap weights (see the module's docstring)."""
    weights = np.ones((size, len(strata.codes)))
    for code in np.unique(strata.codes):
        members = np.flatnonzero(strata.codes == code)
        units = np.arange(len(members)) if strata.psu is None else strata.psu[members]
        where = np.unique(units, return_inverse=True)[1]  # each member's cluster in the stratum
        count = int(where.max()) + 1
        if count < 2:
            continue
        scale = np.sqrt(max(1.0 - float(strata.fractions[members[0]]), 0.0))
        drawn = rng.integers(0, count, size=(size, count - 1))
        offsets = (np.arange(size) * count)[:, None]
        times = np.bincount((drawn + offsets).ravel(), minlength=size * count)
        times = times.reshape(size, count)
        weights[:, members] = (1 - scale + scale * count / (count - 1) * times)[:, where]
    return weights


def percentile_interval(values: np.ndarray, confidence: float) -> list[float] | None:
    """The central `confidence` share of the bootstrap values; non-finite values are left out.

    None when no replicate gave a finite value (the statistic is undefined in every one)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return [float(low), float(high)]


def bca_interval(
    values: np.ndarray, point: float, jackknife: np.ndarray, confidence: float
) -> list[float] | None:
    """Bias-corrected and accelerated interval (Efron 1987) from bootstrap and jackknife values."""
    values = values[np.isfinite(values)]
    jackknife = jackknife[np.isfinite(jackknife)]
    if values.size == 0 or jackknife.size < 2:
        return None
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
