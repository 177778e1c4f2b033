"""The estimates page (`vislab estimate --report DIR`): DIR/estimates.html with a forest plot of
the naive, coded-only and corrected share per group, the differences and regression tables, the
design and its assumptions in words; DIR/tables/*.csv and *.tex for a paper."""

from __future__ import annotations

import html
import json
from functools import partial
from pathlib import Path

from vislab.files import write_atomic
from vislab.report import plots
from vislab.report.estimates_tables import KINDS
from vislab.report.html import STYLE, figure
from vislab.report.html_tables import cell, split_table
from vislab.report.numbers import p_text

LOOK = {  # estimator: (colour, marker, words)
    "corrected": ("#1f4e79", "o", "corrected"),
    "coded_only": ("#7d3c98", "s", "coded only"),
    "naive": ("#c0392b", "^", "naive (model's labels)"),
}


def counted(result: dict) -> str:
    """What the estimates count: images, or the units of `estimate --unit` (posts)."""
    return f"{result['unit']}s" if result.get("unit") else "images"


def forest_png(spec: str, k: str, groups: dict, overall: dict, units: str = "images") -> bytes:
    """Per group the three estimates of class k's share with their intervals."""
    plt = plots._pyplot()
    names = list(groups)
    fig, axes = plt.subplots(figsize=(4.4, 0.6 * len(names) + 1.2))
    for row, name in enumerate(names):
        for shift, kind in zip((-0.22, 0.0, 0.22), KINDS, strict=True):
            entry = groups[name]["prevalence"][k][kind]
            if entry.get("value") is None:
                continue
            colour, marker, _ = LOOK[kind]
            axes.plot(entry["ci"], [row + shift] * 2, color=colour, linewidth=2)
            axes.plot(entry["value"], row + shift, marker, color=colour)
    if overall["corrected"].get("value") is not None:
        axes.axvline(overall["corrected"]["value"], color="grey", linestyle="--", linewidth=1)
    labels = [
        f"{plots.short(n)}\n{groups[n]['n']} {units}, {groups[n]['n_coded']} coded" for n in names
    ]
    axes.set_yticks(range(len(names)), labels)
    axes.invert_yaxis()
    for kind in KINDS:
        colour, marker, words = LOOK[kind]
        axes.plot([], [], marker, color=colour, label=words, linestyle="-")
    axes.legend(
        loc="upper center", bbox_to_anchor=(0.5, -0.12 - 0.4 / len(names)), ncol=2, frameon=False
    )
    axes.set_xlabel(f"share of '{plots.short(k)}' (dashed: corrected, all {units})")
    axes.set_title(f"{plots.short(k)} by {plots.short(spec)}", fontsize=10)
    return plots.figure_png(fig)


def shown_classes(result: dict) -> list[str]:
    """Every class; of two, the rarer only (the other is its complement)."""
    classes = result["classes"]
    if len(classes) != 2:
        return classes
    share = {k: result["prevalence"][k]["corrected"]["value"] for k in classes}
    return [min(classes, key=lambda k: share[k])]


INDEPENDENT = "corrected_if_independent"  # whole clusters drawn: the interval ignoring them


def prevalence_html(result: dict) -> str:
    first = result["prevalence"][result["classes"][0]]
    kinds = (*KINDS, INDEPENDENT) if INDEPENDENT in first else KINDS
    words = {**{k: LOOK[k][2] for k in KINDS}, INDEPENDENT: "corrected, as if drawn one by one"}
    rows = [
        (html.escape(k), [cell(result["prevalence"][k][kind]) for kind in kinds])
        for k in result["classes"]
    ]
    table = split_table("class", [words[k] for k in kinds], rows)
    if INDEPENDENT not in first:
        return table
    return table + (
        "<p>The last column is the corrected estimate with the interval an analysis would "
        "report that took the coded units for independent draws: the same value and weights. "
        "Where the units of one cluster resemble each other (the model errs on them "
        "together), that interval is too narrow; where they do not, the two are alike. The "
        "design's interval (corrected) is the one to report.</p>"
    )


def groups_html(result: dict, spec: str) -> str:
    groups = result["groups"][spec]
    parts = []
    for k in shown_classes(result):
        overall = result["prevalence"][k]
        drawn = partial(forest_png, spec, k, groups, overall, counted(result))
        parts.append(figure(drawn, f"{k} by {spec}"))
        rows = [
            (
                f"{html.escape(k)}: {LOOK[kind][2]}",
                [_group_cell(g, k, kind) for g in groups.values()],
            )
            for kind in KINDS
        ]
        rows.insert(
            0,
            (
                f"{counted(result)} (coded)",
                [f"<td>{g['n']} ({g['n_coded']})</td>" for g in groups.values()],
            ),
        )
        parts.append(split_table(html.escape(spec), [html.escape(n) for n in groups], rows))
    return "".join(parts)


def _group_cell(group: dict, k: str, kind: str) -> str:
    entry = group["prevalence"][k][kind]
    if entry.get("value") is None:
        return "<td>–<br><small>no coded image</small></td>"
    return cell(entry)


def differences_html(result: dict, spec: str) -> str:
    rows = []
    for k in shown_classes(result):
        for d in result["differences"][spec][k].values():
            a, b = html.escape(str(d["a"])), html.escape(str(d["b"]))
            if d.get("value") is None:
                rows.append(
                    f"<tr><td>{a} − {b}</td><td>{html.escape(k)}</td>"
                    f"<td colspan=3>{html.escape(d['undefined'])}</td></tr>"
                )
                continue
            rows.append(
                f"<tr><td>{a} − {b}</td><td>{html.escape(k)}</td>{cell(d, 0.0)}"
                f"<td>{p_text(d.get('p_value'))}</td><td>{p_text(d.get('p_adjusted'))}</td></tr>"
            )
    head = "<tr><th>groups</th><th>class</th><th>difference</th><th>p</th><th>p (Holm)</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def regression_html(found: dict) -> str:
    head = "".join(f"<th>{LOOK[k][2]}</th>" for k in KINDS)
    rows = []
    for term, entry in found["coefficients"].items():
        cells = "".join(
            f"{cell(entry[k])[:-5]}<br><small>{p_text(entry[k]['p_value'])}</small></td>"
            for k in KINDS
        )
        rows.append(f"<tr><td>{html.escape(term)}</td>{cells}</tr>")
    return (
        f"<p>{html.escape(found['kind'].capitalize())} regression <code>"
        f"{html.escape(found['formula'])}</code>: each coefficient with its interval and p-value "
        "(of zero). Corrected and coded-only intervals are sandwich intervals for the regression "
        "on every image coded; the naive one takes the model's labels for the truth.</p>"
        f"<table><tr><th>term</th>{head}</tr>{''.join(rows)}</table>"
    )


def design_html(result: dict) -> str:
    """The design and the assumptions the intervals rest on, in words."""
    level = f"{result['confidence']:.0%}"
    units = counted(result)
    return (
        f"<p>{result['n_collection']} {units} were labelled by the model"
        f"{_aggregated(result)}; {result['n_coded']} of them were coded by people "
        f"('{html.escape(result['label_column'])}'), {_drawn(result, units)}. "
        f"Intervals are {level} normal intervals.</p><ul>"
        f"<li><b>corrected</b>: {_corrected(result, units)}.</li>"
        "<li><b>coded only</b>: the weighted share among the coded images; unbiased too, but "
        "it does not use the model, so its interval is usually wider.</li>"
        "<li><b>naive</b>: classify-and-count on the model's labels. Its interval only reflects "
        "how many images there are; where the model errs more in one group, it is biased, and "
        "the narrow interval hides it.</li></ul>"
        "<p>Assumptions. (1) The coded images were drawn at random with the recorded "
        "probabilities, and every one of them was coded: images left out, or chosen by hand, "
        "are not a random sample. (2) The people's codes are the truth the estimate is about: "
        "when coders are noisy, the estimate is of what such coders would say, not of what is "
        "in the images; check their agreement (<code>vislab agreement</code>) and resolve "
        "disagreements before estimating. (3) The intervals are for this collection (with the "
        "finite-population correction); a group with few coded images gets an interval as wide "
        f"as its sample allows.{_collapsed(result)}</p>"
    )


def _corrected(result: dict, units: str) -> str:
    """How the corrected estimate weighs the model, in words."""
    unbiased = (
        ". It is unbiased whatever the model gets wrong, and for whom, as long as the coded "
        "sample is random with known probabilities"
    )
    if result["design"] == "adaptive rounds":
        return (
            "per round, the model's count over every image plus the coded images' correction "
            "of its errors (the first round's with power tuning, a weight between 0 and 1; the "
            f"later rounds' with weight 1), averaged over the rounds{unbiased}"
        )
    if result["design"] == "clustered" or result.get("unit"):
        return (
            f"the model's count over every one of the {html.escape(units)}, plus the coded "
            "sample's weighted correction of the model's errors (the model's weight is 1: on so "
            f"few clusters, a weight tuned on the sample would make the interval too narrow)"
            f"{unbiased}"
        )
    return (
        "the model's count over every image, weighted by how much the coded sample shows it "
        "can be trusted (power tuning: a weight between 0 and 1), plus the coded sample's "
        f"weighted correction of the model's errors{unbiased}; a model that tells little gets a "
        "small weight, and the interval is then about as wide as the coded images' own"
    )


def _aggregated(result: dict) -> str:
    if not result.get("unit"):
        return ""
    how = "if any of its images has it" if result["aggregate"] == "any" else "its images' share"
    return f" (a {html.escape(result['unit'])} has a class {how})"


def _drawn(result: dict, units: str) -> str:
    """How the coded sample was drawn, in words."""
    units = html.escape(units)
    if result["design"] == "clustered":
        return (
            f"whole clusters drawn by <code>vislab validation-sample --cluster</code>: each coded "
            f"one is weighted by its stratum's clusters over its coded clusters, the variance is "
            f"the cluster sample's ({result.get('n_clusters_coded', '')} clusters coded), and on "
            "so few clusters the model's weight is not tuned: it is 1"
        )
    if result["design"] == "adaptive rounds":
        return _rounds_drawn(result)
    if result["design"] == "stratified":
        tuned = "; on so few the model's weight is not tuned: it is 1" if result.get("unit") else ""
        return (
            "a stratified random sample drawn by <code>vislab validation-sample</code> (or "
            f"<code>plan-coding</code>): each coded one is weighted by its stratum's {units} "
            f"over its coded {units}{tuned}"
        )
    return (
        "taken as a simple random sample of the collection (no <code>--sample</code> was "
        f"given): every one of the {units} had the same chance to be coded"
    )


def _rounds_drawn(result: dict) -> str:
    """An adaptive sample's rounds, in words."""
    rounds = result["rounds"]
    later = "; ".join(
        f"round {r['round']}: {r['n_coded']} images from {r['draws']} draws, uniform share "
        f"{r['uniform_share']:.2f}"
        for r in rounds[1:]
    )
    weights = ", ".join(f"{r['weight']:.2f}" for r in rounds)
    return (
        f"in {len(rounds)} rounds: a first stratified random sample of {rounds[0]['n_coded']} "
        "(<code>vislab validation-sample</code>), then rounds drawn with <code>--adaptive"
        "</code> from the images not coded yet, with chances that favour those the model was "
        f"least sure of, mixed with a uniform share ({later}). Each round gives its own "
        "corrected estimate (a later one: the coded images' own correction, plus the "
        "Hansen-Hurwitz estimate of the rest's, unbiased whatever the chances), and the "
        f"estimate averages them weighted by the rounds' sizes ({weights})"
    )


def _collapsed(result: dict) -> str:
    groups = result.get("collapsed_strata") or []
    if not groups:
        return ""
    names = "; ".join(", ".join(html.escape(str(s)) for s in group) for group in groups)
    return (
        " Strata with a single coded image cannot show a variance on their own: for the "
        f"variance only, these share one ({names}); each keeps its own weight, and the "
        "interval may be somewhat wider than it would be with two coded images in each."
    )


def provenance_html(result: dict) -> str:
    text = json.dumps(result.get("inputs", {}), indent=1)
    return f"<pre>{html.escape(text)}</pre>"


def write_estimates_page(result: dict, out: str | Path, table_format: str = "csv") -> Path:
    """DIR/estimates.html and DIR/tables/*.csv (or .parquet, .dta: `table_format`), *.tex."""
    from vislab.report.estimates_tables import write_estimate_tables

    out = Path(out)
    sections = [
        "<h1>Estimates from model-coded images</h1>",
        design_html(result),
        "<h2>Prevalence in the whole collection</h2>",
        prevalence_html(result),
    ]
    for spec in result["groups"]:
        sections += [
            f"<h2>By {html.escape(spec)}</h2>",
            groups_html(result, spec),
            f"<h3>Differences between groups of {html.escape(spec)}</h3>",
            "<p>Corrected difference (first group minus second), its interval and "
            "p-value; p (Holm) is adjusted for every comparison of this column.</p>",
            differences_html(result, spec),
        ]
    if "regression" in result:
        sections += ["<h2>Regression</h2>", regression_html(result["regression"])]
    sections += [
        f"<p>Tables for a paper: <code>tables/*.{html.escape(table_format)}</code>, "
        "<code>tables/*.tex</code>.</p>",
        "<h2>Provenance</h2>",
        provenance_html(result),
    ]
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>vislab estimates</title>"
        f"<style>{STYLE}</style></head><body>{''.join(sections)}</body></html>"
    )
    write_estimate_tables(result, out / "tables", table_format)
    return write_atomic(out / "estimates.html", page)
