"""The detection steps of `vislab train`: data, provenance, module and loaders, evaluation.

After training, the held-out split is predicted and written as COCO results
(`predictions.json`) beside its ground truth (`references.json`) and image metadata
(`images.csv`), then evaluated exactly as `vislab evaluate detection` would.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from vislab.config import DataConfig, ExperimentConfig
from vislab.data.detection import DetectionTable, from_coco, from_voc, from_yolo
from vislab.data.detection_loaders import (
    DetectionDataset,
    detection_eval_transform,
    detection_train_transform,
    make_detection_loader,
)
from vislab.data.images import file_digest, screen_images
from vislab.data.sources import join_metadata
from vislab.data.splits import assign_splits
from vislab.errors import InputError
from vislab.runs import environment_record, write_atomic, write_json, write_yaml


@dataclass
class DetectionData:
    table: DetectionTable  # usable images, with a `split` column
    fingerprint: str
    skipped: pd.DataFrame = field(default_factory=pd.DataFrame)

    def split(self, name: str) -> DetectionTable:
        return self.table.subset(np.flatnonzero(self.table.images["split"].to_numpy() == name))


def load_detection_source(data: DataConfig) -> DetectionTable:
    if data.source == "coco":
        return from_coco(data.root, data.images, data.boxes_outside)
    if data.source == "voc":
        return from_voc(data.root, data.boxes_outside)
    return from_yolo(data.root, data.boxes_outside)


def prepare_detection(data: DataConfig) -> DetectionData:
    table = load_detection_source(data)
    usable, skipped = screen_images(table.images, table.description, data.on_bad_image)
    table = table.subset(usable)
    images = join_metadata(table.images, data.metadata)
    dominant = [
        table.classes[int(np.bincount(labels).argmax())] if len(labels) else "(no boxes)"
        for labels in table.labels
    ]
    split = data.split
    images = assign_splits(
        images.assign(label=dominant), split.val, split.test, split.seed, split.group_by
    ).drop(columns="label")
    table = DetectionTable(images, table.boxes, table.labels, table.crowd, table.classes, table.category_ids,
                           table.description, table.problems)  # fmt: skip
    return DetectionData(table, _fingerprint(table), skipped)


def _fingerprint(table: DetectionTable) -> str:
    digest = hashlib.sha256()
    for position, row in enumerate(table.images.itertuples()):
        digest.update(f"{row.id}\x1f{row.split}\x1f{file_digest(row.path)}".encode())
        digest.update(table.boxes[position].tobytes() + table.labels[position].tobytes())
    return digest.hexdigest()


def record_detection(run_dir: Path, config: ExperimentConfig, data: DetectionData) -> None:
    table = data.table
    write_yaml(run_dir / "config.yaml", config.to_dict())
    splits = {str(k): int(v) for k, v in table.images["split"].value_counts().sort_index().items()}
    write_json(run_dir / "environment.json", environment_record(
        config.train.seed, config.fingerprint(), data.fingerprint, data_source=table.description,
        splits=splits, skipped_images=len(data.skipped), box_problems=len(table.problems),
    ))  # fmt: skip
    write_json(run_dir / "preprocessing.json", {"task": "detection", "classes": table.classes,
               "category_ids": table.category_ids, "image_size": config.data.image_size})  # fmt: skip
    write_atomic(run_dir / "splits.csv", table.images[["id", "split"]].to_csv(index=False))
    if table.problems:
        write_atomic(
            run_dir / "data_problems.csv", pd.DataFrame(table.problems).to_csv(index=False)
        )
    if len(data.skipped):
        write_atomic(run_dir / "skipped_images.csv", data.skipped.to_csv(index=False))


def create_model(config: ExperimentConfig, num_classes: int):
    from vislab.models.detectors import create_detector

    model = config.model
    return create_detector(model.backbone, num_classes, model.pretrained, config.data.image_size,
                           model.freeze_backbone)  # fmt: skip


def save_architecture(run_dir: Path, model) -> None:
    """transformers detectors: their config (detector.json), to rebuild the model offline."""
    inner = getattr(model, "model", None)
    if inner is not None and hasattr(inner, "config"):
        settings = {"config": inner.config.to_dict(), "normalization": model.normalization}
        write_json(run_dir / "detector.json", settings)


def load_run_detector(run_dir: str | Path):
    """The trained detector of a run directory, its preprocessing record and config."""
    from safetensors.torch import load_file

    from vislab.config import load_config
    from vislab.models.detectors import create_detector
    from vislab.runs import read_json

    run_dir = Path(run_dir)
    if not (run_dir / "model.safetensors").is_file():
        raise InputError(
            f"{run_dir}: no model.safetensors: is this a finished vislab run directory?"
        )
    config = load_config(run_dir / "config.yaml")
    preprocessing = read_json(run_dir / "preprocessing.json")
    size = preprocessing["image_size"]
    saved = read_json(run_dir / "detector.json") if (run_dir / "detector.json").is_file() else {}
    if "ultralytics" in saved:
        from vislab.models.yolo import YoloDetector

        model = YoloDetector.from_architecture(saved["ultralytics"], preprocessing["classes"], size)
    elif saved:
        from vislab.models.detr import TransformersDetector, model_from_config

        norm = saved["normalization"]
        model = TransformersDetector(model_from_config(saved["config"]), size,
                                     (norm["mean"], norm["std"]) if norm else None)  # fmt: skip
    else:
        model = create_detector(config.model.backbone, len(preprocessing["classes"]), "none", size)
    model.load_state_dict(load_file(str(run_dir / "model.safetensors")))
    return model.eval(), preprocessing, config


def detection_module_and_loaders(config: ExperimentConfig, data: DetectionData):
    from vislab.tasks.detection import DetectionModule

    cfg = config.data
    train, val = data.split("train"), data.split("val")
    loaders = [make_detection_loader(DetectionDataset(train, detection_train_transform(cfg.augment)),
                                     cfg.batch_size, cfg.num_workers, shuffle=True)]  # fmt: skip
    if len(val):
        loaders.append(make_detection_loader(DetectionDataset(val, detection_eval_transform()),
                                             cfg.batch_size, cfg.num_workers, shuffle=False))  # fmt: skip
    module = DetectionModule(create_model(config, len(data.table.classes)), config)
    return module, loaders, ("val_mAP", "max")


@torch.inference_mode()
def predict_detections(
    model, table: DetectionTable, batch_size: int = 8, device="cpu"
) -> list[list[dict]]:
    """Per image, its detections: {"box": [x1, y1, x2, y2], "label": class index, "score"}."""
    model = model.to(device).eval()
    loader = make_detection_loader(
        DetectionDataset(table, detection_eval_transform()), batch_size, 0, shuffle=False
    )
    found = []
    for images, _, _ in loader:
        for output in model([image.to(device) for image in images]):
            found.append([
                {"box": box.tolist(), "label": int(label) - 1, "score": float(score)}
                for box, label, score in zip(output["boxes"].cpu(), output["labels"].cpu(), output["scores"].cpu(), strict=True)
            ])  # fmt: skip
    return found


def coco_results(table: DetectionTable, detections: list[list[dict]]) -> list[dict]:
    """COCO results JSON: image ids 1..N in table order, as `DetectionTable.to_coco()`."""
    results = []
    for position, found in enumerate(detections):
        for item in found:
            x1, y1, x2, y2 = item["box"]
            results.append({"image_id": position + 1, "category_id": table.category_ids[item["label"]],
                            "bbox": [x1, y1, x2 - x1, y2 - y1], "score": item["score"]})  # fmt: skip
    return results


def finish_detection(run_dir: Path, config: ExperimentConfig, data: DetectionData, model) -> None:
    save_architecture(run_dir, model)
    evaluate_detection_run(run_dir, config, data, model)


def evaluate_detection_run(
    run_dir: Path, config: ExperimentConfig, data: DetectionData, model
) -> dict:
    from vislab.evaluation.detection_json import evaluate_detection
    from vislab.report.detection_page import write_detection_report

    splits = set(data.table.images["split"])
    held_out = data.split("test" if "test" in splits else "val")
    detections = predict_detections(model.cpu(), held_out, config.data.batch_size)
    write_atomic(run_dir / "predictions.json", json.dumps(coco_results(held_out, detections)))
    write_atomic(run_dir / "references.json", json.dumps(held_out.to_coco()))
    images = held_out.images.assign(image_id=np.arange(1, len(held_out) + 1))
    write_atomic(run_dir / "images.csv", images.to_csv(index=False))
    settings = config.evaluate
    metrics = evaluate_detection(run_dir / "predictions.json", run_dir / "references.json", settings.group_by,
                                 images, settings.bootstrap, settings.confidence, settings.seed)  # fmt: skip
    write_json(run_dir / "metrics.json", metrics)
    write_detection_report(run_dir, metrics, held_out, detections)
    return metrics


def reevaluate_detection_run(run_dir: Path, config: ExperimentConfig) -> dict:
    """`vislab evaluate RUN_DIR` for detection: the saved predictions, evaluated and reported again."""
    from vislab.evaluation.detection_json import evaluate_detection
    from vislab.report.detection_page import write_detection_report

    data = prepare_detection(config.data)
    splits = set(data.table.images["split"])
    held_out = data.split("test" if "test" in splits else "val")
    results = json.loads((run_dir / "predictions.json").read_text())
    detections: list[list[dict]] = [[] for _ in range(len(held_out))]
    index = {category: k for k, category in enumerate(held_out.category_ids)}
    for item in results:
        x, y, w, h = item["bbox"]
        detections[item["image_id"] - 1].append(
            {
                "box": [x, y, x + w, y + h],
                "label": index[item["category_id"]],
                "score": item["score"],
            }
        )
    settings = config.evaluate
    images = held_out.images.assign(image_id=np.arange(1, len(held_out) + 1))
    metrics = evaluate_detection(run_dir / "predictions.json", run_dir / "references.json", settings.group_by,
                                 images, settings.bootstrap, settings.confidence, settings.seed)  # fmt: skip
    write_json(run_dir / "metrics.json", metrics)
    write_detection_report(run_dir, metrics, held_out, detections)
    return metrics
