"""The site's command reference, written from the commands themselves: every command's `--help`
as it prints today. `python tools/docs_reference.py` rewrites docs/reference/commands.md (and
the config keys of docs/reference/config.md: tools/docs_config.py); tests/test_docs.py fails
when a page differs from what the commands print or the config's schema says.
"""

from __future__ import annotations

import sys
from pathlib import Path

PAGE = Path(__file__).resolve().parents[1] / "docs" / "reference" / "commands.md"
WIDTH = 100  # the help's width on the page

INTRO = """# Commands

Every command's `--help`, as `vislab` prints it (this page is written by
`tools/docs_reference.py` from the commands themselves, and the tests fail when it falls behind).
Each command prints a short summary; `--out` or `--json` writes the machine-readable result,
and an existing output is never overwritten (`--force` where a command allows it). Exit codes:
0 on success, 1 when the input has problems (each one named), 2 on a usage error.

The guides show the commands at work: [Classification](../guides/classification.md),
[Object detection](../guides/detection.md), [Captioning and CLIP](../guides/captioning.md),
[Video](../guides/video.md), [From images to a finding](../finding.md).
"""


def commands(group, path: tuple[str, ...] = ()):
    """(words, command) for every command under a click group, in the order `--help` lists
    them, groups before their commands."""
    context = group.context_class(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        if command.hidden:
            continue
        yield (*path, name), command
        if hasattr(command, "list_commands"):  # a group (typer's own click is not `click`)
            yield from commands(command, (*path, name))


def help_text(words: tuple[str, ...]) -> str:
    """What `vislab WORDS --help` prints, without colour, WIDTH columns wide."""
    from typer.testing import CliRunner

    from vislab.cli import app

    env = {"COLUMNS": str(WIDTH), "NO_COLOR": "1", "TERM": "dumb"}
    runner = CliRunner()
    result = runner.invoke(
        app, [*words, "--help"], env=env, prog_name="vislab", terminal_width=WIDTH
    )
    if result.exit_code != 0:
        raise RuntimeError(f"vislab {' '.join(words)} --help failed: {result.output}")
    return "\n".join(line.rstrip() for line in result.output.strip("\n").splitlines())


def page() -> str:
    """The whole reference page."""
    import typer

    from vislab.cli import app

    parts = [INTRO, "## vislab\n", "```text\n$ vislab --help\n" + help_text(()) + "\n```\n"]
    for words, _ in commands(typer.main.get_command(app)):
        name = " ".join(words)
        parts.append(f"## vislab {name}\n")
        parts.append(f"```text\n$ vislab {name} --help\n{help_text(words)}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    import docs_config

    PAGE.write_text(page())
    docs_config.PAGE.write_text(docs_config.page(docs_config.PAGE.read_text()))
    for written in (PAGE, docs_config.PAGE):
        shown = written.relative_to(Path.cwd()) if written.is_relative_to(Path.cwd()) else written
        print(f"wrote {shown}")
    sys.exit(0)
