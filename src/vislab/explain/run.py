"""`vislab explain`: maps for images with a run's model, and the report's explanation gallery."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torchvision.transforms import v2

from vislab.data.transforms import eval_transform, unnormalized_eval_steps
from vislab.errors import InputError
from vislab.explain.cam import class_maps, overlay, random_maps, road_scores


def prepare(
    images: list[Image.Image], preprocessing: dict
) -> tuple[torch.Tensor, list[np.ndarray]]:
    """Model inputs (B, 3, H, W) and the same crops for display, (H, W, 3) in [0, 1]."""
    size = preprocessing["image_size"]
    normalize = eval_transform(size, preprocessing["mean"], preprocessing["std"])
    display = v2.Compose(unnormalized_eval_steps(size))
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


def explain_batch(model, images: list[Image.Image], preprocessing: dict, method: str, target="predicted",
                  labels=None, faithfulness: bool = True) -> dict:  # fmt: skip
    """Maps, overlays, probabilities and ROAD scores (the method's and a random map's)."""
    inputs, shown = prepare(images, preprocessing)
    with torch.no_grad():
        probabilities = torch.softmax(model.eval()(inputs), dim=1).numpy()
    classes = preprocessing["classes"]
    targets = resolve_targets(target, probabilities, classes, labels or [None] * len(images))
    maps = class_maps(model, inputs, targets, method)
    result = {
        "targets": targets,
        "probabilities": probabilities,
        "overlays": [overlay(image, heatmap) for image, heatmap in zip(shown, maps, strict=True)],
    }
    if faithfulness:
        result["road"] = road_scores(model, inputs, maps, targets)
        result["road_random"] = road_scores(model, inputs, random_maps(inputs), targets)
    return result


def explain_run(run_dir: str | Path, images: list[str | Path], method: str = "gradcam",
                target: str = "predicted", out: str | Path = "explanations") -> pd.DataFrame:  # fmt: skip
    """Write an overlay per image, explanations.csv and explanations.html into `out`."""
    from vislab.prediction import _expand, load_run_model
    from vislab.runs import read_json, write_atomic

    record = Path(run_dir) / "preprocessing.json"
    if record.is_file() and read_json(record).get("task") == "detection":
        from vislab.explain.detection import explain_detection_run

        return explain_detection_run(run_dir, images, method, out)
    model, preprocessing, _ = load_run_model(run_dir)
    paths = _expand(images)
    labels = _known_labels(Path(run_dir), paths, preprocessing["classes"])
    from vislab.data.images import read_image

    result = explain_batch(
        model, [read_image(p) for p in paths], preprocessing, method, target, labels
    )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    classes = preprocessing["classes"]
    rows = []
    for i, path in enumerate(paths):
        name = f"{i:04d}_{path.stem}_{method}.png"
        Image.fromarray(result["overlays"][i]).save(out / name)
        rows.append({
            "image": str(path), "overlay": name, "target": classes[result["targets"][i]],
            "prediction": classes[int(result["probabilities"][i].argmax())],
            "probability": float(result["probabilities"][i].max()),
            "road": float(result["road"][i]), "road_random_map": float(result["road_random"][i]),
        })  # fmt: skip
    table = pd.DataFrame(rows)
    write_atomic(out / "explanations.csv", table.to_csv(index=False))
    from vislab.report.gallery import write_explanations_page

    write_explanations_page(table, result["overlays"], method, out)
    return table


def _known_labels(run_dir: Path, paths: list[Path], classes: list[str]) -> list[str | None]:
    """A label per image: from the run's predictions.csv (by path), else its folder's name."""
    known: dict[str, str] = {}
    predictions = run_dir / "predictions.csv"
    if predictions.is_file():
        table = pd.read_csv(predictions, usecols=lambda c: c in ("path", "label"))
        if {"path", "label"} <= set(table.columns):
            known = dict(zip(table["path"].astype(str), table["label"].astype(str), strict=True))
    labels = []
    for path in paths:
        label = known.get(str(path.resolve()))
        labels.append(
            label
            if label is not None
            else (path.parent.name if path.parent.name in classes else None)
        )
    return labels
