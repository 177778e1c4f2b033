"""The video run's evaluation and report, and `vislab explain` for video models.

`evaluate_video_run` reads the run's predictions.csv and videos.csv only, so the end of
training and `vislab evaluate RUN_DIR` give the same metrics.json and report.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from vislab.errors import InputError
from vislab.tasks.base import Run


def evaluate_video_run(task, run_dir: Path) -> dict:
    """metrics.json and report.html of a video run, from its saved windows."""
    from vislab.data.videos import VideoTable
    from vislab.evaluation.video import evaluate_video
    from vislab.files import files_of, read_table, write_json
    from vislab.report.video_page import write_video_report
    from vislab.tasks.base import read_run

    run = read_run(run_dir)
    predictions = run_dir / task.predictions_file
    if not predictions.is_file():
        raise InputError(f"{run_dir}: no {task.predictions_file}: is this a finished video run?")
    windows = read_table(predictions)
    settings = run.config.evaluate
    metrics = evaluate_video(
        windows,
        settings.group_by,
        settings.bootstrap,
        settings.confidence,
        settings.seed,
        str(predictions),
    )
    write_json(run_dir / "metrics.json", metrics)
    videos = read_table(run_dir / "videos.csv")
    videos["id"] = videos["id"].astype(windows["video_id"].dtype)
    videos["path"] = files_of(videos["path"], run.config.data.root)
    table = VideoTable(videos, run.classes, "held-out videos")
    write_video_report(run_dir, metrics, windows, table)
    return metrics


def explain_videos(
    task, run: Run, paths: list[Path], method: str, target: str, out: Path
) -> pd.DataFrame:
    """`vislab explain` for a video model: each video's centre clip, a map per frame."""
    from vislab.explanation.cam import overlay
    from vislab.explanation.images import resolve_targets
    from vislab.explanation.video import clip_maps
    from vislab.files import write_atomic
    from vislab.report.gallery import write_overlays_page

    table = task.items(paths)
    config = run.config.model_copy(deep=True)
    config.data.clips_per_video = 1  # the centre clip
    dataset = task.clips(config, table, False, run.preprocessing["normalization"])
    clips = torch.stack([dataset[i][0] for i in range(len(dataset))])  # (B, C, T, H, W)
    with torch.no_grad():
        probabilities = torch.softmax(run.model.eval()(clips).float(), dim=1).numpy()
    targets = resolve_targets(target, probabilities, run.classes, [None] * len(paths))
    maps = clip_maps(run.model, clips, targets, method)  # (B, T, H, W)
    out.mkdir(parents=True, exist_ok=True)
    rows, strips = [], []
    mean, std = (torch.tensor(v).view(3, 1, 1, 1) for v in run.preprocessing["normalization"])
    for index, path in enumerate(paths):
        frames = (clips[index] * std + mean).clamp(0, 1).permute(1, 2, 3, 0).numpy()  # (T, H, W, 3)
        strip = np.concatenate(
            [overlay(f, m) for f, m in zip(frames, maps[index], strict=True)], axis=1
        )
        name = f"{index:04d}_{path.stem}_{method}.png"
        Image.fromarray(strip).save(out / name)
        strips.append(strip)
        rows.append(
            {
                "video": str(path),
                "overlay": name,
                "target": run.classes[targets[index]],
                "prediction": run.classes[int(probabilities[index].argmax())],
                "probability": float(probabilities[index].max()),
            }
        )
    table = pd.DataFrame(rows)
    write_atomic(out / "explanations.csv", table.to_csv(index=False))
    captions = [
        f"{Path(r.video).name}: {r.target} (p={r.probability:.2f})" for r in table.itertuples()
    ]
    description = "Each video's centre clip, one map per frame, for the target class."
    write_overlays_page(strips, captions, method, description, out)
    table.attrs["summary"] = [
        f"{r.video}: {r.target} (p={r.probability:.3f})" for r in table.head(10).itertuples()
    ]
    return table
