"""Robust image decoding: whatever the file, an upright 8-bit RGB image, or a reason why not.

EXIF orientation is applied; grayscale, palette, RGBA (composited on white), CMYK, and 16-bit
images become 8-bit RGB. `image_problem` says in words why a file cannot be used (missing, zero
bytes, not an image, truncated) without raising, for `vislab data check` and the pre-training scan.
"""

from __future__ import annotations

import hashlib
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from vislab.errors import InputError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
PIXEL_LIMIT = 178_956_970  # Pillow's decompression-bomb limit; data.max_image_pixels sets it


def set_pixel_limit(limit: int) -> None:
    """Images with more pixels than `limit` are unusable (a decompression bomb, or an image
    too large to decode safely): `data.max_image_pixels`. Pillow's own check is set to match."""
    global PIXEL_LIMIT
    PIXEL_LIMIT = int(limit)
    Image.MAX_IMAGE_PIXELS = PIXEL_LIMIT // 2 + 1  # Pillow refuses above twice this


@contextmanager
def _open(path: Path):
    """Image.open, and what is done with the image inside the block, without Pillow's warning
    for large images (some formats check again when decoding): vislab's own limit decides."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(path) as image:
            yield image


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB; transparency is composited on white."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        high = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        image = Image.fromarray(np.clip(array / high * 255.0 + 0.5, 0, 255).astype(np.uint8))
    elif image.mode == "F":
        array = np.asarray(image, dtype=np.float64)
        span = float(array.max() - array.min()) or 1.0
        image = Image.fromarray(((array - array.min()) / span * 255.0).astype(np.uint8))
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def read_image(path: str | Path) -> Image.Image:
    """Decode `path` to RGB, raising InputError that names the file and the reason."""
    problem = image_problem(path)
    if problem:
        raise InputError(f"{path}: {problem}")
    with _open(Path(path)) as image:
        image.load()
        return to_rgb(image)


def decode(path: str | Path, least_side: int | None = None) -> Image.Image:
    """Decode `path` to RGB for a model, in one pass (no check beforehand): a JPEG at least
    twice `least_side` on both sides is decoded at a reduced scale (Pillow's `draft`, the
    decoder's DCT scaling, several times faster) that keeps both sides at least `least_side`.
    Raises InputError with the reason (`image_problem`'s words) when it cannot be used."""
    opened = path if hasattr(path, "read") else Path(path)  # a path, or a binary file object
    try:
        with _open(opened) as image:
            if image.width * image.height > PIXEL_LIMIT:
                raise InputError(_too_large(image.width, image.height))
            if least_side and image.format == "JPEG":
                image.draft(image.mode, (least_side, least_side))
            image.load()
            if image.width == 0 or image.height == 0:
                raise InputError("the image has zero width or height")
            return to_rgb(image)
    except InputError:
        raise
    except Exception as error:  # noqa: BLE001 - every decoder failure is a reason to skip
        why = _buffer_problem(opened) if opened is path else image_problem(path)
        raise InputError(why or f"cannot be decoded: {error}") from error


SHOWN_SIDE = 1024  # px: enough for a person to judge, small enough to send
SMALL_SIDE = 256  # images this small stay PNG (no JPEG blur on digits and icons)


def for_people(image: Image.Image, largest: int = SHOWN_SIDE) -> tuple[bytes, str]:
    """The image re-encoded to show a person (a coder's sheet or page): at most `largest` px on
    its longer side, PNG when small and JPEG otherwise, nothing but the pixels. Returns the
    bytes and the file suffix."""
    import io

    image = image.convert("RGB")
    if max(image.size) > largest:
        image.thumbnail((largest, largest))
    buffer = io.BytesIO()
    small = max(image.size) <= SMALL_SIDE
    image.save(buffer, format="PNG" if small else "JPEG", quality=85)
    return buffer.getvalue(), ".png" if small else ".jpg"


def image_problem(path: str | Path) -> str | None:
    """Why `path` cannot be used as an image, or None when it decodes fully."""
    path = Path(path)
    if not path.exists():
        return "missing: no file at this path"
    if not path.is_file():
        return "not a file"
    if path.stat().st_size == 0:
        return "zero bytes: the file is empty"
    return _decoding_problem(path)


def _buffer_problem(buffer) -> str | None:
    """Why an image's bytes (a member of an archive) cannot be used, or None."""
    buffer.seek(0)
    if not buffer.read(1):
        return "zero bytes: the file is empty"
    buffer.seek(0)
    return _decoding_problem(buffer)


def _decoding_problem(source) -> str | None:
    try:
        with _open(source) as image:
            if image.width * image.height > PIXEL_LIMIT:
                return _too_large(image.width, image.height)
            image.load()  # decodes every pixel: catches truncation that verify() misses
            if image.width == 0 or image.height == 0:
                return "the image has zero width or height"
    except Image.DecompressionBombError as error:
        return f"too large: {error} Raise data.max_image_pixels if it is a real image you trust"
    except UnidentifiedImageError:
        return "not an image: Pillow cannot identify the file format"
    except (OSError, SyntaxError, ValueError) as error:
        text = str(error)
        if "truncated" in text.lower():
            return f"truncated: {text}"
        return f"cannot be decoded: {text}"
    return None


def _too_large(width: int, height: int) -> str:
    return (
        f"too large: {width}x{height} = {width * height:,} pixels, over the limit of "
        f"{PIXEL_LIMIT:,} (a decompression bomb?). Raise data.max_image_pixels if it is a "
        "real image you trust"
    )


def file_digest(path: str | Path, chunk: int = 1 << 20) -> str:
    """sha256 of the file's bytes (exact-duplicate detection, data fingerprints)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def screen_images(images, description: str, on_bad_image: str):
    """Positions of the usable images in `images` (id, path) and a table of the others.

    An unusable image stops the run with every name and reason (`on_bad_image: error`), or is
    left out and listed (`skip`): never dropped silently.
    """
    import pandas as pd

    from vislab.errors import InputError

    problems = [image_problem(p) for p in images["path"]]
    skipped = pd.DataFrame(
        [
            {"id": i, "path": p, "reason": why}
            for i, p, why in zip(images["id"], images["path"], problems, strict=True)
            if why
        ]
    )
    if len(skipped) and on_bad_image == "error":
        lines = "\n".join(f"  - {r.path}: {r.reason}" for r in skipped.itertuples())
        raise InputError(
            f"{description}: {len(skipped)} image(s) cannot be used:\n{lines}\n"
            "Fix or remove them, or set data.on_bad_image: skip."
        )
    return [i for i, why in enumerate(problems) if not why], skipped
