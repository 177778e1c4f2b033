"""What `vislab data inspect` finds in a collection, as tables: near copies (and the splits
they leak across), image quality problems and, where the images have embeddings, outliers,
label issues and a map of the collection in groups.

Every table keeps `position` (the row of the source's table) for the page's pictures; the
CSV files are written without it, with `path` as the source gives it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from vislab.data import collection_map, inspection, label_issues, neighbours
from vislab.data.local_features import NO_WORDS
from vislab.data.look import MOSTLY
from vislab.errors import InputError

LABEL_ISSUES_NEED = 10  # labelled images with embeddings: fewer, no label issues


@dataclass
class Embedded:
    """The embeddings of some of the table's rows (an unreadable image has none)."""

    positions: np.ndarray  # rows of the table
    vectors: np.ndarray  # (len(positions), d)


Embedder = Callable[[np.ndarray], Embedded]  # readable rows -> their embeddings


def matched(table, frame: pd.DataFrame, vectors: np.ndarray, where: str) -> Embedder:
    """The embeddings `vislab embed` wrote for this source (`frame`'s `path`s, as written from
    where it ran), matched to the table's rows by file. A row without one must be an image
    that cannot be read (embed skips those): checked now, before the inspection's pass."""
    from vislab.data.look import open_gray

    known = {os.path.abspath(p): k for k, p in enumerate(frame["path"].astype(str))}
    paths = [os.path.abspath(p) for p in table.frame["path"].astype(str)]
    rows = np.array([known.get(p, -1) for p in paths], dtype=np.int64)
    missing = [i for i in np.flatnonzero(rows < 0) if _readable(open_gray, paths[i])]
    if missing:
        listed = _paths(table.frame)[missing]
        raise InputError(
            f"{where}: no embedding for {len(missing)} image(s) of the source, such as "
            f"{', '.join(listed[:3])}: embed this source (`vislab embed SOURCE --out ...`) "
            "from the folder you run `vislab data inspect` in."
        )

    def embed(readable: np.ndarray) -> Embedded:
        if (rows[readable] < 0).any():  # an in-memory source's rows are not files
            raise InputError(f"{where}: the source's images are not files to match by path.")
        return Embedded(readable, vectors[rows[readable]])

    return embed


@dataclass
class Scored:
    """A run's class probabilities for some of the table's rows (its held-out split)."""

    positions: np.ndarray  # rows of the table
    probabilities: np.ndarray  # (len(positions), classes)
    classes: np.ndarray  # str, in column order
    where: str  # the file, for the notes


def scored(table, frame: pd.DataFrame, where: str) -> Scored:
    """The probabilities of a predictions table (`vislab train`'s or `predict`'s
    predictions.csv: `path` and `score_<class>` columns), matched to the table's rows by file
    (rows it does not predict: not in it). Checked now, before the inspection's pass."""
    from vislab.predictions import PATH, class_of, score_columns

    columns = score_columns(frame)
    if PATH not in frame.columns or not columns:
        raise InputError(
            f"{where}: no `path` and `score_<class>` columns: give the predictions.csv of a "
            "vislab classification run (its held-out split) or of `vislab predict`."
        )
    probabilities = frame[columns].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    wrong = ~np.isfinite(probabilities).all(axis=1) | (probabilities < 0).any(axis=1)
    wrong |= np.abs(probabilities.sum(axis=1) - 1.0) > 1e-3
    if wrong.any():
        row = int(np.flatnonzero(wrong)[0])
        raise InputError(
            f"{where}: row {row + 2}: the score columns are not class probabilities (each 0 to "
            f"1, together 1; {int(wrong.sum())} such row(s)): give a classifier's predictions."
        )
    known = {os.path.abspath(p): k for k, p in enumerate(frame[PATH].astype(str))}
    rows = np.array([known.get(os.path.abspath(p), -1) for p in table.frame["path"].astype(str)])
    positions = np.flatnonzero(rows >= 0)
    if not len(positions):
        raise InputError(
            f"{where}: none of its paths is an image of the source: give the predictions of "
            "a run on this source, from the folder you run `vislab data inspect` in."
        )
    classes = np.array([class_of(c) for c in columns])
    return Scored(positions, probabilities[rows[positions]], classes, where)


def _readable(open_gray, path: str) -> bool:
    try:
        open_gray(path, 8)
    except InputError:
        return False
    return True


@dataclass
class Inspection:
    summary: dict
    duplicates: pd.DataFrame
    quality: pd.DataFrame
    outliers: pd.DataFrame
    label_issues: pd.DataFrame
    clusters: pd.DataFrame
    coordinates: np.ndarray | None = None  # (len(clusters), 2): the map, rows as in clusters
    notes: list[str] = field(default_factory=list)  # what could not be found, and why


def inspect_collection(
    table,
    embed: Embedder | None = None,
    seed: int = 0,
    given: Scored | None = None,
    processes: int = 0,
) -> Inspection:
    """The whole inspection of a table (an image folder's, a manifest's); `embed` gives the
    embeddings of the readable rows (without it: copies and quality only); `given`: a run's
    held-out probabilities, which the label issues are then found from; `processes`: the
    processes a large collection of files is decoded in (0 or 1: threads)."""
    centres = inspection.vocabulary_of(table, seed)
    seen = inspection.see(table, centres, processes=processes)
    readable = np.flatnonzero([look is not None for look in seen.looks])
    embedded = None if embed is None else embed(readable)
    near = neighbours.nearest(embedded.vectors) if embedded is not None else None
    also = None if near is None else embedded.positions[neighbours.similar_pairs(near)]
    clusters = inspection.copies(table, seen, len(centres), also)
    found = Inspection(
        summary={},
        duplicates=inspection.duplicates(table.frame, seen, clusters),
        quality=quality_table(table.frame, seen),
        outliers=_empty("path", "distance", "reason"),
        label_issues=_empty("path", "label", "suggested_label", "score"),
        clusters=_empty("path", "group", "distance", "exemplar"),
    )
    if embedded is None:
        labels = "" if given is not None else ", label issues"
        found.notes.append(
            f"no embeddings (give --embeddings or --model): no outliers{labels} or map."
        )
    else:
        _with_embeddings(found, table, embedded, near, seed)
    if given is not None or embedded is not None:
        _label_issues(found, table, embedded, seed, given)
    found.summary = summary_of(table, seen, clusters, found)
    return found


def _empty(*columns: str) -> pd.DataFrame:
    return pd.DataFrame({c: [] for c in (*columns, "position")})


def _paths(frame: pd.DataFrame) -> np.ndarray:
    from vislab.files import as_listed

    return as_listed(frame)["path"].astype(str).to_numpy()


def quality_table(frame: pd.DataFrame, seen: inspection.Seen) -> pd.DataFrame:
    """One row per image and problem: `path`, `problem`, `detail` (the measure behind it);
    unreadable images first, with the reason."""
    paths = _paths(frame)
    rows = []
    for position, (look, reason) in enumerate(zip(seen.looks, seen.problems, strict=True)):
        if look is None:
            rows.append((paths[position], "unreadable", reason, position))
            continue
        for problem in look.problems():
            rows.append((paths[position], problem, _detail(look, problem), position))
    table = pd.DataFrame(rows, columns=["path", "problem", "detail", "position"])
    order = table["problem"].ne("unreadable").to_numpy()
    return table.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)


def _detail(look, problem: str) -> str:
    return {
        "dark": f"{look.dark_share:.0%} of pixels nearly black (from {MOSTLY:.0%}: dark)",
        "bright": f"{look.bright_share:.0%} of pixels nearly white (from {MOSTLY:.0%}: bright)",
        "low information": f"entropy {abs(look.entropy):.2f} bits, contrast {look.contrast:.2f}",
        "blurry": f"sharpness (variance of the Laplacian) {look.sharpness:.1f}",
        "small": f"{look.width} x {look.height} px",
        "odd aspect": f"{look.width} x {look.height} px",
    }.get(problem, "")


def _with_embeddings(found: Inspection, table, embedded: Embedded, near, seed: int) -> None:
    paths = _paths(table.frame)[embedded.positions]
    distance = neighbours.distances(near)
    limit = neighbours.outlier_limit(distance)
    far = np.flatnonzero(distance > limit)
    far = far[np.argsort(-distance[far], kind="stable")]
    found.outliers = pd.DataFrame(
        {
            "path": paths[far],
            "distance": distance[far],
            "reason": [
                f"mean cosine distance {distance[i]:.3f} to its {near.index.shape[1]} nearest "
                f"images (outlier above {limit:.3f})"
                for i in far
            ],
            "position": embedded.positions[far],
        }
    )
    _map(found, paths, embedded, near, seed)


def _label_issues(found: Inspection, table, embedded, seed: int, given: Scored | None) -> None:
    if "label" not in table.frame.columns:
        found.notes.append("the source has no labels: no label issues.")
        return
    labels = table.frame["label"].to_numpy()
    if given is not None:
        chosen = _scored_labels(found, labels, given)
    else:
        chosen = _out_of_fold(found, labels, embedded, seed)
    if chosen is None:
        return
    positions, probabilities, classes = chosen
    coded = np.searchsorted(classes, labels[positions].astype(str))
    rows, suggested, score = label_issues.label_issues(probabilities, coded)
    found.label_issues = pd.DataFrame(
        {
            "path": _paths(table.frame)[positions[rows]],
            "label": labels[positions[rows]].astype(str),
            "suggested_label": classes[suggested],
            "score": score,
            "position": positions[rows],
        }
    )


def _out_of_fold(found: Inspection, labels, embedded: Embedded, seed: int):
    """(positions, probabilities, classes): each labelled image's from a k-fold logistic
    regression on the embeddings; None (with a note) where there are too few."""
    labelled = np.flatnonzero(pd.notna(labels[embedded.positions]))
    if len(labelled) < LABEL_ISSUES_NEED:
        found.notes.append(f"fewer than {LABEL_ISSUES_NEED} labelled images: no label issues.")
        return None
    positions = embedded.positions[labelled]
    try:
        probabilities, classes = label_issues.out_of_fold(
            embedded.vectors[labelled], labels[positions].astype(str), seed=seed
        )
    except InputError as error:
        found.notes.append(f"no label issues: {error}")
        return None
    return positions, probabilities, classes


def _scored_labels(found: Inspection, labels, given: Scored):
    """(positions, probabilities, classes) of the run's predictions, for the images whose
    label the run has a class for (the others noted, not checked)."""
    order = np.argsort(given.classes, kind="stable")  # label_issues codes classes sorted
    classes, probabilities = given.classes[order], given.probabilities[:, order]
    mine = labels[given.positions]
    usable = pd.notna(mine) & np.isin(mine.astype(str), classes)
    unknown = sorted({str(v) for v in mine[pd.notna(mine) & ~usable]})
    if unknown:
        found.notes.append(
            f"{int((pd.notna(mine) & ~usable).sum())} image(s) with a label that {given.where} "
            f"has no class for (such as {', '.join(unknown[:3])}): their labels not checked."
        )
    found.notes.append(
        f"label issues from {given.where}: the {int(usable.sum())} labelled images it predicts "
        f"(a run's held-out split); the other {len(labels) - int(usable.sum())} not checked."
    )
    if usable.sum() < LABEL_ISSUES_NEED:
        found.notes.append(f"fewer than {LABEL_ISSUES_NEED} labelled images: no label issues.")
        return None
    return given.positions[usable], probabilities[usable], classes


def _map(found: Inspection, paths, embedded: Embedded, near, seed: int) -> None:
    count = collection_map.group_count(len(embedded.positions))
    group, distance = collection_map.groups(embedded.vectors, count, seed)
    found.clusters = pd.DataFrame(
        {
            "path": paths,
            "group": group,
            "distance": distance,
            "exemplar": collection_map.exemplars(group, distance),
            "position": embedded.positions,
        }
    )
    found.coordinates = collection_map.layout(near, seed)
    if found.coordinates is None:
        found.notes.append(f"fewer than {collection_map.SMALLEST_MAP} images: no map.")


def summary_of(table, seen: inspection.Seen, clusters: np.ndarray, found: Inspection) -> dict:
    return {
        "source": table.description,
        "n_images": len(table.frame),
        "n_unreadable": int(sum(look is None for look in seen.looks)),
        **copy_counts(found.duplicates, clusters),
        "quality": quality_counts(found.quality),
        "n_outliers": len(found.outliers),
        "n_label_issues": len(found.label_issues),
        "n_groups": int(found.clusters["group"].nunique()),
        "notes": found.notes,
        "data_fingerprint": listing_fingerprint(table),
    }


def copy_counts(duplicates: pd.DataFrame, clusters: np.ndarray) -> dict:
    """The effective N and the clusters of copies: how many, their images, how many leak."""
    leaks = duplicates.loc[duplicates["leaks"], "cluster"] if "leaks" in duplicates else []
    return {
        "effective_n": inspection.effective_size(clusters),
        "n_copy_clusters": int(duplicates["cluster"].nunique()),
        "n_images_in_copy_clusters": len(duplicates),
        "n_leaking_clusters": int(pd.Series(leaks).nunique()),
    }


def quality_counts(quality: pd.DataFrame) -> dict[str, int]:
    """Images per problem of the quality table."""
    return {str(k): int(v) for k, v in quality["problem"].value_counts().items()}


def glance(table) -> dict:
    """`vislab data check`'s part of the inspection, from one look at each image: the copies
    by perceptual hash (re-encoded and resized copies; crops and edits need the keypoints of
    `vislab data inspect`), counted as the inspection counts them, and the quality problems."""
    return looked_over(table)[0]


def looked_over(table) -> tuple[dict, pd.DataFrame]:
    """`glance`'s counts, and its duplicates table (one row per image with a near copy, as
    `inspection.duplicates` gives it)."""
    seen = inspection.see(table, NO_WORDS, task="look")
    clusters = inspection.copies(table, seen, 0)
    duplicates = inspection.duplicates(table.frame, seen, clusters)
    method = "perceptual hash within 7 bits; crops and edits: vislab data inspect"
    summary = {
        "near_copies": {**copy_counts(duplicates, clusters), "method": method},
        "quality": quality_counts(quality_table(table.frame, seen)),
    }
    return summary, duplicates


def listing_fingerprint(table) -> str:
    """sha256 over each row's path, label and split, and its file's size and modification time
    (an in-memory image: its row only), in table order."""
    digest = hashlib.sha256()
    frame = table.frame
    in_memory = getattr(table, "reader", None) is not None
    for position, path in enumerate(frame["path"].astype(str)):
        stat = (0, 0) if in_memory else _stat(path)
        fields = [path, *(str(frame[c].iat[position]) for c in ("label", "split") if c in frame)]
        digest.update("\x1f".join([*fields, *map(str, stat)]).encode() + b"\x1e")
    return digest.hexdigest()


def _stat(path: str) -> tuple[int, int]:
    try:
        found = os.stat(path)
    except OSError:
        return (-1, -1)
    return (found.st_size, found.st_mtime_ns)
