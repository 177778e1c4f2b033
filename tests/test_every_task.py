"""Every task through every verb: train (killed after an epoch, then resumed), evaluate RUN_DIR
(reproducing metrics.json), predict RUN_DIR and explain RUN_DIR — one shape for all tasks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import make_image_folder, tiny_config
from tests.printing import print_problems
from vislab.cli import run
from vislab.tasks import config_from_dict
from vislab.training import train

pytest.importorskip("av")


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    """The tiny sources and models every task's config below reads."""
    from tests.tasks.test_captioning import _coco_captions
    from vislab.data.shapes import make_shapes
    from vislab.data.videos import make_moving_shapes
    from vislab.models.tiny import save_tiny_blip, save_tiny_clip

    root = tmp_path_factory.mktemp("sources")
    images = make_image_folder(root / "images", per_class=8)
    return {
        "images": images,
        "shapes": make_shapes(root / "shapes", count=16, size=64, seed=3),
        "captions": _coco_captions(make_image_folder(root / "captioned", per_class=5)),
        "videos": make_moving_shapes(root / "videos", per_class=4, frames=12, size=32),
        "blip": save_tiny_blip(root / "blip"),
        "clip": save_tiny_clip(root / "clip"),
    }


def _config(task: str, sources: dict, out: Path) -> dict:
    train = {"epochs": 2, "lr": 0.003, "seed": 0}
    evaluate = {"bootstrap": 20}
    if task == "classification":
        return tiny_config(sources["images"], out, train=train, evaluate=evaluate)
    if task == "detection":
        return {
            "task": task,
            "output_dir": str(out),
            "model": {"backbone": "vislab:fcos_small"},
            "data": {
                "source": "coco",
                "root": str(sources["shapes"]),
                "image_size": 64,
                "batch_size": 4,
                "split": {"val": 0.2, "test": 0.25, "seed": 0},
            },
            "train": {**train, "optimizer": "sgd", "lr": 0.01},
            "evaluate": evaluate,
        }
    if task == "captioning":
        return {
            "task": task,
            "output_dir": str(out),
            "data": {
                "source": "coco",
                "root": str(sources["captions"]),
                "batch_size": 8,
                "augment": [],
                "split": {"val": 0.2, "test": 0.2, "seed": 0},
            },
            "model": {
                "backbone": "transformers:blip",
                "pretrained": str(sources["blip"]),
                "num_beams": 2,
                "max_new_tokens": 6,
            },
            "train": train,
            "evaluate": evaluate,
        }
    if task == "video":
        return {
            "task": task,
            "output_dir": str(out),
            "model": {"backbone": "torchvision:r3d_18"},
            "data": {
                "source": "manifest",
                "root": str(sources["videos"]),
                "image_size": 32,
                "frames": 4,
                "clips_per_video": 2,
                "batch_size": 4,
                "augment": ["flip"],
                "split": {"val": 0.25, "test": 0.25, "seed": 0},
            },
            "train": train,
            "evaluate": evaluate,
        }
    return {
        "task": task,
        "output_dir": str(out),
        "model": {"backbone": str(sources["clip"])},
        "data": {
            "source": "imagefolder",
            "root": str(sources["images"]),
            "augment": [],
            "split": {"val": 0.0, "test": 0.3, "seed": 0},
        },
        "evaluate": evaluate,
    }


def _items(task: str, sources: dict) -> list[str]:
    if task == "detection":
        return [str(p) for p in sorted((sources["shapes"].parent / "images").glob("*.png"))[:3]]
    if task == "captioning":
        return [str(sources["captions"].parent / "red")]
    if task == "video":
        return [str(sources["videos"].parent / "left")]
    return [str(sources["images"] / "red")]


def _crash_after_the_first_epoch(monkeypatch):
    import lightning as L

    import vislab.tasks.fitting as fitting

    class Crash(L.Callback):
        def on_train_epoch_start(self, trainer, module):
            if trainer.current_epoch == 1:  # epoch 0 finished and was checkpointed
                raise RuntimeError("simulated crash")

    make = fitting.make_trainer

    def with_crash(*args, **kwargs):
        trainer = make(*args, **kwargs)
        trainer.callbacks.append(Crash())
        return trainer

    monkeypatch.setattr(fitting, "make_trainer", with_crash)
    return make


TRAINED = ["classification", "detection", "captioning", "video"]


@pytest.mark.parametrize("task", [*TRAINED, "zero_shot", "linear_probe"])
def test_every_verb_on_a_run_of_every_task(
    task, sources, tmp_path, monkeypatch, capsys, any_browser
):
    if task == "captioning" and shutil.which("java") is None:
        pytest.skip("caption metrics need Java")
    config = config_from_dict(_config(task, sources, tmp_path / "runs"))
    if task in TRAINED:  # killed after one epoch, resumed: the run finishes in place
        original = _crash_after_the_first_epoch(monkeypatch)
        with pytest.raises(RuntimeError, match="simulated crash"):
            train(config, progress=False)
        run_dir = next((tmp_path / "runs").iterdir())
        assert (run_dir / "checkpoints" / "last.ckpt").is_file() and not (
            run_dir / "metrics.json"
        ).exists()
        monkeypatch.setattr("vislab.tasks.fitting.make_trainer", original)
        assert run(["train", "--resume", str(run_dir)]) == 0
        resumed = pd.read_csv(run_dir / "logs" / "resume-1" / "metrics.csv")
        assert sorted(resumed["epoch"].dropna().unique().astype(int)) == [1]
    else:
        run_dir = train(config, progress=False)
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [run_dir.name]  # one run, in place
    if any_browser is not None:  # the report prints on A4
        assert print_problems(any_browser, run_dir / "report.html") == []
    written = (run_dir / "metrics.json").read_text()
    (run_dir / "metrics.json").unlink()
    assert run(["evaluate", str(run_dir)]) == 0  # the saved predictions give the same file
    assert json.loads((run_dir / "metrics.json").read_text()) == json.loads(written)
    out = tmp_path / "new.csv"
    assert run(["predict", str(run_dir), *_items(task, sources), "--out", str(out)]) == 0
    assert len(pd.read_csv(out)) > 0
    method = "eigencam" if task == "detection" else "gradcam"
    maps = tmp_path / "maps"
    assert (
        run(
            [
                "explain",
                str(run_dir),
                *_items(task, sources)[:1],
                "--method",
                method,
                "--out",
                str(maps),
            ]
        )
        == 0
    )
    assert (maps / "explanations.html").is_file() and len(
        pd.read_csv(maps / "explanations.csv")
    ) > 0
    if any_browser is not None:
        assert print_problems(any_browser, maps / "explanations.html") == []
