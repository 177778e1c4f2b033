"""Validation samples of whole clusters (`validation-sample --cluster`): every image of a drawn
post coded, the posts' inclusion probabilities recorded; `estimate --sample` takes the clustered
design's variance (its intervals cover the truth 93-97 % of the time on a nested collection,
where treating the images as drawn one by one covers far less) and `evaluate --sample` resamples
the drawn posts within strata (the Rao-Wu bootstrap's variance is the design's)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from vislab.cli import run
from vislab.errors import InputError
from vislab.estimation.design import CLUSTERED, Design
from vislab.estimation.prevalence import Domain, prevalence
from vislab.estimation.strata import Strata
from vislab.evaluation.validation import draw_sample


def nested_collection(rng: np.random.Generator, posts: int = 400) -> pd.DataFrame:
    """Images in posts of 1-8 images: whether an image shows police depends strongly on its
    post; the model is right 85 % of the time, and in some posts much less."""
    sizes = rng.integers(1, 9, posts)
    post = np.repeat([f"p{k:04d}" for k in range(posts)], sizes)
    level = np.repeat(rng.beta(0.4, 0.9, posts), sizes)
    truth = rng.random(len(post)) < level
    hard = np.repeat(rng.random(posts) < 0.3, sizes)
    right = rng.random(len(post)) < np.where(hard, 0.6, 0.92)
    said = np.where(right, truth, ~truth)
    return pd.DataFrame(
        {
            "id": [f"i{k:05d}" for k in range(len(post))],
            "post": post,
            "region": np.repeat(rng.choice(["north", "south"], posts), sizes),
            "prediction": np.where(said, "police", "none"),
            "truth": np.where(truth, "police", "none"),
        }
    )


def test_whole_clusters_are_drawn_with_their_probabilities():
    frame = nested_collection(np.random.default_rng(0))
    sample = draw_sample(frame, 150, ["region"], cluster="post", seed=3)
    drawn = set(sample["post"])
    whole = frame[frame["post"].isin(drawn)]
    assert sorted(sample["id"]) == sorted(whole["id"])  # every image of a drawn post
    assert 150 <= len(sample) < 150 + 8 * 2  # about --size images
    for region, part in sample.groupby("region"):
        posts = frame.loc[frame["region"] == region, "post"].nunique()
        chosen = part["post"].nunique()
        np.testing.assert_allclose(part["inclusion_probability"], chosen / posts)
        np.testing.assert_allclose(part["weight"], posts / chosen)
    again = draw_sample(frame, 150, ["region"], cluster="post", seed=3)
    assert again["id"].tolist() == sample["id"].tolist()


def test_a_posts_stratum_by_prediction_is_its_most_predicted_class():
    frame = pd.DataFrame(
        {
            "id": list("abcdefg"),
            "post": ["p1", "p1", "p1", "p2", "p2", "p3", "p4"],
            "prediction": ["x", "y", "y", "x", "y", "x", "y"],
        }
    )
    sample = draw_sample(frame, 7, ["prediction"], cluster="post")
    strata = sample.groupby("post")["stratum"].first().to_dict()
    assert strata == {"p1": "y", "p2": "x", "p3": "x", "p4": "y"}  # a tie: the first name


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns="post"), "no column 'post'"),
        (lambda f: f.assign(post=f["post"].where(f.index != 5)), "empty on row 7"),
        (lambda f: f.assign(region=np.where(f.index == 0, "east", f["region"])), "several strata"),
        (lambda f: f.assign(region=f["region"].where(f.index != 2)), "'region' is empty on row 4"),
    ],
)
def test_what_cannot_be_drawn_whole_is_named(change, message):
    frame = change(nested_collection(np.random.default_rng(0), posts=50))
    with pytest.raises(InputError, match=message):
        draw_sample(frame, 40, ["region"], cluster="post")
    with pytest.raises(InputError, match="oversample-uncertain"):
        draw_sample(
            nested_collection(np.random.default_rng(0)),
            40,
            cluster="post",
            oversample_uncertain=True,
        )


def _interval(frame, sample, clustered: bool) -> dict:
    rows = frame.index.get_indexer(sample.index)
    sizes = (
        frame.groupby("region")["post"].nunique() if clustered else frame["region"].value_counts()
    )
    design = Design(
        CLUSTERED,
        rows,
        sample["truth"].to_numpy(),
        sample["stratum"].to_numpy(),
        {str(k): float(v) for k, v in sizes.items()},
        clusters=sample["post"].to_numpy() if clustered else None,
    )
    if not clustered:  # the same images as if drawn one by one: the image-level weights
        design.population = {
            str(k): float(len(part)) * float(part["weight"].iloc[0])
            for k, part in sample.groupby("stratum")
        }
    f = (frame["prediction"] == "police").to_numpy(float)
    y = (sample["truth"] == "police").to_numpy(float)
    domain = Domain(np.ones(len(frame), bool), np.ones(len(rows), bool))
    return prevalence(f, y, f[rows], domain, Strata.of(design), 0.95)


def test_clustered_intervals_cover_the_truth_and_independent_ones_do_not():
    rng = np.random.default_rng(7)
    frame = nested_collection(rng)
    truth = (frame["truth"] == "police").mean()
    covered = {True: 0, False: 0, "as_images": 0}
    reps = 300
    for rep in range(reps):
        sample = draw_sample(frame, 160, ["region"], cluster="post", seed=rep)
        found = {clustered: _interval(frame, sample, clustered) for clustered in (True, False)}
        for clustered, entries in found.items():
            low, high = entries["corrected"]["ci"]
            covered[clustered] += low <= truth <= high
        low, high = found[True]["corrected_if_independent"]["ci"]  # shown beside the design's
        covered["as_images"] += low <= truth <= high
    assert 0.93 <= covered[True] / reps <= 0.97, covered
    assert covered[False] / reps < 0.90, covered  # images taken as independent: too narrow
    assert covered["as_images"] / reps < 0.90, covered


def test_the_rao_wu_bootstrap_over_drawn_clusters_has_the_designs_variance():
    from vislab.evaluation.bootstrap import Strata as Resampled
    from vislab.evaluation.bootstrap import rescaled

    frame = nested_collection(np.random.default_rng(1))
    sample = draw_sample(frame, 200, ["region"], cluster="post", seed=0)
    values = (sample["truth"] == "police").to_numpy(float) * sample["weight"].to_numpy()
    codes = pd.factorize(sample["stratum"])[0]
    psu = pd.factorize(sample["post"])[0]
    fractions = sample["inclusion_probability"].to_numpy()
    weights = rescaled(np.random.default_rng(0), Resampled(codes, fractions, psu), 20_000)
    sizes = frame.groupby("region")["post"].nunique()
    design = Design(
        CLUSTERED,
        np.arange(len(sample)),
        sample["truth"].to_numpy(),
        sample["stratum"].to_numpy(),
        {str(k): float(v) for k, v in sizes.items()},
        clusters=sample["post"].to_numpy(),
    )
    analytic = Strata.of(design).variance(
        (sample["truth"] == "police").to_numpy(float), np.zeros(len(sample), bool), 0.0
    )
    assert (weights @ values).var() == pytest.approx(analytic, rel=0.05)


def test_commands_draw_estimate_and_evaluate_a_clustered_sample(tmp_path):
    frame = nested_collection(np.random.default_rng(2), posts=120)
    frame["score_police"] = np.where(frame["prediction"] == "police", 0.8, 0.2)
    frame["score_none"] = 1 - frame["score_police"]
    predictions = tmp_path / "predictions.csv"
    frame.drop(columns="truth").to_csv(predictions, index=False)
    sample_dir = tmp_path / "sample"
    draw = ["validation-sample", str(predictions), "--size", "60", "--cluster", "post"]
    assert run([*draw, "--strata", "region", "--out", str(sample_dir), "--quiet"]) == 0
    design = json.loads((sample_dir / "design.json").read_text())
    assert design["cluster"] == "post" and design["population_clusters"] == 120
    assert sum(s["population"] for s in design["per_stratum"].values()) == 120
    sample = pd.read_csv(sample_dir / "sample.csv")
    coded = sample[["item"]].assign(label=sample["id"].map(frame.set_index("id")["truth"]))
    coded.to_csv(tmp_path / "coded.csv", index=False)
    out = tmp_path / "estimates.json"
    command = ["estimate", str(predictions), "--coded", str(tmp_path / "coded.csv")]
    command += ["--label-column", "label", "--sample", str(sample_dir), "--out", str(out)]
    assert run([*command, "--quiet", "--report", str(tmp_path / "report")]) == 0
    page = (tmp_path / "report" / "estimates.html").read_text()
    assert "whole clusters drawn by" in page and "simple random" not in page
    assert "corrected, as if drawn one by one" in page  # the too-narrow interval, beside
    found = json.loads(out.read_text())
    assert found["design"] == "clustered" and found["n_clusters_coded"] == sample["post"].nunique()
    metrics = tmp_path / "metrics.json"
    evaluate = ["evaluate", "classification", "--predictions", str(tmp_path / "coded.csv")]
    evaluate += ["--label-column", "label", "--sample", str(sample_dir), "--bootstrap", "50"]
    assert run([*evaluate, "--out", str(metrics), "--quiet"]) == 0
    assert json.loads(metrics.read_text())["bootstrap"]["unit"] == "clusters of 'post'"
    codings = coded.assign(A=coded["label"], B=np.roll(coded["label"].to_numpy(), 1))
    codings.drop(columns="label").to_csv(tmp_path / "codings.csv", index=False)
    agreement = ["agreement", str(tmp_path / "codings.csv"), "--raters", "A,B", "--sample"]
    out = tmp_path / "agreement.json"
    assert run([*agreement, str(sample_dir), "--bootstrap", "50", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["bootstrap"]["unit"] == "clusters of 'post'"
    other = tmp_path / "other.csv"
    frame.drop(columns=["truth", "post"]).to_csv(other, index=False)
    with pytest.raises(InputError, match="no column 'post'"):
        from vislab.estimation.estimate import estimate

        estimate(other, tmp_path / "coded.csv", "label", sample_dir)
