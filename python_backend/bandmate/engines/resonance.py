"""ResonanceEQ: dynamic resonance suppression (amount < 0) and harmonic emphasis (amount > 0).

Design
------
*Analysis* (every ``update`` = 256 samples at 48 kHz, scaled with the rate factor): a Hann
window of ``n_fft`` = 2048 samples (43 ms) ending at the newest input sample, so the
frequency resolution is that of a long window while nothing has to wait for it. Per bin:

1. power, stereo-linked (``stereo_link`` blends each channel's power with the channel mean),
   optionally in the mid/side domain; a short one-pole smooths it over time (frequency-scaled);
2. level in dB, lightly smoothed across frequency (box width proportional to frequency);
3. spectral envelope: a robust two-pass moving average over +-1/3 octave on that dB
   spectrum (second pass with the peaks clipped to the first envelope + 2 dB);
4. prominence = level - envelope (+ tilt in dB/oct around 1 kHz), minus a threshold set by
   ``selectivity``, through a quadratic soft knee, times a slope and ``|amount|``, capped at
   ``depth_db`` and faded out outside ``low_hz``..``high_hz``: the target gain in dB
   (cut for amount < 0, boost for amount > 0);
5. the target is smoothed across frequency (two box passes, width proportional to frequency,
   narrower with ``sharpness``) and over time with per-bin attack/release one-poles whose time
   constants scale with 1/sqrt(frequency) (slower lows, faster highs), so it never zips.

*Application*: the smoothed gain curve becomes a **minimum-phase FIR** via the real cepstrum
on the n_fft grid (fold the cepstrum, exponentiate). It is applied by overlap-save with the
same FFT size, one hop at a time, so the filter itself adds no latency; its group delay is
only that of an equivalent analog dynamic EQ notch. To avoid zipper noise each output hop is
a crossfade between the previous and the new filter (two IFFTs), ramped over the update
interval. The gain curve is smooth over >= 3 bins, so the min-phase response decays well
inside n_fft - hop samples and the circular wrap of overlap-save is negligible.

*Latency*: "normal" (hop 256, engine latency 256 at 48 kHz) uses the 256 samples of latency
as look-ahead: analysis sees 256 samples beyond the audio being filtered, so attacks land on
time. "Low latency" (hop 64, engine latency 0) analyses at the same 256-sample rate and
filters every 64-sample hop.

*Emphasis* (amount > 0) lifts the prominent (harmonic) peaks and applies an automatic
make-up gain (energy-matched per channel, 100 ms smoothing) so broadband level stays put.

Output = dry + mix * (wet - dry), times output gain; ``delta`` outputs ``dry - output``
(crossfaded over one hop when toggled). ``mix`` = 0 gives the dry signal delayed by exactly
``self.latency``. Meters ``gr_*``: the largest-magnitude gain change (dB) of the applied curve
(channel mean) in 4 bands.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import scipy.fft as sfft

from bandmate.engines.base import Engine, EngineConfig

_LN10_20 = math.log(10.0) / 20.0
_SQRT_HALF = math.sqrt(0.5)
METER_IDS = ("gr_low", "gr_lowmid", "gr_highmid", "gr_high")
METER_EDGES_HZ = (0.0, 250.0, 2000.0, 6000.0)

# tuning constants (not user parameters)
ENVELOPE_OCT = 1.0 / 3.0  # envelope half-width, octaves
ENVELOPE_MIN_BINS = 6  # ... at least this many bins (at 48 kHz / n_fft 2048)
ENVELOPE_CLIP_DB = 2.0  # second envelope pass: peaks clipped to envelope + this
KNEE_DB = 4.0
SLOPE = 2.0  # dB of gain per dB of prominence above threshold at |amount| = 1
DETECT_TAU_MS = 20.0  # power smoothing before detection (at 1 kHz)
MAKEUP_TAU_MS = 100.0


class _Box:
    """Moving average across bins with a per-bin half-width (cumulative-sum trick, O(K))."""

    def __init__(self, half: np.ndarray, channels: int):
        k = np.arange(len(half))
        K = len(half)
        self.lo = np.clip(k - half, 0, K).astype(np.intp)
        self.hi = np.clip(k + half + 1, 0, K).astype(np.intp)
        self.inv = 1.0 / (self.hi - self.lo)
        self.cs = np.zeros((channels, K + 1))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        np.cumsum(x, axis=-1, out=self.cs[:, 1:])
        out = np.take(self.cs, self.hi, axis=-1)
        out -= np.take(self.cs, self.lo, axis=-1)
        out *= self.inv
        return out


class ResonanceEngine(Engine):
    name = "resonance"

    def __init__(self, config: EngineConfig):
        super().__init__(config)
        rf = self.spec.rate_factor(self.sample_rate)
        self.rate_factor = rf
        self.n_fft = N = 2048 * rf
        self.update = 256 * rf
        self.hops_per_update = max(1, self.update // self.hop)
        self.update = self.hops_per_update * self.hop
        self.lookahead = self.latency
        C = self.channels
        K = N // 2 + 1
        self.K = K
        fs = float(self.sample_rate)
        self.freqs = np.arange(K) * fs / N
        f = np.maximum(self.freqs, fs / N)
        self._k = np.arange(K, dtype=np.float64)
        self._fscale = np.clip(np.sqrt(1000.0 / f), 0.5, 2.0)  # time-constant scale per bin
        self._log2f = np.log2(f / 1000.0)
        self._win = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N) / N)).astype(np.float64)
        self._fold = np.zeros(K)
        self._fold[0] = 1.0
        self._fold[1 : N // 2] = 2.0
        self._fold[N // 2] = 1.0
        self._floor = 1e-10 * (N / 4.0) ** 2  # -100 dB re a full-scale sine
        # envelope box: +-1/3 octave, at least ENVELOPE_MIN_BINS (scaled with n_fft)
        he = np.maximum(np.round(self._k * (2.0**ENVELOPE_OCT - 1.0)), ENVELOPE_MIN_BINS * rf).astype(np.intp)
        self._box_env = _Box(he, C)
        self._a_det = 1.0 - np.exp(-self.update / (fs * DETECT_TAU_MS * 1e-3 * self._fscale))
        self._a_makeup = 1.0 - math.exp(-self.update / (fs * MAKEUP_TAU_MS * 1e-3))
        edges = [int(np.searchsorted(self.freqs, e)) for e in METER_EDGES_HZ]
        self._meter_edges = np.array(edges, np.intp)
        # crossfade ramps, one row per hop of an update interval
        self._ramps = (np.arange(1, self.update + 1, dtype=np.float64) / self.update).reshape(
            self.hops_per_update, self.hop
        )
        self._lin = np.arange(1, self.hop + 1, dtype=np.float64) / self.hop
        self._cache: dict[str, tuple] = {}
        self._dil = np.zeros((C, K))
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        C, N, K = self.channels, self.n_fft, self.K
        L = N + self.lookahead
        self._buf = np.zeros((C, L))
        self._buf_ms = np.zeros((C, L)) if C == 2 else self._buf
        self._ps = np.zeros((C, K))
        self._g = np.zeros((C, K))  # applied gain curve, dB
        self._makeup_db = np.zeros((C, 1))
        self._h_prev = None  # None == identity filter
        self._h_cur = None
        self._ms_prev = False
        self._ms_cur = False
        self._phase = 0
        self._meters = dict.fromkeys(METER_IDS, 0.0)
        self._last = None  # previous (mix, gain, delta)
        #: last target and applied gain curves (dB), for benches/plots
        self.last_gain_db = self._g

    # --------------------------------------------------------- derived params
    def _derived(self, key: str, values: tuple, build):
        hit = self._cache.get(key)
        if hit is None or hit[0] != values:
            hit = (values, build(*values))
            self._cache[key] = hit
        return hit[1]

    def _build_sharp(self, sharpness: float):
        q_det = 12.0 + 48.0 * sharpness  # detection smoothing ~ 1/Q_det of frequency
        q_gain = 10.0 + 40.0 * sharpness
        rf = self.rate_factor
        hd = np.maximum(np.round(self._k / (2.0 * q_det)), rf).astype(np.intp)
        hg = np.maximum(np.round(self._k / (2.0 * q_gain)), rf).astype(np.intp)
        return _Box(hd, self.channels), _Box(hg, self.channels)

    def _build_thr(self, selectivity: float, tilt: float):
        thr = 0.5 + 7.0 * selectivity
        return thr - tilt * self._log2f

    def _build_band(self, low: float, high: float):
        f = np.maximum(self.freqs, 1.0)
        wl = np.clip(1.0 + 2.0 * np.log2(f / low), 0.0, 1.0)  # half-octave fade below low_hz
        wh = np.clip(1.0 - 2.0 * np.log2(f / high), 0.0, 1.0)
        w = wl * wh
        return w * w * (3.0 - 2.0 * w)

    def _build_ar(self, attack_ms: float, release_ms: float):
        fs = float(self.sample_rate)
        a = 1.0 - np.exp(-self.update / (fs * attack_ms * 1e-3 * self._fscale))
        r = 1.0 - np.exp(-self.update / (fs * release_ms * 1e-3 * self._fscale))
        return a, r

    # --------------------------------------------------------------- analysis
    def _minphase(self, g_db: np.ndarray, makeup_db: np.ndarray) -> np.ndarray:
        c = sfft.irfft(g_db * _LN10_20, n=self.n_fft, axis=-1)[:, : self.K]
        c *= self._fold
        c[:, :1] += makeup_db * _LN10_20
        return np.exp(sfft.rfft(c, n=self.n_fft, axis=-1))

    def _update(self, params: Mapping[str, float]) -> None:
        C = self.channels
        ms = C == 2 and params.get("mid_side", 0.0) >= 0.5
        self._h_prev, self._ms_prev = self._h_cur, self._ms_cur
        if ms != self._ms_cur:  # domain switch: start the new domain from the channel mean
            for st in (self._ps, self._g, self._makeup_db):
                st[:] = st.mean(axis=0)
            self._ms_cur = ms
        buf = self._buf_ms if ms else self._buf
        X = sfft.rfft(buf[:, -self.n_fft :] * self._win, axis=-1)
        P = X.real * X.real
        P += X.imag * X.imag
        link = float(params.get("stereo_link", 0.5))
        if C == 2 and link > 0.0:
            m = P.mean(axis=0)
            m *= link
            P *= 1.0 - link
            P += m
        ps = self._ps
        ps += self._a_det * (P - ps)

        box_det, box_gain = self._derived("sharp", (float(params.get("sharpness", 0.5)),), self._build_sharp)
        thr = self._derived(
            "thr", (float(params.get("selectivity", 0.5)), float(params.get("tilt_db_oct", 0.0))), self._build_thr
        )
        band = self._derived("band", (float(params.get("low_hz", 40.0)), float(params.get("high_hz", 2e4))),
                             self._build_band)
        a_att, a_rel = self._derived(
            "ar", (float(params.get("attack_ms", 15.0)), float(params.get("release_ms", 120.0))), self._build_ar
        )
        amount = float(params.get("amount", -0.7))
        depth = float(params.get("depth_db", 12.0))

        g = self._g
        if amount != 0.0 and depth > 0.0:
            lev = np.log10(ps + self._floor)
            lev *= 10.0
            lev = box_det(lev)
            env = self._box_env(lev)
            env += ENVELOPE_CLIP_DB
            np.minimum(env, lev, out=env)
            env = self._box_env(env)
            x = lev - env
            x -= thr
            # quadratic soft knee: 0 below -W/2, x above +W/2
            y = np.clip(x + 0.5 * KNEE_DB, 0.0, KNEE_DB)
            y *= y
            y *= 0.5 / KNEE_DB
            np.maximum(x, 0.5 * KNEE_DB, out=x)
            x -= 0.5 * KNEE_DB
            y += x
            y *= SLOPE * abs(amount)
            np.minimum(y, depth, out=y)
            y *= band
            # widen by one bin (max) before smoothing, so a narrow peak keeps its depth
            d = self._dil
            np.maximum(y[:, :-2], y[:, 2:], out=d[:, 1:-1])
            np.maximum(d, y, out=d)
            target = box_gain(d)
            if amount < 0.0:
                target *= -1.0
        else:
            target = np.zeros_like(g)
        # attack when moving away from 0 dB, release when returning
        coef = np.where(np.abs(target) > np.abs(g), a_att, a_rel)
        target -= g
        target *= coef
        g += target

        if amount > 0.0:  # emphasis: energy-matched make-up gain per channel
            p_in = ps.sum(axis=-1, keepdims=True) + self._floor
            p_out = (ps * np.exp(g * (2.0 * _LN10_20))).sum(axis=-1, keepdims=True) + self._floor
            mk = 10.0 * np.log10(p_in / p_out)
        else:
            mk = 0.0
        self._makeup_db += self._a_makeup * (mk - self._makeup_db)

        if np.abs(g).max() < 1e-4 and np.abs(self._makeup_db).max() < 1e-4:
            self._h_cur = None
        else:
            self._h_cur = self._minphase(g, self._makeup_db)

        gm = g.mean(axis=0) if C > 1 else g[0]
        mn = np.minimum.reduceat(gm, self._meter_edges)
        mx = np.maximum.reduceat(gm, self._meter_edges)
        vals = np.where(-mn > mx, mn, mx)
        self._meters = {k: float(v) for k, v in zip(METER_IDS, vals, strict=True)}

    # -------------------------------------------------------------- filtering
    def _to_lr(self, y: np.ndarray) -> np.ndarray:
        return np.stack([(y[0] + y[1]) * _SQRT_HALF, (y[0] - y[1]) * _SQRT_HALF])

    def _wet(self, ramp: np.ndarray, dry: np.ndarray) -> np.ndarray:
        N, hop = self.n_fft, self.hop
        hp, hc = self._h_prev, self._h_cur
        if hp is None and hc is None:
            return dry
        if self._ms_prev == self._ms_cur:
            buf = self._buf_ms if self._ms_cur else self._buf
            Xf = sfft.rfft(buf[:, :N], axis=-1)
            if hp is hc:
                y = sfft.irfft(Xf * hc, n=N, axis=-1)[..., N - hop :]
                return self._to_lr(y) if self._ms_cur else y
            Y = np.empty((2,) + Xf.shape, Xf.dtype)
            if hp is None:
                Y[0] = Xf
            else:
                np.multiply(Xf, hp, out=Y[0])
            if hc is None:
                Y[1] = Xf
            else:
                np.multiply(Xf, hc, out=Y[1])
            y = sfft.irfft(Y, n=N, axis=-1)[..., N - hop :]
            ya, yb = y[0], y[1]
            if self._ms_cur:
                ya, yb = self._to_lr(ya), self._to_lr(yb)
        else:
            outs = []
            for h, ms in ((hp, self._ms_prev), (hc, self._ms_cur)):
                buf = self._buf_ms if ms else self._buf
                if h is None:
                    y = buf[:, N - hop : N]
                else:
                    y = sfft.irfft(sfft.rfft(buf[:, :N], axis=-1) * h, n=N, axis=-1)[..., N - hop :]
                outs.append(self._to_lr(y) if ms else y)
            ya, yb = outs
        yb = yb - ya
        yb *= ramp
        yb += ya
        return yb

    # ---------------------------------------------------------------- process
    def process(self, audio: np.ndarray, params: Mapping[str, float]) -> tuple[np.ndarray, dict[str, float]]:
        x = np.asarray(audio, dtype=np.float64)
        hop, N = self.hop, self.n_fft
        b = self._buf
        b[:, :-hop] = b[:, hop:]
        b[:, -hop:] = x
        if self.channels == 2:
            bm = self._buf_ms
            bm[:, :-hop] = bm[:, hop:]
            np.add(x[0], x[1], out=bm[0, -hop:])
            np.subtract(x[0], x[1], out=bm[1, -hop:])
            bm[:, -hop:] *= _SQRT_HALF
        if self._phase == 0:
            self._update(params)
        ramp = self._ramps[self._phase]
        self._phase = (self._phase + 1) % self.hops_per_update

        dry = b[:, N - hop : N]
        wet = self._wet(ramp, dry)

        mix = min(max(float(params.get("mix", 1.0)), 0.0), 1.0)
        gain = 10.0 ** (float(params.get("output_gain_db", 0.0)) / 20.0)
        delta = 1.0 if params.get("delta", 0.0) >= 0.5 else 0.0
        last = self._last or (mix, gain, delta)
        self._last = (mix, gain, delta)
        lin = self._lin

        if mix == last[0]:
            if mix == 0.0:
                out = dry.copy()
            else:
                out = wet - dry
                out *= mix
                out += dry
        else:
            out = wet - dry
            out *= last[0] + (mix - last[0]) * lin
            out += dry
        if gain != last[1]:
            out *= last[1] + (gain - last[1]) * lin
        elif gain != 1.0:
            out *= gain
        if delta != last[2] or delta == 1.0:
            d = delta if delta == last[2] else last[2] + (delta - last[2]) * lin
            out += d * (dry - 2.0 * out)
        out[np.abs(out) < 1e-30] = 0.0
        return out.astype(np.float32), self._meters
