"""Every shard of a job has one schema, whether its images gave rows or none (all unreadable,
or no box found): otherwise the folder cannot be read as one table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vislab.engine.loop import POSITION
from vislab.engine.run import _metadata_schema, _typed
from vislab.tasks.jobs import CaptionJob, DetectionJob, ImageJob

ITEMS = pd.DataFrame({"id": ["a", "b"], "path": ["a", "b"], "camera": ["x", None]})
BOX = {"x1": [1.0, 2.0], "y1": [1.0, 2.0], "x2": [3.0, 4.0], "y2": [3.0, 4.0]}
JOBS = {
    "classification": (
        ImageJob(None, ["cat", "dog"], None),
        {
            POSITION: [0, 1],
            "score_cat": np.float32([0.2, 0.9]),
            "score_dog": np.float32([0.8, 0.1]),
        },
    ),
    "detection": (
        DetectionJob(None, ["c0", "c1"], [1, 2], "32", "cpu"),
        {POSITION: [0, 1], "label": [0, 1], "score": np.float32([0.5, 0.6]), **BOX},
    ),
    "captioning": (CaptionJob(None, None, "32", "cpu"), {POSITION: [0], "caption": ["a cat"]}),
}


@pytest.mark.parametrize("task", list(JOBS))
def test_a_shard_without_rows_has_the_schema_of_one_with_rows(task):
    job, rows = JOBS[task]
    schema = _metadata_schema(ITEMS)
    full = _typed(job.table(pd.DataFrame(rows), ITEMS), schema)
    empty = _typed(job.table(pd.DataFrame({POSITION: pd.Series(dtype=np.int64)}), ITEMS), schema)
    assert full.num_rows > 0 and empty.num_rows == 0
    assert empty.schema.remove_metadata() == full.schema.remove_metadata()
