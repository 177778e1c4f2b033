"""`vislab train` for captioning: a saved tiny BLIP fine-tuned offline, evaluated and reported."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from vislab.cli import run
from vislab.errors import ConfigError
from vislab.models.tiny import save_tiny_blip
from vislab.tasks import config_from_dict
from vislab.training import train

pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="caption metrics need Java")


def _coco_captions(image_folder):
    files = sorted(image_folder.rglob("*.png"))
    images = [
        {"id": i, "file_name": str(p.relative_to(image_folder)), "setting": "a" if i % 2 else "b"}
        for i, p in enumerate(files)
    ]
    annotations = [
        {"image_id": i, "caption": f"a {p.parent.name} square"} for i, p in enumerate(files)
    ]
    annotations += [
        {"image_id": i, "caption": f"a small {p.parent.name} square"} for i, p in enumerate(files)
    ]
    path = image_folder / "captions.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations}))
    return path


def _config(captions, model, out, **train_options):
    return {
        "task": "captioning",
        "output_dir": str(out),
        "data": {
            "source": "coco",
            "root": str(captions),
            "batch_size": 8,
            "augment": ["color_jitter"],
            "split": {"val": 0.2, "test": 0.2, "seed": 0},
        },
        "model": {
            "backbone": "transformers:blip",
            "pretrained": str(model),
            "num_beams": 2,
            "max_new_tokens": 6,
        },
        "train": {
            "epochs": 3,
            "lr": 0.003,
            "optimizer": "adamw",
            "weight_decay": 0.0,
            **train_options,
        },
        "evaluate": {"bootstrap": 20, "group_by": ["setting"]},
    }


def test_blip_fine_tunes_and_the_run_is_a_captioner(image_folder, tmp_path):
    model = save_tiny_blip(tmp_path / "blip")
    run_dir = train(
        config_from_dict(_config(_coco_captions(image_folder), model, tmp_path / "runs")),
        progress=False,
    )
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["task"] == "captioning" and metrics["n"] == len(
        json.loads((run_dir / "predictions.json").read_text())
    )
    assert set(metrics["groups"]["setting"]) == {"a", "b"}
    report = (run_dir / "report.html").read_text()
    assert "Lowest-scored captions" in report and report.count("data:image/png;base64,") >= 3
    log = pd.read_csv(run_dir / "logs" / "metrics.csv")
    losses = log["train_loss_epoch"].dropna().to_numpy()
    assert losses[-1] < losses[0]  # fine-tuning learns the captions
    (
        run_dir / "metrics.json"
    ).unlink()  # vislab evaluate RUN_DIR evaluates the saved captions again
    assert run(["evaluate", str(run_dir)]) == 0
    assert json.loads((run_dir / "metrics.json").read_text())["metrics"] == metrics["metrics"]
    out = tmp_path / "again.json"  # the run directory is a transformers folder: caption with it
    assert (
        run(
            [
                "caption",
                str(image_folder / "red"),
                "--model",
                str(run_dir),
                "--beams",
                "2",
                "--max-length",
                "6",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert len(json.loads(out.read_text())) == 12
    # the collection engine captions as the run's own prediction path does
    from vislab.prediction import predict

    images = sorted((image_folder / "red").glob("*.png"))
    reference, _, _ = predict(run_dir, images)
    engine = tmp_path / "engine.json"
    assert run(["predict", str(run_dir), str(image_folder / "red"), "--out", str(engine)]) == 0
    found = json.loads(engine.read_text())
    assert [r["image_id"] for r in found] == [str(p) for p in images]
    assert [r["caption"] for r in found] == reference["caption"].tolist()
    shards = tmp_path / "captions"
    assert run(["predict", str(run_dir), str(image_folder / "red"), "--out", str(shards)]) == 0
    assert pd.read_parquet(shards)["caption"].tolist() == reference["caption"].tolist()


def test_captioning_config_errors(image_folder, tmp_path):
    raw = _config(_coco_captions(image_folder), tmp_path, tmp_path)
    with pytest.raises(ConfigError, match="captioning needs an image-to-text model"):
        config_from_dict({**raw, "model": {**raw["model"], "backbone": "resnet18"}})
    with pytest.raises(ConfigError, match="cannot be used for captioning"):
        config_from_dict({**raw, "data": {**raw["data"], "augment": ["autoaugment"]}})
    with pytest.raises(ConfigError, match="fine-tunes a pretrained model"):
        train(
            config_from_dict({**raw, "model": {**raw["model"], "pretrained": "none"}}),
            progress=False,
        )


@pytest.mark.skipif(shutil.which("java") is None, reason="the run's metrics need Java")
def test_captioning_ddp_with_two_cpu_processes(image_folder, tmp_path):
    from tests.conftest import train_in_two_processes

    model = save_tiny_blip(tmp_path / "blip")
    config = _config(_coco_captions(image_folder), model, tmp_path / "runs", epochs=1)
    run_dir = train_in_two_processes(config, tmp_path)
    log = pd.read_csv(run_dir / "logs" / "metrics.csv")
    # 22 training images with 2 captions each: 22 pairs per process, 3 batches of 8 (one: 6)
    assert log["step"].max() + 1 == 3
    captions = json.loads((run_dir / "predictions.json").read_text())
    ids = [c["image_id"] for c in captions]  # each held-out image once, from both processes
    assert len(ids) == len(set(ids)) == json.loads((run_dir / "metrics.json").read_text())["n"]
