"""The linear probe: logistic regression on frozen CLIP image features.

The strong baseline for small labelled sets (Radford et al. 2021): CLIP embeds every image once,
scikit-learn's `LogisticRegressionCV` picks the inverse regularisation strength C by
cross-validated log loss on the training images (train and val splits together), and the
held-out test split is predicted and evaluated like any classification run. The fitted
regression becomes the head of a `ClipClassifier`, so prediction, explanation and the report
are classification's. As a `vislab train` config: `task: linear_probe`, the CLIP in
`model.backbone`; `vislab linear-probe` runs the same on a folder or manifest.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pandas as pd

from vislab.data.prepare import TaskData
from vislab.errors import InputError
from vislab.tasks.clip_head import ClipHeadTask, head_weights
from vislab.tasks.fitting import Fitted
from vislab.tasks.registry import register

CS = np.logspace(-3, 3, 13)


@register
class LinearProbeTask(ClipHeadTask):
    name = "linear_probe"

    def fit(self, config, data: TaskData, run_dir: Path, progress: bool, checkpoint=None) -> Fitted:
        from vislab.files import write_json

        training = data.table.subset(np.flatnonzero(data.table.frame["split"] != "test"))
        model, record = probe_model(self.clip(config), training, config.train.seed)
        write_json(run_dir / "probe.json", record)
        return Fitted(model)


def fit_probe(features: np.ndarray, labels: np.ndarray, seed: int):
    from sklearn.linear_model import LogisticRegressionCV

    smallest = int(np.bincount(labels).min()) if len(labels) else 0
    if smallest < 2:
        raise InputError(
            "every class needs at least 2 training images for the probe's cross-validation."
        )
    options = {
        "Cs": CS,
        "cv": min(5, smallest),
        "max_iter": 5000,
        "random_state": seed,
        "scoring": "neg_log_loss",
    }
    accepted = inspect.signature(LogisticRegressionCV).parameters
    if "use_legacy_attributes" in accepted:  # scikit-learn >= 1.8: its future defaults, now
        options.update(use_legacy_attributes=False, l1_ratios=(0.0,))
    return LogisticRegressionCV(**options).fit(features, labels)


def probe_head(features: np.ndarray, labels: np.ndarray, classes: int, seed: int):
    """The cross-validated regression as a head over `classes` classes: (weight, bias, record)."""
    probe = fit_probe(features, labels, seed)
    weight, bias = head_weights(probe.coef_, probe.intercept_, probe.classes_, classes)
    record = {"C": float(np.ravel(probe.C_)[0]), "Cs": CS.tolist(), "train_images": len(labels)}
    return weight, bias, record


def _labelled(table) -> None:
    missing = table.frame["label"].isna()
    if missing.any():
        raise InputError(
            f"linear-probe needs a label for every image; {int(missing.sum())} have "
            f"none (e.g. {table.frame['path'][missing].iloc[0]})."
        )


def probe_model(clip, training, seed: int):
    """A ClipClassifier whose head is the regression fitted on `training`'s embeddings."""
    from vislab.models.clip import ClipClassifier, embed_table

    _labelled(training)
    features = embed_table(clip, training)
    weight, bias, record = probe_head(
        features, training.label_indices(), len(training.classes), seed
    )
    return ClipClassifier(clip, weight, bias).eval(), {**record, "classes": training.classes}


def embedded_table(embeddings) -> tuple:
    """A labelled table and its features from what `vislab embed` wrote (every row needs a
    label: the class folders of an image folder, or a manifest's `label`)."""
    from vislab.data.sources import labels_as_text
    from vislab.data.table import SampleTable
    from vislab.files import rows_text
    from vislab.predictions import read_embeddings

    frame, features = read_embeddings(embeddings)
    if "label" not in frame.columns:
        raise InputError(f"{embeddings}: no 'label' column: embed labelled images to probe.")
    missing = np.flatnonzero(frame["label"].isna().to_numpy())
    if len(missing):
        raise InputError(f"{embeddings}: no label on {rows_text(missing)}; label every image.")
    frame = frame.assign(label=labels_as_text(frame["label"]))
    classes = sorted(frame["label"].unique())
    return SampleTable(frame, classes, f"embeddings {embeddings}"), features


def split_table(table, test: float, seed: int):
    """The source's own splits, else a stratified test share; train and val fit the probe."""
    from vislab.data.splits import assign_splits

    frame = table.frame
    if "split" not in frame.columns or frame["split"].isna().all():
        frame = assign_splits(frame, 0.0, test, seed, None)
    if not (frame["split"] == "test").any():
        raise InputError("no test images: give the source a test split, or a --test fraction > 0.")
    return table.with_frame(frame)


def linear_probe(table, features: np.ndarray, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """`vislab linear-probe` on precomputed image features (n, d): the test split's predictions
    (vislab's table) and what was fitted. The probabilities are the head's softmax, which is
    the regression's predict_proba."""
    from vislab.predictions import predictions_frame

    _labelled(table)
    training = (table.frame["split"] != "test").to_numpy()
    labels = table.label_indices()
    weight, bias, record = probe_head(
        features[training], labels[training], len(table.classes), seed
    )
    logits = features[~training] @ weight.T + bias
    logits -= logits.max(axis=1, keepdims=True)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    held_out = table.subset(np.flatnonzero(~training))
    record.update(test_images=len(held_out), classes=table.classes)
    return predictions_frame(held_out.frame, table.classes, probabilities), record
