"""`vislab models`: the model picker (models/picker.py)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from vislab.cli.common import Force, Quiet, fresh_outputs, say, write_result
from vislab.progress import set_quiet


class PickerTask(StrEnum):
    """The tasks the picker has candidates for."""

    classification = "classification"


COLUMNS = (
    ("model", 30, "{}"),
    ("params_m", 8, "{:.1f}"),
    ("gflops", 7, "{:.2f}"),
    ("imagenet_top1", 13, "{:.1f}"),
    ("test_size", 9, "{}"),
    ("infer_images_per_s", 18, "{:.1f}"),
    ("train_images_per_s", 18, "{:.1f}"),
)


def models(
    task: Annotated[
        PickerTask, typer.Option(metavar="classification", help="The task the backbones are for.")
    ] = PickerTask.classification,
    image_size: Annotated[
        int, typer.Option(min=16, help="Your images' size: FLOPs and speeds are measured at it.")
    ] = 224,
    only: Annotated[
        str | None, typer.Option(help="Measure only these candidates (comma-separated names).")
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the table and the machine here.")
    ] = None,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Candidate backbones, CNNs and ViTs small to large: parameters, GFLOPs, published
    ImageNet top-1, and inference and training images/s measured on this machine; `*` marks
    the accuracy-per-compute front (no other candidate is as accurate and as fast)."""
    set_quiet(quiet)
    fresh_outputs(json_out, force=force)
    from vislab.models.picker import pick
    from vislab.progress import Progress

    names = [name.strip() for name in only.split(",") if name.strip()] if only else None
    bar: list[Progress] = []

    def told(done: int, total: int, name: str) -> None:
        if not bar:
            bar.append(Progress(total, "measure", "models").__enter__())
        bar[0].advance(1 if done else 0)

    rows = pick(image_size, names, told)
    if bar:
        bar[0].advance()
        bar[0].__exit__(None, None, None)
    _print_table(rows)
    say(_machine_line(image_size))
    write_result(json_out, _result(rows, task.value, image_size))


def _print_table(rows) -> None:
    say("  ".join(f"{name:<{width}}" for name, width, _ in COLUMNS) + "  front")
    for row in rows:
        values = row.row()
        cells = [
            f"{shape.format(values[name]):<{width}}"
            if name == "model"
            else f"{shape.format(values[name]):>{width}}"
            for name, width, shape in COLUMNS
        ]
        say("  ".join(cells) + ("  *" if row.front else ""))


def _machine_line(image_size: int) -> str:
    import torch

    return (
        f"measured at {image_size} px on this CPU ({torch.get_num_threads()} threads): inference ="
        " JPEG decoding and the model; training = decoding, augmentation, forward, backward,\n"
        "AdamW. imagenet_top1: as published in timm's results table, each at its test_size."
    )


def _result(rows, task: str, image_size: int) -> dict:
    import platform

    import timm
    import torch

    return {
        "task": task,
        "image_size": image_size,
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "processor": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "timm": timm.__version__,
        "imagenet_top1_source": (
            "timm results/results-imagenet.csv (huggingface/pytorch-image-models, commit "
            "0173a139a2c66db3a41ebfe1d8ac4fb02483642e, Apache-2.0)"
        ),
        "models": [row.row() for row in rows],
    }


def register(app: typer.Typer) -> None:
    app.command()(models)
