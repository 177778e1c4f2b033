"""Video classification: torchvision's video models, frame pooling over timm backbones, VideoMAE.

Data: a folder of videos per class, or a manifest (optionally with start/end seconds, or an fps
for folders of extracted frames); every video is probed before training. Training: one random
clip per video per epoch. Predictions: each held-out video cut into `clips_per_video` windows,
DESIGN's windowed table (`predictions.csv`) with `videos.csv` beside it. Report: video-level
top-k, temporal consistency, groups, and a timeline strip per video.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from vislab.config import DataConfig, ExperimentConfig
from vislab.data.prepare import TaskData
from vislab.errors import InputError
from vislab.predictions import END, LABEL, PREDICTION, START, VIDEO_ID, score_column
from vislab.tasks.base import EvaluateOptions, Run, Task
from vislab.tasks.registry import register


@register
class VideoTask(Task):
    name = "video"
    sources = ("videofolder", "manifest")
    models = "torchvision:r3d_18 and kin, frames:TIMM_NAME, transformers:videomae"
    evaluate_options = frozenset({"classes", "normalize_scores"})

    def check_backbone(self, name: str) -> str | None:
        from vislab.models.video import VIDEO_MODELS, is_video_model

        if is_video_model(name):
            return None
        names = ", ".join(f"torchvision:{model}" for model in VIDEO_MODELS)
        return f"video needs a video model ({names}, transformers:videomae) or frames:TIMM_NAME."

    # data

    def load_source(self, data: DataConfig):
        from vislab.data.videos import video_source

        return video_source(data.root, data.allow_outside_root)

    def inspect(self, table):
        """Every video probed (frame count and rate by decoding) and fingerprinted."""
        from vislab.data.videos import probe

        infos = [probe(p) for p in table.frame["path"]]
        problems = [info if isinstance(info, str) else None for info in infos]
        frame = table.frame.copy()
        frame["frames"] = [0 if isinstance(i, str) else i.frames for i in infos]
        probed = pd.Series([np.nan if isinstance(i, str) else i.fps for i in infos], dtype=float)
        given = (
            frame["fps"].astype(float)
            if "fps" in frame.columns
            else pd.Series(np.nan, index=frame.index)
        )
        frame["fps"] = probed.where(probed > 0, given)
        for position in range(len(infos)):
            if problems[position] is None and not frame["fps"].iat[position] > 0:
                problems[position] = "no frame rate: give the frame folder an fps in the manifest"
        digests = [
            None if why else _digest(p) for p, why in zip(frame["path"], problems, strict=True)
        ]
        return table.with_frame(frame), problems, digests

    def preprocessing(self, config: ExperimentConfig, data: TaskData) -> dict:
        from vislab.models.video import normalization

        settings, model = config.data, config.model
        return {
            "classes": data.classes,
            "image_size": settings.image_size,
            "frames": settings.frames,
            "frame_stride": settings.frame_stride,
            "fps": settings.fps,
            "clips_per_video": settings.clips_per_video,
            "normalization": normalization(model.backbone, model.pretrained),
        }

    def preview_item(self, config: ExperimentConfig, table, position: int):
        """The middle frame of a random augmented training clip, and the video's label."""
        import torch
        from PIL import Image

        from vislab.models.video import normalization

        norm = normalization(config.model.backbone, config.model.pretrained)
        table, problems, _ = self.inspect(table.subset([position]))
        if problems[0]:
            raise InputError(f"{table.frame['path'].iat[0]}: {problems[0]}")
        clip = self.clips(config, table, True, norm)[0][0]  # (C, T, H, W)
        mean, std = (torch.tensor(v).view(3, 1, 1) for v in norm)
        frame = (clip[:, clip.shape[1] // 2] * std + mean).clamp(0, 1)
        pixels = (frame.permute(1, 2, 0).numpy() * 255).astype("uint8")
        return Image.fromarray(pixels), str(table.frame["label"].iat[0])

    # model and training

    def build_model(self, config: ExperimentConfig, classes: list[str], pretrained: bool = True):
        from vislab.models.video import create_video_model

        model, settings = config.model, config.data
        weights = model.pretrained if pretrained else "none"
        if not pretrained and model.backbone == "transformers:videomae":
            weights = model.pretrained  # its architecture is the saved folder's
        return create_video_model(
            model.backbone, len(classes), weights, settings.frames, settings.image_size
        )

    def build_module(self, config: ExperimentConfig, classes: list[str], model, data=None):
        from vislab.tasks.modules import ClassificationModule

        return ClassificationModule(model, config, classes)

    def clips(self, config: ExperimentConfig, table, train: bool, normalization):
        from vislab.data.video_loaders import VideoClips, video_transform

        settings = config.data
        transform = video_transform(settings.image_size, settings.augment, train, normalization)
        return VideoClips(
            table,
            settings.frames,
            settings.frame_stride,
            transform,
            train,
            settings.clips_per_video,
            settings.fps,
        )

    def train_loaders(self, config: ExperimentConfig, data: TaskData) -> list:
        from torch.utils.data import DataLoader

        from vislab.data.loaders import train_loader
        from vislab.models.video import normalization

        settings = config.data
        norm = normalization(config.model.backbone, config.model.pretrained)
        train, val = data.split("train"), data.split("val")
        loaders = [
            train_loader(
                self.clips(config, train, True, norm),
                settings.batch_size,
                settings.num_workers,
                config.train.seed,
            )
        ]
        if len(val):
            loaders.append(
                DataLoader(
                    self.clips(config, val, False, norm),
                    settings.batch_size,
                    num_workers=settings.num_workers,
                )
            )
        return loaders

    # predictions

    def item_suffixes(self) -> set[str]:
        from vislab.data.videos import VIDEO_SUFFIXES

        return set(VIDEO_SUFFIXES)

    def item_problem(self, path: Path) -> str | None:
        from vislab.data.videos import probe

        info = probe(path)
        return info if isinstance(info, str) else None

    def items(self, paths: list[Path]):
        from vislab.data.videos import VideoTable

        frame = pd.DataFrame(
            {"id": [str(p) for p in paths], "path": [str(p.resolve()) for p in paths]}
        )
        table, problems, _ = self.inspect(VideoTable(frame, [], "videos"))
        bad = [f"  - {p}: {why}" for p, why in zip(paths, problems, strict=True) if why]
        if bad:
            raise InputError(f"{len(bad)} video(s) cannot be used:\n" + "\n".join(bad))
        return table

    def prediction_job(self, run: Run, full_decode: bool = False):
        """The collection engine's job: each video's windows (`tasks/video_job.py`)."""
        from vislab.tasks.video_job import VideoJob, VideoReader

        settings, train = run.config.data, run.config.train
        reader = VideoReader(settings, run.preprocessing["normalization"])
        module = self.prediction_module(run)
        return VideoJob(
            module, run.classes, reader, settings.batch_size, train.precision, train.accelerator
        )

    def prediction_loader(self, run: Run, table):
        from torch.utils.data import DataLoader

        norm = run.preprocessing["normalization"]
        dataset = self.clips(run.config, table, False, norm)
        return DataLoader(
            dataset, run.config.data.batch_size, num_workers=run.config.data.num_workers
        )

    def predictions(self, rows: pd.DataFrame, table, run: Run) -> pd.DataFrame:
        """DESIGN's windowed table: a row per window, with the video's path and metadata."""
        dataset = self.clips(run.config, table, False, run.preprocessing["normalization"])
        windows = [dataset.window(int(item)) for item in rows["position"]]
        videos = table.frame.iloc[[position for position, _, _ in windows]].reset_index(drop=True)
        scores = rows[[score_column(c) for c in run.classes]].to_numpy()
        frame = pd.DataFrame(
            {
                VIDEO_ID: videos["id"],
                START: [round(s, 4) for _, s, _ in windows],
                END: [round(e, 4) for _, _, e in windows],
                LABEL: videos["label"] if "label" in videos.columns else None,
                PREDICTION: [run.classes[k] for k in scores.argmax(axis=1)],
            }
        )
        frame[[score_column(c) for c in run.classes]] = scores
        skip = {"id", "label", "split", "frames", "fps", "start", "end"}
        metadata = videos[[c for c in videos.columns if c not in skip]]
        return pd.concat([frame, metadata], axis=1)

    def summarize_predictions(self, predictions: pd.DataFrame, count: int = 10) -> list[str]:
        lines = [
            f"{row.video_id} {row.start:.1f}-{row.end:.1f} s: {row.prediction}"
            for row in predictions.head(count).itertuples()
        ]
        videos = predictions.groupby(VIDEO_ID)["prediction"].agg(lambda s: s.mode().iloc[0])
        counts = videos.value_counts()
        summary = ", ".join(f"{name} {n}" for name, n in counts.items())
        return [
            *lines,
            f"{len(videos)} videos, {len(predictions)} windows; most frequent per video: {summary}",
        ]

    def write_predictions(self, path: Path, predictions: pd.DataFrame, table) -> None:
        """The windows, and (for the run's held-out split) videos.csv: each video's path, frame
        count and rate, for the report's timelines."""
        from vislab.files import write_table

        write_table(path, predictions)
        if "split" in table.frame.columns:
            write_table(path.parent / "videos.csv", table.frame)

    # evaluation and report

    def evaluate_run(self, run_dir: Path) -> dict:
        from vislab.tasks.video_report import evaluate_video_run

        return evaluate_video_run(self, Path(run_dir))

    def evaluate_files(self, predictions, options: EvaluateOptions) -> dict:
        from vislab.evaluation.video import evaluate_video
        from vislab.files import read_table

        source = "predictions" if isinstance(predictions, pd.DataFrame) else str(predictions)
        table = predictions if isinstance(predictions, pd.DataFrame) else read_table(predictions)
        if options.normalize_scores:
            from vislab.evaluation.inputs import normalize_scores

            table = normalize_scores(table, source)
        return evaluate_video(
            table,
            options.group_by,
            options.bootstrap,
            options.confidence,
            options.seed,
            source,
            options.classes or None,
        )

    def explain(self, run: Run, paths: list[Path], method: str, target: str, out: Path):
        from vislab.tasks.video_report import explain_videos

        return explain_videos(self, run, paths, method, target, out)


def _digest(path: str) -> str:
    """A video file's sha256, or a frame folder's (over its frames' digests, in order)."""
    from vislab.data.images import file_digest
    from vislab.data.videos import frame_files

    if not Path(path).is_dir():
        return file_digest(path)
    return hashlib.sha256(
        "".join(file_digest(f) for f in frame_files(Path(path))).encode()
    ).hexdigest()
