"""Video runs on the collection engine: DESIGN's windowed table (the run's own windows and
scores, a manifest's metadata and segments), unusable videos skipped with their reason, and a
job killed mid-way that resumes to the uninterrupted table."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.engine.test_resume import kill_and_resume
from tests.tasks.test_video import _config
from vislab.cli import run
from vislab.data.videos import make_moving_shapes, moving_square, write_video
from vislab.tasks import config_from_dict
from vislab.training import train

pytest.importorskip("av")


@pytest.fixture(scope="module")
def video_run(tmp_path_factory):
    """A one-epoch frame-pooling run, and a manifest of 18 videos of several lengths (one of 5
    frames: a single window; one restricted to a segment) with a metadata column."""
    root = tmp_path_factory.mktemp("video")
    manifest = make_moving_shapes(root / "moving", per_class=4, frames=12, size=32)
    run_dir = train(
        config_from_dict(_config(manifest, root / "runs", "frames:resnet18")), progress=False
    )
    rng = np.random.default_rng(1)
    write_video(manifest.parent / "short.mp4", moving_square("up", rng, 5, 32, 3.0))
    write_video(manifest.parent / "long.mp4", moving_square("left", rng, 30, 32, 3.0))
    rows = pd.read_csv(manifest)
    extra = pd.DataFrame(
        {"path": ["short.mp4", "long.mp4"], "label": ["up", "left"], "background": "plain"}
    )
    rows = pd.concat([rows, extra], ignore_index=True)
    rows["start"], rows["end"] = np.nan, np.nan
    rows.loc[len(rows) - 1, ["start", "end"]] = [1.0, 3.0]  # 8 fps: frames 8 to 24
    rows.to_csv(manifest.parent / "collection.csv", index=False)
    return run_dir, manifest.parent / "collection.csv"


def test_windows_as_the_run_predicts_them_with_metadata_and_segments(video_run, tmp_path):
    from vislab.data.videos import from_video_manifest
    from vislab.prediction import predict

    run_dir, manifest = video_run
    out = tmp_path / "windows"
    command = ["predict", str(run_dir), str(manifest), "--out", str(out), "--quiet"]
    assert run([*command, "--shard-size", "5", "--batch-size", "2"]) == 0
    windows = pd.read_parquet(out)
    assert list(windows.columns[:5]) == ["video_id", "start", "end", "label", "prediction"]
    listed = pd.read_csv(manifest)
    assert windows["video_id"].unique().tolist() == listed["path"].tolist()  # source order
    counts = windows.groupby("video_id", sort=False).size()
    assert counts["short.mp4"] == 1 and (counts.drop("short.mp4") == 3).all()
    segment = windows[windows["video_id"] == "long.mp4"]
    assert segment["start"].min() >= 1.0 and segment["end"].max() <= 3.0 + 1e-9
    assert (windows["label"] == windows["video_id"].map(listed.set_index("path")["label"])).all()
    assert (windows["background"] == "plain").sum() > 0 and "path" in windows.columns
    # the same windows and scores as the run's own prediction path, video by video
    table = from_video_manifest(manifest).frame
    reference, _, _ = predict(run_dir, table["path"].tolist()[:16])
    scores = [c for c in windows.columns if c.startswith("score_")]
    mine = windows.iloc[: len(reference)]
    np.testing.assert_allclose(mine[["start", "end"]], reference[["start", "end"]])
    np.testing.assert_allclose(mine[scores], reference[scores], rtol=1e-4, atol=1e-5)
    assert mine["prediction"].tolist() == reference["prediction"].tolist()
    single = tmp_path / "windows.csv"
    assert run([*command[:3], "--out", str(single), "--quiet"]) == 0
    assert pd.read_csv(single)[["video_id", "start"]].equals(windows[["video_id", "start"]])
    # `vislab evaluate` reads the folder of shards as it reads the one file
    metrics = {}
    for name, predictions in (("folder", out), ("file", single)):
        scored = ["evaluate", "video", "--predictions", str(predictions), "--bootstrap", "0"]
        assert run([*scored, "--out", str(tmp_path / f"{name}.json"), "--quiet"]) == 0
        metrics[name] = json.loads((tmp_path / f"{name}.json").read_text())["metrics"]
    values = {name: {k: v["value"] for k, v in found.items()} for name, found in metrics.items()}
    # float32 against its text: a difference of nearby scores (total variation) keeps only an
    # absolute precision
    assert values["folder"] == pytest.approx(values["file"], rel=1e-6, abs=1e-8)
    assert values["file"]["top1_accuracy"] > 0
    (out / "_SUCCESS").unlink()  # an unfinished job's folder is not read as if whole
    assert run([*scored[:3], str(out), "--out", str(tmp_path / "no.json"), "--quiet"]) == 1


def test_unusable_videos_are_skipped_with_their_reason(video_run, tmp_path):
    run_dir, manifest = video_run
    folder = tmp_path / "clips"
    folder.mkdir()
    rng = np.random.default_rng(2)
    write_video(folder / "a.mp4", moving_square("down", rng, 12, 32, 3.0))
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "notes.mp4").write_text("not a video")
    out = tmp_path / "out.csv"
    assert run(["predict", str(run_dir), str(folder), "--out", str(out), "--quiet"]) == 0
    windows = pd.read_csv(out)
    assert set(windows["video_id"]) == {str(folder / "a.mp4")} and len(windows) == 3
    skipped = pd.read_csv(tmp_path / "out_skipped.csv")
    assert sorted(skipped["path"]) == [str(folder / "empty.mp4"), str(folder / "notes.mp4")]
    assert skipped["reason"].str.contains("video").all()


def test_a_video_job_killed_resumes_to_the_uninterrupted_table(video_run, tmp_path):
    run_dir, manifest = video_run
    common = ["predict", str(run_dir), str(manifest), "--batch-size", "2", "--quiet"]
    whole = tmp_path / "whole"
    assert run([*common, "--out", str(whole), "--shard-size", "3"]) == 0
    out = tmp_path / "killed"
    kill_and_resume([*common, "--out", str(out), "--shard-size", "3"], tmp_path, out, 6, 1)
    found, expected = pd.read_parquet(out), pd.read_parquet(whole)
    assert found[["video_id", "start", "end"]].equals(expected[["video_id", "start", "end"]])
    pd.testing.assert_frame_equal(found, expected, check_exact=False, rtol=1e-5, atol=1e-5)
