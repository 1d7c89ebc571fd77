"""Text metrics: BLEU-n and Self-BLEU-n (NLTK-compatible), n-gram Jensen-Shannon divergence.

BLEU-n is NLTK's ``sentence_bleu`` with uniform weights (1/n, ..., 1/n) and smoothing method 1
(epsilon 0.1 added to zero-count precisions), brevity penalty against the closest reference length,
averaged over hypotheses - the Texygen protocol. Reference n-gram maxima are precomputed once, so
scoring M hypotheses against R references costs O(M + R) instead of O(M * R).
Self-BLEU-n scores each sentence against all the others (lower = more diverse).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

Sentence = Sequence[str]
EPSILON = 0.1  # NLTK SmoothingFunction().method1 default


def ngrams(tokens: Sentence, n: int) -> Counter:
    """Counts of the n-grams of one sentence."""
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


class References:
    """Per n-gram, the largest count in any reference (and the runner-up, to leave one out)."""

    def __init__(self, refs: Sequence[Sentence], max_n: int):
        if not refs:
            raise ValueError("BLEU needs at least one reference sentence")
        self.n_refs = len(refs)
        self.lengths = Counter(len(r) for r in refs)
        self.ref_len = [len(r) for r in refs]
        self.best: list[dict[tuple, list]] = []  # order -> ngram -> [max1, owner of max1, max2]
        for n in range(1, max_n + 1):
            table: dict[tuple, list] = {}
            for i, r in enumerate(refs):
                for g, c in ngrams(r, n).items():
                    e = table.setdefault(g, [0, -1, 0])
                    if c > e[0]:
                        e[:] = [c, i, e[0]]
                    elif c > e[2]:
                        e[2] = c
            self.best.append(table)

    def max_count(self, n: int, g: tuple, exclude: int) -> int:
        """Largest count of n-gram ``g`` in any reference except index ``exclude``."""
        e = self.best[n - 1].get(g)
        if e is None:
            return 0
        return e[2] if e[1] == exclude else e[0]

    def closest_length(self, hyp_len: int, exclude: int) -> int:
        """NLTK's closest reference length (ties -> the shorter), leaving one reference out."""
        lengths = self.lengths
        if exclude >= 0:
            lengths = lengths.copy()
            lengths[self.ref_len[exclude]] -= 1
        return min((L for L, c in lengths.items() if c > 0), key=lambda L: (abs(L - hyp_len), L))


def _bleu(refs: References, hyp: Sentence, n: int, exclude: int = -1) -> float:
    """Sentence BLEU-n of ``hyp`` against the reference table, NLTK smoothing method 1."""
    logs = []
    for order in range(1, n + 1):
        counts = ngrams(hyp, order) if len(hyp) >= order else Counter()
        num = sum(min(c, refs.max_count(order, g, exclude)) for g, c in counts.items())
        den = max(1, sum(counts.values()))
        if order == 1 and num == 0:
            return 0.0  # NLTK: no unigram match -> 0
        p = num / den if num else EPSILON / den
        logs.append(math.log(p) / n)
    r = refs.closest_length(len(hyp), exclude)
    c = len(hyp)
    bp = 1.0 if c > r else (0.0 if c == 0 else math.exp(1 - r / c))
    return bp * math.exp(math.fsum(logs))


def sentence_bleu(references: Sequence[Sentence], hypothesis: Sentence, n: int = 4) -> float:
    """BLEU-n of one tokenized hypothesis against tokenized references (equals NLTK's)."""
    return _bleu(References(references, n), hypothesis, n)


def bleu(hypotheses: Sequence[Sentence], references: Sequence[Sentence], n: int = 4) -> float:
    """Mean sentence BLEU-n of each hypothesis against the same reference set."""
    if not hypotheses:
        raise ValueError("BLEU needs at least one hypothesis")
    refs = References(references, n)
    return math.fsum(_bleu(refs, h, n) for h in hypotheses) / len(hypotheses)


def self_bleu(sentences: Sequence[Sentence], n: int = 4) -> float:
    """Mean BLEU-n of each sentence against all the other sentences (diversity; lower is better)."""
    if len(sentences) < 2:
        raise ValueError("Self-BLEU needs at least two sentences")
    refs = References(sentences, n)
    return math.fsum(_bleu(refs, s, n, exclude=i) for i, s in enumerate(sentences)) / len(sentences)


def ngram_jsd(generated: Sequence[Sentence], reference: Sequence[Sentence], n: int = 2) -> float:
    """Jensen-Shannon divergence (bits, in [0, 1]) between the n-gram distributions of two corpora."""
    p, q = Counter(), Counter()
    for s in generated:
        p.update(ngrams(s, n))
    for s in reference:
        q.update(ngrams(s, n))
    tp, tq = sum(p.values()), sum(q.values())
    if tp == 0 or tq == 0:
        raise ValueError(f"both corpora need at least one {n}-gram")
    js = 0.0
    for g in p.keys() | q.keys():
        a, b = p[g] / tp, q[g] / tq
        m = (a + b) / 2
        js += (a * math.log2(a / m) if a else 0.0) + (b * math.log2(b / m) if b else 0.0)
    return js / 2
