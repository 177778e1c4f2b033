"""COCO references and detections as arrays: what the compiled matching (detection_match.py)
reads.

`arrays_from_dicts` takes the content of the two files after detection.py's checks (which name
every problem). `read_arrays` reads the two files straight from their bytes into arrays with
the compiled reader (coco_json.py, a file on each core), and gives None for anything that is
not plainly well-formed (integer ids, boxes of four finite numbers, finite scores and areas,
known images and categories): the checked path then reads the files again and names the
problem. Both give the same arrays.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

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


def read_arrays(predictions: str | Path, references: str | Path) -> CocoArrays | None:
    """The arrays of the two files read at once, or None where either needs the checked path
    (a problem to name, or ids that are not integers)."""
    from vislab.evaluation import coco_json

    try:
        found_text, truth_text = Path(predictions).read_bytes(), Path(references).read_bytes()
    except OSError:
        return None
    with ThreadPoolExecutor(2) as pool:  # numba's reader lets go of the GIL: one file a core
        found = pool.submit(coco_json.read_file, np.frombuffer(found_text, np.uint8), False)
        truth = pool.submit(coco_json.read_file, np.frombuffer(truth_text, np.uint8), True)
        (found_status, *found), (truth_status, *truth) = found.result(), truth.result()
    if found_status != coco_json.FINE or truth_status != coco_json.FINE:
        return None
    images, categories, name_spans, *truth_boxes = truth
    truth_ids, truth_values = _decided(truth_text, *truth_boxes)
    found_ids, found_values = _decided(found_text, *found[3:])
    names = [None if a < 0 else json.loads(truth_text[a:b]) for a, b in name_spans.tolist()]
    return _plain_arrays(
        (images, categories, names), (truth_ids, truth_values), (found_ids, found_values)
    )


def _decided(text: bytes, ids: np.ndarray, values: np.ndarray, undecided: np.ndarray):
    """(ids, values) with the numbers the compiled reading left to Python filled in."""
    for index, start, end in undecided.tolist():
        values.flat[index] = float(text[start:end])
    return ids, values


def _plain_arrays(entries, truth, found) -> CocoArrays | None:
    """The arrays where everything is as the checks want it, else None."""
    image_ids, category_ids, names = entries
    images, categories = np.unique(image_ids), np.unique(category_ids)
    if len(images) < len(image_ids) or len(categories) < len(category_ids):
        return None
    (truth_ids, truth_values), (found_ids, found_values) = truth, found
    truth_image, truth_category = (
        _index(truth_ids[:, 0], images),
        _index(truth_ids[:, 1], categories),
    )
    found_image, found_category = (
        _index(found_ids[:, 0], images),
        _index(found_ids[:, 1], categories),
    )
    area = truth_values[:, 4]
    missing = np.isnan(area)  # JSON has no NaN: no area in the file
    area[missing] = truth_values[missing, 2] * truth_values[missing, 3]
    fine = (
        truth_ids[:, 2].astype(np.uint64).max(initial=0) <= 1  # iscrowd 0 or 1
        and np.isfinite(area).all()
        and np.isfinite(found_values[:, 4]).all()
        and _boxes_fine(truth_values[:, :4])
        and _boxes_fine(found_values[:, :4])
        and all(index is not None for index in (truth_image, truth_category))
        and all(index is not None for index in (found_image, found_category))
    )
    if not fine:
        return None
    named = {
        key: str(key) if name is None else name
        for key, name in zip(category_ids.tolist(), names, strict=True)
    }
    return CocoArrays(
        images.tolist(),
        categories.tolist(),
        [named[value] for value in categories.tolist()],
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


def _index(ids: np.ndarray, known: np.ndarray) -> np.ndarray | None:
    """Each id's position among the sorted `known` ids; None if one is not among them."""
    if not len(ids) or not len(known):
        return np.zeros(0, np.int64) if not len(ids) else None
    low, span = known[0], known[-1] - known[0]
    if span <= 8 * len(known) + 4096:  # ids close together (COCO's): a table from id to place
        shifted = ids - low
        if shifted.min() < 0 or shifted.max() > span:
            return None
        table = np.full(span + 1, -1, np.int64)
        table[known - low] = np.arange(len(known))
        where = table[shifted]
        return None if where.min() < 0 else where
    where = np.searchsorted(known, ids)
    inside = where < len(known)
    if not inside.all() or not (known[where] == ids).all():
        return None
    return where


def _boxes_fine(boxes: np.ndarray) -> bool:
    """Finite x + y + width + height (summed as the checks sum them), no negative size."""
    total = boxes[:, 0] + boxes[:, 1] + boxes[:, 2] + boxes[:, 3]
    return bool(np.isfinite(total).all() and boxes[:, 2:4].min(initial=0.0) >= 0)
