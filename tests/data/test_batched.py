"""Batches of small in-memory images against torchvision's per-image train transform."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from vislab.data import batched
from vislab.data.batched import BatchedImages, batched_images, crop_boxes, resized_crops
from vislab.data.sources import from_sample
from vislab.data.table import SampleTable
from vislab.data.transforms import train_transform


def test_resized_crops_are_torchvisions_resized_crop():
    """Random boxes of random uint8 images resized as F.resized_crop resizes them (bilinear,
    antialias): its float result rounded (ties aside), and its uint8 result (fixed-point
    arithmetic) at most one level apart."""
    generator = torch.Generator().manual_seed(0)
    for height, width, size in [(8, 8, 32), (32, 32, 32), (20, 28, 40), (7, 13, 16)]:
        pixels = torch.randint(
            0, 256, (24, 3, height, width), dtype=torch.uint8, generator=generator
        )
        box_h = torch.randint(1, height + 1, (24,), generator=generator)
        box_w = torch.randint(1, width + 1, (24,), generator=generator)
        top = (torch.rand(24, generator=generator) * (height - box_h + 1)).long()
        left = (torch.rand(24, generator=generator) * (width - box_w + 1)).long()
        boxes = torch.stack([top, left, box_h, box_w], dim=1)
        ours = resized_crops(pixels, boxes, size)

        in_float = _resized(pixels.float(), boxes, size)
        assert (ours - in_float).abs().max() <= 0.5 + 1e-3  # the float result, rounded
        assert (ours == in_float.round()).float().mean() > 0.99
        assert (ours - _resized(pixels, boxes, size)).abs().max() <= 1


def _resized(pixels: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    return torch.stack(
        [
            TF.resized_crop(image, *map(int, box), [size, size], antialias=True)
            for image, box in zip(pixels, boxes, strict=True)
        ]
    ).float()


@pytest.mark.parametrize(
    ("height", "width", "scale"),
    [
        (8, 8, (0.85, 1.0)),
        (12, 9, (0.08, 1.0)),
        (6, 10, (0.5, 0.9)),
        (2, 20, (0.9, 1.0)),
        (20, 2, (0.9, 1.0)),
    ],  # the last two: no draw fits, the centre crop
)
def test_crop_boxes_are_drawn_as_random_resized_crop_draws_them(height, width, scale):
    """The joint distribution of (top, left, box height, box width) from 20,000 draws each:
    total variation distance from torchvision's own draws within sampling noise."""
    torch.manual_seed(1)
    count = 20_000
    ours = crop_boxes(count, height, width, scale).numpy()
    transform = v2.RandomResizedCrop(height, scale=scale)
    image = torch.zeros(3, height, width, dtype=torch.uint8)
    theirs = np.array(
        [list(transform.make_params([image]).values()) for _ in range(count)], dtype=np.int64
    )
    ours_keys = pd.Series(map(tuple, ours)).value_counts(normalize=True)
    theirs_keys = pd.Series(map(tuple, theirs)).value_counts(normalize=True)
    both = ours_keys.align(theirs_keys, fill_value=0.0)
    distance = 0.5 * (both[0] - both[1]).abs().sum()
    cells = len(both[0])
    assert distance < 0.02 + 0.5 * np.sqrt(cells / count)  # noise of that many cells


def _table(sizes: list[tuple[int, int]]) -> SampleTable:
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for w, h in sizes]
    frame = pd.DataFrame(
        {
            "id": [str(i) for i in range(len(sizes))],
            "path": [f"memory:{i}" for i in range(len(sizes))],
            "label": ["a", "b"] * (len(sizes) // 2) + ["a"] * (len(sizes) % 2),
        }
    )
    table = SampleTable(frame, ["a", "b"], "made up")
    table.reader = images.__getitem__
    return table


def test_a_batch_is_the_per_image_transform_with_the_same_boxes(monkeypatch):
    """With the boxes and flips fixed, a batch equals train_transform's images (normalized)."""
    table = from_sample("digits").subset(np.arange(64))
    mean, std = (0.2, 0.3, 0.4), (0.5, 0.6, 0.7)
    data = batched_images(table, 32, ["flip"], (0.5, 1.0), mean, std)
    assert isinstance(data, BatchedImages)
    sizes = [(5 + i % 4, 4 + i % 5) for i in range(64)]  # inside the 8 x 8 digits
    boxes = torch.tensor([[i % (9 - h), (i * 7) % (9 - w), h, w] for i, (h, w) in enumerate(sizes)])
    flips = torch.arange(64) % 3 == 0
    monkeypatch.setattr(batched, "crop_boxes", lambda *args: boxes)
    monkeypatch.setattr(batched, "coin_flips", lambda count: flips)
    images, labels, positions = data.__getitems__(list(range(64)))
    finish = v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)])
    for position in range(64):
        top, left, box_h, box_w = map(int, boxes[position])
        image = TF.resized_crop(
            TF.to_image(table.read(position)), top, left, box_h, box_w, [32, 32], antialias=True
        )
        if flips[position]:
            image = TF.horizontal_flip(image)
        assert torch.allclose(images[position], finish(image), atol=1.01 / 255 / min(std))
    assert positions.tolist() == list(range(64))
    assert labels.tolist() == table.label_indices().tolist()


def test_only_small_images_of_one_size_with_crops_and_flips_are_batched():
    mean, std = (0.5,) * 3, (0.2,) * 3
    assert batched_images(_table([(8, 8)] * 6), 32, [], (0.5, 1), mean, std) is not None
    assert batched_images(_table([(8, 8)] * 6), 32, ["color_jitter"], (0.5, 1), mean, std) is None
    assert batched_images(_table([(8, 8)] * 5 + [(9, 8)]), 32, [], (0.5, 1), mean, std) is None
    assert batched_images(_table([(40, 30)] * 4), 32, [], (0.5, 1), mean, std) is None


def test_batches_come_whole_from_the_training_loader():
    """The DataLoader hands __getitems__ the sampler's positions (the order the per-image
    loader has) and passes the batch through as it is."""
    from vislab.data.loaders import ImageDataset, train_loader

    table = from_sample("digits").subset(np.arange(256))
    mean, std = (0.0,) * 3, (1.0,) * 3
    data = batched_images(table, 32, [], (0.3, 1.0), mean, std)
    loader = train_loader(data, 64, 0, seed=3, collate_fn=batched.whole_batch)
    per_image = train_loader(
        ImageDataset(table, train_transform(32, [], mean, std, (0.3, 1.0))), 64, 0, seed=3
    )
    for epoch in range(3):
        loader.sampler.set_epoch(epoch)
        per_image.sampler.set_epoch(epoch)
        ours, theirs = list(loader), list(per_image)
        assert [b[2].tolist() for b in ours] == [b[2].tolist() for b in theirs]
        for (images, labels, positions), (their_images, their_labels, _) in zip(
            ours, theirs, strict=True
        ):
            assert images.shape == their_images.shape == (64, 3, 32, 32)
            assert images.dtype == their_images.dtype == torch.float32
            assert labels.tolist() == their_labels.tolist()
            assert labels.tolist() == table.label_indices()[positions.numpy()].tolist()


def test_the_classification_task_batches_in_memory_only_when_asked():
    from vislab.data.loaders import ImageDataset
    from vislab.tasks import config_from_dict, get_task

    task = get_task("classification")
    raw = {
        "task": "classification",
        "data": {"source": "sample", "name": "digits", "image_size": 16, "augment": ["flip"]},
        "model": {"backbone": "resnet10t", "pretrained": "none"},
    }
    config = config_from_dict(raw)
    data = task.prepare(config)
    assert isinstance(task.train_loaders(config, data)[0].dataset, ImageDataset)
    raw["data"]["in_memory"] = True
    loader = task.train_loaders(config_from_dict(raw), data)[0]
    assert isinstance(loader.dataset, BatchedImages) and loader.dataset.flip
    images, labels, positions = next(iter(loader))
    assert images.shape == (64, 3, 16, 16)
    assert labels.tolist() == data.split("train").label_indices()[positions.numpy()].tolist()
