"""bandmate._dsp.ResonanceAnalyzer (ResonanceEQ's native analysis update): its scipy/numpy-equivalent
helpers against scipy/numpy, argument checks, and engine-level behaviour."""

import numpy as np
import pytest
import scipy.signal as ss
from bandmate import _dsp
from bandmate.engines.base import EngineConfig
from bandmate.engines.resonance import ResonanceEngine
from scipy.ndimage import minimum_filter1d, uniform_filter1d

from tests.conftest import peaking, pink

FS = 48000


def random_line(n: int, seed: int) -> np.ndarray:
    """Values over many decades, both signs: what a running sum gets wrong first."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal(n) * 10.0 ** rng.uniform(-12, 3, n)


@pytest.mark.parametrize("n", [1, 2, 9, 960])
@pytest.mark.parametrize("size", [1, 3, 7, 65, 1001])  # 1001 > n: edge replication on both sides
def test_uniform_filter_matches_scipy(n, size):
    x = random_line(n, n + size)
    ref = uniform_filter1d(x, size, mode="nearest")
    np.testing.assert_allclose(_dsp.uniform_filter_nearest(x, size), ref, rtol=1e-12, atol=1e-12 * np.abs(x).max())


@pytest.mark.parametrize("n", [1, 2, 9, 960])
@pytest.mark.parametrize("size", [1, 3, 15, 31])
def test_minimum_filter_matches_scipy(n, size):
    x = random_line(n, 7 * n + size)
    assert np.array_equal(_dsp.minimum_filter_nearest(x, size), minimum_filter1d(x, size, mode="nearest"))


def test_interp_matches_numpy_including_ends_and_knots():
    rng = np.random.default_rng(3)
    xp = np.sort(rng.uniform(-5.0, 5.0, 10))
    fp = rng.uniform(-12.0, 0.0, 10)
    x = np.concatenate([rng.uniform(-8.0, 8.0, 2000), xp, [-np.inf, np.inf, xp[0] - 1e-12, xp[-1] + 1e-12]])
    np.testing.assert_allclose(_dsp.interp(x, xp, fp), np.interp(x, xp, fp), rtol=1e-14, atol=1e-14)
    assert np.array_equal(_dsp.interp(xp, xp, fp), fp)  # knots hit exactly


def test_update_rejects_bad_arguments():
    e = ResonanceEngine(EngineConfig(FS, 2))
    e.process(np.zeros((2, e.hop), np.float32), e.spec.defaults())
    args = dict(end=e._w, mid_side=False, stereo_link=1.0, amount=-1.0, depth_db=12.0, energy=e._energy, conv=e._conv)
    with pytest.raises(ValueError, match="x must"):
        e._an.update(x=e._buf[:1], **args)
    with pytest.raises(ValueError, match="x must"):
        e._an.update(x=e._buf.astype(np.float32), **args)
    with pytest.raises(ValueError, match="end must"):
        e._an.update(x=e._buf, **(args | {"end": 10}))
    with pytest.raises(ValueError, match="threshold|thr"):
        e._an.set_threshold(np.zeros(3))


def test_onset_table_must_match_the_grid(monkeypatch):
    import bandmate.engines.resonance as res

    real = res.ResonanceAnalyzer

    def short_onset(**kw):
        return real(**(kw | {"a_onset": kw["a_onset"][:-1]}))

    monkeypatch.setattr(res, "ResonanceAnalyzer", short_onset)
    with pytest.raises(ValueError, match="a_onset"):
        ResonanceEngine(EngineConfig(FS, 2))


def test_peak_in_pink_noise_is_cut_after_one_second():
    n = 3 * FS
    x = pink(n, 11)
    f0, q = 3150.0, 30.0
    b, a = peaking(f0, 12.0, q)
    xin = ss.lfilter(b, a, x, axis=-1)
    y = ResonanceEngine(EngineConfig(FS, 2)).process_buffer(xin, {"amount": -1.0})

    def level(z):  # dB in the peak's bandwidth, after the first second
        f, p = ss.welch(z[:, FS:], FS, nperseg=16384, axis=-1)
        return 10 * np.log10(p[..., np.abs(f - f0) <= f0 / (2 * q)].sum())

    excess, residual = level(xin) - level(x), level(y) - level(x)
    assert excess > 8.0
    assert residual <= 0.25 * excess, (excess, residual)  # >= 75 % of the excess removed


def test_amount_zero_is_identity():
    x = (np.random.default_rng(12).standard_normal((2, FS // 2)) * 0.1).astype(np.float32)
    x[:, ::97] += 0.5  # peaky content the detector would react to
    e = ResonanceEngine(EngineConfig(FS, 2))
    assert np.array_equal(e.process_buffer(x, {"amount": 0.0}), x)
    assert e.last_gain_db.shape == (2, e.K) and not e.last_gain_db.any()
