"""A Hugging Face dataset as a source (`hf:NAME[:CONFIG]:SPLIT`), loaded through
`datasets.load_dataset` as a download from the Hub is (here a local folder of Parquet files,
the layout of a dataset repository): its images predict as the same images on disk, its
columns reach the table, a broken image is skipped, a resumed job finds the same plan."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from tests.conftest import COLORS, colored_image
from vislab.cli import app, run
from vislab.errors import InputError

datasets = pytest.importorskip("datasets")


@pytest.fixture(scope="module")
def hub_folder(tmp_path_factory):
    """A dataset repository's layout (data/test-*.parquet): 12 images, `id`, `site`, `caption`,
    a ClassLabel `label` (none on row 7); row 5's bytes are not an image. The good images also
    as files."""
    root = tmp_path_factory.mktemp("hub")
    files = root / "files"
    files.mkdir()
    names = list(COLORS)
    images, rows = [], []
    for k in range(12):
        buffer = io.BytesIO()
        colored_image(COLORS[names[k % 3]], 500 + k, size=40).save(buffer, format="PNG")
        data = buffer.getvalue() if k != 5 else b"not an image at all"
        if k != 5:
            (files / f"{k:02d}.png").write_bytes(data)
        images.append({"bytes": data, "path": None})
        label = -1 if k == 7 else k % 3  # -1: datasets' "no label"
        rows.append(
            {"id": f"img-{k:02d}", "site": f"site{k % 2}", "caption": names[k % 3], "label": label}
        )
    features = datasets.Features(
        {
            "image": datasets.Image(),
            "id": datasets.Value("string"),
            "site": datasets.Value("string"),
            "caption": datasets.Value("string"),
            "label": datasets.ClassLabel(names=names),
        }
    )
    columns = ("id", "site", "caption", "label")
    table = {"image": images, **{c: [r[c] for r in rows] for c in columns}}
    dataset = datasets.Dataset.from_dict(table, features=features)
    (root / "repo" / "data").mkdir(parents=True)
    for k, rows in enumerate((range(0, 7), range(7, 12))):  # two files, row groups of 3
        name = root / "repo" / "data" / f"test-0000{k}-of-00002.parquet"
        dataset.select(rows).to_parquet(str(name), batch_size=3)
    return root


def test_a_parquet_dataset_is_read_in_place_as_its_images_on_disk(
    trained_run, hub_folder, tmp_path
):
    from vislab.engine.hub import ParquetImages
    from vislab.engine.sources import list_source

    source = f"hf:{hub_folder / 'repo'}:test"
    listing = list_source([source], {".png"})
    assert isinstance(listing.dataset, ParquetImages)  # not prepared: read from its files
    assert len(listing.identity["data_files"]) == 2
    out = tmp_path / "out"
    command = ["predict", str(trained_run), source, "--out", str(out), "--shard-size", "5"]
    assert run([*command, "--workers", "2", "--quiet"]) == 0
    table = pd.read_parquet(out)
    assert table["id"].tolist() == [f"img-{k:02d}" for k in range(12) if k != 5]
    assert table["path"].iloc[0] == f"{source}/0"
    assert table["site"].tolist()[:2] == ["site0", "site1"] and "caption" in table.columns
    names = list(COLORS)  # the ClassLabel column as its classes' names; -1 is no label
    labels = ["" if pd.isna(v) else v for v in table["label"]]
    assert labels == ["" if k == 7 else names[k % 3] for k in range(12) if k != 5]
    skipped = pd.read_csv(out / "_skipped.csv")
    assert skipped["id"].tolist() == ["img-05"] and skipped["path"].tolist() == [f"{source}/5"]
    assert skipped["reason"].iloc[0].startswith("not an image")
    files = tmp_path / "files.csv"
    assert run(["predict", str(trained_run), str(hub_folder / "files"), "--out", str(files)]) == 0
    on_disk = pd.read_csv(files)
    scores = [c for c in table.columns if c.startswith("score_")]
    pd.testing.assert_frame_equal(
        table[scores].reset_index(drop=True), on_disk[scores], check_dtype=False, rtol=1e-5
    )
    (out / "part-00001.parquet").unlink()
    (out / "_SUCCESS").unlink()
    assert run([*command, "--resume", "--quiet"]) == 0  # the same dataset: the same plan
    pd.testing.assert_frame_equal(pd.read_parquet(out), table)


def test_a_changed_data_file_is_another_dataset(trained_run, hub_folder, tmp_path):
    import os
    import shutil

    repo = tmp_path / "repo"
    shutil.copytree(hub_folder / "repo", repo)
    out = tmp_path / "out"
    command = ["predict", str(trained_run), f"hf:{repo}:test", "--out", str(out)]
    assert run([*command, "--shard-size", "5", "--quiet"]) == 0
    (out / "part-00001.parquet").unlink()
    (out / "_SUCCESS").unlink()
    data = next((repo / "data").iterdir())
    os.utime(data, ns=(data.stat().st_atime_ns, data.stat().st_mtime_ns + 10**9))
    with pytest.raises(InputError, match="data_files"):
        app([*command, "--shard-size", "5", "--resume", "--quiet"], standalone_mode=False)


def test_a_dataset_of_another_format_is_prepared_and_read_by_row(trained_run, tmp_path):
    """An image folder (`datasets`' imagefolder builder) is prepared in the cache: the same
    predictions as the folder read by vislab itself."""
    from tests.conftest import make_image_folder
    from vislab.engine.hub import HubImages
    from vislab.engine.sources import list_source

    folder = make_image_folder(tmp_path / "images", per_class=3)
    listing = list_source([f"hf:{folder}"], {".png"})
    assert isinstance(listing.dataset, HubImages) and "dataset_fingerprint" in listing.identity
    out, files = tmp_path / "hub.csv", tmp_path / "files.csv"
    assert run(["predict", str(trained_run), f"hf:{folder}", "--out", str(out), "--quiet"]) == 0
    assert run(["predict", str(trained_run), str(folder), "--out", str(files), "--quiet"]) == 0
    found, expected = pd.read_csv(out), pd.read_csv(files)
    assert len(found) == 9 and "label" in found.columns
    # the ClassLabel column as its classes' names (the dataset stores their index), as
    # `prediction` holds them
    assert sorted(found["label"]) == sorted(["red", "green", "blue"] * 3)
    assert set(found["prediction"]) <= {"red", "green", "blue"}
    # datasets orders an image folder by its own rule: the same rows of scores, in any order
    pd.testing.assert_frame_equal(_scores(found), _scores(expected), check_dtype=False)


def _scores(table: pd.DataFrame) -> pd.DataFrame:
    scores = sorted(c for c in table.columns if c.startswith("score_"))
    return table[scores].round(5).sort_values(scores).reset_index(drop=True)


def test_a_dataset_without_images_or_a_bad_name_is_refused(hub_folder, tmp_path, trained_run):
    plain = tmp_path / "plain" / "data"
    plain.mkdir(parents=True)
    pd.DataFrame({"text": ["a", "b"]}).to_parquet(plain / "train-00000-of-00001.parquet")
    out = str(tmp_path / "o")
    with pytest.raises(InputError, match="no image column \\(columns: text\\)"):
        app(
            ["predict", str(trained_run), f"hf:{plain.parent}", "--out", out], standalone_mode=False
        )
    with pytest.raises(InputError, match="give a Hugging Face dataset as hf:NAME"):
        app(["predict", str(trained_run), "hf:a:b:c:d", "--out", out], standalone_mode=False)
    with pytest.raises(InputError, match="no split 'train'; the dataset has test"):
        app(
            ["predict", str(trained_run), f"hf:{hub_folder / 'repo'}", "--out", out],
            standalone_mode=False,
        )
    with pytest.raises(InputError, match="give it alone"):
        source = f"hf:{hub_folder / 'repo'}:test"
        app(["predict", str(trained_run), source, source, "--out", out], standalone_mode=False)
