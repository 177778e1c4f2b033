"""The classification run's report and `vislab explain`: the steps that need the run's model.

The report's explanation gallery explains each class's most confident correct image and the
most confident errors with the run's model (`explain.images`), then the report layer draws it;
`vislab explain` writes an overlay per image, explanations.csv and explanations.html.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from PIL import Image

from vislab.config import ExperimentConfig
from vislab.errors import InputError
from vislab.files import files_of, read_table
from vislab.progress import Progress
from vislab.tasks.base import Run


def write_classification_report(task, run: Run, metrics: dict, predictions: pd.DataFrame) -> Path:
    """report.html of a classification run (explanations summary added to `metrics`); `task`
    prepares the model's inputs (`explain_inputs`)."""
    from vislab.report.html import write_run_report

    read_image = image_reader(run.config, predictions)
    sections = {}
    gallery = _gallery(task, run, predictions, read_image)
    if gallery:
        sections["What the model looked at"], metrics["explanations"] = gallery
    group_by = run.config.evaluate.group_by
    if group_by:
        sections["Data audit of the evaluated images"] = _audit_section(predictions, group_by)
    return write_run_report(run.directory, metrics, predictions, read_image, sections)


def _gallery(task, run: Run, predictions: pd.DataFrame, read_image):
    """The explanation gallery and its faithfulness summary, or None when switched off."""
    from vislab.explanation.images import explain_batch
    from vislab.report.gallery import gallery_section, pick_examples

    method = run.config.evaluate.explain
    if method == "none" or read_image is None or run.model is None:
        return None
    chosen = pick_examples(predictions)
    if chosen.empty:
        return gallery_section(chosen, {}, method)
    images = [read_image(image_id) for image_id in chosen["id"]]
    inputs, shown = task.explain_inputs(run, images)
    explained = explain_batch(run.model, inputs, shown, run.classes, method)
    return gallery_section(chosen, explained, method)


def _audit_section(predictions: pd.DataFrame, group_by) -> str:
    from vislab.evaluation.audit import audit
    from vislab.report.audit_page import audit_summary_html

    columns = sorted({column for spec in group_by for column in spec.split("*")})
    return audit_summary_html(audit(predictions, columns, source="evaluated split"))


EXPLAIN_CHUNK = 16  # images explained at a time: memory stays flat, progress moves


def explain_images(
    task, run: Run, paths: list[Path], method: str, target: str, out: Path
) -> pd.DataFrame:
    """`vislab explain` for a classifier: an overlay per image, explanations.csv and .html."""
    from vislab.data.images import read_image
    from vislab.explanation.images import explain_batch
    from vislab.files import write_atomic
    from vislab.report.gallery import write_explanations_page

    labels = known_labels(run, paths)
    inputs, shown = task.explain_inputs(run, [read_image(p) for p in paths])
    parts = []
    with Progress(len(paths), "explain", "images") as progress:
        for start in range(0, len(paths), EXPLAIN_CHUNK):
            part = slice(start, start + EXPLAIN_CHUNK)
            parts.append(
                explain_batch(
                    run.model, inputs[part], shown[part], run.classes, method, target, labels[part]
                )
            )
            progress.advance(len(shown[part]))
    result = {key: [value for p in parts for value in p[key]] for key in parts[0]}
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, path in enumerate(paths):
        name = f"{i:04d}_{path.stem}_{method}.png"
        Image.fromarray(result["overlays"][i]).save(out / name)
        probabilities = result["probabilities"][i]
        rows.append(
            {
                "image": str(path),
                "overlay": name,
                "target": run.classes[result["targets"][i]],
                "prediction": run.classes[int(probabilities.argmax())],
                "probability": float(probabilities.max()),
                "road": float(result["road"][i]),
                "road_random_map": float(result["road_random"][i]),
            }
        )
    table = pd.DataFrame(rows)
    write_atomic(out / "explanations.csv", table.to_csv(index=False))
    write_explanations_page(table, result["overlays"], method, out)
    lines = [
        f"{r.image}: {r.target} (p={r.probability:.3f}) ROAD {r.road:+.3f}"
        for r in table.head(10).itertuples()
    ]
    lines.append(
        f"mean ROAD {table['road'].mean():+.3f} (random maps: "
        f"{table['road_random_map'].mean():+.3f}; "
        "higher is more faithful)"
    )
    table.attrs["summary"] = lines
    return table


def known_labels(run: Run, paths: list[Path]) -> list[str | None]:
    """A label per image: from the run's predictions.csv (by file), else its folder's name."""
    known: dict[str, str] = {}
    predictions = run.directory / "predictions.csv"
    if predictions.is_file():
        table = read_table(predictions)
        if {"path", "label"} <= set(table.columns):
            files = files_of(table["path"].astype(str), run.config.data.root)
            known = dict(zip(files, table["label"].astype(str), strict=True))
    labels = []
    for path in paths:
        label = known.get(str(path.resolve()))
        if label is None and path.parent.name in run.classes:
            label = path.parent.name
        labels.append(label)
    return labels


def image_reader(config: ExperimentConfig, predictions: pd.DataFrame):
    """id -> image for the report's galleries: the files, else the source (in-memory images);
    None when neither can be read here (the report then says so)."""
    from vislab.data.images import read_image

    files = files_of(predictions["path"].astype(str), config.data.root)
    paths = dict(zip(predictions["id"], files, strict=True))
    if all(Path(p).is_file() for p in paths.values()):
        return lambda image_id: read_image(paths[image_id])
    try:
        from vislab.data.sources import load_source

        table = load_source(config.data)
    except (InputError, OSError):  # the data moved, or needs a network
        return None
    positions = dict(zip(table.frame["id"], range(len(table)), strict=True))
    if not set(paths) <= set(positions):
        return None
    return lambda image_id: table.read(positions[image_id])
