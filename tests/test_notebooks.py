"""The example notebooks run, with a real kernel, and print what their pages on the site show
(numbers aside); each .md is paired with an .ipynb of the same cells."""

from __future__ import annotations

import importlib
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    if str(ROOT / "tools") not in sys.path:
        sys.path.insert(0, str(ROOT / "tools"))
    return importlib.import_module("notebooks")


notebooks = _tool()


def test_the_notebooks_are_the_three_the_site_shows():
    assert notebooks.notebook_names() == ["quickstart", "study", "vlm-coding"]
    site = (ROOT / "mkdocs.yml").read_text()
    for name in notebooks.notebook_names():
        assert f"notebooks/{name}.md" in site
        assert notebooks.paired(name), f"python tools/notebooks.py {name} --write"


def test_the_notebooks_run_and_print_their_pages(tmp_path):
    """All three at once, each in its own kernel (a kernel spends much of its time starting and
    importing, which the others' work fills)."""

    def run(name: str) -> list[str]:
        folder = tmp_path / name
        folder.mkdir()
        fresh, images = notebooks.page(name, notebooks.execute(name, folder))
        written = (ROOT / "docs" / "notebooks" / f"{name}.md").read_text()
        missing = [f for f in images if not (ROOT / "docs" / "notebooks" / f).is_file()]
        return notebooks.differences(name, written, fresh) + missing

    names = notebooks.notebook_names()
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        found = [problem for problems in pool.map(run, names) for problem in problems]
    assert found == []


def test_a_changed_output_is_a_difference():
    page = "```text\naccuracy 0.9805 [0.9638, 0.9916]\nheavy  179\n```\n"
    same = page.replace("0.9805", "0.9711").replace("179", "181")
    assert notebooks.differences("x", page, same) == []
    assert notebooks.differences("x", page, page.replace("heavy", "light"))
    assert notebooks.differences("x", page, page + "one more line\n")


def test_a_notebook_runs_as_in_a_readers_fresh_kernel(monkeypatch):
    """A --quiet that an earlier command left in the test process (VISLAB_QUIET) would
    silence the notebook's notes and change its page: the kernel does not inherit it."""
    monkeypatch.setenv("VISLAB_QUIET", "1")
    env = notebooks.kernel_env()
    assert "VISLAB_QUIET" not in env and os.environ["VISLAB_QUIET"] == "1"
