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
        taps = len(REFERENCE_FIR)
        # [last taps-1 input samples | this hop], float64; the FIR is one matmul over a strided
        # window view of it. This engine's per-hop cost is the bridge benchmark's baseline, so it
        # stays a handful of numpy calls (bench/bridge_bench.py).
        self._ext = np.zeros((self.channels, taps - 1 + self.hop), np.float64)
        s0, s1 = self._ext.strides
        self._windows = np.lib.stride_tricks.as_strided(self._ext, (self.channels, self.hop, taps), (s0, s1, s1),
                                                        writeable=False)
        self._taps_reversed = REFERENCE_FIR[::-1].copy()

    def reset(self) -> None:
        self._ext[:] = 0.0

    def process(self, audio: np.ndarray, params: Mapping[str, float]) -> tuple[np.ndarray, dict[str, float]]:
        keep = len(REFERENCE_FIR) - 1
        ext = self._ext
        ext[:, :keep] = ext[:, -keep:]
        ext[:, keep:] = audio  # exactly one hop (channels, hop), as every engine gets
        x = ext[:, keep:]
        wet = self._windows @ self._taps_reversed if params["fir"] >= 0.5 else x
        gain = 10.0 ** (params["gain_db"] / 20.0) * (-1.0 if params["invert"] >= 0.5 else 1.0)
        mix = params["mix"]
        out = (wet * (gain * mix) if mix == 1.0 else mix * gain * wet + (1.0 - mix) * x).astype(np.float32)
        flat = out.ravel()
        rms = math.sqrt(float(flat @ flat) / flat.size) if flat.size else 0.0
        return out, {"block_rms_db": 20.0 * math.log10(max(rms, 1e-6))}
