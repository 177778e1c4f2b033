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
