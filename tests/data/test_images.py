"""Robust decoding: every mode becomes upright 8-bit RGB; unusable files get a reason."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vislab.data.images import image_problem, read_image
from vislab.errors import InputError


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((10, 20, 3), dtype=np.uint8)  # 20 wide, 10 high
    pixels[:, :5] = 255  # white band on the left
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    image.save(tmp_path / "rotated.jpg", exif=exif, quality=100)
    upright = read_image(tmp_path / "rotated.jpg")
    assert upright.size == (10, 20)  # width and height swapped
    top = np.asarray(upright)[:5].mean()
    assert top > 200  # the left band is now at the top


@pytest.mark.parametrize(
    ("mode", "make"),
    [
        ("L", lambda: Image.new("L", (8, 6), 128)),
        ("P", lambda: Image.new("RGB", (8, 6), (10, 200, 30)).convert("P")),
        ("CMYK", lambda: Image.new("CMYK", (8, 6), (0, 255, 255, 0))),
        ("I;16", lambda: Image.fromarray(np.full((6, 8), 65535, dtype=np.uint16))),
        ("RGBA", lambda: Image.new("RGBA", (8, 6), (255, 0, 0, 0))),
    ],
)
def test_every_mode_becomes_rgb(tmp_path, mode, make):
    image = make()
    suffix = ".tif" if mode == "CMYK" else ".png"
    image.save(tmp_path / f"x{suffix}")
    rgb = read_image(tmp_path / f"x{suffix}")
    pixels = np.asarray(rgb)
    assert rgb.mode == "RGB" and pixels.shape == (6, 8, 3) and pixels.dtype == np.uint8
    if mode == "I;16":
        assert pixels.min() == 255  # full-scale 16-bit white stays white, not clipped noise
    if mode == "RGBA":
        assert (pixels == 255).all()  # fully transparent red composites onto white
    if mode == "CMYK":
        assert pixels[0, 0, 0] > 200 and pixels[0, 0, 1] < 50  # CMYK (0,255,255,0) is red


def test_unusable_files_get_reasons(tmp_path):
    good = tmp_path / "good.png"
    Image.new("RGB", (64, 64), (1, 2, 3)).save(good)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:60])
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("not an image at all")
    assert image_problem(good) is None
    assert image_problem(truncated).startswith(("truncated", "cannot be decoded"))
    assert image_problem(tmp_path / "empty.jpg").startswith("zero bytes")
    assert image_problem(tmp_path / "text.jpg").startswith("not an image")
    assert image_problem(tmp_path / "missing.png").startswith("missing")
    with pytest.raises(InputError, match="text.jpg: not an image"):
        read_image(tmp_path / "text.jpg")
