"""DETR-family detectors from transformers, speaking torchvision's detector interface.

`transformers:FAMILY` with FAMILY one of `FAMILIES` (DETR, Conditional DETR, Deformable DETR,
RT-DETR v1/v2). `pretrained`: `none` (the family's default architecture with random weights; a
timm backbone is built without fetching weights), `hub` (the family's reference checkpoint,
class head re-sized to the data), or a local folder written by `save_pretrained` (config.json
and weights; a `preprocessor_config.json` beside them sets the normalisation).

The wrapper takes what torchvision detectors take — a list of float images in [0, 1], and in
training targets with `boxes` (xyxy pixels) and `labels` (1..K, 0 is background) — and returns
what they return: a dict of losses, or per image `boxes`, `labels`, `scores`. Images are resized
as the family's own processor does: DETR-style models keep the aspect ratio (longer side =
image_size), pad and pass a pixel mask, with boxes relative to the unpadded image; RT-DETR
resizes to a square and does not normalise. Predictions are the family's own image processor's
`post_process_object_detection` (softmax without the no-object class for DETR, sigmoid top-k
over queries x classes for the focal-loss families), the 100 best per image kept.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from vislab.errors import ConfigError, InputError

PREFIX = "transformers:"
FAMILIES = {
    "detr": "facebook/detr-resnet-50",
    "conditional_detr": "microsoft/conditional-detr-resnet-50",
    "deformable_detr": "SenseTime/deformable-detr",
    "rt_detr": "PekingU/rtdetr_r18vd",
    "rt_detr_v2": "PekingU/rtdetr_v2_r18vd",
}
SQUARE_RESIZE = ("rt_detr", "rt_detr_v2")  # their processors resize to a square, no padding
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
MAX_DETECTIONS = 100


def is_transformers_detector(backbone: str) -> bool:
    return backbone.startswith(PREFIX) and backbone.removeprefix(PREFIX) in FAMILIES


def create_transformers_detector(
    backbone: str, num_classes: int, pretrained: str, image_size: int
) -> TransformersDetector:
    family = backbone.removeprefix(PREFIX)
    if pretrained == "none":
        model = _random_model(family, num_classes)
        normalize = _family_normalization(family)
    else:
        source = FAMILIES[family] if pretrained == "hub" else _local_folder(pretrained)
        model = _pretrained_model(source, num_classes)
        normalize = _processor_normalization(source, family)
    if model.config.model_type != family:
        raise ConfigError(
            f"model.pretrained: {pretrained} holds a '{model.config.model_type}' model, but "
            f"model.backbone is {backbone}; set model.backbone: {PREFIX}{model.config.model_type}."
        )
    return TransformersDetector(model, image_size, normalize)


def _random_model(family: str, num_classes: int) -> nn.Module:
    from transformers import AutoConfig, AutoModelForObjectDetection

    config = AutoConfig.for_model(family, num_labels=num_classes)
    return AutoModelForObjectDetection.from_config(_without_backbone_download(config))


def _without_backbone_download(config):
    """Random weights mean no download at all: the checkpoint (or nothing) sets the weights."""
    for part in (config, getattr(config, "backbone_config", None)):
        if part is not None and getattr(part, "use_pretrained_backbone", False):
            part.use_pretrained_backbone = False
    return config


def _pretrained_model(source: str, num_classes: int) -> nn.Module:
    from transformers import AutoModelForObjectDetection
    from transformers.utils import logging

    logging.disable_progress_bar()
    try:
        return AutoModelForObjectDetection.from_pretrained(
            source, num_labels=num_classes, ignore_mismatched_sizes=True
        )
    except OSError as error:
        raise ConfigError(
            f"model.pretrained: could not load '{source}' ({error}). Offline, save the model "
            "with save_pretrained(FOLDER) on a machine with a network and set "
            "model.pretrained: FOLDER."
        ) from error


def _local_folder(pretrained: str) -> str:
    folder = Path(pretrained)
    if not (folder / "config.json").is_file():
        raise ConfigError(
            f"model.pretrained: {pretrained} is not a folder with config.json; for transformers "
            "detectors give none, hub, or a folder written by save_pretrained()."
        )
    return str(folder)


def _family_normalization(family: str) -> tuple | None:
    return None if family in SQUARE_RESIZE else IMAGENET


def _processor_normalization(source: str, family: str) -> tuple | None:
    """The checkpoint's own preprocessor settings where it has them, else the family's."""
    path = Path(source) / "preprocessor_config.json"
    if not path.is_file():
        return _family_normalization(family)
    settings = json.loads(path.read_text())
    if not settings.get("do_normalize", True):
        return None
    return tuple(settings.get("image_mean", IMAGENET[0])), tuple(
        settings.get("image_std", IMAGENET[1])
    )


def model_from_config(config_dict: dict) -> nn.Module:
    """The architecture of a saved run (its config.json), random weights, nothing fetched."""
    from transformers import AutoConfig, AutoModelForObjectDetection

    settings = dict(config_dict)
    family = settings.pop("model_type", None)
    if family not in FAMILIES:
        raise InputError(
            f"detector.json: model_type {family!r} is not a DETR family vislab builds "
            f"({', '.join(FAMILIES)}); the run folder is damaged or not vislab's."
        )
    settings.pop("auto_map", None)  # a run's architecture is transformers' own code, never a hub's
    config = AutoConfig.for_model(family, **settings)
    return AutoModelForObjectDetection.from_config(_without_backbone_download(config))


class TransformersDetector(nn.Module):
    """A transformers object-detection model behind torchvision's detector interface."""

    def __init__(self, model: nn.Module, image_size: int, normalize: tuple | None) -> None:
        super().__init__()
        self.model = model.train()  # from_pretrained hands models over in eval mode
        self.image_size = image_size
        self.square = model.config.model_type in SQUARE_RESIZE
        mean, std = normalize if normalize else ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
        self.register_buffer("mean", torch.tensor(mean).view(3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(3, 1, 1), persistent=False)
        self.normalization = {"mean": list(mean), "std": list(std)} if normalize else None

    def _resized_size(self, height: int, width: int) -> tuple[int, int]:
        if self.square:
            return self.image_size, self.image_size
        scale = self.image_size / max(height, width)
        return max(1, round(height * scale)), max(1, round(width * scale))

    def _batch(self, images: list[torch.Tensor]):
        size = self.image_size
        pixels = images[0].new_zeros(len(images), 3, size, size)
        mask = torch.zeros(len(images), size, size, dtype=torch.long, device=images[0].device)
        sizes = []
        for index, image in enumerate(images):
            height, width = self._resized_size(*image.shape[-2:])
            resized = F.interpolate(
                image[None],
                size=(height, width),
                mode="bilinear",
                antialias=True,
                align_corners=False,
            )[0]
            pixels[index, :, :height, :width] = (resized - self.mean) / self.std
            mask[index, :height, :width] = 1
            sizes.append((image.shape[-2], image.shape[-1]))
        return pixels, mask, sizes

    def forward(self, images: list[torch.Tensor], targets: list[dict] | None = None):
        pixels, mask, sizes = self._batch(images)
        if self.training:
            if targets is None:
                raise ValueError("training needs targets (boxes and labels per image)")
            labels = [_to_detr_target(t, h, w) for t, (h, w) in zip(targets, sizes, strict=True)]
            output = self.model(pixel_values=pixels, pixel_mask=mask, labels=labels)
            return {"loss_total": output.loss}  # the family's weighted sum of its matched losses
        return self._detections(self.model(pixel_values=pixels, pixel_mask=mask), sizes)

    def _detections(self, output, sizes: list[tuple[int, int]]) -> list[dict]:
        """The family's own image processor turns the raw output into boxes in pixels; the 100
        best per image are kept (as COCO evaluation does), boxes clipped to the image."""
        processor = image_processor(self.model.config.model_type)
        found = processor.post_process_object_detection(output, threshold=0.0, target_sizes=sizes)
        detections = []
        for result, (height, width) in zip(found, sizes, strict=True):
            order = result["scores"].argsort(descending=True)[:MAX_DETECTIONS]
            limits = result["boxes"].new_tensor([width, height, width, height])
            boxes = torch.minimum(result["boxes"][order].clamp(min=0), limits)
            labels = result["labels"][order] + 1  # torchvision's label 0 is the background
            detections.append({"boxes": boxes, "labels": labels, "scores": result["scores"][order]})
        return detections


PROCESSORS = {  # the image processor each family's checkpoints come with
    "detr": "DetrImageProcessor",
    "conditional_detr": "ConditionalDetrImageProcessor",
    "deformable_detr": "DeformableDetrImageProcessor",
    "rt_detr": "RTDetrImageProcessor",
    "rt_detr_v2": "RTDetrImageProcessor",
}


def image_processor(family: str):
    """The family's transformers image processor (its post-processing needs no files)."""
    import transformers

    return getattr(transformers, PROCESSORS[family])()


def _to_detr_target(target: dict, height: int, width: int) -> dict:
    """xyxy pixel boxes, labels 1..K -> normalised cxcywh boxes, class labels 0..K-1."""
    from torchvision.ops import box_convert

    scale = target["boxes"].new_tensor([width, height, width, height])
    boxes = box_convert(target["boxes"] / scale, "xyxy", "cxcywh")
    return {"class_labels": target["labels"] - 1, "boxes": boxes}
