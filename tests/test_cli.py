"""The command line: exit codes, summaries, and the files each command writes."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
from PIL import Image

from tests.conftest import tiny_config, write_config
from vislab.cli import run


def test_help_and_usage_errors_exit_2(capsys):
    assert run(["--help"]) == 0
    assert "quickstart" in capsys.readouterr().out
    assert run(["train", "--no-such-flag"]) == 2
    assert run(["evaluate", "classification"]) == 2  # --predictions missing
    assert run(["evaluate", "segmentation", "--predictions", "x.csv"]) == 2
    assert "unknown task 'segmentation'" in capsys.readouterr().err


def test_bad_config_exits_1_with_the_field(tmp_path, capsys):
    path = write_config(
        tmp_path / "c.yaml", {"data": {"source": "sample", "name": "digits"}, "train": {"lr": 0}}
    )
    assert run(["train", str(path)]) == 1
    assert "train.lr" in capsys.readouterr().err


def test_evaluate_writes_design_shaped_metrics(tmp_path, capsys):
    rng = np.random.default_rng(0)
    labels = rng.choice(["cat", "dog"], 200)
    flip = rng.random(200) < 0.2
    predictions = np.where(flip, np.where(labels == "cat", "dog", "cat"), labels)
    frame = pd.DataFrame(
        {"label": labels, "prediction": predictions, "gender": rng.choice(["f", "m"], 200)}
    )
    frame.to_csv(tmp_path / "p.csv", index=False)
    out = tmp_path / "metrics.json"
    command = [
        "evaluate",
        "classification",
        "--predictions",
        str(tmp_path / "p.csv"),
        "--group-by",
        "gender",
        "--bootstrap",
        "100",
        "--out",
        str(out),
    ]
    assert run(command) == 0
    metrics = json.loads(out.read_text())
    assert set(metrics) >= {"task", "n", "metrics", "groups", "disparities", "bootstrap"}
    assert metrics["n"] == 200 and metrics["bootstrap"]["resamples"] == 100
    entry = metrics["groups"]["gender"]["f"]
    assert set(entry) >= {"n", "metrics"} and "ci" in entry["metrics"]["accuracy"]
    assert set(metrics["disparities"]["gender"]["accuracy"]) >= {"difference", "ratio", "ci"}
    assert "by gender:" in capsys.readouterr().out
    assert (
        run(
            [
                "evaluate",
                "classification",
                "--predictions",
                str(tmp_path / "p.csv"),
                "--bootstrap",
                "0",
            ]
        )
        == 0
    )
    assert run(["evaluate", "classification", "--predictions", str(tmp_path / "missing.csv")]) == 1


def test_data_preview_saves_a_grid(image_folder, tmp_path):
    config = write_config(tmp_path / "c.yaml", tiny_config(image_folder, tmp_path / "runs"))
    out = tmp_path / "grid.png"
    assert run(["data", "preview", str(config), "--out", str(out), "--count", "8"]) == 0
    grid = Image.open(out)
    assert grid.size[0] > 400 and grid.size[1] > 150


def test_predict_sets_unreadable_images_aside_with_their_reason(trained_run, tmp_path, capsys):
    """A damaged or empty file does not stop a job: it is listed with the reason beside the
    table and every other image is predicted. A file named on the command line that does not
    exist is a typo: refused before any work."""
    good = next((trained_run.parent.parent / "data" / "images" / "red").iterdir())
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    (tmp_path / "empty.jpg").write_bytes(b"")
    out = tmp_path / "new.csv"
    command = ["predict", str(trained_run), str(good), str(tmp_path / "broken.png")]
    command += [str(tmp_path / "empty.jpg"), "--out", str(out)]
    assert run([*command, str(tmp_path / "gone.png")]) == 1
    assert "gone.png: no such file or folder" in capsys.readouterr().err and not out.exists()
    assert run(command) == 0
    said = capsys.readouterr().out
    assert "(1 row in" in said and "2 image(s) skipped" in said
    assert pd.read_csv(out)["path"].tolist() == [str(good)]
    skipped = pd.read_csv(tmp_path / "new_skipped.csv").set_index("path")["reason"]
    assert skipped[str(tmp_path / "empty.jpg")] == "zero bytes: the file is empty"
    assert skipped[str(tmp_path / "broken.png")].startswith("not an image")


def test_a_run_whose_weights_are_a_pickle_is_refused(trained_run, tmp_path, capsys):
    """A shared run folder with a pickle saved as model.safetensors: a message that names the
    file and why (before: a traceback); nothing is unpickled."""
    import pickle
    import shutil

    shared = tmp_path / "shared-run"
    shutil.copytree(trained_run, shared)
    (shared / "model.safetensors").write_bytes(pickle.dumps({"weight": [1, 2, 3]}))
    good = next((trained_run.parent.parent / "data" / "images" / "red").iterdir())
    out = tmp_path / "p.csv"
    assert run(["predict", str(shared), str(good), "--out", str(out), "--quiet"]) == 1
    error = capsys.readouterr().err
    assert "model.safetensors: not a safetensors file" in error and "Traceback" not in error
    assert not out.exists()


def test_predict_with_a_folder_that_is_not_a_run(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    assert run(["predict", str(tmp_path / "run"), str(tmp_path / "x.png")]) == 1
    assert "no config.yaml: is this a vislab run directory?" in capsys.readouterr().err


def test_quickstart_reaches_98_5_percent_offline(tmp_path, capsys):
    assert run(["quickstart", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    run_dir = tmp_path / "quickstart-digits"
    assert f"report: {run_dir / 'report.html'}" in printed
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["metrics"]["accuracy"]["value"] >= 0.985  # 99.2 % here (seed 0)
    assert metrics["n"] == 359 and set(metrics["groups"]["stroke"]) == {"heavy", "light"}
    assert metrics["metrics"]["accuracy"]["ci"][0] < metrics["metrics"]["accuracy"]["value"]
    report = (run_dir / "report.html").read_text()
    assert "Most confident errors" in report and "by stroke" in report


def test_a_folder_named_like_the_task_does_not_turn_evaluate_into_a_run(tmp_path, monkeypatch):
    """`vislab evaluate video --predictions F` in a directory that holds a `video/` folder (the
    guide copies examples/video there) evaluates F; it does not look for a run in video/."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "classification").mkdir()
    pd.DataFrame({"label": ["a", "b"] * 20, "prediction": ["a", "b"] * 20}).to_csv(
        "p.csv", index=False
    )
    assert run(["evaluate", "classification", "--predictions", "p.csv", "--bootstrap", "0"]) == 0
    assert run(["evaluate", "classification"]) == 1  # no --predictions: the folder is not a run


def test_data_sample_writes_the_offline_clip(tmp_path):
    from transformers import CLIPModel

    assert run(["data", "sample", "tiny-clip", "--out", str(tmp_path / "clip")]) == 0
    assert CLIPModel.from_pretrained(tmp_path / "clip").config.projection_dim > 0


def test_p_values_are_printed_as_their_resolution_allows():
    from vislab.evaluation.compare import _bootstrap_p_value
    from vislab.report.numbers import p_text

    floor = _bootstrap_p_value(np.full(1000, 0.5))  # every resample on one side
    assert p_text(floor, 1000) == "p ≤ 0.002" and p_text(0.0123, 1000) == "p = 0.012"
    assert p_text(0.0) == "p < 0.0001" and p_text(3e-5) == "p < 0.0001"
    assert p_text(0.03125) == "p = 0.031" and p_text(float("nan")) == "p = n/a"


def _every_command() -> list[list[str]]:
    import typer

    from vislab.cli import app

    group, commands = typer.main.get_command(app), []
    for name, command in group.commands.items():
        subcommands = getattr(command, "commands", None)
        commands += [[name, sub] for sub in subcommands] if subcommands else [[name]]
    return commands


def test_help_pages_say_what_to_type_never_python_type_names(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    commands = _every_command()
    assert ["train"] in commands and ["data", "check"] in commands and len(commands) > 15
    for command in commands:
        assert run([*command, "--help"]) == 0
        page = capsys.readouterr().out
        assert not re.search(r"<(bool|str|int|float|path|list)", page), command
        assert "{" not in page.splitlines()[1], command  # the usage line: TASK, not {task}
    run(["evaluate", "--help"])
    page = capsys.readouterr().out
    assert "Usage: vislab evaluate [OPTIONS] TASK" in page
    assert re.search(r"--bootstrap +INTEGER", page) and re.search(r"--force +Replace", page)


def test_examples_writes_the_bundled_configs_for_an_installed_package(tmp_path, capsys):
    from importlib.resources import files

    from vislab.tasks import load_config

    out = tmp_path / "examples"
    assert run(["examples", "--out", str(out)]) == 0
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert "digits-manifest.yaml" in written and "video/windows.csv" in written
    bundled = files("vislab") / "examples"
    for name in written:
        assert (out / name).read_bytes() == (bundled / name).read_bytes()
    assert load_config(out / "digits-manifest.yaml").task == "classification"
    assert "vislab train " in capsys.readouterr().out
    assert run(["examples", "--out", str(out)]) == 2  # never over an earlier copy


MEASURES = {
    "evaluate",
    "compare",
    "agreement",
    "retrieval",
    "estimate",
    "plan-coding",
}  # print; JSON only where asked


def test_commands_that_write_files_have_a_default_out_and_measures_print():
    import typer

    from vislab.cli import app

    group = typer.main.get_command(app)
    for command in _every_command():
        found = group
        for name in command:
            found = found.commands[name]
        out = [p for p in found.params if "--out" in p.opts]
        if not out:
            continue
        if command[0] in MEASURES:
            assert out[0].default is None, command
        else:
            assert out[0].default is not None, command


def test_the_command_collects_cycles_seldom_and_freezes_what_is_left_at_exit():
    """`vislab` (the process's entry point): a young collection every 50,000 allocations,
    cycles still collected, and the objects left frozen before the interpreter's last
    collections (an exit handler registered before it runs after it)."""
    import subprocess
    import sys

    script = """
import atexit, gc, sys, weakref
atexit.register(lambda: print("frozen at exit", gc.get_freeze_count() > 0))
import vislab.cli

class Node:
    pass

def cycle():
    node = Node()
    node.self = node
    return weakref.ref(node)

sys.argv = ["vislab", "--help"]
try:
    vislab.cli.main()
except SystemExit as done:
    print("exit", done.code)
print("threshold", gc.get_threshold()[0])
gone = cycle()
junk = [[] for _ in range(120_000)]  # allocations: young collections happen
print("cycle collected", gone() is None)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    lines = done.stdout.splitlines()
    assert "exit 0" in lines and "threshold 50000" in lines, done.stdout + done.stderr
    assert "cycle collected True" in lines
    assert lines[-1] == "frozen at exit True"


def test_a_jobs_other_process_ends_without_the_interpreters_teardown(tmp_path):
    """RANK=1 (as Lightning's launcher sets it): the command's output is flushed, its code
    kept, its process group closed, and the process ends before the exit handlers and the
    interpreter's teardown run; the main process (RANK unset) exits as ever."""
    import os
    import subprocess
    import sys

    script = """
import atexit, sys
atexit.register(lambda: print("teardown ran"))
import torch.distributed as dist
import vislab.cli

dist.init_process_group("gloo", init_method=sys.argv[1], rank=0, world_size=1)
destroy = dist.destroy_process_group
dist.destroy_process_group = lambda *a: print("group closed") or destroy(*a)
print("output before the end", end=" ")
sys.argv = ["vislab", "no-such-command"]
vislab.cli.main()
"""
    for rank, expected in (("1", 2), ("", 2)):
        env = {**os.environ, "RANK": rank}
        done = subprocess.run(
            [sys.executable, "-c", script, f"file://{tmp_path / ('group' + rank)}"],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert done.returncode == expected, done.stderr
        assert done.stdout.startswith("output before the end"), done.stdout
        assert ("teardown ran" in done.stdout) == (rank == ""), done.stdout
        assert ("group closed" in done.stdout) == (rank == "1"), done.stdout
