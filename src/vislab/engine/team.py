"""The processes of one job (`--devices N`, `--num-nodes N`, or those SLURM or torchrun
started): launched and placed by Lightning Fabric, each with its rank.

Process 0 (the main one) plans the job, or checks the plan it resumes, and tells the others
(the one collective of the job); from then on no process waits on another: each takes whole
shards by claiming them (shards.py), and the main one finishes the job when every shard is
written. On one device with no cluster around, no process is started and no process group made.

Lightning's launcher starts processes 1 ... N-1 by running the same command again (as
`Trainer` does): they list the source and load the model themselves. Under SLURM (`srun`) and
torchrun every process is started by the cluster, and `--devices`/`--num-nodes` must say how
many there are, as Lightning checks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from vislab.errors import InputError


@dataclass
class Team:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    fabric: Any = None  # the launching Fabric; None for one process
    launch: str = ""  # the main process's name for this launch (engine/run.py)

    @property
    def main(self) -> bool:
        return self.rank == 0

    def share(self, value):
        """The main process's `value`, in every process."""
        return value if self.fabric is None else self.fabric.broadcast(value, src=0)

    def claim(self, folder, shard: int) -> bool:
        """Shard `shard` of the job in `folder` taken for this process (shards.py)."""
        from vislab.engine.shards import claim

        return claim(folder, shard, self.launch, self.rank)

    def device(self):
        """This process's torch device (cuda:LOCAL_RANK on GPUs), or None for one process."""
        return None if self.fabric is None else self.fabric.device

    def close(self) -> None:
        import torch.distributed as dist

        if self.fabric is not None and dist.is_initialized():
            dist.destroy_process_group()


def join_team(accelerator: str, devices: int, num_nodes: int) -> Team:
    """This process's place among the job's processes, launching them where none is started."""
    if devices < 1 or num_nodes < 1:
        raise InputError("--devices and --num-nodes must be at least 1.")
    if devices * num_nodes == 1:
        _refuse_unannounced_processes()
        return Team()
    from lightning.fabric import Fabric

    from vislab.progress import quiet_lightning

    quiet_lightning()  # its banner and logs: the main process says how many processes there are
    try:
        fabric = Fabric(
            accelerator=accelerator,
            devices=devices,
            num_nodes=num_nodes,
            strategy="ddp",
            precision="32-true",
        )
        fabric.launch()
    except (ValueError, RuntimeError) as error:  # Lightning's checks of devices and cluster
        raise InputError(f"--devices {devices} --num-nodes {num_nodes}: {error}") from error
    return Team(fabric.global_rank, fabric.world_size, fabric.local_rank, fabric)


def started_processes() -> int:
    """How many processes the cluster started for this job (SLURM's srun, torchrun), 1 if none."""
    from lightning.fabric.plugins.environments import SLURMEnvironment, TorchElasticEnvironment

    if TorchElasticEnvironment.detect():
        return int(os.environ.get("WORLD_SIZE", "1"))
    if SLURMEnvironment.detect():
        return int(os.environ.get("SLURM_NTASKS", "1"))
    return 1


def _refuse_unannounced_processes() -> None:
    """N processes started by srun or torchrun, each told it is alone, would each plan the
    job: refuse, naming the flags that say how many there are."""
    started = started_processes()
    if started > 1:
        raise InputError(
            f"the cluster says this job has {started} processes (SLURM_NTASKS under srun, or "
            "torchrun's WORLD_SIZE), but --devices and --num-nodes say 1: give --devices "
            f"(processes per node) and --num-nodes that multiply to {started}."
        )
