"""Multiband Phase analysis: delay, polarity and per-band phase between a reference and a target.

* ``CrossSpectrum`` accumulates, over Hann frames of ``FRAME_48K`` samples (683 ms at 48 kHz,
  long enough for +-100 ms lags) every ``STRIDE_48K``, the target/reference cross-spectrum and
  both auto-spectra. Frames are gated: silent ones (either signal below ``ABS_GATE_DB``) are
  skipped, frames without an onset (a 3 dB jump between 43 ms sub-blocks) count
  ``STEADY_WEIGHT``: transients give the sharpest correlation peak. ``decay`` < 1 forgets old
  frames (tracking).
* ``estimate``: GCC-PHAT weighted by the magnitude-squared coherence, integer peak within the
  allowed range, then a bounded scalar search of the band-limited correlation for the
  sub-sample delay; polarity = sign of the peak. Residual phase per third-octave band (31.5 Hz ..
  16 kHz) = angle of the coherence-weighted cross-spectrum after delay and polarity.
* ``correction_fir`` turns (delay, polarity, band phases) into one FIR: a windowed fractional
  delay to ``latency - delay`` times a phase curve interpolated (log f) between band centres.
* The guard predicts each band's summed energy |R + H X|^2 from the learnt spectra with the
  realised FIR and drops the phase correction of any band where it would be lower than with the
  time-only FIR (and all of it if that does not converge).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft
from scipy.optimize import minimize_scalar

from bandmate.specs import rate_factor

FRAME_48K = 32768
STRIDE_48K = 8192
WINDOW_48K = 4096  # max half-width of the correction FIR's window
BAND_CENTRES_HZ = 1000.0 * 2.0 ** (np.arange(-15, 13) / 3.0)  # 31.5 Hz .. 16 kHz
SUMMARY_HZ = (63.0, 125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0)
ABS_GATE_DB = -60.0
ONSET_RATIO = 2.0
STEADY_WEIGHT = 0.25
MIN_CONSISTENCY = 0.5  # |sum of a band's weighted cross-spectrum| / sum of magnitudes


@dataclass(frozen=True)
class Alignment:
    delay: float  # samples, + = the target is late
    polarity: int  # +1, or -1 = inverted
    band_phase: np.ndarray  # (bands,) rad added to the target after delay and polarity (unwrapped)
    corr_before: float  # zero-lag correlation coefficient, raw signals
    corr_after: float  # ... after the full correction
    sum_gain_db: float  # summed energy |R + Y|^2 after vs before, predicted on the learnt spectra
    time_only_gain_db: float  # ... with delay and polarity only
    guarded: int  # bands whose phase correction the guard removed

    def phase_at(self, freqs_hz) -> np.ndarray:
        """Correction phase (deg, wrapped to -180..180) at ``freqs_hz``."""
        phi = np.interp(np.log2(freqs_hz), np.log2(BAND_CENTRES_HZ), self.band_phase)
        return np.degrees(np.angle(np.exp(1j * phi)))


def _taper(n: int, centre: float, half: float) -> np.ndarray:
    """1 within half/2 of centre, raised-cosine to 0 at half."""
    d = np.abs(np.arange(n) - centre)
    w = np.clip((half - d) / (0.5 * half), 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * w)


def correction_fir(delay: float, polarity: int, band_phase: np.ndarray | None, n: int, latency: int,
                   sample_rate: int, max_half: int) -> np.ndarray:
    """(n,) FIR: polarity x (input delayed by latency - delay) x the band phase curve."""
    c = latency - delay
    half = min(max_half, c - 1.0, n - 1.0 - c)
    if half < 8:
        raise ValueError(f"delay {delay:.1f} is outside the FIR's range (latency {latency}, {n} taps)")
    f = np.arange(n // 2 + 1) * (sample_rate / n)
    H = polarity * np.exp(-2j * np.pi * f * (c / sample_rate))
    if band_phase is not None:
        H = H * np.exp(1j * np.interp(np.log2(np.maximum(f, 1.0)), np.log2(BAND_CENTRES_HZ), band_phase))
    return sfft.irfft(H, n=n, workers=1) * _taper(n, c, half)


class CrossSpectrum:
    def __init__(self, sample_rate: int, frame: int | None = None, stride: int | None = None):
        rf = rate_factor(sample_rate)
        self.sample_rate = int(sample_rate)
        self.n = int(frame or FRAME_48K * rf)
        self.stride = int(stride or STRIDE_48K * rf)
        self._win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(self.n) / self.n)
        self.freqs = np.arange(self.n // 2 + 1) * (self.sample_rate / self.n)
        edges = np.concatenate([BAND_CENTRES_HZ * 2 ** (-1 / 6), [BAND_CENTRES_HZ[-1] * 2 ** (1 / 6)]])
        self.band_of_bin = np.searchsorted(edges, self.freqs, side="right") - 1  # -1 / B: outside
        self._in_band = (self.band_of_bin >= 0) & (self.band_of_bin < len(BAND_CENTRES_HZ))
        self._omega = 2 * np.pi * np.arange(self.n // 2 + 1) / self.n
        self._two = np.full(self.n // 2 + 1, 2.0)
        self._two[[0, -1]] = 1.0
        self.reset()

    def reset(self) -> None:
        K = self.n // 2 + 1
        self.sxr = np.zeros(K, complex)
        self.sxx = np.zeros(K)
        self.srr = np.zeros(K)
        self.weight = 0.0
        self.accepted = 0  # frames that passed the gate

    @property
    def seconds(self) -> float:
        """Accepted audio (frame strides), the learning progress."""
        return self.accepted * self.stride / self.sample_rate

    def _onset(self, y: np.ndarray) -> bool:
        e = np.mean(y.reshape(16, -1) ** 2, axis=1) + 1e-12
        return bool(np.any(e[1:] > ONSET_RATIO * e[:-1]))

    def add(self, r: np.ndarray, x: np.ndarray, decay: float = 1.0) -> float:
        """One frame of reference ``r`` and target ``x`` (n,) on the same timeline; returns its weight."""
        gate = 10.0 ** (ABS_GATE_DB / 10.0)
        if np.mean(r * r) < gate or np.mean(x * x) < gate:
            return 0.0
        w = 1.0 if self._onset(r) or self._onset(x) else STEADY_WEIGHT
        R = sfft.rfft(r * self._win, workers=1)
        X = sfft.rfft(x * self._win, workers=1)
        self.sxr = self.sxr * decay + w * (X * np.conj(R))
        self.sxx = self.sxx * decay + w * (X.real**2 + X.imag**2)
        self.srr = self.srr * decay + w * (R.real**2 + R.imag**2)
        self.weight = self.weight * decay + w
        self.accepted += 1
        return w

    # ------------------------------------------------------------------ estimate
    def coherence(self) -> np.ndarray:
        return np.abs(self.sxr) ** 2 / np.maximum(self.sxx * self.srr, 1e-30)

    def delay(self, max_delay: int) -> tuple[float, int]:
        """(sub-sample delay, polarity) from the coherence-weighted GCC-PHAT."""
        g2 = self.coherence()
        G = g2 * self.sxr / np.maximum(np.abs(self.sxr), 1e-30)
        cc = sfft.irfft(G, n=self.n, workers=1)
        D = int(min(max_delay, self.n // 2 - 1))
        lags = np.concatenate([np.arange(0, D + 1), np.arange(-D, 0)])
        vals = cc[lags]
        i = int(np.argmax(np.abs(vals)))
        tau0, sign = float(lags[i]), 1 if vals[i] >= 0 else -1
        keep = g2 > 1e-3 * g2.max()
        wG, om = (self._two * G)[keep], self._omega[keep]

        def neg_corr(tau: float) -> float:
            return -sign * float(np.sum((wG * np.exp(1j * om * tau)).real))

        res = minimize_scalar(neg_corr, bounds=(tau0 - 1.0, tau0 + 1.0), method="bounded",
                              options={"xatol": 1e-4})
        tau = float(np.clip(res.x, -D, D))
        return tau, sign

    def overlap(self, delay: float) -> float:
        """Share of a frame's cross-power that survives a lag of ``delay`` (the window's autocorrelation):
        dividing the aligned cross term by it removes the frames' bias at long lags."""
        d = min(int(round(abs(delay))), self.n - 1)
        w = self._win
        return float(np.dot(w[: self.n - d], w[d:]) / np.dot(w, w))

    def band_energy(self, H: np.ndarray, overlap: float = 1.0) -> np.ndarray:
        """Summed energy |R + H X|^2 per band for a correction response H on the frame's bins
        (``overlap``: see ``overlap``, for an H that aligns)."""
        e = self.srr + (H.real**2 + H.imag**2) * self.sxx + 2.0 * (H * self.sxr).real / overlap
        m = self._in_band
        return np.bincount(self.band_of_bin[m], weights=e[m], minlength=len(BAND_CENTRES_HZ))

    def band_phase(self, delay: float, polarity: int) -> np.ndarray:
        """Per-band correction phase (rad, unwrapped across bands; 0 where inconsistent)."""
        res = polarity * self.sxr * np.exp(1j * self._omega * delay)
        g2 = self.coherence()
        m = self._in_band
        B = len(BAND_CENTRES_HZ)
        z = np.bincount(self.band_of_bin[m], weights=(g2 * res).real[m], minlength=B) + 1j * np.bincount(
            self.band_of_bin[m], weights=(g2 * res).imag[m], minlength=B)
        mag = np.bincount(self.band_of_bin[m], weights=(g2 * np.abs(res))[m], minlength=B)
        phi = np.where(np.abs(z) >= MIN_CONSISTENCY * np.maximum(mag, 1e-30), -np.angle(z), 0.0)
        return np.unwrap(phi)

    def response(self, h: np.ndarray, latency: int) -> np.ndarray:
        """A correction FIR's response on the frame's bins, its latency removed."""
        return sfft.rfft(h, n=self.n, workers=1) * np.exp(1j * self._omega * latency)

    def estimate(self, max_delay: int, n_fir: int, latency: int, max_half: int,
                 band_phase: bool = True) -> tuple[Alignment, np.ndarray]:
        """The alignment and its FIR (n_fir,); ``band_phase`` False: delay and polarity only."""
        if self.weight <= 0.0:
            raise ValueError("nothing learnt yet")
        d, pol = self.delay(max_delay)
        fs = self.sample_rate
        h_time = correction_fir(d, pol, None, n_fir, latency, fs, max_half)
        H_time = self.response(h_time, latency)
        ov = self.overlap(d)
        e_time = self.band_energy(H_time, ov)
        phi = self.band_phase(d, pol) if band_phase else np.zeros(len(BAND_CENTRES_HZ))
        guarded = 0
        h, H = h_time, H_time
        if np.any(phi != 0.0):
            for _ in range(4):
                h = correction_fir(d, pol, phi, n_fir, latency, fs, max_half)
                H = self.response(h, latency)
                worse = self.band_energy(H, ov) < e_time * (1.0 - 1e-4)
                if not worse.any():
                    break
                guarded += int(worse.sum())
                phi = np.where(worse, 2 * np.pi * np.round(phi / (2 * np.pi)), phi)
            else:
                phi, h, H = np.zeros_like(phi), h_time, H_time
                guarded = len(phi)
        e0 = self.band_energy(np.ones_like(H_time)).sum()
        sxx, srr = float(np.sum(self._two * self.sxx)), float(np.sum(self._two * self.srr))
        norm = math.sqrt(max(sxx * srr, 1e-30))

        def corr(Hc: np.ndarray) -> float:
            num = float(np.sum(self._two * (Hc * self.sxr).real)) / ov
            den = math.sqrt(max(float(np.sum(self._two * np.abs(Hc) ** 2 * self.sxx)) * srr, 1e-30))
            return float(np.clip(num / den, -1.0, 1.0))  # the overlap correction is approximate

        al = Alignment(
            delay=d, polarity=pol, band_phase=phi,
            corr_before=float(np.sum(self._two * self.sxr.real)) / norm, corr_after=corr(H),
            sum_gain_db=10 * math.log10(max(self.band_energy(H, ov).sum(), 1e-30) / max(e0, 1e-30)),
            time_only_gain_db=10 * math.log10(max(e_time.sum(), 1e-30) / max(e0, 1e-30)),
            guarded=guarded)
        return al, h
