"""COCO detection metrics: the twelve numbers equal pycocotools on many random cases."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from vislab.evaluation.detection import STATS, detection_metrics, matches_from_cocoeval


def random_coco(seed: int, images=12, categories=3):
    """Ground truth with crowd boxes, empty images, a class never predicted, and noisy detections."""
    rng = np.random.default_rng(seed)
    gt = {
        "images": [],
        "annotations": [],
        "categories": [{"id": c + 1, "name": f"c{c}"} for c in range(categories)],
    }
    detections = []
    for image_id in range(1, images + 1):
        gt["images"].append(
            {"id": image_id, "width": 640, "height": 480, "file_name": f"{image_id}.jpg"}
        )
        for _ in range(int(rng.integers(0, 8))):  # some images have no boxes
            w, h = rng.uniform(4, 300, 2)
            x, y = rng.uniform(0, 640 - w), rng.uniform(0, 480 - h)
            category = int(rng.integers(1, categories + 1))
            gt["annotations"].append({
                "id": len(gt["annotations"]) + 1, "image_id": image_id, "category_id": category,
                "bbox": [x, y, w, h], "area": w * h, "iscrowd": int(rng.random() < 0.1),
            })  # fmt: skip
            for _ in range(int(rng.integers(0, 3))):  # near-duplicates and misses
                jitter = rng.normal(0, 0.15 * min(w, h), 4)
                detections.append({"image_id": image_id, "category_id": category,
                                   "bbox": [x + jitter[0], y + jitter[1], max(1, w + jitter[2]), max(1, h + jitter[3])],
                                   "score": float(rng.random())})  # fmt: skip
        for _ in range(
            int(rng.integers(0, 4 if seed % 4 else 130))
        ):  # false positives; sometimes > 100
            w, h = rng.uniform(4, 200, 2)
            detections.append({"image_id": image_id, "category_id": int(rng.integers(1, categories)),
                               "bbox": [rng.uniform(0, 400), rng.uniform(0, 300), w, h], "score": float(rng.random())})  # fmt: skip
    return gt, detections


def run_pycocotools(gt, detections):
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = gt
        truth.createIndex()
        found = truth.loadRes(detections) if detections else COCO()
        evaluation = COCOeval(truth, found, "bbox")
        evaluation.evaluate()
        matching = COCOeval(truth, found, "bbox")
        matching.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return evaluation, matching


@pytest.mark.parametrize("seed", range(40))
def test_twelve_numbers_equal_pycocotools(seed):
    gt, detections = random_coco(seed, images=int(3 + seed % 15))
    reference, matching = run_pycocotools(gt, detections)
    table, categories, thresholds, levels = matches_from_cocoeval(matching)
    ours = detection_metrics(table, categories, thresholds, levels, np.ones((1, len(gt["images"]))))
    for index, (name, *_) in enumerate(STATS):
        assert ours[name][0] == pytest.approx(reference.stats[index], abs=1e-9), name
    precision = reference.eval["precision"][:, :, :, 0, 2]  # all areas, 100 detections
    for k in range(len(categories)):
        values = precision[:, :, k]
        expected = values[values > -1].mean() if (values > -1).any() else -1
        assert ours["per_class_ap"][0, k] == pytest.approx(expected, abs=1e-9)


def test_image_weights_of_zero_equal_evaluating_the_other_images():
    gt, detections = random_coco(3, images=10)
    keep = {1, 2, 3, 4, 5, 6}
    sub_gt = {**gt, "images": [i for i in gt["images"] if i["id"] in keep],
              "annotations": [a for a in gt["annotations"] if a["image_id"] in keep]}  # fmt: skip
    reference, _ = run_pycocotools(sub_gt, [d for d in detections if d["image_id"] in keep])
    _, matching = run_pycocotools(gt, detections)
    table, categories, thresholds, levels = matches_from_cocoeval(matching)
    weights = np.array([[1.0 if i in keep else 0.0 for i in matching.params.imgIds]])
    ours = detection_metrics(table, categories, thresholds, levels, weights)
    for index, (name, *_) in enumerate(STATS):
        assert ours[name][0] == pytest.approx(reference.stats[index], abs=1e-9), name
