"""`vislab data inspect SOURCE --out DIR`: near copies and leakage, image quality, and with
embeddings outliers, label issues and a map of the collection (label issues also from a run's
held-out predictions) — a page and its tables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from vislab.cli.common import Force, Quiet, fresh_outputs, say, table_for
from vislab.progress import set_quiet

TABLES = ("duplicates", "label_issues", "outliers", "clusters", "quality")


def inspect(
    source: Annotated[
        str, typer.Argument(help="Image folder, manifest (.csv/.parquet) or config (.yaml).")
    ],
    out: Annotated[Path, typer.Option(help="New folder for inspect.html and tables/.")] = Path(
        "inspection"
    ),
    embeddings: Annotated[
        Path | None,
        typer.Option(help="What `vislab embed` wrote for this source: outliers, labels, map."),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(help="Or a CLIP (hub name or folder) to embed the images here first."),
    ] = None,
    predictions: Annotated[
        Path | None,
        typer.Option(help="A run's predictions.csv: label issues from its held-out scores."),
    ] = None,
    colour_by: Annotated[
        str | None,
        typer.Option("--colour-by", help="Column the map is coloured by (default: label)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the samples, folds, groups and map.")] = 0,
    workers: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Processes decoding the images of a large folder or manifest (default: one "
            "per core; 0: threads).",
        ),
    ] = None,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Know a collection before coding it: near copies (and copies across splits), image
    quality, and from embeddings outliers, likely wrong labels and a map in groups."""
    set_quiet(quiet)
    from vislab.data.findings import inspect_collection
    from vislab.errors import UsageError

    if embeddings is not None and model is not None:
        raise UsageError("give --embeddings or --model, not both.")
    fresh_outputs(out, force=force)
    table = table_for(source, require_label=False)
    colour_by = _colour_column(table.frame, colour_by)
    given = _scored(table, predictions)
    if workers is None:
        workers = len(os.sched_getaffinity(0))
    found = inspect_collection(table, _embedder(table, embeddings, model), seed, given, workers)
    found.summary["environment"] = _environment(seed, found.summary["data_fingerprint"], model)
    _write(table, found, out, colour_by)
    _say_summary(found.summary, out)


def _colour_column(frame, wanted: str | None) -> str | None:
    from vislab.errors import UsageError

    if wanted is None:
        return "label" if "label" in frame.columns and frame["label"].notna().any() else None
    if wanted not in frame.columns:
        raise UsageError(
            f"--colour-by {wanted}: no such column; the source has {', '.join(frame.columns)}."
        )
    return wanted


def _embedder(table, embeddings: Path | None, model: str | None):
    from vislab.data.findings import Embedded, matched

    if embeddings is not None:
        from vislab.predictions import read_embeddings

        frame, vectors = read_embeddings(embeddings)
        return matched(table, frame, vectors, str(embeddings))
    if model is None:
        return None
    from vislab.models.clip import embed_table, load_clip

    clip = load_clip(model)
    return lambda readable: Embedded(readable, embed_table(clip, table.subset(readable)))


def _scored(table, predictions: Path | None):
    if predictions is None:
        return None
    from vislab.data.findings import scored
    from vislab.files import read_table

    return scored(table, read_table(predictions), str(predictions))


def _environment(seed: int, fingerprint: str, model: str | None) -> dict:
    from vislab.runs import environment_record

    extra = {"model": model} if model else {}
    return environment_record(seed, None, fingerprint, **extra)


def _write(table, found, out: Path, colour_by: str | None) -> None:
    from vislab.files import write_json, write_table
    from vislab.report.inspect_page import write_inspect_page

    (out / "tables").mkdir(parents=True, exist_ok=True)
    for name in TABLES:
        frame = getattr(found, name).drop(columns="position")
        write_table(out / "tables" / f"{name}.csv", frame)
    write_json(out / "inspect.json", found.summary)
    write_inspect_page(table, found, out, colour_by)


def _say_summary(summary: dict, out: Path) -> None:
    s = summary
    say(f"{s['source']}: {s['n_images']} images, {s['n_unreadable']} unreadable")
    say(
        f"near copies: {s['n_images_in_copy_clusters']} images in {s['n_copy_clusters']} "
        f"clusters; {s['effective_n']} distinct images; {s['n_leaking_clusters']} clusters "
        "across splits"
    )
    quality = ", ".join(f"{k} {v}" for k, v in s["quality"].items()) or "none"
    say(f"quality problems: {quality}")
    say(
        f"outliers: {s['n_outliers']}; label issues: {s['n_label_issues']}; groups: {s['n_groups']}"
    )
    for note in s["notes"]:
        say(f"  ({note})")
    say(f"wrote {out}/inspect.html, {out}/inspect.json and {out}/tables/")
