"""The Task interface: the few steps every task implements, and what they share.

A task (classification, detection, captioning, video, zero-shot, linear probe; YOLO as a
variant of detection) is a subclass of `Task`, registered in `tasks/__init__.py`. The verbs —
`vislab train`, `predict`, `explain`, `evaluate RUN_DIR` — call these steps and nothing
task-specific, so a new task is one module here and one line in the registry.

| step | methods | default |
| --- | --- | --- |
| 1. check its part of the config | `check_backbone`, `check_config` | sources, augmentations |
| 2. prepare data | `load_source`, `inspect`, `prepare`, `preprocessing` | decode every image |
| 3. model and training | `build_model`, `build_module`, `train_loaders`, `fit` | Lightning |
| 4. predict a collection | `prediction_job` (the engine's `Job`), module's `predict_rows` | |
| 4'. predict in memory | `prediction_loader`, `predictions` (held-out split, Python API) | |
| 5. load a finished run | `load_run` | build + model.safetensors |
| 6. evaluate a predictions table | `evaluate_run`, `evaluate_files` | |
| 7. write its report page | inside `evaluate_run` | |
| explain | `explain` | not available |
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from vislab.config import DataConfig, ExperimentConfig, Problem
from vislab.data.augment import PRESETS, unknown_for
from vislab.data.images import set_pixel_limit
from vislab.data.prepare import TaskData, prepare_items
from vislab.data.table import Table
from vislab.errors import InputError, UsageError
from vislab.files import read_json


@dataclass
class Run:
    """A run: its folder, resolved config, preprocessing record and (once trained) model."""

    directory: Path
    config: ExperimentConfig
    preprocessing: dict
    model: Any = None  # nn.Module

    @property
    def classes(self) -> list[str]:
        return list(self.preprocessing.get("classes", []))


@dataclass
class EvaluateOptions:
    """`vislab evaluate TASK` options; each task says which it takes (`evaluate_options`)."""

    references: Path | None = None
    group_by: tuple[str, ...] = ()
    bootstrap: int = 1000
    confidence: float = 0.95
    seed: int = 0
    cluster: str | None = None
    weights: str | None = None
    interval: str = "percentile"
    metadata: Path | None = None
    bertscore_model: str | None = None
    clip_model: str | None = None
    images: Path | None = None
    sample: Path | None = None  # a validation-sample folder (weights and the model's outputs)
    label_column: str | None = None  # the column holding the true label (a coder's)
    classes: tuple[str, ...] = ()  # every class, when no score columns list them
    normalize_scores: bool = False  # divide each row's scores by their sum
    strata: str | None = None  # a stratified sample's strata column (set with `sample`)


class Task:
    """One task's steps (see the module's table). Subclasses set the class attributes and
    implement the steps without a default."""

    name: ClassVar[str] = ""
    sources: ClassVar[tuple[str, ...]] = ()  # the data.source values it reads
    models: ClassVar[str] = ""  # what model.backbone can be, in words, for messages
    predictions_file: ClassVar[str] = "predictions.csv"
    monitor: ClassVar[tuple[str, str]] = ("val_loss", "min")
    evaluate_options: ClassVar[frozenset[str]] = frozenset()  # beyond group_by and bootstrap
    needs_training_split: ClassVar[bool] = True
    variant_of: ClassVar[str | None] = None  # a variant: chosen when `matches(config)`
    names_its_models: ClassVar[bool] = True  # its backbone check knows its models by name

    def matches(self, config: ExperimentConfig) -> bool:
        return False

    def matches_backbone(self, name: str) -> bool:
        return False

    # 1. config ---------------------------------------------------------------------------------

    def check_backbone(self, name: str) -> str | None:
        """Why `model.backbone` cannot be used for this task, or None."""
        return None

    def check_config(self, config: ExperimentConfig) -> list[Problem]:
        """Problems of the config for this task (the schema is already valid)."""
        problems = []
        if config.data.source not in self.sources:
            problems.append(("data.source", self.source_problem(config.data.source)))
        preset = PRESETS.get(self.name, ())
        wrong = unknown_for(self.name, config.data.augment) if preset else config.data.augment
        if wrong:
            choices = ", ".join(preset) if preset else "none (use [])"
            problems.append(
                ("data.augment", f"{wrong} cannot be used for {self.name}; choose from {choices}.")
            )
        return problems

    def source_problem(self, source: str) -> str:
        from vislab.tasks.registry import tasks_reading

        others = [name for name in tasks_reading(source) if name != self.name]
        hint = ""
        if len(others) == 1:
            hint = f" '{source}' is read by {others[0]}: set task: {others[0]}."
        elif others:
            hint = f" '{source}' is read by {' and '.join(others)}: set task to the one it is for."
        return f"{self.name} reads {', '.join(self.sources)}.{hint}"

    # 2. data -----------------------------------------------------------------------------------

    def load_source(self, data: DataConfig) -> Table:
        raise NotImplementedError

    def inspect(self, table: Table) -> tuple[Table, list[str | None], list[str | None]]:
        """Each item's problem (None if usable) and content digest: every image is decoded."""
        from vislab.data.check import scan

        result = scan(table)
        return table, result.problems, result.digests

    def stratify(self, table: Table) -> pd.Series | None:
        """The labels splits are stratified by (None: the label column)."""
        return None

    def prepare(self, config: ExperimentConfig) -> TaskData:
        table, problems, digests = self.inspect(self.load_source(config.data))
        stratify = self.stratify(table)
        return prepare_items(
            table, problems, digests, config.data, stratify, self.needs_training_split
        )

    def preprocessing(self, config: ExperimentConfig, data: TaskData) -> dict:
        """What predicting new items needs besides the model (preprocessing.json)."""
        return {"classes": data.classes, "image_size": config.data.image_size}

    def record(self, run_dir: Path, config: ExperimentConfig, data: TaskData) -> None:
        """The run's provenance (`runs.record_run`), with what this task adds to it."""
        from vislab.runs import record_run

        record_run(run_dir, config, data, self.preprocessing(config, data))

    # 3. model and training ---------------------------------------------------------------------

    def build_model(self, config: ExperimentConfig, classes: list[str]):
        raise NotImplementedError

    def build_module(self, config: ExperimentConfig, classes: list[str], model, data=None):
        raise NotImplementedError

    def train_loaders(self, config: ExperimentConfig, data: TaskData) -> list:
        raise NotImplementedError

    def fit(self, config, data: TaskData, run_dir: Path, progress: bool, checkpoint=None):
        """Train with Lightning; returns `fitting.Fitted` (the trainer predicts the held-out)."""
        from vislab.tasks.fitting import fit

        model = self.build_model(config, data.classes)
        module = self.build_module(config, data.classes, model, data)
        loaders = self.train_loaders(config, data)
        return fit(module, loaders, config, run_dir, progress, self.monitor, checkpoint)

    def save_model(self, run_dir: Path, model, config: ExperimentConfig) -> None:
        """model.safetensors (and what rebuilds the architecture offline)."""
        from vislab.runs import write_weights

        write_weights(run_dir / "model.safetensors", model)

    # 4. predictions ----------------------------------------------------------------------------

    def item_suffixes(self) -> set[str]:
        """The file suffixes this task predicts (folders are searched for them)."""
        from vislab.data.images import IMAGE_SUFFIXES

        return set(IMAGE_SUFFIXES)

    def item_problem(self, path: Path) -> str | None:
        """Why a file cannot be predicted, or None."""
        from vislab.data.images import image_problem

        return image_problem(path)

    def items(self, paths: list[Path]) -> Table:
        """New items to predict, from files (images; videos for video runs)."""
        from vislab.data.table import SampleTable

        frame = pd.DataFrame(
            {"id": [str(p) for p in paths], "path": [str(p.resolve()) for p in paths]}
        )
        return SampleTable(frame, [], "images")

    def prediction_job(self, run: Run, full_decode: bool = False):
        """The collection engine's job for this run (`engine/loop.Job`): how one file is read,
        a batch made, and a shard's rows made into its table."""
        raise NotImplementedError

    def prediction_loader(self, run: Run, table: Table):
        raise NotImplementedError

    def prediction_module(self, run: Run):
        return self.build_module(run.config, run.classes, run.model)

    def predictions(self, rows: pd.DataFrame, table: Table, run: Run):
        """The task's predictions (a table, or COCO results) from the rows of every batch."""
        raise NotImplementedError

    def write_predictions(self, path: Path, predictions, table: Table) -> None:
        from vislab.files import write_table

        write_table(path, predictions)

    # 5. a finished run -------------------------------------------------------------------------

    def load_run(self, run_dir: Path) -> Run:
        """The run's config, preprocessing and trained model (weights from model.safetensors)."""
        from vislab.files import read_safetensors

        run = read_run(run_dir)
        weights = run.directory / "model.safetensors"
        if not weights.is_file():
            raise InputError(f"{run_dir}: no model.safetensors: is this a finished vislab run?")
        model = self.build_model(run.config, run.classes, pretrained=False)
        model.load_state_dict(read_safetensors(weights))
        run.model = model.eval()
        return run

    # 6. evaluation and report ------------------------------------------------------------------

    def evaluate_run(self, run_dir: Path) -> dict:
        """metrics.json and report.html of a run, from its saved predictions."""
        raise NotImplementedError

    def evaluate_files(self, predictions: Path, options: EvaluateOptions) -> dict:
        """`vislab evaluate TASK --predictions FILE ...`: metrics.json's content."""
        raise NotImplementedError

    def check_evaluate_options(self, options: EvaluateOptions) -> None:
        from dataclasses import fields

        defaults = EvaluateOptions()
        shared = {"group_by", "bootstrap", "confidence", "seed"}
        used = [
            field.name
            for field in fields(EvaluateOptions)
            if field.name not in shared
            and getattr(options, field.name) != getattr(defaults, field.name)
        ]
        wrong = [name for name in used if name not in self.evaluate_options]
        if wrong:
            flags = ", ".join("--" + name.replace("_", "-") for name in wrong)
            raise UsageError(f"evaluate {self.name}: {flags} cannot be used for this task.")

    def preview(self, config: ExperimentConfig, count: int = 24) -> bytes:
        """`vislab data preview`: a PNG grid of training items as the model will see them."""
        import numpy as np

        from vislab.report.plots import image_grid_png

        table = self.load_source(config.data)
        rng = np.random.default_rng(config.train.seed)
        picks = rng.choice(len(table), size=min(count, len(table)), replace=False)
        images, captions = zip(
            *(self.preview_item(config, table, int(p)) for p in picks), strict=True
        )
        return image_grid_png(list(images), list(captions))

    def preview_item(self, config: ExperimentConfig, table: Table, position: int):
        """(image, caption) of one augmented training item."""
        raise UsageError(f"vislab data preview is not available for {self.name}.")

    def summarize_predictions(self, predictions, count: int = 10) -> list[str]:
        """What `vislab predict` prints: the first predictions and the count per class."""
        from vislab.predictions import score_column

        lines = []
        for row in predictions.head(count).itertuples():
            score = getattr(row, score_column(row.prediction), float("nan"))
            lines.append(f"{row.id}: {row.prediction} ({score:.3f})")
        if len(predictions) > count:
            lines.append(f"... {len(predictions) - count} more")
        counts = predictions["prediction"].value_counts()
        lines.append(
            "predicted: " + ", ".join(f"{name} {number}" for name, number in counts.items())
        )
        return lines

    # explanations ------------------------------------------------------------------------------

    def explain(self, run: Run, paths: list[Path], method: str, target: str, out: Path):
        raise UsageError(f"vislab explain is not available for {self.name} runs.")


def read_run(run_dir: str | Path) -> Run:
    """A run folder's config and preprocessing record (no model)."""
    from vislab.tasks.registry import load_config

    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise InputError(f"{run_dir}: no config.yaml: is this a vislab run directory?")
    preprocessing = run_dir / "preprocessing.json"
    record = read_json(preprocessing, "preprocessing") if preprocessing.is_file() else {}
    config = load_config(run_dir / "config.yaml")
    set_pixel_limit(config.data.max_image_pixels)
    return Run(run_dir, config, record)
