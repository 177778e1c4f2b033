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
    room_of = sizes.to_numpy(dtype=float)
    share_of = share.to_numpy(dtype=float)
    counts = np.asarray(least, dtype=float).copy()  # two per stratum first
    while counts.sum() < total:  # one at a time to the stratum furthest below its share
        room = room_of - counts > 0
        wanted = np.where(room, share_of, 0.0)
        gap = np.where(room, wanted / wanted.sum() * total - counts, -np.inf)
        counts[int(np.argmax(gap))] += 1
    return pd.Series(counts.astype(int), index=sizes.index)
