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

TINY = dict(d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
            decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, num_queries=12)  # fmt: skip


def _resnet(kind="ResNetConfig"):
    return getattr(transformers, kind)(embedding_size=8, hidden_sizes=[8, 16, 16, 32], depths=[1, 1, 1, 1],
                                       layer_type="basic", out_features=["stage2", "stage3", "stage4"])  # fmt: skip


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
        config = transformers.DeformableDetrConfig(use_timm_backbone=False, backbone_config=_resnet(), num_labels=num_labels,
                                                   num_feature_levels=3, encoder_n_points=2, decoder_n_points=2, **{**TINY, "decoder_layers": 2})  # fmt: skip
        return transformers.DeformableDetrForObjectDetection(config)
    config = transformers.RTDetrConfig(
        num_labels=num_labels, d_model=32, encoder_hidden_dim=32, decoder_layers=1, encoder_layers=1, num_queries=12,
        num_denoising=4, decoder_ffn_dim=64, encoder_ffn_dim=64, decoder_attention_heads=2, encoder_attention_heads=2,
        backbone_config=_resnet("RTDetrResNetConfig"), encoder_in_channels=[16, 16, 32], feat_strides=[8, 16, 32],
        decoder_in_channels=[32, 32, 32])  # fmt: skip
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


def _outputs(model, logits, boxes):
    return transformers.models.detr.modeling_detr.DetrObjectDetectionOutput(
        logits=logits, pred_boxes=boxes
    )


@pytest.mark.parametrize("family", ["detr", "rt_detr"])
def test_detections_equal_transformers_post_processing(family):
    """Scores, labels and boxes as the family's own image processor computes them."""
    generator = torch.Generator().manual_seed(1)
    wrapper = TransformersDetector(tiny_model(family, num_labels=5), 64, None)
    for _ in range(10):
        classes = 6 if family == "detr" else 5
        logits = torch.randn(1, 12, classes, generator=generator) * 3
        boxes = torch.rand(1, 12, 4, generator=generator) * 0.5 + 0.25
        height, width = 48, 80
        mine = wrapper._detections(logits[0], boxes[0], height, width)
        if family == "detr":
            processor = transformers.DetrImageProcessor()
            theirs = processor.post_process_object_detection(_outputs(None, logits, boxes), threshold=0.0,
                                                             target_sizes=[(height, width)])[0]  # fmt: skip
        else:
            processor = transformers.RTDetrImageProcessor()
            theirs = processor.post_process_object_detection(_outputs(None, logits, boxes), threshold=0.0,
                                                             target_sizes=[(height, width)])[0]  # fmt: skip
        # RT-DETR's processor keeps num_queries (query, class) pairs, vislab the 100 best: compare
        # the common prefix; DETR's keeps every query, as vislab does up to 100
        assert len(mine["scores"]) == (12 if family == "detr" else 60)
        order = theirs["scores"].argsort(descending=True)
        mine = {key: value[: len(order)] for key, value in mine.items()}
        assert torch.allclose(mine["scores"], theirs["scores"][order], atol=1e-6)
        assert torch.equal(mine["labels"], theirs["labels"][order] + 1)
        limits = torch.tensor([width, height, width, height])  # vislab clips boxes to the image
        clipped = torch.minimum(theirs["boxes"][order].clamp(min=0), limits)
        assert torch.allclose(mine["boxes"], clipped, atol=1e-4)


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
    from vislab.explain.detection import eigencam_map

    torch.manual_seed(0)
    wrapper = TransformersDetector(tiny_model(family), 64, None)
    heatmap = eigencam_map(wrapper, torch.rand(3, 40, 56))
    assert heatmap.shape == (40, 56) and heatmap.max() == pytest.approx(1) and heatmap.std() > 0
