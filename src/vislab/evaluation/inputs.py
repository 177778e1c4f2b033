"""A predictions table checked once, where it comes in, before any number is computed.

Classification tables and video windows (DESIGN's contracts) are checked here: the required
columns are present and filled, each item appears once, every score is a probability and each
row's scores sum to 1, the predicted class is the one with the highest score, and every label
and prediction is a known class. A table that breaks a rule is an error naming the file, the
rows (as a spreadsheet numbers them: the header is row 1) and what to do — never a number
computed from it. Scores that are not normalised can be divided by their row sums on request
(`--normalize-scores`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from vislab.errors import InputError
from vislab.files import rows_text
from vislab.predictions import class_of, score_columns

SUM_TOLERANCE = 1e-3  # CSV files round probabilities; a row must sum to 1 within this
ARGMAX_TOLERANCE = 1e-6  # ties: any class with the highest score is the argmax


def natural_key(name: str):
    """Class names in the order people expect: 2 before 10, numbers before words."""
    return (0, int(name), "") if name.lstrip("-").isdigit() else (1, 0, name)


def no_empty_cells(frame: pd.DataFrame, columns: Sequence[str], source: str) -> None:
    for column in columns:
        empty = np.flatnonzero(frame[column].isna().to_numpy())
        if empty.size:
            raise InputError(
                f"{source}: column '{column}' is empty on {rows_text(empty)}; fill every cell."
            )


def filled_column(frame: pd.DataFrame, column: str, option: str, why: str) -> None:
    """`column` is in `frame` and has a value in every row, else an error naming the option,
    the rows and `why` a value is needed."""
    if column not in frame.columns:
        raise InputError(
            f"{option}: no column '{column}'. Columns: {', '.join(map(str, frame.columns))}."
        )
    empty = np.flatnonzero(frame[column].isna().to_numpy())
    if empty.size:
        raise InputError(f"{option}: column '{column}' is empty on {rows_text(empty)}: {why}")


def check_unique(frame: pd.DataFrame, key: Sequence[str], source: str) -> None:
    """Each item once: a repeated id would count one image twice in every metric."""
    if not all(column in frame.columns for column in key):
        return
    repeated = np.flatnonzero(frame.duplicated(list(key), keep=False).to_numpy())
    if repeated.size:
        first = frame.iloc[repeated[0]][list(key)].tolist()
        raise InputError(
            f"{source}: {' + '.join(key)} {first if len(key) > 1 else first[0]!r} and others "
            f"appear more than once ({rows_text(repeated)}); each item must be one row. Remove "
            "the repeated rows (or give distinct ids)."
        )


def check_collection(frame: pd.DataFrame, source: str = "predictions") -> pd.DataFrame:
    """A predicted collection (one row per image: id, prediction, scores, metadata) for
    sampling and estimation: every image once, a prediction in every row, finite scores."""
    missing = [c for c in ("id", "prediction") if c not in frame.columns]
    if missing:
        raise InputError(
            f"{source}: no column(s) {missing}: give the table `vislab predict` wrote for the "
            "whole collection (one row per image: id, prediction, metadata)."
        )
    no_empty_cells(frame, ["id", "prediction"], source)
    doubled = np.flatnonzero(frame["id"].astype(str).duplicated(keep=False).to_numpy())
    if doubled.size:
        raise InputError(
            f"{source}: id {frame['id'].iloc[doubled[0]]!r} is listed twice "
            f"({rows_text(doubled)}); one row an image."
        )
    for column in score_columns(frame):
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(float)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise InputError(
                f"{source}: '{column}' is not a finite number on {rows_text(bad)}; a score is "
                "a probability between 0 and 1 (fill or drop those rows)."
            )
    return frame.reset_index(drop=True)


def check_class_predictions(
    frame: pd.DataFrame,
    source: str,
    key: Sequence[str] = ("id",),
    classes: Sequence[str] | None = None,
) -> list[str]:
    """Check a table of `label`, `prediction` and optional `score_<class>` columns; return
    its classes (the score columns' classes, else `classes`, else the labels)."""
    for column in ("label", "prediction"):
        if column not in frame.columns:
            raise InputError(
                f"{source}: no '{column}' column. A predictions table needs 'label' and "
                f"'prediction' (optional 'score_<class>'). Found: "
                f"{', '.join(map(str, frame.columns))}."
            )
    no_empty_cells(frame, ("label", "prediction"), source)
    check_unique(frame, key, source)
    labels = frame["label"].astype(str).to_numpy()
    guesses = frame["prediction"].astype(str).to_numpy()
    scored = score_columns(frame)
    if scored:
        known = [class_of(c) for c in scored]
        check_scores(frame, scored, source)
        _known(labels, known, "label", source, "has no score_<class> column")
        _known(guesses, known, "prediction", source, "has no score_<class> column")
        _argmax_agrees(frame, scored, guesses, source)
        return known
    if classes:
        known = list(classes)
        _known(labels, known, "label", source, "is not among --classes")
    else:
        known = sorted(set(labels), key=natural_key)
    _known(guesses, known, "prediction", source, _UNKNOWN_PREDICTION)
    return known


_UNKNOWN_PREDICTION = (
    "is not a label of any row. If the model has classes the labels never show, list them all "
    "with --classes A,B,C (or give score_<class> columns); otherwise correct the prediction"
)


def check_scores(frame: pd.DataFrame, columns: list[str], source: str) -> np.ndarray:
    """Probabilities: finite, in [0, 1], summing to 1 per row (within SUM_TOLERANCE)."""
    scores = frame[columns].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(scores).all(axis=1))
    if bad.size:
        raise InputError(
            f"{source}: scores that are empty, not numbers or infinite on {rows_text(bad)}."
        )
    negative = np.flatnonzero((scores < 0).any(axis=1))
    if negative.size:
        raise InputError(
            f"{source}: scores below 0 on {rows_text(negative)}: score_<class> columns are "
            "probabilities in [0, 1]. Logits need a softmax first."
        )
    sums = scores.sum(axis=1)
    off = np.flatnonzero(np.abs(sums - 1) > SUM_TOLERANCE)
    if off.size:
        raise InputError(
            f"{source}: the scores of {rows_text(off)} sum to {sums[off[0]]:.4g} (the first "
            "of them), not 1: score_<class> columns must be the probabilities of every class. "
            + ("Add the missing classes' columns, or" if sums[off[0]] < 1 else "Give")
            + " probabilities, or pass --normalize-scores to divide each row by its sum."
        )
    return scores


def normalize_scores(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """`--normalize-scores`: each row's non-negative scores divided by their sum."""
    columns = score_columns(frame)
    if not columns:
        raise InputError(f"{source}: --normalize-scores, but there are no score_<class> columns.")
    scores = frame[columns].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    sums = scores.sum(axis=1)
    bad = np.flatnonzero(~np.isfinite(scores).all(axis=1) | (scores < 0).any(axis=1) | (sums <= 0))
    if bad.size:
        raise InputError(
            f"{source}: --normalize-scores needs finite, non-negative scores with a positive "
            f"sum; not so on {rows_text(bad)}."
        )
    return frame.assign(**dict(zip(columns, (scores / sums[:, None]).T, strict=True)))


def _known(values: np.ndarray, known: list[str], column: str, source: str, why: str) -> None:
    lookup = set(known)
    unknown = np.flatnonzero([v not in lookup for v in values])
    if unknown.size:
        names = sorted(set(values[unknown]))[:5]
        raise InputError(
            f"{source}: {column} {names[0]!r} ({rows_text(unknown)}) {why}. Classes: "
            f"{', '.join(known[:20])}{' ...' if len(known) > 20 else ''}."
        )


def _argmax_agrees(frame, scored: list[str], guesses: np.ndarray, source: str) -> None:
    """The prediction is a class with the highest score: metrics of the predictions and of
    the scores (top-5, calibration) must describe the same classifier."""
    scores = frame[scored].to_numpy(dtype=np.float64)
    column = {class_of(c): k for k, c in enumerate(scored)}
    chosen = scores[np.arange(len(frame)), [column[g] for g in guesses]]
    differ = np.flatnonzero(chosen < scores.max(axis=1) - ARGMAX_TOLERANCE)
    if differ.size:
        first = differ[0]
        best = class_of(scored[int(scores[first].argmax())])
        raise InputError(
            f"{source}: the prediction is not the class with the highest score on "
            f"{rows_text(differ)} (first: prediction {guesses[first]!r}, highest score "
            f"{best!r}). Predictions made with thresholds need their own scores; drop the "
            "score_<class> columns to evaluate the predictions alone."
        )


def collection_fingerprint(frame: pd.DataFrame) -> str:
    """The sha256 of the collection's sorted image ids: a round drawn from other images (whose
    remainder is not this one's) is refused."""
    import hashlib

    ids = np.sort(frame["id"].astype(str).to_numpy())
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()
