"""Tables as Stata files: read back with pandas' own Stata reader, every value as written,
every renamed variable labelled with its column's name, and the values Stata cannot hold
refused with the column named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vislab.errors import InputError
from vislab.files import read_table, write_table
from vislab.stata import stata_names


def test_a_table_read_back_has_its_columns_names_again(tmp_path):
    frame = pd.DataFrame({"class": ["a", None], "p (Holm)": [0.5, np.nan], "id": [1, 2]})
    back = read_table(write_table(tmp_path / "t.dta", frame))
    assert list(back.columns) == list(frame.columns)
    assert back["class"].tolist()[0] == "a" and pd.isna(back["class"].iat[1])
    assert back["id"].tolist() == [1, 2] and pd.isna(back["p (Holm)"].iat[1])


def _users_stata_file(path, rng, n=60):
    """A .dta file as a Stata user saves one: labelled codes (one code without a label),
    described variables, "" for missing text, Stata's missing numbers, a code named "NA"."""
    frame = pd.DataFrame(
        {
            "post_id": [f"p{i:03d}" for i in range(n)],
            "region": rng.choice([1, 2, 3], n).astype(np.int8),
            "coder_a": rng.choice(["police", "none", "NA", ""], n),
            "likes": np.where(rng.random(n) < 0.1, np.nan, rng.integers(0, 500, n)),
        }
    )
    frame.to_stata(
        path,
        write_index=False,
        version=118,
        value_labels={"region": {1: "west", 2: "east"}},  # 3 has no label
        variable_labels={"region": "Region of the post", "coder_a": "Coder A's code"},
        data_label="Protest photos, wave 2",
    )
    return frame


def test_a_users_stata_file_reads_as_stata_shows_it(tmp_path):
    """Names stay as they are (a variable's label is its description, not its name); labelled
    codes are their labels; "" is missing and "NA" a code; missing numbers are missing."""
    rng = np.random.default_rng(3)
    written = _users_stata_file(tmp_path / "posts.dta", rng)
    back = read_table(tmp_path / "posts.dta")
    assert list(back.columns) == list(written.columns)
    assert back["post_id"].tolist() == written["post_id"].tolist()
    assert back["region"].tolist() == written["region"].map({1: "west", 2: "east", 3: "3"}).tolist()
    coded = back["coder_a"].tolist()
    assert [pd.isna(v) for v in coded] == (written["coder_a"] == "").tolist()
    assert [v for v in coded if not pd.isna(v)] == [v for v in written["coder_a"] if v]
    np.testing.assert_array_equal(back["likes"], written["likes"])


def test_two_codes_with_one_label_are_refused_with_the_file_named(tmp_path):
    frame = pd.DataFrame({"region": np.array([1, 2], dtype=np.int8)})
    frame.to_stata(
        tmp_path / "posts.dta", write_index=False, value_labels={"region": {1: "x", 2: "x"}}
    )
    with pytest.raises(InputError, match=r"posts.dta: .*region.*label define"):
        read_table(tmp_path / "posts.dta")


def test_a_numeric_sample_id_is_refused(tmp_path):
    pd.DataFrame({"sample_id": [614908072157100]}).to_stata(tmp_path / "s.dta", write_index=False)
    with pytest.raises(InputError, match=r"s.dta: column 'sample_id' holds numbers.*tostring"):
        read_table(tmp_path / "s.dta")


def test_a_stata_manifest_is_a_manifest(tmp_path):
    """A manifest saved from Stata lists the same images, labels and metadata as its CSV."""
    from vislab.data.sources import source_from_path

    frame = pd.DataFrame({"path": ["a.png", "b.png"], "label": ["cat", "NA"], "site": ["x", ""]})
    for name in ("a.png", "b.png"):
        (tmp_path / name).write_bytes(b"")
    frame.to_csv(tmp_path / "m.csv", index=False)
    frame.to_stata(tmp_path / "m.dta", write_index=False, version=118)
    from_csv = source_from_path(tmp_path / "m.csv").frame
    from_stata = source_from_path(tmp_path / "m.dta").frame
    pd.testing.assert_frame_equal(from_stata, from_csv, check_dtype=False)


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


def test_a_column_whose_name_a_label_cannot_hold_is_refused(tmp_path):
    """A renamed column keeps its name only in its label (80 characters in Stata): a longer
    name is refused rather than given back cut; an 80-character one comes back whole."""
    fits, too_long = "share of " + "x" * 71, "share of " + "x" * 72
    back = read_table(write_table(tmp_path / "fits.dta", pd.DataFrame({fits: [0.5]})))
    assert list(back.columns) == [fits]
    with pytest.raises(InputError, match=r"long.dta: the column 'share of x+'.*80 characters"):
        write_table(tmp_path / "long.dta", pd.DataFrame({too_long: [0.5]}))
    assert not (tmp_path / "long.dta").exists()
