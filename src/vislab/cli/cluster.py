"""`vislab slurm`: an sbatch script that runs a vislab command over nodes and GPUs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vislab.cli.common import say


def slurm(
    context: typer.Context,
    nodes: Annotated[int, typer.Option(min=1, help="Nodes (machines).")] = 1,
    gpus_per_node: Annotated[
        int, typer.Option(min=0, help="GPUs per node, one process each (0: CPU nodes).")
    ] = 1,
    cpus_per_task: Annotated[int, typer.Option(min=1, help="CPU cores per process.")] = 8,
    time: Annotated[str, typer.Option(help="Time limit: D-HH:MM:SS, HH:MM:SS or minutes.")] = (
        "24:00:00"
    ),
    partition: Annotated[str | None, typer.Option(help="SLURM partition.")] = None,
    account: Annotated[str | None, typer.Option(help="SLURM account.")] = None,
    job_name: Annotated[str | None, typer.Option(help="Job name (default: vislab-COMMAND).")] = (
        None
    ),
    script: Annotated[
        Path | None, typer.Option(help="Write the script to this new file (default: print it).")
    ] = None,
) -> None:
    """An sbatch script for a vislab command (predict, zero-shot, embed, code, train) over
    nodes x GPUs, requeued when preempted and resumed. Give the command after `--`:
    vislab slurm --nodes 2 --gpus-per-node 4 -- predict RUN_DIR IMAGES --out OUT"""
    from vislab.cli.common import fresh_outputs
    from vislab.slurm import Allocation, sbatch_script

    allocation = Allocation(nodes, gpus_per_node, cpus_per_task, time, partition, account, job_name)
    text = sbatch_script(list(context.args), allocation)
    if script is None:
        typer.echo(text, nl=False)
        return
    fresh_outputs(script)
    script.write_text(text)
    say(f"wrote {script}: submit it with sbatch {script}")


def register(app: typer.Typer) -> None:
    app.command(
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        options_metavar="[OPTIONS] -- COMMAND [ARGS]...",
    )(slurm)
