"""A job over a whole source: planned once, every missing shard run, the output finished.

`--out` ending in `.csv` or `.parquet` is one file: the shards go to a hidden folder beside it
(`.NAME.parts/`, resumable the same way) and are joined into the file at the end. Any other
`--out` is the folder of shards itself (DESIGN: "Collection-scale prediction").
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from vislab.engine.loop import POSITION, Device, Items, Job, run_shard
from vislab.engine.plan import PLAN_FILE, Plan, check_job, check_source, read_plan, write_plan
from vislab.engine.shards import (
    SKIPPED_COLUMNS,
    SKIPPED_PARTS,
    clear_claims,
    done_shards,
    finish,
    shard_name,
    temporary_files,
    write_progress,
    write_shard,
)
from vislab.engine.sources import Listing
from vislab.engine.team import Team, join_team
from vislab.errors import InputError
from vislab.progress import Progress, note

FILE_SUFFIXES = (".csv", ".parquet", ".pq", ".dta")  # .dta: Stata (vislab/stata.py)
SHARD_SIZE = 10_000
LOOK_SECONDS = 0.5  # between two looks for the shards other processes wrote


@dataclass
class Settings:
    shard_size: int = SHARD_SIZE
    resume: bool = False
    batch_size: int = 64
    workers: int = 0
    replace: bool = False  # --force: a finished one-file output is replaced, at the end
    devices: int = 1  # processes per node (one per GPU)
    num_nodes: int = 1


@dataclass
class Outcome:
    """Where the table is, how many rows it has, and the images set aside (id, path, reason)."""

    out: Path
    rows: int
    skipped: pd.DataFrame
    seconds: float
    skipped_at: Path | None = None  # where the skips are listed


def is_file_output(out: Path, job=None) -> bool:
    """One file (a table; for some jobs also .json), else a folder of shards."""
    return out.suffix.lower() in getattr(job, "file_suffixes", FILE_SUFFIXES)


def read_output(out: str | Path) -> pd.DataFrame:
    """The table a job wrote: one file (.csv, .parquet, .dta), or the folder of shards."""
    from vislab.files import read_table

    out = Path(out)
    return read_table(out) if is_file_output(out) else pd.read_parquet(out)


def run_job(job: Job, listing: Listing, out: str | Path, settings: Settings, identity: dict):
    """Run `job` over every item of `listing` into `out`; `identity` names the job (what it
    computes and with what), checked on --resume.

    With several processes (`settings.devices` x `settings.num_nodes`: launched here through
    Lightning, or started by srun or torchrun) every process runs this: the main one returns
    the Outcome once every shard is written; the others end (SystemExit 0) when no shard is
    left for them to take."""
    out, started = Path(out), time.monotonic()
    team = join_team(job.accelerator, settings.devices, settings.num_nodes)
    one_file = is_file_output(out, job)
    folder = out.with_name(f".{out.name}.parts") if one_file else out
    plan = Plan(listing, settings.shard_size, {**identity, **listing.identity})
    check = _prepared(team, job, listing, out, folder, plan, settings)
    if team.size > 1:
        note(f"{team.size} processes on {settings.num_nodes} node(s) share the shards")
    done = done_shards(folder, plan.shards)
    todo = [k for k in range(plan.shards) if k not in done]
    if done:
        note(f"resuming {folder}: {len(done)} of {plan.shards} shards done, {len(todo)} to go")
    remaining = sum(stop - start for start, stop in map(plan.bounds, todo))
    schema, device = _metadata_schema(listing.frame), None
    extra = {"provenance": job.provenance} if getattr(job, "provenance", None) else None
    with Progress(int(remaining), job.what, getattr(job, "unit", "images")) as progress:
        tally = Tally(plan, progress, done, team)
        for shard in _order(todo, team):
            if (folder / shard_name(shard)).is_file() or not team.claim(folder, shard):
                continue  # written, or being written, by another process
            device = device or Device(job, team.device())
            _one_shard(job, device, plan, folder, shard, settings, schema, progress, check)
            check = None  # checked before the first shard was written
            tally.mine(shard)
            write_progress(folder, tally.look(folder), plan.shards, plan.count, started, extra)
        if not team.main:
            team.close()
            raise SystemExit(0)
        _wait_for_the_others(folder, tally)
    team.close()
    write_progress(folder, tally.done, plan.shards, plan.count, started, extra)
    if check is not None:
        check()
    skipped = finish(folder, plan.shards)
    rows = _count_rows(folder, plan.shards)
    listed = out.with_name(f"{out.stem}_skipped.csv") if one_file else folder / "_skipped.csv"
    if one_file:
        _join_into_file(folder, out, skipped, job, listed)
    return Outcome(out, rows, skipped, time.monotonic() - started, listed)


def _prepared(team: Team, job, listing, out: Path, folder: Path, plan: Plan, settings):
    """The job planned or its plan checked, by the main process, which then tells the others
    whether to go on (they wait for it: nothing is claimed before the earlier launch's claims
    and half-written files are cleared). Returns the check to run before this process's first
    write: a resumed job's source, or another process's listing, against the plan."""
    failure, check = None, None
    if team.main:
        try:
            _refuse_to_start(job, listing, out, folder, settings)
            check = _start_or_resume(folder, plan, settings.resume)
        except BaseException as error:  # noqa: BLE001 - told to the others, then raised
            failure = error
    said = team.share({"failed": failure is not None, "launch": _launch_name()})
    team.launch = said["launch"]
    if said["failed"]:
        team.close()
        if failure is not None:
            raise failure
        raise SystemExit(0)  # the main process reports why
    if team.main:
        return check
    if not (folder / PLAN_FILE).is_file():
        raise InputError(
            f"process {team.rank} cannot see {folder / PLAN_FILE}, which process 0 wrote: --out "
            "must be on a file system that every node shares."
        )
    saved = read_plan(folder)
    check_job(saved, plan, folder)
    return lambda: check_source(saved, plan, folder)


def _launch_name() -> str:
    """This launch of the job, in the claims: when and where its main process began."""
    import os
    import socket

    return f"{time.strftime('%Y%m%dT%H%M%S')}-{socket.gethostname()}-{os.getpid()}"


def _refuse_to_start(job, listing, out: Path, folder: Path, settings: Settings) -> None:
    one_file = folder != out
    if _holds_something(out) and not (settings.replace if one_file else settings.resume):
        if one_file and settings.resume:
            raise InputError(
                f"{out} is written: its job finished, nothing is left to resume. Read it as it "
                "is, or give --force to run the job again and replace it at the end."
            )
        raise InputError(
            f"{out} exists: vislab never writes over an earlier result. Give a new --out"
            + ("." if one_file else ", or --resume to finish an interrupted job.")
        )
    if settings.shard_size < 1 or settings.batch_size < 1 or settings.workers < 0:
        raise InputError("--shard-size and --batch-size must be at least 1, --workers at least 0.")
    if listing.archives is not None and not getattr(job, "reads_archives", True):
        raise InputError(
            f"{listing.description}: tar archives hold the items, and {job.what} of "
            f"{getattr(job, 'unit', 'images')} reads them as files: extract the archives first."
        )


def _order(todo: list[int], team: Team) -> list[int]:
    """This process's share first (every size-th shard from its rank), then the others' from
    the end: a process that is done early takes the shards their owners would reach last."""
    own = todo[team.rank :: team.size]
    taken = set(own)
    return own + [k for k in reversed(todo) if k not in taken]


class Tally:
    """The shards done: this process's, and the others' (looked up on disk at most every
    LOOK_SECONDS, where there are others), counted in the progress as they appear."""

    def __init__(self, plan: Plan, progress: Progress, done: set[int], team: Team) -> None:
        self.plan, self.progress, self.done = plan, progress, set(done)
        self.alone, self.looked = team.size == 1, -LOOK_SECONDS

    def mine(self, shard: int) -> None:
        self.done.add(shard)  # its items were counted batch by batch

    def look(self, folder: Path) -> set[int]:
        if self.alone or time.monotonic() - self.looked < LOOK_SECONDS:
            return self.done
        self.looked = time.monotonic()
        for shard in sorted(done_shards(folder, self.plan.shards) - self.done):
            start, stop = self.plan.bounds(shard)
            self.progress.advance(stop - start)
            self.done.add(shard)
        return self.done


def _wait_for_the_others(folder: Path, tally: Tally) -> None:
    """Until every shard is written (each one left is claimed by another process)."""
    said = False
    while len(tally.look(folder)) < tally.plan.shards:
        if not said:
            left = tally.plan.shards - len(tally.done)
            note(f"waiting for {left} shard(s) that other processes are writing")
            said = True
        time.sleep(LOOK_SECONDS)


def _holds_something(path: Path) -> bool:
    """A file, or a folder with anything but the temporary files a killed job leaves."""
    return path.is_file() or (path.is_dir() and not set(path.iterdir()) <= temporary_files(path))


def _start_or_resume(folder: Path, plan: Plan, resume: bool):
    """A new job planned; or a job resumed, its job and shard size checked, and returned: the
    check of its source, run before anything new is written (the source's files are still
    being stat-ed in a thread; the first shard is computed meanwhile). None for a new job."""
    for stale in temporary_files(folder) | temporary_files(folder / SKIPPED_PARTS):
        stale.unlink()  # half-written by a killed job: never renamed, never done
    clear_claims(folder, plan.shards)  # an earlier launch's: none of this one's has begun
    if resume and (folder / PLAN_FILE).is_file():
        saved = read_plan(folder)
        check_job(saved, plan, folder)
        return lambda: check_source(saved, plan, folder)
    if _holds_something(folder):
        raise InputError(
            f"{folder} exists and is not a vislab job ({PLAN_FILE} is missing): give a new --out."
        )
    folder.mkdir(parents=True, exist_ok=True)
    write_plan(folder, plan)
    note(f"planned {plan.count} items in {plan.shards} shard(s) of {plan.shard_size}: {folder}")
    return None


def _one_shard(job, device, plan, folder, shard, settings, schema, progress, check) -> None:
    start, stop = plan.bounds(shard)
    items = plan.listing.frame.iloc[start:stop]  # the index: each item's place in the source
    columns = [c for c in getattr(job, "item_columns", ()) if c in items.columns]
    extras = items[columns].to_dict("records") if columns else None
    reading = Items(plan.listing.files(start, stop), job.read, extras)
    rows, skipped = run_shard(job, device, reading, settings.batch_size, settings.workers, progress)
    if rows is None:
        rows = pd.DataFrame({POSITION: pd.Series(dtype=np.int64)})
    table = _typed(job.table(rows, items), schema)
    positions = [k for k, _ in skipped]
    bad = items.iloc[positions][["id", "path"]].assign(reason=[why for _, why in skipped])
    if check is not None:
        check()  # a resumed job's source is the planned one: only then is a shard written
    write_shard(folder, shard, table, bad.reindex(columns=SKIPPED_COLUMNS))


def _metadata_schema(frame: pd.DataFrame):
    """The Arrow type of every source column, from the whole listing: each shard's columns are
    cast to it, so that every shard has one schema (a column empty in one shard included)."""
    import pyarrow as pa

    return pa.Schema.from_pandas(frame, preserve_index=False)


def _typed(frame, schema):
    """The shard as an Arrow table whose types do not depend on its rows: the source's columns
    in the listing's types, and a column with no value at all (a shard of unreadable images,
    or of images without a box) as text, the type the job's text columns have."""
    import pyarrow as pa

    table = (
        frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    )
    for at, field in enumerate(table.schema):
        known = schema.get_field_index(field.name)
        wanted = schema.field(known).type if known >= 0 else None
        if wanted is None and pa.types.is_null(field.type):
            wanted = pa.Schema.from_pandas(pd.DataFrame({"t": ["text"]})).field("t").type
        if wanted is not None and field.type != wanted:
            table = table.set_column(at, field.with_type(wanted), table.column(at).cast(wanted))
    return table


def _count_rows(folder: Path, shards: int) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(folder / shard_name(k)).metadata.num_rows for k in range(shards))


def _join_into_file(folder: Path, out: Path, skipped: pd.DataFrame, job, listed: Path) -> None:
    """The shards as one file (in the job's one-file form, `as_file`, or written by the
    job's `write_file`); the skips beside it; the parts folder removed."""
    from vislab.files import write_table

    count = len(list(folder.glob("part-*.parquet")))
    frame = pd.concat([pd.read_parquet(folder / shard_name(k)) for k in range(count)])
    frame = frame.reset_index(drop=True)
    if hasattr(job, "as_file"):
        frame = job.as_file(frame)
    if hasattr(job, "write_file"):
        job.write_file(out, frame)
    else:
        write_table(out, frame)
    if len(skipped):
        write_table(listed, skipped)
    shutil.rmtree(folder)
