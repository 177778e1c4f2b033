"""What a job reads: the items of a source, listed once, in an order that does not change.

A source is an image (or video) file, a folder (walked in name order, each directory's entries
sorted, never held whole before it is listed), WebDataset tar shards (given as files or found in
a folder: `engine/archives.py`), a Hugging Face dataset (`hf:NAME`, `engine/hub.py`), or a
manifest (CSV, Parquet or Excel with a
`path` column; every other column is metadata carried into the output). Paths are kept as the
source writes them: the folder as given joined with the file's place in it, a manifest's paths
joined to the manifest's folder as it was given (`data/manifest.csv` listing `images/1.jpg`
gives `data/images/1.jpg`, a path that opens from where the command ran; the paths may not
leave the manifest's folder), its `id` the manifest's own or the path as written there (the
key back to the manifest). Each item also has its file's size and modification time, the
source's fingerprint.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from vislab.engine.archives import ARCHIVE_SUFFIX, Archives, expand, is_archive
from vislab.engine.hub import HubImages, ParquetImages, is_hub_source
from vislab.errors import InputError
from vislab.files import TABLE_SUFFIXES

LARGE = 100_000  # items: a listing that takes a noticeable while says what it is doing
MANIFEST_SUFFIXES = {*TABLE_SUFFIXES, ".txt"}


@dataclass
class Listing:
    """The items: `frame` has `id`, `path` (as listed) and metadata columns; `base` is the
    folder relative paths are read from; `sizes` and `mtimes` per item (-1 for a missing
    file), the fingerprint: `stats` holds them, or the `Stating` of a process taking them (a
    million files take a second or two to stat; a resumed job computes its first shard
    meanwhile, and whatever reads them waits)."""

    frame: pd.DataFrame
    base: Path
    stats: tuple[np.ndarray, np.ndarray] | Stating
    description: str
    archives: Archives | None = None  # where items inside tar archives lie
    dataset: HubImages | ParquetImages | None = None  # a Hugging Face dataset, read by row
    identity: dict = field(default_factory=dict)  # what names the source beyond its items
    digested: str | None = None  # the fingerprint, where the process taking the stats made it

    def fingerprint(self) -> str:
        """sha256 over every item's path (as listed), size and modification time."""
        self._stats()
        if self.digested is None:
            self.digested = digest(self.frame["path"].astype(str), self.sizes, self.mtimes)
        return self.digested

    @property
    def sizes(self) -> np.ndarray:
        return self._stats()[0]

    @property
    def mtimes(self) -> np.ndarray:
        return self._stats()[1]

    def _stats(self) -> tuple[np.ndarray, np.ndarray]:
        if not isinstance(self.stats, tuple):
            sizes, mtimes, self.digested = self.stats.result()
            self.stats = (sizes, mtimes)
        return self.stats

    def files(self, start: int, stop: int) -> list:
        """The files of items [start, stop) to open: paths, or `Member`s of archives."""
        if self.dataset is not None:
            return [self.dataset.row(k) for k in range(start, stop)]
        paths = [str(self.base / p) for p in self.frame["path"].iloc[start:stop]]
        if self.archives is None:
            return paths
        members = (self.archives.member(k, self.base) for k in range(start, stop))
        return [m or p for m, p in zip(members, paths, strict=True)]


def list_source(items: list[str | Path], suffixes: set[str], folder_labels=False) -> Listing:
    """Every item of the source: image files, folders and manifests, in the order given.
    `folder_labels`: a folder whose images all sit one level down (`root/cat/1.jpg`, the
    image-folder layout) gives each image its subfolder's name as `label`."""
    if any(is_hub_source(i) for i in items):
        return _from_hub(items)
    items = [Path(i) for i in items]
    if not items:
        raise InputError("nothing to predict: give a folder, a manifest or image files.")
    manifests = [i for i in items if i.is_file() and i.suffix.lower() in MANIFEST_SUFFIXES]
    if manifests:
        if len(items) > 1:
            raise InputError(
                f"{manifests[0]} is a manifest: give it alone (one source per job), or list "
                "every image in it."
            )
        return from_manifest(manifests[0])
    paths: list[str] = []
    labels: list[str | None] = []
    for item in items:
        if item.is_dir():
            found = list(counted(walk(item, suffixes | {ARCHIVE_SUFFIX}), len(paths)))
            paths.extend(found)
            labels.extend(_class_folders(item, found) if folder_labels else [None] * len(found))
        elif item.is_file() or item.is_symlink():
            paths.append(str(item))
            labels.append(None)
        else:
            raise InputError(f"{item}: no such file or folder.")
    if not paths:
        raise InputError(
            "nothing to predict: no files given (folders are searched for "
            f"{', '.join(sorted(suffixes))} files)."
        )
    described = ", ".join(map(str, items[:3])) + (" ..." if len(items) > 3 else "")
    if any(is_archive(p) for p in paths):
        return _with_archives(paths, labels, suffixes, described)
    frame = pd.DataFrame({"id": paths, "path": paths})
    if any(label is not None for label in labels):
        frame["label"] = labels
    return Listing(frame, Path.cwd(), stat_in_background(paths), described)


def _with_archives(paths: list[str], labels: list, suffixes: set[str], described: str):
    """A listing with the samples of tar archives among its files: an archive's items have
    their image's size and the archive's modification time in the fingerprint."""
    frame, archives = expand(paths, labels, suffixes)
    inside = archives.index >= 0
    sizes, mtimes = stat_all(np.where(inside, "", frame["path"]).tolist())
    _, archive_times = stat_all(archives.names)
    sizes[inside] = archives.sizes[inside]
    mtimes[inside] = archive_times[archives.index[inside]] if len(archives.names) else []
    return Listing(frame, Path.cwd(), (sizes, mtimes), described, archives)


def _from_hub(items: list) -> Listing:
    from vislab.engine.hub import load

    if len(items) > 1:
        raise InputError(f"{items[0]} is a dataset: give it alone (one source per job).")
    frame, images, identity = load(str(items[0]))
    unknown = np.full(len(frame), -1, dtype=np.int64)  # the dataset's fingerprint stands in
    return Listing(
        frame, Path.cwd(), (unknown, unknown.copy()), str(items[0]), None, images, identity
    )


def walk(folder: Path, suffixes: set[str]):
    """The files under `folder` with one of `suffixes`, each directory in name order; hidden
    files and folders (a leading dot) are left out."""
    with os.scandir(folder) as entries:
        ordered = sorted(entries, key=lambda e: e.name)
    for entry in ordered:
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            yield from walk(Path(entry.path), suffixes)
        elif os.path.splitext(entry.name)[1].lower() in suffixes:
            yield entry.path


def counted(files, before: int = 0, every: float = 10.0, clock=None):
    """The files, with a line every `every` seconds (of `clock`, by default the monotonic
    one) of how many are listed so far (a folder of a million files takes a while to walk)."""
    import time

    from vislab.progress import note

    clock = clock or time.monotonic
    last = clock()
    for count, file in enumerate(files, start=before + 1):
        if clock() - last >= every:
            note(f"listing: {count:,} files so far")
            last = clock()
        yield file


def _class_folders(root: Path, paths: list[str]) -> list[str | None]:
    """Each image's class folder where every image sits one level under `root`."""
    parts = [Path(p).relative_to(root).parts for p in paths]
    if not parts or any(len(p) != 2 for p in parts):
        return [None] * len(paths)
    return [p[0] for p in parts]


def stat_in_background(paths: list[str]) -> Stating | tuple:
    """`stat_all(paths)` beside the work that follows: for many files in a forked process
    (which shares the list without copying it, and does not contend for this one's GIL), else
    at once."""
    import multiprocessing
    import sys

    if len(paths) < LARGE or not sys.platform.startswith("linux"):
        return stat_all(paths)
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_stat_into, args=(paths, send), daemon=True)
    child.start()
    send.close()
    return Stating(receive, child, paths)


def _stat_into(paths: list[str], send) -> None:
    """In the forked process: the paths' stats, and the fingerprint (the paths are the
    listing's own)."""
    sizes, mtimes = stat_all(paths)
    send.send_bytes(sizes.tobytes())
    send.send_bytes(mtimes.tobytes())
    send.send_bytes(digest(paths, sizes, mtimes).encode())


def digest(paths, sizes: np.ndarray, mtimes: np.ndarray) -> str:
    import hashlib

    found = hashlib.sha256()
    for column in (paths, sizes, mtimes):
        found.update(pd.util.hash_array(np.asarray(column, dtype=object)).tobytes())
    return found.hexdigest()


@dataclass
class Stating:
    """The sizes and modification times a forked process is taking."""

    receive: object
    child: object
    paths: list[str]

    def result(self) -> tuple[np.ndarray, np.ndarray, str | None]:
        """(sizes, mtimes, fingerprint); where the process died (killed, out of memory) the
        stats taken here instead, and no fingerprint."""
        try:
            found = [np.frombuffer(self.receive.recv_bytes(), np.int64) for _ in range(2)]
            found.append(self.receive.recv_bytes().decode())
        except (EOFError, OSError):
            found = []
        self.child.join()
        self.receive.close()
        if len(found) != 3 or any(len(column) != len(self.paths) for column in found[:2]):
            return (*stat_all(self.paths), None)
        return tuple(found)


def stat_all(paths: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per path (absolute, or from the working folder) its size and modification time (ns);
    -1 and -1 where there is no file."""
    sizes, mtimes = [], []
    stat = os.stat
    for path in paths:
        try:
            found = stat(path)
        except OSError:
            sizes.append(-1), mtimes.append(-1)
            continue
        sizes.append(found.st_size), mtimes.append(found.st_mtime_ns)
    return np.array(sizes, dtype=np.int64), np.array(mtimes, dtype=np.int64)


def from_manifest(manifest: Path) -> Listing:
    """A manifest's rows: `path` joined to the manifest's folder (inside it), `id` its own or
    the path as written, `label` as text (a class's name), every other column as metadata."""
    from vislab.files import joined_paths, refuse_outside, rows_text
    from vislab.spreadsheets import read_table

    frame = read_table(manifest)
    if "path" not in frame.columns:
        found = ", ".join(map(str, frame.columns))
        raise InputError(f"{manifest}: no 'path' column (the image files). Columns: {found}.")
    empty = np.flatnonzero(frame["path"].isna().to_numpy())
    if len(empty):
        raise InputError(f"{manifest}: empty 'path' on {rows_text(empty)}: fill or drop them.")
    paths = frame["path"].astype(str)
    written = paths.tolist()
    shown, odd = joined_paths(str(manifest.parent), written)  # opened from where the command runs
    refuse_outside(written, odd, manifest)  # a plain relative path cannot leave the folder
    if len(frame) >= LARGE:
        from vislab.progress import note

        note(f"{manifest}: {len(frame):,} rows read; checking their files")
    stats = stat_in_background(shown)  # the fingerprint, taken while the rest goes on
    if "id" in frame.columns:
        repeated = []
        if not frame["id"].is_unique:
            repeated = frame["id"][frame["id"].duplicated()].astype(str).unique()[:5].tolist()
        if repeated:
            raise InputError(f"{manifest}: the 'id' column repeats {repeated}; ids must be unique.")
        ids = frame.pop("id").astype(str)
    else:
        repeat = paths.groupby(paths).cumcount()
        ids = paths.where(repeat == 0, paths + "#" + (repeat + 1).astype(str))
    frame = frame.drop(columns="path")
    frame.insert(0, "path", shown)
    frame.insert(0, "id", ids.to_numpy())
    if "label" in frame.columns:  # a class's name, as `prediction` is: the 3s are '3'
        from vislab.data.sources import labels_as_text

        frame["label"] = labels_as_text(frame["label"])
    return Listing(frame.reset_index(drop=True), Path.cwd(), stats, f"manifest {manifest}")
