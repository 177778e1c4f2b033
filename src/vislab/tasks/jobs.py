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


class ImageJob:
    """One image in, the class probabilities out: the predictions table of every item read."""

    what = "predict"

    def __init__(self, module, classes: list[str], reader: ImageReader, config) -> None:
        self.module, self.classes, self.read = module, list(classes), reader
        self.precision = str(config.train.precision)
        self.accelerator = config.train.accelerator

    def collate(self, inputs: list, positions: list[int]):
        labels = torch.full((len(inputs),), -1, dtype=torch.long)
        return torch.stack(inputs), labels, torch.tensor(positions)

    def table(self, rows: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
        scores = [score_column(c) for c in self.classes]
        probabilities = rows[scores].to_numpy() if len(rows) else np.zeros((0, len(scores)))
        read = items.iloc[rows[POSITION].to_numpy()]
        return predictions_frame(read, self.classes, probabilities)
