"""From a DataConfig to what training needs: split tables, checked images, normalization."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from vislab.config import DataConfig
from vislab.data.check import Scan, data_fingerprint, scan
from vislab.data.sources import SampleTable, load_source
from vislab.data.splits import assign_splits
from vislab.data.transforms import IMAGENET_MEAN, IMAGENET_STD, dataset_statistics
from vislab.errors import InputError


@dataclass
class PreparedData:
    table: SampleTable  # every usable row, with a `split` column
    classes: list[str]
    mean: list[float]
    std: list[float]
    fingerprint: str
    skipped: pd.DataFrame = field(default_factory=pd.DataFrame)  # rows left out, with reasons

    def split(self, name: str) -> SampleTable:
        positions = np.flatnonzero(self.table.frame["split"].to_numpy() == name)
        return self.table.subset(positions)


def prepare(data: DataConfig, seed_stats: int = 0) -> PreparedData:
    """Load the source, scan every image, apply `on_bad_image`, split, measure normalization."""
    table = load_source(data)
    result = scan(table)
    fingerprint = data_fingerprint(table, result)
    table, skipped = _apply_bad_image_policy(table, result, data.on_bad_image)
    frame = assign_splits(
        table.frame, data.split.val, data.split.test, data.split.seed, data.split.group_by
    )
    table = SampleTable(frame, table.classes, table.read, table.description)
    train_count = int((frame["split"] == "train").sum())
    if train_count == 0:
        raise InputError(f"{table.description}: the train split is empty.")
    if data.normalize == "dataset":
        positions = np.flatnonzero(frame["split"].to_numpy() == "train")
        mean, std = dataset_statistics(table.subset(positions), data.image_size, seed=seed_stats)
    else:
        mean, std = list(IMAGENET_MEAN), list(IMAGENET_STD)
    return PreparedData(table, table.classes, mean, std, fingerprint, skipped)


def _apply_bad_image_policy(table: SampleTable, result: Scan, policy: str):
    bad = [i for i, problem in enumerate(result.problems) if problem]
    skipped = table.frame.iloc[bad][["id", "path", "label"]].assign(
        reason=[result.problems[i] for i in bad]
    )
    if not bad:
        return table, skipped
    if policy == "error":
        lines = "\n".join(f"  - {r.path}: {r.reason}" for r in skipped.itertuples())
        raise InputError(
            f"{table.description}: {len(bad)} image(s) cannot be used:\n{lines}\n"
            "Fix or remove them, or set data.on_bad_image: skip to leave them out "
            "(they are then listed in the run's skipped_images.csv)."
        )
    keep = np.setdiff1d(np.arange(len(table)), bad)
    kept = table.subset(keep)
    classes = [c for c in table.classes if (kept.frame["label"] == c).any()]
    return SampleTable(kept.frame, classes, kept.read, table.description), skipped
