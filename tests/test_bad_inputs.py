"""The bad-input battery: every case a careful user or an attacker tried, as a command line.

Each case writes its files, runs one command, and asserts the exit code (1: the input has a
problem vislab reported; 2: the command was called wrongly) and that the message names the
file, the row (as a spreadsheet numbers it: the header is row 1) or the field. No case may end
in a traceback: `vislab.cli.run` turns only vislab's own errors into messages, so any other
exception fails the test.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from vislab.cli import run


def _classification(tmp_path: Path, n: int = 40, **changes) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    scores = rng.dirichlet(np.ones(3), n)
    classes = np.array(["a", "b", "c"])
    frame = pd.DataFrame(
        {
            "id": [f"img{i}.png" for i in range(n)],
            "label": classes[rng.integers(0, 3, n)],
            "prediction": classes[scores.argmax(axis=1)],
            **{f"score_{c}": scores[:, k] for k, c in enumerate(classes)},
        }
    )
    return frame


def _csv(tmp_path: Path, frame: pd.DataFrame, name: str = "p.csv") -> str:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return str(path)


def _evaluate(task: str, path: str, *extra: str) -> list[str]:
    return ["evaluate", task, "--predictions", path, "--bootstrap", "20", *extra]


def scores_times_three(tmp_path):
    frame = _classification(tmp_path)
    frame[["score_a", "score_b", "score_c"]] *= 3
    return _evaluate("classification", _csv(tmp_path, frame)), 1, ["p.csv", "sum to 3", "rows 2,"]


def nan_score(tmp_path):
    frame = _classification(tmp_path)
    frame.loc[4, "score_b"] = np.nan
    return _evaluate("classification", _csv(tmp_path, frame)), 1, ["not numbers", "row 6"]


def logits_as_scores(tmp_path):
    frame = _classification(tmp_path)
    frame.loc[0, "score_a"] = -2.5
    return _evaluate("classification", _csv(tmp_path, frame)), 1, ["below 0", "row 2", "softmax"]


def duplicate_ids(tmp_path):
    frame = _classification(tmp_path)
    frame.loc[7, "id"] = frame.loc[3, "id"]
    return (
        _evaluate("classification", _csv(tmp_path, frame)),
        1,
        ["id 'img3.png'", "rows 5, 9", "more than once"],
    )


def prediction_not_the_argmax(tmp_path):
    frame = _classification(tmp_path)
    frame.loc[2, "prediction"] = "a" if frame.loc[2, "prediction"] != "a" else "b"
    return _evaluate("classification", _csv(tmp_path, frame)), 1, ["highest score", "row 4"]


def unknown_prediction_without_scores(tmp_path):
    frame = _classification(tmp_path)[["id", "label", "prediction"]]
    frame.loc[3, "prediction"] = "zebra"
    return (
        _evaluate("classification", _csv(tmp_path, frame)),
        1,
        ["prediction 'zebra' (row 5)", "--classes"],
    )


def video_window_prediction_not_a_class(tmp_path):
    frame = pd.DataFrame(
        {
            "video_id": ["v1", "v1", "v2", "v2"],
            "start": [0, 2, 0, 2],
            "end": [2, 4, 2, 4],
            "label": ["a", "a", "b", "b"],
            "prediction": ["a", "x", "b", "b"],
        }
    )
    return _evaluate("video", _csv(tmp_path, frame)), 1, ["prediction 'x' (row 3)"]


def video_window_twice(tmp_path):
    frame = pd.DataFrame(
        {
            "video_id": ["v1", "v1", "v2"],
            "start": [0, 0, 0],
            "end": [2, 2, 2],
            "label": ["a", "a", "b"],
            "prediction": ["a", "a", "b"],
        }
    )
    return _evaluate("video", _csv(tmp_path, frame)), 1, ["video_id + start", "rows 2, 3"]


def coders_share_no_item(tmp_path):
    frame = pd.DataFrame({"A": ["x", "y", None, None], "B": [None, None, "x", "y"]})
    out = tmp_path / "agreement.json"
    command = ["agreement", _csv(tmp_path, frame), "--raters", "A,B", "--out", str(out)]
    return command, 0, ["Cohen's kappa A - B", "undefined: no item coded by both"]


def _collection_csv(tmp_path: Path, **changes) -> str:
    from tests.estimation.test_prevalence import _collection

    frame = _collection(400, seed=1).drop(columns="truth")
    for column, (rows, value) in changes.items():
        frame[column] = frame[column].astype(object)
        frame.loc[rows, column] = value
    return _csv(tmp_path, frame, "collection.csv")


def coders_named_like_the_sheets_columns(tmp_path):
    command = ["validation-sample", _collection_csv(tmp_path), "--size", "40", "--coders", "item,B"]
    return command, 2, ["--coders 'item,B'", "none of item, id, image"]


def empty_prediction_cell(tmp_path):
    command = ["validation-sample", _collection_csv(tmp_path, prediction=([3, 7], None))]
    return [*command, "--size", "40"], 1, ["column 'prediction' is empty on rows 5, 9"]


def infinite_score(tmp_path):
    path = _collection_csv(tmp_path, score_police=([4], np.inf))
    command = ["plan-coding", path, "--half-width", "0.05"]
    return command, 1, ["'score_police' is not a finite number on row 6"]


def empty_stratum_value(tmp_path):
    path = _collection_csv(tmp_path, region=([0, 1], None))
    command = ["validation-sample", path, "--size", "40", "--strata", "prediction,region"]
    return command, 1, ["column 'region' is empty on rows 2, 3", "could never be drawn"]


def codebook_codes_are_not_the_classes(tmp_path):
    book = tmp_path / "book.yaml"
    book.write_text("codes:\n  - name: cop\n  - name: none\n")
    command = ["validation-sample", _collection_csv(tmp_path), "--size", "40"]
    command += ["--codebook", str(book)]
    return command, 0, ["codes not classes: ['cop']", "classes without a code: ['police']"]


def semicolon_coded_file_with_an_index(tmp_path):
    """A coder's file saved by pandas with its index, in a semicolon CSV (a European Excel)."""
    from tests.estimation.test_prevalence import _collection

    collection = _collection(400, seed=1)
    collection.drop(columns="truth").to_csv(tmp_path / "collection.csv", index=False)
    coded = collection.sample(60, random_state=0)[["id", "truth"]].rename(columns={"truth": "A"})
    coded.to_csv(tmp_path / "coded.csv", sep=";")
    command = ["estimate", str(tmp_path / "collection.csv"), "--coded", str(tmp_path / "coded.csv")]
    return [*command, "--label-column", "A"], 0, ["60 coded of 400 images"]


def unknown_model_column(tmp_path):
    frame = pd.DataFrame({"A": ["x", "y"], "B": ["x", "y"]})
    command = ["agreement", _csv(tmp_path, frame), "--raters", "A,B", "--model", "M"]
    return command, 1, ["no column 'M'", "(--model)"]


def agreement_file_without_codes(tmp_path):
    frame = pd.DataFrame({"A": [None, None], "B": [None, None]})
    command = ["agreement", _csv(tmp_path, frame), "--raters", "A,B"]
    return command, 1, ["p.csv", "no codes at all"]


def _coco(tmp_path: Path) -> tuple[dict, list[dict]]:
    images = []
    for k in range(3):
        name = f"{k}.png"
        Image.new("RGB", (32, 32), (k * 40, 90, 20)).save(tmp_path / name)
        images.append({"id": k + 1, "file_name": name, "width": 32, "height": 32})
    annotations = [
        {
            "id": k + 1,
            "image_id": k + 1,
            "category_id": 1,
            "bbox": [4, 4, 10, 12],
            "area": 120,
            "iscrowd": 0,
        }
        for k in range(3)
    ]
    truth = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "box"}]}
    results = [
        {"image_id": k + 1, "category_id": 1, "bbox": [4, 4, 10, 12], "score": 0.9}
        for k in range(3)
    ]
    return truth, results


def _detection(tmp_path: Path, truth: dict, results: list, *extra: str) -> list[str]:
    (tmp_path / "instances.json").write_text(json.dumps(truth))
    (tmp_path / "results.json").write_text(json.dumps(results))
    return [
        "evaluate",
        "detection",
        "--predictions",
        str(tmp_path / "results.json"),
        "--references",
        str(tmp_path / "instances.json"),
        *extra,
    ]


def nan_detection_score(tmp_path):
    truth, results = _coco(tmp_path)
    results[1]["score"] = float("nan")
    command = _detection(tmp_path, truth, results, "--bootstrap", "20")
    return command, 1, ["results.json: detection 2", "score must be a finite number"]


def nan_detection_score_without_intervals(tmp_path):
    truth, results = _coco(tmp_path)
    results[0]["score"] = float("nan")
    command = _detection(tmp_path, truth, results, "--bootstrap", "0")
    return command, 1, ["detection 1", "finite number"]


def bbox_is_a_string(tmp_path):
    truth, results = _coco(tmp_path)
    results[2]["bbox"] = "4 4 10 12"
    return _detection(tmp_path, truth, results), 1, ["detection 3", "4 finite numbers"]


def bbox_of_three_numbers(tmp_path):
    truth, results = _coco(tmp_path)
    truth["annotations"][0]["bbox"] = [4, 4, 10]
    return _detection(tmp_path, truth, results), 1, ["instances.json: annotation 1", "[4, 4, 10]"]


def annotation_of_an_unlisted_image(tmp_path):
    truth, results = _coco(tmp_path)
    truth["annotations"][2]["image_id"] = 77
    return _detection(tmp_path, truth, results), 1, ["annotation 3", "image_id 77 is not in"]


def repeated_image_id_in_references(tmp_path):
    truth, results = _coco(tmp_path)
    truth["images"][2]["id"] = 1
    return _detection(tmp_path, truth, results), 1, ["images id 1 appears 2 times"]


def nan_box_in_data_check(tmp_path):
    truth, _ = _coco(tmp_path)
    truth["annotations"][0]["bbox"] = [4, float("nan"), 10, 12]
    (tmp_path / "instances.json").write_text(json.dumps(truth))
    command = ["data", "check", str(tmp_path / "instances.json")]
    return command, 1, ["problems: 1", "not finite"]


def string_box_in_data_check(tmp_path):
    truth, _ = _coco(tmp_path)
    truth["annotations"][1]["bbox"] = "wide"
    (tmp_path / "instances.json").write_text(json.dumps(truth))
    command = ["data", "check", str(tmp_path / "instances.json")]
    return command, 1, ["problems: 1", "annotation 2", "'wide'"]


def repeated_image_id_in_data_check(tmp_path):
    truth, _ = _coco(tmp_path)
    truth["images"][1]["id"] = 1
    (tmp_path / "instances.json").write_text(json.dumps(truth))
    command = ["data", "check", str(tmp_path / "instances.json")]
    return command, 1, ["instances.json", "images id 1 appears 2 times"]


def non_numeric_reference_share(tmp_path):
    manifest = pd.DataFrame({"path": ["a.png", "b.png"], "label": ["x", "y"], "g": ["f", "m"]})
    shares = pd.DataFrame({"attribute": ["g", "g"], "value": ["f", "m"], "share": [0.5, "half"]})
    command = [
        "audit",
        _csv(tmp_path, manifest, "m.csv"),
        "--attributes",
        "g",
        "--reference",
        _csv(tmp_path, shares, "shares.csv"),
        "--out",
        str(tmp_path / "audit"),
    ]
    return command, 1, ["shares.csv", "share must be a number", "row 3", "'half'"]


def unlabelled_image_listed_twice(tmp_path):
    Image.new("RGB", (16, 16), (200, 10, 10)).save(tmp_path / "a.png")
    Image.new("RGB", (16, 16), (10, 200, 10)).save(tmp_path / "b.png")
    manifest = pd.DataFrame({"path": ["a.png", "a.png", "b.png"], "label": ["x", None, "y"]})
    command = ["data", "check", _csv(tmp_path, manifest, "m.csv")]
    return command, 1, ["listed more than once: 1 path(s)", "missing label"]


def manifest_path_out_of_its_folder(tmp_path):
    folder = tmp_path / "shared"
    folder.mkdir()
    Image.new("RGB", (16, 16)).save(folder / "a.png")
    Image.new("RGB", (16, 16)).save(tmp_path / "mine.png")
    manifest = pd.DataFrame({"path": ["a.png", "../mine.png"], "label": ["x", "y"]})
    command = ["data", "check", _csv(folder, manifest, "m.csv")]
    return command, 1, ["m.csv: row 3", "'../mine.png'", "allow_outside_root"]


def decompression_bomb(tmp_path):
    folder = tmp_path / "images" / "cat"
    folder.mkdir(parents=True)
    Image.new("RGB", (16, 16), (200, 10, 10)).save(folder / "fine.png")
    Image.new("1", (16000, 16000)).save(folder / "bomb.png")  # 30 kB on disk, 256 M pixels
    command = ["data", "check", str(tmp_path / "images")]
    return command, 1, ["bomb.png: too large", "data.max_image_pixels", "unreadable: 1"]


def jpeg_named_like_a_video(tmp_path):
    from vislab.data.videos import moving_square, write_video

    write_video(tmp_path / "real.mp4", moving_square("left", np.random.default_rng(0), frames=8))
    Image.new("RGB", (32, 32), (200, 10, 10)).save(tmp_path / "photo.mp4", format="JPEG")
    manifest = pd.DataFrame({"path": ["real.mp4", "photo.mp4"], "label": ["left", "left"]})
    command = ["data", "check", _csv(tmp_path, manifest, "videos.csv")]
    return command, 1, ["photo.mp4", "not a video", "still image"]


def _config(tmp_path: Path) -> str:
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  source: sample\n  name: digits\n")
    return str(path)


def set_without_a_value(tmp_path):
    return ["train", _config(tmp_path), "--set", "train.epochs"], 2, ["expected KEY=VALUE"]


def set_with_malformed_yaml(tmp_path):
    command = ["train", _config(tmp_path), "--set", "data.augment=[flip"]
    return command, 2, ["data.augment=[flip", "not valid YAML"]


def run_name_outside_the_output_folder(tmp_path):
    command = ["train", _config(tmp_path), "--set", "name=../../x"]
    return command, 1, ["name:", "one folder name", "'../../x'"]


def confidence_above_one(tmp_path):
    path = _csv(tmp_path, _classification(tmp_path))
    return _evaluate("classification", path, "--confidence", "1.5"), 2, ["between 0 and 1"]


def negative_bootstrap(tmp_path):
    path = _csv(tmp_path, _classification(tmp_path))
    return (
        ["evaluate", "classification", "--predictions", path, "--bootstrap", "-5"],
        2,
        ["'--bootstrap'"],
    )


def existing_output(tmp_path):
    path = _csv(tmp_path, _classification(tmp_path))
    (tmp_path / "metrics.json").write_text("{}")
    command = _evaluate("classification", path, "--out", str(tmp_path / "metrics.json"))
    return command, 2, ["metrics.json exists", "--force"]


CASES = [
    scores_times_three,
    nan_score,
    logits_as_scores,
    duplicate_ids,
    prediction_not_the_argmax,
    unknown_prediction_without_scores,
    video_window_prediction_not_a_class,
    video_window_twice,
    coders_share_no_item,
    unknown_model_column,
    agreement_file_without_codes,
    nan_detection_score,
    nan_detection_score_without_intervals,
    bbox_is_a_string,
    bbox_of_three_numbers,
    annotation_of_an_unlisted_image,
    repeated_image_id_in_references,
    nan_box_in_data_check,
    string_box_in_data_check,
    repeated_image_id_in_data_check,
    non_numeric_reference_share,
    unlabelled_image_listed_twice,
    manifest_path_out_of_its_folder,
    decompression_bomb,
    jpeg_named_like_a_video,
    set_without_a_value,
    set_with_malformed_yaml,
    run_name_outside_the_output_folder,
    confidence_above_one,
    negative_bootstrap,
    existing_output,
    coders_named_like_the_sheets_columns,
    empty_prediction_cell,
    infinite_score,
    empty_stratum_value,
    codebook_codes_are_not_the_classes,
    semicolon_coded_file_with_an_index,
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.__name__)
def test_bad_input_is_named_and_never_a_traceback(case, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    command, code, expected = case(tmp_path)
    assert run(command) == code
    said = capsys.readouterr()
    text = said.out + said.err
    assert "Traceback" not in text
    for part in expected:
        assert part in text, f"{part!r} not in:\n{text}"


def test_normalize_scores_gives_the_metrics_of_the_probabilities(tmp_path):
    """Scores x3 are refused; with --normalize-scores they are the probabilities again, and
    every metric (ECE included, which can never pass 1) equals the normalised file's."""
    frame = _classification(tmp_path, n=200)
    plain = _csv(tmp_path, frame, "plain.csv")
    frame[["score_a", "score_b", "score_c"]] *= 3
    tripled = _csv(tmp_path, frame, "tripled.csv")
    assert run(_evaluate("classification", plain, "--out", str(tmp_path / "a.json"))) == 0
    command = _evaluate("classification", tripled, "--normalize-scores")
    assert run([*command, "--out", str(tmp_path / "b.json")]) == 0
    a, b = (json.loads((tmp_path / name).read_text())["metrics"] for name in ("a.json", "b.json"))
    assert b["ece"]["value"] <= 1
    for name, entry in a.items():
        assert b[name]["value"] == pytest.approx(entry["value"], abs=1e-6), name


def test_an_undefined_statistic_is_null_with_its_reason_never_nan(tmp_path):
    command, code, _ = coders_share_no_item(tmp_path)
    assert run(command) == code
    text = (tmp_path / "agreement.json").read_text()
    assert "NaN" not in text
    kappa = json.loads(text)["cohen_kappa"]["A|B"]  # strict JSON: NaN would not parse here
    assert kappa == {
        "a": "A",
        "b": "B",
        "value": None,
        "ci": None,
        "undefined": "no item coded by both",
    }


def test_classes_name_a_class_the_labels_never_show(tmp_path):
    frame = _classification(tmp_path)[["id", "label", "prediction"]]
    frame.loc[3, "prediction"] = "zebra"
    out = tmp_path / "m.json"
    command = _evaluate("classification", _csv(tmp_path, frame), "--classes", "a,b,c,zebra")
    assert run([*command, "--out", str(out)]) == 0
    metrics = json.loads(out.read_text())
    assert metrics["confusion_matrix"]["classes"] == ["a", "b", "c", "zebra"]
    assert metrics["per_class"]["zebra"]["support"] == 0
