"""Batching for detection: images and their boxes move together through transforms v2."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from vislab.data.augment import augmentations
from vislab.data.detection import DetectionTable


def detection_train_transform(augment: list[str]) -> v2.Compose:
    """Box-aware augmentations (torchvision v2 moves the boxes), then empty boxes removed."""
    return v2.Compose(
        [
            *augmentations(augment),
            v2.SanitizeBoundingBoxes(min_size=1.0),
            v2.ToDtype(torch.float32, scale=True),
        ]
    )


def detection_eval_transform() -> v2.Compose:
    """The detector resizes and normalizes inside itself: only convert to float."""
    return v2.Compose([v2.ToDtype(torch.float32, scale=True)])


class DetectionDataset(Dataset):
    """(image (3, H, W), {"boxes", "labels"}, position); labels are class index + 1 (0: background).

    Crowd boxes are left out of training targets: torchvision detectors have no notion of an
    ignored region, and COCO evaluation ignores them anyway.
    """

    def __init__(self, table: DetectionTable, transform) -> None:
        self.table, self.transform = table, transform

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, position: int):
        image = tv_tensors.Image(F.pil_to_tensor(self.table.read(position)))
        keep = ~self.table.crowd[position]
        boxes = tv_tensors.BoundingBoxes(
            torch.as_tensor(self.table.boxes[position][keep]).reshape(-1, 4),
            format="XYXY",
            canvas_size=tuple(image.shape[-2:]),
        )
        target = {"boxes": boxes, "labels": torch.as_tensor(self.table.labels[position][keep] + 1)}
        image, target = self.transform(image, target)
        return image, target, position


class ImageTensors(Dataset):
    """(image (3, H, W) float in [0, 1], None, position) for any table of images: what a
    detector predicts from (it resizes and normalizes inside itself)."""

    def __init__(self, table) -> None:
        self.table = table

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, position: int):
        image = F.to_dtype(F.pil_to_tensor(self.table.read(position)), torch.float32, scale=True)
        return image, None, position


def collate(batch):
    images, targets, positions = zip(*batch, strict=True)
    return list(images), list(targets), list(positions)


def make_detection_loader(dataset, batch_size: int, num_workers: int) -> DataLoader:
    """An evaluation or prediction loader: the table's order, images as a list."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        num_workers=num_workers,
        collate_fn=collate,
        pin_memory=torch.cuda.is_available(),
    )
