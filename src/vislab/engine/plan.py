"""`_plan.json`: the job's items listed once, their order, the shard size and the source's
fingerprint, so that a resumed job does the same work on the same files.

Shard k holds items [k S, (k + 1) S). The fingerprint is a hash of every item's path, size and
modification time; `--resume` lists the source again and refuses it where the hash differs,
naming the first items that were added, removed or changed. `job` names the work (command,
run or model, and every setting that changes the rows): resuming another job into the folder
is refused too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from vislab.engine.sources import Listing
from vislab.errors import InputError

PLAN_FILE = "_plan.json"
VERSION = 1


@dataclass
class Plan:
    listing: Listing
    shard_size: int
    job: dict

    @property
    def count(self) -> int:
        return len(self.listing.frame)

    @property
    def shards(self) -> int:
        return -(-self.count // self.shard_size)

    def bounds(self, shard: int) -> tuple[int, int]:
        return shard * self.shard_size, min((shard + 1) * self.shard_size, self.count)

    def fingerprint(self) -> str:
        return self.listing.fingerprint()


def write_plan(folder: Path, plan: Plan) -> None:
    from vislab.files import write_atomic

    listing = plan.listing
    content = {
        "version": VERSION,
        "job": plan.job,
        "source": listing.description,
        "base": str(listing.base),
        "count": plan.count,
        "shard_size": plan.shard_size,
        "shards": plan.shards,
        "fingerprint": plan.fingerprint(),
        "columns": [str(c) for c in listing.frame.columns],
        "items": {
            "path": listing.frame["path"].astype(str).tolist(),
            "size": listing.sizes.tolist(),
            "mtime_ns": listing.mtimes.tolist(),
        },
    }
    write_atomic(folder / PLAN_FILE, json.dumps(content))


def read_plan(folder: Path) -> dict:
    path = folder / PLAN_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise InputError(
            f"{path}: cannot be read ({error}): this folder is not a vislab job that can be "
            "resumed. Give a new --out."
        ) from error


def check_job(saved: dict, plan: Plan, folder: Path) -> None:
    """Refuse to resume another job or shard size into `folder`."""
    if saved.get("job") != plan.job:
        changed = sorted(
            k
            for k in set(saved.get("job", {})) | set(plan.job)
            if saved.get("job", {}).get(k) != plan.job.get(k)
        )
        raise InputError(
            f"{folder} holds another job ({', '.join(changed)} differ: was "
            f"{ {k: saved.get('job', {}).get(k) for k in changed} }, now "
            f"{ {k: plan.job.get(k) for k in changed} }). Resume it with the same settings, "
            "or give a new --out."
        )
    if saved["shard_size"] != plan.shard_size:
        raise InputError(
            f"{folder} was planned with --shard-size {saved['shard_size']}, not "
            f"{plan.shard_size}: resume with the same shard size."
        )


def check_source(saved: dict, plan: Plan, folder: Path) -> None:
    """Refuse a source that changed since the plan, naming what changed."""
    if saved["fingerprint"] != plan.fingerprint():
        changes = source_changes(saved, plan.listing)
        raise InputError(
            f"the source changed since {folder / PLAN_FILE} was written: {changes}. Predict "
            "the changed source into a new --out (the finished shards describe the old one)."
        )


def source_changes(saved: dict, listing: Listing, shown: int = 3) -> str:
    """What differs between the planned items and the source now, in words."""
    before = pd.DataFrame(saved["items"])
    now = pd.DataFrame(
        {
            "path": listing.frame["path"].astype(str),
            "size": listing.sizes,
            "mtime_ns": listing.mtimes,
        }
    )
    added = sorted(set(now["path"]) - set(before["path"]))
    removed = sorted(set(before["path"]) - set(now["path"]))
    joined = before.merge(now, on="path", suffixes=("_before", "_now"))
    changed = joined[
        (joined["size_before"] != joined["size_now"])
        | (joined["mtime_ns_before"] != joined["mtime_ns_now"])
    ]["path"].tolist()
    parts = [
        f"{len(found)} {what} (e.g. {', '.join(found[:shown])})"
        for found, what in ((added, "added"), (removed, "gone"), (changed, "modified"))
        if found
    ]
    return "; ".join(parts) or "the items' order changed"
