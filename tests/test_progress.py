"""Progress on long work: a line per epoch and per stretch of prediction in a log (the tests'
stderr is not a terminal), and nothing but results and errors with --quiet."""

from __future__ import annotations

import pytest

from tests.conftest import tiny_config, write_config
from vislab.cli import run
from vislab.progress import Progress, duration


@pytest.fixture(autouse=True)
def every_step_shown(monkeypatch):
    """A line for every step: no waiting for LINE_EVERY seconds in a test."""
    monkeypatch.setattr("vislab.progress.LINE_EVERY", 0.0)
    monkeypatch.setattr("vislab.progress.BAR_AFTER", 0.0)
    monkeypatch.delenv("VISLAB_QUIET", raising=False)


def _train(image_folder, tmp_path, capsys, *extra: str):
    config = write_config(tmp_path / "c.yaml", tiny_config(image_folder, tmp_path / "runs"))
    capsys.readouterr()
    assert run(["train", str(config), *extra]) == 0
    return capsys.readouterr()


def test_training_and_predict_show_progress_and_quiet_shows_none(image_folder, tmp_path, capsys):
    said = _train(image_folder, tmp_path, capsys)
    epochs = [line for line in said.err.splitlines() if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in epochs] == ["epoch 1/2", "epoch 2/2"]
    assert "train_loss" in epochs[0] and "val_loss" in epochs[0] and "images/s" in epochs[0]
    assert "left" in epochs[0] and "left" not in epochs[1]
    assert "predict test split: " in said.err and " items (100 %)" in said.err
    assert "epoch" not in said.out and "accuracy" in said.out  # results on stdout, progress not
    run_dir = next((tmp_path / "runs").iterdir())
    images = [str(p) for p in sorted(image_folder.rglob("*.png"))[:10]]
    out = tmp_path / "p.csv"
    assert run(["predict", str(run_dir), *images, "--out", str(out)]) == 0
    assert "predict: 10/10 images (100 %)" in capsys.readouterr().err

    quiet = _train(image_folder, tmp_path, capsys, "--quiet")
    assert quiet.err == "" and "accuracy" in quiet.out
    assert run(["predict", str(run_dir), *images, "--out", str(out), "--force", "-q"]) == 0
    assert capsys.readouterr().err == ""


def test_a_progress_line_counts_rate_and_time_left(capsys):
    with Progress(200, "check", "images") as progress:
        progress.advance(50)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("check: 50/200 images (25 %), ") and lines[0].endswith(" left")
    assert lines[-1].startswith("check: 50/200 images") and "images/s" in lines[-1]
    assert [duration(s) for s in (5, 200, 4000)] == ["5 s", "3 min 20 s", "1 h 06 min"]
