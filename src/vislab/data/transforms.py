"""Preprocessing presets on torchvision.transforms.v2, as the seeds describe them.

- train: RandomResizedCrop(size, scale) + the named augmentations (augment.py) + normalization;
- eval: Resize(round(size * 256 / 224)) + CenterCrop(size) + normalization;
- normalization `imagenet` (mean 0.485/0.456/0.406, std 0.229/0.224/0.225) or `dataset`
  (per-channel mean/std measured on the train split only, stored in the run, reused later).
MixUp and CutMix act on whole batches: see `batch_mixer`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.transforms import v2

from vislab.data.augment import augmentations

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def resize_size(image_size: int) -> int:
    """The eval resize before the center crop: 256 for 224, in proportion otherwise."""
    return round(image_size * 256 / 224)


def train_transform(
    image_size: int,
    augment: Sequence[str],
    mean: Sequence[float],
    std: Sequence[float],
    crop_scale: tuple[float, float] = (0.08, 1.0),
) -> v2.Compose:
    return v2.Compose(
        [
            v2.ToImage(),
            v2.RandomResizedCrop(image_size, scale=crop_scale, antialias=True),
            *augmentations(augment),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean=list(mean), std=list(std)),
        ]
    )


def eval_transform(image_size: int, mean: Sequence[float], std: Sequence[float]) -> v2.Compose:
    return v2.Compose(
        [
            *unnormalized_eval_steps(image_size),
            v2.Normalize(mean=list(mean), std=list(std)),
        ]
    )


def unnormalized_eval_steps(image_size: int) -> list[v2.Transform]:
    return [
        v2.ToImage(),
        v2.Resize(resize_size(image_size), antialias=True),
        v2.CenterCrop(image_size),
        v2.ToDtype(torch.float32, scale=True),
    ]


def dataset_statistics(images, image_size: int, limit: int = 5000, seed: int = 0):
    """Per-channel mean and std of (up to `limit`, drawn at random) training images.

    `images` is a SampleTable of the train split. Images pass through the eval resize and crop,
    so the statistics describe what the model sees.
    """
    import numpy as np

    steps = v2.Compose(unnormalized_eval_steps(image_size))
    count = len(images)
    picks = np.random.default_rng(seed).permutation(count)[: min(limit, count)]
    total = torch.zeros(3, dtype=torch.float64)
    total_sq = torch.zeros(3, dtype=torch.float64)
    pixels = 0
    for tensor in eval_tensors(images, picks, steps):
        tensor = tensor.double()  # (3, H, W)
        total += tensor.sum(dim=(1, 2))
        total_sq += (tensor**2).sum(dim=(1, 2))
        pixels += tensor.shape[1] * tensor.shape[2]
    mean = total / pixels
    std = (total_sq / pixels - mean**2).clamp_min(1e-12).sqrt()
    return [round(float(m), 6) for m in mean], [round(float(s), 6) for s in std]


STATISTICS_CHUNK = 64  # images read and transformed together


def eval_tensors(images, positions, steps):
    """`steps` applied to each image at `positions` (in that order); images of one size in a
    chunk are transformed as one batch (the same pixels as one at a time, a tenth of the
    time for small images)."""
    for start in range(0, len(positions), STATISTICS_CHUNK):
        chunk = [
            v2.functional.to_image(images.read(int(position)))
            for position in positions[start : start + STATISTICS_CHUNK]
        ]
        if len({tensor.shape for tensor in chunk}) == 1:
            yield from steps(torch.stack(chunk)).unbind(0)
        else:
            yield from (steps(tensor) for tensor in chunk)


def batch_mixer(num_classes: int, mixup: float, cutmix: float) -> v2.Transform | None:
    """MixUp and/or CutMix over a batch (one of them, at random, when both are on)."""
    mixers = []
    if mixup > 0:
        mixers.append(v2.MixUp(alpha=mixup, num_classes=num_classes))
    if cutmix > 0:
        mixers.append(v2.CutMix(alpha=cutmix, num_classes=num_classes))
    if not mixers:
        return None
    return mixers[0] if len(mixers) == 1 else v2.RandomChoice(mixers)
