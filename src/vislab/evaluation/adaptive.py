"""A further round of a validation sample that favours the images the model is least sure of.

After a first, stratified round is coded, most of the model's errors are seen to sit where its
scores are least sure. Round `t` draws `n_t` times, with replacement, from the images not coded
yet (the remainder R), image `i` with probability

    p_i = alpha / |R| + (1 - alpha) sqrt(u_i) / sum_R sqrt(u)

with `u_i = 1 - max score` (the model's own chance of being wrong, where its scores are
calibrated; the square root is the optimal rule for a correction of 0/1 errors). The uniform
share `alpha` is chosen from the coded rounds: of the shares tried, from 1 (uniform) down to
MIN_UNIFORM, the one whose round would have the smallest variance, estimated from the coded
images' own errors, weighted by the first round's design. So a model whose scores say nothing
about its errors gets a uniform round; an image is never drawn with less than MIN_UNIFORM of its
uniform chance (weights stay bounded). Each round keeps its probabilities in sample.csv
(`draw_probability`, `draws`), and `vislab estimate` combines the rounds (estimation/rounds.py):
the Hansen-Hurwitz estimator of the remainder's correction, plus the coded images' own.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from vislab.errors import InputError
from vislab.evaluation.inputs import collection_fingerprint
from vislab.files import read_table
from vislab.predictions import score_columns

MIN_UNIFORM = 0.2  # the least uniform share of an adaptive round's probabilities
SHARES = np.round(np.arange(1.0, MIN_UNIFORM - 1e-9, -0.05), 2)  # tried, uniform first


def uncertainty(frame: pd.DataFrame) -> np.ndarray:
    """Per image 1 - its highest score: the model's own chance of being wrong."""
    scores = score_columns(frame)
    if not scores:
        raise InputError(
            "--adaptive favours the images the model is least sure of: the predictions need "
            "score_<class> columns (vislab predict and code write them)."
        )
    top = frame[scores].to_numpy(dtype=float).max(axis=1)
    return np.clip(1.0 - top, 0.0, 1.0)


def probabilities(u_remaining: np.ndarray, share: float) -> np.ndarray:
    """The draw probability of each image of the remainder, with uniform share `share`."""
    root = np.sqrt(u_remaining)
    favoured = root / root.sum() if root.sum() > 0 else np.full(len(root), 1 / len(root))
    return share / len(root) + (1 - share) * favoured


def tuned_share(u_remaining, u_coded, wrong, weights) -> float:
    """The uniform share whose round has the smallest estimated variance: the weighted sum
    of wrong / p over the coded images (as if drawn from the remainder). Ties, and no error
    seen, keep the share nearest uniform."""
    root_total = np.sqrt(u_remaining).sum()
    favoured = np.sqrt(u_coded) / root_total if root_total > 0 else 1 / len(u_remaining)
    best, best_cost = 1.0, np.inf
    for share in SHARES:
        p = share / len(u_remaining) + (1 - share) * favoured
        cost = float(np.sum(weights * wrong / p))
        if cost < best_cost * (1 - 1e-9):
            best, best_cost = float(share), cost
    return best


def earlier_rounds(previous: Path) -> tuple[pd.DataFrame, dict]:
    """The previous folder's sample (every round so far, `round` filled) and design."""
    from vislab.evaluation.validation import DESIGN_FILE, SAMPLE_FILE, sample_id

    if not (previous / SAMPLE_FILE).is_file() or not (previous / DESIGN_FILE).is_file():
        raise InputError(
            f"--adaptive {previous}: no {SAMPLE_FILE} and {DESIGN_FILE}; give the folder "
            "`vislab validation-sample` wrote for the previous round."
        )
    design = json.loads((previous / DESIGN_FILE).read_text())
    if design.get("cluster"):
        raise InputError(
            f"--adaptive {previous}: that sample drew whole {design['cluster']}s; adaptive "
            "rounds draw images one by one. Draw a further round of clusters as a new sample."
        )
    sample = read_table(previous / SAMPLE_FILE)
    if "round" not in sample.columns:
        sample["round"] = 1
    rounds = design.get("rounds") or [
        {
            "round": 1,
            "seed": design.get("seed"),
            "images": len(sample),
            "sample_id": sample_id(previous),
            "folder": str(previous),
        }
    ]
    return sample, {**design, "rounds": rounds}


def check_same_collection(collection: pd.DataFrame, previous: Path, design: dict, sample):
    """The previous rounds were drawn from this collection: same images (fingerprint, where
    recorded; else the count), every sampled id among them."""
    found = collection_fingerprint(collection)
    recorded = design.get("collection_sha256")
    drawn_from = int(design.get("population", len(collection)))
    if (recorded and recorded != found) or drawn_from != len(collection):
        raise InputError(
            f"--adaptive {previous}: that sample was drawn from another collection ({drawn_from} "
            f"images; these predictions have {len(collection)}, or other ids). Give the "
            "predictions the first round was drawn from."
        )
    known = set(collection["id"].astype(str))
    stray = [i for i in sample["id"].astype(str) if i not in known]
    if stray:
        raise InputError(
            f"--adaptive {previous}: {len(stray)} sampled id(s) are not in the predictions, "
            f"e.g. {stray[0]!r}: give the predictions the first round was drawn from."
        )


def check_seed(seed: int, design: dict, previous: Path) -> None:
    """A round's seed must be new: one reused would repeat an earlier round's random numbers,
    and the rounds would not be independent draws."""
    for entry in design["rounds"]:
        if entry.get("seed") == seed:
            raise InputError(
                f"--seed {seed} drew round {entry['round']} of {previous}: give each round its "
                f"own seed (e.g. --seed {next_seed(design)})."
            )


def next_seed(design: dict) -> int:
    return max(int(e.get("seed") or 0) for e in design["rounds"]) + 1


def coded_errors(sample: pd.DataFrame, coded: list, label_column: str, previous: Path):
    """Per first-round image of `sample`, whether its code differs from the model's label
    (an 'unsure' or any code that is not the label counts as an error)."""
    from vislab.evaluation.coded import merged_codes
    from vislab.evaluation.validation import attach_sample

    merged = merged_codes(coded)
    if label_column not in merged.columns:
        raise InputError(
            f"coded files: no column '{label_column}' (--label-column). Found: "
            f"{', '.join(map(str, merged.columns))}."
        )
    joined = attach_sample(merged, previous)
    first = sample[sample["round"].astype(int) == 1]
    codes = joined.set_index(joined["id"].astype(str))[label_column]
    missing = [i for i in first["id"].astype(str) if i not in codes.index or _blank(codes[i])]
    if missing:
        raise InputError(
            f"{len(missing)} image(s) of the first round of {previous} have no code in "
            f"'{label_column}' (e.g. id {missing[0]!r}): code the whole round before drawing "
            "the next (the next one learns where the model errs from it)."
        )
    got = codes.loc[first["id"].astype(str)].astype(str).to_numpy()
    return first, got != first["prediction"].astype(str).to_numpy()


def _blank(value) -> bool:
    return pd.isna(value) or str(value).strip() == ""


def draw_round(collection, previous: Path, size: int, seed: int, coded: list, label_column: str):
    """The new round's rows (next_round), the earlier rounds' sample, and the design with this
    round added; the previous folder and its codes checked first."""
    if size < 2:
        raise InputError(
            f"--size {size}: an adaptive round needs at least 2 draws for its variance."
        )
    sample, design = earlier_rounds(previous)
    check_same_collection(collection, previous, design, sample)
    check_seed(seed, design, previous)
    first, wrong = coded_errors(sample, coded, label_column, previous)
    rows, entry = next_round(collection, sample, first, wrong, size, seed)
    entry["previous"] = str(previous)
    design = {**design, "rounds": [*design["rounds"], entry], "sample": len(sample) + len(rows)}
    return rows, sample, design


def next_round(collection, sample, first, wrong, size: int, seed: int):
    """`size` draws with replacement from the collection's images not in `sample`, favouring
    the uncertain with the uniform share tuned on the first round (`first`, whose images the
    model got `wrong`). Returns the drawn images' rows (with `round`, `stratum`, `draws`,
    `draw_probability`, `inclusion_probability` and `weight`, the Hansen-Hurwitz weight
    1 / (n p) of one draw) and the round's entry for design.json."""
    u = uncertainty(collection)
    ids = collection["id"].astype(str)
    remaining = np.flatnonzero(~ids.isin(set(sample["id"].astype(str))).to_numpy())
    if len(remaining) == 0:
        raise InputError("every image of the collection is coded already: no round to draw.")
    at = pd.Index(ids).get_indexer(first["id"].astype(str))
    share = tuned_share(u[remaining], u[at], wrong, first["weight"].to_numpy(dtype=float))
    p = probabilities(u[remaining], share)
    picks = np.random.default_rng(seed).choice(len(remaining), size=size, replace=True, p=p)
    draws = np.bincount(picks, minlength=len(remaining))
    chosen = np.flatnonzero(draws)
    number = int(sample["round"].astype(int).max()) + 1
    rows = collection.iloc[remaining[chosen]].copy()
    rows["stratum"] = f"round {number}"
    rows["round"] = number
    rows["draws"] = draws[chosen]
    rows["draw_probability"] = p[chosen]
    rows["inclusion_probability"] = 1 - (1 - p[chosen]) ** size
    rows["weight"] = 1 / (size * p[chosen])
    entry = {
        "round": number,
        "seed": seed,
        "draws": size,
        "images": len(chosen),
        "uniform_share": share,
        "errors_seen": int(np.sum(wrong)),
    }
    return rows, entry
