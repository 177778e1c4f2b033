"""metrics.json for captioning: COCO caption results + references in, DESIGN's shape out.

Predictions: COCO caption results, a JSON list of `{"image_id", "caption"}` with one caption per
image. References: a COCO captions file (`annotations` with `image_id` and `caption`, several per
image; `images` entries may carry metadata), or a CSV/Parquet table with an `image_id` column and
one or more `caption*` columns. Every reference image needs a prediction and every prediction a
reference image: anything else is an error that names the images, never a silent drop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from vislab.data.captions import read_references
from vislab.errors import InputError
from vislab.evaluation.captioning_stats import (
    CaptionEvaluator,
    CaptionStats,
    caption_stats,
    per_image_scores,
    tokenize,
)
from vislab.evaluation.groups import group_breakdown
from vislab.evaluation.intervals import bootstrap_record, metric_entries
from vislab.files import read_json, read_table

ClipScorer = Callable[[list[str], list[str]], "object"]  # (image paths, captions) -> (n,) scores


def load_predictions(path: str | Path, references: dict) -> dict:
    """{image_id: caption}, one per reference image."""
    results = read_json(path, "predictions")
    if not isinstance(results, list):
        raise InputError(f"{path}: caption results are a JSON list of {{image_id, caption}}.")
    found: dict = {}
    for index, item in enumerate(results):
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("caption"), str)
            or "image_id" not in item
        ):
            raise InputError(f"{path}: result {index} needs an image_id and a caption text.")
        if item["image_id"] in found:
            raise InputError(
                f"{path}: image_id {item['image_id']} has more than one caption "
                f"(result {index}); keep one per image."
            )
        found[item["image_id"]] = item["caption"]
    unknown = [key for key in found if key not in references]
    if unknown:
        raise InputError(
            f"{path}: {len(unknown)} caption(s) for images not in the references, "
            f"e.g. {unknown[:5]}."
        )
    missing = [key for key in references if key not in found]
    if missing:
        raise InputError(
            f"{path}: {len(missing)} reference image(s) have no predicted caption, "
            f"e.g. {missing[:5]}."
        )
    return found


def prepare(
    predictions: str | Path,
    references: str | Path,
    bertscore_model: str | None = None,
    clip_scorer: ClipScorer | None = None,
    images_folder: str | Path | None = None,
):
    """Tokenized captions' statistics, the image table, and the raw captions.

    `clip_scorer` (image paths, captions) -> CLIPScore per image adds CLIPScore; the task layer
    gives it, since it needs a CLIP model (evaluation never loads models itself)."""
    captions, images = read_references(references)
    predicted = load_predictions(predictions, captions)
    stats = caption_stats(tokenize(captions), tokenize({k: [predicted[k]] for k in captions}))
    texts = [predicted[k] for k in stats.image_ids]
    if bertscore_model:
        from vislab.evaluation.bertscore import bertscore_f1

        references_in_order = [captions[k] for k in stats.image_ids]
        stats.bertscore = bertscore_f1(texts, references_in_order, bertscore_model)
    if clip_scorer:
        paths = image_paths(images, stats.image_ids, references, images_folder)
        stats.clipscore = clip_scorer(paths, texts)
    return stats, images, captions, predicted


def image_paths(images: pd.DataFrame, image_ids: list, references, folder) -> list[str]:
    """Each image's file, from the references' file_name (or path) under `folder`."""
    column = next((c for c in ("file_name", "path") if c in images.columns), None)
    if column is None:
        raise InputError(
            f"{references}: CLIPScore needs each image's file: 'file_name' in the COCO "
            "'images' list, or a 'path' column in the references table."
        )
    base = Path(folder) if folder else Path(references).resolve().parent
    files = dict(zip(images["image_id"], images[column].astype(str), strict=True))
    return [str(base / files[k]) for k in image_ids]


def evaluate_captioning(
    predictions: str | Path,
    references: str | Path,
    group_by: Sequence[str] = (),
    metadata: str | Path | pd.DataFrame | None = None,
    bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    bertscore_model: str | None = None,
    clip_scorer: ClipScorer | None = None,
    images_folder: str | Path | None = None,
) -> dict:
    """metrics.json's content for COCO caption results against references."""
    stats, images, _, _ = prepare(
        predictions, references, bertscore_model, clip_scorer, images_folder
    )
    result = metrics_json(stats, images, group_by, metadata, bootstrap, confidence, seed)
    if bertscore_model:
        result["bertscore_model"] = str(bertscore_model)
    return result


def metrics_json(
    stats: CaptionStats,
    images: pd.DataFrame,
    group_by: Sequence[str] = (),
    metadata=None,
    bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict:
    evaluator = CaptionEvaluator(stats)
    metrics, _, _ = metric_entries(evaluator, bootstrap, confidence, seed)
    result = {"task": "captioning", "n": evaluator.n, "metrics": metrics}
    if group_by:
        frame = _image_metadata(stats, images, metadata)
        result["groups"], result["disparities"], _ = group_breakdown(
            evaluator, frame, group_by, bootstrap, confidence, seed, "image metadata"
        )
    result["bootstrap"] = bootstrap_record(
        bootstrap, confidence, seed, cider_document_frequencies="whole reference set"
    )
    return result


def _image_metadata(stats: CaptionStats, images: pd.DataFrame, metadata) -> pd.DataFrame:
    """One row per evaluated image (in the statistics' order), metadata columns joined."""
    frame = pd.DataFrame({"image_id": stats.image_ids})
    frame = frame.merge(images.drop_duplicates("image_id"), on="image_id", how="left")
    if metadata is not None:
        table = metadata if isinstance(metadata, pd.DataFrame) else read_table(metadata)
        if "image_id" not in table.columns:
            raise InputError("--metadata needs an 'image_id' column to join on.")
        repeated = table["image_id"][table["image_id"].duplicated()].unique()[:5].tolist()
        if repeated:
            raise InputError(f"--metadata: image_id {repeated} appear more than once.")
        frame = frame.merge(table, on="image_id", how="left", suffixes=("", "_metadata"))
    return frame


def worst_first(stats: CaptionStats, captions: dict, predicted: dict) -> pd.DataFrame:
    """Per image: its scores, prediction and references, lowest CIDEr first (for the report)."""
    table = per_image_scores(stats)
    table["prediction"] = [predicted[k] for k in stats.image_ids]
    table["references"] = [" | ".join(captions[k]) for k in stats.image_ids]
    return table.sort_values("CIDEr", kind="stable").reset_index(drop=True)
