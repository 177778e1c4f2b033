"""`vislab data preview`: a grid of augmented training images, as the model will see them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vislab.config import ExperimentConfig
from vislab.data.sources import load_source
from vislab.data.transforms import IMAGENET_MEAN, IMAGENET_STD, train_transform
from vislab.report.plots import image_grid_png
from vislab.runs import write_atomic


def save_preview(config: ExperimentConfig, out: str | Path, count: int = 24) -> Path:
    """Draw `count` training images at random, augment them, undo normalization, save a grid."""
    if config.task == "detection":
        return write_atomic(out, _detection_preview(config, count))
    data = config.data
    table = load_source(data)
    # Normalization is undone for display, so ImageNet statistics serve for either preset.
    transform = train_transform(
        data.image_size, data.augment, IMAGENET_MEAN, IMAGENET_STD, data.crop_scale
    )
    rng = np.random.default_rng(config.train.seed)
    picks = rng.choice(len(table), size=min(count, len(table)), replace=False)
    mean = torch.tensor(IMAGENET_MEAN)[:, None, None]
    std = torch.tensor(IMAGENET_STD)[:, None, None]
    images, captions = [], []
    for position in picks:
        tensor = transform(table.read(int(position))) * std + mean  # (3, H, W) in [0, 1]
        pixels = (tensor.clamp(0, 1).permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        images.append(Image.fromarray(pixels))
        captions.append(str(table.frame["label"].iat[int(position)]))
    return write_atomic(out, image_grid_png(images, captions))


def _detection_preview(config: ExperimentConfig, count: int) -> bytes:
    return image_grid_png(*zip(*boxes_drawn(config, count), strict=True))


def boxes_drawn(config: ExperimentConfig, count: int) -> list[tuple[Image.Image, str]]:
    """Augmented training images with their boxes (and class names) moved along with them."""
    from torchvision.utils import draw_bounding_boxes

    from vislab.data.detection_loaders import DetectionDataset, detection_train_transform
    from vislab.training_detection import load_detection_source

    table = load_detection_source(config.data)
    dataset = DetectionDataset(table, detection_train_transform(config.data.augment))
    rng = np.random.default_rng(config.train.seed)
    picks = rng.choice(len(table), size=min(count, len(table)), replace=False)
    drawn = []
    for position in picks:
        image, target, _ = dataset[int(position)]
        names = [table.classes[int(label) - 1] for label in target["labels"]]
        pixels = (image.clamp(0, 1) * 255).to(torch.uint8)
        boxed = draw_bounding_boxes(pixels, target["boxes"], labels=names, colors="yellow", width=2)
        file = Path(str(table.images["path"].iat[int(position)])).name
        caption = f"{file}: {len(names)} box{'es' if len(names) != 1 else ''}"
        drawn.append((Image.fromarray(boxed.permute(1, 2, 0).numpy()), caption))
    return drawn
