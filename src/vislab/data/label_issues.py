"""Labels that are likely wrong, by confident learning (Northcutt, Jiang and Chuang, "Confident
Learning: Estimating Uncertainty in Dataset Labels", JAIR 2021), written here from the paper
(cleanlab, its authors' package, is AGPL-3.0; the tests check this against it).

From out-of-fold predicted probabilities (each image's from a model that did not see its label):

1. each class's threshold is the mean probability of that class over the images labelled it;
2. an image's confident class is, of the classes whose probability reaches their threshold,
   the most probable (an image that reaches none has none);
3. an image whose confident class is not its label is a label issue (the off-diagonal of the
   confident joint, the paper's C_confusion method), with its confident class as the
   suggested label, unless its label is the model's most probable class (as cleanlab does:
   a label the model itself prefers is not flagged);
4. issues are ranked by the probability the model gives the image's own label (its
   self-confidence), lowest first.

Out-of-fold probabilities come from a k-fold logistic regression on the images' embeddings
(`out_of_fold`), or from a run's held-out predictions.
"""

from __future__ import annotations

import numpy as np

from vislab.errors import InputError

FOLDS = 5


def out_of_fold(features: np.ndarray, labels: np.ndarray, folds: int = FOLDS, seed: int = 0):
    """Per image, the class probabilities of a logistic regression (on standardised features)
    fit on the other folds (stratified), and the classes in column order."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    classes, coded = np.unique(np.asarray(labels).astype(str), return_inverse=True)
    smallest = np.bincount(coded).min()
    if len(classes) < 2 or smallest < 2:
        raise InputError(
            f"label issues need two or more classes with two images each ({len(classes)} "
            f"classes, the smallest with {smallest})."
        )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
    splits = StratifiedKFold(n_splits=min(folds, int(smallest)), shuffle=True, random_state=seed)
    probabilities = cross_val_predict(model, features, coded, cv=splits, method="predict_proba")
    return probabilities, classes


def thresholds(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per class, the mean probability of that class among the images labelled it (a class
    without images: 1, never reached)."""
    count = probabilities.shape[1]
    sums = np.zeros(count)
    np.add.at(sums, labels, probabilities[np.arange(len(labels)), labels])
    sizes = np.bincount(labels, minlength=count)
    return np.where(sizes > 0, sums / np.maximum(sizes, 1), 1.0)


def confident_classes(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per image its confident class (-1: none reaches its threshold)."""
    reached = probabilities >= thresholds(probabilities, labels) - 1e-6
    masked = np.where(reached, probabilities, -np.inf)
    return np.where(reached.any(axis=1), masked.argmax(axis=1), -1)


def label_issues(probabilities: np.ndarray, labels: np.ndarray):
    """The images whose confident class is not their label, worst first: (their positions,
    suggested classes, self-confidences)."""
    labels = np.asarray(labels, dtype=np.int64)
    confident = confident_classes(probabilities, labels)
    preferred = probabilities.argmax(axis=1) == labels
    found = np.flatnonzero((confident >= 0) & (confident != labels) & ~preferred)
    own = probabilities[found, labels[found]]
    order = np.argsort(own, kind="stable")
    return found[order], confident[found[order]], own[order]
