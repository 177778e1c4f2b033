"""Each image's nearest images by embedding (cosine similarity), never an N x N matrix: faiss's
exact inner-product index (it searches in blocks) up to EXACT_UP_TO images, an HNSW graph
beyond, its vectors stored as float16 (memory: 2 bytes a dimension and about 2 x LINKS ids an
image; 1 M x 512 dims about 1.3 GB). The vectors go in CHUNK at a time and are searched with the
index's own copy, so that no second copy of them is made.

From the neighbours (`vislab data inspect`): outliers (images far from even their nearest
images) and the candidate pairs of near copies by embedding (crops and edits that the hash
misses; the inspection confirms each on keypoints before it calls them copies).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

EXACT_UP_TO = 200_000  # images: above, an approximate (HNSW) index
LINKS = 32  # HNSW: links per node
SEARCH_BREADTH = 128  # HNSW: candidates kept while searching (recall against speed)
NEIGHBOURS = 10
OUTLIER_SPREADS = 4.0  # robust spreads (1.4826 MAD) above the median distance: an outlier
COPY_SIMILARITY = 0.9  # cosine: a pair this close is a candidate near copy
CHUNK = 10_000  # vectors added to the index, or searched, at a time


@dataclass(frozen=True)
class Neighbours:
    """Per image its `count` nearest other images (`index`, -1 where fewer exist) and their
    cosine similarities (`similarity`, descending)."""

    index: np.ndarray  # (n, count) int64
    similarity: np.ndarray  # (n, count) float32


def unit_vectors(vectors: np.ndarray) -> np.ndarray:
    """float32 rows scaled to length 1 (a zero row stays zero)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def index_of(width: int, total: int):
    """An empty faiss inner-product index for `total` vectors of `width` dimensions: exact, or
    HNSW over float16 vectors when many."""
    import faiss

    if total <= EXACT_UP_TO:
        return faiss.IndexFlatIP(width)
    quantized = faiss.ScalarQuantizer.QT_fp16
    index = faiss.IndexHNSWSQ(width, quantized, LINKS, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efSearch = SEARCH_BREADTH
    return index


def nearest(vectors: np.ndarray, count: int = NEIGHBOURS) -> Neighbours:
    """Each row's `count` nearest other rows by cosine similarity."""
    return nearest_of(lambda start, stop: vectors[start:stop], len(vectors), count)


def nearest_of(rows: Callable[[int, int], np.ndarray], total: int, count: int) -> Neighbours:
    """Each of `total` vectors' `count` nearest others by cosine similarity, where rows(start,
    stop) gives vectors start to stop-1 (asked once each, CHUNK at a time: a collection's
    vectors need not all be made before the search)."""
    if total < 2:
        return Neighbours(np.full((total, count), -1), np.zeros((total, count), np.float32))
    index = None
    for start in range(0, total, CHUNK):
        unit = unit_vectors(rows(start, min(start + CHUNK, total)))
        index = index_of(unit.shape[1], total) if index is None else index
        index.add(unit)
    asked = min(count + 1, total)
    found = np.empty((total, asked), np.int64)
    similarity = np.empty((total, asked), np.float32)
    for start in range(0, total, CHUNK):
        stop = min(start + CHUNK, total)
        queries = index.reconstruct_n(start, stop - start)
        similarity[start:stop], found[start:stop] = index.search(queries, asked)
    return _without_self(found, similarity, count)


def _without_self(found: np.ndarray, similarity: np.ndarray, count: int) -> Neighbours:
    """Drop each row itself from its list (where an identical vector came first, the row may
    stand anywhere in it; where it is missing, the list's last one goes)."""
    rows = np.arange(len(found))[:, None]
    is_self = found == rows
    is_self[~is_self.any(axis=1), -1] = True
    keep = ~is_self
    width = found.shape[1] - 1
    index = found[keep].reshape(len(found), width)
    similarity = similarity[keep].reshape(len(found), width)
    if width < count:
        pad = count - width
        index = np.pad(index, ((0, 0), (0, pad)), constant_values=-1)
        similarity = np.pad(similarity, ((0, 0), (0, pad)), constant_values=np.nan)
    return Neighbours(index.astype(np.int64), similarity.astype(np.float32))


def distances(neighbours: Neighbours) -> np.ndarray:
    """Per image its mean cosine distance (1 - similarity) to its nearest images: large for
    an image unlike the rest of the collection."""
    return np.nanmean(1.0 - neighbours.similarity, axis=1)


def outlier_limit(distance: np.ndarray) -> float:
    """The distance above which an image is an outlier: OUTLIER_SPREADS robust spreads above
    the median (robust: the outliers themselves do not move it)."""
    middle = float(np.median(distance))
    spread = 1.4826 * float(np.median(np.abs(distance - middle)))
    return middle + OUTLIER_SPREADS * max(spread, 1e-6)


def similar_pairs(neighbours: Neighbours, least: float = COPY_SIMILARITY) -> np.ndarray:
    """The pairs (i < j) at cosine similarity `least` or more among the neighbours, each once."""
    rows, places = np.nonzero((neighbours.similarity >= least) & (neighbours.index >= 0))
    others = neighbours.index[rows, places]
    pairs = np.sort(np.column_stack([rows, others]), axis=1)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    return np.unique(pairs, axis=0) if len(pairs) else pairs.reshape(0, 2)
