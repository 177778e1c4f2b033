"""A stratified random sample of a model's predictions for human coding, with sampling weights.

Before trusting a model's labels on 100,000 images, a human codes a sample. The sample is
stratified (by predicted class, by any metadata column, and by confidence band), drawn without
replacement within each stratum, and every sampled image carries its inclusion probability
n_h / N_h and weight N_h / n_h. Estimates computed with those weights (`vislab evaluate
--sample DIR`, `vislab agreement --sample DIR`) hold for the whole collection, not just the
sample (inverse-probability weighting).

Allocation: proportional to stratum size (at least one image per stratum), or equal per stratum;
`oversample_uncertain` adds the confidence band to the strata and gives the low- and mid-
confidence bands three and two times their proportional share.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from vislab.errors import InputError
from vislab.predictions import score_columns

BANDS = ((0.6, "low"), (0.9, "mid"), (1.01, "high"))  # max score below the bound -> band
BAND_FACTOR = {"low": 3.0, "mid": 2.0, "high": 1.0}
SAMPLE_FILE, SHEET_FILE, DESIGN_FILE = "sample.csv", "coding_sheet.csv", "design.json"


def confidence_band(frame: pd.DataFrame) -> pd.Series:
    scores = score_columns(frame)
    if not scores:
        raise InputError("--oversample-uncertain needs score_<class> columns in the predictions.")
    top = frame[scores].max(axis=1).to_numpy()
    bands = np.select([top < bound for bound, _ in BANDS], [name for _, name in BANDS], "high")
    return pd.Series(bands, index=frame.index)


def allocate(sizes: pd.Series, total: int, factors: pd.Series | None, allocation: str) -> pd.Series:
    """Sample size per stratum: sums to `total` (or the population), never above a stratum's
    size."""
    if total >= sizes.sum():
        return sizes.copy()
    share = (
        sizes.astype(float) if allocation == "proportional" else pd.Series(1.0, index=sizes.index)
    )
    if factors is not None:
        share = share * factors
    counts = pd.Series(np.minimum(1, sizes), index=sizes.index)  # one per stratum first
    while counts.sum() < total:
        room = sizes - counts
        wanted = share.where(room > 0, 0.0)
        target = wanted / wanted.sum() * total
        gap = (target - counts).where(room > 0, -np.inf)
        counts[gap.idxmax()] += 1
    return counts


def draw_sample(
    predictions: pd.DataFrame,
    size: int,
    strata: Sequence[str] = ("prediction",),
    oversample_uncertain: bool = False,
    allocation: str = "proportional",
    seed: int = 0,
) -> pd.DataFrame:
    """The sampled rows with `stratum`, `inclusion_probability` and `weight` columns."""
    if "id" not in predictions.columns:
        raise InputError("the predictions need an 'id' column to draw a validation sample.")
    if size <= 0:
        raise InputError(f"--size must be > 0. Got {size}.")
    frame = predictions.reset_index(drop=True).copy()
    for column in strata:
        if column not in frame.columns:
            raise InputError(
                f"--strata: no column '{column}'. Columns: {', '.join(map(str, frame.columns))}."
            )
    keys = [frame[c].astype(str) for c in strata]
    factors = None
    if oversample_uncertain:
        frame["confidence_band"] = confidence_band(frame)
        keys.append(frame["confidence_band"])
    frame["stratum"] = pd.concat(keys, axis=1).agg("|".join, axis=1) if keys else "all"
    sizes = frame["stratum"].value_counts().sort_index()
    if oversample_uncertain:
        band_of = frame.groupby("stratum")["confidence_band"].first()
        factors = band_of.map(BAND_FACTOR).reindex(sizes.index)
    counts = allocate(sizes, size, factors, allocation)
    rng = np.random.default_rng(seed)
    chosen = []
    for stratum, members in frame.groupby("stratum", sort=True).groups.items():
        picked = rng.choice(np.asarray(members), size=int(counts[stratum]), replace=False)
        chosen.extend(picked.tolist())
    sample = frame.loc[sorted(chosen)].copy()
    probability = sample["stratum"].map(counts / sizes)
    sample["inclusion_probability"] = probability
    sample["weight"] = 1.0 / probability
    return sample


def write_sample(
    sample: pd.DataFrame, out: str | Path, coders: Sequence[str], design: dict
) -> Path:
    """sample.csv (key: id, weight, the model's outputs), coding_sheet.csv (no model labels)."""
    from vislab.files import write_atomic, write_json

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise InputError(f"{out}: the folder exists and is not empty; choose a new --out folder.")
    order = np.random.default_rng(design["seed"] + 1).permutation(len(sample))  # hide the strata
    sheet = pd.DataFrame(
        {
            "item": np.arange(1, len(sample) + 1),
            "id": sample["id"].to_numpy()[order],
            "path": sample["path"].to_numpy()[order]
            if "path" in sample
            else sample["id"].to_numpy()[order],
        }
    )
    for coder in coders:
        sheet[coder] = ""
    write_atomic(out / SHEET_FILE, sheet.to_csv(index=False))
    write_atomic(out / SAMPLE_FILE, sample.to_csv(index=False))
    write_json(out / DESIGN_FILE, design)
    return out


def attach_sample(
    frame: pd.DataFrame, sample_dir: str | Path, keep: Sequence[str] = ()
) -> pd.DataFrame:
    """Join a coded sheet (or any table with `id`) to its sample: adds weight and model outputs."""
    path = Path(sample_dir) / SAMPLE_FILE
    if not path.is_file():
        raise InputError(
            f"{sample_dir}: no {SAMPLE_FILE}; give the folder `vislab validation-sample` wrote."
        )
    sample = pd.read_csv(path)
    if "id" not in frame.columns:
        raise InputError("the coded table needs the 'id' column of the coding sheet.")
    unknown = sorted(set(frame["id"].astype(str)) - set(sample["id"].astype(str)))
    if unknown:
        raise InputError(
            f"{len(unknown)} id(s) of the coded table are not in the sample, e.g. {unknown[:3]}."
        )
    own = [c for c in frame.columns if c not in ("id", *keep)]
    extra = sample.drop(columns=[c for c in own if c in sample.columns])
    return frame.assign(id=frame["id"].astype(str)).merge(
        extra.assign(id=extra["id"].astype(str)), on="id"
    )
