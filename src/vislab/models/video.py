"""Video classifiers by name: torchvision's video models and a frame-level baseline.

- `torchvision:NAME` with NAME in `VIDEO_MODELS` (r3d_18, mc3_18, r2plus1d_18, s3d, mvit_v2_s,
  swin3d_t): clips (B, C, T, H, W) in, logits out; `pretrained: hub` loads torchvision's
  Kinetics-400 weights (a network, once) and replaces the head.
- `frames:NAME` with NAME any timm image backbone: each frame through the backbone, features
  averaged over time, a linear head — the baseline that shows what motion adds.
- `transformers:videomae`: VideoMAE; `pretrained: hub` (MCG-NJU/videomae-base-finetuned-kinetics)
  or a `save_pretrained` folder, whose frame count and image size the clips must match.
Inputs are normalised as each family's weights expect (`normalization`): Kinetics-400 statistics
for torchvision's video models, the timm model's own for frame pooling, the processor's for
VideoMAE.
"""

from __future__ import annotations

import torch
from torch import nn

from vislab.errors import ConfigError
from vislab.models.backbones import TORCHVISION_PREFIX, read_weights_file, replace_head

VIDEO_MODELS = ("r3d_18", "mc3_18", "r2plus1d_18", "s3d", "mvit_v2_s", "swin3d_t")
FRAMES_PREFIX = "frames:"
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)


VIDEOMAE = "transformers:videomae"
VIDEOMAE_HUB = "MCG-NJU/videomae-base-finetuned-kinetics"
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def is_video_model(backbone: str) -> bool:
    if backbone == VIDEOMAE:
        return True
    if backbone.startswith(FRAMES_PREFIX):
        return len(backbone) > len(FRAMES_PREFIX)
    return (
        backbone.startswith(TORCHVISION_PREFIX)
        and backbone.removeprefix(TORCHVISION_PREFIX) in VIDEO_MODELS
    )


class FramePooling(nn.Module):
    """An image backbone applied to every frame, features averaged over time, a linear head."""

    def __init__(self, backbone: nn.Module, num_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(backbone.num_features, num_classes)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:  # (B, C, T, H, W)
        batch, channels, time = clips.shape[:3]
        frames = clips.transpose(1, 2).reshape(batch * time, channels, *clips.shape[3:])
        features = self.backbone(frames).reshape(batch, time, -1).mean(dim=1)
        return self.head(features)


class VideoMAEClassifier(nn.Module):
    """transformers' VideoMAE behind the (B, C, T, H, W) interface of torchvision's video models."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model.train()

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=clips.transpose(1, 2)).logits


def _videomae(num_classes: int, pretrained: str, frames: int, image_size: int) -> nn.Module:
    from transformers import VideoMAEConfig, VideoMAEForVideoClassification
    from transformers.utils import logging

    logging.disable_progress_bar()
    if pretrained == "none":
        model = VideoMAEForVideoClassification(
            VideoMAEConfig(num_labels=num_classes, num_frames=frames, image_size=image_size)
        )
    else:
        source = VIDEOMAE_HUB if pretrained == "hub" else pretrained
        try:
            model = VideoMAEForVideoClassification.from_pretrained(
                source, num_labels=num_classes, ignore_mismatched_sizes=True
            )
        except OSError as error:
            raise ConfigError(
                f"model.pretrained: could not load VideoMAE from '{source}' ({error}); offline, "
                "give a folder written by save_pretrained."
            ) from error
    config = model.config
    if (config.num_frames, config.image_size) != (frames, image_size):
        raise ConfigError(
            f"model.pretrained: this VideoMAE takes {config.num_frames} frames of "
            f"{config.image_size} px; "
            f"set data.frames: {config.num_frames} and data.image_size: {config.image_size}."
        )
    return VideoMAEClassifier(model)


def normalization(backbone: str, pretrained: str = "none") -> tuple[tuple, tuple]:
    """(mean, std) the family's weights expect."""
    if backbone == VIDEOMAE:
        from pathlib import Path

        path = Path(pretrained) / "preprocessor_config.json"
        if path.is_file():
            import json

            settings = json.loads(path.read_text())
            return tuple(settings.get("image_mean", IMAGENET[0])), tuple(
                settings.get("image_std", IMAGENET[1])
            )
        return IMAGENET
    if backbone.startswith(FRAMES_PREFIX):
        import timm

        config = timm.get_pretrained_cfg(backbone.removeprefix(FRAMES_PREFIX))
        return (tuple(config.mean), tuple(config.std)) if config else IMAGENET
    return KINETICS_MEAN, KINETICS_STD


def create_video_model(
    backbone: str,
    num_classes: int,
    pretrained: str = "none",
    frames: int = 8,
    image_size: int = 112,
) -> nn.Module:
    if backbone == VIDEOMAE:
        return _videomae(num_classes, pretrained, frames, image_size)
    if backbone.startswith(FRAMES_PREFIX):
        import timm

        name = backbone.removeprefix(FRAMES_PREFIX)
        model = FramePooling(
            timm.create_model(name, pretrained=pretrained == "hub", num_classes=0), num_classes
        )
    else:
        import torchvision

        name = backbone.removeprefix(TORCHVISION_PREFIX)
        if pretrained != "hub":
            model = torchvision.models.get_model(name, weights=None, num_classes=num_classes)
        else:  # Kinetics-400 weights, then a head for these classes
            model = torchvision.models.get_model(name, weights="DEFAULT")
            if name == "s3d":
                model.classifier[-1] = nn.Conv3d(model.classifier[-1].in_channels, num_classes, 1)
            else:
                replace_head(model, num_classes)
    if pretrained not in ("none", "hub"):
        missing, unexpected = model.load_state_dict(read_weights_file(pretrained), strict=False)
        if missing or unexpected:
            raise ConfigError(
                f"model.pretrained: {pretrained} does not fit {backbone} "
                f"(missing {missing[:3]}, unexpected {unexpected[:3]})."
            )
    return model
