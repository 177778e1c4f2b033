"""`vislab explain` on a finished run."""

from __future__ import annotations

import pandas as pd
from PIL import Image

from vislab.cli import run


def test_explain_writes_overlays_scores_and_a_page(trained_run, tmp_path, capsys):
    images = trained_run.parent.parent / "data" / "images"
    out = tmp_path / "maps"
    assert (
        run(
            [
                "explain",
                str(trained_run),
                str(images / "red"),
                "--target",
                "true",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    table = pd.read_csv(out / "explanations.csv")
    assert len(table) == 12 and set(table["target"]) == {"red"}
    assert {"road", "road_random_map", "probability", "prediction"} <= set(table.columns)
    overlay = Image.open(out / table["overlay"].iloc[0])
    assert overlay.size == (32, 32) and overlay.mode == "RGB"
    assert "data:image/png;base64," in (out / "explanations.html").read_text()
    assert "mean ROAD" in capsys.readouterr().out


def test_explain_errors_are_clear(trained_run, tmp_path, capsys):
    image = next((trained_run.parent.parent / "data" / "images" / "red").iterdir())
    assert (
        run(["explain", str(trained_run), str(image), "--target", "zebra", "--out", str(tmp_path)])
        == 1
    )
    assert "--target 'zebra' is not a class" in capsys.readouterr().err
    assert (
        run(
            [
                "explain",
                str(trained_run),
                str(image),
                "--method",
                "attention",
                "--out",
                str(tmp_path),
            ]
        )
        == 1
    )
    assert "needs a ViT" in capsys.readouterr().err
    assert (
        run(["explain", str(trained_run), str(image), "--method", "magic", "--out", str(tmp_path)])
        == 2  # not a method: a usage error
    )
