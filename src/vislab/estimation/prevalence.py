"""Prevalence of a class in a domain of the collection (all of it, or one group): naive
(classify-and-count), coded-only (the weighted sample) and corrected (the model's count plus the
sample's weighted correction of its errors), each with a normal interval.

With `f` the model's 0/1 label on every image and `y` the code on the coded ones, a domain `g`
of `N_g` images, and strata `h` of `N_h` images with `n_h` of them coded:

    corrected = mean_g(f) + sum_h N_h / N_g * mean_h(z),   z = 1[g] * (y - f)
    var       = sum_h (N_h / N_g)^2 * (1 - n_h / N_h) * var_h(z) / n_h

The estimand is the collection's own share: the model's count over it is known exactly, so only
the sample's correction varies (with the finite-population correction). On a simple random
sample the estimate is prediction-powered inference with lambda = 1 (ppi-python's
`ppi_mean_pointestimate`); ppi's interval is for the process that made the collection, and adds
var(f) / N without the finite-population factor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from vislab.estimation.design import Design


@dataclass
class Strata:
    """The coded images grouped by stratum for variance sums (strata with one coded image are
    pooled, as one cannot give a variance)."""

    index: np.ndarray  # per coded image, its (pooled) stratum number
    population: np.ndarray  # N_h per stratum number
    sampled: np.ndarray  # n_h

    @classmethod
    def of(cls, design: Design) -> Strata:
        names, index = np.unique(design.strata, return_inverse=True)
        population = np.array([design.population[n] for n in names], dtype=float)
        sampled = np.bincount(index, minlength=len(names))
        lonely = np.flatnonzero(sampled < 2)
        if len(lonely) and len(names) > 1:  # pooled; one alone joins the smallest other stratum
            target = lonely[0]
            if len(lonely) < 2:
                target = min(np.flatnonzero(sampled >= 2), key=lambda s: sampled[s])
            for s in lonely[lonely != target]:
                index[index == s] = target
                population[target] += population[s]
                population[s] = 0
            sampled = np.bincount(index, minlength=len(names))
        return cls(index, population, sampled)

    def total(self, values: np.ndarray) -> float:
        """The estimated collection total of `values` (one per coded image)."""
        used = self.sampled > 0
        sums = np.bincount(self.index, weights=values, minlength=len(self.sampled))
        return float((self.population[used] / self.sampled[used] * sums[used]).sum())

    def weights(self) -> np.ndarray:
        """Per coded image its weight N_h / n_h (the inverse of its inclusion probability)."""
        return self.population[self.index] / self.sampled[self.index]

    def covariance(self, values: np.ndarray, unit: np.ndarray | None = None) -> np.ndarray:
        """The covariance of the estimated totals of `values` (a column each, a row per coded
        image): sum_h N_h^2 (1 - n_h / N_h) cov_h / n_h.

        With `unit` (per coded image, the change in its row that one error in its code would
        make), a stratum whose spread is below that of half an error among its n_h images
        takes the latter, as `variance` does for one column."""
        result = np.zeros((values.shape[1], values.shape[1]))
        for h in np.flatnonzero(self.sampled > 1):
            inside = self.index == h
            chosen, size = values[inside], self.population[h]
            spread = np.cov(chosen, rowvar=False, ddof=1).reshape(result.shape)
            if unit is not None:
                half_error = 0.5 / (len(chosen) + 1)
                floor = half_error * (1 - half_error) * unit[inside].T @ unit[inside] / len(chosen)
                spread = floor if np.trace(spread) < np.trace(floor) else spread
            result += size**2 * (1 - len(chosen) / size) * spread / len(chosen)
        return result

    def variance(self, values: np.ndarray, members: np.ndarray, unit: float) -> float:
        """The variance of `total(values)`: sum_h N_h^2 (1 - n_h / N_h) var_h / n_h.

        A stratum whose coded images of the domain (`members`) all agree (no error seen) gets
        at least the variance of half an error of size `unit` among its n_h images, so that no
        interval is narrower than the sample can support (a zero-width interval would claim
        the model never errs there)."""
        result = 0.0
        for h in np.flatnonzero(self.sampled > 1):
            inside = self.index == h
            chosen, size = values[inside], self.population[h]
            spread = chosen.var(ddof=1)
            if members[inside].any():
                half_error = 0.5 / (len(chosen) + 1)
                spread = max(spread, unit**2 * half_error * (1 - half_error))
            result += size**2 * (1 - len(chosen) / size) * spread / len(chosen)
        return result


def entry(value: float, se: float, confidence: float, clip: bool = True) -> dict:
    half = norm.ppf(0.5 + confidence / 2) * se
    low, high = value - half, value + half
    if clip:  # a share: the interval stays in [0, 1]; the value is left unbiased
        low, high = max(low, 0.0), min(high, 1.0)
    return {"value": float(value), "ci": [float(low), float(high)], "se": float(se)}


@dataclass
class Domain:
    """One domain (all images, or a group): its members in the collection and among the coded
    images."""

    members: np.ndarray  # bool over the collection
    coded: np.ndarray  # bool over the coded images

    @property
    def size(self) -> int:
        return int(self.members.sum())


def model_share(f: np.ndarray, domain: Domain) -> tuple[float, float]:
    """The model's share over the domain, and its binomial variance (for the naive interval,
    which takes the model's labels for the truth)."""
    chosen = f[domain.members]
    variance = chosen.var(ddof=1) / len(chosen) if len(chosen) > 1 else 0.0
    return float(chosen.mean()), float(variance)


def correction(f_coded, y, domain: Domain, strata: Strata) -> tuple[np.ndarray, float]:
    """Per coded image its share of the correction (z / N_g), and the correction."""
    z = np.where(domain.coded, y - f_coded, 0.0) / domain.size
    return z, strata.total(z)


def prevalence(f, y, f_coded, domain: Domain, strata: Strata, confidence: float) -> dict:
    """naive, coded_only and corrected shares of one class in one domain."""
    share, share_var = model_share(f, domain)
    result = {"naive": entry(share, np.sqrt(share_var), confidence)}
    result["naive"].pop("se")
    if not domain.coded.any():
        reason = "no coded image in this group: only the model's count, which is right only if "
        reason += "the model errs here as often as it is right"
        return {
            "corrected": {"value": None, "ci": None, "se": None, "undefined": reason},
            "naive": result["naive"],
            "coded_only": {"value": None, "ci": None, "undefined": reason},
        }
    z, fix = correction(f_coded, y, domain, strata)
    spread = strata.variance(z, domain.coded, 1 / domain.size)
    corrected = entry(share + fix, np.sqrt(spread), confidence)
    result["coded_only"] = coded_only(y, domain, strata, confidence)
    return {"corrected": corrected, **result}


def coded_only(y, domain: Domain, strata: Strata, confidence: float) -> dict:
    """The weighted share among the domain's coded images (a ratio estimate)."""
    inside = domain.coded.astype(float)
    size = strata.total(inside)
    value = strata.total(inside * y) / size
    linear = inside * (y - value) / size
    found = entry(value, np.sqrt(strata.variance(linear, domain.coded, 1 / size)), confidence)
    found.pop("se")
    return found


def difference(f, y, f_coded, a: Domain, b: Domain, strata: Strata, confidence: float) -> dict:
    """corrected share in `a` minus that in `b`, with its interval and two-sided p-value."""
    z_a, fix_a = correction(f_coded, y, a, strata)
    z_b, fix_b = correction(f_coded, y, b, strata)
    value = model_share(f, a)[0] + fix_a - model_share(f, b)[0] - fix_b
    unit = max(1 / a.size, 1 / b.size)
    se = np.sqrt(strata.variance(z_a - z_b, a.coded | b.coded, unit))
    found = entry(value, se, confidence, clip=False)
    found["p_value"] = float(2 * norm.sf(abs(value) / se)) if se > 0 else None
    return found
