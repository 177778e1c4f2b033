"""A map of the collection (`vislab data inspect`): the images laid out in two dimensions by
UMAP on their nearest-neighbour graph (the one the inspection already searched, so no second
search), and grouped by k-means on their embeddings, each group with the images nearest its
centre as exemplars — what a researcher looks through to write a codebook.
"""

from __future__ import annotations

import numpy as np

from vislab.data.neighbours import Neighbours, unit_vectors

SMALLEST_MAP = 16  # images: fewer, no layout (UMAP needs a neighbourhood to work with)
EXEMPLARS = 8  # per group


def layout(neighbours: Neighbours, seed: int = 0) -> np.ndarray | None:
    """(n, 2) coordinates, UMAP on the cosine k-NN graph (each image with itself first, as
    UMAP's own search gives it); None for fewer than SMALLEST_MAP images."""
    total, count = neighbours.index.shape
    if total < SMALLEST_MAP:
        return None
    import warnings

    import umap

    index = np.column_stack([np.arange(total), neighbours.index])
    distance = np.column_stack([np.zeros(total), 1.0 - neighbours.similarity])
    missing = index < 0  # fewer neighbours than asked: UMAP reads -1 as no edge
    distance[missing] = np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # n_jobs overridden by random_state; no search index
        model = umap.UMAP(
            n_neighbors=count + 1,
            metric="cosine",
            precomputed_knn=(index, distance.astype(np.float32), None),
            random_state=seed,
            init="spectral",
        )
        return model.fit_transform(np.zeros((total, 1), np.float32)).astype(np.float32)


def group_count(total: int) -> int:
    """Groups for a collection of `total` images: about sqrt(n / 2), from 2 to 30."""
    return int(np.clip(round(np.sqrt(total / 2)), 2, 30))


def groups(vectors: np.ndarray, count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """k-means groups of the unit embeddings, numbered from 1 by size (largest first), and each
    image's cosine distance to its group's centre."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    unit = unit_vectors(vectors)
    count = min(count, len(unit))
    kind = KMeans if len(unit) <= 20_000 else MiniBatchKMeans
    model = kind(n_clusters=count, n_init=3, random_state=seed).fit(unit)
    found = model.labels_
    order = np.argsort(-np.bincount(found, minlength=count), kind="stable")
    renumbered = np.empty(count, np.int64)
    renumbered[order] = np.arange(1, count + 1)
    centres = unit_vectors(model.cluster_centers_)
    distance = 1.0 - np.einsum("ij,ij->i", unit, centres[found])
    return renumbered[found], distance.astype(np.float32)


def exemplars(group: np.ndarray, distance: np.ndarray, most: int = EXEMPLARS) -> np.ndarray:
    """Whether each image is one of the `most` nearest its group's centre."""
    order = np.lexsort((distance, group))
    rank = np.empty(len(group), np.int64)
    starts = np.r_[0, np.flatnonzero(np.diff(group[order])) + 1]
    sizes = np.diff(np.r_[starts, len(order)])
    rank[order] = np.arange(len(order)) - np.repeat(starts, sizes)
    return rank < most
