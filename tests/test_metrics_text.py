"""BLEU / Self-BLEU agree with NLTK (smoothing method 1) and hand-computed values; n-gram JSD."""

import math

import pytest
from nltk.translate.bleu_score import SmoothingFunction
from nltk.translate.bleu_score import sentence_bleu as nltk_bleu

from gan_core.metrics.text import bleu, ngram_jsd, self_bleu, sentence_bleu

SENTS = [s.split() for s in (
    "a man riding a wave on top of a surfboard",
    "a man riding a surfboard on a wave",
    "a cat sitting on a wooden bench",
    "two dogs playing with a frisbee in the park",
    "a man on a surfboard riding a big wave",
    "a plate of food with broccoli and rice",
    "a dog",
    "people standing near a red double decker bus on the street",
)]


def nltk_ref(refs, hyp, n):
    return nltk_bleu(refs, hyp, weights=(1 / n,) * n, smoothing_function=SmoothingFunction().method1)


def test_hand_computed_bleu2():
    # hyp "the cat sat" vs ref "the cat is here": p1 = 2/3, p2 = 1/2, BP = exp(1 - 4/3)
    got = sentence_bleu([["the", "cat", "is", "here"]], ["the", "cat", "sat"], n=2)
    assert got == pytest.approx(math.exp(1 - 4 / 3) * math.sqrt(2 / 3 * 1 / 2), abs=1e-12)
    # no trigram match: smoothing method 1 gives p3 = 0.1 / 1
    got3 = sentence_bleu([["the", "cat", "is", "here"]], ["the", "cat", "sat"], n=3)
    assert got3 == pytest.approx(math.exp(1 - 4 / 3) * (2 / 3 * 1 / 2 * 0.1) ** (1 / 3), abs=1e-12)
    assert sentence_bleu([["a", "b"]], ["c", "d"], n=2) == 0.0


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_bleu_matches_nltk(n):
    refs = SENTS[:5]
    for hyp in SENTS:
        assert sentence_bleu(refs, hyp, n) == pytest.approx(nltk_ref(refs, hyp, n), abs=1e-12)
    want = sum(nltk_ref(refs, h, n) for h in SENTS[3:]) / len(SENTS[3:])
    assert bleu(SENTS[3:], refs, n) == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize("n", [2, 3, 4])
def test_self_bleu_matches_nltk_leave_one_out(n):
    sents = SENTS + [SENTS[1], ["a", "dog"]]  # duplicates exercise the leave-one-out maxima
    want = sum(nltk_ref(sents[:i] + sents[i + 1:], s, n) for i, s in enumerate(sents)) / len(sents)
    assert self_bleu(sents, n) == pytest.approx(want, abs=1e-12)


def test_ngram_jsd():
    assert ngram_jsd(SENTS, SENTS, 2) == 0.0
    assert ngram_jsd([["a", "b"]], [["c", "d"]], 2) == pytest.approx(1.0)
    # unigram P = {a: 1/2, b: 1/2}, Q = {a: 1}: JSD = 1.5 - 0.75 log2 3 bits
    assert ngram_jsd([["a", "b"]], [["a"]], 1) == pytest.approx(1.5 - 0.75 * math.log2(3))
    assert 0 < ngram_jsd(SENTS[:4], SENTS[4:], 2) < 1
