"""`vislab estimate` at collection scale: 1,000,000 predictions in 5 groups, 2,000 coded images
(goal: under 10 s on 2 cores), from CSV files as a user runs it.

Shown side by side in the same run: ppi-python's `ppi_mean_ci` computing the corrected interval
of every class overall and in every group (the part of the job it can do; no differences
between groups, no stratified design); and, for `--formula "police ~ region"` (the corrected,
naive and coded-only fits with their sandwich intervals), statsmodels' formula OLS with HC0
errors on the model's labels (the naive fit alone).

    python bench/estimate_speed.py [--n 1000000] [--coded 2000] [--groups 5]
        [--out bench/results/estimate_speed.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from vislab.estimation.estimate import estimate

CLASSES = ("none", "police", "protest")


def collection(n: int, groups: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, len(CLASSES), n)
    wrong = rng.random(n) < 0.1 + 0.05 * rng.integers(0, 3, n)
    said = np.where(wrong, rng.integers(0, len(CLASSES), n), truth)
    return pd.DataFrame(
        {
            "id": [f"img{i:07d}.jpg" for i in range(n)],
            "prediction": np.array(CLASSES)[said],
            "region": rng.integers(0, groups, n).astype(str),
            "truth": np.array(CLASSES)[truth],
        }
    )


def ppi_loop(frame: pd.DataFrame, coded: pd.DataFrame) -> float:
    from ppi_py import ppi_mean_ci

    start = time.perf_counter()
    for name in ["all", *sorted(frame["region"].unique())]:
        inside = frame if name == "all" else frame[frame["region"] == name]
        sample = coded if name == "all" else coded[coded["region"] == name]
        for k in CLASSES:
            ppi_mean_ci(
                (sample["truth"] == k).to_numpy(float),
                (sample["prediction"] == k).to_numpy(float),
                (inside["prediction"] == k).to_numpy(float),
                alpha=0.05,
                lam=1,
            )
    return time.perf_counter() - start


def statsmodels_naive(frame: pd.DataFrame) -> float:
    import statsmodels.formula.api as smf

    labelled = frame.assign(police=(frame["prediction"] == "police").astype(float))
    start = time.perf_counter()
    smf.ols("police ~ region", labelled).fit(cov_type="HC0")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--coded", type=int, default=2000)
    parser.add_argument("--groups", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("bench/results/estimate_speed.json"))
    args = parser.parse_args()
    frame = collection(args.n, args.groups)
    coded = frame.sample(args.coded, random_state=1)
    with tempfile.TemporaryDirectory() as folder:
        predictions, codes = Path(folder) / "collection.csv", Path(folder) / "coded.csv"
        frame.drop(columns="truth").to_csv(predictions, index=False)
        coded[["id", "truth"]].rename(columns={"truth": "coder"}).to_csv(codes, index=False)
        start = time.perf_counter()
        found = estimate(predictions, codes, "coder", by=["region"])
        seconds = time.perf_counter() - start
        start = time.perf_counter()
        estimate(predictions, codes, "coder", formula="police ~ region")
        with_formula = time.perf_counter() - start
    reference = ppi_loop(frame, coded)
    naive_only = statsmodels_naive(frame)
    result = {
        "n": args.n,
        "coded": args.coded,
        "groups": args.groups,
        "classes": len(CLASSES),
        "vislab_estimate_s": round(seconds, 2),
        "ppi_python_intervals_only_s": round(reference, 2),
        "ratio_ppi_over_vislab": round(reference / seconds, 2),
        "pairs_of_groups_tested": len(found["differences"]["region"]["police"]),
        "vislab_estimate_formula_s": round(with_formula, 2),
        "statsmodels_naive_ols_only_s": round(naive_only, 2),
    }
    print(json.dumps(result, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
