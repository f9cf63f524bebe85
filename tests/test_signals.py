"""The shared reference pink noise: level, slope, independence, reproducibility."""

from __future__ import annotations

import numpy as np
import scipy.signal as ss
from bandmate.signals import pink_noise


def test_pink_noise_has_the_asked_level_and_a_minus_3_db_per_octave_slope():
    x = pink_noise(48000 * 8, 3, channels=2, rms=0.05)
    assert x.shape == (2, 48000 * 8)
    assert abs(np.sqrt(np.mean(x**2)) - 0.05) < 1e-12
    f, p = ss.welch(x, 48000, nperseg=8192, axis=-1)
    octaves = [(fc / np.sqrt(2), fc * np.sqrt(2)) for fc in 62.5 * 2.0 ** np.arange(8)]  # 62.5 Hz .. 8 kHz
    lev = np.array([10 * np.log10(p[:, (f >= lo) & (f < hi)].sum(axis=-1)) for lo, hi in octaves])
    # equal power per octave: white noise would rise 3 dB per octave here
    assert np.ptp(lev, axis=0).max() < 1.0
    assert abs(np.corrcoef(x)[0, 1]) < 0.02  # channels are independent draws


def test_pink_noise_takes_a_seed_or_a_generator_and_advances_it():
    assert np.array_equal(pink_noise(1000, 7), pink_noise(1000, np.random.default_rng(7)))
    rng = np.random.default_rng(7)
    a, b = pink_noise(1000, rng, channels=1), pink_noise(1000, rng, channels=1)
    assert not np.allclose(a, b)
