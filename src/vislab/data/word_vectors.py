"""Candidate near copies by visual words (`vislab data inspect`), never an N x N product.

Each image a tf-idf vector of its visual words (data/local_features.py): sublinear counts
(1 + ln count), times the word's smooth idf (ln((1 + n) / (1 + images holding it)) + 1, as
scikit-learn's), of unit length: the bag-of-words retrieval of Sivic and Zisserman. The vectors
are kept as each image's words, sorted, repeats and all (two bytes a keypoint, gathered block
by block during the pass: `WordLists`), not as a matrix; beside them, where the pass gives them,
each word's place in its image (two bytes, in a temporary file: read back only for the
candidates, data/local_features.py `placed_inliers`).

An image's candidates are its NEIGHBOURS most similar others by the exact cosine of the
vectors, at MIN_SIMILARITY or more and STAND_OUT above the median of its other neighbours (its
crowd: near copies stand out from it, the images that merely look alike do not). The others
are searched first among PROJECTED-dimension random projections of the vectors (cosines kept to
about 1/sqrt(PROJECTED); the exact search over all pairs of data/exact_neighbours.py, each
pair's product made once, the projections kept as bfloat16), SEARCHED per image, whose exact
cosines are then computed from the words (a merge of two sorted lists, compiled by numba). The
search is exact at every size: the projections of bags of 4,096 words gather in no clusters, and
an inverted file over them found 53 to 87 % of planted crops at 100,000 images where the exact
search finds all (bench/inspect_memory.py); its time grows with the square of the images.
"""

from __future__ import annotations

import functools
import tempfile
import weakref
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
CHUNK = 10_000  # images whose vectors are made (projected, searched, re-ranked) at a time
FIRST_WORDS = 1 << 20  # words the pass makes room for at first (2 MB)
DENSE_ROWS = 2_048  # images whose vectors are made dense at a time to be projected (32 MB)


class WordLists:
    """The images' visual words as the pass finds them, image after image: each image's
    words sorted, appended to one array (grown by half when full: a large array grows by
    remapping its pages, not by copying them, so the words are never held twice), and per word
    the images holding it. `placed`: each word's place in its image is given too, and kept on
    disk in the words' order (`PlaceFile`: a million images' places would add 1.6 GB of
    memory)."""

    def __init__(self, size: int, placed: bool = False):
        self.size = size
        self.held = np.zeros(size, np.int64)
        self._words = np.zeros(FIRST_WORDS, np.uint16)
        self._used = 0
        self._given = False  # the words are in a WordVectors: copied before they grow
        self._lengths: list[int] = []
        self._places = PlaceFile() if placed else None

    def add(self, words: np.ndarray, places: np.ndarray | None = None) -> None:
        """The next image's word ids (any order, repeats counted; none: an image without
        keypoints) and, for lists `placed`, each word's place ((n, 2) uint8)."""
        if (places is None) != (self._places is None):
            raise ValueError("places: give them with every image's words, or never")
        order = np.argsort(words, kind="stable")
        words = np.asarray(words, np.uint16)[order]
        if self._places is not None:
            places = np.asarray(places, np.uint8).reshape(-1, 2)
            if len(places) != len(words):
                raise ValueError(f"places: {len(places)} for {len(words)} words; one per word")
            self._places.append(places[order])
        if len(words):
            self.held[words[np.r_[True, words[1:] != words[:-1]]]] += 1
        end = self._used + len(words)
        if end > len(self._words):
            if self._given:
                self._words, self._given = self._words.copy(), False
            self._words.resize(max(end, len(self._words) * 3 // 2), refcheck=False)
        self._words[self._used : end] = words
        self._used = end
        self._lengths.append(len(words))

    def vectors(self) -> WordVectors:
        """The tf-idf vectors of the images added so far."""
        if not self._given:
            self._words.resize(self._used, refcheck=False)
            self._given = True
        starts = np.zeros(len(self._lengths) + 1, np.int64)
        np.cumsum(self._lengths, out=starts[1:])
        idf = np.log((1 + len(self._lengths)) / (1 + self.held)) + 1.0
        words = self._words[: self._used]
        unit = np.ones(len(self._lengths))
        return WordVectors(words, starts, idf, unit, self._places).normed()


class PlaceFile:
    """Each word's place in its image ((x, y), a byte each), appended to a temporary file and
    read back a slice at a time (`places[first:last]`, by pread: nothing is mapped, so
    reading a few images' places does not bring the file into memory). The file is closed and
    gone when the last holder lets go of it."""

    def __init__(self):
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 (closed by the finalizer)
        self._count = 0
        weakref.finalize(self, self._file.close)

    def append(self, places: np.ndarray) -> None:
        self._file.write(np.ascontiguousarray(places, np.uint8).tobytes())
        self._count += len(places)

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, rows: slice) -> np.ndarray:
        import os

        first, last, _ = rows.indices(self._count)
        self._file.flush()
        read = os.pread(self._file.fileno(), 2 * max(last - first, 0), 2 * first)
        return np.frombuffer(read, np.uint8).reshape(-1, 2)


@dataclass(frozen=True)
class WordVectors:
    """The images' tf-idf vectors as their words, sorted and with repeats, image after image
    from `starts[i]` to `starts[i + 1]`; `idf` per word, `norms` per image; `places`, where
    known, each word's place in its image."""

    words: np.ndarray  # uint16
    starts: np.ndarray  # int64, one more than the images
    idf: np.ndarray  # float64, per word of the vocabulary
    norms: np.ndarray  # float64, per image: the length of its unscaled vector
    places: PlaceFile | None = None  # per word (x, y), a slice at a time

    @classmethod
    def of(cls, words: list[np.ndarray], size: int, places: list | None = None) -> WordVectors:
        """From each image's word ids (uint16, any order, repeats counted) and, if given,
        their places ((n, 2) uint8 each)."""
        lists = WordLists(size, placed=places is not None)
        for k, found in enumerate(words):
            lists.add(found, None if places is None else places[k])
        return lists.vectors()

    def __len__(self) -> int:
        return len(self.starts) - 1

    def runs(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Images start to stop-1 as (image, word, count) of each distinct word of each image,
        in order (image: from 0 at `start`)."""
        first, last = self.starts[start], self.starts[stop]
        words = self.words[first:last]
        image = np.repeat(np.arange(stop - start), np.diff(self.starts[start : stop + 1]))
        new = np.ones(len(words), bool)
        new[1:] = (words[1:] != words[:-1]) | (image[1:] != image[:-1])
        at = np.flatnonzero(new)
        counts = np.diff(np.append(at, len(words)))
        return image[at], words[at].astype(np.int64), counts

    def normed(self) -> WordVectors:
        """These vectors with their lengths computed (CHUNK images at a time)."""
        norms = np.zeros(len(self))
        for start in range(0, len(self), CHUNK):
            stop = min(start + CHUNK, len(self))
            image, words, counts = self.runs(start, stop)
            weights = (1.0 + np.log(counts)) * self.idf[words]
            norms[start:stop] = np.sqrt(np.bincount(image, weights**2, minlength=stop - start))
        return WordVectors(self.words, self.starts, self.idf, norms, self.places)

    def rows(self, start: int, stop: int):
        """Images start to stop-1 as rows of unit length (scipy sparse; an image without
        words: a zero row)."""
        from scipy.sparse import csr_matrix

        image, words, counts = self.runs(start, stop)
        length = np.where(self.norms > 0, self.norms, 1.0)[start:stop][image]
        data = (1.0 + np.log(counts)) * self.idf[words] / length
        indptr = np.zeros(stop - start + 1, np.int64)
        np.cumsum(np.bincount(image, minlength=stop - start), out=indptr[1:])
        return csr_matrix((data, words, indptr), shape=(stop - start, len(self.idf)))

    def cosines(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """The exact cosine of each pair of images (left[k], right[k]), the pairs shared among
        the CPU cores (the compiled loop lets go of the GIL)."""
        import os
        from concurrent.futures import ThreadPoolExecutor

        found = np.zeros(len(left), np.float64)
        left, right = np.asarray(left, np.int64), np.asarray(right, np.int64)
        cut = np.linspace(0, len(left), len(os.sched_getaffinity(0)) + 1).astype(int)
        compiled = _compiled()

        def part(a: int, b: int) -> None:
            arrays = (self.words, self.starts, self.idf, self.norms)
            compiled(*arrays, left[a:b], right[a:b], found[a:b])

        with ThreadPoolExecutor(len(cut) - 1) as pool:
            list(pool.map(part, cut[:-1], cut[1:]))
        return found


@functools.cache
def _compiled():
    """`_cosines` compiled by numba (imported and compiled at first use, cached on disk)."""
    import numba

    return numba.njit(cache=True, nogil=True)(_cosines)


def _cosines(words, starts, idf, norms, left, right, found):
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
                word, count_a, count_b = words[a], 0, 0
                while a < a_end and words[a] == word:
                    a += 1
                    count_a += 1
                while b < b_end and words[b] == word:
                    b += 1
                    count_b += 1
                weight = idf[word]
                dot += (1.0 + np.log(count_a)) * (1.0 + np.log(count_b)) * weight * weight
        length = norms[i] * norms[j]
        found[k] = dot / length if length > 0 else 0.0


def tfidf(words: list[np.ndarray], size: int):
    """Per image its tf-idf vector of visual words (rows of unit length, scipy sparse)."""
    vectors = WordVectors.of(words, size)
    return vectors.rows(0, len(vectors))


def projection(vectors: WordVectors, seed: int = 0):
    """rows(start, stop): those images' vectors randomly projected to PROJECTED dimensions
    (float32; a Gaussian matrix, cosines kept to about 1/sqrt(PROJECTED)). The vectors are
    made dense DENSE_ROWS at a time for the product: a dense product runs on every core, a
    sparse one on one."""
    rng = np.random.default_rng(seed)
    across = rng.standard_normal((len(vectors.idf), PROJECTED)).astype(np.float32)

    def rows(start: int, stop: int) -> np.ndarray:
        parts = [np.zeros((0, PROJECTED), np.float32)]
        for first in range(start, stop, DENSE_ROWS):
            sparse = vectors.rows(first, min(first + DENSE_ROWS, stop))
            parts.append(sparse.astype(np.float32).toarray() @ across)
        return np.concatenate(parts)

    return rows


def candidates(
    vectors: WordVectors,
    neighbours: int = NEIGHBOURS,
    least: float = MIN_SIMILARITY,
) -> np.ndarray:
    """(i, j) pairs, i < j, where j is among i's `neighbours` most similar images by the exact
    cosine of their tf-idf vectors (or i among j's), at `least` or more and STAND_OUT above
    i's crowd, of the SEARCHED nearest by the vectors' projections."""
    from vislab.data.exact_neighbours import exact_nearest
    from vislab.data.neighbours import unit_vectors
    from vislab.progress import Progress

    count = len(vectors)
    if count < 2 or not len(vectors.idf):
        return np.zeros((0, 2), np.int64)
    searched = min(SEARCHED, count - 1)  # exactly: the projections gather in no clusters
    projected = projection(vectors)
    with Progress(count, "copies by words", "images") as progress:
        near, _ = exact_nearest(
            lambda start, stop: unit_vectors(projected(start, stop)), count, searched, progress
        )
    found = [np.zeros((0, 2), np.int64)]
    for start in range(0, count, CHUNK):
        rows = np.arange(start, min(start + CHUNK, count))
        found.append(_standing_out(vectors, rows, near[rows], neighbours, least))
    return np.unique(np.concatenate(found), axis=0)


def _standing_out(vectors: WordVectors, rows, others, neighbours: int, least: float):
    """The pairs (row, other) whose exact cosine is among the row's `neighbours` highest, at
    `least` or more and STAND_OUT above the row's crowd (each pair sorted)."""
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
    return np.sort(pairs[kept.ravel()], axis=1)


def crowd(cosines: np.ndarray) -> np.ndarray:
    """Per row the median of its cosines (-1: none; a row without any: 0), how alike the
    images near it are anyway."""
    known = np.where(cosines > -1, cosines, np.nan)
    middle = np.zeros(len(cosines))
    some = ~np.isnan(known).all(axis=1)
    middle[some] = np.nanmedian(known[some], axis=1)
    return middle
