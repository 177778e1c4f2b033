"""The detection run report: metrics with intervals, per-class AP and precision-recall curves,
groups, and overlays of the images with the lowest recall (ground truth green, predictions red).

The curves and each image's recall come from the evaluation's own matching
(`evaluation.detection_matching.Matching`): nothing is matched twice or by hand here.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from vislab.report import plots
from vislab.report.html import figure, forest_section, tables_text, write_report_page
from vislab.report.html_tables import cell, groups_section, metrics_table

SCORE_THRESHOLD = 0.5


LEGEND_CLASSES = 10  # more classes: thin grey lines and their mean, named in the AP table


def precision_recall_png(curves: np.ndarray, levels: np.ndarray, names: list[str]) -> bytes | None:
    """Per class, interpolated precision against recall at IoU 0.5 (`Matching.curves`); the
    legend sits beside the axes."""
    if not len(curves) or not (curves > -1).any():
        return None
    plt = plots._pyplot()
    figure, axes = plt.subplots(figsize=(4.6, 4))
    found = [(n, np.clip(p, 0, 1)) for n, p in zip(names, curves, strict=True) if (p > -1).any()]
    many = len(found) > LEGEND_CLASSES
    for name, precision in found:
        if many:
            axes.plot(levels, precision, color="#bbb", linewidth=0.8)
        else:
            axes.plot(levels, precision, label=plots.short(name, 20))
    if many:
        mean = np.mean([p for _, p in found], axis=0)
        axes.plot(levels, mean, color="#1f4e79", linewidth=2, label="mean of the classes")
        axes.plot([], [], color="#bbb", label=f"each of {len(found)} classes")
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.set_title("Precision-recall at IoU 0.5", fontsize=10)
    axes.legend(
        loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=plots.MIN_TEXT_PT, frameon=False
    )
    return plots.figure_png(figure)


def overlay(path: str, truth: pd.DataFrame, found: pd.DataFrame) -> Image.Image:
    """The image with its ground truth (green) and confident predictions (red) drawn."""
    from torchvision.transforms.v2 import functional as F
    from torchvision.utils import draw_bounding_boxes

    from vislab.data.images import read_image

    image = F.pil_to_tensor(read_image(path))
    if len(truth):
        boxes = torch.tensor(truth[["x1", "y1", "x2", "y2"]].to_numpy(float))
        image = draw_bounding_boxes(image, boxes, truth["label"].tolist(), colors="lime", width=2)
    found = found[found["score"] >= SCORE_THRESHOLD]
    if len(found):
        boxes = torch.tensor(found[["x1", "y1", "x2", "y2"]].to_numpy(float))
        labels = [f"{n} {s:.2f}" for n, s in zip(found["label"], found["score"], strict=True)]
        image = draw_bounding_boxes(image, boxes, labels, colors="red", width=1)
    return Image.fromarray(image.permute(1, 2, 0).numpy())


def lowest_recall_gallery(
    images: pd.DataFrame,
    truth: pd.DataFrame,
    found: pd.DataFrame,
    recall: np.ndarray,
    count: int = 12,
) -> bytes | None:
    """The `count` images with the lowest recall; `images` (image_id, id, path) in the
    matching's order, `truth` and `found` boxes with an image_id each."""
    if not len(images):
        return None
    order = np.argsort(recall, kind="stable")[:count]
    pictures, captions = [], []
    for position in order:
        row = images.iloc[int(position)]
        mine = truth[truth["image_id"] == row["image_id"]]
        theirs = found[found["image_id"] == row["image_id"]]
        pictures.append(overlay(row["path"], mine, theirs))
        captions.append(f"{row['id']}\nrecall {recall[int(position)]:.2f}")
    return plots.image_grid_png(pictures, captions, columns=4)


def per_class_table(metrics: dict) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td>{cell(entry['AP'])}</tr>"
        for name, entry in metrics["per_class"].items()
    )
    return f"<table><tr><th>class</th><th>AP (0.50:0.95)</th></tr>{rows}</table>"


def write_detection_report(
    run_dir: Path,
    metrics: dict,
    curves_png: Callable[[], bytes] | None,
    gallery_png: Callable[[], bytes | None] | None,
) -> Path:
    """report.html of a detection run; the figures are drawn here (a figure that fails is
    named on the page, the report is still written)."""
    sections = [
        f"<p>Task: detection. Evaluated on {metrics['n']} images (COCO evaluation, equal to "
        f"pycocotools). {tables_text(run_dir)}</p>",
        "<h2>Metrics</h2>",
        metrics_table(metrics["metrics"]),
        "<h2>Per class</h2>",
        per_class_table(metrics),
    ]
    if curves_png:
        sections.append(figure(curves_png, "precision-recall curves"))
    if metrics.get("groups"):
        sections += [
            "<h2>Groups</h2>",
            forest_section(metrics, names=("mAP", "mAP_50")),
            groups_section(metrics),
        ]
    if gallery_png:
        sections += [
            "<h2>Images with the lowest recall</h2>",
            f"<p>Green: ground truth. Red: predictions with score at least {SCORE_THRESHOLD}.</p>",
            figure(gallery_png, "lowest-recall images"),
        ]
    return write_report_page(run_dir, metrics, sections)
