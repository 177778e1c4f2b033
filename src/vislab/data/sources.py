"""Data sources -> one `SampleTable`: a row per image, every metadata column kept.

Sources (`data.source` in the config):

- `imagefolder`: `root/<class>/<image>`; `root/{train,val,test}/<class>/<image>` gives the splits.
- `manifest`: a CSV or Parquet file; `path` relative to the manifest's folder, `label`, an
  optional `split` column and any other columns (kept for group analysis).
- `hf`: a Hugging Face dataset by hub name (`cifar10`, `cifar100`, `imagenet-1k`; needs a network)
  or a local `save_to_disk` folder; their differing image/label column names are mapped.
- `torchvision`: CIFAR-10/100 from a local root (as `torchvision.datasets` downloads them).
- `sample`: datasets that ship inside installed packages, offline: `digits` (scikit-learn).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd

from vislab.data.splits import SPLIT_NAMES
from vislab.data.table import SampleTable, _Arrays
from vislab.errors import InputError
from vislab.files import LISTED_PATH, TABLE_SUFFIXES, listed_files, read_table, rows_text


def load_source(data) -> SampleTable:
    """The SampleTable for a `DataConfig`."""
    loaders = {
        "imagefolder": lambda: from_imagefolder(data.root),
        "manifest": lambda: from_manifest(
            data.root,
            data.path_column,
            data.label_column,
            data.split_column,
            allow_outside_root=data.allow_outside_root,
        ),
        "hf": lambda: _from_huggingface(data.name, data.root),
        "torchvision": lambda: from_torchvision(data.name, data.root),
        "sample": lambda: from_sample(data.name),
    }
    return loaders[data.source]()


def _from_huggingface(name: str | None, root: str | None) -> SampleTable:
    from vislab.data.hf import from_huggingface

    return from_huggingface(name, root)


def source_from_path(path: str | Path, require_label: bool = True) -> SampleTable:
    """Guess the source from a path: a folder is an image folder, a .csv/.parquet a manifest."""
    path = Path(path)
    if path.is_dir() and not require_label and _has_loose_images(path):
        return from_plain_folder(path)
    if path.is_dir():
        return from_imagefolder(path)
    if path.suffix.lower() in TABLE_SUFFIXES:
        return from_manifest(path, require_label=require_label)
    raise InputError(
        f"{path}: expected an image folder or a manifest (.csv, .parquet, .xlsx or .dta)."
    )


def _has_loose_images(folder: Path) -> bool:
    from vislab.data.images import IMAGE_SUFFIXES

    return any(p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES for p in folder.iterdir())


def from_plain_folder(root: str | Path) -> SampleTable:
    """Every image under `root` (subfolders too), without labels: images to code or caption."""
    from vislab.data.images import IMAGE_SUFFIXES

    root = Path(root)
    paths = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    frame = pd.DataFrame(
        {
            "id": [p.relative_to(root).as_posix() for p in paths],
            "path": [str(p.resolve()) for p in paths],
            "label": pd.NA,
        }
    )
    return SampleTable(frame, [], f"images under {root}")


def from_imagefolder(root: str | Path) -> SampleTable:
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: no such folder. data.root must be a folder of class folders.")
    top = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if top and all(p.name.lower() in SPLIT_NAMES for p in top):
        rows = [r for d in top for r in _class_folder_rows(d, root, SPLIT_NAMES[d.name.lower()])]
    else:
        rows = _class_folder_rows(root, root, None)
    if not rows:
        raise InputError(
            f"{root}: no images found. Put each class's images in a subfolder: root/<class>/<file>."
        )
    frame = pd.DataFrame(rows)
    if frame["split"].isna().all():
        frame = frame.drop(columns="split")
    classes = sorted(frame["label"].unique().tolist())
    return SampleTable(frame, classes, f"image folder {root}")


def _class_folder_rows(folder: Path, root: Path, split: str | None) -> list[dict]:
    rows = []
    for class_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        if class_dir.name.startswith("."):
            continue
        for file in sorted(class_dir.rglob("*")):
            if file.is_file() and not file.name.startswith("."):
                rows.append(
                    {
                        "id": file.relative_to(root).as_posix(),
                        "path": str(file.resolve()),
                        "label": class_dir.name,
                        "split": split,
                    }
                )
    return rows


def from_manifest(
    manifest: str | Path,
    path_column: str = "path",
    label_column: str = "label",
    split_column: str = "split",
    require_label: bool = True,
    allow_outside_root: bool = False,
) -> SampleTable:
    manifest = Path(manifest)
    frame = read_table(manifest)
    if not require_label and label_column not in frame.columns:
        frame[label_column] = pd.NA  # images to code, no labels yet
    for column in (path_column, label_column):
        if column not in frame.columns:
            raise InputError(
                f"{manifest}: no '{column}' column. Columns found: {', '.join(frame.columns)}. "
                f"Set data.path_column / data.label_column to the right names."
            )
    empty_paths = np.flatnonzero(frame[path_column].isna().to_numpy())
    if len(empty_paths):
        raise InputError(f"{manifest}: empty '{path_column}' on {rows_text(empty_paths)}.")
    frame = frame.rename(columns={path_column: "path", label_column: "label"})
    if split_column in frame.columns and split_column != "split":
        frame = frame.rename(columns={split_column: "split"})
    if "id" in frame.columns:  # the manifest's own ids, if unique
        duplicated = frame["id"][frame["id"].duplicated()].astype(str).unique()[:5].tolist()
        if duplicated:
            raise InputError(
                f"{manifest}: the 'id' column repeats {duplicated}; ids must be unique."
            )
        frame.insert(0, "id", frame.pop("id").astype(str))
    else:  # the path as written; a path listed again gets #2, #3: every id names one row
        paths = frame["path"].astype(str)
        repeat = paths.groupby(paths).cumcount()
        frame.insert(0, "id", paths.where(repeat == 0, paths + "#" + (repeat + 1).astype(str)))
    frame[LISTED_PATH] = frame["path"].astype(str)
    frame["path"] = listed_files(frame[LISTED_PATH].tolist(), manifest, allow_outside_root)
    frame["label"] = labels_as_text(frame["label"])
    if "split" in frame.columns:
        frame["split"] = _normalize_splits(frame["split"], manifest)
    classes = sorted(frame["label"].dropna().unique().tolist())
    return SampleTable(frame, classes, f"manifest {manifest}")


def labels_as_text(labels: pd.Series) -> pd.Series:
    """Labels as strings ('3', 'cat'); integers stay integers in text ('3', not '3.0')."""
    if pd.api.types.is_float_dtype(labels) and labels.dropna().mod(1).eq(0).all():
        labels = labels.astype("Int64")
    return labels.astype("string").astype(object).where(labels.notna(), None)


def _normalize_splits(splits: pd.Series, source: Path | str) -> pd.Series:
    lowered = splits.astype(str).str.strip().str.lower()
    unknown = sorted(set(lowered) - set(SPLIT_NAMES))
    if unknown:
        raise InputError(f"{source}: unknown split value(s) {unknown}. Use train, val or test.")
    return lowered.map(SPLIT_NAMES)


def from_sample(name: str | None) -> SampleTable:
    """Datasets that ship inside installed packages, so they work offline."""
    if name != "digits":
        raise InputError(f"data.name: unknown sample dataset '{name}'. Available: digits.")
    pixels, target = _digits()
    # (1797, 8, 8) values 0..16 -> uint8 0..255, dark strokes on a light background inverted:
    # sklearn stores ink as high values, which we keep (white digit on black, like MNIST).
    images = np.clip(pixels * (255.0 / 16.0) + 0.5, 0, 255).astype(np.uint8)
    ink = images.reshape(len(images), -1).mean(axis=1)
    frame = pd.DataFrame(
        {
            "id": [f"digits/{i:04d}" for i in range(len(images))],
            "path": [f"sklearn:digits/{i}" for i in range(len(images))],
            "label": target.astype(str),
            "stroke": np.where(ink > np.median(ink), "heavy", "light"),
        }
    )
    classes = [str(c) for c in range(10)]
    return SampleTable(
        frame, classes, "scikit-learn digits (1,797 real 8x8 images)", _Arrays(images)
    )


@functools.cache
def _digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits, (1797, 8, 8) values 0..16 and the digits: read from the file
    scikit-learn ships (importing sklearn.datasets takes longer than reading it), else by
    `load_digits`."""
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    folder = Path(spec.submodule_search_locations[0]) if spec else Path()
    path = folder / "datasets" / "data" / "digits.csv.gz"
    if path.exists():
        rows = np.loadtxt(path, delimiter=",")
        pixels, target = rows[:, :-1].reshape(-1, 8, 8), rows[:, -1].astype(np.int64)
    else:
        from sklearn.datasets import load_digits

        digits = load_digits()
        pixels, target = digits.images, digits.target
    pixels.flags.writeable = target.flags.writeable = False  # shared by every call
    return pixels, target


def from_torchvision(name: str | None, root: str | Path) -> SampleTable:
    """CIFAR-10 / CIFAR-100 from a local root, as `torchvision.datasets` lays them out."""
    import torchvision

    classes_by_name = {
        "cifar10": torchvision.datasets.CIFAR10,
        "cifar100": torchvision.datasets.CIFAR100,
    }
    key = (name or "").lower().replace("-", "")
    if key not in classes_by_name:
        raise InputError(f"data.name: torchvision source supports cifar10, cifar100. Got '{name}'.")
    dataset_class = classes_by_name[key]
    parts = []
    for split, train in (("train", True), ("test", False)):
        try:
            dataset = dataset_class(str(root), train=train, download=False)
        except RuntimeError as error:
            raise InputError(
                f"{root}: no {name} found ({error}). Download it once on a machine with a network: "
                f"torchvision.datasets.{dataset_class.__name__}('{root}', download=True)."
            ) from error
        parts.append((split, dataset))
    arrays = np.concatenate([d.data for _, d in parts])
    classes = list(parts[0][1].classes)
    labels = np.concatenate([np.asarray(d.targets) for _, d in parts])
    splits = np.concatenate([[s] * len(d) for s, d in parts])
    frame = pd.DataFrame(
        {
            "id": [f"{s}/{i}" for s, d in parts for i in range(len(d))],
            "path": [f"torchvision:{key}/{s}/{i}" for s, d in parts for i in range(len(d))],
            "label": [classes[i] for i in labels],
            "split": splits,
        }
    )
    return SampleTable(frame, classes, f"torchvision {name} at {root}", _Arrays(arrays))


def join_metadata(images: pd.DataFrame, metadata: str | None) -> pd.DataFrame:
    """Image metadata from a table (joined on image_id or id), for the group breakdown."""
    if not metadata:
        return images
    extra = read_table(metadata)
    key = "image_id" if "image_id" in extra.columns and "image_id" in images.columns else "id"
    if key not in extra.columns:
        raise InputError(f"{metadata}: needs a column '{key}' to join the image metadata on.")
    return images.merge(extra, on=key, how="left", suffixes=("", "_metadata"))
