"""Small images held in memory as one tensor and augmented a batch at a time.

The per-image train transform (train_transform: RandomResizedCrop, the named augmentations,
scaling, normalization) costs about 0.3 ms an image on a CPU core, whatever the image's size:
for small images (digits, CIFAR) that is more than the model's step. When a split's images are
all of one size, no larger than the model's input and fit in MEMORY_LIMIT bytes, they are
decoded once into a uint8 tensor (n, 3, h, w) and each batch is cropped and resized at once:

- the crop boxes are drawn as torchvision's RandomResizedCrop draws them (an area fraction
  uniform in `scale`, a log aspect ratio uniform in log `ratio`, ten tries, then the centre);
- each box is resized to the input size by bilinear interpolation with the sample points of
  torchvision's resize (the boxes are never larger than the output: no antialiasing to do),
  rounded to uint8 as torchvision rounds a uint8 image;
- `flip` flips half of the batch; then scaling to [0, 1] and normalization.

So a batch is what train_transform would give image by image, drawn from the same distribution
(the tests compare both). Other augmentations need the per-image path.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from vislab.data.table import SampleTable

MEMORY_LIMIT = 1 << 30  # bytes of decoded images held at most
BATCHED_AUGMENTATIONS = {"flip"}
RATIO = (3 / 4, 4 / 3)  # RandomResizedCrop's aspect ratios
TRIES = 10


class BatchedImages(Dataset):
    """(images (b, 3, size, size), labels (b,), positions (b,)) for a list of positions:
    `__getitems__` makes the whole batch (use `collate_fn=whole_batch`)."""

    def __init__(
        self,
        pixels: torch.Tensor,
        labels: np.ndarray,
        size: int,
        scale,
        flip: bool,
        mean: Sequence[float],
        std: Sequence[float],
    ) -> None:
        self.pixels, self.labels = pixels, torch.as_tensor(labels, dtype=torch.int64)
        self.size, self.scale, self.flip = size, tuple(scale), flip
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)

    def __len__(self) -> int:
        return len(self.pixels)

    def __getitem__(self, position: int):
        images, labels, positions = self.__getitems__([position])
        return images[0], int(labels[0]), int(positions[0])

    def __getitems__(self, positions: list[int]):
        index = torch.as_tensor(positions, dtype=torch.int64)
        source = self.pixels[index]
        height, width = source.shape[-2:]
        boxes = crop_boxes(len(index), height, width, self.scale)
        images = resized_crops(source, boxes, self.size)
        if self.flip:
            flipped = coin_flips(len(index))
            images = torch.where(flipped.view(-1, 1, 1, 1), images.flip(-1), images)
        images = (images / 255.0 - self.mean) / self.std
        return images, self.labels[index], index


def coin_flips(count: int) -> torch.Tensor:
    """Which images of a batch RandomHorizontalFlip(0.5) would flip."""
    return torch.rand(count) < 0.5


def whole_batch(batch):
    """The collate function of BatchedImages: its batches are made whole already."""
    return batch


def batched_images(table: SampleTable, size: int, augment: Sequence[str], scale, mean, std):
    """BatchedImages of the table, or None where the per-image path must do (augmentations
    other than flip, images of several sizes, larger than `size` or too many to hold)."""
    if not set(augment) <= BATCHED_AUGMENTATIONS or not len(table):
        return None
    first = table.read(0)
    width, height = first.size
    if width > size or height > size or len(table) * 3 * width * height > MEMORY_LIMIT:
        return None
    pixels = torch.empty((len(table), 3, height, width), dtype=torch.uint8)
    for position in range(len(table)):
        image = first if position == 0 else table.read(position)
        if image.size != (width, height):
            return None
        pixels[position] = torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1)
    labels = table.label_indices()
    return BatchedImages(pixels, labels, size, scale, "flip" in augment, mean, std)


def crop_boxes(count: int, height: int, width: int, scale) -> torch.Tensor:
    """(count, 4) boxes (top, left, box height, box width) drawn as RandomResizedCrop draws
    them: the first of TRIES draws that fits, else the centre crop of the ratios' range."""
    area = height * width
    fractions = torch.empty(count, TRIES).uniform_(scale[0], scale[1])
    logs = torch.empty(count, TRIES).uniform_(math.log(RATIO[0]), math.log(RATIO[1]))
    # in float64 from the float32 draws, rounded half to even: as torchvision computes them
    targets, ratios = area * fractions.double(), torch.exp(logs).double()
    w = torch.round(torch.sqrt(targets * ratios)).long()
    h = torch.round(torch.sqrt(targets / ratios)).long()
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = torch.argmax(fits.int(), dim=1)
    found = fits.any(dim=1)
    rows = torch.arange(count)
    box_h = torch.where(found, h[rows, first], 0)
    box_w = torch.where(found, w[rows, first], 0)
    centre_h, centre_w = _centre(height, width)
    box_h = torch.where(found, box_h, centre_h)
    box_w = torch.where(found, box_w, centre_w)
    top = (torch.rand(count) * (height - box_h + 1)).long().clamp_max(height - box_h)
    left = (torch.rand(count) * (width - box_w + 1)).long().clamp_max(width - box_w)
    top = torch.where(found, top, (height - box_h) // 2)
    left = torch.where(found, left, (width - box_w) // 2)
    return torch.stack([top, left, box_h, box_w], dim=1)


def _centre(height: int, width: int) -> tuple[int, int]:
    """RandomResizedCrop's fallback box: the whole image, trimmed to the ratios' range."""
    in_ratio = width / height
    if in_ratio < RATIO[0]:
        return int(round(width / RATIO[0])), width
    if in_ratio > RATIO[1]:
        return height, int(round(height * RATIO[1]))
    return height, width


def resized_crops(pixels: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Each image's box resized to size x size (bilinear, the sample points of torch's
    interpolate with align_corners=False, clamped to the box), rounded as uint8: float32."""
    count, _, height, width = pixels.shape
    top, left, box_h, box_w = (boxes[:, k].double().view(-1, 1) for k in range(4))
    steps = torch.arange(size, dtype=torch.float64).view(1, -1) + 0.5
    ys = (steps * box_h / size - 0.5).clamp(min=0) + top
    xs = (steps * box_w / size - 0.5).clamp(min=0) + left
    ys = torch.minimum(ys, top + box_h - 1)
    xs = torch.minimum(xs, left + box_w - 1)
    # grid_sample's normalized coordinates (align_corners=False) of those pixel places
    grid_y = ((2 * ys + 1) / height - 1).view(count, size, 1).expand(count, size, size)
    grid_x = ((2 * xs + 1) / width - 1).view(count, 1, size).expand(count, size, size)
    grid = torch.stack([grid_x, grid_y], dim=-1).float()
    sampled = F.grid_sample(
        pixels.float(), grid, mode="bilinear", padding_mode="border", align_corners=False
    )
    return sampled.round_().clamp_(0, 255)
