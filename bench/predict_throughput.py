"""`vislab predict` over a JPEG folder against (a) a plain PyTorch loop and (b) Lightning's
`Trainer.predict` with a `BasePredictionWriter`, side by side in one run: the same images, the
same model (timm resnet18, random init, 224 px), the same decoding, batch size and workers.

Then what the collection engine adds: peak memory of `vislab predict` at 10k and 100k images
(small JPEGs, a tiny model: the engine's own memory, not the model's), and the time from
starting `--resume` on a 1M-item plan to its first new shard.

    python bench/predict_throughput.py [--images 600] [--rounds 3] [--batch-size 32] [--workers 2]
        [--out bench/results/predict_throughput.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from vislab.data.images import decode
from vislab.data.transforms import eval_transform


def photos(folder: Path, count: int, size=(640, 480), seed: int = 0) -> Path:
    """Photo-sized JPEGs: smooth shapes and noise, about 60 KB each."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0 : size[1], 0 : size[0]] / size[0]
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        a, b, c = rng.uniform(1, 12, 3)
        base = np.stack([np.sin(a * x + c), np.cos(b * y), np.sin(a * x * y)], -1)
        pixels = (base + 1) * 110 + rng.normal(0, 12, base.shape)
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
        image.save(folder / f"{i:06d}.jpg", quality=85)
    return folder


def trained_run(root: Path, backbone: str, image_size: int) -> Path:
    """A finished vislab run of `backbone` (one short epoch on a few images)."""
    from vislab.tasks import config_from_dict
    from vislab.training import train

    data = root / "train"
    for k in range(3):
        photos(data / f"class{k}", 8, size=(image_size, image_size), seed=k + 1)
    config = {
        "task": "classification",
        "output_dir": str(root / "runs"),
        "data": {
            "source": "imagefolder",
            "root": str(data),
            "image_size": image_size,
            "batch_size": 8,
            "split": {"val": 0.25, "test": 0.0, "seed": 0},
        },
        "model": {"backbone": backbone},
        "train": {"epochs": 1, "seed": 0},
        "evaluate": {"bootstrap": 0},
    }
    return train(config_from_dict(config), progress=False)


class Files(Dataset):
    def __init__(self, files, transform) -> None:
        self.files, self.transform = files, transform

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, k):
        return self.transform(decode(self.files[k])), k


def load(run_dir: Path):
    """The run's task and model, as a script would load them (timed with each method)."""
    from vislab.tasks import task_for
    from vislab.tasks.base import read_run

    task = task_for(read_run(run_dir).config)
    return task, task.load_run(run_dir)


def plain_loop(run_dir: Path, files, out: Path, batch: int, workers: int) -> float:
    """The loop a researcher writes: load the model, DataLoader, softmax, one Parquet file."""
    start = time.perf_counter()
    _, run = load(run_dir)
    record = run.preprocessing
    transform = eval_transform(record["image_size"], record["mean"], record["std"])
    loader = DataLoader(Files(files, transform), batch_size=batch, num_workers=workers)
    model, parts = run.model.eval(), []
    with torch.inference_mode():
        for images, _ in loader:
            parts.append(torch.softmax(model(images), 1).numpy())
    scores = np.concatenate(parts)
    frame = pd.DataFrame(scores, columns=[f"score_{c}" for c in run.classes])
    frame.insert(0, "path", files)
    frame.to_parquet(out)
    return time.perf_counter() - start


def lightning_writer(run_dir: Path, files, out: Path, batch: int, workers: int) -> float:
    """Trainer.predict with a BasePredictionWriter writing each batch's rows to Parquet."""
    import lightning as L
    from lightning.pytorch.callbacks import BasePredictionWriter

    from vislab.progress import quiet_lightning

    class Writer(BasePredictionWriter):
        def write_on_batch_end(self, trainer, module, prediction, indices, batch, index, dl):
            prediction.to_parquet(out / f"batch-{index:06d}.parquet")

    class Batches(Dataset):
        def __init__(self, files, transform) -> None:
            self.inner = Files(files, transform)

        def __len__(self) -> int:
            return len(self.inner)

        def __getitem__(self, k):
            image, position = self.inner[k]
            return image, -1, position

    quiet_lightning()
    start = time.perf_counter()
    task, run = load(run_dir)
    module = task.prediction_module(run)
    record = run.preprocessing
    transform = eval_transform(record["image_size"], record["mean"], record["std"])
    loader = DataLoader(Batches(files, transform), batch_size=batch, num_workers=workers)
    out.mkdir()
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[Writer("batch")],
    )
    trainer.predict(module, dataloaders=loader, return_predictions=False)
    return time.perf_counter() - start


def vislab_predict(run_dir: Path, folder: Path, out: Path, batch, workers, full: bool) -> float:
    from vislab.engine.run import Settings
    from vislab.prediction import predict_collection

    settings = Settings(shard_size=10_000, batch_size=batch, workers=workers)
    start = time.perf_counter()
    predict_collection(run_dir, [folder], out, settings, full_decode=full)
    return time.perf_counter() - start


def peak_memory(run_dir: Path, root: Path, counts: list[int]) -> dict:
    """Peak resident memory (MB) of `vislab predict` at each count of small JPEGs."""
    found = {}
    for count in counts:
        folder = photos(root / f"small{count}", count, size=(48, 48))
        command = [
            sys.executable,
            "-c",
            (
                "import resource, sys; from vislab.cli import run; "
                f"code = run(['predict', {str(run_dir)!r}, {str(folder)!r}, '--out', "
                f"{str(root / f'out{count}')!r}, '--quiet', '--batch-size', '256']); "
                "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(code)"
            ),
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        found[count] = int(done.stdout.split()[-1]) / 1024
    return found


def resume_time(run_dir: Path, root: Path, items: int) -> dict:
    """A 1M-item manifest (a few files listed many times), planned; then --resume timed to its
    first new shard (model loading included, interpreter start not)."""
    import vislab.engine.run as engine_run
    from vislab.engine.run import Settings
    from vislab.prediction import predict_collection

    photos(root / "few", 10, size=(48, 48))
    manifest = root / "million.csv"
    paths = [f"few/{k % 10:06d}.jpg" for k in range(items)]
    pd.DataFrame({"id": [f"item{k}" for k in range(items)], "path": paths}).to_csv(
        manifest, index=False
    )
    out = root / "million"
    real, stops = engine_run.write_shard, {}

    def stop_after_first(*arguments):
        real(*arguments)
        stops["at"] = time.perf_counter()
        raise KeyboardInterrupt

    engine_run.write_shard = stop_after_first
    try:
        start = time.perf_counter()
        with contextlib.suppress(KeyboardInterrupt):
            predict_collection(run_dir, [manifest], out, Settings(shard_size=1000, batch_size=256))
        planned = stops["at"] - start
        start = time.perf_counter()
        with contextlib.suppress(KeyboardInterrupt):
            predict_collection(
                run_dir, [manifest], out, Settings(shard_size=1000, resume=True, batch_size=256)
            )
        resumed = stops["at"] - start
    finally:
        engine_run.write_shard = real
    plan_mb = (out / "_plan.json").stat().st_size / 1e6
    return {
        "items": items,
        "first_run_to_first_shard_s": round(planned, 2),
        "resume_to_first_new_shard_s": round(resumed, 2),
        "plan_file_mb": round(plan_mb, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory", default="10000,100000")
    parser.add_argument("--plan", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path("bench/results/predict_throughput.json"))
    options = parser.parse_args()
    from vislab.progress import set_quiet

    set_quiet(True)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        run_dir = trained_run(root / "resnet", "resnet18", 224)
        folder = photos(root / "photos", options.images)
        files = [str(p) for p in sorted(folder.glob("*.jpg"))]
        b, w = options.batch_size, options.workers
        methods = {
            "plain_loop": lambda k: plain_loop(run_dir, files, root / f"p{k}.parquet", b, w),
            "lightning_writer": lambda k: lightning_writer(run_dir, files, root / f"l{k}", b, w),
            "vislab_full_decode": lambda k: vislab_predict(
                run_dir, folder, root / f"f{k}", b, w, True
            ),
            "vislab": lambda k: vislab_predict(run_dir, folder, root / f"v{k}", b, w, False),
        }
        rounds = {name: [] for name in methods}
        for k in range(options.rounds):  # alternated: drift in the machine hits all alike
            for name, method in methods.items():
                rounds[name].append(method(k))
        rate = {k: options.images / statistics.median(v) for k, v in rounds.items()}
        tiny = trained_run(root / "tiny", "test_resnet", 32)
        counts = [int(c) for c in options.memory.split(",") if c]
        memory = peak_memory(tiny, root, counts)
        resume = resume_time(tiny, root, options.plan)
    result = {
        "images": options.images,
        "rounds": options.rounds,
        "timed": "load the run's model, read, predict, write (each method); median of rounds",
        "image_size": "640x480 JPEG",
        "model": "resnet18 (timm, random init), 224 px",
        "batch_size": b,
        "workers": w,
        "images_per_s": {k: round(v, 1) for k, v in rate.items()},
        "ratio_vs_plain": round(rate["vislab_full_decode"] / rate["plain_loop"], 3),
        "ratio_vs_lightning_writer": round(
            rate["vislab_full_decode"] / rate["lightning_writer"], 3
        ),
        "draft_decode_speedup": round(rate["vislab"] / rate["vislab_full_decode"], 3),
        "peak_memory_mb": {str(k): round(v, 1) for k, v in memory.items()},
        "resume": resume,
        "device": "cpu",
        "cpus": torch.get_num_threads(),
        "platform": platform.platform(),
        "torch": torch.__version__,
    }
    print(json.dumps(result, indent=2))
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
