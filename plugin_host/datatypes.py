"""Data types shared by the CLAP host and the pedalboard-backed VST3 wrapper."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CLAP_CORE_EVENT_SPACE_ID = 0

# clap_param_info flags (CLAP 1.1)
PARAM_IS_STEPPED = 1 << 0
PARAM_IS_PERIODIC = 1 << 1
PARAM_IS_HIDDEN = 1 << 2
PARAM_IS_READONLY = 1 << 3
PARAM_IS_BYPASS = 1 << 4
PARAM_IS_AUTOMATABLE = 1 << 5
PARAM_IS_MODULATABLE = 1 << 10
PARAM_REQUIRES_PROCESS = 1 << 15


@dataclass(frozen=True)
class PluginInfo:
    id: str
    name: str
    vendor: str
    version: str
    features: tuple[str, ...] = ()
    description: str = ""
    url: str = ""


@dataclass(frozen=True)
class ParamInfo:
    id: int
    name: str
    module: str
    min_value: float
    max_value: float
    default_value: float
    flags: int = 0

    @property
    def is_readonly(self) -> bool:
        return bool(self.flags & PARAM_IS_READONLY)

    is_output = is_readonly  # CLAP output (meter) params are the read-only ones

    @property
    def is_stepped(self) -> bool:
        return bool(self.flags & PARAM_IS_STEPPED)

    @property
    def is_hidden(self) -> bool:
        return bool(self.flags & PARAM_IS_HIDDEN)

    @property
    def is_bypass(self) -> bool:
        return bool(self.flags & PARAM_IS_BYPASS)

    @property
    def is_automatable(self) -> bool:
        return bool(self.flags & PARAM_IS_AUTOMATABLE)


@dataclass(frozen=True)
class MidiEvent:
    """A MIDI message at an absolute sample offset within one process() call."""

    offset: int
    data: bytes

    @property
    def status(self) -> int:
        return self.data[0] & 0xF0

    @property
    def is_note_on(self) -> bool:
        return self.status == 0x90 and len(self.data) > 2 and self.data[2] > 0

    @property
    def is_note_off(self) -> bool:
        return self.status == 0x80 or (self.status == 0x90 and len(self.data) > 2 and self.data[2] == 0)


@dataclass
class Transport:
    """Host transport given to the plugin (clap_event_transport) for every block.

    position_beats is the song position at the first sample of the next process() call;
    the host advances it per block while playing."""

    tempo: float = 120.0
    numerator: int = 4
    denominator: int = 4
    playing: bool = True
    position_beats: float = 0.0

    @property
    def bar_length_beats(self) -> float:
        return self.numerator * 4.0 / self.denominator


@dataclass(frozen=True)
class AudioPortInfo:
    id: int
    name: str
    flags: int
    channels: int
    port_type: str
    in_place_pair: int


@dataclass(frozen=True)
class NotePortInfo:
    id: int
    name: str
    supported_dialects: int
    preferred_dialect: int


@dataclass(frozen=True)
class HostCall:
    """A plugin-to-host callback: name, thread ("main"/"audio"/"other"), host phase at the time."""

    name: str
    thread: str
    phase: str


@dataclass
class ProcessResult:
    audio: np.ndarray  # (out_channels, frames) float32
    param_out: list[tuple[int, int, float]] = field(default_factory=list)  # (offset, param id, value)
    statuses: list[int] = field(default_factory=list)  # clap_process_status per block
    block_sizes: list[int] = field(default_factory=list)
    latency_compensated: bool = False  # True where the host (pedalboard) already removed the latency
    aux_audio: list[np.ndarray] = field(default_factory=list)  # output ports after the main one
    _midi_out: list[MidiEvent] | None = None

    @property
    def midi_out(self) -> list[MidiEvent]:
        if self._midi_out is None:
            raise NotImplementedError("this host cannot capture plugin MIDI output (pedalboard discards it)")
        return self._midi_out


@dataclass
class PacedStats:
    """Wall-clock paced run. Times are fractions of one block's duration (1.0 = the whole budget)."""

    blocks: int
    overruns: int
    period_s: float
    p50: float
    p99: float
    max: float
    per_plugin: list[dict[str, float]]  # {"p50","p99","max"} per plugin, same units
    wake_late_max_s: float
    rt_priority: bool
    out_events: int
    durations_s: np.ndarray  # (blocks, plugins) seconds per process() call


def percentiles(x: np.ndarray, period: float) -> dict[str, float]:
    if x.size == 0:
        return {"p50": 0.0, "p99": 0.0, "max": 0.0}
    return {
        "p50": float(np.percentile(x, 50) / period),
        "p99": float(np.percentile(x, 99) / period),
        "max": float(np.max(x) / period),
    }
