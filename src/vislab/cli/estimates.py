"""`vislab estimate`: findings about the collection from the model's labels and a coded sample."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vislab.cli.common import (
    Confidence,
    Force,
    Quiet,
    Seed,
    entry_text,
    fresh_outputs,
    say,
    write_result,
)
from vislab.progress import set_quiet


def estimate(
    predictions: Annotated[
        Path, typer.Argument(help="The whole collection's predictions (id, prediction, metadata).")
    ],
    coded: Annotated[
        list[Path],
        typer.Option("--coded", help="A coded sheet or coding-page download (repeat per coder)."),
    ],
    label_column: Annotated[str, typer.Option(help="The coder column that is the truth.")],
    sample: Annotated[
        Path | None,
        typer.Option(help="The folder `vislab validation-sample` wrote (its design and weights)."),
    ] = None,
    by: Annotated[
        list[str] | None, typer.Option("--by", help="Metadata column to break down (repeat).")
    ] = None,
    formula: Annotated[
        str | None,
        typer.Option(
            help="A regression, e.g. 'protest ~ region': classes or columns as variables."
        ),
    ] = None,
    regression: Annotated[
        str, typer.Option(help="linear, or logistic (for a 0/1 outcome).")
    ] = "linear",
    confidence: Confidence = 0.95,
    seed: Seed = 0,
    out: Annotated[Path | None, typer.Option(help="Write estimates.json here.")] = None,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Prevalence of every class in the collection, overall and per group, corrected for the
    model's errors with the coded sample (naive and coded-only beside it)."""
    set_quiet(quiet)
    from vislab.estimation.estimate import estimate as run_estimate

    fresh_outputs(out, force=force)
    result = run_estimate(
        predictions, coded, label_column, sample, by or (), formula, confidence, seed, regression
    )
    if result["design"] == "simple random":
        say("no --sample: the coded images are taken as a simple random sample of the collection")
    say(f"{result['n_coded']} coded of {result['n_collection']} images ({result['design']})")
    for name, entry in result["prevalence"].items():
        _lines(name, entry)
    for spec, groups in result["groups"].items():
        for group, found in groups.items():
            say(f"{spec}={group} (n={found['n']}, coded {found['n_coded']})")
            for name, entry in found["prevalence"].items():
                _lines(name, entry, indent="    ")
    if "regression" in result:
        _coefficients(result["regression"])
    write_result(out, result)


def _coefficients(found: dict) -> None:
    say(f"{found['kind']} regression {found['formula']}")
    for name, entry in found["coefficients"].items():
        say(f"  {name}")
        for kind in ("corrected", "naive", "coded_only"):
            say(f"    {kind:<10}  {entry_text(entry[kind])}")


def _lines(name: str, entry: dict, indent: str = "  ") -> None:
    say(f"{indent}{name}")
    for kind in ("corrected", "naive", "coded_only"):
        say(f"{indent}  {kind:<10}  {entry_text(entry[kind])}")


def register(app: typer.Typer) -> None:
    app.command()(estimate)
