"""Each coder against the consensus of the others: the majority code of the other coders on
each item (an item where they tie, or where no other coder coded it, is left out for that
coder). With two coders the consensus is the other coder."""

from __future__ import annotations

import numpy as np

from vislab.evaluation.gwet import code_counts


def consensus_of_others(codes: np.ndarray, coder: int, size: int) -> np.ndarray:
    """Per item the majority code of the coders other than `coder` (-1: none, or a tie)."""
    others = np.delete(codes, coder, axis=1)
    counts = code_counts(others, size)
    best = counts.max(axis=1)
    ties = (counts == best[:, None]).sum(axis=1) > 1
    return np.where((best > 0) & ~ties, counts.argmax(axis=1), -1)


def agreement_share(pairs: np.ndarray, size: int) -> np.ndarray:
    """Per replicate row of summed pair confusion cells: the share of items on the diagonal."""
    matrices = pairs.reshape(-1, size, size)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.trace(matrices, axis1=1, axis2=2) / matrices.sum(axis=(1, 2))
