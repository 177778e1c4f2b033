"""metrics.json for detection: COCO results JSON + instances JSON in, DESIGN's shape out."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from vislab.errors import InputError
from vislab.evaluation.detection import (
    CELLS_PER_CHUNK,
    STATS,
    detection_metrics,
    matches_from_cocoeval,
)
from vislab.evaluation.image_groups import (
    groups_by_metadata,
    metric_entry,
    read_json,
    weights_stream,
)

NAMES = [name for name, *_ in STATS]


def load_references(path: str | Path):
    from pycocotools.coco import COCO

    dataset = read_json(path, "references")
    missing = [key for key in ("images", "annotations", "categories") if key not in dataset]
    if missing:
        raise InputError(f"{path}: a COCO instances file needs {missing}.")
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = dataset
        truth.createIndex()
    return truth


def check_results(results, truth, source: str) -> list[dict]:
    """Every detection names a known image and category, a box of 4 numbers and a score."""
    if not isinstance(results, list):
        raise InputError(f"{source}: COCO results are a JSON list of detections.")
    images, categories = set(truth.getImgIds()), set(truth.getCatIds())
    for index, item in enumerate(results):
        problem = None
        if not all(key in item for key in ("image_id", "category_id", "bbox", "score")):
            problem = "needs image_id, category_id, bbox and score"
        elif item["image_id"] not in images:
            problem = f"image_id {item['image_id']} is not in the references"
        elif item["category_id"] not in categories:
            problem = f"category_id {item['category_id']} is not in the references"
        elif len(item["bbox"]) != 4 or item["bbox"][2] < 0 or item["bbox"][3] < 0:
            problem = (
                f"bbox must be [x, y, width, height] with width, height >= 0, got {item['bbox']}"
            )
        if problem:
            raise InputError(f"{source}: detection {index}: {problem}.")
    return results


def match(truth, results: list[dict]):
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        found = truth.loadRes(results) if results else _empty_results(truth)
        evaluation = COCOeval(truth, found, "bbox")
        evaluation.evaluate()
    return evaluation


def _empty_results(truth):
    from pycocotools.coco import COCO

    empty = COCO()
    empty.dataset = {
        "images": truth.dataset["images"],
        "categories": truth.dataset["categories"],
        "annotations": [],
    }
    empty.createIndex()
    return empty


def evaluate_detection(
    predictions: str | Path,
    references: str | Path,
    group_by: Sequence[str] = (),
    metadata: str | Path | pd.DataFrame | None = None,
    bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict:
    truth = load_references(references)
    results = check_results(read_json(predictions, "predictions"), truth, str(predictions))
    if bootstrap == 0 and not group_by:
        return _point_only(truth, results)
    table, categories, thresholds, levels = matches_from_cocoeval(match(truth, results))
    image_ids = list(truth.getImgIds())
    count = len(image_ids)
    widest = max((m.true_positive.shape[1] for m in table.values()), default=1)
    per_chunk = max(1, CELLS_PER_CHUNK // (len(thresholds) * max(widest, count)))

    def metrics_for(images: np.ndarray, stream_seed: int) -> tuple[dict, dict]:
        mask = np.zeros((1, count))
        mask[0, images] = 1.0
        point = detection_metrics(table, categories, thresholds, levels, mask)
        parts = [detection_metrics(table, categories, thresholds, levels, w)
                 for w in weights_stream(images, count, bootstrap, per_chunk, stream_seed)]  # fmt: skip
        draws = {key: np.concatenate([p[key] for p in parts]) for key in point} if parts else {}
        return point, draws

    point, draws = metrics_for(np.arange(count), seed)
    names = [c["name"] for c in truth.loadCats(categories)]
    class_draws = draws.get("per_class_ap")
    result = {
        "task": "detection",
        "n": count,
        "metrics": {
            name: metric_entry(point[name][0], draws.get(name), confidence) for name in NAMES
        },
        "per_class": {
            name: {
                "AP": metric_entry(
                    point["per_class_ap"][0, k],
                    None if class_draws is None else class_draws[:, k],
                    confidence,
                )
            }
            for k, name in enumerate(names)
        },
    }
    if group_by:
        frame = _image_metadata(truth, image_ids, metadata)
        result["groups"], result["disparities"] = groups_by_metadata(
            frame, group_by, metrics_for, confidence, NAMES
        )
    result["bootstrap"] = {"resamples": bootstrap, "confidence": confidence, "seed": seed,
                           "method": "percentile", "unit": "images"}  # fmt: skip
    return result


def _point_only(truth, results: list[dict]) -> dict:
    """No intervals, no groups: faster-coco-eval's C++ evaluation (identical numbers)."""
    from faster_coco_eval import COCO, COCOeval_faster

    quiet = lambda *args, **kwargs: None  # noqa: E731
    gt = COCO(truth.dataset, print_function=quiet)
    if results:
        found = gt.loadRes(results)
    else:
        found = COCO(_empty_results(truth).dataset, print_function=quiet)
    evaluation = COCOeval_faster(gt, found, "bbox", print_function=quiet)
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    precision = evaluation.eval["precision"][:, :, :, 0, -1]  # (T, R, K): all areas, 100 detections
    names = [c["name"] for c in truth.loadCats(evaluation.params.catIds)]
    per_class = {}
    for k, name in enumerate(names):
        values = precision[:, :, k]
        per_class[name] = {
            "AP": {"value": float(values[values > -1].mean()) if (values > -1).any() else None}
        }
    return {
        "task": "detection",
        "n": len(truth.getImgIds()),
        "metrics": {
            name: {"value": float(v) if v > -1 else None}
            for name, v in zip(NAMES, evaluation.stats[:12], strict=True)
        },
        "per_class": per_class,
        "bootstrap": {
            "resamples": 0,
            "confidence": None,
            "seed": None,
            "method": None,
            "unit": "images",
        },
    }


def _image_metadata(truth, image_ids: list, metadata) -> pd.DataFrame:
    """One row per reference image (in COCOeval's order), with the metadata columns joined."""
    images = pd.DataFrame(truth.loadImgs(image_ids))
    if metadata is None:
        return images
    table = metadata if isinstance(metadata, pd.DataFrame) else _read_metadata(metadata)
    key = "image_id" if "image_id" in table.columns else "file_name"
    if key not in table.columns:
        raise InputError("--metadata needs an 'image_id' or 'file_name' column to join on.")
    left = "id" if key == "image_id" else "file_name"
    joined = images.merge(table, left_on=left, right_on=key, how="left", suffixes=("", "_metadata"))
    return joined


def _read_metadata(path) -> pd.DataFrame:
    from vislab.data.sources import read_table

    return read_table(path)
