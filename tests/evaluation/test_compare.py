"""Comparing two models: paired differences, McNemar's test, matching on image ids."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score
from statsmodels.stats.contingency_tables import mcnemar

from vislab.cli import run
from vislab.errors import InputError
from vislab.evaluation.compare import compare


def _pair(seed=0, n=400, skill_a=0.7, skill_b=0.85):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    noise = rng.random(n)
    a = np.where(noise < skill_a, labels, (labels + 1) % 3)
    b = np.where(noise < skill_b, labels, (labels + 2) % 3)
    ids = [f"img{i}" for i in range(n)]
    return (
        pd.DataFrame({"id": ids, "label": labels, "prediction": a}),
        pd.DataFrame({"id": ids, "label": labels, "prediction": b}),
    )


def test_differences_and_mcnemar_match_their_references():
    a, b = _pair()
    result = compare(a, b, bootstrap=500)
    f1 = result["metrics"]["f1_macro"]
    expected = f1_score(b["label"], b["prediction"], average="macro") - f1_score(
        a["label"], a["prediction"], average="macro"
    )
    assert f1["difference"] == pytest.approx(expected)
    assert (
        result["metrics"]["accuracy"]["ci"][0] > 0
        and result["metrics"]["accuracy"]["p_value"] < 0.01
    )
    right_a, right_b = a["label"] == a["prediction"], b["label"] == b["prediction"]
    table = [
        [(right_a & right_b).sum(), (right_a & ~right_b).sum()],
        [(~right_a & right_b).sum(), (~right_a & ~right_b).sum()],
    ]
    reference = mcnemar(table, exact=False, correction=True)
    assert result["mcnemar"]["p_value"] == pytest.approx(reference.pvalue)
    assert result["mcnemar"]["statistic"] == pytest.approx(reference.statistic)


def test_same_model_has_no_difference():
    a, _ = _pair()
    result = compare(a, a.copy(), bootstrap=100)
    assert (
        result["metrics"]["accuracy"]["difference"] == 0
        and result["metrics"]["accuracy"]["p_value"] == 1.0
    )


def test_rows_are_matched_on_id_and_mismatches_are_errors():
    a, b = _pair(n=50)
    shuffled = b.sample(frac=1, random_state=0)
    assert (
        compare(a, shuffled, bootstrap=0)["metrics"]["accuracy"]["b"]
        == compare(a, b, bootstrap=0)["metrics"]["accuracy"]["b"]
    )
    with pytest.raises(InputError, match="only one of"):
        compare(a, b.iloc[1:], bootstrap=0)
    relabelled = b.copy()
    relabelled.loc[3, "label"] = (relabelled.loc[3, "label"] + 1) % 3
    with pytest.raises(InputError, match=r"labels differ on row 5:"):
        compare(a, relabelled, bootstrap=0)


def test_compare_and_agreement_commands(tmp_path, capsys):
    a, b = _pair(n=120)
    a.to_csv(tmp_path / "a.csv", index=False)
    b.to_csv(tmp_path / "b.csv", index=False)
    assert (
        run(
            [
                "compare",
                str(tmp_path / "a.csv"),
                str(tmp_path / "b.csv"),
                "--bootstrap",
                "200",
                "--out",
                str(tmp_path / "c.json"),
            ]
        )
        == 0
    )
    result = json.loads((tmp_path / "c.json").read_text())
    assert set(result["metrics"]["accuracy"]) == {"a", "b", "difference", "ci", "p_value"}
    assert set(result["mcnemar"]) >= {"statistic", "p_value"}
    codings = pd.DataFrame(
        {"A": a["label"], "B": b["prediction"], "C": a["prediction"], "model": b["label"]}
    )
    codings.loc[5, "C"] = None
    codings.to_csv(tmp_path / "codings.csv", index=False)
    command = [
        "agreement",
        str(tmp_path / "codings.csv"),
        "--raters",
        "A,B,C",
        "--model",
        "model",
        "--out",
        str(tmp_path / "g.json"),
    ]
    assert run(command) == 0
    result = json.loads((tmp_path / "g.json").read_text())
    assert set(result) >= {"krippendorff_alpha", "fleiss_kappa", "cohen_kappa", "n_items", "model"}
    assert set(result["cohen_kappa"]) == {"A|B", "A|C", "B|C"} and result["n_items"] == 120
    assert "Krippendorff's alpha" in capsys.readouterr().out
