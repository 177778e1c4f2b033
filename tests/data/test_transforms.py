"""Preprocessing presets: sizes, normalization statistics, augmentations, batch mixing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from vislab.data.table import SampleTable, _Arrays
from vislab.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    batch_mixer,
    dataset_statistics,
    eval_transform,
    resize_size,
    train_transform,
)


def test_eval_is_resize_then_center_crop():
    assert resize_size(224) == 256 and resize_size(32) == 37
    pixels = np.zeros((100, 200, 3), dtype=np.uint8)
    pixels[:, 100:] = 255
    out = eval_transform(32, [0, 0, 0], [1, 1, 1])(Image.fromarray(pixels))
    assert out.shape == (3, 32, 32)
    # resize to 37 px high (74 wide), crop the middle 32: the left half dark, the right half light
    assert out[:, :, :14].max() < 0.05 and out[:, :, 18:].min() > 0.95


def test_imagenet_normalization_values():
    image = Image.new("RGB", (40, 40), (255, 255, 255))
    out = eval_transform(32, IMAGENET_MEAN, IMAGENET_STD)(image)
    expected = (1 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    assert torch.allclose(out[:, 0, 0], expected, atol=1e-5)


@pytest.mark.parametrize(
    "augment",
    [[], ["flip"], ["color_jitter"], ["autoaugment"], ["randaugment"], ["trivialaugment"]],
)
def test_train_transform_with_each_augmentation(augment):
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (50, 60, 3), dtype=np.uint8))
    out = train_transform(24, augment, IMAGENET_MEAN, IMAGENET_STD, (0.5, 1.0))(image)
    assert out.shape == (3, 24, 24) and out.dtype == torch.float32


def test_dataset_statistics_match_numpy():
    rng = np.random.default_rng(1)
    arrays = rng.integers(0, 255, size=(6, 32, 32, 3), dtype=np.uint8)  # already 32x32 -> resize 37
    import pandas as pd

    table = SampleTable(
        pd.DataFrame({"id": range(6), "label": ["a"] * 6}), ["a"], "t", _Arrays(arrays)
    )
    mean, std = dataset_statistics(table, image_size=37 * 224 // 256 + 0)
    # compare with the statistics of exactly what the eval steps produce
    from torchvision.transforms import v2

    from vislab.data.transforms import unnormalized_eval_steps

    steps = v2.Compose(unnormalized_eval_steps(37 * 224 // 256))
    stacked = torch.stack([steps(Image.fromarray(a)) for a in arrays]).double()
    assert np.allclose(mean, stacked.mean(dim=(0, 2, 3)).numpy(), atol=1e-5)
    assert np.allclose(std, stacked.std(dim=(0, 2, 3), unbiased=False).numpy(), atol=1e-5)


def test_batch_mixer_gives_soft_labels():
    assert batch_mixer(5, 0, 0) is None
    images, labels = torch.rand(8, 3, 16, 16), torch.arange(8) % 5
    for mixer in (batch_mixer(5, 0.4, 0), batch_mixer(5, 0, 1.0), batch_mixer(5, 0.2, 1.0)):
        mixed, targets = mixer(images, labels)
        assert mixed.shape == images.shape and targets.shape == (8, 5)
        assert torch.allclose(targets.sum(dim=1), torch.ones(8))


@pytest.mark.parametrize("image_size", [32, 24])
def test_images_of_one_size_are_transformed_as_one_batch_to_the_same_pixels(image_size):
    """eval_tensors: a chunk of images of one size (scikit-learn's photos cut into tiles)
    goes through the eval steps as a batch, a chunk of mixed sizes one image at a time; every
    tensor equals the steps applied to that image alone, in the order asked."""
    import pandas as pd
    from sklearn.datasets import load_sample_images
    from torchvision.transforms import v2

    from vislab.data import transforms
    from vislab.data.transforms import eval_tensors, unnormalized_eval_steps

    photo = load_sample_images().images[0]
    same = [photo[y : y + 53, x : x + 71] for y in range(0, 300, 60) for x in range(0, 600, 40)]
    mixed = [photo[: 40 + k, : 50 + 2 * k] for k in range(10)]
    steps = v2.Compose(unnormalized_eval_steps(image_size))
    for tiles in (same, mixed, same + mixed):
        table = SampleTable(
            pd.DataFrame({"id": range(len(tiles)), "label": ["a"] * len(tiles)}),
            ["a"],
            "t",
            _Reader(tiles),
        )
        positions = np.random.default_rng(0).permutation(len(tiles))
        ours = list(eval_tensors(table, positions, steps))
        assert len(ours) == len(tiles)
        for tensor, position in zip(ours, positions, strict=True):
            expected = steps(Image.fromarray(np.ascontiguousarray(tiles[position])))
            assert torch.equal(tensor, expected)
    assert len(same) > transforms.STATISTICS_CHUNK  # more than one chunk


class _Reader:
    def __init__(self, tiles):
        self.tiles = tiles

    def __call__(self, position):
        return Image.fromarray(np.ascontiguousarray(self.tiles[position]))

    def __len__(self):
        return len(self.tiles)
