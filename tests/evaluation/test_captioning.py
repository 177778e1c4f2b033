"""Caption metrics against pycocoevalcap itself, on many random caption sets."""

from __future__ import annotations

import contextlib
import io
import shutil

import numpy as np
import pytest

from vislab.evaluation.captioning_stats import caption_metrics, caption_stats

pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="pycocoevalcap needs Java")

WORDS = [
    "a",
    "man",
    "woman",
    "dog",
    "cat",
    "child",
    "riding",
    "rides",
    "horse",
    "horses",
    "beach",
    "snow",
    "playing",
    "plays",
    "two",
    "three",
    "on",
    "the",
    "in",
    "with",
    "red",
    "blue",
    "car",
    "street",
    "near",
    "grass",
    "ball",
    "running",
    "runs",
]


def random_captions(rng: np.random.Generator, count: int):
    def sentence():
        return " ".join(rng.choice(WORDS, size=int(rng.integers(3, 12))))

    references = {i: [sentence() for _ in range(int(rng.integers(1, 6)))] for i in range(count)}
    predictions = {}
    for i in range(count):
        # some predictions copy a reference exactly (perfect METEOR alignments, BLEU = 1)
        predictions[i] = [references[i][0] if rng.random() < 0.15 else sentence()]
    return references, predictions


@pytest.fixture(scope="module")
def meteor():
    from vislab.evaluation.captioning_stats import warm_meteor

    return warm_meteor()  # the jar started once for the whole test session


def reference_scores(references, predictions, meteor) -> dict[str, float]:
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    with contextlib.redirect_stdout(io.StringIO()):
        bleu, _ = Bleu(4).compute_score(references, predictions)
    scores = {f"BLEU-{k + 1}": bleu[k] for k in range(4)}
    scores["METEOR"], _ = meteor.compute_score(references, predictions)
    scores["ROUGE-L"], _ = Rouge().compute_score(references, predictions)
    scores["CIDEr"], _ = Cider().compute_score(references, predictions)
    return scores


@pytest.mark.parametrize("seed", range(30))
def test_metrics_equal_pycocoevalcap(seed, meteor):
    rng = np.random.default_rng(seed)
    references, predictions = random_captions(rng, int(rng.integers(2, 40)))
    stats = caption_stats(references, predictions, meteor)
    mine = caption_metrics(stats, np.ones(len(references)))
    theirs = reference_scores(references, predictions, meteor)
    for name, value in theirs.items():
        assert mine[name][0] == pytest.approx(value, abs=1e-9, rel=1e-9), name


@pytest.mark.parametrize("seed", range(6))
def test_a_resample_equals_pycocoevalcap_on_the_resampled_set(seed, meteor):
    """Duplicated images count twice, as if the caption set held them twice (CIDEr aside: its
    document frequencies stay those of the whole set, by design)."""
    rng = np.random.default_rng(100 + seed)
    references, predictions = random_captions(rng, 25)
    stats = caption_stats(references, predictions, meteor)
    drawn = rng.integers(0, 25, size=25)
    weights = np.bincount(drawn, minlength=25).astype(float)
    mine = caption_metrics(stats, weights[None])
    resampled_refs = {k: references[int(i)] for k, i in enumerate(drawn)}
    resampled_preds = {k: predictions[int(i)] for k, i in enumerate(drawn)}
    theirs = reference_scores(resampled_refs, resampled_preds, meteor)
    for name in ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L"):
        assert mine[name][0] == pytest.approx(theirs[name], abs=1e-9, rel=1e-9), name
    per_image_cider = stats.cider[drawn].mean()
    assert mine["CIDEr"][0] == pytest.approx(per_image_cider, abs=1e-12)


def test_per_image_scores_equal_pycocoevalcap_lists(meteor):
    from pycocoevalcap.bleu.bleu import Bleu

    from vislab.evaluation.captioning_stats import per_image_scores

    rng = np.random.default_rng(7)
    references, predictions = random_captions(rng, 30)
    table = per_image_scores(caption_stats(references, predictions, meteor))
    with contextlib.redirect_stdout(io.StringIO()):
        _, bleu = Bleu(4).compute_score(references, predictions)
    _, meteor_scores = meteor.compute_score(references, predictions)
    np.testing.assert_allclose(table["BLEU-4"], bleu[3], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(table["METEOR"], meteor_scores, rtol=1e-9, atol=1e-12)


def test_meteor_statistics_streamed_equal_the_jars_answers_line_by_line(meteor):
    """1,500 SCORE lines written by a thread while their answers are read (more than a pipe
    holds either way): the same statistics, in the same order, as pycocoevalcap's `_stat`
    round trip, line by line; the warm jar is one process, kept between calls."""
    from vislab.evaluation.captioning_stats import meteor_stats, warm_meteor

    references, predictions = random_captions(np.random.default_rng(11), 1500)
    streamed = meteor_stats(references, predictions, meteor)
    with meteor.lock:
        one_by_one = [
            [float(x) for x in meteor._stat(predictions[key][0], references[key]).split()]
            for key in references
        ]
    np.testing.assert_array_equal(streamed, np.asarray(one_by_one))
    assert warm_meteor() is meteor and meteor.meteor_p.poll() is None
    np.testing.assert_array_equal(meteor_stats(references, predictions), streamed)
