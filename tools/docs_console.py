"""The site's console blocks are real output: this runs them and checks (or rewrites) each page.

A console block that follows `<!-- walk: NAME -->` (or several names: `walk: start site`,
the block then goes into each walk) is run: its `$ ` lines are commands (a line
ending in `\\` goes on), run one after another in the walk's own folder, each with its output
(stdout and stderr together) compared with the lines shown under it. A `...` line stands for any
number of lines left out; numbers may differ (timings, speeds, intervals from another machine),
as may runs of spaces; every other character must be what the command prints today. A block
after `<!-- walk: NAME, file: FILE -->` is not run but written as FILE into the walk's folder
(the scripts a page shows are the ones the walk runs). Blocks are run in the order of the site's
navigation, so one walk can go on across pages. A console block that cannot run here says why:
`<!-- not run: REASON -->` (a cluster's scheduler, a network).

    python tools/docs_console.py [--walk NAME]... [--write]

checks every walk (or those named) and prints each difference; `--write` rewrites the pages'
outputs with what the commands print now: the numbers of a block that matches, the whole output
of one that does not (then shorten it with `...` again).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
MARK = re.compile(r"<!--\s*(walk|not run):\s*(.*?)\s*-->")
FENCE = re.compile(r"^```(\w*)\s*$")
NUMBER = re.compile(r"[+-]?\d[\d,]*(?:\.\d+)?(?:e[+-]?\d+)?")
DURATION = re.compile(
    r"\b(?:\d+ h )?(?:\d+ min )?\d+ s\b"
)  # `1 min 05 s` or `3 s`: as fast as it ran
HEX = re.compile(r"\b[0-9a-f]{12,64}\b")  # sample ids, sha256s: they follow the data's numbers
PROGRESS = re.compile(r"^[\w -]+: [\d,]+/[\d,]+ \w+(?: \(\d+ %\))?, [\d.]+ \w+/s(?:, .*)?$")
ELISION = "..."
TIMEOUT = 900  # seconds for one command


@dataclass
class Command:
    """One `$` command of a block and the output lines the page shows under it."""

    text: str
    shown: list[str] = field(default_factory=list)


@dataclass
class Block:
    """A marked fenced block of a page: where it is (its body's first and last line), its walk,
    and what it is: commands to run, or a file to write."""

    page: Path
    start: int  # index of the body's first line
    end: int  # index of the closing fence
    walks: tuple[str, ...]
    file: str | None
    body: list[str]

    def commands(self) -> list[Command]:
        found: list[Command] = []
        lines = iter(self.body)
        for line in lines:
            if line.startswith("$ "):
                text = line[2:]
                while text.endswith("\\"):  # bash reads the line break after it as a space
                    text = text + "\n" + next(lines)
                found.append(Command(text))
            elif found:
                found[-1].shown.append(line)
            else:
                raise ValueError(f"{self.page}: a console block must start with a `$ ` command")
        return found


def nav_pages() -> list[Path]:
    """The site's pages in the navigation's order (mkdocs.yml)."""
    names = re.findall(r":\s*([\w/.-]+\.md)\s*$", (ROOT / "mkdocs.yml").read_text(), re.M)
    return [DOCS / name for name in names]


def blocks(page: Path) -> tuple[list[Block], list[str]]:
    """The page's marked blocks, and the problems: console blocks without a mark."""
    lines = page.read_text().splitlines()
    found, problems, mark, i = [], [], None, 0
    while i < len(lines):
        if match := MARK.search(lines[i]):
            mark = match
        elif fence := FENCE.match(lines[i]):
            close = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            if mark is not None and mark.group(1) == "walk":
                names, _, rest = mark.group(2).partition(",")
                file = rest.split(":", 1)[1].strip() if rest.strip() else None
                body = lines[i + 1 : close]
                found.append(Block(page, i + 1, close, tuple(names.split()), file, body))
            elif mark is None and fence.group(1) == "console":
                name = page.relative_to(DOCS)
                problems.append(f"{name}:{i + 1}: a console block without <!-- walk: NAME -->")
            mark, i = None, close
        elif lines[i].strip():
            mark = None  # a mark belongs to the block right after it
        i += 1
    return found, problems


def masked(line: str) -> str:
    """A line as compared: numbers as 0, runs of spaces as one, no trailing space."""
    return " ".join(NUMBER.sub("0", HEX.sub("#", DURATION.sub("0 s", line))).split())


def match(shown: list[str], real: list[str]) -> list[tuple[int, int]] | None:
    """Where each run of shown lines (between `...` lines) sits in the real output, as
    (shown index, real index) pairs; None if the shown lines are not the real ones. The first
    run starts the output and the last ends it (unless a `...` stands before or after them);
    where a run fits in several places, the place whose lines are most exactly the shown ones
    (numbers included) is taken, so that `8` stays with class 8's lines."""
    segments, current, starts = [], [], []
    for index, line in enumerate(shown):
        if progress(line):
            continue
        if line.strip() == ELISION:
            segments.append((current, starts))
            current, starts = [], []
        else:
            current.append(index)
            starts.append(index)
    segments.append((current, starts))
    if len(segments) == 1 and len(real) != len(segments[0][0]):
        return None
    return _place(segments, 0, 0, shown, real)


def _same_words(a: str, b: str) -> int:
    """How many words two lines share in the same places (`8` in `8  heavy - light`)."""
    return sum(x == y for x, y in zip(a.split(), b.split(), strict=False))


def _place(segments, number: int, position: int, shown, real) -> list[tuple[int, int]] | None:
    """Segments from `number` on placed at or after `position` (see `match`)."""
    if number == len(segments):
        return []
    indices = segments[number][0]
    if not indices:
        return _place(segments, number + 1, position, shown, real)
    size = len(indices)
    candidates = list(range(position, len(real) - size + 1))
    if number == len(segments) - 1:  # the end is anchored
        candidates = [c for c in candidates if c == len(real) - size]
    if number == 0:  # so is the start
        candidates = [c for c in candidates if c == 0]
    fits = []
    for at in candidates:
        lines = [(shown[i], real[at + k]) for k, i in enumerate(indices)]
        if all(masked(a) == masked(b) for a, b in lines):
            fits.append((-sum(_same_words(a, b) for a, b in lines), at))
    for _, at in sorted(fits):
        rest = _place(segments, number + 1, at + size, shown, real)
        if rest is not None:
            return [(i, at + k) for k, i in enumerate(indices)] + rest
    return None


def run(command: str, folder: Path) -> list[str]:
    """The command's output lines (stdout and stderr as a terminal would interleave them)."""
    env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONWARNINGS"] = "ignore"
    env.pop("VISLAB_QUIET", None)  # as a reader's shell: no --quiet left by an earlier command
    done = subprocess.run(
        ["bash", "-c", command],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=TIMEOUT,
    )
    lines = done.stdout.rstrip("\n").splitlines() if done.stdout.strip() else []
    return [line for line in lines if not progress(line)]


def progress(line: str) -> bool:
    """A progress line (`predict: 500/1,797 images (28 %), 12.3 images/s, ...`): a log gets
    one now and then, and the last only when the work took a while, so they are left out of
    what is compared and shown (a terminal shows a bar)."""
    return bool(PROGRESS.match(line))


def as_shown(line: str, folder: Path) -> str:
    """An output line with this machine's folders as a reader's would be."""
    return line.replace(str(folder), "/home/you/study").replace(str(ROOT), "/home/you/vislab")


def renewed(command: Command, real: list[str]) -> list[str]:
    """The shown lines with the real ones put in their places (or the whole real output)."""
    pairs = match(command.shown, real)
    if pairs is None:
        return real
    lines = list(command.shown)
    for shown_at, real_at in pairs:
        lines[shown_at] = real[real_at]
    return [line for line in lines if not progress(line)]


def check(walks: set[str] | None, write: bool, where: Path) -> list[str]:
    """Run the walks (all, or those named) in folders under `where`, page by page in the
    navigation's order; the differences found (and with `write`, the pages rewritten)."""
    differences: list[str] = []
    for page in nav_pages():
        text = page.read_text()
        found, problems = blocks(page)
        differences += problems
        edits = []
        for block in found:
            chosen = [w for w in block.walks if walks is None or w in walks]
            if chosen:
                body = run_block(block, chosen, where, differences)
                if body is not None:
                    edits.append((block, body))
        if write and edits:
            differences += write_page(page, text, edits)
    return differences


def run_block(block: Block, chosen: list[str], where: Path, differences: list[str]):
    """Write a file block into its walks' folders (None), or run a console block in the first
    walk's folder (the others run it too, to go on from there): its body as run today, each
    difference from the page added to `differences`."""
    for name in chosen:
        (where / name).mkdir(exist_ok=True)
    if block.file:
        for name in chosen:
            (where / name / block.file).write_text("\n".join(block.body) + "\n")
        return None
    folder, body = where / chosen[0], []
    for command in block.commands():
        real = [as_shown(line, folder) for line in run(command.text, folder)]
        for other in chosen[1:]:
            run(command.text, where / other)
        if match(command.shown, real) is None:
            differences.append(
                f"{block.page.relative_to(DOCS)}:{block.start}: `$ {command.text}` prints today:\n"
                + "\n".join(real)
                + "\n(the page shows:)\n"
                + "\n".join(command.shown)
            )
            print(differences[-1], end="\n\n", flush=True)
        body += ["$ " + command.text] + renewed(command, real)
    return body


def write_page(page: Path, text: str, edits: list[tuple[Block, list[str]]]) -> list[str]:
    """The page with its blocks' bodies as run today; refused if it changed meanwhile."""
    if page.read_text() != text:
        return [f"{page.relative_to(DOCS)}: edited while its walk ran; not written"]
    lines = text.splitlines()
    for block, body in reversed(edits):
        lines[block.start : block.end] = body
    page.write_text("\n".join(lines) + "\n")
    return []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--walk", action="append", help="Only this walk (repeatable).")
    parser.add_argument("--write", action="store_true", help="Rewrite the pages' outputs.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vislab-docs-") as where:
        found = check(set(args.walk) if args.walk else None, args.write, Path(where))
    print(f"{len(found)} difference(s)" + (" (pages rewritten)" if args.write else ""))
    return 1 if found and not args.write else 0


if __name__ == "__main__":
    sys.exit(main())
