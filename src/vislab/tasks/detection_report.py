"""The detection run's evaluation, report and `vislab explain`: the steps that read a run.

`evaluate_detection_run` reads the run's predictions.json, references.json and images.csv —
nothing else — so evaluating at the end of training and `vislab evaluate RUN_DIR` later give
the same metrics.json and report.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from PIL import Image

from vislab.errors import InputError
from vislab.tasks.base import Run


def evaluate_detection_run(task, run_dir: Path) -> dict:
    """metrics.json and report.html of a detection run, from its saved files."""
    from vislab.evaluation.detection import check_results, detection_metrics_json, load_references
    from vislab.evaluation.detection_arrays import category_name
    from vislab.files import read_json, read_table, write_json
    from vislab.report.detection_page import (
        SCORE_THRESHOLD,
        lowest_recall_gallery,
        precision_recall_png,
        write_detection_report,
    )
    from vislab.tasks.base import read_run

    config = read_run(run_dir).config
    predictions = run_dir / task.predictions_file
    if not predictions.is_file():
        raise InputError(
            f"{run_dir}: no {task.predictions_file}: is this a finished detection run?"
        )
    truth = load_references(run_dir / "references.json")
    results = check_results(read_json(predictions, "predictions"), truth, str(predictions))
    images = read_table(run_dir / "images.csv")
    settings = config.evaluate
    metrics, evaluator = detection_metrics_json(
        truth,
        results,
        settings.group_by,
        images,
        settings.bootstrap,
        settings.confidence,
        settings.seed,
    )
    write_json(run_dir / "metrics.json", metrics)
    matching = evaluator.matching
    named = {c["id"]: category_name(c) for c in truth["categories"]}
    names = [named[category] for category in matching.categories]
    ordered = images.set_index("image_id").loc[matching.image_ids].reset_index()

    def curves() -> bytes:
        return precision_recall_png(matching.curves(0.5), matching.levels, names)

    def gallery() -> bytes:
        return lowest_recall_gallery(
            ordered,
            _boxes(truth["annotations"], truth),
            _boxes(results, truth),
            matching.image_recall(SCORE_THRESHOLD),
        )

    write_detection_report(run_dir, metrics, curves, gallery if len(ordered) else None)
    return metrics


def _boxes(items: list[dict], truth: dict) -> pd.DataFrame:
    """COCO annotations or results as a table: image_id, class name, box corners, score."""
    from vislab.evaluation.detection_arrays import category_name

    names = {c["id"]: category_name(c) for c in truth["categories"]}
    rows = []
    for item in items:
        x, y, w, h = item["bbox"]
        rows.append(
            {
                "image_id": item["image_id"],
                "label": names[item["category_id"]],
                "x1": x,
                "y1": y,
                "x2": x + w,
                "y2": y + h,
                "score": item.get("score", 1.0),
            }
        )
    columns = ["image_id", "label", "x1", "y1", "x2", "y2", "score"]
    return pd.DataFrame(rows, columns=columns)


def explain_detections(run: Run, paths: list[Path], method: str, out: Path) -> pd.DataFrame:
    """`vislab explain` for a detector: EigenCAM overlays with the predicted boxes drawn."""
    from vislab.data.images import read_image
    from vislab.explanation.detection import explain_detections as explain_image
    from vislab.files import write_atomic
    from vislab.report.gallery import write_detection_explanations_page

    if method != "eigencam":
        raise InputError(
            f"--method {method}: detectors are explained with --method eigencam (gradient-free; "
            "the gradient-based maps need a single target score)."
        )
    out.mkdir(parents=True, exist_ok=True)
    rows, overlays = [], []
    for index, path in enumerate(paths):
        shown, names = explain_image(run.model, read_image(path), run.classes)
        name = f"{index:04d}_{path.stem}_{method}.png"
        Image.fromarray(shown).save(out / name)
        overlays.append(shown)
        rows.append(
            {
                "image": str(path),
                "overlay": name,
                "detections": len(names),
                "boxes": "; ".join(names),
            }
        )
    table = pd.DataFrame(rows)
    write_atomic(out / "explanations.csv", table.to_csv(index=False))
    write_detection_explanations_page(table, overlays, method, out)
    table.attrs["summary"] = [
        f"{r.image}: {r.detections} boxes {r.boxes}" for r in table.head(10).itertuples()
    ]
    return table
