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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported when a verb is first called, not on `import vislab`
    import pandas as pd

    from vislab.config import ExperimentConfig

__version__ = "0.1.0"
__all__ = ["estimate", "evaluate", "explain", "load_config", "predict", "train"]


def train(
    config: Any,
    overrides: list[str] | tuple[str, ...] = (),
    resume: str | Path | None = None,
    progress: bool = True,
) -> Path:
    """Train a model from a config, as `vislab train` does, into a new run directory.

    Args:
        config: a YAML config's path, or a config `load_config` returned.
        overrides: `key=value` settings that replace the config's (`["train.epochs=3"]`).
        resume: a run directory to continue from its last checkpoint.
        progress: show progress (a bar on a terminal, a line now and then in a log).

    Returns:
        The run directory: config, provenance, weights, predictions on the held-out split,
            metrics.json and report.html.

    Examples:
        >>> quick = ["model.backbone=test_resnet", "data.in_memory=true", "train.epochs=2"]
        >>> run_dir = vislab.train("examples/digits-manifest.yaml", quick, progress=False)
        >>> run_dir.name, (run_dir / "report.html").is_file()
        ('digits-manifest', True)
    """
    from vislab.training import train as run_training

    return run_training(config, overrides, resume=resume, progress=progress)


def predict(
    run_dir: str | Path,
    images: list[str | Path],
    batch_size: int | None = None,
    out: str | Path | None = None,
    resume: bool = False,
) -> pd.DataFrame:
    """A run's predictions for image (or video) files and folders, as `vislab predict` makes
    them; with `out`, for any source `vislab predict` takes, written to `out` as it writes them.

    Args:
        run_dir: a run directory `train` wrote.
        images: image (or video) files and folders; with `out` also a manifest, tar shards or
            a hub dataset (`hf:NAME`).
        batch_size: images per batch (default: the run's).
        out: a new predictions file (.csv, .parquet, .dta) or folder of Parquet shards: the
            collection engine's job (sharded, resumable, an unreadable image skipped and
            listed with its reason). Without it, the predictions are held in memory and an
            unreadable file stops the call before any work.
        resume: with `out`, finish an unfinished job from its last shard.

    Returns:
        The predictions table (a DataFrame): `id`, `path`, `prediction`, a `score_<class>` column
            per class; one row per image (per box for a detector, per window for video). With
            `out`, the source's columns too (a manifest's `label` as text, as `prediction`).

    Examples:
        >>> table = vislab.predict(run_dir, ["digits/images/3"])
        >>> len(table), list(table.columns[:4])
        (183, ['id', 'path', 'prediction', 'score_0'])
        >>> whole = vislab.predict(run_dir, ["digits/manifest.csv"], out="digits.csv")
        >>> both = table.merge(whole, left_on="id", right_on="path", suffixes=("", "_whole"))
        >>> len(whole), len(both), bool((both["prediction"] == both["prediction_whole"]).all())
        (1797, 183, True)
        >>> whole["label"].iloc[0]  # the manifest's 0: a class's name, as the prediction is
        '0'
    """
    if out is not None:
        from vislab.prediction import predict_into

        return predict_into(run_dir, images, out, batch_size, resume)[0]
    from vislab.prediction import predict as run_prediction

    return run_prediction(run_dir, images, batch_size)[0]


def explain(
    run_dir: str | Path,
    images: list[str | Path],
    method: str = "gradcam",
    target: str = "predicted",
    out: str | Path = "explanations",
) -> pd.DataFrame:
    """Maps of what a run's model looked at, as `vislab explain` draws them.

    Args:
        run_dir: a run directory `train` wrote.
        images: image files and folders.
        method: `gradcam`, `gradcam++`, `scorecam`, `eigencam` or, for a ViT, `attention`.
        target: the class explained: `predicted`, `true` (the label), or a class's name.
        out: a new folder for the overlays, explanations.csv and explanations.html.

    Returns:
        explanations.csv as a DataFrame: per image its overlay, the class explained, the
            prediction, its probability and the map's faithfulness (ROAD, beside a random map's).

    Examples:
        >>> maps = vislab.explain(run_dir, ["digits/images/3/0003.png"], out="maps")
        >>> list(maps.columns[:4])
        ['image', 'overlay', 'target', 'prediction']
    """
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
    """Metrics with bootstrap intervals, overall and per group, as `vislab evaluate` computes
    them.

    Args:
        task: `classification`, `detection`, `captioning` or `video`.
        predictions: a predictions file (or, for classification and video, a DataFrame).
        references: the ground truth where it is not in the predictions (COCO files).
        group_by: columns to break every metric down by.
        bootstrap: resamples for the intervals (0: none).
        confidence: the intervals' level.
        seed: the resampling seed; the same seed gives the same intervals.
        **options: `cluster`, `weights`, `interval`, `metadata`, `bertscore_model`,
            `clip_model`, `images`, `sample`, `label_column`, as `vislab evaluate` takes them.

    Returns:
        metrics.json's content: `n`, `metrics` (each `{"value", "ci"}`), `groups`,
            `disparities` and the bootstrap's settings.

    Examples:
        >>> metrics = vislab.evaluate(
        ...     "classification", run_dir / "predictions.csv", group_by=["stroke"], bootstrap=200
        ... )
        >>> metrics["n"], sorted(metrics["groups"]["stroke"])
        (359, ['heavy', 'light'])
        >>> low, high = metrics["metrics"]["accuracy"]["ci"]
        >>> low <= metrics["metrics"]["accuracy"]["value"] <= high
        True
    """
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


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> ExperimentConfig:
    """Read a YAML config and check it, with `key=value` overrides, as `vislab train` does.

    Args:
        path: the config file.
        overrides: `key=value` settings (the value read as YAML).

    Returns:
        The checked config (`ExperimentConfig`); every problem is reported at once, naming the
            field.

    Examples:
        >>> config = vislab.load_config("examples/digits-manifest.yaml", ["train.epochs=2"])
        >>> config.task, config.model.backbone, config.train.epochs
        ('classification', 'resnet10t', 2)
    """
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
    """The share of every class in the collection, corrected for the model's errors with a
    coded sample, as `vislab estimate` computes it.

    Args:
        predictions: the whole collection's predictions (file or DataFrame): `id`,
            `prediction`, metadata for `by`.
        coded: the coded sample: a file or DataFrame with `id` (or the sheet's `item`) and the
            coders' columns, or a list of every coder's.
        label_column: the coder column taken as the truth.
        sample: the folder `validation-sample` wrote (its strata and weights); without it the
            coded images are taken as a simple random sample.
        by: columns to estimate every share by group, with the differences between groups.
        formula: a regression (`"police ~ region"`) whose outcome or terms are classes.
        confidence: the intervals' level.
        seed: the seed of any resampling.
        regression: `linear` or `logistic`.

    Returns:
        estimates.json's content: per class `corrected`, `naive` and `coded_only`, each with
            its value and interval, per group and with their differences.

    Examples:
        >>> import pandas as pd
        >>> collection = pd.DataFrame({"id": range(10), "prediction": ["cat"] * 6 + ["dog"] * 4})
        >>> coded = pd.DataFrame({"id": [0, 1, 6, 7], "A": ["cat", "dog", "dog", "dog"]})
        >>> result = vislab.estimate(collection, coded, "A")
        >>> result["prevalence"]["cat"]["naive"]["value"]
        0.6
        >>> result["n_collection"], result["n_coded"], result["design"]
        (10, 4, 'simple random')
    """
    from vislab.estimation.estimate import estimate as run_estimate

    return run_estimate(
        predictions, coded, label_column, sample, by, formula, confidence, seed, regression
    )
