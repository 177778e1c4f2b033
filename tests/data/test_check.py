"""`vislab data check`: reasons for every unusable file, counts, imbalance, duplicates."""

from __future__ import annotations

import json
import shutil

from tests.conftest import make_image_folder
from vislab.cli import run
from vislab.data.check import scan, summarize
from vislab.data.sources import from_imagefolder


def _broken_folder(tmp_path):
    root = make_image_folder(tmp_path / "images", per_class=6)
    (root / "red" / "empty.png").write_bytes(b"")
    (root / "red" / "text.jpg").write_text("hello")
    good = (root / "blue" / "blue_000.png").read_bytes()
    (root / "blue" / "cut.png").write_bytes(good[: len(good) // 2])
    shutil.copy(root / "green" / "green_000.png", root / "red" / "copy_of_green.png")
    return root


def test_summary_lists_every_problem_and_duplicate(tmp_path):
    table = from_imagefolder(_broken_folder(tmp_path))
    summary = summarize(table, scan(table))
    reasons = {item["id"]: item["reason"] for item in summary["unreadable"]}
    assert set(reasons) == {"red/empty.png", "red/text.jpg", "blue/cut.png"}
    assert reasons["red/empty.png"].startswith("zero bytes")
    assert reasons["red/text.jpg"].startswith("not an image")
    assert summary["classes"] == {"blue": 7, "green": 6, "red": 9}
    assert summary["imbalance_ratio"] == 1.5
    [duplicate] = summary["duplicates"]
    assert sorted(duplicate["ids"]) == ["green/green_000.png", "red/copy_of_green.png"]
    assert duplicate["labels"] == ["green", "red"]  # one image, two labels: a labelling problem


def test_duplicates_across_splits_are_flagged(tmp_path):
    make_image_folder(tmp_path / "train", per_class=3)
    make_image_folder(tmp_path / "test", per_class=3)  # same seeds: the same images
    table = from_imagefolder(tmp_path)
    summary = summarize(table, scan(table))
    assert summary["n_cross_split_duplicates"] == 9
    assert summary["splits"]["test"] == {"blue": 3, "green": 3, "red": 3}


def test_cli_exits_1_and_writes_json_when_files_are_unreadable(tmp_path, capsys):
    root = _broken_folder(tmp_path)
    assert run(["data", "check", str(root), "--json", str(tmp_path / "check.json")]) == 1
    printed = capsys.readouterr().out
    assert "red/text.jpg: not an image" in printed and "unreadable: 3" in printed
    report = json.loads((tmp_path / "check.json").read_text())
    assert report["n_unreadable"] == 3 and len(report["fingerprint"]) == 64


def test_cli_exits_0_on_clean_manifest(manifest, capsys):
    assert run(["data", "check", str(manifest)]) == 0
    assert "36 images, 3 classes" in capsys.readouterr().out


def test_fingerprint_changes_when_one_pixel_changes(tmp_path):
    from PIL import Image

    root = make_image_folder(tmp_path / "images", per_class=2)
    table = from_imagefolder(root)
    before = summarize(table, scan(table))["fingerprint"]
    path = root / "red" / "red_000.png"
    image = Image.open(path).convert("RGB")
    image.putpixel((0, 0), (0, 0, 0))
    image.save(path)
    assert summarize(table, scan(table))["fingerprint"] != before
