"""VST3 plugins through pedalboard, behind the same API as plugin_host.clap.ClapPlugin.

pedalboard limits what can be done (see /work/shared/NOTES.md): no sample offsets for
parameter changes, no random block split, no transport, plugin MIDI output discarded,
latency compensated by pedalboard itself, no control over state streams. Those raise
NotImplementedError; ``capabilities`` says what is supported.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .clap import BlockSpec, python_name
from .datatypes import (
    PARAM_IS_AUTOMATABLE,
    PARAM_IS_STEPPED,
    MidiEvent,
    ParamInfo,
    PluginInfo,
    ProcessResult,
    Transport,
)


class Vst3Plugin:
    format = "vst3"
    capabilities = frozenset({"midi_in_instruments"})

    def __init__(self, path: str, plugin_name: str | None = None):
        import pedalboard  # imported lazily: loading pedalboard is slow and CLAP-only users do not need it

        self.path = str(path)
        self._plugin: Any = pedalboard.load_plugin(self.path, plugin_name=plugin_name)
        if not isinstance(self._plugin, pedalboard.VST3Plugin):
            raise ValueError(f"{path} is not a VST3 plugin")
        p = self._plugin
        self.info = PluginInfo(id=p.identifier, name=p.name, vendor=p.manufacturer_name, version=p.version,
                               features=(p.category,), description=p.descriptive_name)
        self._sample_rate = 0.0
        self._max_block = 8192
        self._active = False
        self._params: dict[str, Any] | None = None

    def close(self) -> None:
        self._plugin = None

    def __enter__(self) -> Vst3Plugin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ params
    def _param_objects(self) -> dict[str, Any]:
        if self._params is None:  # pedalboard's .parameters is slow; cache it
            self._params = dict(self._plugin.parameters)
        return self._params

    @property
    def parameters(self) -> list[ParamInfo]:
        out = []
        for i, (_, p) in enumerate(self._param_objects().items()):
            default = _plain_for_raw(p, getattr(p, "default_raw_value", 0.0))
            flags = (PARAM_IS_STEPPED if getattr(p, "is_discrete", False) else 0) | (
                PARAM_IS_AUTOMATABLE if getattr(p, "is_automatable", True) else 0)
            lo = p.min_value if isinstance(p.min_value, int | float) else 0.0
            hi = p.max_value if isinstance(p.max_value, int | float) else 1.0
            out.append(ParamInfo(id=i, name=p.name, module="", min_value=float(lo), max_value=float(hi),
                                 default_value=float(default) if isinstance(default, int | float) else float("nan"),
                                 flags=flags))
        return out

    def _python_name(self, id_or_name: int | str) -> str:
        names = list(self._param_objects())
        if isinstance(id_or_name, int):
            return names[id_or_name]
        for key, p in self._param_objects().items():
            if id_or_name in (key, p.name) or python_name(id_or_name) == key:
                return key
        raise KeyError(f"no parameter {id_or_name!r} in {self.info.name}")

    def get_param(self, id_or_name: int | str) -> float:
        value = getattr(self._plugin, self._python_name(id_or_name))
        return float(value)

    def set_param(self, id_or_name: int | str, value: float | str, sample_offset: int = 0, space_id: int = 0) -> None:
        if sample_offset or space_id:
            raise NotImplementedError("pedalboard applies parameter changes at block start only (no sample offset)")
        setattr(self._plugin, self._python_name(id_or_name), value)

    def flush_params(self) -> None:
        pass  # pedalboard sets values immediately

    def value_to_text(self, id_or_name: int | str, value: float) -> str | None:
        p = self._param_objects()[self._python_name(id_or_name)]
        return p.get_text_for_raw_value(p.get_raw_value_for(value))

    def text_to_value(self, id_or_name: int | str, text: str) -> float:
        p = self._param_objects()[self._python_name(id_or_name)]
        return _plain_for_raw(p, p.get_raw_value_for_text(text))

    @property
    def output_params(self) -> dict[str, float]:
        raise NotImplementedError("pedalboard does not expose output (read-only) parameters")

    # --------------------------------------------------------------- lifecycle
    def activate(self, sample_rate: float, max_block: int = 8192, min_block: int = 1) -> bool:
        self._sample_rate, self._max_block, self._active = float(sample_rate), int(max_block), True
        return True

    def deactivate(self) -> None:
        self._active = False

    def reset(self) -> None:
        self._plugin.reset()

    @property
    def is_active(self) -> bool:
        return self._active

    @property
    def sample_rate(self) -> float:
        return self._sample_rate

    @property
    def latency(self) -> int:
        return int(self._plugin.reported_latency_samples)

    @property
    def violations(self) -> list[str]:
        return []  # pedalboard gives no view of host callbacks

    # ------------------------------------------------------------------ state
    def save_state(self, chunk: int | None = None) -> bytes:
        if chunk:
            raise NotImplementedError("pedalboard does not expose the state streams")
        return bytes(self._plugin.raw_state)

    def load_state(self, data: bytes, chunk: int | None = None) -> bool:
        if chunk:
            raise NotImplementedError("pedalboard does not expose the state streams")
        try:
            self._plugin.raw_state = bytes(data)
        except Exception:  # pedalboard raises on plugins refusing the state
            return False
        self._params = None
        return True

    # ---------------------------------------------------------------- process
    def process(self, audio: np.ndarray | None, block_size: BlockSpec = 512, seed: int = 0,
                midi_in: Iterable[MidiEvent] = (), transport: Transport | None = None,
                frames: int | None = None, reset: bool = False) -> ProcessResult:
        """pedalboard process in fixed blocks; the reported latency is already compensated."""
        if not self._active:
            raise RuntimeError("activate() the plugin before process()")
        if not isinstance(block_size, int):
            raise NotImplementedError("pedalboard only processes fixed-size blocks (no random/explicit split)")
        if transport is not None:
            raise NotImplementedError("pedalboard gives plugins no transport/playhead")
        midi = list(midi_in)
        p = self._plugin
        if midi or audio is None:
            if not p.is_instrument:
                raise NotImplementedError("pedalboard sends MIDI to instruments only")
            n = int(frames if audio is None else np.asarray(audio).shape[-1])
            msgs = [(bytes(e.data), e.offset / self._sample_rate) for e in midi]
            out = p(msgs, duration=n / self._sample_rate, sample_rate=self._sample_rate, buffer_size=block_size,
                    reset=reset)
        else:
            audio = np.asarray(audio, dtype=np.float32)
            if audio.ndim == 1:
                audio = audio[None, :]
            out = p.process(audio, self._sample_rate, buffer_size=block_size, reset=reset)
        return ProcessResult(audio=np.asarray(out, dtype=np.float32), latency_compensated=True, _midi_out=None)


def _plain_for_raw(p: Any, raw: float) -> Any:
    """Plain (plugin-unit) value for a normalised value, from pedalboard's probed ranges."""
    for (lo, hi), value in p.ranges.items():
        if lo <= raw <= hi:
            return value
    return raw
