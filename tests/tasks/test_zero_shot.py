"""CLIP zero-shot coding against transformers' own CLIP forward pass; the CLI end to end."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from vislab.cli import run
from vislab.data.sources import from_imagefolder
from vislab.errors import ConfigError
from vislab.models.clip import load_clip, text_embeddings
from vislab.models.tiny import save_tiny_clip
from vislab.tasks.zero_shot import class_embeddings, zero_shot


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    return save_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny")


def test_single_template_scores_equal_clip_logits(tiny_clip, image_folder):
    clip = load_clip(str(tiny_clip))
    table = from_imagefolder(image_folder)
    descriptions = {"red": "a red thing", "green": "grass", "blue": "the sky"}
    predictions, record = zero_shot(clip, table, descriptions, templates=("{}",), batch_size=7)
    images = [table.read(i) for i in range(len(table))]
    inputs = clip.processor(
        text=list(descriptions.values()), images=images, return_tensors="pt", padding=True
    )
    with torch.no_grad():
        expected = clip.model(**inputs).logits_per_image.softmax(dim=1).numpy()
    mine = predictions[[f"score_{c}" for c in descriptions]].to_numpy()
    np.testing.assert_allclose(mine, expected, rtol=1e-4, atol=1e-6)
    assert (predictions["prediction"] == [list(descriptions)[k] for k in expected.argmax(1)]).all()
    assert record["prompts"]["green"] == ["grass"]


def test_prompt_ensemble_is_the_normalised_mean(tiny_clip):
    clip = load_clip(str(tiny_clip))
    prompts = {"cat": ["a photo of a cat.", "a drawing of a cat."], "dog": ["a dog."]}
    ensemble = class_embeddings(clip, prompts)
    one = text_embeddings(clip, prompts["cat"]).mean(axis=0)
    np.testing.assert_allclose(ensemble[0], one / np.linalg.norm(one), rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(ensemble, axis=1), 1.0, rtol=1e-6)


def test_cli_codes_a_folder_and_evaluate_reads_the_csv(tiny_clip, image_folder, tmp_path):
    out = tmp_path / "coded.csv"
    command = ["zero-shot", str(image_folder), "--model", str(tiny_clip), "--out", str(out)]
    assert run(command) == 0
    table = pd.read_csv(out)
    assert len(table) == 36 and set(table["prediction"]) <= {"red", "green", "blue"}
    stata = tmp_path / "coded_stata.dta"  # the same table for Stata
    assert run([*command[:-1], str(stata)]) == 0
    back = pd.read_stata(stata)
    assert list(back.columns) == list(table.columns)
    assert back["prediction"].tolist() == table["prediction"].tolist()
    scores = [c for c in table.columns if c.startswith("score_")]
    np.testing.assert_allclose(back[scores], table[scores], rtol=1e-6)
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["model"] == str(tiny_clip) and len(record["prompts"]["red"]) == len(
        record["templates"]
    )
    metrics_out = tmp_path / "metrics.json"
    assert (
        run(
            [
                "evaluate",
                "classification",
                "--predictions",
                str(out),
                "--bootstrap",
                "20",
                "--out",
                str(metrics_out),
            ]
        )
        == 0
    )
    assert json.loads(metrics_out.read_text())["n"] == 36


def test_unlabelled_manifest_with_described_classes(tiny_clip, image_folder, tmp_path):
    paths = sorted(str(p) for p in image_folder.rglob("*.png"))[:5]
    pd.DataFrame({"path": paths, "site": ["a", "b", "a", "b", "a"]}).to_csv(
        tmp_path / "m.csv", index=False
    )
    out = tmp_path / "coded.csv"
    command = [
        "zero-shot",
        str(tmp_path / "m.csv"),
        "--model",
        str(tiny_clip),
        "--class",
        "protest=a street protest",
        "--class",
        "meeting=people in a meeting room",
        "--out",
        str(out),
    ]
    assert run(command) == 0
    table = pd.read_csv(out)
    assert list(table.columns[:2]) == ["id", "path"] and "site" in table.columns
    assert set(table["prediction"]) <= {"protest", "meeting"}


def test_processor_that_does_not_fit_the_model_is_an_error(tmp_path):
    folder = save_tiny_clip(tmp_path / "mismatch", image_size=32, crop=48)
    with pytest.raises(ConfigError, match="the processor crops images"):
        load_clip(str(folder))


def test_embed_writes_normalised_embeddings_with_metadata(tiny_clip, manifest, tmp_path):
    from vislab.models.clip import image_embeddings

    out = tmp_path / "e.parquet"
    assert (
        run(
            [
                "embed",
                str(manifest),
                "--model",
                str(tiny_clip),
                "--batch-size",
                "5",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    frame = pd.read_parquet(out)
    vectors = frame[[f"embedding_{k}" for k in range(16)]].to_numpy()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert {"label", "path"} <= set(frame.columns) and len(frame) == len(pd.read_csv(manifest))
    from PIL import Image

    clip = load_clip(str(tiny_clip))
    first = image_embeddings(
        clip, [Image.open(manifest.parent / frame["path"].iat[0]).convert("RGB")]
    )[0]
    np.testing.assert_allclose(vectors[0], first, rtol=1e-4, atol=1e-6)  # batching changes nothing


def test_clipscore_is_the_papers_formula_and_reaches_metrics_json(
    tiny_clip, image_folder, tmp_path
):
    import shutil

    from PIL import Image

    from vislab.models.clip import image_embeddings
    from vislab.tasks.captioning_report import clip_scorer

    files = sorted(image_folder.rglob("*.png"))[:4]
    captions = ["a red square", "green", "a blue thing", "a picture"]
    scores = clip_scorer(str(tiny_clip))([str(p) for p in files], captions, batch_size=3)
    clip = load_clip(str(tiny_clip))
    images = image_embeddings(clip, [Image.open(p).convert("RGB") for p in files])
    texts = text_embeddings(clip, ["A photo depicts " + c for c in captions])
    np.testing.assert_allclose(
        scores, 2.5 * np.maximum((images * texts).sum(1), 0), rtol=1e-5, atol=1e-7
    )
    if shutil.which("java") is None:
        return
    coco = {
        "images": [
            {"id": i, "file_name": str(p.relative_to(image_folder))} for i, p in enumerate(files)
        ],
        "annotations": [{"image_id": i, "caption": "a colored square"} for i in range(4)],
    }
    (tmp_path / "refs.json").write_text(json.dumps(coco))
    (tmp_path / "preds.json").write_text(
        json.dumps([{"image_id": i, "caption": c} for i, c in enumerate(captions)])
    )
    out = tmp_path / "m.json"
    assert (
        run(
            [
                "evaluate",
                "captioning",
                "--predictions",
                str(tmp_path / "preds.json"),
                "--references",
                str(tmp_path / "refs.json"),
                "--clip-model",
                str(tiny_clip),
                "--images",
                str(image_folder),
                "--bootstrap",
                "0",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert json.loads(out.read_text())["metrics"]["CLIPScore"]["value"] == pytest.approx(
        scores.mean(), rel=1e-6
    )


def test_report_for_labelled_images_shows_the_prompts(tiny_clip, manifest, tmp_path):
    out, report = tmp_path / "coded.csv", tmp_path / "report"
    command = [
        "zero-shot",
        str(manifest),
        "--model",
        str(tiny_clip),
        "--out",
        str(out),
        "--report",
        str(report),
        "--group-by",
        "site",
        "--bootstrap",
        "20",
    ]
    assert run(command) == 0
    page = (report / "report.html").read_text()
    assert "Prompts (zero-shot)" in page and "a close-up photo of a red." in page
    assert json.loads((report / "metrics.json").read_text())["n"] == len(pd.read_csv(manifest))
    assert run(command) == 2  # neither the coded table nor the report folder is replaced


def test_open_clip_folder_codes_images_as_open_clip_scores_them(image_folder, tmp_path):
    open_clip = pytest.importorskip("open_clip")
    from PIL import Image

    from vislab.models.tiny import save_tiny_open_clip

    folder = save_tiny_open_clip(tmp_path / "oc")
    clip = load_clip(str(folder))
    assert clip.kind == "open_clip"
    table = from_imagefolder(image_folder)
    descriptions = {"red": "red", "green": "green", "blue": "blue"}
    predictions, _ = zero_shot(clip, table, descriptions, templates=("a {} square",), batch_size=5)
    model, _, transform = open_clip.create_model_and_transforms(f"local-dir:{folder}")
    tokenizer = open_clip.get_tokenizer(f"local-dir:{folder}")
    with torch.no_grad():
        images = torch.stack([transform(Image.open(p).convert("RGB")) for p in table.frame["path"]])
        image_features = torch.nn.functional.normalize(model.eval().encode_image(images), dim=-1)
        text_features = torch.nn.functional.normalize(
            model.encode_text(tokenizer([f"a {c} square" for c in descriptions])), dim=-1
        )
        expected = (
            (model.logit_scale.exp() * image_features @ text_features.T).softmax(dim=1).numpy()
        )
    np.testing.assert_allclose(
        predictions[[f"score_{c}" for c in descriptions]].to_numpy(), expected, rtol=1e-4, atol=1e-6
    )
    assert json.dumps(str(load_clip(f"open_clip:local-dir:{folder}").kind)) == '"open_clip"'


def test_embed_into_shards_writes_fixed_size_vectors_equal_to_one_files(
    tiny_clip, image_folder, tmp_path
):
    """A folder of shards: an `embedding` column (fixed-size list of float32) per image, the
    class folder as `label`, the same vectors as the one-file form, resumable."""
    import pyarrow.parquet as pq

    (image_folder / "red" / "broken.png").write_bytes(b"not an image")
    common = [str(image_folder), "--model", str(tiny_clip), "--batch-size", "4", "--quiet"]
    assert run(["embed", *common, "--out", str(tmp_path / "one.parquet")]) == 0
    shards = tmp_path / "shards"
    assert run(["embed", *common, "--out", str(shards), "--shard-size", "10"]) == 0
    kind = pq.read_schema(shards / "part-00000.parquet").field("embedding").type
    assert kind.list_size == 16 and str(kind.value_type) == "float"
    table, one = pd.read_parquet(shards), pd.read_parquet(tmp_path / "one.parquet")
    assert len(table) == len(one) == 36 and table["id"].tolist() == one["id"].tolist()
    assert table["label"].tolist() == [p.split("/")[-2] for p in table["path"]]
    vectors = np.stack(table["embedding"].to_list())
    np.testing.assert_allclose(vectors, one[[f"embedding_{k}" for k in range(16)]], atol=1e-6)
    skipped = pd.read_csv(shards / "_skipped.csv")
    assert skipped["path"].str.endswith("broken.png").all() and len(skipped) == 1
    assert run(["embed", *common, "--out", str(shards), "--shard-size", "10", "--resume"]) == 0


def test_the_command_and_stored_embeddings_code_as_clip_does(tiny_clip, image_folder, tmp_path):
    """`vislab zero-shot` over the images (through the collection engine, into shards) and
    over `vislab embed`'s output (no image read again) give CLIP's own probabilities."""
    clip = load_clip(str(tiny_clip))
    table = from_imagefolder(image_folder)
    images = [table.read(i) for i in range(len(table))]
    texts = ["a photo of a blue.", "a photo of a green.", "a photo of a red."]
    inputs = clip.processor(text=texts, images=images, return_tensors="pt", padding=True)
    with torch.no_grad():
        expected = clip.model(**inputs).logits_per_image.softmax(dim=1).numpy()
    common = ["--model", str(tiny_clip), "--quiet"]
    templates = tmp_path / "t.txt"
    templates.write_text("a photo of a {}.\n")
    coded = ["zero-shot", *common, "--templates", str(templates)]
    assert run([*coded, str(image_folder), "--out", str(tmp_path / "z"), "--shard-size", "8"]) == 0
    assert run(["embed", str(image_folder), *common, "--out", str(tmp_path / "e")]) == 0
    assert run([*coded, "--embeddings", str(tmp_path / "e"), "--out", str(tmp_path / "z.csv")]) == 0
    scores = [f"score_{c}" for c in ("blue", "green", "red")]  # the labels, sorted
    for found in (pd.read_parquet(tmp_path / "z"), pd.read_csv(tmp_path / "z.csv")):
        assert len(found) == len(table)
        by_path = found.set_index(found["path"].map(lambda p: p.split("/")[-1]))
        names = table.frame["path"].map(lambda p: p.split("/")[-1])
        np.testing.assert_allclose(by_path.loc[names, scores], expected, rtol=1e-4, atol=1e-6)
    record = json.loads((tmp_path / "z.json").read_text())
    assert record["prompts"]["red"] == ["a photo of a red."]
    assert run([*coded, "--out", str(tmp_path / "x.csv")]) == 2  # neither images nor embeddings
