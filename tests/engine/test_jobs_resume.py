"""Every job on the engine survives kill -9: `vislab embed`, `vislab zero-shot` and a captioning
run's `vislab predict`, each killed at a random point and resumed, give the table of an
uninterrupted run (classification, detection and video: test_resume, test_detection_jobs,
test_video_jobs)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from tests.conftest import make_image_folder
from tests.engine.test_resume import kill_and_resume
from vislab.cli import run
from vislab.models.tiny import save_tiny_clip


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """30 images in class folders, one of them unreadable."""
    folder = make_image_folder(tmp_path_factory.mktemp("jobs") / "images", per_class=10)
    (folder / "red" / "broken.png").write_bytes(b"not an image")
    return folder


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return save_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny")


def _killed_and_whole(command: list[str], tmp_path, shards: int) -> tuple:
    whole, out = tmp_path / "whole", tmp_path / "killed"
    assert run([*command, "--out", str(whole)]) == 0
    kill_and_resume([*command, "--out", str(out)], tmp_path, out, shards, kills=1)
    return pd.read_parquet(out), pd.read_parquet(whole), out


def test_embed_killed_resumes_to_the_uninterrupted_vectors(clip, images, tmp_path):
    command = ["embed", str(images), "--model", str(clip), "--shard-size", "4", "--quiet"]
    found, expected, out = _killed_and_whole([*command, "--batch-size", "3"], tmp_path, 8)
    assert found["id"].equals(expected["id"]) and len(found) == 30
    np.testing.assert_allclose(
        np.stack(found["embedding"].to_list()), np.stack(expected["embedding"].to_list()), atol=1e-5
    )
    assert pd.read_csv(out / "_skipped.csv")["path"].str.endswith("broken.png").tolist() == [True]


def test_zero_shot_killed_resumes_to_the_uninterrupted_scores(clip, images, tmp_path):
    command = ["zero-shot", str(images), "--model", str(clip), "--shard-size", "4", "--quiet"]
    found, expected, _ = _killed_and_whole([*command, "--batch-size", "3"], tmp_path, 8)
    assert found[["id", "prediction"]].equals(expected[["id", "prediction"]])
    pd.testing.assert_frame_equal(found, expected, check_exact=False, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(shutil.which("java") is None, reason="a captioning run's metrics need Java")
def test_captioning_killed_resumes_to_the_uninterrupted_captions(images, tmp_path):
    from tests.tasks.test_captioning import _coco_captions, _config
    from vislab.models.tiny import save_tiny_blip
    from vislab.tasks import config_from_dict
    from vislab.training import train

    captioned = make_image_folder(tmp_path / "captioned", per_class=4)
    config = _config(_coco_captions(captioned), save_tiny_blip(tmp_path / "blip"), tmp_path / "r")
    config["train"]["epochs"] = 1
    run_dir = train(config_from_dict(config), progress=False)
    command = ["predict", str(run_dir), str(images), "--shard-size", "4", "--batch-size", "3"]
    found, expected, _ = _killed_and_whole([*command, "--quiet"], tmp_path, 8)
    assert found.equals(expected) and len(found) == 30  # greedy words: the same captions
