"""Bandmate's plugin test host: a CLAP host (C++ core, pybind11) and a pedalboard-backed
VST3 wrapper with the same Python API."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .clap import DEFAULT_EXTENSIONS, ClapPlugin, block_schedule, list_plugins, paced_run
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
)

if TYPE_CHECKING:
    from .vst3 import Vst3Plugin

__all__ = [
    "CLAP_CORE_EVENT_SPACE_ID", "DEFAULT_EXTENSIONS", "AudioPortInfo", "ClapPlugin", "HostCall", "MidiEvent",
    "NotePortInfo", "PacedStats", "ParamInfo", "PluginInfo", "ProcessResult", "Transport", "block_schedule",
    "list_plugins", "load", "paced_run",
]


def load(path: str | Path, **kwargs: object) -> ClapPlugin | Vst3Plugin:
    """Opens a plugin by file extension: ``.clap`` -> ClapPlugin, ``.vst3`` -> vst3.Vst3Plugin."""
    suffix = Path(path).suffix.lower()
    if suffix == ".clap":
        return ClapPlugin(str(path), **kwargs)
    if suffix == ".vst3":
        from .vst3 import Vst3Plugin

        return Vst3Plugin(str(path), **kwargs)
    raise ValueError(f"unknown plugin format for {path} (expected .clap or .vst3)")
