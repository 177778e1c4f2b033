"""The orders pycocotools' evaluation puts boxes and detections in, compiled by numba (this
module imports numba: it is imported only when a detection is evaluated).

evaluate() takes each image and category in turn: its boxes in file order, its detections by
score (stable: ties in file order), the first 100 kept. accumulate() takes each category's kept
detections image after image and sorts them by score (stable: ties by image, then by rank). The
orders are made by counting sorts on the image and category indices and insertion sorts of each
image's few entries (a merge sort where an image has many).
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np


class Orders(NamedTuple):
    """What `arrange` returns (see there)."""

    truth_order: np.ndarray
    found_order: np.ndarray
    rank: np.ndarray
    group_first: np.ndarray
    group_last: np.ndarray
    truth_first: np.ndarray
    truth_last: np.ndarray
    accumulated: np.ndarray
    position: np.ndarray
    category_start: np.ndarray


def orders(arrays, limit: int) -> Orders:
    """`arrange` for a `detection_arrays.CocoArrays`."""
    return Orders(
        *arrange(
            arrays.truth_image,
            arrays.truth_category,
            arrays.found_image,
            arrays.found_category,
            arrays.found_score,
            len(arrays.image_ids),
            len(arrays.category_ids),
            limit,
        )
    )


_FEW = 48  # entries of one image sorted by insertion


@numba.njit(cache=True, nogil=True)
def _counting_order(keys, count):
    """Stable order of `keys` (integers 0..count-1) and where each key's run starts (count+1)."""
    start = np.zeros(count + 1, np.int64)
    for key in keys:
        start[key + 1] += 1
    for n in range(count):
        start[n + 1] += start[n]
    fill = start[:-1].copy()
    order = np.empty(len(keys), np.int64)
    for i in range(len(keys)):
        order[fill[keys[i]]] = i
        fill[keys[i]] += 1
    return order, start


@numba.njit(cache=True, nogil=True)
def _before(x, y, category, score) -> bool:
    """Whether entry x goes strictly before entry y: a smaller category, or a higher score."""
    return category[x] < category[y] or (category[x] == category[y] and score[x] > score[y])


@numba.njit(cache=True, nogil=True)
def _sort_runs(order, start, category, score):
    """Each run order[start[n]:start[n + 1]] sorted stably by category, then by score
    (descending)."""
    for n in range(len(start) - 1):
        first, last = start[n], start[n + 1]
        if last - first <= _FEW:
            for i in range(first + 1, last):
                entry, j = order[i], i
                while j > first and _before(entry, order[j - 1], category, score):
                    order[j] = order[j - 1]
                    j -= 1
                order[j] = entry
        else:
            run = order[first:last]
            run = run[np.argsort(-score[run], kind="mergesort")]
            order[first:last] = run[np.argsort(category[run], kind="mergesort")]


@numba.njit(cache=True, nogil=True)
def arrange(truth_image, truth_category, found_image, found_category, found_score, images,
            categories, limit):  # fmt: skip
    """evaluate()'s and accumulate()'s orders. Returns
    truth_order: the boxes by image and category, file order within;
    found_order, rank: the kept detections by image and category, by score within, and each
    one's rank among its image's detections of its category (< limit);
    group_first, group_last, truth_first, truth_last: per image and category with detections,
    its run in found_order and its run in truth_order;
    accumulated: the kept detections (indices into found_order) in accumulate()'s order (by
    category, then score), position: each one's place in it;
    category_start: where each category's run starts in that order (categories + 1)."""
    no_score = np.zeros(len(truth_image))
    truth_order, truth_start = _counting_order(truth_image, images)
    _sort_runs(truth_order, truth_start, truth_category, no_score)
    found_order, found_start = _counting_order(found_image, images)
    _sort_runs(found_order, found_start, found_category, found_score)
    kept = np.empty(len(found_order), np.int64)
    rank = np.empty(len(found_order), np.int64)
    group_first = np.empty(len(found_order), np.int64)
    truth_first = np.empty(len(found_order), np.int64)
    truth_last = np.empty(len(found_order), np.int64)
    count = groups = current = 0
    for image in range(images):
        box = truth_start[image]
        for i in range(found_start[image], found_start[image + 1]):
            detection = found_order[i]
            category = found_category[detection]
            new = i == found_start[image] or category != found_category[found_order[i - 1]]
            current = 0 if new else current + 1
            if current >= limit:
                continue
            if new:
                while box < truth_start[image + 1] and truth_category[truth_order[box]] < category:
                    box += 1
                end = box
                while end < truth_start[image + 1] and truth_category[truth_order[end]] == category:
                    end += 1
                group_first[groups], truth_first[groups], truth_last[groups] = count, box, end
                groups += 1
            kept[count], rank[count] = detection, current
            count += 1
    kept, rank, group_first = kept[:count], rank[:count], group_first[:groups]
    group_last = np.empty(groups, np.int64)
    group_last[: groups - 1] = group_first[1:]
    if groups:
        group_last[groups - 1] = count
    by_category, category_start = _counting_order(found_category[kept], categories)
    _sort_runs(by_category, category_start, np.zeros(count, np.int64), found_score[kept])
    position = np.empty(count, np.int64)
    position[by_category] = np.arange(count)
    return (truth_order, kept, rank, group_first, group_last, truth_first[:groups],
            truth_last[:groups], by_category, position, category_start)  # fmt: skip
