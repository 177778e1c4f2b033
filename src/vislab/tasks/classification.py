"""Image classification as a Lightning module: loss, optimizer, schedule, transfer modes."""

from __future__ import annotations

import lightning as L
import torch
from torch import nn
from torch.nn import functional as F
from torchmetrics.classification import MulticlassAccuracy

from vislab.config import ExperimentConfig
from vislab.data.transforms import batch_mixer
from vislab.models.backbones import freeze_backbone, head_module, parameter_groups
from vislab.tasks.optim import optimizer_and_schedule


class ClassificationModule(L.LightningModule):
    """Wraps a classifier `model` (images (B, 3, H, W) -> logits (B, K)) for training."""

    def __init__(
        self,
        model: nn.Module,
        config: ExperimentConfig,
        num_classes: int,
        class_weights: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.config = config
        self.num_classes = num_classes
        self.register_buffer("class_weights", class_weights, persistent=False)
        self.mixer = batch_mixer(num_classes, config.data.mixup, config.data.cutmix)
        self.val_accuracy = MulticlassAccuracy(num_classes=num_classes, average="micro")
        if config.model.mode == "linear_probe":
            freeze_backbone(self.model, frozen=True)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)

    @property
    def backbone_frozen(self) -> bool:
        head = {id(p) for p in head_module(self.model).parameters()}
        return not any(p.requires_grad for p in self.model.parameters() if id(p) not in head)

    def on_train_epoch_start(self) -> None:
        unfreeze_after = self.config.model.unfreeze_after
        if (
            self.backbone_frozen
            and unfreeze_after is not None
            and self.current_epoch >= unfreeze_after
        ):
            freeze_backbone(self.model, frozen=False)
        if self.backbone_frozen:  # a frozen backbone keeps its BatchNorm statistics too
            self.model.eval()
            head_module(self.model).train()

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(
            logits,
            targets,
            weight=self.class_weights,
            label_smoothing=self.config.train.label_smoothing,
        )

    def training_step(self, batch, batch_index: int) -> torch.Tensor:
        images, labels, _ = batch
        targets = labels
        if self.mixer is not None:
            images, targets = self.mixer(images, labels)  # targets: (B, K) soft labels
        loss = self.loss(self(images), targets)
        self.log(
            "train_loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=len(labels)
        )
        return loss

    def validation_step(self, batch, batch_index: int) -> None:
        images, labels, _ = batch
        logits = self(images)
        self.val_accuracy(logits, labels)
        size = len(labels)
        self.log(
            "val_loss", self.loss(logits, labels), prog_bar=True, sync_dist=True, batch_size=size
        )
        self.log("val_accuracy", self.val_accuracy, prog_bar=True, batch_size=size)

    def configure_optimizers(self):
        train = self.config.train
        groups = parameter_groups(self.model, train.lr, self.config.model.backbone_lr_scale)
        return optimizer_and_schedule(groups, train, self.trainer.estimated_stepping_batches)
