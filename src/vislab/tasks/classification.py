"""Image classification: a timm or torchvision backbone with a head sized to the classes.

Data: an image folder, a manifest, a Hugging Face dataset, CIFAR from torchvision, or the
bundled digits. Training: RandomResizedCrop + the named augmentations, optional MixUp/CutMix,
a shuffled or class-balanced sampler, cross-entropy with label smoothing and class weights.
Predictions: `predictions.csv` (DESIGN's table). Report: metrics with intervals, confusion
matrix, calibration, groups and fairness, an explanation gallery and the most confident
errors.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from vislab.config import DataConfig, ExperimentConfig
from vislab.data.prepare import TaskData
from vislab.predictions import predictions_frame, score_column
from vislab.tasks.base import EvaluateOptions, Run, Task
from vislab.tasks.registry import register


@register
class ClassificationTask(Task):
    name = "classification"
    sources = ("imagefolder", "manifest", "hf", "torchvision", "sample")
    models = "any timm model name, or torchvision:NAME"
    evaluate_options = frozenset(
        {"cluster", "weights", "interval", "sample", "label_column", "classes", "normalize_scores"}
    )

    def check_backbone(self, name: str) -> str | None:
        from vislab.models.backbones import backbone_problem

        return backbone_problem(name)

    def check_config(self, config: ExperimentConfig) -> list:
        problems = super().check_config(config)
        if config.model.freeze_backbone:
            problems.append(
                ("model.freeze_backbone", "for classification use model.mode: linear_probe.")
            )
        return problems

    # data

    def load_source(self, data: DataConfig):
        from vislab.data.sources import load_source

        return load_source(data)

    def prepare(self, config: ExperimentConfig) -> TaskData:
        from vislab.data.transforms import IMAGENET_MEAN, IMAGENET_STD, dataset_statistics

        data = super().prepare(config)
        data.table = data.table.present_classes()
        if config.data.normalize == "dataset":
            train = data.split("train")
            data.normalization = dataset_statistics(
                train, config.data.image_size, seed=config.train.seed
            )
        else:
            data.normalization = (list(IMAGENET_MEAN), list(IMAGENET_STD))
        return data

    def preprocessing(self, config: ExperimentConfig, data: TaskData) -> dict:
        mean, std = data.normalization
        return {
            "classes": data.classes,
            "image_size": config.data.image_size,
            "normalize": config.data.normalize,
            "mean": mean,
            "std": std,
        }

    def preview_item(self, config: ExperimentConfig, table, position: int):
        """An augmented training image (normalization undone) and its label."""
        import torch
        from PIL import Image

        from vislab.data.transforms import IMAGENET_MEAN, IMAGENET_STD, train_transform

        settings = config.data
        transform = train_transform(
            settings.image_size, settings.augment, IMAGENET_MEAN, IMAGENET_STD, settings.crop_scale
        )
        mean, std = (torch.tensor(v)[:, None, None] for v in (IMAGENET_MEAN, IMAGENET_STD))
        tensor = transform(table.read(position)) * std + mean  # (3, H, W) in [0, 1]
        pixels = (tensor.clamp(0, 1).permute(1, 2, 0).numpy() * 255).astype("uint8")
        return Image.fromarray(pixels), str(table.frame["label"].iat[position])

    # model and training

    def build_model(self, config: ExperimentConfig, classes: list[str], pretrained: bool = True):
        from vislab.models.backbones import create_classifier

        model = config.model
        weights = model.pretrained if pretrained else "none"
        return create_classifier(
            model.backbone,
            len(classes),
            weights,
            model.drop_rate,
            image_size=config.data.image_size,
        )

    def build_module(self, config: ExperimentConfig, classes: list[str], model, data=None):
        from vislab.data.loaders import class_weights
        from vislab.tasks.modules import ClassificationModule

        weights = None
        if data is not None and config.train.class_weighted_loss:
            weights = class_weights(data.split("train").label_indices(), len(classes))
        return ClassificationModule(model, config, classes, weights)

    def train_loaders(self, config: ExperimentConfig, data: TaskData) -> list:
        from vislab.data.batched import batched_images, whole_batch
        from vislab.data.loaders import (
            ImageDataset,
            balanced_weights,
            make_loader,
            train_loader,
            warn_if_imbalanced,
        )
        from vislab.data.transforms import eval_transform, train_transform

        settings, (mean, std) = config.data, data.normalization
        train, val = data.split("train"), data.split("val")
        if settings.sampler == "shuffle" and not config.train.class_weighted_loss:
            warn_if_imbalanced(train)  # the user has not chosen a remedy yet
        weights = None
        if settings.sampler == "balanced":
            weights = balanced_weights(train.label_indices(), len(data.classes))
        size, augment, scale = settings.image_size, settings.augment, settings.crop_scale
        dataset, collate = None, whole_batch
        if settings.in_memory:
            dataset = batched_images(train, size, augment, scale, mean, std)
        if dataset is None:  # image by image
            dataset, collate = (
                ImageDataset(train, train_transform(size, augment, mean, std, scale)),
                None,
            )
        loaders = [
            train_loader(
                dataset,
                settings.batch_size,
                settings.num_workers,
                config.train.seed,
                weights,
                collate_fn=collate,
                drop_last=len(train) > settings.batch_size,
            )
        ]
        if len(val):
            evaluation = eval_transform(settings.image_size, mean, std)
            loaders.append(
                make_loader(
                    ImageDataset(val, evaluation), settings.batch_size, settings.num_workers
                )
            )
        return loaders

    # predictions

    def prediction_loader(self, run: Run, table):
        from vislab.data.loaders import ImageDataset, make_loader
        from vislab.data.transforms import eval_transform

        record, settings = run.preprocessing, run.config.data
        transform = eval_transform(record["image_size"], record["mean"], record["std"])
        return make_loader(
            ImageDataset(table, transform), settings.batch_size, settings.num_workers
        )

    def prediction_job(self, run: Run, full_decode: bool = False):
        """The collection engine's job for this run (see `tasks/jobs.py`)."""
        from vislab.data.transforms import eval_transform, resize_size
        from vislab.tasks.jobs import ImageJob, ImageReader

        record = run.preprocessing
        transform = eval_transform(record["image_size"], record["mean"], record["std"])
        least = None if full_decode else resize_size(record["image_size"])
        module = self.prediction_module(run)
        train = run.config.train
        reader = ImageReader(transform, least)
        return ImageJob(module, run.classes, reader, train.precision, train.accelerator)

    def predictions(self, rows: pd.DataFrame, table, run: Run) -> pd.DataFrame:
        probabilities = rows[[score_column(c) for c in run.classes]].to_numpy()
        return predictions_frame(table.frame, run.classes, probabilities)

    # evaluation and report

    def evaluate_run(self, run_dir: Path) -> dict:
        from vislab.files import read_table, write_json
        from vislab.tasks.classification_report import write_classification_report

        run = self.load_run(run_dir)
        predictions = read_table(run.directory / self.predictions_file)
        settings = run.config.evaluate
        metrics = self._evaluate(
            predictions,
            EvaluateOptions(
                group_by=tuple(settings.group_by),
                bootstrap=settings.bootstrap,
                confidence=settings.confidence,
                seed=settings.seed,
                cluster=settings.cluster,
                interval=settings.interval,
            ),
            source=str(run.directory / self.predictions_file),
        )
        write_classification_report(self, run, metrics, predictions)
        write_json(run.directory / "metrics.json", metrics)
        return metrics

    def evaluate_files(self, predictions, options: EvaluateOptions) -> dict:
        from dataclasses import replace

        from vislab.files import read_table

        source = "predictions" if isinstance(predictions, pd.DataFrame) else str(predictions)
        table = predictions if isinstance(predictions, pd.DataFrame) else read_table(predictions)
        if options.label_column:
            table = _with_label(table, options.label_column, source)
        if options.sample:
            from vislab.evaluation.validation import attach_sample, drawn_clusters, one_round

            table = attach_sample(table, one_round(options.sample))
            cluster = drawn_clusters(options.sample) or options.cluster  # the design's, first
            options = replace(options, weights="weight", strata="stratum", cluster=cluster)
        if options.normalize_scores:
            from vislab.evaluation.inputs import normalize_scores

            table = normalize_scores(table, source)
        return self._evaluate(table, options, source)

    def _evaluate(self, predictions: pd.DataFrame, options: EvaluateOptions, source: str) -> dict:
        from vislab.evaluation.classification import evaluate_classification

        return evaluate_classification(
            predictions,
            options.group_by,
            options.bootstrap,
            options.confidence,
            options.seed,
            source,
            options.cluster,
            options.weights,
            options.interval,
            options.classes or None,
            options.strata,
        )

    # explanations

    def explain(self, run: Run, paths: list[Path], method: str, target: str, out: Path):
        from vislab.tasks.classification_report import explain_images

        return explain_images(self, run, paths, method, target, out)

    def explain_inputs(self, run: Run, images: list) -> tuple:
        """Model inputs (B, 3, H, W) and the crops the model sees, for display."""
        from vislab.explanation.images import prepare

        record = run.preprocessing
        return prepare(images, record["image_size"], record["mean"], record["std"])


def _with_label(table: pd.DataFrame, column: str, source: str) -> pd.DataFrame:
    """`column` (a coder's) as the true label."""
    from vislab.errors import InputError

    if column not in table.columns:
        raise InputError(f"{source}: no column '{column}' (--label-column).")
    return table.drop(columns=[c for c in ("label",) if c != column and c in table.columns]).rename(
        columns={column: "label"}
    )
