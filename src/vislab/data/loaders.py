"""Batching: datasets over a SampleTable, samplers for class imbalance, DataLoaders.

Every task's training loader is `train_loader`: its order (a shuffle, or class-balanced draws)
and its workers' seeds come from (train.seed, epoch) alone, set by Lightning through
`set_epoch` before each epoch, so a resumed run sees the batches the uninterrupted run saw.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

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


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """A seed of its own for every (seed, epoch) pair, and for every DDP process (rank) beyond
    the first (numpy's SeedSequence mixes them)."""
    return int(
        np.random.SeedSequence([seed, epoch, *([rank] if rank else [])]).generate_state(1)[0]
    )


class EpochSampler(Sampler[int]):
    """A new order each epoch that depends on (seed, epoch) only: a permutation, or with
    `weights` that many draws with replacement (class-balanced batches). `workers` is the
    DataLoader's generator, re-seeded with the epoch, from which torch seeds the data workers."""

    def __init__(self, size: int, seed: int, weights: torch.Tensor | None = None) -> None:
        self.size, self.seed, self.weights = size, seed, weights
        self.workers = torch.Generator()
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.workers.manual_seed(epoch_seed(self.seed, epoch) + 1)

    def __len__(self) -> int:
        return self.size

    def __iter__(self):
        order = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch))
        if self.weights is None:
            indices = torch.randperm(self.size, generator=order)
        else:
            indices = torch.multinomial(self.weights, self.size, True, generator=order)
        yield from indices.tolist()


def balanced_weights(labels: np.ndarray, num_classes: int) -> torch.Tensor:
    """Each image's chance of being drawn, so that each class is equally likely in a batch."""
    per_class = class_weights(labels, num_classes).double()
    return per_class[torch.from_numpy(np.array(labels))]


def train_loader(
    dataset: Dataset,
    batch_size: int,
    num_workers: int,
    seed: int,
    weights: torch.Tensor | None = None,
    collate_fn=None,
    drop_last: bool = False,
) -> DataLoader:
    """The training DataLoader of every task: an `EpochSampler` order, workers started afresh
    each epoch (seeded from the epoch), pinned memory on a GPU machine."""
    sampler = EpochSampler(len(dataset), seed, weights)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate_fn,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=False,
        drop_last=drop_last,
        generator=sampler.workers,
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


def make_loader(dataset: ImageDataset, batch_size: int, num_workers: int) -> DataLoader:
    """An evaluation or prediction loader: the table's order."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        num_workers=num_workers,
        pin_memory=torch.cuda.is_available(),
    )
