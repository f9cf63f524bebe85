import numpy as np
import pytest
from bandmate import features as F

SR = F.SR


def click_track(steps, bpm=120.0, start=0.5, n_bars=2, sr=SR, gain=0.8):
    step = 60.0 / bpm / 4
    x = np.random.default_rng(0).normal(0, 1e-4, int(sr * (start + n_bars * 16 * step + 0.5))).astype(np.float32)
    for k in steps:
        i = int(round((start + k * step) * sr))
        x[i : i + 160] += gain * np.hanning(160).astype(np.float32)
    return x


def test_shapes_and_range():
    f = F.bar_features(click_track([0, 4]), SR, 120.0, 0.5, 2)
    assert f.shape == (2, 16, F.N_FEATURES) and f.dtype == np.float32
    assert F.N_FEATURES == len(F.FEATURE_NAMES) == 20
    assert f.min() >= 0.0 and f.max() <= 1.0


@pytest.mark.parametrize("bpm", [90.0, 120.0, 160.0])
def test_onsets_land_on_their_steps(bpm):
    steps = [0, 5, 10, 19, 28]
    f = F.bar_features(click_track(steps, bpm), SR, bpm, 0.5, 2)
    onset = f[..., 0].ravel()
    hit = np.zeros(32, bool)
    hit[steps] = True
    assert onset[hit].min() > 0.5
    assert onset[~hit].max() < 0.2


def test_gain_invariant_and_position():
    x = click_track([0, 4, 8, 12, 16, 20, 24, 28])
    a = F.bar_features(x, SR, 120.0, 0.5, 2)
    b = F.bar_features(x * 0.25, SR, 120.0, 0.5, 2)
    assert np.abs(a[..., 3:6] - b[..., 3:6]).max() < 0.02  # band energies: relative to the bar
    top = lambda f: np.sort(np.argsort(f[..., 0], axis=1)[:, -4:], axis=1)  # noqa: E731
    assert (top(a) == top(b)).all() and (top(a) == [[0, 4, 8, 12]]).all()
    silent = F.bar_features(x * 0, SR, 120.0, 0.5, 2)
    assert silent[..., :18].max() == 0.0
    assert np.allclose(a[0, :, 18], 0.5 + 0.5 * np.sin(2 * np.pi * np.arange(16) / 16), atol=1e-6)


def test_chroma_of_a440_and_resampling():
    sr = 44100
    t = np.arange(int(sr * 3)) / sr
    x = 0.3 * np.sin(2 * np.pi * 440.0 * t)
    f = F.bar_features(np.stack([x, x]), sr, 120.0, 0.5, 1)  # stereo (2, n) at 44.1 kHz
    chroma = f[0, :, 6:18].mean(0)
    assert F.FEATURE_NAMES[6 + int(np.argmax(chroma))] == "chroma_A"
    assert f[0, :, 4].mean() > f[0, :, 5].mean()  # 440 Hz is in the mid band


def test_estimate_tempo():
    x = click_track(range(0, 16 * 8, 4), bpm=128.0, n_bars=8)
    assert abs(F.estimate_tempo(x, SR) - 128.0) < 2.0


def test_bad_grid():
    with pytest.raises(ValueError):
        F.step_features(np.zeros(SR, np.float32), np.linspace(0, 1, 10))
