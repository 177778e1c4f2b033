"""Nearest images by embedding (data/neighbours.py) against scikit-learn's exact search, the
approximate index's recall against the exact one, outliers injected into digits found, and the
groups of the map (data/collection_map.py) against a plain reading of their definition."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.neighbors import NearestNeighbors

from vislab.data import collection_map, neighbours


@pytest.mark.parametrize("seed", range(6))
def test_the_neighbours_are_scikit_learns_exact_cosine_neighbours(seed, monkeypatch):
    monkeypatch.setattr(neighbours, "CHUNK", 37)  # vectors added and searched in chunks
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(int(rng.integers(20, 300)), int(rng.integers(2, 40))))
    vectors[5] = vectors[3] * 2.0  # one pair at similarity 1 (the same direction)
    found = neighbours.nearest(vectors, 7)
    reference = NearestNeighbors(n_neighbors=9, metric="cosine").fit(vectors)
    distance, index = reference.kneighbors(vectors)
    rows = np.arange(len(vectors))
    others = index != rows[:, None]  # the reference lists each image itself (first, or tied)
    others[others.all(axis=1), -1] = False
    index, distance = index[others].reshape(-1, 8), distance[others].reshape(-1, 8)
    np.testing.assert_allclose(found.similarity, 1 - distance[:, :7], atol=1e-5)
    assert not (found.index == rows[:, None]).any()  # never an image itself
    ties = np.abs(np.diff(distance, axis=1)).min(axis=1) < 1e-6  # the order of equals is free
    assert (found.index[~ties] == index[~ties, :7]).all()
    assert 5 in found.index[3] and 3 in found.index[5]
    assert {tuple(p) for p in neighbours.similar_pairs(found, 0.999)} >= {(3, 5)}


def test_a_collection_smaller_than_the_neighbours_asked_for_pads_them():
    found = neighbours.nearest(np.eye(3), 5)
    assert found.index.shape == (3, 5) and (found.index[:, 2:] == -1).all()
    assert np.isnan(found.similarity[:, 2:]).all()
    assert np.isfinite(neighbours.distances(found)).all()


def test_the_approximate_index_finds_nearly_all_exact_neighbours(monkeypatch):
    vectors = load_digits().data
    exact = neighbours.nearest(vectors, 10)
    monkeypatch.setattr(neighbours, "EXACT_UP_TO", 100)  # an inverted file from 100 images ...
    monkeypatch.setattr(neighbours, "CHUNK", 300)  # ... fed and searched 300 at a time
    approximate = neighbours.nearest(vectors, 10)
    hits = [len(set(a) & set(e)) for a, e in zip(approximate.index, exact.index, strict=True)]
    assert np.mean(hits) / 10 >= 0.95


def test_images_unlike_the_collection_are_its_outliers():
    """Noise images among the digits: all above the outlier limit; of the digits, few."""
    rng = np.random.default_rng(0)
    digits = load_digits().data
    noise = rng.uniform(0, 16, (12, digits.shape[1]))
    distance = neighbours.distances(neighbours.nearest(np.vstack([digits, noise]), 10))
    outlier = distance > neighbours.outlier_limit(distance)
    assert outlier[len(digits) :].all()
    assert outlier[: len(digits)].mean() < 0.02


def test_groups_are_numbered_by_size_with_their_nearest_images_as_exemplars():
    import pandas as pd

    digits = load_digits()
    group, distance = collection_map.groups(digits.data, 10, seed=0)
    sizes = np.bincount(group)[1:]
    assert group.min() == 1 and (np.diff(sizes) <= 0).all()
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(digits.target, group) > 0.5  # the groups follow the digits
    chosen = collection_map.exemplars(group, distance, 8)
    frame = pd.DataFrame({"group": group, "distance": distance})
    expected = frame.sort_values(["group", "distance"], kind="stable").groupby("group").head(8)
    assert set(np.flatnonzero(chosen)) == set(expected.index)
    assert collection_map.group_count(1797) == 30 and collection_map.group_count(5) == 2
