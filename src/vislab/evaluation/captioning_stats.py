"""Caption metrics as pycocoevalcap computes them, from statistics that add up over images.

Captions are tokenized as pycocoevalcap's PTB tokenizer (Stanford CoreNLP, Java) does it, in
Python where its rules are reproduced (ptb_tokens.py), then (BLEU, ROUGE-L and CIDEr-D computed as
pycocoevalcap computes them, in arrays: caption_scores.py):

- BLEU-1..4: corpus BLEU (pycocoevalcap's "closest" reference length and smoothing), from each
  image's test and reference lengths and its n-gram guesses and clipped matches;
- METEOR 1.5 (the jar pycocoevalcap ships, `-l en -norm`): each image's sufficient statistics
  from the jar, summed and scored as the jar's EVAL does (a perfectly matched caption adds no
  chunks; English parameters alpha 0.85, beta 0.2, gamma 0.6, delta 0.75, module weights
  1.0 / 0.6 / 0.8 / 0.6);
- ROUGE-L and CIDEr (pycocoevalcap's CIDEr-D: sigma 6, clipped counts, x10): means of per-image
  scores. CIDEr's document frequencies come from the whole reference set and stay fixed: in a
  bootstrap replicate and in a group, each image keeps the score it has in the whole set, so
  scores of groups are comparable with each other.

So every metric of a bootstrap replicate (an image's multiplicity as its weight) or of a group
is exact corpus arithmetic on these statistics; at weight 1 they equal pycocoevalcap's numbers.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import threading
from dataclasses import dataclass

import numpy as np
import pandas as pd

from vislab.errors import InputError
from vislab.evaluation.intervals import WeightedEvaluator

NAMES = ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr"]
METEOR_ALPHA, METEOR_BETA, METEOR_GAMMA, METEOR_DELTA = 0.85, 0.20, 0.60, 0.75
METEOR_MODULE_WEIGHTS = np.array([1.0, 0.60, 0.80, 0.60])
TINY, SMALL = 1e-15, 1e-9  # pycocoevalcap's BLEU smoothing


@dataclass
class CaptionStats:
    """Per image (rows in `image_ids` order): the statistics every caption metric is built from."""

    image_ids: list
    bleu: np.ndarray  # (n, 10): test length, closest reference length, guesses 1-4, matches 1-4
    meteor: np.ndarray  # (n, 23): METEOR 1.5 sufficient statistics
    rouge: np.ndarray  # (n,) ROUGE-L
    cider: np.ndarray  # (n,) CIDEr-D, document frequencies of the whole reference set
    bertscore: np.ndarray | None = None  # (n,) BERTScore-F1 (best reference), when a model is given
    clipscore: np.ndarray | None = None  # (n,) CLIPScore (no references), when a CLIP is given


def require_java() -> None:
    if shutil.which("java") is None:
        raise InputError(
            "caption metrics need Java (METEOR is a Java program, the jar pycocoevalcap "
            "ships): install a Java runtime (e.g. apt install default-jre) and try again."
        )


def tokenize(captions: dict) -> dict:
    """{image_id: [caption, ...]} -> the same, PTB-tokenized and lower-cased as pycocoevalcap
    does it: in Python (ptb_tokens.py) where every caption follows the rules checked against
    its Java tokenizer, else by that tokenizer (all the captions, which it reads as one text)."""
    from vislab.evaluation.ptb_tokens import caption_tokens

    texts = [text.replace("\n", " ") for all_ in captions.values() for text in all_]
    read = caption_tokens(texts)
    if None in read:
        key = [key for key, all_ in captions.items() for _ in all_][read.index(None)]
        return _java_tokenize(captions, key, texts[read.index(None)])
    tokens, first = {}, 0
    for key, all_ in captions.items():
        tokens[key], first = read[first : first + len(all_)], first + len(all_)
    return tokens


def _java_tokenize(captions: dict, key, text: str) -> dict:
    """pycocoevalcap's PTB tokenizer (Java) on all the captions; `text`, of image `key`, is one
    the Python rules do not cover."""
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    if shutil.which("java") is None:
        raise InputError(
            f"caption {text!r} (image {key!r}) needs pycocoevalcap's Java tokenizer (vislab "
            "tokenizes captions of letters, digits and common punctuation itself): install a "
            "Java runtime (e.g. apt install default-jre) and try again."
        )
    wrapped = {image: [{"caption": one} for one in all_] for image, all_ in captions.items()}
    with contextlib.redirect_stdout(io.StringIO()), _quiet_stderr():
        return PTBTokenizer().tokenize(wrapped)


@contextlib.contextmanager
def _quiet_stderr():
    """The tokenizer's Java process reports its speed on the inherited stderr: not for users."""
    import os
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def caption_stats(references: dict, predictions: dict, meteor=None) -> CaptionStats:
    """Statistics of tokenized captions: `references` {id: [str, ...]}, `predictions`
    {id: [str]} (BLEU, ROUGE-L and CIDEr-D in arrays, caption_scores.py; METEOR from the
    jar)."""
    from vislab.evaluation.caption_scores import scores

    image_ids = list(references)
    ordered_predictions = {key: predictions[key] for key in image_ids}
    bleu, rouge, cider = scores(references, ordered_predictions)
    return CaptionStats(
        image_ids,
        bleu,
        meteor_stats(references, ordered_predictions, meteor),
        rouge,
        cider,
    )


@contextlib.contextmanager
def meteor_process():
    """pycocoevalcap's METEOR jar, started once (it loads its paraphrase tables) and closed."""
    from pycocoevalcap.meteor.meteor import Meteor

    require_java()
    scorer = Meteor()
    try:
        yield scorer
    finally:
        process = scorer.meteor_p
        for stream in (process.stdin, process.stdout, process.stderr):
            stream.close()
        process.kill()
        process.wait()


def meteor_stats(references: dict, predictions: dict, scorer=None) -> np.ndarray:
    """Each image's 23 METEOR statistics, from the jar pycocoevalcap ships (`scorer`, a started
    one; None: the warm one this process keeps, `warm_meteor`). The SCORE lines are written by
    a thread while the answers are read: one stream each way, not a round trip per image (the
    jar answers each line in order)."""
    if scorer is None:
        scorer = warm_meteor()
    lines = [_score_line(predictions[key][0], references[key]) for key in references]
    with scorer.lock:
        process = scorer.meteor_p
        writer = threading.Thread(target=_write_lines, args=(process.stdin, lines))
        writer.start()
        answers = [process.stdout.readline() for _ in lines]
        writer.join()
    rows = [[float(x) for x in answer.decode().split()] for answer in answers]
    return np.asarray(rows, dtype=float).reshape(-1, 23)


def _score_line(hypothesis: str, references: list[str]) -> bytes:
    """pycocoevalcap's SCORE line (its `_stat`): the references, then the hypothesis."""
    hypothesis = hypothesis.replace("|||", "").replace("  ", " ")
    return ("SCORE ||| " + " ||| ".join(references) + " ||| " + hypothesis + "\n").encode()


def _write_lines(stream, lines: list[bytes]) -> None:
    for line in lines:
        stream.write(line)
    stream.flush()


_warm: list = []  # the METEOR jar this process keeps started


def warm_meteor():
    """The METEOR jar, started at the first call (the JVM and its paraphrase tables take
    seconds) and kept for every later one; closed when Python exits."""
    require_java()
    if not _warm:
        import atexit

        context = meteor_process()
        _warm.append(context.__enter__())
        atexit.register(context.__exit__, None, None, None)
    return _warm[0]


def caption_metrics(stats: CaptionStats, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Every metric for each row of `weights` (b, n): an image's multiplicity (0 leaves it out)."""
    weights = np.atleast_2d(np.asarray(weights, dtype=float))
    counts = weights.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        result = _bleu(weights @ stats.bleu)
        result["METEOR"] = _meteor(weights, stats.meteor)
        result["ROUGE-L"] = (weights @ stats.rouge) / counts
        result["CIDEr"] = (weights @ stats.cider) / counts
        for name, values in (("BERTScore-F1", stats.bertscore), ("CLIPScore", stats.clipscore)):
            if values is not None:
                result[name] = (weights @ values) / counts
    return result


def _bleu(totals: np.ndarray) -> dict[str, np.ndarray]:
    test, reference = totals[:, 0], totals[:, 1]
    guess, correct = totals[:, 2:6], totals[:, 6:10]
    ratio = (test + TINY) / (reference + SMALL)
    penalty = np.where(ratio < 1, np.exp(1 - 1 / np.maximum(ratio, TINY)), 1.0)
    result, product = {}, np.ones(len(totals))
    for k in range(4):
        product = product * (correct[:, k] + TINY) / (guess[:, k] + SMALL)
        result[f"BLEU-{k + 1}"] = product ** (1.0 / (k + 1)) * penalty
    return result


def _meteor(weights: np.ndarray, stats: np.ndarray) -> np.ndarray:
    """METEOR 1.5's aggregate score of the weighted sum of per-image statistics."""
    modules = stats[:, 4:20].reshape(-1, 4, 4)  # (n, module, [test/ref content, test/ref function])
    test_matches = modules[:, :, 0].sum(1) + modules[:, :, 2].sum(1)
    ref_matches = modules[:, :, 1].sum(1) + modules[:, :, 3].sum(1)
    perfect = (test_matches == stats[:, 0]) & (ref_matches == stats[:, 1]) & (stats[:, 20] == 1)
    chunks = np.where(perfect, 0.0, stats[:, 20])  # a perfect caption adds no chunks
    total = weights @ stats
    total[:, 20] = weights @ chunks
    return _meteor_score(total, weights @ test_matches, weights @ ref_matches)


def _meteor_score(
    total: np.ndarray, test_matches: np.ndarray, ref_matches: np.ndarray
) -> np.ndarray:
    """The jar's computeMetrics on (summed) statistics rows."""
    summed = total[:, 4:20].reshape(-1, 4, 4)
    delta, weights = METEOR_DELTA, METEOR_MODULE_WEIGHTS
    test_length = delta * (total[:, 0] - total[:, 2]) + (1 - delta) * total[:, 2]
    ref_length = delta * (total[:, 1] - total[:, 3]) + (1 - delta) * total[:, 3]
    test_weighted = (summed[:, :, 0] * weights * delta).sum(1) + (
        summed[:, :, 2] * weights * (1 - delta)
    ).sum(1)
    ref_weighted = (summed[:, :, 1] * weights * delta).sum(1) + (
        summed[:, :, 3] * weights * (1 - delta)
    ).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision, recall = test_weighted / test_length, ref_weighted / ref_length
        f_mean = 1.0 / ((1.0 - METEOR_ALPHA) / precision + METEOR_ALPHA / recall)
        chunks = total[:, 20]
        same = (test_matches == total[:, 0]) & (ref_matches == total[:, 1]) & (chunks == 1)
        fragmentation = np.where(same, 0.0, chunks / ((total[:, 21] + total[:, 22]) / 2))
        score = f_mean * (1.0 - METEOR_GAMMA * fragmentation**METEOR_BETA)
    return np.where(np.isnan(score), 0.0, np.maximum(score, 0.0))


def per_image_scores(stats: CaptionStats) -> pd.DataFrame:
    """Each image's own scores (its caption alone as the corpus), as pycocoevalcap lists them."""
    modules = stats.meteor[:, 4:20].reshape(-1, 4, 4)
    test_matches = modules[:, :, 0].sum(1) + modules[:, :, 2].sum(1)
    ref_matches = modules[:, :, 1].sum(1) + modules[:, :, 3].sum(1)
    table = pd.DataFrame({"image_id": stats.image_ids})
    for name, values in _bleu(stats.bleu).items():
        table[name] = values
    table["METEOR"] = _meteor_score(stats.meteor.copy(), test_matches, ref_matches)
    table["ROUGE-L"], table["CIDEr"] = stats.rouge, stats.cider
    for name, values in (("BERTScore-F1", stats.bertscore), ("CLIPScore", stats.clipscore)):
        if values is not None:
            table[name] = values
    return table


class CaptionEvaluator(WeightedEvaluator):
    """The `Evaluator` of captioning (intervals.py): every caption metric for image weights."""

    def __init__(self, stats: CaptionStats) -> None:
        super().__init__(len(stats.image_ids))
        self.stats = stats
        extra = (("BERTScore-F1", stats.bertscore), ("CLIPScore", stats.clipscore))
        self.names = [*NAMES, *(name for name, values in extra if values is not None)]

    @property
    def cells(self) -> int:
        return self.count * self.stats.meteor.shape[1]

    def metrics(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        return caption_metrics(self.stats, weights)
