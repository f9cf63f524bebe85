"""Audition: play generated MIDI through a GM soundfont (libfluidsynth, via ctypes), sample-accurately.

    synth = Auditioner(48000, program=33)            # GM finger bass, FluidR3_GM
    stereo = synth.render(1024, [(0, 0x90, 40, 100), (512, 0x80, 40, 0)])   # (2, 1024) float32

Events are (sample offset in the block, status, data1, data2), sorted by offset, the layout
of a generator's reply (``engines.generator.MidiOut``): the audio starts at exactly the
note-on's sample, so it stays in time with the MIDI that goes out. Reverb and chorus are off
(a dry, predictable signal). Needs ``libfluidsynth.so.3`` (Debian ``libfluidsynth3``) and a
GM soundfont (``fluid-soundfont-gm``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from pathlib import Path

import numpy as np

from bandmate.data.sources import SOUNDFONTS

DEFAULT_SOUNDFONT = SOUNDFONTS["FluidR3_GM"]
MAX_SYNTH_RATE = 96000  # fluidsynth's limit: faster rates render at 1/2 or 1/4 (samples held)
_CHANNELS = 16


@functools.cache
def _lib() -> ctypes.CDLL:
    name = ctypes.util.find_library("fluidsynth") or "libfluidsynth.so.3"
    try:
        lib = ctypes.CDLL(name)
    except OSError as e:
        raise FileNotFoundError(f"libfluidsynth not found ({e}); install it with: apt-get install libfluidsynth3") \
            from None
    p, i, d = ctypes.c_void_p, ctypes.c_int, ctypes.c_double
    sigs = {"new_fluid_settings": (p, []), "delete_fluid_settings": (None, [p]),
            "fluid_settings_setnum": (i, [p, ctypes.c_char_p, d]),
            "fluid_settings_setint": (i, [p, ctypes.c_char_p, i]),
            "new_fluid_synth": (p, [p]), "delete_fluid_synth": (None, [p]),
            "fluid_synth_sfload": (i, [p, ctypes.c_char_p, i]), "fluid_synth_program_select": (i, [p, i, i, i, i]),
            "fluid_synth_noteon": (i, [p, i, i, i]), "fluid_synth_noteoff": (i, [p, i, i]),
            "fluid_synth_all_notes_off": (i, [p, i]),
            "fluid_synth_write_float": (i, [p, i, p, i, i, p, i, i])}
    for fn, (res, args) in sigs.items():
        getattr(lib, fn).restype = res
        getattr(lib, fn).argtypes = args
    return lib


class Auditioner:
    """One fluidsynth instance at ``sample_rate`` playing GM ``program`` on every channel but 10."""

    def __init__(self, sample_rate: int, program: int = 33, soundfont: str | Path | None = None,
                 gain: float = 0.5):
        if not 8000 <= int(sample_rate) <= 4 * MAX_SYNTH_RATE:
            raise ValueError(f"sample rate {sample_rate} outside 8000..{4 * MAX_SYNTH_RATE}")
        path = Path(soundfont or DEFAULT_SOUNDFONT)
        if not path.is_file():
            raise FileNotFoundError(f"soundfont not found: {path} (apt-get install fluid-soundfont-gm)")
        self.sample_rate = int(sample_rate)
        self.factor = 1
        while self.sample_rate / self.factor > MAX_SYNTH_RATE:
            self.factor *= 2
        lib = self._lib = _lib()
        self._settings = lib.new_fluid_settings()
        lib.fluid_settings_setnum(self._settings, b"synth.sample-rate", float(self.sample_rate / self.factor))
        lib.fluid_settings_setnum(self._settings, b"synth.gain", float(gain))
        for key, value in ((b"synth.reverb.active", 0), (b"synth.chorus.active", 0),
                           (b"synth.dynamic-sample-loading", 1)):  # only the used presets' samples in memory
            lib.fluid_settings_setint(self._settings, key, value)
        self._synth = lib.new_fluid_synth(self._settings)
        if not self._synth:
            raise RuntimeError("fluidsynth: cannot create a synth")
        self._sfid = lib.fluid_synth_sfload(self._synth, str(path).encode(), 1)
        if self._sfid < 0:
            raise ValueError(f"fluidsynth cannot load the soundfont {path}")
        self.program = -1
        self.set_program(program)
        self._t = 0  # output samples rendered
        self._n_synth = 0  # synth samples rendered
        self._last = np.zeros(2, np.float32)  # the last synth sample

    def set_program(self, program: int) -> None:
        if not 0 <= int(program) <= 127:
            raise ValueError(f"GM program must be 0..127, got {program}")
        if int(program) != self.program:
            self.program = int(program)
            for ch in range(_CHANNELS):
                if ch != 9:
                    self._lib.fluid_synth_program_select(self._synth, ch, self._sfid, 0, self.program)

    def all_notes_off(self) -> None:
        for ch in range(_CHANNELS):
            self._lib.fluid_synth_all_notes_off(self._synth, ch)

    def render(self, frames: int, events=()) -> np.ndarray:
        """``frames`` samples of stereo audio (2, frames) float32 with note-on/off ``events``
        (offset, status, data1, data2) applied at their offsets (sorted; 0 <= offset < frames)."""
        out = np.zeros((2, frames), np.float32)
        pos = 0
        for offset, status, d1, d2 in (*events, (frames, 0, 0, 0)):
            offset = min(max(int(offset), pos), frames)
            self._write(out, pos, offset)
            pos = offset
            kind, ch = int(status) & 0xF0, int(status) & 0x0F
            if kind == 0x90 and d2 > 0:
                self._lib.fluid_synth_noteon(self._synth, ch, int(d1), int(d2))
            elif kind in (0x80, 0x90):
                self._lib.fluid_synth_noteoff(self._synth, ch, int(d1))
        self._t += frames
        return out

    def _write(self, out: np.ndarray, a: int, b: int) -> None:
        """Render output samples a..b-1 of this block; above 96 kHz each synth sample is held
        for ``factor`` output samples (an audition signal, not a master)."""
        if b <= a:
            return
        f = self.factor
        k = (self._t + np.arange(a, b)) // f  # synth sample of each output sample
        n = int(k[-1]) + 1 - self._n_synth
        buf = np.zeros((2, max(n, 0)), np.float32)
        if n > 0:
            ptr = buf.ctypes.data
            self._lib.fluid_synth_write_float(self._synth, n, ptr, 0, 1, ptr + 4 * n, 0, 1)
        knots = np.concatenate([self._last[:, None], buf], 1)  # knot 0 = synth sample _n_synth - 1
        out[:, a:b] = knots[:, k - (self._n_synth - 1)]
        self._n_synth += max(n, 0)
        self._last = knots[:, -1].copy()

    def close(self) -> None:
        if getattr(self, "_synth", None):
            self._lib.delete_fluid_synth(self._synth)
            self._lib.delete_fluid_settings(self._settings)
            self._synth = None

    def __del__(self):
        self.close()
