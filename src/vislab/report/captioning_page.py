"""The captioning run report: metrics with intervals, groups, and the worst-captioned images
(lowest CIDEr first) with the generated caption beside the references."""

from __future__ import annotations

import html
import io
from pathlib import Path

import pandas as pd

from vislab.data.captions import CaptionTable
from vislab.report.html import embed_png, forest_section, tables_text, write_report_page
from vislab.report.html_tables import groups_section, metrics_table

GALLERY = 12
THUMBNAIL = 160


def _thumbnail(table: CaptionTable, position: int) -> str:
    image = table.read(position)
    if max(image.size) < THUMBNAIL // 2:  # tiny images: enlarged, pixels kept sharp
        scale = (THUMBNAIL // 2) / max(image.size)
        image = image.resize((round(image.width * scale), round(image.height * scale)), 0)
    image.thumbnail((THUMBNAIL, THUMBNAIL))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return embed_png(buffer.getvalue(), "image")


def worst_section(worst: pd.DataFrame, table: CaptionTable, count: int = GALLERY) -> str:
    where = {image_id: position for position, image_id in enumerate(table.frame["id"])}
    rows = []
    for row in worst.head(count).itertuples():
        references = "<br>".join(html.escape(text) for text in row.references.split(" | "))
        rows.append(
            f"<tr><td>{_thumbnail(table, where[row.image_id])}</td>"
            f'<td class="text">{html.escape(str(row.image_id))}</td>'
            f'<td class="text"><b>{html.escape(row.prediction)}</b></td>'
            f'<td class="text">{references}</td>'
            f"<td>{row.CIDEr:.3f}</td><td>{getattr(row, 'BLEU_4', float('nan')):.3f}</td></tr>"
        )
    return (
        "<table><tr><th>image</th><th>id</th><th>generated</th><th>references</th><th>CIDEr</th>"
        f"<th>BLEU-4</th></tr>{''.join(rows)}</table>"
    )


def write_captioning_report(
    run_dir: Path, metrics: dict, worst: pd.DataFrame, table: CaptionTable
) -> Path:
    worst = worst.rename(columns={"BLEU-4": "BLEU_4"})
    sections = [
        f"<p>Task: captioning. Evaluated on {metrics['n']} images (pycocoevalcap's metrics on "
        "PTB-tokenized "
        "captions; CIDEr-D with the document frequencies of the whole reference set). "
        f"{tables_text(run_dir)}</p>",
        "<h2>Metrics</h2>",
        metrics_table(metrics["metrics"]),
    ]
    if metrics.get("groups"):
        sections += [
            "<h2>Groups</h2>",
            forest_section(metrics, names=("CIDEr", "BLEU-4")),
            groups_section(metrics),
        ]
    sections += [
        "<h2>Lowest-scored captions</h2>",
        "<p>Per image, its caption scored alone against its references; lowest CIDEr first.</p>",
        worst_section(worst, table),
    ]
    return write_report_page(run_dir, metrics, sections)
