"""The detection run report: metrics with intervals, per-class AP and precision-recall curves,
groups, and overlays of the images with the lowest recall (ground truth green, predictions red)."""

from __future__ import annotations

import contextlib
import html
import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vislab.data.detection import DetectionTable
from vislab.report import plots
from vislab.report.html import (
    embed_png,
    forest_section,
    groups_section,
    metrics_table,
    write_report_page,
)

SCORE_THRESHOLD = 0.5


def precision_recall_png(run_dir: Path) -> bytes | None:
    """Per class, precision against recall at IoU 0.5 (all areas, 100 detections), pycocotools."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(run_dir / "references.json"))
        results = __import__("json").loads((run_dir / "predictions.json").read_text())
        if not results:
            return None
        evaluation = COCOeval(truth, truth.loadRes(results), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
    plt = plots._pyplot()
    figure, axes = plt.subplots(figsize=(5, 4))
    recall = evaluation.params.recThrs
    for k, category in enumerate(truth.loadCats(evaluation.params.catIds)):
        precision = evaluation.eval["precision"][0, :, k, 0, 2]
        if (precision > -1).any():
            axes.plot(recall, np.clip(precision, 0, 1), label=category["name"])
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.set_title("Precision-recall at IoU 0.5")
    axes.legend(fontsize=7)
    return plots.figure_png(figure)


def image_recall(table: DetectionTable, detections: list[list[dict]], position: int) -> float:
    """Share of an image's boxes found by a same-class prediction (score >= 0.5, IoU >= 0.5)."""
    from torchvision.ops import box_iou

    truth = table.boxes[position][~table.crowd[position]]
    labels = table.labels[position][~table.crowd[position]]
    if len(truth) == 0:
        return 1.0
    found = [d for d in detections[position] if d["score"] >= SCORE_THRESHOLD]
    hits = 0
    for box, label in zip(truth, labels, strict=True):
        same = [d["box"] for d in found if d["label"] == label]
        if same and box_iou(torch.as_tensor(np.asarray([box])), torch.as_tensor(same)).max() >= 0.5:
            hits += 1
    return hits / len(truth)


def overlay(table: DetectionTable, detections: list[list[dict]], position: int) -> Image.Image:
    from torchvision.transforms.v2 import functional as F
    from torchvision.utils import draw_bounding_boxes

    image = F.pil_to_tensor(table.read(position))
    names = table.classes
    truth = torch.as_tensor(table.boxes[position]).reshape(-1, 4)
    image = draw_bounding_boxes(
        image, truth, [names[k] for k in table.labels[position]], colors="lime", width=2
    )
    found = [d for d in detections[position] if d["score"] >= SCORE_THRESHOLD]
    if found:
        boxes = torch.tensor([d["box"] for d in found])
        labels = [f"{names[d['label']]} {d['score']:.2f}" for d in found]
        image = draw_bounding_boxes(image, boxes, labels, colors="red", width=1)
    return Image.fromarray(image.permute(1, 2, 0).numpy())


def lowest_recall_gallery(
    table: DetectionTable, detections: list[list[dict]], count: int = 12
) -> bytes | None:
    if not len(table):
        return None
    recalls = [image_recall(table, detections, i) for i in range(len(table))]
    order = np.argsort(recalls, kind="stable")[:count]
    images = [overlay(table, detections, int(i)) for i in order]
    captions = [f"{table.images['id'].iat[int(i)]}\nrecall {recalls[int(i)]:.2f}" for i in order]
    return plots.image_grid_png(images, captions, columns=4)


def per_class_table(metrics: dict) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td>{_cell(entry['AP'])}</tr>"
        for name, entry in metrics["per_class"].items()
    )
    return f"<table><tr><th>class</th><th>AP (0.50:0.95)</th></tr>{rows}</table>"


def _cell(entry: dict) -> str:
    from vislab.report.html import _cell as cell

    return cell(entry)


def write_detection_report(
    run_dir: Path, metrics: dict, table: DetectionTable, detections: list[list[dict]]
) -> Path:
    sections = [
        f"<p>Task: detection. Evaluated on {metrics['n']} images (COCO evaluation, equal to pycocotools). "
        "Tables for a paper: <code>tables/*.csv</code>, <code>tables/*.tex</code>.</p>",
        "<h2>Metrics</h2>", metrics_table(metrics["metrics"]),
        "<h2>Per class</h2>", per_class_table(metrics),
    ]  # fmt: skip
    curves = precision_recall_png(run_dir)
    if curves:
        sections.append(embed_png(curves, "precision-recall curves"))
    if metrics.get("groups"):
        sections += [
            "<h2>Groups</h2>",
            forest_section(metrics, names=("mAP", "mAP_50")),
            groups_section(metrics),
        ]
    gallery = lowest_recall_gallery(table, detections)
    if gallery:
        sections += ["<h2>Images with the lowest recall</h2>",
                     f"<p>Green: ground truth. Red: predictions with score at least {SCORE_THRESHOLD}.</p>",
                     embed_png(gallery, "lowest-recall images")]  # fmt: skip
    return write_report_page(run_dir, metrics, sections)
