"""Each image's nearest images by embedding (cosine similarity), never an N x N matrix: faiss's
exact inner-product index (it searches in blocks) up to EXACT_UP_TO images; beyond, an inverted
file (IVF): the vectors are sorted into about 4 sqrt(N) cells by k-means on a sample spread over
the collection, and each image is compared with the images of the PROBED cells nearest it only,
its vectors stored as float16 (memory: 2 bytes a dimension and 16 bytes of ids an image; 1 M
x 512 dims about 1.04 GB). The vectors go in CHUNK at a time and are searched with the index's own
copy, so that no second copy of them is made.

From the neighbours (`vislab data inspect`): outliers (images far from even their nearest
images) and the candidate pairs of near copies by embedding (crops and edits that the hash
misses; the inspection confirms each on keypoints before it calls them copies).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

EXACT_UP_TO = 200_000  # images: above, an approximate (IVF) index
CELLS_PER_ROOT = 4  # IVF: cells per square root of the number of images
TRAINED_PER_CELL = 40  # IVF: k-means sample, images per cell (faiss asks 39 at least)
PROBED = 16  # IVF: cells searched per image (recall against speed)
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
    where many, an inverted file over float16 vectors (untrained)."""
    import faiss

    if total <= EXACT_UP_TO:
        return faiss.IndexFlatIP(width)
    cells = int(CELLS_PER_ROOT * np.sqrt(total))
    index = faiss.index_factory(width, f"IVF{cells},SQfp16", faiss.METRIC_INNER_PRODUCT)
    index.nprobe = PROBED
    return index


def nearest(vectors: np.ndarray, count: int = NEIGHBOURS) -> Neighbours:
    """Each row's `count` nearest other rows by cosine similarity."""
    return nearest_of(lambda start, stop: vectors[start:stop], len(vectors), count)


def nearest_of(rows: Callable[[int, int], np.ndarray], total: int, count: int) -> Neighbours:
    """Each of `total` vectors' `count` nearest others by cosine similarity, where rows(start,
    stop) gives vectors start to stop-1 (asked CHUNK at a time, and for an inverted file a
    sample of each chunk once more: a collection's vectors need not all be made before the
    search). An inverted file finds nearly all neighbours of vectors that gather in clusters,
    as embeddings do, and misses many of vectors that do not (data/exact_neighbours.py
    searches those)."""
    if total < 2:
        return Neighbours(np.full((total, count), -1), np.zeros((total, count), np.float32))
    index = filled(rows, total)
    parts = [searched(index, s, min(s + CHUNK, total), count) for s in range(0, total, CHUNK)]
    return Neighbours(
        np.concatenate([part.index for part in parts]),
        np.concatenate([part.similarity for part in parts]),
    )


def searched(index, start: int, stop: int, count: int) -> Neighbours:
    """Vectors start to stop-1 of a `filled` index: each one's `count` nearest others."""
    asked = min(count + 1, index.ntotal)
    similarity, found = index.search(index.reconstruct_n(start, stop - start), asked)
    return _without_self(found, similarity, count, start)


def filled(rows: Callable[[int, int], np.ndarray], total: int):
    """The index (`index_of`) of the `total` vectors that rows(start, stop) gives, unit length,
    trained first where it is an inverted file, able to give each vector back."""
    first = unit_vectors(rows(0, min(CHUNK, total)))
    index = index_of(first.shape[1], total)
    if not index.is_trained:
        index.train(_spread_sample(rows, total, TRAINED_PER_CELL * index.nlist))
        index.make_direct_map()
    index.add(first)
    for start in range(CHUNK, total, CHUNK):
        index.add(unit_vectors(rows(start, min(start + CHUNK, total))))
    return index


def _spread_sample(rows: Callable[[int, int], np.ndarray], total: int, size: int) -> np.ndarray:
    """About `size` unit vectors taken from the start of every chunk (so the sample spans the
    whole collection, however it is ordered, and no vector is made more than twice)."""
    chunks = range(0, total, CHUNK)
    share = min(-(-size // len(chunks)), CHUNK)
    return np.concatenate(
        [unit_vectors(rows(start, min(start + share, total))) for start in chunks]
    )


def _without_self(found: np.ndarray, similarity: np.ndarray, count: int, first: int = 0):
    """Drop each row (numbered from `first`) itself from its list (where an identical vector
    came first, the row may stand anywhere in it; where it is missing, the last one goes)."""
    rows = np.arange(first, first + len(found))[:, None]
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
