"""Detection sources -> one `DetectionTable`: images with boxes, classes, crowd flags, metadata.

Sources:
- COCO instances JSON + an image folder (`file_name` relative to it);
- Pascal VOC: `root/Annotations/*.xml` and `root/JPEGImages/` (`difficult` objects are kept
  as crowd boxes, which COCO evaluation ignores, as VOC's own evaluation does);
- YOLO txt labels (ultralytics layout): `root/images/**` and `root/labels/**` with the same
  relative stem, one `class cx cy w h` line per box (normalized), class names from
  `root/data.yaml` (`names:`) or `root/classes.txt`.

Validation never crashes and never drops silently: every box with width or height <= 0, every
box outside the image (clipped, or rejected with `boxes_outside: reject`), every unknown
category, every missing image and every annotation of an image that is not listed is a
`problems` entry naming the file and the box, with the action taken. Images without boxes are
kept as negatives.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
from PIL import Image

from vislab.data.images import IMAGE_SUFFIXES
from vislab.data.table import Table
from vislab.errors import InputError


@dataclass
class DetectionTable(Table):
    """A row per image (`id`, `path`, `width`, `height`, metadata) and its boxes."""

    boxes: list[np.ndarray] = field(default_factory=list)  # per image (N, 4) x1 y1 x2 y2 pixels
    labels: list[np.ndarray] = field(default_factory=list)  # per image (N,) index into classes
    crowd: list[np.ndarray] = field(default_factory=list)  # per image (N,) bool: COCO ignores
    category_ids: list[int] = field(default_factory=list)  # COCO category id of each class
    problems: list[dict] = field(default_factory=list)  # box problems found while reading

    per_row: ClassVar[tuple[str, ...]] = ("boxes", "labels", "crowd")

    def annotation(self, position: int) -> str:
        boxes = np.round(self.boxes[position], 3).tolist()
        names = [self.classes[int(k)] for k in self.labels[position]]
        return f"{boxes}{names}{self.crowd[position].astype(int).tolist()}"

    def dominant_class(self) -> pd.Series:
        """Each image's most frequent class (to stratify splits); '(no boxes)' for negatives."""
        return pd.Series(
            [
                self.classes[int(np.bincount(labels).argmax())] if len(labels) else "(no boxes)"
                for labels in self.labels
            ]
        )

    def to_coco(self) -> dict:
        """The table as COCO instances (image ids 1..N in table order): the references file."""
        images, annotations = [], []
        for position, row in enumerate(self.frame.itertuples()):
            images.append(
                {
                    "id": position + 1,
                    "file_name": str(row.id),
                    "width": int(row.width),
                    "height": int(row.height),
                }
            )
            for box, label, crowd in zip(
                self.boxes[position], self.labels[position], self.crowd[position], strict=True
            ):
                x1, y1, x2, y2 = map(float, box)
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": position + 1,
                        "category_id": self.category_ids[int(label)],
                        "bbox": [x1, y1, x2 - x1, y2 - y1],
                        "area": (x2 - x1) * (y2 - y1),
                        "iscrowd": int(crowd),
                    }
                )
        categories = [
            {"id": i, "name": n} for i, n in zip(self.category_ids, self.classes, strict=True)
        ]
        return {"images": images, "annotations": annotations, "categories": categories}


class _Builder:
    """Collects images and boxes, validating each box as it comes."""

    def __init__(self, classes: list[str], category_ids: list[int], outside: str, description: str):
        self.classes, self.category_ids, self.outside = classes, category_ids, outside
        self.description = description
        self.rows, self.boxes, self.labels, self.crowd, self.problems = [], [], [], [], []

    def add_image(self, row: dict) -> None:
        self.rows.append(row)
        self.boxes.append([])
        self.labels.append([])
        self.crowd.append([])

    def problem(self, where: str, text: str, action: str) -> None:
        self.problems.append({"where": where, "problem": text, "action": action})

    def add_box(
        self, where: str, x1: float, y1: float, x2: float, y2: float, label: int, crowd: bool
    ) -> None:
        row = self.rows[-1]
        width, height = row["width"], row["height"]
        if not np.isfinite([x1, y1, x2, y2]).all():
            self.problem(where, f"box [{x1}, {y1}, {x2}, {y2}] is not finite (NaN)", "dropped")
            return
        if x2 - x1 <= 0 or y2 - y1 <= 0:
            self.problem(
                where, f"box [{x1:g}, {y1:g}, {x2:g}, {y2:g}] has width or height <= 0", "dropped"
            )
            return
        if x1 < 0 or y1 < 0 or x2 > width or y2 > height:
            if self.outside == "reject":
                self.problem(
                    where,
                    f"box [{x1:g}, {y1:g}, {x2:g}, {y2:g}] lies outside the {width}x{height} image",
                    "dropped",
                )
                return
            x1, y1, x2, y2 = max(0, x1), max(0, y1), min(width, x2), min(height, y2)
            if x2 - x1 <= 0 or y2 - y1 <= 0:
                self.problem(where, "box lies entirely outside the image", "dropped")
                return
            self.problem(where, "box crosses the image border", "clipped to the image")
        self.boxes[-1].append([x1, y1, x2, y2])
        self.labels[-1].append(label)
        self.crowd[-1].append(crowd)

    def build(self) -> DetectionTable:
        if not self.rows:
            raise InputError(f"{self.description}: no images found.")
        return DetectionTable(
            pd.DataFrame(self.rows),
            self.classes,
            self.description,
            boxes=[np.asarray(b, dtype=np.float32).reshape(-1, 4) for b in self.boxes],
            labels=[np.asarray(label, dtype=np.int64) for label in self.labels],
            crowd=[np.asarray(c, dtype=bool) for c in self.crowd],
            category_ids=self.category_ids,
            problems=self.problems,
        )


def from_coco(
    annotations: str | Path, images: str | Path | None = None, outside: str = "clip"
) -> DetectionTable:
    """COCO instances JSON; images are looked up under `images` (default: the JSON's folder)."""
    from vislab.files import read_json

    annotations = Path(annotations)
    data = read_json(annotations, "COCO annotations")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data, dict) or key not in data:
            raise InputError(f"{annotations}: a COCO instances file needs '{key}'.")
    check_coco_lists(data, annotations)
    categories = sorted(data["categories"], key=lambda c: c["id"])
    names, ids = [str(c.get("name", c["id"])) for c in categories], [c["id"] for c in categories]
    builder = _Builder(names, ids, outside, f"COCO {annotations}")
    by_image: dict = {}
    for number, annotation in enumerate(data["annotations"], start=1):
        if not isinstance(annotation, dict) or "image_id" not in annotation:
            builder.problem(f"{annotations} annotation {number}", "no image_id", "dropped")
            continue
        by_image.setdefault(annotation["image_id"], []).append((number, annotation))
    root = Path(images) if images else annotations.parent
    for image in data["images"]:
        _coco_image(builder, image, root, by_image.get(image["id"], []), annotations)
    for image_id in sorted(set(by_image) - {image["id"] for image in data["images"]}, key=str):
        builder.problem(
            f"{annotations}",
            f"{len(by_image[image_id])} annotation(s) for image_id {image_id}, which is not in "
            "'images'",
            "dropped",
        )
    return builder.build()


def check_coco_lists(data: dict, source, image_keys: tuple[str, ...] = ("id", "file_name")) -> None:
    """Images and categories are lists of objects with unique ids (and the `image_keys`): a
    repeated image id would put one image's boxes on another. Shared by `data check`, training
    and `evaluate detection`'s references."""
    for key, needed in (("images", image_keys), ("categories", ("id",))):
        entries = data[key]
        if not isinstance(entries, list) or not all(
            isinstance(e, dict) and all(k in e for k in needed) for e in entries
        ):
            raise InputError(
                f"{source}: '{key}' must be a list of objects, each with {', '.join(needed)}."
            )
        ids = pd.Series([e["id"] for e in entries])
        if ids.duplicated().any():
            repeated = ids[ids.duplicated()].tolist()[0]
            raise InputError(
                f"{source}: {key} id {repeated!r} appears {int((ids == repeated).sum())} times; "
                "ids must be unique (or one entry's boxes land on another)."
            )


def _coco_image(builder: _Builder, image: dict, root: Path, boxes: list, source: Path) -> None:
    """One COCO image and its annotations, each box checked (and reported) as it is added."""
    path = root / str(image["file_name"])
    if not path.is_file():
        builder.problem(str(path), "image file is missing", "image left out")
        return
    metadata = {k: v for k, v in image.items() if k not in ("file_name", "width", "height", "id")}
    width, height = image.get("width"), image.get("height")
    if not width or not height:  # not in the file: the image's own header says
        from vislab.data.images import image_problem

        if image_problem(path):
            builder.problem(str(path), image_problem(path), "image left out")
            return
        with Image.open(path) as opened:
            width, height = opened.size
    builder.add_image(
        {
            "id": image["file_name"],
            "path": str(path.resolve()),
            "width": width,
            "height": height,
            "image_id": image["id"],
            **metadata,
        }
    )
    index = {category: k for k, category in enumerate(builder.category_ids)}
    for number, annotation in boxes:
        where = f"{source} annotation {number} (image {image['file_name']})"
        if annotation.get("category_id") not in index:
            message = f"unknown category_id {annotation.get('category_id')}"
            builder.problem(where, message, "dropped")
            continue
        box = annotation.get("bbox")
        if not is_bbox(box):
            builder.problem(where, f"bbox is not [x, y, width, height]: {box!r}", "dropped")
            continue
        x, y, w, h = (float(v) for v in box)
        crowd = bool(annotation.get("iscrowd", 0))
        builder.add_box(where, x, y, x + w, y + h, index[annotation["category_id"]], crowd)


def is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_bbox(box) -> bool:
    """[x, y, width, height]: a list of 4 numbers (NaN is a number here; `add_box` and the
    evaluation's checks say it is not finite)."""
    return isinstance(box, list | tuple) and len(box) == 4 and all(is_number(v) for v in box)


def from_voc(
    root: str | Path, outside: str = "clip", classes: list[str] | None = None
) -> DetectionTable:
    root = Path(root)
    files = sorted((root / "Annotations").glob("*.xml"))
    if not files:
        raise InputError(f"{root}: no Annotations/*.xml (Pascal VOC layout).")
    parsed = [(file, ElementTree.parse(file).getroot()) for file in files]
    names = classes or sorted(
        {o.findtext("name").strip() for _, xml in parsed for o in xml.iter("object")}
    )
    builder = _Builder(names, list(range(1, len(names) + 1)), outside, f"Pascal VOC {root}")
    for file, xml in parsed:
        path = root / "JPEGImages" / xml.findtext("filename", default=f"{file.stem}.jpg")
        if not path.is_file():
            builder.problem(str(path), f"image of {file.name} is missing", "image left out")
            continue
        width, height = _voc_size(xml, path)
        builder.add_image(
            {"id": path.name, "path": str(path.resolve()), "width": width, "height": height}
        )
        for number, obj in enumerate(xml.iter("object")):
            name, where = obj.findtext("name", "").strip(), f"{file} object {number}"
            if name not in names:
                builder.problem(where, f"unknown class '{name}'", "dropped")
                continue
            box = obj.find("bndbox")
            x1, y1, x2, y2 = (float(box.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax"))
            builder.add_box(
                where,
                x1,
                y1,
                x2,
                y2,
                names.index(name),
                obj.findtext("difficult", "0").strip() == "1",
            )
    return builder.build()


def _voc_size(xml, path: Path) -> tuple[int, int]:
    size = xml.find("size")
    if size is not None and size.findtext("width"):
        return int(float(size.findtext("width"))), int(float(size.findtext("height")))
    with Image.open(path) as image:
        return image.size


def from_yolo(root: str | Path, outside: str = "clip") -> DetectionTable:
    root = Path(root)
    names = _yolo_names(root)
    builder = _Builder(names, list(range(1, len(names) + 1)), outside, f"YOLO {root}")
    images = sorted(p for p in (root / "images").rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise InputError(f"{root}: no images under images/ (YOLO layout: images/ and labels/).")
    for path in images:
        relative = path.relative_to(root / "images")
        with Image.open(path) as image:
            width, height = image.size
        split = (
            relative.parts[0]
            if len(relative.parts) > 1 and relative.parts[0] in ("train", "val", "test")
            else None
        )
        row = {
            "id": relative.as_posix(),
            "path": str(path.resolve()),
            "width": width,
            "height": height,
        }
        builder.add_image({**row, **({"split": split} if split else {})})
        labels = (root / "labels" / relative).with_suffix(".txt")
        if labels.is_file():
            _yolo_boxes(builder, labels, names, width, height)
    return builder.build()


def _yolo_boxes(builder: _Builder, labels: Path, names: list[str], width: int, height: int) -> None:
    for number, line in enumerate(labels.read_text().splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        where = f"{labels} line {number}"
        if len(parts) != 5:
            builder.problem(where, f"expected 'class cx cy w h', got {line!r}", "dropped")
            continue
        label = int(float(parts[0]))
        if not 0 <= label < len(names):
            builder.problem(where, f"class {label} is not among the {len(names)} names", "dropped")
            continue
        cx, cy, w, h = (float(v) for v in parts[1:])
        x1, y1 = (cx - w / 2) * width, (cy - h / 2) * height
        builder.add_box(where, x1, y1, x1 + w * width, y1 + h * height, label, False)


def _yolo_names(root: Path) -> list[str]:
    import yaml

    if (root / "data.yaml").is_file():
        names = (yaml.safe_load((root / "data.yaml").read_text()) or {}).get("names")
        if isinstance(names, dict):
            return [str(names[k]) for k in sorted(names)]
        if isinstance(names, list):
            return [str(n) for n in names]
    if (root / "classes.txt").is_file():
        return [
            line.strip() for line in (root / "classes.txt").read_text().splitlines() if line.strip()
        ]
    raise InputError(f"{root}: class names not found: give data.yaml with 'names:' or classes.txt.")


def detection_source_from_path(
    path: str | Path, images: str | Path | None = None
) -> DetectionTable:
    """COCO for a .json file, VOC for a folder with Annotations/, YOLO for one with labels/."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        return from_coco(path, images)
    if (path / "Annotations").is_dir():
        return from_voc(path)
    if (path / "labels").is_dir():
        return from_yolo(path)
    raise InputError(
        f"{path}: not a detection source (COCO .json, VOC folder with Annotations/, YOLO folder "
        "with labels/)."
    )


def is_detection_source(path: str | Path) -> bool:
    path = Path(path)
    return (
        path.suffix.lower() == ".json"
        or (path / "Annotations").is_dir()
        or (path / "labels").is_dir()
    )


def summarize_detection(table: DetectionTable) -> dict:
    """`vislab data check` for detection: counts, negatives, box problems, unreadable files and
    duplicates."""
    from vislab.data.check import _duplicates, imbalance_ratio, scan

    result = scan(table)
    unreadable = [
        {"id": row.id, "path": row.path, "reason": problem}
        for row, problem in zip(table.frame.itertuples(), result.problems, strict=True)
        if problem
    ]
    labels = np.concatenate(table.labels) if table.labels else np.zeros(0, int)
    counts = {name: int((labels == k).sum()) for k, name in enumerate(table.classes)}
    frame = table.frame.assign(label="")
    digests = result.digests
    return {
        "source": table.description,
        "task": "detection",
        "n_images": len(table),
        "n_boxes": int(len(labels)),
        "n_images_without_boxes": int(sum(len(b) == 0 for b in table.boxes)),
        "boxes_per_class": counts,
        "imbalance_ratio": imbalance_ratio(counts),
        "problems": table.problems,
        "n_problems": len(table.problems),
        "n_unreadable": len(unreadable),
        "unreadable": unreadable,
        "duplicates": _duplicates(frame, digests),
    }
