"""A Hugging Face dataset as a source: `hf:NAME`, `hf:NAME:SPLIT` or `hf:NAME:CONFIG:SPLIT`.

NAME is what `datasets.load_dataset` takes (a name on the Hub, or a local folder of a dataset's
files). The dataset is prepared once by `datasets` (downloaded into its cache as memory-mapped
Arrow files), so memory stays flat whatever its size, and every item can be read by its row:
a shard of the job, a DataLoader worker and a resumed job each read just their rows. The image
is the dataset's first `Image` column; every other column is metadata. An item's `path` is
`hf:NAME[:CONFIG]:SPLIT/ROW`; its `id` the dataset's own `id` column where it has a unique one,
else the row. The dataset's fingerprint (which `datasets` derives from its files) joins the job's
identity: resuming over a dataset that changed is refused.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pandas as pd

from vislab.errors import InputError

PREFIX = "hf:"


def is_hub_source(item: str) -> bool:
    return str(item).startswith(PREFIX)


def parse(item: str) -> tuple[str, str | None, str]:
    """(name, config, split) of `hf:NAME[:CONFIG]:SPLIT` (the split defaults to train)."""
    parts = str(item)[len(PREFIX) :].split(":")
    if not parts[0] or len(parts) > 3 or not all(parts):
        raise InputError(
            f"{item}: give a Hugging Face dataset as hf:NAME, hf:NAME:SPLIT or "
            "hf:NAME:CONFIG:SPLIT (e.g. hf:cifar10:test)."
        )
    if len(parts) == 1:
        return parts[0], None, "train"
    if len(parts) == 2:
        return parts[0], None, parts[1]
    return parts[0], parts[1], parts[2]


@dataclass
class HubImages:
    """The dataset (images not decoded: their bytes) and its image column."""

    dataset: object
    column: str

    def row(self, index: int) -> HubRow:
        return HubRow(self, index)


@dataclass(frozen=True)
class HubRow:
    images: HubImages
    index: int

    def open(self) -> io.BytesIO:
        value = self.images.dataset[self.index][self.images.column]
        if value is None:
            raise InputError("the row has no image")
        if value.get("bytes") is not None:
            return io.BytesIO(value["bytes"])
        if value.get("path"):
            with open(value["path"], "rb") as handle:
                return io.BytesIO(handle.read())
        raise InputError("the row's image has neither bytes nor a file")


def load(item: str):
    """(frame of `id`, `path` and metadata, HubImages, identity) of the dataset `item` names."""
    import datasets

    name, config, split = parse(item)
    try:
        dataset = datasets.load_dataset(name, config, split=split)
    except Exception as error:  # noqa: BLE001 - the hub's and the builders' errors, in words
        raise InputError(
            f"{item}: the dataset cannot be loaded ({type(error).__name__}: {error})."
        ) from error
    features = dataset.features
    columns = [c for c, f in features.items() if isinstance(f, datasets.Image)]
    if not columns:
        raise InputError(
            f"{item}: no image column (columns: {', '.join(features)}); vislab reads a "
            "dataset's first Image column."
        )
    dataset = dataset.cast_column(columns[0], datasets.Image(decode=False))
    heavy = [c for c, f in features.items() if isinstance(f, datasets.Image | datasets.Audio)]
    frame = dataset.remove_columns(heavy).to_pandas()
    frame = _with_id_and_path(frame, item, name, config, split)
    identity = {"dataset": item, "dataset_fingerprint": dataset._fingerprint}
    return frame, HubImages(dataset, columns[0]), identity


def _with_id_and_path(frame: pd.DataFrame, item, name, config, split) -> pd.DataFrame:
    rows = np.arange(len(frame))
    stem = PREFIX + ":".join(p for p in (name, config, split) if p)
    paths = pd.Series([f"{stem}/{k}" for k in rows], dtype=object)
    own = frame.pop("id") if "id" in frame.columns else None
    ids = own.astype(str) if own is not None and own.is_unique else pd.Series(rows).astype(str)
    if own is not None and not own.is_unique:
        frame["dataset_id"] = own  # kept, as metadata: it cannot key the rows
    frame = frame.rename(columns={"path": "dataset_path"})
    frame.insert(0, "path", paths.to_numpy())
    frame.insert(0, "id", ids.to_numpy())
    return frame.reset_index(drop=True)
