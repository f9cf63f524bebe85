"""Per-16th-step audio features, shared by DrumNet training and inference.

Mono audio + step grid -> ``(n_bars, 16, N_FEATURES)`` float32, every value in [0, 1]:

    0  onset        spectral flux (all bins), max over the step, minus the bar median, / bar range
    1  onset_low    flux below 200 Hz (kick-like accents)
    2  onset_high   flux above 2 kHz (hat/snare-like accents)
    3  e_low        band energy < 200 Hz, dB relative to the bar's loudest band, +60 dB range
    4  e_mid        200 Hz - 2 kHz
    5  e_high       > 2 kHz
    6..17 chroma    12 pitch classes (C..B), 65 Hz - 2.1 kHz, / step max (absolute floor)
    18 pos_sin      bar position, sin(2 pi k / 16)
    19 pos_cos      cos(2 pi k / 16)

Everything is normalised per bar (band energies exactly, onsets nearly gain-independent);
silent bars give zeros.
The grid comes from the host transport (BPM + bar start) or, offline, from a given or
estimated tempo (``estimate_tempo``). One bar costs ~1-2 ms.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import resample_poly

SR = 16000
N_FFT = 1024
HOP = 128
STEPS = 16
FEATURE_NAMES = (
    ["onset", "onset_low", "onset_high", "e_low", "e_mid", "e_high"]
    + [f"chroma_{p}" for p in ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")]
    + ["pos_sin", "pos_cos"]
)
N_FEATURES = len(FEATURE_NAMES)
FEATURE_VERSION = 1
# A frame's time is its start + 3/4 window: the flux of a click at time c then lands in
# (c - 16 ms, c + 16 ms]; step windows are shifted back by the same 16 ms.
_FRAME_DELAY = 0.75 * N_FFT / SR
_WIN_SHIFT = 0.25 * N_FFT / SR
_FLUX_FLOOR = 2.0  # absolute flux floor so that silence stays near 0 after normalisation

_freqs = np.fft.rfftfreq(N_FFT, 1 / SR)
_LOW, _HIGH = _freqs < 200, _freqs >= 2000
_MID = ~_LOW & ~_HIGH
_window = np.hanning(N_FFT).astype(np.float32)


def _chroma_matrix() -> np.ndarray:
    m = np.zeros((12, len(_freqs)), np.float32)
    ok = (_freqs >= 65) & (_freqs <= 2100)
    pc = np.round(12 * np.log2(_freqs[ok] / 440.0) + 9).astype(int) % 12  # 0 = C
    m[pc, np.nonzero(ok)[0]] = 1.0
    return m


_CHROMA = _chroma_matrix()


def to_mono_sr(audio: np.ndarray, sr: int) -> np.ndarray:
    """Any (n,), (n, ch) or (ch, n) float/int audio -> mono float32 at ``SR``."""
    x = np.asarray(audio)
    if x.dtype.kind in "iu":
        x = x.astype(np.float32) / np.iinfo(x.dtype).max
    if x.ndim == 2:
        x = x.mean(axis=0 if x.shape[0] < x.shape[1] else 1)
    x = x.astype(np.float32)
    if sr != SR:
        g = np.gcd(int(sr), SR)
        x = resample_poly(x, SR // g, int(sr) // g).astype(np.float32)
    return x


def _frames(x: np.ndarray, t0: float, t1: float) -> tuple[np.ndarray, np.ndarray]:
    """Power spectra (n, bins) and frame times for frames whose time lies in [t0, t1)."""
    first = max(0, int(np.floor((t0 - _FRAME_DELAY) * SR / HOP)) - 1)  # one extra for the flux diff
    last = int(np.ceil((t1 - _FRAME_DELAY) * SR / HOP)) + 1
    starts = np.arange(first, last) * HOP
    pad = max(0, starts[-1] + N_FFT - len(x))
    xp = np.pad(x, (0, pad)) if pad else x
    idx = starts[:, None] + np.arange(N_FFT)[None, :]
    spec = np.abs(np.fft.rfft(xp[idx] * _window, axis=1)).astype(np.float32)
    return spec, starts / SR + _FRAME_DELAY


def step_features(audio: np.ndarray, step_times: np.ndarray) -> np.ndarray:
    """Mono ``SR`` audio + step boundaries (n_bars*16 + 1 seconds) -> (n_bars, 16, N_FEATURES)."""
    bounds = np.asarray(step_times, dtype=np.float64)
    n_steps = len(bounds) - 1
    if n_steps <= 0 or n_steps % STEPS:
        raise ValueError(f"need n_bars*16+1 step boundaries, got {len(bounds)}")
    w0, w1 = bounds - _WIN_SHIFT, bounds[-1] - _WIN_SHIFT
    mag, times = _frames(audio, w0[0], w1)
    logmag = np.log1p(100.0 * mag)
    flux = np.maximum(np.diff(logmag, axis=0), 0.0)
    mag, times = mag[1:], times[1:]
    power = mag**2
    frame_feats = np.stack(
        [flux.sum(1), flux[:, _LOW].sum(1), flux[:, _HIGH].sum(1), power[:, _LOW].sum(1), power[:, _MID].sum(1),
         power[:, _HIGH].sum(1)], axis=1)
    chroma = power @ _CHROMA.T
    # frame -> step (frames outside any step get index -1 / n_steps and are dropped)
    step_of = np.searchsorted(w0, times, side="right") - 1
    ok = (step_of >= 0) & (step_of < n_steps)
    step_of, frame_feats, chroma = step_of[ok], frame_feats[ok], chroma[ok]
    onset = np.zeros((n_steps, 3), np.float32)
    np.maximum.at(onset, step_of, frame_feats[:, :3])
    counts = np.maximum(np.bincount(step_of, minlength=n_steps), 1)[:, None]
    energy = np.zeros((n_steps, 3), np.float64)
    np.add.at(energy, step_of, frame_feats[:, 3:])
    energy /= counts
    chr_ = np.zeros((n_steps, 12), np.float64)
    np.add.at(chr_, step_of, chroma)
    # ---- per-bar normalisation
    onset = onset.reshape(-1, STEPS, 3)
    base = np.median(onset, axis=1, keepdims=True)
    onset = np.clip((onset - base) / np.maximum(onset.max(axis=1, keepdims=True) - base, _FLUX_FLOOR), 0.0, 1.0)
    db = 10 * np.log10(energy.reshape(-1, STEPS, 3) + 1e-6)
    db = np.clip((db - db.max(axis=(1, 2), keepdims=True)) / 60.0 + 1.0, 0.0, 1.0)
    loud = energy.reshape(-1, STEPS, 3).max(axis=(1, 2), keepdims=True) > 1e-3  # silence gate
    db *= (db.max(axis=(1, 2), keepdims=True) > 0) & loud
    chr_ = chr_ / np.maximum(chr_.max(axis=1, keepdims=True), 1e-3)
    chr_ = chr_.reshape(-1, STEPS, 12)
    k = np.arange(STEPS) * 2 * np.pi / STEPS
    pos = np.broadcast_to(np.stack([np.sin(k), np.cos(k)], 1) * 0.5 + 0.5, (onset.shape[0], STEPS, 2))
    return np.concatenate([onset, db, chr_, pos], axis=2).astype(np.float32)


def grid(bpm: float, bar_start: float, n_bars: int, beats_per_bar: int = 4) -> np.ndarray:
    """Step boundaries (seconds) of ``n_bars`` 16th-note bars at a constant tempo."""
    step = 60.0 / bpm / 4.0
    return bar_start + np.arange(n_bars * STEPS + 1) * step * beats_per_bar / 4


def bar_features(audio: np.ndarray, sr: int, bpm: float, bar_start: float = 0.0, n_bars: int = 1) -> np.ndarray:
    """Features of ``n_bars`` bars starting at ``bar_start`` seconds into ``audio``.

    For streaming, pass audio from >= 64 ms before the bar start (and ``bar_start`` set
    accordingly) so the first step's onset is not a zero-padding artefact.
    """
    return step_features(to_mono_sr(audio, sr), grid(bpm, bar_start, n_bars))


def estimate_tempo(audio: np.ndarray, sr: int, lo: float = 70.0, hi: float = 180.0) -> float:
    """Simple tempo estimate: autocorrelation of the onset envelope, best lag in [lo, hi] BPM."""
    x = to_mono_sr(audio, sr)
    dur = len(x) / SR
    if dur < 2.0:
        raise ValueError("need at least 2 s of audio to estimate the tempo")
    mag, _ = _frames(x, _FRAME_DELAY, dur)
    env = np.maximum(np.diff(np.log1p(100.0 * mag), axis=0), 0).sum(1)
    env = env - env.mean()
    ac = np.fft.irfft(np.abs(np.fft.rfft(env, 2 * len(env))) ** 2)[: len(env)]
    fps = SR / HOP
    lags = np.arange(int(fps * 60 / hi), int(fps * 60 / lo) + 1)
    # favour lags whose double is also strong (beat vs half-beat ambiguity)
    score = ac[lags] + 0.5 * ac[np.minimum(2 * lags, len(ac) - 1)]
    lag = lags[np.argmax(score)]
    # parabolic refinement
    if 0 < lag < len(ac) - 1:
        a, b, c = ac[lag - 1], ac[lag], ac[lag + 1]
        den = a - 2 * b + c
        lag = lag + (0.5 * (a - c) / den if den != 0 else 0.0)
    return float(60.0 * fps / lag)
