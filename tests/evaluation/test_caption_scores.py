"""BLEU statistics, ROUGE-L and CIDEr-D in arrays against pycocoevalcap's own scorers, image by
image, on many random caption sets: repeated words, empty captions, double, leading and
trailing spaces and tabs (which ROUGE-L, splitting on single spaces, counts differently), one
to five references, and a caption holding the word separator vislab splits with."""

from __future__ import annotations

import numpy as np
import pytest

from vislab.evaluation import caption_scores


def _pycocoevalcap(references: dict, predictions: dict):
    from pycocoevalcap.bleu.bleu_scorer import BleuScorer
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    scorer = BleuScorer(n=4)
    for key in references:
        scorer += (predictions[key][0], references[key])
    bleu = [
        [
            comps["testlen"],
            scorer._single_reflen(comps["reflen"], "closest", comps["testlen"]),
            *comps["guess"],
            *comps["correct"],
        ]
        for comps in scorer.ctest
    ]
    _, rouge = Rouge().compute_score(references, predictions)
    _, cider = Cider().compute_score(references, predictions)
    return np.asarray(bleu, dtype=float), np.asarray(rouge), np.asarray(cider)


def _sentence(rng: np.random.Generator, words: list[str], longest: int = 15) -> str:
    count = 0 if rng.random() < 0.04 else int(rng.integers(1, longest + 1))
    text = " ".join(rng.choice(words, count))
    roll = rng.random()
    if roll < 0.05:
        text = text.replace(" ", "  ", 1)  # a double space
    elif roll < 0.08:
        text = f" {text} "  # leading and trailing spaces
    elif roll < 0.1:
        text = text.replace(" ", "\t", 1)
    return text


@pytest.mark.parametrize("seed", range(32))
def test_bleu_rouge_and_cider_equal_pycocoevalcap_image_by_image(seed):
    """Seeds 25 to 29: captions of at most 1, 2 or 3 words (no 4-grams anywhere, or no
    n-grams at all but words), as a small captioner writes them; 30 and 31: a reference and
    a hypothesis of 700 words (counted by hashing, not compiled)."""
    rng = np.random.default_rng(seed)
    words = [f"w{k}" for k in range(int(rng.integers(2, 60)))]
    if seed == 3:
        words.append(caption_scores.SEPARATOR)  # split one caption at a time
    longest = 15 if seed < 25 or seed >= 30 else 1 + seed % 3
    images = int(rng.integers(1, 80))
    references = {
        f"img{i}": [_sentence(rng, words, longest) for _ in range(int(rng.integers(1, 6)))]
        for i in range(images)
    }
    predictions = {
        key: [texts[0] if rng.random() < 0.1 else _sentence(rng, words, longest)]
        for key, texts in references.items()
    }
    if seed >= 30:
        references["img0"][0] = " ".join(rng.choice(words, 700))
        predictions["img0"] = [" ".join(rng.choice(words, 700))]
    bleu, rouge, cider = caption_scores.scores(references, predictions)
    expected_bleu, expected_rouge, expected_cider = _pycocoevalcap(references, predictions)
    np.testing.assert_array_equal(bleu, expected_bleu)
    np.testing.assert_allclose(rouge, expected_rouge, rtol=0, atol=1e-12)
    np.testing.assert_allclose(cider, expected_cider, rtol=0, atol=1e-12)


def test_words_are_split_as_python_splits_them_all_at_once():
    sentences = ["a b", "", "  c\td ", "a  b", " ", "e"]
    for sep in (None, " "):
        ids, lengths, _ = caption_scores.word_ids(sentences, sep)
        expected = [sentence.split(sep) for sentence in sentences]
        assert lengths.tolist() == [len(words) for words in expected]
        flat = [word for words in expected for word in words]
        first = {word: ids[flat.index(word)] for word in flat}
        assert ids.tolist() == [first[word] for word in flat]
        assert len(set(ids.tolist())) == len(set(flat))
