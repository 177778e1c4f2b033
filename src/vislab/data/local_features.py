"""Near copies that a hash misses: crops, colour and brightness changes (`vislab data inspect`).

Each image's ORB keypoints (OpenCV: corners with binary descriptors of the gray image, so blind
to colour) at SIDE px on its longer side; the descriptors quantised to WORDS visual words learnt
from a sample of the collection's (k-means on their bits); each image a tf-idf vector of its
words (sublinear counts, rare words weigh more), the bag-of-words retrieval of Sivic and
Zisserman. Each image's NEIGHBOURS most similar others by cosine, at least MIN_SIMILARITY, are
its candidates, and a candidate is a copy when a similarity transform (rotation, scale, shift)
fitted by RANSAC to the two images' matched keypoints (Lowe's ratio test) keeps at least
MIN_INLIERS of them and MIN_SHARE of the matches (or SURE_INLIERS), rescaling at most 4 times in
area, and the two gray images, overlaid by it, correlate at least MIN_CORRELATION: the same
scene seen through a crop, a rescale or a colour change, not two photos that merely share a
repeating texture (grass, whose blades the keypoints match, correlates at about 0.2).
The similarities go in chunks of images: memory grows with the chunk, not with N x N.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

SIDE = 320  # px: the longer side keypoints are found at
FEATURES = 800  # keypoints kept per image at most
WORDS = 512  # visual words
NEIGHBOURS = 10  # candidates per image
MIN_SIMILARITY = 0.3  # cosine of the tf-idf vectors, for a candidate
MIN_INLIERS = 20  # keypoints the RANSAC transform keeps, for a copy
RATIO = 0.8  # Lowe's ratio test
MIN_SHARE = 0.6  # of the ratio-tested matches the transform keeps, for a copy ...
SURE_INLIERS = 60  # ... unless it keeps at least this many
MIN_CORRELATION = 0.8  # of the two gray images where the transform overlays them, for a copy
MIN_OVERLAP = 400  # px of that overlay
CHUNK = 2048  # images whose similarities are computed at a time
SAMPLE = 100_000  # descriptors the words are learnt from at most


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


def vocabulary(every: list[Keypoints], seed: int = 0) -> np.ndarray:
    """WORDS visual words (k-means centres of the descriptors' bits, from at most SAMPLE)."""
    from sklearn.cluster import MiniBatchKMeans

    bits = np.concatenate([np.unpackbits(k.descriptors, axis=1) for k in every if len(k.points)])
    rng = np.random.default_rng(seed)
    if len(bits) > SAMPLE:
        bits = bits[rng.choice(len(bits), SAMPLE, replace=False)]
    words = min(WORDS, len(bits))
    fitted = MiniBatchKMeans(words, init="random", random_state=seed, n_init=1, batch_size=4096)
    return fitted.fit(bits.astype(np.float32)).cluster_centers_.astype(np.float32)


def words_of(found: Keypoints, centres: np.ndarray) -> np.ndarray:
    """The visual word of each of an image's keypoints (uint16)."""
    from sklearn.metrics import pairwise_distances_argmin

    if not len(found.points):
        return np.zeros(0, np.uint16)
    bits = np.unpackbits(found.descriptors, axis=1).astype(np.float32)
    return pairwise_distances_argmin(bits, centres).astype(np.uint16)


def tfidf(words: list[np.ndarray], vocabulary: int):
    """Per image its tf-idf vector of visual words (sublinear counts; rows of unit length,
    scipy sparse), from each image's word ids."""
    from scipy.sparse import csr_matrix
    from sklearn.feature_extraction.text import TfidfTransformer

    rows = np.repeat(np.arange(len(words)), [len(w) for w in words])
    columns = np.concatenate(words).astype(np.int64) if words else np.zeros(0, np.int64)
    counts = csr_matrix((np.ones(len(rows)), (rows, columns)), shape=(len(words), vocabulary))
    return TfidfTransformer(sublinear_tf=True).fit_transform(counts).tocsr()


def candidates(vectors, neighbours: int = NEIGHBOURS, least: float = MIN_SIMILARITY):
    """(i, j) pairs, i < j, where j is among i's `neighbours` most similar images (or i among
    j's), at cosine `least` or more."""
    found = []
    for start in range(0, vectors.shape[0], CHUNK):
        block = (vectors[start : start + CHUNK] @ vectors.T).toarray()
        rows = np.arange(start, start + block.shape[0])
        block[np.arange(block.shape[0]), rows] = -1.0  # not itself
        top = np.argsort(-block, axis=1)[:, :neighbours]
        similar = np.take_along_axis(block, top, axis=1) >= least
        pairs = np.column_stack([np.repeat(rows, neighbours), top.ravel()])[similar.ravel()]
        found.append(np.sort(pairs, axis=1))
    if not found:
        return np.zeros((0, 2), np.int64)
    return np.unique(np.concatenate(found), axis=0)


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


def confirm(pairs: np.ndarray, keypoints_of) -> np.ndarray:
    """The candidate pairs whose keypoints agree (`inliers`); `keypoints_of[i]`: image i's."""
    kept = [inliers(keypoints_of[i], keypoints_of[j]) >= MIN_INLIERS for i, j in pairs]
    return pairs[np.array(kept, bool)] if len(pairs) else pairs.reshape(0, 2)


def feature_pairs(every: list[Keypoints], seed: int = 0) -> np.ndarray:
    """The (i, j) pairs, i < j, that are copies by their keypoints."""
    if sum(len(k.points) > 0 for k in every) < 2:
        return np.zeros((0, 2), np.int64)
    centres = vocabulary(every, seed)
    vectors = tfidf([words_of(k, centres) for k in every], len(centres))
    return confirm(candidates(vectors), every)
