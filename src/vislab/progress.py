"""Progress on the console for work that takes more than a few seconds.

On a terminal a bar shows the count, the rate and the time left (rich, which typer brings);
when the output is a log (a file, CI), a line at most every `LINE_EVERY` seconds and one at the
end. Work that is over within `BAR_AFTER` seconds shows nothing. Everything goes to stderr, so
that stdout keeps the command's result. `--quiet` on a command (or VISLAB_QUIET=1) silences it
all; errors and results are still printed.

    with Progress(len(paths), "predict", "images") as progress:
        for batch in batches:
            ...
            progress.advance(len(batch))
"""

from __future__ import annotations

import os
import sys
import time

QUIET_VARIABLE = "VISLAB_QUIET"  # also seen by DDP children and data workers
LINE_EVERY = 10.0  # seconds between two progress lines in a log
BAR_AFTER = 1.0  # seconds of work before a bar (or a log's last line) is worth showing


def set_quiet(quiet: bool) -> None:
    if quiet:
        os.environ[QUIET_VARIABLE] = "1"
    else:
        os.environ.pop(QUIET_VARIABLE, None)


def shown() -> bool:
    """Is progress shown at all (not --quiet, and not one of a job's other processes)?"""
    return os.environ.get(QUIET_VARIABLE, "") in ("", "0") and not other_process()


def other_process() -> bool:
    """Is this one of a job's processes other than the main one (by the variables Lightning's
    launcher, torchrun and srun set)? Those stay quiet: the main one reports."""
    for name in ("RANK", "LOCAL_RANK", "NODE_RANK"):
        if os.environ.get(name, "0") not in ("", "0"):
            return True
    return os.environ.get("SLURM_NTASKS", "1") != "1" and os.environ.get("SLURM_PROCID") != "0"


def on_terminal() -> bool:
    return sys.stderr.isatty()


def note(text: str) -> None:
    """A line about the work (not its result) on stderr, unless --quiet."""
    if shown():
        print(text, file=sys.stderr, flush=True)


def batch_size(batch) -> int:
    """The number of items in a batch: vislab's batches end with (or hold) the items'
    positions; a processor's dict holds tensors of one row per item."""
    if hasattr(batch, "shape"):
        return int(batch.shape[0])
    if isinstance(batch, dict):
        return batch_size(batch.get("position", next(iter(batch.values()))))
    if isinstance(batch, (tuple, list)) and batch and isinstance(batch[-1], (tuple, list)):
        return len(batch[-1])  # (images, targets, positions) as lists
    if isinstance(batch, (tuple, list)) and batch and hasattr(batch[-1], "shape"):
        return batch_size(batch[-1])  # [images, labels, positions] as tensors
    return len(batch)


def duration(seconds: float) -> str:
    """`45 s`, `3 min 20 s`, `1 h 05 min`."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class Progress:
    """Counts `total` units of work named `what`: a bar on a terminal, lines in a log."""

    def __init__(self, total: int, what: str, unit: str = "images") -> None:
        self.total, self.what, self.unit = int(total), what, unit
        self.done, self.start = 0, time.monotonic()
        self.last_line = self.start  # the first line after LINE_EVERY seconds
        self.bar = None
        self.shown, self.terminal = shown(), on_terminal()  # asked once, not at every item

    def __enter__(self) -> Progress:
        return self

    def advance(self, count: int = 1) -> None:
        self.done += count
        if not self.shown:
            return
        now = time.monotonic()
        if self.bar is None and self.terminal and now - self.start >= BAR_AFTER:
            self.bar = _rich_bar(self.unit)  # only for work that is not over at once
            self.bar.start()
            self.task = self.bar.add_task(self.what, total=self.total, completed=self.done)
        elif self.bar is not None:
            self.bar.update(self.task, advance=count)
        elif not self.terminal and now - self.last_line >= LINE_EVERY:
            self._line()

    def __exit__(self, *error) -> None:
        if self.bar is not None:
            self.bar.stop()
        elif self.shown and not self.terminal and error[0] is None and self._took_a_while():
            self._line()

    def _took_a_while(self) -> bool:
        return self.last_line > self.start or time.monotonic() - self.start >= BAR_AFTER

    def line(self) -> str:
        """`predict: 500/1,797 images (28 %), 12.3 images/s, 1 min 45 s left`."""
        elapsed = max(time.monotonic() - self.start, 1e-9)
        rate = self.done / elapsed
        text = f"{self.what}: {self.done:,}/{self.total:,} {self.unit}"
        if self.total:
            text += f" ({100 * self.done / self.total:.0f} %)"
        text += f", {rate:.1f} {self.unit}/s"
        if self.done < self.total and rate > 0:
            return f"{text}, {duration((self.total - self.done) / rate)} left"
        return f"{text}, done in {duration(elapsed)}"

    def _line(self) -> None:
        self.last_line = time.monotonic()
        print(self.line(), file=sys.stderr, flush=True)


def _rich_bar(unit: str):
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task) -> Text:
            return Text(f"{task.speed:.1f} {unit}/s" if task.speed else f"- {unit}/s")

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        Rate(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )


def quiet_lightning() -> None:
    """No tips, banners or warnings meant for Lightning's developers on the user's terminal."""
    import logging
    import warnings

    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    logging.getLogger("lightning.fabric").setLevel(logging.WARNING)
    # Lightning 2.6 calls a torch API that torch 2.14 deprecates: not the user's concern.
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
    warnings.filterwarnings("ignore", message=r"You defined a `validation_step` but have no")
    warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode")
    warnings.filterwarnings("ignore", message=r".*does not have many workers which may be")
