"""The audit's HTML page: a bar chart of shares per attribute and the tables."""

from __future__ import annotations

import html
from functools import partial
from pathlib import Path

import numpy as np

from vislab.files import write_atomic
from vislab.report import plots
from vislab.report.html import STYLE, figure
from vislab.report.html_tables import split_table
from vislab.report.numbers import p_text


def shares_png(spec: str, entry: dict) -> bytes:
    plt = plots._pyplot()
    names = list(entry["groups"])
    shares = [entry["groups"][n]["share"] for n in names]
    flagged = [entry["groups"][n]["under_represented"] for n in names]
    figure, axes = plt.subplots(figsize=(6, 0.35 * len(names) + 1.2))
    colors = ["#c0392b" if f else "#2e86c1" for f in flagged]
    axes.barh(np.arange(len(names)), shares, color=colors)
    axes.set_yticks(np.arange(len(names)), [plots.short(n) for n in names])
    axes.invert_yaxis()
    reference = entry.get("reference", {}).get("groups", {})
    for i, name in enumerate(names):
        if name in reference:
            axes.plot([reference[name]["reference_share"]] * 2, [i - 0.4, i + 0.4], color="black")
    axes.set_xlabel("share of images (red: under-represented; black line: reference share)")
    axes.set_title(plots.short(spec), fontsize=10)
    return plots.figure_png(figure)


def audit_summary_html(result: dict) -> str:
    """The audit's sections (also embedded in run reports)."""
    parts = []
    for spec, entry in result["attributes"].items():
        parts.append(
            f"<h3>{html.escape(spec)}</h3>"
            + figure(partial(shares_png, spec, entry), f"shares of {spec}")
        )
        rows = "".join(
            f"<tr><td>{html.escape(name)}</td><td>{g['count']}</td><td>{g['share']:.3f}</td>"
            f"<td>{'yes' if g['under_represented'] else ''}</td></tr>"
            for name, g in entry["groups"].items()
        )
        parts.append(
            "<table><tr><th>group</th><th>n</th><th>share</th><th>under-represented</th></tr>"
            f"{rows}</table>"
        )
        parts.append(f"<p>Missing: {entry['missing']}.</p>")
        association = entry.get("label_association")
        if association:
            parts.append(association_html(spec, association))
        reference = entry.get("reference")
        if reference:
            parts.append(
                f"<p>Against the reference shares: χ² = {reference['chi2']:.2f}, "
                f"{p_text(reference['p_value'])}.</p>"
            )
    return "".join(parts)


def association_html(spec: str, association: dict) -> str:
    """The label × attribute table (images, and their share of the label's images), then the
    test of association."""
    counts = association["table"]
    values = sorted({value for row in counts.values() for value in row})
    rows = []
    for label, row in counts.items():
        total = sum(row.values())
        cells = [
            f"<td>{row.get(v, 0)}<br><small>{row.get(v, 0) / total:.0%}</small></td>"
            for v in values
        ]
        rows.append((html.escape(label), cells))
    text = (
        f"<p>Label × {html.escape(spec)}: images per label and value (under each count: its "
        "share of the label's images).</p>"
        + split_table("label", [html.escape(v) for v in values], rows, most=6)
    )
    if association.get("chi2") is None:
        return text + "<p>One label or one value only: no test of association.</p>"
    return text + (
        f"<p>χ² = {association['chi2']:.2f}, dof = {association['dof']}, "
        f"{p_text(association['p_value'])}, Cramér's V = {association['cramers_v']:.3f}"
        f"{_sparse(association)}.</p>"
    )


def _sparse(association: dict) -> str:
    few = association.get("expected_below_5", 0)
    return f" ({few} cells expect fewer than 5 images: read the test with care)" if few else ""


def write_audit_page(result: dict, out: str | Path) -> Path:
    thresholds = result["thresholds"]
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>vislab "
        f"audit</title><style>{STYLE}</style></head><body>"
        f"<h1>Representation audit</h1><p>{html.escape(result['source'])}: {result['n']} images. "
        "Under-represented: "
        f"share below {thresholds['min_share']:.0%} or fewer than {thresholds['min_count']} "
        "images.</p>"
        f"{audit_summary_html(result)}</body></html>"
    )
    return write_atomic(Path(out) / "audit.html", page)
