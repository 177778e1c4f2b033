"""COCO detection metrics: the twelve numbers equal pycocotools on many random cases, and the
compiled accumulation of many weight rows at once equals pycocotools' accumulate() written out
with weights, row by row."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from tests.evaluation.coco_reference import matches_from_cocoeval
from vislab.evaluation.detection_matching import STATS, Stacked, detection_metrics


def random_coco(seed: int, images=12, categories=3):
    """Ground truth with crowd boxes, empty images, a class never predicted, noisy detections."""
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
            gt["annotations"].append(
                {
                    "id": len(gt["annotations"]) + 1,
                    "image_id": image_id,
                    "category_id": category,
                    "bbox": [x, y, w, h],
                    "area": w * h,
                    "iscrowd": int(rng.random() < 0.1),
                }
            )
            for _ in range(int(rng.integers(0, 3))):  # near-duplicates and misses
                jitter = rng.normal(0, 0.15 * min(w, h), 4)
                detections.append(
                    {
                        "image_id": image_id,
                        "category_id": category,
                        "bbox": [
                            x + jitter[0],
                            y + jitter[1],
                            max(1, w + jitter[2]),
                            max(1, h + jitter[3]),
                        ],
                        "score": float(rng.random()),
                    }
                )
        for _ in range(
            int(rng.integers(0, 4 if seed % 4 else 130))
        ):  # false positives; sometimes > 100
            w, h = rng.uniform(4, 200, 2)
            detections.append(
                {
                    "image_id": image_id,
                    "category_id": int(rng.integers(1, categories)),
                    "bbox": [rng.uniform(0, 400), rng.uniform(0, 300), w, h],
                    "score": float(rng.random()),
                }
            )
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
    stacked = Stacked.from_table(table, len(categories))
    ours = detection_metrics(stacked, thresholds, levels, np.ones((1, len(gt["images"]))))
    for index, (name, *_) in enumerate(STATS):
        assert ours[name][0] == pytest.approx(reference.stats[index], abs=1e-9), name
    precision = reference.eval["precision"][:, :, :, 0, 2]  # all areas, 100 detections
    for k in range(len(categories)):
        values = precision[:, :, k]
        expected = values[values > -1].mean() if (values > -1).any() else -1
        assert ours["per_class_ap"][0, k] == pytest.approx(expected, abs=1e-9)


def _accumulated(matches, weights: np.ndarray, max_dets: int, levels: np.ndarray):
    """pycocotools' accumulate() for one category and area, one weight row at a time: weighted
    cumulative sums, its precision and recall, its envelope loop and its searchsorted."""
    keep = matches.rank < max_dets
    precision = np.zeros((len(weights), matches.true_positive.shape[0], len(levels)))
    recall = np.zeros(precision.shape[:2])
    for row, weight in enumerate(weights):
        positives = weight @ matches.ground_truth
        by_detection = weight[matches.image[keep]]
        for t, (hits, misses) in enumerate(
            zip(matches.true_positive[:, keep], matches.false_positive[:, keep], strict=True)
        ):
            tp, fp = np.cumsum(hits * by_detection), np.cumsum(misses * by_detection)
            with np.errstate(divide="ignore", invalid="ignore"):  # no boxes: -1 in the end
                rc, pr = tp / positives, (tp / (fp + tp + np.spacing(1))).tolist()
            for i in range(len(pr) - 1, 0, -1):
                if pr[i] > pr[i - 1]:
                    pr[i - 1] = pr[i]
            found = np.searchsorted(rc, levels, side="left")
            precision[row, t] = [pr[i] if i < len(pr) else 0.0 for i in found]
            recall[row, t] = rc[-1] if len(rc) else 0.0
    return precision, recall


@pytest.mark.parametrize("seed", range(6))
def test_many_weight_rows_at_once_equal_pycocotools_accumulation_row_by_row(seed):
    from vislab.evaluation.detection_matching import precision_recall

    gt, detections = random_coco(seed, images=40, categories=3)
    _, matching = run_pycocotools(gt, detections)
    table, _, _, levels = matches_from_cocoeval(matching)
    rng = np.random.default_rng(seed)
    count = len(matching.params.imgIds)
    resamples = [np.bincount(rng.integers(0, count, count), minlength=count) for _ in range(7)]
    weights = np.vstack([*resamples, rng.integers(0, 2, (3, count))]).astype(float)
    for matches in table.values():
        for max_dets in (1, 10, 100):
            precision, recall = precision_recall(matches, weights, max_dets, levels)
            expected_precision, expected_recall = _accumulated(matches, weights, max_dets, levels)
            known = weights @ matches.ground_truth > 0
            np.testing.assert_array_equal(precision[known], expected_precision[known])
            np.testing.assert_array_equal(recall[known], expected_recall[known])
            assert (precision[~known] == -1).all() and (recall[~known] == -1).all()


def test_image_weights_of_zero_equal_evaluating_the_other_images():
    gt, detections = random_coco(3, images=10)
    keep = {1, 2, 3, 4, 5, 6}
    sub_gt = {
        **gt,
        "images": [i for i in gt["images"] if i["id"] in keep],
        "annotations": [a for a in gt["annotations"] if a["image_id"] in keep],
    }
    reference, _ = run_pycocotools(sub_gt, [d for d in detections if d["image_id"] in keep])
    _, matching = run_pycocotools(gt, detections)
    table, categories, thresholds, levels = matches_from_cocoeval(matching)
    weights = np.array([[1.0 if i in keep else 0.0 for i in matching.params.imgIds]])
    stacked = Stacked.from_table(table, len(categories))
    ours = detection_metrics(stacked, thresholds, levels, weights)
    for index, (name, *_) in enumerate(STATS):
        assert ours[name][0] == pytest.approx(reference.stats[index], abs=1e-9), name


def _write(tmp_path, seed=1, images=30):
    import json

    gt, detections = random_coco(seed, images=images)
    (tmp_path / "instances.json").write_text(json.dumps(gt))
    (tmp_path / "results.json").write_text(json.dumps(detections))
    return gt, detections


def test_evaluate_detection_command_with_intervals_and_groups(tmp_path, capsys):
    import json

    import pandas as pd

    from vislab.cli import run

    gt, detections = _write(tmp_path)
    reference, _ = run_pycocotools(gt, detections)
    pd.DataFrame(
        {
            "image_id": [i["id"] for i in gt["images"]],
            "setting": ["indoor" if i["id"] % 3 else "outdoor" for i in gt["images"]],
        }
    ).to_csv(tmp_path / "meta.csv", index=False)
    command = [
        "evaluate",
        "detection",
        "--predictions",
        str(tmp_path / "results.json"),
        "--references",
        str(tmp_path / "instances.json"),
        "--group-by",
        "setting",
        "--metadata",
        str(tmp_path / "meta.csv"),
        "--bootstrap",
        "60",
        "--out",
        str(tmp_path / "metrics.json"),
    ]
    assert run(command) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert [metrics["metrics"][name]["value"] for name, *_ in STATS] == pytest.approx(
        list(reference.stats), abs=1e-9
    )
    low, high = metrics["metrics"]["mAP"]["ci"]
    assert low <= metrics["metrics"]["mAP"]["value"] <= high and low < high
    assert set(metrics["per_class"]) == {"c0", "c1", "c2"}
    assert set(metrics["groups"]["setting"]) == {"indoor", "outdoor"}
    assert metrics["groups"]["setting"]["indoor"]["n"] == 20
    assert "difference" in metrics["disparities"]["setting"]["mAP"]
    assert "mAP" in capsys.readouterr().out


def test_group_metrics_equal_pycocotools_on_the_group_images(tmp_path):
    from vislab.evaluation.detection import evaluate_detection

    gt, detections = _write(tmp_path, seed=4, images=24)
    metadata = __import__("pandas").DataFrame(
        {
            "image_id": [i["id"] for i in gt["images"]],
            "half": ["a" if i["id"] <= 12 else "b" for i in gt["images"]],
        }
    )
    result = evaluate_detection(
        tmp_path / "results.json", tmp_path / "instances.json", ["half"], metadata, bootstrap=0
    )
    keep = {i["id"] for i in gt["images"] if i["id"] <= 12}
    sub = {
        **gt,
        "images": [i for i in gt["images"] if i["id"] in keep],
        "annotations": [a for a in gt["annotations"] if a["image_id"] in keep],
    }
    reference, _ = run_pycocotools(sub, [d for d in detections if d["image_id"] in keep])
    assert result["groups"]["half"]["a"]["metrics"]["mAP"]["value"] == pytest.approx(
        reference.stats[0], abs=1e-9
    )


def test_bad_detection_files_are_named(tmp_path):
    import json

    from vislab.errors import InputError
    from vislab.evaluation.detection import evaluate_detection

    gt, detections = _write(tmp_path)
    detections[3]["image_id"] = 999
    (tmp_path / "bad.json").write_text(json.dumps(detections))
    with pytest.raises(
        InputError, match=r"detection 4 \(counting from 1\): image_id 999 is not in"
    ):
        evaluate_detection(tmp_path / "bad.json", tmp_path / "instances.json", bootstrap=0)
    (tmp_path / "broken.json").write_text("[{")
    with pytest.raises(InputError, match="broken.json: not valid JSON"):
        evaluate_detection(tmp_path / "broken.json", tmp_path / "instances.json", bootstrap=0)
    (tmp_path / "empty.json").write_text("[]")
    empty = evaluate_detection(tmp_path / "empty.json", tmp_path / "instances.json", bootstrap=0)
    assert empty["metrics"]["mAP"]["value"] == 0.0


@pytest.mark.parametrize("seed", range(12))
def test_point_numbers_without_intervals_equal_pycocotools_read_either_way(tmp_path, seed):
    """Plain files are read straight into arrays; the same detections with a score written as
    an integer, a crowd flag as true and an extra image id as text take the checked path: the
    same twelve numbers and per-class AP as pycocotools either way."""
    import json

    from vislab.evaluation import detection_arrays
    from vislab.evaluation.detection import evaluate_detection

    gt, detections = _write(tmp_path, seed=seed, images=int(3 + seed % 15))
    reference, _ = run_pycocotools(gt, detections)
    precision = reference.eval["precision"][:, :, :, 0, 2]
    expected_ap = [
        precision[:, :, k][precision[:, :, k] > -1].mean()
        if (precision[:, :, k] > -1).any()
        else None
        for k in range(precision.shape[2])
    ]
    assert detection_arrays.read_arrays(tmp_path / "results.json", tmp_path / "instances.json")
    odd = [dict(d, score=1) if i == 0 else d for i, d in enumerate(detections)]
    odd_gt = {**gt, "annotations": [dict(a, iscrowd=bool(a["iscrowd"])) for a in gt["annotations"]]}
    (tmp_path / "odd.json").write_text(json.dumps(odd))
    (tmp_path / "odd_gt.json").write_text(json.dumps(odd_gt))
    assert not detection_arrays.read_arrays(tmp_path / "odd.json", tmp_path / "odd_gt.json")
    for predictions, references, results in (
        ("results.json", "instances.json", detections),
        ("odd.json", "odd_gt.json", odd),
    ):
        if results is odd:
            reference, _ = run_pycocotools(odd_gt, odd)
        result = evaluate_detection(tmp_path / predictions, tmp_path / references, bootstrap=0)
        values = [result["metrics"][name]["value"] for name, *_ in STATS]
        assert [(-1 if v is None else v) for v in values] == pytest.approx(
            list(reference.stats), abs=1e-12
        )
        if results is detections:
            ours = [result["per_class"][f"c{k}"]["AP"]["value"] for k in range(len(expected_ap))]
            assert ours == pytest.approx(expected_ap, abs=1e-12)


def _coco_arrays(gt, detections):
    from vislab.evaluation.detection import check_references
    from vislab.evaluation.detection_arrays import arrays_from_dicts

    return arrays_from_dicts(check_references(gt, "gt"), detections)


@pytest.mark.parametrize("seed", range(30))
def test_compiled_matching_equals_pycocotools_evaluate(seed):
    """Every detection's order, image, rank within its image, true and false positive flags at
    every threshold and area, and every image's count of boxes not ignored, as read off
    pycocotools' evaluate(): crowd boxes, boxes on area boundaries, tied scores, tied IoUs,
    IoUs exactly at a threshold, detections of no width, > 100 detections on an image,
    annotation ids in any order."""
    from vislab.evaluation.detection_matching import Matching

    gt, detections = random_coco(seed, images=int(3 + seed % 20), categories=int(2 + seed % 4))
    rng = np.random.default_rng(seed)
    for detection in detections[:: 3 + seed % 5]:  # tied scores, across images too
        detection["score"] = 0.5
    for annotation in gt["annotations"][:: 4 + seed % 3]:  # exactly on an area boundary
        annotation["area"] = float(rng.choice([32**2, 96**2]))
    for annotation in gt["annotations"][:: 5 + seed % 4]:
        x, y, w, h = annotation["bbox"]
        gt["annotations"].append(dict(annotation))  # the same box twice: tied IoUs
        half = {"image_id": annotation["image_id"], "category_id": annotation["category_id"]}
        detections.append({**half, "bbox": [x, y, w, h / 2], "score": 0.3})  # IoU exactly 0.5
        detections.append({**half, "bbox": [x + w / 2, y, 0.0, h], "score": 0.2})  # no width
    where = {"image_id": 1, "category_id": 1}  # two boxes of exactly equal IoU with a detection:
    for box in ([1000, 0, 10, 10], [1004, 0, 10, 10]):  # it takes the later one, as pycocotools
        gt["annotations"].append({**where, "bbox": box, "area": 100.0, "iscrowd": 0})
    detections.append({**where, "bbox": [1002, 0, 10, 10], "score": 0.9})
    detections.append({**where, "bbox": [1000, 0, 10, 10], "score": 0.8})  # then the first
    ids = rng.permutation(len(gt["annotations"])) + 1
    for annotation, new in zip(gt["annotations"], ids, strict=True):
        annotation["id"] = int(new)
    _, matching = run_pycocotools(gt, detections)
    expected, *_ = matches_from_cocoeval(matching)
    ours = Matching.from_arrays(_coco_arrays(gt, detections)).table
    assert set(ours) == set(expected)
    for key, matches in expected.items():
        for name in ("scores", "image", "rank", "true_positive", "false_positive", "ground_truth"):
            np.testing.assert_array_equal(getattr(ours[key], name), getattr(matches, name), name)


def test_coco_parameters_are_pycocotools_own():
    from pycocotools.cocoeval import Params

    from vislab.evaluation.detection_match import AREA_RANGES, LEVELS, MAX_DETECTIONS, THRESHOLDS

    params = Params("bbox")
    np.testing.assert_array_equal(THRESHOLDS, params.iouThrs)
    np.testing.assert_array_equal(LEVELS, params.recThrs)
    assert [list(area) for area in AREA_RANGES] == params.areaRng
    assert params.maxDets[-1] == MAX_DETECTIONS


def test_curves_and_image_recall_come_from_the_same_matching(tmp_path):
    """The report's precision-recall curves are pycocotools' at IoU 0.5; an image's recall
    counts its boxes found by a confident detection of the class."""
    from vislab.evaluation.detection_matching import Matching

    gt, detections = random_coco(5, images=12)
    reference, matching = run_pycocotools(gt, detections)
    ours = Matching.from_arrays(_coco_arrays(gt, detections))
    expected = reference.eval["precision"][0, :, :, 0, 2].T  # (K, R) at IoU 0.5, all areas
    np.testing.assert_allclose(ours.curves(0.5), expected, atol=1e-12)
    recall = ours.image_recall(min_score=0.5)
    for position, image_id in enumerate(ours.image_ids):
        wanted = [a for a in gt["annotations"] if a["image_id"] == image_id and not a["iscrowd"]]
        if not wanted:
            assert recall[position] == 1.0
            continue
        found = 0
        for k in range(len(ours.categories)):
            entry = matching.evalImgs[k * 4 * len(ours.image_ids) + position]  # area "all"
            if entry is None:
                continue
            for score, match, ignored in zip(
                entry["dtScores"], entry["dtMatches"][0], entry["dtIgnore"][0], strict=True
            ):
                found += score >= 0.5 and match > 0 and not ignored
        assert recall[position] == pytest.approx(found / len(wanted))


def test_ground_truth_written_as_vislab_predictions_scores_a_perfect_map(tmp_path):
    """Boxes go through vislab's own path (boxes table -> COCO results -> evaluation): the
    category ids and the x, y, width, height order must map back exactly."""
    import pandas as pd

    from vislab.data.detection import from_coco
    from vislab.data.shapes import make_shapes
    from vislab.evaluation.detection import evaluate_detection
    from vislab.tasks.base import Run
    from vislab.tasks.detection import DetectionTask

    path = make_shapes(tmp_path / "shapes", count=12, size=64, seed=4)
    table = from_coco(path)
    table = table.with_frame(table.frame.assign(split="test"))
    rows = pd.DataFrame(
        [
            {
                "position": p,
                "label": int(label),
                "score": 0.9,
                "x1": b[0],
                "y1": b[1],
                "x2": b[2],
                "y2": b[3],
            }
            for p in range(len(table))
            for b, label in zip(table.boxes[p], table.labels[p], strict=True)
        ]
    )
    task = DetectionTask()
    run = Run(tmp_path, None, {"classes": table.classes, "category_ids": table.category_ids})
    task.write_predictions(tmp_path / "predictions.json", task.predictions(rows, table, run), table)
    metrics = evaluate_detection(
        tmp_path / "predictions.json", tmp_path / "references.json", bootstrap=0
    )
    for name in ("mAP", "mAP_50", "mAP_75", "AR_100"):
        assert metrics["metrics"][name]["value"] == pytest.approx(1.0), name
    shifted = rows.assign(x1=rows["x1"] + 8, x2=rows["x2"] + 8)  # wrong boxes must lose
    task.write_predictions(tmp_path / "wrong.json", task.predictions(shifted, table, run), table)
    wrong = evaluate_detection(tmp_path / "wrong.json", tmp_path / "references.json", bootstrap=0)
    assert wrong["metrics"]["mAP"]["value"] < 0.5


def test_the_quick_look_passes_only_detections_the_full_check_passes(monkeypatch):
    """`_surely_fine` lets a detection skip the full check: on many detections, sound and
    broken (bools, strings, NaN and infinite numbers, negative sizes, short boxes, unknown
    images and categories, missing keys), whatever it passes the full check passes too, and
    the sound ones all take it."""
    from vislab.errors import InputError
    from vislab.evaluation import detection

    rng = np.random.default_rng(0)
    odd = [True, "3", float("nan"), float("inf"), -1.0, None, [1], 1e308]
    items, sound = [], []
    for _ in range(3000):
        item = {"image_id": 1, "category_id": 2, "bbox": [1.0, 2, 3.5, 4], "score": 0.5}
        broken = rng.random() < 0.7
        if broken:
            key = ["image_id", "category_id", "bbox", "score", "box value", "drop"][
                int(rng.integers(6))
            ]
            value = odd[int(rng.integers(len(odd)))]
            if key == "box value":
                item["bbox"][int(rng.integers(4))] = value
            elif key == "drop":
                del item[["image_id", "category_id", "bbox", "score"][int(rng.integers(4))]]
            else:
                item[key] = value
        items.append(item)
        sound.append(not broken)
    keys = ("image_id", "category_id", "bbox", "score")
    quick = [detection._surely_fine(item, True, {1}, {2}) for item in items]
    monkeypatch.setattr(detection, "_surely_fine", lambda *args: False)
    for item, passed, is_sound in zip(items, quick, sound, strict=True):
        try:
            detection._check_detection(item, keys, {1}, {2}, "here")
            fully = True
        except InputError:
            fully = False
        assert fully or not passed, item
        assert passed or not is_sound, item


@pytest.mark.parametrize(
    "change",
    [
        lambda gt, found: found[0].update(score=float("nan")),
        lambda gt, found: found[0].update(bbox=[1, 2, -3, 4]),
        lambda gt, found: found[0].update(image_id=10**7),
        lambda gt, found: found[0].update(image_id=0),
        lambda gt, found: found[0].update(category_id="1"),
        lambda gt, found: found[0].pop("score"),
        lambda gt, found: gt["annotations"][0].update(iscrowd=2),
        lambda gt, found: gt["annotations"][0].update(area=None),
        lambda gt, found: gt["images"].append(dict(gt["images"][0])),
        lambda gt, found: gt["annotations"][0].update(bbox=[1, 2, 3]),
    ],
)
def test_problems_leave_the_quick_reading_to_the_checks_that_name_them(tmp_path, change):
    import json

    from vislab.errors import InputError
    from vislab.evaluation.detection import evaluate_detection
    from vislab.evaluation.detection_arrays import read_arrays

    gt, detections = random_coco(2, images=6)
    change(gt, detections)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "found.json").write_text(json.dumps(detections))
    assert read_arrays(tmp_path / "found.json", tmp_path / "gt.json") is None
    with pytest.raises(InputError, match=r"(detection|annotation) 1 \(counting from 1\)|images id"):
        evaluate_detection(tmp_path / "found.json", tmp_path / "gt.json", bootstrap=0)


def test_a_box_id_plays_no_part_in_the_matching():
    """Ids 0 and repeated ids: pycocotools counts a detection matched to box 0 as unmatched
    and boxes sharing an id as one; the compiled matching equals pycocotools on the same boxes
    numbered 1, 2, 3, ..."""
    from vislab.evaluation.detection_matching import Matching

    gt, detections = random_coco(11, images=15)
    _, matching = run_pycocotools(gt, detections)
    expected, *_ = matches_from_cocoeval(matching)
    for annotation in gt["annotations"]:
        annotation["id"] = 0 if annotation["id"] % 2 else 7
    ours = Matching.from_arrays(_coco_arrays(gt, detections)).table
    for key, matches in expected.items():
        np.testing.assert_array_equal(ours[key].true_positive, matches.true_positive)
        np.testing.assert_array_equal(ours[key].false_positive, matches.false_positive)


def test_no_category_stacks_to_empty_arrays():
    """A table of no categories: nothing to accumulate, every number undefined (-1)."""
    from vislab.evaluation.detection_match import LEVELS, THRESHOLDS

    stacked = Stacked.from_table({}, 0)
    assert stacked.ground_truth.shape == (4, 0, 0) and stacked.true_positive.shape[:2] == (4, 0)
    values = detection_metrics(stacked, THRESHOLDS, LEVELS, np.ones((1, 0)))
    assert values["mAP"].tolist() == [-1.0] and values["per_class_ap"].shape == (1, 0)
