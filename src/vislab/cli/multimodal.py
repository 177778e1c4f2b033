"""Commands with image-text models: `zero-shot`, `embed`, `linear-probe`, `retrieval`, `caption`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from vislab.cli.common import (
    SOURCES,
    BatchSize,
    Bootstrap,
    Confidence,
    Devices,
    Force,
    GroupBy,
    ModelSource,
    NumNodes,
    Quiet,
    Resume,
    Seed,
    ShardSize,
    fresh_outputs,
    print_metrics,
    say,
    write_result,
)
from vislab.errors import UsageError
from vislab.progress import set_quiet


def zero_shot(
    model: ModelSource,
    source: Annotated[
        list[Path] | None,
        typer.Argument(help=SOURCES),
    ] = None,
    classes: Annotated[
        list[str] | None,
        typer.Option("--class", help="A class, or name=description (repeat; default: the labels)."),
    ] = None,
    templates: Annotated[
        Path | None, typer.Option(help="Prompt templates, one per line with {} for the class.")
    ] = None,
    embeddings: Annotated[
        Path | None,
        typer.Option(help="Code what `vislab embed` wrote (same model) instead of the images."),
    ] = None,
    batch_size: BatchSize = 32,
    report: Annotated[
        Path | None,
        typer.Option(help="Labelled images: a new folder for metrics.json, report.html."),
    ] = None,
    group_by: GroupBy = None,
    bootstrap: Bootstrap = 1000,
    out: Annotated[
        Path,
        typer.Option(help="Predictions file (.csv, .parquet, .dta) or a folder of shards."),
    ] = Path("zeroshot.csv"),
    shard_size: ShardSize = 10_000,
    resume: Resume = False,
    workers: Annotated[int, typer.Option(min=0, help="Processes decoding images.")] = 0,
    devices: Devices = 1,
    num_nodes: NumNodes = 1,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Code images into classes described in words with CLIP (no training); a predictions
    table, and what made it (model, prompts, versions) in a .json beside a file or in the
    folder's _plan.json."""
    set_quiet(quiet)
    from vislab.cli.runs import say_skipped
    from vislab.engine.run import Settings, is_file_output, read_output
    from vislab.files import write_json, write_table
    from vislab.tasks.zero_shot import code_images, from_embeddings, write_zero_shot_report

    if (embeddings is None) == (not source):
        raise UsageError("give the images (SOURCE) or --embeddings FOLDER, one of the two.")
    record_file = out.with_suffix(".json") if is_file_output(out) else None
    if is_file_output(out) or embeddings is not None:
        fresh_outputs(out, record_file, report, force=force or resume)
    if embeddings is not None:
        table, record = from_embeddings(embeddings, model, classes, templates and str(templates))
        write_table(out, table)
    else:
        settings = Settings(shard_size, resume, batch_size, workers, force, devices, num_nodes)
        outcome, record = code_images(
            source, model, classes, templates and str(templates), out, settings
        )
        say_skipped(outcome)
        table = read_output(out)
    if record_file is not None:
        write_json(record_file, record)
    elif "prompt_stability" in record:  # a folder: beside the provenance in _progress.json
        progress = json.loads((out / "_progress.json").read_text())
        write_json(out / "_progress.json", {**progress, "provenance": record})
    counts = table["prediction"].astype(str).value_counts()  # a CSV read back: "0" is 0
    for name in record["classes"]:
        say(f"  {name:<18} {int(counts.get(name, 0))} images")
    where = f" and {record_file} (model, prompts, versions)" if record_file else ""
    say(f"wrote {out} ({len(table)} images){where}")
    if report:
        print_metrics(write_zero_shot_report(report, table, record, group_by or [], bootstrap))
        say(f"report: {report / 'report.html'}")


def code(
    source: Annotated[list[Path], typer.Argument(help=SOURCES)],
    codebook: Annotated[
        Path, typer.Option(help="The codebook the coding page shows (codes: name, definition).")
    ],
    model: Annotated[
        str, typer.Option(help="An image-text-to-text model: a save_pretrained folder or a name.")
    ],
    prompt: Annotated[
        list[Path] | None,
        typer.Option(help="A prompt template with {codes} (and {question}); repeat to compare."),
    ] = None,
    examples: Annotated[
        bool,
        typer.Option("--examples", help="Show the codebook's example images first (few-shot)."),
    ] = False,
    out: Annotated[
        Path,
        typer.Option(help="Predictions file (.csv, .parquet, .dta) or a folder of shards."),
    ] = Path("coded.csv"),
    shard_size: ShardSize = 10_000,
    resume: Resume = False,
    batch_size: BatchSize = 8,
    workers: Annotated[int, typer.Option(min=0, help="Processes decoding images.")] = 0,
    bootstrap: Bootstrap = 1000,
    devices: Devices = 1,
    num_nodes: NumNodes = 1,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Code images from the codebook with a vision-language model: each code's answer scored
    (score_<code>, prediction), and what made them (model, codebook, prompts) in a .json
    beside a file or in the folder's _progress.json."""
    set_quiet(quiet)
    from vislab.cli.runs import say_skipped
    from vislab.engine.run import Settings, is_file_output, read_output
    from vislab.files import write_json
    from vislab.tasks.coding import code_collection, prompt_stability

    record_file = out.with_suffix(".json") if is_file_output(out) else None
    if record_file is not None:
        fresh_outputs(out, record_file, force=force or resume)
    settings = Settings(shard_size, resume, batch_size, workers, force, devices, num_nodes)
    outcome, record = code_collection(
        source, codebook, model, prompt or [], out, settings, examples
    )
    say_skipped(outcome)
    table = read_output(out)
    if len(record["prompts"]) > 1:
        record["prompt_stability"] = stability = prompt_stability(
            table, len(record["prompts"]), bootstrap
        )
        alpha = stability["krippendorff_alpha"]
        shown = f"{alpha['value']:.3f}" if alpha["value"] is not None else alpha["undefined"]
        say(
            f"across {len(record['prompts'])} prompts: Krippendorff's alpha {shown}; the code "
            f"changes with the wording for {stability['share_changed']:.1%} of the images"
        )
    if record_file is not None:
        write_json(record_file, record)
    elif "prompt_stability" in record:  # a folder: beside the provenance in _progress.json
        progress = json.loads((out / "_progress.json").read_text())
        write_json(out / "_progress.json", {**progress, "provenance": record})
    counts = table["prediction"].astype(str).value_counts()
    for name in record["codes"]:
        say(f"  {name:<18} {int(counts.get(name, 0))} images")
    where = f" and {record_file} (model, codebook, prompts, versions)" if record_file else ""
    say(f"wrote {out} ({len(table)} images){where}")


def embed(
    source: Annotated[list[Path], typer.Argument(help=SOURCES)],
    model: ModelSource,
    batch_size: BatchSize = 32,
    out: Annotated[
        Path,
        typer.Option(
            help="Parquet (or CSV) file to write, or a folder of Parquet shards (no suffix)."
        ),
    ] = Path("embeddings.parquet"),
    shard_size: ShardSize = 10_000,
    resume: Resume = False,
    workers: Annotated[int, typer.Option(min=0, help="Processes decoding images.")] = 0,
    devices: Devices = 1,
    num_nodes: NumNodes = 1,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Export CLIP image embeddings (one row per image, metadata kept): one Parquet file
    (`embedding_0` ... columns), or a folder of shards with an `embedding` column."""
    set_quiet(quiet)
    from vislab.data.images import IMAGE_SUFFIXES
    from vislab.engine.run import Settings, is_file_output, run_job
    from vislab.engine.sources import list_source
    from vislab.models.clip import load_clip
    from vislab.progress import note
    from vislab.tasks.jobs import EmbedJob, model_identity

    if is_file_output(out):
        fresh_outputs(out, force=force or resume)
    job = EmbedJob(load_clip(model))
    note(f"listing {', '.join(map(str, source))}")
    listing = list_source(source, set(IMAGE_SUFFIXES), folder_labels=True)
    identity = {"command": "embed", **model_identity(model)}
    settings = Settings(shard_size, resume, batch_size, workers, force, devices, num_nodes)
    outcome = run_job(job, listing, out, settings, identity)
    say(
        f"wrote {out}: {outcome.rows} images x {job.width} dimensions (L2-normalised), "
        "metadata kept"
    )
    from vislab.cli.runs import say_skipped

    say_skipped(outcome)


def linear_probe(
    model: ModelSource,
    source: Annotated[str | None, typer.Argument(help="Labelled image folder or manifest.")] = None,
    embeddings: Annotated[
        Path | None,
        typer.Option(help="Probe what `vislab embed` wrote (labelled) instead of the images."),
    ] = None,
    test: Annotated[
        float, typer.Option(min=0.0, max=0.99, help="Test share when the source has no splits.")
    ] = 0.2,
    seed: Annotated[int, typer.Option(help="Split, cross-validation and bootstrap seed.")] = 0,
    group_by: GroupBy = None,
    bootstrap: Bootstrap = 1000,
    out: Annotated[Path, typer.Option(help="New folder for predictions.csv, metrics.json.")] = Path(
        "probe"
    ),
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Logistic regression on frozen CLIP image features; the test split evaluated."""
    set_quiet(quiet)
    from vislab.data.check import readable_table
    from vislab.evaluation.classification import evaluate_classification
    from vislab.files import write_json, write_table
    from vislab.models.clip import embed_table, load_clip
    from vislab.runs import library_versions
    from vislab.tasks.linear_probe import embedded_table, split_table
    from vislab.tasks.linear_probe import linear_probe as fit

    if (embeddings is None) == (source is None):
        raise UsageError("give the images (SOURCE) or --embeddings FOLDER, one of the two.")
    fresh_outputs(out, force=force)
    if embeddings is not None:
        table, features = embedded_table(embeddings)
        table = split_table(table, test, seed)
    else:
        table = split_table(readable_table(source, require_label=True), test, seed)
        features = embed_table(load_clip(model), table)
    predictions, record = fit(table, features, seed)
    out.mkdir(parents=True, exist_ok=True)
    write_table(out / "predictions.csv", predictions)
    metrics = evaluate_classification(predictions, group_by or [], bootstrap, seed=seed)
    write_json(out / "metrics.json", metrics)
    write_json(
        out / "probe.json",
        {
            **record,
            "model": model,
            "source": str(source or embeddings),
            "seed": seed,
            "versions": library_versions(),
        },
    )
    print_metrics(metrics)
    say(
        f"C = {record['C']:g} (cross-validated); wrote {out}/predictions.csv, metrics.json, "
        "probe.json"
    )


def retrieval(
    references: Annotated[
        Path, typer.Argument(help="COCO captions JSON (or a CSV with path, caption*).")
    ],
    model: ModelSource,
    images: Annotated[
        Path | None, typer.Option(help="Folder the file names are relative to.")
    ] = None,
    bootstrap: Bootstrap = 1000,
    confidence: Confidence = 0.95,
    seed: Seed = 0,
    out: Annotated[Path | None, typer.Option(help="Write the metrics JSON here.")] = None,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Image-text retrieval with CLIP: recall@1/5/10 both ways, with intervals."""
    set_quiet(quiet)
    from vislab.data.captions import caption_pairs
    from vislab.data.images import image_problem, read_image
    from vislab.errors import InputError
    from vislab.evaluation.retrieval import recall_metrics
    from vislab.models.clip import image_embeddings, load_clip, text_embeddings

    fresh_outputs(out, force=force)
    paths, texts, owner = caption_pairs(references, images)
    bad = [f"  - {p}: {why}" for p in paths if (why := image_problem(p))]
    if bad:
        raise InputError(f"{len(bad)} image(s) cannot be read:\n" + "\n".join(bad[:20]))
    clip = load_clip(model)
    pictures = [read_image(p) for p in paths]
    similarity = image_embeddings(clip, pictures) @ text_embeddings(clip, texts).T
    metrics = recall_metrics(similarity, owner, bootstrap, confidence, seed)
    metrics["model"] = model
    print_metrics(metrics)
    write_result(out, metrics)


def caption(
    source: Annotated[str, typer.Argument(help="Image folder or manifest (.csv/.parquet).")],
    model: Annotated[
        str, typer.Option(help="BLIP (or another image-to-text model): a folder or hub name.")
    ],
    beams: Annotated[int, typer.Option(min=1, help="Beam search width (1: greedy).")] = 3,
    max_length: Annotated[int, typer.Option(min=1, help="Most new tokens per caption.")] = 30,
    prompt: Annotated[
        str | None, typer.Option(help="Text the captions continue, e.g. 'a picture of'.")
    ] = None,
    batch_size: BatchSize = 16,
    out: Annotated[Path, typer.Option(help="COCO caption results JSON to write.")] = Path(
        "captions.json"
    ),
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Caption images; COCO caption results that `vislab evaluate captioning` reads."""
    set_quiet(quiet)
    from vislab.data.check import readable_table
    from vislab.files import write_atomic, write_json
    from vislab.models.captioners import generate_captions, load_captioner
    from vislab.runs import library_versions

    fresh_outputs(out, out.with_suffix(".record.json"), force=force)
    table = readable_table(source)
    images = [table.read(i) for i in range(len(table))]
    texts = generate_captions(load_captioner(model), images, beams, max_length, prompt, batch_size)
    results = [{"image_id": i, "caption": t} for i, t in zip(table.frame["id"], texts, strict=True)]
    record = {
        "model": model,
        "source": str(source),
        "num_beams": beams,
        "max_length": max_length,
        "prompt": prompt,
        "n": len(results),
        "versions": library_versions(),
    }
    write_atomic(out, json.dumps(results, indent=1))
    write_json(out.with_suffix(".record.json"), record)
    for item in results[:5]:
        say(f"  {item['image_id']}: {item['caption']}")
    say(f"wrote {out} ({len(results)} captions) and {out.with_suffix('.record.json')}")


def register(app: typer.Typer) -> None:
    app.command("zero-shot")(zero_shot)
    app.command()(embed)
    app.command("linear-probe")(linear_probe)
    app.command("code")(code)
    app.command()(retrieval)
    app.command()(caption)
