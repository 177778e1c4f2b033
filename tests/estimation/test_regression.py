"""Corrected regressions: equal to ppi-python on simple random samples, the naive and coded-only
fits equal to statsmodels', and valid by simulation (a model-coded outcome and a model-coded
covariate, errors that differ between groups, stratified samples)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.estimation.test_prevalence import _collection, _stratified
from vislab.errors import InputError
from vislab.estimation.design import SIMPLE, STRATIFIED, Design
from vislab.estimation.estimate import estimate
from vislab.estimation.formula import matrices
from vislab.estimation.regression import Matrices, fit_all
from vislab.estimation.strata import Strata


def _with_likes(collection: pd.DataFrame, seed: int, noise: float = 1.0) -> pd.DataFrame:
    """A metadata outcome that depends on the true class (for a model-coded covariate)."""
    rng = np.random.default_rng(seed)
    police = (collection["truth"] == "police").to_numpy(float)
    return collection.assign(likes=2 + 3 * police + rng.normal(0, noise, len(collection)))


def _coded(collection: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    chosen = collection.iloc[rng.choice(len(collection), size, replace=False)]
    return chosen[["id", "truth"]].rename(columns={"truth": "coder"})


def _frames(collection: pd.DataFrame, coded: pd.DataFrame):
    """The model-labelled collection and the people-coded sample as statsmodels sees them."""
    model = collection.assign(police=(collection["prediction"] == "police").astype(float))
    sample = model.set_index("id").loc[coded["id"]].reset_index()
    sample["police"] = (coded["coder"].to_numpy() == "police").astype(float)
    return model, sample


def _design_matrix(frame: pd.DataFrame) -> np.ndarray:
    return np.column_stack([np.ones(len(frame)), frame["region"] == "west"]).astype(float)


def _ppi_inputs(collection: pd.DataFrame, coded: pd.DataFrame) -> tuple:
    """ppi-python's X, Y, Yhat (coded images) and X_unlabeled, Yhat_unlabeled (the whole
    collection) for `police ~ region`."""
    model, sample = _frames(collection, coded)
    f_coded = model.set_index("id").loc[coded["id"], "police"].to_numpy()
    x, x_all = _design_matrix(sample), _design_matrix(model)
    return x, sample["police"].to_numpy(), f_coded, x_all, model["police"].to_numpy()


@pytest.mark.parametrize("seed", range(6))
def test_corrected_linear_regression_solves_the_power_tuned_normal_equations(seed):
    """PPI++ for least squares: (lambda X'X + (1 - lambda) X_c' W X_c) b = lambda X'f +
    X_c' W (y - lambda f_c), the model's labels f on every image and the codes y on the coded
    ones, W their weights; at lambda = 1 this is the pseudo-outcome regression of design-based
    supervised learning."""
    collection = _collection(4000, seed)
    coded = _coded(collection, 300, 50 + seed)
    found = estimate(collection, coded, "coder", formula="police ~ region")["regression"]
    model, sample = _frames(collection, coded)
    lam = found["coefficients"]["Intercept"]["corrected"]["lambda"]
    assert 0 < lam < 1
    x, x_coded = _design_matrix(model), _design_matrix(sample)
    f = model["police"].to_numpy()
    f_coded = model.set_index("id").loc[coded["id"], "police"].to_numpy()
    y, w = sample["police"].to_numpy(), 4000 / 300
    left = lam * x.T @ x + (1 - lam) * w * x_coded.T @ x_coded
    right = lam * x.T @ f + w * x_coded.T @ (y - lam * f_coded)
    reference = np.linalg.solve(left, right)
    names = ("Intercept", "region[T.west]")
    values = [found["coefficients"][n]["corrected"]["value"] for n in names]
    np.testing.assert_allclose(values, reference, atol=1e-9)
    assert found["formula"] == "police ~ region" and found["kind"] == "linear"


@pytest.mark.parametrize("seed", range(6))
def test_corrected_linear_regression_is_ppi_pythons_where_the_two_coincide(seed):
    """ppi-python's OLS fits the correction on the coded images' own covariates; with a sample
    that holds the collection's share of each region (10 % of each), that is the same fit."""
    from ppi_py import ppi_ols_pointestimate

    collection = _collection(4000, seed)
    rng = np.random.default_rng(seed)
    kept, drawn = [], []
    for _, rows in collection.groupby("region").groups.items():
        rows = rng.permutation(rows)[: len(rows) // 10 * 10]
        kept.append(rows)
        drawn.append(rows[: len(rows) // 10])
    coded = collection.loc[np.concatenate(drawn), ["id", "truth"]]
    coded = coded.rename(columns={"truth": "coder"})
    collection = collection.loc[np.sort(np.concatenate(kept))].reset_index(drop=True)
    found = estimate(collection, coded, "coder", formula="police ~ region")["regression"]
    lam = found["coefficients"]["Intercept"]["corrected"]["lambda"]
    reference = ppi_ols_pointestimate(*_ppi_inputs(collection, coded), lam=lam)
    names = ("Intercept", "region[T.west]")
    values = [found["coefficients"][n]["corrected"]["value"] for n in names]
    np.testing.assert_allclose(values, reference, atol=1e-9)


@pytest.mark.filterwarnings("ignore:'penalty' was deprecated:FutureWarning")  # in ppi-python
@pytest.mark.parametrize("seed", range(3))
def test_corrected_logistic_regression_is_ppi_pythons_on_a_simple_random_sample(seed):
    from ppi_py import ppi_logistic_pointestimate

    collection = _collection(3000, seed)
    coded = _coded(collection, 400, 70 + seed)
    found = estimate(collection, coded, "coder", formula="police ~ region", regression="logistic")[
        "regression"
    ]
    reference = ppi_logistic_pointestimate(
        *_ppi_inputs(collection, coded),
        lam=found["coefficients"]["Intercept"]["corrected"]["lambda"],
        optimizer_options={"ftol": 1e-15, "gtol": 1e-15, "maxls": 10000, "maxiter": 10000},
    )
    values = [
        found["coefficients"][n]["corrected"]["value"] for n in ("Intercept", "region[T.west]")
    ]
    np.testing.assert_allclose(values, reference, atol=1e-5)


@pytest.mark.parametrize("kind", ["linear", "logistic"])
def test_naive_and_coded_only_fits_are_statsmodels(kind):
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    collection = _with_likes(_collection(3000, 4), 4, noise=4.0)
    coded = _coded(collection, 250, 9)
    formula = "police ~ region + likes"
    found = estimate(collection, coded, "coder", formula=formula, regression=kind)
    model, sample = _frames(collection, coded)
    weights = np.full(len(sample), len(model) / len(sample))
    if kind == "linear":
        naive = smf.ols(formula, model).fit(cov_type="HC0")
        weighted = smf.wls(formula, sample, weights=weights).fit()
    else:
        naive = smf.glm(formula, model, family=sm.families.Binomial()).fit(cov_type="HC0")
        weighted = smf.glm(
            formula, sample, family=sm.families.Binomial(), var_weights=weights
        ).fit()
    coefficients = found["regression"]["coefficients"]
    assert list(coefficients) == list(naive.params.index)
    for name in naive.params.index:
        assert coefficients[name]["naive"]["value"] == pytest.approx(naive.params[name], abs=1e-7)
        assert coefficients[name]["naive"]["se"] == pytest.approx(naive.bse[name], rel=1e-6)
        assert coefficients[name]["coded_only"]["value"] == pytest.approx(
            weighted.params[name], abs=1e-7
        )


@pytest.mark.parametrize("errors", [True, False])
def test_an_intercept_only_regression_is_the_corrected_prevalence(errors):
    """Also where the sample shows no model error (both take half an error's variance)."""
    collection = _collection(5000, 6)
    if not errors:
        collection["truth"] = collection["prediction"]
    found = estimate(collection, _coded(collection, 400, 3), "coder", formula="police ~ 1")
    intercept = found["regression"]["coefficients"]["Intercept"]
    share = found["prevalence"]["police"]
    for kind in ("corrected", "coded_only"):
        assert intercept[kind]["value"] == pytest.approx(share[kind]["value"], abs=1e-12)
        half = (share[kind]["ci"][1] - share[kind]["ci"][0]) / 2
        assert (intercept[kind]["ci"][1] - intercept[kind]["ci"][0]) / 2 == pytest.approx(half)


def _everything_coded(collection: pd.DataFrame, formula: str) -> Matrices:
    """The formula's matrices with every image coded: the truth's regression, and the rows a
    sample takes its coded images from."""
    rows = np.arange(len(collection))
    codes = collection["truth"].to_numpy()
    design = Design(SIMPLE, rows, codes, np.array(["all"] * len(rows)), {"all": len(rows)})
    return matrices(collection, design, ["none", "police"], formula, "linear")


def _coverage(collection, formula, term, members, counts, population, replicates):
    full = _everything_coded(collection, formula)
    truth = np.linalg.lstsq(full.x_coded, full.y_coded, rcond=None)[0]
    target = truth[full.names.index(term)]
    hits = {k: 0 for k in ("corrected", "naive", "coded_only")}
    widths = {k: 0.0 for k in hits}
    rng = np.random.default_rng(11)
    for _ in range(replicates):
        rows = np.concatenate(
            [rng.choice(members[s], counts[s], replace=False) for s in counts.index]
        )
        strata_of = np.concatenate([[s] * counts[s] for s in counts.index])
        design = Design(STRATIFIED, rows, full.y_coded[rows], strata_of, population)
        taken = Matrices(
            full.names,
            full.x_model,
            full.y_model,
            full.x_model[rows],
            full.y_model[rows],
            full.x_coded[rows],
            full.y_coded[rows],
        )
        found = fit_all(taken, Strata.of(design), "linear", 0.95)[term]
        for kind, entry in found.items():
            low, high = entry["ci"]
            hits[kind] += low <= target <= high
            widths[kind] += (high - low) / replicates
    return {k: v / replicates for k, v in hits.items()}, widths


def test_corrected_regression_intervals_cover_the_truth_where_naive_ones_do_not():
    """Outcome model-coded (the model misses police far more in the west), stratified samples
    that oversample uncertain images: the coefficient of west is the gap between regions."""
    collection = _collection(20000, seed=1)
    members, counts, population = _stratified(collection, 1000)
    coverage, widths = _coverage(
        collection, "police ~ region", "region[T.west]", members, counts, population, 1000
    )
    assert 0.93 <= coverage["corrected"] <= 0.97, coverage
    assert coverage["naive"] < 0.2, coverage
    assert 0.92 <= coverage["coded_only"] <= 0.975, coverage
    assert widths["corrected"] < 0.9 * widths["coded_only"], widths


def test_a_model_coded_covariate_is_corrected_too():
    """likes ~ police with police model-coded: the naive slope is attenuated by the model's
    errors; the corrected one covers the slope of the true codes."""
    collection = _with_likes(_collection(10000, seed=2), 2)
    members, counts = {"all": np.arange(10000)}, pd.Series({"all": 600})
    coverage, widths = _coverage(
        collection, "likes ~ police", "police", members, counts, {"all": 10000.0}, 600
    )
    assert 0.925 <= coverage["corrected"] <= 0.975, coverage
    assert coverage["naive"] < 0.05, coverage
    # power tuning: never much wider than coding alone (with lambda = 1 it was 0.43 against
    # 0.37, as the model gets this covariate wrong often)
    assert widths["corrected"] <= 1.02 * widths["coded_only"], widths


def test_formulas_naming_what_is_not_there_are_refused():
    collection = _collection(1000, 0)
    coded = _coded(collection, 100, 1)
    with pytest.raises(InputError, match=r"\['crowd'\] are neither classes .* nor columns"):
        estimate(collection, coded, "coder", formula="crowd ~ region")
    with pytest.raises(InputError, match="give an outcome"):
        estimate(collection, coded, "coder", formula="~ region")
    with pytest.raises(InputError, match="0/1 outcome"):
        estimate(
            _with_likes(collection, 0),
            coded,
            "coder",
            formula="likes ~ police",
            regression="logistic",
        )
    with pytest.raises(InputError, match="missing values"):
        holes = collection.assign(region=collection["region"].where(collection.index > 5))
        estimate(holes, coded, "coder", formula="police ~ region")
    with pytest.raises(InputError, match="choose one of linear, logistic"):
        estimate(collection, coded, "coder", formula="police ~ region", regression="probit")
