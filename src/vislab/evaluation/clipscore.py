"""CLIPScore (Hessel et al. 2021): how well a caption fits its image, without references.

CLIP-S = 2.5 * max(cos(image embedding, caption embedding), 0), the caption prefixed with
"A photo depicts" as in the paper, per image; the corpus score is the mean. Any CLIP that
`vislab.multimodal.clip.load_clip` reads (a local folder offline).
"""

from __future__ import annotations

import numpy as np

WEIGHT = 2.5
PREFIX = "A photo depicts "


def clip_scores(
    image_paths: list[str], captions: list[str], model: str, batch_size: int = 32
) -> np.ndarray:
    """(n,) CLIP-S of each caption with its image."""
    from vislab.data.images import read_image
    from vislab.multimodal.clip import image_embeddings, load_clip, text_embeddings

    clip = load_clip(model)
    scores = []
    for start in range(0, len(image_paths), batch_size):
        images = [read_image(p) for p in image_paths[start : start + batch_size]]
        texts = [PREFIX + c for c in captions[start : start + batch_size]]
        cosine = (image_embeddings(clip, images) * text_embeddings(clip, texts)).sum(axis=1)
        scores.append(WEIGHT * np.maximum(cosine, 0.0))
    return np.concatenate(scores) if scores else np.zeros(0)
