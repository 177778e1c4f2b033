"""The strata of a coded sample: the weight of each coded image and the variance of a weighted
total, as a survey statistician computes them.

Each stratum `h` of `N_h` images with `n_h` coded keeps its own weight `N_h / n_h` in every
point estimate. The variance of the estimated total of `v` (one value per coded image) is the
stratified one, written over the weighted values `x = w v`:

    var = sum_G (1 - n_G / N_G) n_G / (n_G - 1) sum_{i in G} (x_i - mean_G x)^2

with `G` a stratum, which for one of `n_h` coded images with equal weights is the textbook
`N_h^2 (1 - n_h / N_h) var_h(v) / n_h`. A stratum of one coded image cannot give a variance
alone: such strata are collapsed into one variance group (or, a single one, into the stratum
with the fewest coded images), the collapsed-strata estimator, which keeps each stratum's
weight and overstates the variance by the spread between the collapsed strata's means, never
understates it. A stratum coded whole (`n_h = N_h`) has no sampling variance and is not
collapsed. This is R's survey package with the collapsed stratum labels as `strata`, the
weights as `weights` and the groups' sizes as `fpc` (tested against it).

Where whole clusters were drawn (posts, accounts: `Design.clusters`), a stratum's N_h and n_h
count clusters, every image of a drawn cluster has the weight N_h / n_h, and the sums above run
over the clusters' weighted totals `X_c = sum_{i in c} x_i` instead of the images: the variance
of a one-stage cluster sample, R's `svydesign(ids = ~cluster, strata =, fpc =, weights =)`
(tested against it). Images drawn one by one are clusters of one, and the two coincide.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from vislab.estimation.design import Design


@dataclass
class Strata:
    """Per coded image its stratum number (`index`); per stratum its name (`names`), size N_h
    (`population`), coded images n_h (`sampled`) and variance group (`group`); the names of
    the strata that share a variance group (`collapsed`); per collection image its stratum
    number where known (`members`, else None)."""

    index: np.ndarray
    names: np.ndarray
    population: np.ndarray
    sampled: np.ndarray
    group: np.ndarray
    collapsed: list[list[str]] = field(default_factory=list)
    members: np.ndarray | None = None
    psu: np.ndarray | None = None  # per coded image its cluster's number (None: its own)
    tuned: bool = True  # the design lets the model's weight be tuned (Design.tune)

    @classmethod
    def of(cls, design: Design) -> Strata:
        names, index = np.unique(design.strata, return_inverse=True)
        population = np.array([design.population[n] for n in names], dtype=float)
        psu = _cluster_numbers(design, index)
        firsts = np.unique(psu, return_index=True)[1] if psu is not None else slice(None)
        sampled = np.bincount(index[firsts], minlength=len(names))  # images, or clusters
        group = np.arange(len(names))
        members = None if design.members is None else np.searchsorted(names, design.members)
        lonely = np.flatnonzero((sampled == 1) & (population > 1))
        if len(lonely):
            if len(lonely) > 1:
                target = lonely[0]
            else:  # one alone joins the stratum with the fewest coded images
                others = np.flatnonzero((sampled >= 2) & (sampled < population))
                others = others if len(others) else np.flatnonzero(sampled >= 2)
                target = min(others, key=lambda s: sampled[s]) if len(others) else lonely[0]
            group[lonely] = target
            joined = np.flatnonzero(group == target)
            collapsed = [[str(names[s]) for s in joined]] if len(joined) > 1 else []
            return cls(
                index, names, population, sampled, group, collapsed, members, psu, design.tune
            )
        return cls(
            index, names, population, sampled, group, members=members, psu=psu, tuned=design.tune
        )

    @property
    def tunes(self) -> bool:
        """Can the model's weights (PPI++'s lambda) be tuned on this sample? Not where whole
        clusters were drawn (nor units that are such clusters, `Design.tune`): a few dozen
        clusters choose the weights that flatter their own variance, and the interval falls
        short (91-92 % in simulation for 95 %); the estimates then keep the plain difference
        estimator (lambda 1), which covers."""
        return self.psu is None and self.tuned

    def weights(self) -> np.ndarray:
        """Per coded image its weight N_h / n_h (the inverse of its inclusion probability)."""
        return self.population[self.index] / self.sampled[self.index]

    def total(self, values: np.ndarray) -> float:
        """The estimated collection total of `values` (one per coded image)."""
        return float(self.weights() @ values)

    def _groups(self, as_images: bool = False):
        """Per variance group: its coded images (a mask), n_G (clusters; with `as_images`,
        its images) and the factor (1 - n_G / N_G, of clusters)."""
        owner = self.group[self.index]
        for g in np.unique(owner):
            inside = owner == g
            size = self.population[self.group == g].sum()
            count = len(np.unique(self.psu[inside])) if self.psu is not None else inside.sum()
            if count > 1 and count < size:
                yield inside, int(inside.sum() if as_images else count), 1 - count / size

    def _sums(self, x: np.ndarray, inside: np.ndarray, as_images: bool = False) -> np.ndarray:
        """The rows of `x` inside a group summed per cluster (the rows themselves, images
        drawn one by one or `as_images`)."""
        if self.psu is None or as_images:
            return x[inside]
        numbers, where = np.unique(self.psu[inside], return_inverse=True)
        sums = np.zeros((len(numbers), *x.shape[1:]))
        np.add.at(sums, where, x[inside])
        return sums

    def covariance(self, values: np.ndarray, unit: np.ndarray | None = None) -> np.ndarray:
        """The covariance of the estimated totals of `values` (a column each, a row per coded
        image).

        With `unit` (per coded image, the change in its row that one error in its code would
        make), a group whose spread is below that of half an error among its n_G images takes
        the latter, as `variance` does for one column."""
        x = values * self.weights()[:, None]
        result = np.zeros((values.shape[1], values.shape[1]))
        for inside, count, factor in self._groups():
            spread = np.cov(self._sums(x, inside), rowvar=False, ddof=1).reshape(result.shape)
            if unit is not None:
                half_error = 0.5 / (count + 1)
                scaled = self._sums(unit * self.weights()[:, None], inside)
                floor = half_error * (1 - half_error) * scaled.T @ scaled / count
                spread = floor if np.trace(spread) < np.trace(floor) else spread
            result += factor * count * spread
        return result

    def variance(
        self, values: np.ndarray, members: np.ndarray, unit: float, as_images: bool = False
    ) -> float:
        """The variance of `total(values)`.

        A group whose coded images of the domain (`members`) all agree (no error seen) gets at
        least the variance of half an error of size `unit` among its n_G images, so that no
        interval is narrower than the sample can support (a zero-width interval would claim
        the model never errs there). With `as_images`, where whole clusters were drawn: the
        variance were the coded images drawn one by one at the same weights (what an analysis
        that ignores the clusters reports, shown beside the design's for comparison)."""
        weights = self.weights()
        x = values * weights
        result = 0.0
        for inside, count, factor in self._groups(as_images):
            spread = self._sums(x, inside, as_images).var(ddof=1)
            if members[inside].any():
                half_error = 0.5 / (count + 1)
                floor = unit**2 * np.mean(weights[inside] ** 2) * half_error * (1 - half_error)
                spread = max(spread, floor)
            result += factor * count * spread
        return result


def _cluster_numbers(design: Design, index: np.ndarray) -> np.ndarray | None:
    """Per coded image the number of its (stratum, cluster); None where images were drawn
    one by one."""
    if design.clusters is None:
        return None
    keys = pd.DataFrame({"stratum": index, "cluster": np.asarray(design.clusters, dtype=str)})
    return keys.groupby(["stratum", "cluster"], sort=False).ngroup().to_numpy()
