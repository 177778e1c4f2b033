"""CLIPScore (Hessel et al. 2021): how well a caption fits its image, without references.

CLIP-S = 2.5 * max(cos(image embedding, caption embedding), 0), the caption prefixed with
"A photo depicts" as in the paper, per image; the corpus score is the mean. The embeddings come
from any CLIP (`vislab.models.clip`); this module holds the formula only.
"""

from __future__ import annotations

import numpy as np

WEIGHT = 2.5
PREFIX = "A photo depicts "


def caption_prompts(captions: list[str]) -> list[str]:
    """The texts CLIP embeds for CLIPScore: each caption after the paper's prefix."""
    return [PREFIX + caption for caption in captions]


def clip_scores(image_embeddings: np.ndarray, text_embeddings: np.ndarray) -> np.ndarray:
    """(n,) CLIP-S of each image with its caption, from L2-normalised embeddings (n, d) each."""
    cosine = (np.asarray(image_embeddings) * np.asarray(text_embeddings)).sum(axis=1)
    return WEIGHT * np.maximum(cosine, 0.0)
