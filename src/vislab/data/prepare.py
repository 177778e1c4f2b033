"""From a source's table to what training needs, the same way for every task.

1. Every item is checked before the first training step (decoded, or probed for videos): an
   unusable one stops the run with the name and reason of every bad item (`on_bad_image:
   error`), or is left out and listed in the run's `skipped_<item>s.csv` (`skip`): never
   dropped silently, never found half-way through training.
2. Splits: the source's own (a `split` column, split folders), else stratified by the task's
   label with `split.seed`; `split.group_by` keeps every value of a column inside one split
   (`duplicate_cluster`: each cluster of near copies, found as `vislab data inspect` does).
3. The fingerprint of what was kept (table.py), recorded in the run's environment.json.
4. One more look at each image (`vislab data check`'s, data/findings.py): its near copies by
   perceptual hash across the splits just made (a held-out image with a copy in training
   overstates the held-out score) and the images' quality, for the run's report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from vislab.config import DataConfig
from vislab.data.splits import assign_splits
from vislab.data.table import Table, fingerprint, held_out_split
from vislab.errors import InputError
from vislab.files import as_listed


@dataclass
class TaskData:
    """What every task's training works from: usable items with their splits, and provenance."""

    table: Table  # every usable item, with a `split` column
    fingerprint: str
    skipped: pd.DataFrame = field(default_factory=pd.DataFrame)  # items left out, with reasons
    normalization: tuple[list[float], list[float]] | None = None  # (mean, std), if measured
    inspection: dict | None = None  # near copies and quality (`inspected`); None: not images
    near_copies: pd.DataFrame = field(default_factory=pd.DataFrame)  # their rows, by cluster

    @property
    def classes(self) -> list[str]:
        return self.table.classes

    def split(self, name: str) -> Table:
        return self.table.split(name)

    @property
    def held_out(self) -> str:
        """The split predicted and evaluated after training: test, else val."""
        return held_out_split(self.table.frame)

    def split_counts(self) -> dict[str, int]:
        counts = self.table.frame["split"].value_counts().sort_index()
        return {str(name): int(count) for name, count in counts.items()}


def screen(
    table: Table, problems: Sequence[str | None], policy: str
) -> tuple[list[int], pd.DataFrame]:
    """Positions of the usable items and a table of the others (id, path, reason).

    `policy` "error" stops with every bad item named; "skip" leaves them out, listed."""
    frame = as_listed(table.frame)  # paths as the source wrote them
    bad = [i for i, problem in enumerate(problems) if problem]
    skipped = pd.DataFrame(
        {
            "id": frame["id"].to_numpy()[bad] if bad else [],
            "path": frame["path"].to_numpy()[bad] if bad else [],
            "reason": [problems[i] for i in bad],
        }
    )
    if bad and policy == "error":
        lines = "\n".join(f"  - {row.path}: {row.reason}" for row in skipped.itertuples())
        raise InputError(
            f"{table.description}: {len(bad)} {table.item}(s) cannot be used:\n{lines}\n"
            "Fix or remove them, or set data.on_bad_image: skip to leave them out (they are "
            f"then listed in the run's skipped_{table.item}s.csv)."
        )
    return [i for i, problem in enumerate(problems) if not problem], skipped


def prepare_items(
    table: Table,
    problems: Sequence[str | None],
    digests: Sequence[str | None],
    data: DataConfig,
    stratify: pd.Series | None = None,
    need_train: bool = True,
) -> TaskData:
    """Screen, split and fingerprint a table; `stratify` labels the items for the split."""
    usable, skipped = screen(table, problems, data.on_bad_image)
    table = table.subset(usable)
    digests = [digests[i] for i in usable]
    labels = _stratify_labels(table, stratify, usable)
    split = data.split
    if split.group_by == DUPLICATE_CLUSTER and DUPLICATE_CLUSTER not in table.frame.columns:
        table = _with_copy_clusters(table)
    frame, group_by = _same_item_together(table.frame, digests, split.group_by)
    frame = assign_splits(frame, split.val, split.test, split.seed, group_by, labels)
    table = table.with_frame(frame.drop(columns=SAME_ITEM, errors="ignore"))
    if need_train and not (frame["split"] == "train").any():
        raise InputError(f"{table.description}: the train split is empty.")
    inspection, near_copies = inspected(table)
    return TaskData(table, fingerprint(table, digests), skipped, None, inspection, near_copies)


def inspected(table: Table) -> tuple[dict | None, pd.DataFrame]:
    """The near copies by perceptual hash and the quality counts of a split table (as `vislab
    data check` counts them), with how many images of the held-out split have a copy in
    another split; and the images with near copies (path, cluster, representative, split,
    leaks). Tables of videos: (None, no rows)."""
    if table.item != "image":
        return None, pd.DataFrame()
    from vislab.data.findings import looked_over

    summary, near_copies = looked_over(table)
    frame = table.frame
    held_out = held_out_split(frame) if frame["split"].isin(["test", "val"]).any() else None
    leaking = near_copies[near_copies["leaks"]] if "leaks" in near_copies else near_copies[:0]
    summary["near_copies"]["held_out_split"] = held_out
    summary["near_copies"]["n_held_out_with_copy_in_another_split"] = int(
        (leaking["split"] == held_out).sum() if held_out else 0
    )
    return summary, near_copies.drop(columns="position")


SAME_ITEM = "_same_item"
DUPLICATE_CLUSTER = "duplicate_cluster"  # data.split.group_by: near copies kept in one split


def _with_copy_clusters(table: Table) -> Table:
    """The table with `duplicate_cluster`: its images' clusters of near copies, as `vislab data
    inspect` finds them (numbered from 1 by first image; an image without copies alone)."""
    from vislab.data.inspection import copies, see, vocabulary_of

    centres = vocabulary_of(table)
    clusters = copies(table, see(table, centres), len(centres))
    numbers = pd.factorize(clusters)[0] + 1
    return table.with_frame(table.frame.assign(**{DUPLICATE_CLUSTER: numbers}))


def _same_item_together(
    frame: pd.DataFrame, digests: Sequence[str | None], group_by: str | None
) -> tuple[pd.DataFrame, str | None]:
    """Rows that are one item — the same path listed twice, or files with the same content —
    are split together (with `group_by`'s groups, if any), so that no image is trained on and
    tested on. Without such rows the split is the usual one."""
    paths = frame["path"].astype(str).map(lambda p: ("path", p)).tolist()
    contents = [("content", d) if d else ("row", i) for i, d in enumerate(digests)]
    keys = list(zip(paths, contents, strict=True))
    if len(set(_connected(keys))) == len(frame):
        return frame, group_by  # every row is its own item: the usual split
    if group_by is not None:
        if group_by not in frame.columns or frame[group_by].isna().any():
            return frame, group_by  # the splitter names the problem
        keys = [(*k, ("group", g)) for k, g in zip(keys, frame[group_by], strict=True)]
    return frame.assign(**{SAME_ITEM: _connected(keys)}), SAME_ITEM


def _connected(rows: list[tuple]) -> list[int]:
    """The connected component of each row, rows being linked when they share any key (scipy's
    connected components of the graph rows -- keys)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    owners = np.repeat(np.arange(len(rows)), [len(keys) for keys in rows])
    codes, uniques = pd.factorize(pd.Series([key for keys in rows for key in keys], dtype=object))
    nodes = len(rows) + len(uniques)
    edges = coo_matrix((np.ones(len(codes)), (owners, codes + len(rows))), shape=(nodes, nodes))
    return connected_components(edges, directed=False)[1][: len(rows)].tolist()


def _stratify_labels(table: Table, stratify: pd.Series | None, usable: list[int]) -> pd.Series:
    if stratify is not None:
        return pd.Series(np.asarray(stratify)[usable]).astype(str).reset_index(drop=True)
    if "label" in table.frame.columns:
        return table.frame["label"].astype(str)
    return pd.Series(["all"] * len(table))
