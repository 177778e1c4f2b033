"""Detection evaluation speed: vislab against pycocotools, faster-coco-eval, hotcoco and
ultrafast-pycocotools, measured side by side in one run.

Random COCO ground truth and detections (the generator of the tests: crowd boxes, empty images,
false positives) on --images images. Timed, each from the same two JSON files to the twelve
numbers: pycocotools (evaluate + accumulate + summarize), faster-coco-eval (C++), hotcoco and
ultrafast-pycocotools (Rust), vislab without intervals (its files checked too; goal: at least
as fast as the fastest of the four), and vislab with --resamples bootstrap replicates (goal:
1,000 on 5,000 images in under 5 s; the resampling timed apart from the matching). Each engine
runs once on small files first (imports, compiled code loaded), then --repeats times on the big
ones (or as many as fit in 10 s, at least 3), the fastest run counting. The twelve numbers of
all of them are checked to be equal.

    python bench/detection_eval.py [--images 5000] [--resamples 1000] [--repeats 15]
        [--out bench/results/detection_eval.json]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
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


def pycocotools_stats(references: Path, predictions: Path, module=None) -> np.ndarray:
    """The twelve numbers by pycocotools, or by a drop-in `module` of the same API."""
    coco, cocoeval = (COCO, COCOeval) if module is None else (module.COCO, module.COCOeval)
    with contextlib.redirect_stdout(io.StringIO()):
        truth = coco(str(references))
        evaluation = cocoeval(truth, truth.loadRes(str(predictions)), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return np.asarray(evaluation.stats[:12])


def faster_stats(references: Path, predictions: Path) -> np.ndarray:
    from faster_coco_eval import COCO as FasterCOCO
    from faster_coco_eval import COCOeval_faster

    quiet = lambda *args, **kwargs: None  # noqa: E731
    truth = FasterCOCO(str(references), print_function=quiet)
    found = truth.loadRes(str(predictions))
    evaluation = COCOeval_faster(truth, found, "bbox", print_function=quiet)
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    return np.asarray(evaluation.stats[:12])


def hotcoco_stats(references: Path, predictions: Path) -> np.ndarray:
    import hotcoco

    truth = hotcoco.COCO(str(references))
    evaluation = hotcoco.COCOeval(truth, truth.load_res(str(predictions)), "bbox")
    with contextlib.redirect_stdout(io.StringIO()):
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return np.asarray(evaluation.stats[:12])


def ultrafast_stats(references: Path, predictions: Path) -> np.ndarray:
    import ultrafast_pycocotools

    return pycocotools_stats(references, predictions, ultrafast_pycocotools)


def resampling_seconds(references: Path, predictions: Path, resamples: int) -> float:
    """The bootstrap alone: the matching made first, then `resamples` replicates timed."""
    from vislab.evaluation.detection import check_results, load_references
    from vislab.evaluation.detection_arrays import arrays_from_dicts
    from vislab.evaluation.detection_matching import DetectionEvaluator, Matching
    from vislab.evaluation.intervals import metric_entries

    truth = load_references(references)
    results = check_results(json.loads(predictions.read_text()), truth, str(predictions))
    evaluator = DetectionEvaluator(Matching.from_arrays(arrays_from_dicts(truth, results)))
    metric_entries(evaluator, 2, 0.95, 0)  # compiled once, not timed
    return timed(lambda: metric_entries(evaluator, resamples, 0.95, 0))[0]


def timed(function):
    start = time.perf_counter()
    value = function()
    return time.perf_counter() - start, value


def best_of(function, repeats: int, budget: float = 10.0):
    """The fastest of `repeats` runs, or of as many as fit in `budget` seconds (at least 3),
    and its value: every engine is timed alike, after one untimed run on small files has
    imported it and loaded any compiled code, and after a collection of what the engine
    before it left (this machine's timings vary by a tenth run to run: the fastest of many)."""
    gc.collect()
    runs, start = [], time.perf_counter()
    while len(runs) < repeats and (len(runs) < 3 or time.perf_counter() - start < budget):
        runs.append(timed(function))
    return min(seconds for seconds, _ in runs), runs[0][1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument(
        "--repeats", type=int, default=15, help="runs per engine, within 10 s (the fastest)"
    )
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "detection_eval.json"
    )
    args = parser.parse_args()
    gt, detections = random_coco(7, images=args.images, categories=10)
    with tempfile.TemporaryDirectory() as folder:
        references, predictions = Path(folder) / "instances.json", Path(folder) / "results.json"
        references.write_text(json.dumps(gt))
        predictions.write_text(json.dumps(detections))
        small = Path(folder) / "small_instances.json", Path(folder) / "small_results.json"
        small_gt, small_detections = random_coco(8, images=20, categories=10)
        small[0].write_text(json.dumps(small_gt))
        small[1].write_text(json.dumps(small_detections))
        files = references, predictions
        engines = {
            "pycocotools": pycocotools_stats,
            "faster-coco-eval": faster_stats,
            "hotcoco": hotcoco_stats,
            "ultrafast-pycocotools": ultrafast_stats,
            "vislab": lambda r, p: evaluate_detection(p, r, bootstrap=0),
        }
        for engine in engines.values():
            engine(*small)
        measured = {
            name: best_of(lambda engine=engine: engine(*files), args.repeats)
            for name, engine in engines.items()
        }
        reference_seconds, reference = measured["pycocotools"]
        faster_seconds, faster = measured["faster-coco-eval"]
        hotcoco_seconds, hot = measured["hotcoco"]
        ultrafast_seconds, ultrafast = measured["ultrafast-pycocotools"]
        point_seconds, point = measured["vislab"]
        boot_seconds, boot = timed(
            lambda: evaluate_detection(predictions, references, bootstrap=args.resamples)
        )
        resampling = resampling_seconds(references, predictions, args.resamples)
    anchors = {
        "pycocotools": reference_seconds,
        "faster-coco-eval": faster_seconds,
        "hotcoco": hotcoco_seconds,
        "ultrafast-pycocotools": ultrafast_seconds,
    }
    fastest = min(anchors, key=anchors.get)
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
        "seconds_hotcoco": hotcoco_seconds,
        "seconds_ultrafast_pycocotools": ultrafast_seconds,
        "seconds_vislab_no_intervals": point_seconds,
        "timing": (
            f"the fastest of {args.repeats} runs each (at least 3, within 10 s), after one "
            "untimed run on small files and a garbage collection"
        ),
        "speedup_vislab_over_pycocotools": reference_seconds / point_seconds,
        "fastest_anchor": fastest,
        "speedup_vislab_over_fastest_anchor": anchors[fastest] / point_seconds,
        "seconds_vislab_bootstrap": boot_seconds,
        "seconds_vislab_resampling_only": resampling,
        "resamples": args.resamples,
        "max_abs_difference_to_pycocotools": float(
            np.max(np.abs(np.vstack([ours, ours_boot, faster, hot, ultrafast]) - reference))
        ),
        "mAP": boot["metrics"]["mAP"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{args.images} images, {len(gt['annotations'])} boxes, {len(detections)} detections")
    print(
        f"pycocotools {reference_seconds:.2f} s, faster-coco-eval {faster_seconds:.2f} s, "
        f"hotcoco {hotcoco_seconds:.2f} s, ultrafast-pycocotools {ultrafast_seconds:.2f} s, "
        f"vislab {point_seconds:.2f} s -> {result['speedup_vislab_over_fastest_anchor']:.2f}x "
        f"the fastest ({fastest}; goal >= 1x), "
        f"{result['speedup_vislab_over_pycocotools']:.1f}x pycocotools"
    )
    print(
        f"vislab with {args.resamples} bootstrap resamples: {boot_seconds:.1f} s in all, "
        f"{resampling:.1f} s resampling (goal < 5 s); "
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
