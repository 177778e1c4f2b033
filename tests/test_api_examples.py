"""The Python API's docstring examples run (doctest), in order, as one session in a folder with
the digits and the example configs: train's run directory is the one predict, explain and
evaluate use, as a reader would type them."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import vislab
from vislab.cli import run

ORDER = ["load_config", "train", "predict", "explain", "evaluate", "estimate"]


def test_every_verb_has_a_documented_example():
    for name in vislab.__all__:
        text = getattr(vislab, name).__doc__
        for part in ("Args:", "Returns:", "Examples:", ">>> "):
            assert part in text, (name, part)
    assert sorted(ORDER) == sorted(vislab.__all__)


def test_no_module_hides_a_verb():
    """Importing a subpackage sets it as the package's attribute: one named like a verb
    (vislab/explain/ beside vislab.explain) would replace the function once imported."""
    names = {module.name for module in pkgutil.iter_modules(vislab.__path__)}
    assert names & set(vislab.__all__) == set()
    importlib.import_module("vislab.explanation.images")
    assert callable(vislab.explain)


def test_the_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run(["data", "sample", "digits", "--out", "digits"]) == 0
    assert run(["examples", "--out", "examples"]) == 0
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    session = {"vislab": vislab}  # one namespace: each example goes on from the one before
    for name in ORDER:
        (test,) = finder.find(getattr(vislab, name), f"vislab.{name}", globs=session)
        test.globs = session
        result = runner.run(test, clear_globs=False)
        assert result.failed == 0, f"vislab.{name}'s example failed (see the output above)"
        assert result.attempted >= 2, name
