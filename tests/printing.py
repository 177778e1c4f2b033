"""Report pages in a real browser: Chromium (through selenium and chromedriver) lays each page
out as it prints on A4 portrait and checks that it fits.

`.ci/run` installs Debian's chromium and chromium-driver; without them the tests that use the
`browser` fixture are skipped. Set VISLAB_SCREENSHOTS=DIR to keep a screenshot and the PDF of
every page checked, to look at them.
"""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import pytest

A4_PRINTABLE_PX = 718  # 210 mm less 1 cm margins each side, at 96 CSS px per inch
MIN_TEXT_PX = 11

# Everything that does not fit: elements running past the page's right edge, figures shown
# smaller than drawn (their text shrinks with them), text under MIN_TEXT_PX.
_PROBLEMS = """
const width = document.documentElement.clientWidth, problems = [];
const text = e => (e.textContent || e.alt || '').trim().slice(0, 40);
const name = e => `${e.tagName.toLowerCase()} "${text(e)}"`;
for (const e of document.body.querySelectorAll('*')) {
  const box = e.getBoundingClientRect();
  if (box.right > width + 1) problems.push(`${name(e)} ends at ${Math.round(box.right)} px`);
  const drawn = parseFloat(e.getAttribute('width'));
  if (e.tagName === 'IMG' && drawn && box.width < drawn - 1)
    problems.push(`${name(e)} shown ${Math.round(box.width)} px wide, drawn for ${drawn}`);
  const own = [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
  const size = parseFloat(getComputedStyle(e).fontSize);
  if (own && size < arguments[0]) problems.push(`${name(e)} in ${size} px text`);
}
return [width, problems];
"""


def start_browser():
    """A headless Chromium under chromedriver, or None when either is missing."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium is None or driver is None:
        return None
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_AVOID_STATS"] = "true"  # Selenium Manager would send usage statistics
    options = Options()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
    ):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(driver), options=options)


@pytest.fixture(scope="session")
def any_browser():
    """The browser, or None where Chromium is missing (for tests that check more than pages)."""
    driver = start_browser()
    yield driver
    if driver is not None:
        driver.quit()


@pytest.fixture
def browser(any_browser):
    if any_browser is None:
        pytest.skip("Chromium and chromedriver are not installed (.ci/run installs them)")
    return any_browser


def print_problems(driver, page: Path) -> list[str]:
    """What does not fit when `page` prints on A4 portrait (empty: it fits); the PDF is printed
    too, and kept with a screenshot where VISLAB_SCREENSHOTS says."""
    from selenium.webdriver.common.print_page_options import PrintOptions

    driver.get(page.resolve().as_uri())
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    _viewport(driver, A4_PRINTABLE_PX, 1000)
    width, problems = driver.execute_script(_PROBLEMS, MIN_TEXT_PX)
    assert width == A4_PRINTABLE_PX
    options = PrintOptions()
    options.page_width, options.page_height = 21.0, 29.7
    pdf = base64.b64decode(driver.print_page(options))
    assert pdf.startswith(b"%PDF") and b"/Type /Page" in pdf
    keep = os.environ.get("VISLAB_SCREENSHOTS")
    if keep:
        _keep(driver, page, pdf, Path(keep))
    return problems


def _viewport(driver, width: int, height: int) -> None:
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)


def _keep(driver, page: Path, pdf: bytes, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{page.parent.name}-{page.stem}"
    (folder / f"{stem}.pdf").write_bytes(pdf)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    _viewport(driver, A4_PRINTABLE_PX, min(height, 16000))
    driver.save_screenshot(str(folder / f"{stem}.png"))
