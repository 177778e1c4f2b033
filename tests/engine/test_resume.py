"""The collection engine survives kill -9: a job killed at random points and resumed gives the
table an uninterrupted run gives, no row lost or repeated; --resume refuses another source,
run or shard size; a shard that could not be written whole is never taken for done."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import colored_image
from vislab.cli import run


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """90 photos of three colours in nested folders, larger than the model's input."""
    root = tmp_path_factory.mktemp("photos") / "photos"
    for k, name in enumerate(("red", "green", "blue")):
        for i in range(30):
            folder = root / name / f"day{i % 3}"
            folder.mkdir(parents=True, exist_ok=True)
            image = colored_image(((200, 40, 40), (40, 180, 60), (40, 60, 200))[k], k * 100 + i)
            image.resize((96, 96)).save(folder / f"{name}_{i:02d}.jpg", quality=90)
    return root


def _command(run_dir: Path, source: Path, out: Path, *extra: str) -> list[str]:
    return [
        "predict",
        str(run_dir),
        str(source),
        "--out",
        str(out),
        "--shard-size",
        "7",
        "--batch-size",
        "3",
        "--quiet",
        *extra,
    ]


def _start(arguments: list[str], cwd: Path) -> subprocess.Popen:
    import torch

    threads = str(torch.get_num_threads())  # the test's own: sums in the same order
    environment = {**os.environ, "VISLAB_QUIET": "1", "OMP_NUM_THREADS": threads}
    return subprocess.Popen(
        [sys.executable, "-m", "vislab.cli", *arguments],
        cwd=cwd,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _kill_after_shards(arguments, cwd: Path, out: Path, shards: int, rng) -> None:
    """Start the job and SIGKILL it once `shards` shard files exist, after a random pause of
    up to 20 ms (mid-batch, mid-write or between shards)."""
    process = _start(arguments, cwd)
    deadline = time.monotonic() + 120
    try:
        while len(list(out.glob("part-*.parquet"))) < shards and not _ended(process, 0.005):
            if time.monotonic() > deadline:
                raise AssertionError("the job made no progress in 120 s")
        _ended(process, rng.uniform(0, 0.02))
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)


def _ended(process: subprocess.Popen, seconds: float) -> bool:
    """Wait up to `seconds` for the job to end; whether it has."""
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return False
    return True


def kill_and_resume(arguments, cwd: Path, out: Path, shards: int, kills: int) -> None:
    """Kill the job (SIGKILL) `kills` times at random points, then resume it to the end."""
    rng = np.random.default_rng(0)
    left = []
    for target in sorted(rng.choice(np.arange(0, shards - 1), size=kills, replace=False)):
        _kill_after_shards([*arguments, "--resume"], cwd, out, int(target), rng)
        left.append(len(list(out.glob("part-*.parquet"))))
    assert not (out / "_SUCCESS").exists() and left[-1] < shards, left  # killed mid-job
    assert run([*arguments, "--resume"]) == 0


def test_a_job_killed_at_random_points_resumes_to_the_uninterrupted_table(
    trained_run, photos, tmp_path
):
    whole = tmp_path / "whole"
    assert run(_command(trained_run, photos, whole)) == 0
    expected = pd.read_parquet(whole)
    assert len(expected) == 90 and expected["id"].is_unique
    out = tmp_path / "killed"
    arguments = _command(trained_run, photos, out)
    kill_and_resume(arguments, tmp_path, out, shards=13, kills=2)
    found = pd.read_parquet(out)
    assert (out / "_SUCCESS").is_file() and not list(out.glob(".*"))  # no partial shard left
    assert found["id"].equals(expected["id"])  # every row once, in order
    # the numbers to float rounding: processes may differ in threads, which order sums
    pd.testing.assert_frame_equal(found, expected, check_exact=False, rtol=1e-5, atol=1e-6)
    progress = json.loads((out / "_progress.json").read_text())
    assert progress["shards_done"] == progress["shards"] == 13


def test_resume_refuses_another_source_run_or_shard_size(trained_run, photos, tmp_path):
    import shutil

    source = tmp_path / "source"
    shutil.copytree(photos, source)
    out = tmp_path / "out"
    assert run(_command(trained_run, source, out)) == 0
    assert run(_command(trained_run, source, out)) == 1  # exists, no --resume
    assert run(_command(trained_run, source, out, "--resume")) == 0  # done: nothing to do
    first = sorted(source.rglob("*.jpg"))[0]
    os.utime(first, ns=(first.stat().st_atime_ns, first.stat().st_mtime_ns + 10**9))
    colored_image((1, 2, 3), 0).save(source / "red" / "new.jpg")
    with pytest.raises(Exception) as refused:
        _strict(_command(trained_run, source, out, "--resume"))
    message = str(refused.value)
    assert "1 added (e.g. " in message and "new.jpg" in message
    assert "1 modified" in message and first.name in message
    wider = [a if a != "7" else "8" for a in _command(trained_run, photos, tmp_path / "w")]
    assert run(_command(trained_run, photos, tmp_path / "w")) == 0
    with pytest.raises(Exception, match="--shard-size 7, not 8"):
        _strict([*wider, "--resume"])


def _strict(arguments: list[str]) -> None:
    """Run a command, raising its InputError instead of printing it."""
    from vislab.cli import app

    app(arguments, standalone_mode=False)


def test_a_shard_that_cannot_be_written_whole_is_not_done(
    trained_run, photos, tmp_path, monkeypatch
):
    """A disk that fills while a shard is written: the job stops with the error, no shard file
    is left to be taken for complete, and --resume finishes the job."""
    import vislab.engine.shards as shards

    real = shards.write_atomic
    calls = {"n": 0}

    def filling(path, content):
        if Path(path).name == "part-00004.parquet":
            calls["n"] += 1
            raise OSError(28, "No space left on device")
        return real(path, content)

    monkeypatch.setattr(shards, "write_atomic", filling)
    out = tmp_path / "out"
    with pytest.raises(OSError, match="No space left"):
        _strict(_command(trained_run, photos, out))
    assert calls["n"] == 1 and not (out / "part-00004.parquet").exists()
    assert not (out / "_SUCCESS").exists() and not list(out.glob(".*"))
    (out / "_progress.json").write_text('{"shards": 13, "do')  # a torn write: not trusted
    (out / ".part-00004.parquet.k1ll3d.tmp").write_bytes(b"PAR1 half")  # what kill -9 leaves
    (out / "_skipped" / ".part-00004.csv.k1ll3d.tmp").write_text("id,pa")
    monkeypatch.setattr(shards, "write_atomic", real)
    assert run(_command(trained_run, photos, out, "--resume")) == 0
    assert len(pd.read_parquet(out)) == 90 and (out / "_SUCCESS").is_file()
    assert not list(out.glob(".*")) and not list((out / "_skipped").glob(".*"))
