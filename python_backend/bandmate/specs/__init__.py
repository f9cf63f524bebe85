"""Plugin parameter declarations.

Each plugin is declared once, in ``specs/<name>.json``: stable string IDs, ranges,
units, smoothing, hop and engine latency. The same file is turned into a C++ header
by ``cpp_shim/tools/gen_plugin.py`` at build time and read here by the Python engines,
so the shell and the engine can never disagree about a parameter.

Parameter *order* is the host-facing index (VST3/CLAP param id): it is frozen in
``ids.lock.json``; new parameters may only be appended.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources

# Parameters and outputs every plugin gets from the shared shell, appended after the
# plugin's own (so a plugin's own indices never move when the shell grows).
SHELL_PARAMS = (
    {"id": "deterministic", "name": "Deterministic", "min": 0, "max": 1, "default": 0, "type": "bool"},
)
SHELL_OUTPUTS = (
    {"id": "late_blocks", "name": "Late blocks", "min": 0, "max": 1e9, "default": 0, "type": "int"},
    {"id": "backend_connected", "name": "Backend connected", "min": 0, "max": 1, "default": 0, "type": "bool"},
)

# Generator plugins (kind "generator") and specs with "transport": true (link effects that pair
# instances on the host timeline) append the host transport at the start of each hop to every
# request's values, after the parameters (BandmatePlugin::sendInputHop). The transport's frame
# position (samples; -1 while stopped) is sent exactly as frame_hi * 2^24 + frame_lo (float32 holds
# integers only up to 2^24); FRAME_SPLIT is 2^24.
TRANSPORT_INPUTS = ("playing", "bar", "beat", "tempo_bpm", "beats_per_bar", "frame_hi", "frame_lo")
FRAME_SPLIT = 1 << 24
# ... and their replies carry MIDI after the meters: a count, then MIDI_EVENT_SLOTS events of
# 4 floats (sample offset in the hop, status, data1, data2), sorted by offset.
MIDI_EVENT_SLOTS = 64
MIDI_EVENT_FLOATS = 4

MIN_SAMPLE_RATE = 44100
MAX_SAMPLE_RATE = 192000


def rate_factor(sample_rate: int) -> int:
    """Hops and latencies scale by this power of two: 1 up to 48 kHz, 2 at 88.2/96, 4 at 176.4/192."""
    factor = 1
    while sample_rate >= 88200 * factor:
        factor *= 2
    return factor


@dataclass(frozen=True)
class ParamSpec:
    id: str
    name: str
    min: float
    max: float
    default: float
    unit: str = ""
    type: str = "float"  # float | bool | int | choice
    smoothing_ms: float = 0.0
    choices: tuple[str, ...] = ()

    def clamp(self, value: float) -> float:
        v = min(max(float(value), self.min), self.max)
        if self.type in ("bool", "int", "choice"):
            v = float(round(v))
        return v

    def normalize(self, value: float) -> float:
        """Plain value -> 0..1 (the host-facing normalised range)."""
        span = self.max - self.min
        return 0.0 if span == 0 else (self.clamp(value) - self.min) / span

    def denormalize(self, norm: float) -> float:
        return self.clamp(self.min + min(max(norm, 0.0), 1.0) * (self.max - self.min))


@dataclass(frozen=True)
class PluginSpec:
    name: str
    clap_id: str
    engine: str
    kind: str  # "effect" (fallback: latency-aligned dry) | "generator" (fallback: silence)
    description: str
    hop_at_48k: int
    engine_latency_at_48k: int
    params: tuple[ParamSpec, ...]
    outputs: tuple[ParamSpec, ...]
    midi_out: bool = False
    extra: Mapping[str, object] = field(default_factory=dict)

    @property
    def plugin_name(self) -> str:
        return f"Bandmate{self.name}"

    def rate_factor(self, sample_rate: int) -> int:
        """Hop and engine latency scale by a power of two with the sample rate."""
        if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
            raise ValueError(
                f"{self.plugin_name}: sample rate {sample_rate} Hz is outside "
                f"{MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz"
            )
        return rate_factor(sample_rate)

    def mode(self, params: Mapping[str, float] | None = None) -> dict:
        """Hop and engine latency for the mode chosen at activation.

        A spec may declare ``"mode_param": "quality"`` and ``"modes": {"0": {"hop_at_48k": ..,
        "engine_latency_at_48k": ..}, ...}``: the value of that parameter *at activation*
        picks hop and latency (latency never changes while active).
        """
        base = {"hop_at_48k": self.hop_at_48k, "engine_latency_at_48k": self.engine_latency_at_48k}
        mode_param = self.extra.get("mode_param")
        if not mode_param:
            return base
        value = (params or {}).get(mode_param, self.param(mode_param).default)
        return base | dict(self.extra["modes"][str(int(round(value)))])

    def hop(self, sample_rate: int, params: Mapping[str, float] | None = None) -> int:
        return int(self.mode(params)["hop_at_48k"]) * self.rate_factor(sample_rate)

    def engine_latency(self, sample_rate: int, params: Mapping[str, float] | None = None) -> int:
        return int(self.mode(params)["engine_latency_at_48k"]) * self.rate_factor(sample_rate)

    def fade(self, sample_rate: int, params: Mapping[str, float] | None = None) -> int:
        """Crossfade length of the shell's fallback transitions: min(5 ms, hop)."""
        return max(1, min(self.hop(sample_rate, params), round(0.005 * sample_rate)))

    def plugin_latency(self, sample_rate: int, max_block: int, params: Mapping[str, float] | None = None) -> int:
        """Latency the plugin reports: engine latency + K hops of headroom (BandmatePlugin.hpp)."""
        hop = self.hop(sample_rate, params)
        k = 1 + -(-(max(1, max_block) + self.fade(sample_rate, params)) // hop)
        return self.engine_latency(sample_rate, params) + k * hop

    def string_defaults(self) -> dict[str, str]:
        """Spec-declared string state (``"strings": [{"id", "name", "default"}]``): saved with the
        plugin state by the shell and sent to the engine in CONFIGURE messages (PROTOCOL.md)."""
        return {str(s["id"]): str(s.get("default", "")) for s in self.extra.get("strings", ())}

    def param(self, pid: str) -> ParamSpec:
        for p in self.params:
            if p.id == pid:
                return p
        raise KeyError(f"{self.plugin_name} has no parameter {pid!r}")

    @property
    def generator(self) -> bool:
        return self.kind == "generator"

    @property
    def transport(self) -> bool:
        """Requests carry the host transport (TRANSPORT_INPUTS): generators, and specs with "transport": true."""
        return self.generator or bool(self.extra.get("transport", False))

    @property
    def sidechain(self) -> bool:
        """Spec "sidechain": true: a sidechain input as wide as the main one. Requests then carry
        the main channels followed by the sidechain channels (PROTOCOL.md); replies the main ones."""
        return bool(self.extra.get("sidechain", False))

    @property
    def aux_outputs(self) -> int:
        """Spec "aux_outputs": channels of a second output bus (e.g. BassNet's audition). Replies
        then carry the main channels followed by these (PROTOCOL.md); the engine's ``aux``."""
        return int(self.extra.get("aux_outputs", 0))

    @property
    def wire_inputs(self) -> int:
        """Float values in a request: the parameters, then the transport (``transport``)."""
        return len(self.params) + (len(TRANSPORT_INPUTS) if self.transport else 0)

    @property
    def wire_outputs(self) -> int:
        """Float values in a reply: the engine's meters, then the MIDI block for generators."""
        midi = 1 + MIDI_EVENT_SLOTS * MIDI_EVENT_FLOATS if self.generator else 0
        return len(self.engine_outputs) + midi

    @property
    def engine_outputs(self) -> tuple[ParamSpec, ...]:
        """Outputs the engine computes (sent in replies); the shell computes the rest."""
        shell = {p["id"] for p in SHELL_OUTPUTS}
        return tuple(p for p in self.outputs if p.id not in shell)

    def defaults(self) -> dict[str, float]:
        return {p.id: p.default for p in self.params}

    def values_from_list(self, values) -> dict[str, float]:
        """Wire order (spec order) -> {id: clamped value}; missing tail -> defaults."""
        out = {}
        for i, p in enumerate(self.params):
            out[p.id] = p.clamp(values[i]) if i < len(values) else p.default
        return out


def _param(d: Mapping) -> ParamSpec:
    d = dict(d)
    d["choices"] = tuple(d.get("choices", ()))
    return ParamSpec(**d)


def host_order(spec: PluginSpec) -> list[str]:
    """All parameter IDs (inputs and outputs) in host index order.

    The order is frozen in ``ids.lock.json``: shipped IDs keep their index forever; IDs not
    yet in the lock follow, in declaration order (``tests/test_specs.py`` insists that new
    IDs get added to the lock).
    """
    locked = list(id_lock().get(spec.name, ()))
    return locked + [p.id for p in spec.params + spec.outputs if p.id not in locked]


@functools.lru_cache(maxsize=1)
def id_lock() -> dict[str, list[str]]:
    return json.loads(resources.files(__package__).joinpath("ids.lock.json").read_text())


def parse_spec(data: Mapping) -> PluginSpec:
    known = {f for f in PluginSpec.__dataclass_fields__} - {"params", "outputs", "extra"}
    params = tuple(_param(p) for p in data["params"]) + tuple(_param(p) for p in SHELL_PARAMS)
    outputs = tuple(_param(p) for p in data.get("outputs", ())) + tuple(_param(p) for p in SHELL_OUTPUTS)
    # Wire order (the order of values in a request / reply) is host index order.
    locked = id_lock().get(data["name"], [])
    rank = {pid: i for i, pid in enumerate(locked)}
    params = tuple(sorted(params, key=lambda p: rank.get(p.id, len(rank))))
    outputs = tuple(sorted(outputs, key=lambda p: rank.get(p.id, len(rank))))
    kwargs = {k: data[k] for k in known if k in data}
    extra = {k: v for k, v in data.items() if k not in known and k not in ("params", "outputs")}
    spec = PluginSpec(params=params, outputs=outputs, extra=extra, **kwargs)
    ids = [p.id for p in spec.params + spec.outputs]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{spec.plugin_name}: duplicate parameter ids")
    return spec


@functools.cache
def load_spec(name: str) -> PluginSpec:
    """Load by engine name (``reference``) or plugin name (``Reference``/``BandmateReference``)."""
    key = name.removeprefix("Bandmate").lower()
    for spec in all_specs():
        if key in (spec.engine, spec.name.lower()):
            return spec
    raise KeyError(f"unknown Bandmate plugin {name!r}")


@functools.lru_cache(maxsize=1)
def _all_specs() -> tuple[PluginSpec, ...]:
    files = sorted(
        f for f in resources.files(__package__).iterdir() if f.name.endswith(".json") and not f.name.startswith("ids.")
    )
    return tuple(parse_spec(json.loads(f.read_text())) for f in files)


def all_specs() -> list[PluginSpec]:
    """Every plugin's spec (parsed once per process: the backend looks them up per message)."""
    return list(_all_specs())
