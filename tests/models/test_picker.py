"""The model picker: its published numbers belong to the weights timm loads, its FLOPs are
torch's count, its timings stop as they say, its front is the undominated set."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from timm.models import get_pretrained_cfg
from torch.utils.flop_counter import FlopCounterMode

from vislab.cli import run
from vislab.models.picker import Measured, build, candidates, gflops, on_front, timed


def test_each_published_top1_is_for_the_weights_timm_loads_by_default():
    """The table's tag is timm's default tag for the architecture (the weights `pretrained:
    hub` loads), and its parameter count is the model's (built on the meta device)."""
    rows = candidates()
    assert len(rows) >= 40 and len({row.model for row in rows}) == len(rows)
    for row in rows:
        assert get_pretrained_cfg(row.model).tag == row.tag, row.model
        params = sum(p.numel() for p in build(row.model, row.test_size, "meta").parameters())
        assert abs(params / 1e6 - row.params_m) <= 0.006, row.model
        assert 50 < row.imagenet_top1 < 90


def _counted_on_cpu(name: str, size: int) -> float:
    model = build(name, size).eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    return counter.get_total_flops()


def test_gflops_are_torchs_count_of_a_real_forward():
    """On the meta device as on the CPU; for a ViT the meta count also has the attention's two
    products (4 N^2 d a block), which the CPU's fused attention kernel leaves uncounted."""
    assert gflops("resnet10t", 32) == _counted_on_cpu("resnet10t", 32) / 1e9 > 0
    tokens, width, depth = (64 // 16) ** 2 + 1, 192, 12  # vit_tiny_patch16 at 64 px
    attention = 4 * tokens**2 * width * depth
    assert gflops("vit_tiny_patch16_224", 64) * 1e9 == pytest.approx(
        _counted_on_cpu("vit_tiny_patch16_224", 64) + attention, rel=1e-12
    )


class Clock:
    """A clock that each call to `work` moves on by the next of `durations`."""

    def __init__(self, durations):
        self.now, self.durations, self.calls = 0.0, iter(durations), 0

    def __call__(self) -> float:
        return self.now

    def work(self) -> None:
        self.calls += 1
        self.now += next(self.durations)


def test_timings_stop_once_steady_or_out_of_time():
    steady = Clock([1.0] + [0.1] * 100)  # the first call (warm-up) is slow and not counted
    assert timed(steady.work, seconds=5, clock=steady) == pytest.approx(0.1)
    assert steady.calls == 4
    rng = np.random.default_rng(0)
    noisy = Clock(rng.choice([0.01, 1.0], size=1000))  # never steady: the budget ends it
    timed(noisy.work, seconds=5, clock=noisy)
    assert 5 <= noisy.now <= 8 and noisy.calls > 4
    slow = Clock([3.0, 11.0, 11.0, 11.0])  # one call past twice the budget: that one
    assert timed(slow.work, seconds=5, clock=slow) == 11.0 and slow.calls == 2


def test_the_front_is_every_row_no_other_beats_on_both():
    """Against a sweep: fastest first, a row is on the front when it is more accurate than
    every faster row and no row as fast is more accurate."""
    rng = np.random.default_rng(1)
    for _ in range(200):
        count = int(rng.integers(1, 12))
        top1 = rng.integers(60, 66, count).astype(float)  # ties on purpose
        speed = rng.integers(1, 6, count).astype(float)
        rows = [
            Measured(f"m{i}", 1.0, 1.0, float(top1[i]), 224, float(speed[i]), 1.0)
            for i in range(count)
        ]
        marked = [row.front for row in on_front(rows)]
        expected = []
        for i in range(count):
            faster = speed > speed[i]
            as_fast = speed == speed[i]
            best_faster = top1[faster].max() if faster.any() else -np.inf
            expected.append(top1[i] > best_faster and top1[i] >= top1[as_fast].max())
        assert marked == expected


def test_the_command_measures_the_candidates_named_and_writes_json(tmp_path, capsys):
    out = tmp_path / "models.json"
    command = ["models", "--only", "lcnet_050,resnet10t", "--image-size", "32", "--json", str(out)]
    assert run(command) == 0
    printed = capsys.readouterr().out
    assert "lcnet_050" in printed and "resnet10t" in printed
    result = json.loads(out.read_text())
    assert result["image_size"] == 32 and result["task"] == "classification"
    rows = result["models"]
    assert {row["model"] for row in rows} == {"lcnet_050", "resnet10t"}
    for row in rows:
        assert set(row) >= {
            "model",
            "params_m",
            "gflops",
            "imagenet_top1",
            "infer_images_per_s",
            "train_images_per_s",
            "front",
        }
        assert row["infer_images_per_s"] > 0 and row["train_images_per_s"] > 0
    speeds = [row["infer_images_per_s"] for row in rows]
    assert speeds == sorted(speeds, reverse=True)  # fastest first
    assert [row["front"] for row in rows] == [
        row.front for row in on_front([Measured(**row) for row in rows])
    ]
    assert run(["models", "--only", "resnet9000"]) == 2
    assert "not a candidate: resnet9000" in capsys.readouterr().err
    assert run(["models", "--task", "detection"]) == 2


def test_a_machine_too_slow_for_a_batch_of_two_still_measures_training():
    """The batch is sized from the machine's speed; on a slow (or busy) machine it came to one
    image, and batch norm refused to train on it (a 1x1 map of one image)."""
    from vislab.models.picker import Candidate, measure

    tiny = Candidate("test_resnet", "", 0.0, 32, 0.4)
    row = measure(tiny, 32, speed=1e-6, decode=(0.001, 0.001))
    assert row.train_images_per_s > 0 and row.infer_images_per_s > 0
