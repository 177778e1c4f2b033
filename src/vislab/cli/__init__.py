"""The command line: the same verbs as the Python API, over the same config.

Commands live in groups (data.py, runs.py, evaluation.py, multimodal.py); each imports its heavy
libraries inside the command, so `vislab --help` answers at once. Exit codes: 0 success, 1 input
problems (reported), 2 usage errors.
"""

from __future__ import annotations

import sys

import typer

from vislab.cli import data, evaluation, multimodal, runs
from vislab.errors import VislabError

app = typer.Typer(
    help="vislab: image deep learning research workflow (data -> model -> evaluation).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(data.app, name="data")
runs.register(app)
evaluation.register(app)
multimodal.register(app)


def run(argv: list[str]) -> int:
    """Run the command line on `argv`; return the exit code (0, 1 input problems, 2 usage)."""
    try:
        app(args=argv, prog_name="vislab")  # usage errors: typer prints them and exits with 2
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except VislabError as error:
        typer.echo(f"error: {error}", err=True)
        return error.exit_code
    return 0


def main() -> None:
    sys.exit(run(sys.argv[1:]))
