"""The perceptual hash (imagehash's pHash, bit for bit), the quality of one look, and the near
copies found by multi-index hashing: every pair within the radius (against all pairs compared
by brute force), and on real photos re-encoded and resized copies found with recall >= 0.98 at
precision >= 0.99."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageFilter

from vislab.data.local_features import feature_pairs, keypoints
from vislab.data.look import Look, hamming, look, look_at, perceptual_hash
from vislab.data.near_copies import copy_clusters, hash_clusters, hash_pairs
from vislab.errors import InputError

TILE = 128


def _photos() -> list[Image.Image]:
    """scikit-image's photos and scikit-learn's two, as RGB (not `cat`: it is `chelsea`, the
    search found)."""
    import skimage.data as data
    from sklearn.datasets import load_sample_images

    names = ["astronaut", "camera", "coffee", "chelsea", "rocket", "coins", "moon",
             "page", "text", "clock", "horse", "immunohistochemistry", "hubble_deep_field",
             "grass", "gravel", "brick", "colorwheel", "retina", "motorcycle_left"]  # fmt: skip
    found = [Image.fromarray(image).convert("RGB") for image in load_sample_images().images]
    for name in names:
        try:
            array = getattr(data, name)()
        except Exception:  # noqa: BLE001 - an image fetched at first use: not offline
            continue
        array = array if array.dtype == np.uint8 else (255 * (array / array.max())).astype(np.uint8)
        found.append(Image.fromarray(array).convert("RGB"))
    return found


def _tiles(side: int) -> list[Image.Image]:
    """Non-overlapping `side` px tiles of the photos: distinct images (flat ones left out)."""
    found = []
    for photo in _photos():
        width, height = photo.size
        for top in range(0, height - side + 1, side):
            for left in range(0, width - side + 1, side):
                tile = photo.crop((left, top, left + side, top + side))
                if "low information" not in _look(tile).problems():
                    found.append(tile)
    return found


@pytest.fixture(scope="module")
def tiles() -> list[Image.Image]:
    found = _tiles(TILE)
    assert len(found) >= 200
    return found


def _look(image: Image.Image) -> Look:
    return look_at(image.convert("L"), *image.size)


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def test_the_hash_is_imagehashs_phash(tiles):
    import imagehash

    for image in tiles[:60]:
        assert perceptual_hash(image.convert("L")) == int(str(imagehash.phash(image)), 16)


def test_the_search_finds_every_pair_within_the_radius():
    rng = np.random.default_rng(0)
    hashes = rng.integers(0, 2**63, 1500, dtype=np.int64).astype(np.uint64) * np.uint64(2)
    hashes |= rng.integers(0, 2, 1500).astype(np.uint64)
    for i in range(0, 600, 2):  # planted pairs at 0-9 bits
        flips = rng.choice(64, size=int(rng.integers(0, 10)), replace=False)
        hashes[i + 1] = hashes[i] ^ np.uint64(sum(1 << int(b) for b in flips))
    for radius in (3, 7):
        found = hash_pairs(hashes, radius)
        near = np.argwhere(np.triu(hamming(hashes[:, None], hashes[None, :]) <= radius, 1))
        assert found.tolist() == near.tolist()
    with pytest.raises(ValueError):
        hash_pairs(hashes, 8)


def test_many_copies_of_one_image_are_one_hash_searched_once():

    rng = np.random.default_rng(3)
    base = rng.integers(0, 2**62, 50, dtype=np.int64).astype(np.uint64)
    hashes = np.concatenate([np.full(20_000, base[0]), base[1:], base[1:3] ^ np.uint64(1)])
    found = hash_clusters(hashes)
    assert (found[:20_000] == 0).all() and found[20_000] == 1
    assert found[-2] == found[20_000] and found[-1] == found[20_001]  # one bit away: copies
    assert len(np.unique(found)) == 50


def test_copies_join_by_a_chain_and_the_rest_stand_alone():
    pairs = np.array([[1, 4], [4, 6], [2, 3]])
    assert copy_clusters(pairs, 7).tolist() == [0, 1, 2, 2, 1, 3, 1]
    assert copy_clusters(np.zeros((0, 2), dtype=np.int64), 3).tolist() == [0, 1, 2]


def test_re_encoded_and_resized_copies_of_real_photos_are_found(tiles):
    rng = np.random.default_rng(1)
    images, source = list(tiles), list(range(len(tiles)))
    for original in rng.choice(len(tiles), size=min(120, len(tiles)), replace=False):
        tile = tiles[original]
        kind = rng.integers(3)
        if kind == 0:
            copy = _jpeg(tile, int(rng.integers(40, 90)))
        else:
            side = int(TILE * rng.uniform(0.5, 1.6))
            copy = tile.resize((side, side), Image.Resampling.BICUBIC)
            copy = _jpeg(copy, int(rng.integers(60, 95))) if kind == 2 else copy
        images.append(copy)
        source.append(int(original))
    hashes = np.array([_look(image).hash for image in images], dtype=np.uint64)
    cluster = hash_clusters(hashes)
    source = np.array(source)
    same_source = source[:, None] == source[None, :]
    same_cluster = cluster[:, None] == cluster[None, :]
    upper = np.triu(np.ones_like(same_source), 1)
    truth, found = same_source & upper, same_cluster & upper
    recall = (truth & found).sum() / truth.sum()
    precision = (truth & found).sum() / found.sum()
    assert recall >= 0.98 and precision >= 0.99, (recall, precision)


@pytest.mark.parametrize("seed", range(8))
def test_the_quality_statistics_are_those_of_the_pixels(seed):
    """Against the statistics taken of the pixels one by one (floats), on random images of
    random sizes and spreads, some larger than the side they are measured at."""
    from vislab.data import look as looks

    rng = np.random.default_rng(seed)
    height, width = rng.integers(1, 400, 2)
    low, high = np.sort(rng.integers(0, 256, 2))
    image = Image.fromarray(rng.integers(low, high + 1, (height, width), dtype=np.uint8))
    found = look_at(image, width, height)
    if max(image.size) > looks.LOOK_SIDE:
        image.thumbnail((looks.LOOK_SIDE, looks.LOOK_SIDE), Image.Resampling.BILINEAR)
    pixels = np.asarray(image, dtype=np.float64)
    shares = np.bincount((pixels // 4).astype(int).ravel(), minlength=64) / pixels.size
    shares = shares[shares > 0]
    if min(pixels.shape) >= 3:
        laplacian = (
            pixels[:-2, 1:-1] + pixels[2:, 1:-1] + pixels[1:-1, :-2] + pixels[1:-1, 2:]
        ) - 4 * pixels[1:-1, 1:-1]
    expected = {
        "brightness": pixels.mean() / 255,
        "dark_share": (pixels < looks.DARK).mean(),
        "bright_share": (pixels > looks.BRIGHT).mean(),
        "contrast": pixels.std() / 255,
        "sharpness": laplacian.var() if min(pixels.shape) >= 3 else 0.0,
        "entropy": -(shares * np.log2(shares)).sum(),
    }
    for name, value in expected.items():
        assert getattr(found, name) == pytest.approx(value, rel=1e-9, abs=1e-12), name


def test_the_quality_problems_of_edited_photos_are_named(tmp_path):
    photo = _photos()[2].resize((400, 300))  # a sharp, well-lit photo
    assert _look(photo).problems() == []
    edits = {
        "dark": ImageEnhance.Brightness(photo).enhance(0.15),
        "bright": ImageEnhance.Brightness(photo).enhance(6.0),
        "blurry": photo.filter(ImageFilter.GaussianBlur(6)),
        "low information": Image.new("RGB", (300, 300), (90, 140, 200)),
        "small": photo.resize((24, 18)),
        "odd aspect": photo.crop((0, 0, 400, 60)),
    }
    for problem, image in edits.items():
        path = tmp_path / f"{problem}.jpg"
        image.save(path, quality=92)
        found = look(path)
        assert problem in found.problems(), (problem, found)
        assert (found.width, found.height) == image.size
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    with pytest.raises(InputError, match="not an image: Pillow cannot identify"):
        look(tmp_path / "broken.jpg")


def test_crops_and_colour_shifts_of_real_photos_are_found_by_their_keypoints():
    """Crops keeping half the area and colour, saturation and brightness changes: recall
    >= 0.8 each; a pair found between two distinct photos' tiles is rare."""
    side = 192
    originals = _tiles(side)
    rng = np.random.default_rng(2)
    images, source, kinds = list(originals), list(range(len(originals))), []
    for original in rng.choice(len(originals), size=min(80, len(originals)), replace=False):
        tile = originals[original]
        if len(kinds) % 2 == 0:
            width = int(side * np.sqrt(0.5))
            left, top = rng.integers(0, side - width + 1, 2)
            copy, kind = tile.crop((left, top, left + width, top + width)), "crop"
        else:
            copy = ImageEnhance.Color(tile).enhance(rng.uniform(0.3, 1.8))
            copy = ImageEnhance.Brightness(copy).enhance(rng.uniform(0.7, 1.3))
            shifted = np.asarray(copy).astype(int)
            shifted[..., 0] = np.clip(shifted[..., 0] + rng.integers(-30, 30), 0, 255)
            copy, kind = Image.fromarray(shifted.astype(np.uint8)), "colour"
        images.append(copy)
        source.append(int(original))
        kinds.append(kind)
    pairs = feature_pairs([keypoints(image.convert("L")) for image in images])
    source, kinds = np.array(source), np.array(kinds)
    found = {(int(i), int(j)) for i, j in pairs}
    copies = np.arange(len(originals), len(images))
    hit = np.array([(int(source[c]), int(c)) in found for c in copies])
    for kind in ("crop", "colour"):
        assert hit[kinds == kind].mean() >= 0.8, (kind, hit[kinds == kind].mean())
    wrong = sum(source[i] != source[j] for i, j in pairs)
    assert wrong <= 0.05 * len(pairs), (wrong, len(pairs))
