"""pycocotools' `COCOeval.evaluate()` for boxes, compiled by numba: every detection matched to
the reference boxes of its image and category, at each IoU threshold and area range.

Per image and category, as pycocotools does it: the detections sorted by score (stable) and the
first 100 kept; IoU as its C code computes it (a crowd box's union is the detection's own area);
per area range the boxes that are crowd or outside the range are "ignored" and put last; each
detection in turn takes the best still-free box at or above the threshold (a crowd box is never
used up), an ignored box only when no other one qualifies; a detection matched to an ignored
box, or unmatched and outside the area range, is ignored. A box's id plays no part (pycocotools
counts a detection matched to a box of id 0 as unmatched, and boxes that share an id as one).
This module imports numba: it is imported only when a detection is evaluated.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

# pycocotools' Params for boxes (the tests compare them with its own)
THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
LEVELS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
AREA_RANGES = ((0**2, 1e5**2), (0**2, 32**2), (32**2, 96**2), (96**2, 1e5**2))  # AREAS' order
MAX_DETECTIONS = 100


@numba.njit(cache=True, nogil=True)
def _iou(found_box, truth_box, crowd) -> float:
    """pycocotools' bbIou for one detection and one box ([x, y, width, height] each)."""
    width = min(found_box[2] + found_box[0], truth_box[2] + truth_box[0]) - max(
        found_box[0], truth_box[0]
    )
    if width <= 0:
        return 0.0
    height = min(found_box[3] + found_box[1], truth_box[3] + truth_box[1]) - max(
        found_box[1], truth_box[1]
    )
    if height <= 0:
        return 0.0
    inside = width * height
    found_area = found_box[2] * found_box[3]
    union = found_area if crowd else found_area + truth_box[2] * truth_box[3] - inside
    return inside / union


@numba.njit(cache=True, nogil=True)
def _greedy(ious, boxes, detections, order, ignored, crowd, thresholds, taken, chosen):
    """pycocotools' matching loop for one group and area range: into chosen[t, d] the box
    (index in the group, boxes in file order) detection d takes at threshold t, or -1.
    `order`: the boxes, those not ignored first; `ignored` and `crowd` start at the group's
    first box (`first`); `taken`: room for a flag per box."""
    for t in range(len(thresholds)):
        taken[:boxes] = False
        for d in range(detections):
            best, pick = min(thresholds[t], 1 - 1e-10), -1
            for position in range(boxes):
                g = order[position]
                if taken[position] and not crowd[g]:
                    continue
                if pick > -1 and not ignored[order[pick]] and ignored[g]:
                    break
                if ious[d, g] < best:
                    continue
                best, pick = ious[d, g], position
            chosen[t, d] = -1 if pick == -1 else order[pick]
            if pick > -1:
                taken[pick] = True


@numba.njit(cache=True, nogil=True, parallel=True)
def match_groups(truth_first, truth_last, found_first, found_last, truth_box, crowd,
                 truth_ignored, found_box, found_outside, thresholds, position, true_positive,
                 false_positive, counted):  # fmt: skip
    """For each group (one image and category: its boxes truth_first[n]:truth_last[n], its
    detections found_first[n]:found_last[n], sorted by score, at most 100), each area range a
    (truth_ignored (A, G): crowd or outside; found_outside (A, D)) and threshold t: whether
    detection d is a true positive (it took a box not ignored) or a false positive (it took
    none and is inside the range), into [a, position[d], t] of (A, D, T), and whether it is
    either at some threshold into counted[a, position[d]]. The groups are shared among the
    cores."""
    groups, areas, count = len(found_first), truth_ignored.shape[0], len(thresholds)
    most_boxes = max(1, np.max(truth_last - truth_first)) if groups else 1
    most_found = max(1, np.max(found_last - found_first)) if groups else 1
    chunks = min(groups, 64)
    for chunk in numba.prange(chunks):
        ious = np.empty((most_found, most_boxes))
        order = np.empty(most_boxes, np.int64)
        taken = np.empty(most_boxes, np.bool_)
        chosen = np.empty((areas, count, most_found), np.int64)
        for group in range(chunk * groups // chunks, (chunk + 1) * groups // chunks):
            _match_group(truth_first[group], truth_last[group] - truth_first[group],
                         found_first[group], found_last[group] - found_first[group], truth_box,
                         crowd, truth_ignored, found_box, found_outside, thresholds, position,
                         true_positive, false_positive, counted, ious, order, taken,
                         chosen)  # fmt: skip


@numba.njit(cache=True, nogil=True)
def _match_group(first_box, boxes, first, detections, truth_box, crowd, truth_ignored,
                 found_box, found_outside, thresholds, position, true_positive, false_positive,
                 counted, ious, order, taken, chosen):  # fmt: skip
    """One group of `match_groups`, with room for its IoUs, box order and choices."""
    for d in range(detections):
        for g in range(boxes):
            box = first_box + g
            ious[d, g] = _iou(found_box[first + d], truth_box[box], crowd[box])
    group_crowd = crowd[first_box : first_box + boxes]
    for a in range(truth_ignored.shape[0]):
        ignored = truth_ignored[a, first_box : first_box + boxes]
        same = -1  # an earlier area range that ignores the same boxes matches the same
        for earlier in range(a):
            same = earlier
            for g in range(first_box, first_box + boxes):
                if truth_ignored[earlier, g] != truth_ignored[a, g]:
                    same = -1
                    break
            if same > -1:
                break
        if same > -1:
            chosen[a, :, :detections] = chosen[same, :, :detections]
        else:
            placed = 0
            for last in range(2):  # the boxes not ignored first, each part in file order
                for g in range(boxes):
                    if ignored[g] == last:
                        order[placed] = g
                        placed += 1
            _greedy(ious, boxes, detections, order, ignored, group_crowd, thresholds, taken,
                    chosen[a])  # fmt: skip
        for d in range(detections):  # [a, where, :] is contiguous
            where = position[first + d]
            for t in range(len(thresholds)):
                g = chosen[a, t, d]
                if g > -1:
                    true_positive[a, where, t] = not ignored[g]
                else:
                    false_positive[a, where, t] = not found_outside[a, first + d]
                if true_positive[a, where, t] or false_positive[a, where, t]:
                    counted[a, where] = True


class Matched(NamedTuple):
    """A matching's flags in accumulate()'s order (by category, then score)."""

    scores: np.ndarray  # (D,)
    image: np.ndarray  # (D,) image index of each detection
    rank: np.ndarray  # (D,) rank among its image's detections of its category
    true_positive: np.ndarray  # (A, D, T)
    false_positive: np.ndarray  # (A, D, T)
    counted: np.ndarray  # (A, D) true or false positive at some threshold
    category_start: np.ndarray  # (K + 1,) where each category's detections start
    truth_image: np.ndarray  # (G,) the boxes' images, by category
    truth_ignored: np.ndarray  # (A, G) crowd or outside the area range
    truth_start: np.ndarray  # (K + 1,) where each category's boxes start


def matched(arrays) -> Matched:
    """pycocotools' evaluate() of a `detection_arrays.CocoArrays`: the orders, then the
    compiled matching of every group."""
    from vislab.evaluation.detection_order import orders

    categories = len(arrays.category_ids)
    order = orders(arrays, MAX_DETECTIONS)
    truth_order, found_order = order.truth_order, order.found_order
    truth_box = np.ascontiguousarray(arrays.truth_box[truth_order], dtype=np.float64)
    crowd = arrays.truth_crowd[truth_order]
    found_box = np.ascontiguousarray(arrays.found_box[found_order], dtype=np.float64)
    low, high = np.array(AREA_RANGES).T[:, :, None]
    area = arrays.truth_area[truth_order]
    truth_ignored = crowd | (area < low) | (area > high)  # (A, G)
    found_area = found_box[:, 2] * found_box[:, 3]
    found_outside = (found_area < low) | (found_area > high)  # (A, D)
    shape = (len(AREA_RANGES), len(found_order), len(THRESHOLDS))
    true_positive, false_positive = np.zeros(shape, np.bool_), np.zeros(shape, np.bool_)
    counted = np.zeros(shape[:2], np.bool_)
    match_groups(order.truth_first, order.truth_last, order.group_first, order.group_last,
                 truth_box, crowd, truth_ignored, found_box, found_outside, THRESHOLDS,
                 order.position, true_positive, false_positive, counted)  # fmt: skip
    detections = found_order[order.accumulated]  # in accumulate()'s order
    scores, found_image = arrays.found_score[detections], arrays.found_image[detections]
    rank, found_bounds = order.rank[order.accumulated], order.category_start
    truth_category = arrays.truth_category[truth_order]
    by_category = np.argsort(_small(truth_category), kind="stable")
    truth_bounds = np.searchsorted(truth_category[by_category], np.arange(categories + 1))
    truth_image = arrays.truth_image[truth_order][by_category]
    truth_ignored = truth_ignored[:, by_category]
    return Matched(
        scores,
        found_image,
        rank,
        true_positive,
        false_positive,
        counted,
        found_bounds,
        truth_image,
        truth_ignored,
        truth_bounds,
    )


def _small(values: np.ndarray) -> np.ndarray:
    """Category indices in the smallest integer type (numpy sorts 16-bit ones by radix)."""
    return values.astype(np.uint16) if values.size and values.max() < 2**16 else values
