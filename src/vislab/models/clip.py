"""CLIP models: loading with their own preprocessing, normalised image and text embeddings.

`load_clip(SOURCE)` reads
- transformers: `CLIPModel` and `CLIPProcessor` from a `save_pretrained` folder or a hub name;
  a processor whose crop size or vocabulary does not fit the model is an error;
- open_clip: a folder with `open_clip_config.json` and weights (open_clip's `local-dir:`), or
  `open_clip:SPEC` with SPEC what `open_clip.create_model_and_transforms` takes
  (`hf-hub:laion/...`, `local-dir:PATH`, or `ARCH@PRETRAINED_TAG`); its own eval transform
  and tokenizer.
The preprocessing is always the checkpoint's own, never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vislab.errors import ConfigError

OPEN_CLIP = "open_clip:"


@dataclass
class Clip:
    model: torch.nn.Module
    processor: object  # transformers: a CLIPProcessor; open_clip: (eval transform, tokenizer)
    source: str
    kind: str = "transformers"


def load_clip(source: str) -> Clip:
    if source.startswith(OPEN_CLIP) or (Path(source) / "open_clip_config.json").is_file():
        return _load_open_clip(source)
    return _load_transformers_clip(source)


def _load_open_clip(source: str) -> Clip:
    try:
        import open_clip
    except ImportError as error:
        raise ConfigError(
            f"{source}: open_clip models need the open-clip-torch package."
        ) from error
    spec = source.removeprefix(OPEN_CLIP)
    if Path(spec).is_dir():
        spec = f"local-dir:{spec}"
    name, _, tag = (
        spec.partition("@") if not spec.startswith(("hf-hub:", "local-dir:")) else (spec, "", "")
    )
    try:
        model, _, transform = open_clip.create_model_and_transforms(name, pretrained=tag or None)
        tokenizer = open_clip.get_tokenizer(name)
    except (OSError, RuntimeError, ValueError) as error:
        raise ConfigError(
            f"{source}: open_clip could not load it ({error}). Offline, give a folder "
            "with open_clip_config.json and its weights."
        ) from error
    return Clip(model.eval(), (transform, tokenizer), source, "open_clip")


def _load_transformers_clip(source: str) -> Clip:
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
        raise ConfigError(
            f"{source}: the processor crops images to {crop}, but the model expects "
            f"{size}x{size}; use the processor saved with this checkpoint."
        )
    vocabulary = len(processor.tokenizer)
    if vocabulary > model.config.text_config.vocab_size:
        raise ConfigError(
            f"{source}: the tokenizer has {vocabulary} tokens, the model "
            f"{model.config.text_config.vocab_size}; they do not belong together."
        )


def _features(output) -> torch.Tensor:
    """transformers 5 returns an output object from get_*_features; 4 returned the tensor."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output


def pixel_transform(clip: Clip):
    """PIL image -> (3, H, W) tensor, exactly as the checkpoint's own preprocessing does."""
    if clip.kind == "open_clip":
        return clip.processor[0]

    def transform(image: Image.Image) -> torch.Tensor:
        return clip.processor(images=[image], return_tensors="pt")["pixel_values"][0]

    return transform


def pixel_normalization(clip: Clip) -> tuple[list[float], list[float]]:
    """(mean, std) the checkpoint's preprocessing normalises with (to show its inputs)."""
    if clip.kind == "open_clip":
        for step in getattr(clip.processor[0], "transforms", []):
            if hasattr(step, "mean") and hasattr(step, "std"):
                return list(step.mean), list(step.std)
        return [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]
    images = clip.processor.image_processor
    return list(images.image_mean), list(images.image_std)


def encode_pixels(clip: Clip, pixels: torch.Tensor) -> torch.Tensor:
    """(B, d) image features (not normalised) of preprocessed images (B, 3, H, W)."""
    if clip.kind == "open_clip":
        return clip.model.encode_image(pixels)
    return _features(clip.model.get_image_features(pixel_values=pixels))


@torch.inference_mode()
def image_embeddings(clip: Clip, images: list[Image.Image], batch_size: int = 32) -> np.ndarray:
    """(n, d) L2-normalised image embeddings."""
    transform = pixel_transform(clip)
    chunks = []
    for start in range(0, len(images), batch_size):
        batch = torch.stack([transform(image) for image in images[start : start + batch_size]])
        chunks.append(encode_pixels(clip, batch))
    return _normalised(torch.cat(chunks)) if chunks else np.zeros((0, 0), dtype=np.float32)


def embed_table(clip: Clip, table, batch_size: int = 32) -> np.ndarray:
    """(n, d) float32 L2-normalised embeddings of every image of a table, in row order."""
    from vislab.progress import Progress

    chunks = []
    with Progress(len(table), "embed", "images") as progress:
        for start in range(0, len(table), batch_size):
            images = [table.read(i) for i in range(start, min(start + batch_size, len(table)))]
            chunks.append(image_embeddings(clip, images, batch_size))
            progress.advance(len(images))
    return np.concatenate(chunks).astype(np.float32)


@torch.inference_mode()
def text_embeddings(clip: Clip, texts: list[str], batch_size: int = 256) -> np.ndarray:
    """(n, d) L2-normalised text embeddings."""
    chunks = []
    for start in range(0, len(texts), batch_size):
        if clip.kind == "open_clip":
            chunks.append(
                clip.model.encode_text(clip.processor[1](texts[start : start + batch_size]))
            )
            continue
        batch = clip.processor.tokenizer(
            texts[start : start + batch_size], padding=True, truncation=True, return_tensors="pt"
        )
        chunks.append(_features(clip.model.get_text_features(**batch)))
    return _normalised(torch.cat(chunks))


def _normalised(features: torch.Tensor) -> np.ndarray:
    return torch.nn.functional.normalize(features.float(), dim=-1).numpy()


def logit_scale(clip: Clip) -> float:
    return float(clip.model.logit_scale.detach().exp())


class ClipClassifier(torch.nn.Module):
    """CLIP's image encoder and a linear head on its L2-normalised image embedding:
    images (B, 3, H, W), preprocessed by `pixel_transform`, to logits (B, K).

    Zero-shot coding is the head whose weights are the classes' text embeddings times CLIP's
    logit scale; a linear probe is the head a logistic regression fitted."""

    def __init__(self, clip: Clip, weight: np.ndarray, bias: np.ndarray | None = None) -> None:
        super().__init__()
        self.clip = clip
        self.encoder = clip.model
        self.head = torch.nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            self.head.weight.copy_(torch.as_tensor(weight, dtype=torch.float32))
            self.head.bias.copy_(
                torch.as_tensor(
                    np.zeros(len(weight)) if bias is None else bias, dtype=torch.float32
                )
            )

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        features = encode_pixels(self.clip, pixels).float()
        return self.head(torch.nn.functional.normalize(features, dim=-1))

    def cam_layer(self) -> tuple[torch.nn.Module, int] | None:
        """The vision transformer's last block's first norm and its prefix tokens, for class
        activation maps (None for a convolutional CLIP: its feature maps serve)."""
        if self.clip.kind == "open_clip":
            blocks = getattr(getattr(self.encoder.visual, "transformer", None), "resblocks", None)
            return (blocks[-1].ln_1, 1) if blocks is not None else None
        return self.encoder.vision_model.encoder.layers[-1].layer_norm1, 1
