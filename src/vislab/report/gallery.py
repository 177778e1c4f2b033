"""Explanation galleries: per-class examples and the most confident errors, with their maps."""

from __future__ import annotations

import html
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from vislab.files import write_atomic
from vislab.predictions import score_columns
from vislab.report.html import STYLE, figure
from vislab.report.plots import image_grid_png


def pick_examples(predictions: pd.DataFrame, errors: int = 6) -> pd.DataFrame:
    """Per true class its most confident correct image, then the most confident errors."""
    from vislab.report.html import confident_errors

    scores = score_columns(predictions)
    frame = predictions.assign(confidence=predictions[scores].max(axis=1) if scores else np.nan)
    right = frame[frame["label"].astype(str) == frame["prediction"].astype(str)]
    per_class = right.sort_values("confidence", ascending=False).groupby("label", sort=True).head(1)
    wrong = confident_errors(predictions, errors)
    return pd.concat(
        [per_class.assign(kind="example"), wrong.assign(kind="error")], ignore_index=True
    )


def gallery_section(chosen: pd.DataFrame, explained: dict, method: str) -> tuple[str, dict]:
    """The report's explanation gallery (HTML) and its faithfulness summary, from the
    `explain.run.explain_batch` result for the `chosen` rows (`pick_examples`)."""
    if chosen.empty:
        return "<p>No images to explain.</p>", {}
    captions = [
        f"{'ERROR ' if row.kind == 'error' else ''}true {row.label} → {row.prediction}\n"
        f"p={row.confidence:.2f} ROAD {road:+.2f}"
        for row, road in zip(chosen.itertuples(), explained["road"], strict=True)
    ]
    summary = {
        "method": method,
        "images": len(chosen),
        "road_mean": float(np.mean(explained["road"])),
        "road_random_map_mean": float(np.mean(explained["road_random"])),
    }
    text = (
        f"<p>Maps: {html.escape(method)} for the predicted class. Faithfulness (ROAD, higher is "
        f"more faithful): mean {summary['road_mean']:+.3f} for the maps against "
        f"{summary['road_random_map_mean']:+.3f} for random maps of the same images. Top rows: "
        "each class's most confident correct image; then the most confident errors.</p>"
    )
    overlays = [Image.fromarray(o) for o in explained["overlays"]]
    draw = partial(image_grid_png, overlays, captions, scale=scale_label(method))
    return text + figure(draw, "explanation gallery"), summary


def scale_label(method: str) -> str:
    return f"{method} map, each scaled to its own range: 0 (least weight) to 1 (most)"


def write_overlays_page(
    overlays: list[np.ndarray], captions: list[str], method: str, description: str, out: str | Path
) -> Path:
    """explanations.html: the overlays in a grid, a caption each, and what they show."""
    pictures = [Image.fromarray(o) for o in overlays]
    draw = partial(image_grid_png, pictures, captions, scale=scale_label(method))
    grid = figure(draw, "explanations")
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>vislab explanations</title>"
        f"<style>{STYLE}</style></head><body><h1>Explanations ({html.escape(method)})</h1>"
        f"<p>{description}</p>{grid}</body></html>"
    )
    return write_atomic(Path(out) / "explanations.html", page)


def write_explanations_page(
    table: pd.DataFrame, overlays: list[np.ndarray], method: str, out: str | Path
) -> Path:
    """A classifier's maps with their targets and ROAD scores."""
    captions = [
        f"{Path(row.image).name}\n{row.target} (p={row.probability:.2f}) ROAD {row.road:+.2f}"
        for row in table.itertuples()
    ]
    description = (
        f"Mean ROAD faithfulness {table['road'].mean():+.3f}; random maps "
        f"{table['road_random_map'].mean():+.3f}."
    )
    return write_overlays_page(overlays, captions, method, description, out)


def write_detection_explanations_page(
    table: pd.DataFrame, overlays: list[np.ndarray], method: str, out: str | Path
) -> Path:
    captions = [f"{Path(row.image).name}\n{row.detections} boxes" for row in table.itertuples()]
    description = (
        "The first principal component of the detector's feature maps, with the predicted "
        "boxes scored 0.5 or more."
    )
    return write_overlays_page(overlays, captions, method, description, out)


def write_caption_explanations_page(
    table: pd.DataFrame, overlays: list[np.ndarray], method: str, out: str | Path
) -> Path:
    captions = [f"{Path(row.image).name}\n{row.caption}" for row in table.itertuples()]
    description = (
        "Where the vision encoder's features made the model more sure of the caption it wrote "
        "(the gradient of the caption's mean token log-probability)."
    )
    return write_overlays_page(overlays, captions, method, description, out)
