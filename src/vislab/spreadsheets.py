"""Reading the tables researchers bring: CSV (any common delimiter), TSV, Parquet, Excel and
Stata (.dta: labelled codes as their labels, see vislab/stata.py).

Every cell is kept as written: only an empty cell is missing. pandas would also read "NA",
"None", "null", "N/A", "nan" as missing, and a code or class with such a name would vanish (a
coder's "NA" is a code). The one exception is a column of numbers, where R and spreadsheets
write "NA" for a missing number: there those words are missing values, and the column stays
numeric. A first column without a name is the index pandas writes by default, and is dropped.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from vislab.errors import InputError

MISSING_WORDS = frozenset(
    {"NA", "N/A", "n/a", "NaN", "nan", "NULL", "null", "None", "none", "#N/A", "-NaN", "-nan"}
)
DELIMITERS = ",;\t|"
EXCEL = (".xlsx", ".xlsm")


TEXT_COLUMNS = {"sample_id": str}  # always read as written: a sample's id is hex digits, and
# one such as 06149080e7215710 or 0614908072157100 would otherwise read as a number (inf, or
# without its leading zero) and no longer match its sample


def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV / TSV / Parquet / Excel / Stata table as a DataFrame, with an error naming the file;
    or the folder of Parquet shards a finished collection job wrote (`vislab predict`, `zero-shot`,
    `embed` with a folder `--out`)."""
    path = Path(path)
    if path.is_dir() and (path / "_plan.json").is_file():
        return _read_shards(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file.")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix == ".dta":
            from vislab.stata import read_stata_table

            frame = _text_columns(read_stata_table(path), path)
        elif suffix in EXCEL or _is_zip(path):
            frame = _read_excel(path)
        else:
            frame = _read_text(path, "\t" if suffix == ".tsv" else None)
    except InputError:
        raise
    except Exception as error:
        raise InputError(f"{path}: cannot be read as a table ({error}).") from error
    return _numbers_as_numbers(_without_index(frame))


def _read_shards(folder: Path) -> pd.DataFrame:
    if not (folder / "_SUCCESS").is_file():
        raise InputError(
            f"{folder}: the job that writes it has not finished (no _SUCCESS): finish it with "
            "the same command and --resume, then read it."
        )
    return pd.read_parquet(folder)


def _read_text(path: Path, delimiter: str | None) -> pd.DataFrame:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(
            f"{path}: not UTF-8 text (byte {error.start}). Save it as 'CSV UTF-8' (Excel: File > "
            "Save As > CSV UTF-8), or as .xlsx."
        ) from None
    import io

    sep = delimiter or _delimiter(text)
    options = {"sep": sep, "na_values": [""], "dtype": TEXT_COLUMNS}
    return pd.read_csv(io.StringIO(text), keep_default_na=False, **options)


def _delimiter(text: str) -> str:
    """The delimiter of a CSV file: what csv's sniffer finds in its first lines (a comma
    where it finds none, as in a file of one column)."""
    head = "\n".join(text.splitlines()[:50])
    try:
        return csv.Sniffer().sniff(head, delimiters=DELIMITERS).delimiter
    except csv.Error:
        return ","


def _read_excel(path: Path) -> pd.DataFrame:
    try:
        import openpyxl  # noqa: F401
    except ImportError:
        raise InputError(
            f"{path}: an Excel workbook; save it as CSV (File > Save As > CSV UTF-8), or "
            "install openpyxl."
        ) from None
    options = {"sheet_name": 0, "na_values": [""], "dtype": TEXT_COLUMNS}
    return pd.read_excel(path, keep_default_na=False, **options)


def _text_columns(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """The frame, if the columns that must be text (TEXT_COLUMNS) are text in it."""
    for column in TEXT_COLUMNS:
        if column in frame.columns and pd.api.types.is_numeric_dtype(frame[column]):
            raise InputError(
                f"{path}: column {column!r} holds numbers; it is an id of hex digits and must "
                "be text (in Stata: tostring)."
            )
    return frame


def _is_zip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) == b"PK\x03\x04"


def _without_index(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop a first column with no name (pandas' `to_csv` writes its index so)."""
    if len(frame.columns) and str(frame.columns[0]).startswith("Unnamed: 0"):
        return frame.drop(columns=frame.columns[0])
    return frame


def _numbers_as_numbers(frame: pd.DataFrame) -> pd.DataFrame:
    """A text column whose every other cell is a number reads the missing words as missing."""
    for column in frame.columns:
        values = frame[column]
        if column in TEXT_COLUMNS or pd.api.types.is_numeric_dtype(values):
            continue
        if pd.api.types.is_bool_dtype(values):
            continue
        words = values.isin(MISSING_WORDS)
        if not words.any() or words.all():
            continue
        rest = values[~words & values.notna()]
        numbers = pd.to_numeric(rest, errors="coerce")
        if len(rest) and numbers.notna().all():
            frame[column] = pd.to_numeric(values.where(~words), errors="coerce")
    return frame
