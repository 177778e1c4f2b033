"""Image-text retrieval with CLIP: recall@1/5/10 in both directions, with bootstrap intervals.

image -> text: an image's query succeeds at k when one of its own captions is among the k
captions most similar to it; text -> image: a caption's query succeeds when its image is among
the k most similar images. Ranks count strictly more similar items (ties favour the query).
Intervals resample images; a caption goes with its image. The gallery is not resampled: ranks
are those in the whole set, as retrieval benchmarks report them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vislab.evaluation.bootstrap import percentile_interval
from vislab.evaluation.image_groups import weights_stream

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


def recall_metrics(similarity: np.ndarray, owner: np.ndarray, bootstrap: int = 1000,
                   confidence: float = 0.95, seed: int = 0) -> dict:  # fmt: skip
    image_ranks, text_ranks = ranks(similarity, owner)
    count = similarity.shape[0]
    metrics, hits = {}, {}
    for k in KS:
        hits[f"image_to_text_recall@{k}"] = (image_ranks < k, None)
        hits[f"text_to_image_recall@{k}"] = (text_ranks < k, owner)
    draws = {name: [] for name in hits}
    for weights in weights_stream(np.arange(count), count, bootstrap, 1000, seed):
        for name, (hit, by) in hits.items():
            w = weights if by is None else weights[:, by]
            draws[name].append((w @ hit) / w.sum(axis=1))
    for name, (hit, _) in hits.items():
        entry = {"value": float(hit.mean())}
        if bootstrap:
            entry["ci"] = percentile_interval(np.concatenate(draws[name]), confidence)
        metrics[name] = entry
    return {"task": "retrieval", "n": count, "captions": int(similarity.shape[1]), "metrics": metrics,
            "bootstrap": {"resamples": bootstrap, "confidence": confidence, "seed": seed,
                          "method": "percentile", "unit": "images"}}  # fmt: skip


def caption_images(references: str | Path, images: str | Path | None):
    """Image paths and (captions, owner index) from COCO captions (`images` with file_name)."""
    from vislab.errors import InputError
    from vislab.evaluation.captioning_json import load_references

    captions, table = load_references(references)
    if "file_name" not in table.columns and "path" not in table.columns:
        raise InputError(f"{references}: retrieval needs each image's file: 'file_name' in the COCO "
                         "'images' list, or a 'path' column in a references table.")  # fmt: skip
    base = Path(images) if images else Path(references).resolve().parent
    column = "file_name" if "file_name" in table.columns else "path"
    paths = [str(base / p) for p in table[column].astype(str)]
    texts, owner = [], []
    for index, image_id in enumerate(table["image_id"]):
        for text in captions[image_id]:
            texts.append(text)
            owner.append(index)
    return paths, texts, np.asarray(owner)
