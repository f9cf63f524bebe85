"""Offline render of a WAV file through a CLAP or VST3 plugin (core of ``bandmate process``)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

import numpy as np
import soundfile as sf

from . import load


class ProgressBar:
    """Minimal text progress bar on stderr (no dependencies)."""

    def __init__(self, total: int, label: str = "", width: int = 30, stream: TextIO | None = None,
                 enabled: bool = True):
        self.total, self.label, self.width, self.enabled = max(total, 1), label, width, enabled
        self.stream = stream or sys.stderr
        self._last = -1

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        pct = min(100, done * 100 // self.total)
        if pct == self._last:
            return
        self._last = pct
        filled = self.width * pct // 100
        self.stream.write(f"\r{self.label}[{'#' * filled}{'.' * (self.width - filled)}] {pct:3d}%")
        if pct == 100:
            self.stream.write("\n")
        self.stream.flush()


def render_file(plugin_path: str | Path, in_wav: str | Path, out_wav: str | Path,
                params: Mapping[str, str | float] | None = None, block_size: int = 512, progress: bool = True,
                plugin_id: str | None = None) -> dict[str, object]:
    """Renders `in_wav` through the plugin and writes `out_wav` (same rate, length and subtype).

    params: name -> value; a str is parsed by the plugin (CLAP text_to_value; pedalboard for VST3).
    The plugin's reported latency is compensated (the output is aligned with the input), as a
    DAW bounce would. Returns a summary (sample_rate, frames, channels, latency, format)."""
    audio, sr = sf.read(str(in_wav), dtype="float32", always_2d=True)
    subtype = sf.info(str(in_wav)).subtype
    audio = np.ascontiguousarray(audio.T)  # (channels, frames)
    frames = audio.shape[1]
    kwargs = {"plugin_id": plugin_id} if plugin_id and str(plugin_path).endswith(".clap") else {}
    plugin = load(plugin_path, **kwargs)
    try:
        for name, value in (params or {}).items():
            if isinstance(value, str) and plugin.format == "vst3":
                try:
                    value = float(value)
                except ValueError:
                    pass  # pedalboard parses text values itself
            plugin.set_param(name, value)
        if not plugin.activate(sr, max_block=block_size):
            raise RuntimeError(f"{plugin_path} refused to activate at {sr} Hz, block {block_size}")
        latency = plugin.latency
        bar = ProgressBar(frames, label=f"{Path(plugin_path).name} ", enabled=progress)
        if plugin.format == "vst3":
            # pedalboard compensates latency only within one call: render in one go
            bar.update(0)
            out = plugin.process(audio, block_size=block_size, reset=True).audio
            bar.update(frames)
        else:
            padded = np.concatenate([audio, np.zeros((audio.shape[0], latency), np.float32)], axis=1)
            total = padded.shape[1]
            step = block_size * max(1, 65536 // block_size)  # whole blocks per chunk keep the split fixed
            chunks = []
            for start in range(0, total, step):
                chunks.append(plugin.process(padded[:, start:start + step], block_size=block_size).audio)
                bar.update(min(start + step, total))
            if total == 0:
                bar.update(0)
            out = np.concatenate(chunks, axis=1)[:, latency:latency + frames] if chunks else audio[:, :0]
        sf.write(str(out_wav), out.T, sr, subtype=subtype)
        return {"sample_rate": sr, "frames": frames, "channels": int(out.shape[0]), "latency": latency,
                "format": plugin.format}
    finally:
        plugin.close()
