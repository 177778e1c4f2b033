"""`vislab evaluate video`: windowed predictions in, video-level accuracy and temporal consistency out.

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

Intervals of the temporal measures resample videos with the same seed as the video-level ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from vislab.errors import InputError
from vislab.evaluation.bootstrap import draw_replicates, percentile_interval
from vislab.evaluation.classification import SCORE_PREFIX
from vislab.evaluation.groups import group_values

REQUIRED = ("video_id", "start", "end", "label", "prediction")


def check_windows(windows: pd.DataFrame, source: str) -> pd.DataFrame:
    missing = [c for c in REQUIRED if c not in windows.columns]
    if missing:
        raise InputError(
            f"{source}: video predictions need the columns {list(REQUIRED)}; missing {missing}."
        )
    bad = windows.index[
        (windows["end"] < windows["start"]) | windows[["start", "end"]].isna().any(axis=1)
    ]
    if len(bad):
        raise InputError(
            f"{source}: row(s) {[int(i) + 2 for i in bad[:5]]} have no start/end or end < start."
        )
    labels = windows.groupby("video_id")["label"].nunique()
    mixed = labels.index[labels > 1].tolist()
    if mixed:
        raise InputError(f"{source}: video(s) {mixed[:5]} have windows with different labels; "
                         "a video has one label.")  # fmt: skip
    return windows.assign(
        label=windows["label"].astype(str), prediction=windows["prediction"].astype(str)
    )


def per_video(windows: pd.DataFrame) -> pd.DataFrame:
    """One row per video: label, prediction, averaged scores, temporal measures, metadata."""
    score_columns = [c for c in windows.columns if c.startswith(SCORE_PREFIX)]
    rows = []
    for video_id, frame in windows.sort_values(["video_id", "start"], kind="stable").groupby(
        "video_id", sort=False
    ):
        row = {"id": video_id, "label": frame["label"].iat[0], "windows": len(frame),
               "windows_correct": int((frame["prediction"] == frame["label"]).sum()),
               "consistency": _agreement(frame["prediction"].to_numpy())}  # fmt: skip
        if score_columns:
            scores = frame[score_columns].to_numpy(dtype=float)
            row.update(dict(zip(score_columns, scores.mean(axis=0), strict=True)))
            row["prediction"] = score_columns[int(scores.mean(axis=0).argmax())].removeprefix(
                SCORE_PREFIX
            )
            row["total_variation"] = _total_variation(scores)
        else:
            row["prediction"] = _majority(frame["prediction"].to_numpy())
        for column in frame.columns:
            if column not in (*REQUIRED, *score_columns):
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


def temporal_measures(videos: pd.DataFrame, bootstrap: int, confidence: float, seed: int) -> dict:
    """clip_top1_accuracy, temporal_consistency (and total variation) with intervals over videos."""
    sums = {
        "clip_top1_accuracy": (
            videos["windows_correct"].to_numpy(float),
            videos["windows"].to_numpy(float),
        )
    }
    for name, column in (
        ("temporal_consistency", "consistency"),
        ("probability_total_variation", "total_variation"),
    ):
        if column in videos.columns:
            values = videos[column].to_numpy(float)
            counted = np.isfinite(values)
            sums[name] = (np.where(counted, values, 0.0), counted.astype(float))
    result = {}
    for name, (numerator, denominator) in sums.items():
        value = numerator.sum() / denominator.sum() if denominator.sum() else float("nan")
        entry = {"value": None if np.isnan(value) else float(value)}
        if bootstrap and entry["value"] is not None:
            draws = []
            for chunk in draw_replicates(len(videos), bootstrap, seed):
                top, bottom = (
                    numerator[chunk.indices].sum(axis=1),
                    denominator[chunk.indices].sum(axis=1),
                )
                with np.errstate(invalid="ignore", divide="ignore"):
                    draws.append(top / bottom)
            entry["ci"] = percentile_interval(np.concatenate(draws), confidence)
        result[name] = entry
    return result


def evaluate_video(windows: pd.DataFrame, group_by: Sequence[str] = (), bootstrap: int = 1000,
                   confidence: float = 0.95, seed: int = 0, source: str = "predictions") -> dict:  # fmt: skip
    from vislab.evaluation.metrics_json import evaluate_classification

    videos = per_video(check_windows(windows, source))
    table = videos.drop(
        columns=["windows", "windows_correct", "consistency", "total_variation"], errors="ignore"
    )
    result = evaluate_classification(table, group_by, bootstrap, confidence, seed, source)
    result["task"] = "video"
    metrics = {"top1_accuracy": result["metrics"].pop("accuracy")}
    if "top5_accuracy" in result["metrics"]:
        metrics["top5_accuracy"] = result["metrics"].pop("top5_accuracy")
    metrics.update(temporal_measures(videos, bootstrap, confidence, seed))
    result["metrics"] = {**metrics, **result["metrics"]}
    result["windows"] = int(len(windows))
    for spec in group_by:
        values = group_values(videos, spec, source).astype(str).to_numpy()
        for name, entry in result.get("groups", {}).get(spec, {}).items():
            members = videos[values == str(name)]
            entry["metrics"] = {"top1_accuracy": entry["metrics"].pop("accuracy"),
                                **temporal_measures(members, bootstrap, confidence, seed), **entry["metrics"]}  # fmt: skip
        gaps = result.get("disparities", {}).get(spec, {})
        if "accuracy" in gaps:
            result["disparities"][spec] = {"top1_accuracy": gaps.pop("accuracy"), **gaps}
    return result
