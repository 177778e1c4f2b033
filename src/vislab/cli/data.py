"""`vislab data ...`: check a source for problems, write a bundled sample, preview augmentations."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vislab.cli.common import Force, Overrides, Quiet, fresh_outputs, say, table_for, write_result
from vislab.cli.inspect import inspect
from vislab.progress import set_quiet

app = typer.Typer(help="Inspect data sources: check for problems, preview augmentations.")

SAMPLES = {
    "digits": "wrote {out}/images (a folder per class) and {out}/manifest.csv",
    "shapes": "wrote {out}/images and {out}/instances.json (COCO boxes; 400 generated images)",
    "moving-shapes": "wrote {out}/<direction>/*.mp4 and {out}/manifest.csv (48 generated videos; "
    "the class is the motion)",
    "tiny-clip": "wrote {out}: a CLIP with RANDOM weights, to try the commands offline",
    "tiny-blip": "wrote {out}: a BLIP with RANDOM weights, to try the commands offline",
    "tiny-vlm": "wrote {out}: a Qwen2-VL with RANDOM weights, to try `vislab code` offline",
}
MODELS = {
    "tiny-clip": ("vislab.models.tiny", "save_tiny_clip"),
    "tiny-blip": ("vislab.models.tiny", "save_tiny_blip"),
    "tiny-vlm": ("vislab.models.tiny_vlms", "save_tiny_qwen2_vl"),
}


@app.command("check")
def check(
    source: Annotated[
        str, typer.Argument(help="Image folder, manifest (.csv/.parquet) or config (.yaml).")
    ],
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the full summary here.")
    ] = None,
    images: Annotated[Path | None, typer.Option(help="Detection (COCO): the image folder.")] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=0,
            help="Processes decoding the images of a folder or manifest (default: threads).",
        ),
    ] = 0,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Scan a source: unreadable files with reasons, counts per class, imbalance, duplicates.

    Detection sources (a COCO .json, a VOC folder, a YOLO folder) also list every box problem;
    COCO captions files list images without captions; videos are probed.
    """
    set_quiet(quiet)
    from vislab.data.kinds import source_kind

    fresh_outputs(json_out, force=force)
    kind = source_kind(source)
    if kind == "images":
        summary = _check_images(source, images, workers)
    else:
        summary = {
            "detection": _check_detection,
            "captioning": _check_captions,
            "video": _check_videos,
        }[kind](source, images)
    write_result(json_out, summary)
    if summary.get("n_unreadable") or summary.get("n_problems") or summary.get("unusable"):
        raise typer.Exit(1)


def _check_images(source: str, images: Path | None, workers: int = 0) -> dict:
    from vislab.data.check import scan, summarize
    from vislab.data.findings import glance

    table = table_for(source)
    summary = summarize(table, scan(table, processes=workers))
    summary.update(glance(table))
    say(f"{summary['source']}: {summary['n_images']} images, {len(summary['classes'])} classes")
    for name, count in summary["classes"].items():
        say(f"  {name:<20} {count}")
    if summary.get("splits"):
        say("splits: " + ", ".join(f"{s} {sum(c.values())}" for s, c in summary["splits"].items()))
    say(f"imbalance ratio (largest/smallest class): {summary['imbalance_ratio']}")
    say(
        f"exact duplicates: {summary['n_duplicate_groups']} group(s), "
        f"{summary['n_cross_split_duplicates']} across splits"
    )
    if summary["n_repeated_paths"]:
        say(
            f"listed more than once: {summary['n_repeated_paths']} path(s); a split vislab "
            "draws keeps each image's rows together"
        )
    _print_glance(summary)
    _print_unreadable(summary)
    return summary


def _print_glance(summary: dict) -> None:
    near = summary["near_copies"]
    across = f", {near['n_leaking_clusters']} across splits" if summary.get("splits") else ""
    say(
        f"near copies (perceptual hash): {near['n_images_in_copy_clusters']} images in "
        f"{near['n_copy_clusters']} cluster(s){across}; effective N {near['effective_n']} "
        "(crops, label issues: vislab data inspect)"
    )
    quality = ", ".join(f"{name} {count}" for name, count in summary["quality"].items())
    say(f"quality: {quality or 'no problem found'}")


def _check_detection(source: str, images: Path | None) -> dict:
    from vislab.data.detection import detection_source_from_path, summarize_detection

    summary = summarize_detection(detection_source_from_path(source, images))
    say(
        f"{summary['source']}: {summary['n_images']} images, {summary['n_boxes']} boxes, "
        f"{summary['n_images_without_boxes']} images without boxes"
    )
    for name, count in summary["boxes_per_class"].items():
        say(f"  {name:<20} {count} boxes")
    say(f"imbalance ratio (boxes, largest/smallest class): {summary['imbalance_ratio']}")
    say(f"exact duplicate images: {len(summary['duplicates'])} group(s)")
    say(f"problems: {summary['n_problems']}")
    for item in summary["problems"][:50]:
        say(f"  {item['where']}: {item['problem']} ({item['action']})")
    _print_unreadable(summary)
    return summary


def _check_captions(source: str, images: Path | None) -> dict:
    from vislab.data.captions import from_coco_captions, summarize_captions

    summary = summarize_captions(from_coco_captions(source, images))
    say(
        f"{summary['source']}: {summary['n_images']} images, {summary['n_captions']} captions "
        f"(median {summary['captions_per_image_median']:g} per image, "
        f"{summary['words_median']:g} words per caption)"
    )
    say(f"exact duplicate images: {len(summary['duplicates'])} group(s)")
    _print_unreadable(summary)
    return summary


def _check_videos(source: str, images: Path | None) -> dict:
    from vislab.data.videos import summarize_videos, video_source

    summary = summarize_videos(video_source(source))
    say(
        f"{summary['source']}: {summary['videos']} videos, median {summary['frames_median']} "
        "frames "
        f"({summary['seconds_median']} s), fps {summary['fps']}"
    )
    for name, count in summary["classes"].items():
        say(f"  {name:<18} {count}")
    say(f"unusable: {len(summary['unusable'])}")
    for item in summary["unusable"][:20]:
        say(f"  {item['path']}: {item['reason']}")
    return summary


def _print_unreadable(summary: dict) -> None:
    say(f"unreadable: {summary['n_unreadable']}")
    for item in summary["unreadable"]:
        say(f"  {item['path']}: {item['reason']}")


app.command("inspect")(inspect)


@app.command("sample")
def sample(
    name: Annotated[
        str,
        typer.Argument(
            help="digits (classification), shapes (detection), moving-shapes "
            "(video), tiny-clip, tiny-blip or tiny-vlm (random-weight models)."
        ),
    ] = "digits",
    out: Annotated[Path, typer.Option(help="A new folder to write it to.")] = Path("digits"),
) -> None:
    """Write a bundled dataset (or a random-weight model) as files, to try every command."""
    from vislab.data.export import export_sample
    from vislab.errors import UsageError

    if name not in SAMPLES:
        raise UsageError(f"unknown sample '{name}'. Choose one of: {', '.join(SAMPLES)}.")
    if name in MODELS:  # random-weight models, to try the commands offline
        import importlib

        module, function = MODELS[name]
        fresh_outputs(out)
        getattr(importlib.import_module(module), function)(out)
    else:
        export_sample(name, out)
    say(SAMPLES[name].format(out=out))


@app.command("preview")
def preview(
    config: Annotated[Path, typer.Argument(help="Experiment config (.yaml).")],
    out: Annotated[Path, typer.Option(help="PNG file for the grid.")] = Path("preview.png"),
    count: Annotated[int, typer.Option(min=1, help="Number of augmented images.")] = 24,
    set_: Overrides = None,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Save a grid of augmented training images, as the model will see them."""
    set_quiet(quiet)
    from vislab.files import write_atomic
    from vislab.tasks import load_config, task_for

    fresh_outputs(out, force=force)
    experiment = load_config(config, set_ or [])
    write_atomic(out, task_for(experiment).preview(experiment, count))
    say(f"wrote {out}")
