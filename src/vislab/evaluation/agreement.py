"""Agreement between coders — and between a model and coders — with bootstrap intervals.

Social scientists validate a model the way they validate a human coder. The codings table has
one row per item and one column per coder; an empty cell means that coder did not code it.

- Cohen's kappa for each pair of coders, on the items both coded;
- Fleiss' kappa over the items that every coder coded;
- Krippendorff's alpha (nominal, ordinal or interval), missing codings allowed;
- Gwet's AC1 (nominal), stable where one code is far more common than the others;
- each coder against the consensus of the others (share agreeing, Cohen's kappa).

Each statistic is a function of per-item additive statistics (pair confusion counts, Fleiss'
per-item agreement, Krippendorff's coincidence matrix), so a bootstrap replicate — items drawn
with replacement — is a weighted sum of item rows. Sampling weights of a validation sample
multiply each item's row, so estimates hold for the whole collection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import combinations

import numpy as np
import pandas as pd

from vislab.errors import InputError
from vislab.evaluation.bootstrap import chunk_size, draw_replicates, percentile_interval
from vislab.evaluation.confusion import metrics_from_confusion
from vislab.evaluation.consensus import agreement_share, consensus_of_others
from vislab.evaluation.gwet import ac1_from_stats, ac1_interval, ac1_stats
from vislab.evaluation.inputs import natural_key

Level = str  # "nominal" | "ordinal" | "interval"


class Codings:
    """Item x coder codes as integers (-1 = not coded) over an ordered list of values."""

    def __init__(self, frame: pd.DataFrame, coders: Sequence[str], source: str, levels=None):
        text = [[_as_text(v) for v in frame[c].tolist()] for c in coders]  # coder x item
        observed = sorted({v for column in text for v in column if v is not None}, key=natural_key)
        if not observed:
            raise InputError(
                f"{source}: no codes at all in the columns {list(coders)} ({len(frame)} rows): "
                "is this the coded sheet?"
            )
        self.values = [str(v) for v in levels] if levels else observed
        unknown = sorted(set(observed) - set(self.values))
        if unknown:
            raise InputError(f"{source}: code(s) {unknown} are not among --levels {self.values}.")
        lookup = {value: index for index, value in enumerate(self.values)}
        codes = [[lookup[v] if v is not None else -1 for v in column] for column in text]
        self.codes = np.array(codes, dtype=np.int64).T.reshape(len(frame), len(coders))
        self.coders = list(coders)

    @property
    def n_items(self) -> int:
        return self.codes.shape[0]


def _as_text(value) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def pair_stats(codes: np.ndarray, first: int, second: int, size: int) -> np.ndarray:
    """(items, size*size): each item's one-hot cell in the pair's confusion matrix (0 if
    unpaired)."""
    both = (codes[:, first] >= 0) & (codes[:, second] >= 0)
    rows = np.zeros((codes.shape[0], size * size))
    cells = codes[both, first] * size + codes[both, second]
    rows[np.flatnonzero(both), cells] = 1.0
    return rows


def fleiss_stats(codes: np.ndarray, size: int) -> np.ndarray:
    """(items, size + 2): category counts, agreement P_i and 1 for each fully coded item."""
    complete = (codes >= 0).all(axis=1)
    coders = codes.shape[1]
    counts = np.zeros((codes.shape[0], size))
    for column in codes.T:
        counts[np.flatnonzero(complete), column[complete]] += 1
    agreement = (np.sum(counts**2, axis=1) - coders) / (coders * (coders - 1))
    return np.column_stack([counts, np.where(complete, agreement, 0.0), complete.astype(float)])


def fleiss_from_stats(stats: np.ndarray, coders: int) -> np.ndarray:
    """Fleiss' kappa per replicate row of summed Fleiss statistics."""
    counts, agreement, items = stats[:, :-2], stats[:, -2], stats[:, -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = agreement / items
        shares = counts / (items * coders)[:, None]
        expected = np.sum(shares**2, axis=1)
        return (observed - expected) / (1 - expected)


def coincidence_stats(codes: np.ndarray, size: int) -> np.ndarray:
    """(items, size*size): each item's contribution to Krippendorff's coincidence matrix."""
    counts = np.zeros((codes.shape[0], size))
    for column in codes.T:
        coded = column >= 0
        counts[np.flatnonzero(coded), column[coded]] += 1
    pairable = counts.sum(axis=1)
    outer = counts[:, :, None] * counts[:, None, :]
    outer[:, np.arange(size), np.arange(size)] -= counts  # n_uc (n_uc - 1) on the diagonal
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(pairable >= 2, 1.0 / (pairable - 1), 0.0)
    return (outer * scale[:, None, None]).reshape(codes.shape[0], size * size)


def distance(level: Level, values: list[str], marginals: np.ndarray) -> np.ndarray:
    """Squared difference function δ² (b, V, V) for the level of measurement."""
    size = len(values)
    if level == "nominal":
        return np.broadcast_to(1.0 - np.eye(size), (len(marginals), size, size))
    if level == "interval":
        numbers = np.array([float(v) for v in values])
        return np.broadcast_to(
            (numbers[:, None] - numbers[None, :]) ** 2, (len(marginals), size, size)
        )
    cumulative = np.cumsum(marginals, axis=1)  # ordinal: ranks through the marginal counts
    low, high = (
        np.minimum.outer(np.arange(size), np.arange(size)),
        np.maximum.outer(np.arange(size), np.arange(size)),
    )
    between = (
        cumulative[:, high] - cumulative[:, low] + marginals[:, low]
    )  # sum of n_g, g in [low, high]
    return (between - (marginals[:, :, None] + marginals[:, None, :]) / 2) ** 2


def alpha_from_stats(stats: np.ndarray, size: int, level: Level, values: list[str]) -> np.ndarray:
    """Krippendorff's alpha per replicate row of summed coincidence matrices."""
    coincidence = stats.reshape(-1, size, size)
    marginals = coincidence.sum(axis=2)
    total = marginals.sum(axis=1)
    delta = distance(level, values, marginals)
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = np.sum(coincidence * delta, axis=(1, 2)) / total
        expected = np.sum(marginals[:, :, None] * marginals[:, None, :] * delta, axis=(1, 2)) / (
            total * (total - 1)
        )
        return 1 - observed / expected


def replicate_sums(
    rows: np.ndarray, weights: np.ndarray, resamples: int, seed: int, clusters=None
) -> np.ndarray:
    """(1 + resamples, S): the weighted total, then one weighted total per bootstrap replicate
    (`clusters`: int codes of the clusters resampled whole, e.g. a sample's drawn posts)."""
    totals = [(weights @ rows)[None, :]]
    per_chunk = chunk_size(len(rows) + rows.shape[1])
    drawn = draw_replicates(len(rows), resamples, seed, clusters, per_chunk)
    for replicates in drawn:
        totals.append((replicates.weights_over(len(rows)) * weights[None, :]) @ rows)
    return np.concatenate(totals)


@dataclass
class _Replicated:
    """Statistics summed over the items as coded and over each bootstrap replicate of them."""

    codes: np.ndarray  # items x columns, -1 where not coded
    size: int  # number of code values
    weights: np.ndarray  # per item
    resamples: int
    confidence: float
    seed: int
    clusters: np.ndarray | None = None  # per item its cluster, resampled whole

    def sums(self, rows: np.ndarray) -> np.ndarray:
        return replicate_sums(rows, self.weights, self.resamples, self.seed, self.clusters)

    def kappa(self, first: int, second: int) -> np.ndarray:
        """Cohen's kappa per replicate; NaN where it is undefined (no item coded by both, or
        chance agreement 1: both coders used one and the same code throughout)."""
        pairs = self.sums(pair_stats(self.codes, first, second, self.size))
        matrices = pairs.reshape(-1, self.size, self.size)
        total = matrices.sum(axis=(1, 2))
        with np.errstate(divide="ignore", invalid="ignore"):
            shares = matrices / total[:, None, None]
            chance = np.sum(shares.sum(axis=2) * shares.sum(axis=1), axis=1)
        kappas = metrics_from_confusion(matrices)["cohen_kappa"]
        return np.where((total > 0) & (chance < 1 - 1e-12), kappas, np.nan)

    def summarize(self, replicated: np.ndarray, undefined: str = "") -> dict:
        """The value and its interval; an undefined value is null with the reason."""
        if not np.isfinite(replicated[0]):
            return {"value": None, "ci": None, "undefined": undefined or "not defined here"}
        entry = {"value": float(replicated[0])}
        if self.resamples > 0:
            entry["ci"] = percentile_interval(replicated[1:], self.confidence)
        return entry


def agreement(
    frame: pd.DataFrame,
    raters: Sequence[str],
    model: str | None = None,
    level: Level = "nominal",
    bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    weight: str | None = None,
    levels: Sequence[str] | None = None,
    source: str = "codings",
    cluster: str | None = None,
) -> dict:
    """agreement.json: alpha, Fleiss' kappa, pairwise Cohen's kappa, and model vs humans;
    `cluster`: a column whose clusters the bootstrap resamples whole (the posts a validation
    sample drew)."""
    if level not in ("nominal", "ordinal", "interval"):
        raise InputError(f"--level must be nominal, ordinal or interval. Got '{level}'.")
    _check_columns(frame, raters, model, source)
    codings = Codings(frame, [*raters, *([model] if model else [])], source, levels)
    if level == "interval":
        _require_numbers(codings.values, source)
    size, values = len(codings.values), codings.values
    weights = _item_weights(frame, weight, source)
    groups = _cluster_codes(frame, cluster, source)
    stats = _Replicated(codings.codes, size, weights, bootstrap, confidence, seed, groups)
    humans = codings.codes[:, : len(raters)]
    alpha = alpha_from_stats(stats.sums(coincidence_stats(humans, size)), size, level, values)
    fleiss = fleiss_from_stats(stats.sums(fleiss_stats(humans, size)), len(raters))
    pairs = {(a, b): stats.kappa(a, b) for a, b in combinations(range(len(raters)), 2)}
    result = {
        "krippendorff_alpha": stats.summarize(alpha, ONE_CODE_OR_UNPAIRED),
        "gwet_ac1": _gwet(stats, humans, weight is None),
        "fleiss_kappa": stats.summarize(fleiss, _fleiss_undefined(humans)),
        "cohen_kappa": {
            f"{raters[a]}|{raters[b]}": _pair_entry(stats, kappas, codings.codes, a, b, raters)
            for (a, b), kappas in pairs.items()
        },
        "per_coder": _per_coder(stats, humans, raters),
        "n_items": codings.n_items,
        "n_items_coded_by_all": int((humans >= 0).all(axis=1).sum()),
        "level": level,
        "values": values,
    }
    if model:
        result["model"] = _model_entries(codings, raters, model, pairs, stats, level)
    result["bootstrap"] = {
        "resamples": bootstrap,
        "confidence": confidence,
        "seed": seed,
        "unit": f"clusters of '{cluster}'" if cluster else "items",
        "weights": weight,
    }
    return result


def _cluster_codes(frame: pd.DataFrame, cluster: str | None, source: str):
    if cluster is None:
        return None
    if cluster not in frame.columns or frame[cluster].isna().any():
        raise InputError(f"{source}: no '{cluster}' for every item, the clusters to resample.")
    return pd.factorize(frame[cluster].astype(str))[0]


def _gwet(stats: _Replicated, humans: np.ndarray, unweighted: bool) -> dict:
    """AC1; unweighted items get Gwet's own standard error and t interval (irrCAC's), weighted
    ones (a validation sample) the bootstrap interval."""
    found = stats.summarize(
        ac1_from_stats(stats.sums(ac1_stats(humans, stats.size)), stats.size),
        ONE_CODE_OR_UNPAIRED,
    )
    if found["value"] is None:
        return found
    if unweighted:
        analytic = ac1_interval(humans, stats.size, stats.confidence)
        if np.isfinite(analytic["se"]):
            return {**analytic, "interval": "Gwet's standard error, t interval"}
    return {**found, "interval": "bootstrap"}


def _per_coder(stats: _Replicated, humans: np.ndarray, raters: Sequence[str]) -> dict:
    """Each coder against the majority of the others: share agreeing and Cohen's kappa."""
    found = {}
    for index, coder in enumerate(raters):
        pair = np.column_stack([humans[:, index], consensus_of_others(humans, index, stats.size)])
        versus = replace(stats, codes=pair)
        shares = agreement_share(versus.sums(pair_stats(pair, 0, 1, stats.size)), stats.size)
        found[coder] = {
            "n_items": int(((pair[:, 0] >= 0) & (pair[:, 1] >= 0)).sum()),
            "agreement": versus.summarize(shares, "no item with both a code and a consensus"),
            "cohen_kappa": versus.summarize(versus.kappa(0, 1), NO_CONSENSUS_KAPPA),
        }
    return found


NO_CONSENSUS_KAPPA = "no item with both a code and a consensus, or a single code throughout"


def _model_entries(codings, raters, model, pairs, stats: _Replicated, level) -> dict:
    """Model vs each coder beside coder vs coder, and the difference of the two means."""
    coders = [*raters, model]
    versus = {(len(raters), i): stats.kappa(len(raters), i) for i in range(len(raters))}
    model_mean = np.mean(np.stack(list(versus.values())), axis=0)
    human_mean = np.mean(np.stack(list(pairs.values())), axis=0)
    size = len(codings.values)
    coincidences = stats.sums(coincidence_stats(codings.codes, size))
    with_model = alpha_from_stats(coincidences, size, level, codings.values)
    return {
        "cohen_kappa": {
            f"{model}|{coders[b]}": _pair_entry(stats, values, codings.codes, a, b, coders)
            for (a, b), values in versus.items()
        },
        "mean_cohen_kappa_model_vs_coders": stats.summarize(model_mean, SOME_KAPPA_UNDEFINED),
        "mean_cohen_kappa_between_coders": stats.summarize(human_mean, SOME_KAPPA_UNDEFINED),
        "difference_model_minus_coders": stats.summarize(
            model_mean - human_mean, SOME_KAPPA_UNDEFINED
        ),
        "krippendorff_alpha_with_model": stats.summarize(with_model, ONE_CODE_OR_UNPAIRED),
    }


ONE_CODE_OR_UNPAIRED = "no item has two codings, or every coding is the same code"
SOME_KAPPA_UNDEFINED = "a Cohen's kappa it averages is undefined"


def _pair_entry(stats, kappas, codes: np.ndarray, first: int, second: int, names) -> dict:
    """Cohen's kappa of two coders (columns `first`, `second`), naming them (`a`, `b`)."""
    found = stats.summarize(kappas, _pair_undefined(codes, first, second))
    return {"a": str(names[first]), "b": str(names[second]), **found}


def _pair_undefined(codes: np.ndarray, first: int, second: int) -> str:
    both = (codes[:, first] >= 0) & (codes[:, second] >= 0)
    if not both.any():
        return "no item coded by both"
    return "chance agreement is 1: both gave every item they share the same single code"


def _fleiss_undefined(humans: np.ndarray) -> str:
    if not (humans >= 0).all(axis=1).any():
        return "no item coded by every coder"
    return "chance agreement is 1: every coder gave the same single code"


def _check_columns(frame: pd.DataFrame, raters: Sequence[str], model, source: str) -> None:
    columns = f"Columns: {', '.join(map(str, frame.columns))}."
    missing = [c for c in raters if c not in frame.columns]
    if missing:
        raise InputError(f"{source}: no column(s) {missing} for the coders (--raters). {columns}")
    if len(raters) < 2:
        raise InputError(f"{source}: agreement needs at least two coders, got {list(raters)}.")
    if model and model not in frame.columns:
        raise InputError(
            f"{source}: no column '{model}' for the model's labels (--model). {columns}"
        )


def _item_weights(frame: pd.DataFrame, weight: str | None, source: str) -> np.ndarray:
    if weight is None:
        return np.ones(len(frame))
    if weight not in frame.columns:
        raise InputError(f"{source}: no weight column '{weight}'.")
    values = pd.to_numeric(frame[weight], errors="coerce").to_numpy(np.float64)
    bad = np.flatnonzero(~np.isfinite(values) | (values <= 0))
    if bad.size:
        raise InputError(
            f"{source}: weight column '{weight}' must be > 0; not so on row(s) {bad[:10].tolist()}."
        )
    return values


def _require_numbers(values: list[str], source: str) -> None:
    try:
        [float(v) for v in values]
    except ValueError as error:
        raise InputError(f"{source}: --level interval needs numeric codes ({error}).") from None
