"""Detection sources: COCO, Pascal VOC and YOLO become one table; problems are reported."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from vislab.data.detection import detection_source_from_path, from_coco, from_voc, from_yolo
from vislab.data.shapes import make_shapes
from vislab.errors import InputError


def test_generated_shapes_round_trip_through_coco(tmp_path):
    path = make_shapes(tmp_path / "shapes", count=12, size=64, seed=1)
    table = from_coco(path)
    data = json.loads(path.read_text())
    assert len(table) == 12 and table.classes == ["circle", "square", "triangle"]
    assert sum(len(b) for b in table.boxes) == len(data["annotations"]) and not table.problems
    first = data["annotations"][0]
    x, y, w, h = first["bbox"]
    assert np.allclose(table.boxes[0][0], [x, y, x + w, y + h])
    assert set(table.frame["background"]) <= {"dark", "light"}
    assert table.to_coco()["annotations"][0]["bbox"] == pytest.approx(first["bbox"], abs=1e-4)


def test_coco_problems_are_reported_not_silent(tmp_path):
    path = make_shapes(tmp_path / "shapes", count=4, size=64)
    data = json.loads(path.read_text())
    data["annotations"][0]["bbox"] = [10, 10, 0, 5]  # zero width
    data["annotations"][1]["bbox"] = [50, 50, 30, 30]  # crosses the 64 px border
    data["annotations"][2]["category_id"] = 99
    data["annotations"].append({**data["annotations"][3], "id": 999, "image_id": 777})
    data["images"].append({"id": 50, "file_name": "images/gone.png", "width": 64, "height": 64})
    path.write_text(json.dumps(data))
    table = from_coco(path)
    problems = [(p["problem"], p["action"]) for p in table.problems]
    assert any("width or height <= 0" in text and action == "dropped" for text, action in problems)
    assert any(
        "crosses the image border" in text and action == "clipped to the image"
        for text, action in problems
    )
    assert any("unknown category_id 99" in text for text, _ in problems)
    assert any("image_id 777, which is not in 'images'" in text for text, _ in problems)
    assert any("missing" in text and action == "image left out" for text, action in problems)
    assert len(table) == 4 and table.boxes[0].max() <= 64
    rejected = from_coco(path, outside="reject")
    assert any("lies outside" in p["problem"] for p in rejected.problems)
    from vislab.runs import data_notices  # what a training run says about them on the console

    data = SimpleNamespace(table=table, skipped=[], inspection=None)
    (line,) = data_notices(tmp_path / "run", data)
    assert line.startswith(f"{len(table.problems)} annotation problem(s) (")
    dropped = sum(action == "dropped" for _, action in problems)
    assert f"{dropped} dropped" in line and "1 clipped to the image" in line
    assert line.endswith(f"{tmp_path / 'run' / 'data_problems.csv'}")


def test_pascal_voc(tmp_path):
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "JPEGImages").mkdir()
    Image.new("RGB", (100, 80)).save(tmp_path / "JPEGImages" / "a.jpg")
    (tmp_path / "Annotations" / "a.xml").write_text(
        "<annotation><filename>a.jpg</filename><size><width>100</width><height>80</height></size>"
        "<object><name>dog</name><difficult>0</difficult><bndbox><xmin>10</xmin><ymin>5</ymin>"
        "<xmax>50</xmax><ymax>40</ymax></bndbox></object>"
        "<object><name>cat</name><difficult>1</difficult><bndbox><xmin>60</xmin><ymin>10</ymin>"
        "<xmax>90</xmax><ymax>70</ymax></bndbox></object>"
        "</annotation>"
    )
    table = detection_source_from_path(tmp_path)
    assert table.classes == ["cat", "dog"] and table.boxes[0].tolist() == [
        [10, 5, 50, 40],
        [60, 10, 90, 70],
    ]
    assert table.labels[0].tolist() == [1, 0] and table.crowd[0].tolist() == [False, True]
    with pytest.raises(InputError, match="Annotations"):
        from_voc(tmp_path / "JPEGImages")


def test_yolo_labels_with_names_and_negatives(tmp_path):
    (tmp_path / "images" / "train").mkdir(parents=True)
    (tmp_path / "labels" / "train").mkdir(parents=True)
    Image.new("RGB", (200, 100)).save(tmp_path / "images" / "train" / "x.jpg")
    Image.new("RGB", (200, 100)).save(tmp_path / "images" / "train" / "empty.jpg")
    (tmp_path / "labels" / "train" / "x.txt").write_text(
        "1 0.5 0.5 0.2 0.4\n7 0.5 0.5 0.1 0.1\nbad line\n"
    )
    (tmp_path / "data.yaml").write_text("names: {0: person, 1: car}\n")
    table = from_yolo(tmp_path)
    assert table.classes == ["person", "car"] and list(table.frame["split"]) == ["train", "train"]
    position = list(table.frame["id"]).index("train/x.jpg")
    assert np.allclose(table.boxes[position], [[80, 30, 120, 70]]) and table.labels[
        position
    ].tolist() == [1]
    assert len(table.boxes[1 - position]) == 0  # an image without boxes is kept as a negative
    assert {p["where"].rsplit(" ", 1)[-1] for p in table.problems} == {"2", "3"}


def test_data_check_covers_detection_sources(tmp_path, capsys):
    from vislab.cli import run

    path = make_shapes(tmp_path / "shapes", count=6, size=64)
    assert run(["data", "check", str(path), "--json", str(tmp_path / "c.json")]) == 0
    assert "6 images" in capsys.readouterr().out
    data = json.loads(path.read_text())
    data["annotations"][0]["bbox"] = [1, 1, -3, 4]
    path.write_text(json.dumps(data))
    (tmp_path / "shapes" / "images" / "00001.png").write_bytes(b"")
    assert run(["data", "check", str(path), "--json", str(tmp_path / "c.json")]) == 2  # exists
    assert run(["data", "check", str(path), "--json", str(tmp_path / "c.json"), "--force"]) == 1
    summary = json.loads((tmp_path / "c.json").read_text())
    assert summary["n_problems"] == 1 and summary["n_unreadable"] == 1
    assert summary["unreadable"][0]["reason"].startswith("zero bytes")


def test_preview_draws_every_box_where_the_annotation_puts_it(tmp_path):
    from vislab.tasks import config_from_dict, task_for

    path = make_shapes(tmp_path / "shapes", count=5, size=64, seed=2)
    config = config_from_dict(
        {
            "task": "detection",
            "model": {"backbone": "vislab:fcos_small"},
            "data": {"source": "coco", "root": str(path), "augment": []},
        }
    )
    coco = json.loads(path.read_text())
    task = task_for(config)
    table = task.load_source(config.data)
    drawn = [task.preview_item(config, table, position) for position in range(5)]
    assert len(drawn) == 5
    for image, caption in drawn:
        file = caption.split(":")[0]
        image_id = next(i["id"] for i in coco["images"] if i["file_name"].endswith(file))
        boxes = [a["bbox"] for a in coco["annotations"] if a["image_id"] == image_id]
        assert caption.endswith(f"{len(boxes)} box" + ("es" if len(boxes) != 1 else ""))
        pixels = np.asarray(image)
        for x, y, _w, h in boxes:  # the box's left edge, half-way down, is drawn in yellow
            assert tuple(pixels[int(y + h / 2), int(x)]) == (255, 255, 0)
    assert len(task.preview(config, count=3)) > 1000  # a PNG
