"""The run report: one self-contained HTML file (figures embedded as PNG, no network needed)."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from vislab.report import plots
from vislab.runs import write_atomic

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0;font-size:.92em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left}.small{color:#b00}
img{max-width:100%}pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.85em}
"""


def embed_png(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


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
            f"<tr><td>{html.escape(name)}</td><td>{_fmt(entry['value'])}</td><td>{interval}</td></tr>"
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
    images, captions = [], []
    for row in errors.itertuples():
        images.append(read_image(row.id))
        captions.append(f"true {row.label} → {row.prediction}\np={row.confidence:.2f}")
    return embed_png(plots.image_grid_png(images, captions), "most confident errors")


def write_run_report(
    run_dir: str | Path,
    metrics: dict,
    predictions: pd.DataFrame,
    read_image: Callable[[str], object] | None = None,
) -> Path:
    run_dir = Path(run_dir)
    confusion = metrics["confusion_matrix"]
    sections = [
        f"<h1>vislab report: {html.escape(run_dir.name)}</h1>",
        f"<p>Task: {metrics['task']}. Evaluated on {metrics['n']} images. Intervals: "
        f"{_bootstrap_text(metrics['bootstrap'])}.</p>",
        "<h2>Metrics</h2>", metrics_table(metrics["metrics"]),
        "<h2>Confusion matrix</h2>", embed_png(plots.confusion_matrix_png(confusion["counts"], confusion["classes"]), "confusion matrix"),
        "<h2>Per class</h2>", embed_png(plots.per_class_png(metrics["per_class"]), "per-class scores"),
    ]  # fmt: skip
    if metrics.get("groups"):
        sections += ["<h2>Groups</h2>", groups_section(metrics)]
    sections += ["<h2>Most confident errors</h2>", errors_section(predictions, read_image)]
    sections += ["<h2>Provenance</h2>", _provenance(run_dir)]
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>vislab report {html.escape(run_dir.name)}</title>"
        f"<style>{STYLE}</style></head><body>{''.join(sections)}</body></html>"
    )
    return write_atomic(run_dir / "report.html", page)


def _bootstrap_text(settings: dict) -> str:
    if not settings["resamples"]:
        return "none (bootstrap 0)"
    return (
        f"{settings['confidence']:.0%} percentile bootstrap, {settings['resamples']} resamples of "
        f"images, seed {settings['seed']}"
    )


def _provenance(run_dir: Path) -> str:
    parts = []
    for name in ("environment.json", "config.yaml"):
        path = run_dir / name
        if path.is_file():
            text = path.read_text()
            if name.endswith(".json"):
                text = json.dumps(json.loads(text), indent=1)
            parts.append(f"<h3>{name}</h3><pre>{html.escape(text)}</pre>")
    return "".join(parts)
