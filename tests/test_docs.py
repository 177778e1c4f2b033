"""The documentation site: it builds strictly (no broken link or anchor, no page left out of
the navigation), and the command reference is what the commands print today."""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str):
    """A script of tools/ as a module."""
    if str(ROOT / "tools") not in sys.path:
        sys.path.insert(0, str(ROOT / "tools"))
    return importlib.import_module(name)


def _reference_module():
    return _tool("docs_reference")


def build(tmp_path: Path, project: Path = ROOT) -> subprocess.CompletedProcess:
    """`mkdocs build --strict` of the site in `project` (its mkdocs.yml and docs/)."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    command = [sys.executable, "-m", "mkdocs", "build", "--strict"]
    command += ["-f", str(project / "mkdocs.yml"), "-d", str(tmp_path / "site")]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)


def test_the_site_builds_strictly(tmp_path):
    done = build(tmp_path)
    assert done.returncode == 0, done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    site = tmp_path / "site"
    pages = {p.relative_to(site).as_posix() for p in site.rglob("*.html")}
    assert {"index.html", "statistics.html", "reference/commands.html"} <= pages
    api = (site / "reference" / "python.html").read_text()
    for verb in ("train", "predict", "explain", "evaluate", "estimate", "load_config"):
        assert f'id="vislab.{verb}"' in api, verb  # mkdocstrings rendered each verb


def test_a_broken_link_fails_the_build(tmp_path):
    """The strict build is what catches a link to a page that is not there."""
    project = tmp_path / "project"
    shutil.copytree(ROOT / "docs", project / "docs")
    config = (ROOT / "mkdocs.yml").read_text().replace("paths: [src]", f"paths: [{ROOT / 'src'}]")
    (project / "mkdocs.yml").write_text(config)
    assert build(tmp_path / "good", project).returncode == 0  # the copy builds as it is
    page = project / "docs" / "statistics.md"
    page.write_text(page.read_text() + "\nSee [the missing page](missing.md).\n")
    done = build(tmp_path / "bad", project)
    assert done.returncode != 0
    assert "missing.md" in done.stderr


def test_the_command_reference_is_what_the_commands_print():
    reference = _reference_module()
    written = (ROOT / "docs" / "reference" / "commands.md").read_text()
    assert written == reference.page(), "run: python tools/docs_reference.py"


def test_the_config_reference_is_what_the_schema_says():
    config = _tool("docs_config")
    written = config.PAGE.read_text()
    assert written == config.page(written), "run: python tools/docs_reference.py"


def test_the_config_reference_has_every_key_with_its_default_and_a_description():
    """Every key of the schema (nested ones too) is a row with its type, its YAML default and
    what it does; a key without a description fails."""
    import yaml

    from vislab.config import ExperimentConfig

    config = _tool("docs_config")
    rows = {
        key: (kind, default, text) for key, kind, default, text in config.rows(ExperimentConfig)
    }
    defaults = ExperimentConfig.model_validate({"data": {"source": "sample", "name": "x"}})

    def leaves(node, prefix=""):
        for key, value in node.items():
            if isinstance(value, dict):
                yield from leaves(value, f"{prefix}{key}.")
            else:
                yield f"{prefix}{key}", value

    keys = dict(leaves(defaults.to_dict()))
    assert set(rows) == set(keys)
    written = config.PAGE.read_text()
    for key, (kind, default, text) in rows.items():
        assert text, f"{key} has no description (Field(description=...) in vislab/config.py)"
        assert f"| `{config.shown_key(key)}` | {kind} | {default} |" in written
        if key not in ("data.source", "data.name"):  # the ones set above
            assert yaml.safe_load(default.strip("`")) == keys[key], key
    assert config.type_text(ExperimentConfig.model_fields["name"].annotation) == "text or `null`"


def test_the_command_reference_has_every_command():
    import typer

    from vislab.cli import app

    reference = _reference_module()
    written = (ROOT / "docs" / "reference" / "commands.md").read_text()
    names = [" ".join(w) for w, _ in reference.commands(typer.main.get_command(app))]
    assert {"train", "estimate", "data check", "data inspect", "slurm"} <= set(names)
    for name in names:
        assert f"## vislab {name}\n" in written and f"$ vislab {name} --help" in written


def test_the_readme_is_short_and_its_links_resolve():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 120  # one screen or two; the rest is on the site
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    assert len(links) >= 15
    for link in links:
        assert "://" in link or (ROOT / link).is_file(), link
    site = set(re.findall(r":\s*([\w/.-]+\.md)\s*$", (ROOT / "mkdocs.yml").read_text(), re.M))
    linked = {link.removeprefix("docs/") for link in links if link.endswith(".md")}
    assert site - linked == {"index.md"}, "pages the README does not link to"


def _console_tool():
    return _tool("docs_console")


def test_every_console_block_says_how_it_is_run():
    console = _console_tool()
    problems, walked = [], 0
    for page in console.nav_pages():
        found, missing = console.blocks(page)
        problems += missing
        walked += sum(1 for block in found if not block.file)
    assert problems == []
    assert walked >= 40


def test_shown_output_matches_with_numbers_and_elisions_aside():
    match = _console_tool().match
    real = ["listing x", "predict: 1,797 images, 858.6 images/s", "a", "b", "wrote x (1797 rows)"]
    assert match(
        ["listing x", "predict: 1,797 images, 901.2 images/s", "...", "wrote x (17 rows)"], real
    )
    assert match(["...", "b", "wrote x (1 rows)"], real)
    assert match(["listing x", "..."], real)
    assert match(real, real)
    assert match(["listing x", "...", "a", "..."], real)
    assert match(["listing y", "..."], real) is None  # text differs
    assert match(["listing x"], real) is None  # lines left out without `...`
    assert match(["...", "a"], real) is None  # the end is anchored
    assert match(["a", "..."], real) is None  # so is the start
    assert match(["listing x", "...", "b", "a", "..."], real) is None  # order
    assert match([], []) == [] and match([], ["out"]) is None
    assert match(
        ["epoch 1: 1,774.9 images/s, 3 s left"], ["epoch 1: 77.5 images/s, 1 min 18 s left"]
    )
    assert match(["1,images/0001.png,c201fd736ad22c71"], ["1,images/0001.png,cd33785585e8335c"])


def test_progress_lines_are_left_out_and_nothing_else():
    console = _console_tool()
    assert console.progress("measure: 6/45 models (13 %), 0.4 models/s, 1 min 40 s left")
    assert console.progress("predict: 1,797/1,797 images (100 %), 858.6 images/s, done in 2 s")
    assert not console.progress("stroke: 2 groups, 0 missing, under-represented: none; p < 0.01")
    assert not console.progress(
        "epoch 1/6: train_loss 1.765, val_loss 1.798; 77.5 images/s, 3 s left"
    )
    shown = ["listing x", "predict: 9/9 images (100 %), 1.0 images/s, done in 1 s", "wrote x"]
    assert console.match(shown, ["listing x", "wrote x"])  # shown or not, as fast as it ran


def test_the_start_walk_prints_what_the_pages_show(tmp_path):
    """The walk of the first steps (the examples, the sample data, its check and audit)
    runs in the tests; `python tools/docs_console.py` runs every walk."""
    differences = _console_tool().check({"start"}, write=False, where=tmp_path)
    assert differences == []


def test_a_run_goes_where_its_lines_are_exactly_when_numbers_alone_would_fit_many():
    match = _console_tool().match
    real = ["head", "  0", "    corrected 0.1", "  8", "    corrected 0.2", "tail"]
    assert match(["head", "...", "  8", "    corrected 0.3", "..."], real) == [
        (0, 0),
        (2, 3),
        (3, 4),
    ]


def test_a_json_example_with_a_key_the_file_lacks_is_named():
    from tests.files_page import shape_problems

    real = {"n": 3, "groups": {"site": {"north": {"n": 1, "metrics": {}}}}, "ci": [0.1, 0.2]}
    data_at = {".groups", ".groups.*"}
    good = {"n": 9, "groups": {"gender": {"female": {"n": 2}}}, "ci": [0.0, 1.0]}
    assert shape_problems(good, real, data_at) == []
    assert shape_problems({"size": 3}, real, data_at) == [".size: not in the file (it has "
                                                          "['ci', 'groups', 'n'])"]  # fmt: skip
    assert shape_problems({"n": "3"}, real, data_at) == [
        ".n: the page shows str, the file has number"
    ]
    assert shape_problems({"ci": [0.1]}, real, data_at) == [".ci: 1 items, not 2"]
    wrong_inside = {"groups": {"gender": {"female": {"count": 2}}}}
    assert shape_problems(wrong_inside, real, data_at)[0].startswith(".groups.*.*.count")


def test_a_console_block_runs_as_in_a_readers_shell(tmp_path, monkeypatch):
    """A --quiet left in the test process (VISLAB_QUIET) does not silence the walk's commands."""
    monkeypatch.setenv("VISLAB_QUIET", "1")
    console = _tool("docs_console")
    shown = console.run("echo quiet=${VISLAB_QUIET:-unset}", tmp_path)
    assert shown == ["quiet=unset"]
