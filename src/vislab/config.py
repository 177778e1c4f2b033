"""The typed experiment config: YAML in, `--set a.b=c` overrides, errors that name the field.

One `ExperimentConfig` object is passed around; every option has a type and a default, and
every impossible value is rejected here, before anything runs (STYLE: validate once, at the
boundary). The example config of DESIGN.md loads as written.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vislab.errors import ConfigError

Augmentation = Literal[
    "flip", "color_jitter", "autoaugment", "randaugment", "trivialaugment", "zoom_out", "iou_crop"
]
DETECTION_AUGMENTATIONS = {"flip", "color_jitter", "zoom_out", "iou_crop"}


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
    split: SplitConfig = SplitConfig()
    image_size: int = Field(224, gt=0)
    crop_scale: tuple[float, float] = (0.08, 1.0)  # RandomResizedCrop scale range
    normalize: Literal["imagenet", "dataset"] = "imagenet"
    augment: list[Augmentation] = ["flip"]
    mixup: float = Field(0.0, ge=0)  # Beta(alpha, alpha) for MixUp; 0 switches it off
    cutmix: float = Field(0.0, ge=0)  # Beta(alpha, alpha) for CutMix; 0 switches it off
    batch_size: int = Field(64, gt=0)
    num_workers: int = Field(0, ge=0)
    sampler: Literal["shuffle", "balanced"] = "shuffle"
    on_bad_image: Literal["error", "skip"] = "error"
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

    @field_validator("backbone")
    @classmethod
    def _backbone_exists(cls, name: str) -> str:
        from vislab.models.backbones import check_backbone_name

        check_backbone_name(name)
        return name


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
        if self.warmup_epochs >= self.epochs and self.warmup_epochs > 0:
            raise ValueError(
                f"warmup_epochs must be < epochs. Got warmup_epochs={self.warmup_epochs:g}, "
                f"epochs={self.epochs}."
            )
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


class ExperimentConfig(_Section):
    task: Literal["classification", "detection", "captioning", "video"] = "classification"
    name: str | None = None  # run directory name; default: <task>-<backbone>
    output_dir: str = "runs"
    data: DataConfig
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    evaluate: EvaluateConfig = EvaluateConfig()

    @model_validator(mode="after")
    def _task_fits(self) -> ExperimentConfig:
        from vislab.models.detectors import is_detector

        if self.task == "captioning":
            return self._captioning_fits()
        if self.task == "video":
            return self._video_fits()
        detection_source = self.data.source in ("coco", "voc", "yolo")
        if self.task == "detection" and not is_detector(self.model.backbone):
            raise ValueError(
                f"model.backbone: '{self.model.backbone}' is not a detection model. Use e.g. "
                "torchvision:fasterrcnn_mobilenet_v3_large_fpn, torchvision:retinanet_resnet50_fpn, "
                "torchvision:fcos_resnet50_fpn, transformers:detr, transformers:rt_detr or "
                "vislab:fcos_small."
            )
        if self.task == "classification" and self.model.freeze_backbone:
            raise ValueError(
                "model.freeze_backbone: for classification use model.mode: linear_probe."
            )
        if self.task == "classification" and (is_detector(self.model.backbone) or detection_source):
            raise ValueError(
                "task: the data source or model.backbone is for detection; set task: detection."
            )
        if self.task == "detection" and not detection_source:
            raise ValueError("data.source: detection needs coco, voc or yolo.")
        allowed = (
            DETECTION_AUGMENTATIONS
            if self.task == "detection"
            else set(Augmentation.__args__) - {"zoom_out", "iou_crop"}
        )
        wrong = [name for name in self.data.augment if name not in allowed]
        if wrong:
            raise ValueError(
                f"data.augment: {wrong} cannot be used for {self.task}; choose from {sorted(allowed)}."
            )
        return self

    def _video_fits(self) -> ExperimentConfig:
        from vislab.models.video import VIDEO_MODELS, is_video_model

        if not is_video_model(self.model.backbone):
            names = ", ".join(f"torchvision:{name}" for name in VIDEO_MODELS)
            raise ValueError(
                f"model.backbone: video needs a video model ({names}, transformers:videomae) or frames:TIMM_NAME."
            )
        if self.data.source not in ("videofolder", "manifest"):
            raise ValueError(
                "data.source: video reads videofolder (a folder per class) or manifest."
            )
        wrong = [name for name in self.data.augment if name != "flip"]
        if wrong:
            raise ValueError(
                f"data.augment: {wrong} cannot be used for video; choose from flip (or [])."
            )
        return self

    def _captioning_fits(self) -> ExperimentConfig:
        from vislab.multimodal.captioner import CAPTIONERS

        if self.model.backbone.removeprefix(
            "transformers:"
        ) not in CAPTIONERS or not self.model.backbone.startswith("transformers:"):
            names = ", ".join(f"transformers:{name}" for name in CAPTIONERS)
            raise ValueError(f"model.backbone: captioning needs an image-to-text model: {names}.")
        if self.data.source not in ("coco", "manifest"):
            raise ValueError("data.source: captioning reads coco (COCO captions JSON) or manifest.")
        wrong = [name for name in self.data.augment if name not in ("flip", "color_jitter")]
        if wrong:
            raise ValueError(
                f"data.augment: {wrong} cannot be used for captioning; choose from flip, color_jitter."
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def fingerprint(self) -> str:
        """sha256 of the resolved config: two runs with the same hash had the same settings."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> ExperimentConfig:
    """Read a YAML config, apply `key=value` overrides and validate the result."""
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
    return config_from_dict(raw, source=str(path))


def apply_override(raw: dict[str, Any], override: str) -> None:
    """Set `a.b.c=value` in a nested dict; the value is parsed as YAML (`32`, `[flip]`, `true`)."""
    key, sep, text = override.partition("=")
    if not sep or not key:
        raise ConfigError(f"--set {override!r}: expected KEY=VALUE, e.g. data.batch_size=32.")
    *parents, leaf = key.strip().split(".")
    node = raw
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {override!r}: '{part}' is not a section.")
        node = child
    node[leaf] = yaml.safe_load(text)


def config_from_dict(raw: dict[str, Any], source: str = "config") -> ExperimentConfig:
    try:
        return ExperimentConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_describe(error, raw, source)) from None


def _describe(error: ValidationError, raw: dict[str, Any], source: str) -> str:
    lines = [f"{source}: the config has {error.error_count()} problem(s):"]
    for item in error.errors():
        location = [str(part) for part in item["loc"]]
        field = ".".join(location) or "(top level)"
        if item["type"] == "extra_forbidden":
            lines.append(f"  - {field}: unknown key.{_did_you_mean(location)}")
        elif item["type"] == "missing":
            lines.append(f"  - {field}: required, but missing.")
        else:
            got = _value_at(raw, location)
            message = item["msg"].removeprefix("Value error, ")
            if not location and ": " in message:  # a cross-field check names its own field
                field, message = message.split(": ", 1)
                got = _MISSING
            suffix = f" Got {got!r}." if got is not _MISSING and "Got" not in message else ""
            lines.append(f"  - {field}: {message}.{suffix}".replace("..", "."))
    return "\n".join(lines)


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
