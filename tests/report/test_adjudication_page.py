"""`vislab adjudicate` and its page in real Chromium: two coders' files in, the items they
disagree on (or marked unsure, or left blank) listed with both codes and notes, each decided
by keyboard, the download `adjudicated.csv` read by `vislab estimate`; the agreement before
adjudication kept."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from tests.report.test_coding_page import (
    _downloaded,
    _downloads_into,
    _open,
    _press,
    _shown_item,
    _text,
)
from vislab.cli import run
from vislab.errors import InputError


@pytest.fixture
def two_coders(coding_page):
    """A sample of 12 photos coded by ana (right throughout) and ben (wrong on items 2 and 5,
    unsure on 7 with a note, no code on 9)."""
    tmp_path, truth = coding_page
    sheet = pd.read_csv(tmp_path / "validation" / "coding_sheet.csv")
    truth = truth.loc[sheet["item"]].reset_index(drop=True)
    other = truth.map({"flower": "temple", "temple": "flower"})
    ben = truth.where(~sheet["item"].isin([2, 5]), other).astype(object)
    ben[sheet["item"] == 7] = "unsure"
    ben[sheet["item"] == 9] = ""
    files = {}
    for name, codes in (("ana", truth), ("ben", ben)):
        coded = sheet[["item", "image", "sample_id"]].assign(**{name: codes.to_numpy()})
        coded[f"{name}_note"] = ""
        if name == "ben":
            coded.loc[coded["item"] == 7, "ben_note"] = "<b>too dark</b> to tell"
        files[name] = tmp_path / f"coded_{name}.csv"
        coded.to_csv(files[name], index=False)
    return tmp_path, truth.set_axis(sheet["item"]), files


def _keep_screenshot(driver, folder) -> None:
    """adjudication-page.png in the test's folder, and in $VISLAB_SCREENSHOTS (the docs)."""
    driver.save_screenshot(str(folder / "adjudication-page.png"))
    keep = os.environ.get("VISLAB_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(keep) / "adjudication-page.png"))


def _adjudicate(folder, files, out="adjudication") -> int:
    command = ["adjudicate", "--coded", str(files["ana"]), "--coded", str(files["ben"])]
    return run([*command, "--sample", str(folder / "validation"), "--out", str(folder / out)])


def test_the_conflicts_are_decided_by_keyboard_and_estimate_reads_them(browser, two_coders):
    folder, truth, files = two_coders
    assert _adjudicate(folder, files) == 0
    conflicts = pd.read_csv(folder / "adjudication" / "conflicts.csv")
    assert conflicts["item"].tolist() == [2, 5, 7, 9]
    assert conflicts["reason"].tolist() == [
        "the codes differ", "the codes differ", "ben unsure", "not coded by ben",
    ]  # fmt: skip
    before = json.loads((folder / "adjudication" / "agreement.json").read_text())
    assert before["n_items"] == 12 and before["krippendorff_alpha"]["value"] < 1
    page = folder / "adjudication" / "adjudication.html"
    downloads = _downloads_into(browser, folder / "downloads")
    _open(browser, page, "carla")
    assert _text(browser, "count") == "0 of 4 decided"
    assert "Adjudication" in browser.title
    assert not browser.find_elements("css selector", "button.code[data-code=unsure]")
    keys = {"flower": "1", "temple": "2"}
    for _ in range(4):
        item = _shown_item(browser)
        shown = _text(browser, "others")
        assert "ana: " in shown and "ben: " in shown
        if item == 7:  # the note is shown as text, not markup
            assert "note: <b>too dark</b> to tell" in shown
            _press(browser, "n")
            _press(browser, "looked at the full image")
            _press(browser, "\ue00c")  # Escape
            _keep_screenshot(browser, folder)
        _press(browser, keys[truth[item]])
    assert _text(browser, "count") == "4 of 4 decided"
    browser.find_element("id", "download").click()
    decided = pd.read_csv(_downloaded(browser, downloads, "adjudicated.csv"))
    assert decided["item"].tolist() == list(range(1, 13))
    assert (decided.set_index("item")["final"] == truth).all()
    assert decided.set_index("item")["_decided"].value_counts().to_dict() == {
        "agreed": 8, "adjudicated": 4,
    }  # fmt: skip
    assert decided.set_index("item").loc[7, "final_note"] == "looked at the full image"
    assert decided.set_index("item").loc[2, "ben"] != truth[2]  # the coders' codes as they were
    estimate = ["estimate", str(folder / "collection.csv"), "--coded"]
    estimate += [str(downloads / "adjudicated.csv"), "--label-column", "final"]
    assert run([*estimate, "--sample", str(folder / "validation"), "--quiet"]) == 0
    agreement = ["agreement", "--coded", str(downloads / "adjudicated.csv"), "--raters", "ana,ben"]
    assert run([*agreement, "--out", str(folder / "again.json"), "--quiet"]) == 0
    again = json.loads((folder / "again.json").read_text())
    assert again["n_items"] == 12  # the agreement before adjudication, from the download


def test_files_of_another_sample_are_refused_by_file_and_row(two_coders):
    folder, _, files = two_coders
    stray = pd.read_csv(files["ben"])
    stray.loc[3, "item"] = 99
    stray.to_csv(folder / "stray.csv", index=False)
    from vislab.evaluation.validation import checked_in_sample

    with pytest.raises(InputError, match=r"stray.csv: row 5: item 99 is not in the sample"):
        checked_in_sample([files["ana"], folder / "stray.csv"], folder / "validation")
    from vislab.estimation.estimate import estimate

    with pytest.raises(InputError, match=r"stray.csv: row 5: item 99 is not in the sample"):
        estimate(folder / "collection.csv", folder / "stray.csv", "ben", folder / "validation")
    alike = pd.read_csv(files["ana"]).rename(columns={"ana": "ben", "ana_note": "ben_note"})
    alike.to_csv(folder / "alike.csv", index=False)
    command = ["adjudicate", "--coded", str(files["ana"]), "--coded", str(folder / "alike.csv")]
    assert run([*command, "--out", str(folder / "none"), "--quiet"]) == 0
    agreed = pd.read_csv(folder / "none" / "adjudicated.csv")  # nothing to decide
    assert agreed["final"].tolist() == agreed["ana"].tolist()
    assert not (folder / "none" / "adjudication.html").exists()
