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


def test_cli_recall_is_the_brute_force_ranking_of_the_models_embeddings(image_folder, tmp_path):
    """36 images and 72 captions: recall@k can fail, and must equal a ranking done by hand."""
    from PIL import Image

    from vislab.models.clip import image_embeddings, load_clip, text_embeddings

    files = sorted(image_folder.rglob("*.png"))
    captions = [
        (i, f"a {p.parent.name} square number {i}{extra}")
        for i, p in enumerate(files)
        for extra in ("", " seen from above")
    ]
    coco = {
        "images": [
            {"id": i, "file_name": str(p.relative_to(image_folder))} for i, p in enumerate(files)
        ],
        "annotations": [{"image_id": i, "caption": text} for i, text in captions],
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
                "--confidence",
                "0.8",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    metrics = json.loads(out.read_text())
    assert metrics["n"] == 36 and metrics["captions"] == 72
    assert metrics["bootstrap"]["confidence"] == 0.8
    clip = load_clip(str(model))
    images = image_embeddings(clip, [Image.open(p).convert("RGB") for p in files])
    similarity = images @ text_embeddings(clip, [text for _, text in captions]).T
    owner = np.array([i for i, _ in captions])
    for k in KS:
        image_to_text, text_to_image = brute_force(similarity, owner, k)
        found = metrics["metrics"]
        assert found[f"image_to_text_recall@{k}"]["value"] == pytest.approx(image_to_text)
        assert found[f"text_to_image_recall@{k}"]["value"] == pytest.approx(text_to_image)
    assert found["image_to_text_recall@1"]["value"] < 1  # a random model misses: the test can fail
