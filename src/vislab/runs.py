"""Run directories: created fresh (never overwritten), provenance recorded, files written atomically.

A run directory holds `config.yaml` (resolved), `environment.json` (library versions, seed, git
commit, config hash, data fingerprint), `checkpoints/`, `logs/`, `predictions.csv`,
`metrics.json` and `report.html`.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from vislab.errors import InputError

LIBRARIES = (
    "vislab", "torch", "torchvision", "timm", "lightning", "torchmetrics", "scikit-learn",
    "numpy", "pandas", "pillow", "transformers", "datasets", "grad-cam", "fairlearn",
)  # fmt: skip


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


def write_atomic(path: str | Path, text: str | bytes) -> Path:
    """Write to a temporary file beside `path`, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(text, bytes) else "w"
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, mode) as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def write_weights(path: str | Path, model) -> Path:
    """A model's state as safetensors, atomically. Tied tensors (shared memory, which
    safetensors refuses) are written once per name: loading copies them back into one."""
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().clone().contiguous() for k, v in model.state_dict().items()}
    return write_atomic(path, save(tensors))


def write_json(path: str | Path, data: Any) -> Path:
    return write_atomic(path, json.dumps(data, indent=2, default=_jsonable) + "\n")


def write_yaml(path: str | Path, data: Any) -> Path:
    return write_atomic(path, yaml.safe_dump(data, sort_keys=False))


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


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
            cwd=folder, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("+dirty" if dirty else "")


def environment_record(seed: int, config_hash: str, data_fingerprint: str, **extra: Any) -> dict:
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
