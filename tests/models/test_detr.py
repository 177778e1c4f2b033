"""DETR-family detectors from transformers: tiny random models saved with save_pretrained."""

from __future__ import annotations

import json

import pytest
import torch

from tests.tasks.test_detection import _config, repredicted
from vislab.data.shapes import make_shapes
from vislab.errors import ConfigError
from vislab.models.detectors import create_detector
from vislab.models.detr import TransformersDetector, _to_detr_target
from vislab.tasks import config_from_dict, get_task
from vislab.training import train

transformers = pytest.importorskip("transformers")

TINY = dict(
    d_model=32,
    encoder_layers=1,
    decoder_layers=1,
    encoder_attention_heads=2,
    decoder_attention_heads=2,
    encoder_ffn_dim=64,
    decoder_ffn_dim=64,
    num_queries=12,
)


def _resnet(kind="ResNetConfig"):
    return getattr(transformers, kind)(
        embedding_size=8,
        hidden_sizes=[8, 16, 16, 32],
        depths=[1, 1, 1, 1],
        layer_type="basic",
        out_features=["stage2", "stage3", "stage4"],
    )


def tiny_model(family: str, num_labels: int = 3):
    if family == "detr":
        config = transformers.DetrConfig(
            use_timm_backbone=False, backbone_config=_resnet(), num_labels=num_labels, **TINY
        )
        return transformers.DetrForObjectDetection(config)
    if family == "conditional_detr":
        config = transformers.ConditionalDetrConfig(
            use_timm_backbone=False, backbone_config=_resnet(), num_labels=num_labels, **TINY
        )
        return transformers.ConditionalDetrForObjectDetection(config)
    if family == "deformable_detr":  # one decoder layer trips transformers' weight tying
        config = transformers.DeformableDetrConfig(
            use_timm_backbone=False,
            backbone_config=_resnet(),
            num_labels=num_labels,
            num_feature_levels=3,
            encoder_n_points=2,
            decoder_n_points=2,
            **{**TINY, "decoder_layers": 2},
        )
        return transformers.DeformableDetrForObjectDetection(config)
    config = transformers.RTDetrConfig(
        num_labels=num_labels,
        d_model=32,
        encoder_hidden_dim=32,
        decoder_layers=1,
        encoder_layers=1,
        num_queries=12,
        num_denoising=4,
        decoder_ffn_dim=64,
        encoder_ffn_dim=64,
        decoder_attention_heads=2,
        encoder_attention_heads=2,
        backbone_config=_resnet("RTDetrResNetConfig"),
        encoder_in_channels=[16, 16, 32],
        feat_strides=[8, 16, 32],
        decoder_in_channels=[32, 32, 32],
    )
    return transformers.RTDetrForObjectDetection(config)


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return make_shapes(tmp_path_factory.mktemp("shapes") / "data", count=16, size=64, seed=3)


@pytest.mark.parametrize("family", ["detr", "conditional_detr", "deformable_detr", "rt_detr"])
def test_saved_tiny_model_trains_and_the_run_reloads_offline(shapes, tmp_path, family):
    torch.manual_seed(0)
    tiny_model(family).save_pretrained(tmp_path / "tiny")
    raw = _config(shapes, tmp_path / "runs", f"transformers:{family}", optimizer="adamw", lr=1e-3)
    raw["model"]["pretrained"] = str(tmp_path / "tiny")
    config = config_from_dict(raw)
    run_dir = train(config, progress=False)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["n"] == 4 and "mAP" in metrics["metrics"]
    # the run rebuilds from its own files and predicts what it wrote
    assert isinstance(get_task("detection").load_run(run_dir).model, TransformersDetector)
    again = repredicted(run_dir)
    written = json.loads((run_dir / "predictions.json").read_text())
    assert len(again) == len(written) > 0
    for mine, theirs in zip(again, written, strict=True):
        assert mine["category_id"] == theirs["category_id"]
        assert mine["bbox"] == pytest.approx(theirs["bbox"], abs=1e-4)


@pytest.mark.parametrize("family", ["detr", "conditional_detr", "deformable_detr", "rt_detr"])
def test_detections_are_the_family_image_processors(family):
    """The wrapper's detections: its processor's, best first, 100 at most, in the image."""
    torch.manual_seed(1)
    wrapper = TransformersDetector(tiny_model(family, num_labels=5), 64, None).eval()
    images = [torch.rand(3, 48, 80), torch.rand(3, 64, 32)]
    with torch.no_grad():
        mine = wrapper(images)
        pixels, mask, sizes = wrapper._batch(images)
        output = wrapper.model(pixel_values=pixels, pixel_mask=mask)
    processor = {
        "detr": transformers.DetrImageProcessor,
        "conditional_detr": transformers.ConditionalDetrImageProcessor,
        "deformable_detr": transformers.DeformableDetrImageProcessor,
        "rt_detr": transformers.RTDetrImageProcessor,
    }[family]()
    theirs = processor.post_process_object_detection(output, threshold=0.0, target_sizes=sizes)
    for found, expected, (height, width) in zip(mine, theirs, sizes, strict=True):
        order = expected["scores"].argsort(descending=True)[:100]
        assert len(found["scores"]) == min(100, len(expected["scores"])) > 0
        assert torch.allclose(found["scores"], expected["scores"][order])
        assert torch.equal(found["labels"], expected["labels"][order] + 1)
        limits = torch.tensor([width, height, width, height])
        assert torch.allclose(
            found["boxes"], torch.minimum(expected["boxes"][order].clamp(min=0), limits)
        )
        assert (found["boxes"][:, 2:] <= limits[2:]).all() and (found["boxes"] >= 0).all()


def test_targets_become_normalised_centre_boxes_with_zero_based_labels():
    target = {"boxes": torch.tensor([[10.0, 20.0, 30.0, 60.0]]), "labels": torch.tensor([3])}
    converted = _to_detr_target(target, height=80, width=40)
    assert converted["class_labels"].tolist() == [2]
    assert converted["boxes"][0].tolist() == pytest.approx([0.5, 0.5, 0.5, 0.5])


def test_offline_hub_request_and_wrong_folder_are_clear_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match="save_pretrained"):
        create_detector("transformers:detr", 3, "hub", 64)
    with pytest.raises(ConfigError, match="not a folder with config.json"):
        create_detector("transformers:detr", 3, str(tmp_path), 64)
    tiny_model("detr").save_pretrained(tmp_path / "detr")
    with pytest.raises(ConfigError, match="set model.backbone: transformers:detr"):
        create_detector("transformers:rt_detr", 3, str(tmp_path / "detr"), 64)


def test_class_head_is_resized_to_the_data(tmp_path):
    tiny_model("detr", num_labels=7).save_pretrained(tmp_path / "detr")
    model = create_detector("transformers:detr", 3, str(tmp_path / "detr"), 64)
    assert (
        model.model.config.num_labels == 3 and model.model.class_labels_classifier.out_features == 4
    )


@pytest.mark.parametrize("family", ["detr", "rt_detr"])
def test_eigencam_explains_transformers_detectors(family):
    from vislab.explanation.detection import eigencam_map

    torch.manual_seed(0)
    wrapper = TransformersDetector(tiny_model(family), 64, None)
    heatmap = eigencam_map(wrapper, torch.rand(3, 40, 56))
    assert heatmap.shape == (40, 56) and heatmap.max() == pytest.approx(1) and heatmap.std() > 0
