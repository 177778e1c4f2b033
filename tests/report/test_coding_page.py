"""The coding page in real Chromium (selenium): a coder codes the sample with the keyboard,
the codes survive a reload (autosave), the download is the coding sheet's file, and
`vislab estimate` reads it."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from vislab.cli import run
from vislab.errors import InputError
from vislab.report.coding_page import read_codebook


def _press(driver, keys: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).send_keys(keys).perform()


def _text(driver, element_id: str) -> str:
    return driver.find_element("id", element_id).text


def _open(driver, page: Path, coder: str) -> None:
    from selenium.webdriver.common.keys import Keys

    driver.get(page.as_uri())
    _viewport(driver, 1280, 900)
    field = driver.find_element("id", "coder")
    field.clear()
    field.send_keys(coder, Keys.TAB)  # change event: the coder's saved codes are loaded


def _viewport(driver, width: int, height: int) -> None:
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)


def _downloads_into(driver, folder: Path) -> Path:
    folder.mkdir()
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(folder)}
    )
    return folder


def _shown_item(driver) -> int:
    return int(_text(driver, "item").split()[1])


def _downloaded(driver, folder: Path, name: str) -> Path:
    """The downloaded file, once Chromium has finished writing it."""
    from selenium.webdriver.support.ui import WebDriverWait

    def done(_) -> bool:
        return (folder / name).is_file() and not list(folder.glob("*.crdownload"))

    WebDriverWait(driver, 10).until(done, f"no {name} in {folder}")
    return folder / name


def test_a_coder_codes_the_sample_by_keyboard_and_estimate_reads_the_download(browser, coding_page):
    folder, truth = coding_page
    page = folder / "validation" / "coding.html"
    downloads = _downloads_into(browser, folder / "downloads")
    _open(browser, page, "ana")
    assert _text(browser, "count") == "0 of 12 coded"
    shown = browser.execute_script(
        "const i = document.getElementById('image'); return [i.naturalWidth, i.width]"
    )
    assert shown[0] == 400 and shown[1] >= 480  # the crop, shown large enough to judge
    keys = {"flower": "1", "temple": "2"}
    for step in range(12):
        item = _shown_item(browser)
        if step == 2:  # unsure first, then back to it and decided, with a note
            _press(browser, "u")
            _press(browser, "\ue012")  # ArrowLeft
            assert _shown_item(browser) == item
            _press(browser, "n")
            _press(browser, 'roof, half "hidden"')
            _press(browser, "\ue00c")  # Escape leaves the note
        _press(browser, keys[truth[item]])
    assert _text(browser, "count") == "12 of 12 coded"
    _keep_screenshot(browser, page)
    _open(browser, page, "ana")  # a reload: the codes are still there
    assert _text(browser, "count") == "12 of 12 coded"
    browser.find_element("id", "download").click()
    coded = pd.read_csv(_downloaded(browser, downloads, "coded_ana.csv"), dtype={"ana_note": str})
    assert list(coded.columns) == ["item", "image", "ana", "ana_note", "sample_id"]
    assert (coded.set_index("item")["ana"] == truth.loc[coded["item"]]).all()
    assert coded["ana_note"].dropna().tolist() == ['roof, half "hidden"']
    sheet = pd.read_csv(folder / "validation" / "coding_sheet.csv")
    assert coded["image"].tolist() == sheet["image"].tolist()
    command = [
        "estimate",
        str(folder / "collection.csv"),
        "--coded",
        str(downloads / "coded_ana.csv"),
    ]
    command += ["--label-column", "ana", "--sample", str(folder / "validation")]
    assert run([*command, "--out", str(folder / "estimates.json"), "--quiet"]) == 0


def test_another_coder_starts_blank_and_an_unsure_code_is_named_by_estimate(browser, coding_page):
    folder, _ = coding_page
    page = folder / "validation" / "coding.html"
    downloads = _downloads_into(browser, folder / "downloads")
    _open(browser, page, "ben")
    assert _text(browser, "count") == "0 of 12 coded"
    for _ in range(12):
        _press(browser, "0")  # unsure throughout
    browser.find_element("id", "download").click()
    coded = _downloaded(browser, downloads, "coded_ben.csv")
    with pytest.raises(InputError, match="an 'unsure' must be decided first"):
        from vislab.estimation.estimate import estimate

        estimate(folder / "collection.csv", coded, "ben", folder / "validation")


def test_codes_named_by_one_character_are_chosen_by_that_key(browser, tmp_path):
    """Digits as codes: 7 codes '7' (not the seventh code), 0 codes '0', u is unsure."""
    from PIL import Image

    from vislab.report.coding_page import codes_of_classes, write_coding_page

    (tmp_path / "images").mkdir()
    for i in range(1, 4):
        Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(tmp_path / f"images/{i:04d}.png")
    sheet = pd.DataFrame({"item": [1, 2, 3], "image": [f"images/{i:04d}.png" for i in (1, 2, 3)]})
    classes = [str(d) for d in range(10)]
    [page] = write_coding_page(tmp_path, sheet, codes_of_classes(classes), ["A"], "digits")
    _open(browser, page, "A")
    _press(browser, "7")
    _press(browser, "0")
    _press(browser, "u")
    chosen = browser.execute_script(
        "return JSON.parse(localStorage.getItem(`vislab-coding:${DATA.page}:A`))"
    )
    assert {k: v["code"] for k, v in chosen.items()} == {"1": "7", "2": "0", "3": "unsure"}
    assert "u unsure" in _text(browser, "keys")


def _keep_screenshot(driver, page: Path) -> None:
    keep = os.environ.get("VISLAB_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(keep) / "coding-page.png"))


def test_codebook_mistakes_name_the_file_and_the_code(tmp_path):
    path = tmp_path / "book.yaml"
    path.write_text("codes:\n  - name: police\n    examples: [gone.jpg]\n")
    with pytest.raises(InputError, match=r"book.yaml: code 'police', example gone.jpg"):
        read_codebook(path)
    path.write_text("codes:\n  - definition: no name\n")
    with pytest.raises(InputError, match="code 1 has no name"):
        read_codebook(path)
    path.write_text("codes:\n  - name: a\n  - name: a\n")
    with pytest.raises(InputError, match=r"\['a'\] are listed twice"):
        read_codebook(path)
    path.write_text("- name: unsure\n")
    with pytest.raises(InputError, match="'unsure' is the page's own choice"):
        read_codebook(path)


def test_example_images_must_lie_beside_the_codebook(tmp_path):
    """The page is e-mailed: an example path that leads out of the codebook's folder would
    carry another file of the user's inside it."""
    from PIL import Image

    secret = tmp_path / "private" / "secret.png"
    secret.parent.mkdir()
    Image.new("RGB", (8, 8)).save(secret)
    book = tmp_path / "study" / "book.yaml"
    book.parent.mkdir()
    for example in ("../private/secret.png", str(secret)):
        book.write_text(f"codes:\n  - name: police\n    examples: ['{example}']\n")
        with pytest.raises(InputError, match="leads out of the codebook's folder"):
            read_codebook(book)


HOSTILE_CODE = "<img src=x onerror=window.pwned=1>"


def test_names_and_texts_never_become_markup_in_chromium(browser, tmp_path):
    """A title like the page's placeholders, a code that is markup, a definition that opens a
    comment and closes the script: nothing runs, and every text shows as written."""
    from PIL import Image

    from vislab.report.coding_page import Code, write_coding_page

    (tmp_path / "images").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "images/0001.png")
    sheet = pd.DataFrame({"item": [1], "image": ["images/0001.png"]})
    codes = [
        Code(HOSTILE_CODE, "<!-- a comment </script><script>window.pwned=2</script>"),
        Code("a & b \u2028 c", "</SCRIPT >"),
    ]
    title = "__DATA__ __TITLE__ <b>study</b>"
    [page] = write_coding_page(tmp_path, sheet, codes, ["<i>x</i>"], title)
    _open(browser, page, "A")
    assert browser.execute_script("return window.pwned === undefined")
    assert _text(browser, "item") == "Item 1 (1 of 1)"
    assert browser.find_element("tag name", "h1").text == f"Coding: {title}"
    names = browser.execute_script(
        "return [...document.querySelectorAll('.code b')].map(b => b.textContent)"
    )
    assert names == [HOSTILE_CODE, "a & b \u2028 c", "unsure"]
    _press(browser, "1")
    chosen = browser.execute_script(
        "return JSON.parse(localStorage.getItem(`vislab-coding:${DATA.page}:A`))"
    )
    assert chosen["1"]["code"] == HOSTILE_CODE


def test_enter_commits_the_name_and_the_page_resumes_where_the_coder_stopped(browser, coding_page):
    """Enter in the name field moves on: the next key codes the image (before, it was typed
    into the name: 'cleo' became 'cleo1' and the work looked lost). A reload opens as the last
    coder, at the first item not coded."""
    folder, _ = coding_page
    page = folder / "validation" / "coding.html"
    browser.get(page.as_uri())
    field = browser.find_element("id", "coder")
    field.clear()  # the browser is shared by the tests: another coder may be remembered
    field.send_keys("cleo\n")
    _press(browser, "1")
    _press(browser, "2")
    assert browser.find_element("id", "coder").get_attribute("value") == "cleo"
    assert _text(browser, "count") == "2 of 12 coded"
    browser.get(page.as_uri())  # a reload, no name typed
    assert browser.find_element("id", "coder").get_attribute("value") == "cleo"
    assert _text(browser, "item").endswith("(3 of 12)")
    assert _text(browser, "count") == "2 of 12 coded"


def _photos_of(size: tuple[int, int], count: int) -> list[bytes]:
    """`count` distinct JPEGs of `size` from scikit-learn's two photos."""
    import io

    from PIL import Image
    from sklearn.datasets import load_sample_images

    found = []
    for k in range(count):
        photo = load_sample_images().images[k % 2]
        buffer = io.BytesIO()
        Image.fromarray(photo).rotate(7 * k).resize(size).save(buffer, "JPEG", quality=92)
        found.append(buffer.getvalue())
    return found


def test_photos_are_scaled_for_the_coders(tmp_path):
    """Photo-sized images (1600 x 1200) reach the sheet and the page as JPEGs of 1,024 px on
    the longer side (before: PNGs of the full size, 617 MB for 2,000 photos)."""
    from PIL import Image

    (tmp_path / "photos").mkdir()
    rows = []
    for i, content in enumerate(_photos_of((1600, 1200), 12)):
        name = f"photos/p{i:02d}.jpg"
        (tmp_path / name).write_bytes(content)
        rows.append({"id": name, "path": name, "prediction": "flower" if i % 2 else "temple"})
    pd.DataFrame(rows).to_csv(tmp_path / "collection.csv", index=False)
    command = ["validation-sample", str(tmp_path / "collection.csv"), "--size", "12"]
    assert run([*command, "--coders", "A", "--out", str(tmp_path / "v"), "--quiet"]) == 0
    sheet = pd.read_csv(tmp_path / "v" / "coding_sheet.csv")
    for name in sheet["image"]:
        with Image.open(tmp_path / "v" / name) as shown:
            assert shown.format == "JPEG" and shown.size == (1024, 768)
    assert (tmp_path / "v" / "coding.html").stat().st_size < 12 * 400_000


def test_two_thousand_photos_make_pages_that_each_open(browser, tmp_path):
    """2,000 photos of 1,024 px (before: one page of 617 MB that Chromium could not open) are
    split into pages of at most PAGE_BYTES, each opening in Chromium with its part of the
    items, links to the others and a download of its own part."""
    from vislab.report.coding_page import PAGE_BYTES, codes_of_classes, write_coding_page

    (tmp_path / "images").mkdir()
    photos = _photos_of((1024, 768), 6)
    for i in range(2000):
        (tmp_path / "images" / f"{i + 1:04d}.jpg").write_bytes(photos[i % len(photos)])
    sheet = pd.DataFrame(
        {"item": range(1, 2001), "image": [f"images/{i:04d}.jpg" for i in range(1, 2001)]}
    )
    pages = write_coding_page(tmp_path, sheet, codes_of_classes(["a", "b"]), ["A"], "study")
    assert len(pages) > 1 and pages[0].name == "coding.html"
    downloads = _downloads_into(browser, tmp_path / "downloads")
    counted = 0
    for number, page in enumerate(pages, start=1):
        assert page.stat().st_size <= PAGE_BYTES
        if number in (1, 2, len(pages)):
            _open(browser, page, "A")
            shown = browser.execute_script("return DATA.items.length")
            assert _text(browser, "item") == f"Item {counted + 1} (1 of {shown})"
            assert f"Page {number} of {len(pages)}" in _text(browser, "parts")
        else:
            shown = page.read_text().count('"item": ')
        counted += shown
    assert counted == 2000
    _press(browser, "a")  # code a on the last page (one-letter codes: their own key)
    browser.execute_script("window.confirm = () => true")  # download with blanks
    browser.find_element("id", "download").click()
    part = pd.read_csv(_downloaded(browser, downloads, f"coded_A_page{len(pages)}.csv"))
    assert part["A"].notna().sum() == 1 and part["item"].iloc[0] == 2001 - shown


def test_a_coder_can_undo_zoom_and_see_the_codebooks_examples_large(browser, coding_page):
    folder, _ = coding_page
    page = folder / "validation" / "coding.html"
    _open(browser, page, "dora")
    for key in ("1", "2", "1"):
        _press(browser, key)
    assert _text(browser, "count") == "3 of 12 coded" and _text(browser, "item").endswith(
        "(4 of 12)"
    )
    _press(browser, "\ue003")  # Backspace: the last code is undone, and shown again
    assert _text(browser, "count") == "2 of 12 coded" and _text(browser, "item").endswith(
        "(3 of 12)"
    )
    _press(browser, "2")
    assert _text(browser, "count") == "3 of 12 coded"
    _press(browser, "\ue012")  # back to the image just coded
    _press(browser, "+")
    sizes = browser.execute_script(
        "const i = document.getElementById('image');"
        "return [document.getElementById('view').className, i.width, i.naturalWidth]"
    )
    assert sizes[0] == "zoomed" and sizes[1] == sizes[2]  # shown at its own size
    browser.find_element("css selector", "#codebook summary").click()
    browser.find_element("css selector", ".examples img").click()
    assert browser.execute_script("return document.getElementById('large').open")
    width = browser.execute_script("return document.querySelector('#large img').width")
    assert width > 110  # larger than in the codebook
    _press(browser, "\ue00c")  # Escape closes it
    assert not browser.execute_script("return document.getElementById('large').open")
