"""adjudication.html: the coding page's engine for an adjudicator. Each item the coders
disagreed on, marked unsure or left blank is shown with every coder's code and note; the
adjudicator chooses one final code (by key or click; 'unsure' is not offered: the final code
is a decision) and downloads `adjudicated.csv`: every item of the coded files, the coders'
codes and notes as they were (their agreement stays measurable), `final` (the agreed code, or
the adjudicator's), `final_note`, `_adjudicator` and `_decided` (agreed or adjudicated), for
`vislab estimate --coded adjudicated.csv --label-column final`."""

from __future__ import annotations

import hashlib
import json
from importlib.resources import files
from pathlib import Path

import pandas as pd

from vislab.files import write_atomic
from vislab.report.coding_page import PAGE_FILE, Code, embedded_image, pages_of, render

ADJUDICATION_FILE = "adjudication.html"


def _others(row: pd.Series, coders: list[str]) -> list[dict]:
    def text(value) -> str:
        return "" if pd.isna(value) else str(value)

    return [
        {"coder": c, "code": text(row[c]), "note": text(row.get(f"{c}_note", ""))} for c in coders
    ]


def _image(row: pd.Series, base: Path) -> str:
    """The item's image file under `base` ("" where there is none)."""
    name = "" if pd.isna(row.get("image", "")) else str(row.get("image", ""))
    return name if name and (base / name).is_file() else ""


def write_adjudication_page(
    out: Path,
    settled: pd.DataFrame,
    conflicts: pd.DataFrame,
    codes: list[Code],
    coders: list[str],
    title: str,
    base: Path,
    sample: str = "",
) -> list[Path]:
    """adjudication.html in `out` (adjudication-2.html, ... past a page's images or items;
    the agreed items go into the first page's download). `base`: the folder the items'
    images are under (the sample's). Returns the pages."""
    names_of = [_image(row, base) for _, row in conflicts.iterrows()]
    sizes = [(base / n).stat().st_size * 4 // 3 if n else 0 for n in names_of]
    parts = pages_of(sizes)
    pages = [
        ADJUDICATION_FILE if k == 0 else f"adjudication-{k + 1}.html" for k in range(len(parts))
    ]
    agreed = [
        {"item": int(row["item"]), "file": _image(row, base) or str(row.get("image") or ""),
         "code": row["code"], "others": _others(row, coders)}
        for _, row in settled.iterrows()
    ]  # fmt: skip
    template = files("vislab.report").joinpath(PAGE_FILE).read_text()
    written = []
    rows = list(conflicts.iterrows())
    for k, (start, end) in enumerate(parts):
        chunk = [
            {
                "item": int(row["item"]),
                "file": str(row.get("image") or "") if not pd.isna(row.get("image")) else "",
                "image": embedded_image(base, names_of[i]),
                "reason": row["reason"],
                "others": _others(row, coders),
            }
            for i, (_, row) in enumerate(rows[start:end], start)
        ]
        data = {
            "mode": "adjudicate",
            "page": hashlib.sha256(json.dumps(chunk).encode()).hexdigest()[:16],
            "sample": sample,
            "part": k + 1,
            "pages": pages,
            "codes": [vars(c) for c in codes],
            "coders": coders,
            "items": chunk,
            "settled": agreed if k == 0 else [],
        }
        written.append(write_atomic(out / pages[k], render(template, title, data)))
    return written
