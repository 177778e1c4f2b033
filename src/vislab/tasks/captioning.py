"""Captioning as a Lightning module around a transformers image-to-text model.

Training: the model's own next-token cross-entropy on (image, reference caption) pairs, padding
left out of the loss. Validation: the same loss on the val split (generation and caption
metrics run once, on the held-out split, after training).
"""

from __future__ import annotations

import lightning as L
import torch
from torch import nn

from vislab.config import ExperimentConfig
from vislab.tasks.optim import optimizer_and_schedule


class CaptioningModule(L.LightningModule):
    def __init__(self, model: nn.Module, config: ExperimentConfig) -> None:
        super().__init__()
        self.model = model.train()  # from_pretrained hands models over in eval mode
        self.config = config

    def _loss(self, batch: dict) -> torch.Tensor:
        labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
        return self.model(**batch, labels=labels).loss

    def training_step(self, batch, batch_index: int) -> torch.Tensor:
        loss = self._loss(batch)
        size = len(batch["input_ids"])
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=size)
        return loss

    def validation_step(self, batch, batch_index: int) -> None:
        self.log("val_loss", self._loss(batch), prog_bar=True, batch_size=len(batch["input_ids"]))

    def configure_optimizers(self):
        parameters = [p for p in self.model.parameters() if p.requires_grad]
        return optimizer_and_schedule(
            parameters, self.config.train, self.trainer.estimated_stepping_batches
        )
