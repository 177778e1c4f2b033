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
def generate_captions(captioner: Captioner, images: list[Image.Image], num_beams: int = 3,
                      max_length: int = 30, prompt: str | None = None, batch_size: int = 16) -> list[str]:  # fmt: skip
    model, processor = captioner.model.eval(), captioner.processor
    captions = []
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size]
        text = [prompt] * len(batch) if prompt else None
        inputs = processor(images=batch, text=text, return_tensors="pt")
        inputs = {k: v.to(model.device) for k, v in inputs.items()}
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
        output = model.generate(**inputs, num_beams=num_beams, max_new_tokens=max_length)
        for text_out in processor.batch_decode(output, skip_special_tokens=True):
            text_out = text_out.strip()
            if prompt and text_out.lower().startswith(prompt.lower()):
                text_out = text_out[len(prompt) :].strip()
            captions.append(text_out)
    return captions


def caption_source(source: str, model: str, num_beams: int = 3, max_length: int = 30,
                   prompt: str | None = None, batch_size: int = 16) -> tuple[list[dict], dict]:  # fmt: skip
    """`vislab caption`: COCO caption results for a folder or manifest, and what produced them."""
    from vislab.multimodal.embed import readable_source
    from vislab.runs import library_versions

    table = readable_source(source)
    captioner = load_captioner(model)
    images = [table.read(i) for i in range(len(table))]
    captions = generate_captions(captioner, images, num_beams, max_length, prompt, batch_size)
    results = [{"image_id": image_id, "caption": text}
               for image_id, text in zip(table.frame["id"], captions, strict=True)]  # fmt: skip
    record = {"model": model, "source": str(source), "num_beams": num_beams, "max_length": max_length,
              "prompt": prompt, "n": len(results), "versions": library_versions()}  # fmt: skip
    return results, record
