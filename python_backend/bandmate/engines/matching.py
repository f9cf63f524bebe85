"""Matching engine core (Profile EQ / XSpecMatch): move a signal's long-term spectrum to a target.

Pipeline (all sample counts at 48 kHz, scaled by the rate factor for 88.2/96 kHz and up):

1. **Analysis**: ``LongTermSpectrum`` (``engines/spectrum.py``): 8192-point Hann frames every
   4096 samples (50 % overlap), K-weighted gates (absolute -70 dBFS, relative -20 dB below the running level of
   the accepted frames: silence and quiet passages are ignored), exponential average over
   ``window_s`` seconds of accepted audio (bias-corrected: a plain mean until the window is
   full), on a 1/24-octave grid 20 Hz .. 20 kHz. Stereo input is analysed as mid/side (the L/R
   mean power is (M + S) / 2 exactly). ``learn`` = 0 freezes it.
2. **Curve** (``match_curve``, every ``UPDATE_48K`` = 4096 samples, 85 ms; at the 192-sample hop
   every 21 hops = 4032): target - current (both
   loudness-normalised dB), Gaussian-smoothed over ``smoothing_oct`` (FWHM), tolerance band
   removed (during the first ``EARLY_S`` = 10 s of accepted audio the smoothing starts twice as
   wide and narrows to the setting: the first bars' content is not tone to correct), limited to
   -max_cut .. +max_boost, faded to 0 dB (half an octave) outside
   low_hz .. high_hz, times ``amount``. Auto-gain: the K-weighted loudness change the curve
   would make on the current long-term spectrum is compensated in the filter.
3. **Filter** (``CorrectionFilter``): the curve becomes an ``N_FIR_48K`` = 4096-tap FIR (rounded
   up to a whole number of hops: 4224 taps with the 192-sample hop), minimum
   phase (real cepstrum: fold, exponentiate) or linear phase (zero-phase, centred, Kaiser
   window), applied by uniformly partitioned overlap-save convolution with partitions of one
   hop: exact linear convolution, no added latency. A new filter's output is crossfaded from
   the old one's over one hop (both computed from the same input), so curve changes never
   click.

Latency is fixed at activation by ``phase_mode``: 0 (minimum phase) -> **0 samples**;
1 (linear phase) -> N_FIR / 2 = **2048 samples** (42.7 ms) at 48 kHz. Switching ``phase_mode``
while active: in a linear-phase activation, minimum phase runs delayed to the same latency
(truncated to N/2 taps); in a minimum-phase activation, linear phase is unavailable (stays
minimum phase) until re-activation.

Hop: ``HOP_MIN_48K`` = 192 for minimum phase, the largest hop that keeps the shell's total
latency within 20 ms for host blocks up to 512 (960 samples; every hop is one message through
the bridge, so a larger hop is less CPU: 250 messages/s instead of 375 with 128),
``HOP_LIN_48K`` = 512 for linear phase; any hop works (``MatchingCore(hop=...)``): the FIR
length is rounded up to a multiple of it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import scipy.fft as sfft
from scipy.ndimage import gaussian_filter1d
from scipy.signal.windows import kaiser

from bandmate.engines.base import Engine, EngineConfig
from bandmate.engines.native import PartitionedConvolver
from bandmate.engines.spectrum import (
    PER_OCT,
    LongTermSpectrum,
    grid_weights,
    log_grid,
    loudness_normalise,
)
from bandmate.specs import rate_factor

_LN10_20 = math.log(10.0) / 20.0

N_FIR_48K = 4096
HOP_MIN_48K = 192
HOP_LIN_48K = 512
UPDATE_48K = 4096  # curve/filter refresh interval (85.3 ms)
EARLY_S = 10.0  # seconds of accepted audio over which the extra early smoothing fades out
SKIP_DB = 0.05  # the filter is rebuilt only when the curve (or make-up) moved more than this
METER_IDS = ("dev_low", "dev_lowmid", "dev_highmid", "dev_high")
METER_EDGES_HZ = (0.0, 250.0, 2000.0, 6000.0, 1e9)

DEFAULTS: dict[str, float] = {
    "amount": 1.0,
    "smoothing_oct": 1.0 / 3.0,
    "max_cut_db": 12.0,
    "max_boost_db": 12.0,
    "low_hz": 20.0,
    "high_hz": 20000.0,
    "tolerance_db": 0.0,
    "window_s": 10.0,
    "learn": 1.0,
    "phase_mode": 0.0,
    "mix": 1.0,
    "output_gain_db": 0.0,
    "mid_side": 0.0,
    "auto_gain": 1.0,
}


def match_curve(current_db: np.ndarray, target_db: np.ndarray, grid: np.ndarray, *, smoothing_oct: float = 1 / 3,
                amount: float = 1.0, max_cut_db: float = 12.0, max_boost_db: float = 12.0, low_hz: float = 20.0,
                high_hz: float = 20000.0, tolerance_db: float = 0.0, per_oct: int = PER_OCT) -> np.ndarray:
    """Correction gain (dB, same shape as the inputs (..., G)) that moves ``current`` to ``target``.

    Both are dB spectra on ``grid`` (normalise them to the same loudness first). Order:
    difference, smoothing (Gaussian in log f, FWHM ``smoothing_oct`` octaves; <= 1/24 is none),
    tolerance (only the part beyond +-tolerance is corrected; a scalar or one value per grid
    point, e.g. a profile's spread), limits, low/high fade (half-octave smoothstep to 0 dB outside
    the range, and at the grid's top), amount.
    """
    d = np.asarray(target_db, float) - np.asarray(current_db, float)
    sigma = max(float(smoothing_oct), 0.0) * per_oct / 2.3548
    if sigma > 0.5:
        d = gaussian_filter1d(d, sigma, axis=-1, mode="nearest", truncate=3.0)
    tol = np.asarray(tolerance_db, float)
    if np.any(tol > 0.0):
        d = np.sign(d) * np.maximum(np.abs(d) - tol, 0.0)
    d = np.clip(d, -abs(max_cut_db), abs(max_boost_db))
    lg = np.log2(grid)
    wl = np.clip(1.0 + 2.0 * (lg - math.log2(max(low_hz, 1.0))), 0.0, 1.0)
    wh = np.clip(1.0 - 2.0 * (lg - math.log2(max(high_hz, 1.0))), 0.0, 1.0)
    wt = np.clip(4.0 * (lg[-1] - lg), 0.0, 1.0)  # reach 0 dB at the grid's top
    w = wl * wh * wt
    w = w * w * (3.0 - 2.0 * w)
    return d * w * float(amount)


def band_deviation_db(current_db: np.ndarray, target_db: np.ndarray, grid: np.ndarray,
                      weights: np.ndarray) -> np.ndarray:
    """Level of current vs target (dB, + = current louder) in the 4 meter bands (power sums;
    0 for a band without grid points). ``grid`` ascending."""
    edges = np.searchsorted(grid, METER_EDGES_HZ)
    pc = np.add.reduceat(10.0 ** (current_db / 10.0) * weights, edges[:-1].clip(0, len(grid) - 1))
    pt = np.add.reduceat(10.0 ** (target_db / 10.0) * weights, edges[:-1].clip(0, len(grid) - 1))
    out = 10.0 * np.log10(np.maximum(pc, 1e-30) / np.maximum(pt, 1e-30))
    out[edges[1:] <= edges[:-1]] = 0.0
    return out


def minimum_phase_fir(gain_db: np.ndarray, n: int) -> np.ndarray:
    """(rows, n/2+1) dB magnitude on the rfft bins of length n -> (rows, n) minimum-phase FIR."""
    c = sfft.irfft(gain_db * _LN10_20, n=n, axis=-1, workers=1)
    c[:, 1 : n // 2] *= 2.0
    c[:, n // 2 + 1 :] = 0.0
    return sfft.irfft(np.exp(sfft.rfft(c, axis=-1, workers=1)), n=n, axis=-1, workers=1)


def linear_phase_fir(gain_db: np.ndarray, n: int, window: np.ndarray) -> np.ndarray:
    """(rows, n/2+1) dB -> (rows, n) symmetric FIR centred on sample n/2."""
    h = sfft.irfft(10.0 ** (gain_db / 20.0), n=n, axis=-1, workers=1)
    return np.roll(h, n // 2, axis=-1) * window


class CorrectionFilter:
    """Partitioned overlap-save FIR on fixed hops with a one-hop crossfade on every change.

    ``set_curve`` takes a dB curve on ``grid`` per row (1 row: all channels; 2 rows with
    ``ms``: mid and side) plus a make-up gain per row; ``process`` filters one hop. ``latency``
    is 0 (minimum-phase activation) or n_fir / 2 (linear-phase activation).
    """

    def __init__(self, sample_rate: int, channels: int, hop: int, grid: np.ndarray, linear_latency: bool = False,
                 n_fir: int | None = None):
        self.sample_rate, self.channels, self.hop = int(sample_rate), int(channels), int(hop)
        if n_fir is None:  # the default length, rounded up to whole partitions
            n_fir = -(-N_FIR_48K * rate_factor(sample_rate) // hop) * hop
        self.n_fir = N = int(n_fir)
        if N % hop:
            raise ValueError(f"hop {hop} must divide the FIR length {N}")
        self.P = N // hop
        self.linear_latency = bool(linear_latency)
        self.latency = N // 2 if linear_latency else 0
        # minimum phase is designed on a power-of-two length (fast FFTs; 4224 = 2^7 3 11 is not)
        # and zero-padded to the N taps the partitions need
        self.n_design = N if linear_latency else 1 << (N.bit_length() - 1)
        self.K = self.n_design // 2 + 1
        self.freqs = np.arange(self.K) * sample_rate / self.n_design
        self._lf = np.log2(np.maximum(self.freqs, 1e-3))
        self._lg = np.log2(grid)
        self._kaiser = kaiser(N, 6.0, sym=False)
        half = N // 2
        fade = np.ones(half)
        nf = half // 8
        fade[-nf:] = 0.5 + 0.5 * np.cos(np.pi * np.arange(1, nf + 1) / nf)
        self._min_tail = fade
        # the per-hop convolution, mid/side and crossfade (C++); its identity is the delayed input
        self._conv = PartitionedConvolver(self.channels, hop, N, identity_delay=self.latency)
        self.reset()

    def reset(self) -> None:
        self._conv.reset()  # zero history, identity filter
        self.phase_mode = 0
        #: the curve last applied on the FIR bins (rows, K) dB, for benches
        self.last_bins_db = np.zeros((1, self.K))

    def curve_to_bins(self, curve_db: np.ndarray) -> np.ndarray:
        curve_db = np.atleast_2d(curve_db)
        return np.stack([np.interp(self._lf, self._lg, c, left=c[0], right=0.0) for c in curve_db])

    def design(self, curve_db: np.ndarray, makeup_db: np.ndarray, phase_mode: int) -> np.ndarray:
        """(rows, G) dB curve -> (rows, N) FIR including the make-up gain and the latency."""
        g = self.curve_to_bins(curve_db)
        self.last_bins_db = g
        g = g + np.asarray(makeup_db, float).reshape(-1, 1)
        N = self.n_fir
        if phase_mode == 1 and self.linear_latency:
            return linear_phase_fir(g, N, self._kaiser)
        h = minimum_phase_fir(g, self.n_design)
        if self.n_design < N:
            h = np.pad(h, ((0, 0), (0, N - self.n_design)))
        if self.linear_latency:  # minimum phase, delayed to the activation's latency
            out = np.zeros_like(h)
            out[:, N // 2 :] = h[:, : N // 2] * self._min_tail
            return out
        return h

    def set_fir(self, h: np.ndarray | None, ms: bool) -> None:
        """Install a new FIR (rows, N) (None: identity at the latency; ``ms`` with 2 rows on 2
        channels: mid and side); crossfaded over the next hop. Called again before that hop, only
        the fade's target is replaced."""
        self._conv.set_filter(h, bool(ms), self.hop)

    def set_curve(self, curve_db: np.ndarray, makeup_db: np.ndarray, phase_mode: int = 0, ms: bool = False) -> None:
        self.phase_mode = int(phase_mode)
        self.set_fir(self.design(curve_db, makeup_db, int(phase_mode)), ms)

    def process(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One hop (C, hop) -> (filtered, input delayed by the latency), both float64."""
        x = np.asarray(x, float)
        y = self._conv.process(x)
        if not self.latency:  # minimum-phase activation: the dry path is the input itself
            return y, x
        return y, self._conv.delayed_input()  # the convolver's own delay line (its identity filter)


class MatchingCore:
    """The matching engine without the spec: process(audio (C, hop), params) -> (out, meters).

    ``phase_mode_at_activation`` fixes the latency (0 -> 0 samples, 1 -> n_fir / 2).
    """

    def __init__(self, sample_rate: int, channels: int, phase_mode_at_activation: int = 0, hop: int | None = None):
        rf = rate_factor(sample_rate)
        self.sample_rate, self.channels = int(sample_rate), int(channels)
        lin = int(round(phase_mode_at_activation)) == 1
        self.hop = int(hop or (HOP_LIN_48K if lin else HOP_MIN_48K) * rf)
        self.grid = log_grid(sample_rate)
        self.weights = grid_weights(self.grid, sample_rate)
        self.filter = CorrectionFilter(sample_rate, channels, self.hop, self.grid, linear_latency=lin)
        self.latency = self.filter.latency
        self.update_hops = max(1, UPDATE_48K * rf // self.hop)
        self.lts = LongTermSpectrum(sample_rate, rows=channels, window_s=DEFAULTS["window_s"],
                                    mid_side=channels == 2)  # stereo is analysed as mid/side
        self._lin = np.arange(1, self.hop + 1, dtype=float) / self.hop
        self.target_db: np.ndarray | None = None  # (rows, G) normalised
        self.target_tol_db: np.ndarray | float = 0.0  # per-point tolerance added to tolerance_db
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        self.lts.reset()
        self.filter.reset()
        self._count = 0
        self._last_key = None
        self._last = None  # (mix, gain)
        self._meters = dict.fromkeys(METER_IDS, 0.0)
        #: last correction curve on the grid (rows, G) dB without make-up, and the make-up (rows,)
        self.curve_db = np.zeros((1, len(self.grid)))
        self.makeup_db = np.zeros(1)

    def set_target(self, spectrum_db: np.ndarray | None, tolerance_db: np.ndarray | None = None) -> None:
        """Target spectrum in dB on ``self.grid``: (G,) or (2, G) (mid, side). None clears it.
        ``tolerance_db`` (G,): a per-point band around the target left uncorrected (on top of the
        ``tolerance_db`` parameter), e.g. a profile's spread."""
        self.target_tol_db = 0.0 if tolerance_db is None else np.maximum(np.asarray(tolerance_db, float), 0.0)
        if spectrum_db is None:
            self.target_db = None
        else:
            t = np.atleast_2d(np.asarray(spectrum_db, float))
            if t.shape[-1] != len(self.grid):
                raise ValueError(f"target has {t.shape[-1]} points, the grid {len(self.grid)}")
            self.target_db = loudness_normalise(t, self.weights)
        self._last_key = None

    # ---------------------------------------------------------------- process
    def _params(self, params: Mapping[str, float]) -> dict[str, float]:
        return DEFAULTS | dict(params)  # unknown keys ride along unread

    def _update(self, p: dict[str, float]) -> None:
        ms = self.channels == 2 and p["mid_side"] >= 0.5
        if self.target_db is None or not self.lts.ready:
            key = ("off",)
            if key != self._last_key:
                self._last_key = key
                self.filter.set_fir(None, False)
                self.curve_db = np.zeros((1, len(self.grid)))
                self.makeup_db = np.zeros(1)
                self._meters = dict.fromkeys(METER_IDS, 0.0)
            return
        if ms:
            cur = self.lts.spectrum_db()  # (2, G) mid, side
            tgt = self.target_db if self.target_db.shape[0] == 2 else np.repeat(self.target_db, 2, axis=0)
            cur_raw = self.lts.power()
        else:
            cur = self.lts.spectrum_db(mean_rows=True)
            tgt = self.target_db
            if tgt.shape[0] == 2:
                tgt = loudness_normalise(10 * np.log10(np.mean(10 ** (tgt / 10), axis=0, keepdims=True)), self.weights)
            cur_raw = self.lts.power().mean(axis=0, keepdims=True)
        # while little has been heard the fine detail of the difference is mostly content, not
        # tone: smooth twice as wide at first, narrowing to the setting over EARLY_S of audio
        early = max(0.0, 1.0 - self.lts.seconds_learned / EARLY_S)
        curve = match_curve(cur, tgt, self.grid, smoothing_oct=p["smoothing_oct"] * (1.0 + early), amount=p["amount"],
                            max_cut_db=p["max_cut_db"], max_boost_db=p["max_boost_db"], low_hz=p["low_hz"],
                            high_hz=p["high_hz"], tolerance_db=p["tolerance_db"] + self.target_tol_db)
        if p["auto_gain"] >= 0.5:
            pw = cur_raw * self.weights
            ratio = np.sum(pw * 10.0 ** (curve / 10.0), axis=-1) / np.maximum(np.sum(pw, axis=-1), 1e-30)
            makeup = -10.0 * np.log10(np.maximum(ratio, 1e-30))
        else:
            makeup = np.zeros(curve.shape[0])
        phase = int(round(p["phase_mode"]))
        dev = band_deviation_db(cur.mean(axis=0) if cur.shape[0] > 1 else cur[0],
                                tgt.mean(axis=0) if tgt.shape[0] > 1 else tgt[0], self.grid, self.weights)
        self._meters = {k: float(v) for k, v in zip(METER_IDS, dev, strict=True)}
        key = (ms, phase)
        if (key == self._last_key and curve.shape == self.curve_db.shape
                and np.max(np.abs(curve - self.curve_db)) < SKIP_DB
                and np.max(np.abs(makeup - self.makeup_db)) < SKIP_DB):
            return
        self._last_key = key
        self.curve_db, self.makeup_db = curve, makeup
        self.filter.set_curve(curve, makeup, phase, ms)

    def process(self, audio: np.ndarray, params: Mapping[str, float]) -> tuple[np.ndarray, dict[str, float]]:
        p = self._params(params)
        x = np.asarray(audio, float)
        if p["learn"] >= 0.5:
            self.lts.unfreeze()
        else:
            self.lts.freeze()
        if p["window_s"] != self.lts.window_s:
            self.lts.set_window(p["window_s"])
        if not self.lts.frozen:
            self.lts.push(x)
        if self._count % self.update_hops == 0:
            self._update(p)
        self._count += 1
        wet, dry = self.filter.process(x)

        mix = min(max(p["mix"], 0.0), 1.0)
        gain = 10.0 ** (p["output_gain_db"] / 20.0)
        last = self._last or (mix, gain)
        self._last = (mix, gain)
        if mix == last[0]:
            out = dry if mix == 0.0 else (wet if mix == 1.0 else dry + (wet - dry) * mix)
        else:
            out = dry + (wet - dry) * (last[0] + (mix - last[0]) * self._lin)
        if gain != last[1]:
            out = out * (last[1] + (gain - last[1]) * self._lin)
        elif gain != 1.0:
            out = out * gain
        return out.astype(np.float32), self._meters  # replaced, never mutated: no copy


class MatchingEngine(Engine):
    """Engine wrapper (spec name ``matching``); hop and latency come from the core and must
    match the spec: hop_at_48k 128 / latency 0 (phase_mode 0), 512 / 2048 (phase_mode 1)."""

    name = "matching"

    def __init__(self, config: EngineConfig):
        super().__init__(config)
        phase = int(round(float(self.activation_params.get("phase_mode", 0.0))))
        self.core = MatchingCore(self.sample_rate, self.channels, phase, hop=self.hop)
        if self.core.latency != self.latency:
            raise ValueError(f"spec latency {self.latency} != engine latency {self.core.latency}")

    def set_target(self, spectrum_db: np.ndarray | None) -> None:
        self.core.set_target(spectrum_db)

    @property
    def lts(self) -> LongTermSpectrum:
        return self.core.lts

    def reset(self) -> None:
        self.core.reset()

    def process(self, audio: np.ndarray, params: Mapping[str, float]) -> tuple[np.ndarray, dict[str, float]]:
        return self.core.process(audio, params)


def run_offline(core: MatchingCore, audio: np.ndarray, params: Mapping[str, float] | None = None) -> np.ndarray:
    """Run a whole (channels, n) buffer through ``core``; output aligned to the input."""
    x = np.asarray(audio, np.float32)
    if x.ndim == 1:
        x = x[None]
    n = x.shape[1]
    hop, lat = core.hop, core.latency
    total = -(-(n + lat) // hop) * hop
    pad = np.zeros((x.shape[0], total), np.float32)
    pad[:, :n] = x
    out = np.empty_like(pad)
    p = dict(params or {})
    for s in range(0, total, hop):
        out[:, s : s + hop], _ = core.process(pad[:, s : s + hop], p)
    return out[:, lat : lat + n]
