"""The n-gram sums of BLEU and CIDEr-D, compiled by numba: one pass over each image's
hypothesis and references (this module imports numba: it is imported only when captions are
scored).

Each sentence's distinct n-grams come with their counts, in the order they first appear; a
scratch array indexed by n-gram id holds, for the image at hand, the most any of its references
has of an n-gram (BLEU's clipping) and the hypothesis' tf-idf weight of an n-gram (CIDEr-D's
clipped products), and is cleared after it. Sums run in the order of the n-grams' first
appearance, as the arrays they replace summed them.
"""

from __future__ import annotations

import numba
import numpy as np

LONG = 512  # words in a sentence beyond which its distinct n-grams are found by hashing


@numba.njit(cache=True, nogil=True)
def distinct_counts(sentence, ids):
    """(sentence, id, count) of each distinct n-gram of each sentence (`sentence` sorted), in
    the order they first appear."""
    count = len(ids)
    out_sentence = np.empty(count, np.int64)
    out_id = np.empty(count, np.int64)
    out_count = np.empty(count, np.int64)
    written = first = 0
    for i in range(count):
        if i == 0 or sentence[i] != sentence[i - 1]:
            first = written
        found = -1
        for j in range(first, written):
            if out_id[j] == ids[i]:
                found = j
                break
        if found > -1:
            out_count[found] += 1
        else:
            out_sentence[written], out_id[written], out_count[written] = sentence[i], ids[i], 1
            written += 1
    return out_sentence[:written], out_id[:written], out_count[:written]


@numba.njit(cache=True, nogil=True)
def document_frequency(ids, start, references, span):
    """How many images hold each n-gram in a reference: `references` (images + 1) the first
    reference sentence of each image, `start` each sentence's first distinct n-gram."""
    frequency = np.zeros(span)
    seen = np.full(span, -1, np.int64)
    for image in range(len(references) - 1):
        for sentence in range(references[image], references[image + 1]):
            for j in range(start[sentence], start[sentence + 1]):
                if seen[ids[j]] != image:
                    seen[ids[j]] = image
                    frequency[ids[j]] += 1.0
    return frequency


@numba.njit(cache=True, nogil=True)
def gram_sums(ids, counts, start, references, idf, matches, norm_h, norm_r, products):
    """Per image: into matches the hypothesis' n-grams found in a reference (each clipped at
    its most frequent count in one reference), into norm_h the norm of its tf-idf vector; per
    reference: into norm_r its norm, into products the sum of min(h, r) * r over its n-grams."""
    images = len(references) - 1
    best = np.zeros(len(idf), np.int64)
    weight = np.zeros(len(idf))
    for image in range(images):
        first, last = references[image], references[image + 1]
        for sentence in range(first, last):
            for j in range(start[sentence], start[sentence + 1]):
                best[ids[j]] = max(best[ids[j]], counts[j])
        found, norm = 0, 0.0
        for j in range(start[image], start[image + 1]):
            found += min(counts[j], best[ids[j]])
            value = counts[j] * idf[ids[j]]
            weight[ids[j]] = value
            norm += value * value
        matches[image], norm_h[image] = found, np.sqrt(norm)
        for sentence in range(first, last):
            norm, product = 0.0, 0.0
            for j in range(start[sentence], start[sentence + 1]):
                value = counts[j] * idf[ids[j]]
                norm += value * value
                product += min(weight[ids[j]], value) * value
            norm_r[sentence - images], products[sentence - images] = np.sqrt(norm), product
        for sentence in range(first, last):
            for j in range(start[sentence], start[sentence + 1]):
                best[ids[j]] = 0
        for j in range(start[image], start[image + 1]):
            weight[ids[j]] = 0.0
