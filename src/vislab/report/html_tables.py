"""The report's HTML tables, laid out for a printed page: a table wider than `MOST_COLUMNS`
data columns is split into several, each repeating the row names."""

from __future__ import annotations

import html

from vislab.report.numbers import p_text

MOST_COLUMNS = 4  # value + interval cells beside a row name fit A4 portrait (190 mm)


def fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}"
    return html.escape(str(value))


def name(text: str) -> str:
    """A metric's or measure's name that may break after an underscore on a narrow page."""
    return html.escape(text).replace("_", "_<wbr>")


def cell(entry: dict, null: float | None = None) -> str:
    """A value with its interval under it (with `null`, the value of "no difference", and
    "no evidence of a difference" where the interval holds it)."""
    ci = entry.get("ci")
    interval = f"<br><small>[{fmt(ci[0])}, {fmt(ci[1])}]</small>" if ci else ""
    return f"<td>{fmt(entry['value'])}{interval}{verdict(ci, null)}</td>"


def verdict(ci, null: float | None) -> str:
    if null is None or not ci:
        return ""
    if ci[0] <= null <= ci[1]:
        return "<br><small>no evidence of<br>a difference</small>"
    return "<br><small><b>differs</b></small>"


def split_table(
    corner: str, columns: list[str], rows: list[tuple[str, list[str]]], most: int = MOST_COLUMNS
) -> str:
    """`rows` of (name HTML, cell HTML per column) as tables of at most `most` columns each.

    `columns` are HTML too; every part repeats the corner and the row names.
    """
    parts = []
    for start in range(0, max(len(columns), 1), most):
        head = "".join(f"<th>{c}</th>" for c in columns[start : start + most])
        body = "".join(
            f"<tr><td>{row_name}</td>{''.join(cells[start : start + most])}</tr>"
            for row_name, cells in rows
        )
        parts.append(f"<table><tr><th>{corner}</th>{head}</tr>{body}</table>")
    return "".join(parts)


def metrics_table(metrics: dict[str, dict]) -> str:
    rows = []
    for metric, entry in metrics.items():
        ci = entry.get("ci")
        interval = f"[{fmt(ci[0])}, {fmt(ci[1])}]" if ci else "–"
        rows.append(
            f"<tr><td>{name(metric)}</td><td>{fmt(entry['value'])}</td><td>{interval}</td></tr>"
        )
    return (
        "<table><tr><th>metric</th><th>value</th><th>interval</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def groups_section(metrics: dict) -> str:
    """Per grouping, a table with a column per group (its size under its name) and a row per
    metric; then the disparities."""
    parts = []
    for spec, groups in metrics.get("groups", {}).items():
        metric_names = list(next(iter(groups.values()))["metrics"]) if groups else []
        columns = [_group_head(group, entry) for group, entry in groups.items()]
        rows = [
            (name(metric), [cell(entry["metrics"][metric]) for entry in groups.values()])
            for metric in metric_names
        ]
        parts.append(f"<h3>by {html.escape(spec)}</h3>" + split_table("metric", columns, rows))
        disparities = metrics.get("disparities", {}).get(spec, {})
        if disparities:
            parts.append(_disparity_table(disparities))
    return "".join(parts)


def _group_head(group: str, entry: dict) -> str:
    small = ' <span class="small">(under 30)</span>' if entry["small"] else ""
    return f"{html.escape(group)}<br><small>n = {entry['n']}</small>{small}"


def _disparity_table(disparities: dict) -> str:
    rows = "".join(
        f"<tr><td>{name(m)}</td>{cell({'value': d['difference'], 'ci': d.get('ci')}, 0.0)}"
        f"<td>{fmt(d['ratio'])}</td><td>{p_text((d.get('homogeneity') or {}).get('p_value'))}</td>"
        f'<td class="text">{html.escape(str(d["highest"]))} / {html.escape(str(d["lowest"]))}'
        "</td></tr>"
        for m, d in disparities.items()
    )
    return (
        "<p>Disparity: the highest group minus the lowest, with an interval that allows for "
        "their having been picked as highest and lowest (simultaneous over every pair of "
        "groups); their ratio; and the p-value of the test that no two groups differ.</p>"
        "<table><tr><th>metric</th><th>difference</th><th>ratio</th><th>p (any difference)</th>"
        f"<th>highest / lowest</th></tr>{rows}</table>"
    )


def no_difference(measure: str) -> float:
    """The value of a fairness measure when the groups do not differ."""
    return 1.0 if measure.endswith("ratio") else 0.0


def fairness_section(metrics: dict) -> str:
    parts = []
    for spec, by_class in metrics.get("fairness", {}).items():
        if not by_class:
            continue
        measures = list(next(iter(by_class.values())))
        columns = [html.escape(m.replace("_", " ")) for m in measures]
        rows = [
            (html.escape(cls), [cell(entry[m], no_difference(m)) for m in measures])
            for cls, entry in by_class.items()
        ]
        parts.append(
            f"<h3>by {html.escape(spec)} (each class against the rest)</h3>"
            + split_table("class", columns, rows)
        )
    return "".join(parts)
