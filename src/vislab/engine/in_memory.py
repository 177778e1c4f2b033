"""Predictions held in memory, through Lightning's `Trainer.predict`: the held-out split at the
end of training (on the training's devices, DDP included) and `vislab.predict` in Python, for a
list of files small enough to hold. A collection goes through `engine/run.py` instead.

A task's LightningModule turns a batch into table rows (`predict_step` returns a DataFrame
whose `position` column is the row of the predicted table each prediction belongs to; a
detection image gives a row per box). The rows of every batch are collected by a callback on
each process; under DDP they are gathered on rank 0 and the repeats of DistributedSampler's
padding are dropped by position, so the table is the same on one device or many.
"""

from __future__ import annotations

import pandas as pd

from vislab.engine.loop import POSITION


def _collector(what: str):
    import lightning as L

    from vislab.progress import Progress, batch_size

    class Rows(L.Callback):
        """Every batch's rows, tagged with the process and batch that made them; on rank 0
        the progress (items done, rate, time left)."""

        def __init__(self) -> None:
            self.parts: list[pd.DataFrame] = []
            self.progress = None

        def on_predict_epoch_start(self, trainer, module) -> None:
            if trainer.global_rank == 0 and trainer.progress_bar_callback is None:
                loader = trainer.predict_dataloaders
                sampler = getattr(loader.batch_sampler, "sampler", None)
                total = len(sampler) if sampler is not None else len(loader.dataset)  # its share
                self.progress = Progress(total, what, "items").__enter__()

        def on_predict_batch_end(
            self, trainer, module, outputs, batch, batch_idx, dataloader_idx=0
        ):
            if outputs is not None and len(outputs):
                source = trainer.global_rank * 10**9 + batch_idx
                self.parts.append(outputs.assign(_source=source))
            if self.progress is not None:
                done = self.progress.done
                self.progress.advance(min(batch_size(batch), self.progress.total - done))

        def on_predict_epoch_end(self, trainer, module) -> None:
            if self.progress is not None:
                self.progress.__exit__(None, None, None)
                self.progress = None

    return Rows()


def prediction_trainer(accelerator: str = "auto", precision: str = "32", progress: bool = False):
    """A Trainer for prediction alone, on one device (no logs, no checkpoints)."""
    import lightning as L

    from vislab.progress import quiet_lightning

    quiet_lightning()
    return L.Trainer(
        accelerator=accelerator,
        devices=1,
        precision=precision,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=progress,
        enable_model_summary=False,
    )


def predict_rows(
    module, loader, trainer=None, checkpoint: str | None = None, what: str = "predict"
) -> pd.DataFrame | None:
    """The rows `module.predict_step` gives for every batch of `loader`, in table order; None
    on the processes other than rank 0. `checkpoint` restores weights first (the best ones);
    `what` names the work in the progress shown."""
    trainer = trainer or prediction_trainer()
    collector = _collector(what)
    trainer.callbacks.append(collector)
    try:
        trainer.predict(
            module,
            dataloaders=loader,
            ckpt_path=checkpoint,
            return_predictions=False,
            weights_only=True,
        )
    finally:
        trainer.callbacks.remove(collector)
    parts = _gathered(trainer, collector.parts)
    if parts is None:
        return None
    return _in_table_order(parts)


def _gathered(trainer, parts: list[pd.DataFrame]) -> list[pd.DataFrame] | None:
    if trainer.world_size <= 1:
        return parts
    import torch.distributed as dist

    everyone = [None] * trainer.world_size if trainer.global_rank == 0 else None
    dist.gather_object(parts, everyone, dst=0)
    if trainer.global_rank != 0:
        return None
    return [part for rank_parts in everyone for part in rank_parts]


def _in_table_order(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """All rows, sorted by position; a position predicted twice (padding) keeps its first."""
    if not parts:
        return pd.DataFrame({POSITION: pd.Series(dtype=int)})
    rows = pd.concat(parts, ignore_index=True)
    first = rows.groupby(POSITION)["_source"].transform("min")
    rows = rows[rows["_source"] == first]
    rows = rows.sort_values(POSITION, kind="stable").drop(columns="_source")
    return rows.reset_index(drop=True)
