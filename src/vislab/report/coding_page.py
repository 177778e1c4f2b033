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
import io
import json
import os
import re
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

import pandas as pd
import yaml

from vislab.errors import InputError
from vislab.files import is_inside, write_atomic

PAGE_FILE = "coding.html"
LARGEST_SIDE = 1024  # px of the embedded image: enough to judge, small enough to e-mail
SMALL_SIDE = 256  # images this small are embedded as PNG (no JPEG blur)


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


def data_uri(image, largest: int = LARGEST_SIDE) -> str:
    """The image as a data: URI, shrunk to `largest` px on its longer side; PNG when small."""
    image = image.convert("RGB")
    if max(image.size) > largest:
        image.thumbnail((largest, largest))
    buffer = io.BytesIO()
    small = max(image.size) <= SMALL_SIDE
    image.save(buffer, format="PNG" if small else "JPEG", quality=88)
    kind = "png" if small else "jpeg"
    return f"data:image/{kind};base64,{base64.b64encode(buffer.getvalue()).decode()}"


def write_coding_page(
    out: Path, sheet: pd.DataFrame, codes: list[Code], coders: list[str], title: str
) -> Path:
    """coding.html in `out` for the sheet's items (`item`, `image`: a file under `out` or
    empty where the image could not be read)."""
    from PIL import Image

    items = []
    for item, name in zip(
        sheet["item"], sheet["image"].astype(object).where(sheet["image"].notna(), ""), strict=True
    ):
        uri = ""
        if name:
            with Image.open(out / name) as image:
                uri = data_uri(image)
        items.append({"item": int(item), "file": name, "image": uri})
    identity = str(sheet["sample_id"].iloc[0]) if "sample_id" in sheet.columns else ""
    data = {
        "page": hashlib.sha256(json.dumps(items).encode()).hexdigest()[:16],  # its autosave
        "sample": identity,  # carried by the download: codes of another sample are refused
        "codes": [vars(c) for c in codes],
        "coders": coders,
        "items": items,
    }
    template = files("vislab.report").joinpath(PAGE_FILE).read_text()
    values = {"__TITLE__": html.escape(title), "__DATA__": script_json(data)}
    page = re.sub("__TITLE__|__DATA__", lambda m: values[m.group(0)], template)  # one pass
    return write_atomic(out / PAGE_FILE, page)


def script_json(data) -> str:
    """JSON to put inside a <script> element: no character of it can close the element, open
    a comment or end a JavaScript line (`<`, `>`, `&`, U+2028/9 written as escapes)."""
    text = json.dumps(data, ensure_ascii=False)
    for character in "<>&\u2028\u2029":
        text = text.replace(character, f"\\u{ord(character):04x}")
    return text
