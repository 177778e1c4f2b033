"""One shard through a model: the items decoded in DataLoader workers, an image that cannot be
read set aside with its reason (the job goes on), every batch through the task's step on the
run's device and precision (Lightning Fabric), the rows made into the shard's table.

What a task gives (`Job`):
- `read(file)`: the model's input for one file, a path or (an image inside a tar archive) a
  binary file object (in a worker; raises InputError to skip it);
- `collate(inputs, positions)`: a batch of inputs, as the task's module takes it;
- `module`: the LightningModule whose `predict_rows(batch)` gives a DataFrame of rows with a
  `position` column (the item within the shard), and where the model itself cannot take an
  item (a processor that rejects the image) a row with its reason in `skip_reason`;
- `table(rows, items)`: the shard's output (a DataFrame or an Arrow table) from the rows and
  the shard's items (`id`, `path`, metadata; their index is each item's place in the source);
- `precision`, `accelerator`: the run's.
Optional: `item_columns` (source columns `read` takes as keywords besides the file, where the
source has them: a video's `start`, `end` and `fps`), `unit` (what an item is, in the
progress: "images" unless said), `reads_archives` (False: items inside tar archives refused),
`file_suffixes` (the `--out` suffixes that make one file, when not only .csv and .parquet),
`as_file(frame)` (the one-file form of the joined shards), `write_file(out, frame)`
(writing it, e.g. as COCO results) and `provenance` (a dict kept in `_progress.json`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from vislab.errors import InputError

POSITION = "position"
SKIP_REASON = "skip_reason"  # a row of an item the model could not take, and why


class Job(Protocol):
    what: str
    module: Any
    precision: str
    accelerator: str

    def read(self, file: str) -> Any: ...

    def collate(self, inputs: list, positions: list[int]) -> Any: ...

    def table(self, rows: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame: ...


@dataclass
class Items(Dataset):
    """The files of one shard: (input, position, None), or (None, position, reason);
    `extras`, where given, the keywords each item's `read` takes besides its file."""

    files: list[str]
    read: Any
    extras: list[dict] | None = None

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, position: int):
        keywords = self.extras[position] if self.extras else {}
        try:
            file = self.files[position]
            if not isinstance(file, str):  # an image inside an archive (engine/archives.py)
                file = file.open()
            return self.read(file, **keywords), position, None
        except InputError as error:
            return None, position, str(error)
        except Exception as error:  # noqa: BLE001 - one bad file never stops the job
            return None, position, f"cannot be read: {type(error).__name__}: {error}"


@dataclass
class Batches:
    """collate_fn: the readable items as the task's batch, and the skipped ones."""

    collate: Any

    def __call__(self, samples):
        good = [(x, k) for x, k, why in samples if why is None]
        skipped = [(k, why) for _, k, why in samples if why is not None]
        batch = self.collate([x for x, _ in good], [k for _, k in good]) if good else None
        return batch, skipped, len(samples)


class Device:
    """The model on the run's accelerator and precision, once for the whole job."""

    def __init__(self, job: Job, device: torch.device | None = None) -> None:
        """On `device` where one of several processes was given one (cuda:LOCAL_RANK)."""
        from lightning.fabric import Fabric

        accelerator, devices = job.accelerator, 1
        if device is not None:
            accelerator = "cuda" if device.type == "cuda" else device.type
            devices = [device.index or 0] if device.type == "cuda" else 1
        self.fabric = Fabric(accelerator=accelerator, devices=devices, precision=job.precision)
        job.module.eval()
        self.module = self.fabric.setup_module(job.module)
        self.module.mark_forward_method("predict_rows")

    def rows(self, batch) -> pd.DataFrame:
        with torch.inference_mode():
            return self.module.predict_rows(self.fabric.to_device(batch))


def run_shard(job: Job, device: Device, items: Items, batch_size: int, workers: int, progress):
    """(rows of the readable items, skipped positions with reasons) for one shard."""
    loader = DataLoader(
        items,
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=Batches(job.collate),
        pin_memory=torch.cuda.is_available(),
        persistent_workers=False,
    )
    parts, skipped = [], []
    for batch, bad, count in loader:
        skipped.extend(bad)
        if batch is not None:
            parts.append(device.rows(batch))
        progress.advance(count)
    rows = pd.concat(parts, ignore_index=True) if parts else None
    if rows is not None and SKIP_REASON in rows.columns:
        refused = rows[SKIP_REASON].notna()
        at, why = rows.loc[refused, POSITION].astype(int), rows.loc[refused, SKIP_REASON]
        skipped = sorted([*skipped, *zip(at.tolist(), why.tolist(), strict=True)])
        rows = rows[~refused].drop(columns=SKIP_REASON).reset_index(drop=True)
    return rows, skipped
