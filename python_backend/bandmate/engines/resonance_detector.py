"""ResonanceEQ's learned cut detector: the main path's spectra -> which grid points a resonance boosts.

The rule (prominence of the smoothed rise in power over a spectral envelope) cannot tell a
resonance from a musical partial of the same width and prominence (bench/RESULTS.md). This model
(``onnx_models/resonance_detector.onnx``, card ``resonance_detector.md``, trained by
``python -m bandmate.train resonance``) looks at the last ``context`` analysis updates across
+-0.7 octave and predicts the boost (dB) a resonance adds at each grid point now.

``ResonanceAnalyzer.update(..., detector=d)`` calls ``d(power)`` once per update with the main
path's grid power (rows, G); ``d`` keeps the history and, while ``cutting``, returns the main
path's prominence for cuts (rows, G) dB: ``threshold + slope * (boost - boost_threshold)``, so
the engine's threshold table, soft knee, gain table, depth and the low path work as with the
rule; the engine sets ``threshold`` to its table minus half the knee, so the cut starts where the
predicted boost passes ``boost_threshold``.

Runtime: onnxruntime, one thread, ~0.5 ms per update (47 updates/s). When the model file is
missing or unreadable, ``load`` returns None and the engine uses the rule (``detector_name``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

MODEL_DIR = Path(__file__).resolve().parents[3] / "onnx_models"
DEFAULT_MODEL = MODEL_DIR / "resonance_detector.onnx"
ENV_MODEL = "BANDMATE_RESONANCE_MODEL"  # a path, or "rule" to use the rule-based detector
INPUT_NAME, OUTPUT_NAME = "log_power", "boost_db"
SLOPE = 3.0  # prominence dB per predicted boost dB (the gain table then adds its own slope)
SMOOTH = 1.0  # one-pole coefficient on the predicted boost per update (1: none)
FLOOR = 1e-12


class LearnedDetector:
    """The callable handed to ``ResonanceAnalyzer.update`` (one per engine instance)."""

    def __init__(self, session, grid_points: int):
        self.session = session
        meta = session.get_inputs()[0]
        if meta.name != INPUT_NAME or len(meta.shape) != 3 or not isinstance(meta.shape[1], int):
            raise ValueError(f"resonance detector model: expected input {INPUT_NAME} (batch, context, grid), "
                             f"got {meta.name} {meta.shape}")
        self.context = int(meta.shape[1])
        self.G = grid_points
        self.cutting = False
        self.threshold = np.zeros(grid_points)  # the engine's threshold table (dB), for the mapping
        self.boost_threshold = 0.5  # predicted boost (dB) at which the cut starts
        self.last_boost: np.ndarray | None = None  # (rows, G) dB, for benches
        self.reset()

    def reset(self) -> None:
        self._hist: np.ndarray | None = None  # (rows, context, G) log10 power, oldest first
        self.last_boost = None

    def __call__(self, power: np.ndarray) -> np.ndarray | None:
        lp = np.log10(power + FLOOR).astype(np.float32)
        h = self._hist
        if h is None or h.shape[0] != lp.shape[0]:
            if h is None:  # (re)start: the history is the first spectrum repeated
                h = np.repeat(lp[:, None, :], self.context, axis=1)
            else:  # linked <-> unlinked: continue from the channel mean
                h = np.repeat(h.mean(axis=0, keepdims=True), lp.shape[0], axis=0)
            self._hist = h
        h[:, :-1] = h[:, 1:]
        h[:, -1] = lp
        if not self.cutting:
            return None
        boost = self.session.run([OUTPUT_NAME], {INPUT_NAME: h})[0].astype(np.float64)
        last = self.last_boost
        if SMOOTH < 1.0 and last is not None and last.shape == boost.shape:
            boost = last + SMOOTH * (boost - last)
        self.last_boost = boost
        return self.threshold + SLOPE * (boost - self.boost_threshold)


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
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        det = LearnedDetector(ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"]), grid_points)
    except Exception as e:  # noqa: BLE001 - a corrupt model must not take the plugin down: use the rule
        return None, f"rule (model unreadable: {path}: {type(e).__name__}: {e})"
    return det, f"learned ({path.name})"
