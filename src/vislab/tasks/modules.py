"""The Lightning modules of the tasks: one base, and what each task's steps add to it.

`TaskModule` holds what every task shares: the model, the optimizer and schedule
(`optim.py`), loss logging, and `predict_step`, which turns a batch into rows of the task's
predictions table (a DataFrame with the `position` of each row's item in the dataset).
"""

from __future__ import annotations

import lightning as L
import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from vislab.config import ExperimentConfig
from vislab.engine.loop import POSITION
from vislab.predictions import score_column
from vislab.tasks.optim import optimizer_and_schedule, parameter_groups


class TaskModule(L.LightningModule):
    """A task's model and config; subclasses add the training, validation and predict steps."""

    def __init__(self, model: nn.Module, config: ExperimentConfig, classes: list[str]) -> None:
        super().__init__()
        self.model = model
        self.config = config
        self.classes = list(classes)

    def parameter_groups(self) -> list[dict]:
        return parameter_groups(self.model, self.config.train)

    def configure_optimizers(self):
        total = self.trainer.estimated_stepping_batches
        return optimizer_and_schedule(self.parameter_groups(), self.config.train, total)

    def log_loss(self, name: str, loss: torch.Tensor, size: int, **extra) -> None:
        self.log(name, loss, prog_bar=True, batch_size=size, **extra)

    def predict_step(self, batch, batch_index: int) -> pd.DataFrame:
        return self.predict_rows(batch)

    def predict_rows(self, batch) -> pd.DataFrame:
        raise NotImplementedError


class ClassificationModule(TaskModule):
    """A classifier (images (B, 3, H, W) or clips (B, C, T, H, W) -> logits (B, K)): cross-
    entropy with label smoothing and class weights, MixUp/CutMix, frozen-backbone modes."""

    def __init__(
        self,
        model: nn.Module,
        config: ExperimentConfig,
        classes: list[str],
        class_weights: torch.Tensor | None = None,
    ) -> None:
        from torchmetrics.classification import MulticlassAccuracy

        from vislab.data.transforms import batch_mixer
        from vislab.models.backbones import freeze_backbone

        super().__init__(model, config, classes)
        self.register_buffer("class_weights", class_weights, persistent=False)
        self.mixer = batch_mixer(len(classes), config.data.mixup, config.data.cutmix)
        self.val_accuracy = MulticlassAccuracy(num_classes=max(2, len(classes)), average="micro")
        if config.model.mode == "linear_probe":
            freeze_backbone(self.model, frozen=True)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)

    def parameter_groups(self) -> list[dict]:
        from vislab.models.backbones import head_module

        head = head_module(self.model)
        scale = self.config.model.backbone_lr_scale
        return parameter_groups(self.model, self.config.train, head=head, body_scale=scale)

    @property
    def backbone_frozen(self) -> bool:
        from vislab.models.backbones import head_module

        head = {id(p) for p in head_module(self.model).parameters()}
        return not any(p.requires_grad for p in self.model.parameters() if id(p) not in head)

    def on_train_epoch_start(self) -> None:
        from vislab.models.backbones import freeze_backbone, head_module

        unfreeze_after = self.config.model.unfreeze_after
        thaw = unfreeze_after is not None and self.current_epoch >= unfreeze_after
        if self.backbone_frozen and thaw:
            freeze_backbone(self.model, frozen=False)
        if self.backbone_frozen:  # a frozen backbone keeps its BatchNorm statistics too
            self.model.eval()
            head_module(self.model).train()

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        smoothing = self.config.train.label_smoothing
        return F.cross_entropy(
            logits, targets, weight=self.class_weights, label_smoothing=smoothing
        )

    def training_step(self, batch, batch_index: int) -> torch.Tensor:
        images, labels, _ = batch
        targets = labels
        if self.mixer is not None:
            images, targets = self.mixer(images, labels)  # targets: (B, K) soft labels
        loss = self.loss(self(images), targets)
        self.log_loss("train_loss", loss, len(labels), on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_index: int) -> None:
        images, labels, _ = batch
        logits = self(images)
        self.val_accuracy(logits, labels)
        self.log_loss("val_loss", self.loss(logits, labels), len(labels), sync_dist=True)
        self.log("val_accuracy", self.val_accuracy, prog_bar=True, batch_size=len(labels))

    def predict_rows(self, batch) -> pd.DataFrame:
        images, _, positions = batch
        probabilities = torch.softmax(self(images).float(), dim=1).cpu().numpy()
        rows = pd.DataFrame(probabilities, columns=[score_column(c) for c in self.classes])
        rows.insert(0, POSITION, np.asarray(positions))
        return rows


class DetectionModule(TaskModule):
    """A detector behind torchvision's interface. Training: the detector's own losses (summed).
    Validation: COCO mAP (torchmetrics). Prediction: a row per box."""

    def __init__(self, model: nn.Module, config: ExperimentConfig, classes: list[str]) -> None:
        from torchmetrics.detection import MeanAveragePrecision

        super().__init__(model, config, classes)
        self.val_map = MeanAveragePrecision(
            box_format="xyxy", iou_type="bbox", backend="faster_coco_eval"
        )
        self.val_map.warn_on_many_detections = False  # COCO keeps the 100 best per image
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
        self.log_loss("train_loss", loss, len(images), on_step=True, on_epoch=True)
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

    def predict_rows(self, batch) -> pd.DataFrame:
        images, _, positions = batch
        rows = []
        for position, found in zip(positions, self.model(images), strict=True):
            boxes = found["boxes"].float().cpu().numpy().reshape(-1, 4)
            frame = pd.DataFrame(boxes, columns=["x1", "y1", "x2", "y2"])
            frame["label"] = found["labels"].cpu().numpy() - 1  # torchvision's 0 is background
            frame["score"] = found["scores"].float().cpu().numpy()
            frame.insert(0, POSITION, int(position))
            rows.append(frame)
        return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


class CaptioningModule(TaskModule):
    """A transformers image-to-text model: its own next-token loss (padding left out) for
    training and validation; generation (beams, length limit) for prediction."""

    def __init__(self, model: nn.Module, config: ExperimentConfig, processor, prompt=None) -> None:
        super().__init__(model.train(), config, [])  # from_pretrained hands models over in eval
        self.processor, self.prompt = processor, prompt

    def _loss(self, batch: dict) -> torch.Tensor:
        inputs = {k: v for k, v in batch.items() if k != POSITION}
        labels = inputs["input_ids"].masked_fill(inputs["attention_mask"] == 0, -100)
        return self.model(**inputs, labels=labels).loss

    def training_step(self, batch, batch_index: int) -> torch.Tensor:
        loss = self._loss(batch)
        self.log_loss("train_loss", loss, len(batch["input_ids"]), on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_index: int) -> None:
        self.log_loss("val_loss", self._loss(batch), len(batch["input_ids"]), sync_dist=True)

    def predict_rows(self, batch) -> pd.DataFrame:
        from vislab.models.captioners import generate_from_inputs

        settings = self.config.model
        inputs = {k: v for k, v in batch.items() if k != POSITION}
        texts = generate_from_inputs(
            self.model,
            self.processor,
            inputs,
            settings.num_beams,
            settings.max_new_tokens,
            self.prompt,
        )
        return pd.DataFrame({POSITION: np.asarray(batch[POSITION]), "caption": texts})
