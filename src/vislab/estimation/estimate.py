"""`vislab estimate`: estimates.json from a predicted collection and its coded sample."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from vislab.errors import InputError
from vislab.estimation.design import Design, coded_design, merged_codes
from vislab.estimation.prevalence import Domain, difference, prevalence
from vislab.estimation.rounds import prevalence_in_rounds
from vislab.estimation.strata import Strata
from vislab.evaluation.coded import as_table
from vislab.evaluation.inputs import check_collection
from vislab.predictions import classes_of


def estimate(
    predictions,
    coded,
    label_column: str,
    sample=None,
    by: Sequence[str] = (),
    formula: str | None = None,
    confidence: float = 0.95,
    seed: int = 0,
    regression: str = "linear",
    unit: str | None = None,
    aggregate: str = "any",
) -> dict:
    """estimates.json's content: per class its prevalence in the collection, overall and per
    group of each `by` column (corrected, naive, coded_only), and the differences between
    groups with Holm-adjusted p-values; with `formula`, a `regression` ("linear" or "logistic")
    whose variables are classes or columns of the predictions, corrected the same way.
    `predictions`, `coded`: paths or DataFrames (`coded`: one, or a list of every coder's file).
    `seed` is recorded; the intervals draw nothing. With `unit`, every estimate is of units
    (a post: its images aggregated, `aggregate` any or mean; units.py)."""
    collection = check_collection(as_table(predictions))
    files = list(coded) if isinstance(coded, list | tuple) else [coded]
    if sample is not None:  # a file of another sample: named, with its row
        from vislab.evaluation.validation import checked_in_sample

        checked_in_sample(files, sample)
    design = coded_design(collection, merged_codes(files, label_column), label_column, sample)
    classes = checked_classes(collection, design, label_column)
    if formula is not None and design.later is not None:
        raise InputError(
            "--formula with adaptive rounds: a regression over rounds is not estimated yet; "
            "give the first round's folder to --sample for the regression, or estimate shares "
            "by group (--by) over every round."
        )
    if unit is None:
        predicted = collection["prediction"].astype(str).to_numpy()
        labels = {k: (predicted == k).astype(float) for k in classes}
        codes = {k: (design.codes == k).astype(float) for k in classes}
    else:
        collection, design, labels, codes = _as_units(
            collection, design, classes, unit, aggregate, sample, by, formula
        )
    strata = Strata.of(design)
    later = design.later
    if later is not None:
        later_codes = {k: (later.codes == k).astype(float) for k in classes}

    def shares(domain: Domain) -> dict:
        if later is None:
            return {
                k: prevalence(
                    labels[k], codes[k], labels[k][design.rows], domain, strata, confidence
                )
                for k in classes
            }
        return {
            k: prevalence_in_rounds(
                labels[k],
                codes[k],
                labels[k][design.rows],
                later_codes[k],
                domain,
                strata,
                later,
                confidence,
            )
            for k in classes
        }

    everything = Domain(np.ones(len(collection), bool), np.ones(len(design.rows), bool))
    result = {
        **({"unit": unit, "aggregate": aggregate} if unit else {}),
        "n_collection": len(collection),
        "n_coded": len(design.rows) + (0 if later is None else len(later.rows)),
        "design": design.kind,
        **_clusters_coded(design),
        **_rounds(design),
        "collapsed_strata": strata.collapsed,
        "confidence": confidence,
        "label_column": label_column,
        "classes": classes,
        "prevalence": shares(everything),
        "groups": {},
        "differences": {},
    }
    for spec in by:
        domains = _domains(collection, design, spec)
        result["groups"][spec] = {
            name: {"n": d.size, "n_coded": _coded_in(d, later), "prevalence": shares(d)}
            for name, d in domains.items()
        }
        result["differences"][spec] = _differences(
            domains, labels, codes, design, strata, confidence
        )
    if formula is not None:
        result["regression"] = _regression(
            collection, design, strata, classes, formula, regression, confidence
        )
    result["inputs"] = inputs_of(predictions, files, sample, seed)
    return result


def _as_units(collection, design, classes, unit, aggregate, sample, by, formula):
    """The collection, design, labels and codes of units (units.py)."""
    from vislab.estimation.units import unit_groups, unit_view
    from vislab.evaluation.validation import drawn_clusters

    if design.later is not None:
        raise InputError(
            f"--unit {unit} with adaptive rounds: those draw images one by one, not whole "
            f"{unit}s; draw whole {unit}s (validation-sample --cluster {unit})."
        )
    if formula is not None:
        raise InputError(
            f"--formula with --unit: a regression over {unit}s is not estimated yet; estimate "
            "the shares by group (--by) at that unit, or the regression over images."
        )
    drawn = drawn_clusters(sample) if sample is not None else None
    found = unit_view(collection, design, classes, unit, aggregate, drawn)
    for spec in by:
        unit_groups(found[0], collection, spec, unit)
    return found


def _rounds(design: Design) -> dict:
    """Per round of an adaptive sample: its images, draws, weight and uniform share."""
    from vislab.estimation.rounds import weights

    later = design.later
    if later is None:
        return {}
    w = weights(later, len(design.rows))
    found = [{"round": 1, "n_coded": len(design.rows), "weight": float(w[0])}]
    for (t, size), wt, entry in zip(
        sorted(later.sizes.items()), w[1:], later.entries[1:], strict=True
    ):
        images = int((later.round == t).sum())
        share = entry.get("uniform_share")
        found.append(
            {
                "round": t,
                "n_coded": images,
                "draws": size,
                "weight": float(wt),
                "uniform_share": share,
            }
        )
    return {"rounds": found}


def _coded_in(domain: Domain, later) -> int:
    from vislab.estimation.rounds import coded_in

    return int(domain.coded.sum()) if later is None else coded_in(domain, later)


def _clusters_coded(design: Design) -> dict:
    """How many whole clusters were coded, for a clustered design."""
    if design.clusters is None:
        return {}
    pairs = pd.DataFrame({"stratum": design.strata, "cluster": design.clusters})
    return {"n_clusters_coded": int(len(pairs.drop_duplicates()))}


def checked_classes(collection: pd.DataFrame, design: Design, label_column: str) -> list[str]:
    """The collection's classes, once every code is known to be one of them."""
    known = set(classes_of(collection))
    later = set() if design.later is None else set(design.later.codes)
    unknown = sorted((set(design.codes) | later) - known)
    if unknown:
        raise InputError(
            f"coded '{label_column}': {unknown[:5]} are not classes of the predictions "
            f"({', '.join(sorted(known))}). Fix the codes (an 'unsure' must be decided first)."
        )
    return sorted(known)


def _domains(collection: pd.DataFrame, design: Design, spec: str) -> dict[str, Domain]:
    from vislab.evaluation.groups import group_values

    values = group_values(collection, spec, "predictions", option="--by").to_numpy()
    return {
        name: Domain(values == name, values[design.rows] == name) for name in sorted(set(values))
    }


def _differences(domains, labels, codes, design, strata, confidence) -> dict:
    """Per class, every pair of groups (key `a|b`, a label for people; the entry names `a` and
    `b`: a minus b); p-values Holm-adjusted over the distinct hypotheses of the column. With two
    classes the second's difference is minus the first's, one hypothesis: it is tested once."""
    from statsmodels.stats.multitest import multipletests

    found = {
        k: {
            f"{a}|{b}": {
                "a": a,
                "b": b,
                **_difference(k, domains, a, b, labels, codes, design, strata, confidence),
            }
            for a, b in combinations(domains, 2)
        }
        for k in labels
    }
    distinct = list(found.values())[:1] if len(found) == 2 else list(found.values())
    tested = [e for pairs in distinct for e in pairs.values() if e.get("p_value") is not None]
    if tested:
        adjusted = multipletests([e["p_value"] for e in tested], method="holm")[1]
        for e, p in zip(tested, adjusted, strict=True):
            e["p_adjusted"] = float(p)
    if len(found) == 2:  # the same hypothesis, the same adjusted p-value
        first, second = found.values()
        for key, entry in second.items():
            if "p_adjusted" in first[key]:
                entry["p_adjusted"] = first[key]["p_adjusted"]
    return found


def _difference(k, domains, a, b, labels, codes, design, strata, confidence) -> dict:
    empty = [g for g in (a, b) if not domains[g].coded.any()]
    if empty:
        return {"value": None, "ci": None, "undefined": f"no coded image in {empty[0]}"}
    f = labels[k]
    if design.later is None:
        return difference(f, codes[k], f[design.rows], domains[a], domains[b], strata, confidence)
    from vislab.estimation.rounds import difference_in_rounds

    y_later = (design.later.codes == k).astype(float)
    rows = design.rows
    return difference_in_rounds(
        f, codes[k], f[rows], y_later, domains[a], domains[b], strata, design.later, confidence
    )


def _regression(collection, design, strata, classes, formula, kind, confidence) -> dict:
    from vislab.estimation.formula import matrices
    from vislab.estimation.regression import KINDS, fit_all

    if kind not in KINDS:
        raise InputError(f"regression {kind!r}: choose one of {', '.join(KINDS)}.")
    found = matrices(collection, design, classes, formula, kind)
    coefficients = fit_all(found, strata, kind, confidence)
    return {"formula": formula, "kind": kind, "coefficients": coefficients}


def inputs_of(predictions, files, sample, seed: int | None) -> dict:
    """What the numbers come from: each file's sha256, the sample folder, versions, seed."""
    from vislab.runs import library_versions

    def digest(item) -> str | None:
        if isinstance(item, pd.DataFrame):
            return hashlib.sha256(pd.util.hash_pandas_object(item).to_numpy().tobytes()).hexdigest()
        if Path(item).is_dir():  # a folder of shards: its parts, in order
            found = hashlib.sha256()
            for part in sorted(Path(item).glob("part-*.parquet")):
                found.update(part.read_bytes())
            return found.hexdigest()
        return hashlib.sha256(Path(item).read_bytes()).hexdigest()

    return {
        "predictions": {
            "path": _name(predictions),
            "sha256": digest(predictions),
            "made_by": made_by(predictions),
        },
        "coded": [{"path": _name(f), "sha256": digest(f)} for f in files],
        "sample": None if sample is None else str(sample),
        "seed": seed,
        "libraries": library_versions(),
    }


def made_by(predictions) -> dict | None:
    """What made the predictions, where it wrote that down: `vislab code` and `zero-shot` in
    a .json beside a file or in a folder's _progress.json / _plan.json."""
    import json

    if isinstance(predictions, pd.DataFrame):
        return None
    path = Path(predictions)
    if path.is_dir():
        for name, key in (("_progress.json", "provenance"), ("_plan.json", "job")):
            try:
                found = json.loads((path / name).read_text()).get(key)
            except (OSError, ValueError, AttributeError):
                continue
            if found:
                return found
        return None
    try:
        record = json.loads(path.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and "model" in record else None


def _name(item) -> str:
    return "DataFrame" if isinstance(item, pd.DataFrame) else str(item)
