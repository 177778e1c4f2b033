"""The exact search over all pairs (data/exact_neighbours.py) against the sorted products of
every pair, for both kinds of product, on tiles small enough that every path is taken."""

import numpy as np
import pytest
import torch

from vislab.data import exact_neighbours
from vislab.data.neighbours import unit_vectors


def brute_force(vectors: np.ndarray) -> np.ndarray:
    """Every pair's product (of the vectors as stored: bfloat16), a vector's own at -inf."""
    stored = torch.from_numpy(vectors).bfloat16().float().numpy().astype(np.float64)
    products = stored @ stored.T  # in float64: the reference, not another float32 rounding
    np.fill_diagonal(products, -np.inf)
    return products


@pytest.mark.parametrize("kind", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("seed", range(12))
def test_each_vector_gets_the_best_others_of_all_pairs(monkeypatch, kind, seed):
    rng = np.random.default_rng(seed)
    total, count = int(rng.integers(1, 700)), int(rng.integers(1, 40))
    monkeypatch.setattr(exact_neighbours, "product_type", lambda: kind)
    monkeypatch.setattr(exact_neighbours, "ROWS", int(rng.integers(1, 200)))
    monkeypatch.setattr(exact_neighbours, "COLUMNS", int(rng.integers(1, 100)))
    monkeypatch.setattr(exact_neighbours, "CHUNK", int(rng.integers(1, 300)))
    vectors = unit_vectors(rng.standard_normal((total, int(rng.integers(2, 40)))))
    vectors[rng.integers(0, total, 3)] = vectors[0]  # equal vectors: the others, never itself
    asked = []
    index, similarity = exact_neighbours.exact_nearest(
        lambda a, b: asked.append((a, b)) or vectors[a:b], total, count
    )
    assert sorted(asked) == asked and sum(b - a for a, b in asked) == total  # each once
    products = brute_force(vectors)
    found = min(count, total - 1)
    assert (index[:, found:] == -1).all() and np.isnan(similarity[:, found:]).all()
    index, similarity = index[:, :found], similarity[:, :found]
    rows = np.arange(total)[:, None]
    assert (index >= 0).all() and (index != rows).all()
    assert all(len(set(r)) == found for r in index.tolist())
    assert (np.diff(similarity, axis=1) <= 0).all()
    expected = -np.sort(-products, axis=1)[:, :found]
    if kind == torch.float32:  # the products to float32's rounding (another BLAS may round
        # the last bit of a sum otherwise), the best but for ties within that rounding
        np.testing.assert_allclose(similarity, products[rows, index], rtol=0, atol=1e-6)
        np.testing.assert_allclose(similarity, expected, rtol=0, atol=1e-6)
    else:  # products rounded to bfloat16: equal to 3 digits, the best but for near-ties
        np.testing.assert_allclose(similarity, products[rows, index], atol=2**-8)
        np.testing.assert_allclose(similarity, expected, atol=2**-8)


def test_the_product_kind_is_one_torch_multiplies():
    assert exact_neighbours.product_type() in (torch.float32, torch.bfloat16)
