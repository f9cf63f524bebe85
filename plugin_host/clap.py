"""CLAP test host (Python API over the C++ core in plugin_host._clap).

Threading: the Python thread that creates a ClapPlugin is its CLAP main thread; call
its methods from that thread only. process(), reset(), start/stop_processing and
params.flush while active run on a host-owned audio thread (one per call, the caller
blocks with the GIL released), so the plugin's thread-check sees a real main/audio split.
Wrong-thread or wrong-time host callbacks land in ``violations``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from . import _clap
from .datatypes import (
    CLAP_CORE_EVENT_SPACE_ID,
    AudioPortInfo,
    HostCall,
    MidiEvent,
    NotePortInfo,
    PacedStats,
    ParamInfo,
    PluginInfo,
    ProcessResult,
    Transport,
    percentiles,
)

DEFAULT_EXTENSIONS: tuple[str, ...] = (
    "latency", "params", "state", "thread-check", "log", "audio-ports", "note-ports",
)
BlockSpec = int | Literal["random"] | Sequence[int]


def _plugin_info(d: dict) -> PluginInfo:
    return PluginInfo(d["id"], d["name"], d["vendor"], d["version"], tuple(d["features"]), d["description"], d["url"])


def list_plugins(path: str) -> list[PluginInfo]:
    """Descriptors of every plugin in a .clap file."""
    return [_plugin_info(d) for d in _clap.list_plugins(str(path))]


def python_name(name: str) -> str:
    """pedalboard-style parameter name: 'Note period' -> 'note_period'."""
    out = "".join(c.lower() if c.isalnum() else "_" for c in name).strip("_")
    while "__" in out:
        out = out.replace("__", "_")
    return out


def block_schedule(frames: int, block_size: BlockSpec, min_block: int, max_block: int, seed: int = 0) -> list[int]:
    """Block sizes covering `frames`: fixed size, "random" (uniform in [min_block, max_block]) or explicit."""
    if isinstance(block_size, str):
        if block_size != "random":
            raise ValueError(f"block_size must be an int, 'random' or a list, not {block_size!r}")
        rng = np.random.default_rng(seed)
        sizes: list[int] = []
        left = frames
        while left > 0:
            n = min(int(rng.integers(min_block, max_block + 1)), left)
            sizes.append(n)
            left -= n
        return sizes
    if isinstance(block_size, int):
        if not 1 <= block_size <= max_block:
            raise ValueError(f"block_size {block_size} outside [1, max_block={max_block}]")
        return [block_size] * (frames // block_size) + ([frames % block_size] if frames % block_size else [])
    sizes = [int(b) for b in block_size]
    if sum(sizes) != frames:
        raise ValueError("explicit block sizes must sum to the number of frames")
    return sizes


class ClapPlugin:
    """One CLAP plugin instance in a test host exposing the chosen host `extensions`."""

    format = "clap"
    capabilities = frozenset({"midi_out", "random_split", "transport", "sample_offset", "state_chunks", "threads"})

    def __init__(self, path: str, plugin_id: str | None = None, extensions: Iterable[str] = DEFAULT_EXTENSIONS):
        self.path = str(path)
        self.extensions = tuple(extensions)
        self._host = _clap.Host(self.path, plugin_id or "", list(self.extensions))
        self.info = _plugin_info(self._host.descriptor)
        self._sample_rate = 0.0
        self._min_block = 1
        self._max_block = 0
        self._params_cache: list[ParamInfo] | None = None

    @staticmethod
    def create_raw(path: str, plugin_id: str) -> bool:
        """True if the factory's create_plugin() returns an instance for this exact id."""
        return _clap.probe_create(str(path), plugin_id)

    def close(self) -> None:
        """Deactivates (stop_processing first) and destroys the instance."""
        self._host = None

    def __enter__(self) -> ClapPlugin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def has_extension(self, name: str) -> bool:
        """Whether the plugin implements an extension ("params", "clap.latency", ...)."""
        return self._host.has_plugin_extension(name)

    # ------------------------------------------------------------------ params
    @property
    def parameters(self) -> list[ParamInfo]:
        self._params_cache = [ParamInfo(i, n, m, lo, hi, d, f) for (i, f, n, m, lo, hi, d) in self._host.params()]
        return list(self._params_cache)

    def param_info(self, id_or_name: int | str) -> ParamInfo:
        params = self._params_cache if self._params_cache is not None else self.parameters
        for attempt in (0, 1):
            for p in params:
                if isinstance(id_or_name, int):
                    if p.id == id_or_name:
                        return p
                elif id_or_name in (p.name, python_name(p.name)) or id_or_name.lower() == p.name.lower():
                    return p
            if attempt == 0:
                params = self.parameters  # params may have been rescanned
        raise KeyError(f"no parameter {id_or_name!r} in {self.info.id}")

    def get_param(self, id_or_name: int | str) -> float:
        """Current value from params.get_value (queued set_param values arrive at the next process/flush)."""
        value = self._host.get_param(self.param_info(id_or_name).id)
        if value is None:
            raise RuntimeError(f"params.get_value failed for {id_or_name!r}")
        return value

    def set_param(self, id_or_name: int | str, value: float | str, sample_offset: int = 0,
                  space_id: int = CLAP_CORE_EVENT_SPACE_ID) -> None:
        """Queues a CLAP param-value event at `sample_offset` samples into the next process() call
        (later calls if the offset is beyond it). While inactive it is sent at once via params.flush."""
        info = self.param_info(id_or_name)
        if isinstance(value, str):
            value = self.text_to_value(info.id, value)
        self._host.queue_param(info.id, float(value), int(sample_offset), int(space_id))
        if not self._host.active:
            self._host.flush_params()

    def flush_params(self) -> None:
        """Sends queued parameter events now through params.flush (audio thread while active)."""
        self._host.flush_params()

    def value_to_text(self, id_or_name: int | str, value: float) -> str | None:
        return self._host.value_to_text(self.param_info(id_or_name).id, float(value))

    def text_to_value(self, id_or_name: int | str, text: str) -> float:
        value = self._host.text_to_value(self.param_info(id_or_name).id, text)
        if value is None:
            raise ValueError(f"plugin cannot parse {text!r} for {id_or_name!r}")
        return value

    @property
    def output_params(self) -> dict[str, float]:
        """Latest value of every read-only (output) parameter, by name: from the plugin's
        out_events when it sent any, else from params.get_value."""
        seen = self._host.output_params
        out = {}
        for p in self.parameters:
            if p.is_readonly:
                out[p.name] = seen[p.id] if p.id in seen else self._host.get_param(p.id)
        return out

    # --------------------------------------------------------------- lifecycle
    def activate(self, sample_rate: float, max_block: int = 8192, min_block: int = 1) -> bool:
        ok = self._host.activate(float(sample_rate), int(min_block), int(max_block))
        if ok:
            self._sample_rate, self._min_block, self._max_block = float(sample_rate), int(min_block), int(max_block)
        return ok

    def deactivate(self) -> None:
        self._host.deactivate()

    def reset(self) -> None:
        self._host.reset()

    @property
    def is_active(self) -> bool:
        return self._host.active

    @property
    def sample_rate(self) -> float:
        return self._sample_rate

    @property
    def latency(self) -> int:
        """latency.get(); 0 for plugins without the latency extension."""
        return self._host.latency()

    def idle(self, restart: bool = False) -> list[str]:
        """Main-loop tick: runs on_main_thread() if requested and, with restart=True, performs a
        requested restart (deactivate + activate). Returns what was done."""
        return list(self._host.idle(restart))

    @property
    def restart_requested(self) -> bool:
        return self._host.restart_requested

    # ------------------------------------------------------------------ state
    def save_state(self, chunk: int | None = None) -> bytes:
        """state.save; the host's ostream takes at most `chunk` bytes per write call when given."""
        data = self._host.save_state(int(chunk or 0))
        if data is None:
            raise RuntimeError("plugin state.save returned false")
        return data

    def load_state(self, data: bytes, chunk: int | None = None) -> bool:
        """state.load; the host's istream returns at most `chunk` bytes per read call when given."""
        return self._host.load_state(bytes(data), int(chunk or 0))

    # ------------------------------------------------------------------ ports
    @property
    def audio_inputs(self) -> list[AudioPortInfo]:
        return [AudioPortInfo(*p) for p in self._host.audio_ports(True)]

    @property
    def audio_outputs(self) -> list[AudioPortInfo]:
        return [AudioPortInfo(*p) for p in self._host.audio_ports(False)]

    @property
    def note_inputs(self) -> list[NotePortInfo]:
        return [NotePortInfo(*p) for p in self._host.note_ports(True)]

    @property
    def note_outputs(self) -> list[NotePortInfo]:
        return [NotePortInfo(*p) for p in self._host.note_ports(False)]

    # -------------------------------------------------------------- transport
    @property
    def transport(self) -> Transport | None:
        enabled, tempo, num, den, playing, beats = self._host.get_transport()
        return Transport(tempo, num, den, playing, beats) if enabled else None

    def set_transport(self, transport: Transport | None) -> None:
        t = transport or Transport()
        self._host.set_transport(transport is not None, t.tempo, t.numerator, t.denominator, t.playing,
                                 t.position_beats)

    # ---------------------------------------------------------------- process
    def process(self, audio: np.ndarray | None, block_size: BlockSpec = 512, seed: int = 0,
                midi_in: Iterable[MidiEvent] = (), transport: Transport | None = None,
                frames: int | None = None, aux_in: Sequence[np.ndarray] = ()) -> ProcessResult:
        """Processes `audio` (channels, n) in blocks (fixed, "random" in [min_block, max_block] drawn
        from `seed`, or an explicit list). midi_in offsets are absolute within this call. A given
        `transport` (re)positions the host transport, which then advances across calls.
        audio=None with frames=n processes n frames without input (instruments).
        aux_in: audio (channels, n) for the input ports after the main one (e.g. a sidechain), in
        port order; ports not given get silence. Outputs after the main one: ProcessResult.aux_audio."""
        if not self._host.active:
            raise RuntimeError("activate() the plugin before process()")
        if audio is not None:
            audio = np.asarray(audio, dtype=np.float32)
            if audio.ndim == 1:
                audio = audio[None, :]
            frames = audio.shape[1]
        if frames is None:
            raise ValueError("give audio or frames")
        blocks = block_schedule(frames, block_size, self._min_block, self._max_block, seed)
        if transport is not None:
            self.set_transport(transport)
        midi = sorted(((int(e.offset), bytes(e.data)) for e in midi_in), key=lambda m: m[0])
        aux = [np.asarray(a, dtype=np.float32) for a in aux_in]
        out, midi_out, param_out, statuses, aux_out = self._host.process(audio, frames, blocks, midi, aux)
        self._host.idle(False)  # service request_callback like a host main loop would
        return ProcessResult(
            audio=out, param_out=[tuple(p) for p in param_out], statuses=list(statuses), block_sizes=blocks,
            aux_audio=list(aux_out),
            _midi_out=[MidiEvent(o, d) for o, d in midi_out],
        )

    def process_paced(self, seconds: float, block: int = 512, **kw: object) -> PacedStats:
        return paced_run([self], seconds, block, **kw)

    # -------------------------------------------------------------- recording
    @property
    def violations(self) -> list[str]:
        return list(self._host.violations())

    @property
    def host_calls(self) -> list[HostCall]:
        return [HostCall(*c) for c in self._host.calls()]

    @property
    def logs(self) -> list[tuple[int, str, str]]:
        """(severity, message, thread) of every clap.log call."""
        return [tuple(entry) for entry in self._host.logs()]

    @property
    def extension_queries(self) -> list[str]:
        """Host extension ids the plugin asked for, in order (whether or not exposed)."""
        return list(self._host.extension_queries())


def paced_run(plugins: Sequence[ClapPlugin], seconds: float, block: int = 512, rt_priority: bool = False,
              noise_level: float = 0.1, input_audio: np.ndarray | None = None) -> PacedStats:
    """Processes `plugins` (active, same sample rate) one after another every block period at
    wall-clock rate on one audio thread, like a DAW with len(plugins) tracks. The loop runs in
    C++ with the GIL released. Inputs get white noise, or `input_audio` (channels, frames), looped;
    output events are counted only."""
    return _paced(plugins, seconds, block, rt_priority, noise_level, input_audio, ()).stats


@dataclass
class PacedRecording:
    """A paced run whose outputs were kept (see paced_record)."""

    stats: PacedStats
    block_times_s: np.ndarray  # wake-up of each period on time.monotonic()'s clock (CLOCK_MONOTONIC)
    period_cpu_s: np.ndarray   # audio-thread CPU time of each period's work (preemption excluded; on a VM
                               # guest without steal accounting, time the vCPU was stolen is included)
    period_sys_s: np.ndarray   # ... of which in the kernel
    period_faults: np.ndarray  # page faults of the audio thread in each period's work
    wake_late_s: np.ndarray    # per period: wake-up minus scheduled start
    period_work_s: np.ndarray  # per period: wall time of all plugins' process() calls
                               # (overrun where wake_late_s + period_work_s > stats.period_s)
    outputs: list[np.ndarray]  # main output (channels, blocks * block) of each recorded plugin
    process_errors: int        # process() calls that returned CLAP_PROCESS_ERROR


def paced_record(plugins: Sequence[ClapPlugin], seconds: float, block: int = 512, record: Sequence[int] = (0,),
                 input_audio: np.ndarray | None = None, rt_priority: bool = False,
                 noise_level: float = 0.1) -> PacedRecording:
    """paced_run that also returns the main outputs of plugins[i] for i in `record` (copied outside the
    timed work) and each period's wall-clock time, so output samples can be lined up with events
    (e.g. a backend kill) made by another Python thread meanwhile (the GIL is released)."""
    return _paced(plugins, seconds, block, rt_priority, noise_level, input_audio, record)


def _paced(plugins: Sequence[ClapPlugin], seconds: float, block: int, rt_priority: bool, noise_level: float,
           input_audio: np.ndarray | None, record: Sequence[int]) -> PacedRecording:
    if input_audio is not None:
        input_audio = np.ascontiguousarray(np.atleast_2d(input_audio), dtype=np.float32)
    r = _clap.paced_run([p._host for p in plugins], float(seconds), int(block), bool(rt_priority),
                        float(noise_level), input_audio, [int(i) for i in record])
    period = r["period"]
    durations = np.asarray(r["durations"])
    total = percentiles(np.asarray(r["period_durations"]), period)
    stats = PacedStats(
        blocks=int(r["blocks"]), overruns=int(r["overruns"]), period_s=period,
        p50=total["p50"], p99=total["p99"], max=total["max"],
        per_plugin=[percentiles(durations[:, i], period) for i in range(durations.shape[1])],
        wake_late_max_s=float(np.max(r["wake_late"])) if r["blocks"] else 0.0,
        rt_priority=bool(r["rt_priority"]), out_events=int(r["out_events"]), durations_s=durations,
    )
    return PacedRecording(stats, np.asarray(r["block_times"]), np.asarray(r["period_cpu"]),
                          np.asarray(r["period_sys"]), np.asarray(r["period_faults"]), np.asarray(r["wake_late"]),
                          np.asarray(r["period_durations"]), list(r["recorded"]), int(r["process_errors"]))
