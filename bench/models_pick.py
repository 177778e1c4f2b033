"""`vislab models` against a full benchmark of the same candidates, in one run.

vislab's picker times each candidate for about two seconds (adaptive stopping, batches sized
from its GFLOPs). The full benchmark, after it, times each model the long way: a fixed batch
(--infer-batch for inference, --train-batch for a training step with AdamW), --warmup untimed
calls, then at least --iterations timed calls and --seconds seconds, model alone (no decoding).
The rank correlation (Spearman) of the two, for inference and for training, says whether the
quick numbers order the models as the long ones do; both times and the rows are written as JSON.

    python bench/models_pick.py [--image-size 224] [--infer-batch 8] [--train-batch 4]
        [--warmup 2] [--iterations 8] [--seconds 3] [--out bench/results/models_pick.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
from scipy.stats import spearmanr

from vislab.models.picker import build, candidates, pick


def long_timing(call, warmup: int, iterations: int, seconds: float) -> float:
    for _ in range(warmup):
        call()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < iterations or time.perf_counter() - start < seconds:
        before = time.perf_counter()
        call()
        times.append(time.perf_counter() - before)
    return sum(times) / len(times)


def full_benchmark(name: str, args) -> tuple[float, float]:
    """(inference images/s, training images/s) of the model alone, the long way."""
    model = build(name, args.image_size).eval()
    size = args.image_size
    images = torch.randn(args.infer_batch, 3, size, size)
    with torch.no_grad():
        forward = long_timing(lambda: model(images), args.warmup, args.iterations, args.seconds)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batch = torch.randn(args.train_batch, 3, size, size)
    labels = torch.randint(0, 1000, (args.train_batch,))

    def step():
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(batch), labels).backward()
        optimizer.step()

    training = long_timing(step, args.warmup, args.iterations, args.seconds)
    return args.infer_batch / forward, args.train_batch / training


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--infer-batch", type=int, default=8)
    parser.add_argument("--train-batch", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--out", default="bench/results/models_pick.json")
    args = parser.parse_args()
    start = time.perf_counter()
    quick = pick(args.image_size)
    quick_seconds = time.perf_counter() - start
    start = time.perf_counter()
    full = {row.model: full_benchmark(row.model, args) for row in candidates()}
    full_seconds = time.perf_counter() - start
    names = [row.model for row in quick]
    infer_rho = spearmanr([r.infer_images_per_s for r in quick], [full[n][0] for n in names])
    train_rho = spearmanr([r.train_images_per_s for r in quick], [full[n][1] for n in names])
    result = {
        "image_size": args.image_size,
        "candidates": len(names),
        "vislab_models_s": round(quick_seconds, 1),
        "full_benchmark_s": round(full_seconds, 1),
        "spearman_inference": round(float(infer_rho.statistic), 3),
        "spearman_training": round(float(train_rho.statistic), 3),
        "full_benchmark": vars(args),
        "rows": [
            {
                **row.row(),
                "full_infer_images_per_s": round(full[row.model][0], 2),
                "full_train_images_per_s": round(full[row.model][1], 2),
            }
            for row in quick
        ],
        "threads": torch.get_num_threads(),
        "platform": platform.platform(),
    }
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
