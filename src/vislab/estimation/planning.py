"""How many images to code: the sample size, and its Neyman allocation over strata, that gives
the corrected prevalence an interval of a chosen half-width.

The corrected share's variance is sum_h (N_h / N)^2 (1 - n_h / N_h) S_h^2 / n_h, with S_h^2 the
variance within stratum h of the model's error on one image (code minus label, -1, 0 or 1).
Neyman's allocation n_h proportional to N_h S_h makes it smallest for a given n; the plan is
the smallest n whose variance is at most (half-width / z)^2. Where the sample sees no error in
a stratum the estimate takes the variance of half an error there (strata.Strata.variance),
and the plan allows for it: S_h is never below that floor at the planned n_h.

S_h comes from a pilot sample (its coded images in each stratum), or from the model's scores,
which must then be calibrated: with p the score of the class, an image's error has variance
p (1 - p) around p - label, so S_h^2 = mean_h p (1 - p) + var_h (p - label).

What a study estimates is often not a share but a difference between groups (`--by`) or a
regression coefficient (`--formula`). Each is the model's value plus a weighted sum of the
errors, (1 / N) sum_i g_i e_i, with a known weight g_i per image: 1 for a share,
N (1[a] / N_a - 1[b] / N_b) for the difference between groups a and b, and row j of
(X'X / N)^-1 times x_i for coefficient j of a linear regression on columns of the predictions
(its influence). The plan is the same with S_h the spread of g e: from scores,
S_h^2 = mean_h g^2 p (1 - p) + var_h (g (p - label)); from a pilot, the spread of its g e.
The strata need not include the `--by` column (its groups' sizes are known, so a group's
share of the sample may vary); adding it to `--strata` fixes each group's share, at the cost
of more strata, each with its own floor.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from vislab.errors import InputError
from vislab.evaluation.allocation import LEAST_PER_STRATUM

PRIOR_IMAGES = 10  # how many images' worth the pooled error variance weighs in each stratum


def score_spread(frame: pd.DataFrame, k: str, g: np.ndarray | float = 1.0, centred=None):
    """Per stratum S_h of class k's error (weighted by each image's `g`; `centred`: the
    errors less what the estimate takes out, targets.Target.centred), from calibrated
    scores."""
    column = f"score_{k}"
    if column not in frame.columns:
        raise InputError(
            f"the predictions have no {column} column: give --pilot, a coded sample, to plan "
            "from the model's real errors."
        )
    p = frame[column].astype(float)
    label = (frame["prediction"].astype(str) == k).astype(float)
    gap = (p - label).to_numpy()
    strata = frame["stratum"].to_numpy()
    noise, gap = g**2 * p * (1 - p), g * (centred(gap, strata) if centred else gap)
    parts = pd.DataFrame({"stratum": frame["stratum"], "noise": noise, "gap": gap})
    grouped = parts.groupby("stratum")
    return np.sqrt(grouped["noise"].mean() + grouped["gap"].var(ddof=0))


def pilot_spread(
    frame: pd.DataFrame, rows: np.ndarray, codes: np.ndarray, k: str, g=1.0, centred=None
) -> pd.Series:
    """Per stratum S_h of class k's error (weighted by `g`, one per collection image) among
    the pilot's coded images, shrunk towards the variance of all the pilot's errors by
    PRIOR_IMAGES images' worth (a stratum where a small pilot saw no error has not shown that
    the model never errs there)."""
    label = (frame["prediction"].astype(str).to_numpy()[rows] == k).astype(float)
    weight = np.broadcast_to(np.asarray(g, dtype=float), (len(frame),))[rows]
    raw = (codes == k).astype(float) - label
    strata = frame["stratum"].to_numpy()[rows]
    error = pd.Series(weight * (centred(raw, strata, rows) if centred else raw))
    grouped = error.groupby(frame["stratum"].to_numpy()[rows])
    strata = frame["stratum"].unique()
    seen = grouped.size().reindex(strata).fillna(0)
    spread = grouped.var(ddof=0).reindex(strata).fillna(0)
    pooled = error.var(ddof=1)
    return np.sqrt((seen * spread + PRIOR_IMAGES * pooled) / (seen + PRIOR_IMAGES))


def with_floor(spread: pd.Series, counts: pd.Series, scale=1.0) -> pd.Series:
    """The spread the estimate will use: where no error is seen it takes the variance of half
    an error among the stratum's coded images (see strata.Strata.variance), an error weighing
    the stratum's typical g (`scale`, per stratum; 1 for a share)."""
    half_error = 0.5 / (counts + 1)
    return np.maximum(spread, scale * np.sqrt(half_error * (1 - half_error)))


def neyman(sizes: pd.Series, spread: pd.Series, total: int, scale=1.0) -> pd.Series:
    """`total` images shared in proportion to N_h S_h, at least two per stratum and never more
    than it holds, what a full stratum cannot take going to the others (S_h with the
    estimate's floor, which depends on n_h: a few rounds settle it). The whole collection is
    a census."""
    total = min(int(total), int(sizes.sum()))
    counts = _shared(total, sizes.astype(float), sizes)
    for _ in range(10):
        counts = _shared(total, sizes * with_floor(spread, counts, scale), sizes)
    return counts.astype(int)


def _shared(total: int, weight: pd.Series, sizes: pd.Series) -> pd.Series:
    least = np.minimum(LEAST_PER_STRATUM, sizes).astype(float)
    full = pd.Series(False, index=sizes.index)
    counts = least.copy()
    for _ in range(len(sizes) + 1):
        free = ~full
        left = total - sizes[full].sum()
        wanted = left * weight[free] / max(float(weight[free].sum()), 1e-12)
        counts[free] = np.clip(wanted, least[free], sizes[free])
        now_full = counts >= sizes
        if (now_full == full).all():
            break
        full = now_full
    return np.round(counts)


def sample_size(
    sizes: pd.Series,
    spread: pd.Series,
    half_width: float,
    confidence: float,
    checked=(),
    scale=1.0,
):
    """The smallest Neyman-allocated sample (on `spread`, its floor at `scale`) whose planned
    half-width is at most the one asked, for that spread and every one in `checked` (spreads,
    or (spread, scale) pairs; bisection over the total: the half-width falls as the sample
    grows; the census has none)."""
    low, high = LEAST_PER_STRATUM * len(sizes), int(sizes.sum())
    pairs = [(spread, scale), *(c if isinstance(c, tuple) else (c, 1.0) for c in checked)]

    def width(total: int) -> float:
        counts = neyman(sizes, spread, total, scale)
        return max(
            planned_half_width(sizes, with_floor(s, counts, g), counts, confidence)
            for s, g in pairs
        )

    if width(low) <= half_width:
        return neyman(sizes, spread, low, scale)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if width(middle) <= half_width else (middle, high)
    return neyman(sizes, spread, high, scale)


def planned_half_width(sizes: pd.Series, spread: pd.Series, counts: pd.Series, confidence) -> float:
    """The half-width a sample of `counts` per stratum gives if the spreads are right."""
    share = sizes / sizes.sum()
    variance = (share**2 * (1 - counts / sizes) * spread**2 / counts).sum()
    return float(norm.ppf(0.5 + confidence / 2) * np.sqrt(variance))


def plan(
    predictions,
    half_width: float,
    pilot=None,
    label_column: str | None = None,
    sample=None,
    only: str | None = None,
    strata=("prediction",),
    bands: bool | None = None,
    confidence: float = 0.95,
    by: str | None = None,
    formula: str | None = None,
) -> tuple[dict, pd.DataFrame]:
    """plan.json's content, and the stratified collection the plan's counts refer to: for the
    share of every class (or `only`), or with `by` the difference between every two of its
    groups, or with `formula` every coefficient of that linear regression (targets.py)."""
    from vislab.evaluation.coded import as_table
    from vislab.evaluation.inputs import check_collection
    from vislab.evaluation.validation import stratified
    from vislab.predictions import classes_of, score_columns

    if not 0 < half_width < 0.5:
        raise InputError(f"--half-width {half_width}: give a share between 0 and 0.5, e.g. 0.03.")
    from vislab.estimation.targets import targets

    collection = check_collection(as_table(predictions))
    bands = bool(score_columns(collection)) if bands is None else bands
    frame = stratified(collection, list(strata), bands)
    classes = classes_of(collection)
    if only is not None and only not in classes:
        raise InputError(f"--class {only!r} is not a class ({', '.join(classes)}).")
    wanted = targets(frame, classes, only, by, formula)
    sizes = frame["stratum"].value_counts().sort_index()
    spreads = _spreads(frame, wanted, pilot, label_column, sample, sizes.index)
    alone = {
        key: sample_size(sizes, s, half_width, confidence, scale=g)
        for key, (s, g) in spreads.items()
    }
    chosen = max(alone, key=lambda key: alone[key].sum())
    others = [pair for key, pair in spreads.items() if key != chosen]
    spread, scale = spreads[chosen]
    counts = sample_size(sizes, spread, half_width, confidence, others, scale)
    spread = with_floor(spread, counts, scale)
    found = {
        "half_width": half_width,
        "confidence": confidence,
        "n_collection": len(collection),
        "n": int(counts.sum()),
        "class": wanted[chosen].k,
        "estimate": chosen,
        **wanted[chosen].about,
        "from": "pilot" if pilot is not None else "scores",
        "strata": list(strata),
        "confidence_bands": bands,
        "per_stratum": {
            str(s): {"population": int(sizes[s]), "sample": int(counts[s]), "sd": float(spread[s])}
            for s in sizes.index
        },
        "census": bool((counts >= sizes).all()),
        "per_estimate": {  # each one's half-width with this plan, and the sample it alone needs
            key: {
                "half_width": planned_half_width(
                    sizes, with_floor(s, counts, g), counts, confidence
                ),
                "n_alone": int(alone[key].sum()),
            }
            for key, (s, g) in spreads.items()
        },
    }
    if by is None and formula is None:  # the shares: one estimate per class, as before
        found["per_class"] = found["per_estimate"]
    found["inputs"] = _inputs(predictions, pilot, sample)
    return found, frame


def _inputs(predictions, pilot, sample) -> dict:
    """What the plan comes from: each file's sha256, versions."""
    from vislab.estimation.estimate import inputs_of

    files = [] if pilot is None else list(pilot) if isinstance(pilot, list | tuple) else [pilot]
    found = inputs_of(predictions, files, sample, seed=None)
    found.pop("seed")
    return found


def _spreads(frame, wanted: dict, pilot, label_column, sample, strata) -> dict[str, tuple]:
    """Per estimate: (S_h per stratum, the typical |g| per stratum, for the floor)."""
    stratum = frame["stratum"].to_numpy()

    def scale(g) -> pd.Series:
        values = np.broadcast_to(np.asarray(g, dtype=float), (len(frame),))
        return pd.Series(values**2).groupby(stratum).mean().pipe(np.sqrt).reindex(strata)

    if pilot is None:
        return {
            key: (score_spread(frame, t.k, t.g, t.centred).reindex(strata), scale(t.g))
            for key, t in wanted.items()
        }
    from vislab.estimation.design import coded_design, merged_codes
    from vislab.estimation.estimate import checked_classes

    if label_column is None:
        raise InputError("--pilot: name the coder column that is the truth (--label-column).")
    files = list(pilot) if isinstance(pilot, list | tuple) else [pilot]
    design = coded_design(frame, merged_codes(files, label_column), label_column, sample)
    checked_classes(frame, design, label_column)  # a pilot code that is no class: an error
    return {
        key: (
            pilot_spread(frame, design.rows, design.codes, t.k, t.g, t.centred).reindex(strata),
            scale(t.g),
        )
        for key, t in wanted.items()
    }
