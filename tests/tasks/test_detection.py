"""`vislab train` for detection: every torchvision family trains offline and is evaluated."""

from __future__ import annotations

import contextlib
import io
import json

import pytest
import torch
from pycocotools.coco import COCO

from tests.conftest import write_config
from vislab.cli import run
from vislab.data.shapes import make_shapes
from vislab.errors import ConfigError
from vislab.tasks import config_from_dict
from vislab.training import train


def repredicted(run_dir):
    """The run's held-out images predicted again from its own files, as COCO results."""
    import pandas as pd

    from vislab.prediction import predict
    from vislab.tasks.detection import coco_results

    images = pd.read_csv(run_dir / "images.csv")
    predictions, _, table = predict(run_dir, images["path"].tolist())
    return coco_results(predictions, table, numbered=True)


def _config(root, out, backbone, **train_options):
    return {
        "task": "detection",
        "output_dir": str(out),
        "data": {
            "source": "coco",
            "root": str(root),
            "image_size": 64,
            "batch_size": 4,
            "augment": ["flip", "zoom_out", "iou_crop", "color_jitter"],
            "split": {"val": 0.2, "test": 0.25, "seed": 0},
        },
        "model": {"backbone": backbone},
        "train": {
            "epochs": 1,
            "lr": 0.005,
            "optimizer": "sgd",
            "limit_train_batches": 2,
            **train_options,
        },
        "evaluate": {"bootstrap": 20, "group_by": ["background"]},
    }


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return make_shapes(tmp_path_factory.mktemp("shapes") / "data", count=16, size=64, seed=3)


@pytest.mark.parametrize(
    "backbone",
    [
        "torchvision:fasterrcnn_mobilenet_v3_large_fpn",
        "torchvision:retinanet_resnet50_fpn",
        "torchvision:fcos_resnet50_fpn",
        "torchvision:ssdlite320_mobilenet_v3_large",
        "vislab:fcos_small",
    ],
)
def test_each_family_trains_and_writes_valid_coco_results(shapes, tmp_path, backbone):
    run_dir = train(config_from_dict(_config(shapes, tmp_path / "runs", backbone)), progress=False)
    for name in (
        "predictions.json",
        "references.json",
        "images.csv",
        "metrics.json",
        "report.html",
        "model.safetensors",
    ):
        assert (run_dir / name).is_file(), name
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(run_dir / "references.json"))
        results = json.loads((run_dir / "predictions.json").read_text())
        if results:
            truth.loadRes(results)  # valid COCO results: known images and categories
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["task"] == "detection" and metrics["n"] == 4
    assert set(metrics["metrics"]) == {
        "mAP",
        "mAP_50",
        "mAP_75",
        "mAP_small",
        "mAP_medium",
        "mAP_large",
        "AR_1",
        "AR_10",
        "AR_100",
        "AR_small",
        "AR_medium",
        "AR_large",
    }
    assert "background" in metrics["groups"]


def test_run_metrics_equal_evaluate_command_and_report_shows_overlays(shapes, tmp_path):
    run_dir = train(
        config_from_dict(
            _config(shapes, tmp_path / "runs", "torchvision:fasterrcnn_mobilenet_v3_large_fpn")
        ),
        progress=False,
    )
    out = tmp_path / "again.json"
    command = [
        "evaluate",
        "detection",
        "--predictions",
        str(run_dir / "predictions.json"),
        "--references",
        str(run_dir / "references.json"),
        "--group-by",
        "background",
        "--metadata",
        str(run_dir / "images.csv"),
        "--bootstrap",
        "20",
        "--out",
        str(out),
    ]
    assert run(command) == 0
    assert (
        json.loads(out.read_text())["metrics"]
        == json.loads((run_dir / "metrics.json").read_text())["metrics"]
    )
    report = (run_dir / "report.html").read_text()
    assert "Images with the lowest recall" in report and report.count("data:image/png;base64,") >= 2
    assert (run_dir / "tables" / "per_class.csv").is_file()


def test_detection_config_errors(shapes, tmp_path):
    wrong_model = _config(shapes, tmp_path, "resnet18")
    with pytest.raises(ConfigError, match="model.backbone: 'resnet18' is not a detection model"):
        config_from_dict(wrong_model)
    wrong_task = {**_config(shapes, tmp_path, "resnet18"), "task": "classification"}
    wrong_task["data"] = {**wrong_task["data"], "augment": ["flip"]}
    with pytest.raises(ConfigError, match="'coco' is read by captioning and detection: set task"):
        config_from_dict(wrong_task)
    wrong_augment = _config(shapes, tmp_path, "torchvision:fcos_resnet50_fpn")
    wrong_augment["data"]["augment"] = ["autoaugment"]
    with pytest.raises(
        ConfigError, match=r"data.augment: \['autoaugment'\] cannot be used for detection"
    ):
        config_from_dict(wrong_augment)
    path = write_config(tmp_path / "c.yaml", wrong_model)
    assert run(["train", str(path)]) == 1


def test_evaluate_run_dir_of_a_detection_run(shapes, tmp_path):
    run_dir = train(
        config_from_dict(
            _config(shapes, tmp_path / "runs", "torchvision:ssdlite320_mobilenet_v3_large")
        ),
        progress=False,
    )
    before = json.loads((run_dir / "metrics.json").read_text())
    (run_dir / "metrics.json").unlink()
    assert run(["evaluate", str(run_dir)]) == 0
    assert json.loads((run_dir / "metrics.json").read_text())["metrics"] == before["metrics"]


def test_frozen_backbone_is_unchanged_and_heads_train(shapes, tmp_path):
    from safetensors.torch import load_file, save_file

    from vislab.models.detectors import create_detector

    start = create_detector("vislab:fcos_small", 3, image_size=64)
    start_state = {k: v.contiguous() for k, v in start.state_dict().items()}
    save_file(start_state, str(tmp_path / "start.safetensors"))
    raw = _config(shapes, tmp_path / "runs", "vislab:fcos_small", optimizer="adamw", lr=0.01)
    raw["model"].update(pretrained=str(tmp_path / "start.safetensors"), freeze_backbone=True)
    trained = load_file(str(train(config_from_dict(raw), progress=False) / "model.safetensors"))
    body = [k for k in start_state if k.startswith("backbone.body.")]
    assert body and all(torch.equal(trained[k], start_state[k]) for k in body)  # BN stats too
    heads = [k for k in start_state if k.startswith("head.") and k.endswith("weight")]
    assert any(not torch.equal(trained[k], start_state[k]) for k in heads)


def test_freeze_backbone_is_a_detection_option(shapes, tmp_path):
    raw = _config(shapes, tmp_path, "resnet18")
    raw.update(task="classification", data={"source": "imagefolder", "root": str(tmp_path)})
    raw["model"]["freeze_backbone"] = True
    with pytest.raises(ConfigError, match="model.mode: linear_probe"):
        config_from_dict(raw)


def test_explain_a_detection_run_with_eigencam(shapes, tmp_path):
    import numpy as np
    from PIL import Image

    run_dir = train(
        config_from_dict(_config(shapes, tmp_path / "runs", "vislab:fcos_small")), progress=False
    )
    images = sorted((shapes.parent / "images").glob("*.png"))[:3]
    out = tmp_path / "explained"
    command = [
        "explain",
        str(run_dir),
        *map(str, images),
        "--method",
        "eigencam",
        "--out",
        str(out),
    ]
    assert run(command) == 0
    table = (out / "explanations.csv").read_text().splitlines()
    assert len(table) == 4 and table[0].startswith("image,overlay,detections,boxes")
    first = np.asarray(Image.open(out / table[1].split(",")[1]))
    assert first.shape == (64, 64, 3) and first.std() > 0
    assert "Explanations (eigencam)" in (out / "explanations.html").read_text()
    assert (
        run(["explain", str(run_dir), str(images[0]), "--method", "gradcam", "--out", str(out)])
        == 2  # the folder holds explanations already
    )
    other = str(tmp_path / "other")
    assert (
        run(["explain", str(run_dir), str(images[0]), "--method", "gradcam", "--out", other])
        == 1  # detectors: eigencam only
    )


def test_eigencam_map_covers_the_image_and_stacks_pyramid_levels():
    from collections import OrderedDict

    from vislab.explanation.detection import eigencam_map, stack_levels
    from vislab.models.detectors import create_detector

    levels = OrderedDict(a=torch.ones(2, 4, 8, 8), b=torch.zeros(2, 3, 4, 4))
    stacked = stack_levels(levels)
    assert (
        stacked.shape == (2, 7, 8, 8) and stacked[:, :4].eq(1).all() and stacked[:, 4:].eq(0).all()
    )
    torch.manual_seed(0)
    model = create_detector("torchvision:fasterrcnn_mobilenet_v3_large_fpn", 2, image_size=64)
    heatmap = eigencam_map(model, torch.rand(3, 48, 80))
    assert heatmap.shape == (48, 80) and heatmap.min() >= 0 and heatmap.max() == pytest.approx(1)


def test_detection_ddp_with_two_cpu_processes(shapes, tmp_path):
    import os
    import subprocess
    import sys

    import pandas as pd

    raw = _config(
        shapes,
        tmp_path / "runs",
        "vislab:fcos_small",
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        limit_train_batches=None,
    )
    path = write_config(tmp_path / "ddp.yaml", raw)
    env = {k: v for k, v in os.environ.items() if k != "VISLAB_RUN_DIR"}
    command = [sys.executable, "-m", "vislab.cli", "train", str(path)]
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1  # one run directory for both ranks
    log = pd.read_csv(runs[0] / "logs" / "metrics.csv")
    # 9 training images: each rank sees 5 of them in batches of 4 (2 steps; one process: 3)
    assert log["step"].max() + 1 == 2
    assert "val_mAP" in log.columns
    assert json.loads((runs[0] / "metrics.json").read_text())["n"] == 4
