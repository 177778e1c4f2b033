"""The coding page's sample (photos, a codebook, a drawn sample), shared by the coding and the
adjudication pages' tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vislab.cli import run


def _photos(folder: Path, count: int) -> pd.DataFrame:
    """Crops of scikit-learn's two sample photos (a temple, a flower) and a model's labels."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    folder.mkdir(parents=True, exist_ok=True)
    temple, flower = load_sample_images().images
    rng = np.random.default_rng(0)
    rows = []
    for i in range(count):
        truth = "flower" if i % 3 else "temple"
        photo = flower if truth == "flower" else temple
        top, left = rng.integers(0, 120), rng.integers(0, 240)
        name = f"photo_{i:02d}.jpg"
        Image.fromarray(photo[top : top + 300, left : left + 400]).save(folder / name)
        said = truth if rng.random() < 0.8 else ("temple" if truth == "flower" else "flower")
        score = rng.uniform(0.55, 0.99)
        rows.append(
            {
                "id": name,
                "path": str(folder / name),
                "prediction": said,
                f"score_{said}": score,
                "truth": truth,
            }
        )
    frame = pd.DataFrame(rows).fillna({"score_flower": 0.0, "score_temple": 0.0})
    frame["score_flower"] = np.where(
        frame["prediction"] == "flower", frame["score_flower"], 1 - frame["score_temple"]
    )
    frame["score_temple"] = 1 - frame["score_flower"]
    return frame


def _codebook(folder: Path, photos: pd.DataFrame) -> Path:
    first = {k: photos.loc[photos["truth"] == k, "path"].iloc[0] for k in ("flower", "temple")}
    book = {
        "codes": [
            {
                "name": "flower",
                "definition": "A flower fills most of the image.",
                "examples": [first["flower"]],
            },
            {
                "name": "temple",
                "definition": "A building, roof or wall of a temple is visible.",
                "examples": [first["temple"]],
            },
        ]
    }
    path = folder / "codebook.yaml"
    path.write_text(json.dumps(book))  # JSON is YAML
    return path


@pytest.fixture
def coding_page(tmp_path):
    photos = _photos(tmp_path / "photos", 24)
    photos.drop(columns="truth").to_csv(tmp_path / "collection.csv", index=False)
    command = ["validation-sample", str(tmp_path / "collection.csv"), "--size", "12"]
    command += ["--coders", "ana,ben", "--codebook", str(_codebook(tmp_path, photos))]
    assert run([*command, "--out", str(tmp_path / "validation"), "--quiet"]) == 0
    key = pd.read_csv(tmp_path / "validation" / "sample.csv")
    truth = key.set_index("item")["id"].map(photos.set_index("id")["truth"])
    return tmp_path, truth
