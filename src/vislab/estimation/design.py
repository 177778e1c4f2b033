"""The coded sample and its design: which collection rows were coded, with which code, and the
stratum and weight of each (a simple random sample is one stratum)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from vislab.errors import InputError
from vislab.evaluation.coded import merged_codes as coder_files
from vislab.evaluation.inputs import collection_fingerprint
from vislab.files import read_table

SIMPLE, STRATIFIED, CLUSTERED = "simple random", "stratified", "clustered"
ADAPTIVE = "adaptive rounds"


@dataclass
class Later:
    """The coded images of an adaptive sample's rounds after the first (evaluation/adaptive.py):
    per image its collection row, code, round, draws and draw probability; per round its
    number of draws (`sizes`) and what design.json says of it (`entries`)."""

    rows: np.ndarray
    codes: np.ndarray
    round: np.ndarray
    draws: np.ndarray
    probability: np.ndarray
    sizes: dict[int, int]
    entries: list[dict]


@dataclass
class Design:
    """`rows`: positions in the collection of the coded images; `codes`: their codes (str);
    `strata`: each one's stratum; `population`: per stratum, the collection images it holds
    (the clusters, where whole clusters were drawn); `members`: per collection image its
    stratum, where the draw can be repeated on the predictions (None where it cannot: only the
    strata's sizes are known then); `clusters`: per coded image its cluster, where whole
    clusters were drawn (None: images drawn one by one); `tune`: False where the sampled units
    are drawn clusters (units.py), too few to tune the model's weight on."""

    kind: str
    rows: np.ndarray
    codes: np.ndarray
    strata: np.ndarray
    population: dict[str, float]
    members: np.ndarray | None = None
    clusters: np.ndarray | None = None
    tune: bool = True  # may PPI++'s lambda be tuned on the sample (Strata.tunes)
    later: Later | None = None  # an adaptive sample's later rounds (the rest is the first)


def merged_codes(coded: list, label_column: str) -> pd.DataFrame:
    """Every coder's file joined on `item` (or `id`); `label_column` must be among them."""
    merged = coder_files(coded)
    if label_column not in merged.columns:
        found = ", ".join(map(str, merged.columns))
        raise InputError(
            f"coded files: no column '{label_column}' (--label-column). Found: {found}."
        )
    return merged


def coded_design(
    collection: pd.DataFrame, coded: pd.DataFrame, label_column: str, sample_dir=None
) -> Design:
    """Join the codes to the collection; the design from `sample_dir` (stratified, with the
    strata's sizes; whole clusters where it drew them) or, without it, a simple random sample
    of the whole collection."""
    from vislab.evaluation.validation import attach_sample, drawn_clusters

    cluster = drawn_clusters(sample_dir) if sample_dir is not None else None
    if sample_dir is not None:
        _same_collection(Path(sample_dir), collection, cluster)
        coded = attach_sample(coded, sample_dir)
    elif "id" not in coded.columns:
        raise InputError(
            "the coded files have 'item' numbers but no 'id': give --sample, the folder "
            "`vislab validation-sample` wrote, to know which image each item is."
        )
    _check_coded(coded, label_column, sample_dir)
    ids = coded["id"].astype(str).to_numpy(dtype=object)
    rows = pd.Index(collection["id"].astype(str).to_numpy(dtype=object)).get_indexer(ids)
    if (rows < 0).any():
        raise InputError(
            f"{(rows < 0).sum()} coded image(s) are not in the predictions, e.g. "
            f"{ids[rows < 0][0]!r}: code a sample of this collection (or predict the images first)."
        )
    if len(rows) < 2:
        raise InputError(
            f"{len(rows)} coded image: an interval needs at least 2 (code the whole sample)."
        )
    codes = coded[label_column].astype(str).to_numpy()
    later = None
    if sample_dir is not None and "round" in coded.columns:
        first = pd.to_numeric(coded["round"]).to_numpy() == 1
        if not first.all():
            later = _later(coded[~first], rows[~first], codes[~first], Path(sample_dir))
            coded, rows, codes = coded[first], rows[first], codes[first]
    if sample_dir is None:
        strata = np.array(["all"] * len(rows))
        everyone = np.array(["all"] * len(collection))
        return Design(SIMPLE, rows, codes, strata, {"all": float(len(collection))}, everyone)
    strata = coded["stratum"].astype(str).to_numpy()
    population = _stratum_sizes(Path(sample_dir))
    if cluster is not None:  # whole clusters drawn: the strata count clusters
        clusters = coded[cluster].astype(str).to_numpy(dtype=object)
        return Design(CLUSTERED, rows, codes, strata, population, None, clusters)
    members = _members(collection, Path(sample_dir), population)
    if members is not None and (members[rows] != strata).any():
        members = None  # the predictions' strata are not the sample's: sizes only
    kind = STRATIFIED if later is None else ADAPTIVE
    return Design(kind, rows, codes, strata, population, members, later=later)


def _later(coded: pd.DataFrame, rows: np.ndarray, codes: np.ndarray, sample_dir: Path) -> Later:
    """The later rounds' images, checked against design.json: each round's draws add up."""
    entries = _design_of(sample_dir).get("rounds") or []
    number = pd.to_numeric(coded["round"]).to_numpy(dtype=int)
    draws = pd.to_numeric(coded["draws"]).to_numpy(dtype=int)
    sizes = {int(e["round"]): int(e["draws"]) for e in entries if int(e["round"]) > 1}
    for t in np.unique(number):
        found = int(draws[number == t].sum())
        if sizes.get(int(t)) != found:
            raise InputError(
                f"{sample_dir}: round {t} of sample.csv has {found} draws, design.json says "
                f"{sizes.get(int(t))}: the files were changed; draw the round again."
            )
    probability = pd.to_numeric(coded["draw_probability"]).to_numpy(dtype=float)
    return Later(rows, codes, number, draws, probability, sizes, entries)


def _members(collection: pd.DataFrame, sample_dir: Path, population: dict) -> np.ndarray | None:
    """Per collection image its stratum, by the draw's own rule (design.json's strata columns
    and confidence bands) where the predictions give every stratum its size; otherwise None
    (the sample was drawn from other predictions' strata)."""
    import json

    from vislab.evaluation.validation import DESIGN_FILE, stratified

    settings = json.loads((sample_dir / DESIGN_FILE).read_text())
    columns = settings.get("strata")
    bands = settings.get("oversample_uncertain", settings.get("confidence_bands"))
    if columns is None or bands is None:
        return None
    try:
        found = stratified(collection, list(columns), bool(bands))["stratum"]
    except InputError:
        return None
    sizes = found.value_counts()
    if {str(k): float(v) for k, v in sizes.items()} != population:
        return None
    return found.astype(str).to_numpy(dtype=object)


def _check_coded(coded: pd.DataFrame, label_column: str, sample_dir) -> None:
    blank = coded[coded[label_column].isna() | (coded[label_column].astype(str).str.strip() == "")]
    if len(blank):
        key = "item" if "item" in blank.columns else "id"
        raise InputError(
            f"{len(blank)} sampled image(s) have no code in '{label_column}' (e.g. {key} "
            f"{blank[key].iloc[0]}): code every image of the sample — the estimate needs the "
            "whole random sample, and images left out are not left out at random."
        )
    if sample_dir is not None:
        from vislab.evaluation.validation import SAMPLE_FILE

        sample = read_table(Path(sample_dir) / SAMPLE_FILE)
        missing = sorted(set(sample["id"].astype(str)) - set(coded["id"].astype(str)))
        if missing:
            raise InputError(
                f"{len(missing)} image(s) of the sample in {sample_dir} are not in the coded "
                f"files (e.g. {missing[0]!r}): code them all, or give every coder's file."
            )


def _same_collection(sample_dir: Path, collection: pd.DataFrame, cluster: str | None) -> None:
    drawn = sum(_stratum_sizes(sample_dir).values())
    if cluster is None:
        size, what = len(collection), "images"
    elif cluster not in collection.columns:
        raise InputError(
            f"{sample_dir} drew whole clusters of '{cluster}', and the predictions have no "
            f"column '{cluster}': give the predictions the sample was drawn from."
        )
    else:
        size, what = collection[cluster].astype(str).nunique(), f"{cluster}s"
    recorded = _design_of(sample_dir).get("collection_sha256")
    if drawn == size and recorded and recorded != collection_fingerprint(collection):
        raise InputError(
            f"{sample_dir} was drawn from other images than these predictions' (the ids "
            "differ): give the predictions the sample was drawn from."
        )
    if drawn != size:
        raise InputError(
            f"{sample_dir} was drawn from {drawn:.0f} {what}, the predictions have {size}: give "
            "the predictions the sample was drawn from."
        )


def _stratum_sizes(sample_dir: Path) -> dict[str, float]:
    """Per stratum, the images (or, whole clusters drawn, the clusters) of the collection in
    it: design.json's counts."""
    design = _design_of(sample_dir)
    return {str(s): float(v["population"]) for s, v in design["per_stratum"].items()}


def _design_of(sample_dir: Path) -> dict:
    import json

    from vislab.evaluation.validation import DESIGN_FILE

    path = sample_dir / DESIGN_FILE
    if not path.is_file():
        raise InputError(
            f"{sample_dir}: no {DESIGN_FILE}; give the folder `vislab validation-sample` wrote."
        )
    return json.loads(path.read_text())
