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
