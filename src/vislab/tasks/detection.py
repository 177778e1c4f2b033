"""Object detection: torchvision detectors, the DETR family, vislab:fcos_small (YOLO: yolo.py).

Data: COCO, Pascal VOC or YOLO sources, every box problem reported. Training: box-aware
augmentations, the detector's own losses, validation mAP picks the best checkpoint.
Predictions: `predictions.json` (COCO results, image ids 1..N in the held-out order) beside
`references.json` (its ground truth) and `images.csv` (image metadata). Report: the twelve COCO
numbers with intervals, per-class AP, precision-recall curves, groups, lowest-recall images.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from vislab.config import DataConfig, ExperimentConfig
from vislab.data.prepare import TaskData
from vislab.errors import InputError
from vislab.tasks.base import EvaluateOptions, Run, Task
from vislab.tasks.registry import register

BOX_COLUMNS = ["x1", "y1", "x2", "y2"]


@register
class DetectionTask(Task):
    name = "detection"
    sources = ("coco", "voc", "yolo")
    models = "torchvision:NAME (torchvision's detectors), transformers:FAMILY, vislab:fcos_small"
    predictions_file = "predictions.json"
    monitor = ("val_mAP", "max")
    evaluate_options = frozenset({"references", "metadata"})

    def check_backbone(self, name: str) -> str | None:
        from vislab.models.detectors import is_detector

        if is_detector(name):
            return None
        return (
            f"'{name}' is not a detection model. Use e.g. "
            "torchvision:fasterrcnn_mobilenet_v3_large_fpn, torchvision:retinanet_resnet50_fpn, "
            "torchvision:fcos_resnet50_fpn, transformers:detr, transformers:rt_detr or "
            "vislab:fcos_small."
        )

    # data

    def load_source(self, data: DataConfig):
        from vislab.data.detection import from_coco, from_voc, from_yolo
        from vislab.data.sources import join_metadata

        readers = {
            "coco": lambda: from_coco(data.root, data.images, data.boxes_outside),
            "voc": lambda: from_voc(data.root, data.boxes_outside),
            "yolo": lambda: from_yolo(data.root, data.boxes_outside),
        }
        table = readers[data.source]()
        return table.with_frame(join_metadata(table.frame, data.metadata))

    def stratify(self, table) -> pd.Series:
        return table.dominant_class()

    def preprocessing(self, config: ExperimentConfig, data: TaskData) -> dict:
        table = data.table
        return {
            "classes": table.classes,
            "category_ids": table.category_ids,
            "image_size": config.data.image_size,
        }

    def record(self, run_dir: Path, config: ExperimentConfig, data: TaskData) -> None:
        from vislab.files import write_atomic
        from vislab.runs import record_run

        problems = data.table.problems
        record_run(
            run_dir, config, data, self.preprocessing(config, data), box_problems=len(problems)
        )
        if problems:
            write_atomic(run_dir / "data_problems.csv", pd.DataFrame(problems).to_csv(index=False))

    def preview_item(self, config: ExperimentConfig, table, position: int):
        """An augmented training image with its boxes (and class names) moved along with it."""
        import torch
        from PIL import Image
        from torchvision.utils import draw_bounding_boxes

        from vislab.data.detection_loaders import DetectionDataset, detection_train_transform

        image, target, _ = DetectionDataset(table, detection_train_transform(config.data.augment))[
            position
        ]
        names = [table.classes[int(label) - 1] for label in target["labels"]]
        pixels = (image.clamp(0, 1) * 255).to(torch.uint8)
        boxed = draw_bounding_boxes(pixels, target["boxes"], labels=names, colors="yellow", width=2)
        file = Path(str(table.frame["path"].iat[position])).name
        caption = f"{file}: {len(names)} box{'es' if len(names) != 1 else ''}"
        return Image.fromarray(boxed.permute(1, 2, 0).numpy()), caption

    # model and training

    def build_model(self, config: ExperimentConfig, classes: list[str], pretrained: bool = True):
        from vislab.models.detectors import create_detector

        model = config.model
        weights = model.pretrained if pretrained else "none"
        return create_detector(
            model.backbone, len(classes), weights, config.data.image_size, model.freeze_backbone
        )

    def build_module(self, config: ExperimentConfig, classes: list[str], model, data=None):
        from vislab.tasks.modules import DetectionModule

        return DetectionModule(model, config, classes)

    def train_loaders(self, config: ExperimentConfig, data: TaskData) -> list:
        from vislab.data.detection_loaders import (
            DetectionDataset,
            collate,
            detection_eval_transform,
            detection_train_transform,
            make_detection_loader,
        )
        from vislab.data.loaders import train_loader

        settings = config.data
        train, val = data.split("train"), data.split("val")
        loaders = [
            train_loader(
                DetectionDataset(train, detection_train_transform(settings.augment)),
                settings.batch_size,
                settings.num_workers,
                config.train.seed,
                collate_fn=collate,
            )
        ]
        if len(val):
            dataset = DetectionDataset(val, detection_eval_transform())
            loaders.append(
                make_detection_loader(dataset, settings.batch_size, settings.num_workers)
            )
        return loaders

    def save_model(self, run_dir: Path, model, config: ExperimentConfig) -> None:
        """model.safetensors, and for transformers detectors their architecture (detector.json)."""
        from vislab.files import write_json

        super().save_model(run_dir, model, config)
        inner = getattr(model, "model", None)
        if inner is not None and hasattr(inner, "config"):
            settings = {"config": inner.config.to_dict(), "normalization": model.normalization}
            write_json(run_dir / "detector.json", settings)

    def load_run(self, run_dir: Path) -> Run:
        from vislab.files import read_json, read_safetensors
        from vislab.tasks.base import read_run

        run = read_run(run_dir)
        if not (run.directory / "model.safetensors").is_file():
            raise InputError(f"{run_dir}: no model.safetensors: is this a finished vislab run?")
        architecture = run.directory / "detector.json"
        saved = read_json(architecture, "architecture") if architecture.is_file() else {}
        model = self.model_from_record(run, saved)
        model.load_state_dict(read_safetensors(run.directory / "model.safetensors"))
        run.model = model.eval()
        return run

    def model_from_record(self, run: Run, saved: dict):
        """The run's architecture with random weights (its weights are loaded next)."""
        if not saved:
            return self.build_model(run.config, run.classes, pretrained=False)
        from vislab.models.detr import TransformersDetector, model_from_config

        norm = saved["normalization"]
        normalization = (norm["mean"], norm["std"]) if norm else None
        size = run.preprocessing["image_size"]
        return TransformersDetector(model_from_config(saved["config"]), size, normalization)

    # predictions

    def prediction_job(self, run: Run, full_decode: bool = False):
        """The collection engine's job: a row per box (see `tasks/jobs.DetectionJob`)."""
        from vislab.tasks.jobs import DetectionJob

        train, categories = run.config.train, run.preprocessing["category_ids"]
        module = self.prediction_module(run)
        return DetectionJob(
            module, run.classes, categories, train.precision, train.accelerator, coco_results
        )

    def prediction_loader(self, run: Run, table):
        from vislab.data.detection_loaders import ImageTensors, make_detection_loader

        settings = run.config.data
        return make_detection_loader(ImageTensors(table), settings.batch_size, settings.num_workers)

    def predictions(self, rows: pd.DataFrame, table, run: Run) -> pd.DataFrame:
        """One row per detection: the image's position, id and path, class, score and box."""
        if not len(rows):
            rows = pd.DataFrame(
                {c: pd.Series(dtype=float) for c in ["position", "label", "score", *BOX_COLUMNS]}
            )
        classes, categories = run.classes, run.preprocessing["category_ids"]
        positions = rows["position"].to_numpy(int)
        found = rows.assign(
            id=table.frame["id"].to_numpy()[positions],
            path=table.frame["path"].to_numpy()[positions],
            category_id=[int(categories[int(k)]) for k in rows["label"]],
            label=[classes[int(k)] for k in rows["label"]],
        )
        return found[["position", "id", "path", "label", "category_id", "score", *BOX_COLUMNS]]

    def summarize_predictions(self, predictions: pd.DataFrame, count: int = 10) -> list[str]:
        confident = predictions[predictions["score"] >= 0.5]
        per_image = confident.groupby("id", sort=False)
        lines = [
            f"{image}: {len(boxes)} boxes "
            + "; ".join(f"{r.label} {r.score:.2f}" for r in boxes.itertuples())
            for image, boxes in list(per_image)[:count]
        ]
        counts = confident["label"].value_counts()
        lines.append(
            f"{predictions['id'].nunique()} images; boxes scored 0.5 or more: "
            + (", ".join(f"{name} {n}" for name, n in counts.items()) or "none")
        )
        return lines

    def write_predictions(self, path: Path, predictions: pd.DataFrame, table) -> None:
        """COCO results (.json) or a table of boxes; for the run's held-out split also its
        ground truth (references.json) and image metadata (images.csv)."""
        from vislab.data.detection import DetectionTable
        from vislab.files import write_atomic, write_table

        if path.suffix.lower() != ".json":
            write_table(path, predictions)
            return
        held_out = isinstance(table, DetectionTable)
        write_atomic(path, json.dumps(coco_results(predictions, table, held_out)))
        if held_out:
            write_atomic(path.parent / "references.json", json.dumps(table.to_coco()))
            images = table.frame.assign(image_id=np.arange(1, len(table) + 1))
            write_atomic(path.parent / "images.csv", images.to_csv(index=False))

    # evaluation and report

    def evaluate_run(self, run_dir: Path) -> dict:
        from vislab.tasks.detection_report import evaluate_detection_run

        return evaluate_detection_run(self, Path(run_dir))

    def evaluate_files(self, predictions, options: EvaluateOptions) -> dict:
        from vislab.errors import UsageError
        from vislab.evaluation.detection import evaluate_detection

        if options.references is None:
            raise UsageError("detection needs --references instances.json (COCO ground truth).")
        return evaluate_detection(
            predictions,
            options.references,
            options.group_by,
            options.metadata,
            options.bootstrap,
            options.confidence,
            options.seed,
        )

    def explain(self, run: Run, paths: list[Path], method: str, target: str, out: Path):
        from vislab.tasks.detection_report import explain_detections

        return explain_detections(run, paths, method, out)


def coco_results(predictions: pd.DataFrame, table, numbered: bool) -> list[dict]:
    """COCO results: `numbered` gives image ids 1..N in table order (as `to_coco()` numbers the
    references), else each image's id; category ids are the source's own."""
    results = []
    for row in predictions.itertuples():
        image_id = int(row.position) + 1 if numbered else row.id
        box = [float(row.x1), float(row.y1), float(row.x2 - row.x1), float(row.y2 - row.y1)]
        results.append(
            {
                "image_id": image_id,
                "category_id": int(row.category_id),
                "bbox": box,
                "score": float(row.score),
            }
        )
    return results
