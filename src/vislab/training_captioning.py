"""The captioning steps of `vislab train`: data, provenance, module and loaders, evaluation.

Fine-tuning starts from a pretrained image-to-text model (`model.pretrained`: `hub` for the
family's checkpoint, or a `save_pretrained` folder) and its own processor. Each (image, reference
caption) pair of the train split is a training example. After training, the run directory is
itself a transformers folder (config.json, processor files, model.safetensors), so
`vislab caption IMAGES --model RUN_DIR` uses the fine-tuned model; the held-out split is
captioned (`predictions.json`, COCO caption results), evaluated against its references
(`references.json`) like `vislab evaluate captioning`, and reported worst-scored first.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from torch.utils.data import DataLoader, Dataset

from vislab.config import DataConfig, ExperimentConfig
from vislab.data.captions import CaptionTable, from_caption_manifest, from_coco_captions
from vislab.data.images import file_digest, screen_images
from vislab.data.sources import join_metadata
from vislab.data.splits import assign_splits
from vislab.errors import ConfigError, InputError
from vislab.runs import environment_record, write_atomic, write_json, write_yaml


@dataclass
class CaptionData:
    table: CaptionTable  # usable images, with a `split` column
    fingerprint: str
    skipped: pd.DataFrame = field(default_factory=pd.DataFrame)

    def split(self, name: str) -> CaptionTable:
        return self.table.subset(np.flatnonzero(self.table.images["split"].to_numpy() == name))


def prepare_captioning(data: DataConfig) -> CaptionData:
    if data.source == "coco":
        table = from_coco_captions(data.root, data.images)
    else:
        table = from_caption_manifest(data.root, data.path_column, data.caption_columns)
    usable, skipped = screen_images(table.images, table.description, data.on_bad_image)
    table = table.subset(usable)
    images = join_metadata(table.images, data.metadata)
    if "split" not in images.columns or images["split"].isna().all():
        split = data.split
        images = assign_splits(images.assign(label="all"), split.val, split.test, split.seed,
                               split.group_by).drop(columns="label")  # fmt: skip
    table = CaptionTable(images, table.captions, table.description)
    return CaptionData(table, _fingerprint(table), skipped)


def _fingerprint(table: CaptionTable) -> str:
    digest = hashlib.sha256()
    for row, texts in zip(table.images.itertuples(), table.captions, strict=True):
        digest.update(
            f"{row.id}\x1f{row.split}\x1f{file_digest(row.path)}\x1f{chr(30).join(texts)}".encode()
        )
    return digest.hexdigest()


def record_captioning(run_dir: Path, config: ExperimentConfig, data: CaptionData) -> None:
    table = data.table
    write_yaml(run_dir / "config.yaml", config.to_dict())
    splits = {str(k): int(v) for k, v in table.images["split"].value_counts().sort_index().items()}
    write_json(run_dir / "environment.json", environment_record(
        config.train.seed, config.fingerprint(), data.fingerprint, data_source=table.description,
        splits=splits, skipped_images=len(data.skipped), captions=sum(map(len, table.captions)),
    ))  # fmt: skip
    write_json(run_dir / "preprocessing.json", {"task": "captioning", "processor": "the model's own (config.json, processor files)"})  # fmt: skip
    write_atomic(run_dir / "splits.csv", table.images[["id", "split"]].to_csv(index=False))
    if len(data.skipped):
        write_atomic(run_dir / "skipped_images.csv", data.skipped.to_csv(index=False))


def model_source(config: ExperimentConfig) -> str:
    from vislab.multimodal.captioner import CAPTIONERS

    family = config.model.backbone.removeprefix("transformers:")
    if config.model.pretrained == "none":
        raise ConfigError("model.pretrained: captioning fine-tunes a pretrained model; set hub "
                          f"({CAPTIONERS[family]}) or a folder written by save_pretrained.")  # fmt: skip
    return CAPTIONERS[family] if config.model.pretrained == "hub" else config.model.pretrained


def load_model(config: ExperimentConfig):
    from vislab.multimodal.captioner import load_captioner

    captioner = load_captioner(model_source(config))
    family = config.model.backbone.removeprefix("transformers:")
    if captioner.model.config.model_type != family:
        raise ConfigError(f"model.pretrained holds a '{captioner.model.config.model_type}' model, but "
                          f"model.backbone is {config.model.backbone}.")  # fmt: skip
    return captioner


class CaptionPairs(Dataset):
    """(image, caption) for every reference caption of every image."""

    def __init__(self, table: CaptionTable, augment: list[str]) -> None:
        from torchvision.transforms import v2

        self.table = table
        self.pairs = [(i, text) for i, texts in enumerate(table.captions) for text in texts]
        steps = [v2.RandomHorizontalFlip()] if "flip" in augment else []
        steps += [v2.ColorJitter(0.2, 0.2, 0.2)] if "color_jitter" in augment else []
        self.transform = v2.Compose(steps) if steps else None

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int):
        position, text = self.pairs[index]
        image = self.table.read(position)
        return (self.transform(image) if self.transform else image), text


@dataclass
class Collate:
    processor: object

    def __call__(self, batch):
        images, texts = zip(*batch, strict=True)
        inputs = self.processor(
            images=list(images), text=list(texts), padding=True, return_tensors="pt"
        )
        return {
            k: v for k, v in inputs.items() if k in ("pixel_values", "input_ids", "attention_mask")
        }


def captioning_module_and_loaders(config: ExperimentConfig, data: CaptionData):
    from vislab.tasks.captioning import CaptioningModule

    captioner = load_model(config)
    cfg, collate = config.data, Collate(captioner.processor)
    train, val = data.split("train"), data.split("val")
    loaders = [DataLoader(CaptionPairs(train, cfg.augment), cfg.batch_size, shuffle=True,
                          num_workers=cfg.num_workers, collate_fn=collate)]  # fmt: skip
    if len(val):
        loaders.append(DataLoader(CaptionPairs(val, []), cfg.batch_size, shuffle=False,
                                  num_workers=cfg.num_workers, collate_fn=collate))  # fmt: skip
    return CaptioningModule(captioner.model, config), loaders, ("val_loss", "min")


def finish_captioning(run_dir: Path, config: ExperimentConfig, data: CaptionData, model) -> dict:
    """The run as a transformers folder, then the held-out split captioned, evaluated, reported."""
    from vislab.multimodal.captioner import Captioner, load_processor

    processor = load_processor(model_source(config))
    model.config.save_pretrained(run_dir)
    processor.save_pretrained(run_dir)
    splits = set(data.table.images["split"])
    held_out = data.split("test" if "test" in splits else "val")
    return evaluate_captioning_run(
        run_dir, config, held_out, Captioner(model.cpu().eval(), processor, str(run_dir))
    )


def reevaluate_captioning_run(run_dir: Path, config: ExperimentConfig) -> dict:
    """`vislab evaluate RUN_DIR`: the saved captions evaluated and reported again."""
    from vislab.data.captions import from_coco_captions

    if not (run_dir / "predictions.json").is_file():
        raise InputError(f"{run_dir}: no predictions.json: is this a finished captioning run?")
    held_out = from_coco_captions(run_dir / "references.json")
    return _evaluate_and_report(run_dir, config, held_out)


def evaluate_captioning_run(
    run_dir: Path, config: ExperimentConfig, held_out: CaptionTable, captioner
) -> dict:
    from vislab.multimodal.captioner import generate_captions

    images = [held_out.read(i) for i in range(len(held_out))]
    texts = generate_captions(captioner, images, config.model.num_beams, config.model.max_new_tokens,
                              batch_size=config.data.batch_size)  # fmt: skip
    results = [
        {"image_id": i, "caption": t} for i, t in zip(held_out.images["id"], texts, strict=True)
    ]
    write_atomic(run_dir / "predictions.json", json.dumps(results, indent=1))
    write_atomic(run_dir / "references.json", json.dumps(held_out.to_coco()))
    write_atomic(run_dir / "images.csv", held_out.images.to_csv(index=False))
    return _evaluate_and_report(run_dir, config, held_out)


def _evaluate_and_report(run_dir: Path, config: ExperimentConfig, held_out: CaptionTable) -> dict:
    from vislab.evaluation.captioning_json import metrics_json, prepare, worst_first
    from vislab.report.captioning_page import write_captioning_report

    stats, frame, references, predicted = prepare(
        run_dir / "predictions.json", run_dir / "references.json", config.evaluate.bertscore_model
    )
    settings = config.evaluate
    metrics = metrics_json(
        stats,
        frame,
        settings.group_by,
        None,
        settings.bootstrap,
        settings.confidence,
        settings.seed,
    )
    write_json(run_dir / "metrics.json", metrics)
    write_captioning_report(run_dir, metrics, worst_first(stats, references, predicted), held_out)
    return metrics
