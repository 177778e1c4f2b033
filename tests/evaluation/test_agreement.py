"""Agreement statistics against their references: krippendorff, statsmodels, scikit-learn."""

from __future__ import annotations

import krippendorff
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

from vislab.errors import InputError
from vislab.evaluation.agreement import agreement


def _codings(seed: int, items=60, coders=3, values=4, missing=0.15):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, values, items)
    table = {}
    for c in range(coders):
        noisy = np.where(rng.random(items) < 0.7, truth, rng.integers(0, values, items)).astype(
            float
        )
        noisy[rng.random(items) < missing] = np.nan
        table[f"coder{c}"] = noisy
    return pd.DataFrame(table)


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
@pytest.mark.parametrize("seed", range(12))
def test_krippendorff_alpha_equals_the_krippendorff_package(seed, level):
    frame = _codings(seed, coders=2 + seed % 3, values=3 + seed % 4)
    values = sorted(np.unique(frame.to_numpy()[~np.isnan(frame.to_numpy())]))
    result = agreement(frame, list(frame.columns), level=level, bootstrap=0)
    reliability = frame.to_numpy().T  # coders x items
    expected = krippendorff.alpha(
        reliability_data=reliability, level_of_measurement=level, value_domain=values
    )
    assert result["krippendorff_alpha"]["value"] == pytest.approx(expected, abs=1e-9)


def test_krippendorff_worked_example():
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability": 4 observers, 12 units.
    data = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
        [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
    ]
    frame = pd.DataFrame({f"o{i}": row for i, row in enumerate(data)})
    assert agreement(frame, list(frame.columns), bootstrap=0)["krippendorff_alpha"][
        "value"
    ] == pytest.approx(0.743, abs=5e-4)
    interval = agreement(frame, list(frame.columns), level="interval", bootstrap=0)
    assert interval["krippendorff_alpha"]["value"] == pytest.approx(0.849, abs=5e-4)


@pytest.mark.parametrize("seed", range(12))
def test_fleiss_and_cohen_equal_statsmodels_and_scikit_learn(seed):
    frame = _codings(seed, coders=3, values=3 + seed % 3)
    result = agreement(frame, list(frame.columns), bootstrap=0)
    complete = frame.dropna().astype(int).to_numpy()
    table, _ = aggregate_raters(complete)
    assert result["fleiss_kappa"]["value"] == pytest.approx(fleiss_kappa(table), abs=1e-9)
    assert result["n_items_coded_by_all"] == len(complete)
    for pair, entry in result["cohen_kappa"].items():
        first, second = pair.split("|")
        both = frame[[first, second]].dropna()
        assert entry["value"] == pytest.approx(
            cohen_kappa_score(both[first], both[second]), abs=1e-9
        )


def test_model_against_coders_with_intervals():
    rng = np.random.default_rng(0)
    frame = _codings(1, items=200, missing=0.0)
    truth = frame.mode(axis=1)[0]
    frame["model"] = np.where(rng.random(200) < 0.9, truth, rng.integers(0, 4, 200))
    result = agreement(frame, ["coder0", "coder1", "coder2"], model="model", bootstrap=300)
    model = result["model"]
    assert set(model["cohen_kappa"]) == {"model|coder0", "model|coder1", "model|coder2"}
    expected = np.mean(
        [cohen_kappa_score(frame["model"], frame[c]) for c in ["coder0", "coder1", "coder2"]]
    )
    assert model["mean_cohen_kappa_model_vs_coders"]["value"] == pytest.approx(expected)
    low, high = model["difference_model_minus_coders"]["ci"]
    assert low <= model["difference_model_minus_coders"]["value"] <= high
    assert result["krippendorff_alpha"]["ci"][0] < result["krippendorff_alpha"]["value"]


def test_weighted_cohen_kappa_equals_scikit_learn_sample_weight():
    frame = _codings(3, items=80, coders=2, missing=0.0)
    frame["w"] = np.random.default_rng(3).uniform(1, 10, 80)
    result = agreement(frame, ["coder0", "coder1"], weight="w", bootstrap=0)
    expected = cohen_kappa_score(frame["coder0"], frame["coder1"], sample_weight=frame["w"])
    assert result["cohen_kappa"]["coder0|coder1"]["value"] == pytest.approx(expected)


def test_agreement_errors_name_the_columns():
    frame = _codings(0)
    with pytest.raises(InputError, match=r"no column\(s\) \['zoe'\]"):
        agreement(frame, ["coder0", "zoe"], source="c.csv")
    with pytest.raises(InputError, match="at least two coders"):
        agreement(frame, ["coder0"])
    text = pd.DataFrame({"a": ["x", "y"], "b": ["y", "y"]})
    with pytest.raises(InputError, match="numeric codes"):
        agreement(text, ["a", "b"], level="interval", bootstrap=0)
