"""BandmateMultibandPhase's engine: delay, polarity and per-band phase alignment of two tracks.

Roles (``mode`` Learn or Track): a **Reference** instance passes its audio through (delayed by
the engine latency) and publishes a bounded history of it (mono, ``HISTORY_S``) on the link
board (channel ``audio``) under its Link group; a **Target** instance pairs its own hops with the
Reference's on the common timeline (the host's transport frame when the request carries one,
else each session's own sample count: both instances started together) and corrects its own
signal so that it sums well with the Reference. ``mode`` Stereo: one instance aligns R to L.

Analysis (``engines/phase_analysis.py``) runs on complete frames available in both histories,
``ANALYSIS_LAG_S`` behind the Target's latest hop.
Learn (default): learn ``learn_s`` seconds of gated audio, then freeze (the analysis stops; only
the FIR runs). Track: keep learning with an exponential memory of ``learn_s`` seconds. A rising
edge of ``relearn`` (or a mode change, or a new Reference) starts learning again; the correction
in place stays until the new estimate replaces it. Estimates are refreshed every ``UPDATE_S``.

Correction: one FIR per target channel (``CorrectionFilter``, partitioned, crossfaded over a hop
on every change) = fractional delay to ``latency - delay`` x polarity x band phase curve. The
engine latency is fixed, ``N_FIR / 2`` = 8192 samples at 48 kHz (x rate factor), so delays of
+-100 ms fit with room for the phase filter's window. ``mix`` 0 = the input delayed by the
latency, exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from bandmate.engines.base import Engine, EngineConfig
from bandmate.engines.matching import CorrectionFilter
from bandmate.engines.phase_analysis import SUMMARY_HZ, WINDOW_48K, Alignment, CrossSpectrum
from bandmate.engines.spectrum import log_grid
from bandmate.specs import FRAME_SPLIT, rate_factor

N_FIR_48K = 16384
HISTORY_S = 4.0
UPDATE_S = 0.5
MIN_LEARN_S = 0.5  # learnt audio before the first correction
MAX_FRAMES_PER_HOP = 2
# The Target analyses only audio at least this old on its own timeline: a linked Reference's hops
# arrive in another order than its own (in a deterministic render the Reference is at most the
# shell's K hops behind), and this keeps which frames an update sees, hence the render, exact.
ANALYSIS_LAG_S = 0.5
CHANNEL = "audio"
PUBLISH_EVERY_S = 0.1
REFERENCE, TARGET = 0, 1
LEARN, TRACK, STEREO = 0, 1, 2
PHASE_IDS = tuple(f"phase_{int(f)}" if f < 1000 else f"phase_{int(f) // 1000}k" for f in SUMMARY_HZ)


class AudioHistory:
    """Bounded mono history on a timeline (sample positions); a gap or a jump restarts it."""

    def __init__(self, capacity: int):
        self.buf = np.zeros(int(capacity), np.float32)
        self.start = self.end = 0

    def append(self, pos: int, x: np.ndarray) -> None:
        n, cap = len(x), len(self.buf)
        if pos != self.end:
            self.start = pos
        idx = np.arange(pos, pos + n) % cap
        self.buf[idx] = x
        self.end = pos + n
        self.start = max(self.start, self.end - cap)

    def read(self, a: int, b: int) -> np.ndarray | None:
        if a < self.start or b > self.end:
            return None
        return self.buf[np.arange(a, b) % len(self.buf)].astype(float)


class PhaseAligner:
    """Streaming analysis + correction of one target against one reference history."""

    def __init__(self, sample_rate: int, channels: int, hop: int, latency: int):
        self.sample_rate, self.hop, self.latency = sample_rate, hop, latency
        self.cs = CrossSpectrum(sample_rate)
        self._lag = int(ANALYSIS_LAG_S * sample_rate)
        self.n_fir = 2 * latency
        self.max_half = WINDOW_48K * rate_factor(sample_rate)
        self.filter = CorrectionFilter(sample_rate, channels, hop, log_grid(sample_rate), linear_latency=True,
                                       n_fir=self.n_fir)
        self.alignment: Alignment | None = None
        self.restart()

    def restart(self) -> None:
        """Start learning again (the correction in place stays until a new estimate)."""
        self.cs.reset()
        self.learning = True
        self._next: int | None = None
        self._since_update = 0
        self._fresh = False

    def clear(self) -> None:
        self.restart()
        self.alignment = None
        self.filter.set_fir(None, False)

    def feed(self, ref: AudioHistory, own: AudioHistory, track: bool, learn_s: float) -> None:
        """Analyse the frames complete in both histories (at most MAX_FRAMES_PER_HOP per call)."""
        if not self.learning:
            return
        cs = self.cs
        start, end = max(ref.start, own.start), min(ref.end, own.end - self._lag)
        if self._next is None or self._next < start or self._next > end:  # start, gap or jump back
            self._next = -(-start // cs.stride) * cs.stride
        decay = math.exp(-cs.stride / (self.sample_rate * max(learn_s, 0.1))) if track else 1.0
        for _ in range(MAX_FRAMES_PER_HOP):
            a = self._next
            if a + cs.n > end:
                break
            r, x = ref.read(a, a + cs.n), own.read(a, a + cs.n)
            if r is not None and x is not None and cs.add(r, x, decay) > 0.0:
                self._fresh = True
            self._next = a + cs.stride

    def update(self, params: Mapping[str, float], rows: int, track: bool) -> None:
        """Every UPDATE_S: a new estimate and FIR if there is new learnt audio; freeze when learnt."""
        self._since_update += self.hop
        if self._since_update < UPDATE_S * self.sample_rate or not self._fresh:
            return
        if self.cs.seconds < MIN_LEARN_S:
            return
        self._since_update, self._fresh = 0, False
        max_delay = min(params["max_delay_ms"] * 1e-3 * self.sample_rate, self.latency - self.max_half // 3)
        al, h = self.cs.estimate(int(max_delay), self.n_fir, self.latency, self.max_half,
                                 band_phase=params["band_phase"] >= 0.5)
        self.alignment = al
        if rows == 2:  # stereo mode: L untouched (a delta at the latency), R corrected
            delta = np.zeros_like(h)
            delta[self.latency] = 1.0
            h = np.stack([delta, h])
        self.filter.set_fir(np.atleast_2d(h), False)
        if not track and self.cs.seconds >= params["learn_s"]:
            self.learning = False  # learnt: freeze

    def meters(self) -> dict[str, float]:
        al = self.alignment
        m = {"delay_ms": 0.0, "polarity": 0.0, "corr_before": 0.0, "corr_after": 0.0, "sum_gain_db": 0.0}
        m |= dict.fromkeys(PHASE_IDS, 0.0)
        if al is not None:
            m |= {"delay_ms": al.delay * 1e3 / self.sample_rate, "polarity": float(al.polarity < 0),
                  "corr_before": al.corr_before, "corr_after": al.corr_after, "sum_gain_db": al.sum_gain_db}
            m |= {k: float(v) for k, v in zip(PHASE_IDS, al.phase_at(np.array(SUMMARY_HZ)), strict=True)}
        return m


class MultibandPhaseEngine(Engine):
    name = "multiband_phase"

    def __init__(self, config: EngineConfig):
        super().__init__(config)
        cap = int(HISTORY_S * self.sample_rate)
        self.aligner = PhaseAligner(self.sample_rate, self.channels, self.hop, self.latency)
        if self.aligner.filter.latency != self.latency:
            raise ValueError(f"spec latency {self.latency} != filter latency {self.aligner.filter.latency}")
        self._own = AudioHistory(cap)
        self._ref = AudioHistory(cap)  # Reference role and Stereo mode: the history this instance owns
        self._lin = np.arange(1, self.hop + 1, dtype=float) / self.hop
        self.reset()

    def reset(self) -> None:
        self.aligner.clear()
        self._pos = 0
        self._mix = None
        self._setup = self._source = None
        self._relearn = 0.0
        self._since_publish = 1 << 30  # publish at the first hop
        self._ref = AudioHistory(len(self._ref.buf))  # a new object: Targets see a new Reference

    def _timeline(self, params: Mapping[str, float]) -> int:
        """The hop's position on the common timeline: the host transport's frame while it plays
        (requests carry it, spec "transport": true), else this session's own sample count."""
        pos = self._pos
        self._pos += self.hop
        if params.get("frame_hi", -1.0) >= 0.0:  # -1: the transport is stopped or absent
            return int(params["frame_hi"]) * FRAME_SPLIT + int(params["frame_lo"])
        return pos

    def process(self, audio: np.ndarray, params: Mapping[str, float]) -> tuple[np.ndarray, dict[str, float]]:
        x = np.asarray(audio, float)
        pos = self._timeline(params)
        mode, role, group = int(params["mode"]), int(params["role"]), int(params["link_group"])
        board = self.config.links
        stereo = mode == STEREO
        ref: AudioHistory | None = None
        active = True
        if stereo:
            if self.channels == 2:
                self._ref.append(pos, x[0].astype(np.float32))
                self._own.append(pos, x[1].astype(np.float32))
                ref = self._ref
            else:
                active = False  # nothing to align in a mono build
        elif role == REFERENCE:
            self._ref.append(pos, x.mean(axis=0).astype(np.float32))
            self._since_publish += self.hop
            if board is not None and group > 0 and self._since_publish >= PUBLISH_EVERY_S * self.sample_rate:
                board.publish(CHANNEL, group, self.config.identity, self._ref)
                self._since_publish = 0
            active = False
        else:
            pub = board.read(CHANNEL, group, self.config.identity) if board is not None and group > 0 else None
            ref = pub.data if pub is not None else None
            self._own.append(pos, x.mean(axis=0).astype(np.float32))
        # what the learnt analysis belongs to: a change of setup clears the correction; another
        # mode (Learn/Track), group or Reference relearns (a Reference that went away does not)
        setup = (stereo, role if not stereo else -1, active)
        linked_ref = ref if ref is not None or self._source is None else self._source[2]
        source = (mode, group, None if stereo else linked_ref)
        if setup != self._setup:
            self.aligner.clear()
        elif source != self._source:
            self.aligner.restart()
        self._setup, self._source = setup, source
        relearn = float(params["relearn"])
        if relearn >= 0.5 > self._relearn:
            self.aligner.restart()
        self._relearn = relearn
        track = mode == TRACK
        if active and ref is not None:
            self.aligner.feed(ref, self._own, track, params["learn_s"])
            self.aligner.update(params, 2 if stereo else 1, track)
        wet, dry = self.aligner.filter.process(x)
        mix = min(max(float(params["mix"]), 0.0), 1.0)
        last = mix if self._mix is None else self._mix
        self._mix = mix
        if mix == last:
            out = dry if mix == 0.0 else (wet if mix == 1.0 else dry + (wet - dry) * mix)
        else:
            out = dry + (wet - dry) * (last + (mix - last) * self._lin)
        cs = self.aligner.cs
        meters = self.aligner.meters() | {"linked": float(ref is not None),
                   "learned": 1.0 if not self.aligner.learning else min(1.0, cs.seconds / max(params["learn_s"], 1e-3))}
        return out.astype(np.float32), meters


def align_offline(reference: np.ndarray, target: np.ndarray, sample_rate: int,
                  params: Mapping[str, float] | None = None) -> tuple[np.ndarray, Alignment | None]:
    """Run the engine (Stereo mode: reference as L, target as R) over two mono signals of equal
    length; returns the corrected target, latency removed, and the final alignment."""
    r, x = np.asarray(reference, np.float32), np.asarray(target, np.float32)
    if r.ndim != 1 or x.shape != r.shape:
        raise ValueError(f"reference {r.shape} and target {x.shape} must be mono signals of equal length")
    eng = MultibandPhaseEngine(EngineConfig(sample_rate, 2))
    p = eng.spec.defaults() | dict(params or {}) | {"mode": float(STEREO)}
    out = eng.process_buffer(np.stack([r, x]), p)
    return out[1], eng.aligner.alignment
