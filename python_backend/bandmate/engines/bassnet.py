"""BandmateBassNet's engine: BassNet bars on the host transport (see engines/generator.py).

Link group > 0: a bar is generated with the drums of the same bar from a DrumNet instance of
the group (its publication on the link board, engines/drumnet.py), else without drums. BassNet
generates half a beat before a bar starts, DrumNet a beat before, so DrumNet's bar is there.

Audition: the hop's MIDI is also played through a GM soundfont (bandmate.audition, program
from Timbre, level ``audition_gain_db``) at the same sample offsets as the events. "Audition
output" puts it on the plugin's second output bus (``self.aux``, spec "aux_outputs": the reply
carries it after the main channels), so the main output stays the untouched input; "Mixed into
main" adds it to the passed-through audio instead, for hosts that ignore a plugin's second bus.
The shell plays reply j in the same output hop as its MIDI, so the sound is in time with the
notes; a late reply fades the audition bus to silence (and the main output to the dry input)
like any other. Off: no synth, the input passes untouched and ``aux`` is silence."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from bandmate.audition import Auditioner
from bandmate.data.bass import drum_channels
from bandmate.data.drums import STEPS
from bandmate.engines.base import EngineConfig
from bandmate.engines.drumnet import DRUMS_CHANNEL
from bandmate.engines.generator import GeneratorEngine, MidiOut, Note
from bandmate.generators.bassnet import DEFAULT_MODEL, ENV_MODEL, BassControls, BassNet, program_for_timbre

AUDITION_OFF, AUDITION_BUS, AUDITION_MAIN = 0, 1, 2  # the Audition parameter's choices


class BassNetEngine(GeneratorEngine):
    name = "bassnet"
    capture_name = "BassNet"
    model_class, model_env, default_model = BassNet, ENV_MODEL, DEFAULT_MODEL
    lookahead_beats = 0.5  # after DrumNet's (1 beat): a linked DrumNet's bar is published by then

    def __init__(self, config: EngineConfig, model_path=None):
        super().__init__(config, model_path)
        self.drums_linked = False  # the last generated bar had a linked DrumNet's drums
        self._silence = np.zeros((2, self.hop), np.float32)
        self.aux = self._silence  # audition audio of the last hop (read-only)
        self._synth: Auditioner | None = None  # created when audition is first switched on

    def process_midi(self, audio: np.ndarray, params: Mapping[str, float]
                     ) -> tuple[np.ndarray, dict[str, float], list[MidiOut]]:
        out, meters, events = super().process_midi(audio, params)
        mode = int(params["audition"])
        if mode != AUDITION_OFF:
            if self._synth is None:
                self._synth = Auditioner(self.sample_rate)
            self._synth.set_program(program_for_timbre(params["timbre"]))
            gain = 10.0 ** (params["audition_gain_db"] / 20.0)
            sound = gain * self._synth.render(self.hop, [(e.offset, e.status, e.data1, e.data2) for e in events])
            if mode == AUDITION_BUS:
                self.aux = sound
            else:
                self.aux = self._silence
                out = out + (sound if out.shape[0] == 2 else sound.mean(0, keepdims=True))
        else:
            if self._synth is not None:  # switched off: silence now, a fresh synth next time
                self._synth.close()
                self._synth = None
            self.aux = self._silence
        return out, meters, events

    def linked_drums(self, bar: int, params: Mapping[str, float]) -> np.ndarray | None:
        """(16, 3) drum input of ``bar`` from the link group's DrumNet, None if there is none."""
        group, board = int(params["link_group"]), self.config.links
        pub = board.read(DRUMS_CHANNEL, group, self.config.identity) if board is not None and group > 0 else None
        grid = None if pub is None else pub.data.get(bar)
        return None if grid is None else drum_channels(grid)

    def generate_bar(self, bar: int, features_prev: np.ndarray, features_cur: np.ndarray,
                     params: Mapping[str, float]) -> list[Note]:
        controls = BassControls.from_params(params)
        seed = int(params["style_seed"]) * 100_003 + bar  # deterministic per (style, bar)
        step_beats = self.beats_per_bar / STEPS
        channel = int(params["midi_channel"]) - 1
        drums = self.linked_drums(bar, params)
        self.drums_linked = drums is not None
        # A bar's last note may not ring past the bar: the next bar is written separately.
        return [Note(start=max(0.0, (n.step + n.offset) * step_beats),
                     length=min(n.length, STEPS - n.step) * step_beats, note=n.pitch, velocity=n.velocity,
                     channel=channel)
                for n in self.net.generate(features_prev, features_cur, controls, seed, bar=bar, drums=drums)]

    def meters(self, params: Mapping[str, float]) -> dict[str, float]:
        return super().meters(params) | {"drums_linked": float(self.drums_linked)}

    def capture_program(self, params: Mapping[str, float]) -> int | None:
        return program_for_timbre(params["timbre"])
