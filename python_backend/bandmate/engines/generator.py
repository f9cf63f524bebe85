"""Base class of the MIDI generators (DrumNet, BassNet): bars of notes locked to the host transport.

The shell sends every hop of input audio together with the transport at the hop's first
sample (``specs.TRANSPORT_INPUTS``) and plays the reply's MIDI events K hops later, at
the same sample offsets, exactly like it plays processed audio: MIDI and the audio that
passes through stay aligned, and the reported latency covers both.

Timeline. While the transport plays at a constant tempo the engine keeps one *anchor*
(a stream sample and its beat position) and maps beats to stream samples from it in
double precision, so events land on the same sample whatever the host's block size. A
jump, a tempo change or a stop re-anchors; every sounding note gets its note-off first.

Bars. Bar ``k + 1`` is generated during bar ``k`` (``lookahead_beats`` before it starts),
from the features of bar ``k`` (its unheard tail filled with the same stretch of bar
``k - 1``: music repeats far more often than not) and of bar ``k - 1``. A bar that is
needed before it was generated (playback starts or jumps into it) is generated at once.
"""

from __future__ import annotations

import bisect
import functools
import logging
import math
import os
import time
from abc import abstractmethod
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bandmate.data.midi import MidiFile, note_events, tempo_event, timesig_event, write_midi
from bandmate.engines.base import Engine, EngineConfig
from bandmate.features import N_FEATURES, STEPS, bar_features
from bandmate.paths import capture_dir
from bandmate.specs import MIDI_EVENT_SLOTS

log = logging.getLogger("bandmate.generator")
_PREROLL_S = 0.064  # features need audio from before the bar start (see features.bar_features)
_JUMP_TOLERANCE_BEATS = 1e-3


@dataclass(frozen=True)
class Transport:
    playing: bool
    bar: int
    beat: float  # quarter notes since the bar's start
    tempo_bpm: float
    beats_per_bar: float

    @property
    def position(self) -> float:
        """Quarter notes since the song start."""
        return self.bar * self.beats_per_bar + self.beat

    @classmethod
    def from_values(cls, values: Mapping[str, float]) -> Transport:
        v = {k: float(values[k]) for k in ("playing", "bar", "beat", "tempo_bpm", "beats_per_bar")}
        ok = v["tempo_bpm"] > 0 and v["beats_per_bar"] > 0
        return cls(v["playing"] >= 0.5 and ok, int(round(v["bar"])), v["beat"], v["tempo_bpm"] if ok else 120.0,
                   v["beats_per_bar"] if ok else 4.0)


@dataclass(frozen=True)
class Note:
    """A generated note: start and length in quarter notes from the start of its bar."""

    start: float
    length: float
    note: int
    velocity: int
    channel: int  # 0-based (9 = GM drums)


@dataclass(frozen=True)
class MidiOut:
    offset: int  # sample in the hop
    status: int
    data1: int
    data2: int


@functools.cache
def _shared_model(model_class: type, path: str):
    """One onnxruntime session per model file and backend process, shared by every instance."""
    return model_class(path)


class GeneratorEngine(Engine):
    #: the runtime class (DrumNet, BassNet): ``model_class(path)``; its file is
    #: $``model_env`` or ``default_model``
    model_class: type | None = None
    model_env: str = ""
    default_model: Path | None = None
    #: a bar is generated this many quarter notes before it starts
    lookahead_beats: float = 1.0
    #: bars kept for Capture
    history_bars: int = 256
    #: Capture file names: <capture_name>-<date>-<time>.mid
    capture_name: str = "Generator"
    #: the timeline counts the samples it was sent (_follow): a dropped hop would look like a
    #: transport jump and force the bar to be generated again. Its hops are cheap but for one
    #: bar generation per bar, so a backlog clears by itself.
    skippable = False

    def __init__(self, config: EngineConfig, model_path: str | Path | None = None):
        super().__init__(config)
        if self.model_class is not None:
            path = model_path or os.environ.get(self.model_env) or self.default_model
            self.net = _shared_model(self.model_class, str(path))
        self._history = np.zeros(int(16 * self.sample_rate), np.float32)  # last 16 s, mono
        self._n_in = 0  # stream samples received
        self._anchor: tuple[int, float, float] | None = None  # (stream sample, beat, tempo)
        self._pending: list[tuple[int, int, int, int, int]] = []  # (sample, order, status, data1, data2)
        self._sounding: set[tuple[int, int]] = set()  # (channel, note)
        self._generated: set[int] = set()  # bars scheduled since the last re-anchor
        self.bars: OrderedDict[int, list[Note]] = OrderedDict()  # generated bars, for Capture
        self.tempo_bpm = 120.0
        self.beats_per_bar = 4.0
        self.bars_generated = 0
        self.notes_last_bar = 0
        self.captures = 0
        self._capture_armed = True

    # ------------------------------------------------------------------ subclass API
    @abstractmethod
    def generate_bar(self, bar: int, features_prev: np.ndarray, features_cur: np.ndarray,
                     params: Mapping[str, float]) -> list[Note]:
        """Notes of bar ``bar`` from (16, F) features of the previous and current bar."""

    def capture_program(self, params: Mapping[str, float]) -> int | None:
        """GM program written at the start of a Capture file (None: no program change)."""
        return None

    def meters(self, params: Mapping[str, float]) -> dict[str, float]:
        """Output parameters; also runs Capture on the ``capture`` parameter's rising edge
        (a button in the host), writing the last ``capture_bars`` bars."""
        if params.get("capture", 0.0) >= 0.5 and self._capture_armed:
            self._capture_armed = False
            try:
                path = self.write_capture(int(params["capture_bars"]), self.capture_name,
                                          self.capture_program(params))
                self.captures += 1
                log.info("captured %s", path)
            except (OSError, ValueError) as e:
                log.warning("capture failed: %s", e)
        elif params.get("capture", 0.0) < 0.5:
            self._capture_armed = True
        return {"bars_generated": float(self.bars_generated), "notes_last_bar": float(self.notes_last_bar),
                "captures": float(self.captures)}

    # ------------------------------------------------------------------ engine API
    def reset(self) -> None:
        self.__init__(self.config)

    def process(self, audio: np.ndarray, params: Mapping[str, float]) -> tuple[np.ndarray, dict[str, float]]:
        out, meters, _ = self.process_midi(audio, params)
        return out, meters

    def process_midi(self, audio: np.ndarray, params: Mapping[str, float]
                     ) -> tuple[np.ndarray, dict[str, float], list[MidiOut]]:
        """One hop: audio passes through; MIDI events for this hop's stretch of the timeline."""
        audio = np.asarray(audio, np.float32)
        transport = Transport.from_values(params)
        s0 = self._n_in
        self._append(audio)
        events: list[MidiOut] = []
        if not transport.playing:
            self._all_notes_off(events)
            self._anchor = None
        else:
            self._follow(transport, s0, events)
            self._schedule_bars(s0, params)
            self._emit(s0, events)
        return audio, self.meters(params), events

    # ------------------------------------------------------------------ timeline
    def _follow(self, tp: Transport, s0: int, events: list[MidiOut]) -> None:
        if self._anchor is not None:
            a_sample, a_beat, a_tempo = self._anchor
            expected = a_beat + (s0 - a_sample) * a_tempo / 60.0 / self.sample_rate
            if a_tempo == tp.tempo_bpm and tp.beats_per_bar == self.beats_per_bar and \
                    abs(expected - tp.position) < _JUMP_TOLERANCE_BEATS:
                return
        self._all_notes_off(events)
        self._anchor = (s0, tp.position, tp.tempo_bpm)
        self.tempo_bpm, self.beats_per_bar = tp.tempo_bpm, tp.beats_per_bar
        self._generated.clear()

    def sample_at(self, beat: float) -> float:
        a_sample, a_beat, tempo = self._anchor
        return a_sample + (beat - a_beat) * 60.0 / tempo * self.sample_rate

    def beat_at(self, sample: float) -> float:
        a_sample, a_beat, tempo = self._anchor
        return a_beat + (sample - a_sample) * tempo / 60.0 / self.sample_rate

    def _schedule_bars(self, s0: int, params: Mapping[str, float]) -> None:
        bpb = self.beats_per_bar
        first = math.floor(self.beat_at(s0) / bpb + 1e-9)
        last = math.floor((self.beat_at(s0 + self.hop) + self.lookahead_beats) / bpb + 1e-9)
        for bar in range(max(first, 0), last + 1):
            if bar not in self._generated:
                self._generated.add(bar)
                notes = self.generate_bar(bar, self.bar_features(bar - 1), self.bar_features(bar), params)
                self.bars_generated += 1
                self.notes_last_bar = len(notes)
                self._schedule(bar, notes)

    def _schedule(self, bar: int, notes: list[Note]) -> None:
        self.bars[bar] = notes
        self.bars.move_to_end(bar)
        while len(self.bars) > self.history_bars:
            self.bars.popitem(last=False)
        start = bar * self.beats_per_bar
        for n in notes:
            on = math.floor(self.sample_at(start + n.start) + 0.5)
            off = max(on + 1, math.floor(self.sample_at(start + n.start + n.length) + 0.5))
            # at equal samples: note-offs (order 0) before note-ons (order 1)
            bisect.insort(self._pending, (on, 1, 0x90 | n.channel, n.note, n.velocity))
            bisect.insort(self._pending, (off, 0, 0x80 | n.channel, n.note, 0))

    def _emit(self, s0: int, events: list[MidiOut]) -> None:
        end = s0 + self.hop
        k = bisect.bisect_left(self._pending, (end,))
        due, self._pending = self._pending[:k], self._pending[k:]
        for sample, _, status, d1, d2 in due:
            key = (status & 0x0F, d1)
            offset = min(max(sample - s0, 0), self.hop - 1)  # before s0: bar generated late
            if status & 0xF0 == 0x90:
                if len(events) >= MIDI_EVENT_SLOTS - 1:
                    continue  # no room for a note-off later in this hop: drop the note
                if key in self._sounding:  # retrigger: close the sounding note first
                    events.append(MidiOut(offset, 0x80 | key[0], d1, 0))
                self._sounding.add(key)
            elif key in self._sounding:
                self._sounding.discard(key)
            else:
                continue  # its note-on was dropped or already closed
            events.append(MidiOut(offset, status, d1, d2))
        if len(events) > MIDI_EVENT_SLOTS:  # only note-offs can overflow: they wait one hop
            for e in events[MIDI_EVENT_SLOTS:]:
                self._sounding.add((e.status & 0x0F, e.data1))
                bisect.insort(self._pending, (end, 0, e.status, e.data1, 0))
            del events[MIDI_EVENT_SLOTS:]

    def _all_notes_off(self, events: list[MidiOut]) -> None:
        for ch, note in sorted(self._sounding):
            events.append(MidiOut(0, 0x80 | ch, note, 0))
        self._sounding.clear()
        self._pending.clear()

    # ------------------------------------------------------------------ capture
    def capture_midi(self, n_bars: int, name: str, program: int | None = None) -> bytes:
        """The last ``n_bars`` generated bars as a type-0 SMF (bar 1 = the first of them).

        Bars that were never generated (a gap in playback) stay empty, so the file keeps the
        song's bar layout; every note-on has its note-off.
        """
        if not self.bars:
            raise ValueError("nothing generated yet: press play first")
        tpb = 480
        last = max(self.bars)
        first = max(last - int(n_bars) + 1, min(self.bars))
        bar_ticks = round(self.beats_per_bar * tpb)
        events = [tempo_event(0, self.tempo_bpm), timesig_event(0, max(1, round(self.beats_per_bar)), 4),
                  (0, b"\xff\x03" + name.encode())]
        if program is not None:
            events.append((0, bytes([0xC0, program & 0x7F])))
        for bar in range(first, last + 1):
            for n in self.bars.get(bar, []):
                tick = (bar - first) * bar_ticks + max(0, round(n.start * tpb))
                events += note_events(tick, max(1, round(n.length * tpb)), n.channel, n.note, n.velocity)
        events.append(((last - first + 1) * bar_ticks, b"\xff\x01end"))
        return write_midi(MidiFile(tpb, [events]))

    def write_capture(self, n_bars: int, name: str, program: int | None = None) -> Path:
        """Write :meth:`capture_midi` to the capture folder (XDG music dir / Bandmate)."""
        data = self.capture_midi(n_bars, name, program)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = capture_dir() / f"{name}-{stamp}.mid"
        k = 1
        while path.exists():
            k += 1
            path = capture_dir() / f"{name}-{stamp}-{k}.mid"
        path.write_bytes(data)
        return path

    # ------------------------------------------------------------------ audio history
    def _append(self, audio: np.ndarray) -> None:
        mono = audio.mean(axis=0) if audio.ndim == 2 else audio
        size = len(self._history)
        idx = (self._n_in + np.arange(len(mono))) % size  # ring buffer of the last 16 s
        self._history[idx] = mono
        self._n_in += len(mono)

    def _samples(self, idx: np.ndarray) -> np.ndarray:
        """Stream samples at ``idx``; unheard or forgotten ones are zeros."""
        ok = (idx >= max(self._n_in - len(self._history), 0)) & (idx < self._n_in)
        return np.where(ok, self._history[idx % len(self._history)], 0.0).astype(np.float32)

    def bar_features(self, bar: int) -> np.ndarray:
        """(16, F) features of ``bar``; its unheard tail is the same stretch of the bar before."""
        if bar < 0:
            return np.zeros((STEPS, N_FEATURES), np.float32)
        bpb = self.beats_per_bar
        pre = int(round(_PREROLL_S * self.sample_rate))
        a = math.floor(self.sample_at(bar * bpb) + 0.5) - pre
        b = math.floor(self.sample_at((bar + 1) * bpb) + 0.5)
        idx = np.arange(a, b)
        bar_len = b - a - pre
        unheard = idx >= self._n_in  # -> the same place as many bars earlier as needed
        idx[unheard] -= ((idx[unheard] - self._n_in) // bar_len + 1) * bar_len
        x = self._samples(idx)
        return bar_features(x, self.sample_rate, self.tempo_bpm * 4.0 / bpb, pre / self.sample_rate, 1)[0]
