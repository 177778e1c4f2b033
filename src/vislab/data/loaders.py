"""Batching: datasets over a SampleTable, samplers for class imbalance, DataLoaders."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler

from vislab.data.check import IMBALANCE_WARNING_RATIO
from vislab.data.table import SampleTable


class ImageDataset(Dataset):
    """(image tensor (3, H, W), label index, row position) for each row of a SampleTable."""

    def __init__(self, table: SampleTable, transform) -> None:
        self.table = table
        self.transform = transform
        labelled = "label" in table.frame.columns and table.frame["label"].notna().all()
        self.labels = table.label_indices() if labelled else None

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, position: int):
        image = self.transform(self.table.read(position))
        label = int(self.labels[position]) if self.labels is not None else -1
        return image, label, position


def class_weights(labels: np.ndarray, num_classes: int) -> torch.Tensor:
    """n / (K * count_k): each class weighs the same in total (sklearn's 'balanced')."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    weights = len(labels) / (num_classes * np.maximum(counts, 1))
    return torch.tensor(weights, dtype=torch.float32)


def balanced_sampler(labels: np.ndarray, num_classes: int, seed: int) -> WeightedRandomSampler:
    """Draw with replacement so that each class is equally likely in every batch."""
    per_class = class_weights(labels, num_classes).double()
    generator = torch.Generator().manual_seed(seed)
    return WeightedRandomSampler(
        per_class[torch.from_numpy(np.array(labels))],
        len(labels),
        replacement=True,
        generator=generator,
    )


def warn_if_imbalanced(table: SampleTable) -> None:
    counts = table.frame["label"].value_counts()
    if len(counts) > 1 and counts.max() >= IMBALANCE_WARNING_RATIO * counts.min():
        warnings.warn(
            f"class imbalance in the training split: largest class '{counts.idxmax()}' has "
            f"{counts.max()} images, smallest '{counts.idxmin()}' has {counts.min()} "
            f"({counts.max() / counts.min():.1f}x). Consider data.sampler: balanced or "
            "train.class_weighted_loss: true.",
            stacklevel=2,
        )


def make_loader(
    dataset: ImageDataset,
    batch_size: int,
    num_workers: int,
    shuffle: bool = False,
    sampler=None,
    drop_last: bool = False,
) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle and sampler is None,
        sampler=sampler,
        num_workers=num_workers,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=num_workers > 0,
        drop_last=drop_last,
    )
