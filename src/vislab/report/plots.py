"""Matplotlib figures for the report, returned as PNG bytes (Agg backend, no display needed).

Every figure is drawn for a printed page: at most `PAGE_INCHES` wide and no text under
`MIN_TEXT_PT`, and the report shows it at its drawn size (`display_width`), so a caption is
never smaller than 11 CSS pixels on screen or on A4/Letter paper.
"""

from __future__ import annotations

import io
import struct

import numpy as np

DPI = 110
PAGE_INCHES = 7.4  # A4 portrait less 1 cm margins: 190 mm = 718 CSS px
FIGURE_INCHES = PAGE_INCHES - 0.3  # a figure's size; saving adds a 0.1 in border each side
MIN_TEXT_PT = 8.5  # 11.3 CSS px at the drawn size
CSS_PX_PER_INCH = 96


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["text.parse_math"] = False  # a label with '$' is text, not TeX
    import matplotlib.pyplot as plt

    return plt


def figure_png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    _pyplot().close(figure)
    return buffer.getvalue()


def display_width(png: bytes) -> int:
    """The CSS width (px) at which a figure drawn at `DPI` shows its text at the size drawn."""
    width = struct.unpack(">I", png[16:20])[0]  # the IHDR chunk of a PNG
    return round(width * CSS_PX_PER_INCH / DPI)


def short(name: str, most: int = 28) -> str:
    """A label cut to `most` characters (the tables keep the whole name)."""
    return name if len(name) <= most else name[: most - 1] + "…"


def _every_kth(count: int, inches: float) -> int:
    """Show every k-th of `count` tick labels so that labels of MIN_TEXT_PT do not overlap."""
    return max(1, int(np.ceil(count * MIN_TEXT_PT * 1.4 / (inches * 72))))


def confusion_matrix_png(counts: list[list[int]], classes: list[str]) -> bytes:
    plt = _pyplot()
    matrix = np.asarray(counts, dtype=np.float64)
    rows = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)  # share of each true class
    size = min(FIGURE_INCHES - 1.6, max(4.0, 0.45 * len(classes) + 2))
    figure, axes = plt.subplots(figsize=(size + 1.2, size * 0.85))
    image = axes.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    step = _every_kth(len(classes), size * 0.75)
    ticks = range(0, len(classes), step)
    names = [short(classes[i], 16) for i in ticks]
    axes.set_xticks(ticks, names, rotation=90 if max(map(len, names)) > 3 else 0)
    axes.set_yticks(ticks, names)
    axes.tick_params(labelsize=MIN_TEXT_PT)
    axes.set_xlabel("predicted" + (f" (every {step}th class named)" if step > 1 else ""))
    axes.set_ylabel("true")
    if len(classes) <= 12:
        for (i, j), count in np.ndenumerate(matrix):
            if count:
                color = "white" if rows[i, j] > 0.6 else "black"
                axes.text(
                    j, i, int(count), ha="center", va="center", fontsize=MIN_TEXT_PT, color=color
                )
    figure.colorbar(image, ax=axes, fraction=0.046, label="share of the true class")
    axes.set_title("Confusion matrix (counts; colour = row share)", fontsize=10)
    return figure_png(figure)


PER_ROW = 20  # classes per row of the per-class figure


def per_class_png(per_class: dict[str, dict[str, float]]) -> bytes:
    """Precision, recall and F1 per class, PER_ROW classes a row; the legend above the bars."""
    plt = _pyplot()
    classes = list(per_class)
    chunks = [classes[i : i + PER_ROW] for i in range(0, len(classes), PER_ROW)]
    width = min(FIGURE_INCHES, max(5.0, 0.3 * len(chunks[0]) + 2))
    figure, grid = plt.subplots(
        len(chunks),
        1,
        figsize=(width, 2.8 * len(chunks) + 0.6),
        squeeze=False,
        layout="constrained",
    )
    for axes, names in zip(grid[:, 0], chunks, strict=True):
        positions = np.arange(len(names))
        for offset, metric in zip((-0.27, 0, 0.27), ("precision", "recall", "f1"), strict=True):
            values = [per_class[c][metric] for c in names]
            axes.bar(positions + offset, values, width=0.27, label=metric, color=_METRIC[metric])
        labels = [short(c, 16) for c in names]
        long_names = len(names) > 10 or max(map(len, labels)) > 6
        axes.set_xticks(positions, labels, rotation=90 if long_names else 0)
        axes.set_ylim(0, 1.0)
        axes.set_ylabel("score")
    grid[0, 0].legend(
        loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=3, frameon=False, fontsize=MIN_TEXT_PT
    )
    figure.suptitle("Per-class precision, recall and F1", fontsize=10)
    return figure_png(figure)


_METRIC = {"precision": "C0", "recall": "C1", "f1": "C2"}


def heat_colormap():
    """The colours of pytorch-grad-cam's overlays (OpenCV's JET), for a figure's colour scale."""
    import cv2
    from matplotlib.colors import ListedColormap

    bgr = cv2.applyColorMap(np.arange(256, dtype=np.uint8)[:, None], cv2.COLORMAP_JET)[:, 0]
    return ListedColormap(bgr[:, ::-1] / 255.0, name="gradcam-jet")


CELL_INCHES = 1.8


def image_grid_png(
    images: list, captions: list[str], columns: int | None = None, scale: str | None = None
) -> bytes:
    """Images in a grid with a caption under each; `scale` labels a heat-map colour scale.

    Rows are as tall as the images' shape needs; wide strips (a video's frames side by side)
    get fewer, wider columns.
    """
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    plt = _pyplot()
    aspect = float(np.median([image.size[1] / image.size[0] for image in images])) if images else 1
    columns = columns or (4 if aspect >= 0.5 else 2 if aspect >= 0.25 else 1)
    rows = max(1, int(np.ceil(len(images) / columns)))
    cell = min(CELL_INCHES * 4 / columns, FIGURE_INCHES / columns)
    wrap = max(8, int(cell * 72 / (MIN_TEXT_PT * 0.6)))  # characters that fit under an image
    lines = max([len(_wrapped(c, wrap).splitlines()) for c in captions] or [1])
    height = cell * min(aspect, 1.5) + lines * MIN_TEXT_PT * 1.3 / 72 + 0.1
    figure, grid = plt.subplots(
        rows,
        columns,
        figsize=(columns * cell, rows * height + (0.7 if scale else 0.0)),
        squeeze=False,
        layout="constrained",
    )
    for axes in grid.ravel():
        axes.axis("off")
    for axes, image, caption in zip(grid.ravel(), images, captions, strict=False):
        axes.imshow(image, interpolation="nearest" if min(image.size) < 64 else "antialiased")
        axes.set_title(_wrapped(caption, wrap), fontsize=MIN_TEXT_PT)
    if scale:
        shown = ScalarMappable(norm=Normalize(0, 1), cmap=heat_colormap())
        bar = figure.colorbar(
            shown,
            ax=grid,
            orientation="horizontal",
            fraction=0.5 / (rows * height + 0.7),
            aspect=40,
            shrink=0.8,
        )
        bar.set_label(scale, fontsize=MIN_TEXT_PT)
        bar.ax.tick_params(labelsize=MIN_TEXT_PT)
    return figure_png(figure)


def _wrapped(caption: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.fill(line, width) or line for line in caption.splitlines())


JOINED_BIN = 10  # bins with fewer images are drawn as hollow points, not joined by the line


def reliability_png(curves: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]) -> bytes:
    """Reliability diagram: accuracy against confidence per bin, one colour per population.

    `curves` maps a name ("all", or a group) to (mean confidence, accuracy, count) per bin.
    Each bin has its 95 % Wilson interval; the line joins only bins of `JOINED_BIN` images or
    more (hollow points: fewer); the first population's bins are labelled with their counts.
    """
    from statsmodels.stats.proportion import proportion_confint

    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(5.2, 5.0))
    axes.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect")
    for index, (name, (confidence, accuracy, count)) in enumerate(curves.items()):
        used = count > 0
        x, y, n = confidence[used], accuracy[used], count[used]
        low, high = proportion_confint(np.round(y * n), n, alpha=0.05, method="wilson")
        color = f"C{index}"
        spread = np.clip([y - low, high - y], 0, None)  # Wilson's bounds hold y; rounding not
        axes.errorbar(x, y, yerr=spread, fmt="none", ecolor=color, alpha=0.6)
        big = n >= JOINED_BIN
        axes.plot(x[big], y[big], "o-", color=color, markersize=5, label=short(name))
        axes.plot(x[~big], y[~big], "o", color=color, markerfacecolor="white", markersize=5)
        if index == 0:
            for xi, yi, ni in zip(x, y, n, strict=True):
                axes.annotate(
                    f"{int(ni)}",
                    (xi, yi),
                    textcoords="offset points",
                    xytext=(4, -10),
                    fontsize=MIN_TEXT_PT,
                    color="#444",
                )
    axes.set_xlabel("confidence (top-class probability)")
    axes.set_ylabel("accuracy (95% interval per bin)")
    axes.set_xlim(0, 1.02)
    axes.set_ylim(-0.02, 1.05)
    axes.legend(
        fontsize=MIN_TEXT_PT, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3, frameon=False
    )
    axes.set_title(
        f"Reliability (numbers: images per bin; hollow: under {JOINED_BIN})", fontsize=10
    )
    return figure_png(figure)


def forest_png(spec: str, metric: str, groups: dict, overall: dict) -> bytes:
    """Each group's value with its interval, and the overall value as a vertical line."""
    from matplotlib.ticker import MaxNLocator

    plt = _pyplot()
    names = list(groups)
    figure, axes = plt.subplots(figsize=(5.0, 0.4 * len(names) + 1.3))
    for row, name in enumerate(names):
        entry = groups[name]["metrics"][metric]
        if entry["value"] is None:  # no ground truth of this kind in the group
            continue
        low, high = entry.get("ci", [entry["value"], entry["value"]])
        color = "#c0392b" if groups[name]["small"] else "#1f4e79"
        axes.plot([low, high], [row, row], color=color, linewidth=2)
        axes.plot(entry["value"], row, "o", color=color)
    if overall.get("value") is not None:
        axes.axvline(overall["value"], color="grey", linestyle="--", linewidth=1)
    axes.set_yticks(range(len(names)), [f"{short(n)} (n={groups[n]['n']})" for n in names])
    axes.invert_yaxis()
    axes.xaxis.set_major_locator(MaxNLocator(5))
    axes.set_xlabel(f"{metric} (dashed: all; red: group under 30)")
    axes.set_title(f"{metric} by {short(spec)}", fontsize=10)
    return figure_png(figure)
