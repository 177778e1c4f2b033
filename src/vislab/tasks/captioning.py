"""Captioning: BLIP or GIT (transformers) fine-tuned from a pretrained checkpoint.

Data: COCO captions or a manifest with caption columns. Training: each (image, reference
caption) pair, the model's own next-token loss. The run directory is itself a transformers
folder (config.json, processor files, model.safetensors), so `vislab caption --model RUN_DIR`
uses the fine-tuned model. Predictions: `predictions.json` (COCO caption results) beside
`references.json` and `images.csv`. Report: caption metrics with intervals and groups, and the
lowest-scored captions with their images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from vislab.config import DataConfig, ExperimentConfig
from vislab.data.prepare import TaskData
from vislab.errors import ConfigError, InputError
from vislab.tasks.base import EvaluateOptions, Run, Task
from vislab.tasks.registry import register

PREFIX = "transformers:"


@register
class CaptioningTask(Task):
    name = "captioning"
    sources = ("coco", "manifest")
    models = "transformers:blip, transformers:git"
    predictions_file = "predictions.json"
    evaluate_options = frozenset(
        {"references", "metadata", "bertscore_model", "clip_model", "images"}
    )

    def check_backbone(self, name: str) -> str | None:
        from vislab.models.captioners import CAPTIONERS

        if name.startswith(PREFIX) and name.removeprefix(PREFIX) in CAPTIONERS:
            return None
        names = ", ".join(f"{PREFIX}{family}" for family in CAPTIONERS)
        return f"captioning needs an image-to-text model: {names}."

    def check_config(self, config: ExperimentConfig) -> list:
        problems = super().check_config(config)
        if config.model.pretrained == "none":
            problems.append(
                (
                    "model.pretrained",
                    "captioning fine-tunes a pretrained model; set "
                    "hub or a folder written by save_pretrained.",
                )
            )
        return problems

    # data

    def load_source(self, data: DataConfig):
        from vislab.data.captions import from_caption_manifest, from_coco_captions
        from vislab.data.sources import join_metadata

        if data.source == "coco":
            table = from_coco_captions(data.root, data.images)
        else:
            table = from_caption_manifest(
                data.root, data.path_column, data.caption_columns, data.allow_outside_root
            )
        return table.with_frame(join_metadata(table.frame, data.metadata))

    def preprocessing(self, config: ExperimentConfig, data: TaskData) -> dict:
        return {"processor": "the model's own (config.json, processor files)"}

    def preview_item(self, config: ExperimentConfig, table, position: int):
        """An augmented training image and its first reference caption."""
        image, _ = CaptionPairs(table.subset([position]), config.data.augment)[0]
        return image, table.captions[position][0]

    # model and training

    def source(self, config: ExperimentConfig) -> str:
        from vislab.models.captioners import CAPTIONERS

        family = config.model.backbone.removeprefix(PREFIX)
        return CAPTIONERS[family] if config.model.pretrained == "hub" else config.model.pretrained

    def build_model(self, config: ExperimentConfig, classes: list[str], pretrained: bool = True):
        from vislab.models.captioners import load_captioner

        captioner = load_captioner(self.source(config))
        family = config.model.backbone.removeprefix(PREFIX)
        if captioner.model.config.model_type != family:
            raise ConfigError(
                f"model.pretrained holds a '{captioner.model.config.model_type}' model, "
                f"but model.backbone is {config.model.backbone}."
            )
        return captioner.model

    def processor(self, run_or_config):
        """The processor saved with the run, else the pretrained model's."""
        from vislab.models.captioners import load_processor

        if isinstance(run_or_config, Run) and (run_or_config.directory / "config.json").is_file():
            return load_processor(str(run_or_config.directory))
        config = run_or_config.config if isinstance(run_or_config, Run) else run_or_config
        return load_processor(self.source(config))

    def build_module(self, config: ExperimentConfig, classes: list[str], model, data=None):
        from vislab.tasks.modules import CaptioningModule

        return CaptioningModule(model, config, self.processor(config))

    def prediction_module(self, run: Run):
        from vislab.tasks.modules import CaptioningModule

        return CaptioningModule(run.model, run.config, self.processor(run))

    def train_loaders(self, config: ExperimentConfig, data: TaskData) -> list:
        from torch.utils.data import DataLoader

        from vislab.data.loaders import train_loader

        settings, collate = config.data, PairCollate(self.processor(config))
        train, val = data.split("train"), data.split("val")
        loaders = [
            train_loader(
                CaptionPairs(train, settings.augment),
                settings.batch_size,
                settings.num_workers,
                config.train.seed,
                collate_fn=collate,
            )
        ]
        if len(val):
            loaders.append(
                DataLoader(
                    CaptionPairs(val, []),
                    settings.batch_size,
                    shuffle=False,
                    num_workers=settings.num_workers,
                    collate_fn=collate,
                )
            )
        return loaders

    def save_model(self, run_dir: Path, model, config: ExperimentConfig) -> None:
        """The run as a transformers folder: weights, config.json and the processor's files."""
        super().save_model(run_dir, model, config)
        model.config.save_pretrained(run_dir)
        self.processor(config).save_pretrained(run_dir)

    def load_run(self, run_dir: Path) -> Run:
        from vislab.models.captioners import load_captioner
        from vislab.tasks.base import read_run

        run = read_run(run_dir)
        if not (run.directory / "model.safetensors").is_file():
            raise InputError(f"{run_dir}: no model.safetensors: is this a finished captioning run?")
        run.model = load_captioner(str(run.directory)).model
        return run

    # predictions

    def prediction_job(self, run: Run, full_decode: bool = False):
        """The collection engine's job: a caption per image (`tasks/jobs.CaptionJob`)."""
        from vislab.tasks.jobs import CaptionJob

        train, module = run.config.train, self.prediction_module(run)
        return CaptionJob(module, self.processor(run), train.precision, train.accelerator)

    def prediction_loader(self, run: Run, table):
        from torch.utils.data import DataLoader

        settings = run.config.data
        return DataLoader(
            ImagesWithPositions(table),
            settings.batch_size,
            shuffle=False,
            num_workers=settings.num_workers,
            collate_fn=ImageCollate(self.processor(run)),
        )

    def predictions(self, rows: pd.DataFrame, table, run: Run) -> pd.DataFrame:
        positions = rows["position"].to_numpy(int)
        frame = table.frame.iloc[positions].reset_index(drop=True)
        return pd.DataFrame(
            {"image_id": frame["id"], "path": frame["path"], "caption": rows["caption"].to_numpy()}
        )

    def summarize_predictions(self, predictions: pd.DataFrame, count: int = 5) -> list[str]:
        lines = [f"  {row.image_id}: {row.caption}" for row in predictions.head(count).itertuples()]
        return [*lines, f"{len(predictions)} captions"]

    def write_predictions(self, path: Path, predictions: pd.DataFrame, table) -> None:
        """COCO caption results (.json) or a table; for the run's held-out split also its
        references (references.json) and image metadata (images.csv)."""
        import json

        from vislab.data.captions import CaptionTable
        from vislab.files import write_atomic, write_table

        if path.suffix.lower() != ".json":
            write_table(path, predictions)
            return
        results = [
            {"image_id": i, "caption": c}
            for i, c in zip(predictions["image_id"], predictions["caption"], strict=True)
        ]
        write_atomic(path, json.dumps(results, indent=1))
        if isinstance(table, CaptionTable):
            write_atomic(path.parent / "references.json", json.dumps(table.to_coco()))
            write_table(path.parent / "images.csv", table.frame)

    # evaluation and report

    def evaluate_run(self, run_dir: Path) -> dict:
        from vislab.tasks.captioning_report import evaluate_captioning_run

        return evaluate_captioning_run(self, Path(run_dir))

    def evaluate_files(self, predictions, options: EvaluateOptions) -> dict:
        from vislab.errors import UsageError
        from vislab.evaluation.captioning import evaluate_captioning
        from vislab.tasks.captioning_report import clip_scorer

        if options.references is None:
            raise UsageError("captioning needs --references (COCO captions JSON or a CSV).")
        scorer = clip_scorer(options.clip_model) if options.clip_model else None
        metrics = evaluate_captioning(
            predictions,
            options.references,
            options.group_by,
            options.metadata,
            options.bootstrap,
            options.confidence,
            options.seed,
            options.bertscore_model,
            scorer,
            options.images,
        )
        if options.clip_model:
            metrics["clip_model"] = str(options.clip_model)
        return metrics

    def explain(self, run: Run, paths: list[Path], method: str, target: str, out: Path):
        from vislab.tasks.captioning_report import explain_captions

        return explain_captions(self, run, paths, method, out)


class CaptionPairs:
    """(image, caption) for every reference caption of every image, augmented for training."""

    def __init__(self, table, augment: list[str]) -> None:
        from torchvision.transforms import v2

        from vislab.data.augment import augmentations

        self.table = table
        self.pairs = [(i, text) for i, texts in enumerate(table.captions) for text in texts]
        steps = augmentations(augment)
        self.transform = v2.Compose(steps) if steps else None

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int):
        position, text = self.pairs[index]
        image = self.table.read(position)
        return (self.transform(image) if self.transform else image), text


class ImagesWithPositions:
    """(image, position) for every row of a table of images."""

    def __init__(self, table) -> None:
        self.table = table

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, position: int):
        return self.table.read(position), position


@dataclass
class PairCollate:
    processor: object

    def __call__(self, batch) -> dict:
        images, texts = zip(*batch, strict=True)
        inputs = self.processor(
            images=list(images), text=list(texts), padding=True, return_tensors="pt"
        )
        keep = ("pixel_values", "input_ids", "attention_mask")
        return {k: v for k, v in inputs.items() if k in keep}


@dataclass
class ImageCollate:
    processor: object

    def __call__(self, batch) -> dict:
        from vislab.models.captioners import prepare_images

        images, positions = zip(*batch, strict=True)
        return {**prepare_images(self.processor, list(images)), "position": list(positions)}
