"""`vislab explain` for detectors: EigenCAM (pytorch-grad-cam) with the predicted boxes drawn.

EigenCAM (Muhammad & Yeasin 2020) needs no gradients and no target class: the map is the first
principal component of a layer's activations, which suits detectors, whose outputs are many boxes
rather than one score. The layer is the detector's feature pyramid (torchvision, vislab:fcos_small)
or the CNN backbone of a transformers DETR-family model; its levels are resized to the finest
level and stacked along channels before the projection (as pytorch-grad-cam's detection tutorial
does). Gradient-based maps (Grad-CAM and kin) need one box as the target and are not offered here.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import nn

from vislab.errors import InputError

MIN_SCORE = 0.5  # boxes drawn on the overlays


def _feature_maps(output) -> list[torch.Tensor]:
    """Every (B, C, H, W) tensor in a layer's output (dicts, lists and tuples searched)."""
    if isinstance(output, torch.Tensor):
        return [output] if output.dim() == 4 else []
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, list | tuple):
        return [t for item in output for t in _feature_maps(item)]
    return []


def stack_levels(output) -> torch.Tensor:
    """Pyramid levels resized to the finest one and concatenated: (B, sum C, H, W)."""
    maps = _feature_maps(output)
    if not maps:
        raise InputError("the detector's feature layer gave no feature maps to explain.")
    height, width = max((m.shape[-2:] for m in maps), key=lambda s: s[0] * s[1])
    resized = [nn.functional.interpolate(m, size=(height, width), mode="bilinear") for m in maps]
    return torch.cat(resized, dim=1)


def feature_layer(model: nn.Module) -> nn.Module:
    inner = getattr(model, "model", None)
    if inner is not None and hasattr(inner, "config"):  # transformers wrapper: its CNN backbone
        return inner.model.backbone
    if not hasattr(model, "backbone"):
        raise InputError(
            f"{type(model).__name__}: EigenCAM is available for torchvision, vislab and "
            "transformers detectors; not yet for ultralytics models."
        )
    return model.backbone  # torchvision and vislab detectors: backbone + feature pyramid


class _AnyTarget:
    """pytorch-grad-cam asks for targets; EigenCAM never uses them."""

    def __call__(self, output):
        return torch.zeros(())


def eigencam_map(model: nn.Module, image: torch.Tensor) -> np.ndarray:
    """(H, W) map in [0, 1] for one float image (3, H, W) in [0, 1]."""
    from pytorch_grad_cam import EigenCAM

    model = model.eval()
    cam = EigenCAM(model, [feature_layer(model)], reshape_transform=stack_levels)
    with cam, torch.no_grad():
        return cam(input_tensor=image[None], targets=[_AnyTarget()])[0]


def explain_detections(model: nn.Module, image: Image.Image, classes: list[str]):
    """The EigenCAM overlay with the confident predicted boxes, and the detections."""
    from pytorch_grad_cam.utils.image import show_cam_on_image
    from torchvision.transforms.v2 import functional as F
    from torchvision.utils import draw_bounding_boxes

    tensor = F.to_dtype(F.pil_to_tensor(image.convert("RGB")), torch.float32, scale=True)
    heatmap = eigencam_map(model, tensor)
    with torch.no_grad():
        found = model.eval()([tensor])[0]
    keep = found["scores"] >= MIN_SCORE
    shown = show_cam_on_image(
        tensor.permute(1, 2, 0).numpy(), heatmap, use_rgb=True, image_weight=0.55
    )
    names = [
        f"{classes[int(k) - 1]} {s:.2f}"
        for k, s in zip(found["labels"][keep], found["scores"][keep], strict=True)
    ]
    if not names:
        return shown, names
    drawn = draw_bounding_boxes(
        torch.from_numpy(shown).permute(2, 0, 1),
        found["boxes"][keep],
        names,
        colors="white",
        width=2,
    )
    return drawn.permute(1, 2, 0).numpy(), names
