"""Tables as Stata files (.dta, format 118: Stata 14 and later, Unicode), through pandas.

Stata's rules, and what vislab does about each so that nothing changes without a trace:

- variable names: letters, digits and _, not starting with a digit, at most 32 characters, not
  a reserved word. Other column names are made so (other characters become _, a leading digit
  gets a _ before it, long names are cut, repeats get _2, _3, ...), and every renamed variable
  keeps its column's name as its variable label (Stata's `describe` shows it); a column that
  must be renamed and whose name is longer than a label's 80 characters is refused (its name
  could not be given back);
- text: Unicode, of any length (strL beyond Stata's 2,045 bytes); a missing cell is "", which
  is Stata's only missing text;
- numbers: whole numbers stay whole within Stata's long and become double beyond it; a value no
  double holds exactly (beyond 2^53) or an infinity cannot be written, and the error names the
  column and says to write Parquet instead. Missing numbers are Stata's "."; true and false
  are 1 and 0;
- a column that mixes text and numbers is written as text, each cell as a CSV file writes it;
  dates and times as ISO text; a column of lists (embeddings) cannot be written.

Reading a .dta (any table vislab reads: manifests, predictions, coded sheets) gives the table
as Stata shows it: labelled codes as their labels, "" and Stata's missing numbers missing. Only
in a file vislab wrote (its data label says so) are renamed variables named from their labels
again; a user's variable labels describe variables and are not their names.
"""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd

from vislab.errors import InputError

RESERVED = {  # Stata's reserved words (and str1 to str2045: `_reserved`)
    "aggregate", "array", "boolean", "break", "byte", "case", "catch", "class", "colvector",
    "complex", "const", "continue", "default", "delegate", "delete", "do", "double", "else",
    "eltypedef", "end", "enum", "explicit", "export", "external", "float", "for", "friend",
    "function", "global", "goto", "if", "inline", "int", "local", "long", "NULL", "pragma",
    "protected", "quad", "rowvector", "short", "typedef", "typename", "virtual", "_all", "_N",
    "_skip", "_b", "_pi", "in", "_pred", "strL", "_coef", "_rc", "using", "_cons", "_se",
    "with", "_n",
}  # fmt: skip
NAME_LENGTH, LABEL_LENGTH = 32, 80
LONG_RANGE = (-2_147_483_647, 2_147_483_620)  # Stata's long
EXACT = 2**53  # whole numbers a double holds exactly
DATA_LABEL = "Written by vislab: renamed variables have their column's name as label"


def stata_names(columns) -> list[str]:
    """Valid, distinct Stata variable names for `columns`, in order."""
    names, taken = [], set()
    for column in map(str, columns):
        name = re.sub(r"[^A-Za-z0-9_]", "_", column) or "_"
        if name[0].isdigit():
            name = f"_{name}"
        if name in RESERVED or re.fullmatch(r"str\d+", name):
            name = f"{name}_"
        name = name[:NAME_LENGTH]
        base, count = name, 1
        while name in taken:
            count += 1
            suffix = f"_{count}"
            name = base[: NAME_LENGTH - len(suffix)] + suffix
        taken.add(name)
        names.append(name)
    return names


def stata_bytes(frame: pd.DataFrame, source: str) -> bytes:
    """The frame as a .dta file's bytes; `source` names the file in errors."""
    names = stata_names(frame.columns)
    labels = {
        name: str(column)
        for column, name in zip(frame.columns, names, strict=True)
        if name != str(column)
    }
    long = [label for label in labels.values() if len(label) > LABEL_LENGTH]
    if long:  # its label is the only place the name is kept: cut, it would come back changed
        raise InputError(
            f"{source}: the column {long[0]!r} is not a Stata name, and its name is longer "
            f"than the {LABEL_LENGTH} characters a Stata label keeps, so it could not be "
            "given back. Shorten the column's name, or write the table as .parquet (or .csv)."
        )
    columns = {
        name: _column(frame[column], f"{source}: column {column!r}")
        for column, name in zip(frame.columns, names, strict=True)
    }
    ready = pd.DataFrame(columns, index=range(len(frame)))
    buffer = io.BytesIO()
    ready.to_stata(
        buffer,
        write_index=False,
        version=118,
        data_label=DATA_LABEL,
        variable_labels=labels,  # text beyond 2,045 bytes: strL (pandas does it)
    )
    return buffer.getvalue()


def _column(values: pd.Series, where: str) -> pd.Series:
    """One column as Stata can hold it (see the module's rules)."""
    values = values.reset_index(drop=True)
    if pd.api.types.is_bool_dtype(values) and not values.isna().any():
        return values.astype(np.int8)
    if pd.api.types.is_integer_dtype(values) and not values.isna().any():
        numbers = values.astype(np.int64)
        low, high = LONG_RANGE
        if numbers.between(low, high).all():
            return numbers.astype(np.int32)
        beyond = numbers[numbers.abs() > EXACT]
        if len(beyond):
            raise InputError(
                f"{where}: whole numbers beyond 2^53 (such as {beyond.iat[0]}) have no exact "
                "Stata type; write the table as .parquet (or .csv) instead."
            )
        return numbers.astype(np.float64)
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.astype(np.float64)
        if np.isinf(numbers).any():
            raise InputError(
                f"{where}: holds an infinite value, which Stata cannot hold; write the table as "
                ".parquet (or .csv) instead."
            )
        return numbers
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.dt.strftime("%Y-%m-%dT%H:%M:%S").fillna("")
    nested = values.map(lambda v: isinstance(v, list | tuple | dict | np.ndarray))
    if nested.any():
        raise InputError(
            f"{where}: holds lists (such as embeddings), which Stata cannot hold; write the "
            "table as .parquet instead."
        )
    return values.map(_text).astype(object)


def _text(value) -> str:
    """A cell as a CSV file writes it; a missing cell as ""."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    return str(value)


def read_stata_table(path) -> pd.DataFrame:
    """A .dta file as a table, as Stata shows it: a labelled code as its label (a code without
    a label as its number), text as written with "" (Stata's only missing text) missing, Stata's
    missing numbers (., .a to .z) missing. Variables keep their names; in a file vislab wrote
    (its data label says so), each renamed variable gets its column's name back from its label."""
    try:
        with pd.io.stata.StataReader(path) as reader:
            frame = reader.read(convert_missing=False, convert_categoricals=True)
            labels = reader.variable_labels()
            written_here = reader.data_label == DATA_LABEL
    except ValueError as error:  # pandas refuses a value label shared by two codes
        found = re.search(r"column (\S+) are not unique", str(error))
        if found is None:
            raise
        raise InputError(
            f"{path}: two codes of variable {found.group(1)} have the same value label, so its "
            "labels cannot stand for its codes. Give each code its own label in Stata (label "
            "define), or drop the variable's labels (label values VARIABLE), and save again."
        ) from None
    for column in frame.columns:
        values = frame[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            frame[column] = values.map(_label_text).astype(object).where(values.notna())
        elif not pd.api.types.is_numeric_dtype(values) and values.dtype.kind != "M":  # dates
            frame[column] = values.where(values != "")
    if written_here:
        frame = frame.rename(columns={name: label for name, label in labels.items() if label})
    return frame


def _label_text(value) -> str:
    """A value label's text; a code without a label as Stata shows it (3, not 3.0)."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)
