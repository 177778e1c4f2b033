"""How many images (or clusters) a sample takes from each stratum."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vislab.errors import InputError

LEAST_PER_STRATUM = 2


def allocate(sizes: pd.Series, total: int, factors: pd.Series | None, allocation: str) -> pd.Series:
    """Sample size per stratum: sums to `total` (or the population), never above a stratum's
    size, and at least two in every stratum that holds two (a stratum's variance needs two)."""
    if total >= sizes.sum():
        return sizes.copy()
    least = np.minimum(LEAST_PER_STRATUM, sizes)
    if total < least.sum():
        raise InputError(
            f"--size {total} is too small for {len(sizes)} strata: every stratum needs "
            f"{LEAST_PER_STRATUM} coded images for an honest interval, so at least "
            f"{int(least.sum())}. Draw more, or stratify by fewer columns."
        )
    share = (
        sizes.astype(float) if allocation == "proportional" else pd.Series(1.0, index=sizes.index)
    )
    if factors is not None:
        share = share * factors
    counts = pd.Series(least, index=sizes.index)  # two per stratum first
    while counts.sum() < total:
        room = sizes - counts
        wanted = share.where(room > 0, 0.0)
        target = wanted / wanted.sum() * total
        gap = (target - counts).where(room > 0, -np.inf)
        counts[gap.idxmax()] += 1
    return counts
