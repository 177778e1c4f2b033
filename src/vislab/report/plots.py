"""Matplotlib figures for the report, returned as PNG bytes (Agg backend, no display needed)."""

from __future__ import annotations

import io

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["text.parse_math"] = False  # a label with '$' is text, not TeX
    import matplotlib.pyplot as plt

    return plt


def figure_png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(figure)
    return buffer.getvalue()


def confusion_matrix_png(counts: list[list[int]], classes: list[str]) -> bytes:
    plt = _pyplot()
    matrix = np.asarray(counts, dtype=np.float64)
    rows = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)  # share of each true class
    size = max(4.0, 0.45 * len(classes) + 2)
    figure, axes = plt.subplots(figsize=(size, size * 0.85))
    image = axes.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    long_names = max(map(len, classes)) > 3
    axes.set_xticks(range(len(classes)), classes, rotation=90 if long_names else 0)
    axes.set_yticks(range(len(classes)), classes)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    if len(classes) <= 20:
        for (i, j), count in np.ndenumerate(matrix):
            if count:
                color = "white" if rows[i, j] > 0.6 else "black"
                axes.text(j, i, int(count), ha="center", va="center", fontsize=8, color=color)
    figure.colorbar(image, ax=axes, fraction=0.046, label="share of the true class")
    axes.set_title("Confusion matrix (counts; colour = row share)")
    return figure_png(figure)


def per_class_png(per_class: dict[str, dict[str, float]]) -> bytes:
    plt = _pyplot()
    classes = list(per_class)
    positions = np.arange(len(classes))
    figure, axes = plt.subplots(figsize=(max(5.0, 0.5 * len(classes) + 2), 3.2))
    for offset, metric in zip((-0.27, 0, 0.27), ("precision", "recall", "f1"), strict=True):
        values = [per_class[c][metric] for c in classes]
        axes.bar(positions + offset, values, width=0.27, label=metric)
    axes.set_xticks(positions, classes, rotation=90 if len(classes) > 12 else 0)
    axes.set_ylim(0, 1.05)
    axes.set_ylabel("score")
    axes.legend(loc="lower right", ncols=3, fontsize=8)
    axes.set_title("Per-class precision, recall and F1")
    return figure_png(figure)


def image_grid_png(images: list, captions: list[str], columns: int = 6) -> bytes:
    plt = _pyplot()
    rows = max(1, int(np.ceil(len(images) / columns)))
    figure, grid = plt.subplots(rows, columns, figsize=(columns * 1.9, rows * 2.1), squeeze=False)
    for axes in grid.ravel():
        axes.axis("off")
    for axes, image, caption in zip(grid.ravel(), images, captions, strict=False):
        axes.imshow(image, interpolation="nearest" if min(image.size) < 64 else "antialiased")
        axes.set_title(caption, fontsize=7)
    figure.tight_layout()
    return figure_png(figure)


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
        axes.plot(x[big], y[big], "o-", color=color, markersize=5, label=name)
        axes.plot(x[~big], y[~big], "o", color=color, markerfacecolor="white", markersize=5)
        if index == 0:
            for xi, yi, ni in zip(x, y, n, strict=True):
                axes.annotate(
                    f"{int(ni)}",
                    (xi, yi),
                    textcoords="offset points",
                    xytext=(4, -10),
                    fontsize=8,
                    color="#444",
                )
    axes.set_xlabel("confidence (top-class probability)")
    axes.set_ylabel("accuracy (95% interval per bin)")
    axes.set_xlim(0, 1.02)
    axes.set_ylim(-0.02, 1.05)
    axes.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3, frameon=False)
    axes.set_title(
        f"Reliability (numbers: images per bin; hollow: under {JOINED_BIN})", fontsize=10
    )
    return figure_png(figure)


def forest_png(spec: str, metric: str, groups: dict, overall: dict) -> bytes:
    """Each group's value with its interval, and the overall value as a vertical line."""
    plt = _pyplot()
    names = list(groups)
    figure, axes = plt.subplots(figsize=(5.6, 0.4 * len(names) + 1.3))
    for row, name in enumerate(names):
        entry = groups[name]["metrics"][metric]
        if entry["value"] is None:  # no ground truth of this kind in the group
            continue
        low, high = entry.get("ci", [entry["value"], entry["value"]])
        color = "#c0392b" if groups[name]["small"] else "#1f4e79"
        axes.plot([low, high], [row, row], color=color, linewidth=2)
        axes.plot(entry["value"], row, "o", color=color)
    axes.axvline(overall["value"], color="grey", linestyle="--", linewidth=1)
    axes.set_yticks(range(len(names)), [f"{n} (n={groups[n]['n']})" for n in names])
    axes.invert_yaxis()
    axes.set_xlabel(f"{metric} (dashed: all images; red: group under 30)")
    axes.set_title(f"{metric} by {spec}")
    return figure_png(figure)
