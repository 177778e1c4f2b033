"""Explanation galleries: per-class examples and the most confident errors, with their maps."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from vislab.report.html import STYLE, embed_png
from vislab.report.plots import image_grid_png
from vislab.runs import write_atomic


def pick_examples(predictions: pd.DataFrame, errors: int = 6) -> pd.DataFrame:
    """Per true class its most confident correct image, then the most confident errors."""
    from vislab.report.html import confident_errors

    scores = [c for c in predictions.columns if str(c).startswith("score_")]
    frame = predictions.assign(confidence=predictions[scores].max(axis=1) if scores else np.nan)
    right = frame[frame["label"].astype(str) == frame["prediction"].astype(str)]
    per_class = right.sort_values("confidence", ascending=False).groupby("label", sort=True).head(1)
    wrong = confident_errors(predictions, errors)
    return pd.concat(
        [per_class.assign(kind="example"), wrong.assign(kind="error")], ignore_index=True
    )


def gallery_section(
    model, preprocessing: dict, predictions: pd.DataFrame, read_image, method: str
) -> tuple[str, dict]:
    """The report's explanation gallery (HTML) and its faithfulness summary."""
    from vislab.explain.run import explain_batch

    chosen = pick_examples(predictions)
    if chosen.empty:
        return "<p>No images to explain.</p>", {}
    images = [read_image(image_id) for image_id in chosen["id"]]
    result = explain_batch(model, images, preprocessing, method, target="predicted")
    captions = [
        f"{'ERROR ' if row.kind == 'error' else ''}true {row.label} → {row.prediction}\n"
        f"p={row.confidence:.2f} ROAD {road:+.2f}"
        for row, road in zip(chosen.itertuples(), result["road"], strict=True)
    ]
    summary = {
        "method": method,
        "images": len(chosen),
        "road_mean": float(np.mean(result["road"])),
        "road_random_map_mean": float(np.mean(result["road_random"])),
    }
    text = (
        f"<p>Maps: {html.escape(method)} for the predicted class. Faithfulness (ROAD, higher is more "
        f"faithful): mean {summary['road_mean']:+.3f} for the maps against {summary['road_random_map_mean']:+.3f} "
        "for random maps of the same images. Top rows: each class's most confident correct image; "
        "then the most confident errors.</p>"
    )
    grid = image_grid_png([Image.fromarray(o) for o in result["overlays"]], captions)
    return text + embed_png(grid, "explanation gallery"), summary


def write_explanations_page(
    table: pd.DataFrame, overlays: list[np.ndarray], method: str, out: str | Path
) -> Path:
    captions = [
        f"{Path(row.image).name}\n{row.target} (p={row.probability:.2f}) ROAD {row.road:+.2f}"
        for row in table.itertuples()
    ]
    grid = image_grid_png([Image.fromarray(o) for o in overlays], captions)
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>vislab explanations</title><style>{STYLE}</style>"
        f"</head><body><h1>Explanations ({html.escape(method)})</h1><p>Mean ROAD faithfulness "
        f"{table['road'].mean():+.3f}; random maps {table['road_random_map'].mean():+.3f}.</p>"
        f"{embed_png(grid, 'explanations')}</body></html>"
    )
    return write_atomic(Path(out) / "explanations.html", page)


def write_detection_explanations_page(
    table: pd.DataFrame, overlays: list[np.ndarray], method: str, out: str | Path
) -> Path:
    captions = [f"{Path(row.image).name}\n{row.detections} boxes" for row in table.itertuples()]
    grid = image_grid_png([Image.fromarray(o) for o in overlays], captions)
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>vislab explanations</title><style>{STYLE}</style>"
        f"</head><body><h1>Explanations ({html.escape(method)})</h1><p>The first principal component "
        "of the detector's feature maps, with the predicted boxes scored 0.5 or more.</p>"
        f"{embed_png(grid, 'explanations')}</body></html>"
    )
    return write_atomic(Path(out) / "explanations.html", page)
