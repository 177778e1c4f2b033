"""Every report page prints on A4 portrait: nothing wider than the page, figures at the size
they were drawn, no text under 11 px (Chromium's print layout, through selenium)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.printing import print_problems
from vislab.evaluation.audit import audit
from vislab.evaluation.classification import evaluate_classification
from vislab.report.audit_page import write_audit_page
from vislab.report.html import write_run_report

LONG = "a group with a rather long name that runs on"


def test_the_check_finds_what_does_not_fit(browser, tmp_path):
    """A wide table, a wide block, a figure squeezed below its drawn width and 9 px text: each
    is named."""
    from vislab.report.html import STYLE, embed_png
    from vislab.report.plots import per_class_png

    figure = embed_png(per_class_png({"a": {"precision": 1, "recall": 1, "f1": 1}}), "bars", 2000)
    cells = "".join(f"<td style='white-space:nowrap'>cell {i}</td>" for i in range(99))
    page = tmp_path / "bad.html"
    page.write_text(
        f"<html><head><style>{STYLE}</style></head><body><table><tr>{cells}</tr></table>"
        f"<div style='width:900px'>a wide block</div>{figure}"
        "<p style='font-size:9px'>tiny words</p></body></html>"
    )
    problems = "\n".join(print_problems(browser, page))
    assert 'td "cell 98" ends at' in problems and 'div "a wide block" ends at 90' in problems
    assert "drawn for 2000" in problems
    assert 'p "tiny words" in 9 px text' in problems


def test_the_trained_runs_report_fits_a4(browser, trained_run):
    assert print_problems(browser, trained_run / "report.html") == []


def _many_groups(n: int = 900, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    classes = [f"class number {k} with a long name" for k in range(12)]
    scores = rng.dirichlet(np.ones(len(classes)) * 0.3, n)
    frame = pd.DataFrame(
        {
            "id": [f"img{i}.png" for i in range(n)],
            "label": rng.choice(classes, n),
            "prediction": np.array(classes)[scores.argmax(axis=1)],
            "region": rng.choice([f"{LONG} {k}" for k in range(9)], n),
        }
    )
    for k, name in enumerate(classes):
        frame[f"score_{name}"] = scores[:, k]
    return frame


def test_a_report_of_nine_long_named_groups_and_twelve_classes_fits_a4(browser, tmp_path):
    predictions = _many_groups()
    metrics = evaluate_classification(predictions, group_by=["region"], bootstrap=20)
    page = write_run_report(tmp_path / "wide-run", metrics, predictions)
    # the metrics, the nine groups in three tables (4 + 4 + 1 columns), the disparities
    assert page.read_text().count("<th>metric</th>") == 1 + 3 + 1
    assert print_problems(browser, page) == []


def test_the_audit_page_with_its_label_by_attribute_table_fits_a4(browser, tmp_path):
    frame = _many_groups()
    result = audit(frame, ["region"], source="manifest.csv")
    page = write_audit_page(result, tmp_path / "audit")
    text = page.read_text()
    counts = pd.crosstab(frame["label"], frame["region"])
    for label, row in counts.iterrows():  # the whole table: every label, every count
        assert f"<td>{label}</td>" in text
        for value in row:
            assert f"<td>{value}<br>" in text
    assert print_problems(browser, page) == []


@pytest.fixture
def keep_screenshots(tmp_path, monkeypatch):
    monkeypatch.setenv("VISLAB_SCREENSHOTS", str(tmp_path / "shots"))
    return tmp_path / "shots"


def test_screenshots_and_pdfs_are_kept_when_asked(browser, trained_run, keep_screenshots):
    print_problems(browser, trained_run / "report.html")
    names = sorted(p.suffix for p in keep_screenshots.iterdir())
    assert names == [".pdf", ".png"]


def test_the_estimates_page_of_five_groups_and_a_regression_fits_a4(browser, tmp_path):
    from tests.estimation.test_prevalence import _collection
    from vislab.estimation.estimate import estimate
    from vislab.report.estimates_page import write_estimates_page

    collection = _collection(6000, seed=3)
    rng = np.random.default_rng(0)
    collection["country"] = rng.choice([f"{LONG} {k}" for k in range(5)], len(collection))
    coded = collection.sample(400, random_state=0)[["id", "truth"]].rename(columns={"truth": "A"})
    found = estimate(collection, coded, "A", by=["region", "country"], formula="police ~ region")
    page = write_estimates_page(found, tmp_path / "estimates")
    assert print_problems(browser, page) == []
    tables = sorted(p.name for p in (tmp_path / "estimates" / "tables").iterdir())
    assert tables == [
        f"{n}.{e}"
        for n in ("differences", "groups", "prevalence", "regression")
        for e in ("csv", "tex")
    ]
