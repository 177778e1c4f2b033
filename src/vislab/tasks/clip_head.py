"""What zero-shot coding and the linear probe share: CLIP's image encoder with a linear head.

The model is `models.clip.ClipClassifier`: the CLIP named by `model.backbone` (a
save_pretrained folder, a hub name, or open_clip:SPEC) and a head on its normalised image
embedding. Only the head is the run's own: model.safetensors holds the head, and the run
records which CLIP it sits on. Predictions, evaluation and the report are classification's;
images are prepared by the CLIP's own preprocessing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vislab.config import ExperimentConfig
from vislab.data.prepare import TaskData
from vislab.errors import InputError
from vislab.tasks.base import Run
from vislab.tasks.classification import ClassificationTask


class ClipHeadTask(ClassificationTask):
    """A classification variant whose model is CLIP's image encoder and a linear head."""

    names_its_models = False  # any CLIP source: a folder, a hub name, open_clip:SPEC

    def check_backbone(self, name: str) -> str | None:
        return (
            None
            if name
            else "give the CLIP: a save_pretrained folder, a hub name or open_clip:SPEC."
        )

    def check_config(self, config: ExperimentConfig) -> list:
        problems = []
        if config.data.source not in self.sources:
            problems.append(("data.source", self.source_problem(config.data.source)))
        if config.model.pretrained != "none":
            problems.append(
                (
                    "model.pretrained",
                    f"{self.name} uses the CLIP in model.backbone "
                    "with its own weights: leave pretrained at none.",
                )
            )
        return problems

    def prepare(self, config: ExperimentConfig) -> TaskData:
        from vislab.tasks.base import Task

        data = Task.prepare(self, config)
        data.table = data.table.present_classes()
        return data

    def preprocessing(self, config: ExperimentConfig, data: TaskData) -> dict:
        return {"classes": data.classes, "model": config.model.backbone}

    def clip(self, config: ExperimentConfig):
        from vislab.models.clip import load_clip

        return load_clip(config.model.backbone)

    def save_model(self, run_dir: Path, model, config: ExperimentConfig) -> None:
        """The head's weights (the CLIP is the one model.backbone names)."""
        from vislab.runs import write_weights

        write_weights(run_dir / "model.safetensors", model.head)

    def load_run(self, run_dir: Path) -> Run:
        from vislab.files import read_safetensors
        from vislab.models.clip import ClipClassifier
        from vislab.tasks.base import read_run

        run = read_run(run_dir)
        weights = run.directory / "model.safetensors"
        if not weights.is_file():
            raise InputError(f"{run_dir}: no model.safetensors: is this a finished vislab run?")
        head = read_safetensors(weights)
        model = ClipClassifier(self.clip(run.config), head["weight"].numpy(), head["bias"].numpy())
        run.model = model.eval()
        return run

    def prediction_loader(self, run: Run, table):
        from vislab.data.loaders import ImageDataset, make_loader
        from vislab.models.clip import pixel_transform

        settings = run.config.data
        dataset = ImageDataset(table, pixel_transform(run.model.clip))
        return make_loader(dataset, settings.batch_size, settings.num_workers)

    def prediction_job(self, run: Run, full_decode: bool = False):
        """The collection engine's job: CLIP's own preprocessing, every image decoded whole."""
        from vislab.models.clip import pixel_transform
        from vislab.tasks.jobs import ImageJob, ImageReader

        reader = ImageReader(pixel_transform(run.model.clip))
        train = run.config.train
        module = self.prediction_module(run)
        return ImageJob(module, run.classes, reader, train.precision, train.accelerator)

    def explain_inputs(self, run: Run, images: list) -> tuple:
        """CLIP's inputs, and the same pixels with its normalisation undone, for display."""
        import torch

        from vislab.models.clip import pixel_normalization, pixel_transform

        transform = pixel_transform(run.model.clip)
        inputs = torch.stack([transform(image) for image in images])
        mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in pixel_normalization(run.model.clip))
        shown = (inputs * std + mean).clamp(0, 1).permute(0, 2, 3, 1).numpy()
        return inputs, list(shown)


def head_weights(
    coefficients: np.ndarray, intercepts: np.ndarray, fitted: np.ndarray, classes: int
):
    """A logistic regression's coefficients as a head over every class: a class the regression
    never saw gets a bias so low that its probability is 0; a binary regression's single row
    becomes [0, w] (softmax over [0, z] is its sigmoid)."""
    if coefficients.shape[0] == 1 and len(fitted) == 2:
        coefficients = np.vstack([np.zeros_like(coefficients), coefficients])
        intercepts = np.concatenate([[0.0], intercepts])
    weight = np.zeros((classes, coefficients.shape[1]))
    bias = np.full(classes, -1e4)
    weight[fitted], bias[fitted] = coefficients, intercepts
    return weight, bias


def class_probabilities(model, table, batch_size: int = 32) -> np.ndarray:
    """(n, K) softmax scores of a ClipClassifier for every image of a table, in batches."""
    import torch

    from vislab.models.clip import pixel_transform

    transform, parts = pixel_transform(model.clip), []
    with torch.inference_mode():
        for start in range(0, len(table), batch_size):
            rows = range(start, min(start + batch_size, len(table)))
            pixels = torch.stack([transform(table.read(i)) for i in rows])
            parts.append(torch.softmax(model(pixels).float(), dim=1).numpy())
    return np.concatenate(parts) if parts else np.zeros((0, model.head.out_features))
