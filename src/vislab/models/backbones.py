"""Backbones by name (timm or torchvision), a head sized to the classes, pretrained weights.

`create_classifier` is the one way vislab builds an image classifier:

- `resnet18`, `vit_tiny_patch16_224`, `convnext_tiny`, ... : any timm model name;
- `torchvision:resnet50`, `torchvision:efficientnet_b0`, ... : a torchvision classification model.

`pretrained` is `none` (random weights), `hub` (the library's own download: needs a network) or a
path to a `.safetensors` / `.pth` file, loaded with `weights_only=True`. A file's classifier head
is dropped when its number of classes differs from the data's (the usual transfer-learning case);
any other shape that does not fit is an error naming the tensors.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import torch
from torch import nn

from vislab.errors import ConfigError, InputError

TORCHVISION_PREFIX = "torchvision:"


def backbone_problem(name: str) -> str | None:
    """Why no library knows the classifier backbone `name` (None: timm or torchvision does)."""
    if name.startswith(("hf-hub:", "hf_hub:")):
        return None  # resolved on the hub at creation time
    if name.startswith(TORCHVISION_PREFIX):
        import torchvision

        known = torchvision.models.list_models(module=torchvision.models)
        wanted = name.removeprefix(TORCHVISION_PREFIX)
    else:
        import timm

        if timm.is_model(name):
            return None
        known, wanted = timm.list_models(), name
    if wanted in known:
        return None
    close = difflib.get_close_matches(wanted, known, n=3)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return (
        f"unknown backbone '{name}'.{hint} Use any timm model name or torchvision:NAME. "
        f"Got '{name}'."
    )


def create_classifier(
    backbone: str,
    num_classes: int,
    pretrained: str = "none",
    drop_rate: float = 0.0,
    image_size: int | None = None,
) -> nn.Module:
    """Build `backbone` with a new `num_classes` head and the requested weights.

    Models with a fixed input size (timm ViTs) are built for `image_size`; their position
    embeddings are resized from pretrained weights by timm.
    """
    if backbone.startswith(TORCHVISION_PREFIX):
        model = _torchvision_model(backbone.removeprefix(TORCHVISION_PREFIX), pretrained)
        replace_head(model, num_classes)
    else:
        import timm

        extra = {}
        if image_size and _fixed_input_size(backbone):
            extra["img_size"] = image_size
        model = timm.create_model(
            backbone,
            pretrained=pretrained == "hub",
            num_classes=num_classes,
            drop_rate=drop_rate,
            **extra,
        )
    if pretrained not in ("none", "hub"):
        load_weights(model, pretrained)
    return model


def _fixed_input_size(backbone: str) -> bool:
    import timm

    config = timm.models.get_pretrained_cfg(backbone.split(".")[0])
    return bool(config and getattr(config, "fixed_input_size", False))


def _torchvision_model(name: str, pretrained: str) -> nn.Module:
    import torchvision

    weights = "DEFAULT" if pretrained == "hub" else None
    return torchvision.models.get_model(name, weights=weights)


def head_module(model: nn.Module) -> nn.Module:
    """The classifier head: timm's `get_classifier()`, else the last Linear layer."""
    if hasattr(model, "get_classifier"):
        return model.get_classifier()
    linears = [module for module in model.modules() if isinstance(module, nn.Linear)]
    if not linears and isinstance(getattr(model, "classifier", None), nn.Module):
        return model.classifier  # e.g. torchvision's S3D: a 1x1x1 convolution head
    if not linears:
        raise InputError(f"{type(model).__name__} has no Linear layer to use as classifier head.")
    return linears[-1]


def replace_head(model: nn.Module, num_classes: int) -> None:
    """Swap the last Linear layer for a new one with `num_classes` outputs."""
    head = head_module(model)
    for parent in model.modules():
        for child_name, child in parent.named_children():
            if child is head:
                new_head = nn.Linear(head.in_features, num_classes, bias=head.bias is not None)
                setattr(parent, child_name, new_head)
                return


def read_weights_file(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from `.safetensors` or a torch file (loaded with weights_only=True)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"model.pretrained: no weights file at '{path}'. Give none, hub or a path to a "
            ".safetensors or .pth file."
        )
    if path.suffix == ".safetensors":
        from vislab.files import read_safetensors

        return read_safetensors(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise InputError(f"{path}: cannot be read as PyTorch weights ({error}).") from error
    for key in ("state_dict", "model", "model_state_dict"):  # common checkpoint wrappers
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise InputError(f"{path}: expected a state dict, found {type(state).__name__}.")
    return {key.removeprefix("module."): value for key, value in state.items()}


def load_weights(model: nn.Module, path: str | Path) -> None:
    """Load a weights file into `model`; a head of another size is left newly initialised."""
    state = read_weights_file(path)
    own = model.state_dict()
    head_names = {name for name, _ in _named_head_tensors(model)}
    mismatched = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    head_mismatch = [k for k in mismatched if k in head_names]
    body_mismatch = [k for k in mismatched if k not in head_names]
    if body_mismatch:
        details = "; ".join(
            f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
            for k in body_mismatch[:5]
        )
        raise InputError(
            f"{path}: {len(body_mismatch)} tensor(s) do not fit the model's shapes ({details}). "
            "Check that model.backbone is the architecture these weights were saved from."
        )
    for key in head_mismatch:
        state.pop(key)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if k not in head_names]
    if missing or unexpected:
        raise InputError(
            f"{path}: the file does not match the model: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}. Check model.backbone."
        )


def _named_head_tensors(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    head = head_module(model)
    for prefix, module in model.named_modules():
        if module is head:
            return [(f"{prefix}.{name}", tensor) for name, tensor in head.state_dict().items()]
    return []


def freeze_backbone(model: nn.Module, frozen: bool = True) -> None:
    """Freeze (or unfreeze) every parameter outside the classifier head."""
    head_params = {id(p) for p in head_module(model).parameters()}
    for parameter in model.parameters():
        if id(parameter) not in head_params:
            parameter.requires_grad_(not frozen)
