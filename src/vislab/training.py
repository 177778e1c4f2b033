"""`vislab train`: config in, one new run directory out (checkpoints, predictions, metrics, report).

The flow is the same for every task: prepare the data (scan every image first), record the
provenance, fit with Lightning, then predict the test split and evaluate it.
Under DDP, Lightning starts one process per device; the run directory is created once, by rank
0, and handed to the others through the `VISLAB_RUN_DIR` environment variable.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_only

from vislab.config import ExperimentConfig, load_config
from vislab.data.loaders import (
    ImageDataset,
    balanced_sampler,
    class_weights,
    make_loader,
    warn_if_imbalanced,
)
from vislab.data.prepare import PreparedData, prepare
from vislab.data.transforms import eval_transform, train_transform
from vislab.errors import InputError, UsageError
from vislab.models.backbones import create_classifier
from vislab.runs import (
    create_run_dir,
    environment_record,
    write_atomic,
    write_json,
    write_weights,
    write_yaml,
)
from vislab.tasks.classification import ClassificationModule

RUN_DIR_VARIABLE = "VISLAB_RUN_DIR"


def train(
    config: ExperimentConfig | str | Path,
    overrides: list[str] | tuple[str, ...] = (),
    resume: str | Path | None = None,
    progress: bool = True,
) -> Path:
    """Train, predict the test split, evaluate and report; return the run directory."""
    config, checkpoint = _resolve(config, overrides, resume)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # no tips, no banners
    # Lightning 2.6 calls a torch API that torch 2.14 deprecates: not the user's concern.
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    L.seed_everything(config.train.seed, workers=True, verbose=False)
    if config.task == "detection":
        from vislab.training_detection import prepare_detection

        data = prepare_detection(config.data)
    elif config.task == "captioning":
        from vislab.training_captioning import prepare_captioning

        data = prepare_captioning(config.data)
    elif config.task == "video":
        from vislab.training_video import prepare_video

        data = prepare_video(config.data)
    else:
        data = prepare(config.data, seed_stats=config.train.seed)
    run_dir = Path(resume) if resume else _run_dir(config)
    if rank_zero_only.rank == 0 and not resume:
        if config.task == "detection":
            from vislab.training_detection import record_detection

            record_detection(run_dir, config, data)
        elif config.task == "captioning":
            from vislab.training_captioning import record_captioning

            record_captioning(run_dir, config, data)
        elif config.task == "video":
            from vislab.training_video import record_video

            record_video(run_dir, config, data)
        else:
            _record(run_dir, config, data)
    from vislab.models.yolo import is_yolo

    if is_yolo(config.model.backbone):
        from vislab.training_yolo import train_yolo

        if resume:
            raise UsageError("--resume: ultralytics models are trained in one go; start a new run.")
        return train_yolo(run_dir, config, data)
    if resume:  # the checkpoints of the earlier attempt are what we continue from
        warnings.filterwarnings(
            "ignore", message=r"Checkpoint directory .* exists and is not empty"
        )
    if config.model.freeze_backbone:  # its eval mode is intended
        warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode")
    module, trainer, loaders = _build(config, data, run_dir, progress)
    trainer.fit(module, *loaders, ckpt_path=checkpoint, weights_only=False)
    if trainer.global_rank != 0:
        return run_dir
    _restore_best(module, trainer)
    write_weights(run_dir / "model.safetensors", module.model)
    if config.task == "detection":
        from vislab.training_detection import finish_detection

        finish_detection(run_dir, config, data, module.model)
    elif config.task == "captioning":
        from vislab.training_captioning import finish_captioning

        finish_captioning(run_dir, config, data, module.model)
    elif config.task == "video":
        from vislab.training_video import finish_video

        finish_video(run_dir, config, data, module.model)
    else:
        from vislab.evaluation.evaluate import evaluate_run

        evaluate_run(run_dir, config=config, data=data, model=module.model)
    return run_dir


def _resolve(config, overrides, resume) -> tuple[ExperimentConfig, str | None]:
    if resume is None:
        if isinstance(config, ExperimentConfig):
            return config, None
        return load_config(config, overrides), None
    run_dir = Path(resume)
    last = run_dir / "checkpoints" / "last.ckpt"
    if not last.is_file():
        raise InputError(f"{run_dir}: no checkpoints/last.ckpt to resume from.")
    if overrides:
        raise UsageError("--resume continues a run with its own config; --set cannot change it.")
    return load_config(run_dir / "config.yaml"), str(last)


def _run_dir(config: ExperimentConfig) -> Path:
    inherited = os.environ.get(RUN_DIR_VARIABLE)
    if inherited and rank_zero_only.rank != 0:
        return Path(inherited)
    name = config.name or f"{config.task}-{config.model.backbone.replace(':', '-')}"
    run_dir = create_run_dir(config.output_dir, name)
    os.environ[RUN_DIR_VARIABLE] = str(run_dir.resolve())  # DDP children inherit it
    return run_dir


def _record(run_dir: Path, config: ExperimentConfig, data: PreparedData) -> None:
    write_yaml(run_dir / "config.yaml", config.to_dict())
    frame = data.table.frame
    split_counts = {str(k): int(v) for k, v in frame["split"].value_counts().sort_index().items()}
    write_json(
        run_dir / "environment.json",
        environment_record(
            config.train.seed, config.fingerprint(), data.fingerprint,
            data_source=data.table.description, splits=split_counts,
            skipped_images=len(data.skipped),
        ),
    )  # fmt: skip
    write_json(
        run_dir / "preprocessing.json",
        {
            "task": config.task, "classes": data.classes, "image_size": config.data.image_size,
            "normalize": config.data.normalize, "mean": data.mean, "std": data.std,
        },
    )  # fmt: skip
    write_atomic(run_dir / "splits.csv", frame[["id", "label", "split"]].to_csv(index=False))
    if len(data.skipped):
        write_atomic(run_dir / "skipped_images.csv", data.skipped.to_csv(index=False))


def _build(config: ExperimentConfig, data, run_dir: Path, progress: bool):
    """The Lightning module, the Trainer and the [train, val] loaders for the config's task."""
    if config.task == "detection":
        from vislab.training_detection import detection_module_and_loaders

        module, loaders, monitor = detection_module_and_loaders(config, data)
    elif config.task == "captioning":
        from vislab.training_captioning import captioning_module_and_loaders

        module, loaders, monitor = captioning_module_and_loaders(config, data)
    elif config.task == "video":
        from vislab.training_video import video_module_and_loaders

        module, loaders, monitor = video_module_and_loaders(config, data)
    else:
        module, loaders, monitor = _classification_module_and_loaders(config, data)
    if len(loaders) == 1:  # split.val: 0 is a choice, not a mistake
        warnings.filterwarnings("ignore", message=r"You defined a `validation_step` but have no")
    trainer = make_trainer(
        config, run_dir, progress, monitor if len(loaders) > 1 else None, len(loaders[0])
    )
    return module, trainer, loaders


def _classification_module_and_loaders(config: ExperimentConfig, data: PreparedData):
    cfg_data, cfg_train = config.data, config.train
    train_table, val_table = data.split("train"), data.split("val")
    warn_if_imbalanced(train_table)
    labels = train_table.label_indices()
    num_classes = len(data.classes)
    transform = train_transform(
        cfg_data.image_size, cfg_data.augment, data.mean, data.std, cfg_data.crop_scale
    )
    sampler = None
    if cfg_data.sampler == "balanced":
        sampler = balanced_sampler(labels, num_classes, cfg_train.seed)
    loaders = [
        make_loader(
            ImageDataset(train_table, transform), cfg_data.batch_size, cfg_data.num_workers,
            shuffle=True, sampler=sampler, drop_last=len(train_table) > cfg_data.batch_size,
        )
    ]  # fmt: skip
    if len(val_table):
        val_transform = eval_transform(cfg_data.image_size, data.mean, data.std)
        loaders.append(
            make_loader(
                ImageDataset(val_table, val_transform), cfg_data.batch_size, cfg_data.num_workers
            )
        )
    model = create_classifier(
        config.model.backbone, num_classes, config.model.pretrained, config.model.drop_rate,
        image_size=cfg_data.image_size,
    )  # fmt: skip
    weights = class_weights(labels, num_classes) if cfg_train.class_weighted_loss else None
    return ClassificationModule(model, config, num_classes, weights), loaders, ("val_loss", "min")


def make_trainer(
    config: ExperimentConfig, run_dir: Path, progress: bool, monitor, steps_per_epoch: int
):
    """Lightning Trainer: best + last checkpoints, early stopping, CSV and TensorBoard logs."""
    from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    cfg_train = config.train
    attempt = _log_version(run_dir)
    metric, mode = monitor if monitor else (None, "min")
    callbacks = [
        ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="best", monitor=metric, mode=mode,
                        save_last=True, save_top_k=1),
        LearningRateMonitor(logging_interval="epoch"),
    ]  # fmt: skip
    if cfg_train.early_stopping and metric:
        callbacks.append(
            EarlyStopping(monitor=metric, mode=mode, patience=cfg_train.early_stopping)
        )
    return L.Trainer(
        max_epochs=cfg_train.epochs,
        accelerator=cfg_train.accelerator,
        devices=cfg_train.devices,
        strategy=cfg_train.strategy,
        num_nodes=cfg_train.num_nodes,
        precision=cfg_train.precision,
        callbacks=callbacks,
        logger=[
            CSVLogger(run_dir / "logs", name="", version=attempt),
            TensorBoardLogger(run_dir / "logs", name="tensorboard", version=attempt),
        ],
        enable_progress_bar=progress,
        enable_model_summary=False,
        limit_train_batches=cfg_train.limit_train_batches,
        log_every_n_steps=max(1, min(50, steps_per_epoch // 2)),
        deterministic=False,
    )


def _log_version(run_dir: Path) -> str:
    """'' for the first attempt (logs/metrics.csv), 'resume-N' for the N-th resume: no log is lost."""
    logs = run_dir / "logs"
    if not (logs / "metrics.csv").exists():
        return ""
    count = 1
    while (logs / f"resume-{count}").exists():
        count += 1
    return f"resume-{count}"


def _restore_best(module, trainer) -> None:
    """The best checkpoint's weights (by the monitored metric), or the last one's."""
    callback = trainer.checkpoint_callback
    best = callback.best_model_path or callback.last_model_path
    if best:
        state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
        module.load_state_dict(state)


def evaluation_split(data: PreparedData) -> str:
    """The split that is predicted and evaluated: test, or val when there is no test split."""
    splits = set(np.unique(data.table.frame["split"]))
    for name in ("test", "val"):
        if name in splits:
            return name
    raise InputError("no test or val split to evaluate: set data.split.test > 0.")
