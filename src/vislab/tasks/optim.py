"""The optimizer and learning-rate schedule of every task: timm's and torch's, not vislab's own.

- Parameter groups: timm's `param_groups_weight_decay` (no weight decay on biases and 1-d
  parameters: batch-norm and layer-norm weights), every parameter included — frozen ones
  too, so that a backbone unfrozen later (`model.unfreeze_after`) trains — and the
  classifier head at its own learning rate (`model.backbone_lr_scale` scales the rest).
- Optimizer: timm's `create_optimizer_v2` (`adamw`, or `sgd`: SGD with Nesterov momentum).
- Schedule, stepped every batch: torch's `LinearLR` warmup over `train.warmup_epochs`, then
  `CosineAnnealingLR` to 0 (or a constant rate), chained by `SequentialLR`.
"""

from __future__ import annotations

import contextlib

from torch import nn

from vislab.config import TrainConfig


@contextlib.contextmanager
def _all_trainable(model: nn.Module):
    """timm groups trainable parameters only; frozen ones must be in the optimizer too."""
    frozen = [p for p in model.parameters() if not p.requires_grad]
    for parameter in frozen:
        parameter.requires_grad_(True)
    try:
        yield
    finally:
        for parameter in frozen:
            parameter.requires_grad_(False)


def parameter_groups(
    model: nn.Module, train: TrainConfig, head: nn.Module | None = None, body_scale: float = 1.0
) -> list[dict]:
    """timm's decay / no-decay groups of `model`; with `head`, the rest at lr * body_scale."""
    from timm.optim import param_groups_weight_decay

    with _all_trainable(model):
        groups = param_groups_weight_decay(model, train.weight_decay)
    head_ids = {id(p) for p in head.parameters()} if head is not None else set()
    result = []
    for group in groups:
        for in_head in (False, True):
            params = [p for p in group["params"] if (id(p) in head_ids) == in_head]
            if params:
                lr = train.lr if in_head or head is None else train.lr * body_scale
                result.append({**group, "params": params, "lr": lr})
    return result


def optimizer_and_schedule(groups: list[dict], train: TrainConfig, total_steps: int) -> dict:
    """Lightning's `configure_optimizers` answer: the optimizer and a per-step schedule."""
    from timm.optim import create_optimizer_v2

    optimizer = create_optimizer_v2(
        groups,
        opt=train.optimizer,
        lr=train.lr,
        weight_decay=train.weight_decay,
        momentum=train.momentum,
    )
    total = max(1, int(total_steps))
    warmup = min(total - 1, int(round(total * train.warmup_epochs / train.epochs)))
    schedule = _schedule(optimizer, total, warmup, train.schedule)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


def _schedule(optimizer, total: int, warmup: int, kind: str):
    from torch.optim import lr_scheduler

    decay = (
        lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, total - warmup))
        if kind == "cosine"
        else lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)
    )
    if warmup <= 0:
        return decay
    ramp = lr_scheduler.LinearLR(optimizer, start_factor=1 / (warmup + 1), total_iters=warmup)
    return lr_scheduler.SequentialLR(optimizer, [ramp, decay], milestones=[warmup])
