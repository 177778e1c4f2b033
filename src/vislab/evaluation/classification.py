"""metrics.json for a classification predictions table (DESIGN's shape).

Metrics with bootstrap intervals (images, clusters or sampling weights; percentile or BCa),
per class, the confusion matrix, and with `group_by` the groups, disparities and fairness
measures, all from the same evaluator (`classification_stats.ClassificationEvaluator`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from vislab.errors import InputError
from vislab.evaluation.classification_stats import ClassificationData, ClassificationEvaluator
from vislab.evaluation.confusion import per_class
from vislab.evaluation.fairness import fairness_entries
from vislab.evaluation.groups import group_breakdown
from vislab.evaluation.intervals import bootstrap_record, metric_entries


def evaluate_classification(
    predictions: pd.DataFrame,
    group_by: Sequence[str] = (),
    bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    source: str = "predictions",
    cluster: str | None = None,
    weight: str | None = None,
    interval: str = "percentile",
    classes: Sequence[str] | None = None,
    strata: str | None = None,
) -> dict:
    """Metrics with intervals, per class, confusion matrix, groups, disparities, fairness.
    `strata`: the column of a stratified sample's strata (with `inclusion_probability`, the
    sampling fraction): the bootstrap resamples within strata, finite-population factor
    included."""
    data = ClassificationData(predictions, source, weight, cluster, classes)
    if data.n == 0:
        raise InputError(f"{source}: the predictions table has no rows.")
    extra = {"weights": weight}
    if strata is not None:
        data.strata = sample_strata(predictions, strata, source, cluster)
        extra["design"] = "stratified: resampled within strata (Rao-Wu), sampling fractions kept"
    unit = f"clusters of '{cluster}'" if cluster else "images"
    settings = (bootstrap, confidence, seed, interval)
    evaluator = ClassificationEvaluator(data)
    result = classification_json(evaluator, data, "classification", group_by, settings, source)
    result["bootstrap"] = bootstrap_record(*settings, unit=unit, **extra)
    flat = [
        m for m, e in result["metrics"].items() if e.get("ci") and e["ci"][1] - e["ci"][0] < 1e-12
    ]
    if strata is not None and flat:
        result["bootstrap"]["note"] = (
            f"{', '.join(flat)}: the interval has no width, as the sample shows no spread within "
            "any stratum (every coded image of a stratum right, or all wrong). That is not proof "
            "that the model never errs there: code more images, or use `vislab estimate`, whose "
            "intervals allow half an error in such strata."
        )
    return result


def sample_strata(frame: pd.DataFrame, column: str, source: str, cluster: str | None = None):
    """The strata of a stratified sample's rows, and each one's sampling fraction; with
    `cluster`, the clusters resampled whole within them (each cluster in one stratum)."""
    from vislab.evaluation.bootstrap import Strata

    missing = [c for c in (column, "inclusion_probability", cluster) if c and c not in frame]
    if missing:
        raise InputError(f"{source}: no column(s) {missing} for the sample's strata.")
    codes = pd.factorize(frame[column].astype(str))[0]
    fractions = pd.to_numeric(frame["inclusion_probability"], errors="coerce").to_numpy(float)
    if cluster is None:
        return Strata(codes, fractions)
    keys = frame[cluster].astype(str)
    per_stratum = keys.groupby(codes).unique().explode()
    split = per_stratum[per_stratum.duplicated()]
    if len(split):
        raise InputError(
            f"{source}: {cluster} {split.iloc[0]!r} lies in several strata: resampling whole "
            f"clusters of '{cluster}' within strata needs each in one stratum."
        )
    return Strata(codes, fractions, pd.factorize(keys)[0])


def classification_json(evaluator, data: ClassificationData, task: str, group_by, settings, source):
    """metrics.json without its `bootstrap` entry, for any evaluator over classified units
    (images, or videos) whose point values include the confusion matrix."""
    bootstrap, confidence, seed, interval = settings
    metrics, _, point = metric_entries(evaluator, bootstrap, confidence, seed, interval)
    size = len(data.classes)
    confusion = point["confusion"][0].reshape(size, size)
    result = {
        "task": task,
        "n": data.n,
        "metrics": metrics,
        "per_class": per_class(confusion, data.classes),
        "confusion_matrix": {"classes": data.classes, "counts": _counts(confusion)},
    }
    if group_by:
        groups, disparities, breakdowns = group_breakdown(
            evaluator, data.frame, group_by, bootstrap, confidence, seed, source, interval
        )
        fairness = {
            spec: fairness_entries(breakdown, data.classes, confidence)
            for spec, breakdown in breakdowns.items()
        }
        result.update(groups=groups, disparities=disparities, fairness=fairness)
    return result


def _counts(confusion: np.ndarray) -> list[list]:
    """Integer counts (weighted counts stay numbers with decimals)."""
    if np.allclose(confusion, np.round(confusion)):
        return np.round(confusion).astype(int).tolist()
    return confusion.tolist()
