"""BLIP captioning: generation from a saved tiny model, the CLI, and evaluation of its output."""

from __future__ import annotations

import json
import shutil

import pytest

from vislab.cli import run
from vislab.data.sources import from_imagefolder
from vislab.errors import ConfigError
from vislab.models.captioners import generate_captions, load_captioner
from vislab.models.tiny import WORDS, save_tiny_blip


@pytest.fixture(scope="module")
def tiny_blip(tmp_path_factory):
    return save_tiny_blip(tmp_path_factory.mktemp("blip") / "tiny")


def test_batches_change_nothing_and_words_come_from_the_vocabulary(tiny_blip, image_folder):
    captioner = load_captioner(str(tiny_blip))
    table = from_imagefolder(image_folder)
    images = [table.read(i) for i in range(5)]
    one = generate_captions(captioner, images, num_beams=2, max_length=6, batch_size=1)
    many = generate_captions(captioner, images, num_beams=2, max_length=6, batch_size=5)
    assert one == many and len(one) == 5
    assert all(word in WORDS for text in one for word in text.split())
    assert all(len(text.split()) <= 6 for text in one)


def test_prompt_is_continued_and_cut(tiny_blip, image_folder):
    captioner = load_captioner(str(tiny_blip))
    image = from_imagefolder(image_folder).read(0)
    captions = generate_captions(
        captioner, [image], num_beams=1, max_length=4, prompt="a picture of"
    )
    assert not captions[0].startswith("a picture of")


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="save_pretrained"):
        load_captioner(str(tmp_path / "nothing"))


@pytest.mark.skipif(shutil.which("java") is None, reason="caption metrics need Java")
def test_cli_captions_then_evaluate(tiny_blip, image_folder, tmp_path):
    out = tmp_path / "captions.json"
    assert (
        run(
            [
                "caption",
                str(image_folder),
                "--model",
                str(tiny_blip),
                "--beams",
                "1",
                "--max-length",
                "5",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    results = json.loads(out.read_text())
    assert len(results) == 36 and {"image_id", "caption"} <= set(results[0])
    references = {
        "annotations": [
            {"image_id": r["image_id"], "caption": f"a {r['image_id'].split('/')[0]} square"}
            for r in results
        ]
    }
    (tmp_path / "refs.json").write_text(json.dumps(references))
    metrics = tmp_path / "metrics.json"
    assert (
        run(
            [
                "evaluate",
                "captioning",
                "--predictions",
                str(out),
                "--references",
                str(tmp_path / "refs.json"),
                "--bootstrap",
                "10",
                "--out",
                str(metrics),
            ]
        )
        == 0
    )
    assert json.loads(metrics.read_text())["n"] == 36
