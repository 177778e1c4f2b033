"""The representation audit: shares, flags, missing values, association and reference tests."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency, chisquare

from vislab.cli import run
from vislab.errors import InputError
from vislab.evaluation.audit import audit


def _metadata(n=500, seed=0):
    rng = np.random.default_rng(seed)
    gender = rng.choice(["female", "male", "nonbinary"], n, p=[0.55, 0.43, 0.02])
    region = rng.choice(["north", "south", None], n, p=[0.6, 0.35, 0.05])
    label = np.where(
        (gender == "female") & (rng.random(n) < 0.7), "protest", rng.choice(["protest", "rally"], n)
    )
    split = rng.choice(["train", "test"], n, p=[0.8, 0.2])
    return pd.DataFrame(
        {"id": range(n), "gender": gender, "region": region, "label": label, "split": split}
    )


def test_shares_flags_missing_and_intersections():
    frame = _metadata()
    result = audit(frame, ["gender", "region"], min_share=0.05, min_count=30)
    gender = result["attributes"]["gender"]
    counts = frame["gender"].value_counts()
    assert {k: g["count"] for k, g in gender["groups"].items()} == counts.to_dict()
    assert (
        gender["groups"]["nonbinary"]["under_represented"]
        and not gender["groups"]["female"]["under_represented"]
    )
    assert result["attributes"]["region"]["missing"] == frame["region"].isna().sum()
    intersection = result["attributes"]["gender*region"]
    assert sum(g["count"] for g in intersection["groups"].values()) == len(frame)
    assert set(gender["splits"]) == {"train", "test"}
    assert gender["splits"]["test"]["n"] == (frame["split"] == "test").sum()


def test_label_association_equals_scipy():
    frame = _metadata()
    association = audit(frame, ["gender"])["attributes"]["gender"]["label_association"]
    table = pd.crosstab(frame["label"], frame["gender"]).to_numpy()
    chi2, p_value, dof, _ = chi2_contingency(table)
    assert association["chi2"] == pytest.approx(chi2) and association["p_value"] == pytest.approx(
        p_value
    )
    assert (
        association["dof"] == dof and association["p_value"] < 0.001
    )  # built in: women more often 'protest'
    assert association["cramers_v"] == pytest.approx(np.sqrt(chi2 / (table.sum() * 1)))


@pytest.mark.parametrize("seed", range(6))
def test_cramers_v_is_scipys_without_the_yates_correction(seed):
    """On 2x2 tables chi2_contingency's test applies Yates' correction; Cramér's V is defined
    on the uncorrected chi-square (scipy's contingency.association)."""
    from scipy.stats.contingency import association

    rng = np.random.default_rng(seed)
    groups = 2 if seed % 2 == 0 else 3
    frame = pd.DataFrame(
        {
            "label": rng.choice(["a", "b"], 300, p=[0.3, 0.7]),
            "g": rng.choice([f"g{k}" for k in range(groups)], 300),
        }
    )
    frame.loc[frame["g"] == "g0", "label"] = rng.choice(["a", "b"], (frame["g"] == "g0").sum())
    found = audit(frame, ["g"])["attributes"]["g"]["label_association"]["cramers_v"]
    table = pd.crosstab(frame["label"], frame["g"]).to_numpy()
    uncorrected = chi2_contingency(table, correction=False)[0]
    assert found == pytest.approx(association(table, method="cramer"), abs=1e-12)
    assert found == pytest.approx(np.sqrt(uncorrected / table.sum()), abs=1e-12)


def test_reference_shares_must_be_numbers_between_0_and_1():
    reference = pd.DataFrame(
        {"attribute": ["gender"] * 2, "value": ["female", "male"], "share": ["0.5", "half"]}
    )
    with pytest.raises(InputError, match=r"shares.csv: share must be .* row 3 \(first: 'half'\)"):
        audit(_metadata(), ["gender"], reference=reference, reference_source="shares.csv")
    with pytest.raises(InputError, match="missing \\['share'\\]"):
        audit(_metadata(), ["gender"], reference=reference.drop(columns="share"))


def test_reference_shares_comparison():
    frame = _metadata()
    reference = pd.DataFrame(
        {
            "attribute": ["gender"] * 3,
            "value": ["female", "male", "nonbinary"],
            "share": [0.5, 0.45, 0.05],
        }
    )
    entry = audit(frame, ["gender"], reference=reference)["attributes"]["gender"]["reference"]
    counts = frame["gender"].value_counts().reindex(["female", "male", "nonbinary"]).to_numpy()
    statistic, p_value = chisquare(counts, np.array([0.5, 0.45, 0.05]) * counts.sum())
    assert entry["chi2"] == pytest.approx(statistic) and entry["p_value"] == pytest.approx(p_value)
    assert entry["groups"]["nonbinary"]["difference"] == pytest.approx(
        counts[2] / counts.sum() - 0.05
    )
    bad = reference.assign(share=[0.5, 0.5, 0.5])
    with pytest.raises(InputError, match="sum to 1.500"):
        audit(frame, ["gender"], reference=bad)


def test_audit_command_writes_page_json_and_tables(tmp_path, capsys):
    frame = _metadata()
    frame["path"] = [f"img{i}.png" for i in range(len(frame))]
    frame.to_csv(tmp_path / "manifest.csv", index=False)
    out = tmp_path / "audit"
    assert (
        run(["audit", str(tmp_path / "manifest.csv"), "--attributes", "gender", "--out", str(out)])
        == 0
    )
    assert "under-represented: ['nonbinary']" in capsys.readouterr().out
    page = (out / "audit.html").read_text()
    assert "data:image/png;base64," in page and "nonbinary" in page
    representation = pd.read_csv(out / "tables" / "representation.csv")
    assert set(representation["split"]) == {"all", "train", "test"}
    assert json.loads((out / "audit.json").read_text())["n"] == len(frame)
    assert (
        run(["audit", str(tmp_path / "manifest.csv"), "--attributes", "age", "--out", str(out)])
        == 2  # exists
    )
    assert (
        run(
            [
                "audit",
                str(tmp_path / "manifest.csv"),
                "--attributes",
                "age",
                "--out",
                str(out),
                "--force",
            ]
        )
        == 1
    )


@pytest.mark.parametrize("table_format", ["parquet", "dta"])
def test_audit_tables_for_r_and_stata_hold_the_csv_tables_values(tmp_path, table_format):
    from vislab.files import read_table

    frame = _metadata()
    frame["path"] = [f"img{i}.png" for i in range(len(frame))]
    frame.to_csv(tmp_path / "manifest.csv", index=False)
    tables = {}
    for kind in ("csv", table_format):
        out = tmp_path / kind
        command = ["audit", str(tmp_path / "manifest.csv"), "--out", str(out), "--quiet"]
        assert run([*command, "--format", kind]) == 0
        tables[kind] = {path.stem: read_table(path) for path in (out / "tables").iterdir()}
        assert {path.suffix for path in (out / "tables").iterdir()} == {f".{kind}"}
    assert set(tables["csv"]) == set(tables[table_format]) and tables["csv"]
    for name, expected in tables["csv"].items():
        found = tables[table_format][name]
        assert list(found.columns) == list(expected.columns), name
        for column in expected.columns:
            if pd.api.types.is_bool_dtype(expected[column]):
                assert found[column].astype(bool).tolist() == expected[column].tolist()
            elif pd.api.types.is_numeric_dtype(expected[column]):
                np.testing.assert_allclose(found[column], expected[column], rtol=1e-12)
            else:
                assert found[column].tolist() == expected[column].tolist(), (name, column)
