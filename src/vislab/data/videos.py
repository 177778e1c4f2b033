"""Video sources, decoding with PyAV, clip sampling, and generated videos of moving shapes.

Sources become a `VideoTable` (a row per video: `id`, `path`, `label`, optional `start`/`end`
seconds, metadata): a folder of videos per class (mp4, avi, webm, mkv, mov, or folders of
extracted frames: class/video/0001.jpg) or a manifest (`path` to a file or a frame folder,
`label`, optional `start`, `end`, `fps`, metadata). Frame folders carry no frame rate: it comes
from the manifest's `fps` column. torchvision 0.29 has no `read_video`: frames
are decoded with PyAV (its own FFmpeg). `probe` says why a video cannot be used (unreadable, no
video stream, no frames) instead of failing mid-run.

Clip sampling picks `frames` frames `stride` apart: `uniform` (evenly spaced clip starts),
`random` (training) or several clips per video at evaluation (`clips_per_video`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import torch

from vislab.data.table import Table
from vislab.errors import InputError
from vislab.files import LISTED_PATH, TABLE_SUFFIXES, listed_files, read_table, rows_text

VIDEO_SUFFIXES = {".mp4", ".avi", ".webm", ".mkv", ".mov"}
DIRECTIONS = ("left", "right", "up", "down")


@dataclass
class VideoInfo:
    frames: int
    fps: float
    width: int
    height: int

    @property
    def seconds(self) -> float:
        return self.frames / self.fps if self.fps else 0.0


def frame_files(folder: Path) -> list[Path]:
    """A folder of extracted frames: its images in name order (0001.jpg, 0002.jpg, ...)."""
    from vislab.data.images import IMAGE_SUFFIXES

    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _probe_frames(folder: Path) -> VideoInfo | str:
    """Frame folders carry no rate: fps is 0 here and comes from the manifest's fps column."""
    from vislab.data.images import image_problem

    files = frame_files(folder)
    if not files:
        return "zero-length video: the frame folder holds no images"
    bad = [f"{f.name} ({why})" for f in files if (why := image_problem(f))]
    if bad:
        return f"unreadable frame(s): {', '.join(bad[:3])}"
    from PIL import Image

    with Image.open(files[0]) as first:
        width, height = first.size
    return VideoInfo(len(files), 0.0, width, height)


def probe(path: str | Path) -> VideoInfo | str:
    """The video's frame count, rate and size (counted by decoding), or why it cannot be used."""
    import av

    path = Path(path)
    if path.is_dir():
        return _probe_frames(path)
    if not path.is_file():
        return "missing: no file at this path"
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return "no video stream"
            if container.format.name.endswith("_pipe") or container.format.name == "image2":
                return (
                    f"not a video: the content is a still image ({container.format.name}), "
                    "whatever the file's name says"
                )
            stream = container.streams.video[0]
            frames = sum(1 for _ in container.decode(stream))
            fps = float(stream.average_rate or stream.guessed_rate or 0)
            width, height = stream.codec_context.width, stream.codec_context.height
    except (av.error.FFmpegError, OSError, ValueError) as error:
        return f"unreadable video: {error}"
    if frames == 0:
        return "zero-length video: no frames decode"
    return VideoInfo(frames, fps, width, height)


def read_frames(path: str | Path, indices: list[int] | np.ndarray) -> np.ndarray:
    """Frames at `indices` (sorted or not, repeats allowed; counted from 0 in presentation
    order) as (T, H, W, 3) uint8 RGB; an index past the end reads the video's last frame.

    A video file is entered by seeking to the keyframe before the first wanted frame (frames
    placed by their timestamps at a constant rate, `_seek_frames`), not decoded from its
    start; where the timestamps do not place the frames exactly, from its start."""
    import av

    if Path(path).is_dir():  # extracted frames
        from vislab.data.images import read_image

        files = frame_files(Path(path))
        return np.stack(
            [np.asarray(read_image(files[min(int(i), len(files) - 1)])) for i in indices]
        )
    wanted = sorted(set(int(i) for i in indices))
    with av.open(str(path)) as container:
        found = _seek_frames(container, wanted) if wanted[0] > 0 else None
    if found is None:
        with av.open(str(path)) as container:
            found = _decoded_frames(enumerate(container.decode(container.streams.video[0])), wanted)
    if found is None:
        raise InputError(f"{path}: no frames could be decoded.")
    frames, last = found
    return np.stack([frames.get(int(i), last) for i in indices])


def _decoded_frames(numbered, wanted: list[int]):
    """({index: pixels} of the wanted frames among (index, frame) pairs, the last frame's
    pixels), stopping at the last wanted; None where no frame decodes."""
    found: dict[int, np.ndarray] = {}
    final = None
    for number, frame in numbered:
        final = frame
        if number in wanted:
            found[number] = frame.to_ndarray(format="rgb24")
        if number >= wanted[-1]:
            break
    if final is None:
        return None
    return found, final.to_ndarray(format="rgb24")


class _Unplaced(Exception):
    """The timestamps after a seek do not number the frames exactly."""


def _seek_frames(container, wanted: list[int]):
    """`_decoded_frames` after seeking to the keyframe before the first wanted frame, the
    frames numbered from their timestamps (`_placed`); None (decode from the start instead)
    where they cannot be."""
    import av

    stream = container.streams.video[0]
    rate, base, start = stream.average_rate, stream.time_base, stream.start_time
    if not rate or not base or start is None:
        return None
    duration = 1 / (rate * base)  # a frame's length in timestamp units (a Fraction)
    try:
        container.seek(int(start + wanted[0] * duration), stream=stream, backward=True)
        return _decoded_frames(_placed(container.decode(stream), start, duration, wanted), wanted)
    except (_Unplaced, av.error.FFmpegError):
        return None


def _placed(frames, start: int, duration, wanted: list[int]):
    """(index, frame) for decoded frames, index = (pts - start) / duration; _Unplaced where a
    frame has no timestamp or falls between two places, where the first comes after the first
    wanted frame (the seek went too far) or a later one does not follow the one before."""
    previous = None
    for frame in frames:
        if frame.pts is None:
            raise _Unplaced
        place = (frame.pts - start) / duration
        follows = place <= wanted[0] if previous is None else place == previous + 1
        if place != int(place) or not follows:
            raise _Unplaced
        previous = int(place)
        yield previous, frame


def clip_starts(
    total: int,
    frames: int,
    stride: int,
    count: int,
    mode: str,
    rng: np.random.Generator | None = None,
) -> list[int]:
    """First frames of `count` clips of `frames` frames `stride` apart in a video of `total`
    frames."""
    span = (frames - 1) * stride + 1
    last = max(0, total - span)
    if mode == "random":  # torch's generator: seeded per DataLoader worker and per epoch
        if rng is not None:
            return [int(rng.integers(0, last + 1)) for _ in range(count)]
        return torch.randint(0, last + 1, (count,)).tolist()
    if count == 1:
        return [last // 2]  # the centre clip
    return [int(round(x)) for x in np.linspace(0, last, count)]


def clip_indices(start: int, frames: int, stride: int) -> np.ndarray:
    return start + stride * np.arange(frames)


@dataclass
class VideoTable(Table):
    """A row per video: `id`, `path`, `label`, optional `start`/`end` seconds, metadata, and
    once probed its `frames` and `fps`."""

    item: ClassVar[str] = "video"

    def read(self, position: int):
        raise TypeError("a video is read as clips (data/video_loaders.py), not as one image")

    def annotation(self, position: int) -> str:
        row = self.frame.iloc[position]
        bounds = [row[c] for c in ("start", "end") if c in self.frame.columns]
        return f"{row['label']}{bounds if bounds else ''}"


def from_video_folder(root: str | Path) -> VideoTable:
    root = Path(root)
    if not root.is_dir():
        raise InputError(
            f"{root}: no such folder; give a folder of videos per class (root/<class>/<file>)."
        )
    videos = [
        p
        for p in sorted(root.rglob("*"))
        if p.suffix.lower() in VIDEO_SUFFIXES and p.parent != root
    ]
    frames = [
        p for p in sorted(root.glob("*/*")) if p.is_dir() and frame_files(p)
    ]  # class/video/0001.jpg
    rows = [
        {"id": p.relative_to(root).as_posix(), "path": str(p.resolve()), "label": p.parent.name}
        for p in sorted(videos + frames)
    ]
    if not rows:
        raise InputError(
            f"{root}: no videos ({', '.join(sorted(VIDEO_SUFFIXES))}) in class subfolders."
        )
    frame = pd.DataFrame(rows)
    return VideoTable(frame, sorted(frame["label"].unique()), f"video folder {root}")


def from_video_manifest(path: str | Path, allow_outside_root: bool = False) -> VideoTable:
    path = Path(path)
    table = read_table(path)
    missing = [c for c in ("path", "label") if c not in table.columns]
    if missing:
        raise InputError(
            f"{path}: a video manifest needs the columns path and label; missing {missing}."
        )
    table[LISTED_PATH] = table["path"].astype(str)
    table["path"] = listed_files(table[LISTED_PATH].tolist(), path, allow_outside_root)
    table["label"] = table["label"].astype(str)
    if "id" not in table.columns:
        table.insert(0, "id", [f"{Path(p).name}#{i}" for i, p in enumerate(table["path"])])
    for column in ("start", "end"):
        if column in table.columns and (table[column] < 0).any():
            raise InputError(
                f"{path}: negative '{column}' seconds on "
                f"{rows_text(np.flatnonzero((table[column] < 0).to_numpy()))}."
            )
    return VideoTable(table, sorted(table["label"].unique()), f"video manifest {path}")


def video_source(path: str | Path, allow_outside_root: bool = False) -> VideoTable:
    path = Path(path)
    if path.is_dir():
        return from_video_folder(path)
    return from_video_manifest(path, allow_outside_root)


def summarize_videos(table: VideoTable) -> dict:
    """What `vislab data check` reports for videos: counts, lengths, unusable files and why."""
    infos = [probe(p) for p in table.frame["path"]]
    bad = [
        {"path": p, "reason": info}
        for p, info in zip(table.frame["path"], infos, strict=True)
        if isinstance(info, str)
    ]
    rates = (
        table.frame["fps"].astype(float)
        if "fps" in table.frame.columns
        else pd.Series(0.0, index=table.frame.index)
    )
    good = [info for info in infos if not isinstance(info, str)]
    for info, rate in zip(infos, rates, strict=True):
        if not isinstance(info, str) and not info.fps and rate > 0:
            info.fps = float(rate)  # frame folders: the manifest's rate
    seconds = [info.seconds for info in good]
    return {
        "source": table.description,
        "videos": len(table),
        "classes": table.frame["label"].value_counts().sort_index().to_dict(),
        "unusable": bad,
        "frames_median": float(np.median([i.frames for i in good])) if good else None,
        "seconds_median": float(np.median(seconds)) if seconds else None,
        "fps": sorted({round(i.fps, 3) for i in good}),
    }


def is_video_source(path: str | Path) -> bool:
    path = Path(path)
    if path.is_dir():
        return any(p.suffix.lower() in VIDEO_SUFFIXES for p in path.rglob("*"))
    if path.suffix.lower() in TABLE_SUFFIXES:
        paths = read_table(path).get("path")
        if paths is None or not len(paths):
            return False
        first = path.resolve().parent / str(paths.iloc[0])
        return (
            first.suffix.lower() in VIDEO_SUFFIXES or first.is_dir()
        )  # a video file or a frame folder
    return False


# x264 in one thread and without its macroblock-tree rate control: the same frames give the same
# bytes every time (with either, a sample's videos, and so a model trained on them, varied).
SAME_BYTES = {"threads": "1", "x264-params": "threads=1:lookahead-threads=1:no-mbtree=1"}


def write_video(path: Path, frames: np.ndarray, fps: int = 8, keyframe_every: int = 0) -> None:
    """(T, H, W, 3) uint8 RGB frames to an H.264 mp4 (PyAV), the same bytes for the same
    frames; a keyframe every `keyframe_every` frames (0: the encoder's choice)."""
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps, options=SAME_BYTES)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        if keyframe_every:
            stream.codec_context.gop_size = keyframe_every
        for pixels in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def moving_square(
    direction: str, rng: np.random.Generator, frames: int = 16, size: int = 32, noise: float = 15.0
) -> np.ndarray:
    """A bright square crossing a dark background in `direction`: the class is the motion."""
    side = size // 4
    travel = size - side
    base = np.clip(rng.normal(60, noise, (frames, size, size, 3)), 0, 255)
    colour = rng.integers(150, 256, 3)
    offset = int(rng.integers(0, travel))
    for t in range(frames):
        moved = int(round(travel * t / max(frames - 1, 1)))
        x = {"left": travel - moved, "right": moved}.get(direction, offset)
        y = {"up": travel - moved, "down": moved}.get(direction, offset)
        base[t, y : y + side, x : x + side] = colour
    return base.astype(np.uint8)


def make_moving_shapes(
    out: str | Path, per_class: int = 12, frames: int = 16, size: int = 32, seed: int = 0
) -> Path:
    """out/<direction>/<n>.mp4 and out/manifest.csv (path, label, background metadata); returns
    the manifest."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise InputError(f"{out}: the folder exists and is not empty; choose a new --out folder.")
    rng = np.random.default_rng(seed)
    rows = []
    for direction in DIRECTIONS:
        (out / direction).mkdir(parents=True, exist_ok=True)
        for number in range(per_class):
            relative = f"{direction}/{number:03d}.mp4"
            background = "noisy" if number % 2 else "plain"
            noise = 25.0 if background == "noisy" else 3.0
            write_video(out / relative, moving_square(direction, rng, frames, size, noise))
            rows.append({"path": relative, "label": direction, "background": background})
    manifest = out / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest
