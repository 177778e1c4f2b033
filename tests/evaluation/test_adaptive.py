"""Adaptive rounds (`validation-sample --adaptive PREVIOUS --size N`): a further round drawn
from the images not coded yet, favouring those the model is least sure of; sample.csv keeps
every round, the coders get the new round only, and `estimate --sample` combines the rounds.
Statistics (unbiasedness, coverage, width) are in tests/estimation/test_rounds.py."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from vislab.cli import run
from vislab.errors import InputError
from vislab.evaluation.adaptive import SHARES, tuned_share


def scored_collection(rng: np.random.Generator, size: int = 600) -> pd.DataFrame:
    """A collection whose model is sure of most images and right there; unsure of the rest,
    where it errs often; calibrated scores."""
    sure = rng.random(size) < 0.75
    police = np.where(sure, rng.choice([0.03, 0.97], size), rng.uniform(0.2, 0.8, size))
    truth = rng.random(size) < police
    return pd.DataFrame(
        {
            "id": [f"img{k:04d}" for k in range(size)],
            "region": rng.choice(["north", "south"], size),
            "prediction": np.where(police >= 0.5, "police", "none"),
            "score_police": police,
            "score_none": 1 - police,
            "truth": np.where(truth, "police", "none"),
        }
    )


def _code(folder, frame: pd.DataFrame, name: str = "coded.csv"):
    """The coding sheet of `folder` filled in with the truth, as a coder would."""
    sheet = pd.read_csv(folder / "coding_sheet.csv")
    ids = pd.read_csv(folder / "sample.csv").set_index("item")["id"]
    truth = frame.set_index("id")["truth"]
    coded = sheet[["item", "sample_id"]].assign(A=sheet["item"].map(ids).map(truth))
    coded.to_csv(folder / name, index=False)
    return folder / name


@pytest.fixture(scope="module")
def rounds(tmp_path_factory):
    """A first round of 60 and two adaptive rounds of 40 draws, each coded."""
    where = tmp_path_factory.mktemp("rounds")
    frame = scored_collection(np.random.default_rng(4))
    predictions = where / "predictions.csv"
    frame.drop(columns="truth").to_csv(predictions, index=False)
    base = ["validation-sample", str(predictions), "--coders", "A", "--quiet"]
    assert run([*base, "--size", "60", "--out", str(where / "r1")]) == 0
    coded = [_code(where / "r1", frame)]
    for number in (2, 3):
        previous = where / f"r{number - 1}"
        given = [x for c in coded for x in ("--coded", str(c))]
        adaptive = ["--adaptive", str(previous), *given, "--label-column", "A"]
        out = where / f"r{number}"
        assert run([*base, *adaptive, "--size", "40", "--out", str(out)]) == 0
        coded.append(_code(out, frame))
    return where, frame, predictions, coded


def test_a_round_draws_new_images_and_keeps_the_earlier_ones(rounds):
    where, frame, _, _ = rounds
    first = pd.read_csv(where / "r1" / "sample.csv")
    second = pd.read_csv(where / "r2" / "sample.csv")
    assert second["item"].tolist()[: len(first)] == first["item"].tolist()
    assert second["id"].tolist()[: len(first)] == first["id"].tolist()
    new = second[second["round"] == 2]
    assert not set(new["id"]) & set(first["id"])  # drawn from the images not coded yet
    assert new["id"].is_unique and new["draws"].sum() == 40
    assert new["item"].tolist() == list(range(61, 61 + len(new)))
    sheet = pd.read_csv(where / "r2" / "coding_sheet.csv")
    assert sheet["item"].tolist() == new["item"].tolist()  # the coders get this round only
    assert (where / "r2" / "coding.html").is_file()
    np.testing.assert_allclose(new["weight"], 1 / (40 * new["draw_probability"]))
    design = json.loads((where / "r2" / "design.json").read_text())
    assert [r["round"] for r in design["rounds"]] == [1, 2]
    assert [r["seed"] for r in design["rounds"]] == [0, 1]  # one more than the last by default
    assert design["rounds"][1]["sample_id"] == design["sample_id"]
    third = pd.read_csv(where / "r3" / "sample.csv")
    assert sorted(third["round"].unique()) == [1, 2, 3]
    assert not set(third.loc[third["round"] == 3, "id"]) & set(second["id"])


def test_the_uncertain_are_favoured_where_the_errors_are():
    u_remaining = np.r_[np.full(900, 0.01), np.full(100, 0.4)]
    weights = np.full(100, 10.0)
    u_coded = np.r_[np.full(90, 0.01), np.full(10, 0.4)]
    where_unsure = np.r_[np.zeros(90, bool), np.ones(10, bool)]
    assert tuned_share(u_remaining, u_coded, where_unsure, weights) == SHARES[-1]
    where_sure = np.r_[np.ones(10, bool), np.zeros(90, bool)]  # the scores mislead: uniform
    assert tuned_share(u_remaining, u_coded, where_sure, weights) == 1.0
    no_error = np.zeros(100, bool)  # nothing learnt: uniform
    assert tuned_share(u_remaining, u_coded, no_error, weights) == 1.0


def test_estimate_combines_the_rounds(rounds, tmp_path):
    where, frame, predictions, coded = rounds
    out = tmp_path / "estimates.json"
    given = [x for c in coded for x in ("--coded", str(c))]
    command = ["estimate", str(predictions), *given, "--label-column", "A", "--by", "region"]
    report = tmp_path / "report"
    given = [*command, "--sample", str(where / "r3"), "--out", str(out), "--report", str(report)]
    assert run(given) == 0
    page = (report / "estimates.html").read_text()
    assert "in 3 rounds: a first stratified random sample of 60" in page
    assert "round 2: " in page and "Hansen-Hurwitz" in page
    found = json.loads(out.read_text())
    sample = pd.read_csv(where / "r3" / "sample.csv")
    assert found["design"] == "adaptive rounds" and found["n_coded"] == len(sample)
    assert [r["round"] for r in found["rounds"]] == [1, 2, 3]
    assert [r["weight"] for r in found["rounds"]] == pytest.approx([60 / 140, 40 / 140, 40 / 140])
    police = found["prevalence"]["police"]["corrected"]
    parts = police["rounds"]
    assert police["value"] == pytest.approx(sum(r["weight"] * r["value"] for r in parts))
    assert police["se"] == pytest.approx(np.sqrt(sum((r["weight"] * r["se"]) ** 2 for r in parts)))
    alone = tmp_path / "first.json"  # the first round alone: the stratified estimate
    first_only = ["estimate", str(predictions), "--coded", str(coded[0]), "--label-column", "A"]
    assert run([*first_only, "--sample", str(where / "r1"), "--out", str(alone), "--quiet"]) == 0
    stratified = json.loads(alone.read_text())["prevalence"]["police"]["corrected"]
    assert parts[0]["value"] == pytest.approx(stratified["value"])
    assert parts[0]["se"] == pytest.approx(stratified["se"])
    groups = found["groups"]["region"]
    assert groups["north"]["n_coded"] + groups["south"]["n_coded"] == len(sample)
    difference = found["differences"]["region"]["police"]["north|south"]
    assert len(difference["rounds"]) == 3 and difference["p_value"] is not None


def test_rounds_that_do_not_fit_are_refused(rounds, tmp_path):
    where, frame, predictions, coded = rounds
    base = ["validation-sample", str(predictions), "--coders", "A", "--quiet", "--size", "20"]
    adaptive = ["--adaptive", str(where / "r1"), "--coded", str(coded[0]), "--label-column", "A"]
    from vislab.cli.evaluation import validation_sample
    from vislab.evaluation.adaptive import draw_round

    table = frame.drop(columns="truth")
    with pytest.raises(InputError, match="--seed 0 drew round 1"):
        draw_round(table, where / "r1", 20, 0, [coded[0]], "A")
    other = table.assign(id=table["id"] + "x")
    with pytest.raises(InputError, match="drawn from another collection"):
        draw_round(other, where / "r1", 20, 5, [coded[0]], "A")
    half = pd.read_csv(coded[0]).iloc[:30]
    half.to_csv(tmp_path / "half.csv", index=False)
    with pytest.raises(InputError, match="code the whole round before drawing the next"):
        draw_round(table, where / "r1", 20, 5, [tmp_path / "half.csv"], "A")
    assert run([*base, "--adaptive", str(where / "r1"), "--out", str(tmp_path / "x")]) == 2
    assert validation_sample is not None and adaptive  # the CLI's own flags
    from vislab.estimation.estimate import estimate

    with pytest.raises(InputError, match="are not in the coded files"):  # round 3 uncoded
        estimate(predictions, coded[:2], "A", where / "r3")
    with pytest.raises(InputError, match="--formula with adaptive rounds"):
        estimate(predictions, coded, "A", where / "r3", formula="police ~ region")
    evaluate = ["evaluate", str(predictions), "--sample", str(where / "r2"), "--quiet"]
    assert run([*evaluate, "--label-column", "A", "--out", str(tmp_path / "m.json")]) != 0
    from vislab.evaluation.validation import one_round

    with pytest.raises(InputError, match="give the first round's folder"):
        one_round(where / "r2")
