"""Validation samples: stratified draws, weights, and estimates that hold for the collection."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tests.estimation.r_survey import needs_r_survey
from vislab.cli import run
from vislab.errors import InputError
from vislab.evaluation.classification import evaluate_classification
from vislab.evaluation.validation import allocate, draw_sample


def _collection(n=20_000, seed=0):
    """A collection where the model is good on 'cat' (95 %) and poor on rare 'dog' (60 %)."""
    rng = np.random.default_rng(seed)
    predicted = np.where(rng.random(n) < 0.85, "cat", "dog")
    right = rng.random(n) < np.where(predicted == "cat", 0.95, 0.6)
    truth = np.where(right, predicted, np.where(predicted == "cat", "dog", "cat"))
    confidence = np.where(right, rng.uniform(0.7, 1.0, n), rng.uniform(0.5, 0.8, n))
    return pd.DataFrame(
        {
            "id": [f"img{i}" for i in range(n)],
            "path": [f"/data/img{i}.jpg" for i in range(n)],
            "prediction": predicted,
            "truth": truth,
            "score_cat": np.where(predicted == "cat", confidence, 1 - confidence),
            "score_dog": np.where(predicted == "dog", confidence, 1 - confidence),
        }
    )


def test_allocation_respects_size_and_strata():
    sizes = pd.Series({"a": 900, "b": 90, "c": 10})
    proportional = allocate(sizes, 100, None, "proportional")
    assert (
        proportional.sum() == 100
        and proportional["a"] > proportional["b"] >= proportional["c"] >= 1
    )
    equal = allocate(sizes, 60, None, "equal")
    assert equal.to_dict() == {"a": 25, "b": 25, "c": 10}  # c has only 10: the rest goes to a and b
    assert allocate(sizes, 5000, None, "equal").equals(sizes)


def test_weights_reconstruct_the_collection():
    collection = _collection()
    sample = draw_sample(collection, 400, ["prediction"], allocation="equal", seed=1)
    assert len(sample) == 400 and sample["weight"].sum() == pytest.approx(len(collection))
    counts = collection["prediction"].value_counts()
    for name, group in sample.groupby("prediction"):
        assert group["weight"].iloc[0] == pytest.approx(counts[name] / len(group))


def test_weighted_accuracy_estimates_the_collection_and_naive_does_not():
    collection = _collection()
    true_accuracy = float((collection["truth"] == collection["prediction"]).mean())
    sample = draw_sample(collection, 600, ["prediction"], allocation="equal", seed=2)
    coded = sample.rename(columns={"truth": "label"})
    naive = evaluate_classification(coded.drop(columns="weight"), bootstrap=0)["metrics"][
        "accuracy"
    ]["value"]
    weighted = evaluate_classification(coded, bootstrap=500, weight="weight")["metrics"]["accuracy"]
    assert abs(naive - true_accuracy) > 0.05  # dogs are half the sample but 15 % of the collection
    assert abs(weighted["value"] - true_accuracy) < 0.03
    assert weighted["ci"][0] <= true_accuracy <= weighted["ci"][1]


def test_oversampling_uncertain_images_adds_confidence_strata():
    collection = _collection()
    sample = draw_sample(collection, 300, ["prediction"], oversample_uncertain=True, seed=0)
    assert set(sample["confidence_band"]) <= {"low", "mid", "high"}
    share_in_collection = (collection[["score_cat", "score_dog"]].max(axis=1) < 0.6).mean()
    assert (sample["confidence_band"] == "low").mean() > 1.5 * share_in_collection
    assert sample["stratum"].str.contains(r"\|").all()
    with pytest.raises(InputError, match="score_<class>"):
        draw_sample(
            _collection().drop(columns=["score_cat", "score_dog"]), 10, oversample_uncertain=True
        )


def test_sheet_hides_the_model_and_the_coded_sheet_comes_back(tmp_path, capsys):
    collection = _collection(n=3000)
    collection.drop(columns="truth").to_csv(tmp_path / "predictions.csv", index=False)
    out = tmp_path / "validation"
    command = [
        "validation-sample",
        str(tmp_path / "predictions.csv"),
        "--size",
        "200",
        "--coders",
        "A,B",
        "--out",
        str(out),
    ]
    assert run(command) == 0
    sheet = pd.read_csv(out / "coding_sheet.csv")
    assert list(sheet.columns) == ["item", "image", "A", "B", "sample_id"]
    assert sheet[["A", "B"]].isna().all().all() and len(sheet) == 200
    design = json.loads((out / "design.json").read_text())
    assert design["population"] == 3000 and design["sample"] == 200
    key = pd.read_csv(out / "sample.csv").set_index("item")["id"]  # the key stays with us
    truth = collection.set_index("id")["truth"]
    rng = np.random.default_rng(0)
    sheet["A"] = truth.loc[key.loc[sheet["item"]]].to_numpy()
    sheet["B"] = np.where(rng.random(200) < 0.9, sheet["A"], "cat")
    sheet.to_csv(tmp_path / "coded.csv", index=False)
    metrics_path = tmp_path / "m.json"
    command = [
        "evaluate",
        "classification",
        "--predictions",
        str(tmp_path / "coded.csv"),
        "--sample",
        str(out),
        "--label-column",
        "A",
        "--bootstrap",
        "100",
        "--out",
        str(metrics_path),
    ]
    assert run(command) == 0
    metrics = json.loads(metrics_path.read_text())
    assert metrics["bootstrap"]["weights"] == "weight" and metrics["n"] == 200
    command = [
        "agreement",
        str(tmp_path / "coded.csv"),
        "--raters",
        "A,B",
        "--model",
        "prediction",
        "--sample",
        str(out),
        "--bootstrap",
        "50",
        "--out",
        str(tmp_path / "g.json"),
    ]
    assert run(command) == 0
    agreement = json.loads((tmp_path / "g.json").read_text())
    assert agreement["bootstrap"]["weights"] == "weight" and "model" in agreement
    assert (
        run(
            [
                "validation-sample",
                str(tmp_path / "predictions.csv"),
                "--size",
                "5",
                "--out",
                str(out),
            ]
        )
        == 2  # the folder holds a sample already: never replaced without --force
    )


def test_the_coding_sheet_shows_an_item_number_and_the_image_never_the_class(tmp_path, capsys):
    from tests.conftest import make_image_folder

    folder = make_image_folder(tmp_path / "photos", per_class=10)  # photos/red/..., green, blue
    paths = sorted(folder.rglob("*.png"))
    classes = sorted({p.parent.name for p in paths})
    predictions = pd.DataFrame(
        {
            "id": [p.relative_to(folder).as_posix() for p in paths],
            "path": [p.relative_to(tmp_path).as_posix() for p in paths],  # from the CSV's folder
            "prediction": [p.parent.name for p in paths],
        }
    )
    predictions.loc[0, "path"] = "photos/gone.png"
    predictions.to_csv(tmp_path / "collection.csv", index=False)
    out = tmp_path / "validation"
    command = ["validation-sample", str(tmp_path / "collection.csv"), "--size", "30"]
    assert run([*command, "--coders", "A", "--out", str(out)]) == 0
    assert "1 image(s) could not be read here" in capsys.readouterr().out
    sheet_text = (out / "coding_sheet.csv").read_text()
    assert not any(name in sheet_text for name in [*classes, "photos"])
    sheet, key = pd.read_csv(out / "coding_sheet.csv"), pd.read_csv(out / "sample.csv")
    assert list(sheet.columns) == ["item", "image", "A", "sample_id"] and len(sheet) == 30
    for row in sheet.merge(key, on="item").itertuples():
        if row.path == "photos/gone.png":
            assert pd.isna(row.image)
            continue
        shown = np.asarray(Image.open(out / row.image))
        assert np.array_equal(shown, np.asarray(Image.open(tmp_path / row.path).convert("RGB")))
        assert Image.open(out / row.image).info.get("exif") is None


STRATIFIED_MEAN = r"""
suppressMessages(library(survey))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
des <- svydesign(ids = ~1, strata = ~stratum, weights = ~weight, fpc = ~inclusion_probability,
                 data = d)
m <- svymean(~correct, des)
write.csv(data.frame(case = 0, mean = coef(m)[[1]], se = SE(m)[[1]]), args[2], row.names = FALSE)
"""


@needs_r_survey
def test_evaluate_with_a_sample_resamples_within_strata_as_r_survey_estimates(tmp_path):
    """A stratified sample (uncertain images oversampled, 12 % of the collection): the weighted
    accuracy is R's svymean and its bootstrap (within strata, sampling fractions kept) has
    R's linearised standard error within 5 % (before: resampled as a simple random sample)."""
    from tests.estimation.r_survey import r_survey
    from vislab.evaluation.classification import evaluate_classification, sample_strata
    from vislab.evaluation.classification_stats import ClassificationData, ClassificationEvaluator
    from vislab.evaluation.intervals import bootstrap_draws

    collection = _collection(4000, seed=3)
    sample = draw_sample(collection, 480, oversample_uncertain=True, seed=1)
    sample["label"] = sample["truth"]
    sample["correct"] = (sample["label"] == sample["prediction"]).astype(int)
    reference = r_survey(sample, tmp_path, STRATIFIED_MEAN).loc[0]
    found = evaluate_classification(
        sample, bootstrap=0, weight="weight", strata="stratum", source="sample"
    )
    assert found["metrics"]["accuracy"]["value"] == pytest.approx(reference["mean"], abs=1e-12)
    data = ClassificationData(sample, "sample", "weight")
    data.strata = sample_strata(sample, "stratum", "sample")
    draws = bootstrap_draws(ClassificationEvaluator(data), 4000, seed=0)["accuracy"]
    assert draws.std(ddof=1) == pytest.approx(reference["se"], rel=0.05)


def test_an_interval_without_width_from_a_sample_is_said(capsys):
    """Strata whose coded images are all right give the stratified bootstrap no spread: the
    interval has no width, and the result says what that does not prove."""
    collection = _collection(4000, seed=3)
    sample = draw_sample(collection, 200, seed=1)
    sample["label"] = sample["prediction"]  # no error anywhere in the sample
    found = evaluate_classification(sample, bootstrap=50, weight="weight", strata="stratum")
    assert found["metrics"]["accuracy"]["ci"] == [1.0, 1.0]
    assert "not proof that the model never errs" in found["bootstrap"]["note"]


def test_a_coders_label_is_the_reference_where_the_collection_has_a_label_of_its_own(tmp_path):
    """Predictions from a manifest carry its `label` column into the sample: evaluating against
    coder A with --sample takes A's codes (the weighted accuracy against A), not that column."""
    collection = _collection(n=1000, seed=3).drop(columns="truth")
    collection["label"] = "cat"  # the manifest's own column, not what the coders say
    collection.to_csv(tmp_path / "predictions.csv", index=False)
    out = tmp_path / "validation"
    draw = ["validation-sample", str(tmp_path / "predictions.csv"), "--size", "80"]
    assert run([*draw, "--coders", "A", "--out", str(out)]) == 0
    sheet = pd.read_csv(out / "coding_sheet.csv")
    sheet["A"] = np.where(np.arange(len(sheet)) % 3 == 0, "dog", "cat")
    sheet.to_csv(tmp_path / "coded.csv", index=False)
    scored = ["evaluate", "classification", "--predictions", str(tmp_path / "coded.csv")]
    scored += ["--sample", str(out), "--label-column", "A", "--bootstrap", "0"]
    assert run([*scored, "--out", str(tmp_path / "m.json")]) == 0
    found = json.loads((tmp_path / "m.json").read_text())["metrics"]["accuracy"]["value"]
    key = pd.read_csv(out / "sample.csv").merge(sheet[["item", "A"]], on="item")
    right = (key["prediction"] == key["A"]).to_numpy()
    expected = np.average(right, weights=key["weight"])
    assert found == pytest.approx(expected)
    assert expected != pytest.approx(np.average(key["prediction"] == "cat", weights=key["weight"]))


@pytest.mark.parametrize("table_format", ["parquet", "dta"])
def test_the_key_for_r_or_stata_holds_sample_csv(tmp_path, capsys, table_format):
    """--format writes sample.parquet or sample.dta beside sample.csv (which the other
    commands read), with the same rows and values."""
    from vislab.files import read_table

    _collection(n=500).drop(columns="truth").to_csv(tmp_path / "predictions.csv", index=False)
    out = tmp_path / "validation"
    command = ["validation-sample", str(tmp_path / "predictions.csv"), "--size", "40"]
    assert run([*command, "--out", str(out), "--format", table_format, "--quiet"]) == 0
    assert f"sample.{table_format} (the key" in capsys.readouterr().out
    expected = pd.read_csv(out / "sample.csv", keep_default_na=False)
    found = read_table(out / f"sample.{table_format}")
    assert list(found.columns) == list(expected.columns) and len(found) == 40
    for column in expected.columns:
        if pd.api.types.is_numeric_dtype(expected[column]):
            np.testing.assert_allclose(found[column], expected[column], rtol=1e-15)
        else:
            assert found[column].tolist() == expected[column].tolist(), column
