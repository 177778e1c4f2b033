"""`vislab evaluate`: a predictions table in, metrics.json (DESIGN's shape) out.

Evaluation never needs the model: it reads a predictions file from vislab or any other tool.
`evaluate_run` is the step at the end of training: predict the held-out split, evaluate, report.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from vislab.errors import InputError, UsageError

TASKS = ("classification", "detection", "captioning", "video")


def check_task(task: str) -> None:
    if task not in TASKS:
        raise UsageError(f"unknown task '{task}'. Choose one of: {', '.join(TASKS)}.")
    if task not in ("classification", "detection", "captioning", "video"):
        raise UsageError(f"evaluation of '{task}' is not built yet (see the project's issues).")


def evaluate(
    task: str,
    predictions: str | Path | pd.DataFrame,
    references: str | Path | None = None,
    group_by: list[str] | tuple[str, ...] = (),
    bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    cluster: str | None = None,
    weight: str | None = None,
    interval: str = "percentile",
    metadata: str | Path | pd.DataFrame | None = None,
    bertscore_model: str | None = None,
    clip_model: str | None = None,
    images_folder: str | Path | None = None,
) -> dict:
    """Metrics with bootstrap intervals (and per group) for a predictions file or table.

    `cluster`: a column whose values are resampled whole (images of one person, photographer,
    event are not independent). `weight`: a column of sampling weights (inverse-probability
    weights from `vislab validation-sample`). `interval`: percentile or bca.
    """
    check_task(task)
    if task == "detection":
        from vislab.evaluation.detection_json import evaluate_detection

        if references is None:
            raise UsageError("detection needs --references instances.json (COCO ground truth).")
        return evaluate_detection(
            predictions, references, group_by, metadata, bootstrap, confidence, seed
        )
    if task == "captioning":
        from vislab.evaluation.captioning_json import evaluate_captioning

        if references is None:
            raise UsageError("captioning needs --references (COCO captions JSON or a CSV).")
        return evaluate_captioning(
            predictions, references, group_by, metadata, bootstrap, confidence, seed,
            bertscore_model, clip_model, images_folder,
        )  # fmt: skip
    if references is not None:
        raise UsageError(f"{task} predictions carry their labels: --references is not used.")
    source = "predictions" if isinstance(predictions, pd.DataFrame) else str(predictions)
    if not isinstance(predictions, pd.DataFrame):
        from vislab.data.sources import read_table

        predictions = read_table(predictions)
    if task == "video":
        from vislab.evaluation.video import evaluate_video

        return evaluate_video(predictions, group_by, bootstrap, confidence, seed, source)
    from vislab.evaluation.metrics_json import evaluate_classification

    return evaluate_classification(
        predictions, group_by, bootstrap, confidence, seed, source, cluster, weight, interval
    )


def evaluate_run(run_dir: str | Path, config=None, data=None, model=None) -> dict:
    """Predict a run's held-out split (if needed), then write metrics.json, tables and report."""
    from vislab.runs import write_atomic, write_json

    run_dir = Path(run_dir)
    if config is None and model is None:
        from vislab.config import load_config

        config = load_config(run_dir / "config.yaml")
        if config.task == "detection":
            from vislab.training_detection import reevaluate_detection_run

            return reevaluate_detection_run(run_dir, config)
        if config.task == "captioning":
            from vislab.training_captioning import reevaluate_captioning_run

            return reevaluate_captioning_run(run_dir, config)
    predictions_path = run_dir / "predictions.csv"
    if model is not None:
        predictions = _predict_held_out(config, data, model)
        write_atomic(predictions_path, predictions.to_csv(index=False))
    elif predictions_path.is_file():
        predictions = pd.read_csv(predictions_path)
    else:
        raise InputError(f"{run_dir}: no predictions.csv: is this a finished vislab run?")
    if config is None:
        from vislab.config import load_config

        config = load_config(run_dir / "config.yaml")
    settings = config.evaluate
    metrics = evaluate(
        config.task, predictions, group_by=settings.group_by, bootstrap=settings.bootstrap,
        confidence=settings.confidence, seed=settings.seed, cluster=settings.cluster,
        interval=settings.interval,
    )  # fmt: skip
    read_image = _image_reader(config, data)
    sections = {}
    gallery = _gallery(run_dir, config, predictions, read_image, model)
    if gallery:
        sections["What the model looked at"], metrics["explanations"] = gallery
    if settings.group_by:
        sections["Data audit of the evaluated images"] = _audit_section(
            predictions, settings.group_by
        )
    write_json(run_dir / "metrics.json", metrics)
    from vislab.report.html import write_run_report

    write_run_report(run_dir, metrics, predictions, read_image, sections)
    return metrics


def _gallery(run_dir: Path, config, predictions, read_image, model):
    """The explanation gallery and its faithfulness summary, or None when switched off."""
    method = config.evaluate.explain
    if method == "none" or read_image is None or not (run_dir / "model.safetensors").is_file():
        return None
    from vislab.prediction import load_run_model
    from vislab.report.gallery import gallery_section
    from vislab.runs import read_json

    preprocessing = read_json(run_dir / "preprocessing.json")
    if model is None:
        model, preprocessing, _ = load_run_model(run_dir)
    return gallery_section(model.cpu().eval(), preprocessing, predictions, read_image, method)


def _audit_section(predictions: pd.DataFrame, group_by) -> str:
    from vislab.evaluation.audit import audit
    from vislab.report.audit_page import audit_summary_html

    columns = sorted({column for spec in group_by for column in spec.split("*")})
    return audit_summary_html(audit(predictions, columns, source="evaluated split"))


def _image_reader(config, data):
    """id -> image, for the report's gallery; None when the source cannot be loaded here."""
    table = data.table if data is not None else None
    if table is None:
        try:
            from vislab.data.sources import load_source

            table = load_source(config.data)
        except Exception:  # the data moved or needs a network: the report says so
            return None
    positions = dict(zip(table.frame["id"], range(len(table)), strict=True))
    return lambda image_id: table.read(positions[image_id])


def _predict_held_out(config, data, model) -> pd.DataFrame:
    import torch

    from vislab.data.transforms import eval_transform
    from vislab.prediction import predict_table
    from vislab.training import evaluation_split

    split = evaluation_split(data)
    table = data.split(split)
    transform = eval_transform(config.data.image_size, data.mean, data.std)
    device = "cuda" if torch.cuda.is_available() and config.train.accelerator != "cpu" else "cpu"
    return predict_table(
        model, table, transform, config.data.batch_size, config.data.num_workers, device
    )
