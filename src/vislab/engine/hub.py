"""A Hugging Face dataset as a source: `hf:NAME`, `hf:NAME:SPLIT` or `hf:NAME:CONFIG:SPLIT`.

NAME is what `datasets.load_dataset` takes (a name on the Hub, or a local folder of a dataset's
files). A dataset stored as Parquet (what the Hub serves, and a folder of Parquet files) is read
in place, never downloaded whole: the listing reads each file's footer and its columns other
than the images (on the Hub, ranges of the files), and each image is read from its row group
when its shard comes (each process keeps the row group it read last; image datasets on the Hub
are written in row groups of 100), so a resumed job reads only its missing rows. Any other
dataset is prepared once by `datasets` into its cache (memory-mapped Arrow files) and read by
row. Either way memory stays flat and every item can be read on its own.

The image is the dataset's first `Image` column; every other column is metadata. An item's
`path` is `hf:NAME[:CONFIG]:SPLIT/ROW`; its `id` the dataset's own `id` column where it has a
unique one, else the row. The data files (with their sizes and versions), or the prepared
dataset's fingerprint, join the job's identity: resuming over a dataset that changed is refused.
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
    """A prepared dataset (images not decoded: their bytes) and its image column."""

    dataset: object
    column: str

    def row(self, index: int) -> HubRow:
        return HubRow(self, index)

    def value(self, index: int):
        return self.dataset[index][self.column]


@dataclass(frozen=True)
class HubRow:
    images: HubImages | ParquetImages
    index: int

    def open(self) -> io.BytesIO:
        value = self.images.value(self.index)
        if value is None:
            raise InputError("the row has no image")
        if value.get("bytes") is not None:
            return io.BytesIO(value["bytes"])
        if value.get("path"):
            with open(value["path"], "rb") as handle:
                return io.BytesIO(handle.read())
        raise InputError("the row's image has neither bytes nor a file")


def load(item: str):
    """(frame of `id`, `path` and metadata, the images, identity) of the dataset `item` names."""
    import datasets

    name, config, split = parse(item)
    try:
        builder = datasets.load_dataset_builder(name, config)
        files = _parquet_files(builder, item, split)
        if files:
            return _from_parquet(item, files)
        dataset = datasets.load_dataset(name, config, split=split)
    except InputError:
        raise
    except Exception as error:  # noqa: BLE001 - the hub's and the builders' errors, in words
        raise InputError(
            f"{item}: the dataset cannot be loaded ({type(error).__name__}: {error})."
        ) from error
    features = dataset.features
    columns = _image_columns(features, item)
    dataset = dataset.cast_column(columns[0], datasets.Image(decode=False))
    frame = dataset.remove_columns(_heavy(features)).to_pandas()
    frame = _with_id_and_path(_class_names(frame, features, item), item)
    identity = {"dataset": item, "dataset_fingerprint": dataset._fingerprint}
    return frame, HubImages(dataset, columns[0]), identity


def _image_columns(features, item: str) -> list[str]:
    import datasets

    columns = [c for c, f in features.items() if isinstance(f, datasets.Image)]
    if not columns:
        raise InputError(
            f"{item}: no image column (columns: {', '.join(features)}); vislab reads a "
            "dataset's first Image column."
        )
    return columns


def _class_names(frame: pd.DataFrame, features, source: str) -> pd.DataFrame:
    """Each ClassLabel column as its classes' names, as vislab's predictions hold a label (the
    dataset stores the class's index; -1 is its 'no label')."""
    import datasets

    for column, feature in features.items():
        if not isinstance(feature, datasets.ClassLabel) or column not in frame.columns:
            continue
        codes = frame[column].to_numpy()
        known = (codes >= 0) & (codes < len(feature.names))
        if not (known | (codes == -1)).all():
            bad = codes[~known & (codes != -1)][0]
            raise InputError(
                f"{source}: column '{column}' holds {bad}, which is not the index of one of "
                f"its {len(feature.names)} classes."
            )
        names = np.asarray([str(name) for name in feature.names], dtype=object)
        frame[column] = np.where(known, names[np.where(known, codes, 0)], None)
    return frame


def _heavy(features) -> list[str]:
    """The columns that are not metadata (images, sounds)."""
    import datasets

    return [c for c, f in features.items() if isinstance(f, datasets.Image | datasets.Audio)]


def _parquet_files(builder, item: str, split: str) -> list[str] | None:
    """The split's Parquet files where the dataset is stored as Parquet, else None."""
    files = getattr(builder.config, "data_files", None)
    if builder.name != "parquet" or not files:
        return None
    if split not in files:
        raise InputError(f"{item}: no split '{split}'; the dataset has {', '.join(files)}.")
    return [str(f) for f in files[split]]


def _from_parquet(item: str, files: list[str]):
    """The dataset read in place: each file's footer and metadata columns now, images later."""
    import datasets
    import pyarrow.parquet as pq

    frames, starts, column, versions = [], [], None, {}
    for url in files:
        with _open(url) as handle:
            parquet = pq.ParquetFile(handle)
            features = datasets.Features.from_arrow_schema(parquet.schema_arrow)
            column = column or _image_columns(features, item)[0]
            light = [c for c in features if c not in _heavy(features)]
            frames.append(_class_names(parquet.read(columns=light).to_pandas(), features, url))
            sizes = [parquet.metadata.row_group(k).num_rows for k in range(parquet.num_row_groups)]
            starts.append(np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64))
        versions[url] = _version(url)
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    counts = [len(f) for f in frames]
    images = ParquetImages(
        files,
        column,
        starts,
        np.repeat(np.arange(len(files)), counts).astype(np.int32),
        np.concatenate([np.arange(n) for n in counts]).astype(np.int64),
    )
    identity = {"dataset": item, "data_files": versions}
    return _with_id_and_path(frame, item), images, identity


def _open(url: str):
    import fsspec

    return fsspec.open(url, "rb").open()


def _version(url: str) -> list:
    """A data file's size and version (on the Hub its blob's hash, locally its modification
    time): another version is another dataset."""
    import fsspec

    system, path = fsspec.core.url_to_fs(url)
    info = system.info(path)
    version = info.get("blob_id") or (info.get("lfs") or {}).get("sha256") or info.get("mtime")
    return [info.get("size"), str(version)]


class ParquetImages:
    """Images read from their Parquet row groups: each process opens the files itself and
    keeps the row group it read last."""

    def __init__(self, files, column, starts, file_of, row_of) -> None:
        self.files, self.column, self.starts = files, column, starts
        self.file_of, self.row_of = file_of, row_of
        self._process, self._open, self._group, self._values = None, {}, None, None

    def row(self, index: int) -> HubRow:
        return HubRow(self, index)

    def value(self, index: int):
        """The image cell (`bytes`, `path`) of row `index` of the dataset."""
        import os

        import pyarrow.parquet as pq

        if self._process != os.getpid():  # a worker: nothing opened by another process
            self._process, self._open, self._group = os.getpid(), {}, None
        file, row = int(self.file_of[index]), int(self.row_of[index])
        group = int(np.searchsorted(self.starts[file], row, side="right")) - 1
        if self._group != (file, group):
            if file not in self._open:
                self._open[file] = pq.ParquetFile(_open(self.files[file]))
            table = self._open[file].read_row_group(group, columns=[self.column])
            self._values, self._group = table.column(0), (file, group)
        return self._values[row - int(self.starts[file][group])].as_py()


def _with_id_and_path(frame: pd.DataFrame, item: str) -> pd.DataFrame:
    rows = np.arange(len(frame))
    name, config, split = parse(item)
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
