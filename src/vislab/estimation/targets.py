"""What a coding plan is for (planning.py): the share of a class, the difference of a class's
share between two groups (`--by`), or a coefficient of a linear regression on columns of the
predictions (`--formula`). Each is the model's value plus (1 / N) sum_i g_i e_i over the
images' errors e_i = code - label; a target is the class and the weight g_i of every image."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd

from vislab.errors import InputError

MOST_TARGETS = 300  # estimates one plan checks at most (classes x pairs of groups)


@dataclass
class Target:
    k: str  # the class whose codes the estimate uses
    g: np.ndarray | float  # each image's weight in the estimate's correction
    about: dict = field(default_factory=dict)  # plan.json's words for it
    domains: np.ndarray | None = None  # per image its group, where the estimate levels each

    def centred(self, error: np.ndarray, strata: np.ndarray, rows=slice(None)) -> np.ndarray:
        """`error` (of the images `rows`, in `strata`) less its mean in each group of each
        stratum: the corrected share of a group whose size the strata do not fix takes out
        the group's mean error in a stratum (PPI++'s level, learnt per stratum where it has
        enough coded images: prevalence.power_tuning), which the plan must not count as
        spread."""
        if self.domains is None:
            return error
        groups = pd.Series(self.domains[rows]).astype(str).str.cat(pd.Series(strata).astype(str))
        means = pd.Series(error).groupby(groups).transform("mean").to_numpy()
        return error - means


def targets(frame, classes, only, by, formula) -> dict[str, Target]:
    """The estimates to plan for, by name (`8`, `8: heavy - light`, `police: region[T.south]`)."""
    if by is not None and formula is not None:
        raise InputError("plan-coding: give --by or --formula, not both (plan one at a time).")
    if formula is not None:
        return coefficients(frame, classes, formula, only)
    wanted = [only] if only else list(classes)
    if by is None:
        return {k: Target(k, 1.0) for k in wanted}
    return differences(frame, wanted, by)


def differences(frame: pd.DataFrame, wanted: list[str], by: str) -> dict[str, Target]:
    """Every class's difference between every two groups of `by`."""
    from vislab.evaluation.groups import group_values

    values = group_values(frame, by, "predictions", option="--by").to_numpy()
    groups = sorted(set(values))
    if len(groups) < 2:
        raise InputError(f"--by {by}: one group ({groups[0]}); a difference needs two.")
    pairs = list(combinations(groups, 2))
    if len(pairs) * len(wanted) > MOST_TARGETS:
        raise InputError(
            f"--by {by}: {len(groups)} groups, {len(pairs)} pairs for each of {len(wanted)} "
            "classes: plan for one class (--class), or a column with fewer groups."
        )
    size = len(values)
    found = {}
    for a, b in pairs:
        in_a, in_b = values == a, values == b
        g = size * (in_a / in_a.sum() - in_b / in_b.sum())
        for k in wanted:
            about = {"by": by, "groups": [str(a), str(b)]}
            found[f"{k}: {a} - {b}"] = Target(k, g, about, values)
    return found


def coefficients(frame, classes, formula: str, only) -> dict[str, Target]:
    """Every coefficient but the intercept of the linear regression `formula`, whose outcome
    is a class and whose terms are columns of the predictions: its influence on each image."""
    from vislab.estimation.formula import parse, variables

    parsed = parse(formula)
    variables(parsed, frame, classes, formula)
    outcome = sorted(str(v) for v in parsed.lhs.required_variables)
    if len(outcome) != 1 or outcome[0] not in classes:
        raise InputError(
            f"--formula {formula!r}: the outcome must be a class ({', '.join(classes)}): what "
            "the coders code is what the plan is for."
        )
    if only is not None and only != outcome[0]:
        raise InputError(f"--class {only} and --formula's outcome {outcome[0]} differ.")
    terms = sorted(str(v) for v in parsed.rhs.required_variables)
    coded = [t for t in terms if t in classes]
    if coded:
        raise InputError(
            f"--formula {formula!r}: {coded} are classes; plan for a regression on columns of "
            "the predictions (a class on the right depends on the codes too)."
        )
    x = _matrix(parsed, frame, formula)
    values = x.to_numpy()
    inverse = np.linalg.pinv(values.T @ values / len(values))
    return {
        f"{outcome[0]}: {name}": Target(
            outcome[0], values @ inverse[j], {"formula": formula, "term": str(name)}
        )
        for j, name in enumerate(x.columns)
        if name != "Intercept"
    }


def _matrix(parsed, frame: pd.DataFrame, formula: str) -> pd.DataFrame:
    from formulaic import model_matrix

    try:
        found = model_matrix(parsed.rhs, frame, na_action="raise")
    except Exception as error:  # formulaic raises several kinds
        raise InputError(f"--formula {formula!r}: {error}") from None
    if found.shape[1] < 2:
        raise InputError(f"--formula {formula!r}: no term besides the intercept to plan for.")
    return pd.DataFrame(np.asarray(found, dtype=float), columns=list(found.columns))
