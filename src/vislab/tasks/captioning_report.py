"""The captioning run's evaluation and report, CLIPScore, and `vislab explain` for captioners.

`evaluate_captioning_run` reads the run's predictions.json and references.json only, so the
end of training and `vislab evaluate RUN_DIR` give the same metrics.json and report.

Explanations: Grad-CAM on the captioner's vision encoder for the likelihood of the caption it
generated (the mean log-probability of its tokens given the image): which regions made the
model more sure of what it wrote.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from vislab.errors import InputError
from vislab.tasks.base import Run


def evaluate_captioning_run(task, run_dir: Path) -> dict:
    """metrics.json and report.html of a captioning run, from its saved files."""
    from vislab.data.captions import from_coco_captions
    from vislab.evaluation.captioning import metrics_json, prepare, worst_first
    from vislab.files import write_json
    from vislab.report.captioning_page import write_captioning_report
    from vislab.tasks.base import read_run

    config = read_run(run_dir).config
    predictions = run_dir / task.predictions_file
    if not predictions.is_file():
        raise InputError(
            f"{run_dir}: no {task.predictions_file}: is this a finished captioning run?"
        )
    settings = config.evaluate
    stats, images, references, predicted = prepare(
        predictions, run_dir / "references.json", settings.bertscore_model
    )
    metrics = metrics_json(
        stats,
        images,
        settings.group_by,
        None,
        settings.bootstrap,
        settings.confidence,
        settings.seed,
    )
    write_json(run_dir / "metrics.json", metrics)
    held_out = from_coco_captions(run_dir / "references.json")
    write_captioning_report(run_dir, metrics, worst_first(stats, references, predicted), held_out)
    return metrics


def clip_scorer(model: str):
    """(image paths, captions) -> CLIPScore per image, with the CLIP at `model`."""
    from vislab.data.images import read_image
    from vislab.evaluation.clipscore import caption_prompts, clip_scores
    from vislab.models.clip import image_embeddings, load_clip, text_embeddings

    clip = load_clip(model)

    def score(paths: list[str], captions: list[str], batch_size: int = 32) -> np.ndarray:
        parts = []
        for start in range(0, len(paths), batch_size):
            images = [read_image(p) for p in paths[start : start + batch_size]]
            texts = caption_prompts(captions[start : start + batch_size])
            parts.append(clip_scores(image_embeddings(clip, images), text_embeddings(clip, texts)))
        return np.concatenate(parts) if parts else np.zeros(0)

    return score


class CaptionLikelihood(torch.nn.Module):
    """pixel_values (1, 3, H, W) -> (1,) mean log-probability of a fixed caption's tokens."""

    def __init__(self, model, tokens: dict) -> None:
        super().__init__()
        self.model, self.tokens = model, tokens

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        ids, mask = self.tokens["input_ids"], self.tokens["attention_mask"]
        labels = ids.masked_fill(mask == 0, -100)
        output = self.model(
            pixel_values=pixel_values, input_ids=ids, attention_mask=mask, labels=labels
        )
        return (-output.loss).reshape(1)


def vision_layer(model) -> tuple[torch.nn.Module, int]:
    """The last encoder layer's first norm of the captioner's vision transformer, and the
    number of prefix tokens before the patch grid."""
    for path in ("vision_model", "git.image_encoder.vision_model"):
        vision = model
        for part in path.split("."):
            vision = getattr(vision, part, None)
        if vision is not None:
            return vision.encoder.layers[-1].layer_norm1, 1
    raise InputError(f"{type(model).__name__}: no vision transformer found to explain.")


def caption_map(
    model, processor, image: Image.Image, caption: str, method: str
) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) map in [0, 1] of the caption's likelihood, and the image as the model saw it."""
    from vislab.explanation.cam import _cam_class, token_grid

    pixels = processor(images=[image], return_tensors="pt")["pixel_values"].to(model.dtype)
    tokens = processor.tokenizer([caption], return_tensors="pt")
    wrapper = CaptionLikelihood(model.eval(), dict(tokens))
    layer, prefix = vision_layer(model)
    cam = _cam_class(method)(
        model=wrapper, target_layers=[layer], reshape_transform=token_grid(prefix)
    )
    with cam:
        heatmap = cam(input_tensor=pixels, targets=[lambda output: output])[0]
    mean = torch.tensor(processor.image_processor.image_mean).view(3, 1, 1)
    std = torch.tensor(processor.image_processor.image_std).view(3, 1, 1)
    shown = (pixels[0].float() * std + mean).clamp(0, 1).permute(1, 2, 0).numpy()
    return heatmap, shown


def explain_captions(task, run: Run, paths: list[Path], method: str, out: Path) -> pd.DataFrame:
    """`vislab explain` for a captioner: each image's caption and its likelihood's map."""
    from vislab.data.images import read_image
    from vislab.explanation.cam import overlay
    from vislab.files import write_atomic
    from vislab.models.captioners import generate_from_inputs, prepare_images
    from vislab.report.gallery import write_caption_explanations_page

    processor, settings = task.processor(run), run.config.model
    out.mkdir(parents=True, exist_ok=True)
    rows, overlays = [], []
    for index, path in enumerate(paths):
        image = read_image(path)
        inputs = prepare_images(processor, [image])
        caption = generate_from_inputs(
            run.model, processor, inputs, settings.num_beams, settings.max_new_tokens
        )[0]
        heatmap, shown = caption_map(run.model, processor, image, caption, method)
        picture = overlay(shown, heatmap)
        name = f"{index:04d}_{path.stem}_{method}.png"
        Image.fromarray(picture).save(out / name)
        overlays.append(picture)
        rows.append({"image": str(path), "overlay": name, "caption": caption})
    table = pd.DataFrame(rows)
    write_atomic(out / "explanations.csv", table.to_csv(index=False))
    write_caption_explanations_page(table, overlays, method, out)
    table.attrs["summary"] = [f"{r.image}: {r.caption}" for r in table.head(10).itertuples()]
    return table
