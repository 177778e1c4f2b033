"""One look at each image, in one decode at reduced size: its perceptual hash and what its
pixels say of its quality (`vislab data inspect`).

The hash is the DCT hash (pHash, as imagehash computes it, tested bit for bit): the gray image
resized to 32 x 32 (Lanczos), its 2-D DCT, and of the 8 x 8 lowest frequencies one bit each,
set where the coefficient is above their median. A
re-encoded or resized copy changes few bits (on photos, at most 8 of 64 in the tests), another
image about half. An image with almost no structure (a flat sky, a blank page) has low
frequencies near zero whose signs are noise: its hash says little, and it is reported as low
information rather than trusted for copies.

Quality, on the gray image at most LOOK_SIDE px: brightness (mean, 0-1), the shares of nearly
black and nearly white pixels (an image mostly one or the other is dark or bright), contrast
(standard deviation, 0-1), sharpness (variance of the Laplacian, in gray levels squared, at
LOOK_SIDE px, so that it does not depend on the file's size), entropy (bits, of the 64-bin
histogram) and the original width and height.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from vislab.errors import InputError

HASH_SIDE = 32  # px: the gray image the DCT is taken of
LOOK_SIDE = 256  # px: the longer side the quality is measured at
DARK, BRIGHT = 26, 230  # gray levels: a pixel below / above is black / white
MOSTLY = 0.6  # share of the pixels black (white): a dark (bright) image
BLURRY = 60.0  # variance of the Laplacian below: blurry (sharp photos: hundreds to thousands)
LOW_INFORMATION = 3.0  # bits of entropy below: a hash that says little ...
LOW_CONTRAST = 0.1  # ... and a standard deviation (0-1) below: almost one colour (a drawing
# or a digit in two colours has low entropy too, but high contrast: not a quality problem)
SMALLEST_SIDE = 32  # px: a side below: too small to judge
WIDEST_ASPECT = 4.0  # a side this many times the other: an odd aspect (a banner, a strip)
LEVELS = np.arange(256, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Look:
    hash: int  # 64 bits
    width: int
    height: int
    brightness: float
    dark_share: float  # of the pixels nearly black
    bright_share: float  # of the pixels nearly white
    contrast: float
    sharpness: float
    entropy: float

    def problems(self) -> list[str]:
        """The quality problems, in words (none: an empty list)."""
        found = []
        if self.dark_share >= MOSTLY:
            found.append("dark")
        if self.bright_share >= MOSTLY:
            found.append("bright")
        if self.entropy < LOW_INFORMATION and self.contrast < LOW_CONTRAST:
            found.append("low information")
        elif self.sharpness < BLURRY:
            found.append("blurry")
        if min(self.width, self.height) < SMALLEST_SIDE:
            found.append("small")
        if max(self.width, self.height) > WIDEST_ASPECT * min(self.width, self.height):
            found.append("odd aspect")
        return found


def look(path: str | Path) -> Look:
    """The image's hash and quality from one decode (a JPEG at a reduced scale); InputError
    with the reason where it cannot be read."""
    return look_at(*open_gray(path))


def open_gray(path: str | Path, side: int = LOOK_SIDE) -> tuple[Image.Image, int, int]:
    """The image in gray (a JPEG decoded at a reduced scale that keeps both sides at least
    `side`) and its original width and height; InputError with the reason where it cannot
    be read."""
    from vislab.data.images import PIXEL_LIMIT, image_problem

    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > PIXEL_LIMIT:
                raise InputError(f"{width} x {height} pixels: too large to decode")
            if image.format == "JPEG":
                image.draft("L", (side, side))
            return image.convert("L"), width, height
    except InputError:
        raise
    except Exception as error:  # noqa: BLE001 - every decoder failure is the image's reason
        raise InputError(image_problem(path) or f"cannot be decoded: {error}") from error


def look_at(gray: Image.Image, width: int, height: int) -> Look:
    """The Look of a gray image (`width`, `height`: the original's size). The statistics of
    the pixels come from their 256-level histogram (one pass over the pixels, in integers)."""
    hashed = perceptual_hash(gray)
    if max(gray.size) > LOOK_SIDE:
        gray = gray.copy()
        gray.thumbnail((LOOK_SIDE, LOOK_SIDE), Image.Resampling.BILINEAR)
    pixels = np.asarray(gray, dtype=np.uint8)
    share = np.bincount(pixels.ravel(), minlength=256) / pixels.size
    mean = float(share @ LEVELS)
    counts = share.reshape(64, 4).sum(axis=1)
    counts = counts[counts > 0]
    return Look(
        hash=hashed,
        width=int(width),
        height=int(height),
        brightness=mean / 255,
        dark_share=float(share[:DARK].sum()),
        bright_share=float(share[BRIGHT + 1 :].sum()),
        contrast=float(np.sqrt(max(share @ (LEVELS - mean) ** 2, 0.0)) / 255),
        sharpness=_laplacian_variance(pixels),
        entropy=float(-(counts * np.log2(counts)).sum()),
    )


def perceptual_hash(gray: Image.Image) -> int:
    """The 64-bit DCT hash of a gray image."""
    from scipy.fft import dctn

    small = gray.resize((HASH_SIDE, HASH_SIDE), Image.Resampling.LANCZOS)
    low = dctn(np.asarray(small, dtype=np.float64), type=2)[:8, :8].ravel()  # imagehash's
    bits = low > np.median(low)
    return int(np.packbits(bits).view(">u8")[0])


def _laplacian_variance(pixels: np.ndarray) -> float:
    """The variance of the 4-neighbour Laplacian inside the image's border (in integers)."""
    if min(pixels.shape) < 3:
        return 0.0
    pixels = pixels.astype(np.int16)
    laplacian = (
        pixels[:-2, 1:-1] + pixels[2:, 1:-1] + pixels[1:-1, :-2] + pixels[1:-1, 2:]
    ) - 4 * pixels[1:-1, 1:-1]
    return float(laplacian.var())


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bits that differ between 64-bit hashes (uint64 arrays, element-wise)."""
    return np.bitwise_count(np.bitwise_xor(a, b)).astype(np.int64)
