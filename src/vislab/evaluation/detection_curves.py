"""pycocotools' accumulate() for many rows of image weights, every area range and category at
once, compiled by numba (this module imports numba: it is imported only when a detection is
evaluated)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def stacked_curves(weights, image, rank, counted, true_positive, false_positive, category_start,
                   positives, levels, limits, precision, recall):  # fmt: skip
    """pycocotools' accumulate() for every row of `weights` (b, I), area range and category at
    once, the tasks shared among the CPU cores.

    The detections of every category one after another, each category's sorted by score
    (category_start (K + 1,) where each starts): `image` and `rank` (D,) each one's image and
    rank among its image's detections of its category; per area range (A) `counted` (A, D)
    whether it is a true or false positive at some threshold, `true_positive` and
    `false_positive` (A, D, T); `positives` (b, A, K) the weighted boxes not ignored. Per row,
    area and category, along the detections of rank below limits[0] that count: the weighted
    true and false positives so far at each IoU threshold, precision tp / (fp + tp + eps) and
    recall tp / positives; the precision envelope from the right (the best precision from each
    rank on); into precision (b, A, K, T, R) the envelope at the first rank whose recall reaches
    each of `levels` (0 where none does), into recall (b, A, K, L, T) the recall after the last
    detection of rank below each of `limits`: pycocotools' operations in its order, so at
    weights of 1 its numbers.

    Only the first rank and the true positives' ranks are kept: recall changes only at a true
    positive, so the first rank reaching a level is one of them, and precision only rises at
    one, so the best precision from a kept rank on is the best at the kept ranks from it on. A
    detection ignored at every threshold adds a rank whose precision and recall repeat the one
    before: it is passed over, as is a detection of weight 0 (its image not drawn): at a true
    positive it would keep a point of the same recall as the one before and no higher
    precision, which changes neither the envelope nor the first rank reaching a level."""
    rows, areas, categories = precision.shape[0], precision.shape[1], precision.shape[2]
    thresholds, limit = true_positive.shape[2], limits[0]
    epsilon = np.spacing(1.0)
    for task in numba.prange(rows * areas * categories):
        row, a, k = task // (areas * categories), (task // categories) % areas, task % categories
        first, last = category_start[k], category_start[k + 1]
        kept_precision = np.empty((last - first + 1, thresholds))
        kept_recall = np.empty((last - first + 1, thresholds))
        kept = np.zeros(thresholds, np.int64)
        tp, fp = np.zeros(thresholds), np.zeros(thresholds)
        hits = np.zeros((len(limits), thresholds))  # true positives of rank below each limit
        total, place = positives[row, a, k], 0
        for d in range(first, last):
            if rank[d] >= limit or not counted[a, d]:
                continue
            at_first, place = place == 0, place + 1
            weight = weights[row, image[d]]
            if weight == 0.0:  # its image is not drawn: it would repeat a kept point
                continue
            for t in range(thresholds):
                hit = true_positive[a, d, t]
                if hit:
                    tp[t] += weight
                    for n in range(1, len(limits)):
                        if rank[d] < limits[n]:
                            hits[n, t] += weight
                elif false_positive[a, d, t]:
                    fp[t] += weight
                if hit or at_first:
                    n = kept[t]
                    kept_precision[n, t] = tp[t] / (fp[t] + tp[t] + epsilon)
                    kept_recall[n, t] = tp[t] / total
                    kept[t] = n + 1
        for t in range(thresholds):
            for n in range(kept[t] - 1, 0, -1):  # the envelope: the best precision from here on
                if kept_precision[n, t] > kept_precision[n - 1, t]:
                    kept_precision[n - 1, t] = kept_precision[n, t]
            n = 0
            for r in range(len(levels)):  # the first rank whose recall reaches each level
                while n < kept[t] and kept_recall[n, t] < levels[r]:
                    n += 1
                precision[row, a, k, t, r] = kept_precision[n, t] if n < kept[t] else 0.0
            recall[row, a, k, 0, t] = tp[t] / total
            for n in range(1, len(limits)):
                recall[row, a, k, n, t] = hits[n, t] / total
