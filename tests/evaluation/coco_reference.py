"""pycocotools' own matching as vislab's `Matches`: the reference the compiled matching
(vislab.evaluation.detection_match) is compared with, and the input of the accumulation tests."""

from __future__ import annotations

import numpy as np

from vislab.evaluation.detection_matching import AREAS, Matches


def matches_from_cocoeval(
    evaluation,
) -> tuple[dict[tuple[int, str], Matches], list, np.ndarray, np.ndarray]:
    """Per (category index, area name) Matches from a COCOeval after `evaluate()`."""
    params = evaluation.params
    images, categories = list(params.imgIds), list(params.catIds)
    area_names = dict(zip(map(tuple, params.areaRng), AREAS, strict=True))
    count_images, count_areas = len(images), len(params.areaRng)
    table = {}
    for k in range(len(categories)):
        for a, area in enumerate(params.areaRng):
            start = k * count_areas * count_images + a * count_images
            entries = evaluation.evalImgs[start : start + count_images]
            table[(k, area_names[tuple(area)])] = _matches(entries, len(params.iouThrs))
    return table, categories, np.asarray(params.iouThrs), np.asarray(params.recThrs)


def _matches(entries: list, thresholds: int) -> Matches:
    """One category and area range from its per-image entries (None: no box, no detection):
    each entry's lists joined once, not turned into arrays one by one."""
    from itertools import chain

    present = [(index, entry) for index, entry in enumerate(entries) if entry is not None]
    ground_truth = np.zeros(len(entries))
    counts = np.array([len(entry["dtScores"]) for _, entry in present], dtype=np.int64)
    where = np.array([index for index, _ in present], dtype=np.int64)
    boxes = [entry["gtIgnore"] for _, entry in present]
    ignored_boxes = np.fromiter(chain.from_iterable(boxes), float, sum(map(len, boxes)))
    owners = np.repeat(where, [len(b) for b in boxes])
    np.add.at(ground_truth, owners, ignored_boxes == 0)
    total = int(counts.sum())
    if not total:
        empty = np.zeros((thresholds, 0), dtype=bool)
        return Matches(np.zeros(0), np.zeros(0, int), np.zeros(0, int), empty, empty, ground_truth)
    scores = np.fromiter(chain.from_iterable(e["dtScores"] for _, e in present), float, total)
    image = np.repeat(where, counts)
    rank = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    with_detections = [entry for (_, entry), count in zip(present, counts, strict=True) if count]
    matched = np.concatenate(
        [np.asarray(e["dtMatches"]).reshape(thresholds, -1) for e in with_detections], axis=1
    )
    ignored = np.concatenate(
        [np.asarray(e["dtIgnore"]).reshape(thresholds, -1) for e in with_detections], axis=1
    )
    order = np.argsort(-scores, kind="mergesort")
    hit, skip = matched[:, order] > 0, ignored[:, order] > 0
    true_positive, false_positive = hit & ~skip, ~hit & ~skip
    return Matches(
        scores[order], image[order], rank[order], true_positive, false_positive, ground_truth
    )
