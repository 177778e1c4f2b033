"""The example notebooks: run them and write their pages on the site.

Each notebook is a jupytext Markdown file in examples/notebooks/ (readable diffs), paired with
its .ipynb (the same cells, no outputs: open either in Jupyter). Running one executes it in a
fresh folder with a real kernel (nbclient) and writes docs/notebooks/NAME.md: the notebook's
text, its code and every output (text as printed, images as PNG files beside the page).

    python tools/notebooks.py [NAME]... [--write]

checks the notebooks (all, or those named): each runs without an error and prints what its page
shows, numbers aside; `--write` rewrites the pages and the .ipynb pairs.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_console import masked, progress  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "examples" / "notebooks"
PAGES = ROOT / "docs" / "notebooks"
TIMEOUT = 900  # seconds for one cell
WHERE = (
    "The notebook is `examples/notebooks/{name}.ipynb` (or `{name}.md`, which jupytext opens as "
    "a notebook); below, its output as the tests ran it."
)


def notebook_names() -> list[str]:
    return sorted(path.stem for path in SOURCES.glob("*.md"))


def execute(name: str, folder: Path):
    """The notebook run in `folder`, in a kernel of its own, outputs and all (an error in a
    cell raises)."""
    import jupytext
    from nbclient import NotebookClient

    notebook = jupytext.read(SOURCES / f"{name}.md")
    client = NotebookClient(
        notebook,
        timeout=TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(folder)}},
    )
    client.execute(env=kernel_env())  # the kernel's environment; this process's is left alone
    return notebook


def kernel_env() -> dict[str, str]:
    """A reader's fresh kernel: `!vislab ...` finds this environment's vislab, and a --quiet
    that an earlier command left in this process (VISLAB_QUIET) does not silence it."""
    from vislab.progress import QUIET_VARIABLE

    here = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{here}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.setdefault("PYTHONWARNINGS", "ignore")
    env.pop(QUIET_VARIABLE, None)
    return env


def page(name: str, notebook) -> tuple[str, dict[str, bytes]]:
    """The site's page of an executed notebook, and its images (file name -> PNG bytes)."""
    parts = [
        f"<!-- written by tools/notebooks.py from examples/notebooks/{name}.md: edit that -->\n"
    ]
    images: dict[str, bytes] = {}
    for number, cell in enumerate(notebook.cells):
        if cell.cell_type == "markdown":
            if number == 0:  # the title, then where the notebook is
                title, _, rest = cell.source.partition("\n")
                parts.append(f"{title}\n\n{WHERE.format(name=name)}\n{rest}\n")
            else:
                parts.append(cell.source + "\n")
            continue
        if cell.cell_type != "code":
            continue
        parts.append(f"```python\n{cell.source}\n```\n")
        for output in _joined(cell.get("outputs", [])):
            text, image = _output(output)
            if text is not None and text.strip():
                parts.append("```text\n" + text.rstrip("\n") + "\n```\n")
            if image is not None:
                file = f"{name}-{len(images) + 1}.png"
                images[file] = image
                parts.append(f"![An output of the notebook]({file})\n")
    return "\n".join(parts), images


def _joined(outputs: list) -> list:
    """The outputs with each run of printed text as one (the kernel sends a command's lines in
    chunks that fall differently from run to run)."""
    joined: list = []
    for output in outputs:
        if (
            output.get("output_type") == "stream"
            and joined
            and joined[-1].get("output_type") == "stream"
        ):
            joined[-1] = {**joined[-1], "text": joined[-1]["text"] + output.get("text", "")}
        else:
            joined.append(dict(output))
    return joined


def _output(output) -> tuple[str | None, bytes | None]:
    """An output's text (as printed) and PNG image, where it has them."""
    kind = output.get("output_type")
    if kind == "stream":  # progress lines left out, as the console blocks leave them
        lines = output.get("text", "").splitlines()
        return "\n".join(line for line in lines if not progress(line)), None
    if kind in ("execute_result", "display_data"):
        data = output.get("data", {})
        if "image/png" in data:
            return None, base64.b64decode(data["image/png"])
        return data.get("text/plain"), None
    if kind == "error":
        return "\n".join(output.get("traceback", [])), None
    return None, None


def differences(name: str, written: str, fresh: str) -> list[str]:
    """Where the page differs from a fresh run, numbers and runs of spaces aside."""
    old, new = written.splitlines(), fresh.splitlines()
    if [masked(line) for line in old] == [masked(line) for line in new]:
        return []
    found = [
        f"{name}: line {i + 1}: page {a!r}, now {b!r}"
        for i, (a, b) in enumerate(zip(old, new, strict=False))
        if masked(a) != masked(b)
    ]
    if len(old) != len(new):
        found.append(f"{name}: the page has {len(old)} lines, a fresh run {len(new)}")
    return found


def paired(name: str) -> bool:
    """Whether the .ipynb holds the .md's cells."""
    import jupytext
    import nbformat

    ipynb = SOURCES / f"{name}.ipynb"
    if not ipynb.exists():
        return False
    text = jupytext.read(SOURCES / f"{name}.md")
    stored = nbformat.read(ipynb, as_version=4)
    pairs = zip(text.cells, stored.cells, strict=False)
    same = all(a.cell_type == b.cell_type and a.source == b.source for a, b in pairs)
    return same and len(text.cells) == len(stored.cells)


def write_pair(name: str) -> None:
    import jupytext

    notebook = jupytext.read(SOURCES / f"{name}.md")
    jupytext.write(notebook, SOURCES / f"{name}.ipynb", fmt="ipynb")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="Notebooks to run (default: all).")
    parser.add_argument("--write", action="store_true", help="Rewrite the pages and pairs.")
    args = parser.parse_args()
    found: list[str] = []
    for name in args.names or notebook_names():
        with tempfile.TemporaryDirectory(prefix=f"vislab-{name}-") as folder:
            text, images = page(name, execute(name, Path(folder)))
        target = PAGES / f"{name}.md"
        if args.write:
            PAGES.mkdir(exist_ok=True)
            for old in PAGES.glob(f"{name}-*.png"):
                old.unlink()
            target.write_text(text)
            for file, data in images.items():
                (PAGES / file).write_bytes(data)
            write_pair(name)
            print(f"wrote {target.relative_to(ROOT)} and examples/notebooks/{name}.ipynb")
        else:
            written = target.read_text() if target.exists() else ""
            found += differences(name, written, text)
            if not paired(name):
                found.append(f"{name}: {name}.ipynb does not hold {name}.md's cells")
    for difference in found:
        print(difference)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
