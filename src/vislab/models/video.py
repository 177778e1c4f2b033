"""Video classifiers by name: torchvision's video models and a frame-level baseline.

- `torchvision:NAME` with NAME in `VIDEO_MODELS` (r3d_18, mc3_18, r2plus1d_18, mvit_v2_s,
  swin3d_t): clips (B, C, T, H, W) in, logits out; `pretrained: hub` loads torchvision's
  Kinetics-400 weights (a network, once) and replaces the head.
- `frames:NAME` with NAME any timm image backbone: each frame through the backbone, features
  averaged over time, a linear head — the baseline that shows what motion adds.
Inputs are normalised with the Kinetics-400 statistics of torchvision's video weights.
"""

from __future__ import annotations

import torch
from torch import nn

from vislab.errors import ConfigError
from vislab.models.backbones import TORCHVISION_PREFIX, read_weights_file, replace_head

VIDEO_MODELS = ("r3d_18", "mc3_18", "r2plus1d_18", "mvit_v2_s", "swin3d_t")
FRAMES_PREFIX = "frames:"
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)


def is_video_model(backbone: str) -> bool:
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


def create_video_model(backbone: str, num_classes: int, pretrained: str = "none") -> nn.Module:
    if backbone.startswith(FRAMES_PREFIX):
        import timm

        name = backbone.removeprefix(FRAMES_PREFIX)
        model = FramePooling(
            timm.create_model(name, pretrained=pretrained == "hub", num_classes=0), num_classes
        )
    else:
        import torchvision

        name = backbone.removeprefix(TORCHVISION_PREFIX)
        model = torchvision.models.get_model(
            name, weights="DEFAULT" if pretrained == "hub" else None
        )
        replace_head(model, num_classes)
    if pretrained not in ("none", "hub"):
        missing, unexpected = model.load_state_dict(read_weights_file(pretrained), strict=False)
        if missing or unexpected:
            raise ConfigError(f"model.pretrained: {pretrained} does not fit {backbone} "
                              f"(missing {missing[:3]}, unexpected {unexpected[:3]}).")  # fmt: skip
    return model
