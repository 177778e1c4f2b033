"""Estimates over adaptive rounds (estimation/rounds.py): a later round's estimate is unbiased
whatever its probabilities (checked exactly, over every possible draw of a small collection),
its variance estimate is never short of the true variance, and on a collection whose model is
unsure where it errs, a first stratified round plus an adaptive one covers the truth 93-97 % of
the time with a narrower interval than a stratified sample of the same size."""

from __future__ import annotations

from itertools import product

import numpy as np
import pandas as pd

from vislab.estimation.design import STRATIFIED, Design, Later
from vislab.estimation.prevalence import Domain, prevalence
from vislab.estimation.rounds import combine, prevalence_in_rounds
from vislab.estimation.strata import Strata
from vislab.evaluation.adaptive import next_round
from vislab.evaluation.allocation import allocate
from vislab.evaluation.validation import draw_counts, draw_sample

_COUNTS: dict = {}


def test_a_later_round_is_unbiased_over_every_draw():
    rng = np.random.default_rng(0)
    f = rng.integers(0, 2, 10).astype(float)
    y = np.where(rng.random(10) < 0.4, 1 - f, f)  # the codes: the model errs often
    before, remainder = np.arange(4), np.arange(4, 10)  # coded in round 1; the rest
    p = rng.dirichlet(np.ones(len(remainder)))  # any probabilities
    size, n = 3, len(f)
    c = (y - f) / n  # each image's share of the correction
    truth = y.mean()
    values, variances, chances = [], [], []
    for picks in product(range(len(remainder)), repeat=size):
        draws = np.bincount(picks, minlength=len(remainder))
        chosen = np.flatnonzero(draws)
        later = Later(
            remainder[chosen], y[remainder[chosen]], np.full(len(chosen), 2), draws[chosen],
            p[chosen], {2: size}, [],
        )  # fmt: skip
        found = combine((0.0, 0.0), c[before], c[remainder[chosen]], f.mean(), later, 1 / n)
        values.append(found[1][0])
        variances.append(found[1][1])
        chances.append(np.prod(p[list(picks)]))
    chances = np.array(chances)
    assert chances.sum() == np.float64(1.0) or abs(chances.sum() - 1) < 1e-12
    mean = chances @ np.array(values)
    assert abs(mean - truth) < 1e-12  # unbiased, exactly
    true_variance = chances @ (np.array(values) - truth) ** 2
    assert chances @ np.array(variances) >= true_variance * (1 - 1e-9)  # never short


def _collection(size: int, seed: int):
    """A model sure of three images in four, and right there; unsure of the rest, where its
    calibrated scores say it errs often."""
    rng = np.random.default_rng(seed)
    sure = rng.random(size) < 0.75
    police = np.where(sure, rng.choice([0.02, 0.98], size), rng.uniform(0.2, 0.8, size))
    truth = rng.random(size) < police
    frame = pd.DataFrame(
        {
            "id": [f"i{k}" for k in range(size)],
            "prediction": np.where(police >= 0.5, "police", "none"),
            "score_police": police,
            "score_none": 1 - police,
        }
    )
    return frame, truth.astype(float)


def _stratified(frame, truth, size: int, seed: int) -> Design:
    """validation-sample's draw (draw_sample: strata by prediction, proportional), its
    strata and counts computed once per size."""
    if size not in _COUNTS:
        sizes = frame["prediction"].value_counts().sort_index()
        _COUNTS[size] = allocate(sizes, size, None, "proportional")
    sample = draw_counts(frame.assign(stratum=frame["prediction"]), _COUNTS[size], seed)
    rows = sample.index.to_numpy()
    population = {str(k): float(v) for k, v in frame["prediction"].value_counts().items()}
    strata = sample["stratum"].astype(str).to_numpy()
    members = frame["prediction"].astype(str).to_numpy()
    return Design(STRATIFIED, rows, truth[rows].astype(str), strata, population, members)


def test_an_adaptive_round_covers_with_a_narrower_interval():
    frame, truth = _collection(4000, seed=1)
    once = draw_sample(frame, 300, ("prediction",), seed=11)  # the same draw as the shortcut's
    assert once.index.tolist() == _stratified(frame, truth, 300, 11).rows.tolist()
    f = (frame["prediction"] == "police").to_numpy(float)
    everything = np.ones(len(frame), bool)
    covered, widths, errors = (
        {"stratified": 0, "adaptive": 0},
        {"stratified": [], "adaptive": []},
        [],
    )
    reps = 500
    for rep in range(reps):
        whole = _stratified(frame, truth, 300, rep)  # the same budget, one stratified round
        domain = Domain(everything, np.ones(300, bool))
        found = prevalence(f, truth[whole.rows], f[whole.rows], domain, Strata.of(whole), 0.95)
        low, high = found["corrected"]["ci"]
        covered["stratified"] += low <= truth.mean() <= high
        widths["stratified"].append(high - low)
        first = _stratified(frame, truth, 150, rep)
        drawn = frame.iloc[first.rows].assign(round=1, weight=0.0)
        drawn["weight"] = Strata.of(first).weights()
        wrong = truth[first.rows] != f[first.rows]
        rows, _ = next_round(frame, drawn, drawn, wrong, 150, 10_000 + rep)
        at = rows.index.to_numpy()
        first.later = Later(
            at, truth[at], rows["round"].to_numpy(), rows["draws"].to_numpy(),
            rows["draw_probability"].to_numpy(), {2: 150}, [],
        )  # fmt: skip
        domain = Domain(everything, np.ones(150, bool))
        strata = Strata.of(first)
        found = prevalence_in_rounds(
            f, truth[first.rows], f[first.rows], truth[at], domain, strata, first.later, 0.95
        )
        low, high = found["corrected"]["ci"]
        covered["adaptive"] += low <= truth.mean() <= high
        widths["adaptive"].append(high - low)
        errors.append(found["corrected"]["value"] - truth.mean())
    assert 0.93 <= covered["adaptive"] / reps <= 0.97
    assert 0.93 <= covered["stratified"] / reps <= 0.97
    assert np.mean(widths["adaptive"]) < 0.97 * np.mean(widths["stratified"])
    assert abs(np.mean(errors)) < 3 * np.std(errors) / np.sqrt(reps)  # no bias seen
