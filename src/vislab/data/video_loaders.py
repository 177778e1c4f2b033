"""Clips for training and evaluation: frames decoded with PyAV, transformed as one `Video`.

torchvision's v2 transforms treat a `tv_tensors.Video` (T, C, H, W) as one sample, so a crop or a
flip is the same for every frame of a clip. Training draws one random clip per video per epoch;
evaluation takes `clips_per_video` evenly spaced clips (the windows of the predictions table;
fewer when a video is too short for that many distinct clips).
A manifest's `start`/`end` seconds restrict a video to that segment.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from vislab.data.videos import VideoTable, clip_indices, clip_starts, read_frames
from vislab.models.video import KINETICS_MEAN, KINETICS_STD


def video_transform(size: int, augment: list[str], train: bool, normalization=(KINETICS_MEAN, KINETICS_STD)) -> v2.Compose:  # fmt: skip
    steps: list = [
        v2.Resize(size, antialias=True),
        v2.RandomCrop(size) if train else v2.CenterCrop(size),
    ]
    if train and "flip" in augment:
        steps.append(v2.RandomHorizontalFlip())
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(*normalization)]
    return v2.Compose(steps)


class VideoClips(Dataset):
    """(clip (C, T, H, W), label index, item) ; `windows[item]` = (video position, start s, end s)."""

    def __init__(self, table: VideoTable, frames: int, stride: int, transform, train: bool,
                 clips_per_video: int = 1, seed: int = 0) -> None:  # fmt: skip
        self.table, self.frames, self.stride, self.transform, self.train = (
            table,
            frames,
            stride,
            transform,
            train,
        )
        self.rng = np.random.default_rng(seed)
        lookup = {name: k for k, name in enumerate(table.classes)}
        self.labels = [lookup.get(label, -1) for label in table.frame["label"]]
        self.items: list[tuple[int, int | None]] = []  # (video, first frame; None: drawn each time)
        for position in range(len(table)):
            if train:
                self.items.append((position, None))
                continue
            first, total, _ = self.segment(position)
            starts = clip_starts(total, frames, stride, clips_per_video, "uniform")
            self.items += [
                (position, first + start) for start in sorted(set(starts))
            ]  # short videos: fewer windows

    def __len__(self) -> int:
        return len(self.items)

    def segment(self, position: int) -> tuple[int, int, float]:
        """First frame, number of frames and frame rate of the video's segment."""
        row = self.table.frame.iloc[position]
        fps = float(row["fps"])
        first = (
            int(np.floor(row["start"] * fps))
            if "start" in row and not np.isnan(row["start"])
            else 0
        )
        last = (
            int(np.ceil(row["end"] * fps))
            if "end" in row and not np.isnan(row["end"])
            else int(row["frames"])
        )
        return first, max(1, min(last, int(row["frames"])) - first), fps

    def window(self, item: int) -> tuple[int, float, float]:
        position, start = self.items[item]
        fps = self.segment(position)[2]
        return position, start / fps, (start + (self.frames - 1) * self.stride + 1) / fps

    def __getitem__(self, item: int):
        position, start = self.items[item]
        if start is None:
            first, total, _ = self.segment(position)
            start = first + clip_starts(total, self.frames, self.stride, 1, "random", self.rng)[0]
        pixels = read_frames(
            self.table.frame["path"].iat[position], clip_indices(start, self.frames, self.stride)
        )
        video = tv_tensors.Video(torch.from_numpy(pixels).permute(0, 3, 1, 2))  # (T, C, H, W)
        return (
            self.transform(video).permute(1, 0, 2, 3),
            self.labels[position],
            item,
        )  # (C, T, H, W)
