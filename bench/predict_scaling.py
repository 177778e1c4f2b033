"""The collection engine over several processes, side by side in one run: `vislab embed` (a
CLIP of ViT-B/32 size, random weights: the compute of the real one) over the same folder of
photos-sized JPEGs with 1 and with N processes (`--devices N`; on a GPU machine, one per GPU),
whole commands timed, start-up included, the tables compared; and the bookkeeping the
processes share at a million items: writing and reading `_plan.json`, claiming every shard,
looking up the shards done.

    python bench/predict_scaling.py [--images 1000] [--devices 2] [--items 1000000]
        [--out bench/results/predict_scaling.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image


def photos(root: Path, count: int) -> Path:
    """`count` 320x240 JPEGs (a few distinct pictures under many names) in 4 folders."""
    rng = np.random.default_rng(0)
    pictures = []
    for k in range(20):
        pixels = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / f"p{k}.jpg", quality=90)
        pictures.append((root / f"p{k}.jpg").read_bytes())
    for k in range(count):
        folder = root / "images" / f"c{k % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{k:07d}.jpg").write_bytes(pictures[k % 20])
    return root / "images"


def base_clip(folder: Path) -> Path:
    """A CLIP of openai/clip-vit-base-patch32's size (ViT-B/32 at 224 px), random weights, with
    vislab's offline byte-level tokenizer, saved."""
    import transformers as T

    from vislab.models.tiny import byte_vocabulary

    torch.manual_seed(0)
    vocabulary = byte_vocabulary()
    ends = vocabulary["<|endoftext|>"]
    text = {"vocab_size": len(vocabulary), "bos_token_id": ends - 1, "eos_token_id": ends}
    model = T.CLIPModel(T.CLIPConfig(text_config={**text, "pad_token_id": ends}))
    model.save_pretrained(folder)
    tokenizer = T.CLIPTokenizer(vocab=vocabulary, merges=[])
    T.CLIPProcessor(image_processor=T.CLIPImageProcessor(), tokenizer=tokenizer).save_pretrained(
        folder
    )
    return folder


def embed(images: Path, model: Path, out: Path, devices: int, batch: int) -> float:
    command = [sys.executable, "-m", "vislab.cli", "embed", str(images), "--model", str(model)]
    command += ["--out", str(out), "--batch-size", str(batch), "--workers", "1", "--quiet"]
    command += ["--shard-size", "250", "--devices", str(devices)]
    start = time.perf_counter()
    subprocess.run(command, check=True, env={**os.environ, "VISLAB_QUIET": "1"})
    return time.perf_counter() - start


def bookkeeping(items: int, shard_size: int = 10_000) -> dict:
    """Seconds for the plan and the claims of a job of `items` items (no image read)."""
    from vislab.engine.plan import Plan, read_plan, write_plan
    from vislab.engine.shards import claim, done_shards
    from vislab.engine.sources import Listing

    paths = [f"images/c{k % 100}/{k:08d}.jpg" for k in range(items)]
    frame = pd.DataFrame({"id": paths, "path": paths})
    sizes = np.full(items, 50_000, dtype=np.int64)
    mtimes = np.arange(items, dtype=np.int64) + 1_700_000_000 * 10**9
    listing = Listing(frame, Path("."), (sizes, mtimes), "bench")
    plan = Plan(listing, shard_size, {"command": "bench"})
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        seconds = {}
        start = time.perf_counter()
        write_plan(folder, plan)
        seconds["write_plan"] = time.perf_counter() - start
        start = time.perf_counter()
        read_plan(folder)
        seconds["read_plan"] = time.perf_counter() - start
        start = time.perf_counter()
        taken = [claim(folder, k, "bench", 0) for k in range(plan.shards)]
        seconds["claim_every_shard"] = time.perf_counter() - start
        start = time.perf_counter()
        done_shards(folder, plan.shards)
        seconds["look_up_shards_done"] = time.perf_counter() - start
        size = (folder / "_plan.json").stat().st_size
    assert all(taken)
    return {
        "items": items,
        "shards": plan.shards,
        "plan_file_mb": round(size / 1e6, 1),
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--devices", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path("bench/results/predict_scaling.json"))
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        images, model = photos(root, options.images), base_clip(root / "clip")
        one = embed(images, model, root / "one", 1, options.batch_size)
        many = embed(images, model, root / "many", options.devices, options.batch_size)
        a, b = pd.read_parquet(root / "one"), pd.read_parquet(root / "many")
        gap = np.abs(np.stack(a["embedding"].to_list()) - np.stack(b["embedding"].to_list()))
        same = bool(a["id"].equals(b["id"]) and gap.max() < 1e-4)
    accelerator = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    result = {
        "images": options.images,
        "image": "320x240 JPEG",
        "model": "CLIP ViT-B/32 (random weights, the real one's size)",
        "timed": "the whole `vislab embed` command: start-up, listing, model, every shard",
        "accelerator": accelerator,
        "seconds": {"processes_1": round(one, 1), f"processes_{options.devices}": round(many, 1)},
        "images_per_s": {
            "processes_1": round(options.images / one, 1),
            f"processes_{options.devices}": round(options.images / many, 1),
        },
        f"ratio_{options.devices}_vs_1": round(one / many, 3),
        "same_table": same,
        "bookkeeping": bookkeeping(options.items),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
    }
    print(json.dumps(result, indent=2))
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
