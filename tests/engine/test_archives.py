"""WebDataset tar shards (written by webdataset's own TarWriter) as a source: the images read
from inside the archives predict as the same images on disk, each sample's text members and
JSON fields reach the table, a broken or image-less sample is skipped with its reason, and a
resumed job lists the archives to the same plan (and refuses a rewritten one)."""

from __future__ import annotations

import io
import json
import tarfile

import pandas as pd
import pytest

from tests.conftest import COLORS, colored_image
from vislab.cli import run
from vislab.engine.archives import split_key

webdataset = pytest.importorskip("webdataset")


def _jpeg(color, seed: int) -> bytes:
    buffer = io.BytesIO()
    colored_image(color, seed, size=48).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """Two shards of 9 samples (image, class, JSON), one truncated image and one sample with no
    image in the second; the same good images as files in a folder."""
    root = tmp_path_factory.mktemp("wds")
    (root / "shards").mkdir()
    (root / "files").mkdir()
    names = list(COLORS)
    for shard in range(2):
        with webdataset.TarWriter(str(root / "shards" / f"{shard:06d}.tar")) as sink:
            for k in range(9):
                key, name = f"s{shard}_{k:03d}", names[k % 3]
                data = _jpeg(COLORS[name], 100 * shard + k)
                meta = {"site": f"site{k % 2}", "tags": ["a", "b"], "id": k}
                if shard == 1 and k == 4:
                    data = data[: len(data) // 3]  # truncated
                if shard == 1 and k == 7:
                    sink.write({"__key__": key, "json": meta})
                    continue
                sink.write({"__key__": key, "jpg": data, "cls": name, "json": meta})
                if not (shard == 1 and k == 4):
                    (root / "files" / f"{key}.jpg").write_bytes(data)
    return root


def test_split_key_groups_members_as_webdataset_does():
    assert split_key("000123.jpg") == ("000123", "jpg")
    assert split_key("a/b.c/000123.seg.png") == ("a/b.c/000123", "seg.png")
    assert split_key("README") == ("README", "")


def test_images_inside_archives_predict_as_the_same_images_on_disk(trained_run, shards, tmp_path):
    out = tmp_path / "out"
    tars = sorted(str(p) for p in (shards / "shards").glob("*.tar"))
    command = ["predict", str(trained_run), *tars, "--out", str(out), "--shard-size", "5"]
    assert run([*command, "--quiet"]) == 0
    table = pd.read_parquet(out)
    assert len(table) == 16 and table["id"].tolist()[:2] == ["s0_000", "s0_001"]
    assert table["path"].iloc[0] == f"{tars[0]}/s0_000.jpg"
    assert (table["cls"] == table["id"].map(lambda i: list(COLORS)[int(i[-3:]) % 3])).all()
    assert table["site"].tolist()[:2] == ["site0", "site1"]
    assert json.loads(table["tags"].iloc[0]) == ["a", "b"] and "json_id" in table.columns
    skipped = pd.read_csv(out / "_skipped.csv")
    assert skipped["id"].tolist() == ["s1_004", "s1_007"]
    assert skipped["reason"].iloc[0].startswith(("truncated", "cannot be decoded"))
    assert skipped["reason"].iloc[1] == "the sample has no image (its members: json)"
    files = tmp_path / "files.csv"
    assert run(["predict", str(trained_run), str(shards / "files"), "--out", str(files)]) == 0
    on_disk = pd.read_csv(files)
    scores = [c for c in table.columns if c.startswith("score_")]
    pd.testing.assert_frame_equal(
        table[scores].reset_index(drop=True), on_disk[scores], check_dtype=False, rtol=1e-5
    )
    assert table["prediction"].tolist() == on_disk["prediction"].tolist()


def test_a_folder_of_archives_resumes_and_a_rewritten_archive_is_refused(
    trained_run, shards, tmp_path
):
    import shutil

    source = tmp_path / "shards"
    shutil.copytree(shards / "shards", source)
    out = tmp_path / "out"
    command = ["predict", str(trained_run), str(source), "--out", str(out), "--shard-size", "4"]
    assert run([*command, "--quiet"]) == 0
    whole = pd.read_parquet(out)
    (out / "part-00002.parquet").unlink()
    (out / "_SUCCESS").unlink()
    assert run([*command, "--resume", "--quiet"]) == 0  # listed again: the same plan
    pd.testing.assert_frame_equal(pd.read_parquet(out), whole)
    with tarfile.open(source / "000000.tar", "a") as archive:
        extra = tarfile.TarInfo("zz_new.jpg")
        data = _jpeg((1, 2, 3), 0)
        extra.size = len(data)
        archive.addfile(extra, io.BytesIO(data))
    (out / "part-00002.parquet").unlink()
    assert run([*command, "--resume", "--quiet"]) == 1  # the source changed since the plan


def test_a_compressed_archive_is_refused_with_what_to_do(trained_run, shards, tmp_path):
    from vislab.cli import app
    from vislab.errors import InputError

    packed = tmp_path / "000000.tar.gz"
    with tarfile.open(packed, "w:gz") as archive:
        archive.add(shards / "files" / "s0_000.jpg", arcname="s0_000.jpg")
    with pytest.raises(InputError, match="re-pack it as an uncompressed .tar"):
        arguments = ["predict", str(trained_run), str(packed), "--out", str(tmp_path / "o")]
        app(arguments, standalone_mode=False)
