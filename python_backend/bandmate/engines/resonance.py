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

*Cuts: the learned detector* (``resonance_detector``, ``onnx_models/resonance_detector.onnx``):
for amount < 0 the main path's prominence comes from a small convolutional net that sees the
main path's spectra of the last updates and predicts the boost (dB) a resonance adds at each grid
point; it was trained on rendered music with injected resonances and tells a fixed-frequency
boost from partials of the same width and prominence far better than any per-frequency rule
tried (bench/RESULTS.md). Its boost maps onto the threshold table (the cut starts where it passes
``LEARNED_BOOST_THR_DB``, set by Selectivity) and then runs through the same gain table, depth,
dilation and attack/release; the low path is added as below, and for cuts only within 1/24
octave of a boost the net predicts (its gate, ``resonance_detector.low_gate``: the flatness gate
alone let the low path cut partials and noise's random peaks). Without the model file (or with
``detector_model="rule"``) cuts use the rule: the prominence of the main path's smoothed *rise*
in power (the positive power change since the last update, one-pole ``ONSET_TAU_MS`` at 1 kHz,
scaled like the detector): a resonance rings on everything that moves through it, a held partial
adds little. Emphasis (amount > 0) lifts steady harmonics and always detects on the power.

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

*Where it runs*: each analysis update, from the windowed input to the new filter installed in the
convolver (everything above: spectra, low-path decimation, smoothing, prominence, gating, gain
table, dilation, attack/release, make-up, filter-grid mapping, the ``SKIP_DB`` test and the
minimum-phase FIR), is one native call too (``bandmate._dsp.ResonanceAnalyzer``, C++: a port of
the numpy implementation, equal to it to rounding). It owns the analysis state; this module builds
the constant tables once and the parameter-derived ones (threshold, band weights, attack/release
coefficients, gain table, widths), cached and handed over only when their parameters change, and
does the per-hop mix/gain/delta in numpy.

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
factor) dB, copied from the analyzer on each read) and ``update`` (samples between curves).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

import numpy as np
import scipy.signal as ssig
import scipy.sparse as sps

from bandmate.engines import resonance_detector
from bandmate.engines.base import Engine, EngineConfig
from bandmate.engines.native import PartitionedConvolver, ResonanceAnalyzer
from bandmate.engines.spectrum import bins_to_grid

log = logging.getLogger("bandmate.backend")

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
FLAT_DB = (-4.5, -2.5)  # low path gated in by spectral flatness (dB, over +-1/3 octave): noise-like only
LONG_GATE_DB = 30.0  # prominence removed from the low path where it is gated out
RESOLVE_HZ = 84.0  # detection fades out an octave below: a Q 20 peak there is narrower than the 4.2 Hz
#                   resolution of the 341 ms window, so it cannot be told from a bass note
ONSET_TAU_MS = 300.0  # cuts: smoothing of the main path's rise in power (at 1 kHz, scaled like DETECT_TAU_MS);
#                      0 detects cuts on the smoothed power itself (the engine before 2026-11-21)
MAKEUP_TAU_MS = 100.0
EMPHASIS_THR_OFFSET_DB = 2.0  # emphasis reacts to smaller peaks than suppression
# learned detector (cuts): predicted boost (dB) where the cut starts, at selectivity 0 and 1
LEARNED_BOOST_THR_DB = (0.3, 1.5)


def _hann(n: int) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)


class ResonanceEngine(Engine):
    name = "resonance"

    def __init__(self, config: EngineConfig, detector_model: str | None = None):
        """detector_model: the learned cut detector's ONNX file (None: $BANDMATE_RESONANCE_MODEL, else
        the shipped one; "rule": the rule-based detector). A missing or unreadable model falls back
        to the rule; ``detector_name`` says which one runs."""
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
        self._a_onset = (1.0 - np.exp(-self.update / (fs * ONSET_TAU_MS * 1e-3 * self._fscale))
                         if ONSET_TAU_MS > 0.0 else None)
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

        # the analysis update (_update's work) runs natively on these tables; it owns the analysis
        # state and installs each new filter in self._conv
        self._an = ResonanceAnalyzer(
            channels=self.channels, update=self.update, decimate=self._dec, fade=self.xfade_hops * hop,
            win_short=self._win_s, win_long=self._win_l, lowpass=self._lp,
            map_short=self._map_s, map_long=self._map_l, bins_map=self._ip_map,
            pool_bins=self._pool_bins, pool_idx=self._pool_idx, k_cross=k_cross,
            a_det=self._a_det, a_det_long=self._a_det_l, low_pen=self._low_pen, fold=self._fold,
            a_makeup=self._a_makeup, floor=self._floor, envelope_half=self._h_env, envelope_clip=ENVELOPE_CLIP,
            long_sd=LONG_SD, flat_db=FLAT_DB, long_gate_db=LONG_GATE_DB, skip_db=SKIP_DB,
            meter_edges=self._meter_edges, a_onset=self._a_onset,
        )
        self._det, self.detector_name = resonance_detector.load(ng, detector_model)
        if self._det is None and self.detector_name != "rule":  # the model was wanted: say why it is not used
            log.warning("ResonanceEQ: cuts use the %s", self.detector_name)
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        C, hop = self.channels, self.hop
        self._hist = max(self.n_short, self.update + len(self._lp), self.lookahead + 2 * hop)
        self._buf = np.zeros((C, self._hist + 64 * hop))
        self._w = self._hist  # write position: samples [w - hist, w) are the history
        self._conv.reset()  # zero history, identity filter
        self._an.reset()  # zero analysis state (smoothed powers, curve, make-up, low-path input)
        if self._det is not None:
            self._det.reset()
        self._energy = np.zeros((2, C, 1))  # smoothed (dry, wet) energy per channel, for the make-up gain
        self._emphasis = False
        self._phase = 0
        self._meters = dict.fromkeys(METER_IDS, 0.0)
        self._last = None  # previous (mix, gain, delta)

    @property
    def last_gain_db(self) -> np.ndarray:
        """The applied gain curve on the filter grid, (channels, K) dB (a copy), for benches/plots."""
        return self._an.last_gain_db()

    # --------------------------------------------------------- derived params
    def _derived(self, key: str, values: tuple, build, install) -> None:
        """Rebuilds a parameter-derived table when its parameters changed and hands it to the
        analyzer: install(*build(*values)). build returns the setter's arguments."""
        if self._cache.get(key) != values:
            self._cache[key] = values
            install(*build(*values))

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
        table = thr - tilt * self._lg
        if self._det is not None:  # the learned detector maps its boost onto this threshold ...
            lo, hi = LEARNED_BOOST_THR_DB
            self._det.set_threshold(table - 0.5 * KNEE_DB, lo + (hi - lo) * selectivity)  # the knee starts there
        return (table,)

    def _build_band(self, low: float, high: float):
        f = self.grid
        wl = np.clip(1.0 + 2.0 * np.log2(f / low), 0.0, 1.0)  # half-octave fade below low_hz
        wh = np.clip(1.0 - 2.0 * np.log2(f / high), 0.0, 1.0)
        wt = np.clip(6.0 * np.log2(f[-1] / f), 0.0, 1.0)  # the curve reaches 0 dB at the grid's top
        w = wl * wh * wt
        return (w * w * (3.0 - 2.0 * w) * self._resolve,)

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
    def _update(self, params: Mapping[str, float]) -> None:
        """One analysis update: the parameter-derived tables (when changed), then the native
        analyzer from the input history to the filter installed in the convolver."""
        C, an = self.channels, self._an
        self._derived("sharp", (float(params.get("sharpness", 0.5)),), self._build_sharp, an.set_sharpness)
        self._derived("thr", (float(params.get("selectivity", 0.5)), float(params.get("tilt_db_oct", 0.0))),
                      self._build_thr, an.set_threshold)
        self._derived("band", (float(params.get("low_hz", 40.0)), float(params.get("high_hz", 2e4))),
                      self._build_band, an.set_band)
        self._derived("ar", (float(params.get("attack_ms", 15.0)), float(params.get("release_ms", 120.0))),
                      self._build_ar, an.set_attack_release)
        amount = float(params.get("amount", -0.7))
        depth = float(params.get("depth_db", 12.0))
        if amount != 0.0 and depth > 0.0:
            cut = amount < 0.0
            self._derived(
                "table", (SLOPE * abs(amount), depth, 0.0 if cut else EMPHASIS_THR_OFFSET_DB, -1.0 if cut else 1.0),
                self._build_table, an.set_gain_table,
            )
        self._emphasis = amount > 0.0
        ms = C == 2 and params.get("mid_side", 0.0) >= 0.5
        link = float(params.get("stereo_link", 1.0)) if C == 2 else 0.0
        det = self._det
        if det is not None:
            det.cutting = amount < 0.0 and depth > 0.0
        an.update(self._buf, self._w, ms, link, amount, depth, self._energy, self._conv, det)

        self._meter_count += 1
        if self._meter_count % 4 == 1:  # meters at ~1/4 of the analysis rate
            self._meters = dict(zip(METER_IDS, an.meters(), strict=True))

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
