"""The command line: the same verbs as the Python API, over the same config.

Heavy libraries (torch, lightning, timm) are imported inside the commands that need them, so
`vislab --help` answers at once. Exit codes: 0 success, 1 input problems (reported), 2 usage.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from vislab.errors import VislabError

app = typer.Typer(
    help="vislab: image deep learning research workflow (data -> model -> evaluation).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Inspect data sources: check for problems, preview augmentations.")
app.add_typer(data_app, name="data")


def _say(text: str = "") -> None:
    typer.echo(text)


def _write_json(path: Path | None, data: dict) -> None:
    if path is not None:
        from vislab.runs import write_json

        write_json(path, data)
        _say(f"wrote {path}")


@app.command()
def quickstart(
    out: Annotated[Path, typer.Option(help="Folder for the run directory.")] = Path("runs"),
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 12,
) -> None:
    """The whole flow offline on scikit-learn's digits: check, train, evaluate, report."""
    from vislab.quickstart import run_quickstart

    run_quickstart(out, epochs=epochs, say=_say)


@data_app.command("check")
def data_check(
    source: Annotated[
        str, typer.Argument(help="Image folder, manifest (.csv/.parquet) or config (.yaml).")
    ],
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the full summary here.")
    ] = None,
    images: Annotated[Path | None, typer.Option(help="Detection (COCO): the image folder.")] = None,
) -> None:
    """Scan a source: unreadable files with reasons, counts per class, imbalance, duplicates.

    Detection sources (a COCO .json, a VOC folder, a YOLO folder) also list every box problem.
    """
    from vislab.data.check import scan, summarize
    from vislab.data.detection import (
        detection_source_from_path,
        is_detection_source,
        summarize_detection,
    )

    if is_detection_source(source):
        summary = summarize_detection(detection_source_from_path(source, images))
        _print_detection_check(summary)
        _write_json(json_out, summary)
        if summary["n_unreadable"] or summary["n_problems"]:
            raise typer.Exit(1)
        return
    from vislab.data.videos import is_video_source

    if is_video_source(source):
        _check_videos(source, json_out)
        return
    table = _table_for(source)
    summary = summarize(table, scan(table))
    _print_check(summary)
    _write_json(json_out, summary)
    if summary["n_unreadable"]:
        raise typer.Exit(1)


def _check_videos(source: str, json_out: Path | None) -> None:
    from vislab.data.videos import summarize_videos, video_source

    summary = summarize_videos(video_source(source))
    _say(f"{summary['source']}: {summary['videos']} videos, median {summary['frames_median']} frames "
         f"({summary['seconds_median']} s), fps {summary['fps']}")  # fmt: skip
    for name, count in summary["classes"].items():
        _say(f"  {name:<18} {count}")
    _say(f"unusable: {len(summary['unusable'])}")
    for item in summary["unusable"][:20]:
        _say(f"  {item['path']}: {item['reason']}")
    _write_json(json_out, summary)
    if summary["unusable"]:
        raise typer.Exit(1)


def _table_for(source: str):
    from vislab.data.sources import load_source, source_from_path

    if source.endswith((".yaml", ".yml")):
        from vislab.config import load_config

        return load_source(load_config(source).data)
    return source_from_path(source)


def _print_detection_check(summary: dict) -> None:
    _say(f"{summary['source']}: {summary['n_images']} images, {summary['n_boxes']} boxes, "
         f"{summary['n_images_without_boxes']} images without boxes")  # fmt: skip
    for name, count in summary["boxes_per_class"].items():
        _say(f"  {name:<20} {count} boxes")
    _say(f"imbalance ratio (boxes, largest/smallest class): {summary['imbalance_ratio']}")
    _say(f"exact duplicate images: {len(summary['duplicates'])} group(s)")
    _say(f"problems: {summary['n_problems']}")
    for item in summary["problems"][:50]:
        _say(f"  {item['where']}: {item['problem']} ({item['action']})")
    _say(f"unreadable: {summary['n_unreadable']}")
    for item in summary["unreadable"]:
        _say(f"  {item['path']}: {item['reason']}")


def _print_check(summary: dict) -> None:
    _say(f"{summary['source']}: {summary['n_images']} images, {len(summary['classes'])} classes")
    for name, count in summary["classes"].items():
        _say(f"  {name:<20} {count}")
    if summary.get("splits"):
        _say("splits: " + ", ".join(f"{s} {sum(c.values())}" for s, c in summary["splits"].items()))
    _say(f"imbalance ratio (largest/smallest class): {summary['imbalance_ratio']}")
    _say(
        f"exact duplicates: {summary['n_duplicate_groups']} group(s), "
        f"{summary['n_cross_split_duplicates']} across splits"
    )
    _say(f"unreadable: {summary['n_unreadable']}")
    for item in summary["unreadable"]:
        _say(f"  {item['path']}: {item['reason']}")


@data_app.command("sample")
def data_sample(
    name: Annotated[
        str,
        typer.Argument(
            help="digits (classification), shapes (detection), moving-shapes (video), tiny-clip or tiny-blip (random-weight models)."
        ),
    ] = "digits",
    out: Annotated[Path, typer.Option(help="New folder for images/ and manifest.csv.")] = Path(
        "digits"
    ),
) -> None:
    """Write a bundled dataset as an image folder and a manifest CSV, to try every command."""
    from vislab.data.export import export_sample

    export_sample(name, out)
    if name == "shapes":
        _say(
            f"wrote {out / 'images'} and {out / 'instances.json'} (COCO boxes; 400 generated images)"
        )
    elif name == "moving-shapes":
        _say(
            f"wrote {out}/<direction>/*.mp4 and {out / 'manifest.csv'} (48 generated videos; the class is the motion)"
        )
    elif name.startswith("tiny-"):
        _say(
            f"wrote {out}: a {name.removeprefix('tiny-').upper()} with RANDOM weights, to try the commands offline"
        )
    else:
        _say(f"wrote {out / 'images'} (a folder per class) and {out / 'manifest.csv'}")


@data_app.command("preview")
def data_preview(
    config: Annotated[Path, typer.Argument(help="Experiment config (.yaml).")],
    out: Annotated[Path, typer.Option(help="PNG file for the grid.")] = Path("preview.png"),
    count: Annotated[int, typer.Option(help="Number of augmented images.")] = 24,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a field: key=value.")
    ] = None,
) -> None:
    """Save a grid of augmented training images, as the model will see them."""
    from vislab.config import load_config
    from vislab.data.preview import save_preview

    save_preview(load_config(config, set_ or []), out, count)
    _say(f"wrote {out}")


@app.command()
def train(
    config: Annotated[Path | None, typer.Argument(help="Experiment config (.yaml).")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a field: key=value.")
    ] = None,
    resume: Annotated[Path | None, typer.Option(help="Continue this run directory.")] = None,
) -> None:
    """Train a model; writes a new run directory with checkpoints, predictions, metrics, report."""
    from vislab.errors import UsageError
    from vislab.training import train as run_training

    if config is None and resume is None:
        raise UsageError("give a CONFIG.yaml, or --resume RUN_DIR.")
    run_dir = run_training(config, set_ or [], resume=resume, progress=sys.stderr.isatty())
    if (run_dir / "metrics.json").is_file():
        _print_metrics(json.loads((run_dir / "metrics.json").read_text()))
        _say(f"run directory: {run_dir}")
        _say(f"report: {run_dir / 'report.html'}")


@app.command()
def evaluate(
    task: Annotated[
        str, typer.Argument(help="classification | detection | captioning | video, or a RUN_DIR.")
    ],
    predictions: Annotated[
        Path | None, typer.Option(help="Predictions file (CSV for classification).")
    ] = None,
    references: Annotated[
        Path | None, typer.Option(help="References file (detection, captioning).")
    ] = None,
    group_by: Annotated[
        list[str] | None, typer.Option("--group-by", help="Metadata column (A*B: intersection).")
    ] = None,
    bootstrap: Annotated[
        int, typer.Option(help="Bootstrap resamples; 0 skips the intervals.")
    ] = 1000,
    confidence: Annotated[float, typer.Option(help="Interval confidence level.")] = 0.95,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    cluster: Annotated[
        str | None, typer.Option(help="Resample whole clusters of this column (person, event).")
    ] = None,
    weights: Annotated[
        str | None, typer.Option(help="Column of sampling weights (validation samples).")
    ] = None,
    interval: Annotated[str, typer.Option(help="percentile | bca")] = "percentile",
    sample: Annotated[
        Path | None,
        typer.Option(help="A validation-sample folder: adds weights and model outputs."),
    ] = None,
    label_column: Annotated[
        str | None, typer.Option(help="Column holding the true label (e.g. a coder's column).")
    ] = None,
    metadata: Annotated[
        Path | None,
        typer.Option(help="Detection, captioning: image metadata CSV (image_id) for --group-by."),
    ] = None,
    bertscore_model: Annotated[
        str | None,
        typer.Option(help="Captioning: a model folder for BERTScore-F1 (e.g. a MiniLM)."),
    ] = None,
    clip_model: Annotated[
        str | None, typer.Option(help="Captioning: a CLIP folder for CLIPScore (needs the images).")
    ] = None,
    images: Annotated[
        Path | None, typer.Option(help="Captioning: folder the references' file names are under.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Write metrics.json here.")] = None,
) -> None:
    """Metrics with bootstrap intervals (and per group) from a predictions file, or a run."""
    from vislab.errors import UsageError
    from vislab.evaluation.evaluate import evaluate as run_evaluation
    from vislab.evaluation.evaluate import evaluate_run

    if Path(task).is_dir():
        metrics = evaluate_run(task)
    else:
        if predictions is None:
            raise UsageError("--predictions FILE is required (or give a RUN_DIR instead of TASK).")
        if interval not in ("percentile", "bca"):
            raise UsageError(f"--interval must be percentile or bca. Got '{interval}'.")
        from vislab.evaluation.evaluate import check_task

        check_task(task)
        table = (
            _predictions_table(predictions, sample, label_column)
            if task == "classification"
            else predictions
        )
        metrics = run_evaluation(
            task, table, references, group_by or [], bootstrap, confidence, seed,
            cluster=cluster, weight="weight" if sample else weights, interval=interval, metadata=metadata,
            bertscore_model=bertscore_model, clip_model=clip_model, images_folder=images,
        )  # fmt: skip
    _print_metrics(metrics)
    _write_json(out, metrics)


@app.command()
def agreement(
    codings: Annotated[Path, typer.Argument(help="CSV: one row per item, one column per coder.")],
    raters: Annotated[str, typer.Option(help="Coder columns, comma-separated: A,B,C.")],
    model: Annotated[str | None, typer.Option(help="Column with the model's labels.")] = None,
    level: Annotated[
        str, typer.Option(help="nominal | ordinal | interval (Krippendorff's alpha).")
    ] = "nominal",
    levels: Annotated[
        str | None, typer.Option(help="Order of the codes for ordinal data: low,mid,high.")
    ] = None,
    weights: Annotated[str | None, typer.Option(help="Column of sampling weights.")] = None,
    sample: Annotated[
        Path | None,
        typer.Option(help="A validation-sample folder: adds weights and the model's 'prediction'."),
    ] = None,
    bootstrap: Annotated[
        int, typer.Option(help="Bootstrap resamples of items; 0 skips the intervals.")
    ] = 1000,
    confidence: Annotated[float, typer.Option(help="Interval confidence level.")] = 0.95,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    out: Annotated[Path | None, typer.Option(help="Write agreement.json here.")] = None,
) -> None:
    """Agreement between coders (and a model): Cohen's and Fleiss' kappa, Krippendorff's alpha."""
    from vislab.data.sources import read_table
    from vislab.evaluation.agreement import agreement as measure

    coders = [name.strip() for name in raters.split(",") if name.strip()]
    order = [v.strip() for v in levels.split(",")] if levels else None
    table = read_table(codings)
    if sample:
        from vislab.evaluation.validation import attach_sample

        table, weights = attach_sample(table, sample, keep=coders), "weight"
    result = measure(table, coders, model, level, bootstrap, confidence, seed,
                     weights, order, str(codings))  # fmt: skip
    _say(
        f"{result['n_items']} items, {len(coders)} coders ({result['n_items_coded_by_all']} coded by all)"
    )
    _say(f"  Krippendorff's alpha ({level}) {_entry(result['krippendorff_alpha'])}")
    _say(f"  Fleiss' kappa              {_entry(result['fleiss_kappa'])}")
    for pair, entry in result["cohen_kappa"].items():
        _say(f"  Cohen's kappa {pair:<12} {_entry(entry)}")
    if model:
        entries = result["model"]
        _say(
            f"  model vs coders (mean kappa) {_entry(entries['mean_cohen_kappa_model_vs_coders'])}"
        )
        _say(
            f"  coders vs coders (mean kappa) {_entry(entries['mean_cohen_kappa_between_coders'])}"
        )
    _write_json(out, result)


@app.command()
def compare(
    a: Annotated[Path, typer.Argument(help="Predictions CSV of model A.")],
    b: Annotated[Path, typer.Argument(help="Predictions CSV of model B (same images).")],
    bootstrap: Annotated[int, typer.Option(help="Paired bootstrap resamples.")] = 1000,
    confidence: Annotated[float, typer.Option(help="Interval confidence level.")] = 0.95,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    out: Annotated[Path | None, typer.Option(help="Write compare.json here.")] = None,
) -> None:
    """Compare two models on the same images: paired bootstrap differences, McNemar's test."""
    from vislab.data.sources import read_table
    from vislab.evaluation.compare import compare as run_compare

    result = run_compare(
        read_table(a), read_table(b), bootstrap, confidence, seed, (str(a), str(b))
    )
    _say(f"{result['n']} images; difference = B - A")
    for name, entry in result["metrics"].items():
        ci = entry.get("ci")
        interval = f"  [{ci[0]:+.4f}, {ci[1]:+.4f}]  p={entry['p_value']:.3f}" if ci else ""
        _say(
            f"  {name:<18} A {entry['a']:.4f}  B {entry['b']:.4f}  {entry['difference']:+.4f}{interval}"
        )
    test = result["mcnemar"]
    _say(f"McNemar: statistic {test['statistic']:.3f}, p = {test['p_value']:.4f}")
    _write_json(out, result)


def _entry(entry: dict) -> str:
    value = entry["value"]
    text = "n/a" if value is None else f"{value:.4f}"
    ci = entry.get("ci")
    return text + (f"  [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "")


def _predictions_table(path: Path, sample: Path | None, label_column: str | None):
    from vislab.data.sources import read_table
    from vislab.errors import InputError

    table = read_table(path)
    if label_column:
        if label_column not in table.columns:
            raise InputError(f"{path}: no column '{label_column}' (--label-column).")
        table = table.drop(
            columns=[c for c in ("label",) if c in table.columns and c != label_column]
        )
        table = table.rename(columns={label_column: "label"})
    if sample:
        from vislab.evaluation.validation import attach_sample

        table = attach_sample(table, sample, keep=("label",))
    return table


@app.command()
def explain(
    run_dir: Annotated[Path, typer.Argument(help="A finished run directory.")],
    images: Annotated[list[Path], typer.Argument(help="Image files or folders.")],
    method: Annotated[
        str, typer.Option(help="gradcam | gradcam++ | eigencam | scorecam | attention")
    ] = "gradcam",
    target: Annotated[str, typer.Option(help="predicted | true | a class name")] = "predicted",
    out: Annotated[
        Path, typer.Option(help="Folder for the overlays, explanations.csv and .html.")
    ] = Path("explanations"),
) -> None:
    """Show what the model looked at, with a faithfulness score (ROAD) per image."""
    from vislab.explain.run import explain_run

    table = explain_run(run_dir, images, method, target, out)
    for row in table.head(10).itertuples():
        if "detections" in table.columns:  # a detector
            _say(f"{row.image}: {row.detections} boxes {row.boxes}")
        else:
            _say(f"{row.image}: {row.target} (p={row.probability:.3f}) ROAD {row.road:+.3f}")
    if "road" in table.columns:
        _say(
            f"mean ROAD {table['road'].mean():+.3f} (random maps: {table['road_random_map'].mean():+.3f}; higher is more faithful)"
        )
    count = f"{len(table)} overlay{'s' * (len(table) != 1)}"
    _say(f"wrote {count}, {out / 'explanations.csv'} and {out / 'explanations.html'}")


@app.command("zero-shot")
def zero_shot(
    source: Annotated[str, typer.Argument(help="Image folder or manifest (.csv/.parquet).")],
    model: Annotated[str, typer.Option(help="CLIP: a save_pretrained folder or a hub name.")],
    classes: Annotated[
        list[str] | None,
        typer.Option("--class", help="A class, or name=description (repeat; default: the labels)."),
    ] = None,
    templates: Annotated[
        Path | None, typer.Option(help="Prompt templates, one per line with {} for the class.")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Images per batch.")] = 32,
    report: Annotated[
        Path | None,
        typer.Option(help="Labelled images: a new folder for metrics.json, report.html."),
    ] = None,
    group_by: Annotated[
        list[str] | None, typer.Option("--group-by", help="With --report: metadata column.")
    ] = None,
    bootstrap: Annotated[int, typer.Option(help="With --report: bootstrap resamples.")] = 1000,
    out: Annotated[Path, typer.Option(help="Predictions CSV to write.")] = Path("zeroshot.csv"),
) -> None:
    """Code images into classes described in words with CLIP (no training); a predictions CSV."""
    from vislab.multimodal.zeroshot import code_images
    from vislab.runs import write_atomic, write_json

    table, record = code_images(
        source, model, classes, str(templates) if templates else None, batch_size
    )
    write_atomic(out, table.to_csv(index=False))
    write_json(out.with_suffix(".json"), record)
    counts = table["prediction"].value_counts()
    for name in record["classes"]:
        _say(f"  {name:<18} {int(counts.get(name, 0))} images")
    _say(
        f"wrote {out} ({len(table)} images) and {out.with_suffix('.json')} (model, prompts, versions)"
    )
    if report:
        from vislab.multimodal.zeroshot import write_zero_shot_report

        _print_metrics(write_zero_shot_report(report, table, record, group_by or [], bootstrap))
        _say(f"report: {report / 'report.html'}")


@app.command()
def embed(
    source: Annotated[str, typer.Argument(help="Image folder or manifest (.csv/.parquet).")],
    model: Annotated[str, typer.Option(help="CLIP: a save_pretrained folder or a hub name.")],
    batch_size: Annotated[int, typer.Option(help="Images per batch.")] = 32,
    out: Annotated[Path, typer.Option(help="Parquet file to write.")] = Path("embeddings.parquet"),
) -> None:
    """Export CLIP image embeddings (one row per image, metadata kept) as Parquet."""
    import io

    from vislab.multimodal.clip import load_clip
    from vislab.multimodal.embed import embed_table, embeddings_frame, readable_source
    from vislab.runs import write_atomic

    table = readable_source(source)
    frame = embeddings_frame(table, embed_table(load_clip(model), table, batch_size))
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    write_atomic(out, buffer.getvalue())
    width = sum(c.startswith("embedding_") for c in frame.columns)
    _say(f"wrote {out}: {len(frame)} images x {width} dimensions (L2-normalised), metadata kept")


@app.command("linear-probe")
def linear_probe(
    source: Annotated[str, typer.Argument(help="Labelled image folder or manifest.")],
    model: Annotated[str, typer.Option(help="CLIP: a save_pretrained folder or a hub name.")],
    test: Annotated[float, typer.Option(help="Test share when the source has no splits.")] = 0.2,
    seed: Annotated[int, typer.Option(help="Split, cross-validation and bootstrap seed.")] = 0,
    group_by: Annotated[
        list[str] | None, typer.Option("--group-by", help="Metadata column for the breakdown.")
    ] = None,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples.")] = 1000,
    out: Annotated[Path, typer.Option(help="New folder for predictions.csv, metrics.json.")] = Path(
        "probe"
    ),
) -> None:
    """Logistic regression on frozen CLIP image features; the test split evaluated."""
    from vislab.errors import UsageError
    from vislab.evaluation.evaluate import evaluate as run_evaluation
    from vislab.multimodal.clip import load_clip
    from vislab.multimodal.embed import embed_table, readable_source
    from vislab.multimodal.probe import linear_probe as fit
    from vislab.multimodal.probe import split_table
    from vislab.runs import library_versions, write_atomic, write_json

    if out.exists() and any(out.iterdir()):
        raise UsageError(f"{out}: the folder exists and is not empty; choose a new --out folder.")
    table = split_table(readable_source(source), test, seed)
    features = embed_table(load_clip(model), table)
    predictions, record = fit(table, features, seed)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "predictions.csv", predictions.to_csv(index=False))
    metrics = run_evaluation(
        "classification", predictions, None, group_by or [], bootstrap, seed=seed
    )
    write_json(out / "metrics.json", metrics)
    write_json(out / "probe.json", {**record, "model": model, "source": source, "seed": seed,
                                    "versions": library_versions()})  # fmt: skip
    _print_metrics(metrics)
    _say(
        f"C = {record['C']:g} (cross-validated); wrote {out}/predictions.csv, metrics.json, probe.json"
    )


@app.command()
def retrieval(
    references: Annotated[
        Path, typer.Argument(help="COCO captions JSON (or a CSV with path, caption*).")
    ],
    model: Annotated[str, typer.Option(help="CLIP: a save_pretrained folder or a hub name.")],
    images: Annotated[
        Path | None, typer.Option(help="Folder the file names are relative to.")
    ] = None,
    bootstrap: Annotated[
        int, typer.Option(help="Bootstrap resamples; 0 skips the intervals.")
    ] = 1000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    out: Annotated[Path | None, typer.Option(help="Write the metrics JSON here.")] = None,
) -> None:
    """Image-text retrieval with CLIP: recall@1/5/10 both ways, with intervals."""
    from PIL import Image

    from vislab.data.images import image_problem
    from vislab.errors import InputError
    from vislab.multimodal.clip import image_embeddings, load_clip, text_embeddings
    from vislab.multimodal.retrieval import caption_images, recall_metrics

    paths, texts, owner = caption_images(references, images)
    bad = [f"  - {p}: {why}" for p in paths if (why := image_problem(p))]
    if bad:
        raise InputError(f"{len(bad)} image(s) cannot be read:\n" + "\n".join(bad[:20]))
    clip = load_clip(model)
    pictures = [Image.open(p).convert("RGB") for p in paths]
    similarity = image_embeddings(clip, pictures) @ text_embeddings(clip, texts).T
    metrics = recall_metrics(similarity, owner, bootstrap, seed=seed)
    metrics["model"] = model
    _print_metrics(metrics)
    _write_json(out, metrics)


@app.command()
def caption(
    source: Annotated[str, typer.Argument(help="Image folder or manifest (.csv/.parquet).")],
    model: Annotated[
        str, typer.Option(help="BLIP (or another image-to-text model): a folder or hub name.")
    ],
    beams: Annotated[int, typer.Option(help="Beam search width (1: greedy).")] = 3,
    max_length: Annotated[int, typer.Option(help="Most new tokens per caption.")] = 30,
    prompt: Annotated[
        str | None, typer.Option(help="Text the captions continue, e.g. 'a picture of'.")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Images per batch.")] = 16,
    out: Annotated[Path, typer.Option(help="COCO caption results JSON to write.")] = Path(
        "captions.json"
    ),
) -> None:
    """Caption images; COCO caption results that `vislab evaluate captioning` reads."""
    import json

    from vislab.multimodal.captioner import caption_source
    from vislab.runs import write_atomic, write_json

    results, record = caption_source(source, model, beams, max_length, prompt, batch_size)
    write_atomic(out, json.dumps(results, indent=1))
    write_json(out.with_suffix(".record.json"), record)
    for item in results[:5]:
        _say(f"  {item['image_id']}: {item['caption']}")
    _say(f"wrote {out} ({len(results)} captions) and {out.with_suffix('.record.json')}")


@app.command()
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
    min_share: Annotated[float, typer.Option(help="Flag groups below this share.")] = 0.05,
    min_count: Annotated[int, typer.Option(help="Flag groups with fewer images.")] = 30,
    out: Annotated[
        Path, typer.Option(help="Folder for audit.html, audit.json and tables/.")
    ] = Path("audit"),
) -> None:
    """Representation audit of a dataset's metadata: shares, gaps, label associations."""
    from vislab.data.sources import read_table
    from vislab.evaluation.audit import audit as run_audit
    from vislab.evaluation.audit import audit_tables
    from vislab.report.audit_page import write_audit_page
    from vislab.runs import write_atomic, write_json

    frame = _table_for(source).frame
    columns = attributes or _metadata_columns(frame)
    result = run_audit(
        frame, columns, read_table(reference) if reference else None, min_share, min_count, source
    )
    write_json(out / "audit.json", result)
    for name, table in audit_tables(result).items():
        write_atomic(out / "tables" / f"{name}.csv", table.to_csv(index=False))
    write_audit_page(result, out)
    for spec, entry in result["attributes"].items():
        flagged = [name for name, g in entry["groups"].items() if g["under_represented"]]
        association = entry.get("label_association", {})
        test = (
            f"; label association p = {association['p_value']:.3g}"
            if association.get("p_value") is not None
            else ""
        )
        _say(
            f"{spec}: {len(entry['groups'])} groups, {entry['missing']} missing, under-represented: {flagged or 'none'}{test}"
        )
    _say(f"wrote {out / 'audit.html'}, {out / 'audit.json'} and {out / 'tables'}/")


def _metadata_columns(frame) -> list[str]:
    """Columns other than id/path/label/split with at most 50 distinct values."""
    skip = {"id", "path", "label", "split"}
    return [c for c in frame.columns if c not in skip and frame[c].nunique() <= 50]


@app.command("validation-sample")
def validation_sample(
    predictions: Annotated[Path, typer.Argument(help="Predictions CSV of the whole collection.")],
    size: Annotated[int, typer.Option(help="Number of images to code.")],
    strata: Annotated[
        str, typer.Option(help="Columns to stratify by, comma-separated.")
    ] = "prediction",
    oversample_uncertain: Annotated[
        bool, typer.Option(help="Add confidence bands as strata; sample low confidence more.")
    ] = False,
    allocation: Annotated[str, typer.Option(help="proportional | equal")] = "proportional",
    coders: Annotated[
        str, typer.Option(help="Blank coder columns of the sheet.")
    ] = "coder1,coder2",
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
    out: Annotated[
        Path, typer.Option(help="New folder for the sheet, the sample and the design.")
    ] = Path("validation"),
) -> None:
    """Draw a stratified sample for human coding, with sampling weights."""
    from vislab.data.sources import read_table
    from vislab.errors import UsageError
    from vislab.evaluation.validation import draw_sample, write_sample

    if allocation not in ("proportional", "equal"):
        raise UsageError(f"--allocation must be proportional or equal. Got '{allocation}'.")
    table = read_table(predictions)
    columns = [c.strip() for c in strata.split(",") if c.strip()]
    sample = draw_sample(table, size, columns, oversample_uncertain, allocation, seed)
    design = {
        "population": len(table), "sample": len(sample), "strata": columns,
        "oversample_uncertain": oversample_uncertain, "allocation": allocation, "seed": seed,
        "source": str(predictions),
        "per_stratum": {str(k): {"population": int(round((g["weight"]).sum())), "sample": len(g)}
                        for k, g in sample.groupby("stratum")},
    }  # fmt: skip
    write_sample(sample, out, [c.strip() for c in coders.split(",")], design)
    _say(f"sampled {len(sample)} of {len(table)} images in {sample['stratum'].nunique()} strata")
    _say(f"wrote {out / 'coding_sheet.csv'} (give this to the coders: no model labels in it)")
    _say(f"wrote {out / 'sample.csv'} (weights and model outputs) and {out / 'design.json'}")


def _print_metrics(metrics: dict) -> None:
    _say(f"{metrics['task']}: n = {metrics['n']}")
    width = max(18, *(len(name) + 1 for name in metrics["metrics"]))
    for name, entry in metrics["metrics"].items():
        ci = entry.get("ci")
        interval = f"  [{ci[0]:.4f}, {ci[1]:.4f}]" if ci and entry["value"] is not None else ""
        value = "n/a" if entry["value"] is None else f"{entry['value']:.4f}"
        _say(f"  {name:<{width}} {value}{interval}")
    for spec, groups in metrics.get("groups", {}).items():
        _say(f"by {spec}:")
        for name, entry in groups.items():
            headline = next(
                m for m in ("accuracy", "top1_accuracy", "mAP", "CIDEr") if m in entry["metrics"]
            )
            value = entry["metrics"][headline]["value"]
            flag = "  (small group)" if entry["small"] else ""
            shown = "n/a" if value is None else f"{value:.4f}"
            _say(f"  {name:<18} n={entry['n']:<6} {headline} {shown}{flag}")


@app.command()
def predict(
    run_dir: Annotated[Path, typer.Argument(help="A finished run directory.")],
    images: Annotated[list[Path], typer.Argument(help="Image files or folders.")],
    out: Annotated[Path, typer.Option(help="Predictions CSV to write.")] = Path("predictions.csv"),
) -> None:
    """Predict images with a run's model and its own preprocessing."""
    from vislab.prediction import predict_images
    from vislab.runs import write_atomic

    table = predict_images(run_dir, images)
    write_atomic(out, table.to_csv(index=False))
    for row in table.head(10).itertuples():
        score = getattr(row, f"score_{row.prediction}", float("nan"))
        _say(f"{row.id}: {row.prediction} ({score:.3f})")
    if len(table) > 10:
        _say(f"... {len(table) - 10} more")
    counts = table["prediction"].value_counts()
    _say("predicted: " + ", ".join(f"{name} {count}" for name, count in counts.items()))
    _say(f"wrote {out}")


def run(argv: list[str]) -> int:
    """Run the command line on `argv`; return the exit code (0, 1 input problems, 2 usage)."""
    try:
        app(args=argv, prog_name="vislab")  # usage errors: typer prints them and exits with 2
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except VislabError as error:
        typer.echo(f"error: {error}", err=True)
        return error.exit_code
    return 0


def main() -> None:
    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
