"""Commands on runs: `quickstart`, `train`, `predict`, `explain` (and `evaluate RUN_DIR`)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from vislab.cli.common import (
    SOURCES,
    Devices,
    Force,
    NumNodes,
    Overrides,
    Quiet,
    Resume,
    ShardSize,
    fresh_outputs,
    print_metrics,
    say,
)
from vislab.errors import UsageError
from vislab.progress import other_process, set_quiet, shown


class Method(StrEnum):
    gradcam = "gradcam"
    gradcam_pp = "gradcam++"
    eigencam = "eigencam"
    scorecam = "scorecam"
    attention = "attention"


def quickstart(
    out: Annotated[Path, typer.Option(help="Folder for the run directory.")] = Path("runs"),
    epochs: Annotated[int, typer.Option(min=1, help="Training epochs.")] = 6,
    quiet: Quiet = False,
) -> None:
    """The whole flow offline on scikit-learn's digits: check, train, evaluate, report."""
    from vislab.quickstart import run_quickstart

    set_quiet(quiet)
    run_quickstart(out, epochs=epochs, say=say)


def examples(
    out: Annotated[Path, typer.Option(help="A new folder to write them to.")] = Path("examples"),
    force: Force = False,
) -> None:
    """Write the example configs (and small prediction files) that the documentation uses."""
    import shutil
    from importlib.resources import files

    fresh_outputs(out, force=force)
    bundled = files("vislab") / "examples"
    written = []
    for item in sorted(_walk(bundled)):
        target = out / item
        target.parent.mkdir(parents=True, exist_ok=True)
        with (bundled / item).open("rb") as source, target.open("wb") as copy:
            shutil.copyfileobj(source, copy)
        written.append(item)
    configs = [name for name in written if name.endswith(".yaml")]
    say(f"wrote {len(written)} files to {out}/: the configs {', '.join(configs)}")
    say("and captions/, video/ (predictions to evaluate). Paths in a config are relative to")
    say(
        "where you run vislab; to begin: vislab data sample digits --out digits && "
        f"vislab train {out / 'digits-manifest.yaml'}"
    )


def _walk(folder, prefix: str = "") -> list[str]:
    names = []
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.name.startswith("__"):
            names += _walk(entry, f"{prefix}{entry.name}/")
        elif entry.is_file() and entry.name.endswith((".yaml", ".json", ".csv")):
            names.append(prefix + entry.name)
    return names


def train(
    config: Annotated[
        Path | None, typer.Argument(help="Experiment config (.yaml); not with --resume.")
    ] = None,
    set_: Overrides = None,
    resume: Annotated[Path | None, typer.Option(help="Continue this run directory.")] = None,
    trust_pickled_weights: Annotated[
        bool,
        typer.Option(
            help="Load model.pretrained even if it is a pickle (an ultralytics .pt): its code "
            "runs. Only for a file you made or trust."
        ),
    ] = False,
    quiet: Quiet = False,
) -> None:
    """Train a model; writes a new run directory with checkpoints, predictions, metrics, report."""
    from vislab.models.yolo import trusting_pickled_weights
    from vislab.training import train as run_training

    set_quiet(quiet)
    if config is None and resume is None:
        raise UsageError("give a CONFIG.yaml, or --resume RUN_DIR.")
    with trusting_pickled_weights(trust_pickled_weights):
        run_dir = run_training(config, set_ or [], resume=resume, progress=shown())
    if (run_dir / "metrics.json").is_file() and not other_process():  # the main process reports
        print_metrics(json.loads((run_dir / "metrics.json").read_text()))
        say(f"run directory: {run_dir}")
        say(f"report: {run_dir / 'report.html'}")


def predict(
    run_dir: Annotated[Path, typer.Argument(help="A finished run directory.")],
    images: Annotated[
        list[Path],
        typer.Argument(help=SOURCES),
    ],
    out: Annotated[
        Path,
        typer.Option(
            help="Predictions file to write (.csv, .parquet, .dta for Stata; .json for COCO "
            "results of detection and captioning runs), or a folder of Parquet shards."
        ),
    ] = Path("predictions.csv"),
    shard_size: ShardSize = 10_000,
    resume: Resume = False,
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="Images per batch (default: the run's).")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=0, help="Processes decoding images (default: the run's).")
    ] = None,
    full_decode: Annotated[
        bool,
        typer.Option(
            "--full-decode",
            help="Decode every JPEG at full size (default: large JPEGs at a reduced scale that "
            "still covers the model's input).",
        ),
    ] = False,
    devices: Devices = 1,
    num_nodes: NumNodes = 1,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Predict with a run's model and its own preprocessing (a run of any task)."""
    set_quiet(quiet)
    from vislab.engine.run import Settings, is_file_output, read_output
    from vislab.prediction import predict_collection
    from vislab.tasks.base import read_run

    if is_file_output(out) or out.suffix.lower() == ".json":
        fresh_outputs(out, force=force or resume)
    data = read_run(run_dir).config.data
    settings = Settings(
        shard_size,
        resume,
        batch_size or data.batch_size,
        data.num_workers if workers is None else workers,
        replace=force,
        devices=devices,
        num_nodes=num_nodes,
    )
    outcome, task = predict_collection(run_dir, images, out, settings, full_decode)
    if out.suffix.lower() != ".json":  # COCO results: no table to read back
        for line in task.summarize_predictions(read_output(out)):
            say(line)
    say_outcome(outcome)


def say_outcome(outcome) -> None:
    """What a collection job wrote: rows, images skipped (and where they are listed), time."""
    from vislab.progress import duration

    rows = f"{outcome.rows} row{'s' * (outcome.rows != 1)}"
    say(f"wrote {outcome.out} ({rows} in {duration(outcome.seconds)})")
    say_skipped(outcome)


def say_skipped(outcome) -> None:
    """How many images a job set aside, the first one's reason, and where they are listed."""
    if len(outcome.skipped):
        first = outcome.skipped.iloc[0]
        say(
            f"{len(outcome.skipped)} image(s) skipped (e.g. {first['path']}: {first['reason']}); "
            f"listed in {outcome.skipped_at}"
        )


def explain(
    run_dir: Annotated[Path, typer.Argument(help="A finished run directory.")],
    images: Annotated[list[Path], typer.Argument(help="Image (or video) files or folders.")],
    method: Annotated[
        Method, typer.Option(help="What makes the maps (detectors: eigencam).")
    ] = Method.gradcam,
    target: Annotated[str, typer.Option(help="predicted | true | a class name")] = "predicted",
    out: Annotated[
        Path, typer.Option(help="Folder for the overlays, explanations.csv and .html.")
    ] = Path("explanations"),
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Show what the model looked at (classification runs: with a faithfulness score, ROAD)."""
    set_quiet(quiet)
    from vislab.prediction import explain as run_explain

    fresh_outputs(out, force=force)
    table = run_explain(run_dir, images, method.value, target, out)
    for line in table.attrs.get("summary", []):
        say(line)
    count = f"{len(table)} overlay{'s' * (len(table) != 1)}"
    say(f"wrote {count}, {out / 'explanations.csv'} and {out / 'explanations.html'}")


def register(app: typer.Typer) -> None:
    app.command()(quickstart)
    app.command()(examples)
    app.command()(train)
    app.command()(predict)
    app.command()(explain)
