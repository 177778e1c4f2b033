"""Gwet's AC1 against irrCAC (its published examples from Gwet's handbook and random codings,
computed in a throwaway venv by tests/data/irrcac/make_reference.py), and each coder against
the consensus of the others."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from vislab.evaluation.agreement import agreement

CASES = json.loads((Path(__file__).parents[1] / "data/irrcac/reference.json").read_text())["cases"]


def _frame(case: dict) -> pd.DataFrame:
    rows = case["codings"]
    return pd.DataFrame(rows, columns=[f"c{i}" for i in range(len(rows[0]))])


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_gwet_ac1_and_its_interval_equal_irrcac(case):
    frame = _frame(case)
    found = agreement(frame, list(frame.columns), bootstrap=0)
    ac1 = found["gwet_ac1"]
    assert ac1["value"] == pytest.approx(case["ac1"], abs=1e-12)
    assert ac1["se"] == pytest.approx(case["ac1_se"], rel=1e-9)
    np.testing.assert_allclose(ac1["ci"], case["ac1_ci"], atol=1e-12)
    assert found["krippendorff_alpha"]["value"] == pytest.approx(case["krippendorff_alpha"])


def test_the_handbooks_example_of_four_raters():
    """Gwet's handbook, 4 raters, 12 units, 5 codes: AC1 0.7754 (standard error 0.1429)."""
    found = agreement(_frame(CASES[0]), ["c0", "c1", "c2", "c3"], bootstrap=0)["gwet_ac1"]
    assert round(found["value"], 4) == 0.7754 and round(found["se"], 4) == 0.1429


def test_ac1_stays_high_where_kappa_collapses_on_a_rare_code():
    """The kappa paradox: two coders agree on 96 of 100 items, nearly all 'none'."""
    a = ["none"] * 96 + ["police", "none", "police", "none"]
    b = ["none"] * 96 + ["none", "police", "police", "none"]
    found = agreement(pd.DataFrame({"A": a, "B": b}), ["A", "B"], bootstrap=200)
    assert found["gwet_ac1"]["value"] > 0.95 > 0.5 > found["cohen_kappa"]["A|B"]["value"]


def test_weighted_items_get_a_bootstrap_interval():
    frame = _frame(CASES[10]).assign(w=lambda f: np.linspace(1, 3, len(f)))
    found = agreement(frame, [c for c in frame.columns if c != "w"], bootstrap=300, weight="w")
    ac1 = found["gwet_ac1"]
    assert ac1["interval"] == "bootstrap" and ac1["ci"][0] < ac1["value"] < ac1["ci"][1]


@pytest.mark.parametrize("seed", range(6))
def test_each_coder_against_the_majority_of_the_others(seed):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, 80)
    frame = pd.DataFrame(
        {
            c: np.where(rng.random(80) < q, truth, rng.integers(0, 3, 80))
            for c, q in (("A", 0.9), ("B", 0.8), ("C", 0.5), ("D", 0.7))
        }
    ).astype(float)
    frame.iloc[rng.choice(80, 10, replace=False), 1] = np.nan
    found = agreement(frame, list(frame.columns), bootstrap=0)["per_coder"]
    for coder in frame.columns:
        others = frame.drop(columns=coder)
        counts = others.apply(lambda row: row.value_counts(), axis=1).fillna(0)
        top = counts.max(axis=1)
        unique = (counts.eq(top, axis=0)).sum(axis=1) == 1
        majority = counts.idxmax(axis=1).where(unique & (top > 0))
        both = frame[coder].notna() & majority.notna()
        mine, theirs = frame.loc[both, coder], majority[both]
        assert found[coder]["n_items"] == both.sum()
        assert found[coder]["agreement"]["value"] == pytest.approx((mine == theirs).mean())
        assert found[coder]["cohen_kappa"]["value"] == pytest.approx(
            cohen_kappa_score(mine, theirs)
        )
    assert found["A"]["agreement"]["value"] > found["C"]["agreement"]["value"]


def test_with_two_coders_the_consensus_is_the_other_coder():
    frame = _frame(CASES[2])  # Ben and Gerry
    found = agreement(frame, ["c0", "c1"], bootstrap=100)
    assert found["per_coder"]["c0"]["cohen_kappa"]["value"] == pytest.approx(
        found["cohen_kappa"]["c0|c1"]["value"]
    )
