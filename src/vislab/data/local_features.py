"""Near copies that a hash misses: crops, colour and brightness changes (`vislab data inspect`).

Each image's ORB keypoints (OpenCV: corners with binary descriptors of the gray image, so blind
to colour) at SIDE px on its longer side; the descriptors quantised to COARSE x FINE visual
words, a two-level vocabulary of binary centres (k-majority: k-means in Hamming distance, each
centre the bitwise majority of its descriptors, as DBoW2 does) learnt from a sample of the
collection's, so that a descriptor finds its word in COARSE + FINE comparisons; each image a
tf-idf vector of its words, and its candidate copies the images nearest by it
(data/word_vectors.py). A candidate is decoded again only where one similarity transform
carries at least MIN_PLACED of its keypoints onto keypoints of the same word in the other image
(`placed_inliers`: the spatial verification of bag-of-words retrieval, Philbin et al. 2007, from
the words and places the pass kept): most candidates are two images that merely look alike, and
this drops four in five of them for a fraction of a decode. A candidate is a copy when a
similarity transform (rotation, scale, shift) fitted by RANSAC to the two images' matched
keypoints (Lowe's ratio test) keeps at least MIN_INLIERS of them and MIN_SHARE of the matches
(or SURE_INLIERS), rescaling at most 4 times in area, and the two gray images, overlaid by it,
correlate at least MIN_CORRELATION: the same scene seen through a crop, a rescale or a colour
change, not two photos that merely share a repeating texture (grass, whose blades the keypoints
match, correlates at about 0.2).
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from PIL import Image

from vislab.data.word_vectors import WordVectors, candidates

SIDE = 320  # px: the longer side keypoints are found at
FEATURES = 800  # keypoints kept per image at most
COARSE, FINE = 64, 64  # visual words: COARSE cells of FINE words each
MIN_INLIERS = 20  # keypoints the RANSAC transform keeps, for a copy
RATIO = 0.8  # Lowe's ratio test
MIN_SHARE = 0.6  # of the ratio-tested matches the transform keeps, for a copy ...
SURE_INLIERS = 60  # ... unless it keeps at least this many
MIN_CORRELATION = 0.8  # of the two gray images where the transform overlays them, for a copy
MIN_OVERLAP = 400  # px of that overlay
PLACE_STEP = SIDE / 256  # px: a keypoint's place is kept in steps of this (a byte an axis)
PAIRINGS = 9  # a word in m keypoints of one image and n of the other pairs them all where
# m * n is at most this (a commoner word says too little of where it is)
MIN_PLACED = 12  # keypoints of one word that one transform carries onto each other, for a
# candidate to be confirmed (crops of photo tiles that are confirmed: 32 and up; candidates
# among distinct drawn pictures: four in five none, one in five 12 or more, 1 % 20 or more)
REPROJECTION = 5.0  # px at SIDE: how far a carried keypoint may land from its match
SAMPLE = 100_000  # descriptors the words are learnt from at most
ROUNDS = 10  # of k-majority


@dataclass
class Keypoints:
    points: np.ndarray  # (n, 2) float32, at SIDE px
    descriptors: np.ndarray  # (n, 32) uint8
    pixels: np.ndarray | None = None  # the gray image at SIDE px, for the final check


def keypoints(gray: Image.Image) -> Keypoints:
    """ORB keypoints and descriptors of a gray image resized to SIDE px on its longer side."""
    import cv2

    scale = SIDE / max(gray.size)
    size = (max(1, round(gray.width * scale)), max(1, round(gray.height * scale)))
    pixels = np.asarray(gray.resize(size, Image.Resampling.BILINEAR), dtype=np.uint8)
    finder = cv2.ORB_create(nfeatures=FEATURES, fastThreshold=2, edgeThreshold=15, patchSize=15)
    found, descriptors = finder.detectAndCompute(pixels, None)
    if descriptors is None:
        return Keypoints(np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8), pixels)
    return Keypoints(np.array([k.pt for k in found], np.float32), descriptors, pixels)


@dataclass(frozen=True)
class Vocabulary:
    """Binary centres: `coarse` (cells, 32) and `fine` (cells, FINE, 32), uint8 (256 bits);
    its length is the number of words (0: none, copies by hash only)."""

    coarse: np.ndarray
    fine: np.ndarray

    def __len__(self) -> int:
        return self.fine.shape[0] * self.fine.shape[1]


NO_WORDS = Vocabulary(np.zeros((0, 32), np.uint8), np.zeros((0, FINE, 32), np.uint8))


def vocabulary(every: list[Keypoints], seed: int = 0) -> Vocabulary:
    """COARSE x FINE visual words learnt from the descriptors (at most SAMPLE of them)."""
    descriptors = np.concatenate([k.descriptors for k in every if len(k.points)])
    rng = np.random.default_rng(seed)
    if len(descriptors) > SAMPLE:
        descriptors = descriptors[rng.choice(len(descriptors), SAMPLE, replace=False)]
    coarse, cell = k_majority(descriptors, COARSE, rng)
    fine = np.empty((len(coarse), FINE, 32), np.uint8)
    for c in range(len(coarse)):
        members = descriptors[cell == c]
        found = k_majority(members, FINE, rng)[0] if len(members) else coarse[c : c + 1]
        fine[c] = found[np.arange(FINE) % len(found)]  # a small cell repeats its words
    return Vocabulary(coarse, fine)


def k_majority(descriptors: np.ndarray, count: int, rng: np.random.Generator):
    """`count` binary centres of the descriptors (k-means in Hamming distance, each centre the
    bitwise majority of its members; a centre left without members keeps its place) and each
    descriptor's centre."""
    from scipy.sparse import csr_matrix

    centres = descriptors[rng.choice(len(descriptors), min(count, len(descriptors)), False)]
    bits = np.unpackbits(descriptors, axis=1).astype(np.float32)
    for _ in range(ROUNDS):
        nearest = _nearest(descriptors, centres)
        counts = np.bincount(nearest, minlength=len(centres))
        members = csr_matrix(
            (np.ones(len(nearest), np.float32), (nearest, np.arange(len(nearest)))),
            shape=(len(centres), len(nearest)),
        )
        totals = members @ bits  # per centre, how many of its members have each bit set
        filled = counts > 0
        centres = centres.copy()
        centres[filled] = np.packbits(2 * totals[filled] > counts[filled, None], axis=1)
    return centres, _nearest(descriptors, centres)


def _nearest(descriptors: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Each descriptor's nearest centre in Hamming distance (in blocks: memory stays flat)."""
    found = [
        _hamming(descriptors[s : s + 4096, None], centres[None]).argmin(axis=1)
        for s in range(0, len(descriptors), 4096)
    ]
    return np.concatenate(found) if found else np.zeros(0, np.int64)


def _hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bits differing between 256-bit descriptors (uint8, last axis 32), broadcast."""
    a = np.ascontiguousarray(a).view(np.uint64)
    b = np.ascontiguousarray(b).view(np.uint64)
    bits = np.bitwise_count(a ^ b)  # uint8 per 64 bits: their sum may reach 256
    return np.add(bits[..., 0], bits[..., 1], dtype=np.uint16) + bits[..., 2] + bits[..., 3]


def words_of(found: Keypoints, words: Vocabulary) -> np.ndarray:
    """The visual word of each of an image's keypoints (uint16)."""
    if not len(found.points) or not len(words):
        return np.zeros(0, np.uint16)
    cell = _nearest(found.descriptors, words.coarse)
    fine = _hamming(found.descriptors[:, None], words.fine[cell]).argmin(axis=1)
    return (cell * FINE + fine).astype(np.uint16)


def places_of(found: Keypoints) -> np.ndarray:
    """Each keypoint's place in PLACE_STEP steps ((n, 2) uint8), as the words keep it."""
    return np.minimum(np.round(found.points / PLACE_STEP), 255).astype(np.uint8)


def placed_inliers(vectors: WordVectors, pairs: np.ndarray) -> np.ndarray:
    """Per pair (i, j) of images, the keypoints that one similarity transform, fitted by
    RANSAC, carries within REPROJECTION px of a keypoint of the same word in the other image
    (every pairing of a word's keypoints where it is in at most PAIRINGS pairings; 0 where
    fewer than 4 pair up, or the transform is not a copy's). From `vectors.places`: no image
    is decoded. The pairs are shared among the CPU cores (OpenCV and the compiled pairing
    let go of Python's lock)."""
    pairs = np.asarray(pairs, np.int64).reshape(-1, 2)
    if vectors.places is None:
        raise ValueError("placed_inliers: these word vectors were made without places")
    cut = np.linspace(0, len(pairs), len(os.sched_getaffinity(0)) + 1).astype(int)
    found = np.zeros(len(pairs), np.int64)

    def part(a: int, b: int) -> None:
        for k in range(a, b):
            found[k] = _placed(vectors, int(pairs[k, 0]), int(pairs[k, 1]))

    with ThreadPoolExecutor(len(cut) - 1) as pool:
        list(pool.map(part, cut[:-1], cut[1:]))
    return found


def _placed(vectors: WordVectors, i: int, j: int) -> int:
    import cv2

    starts = vectors.starts
    room = PAIRINGS * int(min(starts[i + 1] - starts[i], starts[j + 1] - starts[j]))
    left, right = np.empty(room, np.int64), np.empty(room, np.int64)
    count = _pairing()(vectors.words, starts, i, j, PAIRINGS, left, right)
    if count < 4:
        return 0
    places = [vectors.places[starts[k] : starts[k + 1]].astype(np.float32) for k in (i, j)]
    source = places[0][left[:count] - starts[i]] * PLACE_STEP
    target = places[1][right[:count] - starts[j]] * PLACE_STEP
    found, kept = cv2.estimateAffinePartial2D(
        source, target, method=cv2.RANSAC, ransacReprojThreshold=REPROJECTION, maxIters=1000
    )
    if found is None or kept is None or not _a_copys(found):
        return 0
    return int(kept.sum())


@functools.cache
def _pairing():
    """`_pair_up` compiled by numba (imported and compiled at first use, cached on disk)."""
    import numba

    return numba.njit(cache=True, nogil=True)(_pair_up)


def _pair_up(words, starts, i, j, most, left, right):
    """Into left and right, the positions (in `words`) of each pairing of a keypoint of image
    i with one of image j of the same word, for the words in at most `most` pairings; their
    number. Both images' words are sorted: one merge."""
    a, a_end, b, b_end = starts[i], starts[i + 1], starts[j], starts[j + 1]
    count = 0
    while a < a_end and b < b_end:
        if words[a] < words[b]:
            a += 1
        elif words[a] > words[b]:
            b += 1
        else:
            word, first_a, first_b = words[a], a, b
            while a < a_end and words[a] == word:
                a += 1
            while b < b_end and words[b] == word:
                b += 1
            if (a - first_a) * (b - first_b) <= most:
                for x in range(first_a, a):
                    for y in range(first_b, b):
                        left[count] = x
                        right[count] = y
                        count += 1
    return count


def inliers(a: Keypoints, b: Keypoints) -> int:
    """Matched keypoints the RANSAC similarity keeps (0 where fewer than 8 match, or where
    the transform or the share kept is not a copy's)."""
    import cv2

    if len(a.points) < 8 or len(b.points) < 8:
        return 0
    matches = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(a.descriptors, b.descriptors, k=2)
    good = [m[0] for m in matches if len(m) == 2 and m[0].distance < RATIO * m[1].distance]
    if len(good) < 8:
        return 0
    source = a.points[[m.queryIdx for m in good]]
    target = b.points[[m.trainIdx for m in good]]
    found, kept = cv2.estimateAffinePartial2D(
        source, target, method=cv2.RANSAC, ransacReprojThreshold=5.0, maxIters=1000
    )
    if found is None or kept is None or not _a_copys(found):
        return 0
    count = int(kept.sum())
    if count < SURE_INLIERS and count < MIN_SHARE * len(good):
        return 0
    return count if alike(a, b, found) else 0


def alike(a: Keypoints, b: Keypoints, transform: np.ndarray) -> bool:
    """Whether `a`'s gray image, moved onto `b`'s by the transform, correlates with it at
    least MIN_CORRELATION where they overlap (a copy: 0.96 or more in the tests; crops of one
    texture that the keypoints matched: 0.2). Keypoints without pixels: not checked."""
    import cv2

    if a.pixels is None or b.pixels is None:
        return True
    size = (b.pixels.shape[1], b.pixels.shape[0])
    moved = cv2.warpAffine(a.pixels.astype(np.float32), transform, size)
    inside = cv2.warpAffine(np.ones(a.pixels.shape, np.uint8), transform, size) > 0
    if inside.sum() < MIN_OVERLAP:
        return False
    x, y = moved[inside], b.pixels[inside].astype(np.float32)
    if x.std() == 0 or y.std() == 0:
        return bool(np.allclose(x.mean(), y.mean(), atol=8))
    return float(np.corrcoef(x, y)[0, 1]) >= MIN_CORRELATION


def _a_copys(transform: np.ndarray) -> bool:
    """A rescale of at most 4 in area either way (a similarity: rotation, scale and shift,
    never a mirror)."""
    area = float(np.linalg.det(transform[:2, :2]))
    return 0.25 <= area <= 4.0


def agree(a: Keypoints | None, b: Keypoints | None) -> bool:
    """Whether two images' keypoints make them copies (`inliers`; None: an image that could
    not be read again, no copy)."""
    return a is not None and b is not None and inliers(a, b) >= MIN_INLIERS


def confirm(pairs: np.ndarray, keypoints_of) -> np.ndarray:
    """The candidate pairs whose keypoints agree (`agree`); `keypoints_of[i]`: image i's."""
    kept = [agree(keypoints_of[i], keypoints_of[j]) for i, j in pairs]
    return pairs[np.array(kept, bool)] if len(pairs) else pairs.reshape(0, 2)


def feature_pairs(every: list[Keypoints], seed: int = 0) -> np.ndarray:
    """The (i, j) pairs, i < j, that are copies by their keypoints: candidates by their
    words, kept where their words' places agree (`placed_inliers`), then confirmed."""
    if sum(len(k.points) > 0 for k in every) < 2:
        return np.zeros((0, 2), np.int64)
    words = vocabulary(every, seed)
    found = [words_of(k, words) for k in every]
    vectors = WordVectors.of(found, len(words), [places_of(k) for k in every])
    near = candidates(vectors)
    return confirm(near[placed_inliers(vectors, near) >= MIN_PLACED], every)
