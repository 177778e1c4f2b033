"""Batching for detection: images and their boxes move together through transforms v2."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from vislab.data.detection import DetectionTable

ZOOM_FILL = {tv_tensors.Image: (124, 116, 104), "others": 0}


def detection_train_transform(augment: list[str]) -> v2.Compose:
    """Box-aware augmentations (torchvision v2 moves the boxes), then empty boxes removed."""
    steps: list[v2.Transform] = []
    if "color_jitter" in augment:
        steps.append(v2.RandomPhotometricDistort(p=0.5))
    if "zoom_out" in augment:
        steps.append(v2.RandomZoomOut(fill=ZOOM_FILL, side_range=(1.0, 2.0), p=0.5))
    if "iou_crop" in augment:
        steps.append(v2.RandomIoUCrop())
    if "flip" in augment:
        steps.append(v2.RandomHorizontalFlip(p=0.5))
    steps += [v2.SanitizeBoundingBoxes(min_size=1.0), v2.ToDtype(torch.float32, scale=True)]
    return v2.Compose(steps)


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
            format="XYXY", canvas_size=tuple(image.shape[-2:]),
        )  # fmt: skip
        target = {"boxes": boxes, "labels": torch.as_tensor(self.table.labels[position][keep] + 1)}
        image, target = self.transform(image, target)
        return image, target, position


def collate(batch):
    images, targets, positions = zip(*batch, strict=True)
    return list(images), list(targets), list(positions)


def make_detection_loader(
    dataset: DetectionDataset, batch_size: int, num_workers: int, shuffle: bool
) -> DataLoader:
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers, collate_fn=collate,
        pin_memory=torch.cuda.is_available(), persistent_workers=num_workers > 0,
    )  # fmt: skip
