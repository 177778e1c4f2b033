"""metrics.json for captioning: COCO caption results + references in, DESIGN's shape out.

Predictions: COCO caption results, a JSON list of `{"image_id", "caption"}` with one caption per
image. References: a COCO captions file (`annotations` with `image_id` and `caption`, several per
image; `images` entries may carry metadata), or a CSV/Parquet table with an `image_id` column and
one or more `caption*` columns. Every reference image needs a prediction and every prediction a
reference image: anything else is an error that names the images, never a silent drop.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from vislab.errors import InputError
from vislab.evaluation.captioning import (
    NAMES,
    CaptionStats,
    caption_metrics,
    caption_stats,
    per_image_scores,
    tokenize,
)
from vislab.evaluation.image_groups import (
    groups_by_metadata,
    metric_entry,
    read_json,
    weights_stream,
)

CELLS_PER_CHUNK = 20_000_000


def load_references(path: str | Path) -> tuple[dict, pd.DataFrame]:
    """{image_id: [caption, ...]} and a table of the images (id + metadata), in file order."""
    path = Path(path)
    if path.suffix.lower() in (".csv", ".parquet", ".tsv"):
        return _references_from_table(path)
    dataset = read_json(path, "references")
    if not isinstance(dataset, dict) or "annotations" not in dataset:
        raise InputError(f"{path}: a COCO captions file needs 'annotations' (image_id, caption).")
    captions: dict = {}
    for index, item in enumerate(dataset["annotations"]):
        if "image_id" not in item or not isinstance(item.get("caption"), str):
            raise InputError(f"{path}: annotation {index} needs an image_id and a caption text.")
        captions.setdefault(item["image_id"], []).append(item["caption"])
    listed = pd.DataFrame(dataset.get("images", []))
    if "id" in listed.columns:
        missing = sorted(set(listed["id"]) - set(captions), key=str)
        if missing:
            raise InputError(f"{path}: {len(missing)} listed image(s) have no reference caption, "
                             f"e.g. {missing[:5]}; add captions or remove them from 'images'.")  # fmt: skip
        images = listed.rename(columns={"id": "image_id"})
    else:
        images = pd.DataFrame({"image_id": list(captions)})
    return captions, images


def _references_from_table(path: Path) -> tuple[dict, pd.DataFrame]:
    from vislab.data.sources import read_table

    table = read_table(path)
    columns = [c for c in table.columns if str(c).startswith("caption")]
    if "image_id" not in table.columns or not columns:
        raise InputError(f"{path}: a references table needs an image_id column and caption column(s) "
                         f"(caption, caption_2, ...). Columns: {list(table.columns)}.")  # fmt: skip
    if table["image_id"].duplicated().any():
        raise InputError(f"{path}: image_id repeats; put an image's captions in one row.")
    captions = {}
    for row in table.itertuples(index=False):
        texts = [getattr(row, c) for c in columns]
        texts = [t for t in texts if isinstance(t, str) and t.strip()]
        if not texts:
            raise InputError(f"{path}: image {row.image_id} has no caption text.")
        captions[row.image_id] = texts
    return captions, table.drop(columns=columns)


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
            raise InputError(f"{path}: image_id {item['image_id']} has more than one caption "
                             "(result {index}); keep one per image.".format(index=index))  # fmt: skip
        found[item["image_id"]] = item["caption"]
    unknown = [key for key in found if key not in references]
    if unknown:
        raise InputError(f"{path}: {len(unknown)} caption(s) for images not in the references, "
                         f"e.g. {unknown[:5]}.")  # fmt: skip
    missing = [key for key in references if key not in found]
    if missing:
        raise InputError(f"{path}: {len(missing)} reference image(s) have no predicted caption, "
                         f"e.g. {missing[:5]}.")  # fmt: skip
    return found


def prepare(predictions: str | Path, references: str | Path, bertscore_model: str | None = None,
            clip_model: str | None = None, images_folder: str | Path | None = None):  # fmt: skip
    """Tokenized captions' statistics, the image table, and the raw captions."""
    captions, images = load_references(references)
    predicted = load_predictions(predictions, captions)
    stats = caption_stats(tokenize(captions), tokenize({k: [predicted[k]] for k in captions}))
    if bertscore_model:
        from vislab.evaluation.bertscore import bertscore_f1

        stats.bertscore = bertscore_f1([predicted[k] for k in stats.image_ids],
                                       [captions[k] for k in stats.image_ids], bertscore_model)  # fmt: skip
    if clip_model:
        from vislab.evaluation.clipscore import clip_scores

        paths = image_paths(images, stats.image_ids, references, images_folder)
        stats.clipscore = clip_scores(paths, [predicted[k] for k in stats.image_ids], clip_model)
    return stats, images, captions, predicted


def image_paths(images: pd.DataFrame, image_ids: list, references, folder) -> list[str]:
    """Each image's file, from the references' file_name (or path) under `folder`."""
    column = (
        "file_name"
        if "file_name" in images.columns
        else "path"
        if "path" in images.columns
        else None
    )
    if column is None:
        raise InputError(f"{references}: CLIPScore needs each image's file: 'file_name' in the COCO "
                         "'images' list, or a 'path' column in the references table.")  # fmt: skip
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
    clip_model: str | None = None,
    images_folder: str | Path | None = None,
) -> dict:
    stats, images, _, _ = prepare(
        predictions, references, bertscore_model, clip_model, images_folder
    )
    result = metrics_json(stats, images, group_by, metadata, bootstrap, confidence, seed)
    result.update(
        {
            k: str(v)
            for k, v in (("bertscore_model", bertscore_model), ("clip_model", clip_model))
            if v
        }
    )
    return result


def metrics_json(stats: CaptionStats, images: pd.DataFrame, group_by: Sequence[str] = (), metadata=None,
                 bootstrap: int = 1000, confidence: float = 0.95, seed: int = 0) -> dict:  # fmt: skip
    count = len(stats.image_ids)
    per_chunk = max(1, CELLS_PER_CHUNK // max(count * 23, 1))

    def metrics_for(members: np.ndarray, stream_seed: int) -> tuple[dict, dict]:
        mask = np.zeros((1, count))
        mask[0, members] = 1.0
        point = caption_metrics(stats, mask)
        parts = [caption_metrics(stats, w)
                 for w in weights_stream(members, count, bootstrap, per_chunk, stream_seed)]  # fmt: skip
        draws = {key: np.concatenate([p[key] for p in parts]) for key in point} if parts else {}
        return point, draws

    point, draws = metrics_for(np.arange(count), seed)
    extra = (("BERTScore-F1", stats.bertscore), ("CLIPScore", stats.clipscore))
    names = [*NAMES, *(name for name, values in extra if values is not None)]
    result = {
        "task": "captioning",
        "n": count,
        "metrics": {
            name: metric_entry(point[name][0], draws.get(name), confidence) for name in names
        },
    }
    if group_by:
        frame = _image_metadata(stats, images, metadata)
        result["groups"], result["disparities"] = groups_by_metadata(
            frame, group_by, metrics_for, confidence, names
        )
    result["bootstrap"] = {"resamples": bootstrap, "confidence": confidence, "seed": seed,
                           "method": "percentile", "unit": "images",
                           "cider_document_frequencies": "whole reference set"}  # fmt: skip
    return result


def _image_metadata(stats: CaptionStats, images: pd.DataFrame, metadata) -> pd.DataFrame:
    """One row per evaluated image (in the statistics' order), metadata columns joined."""
    frame = pd.DataFrame({"image_id": stats.image_ids})
    frame = frame.merge(images.drop_duplicates("image_id"), on="image_id", how="left")
    if metadata is not None:
        from vislab.data.sources import read_table

        table = metadata if isinstance(metadata, pd.DataFrame) else read_table(metadata)
        if "image_id" not in table.columns:
            raise InputError("--metadata needs an 'image_id' column to join on.")
        frame = frame.merge(table, on="image_id", how="left", suffixes=("", "_metadata"))
    return frame


def worst_first(stats: CaptionStats, captions: dict, predicted: dict) -> pd.DataFrame:
    """Per image: its scores, prediction and references, lowest CIDEr first (for the report)."""
    table = per_image_scores(stats)
    table["prediction"] = [predicted[k] for k in stats.image_ids]
    table["references"] = [" | ".join(captions[k]) for k in stats.image_ids]
    return table.sort_values("CIDEr", kind="stable").reset_index(drop=True)
