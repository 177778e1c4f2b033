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


def test_data_check_reads_a_coco_captions_file_as_captions(image_folder, tmp_path, capsys):
    """A COCO captions JSON is checked as captions (it has no 'categories'), not as boxes."""
    import json

    from vislab.cli import run

    files = sorted(image_folder.rglob("*.png"))[:4]
    coco = {
        "images": [{"id": i, "file_name": str(p)} for i, p in enumerate(files)],
        "annotations": [{"image_id": i % 4, "caption": f"a square {i}"} for i in range(10)],
    }
    (tmp_path / "captions.json").write_text(json.dumps(coco))
    out = tmp_path / "check.json"
    assert run(["data", "check", str(tmp_path / "captions.json"), "--json", str(out)]) == 0
    summary = json.loads(out.read_text())
    assert summary["task"] == "captioning" and summary["n_images"] == 4
    assert summary["n_captions"] == 10 and summary["captions_per_image_median"] == 2.5
    assert "4 images, 10 captions" in capsys.readouterr().out
    coco["images"][0]["file_name"] = str(tmp_path / "gone.png")
    (tmp_path / "captions.json").write_text(json.dumps(coco))
    assert run(["data", "check", str(tmp_path / "captions.json")]) == 1
    assert "gone.png: missing" in capsys.readouterr().out


def test_decoding_in_processes_finds_what_threads_find(tmp_path):
    """`--workers 2`: the same reasons, digests and fingerprint as the threads of one process,
    with a lowered pixel limit reaching the processes too."""
    from vislab.data.images import PIXEL_LIMIT, set_pixel_limit

    root = _broken_folder(tmp_path)
    table = from_imagefolder(root)
    threads = summarize(table, scan(table))
    processes = summarize(table, scan(table, processes=2))
    assert processes == threads and threads["n_unreadable"] == 3
    before = PIXEL_LIMIT
    try:
        set_pixel_limit(100)  # every 24x24 image is now too large
        limited = scan(table, processes=2).problems
    finally:
        set_pixel_limit(before)
    assert all(p is not None for p in limited) and sum("too large" in p for p in limited) > 10
    out = tmp_path / "check.json"
    assert run(["data", "check", str(root), "--workers", "2", "--json", str(out)]) == 1
    assert json.loads(out.read_text())["fingerprint"] == threads["fingerprint"]


def test_cli_summarises_near_copies_by_hash_and_quality(tmp_path, capsys):
    """Re-encoded and resized copies of photo tiles (one in the test split) are counted as
    near copies, with the effective N and the cluster across splits; a dark image is counted;
    exact duplicates stay a separate count (none here: every copy's bytes differ)."""
    from PIL import Image

    from tests.data.test_near_copies import _jpeg, _tiles

    tiles = _tiles(160)[:8]
    rows = []
    for k, tile in enumerate(tiles):
        tile.save(tmp_path / f"tile{k}.jpg", quality=95)
        rows.append((f"tile{k}.jpg", "photo", "train"))
    _jpeg(tiles[0], 50).save(tmp_path / "again0.jpg", quality=95)
    tiles[1].resize((100, 100)).save(tmp_path / "small1.jpg", quality=90)
    Image.new("RGB", (120, 90), (8, 8, 12)).save(tmp_path / "dark.jpg")
    rows += [("again0.jpg", "photo", "test"), ("small1.jpg", "photo", "train")]
    rows.append(("dark.jpg", "night", "train"))
    lines = ["path,label,split"] + [",".join(row) for row in rows]
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "check.json"
    assert run(["data", "check", str(tmp_path / "m.csv"), "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    near = report["near_copies"]
    counted = ("n_images_in_copy_clusters", "n_copy_clusters", "n_leaking_clusters")
    assert tuple(near[k] for k in counted) == (4, 2, 1)
    assert near["effective_n"] == len(rows) - 2
    assert report["quality"]["dark"] == 1 and report["n_duplicate_groups"] == 0
    printed = capsys.readouterr().out
    assert "near copies (perceptual hash): 4 images in 2 cluster(s), 1 across splits;" in printed
    assert "quality: " in printed and "dark 1" in printed
