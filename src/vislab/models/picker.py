"""`vislab models`: candidate classification backbones, each with its published ImageNet-1k
top-1 (imagenet_results.csv: rows of timm's results table, Apache-2.0, for the weights timm
loads by default) beside what it costs on this machine at the user's image size:

- parameters and GFLOPs of one image's forward pass (torch's FlopCounterMode, on the meta
  device: no memory, no time);
- inference images/s: real JPEG decoding (scikit-learn's sample photos) and the evaluation
  transform per image, plus the model's forward pass over a batch;
- training images/s: the training transform per image, plus forward, backward and an AdamW step.

Each timing repeats until its spread is small or its share of the time is spent (`timed`);
the batch is sized from the model's GFLOPs and this machine's speed, measured first on a
reference model, so that every candidate takes about the same short time. A model is on the
accuracy-per-compute front when no other is both at least as accurate and at least as fast
(inference), and better in one of the two.
"""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import resources

RESULTS = "imagenet_results.csv"
REFERENCE = "resnet18"  # measured first: this machine's GFLOP/s
STEP_SECONDS = 0.06  # a forward pass over one batch should take about this long
LEAST_BATCH = 2  # batch norm trains on two images at least (a slow machine asked for one)
TIMING_SECONDS = 0.5  # the most one timing may take (after its first, untimed call)
SPREAD = 0.05  # a timing stops early once its standard error is this share of its median


@dataclass
class Candidate:
    model: str  # timm architecture
    tag: str  # the default pretrained weights the published top-1 belongs to
    imagenet_top1: float
    test_size: int  # the image size of that result
    params_m: float  # as published (1,000 classes)


@dataclass
class Measured:
    model: str
    params_m: float
    gflops: float
    imagenet_top1: float
    test_size: int
    infer_images_per_s: float
    train_images_per_s: float
    front: bool = False

    def row(self) -> dict:
        return asdict(self)


def candidates() -> list[Candidate]:
    """The backbones `vislab models` weighs, from the package's results table."""
    import pandas as pd

    with resources.files("vislab.models").joinpath(RESULTS).open() as table:
        frame = pd.read_csv(table, comment="#", dtype=str, keep_default_na=False)
    return [
        Candidate(row.model, row.tag, float(row.top1), int(row.img_size), float(row.param_count))
        for row in frame.itertuples()
    ]


def build(name: str, image_size: int, device: str = "cpu"):
    """The backbone with random weights (1,000 classes), sized for `image_size`."""
    import torch

    from vislab.models.backbones import create_classifier

    with torch.device(device):
        return create_classifier(name, 1000, "none", image_size=image_size)


def gflops(name: str, image_size: int) -> float:
    """GFLOPs (multiply and add counted apart) of one image's forward pass."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model = build(name, image_size, "meta").eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, 3, image_size, image_size, device="meta"))
    return counter.get_total_flops() / 1e9


def timed(call: Callable[[], object], seconds: float = TIMING_SECONDS, clock=time.perf_counter):
    """Seconds per call: the median of repeated calls after an untimed first one, until the
    standard error is under SPREAD of the median (three calls at least) or `seconds` are
    spent (one call at least)."""
    call()
    times: list[float] = []
    start = clock()
    while True:
        before = clock()
        call()
        times.append(clock() - before)
        steady = len(times) >= 3 and (
            statistics.stdev(times) / len(times) ** 0.5 <= SPREAD * statistics.median(times)
        )
        if steady or clock() - start >= seconds:
            return statistics.median(times)


class Photos:
    """Real photos as JPEG bytes (scikit-learn's two samples), decoded per image as a user's
    collection would be: the seconds per image of the evaluation and training transforms."""

    def __init__(self, image_size: int) -> None:
        from vislab.data.transforms import (
            IMAGENET_MEAN,
            IMAGENET_STD,
            eval_transform,
            train_transform,
        )

        self.jpegs = _sample_photos()
        self.eval = eval_transform(image_size, IMAGENET_MEAN, IMAGENET_STD)
        self.train = train_transform(image_size, ["flip"], IMAGENET_MEAN, IMAGENET_STD)

    def seconds_per_image(self, transform) -> float:
        from PIL import Image

        def decode_all():
            for data in self.jpegs:
                transform(Image.open(io.BytesIO(data)).convert("RGB"))

        return timed(decode_all) / len(self.jpegs)


def _sample_photos() -> list[bytes]:
    folder = resources.files("sklearn.datasets").joinpath("images")
    return [folder.joinpath(name).read_bytes() for name in ("china.jpg", "flower.jpg")]


def machine_gflops_per_s(image_size: int) -> float:
    """This machine's forward-pass speed on the reference model, in GFLOP/s."""
    import torch

    model = build(REFERENCE, image_size).eval()
    batch = torch.randn(4, 3, image_size, image_size)
    with torch.no_grad():
        seconds = timed(lambda: model(batch), seconds=0.5)
    return 4 * gflops(REFERENCE, image_size) / seconds


def measure(candidate: Candidate, image_size: int, speed: float, decode: tuple[float, float]):
    """The candidate's Measured row: `speed` this machine's GFLOP/s, `decode` the seconds per
    image of the evaluation and training transforms."""
    import torch

    cost = gflops(candidate.model, image_size)
    batch = int(min(32, max(LEAST_BATCH, round(STEP_SECONDS * speed / max(cost, 1e-6)))))
    model = build(candidate.model, image_size)
    images = torch.randn(batch, 3, image_size, image_size)
    labels = torch.randint(0, 1000, (batch,))
    model.eval()
    with torch.no_grad():
        forward = timed(lambda: model(images))
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()

    training = timed(step)
    return Measured(
        model=candidate.model,
        params_m=round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
        gflops=round(cost, 3),
        imagenet_top1=candidate.imagenet_top1,
        test_size=candidate.test_size,
        infer_images_per_s=round(1 / (decode[0] + forward / batch), 1),
        train_images_per_s=round(1 / (decode[1] + training / batch), 1),
    )


def on_front(rows: list[Measured]) -> list[Measured]:
    """The rows, each marked `front` when no other row is at least as accurate and at least
    as fast at inference, and better in one of the two."""
    for row in rows:
        row.front = not any(
            other.imagenet_top1 >= row.imagenet_top1
            and other.infer_images_per_s >= row.infer_images_per_s
            and (
                other.imagenet_top1 > row.imagenet_top1
                or other.infer_images_per_s > row.infer_images_per_s
            )
            for other in rows
        )
    return rows


def pick(image_size: int = 224, only: list[str] | None = None, progress=None) -> list[Measured]:
    """Every candidate (or those named in `only`) measured here, fastest first, the
    accuracy-per-compute front marked. `progress(done, total, name)` is told each model."""
    from vislab.errors import UsageError

    chosen = candidates()
    if only:
        known = {candidate.model for candidate in chosen}
        unknown = [name for name in only if name not in known]
        if unknown:
            raise UsageError(
                f"--only: not a candidate: {', '.join(unknown)}. Candidates: "
                f"{', '.join(sorted(known))}."
            )
        chosen = [candidate for candidate in chosen if candidate.model in only]
    photos = Photos(image_size)
    decode = (photos.seconds_per_image(photos.eval), photos.seconds_per_image(photos.train))
    speed = machine_gflops_per_s(image_size)
    rows = []
    for done, candidate in enumerate(chosen):
        if progress is not None:
            progress(done, len(chosen), candidate.model)
        rows.append(measure(candidate, image_size, speed, decode))
    rows.sort(key=lambda row: -row.infer_images_per_s)
    return on_front(rows)
