"""Class activation maps, attention rollout and ROAD faithfulness on tiny models."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from vislab.errors import InputError
from vislab.explanation.cam import attention_rollout, class_maps, cnn_target_layer, road_scores
from vislab.models.backbones import create_classifier


class BrightSpotModel(nn.Module):
    """Class 1 means "there is something bright": its evidence is where the bright pixels are."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 1)
        nn.init.constant_(self.conv.weight, 1 / 3)  # brightness
        nn.init.constant_(self.conv.bias, -0.5)  # only bright pixels activate
        self.act = nn.ReLU()
        self.head = nn.Linear(1, 2)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor([[-50.0], [50.0]]))
            self.head.bias.zero_()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.act(self.conv(images)).mean(dim=(2, 3)))


class LeftHalfModel(nn.Module):
    """Class 1's logit reads only the left half of the feature map."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.act = nn.ReLU()
        self.head = nn.Linear(8, 2)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.act(self.conv(images))  # (B, 8, H, W)
        left = features[:, :, :, : features.shape[-1] // 2].mean(dim=(2, 3))
        return self.head(left)


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "scorecam", "eigencam"])
def test_maps_mark_the_evidence(method):
    images = torch.rand(2, 3, 32, 32) * 0.2
    images[:, :, 4:12, 18:26] = 1.0  # the bright spot
    maps = class_maps(BrightSpotModel(), images, [1, 1], method)
    assert maps.shape == (2, 32, 32) and maps.min() >= 0 and maps.max() <= 1 + 1e-6
    inside = maps[:, 4:12, 18:26].mean()
    outside = (maps.sum(axis=(1, 2)) - maps[:, 4:12, 18:26].sum(axis=(1, 2))).mean() / (
        32 * 32 - 64
    )
    assert inside > 5 * outside


def test_eigencam_and_target_layer_of_a_resnet():
    model = create_classifier("test_resnet", 4)
    layer = cnn_target_layer(model, 64)
    outputs = []
    handle = layer.register_forward_hook(lambda m, i, o: outputs.append(o.shape))
    model.eval()(torch.zeros(1, 3, 64, 64))
    handle.remove()
    assert min(outputs[0][2:]) >= min(7, 64 // 8)
    maps = class_maps(model, torch.rand(2, 3, 64, 64), [0, 3], "eigencam")
    assert maps.shape == (2, 64, 64) and np.isfinite(maps).all()


def test_vit_gradcam_and_attention_rollout():
    model = create_classifier("test_vit", 3, image_size=32)
    images = torch.rand(2, 3, 32, 32)
    assert class_maps(model, images, [0, 1], "gradcam").shape == (2, 32, 32)
    fused = [block.attn.fused_attn for block in model.blocks]
    rollout = attention_rollout(model, images)
    assert rollout.shape == (2, 32, 32) and rollout.min() >= 0 and rollout.max() == pytest.approx(1)
    assert [block.attn.fused_attn for block in model.blocks] == fused  # the model is left as it was
    with pytest.raises(InputError, match="needs a ViT"):
        attention_rollout(LeftHalfModel(), images)


def test_rollout_of_uniform_attention_is_flat():
    model = create_classifier("test_vit", 3, image_size=32)
    for block in model.blocks:  # zero queries and keys: every token attends to all equally
        nn.init.zeros_(block.attn.qkv.weight)
        nn.init.zeros_(block.attn.qkv.bias)
    rollout = attention_rollout(model, torch.rand(1, 3, 32, 32))
    assert np.allclose(rollout, 0.0, atol=1e-5)  # constant relevance: nothing stands out


def test_road_prefers_the_faithful_map():
    model = BrightSpotModel()
    images = torch.rand(4, 3, 32, 32) * 0.2
    images[:, :, 4:12, 18:26] = 1.0
    faithful = np.zeros((4, 32, 32), dtype=np.float32)
    faithful[:, 4:12, 18:26] = 1.0
    faithful += np.random.default_rng(0).random((4, 32, 32)).astype(np.float32) * 0.01  # break ties
    unfaithful = 1.0 - faithful
    good = road_scores(model, images, faithful, [1] * 4)
    bad = road_scores(model, images, unfaithful, [1] * 4)
    assert np.isfinite(good).all() and good.mean() > bad.mean() + 0.05


def test_maps_of_a_frozen_backbone():
    from vislab.models.backbones import freeze_backbone

    model = create_classifier("test_resnet", 3)
    freeze_backbone(model)  # a linear probe: no parameter of the target layer needs gradients
    maps = class_maps(model, torch.rand(2, 3, 64, 64), [0, 1], "gradcam")
    assert maps.shape == (2, 64, 64) and np.isfinite(maps).all()
