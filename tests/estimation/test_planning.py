"""plan-coding: the Neyman-allocated sample it plans gives, by simulation, the corrected
interval's half-width it promised (within 15 %), planned from calibrated scores or a pilot."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.estimation.test_prevalence import _collection
from vislab.errors import InputError
from vislab.estimation.design import STRATIFIED, Design
from vislab.estimation.planning import (
    neyman,
    plan,
    planned_half_width,
    sample_size,
    with_floor,
)
from vislab.estimation.prevalence import Domain, prevalence
from vislab.estimation.strata import Strata


def _calibrated(n: int, seed: int) -> pd.DataFrame:
    """Scores that are the true probabilities: the truth is drawn from them."""
    rng = np.random.default_rng(seed)
    p = rng.beta(0.4, 1.2, n)
    truth = rng.random(n) < p
    return pd.DataFrame(
        {
            "id": [f"img{i:06d}.jpg" for i in range(n)],
            "prediction": np.where(p > 0.5, "police", "none"),
            "score_police": p,
            "score_none": 1 - p,
            "truth": np.where(truth, "police", "none"),
        }
    )


def _realised(frame: pd.DataFrame, found: dict, replicates: int) -> float:
    """Mean half-width of the corrected interval over samples drawn as planned."""
    f = (frame["prediction"] == "police").to_numpy(float)
    truth = (frame["truth"] == "police").to_numpy(float)
    strata = frame["stratum"].to_numpy()
    planned = found["per_stratum"]
    members = {s: np.flatnonzero(strata == s) for s in planned}
    population = {s: float(v["population"]) for s, v in planned.items()}
    rng = np.random.default_rng(3)
    widths = []
    everything = np.ones(len(frame), bool)
    for _ in range(replicates):
        rows = np.concatenate(
            [rng.choice(members[s], v["sample"], replace=False) for s, v in planned.items()]
        )
        design = Design(STRATIFIED, rows, truth[rows], strata[rows], population)
        entry = prevalence(
            f, truth[rows], f[rows], Domain(everything, everything[rows]), Strata.of(design), 0.95
        )["corrected"]
        widths.append((entry["ci"][1] - entry["ci"][0]) / 2)
    return float(np.mean(widths))


@pytest.mark.parametrize("half_width", [0.01, 0.02])
def test_a_plan_from_calibrated_scores_gives_the_half_width_it_promised(half_width):
    collection = _calibrated(30000, seed=1)
    found, frame = plan(collection.drop(columns="truth"), half_width)
    assert found["from"] == "scores" and found["confidence_bands"]
    assert found["n"] == sum(v["sample"] for v in found["per_stratum"].values())
    frame = frame.assign(truth=collection["truth"])
    assert _realised(frame, found, 300) == pytest.approx(half_width, rel=0.15)


def test_a_plan_from_a_pilot_gives_the_half_width_it_promised():
    """The scores here are not calibrated (least sure where the model errs): the pilot's own
    errors set the plan. Over six pilots of 600 images the realised half-width is within 15 % of
    the plan on average and within 25 % for each (a pilot's error rates are estimates too)."""
    collection = _collection(30000, seed=4)
    ratios = []
    for pilot_seed in range(6):
        pilot = collection.sample(600, random_state=pilot_seed)[["id", "truth"]]
        found, frame = plan(
            collection.drop(columns="truth"),
            0.015,
            pilot=pilot.rename(columns={"truth": "A"}),
            label_column="A",
        )
        assert found["from"] == "pilot"
        frame = frame.assign(truth=collection["truth"])
        ratios.append(_realised(frame, found, 100) / 0.015)
    assert np.mean(ratios) == pytest.approx(1.0, abs=0.15), ratios
    assert min(ratios) >= 0.75 and max(ratios) <= 1.25, ratios


def test_neyman_shares_by_spread_and_codes_a_small_stratum_whole():
    sizes = pd.Series({"a": 10000, "b": 10000, "c": 30})
    spread = pd.Series({"a": 0.1, "b": 0.4, "c": 0.5})
    counts = neyman(sizes, spread, 1000)
    assert counts["b"] == pytest.approx(4 * counts["a"], rel=0.02)
    assert neyman(sizes, spread, 15000)["c"] == 30
    assert neyman(sizes, spread, 6).min() == 2  # two per stratum at least
    found = sample_size(sizes, spread, 0.01, 0.95)
    planned = planned_half_width(sizes, with_floor(spread, found), found, 0.95)
    fewer = neyman(sizes, spread, found.sum() - 1)
    assert planned <= 0.01 < planned_half_width(sizes, with_floor(spread, fewer), fewer, 0.95)


def test_plan_errors_say_what_to_give():
    collection = _calibrated(1000, 0).drop(columns=["truth", "score_police", "score_none"])
    with pytest.raises(InputError, match="no score_none column: give --pilot"):
        plan(collection, 0.03)
    with pytest.raises(InputError, match="between 0 and 0.5"):
        plan(collection, 3)
    with pytest.raises(InputError, match="--label-column"):
        plan(collection, 0.03, pilot=collection.head(20))
    pilot = collection.head(20)[["id"]].assign(A="police")
    pilot.loc[3, "A"] = "unsure"
    with pytest.raises(InputError, match=r"coded 'A': \['unsure'\] are not classes"):
        plan(_calibrated(1000, 0), 0.03, pilot=pilot, label_column="A")


def test_the_command_plans_draws_the_sample_and_estimate_reads_it(tmp_path, capsys):
    import json

    from vislab.cli import run

    collection = _calibrated(5000, seed=2)
    collection.drop(columns="truth").to_csv(tmp_path / "collection.csv", index=False)
    command = ["plan-coding", str(tmp_path / "collection.csv"), "--half-width", "0.03"]
    command += ["--write-sample", str(tmp_path / "planned"), "--coders", "A"]
    assert run([*command, "--out", str(tmp_path / "plan.json")]) == 0
    printed = capsys.readouterr().out
    found = json.loads((tmp_path / "plan.json").read_text())
    assert f"code {found['n']} of 5000 images for +/- 0.03" in printed and "police|low" in printed
    key = pd.read_csv(tmp_path / "planned" / "sample.csv")
    assert len(key) == found["n"]
    assert key["stratum"].value_counts().to_dict() == {
        s: v["sample"] for s, v in found["per_stratum"].items() if v["sample"]
    }
    design = json.loads((tmp_path / "planned" / "design.json").read_text())
    assert design["allocation"] == "neyman" and design["planned_half_width"] == 0.03
    sheet = pd.read_csv(tmp_path / "planned" / "coding_sheet.csv")
    truth = collection.set_index("id")["truth"]
    sheet["A"] = key.set_index("item").loc[sheet["item"], "id"].map(truth).to_numpy()
    sheet.to_csv(tmp_path / "coded.csv", index=False)
    estimate = [
        "estimate",
        str(tmp_path / "collection.csv"),
        "--coded",
        str(tmp_path / "coded.csv"),
    ]
    estimate += ["--label-column", "A", "--sample", str(tmp_path / "planned")]
    assert run([*estimate, "--out", str(tmp_path / "estimates.json")]) == 0
    police = json.loads((tmp_path / "estimates.json").read_text())["prevalence"]["police"]
    half = (police["corrected"]["ci"][1] - police["corrected"]["ci"][0]) / 2
    assert half == pytest.approx(0.03, rel=0.3)  # one sample, not the mean of many
    assert run(command) == 2  # never over an earlier plan or sample


def test_the_promise_holds_for_every_class_and_a_census_is_said():
    """Three classes planned together: each one's half-width with the plan is at most the one
    promised (before: the plan was the hardest class's alone, and another class's line showed
    +/- 0.004 under a promise of 0.003). Asked for what only a census gives, the plan is the
    census and says so."""
    rng = np.random.default_rng(5)
    n = 3000
    p = rng.dirichlet([0.6, 0.6, 0.6], n)
    classes = np.array(["a", "b", "c"])
    frame = pd.DataFrame(
        {
            "id": [f"{i}.jpg" for i in range(n)],
            "prediction": classes[p.argmax(axis=1)],
            **{f"score_{k}": p[:, j] for j, k in enumerate(classes)},
        }
    )
    found, _ = plan(frame, 0.02)
    assert all(e["half_width"] <= 0.02 for e in found["per_class"].values()), found["per_class"]
    assert found["n"] >= max(e["n_alone"] for e in found["per_class"].values())
    assert not found["census"]
    tiny, _ = plan(frame.head(60), 0.0005)
    assert tiny["census"] and tiny["n"] == 60
    assert all(e["half_width"] == 0 for e in tiny["per_class"].values())


def _with_groups(n: int, seed: int) -> pd.DataFrame:
    """Calibrated scores, a region (the model less sure in the south) and an age."""
    rng = np.random.default_rng(seed)
    south = rng.random(n) < 0.4
    p = np.where(south, rng.beta(0.8, 1.2, n), rng.beta(0.3, 1.0, n))
    truth = rng.random(n) < p
    return pd.DataFrame(
        {
            "id": [f"img{i:06d}.jpg" for i in range(n)],
            "region": np.where(south, "south", "north"),
            "age": rng.normal(40, 12, n).round(),
            "prediction": np.where(p > 0.5, "police", "none"),
            "score_police": p,
            "score_none": 1 - p,
            "truth": np.where(truth, "police", "none"),
        }
    )


def _drawn_as_planned(frame: pd.DataFrame, found: dict, rng) -> Design:
    strata = frame["stratum"].to_numpy()
    planned = found["per_stratum"]
    rows = np.concatenate(
        [rng.choice(np.flatnonzero(strata == s), v["sample"], replace=False)
         for s, v in planned.items()]
    )  # fmt: skip
    population = {s: float(v["population"]) for s, v in planned.items()}
    codes = frame["truth"].to_numpy()[rows]
    return Design(STRATIFIED, rows, codes, strata[rows], population, strata)


def test_a_plan_for_a_group_difference_gives_the_half_width_it_promised():
    from vislab.estimation.prevalence import difference

    collection = _with_groups(20000, seed=6)
    found, frame = plan(collection.drop(columns="truth"), 0.04, only="police", by="region")
    assert found["strata"] == ["prediction"] and found["groups"] == ["north", "south"]
    assert found["estimate"] == "police: north - south"
    frame = frame.assign(truth=collection["truth"])
    f = (frame["prediction"] == "police").to_numpy(float)
    north = (frame["region"] == "north").to_numpy()
    rng, widths = np.random.default_rng(7), []
    for _ in range(150):
        design = _drawn_as_planned(frame, found, rng)
        y = (design.codes == "police").astype(float)
        a, b = Domain(north, north[design.rows]), Domain(~north, ~north[design.rows])
        entry = difference(f, y, f[design.rows], a, b, Strata.of(design), 0.95)
        widths.append((entry["ci"][1] - entry["ci"][0]) / 2)
    assert np.mean(widths) == pytest.approx(0.04, rel=0.15)


def test_a_plan_for_a_regression_coefficient_gives_the_half_width_it_promised():
    from vislab.estimation.formula import matrices
    from vislab.estimation.regression import fit_all

    collection = _with_groups(20000, seed=8)
    formula = "police ~ region + age"
    found, frame = plan(collection.drop(columns="truth"), 0.04, formula=formula)
    assert found["formula"] == formula and found["estimate"] == f"police: {found['term']}"
    assert set(found["per_estimate"]) == {"police: region[T.south]", "police: age"}
    frame = frame.assign(truth=collection["truth"])
    rng, widths = np.random.default_rng(9), {k: [] for k in found["per_estimate"]}
    for _ in range(100):
        design = _drawn_as_planned(frame, found, rng)
        m = matrices(frame, design, ["none", "police"], formula, "linear")
        fitted = fit_all(m, Strata.of(design), "linear", 0.95)
        for key in widths:
            low, high = fitted[key.split(": ")[1]]["corrected"]["ci"]
            widths[key].append((high - low) / 2)
    for key, entry in found["per_estimate"].items():
        assert np.mean(widths[key]) == pytest.approx(entry["half_width"], rel=0.15), key
    assert found["per_estimate"][found["estimate"]]["half_width"] <= 0.04


def test_plans_for_differences_and_coefficients_refuse_what_they_cannot_plan():
    collection = _with_groups(2000, seed=1).drop(columns="truth")
    with pytest.raises(InputError, match="the outcome must be a class"):
        plan(collection, 0.05, formula="age ~ region")
    with pytest.raises(InputError, match="not both"):
        plan(collection, 0.05, by="region", formula="police ~ region")
    with pytest.raises(InputError, match="are classes"):
        plan(collection, 0.05, formula="police ~ none")
    with pytest.raises(InputError, match="one group"):
        plan(collection.assign(region="north"), 0.05, by="region")


def test_the_command_plans_a_difference_and_draws_by_the_groups(tmp_path, capsys):
    import json

    from vislab.cli import run

    _with_groups(3000, seed=2).drop(columns="truth").to_csv(tmp_path / "c.csv", index=False)
    command = ["plan-coding", str(tmp_path / "c.csv"), "--half-width", "0.06", "--by", "region"]
    command += ["--write-sample", str(tmp_path / "planned"), "--coders", "A", "--quiet"]
    command += ["--strata", "prediction,region"]  # each group its planned share
    assert run([*command, "--out", str(tmp_path / "plan.json")]) == 0
    printed = capsys.readouterr().out
    found = json.loads((tmp_path / "plan.json").read_text())
    assert f"for +/- 0.06 on '{found['class']}', north - south (--by region)" in printed
    design = json.loads((tmp_path / "planned" / "design.json").read_text())
    assert design["strata"] == ["prediction", "region"]
    assert design["planned_estimate"] == found["estimate"]
    key = pd.read_csv(tmp_path / "planned" / "sample.csv")
    assert set(key["stratum"].str.split("|").str[1]) == {"north", "south"}
