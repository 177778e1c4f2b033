"""The tasks vislab knows, each a `Task` (base.py) in one registry (registry.py).

Importing this package registers every task: classification, detection (with YOLO as its
variant), captioning, video, zero-shot and linear probe. `task_for(config)` gives the task that
runs a config; `load_config` reads a config with the task's own checks.
"""

# each import registers its task
from vislab.tasks import (  # noqa: F401
    captioning,
    classification,
    detection,
    linear_probe,
    video,
    yolo,
    zero_shot,
)
from vislab.tasks.registry import config_from_dict, get_task, load_config, task_for, task_names

__all__ = ["config_from_dict", "get_task", "load_config", "task_for", "task_names"]
