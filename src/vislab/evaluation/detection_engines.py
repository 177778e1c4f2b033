"""The COCO engines behind detection evaluation. The per-image matching of detections to boxes
(`COCOeval.evaluate()`) is pycocotools' own; everything after it (the twelve numbers,
intervals, groups, curves) is vislab's (detection_matching.py). Without intervals or groups the
whole evaluation is the fastest engine's (`point_only`: hotcoco, Rust and MIT, where it is
installed, else faster-coco-eval's C++), whose twelve numbers and precision curves the tests
compare with pycocotools'. hotcoco's matching is pycocotools' too, but handing its per-image
entries to Python took 3 to 5 s at 5,000 images, as long as pycocotools' whole evaluate()."""

from __future__ import annotations

import contextlib
import importlib.util
import io

import numpy as np


def match(truth, results: list[dict]):
    """pycocotools' COCOeval of `results` (checked COCO detections) against `truth` (a
    pycocotools COCO), after evaluate()."""
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        found = truth.loadRes(results) if results else empty_results(truth)
        evaluation = COCOeval(truth, found, "bbox")
        evaluation.evaluate()
    return evaluation


def empty_results(truth):
    """No detections at all, as a pycocotools COCO (its loadRes refuses an empty list)."""
    from pycocotools.coco import COCO

    empty = COCO()
    empty.dataset = {
        "images": truth.dataset["images"],
        "categories": truth.dataset["categories"],
        "annotations": [],
    }
    empty.createIndex()
    return empty


def point_only(truth, results: list[dict], engine: str | None = None):
    """The twelve numbers (12,), the precision curves (T, R, K, areas, max detections) and the
    category ids, by `engine` ("hotcoco" or "faster-coco-eval"; None: hotcoco where
    installed)."""
    if engine is None:
        engine = "hotcoco" if importlib.util.find_spec("hotcoco") else "faster-coco-eval"
    if engine == "hotcoco" and results:
        import hotcoco

        ground_truth = hotcoco.COCO(truth.dataset)
        evaluation = hotcoco.COCOeval(ground_truth, ground_truth.load_res(results), "bbox")
    else:
        from faster_coco_eval import COCO, COCOeval_faster

        quiet = lambda *args, **kwargs: None  # noqa: E731
        ground_truth = COCO(truth.dataset, print_function=quiet)
        dataset = empty_results(truth).dataset
        found = ground_truth.loadRes(results) if results else COCO(dataset, print_function=quiet)
        evaluation = COCOeval_faster(ground_truth, found, "bbox", print_function=quiet)
    with contextlib.redirect_stdout(io.StringIO()):  # summarize() prints the table
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    precision = np.asarray(evaluation.eval["precision"])
    return np.asarray(evaluation.stats[:12], dtype=float), precision, list(evaluation.params.catIds)
