"""Run directories: created fresh (never overwritten), provenance recorded, weights written.

A run directory holds `config.yaml` (resolved), `environment.json` (library versions, seed, git
commit, config hash, data fingerprint), `preprocessing.json` (what predicting new items needs),
`splits.csv`, `checkpoints/`, `logs/`, `model.safetensors`, the predictions, `metrics.json` and
`report.html`. `record_run` writes the provenance of every task's run the same way.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from vislab.errors import InputError
from vislab.files import write_atomic, write_json, write_yaml

LIBRARIES = (
    "vislab",
    "torch",
    "torchvision",
    "timm",
    "lightning",
    "torchmetrics",
    "scikit-learn",
    "numpy",
    "pandas",
    "pillow",
    "transformers",
    "datasets",
    "grad-cam",
    "pycocotools",
    "faster-coco-eval",
    "numba",
    "pycocoevalcap",
    "open-clip-torch",
    "av",
)


def create_run_dir(output_dir: str | Path, name: str) -> Path:
    """A new directory `output_dir/name`, or `name-2`, `name-3`, ... if that exists."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 10_000):
        candidate = output_dir / (name if attempt == 1 else f"{name}-{attempt}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        for sub in ("checkpoints", "logs"):
            (candidate / sub).mkdir()
        return candidate
    raise InputError(f"{output_dir}: could not find a free run directory name for '{name}'.")


def write_weights(path: str | Path, model) -> Path:
    """A model's state as safetensors, atomically. Tied tensors (shared memory, which
    safetensors refuses) are written once per name: loading copies them back into one."""
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().clone().contiguous() for k, v in model.state_dict().items()}
    return write_atomic(path, save(tensors))


def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit(folder: str | Path) -> str | None:
    """The commit checked out in `folder` (with '+dirty' for uncommitted changes), if any."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=folder,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("+dirty" if dirty else "")


def environment_record(
    seed: int, config_hash: str | None, data_fingerprint: str, **extra: Any
) -> dict:
    """Everything needed to trace a number back: versions, seed, commits, hashes, machine."""
    import torch

    return {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": sys.argv,
        "seed": seed,
        "config_sha256": config_hash,
        "data_fingerprint": data_fingerprint,
        "git_commit": git_commit(Path.cwd()),
        "vislab_git_commit": git_commit(Path(__file__).parent),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": library_versions(),
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        **extra,
    }


def record_run(run_dir: Path, config, data, preprocessing: dict, **extra: Any) -> None:
    """The provenance of a run, the same for every task: config.yaml (resolved),
    environment.json (with `extra`), preprocessing.json, splits.csv, and the items left out
    with their reasons. `data` is the task's prepared data (`data.prepare.TaskData`)."""
    table = data.table
    write_yaml(run_dir / "config.yaml", config.to_dict())
    record = environment_record(
        config.train.seed,
        config.fingerprint(),
        data.fingerprint,
        data_source=table.description,
        splits=data.split_counts(),
        **{f"skipped_{table.item}s": len(data.skipped)},
        **extra,
    )
    write_json(run_dir / "environment.json", record)
    write_json(run_dir / "preprocessing.json", {"task": config.task, **preprocessing})
    columns = [c for c in ("id", "label", "split") if c in table.frame.columns]
    write_atomic(run_dir / "splits.csv", table.frame[columns].to_csv(index=False))
    if len(data.skipped):
        write_atomic(run_dir / f"skipped_{table.item}s.csv", data.skipped.to_csv(index=False))
    if data.inspection is not None:
        write_json(run_dir / "data_inspection.json", data.inspection)
        if len(data.near_copies):
            write_atomic(run_dir / "near_copies.csv", data.near_copies.to_csv(index=False))


def _copy_notices(run_dir: Path, inspection: dict | None) -> list[str]:
    """A line where near copies span the run's splits."""
    near = (inspection or {}).get("near_copies", {})
    if not near.get("n_leaking_clusters"):
        return []
    held_out = near.get("held_out_split")
    within = (
        f"; {near['n_held_out_with_copy_in_another_split']} {held_out} image(s) have a copy "
        "in another split, so their score may be overstated"
        if held_out
        else ""
    )
    return [
        f"{near['n_leaking_clusters']} cluster(s) of near copies (perceptual hash) span "
        f"splits{within}: listed in {run_dir / 'near_copies.csv'}; data.split.group_by: "
        "duplicate_cluster keeps each cluster in one split"
    ]


def data_notices(run_dir: Path, data) -> list[str]:
    """What the run left out or changed in the data, for the console: the files list each."""
    table, lines = data.table, []
    if len(data.skipped):
        lines.append(
            f"{len(data.skipped)} {table.item}(s) left out (data.on_bad_image: skip), each "
            f"with its reason in {run_dir / f'skipped_{table.item}s.csv'}"
        )
    lines += _copy_notices(run_dir, data.inspection)
    problems = getattr(table, "problems", None) or []
    if problems:
        import pandas as pd

        actions = pd.Series([p["action"] for p in problems]).value_counts()
        counts = ", ".join(f"{n} {action}" for action, n in actions.items())
        lines.append(
            f"{len(problems)} annotation problem(s) ({counts}): each in "
            f"{run_dir / 'data_problems.csv'}"
        )
    return lines
