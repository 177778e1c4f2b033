"""The video run report: metrics with intervals, groups, and a timeline strip per video
(each window's middle frame with its predicted class and probability)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from vislab.data.videos import VideoTable
from vislab.report.html import figure, forest_section, write_report_page
from vislab.report.html_tables import groups_section, metrics_table

WINDOWS_SHOWN = 5  # windows per video in a timeline, evenly spaced: a strip fits the page


def timeline_png(windows: pd.DataFrame, table: VideoTable, videos: int = 6) -> bytes:
    """Per sampled video, a strip of its windows' middle frames with prediction and probability
    (at most WINDOWS_SHOWN windows, evenly spaced from the first to the last)."""
    from PIL import Image

    from vislab.data.videos import read_frames
    from vislab.report.plots import image_grid_png

    paths = dict(zip(table.frame["id"], table.frame["path"], strict=True))
    rates = dict(zip(table.frame["id"], table.frame["fps"], strict=True))
    columns = min(WINDOWS_SHOWN, int(windows.groupby("video_id").size().max()))
    images, captions = [], []
    for video_id, frame in list(
        windows.sort_values(["video_id", "start"]).groupby("video_id", sort=False)
    )[:videos]:
        frame = frame.iloc[np.unique(np.linspace(0, len(frame) - 1, columns).round().astype(int))]
        middles = [int((row.start + row.end) / 2 * rates[video_id]) for row in frame.itertuples()]
        pixels = read_frames(paths[video_id], middles)
        for index, row in enumerate(frame.itertuples()):
            probability = getattr(row, f"score_{row.prediction}")
            images.append(Image.fromarray(pixels[index]))
            captions.append(
                f"{video_id} ({row.label})\n{row.start:.1f}s: {row.prediction} {probability:.2f}"
            )
        images += [Image.new("RGB", (8, 8), "white")] * (columns - len(frame))
        captions += [""] * (columns - len(frame))
    return image_grid_png(images, captions, columns=columns)


def write_video_report(
    run_dir: Path, metrics: dict, windows: pd.DataFrame, table: VideoTable
) -> Path:
    sections = [
        f"<p>Task: video. Evaluated on {metrics['n']} videos, {metrics['windows']} windows "
        "(video-level scores are the windows' averaged scores; temporal consistency is the share "
        "of "
        "adjacent windows whose predictions agree).</p>",
        "<h2>Metrics</h2>",
        metrics_table(metrics["metrics"]),
    ]
    if metrics.get("groups"):
        forest = forest_section(metrics, names=("top1_accuracy", "temporal_consistency"))
        sections += ["<h2>Groups</h2>", forest, groups_section(metrics)]
    sections += [
        "<h2>Timelines</h2>",
        f"<p>Per video, the middle frame of up to {WINDOWS_SHOWN} windows (evenly spaced), the "
        "predicted class and its probability.</p>",
        figure(lambda: timeline_png(windows, table), "timelines"),
    ]
    return write_report_page(run_dir, metrics, sections)
