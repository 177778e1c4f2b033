"""Compare two models on the same images: paired bootstrap differences and McNemar's test.

Both predictions tables must hold the same images (matched on `id` when both have it, else by
row order) with the same labels. Each bootstrap replicate draws the same images for both models,
so `difference = b - a` has an interval that accounts for the pairing. The p-value of a
difference is the two-sided bootstrap p-value: twice the smaller share of replicates on either
side of 0, counted as (k + 1) / (B + 1) so that it is never 0 (at most 1). McNemar's test
(statsmodels; exact binomial when fewer than 25 images are discordant) compares the accuracies.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from statsmodels.stats.contingency_tables import mcnemar

from vislab.errors import InputError
from vislab.evaluation.bootstrap import percentile_interval
from vislab.evaluation.classification_stats import ClassificationData, ClassificationEvaluator
from vislab.evaluation.intervals import bootstrap_draws, finite
from vislab.files import rows_text


def paired_tables(
    a: pd.DataFrame, b: pd.DataFrame, names=("A", "B")
) -> tuple[pd.DataFrame, pd.DataFrame]:
    if "id" in a.columns and "id" in b.columns:
        if a["id"].duplicated().any() or b["id"].duplicated().any():
            raise InputError("compare: 'id' values must be unique in both predictions files.")
        missing = set(a["id"]) ^ set(b["id"])
        if missing:
            raise InputError(
                f"compare: {len(missing)} image id(s) are in only one of {names[0]} and "
                f"{names[1]}, "
                f"e.g. {sorted(map(str, missing))[:3]}. Both must predict the same images."
            )
        b = b.set_index("id").loc[a["id"]].reset_index()
    elif len(a) != len(b):
        raise InputError(
            f"compare: {names[0]} has {len(a)} rows, {names[1]} {len(b)}; without an 'id' column "
            "they must match row by row."
        )
    differing = np.flatnonzero(
        a["label"].astype(str).to_numpy() != b["label"].astype(str).to_numpy()
    )
    if differing.size:
        raise InputError(
            f"compare: the labels differ on {rows_text(differing)}: not the same images?"
        )
    return a.reset_index(drop=True), b.reset_index(drop=True)


def compare(
    a: pd.DataFrame,
    b: pd.DataFrame,
    bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    names=("A", "B"),
) -> dict:
    a, b = paired_tables(a, b, names)
    first, second = ClassificationData(a, names[0]), ClassificationData(b, names[1])
    models = ClassificationEvaluator(first), ClassificationEvaluator(second)
    point_a, point_b = (model.point() for model in models)
    draws_a, draws_b = (bootstrap_draws(m, bootstrap, seed) if bootstrap else {} for m in models)
    metrics = {}
    for name in set(models[0].names) & set(models[1].names):
        value_a, value_b = finite(point_a[name]), finite(point_b[name])
        entry = {"a": value_a, "b": value_b, "difference": value_b - value_a}
        if bootstrap:
            difference = draws_b[name] - draws_a[name]
            entry["ci"] = percentile_interval(difference, confidence)
            entry["p_value"] = _bootstrap_p_value(difference)
        metrics[name] = entry
    return {
        "metrics": dict(sorted(metrics.items())),
        "mcnemar": _mcnemar(first, second),
        "n": first.n,
        "a": names[0],
        "b": names[1],
        "bootstrap": {
            "resamples": bootstrap,
            "confidence": confidence,
            "seed": seed,
            "paired": True,
        },
    }


def _bootstrap_p_value(difference: np.ndarray) -> float:
    difference = difference[np.isfinite(difference)]
    if difference.size == 0:
        return float("nan")
    beyond = min(np.sum(difference <= 0), np.sum(difference >= 0))
    return float(min(1.0, 2 * (beyond + 1) / (difference.size + 1)))  # never exactly 0


def _mcnemar(first: ClassificationData, second: ClassificationData) -> dict:
    right_a = first.labels == first.predictions
    right_b = second.labels == second.predictions
    table = [
        [int(np.sum(right_a & right_b)), int(np.sum(right_a & ~right_b))],
        [int(np.sum(~right_a & right_b)), int(np.sum(~right_a & ~right_b))],
    ]
    discordant = table[0][1] + table[1][0]
    exact = discordant < 25
    result = mcnemar(table, exact=exact, correction=True)
    return {
        "statistic": float(result.statistic),
        "p_value": float(result.pvalue),
        "exact": exact,
        "table": {
            "both_right": table[0][0],
            "only_a_right": table[0][1],
            "only_b_right": table[1][0],
            "both_wrong": table[1][1],
        },
    }
