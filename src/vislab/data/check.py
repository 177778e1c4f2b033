"""Scan a data source: unreadable images with reasons, counts, imbalance, exact duplicates.

`scan` decodes every image once (threads: Pillow releases the GIL while decoding; or, with
`processes`, that many processes, for the Python work around each decode) and hashes its
content; `vislab data check` prints and writes the summary, and training runs the same scan
before its first step so that no bad image stops a run half-way and none is dropped silently.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from vislab.data.images import file_digest, image_problem
from vislab.data.table import SampleTable, Table, fingerprint
from vislab.progress import Progress

IMBALANCE_WARNING_RATIO = 5.0


@dataclass
class Scan:
    """Per row of the table: why it is unusable (None if usable) and its content digest."""

    problems: list[str | None]
    digests: list[str | None]


def scan(table: Table, workers: int = 4, require_label: bool = True, processes: int = 0) -> Scan:
    """Decode every image of the table (files, or in-memory images) and hash its content;
    with `processes` > 1, files are decoded in that many processes."""
    in_files = getattr(table, "reader", None) is None
    with Progress(len(table), "check", f"{table.item}s") as progress:
        if processes > 1 and in_files:
            results = _in_processes(table.frame["path"].tolist(), processes, progress)
        else:
            results = _in_threads(table, workers, progress)
    problems = [problem for problem, _ in results]
    if require_label and "label" in table.frame.columns:
        for position, label in enumerate(table.frame["label"]):
            if problems[position] is None and (label is None or pd.isna(label)):
                problems[position] = "missing label: the label cell is empty"
    return Scan(problems, [digest for _, digest in results])


def _in_threads(table: Table, workers: int, progress) -> list:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = []
        for result in pool.map(lambda p: _inspect(table, p), range(len(table)), chunksize=64):
            results.append(result)
            progress.advance()
    return results


def _in_processes(paths: list[str], processes: int, progress) -> list:
    """Each file inspected in one of `processes` processes, the results in the files' order."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from vislab.data.images import PIXEL_LIMIT

    context = multiprocessing.get_context("spawn")  # no fork of a process that holds threads
    chunk = max(1, min(256, len(paths) // (processes * 8) or 1))
    with ProcessPoolExecutor(
        processes, mp_context=context, initializer=_set_limit, initargs=(PIXEL_LIMIT,)
    ) as pool:
        results = []
        for result in pool.map(_inspect_file, paths, chunksize=chunk):
            results.append(result)
            progress.advance()
    return results


def _set_limit(limit: int) -> None:
    from vislab.data.images import set_pixel_limit

    set_pixel_limit(limit)


def _inspect_file(path: str) -> tuple[str | None, str | None]:
    problem = image_problem(path)
    return problem, None if problem else file_digest(path)


def _inspect(table: Table, position: int) -> tuple[str | None, str | None]:
    if getattr(table, "reader", None) is None:  # images in files
        return _inspect_file(table.frame["path"].iat[position])
    try:
        image = table.read(position)
    except Exception as error:  # an in-memory or hub image that cannot be decoded
        return f"cannot be decoded: {error}", None
    return None, hashlib.sha256(image.tobytes()).hexdigest()


def summarize(table: SampleTable, result: Scan) -> dict:
    """The machine-readable summary that `vislab data check --json` writes."""
    frame = table.frame
    bad = [
        {"id": frame["id"].iat[i], "path": frame["path"].iat[i], "reason": problem}
        for i, problem in enumerate(result.problems)
        if problem
    ]
    counts = class_counts(frame["label"].dropna())
    summary = {
        "source": table.description,
        "n_images": len(frame),
        "n_unreadable": len(bad),
        "unreadable": bad,
        "classes": counts,
        "imbalance_ratio": imbalance_ratio(counts),
        "duplicates": _duplicates(frame, result.digests),
        "fingerprint": fingerprint(table, result.digests),
    }
    if "split" in frame.columns:
        summary["splits"] = {
            str(split): class_counts(group["label"].dropna())
            for split, group in frame.groupby("split", sort=True)
        }
    paths = frame["path"].astype(str)
    summary["n_repeated_paths"] = int(paths[paths.duplicated()].nunique())
    summary["n_duplicate_groups"] = len(summary["duplicates"])
    summary["n_cross_split_duplicates"] = sum(d["across_splits"] for d in summary["duplicates"])
    return summary


def class_counts(labels: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in labels.astype(str).value_counts().sort_index().items()}


def imbalance_ratio(counts: dict[str, int]) -> float | None:
    """Largest class count / smallest class count (None with fewer than one class)."""
    values = [v for v in counts.values() if v > 0]
    return round(max(values) / min(values), 4) if values else None


def _duplicates(frame: pd.DataFrame, digests: list[str | None]) -> list[dict]:
    keyed = pd.DataFrame({"digest": digests, "position": np.arange(len(frame))}).dropna()
    groups = []
    for digest, members in keyed.groupby("digest", sort=False):
        if len(members) < 2:
            continue
        rows = frame.iloc[members["position"].to_numpy()]
        splits = sorted(rows["split"].astype(str).unique()) if "split" in rows else []
        groups.append(
            {
                "sha256": digest,
                "ids": rows["id"].tolist(),
                "labels": sorted({"(no label)" if pd.isna(v) else str(v) for v in rows["label"]}),
                "splits": splits,
                "across_splits": len(splits) > 1,
            }
        )
    return groups


def readable_table(source: str | Path, require_label: bool = False) -> SampleTable:
    """An image folder or manifest with every image checked first: a bad file stops the command
    before any work, with every unreadable image and its reason."""
    from vislab.data.sources import source_from_path
    from vislab.errors import InputError

    table = source_from_path(source, require_label=require_label)
    problems = scan(table, require_label=require_label).problems
    bad = [
        f"  - {path}: {why}" for path, why in zip(table.frame["path"], problems, strict=True) if why
    ]
    if bad:
        raise InputError(
            f"{len(bad)} image(s) cannot be read; fix or remove them:\n" + "\n".join(bad[:20])
        )
    return table
