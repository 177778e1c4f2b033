"""Backbones by name, heads sized to the classes, weights from files, transfer modes."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from vislab.errors import InputError
from vislab.models.backbones import create_classifier, freeze_backbone, head_module


@pytest.mark.parametrize("backbone", ["test_resnet", "test_vit", "torchvision:mobilenet_v3_small"])
def test_head_is_sized_to_the_classes(backbone):
    model = create_classifier(backbone, num_classes=7)
    size = 160 if "vit" in backbone else 64
    assert model(torch.rand(2, 3, size, size)).shape == (2, 7)
    assert head_module(model).out_features == 7


def _save(model, path):
    if path.suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    else:
        torch.save({"state_dict": model.state_dict()}, path)


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_weights_file_is_loaded_and_a_different_head_is_replaced(tmp_path, suffix):
    source = create_classifier("test_resnet", num_classes=10)
    path = tmp_path / f"weights{suffix}"
    _save(source, path)
    same = create_classifier("test_resnet", num_classes=10, pretrained=str(path))
    for key, value in source.state_dict().items():
        assert torch.equal(value, same.state_dict()[key]), key
    other = create_classifier("test_resnet", num_classes=3, pretrained=str(path))
    body = [k for k in source.state_dict() if not k.startswith("fc.")]
    assert all(torch.equal(source.state_dict()[k], other.state_dict()[k]) for k in body)
    assert other.fc.out_features == 3


def test_torchvision_weights_file_with_new_head(tmp_path):
    source = create_classifier("torchvision:resnet18", num_classes=10)
    path = tmp_path / "r18.pth"
    _save(source, path)
    model = create_classifier("torchvision:resnet18", num_classes=4, pretrained=str(path))
    assert torch.equal(model.conv1.weight, source.conv1.weight) and model.fc.out_features == 4


def test_weights_of_another_architecture_give_a_clear_error(tmp_path):
    path = tmp_path / "w.safetensors"
    _save(create_classifier("test_resnet", num_classes=10), path)
    with pytest.raises(InputError, match="do not fit the model's shapes|does not match the model"):
        create_classifier("test_efficientnet", num_classes=10, pretrained=str(path))
    with pytest.raises(InputError, match="no weights file"):
        create_classifier("test_resnet", num_classes=10, pretrained=str(tmp_path / "none.pth"))


def test_linear_probe_freezes_all_but_the_head():
    model = create_classifier("test_resnet", num_classes=3)
    freeze_backbone(model)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"fc.weight", "fc.bias"}
    freeze_backbone(model, frozen=False)
    assert all(p.requires_grad for p in model.parameters())
