"""Processes a cluster starts. `vislab slurm`: the sbatch script's command run as srun would run
it, each process with the variables SLURM gives it (the ones Lightning reads), two "nodes" of one
CPU process on this machine: a collection job's shards shared (its table the one-process table),
and a training run in one folder that both processes name alike. torchrun, the real one, starting
two processes of a collection job."""

from __future__ import annotations

import json
import shlex
import socket
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import make_image_folder, tiny_config, write_config
from tests.engine.test_processes import _claims, finished, start
from vislab.cli import app, run
from vislab.errors import InputError, UsageError


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def srun(script: Path, cwd: Path, nodes: int, job: str = "4242") -> None:
    """The script's srun line, as srun starts it: one process per node, each told its place."""
    line = next(x for x in script.read_text().splitlines() if x.startswith("srun "))
    command = shlex.split(line)[2:]
    assert command[0] == "$VISLAB"
    common = {
        "SLURM_JOB_ID": job,
        "SLURM_STEP_ID": "0",
        "SLURM_JOB_NAME": "vislab-test",
        "SLURM_NTASKS": str(nodes),
        "SLURM_NNODES": str(nodes),
        "SLURM_NTASKS_PER_NODE": "1",
        "SLURM_NODELIST": "localhost",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(_free_port()),
    }
    places = [
        {"SLURM_PROCID": str(k), "SLURM_LOCALID": "0", "SLURM_NODEID": str(k)} for k in range(nodes)
    ]
    finished([start(command[1:], cwd, {**common, **place}) for place in places])


def test_a_collection_job_shares_its_shards_among_the_processes_srun_starts(tmp_path):
    from vislab.models.tiny import save_tiny_clip

    images = make_image_folder(tmp_path / "images", per_class=4)
    clip = str(save_tiny_clip(tmp_path / "clip"))
    command = ["zero-shot", str(images), "--model", clip, "--shard-size", "2", "--quiet"]
    assert run([*command, "--out", str(tmp_path / "one")]) == 0
    script = tmp_path / "job.sbatch"
    options = ["--nodes", "2", "--gpus-per-node", "0", "--script", str(script)]
    assert run(["slurm", *options, "--", *command, "--out", str(tmp_path / "two")]) == 0
    text = script.read_text()
    for line in ("--nodes=2", "--ntasks-per-node=1", "--requeue", f"--chdir={Path.cwd()}"):
        assert f"#SBATCH {line}\n" in text
    assert "--gpus-per-node" not in text and "--devices 1 --num-nodes 2 --resume" in text
    srun(script, Path.cwd(), nodes=2)
    found, expected = pd.read_parquet(tmp_path / "two"), pd.read_parquet(tmp_path / "one")
    pd.testing.assert_frame_equal(found, expected, check_exact=False, rtol=1e-5, atol=1e-6)
    claims = _claims(tmp_path / "two")
    assert sorted(claims) == list(range(6)) and {c["rank"] for c in claims.values()} == {0, 1}


def test_a_training_run_under_srun_is_one_folder_named_by_the_job(image_folder, tmp_path):
    config = write_config(tmp_path / "c.yaml", tiny_config(image_folder, tmp_path / "runs"))
    script = tmp_path / "train.sbatch"
    options = ["--nodes", "2", "--gpus-per-node", "0", "--script", str(script)]
    assert run(["slurm", *options, "--", "train", str(config), "--set", "train.epochs=1"]) == 0
    srun(script, tmp_path, nodes=2, job="977")
    runs = list((tmp_path / "runs").iterdir())
    assert [p.name for p in runs] == ["classification-test_resnet-slurm977.0"]
    log = pd.read_csv(runs[0] / "logs" / "metrics.csv")
    assert log["step"].max() + 1 == (24 // 2) // 8  # each process sees half the training images
    assert json.loads((runs[0] / "metrics.json").read_text())["n"] == 6


def test_a_requeued_step_finds_its_run_and_goes_on_from_its_last_checkpoint(monkeypatch, tmp_path):
    from vislab.tasks import config_from_dict
    from vislab.training import _requeued_run, _srun_run_dir

    config = config_from_dict(tiny_config(tmp_path / "images", tmp_path / "runs"))
    assert _srun_run_dir(config) is None  # not under srun
    for name, value in {"SLURM_JOB_ID": "31", "SLURM_STEP_ID": "2", "SLURM_NTASKS": "8"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SLURM_JOB_NAME", "vislab-train")
    folder = tmp_path / "runs" / "classification-test_resnet-slurm31.2"
    assert _srun_run_dir(config) == folder and _requeued_run(config) is None
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "checkpoints" / "last.ckpt").write_bytes(b"")
    assert _requeued_run(config) == folder
    monkeypatch.setenv("SLURM_NTASKS", "1")  # one process: a new folder each time, as without SLURM
    assert _srun_run_dir(config) is None


def test_torchrun_starts_the_processes_of_a_collection_job(tmp_path):
    from vislab.models.tiny import save_tiny_clip

    images = make_image_folder(tmp_path / "images", per_class=3)
    (images / "red" / "broken.png").write_bytes(b"not an image")
    clip = str(save_tiny_clip(tmp_path / "clip"))
    command = ["embed", str(images), "--model", clip, "--shard-size", "2", "--quiet"]
    assert run([*command, "--out", str(tmp_path / "one")]) == 0
    torchrun = (sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2")
    two = [*command, "--out", str(tmp_path / "two"), "--devices", "2"]
    finished([start(two, tmp_path, launcher=torchrun)])
    found, expected = pd.read_parquet(tmp_path / "two"), pd.read_parquet(tmp_path / "one")
    assert found["id"].equals(expected["id"]) and len(found) == 9
    np.testing.assert_allclose(
        np.stack(found["embedding"].to_list()), np.stack(expected["embedding"].to_list()), atol=1e-5
    )
    skipped = pd.read_csv(tmp_path / "two" / "_skipped.csv")
    assert skipped["path"].str.endswith("broken.png").tolist() == [True]
    claims = _claims(tmp_path / "two")  # each shard written by one of the two processes
    assert sorted(claims) == list(range(5)) and {c["rank"] for c in claims.values()} == {0, 1}


@pytest.mark.parametrize(
    "variables",
    [
        {"SLURM_NTASKS": "4", "SLURM_JOB_NAME": "vislab-predict"},
        {"TORCHELASTIC_RUN_ID": "7", "RANK": "0", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "4"},
    ],
)
def test_processes_the_flags_do_not_announce_are_refused(monkeypatch, variables):
    from vislab.engine.team import join_team

    for name, value in {**variables, "WORLD_SIZE": "4"}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(InputError, match="multiply to 4"):
        join_team("cpu", 1, 1)


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["--", "evaluate", "run"], "runs one of predict"),
        (["--", "predict", "run", "images", "--devices", "2"], "leave them out"),
        (["--", "train", "c.yaml", "--set", "train.devices=2"], "leave them out"),
        (["--time", "soon", "--", "train", "c.yaml"], "--time soon"),
    ],
)
def test_what_the_script_cannot_run_is_named(command, message):
    with pytest.raises(UsageError, match=message):
        app(["slurm", *command], standalone_mode=False)


def test_the_script_quotes_every_argument_and_names_this_environments_vislab(tmp_path):
    from vislab.slurm import Allocation, sbatch_script

    text = sbatch_script(["predict", "run dir", "a'b; rm -rf ~", "--out", "o"], Allocation(3, 4))
    line = next(x for x in text.splitlines() if x.startswith("srun "))
    assert shlex.split(line)[3:6] == ["predict", "run dir", "a'b; rm -rf ~"]
    assert "#SBATCH --gpus-per-node=4\n" in text and "#SBATCH --ntasks-per-node=4\n" in text
    assert "--devices 4 --num-nodes 3 --resume" in line
    assert str(Path(sys.executable).parent / "vislab") in text
    assert text.count("#SBATCH --requeue") == 1


def test_slurms_usage_shows_where_the_command_goes():
    from typer.testing import CliRunner

    shown = CliRunner().invoke(app, ["slurm", "--help"], prog_name="vislab", terminal_width=100)
    assert "Usage: vislab slurm [OPTIONS] -- COMMAND [ARGS]..." in shown.output
