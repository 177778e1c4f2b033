"""Shared fixtures: tiny generated image folders and manifests, configs that train in seconds."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from vislab.models.yolo import quiet_ultralytics

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a hub look-up fails at once instead of retrying
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
pytest_plugins = ["tests.printing"]  # the `browser` fixture: Chromium through selenium
quiet_ultralytics()  # ultralytics: settings in a temp folder (not the home folder), offline, quiet

COLORS = {"red": (200, 40, 40), "green": (40, 180, 60), "blue": (40, 60, 200)}


def colored_image(color: tuple[int, int, int], seed: int, size: int = 24) -> Image.Image:
    """A noisy image whose dominant colour is the class: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(-40, 40, size=(size, size, 3))
    pixels = np.clip(np.array(color)[None, None, :] + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels)


def make_image_folder(root: Path, per_class: int = 12, classes=("red", "green", "blue")) -> Path:
    for k, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            colored_image(COLORS[name], seed=k * 1000 + i).save(folder / f"{name}_{i:03d}.png")
    return root


@pytest.fixture(autouse=True)
def _not_quiet(monkeypatch):
    """Each test starts as a fresh shell does: a --quiet that an earlier test's command set
    (VISLAB_QUIET, in this process's environment) is gone, and so is this test's after it."""
    monkeypatch.delenv("VISLAB_QUIET", raising=False)


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    return make_image_folder(tmp_path / "images")


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    """A CSV manifest with relative paths, labels and two metadata columns."""
    folder = make_image_folder(tmp_path / "data" / "images", per_class=12)
    rows = []
    for i, path in enumerate(sorted(folder.rglob("*.png"))):
        rows.append(
            {
                "path": path.relative_to(tmp_path / "data").as_posix(),
                "label": path.parent.name,
                "site": "north" if i % 2 else "south",
                "photographer": f"p{i % 6}",
            }
        )
    manifest = tmp_path / "data" / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest


def tiny_config(root: Path, out: Path, **sections) -> dict:
    """A config dict that trains `test_resnet` on 32 px images in a few seconds."""
    config = {
        "task": "classification",
        "output_dir": str(out),
        "data": {
            "source": "imagefolder",
            "root": str(root),
            "image_size": 32,
            "batch_size": 8,
            "augment": ["flip"],
            "crop_scale": [0.8, 1.0],
            "split": {"val": 0.2, "test": 0.2, "seed": 0},
        },
        "model": {"backbone": "test_resnet"},
        "train": {"epochs": 2, "lr": 0.003, "seed": 0},
        "evaluate": {"bootstrap": 50},
    }
    for section, values in sections.items():
        if isinstance(values, dict):
            config.setdefault(section, {}).update(values)
        else:
            config[section] = values
    return config


def write_config(path: Path, config: dict) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """One finished tiny run (manifest, groups, gallery), shared by the tests that only read it."""
    from vislab.tasks import config_from_dict
    from vislab.training import train

    root = tmp_path_factory.mktemp("trained")
    folder = make_image_folder(root / "data" / "images", per_class=12)
    rows = [
        {
            "path": p.relative_to(root / "data").as_posix(),
            "label": p.parent.name,
            "site": "north" if i % 2 else "south",
        }
        for i, p in enumerate(sorted(folder.rglob("*.png")))
    ]
    pd.DataFrame(rows).to_csv(root / "data" / "manifest.csv", index=False)
    config = tiny_config(
        root / "data" / "manifest.csv",
        root / "runs",
        data={"source": "manifest"},
        evaluate={"group_by": ["site"], "bootstrap": 50},
    )
    return train(config_from_dict(config), progress=False)


def train_in_two_processes(config: dict, cwd: Path) -> Path:
    """`vislab train` with DDP over 2 CPU processes (gloo), launched by Lightning as on GPUs;
    the one run directory both processes wrote."""
    import os
    import subprocess
    import sys

    config = {**config, "train": {**config["train"], "accelerator": "cpu", "devices": 2}}
    config["train"]["strategy"] = "ddp"
    path = write_config(cwd / "ddp.yaml", config)
    env = {k: v for k, v in os.environ.items() if k != "VISLAB_RUN_DIR"}
    command = [sys.executable, "-m", "vislab.cli", "train", str(path)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, cwd=cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = list(Path(config["output_dir"]).iterdir())
    assert len(runs) == 1, runs  # one run directory for both processes
    return runs[0]
