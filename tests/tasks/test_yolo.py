"""YOLO through ultralytics (optional extra): its trainer, vislab's run directory and formats."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from pycocotools.coco import COCO

from tests.tasks.test_detection import _config, repredicted
from vislab.cli import run
from vislab.data.detection import from_yolo
from vislab.data.shapes import make_shapes
from vislab.errors import ConfigError
from vislab.models.yolo import import_ultralytics
from vislab.tasks import config_from_dict, task_for
from vislab.tasks.yolo import write_yolo_dataset
from vislab.training import train

try:  # through vislab, which keeps ultralytics from patching PIL.Image.open process-wide
    import_ultralytics()
except ConfigError:
    pytest.skip("the yolo extra (ultralytics) is not installed", allow_module_level=True)


def test_ultralytics_leaves_pil_and_installs_alone(tmp_path):
    import os

    from PIL import Image, UnidentifiedImageError

    (tmp_path / "broken.png").write_bytes(b"not an image")
    with pytest.raises(UnidentifiedImageError):
        Image.open(tmp_path / "broken.png")
    assert os.environ["YOLO_AUTOINSTALL"] == "False"


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return make_shapes(tmp_path_factory.mktemp("shapes") / "data", count=16, size=64, seed=3)


def test_yolo_dataset_reads_back_as_the_same_boxes(shapes, tmp_path):
    config = config_from_dict(_config(shapes, tmp_path, "vislab:fcos_small"))
    data = task_for(config).prepare(config)
    write_yolo_dataset(tmp_path / "yolo", data)
    back = from_yolo(tmp_path / "yolo")
    assert back.classes == data.table.classes
    for split in ("train", "val"):
        mine = data.split(split)
        theirs = back.split(split)
        assert len(theirs) == len(mine)
        for position in range(len(mine)):  # images are written in table order, 000000, 000001, ...
            np.testing.assert_allclose(theirs.boxes[position], mine.boxes[position], atol=1e-3)
            assert theirs.labels[position].tolist() == mine.labels[position].tolist()


def test_yolo_trains_with_ultralytics_and_the_run_is_vislab_shaped(shapes, tmp_path):
    raw = _config(shapes, tmp_path / "runs", "ultralytics:yolov8n", optimizer="adamw")
    config = config_from_dict(raw)
    run_dir = train(config, progress=False)
    assert (run_dir / "ultralytics" / "results.csv").is_file()
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(run_dir / "references.json"))
        written = json.loads((run_dir / "predictions.json").read_text())
        truth.loadRes(written)  # valid COCO results: known images and categories
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["n"] == 4 and "background" in metrics["groups"]
    # the run reloads from model.safetensors and predicts what it wrote
    again = repredicted(run_dir)
    assert len(again) == len(written) > 0
    for mine, theirs in zip(again, written, strict=True):
        assert mine["category_id"] == theirs["category_id"]
        assert mine["bbox"] == pytest.approx(theirs["bbox"], abs=1e-3)
    # the collection engine predicts the same boxes (as COCO results, ids as the paths)
    import pandas as pd

    files = pd.read_csv(run_dir / "images.csv")["path"].tolist()
    out = tmp_path / "engine.json"
    assert run(["predict", str(run_dir), *files, "--out", str(out), "--quiet"]) == 0
    engine = json.loads(out.read_text())
    assert len(engine) == len(written)
    for mine, theirs in zip(engine, written, strict=True):
        assert mine["bbox"] == pytest.approx(theirs["bbox"], abs=1e-3)
    assert run(["train", "--resume", str(run_dir)]) == 1  # ultralytics runs do not resume
    # a crafted detector.json in a shared run folder: ultralytics would eval its activation
    from ultralytics.nn.tasks import yaml_model_load

    marker = tmp_path / "ran-code"
    planted = yaml_model_load("yolov8n.yaml")
    planted["activation"] = f"__import__('pathlib').Path({str(marker)!r}).touch() or nn.SiLU()"
    (run_dir / "detector.json").write_text(json.dumps({"ultralytics": planted}))
    assert len(repredicted(run_dir)) == len(written)
    assert not marker.exists()


class _Planted:
    """A pickle that runs code when loaded: it would create `path`."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_pickled_yolo_file_is_refused_unless_the_user_says_it_is_theirs(shapes, tmp_path):
    """A config (or a folder someone shared) naming a .pt made ultralytics unpickle it on
    `vislab train`: the planted file was created. Now refused with the reason; the flag on the
    command line is the user's word (a config cannot give it)."""
    import pickle

    import yaml

    marker = tmp_path / "pwned"
    (tmp_path / "evil.pt").write_bytes(pickle.dumps(_Planted(str(marker))))
    raw = _config(shapes, tmp_path / "runs", "ultralytics:yolov8n")
    raw["model"]["pretrained"] = str(tmp_path / "evil.pt")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(raw))
    output = io.StringIO()
    with contextlib.redirect_stderr(output), contextlib.redirect_stdout(output):
        assert run(["train", str(tmp_path / "config.yaml"), "--quiet"]) == 1
    assert "evil.pt is a pickled file" in output.getvalue()
    assert "--trust-pickled-weights" in output.getvalue()
    assert not marker.exists()
    raw["model"]["trust_pickled_weights"] = True  # not a config's to say
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(raw))
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        assert run(["train", str(tmp_path / "config.yaml"), "--quiet"]) != 0
    assert not marker.exists()
