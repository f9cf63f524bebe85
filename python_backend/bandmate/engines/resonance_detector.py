"""ResonanceEQ's learned cut detector: the main path's spectra -> which grid points a resonance boosts.

The rule (prominence of the smoothed rise in power over a spectral envelope) cannot tell a
resonance from a musical partial of the same width and prominence (bench/RESULTS.md). This model
(``onnx_models/resonance_detector.onnx``, card ``resonance_detector.md``, trained by
``python -m bandmate.train resonance``) looks at the last ``context`` analysis updates across
+-0.7 octave and predicts the boost (dB) a resonance adds at each grid point now.

``ResonanceAnalyzer.update(..., detector=d)`` calls ``d(power)`` once per update with the main
path's grid power (rows, G); ``d`` keeps the history and, while ``cutting``, returns the main
path's prominence for cuts (rows, G) dB: ``threshold + slope * (boost - boost_threshold)``, so
the engine's threshold table, soft knee, gain table and depth work as with the rule; the engine
hands its table minus half the knee to ``set_threshold``, so the cut starts where the predicted
boost passes ``boost_threshold``. With it goes a gate for the low path (the 341 ms analysis that
resolves narrow peaks below 1.4 kHz, still rule-based): 0 dB within 1/24 octave of a predicted
boost above ``LOW_GATE_BOOST_DB[1]``, -``LOW_GATE_DB`` where the boost stays below ``[0]``. The
low path's flatness gate alone let it cut music's partials and pink noise's random peaks: on the
bench this gate took collateral from 0.86 to 0.71 dB on music and from 0.32 to 0.05 dB on pink
noise, the low peaks still removed (bench/RESULTS.md).

A steady line is not a resonance (``steadiness``): the predicted boost is scaled toward 0 within
+-``STEADY_HALF`` points of a grid point whose level, over the last 16 updates, moves much less than
its neighbourhood's (std in dB below ``STEADY_REL[0]`` times the geometric mean over +-1/3 octave: a
held sine over drum hits, 0.07..0.2; noise, with or without a resonance, 0.3 or more) or hardly at all
(below ``STEADY_ABS_DB[0]``: a synth's steady tone alone). The training music has no pure tones, and
the net cut held sines 16 dB over drum hits by 3.5..10 dB; a resonance rings with what moves through
it, so its level fluctuates like the noise it filters.

Runtime: onnxruntime, one thread, every ``EVERY``-th update (0.2..0.9 ms per run, cold hops the
slower end); in between the last prediction is held. More often buys a little removal for more CPU
and collateral (bench/RESULTS.md). When the model file is missing or unreadable, ``load`` returns
None and the engine uses the rule (``detector_name``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from scipy.ndimage import maximum_filter1d, minimum_filter1d, uniform_filter1d

from bandmate.generators.common import MODEL_DIR, onnx_session

DEFAULT_MODEL = MODEL_DIR / "resonance_detector.onnx"
ENV_MODEL = "BANDMATE_RESONANCE_MODEL"  # a path, or "rule" to use the rule-based detector
INPUT_NAME, OUTPUT_NAME = "log_power", "boost_db"
SLOPE = 3.0  # prominence dB per predicted boost dB (the gain table then adds its own slope)
EVERY = 8  # the net runs every EVERY-th update (5.9 per second; the history every update): see the model card
FLOOR = 1e-12
LOW_GATE_BOOST_DB = (0.1, 0.3)  # predicted boost (dB, max over +-LOW_GATE_HALF points): low path off .. on
LOW_GATE_HALF = 4  # grid points (1/24 octave at 96 per octave)
LOW_GATE_DB = 30.0  # prominence taken from the low path where the gate is shut
STEADY_REL = (0.2, 0.3)  # level std / its neighbourhood's: a steady line (boost x 0) .. not (x 1)
STEADY_ABS_DB = (0.1, 0.3)  # level std (dB): steady .. not, whatever the neighbourhood does
STEADY_ENV_HALF = 32  # grid points: the neighbourhood, +-1/3 octave
STEADY_HALF = 4  # grid points: a line's Hann main lobe spreads over its neighbours, which the hits move
STEADY_UPDATES = 16  # the newest updates the steadiness is measured over (341 ms), whatever the net's context


class LearnedDetector:
    """The callable handed to ``ResonanceAnalyzer.update`` (one per engine instance). Per update it
    only stores the spectrum (a ring); the net runs every ``EVERY``-th update while cutting, and the
    prominence it maps to is kept until the next run or threshold change (the backend's hops are
    cold: every array operation per update costs)."""

    def __init__(self, session, grid_points: int):
        self.session = session
        meta = session.get_inputs()[0]
        if meta.name != INPUT_NAME or len(meta.shape) != 3 or not isinstance(meta.shape[1], int):
            raise ValueError(f"resonance detector model: expected input {INPUT_NAME} (batch, context, grid), "
                             f"got {meta.name} {meta.shape}")
        self.context = int(meta.shape[1])
        self.cutting = False
        self._threshold = np.zeros(grid_points)  # the engine's threshold table (dB), for the mapping
        self._boost_threshold = 0.5  # predicted boost (dB) at which the cut starts
        self.reset()

    def reset(self) -> None:
        self._ring: np.ndarray | None = None  # (rows, context, G) power; slot _pos is the oldest
        self._pos = 0
        self._count = 0
        self.last_boost: np.ndarray | None = None  # (rows, G) dB of the last run (benches read it)
        self._prom: np.ndarray | None = None
        self._gate: np.ndarray | None = None

    def set_threshold(self, threshold: np.ndarray, boost_threshold: float) -> None:
        self._threshold, self._boost_threshold = threshold, boost_threshold
        self._prom = None

    def __call__(self, power: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        ring = self._ring
        if ring is None or ring.shape[0] != power.shape[0]:
            if ring is None:  # (re)start: the history is the first spectrum repeated
                ring = np.repeat(power[:, None, :], self.context, axis=1)
            else:  # linked <-> unlinked: continue from the channel mean
                ring = np.repeat(ring.mean(axis=0, keepdims=True), power.shape[0], axis=0)
            self._ring, self.last_boost, self._prom = ring, None, None
        ring[:, self._pos] = power
        self._pos = (self._pos + 1) % self.context
        if not self.cutting:
            return None
        self._count += 1
        if self.last_boost is None or self._count % EVERY == 0:
            p = self._pos  # oldest first
            hist = np.log10(np.concatenate([ring[:, p:], ring[:, :p]], axis=1) + FLOOR).astype(np.float32)
            boost = self.session.run([OUTPUT_NAME], {INPUT_NAME: hist})[0].astype(np.float64)
            self.last_boost = boost * steadiness(hist[:, -STEADY_UPDATES:])
            self._prom = None
            self._gate = low_gate(self.last_boost)
        if self._prom is None:
            self._prom = self._threshold + SLOPE * (self.last_boost - self._boost_threshold)
        return self._prom, self._gate


def steadiness(hist: np.ndarray) -> np.ndarray:
    """(rows, context, G) log10 power -> (rows, G) in 0..1: 0 within +-STEADY_HALF points of a level
    that is steady over the context (relative to its neighbourhood, or outright), 1 where it moves."""
    sd = 10.0 * hist.std(axis=1, dtype=np.float64)
    around = np.exp(uniform_filter1d(np.log(sd + 1e-3), 2 * STEADY_ENV_HALF + 1, axis=-1, mode="nearest"))
    rel = np.clip((sd / around - STEADY_REL[0]) / (STEADY_REL[1] - STEADY_REL[0]), 0.0, 1.0)
    absolute = np.clip((sd - STEADY_ABS_DB[0]) / (STEADY_ABS_DB[1] - STEADY_ABS_DB[0]), 0.0, 1.0)
    return minimum_filter1d(np.minimum(rel, absolute), 2 * STEADY_HALF + 1, axis=-1, mode="nearest")


def low_gate(boost: np.ndarray) -> np.ndarray:
    """(rows, G) predicted boost (dB) -> (rows, G) dB added to the low path's prominence."""
    near = maximum_filter1d(boost, 2 * LOW_GATE_HALF + 1, axis=-1, mode="nearest")
    lo, hi = LOW_GATE_BOOST_DB
    return -LOW_GATE_DB * np.clip((hi - near) / (hi - lo), 0.0, 1.0)


def load(grid_points: int, model_path: str | os.PathLike | None = None) -> tuple[LearnedDetector | None, str]:
    """(detector, name): the learned detector from model_path, else $BANDMATE_RESONANCE_MODEL, else
    the shipped model; (None, reason) when it is turned off ("rule"), missing or unreadable."""
    choice = str(model_path or os.environ.get(ENV_MODEL) or DEFAULT_MODEL)
    if choice == "rule":
        return None, "rule"
    path = Path(choice)
    if not path.is_file():
        return None, f"rule (model not found: {path})"
    try:
        det = LearnedDetector(onnx_session("Resonance", path, ENV_MODEL, DEFAULT_MODEL)[0], grid_points)
    except Exception as e:  # noqa: BLE001 - a corrupt model must not take the plugin down: use the rule
        return None, f"rule (model unreadable: {path}: {type(e).__name__}: {e})"
    return det, f"learned ({path.name})"
