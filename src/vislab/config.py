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

    val: float = Field(0.1, ge=0, lt=1)
    test: float = Field(0.1, ge=0, lt=1)
    seed: int = 0
    group_by: str | None = None  # keep every value of this column inside one split

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
    ] = "imagefolder"
    root: str | None = None  # folder, manifest, save_to_disk folder, torchvision root, COCO json
    images: str | None = None  # coco: the image folder (default: the JSON's folder)
    metadata: str | None = None  # detection: image metadata table (image_id or file_name) to join
    boxes_outside: Literal["clip", "reject"] = "clip"  # detection: boxes crossing the border
    name: str | None = None  # hub name (hf), dataset name (torchvision, sample)
    path_column: str = "path"
    label_column: str = "label"
    split_column: str = "split"
    allow_outside_root: bool = False  # manifests: may paths lead out of the manifest's folder?
    split: SplitConfig = SplitConfig()
    image_size: int = Field(224, gt=0)
    crop_scale: tuple[float, float] = (0.08, 1.0)  # RandomResizedCrop scale range
    normalize: Literal["imagenet", "dataset"] = "imagenet"
    augment: list[Augmentation] = ["flip"]
    mixup: float = Field(0.0, ge=0)  # Beta(alpha, alpha) for MixUp; 0 switches it off
    cutmix: float = Field(0.0, ge=0)  # Beta(alpha, alpha) for CutMix; 0 switches it off
    batch_size: int = Field(64, gt=0)
    num_workers: int = Field(0, ge=0)
    # classification: small images of one size (no larger than image_size) held as one tensor,
    # each batch cropped, resized and flipped at once (crop and flip only; else image by image)
    in_memory: bool = False
    sampler: Literal["shuffle", "balanced"] = "shuffle"
    on_bad_image: Literal["error", "skip"] = "error"
    max_image_pixels: int = Field(178_956_970, gt=0)  # larger images are unusable (bombs)
    caption_columns: list[str] = ["caption"]  # captioning manifests: the reference caption columns
    frames: int = Field(8, gt=0)  # video: frames per clip
    frame_stride: int = Field(2, gt=0)  # video: take every n-th frame
    fps: float | None = Field(None, gt=0)  # video: sample at this rate instead (stride per video)
    clips_per_video: int = Field(3, gt=0)  # video: evaluation windows per video

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
    backbone: str = "resnet18"  # any timm name, or torchvision:NAME
    pretrained: str = "none"  # none | hub | path/to/weights.safetensors|.pth
    mode: Literal["finetune", "linear_probe"] = "finetune"
    unfreeze_after: int | None = Field(None, ge=0)  # linear_probe: fine-tune from this epoch
    backbone_lr_scale: float = Field(1.0, gt=0, le=1)  # backbone lr = lr * this
    freeze_backbone: bool = False  # detection: train only the neck and heads
    num_beams: int = Field(3, gt=0)  # captioning: beam search width when generating
    max_new_tokens: int = Field(30, gt=0)  # captioning: longest generated caption, in tokens
    drop_rate: float = Field(0.0, ge=0, lt=1)


class TrainConfig(_Section):
    epochs: int = Field(10, gt=0)
    optimizer: Literal["adamw", "sgd"] = "adamw"
    lr: float = Field(0.001, gt=0)
    weight_decay: float = Field(0.05, ge=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    schedule: Literal["cosine", "constant"] = "cosine"
    warmup_epochs: float = Field(0.0, ge=0)
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    class_weighted_loss: bool = False
    early_stopping: int | None = Field(None, gt=0)  # patience in epochs on val loss
    seed: int = 0
    precision: Literal["32", "bf16-mixed", "16-mixed"] = "32"
    accelerator: str = "auto"
    devices: int | Literal["auto"] = "auto"
    strategy: str = "auto"  # auto | ddp | ddp_spawn | ... (Lightning strategies)
    num_nodes: int = Field(1, gt=0)
    limit_train_batches: int | float | None = None

    @model_validator(mode="after")
    def _warmup_fits(self) -> TrainConfig:
        """A warmup is at most half the epochs: `--set train.epochs=1` on a config with
        `warmup_epochs: 1` shortens the warmup (the run's config.yaml shows what ran)."""
        if self.warmup_epochs > self.epochs / 2:
            object.__setattr__(self, "warmup_epochs", self.epochs / 2)
        return self


class EvaluateConfig(_Section):
    bootstrap: int = Field(1000, ge=0)
    confidence: float = Field(0.95, gt=0, lt=1)
    group_by: list[str] = []
    cluster: str | None = None  # resample whole clusters (a person, a photographer, an event)
    interval: Literal["percentile", "bca"] = "percentile"
    seed: int = 0
    bertscore_model: str | None = None  # captioning: a model folder for BERTScore-F1
    explain: Literal["gradcam", "gradcam++", "eigencam", "scorecam", "attention", "none"] = (
        "gradcam"
    )


class ZeroShotConfig(_Section):
    """task: zero_shot — the classes described in words, and the prompt templates."""

    classes: list[str] = []  # `name` or `name=description`; default: the source's labels
    templates: list[str] = []  # each with one {} for the class text; default: vislab's seven


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
    task: str = "classification"  # a registered task (vislab.tasks); checked by the registry
    name: str | None = None  # run directory name; default: <task>-<backbone>
    output_dir: str = "runs"
    data: DataConfig
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    zero_shot: ZeroShotConfig = ZeroShotConfig()

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
