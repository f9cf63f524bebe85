"""ResonanceEQ: dynamic resonance suppression (amount < 0) and harmonic emphasis (amount > 0).

Design
------
Sample counts are given at 48 kHz and scale with the spec's rate factor (times and frequencies
stay put), except where noted.

*Analysis* (every ``update`` = 1024 samples, 21.3 ms, in both quality modes) on a log-frequency
grid of ``GRID_PER_OCT`` = 96 points per octave, 20 Hz .. 20 kHz (~960 points). FFT bins map onto
the grid through precomputed sparse matrices (interpolation where bins are sparser than grid
points, a triangular average where they are denser). Powers are stereo-linked (``stereo_link``
blends each channel's power with the channel mean; at 1.0 one detector/filter serves both
channels), optionally in mid/side. Two detection paths:

- *main path*, whole range: a 4096-sample Hann window (85 ms, 11.7 Hz bins; 43 ms at 96 kHz)
  ending at the newest input sample, one-pole smoothed (``DETECT_TAU_MS`` at 1 kHz, scaled with
  sqrt(1 kHz / f), 0.5..2x: persistence, so drum hits and short notes count less);
- *low path*, below ~1.4 kHz, where a Q 20..40 resonance is only 4..35 Hz wide: a 16384-sample
  window (341 ms, 2.9 Hz bins), computed on the input low-passed (80-tap FIR, 2.7 kHz) and
  decimated to 6 kHz, so it costs a 2048-point FFT. Fine resolution also resolves every steady
  note as a sharp line, so this path only counts where the spectrum is noise-like: it is gated
  in by the spectral flatness over +-1/3 octave (``FLAT_DB``); in tonal material the main path
  decides alone.

Per path: prominence = 10 log10(power / envelope), the envelope a robust two-pass +-1/3-octave
moving average in the power domain (second pass with peaks clipped to the first envelope + 2 dB),
after light smoothing across +-``sharpness``-dependent points. The larger of the two prominences,
+ tilt (dB/oct around 1 kHz) - threshold (``selectivity``: 0.5..7.5 dB), goes through a 4 dB
quadratic soft knee, times ``SLOPE`` |amount|, capped at ``depth_db`` (one table lookup), faded
out (half an octave) outside ``low_hz``..``high_hz`` and an octave below ``RESOLVE_HZ``, where a
Q 20 resonance is narrower than the low path's resolution and cannot be told from a bass note.
Cuts are spread over the peak's width (minimum over +-d points, d ~ half a Q 30 bandwidth at the
default ``sharpness``, then smoothed), so a peak is cut over its whole width; emphasis is not
widened, so the floor beside a lifted harmonic is not lifted too. Per-point attack/release
one-poles (time constants scaled like the detector's) keep the curve from zipping.

The grid curve maps onto the ``n_fir`` = 2048-point filter grid (23.4 Hz bins): where the grid is
finer than the filter bins (below ~3 kHz) each bin takes the deepest cut (or highest boost) of
the points it covers, so a narrow low-frequency notch keeps its depth; above, it is interpolated.

*Application*: the gain curve (dB) becomes a **minimum-phase FIR** of ``n_fir`` taps through the
real cepstrum (fold, exponentiate), applied by uniformly partitioned overlap-save convolution
(partitions of one hop, a frequency-domain delay line of ``n_fir / hop`` input spectra): exact
linear convolution, no added latency. The per-hop work (input FFT, delay line, multiply-add, inverse
FFT, mid/side, crossfade) is one native call (``bandmate._dsp.PartitionedConvolver``, C++). The
filter is rebuilt only when the curve moved by more than ``SKIP_DB``; after a rebuild the first
``XFADE`` samples crossfade the previous filter's output into the new one's, so filter updates never
step.

*Latency*: "normal" (hop 256, engine latency 256 at 48 kHz) spends its 256 samples on look-ahead:
the analysis sees 256 samples beyond the audio being filtered, so attacks land on time.
"Low latency" (hop 64, engine latency 0) filters every 64-sample hop.

*Emphasis* (amount > 0) lifts prominent (harmonic) peaks; the make-up gain integrates the
measured wet/dry energy ratio (100 ms) so the broadband level stays put.

Output = dry + mix * (wet - dry), times output gain (mix and gain ramped over each hop);
``delta`` outputs ``dry - output`` (crossfaded over one hop when toggled). mix = 0 gives the
dry input delayed by exactly ``self.latency``. ``mid_side`` switches crossfade the old-domain
output into the new one. Meters ``gr_*``: the largest-magnitude gain (dB) of the applied curve
(channel mean) in < 250 Hz, 250 Hz - 2 kHz, 2 - 6 kHz, > 6 kHz, refreshed every 4 updates.
Benches read ``last_gain_db`` (the applied curve on the filter grid, (channels, 1025 * rate
factor) dB) and ``update`` (samples between curves).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import scipy.fft as sfft
import scipy.signal as ssig
import scipy.sparse as sps
from scipy.ndimage import minimum_filter1d, uniform_filter1d

from bandmate.engines.base import Engine, EngineConfig
from bandmate.engines.native import PartitionedConvolver
from bandmate.engines.spectrum import bins_to_grid, to_mid_side

_LN10_20 = math.log(10.0) / 20.0
METER_IDS = ("gr_low", "gr_lowmid", "gr_highmid", "gr_high")
METER_EDGES_HZ = (0.0, 250.0, 2000.0, 6000.0)

# tuning constants (not user parameters); sample counts at 48 kHz
# analysis interval (normal, low-latency mode). 1024 rather than 512 halves the analysis CPU; the
# quality bench moved by <= 1 % removal (bench/RESULTS.md), as the low-latency mode's did
UPDATE, UPDATE_LL = 1024, 1024
N_FIR = 2048  # filter length / filter grid
N_SHORT = 4096  # analysis window, everywhere (85 ms, 11.7 Hz bins)
N_LONG = 16384  # analysis window of the low path (341 ms, 2.9 Hz bins) ...
LONG_DECIMATE, LONG_LOWPASS_HZ, LONG_TAPS = 8, 2700.0, 80  # ... computed at a decimated rate
CROSSOVER_HZ = 1000.0  # the low path covers the grid below CROSSOVER_HZ * sqrt(2), fading out over an octave
XFADE = 128  # filter crossfade after an update
SKIP_DB = 0.05  # the filter is rebuilt only when the filter-grid curve moved more than this (dB)
GRID_LO_HZ, GRID_HI_HZ, GRID_PER_OCT = 20.0, 20000.0, 96
ENVELOPE_OCT = 1.0 / 3.0  # envelope half-width, octaves
ENVELOPE_CLIP = 10 ** (2.0 / 10)  # second envelope pass: peaks clipped to envelope + 2 dB (power)
KNEE_DB = 4.0
SLOPE = 3.0  # dB of gain per dB of prominence above threshold at |amount| = 1
DETECT_TAU_MS = 120.0  # power smoothing before detection (at 1 kHz, scaled with sqrt(1 kHz / f), 0.5..2x)
DETECT_TAU_LONG_MS = 150.0  # ... of the low path
LONG_SD = 1  # low path: smoothing across +-LONG_SD grid points (its estimate has few averages)
LONG_THR_DB = -0.5  # low path: threshold offset
FLAT_DB = (-6.0, -3.0)  # low path gated in by spectral flatness (dB, over +-1/3 octave): noise-like only
LONG_GATE_DB = 30.0  # prominence removed from the low path where it is gated out
RESOLVE_HZ = 84.0  # detection fades out an octave below: a Q 20 peak there is narrower than the 4.2 Hz
#                   resolution of the 341 ms window, so it cannot be told from a bass note
MAKEUP_TAU_MS = 100.0
EMPHASIS_THR_OFFSET_DB = 2.0  # emphasis reacts to smaller peaks than suppression


def _hann(n: int) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)


class ResonanceEngine(Engine):
    name = "resonance"

    def __init__(self, config: EngineConfig):
        super().__init__(config)
        rf = self.spec.rate_factor(self.sample_rate)
        self.rate_factor = rf
        fs = float(self.sample_rate)
        hop = self.hop
        self.update = max((UPDATE if self.latency > 0 else UPDATE_LL) * rf, hop) // hop * hop
        self.hops_per_update = self.update // hop
        self.xfade_hops = min(self.hops_per_update, max(1, -(-XFADE * rf // hop)))
        self.lookahead = self.latency

        # filter: n_fir taps, partitions of one hop
        self.n_fir = N = N_FIR * rf
        self.K = K = N // 2 + 1
        self._conv = PartitionedConvolver(self.channels, hop, N)
        self.freqs = np.arange(K) * fs / N
        self._fold = np.zeros(K)
        self._fold[0] = 1.0
        self._fold[1 : N // 2] = 2.0
        self._fold[N // 2] = 1.0

        # analysis windows (power normalised to a noise density); the low path runs on the input
        # low-passed (linear-phase FIR) and decimated by LONG_DECIMATE (6 kHz at 48 kHz)
        self.n_short = N_SHORT * max(1, rf // 2)  # 85 ms at 48 kHz, 43 ms at 96 kHz
        self._win_s = _hann(self.n_short) / math.sqrt(0.375 * self.n_short)
        self._dec = LONG_DECIMATE * rf
        self.n_long = N_LONG // LONG_DECIMATE  # decimated samples
        self._win_l = _hann(self.n_long) / math.sqrt(0.375 * self.n_long)
        fs_l = fs / self._dec
        taps = LONG_TAPS * rf  # linear-phase low-pass, evaluated only at the decimated instants
        self._lp = ssig.firwin(taps, LONG_LOWPASS_HZ, fs=fs, window=("kaiser", 7.0))[::-1].copy()

        # log-frequency grid, the bin -> grid maps, the low path's extent and crossover fade
        hi = min(GRID_HI_HZ, 0.45 * fs)
        ng = int(math.floor(math.log2(hi / GRID_LO_HZ) * GRID_PER_OCT)) + 1
        self.grid = g = GRID_LO_HZ * 2.0 ** (np.arange(ng) / GRID_PER_OCT)
        self.G = ng
        wl = np.clip(0.5 - np.log2(g / CROSSOVER_HZ), 0.0, 1.0)
        wl = wl * wl * (3.0 - 2.0 * wl)
        self._nl = int(np.count_nonzero(wl > 0.0))  # grid points [0, nl) have a low path
        self._wl = wl[: self._nl]
        self._map_s = bins_to_grid(np.arange(self.n_short // 2 + 1) * fs / self.n_short, g)
        self._map_l = bins_to_grid(np.arange(self.n_long // 2 + 1) * fs_l / self.n_long, g[: self._nl])
        lg = np.log2(g / 1000.0)
        self._lg = lg
        self._fscale = np.clip(np.sqrt(1000.0 / g), 0.5, 2.0)  # time-constant scale per grid point
        self._floor = 1e-12
        self._h_env = int(round(ENVELOPE_OCT * GRID_PER_OCT))
        # low path: prominence penalty where the crossover fades it out, and its threshold offset
        self._low_pen = -LONG_GATE_DB * (1.0 - self._wl) - LONG_THR_DB
        self._a_det = 1.0 - np.exp(-self.update / (fs * DETECT_TAU_MS * 1e-3 * self._fscale))
        self._a_det_l = 1.0 - math.exp(-self.update / (fs * DETECT_TAU_LONG_MS * 1e-3))
        self._a_makeup = 1.0 - math.exp(-self.update / (fs * MAKEUP_TAU_MS * 1e-3))
        self._a_energy = 1.0 - math.exp(-hop / (fs * 0.05))
        if RESOLVE_HZ > 0.0:
            w = np.clip(np.log2(g / RESOLVE_HZ) + 1.0, 0.0, 1.0)
            self._resolve = w * w * (3.0 - 2.0 * w)
        else:
            self._resolve = np.ones(ng)

        # grid -> filter bins: extreme over the covered points below the point where the grid gets
        # coarser than the filter bins, linear interpolation above
        df = fs / N
        step = math.log(2.0) / GRID_PER_OCT  # relative grid spacing
        k_cross = int(np.ceil(1.0 / step))  # bins above this: grid spacing > df
        k_cross = min(max(k_cross, 1), K - 1)
        kk = np.arange(K)
        edges_lo = np.searchsorted(g, (kk[:k_cross] - 0.5) * df)
        edges_hi = np.searchsorted(g, (kk[:k_cross] + 0.5) * df)
        self._k_cross = k_cross
        ok = edges_hi > edges_lo  # bins that cover at least one grid point (contiguous cells)
        self._pool_bins = kk[:k_cross][ok]
        self._pool_idx = np.append(edges_lo[ok], edges_hi[ok][-1:]).astype(np.intp)  # reduceat, last dropped
        fk = self.freqs[k_cross:]
        pos = np.clip(np.log2(np.maximum(fk, g[0]) / g[0]) * GRID_PER_OCT, 0.0, ng - 1.000001)
        i0 = np.floor(pos).astype(np.intp)
        t = pos - i0
        valid = ((fk >= g[0]) & (fk <= g[-1])).astype(np.float64)
        cols = np.arange(len(fk))
        vals = np.concatenate([(1.0 - t) * valid, t * valid])
        rc = (np.concatenate([cols, cols]), np.concatenate([i0, i0 + 1]))
        self._ip_map = sps.csr_matrix((vals, rc), shape=(len(fk), ng))  # (K - k_cross, G)

        edges = [int(np.searchsorted(self.freqs, e)) for e in METER_EDGES_HZ]
        self._meter_edges = np.array(edges, np.intp)
        self._lin = np.arange(1, hop + 1, dtype=np.float64) / hop
        self._cache: dict[str, tuple] = {}
        self._meter_count = 0
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        C, K, G, hop = self.channels, self.K, self.G, self.hop
        self._hist = max(self.n_short, self.update + len(self._lp), self.lookahead + 2 * hop)
        self._lbuf = np.zeros((C, self.n_long + 64 * (self.update // self._dec)))
        self._lw = self.n_long  # write position in the decimated buffer
        self._buf = np.zeros((C, self._hist + 64 * hop))
        self._w = self._hist  # write position: samples [w - hist, w) are the history
        self._conv.reset()  # zero history, identity filter
        self._ps = np.zeros((C, G))
        self._psl = np.zeros((C, self._nl))  # smoothed low-path grid power (low region)
        self._g = np.zeros((C, G))  # applied gain curve on the grid, dB
        self._makeup_db = np.zeros((C, 1))
        self._energy = np.zeros((2, C, 1))  # smoothed (dry, wet) energy per channel, for the make-up gain
        self._emphasis = False
        self._fir = None  # the FIR installed last, (rows, n_fir); None == identity
        self._gk = self._gk_makeup = None  # filter-grid curve (and make-up) the current filter was built from
        self._ms_cur = False
        self._phase = 0
        self._meters = dict.fromkeys(METER_IDS, 0.0)
        self._last = None  # previous (mix, gain, delta)
        #: last applied gain curve on the filter grid (dB), for benches/plots
        self.last_gain_db = np.zeros((C, K))

    # --------------------------------------------------------- derived params
    def _derived(self, key: str, values: tuple, build):
        hit = self._cache.get(key)
        if hit is None or hit[0] != values:
            hit = (values, build(*values))
            self._cache[key] = hit
        return hit[1]

    def _build_sharp(self, sharpness: float):
        # detection smoothing and cut dilation half-widths in grid points: a Q peak is
        # GRID_PER_OCT * log2(1 + 1/Q) points wide (~3.5 at Q 40, ~7 at Q 20)
        q_det = 12.0 + 48.0 * sharpness
        sd = int(round(0.5 * GRID_PER_OCT * math.log2(1.0 + 1.0 / q_det)))
        q_gain = 10.0 + 40.0 * sharpness
        dil = max(1, int(round(0.5 * GRID_PER_OCT * math.log2(1.0 + 1.0 / q_gain))))
        return sd, dil

    def _build_thr(self, selectivity: float, tilt: float):
        thr = 0.5 + 7.0 * selectivity
        return thr - tilt * self._lg

    def _build_band(self, low: float, high: float):
        f = self.grid
        wl = np.clip(1.0 + 2.0 * np.log2(f / low), 0.0, 1.0)  # half-octave fade below low_hz
        wh = np.clip(1.0 - 2.0 * np.log2(f / high), 0.0, 1.0)
        wt = np.clip(6.0 * np.log2(f[-1] / f), 0.0, 1.0)  # the curve reaches 0 dB at the grid's top
        w = wl * wh * wt
        return w * w * (3.0 - 2.0 * w) * self._resolve

    def _build_table(self, slope: float, depth: float, offset: float, sign: float):
        """Prominence above threshold (dB) -> gain (dB): quadratic soft knee of width KNEE_DB, slope,
        capped at depth, as a piecewise-linear table for np.interp (constant beyond its ends)."""
        w = KNEE_DB
        xk = np.linspace(-0.5 * w, 0.5 * w, 9)
        yk = (xk + 0.5 * w) ** 2 / (2.0 * w) * slope
        x_cap = depth / slope if depth / slope > 0.5 * w else None
        if x_cap is None:  # the cap falls inside the knee
            yk = np.minimum(yk, depth)
            xp, fp = xk, yk
        else:
            xp, fp = np.append(xk, x_cap), np.append(yk, depth)
        return xp - offset, fp * sign

    def _build_ar(self, attack_ms: float, release_ms: float):
        fs = float(self.sample_rate)
        a = 1.0 - np.exp(-self.update / (fs * attack_ms * 1e-3 * self._fscale))
        r = 1.0 - np.exp(-self.update / (fs * release_ms * 1e-3 * self._fscale))
        return a, r

    # --------------------------------------------------------------- analysis
    def _power(self, x: np.ndarray, win: np.ndarray, ms: bool, link: float, grid_map) -> np.ndarray:
        """Windowed power spectrum of x (C, n), stereo-linked, on the grid: (rows, points)."""
        X = sfft.rfft(x * win, axis=-1, workers=1)
        if ms and link < 0.999:
            X = to_mid_side(X)
        P = np.square(X.real)
        P += np.square(X.imag)
        if P.shape[0] == 2 and link > 0.0:
            if link >= 0.999:
                P = P[:1] + P[1:]
                P *= 0.5
            else:
                m = P[0] + P[1]
                m *= 0.5 * link
                P *= 1.0 - link
                P += m
        return (grid_map @ P.T).T

    def _low_input(self) -> np.ndarray:
        """Low-pass and decimate the samples since the last update; the low path's window."""
        w, u, d, nt = self._w, self.update, self._dec, len(self._lp)
        b = self._buf
        seg = b[:, w - u - nt + d : w]  # output m uses the nt samples ending at w - u + (m + 1) d
        frames = np.lib.stride_tricks.as_strided(
            seg, shape=(b.shape[0], u // d, nt), strides=(b.strides[0], d * b.strides[1], b.strides[1]), writeable=False
        )
        y = frames @ self._lp
        lb, lw = self._lbuf, self._lw
        if lw + y.shape[1] > lb.shape[1]:
            lb[:, : self.n_long] = lb[:, lw - self.n_long : lw]
            lw = self.n_long
        lb[:, lw : lw + y.shape[1]] = y
        lw += y.shape[1]
        self._lw = lw
        return lb[:, lw - self.n_long : lw]

    def _prominence(self, ps: np.ndarray, psl: np.ndarray, sd: int) -> np.ndarray:
        """10 log10(power / robust envelope) in dB of the main path (rows, G) and, in rows
        [rows, 2 rows), of the low path (points >= nl padded), plus the low path's flatness (dB)."""
        rows, nl = ps.shape[0], self._nl
        lev = np.empty((2 * rows, self.G))
        lev[:rows] = ps
        lev[rows:, :nl] = psl
        lev[rows:, nl:] = psl[:, -1:]
        lev += self._floor
        h = 2 * self._h_env + 1
        # flatness of the low path over +-1/3 octave: geometric / arithmetic mean
        low = lev[rows:, :nl]
        am = uniform_filter1d(low, h, axis=-1, mode="nearest")
        gm = uniform_filter1d(np.log10(low), h, axis=-1, mode="nearest")
        gm -= np.log10(am, out=am)
        gm *= 10.0
        if sd > 0:
            lev[:rows] = uniform_filter1d(lev[:rows], 2 * sd + 1, axis=-1, mode="nearest")
        if LONG_SD > 0:
            lev[rows:] = uniform_filter1d(lev[rows:], 2 * LONG_SD + 1, axis=-1, mode="nearest")
        env = uniform_filter1d(lev, h, axis=-1, mode="nearest")
        env *= ENVELOPE_CLIP
        np.minimum(env, lev, out=env)
        env = uniform_filter1d(env, h, axis=-1, mode="nearest")
        np.divide(lev, env, out=lev)
        np.log10(lev, out=lev)
        lev *= 10.0
        return lev, gm

    def _to_grid_gain(self, g: np.ndarray, cut: bool) -> np.ndarray:
        """Grid curve (rows, G) dB -> filter-bin curve (rows, K) dB; pooled bins take the deepest
        cut (``cut``) or the highest boost of the points they cover."""
        out = np.zeros((g.shape[0], self.K))
        if len(self._pool_bins):
            red = np.minimum if cut else np.maximum
            out[:, self._pool_bins] = red.reduceat(g, self._pool_idx, axis=-1)[:, :-1]
        out[:, self._k_cross :] = (self._ip_map @ g.T).T
        return out

    def _minphase(self, g_db: np.ndarray, makeup_db: np.ndarray) -> np.ndarray:
        """Gain curve (rows, K) dB -> minimum-phase FIR (rows, n_fir)."""
        N = self.n_fir
        c = sfft.irfft(g_db * _LN10_20, n=N, axis=-1, workers=1)[:, : self.K]
        c *= self._fold
        c[:, :1] += makeup_db * _LN10_20
        return sfft.irfft(np.exp(sfft.rfft(c, n=N, axis=-1, workers=1)), n=N, axis=-1, workers=1)

    def _update(self, params: Mapping[str, float]) -> None:
        C = self.channels
        ms = C == 2 and params.get("mid_side", 0.0) >= 0.5
        ms_prev, fir_prev = self._ms_cur, self._fir
        if ms != self._ms_cur:  # domain switch: start the new domain from the channel mean
            for st in (self._ps, self._psl, self._g, self._makeup_db):
                st[:] = (st[0] + st[1]) * 0.5
            self._ms_cur = ms
        link = float(params.get("stereo_link", 1.0)) if C == 2 else 0.0
        rows = 1 if C == 1 or link >= 0.999 else C  # fully linked: one detector and one filter for both
        w = self._w
        ps = self._ps[:rows]
        ps += self._a_det * (self._power(self._buf[:, w - self.n_short : w], self._win_s, ms, link, self._map_s) - ps)
        psl = self._psl[:rows]
        psl += self._a_det_l * (self._power(self._low_input(), self._win_l, ms, link, self._map_l) - psl)

        sd, dil = self._derived("sharp", (float(params.get("sharpness", 0.5)),), self._build_sharp)
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
            xx, flat = self._prominence(ps, psl, sd)
            x, xl = xx[:rows], xx[rows:, : self._nl]
            # the low path counts only where the spectrum is noise-like (flat)
            xl += np.interp(flat, FLAT_DB, (-LONG_GATE_DB, 0.0))
            xl += self._low_pen
            np.maximum(x[:, : self._nl], xl, out=x[:, : self._nl])
            x -= thr
            cut = amount < 0.0
            xp, fp = self._derived(
                "table", (SLOPE * abs(amount), depth, 0.0 if cut else EMPHASIS_THR_OFFSET_DB, -1.0 if cut else 1.0),
                self._build_table,
            )
            y = np.interp(x, xp, fp)
            y *= band
            if cut:  # cut the peak over its width: dilate, then smooth
                target = minimum_filter1d(y, 2 * dil + 1, axis=-1, mode="nearest")
                target = uniform_filter1d(target, 2 * dil + 1, axis=-1, mode="nearest")
            else:  # emphasis: no widening, so the floor beside a lifted peak is not lifted too
                target = y
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
            self._psl[1] = psl[0]
            self._g[1] = g[0]
            self._makeup_db[1] = makeup[0]

        if -1e-4 < g.min() and g.max() < 1e-4 and np.abs(makeup).max() < 1e-4:
            self._fir = self._gk = None
            self.last_gain_db = np.zeros((C, self.K))
        else:
            gk = self._to_grid_gain(g, amount <= 0.0)
            gk_old = self._gk
            if (gk_old is None or gk_old.shape != gk.shape or ms != ms_prev
                    or np.abs(gk - gk_old).max() > SKIP_DB or np.abs(makeup - self._gk_makeup).max() > SKIP_DB):
                self._fir = self._minphase(gk, makeup)
                self._gk, self._gk_makeup = gk, makeup.copy()
            # else: the applied filter is kept (no crossfade either)
            self.last_gain_db = self._gk if rows == C else np.broadcast_to(self._gk, (C, self.K))
        if self._fir is not fir_prev:  # a new filter (or identity): crossfaded from the playing one
            self._conv.set_filter(self._fir, ms, self.xfade_hops * self.hop)

        self._meter_count += 1
        if self._meter_count % 4 != 1:  # meters at ~1/4 of the analysis rate
            return
        gl = self.last_gain_db
        gm = (gl[0] + gl[1]) * 0.5 if C > 1 else gl[0]
        mn = np.minimum.reduceat(gm, self._meter_edges)
        mx = np.maximum.reduceat(gm, self._meter_edges)
        vals = np.where(-mn > mx, mn, mx)
        self._meters = {k: float(v) for k, v in zip(METER_IDS, vals, strict=True)}

    # ---------------------------------------------------------------- process
    def process(self, audio: np.ndarray, params: Mapping[str, float]) -> tuple[np.ndarray, dict[str, float]]:
        hop = self.hop
        b = self._buf
        w = self._w
        if w + hop > b.shape[1]:  # ring: move the history to the front
            b[:, : self._hist] = b[:, w - self._hist : w]
            w = self._hist
        b[:, w : w + hop] = audio
        w += hop
        self._w = w
        if self._phase == 0:
            self._update(params)
        # filter the hop ending `lookahead` samples back (the convolver keeps its own history)
        e = w - self.lookahead
        dry = b[:, e - hop : e]
        wet = self._conv.process(dry)
        self._phase = (self._phase + 1) % self.hops_per_update
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
            elif mix == 1.0:
                out = wet
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
        out = out.astype(np.float32)
        out[np.abs(out) < 1e-30] = 0.0
        return out, self._meters
