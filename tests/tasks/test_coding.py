"""`vislab code` with tiny random vision-language models of two families, saved and loaded
through the Auto classes: each image's codes scored (probabilities that sum to one, the argmax
the prediction, equal to the answers' own log-probabilities), several prompts' agreement equal to
`vislab agreement` on the same columns, a resumed job equal to an uninterrupted one, and the
provenance written."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from tests.conftest import make_image_folder
from vislab.cli import app, run
from vislab.errors import InputError
from vislab.models.tiny_vlms import save_tiny_idefics3, save_tiny_qwen2_vl

CODES = [
    {"name": "police", "definition": "a police officer is visible"},
    {"name": "protest", "definition": "a crowd with a sign"},
    {"name": "none", "definition": "no person is visible"},
]


@pytest.fixture(scope="module", params=["qwen2_vl", "idefics3"])
def model(request, tmp_path_factory):
    save = {"qwen2_vl": save_tiny_qwen2_vl, "idefics3": save_tiny_idefics3}[request.param]
    return str(save(tmp_path_factory.mktemp(request.param) / "model"))


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    root = tmp_path_factory.mktemp("collection")
    images = make_image_folder(root / "images", per_class=3)
    codebook = root / "codebook.yaml"
    codebook.write_text(yaml.safe_dump({"question": "which code applies ?", "codes": CODES}))
    return images, codebook


def test_codes_are_scored_answers_that_sum_to_one(model, collection, tmp_path):
    from vislab.models.vlm import answer_log_probs, answer_tokens, load_vlm, messages
    from vislab.tasks.coding import prompt_text, read_codebook_file

    images, codebook = collection
    out = tmp_path / "coded.csv"
    command = ["code", str(images), "--codebook", str(codebook), "--model", model]
    assert run([*command, "--out", str(out), "--quiet"]) == 0
    table = pd.read_csv(out)
    scores = table[[f"score_{c['name']}" for c in CODES]].to_numpy()
    np.testing.assert_allclose(scores.sum(axis=1), 1, atol=1e-5)
    names = [c["name"] for c in CODES]
    assert table["prediction"].tolist() == [names[k] for k in scores.argmax(axis=1)]
    vlm = load_vlm(model)  # the first image's scores, from the answers' log-probabilities
    prompt = prompt_text(read_codebook_file(codebook))
    tokens = answer_tokens(vlm.processor, messages(prompt), names)
    first = Image.open(images / table["path"].iloc[0].split("images/")[-1]).convert("RGB")
    log_probs = answer_log_probs(vlm, [first], prompt, tokens)[0]
    expected = np.exp(log_probs - log_probs.max())
    np.testing.assert_allclose(scores[0], expected / expected.sum(), rtol=1e-4)
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["model"] == model and record["codes"] == names
    assert record["prompts"][0]["text"] == prompt and len(record["weights_sha256"]) == 1
    assert record["codebook"]["sha256"] == read_codebook_file(codebook).sha256


def test_prompts_agreement_is_vislab_agreement_and_a_resumed_job_is_whole(
    model, collection, tmp_path
):
    images, codebook = collection
    prompts = []
    for k, text in enumerate(["{codes} {question}", "{question} answer with one of : {codes}"]):
        prompts += ["--prompt", str(tmp_path / f"p{k}.txt")]
        (tmp_path / f"p{k}.txt").write_text(text)
    command = ["code", str(images), "--codebook", str(codebook), "--model", model, *prompts]
    whole, out = tmp_path / "whole", tmp_path / "out"
    assert run([*command, "--out", str(whole), "--shard-size", "4", "--quiet"]) == 0
    table = pd.read_parquet(whole)
    assert {"prediction_1", "prediction_2"} <= set(table.columns)
    stability = json.loads((whole / "_progress.json").read_text())["provenance"]
    codings = tmp_path / "codings.csv"
    table[["prediction_1", "prediction_2"]].to_csv(codings, index=False)
    agreement = ["agreement", str(codings), "--raters", "prediction_1,prediction_2"]
    assert run([*agreement, "--out", str(tmp_path / "a.json"), "--quiet"]) == 0
    expected = json.loads((tmp_path / "a.json").read_text())["krippendorff_alpha"]["value"]
    found = stability["prompt_stability"]["krippendorff_alpha"]["value"]
    assert found == pytest.approx(expected)
    changed = (table["prediction_1"] != table["prediction_2"]).mean()
    assert stability["prompt_stability"]["share_changed"] == pytest.approx(changed)
    assert run([*command, "--out", str(out), "--shard-size", "4", "--quiet"]) == 0
    (out / "part-00001.parquet").unlink()
    (out / "_SUCCESS").unlink()
    assert run([*command, "--out", str(out), "--shard-size", "4", "--resume", "--quiet"]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(out), table)


def test_bad_codebooks_prompts_and_models_are_named(model, collection, tmp_path):
    images, codebook = collection
    base = ["code", str(images), "--model", model, "--out", str(tmp_path / "o.csv")]
    empty = tmp_path / "empty.yaml"
    empty.write_text("codes: []\n")
    with pytest.raises(InputError, match="give a list of codes"):
        app([*base, "--codebook", str(empty)], standalone_mode=False)
    twice = tmp_path / "twice.yaml"
    twice.write_text(yaml.safe_dump({"codes": [CODES[0], CODES[0]]}))
    with pytest.raises(InputError, match="listed twice"):
        app([*base, "--codebook", str(twice)], standalone_mode=False)
    nameless = tmp_path / "nameless.yaml"
    nameless.write_text(yaml.safe_dump({"codes": [CODES[0], {"name": " ", "definition": "x"}]}))
    with pytest.raises(InputError, match="code 2 has no name"):
        app([*base, "--codebook", str(nameless)], standalone_mode=False)
    plain = tmp_path / "plain.txt"
    plain.write_text("which code applies ?")
    with pytest.raises(InputError, match="no \\{codes\\} in the template"):
        app([*base, "--codebook", str(codebook), "--prompt", str(plain)], standalone_mode=False)
    assert not (tmp_path / "o.csv").exists()
    (tmp_path / "o.csv").write_text("id\n")  # an earlier result is never written over
    assert run([*base, "--codebook", str(codebook), "--quiet"]) == 2  # a usage error
    assert (tmp_path / "o.csv").read_text() == "id\n"


def test_prompt_stability_is_vislab_agreement_on_varied_codes(tmp_path):
    """On codes that differ between prompts (random tiny models mostly agree with themselves):
    alpha equals `vislab agreement`'s on the same columns, for many random tables."""
    from vislab.tasks.coding import prompt_stability

    rng = np.random.default_rng(0)
    for case in range(5):
        prompts = 2 + case % 3
        base = rng.choice(["police", "protest", "none"], size=40)
        table = pd.DataFrame(
            {
                f"prediction_{k + 1}": np.where(
                    rng.random(40) < 0.3, rng.choice(["police", "protest", "none"], 40), base
                )
                for k in range(prompts)
            }
        )
        found = prompt_stability(table, prompts, bootstrap=0)
        codings = tmp_path / f"c{case}.csv"
        table.to_csv(codings, index=False)
        raters = ",".join(table.columns)
        out = tmp_path / f"a{case}.json"
        assert run(["agreement", str(codings), "--raters", raters, "--out", str(out)]) == 0
        expected = json.loads(out.read_text())["krippendorff_alpha"]["value"]
        assert found["krippendorff_alpha"]["value"] == pytest.approx(expected)
        assert 0 < found["krippendorff_alpha"]["value"] < 1
        assert found["share_changed"] == pytest.approx((table.nunique(axis=1) > 1).mean())


def test_a_coding_job_killed_resumes_to_the_uninterrupted_table(collection, tmp_path):
    from tests.engine.test_resume import kill_and_resume

    images, codebook = collection
    model = str(save_tiny_qwen2_vl(tmp_path / "qwen"))
    command = ["code", str(images), "--codebook", str(codebook), "--model", model]
    command += ["--shard-size", "2", "--batch-size", "1", "--quiet"]
    whole, out = tmp_path / "whole", tmp_path / "killed"
    assert run([*command, "--out", str(whole)]) == 0
    kill_and_resume([*command, "--out", str(out)], tmp_path, out, shards=5, kills=1)
    found, expected = pd.read_parquet(out), pd.read_parquet(whole)
    assert found[["id", "prediction"]].equals(expected[["id", "prediction"]])
    pd.testing.assert_frame_equal(found, expected, check_exact=False, rtol=1e-5, atol=1e-6)


def test_the_estimate_carries_what_coded_the_collection(model, collection, tmp_path):
    """`vislab estimate` over the coded collection (a file, and a folder of shards) records
    the model, the codebook and the prompts that made the codes."""
    images, codebook = collection
    command = ["code", str(images), "--codebook", str(codebook), "--model", model, "--quiet"]
    for out in (tmp_path / "coded.csv", tmp_path / "coded"):
        assert run([*command, "--out", str(out)]) == 0
        table = pd.read_csv(out) if out.suffix else pd.read_parquet(out)
        rng = np.random.default_rng(0)
        sample = table.sample(6, random_state=0)
        coded = pd.DataFrame({"id": sample["id"], "A": rng.choice(["police", "none"], 6)})
        coded.to_csv(tmp_path / "sheet.csv", index=False)
        result = tmp_path / f"estimates_{out.name}.json"
        estimate = ["estimate", str(out), "--coded", str(tmp_path / "sheet.csv")]
        assert run([*estimate, "--label-column", "A", "--out", str(result), "--quiet"]) == 0
        made_by = json.loads(result.read_text())["inputs"]["predictions"]["made_by"]
        assert made_by["model"] == model and made_by["codes"] == [c["name"] for c in CODES]
        assert made_by["codebook"]["sha256"] and made_by["prompts"][0]["sha256"]


def test_an_image_the_processor_rejects_is_skipped_with_its_reason(collection, tmp_path):
    """Qwen2-VL's processor refuses images more than 200 times longer than wide: that image
    is listed in _skipped.csv with the reason, the others of its batch are coded."""
    import shutil

    images, codebook = collection
    folder = tmp_path / "images"
    shutil.copytree(images, folder)
    Image.new("RGB", (1, 300), (255, 0, 0)).save(folder / "red" / "a_thin.png")
    model = str(save_tiny_qwen2_vl(tmp_path / "qwen"))
    out = tmp_path / "coded.csv"
    command = ["code", str(folder), "--codebook", str(codebook), "--model", model]
    assert run([*command, "--out", str(out), "--batch-size", "4", "--quiet"]) == 0
    table, skipped = pd.read_csv(out), pd.read_csv(tmp_path / "coded_skipped.csv")
    assert len(table) == 9 and skipped["path"].str.endswith("a_thin.png").tolist() == [True]
    assert "processor cannot take it" in skipped["reason"].iloc[0]
    assert "aspect ratio" in skipped["reason"].iloc[0]


def test_examples_from_the_codebook_are_shown_and_recorded(collection, tmp_path):
    images, codebook = collection
    model = str(save_tiny_qwen2_vl(tmp_path / "qwen"))
    (tmp_path / "examples").mkdir()
    Image.new("RGB", (40, 40), (0, 0, 200)).save(tmp_path / "examples" / "police.png")
    codes = [{**CODES[0], "examples": ["examples/police.png"]}, *CODES[1:]]
    shown = tmp_path / "codebook.yaml"
    shown.write_text(yaml.safe_dump({"question": "which code applies ?", "codes": codes}))
    base = ["code", str(images), "--model", model, "--quiet"]
    assert run([*base, "--codebook", str(shown), "--out", str(tmp_path / "plain.csv")]) == 0
    command = [*base, "--codebook", str(shown), "--examples"]
    assert run([*command, "--out", str(tmp_path / "few.csv")]) == 0
    record = json.loads((tmp_path / "few.json").read_text())
    assert [e["code"] for e in record["examples"]] == ["police"] and record["examples"][0]["sha256"]
    plain, few = pd.read_csv(tmp_path / "plain.csv"), pd.read_csv(tmp_path / "few.csv")
    assert not np.allclose(plain["score_police"], few["score_police"])  # the example was read
    with pytest.raises(InputError, match="no code has examples"):
        app(
            [*base, "--codebook", str(codebook), "--examples", "--out", str(tmp_path / "n.csv")],
            standalone_mode=False,
        )
