"""WebDataset tar shards as a source: each sample's image read straight from its archive.

A WebDataset shard is an uncompressed tar whose members are grouped into samples by key (the
member's name up to the first dot of its file name: `000123.jpg`, `000123.json` and
`000123.cls` are one sample). Listing an archive reads its headers once (and the small text
members) and keeps where each sample's image starts and how long it is, so a shard of the job
reads its images by seeking (random access in DataLoader workers, a resumed job starting at any
item) instead of streaming the archive from its start.

An item is the sample's first member with an image suffix; its `path` is `ARCHIVE/MEMBER`
(`shards/000000.tar/000123.jpg`), its `id` the sample's key (the archive joined to it where keys
repeat across archives). Every text member of at most 64 KiB becomes a metadata column named by
its extension (`cls`, `txt`, ...), a `.json` member's fields one column each. A sample without
an image is listed and skipped with that reason; a compressed archive is refused (it cannot be
read at random: re-pack it as .tar, as webdataset's own writer does).
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from dataclasses import dataclass

import numpy as np
import pandas as pd

from vislab.errors import InputError

ARCHIVE_SUFFIX = ".tar"
COMPRESSED = (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar.zst")
TEXT_LIMIT = 64 * 1024


@dataclass(frozen=True)
class Member:
    """Where a sample's image lies in its archive (offset -1: the sample has none)."""

    archive: str
    offset: int
    size: int
    holds: str = ""  # the sample's extensions, for the reason of one without an image

    def open(self) -> io.BytesIO:
        if self.offset < 0:
            raise InputError(f"the sample has no image (its members: {self.holds})")
        with open(self.archive, "rb") as handle:
            handle.seek(self.offset)
            data = handle.read(self.size)
        if len(data) != self.size:
            raise InputError("truncated: the archive ends inside this image")
        return io.BytesIO(data)


@dataclass
class Archives:
    """The archive items of a listing, aligned with its rows: for each row the archive's index
    in `names` (-1: a plain file), the image's offset and size."""

    names: list[str]
    index: np.ndarray
    offsets: np.ndarray
    sizes: np.ndarray
    holds: dict[int, str]

    def member(self, row: int, base) -> Member | None:
        at = int(self.index[row])
        if at < 0:
            return None
        archive = os.path.join(str(base), self.names[at])
        offset, size = int(self.offsets[row]), int(self.sizes[row])
        return Member(archive, offset, size, self.holds.get(row, ""))


def is_archive(path: str) -> bool:
    return path.lower().endswith((ARCHIVE_SUFFIX, *COMPRESSED))


def split_key(name: str) -> tuple[str, str]:
    """(key, extension) as WebDataset groups members: up to the first dot of the file name."""
    folder, _, file = name.rpartition("/")
    stem, dot, extension = file.partition(".")
    return (f"{folder}/{stem}" if folder else stem), (extension if dot else "")


def read_archive(path: str, suffixes: set[str]) -> tuple[list[dict], list[tuple]]:
    """One archive's samples in order: their metadata rows (`key`, text members, JSON fields)
    and (image member name, offset, size, extensions held) each."""
    if path.lower().endswith(COMPRESSED):
        raise InputError(
            f"{path}: a compressed archive cannot be read at random; re-pack it as an "
            "uncompressed .tar (webdataset's TarWriter writes them so)."
        )
    samples: dict[str, dict] = {}
    try:
        with tarfile.open(path, "r:") as archive:
            for info in archive:
                if info.isfile():
                    _add_member(samples, archive, info, suffixes)
    except (tarfile.TarError, OSError) as error:
        raise InputError(f"{path}: not a readable tar archive ({error}).") from error
    rows, images = [], []
    for key, sample in samples.items():
        rows.append({"key": key, **sample["text"]})
        image = sample.get("image") or ("", -1, 0)
        images.append((*image, ", ".join(sample["extensions"])))
    return rows, images


def _add_member(samples: dict, archive, info, suffixes: set[str]) -> None:
    key, extension = split_key(info.name)
    sample = samples.setdefault(key, {"text": {}, "extensions": []})
    sample["extensions"].append(extension)
    last = "." + extension.rpartition(".")[2].lower()
    if last in suffixes:
        sample.setdefault("image", (info.name, info.offset_data, info.size))
    elif info.size <= TEXT_LIMIT and extension:
        _add_text(sample["text"], extension, archive.extractfile(info).read())


def _add_text(text: dict, extension: str, data: bytes) -> None:
    try:
        value = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        return  # binary (a mask, an array): not a metadata column
    if extension == "json":
        try:
            fields = json.loads(value)
        except json.JSONDecodeError:
            fields = None
        if isinstance(fields, dict):
            for name, field in fields.items():
                plain = field is None or isinstance(field, str | int | float | bool)
                text[f"json_{name}" if name in ("id", "path", "key") else name] = (
                    field if plain else json.dumps(field)
                )
            return
    text[extension] = value


def expand(paths: list[str], labels: list, suffixes: set[str]):
    """Plain files and archives (in the order listed) as one listing's rows: (frame with `id`,
    `path`, `label` where known and the samples' metadata, Archives, per-row sizes)."""
    names: list[str] = []
    rows: list[dict] = []
    index, offsets, sizes, holds = [], [], [], {}
    for path, label in zip(paths, labels, strict=True):
        if not is_archive(path):
            rows.append({"path": path, "id": path, "label": label})
            index.append(-1), offsets.append(-1), sizes.append(-1)
            continue
        names.append(path)
        found, images = read_archive(path, suffixes)
        for meta, (member, offset, size, held) in zip(found, images, strict=True):
            if offset < 0:
                holds[len(rows)] = held
            item = f"{path}/{member or meta['key']}"
            rows.append({"path": item, "id": meta.pop("key"), "_archive": path, **meta})
            index.append(len(names) - 1), offsets.append(offset), sizes.append(max(size, 0))
    frame = pd.DataFrame(rows)
    frame["id"] = _unique_ids(frame)
    frame = frame.drop(columns=[c for c in ("_archive",) if c in frame])
    if "label" in frame and frame["label"].isna().all():
        frame = frame.drop(columns="label")
    order = ["id", "path", *[c for c in frame.columns if c not in ("id", "path")]]
    archives = Archives(
        names, np.array(index, np.int32), np.array(offsets, np.int64), np.array(sizes), holds
    )
    return frame[order], archives


def _unique_ids(frame: pd.DataFrame) -> pd.Series:
    """Each sample's key, or (where keys repeat across archives) its archive joined to it."""
    ids = frame["id"].astype(str)
    if ids.is_unique or "_archive" not in frame:
        return ids
    inside = frame["_archive"].notna()
    return ids.where(~inside, frame["_archive"].astype(str) + "/" + ids)
