"""Files vislab reads and writes: atomic writes, JSON, YAML and tables, errors naming the file.

Every file vislab writes goes through `write_atomic`: a temporary file beside the target, then a
rename, so a reader (or a killed run) never sees half a file. Files get the permissions the
user's umask gives new files, like any other program's. Every file read here that is not what
it should be gives an `InputError` that names it.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from vislab.errors import InputError


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_atomic(path: str | Path, content: str | bytes) -> Path:
    """Write to a temporary file beside `path`, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(content, bytes) else "w"
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, mode) as stream:
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; the user's umask decides
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | Path, data: Any) -> Path:
    """JSON with 2-space indents; numpy values and paths converted, NaN and infinity as null.

    JSON has no NaN: an undefined number (a metric with no data behind it) is written as null.
    """
    text = json.dumps(_finite(data), indent=2, default=_jsonable, allow_nan=False)
    return write_atomic(path, text + "\n")


def write_yaml(path: str | Path, data: Any) -> Path:
    return write_atomic(path, yaml.safe_dump(data, sort_keys=False))


def _finite(value: Any) -> Any:
    """The same structure with every non-finite float (NaN, infinity) replaced by None."""
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        value = value.tolist()
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def read_json(path: str | Path, what: str = "JSON") -> Any:
    """The content of a JSON file; a missing or malformed file is an error that names it."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such {what} file.")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: not valid JSON ({error}).") from error


def read_table(path: str | Path):
    """A CSV / TSV / Parquet / Excel table as a DataFrame, every cell as written (only empty
    cells are missing), with an error naming the file (see `vislab.spreadsheets`)."""
    from vislab.spreadsheets import read_table as read

    return read(path)


def read_safetensors(path: str | Path) -> dict:
    """The tensors of a safetensors file. Anything else is refused with the reason: vislab never
    unpickles weights it is handed (a pickle runs code as it loads, and a run folder or a file
    someone shared can carry one)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise InputError(
            f"{path}: not a safetensors file ({error}). vislab loads weights only as safetensors "
            "(a pickled file could run code); ask whoever gave you the run or file for its "
            "model.safetensors, or convert your own with safetensors.torch.save_file."
        ) from None


TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq", ".xlsx", ".xlsm", ".dta")  # read_table
TABLE_FORMATS = ("csv", "parquet", "dta")  # `--format`: CSV, Parquet (R: arrow), Stata


def write_table(path: str | Path, frame) -> Path:
    """A DataFrame as CSV, Parquet or Stata (by the file's suffix: .csv, .parquet or .pq, .dta),
    atomically; paths that came from a manifest are written as the manifest wrote them."""
    path, frame = Path(path), as_listed(frame)
    if path.suffix.lower() in (".parquet", ".pq"):
        import io

        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        return write_atomic(path, buffer.getvalue())
    if path.suffix.lower() == ".dta":
        from vislab.stata import stata_bytes

        return write_atomic(path, stata_bytes(frame, str(path)))
    return write_atomic(path, frame.to_csv(index=False))


def rows_text(positions, limit: int = 10) -> str:
    """Rows of a table named as a spreadsheet shows them — the header is row 1, so the first
    data row is row 2 (the line of a CSV file) — e.g. `rows 2, 5 and 3 more`."""
    numbers = [int(p) + 2 for p in positions]
    shown = ", ".join(map(str, numbers[:limit]))
    more = f" and {len(numbers) - limit} more" if len(numbers) > limit else ""
    return f"row{'s' * (len(numbers) != 1)} {shown}{more}"


LISTED_PATH = "listed_path"  # a manifest's path as written, for the files vislab writes


def listed_files(paths, manifest: str | Path, allow_outside: bool = False) -> list[str]:
    """The absolute file of each path a manifest lists, relative to the manifest's folder.

    A path must stay inside that folder (no `../`, no absolute path elsewhere), so that a
    manifest someone else wrote cannot make vislab read, and put into a report, other files of
    yours; `allow_outside` (data.allow_outside_root: true) is the user's word that it may."""
    return [str(Path(f).resolve()) for f in confined(paths, manifest, allow_outside)]


def joined_paths(folder: str, paths: list[str]) -> tuple[list[str], list[int]]:
    """`os.path.normpath(p if os.path.isabs(p) else folder/p)` for every path, at the speed of
    Arrow's string kernels: a path already plain (relative, no `.` or `..` part, no doubled or
    trailing slash) is joined as text, the others one by one. Also returns the positions of
    the others (a plain path joined to `folder` cannot leave it)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    texts = pa.array(paths, type=pa.large_string())
    head = os.path.normpath(folder)
    odd = pc.match_substring_regex(texts, r"(^|/)\.\.?(/|$)|//|^/|/$|^$")
    if head == ".":
        joined = texts
    else:
        start = pa.scalar("" if head == "/" else head, pa.large_string())
        joined = pc.binary_join_element_wise(start, texts, pa.scalar("/", pa.large_string()))
    out = joined.to_pylist()
    others = pc.indices_nonzero(odd).to_pylist()
    for k in others:
        path = paths[k]
        out[k] = os.path.normpath(path if os.path.isabs(path) else os.path.join(folder, path))
    return out, others


def confined(paths, manifest: str | Path, allow_outside: bool = False) -> list[str]:
    """Each path a manifest lists joined to the manifest's folder and normalised (`..`
    resolved in the text, links not followed); refused where one leaves the folder."""
    base = str(Path(manifest).resolve().parent)
    paths = [str(p) for p in paths]
    joined, others = joined_paths(base, paths)
    if not allow_outside:
        refuse_outside(paths, others, manifest)
    return joined


def refuse_outside(paths: list[str], positions, manifest: str | Path) -> None:
    """Refuse a manifest whose path at one of `positions` (the paths that are not plain, as
    `joined_paths` gives them) leads out of the manifest's folder."""
    base = str(Path(manifest).resolve().parent)
    prefix = os.path.join(base, "")
    outside = []
    for k in positions:
        found = os.path.normpath(os.path.join(base, paths[k]))
        if found != base and not found.startswith(prefix):
            outside.append(k)
    if outside:
        raise InputError(
            f"{manifest}: {rows_text(outside)}: the path ('{paths[outside[0]]}') leads out of "
            f"the manifest's folder {base}. Move the images under it, or set "
            "data.allow_outside_root: true if the manifest is yours and these are the files "
            "you mean."
        )


def is_inside(file: str, folder: Path) -> bool:
    """Whether `file` (a normalised absolute path) lies under `folder`."""
    return os.path.commonpath([file, str(folder)]) == str(folder)


def as_listed(frame):
    """A table to write: `path` as the manifest wrote it (where the source was a manifest)."""
    if LISTED_PATH not in frame.columns:
        return frame
    return frame.assign(path=frame[LISTED_PATH].to_numpy()).drop(columns=LISTED_PATH)


def files_of(paths, root: str | None) -> list[str]:
    """The files behind paths as vislab wrote them: a path relative to a manifest's folder
    (`root`, the data source of the run, when it is a file) becomes absolute."""
    if root and Path(root).is_file():
        return listed_files(list(paths), root, allow_outside=True)
    return [str(p) for p in paths]
