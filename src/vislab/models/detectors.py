"""Detection models by name, all behind torchvision's detector interface.

- `torchvision:NAME` with NAME from `torchvision.models.detection` (e.g.
  `fasterrcnn_mobilenet_v3_large_fpn`, `fasterrcnn_resnet50_fpn_v2`, `retinanet_resnet50_fpn`,
  `fcos_resnet50_fpn`, `ssdlite320_mobilenet_v3_large`);
- `transformers:FAMILY`: DETR, Conditional DETR, Deformable DETR, RT-DETR (`models/detr.py`);
- `vislab:fcos_small`: FCOS on a small CNN that trains from scratch on CPU (`models/small_fcos.py`);
- `ultralytics:NAME`: YOLO (optional extra; trained by ultralytics' trainer, `models/yolo.py`).

Heads are sized to the classes plus background (torchvision's label 0); vislab's class k is the
model's label k + 1. `pretrained`: `none` (random weights, nothing fetched), `hub` (torchvision's
ImageNet backbone, or the DETR family's reference checkpoint: needs a network), a file of weights
saved from the same architecture and classes (loaded with weights_only=True), or for
transformers models a folder written by `save_pretrained`.
"""

from __future__ import annotations

from torch import nn

from vislab.errors import ConfigError
from vislab.models.backbones import TORCHVISION_PREFIX, read_weights_file
from vislab.models.detr import FAMILIES, PREFIX, is_transformers_detector

FIXED_SIZE = ("ssdlite320", "ssd300")  # SSD models resize to their own size
VISLAB_DETECTORS = ("vislab:fcos_small",)


def detector_names() -> list[str]:
    import torchvision

    names = torchvision.models.list_models(module=torchvision.models.detection)
    return [n for n in names if not n.startswith(("maskrcnn", "keypointrcnn"))]


def all_detector_names() -> list[str]:
    return [
        *(TORCHVISION_PREFIX + n for n in detector_names()),
        *(PREFIX + f for f in FAMILIES),
        *VISLAB_DETECTORS,
    ]


def is_detector(backbone: str) -> bool:
    from vislab.models.yolo import is_yolo

    if backbone in VISLAB_DETECTORS or is_transformers_detector(backbone) or is_yolo(backbone):
        return True
    return (
        backbone.startswith(TORCHVISION_PREFIX)
        and backbone.removeprefix(TORCHVISION_PREFIX) in detector_names()
    )


def create_detector(
    backbone: str,
    num_classes: int,
    pretrained: str = "none",
    image_size: int = 512,
    freeze_backbone: bool = False,
) -> nn.Module:
    """A detector for `num_classes` classes (+ background), optionally with a frozen backbone."""
    if is_transformers_detector(backbone):
        from vislab.models.detr import create_transformers_detector

        model = create_transformers_detector(backbone, num_classes, pretrained, image_size)
    else:
        model = _create_torch_detector(backbone, num_classes, pretrained, image_size)
    if freeze_backbone:
        for parameter in backbone_body(model).parameters():
            parameter.requires_grad_(False)
    return model


def _create_torch_detector(
    backbone: str, num_classes: int, pretrained: str, image_size: int
) -> nn.Module:
    if backbone == "vislab:fcos_small":
        from vislab.models.small_fcos import fcos_small

        if pretrained == "hub":
            raise ConfigError(
                "model.pretrained: vislab:fcos_small has no hub weights; use none or a file."
            )
        model = fcos_small(num_classes + 1, image_size)
    else:
        model = _torchvision_detector(backbone, num_classes, pretrained, image_size)
    if pretrained not in ("none", "hub"):
        state = read_weights_file(pretrained)
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ConfigError(
                f"model.pretrained: {pretrained} does not fit {backbone} with {num_classes} "
                "classes "
                f"(missing {missing[:3]}, unexpected {unexpected[:3]})."
            )
    return model


def _torchvision_detector(
    backbone: str, num_classes: int, pretrained: str, image_size: int
) -> nn.Module:
    import torchvision

    name = backbone.removeprefix(TORCHVISION_PREFIX)
    options = {
        "weights": None,
        "weights_backbone": "DEFAULT" if pretrained == "hub" else None,
        "num_classes": num_classes + 1,
    }
    if not name.startswith(FIXED_SIZE):
        options.update(min_size=image_size, max_size=image_size)
    return torchvision.models.get_model(name, **options)


def backbone_body(model: nn.Module) -> nn.Module:
    """The feature extractor that `freeze_backbone` freezes (necks and heads keep training)."""
    if hasattr(model, "model") and hasattr(model.model, "config"):  # transformers wrapper
        inner = model.model.model
        return getattr(inner, "backbone", inner)
    body = getattr(model.backbone, "body", None)
    body = getattr(model.backbone, "features", None) if body is None else body
    if body is None:
        raise ConfigError(
            f"model.freeze_backbone: no backbone body found in {type(model).__name__}."
        )
    return body
