"""Run directories: created fresh and never overwritten; files written atomically; provenance."""

from __future__ import annotations

import json
import os
import stat

import pytest
import torch

from vislab.files import read_json, write_atomic, write_json, write_table
from vislab.runs import create_run_dir, environment_record, write_weights


def test_a_new_run_directory_never_overwrites_an_earlier_one(tmp_path):
    first = create_run_dir(tmp_path, "exp")
    (first / "metrics.json").write_text("{}")
    second, third = create_run_dir(tmp_path, "exp"), create_run_dir(tmp_path, "exp")
    assert [p.name for p in (first, second, third)] == ["exp", "exp-2", "exp-3"]
    assert (first / "metrics.json").read_text() == "{}"
    assert {p.name for p in second.iterdir()} == {"checkpoints", "logs"}


def test_atomic_writes_leave_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "sub" / "metrics.json"
    write_atomic(path, "old")

    class Unwritable:
        def __str__(self):
            raise RuntimeError("killed mid-way")

    with pytest.raises(TypeError):  # json.dumps cannot write the object: nothing is replaced
        write_json(path, {"value": Unwritable()})
    assert path.read_text() == "old"
    assert [p.name for p in path.parent.iterdir()] == ["metrics.json"]  # no temporary left


def test_written_files_follow_the_users_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        mode = stat.S_IMODE(write_atomic(tmp_path / "a.txt", "x").stat().st_mode)
    finally:
        os.umask(previous)
    assert mode == 0o644  # mkstemp's 0600 would hide results from a shared group


def test_json_has_no_nan_and_reads_back(tmp_path):
    import numpy as np

    path = write_json(
        tmp_path / "m.json", {"a": float("nan"), "b": np.float32(0.5), "c": [np.inf, 1]}
    )
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert read_json(path) == {"a": None, "b": 0.5, "c": [None, 1]}
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(Exception, match="broken.json: not valid JSON"):
        read_json(tmp_path / "broken.json")


def test_tables_by_suffix(tmp_path):
    import pandas as pd

    frame = pd.DataFrame({"id": ["a", "b"], "score": [0.1, 0.9]})
    for name in ("t.csv", "t.parquet"):
        write_table(tmp_path / name, frame)
    assert pd.read_csv(tmp_path / "t.csv").equals(frame)
    assert pd.read_parquet(tmp_path / "t.parquet").equals(frame)


def test_weights_round_trip_and_tied_tensors_are_written(tmp_path):
    from safetensors.torch import load_file

    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Linear(3, 3))
    model[1].weight = model[0].weight  # tied: safetensors refuses shared memory as it is
    write_weights(tmp_path / "w.safetensors", model)
    loaded = load_file(str(tmp_path / "w.safetensors"))
    assert torch.equal(loaded["0.weight"], loaded["1.weight"])
    assert set(loaded) == set(model.state_dict())


def test_environment_records_what_a_number_is_traced_to():
    record = environment_record(7, "c" * 64, "d" * 64, splits={"train": 3})
    assert record["seed"] == 7 and record["config_sha256"] == "c" * 64
    assert record["data_fingerprint"] == "d" * 64 and record["splits"] == {"train": 3}
    assert record["libraries"]["torch"] == torch.__version__.split("+")[0]
    json.dumps(record)  # JSON as it is
