"""The inspection's pass over a manifest of real photo tiles with injected copies: every image
decoded once into its look and visual words, the copies clustered with their originals
(re-encoded, resized, cropped to half the area, colour-shifted), the original the cluster's
representative, copies across splits flagged as leaks, the effective N, an unreadable file
named."""

from __future__ import annotations

import numpy as np
import pandas as pd
from PIL import Image, ImageEnhance

from tests.data.test_near_copies import _jpeg, _tiles
from vislab.data import inspection
from vislab.data.inspection import copies, duplicates, effective_size, see, vocabulary_of
from vislab.data.local_features import NO_WORDS
from vislab.data.sources import source_from_path


def _copy(tile: Image.Image, kind: str, rng: np.random.Generator) -> Image.Image:
    side = tile.width
    if kind == "re-encoded":
        return _jpeg(tile, 55)
    if kind == "resized":
        return tile.resize((int(side * 0.6), int(side * 0.6)), Image.Resampling.BICUBIC)
    if kind == "cropped":
        width = int(side * np.sqrt(0.5))
        left, top = rng.integers(0, side - width + 1, 2)
        return tile.crop((left, top, left + width, top + width))
    return ImageEnhance.Color(ImageEnhance.Brightness(tile).enhance(1.2)).enhance(0.4)


def test_copies_are_clustered_with_their_originals_and_leaks_are_flagged(tmp_path, monkeypatch):
    tiles = _tiles(192)[:60]
    rng = np.random.default_rng(5)
    rows, source = [], []
    for k, tile in enumerate(tiles):
        tile.save(tmp_path / f"tile{k:03d}.jpg", quality=95)
        rows.append({"path": f"tile{k:03d}.jpg", "label": "photo", "split": "train"})
        source.append(k)
    kinds = ["re-encoded", "resized", "cropped", "colour"]
    for n, k in enumerate(rng.choice(len(tiles), 24, replace=False)):
        name = f"copy{n:03d}.jpg"
        _copy(tiles[k], kinds[n % 4], rng).save(tmp_path / name, quality=92)
        rows.append({"path": name, "label": "photo", "split": "test" if n % 3 == 0 else "train"})
        source.append(int(k))
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    rows.append({"path": "broken.jpg", "label": "photo", "split": "train"})
    source.append(-1)
    pd.DataFrame(rows).to_csv(tmp_path / "manifest.csv", index=False)
    table = source_from_path(str(tmp_path / "manifest.csv"))
    centres = vocabulary_of(table)
    seen = see(table, centres)
    monkeypatch.setattr(inspection, "PROCESSES_FROM", 1)  # seen again, in two processes
    again = see(table, centres, processes=2)
    assert again.looks == seen.looks and again.problems == seen.problems
    np.testing.assert_array_equal(again.words.words, seen.words.words)
    np.testing.assert_array_equal(again.words.starts, seen.words.starts)
    assert seen.looks[-1] is None and seen.problems[-1]  # unreadable, with the reason
    assert all(p is None for p in seen.problems[:-1])
    clusters = copies(table, seen, len(centres))
    source = np.array(source)
    copied = np.arange(len(tiles), len(tiles) + 24)
    joined = np.mean([clusters[c] == clusters[source[c]] for c in copied])
    assert joined >= 0.9, joined
    originals = clusters[: len(tiles)]
    assert len(set(originals)) == len(tiles)  # no two distinct tiles joined
    assert effective_size(clusters) == len(tiles) + 1 + int(round((1 - joined) * 24))
    found = duplicates(table.frame, seen, clusters)
    assert list(found.columns) == [
        "path",
        "cluster",
        "representative",
        "split",
        "leaks",
        "position",
    ]
    chosen = found[found["representative"]]
    assert chosen["path"].str.startswith("tile").all()  # the original: the most pixels, first
    leaking = found.groupby("cluster")["split"].nunique() > 1
    assert (found.set_index("cluster")["leaks"].groupby(level=0).first() == leaking).all()
    assert leaking.any()


def test_pairs_close_by_embedding_are_confirmed_on_keypoints_and_joined(tmp_path):
    """`also` (pairs the embeddings find): a crop that neither the hash nor any words join is
    clustered with its original once confirmed; a pair of distinct tiles stays apart."""
    tiles = _tiles(192)[:6]
    for k, tile in enumerate(tiles):
        tile.save(tmp_path / f"tile{k}.jpg", quality=95)
    _copy(tiles[0], "cropped", np.random.default_rng(1)).save(tmp_path / "crop.jpg", quality=92)
    names = [f"tile{k}.jpg" for k in range(len(tiles))] + ["crop.jpg"]
    pd.DataFrame({"path": names, "label": "photo"}).to_csv(tmp_path / "m.csv", index=False)
    table = source_from_path(str(tmp_path / "m.csv"))
    seen = see(table, NO_WORDS)  # no visual words: copies by hash, and by `also`
    crop = len(tiles)
    alone = copies(table, seen, 0)
    assert alone[crop] != alone[0]  # the hash does not join a crop
    joined = copies(table, seen, 0, also=np.array([[0, crop], [1, 2]]))
    assert joined[crop] == joined[0] and joined[1] != joined[2]


def test_confirmation_decodes_each_image_of_its_pairs_once_in_flat_memory(monkeypatch):
    """Groups of 3 images scattered over 600 positions, every pair of a group a candidate:
    in the sharing order, with room for 8 images' keypoints and 4 pairs at a time, each image
    is decoded once (in the pairs' own order, an image's later pairs come hundreds of pairs
    after its first); the agreeing pairs come back as asked."""
    from vislab.data import inspection

    rng = np.random.default_rng(0)
    groups = rng.permutation(600)[:120].reshape(40, 3)
    candidates = np.sort(np.concatenate([groups[:, [0, 1]], groups[:, [0, 2]], groups[:, [1, 2]]]))
    candidates = np.unique(candidates, axis=0)  # as the search gives them: sorted
    decoded = []
    monkeypatch.setattr(inspection, "_keypoints_of", lambda t, p: decoded.append(p) or p)
    monkeypatch.setattr(inspection.features, "agree", lambda a, b: (a + b) % 3 == 0)
    monkeypatch.setattr(inspection, "PAIRS_AT_A_TIME", 4)
    monkeypatch.setattr(inspection, "CACHED", 8)
    found = inspection.confirmed(None, candidates)
    assert sorted(decoded) == sorted(set(groups.ravel().tolist()))
    np.testing.assert_array_equal(found, candidates[candidates.sum(axis=1) % 3 == 0])
    order = inspection.sharing_order(candidates)
    assert sorted(order.tolist()) == list(range(len(candidates)))
