"""Video decoding with PyAV on generated videos whose class is the direction of motion, and
clips read by seeking equal to the same frames decoded from the start."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vislab.data.videos import (
    VideoInfo,
    clip_indices,
    clip_starts,
    from_video_folder,
    from_video_manifest,
    make_moving_shapes,
    probe,
    read_frames,
    summarize_videos,
)
from vislab.models.video import KINETICS_MEAN, KINETICS_STD

pytest.importorskip("av")
KINETICS = (KINETICS_MEAN, KINETICS_STD)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    return make_moving_shapes(
        tmp_path_factory.mktemp("videos") / "moving", per_class=2, frames=12, size=32
    )


def _centre(frame: np.ndarray) -> np.ndarray:
    bright = frame.mean(axis=2) > 120
    ys, xs = np.nonzero(bright)
    return np.array([xs.mean(), ys.mean()])


def test_decoded_frames_move_in_the_labelled_direction(videos):
    table = from_video_manifest(videos)
    assert len(table) == 8 and table.classes == ["down", "left", "right", "up"]
    expected = {"right": (1, 0), "left": (-1, 0), "down": (0, 1), "up": (0, -1)}
    for row in table.frame.itertuples():
        info = probe(row.path)
        assert (
            isinstance(info, VideoInfo)
            and info.frames == 12
            and (info.width, info.height) == (32, 32)
        )
        frames = read_frames(row.path, [0, 11])
        motion = _centre(frames[1]) - _centre(frames[0])
        assert np.sign(np.round(motion / 10)).tolist() == list(expected[row.label]), row.path


def test_read_frames_keeps_order_repeats_and_pads_past_the_end(videos):
    path = from_video_manifest(videos).frame["path"].iat[0]
    every = read_frames(path, range(12))
    picked = read_frames(path, [5, 1, 1, 30])
    assert np.array_equal(picked[0], every[5]) and np.array_equal(picked[1], picked[2])
    assert np.array_equal(picked[3], every[11])  # past the end: the last frame


def _from_the_start(path, indices) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        every = [f.to_ndarray(format="rgb24") for f in container.decode(container.streams.video[0])]
    return np.stack([every[min(int(i), len(every) - 1)] for i in indices])


@pytest.fixture(scope="module")
def long_video(tmp_path_factory):
    """200 frames, a keyframe every 24 (H.264 with B-frames): a frame's own noise tells it."""
    from vislab.data.videos import write_video

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (200, 32, 48, 3), dtype=np.uint8)
    path = tmp_path_factory.mktemp("long") / "long.mp4"
    write_video(path, frames, fps=25, keyframe_every=24)
    return path


@pytest.mark.parametrize("seed", range(8))
def test_clips_read_by_seeking_equal_the_frames_decoded_from_the_start(long_video, seed):
    import av

    from vislab.data import videos

    rng = np.random.default_rng(seed)
    start = int(rng.integers(1, 230))
    indices = [start + 2 * k for k in range(8)] + [int(rng.integers(0, 240))]
    with av.open(str(long_video)) as container:  # the seek itself, not its fallback
        frames, last = videos._seek_frames(container, sorted(set(indices)))
    expected = _from_the_start(long_video, indices)
    np.testing.assert_array_equal(np.stack([frames.get(i, last) for i in indices]), expected)
    np.testing.assert_array_equal(read_frames(long_video, indices), expected)


def test_frames_whose_timestamps_skip_are_decoded_from_the_start(tmp_path):
    """A variable rate (a frame missing from the timestamps): seeking would misnumber the
    frames after the gap, so they are counted from the start."""
    import av

    from vislab.data import videos

    rng = np.random.default_rng(1)
    path = tmp_path / "gap.mp4"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.height, stream.width, stream.pix_fmt = 32, 32, "yuv420p"
        stream.codec_context.gop_size = 10
        for number in range(60):
            frame = av.VideoFrame.from_ndarray(
                rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), format="rgb24"
            )
            frame.pts = number + (5 if number >= 30 else 0)  # 5 frames' time missing at 30
            frame.time_base = Fraction(1, 25)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    indices = [40, 41, 45, 70]
    with av.open(str(path)) as container:
        assert videos._seek_frames(container, indices) is None
    np.testing.assert_array_equal(read_frames(path, indices), _from_the_start(path, indices))


def test_clip_sampling():
    assert clip_starts(100, 8, 2, 1, "uniform") == [42]  # span 15: the centre clip
    assert clip_starts(100, 8, 2, 3, "uniform") == [0, 42, 85]
    starts = clip_starts(100, 8, 2, 50, "random", np.random.default_rng(0))
    assert min(starts) >= 0 and max(starts) <= 85
    assert clip_starts(5, 8, 2, 2, "uniform") == [0, 0]  # too short: from the start, padded later
    assert clip_indices(3, 4, 2).tolist() == [3, 5, 7, 9]


def test_unusable_videos_are_reported_not_fatal(videos, tmp_path):
    folder = tmp_path / "folder"
    (folder / "right").mkdir(parents=True)
    good = from_video_manifest(videos).frame["path"].iat[0]
    (folder / "right" / "good.mp4").write_bytes(Path(good).read_bytes())
    (folder / "right" / "broken.mp4").write_bytes(b"not a video")
    (folder / "right" / "empty.mp4").write_bytes(b"")
    summary = summarize_videos(from_video_folder(folder))
    reasons = {
        pd.io.common.Path(p).name: why
        for p, why in ((u["path"], u["reason"]) for u in summary["unusable"])
    }
    assert set(reasons) == {"broken.mp4", "empty.mp4"} and all(
        "unreadable" in r or "zero" in r for r in reasons.values()
    )
    assert summary["videos"] == 3 and summary["frames_median"] == 12


def test_data_check_and_sample_on_videos(tmp_path):
    import json

    from vislab.cli import run

    assert run(["data", "sample", "moving-shapes", "--out", str(tmp_path / "mv")]) == 0
    assert (
        run(
            [
                "data",
                "check",
                str(tmp_path / "mv" / "manifest.csv"),
                "--json",
                str(tmp_path / "ok.json"),
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "ok.json").read_text())["videos"] == 48
    (tmp_path / "mv" / "up" / "broken.mp4").write_bytes(b"junk")
    assert run(["data", "check", str(tmp_path / "mv"), "--json", str(tmp_path / "bad.json")]) == 1
    assert json.loads((tmp_path / "bad.json").read_text())["unusable"][0]["path"].endswith(
        "broken.mp4"
    )


def test_evaluation_windows_are_distinct_and_short_videos_get_fewer(videos):
    from vislab.data.video_loaders import VideoClips, video_transform

    table = from_video_manifest(videos)
    table.frame["frames"], table.frame["fps"] = 12, 8.0
    clips = VideoClips(
        table,
        frames=4,
        stride=2,
        transform=video_transform(32, [], False, KINETICS),
        train=False,
        clips_per_video=3,
    )
    assert len(clips) == 3 * len(table)
    assert [clips.window(i)[1] for i in range(3)] == [
        0.0,
        2 / 8,
        5 / 8,
    ]  # starts 0, 2 (2.5 rounds to even), 5
    long = VideoClips(
        table,
        frames=8,
        stride=2,
        transform=video_transform(32, [], False, KINETICS),
        train=False,
        clips_per_video=3,
    )
    assert len(long) == len(table)  # span 15 > 12 frames: one window per video
    clip, label, _ = clips[0]
    assert clip.shape == (3, 4, 32, 32) and label == table.classes.index(
        table.frame["label"].iat[0]
    )


def test_target_fps_sets_each_videos_stride(videos):
    from vislab.data.video_loaders import VideoClips, video_transform

    table = from_video_manifest(videos)
    table.frame["frames"] = 48
    table.frame["fps"] = [8.0, 24.0] * (len(table) // 2)
    clips = VideoClips(
        table,
        frames=4,
        stride=1,
        transform=video_transform(32, [], False, KINETICS),
        train=False,
        clips_per_video=1,
        target_fps=4.0,
    )
    assert clips.strides[:2] == [2, 6]  # 8 fps / 4 and 24 fps / 4
    durations = [clips.window(i)[2] - clips.window(i)[1] for i in range(2)]
    assert durations == pytest.approx([7 / 8, 19 / 24])  # both span about a second


def test_manifest_start_and_end_restrict_the_windows(videos):
    from vislab.data.video_loaders import VideoClips, video_transform

    table = from_video_manifest(videos)
    table.frame["frames"], table.frame["fps"] = 12, 8.0
    table.frame["start"], table.frame["end"] = 0.5, 1.25  # frames 4 .. 9
    clips = VideoClips(
        table,
        frames=2,
        stride=1,
        transform=video_transform(32, [], False, KINETICS),
        train=False,
        clips_per_video=3,
    )
    starts = [clips.window(i)[1] for i in range(3)]
    ends = [clips.window(i)[2] for i in range(3)]
    assert starts[0] == 0.5 and max(ends) <= 1.25 + 1e-9


def test_random_training_clips_differ_between_epochs_and_workers(videos):
    """A generator kept in the dataset is copied into every worker: each epoch, and each
    worker, would draw the same clips. The clips must differ between epochs."""
    import torch
    from torch.utils.data import DataLoader

    from vislab.data.video_loaders import VideoClips, video_transform

    table = from_video_manifest(videos)
    table.frame["frames"], table.frame["fps"] = 12, 8.0
    clips = VideoClips(
        table, frames=2, stride=1, transform=video_transform(32, [], False, KINETICS), train=True
    )
    loader = DataLoader(clips, batch_size=1, shuffle=False, num_workers=2, persistent_workers=False)
    torch.manual_seed(0)
    epochs = [torch.cat([clip for clip, _, _ in loader]) for _ in range(2)]  # (videos, C, T, H, W)
    same = [torch.equal(a, b) for a, b in zip(*epochs, strict=True)]
    assert not all(same)  # 11 starts per video: all equal by chance is (1/11)^16
    starts_first = [clip[:, 0] for clip in epochs[0][:4]]
    assert len({tuple(c.flatten()[:50].tolist()) for c in starts_first}) > 1


def test_each_ddp_process_draws_its_own_clips_each_epoch(videos):
    """The main process is seeded per (seed, epoch, rank) when an epoch starts: two DDP
    processes reading their videos in the main process (no workers) draw different clips,
    each epoch its own, and the first process's draws are those of a one-process run."""
    import lightning as L
    import torch
    from torch.utils.data import DataLoader

    from vislab.data.loaders import epoch_seed
    from vislab.data.video_loaders import VideoClips, video_transform
    from vislab.tasks.fitting import seed_epoch

    table = from_video_manifest(videos)
    table.frame["frames"], table.frame["fps"] = 12, 8.0
    clips = VideoClips(
        table, frames=2, stride=1, transform=video_transform(32, [], False, KINETICS), train=True
    )

    def drawn(epoch: int, rank: int) -> torch.Tensor:
        seed_epoch(7, epoch, rank)
        return torch.cat([clip for clip, _, _ in DataLoader(clips, batch_size=4)])

    first = drawn(0, 0)
    assert torch.equal(first, drawn(0, 0))  # repeatable: a resumed epoch draws the same
    for other in (drawn(0, 1), drawn(1, 0)):  # another process; another epoch
        assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))
    L.seed_everything(epoch_seed(7, 0), workers=True, verbose=False)  # as one process seeds it
    assert torch.equal(first, torch.cat([c for c, _, _ in DataLoader(clips, batch_size=4)]))


def test_a_generated_sample_is_the_same_bytes_every_time(tmp_path):
    """The moving-shapes videos are written anew by `vislab data sample`: with x264's threads
    or its macroblock tree, about one video in four came out different each time, and a model
    trained on them with the same seed learnt differently."""
    first = make_moving_shapes(tmp_path / "a").parent
    second = make_moving_shapes(tmp_path / "b").parent
    names = sorted(p.relative_to(first) for p in first.rglob("*.mp4"))
    assert len(names) == 48
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
