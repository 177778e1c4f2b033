"""COCO references and detections as arrays: what the compiled matching (detection_match.py)
reads.

`arrays_from_dicts` takes the content of the two files after detection.py's checks (which name
every problem). `read_arrays` reads the two files straight into arrays with msgspec's typed JSON
decoding (structs that the garbage collector does not track, with collection paused while
they are made: a tenth of Python's json time), and gives None for anything that is not
plainly well-formed (integer ids, boxes of four finite numbers, known images and categories):
the checked path then reads the files again and names the problem. Both give the same arrays.
"""

from __future__ import annotations

import gc
import math
from dataclasses import dataclass
from itertools import chain
from operator import attrgetter
from pathlib import Path

import msgspec
import numpy as np

from vislab.errors import InputError


@dataclass
class CocoArrays:
    """Reference boxes ("truth") and detections ("found") of one evaluation."""

    image_ids: list  # the reference images' ids, sorted (COCOeval's order)
    category_ids: list  # sorted
    category_names: list[str]  # in category_ids' order
    truth_image: np.ndarray  # (G,) index into image_ids
    truth_category: np.ndarray  # (G,) index into category_ids
    truth_box: np.ndarray  # (G, 4) x, y, width, height
    truth_area: np.ndarray  # (G,) the annotation's area (its box's where the file has none)
    truth_crowd: np.ndarray  # (G,) bool
    found_image: np.ndarray  # (D,)
    found_category: np.ndarray  # (D,)
    found_box: np.ndarray  # (D, 4)
    found_score: np.ndarray  # (D,)


def category_name(category: dict) -> str:
    """A COCO category's name as shown (its id where it has none)."""
    name = category.get("name")
    return str(category["id"] if name is None else name)


def _sorted_ids(entries: list[dict], key: str, source: str) -> list:
    try:
        return sorted(entry["id"] for entry in entries)
    except TypeError as error:
        raise InputError(
            f"{source}: the {key} ids mix kinds (numbers and text): make them all numbers or "
            "all text (they are sorted, as pycocotools sorts them)."
        ) from error


def arrays_from_dicts(dataset: dict, results: list[dict], source: str = "references") -> CocoArrays:
    """The arrays of checked COCO instances (every annotation with area and iscrowd) and
    checked results."""
    image_ids = _sorted_ids(dataset["images"], "image", source)
    category_ids = _sorted_ids(dataset["categories"], "category", source)
    named = {c["id"]: category_name(c) for c in dataset["categories"]}
    image_index = {value: n for n, value in enumerate(image_ids)}
    category_index = {value: n for n, value in enumerate(category_ids)}
    annotations = dataset["annotations"]

    def column(items, key, index):
        return np.fromiter((index[item[key]] for item in items), np.int64, len(items))

    def boxes(items):
        return np.array([item["bbox"] for item in items], dtype=np.float64).reshape(-1, 4)

    return CocoArrays(
        image_ids,
        category_ids,
        [named[value] for value in category_ids],
        column(annotations, "image_id", image_index),
        column(annotations, "category_id", category_index),
        boxes(annotations),
        np.array([a["area"] for a in annotations], dtype=np.float64),
        np.array([bool(a["iscrowd"]) for a in annotations], dtype=np.bool_),
        column(results, "image_id", image_index),
        column(results, "category_id", category_index),
        boxes(results),
        np.array([r["score"] for r in results], dtype=np.float64),
    )


class _Entry(msgspec.Struct, gc=False):
    id: int
    name: str | None = None


class _Box(msgspec.Struct, gc=False):
    image_id: int
    category_id: int
    bbox: tuple[float, float, float, float]
    area: float = math.nan  # JSON has no NaN: not in the file
    iscrowd: int = 0


class _Detection(msgspec.Struct, gc=False):
    image_id: int
    category_id: int
    bbox: tuple[float, float, float, float]
    score: float


class _Instances(msgspec.Struct, gc=False):
    images: list[_Entry]
    annotations: list[_Box]
    categories: list[_Entry]


def read_arrays(predictions: str | Path, references: str | Path) -> CocoArrays | None:
    """The arrays of the two files read at once, or None where either needs the checked path
    (a problem to name, or ids that are not integers)."""
    collecting = gc.isenabled()
    gc.disable()  # hundreds of thousands of new objects: no collection passes over them
    try:
        truth = msgspec.json.decode(Path(references).read_bytes(), type=_Instances)
        found = msgspec.json.decode(Path(predictions).read_bytes(), type=list[_Detection])
        return _plain_arrays(truth, found)
    except (OSError, OverflowError, msgspec.DecodeError):
        return None
    finally:
        if collecting:
            gc.enable()


def _plain_arrays(truth, found) -> CocoArrays | None:
    """The arrays where everything is as the checks want it, else None."""
    image_ids = np.fromiter((i.id for i in truth.images), np.int64, len(truth.images))
    category_ids = np.fromiter((c.id for c in truth.categories), np.int64, len(truth.categories))
    images, categories = np.unique(image_ids), np.unique(category_ids)
    if len(images) < len(image_ids) or len(categories) < len(category_ids):
        return None
    boxes = truth.annotations
    truth_ids = _integers(boxes, ("image_id", "category_id", "iscrowd"))
    truth_values = _numbers(boxes, "area")
    found_ids = _integers(found, ("image_id", "category_id"))
    found_values = _numbers(found, "score")
    truth_image, truth_category = (
        _index(truth_ids[:, 0], images),
        _index(truth_ids[:, 1], categories),
    )
    found_image, found_category = (
        _index(found_ids[:, 0], images),
        _index(found_ids[:, 1], categories),
    )
    area = truth_values[:, 4]
    missing = np.isnan(area)
    area[missing] = truth_values[missing, 2] * truth_values[missing, 3]
    fine = (
        np.isin(truth_ids[:, 2], (0, 1)).all()
        and np.isfinite(area).all()
        and _boxes_fine(truth_values[:, :4])
        and _boxes_fine(found_values[:, :4])  # msgspec refuses numbers out of range
        and all(index is not None for index in (truth_image, truth_category))
        and all(index is not None for index in (found_image, found_category))
    )
    if not fine:
        return None
    names = {c.id: c.name if c.name is not None else str(c.id) for c in truth.categories}
    return CocoArrays(
        images.tolist(),
        categories.tolist(),
        [names[value] for value in categories.tolist()],
        truth_image,
        truth_category,
        truth_values[:, :4],
        area,
        truth_ids[:, 2] == 1,
        found_image,
        found_category,
        found_values[:, :4],
        found_values[:, 4],
    )


def _integers(items, keys: tuple[str, ...]) -> np.ndarray:
    """(N, len(keys)): those fields of each item."""
    values = chain.from_iterable(map(attrgetter(*keys), items))
    return np.fromiter(values, np.int64, len(items) * len(keys)).reshape(-1, len(keys))


def _numbers(items, last: str) -> np.ndarray:
    """(N, 5): the box and the `last` number of each item."""
    boxes = chain.from_iterable(map(attrgetter("bbox"), items))
    box = np.fromiter(boxes, np.float64, len(items) * 4).reshape(-1, 4)
    other = np.fromiter(map(attrgetter(last), items), np.float64, len(items))
    return np.column_stack([box, other])


def _index(ids: np.ndarray, known: np.ndarray) -> np.ndarray | None:
    """Each id's position among the sorted `known` ids; None if one is not among them."""
    where = np.searchsorted(known, ids)
    inside = where < len(known)
    if not inside.all() or not (known[where] == ids).all():
        return None
    return where


def _boxes_fine(boxes: np.ndarray) -> bool:
    return bool(np.isfinite(boxes.sum(axis=1)).all() and (boxes[:, 2:] >= 0).all())
