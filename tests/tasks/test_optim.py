"""The optimizer and schedule of every task: timm's weight-decay groups, torch's warmup + cosine."""

from __future__ import annotations

import math

import pytest
import torch

from vislab.config import TrainConfig
from vislab.models.backbones import create_classifier, freeze_backbone
from vislab.tasks.optim import optimizer_and_schedule, parameter_groups


def _decayed(groups):
    return {id(p) for g in groups if g["weight_decay"] > 0 for p in g["params"]}


def test_biases_and_norm_weights_are_not_decayed_and_the_head_has_its_rate():
    model = create_classifier("test_resnet", num_classes=3)
    train = TrainConfig(lr=0.1, weight_decay=0.05)
    groups = parameter_groups(model, train, head=model.fc, body_scale=0.1)
    decayed = _decayed(groups)
    for name, parameter in model.named_parameters():
        expected = parameter.ndim > 1 and not name.endswith(".bias")  # conv and linear weights
        assert (id(parameter) in decayed) == expected, name
    head = {id(p) for p in model.fc.parameters()}
    for group in groups:
        in_head = {id(p) in head for p in group["params"]}
        assert len(in_head) == 1  # a group is all head or all body
        assert group["lr"] == (0.1 if in_head == {True} else pytest.approx(0.01))
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


def test_frozen_parameters_are_in_the_optimizer_so_that_unfreezing_trains_them():
    model = create_classifier("test_resnet", num_classes=3)
    freeze_backbone(model)
    groups = parameter_groups(model, TrainConfig())
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    assert sum(p.requires_grad for p in model.parameters()) == 2  # still frozen afterwards


@pytest.mark.parametrize("optimizer", ["adamw", "sgd"])
def test_optimizer_is_the_one_named_with_the_configured_settings(optimizer):
    model = create_classifier("test_resnet", num_classes=3)
    train = TrainConfig(optimizer=optimizer, lr=0.02, momentum=0.8, weight_decay=0.01)
    built = optimizer_and_schedule(parameter_groups(model, train), train, 10)["optimizer"]
    assert isinstance(built, torch.optim.AdamW if optimizer == "adamw" else torch.optim.SGD)
    if optimizer == "sgd":
        assert built.defaults["nesterov"] and built.defaults["momentum"] == 0.8


def test_warmup_then_cosine_to_zero():
    model = torch.nn.Linear(2, 2)
    train = TrainConfig(epochs=10, lr=1.0, warmup_epochs=1)
    answer = optimizer_and_schedule(parameter_groups(model, train), train, 100)
    optimizer, schedule = answer["optimizer"], answer["lr_scheduler"]["scheduler"]
    assert answer["lr_scheduler"]["interval"] == "step"
    rates = []
    for _ in range(100):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert rates[0] == pytest.approx(1 / 11) and rates[:11] == sorted(rates[:11])
    assert rates[10] == pytest.approx(1.0)  # warmup over the first epoch's 10 steps
    assert rates[55] == pytest.approx(0.5 * (1 + math.cos(math.pi * 45 / 90)), abs=1e-6)
    assert rates[-1] < 0.001


def test_constant_schedule_keeps_the_rate():
    model = torch.nn.Linear(2, 2)
    train = TrainConfig(epochs=2, lr=0.3, schedule="constant")
    answer = optimizer_and_schedule(parameter_groups(model, train), train, 20)
    optimizer, schedule = answer["optimizer"], answer["lr_scheduler"]["scheduler"]
    for _ in range(20):
        assert optimizer.param_groups[0]["lr"] == pytest.approx(0.3)
        optimizer.step()
        schedule.step()


def test_a_warmup_longer_than_half_the_epochs_is_shortened_not_refused():
    from vislab.tasks import config_from_dict

    config = config_from_dict(
        {"data": {"source": "sample", "name": "digits"}, "train": {"epochs": 1, "warmup_epochs": 1}}
    )
    assert config.train.warmup_epochs == 0.5  # `--set train.epochs=1` on the shipped example
    assert TrainConfig(epochs=10, warmup_epochs=2).warmup_epochs == 2
    assert config_from_dict(config.to_dict()).train.warmup_epochs == 0.5  # config.yaml: what ran
