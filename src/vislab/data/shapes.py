"""Generated images of shapes with known boxes: the offline detection dataset.

Each image has a light or dark textured background (`background` metadata, for group analysis)
and 1-4 shapes — circle, square, triangle — of random colour and size; their boxes are exact.
Written as a COCO instances file beside an image folder, the format most detection data has.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from vislab.errors import InputError
from vislab.files import write_atomic

SHAPES = ("circle", "square", "triangle")


def draw_image(
    rng: np.random.Generator, size: int
) -> tuple[Image.Image, list[tuple[str, list[float]]], str]:
    background = "dark" if rng.random() < 0.5 else "light"
    base = 40 if background == "dark" else 200
    pixels = np.clip(base + rng.normal(0, 18, (size, size, 3)), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    canvas = ImageDraw.Draw(image)
    objects = []
    for _ in range(int(rng.integers(1, 5))):
        kind = SHAPES[int(rng.integers(0, 3))]
        side = float(rng.uniform(0.15, 0.4) * size)
        x, y = rng.uniform(0, size - side, 2)
        colour = (
            tuple(int(c) for c in rng.integers(60, 256, 3))
            if background == "dark"
            else tuple(int(c) for c in rng.integers(0, 180, 3))
        )
        box = [float(x), float(y), float(x + side), float(y + side)]
        if kind == "circle":
            canvas.ellipse(box, fill=colour)
        elif kind == "square":
            canvas.rectangle(box, fill=colour)
        else:
            canvas.polygon([(x, y + side), (x + side, y + side), (x + side / 2, y)], fill=colour)
        objects.append((kind, box))
    return image, objects, background


def make_shapes(out: str | Path, count: int = 400, size: int = 128, seed: int = 0) -> Path:
    """Write `out/images/*.png` and `out/instances.json` (COCO); returns the JSON's path."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise InputError(f"{out}: the folder exists and is not empty; choose a new --out folder.")
    (out / "images").mkdir(parents=True)
    rng = np.random.default_rng(seed)
    categories = [{"id": k + 1, "name": name} for k, name in enumerate(SHAPES)]
    images, annotations = [], []
    for index in range(count):
        image, objects, background = draw_image(rng, size)
        name = f"{index:05d}.png"
        image.save(out / "images" / name)
        images.append(
            {
                "id": index + 1,
                "file_name": f"images/{name}",
                "width": size,
                "height": size,
                "background": background,
            }
        )
        for kind, (x1, y1, x2, y2) in objects:
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": index + 1,
                    "category_id": SHAPES.index(kind) + 1,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": 0,
                }
            )
    dataset = {"images": images, "annotations": annotations, "categories": categories}
    return write_atomic(out / "instances.json", json.dumps(dataset))
