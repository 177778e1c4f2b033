"""Zero-shot coding with CLIP: images into categories described in words, with no training.

Each class is described by a text (its name, or `name=a longer description`) put into prompt
templates; a class's embedding is the mean of its prompts' normalised text embeddings,
normalised again (prompt ensembling, Radford et al. 2021). An image's class scores are the
softmax of CLIP's scaled cosine similarities: a `ClipClassifier` whose head is the class
embeddings times CLIP's logit scale. As a `vislab train` config (`task: zero_shot`, the CLIP in
`model.backbone`, classes and templates in `zero_shot:`) every labelled image is evaluated
(the test split, unless the source has its own splits); `vislab zero-shot` codes any folder.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from vislab.config import ExperimentConfig
from vislab.data.prepare import TaskData
from vislab.errors import InputError
from vislab.tasks.clip_head import ClipHeadTask
from vislab.tasks.fitting import Fitted
from vislab.tasks.registry import register

TEMPLATES = (
    "a photo of a {}.",
    "a photo of the {}.",
    "a close-up photo of a {}.",
    "a blurry photo of a {}.",
    "a good photo of a {}.",
    "a cropped photo of a {}.",
    "a low resolution photo of a {}.",
)


@register
class ZeroShotTask(ClipHeadTask):
    name = "zero_shot"
    needs_training_split = False

    def prepare(self, config: ExperimentConfig) -> TaskData:
        """Every usable image is evaluated: all in the test split unless the source splits."""
        from vislab.data.prepare import prepare_items

        table, problems, digests = self.inspect(self.load_source(config.data))
        if "split" not in table.frame.columns or table.frame["split"].isna().all():
            table = table.with_frame(table.frame.assign(split="test"))
        return prepare_items(table, problems, digests, config.data, need_train=False)

    def preprocessing(self, config: ExperimentConfig, data: TaskData) -> dict:
        descriptions = describe(config.zero_shot.classes or data.classes)
        templates = list(config.zero_shot.templates or TEMPLATES)
        return {
            "classes": list(descriptions),
            "model": config.model.backbone,
            "descriptions": descriptions,
            "prompts": prompts_for(descriptions, templates),
        }

    def fit(self, config, data: TaskData, run_dir: Path, progress: bool, checkpoint=None) -> Fitted:
        record = self.preprocessing(config, data)
        return Fitted(zero_shot_model(self.clip(config), record["prompts"]))

    def report_sections(self, run) -> dict[str, str]:
        return {
            "Prompts (zero-shot)": prompts_html(
                run.config.model.backbone, run.preprocessing["prompts"]
            )
        }


def describe(classes: list[str]) -> dict[str, str]:
    """`name` or `name=description of the class`, in the order given."""
    descriptions = {}
    for item in classes:
        name, _, text = item.partition("=")
        descriptions[name.strip()] = (text or name).strip()
    if len(descriptions) < 2:
        raise InputError("zero-shot coding needs at least two classes to choose between.")
    return descriptions


def prompts_for(descriptions: dict[str, str], templates) -> dict[str, list[str]]:
    wrong = [t for t in templates if t.count("{}") != 1]
    if wrong:
        raise InputError(f"prompt templates need exactly one {{}} for the class text: {wrong[:3]}.")
    return {name: [t.format(text) for t in templates] for name, text in descriptions.items()}


def class_embeddings(clip, prompts: dict[str, list[str]]) -> np.ndarray:
    """(k, d): per class, the normalised mean of its prompts' normalised embeddings."""
    from vislab.models.clip import text_embeddings

    rows = []
    for texts in prompts.values():
        mean = text_embeddings(clip, texts).mean(axis=0)
        rows.append(mean / np.linalg.norm(mean))
    return np.stack(rows)


def zero_shot_model(clip, prompts: dict[str, list[str]]):
    """CLIP with a head whose rows are the classes' embeddings times CLIP's logit scale."""
    from vislab.models.clip import ClipClassifier, logit_scale

    return ClipClassifier(clip, logit_scale(clip) * class_embeddings(clip, prompts)).eval()


def zero_shot(
    clip, table, descriptions: dict[str, str], templates=TEMPLATES, batch_size: int = 32
) -> tuple[pd.DataFrame, dict]:
    """The predictions table (classes in `descriptions` order) and the prompts used."""
    from vislab.models.clip import logit_scale
    from vislab.predictions import predictions_frame
    from vislab.tasks.clip_head import class_probabilities

    prompts = prompts_for(descriptions, templates)
    probabilities = class_probabilities(zero_shot_model(clip, prompts), table, batch_size)
    record = {
        "model": clip.source,
        "templates": list(templates),
        "classes": descriptions,
        "prompts": prompts,
        "logit_scale": logit_scale(clip),
    }
    return predictions_frame(table.frame, list(descriptions), probabilities), record


def read_templates(templates_file: str | None) -> tuple[str, ...]:
    if not templates_file:
        return TEMPLATES
    lines = Path(templates_file).read_text().splitlines()
    return tuple(line.strip() for line in lines if line.strip())


def zero_shot_record(clip, model: str, descriptions: dict, templates, source) -> dict:
    """What made a zero-shot coding: the model, the classes, every prompt, versions."""
    from vislab.models.clip import logit_scale
    from vislab.runs import library_versions

    return {
        "model": model,
        "templates": list(templates),
        "classes": descriptions,
        "prompts": prompts_for(descriptions, templates),
        "logit_scale": logit_scale(clip),
        "source": str(source),
        "versions": library_versions(),
    }


def code_images(source, model: str, classes, templates_file, out, settings):
    """`vislab zero-shot`: folders, image files or a manifest, coded by a CLIP (a folder or
    name) into classes (default: the labels) through the collection engine into `out`.
    Returns (Outcome, record: model, prompts, versions)."""
    from vislab.data.images import IMAGE_SUFFIXES
    from vislab.engine.run import run_job
    from vislab.engine.sources import list_source
    from vislab.models.clip import load_clip, pixel_transform
    from vislab.progress import note
    from vislab.tasks.jobs import ClassScores, ImageJob, ImageReader, model_identity

    clip = load_clip(model)
    note(f"listing {', '.join(map(str, source))}")
    listing = list_source(list(source), set(IMAGE_SUFFIXES), folder_labels=True)
    descriptions = describe(classes or _labels(listing.frame))
    templates = read_templates(templates_file)
    record = zero_shot_record(clip, model, descriptions, templates, ", ".join(map(str, source)))
    scores = ClassScores(zero_shot_model(clip, record["prompts"]), list(descriptions))
    job = ImageJob(scores, list(descriptions), ImageReader(pixel_transform(clip)))
    job.what = "zero-shot"
    identity = {"command": "zero-shot", **model_identity(model), "prompts": record["prompts"]}
    record["n"] = len(listing.frame)
    return run_job(job, listing, out, settings, identity), record


def _labels(frame: pd.DataFrame) -> list[str]:
    if "label" not in frame.columns or frame["label"].isna().all():
        raise InputError(
            "zero-shot coding: no classes given and the source has no labels: give --class "
            "name (or name=description) for each class."
        )
    return sorted(frame["label"].dropna().astype(str).unique())


def from_embeddings(embeddings, model: str, classes, templates_file) -> tuple[pd.DataFrame, dict]:
    """Zero-shot coding of a collection encoded once (`vislab embed`'s file or folder of
    shards, made with the same model): the image embeddings against the classes' prompts."""
    from vislab.models.clip import load_clip, logit_scale
    from vislab.predictions import predictions_frame, read_embeddings

    frame, vectors = read_embeddings(embeddings)
    clip = load_clip(model)
    descriptions = describe(classes or _labels(frame))
    templates = read_templates(templates_file)
    record = zero_shot_record(clip, model, descriptions, templates, embeddings)
    texts = class_embeddings(clip, record["prompts"])
    if texts.shape[1] != vectors.shape[1]:
        raise InputError(
            f"{embeddings}: embeddings of {vectors.shape[1]} dimensions, but {model} makes "
            f"{texts.shape[1]}: give the model the collection was embedded with."
        )
    logits = logit_scale(clip) * vectors.astype(np.float64) @ texts.T.astype(np.float64)
    logits -= logits.max(axis=1, keepdims=True)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    record["n"] = len(frame)
    return predictions_frame(frame, list(descriptions), probabilities), record


def prompts_html(model: str, prompts: dict[str, list[str]]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td>"
        f'<td class="text">{"<br>".join(map(html.escape, texts))}</td></tr>'
        for name, texts in prompts.items()
    )
    return (
        f"<p>Model: <code>{html.escape(str(model))}</code>. Each class's embedding is the "
        "normalised mean of its prompts' embeddings.</p>"
        f"<table><tr><th>class</th><th>prompts</th></tr>{rows}</table>"
    )


def write_zero_shot_report(
    folder, predictions: pd.DataFrame, record: dict, group_by=(), bootstrap: int = 1000
) -> dict:
    """metrics.json and report.html for labelled images: the classification report plus the
    prompts. `folder` must be new (an earlier report is never overwritten)."""
    from vislab.data.images import read_image
    from vislab.evaluation.classification import evaluate_classification
    from vislab.files import write_json
    from vislab.report.html import write_run_report

    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise InputError(
            f"{folder}: the folder exists and is not empty; choose a new --report folder."
        )
    unlabelled = (
        predictions["label"].isna() if "label" in predictions.columns else pd.Series([True])
    )
    if unlabelled.any():
        raise InputError(
            "--report needs a label for every image (an image folder by class, or a "
            "manifest with a label column); without labels, the CSV is the result."
        )
    folder.mkdir(parents=True, exist_ok=True)
    metrics = evaluate_classification(predictions, list(group_by), bootstrap)
    write_json(folder / "metrics.json", metrics)
    write_json(folder / "environment.json", record)
    paths = dict(zip(predictions["id"], predictions["path"], strict=True))
    sections = {"Prompts (zero-shot)": prompts_html(record["model"], record["prompts"])}
    write_run_report(
        folder, metrics, predictions, lambda image_id: read_image(paths[image_id]), sections
    )
    return metrics
