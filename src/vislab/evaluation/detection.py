"""metrics.json for detection: COCO results JSON + instances JSON in, DESIGN's shape out.

The matching of pycocotools' `COCOeval.evaluate()` is done once, compiled (detection_match.py);
every number, interval, group, precision-recall curve and per-image recall of the report comes
from it (`detection_matching.DetectionEvaluator`). Without intervals or groups the two files are
read straight into arrays (detection_arrays.py) where they are plainly well-formed; otherwise,
and to name any problem, they are read and checked entry by entry.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from vislab.data.detection import check_coco_lists, is_bbox, is_number
from vislab.errors import InputError
from vislab.evaluation.detection_arrays import CocoArrays, arrays_from_dicts, read_arrays
from vislab.evaluation.detection_matching import NAMES, DetectionEvaluator, Matching
from vislab.evaluation.groups import group_breakdown
from vislab.evaluation.intervals import bootstrap_record, metric_entries, metric_entry
from vislab.files import read_json, read_table


def load_references(path: str | Path) -> dict:
    """The checked content of a COCO instances file."""
    return check_references(read_json(path, "references"), str(path))


def check_references(dataset, source: str) -> dict:
    """A COCO instances file as the evaluation needs it: unique image and category ids, every
    annotation on a listed image, of a listed category, with a box of 4 finite numbers, a
    finite area and iscrowd 0 or 1. A missing `area` is the box's, a missing `iscrowd` is 0 and
    a missing annotation id is its position (as COCO converters write them)."""
    if not isinstance(dataset, dict):
        raise InputError(f"{source}: a COCO instances file is a JSON object.")
    missing = [key for key in ("images", "annotations", "categories") if key not in dataset]
    if missing:
        raise InputError(f"{source}: a COCO instances file needs {missing}.")
    check_coco_lists(dataset, source, image_keys=("id",))  # pycocotools needs no file_name
    images = {image["id"] for image in dataset["images"]}
    categories = {category["id"] for category in dataset["categories"]}
    annotations = []
    for number, item in enumerate(dataset["annotations"], start=1):
        where = f"{source}: annotation {number} (counting from 1)"
        _check_detection(item, ("image_id", "category_id", "bbox"), images, categories, where)
        x, y, w, h = item["bbox"]
        defaults = {"area": float(w * h), "iscrowd": 0, "id": number}
        annotation = {**defaults, **item}
        if not (is_number(annotation["area"]) and math.isfinite(annotation["area"])):
            raise InputError(f"{where}: area must be a finite number, got {annotation['area']!r}.")
        if annotation["iscrowd"] not in (0, 1):
            raise InputError(f"{where}: iscrowd must be 0 or 1, got {item['iscrowd']!r}.")
        annotations.append(annotation)
    return {**dataset, "annotations": annotations}


NUMBERS = (int, float)  # JSON's numbers (a bool is not one)


def _surely_fine(item, scored: bool, images: set, categories: set) -> bool:
    """A quick look that passes only items `_check_detection` passes (the rest get its full
    check, which names the problem): a known image and category, a list of 4 numbers with a
    finite sum and no negative size, and (`scored`) a finite score."""
    try:
        box = item["bbox"]
        x, y, w, h = box
        fine = (
            type(box) is list
            and type(x) in NUMBERS
            and type(y) in NUMBERS
            and type(w) in NUMBERS
            and type(h) in NUMBERS
            and math.isfinite(x + y + w + h)
            and w >= 0
            and h >= 0
            and item["image_id"] in images
            and item["category_id"] in categories
        )
        if fine and scored:
            score = item["score"]
            return type(score) in NUMBERS and math.isfinite(score)
        return fine
    except (KeyError, TypeError, ValueError):
        return False


def _among(value, known: set) -> bool:
    """Whether `value` is one of `known` (an id that cannot be one, such as a list, is not)."""
    try:
        return value in known
    except TypeError:
        return False


def _check_detection(item, keys, images: set, categories: set, where: str) -> None:
    """One detection or annotation: its keys, a known image and category, a finite box."""
    if _surely_fine(item, "score" in keys, images, categories):
        return
    problem = None
    if not isinstance(item, dict) or not all(key in item for key in keys):
        problem = f"needs {', '.join(keys)}"
    elif not _among(item["image_id"], images):
        problem = f"image_id {item['image_id']!r} is not in 'images' of the references"
    elif not _among(item["category_id"], categories):
        problem = f"category_id {item['category_id']!r} is not in the references' categories"
    elif not (is_bbox(item["bbox"]) and all(math.isfinite(v) for v in item["bbox"])):
        problem = f"bbox must be [x, y, width, height]: 4 finite numbers, got {item['bbox']!r}"
    elif item["bbox"][2] < 0 or item["bbox"][3] < 0:
        problem = f"bbox width and height must be >= 0, got {item['bbox']!r}"
    elif "score" in keys and not (is_number(item["score"]) and math.isfinite(item["score"])):
        problem = f"score must be a finite number, got {item['score']!r}"
    if problem:
        raise InputError(f"{where}: {problem}.")


def check_results(results, truth: dict, source: str) -> list[dict]:
    """Every detection names a known image and category (of the checked references `truth`),
    a box of 4 finite numbers and a finite score; entries are counted from 1."""
    if not isinstance(results, list):
        raise InputError(f"{source}: COCO results are a JSON list of detections.")
    images = {image["id"] for image in truth["images"]}
    categories = {category["id"] for category in truth["categories"]}
    keys = ("image_id", "category_id", "bbox", "score")
    for number, item in enumerate(results, start=1):
        where = f"{source}: detection {number} (counting from 1)"
        _check_detection(item, keys, images, categories, where)
    return results


def evaluate_detection(
    predictions: str | Path,
    references: str | Path,
    group_by: Sequence[str] = (),
    metadata: str | Path | pd.DataFrame | None = None,
    bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict:
    """metrics.json's content for COCO results against COCO instances."""
    point_only = bootstrap == 0 and not group_by
    arrays = read_arrays(predictions, references) if point_only else None
    if arrays is not None:
        return _point_only(arrays)
    truth = load_references(references)
    results = check_results(read_json(predictions, "predictions"), truth, str(predictions))
    if point_only:
        return _point_only(arrays_from_dicts(truth, results, str(references)))
    return detection_metrics_json(truth, results, group_by, metadata, bootstrap, confidence, seed)[
        0
    ]


def detection_metrics_json(
    truth, results: list[dict], group_by=(), metadata=None, bootstrap=1000, confidence=0.95, seed=0
) -> tuple[dict, DetectionEvaluator]:
    """metrics.json's content and the evaluator behind it (the report draws from it), for the
    checked references `truth` and checked `results`."""
    arrays = arrays_from_dicts(truth, results)
    evaluator = DetectionEvaluator(Matching.from_arrays(arrays))
    metrics, draws, point = metric_entries(evaluator, bootstrap, confidence, seed)
    names = arrays.category_names
    class_draws = draws.get("per_class_ap")
    per_class = {
        name: {
            "AP": metric_entry(
                point["per_class_ap"][0, k],
                None if class_draws is None else class_draws[:, k],
                confidence,
            )
        }
        for k, name in enumerate(names)
    }
    result = {"task": "detection", "n": evaluator.n, "metrics": metrics, "per_class": per_class}
    if group_by:
        frame = _image_metadata(truth, evaluator.matching.image_ids, metadata)
        result["groups"], result["disparities"], _ = group_breakdown(
            evaluator, frame, group_by, bootstrap, confidence, seed, "image metadata"
        )
    result["bootstrap"] = bootstrap_record(bootstrap, confidence, seed)
    return result, evaluator


def _point_only(arrays: CocoArrays) -> dict:
    """No intervals, no groups: the twelve numbers and per-class AP of one matching."""
    matching = Matching.from_arrays(arrays)
    values = matching.metrics(np.ones((1, len(arrays.image_ids))))

    def entry(value: float) -> dict:
        return {"value": None if np.isnan(value) else float(value)}

    return {
        "task": "detection",
        "n": len(arrays.image_ids),
        "metrics": {name: entry(values[name][0]) for name in NAMES},
        "per_class": {
            name: {"AP": entry(values["per_class_ap"][0, k])}
            for k, name in enumerate(arrays.category_names)
        },
        "bootstrap": bootstrap_record(0, None, None, None),
    }


def _image_metadata(truth: dict, image_ids: list, metadata) -> pd.DataFrame:
    """One row per reference image (in COCOeval's order), with the metadata columns joined."""
    by_id = {image["id"]: image for image in truth["images"]}
    images = pd.DataFrame([by_id[image_id] for image_id in image_ids])
    if metadata is None:
        return images
    table = metadata if isinstance(metadata, pd.DataFrame) else read_table(metadata)
    key = "image_id" if "image_id" in table.columns else "file_name"
    if key not in table.columns:
        raise InputError("--metadata needs an 'image_id' or 'file_name' column to join on.")
    repeated = table[key][table[key].duplicated()].astype(str).unique()[:5].tolist()
    if repeated:
        raise InputError(f"--metadata: {key} {repeated} appear more than once; one row per image.")
    left = "id" if key == "image_id" else "file_name"
    return images.merge(table, left_on=left, right_on=key, how="left", suffixes=("", "_metadata"))
