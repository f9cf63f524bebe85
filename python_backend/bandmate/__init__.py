"""Bandmate: AI mixing and generator tools behind VST3/CLAP plugins.

Public API (numpy in, numpy out):
    load_spec(name)            -> PluginSpec   (the one parameter declaration per plugin)
    create_engine(name, cfg)   -> Engine       (engine.process(audio, params))
"""

from bandmate.engines import Engine, EngineConfig, create_engine
from bandmate.specs import ParamSpec, PluginSpec, all_specs, load_spec

__all__ = [
    "PluginSpec",
    "ParamSpec",
    "load_spec",
    "all_specs",
    "Engine",
    "EngineConfig",
    "create_engine",
]
__version__ = "0.1.0"
