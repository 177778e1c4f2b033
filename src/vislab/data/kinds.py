"""What kind of source a path is, for `vislab data check`: detection, captioning, video, images.

A `.json` file is COCO instances (detection) when it has `categories` or boxes, and COCO
captions when its annotations carry captions; a folder with `Annotations/` is Pascal VOC and
one with `labels/` is YOLO; a folder of videos, or a manifest whose first file is a video or a
frame folder, is video; anything else is a folder or manifest of images.
"""

from __future__ import annotations

from pathlib import Path

from vislab.errors import InputError


def source_kind(source: str | Path) -> str:
    path = Path(source)
    if path.suffix.lower() == ".json":
        return _json_kind(path)
    if (path / "Annotations").is_dir() or (path / "labels").is_dir():
        return "detection"
    from vislab.data.videos import is_video_source

    return "video" if is_video_source(path) else "images"


def _json_kind(path: Path) -> str:
    from vislab.files import read_json

    data = read_json(path, "COCO")
    if not isinstance(data, dict):
        raise InputError(f"{path}: a COCO file is a JSON object with 'images' and 'annotations'.")
    annotations = data.get("annotations") or []
    first = annotations[0] if annotations and isinstance(annotations[0], dict) else {}
    if "categories" in data or "bbox" in first:
        return "detection"
    if "caption" in first:
        return "captioning"
    raise InputError(
        f"{path}: neither COCO instances ('categories', boxes) nor COCO captions (annotations "
        "with a 'caption'); give one of those."
    )
