"""Several processes share one job (gloo on CPU, launched through Lightning as on GPUs): the union
of their shards is the one-process table, for predict and code (embed: test_clusters, under
torchrun); a process killed
mid-shard leaves only that shard undone, and the job resumed with another number of processes
is still the one-process table."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import make_image_folder
from tests.engine.test_resume import _command, _ended, photos  # noqa: F401 - a fixture
from vislab.cli import run
from vislab.engine.shards import shard_name

TIMEOUT = 300  # seconds for a multi-process command; a test that runs past it kills them


def start(
    arguments: list[str], cwd: Path, environment: dict | None = None, launcher: tuple = ()
) -> subprocess.Popen:
    """`vislab ARGUMENTS` (through `launcher`, e.g. torchrun, where given) in a session of its
    own: its processes are killed together."""
    import torch

    threads = str(torch.get_num_threads())
    base = {k: v for k, v in os.environ.items() if k != "VISLAB_RUN_DIR"}
    return subprocess.Popen(
        [*(launcher or (sys.executable,)), "-m", "vislab.cli", *arguments],
        cwd=cwd,
        env={**base, "VISLAB_QUIET": "1", "OMP_NUM_THREADS": threads, **(environment or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def finished(processes: list[subprocess.Popen]) -> None:
    """Wait for every process; all must succeed (their groups are killed on a timeout)."""
    try:
        errors = [p.communicate(timeout=TIMEOUT)[1] for p in processes]
    finally:
        for process in processes:
            _kill_group(process)
    for process, error in zip(processes, errors, strict=True):
        assert process.returncode == 0, error[-3000:]


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def _claims(out: Path) -> dict[int, dict]:
    found = {}
    for path in (out / "_claims").glob("part-*"):
        try:
            found[int(path.name[5:])] = json.loads(path.read_text())
        except ValueError:  # being written
            continue
    return found


def _kill_mid_shard(process: subprocess.Popen, out: Path, rank: int) -> int:
    """Stop process `rank` while a shard it claimed is unwritten, then SIGKILL it: the shard."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline and not _ended(process, 0.002):
        for shard, holder in _claims(out).items():
            if holder["rank"] != rank or (out / shard_name(shard)).exists():
                continue
            os.kill(holder["pid"], signal.SIGSTOP)  # then look again: it may have just finished
            if not (out / shard_name(shard)).exists():
                os.kill(holder["pid"], signal.SIGKILL)
                return shard
            os.kill(holder["pid"], signal.SIGCONT)
    raise AssertionError(f"process {rank} never held an unwritten shard: {process.stderr.read()}")


def test_a_process_killed_mid_shard_and_the_job_resumed_with_three(trained_run, photos, tmp_path):  # noqa: F811
    whole, out = tmp_path / "whole", tmp_path / "out"
    assert run(_command(trained_run, photos, whole)) == 0
    first = start([*_command(trained_run, photos, out), "--devices", "2"], tmp_path)
    try:
        shard = _kill_mid_shard(first, out, rank=1)
    finally:
        _kill_group(first)  # and the others with it, wherever they were (a node lost)
    assert not (out / "_SUCCESS").exists() and not (out / shard_name(shard)).exists()
    before = {k: who for k, who in _claims(out).items() if (out / shard_name(k)).exists()}
    assert len(before) <= 13 - 3  # three processes find work left
    finished([start([*_command(trained_run, photos, out), "--devices", "3", "--resume"], tmp_path)])
    found, expected = pd.read_parquet(out), pd.read_parquet(whole)
    assert found["id"].equals(expected["id"]) and len(found) == 90  # every row once, in order
    pd.testing.assert_frame_equal(found, expected, check_exact=False, rtol=1e-5, atol=1e-6)
    claims = _claims(out)  # who wrote each shard: the first launch's shards were not redone
    assert sorted(claims) == list(range(13)) and {k: claims[k] for k in before} == before
    again = {claims[k]["launch"] for k in claims if k not in before}
    assert len(again) == 1 and again != {who["launch"] for who in before.values()}
    assert {claims[k]["rank"] for k in claims if k not in before} == {0, 1, 2}
    assert not list(out.glob(".*")) and not list((out / "_skipped").glob(".*"))
    progress = json.loads((out / "_progress.json").read_text())
    assert progress["shards_done"] == progress["shards"] == 13


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = make_image_folder(tmp_path_factory.mktemp("images") / "images", per_class=5)
    (folder / "red" / "broken.png").write_bytes(b"not an image")
    return folder


def test_codes_of_two_processes_are_the_one_process_file(images, tmp_path):
    import yaml

    from tests.tasks.test_coding import CODES
    from vislab.models.tiny_vlms import save_tiny_qwen2_vl

    codebook = tmp_path / "codebook.yaml"
    codebook.write_text(yaml.safe_dump({"codes": CODES}))
    model = str(save_tiny_qwen2_vl(tmp_path / "qwen"))
    command = ["code", str(images), "--codebook", str(codebook), "--model", model]
    command += ["--shard-size", "3", "--batch-size", "2", "--quiet"]
    assert run([*command, "--out", str(tmp_path / "one.csv")]) == 0
    finished([start([*command, "--out", str(tmp_path / "two.csv"), "--devices", "2"], tmp_path)])
    found, expected = pd.read_csv(tmp_path / "two.csv"), pd.read_csv(tmp_path / "one.csv")
    pd.testing.assert_frame_equal(found, expected, check_exact=False, rtol=1e-5, atol=1e-6)
    record = json.loads((tmp_path / "two.json").read_text())
    assert record["codes"] == [c["name"] for c in CODES]
    assert not (tmp_path / ".two.csv.parts").exists()
