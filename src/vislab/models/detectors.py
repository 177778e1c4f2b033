"""Detection models by name: torchvision's Faster R-CNN, RetinaNet, FCOS and SSDlite.

`torchvision:NAME` with NAME from `torchvision.models.detection` (e.g.
`fasterrcnn_mobilenet_v3_large_fpn`, `fasterrcnn_resnet50_fpn_v2`, `retinanet_resnet50_fpn`,
`fcos_resnet50_fpn`, `ssdlite320_mobilenet_v3_large`). Heads are sized to the classes plus
background (torchvision's label 0); vislab's class k is the model's label k + 1.

`pretrained`: `none` (random weights; `weights_backbone=None` too, so nothing is fetched), `hub`
(the ImageNet backbone from torchvision: needs a network), or a file of weights saved from the
same architecture and classes (loaded with weights_only=True).
"""

from __future__ import annotations

from torch import nn

from vislab.errors import ConfigError
from vislab.models.backbones import TORCHVISION_PREFIX, read_weights_file

FIXED_SIZE = ("ssdlite320", "ssd300")  # SSD models resize to their own size


def detector_names() -> list[str]:
    import torchvision

    names = torchvision.models.list_models(module=torchvision.models.detection)
    return [n for n in names if not n.startswith(("maskrcnn", "keypointrcnn"))]


def is_detector(backbone: str) -> bool:
    return (
        backbone.startswith(TORCHVISION_PREFIX)
        and backbone.removeprefix(TORCHVISION_PREFIX) in detector_names()
    )


def create_detector(
    backbone: str, num_classes: int, pretrained: str = "none", image_size: int = 512
) -> nn.Module:
    """A torchvision detector for `num_classes` classes (+ background)."""
    import torchvision

    name = backbone.removeprefix(TORCHVISION_PREFIX)
    options = {"weights": None, "weights_backbone": "DEFAULT" if pretrained == "hub" else None,
               "num_classes": num_classes + 1}  # fmt: skip
    if not name.startswith(FIXED_SIZE):
        options.update(min_size=image_size, max_size=image_size)
    model = torchvision.models.get_model(name, **options)
    if pretrained not in ("none", "hub"):
        state = read_weights_file(pretrained)
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ConfigError(
                f"model.pretrained: {pretrained} does not fit {backbone} with {num_classes} classes "
                f"(missing {missing[:3]}, unexpected {unexpected[:3]})."
            )
    return model
