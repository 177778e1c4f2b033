"""Prevalence of a class in a domain of the collection (all of it, or one group): naive
(classify-and-count), coded-only (the weighted sample) and corrected (the model's count plus the
sample's weighted correction of its errors), each with a normal interval.

With `f` the model's 0/1 label on every image and `y` the code on the coded ones, a domain `g`
of `N_g` images, and strata `h` of `N_h` images with `n_h` of them coded:

    corrected = a + lambda mean_g(f) + sum_h N_h / N_g * mean_h(z),
    z = 1[g] * (y - a - lambda f)
    var = sum_h (N_h / N_g)^2 * (1 - n_h / N_h) * var_h(z) / n_h

The estimand is the collection's own share: the model's count over it is known exactly, so only
the sample's correction varies (with the finite-population correction). `lambda` is power
tuning (PPI++): with `a`, the weights of the two totals known over the collection (the
domain's images, the model's labels among them) that make the variance smallest under the
design (the optimal regression estimator: (a, lambda) = V_xx^-1 V_xy for the estimated totals
of x = 1[g] (1, f) and y' = 1[g] y), lambda clipped to [0, 1]. A model that tells nothing gets
lambda near 0 and the estimate is the coded images' own (the corrected interval is never much
wider than the coded-only one); a model always right gets lambda 1. Where every collection
image's stratum is known (the draw repeated on the predictions), a stratum with enough coded
images of the domain learns its own (a, lambda) from its own images, with the domain's images
and labels in the stratum as its known totals (the separate regression estimator: a model
that is sure in one stratum and guesses in another is trusted in the first only); the other
strata share one pair. Being linear in the codes,
the classes' shares still sum to one in every domain. Where the domain's size is known exactly
from the sample (all images, or a domain the strata follow) `a` is 0, and on a simple random
sample the estimate is prediction-powered inference (ppi-python's `ppi_mean_pointestimate`
with the same lambda); ppi's interval is for the process that made the collection, and adds
var(f) / N without the finite-population factor, which is why its own lambda (`lam=None`)
divides by (1 + n / N).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from vislab.estimation.strata import Strata


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


OWN_LAMBDA = 30  # coded images of the domain a stratum needs to learn its own weights


@dataclass
class Tuning:
    """PPI++ for one domain, per stratum: the weights of the domain's size (`level`) and of
    the model's count in it (`lam`), both known over the collection; `pooled`: the lambda of
    the strata too small to learn their own, and `own`: per stratum that learnt its own, its
    lambda."""

    level: np.ndarray
    lam: np.ndarray
    pooled: float
    own: dict[str, float]


def _solve(v: np.ndarray) -> tuple[float, float]:
    """(level, lambda) that make var(y' - level x_1 - lambda x_2) smallest, from the covariance
    `v` of (y', x_1, x_2); lambda in [0, 1]; a weight whose total the sample reproduces exactly
    changes nothing and is left at its default."""
    tiny = 1e-12 * max(np.abs(np.diag(v)).max(), 1e-300)
    size_known, labels_known = v[1, 1] <= tiny, v[2, 2] <= tiny
    if labels_known:
        lam = 1.0
    elif size_known:
        lam = v[0, 2] / v[2, 2]
    else:
        lam = np.linalg.lstsq(v[1:, 1:], v[1:, 0], rcond=None)[0][1]
    lam = float(np.clip(lam, 0.0, 1.0))
    level = 0.0 if size_known else float((v[1, 0] - lam * v[1, 2]) / v[1, 1])
    return level, lam


def power_tuning(f_coded, y, domain: Domain, strata: Strata) -> Tuning:
    """The weights that make the variance of the corrected share smallest under the design.

    Where whole clusters were drawn, none (level 0, lambda 1: `Strata.tunes`). Otherwise one
    pair for all strata (the combined regression estimator), except that a stratum with
    at least OWN_LAMBDA coded images of the domain learns its own where every collection
    image's stratum is known (the separate regression estimator: each stratum's model errs
    in its own way; its known totals are the domain's images and labels in the stratum)."""
    count = len(strata.population)
    if not strata.tunes:  # whole clusters drawn: the difference estimator (Strata.tunes)
        return Tuning(np.zeros(count), np.ones(count), 1.0, {})
    inside = domain.coded.astype(float)
    columns = np.column_stack([inside * y, inside, inside * f_coded])
    level, lam = _solve(strata.covariance(columns))
    levels, lams, own = np.full(count, level), np.full(count, lam), {}
    if strata.members is None or count < 2:
        return Tuning(levels, lams, lam, own)
    in_domain = np.bincount(strata.index, weights=inside, minlength=count)
    for h in np.flatnonzero((in_domain >= OWN_LAMBDA) & (strata.sampled < strata.population)):
        levels[h], lams[h] = _solve(np.cov(columns[strata.index == h], rowvar=False))
        own[str(strata.names[h])] = float(lams[h])
    return Tuning(levels, lams, lam, own)


def known_part(f, domain: Domain, strata: Strata, tuning: Tuning) -> float:
    """The known totals' part of the corrected share: per stratum, its level times the
    domain's images in it plus its lambda times the model's labels among them, over N_g."""
    if strata.members is None:  # one pair for all strata: the domain's own totals
        return float(tuning.level[0] + tuning.lam[0] * model_share(f, domain)[0])
    where = strata.members[domain.members]
    count = len(strata.population)
    images = np.bincount(where, minlength=count)
    labels = np.bincount(where, weights=f[domain.members], minlength=count)
    return float((tuning.level @ images + tuning.lam @ labels) / domain.size)


def corrected_share(f, y, f_coded, domain: Domain, strata: Strata):
    """Per coded image its share of the correction (z / N_g, whose estimated total's variance
    is the estimate's), the corrected share (the known totals' part plus the correction), and
    the tuning used."""
    tuning = power_tuning(f_coded, y, domain, strata)
    h = strata.index
    residual = y - tuning.level[h] - tuning.lam[h] * f_coded
    z = np.where(domain.coded, residual, 0.0) / domain.size
    value = known_part(f, domain, strata, tuning) + strata.total(z)
    return z, value, tuning


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
    z, value, tuning = corrected_share(f, y, f_coded, domain, strata)
    spread = strata.variance(z, domain.coded, 1 / domain.size)
    corrected = {**entry(value, np.sqrt(spread), confidence), "lambda": tuning.pooled}
    if tuning.own:
        corrected["lambda_by_stratum"] = tuning.own
    result["coded_only"] = coded_only(y, domain, strata, confidence)
    if strata.psu is not None:  # whole clusters drawn: what ignoring them would report
        alone = strata.variance(z, domain.coded, 1 / domain.size, as_images=True)
        result["corrected_if_independent"] = entry(value, np.sqrt(alone), confidence)
    return {"corrected": corrected, **result}


def coded_only(y, domain: Domain, strata: Strata, confidence: float) -> dict:
    """The weighted share among the domain's coded images."""
    value, variance = domain_mean(y, domain, strata)
    found = entry(value, np.sqrt(variance), confidence)
    found.pop("se")
    return found


def domain_mean(y, domain: Domain, strata: Strata, floor: bool = True) -> tuple[float, float]:
    """The weighted mean of `y` among the domain's coded images (a ratio of two estimated
    totals) and its linearised variance (`floor`: at least half an error's, see
    `Strata.variance`)."""
    inside = domain.coded.astype(float)
    size = strata.total(inside)
    value = strata.total(inside * y) / size
    linear = inside * (y - value) / size
    return value, strata.variance(linear, domain.coded, 1 / size if floor else 0.0)


def difference(f, y, f_coded, a: Domain, b: Domain, strata: Strata, confidence: float) -> dict:
    """corrected share in `a` minus that in `b`, with its interval and two-sided p-value."""
    z_a, value_a, _ = corrected_share(f, y, f_coded, a, strata)
    z_b, value_b, _ = corrected_share(f, y, f_coded, b, strata)
    value = value_a - value_b
    unit = max(1 / a.size, 1 / b.size)
    se = np.sqrt(strata.variance(z_a - z_b, a.coded | b.coded, unit))
    found = entry(value, se, confidence, clip=False)
    found["p_value"] = float(2 * norm.sf(abs(value) / se)) if se > 0 else None
    return found
