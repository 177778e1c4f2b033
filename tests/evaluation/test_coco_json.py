"""The compiled COCO reading (coco_json.py, through detection_arrays.read_arrays): the checked
reading's arrays on files written every way JSON allows, and never a file Python's json
refuses."""

from __future__ import annotations

import dataclasses
import json
import random

import numpy as np
import pytest

from tests.evaluation.test_detection import random_coco
from vislab.evaluation import coco_json
from vislab.evaluation.detection import check_references
from vislab.evaluation.detection_arrays import _decided, arrays_from_dicts, read_arrays


def _same_arrays(fast, checked) -> None:
    assert fast is not None
    for field in dataclasses.fields(checked):
        expected, ours = getattr(checked, field.name), getattr(fast, field.name)
        if isinstance(expected, np.ndarray):
            assert ours.dtype == expected.dtype, field.name
            np.testing.assert_array_equal(ours, expected, field.name)
        else:
            assert ours == expected, field.name


def _decorated(gt: dict, detections: list, rng: random.Random) -> tuple[dict, list]:
    """The same content with what real files carry beside it: segmentation polygons and RLE,
    text with escapes and non-ASCII letters, nulls, booleans, nested info, fields in any
    order, numbers written with exponents and more digits than a double holds."""
    gt = json.loads(json.dumps(gt))
    gt["info"] = {"description": 'caf\u00e9 "photos"\n\\', "year": 2017, "nested": [[], {}, [1e3]]}
    gt["licenses"] = [{"id": 1, "name": "CC BY \u6f22\u5b57 \U0001f600", "url": None}]
    for image in gt["images"]:
        image["coco_url"] = f"http://example.org/{image['id']}\\/x.jpg"
        image["flag"] = rng.choice([True, False, None])
    for category in gt["categories"]:
        category["name"] = category.get("name", "") + rng.choice(["", " \u00e9t\u00e9", '\\"q\\"'])
        category["supercategory"] = "thing"
    for annotation in gt["annotations"]:
        x, y, w, h = annotation["bbox"]
        if rng.random() < 0.5:
            annotation["segmentation"] = [[x, y, x + w, y, x + w, y + h]]
        else:
            annotation["segmentation"] = {"size": [480, 640], "counts": "Y\\\\3a0"}
    for detection in detections:
        if rng.random() < 0.3:
            detection["extra"] = {"logits": [0.5, -1.25e-3], "label": "\u00e9"}
    shuffle = lambda item: dict(rng.sample(sorted(item.items()), len(item)))  # noqa: E731
    gt["annotations"] = [shuffle(a) for a in gt["annotations"]]
    return shuffle(gt), [shuffle(d) for d in detections]


def _write_every_way(path, content, rng: random.Random) -> None:
    style = rng.randint(0, 3)
    if style == 0:
        text = json.dumps(content)
    elif style == 1:
        text = json.dumps(content, separators=(",", ":"))
    elif style == 2:
        text = json.dumps(content, indent=2, ensure_ascii=False)
    else:
        text = "\r\n\t " + json.dumps(content, indent="\t") + "\n\n"
    path.write_bytes(text.encode())


@pytest.mark.parametrize("seed", range(10))
def test_files_read_straight_into_arrays_equal_the_checked_reading(tmp_path, seed):
    """Images listed in any order with ids far apart, annotations without area, iscrowd or id,
    categories without a name: the compiled reading gives the arrays of the checked reading,
    field by field."""
    gt, detections = random_coco(seed, images=int(5 + seed), categories=3)
    rng = np.random.default_rng(seed)
    new_ids = {
        i["id"]: int(v)
        for i, v in zip(gt["images"], rng.permutation(10**6)[: len(gt["images"])], strict=True)
    }
    for image in gt["images"]:
        image["id"] = new_ids[image["id"]]
    for item in [*gt["annotations"], *detections]:
        item["image_id"] = new_ids[item["image_id"]]
    gt["images"] = [gt["images"][i] for i in rng.permutation(len(gt["images"]))]
    for annotation in gt["annotations"][::3]:
        for key in ("area", "iscrowd", "id"):
            annotation.pop(key)
    gt["categories"][0].pop("name")  # shown by its id, as one named null
    gt["categories"][1]["name"] = None
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "found.json").write_text(json.dumps(detections))
    fast = read_arrays(tmp_path / "found.json", tmp_path / "gt.json")
    checked = arrays_from_dicts(check_references(gt, "gt"), detections)
    _same_arrays(fast, checked)
    assert fast.category_names[:2] == [str(c["id"]) for c in gt["categories"][:2]]


@pytest.mark.parametrize("seed", range(8))
def test_files_written_any_way_give_the_checked_arrays(tmp_path, seed):
    rng = random.Random(seed)
    gt, detections = random_coco(seed, images=int(4 + seed), categories=3)
    gt, detections = _decorated(gt, detections, rng)
    _write_every_way(tmp_path / "gt.json", gt, rng)
    _write_every_way(tmp_path / "found.json", detections, rng)
    fast = read_arrays(tmp_path / "found.json", tmp_path / "gt.json")
    _same_arrays(fast, arrays_from_dicts(check_references(gt, "gt"), detections))


def test_numbers_python_must_decide_and_written_oddly_are_read_as_python_reads(tmp_path):
    """Over 19 significant digits (left to Python's float), exponents, integers as scores."""
    gt, detections = random_coco(3, images=6)
    odd = [
        "0.1000000000000000000000000001",
        "1.5e2",
        "3",
        "2.5E-1",
        "123456789012345678901234e-22",
    ]
    for n in range(len(odd)):
        detections[n]["score"] = f"@{n}@"
    text = json.dumps(detections)
    for n, number in enumerate(odd):
        text = text.replace(f'"@{n}@"', number)
    (tmp_path / "found.json").write_text(text)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    detections = json.loads(text)
    assert [d["score"] for d in detections[: len(odd)]] == [float(n) for n in odd]
    fast = read_arrays(tmp_path / "found.json", tmp_path / "gt.json")
    _same_arrays(fast, arrays_from_dicts(check_references(gt, "gt"), detections))


def _read(text: bytes, instances: bool):
    return coco_json.read_file(np.frombuffer(text, np.uint8), instances)


@pytest.mark.parametrize("instances", [True, False])
def test_a_damaged_file_is_never_read_where_python_refuses_it(instances):
    """Thousands of files damaged by one byte changed, dropped or added: wherever Python's json
    refuses one, the quick reading gives up (the checked reading then names the problem)."""
    gt, detections = random_coco(5, images=3, categories=2)
    gt, detections = _decorated(gt, detections, random.Random(5))
    text = json.dumps(gt if instances else detections, ensure_ascii=False).encode()
    assert _read(text, instances)[0] == coco_json.FINE
    rng = random.Random(7)
    alphabet = b'{}[]:," \\/0123456789.eE+-tfnaulrsbx\x00\x1f\xc3\xa9\xff\xed\xa0'
    refused = 0
    for _ in range(3000):
        place, damage = rng.randrange(len(text)), rng.randint(0, 2)
        byte = bytes([rng.choice(alphabet)])
        damaged = (
            text[:place] + byte + text[place + 1 :]
            if damage == 0
            else text[:place] + text[place + 1 :]
            if damage == 1
            else text[:place] + byte + text[place:]
        )
        status, *_, ids, values, undecided = _read(damaged, instances)
        try:
            content = json.loads(damaged)
        except (json.JSONDecodeError, UnicodeDecodeError):
            refused += 1
            assert status == coco_json.GAVE_UP, damaged[max(0, place - 30) : place + 30]
            continue
        if status == coco_json.FINE:  # read by both: the same numbers
            boxes = content["annotations"] if instances else content
            last = "area" if instances else "score"
            assert ids[:, :2].tolist() == [[b["image_id"], b["category_id"]] for b in boxes]
            expected = [[*b["bbox"], b.get(last, np.nan)] for b in boxes]
            _, values = _decided(damaged, ids, values, undecided)  # Python's, over 19 digits
            np.testing.assert_array_equal(values, np.array(expected, dtype=float).reshape(-1, 5))
    assert refused > 1000


@pytest.mark.parametrize(
    "change",
    [
        lambda found: found[0].update(image_id=1.0),  # an id that is not an integer
        lambda found: found[0].update(bbox=[1, 2, 3, 4, 5]),
        lambda found: found[0].update(bbox=[1, 2, 3, "4"]),
        lambda found: found[0].update(score=None),
        lambda found: found[0].update(image_id=2**63),  # past 18 digits
    ],
)
def test_what_the_quick_reading_is_not_sure_of_is_left_to_the_checks(tmp_path, change):
    gt, detections = random_coco(2, images=6)
    change(detections)
    assert _read(json.dumps(detections).encode(), False)[0] == coco_json.GAVE_UP
    text = json.dumps(detections).replace('"score":', '"score": 0.5, "score":', 1)
    assert _read(text.encode(), False)[0] == coco_json.GAVE_UP  # given twice


def test_deep_nesting_gives_up_instead_of_failing():
    nested = b'[{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 1, "x": '
    text = nested + b"[" * 5000 + b"]" * 5000 + b"}]"
    assert _read(text, False)[0] == coco_json.GAVE_UP
    fine = nested + b"[" * 100 + b"]" * 100 + b"}]"
    assert _read(fine, False)[0] == coco_json.FINE
