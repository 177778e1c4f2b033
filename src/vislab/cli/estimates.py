"""`vislab estimate`: findings about the collection from the model's labels and a coded sample."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from vislab.cli.common import (
    Confidence,
    Force,
    Quiet,
    TableFormat,
    entry_text,
    fresh_outputs,
    say,
    write_result,
)
from vislab.progress import set_quiet


class Aggregate(StrEnum):
    any = "any"
    mean = "mean"


class Regression(StrEnum):
    linear = "linear"
    logistic = "logistic"


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
        Regression, typer.Option(help="linear, or logistic (for a 0/1 outcome).")
    ] = Regression.linear,
    unit: Annotated[
        str | None,
        typer.Option(
            help="Estimate over units of this column (posts) instead of images; the sample must "
            "have drawn them whole (validation-sample --cluster)."
        ),
    ] = None,
    aggregate: Annotated[
        Aggregate,
        typer.Option(help="A unit's class: any (if any image has it), or mean (its share)."),
    ] = Aggregate.any,
    confidence: Confidence = 0.95,
    seed: Annotated[
        int, typer.Option(help="Recorded with the result (the intervals draw nothing).")
    ] = 0,
    out: Annotated[Path | None, typer.Option(help="Write estimates.json here.")] = None,
    report: Annotated[
        Path | None,
        typer.Option(help="Folder for estimates.html and tables/ (CSV, LaTeX) for a paper."),
    ] = None,
    table_format: Annotated[
        TableFormat,
        typer.Option(
            "--format", help="tables/ as csv, parquet (R: arrow) or dta (Stata 14+), with .tex."
        ),
    ] = TableFormat.csv,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Prevalence of every class in the collection, overall and per group, corrected for the
    model's errors with the coded sample (naive and coded-only beside it)."""
    set_quiet(quiet)
    from vislab.estimation.estimate import estimate as run_estimate

    fresh_outputs(out, report, force=force)
    result = run_estimate(
        predictions,
        coded,
        label_column,
        sample,
        by or (),
        formula,
        confidence,
        seed,
        regression.value,
        unit,
        aggregate.value,
    )
    if result["design"] == "simple random":
        say("no --sample: the coded images are taken as a simple random sample of the collection")
    whole = (
        f" in {result['n_clusters_coded']} whole clusters" if "n_clusters_coded" in result else ""
    )
    units = f"{unit}s ({aggregate.value} of their images)" if unit else "images"
    counts = f"{result['n_coded']} coded{whole} of {result['n_collection']} {units}"
    say(f"{counts} ({result['design']})")
    for name, entry in result["prevalence"].items():
        _lines(name, entry)
    for spec, groups in result["groups"].items():
        for group, found in groups.items():
            say(f"{spec}={group} (n={found['n']}, coded {found['n_coded']})")
            for name, entry in found["prevalence"].items():
                _lines(name, entry, indent="    ")
    for spec, by_class in result["differences"].items():
        _differences(spec, by_class)
    if "regression" in result:
        _coefficients(result["regression"])
    write_result(out, result)
    if report is not None:
        from vislab.report.estimates_page import write_estimates_page

        page = write_estimates_page(result, report, table_format.value)
        say(f"wrote {page} and {report / 'tables'}/")


def _differences(spec: str, by_class: dict) -> None:
    from vislab.report.numbers import p_text

    say(f"differences between groups of {spec} (corrected; p Holm-adjusted)")
    for name, pairs in by_class.items():
        for entry in pairs.values():
            adjusted = p_text(entry.get("p_adjusted")) if entry.get("value") is not None else ""
            say(f"  {name}  {entry['a']} - {entry['b']}  {entry_text(entry)}  {adjusted}")


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
    if "corrected_if_independent" in entry:  # whole clusters drawn: too narrow, for comparison
        alone = entry_text(entry["corrected_if_independent"])
        say(f"{indent}  (as if drawn one by one, not in whole clusters: {alone})")


def plan_coding(
    predictions: Annotated[
        Path, typer.Argument(help="The whole collection's predictions (id, prediction, scores).")
    ],
    half_width: Annotated[
        float, typer.Option(help="The corrected interval's half-width wanted, e.g. 0.03.")
    ],
    pilot: Annotated[
        list[Path] | None,
        typer.Option("--pilot", help="A coded pilot sample (repeat per coder); else the scores."),
    ] = None,
    label_column: Annotated[
        str | None, typer.Option(help="The pilot's coder column that is the truth.")
    ] = None,
    pilot_sample: Annotated[
        Path | None, typer.Option(help="The pilot's validation-sample folder (item -> id).")
    ] = None,
    only: Annotated[
        str | None, typer.Option("--class", help="Plan for this class (default: the hardest).")
    ] = None,
    by: Annotated[
        str | None,
        typer.Option(
            help="Plan for the difference between groups of this column (a class's share)."
        ),
    ] = None,
    formula: Annotated[
        str | None,
        typer.Option(
            help="Plan for the coefficients of this linear regression, e.g. 'police ~ region'."
        ),
    ] = None,
    strata: Annotated[str, typer.Option(help="Columns to stratify by, comma-separated.")] = (
        "prediction"
    ),
    confidence_bands: Annotated[
        bool | None,
        typer.Option(help="Add confidence bands to the strata (default: when there are scores)."),
    ] = None,
    confidence: Confidence = 0.95,
    write_sample: Annotated[
        Path | None, typer.Option(help="Also draw the planned sample into this new folder.")
    ] = None,
    coders: Annotated[str, typer.Option(help="Coder columns of the sheet written.")] = (
        "coder1,coder2"
    ),
    codebook: Annotated[
        Path | None, typer.Option(help="codebook.yaml for the coding page written.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Sampling seed (with --write-sample).")] = 0,
    study: Annotated[
        str | None, typer.Option(help="The study's name, the coding page's title.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Write plan.json here.")] = None,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """How many images to code (and how many per stratum, Neyman's allocation) for a corrected
    interval of the half-width wanted: on every class's share, or on the difference between
    groups (--by), or on a regression's coefficients (--formula)."""
    set_quiet(quiet)
    from vislab.cli.common import split_list
    from vislab.cli.evaluation import checked_coders
    from vislab.estimation.planning import plan
    from vislab.report.coding_page import read_codebook

    fresh_outputs(out, write_sample, force=force)
    coder_names = checked_coders(coders)
    codes = read_codebook(codebook) if codebook else None  # its mistakes before any work
    found, frame = plan(
        predictions,
        half_width,
        pilot,
        label_column,
        pilot_sample,
        only,
        split_list(strata),
        confidence_bands,
        confidence,
        by,
        formula,
    )
    _print_plan(found)
    write_result(out, found)
    if write_sample is not None:
        drawn = (coder_names, seed, predictions, codebook, codes, study)
        _draw_planned(frame, found, write_sample, drawn)


def _print_plan(found: dict) -> None:
    source = "a pilot" if found["from"] == "pilot" else "the model's scores (taken as calibrated)"
    what = f"'{found['class']}'"
    if "groups" in found:
        what = f"'{found['class']}', {' - '.join(found['groups'])} (--by {found['by']})"
    elif "term" in found:
        what = f"{found['term']} in {found['formula']}"
    say(
        f"code {found['n']} of {found['n_collection']} images for +/- {found['half_width']} on "
        f"{what} ({found['confidence']:.0%} interval), planned from {source}"
    )
    width = max(len(s) for s in found["per_stratum"])
    say(f"  {'stratum':<{width}}  {'images':>8}  {'code':>6}  {'error sd':>8}")
    for name, entry in found["per_stratum"].items():
        counts = f"{entry['population']:>8}  {entry['sample']:>6}"
        say(f"  {name:<{width}}  {counts}  {entry['sd']:>8.3f}")
    for name, entry in found["per_estimate"].items():
        alone = (
            f" (alone it would need {entry['n_alone']})" if entry["n_alone"] != found["n"] else ""
        )
        say(f"  {name}: +/- {entry['half_width']:.4f} with this plan{alone}")
    if found["census"]:
        say("  only coding every image (a census) reaches this half-width")


def _draw_planned(frame, found: dict, out: Path, drawn: tuple):
    """The planned sample drawn into `out`; `drawn`: (coders, seed, predictions, codebook
    path, its codes, the study's name)."""
    import pandas as pd

    from vislab.cli.evaluation import save_sample, warn_codes_differ
    from vislab.evaluation.validation import draw_counts
    from vislab.predictions import classes_of
    from vislab.report.coding_page import codes_of_classes

    coders, seed, predictions, book, codes, study = drawn
    counts = pd.Series({s: v["sample"] for s, v in found["per_stratum"].items()})
    sample = draw_counts(frame, counts, seed)
    settings = {
        "strata": found["strata"],
        "confidence_bands": found["confidence_bands"],
        "allocation": "neyman",
        "planned_half_width": found["half_width"],
        "planned_class": found["class"],
        "planned_estimate": found["estimate"],
        "seed": seed,
        "source": str(predictions),
    }
    if codes:
        warn_codes_differ(book, [c.name for c in codes], classes_of(frame))
    codes = codes or codes_of_classes(classes_of(frame))
    save_sample(frame, sample, out, settings, coders, predictions, codes, study)


def register(app: typer.Typer) -> None:
    app.command()(estimate)
    app.command("plan-coding")(plan_coding)
