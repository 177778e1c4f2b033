"""`vislab adjudicate`: the items coders disagree on, one final code each."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vislab.cli.common import Force, Quiet, fresh_outputs, say, split_list
from vislab.progress import set_quiet


def adjudicate(
    coded: Annotated[
        list[Path],
        typer.Option("--coded", help="A coder's sheet or coding-page download (repeat per coder)."),
    ],
    sample: Annotated[
        Path | None,
        typer.Option(help="The validation-sample folder they coded (its images and items)."),
    ] = None,
    raters: Annotated[
        str | None, typer.Option(help="The coder columns to adjudicate (default: all).")
    ] = None,
    codebook: Annotated[
        Path | None, typer.Option(help="codebook.yaml: the codes the final code is one of.")
    ] = None,
    study: Annotated[str | None, typer.Option(help="The study's name, the page's title.")] = None,
    out: Annotated[
        Path, typer.Option(help="New folder for conflicts.csv, agreement.json and the page.")
    ] = Path("adjudication"),
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """List the items the coders disagree on, marked unsure or left blank, and write the page
    where one person decides each (downloads adjudicated.csv, read by `vislab estimate
    --coded adjudicated.csv --label-column final`). Agreement before adjudication is kept in
    agreement.json."""
    set_quiet(quiet)
    from vislab.evaluation.adjudication import coders_of, split
    from vislab.evaluation.coded import merged_codes
    from vislab.evaluation.validation import checked_in_sample

    fresh_outputs(out, force=force)
    if sample is not None:
        checked_in_sample(list(coded), sample)
    merged = merged_codes(list(coded))
    coders = coders_of(merged, split_list(raters) if raters else None)
    if "item" not in merged.columns:
        from vislab.errors import InputError

        raise InputError(
            "the coded files have no 'item' column: give the coding sheets or the coding "
            "page's downloads (the page names items by number)."
        )
    settled, conflicts = split(merged, coders)
    out.mkdir(parents=True, exist_ok=True)
    columns = ["item", "image", *coders, *[f"{c}_note" for c in coders], "reason"]
    from vislab.files import write_atomic

    kept = [c for c in columns if c in conflicts.columns]
    write_atomic(out / "conflicts.csv", conflicts[kept].to_csv(index=False))
    say(
        f"{len(merged)} items: {len(settled)} coded alike by {', '.join(coders)}, "
        f"{len(conflicts)} to decide ({_reasons(conflicts)}); wrote {out / 'conflicts.csv'}"
    )
    _agreement_before(merged, coders, sample, out)
    if conflicts.empty:
        _write_agreed(settled, coders, out)
        return
    _write_page(merged, settled, conflicts, coders, (sample, codebook, study, coded), out)


def _reasons(conflicts) -> str:
    if conflicts.empty:
        return "none"
    parts = conflicts["reason"].str.split("; ").explode()
    kinds = parts.str.replace(r"^(.*) unsure$", "unsure", regex=True)
    kinds = kinds.str.replace(r"^not coded by .*$", "not coded", regex=True)
    return ", ".join(f"{k}: {n}" for k, n in kinds.value_counts().items())


def _agreement_before(merged, coders: list[str], sample: Path | None, out: Path) -> None:
    """agreement.json of the coders as they coded (unsure and blank codes left out), weighted
    by the sample's design where it has one round (as `vislab agreement --sample`)."""
    from vislab.evaluation.adjudication import UNSURE
    from vislab.evaluation.agreement import agreement
    from vislab.evaluation.validation import adaptive_rounds, attach_sample, drawn_clusters
    from vislab.files import write_json

    table, weight, cluster = merged.copy(), None, None
    for c in coders:
        table[c] = table[c].where(table[c].astype(str).str.strip() != UNSURE)
    if sample is not None and not adaptive_rounds(sample):
        table, weight, cluster = attach_sample(table, sample), "weight", drawn_clusters(sample)
    found = agreement(table, coders, source="coded files", weight=weight, cluster=cluster)
    write_json(out / "agreement.json", found)
    alpha = found["krippendorff_alpha"]
    if alpha.get("value") is not None:
        low, high = alpha["ci"]
        say(
            f"agreement before adjudication: Krippendorff's alpha {alpha['value']:.3f} "
            f"[{low:.3f}, {high:.3f}]; wrote {out / 'agreement.json'}"
        )


def _write_agreed(settled, coders: list[str], out: Path) -> None:
    """No conflict: adjudicated.csv at once, every item's final code its agreed one."""
    from vislab.files import write_atomic

    table = settled.drop(columns=["code"]).assign(
        final=settled["code"], final_note="", _adjudicator="", _decided="agreed"
    )
    write_atomic(out / "adjudicated.csv", table.to_csv(index=False))
    say(f"nothing to decide: wrote {out / 'adjudicated.csv'} (final: the agreed codes)")


def _write_page(merged, settled, conflicts, coders, given, out: Path) -> None:
    from vislab.report.adjudication_page import write_adjudication_page

    sample, codebook, study, coded = given
    codes = _codes(merged, coders, sample, codebook)
    base = Path(sample) if sample is not None else Path(coded[0]).parent
    identity = _sample_id(merged)
    title = f"{study} ({len(conflicts)} items)" if study else f"{len(conflicts)} items"
    pages = write_adjudication_page(out, settled, conflicts, codes, coders, title, base, identity)
    more = f" and {len(pages) - 1} more pages" if len(pages) > 1 else ""
    say(
        f"wrote {pages[0]}{more} (open it in a browser: each item with every coder's code and "
        "note, one final code chosen by key; it downloads adjudicated.csv for `vislab "
        "estimate --coded adjudicated.csv --label-column final`)"
    )


def _sample_id(merged) -> str:
    if "sample_id" not in merged.columns:
        return ""
    found = merged["sample_id"].dropna().astype(str).unique()
    return str(found[0]) if len(found) == 1 else ""


def _codes(merged, coders: list[str], sample: Path | None, codebook: Path | None) -> list:
    """The final code's choices: the codebook's; or the sample's classes; or the codes the
    coders gave (unsure and blanks left out)."""
    from vislab.evaluation.adjudication import UNSURE
    from vislab.report.coding_page import codes_of_classes, read_codebook

    if codebook is not None:
        return read_codebook(codebook)
    classes: list[str] = []
    if sample is not None:
        from vislab.evaluation.validation import SAMPLE_FILE
        from vislab.files import read_table
        from vislab.predictions import classes_of

        classes = classes_of(read_table(sample / SAMPLE_FILE))
    given = {str(v).strip() for c in coders for v in merged[c].dropna()} - {UNSURE, ""}
    return codes_of_classes([*classes, *sorted(given - set(classes))])


def register(app: typer.Typer) -> None:
    app.command()(adjudicate)
