"""The engine interface every plugin's backend implements.

An engine is created per plugin instance (per backend session) with a fixed sample
rate, channel count and hop. ``process`` receives exactly one hop of audio, shape
``(channels, hop)`` float32, plus the current parameter values (plain units, keyed by
the spec's string IDs), and returns a hop of output of the same shape plus the values
of the plugin's output parameters (meters). The engine's own algorithmic latency is
``spec.engine_latency(sample_rate)``: output sample ``n`` corresponds to input sample
``n - latency``. The shell adds its own buffering delay on top and reports the total.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from bandmate.specs import PluginSpec, load_spec


@dataclass(frozen=True)
class EngineConfig:
    sample_rate: int
    channels: int
    #: parameter values at activation (plain units); they pick the mode (hop, latency)
    #: for specs with a ``mode_param``. Missing -> spec defaults.
    activation_params: Mapping[str, float] | None = None
    #: the backend process's reference links (bandmate.links.LinkBoard) and this
    #: instance's identity on them; None for engines run on their own (offline, tests)
    links: object | None = None
    identity: bytes = b""


class Engine(ABC):
    #: engine name in the spec files (``PluginSpec.engine``)
    name: str = ""
    #: a realtime hop already past its deadline may be dropped unprocessed (the drop horizon,
    #: PROTOCOL.md); False for engines whose timeline counts every hop they are sent
    skippable: bool = True
    #: specs with "aux_outputs": the second output bus of the last processed hop, (aux, hop) float32
    aux: np.ndarray | None = None

    def __init__(self, config: EngineConfig):
        self.spec: PluginSpec = load_spec(self.name)
        if config.channels not in (1, 2):
            raise ValueError(f"{self.spec.plugin_name}: {config.channels} channels (mono or stereo only)")
        self.config = config
        self.sample_rate = int(config.sample_rate)
        self.channels = int(config.channels)
        self.activation_params = self.spec.defaults() | dict(config.activation_params or {})
        # also validates the sample rate
        self.latency = self.spec.engine_latency(self.sample_rate, self.activation_params)
        self.hop = self.spec.hop(self.sample_rate, self.activation_params)

    @abstractmethod
    def process(self, audio: np.ndarray, params: Mapping[str, float]) -> tuple[np.ndarray, dict[str, float]]:
        """One hop in (channels, hop) float32 -> (same shape float32, output-parameter values)."""

    def reset(self) -> None:  # noqa: B027 - optional hook
        """Forget all history (transport jump, re-activation)."""

    def process_buffer(self, audio: np.ndarray, params: Mapping[str, float] | None = None) -> np.ndarray:
        """Offline convenience: run a whole (channels, n) buffer hop by hop.

        Output is aligned to the input (the engine latency is removed) and has the
        input's length, so ``process_buffer(x)`` is what the plugin renders after
        host latency compensation.
        """
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim == 1:
            audio = audio[None, :]
        p = self.spec.defaults() | dict(params or {})
        n = audio.shape[1]
        total = n + self.latency
        padded = np.zeros((audio.shape[0], -(-total // self.hop) * self.hop), np.float32)
        padded[:, :n] = audio
        out = np.empty_like(padded)
        for start in range(0, padded.shape[1], self.hop):
            out[:, start : start + self.hop], _ = self.process(padded[:, start : start + self.hop], p)
        return out[:, self.latency : self.latency + n]
