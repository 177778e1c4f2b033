"""What a task gives the collection engine (`vislab.engine.loop.Job`) for runs whose model
takes one image and gives one row: classifiers, CLIP heads, zero-shot runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from vislab.data.images import decode
from vislab.engine.loop import POSITION
from vislab.predictions import predictions_frame, score_column


@dataclass
class ImageReader:
    """A file to the model's input: decoded (a large JPEG at a reduced scale that keeps its
    shorter side at least `least_side`), then the run's evaluation transform."""

    transform: Any
    least_side: int | None = None

    def __call__(self, file: str) -> torch.Tensor:
        return self.transform(decode(file, self.least_side))


def image_batch(inputs: list, positions: list[int]):
    """(images, labels (unknown: -1), positions), as the task modules take a batch."""
    labels = torch.full((len(inputs),), -1, dtype=torch.long)
    return torch.stack(inputs), labels, torch.tensor(positions)


class ImageJob:
    """One image in, the class probabilities out: the predictions table of every item read."""

    what = "predict"

    def __init__(
        self, module, classes, reader: ImageReader, precision="32-true", accelerator="auto"
    ):
        self.module, self.classes, self.read = module, list(classes), reader
        self.precision, self.accelerator = str(precision), accelerator

    def collate(self, inputs: list, positions: list[int]):
        return image_batch(inputs, positions)

    def table(self, rows: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
        scores = [score_column(c) for c in self.classes]
        probabilities = (
            rows[scores].to_numpy(np.float32)
            if len(rows)
            else np.zeros((0, len(scores)), np.float32)
        )
        read = items.iloc[rows[POSITION].to_numpy()]
        found = predictions_frame(read, self.classes, probabilities)
        return found.assign(prediction=found["prediction"].astype("str"))  # text, rows or none


class ClipImages(torch.nn.Module):
    """CLIP's image tower for the engine: a batch of pixels to L2-normalised embeddings."""

    def __init__(self, clip) -> None:
        super().__init__()
        self.clip, self.model = clip, clip.model

    def predict_rows(self, batch) -> pd.DataFrame:
        from vislab.models.clip import encode_pixels

        pixels, _, positions = batch
        features = torch.nn.functional.normalize(encode_pixels(self.clip, pixels).float(), dim=1)
        return pd.DataFrame(
            {POSITION: np.asarray(positions.cpu()), "embedding": list(features.cpu().numpy())}
        )


class EmbedJob:
    """One image in, its CLIP embedding out: the items' columns and `embedding` (a fixed-size
    list of float32, DESIGN's folder layout); one file keeps today's `embedding_0` ...
    columns."""

    what = "embed"
    precision, accelerator = "32-true", "auto"

    def __init__(self, clip) -> None:
        from vislab.models.clip import pixel_transform

        self.module, self.read = ClipImages(clip), ImageReader(pixel_transform(clip))
        self.width = self._width()

    def _width(self) -> int:
        """The embedding's size, from one blank image (a shard of unreadable images only
        still has the column's type)."""
        from PIL import Image

        blank = self.read.transform(Image.new("RGB", (224, 224)))
        with torch.inference_mode():
            rows = self.module.predict_rows((blank[None], None, torch.zeros(1)))
        return int(rows["embedding"][0].shape[0])

    def collate(self, inputs: list, positions: list[int]):
        return image_batch(inputs, positions)

    def table(self, rows: pd.DataFrame, items: pd.DataFrame):
        import pyarrow as pa

        read = items.iloc[rows[POSITION].to_numpy()].reset_index(drop=True)
        table = pa.Table.from_pandas(read, preserve_index=False)
        vectors = np.stack(rows["embedding"].to_list()) if len(rows) else np.zeros((0, 1))
        flat = pa.array(vectors.astype(np.float32).reshape(-1), type=pa.float32())
        column = pa.FixedSizeListArray.from_arrays(flat, self.width)
        return table.append_column("embedding", column)

    def as_file(self, frame: pd.DataFrame) -> pd.DataFrame:
        from vislab.predictions import embeddings_frame

        vectors = np.stack(frame.pop("embedding").to_list()).astype(np.float32)
        return embeddings_frame(frame, vectors)


def model_identity(model: str) -> dict:
    """A model named for a job's plan: its name, and for a local folder each weight file's
    size and modification time (a model changed in place is another job)."""
    from pathlib import Path

    folder = Path(model)
    files = {}
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if path.suffix in (".safetensors", ".bin", ".pt", ".pth"):
                found = path.stat()
                files[path.name] = [found.st_size, found.st_mtime_ns]
    return {"model": str(model), "model_files": files}


class ClassScores(torch.nn.Module):
    """A classifier of images (a CLIP with a zero-shot head) as rows of class probabilities."""

    def __init__(self, model, classes: list[str]) -> None:
        super().__init__()
        self.model, self.classes = model, list(classes)

    def predict_rows(self, batch) -> pd.DataFrame:
        pixels, _, positions = batch
        probabilities = torch.softmax(self.model(pixels).float(), dim=1).cpu().numpy()
        rows = pd.DataFrame(probabilities, columns=[score_column(c) for c in self.classes])
        rows.insert(0, POSITION, np.asarray(positions.cpu()))
        return rows


def image_tensor(file: str) -> torch.Tensor:
    """(3, H, W) float in [0, 1]: what a detector predicts from (it resizes inside itself)."""
    from torchvision.transforms.v2 import functional as F

    return F.to_dtype(F.pil_to_tensor(decode(file)), torch.float32, scale=True)


class DetectionJob:
    """One image in, its boxes out: a row per box (image, class, score, x1 y1 x2 y2, the
    source's metadata); `--out X.json` gives COCO results (image ids: the items' ids)."""

    what = "predict"
    file_suffixes = (".csv", ".parquet", ".pq", ".dta", ".json")

    def __init__(self, module, classes, category_ids, precision, accelerator, coco=None):
        self.module, self.classes, self.categories = module, list(classes), category_ids
        self.read, self.coco = image_tensor, coco  # coco: the task's rows -> COCO results
        self.precision, self.accelerator = str(precision), accelerator

    def collate(self, inputs: list, positions: list[int]):
        return list(inputs), [None] * len(inputs), list(positions)

    def table(self, rows: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
        """`position` is the item's place in the whole source (items keep it as their index)."""
        boxes = ["x1", "y1", "x2", "y2"]
        if not len(rows):
            rows = pd.DataFrame(
                {c: pd.Series(dtype=float) for c in [POSITION, "label", "score", *boxes]}
            )
        at = rows[POSITION].to_numpy(int)
        read = items.iloc[at].reset_index()  # `index`: the position in the source
        found = pd.DataFrame(
            {
                POSITION: read["index"].to_numpy(np.int64),
                "id": read["id"].to_numpy(),
                "path": read["path"].to_numpy(),
                "label": np.array([self.classes[int(k)] for k in rows["label"]], dtype=object),
                "category_id": np.array(
                    [int(self.categories[int(k)]) for k in rows["label"]], dtype=np.int64
                ),
                "score": rows["score"].to_numpy(np.float32),
            }
        )
        for column in boxes:
            found[column] = rows[column].to_numpy(np.float32)
        metadata = read.drop(columns=["index", "id", "path"])
        return pd.concat([found, metadata], axis=1)

    def write_file(self, out, frame: pd.DataFrame) -> None:
        from vislab.files import write_atomic, write_table

        if str(out).lower().endswith(".json"):
            import json

            write_atomic(out, json.dumps(self.coco(frame, None, numbered=False)))
        else:
            write_table(out, frame)


class CaptionJob:
    """One image in, its caption out: `image_id` (the item's id), `path`, `caption` and the
    source's metadata; `--out X.json` gives COCO caption results."""

    what = "caption"
    file_suffixes = (".csv", ".parquet", ".pq", ".dta", ".json")

    def __init__(self, module, processor, precision, accelerator) -> None:
        self.module, self.processor, self.read = module, processor, decode
        self.precision, self.accelerator = str(precision), accelerator

    def collate(self, inputs: list, positions: list[int]) -> dict:
        from vislab.models.captioners import prepare_images

        return {**prepare_images(self.processor, list(inputs)), POSITION: list(positions)}

    def table(self, rows: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
        at = rows[POSITION].to_numpy(int) if len(rows) else np.zeros(0, int)
        read = items.iloc[at].reset_index(drop=True)
        captions = rows["caption"].astype(str).to_numpy() if len(rows) else np.array([], object)
        found = pd.DataFrame({"image_id": read["id"], "path": read["path"], "caption": captions})
        return pd.concat([found, read.drop(columns=["id", "path"])], axis=1)

    def write_file(self, out, frame: pd.DataFrame) -> None:
        import json

        from vislab.files import write_atomic, write_table

        if not str(out).lower().endswith(".json"):
            write_table(out, frame)
            return
        pairs = zip(frame["image_id"], frame["caption"], strict=True)
        write_atomic(out, json.dumps([{"image_id": i, "caption": c} for i, c in pairs], indent=1))
