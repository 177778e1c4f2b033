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
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

import pandas as pd
import yaml

from vislab.errors import InputError
from vislab.files import write_atomic

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
    from vislab.data.images import read_image

    image_path = Path(file) if Path(file).is_absolute() else path.parent / file
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
    for item, name in zip(sheet["item"], sheet["image"].fillna(""), strict=True):
        uri = ""
        if name:
            with Image.open(out / name) as image:
                uri = data_uri(image)
        items.append({"item": int(item), "file": name, "image": uri})
    data = {
        "page": hashlib.sha256(json.dumps(items).encode()).hexdigest()[:16],  # its autosave
        "codes": [vars(c) for c in codes],
        "coders": coders,
        "items": items,
    }
    template = files("vislab.report").joinpath(PAGE_FILE).read_text()
    text = json.dumps(data).replace("</", "<\\/")  # no "</script>" inside the script
    page = template.replace("__TITLE__", html.escape(title)).replace("__DATA__", text)
    return write_atomic(out / PAGE_FILE, page)
