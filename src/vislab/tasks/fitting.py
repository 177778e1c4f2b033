"""Fitting with Lightning: the Trainer every task trains with, and resuming it safely.

The Trainer keeps the best checkpoint by the task's monitored validation metric and the last
one (`checkpoints/best.ckpt`, `last.ckpt`, written atomically by Lightning), stops early on
request, and logs to CSV and TensorBoard (`logs/`, a resumed attempt to `logs/resume-N/`).
Checkpoints are read with `weights_only=True`: a checkpoint holds data, and loading one never
runs code. Paths are the run folder's own (`checkpoints/best.ckpt`), never the absolute path
Lightning recorded when the run was made, so a moved or copied run uses its own files.

Each epoch's randomness is a function of (train.seed, epoch): the order of the training items and
the data workers' seeds (`vislab.data.loaders.EpochSampler`), and the augmentations, CutMix/MixUp
and dropout in the main process (`EpochSeed`, when the epoch starts; each DDP process its own).
The weights, optimizer, schedule and epoch come from the checkpoint, so a run killed after an
epoch and resumed repeats, on the same machine and libraries, exactly what the uninterrupted
run does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vislab.config import ExperimentConfig
from vislab.errors import InputError

RUN_DIR_VARIABLE = "VISLAB_RUN_DIR"  # DDP children find the run directory rank 0 made


@dataclass
class Fitted:
    """A trained model, and the Lightning trainer and module that trained it (if Lightning did)."""

    model: Any  # nn.Module
    trainer: Any = None  # lightning.Trainer: held-out predictions run on its devices
    module: Any = None  # the LightningModule around `model`

    def best_checkpoint(self, run_dir: Path) -> str | None:
        """This run's best checkpoint (else its last one), by the run folder's own paths."""
        for name in ("best.ckpt", "last.ckpt"):
            path = Path(run_dir) / "checkpoints" / name
            if path.is_file():
                return str(path)
        return None


def seed_epoch(seed: int, epoch: int, rank: int) -> None:
    """Every random number generator of this process seeded for (seed, epoch, rank): each DDP
    process draws its own augmentations and video clips (in the main process; data workers
    are seeded by worker and rank by Lightning's `pl_worker_init_function`)."""
    import lightning as L

    from vislab.data.loaders import epoch_seed

    L.seed_everything(epoch_seed(seed, epoch, rank), workers=True, verbose=False)


def _epoch_seed_callback(seed: int):
    import lightning as L

    class EpochSeed(L.Callback):
        """Seeds every random number generator at the start of each training epoch."""

        def on_train_epoch_start(self, trainer, module) -> None:
            seed_epoch(seed, trainer.current_epoch, trainer.global_rank)

    return EpochSeed()


def _epoch_lines():
    import time

    import lightning as L

    from vislab.progress import batch_size, duration, note

    class EpochLines(L.Callback):
        """A line per epoch for logs (no terminal): losses, validation metrics, images/s and
        the time left."""

        def on_train_start(self, trainer, module) -> None:
            self.start, self.first = time.monotonic(), trainer.current_epoch

        def on_train_epoch_start(self, trainer, module) -> None:
            self.epoch_start, self.items = time.monotonic(), 0

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
            self.items += batch_size(batch)

        def on_train_epoch_end(self, trainer, module) -> None:
            if trainer.is_global_zero:
                note(self.line(trainer))

        def line(self, trainer) -> str:
            now, epoch = time.monotonic(), trainer.current_epoch + 1
            metrics = {
                k.removesuffix("_epoch"): float(v)
                for k, v in trainer.callback_metrics.items()
                if v.numel() == 1 and not k.endswith("_step") and not k.startswith("lr-")
            }
            shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items())
            rate = self.items / max(now - self.epoch_start, 1e-9) * trainer.world_size
            per_epoch = (now - self.start) / max(epoch - self.first, 1)
            line = f"epoch {epoch}/{trainer.max_epochs}: {shown}; {rate:.1f} images/s"
            if epoch < trainer.max_epochs:
                line += f", {duration(per_epoch * (trainer.max_epochs - epoch))} left"
            return line

    return EpochLines()


def _run_checkpoint(base):
    """Lightning's ModelCheckpoint, whose saved paths are read as this run folder's own: a run
    that was moved or copied resumes with its best score and files, never the original's."""

    class RunCheckpoint(base):
        def load_state_dict(self, state_dict: dict) -> None:
            old = state_dict.get("dirpath")
            if old and self.dirpath and old != self.dirpath:
                state_dict = {**state_dict, "dirpath": self.dirpath}
                for key in ("best_model_path", "kth_best_model_path", "last_model_path"):
                    if state_dict.get(key):
                        state_dict[key] = self._here(state_dict[key])
                models = state_dict.get("best_k_models") or {}
                state_dict["best_k_models"] = {self._here(k): v for k, v in models.items()}
            super().load_state_dict(state_dict)

        def _here(self, path: str) -> str:
            return os.path.join(self.dirpath, os.path.basename(path))

    return RunCheckpoint


def make_trainer(
    config: ExperimentConfig,
    run_dir: Path,
    progress: bool,
    monitor: tuple[str, str] | None,
    steps_per_epoch: int,
):
    """Lightning Trainer: best + last checkpoints, early stopping, CSV and TensorBoard logs."""
    import lightning as L
    from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    from vislab.progress import on_terminal

    train = config.train
    attempt = _log_version(run_dir)
    metric, mode = monitor if monitor else (None, "min")
    checkpoints = _run_checkpoint(ModelCheckpoint)(
        dirpath=run_dir / "checkpoints",
        filename="best",
        monitor=metric,
        mode=mode,
        save_last=True,
        save_top_k=1,
    )
    callbacks = [
        checkpoints,
        LearningRateMonitor(logging_interval="epoch"),
        _epoch_seed_callback(train.seed),
    ]
    bar = progress and on_terminal()  # Lightning's bar: epoch, step, loss, it/s, time left
    if progress and not bar:
        callbacks.append(_epoch_lines())
    if train.early_stopping and metric:
        callbacks.append(EarlyStopping(monitor=metric, mode=mode, patience=train.early_stopping))
    return L.Trainer(
        max_epochs=train.epochs,
        accelerator=train.accelerator,
        devices=train.devices,
        strategy=train.strategy,
        num_nodes=train.num_nodes,
        precision=train.precision,
        callbacks=callbacks,
        logger=[
            CSVLogger(run_dir / "logs", name="", version=attempt),
            TensorBoardLogger(run_dir / "logs", name="tensorboard", version=attempt),
        ],
        enable_progress_bar=bar,
        enable_model_summary=False,
        limit_train_batches=train.limit_train_batches,
        log_every_n_steps=max(1, min(50, steps_per_epoch // 2)),
        deterministic=False,
    )


def _log_version(run_dir: Path) -> str:
    """'' for the first attempt (logs/metrics.csv), 'resume-N' for the N-th resume: no log is
    lost."""
    logs = run_dir / "logs"
    if not (logs / "metrics.csv").exists():
        return ""
    count = 1
    while (logs / f"resume-{count}").exists():
        count += 1
    return f"resume-{count}"


def fit(
    module,
    loaders: list,
    config: ExperimentConfig,
    run_dir: Path,
    progress: bool,
    monitor: tuple[str, str],
    checkpoint: str | None = None,
) -> Fitted:
    """Train `module` on the [train, val] loaders; resume from `checkpoint` if given."""
    from vislab.progress import quiet_lightning

    quiet_lightning()
    if checkpoint:
        _start_at(loaders[0], check_checkpoint(checkpoint))
    monitored = monitor if len(loaders) > 1 else None  # split.val: 0 is a choice, not a mistake
    trainer = make_trainer(config, run_dir, progress, monitored, len(loaders[0]))
    trainer.fit(module, *loaders, ckpt_path=checkpoint, weights_only=True)
    return Fitted(module.model, trainer, module)


def _start_at(loader, state: dict) -> None:
    """Lightning makes the resumed epoch's data iterator before it tells the sampler the epoch:
    tell it first, so the resumed epoch draws the order the uninterrupted run drew."""
    progress = state.get("loops", {}).get("fit_loop", {}).get("epoch_progress", {})
    epoch = progress.get("current", {}).get("processed", state.get("epoch", 0))
    if hasattr(loader.sampler, "set_epoch"):
        loader.sampler.set_epoch(int(epoch))


def check_checkpoint(path: str | Path) -> dict:
    """A checkpoint holds data only: read it with weights_only=True first, so that a damaged or
    foreign file (a pickle that would run code) is a clear error, never executed."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise InputError(
            f"{path}: not a checkpoint vislab can resume from ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}). It is damaged, or was not "
            "written by a vislab run; start a new run."
        ) from None
    if not isinstance(state, dict) or "state_dict" not in state:
        raise InputError(f"{path}: not a Lightning checkpoint (no state_dict); start a new run.")
    return state
