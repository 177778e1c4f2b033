"""`vislab embed`: CLIP image embeddings of a folder or manifest, as a table for analysis.

One row per image: `id`, `path`, `label` (when known), the metadata columns, then
`embedding_0` .. `embedding_{d-1}` (L2-normalised, float32). Parquet keeps the types; the
columns load straight into pandas, R (arrow) or scikit-learn.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vislab.data.sources import SampleTable
from vislab.errors import InputError
from vislab.multimodal.clip import Clip, image_embeddings


def embed_table(clip: Clip, table: SampleTable, batch_size: int = 32) -> np.ndarray:
    chunks = []
    for start in range(0, len(table), batch_size):
        images = [table.read(i) for i in range(start, min(start + batch_size, len(table)))]
        chunks.append(image_embeddings(clip, images, batch_size))
    return np.concatenate(chunks).astype(np.float32)


def embeddings_frame(table: SampleTable, embeddings: np.ndarray) -> pd.DataFrame:
    columns = pd.DataFrame(
        embeddings, columns=[f"embedding_{k}" for k in range(embeddings.shape[1])]
    )
    return pd.concat([table.frame.reset_index(drop=True), columns], axis=1)


def readable_source(source: str) -> SampleTable:
    """The folder or manifest, every image checked first: a bad file stops nothing half-way."""
    from vislab.data.images import image_problem
    from vislab.data.sources import source_from_path

    table = source_from_path(source, require_label=False)
    bad = [f"  - {p}: {why}" for p in table.frame["path"] if (why := image_problem(p))]
    if bad:
        raise InputError(
            f"{len(bad)} image(s) cannot be read; fix or remove them:\n" + "\n".join(bad[:20])
        )
    return table
