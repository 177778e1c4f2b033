"""The run report: one self-contained HTML file (figures embedded as PNG, no network needed)."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pandas as pd
import yaml

from vislab.config import settings_of
from vislab.files import write_atomic
from vislab.report import plots
from vislab.report.html_tables import fairness_section, fmt, groups_section, metrics_table

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}
h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
h2,h3{break-after:avoid}img,tr{break-inside:avoid}
table{border-collapse:collapse;margin:.5em 0;font-size:.92em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}td{white-space:nowrap}
td:first-child{white-space:normal;overflow-wrap:break-word}
td.text{white-space:normal;overflow-wrap:anywhere;text-align:left}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}.small{color:#b00}
img{max-width:100%;height:auto}
pre{background:#f7f7f7;padding:.6em;white-space:pre-wrap;overflow-wrap:anywhere;font-size:.85em}
@page{size:A4 portrait;margin:1cm}@media print{body{margin:0;padding:0}}
"""


def embed_png(png: bytes, alt: str, width: int | None = None) -> str:
    """The PNG inside the page; `width` (CSS px) shows it at that size, or less on a narrow
    page."""
    data = base64.b64encode(png).decode()
    size = f' width="{width}"' if width else ""
    return f'<img alt="{html.escape(alt)}"{size} src="data:image/png;base64,{data}">'


def figure(draw: Callable[[], bytes | None], alt: str) -> str:
    """A figure drawn and embedded (nothing if there is nothing to draw); one that cannot be
    drawn costs only itself — the report is still written, and says which figure is missing
    and why."""
    try:
        png = draw()
        return "" if png is None else embed_png(png, alt, plots.display_width(png))
    except Exception as error:  # any drawing failure: the numbers must still reach the page
        reason = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        return (
            f'<p class="small">The figure "{html.escape(alt)}" could not be drawn '
            f"({html.escape(reason)}). The numbers are in the tables.</p>"
        )


def confident_errors(predictions: pd.DataFrame, count: int = 12) -> pd.DataFrame:
    """The wrong predictions with the highest predicted probability."""
    wrong = predictions[predictions["label"].astype(str) != predictions["prediction"].astype(str)]
    scores = [f"score_{p}" for p in wrong["prediction"].astype(str)]
    if not len(wrong) or not all(s in predictions.columns for s in set(scores)):
        return wrong.head(count).assign(confidence=float("nan"))
    confidence = [wrong.iloc[i][s] for i, s in enumerate(scores)]
    return (
        wrong.assign(confidence=confidence).sort_values("confidence", ascending=False).head(count)
    )


def errors_section(predictions: pd.DataFrame, read_image: Callable[[str], object] | None) -> str:
    errors = confident_errors(predictions)
    if errors.empty:
        return "<p>No errors on this split.</p>"
    if read_image is None:
        return "<p>Images are not available to show the errors.</p>"

    def draw() -> bytes:
        images = [read_image(row.id) for row in errors.itertuples()]
        captions = [
            f"true {row.label} → {row.prediction}\np={row.confidence:.2f}"
            for row in errors.itertuples()
        ]
        return plots.image_grid_png(images, captions)

    return figure(draw, "most confident errors")


CURVES = 4  # groups drawn in the reliability diagram; with more, each group's ECE is tabled


def calibration_section(metrics: dict, predictions: pd.DataFrame) -> str:
    """Reliability diagram overall and per group (first group column, up to CURVES groups: the
    ECE of every group is in the groups table), when scores exist."""
    from vislab.evaluation.classification_stats import ClassificationData, reliability
    from vislab.evaluation.groups import group_values

    if "ece" not in metrics["metrics"]:
        return "<p>No scores in the predictions: calibration cannot be assessed.</p>"
    data = ClassificationData(predictions)
    curves = {"all": reliability(data)}
    specs = list(metrics.get("groups", {}))
    if specs and len(metrics["groups"][specs[0]]) <= CURVES:
        values = group_values(predictions, specs[0], "predictions").to_numpy()
        for name in sorted(set(values)):
            curves[f"{specs[0]}={name}"] = reliability(data.subset(values == name))
    ece = metrics["metrics"]["ece"]
    text = f"<p>Expected calibration error (15 bins): {fmt(ece['value'])}"
    if ece.get("ci"):
        text += f" [{fmt(ece['ci'][0])}, {fmt(ece['ci'][1])}]"
    return text + ".</p>" + figure(lambda: plots.reliability_png(curves), "reliability diagram")


def forest_section(metrics: dict, names=("accuracy", "f1_macro")) -> str:
    parts = []
    for spec, groups in metrics.get("groups", {}).items():
        for name in names:
            if name in metrics["metrics"]:
                entry = metrics["metrics"][name]
                draw = partial(plots.forest_png, spec, name, groups, entry)
                parts.append(figure(draw, f"{name} by {spec}"))
    return "".join(parts)


def write_run_report(
    run_dir: str | Path,
    metrics: dict,
    predictions: pd.DataFrame,
    read_image: Callable[[str], object] | None = None,
    extra_sections: dict[str, str] | None = None,
) -> Path:
    """report.html: metrics, confusion, calibration, groups, fairness, gallery, audit and
    provenance."""
    run_dir = Path(run_dir)
    confusion = metrics["confusion_matrix"]
    sections = [
        f"<p>Task: {metrics['task']}. Evaluated on {metrics['n']} images. Intervals: "
        f"{_bootstrap_text(metrics['bootstrap'])}. {tables_text(run_dir)}</p>",
        "<h2>Metrics</h2>",
        metrics_table(metrics["metrics"]),
        "<h2>Confusion matrix</h2>",
        figure(
            lambda: plots.confusion_matrix_png(confusion["counts"], confusion["classes"]),
            "confusion matrix",
        ),
        "<h2>Per class</h2>",
        figure(lambda: plots.per_class_png(metrics["per_class"]), "per-class scores"),
        "<h2>Calibration</h2>",
        calibration_section(metrics, predictions),
    ]
    if metrics.get("groups"):
        sections += ["<h2>Groups</h2>", forest_section(metrics), groups_section(metrics)]
        sections += ["<h2>Fairness</h2>", _FAIRNESS_TEXT, fairness_section(metrics)]
    for title, body in (extra_sections or {}).items():
        sections += [f"<h2>{html.escape(title)}</h2>", body]
    sections += ["<h2>Most confident errors</h2>", errors_section(predictions, read_image)]
    return write_report_page(run_dir, metrics, sections)


def write_report_page(run_dir: str | Path, metrics: dict, sections: list[str]) -> Path:
    """report.html of any task: a heading, the task's sections, provenance; tables/ for a paper."""
    from vislab.report.tables import write_tables

    run_dir = Path(run_dir)
    body = [
        f"<h1>{html.escape(_title(run_dir, metrics))}</h1>",
        *sections,
        *_data_section(run_dir),
        "<h2>Provenance</h2>",
        _provenance(run_dir),
    ]
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(_title(run_dir, metrics))} · vislab report</title>"
        f"<style>{STYLE}</style></head>"
        f"<body>{''.join(body)}</body></html>"
    )
    write_tables(metrics, run_dir / "tables", table_format_of(run_dir))
    return write_atomic(run_dir / "report.html", page)


_FAIRNESS_TEXT = (
    "<p>Between groups, for each class against the rest (fairlearn's definitions): demographic "
    "parity difference and ratio (share of images predicted as the class), equalized odds "
    "difference (larger of the true- and false-positive-rate gaps), equal opportunity "
    "difference (true-positive-rate gap). 0 difference and ratio 1 mean parity.</p>"
)


def _bootstrap_text(settings: dict) -> str:
    if not settings["resamples"]:
        return "none (bootstrap 0)"
    return (
        f"{settings['confidence']:.0%} percentile bootstrap, {settings['resamples']} resamples of "
        f"images, seed {settings['seed']}"
    )


def _data_section(run_dir: Path) -> list[str]:
    """The run's images at a glance (data_inspection.json, written before training): near
    copies by perceptual hash across its splits, and the images' quality problems."""
    path = run_dir / "data_inspection.json"
    if not path.is_file():
        return []
    found = json.loads(path.read_text())
    near, quality = found["near_copies"], found["quality"]
    copies = (
        f"By perceptual hash (re-encoded and resized copies): {near['n_images_in_copy_clusters']} "
        f"images in {near['n_copy_clusters']} cluster(s) of near copies; effective N "
        f"{near['effective_n']}."
    )
    if near["n_leaking_clusters"]:
        held_out = near.get("held_out_split")
        within = (
            f": {near['n_held_out_with_copy_in_another_split']} {html.escape(held_out)} "
            "image(s) have a "
            "copy in another split, so their score may be overstated"
            if held_out
            else ""
        )
        copies += (
            f" <strong>{near['n_leaking_clusters']} cluster(s) span splits{within}.</strong> "
            "They are listed in <code>near_copies.csv</code>; <code>data.split.group_by: "
            "duplicate_cluster</code> keeps each cluster in one split."
        )
    else:
        copies += " No cluster spans splits."
    problems = ", ".join(f"{name} {count}" for name, count in quality.items())
    return [
        "<h2>Data: near copies and quality</h2>",
        f"<p>{copies}</p>",
        f"<p>Image quality: {html.escape(problems or 'no problem found')}. Crops, edits, label "
        "issues and outliers: <code>vislab data inspect</code>.</p>",
    ]


def table_format_of(run_dir: str | Path) -> str:
    """The run's `evaluate.table_format` (csv, parquet or dta): its tables/ are written so."""
    config = Path(run_dir) / "config.yaml"
    settings = yaml.safe_load(config.read_text()) if config.is_file() else None
    return ((settings or {}).get("evaluate") or {}).get("table_format", "csv")


def tables_text(run_dir: str | Path) -> str:
    """The sentence that names a report's tables/ files."""
    kind = html.escape(table_format_of(run_dir))
    return f"Tables for a paper: <code>tables/*.{kind}</code>, <code>tables/*.tex</code>."


def _provenance(run_dir: Path) -> str:
    """environment.json, and the settings of config.yaml that the run's task reads."""
    parts = []
    environment = run_dir / "environment.json"
    if environment.is_file():
        text = json.dumps(json.loads(environment.read_text()), indent=1)
        parts.append(f"<h3>environment.json</h3><pre>{html.escape(text)}</pre>")
    config = run_dir / "config.yaml"
    if config.is_file():
        settings = settings_of(yaml.safe_load(config.read_text()) or {})
        text = yaml.safe_dump(settings, sort_keys=False)
        parts.append(
            "<h3>config.yaml</h3><p>The settings this task reads (config.yaml holds them all)."
            f"</p><pre>{html.escape(text)}</pre>"
        )
    return "".join(parts)


def _title(run_dir: Path, metrics: dict) -> str:
    """`digits-manifest — classification`: the run's name and its task."""
    return f"{run_dir.name} — {metrics.get('task', '')}".rstrip(" —")
