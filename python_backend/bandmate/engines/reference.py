"""Reference engine: gain, polarity and a known FIR, used to check the bridge end to end."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from bandmate.engines.base import Engine, EngineConfig

# A short causal FIR with a known shape; the tests recompute the expected output with
# scipy.signal.lfilter(REFERENCE_FIR, 1, x).
REFERENCE_FIR = np.array([0.5, 0.3, -0.2, 0.1], dtype=np.float64)


class ReferenceEngine(Engine):
    name = "reference"

    def __init__(self, config: EngineConfig):
        super().__init__(config)
        self._history = np.zeros((self.channels, len(REFERENCE_FIR) - 1), np.float64)

    def reset(self) -> None:
        self._history[:] = 0.0

    def process(self, audio: np.ndarray, params: Mapping[str, float]) -> tuple[np.ndarray, dict[str, float]]:
        x = np.asarray(audio, dtype=np.float64)
        ext = np.concatenate([self._history, x], axis=1)
        self._history = ext[:, -(len(REFERENCE_FIR) - 1) :].copy()
        if params["fir"] >= 0.5:
            wet = np.stack([np.convolve(row, REFERENCE_FIR, "valid") for row in ext])
        else:
            wet = x.copy()
        wet *= 10.0 ** (params["gain_db"] / 20.0) * (-1.0 if params["invert"] >= 0.5 else 1.0)
        mix = params["mix"]
        out = mix * wet + (1.0 - mix) * x
        flat = out.ravel()
        rms = math.sqrt(float(flat @ flat) / flat.size) if flat.size else 0.0
        return out.astype(np.float32), {"block_rms_db": 20.0 * np.log10(max(rms, 1e-6))}
