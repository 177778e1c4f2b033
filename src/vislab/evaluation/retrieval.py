"""Image-text retrieval: recall@1/5/10 in both directions, with bootstrap intervals.

image -> text: an image's query succeeds at k when one of its own captions is among the k
captions most similar to it; text -> image: a caption's query succeeds when its image is among
the k most similar images. Ranks count strictly more similar items (ties favour the query).
Intervals resample images; a caption goes with its image. The gallery is not resampled: ranks
are those in the whole set, as retrieval benchmarks report them. The similarities come from any
model (CLIP in vislab); this module holds the ranking and the metrics.
"""

from __future__ import annotations

import numpy as np

from vislab.evaluation.intervals import WeightedEvaluator, bootstrap_record, metric_entries

KS = (1, 5, 10)


def ranks(similarity: np.ndarray, owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n,) image->text and (m,) text->image ranks (0 = best) from (n images, m captions) scores."""
    images = np.arange(similarity.shape[0])
    own = np.where(owner[None, :] == images[:, None], similarity, -np.inf)
    best_own = own.max(axis=1)
    image_to_text = (similarity > best_own[:, None]).sum(axis=1)
    correct = similarity[owner, np.arange(similarity.shape[1])]
    text_to_image = (similarity > correct[None, :]).sum(axis=0)
    return image_to_text, text_to_image


class RetrievalEvaluator(WeightedEvaluator):
    """The `Evaluator` of retrieval: recall@k both ways for image weights (captions follow
    their image)."""

    def __init__(self, similarity: np.ndarray, owner: np.ndarray) -> None:
        super().__init__(similarity.shape[0])
        self.owner = owner
        image_ranks, text_ranks = ranks(similarity, owner)
        self.hits = {}
        for k in KS:
            self.hits[f"image_to_text_recall@{k}"] = ((image_ranks < k).astype(float), None)
            self.hits[f"text_to_image_recall@{k}"] = ((text_ranks < k).astype(float), owner)
        self.names = list(self.hits)

    @property
    def cells(self) -> int:
        return self.count + len(self.owner)

    def metrics(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        result = {}
        for name, (hit, by) in self.hits.items():
            per_query = weights if by is None else weights[:, by]
            with np.errstate(invalid="ignore", divide="ignore"):
                result[name] = (per_query @ hit) / per_query.sum(axis=1)
        return result


def recall_metrics(
    similarity: np.ndarray,
    owner: np.ndarray,
    bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict:
    """retrieval.json's content for (n images, m captions) similarities; `owner` (m,) gives
    each caption's image."""
    evaluator = RetrievalEvaluator(similarity, owner)
    metrics, _, _ = metric_entries(evaluator, bootstrap, confidence, seed)
    return {
        "task": "retrieval",
        "n": evaluator.n,
        "captions": int(similarity.shape[1]),
        "metrics": metrics,
        "bootstrap": bootstrap_record(bootstrap, confidence, seed),
    }
