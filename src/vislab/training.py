"""`vislab train`: config in, one new run directory out — the same flow for every task.

1. The config is checked: the schema and the task's own checks, every problem at once.
2. The task prepares its data: every item is decoded (or probed) before the first step.
3. Rank 0 creates the run directory and records the provenance; under DDP the other processes
   find it through the `VISLAB_RUN_DIR` environment variable.
4. The task fits its model (Lightning; ultralytics' trainer for YOLO; no training for
   zero-shot).
5. The held-out split (test, else val) is predicted with Lightning's `Trainer.predict` on the
   training devices, from the best checkpoint.
6. The model and the predictions are written, and `evaluate_run` — exactly what
   `vislab evaluate RUN_DIR` does — writes metrics.json and report.html from them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from vislab.config import ExperimentConfig
from vislab.data.images import set_pixel_limit
from vislab.errors import InputError, UsageError
from vislab.progress import note, quiet_lightning
from vislab.runs import data_notices
from vislab.tasks import load_config, task_for
from vislab.tasks.base import Run, read_run
from vislab.tasks.fitting import RUN_DIR_VARIABLE


def train(
    config: ExperimentConfig | str | Path,
    overrides: list[str] | tuple[str, ...] = (),
    resume: str | Path | None = None,
    progress: bool = True,
) -> Path:
    """Train, predict the held-out split, evaluate and report; return the run directory."""
    import lightning as L
    from lightning.pytorch.utilities import rank_zero_only

    config, checkpoint = _resolve(config, overrides, resume)
    requeued = None if resume else _requeued_run(config)
    if requeued is not None:  # SLURM started this job step again: it goes on where it was
        resume = requeued
        config, checkpoint = _resolve(None, (), requeued)
    task = task_for(config)
    quiet_lightning()
    L.seed_everything(config.train.seed, workers=True, verbose=False)
    set_pixel_limit(config.data.max_image_pixels)
    data = task.prepare(config)
    run_dir = Path(resume) if resume else _run_dir(config)
    if rank_zero_only.rank == 0 and not resume:
        task.record(run_dir, config, data)
        for line in data_notices(run_dir, data):
            note(f"note: {line}")
    fitted = task.fit(config, data, run_dir, progress, checkpoint)
    run = Run(run_dir, config, task.preprocessing(config, data), fitted.model)
    held_out = data.split(data.held_out)
    rows = _predict_held_out(task, run, fitted, held_out, data.held_out)
    if rows is None:  # a DDP process other than rank 0: its part is done
        return run_dir
    task.save_model(run_dir, fitted.model, config)
    task.write_predictions(
        run_dir / task.predictions_file, task.predictions(rows, held_out, run), held_out
    )
    task.evaluate_run(run_dir)
    return run_dir


def _predict_held_out(task, run: Run, fitted, held_out, split: str):
    from vislab.engine.in_memory import predict_rows, prediction_trainer

    train = run.config.train
    trainer = fitted.trainer or prediction_trainer(train.accelerator, train.precision)
    module = fitted.module or task.prediction_module(run)
    loader = task.prediction_loader(run, held_out)
    best = fitted.best_checkpoint(run.directory)
    return predict_rows(module, loader, trainer, best, what=f"predict {split} split")


def evaluate_run(run_dir: str | Path) -> dict:
    """`vislab evaluate RUN_DIR`: the run's saved predictions evaluated and reported again."""
    run = read_run(run_dir)
    return task_for(run.config).evaluate_run(run.directory)


def _resolve(config, overrides, resume) -> tuple[ExperimentConfig, str | None]:
    if resume is None:
        if isinstance(config, ExperimentConfig):
            return config, None
        return load_config(config, overrides), None
    run_dir = Path(resume)
    last = run_dir / "checkpoints" / "last.ckpt"
    if not last.is_file():
        raise InputError(f"{run_dir}: no checkpoints/last.ckpt to resume from.")
    if overrides:
        raise UsageError("--resume continues a run with its own config; --set cannot change it.")
    return load_config(run_dir / "config.yaml"), str(last)


def _run_name(config: ExperimentConfig) -> str:
    backbone = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(config.model.backbone).name)
    return config.name or f"{config.task}-{backbone}"


def _srun_run_dir(config: ExperimentConfig) -> Path | None:
    """Under srun with several processes (started by SLURM, not by Lightning, so that none
    inherits rank 0's folder): `NAME-slurmJOB.STEP`, the same in every process of the step,
    new for every job and step, and the same again when SLURM requeues the job."""
    from vislab.engine.team import started_processes

    job, step = os.environ.get("SLURM_JOB_ID"), os.environ.get("SLURM_STEP_ID", "0")
    if job is None or started_processes() < 2:
        return None
    return Path(config.output_dir) / f"{_run_name(config)}-slurm{job}.{step}"


def _requeued_run(config: ExperimentConfig) -> Path | None:
    """This srun step's run folder where it already holds a last checkpoint: the job was
    preempted and requeued."""
    shared = _srun_run_dir(config)
    if shared is not None and (shared / "checkpoints" / "last.ckpt").is_file():
        return shared
    return None


def _run_dir(config: ExperimentConfig) -> Path:
    from lightning.pytorch.utilities import rank_zero_only

    from vislab.runs import create_run_dir

    inherited = os.environ.get(RUN_DIR_VARIABLE)
    if inherited and rank_zero_only.rank != 0:
        return Path(inherited)
    shared = _srun_run_dir(config)
    if shared is not None:  # every process of the step names it alike; none inherits it
        for folder in (shared / "checkpoints", shared / "logs"):
            folder.mkdir(parents=True, exist_ok=True)
        return shared
    run_dir = create_run_dir(config.output_dir, _run_name(config))
    os.environ[RUN_DIR_VARIABLE] = str(run_dir.resolve())  # DDP children inherit it
    return run_dir
