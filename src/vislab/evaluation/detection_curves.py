"""pycocotools' accumulate() for many rows of image weights at once, compiled by numba (this
module imports numba: it is imported only when a detection is evaluated)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def curves(weights, image, true_positive, false_positive, positives, levels, precision, recall):
    """For each row of `weights` (b, I) and IoU threshold: the weighted true and false positives
    so far along the detections (sorted by score; `image` each one's image; true_positive and
    false_positive (D, T)), precision tp / (fp + tp + eps) and recall tp / positives; the
    precision envelope from the right (the best precision from each rank on); into precision
    (b, T, R) the envelope at the first rank whose recall reaches each of `levels` (0 where
    none does), into recall (b, T) the recall after the last detection: pycocotools'
    operations in its order, so at weights of 1 its numbers.

    Only the first rank and the true positives' ranks are kept: recall changes only at a true
    positive, so the first rank reaching a level is one of them, and precision only rises at
    one, so the best precision from a kept rank on is the best at the kept ranks from it on. A
    detection of weight 0 (its image not drawn) is passed over: at a true positive it would keep
    a point of the same recall as the one before and no higher precision, which changes
    neither the envelope nor the first rank reaching a level. A row's thresholds go side by
    side (each detection's weight read once for all of them)."""
    rows, count, thresholds = weights.shape[0], true_positive.shape[0], true_positive.shape[1]
    epsilon = np.spacing(1.0)
    for row in numba.prange(rows):
        kept_precision = np.empty((count, thresholds))
        kept_recall = np.empty((count, thresholds))
        kept = np.zeros(thresholds, np.int64)
        tp, fp = np.zeros(thresholds), np.zeros(thresholds)
        total = positives[row]
        for d in range(count):
            weight = weights[row, image[d]]
            if weight == 0.0:  # its image is not drawn: it would repeat a kept point
                continue
            for t in range(thresholds):
                hit = true_positive[d, t]
                if hit:
                    tp[t] += weight
                elif false_positive[d, t]:
                    fp[t] += weight
                if hit or d == 0:
                    k = kept[t]
                    kept_precision[k, t] = tp[t] / (fp[t] + tp[t] + epsilon)
                    kept_recall[k, t] = tp[t] / total
                    kept[t] = k + 1
        for t in range(thresholds):
            for k in range(kept[t] - 1, 0, -1):  # the envelope: the best precision from here on
                if kept_precision[k, t] > kept_precision[k - 1, t]:
                    kept_precision[k - 1, t] = kept_precision[k, t]
            k = 0
            for r in range(len(levels)):  # the first rank whose recall reaches each level
                while k < kept[t] and kept_recall[k, t] < levels[r]:
                    k += 1
                precision[row, t, r] = kept_precision[k, t] if k < kept[t] else 0.0
            recall[row, t] = tp[t] / total
