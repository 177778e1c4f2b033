"""The keypoint path's parts against their references: Hamming distances against the bits
compared one by one, the two-level word of a descriptor against a brute-force search of its
cell, the tf-idf vectors and their cosines against scikit-learn's, the candidate search
finding planted near copies among thousands of images without comparing every pair, and the
check of the words' places: its pairings against every pair of keypoints enumerated, a moved,
rescaled and turned crop kept and unrelated images dropped."""

from __future__ import annotations

import numpy as np
import pytest

from vislab.data import local_features as features
from vislab.data import word_vectors


def _bits_apart(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (np.unpackbits(a, axis=-1)[:, None] != np.unpackbits(b, axis=-1)[None]).sum(-1)


@pytest.mark.parametrize("seed", range(5))
def test_hamming_counts_the_bits_that_differ(seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (40, 32), dtype=np.uint8)
    b = rng.integers(0, 256, (30, 32), dtype=np.uint8)
    b[0], a[0] = 255, 0  # all 256 bits differ: more than one byte holds
    found = features._hamming(a[:, None], b[None])
    np.testing.assert_array_equal(found, _bits_apart(a, b))
    assert found[0, 0] == 256


def test_a_descriptors_word_is_the_nearest_of_its_nearest_cells_words():
    rng = np.random.default_rng(0)
    centres = rng.integers(0, 256, (300, 32), dtype=np.uint8)
    noise = rng.random((300 * 40, 256)) < 0.08  # descriptors near the centres, as ORB's
    near = np.unpackbits(np.repeat(centres, 40, axis=0), axis=1) ^ noise
    descriptors = np.packbits(near.astype(np.uint8), axis=1)
    found = [
        features.Keypoints(np.zeros((400, 2), np.float32), d)
        for d in descriptors.reshape(30, 400, 32)
    ]
    words = features.vocabulary(found, seed=1)
    assert len(words) == features.COARSE * features.FINE
    every = np.concatenate([features.words_of(k, words) for k in found])
    cells = _bits_apart(descriptors, words.coarse).argmin(axis=1)
    for k in rng.choice(len(descriptors), 300, replace=False):
        apart = _bits_apart(descriptors[k : k + 1], words.fine[cells[k]])[0]
        assert every[k] // features.FINE == cells[k]
        assert apart[every[k] % features.FINE] == apart.min()
    # k-majority centres sit on the clusters: a descriptor is near its word's centre
    fine = words.fine.reshape(-1, 32)[every]
    assert np.median(features._hamming(descriptors, fine)) <= 0.12 * 256


@pytest.mark.parametrize("seed", range(6))
def test_tfidf_vectors_are_scikit_learns(seed, monkeypatch):
    from sklearn.feature_extraction.text import TfidfTransformer

    monkeypatch.setattr(word_vectors, "FIRST_WORDS", 7)  # word lists grown many times ...
    monkeypatch.setattr(word_vectors, "CHUNK", 13)  # ... and vectors made in chunks

    rng = np.random.default_rng(seed)
    size = int(rng.integers(20, 300))
    words = [rng.integers(0, size, rng.integers(0, 60)).astype(np.uint16) for _ in range(80)]
    counts = np.zeros((len(words), size))
    for row, found in enumerate(words):
        np.add.at(counts[row], found, 1)
    expected = TfidfTransformer(sublinear_tf=True).fit_transform(counts).toarray()
    np.testing.assert_allclose(word_vectors.tfidf(words, size).toarray(), expected, atol=1e-6)
    left, right = rng.integers(0, len(words), (2, 200))
    exact = word_vectors.WordVectors.of(words, size).cosines(left, right)
    np.testing.assert_allclose(exact, (expected[left] * expected[right]).sum(axis=1), atol=1e-6)
    monkeypatch.setattr(word_vectors, "DENSE_ROWS", 9)  # projected a few images at a time
    across = np.random.default_rng(4).standard_normal((size, word_vectors.PROJECTED))
    projected = word_vectors.projection(word_vectors.WordVectors.of(words, size), seed=4)
    np.testing.assert_allclose(projected(3, 71), expected[3:71] @ across, atol=1e-4)


def test_candidates_find_planted_copies_among_thousands_and_their_cosines_are_exact(monkeypatch):
    from vislab.data import exact_neighbours

    asked = []  # the words are searched exactly at every size (an inverted file loses crops)
    search = exact_neighbours.exact_nearest
    monkeypatch.setattr(
        exact_neighbours, "exact_nearest", lambda *a: asked.append(a[1:3]) or search(*a)
    )
    rng = np.random.default_rng(3)
    size, count = features.COARSE * features.FINE, 3000
    words = [rng.integers(0, size, 500).astype(np.uint16) for _ in range(count)]
    planted = [(int(a), count + k) for k, a in enumerate(rng.choice(count, 60, replace=False))]
    for original, _ in planted:  # a crop: half its words, and as many others
        kept = rng.choice(words[original], 250, replace=False)
        words.append(np.concatenate([kept, rng.integers(0, size, 250)]).astype(np.uint16))
    pairs = word_vectors.candidates(word_vectors.WordVectors.of(words, size))
    found = {tuple(p) for p in pairs.tolist()}
    assert all(p in found for p in planted)
    vectors = word_vectors.tfidf(words, size)
    cosine = np.asarray(vectors[pairs[:, 0]].multiply(vectors[pairs[:, 1]]).sum(axis=1)).ravel()
    assert (cosine >= word_vectors.MIN_SIMILARITY).all()
    assert (pairs[:, 0] < pairs[:, 1]).all() and len(np.unique(pairs, axis=0)) == len(pairs)
    assert len(pairs) <= word_vectors.NEIGHBOURS * len(words)
    assert asked == [(len(words), word_vectors.SEARCHED)]


def test_word_lists_go_on_growing_after_their_vectors_were_taken():
    lists = word_vectors.WordLists(5, placed=True)
    lists.add(np.array([3, 1, 3]), np.array([[7, 8], [1, 2], [9, 9]]))
    first = lists.vectors()
    lists.add(np.array([4, 0]), np.array([[4, 4], [0, 5]]))
    lists.add(np.zeros(0), np.zeros((0, 2)))
    second = lists.vectors()
    assert first.words.tolist() == [1, 3, 3] and first.starts.tolist() == [0, 3]
    assert second.words.tolist() == [1, 3, 3, 0, 4] and second.starts.tolist() == [0, 3, 5, 5]
    assert first.places[0:3].tolist() == [[1, 2], [7, 8], [9, 9]]  # each word keeps its place
    assert second.places[0:5].tolist() == [[1, 2], [7, 8], [9, 9], [0, 5], [4, 4]]
    assert second.places[3:].tolist() == [[0, 5], [4, 4]] and len(second.places) == 5
    with pytest.raises(ValueError, match="1 for 2 words"):
        lists.add(np.array([1, 2]), np.array([[1, 1]]))
    with pytest.raises(ValueError, match="every image's words, or never"):
        lists.add(np.array([1, 2]))


def _placed_image(rng, count: int, size: int):
    return rng.integers(0, size, count).astype(np.uint16), rng.uniform(20, 230, (count, 2))


@pytest.mark.parametrize("seed", range(4))
def test_pairings_are_every_pair_of_keypoints_of_a_shared_word_not_too_common(seed):
    rng = np.random.default_rng(seed)
    size = int(rng.integers(3, 60))
    images = [_placed_image(rng, int(rng.integers(0, 80)), size) for _ in range(6)]
    vectors = word_vectors.WordVectors.of(
        [w for w, _ in images], size, [np.round(p).astype(np.uint8) for _, p in images]
    )
    for i, j in rng.integers(0, len(images), (10, 2)):
        (a, b), (c, d) = vectors.starts[[i, i + 1]], vectors.starts[[j, j + 1]]
        room = features.PAIRINGS * max(1, min(b - a, d - c))
        left, right = np.empty(room, np.int64), np.empty(room, np.int64)
        found = features._pairing()(vectors.words, vectors.starts, i, j, 4, left, right)
        words = vectors.words
        expected = {
            (x, y)
            for x in range(a, b)
            for y in range(c, d)
            if words[x] == words[y]
            and (words[a:b] == words[x]).sum() * (words[c:d] == words[x]).sum() <= 4
        }
        assert sorted(zip(left[:found].tolist(), right[:found].tolist(), strict=True)) == sorted(
            expected
        )


def test_a_moved_rescaled_turned_copys_places_agree_and_unrelated_images_do_not():
    rng = np.random.default_rng(5)
    size = features.COARSE * features.FINE
    images = [_placed_image(rng, 600, size) for _ in range(40)]
    words, places = images[0]
    kept = rng.choice(len(words), 300, replace=False)  # a crop: half its keypoints ...
    angle, scale, shift = np.radians(12), 1.3, np.array([-40.0, 25.0])
    turn = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = (places[kept] - 128) @ turn.T + 128 + shift + rng.normal(0, 1, (300, 2))
    inside = (moved >= 0).all(axis=1) & (moved < 320).all(axis=1)
    copy_words = np.concatenate([words[kept][inside], rng.integers(0, size, 300)])
    copy_places = np.concatenate([moved[inside], rng.uniform(0, 320, (300, 2))])  # ... and others
    images.append((copy_words.astype(np.uint16), copy_places))
    vectors = word_vectors.WordVectors.of(
        [w for w, _ in images],
        size,
        [features.places_of(features.Keypoints(p, np.zeros((len(p), 32)))) for _, p in images],
    )
    unrelated = np.array([(i, j) for i in range(40) for j in range(i + 1, 40)])
    inliers = features.placed_inliers(vectors, np.vstack([[0, 40], unrelated]))
    assert inliers[0] >= 0.9 * inside.sum() and inside.sum() > 150
    assert (inliers[1:] < features.MIN_PLACED).all(), inliers[1:].max()
