"""CLIP from transformers: loading with its own processor, normalised image and text embeddings.

`load_clip(NAME_OR_FOLDER)` reads `CLIPModel` and `CLIPProcessor` from a local folder (written by
`save_pretrained`) or the hub. The processor is the checkpoint's own, never a guess; a processor
whose crop size or vocabulary does not fit the model is an error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from vislab.errors import ConfigError


@dataclass
class Clip:
    model: torch.nn.Module
    processor: object
    source: str


def load_clip(source: str) -> Clip:
    from transformers import CLIPModel, CLIPProcessor
    from transformers.utils import logging

    logging.disable_progress_bar()
    try:
        model = CLIPModel.from_pretrained(source).eval()
        processor = CLIPProcessor.from_pretrained(source)
    except OSError as error:
        raise ConfigError(
            f"{source}: no CLIP model and processor could be loaded ({error}). Offline, save both "
            "with save_pretrained(FOLDER) where there is a network, and give FOLDER."
        ) from error
    check_processor(model, processor, source)
    return Clip(model, processor, source)


def check_processor(model, processor, source: str) -> None:
    crop = processor.image_processor.crop_size
    size = model.config.vision_config.image_size
    if crop and (crop.get("height"), crop.get("width")) != (size, size):
        raise ConfigError(f"{source}: the processor crops images to {crop}, but the model expects "
                          f"{size}x{size}; use the processor saved with this checkpoint.")  # fmt: skip
    vocabulary = len(processor.tokenizer)
    if vocabulary > model.config.text_config.vocab_size:
        raise ConfigError(f"{source}: the tokenizer has {vocabulary} tokens, the model "
                          f"{model.config.text_config.vocab_size}; they do not belong together.")  # fmt: skip


def _features(output) -> torch.Tensor:
    """transformers 5 returns an output object from get_*_features; 4 returned the tensor."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output


@torch.inference_mode()
def image_embeddings(clip: Clip, images: list[Image.Image], batch_size: int = 32) -> np.ndarray:
    """(n, d) L2-normalised image embeddings."""
    chunks = []
    for start in range(0, len(images), batch_size):
        batch = clip.processor(images=images[start : start + batch_size], return_tensors="pt")
        chunks.append(_features(clip.model.get_image_features(pixel_values=batch["pixel_values"])))
    return (
        _normalised(torch.cat(chunks))
        if chunks
        else np.zeros((0, clip.model.config.projection_dim))
    )


@torch.inference_mode()
def text_embeddings(clip: Clip, texts: list[str], batch_size: int = 256) -> np.ndarray:
    """(n, d) L2-normalised text embeddings."""
    chunks = []
    for start in range(0, len(texts), batch_size):
        batch = clip.processor.tokenizer(texts[start : start + batch_size], padding=True,
                                         truncation=True, return_tensors="pt")  # fmt: skip
        chunks.append(_features(clip.model.get_text_features(**batch)))
    return _normalised(torch.cat(chunks))


def _normalised(features: torch.Tensor) -> np.ndarray:
    return torch.nn.functional.normalize(features.float(), dim=-1).numpy()


def logit_scale(clip: Clip) -> float:
    return float(clip.model.logit_scale.detach().exp())
