"""inspect.html (`vislab data inspect`): what the inspection found, with the images — copies in
their clusters, label issues, outliers, quality problems, and the map of the collection with
each group's exemplars. The whole lists are the CSV tables beside it; the page shows the
first of each."""

from __future__ import annotations

import html
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from vislab.files import write_atomic
from vislab.report import plots
from vislab.report.html import STYLE, figure

THUMBNAIL = 160  # px, the longer side of a picture on the page
SHOWN = 16  # pictures per list
ROWS = 50  # rows of a list's table
COLOURS = 10  # values of the map's colour column drawn apart; the rest are "other"


def thumbnail(table, position: int) -> Image.Image:
    """The row's image, small (a gray square where it cannot be read)."""
    try:
        image = table.read(int(position)).convert("RGB")
    except Exception:  # an unreadable image is listed with its reason; its picture is blank
        return Image.new("RGB", (THUMBNAIL, THUMBNAIL), (200, 200, 200))
    image.thumbnail((THUMBNAIL, THUMBNAIL))
    return image


def pictures(table, rows: pd.DataFrame, caption, alt: str, columns: int = 4) -> str:
    """A grid of the rows' images with `caption(row)` under each."""
    if rows.empty:
        return ""
    images = [thumbnail(table, p) for p in rows["position"]]
    captions = [caption(row) for row in rows.itertuples()]
    return figure(partial(plots.image_grid_png, images, captions, columns), alt)


def listing(rows: pd.DataFrame, columns: list[str]) -> str:
    """The first ROWS rows as an HTML table (every cell escaped)."""
    if rows.empty:
        return ""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td class='text'>{html.escape(_cell(getattr(r, c)))}</td>" for c in columns)
        + "</tr>"
        for r in rows.head(ROWS).itertuples()
    )
    more = f"<p>{len(rows) - ROWS} more in the table.</p>" if len(rows) > ROWS else ""
    return f"<table><tr>{head}</tr>{body}</table>{more}"


def _cell(value) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def copies_section(table, found) -> str:
    s = found.summary
    rows = found.duplicates
    text = (
        f"<h2>Near copies</h2><p>{s['n_images_in_copy_clusters']} images are near copies of "
        f"another, in {s['n_copy_clusters']} clusters: counted once each, the collection holds "
        f"<b>{s['effective_n']}</b> distinct images of {s['n_images']}. Found by perceptual hash "
        "(re-encoded, resized copies) and by matched keypoints (crops, edits), "
        "each pair confirmed on the images.</p>"
    )
    if "leaks" in rows.columns:
        text += (
            f"<p><b>{s['n_leaking_clusters']}</b> clusters cross splits (leakage: a copy in "
            "test of an image in train overstates accuracy). Keep each cluster in one split.</p>"
        )
    shown = rows[rows["cluster"] <= rows["cluster"].min() + 7] if len(rows) else rows

    def caption(row) -> str:
        split = f"\n{row.split}{' LEAKS' if row.leaks else ''}" if "leaks" in rows else ""
        return f"cluster {row.cluster}{' (kept)' if row.representative else ''}{split}"

    columns = [c for c in rows.columns if c != "position"]
    return (
        text
        + pictures(table, shown.head(4 * SHOWN), caption, "near copies")
        + listing(rows, columns)
    )


def label_issues_section(table, found) -> str:
    rows = found.label_issues
    text = (
        f"<h2>Label issues</h2><p>{len(rows)} images whose label is likely wrong (confident "
        "learning on out-of-fold probabilities of a logistic regression on the embeddings), "
        "worst first; score: the probability of the given label.</p>"
    )
    caption = partial(_issue_caption)
    return (
        text
        + pictures(table, rows.head(SHOWN), caption, "label issues")
        + listing(rows, ["path", "label", "suggested_label", "score"])
    )


def _issue_caption(row) -> str:
    return f"labelled {row.label}\nlikely {row.suggested_label}\np={row.score:.2f}"


def outliers_section(table, found) -> str:
    rows = found.outliers
    text = (
        f"<h2>Outliers</h2><p>{len(rows)} images unlike the rest of the collection "
        "(far from even their nearest images by embedding), farthest first.</p>"
    )

    def caption(row) -> str:
        return f"distance {row.distance:.3f}"

    return (
        text
        + pictures(table, rows.head(SHOWN), caption, "outliers")
        + listing(rows, ["path", "distance", "reason"])
    )


def quality_section(table, found) -> str:
    rows = found.quality
    counts = rows["problem"].value_counts()
    summary = "".join(
        f"<tr><td>{html.escape(str(k))}</td><td>{int(v)}</td></tr>" for k, v in counts.items()
    )
    text = "<h2>Image quality</h2>"
    if rows.empty:
        return text + "<p>No image is dark, bright, blurry, nearly blank, small or odd.</p>"
    text += f"<table><tr><th>problem</th><th>images</th></tr>{summary}</table>"
    examples = rows[rows["problem"] != "unreadable"].groupby("problem").head(4)

    def caption(row) -> str:
        return f"{row.problem}\n{row.detail}"

    return (
        text
        + pictures(table, examples, caption, "quality problems")
        + listing(rows, ["path", "problem", "detail"])
    )


def map_png(coordinates: np.ndarray, colours: pd.Series, groups: np.ndarray) -> bytes:
    """The 2-D map, a dot per image coloured by `colours`, each group's number at its middle."""
    plt = plots._pyplot()
    values = colours.astype(object).where(colours.notna(), "(none)").astype(str)
    common = values.value_counts().index[:COLOURS]
    values = values.where(values.isin(common), "other")
    figure, axes = plt.subplots(figsize=(plots.FIGURE_INCHES, plots.FIGURE_INCHES * 0.75))
    size = float(np.clip(4000 / max(len(values), 1), 1, 30))
    for k, name in enumerate(sorted(set(values))):
        at = (values == name).to_numpy()
        axes.scatter(*coordinates[at].T, s=size, color=plt.cm.tab10(k % 10), label=name)
    for group in np.unique(groups):
        middle = np.median(coordinates[groups == group], axis=0)
        axes.annotate(str(group), middle, fontsize=plots.MIN_TEXT_PT + 1, weight="bold")
    axes.legend(fontsize=plots.MIN_TEXT_PT, markerscale=max(1.0, 20 / size), loc="best")
    axes.set_xticks([])
    axes.set_yticks([])
    return plots.figure_png(figure)


def map_section(table, found, colour_by: str | None) -> str:
    rows = found.clusters
    if rows.empty:
        return ""
    text = (
        f"<h2>Map of the collection</h2><p>{rows['group'].nunique()} groups (k-means on the "
        "embeddings), numbered by size; below, each group's images nearest its centre.</p>"
    )
    if found.coordinates is not None:
        frame = table.frame.iloc[rows["position"].to_numpy()]
        colours = frame[colour_by] if colour_by else rows["group"]
        text += (
            f"<p>UMAP layout of the nearest-neighbour graph; colour: "
            f"{html.escape(colour_by or 'group')}; numbers: groups.</p>"
        )
        text += figure(
            partial(map_png, found.coordinates, colours.reset_index(drop=True), rows["group"]),
            "map of the collection",
        )
    for group, members in rows.groupby("group"):
        chosen = members[members["exemplar"]].sort_values("distance")
        text += f"<h3>Group {group}: {len(members)} images</h3>" + pictures(
            table, chosen, lambda row: "", f"group {group}", columns=8
        )
    return text


def write_inspect_page(table, found, out: str | Path, colour_by: str | None = None) -> Path:
    s = found.summary
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in s["notes"])
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>vislab data inspect</title>"
        f"<style>{STYLE}</style></head><body><h1>Inspection of {html.escape(s['source'])}</h1>"
        f"<p>{s['n_images']} images, {s['n_unreadable']} unreadable; {s['effective_n']} once "
        f"near copies count once; {s['n_label_issues']} label issues; {s['n_outliers']} "
        f"outliers; {sum(s['quality'].values())} quality problems.</p>"
        + (f"<ul>{notes}</ul>" if notes else "")
        + copies_section(table, found)
        + label_issues_section(table, found)
        + outliers_section(table, found)
        + quality_section(table, found)
        + map_section(table, found, colour_by)
        + f"<h2>Provenance</h2><pre>{html.escape(_provenance(s))}</pre></body></html>"
    )
    return write_atomic(Path(out) / "inspect.html", page)


def _provenance(summary: dict) -> str:
    import json

    record = {k: summary[k] for k in ("data_fingerprint", "environment") if k in summary}
    return json.dumps(record, indent=1)
