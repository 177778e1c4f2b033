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

from dataclasses import dataclass

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


@dataclass
class Stacked:
    """Every category's detections one after another (each category's in Matches' order), with
    their flags per area range: what the compiled accumulation reads (detection_curves.py)."""

    image: np.ndarray  # (D,) int64
    rank: np.ndarray  # (D,) int64
    counted: np.ndarray  # (A, D) true or false positive at some threshold
    true_positive: np.ndarray  # (A, D, T)
    false_positive: np.ndarray  # (A, D, T)
    category_start: np.ndarray  # (K + 1,) where each category's detections start
    ground_truth: np.ndarray  # (A, K, I) non-ignored boxes per image

    @classmethod
    def from_table(cls, table: dict, categories: int, areas=AREAS) -> Stacked:
        """The Matches of (category index, area name) for `categories` categories, stacked."""
        from vislab.evaluation.detection_match import THRESHOLDS

        first = [table[(k, areas[0])] for k in range(categories)]
        start = np.cumsum([0] + [len(m.image) for m in first])
        flags = {
            name: np.stack(
                [
                    np.concatenate([getattr(table[(k, a)], name).T for k in range(categories)])
                    if categories
                    else np.zeros((0, len(THRESHOLDS)), np.bool_)
                    for a in areas
                ]
            )
            for name in ("true_positive", "false_positive")
        }
        return cls(
            np.concatenate([m.image for m in first] or [[]]).astype(np.int64),
            np.concatenate([m.rank for m in first] or [[]]).astype(np.int64),
            flags["true_positive"].any(axis=2) | flags["false_positive"].any(axis=2),
            flags["true_positive"],
            flags["false_positive"],
            start.astype(np.int64),
            np.array(
                [[table[(k, a)].ground_truth for k in range(categories)] for a in areas], float
            ).reshape(len(areas), categories, len(first[0].ground_truth) if categories else 0),
        )


def stacked_accumulation(
    stacked: Stacked, weights: np.ndarray, levels: np.ndarray, limits=(100,)
) -> tuple[np.ndarray, np.ndarray]:
    """Interpolated precision (b, A, K, T, R) at limits[0] detections per image, and recall
    (b, A, K, L, T) after the detections of rank below each limit; -1 where there is no ground
    truth. pycocotools' accumulate() for each row of image weights (b, I), compiled
    (detection_curves.py); at weights of 1 every operation is pycocotools' own, in its order:
    the same numbers."""
    from vislab.evaluation.detection_curves import stacked_curves

    weights = np.ascontiguousarray(weights, dtype=np.float64)
    areas, categories, images = stacked.ground_truth.shape
    positives = (weights @ stacked.ground_truth.reshape(areas * categories, images).T).reshape(
        len(weights), areas, categories
    )
    thresholds = stacked.true_positive.shape[2]
    precision = np.zeros((len(weights), areas, categories, thresholds, len(levels)))
    recall = np.zeros((len(weights), areas, categories, len(limits), thresholds))
    stacked_curves(weights, stacked.image, stacked.rank, stacked.counted, stacked.true_positive,
                   stacked.false_positive, stacked.category_start, positives,
                   np.asarray(levels, dtype=np.float64), np.asarray(limits, dtype=np.int64),
                   precision, recall)  # fmt: skip
    missing = positives == 0
    precision[missing], recall[missing] = -1.0, -1.0
    return precision, recall


def precision_recall(
    matches: Matches, weights: np.ndarray, max_dets: int, recall_levels: np.ndarray
):
    """Interpolated precision (b, T, R) and final recall (b, T) of one category and area range;
    -1 where no ground truth."""
    stacked = Stacked.from_table({(0, "all"): matches}, 1, areas=("all",))
    precision, recall = stacked_accumulation(stacked, weights, recall_levels, (max_dets,))
    return precision[:, 0, 0], recall[:, 0, 0, 0]


def detection_metrics(
    stacked: Stacked, thresholds: np.ndarray, levels: np.ndarray, weights: np.ndarray
) -> dict[str, np.ndarray]:
    """The twelve COCO numbers (b,) and per-category AP (b, K) for image weights (b, I)."""
    limits = sorted({max_dets for *_, max_dets in STATS}, reverse=True)  # 100 first
    precision, recall = stacked_accumulation(stacked, weights, levels, limits)
    values = {}
    for name, kind, iou, area, max_dets in STATS:
        a = AREAS.index(area)
        chosen = slice(None) if iou is None else np.flatnonzero(np.isclose(thresholds, iou))
        if kind == "ap":  # (b, T, R, K): pycocotools' order, for the same sums
            part = precision[:, a].transpose(0, 2, 3, 1)[:, chosen]
        else:  # (b, T, K)
            part = recall[:, a, :, limits.index(max_dets)].transpose(0, 2, 1)[:, chosen]
        values[name] = _valid_mean(part.reshape(part.shape[0], -1))
    every = np.ascontiguousarray(precision[:, AREAS.index("all")])  # (b, K, T, R)
    rows, categories, thresholds, recalls = every.shape
    values["per_class_ap"] = _valid_mean(
        every.reshape(rows * categories, thresholds * recalls)
    ).reshape(rows, categories)
    return values


def _valid_mean(values: np.ndarray) -> np.ndarray:
    """The mean over axis 1 of the values above -1 (-1 where none is)."""
    valid = values > -1
    with np.errstate(invalid="ignore"):
        means = np.where(valid, values, 0).sum(axis=1) / valid.sum(axis=1)
    return np.where(valid.any(axis=1), means, -1.0)


@dataclass
class Matching:
    """One COCOeval matching: per (category index, area) its Matches, in COCOeval's order, and
    all of them stacked for the accumulation."""

    table: dict[tuple[int, str], Matches]
    stacked: Stacked
    categories: list  # category ids
    thresholds: np.ndarray  # IoU thresholds (T,)
    levels: np.ndarray  # recall levels (R,)
    image_ids: list  # COCOeval's (sorted) image ids: the units' order

    @classmethod
    def from_arrays(cls, arrays) -> Matching:
        """The matching of a `detection_arrays.CocoArrays`, compiled (detection_match.py)."""
        from vislab.evaluation.detection_match import LEVELS, THRESHOLDS, matched

        found, images, table = matched(arrays), len(arrays.image_ids), {}
        categories = len(arrays.category_ids)
        ground_truth = np.zeros((len(AREAS), categories, images))
        for k in range(categories):
            boxes = slice(found.truth_start[k], found.truth_start[k + 1])
            part = slice(found.category_start[k], found.category_start[k + 1])
            for a, name in enumerate(AREAS):
                counted = found.truth_image[boxes][~found.truth_ignored[a, boxes]]
                ground_truth[a, k] = np.bincount(counted, minlength=images)
                table[(k, name)] = Matches(
                    found.scores[part],
                    found.image[part],
                    found.rank[part],
                    found.true_positive[a, part].T,
                    found.false_positive[a, part].T,
                    ground_truth[a, k],
                )
        stacked = Stacked(
            np.ascontiguousarray(found.image, dtype=np.int64),
            np.ascontiguousarray(found.rank, dtype=np.int64),
            found.counted,
            found.true_positive,
            found.false_positive,
            np.asarray(found.category_start, dtype=np.int64),
            ground_truth,
        )
        return cls(table, stacked, arrays.category_ids, THRESHOLDS, LEVELS, arrays.image_ids)

    def metrics(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        """The twelve numbers and per-class AP (NaN where undefined) for image weights (b, I)."""
        values = detection_metrics(self.stacked, self.thresholds, self.levels, weights)
        return {name: np.where(v > -1, v, np.nan) for name, v in values.items()}

    def curves(self, iou: float = 0.5) -> np.ndarray:
        """Interpolated precision (K, R) per category at one IoU (all areas, 100 detections)."""
        index = int(np.flatnonzero(np.isclose(self.thresholds, iou))[0])
        ones = np.ones((1, len(self.image_ids)))
        precision, _ = stacked_accumulation(self.stacked, ones, self.levels)
        return precision[0, AREAS.index("all"), :, index]

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
