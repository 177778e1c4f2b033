"""`vislab data sample NAME --out DIR`: write a bundled dataset as files a newcomer can use.

The result is what a researcher usually has: a folder of images per class and a manifest CSV
(relative paths, labels, metadata), so every command of the documentation can be tried offline.
"""

from __future__ import annotations

from pathlib import Path

from vislab.data.sources import from_sample
from vislab.errors import InputError
from vislab.files import write_atomic


def export_sample(name: str, out: str | Path, scale: int = 4) -> Path:
    """Write images/<label>/<id>.png (upscaled `scale`x, nearest) and manifest.csv under `out`."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise InputError(f"{out}: the folder exists and is not empty; choose a new --out folder.")
    if name == "shapes":  # detection: generated images of shapes with exact boxes, as COCO
        from vislab.data.shapes import make_shapes

        make_shapes(out)
        return out
    if name == "moving-shapes":  # video: squares moving left, right, up or down
        from vislab.data.videos import make_moving_shapes

        make_moving_shapes(out)
        return out
    table = from_sample(name)
    frame = table.frame.copy()
    paths = []
    for position, row in enumerate(frame.itertuples()):
        relative = Path("images") / str(row.label) / f"{Path(row.id).name}.png"
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        image = table.read(position)
        image.resize((image.width * scale, image.height * scale), resample=0).save(target)
        paths.append(relative.as_posix())
    frame["path"] = paths
    manifest = frame.drop(columns=["id"])[
        ["path", "label", *[c for c in frame if c not in ("id", "path", "label")]]
    ]
    write_atomic(out / "manifest.csv", manifest.to_csv(index=False))
    return out
