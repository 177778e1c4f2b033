"""Training throughput: a vislab training run against a plain PyTorch loop, side by side.

Same model (timm resnet18, random init), same in-memory data (3x32x32, 10 classes), same batch
size and optimizer (SGD); vislab's side is the Trainer and training loader `vislab train` uses
(checkpoints, CSV/TensorBoard logs, per-epoch seeding, the epoch-seeded sampler). The two are
run alternately, several rounds each, and the median of the per-round images/second is
compared: `ratio = vislab / plain` (goal >= 0.97).
Then the data pipeline: decode + RandomResizedCrop + flip + normalize of 224 px JPEGs with 0 and
2 workers, against the rate at which the same model trains on 224 px images.

    python bench/train_throughput.py [--rounds 7] [--steps 30]
        [--out bench/results/train_throughput.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import tempfile
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, TensorDataset

from vislab.config import config_from_dict
from vislab.data.loaders import ImageDataset, train_loader
from vislab.data.sources import from_imagefolder
from vislab.data.transforms import IMAGENET_MEAN, IMAGENET_STD, train_transform
from vislab.models.backbones import create_classifier
from vislab.progress import quiet_lightning
from vislab.tasks.fitting import make_trainer
from vislab.tasks.modules import ClassificationModule

BATCH = 128
WARMUP_STEPS = 3


def in_memory_data(steps: int) -> TensorDataset:
    generator = torch.Generator().manual_seed(0)
    images = torch.randn((steps + WARMUP_STEPS) * BATCH, 3, 32, 32, generator=generator)
    labels = torch.randint(0, 10, (len(images),), generator=generator)
    return TensorDataset(images, labels, torch.arange(len(images)))


def plain_loop(dataset: TensorDataset) -> float:
    """images/second of the textbook loop, warm-up steps excluded."""
    torch.manual_seed(0)
    model = create_classifier("resnet18", 10).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loader = DataLoader(dataset, batch_size=BATCH, shuffle=False)
    start, seen = None, 0
    for step, (images, labels, _) in enumerate(loader):
        if step == WARMUP_STEPS:
            start, seen = time.perf_counter(), 0
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        seen += len(labels)
    return seen / (time.perf_counter() - start)


class _Clock(L.Callback):
    def __init__(self) -> None:
        self.start, self.seen = None, 0

    def on_train_batch_start(self, trainer, module, batch, batch_index) -> None:
        if batch_index == WARMUP_STEPS:
            self.start, self.seen = time.perf_counter(), 0

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_index) -> None:
        self.seen += len(batch[1])
        self.end = time.perf_counter()


def vislab_run(dataset: TensorDataset) -> float:
    """images/second of vislab's ClassificationModule under the Trainer `vislab train` builds
    (its checkpoints, logs, epoch seeding) fed by its training loader (`train_loader`)."""
    torch.manual_seed(0)
    config = config_from_dict(
        {
            "data": {"source": "sample", "name": "digits", "batch_size": BATCH},
            "model": {"backbone": "resnet18"},
            "train": {
                "optimizer": "sgd",
                "lr": 0.01,
                "weight_decay": 0.0,
                "epochs": 1,
                "schedule": "constant",
                "accelerator": "cpu",
            },
        }
    )
    classes = [str(k) for k in range(10)]
    module = ClassificationModule(create_classifier("resnet18", 10), config, classes)
    loader = train_loader(dataset, BATCH, 0, seed=0)
    clock = _Clock()
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = make_trainer(config, Path(run_dir), False, None, len(loader))
        trainer.callbacks.append(clock)
        trainer.fit(module, loader)
    return clock.seen / (clock.end - clock.start)


def data_pipeline(workers: int, folder: Path) -> float:
    table = from_imagefolder(folder)
    transform = train_transform(224, ["flip"], IMAGENET_MEAN, IMAGENET_STD)
    loader = train_loader(ImageDataset(table, transform), 64, workers, seed=0)
    start, seen = time.perf_counter(), 0
    for _ in range(2):
        for images, _, _ in loader:
            seen += len(images)
    return seen / (time.perf_counter() - start)


def model_consumption_224(steps: int = 4) -> float:
    """Training images/second of resnet18 at 224 px: what the data pipeline has to feed."""
    model = create_classifier("resnet18", 10).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    images, labels = torch.randn(32, 3, 224, 224), torch.randint(0, 10, (32,))
    start = None
    for step in range(steps + 1):
        if step == 1:
            start = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return steps * 32 / (time.perf_counter() - start)


def jpeg_folder(root: Path, count: int = 384) -> Path:
    rng = np.random.default_rng(0)
    for i in range(count):
        folder = root / f"class{i % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 255, (288, 352, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.jpg", quality=90)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "train_throughput.json"
    )
    args = parser.parse_args()
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    quiet_lightning()  # as `vislab train` does: no warnings meant for Lightning's developers
    dataset = in_memory_data(args.steps)
    plain, ours = [], []
    for round_index in range(args.rounds):
        plain.append(plain_loop(dataset))
        ours.append(vislab_run(dataset))
        print(f"round {round_index + 1}: plain {plain[-1]:.0f} img/s, vislab {ours[-1]:.0f} img/s")
    with tempfile.TemporaryDirectory() as folder:
        root = jpeg_folder(Path(folder))
        pipeline = {f"workers_{w}": data_pipeline(w, root) for w in (0, 2)}
    consumption = model_consumption_224()
    result = {
        "benchmark": "train_throughput",
        "machine": {
            "cpus": torch.get_num_threads(),
            "platform": platform.platform(),
            "torch": torch.__version__,
        },
        "model": "resnet18 (timm), 32x32 in-memory data, batch 128, SGD",
        "plain_images_per_second": statistics.median(plain),
        "vislab_images_per_second": statistics.median(ours),
        "ratio_vislab_to_plain": statistics.median(ours) / statistics.median(plain),
        "ratio_median_of_paired_rounds": statistics.median(
            o / p for o, p in zip(ours, plain, strict=True)
        ),
        "rounds": {"plain": plain, "vislab": ours},
        "data_pipeline_224px_images_per_second": pipeline,
        "model_training_224px_images_per_second": consumption,
        "pipeline_to_model_ratio": {k: v / consumption for k, v in pipeline.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"ratio vislab / plain: {result['ratio_vislab_to_plain']:.3f} (medians), "
        f"{result['ratio_median_of_paired_rounds']:.3f} (median of paired rounds); goal >= 0.97"
    )
    for name, rate in pipeline.items():
        print(
            f"data pipeline {name}: {rate:.0f} img/s = {rate / consumption:.1f}x what resnet18 "
            f"trains on at 224 px ({consumption:.0f} img/s)"
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
