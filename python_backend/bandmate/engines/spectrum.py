"""Long-term spectra on a log-frequency grid: K-weighting, gating, learn-then-freeze.

Conventions (shared by the matching engine, profiles and benches):

* the **grid** is ``PER_OCT`` = 24 points per octave from 20 Hz to min(20 kHz, 0.45 fs)
  (``log_grid``); spectra on it are power *densities* (mean power per FFT bin around each point)
  and are exchanged in dB;
* ``loudness_normalise`` shifts a dB spectrum so that its K-weighted power, integrated over the
  grid (each point weighs its bandwidth), is 0 dB: two spectra can then be compared for shape
  regardless of level;
* ``LongTermSpectrum`` frames its input (``n_fft`` Hann window, ``stride`` samples), maps the
  FFT power onto the grid and averages the frames that pass the gates: the absolute gate
  (K-weighted frame power < ``ABS_GATE_DB`` dBFS) and the relative gate (more than ``gate_db``
  below the running K-weighted level of the accepted frames). The average is exponential with
  a time constant of ``window_s`` seconds of *accepted* audio, bias-corrected (sum / weight), so
  it is a plain mean until it has seen ``window_s`` seconds; ``window_s=None`` is an unweighted
  mean over everything (profiles, whole files). ``freeze()`` stops learning.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft as sfft
import scipy.signal as ss
import scipy.sparse as sps

from bandmate.specs import rate_factor

GRID_LO_HZ, GRID_HI_HZ, PER_OCT = 20.0, 20000.0, 24
ABS_GATE_DB = -70.0
GATE_DB = 20.0
N_FFT_48K = 8192  # analysis window at 48 kHz (5.9 Hz bins)
STRIDE_48K = 4096  # analysis interval at 48 kHz (85.3 ms): Hann frames overlapping 50 %, as in Welch's method


def to_mid_side(y: np.ndarray) -> np.ndarray:
    """(L, R) <-> (M, S), orthonormal, so the same function converts both ways."""
    out = np.empty_like(y)
    np.add(y[0], y[1], out=out[0])
    np.subtract(y[0], y[1], out=out[1])
    out *= math.sqrt(0.5)
    return out


def log_grid(sample_rate: int, per_oct: int = PER_OCT) -> np.ndarray:
    hi = min(GRID_HI_HZ, 0.45 * sample_rate)
    n = int(math.floor(math.log2(hi / GRID_LO_HZ) * per_oct)) + 1
    return GRID_LO_HZ * 2.0 ** (np.arange(n) / per_oct)


def k_weight_power(freqs: np.ndarray, sample_rate: int) -> np.ndarray:
    """|H(f)|^2 of the ITU-R BS.1770 K-weighting (shelf + high-pass) at ``freqs``."""
    fs = float(sample_rate)
    # stage 1: high shelf (pyloudnorm's constants)
    G, Q, fc = 3.99984385397, 0.7071752369554193, 1681.9744509555319
    A = 10 ** (G / 40)
    w0 = 2 * math.pi * fc / fs
    al = math.sin(w0) / (2 * Q)
    c = math.cos(w0)
    sa = 2 * math.sqrt(A) * al
    b1 = [A * ((A + 1) + (A - 1) * c + sa), -2 * A * ((A - 1) + (A + 1) * c), A * ((A + 1) + (A - 1) * c - sa)]
    a1 = [(A + 1) - (A - 1) * c + sa, 2 * ((A - 1) - (A + 1) * c), (A + 1) - (A - 1) * c - sa]
    # stage 2: high pass
    Q, fc = 0.5003270373253953, 38.13547087613982
    w0 = 2 * math.pi * fc / fs
    al = math.sin(w0) / (2 * Q)
    c = math.cos(w0)
    b2 = [(1 + c) / 2, -(1 + c), (1 + c) / 2]
    a2 = [1 + al, -2 * c, 1 - al]
    w = 2 * math.pi * np.asarray(freqs, float) / fs
    _, h1 = ss.freqz(b1, a1, worN=w)
    _, h2 = ss.freqz(b2, a2, worN=w)
    return np.abs(h1 * h2) ** 2


def grid_weights(grid: np.ndarray, sample_rate: int) -> np.ndarray:
    """K-weight times bandwidth per grid point (sums a density spectrum into K-weighted power)."""
    return k_weight_power(grid, sample_rate) * grid


def loudness_normalise(spec_db: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Shift dB spectra (..., G) so their K-weighted integrated power is 0 dB."""
    p = 10.0 ** (np.asarray(spec_db, float) / 10.0)
    tot = np.sum(p * weights, axis=-1, keepdims=True) / np.sum(weights)
    return spec_db - 10.0 * np.log10(np.maximum(tot, 1e-30))


def bins_to_grid(freqs: np.ndarray, grid: np.ndarray) -> sps.csr_matrix:
    """Sparse (G, K) map from FFT-bin power to grid points: a triangular (log f) average where
    bins are denser than the grid, linear interpolation where they are sparser."""
    rows, cols, vals = [], [], []
    df = freqs[1] - freqs[0]
    lg = np.log2(grid)
    step = lg[1] - lg[0]
    for g, f in enumerate(grid):
        k0 = int(np.ceil(f * 2.0 ** (-step) / df))
        k1 = int(np.floor(f * 2.0**step / df))
        if k1 - k0 + 1 >= 3:
            k = np.arange(max(k0, 1), k1 + 1)
            w = np.maximum(1.0 - np.abs(np.log2(k * df) - lg[g]) / step, 0.0)
            w /= w.sum()
            rows += [g] * len(k)
            cols += list(k)
            vals += list(w)
        else:
            x = f / df
            k = int(np.floor(x))
            t = x - k
            rows += [g, g]
            cols += [k, min(k + 1, len(freqs) - 1)]
            vals += [1.0 - t, t]
    return sps.csr_matrix((vals, (rows, cols)), shape=(len(grid), len(freqs)))


class LongTermSpectrum:
    """Gated, loudness-normalisable, exponentially averaged power spectrum on the log grid.

    ``push(audio)`` takes ``(rows, n)`` audio of any length (rows: channels, or mid/side); the
    gates decide on the summed power of all rows, so the rows stay comparable. With ``mid_side``
    (2 rows) it takes L/R and analyses mid and side: the same spectra as pushing
    ``to_mid_side(audio)``, converted once per frame instead of per push.
    """

    def __init__(self, sample_rate: int, rows: int = 1, window_s: float | None = 10.0,
                 gate_db: float = GATE_DB, n_fft: int | None = None, stride: int | None = None,
                 mid_side: bool = False):
        rf = rate_factor(sample_rate)
        self.sample_rate = int(sample_rate)
        self.rows = int(rows)
        if mid_side and self.rows != 2:
            raise ValueError("mid_side needs 2 rows")
        self.mid_side = bool(mid_side)
        self.n_fft = int(n_fft or N_FFT_48K * rf)
        self.stride = int(stride or STRIDE_48K * rf)
        self.gate_db = float(gate_db)
        self.grid = log_grid(sample_rate)
        self.G = len(self.grid)
        freqs = np.arange(self.n_fft // 2 + 1) * sample_rate / self.n_fft
        self._map = bins_to_grid(freqs, self.grid)
        self._kw_bins = k_weight_power(freqs, sample_rate) * (2.0 / self.n_fft)
        self._kw_bins[0] *= 0.5
        self.weights = grid_weights(self.grid, sample_rate)
        win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(self.n_fft) / self.n_fft)
        self._win = win / math.sqrt(np.mean(win**2) * self.n_fft)  # white noise var s2 -> E[P] = s2
        self.frozen = False
        self.set_window(window_s)
        self.reset()

    def set_window(self, window_s: float | None) -> None:
        self.window_s = window_s
        if window_s is None or window_s <= 0:
            self._decay = 1.0
        else:
            self._decay = math.exp(-self.stride / (self.sample_rate * float(window_s)))

    def reset(self) -> None:
        self._buf = np.zeros((self.rows, self.n_fft))
        self._pending: list[np.ndarray] = []  # samples pushed since the last frame
        self._fill = 0
        self._seen = 0  # samples framed in all
        self._sum = np.zeros((self.rows, self.G))
        self._wsum = 0.0
        self._lsum = 0.0  # K-weighted power of accepted frames (relative gate)
        self.frames = 0  # frames analysed
        self.accepted = 0  # frames that passed the gates

    def freeze(self) -> None:
        self.frozen = True

    def unfreeze(self) -> None:
        self.frozen = False

    @property
    def ready(self) -> bool:
        return self._wsum > 0.0

    @property
    def seconds_learned(self) -> float:
        return self.accepted * self.stride / self.sample_rate

    def push(self, audio: np.ndarray) -> int:
        """Add audio (rows, n); returns the number of frames accepted in this call."""
        if self.frozen:
            return 0
        x = np.asarray(audio, float)
        if x.ndim == 1:
            x = x[None]
        got = 0
        n = x.shape[1]
        self._pending.append(x)
        self._fill += n
        while self._fill >= self.stride:
            chunk = np.concatenate(self._pending, axis=1) if len(self._pending) > 1 else self._pending[0]
            s = self.stride
            b = self._buf
            b[:, :-s] = b[:, s:]
            b[:, -s:] = chunk[:, :s]
            rest = chunk[:, s:]
            self._pending = [rest] if rest.shape[1] else []
            self._fill -= s
            self._seen += s
            if self._seen >= self.n_fft // 2:  # skip frames that are mostly pre-roll zeros
                got += self._frame()
        return got

    def _frame(self) -> int:
        X = sfft.rfft(self._buf * self._win, axis=-1, workers=1)
        if self.mid_side:
            X = to_mid_side(X)
        P = X.real * X.real + X.imag * X.imag  # (rows, K)
        self.frames += 1
        lp = float(np.sum(P @ self._kw_bins))  # K-weighted mean square (all rows)
        if lp <= 10.0 ** (ABS_GATE_DB / 10.0):
            return 0
        if self._wsum > 0.0 and lp < (self._lsum / self._wsum) * 10.0 ** (-self.gate_db / 10.0):
            return 0
        d = self._decay
        self._sum *= d
        self._sum += (self._map @ P.T).T
        self._lsum = self._lsum * d + lp
        self._wsum = self._wsum * d + 1.0
        self.accepted += 1
        return 1

    def power(self) -> np.ndarray:
        """(rows, G) mean power density (zeros before the first accepted frame)."""
        if self._wsum <= 0.0:
            return np.zeros((self.rows, self.G))
        return self._sum / self._wsum

    def spectrum_db(self, normalise: bool = True, mean_rows: bool = False) -> np.ndarray:
        """(rows, G) dB, loudness-normalised by default; ``mean_rows`` averages the rows' power
        first (e.g. mid + side -> the L/R mean) and returns (1, G)."""
        p = self.power()
        if mean_rows:
            p = p.mean(axis=0, keepdims=True)
        db = 10.0 * np.log10(np.maximum(p, 1e-20))
        return loudness_normalise(db, self.weights) if normalise else db


def long_term_spectrum_db(audio: np.ndarray, sample_rate: int, mean_rows: bool = True) -> np.ndarray:
    """Whole-signal gated mean spectrum (dB on the log grid, loudness-normalised): (G,) with
    ``mean_rows`` (channel power mean), else (channels, G)."""
    x = np.asarray(audio, float)
    if x.ndim == 1:
        x = x[None]
    lts = LongTermSpectrum(sample_rate, rows=x.shape[0], window_s=None)
    lts.push(x)
    s = lts.spectrum_db(mean_rows=mean_rows)
    return s[0] if mean_rows else s
