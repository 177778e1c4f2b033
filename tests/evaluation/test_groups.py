"""Groups, disparities and fairness against direct computation and fairlearn."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from fairlearn import metrics as fm

from vislab.evaluation.classification import evaluate_classification


def _frame(seed: int, n: int = 300, k: int = 3, groups: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    group = rng.integers(0, groups, n)
    labels = rng.integers(0, k, n)
    skill = np.array([0.9, 0.6, 0.75, 0.5][:groups])[group]  # each group its own accuracy
    guesses = np.where(rng.random(n) < skill, labels, rng.integers(0, k, n))
    return pd.DataFrame(
        {
            "label": [f"c{i}" for i in labels],
            "prediction": [f"c{i}" for i in guesses],
            "group": [f"g{i}" for i in group],
        }
    )


@pytest.mark.parametrize("seed", range(25))
def test_fairness_equals_fairlearn_for_every_class(seed):
    frame = _frame(seed, k=2 + seed % 3, groups=2 + seed % 3)
    result = evaluate_classification(frame, group_by=["group"], bootstrap=0)["fairness"]["group"]
    for name, entry in result.items():
        truth, guess = frame["label"] == name, frame["prediction"] == name
        sensitive = frame["group"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = {
                "demographic_parity_difference": fm.demographic_parity_difference(
                    truth, guess, sensitive_features=sensitive
                ),
                "demographic_parity_ratio": fm.demographic_parity_ratio(
                    truth, guess, sensitive_features=sensitive
                ),
                "equalized_odds_difference": fm.equalized_odds_difference(
                    truth, guess, sensitive_features=sensitive
                ),
                "equal_opportunity_difference": fm.equal_opportunity_difference(
                    truth, guess, sensitive_features=sensitive
                ),
            }
        for measure, value in expected.items():
            assert entry[measure]["value"] == pytest.approx(value, abs=1e-12), (name, measure)


def test_disparities_to_best_and_overall_with_intervals():
    frame = _frame(1, n=900)
    result = evaluate_classification(frame, group_by=["group"], bootstrap=300)
    groups = result["groups"]["group"]
    accuracy = {g: e["metrics"]["accuracy"]["value"] for g, e in groups.items()}
    overall = result["metrics"]["accuracy"]["value"]
    disparity = result["disparities"]["group"]["accuracy"]
    assert disparity["best"] == max(accuracy, key=accuracy.get) == "g0"
    for name, entry in disparity["by_group"].items():
        assert entry["difference_to_best"] == pytest.approx(accuracy[name] - accuracy["g0"])
        assert entry["ratio_to_overall"] == pytest.approx(accuracy[name] / overall)
        low, high = entry["difference_to_overall_ci"]
        assert low <= entry["difference_to_overall"] <= high
    low, high = disparity["by_group"]["g1"]["difference_to_best_ci"]
    assert high < 0  # group g1 (60 % skill) is clearly below g0 (90 %)
    assert "ece" not in result["disparities"]["group"]  # no scores, no calibration


def test_small_groups_are_flagged_and_intersections_work():
    frame = _frame(2, n=200)
    frame["site"] = np.where(np.arange(200) < 20, "rare", "common")
    result = evaluate_classification(frame, group_by=["site", "group*site"], bootstrap=50)
    assert (
        result["groups"]["site"]["rare"]["small"]
        and not result["groups"]["site"]["common"]["small"]
    )
    assert "g0|rare" in result["groups"]["group*site"]
    assert sum(e["n"] for e in result["groups"]["group*site"].values()) == 200


def test_lower_is_better_for_calibration_error():
    frame = _frame(3, n=400, k=2)
    rng = np.random.default_rng(3)
    confident = np.where(frame["group"] == "g1", 0.99, 0.6)  # g1 over-confident and often wrong
    top = np.where(frame["prediction"] == "c0", confident, 1 - confident)
    frame["score_c0"], frame["score_c1"] = top + rng.normal(0, 1e-6, 400), 1 - top
    frame["prediction"] = np.where(frame["score_c0"] > 0.5, "c0", "c1")
    disparity = evaluate_classification(frame, group_by=["group"], bootstrap=0)["disparities"][
        "group"
    ]["ece"]
    assert disparity["best"] == disparity["lowest"]
