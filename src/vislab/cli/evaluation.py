"""Commands that evaluate: `evaluate`, `compare`, `agreement`, `audit`, `validation-sample`."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from vislab.cli.common import (
    Bootstrap,
    Confidence,
    Force,
    GroupBy,
    Interval,
    Quiet,
    Seed,
    TableFormat,
    Tables,
    entry_text,
    fresh_outputs,
    print_metrics,
    say,
    split_list,
    table_for,
    write_result,
)
from vislab.progress import set_quiet
from vislab.report.numbers import p_text


class Level(StrEnum):
    nominal = "nominal"
    ordinal = "ordinal"
    interval = "interval"


class Allocation(StrEnum):
    proportional = "proportional"
    equal = "equal"


def _option(kind, text: str):
    return Annotated[kind | None, typer.Option(help=text)]


TaskOrRun = Annotated[
    str, typer.Argument(help="classification | detection | captioning | video, or a RUN_DIR.")
]
Predictions = _option(Path, "Predictions file (CSV for classification).")
References = _option(Path, "References file (detection, captioning).")
Cluster = _option(str, "Resample whole clusters of this column (person, event).")
Weights = _option(str, "Column of sampling weights (validation samples).")
Sample = _option(Path, "A validation-sample folder: adds weights and model outputs.")
LabelColumn = _option(str, "Column holding the true label (e.g. a coder's column).")
Metadata = _option(Path, "Detection, captioning: image metadata CSV (image_id) for --group-by.")
BertscoreModel = _option(str, "Captioning: a model folder for BERTScore-F1 (e.g. a MiniLM).")
ClipModel = _option(str, "Captioning: a CLIP folder for CLIPScore (needs the images).")
Images = _option(Path, "Captioning: folder the references' file names are under.")
MetricsOut = _option(Path, "Write metrics.json here.")
Classes = _option(str, "Classification, video: every class, A,B,C (when no score columns).")
NormalizeScores = Annotated[
    bool, typer.Option(help="Divide each row's score_<class> values by their sum.")
]
IntervalMethod = Annotated[Interval, typer.Option(help="Interval method.")]


def evaluate(
    task: TaskOrRun,
    predictions: Predictions = None,
    references: References = None,
    group_by: GroupBy = None,
    bootstrap: Bootstrap = 1000,
    confidence: Confidence = 0.95,
    seed: Seed = 0,
    cluster: Cluster = None,
    weights: Weights = None,
    interval: IntervalMethod = Interval.percentile,
    sample: Sample = None,
    label_column: LabelColumn = None,
    metadata: Metadata = None,
    bertscore_model: BertscoreModel = None,
    clip_model: ClipModel = None,
    images: Images = None,
    classes: Classes = None,
    normalize_scores: NormalizeScores = False,
    out: MetricsOut = None,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Metrics with bootstrap intervals (and per group) from a predictions file, or a run."""
    set_quiet(quiet)
    from vislab.errors import UsageError
    from vislab.tasks import get_task
    from vislab.tasks.base import EvaluateOptions

    fresh_outputs(out, force=force)
    if predictions is None and Path(task).is_dir():  # with --predictions, TASK is a task name
        from vislab.training import evaluate_run

        metrics = evaluate_run(task)
    else:
        chosen = get_task(task)
        if predictions is None:
            raise UsageError("--predictions FILE is required (or give a RUN_DIR instead of TASK).")
        settings = dict(
            references=references,
            group_by=tuple(group_by or ()),
            bootstrap=bootstrap,
            confidence=confidence,
            seed=seed,
            cluster=cluster,
            weights=weights,
            interval=interval.value,
            metadata=metadata,
            bertscore_model=bertscore_model,
            clip_model=clip_model,
            images=images,
            sample=sample,
            label_column=label_column,
            classes=tuple(split_list(classes or "")),
            normalize_scores=normalize_scores,
        )
        options = EvaluateOptions(**settings)
        chosen.check_evaluate_options(options)
        metrics = chosen.evaluate_files(predictions, options)
    print_metrics(metrics)
    write_result(out, metrics)


def compare(
    a: Annotated[Path, typer.Argument(help="Predictions CSV of model A.")],
    b: Annotated[Path, typer.Argument(help="Predictions CSV of model B (same images).")],
    bootstrap: Bootstrap = 1000,
    confidence: Confidence = 0.95,
    seed: Seed = 0,
    out: Annotated[Path | None, typer.Option(help="Write compare.json here.")] = None,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Compare two models on the same images: paired bootstrap differences, McNemar's test."""
    set_quiet(quiet)
    from vislab.evaluation.compare import compare as run_compare
    from vislab.files import read_table

    fresh_outputs(out, force=force)
    result = run_compare(
        read_table(a), read_table(b), bootstrap, confidence, seed, (str(a), str(b))
    )
    say(f"{result['n']} images; difference = B - A")
    for name, entry in result["metrics"].items():
        ci = entry.get("ci")
        p = p_text(entry.get("p_value"), bootstrap)
        interval = f"  [{ci[0]:+.4f}, {ci[1]:+.4f}]  {p}" if ci else ""
        say(
            f"  {name:<18} A {entry['a']:.4f}  B {entry['b']:.4f}  "
            f"{entry['difference']:+.4f}{interval}"
        )
    test = result["mcnemar"]
    say(f"McNemar: statistic {test['statistic']:.3f}, {p_text(test['p_value'])}")
    write_result(out, result)


def agreement(
    codings: Annotated[
        Path | None, typer.Argument(help="CSV: one row per item, one column per coder.")
    ] = None,
    coded: Annotated[
        list[Path] | None,
        typer.Option("--coded", help="A coder's file instead (repeat): merged on item or id."),
    ] = None,
    raters: Annotated[
        str | None,
        typer.Option(help="Coder columns, comma-separated: A,B,C (default with --coded: all)."),
    ] = None,
    model: Annotated[str | None, typer.Option(help="Column with the model's labels.")] = None,
    level: Annotated[
        Level, typer.Option(help="Level of measurement (Krippendorff's alpha).")
    ] = Level.nominal,
    levels: Annotated[
        str | None, typer.Option(help="Order of the codes for ordinal data: low,mid,high.")
    ] = None,
    weights: Annotated[str | None, typer.Option(help="Column of sampling weights.")] = None,
    sample: Annotated[
        Path | None,
        typer.Option(help="A validation-sample folder: adds weights and the model's 'prediction'."),
    ] = None,
    bootstrap: Bootstrap = 1000,
    confidence: Confidence = 0.95,
    seed: Seed = 0,
    out: Annotated[Path | None, typer.Option(help="Write agreement.json here.")] = None,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Agreement between coders (and a model): Krippendorff's alpha, Gwet's AC1, Cohen's and
    Fleiss' kappa, and each coder against the consensus of the others."""
    set_quiet(quiet)
    from vislab.evaluation.agreement import agreement as measure

    fresh_outputs(out, force=force)
    table, source, coders = _codings_table(codings, coded, raters)
    order = split_list(levels) if levels else None
    cluster = None
    if sample:
        from vislab.evaluation.validation import attach_sample, drawn_clusters, one_round

        table, weights = attach_sample(table, one_round(sample)), "weight"
        cluster = drawn_clusters(sample)  # whole posts drawn: resampled whole
    result = measure(
        table,
        coders,
        model,
        level.value,
        bootstrap,
        confidence,
        seed,
        weights,
        order,
        source,
        cluster,
    )
    _print_agreement(result, coders, level.value, model)
    write_result(out, result)


def _codings_table(codings: Path | None, coded: list[Path] | None, raters: str | None):
    """The item x coder table from one CODINGS file or several coders' --coded files."""
    from vislab.errors import UsageError
    from vislab.evaluation.coded import coder_columns, merged_codes
    from vislab.files import read_table

    if (codings is None) == (not coded):
        raise UsageError("give either CODINGS (one table) or --coded FILE for each coder.")
    if codings is not None:
        if raters is None:
            raise UsageError("--raters: name the coder columns of CODINGS, e.g. --raters A,B.")
        return read_table(codings), str(codings), split_list(raters)
    table = merged_codes(list(coded))
    coders = split_list(raters) if raters else coder_columns(table)
    return table, " + ".join(map(str, coded)), coders


def _print_agreement(result: dict, coders: list[str], level: str, model: str | None) -> None:
    say(
        f"{result['n_items']} items, {len(coders)} coders ({result['n_items_coded_by_all']} coded "
        "by all)"
    )
    lines = [
        (f"Krippendorff's alpha ({level})", result["krippendorff_alpha"]),
        ("Gwet's AC1", result["gwet_ac1"]),
        ("Fleiss' kappa", result["fleiss_kappa"]),
        *[(f"Cohen's kappa {e['a']} - {e['b']}", e) for e in result["cohen_kappa"].values()],
        *[
            (f"{coder} vs the others (kappa)", entry["cohen_kappa"])
            for coder, entry in result["per_coder"].items()
        ],
    ]
    if model:
        entries = result["model"]
        lines += [
            ("model vs coders (mean kappa)", entries["mean_cohen_kappa_model_vs_coders"]),
            ("coders vs coders (mean kappa)", entries["mean_cohen_kappa_between_coders"]),
        ]
    width = max(len(name) for name, _ in lines)
    for name, entry in lines:
        say(f"  {name:<{width}}  {entry_text(entry)}")


def audit(
    source: Annotated[
        str, typer.Argument(help="Image folder, manifest (.csv/.parquet) or config (.yaml).")
    ],
    attributes: Annotated[
        list[str] | None,
        typer.Option("--attributes", help="Metadata column (repeat; default: all)."),
    ] = None,
    reference: Annotated[
        Path | None, typer.Option(help="CSV of reference shares: attribute,value,share.")
    ] = None,
    min_share: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Flag groups below this share.")
    ] = 0.05,
    min_count: Annotated[int, typer.Option(min=0, help="Flag groups with fewer images.")] = 30,
    out: Annotated[
        Path, typer.Option(help="Folder for audit.html, audit.json and tables/.")
    ] = Path("audit"),
    table_format: Tables = TableFormat.csv,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Representation audit of a dataset's metadata: shares, gaps, label associations."""
    set_quiet(quiet)
    from vislab.evaluation.audit import audit as run_audit
    from vislab.evaluation.audit import audit_tables
    from vislab.files import read_table, write_json, write_table
    from vislab.report.audit_page import write_audit_page

    fresh_outputs(out, force=force)
    frame = table_for(source).frame
    columns = attributes or _metadata_columns(frame)
    shares = read_table(reference) if reference else None
    result = run_audit(frame, columns, shares, min_share, min_count, source, str(reference))
    write_json(out / "audit.json", result)
    for name, table in audit_tables(result).items():
        write_table(out / "tables" / f"{name}.{table_format.value}", table)
    write_audit_page(result, out)
    for spec, entry in result["attributes"].items():
        flagged = [name for name, g in entry["groups"].items() if g["under_represented"]]
        association = entry.get("label_association", {})
        test = (
            f"; label association {p_text(association['p_value'])}"
            if association.get("p_value") is not None
            else ""
        )
        say(
            f"{spec}: {len(entry['groups'])} groups, {entry['missing']} missing, "
            f"under-represented: {flagged or 'none'}{test}"
        )
    say(f"wrote {out / 'audit.html'}, {out / 'audit.json'} and {out / 'tables'}/")


def _metadata_columns(frame) -> list[str]:
    """Columns other than id/path/label/split with at most 50 distinct values."""
    from vislab.files import LISTED_PATH

    skip = {"id", "path", "label", "split", LISTED_PATH}
    return [c for c in frame.columns if c not in skip and frame[c].nunique() <= 50]


def validation_sample(
    predictions: Annotated[Path, typer.Argument(help="Predictions CSV of the whole collection.")],
    size: Annotated[int, typer.Option(min=1, help="Number of images to code.")],
    strata: Annotated[
        str, typer.Option(help="Columns to stratify by, comma-separated.")
    ] = "prediction",
    oversample_uncertain: Annotated[
        bool, typer.Option(help="Add confidence bands as strata; sample low confidence more.")
    ] = False,
    allocation: Annotated[
        Allocation, typer.Option(help="How the sample is shared among strata.")
    ] = Allocation.proportional,
    coders: Annotated[
        str, typer.Option(help="Blank coder columns of the sheet.")
    ] = "coder1,coder2",
    codebook: Annotated[
        Path | None,
        typer.Option(help="codebook.yaml: the codes, their definitions and example images."),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(help="Sampling seed (default 0; an adaptive round: the last round's + 1)."),
    ] = None,
    cluster: Annotated[
        str | None,
        typer.Option(
            help="Draw whole clusters of this column (posts, accounts, events), every image of "
            "a drawn one, until about --size images."
        ),
    ] = None,
    adaptive: Annotated[
        Path | None,
        typer.Option(
            help="Draw a further round after this coded sample folder, favouring the images "
            "the model is least sure of (needs --coded and --label-column)."
        ),
    ] = None,
    coded: Annotated[
        list[Path] | None,
        typer.Option("--coded", help="With --adaptive: the previous rounds' codes (per coder)."),
    ] = None,
    label_column: Annotated[
        str | None, typer.Option(help="With --adaptive: the coder column that is the truth.")
    ] = None,
    study: Annotated[
        str | None, typer.Option(help="The study's name, the coding page's title.")
    ] = None,
    out: Annotated[
        Path, typer.Option(help="New folder for the sheet, the sample and the design.")
    ] = Path("validation"),
    table_format: Annotated[
        TableFormat,
        typer.Option(
            "--format",
            help="Also the key as sample.parquet (R: arrow) or sample.dta (Stata 14+); "
            "sample.csv is always written.",
        ),
    ] = TableFormat.csv,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Draw a stratified sample for human coding, with sampling weights, and the coding page."""
    set_quiet(quiet)
    from vislab.evaluation.inputs import check_collection
    from vislab.evaluation.validation import draw_sample
    from vislab.files import read_table

    fresh_outputs(out, force=force)
    names = checked_coders(coders)
    table = check_collection(read_table(predictions), str(predictions))
    codes = coding_codes(table, codebook)
    if adaptive is not None:
        drawn = (adaptive, coded, label_column, seed, cluster)
        _adaptive_round(table, size, drawn, out, names, predictions, codes, study)
        return _key_for_analysis(out, table_format.value)
    seed = 0 if seed is None else seed
    columns = split_list(strata)
    sample = draw_sample(
        table, size, columns, oversample_uncertain, allocation.value, seed, cluster
    )
    settings = {
        "strata": columns,
        "oversample_uncertain": oversample_uncertain,
        "allocation": allocation.value,
        "seed": seed,
        "source": str(predictions),
        **({"cluster": cluster} if cluster else {}),
    }
    save_sample(table, sample, out, settings, names, predictions, codes, study)
    _key_for_analysis(out, table_format.value)


def _key_for_analysis(out: Path, table_format: str) -> None:
    """sample.csv again as sample.parquet or sample.dta (the other commands read the CSV)."""
    if table_format == "csv":
        return
    from vislab.files import read_table, write_table

    written = write_table(out / f"sample.{table_format}", read_table(out / "sample.csv"))
    say(f"wrote {written} (the key, as sample.csv, for {_TOOLS[table_format]})")


_TOOLS = {"parquet": "R (arrow) and Python", "dta": "Stata"}


def _adaptive_round(table, size, drawn, out, coders, source, codes, study) -> None:
    """A further round of the `--adaptive` folder written to `out` (evaluation/adaptive.py);
    `drawn`: (previous folder, its coded files, the label column, seed, cluster)."""
    from vislab.errors import UsageError
    from vislab.evaluation.adaptive import draw_round, earlier_rounds, next_seed
    from vislab.evaluation.validation import write_sample
    from vislab.files import read_table
    from vislab.report.coding_page import write_coding_page

    previous, coded, label_column, seed, cluster = drawn
    if not coded or label_column is None:
        raise UsageError(
            "--adaptive learns where the model errs from the previous rounds' codes: give "
            "--coded FILE (per coder) and --label-column."
        )
    if cluster:
        raise UsageError("--adaptive draws images one by one: leave out --cluster.")
    if seed is None:
        seed = next_seed(earlier_rounds(previous)[1])
    rows, earlier, design = draw_round(table, previous, size, seed, list(coded), label_column)
    missing = write_sample(rows, out, coders, design, source.parent, earlier)
    entry = design["rounds"][-1]
    sheet = read_table(out / "coding_sheet.csv")
    title = f"{study}, round {entry['round']}" if study else f"round {entry['round']}"
    pages = write_coding_page(out, sheet, codes, coders, f"{title} ({len(rows)} images)")
    say(
        f"round {entry['round']}: drew {size} times from the {len(table) - len(earlier)} images "
        f"not coded yet, {len(rows)} images to code; uniform share {entry['uniform_share']:.2f} "
        f"(from {entry['errors_seen']} errors seen among the earlier rounds' codes)"
    )
    say(f"wrote {out / 'coding_sheet.csv'}, {out / 'images'}/ and {pages[0]} (this round only)")
    say(f"wrote {out / 'sample.csv'} (every round; `vislab estimate --sample {out}` combines them)")
    if missing:
        say(f"note: {len(missing)} image(s) could not be read here (e.g. {missing[0]}).")


def checked_coders(text: str) -> list[str]:
    """The coders' column names: distinct, and none of the sheet's own columns."""
    from vislab.errors import UsageError
    from vislab.evaluation.coded import SHARED

    names = split_list(text)
    taken = [n for n in names if n in SHARED or n.endswith("_note") or n.startswith("_")]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if taken or doubled or not names:
        raise UsageError(
            f"--coders {text!r}: give distinct names (e.g. A,B), none of "
            f"{', '.join(SHARED)}, none ending in _note or starting with _."
        )
    return names


def coding_codes(table, codebook: Path | None) -> list:
    """The coding page's choices: the codebook's codes, or the predictions' classes. A codebook
    whose codes are not the classes is named: estimate reads only codes that are classes."""
    from vislab.predictions import classes_of
    from vislab.report.coding_page import codes_of_classes, read_codebook

    classes = classes_of(table)
    if not codebook:
        return codes_of_classes(classes)
    codes = read_codebook(codebook)
    warn_codes_differ(codebook, [c.name for c in codes], classes)
    return codes


def warn_codes_differ(codebook: Path, codes: list[str], classes: list[str]) -> None:
    extra = [c for c in codes if c not in classes]
    missing = [k for k in classes if k not in codes]
    if extra or missing:
        say(
            f"note: {codebook}: the codes are not the predictions' classes (codes not classes: "
            f"{extra or 'none'}; classes without a code: {missing or 'none'}). `vislab estimate` "
            "compares codes with the model's classes: name them alike, or map the codes first."
        )


def save_sample(
    table,
    sample,
    out: Path,
    settings: dict,
    coders: list[str],
    source: Path,
    codes: list,
    study: str | None = None,
) -> None:
    """Write a drawn sample's folder (key, sheet, images, design, coding page) and say what is
    where."""
    from vislab.evaluation.validation import SHEET_FILE, sample_design, write_sample
    from vislab.files import read_table
    from vislab.report.coding_page import write_coding_page

    design = sample_design(table, sample, settings)
    missing = write_sample(sample, out, coders, design, source.parent)
    sheet = read_table(out / SHEET_FILE)
    title = f"{study} ({len(sample)} images)" if study else f"{len(sample)} images"
    pages = write_coding_page(out, sheet, codes, coders, title)
    cluster = design.get("cluster")
    whole = f" ({sample[cluster].astype(str).nunique()} whole {cluster}s)" if cluster else ""
    say(
        f"sampled {len(sample)} of {len(table)} images{whole} in "
        f"{sample['stratum'].nunique()} strata"
    )
    say(
        f"wrote {out / 'coding_sheet.csv'} and {out / 'images'}/ (give these to the coders: an "
        "item number and its image, no path, file name or model label)"
    )
    say(f"wrote {out / 'sample.csv'} (the key: item, id, path, weight, model outputs)")
    say(f"wrote {out / 'design.json'}")
    size = sum(page.stat().st_size for page in pages) / 1e6
    more = f" and {len(pages) - 1} more pages, coding-2.html ..." if len(pages) > 1 else ""
    say(
        f"wrote {pages[0]}{more} ({size:.1f} MB: the coding page, images inside; open it in a "
        "browser, offline, or e-mail it to a coder)"
    )
    if missing:
        say(
            f"note: {len(missing)} image(s) could not be read here (e.g. {missing[0]}); their "
            "rows on the sheet have no image: show them to the coders another way."
        )


def register(app: typer.Typer) -> None:
    app.command()(evaluate)
    app.command()(compare)
    app.command()(agreement)
    app.command()(audit)
    app.command("validation-sample")(validation_sample)
