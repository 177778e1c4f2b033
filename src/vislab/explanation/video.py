"""What a video classifier looked at: class activation maps over space and time.

3-D CNNs (torchvision's r3d_18, mc3_18, r2plus1d_18, s3d): Grad-CAM and its kin on the last
feature map of at least min(7, size / 8) pixels a side, which is (B, C, t, h, w); the map is
(T, H, W), one per frame of the clip. Frame pooling (`frames:NAME`): the image backbone's last
such map, computed per frame and folded back into (B, C, T, h, w). Transformers (VideoMAE,
MViT, Swin3D) are not covered here.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from vislab.errors import InputError


def fold_frames(frames: int):
    """(B*T, C, h, w) per-frame feature maps -> (B, C, T, h, w)."""

    def reshape(maps: torch.Tensor) -> torch.Tensor:
        batch = maps.shape[0] // frames
        return maps.reshape(batch, frames, *maps.shape[1:]).transpose(1, 2)

    return reshape


def clip_maps(model: nn.Module, clips: torch.Tensor, targets: list[int], method: str) -> np.ndarray:
    """(B, T, H, W) maps in [0, 1] for each clip (B, C, T, H, W) and its target class."""
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    from vislab.explanation.cam import _cam_class, cnn_target_layer

    if method in ("attention",) or not any(
        isinstance(m, nn.Conv2d | nn.Conv3d) for m in model.modules()
    ):
        raise InputError(
            f"--method {method}: video explanations need a convolutional model "
            "(torchvision:r3d_18 and kin, or frames:NAME with a CNN)."
        )
    layer = cnn_target_layer(model.eval(), clips[:1])
    shape = _output_shape(model, layer, clips[:1])
    reshape = fold_frames(clips.shape[2]) if len(shape) == 4 else None
    cam = _cam_class(method)(model=model, target_layers=[layer], reshape_transform=reshape)
    inputs = clips.detach().clone().requires_grad_(True)
    with cam:
        return cam(input_tensor=inputs, targets=[ClassifierOutputTarget(t) for t in targets])


def _output_shape(model: nn.Module, layer: nn.Module, example: torch.Tensor) -> tuple:
    found = []
    hook = layer.register_forward_hook(lambda m, _, out: found.append(tuple(out.shape)))
    try:
        with torch.no_grad():
            model(example)
    finally:
        hook.remove()
    return found[0]
