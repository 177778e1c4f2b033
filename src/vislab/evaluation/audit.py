"""Representation audit of a dataset's metadata: who and what is in the data, and how often.

For each attribute (and the intersection of all of them): counts and shares, missing values,
groups flagged as under-represented (share below `min_share` or fewer than `min_count`
images), a label x attribute table with Pearson's chi-square test of independence and
Cramér's V, and, when reference shares are given (a census, a sampling frame), the observed
minus the reference share and a chi-square goodness-of-fit test. Everything again per split.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency, chisquare
from scipy.stats.contingency import association

from vislab.errors import InputError
from vislab.files import rows_text

MISSING = "(missing)"


def audit(
    frame: pd.DataFrame,
    attributes: Sequence[str],
    reference: pd.DataFrame | None = None,
    min_share: float = 0.05,
    min_count: int = 30,
    source: str = "data",
    reference_source: str = "reference",
) -> dict:
    """audit.json: per attribute and intersection, overall and per split."""
    if reference is not None:
        reference = checked_reference(reference, reference_source)
    missing = [a for a in attributes if a not in frame.columns]
    if missing:
        raise InputError(
            f"{source}: no attribute column(s) {missing}. Columns: "
            f"{', '.join(map(str, frame.columns))}."
        )
    if not attributes:
        raise InputError(f"{source}: give at least one --attributes column.")
    specs = list(attributes) + (["*".join(attributes)] if len(attributes) > 1 else [])
    result = {
        "source": source,
        "n": len(frame),
        "attributes": {},
        "thresholds": {"min_share": min_share, "min_count": min_count},
    }
    for spec in specs:
        values = _values(frame, spec)
        entry = _representation(values, min_share, min_count)
        entry["missing"] = int((values == MISSING).sum())
        if "label" in frame.columns:
            entry["label_association"] = _association(frame["label"].astype(str), values)
        if reference is not None and spec in set(reference["attribute"]):
            entry["reference"] = _against_reference(
                values, reference[reference["attribute"] == spec]
            )
        if "split" in frame.columns:
            entry["splits"] = {
                str(split): _representation(values[frame["split"] == split], min_share, min_count)
                for split in sorted(frame["split"].dropna().unique())
            }
        result["attributes"][spec] = entry
    return result


def _values(frame: pd.DataFrame, spec: str) -> pd.Series:
    parts = [frame[c].astype("string").fillna(MISSING).astype(str) for c in spec.split("*")]
    combined = parts[0]
    for part in parts[1:]:
        combined = combined + "|" + part
    return combined.reset_index(drop=True).set_axis(frame.index)


def _representation(values: pd.Series, min_share: float, min_count: int) -> dict:
    counts = values.value_counts().sort_index()
    total = int(counts.sum())
    groups = {}
    for name, count in counts.items():
        share = count / total if total else 0.0
        groups[str(name)] = {
            "count": int(count),
            "share": float(share),
            "under_represented": bool(share < min_share or count < min_count),
        }
    return {"n": total, "groups": groups}


def _association(labels: pd.Series, values: pd.Series) -> dict:
    table = pd.crosstab(labels, values)
    entry = {
        "table": {str(k): {str(c): int(v) for c, v in row.items()} for k, row in table.iterrows()}
    }
    if min(table.shape) < 2:
        entry.update(chi2=None, p_value=None, dof=0, cramers_v=None)
        return entry
    chi2, p_value, dof, expected = chi2_contingency(table.to_numpy())  # Yates on 2x2
    cramers_v = association(table.to_numpy(), method="cramer")  # from the uncorrected chi2
    entry.update(
        chi2=float(chi2),
        p_value=float(p_value),
        dof=int(dof),
        cramers_v=float(cramers_v),
        expected_below_5=int((expected < 5).sum()),
    )
    return entry


def checked_reference(reference: pd.DataFrame, source: str) -> pd.DataFrame:
    """Reference shares: `attribute,value,share` rows, each share a number in [0, 1]."""
    missing = [c for c in ("attribute", "value", "share") if c not in reference.columns]
    if missing:
        raise InputError(
            f"{source}: reference shares need the columns attribute, value, share; missing "
            f"{missing}. Found: {', '.join(map(str, reference.columns))}."
        )
    shares = pd.to_numeric(reference["share"], errors="coerce")
    bad = np.flatnonzero(~shares.between(0, 1).to_numpy())
    if bad.size:
        raise InputError(
            f"{source}: share must be a number between 0 and 1 (e.g. 0.31); not so on "
            f"{rows_text(bad)} (first: {reference['share'].iloc[bad[0]]!r})."
        )
    return reference.assign(share=shares)


def _against_reference(values: pd.Series, reference: pd.DataFrame) -> dict:
    shares = reference.set_index(reference["value"].astype(str))["share"].astype(float)
    if not np.isclose(shares.sum(), 1.0, atol=0.01):
        raise InputError(
            f"reference shares of '{reference['attribute'].iloc[0]}' sum to {shares.sum():.3f}, "
            "not 1."
        )
    counts = values[values != MISSING].value_counts()
    observed = counts.reindex(shares.index, fill_value=0)
    unexpected = sorted(set(counts.index) - set(shares.index))
    total = observed.sum()
    comparison = {
        name: {
            "observed_share": float(observed[name] / total) if total else 0.0,
            "reference_share": float(shares[name]),
            "difference": float(observed[name] / total - shares[name]) if total else None,
        }
        for name in shares.index
    }
    statistic, p_value = chisquare(observed.to_numpy(), shares.to_numpy() / shares.sum() * total)
    return {
        "groups": comparison,
        "chi2": float(statistic),
        "p_value": float(p_value),
        "not_in_reference": unexpected,
    }


def audit_tables(result: dict) -> dict[str, pd.DataFrame]:
    """Flat tables for CSV: representation, reference comparison, label association."""
    rows, reference_rows, association_rows = [], [], []
    for spec, entry in result["attributes"].items():
        for name, group in entry["groups"].items():
            rows.append({"attribute": spec, "split": "all", "group": name, **group})
        for split, part in entry.get("splits", {}).items():
            for name, group in part["groups"].items():
                rows.append({"attribute": spec, "split": split, "group": name, **group})
        for name, group in entry.get("reference", {}).get("groups", {}).items():
            reference_rows.append({"attribute": spec, "group": name, **group})
        association = entry.get("label_association")
        if association:
            association_rows.append(
                {
                    "attribute": spec,
                    **{k: association.get(k) for k in ("chi2", "dof", "p_value", "cramers_v")},
                }
            )
    tables = {"representation": pd.DataFrame(rows)}
    if reference_rows:
        tables["reference"] = pd.DataFrame(reference_rows)
    if association_rows:
        tables["label_association"] = pd.DataFrame(association_rows)
    return tables
