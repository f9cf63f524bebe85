"""BandmateXSpecMatch's engine: the matching engine with its target from a linked Reference.

Role Reference: passes audio through (latency-aligned) while learning its own long-term
spectrum, and publishes it on the link board under its Link group. Role Target: matches its
input toward the newest live Reference spectrum of its group (no correction while none is
linked; the `Reference linked` output shows it). Link group 0 = off.

A Target also takes its reference from a real sidechain input where the host routes one (CLAP):
once the sidechain has carried audio, its long-term spectrum (learned like the target's own,
following Learn and Window) is the target and takes precedence over the link group.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from bandmate.engines.base import EngineConfig
from bandmate.engines.matching import MatchingEngine
from bandmate.engines.spectrum import LongTermSpectrum

_CHANNEL = "spectrum"
_PUBLISH_EVERY_S = 0.1
REFERENCE, TARGET = 0, 1


class XSpecMatchEngine(MatchingEngine):
    name = "xspecmatch"

    def __init__(self, config: EngineConfig):
        super().__init__(config)
        self._since_publish = 0
        self._serial = -1
        self._side = LongTermSpectrum(self.sample_rate, rows=self.channels, window_s=self.lts.window_s,
                                      mid_side=self.channels == 2)
        self._side_is_target = False

    def process(self, audio: np.ndarray, params: Mapping[str, float],
                sidechain: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, float]]:
        group, role = int(params["link_group"]), int(params["role"])
        board = self.config.links
        linked = False
        if role == TARGET and sidechain is not None and self._follow_sidechain(sidechain, params):
            out, meters = self.core.process(audio, params)
            return out, meters | {"linked": 1.0}
        if role == REFERENCE:
            out, meters = self.core.process(audio, dict(params) | {"mix": 0.0, "output_gain_db": 0.0})
            self._since_publish += audio.shape[1]
            if board is not None and group > 0 and self.lts.ready and \
                    self._since_publish >= _PUBLISH_EVERY_S * self.sample_rate:
                board.publish(_CHANNEL, group, self.config.identity, self.lts.spectrum_db())
                self._since_publish = 0
            return out, meters | {"linked": 0.0}
        pub = board.read(_CHANNEL, group, self.config.identity) if board is not None and group > 0 else None
        if pub is None:
            if self._serial != -1:
                self.set_target(None)
                self._serial = -1
        elif pub.serial != self._serial:
            try:
                self.set_target(pub.data)
                self._serial = pub.serial
            except ValueError:  # a Reference at another sample rate: another grid
                pub = None
        linked = pub is not None
        out, meters = self.core.process(audio, params)
        return out, meters | {"linked": float(linked)}

    def _follow_sidechain(self, sidechain: np.ndarray, params: Mapping[str, float]) -> bool:
        """Learn the sidechain's spectrum; True (and it is the target) once any was heard."""
        side = self._side
        if params["learn"] >= 0.5:
            side.unfreeze()
        else:
            side.freeze()
        if params["window_s"] != side.window_s:
            side.set_window(params["window_s"])
        if not side.frozen and np.any(sidechain):
            x = np.asarray(sidechain, float)
            side.push(x)
        if not side.ready:
            return False
        self._since_publish += sidechain.shape[1]
        if not self._side_is_target or self._since_publish >= _PUBLISH_EVERY_S * self.sample_rate:
            self.set_target(side.spectrum_db())  # as often as a Reference publishes
            self._side_is_target, self._since_publish, self._serial = True, 0, -1
        return True
