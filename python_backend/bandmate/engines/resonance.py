"""ResonanceEQ: dynamic resonance suppression (amount < 0) and harmonic emphasis (amount > 0).

Design
------
*Analysis* (every ``update`` = 256 samples at 48 kHz; everything scales with the rate factor):
a Hann window of 4096 samples (85 ms) ending at the newest input sample, its power max-pooled
(bins 2j-1, 2j, 2j+1) onto the 1025-bin grid of the 2048-point filter FFT, so a narrow peak
keeps the prominence of the finer analysis. Per bin:

1. power, stereo-linked (``stereo_link`` blends each channel's power with the channel mean;
   at 1.0 one detector/filter serves both channels), optionally in mid/side (M/S is applied to
   the spectra: the FFT is linear); a one-pole smooths it over time (40 ms at 1 kHz);
2. light smoothing across frequency (box ~ f / Q_det, none at the lowest bins; ``sharpness``);
3. spectral envelope: a robust two-pass +-1/3-octave moving average in the power domain (second
   pass with peaks clipped to the first envelope + 2 dB);
4. prominence = 10 log10(power / envelope) + tilt (dB/oct around 1 kHz) - threshold
   (``selectivity``: 0.5..7.5 dB), through a 4 dB quadratic soft knee, times 3 |amount|,
   capped at ``depth_db``, faded out (half an octave) outside ``low_hz``..``high_hz``;
5. cuts: widened by one bin (max) and box-smoothed across frequency (~ f / Q_gain, sharper with
   ``sharpness``); emphasis: only a [1/4 1/2 1/4] smoothing so the floor beside a lifted
   harmonic is not lifted too. Then per-bin attack/release one-poles whose time constants
   scale with sqrt(1 kHz / f) (clipped 0.5..2x), so the curve neither zips nor flutters.

*Application*: the gain curve (dB) becomes a **minimum-phase FIR** through the real cepstrum
on the 2048-point grid (fold, exponentiate), applied by overlap-save with the same FFT, one
hop at a time: the filter adds no latency, only the group delay of an equivalent analog
dynamic-EQ notch. The gain curve is smooth over >= 3 bins, so the min-phase response decays
well inside 2048 - hop samples and overlap-save wrap-around is negligible. Each output hop
crossfades between the previous and the new filter (one stacked IFFT), ramped over the update
interval, so filter updates never step.

*Latency*: "normal" (hop 256, engine latency 256 at 48 kHz) spends its 256 samples on look-ahead:
the analysis sees 256 samples beyond the audio being filtered, so attacks land on time.
"Low latency" (hop 64, engine latency 0) analyses at the same 256-sample rate and filters every
64-sample hop.

*Emphasis* (amount > 0) lifts prominent (harmonic) peaks; the make-up gain integrates the
measured wet/dry energy ratio (100 ms) so the broadband level stays put.

Output = dry + mix * (wet - dry), times output gain (mix and gain ramped over each hop);
``delta`` outputs ``dry - output`` (crossfaded over one hop when toggled). mix = 0 gives the
dry input delayed by exactly ``self.latency``. ``mid_side`` switches crossfade the old-domain
output into the new one. Meters ``gr_*``: the largest-magnitude gain (dB) of the applied curve
(channel mean) in < 250 Hz, 250 Hz - 2 kHz, 2 - 6 kHz, > 6 kHz, refreshed every 4 updates.
Benches read ``last_gain_db`` (the applied curve, (channels, 1025 * rate factor) dB).
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
ENVELOPE_CLIP = 10 ** (2.0 / 10)  # second envelope pass: peaks clipped to envelope + 2 dB (power)
KNEE_DB = 4.0
SLOPE = 3.0  # dB of gain per dB of prominence above threshold at |amount| = 1
DETECT_TAU_MS = 40.0  # power smoothing before detection (at 1 kHz)
MAKEUP_TAU_MS = 100.0
EMPHASIS_THR_OFFSET_DB = 2.0  # emphasis reacts to smaller peaks than suppression
ANALYSIS_MULT = 2


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
        cs = self.cs[: x.shape[0]]
        np.cumsum(x, axis=-1, out=cs[:, 1:])
        out = np.take(cs, self.hi, axis=-1)
        out -= np.take(cs, self.lo, axis=-1)
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
        self.n_win = NA = ANALYSIS_MULT * N
        self._win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(NA) / NA)
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
        self._a_energy = 1.0 - math.exp(-self.hop / (fs * 0.05))
        edges = [int(np.searchsorted(self.freqs, e)) for e in METER_EDGES_HZ]
        self._meter_edges = np.array(edges, np.intp)
        # crossfade ramps, one row per hop of an update interval
        self._ramps = (np.arange(1, self.update + 1, dtype=np.float64) / self.update).reshape(
            self.hops_per_update, self.hop
        )
        self._lin = np.arange(1, self.hop + 1, dtype=np.float64) / self.hop
        self._cache: dict[str, tuple] = {}
        self._dil = np.zeros((C, K))
        self._pool = np.zeros((C, K))
        self._meter_count = 0
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        C, N, K = self.channels, self.n_fft, self.K
        L = max(N + self.lookahead, self.n_win)
        self._fseg = slice(L - self.lookahead - N, L - self.lookahead)  # filter input (n_fft samples)
        self._dseg = slice(L - self.lookahead - self.hop, L - self.lookahead)  # aligned dry hop
        self._buf = np.zeros((C, L))
        self._ps = np.zeros((C, K))
        self._g = np.zeros((C, K))  # applied gain curve, dB
        self._makeup_db = np.zeros((C, 1))
        self._energy = np.zeros((2, C, 1))  # smoothed (dry, wet) energy per channel, for the make-up gain
        self._emphasis = False
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
        hd = np.round(self._k / (2.0 * q_det)).astype(np.intp)  # 0 at low bins: no smoothing
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
                st[:] = (st[0] + st[1]) * 0.5
            self._ms_cur = ms
        X = sfft.rfft(self._buf[:, -self.n_win :] * self._win, axis=-1)
        if ms:
            X = self._to_ms(X)
        P = X.real * X.real
        P += X.imag * X.imag
        if ANALYSIS_MULT == 2:  # max-pool the 2x finer analysis onto the filter grid (bins 2j-1, 2j, 2j+1)
            ev, od, pool = P[:, 0::2], P[:, 1::2], self._pool
            np.maximum(ev[:, :-1], od, out=pool[:, :-1])
            pool[:, -1] = ev[:, -1]
            np.maximum(pool[:, 1:], od, out=pool[:, 1:])
            P = pool
        link = float(params.get("stereo_link", 1.0))
        rows = C
        if C == 2 and link >= 0.999:  # fully linked: one detector and one filter for both channels
            rows = 1
            P = P[:1] + P[1:]
            P *= 0.5
        elif C == 2 and link > 0.0:
            m = P[0] + P[1]
            m *= 0.5 * link
            P *= 1.0 - link
            P += m
        ps = self._ps[:rows]
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

        g = self._g[:rows]
        if amount != 0.0 and depth > 0.0:
            lev = box_det(ps)
            lev += self._floor
            env = self._box_env(lev)
            env *= ENVELOPE_CLIP
            np.minimum(env, lev, out=env)
            env = self._box_env(env)
            np.divide(lev, env, out=lev)
            x = np.log10(lev, out=lev)
            x *= 10.0
            x -= thr
            if amount > 0.0:
                x += EMPHASIS_THR_OFFSET_DB
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
            if amount < 0.0:
                d = self._dil[:rows]
                np.maximum(y[:, :-2], y[:, 2:], out=d[:, 1:-1])
                np.maximum(d, y, out=d)
                target = box_gain(d)
            else:  # emphasis: no widening, so the floor beside a lifted peak is not lifted too
                target = y * 0.5  # light [1/4, 1/2, 1/4] smoothing keeps the filter short
                target[:, 1:] += 0.25 * y[:, :-1]
                target[:, :-1] += 0.25 * y[:, 1:]
            if amount < 0.0:
                target *= -1.0
        else:
            target = np.zeros_like(g)
        # attack when moving away from 0 dB (down for cuts, up for boosts), release when returning
        coef = np.where(target < g if amount <= 0.0 else target > g, a_att, a_rel)
        target -= g
        target *= coef
        g += target

        makeup = self._makeup_db[:rows]
        self._emphasis = amount > 0.0
        if self._emphasis:  # emphasis: integrate the measured wet/dry energy ratio into the make-up gain
            e = self._energy if rows == C else self._energy.sum(axis=1, keepdims=True)
            makeup += self._a_makeup * 10.0 * np.log10((e[0] + 1e-12) / (e[1] + 1e-12))
            np.clip(makeup, -24.0, 0.0, out=makeup)
        else:
            makeup -= self._a_makeup * makeup
        if rows < C:  # keep the second channel's state in step, for a later switch to unlinked
            self._ps[1] = ps[0]
            self._g[1] = g[0]
            self._makeup_db[1] = makeup[0]

        if np.abs(g).max() < 1e-4 and np.abs(makeup).max() < 1e-4:
            self._h_cur = None
        else:
            self._h_cur = self._minphase(g, makeup)  # (rows, K), broadcast over channels

        self._meter_count += 1
        if self._meter_count % 4 != 1:  # meters at ~1/4 of the analysis rate
            return
        gm = (g[0] + g[1]) * 0.5 if rows > 1 else g[0]
        mn = np.minimum.reduceat(gm, self._meter_edges)
        mx = np.maximum.reduceat(gm, self._meter_edges)
        vals = np.where(-mn > mx, mn, mx)
        self._meters = {k: float(v) for k, v in zip(METER_IDS, vals, strict=True)}

    # -------------------------------------------------------------- filtering
    @staticmethod
    def _to_ms(y: np.ndarray) -> np.ndarray:
        """(L, R) <-> (M, S), orthonormal, so the same function converts both ways."""
        out = np.empty_like(y)
        np.add(y[0], y[1], out=out[0])
        np.subtract(y[0], y[1], out=out[1])
        out *= _SQRT_HALF
        return out

    def _wet(self, ramp: np.ndarray, dry: np.ndarray) -> np.ndarray:
        N, hop = self.n_fft, self.hop
        hp, hc = self._h_prev, self._h_cur
        if hp is None and hc is None:
            return dry
        Xf = sfft.rfft(self._buf[:, self._fseg], axis=-1)
        if self._ms_prev == self._ms_cur:
            if self._ms_cur:
                Xf = self._to_ms(Xf)
            if hp is hc:
                y = sfft.irfft(Xf * hc, n=N, axis=-1)[..., N - hop :]
                return self._to_ms(y) if self._ms_cur else y
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
                ya, yb = self._to_ms(ya), self._to_ms(yb)
        else:  # mid/side switch: crossfade the old-domain output into the new-domain one
            outs = []
            for h, ms in ((hp, self._ms_prev), (hc, self._ms_cur)):
                if h is None:
                    outs.append(dry)
                    continue
                y = sfft.irfft((self._to_ms(Xf) if ms else Xf) * h, n=N, axis=-1)[..., N - hop :]
                outs.append(self._to_ms(y) if ms else y)
            ya, yb = outs
        yb = yb - ya
        yb *= ramp
        yb += ya
        return yb

    # ---------------------------------------------------------------- process
    def process(self, audio: np.ndarray, params: Mapping[str, float]) -> tuple[np.ndarray, dict[str, float]]:
        x = np.asarray(audio, dtype=np.float64)
        hop = self.hop
        b = self._buf
        b[:, :-hop] = b[:, hop:]
        b[:, -hop:] = x
        if self._phase == 0:
            self._update(params)
        ramp = self._ramps[self._phase]
        self._phase = (self._phase + 1) % self.hops_per_update

        dry = b[:, self._dseg]
        wet = self._wet(ramp, dry)
        if self._emphasis:
            en = self._energy
            en[0] += self._a_energy * (np.sum(dry * dry, axis=-1, keepdims=True) - en[0])
            en[1] += self._a_energy * (np.sum(wet * wet, axis=-1, keepdims=True) - en[1])

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
