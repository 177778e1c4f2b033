"""An sbatch script for a vislab command over N nodes x G GPUs (`vislab slurm`).

srun starts one process per GPU on every node; Lightning reads SLURM's variables (SLURM_NTASKS,
SLURM_PROCID, SLURM_LOCALID, SLURM_NODEID, SLURM_NODELIST) to place them, and vislab's
`--devices`/`--num-nodes` (or `train.devices`/`train.num_nodes`) say how many there are, as
Lightning checks. `--kill-on-bad-exit=1`: a process that dies ends the others (none waits for
it). `--requeue`: a preempted job starts again: a collection job with `--resume` finishes the
shards left, a training run continues from its last checkpoint (training.py).
"""

from __future__ import annotations

import re
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from vislab.errors import UsageError

COLLECTION_COMMANDS = ("predict", "zero-shot", "embed", "code")
COMMANDS = (*COLLECTION_COMMANDS, "train")


@dataclass
class Allocation:
    nodes: int = 1
    gpus_per_node: int = 1  # 0: CPU nodes, one process each
    cpus_per_task: int = 8
    time: str = "24:00:00"
    partition: str | None = None
    account: str | None = None
    job_name: str | None = None

    @property
    def tasks_per_node(self) -> int:
        return max(self.gpus_per_node, 1)


def sbatch_script(command: list[str], allocation: Allocation) -> str:
    """The script: #SBATCH lines, then `srun vislab COMMAND` with the processes' count."""
    if not command or command[0] not in COMMANDS:
        raise UsageError(
            f"vislab slurm runs one of {', '.join(COMMANDS)}: give it after the options, "
            "e.g. vislab slurm --nodes 2 --gpus-per-node 4 -- predict RUN_DIR IMAGES --out OUT"
        )
    _refuse_own_flags(command)
    if not re.fullmatch(r"(\d+-)?\d{1,2}(:\d{2}){0,2}", allocation.time):
        raise UsageError(f"--time {allocation.time}: give D-HH:MM:SS, HH:MM:SS or minutes.")
    what = command[0]
    lines = [
        "#!/bin/bash",
        f"# vislab {what} on {allocation.nodes} node(s) x {allocation.tasks_per_node} "
        f"process(es){' (one per GPU)' if allocation.gpus_per_node else ''},",
        "# requeued when preempted and resumed. Submit with: sbatch THIS_FILE",
        *_directives(what, allocation),
        "set -euo pipefail",
        f"VISLAB=${{VISLAB:-{shlex.quote(_vislab())}}}  # the vislab of the shared environment",
        'srun --kill-on-bad-exit=1 "$VISLAB" ' + shlex.join(_with_processes(command, allocation)),
    ]
    return "\n".join(lines) + "\n"


def _directives(what: str, allocation: Allocation) -> list[str]:
    settings = {
        "job-name": allocation.job_name or f"vislab-{what}",
        "nodes": allocation.nodes,
        "ntasks-per-node": allocation.tasks_per_node,
        "gpus-per-node": allocation.gpus_per_node or None,
        "cpus-per-task": allocation.cpus_per_task,
        "time": allocation.time,
        "partition": allocation.partition,
        "account": allocation.account,
        "chdir": Path.cwd(),  # the command's paths are where `vislab slurm` was run
        "output": f"vislab-{what}-%j.log",
        "open-mode": "append",  # a requeued job's lines follow the first attempt's
    }
    lines = [f"#SBATCH --{k}={shlex.quote(str(v))}" for k, v in settings.items() if v is not None]
    return [*lines, "#SBATCH --requeue"]


def _vislab() -> str:
    """This environment's vislab, by its full path (a shared file system reaches it)."""
    beside = Path(sys.executable).parent / "vislab"
    return str(beside) if beside.is_file() else (shutil.which("vislab") or "vislab")


def _with_processes(command: list[str], allocation: Allocation) -> list[str]:
    devices, nodes = allocation.tasks_per_node, allocation.nodes
    accelerator = "gpu" if allocation.gpus_per_node else "cpu"
    if command[0] == "train":
        settings = {
            "train.devices": devices,
            "train.num_nodes": nodes,
            "train.accelerator": accelerator,
        }
        if devices * nodes > 1:
            settings["train.strategy"] = "ddp"
        return [*command, *(f"--set={k}={v}" for k, v in settings.items())]
    resume = [] if "--resume" in command else ["--resume"]  # the first start plans the job
    return [*command, "--devices", str(devices), "--num-nodes", str(nodes), *resume]


def _refuse_own_flags(command: list[str]) -> None:
    """The script sets the number of processes: the command must not say it again."""
    said = [
        a
        for a in command
        if a.split("=")[0] in ("--devices", "--num-nodes")
        or re.match(r"(--set=)?train\.(devices|num_nodes|strategy|accelerator)=", a)
    ]
    if said:
        raise UsageError(
            f"{' '.join(said)}: vislab slurm sets the processes from --nodes and "
            "--gpus-per-node; leave them out of the command."
        )
