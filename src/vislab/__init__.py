"""vislab: a research workflow for image deep learning (data -> model -> evaluation).

The Python API has the same verbs as the command line, over the same config::

    import vislab
    run_dir = vislab.train("examples/digits-manifest.yaml", overrides=["train.epochs=3"])
    table = vislab.predict(run_dir, ["digits/images/3"])          # a pandas DataFrame
    metrics = vislab.evaluate("classification", table_or_csv, group_by=["stroke"])

Heavy libraries are imported when a verb is first called, not on `import vislab`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__version__ = "0.1.0"
__all__ = ["evaluate", "load_config", "predict", "train"]


def train(config: Any, overrides: list[str] | tuple[str, ...] = (), resume: str | Path | None = None,
          progress: bool = True) -> Path:  # fmt: skip
    """Train from a config (path, or ExperimentConfig); return the new run directory."""
    from vislab.training import train as run_training

    return run_training(config, overrides, resume=resume, progress=progress)


def predict(run_dir: str | Path, images: list[str | Path], batch_size: int = 64):
    """Predict image files or folders with a run's model; a predictions DataFrame."""
    from vislab.prediction import predict_images

    return predict_images(run_dir, images, batch_size=batch_size)


def evaluate(task: str, predictions: Any, references: str | Path | None = None,
             group_by: list[str] | tuple[str, ...] = (), bootstrap: int = 1000,
             confidence: float = 0.95, seed: int = 0, cluster: str | None = None,
             weight: str | None = None, interval: str = "percentile") -> dict:  # fmt: skip
    """metrics.json's content for a predictions file or DataFrame (see vislab.evaluation)."""
    from vislab.evaluation.evaluate import evaluate as run_evaluation

    return run_evaluation(
        task,
        predictions,
        references,
        group_by,
        bootstrap,
        confidence,
        seed,
        cluster,
        weight,
        interval,
    )


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()):
    """Read and validate a YAML config (with `key=value` overrides)."""
    from vislab.config import load_config as load

    return load(path, overrides)
