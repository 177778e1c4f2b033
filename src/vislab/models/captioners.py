"""Captioning with BLIP and other transformers image-to-text models, from a folder or the hub.

`load_captioner(NAME_OR_FOLDER)` reads the model (`AutoModelForImageTextToText`: BLIP,
GIT, ...) with its own processor. `generate_captions` runs greedy or beam search with a length
limit and an optional text prompt the captions continue ("a picture of"); the prompt is cut from
the returned text. Output is COCO caption results: `[{"image_id", "caption"}]`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from PIL import Image

from vislab.errors import ConfigError

CAPTIONERS = {  # `transformers:NAME` for captioning runs; `pretrained: hub` loads this checkpoint
    "blip": "Salesforce/blip-image-captioning-base",
    "git": "microsoft/git-base-coco",
}


@dataclass
class Captioner:
    model: torch.nn.Module
    processor: object
    source: str


def load_captioner(source: str) -> Captioner:
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from transformers.utils import logging

    logging.disable_progress_bar()
    try:
        model = AutoModelForImageTextToText.from_pretrained(source).eval()
        processor = AutoProcessor.from_pretrained(source)
    except (OSError, ValueError) as error:
        raise ConfigError(
            f"{source}: no image-to-text model and processor could be loaded ({error}). Offline, "
            "save both with save_pretrained(FOLDER) where there is a network, and give FOLDER."
        ) from error
    return Captioner(model, processor, source)


def load_processor(source: str):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(source)


@torch.inference_mode()
def generate_from_inputs(
    model,
    processor,
    inputs: dict,
    num_beams: int = 3,
    max_length: int = 30,
    prompt: str | None = None,
) -> list[str]:
    """Captions for a batch the processor prepared (`pixel_values`, and the prompt's tokens):
    greedy or beam search, at most `max_length` new tokens, the prompt cut from the text."""
    inputs = {k: v.to(model.device) for k, v in inputs.items()}
    if "pixel_values" in inputs:
        inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
    output = model.generate(**inputs, num_beams=num_beams, max_new_tokens=max_length)
    captions = []
    for text in processor.batch_decode(output, skip_special_tokens=True):
        text = text.strip()
        if prompt and text.lower().startswith(prompt.lower()):
            text = text[len(prompt) :].strip()
        captions.append(text)
    return captions


def prepare_images(processor, images: list[Image.Image], prompt: str | None = None) -> dict:
    """The processor's inputs for a batch of images (and the prompt the captions continue)."""
    text = [prompt] * len(images) if prompt else None
    return dict(processor(images=images, text=text, return_tensors="pt"))


def generate_captions(
    captioner: Captioner,
    images: list[Image.Image],
    num_beams: int = 3,
    max_length: int = 30,
    prompt: str | None = None,
    batch_size: int = 16,
) -> list[str]:
    model, processor = captioner.model.eval(), captioner.processor
    captions = []
    for start in range(0, len(images), batch_size):
        inputs = prepare_images(processor, images[start : start + batch_size], prompt)
        captions += generate_from_inputs(model, processor, inputs, num_beams, max_length, prompt)
    return captions
