"""The command line: the same verbs as the Python API, over the same config.

Commands live in groups (data.py, runs.py, evaluation.py, multimodal.py); each imports its heavy
libraries inside the command, so `vislab --help` answers at once. Exit codes: 0 success, 1 input
problems (reported), 2 usage errors.
"""

from __future__ import annotations

import atexit
import gc
import sys

import typer

from vislab.cli import adjudicate, cluster, data, estimates, evaluation, models, multimodal, runs
from vislab.errors import VislabError


def _readable_help_types() -> None:
    """Help pages say what to type — PATH, TEXT, INTEGER, a|b — never Python's type names
    (`<list[str]>`), and nothing after a flag (typer 0.29 shows `<bool>`)."""
    from typer.core import TyperArgument, TyperOption

    def shown_type(self, ctx):
        if getattr(self, "is_flag", False):
            return None
        if self.metavar:
            return self.metavar
        label = type(self).display_type(self, ctx).strip("<>")
        if "|" in label:  # choices, as they are typed
            return label.removeprefix("list[").removesuffix("]")
        label = label.removeprefix("list[").removesuffix("]").removesuffix(" range")
        words = {"str": "TEXT", "int": "INTEGER", "float": "NUMBER", "path": "PATH"}
        return words.get(label, label.upper())

    def usage_name(self) -> str:  # RUN_DIR, [CONFIG], IMAGES...: as man pages write them
        name = self.display_name_raw.upper()
        name = name if self.required else f"[{name}]"
        return name + ("..." if self.nargs != 1 else "")

    for kind in (TyperOption, TyperArgument):
        kind.display_type_rich = shown_type
    TyperArgument._usage_display_name = usage_name


_readable_help_types()

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
estimates.register(app)
cluster.register(app)
adjudicate.register(app)
models.register(app)


def _one_line_summaries(typer_app: typer.Typer) -> None:
    """A command's summary in a group's list is its docstring's first paragraph on one line
    (typer keeps the docstring's line breaks there, cutting sentences mid-way)."""
    import inspect

    for info in typer_app.registered_commands:
        if info.short_help is None and info.callback is not None:
            first = inspect.cleandoc(info.help or info.callback.__doc__ or "").split("\n\n")[0]
            info.short_help = " ".join(first.split())
    for group in typer_app.registered_groups:
        _one_line_summaries(group.typer_instance)


_one_line_summaries(app)


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


YOUNG_COLLECTION = 50_000  # allocations between two young collections (Python's default: 700)


def settle_collector() -> None:
    """Python's cyclic garbage collector set for a process that imports torch, timm and
    Lightning (millions of objects that live as long as the process): a young collection every
    50,000 allocations rather than 700, so that the collections of the older generations,
    each a walk over every object those imports made, come as seldom as they need (nine during
    the quickstart, about 1.5 s of its 16); and at exit the objects left are frozen, so that
    the interpreter's last collections do not walk them again (1.5 s more). Garbage without
    cycles is freed at once as ever; cycles, at the next young collection."""
    gc.set_threshold(YOUNG_COLLECTION, *gc.get_threshold()[1:])
    atexit.register(gc.freeze)  # registered first: run after every other exit handler


def main() -> None:
    """The `vislab` command (a process of its own)."""
    from vislab.progress import other_process

    settle_collector()
    code = run(sys.argv[1:])
    if other_process():
        end_other_process(code)
    sys.exit(code)


def end_other_process(code: int) -> None:
    """A job's process other than the main one, its share done (the main one gathered it):
    its process group closed, its logs and output flushed, it ends here, without the
    interpreter's teardown. There torch's C++ threads have now and then aborted the process
    ("terminate called without an active exception"), and Lightning's launcher, seeing a
    process fail, then killed the main one while it was still evaluating."""
    import logging
    import os

    distributed = sys.modules.get("torch.distributed")
    if distributed is not None and distributed.is_available() and distributed.is_initialized():
        distributed.destroy_process_group()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
