"""`vislab predict` and `vislab explain`: a finished run of any task on new images or videos.

The run's task loads its model and preprocessing from the run folder (model.safetensors,
preprocessing.json, config.yaml). `vislab predict` runs the task's job on the collection engine
(`engine/`: sharded, resumable, an unreadable file skipped with its reason); `predict` here,
Python's `vislab.predict`, holds a short list's predictions in memory through the same
`Trainer.predict` path as the held-out split at the end of training (every file checked first:
an unreadable one stops it before any work). Both give the same items the same predictions.
"""

from __future__ import annotations

from pathlib import Path

from vislab.errors import InputError
from vislab.progress import note
from vislab.tasks import task_for
from vislab.tasks.base import read_run


def predict(run_dir: str | Path, items: list[str | Path], batch_size: int | None = None):
    """The run's predictions for image (or video) files and folders: a predictions table, or
    COCO results for detection runs. Returns (predictions, task)."""
    from vislab.engine.in_memory import predict_rows, prediction_trainer

    task = task_for(read_run(run_dir).config)
    run = task.load_run(Path(run_dir))
    if batch_size:
        run.config.data.batch_size = batch_size
    table = task.items(expand(items, task))
    rows = predict_rows(
        task.prediction_module(run),
        task.prediction_loader(run, table),
        prediction_trainer(run.config.train.accelerator, run.config.train.precision),
    )
    return task.predictions(rows, table, run), task, table


def predict_into(
    run_dir: str | Path,
    items: list[str | Path],
    out: str | Path,
    batch_size: int | None = None,
    resume: bool = False,
):
    """Python's `vislab.predict(..., out=...)`: `vislab predict`'s job (any source: folders,
    files, a manifest, tar shards, a hub dataset) into `out`, a new file or folder (an
    unfinished one with `resume`), and the table it wrote. Returns (predictions, Outcome)."""
    import pandas as pd

    from vislab.engine.run import Settings, is_file_output, read_output

    out = Path(out)
    if not resume and (out.is_file() or (out.is_dir() and any(out.iterdir()))):
        raise InputError(
            f"{out} exists: vislab does not replace an earlier result. Choose a new `out`, or "
            "resume=True to finish an unfinished one."
        )
    if resume and out.is_file():  # a one-file output is written when its job has finished
        raise InputError(
            f"{out} is written: its job finished, nothing is left to resume. Read it as it is, "
            "or choose a new `out` to run the job again."
        )
    data = read_run(run_dir).config.data
    settings = Settings(
        resume=resume, batch_size=batch_size or data.batch_size, workers=data.num_workers
    )
    outcome, _ = predict_collection(run_dir, items, out, settings)
    if is_file_output(out) or out.suffix.lower() != ".json":
        from vislab.data.sources import labels_as_text

        table = read_output(out)
        for column in ("prediction", "label"):  # classes' names: text, as in memory (a CSV
            if column in table and pd.api.types.is_numeric_dtype(table[column]):  # of digit
                table[column] = labels_as_text(table[column])  # classes reads back as numbers)
        return table, outcome
    import json

    return pd.DataFrame(json.loads(out.read_text())), outcome  # COCO results


def predict_collection(
    run_dir: str | Path, items: list[str | Path], out: str | Path, settings, full_decode=False
):
    """A run's predictions over a whole source (folders, image files or a manifest) into `out`
    through the collection engine: sharded, resumable, bad images skipped with their reason.
    Returns (Outcome, task)."""
    from vislab.data.images import file_digest
    from vislab.engine.run import is_file_output, run_job
    from vislab.engine.sources import list_source
    from vislab.progress import quiet_lightning

    quiet_lightning()
    task = task_for(read_run(run_dir).config)
    run = task.load_run(Path(run_dir))
    job = task.prediction_job(run, full_decode)
    if Path(out).suffix.lower() == ".json" and not is_file_output(Path(out), job):
        raise InputError(
            f"--out {out}: {task.name} predictions are a table: a .csv, .parquet or .dta file, "
            "or a folder (no suffix) of Parquet shards."
        )
    note(f"listing {', '.join(map(str, items))}")
    listing = list_source(list(items), task.item_suffixes())
    identity = {
        "command": "predict",
        "run": str(Path(run_dir).resolve()),
        "weights_sha256": file_digest(Path(run_dir) / "model.safetensors"),
        "full_decode": bool(full_decode),
    }
    return run_job(job, listing, out, settings, identity), task


def explain(
    run_dir: str | Path, items: list[str | Path], method: str, target: str, out: str | Path
):
    """Maps of what the run's model looked at, written to `out` (task-specific methods)."""
    task = task_for(read_run(run_dir).config)
    run = task.load_run(Path(run_dir))
    return task.explain(run, expand(items, task), method, target, Path(out))


def expand(items: list[str | Path], task) -> list[Path]:
    """Files, and the files inside folders, that the task reads; every one checked first."""
    suffixes = task.item_suffixes()
    paths: list[Path] = []
    for item in map(Path, items):
        if item.is_dir():
            paths.extend(sorted(p for p in item.rglob("*") if p.suffix.lower() in suffixes))
        else:
            paths.append(item)
    bad = [f"  - {p}: {why}" for p in paths if (why := task.item_problem(p))]
    if bad:
        raise InputError(f"{len(bad)} file(s) cannot be read:\n" + "\n".join(bad))
    if not paths:
        raise InputError(
            "nothing to predict: no files given (folders are searched for "
            f"{', '.join(sorted(suffixes))} files)."
        )
    return paths
