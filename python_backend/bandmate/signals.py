"""Reference test signals shared by the tests and the benches."""

from __future__ import annotations

import numpy as np
import scipy.signal as ss

# J. O. Smith's 3-pole/3-zero pinking filter: a 1/f (-3 dB/octave) power slope within +-0.5 dB, 20 Hz..20 kHz at 48 kHz.
_PINK_B = (0.049922035, -0.095993537, 0.050612699, -0.004408786)
_PINK_A = (1.0, -2.494956002, 2.017265875, -0.522189400)


def pink_noise(n: int, rng: np.random.Generator | int = 0, channels: int = 2, rms: float = 0.1) -> np.ndarray:
    """(channels, n) float64 pink noise at ``rms`` (default -20 dBFS), independent per channel.

    ``rng`` is a generator (its state advances by one (channels, n) normal draw) or a seed."""
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    x = ss.lfilter(_PINK_B, _PINK_A, gen.standard_normal((channels, n)), axis=-1)
    return x * (rms / np.sqrt(np.mean(x**2)))
