"""Maps of what a classifier looked at for a batch of images, with their faithfulness.

`explain_batch` gives, per image, the map of the method for the target class (predicted, true
or named), its overlay on the image as the model saw it, and ROAD scores for the map and for a
random map (the baseline a method must beat). `vislab explain` and the report's gallery call
it with a run's model and the run's own preprocessing.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import v2

from vislab.data.transforms import eval_transform, unnormalized_eval_steps
from vislab.errors import InputError
from vislab.explanation.cam import class_maps, overlay, random_maps, road_scores


def prepare(
    images: list[Image.Image], image_size: int, mean, std
) -> tuple[torch.Tensor, list[np.ndarray]]:
    """Model inputs (B, 3, H, W) and the same crops for display, (H, W, 3) in [0, 1]."""
    normalize = eval_transform(image_size, mean, std)
    display = v2.Compose(unnormalized_eval_steps(image_size))
    inputs = torch.stack([normalize(image) for image in images])
    return inputs, [display(image).permute(1, 2, 0).numpy() for image in images]


def resolve_targets(
    target: str, probabilities: np.ndarray, classes: list[str], labels: list[str | None]
) -> list[int]:
    if target == "predicted":
        return probabilities.argmax(axis=1).tolist()
    if target == "true":
        missing = [i for i, label in enumerate(labels) if label not in classes]
        if missing:
            raise InputError(
                f"--target true: no known label for image(s) {missing[:5]}; the label is read from "
                "the run's predictions.csv or the image's folder name."
            )
        return [classes.index(label) for label in labels]
    if target not in classes:
        raise InputError(f"--target '{target}' is not a class. Classes: {', '.join(classes)}.")
    return [classes.index(target)] * len(probabilities)


def explain_batch(
    model,
    inputs: torch.Tensor,
    shown: list[np.ndarray],
    classes: list[str],
    method: str,
    target: str = "predicted",
    labels: list[str | None] | None = None,
    faithfulness: bool = True,
) -> dict:
    """Maps, overlays, probabilities and ROAD scores (the method's and a random map's) for
    model inputs (B, 3, H, W) and the same images for display (H, W, 3) in [0, 1]."""
    with torch.no_grad():
        probabilities = torch.softmax(model.eval()(inputs).float(), dim=1).numpy()
    targets = resolve_targets(target, probabilities, classes, labels or [None] * len(inputs))
    maps = class_maps(model, inputs, targets, method)
    result = {
        "targets": targets,
        "probabilities": probabilities,
        "overlays": [overlay(image, heatmap) for image, heatmap in zip(shown, maps, strict=True)],
    }
    if faithfulness:  # ROAD imputes with noise: seeded, so a report's numbers reproduce
        with torch.random.fork_rng():
            torch.manual_seed(0)
            result["road"] = road_scores(model, inputs, maps, targets)
            result["road_random"] = road_scores(model, inputs, random_maps(inputs), targets)
    return result
