"""Zero-shot coding with CLIP: images into categories described in words, with no training.

Each class is described by a text (its name, or a longer description) put into prompt
templates; a class's embedding is the mean of its prompts' normalised text embeddings,
normalised again (prompt ensembling, Radford et al. 2021). An image's class scores are the
softmax of CLIP's scaled cosine similarities. The output is vislab's predictions table, which
`vislab evaluate classification` (intervals, groups, fairness) reads as it is.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vislab.data.sources import SampleTable
from vislab.errors import InputError
from vislab.multimodal.clip import Clip, logit_scale, text_embeddings
from vislab.multimodal.embed import embed_table
from vislab.prediction import predictions_frame

TEMPLATES = (
    "a photo of a {}.",
    "a photo of the {}.",
    "a close-up photo of a {}.",
    "a blurry photo of a {}.",
    "a good photo of a {}.",
    "a cropped photo of a {}.",
    "a low resolution photo of a {}.",
)


def prompts_for(descriptions: dict[str, str], templates: tuple[str, ...] | list[str]) -> dict[str, list[str]]:  # fmt: skip
    wrong = [t for t in templates if t.count("{}") != 1]
    if wrong:
        raise InputError(f"prompt templates need exactly one {{}} for the class text: {wrong[:3]}.")
    return {name: [t.format(text) for t in templates] for name, text in descriptions.items()}


def class_embeddings(clip: Clip, prompts: dict[str, list[str]]) -> np.ndarray:
    """(k, d): per class, the normalised mean of its prompts' normalised embeddings."""
    rows = []
    for texts in prompts.values():
        mean = text_embeddings(clip, texts).mean(axis=0)
        rows.append(mean / np.linalg.norm(mean))
    return np.stack(rows)


def zero_shot(clip: Clip, table: SampleTable, descriptions: dict[str, str],
              templates=TEMPLATES, batch_size: int = 32) -> tuple[pd.DataFrame, dict]:  # fmt: skip
    """The predictions table (classes in `descriptions` order) and the prompts used."""
    if len(descriptions) < 2:
        raise InputError("zero-shot coding needs at least two classes to choose between.")
    prompts = prompts_for(descriptions, templates)
    classes = class_embeddings(clip, prompts)
    logits = logit_scale(clip) * embed_table(clip, table, batch_size) @ classes.T
    logits -= logits.max(axis=1, keepdims=True)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    named = SampleTable(table.frame, list(descriptions), table.read, table.description)
    record = {"model": clip.source, "templates": list(templates), "classes": descriptions,
              "prompts": prompts, "logit_scale": logit_scale(clip)}  # fmt: skip
    return predictions_frame(named, probabilities), record


def code_images(source: str, model: str, classes: list[str] | None = None,
                templates_file: str | None = None, batch_size: int = 32) -> tuple[pd.DataFrame, dict]:  # fmt: skip
    """`vislab zero-shot`: a folder or manifest, a CLIP folder/name, classes (default: the labels)."""
    from vislab.multimodal.clip import load_clip
    from vislab.multimodal.embed import readable_source
    from vislab.runs import library_versions

    table = readable_source(source)
    descriptions = _descriptions(classes or table.classes)
    templates = TEMPLATES
    if templates_file:
        from pathlib import Path

        templates = tuple(
            line.strip() for line in Path(templates_file).read_text().splitlines() if line.strip()
        )
    predictions, record = zero_shot(load_clip(model), table, descriptions, templates, batch_size)
    record.update(source=str(source), n=len(table), versions=library_versions())
    return predictions, record


def _descriptions(classes: list[str]) -> dict[str, str]:
    """`name` or `name=description of the class`, in the order given."""
    descriptions = {}
    for item in classes:
        name, _, text = item.partition("=")
        descriptions[name.strip()] = (text or name).strip()
    return descriptions


def write_zero_shot_report(folder, predictions: pd.DataFrame, record: dict, group_by=(), bootstrap: int = 1000) -> dict:  # fmt: skip
    """metrics.json and report.html for labelled images: the classification report plus the
    prompts. `folder` must be new (an earlier report is never overwritten)."""
    import html
    from pathlib import Path

    from vislab.data.images import read_image
    from vislab.evaluation.evaluate import evaluate
    from vislab.report.html import write_run_report
    from vislab.runs import write_json

    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise InputError(
            f"{folder}: the folder exists and is not empty; choose a new --report folder."
        )
    unlabelled = (
        predictions["label"].isna() if "label" in predictions.columns else pd.Series([True])
    )
    if unlabelled.any():
        raise InputError("--report needs a label for every image (an image folder by class, or a "
                         "manifest with a label column); without labels, the CSV is the result.")  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    metrics = evaluate("classification", predictions, None, list(group_by), bootstrap)
    write_json(folder / "metrics.json", metrics)
    write_json(folder / "environment.json", record)
    rows = "".join(f"<tr><td>{html.escape(name)}</td><td>{'<br>'.join(html.escape(t) for t in texts)}</td></tr>"
                   for name, texts in record["prompts"].items())  # fmt: skip
    prompts = (f"<p>Model: <code>{html.escape(str(record['model']))}</code>. Each class's embedding is the "
               f"normalised mean of its prompts' embeddings.</p><table><tr><th>class</th><th>prompts</th></tr>{rows}</table>")  # fmt: skip
    paths = dict(zip(predictions["id"], predictions["path"], strict=True))  # the report reads by id
    write_run_report(folder, metrics, predictions, lambda image_id: read_image(paths[image_id]),
                     extra_sections={"Prompts (zero-shot)": prompts})  # fmt: skip
    return metrics
