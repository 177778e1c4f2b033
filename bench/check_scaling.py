"""`vislab data check` decoding in threads (the default) against `--workers N` processes, side by
side in one run on the same folder of small JPEGs (100,000 by default): images/s of each, and
the summaries compared (they must be equal).

    python bench/check_scaling.py [--images 100000] [--workers 2]
        [--out bench/results/check_scaling.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def folder_of(root: Path, count: int, classes: int = 10) -> Path:
    """`count` 48 px JPEGs in class folders (a few distinct images, saved under many names)."""
    rng = np.random.default_rng(0)
    pictures = []
    for _ in range(50):
        pixels = rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)
        buffer = root / "tmp.jpg"
        Image.fromarray(pixels).save(buffer, quality=90)
        pictures.append(buffer.read_bytes())
    for k in range(classes):
        (root / "images" / f"c{k}").mkdir(parents=True)
    for k in range(count):
        (root / "images" / f"c{k % classes}" / f"{k:07d}.jpg").write_bytes(pictures[k % 50])
    return root / "images"


def timed(table, **options) -> tuple[float, dict]:
    from vislab.data.check import scan, summarize

    start = time.perf_counter()
    summary = summarize(table, scan(table, **options))
    return time.perf_counter() - start, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("bench/results/check_scaling.json"))
    options = parser.parse_args()
    from vislab.data.sources import from_imagefolder
    from vislab.progress import set_quiet

    set_quiet(True)
    with tempfile.TemporaryDirectory() as scratch:
        table = from_imagefolder(folder_of(Path(scratch), options.images))
        threads, by_threads = timed(table)
        processes, by_processes = timed(table, processes=options.workers)
    result = {
        "images": options.images,
        "image": "48x48 JPEG",
        "timed": "decode every image fully, hash its bytes, summarize (the listing not timed)",
        "seconds": {
            "threads_4": round(threads, 1),
            f"processes_{options.workers}": round(processes, 1),
        },
        "images_per_s": {
            "threads_4": round(options.images / threads, 1),
            f"processes_{options.workers}": round(options.images / processes, 1),
        },
        "ratio_processes_vs_threads": round(threads / processes, 3),
        "same_summary": by_threads == by_processes,
        "cpus": torch.get_num_threads(),
        "platform": platform.platform(),
    }
    print(json.dumps(result, indent=2))
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
