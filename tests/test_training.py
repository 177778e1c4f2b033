"""`vislab train` end to end on tiny generated image folders and manifests."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file, save_file

from tests.conftest import COLORS, colored_image, tiny_config, write_config
from vislab.cli import run
from vislab.errors import InputError
from vislab.models.backbones import create_classifier
from vislab.tasks import config_from_dict, task_for
from vislab.training import train


def _train(root, out, progress=False, **sections):
    return train(config_from_dict(tiny_config(root, out, **sections)), progress=progress)


def test_cli_train_writes_a_complete_run_directory(image_folder, tmp_path, capsys):
    config = write_config(tmp_path / "c.yaml", tiny_config(image_folder, tmp_path / "runs"))
    assert run(["train", str(config), "--set", "data.batch_size=4"]) == 0
    printed = capsys.readouterr().out
    run_dir = tmp_path / "runs" / "classification-test_resnet"
    assert f"run directory: {run_dir}" in printed and "accuracy" in printed
    names = {p.name for p in run_dir.iterdir()}
    expected = {
        "config.yaml",
        "environment.json",
        "checkpoints",
        "logs",
        "predictions.csv",
        "metrics.json",
        "report.html",
        "model.safetensors",
        "preprocessing.json",
        "splits.csv",
        "data_inspection.json",
    }
    assert expected <= names
    assert {"best.ckpt", "last.ckpt"} <= {p.name for p in (run_dir / "checkpoints").iterdir()}
    assert (run_dir / "logs" / "metrics.csv").is_file()
    assert any((run_dir / "logs" / "tensorboard").iterdir())
    environment = json.loads((run_dir / "environment.json").read_text())
    assert environment["seed"] == 0 and len(environment["data_fingerprint"]) == 64
    assert environment["libraries"]["torch"] == "2.14.1" and environment["splits"] == {
        "test": 6,
        "train": 24,
        "val": 6,
    }
    assert "batch_size: 4" in (run_dir / "config.yaml").read_text()  # the resolved config
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["task"] == "classification" and metrics["n"] == 6
    assert {"accuracy", "f1_macro", "cohen_kappa", "ece"} <= set(metrics["metrics"])
    assert len(metrics["metrics"]["accuracy"]["ci"]) == 2
    predictions = pd.read_csv(run_dir / "predictions.csv")
    assert list(predictions.columns[:4]) == ["id", "path", "label", "prediction"]
    assert {"score_red", "score_green", "score_blue", "split"} <= set(predictions.columns)
    report = (run_dir / "report.html").read_text()
    assert report.count("data:image/png;base64,") >= 2 and "config.yaml" in report
    # a second run never overwrites the first
    assert run(["train", str(config)]) == 0
    assert (tmp_path / "runs" / "classification-test_resnet-2" / "metrics.json").is_file()


def test_manifest_groups_dataset_normalization_and_predict(manifest, tmp_path, capsys):
    run_dir = _train(
        manifest,
        tmp_path / "runs",
        data={
            "source": "manifest",
            "normalize": "dataset",
            "split": {"val": 0.2, "test": 0.3, "seed": 1, "group_by": "photographer"},
        },
        evaluate={"group_by": ["site"], "bootstrap": 20},
    )
    splits = pd.read_csv(run_dir / "splits.csv").merge(
        pd.read_csv(manifest).assign(id=lambda f: f["path"])
    )
    assert (splits.groupby("photographer")["split"].nunique() == 1).all()
    preprocessing = json.loads((run_dir / "preprocessing.json").read_text())
    assert preprocessing["normalize"] == "dataset" and preprocessing["mean"] != [
        0.485,
        0.456,
        0.406,
    ]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics["groups"]["site"]) == {"north", "south"}
    assert "accuracy" in metrics["disparities"]["site"]
    predictions = pd.read_csv(run_dir / "predictions.csv")
    assert {"site", "photographer"} <= set(predictions.columns)
    listed = set(pd.read_csv(manifest)["path"])  # paths as the manifest wrote them
    assert set(predictions["path"]) <= listed and "listed_path" not in predictions.columns
    # `vislab predict` uses the run's own preprocessing: same scores as the run's predictions
    images = [str(manifest.parent / p) for p in predictions["id"][:4]]
    out = tmp_path / "new.csv"
    assert run(["predict", str(run_dir), *images, "--out", str(out)]) == 0
    again = pd.read_csv(out)
    score_columns = [c for c in predictions.columns if c.startswith("score_")]
    assert (
        again[score_columns].to_numpy() - predictions[score_columns][:4].to_numpy()
    ).max() < 1e-5
    assert list(again["prediction"]) == list(predictions["prediction"][:4])


def test_bad_images_stop_training_by_name_or_are_skipped_and_logged(image_folder, tmp_path, capsys):
    (image_folder / "red" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(InputError, match=r"red/broken.png: (not an image|cannot be decoded)"):
        _train(image_folder, tmp_path / "runs")
    assert not (tmp_path / "runs").exists()  # nothing was started
    run_dir = _train(image_folder, tmp_path / "runs", data={"on_bad_image": "skip"})
    skipped = pd.read_csv(run_dir / "skipped_images.csv")
    assert list(skipped["id"]) == ["red/broken.png"]
    assert json.loads((run_dir / "environment.json").read_text())["skipped_images"] == 1
    assert "red/broken.png" not in set(pd.read_csv(run_dir / "splits.csv")["id"])
    said = capsys.readouterr().err  # the console says so too, and where the list is
    assert (
        f"1 image(s) left out (data.on_bad_image: skip), each with its reason in {run_dir}" in said
    )


def _pretrained_file(tmp_path) -> Path:
    torch.manual_seed(123)
    path = tmp_path / "pretrained.safetensors"
    model = create_classifier("test_resnet", num_classes=10)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def test_linear_probe_keeps_the_backbone_and_unfreezing_trains_it(image_folder, tmp_path):
    pretrained = _pretrained_file(tmp_path)
    original = load_file(str(pretrained))
    body = [k for k in original if not k.startswith("fc.")]
    probe = _train(
        image_folder,
        tmp_path / "runs",
        model={"pretrained": str(pretrained), "mode": "linear_probe"},
    )
    probed = load_file(str(probe / "model.safetensors"))
    assert all(torch.equal(original[k], probed[k]) for k in body)  # BatchNorm statistics included
    assert probed["fc.weight"].shape == (3, original["fc.weight"].shape[1])
    model = {"pretrained": str(pretrained), "mode": "linear_probe", "unfreeze_after": 1}
    thawed = load_file(
        str(_train(image_folder, tmp_path / "runs", model=model) / "model.safetensors")
    )
    assert not all(torch.equal(original[k], thawed[k]) for k in body)


def test_python_api_has_the_same_verbs(image_folder, tmp_path):
    import vislab

    path = write_config(tmp_path / "c.yaml", tiny_config(image_folder, tmp_path / "runs"))
    run_dir = vislab.train(path, overrides=["train.epochs=1"], progress=False)
    table = vislab.predict(run_dir, [image_folder / "red"])
    assert len(table) == 12 and set(table["prediction"]) <= {"red", "green", "blue"}
    table["label"] = "red"
    metrics = vislab.evaluate("classification", table, bootstrap=0)
    assert metrics["n"] == 12 and 0 <= metrics["metrics"]["accuracy"]["value"] <= 1


def test_same_seed_same_results_and_early_stopping_stops(image_folder, tmp_path):
    one = _train(image_folder, tmp_path / "a", train={"epochs": 1})
    two = _train(image_folder, tmp_path / "b", train={"epochs": 1})
    scores = [c for c in pd.read_csv(one / "predictions.csv").columns if c.startswith("score_")]
    first, second = pd.read_csv(one / "predictions.csv"), pd.read_csv(two / "predictions.csv")
    assert (first[scores] - second[scores]).abs().to_numpy().max() < 1e-6  # seed everything
    # a learning rate far too high: the validation loss stops improving at once
    stopped = _train(
        image_folder, tmp_path / "c", train={"epochs": 30, "lr": 50.0, "early_stopping": 1}
    )
    log = pd.read_csv(stopped / "logs" / "metrics.csv")
    assert log["epoch"].max() < 10


def _prepared(root, out, **sections):
    config = config_from_dict(tiny_config(root, out, **sections))
    task = task_for(config)
    return config, task, task.prepare(config)


def _module(config, task, data):
    return task.build_module(config, data.classes, task.build_model(config, data.classes), data)


@pytest.mark.parametrize("mixer", ["mixup", "cutmix"])
def test_mixup_and_cutmix_train_on_mixed_images_with_soft_targets(image_folder, tmp_path, mixer):
    config, task, data = _prepared(image_folder, tmp_path, data={mixer: 1.0, "augment": []})
    module = _module(config, task, data)
    images, labels, positions = next(iter(task.train_loaders(config, data)[0]))
    seen = {}
    module.loss = lambda logits, targets: (
        seen.setdefault("targets", targets).sum() * 0 + logits.sum()
    )
    module.model.register_forward_hook(lambda m, inputs, out: seen.setdefault("images", inputs[0]))
    module.log_loss = lambda *args, **kwargs: None
    module.training_step((images.clone(), labels, positions), 0)
    targets = seen["targets"]
    assert targets.shape == (len(labels), 3) and torch.allclose(
        targets.sum(1), torch.ones(len(labels))
    )
    assert (targets.max(1).values < 1).any()  # mixed rows carry two classes
    assert not torch.equal(seen["images"], images)  # the images themselves were mixed


def test_balanced_sampler_draws_each_class_equally_from_an_imbalanced_split(tmp_path):
    root = tmp_path / "imbalanced"
    for name, count in (("red", 40), ("green", 8), ("blue", 8)):
        (root / name).mkdir(parents=True)
        for i in range(count):
            colored_image(COLORS[name], seed=i).save(root / name / f"{i}.png")
    shares = {}
    for sampler in ("shuffle", "balanced"):
        config, task, data = _prepared(root, tmp_path, data={"sampler": sampler, "batch_size": 8})
        if sampler == "shuffle":
            with pytest.warns(UserWarning, match="class imbalance in the training split"):
                loader = task.train_loaders(config, data)[0]
        else:  # the remedy chosen: no warning
            loader = task.train_loaders(config, data)[0]
        drawn = []
        for epoch in range(30):  # as Lightning does: a new epoch, new draws
            loader.sampler.set_epoch(epoch)
            drawn += [labels for _, labels, _ in loader]
        drawn = torch.cat(drawn)
        shares[sampler] = torch.bincount(drawn, minlength=3).double() / len(drawn)
    red = data.classes.index("red")
    assert shares["shuffle"][red] > 0.6  # the split as it is: mostly red
    assert torch.allclose(
        shares["balanced"], torch.full((3,), 1 / 3, dtype=torch.float64), atol=0.06
    )


@pytest.mark.parametrize("precision", ["32", "bf16-mixed"])
def test_precision_is_what_the_forward_pass_computes_in(image_folder, tmp_path, precision):
    config, task, data = _prepared(
        image_folder,
        tmp_path,
        train={"epochs": 1, "precision": precision, "limit_train_batches": 1},
    )
    dtypes = []
    build = task.build_model

    def observed(*args, **kwargs):
        model = build(*args, **kwargs)
        model.conv1.register_forward_hook(
            lambda m, i, out: dtypes.append(out.dtype) if m.training else None
        )
        return model

    task.build_model = observed
    try:
        task.fit(config, data, Path(tmp_path / "run"), progress=False)
    finally:
        del task.build_model
    expected = torch.bfloat16 if precision == "bf16-mixed" else torch.float32
    assert dtypes and set(dtypes) == {expected}


@pytest.mark.parametrize("optimizer", ["adamw", "sgd"])
def test_the_optimizer_trained_is_the_one_configured(image_folder, tmp_path, optimizer):
    config, task, data = _prepared(
        image_folder,
        tmp_path,
        train={
            "epochs": 1,
            "optimizer": optimizer,
            "momentum": 0.8,
            "lr": 0.02,
            "limit_train_batches": 1,
        },
    )
    fitted = task.fit(config, data, Path(tmp_path / "run"), progress=False)
    used = fitted.trainer.optimizers[0]
    assert isinstance(used, torch.optim.SGD if optimizer == "sgd" else torch.optim.AdamW)
    if optimizer == "sgd":
        assert used.defaults["momentum"] == 0.8 and used.defaults["nesterov"]
    no_decay = [g for g in used.param_groups if g["weight_decay"] == 0]
    assert no_decay and all(p.ndim <= 1 for g in no_decay for p in g["params"])


def test_loss_options_change_the_loss(image_folder, tmp_path):
    config, task, data = _prepared(
        image_folder, tmp_path, train={"label_smoothing": 0.2, "class_weighted_loss": True}
    )
    module = _module(config, task, data)
    assert module.class_weights is not None and module.class_weights.shape == (3,)
    logits, targets = torch.randn(6, 3), torch.tensor([0, 1, 2, 1, 0, 2])
    expected = torch.nn.functional.cross_entropy(
        logits, targets, weight=module.class_weights, label_smoothing=0.2
    )
    assert torch.allclose(module.loss(logits, targets), expected)
    plain = torch.nn.functional.cross_entropy(logits, targets)
    assert not torch.allclose(module.loss(logits, targets), plain)


def test_drop_rate_reaches_the_model(image_folder, tmp_path):
    config, task, data = _prepared(
        image_folder, tmp_path, model={"backbone": "test_resnet", "drop_rate": 0.3}
    )
    assert task.build_model(config, data.classes).drop_rate == 0.3


def test_every_option_together_trains_and_evaluates_the_test_split(image_folder, tmp_path):
    run_dir = _train(
        image_folder,
        tmp_path / "runs",
        data={
            "sampler": "balanced",
            "mixup": 0.2,
            "cutmix": 1.0,
            "augment": ["flip", "color_jitter", "trivialaugment"],
            "split": {"val": 0.0, "test": 0.25, "seed": 0},
        },
        model={"backbone": "torchvision:mobilenet_v3_small", "backbone_lr_scale": 0.1},
        train={
            "optimizer": "sgd",
            "label_smoothing": 0.1,
            "class_weighted_loss": True,
            "warmup_epochs": 1,
            "early_stopping": 2,
            "precision": "bf16-mixed",
        },
    )
    assert json.loads((run_dir / "metrics.json").read_text())["n"] == 9  # no val: the last weights
    # `vislab predict` computes in the run's precision (bf16): the held-out scores again
    from vislab.files import files_of
    from vislab.prediction import predict

    held_out = pd.read_csv(run_dir / "predictions.csv")
    files = files_of(held_out["path"].astype(str), image_folder)
    again, _, _ = predict(run_dir, files)
    scores = [c for c in held_out.columns if c.startswith("score_")]
    assert again[scores].to_numpy() == pytest.approx(held_out[scores].to_numpy(), abs=1e-6)
