"""`vislab estimate` end to end: a collection, `vislab validation-sample`, two coders' files,
the estimates; and every bad input named."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.estimation.test_prevalence import _collection
from tests.files_page import page_json, shape_problems
from vislab import estimate
from vislab.cli import run
from vislab.errors import InputError


@pytest.fixture
def coded_sample(tmp_path):
    """collection.csv, the validation folder, and coded_A.csv / coded_B.csv (B disagrees on
    every tenth item) filled from the truth through sample.csv's key."""
    collection = _collection(3000, seed=5)
    collection.drop(columns="truth").to_csv(tmp_path / "collection.csv", index=False)
    command = ["validation-sample", str(tmp_path / "collection.csv"), "--size", "300"]
    command += ["--oversample-uncertain", "--coders", "A,B", "--out", str(tmp_path / "validation")]
    assert run([*command, "--quiet"]) == 0
    key = pd.read_csv(tmp_path / "validation" / "sample.csv")
    truth = key["id"].map(collection.set_index("id")["truth"])
    sheet = pd.read_csv(tmp_path / "validation" / "coding_sheet.csv")
    assert list(sheet.columns) == ["item", "image", "A", "B", "sample_id"]
    assert sheet["item"].equals(key["item"])
    a = sheet[["item", "image"]].assign(A=truth.to_numpy())
    flipped = truth.where(key["item"] % 10 != 0, truth.map({"police": "none", "none": "police"}))
    b = sheet[["item", "image"]].assign(B=flipped.to_numpy())
    a.to_csv(tmp_path / "coded_A.csv", index=False)
    b.to_csv(tmp_path / "coded_B.csv", index=False)
    return tmp_path, collection


def test_the_command_writes_the_contracts_estimates_json(coded_sample, capsys):
    folder, collection = coded_sample
    out = folder / "estimates.json"
    command = ["estimate", str(folder / "collection.csv"), "--coded", str(folder / "coded_A.csv")]
    command += ["--coded", str(folder / "coded_B.csv"), "--label-column", "A"]
    command += ["--sample", str(folder / "validation"), "--by", "region", "--out", str(out)]
    assert run(command) == 0
    printed = capsys.readouterr().out
    assert "300 coded of 3000 images (stratified)" in printed and "region=west" in printed
    found = json.loads(out.read_text())
    assert found["n_collection"] == 3000 and found["n_coded"] == 300
    assert found["design"] == "stratified" and found["confidence"] == 0.95
    police = found["prevalence"]["police"]
    assert set(police) == {"corrected", "naive", "coded_only"} and "se" in police["corrected"]
    truth = (collection["truth"] == "police").mean()
    assert police["corrected"]["ci"][0] <= truth <= police["corrected"]["ci"][1]
    west = found["groups"]["region"]["west"]
    assert west["n"] == (collection["region"] == "west").sum() and west["n_coded"] > 0
    gap = found["differences"]["region"]["police"]["north|west"]
    assert {"value", "ci", "p_value", "p_adjusted"} <= set(gap) and gap["p_adjusted"] >= gap[
        "p_value"
    ]
    assert run(command) == 2  # never over an earlier result
    both = [folder / "coded_A.csv", folder / "coded_B.csv"]
    python = {
        coder: estimate(folder / "collection.csv", both, coder, folder / "validation", ["region"])
        for coder in ("A", "B")
    }
    assert python["A"]["prevalence"] == found["prevalence"]
    assert python["A"]["groups"] == found["groups"]
    assert python["B"]["prevalence"]["police"]["corrected"] != police["corrected"]  # B's codes


def test_agreement_merges_every_coders_file(coded_sample, capsys):
    folder, _ = coded_sample
    command = ["agreement", "--coded", str(folder / "coded_A.csv")]
    command += ["--coded", str(folder / "coded_B.csv"), "--bootstrap", "50"]
    assert run([*command, "--out", str(folder / "agreement.json")]) == 0
    printed = capsys.readouterr().out
    assert "300 items, 2 coders" in printed and "Gwet's AC1" in printed
    found = json.loads((folder / "agreement.json").read_text())
    a = pd.read_csv(folder / "coded_A.csv")["A"]
    b = pd.read_csv(folder / "coded_B.csv")["B"]
    assert found["per_coder"]["A"]["agreement"]["value"] == pytest.approx((a == b).mean())
    assert run(["agreement", "--coded", str(folder / "coded_A.csv")]) == 1  # one coder
    assert run(["agreement", str(folder / "coded_A.csv")]) == 2  # no --raters
    assert "--raters" in capsys.readouterr().err


def test_a_formula_adds_a_regression_table(coded_sample, capsys):
    folder, _ = coded_sample
    command = ["estimate", str(folder / "collection.csv"), "--coded", str(folder / "coded_A.csv")]
    command += ["--label-column", "A", "--sample", str(folder / "validation")]
    command += ["--formula", "police ~ region", "--regression", "logistic"]
    command += ["--by", "region", "--report", str(folder / "report")]
    assert run([*command, "--out", str(folder / "regression.json")]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {folder / 'report' / 'estimates.html'}" in printed
    page = (folder / "report" / "estimates.html").read_text()
    assert "Logistic regression" in page and "stratified random sample" in page
    rows = pd.read_csv(folder / "report" / "tables" / "regression.csv")
    assert set(rows["estimator"]) == {"corrected", "coded_only", "naive"}
    assert "logistic regression police ~ region" in printed and "region[T.west]" in printed
    found = json.loads((folder / "regression.json").read_text())["regression"]
    assert found["formula"] == "police ~ region" and found["kind"] == "logistic"
    west = found["coefficients"]["region[T.west]"]
    assert set(west) == {"corrected", "naive", "coded_only"}
    assert {"value", "ci", "se", "p_value"} <= set(west["corrected"])
    written = json.loads((folder / "regression.json").read_text())
    data_at = {".prevalence", ".groups", ".groups.*", ".groups.*.*.prevalence", ".differences"}
    data_at |= {".differences.*", ".differences.*.*", ".regression.coefficients"}
    assert shape_problems(page_json("estimates.json"), written, data_at) == []  # the docs


def test_without_a_sample_the_codes_are_a_simple_random_sample_and_it_says_so(tmp_path, capsys):
    collection = _collection(2000, seed=6)
    collection.drop(columns="truth").to_csv(tmp_path / "collection.csv", index=False)
    coded = collection.sample(200, random_state=0)[["id", "truth"]].rename(columns={"truth": "me"})
    coded.to_csv(tmp_path / "coded.csv", index=False)
    command = ["estimate", str(tmp_path / "collection.csv"), "--coded", str(tmp_path / "coded.csv")]
    assert run([*command, "--label-column", "me"]) == 0
    assert "taken as a simple random sample" in capsys.readouterr().out


def _inputs(tmp_path):
    collection = _collection(2000, seed=7)
    coded = collection.sample(100, random_state=1)[["id", "truth"]].rename(
        columns={"truth": "coder"}
    )
    return collection.drop(columns="truth"), coded


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (
            lambda c, k: (c, k.assign(id=["elsewhere.jpg"] + list(k["id"][1:]))),
            "1 coded image(s) are not in the predictions, e.g. 'elsewhere.jpg'",
        ),
        (
            lambda c, k: (c, k.assign(coder=["unsure"] + list(k["coder"][1:]))),
            "['unsure'] are not classes of the predictions",
        ),
        (
            lambda c, k: (c, k.assign(coder=[None] + list(k["coder"][1:]))),
            "1 sampled image(s) have no code in 'coder'",
        ),
        (lambda c, k: (c, k.drop(columns="coder")), "no column 'coder' (--label-column)"),
        (lambda c, k: (c.drop(columns="prediction"), k), "no column(s) ['prediction']"),
        (lambda c, k: (pd.concat([c, c.head(1)]), k), "is listed twice"),
        (lambda c, k: (c, pd.concat([k, k.head(1)])), "is listed twice"),
        (lambda c, k: (c, k.drop(columns="id").assign(item=range(len(k)))), "give --sample"),
        (lambda c, k: (c, k.head(1)), "1 coded image: an interval needs at least 2"),
    ],
)
def test_bad_input_is_named(tmp_path, spoil, message):
    collection, coded = spoil(*_inputs(tmp_path))
    with pytest.raises(InputError) as error:
        estimate(collection, coded, "coder")
    assert message in str(error.value)


def test_a_sample_from_another_collection_is_refused(coded_sample):
    folder, collection = coded_sample
    smaller = collection.drop(columns="truth").iloc[:2500]
    with pytest.raises(InputError, match="drawn from 3000 images, the predictions have 2500"):
        estimate(smaller, folder / "coded_A.csv", "A", folder / "validation")


def test_a_group_without_coded_images_says_what_its_estimate_can_and_cannot_be(tmp_path):
    collection, coded = _inputs(tmp_path)
    uncoded = collection.index[~collection["id"].isin(coded["id"])][:5]
    collection.loc[uncoded, "region"] = "island"
    found = estimate(collection, coded, "coder", by=["region"])
    island = found["groups"]["region"]["island"]
    assert island["n"] == 5 and island["n_coded"] == 0
    entry = island["prevalence"]["police"]
    assert entry["corrected"]["value"] is None and entry["coded_only"]["value"] is None
    assert "no coded image in this group" in entry["corrected"]["undefined"]
    assert entry["naive"]["value"] == (collection.loc[uncoded, "prediction"] == "police").mean()
    pair = found["differences"]["region"]["police"]["island|north"]
    assert pair["value"] is None and pair["undefined"] == "no coded image in island"


def test_a_by_column_missing_from_the_predictions_is_named_with_its_flag(tmp_path):
    collection, coded = _inputs(tmp_path)
    with pytest.raises(InputError, match="predictions: --by 'country': no column 'country'"):
        estimate(collection, coded, "coder", by=["country"])


def test_two_classes_are_one_hypothesis_per_pair_of_groups():
    """With two classes the second class's difference is minus the first's: Holm adjusts over
    the pairs once (before: every p-value counted twice, doubled)."""
    from statsmodels.stats.multitest import multipletests

    collection = _collection(3000, seed=4)
    collection["region"] = collection["region"].where(collection.index % 3 > 0, "east")
    coded = collection.sample(400, random_state=1)[["id", "truth"]]
    found = estimate(collection.drop(columns="truth"), coded, "truth", by=["region"])
    police, none = (found["differences"]["region"][k] for k in ("police", "none"))
    raw = [police[key]["p_value"] for key in police]
    expected = multipletests(raw, method="holm")[1]
    for key, p in zip(police, expected, strict=True):
        assert police[key]["p_adjusted"] == pytest.approx(p)
        assert none[key]["p_adjusted"] == police[key]["p_adjusted"]
        assert none[key]["value"] == pytest.approx(-police[key]["value"])


HOSTILE = ["north|east", 'a "quoted", name', "<b>bold</b>", "Zürich 東京", "NA"]


def test_group_and_class_names_are_never_parsed_back(tmp_path, capsys):
    """Names with '|', commas, quotes, '<', unicode or a missing-value word, in a crossed
    --by and the report: every entry names its groups; nothing splits a key."""
    collection = _collection(2400, seed=6)
    collection["region"] = [HOSTILE[i % len(HOSTILE)] for i in range(len(collection))]
    collection["year"] = ["2020|a" if i % 2 else "2021" for i in range(len(collection))]
    collection["prediction"] = collection["prediction"].replace({"none": "NA"})
    collection["truth"] = collection["truth"].replace({"none": "NA"})
    collection = collection.rename(columns={"score_none": "score_NA"})
    collection.drop(columns="truth").to_csv(tmp_path / "collection.csv", index=False)
    coded = collection.sample(600, random_state=2)[["id", "truth"]].rename(columns={"truth": "A"})
    coded.to_csv(tmp_path / "coded.csv", index=False)
    command = ["estimate", str(tmp_path / "collection.csv"), "--coded", str(tmp_path / "coded.csv")]
    command += ["--label-column", "A", "--by", "region*year", "--out", str(tmp_path / "e.json")]
    assert run([*command, "--report", str(tmp_path / "report")]) == 0
    found = json.loads((tmp_path / "e.json").read_text())
    assert found["classes"] == ["NA", "police"]
    groups = found["groups"]["region*year"]
    assert "north|east|2020|a" in groups and sum(g["n"] for g in groups.values()) == 2400
    for entry in found["differences"]["region*year"]["police"].values():
        assert f"{entry['a']}|{entry['b']}" in found["differences"]["region*year"]["police"]
        assert entry["a"] in groups and entry["b"] in groups
    page = (tmp_path / "report" / "estimates.html").read_text()
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page
    differences = pd.read_csv(tmp_path / "report" / "tables" / "differences.csv", dtype=str)
    assert set(differences["a"]) | set(differences["b"]) == set(groups)


def test_codes_of_another_sample_are_refused(coded_sample):
    """The coding sheet carries its sample's id: codes of one draw given with the folder of
    another (same item numbers, other images) are refused by estimate and agreement (before:
    estimates and a model-vs-coder kappa of -0.009 from mismatched images)."""
    folder, collection = coded_sample
    other = folder / "validation7"
    command = ["validation-sample", str(folder / "collection.csv"), "--size", "300", "--seed", "7"]
    assert run([*command, "--oversample-uncertain", "--out", str(other), "--quiet"]) == 0
    sheet = pd.read_csv(folder / "validation" / "coding_sheet.csv")
    key = pd.read_csv(folder / "validation" / "sample.csv")
    assert sheet["sample_id"].nunique() == 1
    assert (
        json.loads((folder / "validation" / "design.json").read_text())["sample_id"]
        == (sheet["sample_id"].iloc[0])
    )
    sheet["A"] = key["id"].map(collection.set_index("id")["truth"]).to_numpy()
    sheet.to_csv(folder / "sheet_A.csv", index=False)
    with pytest.raises(InputError, match="were coded on sample .* is sample"):
        estimate(folder / "collection.csv", folder / "sheet_A.csv", "A", other)
    found = estimate(folder / "collection.csv", folder / "sheet_A.csv", "A", folder / "validation")
    assert found["n_coded"] == 300
    sheet.assign(B=sheet["A"]).drop(columns="A").to_csv(folder / "sheet_B.csv", index=False)
    command = ["agreement", "--coded", str(folder / "sheet_A.csv"), "--coded"]
    command += [str(folder / "sheet_B.csv"), "--sample", str(other), "--bootstrap", "0"]
    assert run([*command, "--out", str(folder / "agreement.json")]) == 1


def test_a_coders_page_parts_are_read_as_one_file(coded_sample):
    """A coding page split in parts downloads one file per part (coded_A_page1.csv, ...):
    given together they are the coder's file; an item in two parts is named."""
    folder, _ = coded_sample
    whole = pd.read_csv(folder / "coded_A.csv")
    whole.iloc[:120].to_csv(folder / "coded_A_page1.csv", index=False)
    whole.iloc[120:].to_csv(folder / "coded_A_page2.csv", index=False)
    parts = [folder / f"coded_A_page{k}.csv" for k in (1, 2)]
    sample = folder / "validation"
    found = estimate(folder / "collection.csv", [*parts, folder / "coded_B.csv"], "A", sample)
    reference = estimate(folder / "collection.csv", folder / "coded_A.csv", "A", sample)
    for k, entry in reference["prevalence"].items():
        for kind, numbers in entry.items():
            mine = found["prevalence"][k][kind]
            assert mine["value"] == pytest.approx(numbers["value"], abs=1e-12)
            assert mine["ci"] == pytest.approx(numbers["ci"], abs=1e-12)
    whole.iloc[100:].to_csv(folder / "coded_A_page2.csv", index=False)
    with pytest.raises(InputError, match="item 101 is in both"):
        estimate(folder / "collection.csv", parts, "A", sample)


def test_strata_repeated_on_the_predictions_learn_their_own_lambda(tmp_path):
    """The draw's strata (design.json's columns) found again on the predictions: each stratum
    with enough coded images gets its own lambda. Predictions whose strata are not the
    sample's (a column reshuffled, or gone) keep one lambda for all."""
    collection = _collection(3000, seed=5)
    collection.drop(columns="truth").to_csv(tmp_path / "collection.csv", index=False)
    command = ["validation-sample", str(tmp_path / "collection.csv"), "--size", "300"]
    command += ["--strata", "region", "--out", str(tmp_path / "validation"), "--quiet"]
    assert run(command) == 0
    key = pd.read_csv(tmp_path / "validation" / "sample.csv")
    coded = key[["id"]].assign(coder=key["id"].map(collection.set_index("id")["truth"]))
    found = estimate(collection, coded, "coder", tmp_path / "validation")
    corrected = found["prevalence"]["police"]["corrected"]
    assert set(corrected["lambda_by_stratum"]) == {"north", "west"}
    shuffled = collection.assign(region=collection["region"].sample(frac=1, random_state=0).values)
    for other in (shuffled, collection.drop(columns="region")):
        again = estimate(other, coded, "coder", tmp_path / "validation")
        assert "lambda_by_stratum" not in again["prevalence"]["police"]["corrected"]


def _stata_with_column_names(path):
    """A .dta file's table, each renamed variable under its label (the column's name)."""
    with pd.io.stata.StataReader(path) as reader:
        frame = reader.read()
        labels = reader.variable_labels()
    return frame.rename(columns={name: label for name, label in labels.items() if label})


def test_tables_for_r_and_stata(coded_sample, capsys):
    """--format parquet and dta write the same tables as CSV (R reads Parquet with arrow, Stata
    the .dta), each with its LaTeX beside it, and the page names them."""
    folder, _ = coded_sample
    command = ["estimate", str(folder / "collection.csv"), "--coded", str(folder / "coded_A.csv")]
    command += ["--label-column", "A", "--sample", str(folder / "validation"), "--by", "region"]
    tables = {}
    for table_format in ("csv", "parquet", "dta"):
        report = folder / f"report_{table_format}"
        assert run([*command, "--report", str(report), "--format", table_format]) == 0
        written = sorted((report / "tables").iterdir())
        assert {path.suffix for path in written} == {f".{table_format}", ".tex"}
        assert f"tables/*.{table_format}" in (report / "estimates.html").read_text()
        tables[table_format] = {
            path.stem: (pd.read_csv(path, keep_default_na=False) if table_format == "csv"
                        else pd.read_parquet(path) if table_format == "parquet"
                        else _stata_with_column_names(path))
            for path in written
            if path.suffix != ".tex"
        }  # fmt: skip
    assert set(tables["csv"]) == set(tables["parquet"]) == set(tables["dta"]) and tables["csv"]
    for name, expected in tables["csv"].items():
        for other in ("parquet", "dta"):
            found = tables[other][name]
            assert list(found.columns) == list(expected.columns), (name, other)
            for column in expected.columns:
                if pd.api.types.is_numeric_dtype(expected[column]):
                    np.testing.assert_allclose(found[column], expected[column], rtol=1e-15)
                else:
                    assert found[column].astype(str).tolist() == expected[column].tolist()
    assert run([*command, "--format", "xlsx"]) == 2


def test_codes_saved_from_stata_give_the_same_estimates(coded_sample):
    """A coder's sheet saved from Stata (the codes as numbers with value labels) is read as
    the labels, so the estimates equal those from the CSV."""
    folder, _ = coded_sample
    sheet = pd.read_csv(folder / "coded_A.csv", keep_default_na=False)
    numbers = {"police": 1, "none": 2}
    sheet.assign(A=sheet["A"].map(numbers).astype("int8")).to_stata(
        folder / "coded_A.dta",
        write_index=False,
        version=118,
        value_labels={"A": {n: code for code, n in numbers.items()}},
        variable_labels={"A": "Coder A: police in the photo?"},
    )
    found = {
        suffix: estimate(
            folder / "collection.csv", [folder / f"coded_A{suffix}"], "A", folder / "validation"
        )
        for suffix in (".csv", ".dta")
    }
    assert found[".dta"]["prevalence"] == found[".csv"]["prevalence"]
    assert found[".dta"]["n_coded"] == 300
