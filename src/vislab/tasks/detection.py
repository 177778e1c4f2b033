"""Object detection as a Lightning module around a torchvision detector."""

from __future__ import annotations

import lightning as L
import torch
from torch import nn
from torchmetrics.detection import MeanAveragePrecision

from vislab.config import ExperimentConfig
from vislab.tasks.optim import optimizer_and_schedule


class DetectionModule(L.LightningModule):
    """Training: the detector's own losses (summed). Validation: COCO mAP (torchmetrics)."""

    def __init__(self, model: nn.Module, config: ExperimentConfig) -> None:
        super().__init__()
        self.model = model
        self.config = config
        self.val_map = MeanAveragePrecision(
            box_format="xyxy", iou_type="bbox", backend="faster_coco_eval"
        )
        self.val_map.warn_on_many_detections = False  # COCO keeps the 100 best per image, by design
        self.train()  # Lightning keeps each submodule's mode: a frozen backbone starts in eval

    def on_train_epoch_start(self) -> None:
        self.train()

    def train(self, mode: bool = True) -> DetectionModule:
        """A frozen backbone stays in eval mode too: its batch-norm statistics do not move."""
        super().train(mode)
        if mode and self.config.model.freeze_backbone:
            from vislab.models.detectors import backbone_body

            backbone_body(self.model).eval()
        return self

    def training_step(self, batch, batch_index: int) -> torch.Tensor:
        images, targets, _ = batch
        losses = self.model(images, [{"boxes": t["boxes"], "labels": t["labels"]} for t in targets])
        loss = sum(losses.values())
        self.log(
            "train_loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=len(images)
        )
        for name, value in losses.items():
            self.log(f"train_{name}", value, on_epoch=True, batch_size=len(images))
        return loss

    def validation_step(self, batch, batch_index: int) -> None:
        images, targets, _ = batch
        outputs = self.model(images)
        self.val_map.update(
            outputs, [{"boxes": t["boxes"], "labels": t["labels"]} for t in targets]
        )

    def on_validation_epoch_end(self) -> None:
        result = self.val_map.compute()
        self.log("val_mAP", result["map"], prog_bar=True)
        self.log("val_mAP_50", result["map_50"])
        self.val_map.reset()

    def configure_optimizers(self):
        parameters = [p for p in self.model.parameters() if p.requires_grad]
        return optimizer_and_schedule(
            parameters, self.config.train, self.trainer.estimated_stepping_batches
        )
