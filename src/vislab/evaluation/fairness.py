"""Fairness of a classifier between groups, per class against the rest (fairlearn's definitions).

Demographic parity (selection rate = share predicted as the class), equalized odds (larger of
the true- and false-positive-rate gaps) and equal opportunity (true-positive-rate gap), from
each group's confusion matrix; intervals from the confusion matrices of the group breakdown's
lockstep replicates (`groups.py`), so they come from the same draws as the disparities, and
simultaneous over the pairs of groups (`simultaneous.py`), with the test that the groups'
rates are equal.
Tested against fairlearn.
"""

from __future__ import annotations

import warnings

import numpy as np

from vislab.evaluation.disparities import Breakdown, extremes, safe_ratio
from vislab.evaluation.intervals import finite
from vislab.evaluation.simultaneous import Pairs, log_draws, ratio_interval

FAIRNESS = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equal_opportunity_difference",
)


def group_rates(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """Per group, replicate and class: selection rate (share predicted as the class), true-
    and false-positive rate, from confusion matrices (G, b, K, K) -> (G, b, K) each."""
    total = confusion.sum(axis=(2, 3))[..., None]  # (G, b, 1)
    true_count = confusion.sum(axis=3)  # (G, b, K): images of the class
    predicted = confusion.sum(axis=2)  # (G, b, K): images predicted as the class
    hits = np.diagonal(confusion, axis1=2, axis2=3)
    return {
        "selection": safe_ratio(predicted, total),
        "tpr": safe_ratio(hits, true_count),
        "fpr": safe_ratio(predicted - hits, total - true_count),
    }


def fairness_from_confusion(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """Fairness measures per class from group confusion matrices (G, b, K, K) -> (b, K) each."""
    rates = group_rates(confusion)

    def gap(rate):
        return np.nanmax(rate, axis=0) - np.nanmin(rate, axis=0)

    with warnings.catch_warnings():  # a class absent from every group: NaN, reported as null
        warnings.simplefilter("ignore", RuntimeWarning)
        selection = rates["selection"]
        return {
            "demographic_parity_difference": gap(selection),
            "demographic_parity_ratio": safe_ratio(
                np.nanmin(selection, axis=0), np.nanmax(selection, axis=0)
            ),
            "equalized_odds_difference": np.maximum(gap(rates["tpr"]), gap(rates["fpr"])),
            "equal_opportunity_difference": gap(rates["tpr"]),
        }


def fairness_entries(breakdown: Breakdown, classes: list[str], confidence: float) -> dict:
    """{class: {measure: {"value", "ci", "homogeneity"}}} for one group column (two groups or
    more). Each interval is that of the signed gap between the two groups the point estimate
    names (highest minus lowest rate; lowest over highest for the ratio), simultaneous over
    every pair of groups (`simultaneous.py`), so it holds zero (one) as often as it should when
    the groups do not differ."""
    if len(breakdown.members) < 2:
        return {}
    size, names = len(classes), list(breakdown.members)

    def stacked(source: dict) -> np.ndarray:  # (G, b, K, K)
        matrices = np.stack([source[name]["confusion"] for name in names])
        return matrices.reshape(*matrices.shape[:2], size, size)

    point = fairness_from_confusion(stacked(breakdown.points).astype(float))
    rates = group_rates(stacked(breakdown.points).astype(float))
    drawn = group_rates(stacked(breakdown.draws)) if breakdown.draws else None
    result = {}
    for k, name in enumerate(classes):
        measures = _intervals(names, rates, drawn, k, confidence)
        result[name] = {
            measure: {"value": finite(point[measure][0, k]), **measures.get(measure, {})}
            for measure in FAIRNESS
        }
    return result


def _intervals(names, rates, drawn, k: int, confidence: float) -> dict:
    """Per measure of class k: its interval and the test that the groups' rates are equal."""
    if drawn is None:
        return {}

    def pairs(rate: str, log: bool = False) -> Pairs:
        return _pairs(names, rates[rate], drawn[rate], k, confidence, log)

    odds = [pairs("tpr"), pairs("fpr")]  # one family: the larger gap of the two is reported
    Pairs.joint(odds, confidence)
    larger = max(odds, key=lambda p: _gap(p)[0] if len(p.points) > 1 else -np.inf)
    found = {
        "demographic_parity_difference": _entry(pairs("selection")),
        "demographic_parity_ratio": _entry(pairs("selection", log=True), ratio=True),
        "equalized_odds_difference": _entry(larger),
        "equal_opportunity_difference": _entry(pairs("tpr")),
    }
    return {measure: entry for measure, entry in found.items() if entry}


def _pairs(names, rates, drawn, k: int, confidence: float, log: bool = False) -> Pairs:
    """Pairs of groups' rates of class k (groups where the rate is defined)."""
    points = {g: rates[i, 0, k] for i, g in enumerate(names) if np.isfinite(rates[i, 0, k])}
    draws = {g: drawn[names.index(g), :, k] for g in points}
    if log:  # ratios as differences of logs; none where a group's rate is 0
        if any(v <= 0 for v in points.values()):
            return Pairs({}, None, confidence)
        draws = log_draws(draws)
        points = {g: np.log(v) for g, v in points.items()}
    return Pairs(points, draws, confidence)


def _gap(pairs: Pairs) -> tuple[float, str, str]:
    """The largest gap (highest minus lowest) and those groups."""
    highest, lowest = extremes(pairs.points)
    return pairs.points[highest] - pairs.points[lowest], highest, lowest


def _entry(pairs: Pairs, ratio: bool = False) -> dict:
    if len(pairs.points) < 2 or pairs.family is None:
        return {}
    _, highest, lowest = _gap(pairs)
    interval = ratio_interval(pairs, lowest, highest) if ratio else pairs.interval(highest, lowest)
    found = {"homogeneity": pairs.test(), "highest": highest, "lowest": lowest}
    return {"ci": interval, **found} if interval is not None else found
