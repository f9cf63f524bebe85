"""Backend engines: one class per plugin type, chosen by ``PluginSpec.engine``."""

from __future__ import annotations

from bandmate.engines.base import Engine, EngineConfig

# engine name -> "module:Class"; imported lazily so a broken optional engine
# (e.g. a missing model) only affects its own plugin.
ENGINES = {
    "reference": "bandmate.engines.reference:ReferenceEngine",
    "resonance": "bandmate.engines.resonance:ResonanceEngine",
    "drumnet": "bandmate.engines.drumnet:DrumNetEngine",
    "xspecmatch": "bandmate.engines.xspecmatch:XSpecMatchEngine",
    "bassnet": "bandmate.engines.bassnet:BassNetEngine",
    "multiband_phase": "bandmate.engines.phase:MultibandPhaseEngine",
    "profile_eq": "bandmate.engines.profile_eq:ProfileEQEngine",
}


def engine_class(name: str) -> type[Engine]:
    import importlib

    try:
        target = ENGINES[name]
    except KeyError:
        raise KeyError(f"unknown engine {name!r}") from None
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)


def create_engine(name: str, config: EngineConfig) -> Engine:
    return engine_class(name)(config)


__all__ = ["Engine", "EngineConfig", "ENGINES", "engine_class", "create_engine"]
