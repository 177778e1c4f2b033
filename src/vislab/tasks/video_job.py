"""Video runs on the collection engine: each video probed and cut into the run's evaluation
windows in a DataLoader worker (the same windows as the run's held-out predictions), every
window through the model, DESIGN's windowed table out (`video_id`, `start`, `end`, `label`,
`prediction`, `score_<class>`, metadata). A video that cannot be used is skipped with its
reason; a manifest's `start`/`end` seconds restrict a video to that segment and its `fps` gives
a folder of frames its rate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from vislab.engine.loop import POSITION
from vislab.errors import InputError
from vislab.predictions import END, LABEL, PREDICTION, START, VIDEO_ID, score_column

NOT_METADATA = {"id", "label", "split", "frames", "fps", "start", "end"}


class VideoWindows(torch.nn.Module):
    """A video classifier over windows, at most `chunk` clips per forward pass: rows of class
    probabilities with each window's video (`position`) and its seconds."""

    def __init__(self, module, chunk: int) -> None:
        super().__init__()
        self.module, self.chunk = module, max(1, chunk)

    def predict_rows(self, batch) -> pd.DataFrame:
        clips, labels, positions, starts, ends = batch
        cuts = [slice(k, k + self.chunk) for k in range(0, len(clips), self.chunk)]
        parts = [self.module.predict_rows((clips[c], labels[c], positions[c])) for c in cuts]
        rows = pd.concat(parts, ignore_index=True)
        rows[START] = starts.cpu().numpy()
        rows[END] = ends.cpu().numpy()
        return rows


class VideoReader:
    """A video file (or frame folder) to its windows: (clips (W, C, T, H, W), [(start, end)])."""

    def __init__(self, settings, normalization) -> None:
        from vislab.data.video_loaders import video_transform

        self.settings = settings
        self.transform = video_transform(settings.image_size, [], False, normalization)

    def __call__(self, file: str, start=None, end=None, fps=None):
        from vislab.data.video_loaders import VideoClips
        from vislab.data.videos import VideoTable, probe

        info = probe(file)
        if isinstance(info, str):
            raise InputError(info)
        rate = info.fps if info.fps > 0 else _number(fps)
        if not rate or not rate > 0:
            raise InputError("no frame rate: give the frame folder an fps in the manifest")
        video = {"path": [file], "fps": [rate], "frames": [info.frames]}
        video.update({"start": [_number(start)], "end": [_number(end)]})
        table = VideoTable(pd.DataFrame(video), [], "one video")
        s = self.settings
        clips = VideoClips(
            table, s.frames, s.frame_stride, self.transform, False, s.clips_per_video, s.fps
        )
        windows = [clips.window(k)[1:] for k in range(len(clips))]
        return torch.stack([clips[k][0] for k in range(len(clips))]), windows


def _number(value) -> float:
    return float(value) if value is not None and pd.notna(value) else np.nan


class VideoJob:
    """A video in, a row per window out (DESIGN's video predictions)."""

    what, unit = "predict", "videos"
    item_columns = ("start", "end", "fps")
    reads_archives = False  # a video is probed and decoded from its file

    def __init__(self, module, classes, reader: VideoReader, chunk, precision, accelerator):
        self.module, self.classes = VideoWindows(module, chunk), list(classes)
        self.read, self.precision, self.accelerator = reader, str(precision), accelerator

    def collate(self, inputs: list, positions: list[int]):
        counts = [len(windows) for _, windows in inputs]
        times = np.array([w for _, windows in inputs for w in windows], dtype=np.float64)
        return (
            torch.cat([clips for clips, _ in inputs]),
            torch.full((sum(counts),), -1, dtype=torch.long),
            torch.tensor(np.repeat(positions, counts)),
            torch.from_numpy(times[:, 0].copy()),
            torch.from_numpy(times[:, 1].copy()),
        )

    def table(self, rows: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
        scores = [score_column(c) for c in self.classes]
        if not len(rows):
            columns = [POSITION, START, END, *scores]
            rows = pd.DataFrame({c: pd.Series(dtype=float) for c in columns})
        videos = items.iloc[rows[POSITION].to_numpy(int)].reset_index(drop=True)
        probabilities = rows[scores].to_numpy(np.float32)
        frame = pd.DataFrame(
            {
                VIDEO_ID: videos["id"].to_numpy(),
                START: rows[START].round(4).to_numpy(),
                END: rows[END].round(4).to_numpy(),
                LABEL: videos["label"].to_numpy() if "label" in videos else None,
                PREDICTION: np.array(
                    [self.classes[k] for k in probabilities.argmax(axis=1)], dtype=object
                ),
            }
        )
        frame[scores] = probabilities
        metadata = videos[[c for c in videos.columns if c not in NOT_METADATA]]
        return pd.concat([frame, metadata], axis=1)
