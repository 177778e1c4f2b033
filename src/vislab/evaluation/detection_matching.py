"""COCO detection metrics equal to pycocotools, with image-bootstrap intervals and groups.

pycocotools' `COCOeval.evaluate()` matches detections to ground truth per image, category and
area range; that matching is done once (detection_match.py, compiled). `accumulate()`'s
precision/recall computation is then redone here, vectorized and with a weight per image:
weights of 1 give pycocotools' twelve numbers exactly; bootstrap replicates weight each image
by its multiplicity in the resample (duplicated images included), and a group's numbers weight
its images 1 and the others 0.

Duplicated images enter the cumulative sums at once (weight 2 adds 2 true or false positives at
one rank) rather than as two adjacent ranks; this changes precision only between the recall
levels of the two copies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vislab.evaluation.intervals import WeightedEvaluator

STATS = (  # name, kind, IoU threshold (None: 0.50:0.95), area, max detections
    ("mAP", "ap", None, "all", 100),
    ("mAP_50", "ap", 0.5, "all", 100),
    ("mAP_75", "ap", 0.75, "all", 100),
    ("mAP_small", "ap", None, "small", 100),
    ("mAP_medium", "ap", None, "medium", 100),
    ("mAP_large", "ap", None, "large", 100),
    ("AR_1", "ar", None, "all", 1),
    ("AR_10", "ar", None, "all", 10),
    ("AR_100", "ar", None, "all", 100),
    ("AR_small", "ar", None, "small", 100),
    ("AR_medium", "ar", None, "medium", 100),
    ("AR_large", "ar", None, "large", 100),
)
AREAS = ("all", "small", "medium", "large")
NAMES = [name for name, *_ in STATS]


@dataclass
class Matches:
    """One category and area range: every detection, in pycocotools' accumulation order."""

    scores: np.ndarray  # (D,) sorted by score, descending (stable, as pycocotools)
    image: np.ndarray  # (D,) image index of each detection
    rank: np.ndarray  # (D,) rank of the detection within its image (for max-detection limits)
    true_positive: np.ndarray  # (T, D) matched and not ignored
    false_positive: np.ndarray  # (T, D) unmatched and not ignored
    ground_truth: np.ndarray  # (I,) non-ignored ground-truth boxes per image
    _limited: dict = field(default_factory=dict, repr=False, compare=False)

    def limited(self, max_dets: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The detections within the first `max_dets` of their image that count at some
        threshold (true or false positive; one ignored at every threshold adds a rank whose
        precision and recall repeat the one before, which changes no interpolated precision):
        (image (D',), true positive (D', T), false positive (D', T)), contiguous for the
        compiled pass; made once per limit and kept (every bootstrap block asks again)."""
        if max_dets not in self._limited:
            counted = self.true_positive.any(axis=0) | self.false_positive.any(axis=0)
            keep = (self.rank < max_dets) & counted  # ignored at every threshold: no step
            if keep.all():  # no copies (the compiled matching's arrays are laid out so)
                keep = slice(None)
            self._limited[max_dets] = (
                np.ascontiguousarray(self.image[keep], dtype=np.int64),
                np.ascontiguousarray(self.true_positive[:, keep].T),
                np.ascontiguousarray(self.false_positive[:, keep].T),
            )
        return self._limited[max_dets]


def final_recall(matches: Matches, weights: np.ndarray, max_dets: int) -> np.ndarray:
    """Recall (b, T) after all detections: what AR needs, without the precision curve."""
    keep = matches.rank < max_dets
    positives = weights @ matches.ground_truth
    hits = weights[:, matches.image[keep]] @ matches.true_positive[:, keep].T.astype(
        float
    )  # (b, T)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = hits / positives[:, None]
    recall[positives == 0] = -1.0
    return recall


def precision_recall(
    matches: Matches, weights: np.ndarray, max_dets: int, recall_levels: np.ndarray
):
    """Interpolated precision (b, T, R) and final recall (b, T); -1 where no ground truth.

    pycocotools' accumulate() for each row of image weights, in float64 and in one compiled
    pass over the detections per row (detection_curves.py: the weighted true and false
    positives so far, precision and recall, the precision envelope from the right, and the
    envelope at the first rank whose recall reaches each level), the rows shared among the
    CPU cores. At weights of 1 every operation is pycocotools' own, in its order: the same
    numbers.
    """
    image, true_positive, false_positive = matches.limited(max_dets)
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    positives = weights @ matches.ground_truth  # (b,)
    rows, thresholds = weights.shape[0], matches.true_positive.shape[0]
    precision = np.zeros((rows, thresholds, len(recall_levels)))
    recall = np.zeros((rows, thresholds))
    if len(image):
        from vislab.evaluation.detection_curves import curves

        levels = np.asarray(recall_levels, dtype=np.float64)
        curves(weights, image, true_positive, false_positive, positives, levels, precision, recall)
    missing = positives == 0
    precision[missing], recall[missing] = -1.0, -1.0
    return precision, recall


def detection_metrics(
    table: dict, categories: list, thresholds: np.ndarray, levels: np.ndarray, weights: np.ndarray
) -> dict[str, np.ndarray]:
    """The twelve COCO numbers (b,) and per-category AP (b, K) for image weights (b, I)."""
    with_precision = {(area, max_dets) for _, kind, _, area, max_dets in STATS if kind == "ap"}
    recall_only = {(area, max_dets) for _, _, _, area, max_dets in STATS} - with_precision
    per = {}
    for area, max_dets in with_precision:
        results = [
            precision_recall(table[(k, area)], weights, max_dets, levels)
            for k in range(len(categories))
        ]
        per[(area, max_dets)] = (
            np.stack([r[0] for r in results], axis=3),
            np.stack([r[1] for r in results], axis=2),
        )
    for area, max_dets in recall_only:
        recall = np.stack(
            [final_recall(table[(k, area)], weights, max_dets) for k in range(len(categories))],
            axis=2,
        )
        per[(area, max_dets)] = (None, recall)
    values = {}
    for name, kind, iou, area, max_dets in STATS:
        precision, recall = per[(area, max_dets)]  # (b, T, R, K), (b, T, K)
        chosen = slice(None) if iou is None else np.flatnonzero(np.isclose(thresholds, iou))
        part = precision[:, chosen] if kind == "ap" else recall[:, chosen]
        values[name] = _valid_mean(part.reshape(part.shape[0], -1))
    precision = per[("all", 100)][0]
    values["per_class_ap"] = np.stack(
        [
            _valid_mean(precision[:, :, :, k].reshape(precision.shape[0], -1))
            for k in range(len(categories))
        ],
        axis=1,
    )
    return values


def _valid_mean(values: np.ndarray) -> np.ndarray:
    valid = values > -1
    with np.errstate(invalid="ignore"):
        means = np.where(valid, values, 0).sum(axis=1) / valid.sum(axis=1)
    return np.where(valid.any(axis=1), means, -1.0)


@dataclass
class Matching:
    """One COCOeval matching: per (category index, area) its Matches, in COCOeval's order."""

    table: dict[tuple[int, str], Matches]
    categories: list  # category ids
    thresholds: np.ndarray  # IoU thresholds (T,)
    levels: np.ndarray  # recall levels (R,)
    image_ids: list  # COCOeval's (sorted) image ids: the units' order

    @classmethod
    def from_arrays(cls, arrays) -> Matching:
        """The matching of a `detection_arrays.CocoArrays`, compiled (detection_match.py)."""
        from vislab.evaluation.detection_match import LEVELS, THRESHOLDS, matched

        found, images, table = matched(arrays), len(arrays.image_ids), {}
        for k in range(len(arrays.category_ids)):
            boxes = slice(found.truth_start[k], found.truth_start[k + 1])
            part = slice(found.category_start[k], found.category_start[k + 1])
            for a, name in enumerate(AREAS):
                counted = found.truth_image[boxes][~found.truth_ignored[a, boxes]]
                table[(k, name)] = Matches(
                    found.scores[part],
                    found.image[part],
                    found.rank[part],
                    found.true_positive[a, part].T,
                    found.false_positive[a, part].T,
                    np.bincount(counted, minlength=images).astype(float),
                )
        return cls(table, arrays.category_ids, THRESHOLDS, LEVELS, arrays.image_ids)

    def metrics(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        """The twelve numbers and per-class AP (NaN where undefined) for image weights (b, I)."""
        values = detection_metrics(
            self.table, self.categories, self.thresholds, self.levels, weights
        )
        return {name: np.where(v > -1, v, np.nan) for name, v in values.items()}

    def curves(self, iou: float = 0.5) -> np.ndarray:
        """Interpolated precision (K, R) per category at one IoU (all areas, 100 detections)."""
        index = int(np.flatnonzero(np.isclose(self.thresholds, iou))[0])
        ones = np.ones((1, len(self.image_ids)))
        rows = [
            precision_recall(self.table[(k, "all")], ones, 100, self.levels)[0][0, index]
            for k in range(len(self.categories))
        ]
        return np.stack(rows) if rows else np.zeros((0, len(self.levels)))

    def image_recall(self, min_score: float, iou: float = 0.5) -> np.ndarray:
        """(I,) per image: share of its (non-crowd) boxes matched at `iou` by a detection of the
        same class scored `min_score` or more (1.0 for an image without boxes)."""
        index = int(np.flatnonzero(np.isclose(self.thresholds, iou))[0])
        count = len(self.image_ids)
        found, boxes = np.zeros(count), np.zeros(count)
        for k in range(len(self.categories)):
            matches = self.table[(k, "all")]
            hit = matches.true_positive[index] & (matches.scores >= min_score)
            found += np.bincount(matches.image[hit], minlength=count)
            boxes += matches.ground_truth
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(boxes > 0, found / np.maximum(boxes, 1), 1.0)


class DetectionEvaluator(WeightedEvaluator):
    """The `Evaluator` of detection (intervals.py): the twelve COCO numbers and per-class AP
    for image weights, from one matching."""

    names = NAMES

    def __init__(self, matching: Matching) -> None:
        super().__init__(len(matching.image_ids))
        self.matching = matching

    @property
    def categories(self) -> list:
        return self.matching.categories

    @property
    def cells(self) -> int:
        """A replicate's weights and its precision curves (per threshold, recall level,
        category and area)."""
        matching = self.matching
        curves = len(matching.thresholds) * len(matching.levels) * len(matching.categories)
        return self.count + curves * len(AREAS)

    def metrics(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        return self.matching.metrics(weights)
