"""What the engine reads and writes: a folder in name order with paths as given, a manifest's
metadata carried into every row, bad files set aside with their reason, the predictions equal
to the run's own prediction path, and JPEGs decoded at a reduced scale only where it is safe."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tests.conftest import colored_image
from vislab.cli import run
from vislab.engine.sources import list_source


def test_a_folder_is_listed_in_name_order_without_hidden_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("b/2.png", "b/10.png", "a/z.jpg", ".hidden/x.png", "a/.x.png", "a/notes.txt"):
        Path(name).parent.mkdir(parents=True, exist_ok=True)
        Path(name).write_bytes(b"x")
    listing = list_source([Path("a"), Path("b")], {".png", ".jpg"})
    assert listing.frame["path"].tolist() == ["a/z.jpg", "b/10.png", "b/2.png"]
    assert listing.frame["id"].tolist() == listing.frame["path"].tolist()
    assert (listing.sizes == 1).all() and (listing.mtimes > 0).all()


def _manifest(tmp_path: Path) -> Path:
    """A manifest in data/ with metadata, a missing file, a zero-byte file, a truncated JPEG
    and a text file named like an image."""
    folder = tmp_path / "data" / "images"
    folder.mkdir(parents=True)
    rows = []
    for i in range(8):
        colored_image((200, 40, 40) if i % 2 else (40, 60, 200), i).save(folder / f"{i}.png")
        rows.append(
            {"path": f"images/{i}.png", "site": ["north", "south"][i % 2], "year": 2000 + i}
        )
    buffer = io.BytesIO()
    colored_image((40, 180, 60), 9, size=64).save(buffer, "JPEG")
    (folder / "cut.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.jpg").write_text("not a picture")
    for name in ("cut.jpg", "empty.png", "text.jpg", "gone.png"):
        rows.append({"path": f"images/{name}", "site": None, "year": 1999})
    manifest = tmp_path / "data" / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest


def test_a_manifest_carries_its_metadata_and_bad_files_are_skipped_with_reasons(
    trained_run, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    manifest = _manifest(tmp_path).relative_to(tmp_path)  # data/manifest.csv
    out = Path("out")
    table = _predicted(trained_run, manifest, out, shard_size=5)
    assert table["id"].tolist() == [f"images/{i}.png" for i in range(8)]  # as listed
    assert table["path"].tolist() == [f"data/images/{i}.png" for i in range(8)]  # opens here
    assert table["site"].tolist() == ["north", "south"] * 4
    assert table["year"].tolist() == list(range(2000, 2008))
    assert {"prediction", "score_red", "score_green", "score_blue"} <= set(table.columns)
    reasons = pd.read_csv(out / "_skipped.csv").set_index("id")["reason"]
    assert sorted(reasons.index) == [
        f"images/{n}" for n in ("cut.jpg", "empty.png", "gone.png", "text.jpg")
    ]
    assert reasons["images/gone.png"] == "missing: no file at this path"
    assert reasons["images/empty.png"] == "zero bytes: the file is empty"
    assert reasons["images/cut.jpg"].startswith("truncated")
    assert reasons["images/text.jpg"].startswith("not an image")
    # a shard of bad files only has the table's schema, first in the folder or last
    import pyarrow.parquet as pq

    schemas = {pq.read_schema(p).remove_metadata() for p in sorted(out.glob("part-*.parquet"))}
    assert len(schemas) == 1
    listed = pd.read_csv(manifest)
    reordered = Path("data/reordered.csv")
    pd.concat([listed.iloc[8:], listed.iloc[:8]]).to_csv(reordered, index=False)
    again = Path("again")  # the bad files now fill the first shard
    _predicted(trained_run, reordered, again, shard_size=4)
    assert pq.read_schema(again / "part-00000.parquet").remove_metadata() == schemas.pop()
    assert pd.read_parquet(again)["id"].tolist() == table["id"].tolist()
    assert pd.read_parquet(again)["prediction"].tolist() == table["prediction"].tolist()


def _predicted(run_dir, source, out: Path, shard_size: int) -> pd.DataFrame:
    command = ["predict", str(run_dir), str(source), "--out", str(out), "--quiet"]
    assert run([*command, "--shard-size", str(shard_size)]) == 0
    return pd.read_parquet(out)


def test_a_manifest_path_that_leaves_its_folder_is_refused(trained_run, tmp_path, capsys):
    manifest = tmp_path / "data" / "m.csv"
    manifest.parent.mkdir()
    pd.DataFrame({"path": ["../secret.png"]}).to_csv(manifest, index=False)
    assert run(["predict", str(trained_run), str(manifest), "--out", str(tmp_path / "o")]) == 1
    assert "leads out of the manifest's folder" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_the_engine_predicts_what_the_runs_own_prediction_path_predicts(trained_run, tmp_path):
    """With every image decoded whole, the engine's scores are those of Lightning's
    Trainer.predict over the run's prediction loader (the path of the held-out split)."""
    from vislab.prediction import predict

    images = sorted((trained_run.parent.parent / "data" / "images").rglob("*.png"))[::3]
    out = tmp_path / "p.csv"
    assert (
        run(
            [
                "predict",
                str(trained_run),
                *map(str, images),
                "--out",
                str(out),
                "--full-decode",
                "--batch-size",
                "5",
                "--quiet",
            ]
        )
        == 0
    )
    engine = pd.read_csv(out)
    reference, _, _ = predict(trained_run, images)
    assert engine["id"].tolist() == reference["id"].tolist()
    scores = [c for c in engine.columns if c.startswith("score_")]
    np.testing.assert_allclose(engine[scores], reference[scores], atol=1e-6)
    assert engine["prediction"].tolist() == reference["prediction"].tolist()


def test_pythons_predict_with_out_is_the_commands_job(trained_run, tmp_path, monkeypatch):
    """vislab.predict(..., out=X) runs `vislab predict`'s job on a manifest: the same table as
    the command writes; an existing `out` is refused, and with resume=True it is said finished
    (as the command says it), in Python's words."""
    import vislab
    from vislab.errors import InputError

    monkeypatch.chdir(tmp_path)
    manifest = trained_run.parent.parent / "data" / "manifest.csv"
    command = ["predict", str(trained_run), str(manifest), "--out", "cli.parquet", "--quiet"]
    assert run(command) == 0
    table = vislab.predict(trained_run, [manifest], out="python.parquet")
    pd.testing.assert_frame_equal(table, pd.read_parquet("cli.parquet"))
    assert "site" in table.columns and len(table) == len(pd.read_csv(manifest))
    as_csv = vislab.predict(trained_run, [manifest], out="python.csv")
    for column in ("prediction", "label"):  # names, as text
        assert as_csv[column].tolist() == table[column].tolist()
    with pytest.raises(InputError, match="python.parquet exists.*resume=True"):
        vislab.predict(trained_run, [manifest], out="python.parquet")
    with pytest.raises(InputError, match="python.parquet is written: its job finished.*new `out`"):
        vislab.predict(trained_run, [manifest], out="python.parquet", resume=True)


def test_a_manifests_numeric_labels_are_class_names_beside_the_prediction(trained_run, tmp_path):
    """A manifest's label 3 (a number in the file; 3.0 where a cell is blank) is the class
    '3' in the predictions, as `prediction` is: in Parquet or Stata they compare as they should."""
    images = sorted((trained_run.parent.parent / "data" / "images").rglob("*.png"))[:3]
    names = [f"{k}.png" for k in range(3)]
    for image, name in zip(images, names, strict=True):
        shutil.copy(image, tmp_path / name)
    manifest = tmp_path / "m.csv"
    rows = {"path": names, "label": ["3", "", "10"], "site": [1, 2, 3]}
    pd.DataFrame(rows).to_csv(manifest, index=False)
    out = tmp_path / "p.parquet"
    assert run(["predict", str(trained_run), str(manifest), "--out", str(out), "--quiet"]) == 0
    table = pd.read_parquet(out)
    assert table["label"].tolist()[0] == "3" and table["label"].tolist()[2] == "10"
    assert pd.isna(table["label"].iat[1]) and table["site"].tolist() == [1, 2, 3]


def test_large_jpegs_are_decoded_at_a_reduced_scale_that_still_covers_the_input(tmp_path):
    """Pillow's draft keeps both sides at least the resize side; small images are untouched;
    the pixels the model sees stay close to a full decode's."""
    from vislab.data.images import decode
    from vislab.data.transforms import eval_transform

    y, x = np.mgrid[0:512, 0:512] / 512
    pixels = np.stack([np.sin(6 * x) * np.cos(4 * y), x * y, np.cos(9 * (x - y))], axis=-1)
    path = tmp_path / "astronaut.jpg"  # a smooth 512 x 512 picture
    Image.fromarray(((pixels + 1) * 127).astype(np.uint8)).save(path, quality=95)
    reduced, whole = decode(path, 73), decode(path)
    assert whole.size == (512, 512) and reduced.size == (128, 128)  # 1/4: still >= 73
    assert decode(path, 300).size == (512, 512)  # 1/2 would be below 300
    transform = eval_transform(64, [0.5] * 3, [0.25] * 3)
    gap = (transform(reduced) - transform(whole)).abs()
    assert float(gap.mean()) < 0.01 and float(gap.max()) < 0.1  # 0.005, 0.03 measured
    png = tmp_path / "astronaut.png"
    shutil.copy(path, png)  # a JPEG named .png is still a JPEG: drafted the same
    assert decode(png, 73).size == (128, 128)


def test_force_replaces_a_finished_file_only_when_the_new_one_is_whole(
    trained_run, tmp_path, capsys
):
    image = next((trained_run.parent.parent / "data" / "images").rglob("*.png"))
    out = tmp_path / "p.csv"
    command = ["predict", str(trained_run), str(image), "--out", str(out), "--quiet"]
    assert run(command) == 0
    out.write_text("id,prediction\nmarked,x\n")
    assert run(command) == 2 and "marked" in out.read_text()  # never over an earlier result
    assert run([*command, "--resume"]) == 1 and "marked" in out.read_text()
    assert "its job finished, nothing is left to resume" in capsys.readouterr().err
    assert run([*command, str(tmp_path / "typo.png"), "--force"]) == 1  # fails before any work
    assert "marked" in out.read_text()  # the earlier result is still there
    assert run([*command, "--force"]) == 0 and "marked" not in out.read_text()


@pytest.mark.parametrize("suffix", [".json", ".txt"])
def test_a_table_job_refuses_an_out_that_is_neither_a_table_nor_a_folder(
    trained_run, tmp_path, capsys, suffix
):
    image = next((trained_run.parent.parent / "data" / "images").rglob("*.png"))
    out = tmp_path / f"p{suffix}"
    code = run(["predict", str(trained_run), str(image), "--out", str(out)])
    if suffix == ".json":
        assert code == 1 and "predictions are a table" in capsys.readouterr().err
    else:  # any other name is a folder of shards
        assert code == 0 and (out / "_SUCCESS").is_file()


def test_a_long_listing_says_how_many_files_it_has_found(capsys):
    """A line each time `every` seconds have passed on the clock (here one that advances 4 s at
    each reading), counted on from the files listed before."""
    from itertools import count

    from vislab.engine.sources import counted

    ticks = count(step=4.0)
    found = list(counted(iter(range(6)), before=10, every=10.0, clock=lambda: next(ticks)))
    assert found == list(range(6))
    assert capsys.readouterr().err.splitlines() == [
        "listing: 13 files so far",
        "listing: 16 files so far",
    ]


def test_paths_are_joined_as_os_path_normpath_joins_them():
    """The fast join of a manifest's paths to its folder agrees with the standard library on
    random paths (dots, doubled and trailing slashes, absolute ones) and folders."""
    import os
    import random

    from vislab.files import joined_paths

    rng = random.Random(0)
    parts = ["a", "b", ".", "..", "", "c.jpg", "/", "x y", "ü", "...", ".h"]
    for folder in [".", "/", "/tmp/x", "rel/dir", "rel/../d", "./d/", "/tmp/x/"]:
        paths = [
            ("/" if rng.random() < 0.1 else "")
            + "/".join(rng.choice(parts) for _ in range(rng.randint(1, 5)))
            for _ in range(2000)
        ]
        joined, _ = joined_paths(folder, paths)
        expected = [os.path.normpath(os.path.join(folder, p)) for p in paths]
        assert joined == expected


def test_a_large_manifest_is_stat_ed_beside_the_work_and_a_lost_helper_changes_nothing(tmp_path):
    """A manifest of LARGE rows has its files' sizes and times taken in a forked process: the
    same numbers as taken here, and the same again where that process dies before answering."""
    import os
    import signal

    from vislab.engine.sources import LARGE, stat_all

    folder = tmp_path / "data"
    folder.mkdir()
    for k in range(7):
        (folder / f"{k}.jpg").write_bytes(b"x" * (k + 1))
    paths = [f"{k % 9}.jpg" for k in range(LARGE)]  # two of the nine are missing
    pd.DataFrame({"path": paths}).to_csv(folder / "m.csv", index=False)
    files = [str(folder / p) for p in paths]
    expected = stat_all(files)
    assert (expected[0] == -1).sum() == 2 * LARGE // 9
    for kill in (False, True):
        listing = list_source([folder / "m.csv"], {".jpg"})
        assert not isinstance(listing.stats, tuple)  # taken in the background
        if kill:
            os.kill(listing.stats.child.pid, signal.SIGKILL)
        np.testing.assert_array_equal(listing.sizes, expected[0])
        np.testing.assert_array_equal(listing.mtimes, expected[1])
