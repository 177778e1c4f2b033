"""coding.html: the page a coder codes the sample in. One self-contained file (the images and
the codebook inside it: no server, works offline, can be e-mailed), one image at a time, the
codes as buttons and keys, "unsure" and a note, progress, autosave in the browser, and a button
that downloads `coded_<coder>.csv` (item, image, <coder>, <coder>_note) for `vislab estimate`
and `vislab agreement`.

A codebook (`--codebook codebook.yaml`) gives each code a definition and example images:

    codes:
      - name: police
        definition: A uniformed police officer is visible, whole or in part.
        examples: [examples/police_1.jpg, examples/police_2.jpg]  # beside the codebook
      - name: none
        definition: No police officer is visible.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

import pandas as pd
import yaml

from vislab.data.images import SHOWN_SIDE
from vislab.errors import InputError
from vislab.files import is_inside, write_atomic

PAGE_FILE = "coding.html"
PAGE_BYTES = 24_000_000  # a page's size at most (images inside): it opens in seconds
PAGE_ITEMS = 500  # and at most this many items a page


@dataclass
class Code:
    name: str
    definition: str = ""
    examples: list[str] = field(default_factory=list)  # data: URIs


def codes_of_classes(classes: list[str]) -> list[Code]:
    return [Code(str(k)) for k in classes]


def read_codebook(path: str | Path) -> list[Code]:
    """The codes of a codebook file; every mistake names the file and the code."""
    path = Path(path)
    try:
        content = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise InputError(f"{path}: cannot read the codebook ({error}).") from None
    entries = content.get("codes") if isinstance(content, dict) else content
    if not isinstance(entries, list) or not entries:
        raise InputError(f"{path}: give a list of codes under 'codes:' (name, definition).")
    codes = [_code(entry, i, path) for i, entry in enumerate(entries)]
    names = [c.name for c in codes]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        raise InputError(f"{path}: code(s) {doubled} are listed twice.")
    if "unsure" in names:
        raise InputError(f"{path}: 'unsure' is the page's own choice; do not list it as a code.")
    return codes


def _code(entry, index: int, path: Path) -> Code:
    if not isinstance(entry, dict) or not str(entry.get("name") or "").strip():
        raise InputError(f"{path}: code {index + 1} has no name (each code: name, definition).")
    name = str(entry["name"]).strip()
    examples = entry.get("examples") or []
    if not isinstance(examples, list):
        raise InputError(f"{path}: code '{name}': examples must be a list of image files.")
    return Code(
        name, str(entry.get("definition") or ""), [_example(e, name, path) for e in examples]
    )


def _example(file, name: str, path: Path) -> str:
    """An example image beside the codebook, as a data: URI. The page is meant to be sent to
    coders: a path that leads out of the codebook's folder (`../`, an absolute path elsewhere)
    would put another file of yours into it, and is refused."""
    from vislab.data.images import read_image

    folder = path.resolve().parent
    image_path = Path(os.path.normpath(folder / str(file)))
    if not is_inside(str(image_path), folder):
        raise InputError(
            f"{path}: code '{name}', example {file}: the path leads out of the codebook's folder "
            f"{folder}. Copy the example images beside the codebook (the page carries them to "
            "every coder)."
        )
    try:
        return data_uri(read_image(image_path), largest=400)
    except InputError as error:
        raise InputError(f"{path}: code '{name}', example {file}: {error}") from None


def data_uri(image, largest: int = SHOWN_SIDE) -> str:
    """The image as a data: URI, shrunk to `largest` px on its longer side; PNG when small."""
    from vislab.data.images import for_people

    content, suffix = for_people(image, largest)
    return file_uri(content, suffix)


def file_uri(content: bytes, suffix: str) -> str:
    kind = "png" if suffix.lower() == ".png" else "jpeg"
    return f"data:image/{kind};base64,{base64.b64encode(content).decode()}"


def write_coding_page(
    out: Path, sheet: pd.DataFrame, codes: list[Code], coders: list[str], title: str
) -> list[Path]:
    """coding.html in `out` for the sheet's items (`item`, `image`: a file under `out` or empty
    where the image could not be read); past PAGE_BYTES of images or PAGE_ITEMS items, the
    sample goes on in coding-2.html, coding-3.html, ... (each page opens in seconds, and each
    downloads its own part). Returns the pages."""
    identity = str(sheet["sample_id"].iloc[0]) if "sample_id" in sheet.columns else ""
    images = sheet["image"].astype(object).where(sheet["image"].notna(), "").astype(str).tolist()
    items = [int(item) for item in sheet["item"]]
    sizes = [4 * -(-(out / name).stat().st_size // 3) if name else 0 for name in images]  # base64
    parts = pages_of(sizes)
    names = [PAGE_FILE if k == 0 else f"coding-{k + 1}.html" for k in range(len(parts))]
    template = files("vislab.report").joinpath(PAGE_FILE).read_text()
    written = []
    for k, (start, end) in enumerate(parts):
        chunk = [
            {"item": items[i], "file": images[i], "image": embedded_image(out, images[i])}
            for i in range(start, end)
        ]
        data = {
            "page": hashlib.sha256(json.dumps(chunk).encode()).hexdigest()[:16],  # its autosave
            "sample": identity,  # carried by the download: codes of another sample are refused
            "part": k + 1,
            "pages": names,
            "codes": [vars(c) for c in codes],
            "coders": coders,
            "items": chunk,
        }
        written.append(write_atomic(out / names[k], render(template, title, data)))
    return written


def render(template: str, title: str, data: dict) -> str:
    """The page: its placeholders replaced in one pass (a title that reads like one stays
    text), the title escaped for HTML, the data for a script element."""
    values = {"__TITLE__": html.escape(title), "__DATA__": script_json(data)}
    return re.sub("__TITLE__|__DATA__", lambda m: values[m.group(0)], template)


def pages_of(sizes: list[int]) -> list[tuple[int, int]]:
    """[start, end) of each page: at most PAGE_ITEMS items and PAGE_BYTES of embedded images
    (`sizes`; one image larger than that has a page of its own)."""
    parts, start, total = [], 0, 0
    for index, size in enumerate(sizes):
        if index > start and (total + size > PAGE_BYTES or index - start >= PAGE_ITEMS):
            parts.append((start, index))
            start, total = index, 0
        total += size
    parts.append((start, len(sizes)))
    return parts


def embedded_image(out: Path, name: str) -> str:
    """The image file as a data: URI: as it is when the sheet's images were written for people
    (JPEG or PNG of at most 1,024 px), re-encoded otherwise."""
    from PIL import Image

    if not name:
        return ""
    path = out / name
    with Image.open(path) as image:
        ready = image.format in ("JPEG", "PNG") and max(image.size) <= SHOWN_SIDE
        if not ready or path.stat().st_size > 1_500_000:
            return data_uri(image)
    return file_uri(path.read_bytes(), ".png" if image.format == "PNG" else ".jpg")


def script_json(data) -> str:
    """JSON to put inside a <script> element: no character of it can close the element, open
    a comment or end a JavaScript line (`<`, `>`, `&`, U+2028/9 written as escapes)."""
    text = json.dumps(data, ensure_ascii=False)
    for character in "<>&\u2028\u2029":
        text = text.replace(character, f"\\u{ord(character):04x}")
    return text
