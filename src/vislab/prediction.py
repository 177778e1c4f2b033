"""Predictions tables: a model and a SampleTable in, one row per image out.

Columns: `id`, `path`, `label` (when known), `prediction`, one `score_<class>` column per class
(softmax probabilities), then every metadata column of the source. `vislab predict` loads a run
directory's model and preprocessing, so images are prepared exactly as in evaluation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from vislab.data.loaders import ImageDataset, make_loader
from vislab.data.sources import SampleTable
from vislab.data.transforms import eval_transform
from vislab.errors import InputError
from vislab.evaluation.classification import SCORE_PREFIX


@torch.inference_mode()
def predict_table(
    model: nn.Module,
    table: SampleTable,
    transform,
    batch_size: int = 64,
    num_workers: int = 0,
    device: str | torch.device = "cpu",
) -> pd.DataFrame:
    model = model.to(device).eval()
    loader = make_loader(ImageDataset(table, transform), batch_size, num_workers)
    chunks = []
    for images, _, _ in loader:
        chunks.append(torch.softmax(model(images.to(device)).float(), dim=1).cpu())
    probabilities = torch.cat(chunks).numpy() if chunks else np.zeros((0, len(table.classes)))
    return predictions_frame(table, probabilities)


def predictions_frame(table: SampleTable, probabilities: np.ndarray) -> pd.DataFrame:
    frame = table.frame
    out = pd.DataFrame({"id": frame["id"].to_numpy(), "path": frame["path"].to_numpy()})
    if "label" in frame.columns:
        out["label"] = frame["label"].to_numpy()
    out["prediction"] = [table.classes[k] for k in probabilities.argmax(axis=1)]
    scores = pd.DataFrame(
        probabilities, columns=[f"{SCORE_PREFIX}{name}" for name in table.classes]
    )
    metadata = frame.drop(columns=[c for c in ("id", "path", "label") if c in frame.columns])
    return pd.concat([out, scores, metadata.reset_index(drop=True)], axis=1)


def load_run_model(run_dir: str | Path):
    """The trained model, its preprocessing record and config, from a run directory."""
    from safetensors.torch import load_file

    from vislab.config import load_config
    from vislab.models.backbones import create_classifier
    from vislab.runs import read_json

    run_dir = Path(run_dir)
    weights = run_dir / "model.safetensors"
    if not weights.is_file():
        raise InputError(
            f"{run_dir}: no model.safetensors: is this a finished vislab run directory?"
        )
    config = load_config(run_dir / "config.yaml")
    preprocessing = read_json(run_dir / "preprocessing.json")
    model = create_classifier(
        config.model.backbone, len(preprocessing["classes"]), image_size=preprocessing["image_size"]
    )
    model.load_state_dict(load_file(str(weights)))
    return model.eval(), preprocessing, config


def predict_images(
    run_dir: str | Path, images: list[str | Path], batch_size: int = 64
) -> pd.DataFrame:
    """Predict image files (or folders of them) with a run's model and preprocessing."""
    from vislab.data.sources import _Files

    model, preprocessing, _ = load_run_model(run_dir)
    paths = _expand(images)
    frame = pd.DataFrame({"id": [str(p) for p in paths], "path": [str(p.resolve()) for p in paths]})
    table = SampleTable(frame, preprocessing["classes"], _Files(frame["path"].tolist()), "images")
    transform = eval_transform(
        preprocessing["image_size"], preprocessing["mean"], preprocessing["std"]
    )
    return predict_table(model, table, transform, batch_size=batch_size)


def _expand(images: list[str | Path]) -> list[Path]:
    from vislab.data.images import IMAGE_SUFFIXES, image_problem

    paths: list[Path] = []
    for item in map(Path, images):
        if item.is_dir():
            paths.extend(sorted(p for p in item.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES))
        else:
            paths.append(item)
    problems = [(p, image_problem(p)) for p in paths]
    bad = [f"  - {p}: {why}" for p, why in problems if why]
    if bad:
        raise InputError(f"{len(bad)} image(s) cannot be read:\n" + "\n".join(bad))
    if not paths:
        raise InputError("no images given (folders are searched for image files).")
    return paths
