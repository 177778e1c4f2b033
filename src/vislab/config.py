"""The typed experiment config: YAML in, `--set a.b=c` overrides, errors that name the field.

One `ExperimentConfig` object is passed around; every option has a type and a default, and
every impossible value is rejected before anything runs (STYLE: validate once, at the
boundary). This module knows the schema; what a task needs of it (its sources, its models, its
augmentations) each task checks itself (`Task.check_config`), and the registry hands those
checks to `config_from_dict` (`vislab.tasks.load_config`), so every problem of a config is
reported at once. The example config of DESIGN.md loads as written.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vislab.errors import ConfigError, UsageError

Augmentation = Literal[  # data/augment.py says what each is and which tasks accept it
    "flip", "color_jitter", "autoaugment", "randaugment", "trivialaugment", "zoom_out", "iou_crop"
]
Problem = tuple[str, str]  # (field, message): one problem of a config
Check = Callable[[dict[str, Any], "ExperimentConfig | None"], list[Problem]]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SplitConfig(_Section):
    """How samples are split when the source gives no split column."""

    val: float = Field(0.1, ge=0, lt=1, description="Share of the images held out for validation.")
    test: float = Field(0.1, ge=0, lt=1, description="Share of the images held out for the test.")
    seed: int = Field(0, description="Seed of the split (stratified by label).")
    group_by: str | None = Field(
        None,
        description=(
            "Keep every value of this column (a person, a photographer) inside one split; "
            "duplicate_cluster keeps each cluster of near copies (as `vislab data inspect` "
            "finds them) together."
        ),
    )

    @model_validator(mode="after")
    def _fractions_leave_training_data(self) -> SplitConfig:
        if self.val + self.test >= 1:
            raise ValueError(
                f"val + test must be < 1 so that some images are left for training. "
                f"Got val={self.val} + test={self.test} = {self.val + self.test:g}."
            )
        return self


class DataConfig(_Section):
    source: Literal[
        "imagefolder",
        "manifest",
        "hf",
        "torchvision",
        "sample",
        "coco",
        "voc",
        "yolo",
        "videofolder",
    ] = Field(
        "imagefolder",
        description=(
            "Where the images come from: imagefolder, manifest, hf (a Hugging Face dataset), "
            "torchvision, sample (vislab's own); detection: coco, voc, yolo; captioning: "
            "coco, manifest; video: videofolder, manifest."
        ),
    )
    root: str | None = Field(
        None,
        description=(
            "The image folder, manifest, save_to_disk folder, torchvision root or COCO JSON file."
        ),
    )
    images: str | None = Field(
        None, description="coco: the image folder (default: the JSON file's folder)."
    )
    metadata: str | None = Field(
        None,
        description=(
            "detection, captioning: a table of image metadata (image_id or file_name) to join."
        ),
    )
    boxes_outside: Literal["clip", "reject"] = Field(
        "clip",
        description=(
            "detection: a box crossing the image's border is clipped to it, or rejected as a "
            "data problem."
        ),
    )
    name: str | None = Field(
        None,
        description=(
            "The hub name (hf) or dataset name (torchvision: cifar10, cifar100; sample: digits)."
        ),
    )
    path_column: str = Field("path", description="The manifest's column of image paths.")
    label_column: str = Field("label", description="The manifest's column of labels.")
    split_column: str = Field(
        "split", description="The manifest's column of splits (train, val, test), where it has one."
    )
    allow_outside_root: bool = Field(
        False, description="Manifests: may paths lead out of the manifest's folder?"
    )
    split: SplitConfig = Field(
        SplitConfig(), description="How the images are split when the source gives no split."
    )
    image_size: int = Field(
        224, gt=0, description="The side of the square the model sees, in pixels."
    )
    crop_scale: tuple[float, float] = Field(
        (0.08, 1.0), description="RandomResizedCrop's range of scales, for training."
    )
    normalize: Literal["imagenet", "dataset"] = Field(
        "imagenet", description="ImageNet's mean and std, or the training split's own (dataset)."
    )
    augment: list[Augmentation] = Field(
        ["flip"],
        description=(
            "Training augmentations: flip, color_jitter (every task); autoaugment, "
            "randaugment, trivialaugment (classification); zoom_out, iou_crop (detection)."
        ),
    )
    mixup: float = Field(0.0, ge=0, description="MixUp's Beta(alpha, alpha); 0 switches it off.")
    cutmix: float = Field(0.0, ge=0, description="CutMix's Beta(alpha, alpha); 0 switches it off.")
    batch_size: int = Field(64, gt=0, description="Images per batch.")
    num_workers: int = Field(
        0, ge=0, description="Processes that load images (0: the main process)."
    )
    in_memory: bool = Field(
        False,
        description=(
            "classification: small images of one size (no larger than image_size) held as one"
            " tensor, each batch cropped, resized and flipped at once (crop and flip only; "
            "else image by image)."
        ),
    )
    sampler: Literal["shuffle", "balanced"] = Field(
        "shuffle", description="shuffle, or balanced (each class drawn equally often)."
    )
    on_bad_image: Literal["error", "skip"] = Field(
        "error",
        description=(
            "An unreadable image stops the run with its name (error), or is left out and "
            "listed (skip)."
        ),
    )
    max_image_pixels: int = Field(
        178_956_970, gt=0, description="Larger images are reported unusable (decompression bombs)."
    )
    caption_columns: list[str] = Field(
        ["caption"], description="captioning manifests: the columns of reference captions."
    )
    frames: int = Field(8, gt=0, description="video: frames per clip.")
    frame_stride: int = Field(2, gt=0, description="video: take every n-th frame.")
    fps: float | None = Field(
        None,
        gt=0,
        description="video: sample frames at this rate instead of a stride (a stride per video).",
    )
    clips_per_video: int = Field(3, gt=0, description="video: evaluation windows per video.")

    @field_validator("crop_scale")
    @classmethod
    def _crop_scale_is_a_range(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if not 0 < low <= high <= 1:
            raise ValueError(f"must be two numbers with 0 < low <= high <= 1. Got {list(value)}.")
        return value

    @model_validator(mode="after")
    def _source_has_what_it_needs(self) -> DataConfig:
        needs_root = self.source in (
            "videofolder",
            "imagefolder",
            "manifest",
            "torchvision",
            "coco",
            "voc",
            "yolo",
        )
        if needs_root and not self.root:
            raise ValueError(f"data.root is required when data.source is '{self.source}'.")
        if self.source in ("torchvision", "sample") and not self.name:
            raise ValueError(f"data.name is required when data.source is '{self.source}'.")
        if self.source == "hf" and not (self.name or self.root):
            raise ValueError("data.source 'hf' needs data.name (a hub name) or data.root.")
        return self


class ModelConfig(_Section):
    backbone: str = Field(
        "resnet18",
        description=(
            "Any timm name or torchvision:NAME; detection also transformers:FAMILY, "
            "ultralytics:NAME, vislab:fcos_small."
        ),
    )
    pretrained: str = Field(
        "none",
        description=(
            "none, hub (the published weights), or a path to .safetensors or .pth weights (or"
            " a save_pretrained folder, an ultralytics .pt)."
        ),
    )
    mode: Literal["finetune", "linear_probe"] = Field(
        "finetune", description="finetune (every layer learns) or linear_probe (the head only)."
    )
    unfreeze_after: int | None = Field(
        None, ge=0, description="linear_probe: fine-tune every layer from this epoch on."
    )
    backbone_lr_scale: float = Field(
        1.0, gt=0, le=1, description="The backbone learns at lr times this."
    )
    freeze_backbone: bool = Field(
        False, description="detection: train only the neck and the heads."
    )
    num_beams: int = Field(3, gt=0, description="captioning: beam search width when generating.")
    max_new_tokens: int = Field(
        30, gt=0, description="captioning: the longest generated caption, in tokens."
    )
    drop_rate: float = Field(
        0.0, ge=0, lt=1, description="Dropout before the classifier (timm's drop_rate)."
    )


class TrainConfig(_Section):
    epochs: int = Field(10, gt=0, description="Passes over the training split.")
    optimizer: Literal["adamw", "sgd"] = Field("adamw", description="adamw or sgd.")
    lr: float = Field(0.001, gt=0, description="Learning rate (its peak, after the warmup).")
    weight_decay: float = Field(0.05, ge=0, description="Weight decay.")
    momentum: float = Field(0.9, ge=0, lt=1, description="sgd's momentum.")
    schedule: Literal["cosine", "constant"] = Field(
        "cosine", description="After the warmup: cosine decay, or constant."
    )
    warmup_epochs: float = Field(
        0.0, ge=0, description="Linear warmup, in epochs (at most half of them)."
    )
    label_smoothing: float = Field(
        0.0, ge=0, lt=1, description="Label smoothing of the cross-entropy loss."
    )
    class_weighted_loss: bool = Field(
        False, description="Weight each class's loss by the inverse of its frequency."
    )
    early_stopping: int | None = Field(
        None, gt=0, description="Stop after this many epochs without a lower validation loss."
    )
    seed: int = Field(
        0, description="Seed of the initialization, the shuffling and the augmentations."
    )
    precision: Literal["32", "bf16-mixed", "16-mixed"] = Field(
        "32", description="32, bf16-mixed or 16-mixed (Lightning's)."
    )
    accelerator: str = Field("auto", description="Lightning's accelerator: auto, cpu, gpu.")
    devices: int | Literal["auto"] = Field(
        "auto", description="Lightning's devices: how many, or auto."
    )
    strategy: str = Field("auto", description="Lightning's strategy: auto, ddp, ddp_spawn, ...")
    num_nodes: int = Field(1, gt=0, description="Machines to train on (Lightning's).")
    limit_train_batches: int | float | None = Field(
        None,
        description=(
            "Train on only this many batches per epoch (or this share of them): a quick check."
        ),
    )

    @field_validator("precision", mode="before")
    @classmethod
    def _precision_as_lightning_writes_it(cls, value: Any) -> Any:
        """`precision: 32` (a number in YAML, as Lightning's docs write it) is "32"."""
        return "32" if value == 32 and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _warmup_fits(self) -> TrainConfig:
        """A warmup is at most half the epochs: `--set train.epochs=1` on a config with
        `warmup_epochs: 1` shortens the warmup (the run's config.yaml shows what ran)."""
        if self.warmup_epochs > self.epochs / 2:
            object.__setattr__(self, "warmup_epochs", self.epochs / 2)
        return self


class EvaluateConfig(_Section):
    bootstrap: int = Field(
        1000, ge=0, description="Bootstrap resamples of every interval (0: no intervals)."
    )
    confidence: float = Field(0.95, gt=0, lt=1, description="The intervals' confidence level.")
    group_by: list[str] = Field([], description="Metadata columns to break every metric down by.")
    cluster: str | None = Field(
        None,
        description="Resample whole clusters of this column (a person, a photographer, an event).",
    )
    interval: Literal["percentile", "bca"] = Field(
        "percentile",
        description="percentile, or bca (bias-corrected and accelerated) bootstrap intervals.",
    )
    seed: int = Field(0, description="Bootstrap seed.")
    bertscore_model: str | None = Field(
        None, description="captioning: a model folder for BERTScore-F1."
    )
    explain: Literal["gradcam", "gradcam++", "eigencam", "scorecam", "attention", "none"] = Field(
        "gradcam",
        description=(
            "The report's gallery of what the model looked at: gradcam, gradcam++, eigencam, "
            "scorecam, attention (ViTs), or none."
        ),
    )
    table_format: Literal["csv", "parquet", "dta"] = Field(
        "csv",
        description=(
            "The report's tables/ as csv, parquet (R: arrow) or dta (Stata 14+), each with "
            "its .tex."
        ),
    )


class ZeroShotConfig(_Section):
    """task: zero_shot — the classes described in words, and the prompt templates."""

    classes: list[str] = Field(
        [], description="`name` or `name=description` per class; default: the source's labels."
    )
    templates: list[str] = Field(
        [],
        description=(
            "Prompt templates, each with one {} for the class's text; default: vislab's seven."
        ),
    )


# Settings that only some tasks read; every other setting is read by every task. A report shows
# a run's settings without the ones its task never reads (config.yaml keeps them all).
ONLY_FOR = {
    "data.images": ("detection", "captioning"),
    "data.metadata": ("detection", "captioning"),
    "data.boxes_outside": ("detection",),
    "data.caption_columns": ("captioning",),
    "data.frames": ("video",),
    "data.frame_stride": ("video",),
    "data.fps": ("video",),
    "data.clips_per_video": ("video",),
    "model.freeze_backbone": ("detection",),
    "model.num_beams": ("captioning",),
    "model.max_new_tokens": ("captioning",),
    "evaluate.bertscore_model": ("captioning",),
    "zero_shot": ("zero_shot",),
}


def settings_of(config: dict) -> dict:
    """A config dict (config.yaml's content) without the settings its task never reads."""
    task, kept = config.get("task", "classification"), {}
    for section, value in config.items():
        if task not in ONLY_FOR.get(section, (task,)):
            continue
        if isinstance(value, dict):
            value = {
                key: item
                for key, item in value.items()
                if task in ONLY_FOR.get(f"{section}.{key}", (task,))
            }
        kept[section] = value
    return kept


class ExperimentConfig(_Section):
    task: str = Field(
        "classification",
        description="classification, detection, captioning, video, zero_shot or linear_probe.",
    )
    name: str | None = Field(
        None, description="The run directory's name; default: <task>-<backbone>."
    )
    output_dir: str = Field("runs", description="The folder the run directories go in.")
    data: DataConfig = Field(description="The images and how they are prepared.")
    model: ModelConfig = Field(ModelConfig(), description="The model.")
    train: TrainConfig = Field(TrainConfig(), description="The training.")
    evaluate: EvaluateConfig = Field(EvaluateConfig(), description="The evaluation and the report.")
    zero_shot: ZeroShotConfig = Field(
        ZeroShotConfig(), description="task zero_shot: the classes in words and the prompts."
    )

    @field_validator("name")
    @classmethod
    def _a_plain_folder_name(cls, name: str | None) -> str | None:
        if name is not None and (not name.strip(". ") or any(c in name for c in "/\\:")):
            raise ValueError(
                "a run's name is one folder name inside output_dir: no '/', '\\', ':' or "
                "'..'. Put runs elsewhere with output_dir"
            )
        return name

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def fingerprint(self) -> str:
        """sha256 of the resolved config: two runs with the same hash had the same settings."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


def load_config(
    path: str | Path, overrides: list[str] | tuple[str, ...] = (), check: Check | None = None
) -> ExperimentConfig:
    """Read a YAML config, apply `key=value` overrides and validate the result (with the
    task's own `check`; `vislab.tasks.load_config` gives it)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file.")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: a config must be a mapping of sections, got {type(raw).__name__}."
        )
    for override in overrides:
        apply_override(raw, override)
    return config_from_dict(raw, source=str(path), check=check)


def apply_override(raw: dict[str, Any], override: str) -> None:
    """Set `a.b.c=value` in a nested dict; the value is parsed as YAML (`32`, `[flip]`, `true`)."""
    key, sep, text = override.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"--set {override!r}: expected KEY=VALUE, e.g. data.batch_size=32.")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as error:
        problem = str(error).splitlines()[0]
        raise UsageError(
            f"--set {override!r}: the value is not valid YAML ({problem}); quote text that "
            "holds ':', '[' or '{', e.g. --set \"name='a: b'\"."
        ) from None
    *parents, leaf = key.strip().split(".")
    node = raw
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {override!r}: '{part}' is not a section.")
        node = child
    node[leaf] = value


def config_from_dict(
    raw: dict[str, Any], source: str = "config", check: Check | None = None
) -> ExperimentConfig:
    """Validate a config dict: the schema, then `check(raw, config)` (the task's own checks;
    config is None when the schema failed, so that field-level checks still run). Every
    problem is reported at once, in the order of the config's sections."""
    config, problems = None, []
    try:
        config = ExperimentConfig.model_validate(raw)
    except ValidationError as error:
        problems = _problems(error, raw)
    if check is not None:
        problems += check(raw, config)
    if problems:
        order = list(ExperimentConfig.model_fields)
        problems.sort(key=lambda item: _section_rank(item[0], order))
        lines = [f"  - {field}: {message}" for field, message in problems]
        raise ConfigError(
            f"{source}: the config has {len(problems)} problem(s):\n" + "\n".join(lines)
        )
    return config


def _section_rank(field: str, order: list[str]) -> int:
    section = field.split(".")[0]
    return order.index(section) if section in order else -1


def _problems(error: ValidationError, raw: dict[str, Any]) -> list[Problem]:
    problems = []
    for item in error.errors():
        location = [str(part) for part in item["loc"]]
        field = ".".join(location) or "(top level)"
        if item["type"] == "extra_forbidden":
            problems.append((field, f"unknown key.{_did_you_mean(location)}"))
        elif item["type"] == "missing":
            problems.append((field, "required, but missing."))
        else:
            got = _value_at(raw, location)
            message = item["msg"].removeprefix("Value error, ")
            if not location and ": " in message:  # a cross-field check names its own field
                field, message = message.split(": ", 1)
                got = _MISSING
            suffix = f" Got {got!r}." if got is not _MISSING and "Got" not in message else ""
            problems.append((field, f"{message.rstrip('.')}.{suffix}"))
    return problems


_MISSING = object()


def _value_at(raw: Any, location: list[str]) -> Any:
    node = raw
    for part in location:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def _did_you_mean(location: list[str]) -> str:
    model: type[BaseModel] = ExperimentConfig
    for part in location[:-1]:
        annotation = model.model_fields.get(part)
        if annotation is None or not isinstance(annotation.annotation, type):
            return ""
        model = annotation.annotation
    choices = difflib.get_close_matches(location[-1], list(model.model_fields), n=1)
    return (
        f" Did you mean '{choices[0]}'?"
        if choices
        else f" Known keys: {', '.join(model.model_fields)}."
    )
