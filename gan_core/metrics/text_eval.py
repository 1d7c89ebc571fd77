"""Text evaluator (kind "text"): NLL_oracle / NLL_test / entropy on oracle data, BLEU and Self-BLEU on corpora.

``ev(fake)`` takes a generator module (preferred: it samples ``n_fake`` token sequences in chunks
with the evaluator's seed, without touching the training RNG, and enables NLL_test and entropy),
token ids (n_fake, L), or one-hot / relaxed samples (n_fake, L, V) (argmax per position).
Oracle data: primary ``nll_oracle`` (min); quality without diversity is not a result, so NLL_test
and entropy come with it. Corpora: primary ``ngram_jsd`` (bigram JSD to the held-out split, min:
it penalises both bad and collapsed text), with BLEU-2..5 and Self-BLEU-2..4 (Texygen protocol).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from gan_core.errors import GanConfigError
from gan_core.metrics import text as tm
from gan_core.metrics.base import Evaluator
from gan_core.text_mle import entropy, has_likelihood, nll_oracle, nll_test, sample_tokens

N_BLEU_REFS = 500  # Texygen: each hypothesis against the first 500 reference sentences
N_BLEU_HYPS = 500  # hypotheses scored for BLEU and Self-BLEU (the first of the n_fake samples)


class TextEvaluator(Evaluator):
    """Scores text generators against an oracle (likelihoods) or a held-out corpus split (n-grams)."""

    @classmethod
    def primary_for(cls, ds) -> tuple[str, str]:
        """Oracle data: NLL_oracle; corpora: bigram JSD to the held-out split (both lower is better)."""
        return ("nll_oracle" if getattr(ds, "oracle", None) is not None else "ngram_jsd"), "min"

    @classmethod
    def preflight(cls, ds, **kwargs) -> None:
        """Text is scored against a held-out split: refuse a dataset without one before training."""
        if getattr(ds, "heldout", None) is None or len(ds.heldout) == 0:
            raise GanConfigError("data", f"text dataset {ds.name!r} has no held-out split to evaluate against")

    def __init__(self, ds, n_fake: int, seed: int, temperature: float | None = None):
        super().__init__(ds, n_fake, seed)
        self.preflight(ds)
        self.temperature = temperature
        self.oracle = getattr(ds, "oracle", None)
        sampling = "model's own rule (LSTM T=1, conv argmax)" if temperature is None else f"T={temperature}"
        common = {"n_fake": str(self.n_fake), "seed": str(seed), "sampling": sampling,
                  "heldout": f"{len(ds.heldout)} sequences ({ds.info.get('split', 'train')} split's complement)"}
        if self.oracle is not None:
            self.primary, self.mode = "nll_oracle", "min"
            self.keys = ("nll_oracle", "nll_test", "entropy", "nll_ground_truth")
            self.ground_truth = nll_oracle(self.oracle, ds.heldout)
            self.protocol = {**common, "metric": "mean per-token NLL; nll_oracle under the oracle, nll_test = "
                             "generator on held-out oracle samples, entropy = generator on its own samples",
                             "ground_truth": f"{self.ground_truth:.4f} (oracle on held-out oracle samples)"}
        else:
            self.primary, self.mode = "ngram_jsd", "min"
            self.keys = ("ngram_jsd", "bleu2", "bleu3", "bleu4", "bleu5", "self_bleu2", "self_bleu3",
                         "self_bleu4", "nll_test")
            self.refs = ds.tokens(ds.heldout)
            self.bleu_refs = self.refs[:N_BLEU_REFS]
            self.protocol = {**common, "bleu": f"NLTK-equal sentence BLEU, uniform weights, smoothing 1; first "
                             f"{min(N_BLEU_HYPS, self.n_fake)} samples vs first {len(self.bleu_refs)} held-out "
                             "sentences", "self_bleu": f"first {min(N_BLEU_HYPS, self.n_fake)} samples, each vs the "
                             "others", "ngram_jsd": "bigram JSD (bits) of all samples vs all held-out sentences"}

    def token_ids(self, fake: nn.Module | Tensor) -> Tensor:
        """(n_fake, L) token ids from a generator, ids or (relaxed) one-hots."""
        if isinstance(fake, nn.Module):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)
                return sample_tokens(fake, self.n_fake, self.temperature)
        fake = fake.detach().cpu()
        ids = fake.argmax(-1) if fake.is_floating_point() else fake.long()
        if tuple(ids.shape) != (self.n_fake, self.ds.shape[0]):
            raise GanConfigError("fake", f"expected {self.n_fake} sequences of length {self.ds.shape[0]} "
                                 f"(ids or one-hot of vocabulary {self.ds.shape[1]}), got {tuple(fake.shape)}")
        return ids

    def __call__(self, fake: nn.Module | Tensor, fake_y: Tensor | None = None) -> dict[str, float]:
        """Metrics of ``n_fake`` generated sequences (NLL_test/entropy only when given the generator)."""
        if isinstance(fake, Tensor) and fake.is_floating_point() and not torch.isfinite(fake).all():
            return self.nan_result()
        ids = self.token_ids(fake)
        model = fake if isinstance(fake, nn.Module) and has_likelihood(fake) else None
        t = 1.0 if self.temperature is None else float(self.temperature)
        out: dict[str, float] = {}
        if self.oracle is not None:
            out["nll_oracle"] = nll_oracle(self.oracle, ids)
            out["nll_ground_truth"] = self.ground_truth
        else:
            hyps = self.ds.tokens(ids)
            out["ngram_jsd"] = tm.ngram_jsd(hyps, self.refs, 2) if any(len(h) > 1 for h in hyps) else 1.0
            head = hyps[:N_BLEU_HYPS]
            for n in (2, 3, 4, 5):
                out[f"bleu{n}"] = tm.bleu(head, self.bleu_refs, n)
            for n in (2, 3, 4):
                out[f"self_bleu{n}"] = tm.self_bleu(head, n) if len(head) > 1 else math.nan
        if model is not None:
            out["nll_test"] = nll_test(model, self.ds.heldout, t)
            if self.oracle is not None:
                out["entropy"] = entropy(model, ids, t)
        return out

