"""A validation sample of whole clusters (`validation-sample --cluster post`): images nested in
posts, accounts or events are drawn a cluster at a time, every image of a drawn cluster coded.

Clusters are stratified by what is constant within them: the strata columns must not change
inside a cluster, except `prediction`, which for a cluster is its predicted make-up, the class
predicted most often among its images (ties: the first in name order). Within each stratum `h`
of `N_h` clusters, `n_h` are drawn without replacement (proportional to the stratum's clusters,
or equal, at least two where it holds two), as many clusters as hold `size` images at the
collection's mean cluster size, so that the sample has about `size` images; each
image of a drawn cluster has inclusion probability `n_h / N_h` and weight `N_h / n_h`. The
estimates' variance is then the one-stage cluster sample's (`vislab.estimation.strata`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from vislab.errors import InputError
from vislab.evaluation.allocation import allocate
from vislab.evaluation.inputs import filled_column


def cluster_strata(frame: pd.DataFrame, cluster: str, strata: Sequence[str]) -> pd.DataFrame:
    """One row per cluster (its key, `images`, `stratum`), in the clusters' name order."""
    belong = "every image needs the post (account, event) it belongs to; give a lone image a key "
    filled_column(frame, cluster, "--cluster", belong + "of its own.")
    keys = frame[cluster].astype(str)
    groups = frame.groupby(keys, sort=True)
    per_cluster = pd.DataFrame({"images": groups.size()})
    parts = []
    for column in strata:
        filled_column(frame, column, "--strata", "their clusters could never be drawn: fill them.")
        values = frame[column].astype(str)
        if column == "prediction":
            parts.append(values.groupby(keys).agg(_most_common))
            continue
        _constant_within(values, keys, column, cluster)
        parts.append(values.groupby(keys).first())
    if parts:
        per_cluster["stratum"] = parts[0].str.cat(parts[1:], sep="|")
    else:
        per_cluster["stratum"] = "all"
    return per_cluster


def _most_common(values: pd.Series) -> str:
    counts = values.value_counts()
    return str(min(counts.index[counts == counts.max()]))


def _constant_within(values: pd.Series, keys: pd.Series, column: str, cluster: str) -> None:
    varied = values.groupby(keys).nunique()
    split = varied[varied > 1]
    if len(split):
        first = split.index[0]
        seen = sorted(values[keys == first].unique())
        raise InputError(
            f"--strata {column}: {len(split)} cluster(s) of '{cluster}' hold images of several "
            f"strata, e.g. {first!r} ({', '.join(seen[:3])}): a cluster is drawn whole, so it "
            f"belongs to one stratum. Stratify by columns constant within a {cluster} (or by "
            "prediction: the cluster's most frequent predicted class)."
        )


def cluster_counts(per_cluster: pd.DataFrame, size: int, allocation: str) -> pd.Series:
    """Clusters to draw per stratum: as many as hold `size` images at the collection's mean
    cluster size (all of them where the collection holds fewer images), shared among the
    strata as images are, at least two in every stratum that holds two."""
    clusters = per_cluster["stratum"].value_counts().sort_index()
    wanted = int(np.ceil(size / per_cluster["images"].mean()))
    least = int(np.minimum(2, clusters).sum())
    return allocate(clusters, max(wanted, least), None, allocation)


def draw_clusters(
    frame: pd.DataFrame, cluster: str, counts: pd.Series, per_cluster: pd.DataFrame, seed: int
) -> pd.DataFrame:
    """Every image of `counts[stratum]` clusters drawn at random in each stratum, with
    `stratum`, `inclusion_probability` and `weight` (of its cluster's draw)."""
    rng = np.random.default_rng(seed)
    chosen = []
    for stratum, members in per_cluster.groupby("stratum", sort=True):
        keys = np.asarray(members.index)
        chosen.extend(rng.choice(keys, size=int(counts[stratum]), replace=False).tolist())
    keys = frame[cluster].astype(str)
    sample = frame[keys.isin(set(chosen))].copy()
    stratum = keys[sample.index].map(per_cluster["stratum"])
    sizes = per_cluster["stratum"].value_counts()
    probability = stratum.map(counts / sizes)
    return sample.assign(
        stratum=stratum, inclusion_probability=probability, weight=1.0 / probability
    )
