"""BLEU statistics, ROUGE-L and CIDEr-D of tokenized captions as pycocoevalcap computes them, in
arrays over all images at once instead of a dictionary of n-grams per caption.

Every caption's n-grams (1 to 4 words) get integer ids (a k-gram's id from its (k-1)-gram
prefix's and its last word's, by hashing), each sentence's distinct n-grams their counts, and
one compiled pass per n over the images (caption_grams.py) sums what BLEU and CIDEr-D need:

- BLEU: per image the hypothesis length, the closest reference length (ties: the shorter), the
  n-grams guessed and those matched, each clipped at its most frequent count in one reference;
- ROUGE-L: the longest common subsequence of the hypothesis and each reference (compiled by
  numba), the best precision and the best recall over the references, their F-measure with
  beta 1.2; tokens split on single spaces, as pycocoevalcap splits them;
- CIDEr-D: tf-idf vectors of n-grams whose document frequencies come from the references of
  every image; per reference the clipped product min(h, r) * r over the norms, times a Gaussian
  penalty (sigma 6) on the difference of the two captions' lengths, counted in bigrams as
  pycocoevalcap counts them; averaged over n and the references, times 10.

The tests compare all three with pycocoevalcap's own scorers on many random captions.
"""

from __future__ import annotations

import functools
import re

import numpy as np

N = 4  # n-grams of 1 to N words
SIGMA = 6.0  # CIDEr-D's length penalty
BETA = 1.2  # ROUGE-L's weight of recall


class Captions:
    """Sentences as word ids (split on any whitespace), sentence after sentence, with their
    n-grams: `grams[k]` (sentence, id) of each k+1-gram occurrence, ids shared by all the
    sentences."""

    def __init__(self, sentences: list[str], words=None):
        """`words`: word_ids(sentences) where already known."""
        tokens, self.lengths, vocabulary = words or word_ids(sentences)
        owner = np.repeat(np.arange(len(sentences)), self.lengths)
        self.grams = _ngrams(tokens, owner, self.lengths, vocabulary + 1)


_OTHER_SPACE = re.compile(r"[^\S ]")  # whitespace but the space
SEPARATOR = "\ue000"  # a word no caption holds (Unicode private use): split as one string


def word_ids(sentences: list[str], sep: str | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Every sentence's words (`str.split(sep)`: None, any whitespace; " ", single spaces, as
    ROUGE-L splits) as ids, one after the other; each sentence's number of words; how many
    distinct words. All sentences are split at once, joined by SEPARATOR (one at a time where
    a caption holds it)."""
    return _words(sentences, sep)[:3]


def _words(sentences: list[str], sep: str | None):
    """word_ids, and the id of the empty word ("".split(" ") gives one), None if none."""
    import pandas as pd

    if any(SEPARATOR in sentence for sentence in sentences):
        split = [sentence.split(sep) for sentence in sentences]
        lengths = np.array([len(words) for words in split], dtype=np.int64)
        codes, uniques = pd.factorize([word for words in split for word in words])
        return codes.astype(np.int64), lengths, len(uniques), _where(uniques, "")
    words = f" {SEPARATOR} ".join(sentences).split(sep)
    codes, uniques = pd.factorize(np.asarray(words, dtype=object))
    marker = _where(uniques, SEPARATOR)
    ends = np.flatnonzero(codes == marker) if marker is not None else np.zeros(0, np.int64)
    bounds = np.r_[-1, ends, len(codes)]
    lengths = np.diff(bounds) - 1
    kept = np.ones(len(codes), bool)
    kept[ends] = False
    vocabulary = len(uniques)
    return codes[kept].astype(np.int64), lengths.astype(np.int64), vocabulary, _where(uniques, "")


def _where(uniques: np.ndarray, word: str) -> int | None:
    found = np.flatnonzero(uniques == word)
    return int(found[0]) if len(found) else None


def _ngrams(tokens: np.ndarray, owner: np.ndarray, lengths: np.ndarray, vocabulary: int):
    """Per k (0 to N-1) the (sentence, id) of every k+1-gram: an id from its prefix's id and
    its last word (made dense again at each k, so that ids never overflow)."""
    import pandas as pd

    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    position = np.arange(len(tokens)) - starts
    ids = tokens.copy()  # the 1-gram starting at each token
    found = [(owner, ids)]
    for k in range(1, N):
        inside = position + k < lengths[owner]  # a k+1-gram starts here
        where = np.flatnonzero(inside)
        keys = ids[where] * vocabulary + tokens[where + k]
        dense = pd.factorize(keys)[0]  # by hashing: any dense numbering will do
        ids = np.full(len(tokens), -1, np.int64)
        ids[where] = dense
        found.append((owner[where], dense))
    return found


def _counts(sentence: np.ndarray, ids: np.ndarray, longest: int):
    """(sentence, id, count) of each distinct n-gram of each sentence (sentences in order), in
    the order they first appear: compiled, or by hashing where a sentence is long."""
    import pandas as pd

    from vislab.evaluation.caption_grams import LONG, distinct_counts

    if not len(ids):
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    if longest <= LONG:
        return distinct_counts(sentence, ids)
    span = int(ids.max()) + 1
    codes, keys = pd.factorize(sentence * span + ids)
    return keys // span, keys % span, np.bincount(codes, minlength=len(keys))


def scores(references: dict, predictions: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(BLEU statistics (n, 10), ROUGE-L (n,), CIDEr-D (n,)) of tokenized captions, images in
    `references`' order: references {id: [str, ...]}, predictions {id: [str]}."""
    keys = list(references)
    hypotheses = [predictions[key][0] for key in keys]
    texts = [text for key in keys for text in references[key]]
    counts = np.array([len(references[key]) for key in keys], dtype=np.int64)
    sentences = hypotheses + texts  # the hypotheses first, then every reference
    spaced = _words(sentences, " ")  # ROUGE-L's words: split on single spaces
    every = Captions(sentences, _without_empty(sentences, spaced))
    sums = GramSums(every, len(keys), counts)
    return _bleu(sums), _rouge(spaced[:2], len(hypotheses), counts), _cider(sums)


def _without_empty(sentences: list[str], spaced) -> tuple | None:
    """The words of `str.split()` from those of `str.split(" ")` (the empty words dropped),
    where the sentences hold no whitespace but spaces; else None (split them again)."""
    tokens, lengths, vocabulary, empty = spaced
    if _OTHER_SPACE.search("".join(sentences)):
        return None
    if empty is None:
        return tokens, lengths, vocabulary
    kept = tokens != empty  # its id stays unused
    owner = np.repeat(np.arange(len(lengths)), lengths)
    return tokens[kept], np.bincount(owner[kept], minlength=len(lengths)), vocabulary


class GramSums:
    """The hypotheses' and the references' lengths, each reference's image, and per n (columns
    0 to N-1) what BLEU and CIDEr-D sum over n-grams (caption_grams.gram_sums): per image the
    clipped matches and the norm of the hypothesis' tf-idf vector, per reference its norm and
    its clipped product with the hypothesis. Document frequencies count the images whose
    references hold an n-gram."""

    def __init__(self, every: Captions, images: int, counts: np.ndarray):
        from vislab.evaluation.caption_grams import document_frequency, gram_sums

        self.images, self.counts = images, counts
        self.test, self.ref_lengths = every.lengths[:images], every.lengths[images:]
        self.image_of_ref = np.repeat(np.arange(images), counts)
        total, references = len(every.lengths), len(self.ref_lengths)
        first_reference = images + np.r_[0, np.cumsum(counts)]
        longest = int(every.lengths.max(initial=0))
        ref_len = np.log(float(images))
        per_image, per_reference = np.zeros((2, N, images)), np.zeros((2, N, references))
        for k in range(N):
            owner, ids, tf = _counts(*every.grams[k], longest)
            start = np.searchsorted(owner, np.arange(total + 1))
            span = int(ids.max(initial=0)) + 1
            frequency = document_frequency(ids, start, first_reference, span)
            idf = ref_len - np.log(np.maximum(1.0, frequency))
            gram_sums(ids, tf, start, first_reference, idf, per_image[0, k], per_image[1, k],
                      per_reference[0, k], per_reference[1, k])  # fmt: skip
        self.matches, self.norm_h = per_image[0].T, per_image[1].T  # (images, N)
        self.norm_r, self.products = per_reference[0].T, per_reference[1].T  # (references, N)


def _bleu(sums: GramSums) -> np.ndarray:
    """Per image: test length, closest reference length, guesses 1-4, matches 1-4."""
    test, lengths, image_of_ref = sums.test, sums.ref_lengths, sums.image_of_ref
    closest = np.zeros(sums.images, np.int64)
    distance = np.abs(lengths - test[image_of_ref])
    order = np.lexsort((lengths, distance, image_of_ref))  # nearest, then shorter
    first = np.unique(image_of_ref[order], return_index=True)[1]
    closest[image_of_ref[order][first]] = lengths[order][first]
    guesses = np.maximum(0, test[:, None] - np.arange(N)[None, :])
    return np.column_stack([test, closest, guesses, sums.matches]).astype(float)


def _cider(sums: GramSums) -> np.ndarray:
    image_of_ref, norm_h, norm_r = sums.image_of_ref, sums.norm_h, sums.norm_r
    norms = norm_h[image_of_ref] * norm_r
    both = (norm_h[image_of_ref] != 0) & (norm_r != 0)
    sims = np.where(both, sums.products / np.where(both, norms, 1.0), sums.products)
    bigrams = np.maximum(sums.test - 1, 0)[image_of_ref] - np.maximum(sums.ref_lengths - 1, 0)
    delta = bigrams.astype(float)  # pycocoevalcap's caption length: its bigrams
    sims *= (np.e ** (-(delta**2) / (2 * SIGMA**2)))[:, None]
    total = np.zeros((sums.images, N))
    np.add.at(total, image_of_ref, sims)
    return total.mean(axis=1) / sums.counts * 10.0


def _rouge(words: tuple, count: int, counts: np.ndarray) -> np.ndarray:
    """ROUGE-L of `count` hypotheses and then their references: words (tokens, lengths) split
    on single spaces, as pycocoevalcap splits them."""
    tokens, lengths = words
    cut = int(lengths[:count].sum())
    hyp_tokens, hyp_lengths = tokens[:cut], lengths[:count]
    ref_tokens, ref_lengths = tokens[cut:], lengths[count:]
    image_of_ref = np.repeat(np.arange(len(counts)), counts)
    common = np.zeros(len(ref_lengths), np.int64)
    _compiled_lcs()(
        hyp_tokens,
        np.cumsum(hyp_lengths) - hyp_lengths,
        hyp_lengths,
        ref_tokens,
        np.cumsum(ref_lengths) - ref_lengths,
        ref_lengths,
        image_of_ref,
        common,
    )
    precision = common / hyp_lengths[image_of_ref].astype(float)
    recall = common / ref_lengths.astype(float)
    best_p, best_r = np.zeros(len(counts)), np.zeros(len(counts))
    np.maximum.at(best_p, image_of_ref, precision)
    np.maximum.at(best_r, image_of_ref, recall)
    both = (best_p != 0) & (best_r != 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = ((1 + BETA**2) * best_p * best_r) / (best_r + BETA**2 * best_p)
    return np.where(both, score, 0.0)


@functools.cache
def _compiled_lcs():
    """`_lcs` compiled by numba (imported and compiled at first use, cached on disk)."""
    import numba

    return numba.njit(cache=True, nogil=True)(_lcs)


def _lcs(hyp, hyp_starts, hyp_lengths, ref, ref_starts, ref_lengths, image_of_ref, out):
    """The length of the longest common subsequence of each reference and its image's
    hypothesis (one row of the table at a time)."""
    for r in range(len(ref_lengths)):
        h = image_of_ref[r]
        a, m = hyp_starts[h], hyp_lengths[h]
        b, n = ref_starts[r], ref_lengths[r]
        row = np.zeros(n + 1, np.int64)
        for i in range(m):
            diagonal = 0
            for j in range(n):
                above = row[j + 1]
                if hyp[a + i] == ref[b + j]:
                    row[j + 1] = diagonal + 1
                elif row[j] > above:
                    row[j + 1] = row[j]
                diagonal = above
        out[r] = row[n]
