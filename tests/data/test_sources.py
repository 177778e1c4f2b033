"""Every source becomes one SampleTable that keeps every metadata column."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from tests.conftest import make_image_folder
from vislab.data.sources import from_imagefolder, from_manifest, from_sample, from_torchvision
from vislab.errors import InputError


def test_imagefolder_labels_are_folder_names(image_folder):
    table = from_imagefolder(image_folder)
    assert table.classes == ["blue", "green", "red"]
    assert len(table) == 36 and "split" not in table.frame.columns
    row = table.frame.iloc[0]
    assert row["label"] == "blue" and row["id"] == "blue/blue_000.png"
    assert table.read(0).mode == "RGB"


def test_imagefolder_with_split_folders_gives_the_splits(tmp_path):
    make_image_folder(tmp_path / "train", per_class=4)
    make_image_folder(tmp_path / "test", per_class=2)
    table = from_imagefolder(tmp_path)
    assert table.frame.groupby("split").size().to_dict() == {"test": 6, "train": 12}


def test_imagefolder_keeps_files_that_are_not_images(tmp_path):
    root = make_image_folder(tmp_path / "images", per_class=2)
    (root / "red" / "notes.txt").write_text("hello")
    table = from_imagefolder(root)
    assert "red/notes.txt" in set(table.frame["id"])  # reported by the scan, never dropped silently


def test_manifest_keeps_metadata_and_resolves_relative_paths(manifest):
    table = from_manifest(manifest)
    assert {"site", "photographer"} <= set(table.frame.columns)
    assert all(p.startswith(str(manifest.parent)) for p in table.frame["path"])
    assert table.frame["id"].iloc[0].startswith("images/")
    assert np.asarray(table.read(5)).shape == (24, 24, 3)


def test_manifest_paths_stay_inside_its_folder_unless_the_config_allows(tmp_path, manifest):
    frame = pd.read_csv(manifest)
    outside = tmp_path / "private.png"
    outside.write_bytes(manifest.parent.joinpath(frame["path"][0]).read_bytes())
    frame.loc[2, "path"] = "../private.png"
    frame.loc[6, "path"] = str(outside)  # absolute, and elsewhere
    frame.loc[7, "path"] = str(manifest.parent / frame["path"][7])  # absolute, but inside
    frame.loc[8, "path"] = "images/../" + frame["path"][8]  # leaves and comes back: inside
    frame.to_csv(manifest, index=False)
    with pytest.raises(InputError) as error:
        from_manifest(manifest)
    message = str(error.value)
    assert "manifest.csv: rows 4, 8:" in message and "'../private.png'" in message
    assert "allow_outside_root: true" in message
    table = from_manifest(manifest, allow_outside_root=True)
    assert table.frame["path"][2] == str(outside) == table.frame["path"][6]
    assert table.frame["listed_path"].tolist() == frame["path"].tolist()  # as written


def test_manifest_parquet_and_integer_labels(tmp_path, manifest):
    frame = pd.read_csv(manifest)
    frame["label"] = frame["label"].map({"red": 0, "green": 1, "blue": 2})
    frame["split"] = ["training" if i % 3 else "Test" for i in range(len(frame))]
    parquet = manifest.with_suffix(".parquet")
    frame.to_parquet(parquet)
    table = from_manifest(parquet)
    assert table.classes == ["0", "1", "2"]
    assert set(table.frame["split"]) == {"train", "test"}


def test_manifest_errors_name_the_file_and_column(tmp_path, manifest):
    frame = pd.read_csv(manifest)
    frame.drop(columns="label").to_csv(tmp_path / "nolabel.csv", index=False)
    with pytest.raises(InputError, match=r"nolabel.csv: no 'label' column.*site"):
        from_manifest(tmp_path / "nolabel.csv")
    frame.loc[3, "path"] = None
    frame.to_csv(tmp_path / "hole.csv", index=False)
    with pytest.raises(InputError, match=r"hole.csv: empty 'path' on row 5"):
        from_manifest(tmp_path / "hole.csv")
    frame["split"] = "holdout"
    frame.loc[3, "path"] = "x.png"
    frame.to_csv(tmp_path / "split.csv", index=False)
    with pytest.raises(InputError, match="unknown split value"):
        from_manifest(tmp_path / "split.csv")


def test_sample_digits_are_the_real_scikit_learn_digits():
    from sklearn.datasets import load_digits

    table = from_sample("digits")
    digits = load_digits()
    assert len(table) == 1797 and table.classes == [str(i) for i in range(10)]
    assert (table.frame["label"].astype(int).to_numpy() == digits.target).all()
    pixels = np.asarray(table.read(7))[:, :, 0].astype(float)
    assert np.allclose(pixels / 255 * 16, digits.images[7], atol=0.1)
    assert set(table.frame["stroke"]) == {"heavy", "light"}


def test_huggingface_save_to_disk_maps_cifar100_columns(tmp_path):
    import datasets

    features = datasets.Features(
        {
            "img": datasets.Image(),
            "fine_label": datasets.ClassLabel(names=["apple", "bee", "cup"]),
            "coarse_label": datasets.ClassLabel(names=["fruit", "insect"]),
        }
    )
    rng = np.random.default_rng(0)

    def split(n):
        return datasets.Dataset.from_dict(
            {
                "img": [rng.integers(0, 255, (8, 8, 3), dtype=np.uint8) for _ in range(n)],
                "fine_label": [i % 3 for i in range(n)],
                "coarse_label": [i % 2 for i in range(n)],
            },
            features=features,
        )

    datasets.DatasetDict({"train": split(6), "test": split(3)}).save_to_disk(tmp_path / "hf")
    from vislab.data.hf import from_huggingface

    table = from_huggingface(None, tmp_path / "hf")
    assert table.classes == ["apple", "bee", "cup"]
    assert list(table.frame["label"][:4]) == ["apple", "bee", "cup", "apple"]
    assert "coarse_label" in table.frame.columns and "img" not in table.frame.columns
    assert table.frame.groupby("split").size().to_dict() == {"test": 3, "train": 6}
    assert table.read(7).size == (8, 8)


def test_huggingface_hub_offline_error_says_what_to_do():
    from vislab.data.hf import from_huggingface

    with pytest.raises(InputError, match="save_to_disk"):
        from_huggingface("cifar10")


def test_torchvision_cifar10_from_a_local_root(tmp_path, monkeypatch):
    import torchvision

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    names = [
        "data_batch_1",
        "data_batch_2",
        "data_batch_3",
        "data_batch_4",
        "data_batch_5",
        "test_batch",
    ]
    for name in names:
        batch = {"data": rng.integers(0, 255, (2, 3072), dtype=np.uint8), "labels": [1, 9]}
        (folder / name).write_bytes(pickle.dumps(batch))
    meta = {
        "label_names": [
            "airplane",
            "automobile",
            "bird",
            "cat",
            "deer",
            "dog",
            "frog",
            "horse",
            "ship",
            "truck",
        ]
    }
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))
    # The files are stand-ins for the real ones: only their md5 check is skipped.
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *args: True)
    table = from_torchvision("cifar10", tmp_path)
    assert len(table) == 12 and table.classes[9] == "truck"
    assert table.frame.groupby("split").size().to_dict() == {"test": 2, "train": 10}
    assert list(table.frame["label"][:2]) == ["automobile", "truck"]
    assert table.read(0).size == (32, 32)


def test_torchvision_missing_root_says_how_to_download(tmp_path):
    with pytest.raises(InputError, match="download=True"):
        from_torchvision("cifar10", tmp_path)


def test_the_digits_read_from_scikit_learns_file_are_load_digits(monkeypatch):
    import importlib.util

    from sklearn.datasets import load_digits

    from vislab.data import sources

    reference = load_digits()
    for found in (True, False):  # the file scikit-learn ships, else load_digits itself
        sources._digits.cache_clear()
        if not found:
            monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
        pixels, target = sources._digits()
        np.testing.assert_array_equal(pixels, reference.images)
        np.testing.assert_array_equal(target, reference.target)
    sources._digits.cache_clear()
