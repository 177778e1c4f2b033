"""`vislab evaluate video`: windowed predictions in, video-level accuracy and temporal
consistency out.

Input (DESIGN's contract, writable by any tool): a CSV with one row per window — `video_id`,
`start`, `end` (seconds), `label`, `prediction`, optional `score_<class>` columns, any metadata.

- `top1_accuracy`, `top5_accuracy`: per video, the class scores averaged over its windows (without
  scores: the majority prediction, ties to the class predicted first); then the classification
  machinery (intervals, per class, groups, fairness) on one row per video.
- `clip_top1_accuracy`: the share of windows predicted right (intervals resample videos).
- `temporal_consistency`: per video, the share of adjacent windows (ordered by `start`) whose
  predictions agree — 1.0 for a constant sequence, 0.0 for one that changes at every step; the
  mean over videos with at least two windows.
- `probability_total_variation` (with scores): per video, the mean total variation distance
  (half the L1 distance) between the class-probability vectors of adjacent windows — 0 when the
  scores never move, 1 when each window puts all mass on a new class; the mean over videos.

Every measure, its interval, group and disparity comes from one `VideoEvaluator`: the
classification evaluator over videos and the temporal measures' per-video sums, resampled
together (the unit is the video).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from vislab.errors import InputError
from vislab.evaluation.bootstrap import Replicates
from vislab.evaluation.classification import classification_json
from vislab.evaluation.classification_stats import ClassificationData, ClassificationEvaluator
from vislab.evaluation.inputs import check_class_predictions
from vislab.evaluation.intervals import bootstrap_record
from vislab.files import rows_text
from vislab.predictions import END, LABEL, PREDICTION, START, VIDEO_ID, class_of, score_columns

REQUIRED = (VIDEO_ID, START, END, LABEL, PREDICTION)
TEMPORAL = {
    "clip_top1_accuracy": ("windows_correct", "windows"),
    "temporal_consistency": ("consistency", None),
    "probability_total_variation": ("total_variation", None),
}


def check_windows(
    windows: pd.DataFrame, source: str, classes: Sequence[str] | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """The windows table checked (inputs.py's rules, one row per video and start); its
    classes."""
    missing = [c for c in REQUIRED if c not in windows.columns]
    if missing:
        raise InputError(
            f"{source}: video predictions need the columns {list(REQUIRED)}; missing {missing}."
        )
    windows = windows.reset_index(drop=True)
    times = windows[[START, END]].apply(pd.to_numeric, errors="coerce")
    bad = np.flatnonzero((times[END] < times[START]) | times.isna().any(axis=1))
    if len(bad):
        raise InputError(
            f"{source}: {rows_text(bad)}: start/end missing, not numbers, or end < start."
        )
    known = check_class_predictions(windows, source, key=(VIDEO_ID, START), classes=classes)
    labels = windows.groupby("video_id")["label"].nunique()
    mixed = labels.index[labels > 1].tolist()
    if mixed:
        raise InputError(
            f"{source}: video(s) {mixed[:5]} have windows with different labels; "
            "a video has one label."
        )
    text = {LABEL: windows[LABEL].astype(str), PREDICTION: windows[PREDICTION].astype(str)}
    return windows.assign(**text, start=times[START], end=times[END]), known


def per_video(windows: pd.DataFrame) -> pd.DataFrame:
    """One row per video: label, prediction, averaged scores, temporal measures, metadata."""
    scored = score_columns(windows)
    rows = []
    for video_id, frame in windows.sort_values(["video_id", "start"], kind="stable").groupby(
        "video_id", sort=False
    ):
        row = {
            "id": video_id,
            "label": frame["label"].iat[0],
            "windows": len(frame),
            "windows_correct": int((frame["prediction"] == frame["label"]).sum()),
            "consistency": _agreement(frame["prediction"].to_numpy()),
        }
        if scored:
            scores = frame[scored].to_numpy(dtype=float)
            row.update(dict(zip(scored, scores.mean(axis=0), strict=True)))
            row["prediction"] = class_of(scored[int(scores.mean(axis=0).argmax())])
            row["total_variation"] = _total_variation(scores)
        else:
            row["prediction"] = _majority(frame["prediction"].to_numpy())
        for column in frame.columns:
            if column not in (*REQUIRED, *scored):
                row[column] = frame[column].iat[0]
        rows.append(row)
    return pd.DataFrame(rows)


def _agreement(predictions: np.ndarray) -> float:
    if len(predictions) < 2:
        return float("nan")
    return float(np.mean(predictions[1:] == predictions[:-1]))


def _total_variation(scores: np.ndarray) -> float:
    if len(scores) < 2:
        return float("nan")
    return float(0.5 * np.abs(np.diff(scores, axis=0)).sum(axis=1).mean())


def _majority(predictions: np.ndarray) -> str:
    values, first, counts = np.unique(predictions, return_index=True, return_counts=True)
    best = np.flatnonzero(counts == counts.max())
    return str(values[best[np.argmin(first[best])]])


def temporal_sums(videos: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per temporal measure, (numerator, denominator) per video: the measure is their ratio of
    sums (window-level accuracy over windows; consistency and variation over videos with two
    windows or more)."""
    sums = {}
    for name, (column, count) in TEMPORAL.items():
        if column not in videos.columns:
            continue
        values = videos[column].to_numpy(float)
        if count is not None:
            sums[name] = (values, videos[count].to_numpy(float))
        else:
            counted = np.isfinite(values)
            sums[name] = (np.where(counted, values, 0.0), counted.astype(float))
    return sums


class VideoEvaluator:
    """The `Evaluator` of video (intervals.py): video-level classification metrics (accuracy
    reported as top1_accuracy) and the temporal measures, over the same video replicates."""

    lower_is_better = frozenset({"ece", "probability_total_variation"})

    def __init__(self, classification: ClassificationEvaluator, sums: dict) -> None:
        self.classification, self.sums = classification, sums
        names = [_renamed(name) for name in classification.names]
        head = [name for name in ("top1_accuracy", "top5_accuracy") if name in names]
        self.names = [*head, *sums, *(name for name in names if name not in head)]

    @property
    def n(self) -> int:
        return self.classification.n

    @property
    def clusters(self) -> np.ndarray | None:
        return self.classification.clusters

    @property
    def cells(self) -> int:
        return self.classification.cells

    def _with_temporal(self, values: dict, weights: np.ndarray) -> dict[str, np.ndarray]:
        result = {_renamed(name): value for name, value in values.items()}
        with np.errstate(invalid="ignore", divide="ignore"):
            for name, (numerator, denominator) in self.sums.items():
                result[name] = (weights @ numerator) / (weights @ denominator)
        return result

    def point(self) -> dict[str, np.ndarray]:
        return self._with_temporal(self.classification.point(), np.ones((1, self.n)))

    def replicate(self, replicates: Replicates) -> dict[str, np.ndarray]:
        values = self.classification.replicate(replicates)
        return self._with_temporal(values, replicates.weights_over(self.n))

    def subset(self, members: np.ndarray) -> VideoEvaluator:
        sums = {name: (top[members], bottom[members]) for name, (top, bottom) in self.sums.items()}
        return VideoEvaluator(self.classification.subset(members), sums)

    def jackknife(self) -> None:
        return None


def _renamed(name: str) -> str:
    return "top1_accuracy" if name == "accuracy" else name


def evaluate_video(
    windows: pd.DataFrame,
    group_by: Sequence[str] = (),
    bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    source: str = "predictions",
    classes: Sequence[str] | None = None,
) -> dict:
    """metrics.json's content for windowed video predictions."""
    windows, known = check_windows(windows, source, classes)
    videos = per_video(windows)
    columns = ["windows", "windows_correct", "consistency", "total_variation"]
    data = ClassificationData(videos.drop(columns=columns, errors="ignore"), source, classes=known)
    evaluator = VideoEvaluator(ClassificationEvaluator(data), temporal_sums(videos))
    settings = (bootstrap, confidence, seed, "percentile")
    result = classification_json(evaluator, data, "video", group_by, settings, source)
    result["windows"] = int(len(windows))
    result["bootstrap"] = bootstrap_record(*settings, unit="videos")
    return result
