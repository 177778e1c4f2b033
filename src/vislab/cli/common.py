"""What the command groups share: printing, writing results, and the options they have in common.

Heavy libraries (torch, lightning, timm) are imported inside the commands that need them, so
`vislab --help` answers at once.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

Quiet = Annotated[
    bool,
    typer.Option(
        "--quiet", "-q", help="No progress bars or lines (results and errors are still printed)."
    ),
]


def say(text: str = "") -> None:
    typer.echo(text)


def write_result(path: Path | None, data: dict) -> None:
    """The machine-readable result of a command (--json / --out), when asked for."""
    if path is not None:
        from vislab.files import write_json

        write_json(path, data)
        say(f"wrote {path}")


def entry_text(entry: dict) -> str:
    """A value with its interval: `0.8123  [0.7901, 0.8340]`, `undefined: why`, or `n/a`."""
    value = entry.get("value")
    if value is None and entry.get("undefined"):
        return f"undefined: {entry['undefined']}"
    text = "n/a" if value is None else f"{value:.4f}"
    ci = entry.get("ci")
    return text + (f"  [{ci[0]:.4f}, {ci[1]:.4f}]" if ci and value is not None else "")


def print_metrics(metrics: dict) -> None:
    """The summary every evaluation prints: metrics with intervals, then each group."""
    say(f"{metrics['task']}: n = {metrics['n']}")
    width = max(18, *(len(name) + 1 for name in metrics["metrics"]))
    for name, entry in metrics["metrics"].items():
        say(f"  {name:<{width}} {entry_text(entry)}")
    headline_names = ("accuracy", "top1_accuracy", "mAP", "CIDEr")
    for spec, groups in metrics.get("groups", {}).items():
        say(f"by {spec}:")
        for name, entry in groups.items():
            headline = next(m for m in headline_names if m in entry["metrics"])
            value = entry["metrics"][headline]["value"]
            flag = "  (small group)" if entry["small"] else ""
            shown = "n/a" if value is None else f"{value:.4f}"
            say(f"  {name:<18} n={entry['n']:<6} {headline} {shown}{flag}")
    note = metrics.get("bootstrap", {}).get("note")
    if note:
        say(f"note: {note}")


def table_for(source: str, require_label: bool = True):
    """The table of an image folder, a manifest, or a config's data source (`require_label`
    False: a folder of loose images, a manifest without labels)."""
    from vislab.data.sources import load_source, source_from_path

    if source.endswith((".yaml", ".yml")):
        from vislab.data.images import set_pixel_limit
        from vislab.tasks import load_config

        data = load_config(source).data
        set_pixel_limit(data.max_image_pixels)
        return load_source(data)
    return source_from_path(source, require_label=require_label)


def split_list(text: str) -> list[str]:
    """`A,B,C` -> ["A", "B", "C"]."""
    return [item.strip() for item in text.split(",") if item.strip()]


class Interval(StrEnum):
    percentile = "percentile"
    bca = "bca"


GroupBy = Annotated[
    list[str] | None, typer.Option("--group-by", help="Metadata column (A*B: intersection).")
]
Bootstrap = Annotated[int, typer.Option(min=0, help="Bootstrap resamples; 0 skips the intervals.")]


def _between_0_and_1(value: float) -> float:
    if not 0 < value < 1:
        raise typer.BadParameter(f"must be between 0 and 1 (e.g. 0.95). Got {value}.")
    return value


Confidence = Annotated[
    float, typer.Option(callback=_between_0_and_1, help="Interval confidence level, e.g. 0.95.")
]
Seed = Annotated[int, typer.Option(help="Bootstrap seed.")]
Overrides = Annotated[list[str] | None, typer.Option("--set", help="Override a field: key=value.")]
ModelSource = Annotated[str, typer.Option(help="CLIP: a save_pretrained folder or a hub name.")]
BatchSize = Annotated[int, typer.Option(min=1, help="Images per batch.")]
SOURCES = (
    "Image (or video) files or folders, WebDataset .tar shards, one manifest (.csv, .parquet, "
    ".xlsx), or a Hugging Face dataset (hf:NAME, hf:NAME:SPLIT, hf:NAME:CONFIG:SPLIT)."
)
ShardSize = Annotated[
    int, typer.Option(min=1, help="Items per shard (a killed job loses one at most).")
]
Devices = Annotated[
    int,
    typer.Option(
        min=1,
        help="Processes per node, one per GPU (launched through Lightning; under srun or "
        "torchrun, the processes each node runs).",
    ),
]
NumNodes = Annotated[int, typer.Option(min=1, help="Nodes (machines) the job runs on.")]
Resume = Annotated[bool, typer.Option("--resume", help="Finish an interrupted job in --out.")]
Force = Annotated[
    bool, typer.Option("--force", help="Replace the output if it exists (never done otherwise).")
]


class TableFormat(StrEnum):
    """The tables' file format: CSV, Parquet (R: arrow::read_parquet) or Stata (.dta)."""

    csv = "csv"
    parquet = "parquet"
    dta = "dta"


Tables = Annotated[
    TableFormat,
    typer.Option("--format", help="tables/ as csv, parquet (R: arrow) or dta (Stata 14+)."),
]


def fresh_outputs(*paths: Path | None, force: bool = False) -> None:
    """Refuse, before any work, to replace an earlier result: each output file (or non-empty
    output folder) must be new, unless --force was given."""
    from vislab.errors import UsageError

    for path in paths:
        if path is None or force:
            continue
        if path.is_file() or (path.is_dir() and any(path.iterdir())):
            raise UsageError(
                f"{path} exists: vislab does not replace an earlier result. Choose a new --out "
                "(or --json/--report) path, or add --force to replace it."
            )
