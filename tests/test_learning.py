"""Models learn, not only run: scores reached on the generated examples in CPU seconds.

A wrong label offset, box format or category mapping anywhere between the data, the model and
the evaluation keeps these scores near zero, so they test the whole path. Families that need a
GPU, pretrained weights or hundreds of epochs to learn from random weights (the ImageNet-sized
torchvision detectors, DETR, YOLO) are not here; their paths are the same wrapper as the ones
that are (torchvision's detector interface, the DETR-family wrapper).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vislab.tasks import config_from_dict
from vislab.training import train


def _detection(root: Path, backbone: str, **options) -> dict:
    return {
        "task": "detection",
        "output_dir": str(root / "runs"),
        "model": {"backbone": backbone, **options.pop("model", {})},
        "data": {
            "source": "coco",
            "root": str(root / "instances.json"),
            "batch_size": 8,
            "augment": ["flip"],
            "split": {"val": 0.1, "test": 0.2, "seed": 0},
            **options.pop("data", {}),
        },
        "train": {
            "optimizer": "adamw",
            "lr": 0.002,
            "weight_decay": 0.0001,
            "warmup_epochs": 1,
            **options.pop("train", {}),
        },
        "evaluate": {"bootstrap": 0},
    }


def test_fcos_small_learns_the_shapes_from_random_weights(tmp_path):
    """A smaller version of the detection guide's walk (200 images, 8 epochs, about 40 s)."""
    from vislab.data.shapes import make_shapes

    make_shapes(tmp_path, count=200, size=128, seed=0)
    config = _detection(
        tmp_path, "vislab:fcos_small", data={"image_size": 128}, train={"epochs": 8}
    )
    metrics = json.loads(
        (train(config_from_dict(config), progress=False) / "metrics.json").read_text()
    )
    assert metrics["n"] > 30  # the test split, a fifth of the images
    assert metrics["metrics"]["mAP_50"]["value"] >= 0.25  # random weights: 0.0


def _memorize(root: Path) -> Path:
    """Four shape images: eight copies to train on, one copy as the test split."""
    from vislab.data.shapes import make_shapes

    path = make_shapes(root, count=4, size=96, seed=1)
    coco = json.loads(path.read_text())
    images, annotations = [], []
    for copy in range(9):
        for image in coco["images"]:
            identifier = copy * 100 + image["id"]
            images.append({**image, "id": identifier, "split": "test" if copy == 8 else "train"})
            annotations += [
                {**a, "id": len(annotations) + k + 1, "image_id": identifier}
                for k, a in enumerate(
                    a for a in coco["annotations"] if a["image_id"] == image["id"]
                )
            ]
    path.write_text(json.dumps({**coco, "images": images, "annotations": annotations}))
    return path


def test_the_detr_family_wrapper_learns_boxes_and_classes(tmp_path):
    """A tiny RT-DETR, random weights, memorises four images through vislab's DETR-family
    wrapper (its targets, resizing and the family's own post-processing)."""
    import torch

    from tests.models.test_detr import tiny_model

    torch.manual_seed(0)
    tiny_model("rt_detr").save_pretrained(tmp_path / "tiny")
    _memorize(tmp_path / "data")
    config = _detection(
        tmp_path / "data",
        "transformers:rt_detr",
        model={"pretrained": str(tmp_path / "tiny")},
        data={"image_size": 96, "batch_size": 4, "augment": [], "split": {"val": 0.0, "test": 0.0}},
        train={"epochs": 40, "lr": 0.001, "weight_decay": 0.0, "warmup_epochs": 0.5},
    )
    metrics = json.loads(
        (train(config_from_dict(config), progress=False) / "metrics.json").read_text()
    )
    assert metrics["metrics"]["mAP_50"]["value"] >= 0.3  # random weights: about 0.0


def test_a_3d_cnn_learns_which_way_things_move(tmp_path):
    """r3d_18 from random weights on moving squares (the class is the motion), about 35 s."""
    pytest.importorskip("av")
    from vislab.data.videos import make_moving_shapes

    manifest = make_moving_shapes(tmp_path / "videos", per_class=8, frames=16, size=32)
    config = {
        "task": "video",
        "output_dir": str(tmp_path / "runs"),
        "model": {"backbone": "torchvision:r3d_18"},
        "data": {
            "source": "manifest",
            "root": str(manifest),
            "image_size": 32,
            "frames": 4,
            "frame_stride": 2,
            "clips_per_video": 2,
            "augment": [],
            "batch_size": 8,
            "split": {"val": 0.2, "test": 0.25, "seed": 0},
        },
        "train": {"epochs": 10, "lr": 0.001},
        "evaluate": {"bootstrap": 0},
    }
    metrics = json.loads(
        (train(config_from_dict(config), progress=False) / "metrics.json").read_text()
    )
    assert metrics["n"] == 8 and metrics["metrics"]["top1_accuracy"]["value"] >= 0.6  # chance: 0.25
