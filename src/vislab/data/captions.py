"""Image-caption sources: COCO captions JSON with an image folder, or a manifest with captions.

Both become a `CaptionTable`: a row per image (`id`, `path`, metadata) and its reference
captions (one or more). COCO: `images` (id, file_name, any metadata) and `annotations`
(image_id, caption), images looked up beside the JSON or under `images`. A manifest: a path
column and one or more caption columns (`data.caption_columns`), metadata in the other columns.
Images without a caption and captions of unlisted images are errors that name them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from vislab.data.table import Table
from vislab.errors import InputError
from vislab.files import LISTED_PATH, TABLE_SUFFIXES, listed_files, read_json, read_table


@dataclass
class CaptionTable(Table):
    """A row per image (`id`, `path`, metadata, and `split` once assigned) and its references."""

    captions: list[list[str]] = field(default_factory=list)  # per row: the reference captions

    per_row: ClassVar[tuple[str, ...]] = ("captions",)

    def annotation(self, position: int) -> str:
        return "\x1e".join(self.captions[position])

    def to_coco(self) -> dict:
        """COCO captions: the images (absolute file names, metadata) and every reference caption."""
        images = self.frame.rename(columns={"path": "file_name"})
        records = json.loads(images.to_json(orient="records"))
        annotations = []
        for image_id, texts in zip(self.frame["id"], self.captions, strict=True):
            for text in texts:
                annotations.append(
                    {"id": len(annotations) + 1, "image_id": image_id, "caption": text}
                )
        return {"images": records, "annotations": annotations}


def read_coco_captions(path: str | Path) -> tuple[dict, pd.DataFrame]:
    """The one COCO captions parser: ({image_id: [caption, ...]}, the listed images).

    `annotations` (image_id, caption) are required; `images` (id, any metadata) are optional,
    but when listed, every listed image needs a caption and every caption a listed image.
    The images table has an `id` column (the image_id) in file order; without `images`, the
    ids of the captions in order of first appearance.
    """
    path = Path(path)
    data = read_json(path, "COCO captions")
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
        raise InputError(f"{path}: a COCO captions file needs 'annotations' (image_id, caption).")
    captions: dict = {}
    for number, item in enumerate(data["annotations"]):
        if (
            not isinstance(item, dict)
            or "image_id" not in item
            or not isinstance(item.get("caption"), str)
        ):
            raise InputError(f"{path}: annotation {number} needs an image_id and a caption text.")
        captions.setdefault(item["image_id"], []).append(item["caption"])
    if "images" not in data:
        return captions, pd.DataFrame({"id": list(captions)})
    listed = pd.DataFrame(data["images"])
    if "id" not in listed.columns or listed["id"].isna().any():
        raise InputError(f"{path}: every entry of 'images' needs an id.")
    repeated = listed["id"][listed["id"].duplicated()].unique()[:3].tolist()
    if repeated:
        raise InputError(f"{path}: image id(s) {repeated} are listed more than once in 'images'.")
    unlisted = sorted(set(captions) - set(listed["id"]), key=str)
    bare = listed["id"][~listed["id"].isin(captions)].tolist()
    if unlisted or bare:
        raise InputError(
            f"{path}: {len(unlisted)} caption image id(s) are not in 'images' (e.g. "
            f"{unlisted[:3]}) and {len(bare)} listed image(s) have no caption (e.g. {bare[:3]})."
        )
    return captions, listed


def from_coco_captions(path: str | Path, images: str | Path | None = None) -> CaptionTable:
    """COCO captions with their images (`file_name` under `images`, default: the JSON's folder)."""
    path = Path(path)
    captions, listed = read_coco_captions(path)
    if "file_name" not in listed.columns or listed["file_name"].isna().any():
        raise InputError(f"{path}: every entry of 'images' needs an id and a file_name.")
    root = Path(images) if images else path.parent
    frame = listed.drop(columns=["file_name"]).assign(
        path=[str((root / f).resolve()) for f in listed["file_name"]]
    )
    frame = frame[["id", "path", *[c for c in frame.columns if c not in ("id", "path")]]]
    texts = [captions[i] for i in listed["id"]]
    return CaptionTable(frame, [], f"COCO captions {path}", captions=texts)


def from_caption_manifest(
    path: str | Path,
    path_column: str = "path",
    caption_columns: list[str] | tuple[str, ...] = ("caption",),
    allow_outside_root: bool = False,
) -> CaptionTable:
    path = Path(path)
    table = read_table(path)
    missing = [c for c in (path_column, *caption_columns) if c not in table.columns]
    if missing:
        raise InputError(
            f"{path}: no column(s) {missing}. Columns found: {', '.join(map(str, table.columns))}. "
            "Set data.path_column / data.caption_columns."
        )
    captions = []
    for line, row in enumerate(table[list(caption_columns)].itertuples(index=False), start=2):
        texts = [t.strip() for t in row if isinstance(t, str) and t.strip()]
        if not texts:
            raise InputError(f"{path}: line {line} has no caption in {list(caption_columns)}.")
        captions.append(texts)
    frame = table.drop(columns=list(caption_columns)).rename(columns={path_column: "path"})
    frame[LISTED_PATH] = frame["path"].astype(str)
    frame["path"] = listed_files(frame[LISTED_PATH].tolist(), path, allow_outside_root)
    if "id" not in frame.columns:
        frame.insert(0, "id", table[path_column].astype(str))
    frame = frame[["id", "path", *[c for c in frame.columns if c not in ("id", "path")]]]
    return CaptionTable(frame, [], f"manifest {path}", captions=captions)


def read_references(path: str | Path) -> tuple[dict, pd.DataFrame]:
    """{image_id: [caption, ...]} and a table of the images (image_id + metadata), in file order."""
    path = Path(path)
    if path.suffix.lower() in TABLE_SUFFIXES:
        return _references_from_table(path)
    captions, images = read_coco_captions(path)
    return captions, images.rename(columns={"id": "image_id"})


def _references_from_table(path: Path) -> tuple[dict, pd.DataFrame]:
    table = read_table(path)
    columns = [c for c in table.columns if str(c).startswith("caption")]
    if "image_id" not in table.columns or not columns:
        raise InputError(
            f"{path}: a references table needs an image_id column and caption column(s) "
            f"(caption, caption_2, ...). Columns: {list(table.columns)}."
        )
    if table["image_id"].duplicated().any():
        raise InputError(f"{path}: image_id repeats; put an image's captions in one row.")
    captions = {}
    for row in table.itertuples(index=False):
        texts = [getattr(row, c) for c in columns]
        texts = [t for t in texts if isinstance(t, str) and t.strip()]
        if not texts:
            raise InputError(f"{path}: image {row.image_id} has no caption text.")
        captions[row.image_id] = texts
    return captions, table.drop(columns=columns)


def caption_pairs(references: str | Path, images: str | Path | None = None):
    """Image files, captions and each caption's image index, for retrieval: COCO captions with
    `file_name` in `images`, or a references table with a `path` column."""
    captions, table = read_references(references)
    column = next((c for c in ("file_name", "path") if c in table.columns), None)
    if column is None:
        raise InputError(
            f"{references}: retrieval needs each image's file: 'file_name' in the COCO "
            "'images' list, or a 'path' column in a references table."
        )
    base = Path(images) if images else Path(references).resolve().parent
    paths = [str(base / p) for p in table[column].astype(str)]
    texts, owner = [], []
    for index, image_id in enumerate(table["image_id"]):
        for text in captions[image_id]:
            texts.append(text)
            owner.append(index)
    return paths, texts, np.asarray(owner)


def summarize_captions(table: CaptionTable) -> dict:
    """`vislab data check` for COCO captions: images, captions per image, words per caption,
    unreadable images and exact duplicates."""
    from vislab.data.check import _duplicates, scan

    result = scan(table)
    unreadable = [
        {"id": row.id, "path": row.path, "reason": problem}
        for row, problem in zip(table.frame.itertuples(), result.problems, strict=True)
        if problem
    ]
    counts = [len(texts) for texts in table.captions]
    words = [len(text.split()) for texts in table.captions for text in texts]
    return {
        "source": table.description,
        "task": "captioning",
        "n_images": len(table),
        "n_captions": int(sum(counts)),
        "captions_per_image_median": float(np.median(counts)) if counts else 0.0,
        "words_median": float(np.median(words)) if words else 0.0,
        "n_unreadable": len(unreadable),
        "unreadable": unreadable,
        "duplicates": _duplicates(table.frame.assign(label=""), result.digests),
    }
