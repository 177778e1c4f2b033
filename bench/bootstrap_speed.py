"""Bootstrap speed: 1,000 resamples of 100,000 predictions (goal: accuracy + macro-F1 in < 2 s).

Also shown side by side in the same run: a plain loop calling scikit-learn on each resample
(on 20 resamples, extrapolated), the same bootstrap with scores (top-5, ECE) and with
clusters.

    python bench/bootstrap_speed.py [--n 100000] [--resamples 1000]
        [--out bench/results/bootstrap_speed.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from vislab.evaluation.classification_stats import ClassificationData, ClassificationEvaluator
from vislab.evaluation.intervals import bootstrap_draws


def bootstrap_values(data: ClassificationData, resamples: int, seed: int) -> dict:
    return bootstrap_draws(ClassificationEvaluator(data), resamples, seed)


def predictions(n: int, classes: int, scores: bool, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    logits = rng.normal(size=(n, classes)) + 2.0 * np.eye(classes)[labels]
    frame = pd.DataFrame({"label": labels, "prediction": logits.argmax(axis=1)})
    frame["person"] = rng.integers(0, n // 10, n)
    if scores:
        probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        for k in range(classes):
            frame[f"score_{k}"] = probabilities[:, k]
    return frame


def timed(function) -> tuple[float, object]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def sklearn_loop(frame: pd.DataFrame, resamples: int) -> float:
    """Seconds for `resamples` resamples the usual way: index, then sklearn per metric."""
    labels, guesses = frame["label"].to_numpy(), frame["prediction"].to_numpy()
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(resamples):
        index = rng.integers(0, len(labels), len(labels))
        skm.accuracy_score(labels[index], guesses[index])
        skm.f1_score(labels[index], guesses[index], average="macro")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "bootstrap_speed.json"
    )
    args = parser.parse_args()
    plain = ClassificationData(predictions(args.n, 10, scores=False))
    with_scores = ClassificationData(predictions(args.n, 10, scores=True))
    clustered = ClassificationData(predictions(args.n, 10, scores=False), cluster_column="person")
    seconds, values = timed(lambda: bootstrap_values(plain, args.resamples, seed=0))
    scored_seconds, _ = timed(lambda: bootstrap_values(with_scores, args.resamples, seed=0))
    cluster_seconds, _ = timed(lambda: bootstrap_values(clustered, args.resamples, seed=0))
    loop_seconds = sklearn_loop(predictions(args.n, 10, scores=False), 20) * args.resamples / 20
    result = {
        "benchmark": "bootstrap_speed",
        "n": args.n,
        "resamples": args.resamples,
        "seconds_all_confusion_metrics": seconds,
        "seconds_with_scores_top5_ece": scored_seconds,
        "seconds_clusters_of_10": cluster_seconds,
        "seconds_sklearn_loop_accuracy_f1_extrapolated": loop_seconds,
        "speedup_over_sklearn_loop": loop_seconds / seconds,
        "metrics_per_resample": sorted(values),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{args.resamples} resamples of {args.n:,} predictions, all 8 confusion metrics: "
        f"{seconds:.2f} s (goal < 2 s)"
    )
    print(
        f"  with scores (adds top-5 and ECE): {scored_seconds:.2f} s; clusters of 10 images: "
        f"{cluster_seconds:.2f} s"
    )
    print(
        f"  a scikit-learn loop (accuracy + macro-F1 only): {loop_seconds:.1f} s -> "
        f"{loop_seconds / seconds:.0f}x slower"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
