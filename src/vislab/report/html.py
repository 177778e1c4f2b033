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

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}
h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0;font-size:.92em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left}.small{color:#b00}
img{max-width:100%}pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.85em}
"""


def embed_png(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def figure(draw: Callable[[], bytes | None], alt: str) -> str:
    """A figure drawn and embedded (nothing if there is nothing to draw); one that cannot be
    drawn costs only itself — the report is still written, and says which figure is missing
    and why."""
    try:
        png = draw()
        return "" if png is None else embed_png(png, alt)
    except Exception as error:  # any drawing failure: the numbers must still reach the page
        reason = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        return (
            f'<p class="small">The figure "{html.escape(alt)}" could not be drawn '
            f"({html.escape(reason)}). The numbers are in the tables.</p>"
        )


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}"
    return html.escape(str(value))


def metrics_table(metrics: dict[str, dict]) -> str:
    rows = []
    for name, entry in metrics.items():
        ci = entry.get("ci")
        interval = f"[{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci else "–"
        rows.append(
            f"<tr><td>{html.escape(name)}</td><td>{_fmt(entry['value'])}</td>"
            f"<td>{interval}</td></tr>"
        )
    return (
        "<table><tr><th>metric</th><th>value</th><th>interval</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def groups_section(metrics: dict) -> str:
    parts = []
    for spec, groups in metrics.get("groups", {}).items():
        names = list(next(iter(groups.values()))["metrics"]) if groups else []
        head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
        rows = []
        for group, entry in groups.items():
            cells = "".join(_cell(entry["metrics"][n]) for n in names)
            flag = ' <span class="small">(n &lt; 30)</span>' if entry["small"] else ""
            rows.append(f"<tr><td>{html.escape(group)}{flag}</td><td>{entry['n']}</td>{cells}</tr>")
        parts.append(
            f"<h3>by {html.escape(spec)}</h3><table><tr><th>group</th><th>n</th>{head}</tr>"
            + "".join(rows)
            + "</table>"
        )
        disparities = metrics.get("disparities", {}).get(spec, {})
        if disparities:
            parts.append(_disparity_table(disparities))
    return "".join(parts)


def _cell(entry: dict) -> str:
    ci = entry.get("ci")
    interval = f"<br><small>[{_fmt(ci[0])}, {_fmt(ci[1])}]</small>" if ci else ""
    return f"<td>{_fmt(entry['value'])}{interval}</td>"


def _disparity_table(disparities: dict) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(m)}</td><td>{_fmt(d['difference'])}</td><td>{_fmt(d['ratio'])}</td>"
        f"<td>{_fmt(d.get('ci', [None])[0])} – {_fmt(d.get('ci', [None, None])[1])}</td>"
        f"<td>{html.escape(str(d['highest']))} / {html.escape(str(d['lowest']))}</td></tr>"
        for m, d in disparities.items()
    )
    return (
        "<p>Disparity: highest group minus lowest group, their ratio, and the interval of the "
        "difference.</p><table><tr><th>metric</th><th>difference</th><th>ratio</th>"
        f"<th>interval</th><th>highest / lowest</th></tr>{rows}</table>"
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


def calibration_section(metrics: dict, predictions: pd.DataFrame) -> str:
    """Reliability diagram overall and per group (first group column), when scores exist."""
    from vislab.evaluation.classification_stats import ClassificationData, reliability
    from vislab.evaluation.groups import group_values

    if "ece" not in metrics["metrics"]:
        return "<p>No scores in the predictions: calibration cannot be assessed.</p>"
    data = ClassificationData(predictions)
    curves = {"all": reliability(data)}
    specs = list(metrics.get("groups", {}))
    if specs:
        values = group_values(predictions, specs[0], "predictions").to_numpy()
        for name in sorted(set(values)):
            curves[f"{specs[0]}={name}"] = reliability(data.subset(values == name))
    ece = metrics["metrics"]["ece"]
    text = f"<p>Expected calibration error (15 bins): {_fmt(ece['value'])}"
    if ece.get("ci"):
        text += f" [{_fmt(ece['ci'][0])}, {_fmt(ece['ci'][1])}]"
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


def fairness_section(metrics: dict) -> str:
    parts = []
    for spec, by_class in metrics.get("fairness", {}).items():
        if not by_class:
            continue
        measures = list(next(iter(by_class.values())))
        head = "".join(f"<th>{html.escape(m.replace('_', ' '))}</th>" for m in measures)
        rows = "".join(
            f"<tr><td>{html.escape(cls)}</td>"
            + "".join(_cell(entry[m]) for m in measures)
            + "</tr>"
            for cls, entry in by_class.items()
        )
        parts.append(
            f"<h3>by {html.escape(spec)} (each class against the rest)</h3>"
            f"<table><tr><th>class</th>{head}</tr>{rows}</table>"
        )
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
        f"{_bootstrap_text(metrics['bootstrap'])}. Tables for a paper: <code>tables/*.csv</code>, "
        "<code>tables/*.tex</code>.</p>",
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
        "<h2>Provenance</h2>",
        _provenance(run_dir),
    ]
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(_title(run_dir, metrics))} · vislab report</title>"
        f"<style>{STYLE}</style></head>"
        f"<body>{''.join(body)}</body></html>"
    )
    write_tables(metrics, run_dir / "tables")
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
