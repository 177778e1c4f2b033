"""Estimates from an adaptive sample: a first, stratified round and later rounds that favour the
images the model is least sure of (evaluation/adaptive.py).

Each round gives its own estimate of the domain's share. The first is the stratified corrected
estimate (prevalence.py). Round `t` drew `n_t` times with replacement from the images not coded
before it, image `i` with probability `p_i`; with `c_i` an image's contribution to the share
(for the corrected share `1[g] (y_i - f_i) / N_g`, for the coded-only one `1[g] y_i / N_g`):

    estimate_t = known + sum_{coded before t} c_i + (1 / n_t) sum_{draws j} c_j / p_j

(`known`: the model's share over the domain, or 0). The last term is the Hansen-Hurwitz
estimator of the remainder's total, unbiased whatever the probabilities were, and the
coded-before part is known exactly; so, given the earlier rounds, round t is unbiased, and the
rounds' errors are uncorrelated (each is a martingale difference). The combined estimate is
their average weighted by the rounds' sizes (images coded in the first, draws in the others,
fixed by the design, not by the data), with variance sum_t w_t^2 var_t: var_t is the
Hansen-Hurwitz variance s_z^2 / n_t of the draws' `z = c / p`, at least that of half an error
among them (as for a stratum, strata.py), so that a round that saw no error still has width.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from vislab.estimation.design import Later
from vislab.estimation.prevalence import (
    Domain,
    difference,
    domain_mean,
    entry,
    model_share,
    prevalence,
)
from vislab.estimation.strata import Strata


def weights(later: Later, first: int) -> np.ndarray:
    """Each round's weight: its size (images coded in the first, draws after) over all."""
    sizes = np.array([first, *(later.sizes[t] for t in sorted(later.sizes))], dtype=float)
    return sizes / sizes.sum()


def combine(first: tuple[float, float], c_first, c_later, known: float, later: Later, unit):
    """The rounds' estimates [(value, variance)] of one share from the first round's `first`
    and the contributions `c` of the first round's and the later rounds' coded images."""
    found = [first]
    before = float(np.sum(c_first))
    for t in sorted(later.sizes):
        this = later.round == t
        draws, size = later.draws[this], later.sizes[t]
        z = c_later[this] / later.probability[this]
        mean = float(draws @ z) / size
        spread = float(draws @ (z - mean) ** 2) / (size - 1) / size
        found.append((known + before + mean, max(spread, _floor(later, t, unit))))
        before += float(np.sum(c_later[this]))
    return found


def _floor(later: Later, t: int, unit: float) -> float:
    """The variance of half an error (a change of `unit` in the share) among round t's
    draws, at their probabilities."""
    this = later.round == t
    draws, size = later.draws[this], later.sizes[t]
    scale = (unit / later.probability[this]) ** 2
    half = 0.5 / (size + 1)
    return half * (1 - half) * float(draws @ scale) / size / size


def combined_entry(rounds: list, w: np.ndarray, confidence: float, clip: bool = True) -> dict:
    values = np.array([v for v, _ in rounds])
    variances = np.array([s for _, s in rounds])
    found = entry(float(w @ values), float(np.sqrt(w**2 @ variances)), confidence, clip)
    found["rounds"] = [
        {"round": t + 1, "value": float(v), "se": float(np.sqrt(s)), "weight": float(wt)}
        for t, (v, s, wt) in enumerate(zip(values, variances, w, strict=True))
    ]
    return found


def coded_in(domain: Domain, later: Later) -> int:
    """The domain's coded images, over every round."""
    return int(domain.coded.sum() + domain.members[later.rows].sum())


def prevalence_in_rounds(f, y, f_coded, y_later, domain, strata: Strata, later, confidence):
    """naive, coded_only and corrected shares of one class in one domain, over the rounds
    (`y_later`: the class's 0/1 codes of the later rounds' images)."""
    first = prevalence(f, y, f_coded, domain, strata, confidence)
    if first["corrected"]["value"] is None:  # the first round coded none of the domain
        return first
    n, w = domain.size, weights(later, len(y))
    inside = domain.members[later.rows].astype(float)
    f_later = f[later.rows]
    c_first = domain.coded * (y - f_coded) / n
    corrected = combine(
        (first["corrected"]["value"], first["corrected"]["se"] ** 2),
        c_first,
        inside * (y_later - f_later) / n,
        model_share(f, domain)[0],
        later,
        1 / n,
    )
    only = combine(
        domain_mean(y, domain, strata),
        domain.coded * y / n,
        inside * y_later / n,
        0.0,
        later,
        1 / n,
    )
    result = {**first, "corrected": combined_entry(corrected, w, confidence)}
    result["corrected"]["lambda_first_round"] = first["corrected"]["lambda"]
    result["coded_only"] = combined_entry(only, w, confidence)
    result["coded_only"].pop("se")
    return result


def difference_in_rounds(f, y, f_coded, y_later, a, b, strata: Strata, later, confidence):
    """The corrected share in `a` minus that in `b`, over the rounds, with its p-value."""
    first = difference(f, y, f_coded, a, b, strata, confidence)
    w = weights(later, len(y))

    def part(d: Domain):
        inside = d.members[later.rows].astype(float)
        return (
            d.coded * (y - f_coded) / d.size,
            inside * (y_later - f[later.rows]) / d.size,
            model_share(f, d)[0],
        )

    (ca, la, ka), (cb, lb, kb) = part(a), part(b)
    unit = max(1 / a.size, 1 / b.size)
    rounds = combine((first["value"], first["se"] ** 2), ca - cb, la - lb, ka - kb, later, unit)
    found = combined_entry(rounds, w, confidence, clip=False)
    se = found["se"]
    found["p_value"] = float(2 * norm.sf(abs(found["value"]) / se)) if se > 0 else None
    return found
