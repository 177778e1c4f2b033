"""`vislab:fcos_small`: FCOS on a small convolutional backbone, for training from scratch.

torchvision's FCOS head, losses and post-processing on a 5-stage CNN (two 3x3 convolutions
with batch norm per stage, each stage halving the resolution) and a feature pyramid on strides
8, 16 and 32. About 1.9 M parameters: it learns small datasets from random weights in CPU
minutes (the shapes example reaches mAP ≈ 0.7 at 128 px in about two minutes), where the
ImageNet-sized detectors need pretrained backbones and a GPU. Use it for small images, few
classes, or as a fast baseline; use a torchvision detector with `pretrained: hub` for photos.

Each pyramid level's anchor size is its stride, as in torchvision's FCOS, so an object is
assigned to the level whose scale range (4x to 8x the stride) holds its regression targets.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

STRIDES = (8, 16, 32)


def _stage(channels_in: int, channels_out: int) -> nn.Sequential:
    layers = []
    for index, (a, b) in enumerate([(channels_in, channels_out), (channels_out, channels_out)]):
        stride = 2 if index == 0 else 1
        layers += [
            nn.Conv2d(a, b, 3, stride, 1, bias=False),
            nn.BatchNorm2d(b),
            nn.ReLU(inplace=True),
        ]
    return nn.Sequential(*layers)


class SmallBackbone(nn.Module):
    """Five stride-2 stages; an FPN over the last three (strides 8, 16, 32)."""

    def __init__(self, width: int = 32, out_channels: int = 64) -> None:
        from torchvision.ops import FeaturePyramidNetwork

        super().__init__()
        widths = [width, 2 * width, 4 * width, 4 * width, 8 * width]
        self.body = nn.Sequential(
            *[_stage(a, b) for a, b in zip([3, *widths[:-1]], widths, strict=True)]
        )
        self.fpn = FeaturePyramidNetwork(widths[2:], out_channels)
        self.out_channels = out_channels

    def forward(self, images: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        features = OrderedDict()
        x = images
        for index, stage in enumerate(self.body):
            x = stage(x)
            if index >= 2:
                features[str(index - 2)] = x
        return self.fpn(features)


def fcos_small(num_classes: int, image_size: int, width: int = 32) -> nn.Module:
    """An FCOS with `num_classes` labels (background included) for images of `image_size`."""
    from torchvision.models.detection import FCOS
    from torchvision.models.detection.anchor_utils import AnchorGenerator

    anchors = AnchorGenerator(tuple((s,) for s in STRIDES), ((1.0,),) * len(STRIDES))
    return FCOS(
        SmallBackbone(width),
        num_classes=num_classes,
        anchor_generator=anchors,
        min_size=image_size,
        max_size=image_size,
        score_thresh=0.05,
    )
