"""YOLO, the variant of detection for `ultralytics:` models: ultralytics' trainer, vislab's run.

The run's train and val splits (from any detection source) are written as a YOLO dataset
(`yolo_data/`: image links and label files, `data.yaml`); ultralytics trains on it with its own
recipe (mosaic, scale and translate augmentation, EMA weights), its logs and checkpoints in
`ultralytics/`. The config maps onto its settings: epochs, image_size, batch_size, num_workers,
optimizer, lr, weight_decay, momentum, schedule (cosine), warmup_epochs, seed, precision (AMP),
`flip` (fliplr) and `color_jitter` (HSV), freeze_backbone (the model's backbone layers).
The best weights then become `model.safetensors`, and the held-out split is predicted,
evaluated and reported exactly as for the other detectors.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import yaml

from vislab.config import ExperimentConfig
from vislab.data.detection import DetectionTable
from vislab.data.prepare import TaskData
from vislab.errors import ConfigError, UsageError
from vislab.files import write_atomic
from vislab.tasks.base import Run
from vislab.tasks.detection import DetectionTask
from vislab.tasks.fitting import Fitted
from vislab.tasks.registry import register


@register
class YoloTask(DetectionTask):
    """Detection with `ultralytics:NAME` models, trained by ultralytics' own trainer."""

    variant_of = "detection"

    def matches(self, config: ExperimentConfig) -> bool:
        return self.matches_backbone(config.model.backbone)

    def matches_backbone(self, name: str) -> bool:
        from vislab.models.yolo import is_yolo

        return is_yolo(name)

    def check_backbone(self, name: str) -> str | None:
        return None  # ultralytics knows its names; an unknown one fails when it builds

    def fit(self, config, data: TaskData, run_dir: Path, progress: bool, checkpoint=None) -> Fitted:
        if checkpoint:
            raise UsageError("--resume: ultralytics models are trained in one go; start a new run.")
        return Fitted(train_yolo(run_dir, config, data))

    def save_model(self, run_dir: Path, model, config: ExperimentConfig) -> None:
        from vislab.runs import write_weights

        write_weights(run_dir / "model.safetensors", model)

    def model_from_record(self, run: Run, saved: dict):
        """The model.backbone's architecture (`saved`, a detector.json, is not read: nothing in
        a run folder is code)."""
        from vislab.models.yolo import YoloDetector

        size = run.preprocessing["image_size"]
        return YoloDetector.from_name(run.config.model.backbone, run.classes, size)


def write_yolo_dataset(folder: Path, data: TaskData) -> Path:
    """YOLO layout for the train and val splits; returns data.yaml. Crowd boxes are left out."""
    splits = {"train": data.split("train"), "val": data.split("val")}
    if not len(splits["val"]):
        splits["val"] = splits["train"]  # ultralytics needs a val set; nothing is held out here
    for name, table in splits.items():
        _write_split(folder, name, table)
    names = data.table.classes
    settings = {
        "path": str(folder.resolve()),
        "train": "images/train",
        "val": "images/val",
        "names": dict(enumerate(names)),
    }
    return write_atomic(folder / "data.yaml", yaml.safe_dump(settings, sort_keys=False))


def _write_split(folder: Path, split: str, table: DetectionTable) -> None:
    images, labels = folder / "images" / split, folder / "labels" / split
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    for position in range(len(table)):
        row = table.frame.iloc[position]
        source = Path(str(row["path"])).resolve()
        stem = f"{position:06d}"
        _link(source, images / f"{stem}{source.suffix.lower()}")
        keep = ~table.crowd[position]
        boxes, classes = table.boxes[position][keep], table.labels[position][keep]
        width, height = float(row["width"]), float(row["height"])
        lines = [
            f"{k} {(x1 + x2) / 2 / width:.6f} {(y1 + y2) / 2 / height:.6f} "
            f"{(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}"
            for k, (x1, y1, x2, y2) in zip(classes.tolist(), boxes.tolist(), strict=True)
        ]
        (labels / f"{stem}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))


def _link(source: Path, target: Path) -> None:
    try:
        os.symlink(source, target)
    except OSError:  # file systems without links
        shutil.copyfile(source, target)


def trainer_settings(
    config: ExperimentConfig, data_yaml: Path, run_dir: Path, freeze: int | None
) -> dict:
    cfg, train = config.data, config.train
    jitter = "color_jitter" in cfg.augment
    settings = {
        "data": str(data_yaml),
        "epochs": train.epochs,
        "imgsz": cfg.image_size,
        "batch": cfg.batch_size,
        "workers": cfg.num_workers,
        "optimizer": {"adamw": "AdamW", "sgd": "SGD"}[train.optimizer],
        "lr0": train.lr,
        "weight_decay": train.weight_decay,
        "momentum": train.momentum,
        "cos_lr": train.schedule == "cosine",
        "warmup_epochs": train.warmup_epochs,
        "seed": train.seed,
        "deterministic": True,
        "amp": train.precision != "32",
        "device": _device(train.accelerator),
        "fliplr": 0.5 if "flip" in cfg.augment else 0.0,
        "hsv_h": 0.015 if jitter else 0.0,
        "hsv_s": 0.7 if jitter else 0.0,
        "hsv_v": 0.4 if jitter else 0.0,
        "patience": train.early_stopping or train.epochs,
        "project": str(run_dir.resolve()),
        "name": "ultralytics",
        "exist_ok": True,
        "plots": False,
        "verbose": False,
    }
    if freeze:
        settings["freeze"] = freeze
    return settings


def _device(accelerator: str):
    if accelerator == "cpu":
        return "cpu"
    import torch

    return 0 if torch.cuda.is_available() and accelerator in ("auto", "gpu", "cuda") else "cpu"


def train_yolo(run_dir: Path, config: ExperimentConfig, data: TaskData):
    """ultralytics' trainer on a YOLO export of the splits; the best weights as a YoloDetector."""
    from vislab.models.yolo import import_ultralytics, starting_point

    import_ultralytics()
    from ultralytics import YOLO

    model = config.model
    try:
        yolo = YOLO(starting_point(model.backbone, model.pretrained))
    except (FileNotFoundError, ConnectionError, OSError) as error:
        raise ConfigError(
            f"model.backbone {model.backbone}: ultralytics could not build it ({error})."
        ) from error
    data_yaml = write_yolo_dataset(run_dir / "yolo_data", data)
    freeze = len(yolo.model.yaml["backbone"]) if model.freeze_backbone else None
    yolo.train(**trainer_settings(config, data_yaml, run_dir, freeze))
    return _best_detector(run_dir, data.table.classes, config.data.image_size)


def _best_detector(run_dir: Path, classes: list[str], image_size: int):
    """The best (else last) checkpoint this run's trainer wrote, as a YoloDetector.

    ultralytics checkpoints are pickles: they are read once here, right after this run wrote
    them, and kept as safetensors; later loads never unpickle.
    """
    from ultralytics import YOLO

    from vislab.models.yolo import YoloDetector

    weights = run_dir / "ultralytics" / "weights"
    best = weights / "best.pt" if (weights / "best.pt").is_file() else weights / "last.pt"
    net = YOLO(str(best)).model.float()
    return YoloDetector(net, classes, image_size)
