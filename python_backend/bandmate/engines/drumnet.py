"""BandmateDrumNet's engine: DrumNet bars on the host transport (see engines/generator.py).

Link group > 0: every hop it publishes its latest bars on the link board (channel ``drums``:
{bar: (16, 9) hits over VOICE_NAMES, before the kit map}) for BassNet instances of the group."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from bandmate.data.drums import STEPS, VOICE_NAMES, VOICE_NOTES
from bandmate.engines.base import EngineConfig
from bandmate.engines.generator import GeneratorEngine, MidiOut, Note
from bandmate.generators.drumnet import DEFAULT_MODEL, ENV_MODEL, DrumControls, DrumHit, DrumNet, hits_to_steps

_CRASH = VOICE_NOTES[VOICE_NAMES.index("crash")]
_FILL_STEPS = 4  # a fill replaces the last beat of its bar
_NOTE_LENGTH = 0.125  # quarter notes (a 32nd): drums are one-shots, the note-off only ends the note
DRUMS_CHANNEL = "drums"  # link-board channel of the generated bars
_PUBLISHED_BARS = 16  # bars kept in a publication (around the newest)


class DrumNetEngine(GeneratorEngine):
    name = "drumnet"
    capture_name = "DrumNet"
    model_class, model_env, default_model = DrumNet, ENV_MODEL, DEFAULT_MODEL

    def __init__(self, config: EngineConfig, model_path=None):
        super().__init__(config, model_path)
        self.steps: dict[int, np.ndarray] = {}  # bar -> (16, 9) hits; replaced, never mutated (published)

    def process_midi(self, audio: np.ndarray, params: Mapping[str, float]
                     ) -> tuple[np.ndarray, dict[str, float], list[MidiOut]]:
        res = super().process_midi(audio, params)
        group, board = int(params["link_group"]), self.config.links
        if board is not None and group > 0 and self.steps:  # every hop: publications expire
            board.publish(DRUMS_CHANNEL, group, self.config.identity, self.steps)
        return res

    def generate_bar(self, bar: int, features_prev: np.ndarray, features_cur: np.ndarray,
                     params: Mapping[str, float]) -> list[Note]:
        controls = DrumControls.from_params(params)
        seed = int(params["style_seed"]) * 100_003 + bar  # deterministic per (style, bar)
        hits = self.net.generate(features_prev, features_cur, controls, seed)
        every = int(params["fill_every"])
        if every > 0 and (bar + 1) % every == 0:
            busy = replace(controls, density=min(1.0, controls.density + 0.35),
                           complexity=min(1.0, controls.complexity + 0.4), variation=max(controls.variation, 0.3))
            fill = self.net.generate(features_prev, features_cur, busy, seed + 7)
            hits = [h for h in hits if h.step < STEPS - _FILL_STEPS] + \
                   [h for h in fill if h.step >= STEPS - _FILL_STEPS]
        if every > 0 and bar > 0 and bar % every == 0 and not any(h.step == 0 and h.note == _CRASH for h in hits):
            hits.append(DrumHit(0, _CRASH, 110, 0.0))  # the fill lands on a crash
        self.steps = {b: g for b, g in self.steps.items() if abs(b - bar) < _PUBLISHED_BARS} | \
            {bar: hits_to_steps(hits)}
        kit = self._kit(params)
        step_beats = self.beats_per_bar / STEPS
        notes = [Note(start=max(0.0, (h.step + h.offset) * step_beats), length=_NOTE_LENGTH,
                      note=kit[h.note], velocity=h.velocity, channel=9) for h in hits]
        return sorted(notes, key=lambda n: (n.start, n.note))

    @staticmethod
    def _kit(params: Mapping[str, float]) -> dict[int, int]:
        if int(params["kit"]) == 0:
            return {n: n for n in VOICE_NOTES}
        return {n: int(params[f"note_{v}"]) for n, v in zip(VOICE_NOTES, VOICE_NAMES, strict=True)}
