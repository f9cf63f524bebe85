"""ResonanceEQ engine: alignment, delta, suppression, emphasis, robustness, click-free changes."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal as ss
from bandmate.engines import create_engine
from bandmate.engines.base import EngineConfig
from bandmate.engines.resonance import METER_IDS, ResonanceEngine
from bandmate.specs import load_spec

from tests.conftest import HELD_SINES_HZ, band_db, held_sines_over_hits, peaking, pink

FS = 48000


def stream(engine: ResonanceEngine, x: np.ndarray, params_at) -> np.ndarray:
    """Hop-by-hop; params_at(hop_index) -> params. Returns the raw (latency-delayed) output."""
    n = x.shape[1] // engine.hop * engine.hop
    out = np.zeros((x.shape[0], n), np.float32)
    for i, s in enumerate(range(0, n, engine.hop)):
        out[:, s : s + engine.hop], meters = engine.process(x[:, s : s + engine.hop].astype(np.float32), params_at(i))
        assert set(METER_IDS) <= set(meters)
    return out


def test_spec_and_registry():
    spec = load_spec("resonance")
    assert spec.name == "ResonanceEQ" and spec.clap_id == "com.bandmate.resonance-eq" and spec.kind == "effect"
    ids = [p.id for p in spec.params]
    assert ids[-1] == "deterministic" and ids.count("deterministic") == 1
    assert spec.engine_latency(48000, {"quality": 0}) == 256 and spec.hop(48000, {"quality": 0}) == 256
    assert spec.engine_latency(48000, {"quality": 1}) == 0 and spec.hop(48000, {"quality": 1}) == 64
    assert isinstance(create_engine("resonance", EngineConfig(FS, 2)), ResonanceEngine)


@pytest.mark.parametrize("quality", [0, 1])
def test_mix_zero_is_exactly_delayed_input(quality):
    e = ResonanceEngine(EngineConfig(FS, 2, {"quality": quality}))
    x = (pink(FS // 2, 1) * 3).astype(np.float32)
    p = e.spec.defaults() | {"amount": -1.0, "mix": 0.0}
    y = stream(e, x, lambda i: p)
    lat = e.latency
    np.testing.assert_allclose(y[:, lat:], x[:, : y.shape[1] - lat], atol=1e-6, rtol=0)
    assert np.all(y[:, :lat] == 0)


@pytest.mark.parametrize("mid_side", [0, 1])
def test_delta_is_aligned_input_minus_output(mid_side):
    x = pink(FS // 2, 2)
    x[:, :] += 0.2 * np.sin(2 * np.pi * 1500 * np.arange(x.shape[1]) / FS)
    base = {"amount": -1.0, "mix": 0.8, "output_gain_db": 2.0, "mid_side": mid_side, "stereo_link": 0.3}
    outs = {}
    for delta in (0, 1):
        e = ResonanceEngine(EngineConfig(FS, 2))
        p = e.spec.defaults() | base | {"delta": delta}
        outs[delta] = stream(e, x, lambda i, p=p: p)
    lat = e.latency
    aligned = np.zeros_like(outs[0])
    aligned[:, lat:] = x[:, : outs[0].shape[1] - lat].astype(np.float32)
    np.testing.assert_allclose(outs[1], aligned - outs[0], atol=1e-6, rtol=0)
    assert np.max(np.abs(outs[1][:, FS // 4 :])) > 1e-3  # something was actually removed


def test_injected_resonance_is_reduced():
    n = 3 * FS
    x = pink(n, 3)
    x += 0.03 * np.sin(2 * np.pi * 440 * np.arange(n) / FS)  # a tone that must survive
    b, a = peaking(2500, 12.0, 25)
    xin = ss.lfilter(b, a, x, axis=-1)
    e = ResonanceEngine(EngineConfig(FS, 2))
    y = e.process_buffer(xin, {"amount": -1.0})
    s = slice(FS, None)
    lo, hi = 2500 - 50, 2500 + 50
    excess = band_db(xin[:, s], lo, hi) - band_db(x[:, s], lo, hi)
    residual = band_db(y[:, s], lo, hi) - band_db(x[:, s], lo, hi)
    assert excess > 8.0
    assert residual < 0.4 * excess, (excess, residual)  # >= 60 % of the excess removed
    # broadband level away from the peak barely changes
    assert abs(band_db(y[:, s], 100, 300) - band_db(xin[:, s], 100, 300)) < 1.0
    assert abs(band_db(y[:, s], 6000, 12000) - band_db(xin[:, s], 6000, 12000)) < 1.0


@pytest.mark.parametrize("sr", [48000, 96000])
def test_low_frequency_resonance_is_resolved(sr):
    """A Q 30 resonance at 180 Hz is ~6 Hz wide: only the 341 ms low-path analysis resolves it."""
    n = 4 * sr
    x = pink(n, 9)
    b, a = peaking(180.0, 12.0, 30, sr)
    xin = ss.lfilter(b, a, x, axis=-1)
    e = ResonanceEngine(EngineConfig(sr, 2))
    y = e.process_buffer(xin, {"amount": -1.0})
    s = slice(2 * sr, None)

    def band(z, lo, hi):
        f, p = ss.welch(z[:, s], sr, nperseg=32768, axis=-1)
        return 10 * np.log10(p[..., (f >= lo) & (f <= hi)].sum())

    excess = band(xin, 177, 183) - band(x, 177, 183)
    residual = band(y, 177, 183) - band(x, 177, 183)
    assert excess > 8.0
    assert residual < 0.4 * excess, (excess, residual)
    # an octave away nothing moves
    assert abs(band(y, 340, 420) - band(xin, 340, 420)) < 1.0
    assert abs(band(y, 70, 90) - band(xin, 70, 90)) < 1.0


def test_steady_bass_note_is_left_alone():
    """Below the resolution limit a steady tone is a note, not a resonance."""
    n = 3 * FS
    t = np.arange(n) / FS
    x = pink(n, 10) * 0.3
    x += 0.2 * np.sin(2 * np.pi * 55.0 * t)
    e = ResonanceEngine(EngineConfig(FS, 2))
    y = e.process_buffer(x, {"amount": -1.0})
    s = slice(FS, None)
    assert abs(band_db(y[:, s], 50, 60) - band_db(x[:, s], 50, 60)) < 0.5


def test_positive_amount_raises_harmonic_peaks():
    n = 3 * FS
    t = np.arange(n) / FS
    f0 = 220.0
    tone = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 40))
    x = np.stack([tone, tone]) * 0.05 + pink(n, 4)
    e = ResonanceEngine(EngineConfig(FS, 2))
    y = e.process_buffer(x, {"amount": 1.0})
    s = slice(FS, None)

    def peak_to_floor(z):
        f, p = ss.welch(z[0, s], FS, nperseg=8192)
        vals = []
        for h in range(2, 30):
            pk = p[np.abs(f - f0 * h) < 8].max()
            fl = np.median(p[(f > f0 * (h + 0.3)) & (f < f0 * (h + 0.7))])
            vals.append(10 * np.log10(pk / fl))
        return np.mean(vals)

    gain = peak_to_floor(y) - peak_to_floor(x)
    assert gain > 0.5, gain
    level = 10 * np.log10(np.mean(y[:, s] ** 2) / np.mean(x[:, s] ** 2))
    assert abs(level) < 0.5, level


@pytest.mark.parametrize("kind", ["silence", "dc", "noise"])
def test_no_nan_inf_or_denormals(kind):
    n = FS
    if kind == "silence":
        x = np.zeros((2, n))
    elif kind == "dc":
        x = np.full((2, n), 0.7)
    else:
        x = np.clip(np.random.default_rng(5).standard_normal((2, n)), -1, 1)
    for amount in (-1.0, 1.0):
        e = ResonanceEngine(EngineConfig(FS, 2))
        p = e.spec.defaults() | {"amount": amount, "depth_db": 24.0}
        y = stream(e, x, lambda i, p=p: p)
        assert np.all(np.isfinite(y))
        tiny = np.finfo(np.float32).tiny
        assert not np.any((y != 0) & (np.abs(y) < tiny))
        if kind == "silence":
            assert np.all(y == 0)
        assert np.max(np.abs(y)) < 8.0


@pytest.mark.parametrize("sr", [44100, 48000, 88200, 96000, 176400, 192000])
@pytest.mark.parametrize("channels", [1, 2])
def test_all_sample_rates(sr, channels):
    for quality in (0, 1):
        e = ResonanceEngine(EngineConfig(sr, channels, {"quality": quality}))
        factor = e.spec.rate_factor(sr)
        assert e.hop == (256 if quality == 0 else 64) * factor
        assert e.latency == (256 if quality == 0 else 0) * factor
        x = pink(e.hop * 12, 6, channels).astype(np.float32)
        p = e.spec.defaults() | {"amount": -1.0, "mid_side": 1}
        y = stream(e, x, lambda i, p=p: p)
        assert y.shape == x.shape and np.all(np.isfinite(y))


@pytest.mark.parametrize("quality", [0, 1])
def test_param_changes_do_not_click(quality):
    n = 2 * FS
    t = np.arange(n) / FS
    x = np.stack([0.4 * np.sin(2 * np.pi * 497 * t), 0.3 * np.sin(2 * np.pi * 1003 * t + 1)])
    x[:, : FS // 2] += pink(FS // 2, 7) * 0.5  # some broadband history, so the detector is busy
    e = ResonanceEngine(EngineConfig(FS, 2, {"quality": quality}))
    rng = np.random.default_rng(8)
    base = e.spec.defaults()
    schedule = {}

    def params_at(i):
        k = i * e.hop // 4096  # a new random setting every 4096 samples
        if k not in schedule:
            schedule[k] = base | {
                "amount": float(rng.uniform(-1, 1)), "depth_db": float(rng.uniform(0, 24)),
                "sharpness": float(rng.uniform()), "selectivity": float(rng.uniform()),
                "low_hz": float(rng.uniform(20, 500)), "high_hz": float(rng.uniform(2000, 20000)),
                "tilt_db_oct": float(rng.uniform(-6, 6)), "attack_ms": float(rng.uniform(1, 200)),
                "release_ms": float(rng.uniform(5, 1000)), "stereo_link": float(rng.choice([0.0, 0.5, 1.0])),
                "mid_side": float(rng.integers(0, 2)), "mix": float(rng.uniform()),
                "output_gain_db": float(rng.uniform(-6, 6)),
            }
        return schedule[k]

    y = stream(e, x, params_at)
    # the input is pure tones below 1.1 kHz after 0.5 s: any step or zipper shows up above 6 kHz
    hp = ss.sosfilt(ss.butter(8, 6000, "highpass", fs=FS, output="sos"), y, axis=-1)[:, FS // 2 + 8192 :]
    level = np.max(np.abs(y[:, FS // 2 + 8192 :]))
    assert 0.05 < level < 4.0
    assert np.max(np.abs(hp)) < 0.003 * level, (np.max(np.abs(hp)), level)
    assert len(schedule) > 15


def test_held_partials_are_left_alone_while_a_resonance_on_hits_is_cut():
    """The rule (the fallback cut detector) detects on the smoothed rise in power: a held partial adds
    little, hits ringing through a resonance add their whole excess. The partials stand ~16 dB over the
    hits' floor; detecting on the power itself (ONSET_TAU_MS = 0, the engine before) cuts them by ~12 dB."""
    x, xin = held_sines_over_hits(4 * FS)
    e = ResonanceEngine(EngineConfig(FS, 2), "rule")
    y = e.process_buffer(xin, {"amount": -1.0})
    s = slice(2 * FS, None)
    for f in HELD_SINES_HZ:
        assert band_db(xin[:, s], f - 5, f + 5) - band_db(xin[:, s], f + 40, f + 50) > 12.0, f  # a clear line
        assert abs(band_db(y[:, s], f - 5, f + 5) - band_db(xin[:, s], f - 5, f + 5)) < 1.5, f
    lo, hi = 2450, 2550
    excess = band_db(xin[:, s], lo, hi) - band_db(x[:, s], lo, hi)
    residual = band_db(y[:, s], lo, hi) - band_db(x[:, s], lo, hi)
    assert excess > 8.0
    assert residual < 0.4 * excess, (excess, residual)
