"""Near copies by perceptual hash (data/look.py), found without comparing every pair.

Two images are copies when their 64-bit hashes differ in at most `radius` bits (RADIUS: a
re-encoded or resized photo's hash changes by at most 8 bits in the tests, another photo's by
about 32). Multi-index hashing finds every such pair: cut the hash into four 16-bit bands; two
hashes within 7 bits agree on some band in all but at most one bit (else they would differ in
8 or more), so each image is looked up, band by band, under its band's value and its 16
one-bit neighbours in the images sorted by that band, and only the pairs found are compared
whole. The work grows with the pairs found, not with N x N, and goes in chunks of queries, so
memory stays flat. `hash_links` searches each distinct hash once (10,000 copies of one
image are one hash, not 50 million pairs). Images whose hash says little (low information,
data/look.py) are for the caller to leave out.
"""

from __future__ import annotations

import numpy as np

from vislab.data.look import hamming

RADIUS = 7  # bits: at most this many differ between copies' hashes
BAND_BITS = 16
CHUNK = 50_000  # images looked up at a time


def hash_pairs(hashes: np.ndarray, radius: int = RADIUS) -> np.ndarray:
    """Every pair (i, j), i < j, of `hashes` (uint64) within `radius` bits, as an (m, 2)
    array sorted by i then j. `radius` at most 7 (four bands, one bit of slack each)."""
    if radius > 7:
        raise ValueError("radius: at most 7 bits with four 16-bit bands")
    hashes = np.asarray(hashes, dtype=np.uint64)
    found = []
    for band in range(64 // BAND_BITS):
        keys = ((hashes >> np.uint64(band * BAND_BITS)) & np.uint64(0xFFFF)).astype(np.int64)
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        for flip in (0, *(1 << b for b in range(BAND_BITS))):
            for start in range(0, len(hashes), CHUNK):
                queries = np.arange(start, min(start + CHUNK, len(hashes)))
                pairs = _matches(queries, keys[queries] ^ flip, ordered, order)
                close = hamming(hashes[pairs[:, 0]], hashes[pairs[:, 1]]) <= radius
                found.append(pairs[close])
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    every = np.concatenate(found)
    return np.unique(every, axis=0) if len(every) else every.reshape(0, 2)


def _matches(queries: np.ndarray, wanted: np.ndarray, ordered: np.ndarray, order: np.ndarray):
    """(query, other) for every other image whose band key is `wanted`, other > query."""
    left = np.searchsorted(ordered, wanted, side="left")
    right = np.searchsorted(ordered, wanted, side="right")
    counts = right - left
    owners = np.repeat(queries, counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    others = order[np.repeat(left, counts) + offsets]
    keep = others > owners
    return np.column_stack([owners[keep], others[keep]])


def copy_clusters(pairs: np.ndarray, count: int) -> np.ndarray:
    """Per image its cluster number: images joined by a chain of pairs share one; an image
    with no copy is a cluster of its own. Numbers follow the first image of each cluster."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix(
        (np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(count, count)
    ).tocsr()
    _, labels = connected_components(graph, directed=False)
    firsts = np.unique(labels, return_index=True)[1]  # renumber in order of first image
    renumbered = np.empty(len(firsts), dtype=np.int64)
    renumbered[labels[np.sort(firsts)]] = np.arange(len(firsts))
    return renumbered[labels]


def hash_links(hashes: np.ndarray, radius: int = RADIUS) -> np.ndarray:
    """Pairs that join every image to its copies by hash, each distinct hash searched once
    (10,000 copies of one image are one hash, linked in a chain, not 50 million pairs)."""
    distinct, first, inverse = np.unique(
        np.asarray(hashes, dtype=np.uint64), return_index=True, return_inverse=True
    )
    between = first[hash_pairs(distinct, radius)]  # one image of each hash stands for it
    order = np.argsort(inverse, kind="stable")
    same = inverse[order][1:] == inverse[order][:-1]
    within = np.column_stack([order[:-1][same], order[1:][same]])
    return np.concatenate([between.reshape(-1, 2), within]).astype(np.int64)


def hash_clusters(hashes: np.ndarray, radius: int = RADIUS) -> np.ndarray:
    """Per image its cluster of copies by hash (`copy_clusters`' numbering)."""
    return copy_clusters(hash_links(hashes, radius), len(hashes))
