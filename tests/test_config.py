"""The config: DESIGN's example loads as written; bad configs fail before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import write_config
from vislab.errors import ConfigError, UsageError
from vislab.tasks import load_config

DESIGN_EXAMPLE = """
task: classification
data:
  source: imagefolder          # imagefolder | manifest | hf | torchvision | sample
  root: path/to/images
  split: {val: 0.1, test: 0.1, seed: 0}
  image_size: 224
  normalize: imagenet          # imagenet | dataset
  augment: [flip]              # flip, color_jitter, autoaugment, randaugment, trivialaugment
  batch_size: 64
  sampler: shuffle             # shuffle | balanced
model:
  backbone: resnet18           # any timm name, or torchvision:NAME
  pretrained: none             # none | hub | path/to/weights.safetensors
  mode: finetune               # finetune | linear_probe
train:
  epochs: 10
  optimizer: adamw
  lr: 0.001
  seed: 0
evaluate:
  bootstrap: 1000
  group_by: []
"""


def _load(tmp_path, text: str, overrides=()):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return load_config(path, overrides)


def test_design_example_loads_as_written(tmp_path):
    config = _load(tmp_path, DESIGN_EXAMPLE)
    assert config.data.root == "path/to/images"
    assert config.data.split.val == 0.1 and config.data.augment == ["flip"]
    assert config.model.backbone == "resnet18" and config.train.lr == 0.001
    assert config.evaluate.bootstrap == 1000


def test_set_overrides_a_field_with_a_typed_value(tmp_path):
    config = _load(
        tmp_path, DESIGN_EXAMPLE, ["data.batch_size=32", "data.augment=[flip, color_jitter]"]
    )
    assert config.data.batch_size == 32
    assert config.data.augment == ["flip", "color_jitter"]


def test_precision_32_as_a_number_is_full_precision(tmp_path):
    """`--set train.precision=32` reads 32 as a number (YAML); Lightning writes it so too."""
    assert _load(tmp_path, DESIGN_EXAMPLE, ["train.precision=32"]).train.precision == "32"
    with pytest.raises(ConfigError, match="train.precision"):
        _load(tmp_path, DESIGN_EXAMPLE, ["train.precision=16"])


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("train:", "train:\n  lrr: 0.1"), ["train.lrr: unknown key", "Did you mean 'lr'?"]),
        (
            ("  batch_size: 64", "  batch_sise: 64"),
            ["data.batch_sise", "Did you mean 'batch_size'?"],
        ),
        (("lr: 0.001", "lr: -1"), ["train.lr", "greater than 0", "-1"]),
        (("image_size: 224", "image_size: 0"), ["data.image_size", "greater than 0"]),
        (("epochs: 10", "epochs: ten"), ["train.epochs", "integer", "ten"]),
        (
            ("{val: 0.1, test: 0.1, seed: 0}", "{val: 0.5, test: 0.5, seed: 0}"),
            ["data.split", "val + test must be < 1"],
        ),
        (
            ("backbone: resnet18", "backbone: resnt18"),
            ["model.backbone", "unknown backbone 'resnt18'", "resnet18"],
        ),
        (("backbone: resnet18", "backbone: torchvision:resnet_18"), ["model.backbone", "resnet18"]),
        (("mode: finetune", "mode: probe"), ["model.mode", "finetune", "linear_probe"]),
    ],
)
def test_bad_configs_name_the_file_and_the_field(tmp_path, change, expected):
    old, new = change
    assert old in DESIGN_EXAMPLE
    with pytest.raises(ConfigError) as error:
        _load(tmp_path, DESIGN_EXAMPLE.replace(old, new, 1))
    message = str(error.value)
    assert str(tmp_path / "config.yaml") in message
    for part in expected:
        assert part in message


def test_bad_override_is_reported(tmp_path):
    with pytest.raises(UsageError, match="expected KEY=VALUE"):
        _load(tmp_path, DESIGN_EXAMPLE, ["data.batch_size"])
    with pytest.raises(ConfigError, match="data.batch_size"):
        _load(tmp_path, DESIGN_EXAMPLE, ["data.batch_size=0"])


def test_missing_file_and_missing_sections(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="data: required"):
        _load(tmp_path, "task: classification\n")
    with pytest.raises(ConfigError, match="data.root is required"):
        _load(tmp_path, "data: {source: imagefolder}\n")


def test_torchvision_backbone_names_are_accepted(tmp_path):
    config = write_config(
        tmp_path / "c.yaml",
        {
            "data": {"source": "sample", "name": "digits"},
            "model": {"backbone": "torchvision:resnet18"},
        },
    )
    assert load_config(config).model.backbone == "torchvision:resnet18"


def test_fingerprint_changes_with_the_settings(tmp_path):
    one = _load(tmp_path, DESIGN_EXAMPLE)
    two = _load(tmp_path, DESIGN_EXAMPLE, ["train.seed=1"])
    assert one.fingerprint() != two.fingerprint()
    assert one.fingerprint() == _load(tmp_path, DESIGN_EXAMPLE).fingerprint()


@pytest.mark.parametrize(
    "example", sorted((Path(__file__).parents[1] / "src/vislab/examples").glob("*.yaml"))
)
def test_example_configs_are_valid(example):
    from vislab.tasks import get_task

    assert get_task(load_config(example).task)  # a registered task
