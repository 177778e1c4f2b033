"""Retrieval recall@k against a brute-force ranking, and the CLI on a tiny CLIP."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vislab.cli import run
from vislab.evaluation.retrieval import KS, ranks, recall_metrics
from vislab.models.tiny import save_tiny_clip


def brute_force(similarity, owner, k):
    image_hits = []
    for i in range(similarity.shape[0]):
        top = np.argsort(-similarity[i])[:k]
        image_hits.append(any(owner[j] == i for j in top))
    text_hits = [owner[j] in np.argsort(-similarity[:, j])[:k] for j in range(similarity.shape[1])]
    return np.mean(image_hits), np.mean(text_hits)


@pytest.mark.parametrize("seed", range(10))
def test_recall_equals_brute_force_ranking(seed):
    rng = np.random.default_rng(seed)
    count = int(rng.integers(3, 30))
    owner = np.concatenate(
        [np.arange(count), rng.integers(0, count, size=int(rng.integers(0, 40)))]
    )
    similarity = rng.normal(size=(count, len(owner)))
    metrics = recall_metrics(similarity, owner, bootstrap=0)["metrics"]
    for k in KS:
        image_to_text, text_to_image = brute_force(similarity, owner, k)
        assert metrics[f"image_to_text_recall@{k}"]["value"] == pytest.approx(image_to_text)
        assert metrics[f"text_to_image_recall@{k}"]["value"] == pytest.approx(text_to_image)


def test_perfect_similarity_ranks_first_and_intervals_are_degenerate():
    owner = np.array([0, 0, 1, 2, 2])
    similarity = np.where(owner[None, :] == np.arange(3)[:, None], 1.0, 0.0)
    image_ranks, text_ranks = ranks(similarity, owner)
    assert image_ranks.tolist() == [0, 0, 0] and text_ranks.tolist() == [0] * 5
    metrics = recall_metrics(similarity, owner, bootstrap=50)["metrics"]
    assert metrics["text_to_image_recall@1"] == {"value": 1.0, "ci": [1.0, 1.0]}


def test_cli_on_coco_captions(image_folder, tmp_path):
    files = sorted(image_folder.rglob("*.png"))[:6]
    coco = {
        "images": [
            {"id": i, "file_name": str(p.relative_to(image_folder))} for i, p in enumerate(files)
        ],
        "annotations": [
            {"image_id": i, "caption": f"a {p.parent.name} square number {i}"}
            for i, p in enumerate(files)
        ],
    }
    (image_folder / "captions.json").write_text(json.dumps(coco))
    out = tmp_path / "retrieval.json"
    model = save_tiny_clip(tmp_path / "clip")
    assert (
        run(
            [
                "retrieval",
                str(image_folder / "captions.json"),
                "--model",
                str(model),
                "--bootstrap",
                "20",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    metrics = json.loads(out.read_text())
    assert metrics["n"] == 6 and metrics["captions"] == 6
    assert (
        metrics["metrics"]["image_to_text_recall@10"]["value"] == 1.0
    )  # 6 captions: all within 10
