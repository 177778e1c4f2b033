"""Writes reference.json: Gwet's AC1 (value, standard error, 95 % interval) and Krippendorff's
alpha computed by irrCAC on its published example datasets (Gwet's handbook) and on random
codings (several coders, missing codings, one code far more common than the others).

irrCAC pins an old numpy and is not installed with vislab; run this in a throwaway venv:
    python3 -m venv /tmp/irr && /tmp/irr/bin/pip install irrCAC==0.4.4
    /tmp/irr/bin/python tests/data/irrcac/make_reference.py
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
from irrCAC import datasets
from irrCAC.raw import CAC

PUBLISHED = ["raw_4raters", "raw_5observers", "raw_ben_gerry", "raw_g1g2", "raw_gender"]


def random_codings(rng: np.random.Generator) -> pd.DataFrame:
    coders, items, size = rng.integers(2, 7), rng.integers(10, 200), rng.integers(2, 6)
    common = rng.dirichlet(np.full(size, 0.5))
    truth = rng.choice(size, items, p=common)
    codes = np.where(
        rng.random((items, coders)) < rng.uniform(0.5, 0.95),
        truth[:, None],
        rng.choice(size, (items, coders), p=common),
    ).astype(float)
    codes[rng.random((items, coders)) < rng.uniform(0.0, 0.4)] = np.nan
    return pd.DataFrame(codes + 1, columns=[f"c{i}" for i in range(coders)])


def reference(name: str, ratings: pd.DataFrame) -> dict:
    gwet = CAC(ratings, digits=15).gwet()["est"]
    alpha = CAC(ratings, digits=15).krippendorff()["est"]
    rows = ratings.astype(object).where(ratings.notna(), None).to_numpy().tolist()
    return {
        "name": name,
        "codings": [[_text(v) for v in row] for row in rows],
        "ac1": gwet["coefficient_value"],
        "ac1_se": gwet["se"],
        "ac1_ci": list(gwet["confidence_interval"]),
        "krippendorff_alpha": alpha["coefficient_value"],
    }


def _text(value) -> str | None:
    if value is None:
        return None
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def main() -> None:
    cases = []
    for name in PUBLISHED:
        frame = getattr(datasets, name)()
        frame = frame.drop(columns=[c for c in frame.columns if c in ("Units", "Subject")])
        cases.append(reference(name, frame))
    rng = np.random.default_rng(0)
    for i in range(40):
        frame = random_codings(rng).dropna(how="all")
        cases.append(reference(f"random {i}", frame))
    out = Path(__file__).with_name("reference.json")
    out.write_text(json.dumps({"irrCAC": "0.4.4", "cases": cases}) + "\n")


if __name__ == "__main__":
    main()
