"""The optimizer and learning-rate schedule every task uses (one place for both)."""

from __future__ import annotations

import math

import torch

from vislab.config import TrainConfig


def warmup_cosine(total_steps: int, warmup_steps: int, cosine: bool = True):
    """lr multiplier per step: linear warmup from ~0 to 1, then cosine decay to 0 (or constant)."""

    def multiplier(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        if not cosine:
            return 1.0
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return multiplier


def optimizer_and_schedule(parameters, train: TrainConfig, total_steps: int) -> dict:
    """AdamW or SGD (Nesterov) over `parameters` (or groups), stepped per batch by the schedule."""
    if train.optimizer == "sgd":
        optimizer = torch.optim.SGD(
            parameters,
            lr=train.lr,
            momentum=train.momentum,
            weight_decay=train.weight_decay,
            nesterov=True,
        )
    else:
        optimizer = torch.optim.AdamW(parameters, lr=train.lr, weight_decay=train.weight_decay)
    total = max(1, int(total_steps))
    warmup = int(round(total * train.warmup_epochs / train.epochs))
    schedule = warmup_cosine(total, warmup, cosine=train.schedule == "cosine")
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
