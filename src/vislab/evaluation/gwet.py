"""Gwet's AC1: agreement corrected for chance in a way that stays stable when one code is far
more common than the others (where kappa and alpha drop although coders agree).

With r_ik the coders who gave item i code k, r_i their sum, q the number of codes:

    p_a = mean over items with r_i >= 2 of  sum_k r_ik (r_ik - 1) / (r_i (r_i - 1))
    pi_k = mean over items with r_i >= 1 of r_ik / r_i,   p_e = sum_k pi_k (1 - pi_k) / (q - 1)
    AC1 = (p_a - p_e) / (1 - p_e)

Its standard error is Gwet's linearization (Handbook of Inter-Rater Reliability, 4th ed.,
ch. 5; the one irrCAC computes), with a t interval on n - 1 degrees of freedom.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import t


def code_counts(codes: np.ndarray, size: int) -> np.ndarray:
    """(items, size): how many coders gave each item each code (-1 = not coded)."""
    counts = np.zeros((codes.shape[0], size))
    for column in codes.T:
        coded = column >= 0
        counts[np.flatnonzero(coded), column[coded]] += 1
    return counts


def ac1_stats(codes: np.ndarray, size: int) -> np.ndarray:
    """(items, size + 3): per item its agreement, whether it has two codings, its code shares
    and whether it has one: sums of these rows give AC1 (so bootstrap replicates are sums)."""
    counts = code_counts(codes, size)
    coders = counts.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        agreement = np.where(
            coders >= 2, (counts * (counts - 1)).sum(1) / (coders * (coders - 1)), 0
        )
        shares = np.where(coders[:, None] >= 1, counts / coders[:, None], 0.0)
    return np.column_stack([agreement, coders >= 2, shares, coders >= 1]).astype(float)


def ac1_from_stats(stats: np.ndarray, size: int) -> np.ndarray:
    """AC1 per row of summed `ac1_stats` (NaN where undefined)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = stats[:, 0] / stats[:, 1]
        shares = stats[:, 2 : 2 + size] / stats[:, -1:]
        chance = (shares * (1 - shares)).sum(axis=1) / (size - 1)
        return (observed - chance) / (1 - chance)


def ac1_interval(codes: np.ndarray, size: int, confidence: float) -> dict:
    """AC1 with Gwet's standard error and t interval (unweighted items)."""
    stats = ac1_stats(codes, size)
    used = stats[:, -1] > 0
    stats, counts = stats[used], code_counts(codes, size)[used]
    n, paired = len(stats), stats[:, 1].sum()
    value = float(ac1_from_stats(stats.sum(axis=0, keepdims=True), size)[0])
    shares = stats[:, 2 : 2 + size].sum(axis=0) / n
    chance = float((shares * (1 - shares)).sum() / (size - 1))
    each = (n / paired) * (stats[:, 0] - chance * stats[:, 1]) / (1 - chance)
    chance_each = (counts / counts.sum(1, keepdims=True)) @ (1 - shares) / (size - 1)
    each = each - 2 * (1 - value) * (chance_each - chance) / (1 - chance)
    se = float(np.sqrt(((each - value) ** 2).sum() / (n * (n - 1))))
    half = se * t.ppf(0.5 + confidence / 2, n - 1)
    return {"value": value, "ci": [value - half, min(1.0, value + half)], "se": se}
