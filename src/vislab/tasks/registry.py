"""The one registry of tasks, and the config checks it hands to `config.py`.

A task module decorates its `Task` subclass with `@register`; `vislab/tasks/__init__.py`
imports every task module, so importing `vislab.tasks` registers them all (as timm's model
modules register their models). A variant (YOLO for detection) registers with `variant_of`
and is chosen by `task_for` when its `matches(config)` says so. This is the only place that
dispatches on a task's name.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from vislab.config import ExperimentConfig, Problem
from vislab.config import config_from_dict as _config_from_dict
from vislab.config import load_config as _load_config
from vislab.errors import UsageError

_TASKS: dict[str, Any] = {}  # name -> Task
_VARIANTS: dict[str, list[Any]] = {}  # name -> variant Tasks


def register(cls):
    """Class decorator: register one instance of a Task subclass under `cls.name`."""
    variant_of = getattr(cls, "variant_of", None)
    if variant_of:
        _VARIANTS.setdefault(variant_of, []).append(cls())
    else:
        if cls.name in _TASKS:
            raise ValueError(f"task '{cls.name}' is registered twice")
        _TASKS[cls.name] = cls()
    return cls


def task_names() -> list[str]:
    return list(_TASKS)


def get_task(name: str):
    """The registered task `name`; an unknown name is a usage error with the known ones."""
    if name not in _TASKS:
        close = difflib.get_close_matches(name, list(_TASKS), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise UsageError(f"unknown task '{name}'.{hint} Choose one of: {', '.join(_TASKS)}.")
    return _TASKS[name]


def task_for(config: ExperimentConfig):
    """The task that runs `config`: the registered task, or the variant that matches it."""
    for variant in _VARIANTS.get(config.task, []):
        if variant.matches(config):
            return variant
    return get_task(config.task)


def check(raw: dict[str, Any], config: ExperimentConfig | None) -> list[Problem]:
    """The task's own checks of a config (handed to config_from_dict): the backbone's name even
    when the schema failed elsewhere, the rest on a valid config."""
    name = raw.get("task", "classification") if isinstance(raw, dict) else "classification"
    if not isinstance(name, str) or name not in _TASKS:
        close = difflib.get_close_matches(str(name), list(_TASKS), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        return [("task", f"unknown task '{name}'.{hint} Choose one of: {', '.join(_TASKS)}.")]
    task = _TASKS[name]
    problems = []
    model = raw.get("model") if isinstance(raw.get("model"), dict) else {}
    backbone = model.get("backbone", "resnet18")
    if isinstance(backbone, str):
        chosen = next((v for v in _VARIANTS.get(name, []) if v.matches_backbone(backbone)), task)
        message = chosen.check_backbone(backbone)
        if message:
            problems.append(("model.backbone", message + _elsewhere(backbone, name)))
    if config is not None and not problems:
        problems += task_for(config).check_config(config)
    return problems


def _elsewhere(backbone: str, name: str) -> str:
    """A hint when another task's models include `backbone`."""
    others = [
        other
        for other, task in _TASKS.items()
        if other != name
        and task.names_its_models
        and any(t.check_backbone(backbone) is None for t in [task, *_variants_for(other, backbone)])
    ]
    return f" It is a {others[0]} model: set task: {others[0]}." if others else ""


def _variants_for(name: str, backbone: str) -> list:
    return [v for v in _VARIANTS.get(name, []) if v.matches_backbone(backbone)]


def tasks_reading(source: str) -> list[str]:
    """The tasks whose data.source can be `source`."""
    return [name for name, task in _TASKS.items() if source in task.sources]


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> ExperimentConfig:
    """Read and validate a YAML config: the schema and the task's own checks."""
    return _load_config(path, overrides, check=check)


def config_from_dict(raw: dict[str, Any], source: str = "config") -> ExperimentConfig:
    return _config_from_dict(raw, source, check=check)
