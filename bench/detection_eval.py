"""Detection evaluation speed: vislab against pycocotools, measured side by side in one run.

Random COCO ground truth and detections (the generator of the tests: crowd boxes, empty images,
false positives) on --images images. Timed: pycocotools (evaluate + accumulate + summarize),
faster-coco-eval, vislab without intervals (goal: >= 2.5x pycocotools), and vislab with
--resamples bootstrap replicates (goal: 1,000 on 5,000 images in under a minute). The twelve
numbers of all of them are checked to be equal.

    python bench/detection_eval.py [--images 5000] [--resamples 1000]
        [--out bench/results/detection_eval.json]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.evaluation.test_detection import random_coco  # noqa: E402
from vislab.evaluation.detection import evaluate_detection  # noqa: E402
from vislab.evaluation.detection_matching import STATS  # noqa: E402


def pycocotools_stats(gt: dict, detections: list) -> np.ndarray:
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = gt
        truth.createIndex()
        evaluation = COCOeval(truth, truth.loadRes(detections), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return evaluation.stats


def faster_stats(gt: dict, detections: list) -> np.ndarray:
    from faster_coco_eval import COCO as FasterCOCO
    from faster_coco_eval import COCOeval_faster

    quiet = lambda *args, **kwargs: None  # noqa: E731
    truth = FasterCOCO(gt, print_function=quiet)
    evaluation = COCOeval_faster(truth, truth.loadRes(detections), "bbox", print_function=quiet)
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    return evaluation.stats


def timed(function):
    start = time.perf_counter()
    value = function()
    return time.perf_counter() - start, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "detection_eval.json"
    )
    args = parser.parse_args()
    gt, detections = random_coco(7, images=args.images, categories=10)
    with tempfile.TemporaryDirectory() as folder:
        references, predictions = Path(folder) / "instances.json", Path(folder) / "results.json"
        references.write_text(json.dumps(gt))
        predictions.write_text(json.dumps(detections))
        reference_seconds, reference = timed(lambda: pycocotools_stats(gt, detections))
        faster_seconds, faster = timed(lambda: faster_stats(gt, detections))
        point_seconds, point = timed(
            lambda: evaluate_detection(predictions, references, bootstrap=0)
        )
        boot_seconds, boot = timed(
            lambda: evaluate_detection(predictions, references, bootstrap=args.resamples)
        )
    names = [name for name, *_ in STATS]
    ours = np.array([point["metrics"][n]["value"] for n in names], dtype=float)
    ours_boot = np.array([boot["metrics"][n]["value"] for n in names], dtype=float)
    result = {
        "benchmark": "detection_eval",
        "images": args.images,
        "boxes": len(gt["annotations"]),
        "detections": len(detections),
        "seconds_pycocotools": reference_seconds,
        "seconds_faster_coco_eval": faster_seconds,
        "seconds_vislab_no_intervals": point_seconds,
        "speedup_vislab_over_pycocotools": reference_seconds / point_seconds,
        "seconds_vislab_bootstrap": boot_seconds,
        "resamples": args.resamples,
        "max_abs_difference_to_pycocotools": float(
            np.max(np.abs(np.vstack([ours, ours_boot, faster]) - reference))
        ),
        "mAP": boot["metrics"]["mAP"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{args.images} images, {len(gt['annotations'])} boxes, {len(detections)} detections")
    print(
        f"pycocotools {reference_seconds:.2f} s, faster-coco-eval {faster_seconds:.2f} s, vislab "
        f"{point_seconds:.2f} s "
        f"-> {result['speedup_vislab_over_pycocotools']:.1f}x pycocotools (goal >= 2.5x)"
    )
    print(
        f"vislab with {args.resamples} bootstrap resamples: {boot_seconds:.1f} s (goal < 60 s); "
        f"mAP {boot['metrics']['mAP']['value']:.4f} [{boot['metrics']['mAP']['ci'][0]:.4f}, "
        f"{boot['metrics']['mAP']['ci'][1]:.4f}]"
    )
    print(
        "largest difference of the twelve numbers to pycocotools: "
        f"{result['max_abs_difference_to_pycocotools']:.1e}"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
