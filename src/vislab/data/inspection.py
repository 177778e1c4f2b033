"""The inspection's pass over a collection (`vislab data inspect`): every image decoded once, at
reduced size, into its Look (hash and quality, data/look.py) and the visual words of its
keypoints (data/local_features.py); then its near copies, by hash and by keypoints, as
clusters.

The visual words are learnt first from the keypoints of a sample of VOCABULARY_IMAGES images,
so that the pass keeps per image only its words (two bytes each), not its descriptors (a
million images' descriptors would fill tens of GB), and their places (two bytes each, on disk).
A candidate pair found by the words is kept where its words' places agree, then confirmed on
the two images' keypoints, found again for them alone.
"""

from __future__ import annotations

from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from PIL import Image

from vislab.data import local_features as features
from vislab.data.look import LOW_INFORMATION, Look, look_at, open_gray
from vislab.data.near_copies import copy_clusters, hash_links
from vislab.data.word_vectors import WordLists, WordVectors
from vislab.data.word_vectors import candidates as word_candidates
from vislab.errors import InputError
from vislab.progress import Progress

VOCABULARY_IMAGES = 2000
WORKERS = 8
KEYPOINT_SIDE = 64  # px: an image smaller on a side is matched by its hash only (blown up to
# SIDE px it has no detail of its own: two different handwritten digits of 32 px then match)
SMALL_DIFFERENCE = 0.15  # the most two small images' standardised gray pixels may differ (mean
# absolute, at the smaller's size up to COMPARE_SIDE px) for their equal hashes to count: a
# small image's hash covers its whole content, and two distinct digits of 32 px differ by 0.2
# or more where re-encoded or resized copies of photos differ by at most 0.12
COMPARE_SIDE = 32
PROCESSES_FROM = 4_000  # files: seen in one process per core (starting them takes seconds)
PER_TASK = 64  # files a process is given at a time
PAIRS_AT_A_TIME = 512  # candidate pairs confirmed at a time (their images: 130 KB each)
CACHED = 1024  # images whose keypoints the confirmation keeps at hand between blocks


@dataclass
class Seen:
    """Per row of the table: its Look (None: unreadable, with the reason in `problems`) and
    the visual words of its keypoints (as tf-idf vectors)."""

    looks: list[Look | None]
    problems: list[str | None]
    words: WordVectors


def gray_of(table, position: int) -> tuple[Image.Image, int, int]:
    """The row's image in gray at reduced size (both sides at least features.SIDE), with its
    original width and height."""
    if getattr(table, "reader", None) is not None:  # an in-memory image
        image = table.read(position)
        return image.convert("L"), image.width, image.height
    return open_gray(table.frame["path"].iat[position], features.SIDE)


def _keypoints_of(table, position: int) -> features.Keypoints:
    return features.keypoints(gray_of(table, position)[0])


def vocabulary_of(table, seed: int = 0) -> features.Vocabulary:
    """Visual words learnt from the keypoints of up to VOCABULARY_IMAGES images of the table
    (a seeded sample; unreadable ones skipped)."""
    rng = np.random.default_rng(seed)
    count = len(table.frame)
    chosen = rng.choice(count, size=min(VOCABULARY_IMAGES, count), replace=False)
    found = []
    with ThreadPoolExecutor(WORKERS) as pool:
        for result in pool.map(lambda p: _safely(_keypoints_of, table, p), sorted(chosen)):
            if result is not None and len(result.points):
                found.append(result)
    if not found:  # blank or unreadable images only: no words, copies by hash only
        return features.NO_WORDS
    return features.vocabulary(found, seed)


def _safely(function, table, position):
    try:
        return function(table, position)
    except InputError:
        return None


def see(table, centres: features.Vocabulary, task: str = "inspect", processes: int = 0) -> Seen:
    """Every image of the table decoded once: its Look and its keypoints' visual words (none
    where the vocabulary is empty). Files are seen in `processes` processes where more than
    one is asked and they are PROCESSES_FROM or more (the work holds Python's lock too often
    for threads to fill the cores; a script that asks for processes needs the `if __name__ ==
    "__main__":` guard); in-memory images, and fewer files, in threads."""
    looks, problems, words = [], [], WordLists(len(centres), placed=True)
    count = len(table.frame)
    with Progress(count, task, "images") as progress:
        for found in _seen(table, centres, processes):
            looks.append(found[0])
            problems.append(found[1])
            words.add(*found[2])
            progress.advance()
    return Seen(looks, problems, words.vectors())


def _seen(table, centres: features.Vocabulary, processes: int):
    """Each row's (Look or None, problem or None, (words, places)), in the rows' order."""
    count = len(table.frame)
    if getattr(table, "reader", None) is None and count >= PROCESSES_FROM and processes > 1:
        with _processes(centres, processes) as pool:
            yield from pool.map(_see_file, table.frame["path"].tolist(), chunksize=PER_TASK)
        return
    with ThreadPoolExecutor(WORKERS) as pool:
        yield from pool.map(lambda p: _see_one(table, p, centres), range(count), chunksize=16)


def _processes(centres: features.Vocabulary, processes: int):
    """A pool of `processes` processes, each with the vocabulary and the pixel limit."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from vislab.data.images import PIXEL_LIMIT

    return ProcessPoolExecutor(
        processes,
        mp_context=multiprocessing.get_context("spawn"),  # no fork of a process with threads
        initializer=_set_up,
        initargs=(centres, PIXEL_LIMIT),
    )


_centres = features.NO_WORDS  # a process's vocabulary, set as it starts


def _set_up(centres: features.Vocabulary, limit: int) -> None:
    from vislab.data.images import set_pixel_limit

    global _centres
    _centres = centres
    set_pixel_limit(limit)


def _see_file(path: str):
    return _see_gray(lambda: open_gray(path, features.SIDE), _centres)


def _see_one(table, position: int, centres: features.Vocabulary):
    return _see_gray(lambda: gray_of(table, position), centres)


NO_KEYPOINTS = (np.zeros(0, np.uint16), np.zeros((0, 2), np.uint8))


def _see_gray(opened, centres: features.Vocabulary):
    """(Look, None, (words, places)) of the image `opened()` gives, or (None, its problem, no
    words)."""
    try:
        gray, width, height = opened()
    except InputError as error:
        return None, str(error), NO_KEYPOINTS
    if min(width, height) < KEYPOINT_SIDE or not len(centres):
        return look_at(gray, width, height), None, NO_KEYPOINTS
    found = features.keypoints(gray)
    words = features.words_of(found, centres), features.places_of(found)
    return look_at(gray, width, height), None, words


def copies(table, seen: Seen, vocabulary: int, also: np.ndarray | None = None) -> np.ndarray:
    """Per row its cluster of near copies (by hash, among images whose hash says something,
    and by confirmed keypoints); an unreadable image is a cluster of its own. `vocabulary`:
    the number of visual words (0: copies by hash only). `also`: further candidate pairs
    (rows), such as images close by embedding, confirmed the same way (the words' candidates
    only where their words' places agree too). A candidate pair the hash has joined already is
    not confirmed again."""
    keyed = np.array(
        [look is not None and min(look.width, look.height) >= KEYPOINT_SIDE for look in seen.looks]
    )
    by_hash = hash_copies(table, seen, keyed)
    joined = copy_clusters(by_hash, len(seen.looks))

    def open_(pairs: np.ndarray) -> np.ndarray:
        pairs = np.asarray(pairs, np.int64).reshape(-1, 2)
        apart = joined[pairs[:, 0]] != joined[pairs[:, 1]]
        return pairs[keyed[pairs].all(axis=1) & apart]

    candidates = np.zeros((0, 2), np.int64)
    if vocabulary:
        candidates = placed(seen.words, open_(word_candidates(seen.words)))
    if also is not None and len(also):
        candidates = np.unique(np.concatenate([candidates, open_(also)]), axis=0)
    by_points = confirmed(table, candidates)
    return copy_clusters(np.concatenate([by_hash, by_points]), len(seen.looks))


def placed(words: WordVectors, pairs: np.ndarray) -> np.ndarray:
    """The pairs whose words' places agree (`features.placed_inliers`, MIN_PLACED or more)
    where the words' places are known; all pairs where they are not."""
    if words.places is None or not len(pairs):
        return pairs
    return pairs[features.placed_inliers(words, pairs) >= features.MIN_PLACED]


def hash_copies(table, seen: Seen, keyed: np.ndarray) -> np.ndarray:
    """The pairs joined by their hashes, among images whose hash says something (a pair with
    an image too small for keypoints only where their pixels agree too)."""
    telling = np.flatnonzero(
        [look is not None and look.entropy >= LOW_INFORMATION for look in seen.looks]
    )
    hashes = np.array([seen.looks[i].hash for i in telling], dtype=np.uint64)
    by_hash = telling[hash_links(hashes)] if len(telling) else np.zeros((0, 2), np.int64)
    small = by_hash[~keyed[by_hash].all(axis=1)]
    return np.concatenate([by_hash[keyed[by_hash].all(axis=1)], same_pixels(table, small)])


def same_pixels(table, pairs: np.ndarray) -> np.ndarray:
    """The pairs whose standardised gray images differ by at most SMALL_DIFFERENCE."""
    if not len(pairs):
        return pairs.reshape(0, 2)

    def standard(gray: Image.Image, side: tuple[int, int]) -> np.ndarray:
        pixels = np.asarray(gray.resize(side, Image.Resampling.BOX), dtype=np.float64)
        return (pixels - pixels.mean()) / max(pixels.std(), 1e-6)

    kept = []
    for a, b in pairs:
        grays = [gray_of(table, p)[0] for p in (a, b)]
        side = tuple(min(COMPARE_SIDE, *(g.size[k] for g in grays)) for k in (0, 1))
        difference = np.abs(standard(grays[0], side) - standard(grays[1], side)).mean()
        kept.append(difference <= SMALL_DIFFERENCE)
    return pairs[np.array(kept, bool)]


def confirmed(table, candidates: np.ndarray) -> np.ndarray:
    """The candidate pairs whose keypoints agree. The pairs are taken PAIRS_AT_A_TIME at a
    time in an order that keeps each image's pairs close together (`sharing_order`), and the
    keypoints of the last CACHED images are kept at hand (`Kept`), so that an image in several
    pairs is mostly decoded once; memory stays flat (a million images' keypoints and pixels
    would not fit). In threads: keypoints and their matching let go of Python's lock (one
    process per core was no faster)."""
    agree = np.zeros(len(candidates), bool)
    order = sharing_order(candidates)
    kept = Kept(lambda p: _safely(_keypoints_of, table, p))
    with ThreadPoolExecutor(WORKERS) as pool:
        for start in range(0, len(order), PAIRS_AT_A_TIME):
            taken = order[start : start + PAIRS_AT_A_TIME]
            pairs = kept.pairs(candidates[taken].tolist(), pool.map)
            agree[taken] = np.fromiter(pool.map(lambda pair: features.agree(*pair), pairs), bool)
    return candidates[agree].reshape(-1, 2)


class Kept:
    """The keypoints of the last CACHED images asked for, by key (a row, or a file's path),
    found by `find(key)` (None: unreadable)."""

    def __init__(self, find):
        self.find = find
        self.held: OrderedDict = OrderedDict()

    def pairs(self, block: list, mapper=map) -> list:
        """The keypoints of each pair (a, b) of the block, those not at hand found through
        `mapper` (map, or a pool's)."""
        needed = list(dict.fromkeys(key for pair in block for key in pair))
        missing = [key for key in needed if key not in self.held]
        self.held.update(zip(missing, mapper(self.find, missing), strict=True))
        for key in needed:
            self.held.move_to_end(key)
        found = [(self.held[a], self.held[b]) for a, b in block]
        while len(self.held) > max(CACHED, len(needed)):
            self.held.popitem(last=False)
        return found


def sharing_order(pairs: np.ndarray) -> np.ndarray:
    """An order of the pairs (i, j) in which the pairs of an image come close together: the
    images numbered by the reverse Cuthill-McKee order of the graph the pairs make (linked
    images get near numbers), the pairs sorted by their later image's number, then by their
    earlier's."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import reverse_cuthill_mckee

    if not len(pairs):
        return np.zeros(0, np.int64)
    size = int(pairs.max()) + 1
    ones = np.ones(len(pairs), np.int8)
    graph = coo_matrix((ones, (pairs[:, 0], pairs[:, 1])), shape=(size, size)).tocsr()
    number = np.empty(size, np.int64)
    number[reverse_cuthill_mckee(graph + graph.T, symmetric_mode=True)] = np.arange(size)
    ends = np.sort(number[pairs], axis=1)
    return np.lexsort((ends[:, 0], ends[:, 1]))


def duplicates(frame: pd.DataFrame, seen: Seen, clusters: np.ndarray) -> pd.DataFrame:
    """One row per image that has a near copy, by cluster (its representative first): `path`
    (as the source gives it), `cluster` (numbered from 1 among the clusters of copies, in the
    order of their first image), `representative` (the cluster's image with the most pixels,
    the first of equals: the likely original) and, where the source has splits, `split` and
    `leaks` (the cluster spans more than one split); `position`: the image's row."""
    from vislab.files import as_listed

    sizes = np.bincount(clusters)
    shared = sizes[clusters] > 1
    pixels = np.array([0 if lk is None else lk.width * lk.height for lk in seen.looks])
    paths = as_listed(frame)["path"].astype(str).to_numpy()  # as the source gives them
    table = pd.DataFrame({"path": paths, "group": clusters})
    table["pixels"] = pixels
    table["position"] = np.arange(len(table))
    table = table[shared]
    numbers = {g: k + 1 for k, g in enumerate(dict.fromkeys(table["group"]))}
    table["cluster"] = table["group"].map(numbers)
    largest = table.groupby("group")["pixels"].transform("max")
    first_largest = table[table["pixels"] == largest].groupby("group").head(1).index
    table["representative"] = table.index.isin(first_largest)
    columns = ["path", "cluster", "representative"]
    if "split" in frame.columns:
        table["split"] = frame["split"].astype(str).to_numpy()[shared]
        table["leaks"] = table.groupby("group")["split"].transform("nunique") > 1
        columns += ["split", "leaks"]
    columns.append("position")
    table = table.sort_values(["cluster", "representative"], ascending=[True, False], kind="stable")
    return table[columns].reset_index(drop=True)


def effective_size(clusters: np.ndarray) -> int:
    """Images left once every cluster of copies counts as one."""
    return int(len(np.unique(clusters)))
