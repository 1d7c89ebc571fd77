"""The disk cache of real-set features (gan_core.metrics.feature_cache): hits, damage, and two processes."""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from pathlib import Path

import torch

from gan_core.metrics.feature_cache import extract_real, feature_file


class Slow:
    """A cacheable extractor that records every real computation in ``log`` (one line per call)."""

    cache_key, num_features = "test-net:v1", 4

    def __init__(self, log: Path, seconds: float = 0.0):
        self.log, self.seconds = log, seconds

    def extract(self, x: torch.Tensor):
        with open(self.log, "a") as f:
            f.write(f"{os.getpid()}\n")
        time.sleep(self.seconds)
        return x.flatten(1)[:, :4].double() * 2, None


def _images(seed: int = 0) -> torch.Tensor:
    return torch.rand(6, 1, 4, 4, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_a_hit_is_exactly_the_computation_and_damage_is_recomputed(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GANARENA_CACHE", str(tmp_path / "cache"))
    log = tmp_path / "calls"
    net = Slow(log)
    x = _images()
    first = extract_real(net, x)
    again = extract_real(net, x)
    assert torch.equal(first, again) and torch.equal(first, x.flatten(1)[:, :4].double() * 2)
    assert len(log.read_text().splitlines()) == 1
    assert feature_file(net.cache_key, x) != feature_file(net.cache_key, _images(1))  # other images, other entry
    feature_file(net.cache_key, x).write_bytes(b"damaged")
    assert torch.equal(extract_real(net, x), first)
    assert len(log.read_text().splitlines()) == 2


def _worker(cache: str, log: str, out: str) -> None:
    os.environ["GANARENA_CACHE"] = cache
    torch.save(extract_real(Slow(Path(log), seconds=1.5), _images()), out)


def test_two_processes_at_once_compute_once(tmp_path) -> None:
    log = tmp_path / "calls"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(str(tmp_path / "cache"), str(log), str(tmp_path / f"{i}.pt")))
             for i in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    assert len(log.read_text().splitlines()) == 1  # the second waited on the lock, then read the file
    a, b = (torch.load(tmp_path / f"{i}.pt", weights_only=True) for i in range(2))
    assert torch.equal(a, b)


def test_our_cnns_cache_real_features_under_their_weights(tmp_path, monkeypatch) -> None:
    """The shipped (and users') CNNs are cacheable: the key follows the weights and the architecture, and a
    hit is bit for bit the features the network computes."""
    from gan_core.metrics.features import CNNExtractor, FeatureNet, load_shipped

    monkeypatch.setenv("GANARENA_CACHE", str(tmp_path / "cache"))
    net = load_shipped("digits")
    assert net.cache_key == load_shipped("digits").cache_key != load_shipped("mnist5k").cache_key
    torch.manual_seed(0)
    a, b = CNNExtractor(FeatureNet(), "a", None), CNNExtractor(FeatureNet(), "b", None)  # other weights
    wide = CNNExtractor(FeatureNet(feat_dim=32), "c", None)
    assert len({a.cache_key, b.cache_key, wide.cache_key}) == 3
    calls = []
    real_extract = CNNExtractor.extract
    monkeypatch.setattr(CNNExtractor, "extract", lambda self, x, *a: calls.append(len(x)) or real_extract(self, x, *a))
    x = _images().repeat(1, 1, 2, 2)  # 8x8, as the digits
    first, again = extract_real(net, x), extract_real(net, x)
    assert calls == [len(x)]
    assert torch.equal(first, again) and torch.equal(first, real_extract(net, x)[0])
    assert feature_file(net.cache_key, x).is_file()
