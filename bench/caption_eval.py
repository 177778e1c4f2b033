"""Caption evaluation speed: 1,000 bootstrap resamples of 5,000 captions, against pycocoevalcap.

vislab computes pycocoevalcap's statistics once (PTB tokenization, per-image BLEU counts,
METEOR statistics from the jar, ROUGE-L and CIDEr-D scores) and re-aggregates them for each
resample; the statistics are timed twice, the second time with the METEOR jar warm (started,
its paraphrase tables loaded), as every call after a process's first finds it. The
alternative, measured side by side in the same run, is pycocoevalcap's scorers run on a
resampled caption set; its time on a few resamples is extrapolated to 1,000. And one pass from
raw captions: tokenizing (vislab's Python PTB tokenizer, pycocoevalcap's Java one), then BLEU,
ROUGE-L and CIDEr-D (vislab's arrays, pycocoevalcap's scorers), then all metrics with METEOR
(vislab's jar warm, pycocoevalcap's started as its evaluation starts it).

    python bench/caption_eval.py [--n 5000] [--resamples 1000] [--baseline 3]
        [--out bench/results/caption_eval.json]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import time
from pathlib import Path

import numpy as np

from vislab.evaluation.bootstrap import draw_replicates
from vislab.evaluation.captioning_stats import (
    caption_metrics,
    caption_stats,
    meteor_process,
    tokenize,
)

ROUNDS = 3  # one pass timed this many times on each side: the fastest counts

WORDS = [
    "a",
    "man",
    "woman",
    "dog",
    "cat",
    "child",
    "riding",
    "horse",
    "beach",
    "snow",
    "playing",
    "two",
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
    "people",
    "group",
    "sitting",
    "table",
    "standing",
]


def captions(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)

    def sentence():  # as people write captions: a capital, a period
        return " ".join(rng.choice(WORDS, size=int(rng.integers(5, 13)))).capitalize() + "."

    references = {i: [sentence() for _ in range(5)] for i in range(n)}
    return references, {i: [sentence()] for i in range(n)}


def pycocoevalcap_once(references, predictions, meteor) -> None:
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    with contextlib.redirect_stdout(io.StringIO()):
        Bleu(4).compute_score(references, predictions)
    meteor.compute_score(references, predictions)
    Rouge().compute_score(references, predictions)
    Cider().compute_score(references, predictions)


def one_pass(raw_references, raw_predictions) -> dict:
    """One pass from raw captions: BLEU, ROUGE-L and CIDEr-D (vislab: the Python PTB tokenizer
    and the arrays; pycocoevalcap: its Java tokenizer and its scorers), and all metrics with
    METEOR (vislab's jar warm; pycocoevalcap's Meteor() started as each evaluation starts it).
    Each side's best of ROUNDS rounds. The same numbers: the tests compare them."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    from vislab.evaluation.caption_scores import scores

    def wrap(captions):
        return {key: [{"caption": text} for text in texts] for key, texts in captions.items()}

    def vislab_round():
        start = time.perf_counter()
        references, predictions = tokenize(raw_references), tokenize(raw_predictions)
        tokens = time.perf_counter() - start
        scores(references, predictions)
        scored = time.perf_counter() - start
        start = time.perf_counter()
        caption_stats(tokenize(raw_references), tokenize(raw_predictions))
        return tokens, scored, time.perf_counter() - start

    def pycocoevalcap_round():
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            references = PTBTokenizer().tokenize(wrap(raw_references))
            predictions = PTBTokenizer().tokenize(wrap(raw_predictions))
            tokens = time.perf_counter() - start
            Bleu(4).compute_score(references, predictions)
        Rouge().compute_score(references, predictions)
        Cider().compute_score(references, predictions)
        return tokens, time.perf_counter() - start, (references, predictions)

    caption_stats(tokenize(raw_references), tokenize(raw_predictions))  # compiled, jar warm
    ours_tokens, ours, ours_all = np.min([vislab_round() for _ in range(ROUNDS)], axis=0)
    theirs_rounds = [pycocoevalcap_round() for _ in range(ROUNDS)]
    theirs_tokens = min(tokens for tokens, _, _ in theirs_rounds)
    theirs = min(scored for _, scored, _ in theirs_rounds)
    start = time.perf_counter()
    meteor = Meteor()  # as every pycocoevalcap evaluation starts it
    meteor.compute_score(*theirs_rounds[0][2])
    theirs_all = theirs + time.perf_counter() - start
    del meteor
    return {
        "tokenize_vislab_s": round(ours_tokens, 3),
        "tokenize_pycocoevalcap_s": round(theirs_tokens, 3),
        "bleu_rouge_cider_vislab_s": round(ours, 3),
        "bleu_rouge_cider_pycocoevalcap_s": round(theirs, 3),
        "bleu_rouge_cider_speedup": round(theirs / ours, 1),
        "all_metrics_vislab_s": round(ours_all, 3),
        "all_metrics_pycocoevalcap_s": round(theirs_all, 3),
        "all_metrics_speedup": round(theirs_all / ours_all, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--baseline", type=int, default=3, help="pycocoevalcap resamples to time")
    parser.add_argument("--out", default="bench/results/caption_eval.json")
    args = parser.parse_args()
    raw_references, raw_predictions = captions(args.n)
    passes = one_pass(raw_references, raw_predictions)
    references, predictions = raw_references, raw_predictions
    start = time.perf_counter()
    references, predictions = tokenize(references), tokenize(predictions)
    tokenized = time.perf_counter() - start
    with meteor_process() as meteor:
        start = time.perf_counter()
        stats = caption_stats(references, predictions, meteor)
        statistics = time.perf_counter() - start
        start = time.perf_counter()
        caption_stats(references, predictions, meteor)  # the jar warm, as on a second call
        statistics_warm = time.perf_counter() - start
        start = time.perf_counter()
        for replicates in draw_replicates(args.n, args.resamples, 0, per_chunk=200):
            caption_metrics(stats, replicates.weights_over(args.n))
        resampling = time.perf_counter() - start
        rng = np.random.default_rng(1)
        start = time.perf_counter()
        for _ in range(args.baseline):
            drawn = rng.integers(0, args.n, args.n)
            pycocoevalcap_once(
                {k: references[int(i)] for k, i in enumerate(drawn)},
                {k: predictions[int(i)] for k, i in enumerate(drawn)},
                meteor,
            )
        per_resample = (time.perf_counter() - start) / args.baseline
    vislab_total = statistics + resampling
    baseline_total = per_resample * args.resamples
    result = {
        "captions": args.n,
        "resamples": args.resamples,
        "tokenize_s": round(tokenized, 2),
        "statistics_s": round(statistics, 2),
        "statistics_warm_jar_s": round(statistics_warm, 2),
        "resampling_s": round(resampling, 2),
        "vislab_total_s": round(vislab_total, 2),
        "pycocoevalcap_per_resample_s": round(per_resample, 2),
        "pycocoevalcap_extrapolated_s": round(baseline_total, 1),
        "speedup": round(baseline_total / vislab_total, 1),
        **passes,
    }
    print(json.dumps(result, indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
