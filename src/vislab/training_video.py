"""The video steps of `vislab train`: data, provenance, module and loaders, windowed evaluation.

Every video is probed first (frame count, rate): an unusable one stops the run with its name and
reason before training, or is skipped and listed (`data.on_bad_image: skip`). After training,
each held-out video is cut into `clips_per_video` evenly spaced windows; their predictions form
DESIGN's windowed-predictions table (`predictions.csv`: video_id, start, end, label, prediction,
score_<class>, metadata), evaluated exactly as `vislab evaluate video` does, and reported with a
timeline strip per video.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from vislab.config import DataConfig, ExperimentConfig
from vislab.data.images import file_digest
from vislab.data.splits import assign_splits
from vislab.data.video_loaders import VideoClips, video_transform
from vislab.data.videos import VideoTable, probe, video_source
from vislab.errors import InputError
from vislab.runs import environment_record, write_atomic, write_json, write_yaml


@dataclass
class VideoData:
    table: VideoTable  # usable videos, with frames, fps and split columns
    fingerprint: str
    skipped: pd.DataFrame = field(default_factory=pd.DataFrame)

    def split(self, name: str) -> VideoTable:
        frame = self.table.frame
        return VideoTable(
            frame[frame["split"] == name].reset_index(drop=True),
            self.table.classes,
            self.table.description,
        )


def prepare_video(data: DataConfig) -> VideoData:
    table = video_source(data.root)
    infos = [probe(p) for p in table.frame["path"]]
    skipped = pd.DataFrame([{"id": i, "path": p, "reason": info} for i, p, info
                            in zip(table.frame["id"], table.frame["path"], infos, strict=True) if isinstance(info, str)])  # fmt: skip
    if len(skipped) and data.on_bad_image == "error":
        lines = "\n".join(f"  - {r.path}: {r.reason}" for r in skipped.itertuples())
        raise InputError(f"{table.description}: {len(skipped)} video(s) cannot be used:\n{lines}\n"
                         "Fix or remove them, or set data.on_bad_image: skip.")  # fmt: skip
    keep = [not isinstance(info, str) for info in infos]
    frame = table.frame[keep].reset_index(drop=True)
    frame["frames"] = [info.frames for info in infos if not isinstance(info, str)]
    probed = pd.Series([info.fps for info in infos if not isinstance(info, str)], dtype=float)
    given = (
        frame["fps"].astype(float)
        if "fps" in frame.columns
        else pd.Series(np.nan, index=frame.index)
    )
    frame["fps"] = probed.where(probed > 0, given)
    unknown = frame["path"][frame["fps"].isna()].tolist()
    if unknown:
        raise InputError(f"{len(unknown)} frame folder(s) have no frame rate (e.g. {unknown[0]}): list them "
                         "in a manifest with an fps column (the rate the frames were extracted at).")  # fmt: skip
    if "split" not in frame.columns or frame["split"].isna().all():
        split = data.split
        frame = assign_splits(frame, split.val, split.test, split.seed, split.group_by)
    table = VideoTable(frame, table.classes, table.description)
    digest = hashlib.sha256()
    for row in frame.itertuples():
        digest.update(f"{row.id}\x1f{row.label}\x1f{row.split}\x1f{_digest(row.path)}".encode())
    return VideoData(table, digest.hexdigest(), skipped)


def _digest(path: str) -> str:
    """A video file's sha256, or a frame folder's (over its frames' digests, in order)."""
    from vislab.data.videos import frame_files

    if not Path(path).is_dir():
        return file_digest(path)
    return hashlib.sha256(
        "".join(file_digest(f) for f in frame_files(Path(path))).encode()
    ).hexdigest()


def record_video(run_dir: Path, config: ExperimentConfig, data: VideoData) -> None:
    from vislab.models.video import normalization

    frame = data.table.frame
    write_yaml(run_dir / "config.yaml", config.to_dict())
    splits = {str(k): int(v) for k, v in frame["split"].value_counts().sort_index().items()}
    write_json(run_dir / "environment.json", environment_record(
        config.train.seed, config.fingerprint(), data.fingerprint, data_source=data.table.description,
        splits=splits, skipped_videos=len(data.skipped),
    ))  # fmt: skip
    cfg = config.data
    write_json(run_dir / "preprocessing.json", {"task": "video", "classes": data.table.classes,
               "image_size": cfg.image_size, "frames": cfg.frames, "frame_stride": cfg.frame_stride, "fps": cfg.fps,
               "clips_per_video": cfg.clips_per_video,
               "normalization": normalization(config.model.backbone, config.model.pretrained)})  # fmt: skip
    write_atomic(run_dir / "splits.csv", frame[["id", "split"]].to_csv(index=False))
    if len(data.skipped):
        write_atomic(run_dir / "skipped_videos.csv", data.skipped.to_csv(index=False))


def _clips(table: VideoTable, config: ExperimentConfig, train: bool) -> VideoClips:
    from vislab.models.video import normalization

    cfg = config.data
    model = config.model
    transform = video_transform(
        cfg.image_size, cfg.augment, train, normalization(model.backbone, model.pretrained)
    )
    return VideoClips(table, cfg.frames, cfg.frame_stride, transform, train, cfg.clips_per_video,
                      config.train.seed, cfg.fps)  # fmt: skip


def video_module_and_loaders(config: ExperimentConfig, data: VideoData):
    from vislab.models.video import create_video_model
    from vislab.tasks.classification import ClassificationModule

    cfg = config.data
    train, val = data.split("train"), data.split("val")
    loaders = [
        DataLoader(
            _clips(train, config, True), cfg.batch_size, shuffle=True, num_workers=cfg.num_workers
        )
    ]
    if len(val):
        loaders.append(
            DataLoader(_clips(val, config, False), cfg.batch_size, num_workers=cfg.num_workers)
        )
    model = create_video_model(config.model.backbone, len(data.table.classes), config.model.pretrained,
                               cfg.frames, cfg.image_size)  # fmt: skip
    return (
        ClassificationModule(model, config, len(data.table.classes)),
        loaders,
        ("val_loss", "min"),
    )


@torch.inference_mode()
def predict_windows(model, table: VideoTable, config: ExperimentConfig) -> pd.DataFrame:
    """DESIGN's windowed predictions: a row per evaluation window of every video."""
    from vislab.evaluation.classification import SCORE_PREFIX

    dataset = _clips(table, config, False)
    model = model.cpu().eval()
    rows = []
    for clips, _, items in DataLoader(dataset, config.data.batch_size):
        probabilities = torch.softmax(model(clips).float(), dim=1).numpy()
        for item, scores in zip(items.tolist(), probabilities, strict=True):
            position, start, end = dataset.window(item)
            video = table.frame.iloc[position]
            row = {"video_id": video["id"], "start": round(start, 4), "end": round(end, 4), "label": video["label"],
                   "prediction": table.classes[int(scores.argmax())],
                   **{f"{SCORE_PREFIX}{c}": float(s) for c, s in zip(table.classes, scores, strict=True)}}  # fmt: skip
            for column in table.frame.columns:
                if column not in ("id", "label", "split", "frames", "fps", "start", "end"):
                    row.setdefault(column, video[column])
            rows.append(row)
    return pd.DataFrame(rows)


def finish_video(run_dir: Path, config: ExperimentConfig, data: VideoData, model) -> dict:
    from vislab.evaluation.video import evaluate_video

    splits = set(data.table.frame["split"])
    held_out = data.split("test" if "test" in splits else "val")
    windows = predict_windows(model, held_out, config)
    write_atomic(run_dir / "predictions.csv", windows.to_csv(index=False))
    settings = config.evaluate
    metrics = evaluate_video(
        windows, settings.group_by, settings.bootstrap, settings.confidence, settings.seed
    )
    write_json(run_dir / "metrics.json", metrics)
    from vislab.report.video_page import write_video_report

    write_video_report(run_dir, metrics, windows, held_out)
    return metrics
