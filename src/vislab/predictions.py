"""The predictions table: the contract between the model layer and the evaluation layer.

DESIGN: "the predictions table is the contract". A classification table has one row per image:
`id`, `path`, `label` (when known), `prediction`, one `score_<class>` column per class (the
model's probabilities), then any metadata columns. Video tables have one row per window
(`video_id`, `start`, `end`, `label`, `prediction`, scores, metadata). Any tool can write these
files; every layer reads the column names from here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

ID, PATH, LABEL, PREDICTION = "id", "path", "label", "prediction"
SCORE_PREFIX = "score_"
VIDEO_ID, START, END = "video_id", "start", "end"


def score_column(name: str) -> str:
    return f"{SCORE_PREFIX}{name}"


def score_columns(frame: pd.DataFrame) -> list[str]:
    """The `score_<class>` columns of a table, in their order."""
    return [c for c in frame.columns if str(c).startswith(SCORE_PREFIX)]


def class_of(column: str) -> str:
    """The class a `score_<class>` column belongs to."""
    return str(column)[len(SCORE_PREFIX) :]


def classes_of(frame: pd.DataFrame) -> list[str]:
    """The classes of a predictions table: those predicted, and those with a score column."""
    known = set(frame[PREDICTION].astype(str)) if PREDICTION in frame.columns else set()
    return sorted(known | {class_of(c) for c in score_columns(frame)})


def predictions_frame(
    items: pd.DataFrame, classes: Sequence[str], probabilities: np.ndarray
) -> pd.DataFrame:
    """The classification predictions table for `items` (id, path, label?, metadata) and their
    class probabilities (n, K): the most probable class is the prediction."""
    out = pd.DataFrame({ID: items[ID].to_numpy(), PATH: items[PATH].to_numpy()})
    if LABEL in items.columns:
        out[LABEL] = items[LABEL].to_numpy()
    if len(classes):
        out[PREDICTION] = [classes[k] for k in probabilities.argmax(axis=1)]
    else:
        out[PREDICTION] = pd.Series(dtype=object)
    scores = pd.DataFrame(probabilities, columns=[score_column(name) for name in classes])
    metadata = items.drop(columns=[c for c in (ID, PATH, LABEL) if c in items.columns])
    return pd.concat([out, scores, metadata.reset_index(drop=True)], axis=1)


EMBEDDING_PREFIX = "embedding_"


def embeddings_frame(items: pd.DataFrame, embeddings: np.ndarray) -> pd.DataFrame:
    """The embeddings table: every column of `items` (id, path, label, metadata), then
    `embedding_0` .. `embedding_{d-1}`."""
    columns = [f"{EMBEDDING_PREFIX}{k}" for k in range(embeddings.shape[1])]
    vectors = pd.DataFrame(embeddings, columns=columns)
    return pd.concat([items.reset_index(drop=True), vectors], axis=1)


def read_embeddings(path) -> tuple[pd.DataFrame, np.ndarray]:
    """What `vislab embed` wrote (one Parquet file with `embedding_0` ... columns, or a folder
    of shards with an `embedding` column): the items' columns, and the (n, d) vectors."""
    from vislab.errors import InputError

    frame = pd.read_parquet(path)
    if "embedding" in frame.columns:
        return frame.drop(columns="embedding"), np.stack(frame["embedding"].to_list())
    columns = [c for c in frame.columns if str(c).startswith(EMBEDDING_PREFIX)]
    if not columns:
        raise InputError(
            f"{path}: no embeddings (an `embedding` column, or `embedding_0` ...): give what "
            "`vislab embed` wrote."
        )
    return frame.drop(columns=columns), frame[columns].to_numpy()
