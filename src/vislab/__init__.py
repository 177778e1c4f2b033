"""vislab: a research workflow for image deep learning (data -> model -> evaluation).

The Python API has the same verbs as the command line, over the same config::

    import vislab
    run_dir = vislab.train("digits-manifest.yaml", overrides=["train.epochs=3"])
    table = vislab.predict(run_dir, ["digits/images/3"])          # a pandas DataFrame
    metrics = vislab.evaluate("classification", table_or_csv, group_by=["stroke"])

Heavy libraries are imported when a verb is first called, not on `import vislab`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__version__ = "0.1.0"
__all__ = ["estimate", "evaluate", "explain", "load_config", "predict", "train"]


def train(
    config: Any,
    overrides: list[str] | tuple[str, ...] = (),
    resume: str | Path | None = None,
    progress: bool = True,
) -> Path:
    """Train from a config (path, or ExperimentConfig); return the new run directory."""
    from vislab.training import train as run_training

    return run_training(config, overrides, resume=resume, progress=progress)


def predict(run_dir: str | Path, images: list[str | Path], batch_size: int | None = None):
    """A run's predictions for image (or video) files or folders: a DataFrame (for detection
    runs one row per box)."""
    from vislab.prediction import predict as run_prediction

    return run_prediction(run_dir, images, batch_size)[0]


def explain(
    run_dir: str | Path,
    images: list[str | Path],
    method: str = "gradcam",
    target: str = "predicted",
    out: str | Path = "explanations",
):
    """Maps of what a run's model looked at, written to `out`; a table of what was written."""
    from vislab.prediction import explain as run_explain

    return run_explain(run_dir, images, method, target, out)


def evaluate(
    task: str,
    predictions: Any,
    references: str | Path | None = None,
    group_by: list[str] | tuple[str, ...] = (),
    bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    **options: Any,
) -> dict:
    """metrics.json's content for a predictions file (or DataFrame, for classification and
    video). `options`: cluster, weights, interval, metadata, bertscore_model, clip_model,
    images, sample, label_column — as `vislab evaluate` takes them."""
    from vislab.tasks import get_task
    from vislab.tasks.base import EvaluateOptions

    chosen = get_task(task)
    settings = EvaluateOptions(
        references=references,
        group_by=tuple(group_by),
        bootstrap=bootstrap,
        confidence=confidence,
        seed=seed,
        **options,
    )
    chosen.check_evaluate_options(settings)
    return chosen.evaluate_files(predictions, settings)


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()):
    """Read and validate a YAML config (with `key=value` overrides)."""
    from vislab.tasks import load_config as load

    return load(path, overrides)


def estimate(
    predictions: Any,
    coded: Any,
    label_column: str,
    sample: str | Path | None = None,
    by: list[str] | tuple[str, ...] = (),
    formula: str | None = None,
    confidence: float = 0.95,
    seed: int = 0,
    regression: str = "linear",
) -> dict:
    """estimates.json's content: the prevalence of every class in the collection, overall and
    per group of each `by` column, and with `formula` a regression ("linear" or "logistic"),
    corrected with the coded sample (`coded`: one file or DataFrame, or a list of every
    coder's)."""
    from vislab.estimation.estimate import estimate as run_estimate

    return run_estimate(
        predictions, coded, label_column, sample, by, formula, confidence, seed, regression
    )
