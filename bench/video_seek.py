"""Video clips read by seeking against decoding from the start, side by side in one run.

A generated H.264 video (--frames frames of --size px, a keyframe every --keyframe-every frames,
B-frames on, as cameras and encoders write them) and --clips clips of 16 frames 2 apart at
random starts: each clip read by `read_frames` (a seek to the keyframe before it, then decoding
forward) and by decoding from frame 0, as vislab did before. Both give the same pixels (checked
here, and in the tests on many random clips); the seconds per clip and the ratio are printed
and written as JSON.

    python bench/video_seek.py [--frames 3000] [--size 224] [--keyframe-every 48] [--clips 20]
        [--out bench/results/video_seek.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np


def from_the_start(path: Path, indices: list[int]) -> np.ndarray:
    """The clip decoded from frame 0 (the way before seeking)."""
    import av

    from vislab.data.videos import _decoded_frames

    wanted = sorted(set(indices))
    with av.open(str(path)) as container:
        frames, last = _decoded_frames(
            enumerate(container.decode(container.streams.video[0])), wanted
        )
    return np.stack([frames.get(i, last) for i in indices])


def make_video(path: Path, frames: int, size: int, keyframe_every: int) -> None:
    """A square drifting over a noisy gradient (so that frames differ and compress as video)."""
    import av

    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 200, size)[None, :, None]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.height = stream.width = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = keyframe_every
        for t in range(frames):
            pixels = np.repeat(ramp, size, axis=0) + rng.normal(0, 8, (size, size, 1))
            x = (5 * t) % (size - 40)
            pixels[40:80, x : x + 40] = 250
            image = np.clip(pixels, 0, 255).astype(np.uint8).repeat(3, axis=2)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def main() -> None:
    from vislab.data.videos import read_frames

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--keyframe-every", type=int, default=48)
    parser.add_argument("--clips", type=int, default=20)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "video_seek.json"
    )
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "long.mp4"
        make_video(path, args.frames, args.size, args.keyframe_every)
        clips = [
            [int(start) + 2 * k for k in range(16)]
            for start in rng.integers(0, args.frames - 32, args.clips)
        ]
        seconds = {"seek": 0.0, "from_start": 0.0}
        for clip in clips:
            began = time.perf_counter()
            sought = read_frames(path, clip)
            seconds["seek"] += time.perf_counter() - began
            began = time.perf_counter()
            decoded = from_the_start(path, clip)
            seconds["from_start"] += time.perf_counter() - began
            if not np.array_equal(sought, decoded):
                raise SystemExit(f"clip at {clip[0]}: seeking read other pixels")
    result = {
        "benchmark": "video_seek",
        "frames": args.frames,
        "size": args.size,
        "keyframe_every": args.keyframe_every,
        "clips": args.clips,
        "seconds_per_clip_seek": seconds["seek"] / args.clips,
        "seconds_per_clip_from_start": seconds["from_start"] / args.clips,
        "speedup": seconds["from_start"] / seconds["seek"],
        "same_pixels": True,
        "platform": platform.platform(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{args.clips} clips of 16 frames from a {args.frames}-frame {args.size} px video "
        f"(a keyframe every {args.keyframe_every}): seeking {result['seconds_per_clip_seek']:.3f}"
        f" s a clip, decoding from the start {result['seconds_per_clip_from_start']:.3f} s: "
        f"{result['speedup']:.1f}x, the same pixels"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
