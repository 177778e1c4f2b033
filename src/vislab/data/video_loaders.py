"""Clips for training and evaluation: frames decoded with PyAV, transformed as one `Video`.

torchvision's v2 transforms treat a `tv_tensors.Video` (T, C, H, W) as one sample, so a crop or a
flip is the same for every frame of a clip. Training draws one random clip per video per epoch
from torch's generator, which the DataLoader seeds anew for every worker and every epoch (a
generator kept inside the dataset would be copied into each worker and repeat its clips);
evaluation takes `clips_per_video` evenly spaced clips (the windows of the predictions table;
fewer when a video is too short for that many distinct clips).
A manifest's `start`/`end` seconds restrict a video to that segment.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from vislab.data.augment import augmentations
from vislab.data.videos import VideoTable, clip_indices, clip_starts, read_frames


def video_transform(
    size: int, augment: list[str], train: bool, normalization: tuple[Sequence, Sequence]
) -> v2.Compose:
    """Resize, crop (random for training, centre otherwise), augment, scale and normalize a
    clip; `normalization` is (mean, std), as the model's weights expect."""
    steps: list = [
        v2.Resize(size, antialias=True),
        v2.RandomCrop(size) if train else v2.CenterCrop(size),
        *(augmentations(augment) if train else []),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(*normalization),
    ]
    return v2.Compose(steps)


class VideoClips(Dataset):
    """(clip (C, T, H, W), label index, item); `window(item)` = (video position, start s, end s).

    `stride` takes every n-th frame; with `target_fps`, each video's stride is instead its frame
    rate divided by `target_fps` (rounded, at least 1), so clips span the same seconds in videos
    recorded at different rates.
    """

    def __init__(
        self,
        table: VideoTable,
        frames: int,
        stride: int,
        transform,
        train: bool,
        clips_per_video: int = 1,
        target_fps: float | None = None,
    ) -> None:
        self.table, self.frames, self.transform, self.train = table, frames, transform, train
        rates = table.frame["fps"].to_numpy(float) if len(table) else np.zeros(0)
        self.strides = [
            max(1, round(rate / target_fps)) if target_fps else stride for rate in rates
        ]
        lookup = {name: k for k, name in enumerate(table.classes)}
        labels = table.frame["label"] if "label" in table.frame.columns else [None] * len(table)
        self.labels = [lookup.get(label, -1) for label in labels]  # -1: a video without a label
        self.items: list[tuple[int, int | None]] = []  # (video, first frame; None: drawn each time)
        for position in range(len(table)):
            if train:
                self.items.append((position, None))
                continue
            first, total, _ = self.segment(position)
            starts = clip_starts(total, frames, self.strides[position], clips_per_video, "uniform")
            self.items += [
                (position, first + start) for start in sorted(set(starts))
            ]  # short videos: fewer

    def __len__(self) -> int:
        return len(self.items)

    def segment(self, position: int) -> tuple[int, int, float]:
        """First frame, number of frames and frame rate of the video's segment."""
        row = self.table.frame.iloc[position]
        fps, frames = float(row["fps"]), int(row["frames"])
        start, end = row.get("start", np.nan), row.get("end", np.nan)
        first = int(np.floor(start * fps)) if pd.notna(start) else 0
        last = int(np.ceil(end * fps)) if pd.notna(end) else frames
        return first, max(1, min(last, frames) - first), fps

    def window(self, item: int) -> tuple[int, float, float]:
        position, start = self.items[item]
        fps, stride = self.segment(position)[2], self.strides[position]
        return position, start / fps, (start + (self.frames - 1) * stride + 1) / fps

    def __getitem__(self, item: int):
        position, start = self.items[item]
        stride = self.strides[position]
        if start is None:
            first, total, _ = self.segment(position)
            start = first + clip_starts(total, self.frames, stride, 1, "random")[0]
        path = self.table.frame["path"].iat[position]
        pixels = read_frames(path, clip_indices(start, self.frames, stride))
        video = tv_tensors.Video(torch.from_numpy(pixels).permute(0, 3, 1, 2))  # (T, C, H, W)
        return (
            self.transform(video).permute(1, 0, 2, 3),
            self.labels[position],
            item,
        )  # (C, T, H, W)
