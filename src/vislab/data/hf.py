"""Hugging Face datasets as a SampleTable: by hub name (needs a network) or `save_to_disk` folder.

Hub datasets name their columns differently (`img`/`image`, `label`/`fine_label`); the image
column is the one with the `Image` feature and the label column the `ClassLabel` one, so
CIFAR-10, CIFAR-100 (fine labels; `coarse_label` is kept as metadata) and ImageNet-1k load alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from vislab.data.images import to_rgb
from vislab.data.splits import SPLIT_NAMES
from vislab.data.table import SampleTable
from vislab.errors import InputError

LABEL_PREFERENCE = ("label", "fine_label", "labels", "class", "target")


@dataclass
class _HFImages:
    datasets: dict  # split name -> datasets.Dataset
    image_column: str
    splits: np.ndarray  # row position -> split name
    rows: np.ndarray  # row position -> row inside that split

    def __call__(self, position: int) -> Image.Image:
        split, row = self.splits[position], int(self.rows[position])
        return to_rgb(self.datasets[split][row][self.image_column])


def from_huggingface(name: str | None, root: str | Path | None = None) -> SampleTable:
    splits = _load(name, root)
    first = next(iter(splits.values()))
    image_column, label_column = _columns(first.features, name or str(root))
    classes = [str(c) for c in first.features[label_column].names]
    frames = []
    for split, dataset in splits.items():
        table = dataset.remove_columns(image_column).to_pandas()
        table.insert(0, "split", split)
        table.insert(0, "_row", np.arange(len(table)))
        frames.append(table)
    frame = pd.concat(frames, ignore_index=True)
    label_ids = frame.pop(label_column).to_numpy()
    reader = _HFImages(
        splits, image_column, frame["split"].to_numpy(), frame.pop("_row").to_numpy()
    )
    source = name or str(root)
    frame.insert(0, "label", [classes[i] if i >= 0 else None for i in label_ids])
    frame.insert(
        0, "path", [f"hf:{source}/{s}/{r}" for s, r in zip(reader.splits, reader.rows, strict=True)]
    )
    frame.insert(0, "id", [f"{s}/{r}" for s, r in zip(reader.splits, reader.rows, strict=True)])
    return SampleTable(frame, classes, f"Hugging Face dataset {source}", reader)


def _load(name: str | None, root: str | Path | None) -> dict:
    import datasets

    try:
        loaded = datasets.load_from_disk(str(root)) if root else datasets.load_dataset(name)
    except FileNotFoundError as error:
        raise InputError(f"{root or name}: no Hugging Face dataset there ({error}).") from error
    except Exception as error:  # hub errors: offline, gated, unknown name
        raise InputError(
            f"data.name '{name}': the Hugging Face hub could not provide it ({error}). Hub "
            "datasets need a network; offline, save one with dataset.save_to_disk(DIR) and set "
            "data.root: DIR."
        ) from error
    if isinstance(loaded, datasets.Dataset):
        return {"train": loaded}
    unknown = [s for s in loaded if s.lower() not in SPLIT_NAMES]
    if unknown:
        raise InputError(
            f"{root or name}: unknown split name(s) {unknown}; expected train/val/test."
        )
    return {SPLIT_NAMES[s.lower()]: loaded[s] for s in loaded}


def _columns(features, source: str) -> tuple[str, str]:
    import datasets

    images = [k for k, f in features.items() if isinstance(f, datasets.Image)]
    labels = [k for k, f in features.items() if isinstance(f, datasets.ClassLabel)]
    if not images:
        raise InputError(f"{source}: no image column (a column with the Image feature).")
    if not labels:
        raise InputError(f"{source}: no label column (a column with the ClassLabel feature).")
    labels.sort(key=lambda k: LABEL_PREFERENCE.index(k) if k in LABEL_PREFERENCE else 99)
    return images[0], labels[0]
