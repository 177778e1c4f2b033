"""`vislab data inspect` on a manifest of real images with known problems injected: digits
(scikit-learn) with flipped labels, photo tiles (scikit-image) with re-encoded and resized
copies in another split, images whose embeddings are far from all others, a blank image and a
broken file. Each problem is found in its table, the tables are DESIGN's, and the page names
what it shows escaped and prints on A4 in Chromium."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from tests.data.test_near_copies import _jpeg, _tiles
from tests.printing import print_problems
from vislab.cli import run

DIGITS, FLIPPED, TILES, COPIES, FAR = 600, 40, 30, 12, 3
ODD_NAME = 'tile <b>&"0"<i>.jpg'  # a name the page must escape


def _embedding(path) -> np.ndarray:
    """The image's 8 x 8 gray thumbnail (0-16, as scikit-learn's digits): its embedding."""
    gray = Image.open(path).convert("L").resize((8, 8), Image.Resampling.BOX)
    return np.asarray(gray, dtype=np.float32).ravel() * 16 / 255


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    root = tmp_path_factory.mktemp("collection")
    rng = np.random.default_rng(0)
    digits = load_digits()
    rows = []
    flipped = rng.choice(DIGITS, FLIPPED, replace=False)
    for k in range(DIGITS):
        pixels = (digits.images[k] * 255 / 16).astype(np.uint8)
        name = f"digit{k:04d}.png"
        Image.fromarray(pixels).resize((32, 32), Image.Resampling.NEAREST).save(root / name)
        label = int(digits.target[k])
        if k in flipped:
            label = int(rng.choice([c for c in range(10) if c != label]))
        rows.append({"path": name, "label": str(label), "split": rng.choice(["train", "test"])})
    tiles = _tiles(192)[:TILES]
    for k, tile in enumerate(tiles):
        name = ODD_NAME if k == 0 else f"tile{k:03d}.jpg"
        tile.save(root / name, quality=95)
        rows.append({"path": name, "label": "photo", "split": "train"})
    for n in range(COPIES):
        copy = _jpeg(tiles[n], 50) if n % 2 else tiles[n].resize((120, 120))
        copy.save(root / f"copy{n:02d}.jpg", quality=90)
        rows.append({"path": f"copy{n:02d}.jpg", "label": "photo", "split": "test"})
    Image.new("RGB", (100, 100), (120, 160, 200)).save(root / "blank.png")
    (root / "broken.jpg").write_bytes(b"not an image")
    rows += [
        {"path": "blank.png", "label": "photo", "split": "train"},
        {"path": "broken.jpg", "label": "photo", "split": "train"},
    ]
    manifest = pd.DataFrame(rows)
    manifest.to_csv(root / "manifest.csv", index=False)
    readable = manifest[manifest["path"] != "broken.jpg"]
    vectors = np.stack([_embedding(root / p) for p in readable["path"]])
    far = rng.choice(DIGITS, FAR, replace=False)
    vectors[far] = rng.normal(0, 40, (FAR, vectors.shape[1]))  # the model sees these apart
    embedded = pd.DataFrame(
        {"id": readable["path"], "path": [str(root / p) for p in readable["path"]]}
    )
    embedded = pd.concat(
        [embedded, pd.DataFrame(vectors, columns=[f"embedding_{i}" for i in range(64)])], axis=1
    )
    embedded.to_parquet(root / "embeddings.parquet")
    out = root / "inspection"
    code = run(
        [
            "data",
            "inspect",
            str(root / "manifest.csv"),
            "--out",
            str(out),
            "--embeddings",
            str(root / "embeddings.parquet"),
            "--quiet",
        ]
    )
    assert code == 0
    names = manifest["path"].to_numpy()
    return {
        "root": root,
        "out": out,
        "flipped": names[flipped],
        "far": names[far],
        "manifest": manifest,
    }


def _table(collection, name: str) -> pd.DataFrame:
    return pd.read_csv(collection["out"] / "tables" / f"{name}.csv", keep_default_na=False)


def test_copies_are_clustered_with_their_originals_and_leaks_flagged(collection):
    found = _table(collection, "duplicates")
    assert list(found.columns[:2]) == ["path", "cluster"]
    cluster = dict(zip(found["path"], found["cluster"], strict=True))
    originals = [ODD_NAME] + [f"tile{k:03d}.jpg" for k in range(1, COPIES)]
    joined = [
        cluster.get(f"copy{n:02d}.jpg", -1) == cluster.get(originals[n]) for n in range(COPIES)
    ]
    assert np.mean(joined) >= 11 / 12
    assert found[found["path"].isin(originals)]["cluster"].is_unique  # distinct tiles apart
    assert found.loc[found["path"].str.startswith("copy"), "leaks"].astype(str).eq("True").all()
    summary = json.loads((collection["out"] / "inspect.json").read_text())
    assert summary["n_leaking_clusters"] == found["cluster"].nunique()
    assert summary["effective_n"] == len(collection["manifest"]) - sum(joined)


def test_flipped_labels_are_found_high_in_the_list(collection):
    found = _table(collection, "label_issues")
    assert list(found.columns) == ["path", "label", "suggested_label", "score"]
    assert (np.diff(found["score"]) >= 0).all()  # worst (least probable label) first
    top = set(found["path"].head(2 * FLIPPED))
    assert np.mean([p in top for p in collection["flipped"]]) >= 0.7
    labels = collection["manifest"].set_index("path")["label"]
    assert (found["label"].astype(str) == labels[found["path"]].to_numpy()).all()


def test_outliers_and_quality_problems_are_listed_with_reasons(collection):
    outliers = _table(collection, "outliers")
    assert set(collection["far"]) <= set(outliers["path"])
    assert (np.diff(outliers["distance"]) <= 0).all() and outliers["reason"].str.len().gt(0).all()
    quality = _table(collection, "quality").set_index("path")
    assert quality.loc["broken.jpg", "problem"] == "unreadable"
    assert "cannot identify" in quality.loc["broken.jpg", "detail"]
    assert quality.loc["blank.png", "problem"] == "low information"
    digits = quality[quality.index.str.startswith("digit")]
    assert not digits["problem"].eq("low information").any()  # a two-tone digit is not blank


def test_every_readable_image_is_in_one_group_of_the_map(collection):
    groups = _table(collection, "clusters")
    readable = collection["manifest"].query("path != 'broken.jpg'")["path"]
    assert sorted(groups["path"]) == sorted(readable)
    sizes = groups["group"].value_counts().sort_index()
    assert (np.diff(sizes.to_numpy()) <= 0).all()
    assert groups.groupby("group")["exemplar"].sum().le(8).all()


def test_the_page_escapes_names_prints_on_a4_and_no_run_is_replaced(collection, browser):
    page = collection["out"] / "inspect.html"
    text = page.read_text()
    assert "tile &lt;b&gt;&amp;&quot;0&quot;&lt;i&gt;.jpg" in text and "<b>&" not in text
    assert "Map of the collection" in text and "data:image/png;base64" in text
    assert print_problems(browser, page) == []
    manifest = str(collection["root"] / "manifest.csv")
    assert run(["data", "inspect", manifest, "--out", str(collection["out"]), "--quiet"]) == 2


def test_embeddings_of_another_source_are_refused(collection, tmp_path, capsys):
    embedded = pd.read_parquet(collection["root"] / "embeddings.parquet").iloc[5:]
    embedded.to_parquet(tmp_path / "partial.parquet")
    manifest = str(collection["root"] / "manifest.csv")
    arguments = ["--out", str(tmp_path / "out"), "--embeddings", str(tmp_path / "partial.parquet")]
    assert run(["data", "inspect", manifest, *arguments, "--quiet"]) == 1
    error = capsys.readouterr().err
    assert "no embedding for 5 image(s)" in error and "digit0000.png" in error


def test_a_folder_of_unlabelled_images_is_inspected(collection, tmp_path):
    """No labels, no embeddings: the copies and the quality, and a note of what was not done."""
    out = tmp_path / "folder"
    assert run(["data", "inspect", str(collection["root"]), "--out", str(out), "--quiet"]) == 0
    found = pd.read_csv(out / "tables" / "duplicates.csv")
    assert found["path"].str.endswith("copy03.jpg").any()
    assert pd.read_csv(out / "tables" / "label_issues.csv").empty
    summary = json.loads((out / "inspect.json").read_text())
    assert summary["notes"] and "no embeddings" in summary["notes"][0]


def test_label_issues_from_a_runs_held_out_predictions(collection, tmp_path, capsys):
    """A classifier fit on the train split's digits (their labels, flipped ones and all), its
    probabilities written for the test split as a run's predictions.csv: the flipped test
    digits are found high in the list, and only images it predicts are listed."""
    from sklearn.linear_model import LogisticRegression

    root, manifest = collection["root"], collection["manifest"]
    digits = manifest[manifest["path"].str.startswith("digit")]
    vectors = np.stack([_embedding(root / p) for p in digits["path"]])
    train = (digits["split"] == "train").to_numpy()
    model = LogisticRegression(max_iter=2000, C=0.1).fit(vectors[train], digits["label"][train])
    tested = digits[~train]
    scores = pd.DataFrame(
        model.predict_proba(vectors[~train]), columns=[f"score_{c}" for c in model.classes_]
    )
    scores = scores[scores.columns[::-1]]  # a file's classes in any order: score_9 first
    written = pd.DataFrame({"id": tested["path"], "path": [str(root / p) for p in tested["path"]]})
    written = pd.concat([written.reset_index(drop=True), scores], axis=1)
    written.to_csv(tmp_path / "predictions.csv", index=False)
    out = tmp_path / "out"
    arguments = ["--out", str(out), "--predictions", str(tmp_path / "predictions.csv")]
    assert run(["data", "inspect", str(root / "manifest.csv"), *arguments, "--quiet"]) == 0
    found = pd.read_csv(out / "tables" / "label_issues.csv", keep_default_na=False)
    assert set(found["path"]) <= set(tested["path"])
    flipped = [p for p in collection["flipped"] if p in set(tested["path"])]
    top = set(found["path"].head(2 * len(flipped)))
    assert np.mean([p in top for p in flipped]) >= 0.7
    notes = json.loads((out / "inspect.json").read_text())["notes"]
    assert any(f"the {len(tested)} labelled images it predicts" in n for n in notes)
    # scores that are not probabilities are refused before the pass, by row
    written.loc[3, "score_0"] = 2.0
    written.to_csv(tmp_path / "bad.csv", index=False)
    arguments = ["--out", str(tmp_path / "bad"), "--predictions", str(tmp_path / "bad.csv")]
    assert run(["data", "inspect", str(root / "manifest.csv"), *arguments, "--quiet"]) == 1
    error = capsys.readouterr().err
    assert "bad.csv: row 5: the score columns are not class probabilities" in error
