"""Estimates at the unit of analysis (`estimate --unit post --aggregate any|mean`): a post's label
and code aggregated from its images, the sample's whole posts as a stratified sample of posts
(or, posts within drawn accounts, a cluster sample of them); intervals that cover the share of
posts 93-97 % of the time by simulation; units that cannot be estimated are named."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.evaluation.test_cluster_sample import nested_collection
from vislab.cli import run
from vislab.errors import InputError
from vislab.estimation.design import CLUSTERED, STRATIFIED, Design
from vislab.estimation.prevalence import Domain, prevalence
from vislab.estimation.strata import Strata
from vislab.estimation.units import unit_view
from vislab.evaluation.validation import draw_sample

CLASSES = ["none", "police"]


def _drawn(frame: pd.DataFrame, size: int, seed: int, cluster: str = "post") -> Design:
    sample = draw_sample(frame, size, ["region"], cluster=cluster, seed=seed)
    sizes = frame.groupby("region")[cluster].nunique()
    return Design(
        CLUSTERED,
        frame.index.get_indexer(sample.index),
        sample["truth"].to_numpy(),
        sample["stratum"].to_numpy(),
        {str(k): float(v) for k, v in sizes.items()},
        clusters=sample[cluster].to_numpy(),
    )


def test_a_posts_label_and_code_are_its_images_aggregated():
    frame = nested_collection(np.random.default_rng(0), posts=60)
    design = _drawn(frame, 80, seed=1)
    for aggregate, how in (("any", "any"), ("mean", "mean")):
        units, view, labels, codes = unit_view(frame, design, CLASSES, "post", aggregate, "post")
        police = frame["prediction"].eq("police").groupby(frame["post"]).agg(how)
        assert units["post"].tolist() == police.index.tolist()
        np.testing.assert_allclose(labels["police"], police.astype(float).to_numpy())
        truth = frame["truth"].eq("police").groupby(frame["post"]).agg(how).astype(float)
        coded = units["post"].to_numpy()[view.rows]
        np.testing.assert_allclose(codes["police"], truth.loc[coded].to_numpy())
        assert view.kind == STRATIFIED and view.clusters is None  # posts drawn as posts
        assert set(view.strata) == set(units.set_index("post").loc[coded, "region"])


def test_shares_of_posts_cover_the_truth():
    rng = np.random.default_rng(7)
    frame = nested_collection(rng)
    share = frame["truth"].eq("police").groupby(frame["post"]).any().mean()
    covered, reps = 0, 300
    for rep in range(reps):
        units, view, labels, codes = unit_view(
            frame, _drawn(frame, 160, rep), CLASSES, "post", "any", "post"
        )
        domain = Domain(np.ones(len(units), bool), np.ones(len(view.rows), bool))
        f = labels["police"]
        found = prevalence(f, codes["police"], f[view.rows], domain, Strata.of(view), 0.95)
        low, high = found["corrected"]["ci"]
        covered += low <= share <= high
    assert 0.93 <= covered / reps <= 0.97, covered


def test_posts_within_drawn_accounts_are_a_cluster_sample_of_posts():
    frame = nested_collection(np.random.default_rng(3), posts=80)
    account = frame["post"].str[:-1]  # ten posts an account
    frame["account"] = account
    frame["region"] = frame.groupby("account")["region"].transform("first")
    design = _drawn(frame, 120, seed=0, cluster="account")
    units, view, _, _ = unit_view(frame, design, CLASSES, "post", "any", "account")
    assert view.kind == CLUSTERED
    expected = units.set_index("post").loc[units["post"].to_numpy()[view.rows], "account"]
    assert view.clusters.tolist() == expected.tolist()
    with pytest.raises(InputError, match="lie in several clusters of 'post'"):
        unit_view(frame, _drawn(frame, 120, seed=0), CLASSES, "account", "any", "post")


def test_units_that_cannot_be_estimated_are_named(tmp_path):
    frame = nested_collection(np.random.default_rng(2), posts=80)
    predictions = tmp_path / "predictions.csv"
    frame.drop(columns="truth").to_csv(predictions, index=False)
    sample_dir, images = tmp_path / "posts", tmp_path / "images"
    base = ["validation-sample", str(predictions), "--size", "50", "--coders", "A", "--quiet"]
    assert run([*base, "--cluster", "post", "--strata", "region", "--out", str(sample_dir)]) == 0
    assert run([*base, "--out", str(images)]) == 0
    for folder in (sample_dir, images):
        sample = pd.read_csv(folder / "sample.csv")
        coded = sample[["item"]].assign(A=sample["id"].map(frame.set_index("id")["truth"]))
        coded.to_csv(folder / "coded.csv", index=False)
    command = ["estimate", str(predictions), "--label-column", "A", "--unit", "post", "--quiet"]
    out = tmp_path / "estimates.json"
    posts = ["--coded", str(sample_dir / "coded.csv"), "--sample", str(sample_dir)]
    report = tmp_path / "report"
    assert (
        run([*command, *posts, "--by", "region", "--out", str(out), "--report", str(report)]) == 0
    )
    page = (report / "estimates.html").read_text()
    assert "80 posts were labelled by the model (a post has a class if any of its images" in page
    assert "the model's weight is 1" in page and "simple random" not in page
    found = json.loads(out.read_text())
    assert found["unit"] == "post" and found["n_collection"] == 80
    assert set(found["groups"]["region"]) == set(frame["region"])
    from vislab.estimation.estimate import estimate

    with pytest.raises(InputError, match="draw whole posts"):
        estimate(predictions, images / "coded.csv", "A", images, unit="post")
    with pytest.raises(InputError, match="--by prediction"):
        estimate(
            predictions, sample_dir / "coded.csv", "A", sample_dir, ["prediction"], unit="post"
        )
    with pytest.raises(InputError, match="--formula with --unit"):
        estimate(
            predictions,
            sample_dir / "coded.csv",
            "A",
            sample_dir,
            formula="police ~ region",
            unit="post",
        )
