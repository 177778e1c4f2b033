"""What the model looked at: class activation maps (pytorch-grad-cam) and attention rollout.

- CNNs: the target layer is the last layer whose output is a feature map of at least
  min(7, image_size / 8) pixels a side (the usual last stage at 224 px; an earlier stage for
  tiny images, where the last stage is 1x1).
- ViTs (timm): the last block's first norm, with a reshape transform from tokens to a grid.
- `attention`: attention rollout (Abnar & Zuidema 2020) over every block of a timm ViT.

Faithfulness: ROAD (Rong et al. 2022, pytorch-grad-cam's `ROADCombined`): the drop in the
target's probability when the most relevant pixels are removed, against the least relevant
first; higher is more faithful. The same score for a random map is the baseline to beat.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from vislab.errors import InputError

METHODS = ("gradcam", "gradcam++", "eigencam", "scorecam", "attention")
ROAD_PERCENTILES = [20, 40, 60, 80]


def _cam_class(method: str):
    from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus, RandomCAM, ScoreCAM

    table = {
        "gradcam": GradCAM,
        "gradcam++": GradCAMPlusPlus,
        "eigencam": EigenCAM,
        "scorecam": ScoreCAM,
        "random": RandomCAM,
    }
    if method not in table:
        raise InputError(f"--method must be one of {', '.join(METHODS)}. Got '{method}'.")
    return table[method]


def is_vit(model: nn.Module) -> bool:
    return hasattr(model, "blocks") and hasattr(model, "patch_embed")


def token_grid(prefix: int = 1, grid: tuple[int, int] | None = None) -> Callable:
    """(B, prefix + h*w, C) transformer tokens -> (B, C, h, w) feature map, for CAMs on ViTs
    (a square grid unless `grid` gives h, w)."""

    def reshape(tokens: torch.Tensor) -> torch.Tensor:
        patches = tokens[:, prefix:, :]
        height, width = grid or (int(round(patches.shape[1] ** 0.5)),) * 2
        return patches.reshape(tokens.shape[0], height, width, tokens.shape[2]).permute(0, 3, 1, 2)

    return reshape


def vit_reshape(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """The token-to-grid reshape of a timm ViT."""
    return token_grid(getattr(model, "num_prefix_tokens", 1), tuple(model.patch_embed.grid_size))


def cnn_target_layer(model: nn.Module, example: int | torch.Tensor) -> nn.Module:
    """The last module (in execution order) whose output is a large enough feature map.

    `example` is an input the model takes (or the image size of a (1, 3, size, size) input);
    feature maps are (B, C, h, w), or (B, C, t, h, w) for video models."""
    if isinstance(example, int):
        example = torch.zeros(1, 3, example, example)
    outputs: list[tuple[nn.Module, tuple[int, ...]]] = []
    hooks = [
        module.register_forward_hook(lambda m, _, out: outputs.append((m, tuple(out.shape))))
        for module in model.modules()
        if not list(module.children())  # leaves: their outputs are the real feature maps
    ]
    try:
        with torch.no_grad():
            model.eval()(example)
    finally:
        for hook in hooks:
            hook.remove()
    size = example.shape[-1]
    smallest = min(7, max(1, size // 8))
    maps = [m for m, shape in outputs if len(shape) in (4, 5) and min(shape[-2:]) >= smallest]
    if not maps:
        raise InputError(f"{type(model).__name__}: no feature map to explain at {size} px.")
    return maps[-1]


def make_cam(model: nn.Module, method: str, image_size: int):
    chosen = model.cam_layer() if hasattr(model, "cam_layer") else None
    if chosen is not None:  # a model that names its layer (CLIP's vision transformer)
        layer, prefix = chosen
        return _cam_class(method)(
            model=model, target_layers=[layer], reshape_transform=token_grid(prefix)
        )
    if is_vit(model):
        return _cam_class(method)(
            model=model,
            target_layers=[model.blocks[-1].norm1],
            reshape_transform=vit_reshape(model),
        )
    return _cam_class(method)(model=model, target_layers=[cnn_target_layer(model, image_size)])


def class_maps(
    model: nn.Module, images: torch.Tensor, targets: list[int], method: str
) -> np.ndarray:
    """(B, H, W) maps in [0, 1] for each image's target class."""
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    if method == "attention":
        return attention_rollout(model, images)
    cam = make_cam(model.eval(), method, images.shape[-1])
    # Gradients must reach the target layer even when the backbone is frozen (linear probe).
    images = images.detach().clone().requires_grad_(True)
    with cam:
        return cam(input_tensor=images, targets=[ClassifierOutputTarget(t) for t in targets])


def attention_rollout(model: nn.Module, images: torch.Tensor) -> np.ndarray:
    """Attention rollout of a timm ViT: product over blocks of (mean-head attention + identity)."""
    if not is_vit(model):
        raise InputError(
            "--method attention needs a ViT backbone (timm vit_*); use gradcam for CNNs."
        )
    from timm.utils import AttentionExtract

    fused = [(m, m.fused_attn) for m in model.modules() if hasattr(m, "fused_attn")]
    for module, _ in fused:  # the fused kernel never materialises the attention matrix
        module.fused_attn = False
    try:  # timm traces the model once, keeping every block's softmaxed attention
        extractor = AttentionExtract(model.eval(), method="fx")
    finally:
        for module, flag in fused:
            module.fused_attn = flag
    with torch.no_grad():
        captured = list(extractor(images).values())  # per block (B, heads, T, T)
    tokens = captured[0].shape[-1]
    rollout = torch.eye(tokens).expand(images.shape[0], tokens, tokens)
    for attention in captured:  # (B, heads, T, T)
        mixed = attention.mean(dim=1) + torch.eye(tokens)
        rollout = (mixed / mixed.sum(dim=-1, keepdim=True)) @ rollout
    prefix = getattr(model, "num_prefix_tokens", 1)
    height, width = model.patch_embed.grid_size
    relevance = rollout[:, 0, prefix:].reshape(-1, 1, height, width)
    upsampled = nn.functional.interpolate(relevance, size=images.shape[-2:], mode="bilinear")[:, 0]
    low = upsampled.amin(dim=(1, 2), keepdim=True)
    high = upsampled.amax(dim=(1, 2), keepdim=True)
    span = high - low
    flat = span <= 1e-5 * high.abs()  # rounding noise only: no token stands out
    normalized = (upsampled - low) / span.clamp_min(1e-12)
    return torch.where(flat, torch.zeros_like(normalized), normalized).numpy()


def road_scores(
    model: nn.Module, images: torch.Tensor, maps: np.ndarray, targets: list[int]
) -> np.ndarray:
    """ROAD faithfulness per image (higher: removing what the map marks hurts the model more)."""
    from pytorch_grad_cam.metrics.road import ROADCombined
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget

    metric = ROADCombined(percentiles=ROAD_PERCENTILES)
    with torch.no_grad():
        scores = metric(
            images,
            maps.astype(np.float32),
            [ClassifierOutputSoftmaxTarget(t) for t in targets],
            model.eval(),
        )
    return np.asarray(scores, dtype=np.float64).reshape(-1)


def random_maps(images: torch.Tensor, seed: int = 0) -> np.ndarray:
    """Smooth random maps of the images' size: the baseline a method's ROAD score must beat."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(images.shape[0], 1, 4, 4, generator=generator)
    return nn.functional.interpolate(coarse, size=images.shape[-2:], mode="bilinear")[:, 0].numpy()


def overlay(image: np.ndarray, heatmap: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8: the image in [0, 1] with the map as a jet heatmap (pytorch-grad-cam)."""
    from pytorch_grad_cam.utils.image import show_cam_on_image

    return show_cam_on_image(image.astype(np.float32), heatmap, use_rgb=True, image_weight=0.55)
