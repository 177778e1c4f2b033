"""Candidate near copies by visual words (`vislab data inspect`), never an N x N product.

Each image a tf-idf vector of its visual words (data/local_features.py): sublinear counts
(1 + ln count), times the word's smooth idf (ln((1 + n) / (1 + images holding it)) + 1, as
scikit-learn's), of unit length: the bag-of-words retrieval of Sivic and Zisserman. The vectors
are kept as each image's distinct words and their counts (four bytes a word), not as a matrix.

An image's candidates are its NEIGHBOURS most similar others by the exact cosine of the
vectors, at MIN_SIMILARITY or more and STAND_OUT above the median of its other neighbours (its
crowd: near copies stand out from it, the images that merely look alike do not). The others
are searched first among PROJECTED-dimension random projections of the vectors (cosines kept to
about 1/sqrt(PROJECTED); a faiss index, data/neighbours.py), SEARCHED per image, whose exact
cosines are then computed from the words (a merge of two sorted lists, compiled by numba).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

NEIGHBOURS = 3  # candidates per image (a crop of a photo tile: its original first in 37 of 40)
SEARCHED = 30  # nearest by the projected vectors, re-ranked by their exact cosine (a crop of
# a photo tile: its original among the 27 nearest in 120 of 120 at 512 dimensions, 46 at 256)
PROJECTED = 512  # dimensions of the random projection searched (2 KB per image)
MIN_SIMILARITY = 0.15  # cosine of the tf-idf vectors, for a candidate (crops of photo tiles:
# 0.17 and up, half of them above 0.38) ...
STAND_OUT = 0.04  # ... and this much above the median cosine of the image's other searched
# neighbours (copies stand out by 0.056 or more on photo tiles, 0.18 on drawn pictures, where
# nine in ten of the other top three stand out by less than 0.046)
CHUNK = 20_000  # images whose vectors are made at a time


@dataclass(frozen=True)
class WordVectors:
    """The images' tf-idf vectors as their distinct words (sorted) and counts, image after
    image from `starts[i]` to `starts[i + 1]`; `idf` per word, `norms` per image."""

    words: np.ndarray  # uint16
    counts: np.ndarray  # uint16
    starts: np.ndarray  # int64, one more than the images
    idf: np.ndarray  # float64, per word of the vocabulary
    norms: np.ndarray  # float64, per image: the length of its unscaled vector

    @classmethod
    def of(cls, words: list[np.ndarray], size: int) -> WordVectors:
        """From each image's word ids (uint16, any order, repeats counted)."""
        distinct = [np.unique(w, return_counts=True) for w in words]
        starts = np.zeros(len(words) + 1, np.int64)
        np.cumsum([len(d[0]) for d in distinct], out=starts[1:])
        every = np.concatenate([d[0] for d in distinct]) if distinct else np.zeros(0)
        counts = np.concatenate([d[1] for d in distinct]) if distinct else np.zeros(0)
        every, counts = every.astype(np.uint16), counts.astype(np.uint16)
        held = np.bincount(every, minlength=size)
        idf = np.log((1 + len(words)) / (1 + held)) + 1.0
        image = np.repeat(np.arange(len(words)), np.diff(starts))
        weights = (1.0 + np.log(counts)) * idf[every]
        norms = np.sqrt(np.bincount(image, weights**2, minlength=len(words)))
        return cls(every, counts, starts, idf, norms)

    def __len__(self) -> int:
        return len(self.starts) - 1

    def rows(self, start: int, stop: int):
        """Images start to stop-1 as rows of unit length (scipy sparse; an image without
        words: a zero row)."""
        from scipy.sparse import csr_matrix

        first, last = self.starts[start], self.starts[stop]
        words = self.words[first:last].astype(np.int64)
        image = np.repeat(np.arange(start, stop), np.diff(self.starts[start : stop + 1]))
        length = np.where(self.norms > 0, self.norms, 1.0)[image]
        data = (1.0 + np.log(self.counts[first:last])) * self.idf[words] / length
        shape = (stop - start, len(self.idf))
        return csr_matrix((data, words, self.starts[start : stop + 1] - first), shape=shape)

    def cosines(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """The exact cosine of each pair of images (left[k], right[k])."""
        found = np.zeros(len(left), np.float64)
        pair = (np.asarray(left, np.int64), np.asarray(right, np.int64))
        kernel = _compiled()
        kernel(self.words, self.counts, self.starts, self.idf, self.norms, *pair, found)
        return found


@functools.cache
def _compiled():
    """`_cosines` compiled by numba (imported and compiled at first use, cached on disk)."""
    import numba

    return numba.njit(cache=True, nogil=True)(_cosines)


def _cosines(words, counts, starts, idf, norms, left, right, found):
    for k in range(len(left)):
        i, j = left[k], right[k]
        a, a_end, b, b_end = starts[i], starts[i + 1], starts[j], starts[j + 1]
        dot = 0.0
        while a < a_end and b < b_end:
            if words[a] < words[b]:
                a += 1
            elif words[a] > words[b]:
                b += 1
            else:
                weight = idf[words[a]]
                dot += (1.0 + np.log(counts[a])) * (1.0 + np.log(counts[b])) * weight * weight
                a += 1
                b += 1
        length = norms[i] * norms[j]
        found[k] = dot / length if length > 0 else 0.0


def tfidf(words: list[np.ndarray], size: int):
    """Per image its tf-idf vector of visual words (rows of unit length, scipy sparse)."""
    vectors = WordVectors.of(words, size)
    return vectors.rows(0, len(vectors))


def projected(vectors: WordVectors, seed: int = 0) -> np.ndarray:
    """The vectors' random projections to PROJECTED dimensions (float32), CHUNK at a time."""
    rng = np.random.default_rng(seed)
    across = rng.standard_normal((len(vectors.idf), PROJECTED)).astype(np.float32)
    count = len(vectors)
    blocks = [
        np.asarray(vectors.rows(s, min(s + CHUNK, count)) @ across, np.float32)
        for s in range(0, count, CHUNK)
    ]
    return np.concatenate(blocks) if blocks else np.zeros((0, PROJECTED), np.float32)


def candidates(
    words: list[np.ndarray],
    size: int,
    neighbours: int = NEIGHBOURS,
    least: float = MIN_SIMILARITY,
) -> np.ndarray:
    """(i, j) pairs, i < j, where j is among i's `neighbours` most similar images by the exact
    cosine of their tf-idf vectors (or i among j's), at `least` or more and STAND_OUT above
    i's crowd, of the SEARCHED nearest by the vectors' projections."""
    from vislab.data.neighbours import nearest

    if len(words) < 2 or not size:
        return np.zeros((0, 2), np.int64)
    vectors = WordVectors.of(words, size)
    near = nearest(projected(vectors), min(SEARCHED, len(words) - 1)).index
    found = [np.zeros((0, 2), np.int64)]
    for start in range(0, len(words), CHUNK):
        rows = np.arange(start, min(start + CHUNK, len(words)))
        others = near[rows]
        cosine = np.full(others.shape, -1.0)
        known = others >= 0
        cosine[known] = vectors.cosines(
            np.broadcast_to(rows[:, None], others.shape)[known], others[known]
        )
        order = np.argsort(-cosine, axis=1, kind="stable")
        ranked = np.take_along_axis(cosine, order, axis=1)
        top = ranked[:, :neighbours]
        kept = (top >= least) & (top >= crowd(ranked[:, neighbours:])[:, None] + STAND_OUT)
        chosen = np.take_along_axis(others, order[:, :neighbours], axis=1)
        pairs = np.column_stack([np.repeat(rows, top.shape[1]), chosen.ravel()])
        found.append(np.sort(pairs[kept.ravel()], axis=1))
    return np.unique(np.concatenate(found), axis=0)


def crowd(cosines: np.ndarray) -> np.ndarray:
    """Per row the median of its cosines (-1: none; a row without any: 0), how alike the
    images near it are anyway."""
    known = np.where(cosines > -1, cosines, np.nan)
    middle = np.zeros(len(cosines))
    some = ~np.isnan(known).all(axis=1)
    middle[some] = np.nanmedian(known[some], axis=1)
    return middle
