"""Corrected prevalence: equal to ppi-python on simple random samples, and valid by simulation
(errors that differ between groups, stratified samples that oversample uncertain images)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from vislab.estimation.design import SIMPLE, STRATIFIED, Design
from vislab.estimation.estimate import estimate
from vislab.estimation.prevalence import OWN_LAMBDA, Domain, difference, power_tuning, prevalence
from vislab.estimation.strata import Strata
from vislab.evaluation.validation import draw_sample


def _collection(n: int, seed: int) -> pd.DataFrame:
    """Images of two regions; the model misses the class far more often in the west, and its
    scores are least sure where it errs."""
    rng = np.random.default_rng(seed)
    region = rng.choice(["north", "west"], n, p=[0.6, 0.4])
    truth = rng.random(n) < np.where(region == "west", 0.31, 0.18)
    miss = rng.random(n) < np.where(region == "west", 0.35, 0.05)
    false_alarm = rng.random(n) < 0.04
    said = np.where(truth, ~miss, false_alarm)
    sure = np.where(said == truth, rng.uniform(0.75, 1.0, n), rng.uniform(0.5, 0.8, n))
    score = np.where(said, sure, 1 - sure)
    return pd.DataFrame(
        {
            "id": [f"img{i:06d}.jpg" for i in range(n)],
            "prediction": np.where(said, "police", "none"),
            "score_police": score,
            "score_none": 1 - score,
            "region": region,
            "truth": np.where(truth, "police", "none"),
        }
    )


@pytest.mark.parametrize("seed", range(8))
def test_simple_random_samples_give_ppi_pythons_estimate(seed):
    from ppi_py import ppi_mean_ci, ppi_mean_pointestimate

    collection = _collection(5000, seed)
    rng = np.random.default_rng(100 + seed)
    coded = collection.iloc[rng.choice(len(collection), 300, replace=False)]
    found = estimate(collection, coded.rename(columns={"truth": "coder"}), "coder")
    assert found["design"] == "simple random" and found["n_coded"] == 300
    f = (collection["prediction"] == "police").to_numpy(float)
    y = (coded["truth"] == "police").to_numpy(float)
    f_coded = (coded["prediction"] == "police").to_numpy(float)
    corrected = found["prevalence"]["police"]["corrected"]
    # PPI++ on the collection's own share: lambda is the sample's regression of codes on labels
    lam = corrected["lambda"]
    assert lam == pytest.approx(np.cov(y, f_coded)[0, 1] / f_coded.var(ddof=1), abs=1e-12)
    assert 0 < lam < 1
    reference = ppi_mean_pointestimate(y, f_coded, f, lam=lam)[0]
    assert corrected["value"] == pytest.approx(reference, abs=1e-9)
    low, high = ppi_mean_ci(y, f_coded, f, alpha=0.05, lam=lam)
    ppi_variance = ((high[0] - low[0]) / 2 / norm.ppf(0.975)) ** 2
    # ppi's interval is for the process behind the collection: it adds lam^2 var(f) / N and has
    # no finite-population factor; vislab's variances are unbiased (n - 1). The rest is equal.
    n, size = 300, len(collection)
    ours = corrected["se"] ** 2 / (1 - n / size) * (n - 1) / n
    assert ours + lam**2 * f.var() / size == pytest.approx(ppi_variance, rel=1e-9)
    # ppi's own lambda (lam=None) is the same regression for its process-level variance: the
    # sample covariance over n, and var(f) over coded and collection images, (1 + n/N) times
    tuned = ppi_mean_pointestimate(y, f_coded, f)[0]
    ppi_lam = (tuned - y.mean()) / (f.mean() - f_coded.mean())
    pooled = np.concatenate([f_coded, f]).var(ddof=1)
    expected = lam * f_coded.var(ddof=1) * (n - 1) / n / ((1 + n / size) * pooled)
    assert ppi_lam == pytest.approx(expected, rel=1e-9)
    naive = found["prevalence"]["police"]["naive"]["value"]
    assert naive == pytest.approx(f.mean()) and found["prevalence"]["police"]["coded_only"][
        "value"
    ] == pytest.approx(y.mean())


def _stratified(collection: pd.DataFrame, size: int):
    """validation-sample's design (prediction x confidence band, uncertain images oversampled):
    each stratum's members and how many of them are drawn."""
    first = draw_sample(collection, size, oversample_uncertain=True, seed=0)
    counts = first["stratum"].value_counts()
    keys = collection.loc[first.index.union(collection.index), "prediction"].astype(str)
    from vislab.evaluation.validation import confidence_band

    strata = (keys + "|" + confidence_band(collection)).to_numpy()
    members = {s: np.flatnonzero(strata == s) for s in counts.index}
    population = {s: float(len(m)) for s, m in members.items()}
    assert sum(population.values()) == len(collection)
    return members, counts, population


def _coverage(collection, members, counts, population, replicates: int):
    """Share of replicate samples whose interval holds the collection's true share, per
    estimator, overall and in the west; and the mean interval widths."""
    f = (collection["prediction"] == "police").to_numpy(float)
    truth = (collection["truth"] == "police").to_numpy(float)
    west = (collection["region"] == "west").to_numpy()
    targets = {"all": truth.mean(), "west": truth[west].mean()}
    hits = {(d, k): 0 for d in targets for k in ("corrected", "naive", "coded_only")}
    widths = {(d, k): 0.0 for d in targets for k in ("corrected", "coded_only")}
    rng = np.random.default_rng(7)
    for _ in range(replicates):
        rows = np.concatenate(
            [rng.choice(members[s], counts[s], replace=False) for s in counts.index]
        )
        strata_of = np.concatenate([[s] * counts[s] for s in counts.index])
        codes = collection["truth"].to_numpy()[rows]
        design = Design(STRATIFIED, rows, codes, strata_of, population)
        strata = Strata.of(design)
        y = (codes == "police").astype(float)
        for name, inside in (("all", np.ones(len(f), bool)), ("west", west)):
            domain = Domain(inside, inside[rows])
            found = prevalence(f, y, f[rows], domain, strata, 0.95)
            for kind, entry in found.items():
                low, high = entry["ci"]
                hits[name, kind] += low <= targets[name] <= high
                if kind != "naive":
                    widths[name, kind] += (high - low) / replicates
    return {key: value / replicates for key, value in hits.items()}, widths


@pytest.mark.parametrize("design", ["stratified", "simple random"])
def test_corrected_intervals_cover_the_truth_where_the_models_count_does_not(design):
    collection = _collection(20000, seed=1)
    if design == "stratified":
        members, counts, population = _stratified(collection, 1000)
    else:
        members, counts = {"all": np.arange(20000)}, pd.Series({"all": 1000})
        population = {"all": 20000.0}
    coverage, widths = _coverage(collection, members, counts, population, replicates=1000)
    for domain in ("all", "west"):
        assert 0.93 <= coverage[domain, "corrected"] <= 0.97, coverage
        assert coverage[domain, "naive"] < 0.2, coverage  # biased: the model misses the west
        assert 0.92 <= coverage[domain, "coded_only"] <= 0.975, coverage
    # the model's labels make the interval narrower wherever the design has not used them
    # already (strata by prediction make the two one estimator over all images)
    assert widths["west", "corrected"] < 0.9 * widths["west", "coded_only"], widths
    if design == "simple random":
        assert widths["all", "corrected"] < 0.9 * widths["all", "coded_only"], widths


def test_a_difference_between_groups_is_the_difference_of_their_estimates():
    collection = _collection(4000, seed=3)
    rng = np.random.default_rng(0)
    rows = rng.choice(len(collection), 400, replace=False)
    codes = collection["truth"].to_numpy()[rows]
    design = Design(SIMPLE, rows, codes, np.array(["all"] * 400), {"all": 4000.0})
    strata = Strata.of(design)
    f = (collection["prediction"] == "police").to_numpy(float)
    y = (codes == "police").astype(float)
    west = (collection["region"] == "west").to_numpy()
    a, b = Domain(~west, ~west[rows]), Domain(west, west[rows])
    one = prevalence(f, y, f[rows], a, strata, 0.95)["corrected"]
    two = prevalence(f, y, f[rows], b, strata, 0.95)["corrected"]
    gap = difference(f, y, f[rows], a, b, strata, 0.95)
    assert gap["value"] == pytest.approx(one["value"] - two["value"])
    # disjoint groups of a simple random sample: nearly independent estimates
    assert gap["se"] == pytest.approx(np.hypot(one["se"], two["se"]), rel=0.02)
    assert gap["p_value"] == pytest.approx(2 * norm.sf(abs(gap["value"]) / gap["se"]))


def test_a_sample_without_any_model_error_still_gets_an_interval():
    """No error seen in 300 coded images does not prove the model never errs: the interval is
    as wide as half an error per stratum allows, never zero."""
    collection = _collection(5000, seed=9).assign(truth=lambda c: c["prediction"])
    coded = collection.sample(300, random_state=0).rename(columns={"truth": "coder"})
    found = estimate(collection.drop(columns="truth"), coded[["id", "coder"]], "coder")
    corrected = found["prevalence"]["police"]["corrected"]
    low, high = corrected["ci"]
    share = (collection["prediction"] == "police").mean()
    assert corrected["value"] == pytest.approx(share) and low < share < high
    half_error = 0.5 / 301
    expected = norm.ppf(0.975) * np.sqrt((1 - 300 / 5000) * half_error * (1 - half_error) / 300)
    assert (high - low) / 2 == pytest.approx(expected)


def test_strata_of_one_coded_image_each_are_pooled_for_their_variance():
    """Strata with a single coded image give no variance alone; pooled, they give one (a
    design of such strata only would otherwise claim a zero-width interval)."""
    rng = np.random.default_rng(2)
    rows = rng.choice(1000, 40, replace=False)
    strata = np.array([f"s{i}" for i in range(40)])
    codes = np.where(rng.random(40) < 0.3, "police", "none")
    design = Design(STRATIFIED, rows, codes, strata, {f"s{i}": 25.0 for i in range(40)})
    pooled = Strata.of(design)
    assert len(set(pooled.group)) == 1 and len(pooled.collapsed[0]) == 40
    assert pooled.total(np.ones(40)) == 1000
    y = (codes == "police").astype(float)
    assert pooled.variance(y, np.ones(40, bool), 1.0) == pytest.approx(
        1000**2 * (1 - 40 / 1000) * y.var(ddof=1) / 40
    )


@pytest.mark.parametrize("accuracy", [0.6, 0.95])
def test_power_tuning_covers_and_is_never_wider_than_coding_alone(accuracy):
    """PPI++: at 60 % accuracy the model tells little and lambda falls towards 0 (with
    lambda = 1 the corrected interval was 1.33 times the coded-only one); at 95 % it narrows
    the interval. Coverage 93-97 % over 1,000 simple random samples of 400 in 10,000, in the
    collection and in a group."""
    rng = np.random.default_rng(int(accuracy * 100))
    size, coded = 10000, 400
    truth = (rng.random(size) < 0.3).astype(float)
    west = rng.random(size) < 0.5
    f = np.where(rng.random(size) < accuracy, truth, 1 - truth)
    hits = {("all", k): 0 for k in ("corrected", "coded_only")}
    hits.update({("west", k): 0 for k in ("corrected", "coded_only")})
    widths = dict.fromkeys(hits, 0.0)
    lambdas = []
    for _ in range(1000):
        rows = rng.choice(size, coded, replace=False)
        design = Design(
            SIMPLE, rows, truth[rows].astype(str), np.array(["all"] * coded), {"all": size}
        )
        strata = Strata.of(design)
        for name, inside in (("all", np.ones(size, bool)), ("west", west)):
            found = prevalence(f, truth[rows], f[rows], Domain(inside, inside[rows]), strata, 0.95)
            target = truth[inside].mean()
            for kind in ("corrected", "coded_only"):
                low, high = found[kind]["ci"]
                hits[name, kind] += low <= target <= high
                widths[name, kind] += (high - low) / 1000
            lambdas.append(found["corrected"]["lambda"])
    for name in ("all", "west"):
        assert 0.93 <= hits[name, "corrected"] / 1000 <= 0.97, hits
        assert widths[name, "corrected"] <= 1.01 * widths[name, "coded_only"], widths
    if accuracy > 0.9:
        assert widths["all", "corrected"] < 0.6 * widths["all", "coded_only"], widths
    # lambda estimates cov(y, f) / var(f): 0.2 at 60 % accuracy, 0.9 at 95 %
    expected = np.cov(truth, f)[0, 1] / f.var(ddof=1)
    assert np.mean(lambdas) == pytest.approx(expected, abs=0.03)


def _two_sources(size: int, rng: np.random.Generator):
    """Two sources of equal size and prevalence; the model is right on 95 % of the first and
    on 55 % of the second (it guesses there); a group (west) that crosses both."""
    source = np.repeat(["agency", "social"], size // 2)
    truth = (rng.random(size) < 0.3).astype(float)
    right = rng.random(size) < np.where(source == "agency", 0.95, 0.55)
    f = np.where(right, truth, 1 - truth)
    return source, truth, f, rng.random(size) < 0.5


def test_each_stratum_learns_its_own_lambda_where_it_has_the_images():
    """PPI++ per stratum (the separate regression estimator): where the model is sure in one
    stratum and guesses in the other, each stratum's lambda is its own (near 0.9 and 0.1),
    the interval is narrower than with one lambda for both, and it still covers 93-97 % of
    1,000 stratified samples without bias, in the collection and in a group that crosses the
    strata."""
    rng = np.random.default_rng(11)
    size, per_stratum = 20000, 250
    source, truth, f, west = _two_sources(size, rng)
    members = {s: np.flatnonzero(source == s) for s in ("agency", "social")}
    population = {s: float(len(m)) for s, m in members.items()}
    kinds = ("own", "one")
    hits = {(d, k): 0 for d in ("all", "west") for k in kinds}
    widths, errors = dict.fromkeys(hits, 0.0), {key: [] for key in hits}
    own = []
    for _ in range(1000):
        rows = np.concatenate([rng.choice(members[s], per_stratum, replace=False) for s in members])
        strata_of = np.repeat(list(members), per_stratum)
        design = Design(STRATIFIED, rows, truth[rows].astype(str), strata_of, population, source)
        by_kind = {"own": Strata.of(design), "one": Strata.of(design)}
        by_kind["one"].members = None  # only the strata's sizes known: one lambda
        for name, inside in (("all", np.ones(size, bool)), ("west", west)):
            domain = Domain(inside, inside[rows])
            target = truth[inside].mean()
            for kind, strata in by_kind.items():
                found = prevalence(f, truth[rows], f[rows], domain, strata, 0.95)["corrected"]
                low, high = found["ci"]
                hits[name, kind] += low <= target <= high
                widths[name, kind] += (high - low) / 1000
                errors[name, kind].append(found["value"] - target)
                if kind == "own" and name == "all":
                    own.append([found["lambda_by_stratum"][s] for s in members])
                if kind == "one":
                    assert "lambda_by_stratum" not in found
    for key, found in errors.items():
        assert abs(np.mean(found)) < 3 * np.std(found) / np.sqrt(len(found)), key
    for name in ("all", "west"):
        assert 0.93 <= hits[name, "own"] / 1000 <= 0.97, hits
        assert widths[name, "own"] < 0.9 * widths[name, "one"], widths
    # each stratum's lambda estimates its own cov(y, f) / var(f): 0.9 and 0.1
    expected = [np.cov(truth[m], f[m])[0, 1] / f[m].var(ddof=1) for m in members.values()]
    assert np.mean(own, axis=0) == pytest.approx(expected, abs=0.03)


def test_a_stratum_with_few_coded_images_of_the_group_keeps_the_shared_lambda():
    rng = np.random.default_rng(3)
    source, truth, f, _ = _two_sources(4000, rng)
    rows = np.concatenate(
        [
            np.flatnonzero(source == "agency")[:200],
            np.flatnonzero(source == "social")[: OWN_LAMBDA - 1],
        ]
    )
    strata_of = source[rows]
    population = {"agency": 2000.0, "social": 2000.0}
    design = Design(STRATIFIED, rows, truth[rows].astype(str), strata_of, population, source)
    strata = Strata.of(design)
    everything = Domain(np.ones(4000, bool), np.ones(len(rows), bool))
    found = prevalence(f, truth[rows], f[rows], everything, strata, 0.95)["corrected"]
    assert list(found["lambda_by_stratum"]) == ["agency"]
    tuning = power_tuning(f[rows], truth[rows], everything, strata)
    assert tuning.lam[1] == found["lambda"] != tuning.lam[0]
    # the estimate is the sum over strata of the known part and the stratum's correction
    expected = 0.0
    for h, name in enumerate(["agency", "social"]):
        coded = rows[strata_of == name]
        lam = tuning.lam[h]
        model = f[source == name].sum()
        correction = 2000 / len(coded) * (truth[coded] - lam * f[coded]).sum()
        expected += (lam * model + correction) / 4000
    assert found["value"] == pytest.approx(expected, abs=1e-12)
