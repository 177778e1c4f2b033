"""The run report: sections, embedded figures, tables for a paper, and rendering in Chromium."""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from vislab.evaluation.classification_stats import ClassificationData, reliability


def test_report_has_every_section_and_valid_figures(trained_run):
    page = (trained_run / "report.html").read_text()
    for title in (
        "Metrics",
        "Confusion matrix",
        "Calibration",
        "Groups",
        "Fairness",
        "What the model looked at",
        "Data audit of the evaluated images",
        "Data: near copies and quality",
        "Provenance",
    ):
        assert f"<h2>{title}</h2>" in page, title
    figures = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(figures) >= 7
    for encoded in figures:
        assert Image.open(io.BytesIO(base64.b64decode(encoded))).size[0] > 100
    assert "http://" not in page and "https://" not in page  # self-contained, no network


def test_the_title_names_the_run_and_provenance_shows_the_task_settings(trained_run):
    import yaml

    from vislab.config import ONLY_FOR

    page = (trained_run / "report.html").read_text()
    assert f"<h1>{trained_run.name} — classification</h1>" in page
    assert f"<title>{trained_run.name} — classification · vislab report</title>" in page
    shown = page[page.index("<h3>config.yaml</h3>") :]
    everything = yaml.safe_load((trained_run / "config.yaml").read_text())
    for dotted in ONLY_FOR:  # detection, captioning, video and zero-shot settings: not shown
        section, _, key = dotted.partition(".")
        assert key in everything[section] if key else section in everything  # the file: all
        assert f"{key or section}:" not in shown, dotted
    for key in ("image_size", "batch_size", "backbone", "bootstrap", "seed"):
        assert f"{key}:" in shown, key


def test_the_data_section_says_where_copies_span_splits_and_escapes_split_names(tmp_path):
    """data_inspection.json as training writes it: counts shown, a split name a manifest gave
    (here with markup) escaped, the console line names near_copies.csv."""
    from vislab.report.html import _data_section
    from vislab.runs import _copy_notices

    near = {
        "effective_n": 97,
        "n_copy_clusters": 3,
        "n_images_in_copy_clusters": 6,
        "n_leaking_clusters": 2,
        "held_out_split": "<b>test</b>",
        "n_held_out_with_copy_in_another_split": 2,
        "method": "perceptual hash",
    }
    inspection = {"near_copies": near, "quality": {"dark": 4, "<i>odd</i>": 1}}
    (tmp_path / "data_inspection.json").write_text(json.dumps(inspection))
    page = "".join(_data_section(tmp_path))
    assert "6 images in 3 cluster(s) of near copies; effective N 97." in page
    assert "2 cluster(s) span splits: 2 &lt;b&gt;test&lt;/b&gt; image(s) have a copy" in page
    assert "dark 4, &lt;i&gt;odd&lt;/i&gt; 1" in page and "<b>" not in page
    (line,) = _copy_notices(tmp_path, inspection)
    assert str(tmp_path / "near_copies.csv") in line and "2 <b>test</b> image(s)" in line
    near.update(n_leaking_clusters=0, n_held_out_with_copy_in_another_split=0)
    (tmp_path / "data_inspection.json").write_text(json.dumps(inspection))
    assert "No cluster spans splits." in "".join(_data_section(tmp_path))
    assert _copy_notices(tmp_path, inspection) == []
    assert _data_section(tmp_path / "elsewhere") == []  # a run from before: no section


def test_tables_for_a_paper(trained_run):
    metrics = json.loads((trained_run / "metrics.json").read_text())
    table = pd.read_csv(trained_run / "tables" / "metrics.csv")
    assert table.set_index("metric")["value"].to_dict()["accuracy"] == pytest.approx(
        metrics["metrics"]["accuracy"]["value"]
    )
    groups = pd.read_csv(trained_run / "tables" / "groups.csv")
    assert set(groups["group"]) == {"north", "south"}
    latex = (trained_run / "tables" / "metrics.tex").read_text()
    assert "\\begin{table}" in latex and "accuracy" in latex and "95\\% CI" in latex
    assert (trained_run / "tables" / "fairness.csv").is_file()
    assert "explanations" in metrics and metrics["explanations"]["method"] == "gradcam"


def test_metrics_json_has_the_shape_the_docs_show(trained_run):
    from tests.files_page import page_json, shape_problems

    written = json.loads((trained_run / "metrics.json").read_text())
    data_at = {".groups", ".groups.*", ".disparities"}
    assert shape_problems(page_json("metrics.json"), written, data_at) == []


def test_the_tables_in_the_format_the_config_asks(trained_run, tmp_path):
    """evaluate.table_format: dta writes tables/*.dta (for Stata) with the CSV tables' values,
    and the page names them."""
    import shutil

    import yaml

    from vislab.files import read_table
    from vislab.training import evaluate_run

    run = shutil.copytree(trained_run, tmp_path / "run")
    shutil.rmtree(run / "tables")
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["evaluate"]["table_format"] = "dta"
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    evaluate_run(run)
    written = {path.suffix for path in (run / "tables").iterdir()}
    assert written == {".dta", ".tex"}
    assert "tables/*.dta" in (run / "report.html").read_text()
    for name in ("metrics", "groups", "per_class"):
        expected = pd.read_csv(trained_run / "tables" / f"{name}.csv", keep_default_na=False)
        found = read_table(run / "tables" / f"{name}.dta")
        assert list(found.columns) == list(expected.columns), name
        for column in expected.columns:
            if pd.api.types.is_numeric_dtype(expected[column]):
                np.testing.assert_allclose(found[column], expected[column], rtol=1e-12)
            else:
                assert found[column].astype(str).tolist() == expected[column].tolist()


def test_reliability_points_equal_a_direct_binning():
    rng = np.random.default_rng(0)
    scores = rng.dirichlet(np.ones(3), 200)
    labels = rng.integers(0, 3, 200)
    frame = pd.DataFrame({"label": labels, "prediction": scores.argmax(axis=1)})
    for k in range(3):
        frame[f"score_{k}"] = scores[:, k]
    confidence, accuracy, count = reliability(ClassificationData(frame))
    top = scores.max(axis=1)
    bins = np.clip(np.ceil(top * 15).astype(int) - 1, 0, 14)
    for b in np.unique(bins):
        chosen = bins == b
        assert count[b] == chosen.sum()
        assert confidence[b] == pytest.approx(top[chosen].mean())
        assert accuracy[b] == pytest.approx((scores.argmax(axis=1) == labels)[chosen].mean())


def test_report_renders_in_headless_chromium(browser, trained_run):
    browser.get((trained_run / "report.html").as_uri())
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1200, "height": 3000, "deviceScaleFactor": 1, "mobile": False},
    )
    shot = Image.open(io.BytesIO(browser.get_screenshot_as_png()))
    pixels = np.asarray(shot.convert("L"), dtype=float)
    assert pixels.shape == (3000, 1200)
    assert (pixels < 200).mean() > 0.03  # text and figures drawn, not a blank page
    # the confusion matrix (dark blue cells) is painted: some strongly coloured pixels exist
    colour = np.asarray(shot.convert("RGB"), dtype=float)
    assert ((colour[:, :, 2] - colour[:, :, 0]) > 80).sum() > 500


def test_a_label_with_dollar_signs_is_drawn_as_text():
    """matplotlib would read 'cost $5_$' as TeX and fail at drawing time; labels are text."""
    from vislab.report import plots

    png = plots.confusion_matrix_png([[3, 1], [0, 4]], ["cost $5_$ each", "price $^$"])
    assert png.startswith(b"\x89PNG")


def test_a_figure_that_cannot_be_drawn_costs_only_itself():
    from vislab.report.html import figure

    def broken() -> bytes:
        raise TypeError("no boxes to draw")

    note = figure(broken, "precision-recall curves")
    assert "could not be drawn" in note and "TypeError: no boxes to draw" in note
    assert figure(lambda: None, "nothing") == ""


def test_the_reliability_diagram_draws_bins_of_one_image_and_of_all_right():
    from vislab.report import plots

    confidence = np.array([0.35, 0.0, 0.72, 0.98])
    accuracy = np.array([1.0, 0.0, 0.0, 1.0])  # a bin of one right image, one of one wrong one
    count = np.array([1, 0, 1, 300])
    png = plots.reliability_png({"all": (confidence, accuracy, count)})
    assert Image.open(io.BytesIO(png)).size[0] > 300
