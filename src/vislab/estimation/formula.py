"""A formula's design matrices, twice: with the model's labels over the collection and with the
people's codes over the coded images (formulaic, the formula engine of statsmodels; a class
name that is not a Python name is written in backticks: `` `no police` ~ region ``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vislab.errors import InputError
from vislab.estimation.design import Design
from vislab.estimation.regression import LOGISTIC, Matrices


def parse(formula: str):
    from formulaic import Formula

    try:
        parsed = Formula(formula)
    except Exception as error:  # formulaic's parser raises several kinds
        raise InputError(f"--formula {formula!r}: {error}") from None
    if not hasattr(parsed, "lhs") or not parsed.lhs.required_variables:
        raise InputError(f"--formula {formula!r}: give an outcome, as in 'protest ~ region'.")
    return parsed


def variables(parsed, collection: pd.DataFrame, classes: list[str], formula: str) -> list[str]:
    """The formula's variables that are data: classes or columns of the predictions."""
    names = sorted(str(v) for v in parsed.required_variables)
    known = set(collection.columns) | set(classes)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InputError(
            f"--formula {formula!r}: {unknown} are neither classes ({', '.join(classes)}) nor "
            f"columns of the predictions ({', '.join(map(str, collection.columns))})."
        )
    both = [n for n in names if n in classes and n in collection.columns]
    if both:
        raise InputError(
            f"--formula {formula!r}: {both} is both a class and a column of the predictions; "
            "rename the column."
        )
    return names


def matrices(
    collection: pd.DataFrame, design: Design, classes: list[str], formula: str, kind: str
) -> Matrices:
    parsed = parse(formula)
    names = variables(parsed, collection, classes, formula)
    columns = [n for n in names if n not in classes]
    labelled = [n for n in names if n in classes]
    predicted = collection["prediction"].astype(str).to_numpy()
    model = collection[columns].assign(**{k: (predicted == k).astype(float) for k in labelled})
    coded = collection.iloc[design.rows][columns].reset_index(drop=True)
    coded = coded.assign(**{k: (design.codes == k).astype(float) for k in labelled})
    model_built = _build(parsed, model, formula, None)
    coded_built = _build(parsed, coded, formula, model_built.model_spec)
    x_model = _array(model_built.rhs)
    y_model = _outcome(model_built.lhs, formula)
    found = Matrices(
        names=list(model_built.rhs.columns),
        x_model=x_model,
        y_model=y_model,
        x_model_coded=x_model[design.rows],
        y_model_coded=y_model[design.rows],
        x_coded=_array(coded_built.rhs),
        y_coded=_outcome(coded_built.lhs, formula),
    )
    if kind == LOGISTIC:
        _zero_one(found, formula)
    return found


def _build(parsed, frame: pd.DataFrame, formula: str, spec):
    from formulaic import model_matrix

    try:
        if spec is None:
            return model_matrix(parsed, frame, na_action="raise")
        return spec.get_model_matrix(frame, na_action="raise")
    except Exception as error:  # missing values, bad transforms: formulaic's own message
        raise InputError(
            f"--formula {formula!r}: {error} (fill or drop the rows with missing values in the "
            "predictions first: the estimate needs every image)."
        ) from None


def _array(frame) -> np.ndarray:
    return np.asarray(frame, dtype=float)


def _outcome(frame, formula: str) -> np.ndarray:
    values = _array(frame)
    if values.ndim != 2 or values.shape[1] != 1:
        raise InputError(
            f"--formula {formula!r}: the outcome must be one number per image (a class, or a "
            "numeric column); a text column gives one column per value."
        )
    return values[:, 0]


def _zero_one(found: Matrices, formula: str) -> None:
    for values in (found.y_model, found.y_coded):
        if not np.isin(values, (0.0, 1.0)).all():
            raise InputError(
                f"--formula {formula!r}: a logistic regression needs a 0/1 outcome (a class, or "
                "a 0/1 column); use --regression linear for a number."
            )
