"""The table every source becomes: a row per item (an image or a video), for every task.

`frame` has `id`, `path`, the task's label column when it has one, optionally `split`, and every
metadata column of the source. Subclasses add what does not fit a column (a detection image's
boxes, an image's reference captions) as per-row lists, and say how to read an item.

The data fingerprint is defined here, once, for every task: sha256 over every item in table
order of its id, split, content digest (the file's bytes; for in-memory sources the decoded
pixels) and annotation (the label, the boxes, or the captions), so the same data gives the
same fingerprint whatever the task, and any change to an image, a label or a split changes it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import ClassVar, Self

import numpy as np
import pandas as pd
from PIL import Image

SPLITS = ("train", "val", "test")


@dataclass
class Table:
    """A row per item and the classes; subclasses add per-row annotations."""

    frame: pd.DataFrame
    classes: list[str]
    description: str

    item: ClassVar[str] = "image"  # what a row is, in messages ("image", "video")
    per_row: ClassVar[tuple[str, ...]] = ()  # list fields with one entry per row

    def __len__(self) -> int:
        return len(self.frame)

    def subset(self, positions: Sequence[int] | np.ndarray) -> Self:
        """The rows at `positions`, in that order, with their per-row annotations."""
        positions = np.asarray(positions, dtype=np.int64)
        rows = {name: [getattr(self, name)[int(i)] for i in positions] for name in self.per_row}
        return replace(self, frame=self.frame.iloc[positions].reset_index(drop=True), **rows)

    def split(self, name: str) -> Self:
        return self.subset(np.flatnonzero(self.frame["split"].to_numpy() == name))

    def with_frame(self, frame: pd.DataFrame) -> Self:
        """The same rows with new or changed columns (a split, probed frame counts)."""
        return replace(self, frame=frame.reset_index(drop=True))

    def read(self, position: int) -> Image.Image:
        from vislab.data.images import read_image

        return read_image(self.frame["path"].iat[position])

    def annotation(self, position: int) -> str:
        """The item's annotation as text, for the fingerprint."""
        if "label" not in self.frame.columns:
            return ""
        return str(self.frame["label"].iat[position])


def fingerprint(table: Table, digests: Sequence[str | None]) -> str:
    """sha256 over every item's id, split, content digest and annotation, in table order."""
    digest = hashlib.sha256()
    splits = table.frame["split"] if "split" in table.frame.columns else [""] * len(table)
    rows = zip(table.frame["id"], splits, digests, strict=True)
    for position, (item_id, split, content) in enumerate(rows):
        fields = (str(item_id), str(split), str(content), table.annotation(position))
        digest.update("\x1f".join(fields).encode() + b"\x1e")
    return digest.hexdigest()


def held_out_split(frame: pd.DataFrame) -> str:
    """The split that is predicted and evaluated: test, or val when there is no test split."""
    from vislab.errors import InputError

    present = set(frame["split"].astype(str)) if "split" in frame.columns else set()
    for name in ("test", "val"):
        if name in present:
            return name
    raise InputError("no test or val split to evaluate: set data.split.test > 0.")


@dataclass
class SampleTable(Table):
    """Images with labels (`id`, `path`, `label`, optional `split`, metadata).

    `reader` reads in-memory images (scikit-learn's digits, CIFAR arrays, hub datasets) by row
    position; None reads the file at `path`.
    """

    reader: Callable[[int], Image.Image] | None = None

    def read(self, position: int) -> Image.Image:
        if self.reader is None:
            return super().read(position)
        return self.reader(position)

    def subset(self, positions: Sequence[int] | np.ndarray) -> SampleTable:
        table = super().subset(positions)
        if self.reader is not None:
            table.reader = _Subset(self.reader, np.asarray(positions, dtype=np.int64))
        return table

    def label_indices(self) -> np.ndarray:
        lookup = {name: index for index, name in enumerate(self.classes)}
        return self.frame["label"].map(lookup).to_numpy(dtype=np.int64, copy=True)

    def present_classes(self) -> SampleTable:
        """The same table with only the classes that some row has (after rows were left out)."""
        present = set(self.frame["label"].dropna())
        return replace(self, classes=[c for c in self.classes if c in present])


@dataclass
class _Subset:
    parent: Callable[[int], Image.Image]
    positions: np.ndarray

    def __call__(self, position: int) -> Image.Image:
        return self.parent(int(self.positions[position]))


@dataclass
class _Arrays:
    """Images held in memory: (N, H, W) or (N, H, W, 3) uint8."""

    arrays: np.ndarray

    def __call__(self, position: int) -> Image.Image:
        return Image.fromarray(self.arrays[position]).convert("RGB")
