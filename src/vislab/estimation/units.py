"""Estimates at the unit a study is about (`estimate --unit post --aggregate any|mean`): the
share of posts that show police (`any`: a post does if any of its images does), or the mean
share of a post's images (`mean`), from the images' labels and codes.

A unit's code needs all its images coded, so the sample must have drawn whole units: by the
unit itself (`validation-sample --cluster post`: a stratified random sample of posts, each
post's inclusion probability n_h / N_h), or by clusters the units lie in (`--cluster account`,
posts within accounts: a one-stage cluster sample of posts). The model's label of a unit is
aggregated the same way from its images' predictions, over the whole collection, and the
estimates (corrected, naive, coded_only; groups, differences) are those of images, with units
in their place.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vislab.errors import InputError
from vislab.estimation.design import CLUSTERED, STRATIFIED, Design

AGGREGATES = ("any", "mean")


def unit_view(collection, design: Design, classes, unit: str, aggregate: str, drawn: str | None):
    """(the collection as units, their design, per class each unit's model label and each
    coded unit's code): `drawn` is the column whose clusters the sample drew whole."""
    if aggregate not in AGGREGATES:
        raise InputError(f"--aggregate {aggregate!r}: choose any or mean.")
    if unit not in collection.columns or collection[unit].isna().any():
        raise InputError(
            f"--unit {unit}: the predictions need a '{unit}' for every image (the unit it "
            "belongs to)."
        )
    if drawn is None:
        raise InputError(
            f"--unit {unit}: a {unit}'s code needs every image of it coded, and a sample "
            f"drawn image by image codes {unit}s in part: draw whole {unit}s "
            f"(vislab validation-sample --cluster {unit}) and give that folder as --sample."
        )
    keys = collection[unit].astype(str)
    outer = collection[drawn].astype(str)
    _nested(keys, outer, unit, drawn)
    units = pd.Index(sorted(set(keys)))
    where = units.get_indexer(keys)
    predicted = collection["prediction"].astype(str).to_numpy()
    labels = {k: _aggregated(predicted == k, where, len(units), aggregate) for k in classes}
    coded_where = where[design.rows]
    rows = np.unique(coded_where)
    back = np.searchsorted(rows, coded_where)
    codes = {k: _aggregated(design.codes == k, back, len(rows), aggregate) for k in classes}
    frame = collection.groupby(where, sort=True).first().reset_index(drop=True)
    frame[unit] = units
    strata = pd.Series(design.strata).groupby(back).first().to_numpy()
    if drawn == unit:
        kind, clusters = STRATIFIED, None
    else:
        kind = CLUSTERED
        clusters = pd.Series(np.asarray(design.clusters)).groupby(back).first().to_numpy()
    placeholder = np.array([unit] * len(rows))  # the codes are per class, in `codes`
    view = Design(kind, rows, placeholder, strata, design.population, None, clusters, tune=False)
    return frame, view, labels, codes


def _aggregated(hit: np.ndarray, where: np.ndarray, count: int, aggregate: str) -> np.ndarray:
    totals = np.bincount(where, weights=hit.astype(float), minlength=count)
    if aggregate == "any":
        return (totals > 0).astype(float)
    return totals / np.bincount(where, minlength=count)


def _nested(keys: pd.Series, outer: pd.Series, unit: str, drawn: str) -> None:
    """Each unit inside one drawn cluster (the unit itself, or e.g. a post in one account)."""
    spread = outer.groupby(keys).nunique()
    split = spread[spread > 1]
    if len(split):
        raise InputError(
            f"--unit {unit}: {len(split)} {unit}(s) lie in several clusters of '{drawn}' (the "
            f"sample drew whole {drawn}s), e.g. {split.index[0]!r}: give a unit nested in "
            f"'{drawn}', or draw whole {unit}s."
        )


def unit_groups(frame: pd.DataFrame, collection: pd.DataFrame, spec: str, unit: str) -> None:
    """A `--by` column must be one value per unit (a post's region), checked on the images."""
    if spec in collection.columns:
        varied = collection.groupby(collection[unit].astype(str))[spec].nunique(dropna=False)
        if (varied > 1).any():
            raise InputError(
                f"--by {spec}: {int((varied > 1).sum())} {unit}(s) hold images of several "
                f"'{spec}' values, e.g. {varied[varied > 1].index[0]!r}: group {unit}s by a "
                f"column constant within a {unit}."
            )
