"""Image-caption sources: COCO captions JSON with an image folder, or a manifest with captions.

Both become a `CaptionTable`: a row per image (`id`, `path`, metadata) and its reference
captions (one or more). COCO: `images` (id, file_name, any metadata) and `annotations`
(image_id, caption), images looked up beside the JSON or under `images`. A manifest: a path
column and one or more caption columns (`data.caption_columns`), metadata in the other columns.
Images without a caption and captions of unlisted images are errors that name them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from vislab.errors import InputError


@dataclass
class CaptionTable:
    images: pd.DataFrame  # id, path, metadata (and split, once assigned)
    captions: list[list[str]]  # per row of `images`
    description: str

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, positions) -> CaptionTable:
        positions = np.asarray(positions, dtype=np.int64)
        return CaptionTable(self.images.iloc[positions].reset_index(drop=True),
                            [self.captions[i] for i in positions], self.description)  # fmt: skip

    def read(self, position: int):
        from vislab.data.images import read_image

        return read_image(self.images["path"].iat[position])

    def to_coco(self) -> dict:
        """COCO captions: the images (absolute file names, metadata) and every reference caption."""
        images = self.images.rename(columns={"path": "file_name"})
        records = json.loads(images.to_json(orient="records"))
        annotations = []
        for image_id, texts in zip(self.images["id"], self.captions, strict=True):
            for text in texts:
                annotations.append(
                    {"id": len(annotations) + 1, "image_id": image_id, "caption": text}
                )
        return {"images": records, "annotations": annotations}


def from_coco_captions(path: str | Path, images: str | Path | None = None) -> CaptionTable:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such COCO captions file.")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: not valid JSON ({error}).") from error
    if not isinstance(data, dict) or not {"images", "annotations"} <= set(data):
        raise InputError(f"{path}: a COCO captions file needs 'images' and 'annotations'.")
    captions: dict = {}
    for number, item in enumerate(data["annotations"]):
        if "image_id" not in item or not isinstance(item.get("caption"), str):
            raise InputError(f"{path}: annotation {number} needs an image_id and a caption text.")
        captions.setdefault(item["image_id"], []).append(item["caption"])
    listed = pd.DataFrame(data["images"])
    if not {"id", "file_name"} <= set(listed.columns):
        raise InputError(f"{path}: every entry of 'images' needs an id and a file_name.")
    unlisted = sorted(set(captions) - set(listed["id"]), key=str)
    bare = listed["id"][~listed["id"].isin(captions)].tolist()
    if unlisted or bare:
        raise InputError(f"{path}: {len(unlisted)} caption image id(s) are not in 'images' (e.g. {unlisted[:3]}) "
                         f"and {len(bare)} image(s) have no caption (e.g. {bare[:3]}).")  # fmt: skip
    root = Path(images) if images else path.parent
    frame = listed.drop(columns=["file_name"]).assign(
        path=[str((root / f).resolve()) for f in listed["file_name"]]
    )
    frame = frame[["id", "path", *[c for c in frame.columns if c not in ("id", "path")]]]
    return CaptionTable(frame, [captions[i] for i in listed["id"]], f"COCO captions {path}")


def from_caption_manifest(path: str | Path, path_column: str = "path",
                          caption_columns: list[str] | tuple[str, ...] = ("caption",)) -> CaptionTable:  # fmt: skip
    from vislab.data.sources import read_table

    path = Path(path)
    table = read_table(path)
    missing = [c for c in (path_column, *caption_columns) if c not in table.columns]
    if missing:
        raise InputError(f"{path}: no column(s) {missing}. Columns found: {', '.join(map(str, table.columns))}. "
                         "Set data.path_column / data.caption_columns.")  # fmt: skip
    captions = []
    for line, row in enumerate(table[list(caption_columns)].itertuples(index=False), start=2):
        texts = [t.strip() for t in row if isinstance(t, str) and t.strip()]
        if not texts:
            raise InputError(f"{path}: line {line} has no caption in {list(caption_columns)}.")
        captions.append(texts)
    base = path.resolve().parent
    frame = table.drop(columns=list(caption_columns)).rename(columns={path_column: "path"})
    frame["path"] = [str((base / p).resolve()) for p in frame["path"].astype(str)]
    if "id" not in frame.columns:
        frame.insert(0, "id", table[path_column].astype(str))
    frame = frame[["id", "path", *[c for c in frame.columns if c not in ("id", "path")]]]
    return CaptionTable(frame, captions, f"manifest {path}")
