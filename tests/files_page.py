"""The JSON examples of docs/reference/files.md against files vislab wrote: every key the page
shows is a key of the real file, with a value of the same kind. A key that names data (a
group, a class, a pair of groups), at the places the test says, is matched by a key at that
place in the real file."""

from __future__ import annotations

import json
import re
from pathlib import Path

PAGE = Path(__file__).resolve().parents[1] / "docs" / "reference" / "files.md"


def page_json(heading: str) -> dict:
    """The JSON block under the page's `## HEADING ...` section."""
    text = PAGE.read_text()
    section = text.split(f"\n## {heading}", 1)[1].split("\n## ", 1)[0]
    return json.loads(re.search(r"```json\n(.*?)```", section, re.S).group(1))


def _kind(value) -> str:
    if isinstance(value, bool) or value is None:
        return type(value).__name__
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def shape_problems(shown, real, data_at: set[str], where: str = "") -> list[str]:
    """What the page shows that the real file has not (empty lists and dicts on the page stand
    for 'as above'). `data_at`: the places whose keys are data (`.groups`, `.groups.*`: `*`
    for any key)."""
    if isinstance(shown, dict) and isinstance(real, dict):
        problems = []
        for key, value in shown.items():
            if where in data_at and real:
                found = key if key in real else next(iter(real))
                problems += shape_problems(value, real[found], data_at, f"{where}.*")
            elif key in real:
                problems += shape_problems(value, real[key], data_at, f"{where}.{key}")
            else:
                problems.append(f"{where}.{key}: not in the file (it has {sorted(real)})")
        return problems
    if shown in ({}, []):
        return []
    if isinstance(shown, list) and isinstance(real, list):
        return [] if len(shown) == len(real) else [f"{where}: {len(shown)} items, not {len(real)}"]
    if _kind(shown) != _kind(real):
        return [f"{where}: the page shows {_kind(shown)}, the file has {_kind(real)}"]
    return []
