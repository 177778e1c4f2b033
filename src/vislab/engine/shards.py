"""The output folder of a job: `part-00000.parquet`, ... and its bookkeeping (`_`-files, which
`pandas.read_parquet(FOLDER)` leaves out).

A shard is written under a hidden temporary name and renamed when whole, after its skipped
images (`_skipped/part-00000.csv`): a shard file that exists is complete, and so is its list
of skips. `_progress.json` (rewritten atomically after every shard) is for people and tools
watching; what is done is read from the shard files themselves. `_skipped.csv` gathers every
skip and `_SUCCESS` marks the job complete.

Several processes share the folder by claims: a process writes shard k only after creating
`_claims/part-0000k` (exclusive create: one process wins it, on one machine or on a shared file
system), which names the launch, host, process and rank, and stays as the record of who wrote
the shard. A resumed job forgets the claims of unwritten shards (their processes died): a
process killed mid-shard leaves only that shard to redo.
"""

from __future__ import annotations

import io
import json
import os
import re
import socket
import time
from pathlib import Path

import pandas as pd

from vislab.files import write_atomic

PROGRESS_FILE, SKIPPED_FILE, SUCCESS_FILE = "_progress.json", "_skipped.csv", "_SUCCESS"
SKIPPED_PARTS, CLAIMS = "_skipped", "_claims"
SKIPPED_COLUMNS = ["id", "path", "reason"]
SHARD_FILE = re.compile(r"part-(\d{5,})\.parquet")


def shard_name(shard: int) -> str:
    return f"part-{shard:05d}.parquet"


def temporary_files(folder: Path) -> set[Path]:
    """The files `write_atomic` had not yet renamed (hidden, ending in .tmp)."""
    if not folder.is_dir():
        return set()
    return {p for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")}


def done_shards(folder: Path, shards: int) -> set[int]:
    """The shards whose file exists (complete, by the rename): one listing of the folder."""
    if not folder.is_dir():
        return set()
    found = (SHARD_FILE.fullmatch(name) for name in os.listdir(folder))
    return {int(match[1]) for match in found if match and int(match[1]) < shards}


def claim(folder: Path, shard: int, launch: str, rank: int) -> bool:
    """Take shard `shard` for this process: True where no other process holds it. The claim
    stays, a record of which launch, host, process and rank wrote the shard."""
    path = folder / CLAIMS / f"part-{shard:05d}"
    path.parent.mkdir(exist_ok=True)
    try:
        handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    who = {"launch": launch, "host": socket.gethostname(), "pid": os.getpid(), "rank": rank}
    with os.fdopen(handle, "w") as stream:
        json.dump(who, stream)
    return True


def clear_claims(folder: Path, shards: int) -> None:
    """Forget the claims of shards that are not written (an earlier launch's processes died
    holding them); those of written shards stay."""
    done = done_shards(folder, shards)
    for path in (folder / CLAIMS).glob("part-*") if (folder / CLAIMS).is_dir() else ():
        number = path.name.removeprefix("part-")
        if not number.isdigit() or int(number) not in done:
            path.unlink()


def write_shard(folder: Path, shard: int, table, skipped: pd.DataFrame) -> None:
    """The skips, then the shard's rows (a pyarrow Table), each atomically."""
    import pyarrow.parquet as pq

    skipped_part = folder / SKIPPED_PARTS / f"part-{shard:05d}.csv"
    write_atomic(skipped_part, skipped[SKIPPED_COLUMNS].to_csv(index=False))
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    write_atomic(folder / shard_name(shard), buffer.getvalue())


def write_progress(
    folder: Path, done: set[int], shards: int, count: int, started: float, extra=None
) -> None:
    content = {
        "shards": shards,
        "shards_done": len(done),
        "items": count,
        "done": sorted(done),
        "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds_this_session": round(time.monotonic() - started, 1),
        **(extra or {}),
    }
    write_atomic(folder / PROGRESS_FILE, json.dumps(content, indent=1))


def finish(folder: Path, shards: int) -> pd.DataFrame:
    """`_skipped.csv` from every shard's skips, then `_SUCCESS`. Returns the skips."""
    parts = [folder / SKIPPED_PARTS / f"part-{k:05d}.csv" for k in range(shards)]
    frames = [pd.read_csv(p, dtype=str, keep_default_na=False) for p in parts if p.is_file()]
    skipped = (
        pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=SKIPPED_COLUMNS)
    )
    write_atomic(folder / SKIPPED_FILE, skipped.to_csv(index=False))
    write_atomic(folder / SUCCESS_FILE, "")
    return skipped
