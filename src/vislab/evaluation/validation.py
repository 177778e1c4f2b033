"""A stratified random sample of a model's predictions for human coding, with sampling weights.

Before trusting a model's labels on 100,000 images, a human codes a sample. The sample is
stratified (by predicted class, by any metadata column, and by confidence band), drawn without
replacement within each stratum, and every sampled image carries its inclusion probability
n_h / N_h and weight N_h / n_h. Estimates computed with those weights (`vislab evaluate
--sample DIR`, `vislab agreement --sample DIR`) hold for the whole collection, not just the
sample (inverse-probability weighting).

Allocation: proportional to stratum size (at least two images per stratum), or equal per stratum;
`oversample_uncertain` adds the confidence band to the strata and gives the low- and mid-
confidence bands three and two times their proportional share.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from vislab.errors import InputError
from vislab.evaluation.allocation import allocate
from vislab.evaluation.inputs import check_collection, filled_column
from vislab.files import read_table, write_atomic
from vislab.predictions import score_columns

BANDS = ((0.6, "low"), (0.9, "mid"), (1.01, "high"))  # max score below the bound -> band
BAND_FACTOR = {"low": 3.0, "mid": 2.0, "high": 1.0}
SAMPLE_FILE, SHEET_FILE, DESIGN_FILE = "sample.csv", "coding_sheet.csv", "design.json"
STRATA_EMPTY = (
    "those images could never be drawn. Fill the cells (e.g. 'unknown'), or leave those images "
    "out of the predictions and of what you report."
)
SAMPLE_ID = "sample_id"  # the column and key that name the sample a coded file belongs to


def confidence_band(frame: pd.DataFrame) -> pd.Series:
    scores = score_columns(frame)
    if not scores:
        raise InputError("--oversample-uncertain needs score_<class> columns in the predictions.")
    top = frame[scores].max(axis=1).to_numpy()
    bands = np.select([top < bound for bound, _ in BANDS], [name for _, name in BANDS], "high")
    return pd.Series(bands, index=frame.index)


def draw_sample(
    predictions: pd.DataFrame,
    size: int,
    strata: Sequence[str] = ("prediction",),
    oversample_uncertain: bool = False,
    allocation: str = "proportional",
    seed: int = 0,
    cluster: str | None = None,
) -> pd.DataFrame:
    """The sampled rows with `stratum`, `inclusion_probability` and `weight` columns; with
    `cluster`, whole clusters of that column (`cluster_sample.py`)."""
    if size <= 0:
        raise InputError(f"--size must be > 0. Got {size}.")
    if cluster is not None:
        return _draw_whole_clusters(
            predictions, size, strata, oversample_uncertain, allocation, seed, cluster
        )
    frame = stratified(check_collection(predictions), strata, oversample_uncertain)
    sizes = frame["stratum"].value_counts().sort_index()
    factors = None
    if oversample_uncertain:
        band_of = frame.groupby("stratum")["confidence_band"].first()
        factors = band_of.map(BAND_FACTOR).reindex(sizes.index)
    return draw_counts(frame, allocate(sizes, size, factors, allocation), seed)


def _draw_whole_clusters(predictions, size, strata, bands, allocation, seed, cluster):
    from vislab.evaluation.cluster_sample import cluster_counts, cluster_strata, draw_clusters

    if bands:
        raise InputError(
            "--oversample-uncertain draws images one by one: with --cluster, whole clusters are "
            "drawn; stratify them by --strata instead."
        )
    frame = check_collection(predictions)
    per_cluster = cluster_strata(frame, cluster, strata)
    counts = cluster_counts(per_cluster, size, allocation)
    return draw_clusters(frame, cluster, counts, per_cluster, seed)


def stratified(frame: pd.DataFrame, strata: Sequence[str], bands: bool) -> pd.DataFrame:
    """The rows with their `stratum` (the strata columns' values, and the confidence band)."""
    for column in strata:
        filled_column(frame, column, "--strata", STRATA_EMPTY)
    keys = [frame[c].astype(str) for c in strata]
    if bands:
        frame = frame.assign(confidence_band=confidence_band(frame))
        keys.append(frame["confidence_band"])
    return frame.assign(stratum=keys[0].str.cat(keys[1:], sep="|") if keys else "all")


def draw_counts(frame: pd.DataFrame, counts: pd.Series, seed: int) -> pd.DataFrame:
    """`counts[stratum]` rows drawn at random from each stratum of a `stratified` frame, with
    their inclusion probability and weight."""
    sizes = frame["stratum"].value_counts()
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


def sample_design(table: pd.DataFrame, sample: pd.DataFrame, settings: dict) -> dict:
    """design.json: the collection's and the sample's sizes, how it was drawn, and per stratum
    the images of the collection and of the sample (with `cluster`: the clusters, and the
    sample's images)."""
    cluster = settings.get("cluster")
    per_stratum = {}
    for k, g in sample.groupby("stratum"):
        drawn = g[cluster].astype(str).nunique() if cluster else len(g)
        entry = {"population": int(round(drawn * g["weight"].iloc[0])), "sample": int(drawn)}
        per_stratum[str(k)] = {**entry, "sample_images": len(g)} if cluster else entry
    from vislab.evaluation.inputs import collection_fingerprint

    found = {"population": len(table), "sample": len(sample), **settings}
    found["collection_sha256"] = collection_fingerprint(table)
    if cluster:
        found["population_clusters"] = int(table[cluster].astype(str).nunique())
    return {**found, "per_stratum": per_stratum}


def write_sample(
    sample: pd.DataFrame,
    out: str | Path,
    coders: Sequence[str],
    design: dict,
    base: Path,
    earlier: pd.DataFrame | None = None,
) -> list[str]:
    """sample.csv (the key: item, id, path, weight, the model's outputs), coding_sheet.csv and
    images/ for the coders. The sheet shows an item number and the image only (`images/0001.png`,
    in an order that hides the strata): no path, file name or model label that could carry the
    class. Returns the ids whose image could not be found (`base`: where relative paths start,
    besides the working folder). With `earlier` (the rows of earlier rounds, adaptive.py),
    sample.csv keeps them first and the new rows' items follow theirs; the sheet, images and
    page hold the new rows only."""
    from vislab.files import write_json

    out = Path(out)
    seed = design.get("rounds", [design])[-1]["seed"]  # this round's
    order = np.random.default_rng(seed + 1).permutation(len(sample))  # hide the strata
    keyed = sample.iloc[order].reset_index(drop=True)
    first = 1 if earlier is None else int(earlier["item"].max()) + 1
    keyed.insert(0, "item", np.arange(first, first + len(keyed)))
    images, missing = _copy_images(keyed, out, base)
    whole = keyed if earlier is None else pd.concat([earlier, keyed], ignore_index=True)
    write_atomic(out / SAMPLE_FILE, whole.to_csv(index=False))
    identity = sample_id(out)
    sheet = pd.DataFrame({"item": keyed["item"], "image": images})
    for coder in coders:
        sheet[coder] = ""
    sheet[SAMPLE_ID] = identity
    write_atomic(out / SHEET_FILE, sheet.to_csv(index=False))
    if "rounds" in design:  # this round's own id and folder
        last = {**design["rounds"][-1], SAMPLE_ID: identity, "folder": str(out)}
        design = {**design, "rounds": [*design["rounds"][:-1], last]}
    write_json(out / DESIGN_FILE, {**design, SAMPLE_ID: identity})
    return missing


def drawn_clusters(sample_dir: str | Path) -> str | None:
    """The column whose clusters the sample drew whole (design.json's `cluster`), if any: its
    estimates resample, and take the variance of, those clusters."""
    import json

    path = Path(sample_dir) / DESIGN_FILE
    return json.loads(path.read_text()).get("cluster") if path.is_file() else None


def adaptive_rounds(sample_dir: str | Path) -> list[dict] | None:
    """design.json's `rounds` (adaptive.py), where the sample has rounds after the first."""
    import json

    path = Path(sample_dir) / DESIGN_FILE
    rounds = json.loads(path.read_text()).get("rounds") if path.is_file() else None
    return rounds if rounds and len(rounds) > 1 else None


def one_round(sample_dir: str | Path) -> Path:
    """`sample_dir`, where it is a probability sample of one round; metrics and agreement
    weighted by a sample refuse adaptive rounds (their weights are per draw) and name the
    first round's folder, whose weights they can use."""
    rounds = adaptive_rounds(sample_dir)
    if rounds:
        raise InputError(
            f"{sample_dir} has {len(rounds)} adaptive rounds, whose images were drawn for the "
            f"model's uncertainty: give the first round's folder ({rounds[0].get('folder')}) "
            "for weighted metrics or agreement; `vislab estimate --sample` combines the rounds."
        )
    return Path(sample_dir)


def sample_id(sample_dir: str | Path) -> str:
    """The sample's identity: the start of the sha256 of its sample.csv. The coding sheet and
    the coding page's downloads carry it, so codes of one draw are never read as another's."""
    import hashlib

    return hashlib.sha256((Path(sample_dir) / SAMPLE_FILE).read_bytes()).hexdigest()[:16]


def _copy_images(keyed: pd.DataFrame, out: Path, base: Path) -> tuple[list[str], list[str]]:
    """Each item's image as images/NNNN.jpg (or .png when small), re-encoded at most 1,024 px
    on its longer side (no name, no embedded metadata), several at a time."""
    from concurrent.futures import ThreadPoolExecutor

    source = keyed["path"] if "path" in keyed.columns else keyed["id"]
    width = max(4, len(str(len(keyed))))
    (out / "images").mkdir(parents=True, exist_ok=True)
    jobs = [
        (out / "images" / f"{item:0{width}d}", path, base)
        for item, path in zip(keyed["item"], source.astype(str), strict=True)
    ]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # PIL frees the GIL
        names = list(pool.map(_copied, jobs))
    missing = [str(i) for i, name in zip(keyed["id"], names, strict=True) if not name]
    return names, missing


def _copied(job: tuple[Path, str, Path]) -> str:
    """images/NNNN.<suffix> written for one item, or "" where its image cannot be read (the
    coders need another way to see it)."""
    from vislab.data.images import for_people, read_image

    stem, path, base = job
    file = next((f for f in (Path(path), base / path) if f.is_file()), None)
    try:
        if file is None:
            raise InputError(f"{path}: not found")
        content, suffix = for_people(read_image(file))
    except InputError:
        return ""
    write_atomic(stem.with_suffix(suffix), content)
    return f"images/{stem.name}{suffix}"


def attach_sample(frame: pd.DataFrame, sample_dir: str | Path) -> pd.DataFrame:
    """Join a coded sheet (by `item`; or any table with the images' `id`) to its sample: adds
    id, path, weight and the model's outputs. A column both have is the coded table's (a
    coder's `label` over the collection's own `label` metadata)."""
    path = Path(sample_dir) / SAMPLE_FILE
    if not path.is_file():
        raise InputError(
            f"{sample_dir}: no {SAMPLE_FILE}; give the folder `vislab validation-sample` wrote."
        )
    sample = read_table(path)
    _same_sample(frame, Path(sample_dir))
    key = "item" if "item" in frame.columns and "item" in sample.columns else "id"
    if key not in frame.columns:
        raise InputError(
            "the coded table needs the 'item' column of the coding sheet (or the images' 'id')."
        )
    unknown = sorted(set(frame[key].astype(str)) - set(sample[key].astype(str)))
    if unknown:
        raise InputError(
            f"{len(unknown)} {key}(s) of the coded table are not in the sample, e.g. "
            f"{unknown[:3]}: is this the sheet of {sample_dir}?"
        )
    frame = frame.drop(columns=SAMPLE_ID, errors="ignore")
    own = [c for c in frame.columns if c != key]
    extra = sample.drop(columns=[c for c in own if c in sample.columns])
    return frame.assign(**{key: frame[key].astype(str)}).merge(
        extra.assign(**{key: extra[key].astype(str)}), on=key
    )


def _same_sample(frame: pd.DataFrame, sample_dir: Path) -> None:
    """Codes carry the id of the sample they were coded on (the sheet's and the page's
    `sample_id`; files made before it, or by hand, have none and are taken as they are); one
    from another draw is an error, as its item numbers would point at other images. The codes
    of an adaptive sample's earlier rounds carry those rounds' ids (design.json `rounds`)."""
    if SAMPLE_ID not in frame.columns:
        return
    expected = sample_id(sample_dir)
    known = {expected} | {str(r.get(SAMPLE_ID)) for r in adaptive_rounds(sample_dir) or []}
    found = sorted(set(frame[SAMPLE_ID].dropna().astype(str)) - known)
    if found:
        raise InputError(
            f"the coded file(s) were coded on sample {found[0]}, but {sample_dir} is sample "
            f"{expected}: give the folder whose coding sheet or page the coders used (its item "
            "numbers point at other images)."
        )


def checked_in_sample(coded: list[Path], sample_dir: Path) -> None:
    """Every coded file's items are items of the sample: the file and row of the first that
    is not (a file of another sample's sheet points at other images)."""
    from vislab.evaluation.coded import as_table

    path = Path(sample_dir) / SAMPLE_FILE
    if not path.is_file():
        raise InputError(f"{sample_dir}: no {SAMPLE_FILE}; give the folder of the coded sample.")
    sample = as_table(path)
    for number, file in enumerate(coded):
        table = as_table(file)
        file = f"coded table {number + 1}" if isinstance(file, pd.DataFrame) else file
        key = "item" if "item" in table.columns and "item" in sample.columns else "id"
        if key not in table.columns:
            raise InputError(
                f"{file}: no 'item' (or 'id') column: give a coding sheet or download."
            )
        known = set(sample[key].astype(str))
        stray = [i for i, v in enumerate(table[key].astype(str)) if v not in known]
        if stray:
            raise InputError(
                f"{file}: row {stray[0] + 2}: {key} {table[key].iloc[stray[0]]} is not in the "
                f"sample {sample_dir} ({len(stray)} such rows): give the files coded on it."
            )
