"""`vislab data inspect`'s duplicate search after the pass, at up to a million images: peak memory
and seconds of each search, with what the pass leaves for it made up (decoding a million images
takes hours; what the pass keeps per image does not depend on the pixels).

Per image, as the pass leaves them: its Look (hash and quality), its 800 visual words (of
4,096, drawn with a skew as real words are) with their places (on disk) and a 512-dimension
embedding (of 1,000 themes, with noise). Planted among them: re-encoded copies (hash within 4
bits, the embedding with a little noise) and crops (half the original's words, their places
moved and shrunk, and as many others). Then, as the inspection runs them: the hash search
(multi-index), the word search (random projections searched exactly over all pairs,
data/exact_neighbours.py, in bfloat16 or float32 products as this machine multiplies faster;
exact cosines re-ranked), the check of the words' places, the embedding search (the outliers'
and map's neighbours, and the copy candidates: an inverted file beyond 200,000 images) and the
clusters (of the candidates, unconfirmed: the confirmation on keypoints needs the pixels and
works in blocks of flat memory). Each size in its own process;
peak memory as the process's maximum resident set, and the resident set after each step.

    python bench/inspect_memory.py [--images 100000 1000000]
        [--out bench/results/inspect_memory.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

WORDS = 800  # per image (ORB's most keypoints)
THEMES = 1000
WIDTH = 512
COPIES = 0.02  # of the images: re-encoded copies, and as many crops
BLOCK = 4096


def resident_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def made_up(count: int, rng: np.random.Generator):
    """What the pass leaves: looks, word vectors and embeddings, with planted copies and crops
    (pairs of positions)."""
    from vislab.data.look import Look
    from vislab.data.word_vectors import WordLists

    planted = int(count * COPIES)
    originals = rng.choice(count - 2 * planted, 2 * planted, replace=False)
    copied = dict(zip(range(count - 2 * planted, count), originals, strict=True))
    crops = dict(list(copied.items())[planted:])
    hashes = rng.integers(0, 2**63, count, dtype=np.int64).astype(np.uint64)
    for copy, original in copied.items():
        if copy not in crops:
            flips = rng.choice(64, 4, replace=False).astype(np.uint64)
            hashes[copy] = hashes[original] ^ np.bitwise_or.reduce(np.uint64(1) << flips)
    looks = [Look(int(h), 640, 480, 0.5, 0.0, 0.0, 0.2, 300.0, 6.0) for h in hashes]
    lists = WordLists(4096, placed=True)
    kept: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    wanted = set(crops.values())
    for start in range(0, count, BLOCK):
        block = (4096 * rng.random((min(BLOCK, count - start), WORDS)) ** 1.5).astype(np.uint16)
        places = rng.integers(0, 256, (len(block), WORDS, 2), dtype=np.uint8)
        for offset, words in enumerate(block):
            position, placed = start + offset, places[offset]
            if position in crops:  # half its original's words, moved and shrunk as a crop's
                were, where = kept.pop(int(crops[position]))
                half = rng.choice(WORDS, WORDS // 2, replace=False)
                words = np.concatenate([were[half], words[: WORDS // 2]])
                moved = (where[half] * 0.8 + 20).astype(np.uint8)
                placed = np.concatenate([moved, placed[: WORDS // 2]])
            elif position in wanted:
                kept[position] = words, placed
            lists.add(words, placed)
    themes = rng.standard_normal((THEMES, WIDTH)).astype(np.float32)
    embeddings = np.empty((count, WIDTH), np.float32)
    for start in range(0, count, BLOCK):
        stop = min(start + BLOCK, count)
        noise = rng.standard_normal((stop - start, WIDTH), dtype=np.float32)
        embeddings[start:stop] = themes[rng.integers(0, THEMES, stop - start)] + noise
    for copy, original in copied.items():
        if copy not in crops:
            embeddings[copy] = embeddings[original] + 0.05 * rng.standard_normal(WIDTH)
    reencoded = [(int(o), c) for c, o in copied.items() if c not in crops]
    return looks, lists.vectors(), embeddings, reencoded, [(int(o), c) for c, o in crops.items()]


def recall(pairs: np.ndarray, planted: list[tuple[int, int]]) -> float:
    found = {tuple(p) for p in np.sort(pairs, axis=1).tolist()}
    return round(sum(tuple(sorted(p)) in found for p in planted) / max(len(planted), 1), 4)


def word_search(words, crops, step) -> np.ndarray:
    """The word search's candidate pairs, with its time and the share of planted crops found."""
    from vislab.data import word_vectors as wv

    began = time.perf_counter()
    pairs = wv.candidates(words)
    step(
        "word_search",
        began,
        recall_crops=recall(pairs, crops),
        pairs=len(pairs),
        products=str(product_type()).removeprefix("torch."),
    )
    return pairs


def places_check(words, pairs: np.ndarray) -> np.ndarray:
    """The word search's pairs whose words' places agree, as the inspection keeps them."""
    from vislab.data import local_features as features

    return pairs[features.placed_inliers(words, pairs) >= features.MIN_PLACED]


def product_type():
    from vislab.data.exact_neighbours import product_type

    return product_type()


def child(count: int) -> dict:
    from vislab.data import neighbours
    from vislab.data.near_copies import copy_clusters, hash_links

    steps = {}

    def step(name: str, began: float, **extra) -> None:
        seconds = round(time.perf_counter() - began, 1)
        steps[name] = {"seconds": seconds, "resident_mb": resident_mb(), **extra}
        print(name, steps[name], file=sys.stderr, flush=True)

    began = time.perf_counter()
    looks, words, embeddings, reencoded, crops = made_up(count, np.random.default_rng(0))
    step("made_up_pass_output", began)
    began = time.perf_counter()
    by_hash = hash_links(np.array([look.hash for look in looks], np.uint64))
    step("hash_search", began, recall_reencoded=recall(by_hash, reencoded))
    by_words = word_search(words, crops, step)
    began = time.perf_counter()
    by_words = places_check(words, by_words)
    step("places_check", began, recall_crops=recall(by_words, crops), pairs=len(by_words))
    began = time.perf_counter()
    near = neighbours.nearest(embeddings)
    by_embedding = neighbours.similar_pairs(near)
    step("embedding_search", began, recall_reencoded=recall(by_embedding, reencoded))
    began = time.perf_counter()
    clusters = copy_clusters(np.concatenate([by_hash, by_words, by_embedding]), count)
    step("clusters", began, clusters=int(len(np.unique(clusters))))
    return {"steps": steps, "peak_rss_mb": peak_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--out", type=Path, default=Path("bench/results/inspect_memory.json"))
    parser.add_argument("--child", type=int)
    options = parser.parse_args()
    if options.child:
        print(json.dumps(child(options.child)))
        return
    runs = {}
    for count in options.images:
        done = subprocess.run(
            [sys.executable, __file__, "--child", str(count)],
            stdout=subprocess.PIPE,
            text=True,
            check=True,
        )
        runs[str(count)] = json.loads(done.stdout.strip().splitlines()[-1])
        searched = sum(
            s["seconds"] for k, s in runs[str(count)]["steps"].items() if k != "made_up_pass_output"
        )
        runs[str(count)]["search_s"] = round(searched, 1)
        runs[str(count)]["peak_bytes_per_image"] = round(
            runs[str(count)]["peak_rss_mb"] * 2**20 / count
        )
        print(json.dumps({count: runs[str(count)]}, indent=1), flush=True)
    result = {
        "images": options.images,
        "per_image": f"{WORDS} words of 4,096, a {WIDTH}-d float32 embedding, a Look",
        "runs": runs,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
    }
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
