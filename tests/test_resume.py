"""Resuming a run: it repeats the uninterrupted run exactly, works from wherever the folder
was moved, and never runs code from a checkpoint (researchers share run folders)."""

from __future__ import annotations

import pickle
import shutil

import pandas as pd
import pytest
from safetensors.torch import load_file

from tests.conftest import tiny_config
from tests.test_every_task import _crash_after_the_first_epoch
from vislab.cli import run
from vislab.tasks import config_from_dict
from vislab.training import train


class _WritesAFile:
    """A pickle that runs code when loaded: it would create `path`."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture
def interrupted(image_folder, tmp_path, monkeypatch):
    """An uninterrupted 2-epoch run, and the same run killed after its first epoch."""
    settings = {"data": {"num_workers": 1, "augment": ["flip", "color_jitter"]}}
    whole = train(
        config_from_dict(tiny_config(image_folder, tmp_path / "a", **settings)), progress=False
    )
    original = _crash_after_the_first_epoch(monkeypatch)
    config = config_from_dict(tiny_config(image_folder, tmp_path / "b", **settings))
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(config, progress=False)
    monkeypatch.setattr("vislab.tasks.fitting.make_trainer", original)
    return whole, next((tmp_path / "b").iterdir())


def test_a_moved_and_resumed_run_repeats_the_uninterrupted_run(interrupted, tmp_path):
    whole, killed = interrupted
    moved = tmp_path / "elsewhere" / "moved-run"
    shutil.move(str(killed), moved)  # the original folder is gone: nothing may point there
    assert run(["train", "--resume", str(moved)]) == 0
    mine, theirs = load_file(moved / "model.safetensors"), load_file(whole / "model.safetensors")
    assert mine.keys() == theirs.keys()
    for name, tensor in theirs.items():
        assert mine[name].equal(tensor), name  # the same shuffles, crops, flips and jitter
    pd.testing.assert_frame_equal(
        pd.read_csv(moved / "predictions.csv"), pd.read_csv(whole / "predictions.csv")
    )


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch's note on the attack
def test_a_checkpoint_that_would_run_code_is_refused_and_nothing_runs(
    interrupted, tmp_path, capsys
):
    _, killed = interrupted
    marker = tmp_path / "code-ran"
    last = killed / "checkpoints" / "last.ckpt"
    last.write_bytes(pickle.dumps({"state_dict": _WritesAFile(str(marker))}))
    assert run(["train", "--resume", str(killed)]) == 1
    assert not marker.exists()
    error = capsys.readouterr().err
    assert "last.ckpt: not a checkpoint vislab can resume from" in error
    last.write_bytes(b"\x00garbage, a damaged download")
    assert run(["train", "--resume", str(killed)]) == 1
    assert "last.ckpt" in capsys.readouterr().err
