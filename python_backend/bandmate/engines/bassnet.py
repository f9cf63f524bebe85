"""BandmateBassNet's engine: BassNet bars on the host transport (see engines/generator.py)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from bandmate.data.drums import STEPS
from bandmate.engines.generator import GeneratorEngine, Note
from bandmate.generators.bassnet import DEFAULT_MODEL, ENV_MODEL, BassControls, BassNet, program_for_timbre


class BassNetEngine(GeneratorEngine):
    name = "bassnet"
    capture_name = "BassNet"
    model_class, model_env, default_model = BassNet, ENV_MODEL, DEFAULT_MODEL

    def generate_bar(self, bar: int, features_prev: np.ndarray, features_cur: np.ndarray,
                     params: Mapping[str, float]) -> list[Note]:
        controls = BassControls(density=params["density"], register=params["register"],
                                clarity=params["clarity"], timbre=params["timbre"],
                                variation=params["variation"])
        seed = int(params["style_seed"]) * 100_003 + bar  # deterministic per (style, bar)
        step_beats = self.beats_per_bar / STEPS
        channel = int(params["midi_channel"]) - 1
        # A bar's last note may not ring past the bar: the next bar is written separately.
        return [Note(start=max(0.0, (n.step + n.offset) * step_beats),
                     length=min(n.length, STEPS - n.step) * step_beats, note=n.pitch, velocity=n.velocity,
                     channel=channel)
                for n in self.net.generate(features_prev, features_cur, controls, seed, bar=bar)]

    def capture_program(self, params: Mapping[str, float]) -> int | None:
        return program_for_timbre(params["timbre"])
