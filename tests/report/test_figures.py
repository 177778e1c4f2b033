"""Every report figure is drawn for a printed page: no wider than PAGE_INCHES, no text under
MIN_TEXT_PT, legends beside the data and never over it; heat maps carry the colour scale their
overlays were painted with."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from vislab.report import plots

DRAWN: list = []  # (what was found wrong) per figure drawn while a test ran


@pytest.fixture
def inspected(monkeypatch):
    """Every figure that reaches figure_png is checked before it is saved."""
    original = plots.figure_png
    DRAWN.clear()

    def checking(figure) -> bytes:
        DRAWN.append(_problems(figure))
        return original(figure)

    monkeypatch.setattr(plots, "figure_png", checking)
    return DRAWN


def _problems(figure) -> list[str]:
    from matplotlib.text import Text

    figure.canvas.draw()
    found = [
        f"text {t.get_text()[:30]!r} at {t.get_fontsize()} pt"
        for t in figure.findobj(Text)
        if t.get_visible() and t.get_text().strip() and t.get_fontsize() < plots.MIN_TEXT_PT
    ]
    legends = [*figure.legends] + [a.get_legend() for a in figure.axes if a.get_legend()]
    for legend in legends:
        box = legend.get_window_extent()
        for axes in figure.axes:
            for patch in axes.patches:
                if box.overlaps(patch.get_window_extent()):
                    found.append(f"the legend covers a bar at {patch.get_x():.2f}")
            for line in axes.lines:
                points = line.get_transform().transform(line.get_xydata())
                if any(box.contains(x, y) for x, y in points):
                    found.append(f"the legend covers the line {line.get_label()!r}")
    return found


def _width_inches(png: bytes) -> float:
    return Image.open(io.BytesIO(png)).size[0] / plots.DPI


def _per_class(count: int, value: float) -> dict:
    return {f"class {k}": {"precision": value, "recall": value, "f1": value} for k in range(count)}


@pytest.mark.parametrize("count", [3, 10, 45])
@pytest.mark.parametrize("value", [0.02, 0.5, 1.0])
def test_per_class_bars_fit_and_the_legend_never_covers_them(inspected, count, value):
    png = plots.per_class_png(_per_class(count, value))
    assert _width_inches(png) <= plots.PAGE_INCHES and inspected == [[]]


@pytest.mark.parametrize("count", [3, 12, 100])
def test_confusion_matrices_fit_with_readable_labels(inspected, count):
    rng = np.random.default_rng(count)
    png = plots.confusion_matrix_png(
        rng.integers(0, 9, (count, count)).tolist(), [f"a class named {k}" for k in range(count)]
    )
    assert _width_inches(png) <= plots.PAGE_INCHES and inspected == [[]]


def _curve(seed: int):
    rng = np.random.default_rng(seed)
    count = rng.integers(0, 40, 15)
    return rng.random(15), rng.random(15), count


def test_reliability_diagrams_keep_the_legend_off_the_bins(inspected):
    curves = {"all": _curve(0), **{f"region=a long group name {k}": _curve(k) for k in range(4)}}
    png = plots.reliability_png(curves)
    assert _width_inches(png) <= plots.PAGE_INCHES and inspected == [[]]


def test_forest_plots_fit_with_long_group_names(inspected):
    groups = {
        f"a group with a rather long name {k}": {
            "n": 20 + k,
            "small": k < 2,
            "metrics": {"accuracy": {"value": 0.5, "ci": [0.4, 0.6]}},
        }
        for k in range(12)
    }
    png = plots.forest_png("a long attribute name", "accuracy", groups, {"value": 0.5})
    assert _width_inches(png) <= plots.PAGE_INCHES and inspected == [[]]


@pytest.mark.parametrize("size", [(24, 24), (200, 50), (400, 60)])
def test_image_grids_fit_with_readable_captions(inspected, size):
    images = [Image.new("RGB", size, (k * 20, 90, 90)) for k in range(9)]
    captions = [f"a_long_file_name_without_spaces_{k}.png\ntrue 3 → 8 p=0.99" for k in range(9)]
    png = plots.image_grid_png(images, captions, scale="gradcam map")
    assert _width_inches(png) <= plots.PAGE_INCHES and inspected == [[]]


@pytest.mark.parametrize("classes", [3, 15])
def test_precision_recall_curves_put_the_legend_beside_them(inspected, classes):
    from vislab.report.detection_page import precision_recall_png

    levels = np.linspace(0, 1, 101)
    curves = np.stack([np.clip(1.2 - levels * (0.5 + k / 10), 0, 1) for k in range(classes)])
    png = precision_recall_png(curves, levels, [f"class {k}" for k in range(classes)])
    assert _width_inches(png) <= plots.PAGE_INCHES and inspected == [[]]


def test_audit_share_bars_fit(inspected):
    from vislab.report.audit_page import shares_png

    entry = {
        "groups": {
            f"a rather long attribute value {k}": {"share": 0.1, "under_represented": k == 0}
            for k in range(10)
        }
    }
    png = shares_png("an attribute", entry)
    assert _width_inches(png) <= plots.PAGE_INCHES and inspected == [[]]


@pytest.mark.parametrize("level", [0.0, 0.2, 0.5, 0.8, 1.0])
def test_the_colour_scale_is_the_one_the_overlays_are_painted_with(level):
    """On a black image, an overlay's colour is the heat colour of the map's level (scaled by
    pytorch-grad-cam so that its largest channel is 255)."""
    from vislab.explanation.cam import overlay

    painted = overlay(np.zeros((8, 8, 3)), np.full((8, 8), level, dtype=np.float32))[0, 0]
    expected = np.asarray(plots.heat_colormap()(level)[:3])
    # one of 256 levels apart at most (255 * 0.5 is 127 for OpenCV, 128 for matplotlib)
    assert painted / painted.max() == pytest.approx(expected / expected.max(), abs=4 / 255)
