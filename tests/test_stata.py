"""Tables as Stata files: read back with pandas' own Stata reader, every value as written,
every renamed variable labelled with its column's name, and the values Stata cannot hold
refused with the column named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vislab.errors import InputError
from vislab.files import write_table
from vislab.stata import stata_names


def test_a_table_read_back_has_its_columns_names_again(tmp_path):
    from vislab.stata import read_stata_table

    frame = pd.DataFrame({"class": ["a", None], "p (Holm)": [0.5, np.nan], "id": [1, 2]})
    back = read_stata_table(write_table(tmp_path / "t.dta", frame))
    assert list(back.columns) == list(frame.columns)
    assert back["class"].tolist() == ["a", ""]


def _read(path):
    with pd.io.stata.StataReader(path) as reader:
        frame = reader.read(convert_categoricals=False)
        labels = reader.variable_labels()
    return frame, labels


def test_a_table_reads_back_from_stata_as_written(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "id": np.arange(50),
            "region": rng.choice(["north", "süd", "NA", "ouest"], 50),  # "NA" is a code
            "share": rng.random(50),
            "ci_low": np.where(rng.random(50) < 0.2, np.nan, rng.random(50)),
            "police": rng.random(50) < 0.3,
            "big_id": np.arange(50, dtype=np.int64) + 10**12,
            "note": [None if i % 7 == 0 else f"caption {i}" for i in range(50)],
            "mixed": [i if i % 2 else f"code {i}" for i in range(50)],
            "long": ["x" * 3000] * 50,
            "p (Holm)": rng.random(50),
            "2nd coder": rng.choice(["a", "b"], 50),
            "if": np.ones(50, dtype=np.int64),
        }
    )
    path = write_table(tmp_path / "table.dta", frame)
    back, labels = _read(path)
    renamed = {"long": "long_", "p (Holm)": "p__Holm_", "2nd coder": "_2nd_coder", "if": "if_"}
    assert list(back.columns) == [renamed.get(c, c) for c in frame.columns]
    assert {labels[new] for new in renamed.values()} == set(renamed)
    assert all(labels[c] == "" for c in back.columns if c not in renamed.values())
    np.testing.assert_array_equal(back["id"], frame["id"])
    assert back["id"].dtype.kind == "i" and back["if_"].dtype.kind == "i"  # whole numbers
    assert back["region"].tolist() == frame["region"].tolist()
    np.testing.assert_array_equal(back["share"], frame["share"])
    np.testing.assert_array_equal(back["ci_low"], frame["ci_low"])  # missing stays missing
    np.testing.assert_array_equal(back["police"], frame["police"].astype(int))
    np.testing.assert_array_equal(back["big_id"], frame["big_id"])  # a double, exact
    assert back["note"].tolist() == ["" if pd.isna(v) else v for v in frame["note"]]
    assert back["mixed"].tolist() == [str(v) for v in frame["mixed"]]
    assert back["long_"].tolist() == frame["long"].tolist()  # strL: beyond 2,045 bytes
    assert back["_2nd_coder"].tolist() == frame["2nd coder"].tolist()


def test_names_are_valid_distinct_and_at_most_32_characters():
    columns = ["a" * 40, "a" * 40, "a" * 31 + "b", "é x", "", "_n", "1", "class", "str80", "ok"]
    names = stata_names(columns)
    assert len(set(names)) == len(names) and all(len(n) <= 32 for n in names)
    assert all(n[0].isalpha() or n[0] == "_" for n in names)
    assert all(
        set(n) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
        for n in names
    )
    assert names[:2] == ["a" * 32, "a" * 30 + "_2"] and names[2] == "a" * 31 + "b"
    assert names[-1] == "ok" and names[5] == "_n_" and names[7:9] == ["class_", "str80_"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (pd.Series([2**60, 1], dtype=np.int64), "beyond 2\\^53"),
        (pd.Series([1.0, np.inf]), "infinite"),
        (pd.Series([[0.1, 0.2], [0.3, 0.4]]), "lists"),
    ],
)
def test_values_stata_cannot_hold_are_refused_with_the_column_named(tmp_path, values, message):
    with pytest.raises(InputError, match=rf"table.dta: column 'count'.*{message}.*parquet"):
        write_table(tmp_path / "table.dta", pd.DataFrame({"count": values}))
    assert not (tmp_path / "table.dta").exists()
