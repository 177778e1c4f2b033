"""`vislab train` for video: two model families trained offline on generated moving shapes."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from vislab.data.videos import make_moving_shapes
from vislab.errors import ConfigError, InputError
from vislab.tasks import config_from_dict
from vislab.training import train

pytest.importorskip("av")


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    return make_moving_shapes(
        tmp_path_factory.mktemp("videos") / "moving", per_class=4, frames=12, size=32
    )


def _config(manifest, out, backbone, **data):
    return {
        "task": "video",
        "output_dir": str(out),
        "data": {
            "source": "manifest",
            "root": str(manifest),
            "image_size": 32,
            "frames": 4,
            "frame_stride": 2,
            "clips_per_video": 3,
            "batch_size": 4,
            "augment": [],
            "split": {"val": 0.25, "test": 0.25, "seed": 0},
            **data,
        },
        "model": {"backbone": backbone},
        "train": {"epochs": 1, "lr": 0.001},
        "evaluate": {"bootstrap": 20, "group_by": ["background"]},
    }


@pytest.mark.parametrize("backbone", ["torchvision:r3d_18", "frames:resnet18"])
def test_two_families_train_and_write_windowed_predictions(videos, tmp_path, backbone):
    run_dir = train(config_from_dict(_config(videos, tmp_path / "runs", backbone)), progress=False)
    windows = pd.read_csv(run_dir / "predictions.csv")
    assert list(windows.columns[:5]) == ["video_id", "start", "end", "label", "prediction"]
    assert (
        len(windows) == 3 * windows["video_id"].nunique()
        and (windows["end"] > windows["start"]).all()
    )
    assert not windows.duplicated(
        ["video_id", "start"]
    ).any()  # distinct windows: 12 frames, span 7
    assert "background" in windows.columns and {"score_left", "score_up"} <= set(windows.columns)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["task"] == "video" and {
        "top1_accuracy",
        "clip_top1_accuracy",
        "temporal_consistency",
    } <= set(metrics["metrics"])
    report = (run_dir / "report.html").read_text()
    assert "Timelines" in report and "data:image/png;base64," in report


def test_video_config_errors(videos, tmp_path):
    with pytest.raises(ConfigError, match="video needs a video model"):
        config_from_dict(_config(videos, tmp_path, "resnet18"))
    with pytest.raises(ConfigError, match="cannot be used for video"):
        config_from_dict(_config(videos, tmp_path, "torchvision:r3d_18", augment=["autoaugment"]))


def test_videomae_from_a_saved_folder_and_its_frame_count_is_enforced(videos, tmp_path):
    transformers = pytest.importorskip("transformers")
    config = transformers.VideoMAEConfig(
        image_size=32,
        patch_size=8,
        num_frames=4,
        tubelet_size=2,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=2,
    )
    transformers.VideoMAEForVideoClassification(config).save_pretrained(tmp_path / "videomae")
    raw = _config(videos, tmp_path / "runs", "transformers:videomae")
    raw["model"]["pretrained"] = str(tmp_path / "videomae")
    run_dir = train(config_from_dict(raw), progress=False)
    assert json.loads((run_dir / "metrics.json").read_text())["n"] == len(
        pd.read_csv(run_dir / "splits.csv").query("split == 'test'")
    )
    raw["data"]["frames"] = 8
    with pytest.raises(ConfigError, match="set data.frames: 4"):
        train(config_from_dict(raw), progress=False)


def test_each_family_is_normalised_as_its_weights_expect(tmp_path):
    from vislab.models.video import IMAGENET, KINETICS_MEAN, normalization

    assert normalization("torchvision:r3d_18")[0] == KINETICS_MEAN
    assert normalization("frames:resnet18") == IMAGENET  # timm's pretrained config for resnet18
    (tmp_path / "preprocessor_config.json").write_text(
        json.dumps({"image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]})
    )
    assert normalization("transformers:videomae", str(tmp_path)) == (
        (0.5, 0.5, 0.5),
        (0.5, 0.5, 0.5),
    )


def test_every_torchvision_video_model_gets_a_head_for_the_classes():
    from vislab.models.backbones import head_module
    from vislab.models.video import VIDEO_MODELS, create_video_model

    for name in VIDEO_MODELS:
        model = create_video_model(f"torchvision:{name}", 5)
        head = head_module(model)
        last = head[-1] if name == "s3d" else head  # S3D's head is a 1x1x1 convolution
        assert (last.out_channels if name == "s3d" else last.out_features) == 5, name


def test_folders_of_extracted_frames_train_like_videos(videos, tmp_path):
    from PIL import Image

    from vislab.data.videos import from_video_manifest, probe, read_frames

    rows = []
    for row in from_video_manifest(videos).frame.itertuples():
        folder = tmp_path / "frames" / row.label / Path(row.path).stem
        folder.mkdir(parents=True)
        for k, pixels in enumerate(read_frames(row.path, range(12))):
            Image.fromarray(pixels).save(folder / f"{k:04d}.png")
        rows.append(
            {"path": str(folder), "label": row.label, "background": row.background, "fps": 8.0}
        )
    pd.DataFrame(rows).to_csv(tmp_path / "frames.csv", index=False)
    first = rows[0]["path"]
    assert probe(first).frames == 12 and read_frames(first, [0, 20]).shape == (2, 32, 32, 3)
    from vislab.cli import run

    assert run(["data", "check", str(tmp_path / "frames.csv")]) == 0  # checked as videos
    run_dir = train(
        config_from_dict(_config(tmp_path / "frames.csv", tmp_path / "runs", "frames:resnet18")),
        progress=False,
    )
    windows = pd.read_csv(run_dir / "predictions.csv")
    assert windows["end"].max() <= 12 / 8 + 1e-9  # seconds from the manifest's fps
    pd.DataFrame(rows).drop(columns="fps").to_csv(tmp_path / "no_rate.csv", index=False)
    with pytest.raises(InputError, match="no frame rate: give the frame folder an fps"):
        train(
            config_from_dict(
                _config(tmp_path / "no_rate.csv", tmp_path / "runs", "frames:resnet18")
            ),
            progress=False,
        )


def test_video_ddp_with_two_cpu_processes(videos, tmp_path):
    from tests.conftest import train_in_two_processes

    config = _config(videos, tmp_path / "runs", "frames:resnet18")
    run_dir = train_in_two_processes(config, tmp_path)
    log = pd.read_csv(run_dir / "logs" / "metrics.csv")
    assert log["step"].max() + 1 == 1  # 8 training videos: 4 per process, one batch each
    windows = pd.read_csv(run_dir / "predictions.csv")  # every held-out window once
    assert not windows.duplicated(["video_id", "start"]).any()
    assert len(windows) == 3 * windows["video_id"].nunique() == 3 * 4  # a quarter of 16 held out
