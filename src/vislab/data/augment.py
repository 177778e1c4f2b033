"""Augmentations by name (`data.augment`), one registry, and the names each task accepts.

A name means the same transform in every task that accepts it. They are torchvision transforms
v2, so one flip or crop moves an image together with its boxes (detection) and applies the
same way to every frame of a clip (video). They run on uint8 images, before normalization, in
the order given in the config.

| name | transform | tasks |
| --- | --- | --- |
| flip | RandomHorizontalFlip(0.5) | all |
| color_jitter | ColorJitter(brightness 0.4, contrast 0.4, saturation 0.4, hue 0.1) | all |
| autoaugment | AutoAugment (ImageNet policy) | classification |
| randaugment | RandAugment | classification |
| trivialaugment | TrivialAugmentWide | classification |
| zoom_out | RandomZoomOut (up to 2x, p 0.5) | detection |
| iou_crop | RandomIoUCrop (SSD's crop, keeps boxes) | detection |
"""

from __future__ import annotations

from collections.abc import Sequence

NAMES = (
    "flip",
    "color_jitter",
    "autoaugment",
    "randaugment",
    "trivialaugment",
    "zoom_out",
    "iou_crop",
)

PRESETS: dict[str, tuple[str, ...]] = {
    "classification": ("flip", "color_jitter", "autoaugment", "randaugment", "trivialaugment"),
    "detection": ("flip", "color_jitter", "zoom_out", "iou_crop"),
    "captioning": ("flip", "color_jitter"),
    "video": ("flip", "color_jitter"),
}


def augmentation(name: str):
    """The v2 transform called `name` (a new instance: they hold no state between images)."""
    from torchvision import tv_tensors
    from torchvision.transforms import v2

    zoom_fill = {tv_tensors.Image: (124, 116, 104), "others": 0}  # the mean colour, as SSD
    factories = {
        "flip": lambda: v2.RandomHorizontalFlip(p=0.5),
        "color_jitter": lambda: v2.ColorJitter(
            brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1
        ),
        "autoaugment": lambda: v2.AutoAugment(v2.AutoAugmentPolicy.IMAGENET),
        "randaugment": lambda: v2.RandAugment(),
        "trivialaugment": lambda: v2.TrivialAugmentWide(),
        "zoom_out": lambda: v2.RandomZoomOut(fill=zoom_fill, side_range=(1.0, 2.0), p=0.5),
        "iou_crop": lambda: v2.RandomIoUCrop(),
    }
    return factories[name]()


def augmentations(names: Sequence[str]) -> list:
    """The transforms for `names`, in that order (names are checked with the config)."""
    return [augmentation(name) for name in names]


def unknown_for(preset: str, names: Sequence[str]) -> list[str]:
    """The names a task's preset does not accept (empty when all are fine)."""
    allowed = PRESETS[preset]
    return [name for name in names if name not in allowed]
