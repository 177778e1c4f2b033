"""One table reader: cells kept as written ("NA" is a code), only empty cells missing, pandas'
index column dropped, the delimiter sniffed, Excel workbooks read, other encodings named."""

from __future__ import annotations

import krippendorff
import numpy as np
import pandas as pd
import pytest

from vislab.errors import InputError
from vislab.evaluation.agreement import agreement
from vislab.files import read_table

WORDS = ["NA", "None", "null", "N/A", "nan", "NULL"]


def test_missing_words_are_codes_and_only_empty_cells_are_missing(tmp_path):
    path = tmp_path / "coded.csv"
    path.write_text("item,coder,likes\n1,NA,3\n2,None,NA\n3,,4\n4,null,\n5,N/A,7\n")
    table = read_table(path)
    assert table["coder"].tolist()[:2] == ["NA", "None"] and table["coder"].tolist()[3:] == [
        "null",
        "N/A",
    ]
    assert pd.isna(table["coder"][2])
    # a column of numbers: R and spreadsheets write NA for a missing number
    assert pd.api.types.is_numeric_dtype(table["likes"])
    assert table["likes"].isna().tolist() == [False, True, False, True, False]


def test_a_column_of_missing_words_only_is_kept_as_codes(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("id,code\na,NA\nb,NA\n")
    assert read_table(path)["code"].tolist() == ["NA", "NA"]


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_the_delimiter_is_sniffed(tmp_path, sep):
    frame = pd.DataFrame({"id": ["a.jpg", "b.jpg"], "prediction": ["NA", "cat"], "x": [1.5, 2]})
    path = tmp_path / "p.csv"
    frame.to_csv(path, sep=sep, index=False)
    pd.testing.assert_frame_equal(read_table(path), frame)


def test_the_index_pandas_writes_is_dropped(tmp_path):
    frame = pd.DataFrame({"item": [3, 1, 2], "A": ["x", "NA", "y"]}, index=[7, 0, 4])
    path = tmp_path / "coded_A.csv"
    frame.to_csv(path)  # the index as a first column without a name
    assert read_table(path).columns.tolist() == ["item", "A"]


def test_excel_workbooks_are_read_as_written(tmp_path):
    frame = pd.DataFrame({"item": [1, 2, 3], "alice": ["NA", "police", "None"]})
    path = tmp_path / "alice.xlsx"
    frame.to_excel(path, index=False)
    pd.testing.assert_frame_equal(read_table(path), frame)
    renamed = tmp_path / "alice.csv"  # a workbook saved under a .csv name
    renamed.write_bytes(path.read_bytes())
    pd.testing.assert_frame_equal(read_table(renamed), frame)


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_a_sample_id_that_looks_like_a_number_is_read_as_written(tmp_path, suffix):
    """Hex sample ids made only of digits and an e (inf as a float), or of digits with a
    leading zero: the coded file must still name its sample (a coding test once drew one)."""
    ids = ["06149080e7215710", "0614908072157100", "", "1e5"]
    frame = pd.DataFrame({"item": [1, 2, 3, 4], "ana": ["a", "b", "c", "d"], "sample_id": ids})
    path = tmp_path / f"coded{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_excel(path, index=False)
    found = read_table(path)
    assert found["sample_id"].tolist()[:2] == ids[:2] and found["sample_id"].iat[3] == "1e5"
    assert pd.isna(found["sample_id"].iat[2])  # an empty cell stays missing


def test_a_file_that_is_not_utf8_is_named_with_what_to_do(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("id;région\na;Île-de-France\n".encode("cp1252"))
    with pytest.raises(InputError, match=r"excel\.csv: not UTF-8.*CSV UTF-8"):
        read_table(path)


@pytest.mark.parametrize("seed", range(6))
def test_agreement_on_missing_word_codes_equals_krippendorff(tmp_path, seed):
    """Codes named like pandas' missing values are codes: alpha from the file vislab reads
    equals krippendorff's on the codes as written (before: "NA" vanished, alpha 1.0)."""
    rng = np.random.default_rng(seed)
    codes = np.array(["police", *WORDS[: 2 + seed % 4]])
    truth = rng.integers(0, len(codes), 80)
    columns = {}
    for coder in ("A", "B", "C"):
        said = np.where(rng.random(80) < 0.7, truth, rng.integers(0, len(codes), 80))
        column = codes[said].astype(object)
        column[rng.random(80) < 0.1] = ""  # not coded
        columns[coder] = column
    path = tmp_path / "codings.csv"
    pd.DataFrame(columns).to_csv(path, index=False)
    found = agreement(read_table(path), ["A", "B", "C"], bootstrap=0)
    numbers = {c: float(k) for k, c in enumerate(codes)}
    reliability = np.array([[numbers.get(v, np.nan) for v in columns[c]] for c in ("A", "B", "C")])
    expected = krippendorff.alpha(reliability_data=reliability, level_of_measurement="nominal")
    assert found["krippendorff_alpha"]["value"] == pytest.approx(expected, abs=1e-9)
    assert found["n_items"] == int((~np.isnan(reliability)).any(axis=0).sum())
